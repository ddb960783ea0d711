/*
 * Unit tests of the store (src/server/store.c): the two-step write
 * (prepare, fill, commit), create-only and replace-only, abort, readers'
 * references keeping replaced and deleted values alive, counters, a full
 * arena that keeps earlier data intact, the value size limit, and paged
 * listing.
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

/* Stores size bytes of pattern seed under key; returns the status. */
static int put(fr_store *s, const char *key, size_t size, uint64_t seed,
	       unsigned flags)
{
	fr_obj *o;
	int rc = fr_store_check(s, key, strlen(key), flags);

	if (!rc)
		rc = fr_store_prepare(s, size, &o);
	if (rc)
		return rc;
	ft_fill(o->data, size, seed);
	return fr_store_commit(s, key, strlen(key), o, flags);
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
	assert_int_equal(fr_store_commit(f.s, "k", 1, o, 0), 0);
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
	assert_int_equal(fr_store_commit(f.s, big, sizeof(big), o, 0), 0);
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
	assert_int_equal(fr_store_check(f.s, "a", 1, FR_F_REPLACE),
			 FERRY_ENOENT);
	assert_int_equal(fr_store_check(f.s, "a", 1, FR_F_CREATE), 0);
	assert_int_equal(fr_store_check(f.s, "a", 1, 0), 0);
	u = used(f.s);
	assert_int_equal(fr_store_prepare(f.s, 100, &o), 0);
	assert_int_equal(fr_store_commit(f.s, "a", 1, o, FR_F_REPLACE),
			 FERRY_ENOENT);
	assert_null(fr_store_get(f.s, "a", 1));
	assert_int_equal(used(f.s), u); /* the failed object was freed */

	/* Create-only creates once. */
	assert_int_equal(put(f.s, "a", 100, 1, FR_F_CREATE), 0);
	assert_int_equal(fr_store_check(f.s, "a", 1, FR_F_CREATE),
			 FERRY_EEXIST);
	assert_int_equal(fr_store_check(f.s, "a", 1, FR_F_REPLACE), 0);
	/* Another writer committed between check and commit: the commit
	 * checks again and frees the loser. */
	u = used(f.s);
	assert_int_equal(fr_store_prepare(f.s, 200, &o), 0);
	ft_fill(o->data, 200, 2);
	assert_int_equal(fr_store_commit(f.s, "a", 1, o, FR_F_CREATE),
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
	assert_int_equal(fr_store_del(f.s, "k", 1), 0);
	assert_null(fr_store_get(f.s, "k", 1));
	assert_int_equal(fr_store_del(f.s, "k", 1), FERRY_ENOENT);
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
		assert_int_equal(fr_store_del(f.s, key, strlen(key)), 0);
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
	assert_int_equal(fr_store_commit(s, key, strlen(key), o, 0), 0);
}

static void test_incr(void **state)
{
	struct fixture f = fx_new(1 * MiB, 1 * MiB);
	int64_t out = 0;
	fr_obj *reader;
	uint64_t v1;

	/* A missing key counts as zero and is created. */
	assert_int_equal(fr_store_incr(f.s, "c", 1, 5, &out), 0);
	assert_int_equal(out, 5);
	assert_int_equal(counter(f.s, "c"), 5);
	assert_int_equal(fr_store_incr(f.s, "c", 1, -12, &out), 0);
	assert_int_equal(out, -7);
	assert_int_equal(counter(f.s, "c"), -7);
	assert_int_equal(fr_store_incr(f.s, "c", 1, 0, &out), 0);
	assert_int_equal(out, -7);

	/* Every update changes the version, in place or not. */
	reader = fr_store_get(f.s, "c", 1);
	v1 = reader->version;
	fr_store_release(f.s, reader);
	assert_int_equal(fr_store_incr(f.s, "c", 1, 1, &out), 0);
	reader = fr_store_get(f.s, "c", 1);
	assert_true(reader->version > v1);
	v1 = reader->version;
	/* A reader holding the counter keeps its value: the update goes to
	 * a new object. */
	assert_int_equal(fr_store_incr(f.s, "c", 1, 10, &out), 0);
	assert_int_equal(out, 4);
	assert_int_equal((int64_t)fr_get_u64(reader->data), -6);
	assert_int_equal(reader->version, v1);
	fr_store_release(f.s, reader);
	assert_int_equal(counter(f.s, "c"), 4);

	/* Not an 8-byte value. */
	assert_int_equal(put(f.s, "s7", 7, 1, 0), 0);
	assert_int_equal(put(f.s, "s9", 9, 1, 0), 0);
	assert_int_equal(put(f.s, "s0", 0, 1, 0), 0);
	assert_int_equal(fr_store_incr(f.s, "s7", 2, 1, &out), FERRY_ENOTNUM);
	assert_int_equal(fr_store_incr(f.s, "s9", 2, 1, &out), FERRY_ENOTNUM);
	assert_int_equal(fr_store_incr(f.s, "s0", 2, 1, &out), FERRY_ENOTNUM);
	expect(f.s, "s7", 7, 1);

	/* Overflow in both directions leaves the counter as it was. */
	put_counter(f.s, "max", INT64_MAX);
	assert_int_equal(fr_store_incr(f.s, "max", 3, 1, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(counter(f.s, "max"), INT64_MAX);
	assert_int_equal(fr_store_incr(f.s, "max", 3, INT64_MAX, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(fr_store_incr(f.s, "max", 3, -1, &out), 0);
	assert_int_equal(out, INT64_MAX - 1);
	put_counter(f.s, "min", INT64_MIN);
	assert_int_equal(fr_store_incr(f.s, "min", 3, -1, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(fr_store_incr(f.s, "min", 3, INT64_MIN, &out),
			 FERRY_EOVERFLOW);
	assert_int_equal(counter(f.s, "min"), INT64_MIN);
	assert_int_equal(fr_store_incr(f.s, "min", 3, INT64_MAX, &out), 0);
	assert_int_equal(out, -1);
	/* A missing key with an extreme delta is fine. */
	assert_int_equal(fr_store_incr(f.s, "new", 3, INT64_MIN, &out), 0);
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
	assert_int_equal(fr_store_incr(f.s, "newcounter", 10, 1, &out),
			 FERRY_ENOSPC);
	assert_null(fr_store_get(f.s, "newcounter", 10));
	/* Freeing makes room again, for the same size. */
	for (int i = 0; i < n; i += 2) {
		snprintf(key, sizeof(key), "fill%04d", i);
		assert_int_equal(fr_store_del(f.s, key, strlen(key)), 0);
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
	size_t n = fr_store_list(s, prefix, strlen(prefix), after, alen, max,
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
	    cmocka_unit_test(test_full_keeps_data),
	    cmocka_unit_test(test_max_value),
	    cmocka_unit_test(test_list_paging),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
