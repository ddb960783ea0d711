/*
 * Unit tests of a server's watch table (src/server/watch.c): exact
 * watches match their key only, prefix watches every key they begin
 * (the empty prefix every key), binary keys included; a second WATCH
 * under the same (peer, id) replaces the first; UNWATCH removes exactly
 * one; forgetting a peer removes all of its watches and nobody else's;
 * bad watches are refused; and ten thousand exact watches across the
 * table's growth each still match exactly their own key.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry.h"
#include "server/watch.h"

#define MAXHITS 64

struct hits {
	size_t n;
	uint64_t peer[MAXHITS], id[MAXHITS];
};

static void collect(void *arg, fr_watch *w)
{
	struct hits *h = arg;

	assert_true(h->n < MAXHITS);
	h->peer[h->n] = w->peer;
	h->id[h->n] = w->id;
	h->n++;
}

static struct hits match(fr_watch_table *t, const void *key, size_t klen)
{
	struct hits h = {0};
	size_t calls = fr_watch_match(t, key, klen, collect, &h);

	assert_int_equal(calls, h.n);
	return h;
}

static struct hits match_str(fr_watch_table *t, const char *key)
{
	return match(t, key, strlen(key));
}

/* 1 if (peer, id) is among the hits. */
static int hit(const struct hits *h, uint64_t peer, uint64_t id)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->peer[i] == peer && h->id[i] == id)
			return 1;
	return 0;
}

static int add(fr_watch_table *t, uint64_t peer, uint64_t id, int exact,
	       const char *p)
{
	return fr_watch_add(t, peer, id, exact, p, strlen(p));
}

static void test_exact_and_prefix(void **state)
{
	fr_watch_table *t;
	struct hits h;

	assert_int_equal(fr_watch_table_new(&t), 0);
	assert_int_equal(add(t, 1, 10, 1, "job/a"), 0);
	assert_int_equal(add(t, 2, 20, 1, "job/a"), 0);
	assert_int_equal(add(t, 1, 11, 0, "job/"), 0);
	assert_int_equal(add(t, 3, 30, 0, "job/a"), 0);
	assert_int_equal(add(t, 3, 31, 0, "other/"), 0);
	assert_int_equal(fr_watch_count(t), 5);

	h = match_str(t, "job/a");
	assert_int_equal(h.n, 4);
	assert_true(hit(&h, 1, 10) && hit(&h, 2, 20) && hit(&h, 1, 11) &&
		    hit(&h, 3, 30));
	/* A longer key: no exact watch, both prefixes that begin it. */
	h = match_str(t, "job/ab");
	assert_int_equal(h.n, 2);
	assert_true(hit(&h, 1, 11) && hit(&h, 3, 30));
	/* A shorter one: only the prefix it still starts with. */
	h = match_str(t, "job/");
	assert_int_equal(h.n, 1);
	assert_true(hit(&h, 1, 11));
	h = match_str(t, "job");
	assert_int_equal(h.n, 0);
	h = match_str(t, "other/x");
	assert_int_equal(h.n, 1);
	assert_true(hit(&h, 3, 31));

	/* The empty prefix matches every key. */
	assert_int_equal(fr_watch_add(t, 4, 40, 0, NULL, 0), 0);
	h = match_str(t, "z");
	assert_int_equal(h.n, 1);
	assert_true(hit(&h, 4, 40));
	h = match_str(t, "job/a");
	assert_int_equal(h.n, 5);
	fr_watch_table_free(&t);
	assert_null(t);
	fr_watch_table_free(&t); /* accepts NULL */
}

static void test_binary_keys(void **state)
{
	static const uint8_t k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'},
			     pfx[] = {'a', 0};
	fr_watch_table *t;
	struct hits h;

	assert_int_equal(fr_watch_table_new(&t), 0);
	assert_int_equal(fr_watch_add(t, 1, 1, 1, k1, sizeof(k1)), 0);
	assert_int_equal(fr_watch_add(t, 1, 2, 0, pfx, sizeof(pfx)), 0);
	h = match(t, k1, sizeof(k1));
	assert_int_equal(h.n, 2);
	h = match(t, k2, sizeof(k2));
	assert_int_equal(h.n, 1);
	assert_true(hit(&h, 1, 2));
	h = match(t, "a", 1); /* stops before the zero byte */
	assert_int_equal(h.n, 0);
	fr_watch_table_free(&t);
}

static void test_replace_and_remove(void **state)
{
	fr_watch_table *t;
	struct hits h;

	assert_int_equal(fr_watch_table_new(&t), 0);
	assert_int_equal(add(t, 1, 1, 1, "x"), 0);
	/* The same (peer, id) again replaces: a client that registers
	 * after a restart gets no duplicate. */
	assert_int_equal(add(t, 1, 1, 1, "x"), 0);
	assert_int_equal(fr_watch_count(t), 1);
	assert_int_equal(match_str(t, "x").n, 1);
	assert_int_equal(add(t, 1, 1, 0, "y"), 0);
	assert_int_equal(fr_watch_count(t), 1);
	assert_int_equal(match_str(t, "x").n, 0);
	assert_int_equal(match_str(t, "yy").n, 1);
	/* The same id from another peer is another watch. */
	assert_int_equal(add(t, 2, 1, 0, "y"), 0);
	assert_int_equal(match_str(t, "y").n, 2);

	assert_int_equal(fr_watch_remove(t, 1, 1), 0);
	assert_int_equal(fr_watch_remove(t, 1, 1), FERRY_ENOENT);
	assert_int_equal(fr_watch_remove(t, 7, 7), FERRY_ENOENT);
	h = match_str(t, "y");
	assert_int_equal(h.n, 1);
	assert_true(hit(&h, 2, 1));
	assert_int_equal(fr_watch_count(t), 1);
	fr_watch_table_free(&t);
}

static void test_remove_peer(void **state)
{
	fr_watch_table *t;
	struct hits h;
	char k[32];
	size_t n = 0;

	assert_int_equal(fr_watch_table_new(&t), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(add(t, 5, (uint64_t)i, i % 2, k), 0);
		assert_int_equal(add(t, 6, (uint64_t)i, i % 2, k), 0);
	}
	assert_int_equal(add(t, 200, 1, 0, ""), 0); /* grows peers[] */
	for (fr_watch *w = fr_watch_of_peer(t, 5); w; w = w->pnext) {
		assert_int_equal(w->peer, 5);
		n++;
	}
	assert_int_equal(n, 20);
	assert_null(fr_watch_of_peer(t, 7));
	assert_null(fr_watch_of_peer(t, 100000));

	assert_int_equal(fr_watch_remove_peer(t, 5), 20);
	assert_int_equal(fr_watch_remove_peer(t, 5), 0);
	assert_int_equal(fr_watch_remove_peer(t, 99999), 0);
	assert_null(fr_watch_of_peer(t, 5));
	assert_int_equal(fr_watch_count(t), 21);
	h = match_str(t, "k3");
	assert_int_equal(h.n, 2);
	assert_true(hit(&h, 6, 3) && hit(&h, 200, 1));
	/* Its ids are free to be used again. */
	assert_int_equal(add(t, 5, 3, 1, "k3"), 0);
	assert_int_equal(match_str(t, "k3").n, 3);
	assert_int_equal(fr_watch_remove_peer(t, 200), 1);
	assert_int_equal(fr_watch_remove_peer(t, 6), 20);
	assert_int_equal(fr_watch_count(t), 1);
	fr_watch_table_free(&t);
}

static void test_refused(void **state)
{
	char big[FR_WATCH_KEY_MAX + 1];
	fr_watch_table *t;

	memset(big, 'b', sizeof(big));
	assert_int_equal(fr_watch_table_new(&t), 0);
	assert_int_equal(fr_watch_add(t, 1, 1, 1, NULL, 0), FERRY_EINVAL);
	assert_int_equal(fr_watch_add(t, 1, 1, 0, big, sizeof(big)),
			 FERRY_EINVAL);
	assert_int_equal(fr_watch_add(t, 1, 1, 1, big, sizeof(big)),
			 FERRY_EINVAL);
	assert_int_equal(fr_watch_add(t, FR_WATCH_PEER_MAX, 1, 0, "a", 1),
			 FERRY_EINVAL);
	assert_int_equal(fr_watch_add(t, 1, 1, 1, big, FR_WATCH_KEY_MAX), 0);
	assert_int_equal(fr_watch_count(t), 1);
	fr_watch_table_free(&t);
}

/* Many exact watches, through several doublings of both hash tables:
 * each key still matches its own watch and nothing else; removing every
 * other one by id leaves the rest intact. */
static void test_many_exact(void **state)
{
	enum { N = 10000 };
	fr_watch_table *t;
	char k[32];

	assert_int_equal(fr_watch_table_new(&t), 0);
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "waiter/%d", i);
		assert_int_equal(add(t, (uint64_t)(i % 7), (uint64_t)i, 1, k),
				 0);
	}
	assert_int_equal(fr_watch_count(t), N);
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "waiter/%d", i);
		struct hits h = match_str(t, k);
		assert_int_equal(h.n, 1);
		assert_true(hit(&h, (uint64_t)(i % 7), (uint64_t)i));
	}
	for (int i = 0; i < N; i += 2)
		assert_int_equal(fr_watch_remove(t, (uint64_t)(i % 7),
						 (uint64_t)i),
				 0);
	assert_int_equal(fr_watch_count(t), N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(k, sizeof(k), "waiter/%d", i);
		assert_int_equal(match_str(t, k).n, (size_t)(i % 2));
	}
	assert_int_equal(match_str(t, "waiter/").n, 0);
	fr_watch_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_and_prefix),
	    cmocka_unit_test(test_binary_keys),
	    cmocka_unit_test(test_replace_and_remove),
	    cmocka_unit_test(test_remove_peer),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_many_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
