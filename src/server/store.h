/*
 * A server's store: the index, the arena allocator and the objects, with the
 * semantics of every operation but no knowledge of the fabric. The request
 * layer (server.c) moves bytes in and out of object memory; this file
 * decides what exists.
 *
 * A value is written in two steps so that a large PUT can be pulled by RMA
 * straight into its final place: fr_store_prepare reserves arena memory for
 * an invisible object, the caller fills it, and fr_store_commit publishes it
 * (checking create-only/replace-only again, since another PUT of the same
 * key may have committed meanwhile). Readers hold a reference, so a value
 * being pushed to a client survives a concurrent replace or delete.
 *
 * Owner: the server's event-loop thread. Not thread-safe.
 */
#ifndef FR_STORE_H
#define FR_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_store fr_store;

typedef struct fr_obj {
	uint8_t *data;     /* in the arena */
	uint64_t size;
	uint64_t ctime_ns; /* wall clock at commit */
	uint64_t version;  /* unique per commit, per server */
	uint32_t refs;     /* the index's, plus one per reader */
} fr_obj;

/* Manages the arena [base, base+size); values are at most max_value bytes.
 * Returns 0, FERRY_EINVAL or FERRY_ENOMEM. */
int fr_store_new(fr_store **out, void *base, size_t size, uint64_t max_value);
void fr_store_free(fr_store **s);

/* Fails early, before any data moves, if flags (FR_F_CREATE/FR_F_REPLACE)
 * cannot hold for key now. Returns 0, FERRY_EEXIST or FERRY_ENOENT. */
int fr_store_check(fr_store *s, const void *key, size_t klen, unsigned flags);

/* Reserves an invisible object of size bytes. Returns 0, FERRY_E2BIG (over
 * max_value), FERRY_ENOSPC (arena full) or FERRY_ENOMEM. */
int fr_store_prepare(fr_store *s, uint64_t size, fr_obj **out);

/* Publishes obj under key, replacing any older value (which is freed once
 * its readers are done). On failure (FERRY_EEXIST, FERRY_ENOENT,
 * FERRY_ENOMEM) obj is freed. Returns 0 or the error. */
int fr_store_commit(fr_store *s, const void *key, size_t klen, fr_obj *obj,
		    unsigned flags);

/* Frees an object that was prepared but never committed. */
void fr_store_abort(fr_store *s, fr_obj *obj);

/* Returns the current value of key with a reference held (release it with
 * fr_store_release), or NULL. */
fr_obj *fr_store_get(fr_store *s, const void *key, size_t klen);
void fr_store_release(fr_store *s, fr_obj *obj);

/* Returns 0 or FERRY_ENOENT. */
int fr_store_del(fr_store *s, const void *key, size_t klen);

/* Adds delta to the 8-byte little-endian counter under key (missing: 0).
 * Returns 0, FERRY_ENOTNUM, FERRY_EOVERFLOW, FERRY_ENOSPC or FERRY_ENOMEM. */
int fr_store_incr(fr_store *s, const void *key, size_t klen, int64_t delta,
		  int64_t *out);

/* Packs up to max keys with prefix, after `after`, into buf (LIST reply
 * format). *count receives the number packed; *more is set when the scan
 * stopped before the keys ran out. Returns the bytes used. */
size_t fr_store_list(fr_store *s, const void *prefix, size_t plen,
		     const void *after, size_t alen, uint32_t max, void *buf,
		     size_t cap, uint32_t *count, int *more);

/* Counters for SSTAT. */
void fr_store_stats(const fr_store *s, uint64_t *total, uint64_t *used,
		    uint64_t *keys);

#endif
