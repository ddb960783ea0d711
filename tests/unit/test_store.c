/*
 * Unit tests of the store (src/server/store.c): the two-step write
 * (prepare, fill, commit), create-only and replace-only, abort, readers'
 * references keeping replaced and deleted values alive, counters, a full
 * arena that keeps earlier data intact, the value size limit, paged
 * listing; expiry on a fake clock (lazy and active reclaim, KEEPTTL, INCR,
 * EXPIRE's NX/XX/GT/LT), version-conditional writes and deletes, the
 * expiry heap's order under many keys, and the change reported for every
 * kind of change (and none for what changed nothing).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/util.h"
#include "ferry.h"
#include "proto/wire.h"
#include "server/store.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

struct fixture {
	void *mem;
	size_t size;
	fr_store *s;
};

static struct fixture fx_new(size_t size, uint64_t max_value)
{
	struct fixture f = {.size = size};

	f.mem = aligned_alloc(4096, size);
	assert_non_null(f.mem);
	assert_int_equal(fr_store_new(&f.s, f.mem, size, max_value), 0);
	assert_non_null(f.s);
	return f;
}

static void fx_free(struct fixture *f)
{
	fr_store_free(&f->s);
	assert_null(f->s);
	free(f->mem);
}

static uint64_t used(fr_store *s)
{
	uint64_t total, u, keys;

	fr_store_stats(s, &total, &u, &keys);
	return u;
}

static uint64_t nkeys(fr_store *s)
{
	uint64_t total, u, keys;

	fr_store_stats(s, &total, &u, &keys);
	return keys;
}

/* Write conditions with only flags. */
#define FL(f) (&(fr_put_args){.flags = (f)})

/* Stores size bytes of pattern seed under key with conditions a (may be
 * NULL); returns the status. */
static int put_args(fr_store *s, const char *key, size_t size, uint64_t seed,
		    const fr_put_args *a)
{
	fr_obj *o;
	int rc = fr_store_check(s, key, strlen(key), a);

	if (!rc)
		rc = fr_store_prepare(s, size, &o);
	if (rc)
		return rc;
	ft_fill(o->data, size, seed);
	return fr_store_commit(s, key, strlen(key), o, a, NULL);
}

static int put(fr_store *s, const char *key, size_t size, uint64_t seed,
	       unsigned flags)
{
	return put_args(s, key, size, seed, FL(flags));
}

/* Asserts key holds size bytes of pattern seed. */
static void expect(fr_store *s, const char *key, size_t size, uint64_t seed)
{
	fr_obj *o = fr_store_get(s, key, strlen(key));
	size_t bad;

	if (!o)
		fail_msg("key %s is missing", key);
	assert_int_equal(o->size, size);
	bad = ft_check(o->data, size, seed);
	if (bad != (size_t)-1)
		fail_msg("key %s: byte %zu differs", key, bad);
	fr_store_release(s, o);
}

static void test_new_rejects(void **state)
{
	fr_store *s = (fr_store *)1;
	void *mem = aligned_alloc(16, 64);

	/* A region too small for the allocator is refused cleanly. */
	assert_int_equal(fr_store_new(&s, mem, 8, 100), FERRY_EINVAL);
	assert_null(s);
	free(mem);
	fr_store_free(&s); /* accepts NULL */
}

static void test_prepare_commit(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	fr_obj *o, *g;
	uint64_t before = used(f.s);

	assert_int_equal(fr_store_prepare(f.s, 1000, &o), 0);
	assert_non_null(o);
	assert_true(used(f.s) >= before + 1000);
	ft_fill(o->data, 1000, 1);
	/* Invisible until committed. */
	assert_null(fr_store_get(f.s, "k", 1));
	assert_int_equal(nkeys(f.s), 0);
	assert_int_equal(fr_store_commit(f.s, "k", 1, o, NULL, NULL), 0);
	assert_int_equal(nkeys(f.s), 1);
	g = fr_store_get(f.s, "k", 1);
	assert_ptr_equal(g, o);
	assert_int_equal(g->size, 1000);
	assert_true(g->ctime_ns > 0);
	assert_true(g->version > 0);
	assert_int_equal(ft_check(g->data, 1000, 1), (size_t)-1);
	fr_store_release(f.s, g);

	/* A zero-byte value is a value. */
	assert_int_equal(put(f.s, "empty", 0, 0, 0), 0);
	g = fr_store_get(f.s, "empty", 5);
	assert_non_null(g);
	assert_int_equal(g->size, 0);
	fr_store_release(f.s, g);

	/* Binary keys with NULs and the longest key. */
	uint8_t big[FERRY_KEY_MAX];
	memset(big, 0, sizeof(big));
	assert_int_equal(fr_store_prepare(f.s, 8, &o), 0);
	assert_int_equal(fr_store_commit(f.s, big, sizeof(big), o, NULL, NULL), 0);
	assert_non_null(g = fr_store_get(f.s, big, sizeof(big)));
	fr_store_release(f.s, g);
	assert_null(fr_store_get(f.s, big, sizeof(big) - 1));
	fx_free(&f);
}

static void test_versions(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	uint64_t last = 0;
	fr_obj *o;

	/* Every commit of any key gets a new, larger version. */
	for (int i = 0; i < 50; i++) {
		char key[16];
		snprintf(key, sizeof(key), "v%d", i % 7);
		assert_int_equal(put(f.s, key, 10, i, 0), 0);
		o = fr_store_get(f.s, key, strlen(key));
		assert_true(o->version > last);
		last = o->version;
		fr_store_release(f.s, o);
	}
	fx_free(&f);
}

static void test_create_replace(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	fr_obj *o;
	uint64_t u;

	/* Replace-only on a missing key fails, early and at commit. */
	assert_int_equal(fr_store_check(f.s, "a", 1, FL(FR_F_REPLACE)),
			 FERRY_ENOENT);
	assert_int_equal(fr_store_check(f.s, "a", 1, FL(FR_F_CREATE)), 0);
	assert_int_equal(fr_store_check(f.s, "a", 1, FL(0)), 0);
	u = used(f.s);
	assert_int_equal(fr_store_prepare(f.s, 100, &o), 0);
	assert_int_equal(fr_store_commit(f.s, "a", 1, o, FL(FR_F_REPLACE), NULL),
			 FERRY_ENOENT);
	assert_null(fr_store_get(f.s, "a", 1));
	assert_int_equal(used(f.s), u); /* the failed object was freed */

	/* Create-only creates once. */
	assert_int_equal(put(f.s, "a", 100, 1, FR_F_CREATE), 0);
	assert_int_equal(fr_store_check(f.s, "a", 1, FL(FR_F_CREATE)),
			 FERRY_EEXIST);
	assert_int_equal(fr_store_check(f.s, "a", 1, FL(FR_F_REPLACE)), 0);
	/* Another writer committed between check and commit: the commit
	 * checks again and frees the loser. */
	u = used(f.s);
	assert_int_equal(fr_store_prepare(f.s, 200, &o), 0);
	ft_fill(o->data, 200, 2);
	assert_int_equal(fr_store_commit(f.s, "a", 1, o, FL(FR_F_CREATE), NULL),
			 FERRY_EEXIST);
	assert_int_equal(used(f.s), u);
	expect(f.s, "a", 100, 1);

	/* Replace-only replaces. */
	assert_int_equal(put(f.s, "a", 300, 3, FR_F_REPLACE), 0);
	expect(f.s, "a", 300, 3);
	assert_int_equal(nkeys(f.s), 1);
	/* A plain put overwrites whatever is there. */
	assert_int_equal(put(f.s, "a", 5, 4, 0), 0);
	expect(f.s, "a", 5, 4);
	fx_free(&f);
}

static void test_abort(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	uint64_t u = used(f.s);
	fr_obj *o;

	for (int i = 0; i < 100; i++) {
		assert_int_equal(fr_store_prepare(f.s, 5000, &o), 0);
		fr_store_abort(f.s, o);
	}
	assert_int_equal(used(f.s), u);
	assert_int_equal(nkeys(f.s), 0);
	fx_free(&f);
}

static void test_refs_keep_values_alive(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	fr_obj *r1, *r2, *cur;
	uint64_t u0 = used(f.s), u1;

	assert_int_equal(put(f.s, "k", 50000, 1, 0), 0);
	u1 = used(f.s);
	r1 = fr_store_get(f.s, "k", 1);
	r2 = fr_store_get(f.s, "k", 1);
	assert_ptr_equal(r1, r2);
	/* Replaced while two readers hold it: both still see old bytes. */
	assert_int_equal(put(f.s, "k", 50000, 2, 0), 0);
	assert_true(used(f.s) >= u1 + 50000);
	assert_int_equal(ft_check(r1->data, 50000, 1), (size_t)-1);
	expect(f.s, "k", 50000, 2);
	fr_store_release(f.s, r1);
	assert_int_equal(ft_check(r2->data, 50000, 1), (size_t)-1);
	fr_store_release(f.s, r2);
	/* The last release freed the old value. */
	assert_int_equal(used(f.s), u1);

	/* Deleted while read. */
	cur = fr_store_get(f.s, "k", 1);
	assert_int_equal(fr_store_del(f.s, "k", 1, 0), 0);
	assert_null(fr_store_get(f.s, "k", 1));
	assert_int_equal(fr_store_del(f.s, "k", 1, 0), FERRY_ENOENT);
	assert_int_equal(nkeys(f.s), 0);
	assert_int_equal(used(f.s), u1);
	/* Fresh writes may not land on memory a reader still holds. */
	for (int i = 0; i < 10; i++) {
		char key[8];
		snprintf(key, sizeof(key), "n%d", i);
		assert_int_equal(put(f.s, key, 40000, 100 + i, 0), 0);
	}
	assert_int_equal(ft_check(cur->data, 50000, 2), (size_t)-1);
	fr_store_release(f.s, cur);
	for (int i = 0; i < 10; i++) {
		char key[8];
		snprintf(key, sizeof(key), "n%d", i);
		expect(f.s, key, 40000, 100 + i);
		assert_int_equal(fr_store_del(f.s, key, strlen(key), 0), 0);
	}
	assert_int_equal(used(f.s), u0);
	fx_free(&f);
}

static int64_t counter(fr_store *s, const char *key)
{
	fr_obj *o = fr_store_get(s, key, strlen(key));
	int64_t v;

	assert_non_null(o);
	assert_int_equal(o->size, 8);
	v = (int64_t)fr_get_u64(o->data);
	fr_store_release(s, o);
	return v;
}

static void put_counter(fr_store *s, const char *key, int64_t v)
{
	fr_obj *o;

	assert_int_equal(fr_store_prepare(s, 8, &o), 0);
	fr_put_u64(o->data, (uint64_t)v);
	assert_int_equal(fr_store_commit(s, key, strlen(key), o, NULL, NULL), 0);
}

static void put_text(fr_store *s, const char *key, const char *text)
{
	fr_obj *o;

	assert_int_equal(fr_store_prepare(s, strlen(text), &o), 0);
	memcpy(o->data, text, strlen(text));
	assert_int_equal(fr_store_commit(s, key, strlen(key), o, NULL, NULL), 0);
}

static void expect_text(fr_store *s, const char *key, const char *text)
{
	fr_obj *o = fr_store_get(s, key, strlen(key));

	assert_non_null(o);
	assert_int_equal(o->size, strlen(text));
	assert_memory_equal(o->data, text, strlen(text));
	fr_store_release(s, o);
}

/* Counters as decimal text, as Redis's INCR keeps them. */
static void test_incr_text(void **state)
{
	static const char *const bad[] = {"", " 1", "1 ", "+1", "01", "-0",
					  "1.5", "abc", "99999999999999999999"};
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	int64_t out = 0;

	assert_int_equal(fr_store_incr(f.s, "t", 1, 9, 1, &out), 0);
	assert_int_equal(out, 9);
	expect_text(f.s, "t", "9");
	/* The text grows and shrinks with the number. */
	assert_int_equal(fr_store_incr(f.s, "t", 1, 1, 1, &out), 0);
	expect_text(f.s, "t", "10");
	assert_int_equal(fr_store_incr(f.s, "t", 1, -110, 1, &out), 0);
	assert_int_equal(out, -100);
	expect_text(f.s, "t", "-100");
	put_text(f.s, "big", "9223372036854775806");
	assert_int_equal(fr_store_incr(f.s, "big", 3, 1, 1, &out), 0);
	expect_text(f.s, "big", "9223372036854775807");
	assert_int_equal(fr_store_incr(f.s, "big", 3, 1, 1, &out),
			 FERRY_EOVERFLOW);
	expect_text(f.s, "big", "9223372036854775807");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_text(f.s, "bad", bad[i]);
		assert_int_equal(fr_store_incr(f.s, "bad", 3, 1, 1, &out),
				 FERRY_ENOTNUM);
		expect_text(f.s, "bad", bad[i]);
	}
	/* A binary counter is not text, and text is not binary. */
	put_counter(f.s, "bin", 7);
	assert_int_equal(fr_store_incr(f.s, "bin", 3, 1, 1, &out),
			 FERRY_ENOTNUM);
	assert_int_equal(fr_store_incr(f.s, "t", 1, 1, 0, &out),
			 FERRY_ENOTNUM);
	fx_free(&f);
	(void)state;
}

static void test_incr(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	int64_t out = 0;
	fr_obj *reader;
	uint64_t v1;

	/* A missing key counts as zero and is created. */
	assert_int_equal(fr_store_incr(f.s, "c", 1, 5, 0, &out), 0);
	assert_int_equal(out, 5);
	assert_int_equal(counter(f.s, "c"), 5);
	assert_int_equal(fr_store_incr(f.s, "c", 1, -12, 0, &out), 0);
	assert_int_equal(out, -7);
	assert_int_equal(counter(f.s, "c"), -7);
	assert_int_equal(fr_store_incr(f.s, "c", 1, 0, 0, &out), 0);
	assert_int_equal(out, -7);

	/* Every update changes the version, in place or not. */
	reader = fr_store_get(f.s, "c", 1);
	v1 = reader->version;
	fr_store_release(f.s, reader);
	assert_int_equal(fr_store_incr(f.s, "c", 1, 1, 0, &out), 0);
	reader = fr_store_get(f.s, "c", 1);
	assert_true(reader->version > v1);
	v1 = reader->version;
	/* A reader holding the counter keeps its value: the update goes to
	 * a new object. */
	assert_int_equal(fr_store_incr(f.s, "c", 1, 10, 0, &out), 0);
	assert_int_equal(out, 4);
	assert_int_equal((int64_t)fr_get_u64(reader->data), -6);
	assert_int_equal(reader->version, v1);
	fr_store_release(f.s, reader);
	assert_int_equal(counter(f.s, "c"), 4);

	/* Not an 8-byte value. */
	assert_int_equal(put(f.s, "s7", 7, 1, 0), 0);
	assert_int_equal(put(f.s, "s9", 9, 1, 0), 0);
	assert_int_equal(put(f.s, "s0", 0, 1, 0), 0);
	assert_int_equal(fr_store_incr(f.s, "s7", 2, 1, 0, &out), FERRY_ENOTNUM);
	assert_int_equal(fr_store_incr(f.s, "s9", 2, 1, 0, &out), FERRY_ENOTNUM);
	assert_int_equal(fr_store_incr(f.s, "s0", 2, 1, 0, &out), FERRY_ENOTNUM);
	expect(f.s, "s7", 7, 1);

	/* Overflow in both directions leaves the counter as it was. */
	put_counter(f.s, "max", INT64_MAX);
	assert_int_equal(fr_store_incr(f.s, "max", 3, 1, 0, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(counter(f.s, "max"), INT64_MAX);
	assert_int_equal(fr_store_incr(f.s, "max", 3, INT64_MAX, 0, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(fr_store_incr(f.s, "max", 3, -1, 0, &out), 0);
	assert_int_equal(out, INT64_MAX - 1);
	put_counter(f.s, "min", INT64_MIN);
	assert_int_equal(fr_store_incr(f.s, "min", 3, -1, 0, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(fr_store_incr(f.s, "min", 3, INT64_MIN, 0, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(counter(f.s, "min"), INT64_MIN);
	assert_int_equal(fr_store_incr(f.s, "min", 3, INT64_MAX, 0, &out), 0);
	assert_int_equal(out, -1);
	/* A missing key with an extreme delta is fine. */
	assert_int_equal(fr_store_incr(f.s, "new", 3, INT64_MIN, 0, &out), 0);
	assert_int_equal(out, INT64_MIN);
	fx_free(&f);
}

static void test_full_keeps_data(void **state)
{
	struct fixture f = fx_new(256 * KiB, 1 * MiB);
	char key[32];
	int n = 0, rc = 0;
	fr_obj *o;

	/* Fill with 3000-byte values until the arena says no. */
	for (; n < 1000; n++) {
		snprintf(key, sizeof(key), "fill%04d", n);
		rc = put(f.s, key, 3000, (uint64_t)n, 0);
		if (rc)
			break;
	}
	assert_int_equal(rc, FERRY_ENOSPC);
	assert_true(n > 50);
	/* The failed write left no key behind and harmed nothing. */
	assert_null(fr_store_get(f.s, key, strlen(key)));
	assert_int_equal(nkeys(f.s), (uint64_t)n);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "fill%04d", i);
		expect(f.s, key, 3000, (uint64_t)i);
	}
	/* A counter that needs a new object fails cleanly too, once even
	 * small blocks are gone. */
	for (int i = 0; i < 10000; i++) {
		if (fr_store_prepare(f.s, 16, &o))
			break;
		fr_store_abort(f.s, o);
		snprintf(key, sizeof(key), "small%05d", i);
		if (put(f.s, key, 16, 1, 0))
			break;
	}
	int64_t out;
	assert_int_equal(fr_store_incr(f.s, "newcounter", 10, 1, 0, &out),
			 FERRY_ENOSPC);
	assert_null(fr_store_get(f.s, "newcounter", 10));
	/* Freeing makes room again, for the same size. */
	for (int i = 0; i < n; i += 2) {
		snprintf(key, sizeof(key), "fill%04d", i);
		assert_int_equal(fr_store_del(f.s, key, strlen(key), 0), 0);
	}
	assert_int_equal(put(f.s, "again", 3000, 9999, 0), 0);
	expect(f.s, "again", 3000, 9999);
	for (int i = 1; i < n; i += 2) {
		snprintf(key, sizeof(key), "fill%04d", i);
		expect(f.s, key, 3000, (uint64_t)i);
	}
	fx_free(&f);
}

static void test_max_value(void **state)
{
	struct fixture f = fx_new(1 * MiB, 10000);
	fr_obj *o = (fr_obj *)1;
	uint64_t u = used(f.s);

	assert_int_equal(fr_store_prepare(f.s, 10001, &o), FERRY_E2BIG);
	assert_null(o);
	assert_int_equal(fr_store_prepare(f.s, UINT64_MAX, &o), FERRY_E2BIG);
	assert_int_equal(used(f.s), u);
	assert_int_equal(put(f.s, "edge", 10000, 5, 0), 0);
	expect(f.s, "edge", 10000, 5);
	fx_free(&f);

	/* Past the arena but under max_value: no space, not too big. */
	f = fx_new(64 * KiB, 1 * MiB);
	assert_int_equal(fr_store_prepare(f.s, 100 * KiB, &o), FERRY_ENOSPC);
	assert_int_equal(fr_store_prepare(f.s, UINT64_MAX - 1, &o),
			 FERRY_E2BIG);
	fx_free(&f);
	f = fx_new(64 * KiB, UINT64_MAX);
	assert_int_equal(fr_store_prepare(f.s, UINT64_MAX, &o), FERRY_ENOSPC);
	fx_free(&f);
}

/* Lists one page; returns the keys packed (copied into keys[]) and *more. */
static uint32_t list_page(fr_store *s, const char *prefix, const char *after,
			  size_t alen, uint32_t max, char keys[][32], int *more,
			  size_t cap)
{
	static uint8_t out[FR_MSG_SIZE];
	uint32_t count = 0;
	size_t n = fr_store_list(s, prefix, strlen(prefix), after, alen, max, 0,
				 out, cap, &count, more);
	size_t off = 0, klen;
	const uint8_t *k;
	uint32_t seen = 0;

	assert_true(n <= cap);
	while (fr_list_next(out, n, &off, &k, &klen) == 1) {
		assert_true(klen < 32);
		memcpy(keys[seen], k, klen);
		keys[seen][klen] = '\0';
		seen++;
	}
	assert_int_equal(off, n);
	assert_int_equal(seen, count);
	return count;
}

static void test_list_paging(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	static char page[2000][32];
	char after[32] = "";
	int more = 0, total = 0, pages = 0;

	/* 1000 keys in the prefix, inserted out of order, plus neighbours
	 * outside it on both sides. */
	for (int i = 0; i < 1000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "job/%04d", (i * 389) % 1000);
		assert_int_equal(put(f.s, key, 1, 0, 0), 0);
	}
	assert_int_equal(put(f.s, "job", 1, 0, 0), 0);
	assert_int_equal(put(f.s, "jobs/x", 1, 0, 0), 0);
	assert_int_equal(put(f.s, "joa", 1, 0, 0), 0);
	assert_int_equal(put(f.s, "jnb/", 1, 0, 0), 0);

	do {
		uint32_t n = list_page(f.s, "job/", after, strlen(after), 37,
				       page, &more, FR_MSG_SIZE);
		assert_true(n <= 37);
		for (uint32_t i = 0; i < n; i++) {
			char want[32];
			snprintf(want, sizeof(want), "job/%04d",
				 total + (int)i);
			assert_string_equal(page[i], want);
		}
		total += (int)n;
		if (n)
			snprintf(after, sizeof(after), "%s", page[n - 1]);
		/* more is set exactly when keys remain. */
		assert_int_equal(more, total < 1000);
	} while (more && ++pages < 100);
	assert_int_equal(total, 1000);

	/* Whole listing; max 0 gives nothing but says more. */
	assert_int_equal(
	    list_page(f.s, "", NULL, 0, 2000, page, &more, FR_MSG_SIZE), 1004);
	assert_int_equal(more, 0);
	assert_string_equal(page[0], "jnb/");
	assert_string_equal(page[2], "job");
	assert_string_equal(page[1003], "jobs/x");
	assert_int_equal(
	    list_page(f.s, "job/", NULL, 0, 0, page, &more, FR_MSG_SIZE), 0);
	assert_int_equal(more, 1);
	/* A small buffer stops the page early, with more set. */
	assert_int_equal(list_page(f.s, "job/", NULL, 0, 1000, page, &more, 25),
			 2);
	assert_int_equal(more, 1);
	/* No match. */
	assert_int_equal(
	    list_page(f.s, "nope", NULL, 0, 10, page, &more, FR_MSG_SIZE), 0);
	assert_int_equal(more, 0);
	/* The cursor past every key. */
	assert_int_equal(
	    list_page(f.s, "job/", "job/9999", 8, 10, page, &more, FR_MSG_SIZE),
	    0);
	assert_int_equal(more, 0);
	fx_free(&f);
}

/* ---- expiry and conditions ------------------------------------------------ */

static uint64_t fake_now = 1000000;

static uint64_t fake_clock(void *arg)
{
	return *(uint64_t *)arg;
}

/* A store on the fake clock, at fake_now = 1,000,000 ms. */
static struct fixture fx_clocked(size_t size)
{
	struct fixture f = fx_new(size, size);

	fake_now = 1000000;
	fr_store_set_clock(f.s, fake_clock, &fake_now);
	assert_true(fr_store_now_ms(f.s) == 1000000);
	return f;
}

static int put_ttl(fr_store *s, const char *key, size_t size, uint64_t seed,
		   uint64_t expire_ms)
{
	return put_args(s, key, size, seed,
			&(fr_put_args){.expire_ms = expire_ms});
}

/* The expiry of key, or -1 if it is missing. */
static int64_t expiry_of(fr_store *s, const char *key)
{
	fr_obj *o = fr_store_get(s, key, strlen(key));
	int64_t e;

	if (!o)
		return -1;
	e = (int64_t)o->expire_ms;
	fr_store_release(s, o);
	return e;
}

static uint64_t version_of(fr_store *s, const char *key)
{
	fr_obj *o = fr_store_get(s, key, strlen(key));
	uint64_t v;

	assert_non_null(o);
	v = o->version;
	fr_store_release(s, o);
	return v;
}

static void test_expiry(void **state)
{
	struct fixture f = fx_clocked(1 * MiB);
	uint64_t u0 = used(f.s), u1;
	char keys[8][32];
	int more;
	fr_obj *r;

	assert_true(fr_store_next_expiry(f.s) == 0);
	assert_int_equal(put_ttl(f.s, "t", 5000, 1, 1000500), 0);
	assert_int_equal(put(f.s, "p", 10, 2, 0), 0);
	assert_true(fr_store_next_expiry(f.s) == 1000500);
	assert_int_equal(expiry_of(f.s, "t"), 1000500);
	assert_int_equal(expiry_of(f.s, "p"), 0);
	u1 = used(f.s);
	assert_true(u1 >= u0 + 5010);
	/* Alive up to the millisecond before; nothing reaped early. */
	fake_now = 1000499;
	assert_int_equal(fr_store_reap(f.s, 100), 0);
	expect(f.s, "t", 5000, 1);
	assert_int_equal(list_page(f.s, "", NULL, 0, 8, keys, &more,
				   FR_MSG_SIZE), 2);
	/* Gone at that millisecond, for every operation, even before it is
	 * reaped: listing skips it, get, del, incr and expire miss it. */
	fake_now = 1000500;
	assert_int_equal(list_page(f.s, "", NULL, 0, 8, keys, &more,
				   FR_MSG_SIZE), 1);
	assert_string_equal(keys[0], "p");
	assert_null(fr_store_get(f.s, "t", 1));
	/* Touching it freed it. */
	assert_true(used(f.s) < u1);
	assert_int_equal(nkeys(f.s), 1);
	assert_true(fr_store_next_expiry(f.s) == 0);
	assert_int_equal(fr_store_del(f.s, "t", 1, 0), FERRY_ENOENT);

	/* Reaping with no request: memory comes back. */
	assert_int_equal(put_ttl(f.s, "t2", 5000, 3, 1000600), 0);
	fake_now = 1000700;
	assert_int_equal(nkeys(f.s), 2);
	assert_int_equal(fr_store_reap(f.s, 100), 1);
	assert_int_equal(nkeys(f.s), 1);
	assert_true(used(f.s) < u1);
	assert_int_equal(fr_store_reap(f.s, 100), 0);

	/* A reader holding a value that expires keeps its bytes. */
	assert_int_equal(put_ttl(f.s, "t3", 5000, 4, 1000800), 0);
	r = fr_store_get(f.s, "t3", 2);
	fake_now = 1000800;
	assert_int_equal(fr_store_reap(f.s, 100), 1);
	assert_null(fr_store_get(f.s, "t3", 2));
	assert_int_equal(ft_check(r->data, 5000, 4), (size_t)-1);
	fr_store_release(f.s, r);

	/* A write whose expiry has passed stores nothing and removes what
	 * was there. */
	assert_int_equal(put(f.s, "old", 100, 5, 0), 0);
	uint64_t before = used(f.s), v;
	fr_obj *o;
	assert_int_equal(fr_store_prepare(f.s, 100, &o), 0);
	assert_int_equal(fr_store_commit(f.s, "old", 3, o,
					 &(fr_put_args){.expire_ms = fake_now},
					 &v),
			 0);
	assert_true(v != 0);
	assert_null(fr_store_get(f.s, "old", 3));
	assert_true(used(f.s) < before);
	assert_int_equal(nkeys(f.s), 1);
	/* Expired counters start again at 0, with no expiry. */
	int64_t out;
	put_counter(f.s, "c", 41);
	assert_int_equal(fr_store_expire(f.s, "c", 1, fake_now + 10, 0, &more),
			 0);
	assert_int_equal(fr_store_incr(f.s, "c", 1, 1, 0, &out), 0);
	assert_int_equal(out, 42);
	assert_int_equal(expiry_of(f.s, "c"), fake_now + 10);
	fake_now += 10;
	assert_int_equal(fr_store_incr(f.s, "c", 1, 1, 0, &out), 0);
	assert_int_equal(out, 1);
	assert_int_equal(expiry_of(f.s, "c"), 0);
	fx_free(&f);
}

static void test_keepttl(void **state)
{
	struct fixture f = fx_clocked(1 * MiB);
	fr_put_args keep = {.flags = FR_F_KEEPTTL, .expire_ms = 1000010};
	fr_obj *reader;
	int64_t out;

	assert_int_equal(put_ttl(f.s, "k", 10, 1, 1000500), 0);
	/* KEEPTTL carries the replaced value's expiry; its own is ignored. */
	assert_int_equal(put_args(f.s, "k", 20, 2, &keep), 0);
	expect(f.s, "k", 20, 2);
	assert_int_equal(expiry_of(f.s, "k"), 1000500);
	/* A plain write sets its own expiry, or none. */
	assert_int_equal(put(f.s, "k", 30, 3, 0), 0);
	assert_int_equal(expiry_of(f.s, "k"), 0);
	assert_int_equal(put_args(f.s, "k", 30, 3, &keep), 0);
	assert_int_equal(expiry_of(f.s, "k"), 0);
	/* A new key gets none. */
	assert_int_equal(put_args(f.s, "new", 5, 4, &keep), 0);
	assert_int_equal(expiry_of(f.s, "new"), 0);
	/* Nor does a key whose old value expired. */
	assert_int_equal(put_ttl(f.s, "gone", 5, 5, 1000100), 0);
	fake_now = 1000100;
	assert_int_equal(put_args(f.s, "gone", 5, 6, &keep), 0);
	assert_int_equal(expiry_of(f.s, "gone"), 0);
	/* The kept expiry still works: the heap follows the new object. */
	assert_int_equal(put_args(f.s, "k", 30, 7, &keep), 0);
	assert_int_equal(put_ttl(f.s, "k", 10, 8, 1000200), 0);
	assert_int_equal(put_args(f.s, "k", 10, 9, &keep), 0);
	fake_now = 1000200;
	assert_int_equal(fr_store_reap(f.s, 10), 1);
	assert_null(fr_store_get(f.s, "k", 1));

	/* INCR keeps the expiry, in place and through a new object. */
	put_counter(f.s, "c", 1);
	assert_int_equal(fr_store_expire(f.s, "c", 1, 1000900, 0, &(int){0}),
			 0);
	assert_int_equal(fr_store_incr(f.s, "c", 1, 1, 0, &out), 0);
	assert_int_equal(expiry_of(f.s, "c"), 1000900);
	reader = fr_store_get(f.s, "c", 1);
	assert_int_equal(fr_store_incr(f.s, "c", 1, 1, 0, &out), 0);
	assert_int_equal(out, 3);
	fr_store_release(f.s, reader);
	assert_int_equal(expiry_of(f.s, "c"), 1000900);
	fake_now = 1000900;
	assert_int_equal(fr_store_reap(f.s, 10), 1);
	assert_null(fr_store_get(f.s, "c", 1));
	fx_free(&f);
}

static uint64_t ticks; /* ms the ticking clock moves per reading */

static uint64_t ticking_clock(void *arg)
{
	uint64_t now = *(uint64_t *)arg;

	*(uint64_t *)arg += ticks;
	return now;
}

/* A counter whose expiry comes while an INCR is under way (the clock
 * moves between its readings): the INCR counts either on the live
 * counter, whose result keeps the expiry, or on an expired one, starting
 * again from 0 with none; never on the old count with the expiry lost. */
static void test_incr_at_expiry(void **state)
{
	struct fixture f = fx_clocked(1 * MiB);
	int64_t out;
	fr_obj *reader;

	for (int text = 0; text <= 1; text++) {
		fake_now = 1000000;
		ticks = 0;
		fr_store_set_clock(f.s, fake_clock, &fake_now);
		if (text)
			put_text(f.s, "c", "99"); /* 100 does not fit in place */
		else
			put_counter(f.s, "c", 99);
		assert_int_equal(
		    fr_store_expire(f.s, "c", 1, fake_now + 1, 0, &(int){0}), 0);
		reader = fr_store_get(f.s, "c", 1); /* no update in place */
		ticks = 1;
		fr_store_set_clock(f.s, ticking_clock, &fake_now);
		assert_int_equal(fr_store_incr(f.s, "c", 1, 1, text, &out), 0);
		ticks = 0;
		fr_store_release(f.s, reader);
		if (out == 100)
			assert_int_equal(expiry_of(f.s, "c"), -1);
		else
			assert_int_equal(out, 1);
	}
	fx_free(&f);
}

static void test_conditional(void **state)
{
	struct fixture f = fx_clocked(1 * MiB);
	uint64_t v1, v2, u;
	fr_obj *o;

	/* Missing key: FERRY_ENOENT, early and at commit. */
	assert_int_equal(put_args(f.s, "k", 10, 1,
				  &(fr_put_args){.if_version = 1}),
			 FERRY_ENOENT);
	assert_null(fr_store_get(f.s, "k", 1));
	assert_int_equal(fr_store_del(f.s, "k", 1, 5), FERRY_ENOENT);
	assert_int_equal(put(f.s, "k", 10, 1, 0), 0);
	v1 = version_of(f.s, "k");
	assert_true(v1 != 0);
	/* The right version writes, a stale one does not. */
	assert_int_equal(put_args(f.s, "k", 20, 2,
				  &(fr_put_args){.if_version = v1 + 1}),
			 FERRY_ECHANGED);
	expect(f.s, "k", 10, 1);
	assert_int_equal(put_args(f.s, "k", 20, 2,
				  &(fr_put_args){.if_version = v1}),
			 0);
	expect(f.s, "k", 20, 2);
	v2 = version_of(f.s, "k");
	assert_true(v2 != v1);
	/* Two writers read v2; the first to commit wins, the second's
	 * commit fails (though its early check passed) and is freed. */
	fr_put_args a = {.if_version = v2};
	fr_obj *w1, *w2;
	assert_int_equal(fr_store_check(f.s, "k", 1, &a), 0);
	assert_int_equal(fr_store_prepare(f.s, 30, &w1), 0);
	assert_int_equal(fr_store_check(f.s, "k", 1, &a), 0);
	assert_int_equal(fr_store_prepare(f.s, 40, &w2), 0);
	ft_fill(w1->data, 30, 3);
	ft_fill(w2->data, 40, 4);
	u = used(f.s);
	assert_int_equal(fr_store_commit(f.s, "k", 1, w1, &a, NULL), 0);
	assert_int_equal(fr_store_commit(f.s, "k", 1, w2, &a, NULL),
			 FERRY_ECHANGED);
	assert_true(used(f.s) < u);
	expect(f.s, "k", 30, 3);
	/* Conditional delete. */
	assert_int_equal(fr_store_del(f.s, "k", 1, v2), FERRY_ECHANGED);
	assert_int_equal(fr_store_del(f.s, "k", 1, version_of(f.s, "k")), 0);
	assert_null(fr_store_get(f.s, "k", 1));
	/* An expired key is a missing key for conditions too. */
	assert_int_equal(put_ttl(f.s, "e", 10, 1, 1000010), 0);
	v1 = version_of(f.s, "e");
	fake_now = 1000010;
	assert_int_equal(put_args(f.s, "e", 10, 1,
				  &(fr_put_args){.if_version = v1}),
			 FERRY_ENOENT);
	assert_int_equal(put_ttl(f.s, "e", 10, 1, 1000020), 0);
	v1 = version_of(f.s, "e");
	fake_now = 1000020;
	assert_int_equal(fr_store_del(f.s, "e", 1, v1), FERRY_ENOENT);
	/* Versions are never 0, not even when the counter wraps. */
	fr_store_set_next_version(f.s, UINT64_MAX);
	assert_int_equal(put(f.s, "w", 1, 1, 0), 0);
	assert_true(version_of(f.s, "w") == UINT64_MAX);
	assert_int_equal(fr_store_prepare(f.s, 1, &o), 0);
	assert_int_equal(fr_store_commit(f.s, "w", 1, o, NULL, &v1), 0);
	assert_true(v1 == 1);
	assert_true(version_of(f.s, "w") == 1);
	fx_free(&f);
}

/* EXPIRE's conditions, as Redis 7 defines them; no expiry counts as
 * infinitely far for GT and LT, and so does a new expiry of 0. */
static void test_expire_conditions(void **state)
{
	enum { NONE = 0, SOON = 1000500, LATER = 1000900 };
	static const struct {
		int64_t cur;	 /* the key's expiry, -1: missing */
		uint64_t next;	 /* the requested one */
		unsigned cond;
		int rc, changed;
		int64_t after;	 /* the expiry afterwards, -1: gone */
	} cases[] = {
	    {-1, SOON, 0, FERRY_ENOENT, 0, -1},
	    {NONE, SOON, 0, 0, 1, SOON},
	    {SOON, LATER, 0, 0, 1, LATER},
	    {LATER, SOON, 0, 0, 1, SOON},
	    {SOON, SOON, 0, 0, 1, SOON},
	    {SOON, NONE, 0, 0, 1, NONE}, /* persist */
	    {NONE, NONE, 0, 0, 0, NONE}, /* persist, nothing to remove */
	    {NONE, SOON, FR_EXPIRE_NX, 0, 1, SOON},
	    {SOON, LATER, FR_EXPIRE_NX, 0, 0, SOON},
	    {NONE, SOON, FR_EXPIRE_XX, 0, 0, NONE},
	    {SOON, LATER, FR_EXPIRE_XX, 0, 1, LATER},
	    {SOON, NONE, FR_EXPIRE_XX, 0, 1, NONE},
	    {SOON, LATER, FR_EXPIRE_GT, 0, 1, LATER},
	    {LATER, SOON, FR_EXPIRE_GT, 0, 0, LATER},
	    {SOON, SOON, FR_EXPIRE_GT, 0, 0, SOON},
	    {NONE, SOON, FR_EXPIRE_GT, 0, 0, NONE},
	    {SOON, NONE, FR_EXPIRE_GT, 0, 1, NONE},
	    {LATER, SOON, FR_EXPIRE_LT, 0, 1, SOON},
	    {SOON, LATER, FR_EXPIRE_LT, 0, 0, SOON},
	    {NONE, SOON, FR_EXPIRE_LT, 0, 1, SOON},
	    {SOON, NONE, FR_EXPIRE_LT, 0, 0, SOON},
	    {NONE, SOON, FR_EXPIRE_XX | FR_EXPIRE_LT, 0, 0, NONE},
	    {LATER, SOON, FR_EXPIRE_XX | FR_EXPIRE_LT, 0, 1, SOON},
	    {SOON, LATER, FR_EXPIRE_XX | FR_EXPIRE_GT, 0, 1, LATER},
	    /* A time already past deletes the key, conditions first. */
	    {NONE, 999999, 0, 0, 1, -1},
	    {SOON, 1000000, FR_EXPIRE_XX, 0, 1, -1},
	    {SOON, 1, FR_EXPIRE_GT, 0, 0, SOON},
	    {NONE, 1, FR_EXPIRE_XX, 0, 0, NONE},
	};

	for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
		struct fixture f = fx_clocked(1 * MiB);
		uint64_t ver, u;
		int changed = -1;

		if (cases[i].cur >= 0)
			assert_int_equal(put_ttl(f.s, "k", 100, 1,
						 (uint64_t)cases[i].cur),
					 0);
		ver = cases[i].cur >= 0 ? version_of(f.s, "k") : 0;
		u = used(f.s);
		int rc = fr_store_expire(f.s, "k", 1, cases[i].next,
					 cases[i].cond, &changed);
		if (rc != cases[i].rc || changed != cases[i].changed ||
		    expiry_of(f.s, "k") != cases[i].after)
			fail_msg("case %zu: rc %d changed %d expiry %lld, "
				 "expected %d %d %lld",
				 i, rc, changed,
				 (long long)expiry_of(f.s, "k"), cases[i].rc,
				 cases[i].changed, (long long)cases[i].after);
		if (cases[i].after >= 0 && cases[i].cur >= 0) {
			/* The value stays as it was. */
			expect(f.s, "k", 100, 1);
			assert_true(version_of(f.s, "k") == ver);
		}
		if (cases[i].after < 0 && cases[i].cur >= 0)
			assert_true(used(f.s) < u);
		/* The heap agrees with the key. */
		assert_true(fr_store_next_expiry(f.s) ==
			    (uint64_t)(cases[i].after > 0 ? cases[i].after
							  : 0));
		fx_free(&f);
	}
}

/* Many keys with random expiries, some changed or removed meanwhile: the
 * reaper frees them all, soonest first, at most max per call, each at
 * its time and not before; memory returns to where it started. */
static void test_reap_order(void **state)
{
	enum { N = 3000 };
	struct fixture f = fx_clocked(4 * MiB);
	static uint64_t when[N]; /* 0: no expiry, or deleted */
	uint64_t u0 = used(f.s), rnd = 88172645463325252ull, last = 0;
	size_t left = 0, got;
	char key[32];

	for (int i = 0; i < N; i++) {
		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		when[i] = i % 10 == 0 ? 0 : 1000001 + rnd % 5000;
		snprintf(key, sizeof(key), "r%d", i);
		assert_int_equal(put_ttl(f.s, key, 100, (uint64_t)i, when[i]),
				 0);
	}
	/* Re-key a third through EXPIRE, persist some, delete some. */
	for (int i = 0; i < N; i += 3) {
		int changed;
		snprintf(key, sizeof(key), "r%d", i);
		if (i % 9 == 0) {
			assert_int_equal(fr_store_del(f.s, key, strlen(key), 0),
					 0);
			when[i] = 0;
			continue;
		}
		when[i] = i % 7 == 0 ? 0 : 1000001 + (when[i] * 31) % 5000;
		assert_int_equal(fr_store_expire(f.s, key, strlen(key),
						 when[i], 0, &changed),
				 0);
	}
	for (int i = 0; i < N; i++)
		left += when[i] != 0;
	/* Time moves on in steps; each step frees exactly what is due. */
	for (fake_now = 1000000; fake_now <= 1006001; fake_now += 97) {
		size_t due = 0;
		for (int i = 0; i < N; i++)
			due += when[i] && when[i] <= fake_now;
		while ((got = fr_store_reap(f.s, 16)) > 0) {
			assert_true(got <= 16);
			assert_true(got <= due);
			due -= got;
		}
		assert_int_equal(due, 0);
		for (int i = 0; i < N; i++)
			if (when[i] && when[i] <= fake_now)
				when[i] = 0, left--;
		uint64_t next = fr_store_next_expiry(f.s);
		assert_true(next == 0 || next > fake_now);
		assert_true(next == 0 || next >= last);
		last = next;
	}
	assert_int_equal(left, 0);
	assert_true(fr_store_next_expiry(f.s) == 0);
	/* Only the keys without expiry remain. */
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "r%d", i);
		fr_obj *o = fr_store_get(f.s, key, strlen(key));
		if (o) {
			assert_true(o->expire_ms == 0);
			fr_store_release(f.s, o);
			assert_int_equal(fr_store_del(f.s, key, strlen(key), 0),
					 0);
		}
	}
	assert_int_equal(nkeys(f.s), 0);
	assert_int_equal(used(f.s), u0);
	fx_free(&f);
}

/* ---- changes reported to watchers ------------------------------------- */

struct changes {
	int n;
	int kind[32];
	char key[32][16];
};

static void record(void *arg, int kind, const void *key, size_t klen)
{
	struct changes *c = arg;

	assert_true(c->n < 32 && klen < 16);
	c->kind[c->n] = kind;
	memcpy(c->key[c->n], key, klen);
	c->key[c->n][klen] = '\0';
	c->n++;
}

/* The changes since the last call must be exactly kinds on keys. */
static void changed(struct changes *c, int n, const int *kinds,
		    const char *const *keys)
{
	if (c->n != n)
		fail_msg("%d changes reported, expected %d (first: %d on %s)",
			 c->n, n, c->n ? c->kind[0] : 0,
			 c->n ? c->key[0] : "-");
	for (int i = 0; i < n; i++) {
		assert_int_equal(c->kind[i], kinds[i]);
		assert_string_equal(c->key[i], keys[i]);
	}
	c->n = 0;
}

#define CHANGED(c, ...)                                                        \
	do {                                                                   \
		static const struct {                                          \
			int kind;                                              \
			const char *key;                                       \
		} want_[] = {__VA_ARGS__};                                     \
		int k_[32];                                                    \
		const char *s_[32];                                            \
		for (size_t i_ = 0; i_ < FR_ARRAY_LEN(want_); i_++) {          \
			k_[i_] = want_[i_].kind;                               \
			s_[i_] = want_[i_].key;                                \
		}                                                              \
		changed((c), (int)FR_ARRAY_LEN(want_), k_, s_);                \
	} while (0)
#define NOTHING(c) changed((c), 0, NULL, NULL)

static void test_change_events(void **state)
{
	struct fixture f = fx_clocked(1 * MiB);
	struct changes c = {0};
	int64_t out;
	int ch;
	fr_obj *o;

	fr_store_on_event(f.s, record, &c);
	assert_int_equal(put(f.s, "a", 10, 1, 0), 0);
	CHANGED(&c, {FERRY_EV_SET, "a"});
	assert_int_equal(put(f.s, "a", 10, 2, FR_F_CREATE), FERRY_EEXIST);
	assert_int_equal(put(f.s, "a", 10, 2, 0), 0); /* replace */
	CHANGED(&c, {FERRY_EV_SET, "a"});
	/* A prepared write that is aborted changes nothing. */
	assert_int_equal(fr_store_prepare(f.s, 10, &o), 0);
	fr_store_abort(f.s, o);
	NOTHING(&c);

	/* EXPIRE: set, a condition that stops it, persist, nothing to
	 * persist, a time already past. */
	assert_int_equal(fr_store_expire(f.s, "a", 1, 2000000, 0, &ch), 0);
	assert_int_equal(fr_store_expire(f.s, "a", 1, 3000000, FR_EXPIRE_NX,
					 &ch),
			 0);
	assert_int_equal(fr_store_expire(f.s, "a", 1, 0, 0, &ch), 0);
	assert_int_equal(fr_store_expire(f.s, "a", 1, 0, 0, &ch), 0);
	assert_int_equal(ch, 0);
	CHANGED(&c, {FERRY_EV_EXPIRE, "a"}, {FERRY_EV_PERSIST, "a"});
	assert_int_equal(fr_store_expire(f.s, "zz", 2, 2000000, 0, &ch),
			 FERRY_ENOENT);
	NOTHING(&c);

	/* INCR: a new counter, in place, and through a new version while a
	 * reader holds the old one; a value that is no counter: nothing. */
	assert_int_equal(fr_store_incr(f.s, "n", 1, 1, 0, &out), 0);
	assert_int_equal(fr_store_incr(f.s, "n", 1, 1, 0, &out), 0);
	o = fr_store_get(f.s, "n", 1);
	assert_int_equal(fr_store_incr(f.s, "n", 1, 1, 0, &out), 0);
	fr_store_release(f.s, o);
	assert_int_equal(fr_store_incr(f.s, "a", 1, 1, 0, &out),
			 FERRY_ENOTNUM);
	CHANGED(&c, {FERRY_EV_INCR, "n"}, {FERRY_EV_INCR, "n"},
		{FERRY_EV_INCR, "n"});

	/* DEL, a missing key, a version that differs. */
	assert_int_equal(fr_store_del(f.s, "a", 1, 12345), FERRY_ECHANGED);
	assert_int_equal(fr_store_del(f.s, "a", 1, 0), 0);
	assert_int_equal(fr_store_del(f.s, "a", 1, 0), FERRY_ENOENT);
	CHANGED(&c, {FERRY_EV_DEL, "a"});

	/* A write already expired removes what was there (a delete), and
	 * changes nothing where nothing was. */
	assert_int_equal(put_ttl(f.s, "n", 10, 3, fake_now), 0);
	assert_int_equal(put_ttl(f.s, "n", 10, 3, fake_now - 1), 0);
	CHANGED(&c, {FERRY_EV_DEL, "n"});
	/* So does an EXPIRE to a time already past. */
	assert_int_equal(put(f.s, "p", 10, 4, 0), 0);
	assert_int_equal(fr_store_expire(f.s, "p", 1, 5, 0, &ch), 0);
	assert_int_equal(ch, 1);
	CHANGED(&c, {FERRY_EV_SET, "p"}, {FERRY_EV_DEL, "p"});

	/* Expiry: the first operation that meets an expired value frees it
	 * (EXPIRED, then its own outcome), and the reaper frees the rest. */
	assert_int_equal(put_ttl(f.s, "t", 10, 5, fake_now + 10), 0);
	assert_int_equal(put_ttl(f.s, "u", 10, 6, fake_now + 20), 0);
	/* A write with an expiry reports it too, as Redis's SET EX. */
	CHANGED(&c, {FERRY_EV_SET, "t"}, {FERRY_EV_EXPIRE, "t"},
		{FERRY_EV_SET, "u"}, {FERRY_EV_EXPIRE, "u"});
	fake_now += 10;
	assert_null(fr_store_get(f.s, "t", 1));
	assert_null(fr_store_get(f.s, "t", 1));
	CHANGED(&c, {FERRY_EV_EXPIRED, "t"});
	fake_now += 10;
	assert_int_equal(put(f.s, "u", 10, 7, FR_F_CREATE), 0);
	CHANGED(&c, {FERRY_EV_EXPIRED, "u"}, {FERRY_EV_SET, "u"});
	assert_int_equal(put_ttl(f.s, "r", 10, 8, fake_now + 5), 0);
	assert_int_equal(put_ttl(f.s, "s", 10, 9, fake_now + 6), 0);
	c.n = 0;
	fake_now += 10;
	assert_int_equal(fr_store_reap(f.s, 10), 2);
	CHANGED(&c, {FERRY_EV_EXPIRED, "r"}, {FERRY_EV_EXPIRED, "s"});
	/* Listing skips expired keys without freeing them: no change. */
	assert_int_equal(put_ttl(f.s, "v", 10, 10, fake_now + 1), 0);
	c.n = 0;
	fake_now += 1;
	char keys[8][32];
	int more;
	list_page(f.s, "", NULL, 0, 8, keys, &more, FR_MSG_SIZE);
	NOTHING(&c);
	/* Nobody listening: nothing is called. */
	fr_store_on_event(f.s, NULL, NULL);
	assert_int_equal(fr_store_reap(f.s, 10), 1);
	NOTHING(&c);
	fx_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_rejects),
	    cmocka_unit_test(test_prepare_commit),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_create_replace),
	    cmocka_unit_test(test_abort),
	    cmocka_unit_test(test_refs_keep_values_alive),
	    cmocka_unit_test(test_incr),
	    cmocka_unit_test(test_incr_text),
	    cmocka_unit_test(test_full_keeps_data),
	    cmocka_unit_test(test_max_value),
	    cmocka_unit_test(test_list_paging),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_keepttl),
	    cmocka_unit_test(test_incr_at_expiry),
	    cmocka_unit_test(test_conditional),
	    cmocka_unit_test(test_expire_conditions),
	    cmocka_unit_test(test_reap_order),
	    cmocka_unit_test(test_change_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
