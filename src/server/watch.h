/*
 * The watch table of one server: who asked to hear about which keys.
 *
 * A watch is (peer, id): the peer is the client's address-vector entry,
 * the id a number the client chose (unique per client, so the pair is
 * unique). It matches either one whole key (exact) or every key that
 * starts with a prefix. Exact watches sit in a hash table keyed by the
 * key (xxHash3, seeded), so a write costs O(1) however many clients wait
 * on other keys; prefix watches sit in a list that every write scans, so
 * they cost O(prefix watches) per write. A second hash table on (peer, id)
 * makes UNWATCH O(1); forgetting a peer walks that peer's own list.
 *
 * The keys it holds and matches are stored keys (namespace id first).
 * The table knows nothing of the fabric: a peer is a small integer (an
 * address-vector index), below FR_WATCH_PEER_MAX.
 * Owner: the server's event-loop thread. Not thread-safe.
 */
#ifndef FR_WATCH_H
#define FR_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "server/ns.h"

typedef struct fr_watch_table fr_watch_table;

#define FR_WATCH_PEER_MAX (1u << 24)
/* Keys and prefixes are stored keys: the namespace id, then the key. */
#define FR_WATCH_KEY_MAX FR_NS_STORED_KEY_MAX

typedef struct fr_watch {
	uint64_t peer;
	uint64_t id;
	int exact;
	int lost; /* events of it were dropped: owe it a LOST event (the
		     table keeps it for the sender, events.c) */
	size_t plen;
	/* Links; the table's business. */
	struct fr_watch *knext;        /* exact: chain of its key bucket */
	struct fr_watch *inext;        /* chain of its (peer, id) bucket */
	struct fr_watch *lprev, *lnext; /* prefix list */
	struct fr_watch *pprev, *pnext; /* the peer's watches */
	uint64_t khash, ihash;
	uint8_t prefix[]; /* plen bytes: the key, or the prefix */
} fr_watch;

/* Returns 0 or FERRY_ENOMEM. */
int fr_watch_table_new(fr_watch_table **out);

/* Frees the table and every watch. Accepts NULL; sets *t to NULL. */
void fr_watch_table_free(fr_watch_table **t);

/* Adds the watch (peer, id) on prefix[0..plen) (exact: the key itself,
 * 1..FR_WATCH_KEY_MAX bytes; otherwise a prefix, 0 for every key). A watch
 * with the same (peer, id) is replaced: a client that registers again
 * after a restart of its proxy or of this server gets no duplicate.
 * Returns 0, FERRY_EINVAL (an exact watch of no key, or a key longer
 * than FR_WATCH_KEY_MAX, a peer not below FR_WATCH_PEER_MAX) or
 * FERRY_ENOMEM. */
int fr_watch_add(fr_watch_table *t, uint64_t peer, uint64_t id, int exact,
		 const void *prefix, size_t plen);

/* Removes (peer, id). Returns 0, or FERRY_ENOENT if there is none. */
int fr_watch_remove(fr_watch_table *t, uint64_t peer, uint64_t id);

/* Removes every watch of peer. Returns how many there were. */
size_t fr_watch_remove_peer(fr_watch_table *t, uint64_t peer);

/* Calls fn for every watch that matches key: exact watches of this key,
 * then prefix watches that key starts with. fn must not add or remove
 * watches. Returns the number of calls. */
typedef void (*fr_watch_fn)(void *arg, fr_watch *w);
size_t fr_watch_match(fr_watch_table *t, const void *key, size_t klen,
		      fr_watch_fn fn, void *arg);

/* The watches of peer: the first, or NULL; walk on with w->pnext. */
fr_watch *fr_watch_of_peer(const fr_watch_table *t, uint64_t peer);

/* How many watches the table holds. */
size_t fr_watch_count(const fr_watch_table *t);

#endif
