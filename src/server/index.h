/*
 * The key index of one server: byte-string keys (1..FERRY_KEY_MAX bytes)
 * to caller-owned values.
 *
 * Two structures over the same nodes: a chained hash table (xxHash3, grows by
 * doubling) answers point lookups in O(1), and a skip list keeps the keys in
 * byte order so listing by prefix and paging from a cursor cost
 * O(log n + page). Keys are copied into the nodes; values are opaque
 * pointers the index never dereferences.
 *
 * Owner: the server's event-loop thread. Not thread-safe.
 */
#ifndef FR_INDEX_H
#define FR_INDEX_H

#include <stddef.h>

typedef struct fr_index fr_index;

/* Returns 0, or FERRY_ENOMEM (also if libsodium, whose random source
 * seeds the hash, cannot start). */
int fr_index_new(fr_index **out);

/* Frees the index and its nodes, not the values. Accepts NULL, sets *ix to
 * NULL. */
void fr_index_free(fr_index **ix);

/* Returns the value stored under key, or NULL. */
void *fr_index_get(const fr_index *ix, const void *key, size_t klen);

/* Inserts key -> val, or replaces the value of an existing key. *old (may be
 * NULL) receives the replaced value or NULL; *kept (may be NULL) the
 * index's own copy of the key, valid until the key is deleted. Returns 0
 * or FERRY_ENOMEM (the index is then unchanged). */
int fr_index_put(fr_index *ix, const void *key, size_t klen, void *val,
		 void **old, const void **kept);

/* Removes key and returns its value, or NULL if it was absent. */
void *fr_index_del(fr_index *ix, const void *key, size_t klen);

size_t fr_index_count(const fr_index *ix);

/* Calls fn for the keys that start with prefix (plen 0: all keys) and sort
 * strictly after `after` (NULL or alen 0: from the first), in byte order
 * (memcmp, shorter first on a tie), until fn returns non-zero or the keys
 * run out. fn must not modify the index. Returns the number of calls. */
typedef int (*fr_index_fn)(void *arg, const void *key, size_t klen, void *val);
size_t fr_index_scan(const fr_index *ix, const void *prefix, size_t plen,
		     const void *after, size_t alen, fr_index_fn fn, void *arg);

#endif
