/*
 * Consistent hashing: each server owns FR_RING_VNODES points on a 64-bit
 * ring (xxHash3 of "HOST:PORT#i"); a key belongs to the server owning the
 * first point at or after the key's hash. Adding or removing one server
 * moves only about 1/N of the keys, and virtual nodes spread load evenly.
 */
#ifndef FR_RING_H
#define FR_RING_H

#include <stddef.h>
#include <stdint.h>

#define FR_RING_VNODES 128

typedef struct fr_ring {
	size_t npoints;
	struct fr_ring_point {
		uint64_t hash;
		unsigned server;
	} *points;
} fr_ring;

/* Builds the ring for n servers named by addrs. Returns 0 or FERRY_ENOMEM. */
int fr_ring_build(fr_ring *r, const char (*addrs)[64], unsigned n);
void fr_ring_free(fr_ring *r);

/* Index of the server that owns key. */
unsigned fr_ring_pick(const fr_ring *r, const void *key, size_t klen);

#endif
