/*
 * The arena allocator: hands out blocks of one fabric-registered region.
 *
 * Design: TLSF (two-level segregated fit). Free blocks sit on lists indexed
 * by a first level (power of two) and a second level (linear subdivision of
 * it); two bitmaps find a fitting list in O(1). Adjacent free blocks merge at
 * once (boundary tags), so mixed sizes do not fragment the arena into
 * unusable pieces, and the worst-case waste per block is bounded by the
 * second-level granularity. Every operation is O(1), which keeps the server's
 * event loop latency flat. Block headers live inside the region. The server
 * manages its registered arena with it, and no client can reach those
 * headers (the server does every RMA itself). libferry manages a proxy-mode
 * client's shared arena with it; only that client's own process runs the
 * allocator there, so a function that scribbles on it harms only itself.
 *
 * Owner: one thread. Not thread-safe.
 */
#ifndef FR_ALLOC_H
#define FR_ALLOC_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_alloc fr_alloc;

/* Manages [base, base + size). base must be 16-byte aligned. Returns 0,
 * FERRY_EINVAL (region too small or misaligned) or FERRY_ENOMEM. The
 * allocator's own bookkeeping is malloc'd; headers live in the region. */
int fr_alloc_init(fr_alloc **out, void *base, size_t size);

/* Releases the allocator (not the region). Accepts NULL; sets *a to NULL. */
void fr_alloc_fini(fr_alloc **a);

/* Returns a 16-byte aligned block of at least size bytes (size 0 is allowed
 * and returns a valid minimal block), or NULL when no free block fits. */
void *fr_alloc_get(fr_alloc *a, size_t size);

/* Returns p (from fr_alloc_get, or NULL) to the free lists. */
void fr_alloc_put(fr_alloc *a, void *p);

/* Usable bytes of the block p. */
size_t fr_alloc_usable(const fr_alloc *a, const void *p);

/* Accounting: bytes in allocated blocks (headers included), the managed
 * size, and a block size that fr_alloc_get is sure to satisfy right now.
 * largest_free never over-reports; it may under-report by under 1/32 when
 * its size class holds more than 16 free blocks (it looks at 16 at most,
 * to stay O(1)). */
size_t fr_alloc_used(const fr_alloc *a);
size_t fr_alloc_capacity(const fr_alloc *a);
size_t fr_alloc_largest_free(const fr_alloc *a);

#endif
