/*
 * The watch table: two chained hash tables (exact keys; (peer, id)) and
 * two lists (prefix watches, each peer's watches) over the
 * same nodes. See watch.h.
 */
#include "server/watch.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/util.h"
#include "ferry.h"

#define MIN_BUCKETS 16

/* A chained hash table whose chain link and hash live in the nodes. */
struct htab {
	fr_watch **b;
	size_t n; /* buckets: 0 or a power of two */
	size_t count;
	fr_watch **(*link)(fr_watch *w);
	uint64_t (*hash)(const fr_watch *w);
};

struct fr_watch_table {
	struct htab keys; /* exact watches by key */
	struct htab ids;  /* every watch by (peer, id) */
	fr_watch *prefixes;
	fr_watch **peers; /* each peer's watches, by peer */
	size_t npeers;
	uint64_t seed; /* of both hashes, so clients cannot aim collisions */
};

static fr_watch **klink(fr_watch *w)
{
	return &w->knext;
}

static fr_watch **ilink(fr_watch *w)
{
	return &w->inext;
}

static uint64_t khash_of(const fr_watch *w)
{
	return w->khash;
}

static uint64_t ihash_of(const fr_watch *w)
{
	return w->ihash;
}

static fr_watch **bucket(const struct htab *h, uint64_t hash)
{
	return &h->b[hash & (h->n - 1)];
}

/* Keeps at most one node per bucket on average. */
static int ht_reserve(struct htab *h)
{
	size_t n = h->n ? 2 * h->n : MIN_BUCKETS;
	fr_watch **b;

	if (h->count < h->n)
		return 0;
	b = calloc(n, sizeof(*b));
	if (!b)
		return FERRY_ENOMEM;
	for (size_t i = 0; i < h->n; i++)
		for (fr_watch *w = h->b[i], *next; w; w = next) {
			fr_watch **head = &b[h->hash(w) & (n - 1)];
			next = *h->link(w);
			*h->link(w) = *head;
			*head = w;
		}
	free(h->b);
	h->b = b;
	h->n = n;
	return 0;
}

/* After ht_reserve succeeded. */
static void ht_insert(struct htab *h, fr_watch *w)
{
	fr_watch **head = bucket(h, h->hash(w));

	*h->link(w) = *head;
	*head = w;
	h->count++;
}

static void ht_unlink(struct htab *h, fr_watch *w)
{
	for (fr_watch **p = bucket(h, h->hash(w)); *p; p = h->link(*p))
		if (*p == w) {
			*p = *h->link(w);
			h->count--;
			return;
		}
}

int fr_watch_table_new(fr_watch_table **out)
{
	fr_watch_table *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t || sodium_init() < 0) {
		free(t);
		return FERRY_ENOMEM;
	}
	t->keys = (struct htab){.link = klink, .hash = khash_of};
	t->ids = (struct htab){.link = ilink, .hash = ihash_of};
	randombytes_buf(&t->seed, sizeof(t->seed)); /* kernel's random source */
	*out = t;
	return 0;
}

static uint64_t id_hash(const fr_watch_table *t, uint64_t peer, uint64_t id)
{
	uint64_t pair[2] = {peer, id};

	return XXH3_64bits_withSeed(pair, sizeof(pair), t->seed);
}

static fr_watch *find(const fr_watch_table *t, uint64_t peer, uint64_t id)
{
	uint64_t h = id_hash(t, peer, id);

	if (!t->ids.n)
		return NULL;
	for (fr_watch *w = *bucket(&t->ids, h); w; w = w->inext)
		if (w->ihash == h && w->peer == peer && w->id == id)
			return w;
	return NULL;
}

/* Takes w out of every structure and frees it. */
static void drop(fr_watch_table *t, fr_watch *w)
{
	ht_unlink(&t->ids, w);
	if (w->exact) {
		ht_unlink(&t->keys, w);
	} else {
		*(w->lprev ? &w->lprev->lnext : &t->prefixes) = w->lnext;
		if (w->lnext)
			w->lnext->lprev = w->lprev;
	}
	*(w->pprev ? &w->pprev->pnext : &t->peers[w->peer]) = w->pnext;
	if (w->pnext)
		w->pnext->pprev = w->pprev;
	free(w);
}

int fr_watch_add(fr_watch_table *t, uint64_t peer, uint64_t id, int exact,
		 const void *prefix, size_t plen)
{
	fr_watch *w, *old;

	if ((exact && plen == 0) || plen > FR_WATCH_KEY_MAX ||
	    peer >= FR_WATCH_PEER_MAX)
		return FERRY_EINVAL;
	/* Room everywhere first, so nothing fails once the old watch is
	 * gone. */
	if (fr_grow_zeroed((void **)&t->peers, &t->npeers, peer,
			   sizeof(*t->peers)) ||
	    ht_reserve(&t->ids) ||
	    (exact && ht_reserve(&t->keys)))
		return FERRY_ENOMEM;
	w = calloc(1, sizeof(*w) + plen);
	if (!w)
		return FERRY_ENOMEM;
	old = find(t, peer, id);
	if (old)
		drop(t, old);
	w->peer = peer;
	w->id = id;
	w->exact = !!exact;
	w->plen = plen;
	if (plen)
		memcpy(w->prefix, prefix, plen);
	w->ihash = id_hash(t, peer, id);
	ht_insert(&t->ids, w);
	if (exact) {
		w->khash = XXH3_64bits_withSeed(prefix, plen, t->seed);
		ht_insert(&t->keys, w);
	} else {
		w->lnext = t->prefixes;
		if (w->lnext)
			w->lnext->lprev = w;
		t->prefixes = w;
	}
	w->pnext = t->peers[peer];
	if (w->pnext)
		w->pnext->pprev = w;
	t->peers[peer] = w;
	return 0;
}

int fr_watch_remove(fr_watch_table *t, uint64_t peer, uint64_t id)
{
	fr_watch *w = find(t, peer, id);

	if (!w)
		return FERRY_ENOENT;
	drop(t, w);
	return 0;
}

size_t fr_watch_remove_peer(fr_watch_table *t, uint64_t peer)
{
	size_t n = 0;

	while (peer < t->npeers && t->peers[peer]) {
		drop(t, t->peers[peer]);
		n++;
	}
	return n;
}

size_t fr_watch_match(fr_watch_table *t, const void *key, size_t klen,
		      fr_watch_fn fn, void *arg)
{
	size_t n = 0;

	if (t->keys.count) {
		uint64_t h = XXH3_64bits_withSeed(key, klen, t->seed);
		for (fr_watch *w = *bucket(&t->keys, h), *next; w; w = next) {
			next = w->knext;
			if (w->khash == h && w->plen == klen &&
			    !memcmp(w->prefix, key, klen)) {
				fn(arg, w);
				n++;
			}
		}
	}
	for (fr_watch *w = t->prefixes, *next; w; w = next) {
		next = w->lnext;
		if (w->plen <= klen &&
		    (!w->plen || !memcmp(w->prefix, key, w->plen))) {
			fn(arg, w);
			n++;
		}
	}
	return n;
}

fr_watch *fr_watch_of_peer(const fr_watch_table *t, uint64_t peer)
{
	return peer < t->npeers ? t->peers[peer] : NULL;
}

size_t fr_watch_count(const fr_watch_table *t)
{
	return t->ids.count;
}

void fr_watch_table_free(fr_watch_table **tp)
{
	fr_watch_table *t = *tp;

	if (!t)
		return;
	for (size_t i = 0; i < t->ids.n; i++)
		for (fr_watch *w = t->ids.b[i], *next; w; w = next) {
			next = w->inext;
			free(w);
		}
	free(t->ids.b);
	free(t->keys.b);
	free(t->peers);
	free(t);
	*tp = NULL;
}
