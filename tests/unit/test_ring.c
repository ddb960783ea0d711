/*
 * Unit tests of consistent hashing (src/client/ring.c): placement depends
 * only on the server names and the key; every server gets a fair share;
 * adding a server moves about 1/N of the keys and only onto the new
 * server; removing one moves only that server's keys.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/ring.h"
#include "common/util.h"
#include "ferry.h"

#define NKEYS 100000
#define MAXS 9

static char addrs[MAXS][64];

static void names(unsigned n, unsigned port0)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%u", port0 + i);
}

static size_t key_of(unsigned i, char *key)
{
	return (size_t)snprintf(key, 32, "key-%u", i);
}

static void test_deterministic(void **state)
{
	fr_ring a, b;
	char key[32];

	names(5, 7400);
	assert_int_equal(fr_ring_build(&a, (const char(*)[64])addrs, 5), 0);
	assert_int_equal(fr_ring_build(&b, (const char(*)[64])addrs, 5), 0);
	assert_int_equal(a.npoints, 5 * FR_RING_VNODES);
	for (size_t i = 1; i < a.npoints; i++)
		assert_true(a.points[i - 1].hash <= a.points[i].hash);
	for (unsigned i = 0; i < 20000; i++) {
		size_t n = key_of(i, key);
		unsigned s = fr_ring_pick(&a, key, n);
		assert_true(s < 5);
		assert_int_equal(s, fr_ring_pick(&b, key, n));
		assert_int_equal(s, fr_ring_pick(&a, key, n));
	}
	fr_ring_free(&b);

	/* The same names in another order: each key follows its server's
	 * name, not its index. */
	char rev[5][64];
	for (unsigned i = 0; i < 5; i++)
		memcpy(rev[i], addrs[4 - i], 64);
	assert_int_equal(fr_ring_build(&b, (const char(*)[64])rev, 5), 0);
	for (unsigned i = 0; i < 20000; i++) {
		size_t n = key_of(i, key);
		assert_int_equal(4 - fr_ring_pick(&a, key, n),
				 fr_ring_pick(&b, key, n));
	}
	fr_ring_free(&a);
	fr_ring_free(&b);
	assert_null(a.points);
	assert_int_equal(a.npoints, 0);
}

static void test_one_server(void **state)
{
	fr_ring r;
	char key[32];

	names(1, 9000);
	assert_int_equal(fr_ring_build(&r, (const char(*)[64])addrs, 1), 0);
	for (unsigned i = 0; i < 1000; i++)
		assert_int_equal(fr_ring_pick(&r, key, key_of(i, key)), 0);
	/* Binary and empty keys are placed too. */
	assert_int_equal(fr_ring_pick(&r, "\0\0", 2), 0);
	assert_int_equal(fr_ring_pick(&r, "", 0), 0);
	fr_ring_free(&r);
}

static void test_balance(void **state)
{
	char key[32];

	for (unsigned n = 2; n <= 8; n++) {
		unsigned count[MAXS] = {0}, lo = NKEYS, hi = 0;
		fr_ring r;

		names(n, 7400);
		assert_int_equal(fr_ring_build(&r, (const char(*)[64])addrs, n),
				 0);
		for (unsigned i = 0; i < NKEYS; i++)
			count[fr_ring_pick(&r, key, key_of(i, key))]++;
		for (unsigned s = 0; s < n; s++) {
			lo = FR_MIN(lo, count[s]);
			hi = FR_MAX(hi, count[s]);
		}
		print_message(
		    "# %u servers: fewest %u, most %u keys (mean %u)\n", n, lo,
		    hi, NKEYS / n);
		/* 128 virtual nodes keep every share within about a
		 * third of the mean. */
		assert_true(lo > 0);
		assert_true(lo >= NKEYS / n * 6 / 10);
		assert_true(hi <= NKEYS / n * 14 / 10);
		fr_ring_free(&r);
	}
}

static void test_add_server_moves_little(void **state)
{
	char key[32];

	for (unsigned n = 3; n <= 8; n++) {
		fr_ring before, after;
		unsigned moved = 0;

		names(n + 1, 7400);
		assert_int_equal(
		    fr_ring_build(&before, (const char(*)[64])addrs, n), 0);
		assert_int_equal(
		    fr_ring_build(&after, (const char(*)[64])addrs, n + 1), 0);
		for (unsigned i = 0; i < NKEYS; i++) {
			size_t len = key_of(i, key);
			unsigned a = fr_ring_pick(&before, key, len);
			unsigned b = fr_ring_pick(&after, key, len);
			if (a == b)
				continue;
			/* A key moves only onto the new server. */
			assert_int_equal(b, n);
			moved++;
		}
		print_message("# %u -> %u servers: %u of %u keys moved\n", n,
			      n + 1, moved, NKEYS);
		/* About 1/(n+1) of the keys, not a reshuffle. */
		assert_true(moved >= NKEYS / (n + 1) / 2);
		assert_true(moved <= NKEYS / (n + 1) * 3 / 2);

		/* Removing a server (the first) moves only its keys. */
		fr_ring less;
		assert_int_equal(
		    fr_ring_build(&less, (const char(*)[64])addrs + 1, n), 0);
		for (unsigned i = 0; i < NKEYS; i++) {
			size_t len = key_of(i, key);
			unsigned a = fr_ring_pick(&after, key, len);
			unsigned c = fr_ring_pick(&less, key, len) + 1;
			if (a != 0)
				assert_int_equal(a, c);
		}
		fr_ring_free(&before);
		fr_ring_free(&after);
		fr_ring_free(&less);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_one_server),
	    cmocka_unit_test(test_balance),
	    cmocka_unit_test(test_add_server_moves_little),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
