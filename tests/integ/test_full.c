/*
 * A server with a small arena (--memory 4M): filling it ends in
 * FERRY_ENOSPC, not in eviction or corruption; every value stored before
 * is intact byte for byte; the failed write left nothing behind; and once
 * some keys are deleted, writes succeed again.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define TIMEOUT_MS 20000
#define MAXKEYS 4000

static ft_cluster *cl;
static ferry_client *c;

static int setup(void **state)
{
	static const char *const args[] = {"--memory", "4M", NULL};

	cl = ft_cluster_start(1, args);
	c = ft_connect(cl, TIMEOUT_MS);
	return 0;
}

static int teardown(void **state)
{
	ferry_close(c);
	ft_cluster_stop(cl);
	return 0;
}

struct item {
	char key[32];
	size_t size;
	int live;
};

static struct item items[MAXKEYS];
static int nitems;

/* Puts values of `size` until the server is full; returns how many fit. */
static int fill(const char *tag, size_t size, uint8_t *buf)
{
	int n = 0;

	while (nitems < MAXKEYS) {
		struct item *it = &items[nitems];
		int rc;
		snprintf(it->key, sizeof(it->key), "full/%s/%d", tag, nitems);
		it->size = size;
		ft_fill(buf, size, (uint64_t)nitems);
		rc = ferry_put(c, it->key, strlen(it->key), buf, size, 0);
		if (rc == FERRY_ENOSPC) {
			/* Nothing half-written stays behind. */
			ft_assert_rc(
			    ferry_stat_key(c, it->key, strlen(it->key), NULL),
			    FERRY_ENOENT);
			return n;
		}
		ft_assert_rc(rc, 0);
		it->live = 1;
		nitems++;
		n++;
	}
	fail_msg("the 4M server took %d values without filling up", MAXKEYS);
	return n;
}

static void verify_all(uint8_t *buf)
{
	for (int i = 0; i < nitems; i++) {
		size_t got = 0, bad;
		if (!items[i].live) {
			ft_assert_rc(ferry_stat_key(c, items[i].key,
						    strlen(items[i].key), NULL),
				     FERRY_ENOENT);
			continue;
		}
		ft_assert_rc(ferry_get(c, items[i].key, strlen(items[i].key), 0,
				       buf, 512 * KiB, &got, NULL),
			     0);
		assert_int_equal(got, items[i].size);
		bad = ft_check(buf, got, (uint64_t)i);
		if (bad != (size_t)-1)
			fail_msg("%s: byte %zu differs after the server filled",
				 items[i].key, bad);
	}
}

static void test_fill_then_free(void **state)
{
	uint8_t *buf = malloc(512 * KiB);
	ferry_server_stat st;
	int big, mid, small;
	int64_t v;

	assert_non_null(buf);
	/* Large values by RMA, then inline ones, then tiny ones, until not
	 * even those fit. */
	big = fill("big", 256 * KiB, buf);
	mid = fill("mid", FR_INLINE_MAX, buf);
	small = fill("small", 16, buf);
	print_message("# stored %d x 256 KiB, %d x 4 KiB, %d x 16 B\n", big,
		      mid, small);
	assert_true(big >= 8 && big <= 16);
	assert_true(mid > 0);
	/* Even a counter cannot be created now. */
	ft_assert_rc(ferry_incr(c, "full/counter", 12, 1, &v), FERRY_ENOSPC);
	ft_assert_rc(ferry_stat_key(c, "full/counter", 12, NULL), FERRY_ENOENT);
	assert_int_equal(ferry_cluster_stat(c, &st, 1), 1);
	assert_int_equal(st.status, 0);
	assert_true(st.mem_used <= st.mem_total);
	assert_true(st.mem_used > st.mem_total * 9 / 10);
	assert_int_equal(st.keys, (uint64_t)nitems);
	/* Everything stored before is intact. */
	verify_all(buf);
	/* A failed overwrite keeps the old value. */
	ft_fill(buf, 512 * KiB, 12345);
	ft_assert_rc(
	    ferry_put(c, items[0].key, strlen(items[0].key), buf, 512 * KiB, 0),
	    FERRY_ENOSPC);
	verify_all(buf);

	/* Free every other large value: large writes fit again. */
	for (int i = 0; i < big; i += 2) {
		ft_assert_rc(ferry_del(c, items[i].key, strlen(items[i].key)),
			     0);
		items[i].live = 0;
	}
	for (int i = 0; i < big; i += 2) {
		ft_fill(buf, 256 * KiB, (uint64_t)i + 1000000);
		ft_assert_rc(ferry_put(c, items[i].key, strlen(items[i].key),
				       buf, 256 * KiB, FERRY_PUT_CREATE),
			     0);
	}
	for (int i = 0; i < big; i += 2) {
		size_t got;
		ft_assert_rc(ferry_get(c, items[i].key, strlen(items[i].key), 0,
				       buf, 512 * KiB, &got, NULL),
			     0);
		assert_int_equal(got, 256 * KiB);
		assert_int_equal(ft_check(buf, got, (uint64_t)i + 1000000),
				 (size_t)-1);
		ft_assert_rc(ferry_del(c, items[i].key, strlen(items[i].key)),
			     0);
	}
	/* The counter fits once small values are gone. */
	for (int i = big + mid; i < nitems; i++) {
		ft_assert_rc(ferry_del(c, items[i].key, strlen(items[i].key)),
			     0);
		items[i].live = 0;
	}
	ft_assert_rc(ferry_incr(c, "full/counter", 12, 1, &v), 0);
	assert_int_equal(v, 1);
	verify_all(buf);
	free(buf);
}

/* Deleting everything gives the whole arena back: a value close to the
 * arena's size fits afterwards. */
static void test_all_memory_comes_back(void **state)
{
	ferry_server_stat st;
	size_t size = 3 * MiB;
	uint8_t *buf = malloc(size);

	assert_non_null(buf);
	for (int i = 0; i < nitems; i++)
		if (items[i].live)
			ft_assert_rc(
			    ferry_del(c, items[i].key, strlen(items[i].key)),
			    0);
	ferry_del(c, "full/counter", 12);
	assert_int_equal(ferry_cluster_stat(c, &st, 1), 1);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.mem_used, 0);
	ft_fill(buf, size, 7);
	ft_assert_rc(ferry_put(c, "full/huge", 9, buf, size, 0), 0);
	memset(buf, 0, size);
	size_t got;
	ft_assert_rc(ferry_get(c, "full/huge", 9, 0, buf, size, &got, NULL), 0);
	assert_int_equal(got, size);
	assert_int_equal(ft_check(buf, size, 7), (size_t)-1);
	/* More than the arena can never fit. */
	uint8_t *bigger = malloc(5 * MiB);
	assert_non_null(bigger);
	ft_assert_rc(ferry_put(c, "full/toobig", 11, bigger, 5 * MiB, 0),
		     FERRY_ENOSPC);
	free(bigger);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fill_then_free),
	    cmocka_unit_test(test_all_memory_comes_back),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
