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
 * Expiry: a value may carry an absolute expiry (ms since the Unix epoch on
 * this server's CLOCK_REALTIME). An expired value is gone for every
 * operation from that millisecond on: the first operation that meets it
 * frees it, and fr_store_reap frees the rest, soonest first, from a heap
 * ordered by expiry (ttl.h), so the server reclaims memory with no request
 * arriving and without scanning the keys.
 *
 * Changes: every change to a key is reported to one callback (if set), as
 * a FERRY_EV_* kind and the key, so that the server can tell watchers
 * (watch.h, events.h) without the store knowing about them.
 *
 * Owner: the server's event-loop thread. Not thread-safe.
 */
#ifndef FR_STORE_H
#define FR_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct fr_store fr_store;

typedef struct fr_obj {
	uint8_t *data;      /* in the arena */
	uint64_t size;
	uint64_t ctime_ns;  /* wall clock at commit */
	uint64_t version;   /* unique per commit, per server, never 0 */
	uint64_t expire_ms; /* ms since the epoch, 0 = never */
	const void *key;    /* the index's copy of the key while published */
	size_t klen;
	size_t ttl_pos;     /* place in the expiry heap (FR_TTL_NONE: none) */
	uint32_t refs;      /* the index's, plus one per reader */
} fr_obj;

/* Conditions and expiry of a write. A NULL fr_put_args means none. */
typedef struct fr_put_args {
	unsigned flags;      /* FR_F_CREATE, FR_F_REPLACE, FR_F_KEEPTTL;
				FR_F_AS_APPEND, FR_F_AS_SETRANGE: the
				event watchers see */
	uint64_t if_version; /* only over the value with this version; 0: any */
	uint64_t expire_ms;  /* 0: never; ignored with FR_F_KEEPTTL, which
				keeps the replaced value's expiry */
} fr_put_args;

/* Manages the arena [base, base+size); values are at most max_value bytes.
 * Returns 0, FERRY_EINVAL or FERRY_ENOMEM. */
int fr_store_new(fr_store **out, void *base, size_t size, uint64_t max_value);
void fr_store_free(fr_store **s);

/* Replaces the clock (ms since the epoch; default CLOCK_REALTIME), for
 * tests. */
void fr_store_set_clock(fr_store *s, uint64_t (*now_ms)(void *arg),
			void *arg);

/* Tells fn (NULL: nobody) about every change, at the moment it happens:
 * FERRY_EV_SET when a PUT publishes a value, FERRY_EV_INCR when a counter
 * changes, FERRY_EV_DEL when a DEL removes a key, or a PUT or EXPIRE with
 * a time already past does, FERRY_EV_EXPIRED when an expired value is
 * freed (by the first operation that meets it, or by fr_store_reap),
 * FERRY_EV_EXPIRE when EXPIRE sets an expiry and FERRY_EV_PERSIST when it
 * removes one. key is valid only during the call; fn must not call the
 * store. */
typedef void (*fr_store_event_fn)(void *arg, int kind, const void *key,
				  size_t klen);
void fr_store_on_event(fr_store *s, fr_store_event_fn fn, void *arg);

/* Tells fn (NULL: nobody) of every value published (bytes its size, keys
 * 1) and unpublished (-size, -1) under key, for accounting by namespace.
 * key is valid only during the call; fn must not call the store. */
typedef void (*fr_store_usage_fn)(void *arg, const void *key, size_t klen,
				  int64_t bytes, int keys);
void fr_store_on_usage(fr_store *s, fr_store_usage_fn fn, void *arg);

/* Sets the version the next write gets (0 is skipped), for tests. */
void fr_store_set_next_version(fr_store *s, uint64_t v);

/* Fails early, before any data moves, if the conditions of a (may be NULL)
 * cannot hold for key now. Returns 0, FERRY_EEXIST (FR_F_CREATE, the key
 * exists), FERRY_ENOENT (FR_F_REPLACE or if_version, it does not) or
 * FERRY_ECHANGED (its version is not if_version). */
int fr_store_check(fr_store *s, const void *key, size_t klen,
		   const fr_put_args *a);

/* Reserves an invisible object of size bytes. Returns 0, FERRY_E2BIG (over
 * max_value), FERRY_ENOSPC (arena full) or FERRY_ENOMEM. */
int fr_store_prepare(fr_store *s, uint64_t size, fr_obj **out);

/* Publishes obj under key with the expiry a asks for, replacing any older
 * value (which is freed once its readers are done), if a's conditions hold
 * (checked again: another write may have come first). *version (may be
 * NULL) receives the new value's version. An expiry already past removes
 * the key instead: the write succeeds and leaves nothing. obj is the
 * store's afterwards, whatever happens. Returns 0 or FERRY_EEXIST,
 * FERRY_ENOENT, FERRY_ECHANGED, FERRY_ENOMEM. */
int fr_store_commit(fr_store *s, const void *key, size_t klen, fr_obj *obj,
		    const fr_put_args *a, uint64_t *version);

/* Frees an object that was prepared but never committed. */
void fr_store_abort(fr_store *s, fr_obj *obj);

/* Returns the current value of key with a reference held (release it with
 * fr_store_release), or NULL when it is missing or expired. */
fr_obj *fr_store_get(fr_store *s, const void *key, size_t klen);
void fr_store_release(fr_store *s, fr_obj *obj);

/* Removes key if it exists and, when if_version is not 0, has that
 * version. Returns 0, FERRY_ENOENT or FERRY_ECHANGED. */
int fr_store_del(fr_store *s, const void *key, size_t klen,
		 uint64_t if_version);

/* Sets the expiry of key to expire_ms (0: none) if the FR_EXPIRE_* bits
 * in cond allow it; an expiry already past deletes the key. *changed is 1
 * when the expiry was set or the key deleted, 0 when a condition stopped
 * it or expire_ms is 0 and the key had no expiry. The value's version and
 * ctime stay. Returns 0, FERRY_ENOENT or FERRY_ENOMEM. */
int fr_store_expire(fr_store *s, const void *key, size_t klen,
		    uint64_t expire_ms, unsigned cond, int *changed);

/* Frees at most max expired values, soonest expiry first. Returns how
 * many it freed. */
size_t fr_store_reap(fr_store *s, size_t max);

/* The soonest expiry of any value (ms since the epoch), 0 if none. */
uint64_t fr_store_next_expiry(const fr_store *s);

/* The store's clock: ms since the epoch. */
uint64_t fr_store_now_ms(fr_store *s);

/* Adds delta to the counter under key (missing or expired: 0, with no
 * expiry; otherwise the expiry stays): an 8-byte little-endian integer,
 * or with text decimal digits as Redis keeps them ("-42", no spaces or
 * leading zeros). Returns 0, FERRY_ENOTNUM, FERRY_EOVERFLOW, FERRY_ENOSPC
 * or FERRY_ENOMEM. */
int fr_store_incr(fr_store *s, const void *key, size_t klen, int64_t delta,
		  int text, int64_t *out);

/* Packs up to max unexpired keys with prefix, after `after`, into buf
 * (LIST reply format), each without its first strip bytes (which the
 * prefix covers). *count receives the number packed; *more is set when
 * the scan stopped before the keys ran out. Returns the bytes used. */
size_t fr_store_list(fr_store *s, const void *prefix, size_t plen,
		     const void *after, size_t alen, uint32_t max, size_t strip,
		     void *buf, size_t cap, uint32_t *count, int *more);

/* Removes at most max (up to 256) keys starting with prefix, telling no
 * watcher. Returns how many it removed: 0 when none is left. */
size_t fr_store_drop_prefix(fr_store *s, const void *prefix, size_t plen,
			    size_t max);

/* Counters for SSTAT. keys counts expired values not reaped yet. */
void fr_store_stats(const fr_store *s, uint64_t *total, uint64_t *used,
		    uint64_t *keys);

#endif
