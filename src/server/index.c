/*
 * The key index: a chained hash table and a skip list over the same nodes.
 *
 * A node is allocated once, with its forward pointers and a copy of the key
 * in the same block, so a lookup touches one allocation per candidate and a
 * delete frees one. The hash table finds a key in O(1); the skip list keeps
 * byte order for prefix listing and cursor paging. See index.h.
 */
#include "server/index.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "common/util.h"
#include "ferry.h"

/* With p = 1/4, 24 levels keep searches logarithmic up to 4^24 (2^48) keys,
 * far beyond what one server's memory can hold. */
#define FR_INDEX_MAX_LEVEL 24
#define FR_INDEX_MIN_BUCKETS 16

struct fr_node {
	struct fr_node *hnext; /* next node in the same hash bucket */
	void *val;
	uint64_t hash; /* kept so rehashing never reads the keys again */
	size_t klen;
	unsigned level;		/* number of forward pointers */
	struct fr_node *next[]; /* level pointers, then klen bytes of key */
};

struct fr_index {
	struct fr_node **buckets;
	size_t nbuckets; /* a power of two, so a mask picks the bucket */
	size_t count;
	uint64_t seed;	/* of the hash, so clients cannot aim collisions */
	uint64_t rng;	/* xorshift state for node levels */
	unsigned level; /* levels in use (the tallest node), at least 1 */
	struct fr_node *head[FR_INDEX_MAX_LEVEL];
};

static unsigned char *node_key(const struct fr_node *n)
{
	return (unsigned char *)(n->next + n->level);
}

/* Byte order: memcmp over the common length, then the shorter key first.
 * memcmp is never given a length of 0 because its pointers may then be
 * NULL, which memcmp does not allow. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = FR_MIN(alen, blen);
	int r = n ? memcmp(a, b, n) : 0;

	if (r)
		return r;
	return (alen > blen) - (alen < blen);
}

static int node_cmp(const struct fr_node *n, const void *key, size_t klen)
{
	return key_cmp(node_key(n), n->klen, key, klen);
}

static uint64_t key_hash(const fr_index *ix, const void *key, size_t klen)
{
	return XXH3_64bits_withSeed(key, klen, ix->seed);
}

/* xorshift64: cheap, and good enough to draw geometric levels. */
static uint64_t next_rand(fr_index *ix)
{
	uint64_t x = ix->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	ix->rng = x;
	return x;
}

/* Each extra level has probability 1/4: two random bits per level. */
static unsigned random_level(fr_index *ix)
{
	uint64_t r = next_rand(ix);
	unsigned level = 1;

	while (level < FR_INDEX_MAX_LEVEL && (r & 3) == 0) {
		level++;
		r >>= 2;
	}
	return level;
}

int fr_index_new(fr_index **out)
{
	fr_index *ix = calloc(1, sizeof(*ix));

	if (!ix || sodium_init() < 0)
		goto fail;
	ix->nbuckets = FR_INDEX_MIN_BUCKETS;
	ix->buckets = calloc(ix->nbuckets, sizeof(*ix->buckets));
	if (!ix->buckets)
		goto fail;
	/* The level generator has a fixed seed so that a failing run can be
	 * replayed; levels do not depend on keys, so clients cannot steer
	 * them. The hash seed varies per index instead, drawn from the
	 * kernel's random source: keys do come from clients, who could
	 * otherwise pile them into one chain. */
	ix->rng = 0x9e3779b97f4a7c15ull;
	randombytes_buf(&ix->seed, sizeof(ix->seed));
	ix->level = 1;
	*out = ix;
	return 0;
fail:
	free(ix);
	return FERRY_ENOMEM;
}

void fr_index_free(fr_index **ixp)
{
	fr_index *ix = ixp ? *ixp : NULL;
	struct fr_node *n, *next;

	if (!ix)
		return;
	for (n = ix->head[0]; n; n = next) {
		next = n->next[0];
		free(n);
	}
	free(ix->buckets);
	free(ix);
	*ixp = NULL;
}

/* Returns the link that points at the node holding key, or the NULL link at
 * the end of its chain, so callers can both find and unlink. */
static struct fr_node **chain_find(const fr_index *ix, uint64_t h,
				   const void *key, size_t klen)
{
	struct fr_node **link = &ix->buckets[h & (ix->nbuckets - 1)];

	for (; *link; link = &(*link)->hnext) {
		const struct fr_node *n = *link;

		if (n->hash == h && n->klen == klen &&
		    (klen == 0 || memcmp(node_key(n), key, klen) == 0))
			break;
	}
	return link;
}

void *fr_index_get(const fr_index *ix, const void *key, size_t klen)
{
	struct fr_node *n = *chain_find(ix, key_hash(ix, key, klen), key, klen);

	return n ? n->val : NULL;
}

/* Fills prev[i] with the forward-pointer array whose slot i precedes the
 * first node with a key >= key; the head array stands in for a node. */
static void skip_find(fr_index *ix, const void *key, size_t klen,
		      struct fr_node **prev[FR_INDEX_MAX_LEVEL])
{
	struct fr_node **x = ix->head;

	for (unsigned i = ix->level; i-- > 0;) {
		while (x[i] && node_cmp(x[i], key, klen) < 0)
			x = x[i]->next;
		prev[i] = x;
	}
}

/* Doubles the table and moves every node at once. A failed allocation is
 * not an error: the chains only grow longer, and the next insert tries
 * again, so a put never fails for want of a bigger table. */
static void grow(fr_index *ix)
{
	size_t nb = ix->nbuckets * 2;
	struct fr_node **b;

	if (nb > SIZE_MAX / sizeof(*b))
		return;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < ix->nbuckets; i++) {
		struct fr_node *n = ix->buckets[i], *next;

		for (; n; n = next) {
			next = n->hnext;
			n->hnext = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(ix->buckets);
	ix->buckets = b;
	ix->nbuckets = nb;
}

int fr_index_put(fr_index *ix, const void *key, size_t klen, void *val,
		 void **old, const void **kept)
{
	uint64_t h = key_hash(ix, key, klen);
	struct fr_node **link = chain_find(ix, h, key, klen);
	struct fr_node **prev[FR_INDEX_MAX_LEVEL];
	struct fr_node *n = *link;
	unsigned level;
	size_t hdr;

	if (n) {
		if (old)
			*old = n->val;
		if (kept)
			*kept = node_key(n);
		n->val = val;
		return 0;
	}

	level = random_level(ix);
	hdr = sizeof(*n) + level * sizeof(n->next[0]);
	if (klen > SIZE_MAX - hdr)
		return FERRY_ENOMEM;
	n = malloc(hdr + klen);
	if (!n)
		return FERRY_ENOMEM;
	n->val = val;
	n->hash = h;
	n->klen = klen;
	n->level = level;
	if (klen)
		memcpy(node_key(n), key, klen);

	skip_find(ix, key, klen, prev);
	for (; ix->level < level; ix->level++)
		prev[ix->level] = ix->head;
	for (unsigned i = 0; i < level; i++) {
		n->next[i] = prev[i][i];
		prev[i][i] = n;
	}
	/* The chain's tail link is still valid: nothing above moved it. */
	n->hnext = NULL;
	*link = n;
	if (old)
		*old = NULL;
	if (kept)
		*kept = node_key(n);
	if (++ix->count > ix->nbuckets)
		grow(ix);
	return 0;
}

void *fr_index_del(fr_index *ix, const void *key, size_t klen)
{
	struct fr_node **link =
	    chain_find(ix, key_hash(ix, key, klen), key, klen);
	struct fr_node **prev[FR_INDEX_MAX_LEVEL];
	struct fr_node *n = *link;
	void *val;

	if (!n)
		return NULL;
	*link = n->hnext;
	/* Keys are unique, so the predecessors of the first key >= key are
	 * exactly the nodes that point at n. */
	skip_find(ix, key, klen, prev);
	for (unsigned i = 0; i < n->level; i++)
		prev[i][i] = n->next[i];
	while (ix->level > 1 && !ix->head[ix->level - 1])
		ix->level--;
	ix->count--;
	val = n->val;
	free(n);
	return val;
}

size_t fr_index_count(const fr_index *ix)
{
	return ix->count;
}

/* Returns the first node whose key is > key (strict) or >= key. */
static struct fr_node *seek(const fr_index *ix, const void *key, size_t klen,
			    int strict)
{
	struct fr_node *const *x = ix->head;

	for (unsigned i = ix->level; i-- > 0;) {
		while (x[i]) {
			int c = node_cmp(x[i], key, klen);

			if (c > 0 || (c == 0 && !strict))
				break;
			x = x[i]->next;
		}
	}
	return x[0];
}

size_t fr_index_scan(const fr_index *ix, const void *prefix, size_t plen,
		     const void *after, size_t alen, fr_index_fn fn, void *arg)
{
	struct fr_node *n;
	size_t calls = 0;

	if (!after)
		alen = 0;
	/* Start at whichever bound is later: the first key > after, or the
	 * first key >= prefix when after sorts before the prefix range. Every
	 * key >= prefix that starts with it comes before any that does not,
	 * so the walk can stop at the first key without the prefix. */
	if (plen && key_cmp(prefix, plen, after, alen) > 0)
		n = seek(ix, prefix, plen, 0);
	else if (alen)
		n = seek(ix, after, alen, 1);
	else
		n = ix->head[0];

	for (; n; n = n->next[0]) {
		if (plen &&
		    (n->klen < plen || memcmp(node_key(n), prefix, plen) != 0))
			break;
		calls++;
		if (fn(arg, node_key(n), n->klen, n->val))
			break;
	}
	return calls;
}
