/*
 * Integration tests of counters (ferry_incr) against real servers: exact
 * totals under concurrent clients in separate processes (no lost updates),
 * a missing key counting as zero, FERRY_ENOTNUM on values that are not 8
 * bytes, and FERRY_EOVERFLOW at both ends of the 64-bit range with the
 * counter left as it was.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/le.h"

#define NCHILD 4
#define NINCR 500
#define TIMEOUT_MS 20000

static ft_cluster *cl;

static int setup(void **state)
{
	static const char *const args[] = {"--memory", "16M", NULL};

	cl = ft_cluster_start(2, args);
	return 0;
}

static int teardown(void **state)
{
	ft_cluster_stop(cl);
	return 0;
}

static int64_t read_counter(ferry_client *c, const char *key)
{
	uint8_t buf[16];
	size_t got = 0;

	ft_assert_rc(
	    ferry_get(c, key, strlen(key), 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 8);
	return (int64_t)fr_get_u64(buf);
}

/* A child: its own client, NINCR increments of the shared counter and of
 * its own, checking that each result is plausible. Exit status 0 on
 * success; it never returns into cmocka. */
static void child(int id)
{
	ferry_client *c = NULL;
	char own[32];
	int64_t v, last = 0;
	int rc = ft_connect_opts(cl, TIMEOUT_MS, 0, &c);

	if (rc) {
		fprintf(stderr, "child %d: connect: %s\n", id,
			ferry_strerror(rc));
		_exit(2);
	}
	snprintf(own, sizeof(own), "incr/own/%d", id);
	for (int i = 0; i < NINCR; i++) {
		rc = ferry_incr(c, "incr/shared", 11, 1, &v);
		/* Others add too, but never take away. */
		if (rc || v <= last || v > (int64_t)NCHILD * NINCR) {
			fprintf(stderr, "child %d: incr %d: rc %d value %lld\n",
				id, i, rc, (long long)v);
			_exit(3);
		}
		last = v;
		rc = ferry_incr(c, own, strlen(own), -2, &v);
		if (rc || v != -2 * (int64_t)(i + 1)) {
			fprintf(stderr, "child %d: own counter %lld after %d\n",
				id, (long long)v, i + 1);
			_exit(4);
		}
	}
	ferry_close(c);
	_exit(0);
}

static void test_concurrent_increments(void **state)
{
	pid_t pids[NCHILD];
	int failed = 0;
	uint64_t deadline;
	ferry_client *c;

	c = ft_connect(cl, TIMEOUT_MS);
	ferry_del(c, "incr/shared", 11);
	/* Fork without a client of our own open; the children connect. */
	ferry_close(c);
	fflush(NULL);
	for (int i = 0; i < NCHILD; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			child(i);
	}
	deadline = ft_now_ms() + 120000;
	for (int i = 0; i < NCHILD; i++) {
		int st = 0;
		pid_t r = 0;
		while ((r = waitpid(pids[i], &st, WNOHANG)) == 0 &&
		       ft_now_ms() < deadline)
			usleep(10000);
		if (r != pids[i]) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &st, 0);
			fprintf(stderr, "child %d did not finish in time\n", i);
			failed++;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "child %d failed (status 0x%x)\n", i,
				st);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
	c = ft_connect(cl, TIMEOUT_MS);
	/* No lost updates. */
	assert_int_equal(read_counter(c, "incr/shared"), NCHILD * NINCR);
	for (int i = 0; i < NCHILD; i++) {
		char own[32];
		snprintf(own, sizeof(own), "incr/own/%d", i);
		assert_int_equal(read_counter(c, own), -2 * NINCR);
	}
	ferry_close(c);
}

static void test_missing_key_and_results(void **state)
{
	ferry_client *c = ft_connect(cl, TIMEOUT_MS);
	int64_t v = 99;
	ferry_stat a, b;

	ferry_del(c, "incr/new", 8);
	ft_assert_rc(ferry_incr(c, "incr/new", 8, 5, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(read_counter(c, "incr/new"), 5);
	ft_assert_rc(ferry_stat_key(c, "incr/new", 8, &a), 0);
	assert_int_equal(a.size, 8);
	ft_assert_rc(ferry_incr(c, "incr/new", 8, -7, &v), 0);
	assert_int_equal(v, -2);
	ft_assert_rc(ferry_incr(c, "incr/new", 8, 0, NULL), 0);
	assert_int_equal(read_counter(c, "incr/new"), -2);
	ft_assert_rc(ferry_stat_key(c, "incr/new", 8, &b), 0);
	assert_true(b.version != a.version);
	/* A counter written by put is a counter. */
	uint8_t le[8];
	fr_put_u64(le, 1000);
	ft_assert_rc(ferry_put(c, "incr/put", 8, le, 8, 0), 0);
	ft_assert_rc(ferry_incr(c, "incr/put", 8, 1, &v), 0);
	assert_int_equal(v, 1001);
	/* Deleting resets it. */
	ft_assert_rc(ferry_del(c, "incr/put", 8), 0);
	ft_assert_rc(ferry_incr(c, "incr/put", 8, 1, &v), 0);
	assert_int_equal(v, 1);
	ferry_close(c);
}

static void test_not_a_number(void **state)
{
	ferry_client *c = ft_connect(cl, TIMEOUT_MS);
	static const size_t sizes[] = {0, 1, 7, 9, 16, 5000};
	uint8_t buf[5000];
	int64_t v = 42;

	memset(buf, '7', sizeof(buf));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t back[5000];
		size_t got;
		ft_assert_rc(ferry_put(c, "incr/text", 9, buf, sizes[i], 0), 0);
		ft_assert_rc(ferry_incr(c, "incr/text", 9, 1, &v),
			     FERRY_ENOTNUM);
		assert_int_equal(v, 42); /* untouched on failure */
		/* The value is unchanged. */
		ft_assert_rc(ferry_get(c, "incr/text", 9, 0, back, sizeof(back),
				       &got, NULL),
			     0);
		assert_int_equal(got, sizes[i]);
		if (got)
			assert_memory_equal(back, buf, got);
	}
	ferry_close(c);
}

static void test_overflow(void **state)
{
	ferry_client *c = ft_connect(cl, TIMEOUT_MS);
	uint8_t le[8];
	int64_t v = 0;

	fr_put_u64(le, (uint64_t)INT64_MAX);
	ft_assert_rc(ferry_put(c, "incr/max", 8, le, 8, 0), 0);
	ft_assert_rc(ferry_incr(c, "incr/max", 8, 1, &v), FERRY_EOVERFLOW);
	ft_assert_rc(ferry_incr(c, "incr/max", 8, INT64_MAX, &v),
		     FERRY_EOVERFLOW);
	assert_int_equal(read_counter(c, "incr/max"), INT64_MAX);
	ft_assert_rc(ferry_incr(c, "incr/max", 8, INT64_MIN, &v), 0);
	assert_int_equal(v, -1);

	fr_put_u64(le, (uint64_t)INT64_MIN);
	ft_assert_rc(ferry_put(c, "incr/min", 8, le, 8, 0), 0);
	ft_assert_rc(ferry_incr(c, "incr/min", 8, -1, &v), FERRY_EOVERFLOW);
	ft_assert_rc(ferry_incr(c, "incr/min", 8, INT64_MIN, &v),
		     FERRY_EOVERFLOW);
	assert_int_equal(read_counter(c, "incr/min"), INT64_MIN);
	ft_assert_rc(ferry_incr(c, "incr/min", 8, INT64_MAX, &v), 0);
	assert_int_equal(v, -1);

	/* Up to the edge exactly. */
	ferry_del(c, "incr/edge", 9);
	ft_assert_rc(ferry_incr(c, "incr/edge", 9, INT64_MAX - 1, &v), 0);
	ft_assert_rc(ferry_incr(c, "incr/edge", 9, 1, &v), 0);
	assert_int_equal(v, INT64_MAX);
	ft_assert_rc(ferry_incr(c, "incr/edge", 9, 1, &v), FERRY_EOVERFLOW);
	ferry_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_concurrent_increments),
	    cmocka_unit_test(test_missing_key_and_results),
	    cmocka_unit_test(test_not_a_number),
	    cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
