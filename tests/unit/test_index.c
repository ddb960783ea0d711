/*
 * Unit tests of the key index (src/server/index.c): point operations, byte
 * order, prefix scans, cursor paging under concurrent changes, growth, and a
 * randomized comparison against a sorted-array reference.
 */
#include "harness.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ferry.h"
#include "server/index.h"

#define V(i) ((void *)(uintptr_t)(i))

/* One key seen by a scan, copied because the index owns its keys. */
struct seen {
	unsigned char *key;
	size_t len;
	void *val;
};

/* Collects what a scan reports; stops it after `limit` keys (0: never). */
struct collector {
	struct seen *items;
	size_t n, cap;
	size_t limit;
};

static int collect(void *arg, const void *key, size_t klen, void *val)
{
	struct collector *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->items = realloc(c->items, c->cap * sizeof(*c->items));
		assert_non_null(c->items);
	}
	c->items[c->n].key = malloc(klen ? klen : 1);
	assert_non_null(c->items[c->n].key);
	memcpy(c->items[c->n].key, key, klen);
	c->items[c->n].len = klen;
	c->items[c->n].val = val;
	c->n++;
	return c->limit && c->n >= c->limit;
}

static void collector_reset(struct collector *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->items[i].key);
	c->n = 0;
}

static void collector_free(struct collector *c)
{
	collector_reset(c);
	free(c->items);
	c->items = NULL;
	c->cap = 0;
}

/* The order the index promises, written out independently of it. */
static int ref_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;

	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

static int has_prefix(const void *k, size_t klen, const void *p, size_t plen)
{
	return klen >= plen && (plen == 0 || memcmp(k, p, plen) == 0);
}

static void put_str(fr_index *ix, const char *k, uintptr_t v)
{
	assert_int_equal(fr_index_put(ix, k, strlen(k), V(v), NULL, NULL), 0);
}

/* Scans and checks that exactly the C strings in want[] come back. */
static void expect_scan(fr_index *ix, const char *prefix, const char *after,
			const char *const *want, size_t nwant)
{
	struct collector c = {0};
	size_t calls =
	    fr_index_scan(ix, prefix, prefix ? strlen(prefix) : 0, after,
			  after ? strlen(after) : 0, collect, &c);

	assert_int_equal(calls, nwant);
	assert_int_equal(c.n, nwant);
	for (size_t i = 0; i < nwant; i++) {
		assert_int_equal(c.items[i].len, strlen(want[i]));
		assert_memory_equal(c.items[i].key, want[i], c.items[i].len);
	}
	collector_free(&c);
}

static void test_put_get_replace_del(void **state)
{
	fr_index *ix = NULL;
	void *old = V(99);

	assert_int_equal(fr_index_new(&ix), 0);
	assert_null(fr_index_get(ix, "k", 1));
	assert_int_equal(fr_index_put(ix, "k", 1, V(1), &old, NULL), 0);
	assert_null(old);
	assert_ptr_equal(fr_index_get(ix, "k", 1), V(1));
	assert_int_equal(fr_index_count(ix), 1);

	assert_int_equal(fr_index_put(ix, "k", 1, V(2), &old, NULL), 0);
	assert_ptr_equal(old, V(1));
	assert_ptr_equal(fr_index_get(ix, "k", 1), V(2));
	assert_int_equal(fr_index_count(ix), 1);

	/* A key that is a prefix of a stored one is a different key. */
	assert_null(fr_index_get(ix, "kk", 2));
	assert_null(fr_index_del(ix, "kk", 2));

	assert_ptr_equal(fr_index_del(ix, "k", 1), V(2));
	assert_null(fr_index_get(ix, "k", 1));
	assert_null(fr_index_del(ix, "k", 1));
	assert_int_equal(fr_index_count(ix), 0);
	expect_scan(ix, NULL, NULL, NULL, 0);

	fr_index_free(&ix);
	assert_null(ix);
	fr_index_free(&ix);
	fr_index_free(NULL);
}

static void test_binary_keys(void **state)
{
	static const unsigned char k1[] = {'a', 0, 'b'};
	static const unsigned char k2[] = {'a', 0, 'c'};
	static const unsigned char k3[] = {0, 0};
	static const unsigned char k4[] = {0xff, 0x80};
	fr_index *ix = NULL;
	struct collector c = {0};

	assert_int_equal(fr_index_new(&ix), 0);
	assert_int_equal(fr_index_put(ix, k1, 3, V(1), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, k2, 3, V(2), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, k3, 2, V(3), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, k3, 1, V(4), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, k4, 2, V(5), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, "a", 1, V(6), NULL, NULL), 0);
	assert_int_equal(fr_index_count(ix), 6);

	/* Bytes after a zero still count, in lookups and in order. */
	assert_ptr_equal(fr_index_get(ix, k1, 3), V(1));
	assert_ptr_equal(fr_index_get(ix, k2, 3), V(2));
	assert_ptr_equal(fr_index_get(ix, k3, 2), V(3));
	assert_ptr_equal(fr_index_get(ix, k3, 1), V(4));
	assert_null(fr_index_get(ix, k1, 2));

	/* Bytes compare unsigned: 0xff sorts last, 0x00 first. */
	assert_int_equal(fr_index_scan(ix, NULL, 0, NULL, 0, collect, &c), 6);
	assert_ptr_equal(c.items[0].val, V(4));
	assert_ptr_equal(c.items[1].val, V(3));
	assert_ptr_equal(c.items[2].val, V(6));
	assert_ptr_equal(c.items[3].val, V(1));
	assert_ptr_equal(c.items[4].val, V(2));
	assert_ptr_equal(c.items[5].val, V(5));
	collector_reset(&c);

	/* A prefix with a zero byte in it. */
	assert_int_equal(fr_index_scan(ix, k1, 2, NULL, 0, collect, &c), 2);
	assert_ptr_equal(c.items[0].val, V(1));
	assert_ptr_equal(c.items[1].val, V(2));
	collector_free(&c);

	assert_ptr_equal(fr_index_del(ix, k1, 3), V(1));
	assert_ptr_equal(fr_index_get(ix, k2, 3), V(2));
	fr_index_free(&ix);
}

static void test_prefix_keys_order(void **state)
{
	fr_index *ix = NULL;
	struct collector c = {0};

	assert_int_equal(fr_index_new(&ix), 0);
	/* Inserted out of order: "ab", "a\0", "b", "a". */
	assert_int_equal(fr_index_put(ix, "ab", 2, V(3), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, "a\0", 2, V(2), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, "b", 1, V(4), NULL, NULL), 0);
	assert_int_equal(fr_index_put(ix, "a", 1, V(1), NULL, NULL), 0);

	assert_int_equal(fr_index_scan(ix, NULL, 0, NULL, 0, collect, &c), 4);
	for (size_t i = 0; i < 4; i++)
		assert_ptr_equal(c.items[i].val, V(i + 1));
	collector_reset(&c);

	/* "after" an exact key skips that key and only that key. */
	assert_int_equal(fr_index_scan(ix, NULL, 0, "a", 1, collect, &c), 3);
	assert_ptr_equal(c.items[0].val, V(2));
	collector_reset(&c);
	assert_int_equal(fr_index_scan(ix, NULL, 0, "a\0", 2, collect, &c), 2);
	assert_ptr_equal(c.items[0].val, V(3));
	collector_reset(&c);

	/* Prefix "a" includes "a" itself. */
	assert_int_equal(fr_index_scan(ix, "a", 1, NULL, 0, collect, &c), 3);
	assert_ptr_equal(c.items[2].val, V(3));
	collector_free(&c);
	fr_index_free(&ix);
}

static void test_scan_prefix(void **state)
{
	static const char *keys[] = {"use",	"user", "user:1", "user:2",
				     "users",	"usr",	"us",	  "uses",
				     "user:10", "aaa",	"zzz",	  "usea"};
	static const char *want[] = {"user", "user:1", "user:10", "user:2",
				     "users"};
	static const char *want_colon[] = {"user:1", "user:10", "user:2"};
	fr_index *ix = NULL;

	assert_int_equal(fr_index_new(&ix), 0);
	for (size_t i = 0; i < FR_ARRAY_LEN(keys); i++)
		put_str(ix, keys[i], i + 1);
	expect_scan(ix, "user", NULL, want, 5);
	expect_scan(ix, "user:", NULL, want_colon, 3);
	expect_scan(ix, "user:1", "user:1", want_colon + 1, 1);
	expect_scan(ix, "nope", NULL, NULL, 0);
	expect_scan(ix, "zzzz", NULL, NULL, 0);
	fr_index_free(&ix);
}

static void test_scan_after_outside_prefix(void **state)
{
	static const char *keys[] = {"a", "l", "m", "m1", "m2", "mz", "n", "z"};
	static const char *all_m[] = {"m", "m1", "m2", "mz"};
	fr_index *ix = NULL;

	assert_int_equal(fr_index_new(&ix), 0);
	for (size_t i = 0; i < FR_ARRAY_LEN(keys); i++)
		put_str(ix, keys[i], i + 1);

	/* after sorts before the prefix range: start at the prefix. */
	expect_scan(ix, "m", "a", all_m, 4);
	expect_scan(ix, "m", "l", all_m, 4);
	expect_scan(ix, "m", "", all_m, 4);
	/* after is absent but sorts inside the range. */
	expect_scan(ix, "m", "m0", all_m + 1, 3);
	expect_scan(ix, "m", "m", all_m + 1, 3);
	expect_scan(ix, "m", "mz", NULL, 0);
	/* after sorts past the range: nothing, even though keys follow. */
	expect_scan(ix, "m", "n", NULL, 0);
	expect_scan(ix, "m", "zz", NULL, 0);
	fr_index_free(&ix);
}

static int stop_at_three(void *arg, const void *key, size_t klen, void *val)
{
	int *calls = arg;

	return ++*calls == 3;
}

static void test_scan_stop(void **state)
{
	fr_index *ix = NULL;
	struct collector c = {0};
	char k[16];
	int calls = 0;

	assert_int_equal(fr_index_new(&ix), 0);
	assert_int_equal(fr_index_scan(ix, NULL, 0, NULL, 0, collect, &c), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(k, sizeof(k), "k%02d", i);
		put_str(ix, k, (uintptr_t)i + 1);
	}
	/* The call that returns non-zero is counted, and is the last. */
	assert_int_equal(
	    fr_index_scan(ix, NULL, 0, NULL, 0, stop_at_three, &calls), 3);
	assert_int_equal(calls, 3);

	c.limit = 1;
	assert_int_equal(fr_index_scan(ix, "k0", 2, "k03", 3, collect, &c), 1);
	assert_int_equal(c.n, 1);
	assert_memory_equal(c.items[0].key, "k04", 3);
	collector_reset(&c);

	c.limit = 10;
	assert_int_equal(fr_index_scan(ix, NULL, 0, NULL, 0, collect, &c), 10);
	collector_free(&c);
	fr_index_free(&ix);
}

/* Key i of the paging tests; fixed width so numeric and byte order agree. */
static size_t page_key(char *buf, size_t cap, unsigned i)
{
	return (size_t)snprintf(buf, cap, "page:%05u", i);
}

/* Walks the whole index in pages of 7, with the last key of each page as
 * the next `after`. Between pages, mutate(i) may change the index. Returns
 * the keys seen, in the order seen. */
static void page_through(fr_index *ix, struct collector *all,
			 void (*mutate)(fr_index *, unsigned), unsigned seed)
{
	struct collector page = {.limit = 7};
	unsigned char after[64];
	size_t alen = 0;
	unsigned round = 0;

	/* A bound on the pages, so that a cursor that fails to advance fails
	 * the test instead of hanging it. */
	for (unsigned pages = 0;; pages++) {
		size_t n =
		    fr_index_scan(ix, "page:", 5, after, alen, collect, &page);

		assert_true(pages < 1000);
		assert_int_equal(n, page.n);
		assert_true(n <= 7);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			collect(all, page.items[i].key, page.items[i].len,
				page.items[i].val);
		assert_true(page.items[n - 1].len <= sizeof(after));
		alen = page.items[n - 1].len;
		memcpy(after, page.items[n - 1].key, alen);
		collector_reset(&page);
		if (mutate)
			mutate(ix, seed + round++);
	}
	collector_free(&page);
}

static void test_scan_paging(void **state)
{
	fr_index *ix = NULL;
	struct collector all = {0};
	char k[32];

	assert_int_equal(fr_index_new(&ix), 0);
	put_str(ix, "a-before", 1);
	put_str(ix, "z-after", 1);
	for (unsigned i = 0; i < 500; i++) {
		page_key(k, sizeof(k), i);
		put_str(ix, k, i + 1);
	}
	page_through(ix, &all, NULL, 0);
	assert_int_equal(all.n, 500);
	for (unsigned i = 0; i < 500; i++) {
		size_t len = page_key(k, sizeof(k), i);

		assert_int_equal(all.items[i].len, len);
		assert_memory_equal(all.items[i].key, k, len);
		assert_ptr_equal(all.items[i].val, V(i + 1));
	}
	collector_free(&all);
	fr_index_free(&ix);
}

/* Between pages: inserts and deletes odd ("volatile") keys all over the key
 * space, before and after the cursor, including the cursor key itself. Even
 * keys are never touched. */
static void mutate_odd(fr_index *ix, unsigned round)
{
	uint64_t x = 0x2545f4914f6cdd1dull ^ round;
	char k[32];

	for (int j = 0; j < 20; j++) {
		unsigned i;
		size_t len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		i = (unsigned)(x % 1000) | 1;
		len = page_key(k, sizeof(k), i);
		if (x & (1ull << 40))
			assert_int_equal(
			    fr_index_put(ix, k, len, V(i + 1), NULL, NULL), 0);
		else
			fr_index_del(ix, k, len);
	}
}

static void test_scan_paging_with_changes(void **state)
{
	fr_index *ix = NULL;
	struct collector all = {0};
	char k[32];
	size_t next_even = 0;

	assert_int_equal(fr_index_new(&ix), 0);
	for (unsigned i = 0; i < 1000; i++) {
		size_t len = page_key(k, sizeof(k), i);

		assert_int_equal(fr_index_put(ix, k, len, V(i + 1), NULL, NULL), 0);
	}
	page_through(ix, &all, mutate_odd, 7);

	/* Strictly increasing order means no key came twice; every even key
	 * was present throughout, so each must have come exactly once. */
	for (size_t i = 0; i < all.n; i++) {
		char digits[6] = {0};
		unsigned num;

		if (i > 0)
			assert_true(
			    ref_cmp(all.items[i - 1].key, all.items[i - 1].len,
				    all.items[i].key, all.items[i].len) < 0);
		assert_int_equal(all.items[i].len, 10);
		/* The copied keys are not NUL-terminated. */
		memcpy(digits, all.items[i].key + 5, 5);
		num = (unsigned)strtoul(digits, NULL, 10);
		assert_ptr_equal(all.items[i].val, V(num + 1));
		if (num % 2 == 0) {
			assert_int_equal(num, next_even);
			next_even += 2;
		}
	}
	assert_int_equal(next_even, 1000);
	collector_free(&all);
	fr_index_free(&ix);
}

static void test_growth(void **state)
{
	enum { N = 100000 }; /* 16 buckets doubled 13 times */
	fr_index *ix = NULL;
	char k[32];
	struct collector c = {0};

	assert_int_equal(fr_index_new(&ix), 0);
	for (unsigned i = 0; i < N; i++) {
		size_t len = (size_t)snprintf(k, sizeof(k), "g%u", i);

		assert_int_equal(fr_index_put(ix, k, len, V(i + 1), NULL, NULL), 0);
		assert_int_equal(fr_index_count(ix), i + 1);
	}
	for (unsigned i = 0; i < N; i++) {
		size_t len = (size_t)snprintf(k, sizeof(k), "g%u", i);

		assert_ptr_equal(fr_index_get(ix, k, len), V(i + 1));
	}
	for (unsigned i = 0; i < N; i += 2) {
		size_t len = (size_t)snprintf(k, sizeof(k), "g%u", i);

		assert_ptr_equal(fr_index_del(ix, k, len), V(i + 1));
	}
	assert_int_equal(fr_index_count(ix), N / 2);
	for (unsigned i = 0; i < N; i++) {
		size_t len = (size_t)snprintf(k, sizeof(k), "g%u", i);

		if (i % 2)
			assert_ptr_equal(fr_index_get(ix, k, len), V(i + 1));
		else
			assert_null(fr_index_get(ix, k, len));
	}
	assert_int_equal(fr_index_scan(ix, NULL, 0, NULL, 0, collect, &c),
			 N / 2);
	for (size_t i = 1; i < c.n; i++)
		assert_true(ref_cmp(c.items[i - 1].key, c.items[i - 1].len,
				    c.items[i].key, c.items[i].len) < 0);
	collector_free(&c);
	fr_index_free(&ix);
}

/* The randomized test's reference: a sorted array of owned keys. */
struct ref {
	struct seen *e;
	size_t n, cap;
};

/* Returns the position of key, or where it would go (with *found 0). */
static size_t ref_find(const struct ref *r, const void *k, size_t len,
		       int *found)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ref_cmp(r->e[mid].key, r->e[mid].len, k, len);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Short keys over four bytes (zero, one, a letter, 0xff), so prefixes,
 * embedded zeros and high bytes are common, and now and then a long key
 * near FERRY_KEY_MAX. */
static size_t random_key(uint64_t *s, unsigned char *k)
{
	static const unsigned char alpha[] = {0, 1, 'a', 0xff};
	size_t len =
	    (rnd(s) % 64 == 0) ? FERRY_KEY_MAX - rnd(s) % 32 : 1 + rnd(s) % 6;

	for (size_t i = 0; i < len; i++)
		k[i] = alpha[rnd(s) % 4];
	return len;
}

/* Compares a scan of the index with the same scan of the reference. */
static void check_scan(fr_index *ix, const struct ref *r, const void *p,
		       size_t plen, const void *a, size_t alen, size_t limit)
{
	struct collector c = {.limit = limit};
	size_t calls = fr_index_scan(ix, p, plen, a, alen, collect, &c);
	size_t j = 0;

	assert_int_equal(calls, c.n);
	for (size_t i = 0; i < r->n && (!limit || j < limit); i++) {
		const struct seen *e = &r->e[i];

		if (!has_prefix(e->key, e->len, p, plen) ||
		    (alen && ref_cmp(e->key, e->len, a, alen) <= 0))
			continue;
		assert_true(j < c.n);
		assert_int_equal(c.items[j].len, e->len);
		assert_memory_equal(c.items[j].key, e->key, e->len);
		assert_ptr_equal(c.items[j].val, e->val);
		j++;
	}
	assert_int_equal(j, c.n);
	collector_free(&c);
}

static void test_random_vs_reference(void **state)
{
	enum { OPS = 20000 };
	static unsigned char k[FERRY_KEY_MAX], k2[FERRY_KEY_MAX];
	struct ref r = {0};
	fr_index *ix = NULL;
	uint64_t s = 0x853c49e6748fea9bull;

	assert_int_equal(fr_index_new(&ix), 0);
	for (unsigned op = 1; op <= OPS; op++) {
		size_t len = random_key(&s, k), pos;
		unsigned what = (unsigned)(rnd(&s) % 10);
		int found;
		void *old = V(1);

		pos = ref_find(&r, k, len, &found);
		if (what < 5) {
			assert_int_equal(fr_index_put(ix, k, len, V(op), &old, NULL),
					 0);
			if (found) {
				assert_ptr_equal(old, r.e[pos].val);
				r.e[pos].val = V(op);
			} else {
				assert_null(old);
				if (r.n == r.cap) {
					r.cap = r.cap ? r.cap * 2 : 256;
					r.e =
					    realloc(r.e, r.cap * sizeof(*r.e));
					assert_non_null(r.e);
				}
				memmove(&r.e[pos + 1], &r.e[pos],
					(r.n - pos) * sizeof(*r.e));
				r.e[pos].key = malloc(len);
				assert_non_null(r.e[pos].key);
				memcpy(r.e[pos].key, k, len);
				r.e[pos].len = len;
				r.e[pos].val = V(op);
				r.n++;
			}
		} else if (what < 8) {
			void *v = fr_index_del(ix, k, len);

			if (found) {
				assert_ptr_equal(v, r.e[pos].val);
				free(r.e[pos].key);
				memmove(&r.e[pos], &r.e[pos + 1],
					(r.n - pos - 1) * sizeof(*r.e));
				r.n--;
			} else {
				assert_null(v);
			}
		} else {
			assert_ptr_equal(fr_index_get(ix, k, len),
					 found ? r.e[pos].val : NULL);
		}
		assert_int_equal(fr_index_count(ix), r.n);

		/* A random prefix (a shortened key) and a random cursor,
		 * with a random page size; in full now and then. */
		if (op % 50 == 0) {
			size_t plen = rnd(&s) % 4;
			size_t alen = rnd(&s) % 3 ? random_key(&s, k2) : 0;

			check_scan(ix, &r, k, plen > len ? len : plen, k2, alen,
				   rnd(&s) % 20);
		}
		if (op % 1000 == 0)
			check_scan(ix, &r, NULL, 0, NULL, 0, 0);
	}
	check_scan(ix, &r, NULL, 0, NULL, 0, 0);

	for (size_t i = 0; i < r.n; i++)
		free(r.e[i].key);
	free(r.e);
	fr_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get_replace_del),
	    cmocka_unit_test(test_binary_keys),
	    cmocka_unit_test(test_prefix_keys_order),
	    cmocka_unit_test(test_scan_prefix),
	    cmocka_unit_test(test_scan_after_outside_prefix),
	    cmocka_unit_test(test_scan_stop),
	    cmocka_unit_test(test_scan_paging),
	    cmocka_unit_test(test_scan_paging_with_changes),
	    cmocka_unit_test(test_growth),
	    cmocka_unit_test(test_random_vs_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
