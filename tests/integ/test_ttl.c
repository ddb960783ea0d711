/*
 * Integration tests of per-key expiry and version-conditional writes
 * against two real ferry-servers and a ferry-proxy (run once per
 * provider), each case in the three modes: direct, proxy-unix and
 * proxy-tcp. A key put with an expiry reports it through GET and STAT,
 * from every mode; keys with a 300 ms lifetime disappear and their
 * servers' memory comes back while no request touches them; KEEPTTL
 * carries an expiry over a replace; two writers racing on one version get
 * exactly one success and one FERRY_ECHANGED; conditional deletes; EXPIRE
 * with NX, XX, GT, LT, persist and a time already past; INCR keeps the
 * expiry; listing skips expired keys.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define TIMEOUT_MS 20000
#define SHORT_MS 300 /* a short lifetime */
#define FAR_MS 600000 /* a lifetime no test outlives */

static ft_cluster *cl;
static ferry_client *cs[FT_NMODES];

static int setup(void **state)
{
	static const char *const args[] = {"--memory", "64M", NULL};

	cl = ft_cluster_start(2, args);
	ft_proxy_start(cl);
	for (int m = 0; m < FT_NMODES; m++)
		cs[m] = ft_connect_mode(cl, (enum ft_mode)m, TIMEOUT_MS);
	return 0;
}

static int teardown(void **state)
{
	for (int m = 0; m < FT_NMODES; m++)
		ferry_close(cs[m]);
	ft_cluster_stop(cl);
	return 0;
}

/* "name/MODE" in key (64 bytes). */
static const char *mkey(char *key, const char *name, int m)
{
	snprintf(key, 64, "%s/%s", name, ft_mode_name[m]);
	return key;
}

static int put_op(ferry_client *c, const char *key, const void *val,
		  size_t len, unsigned flags, uint64_t expire_ms,
		  uint64_t if_version, uint64_t *version)
{
	ferry_op op = {.opcode = FERRY_OP_PUT,
		       .key = key,
		       .klen = strlen(key),
		       .buf = (void *)val,
		       .len = len,
		       .flags = flags,
		       .expire_ms = expire_ms,
		       .if_version = if_version};
	int rc = ferry_batch(c, &op, 1);

	if (version)
		*version = rc ? 0 : op.stat.version;
	return rc;
}

static int del_op(ferry_client *c, const char *key, uint64_t if_version)
{
	ferry_op op = {.opcode = FERRY_OP_DEL,
		       .key = key,
		       .klen = strlen(key),
		       .if_version = if_version};

	return ferry_batch(c, &op, 1);
}

static ferry_stat stat_of(ferry_client *c, const char *key)
{
	ferry_stat st;

	memset(&st, 0xee, sizeof(st));
	ft_assert_rc(ferry_stat_key(c, key, strlen(key), &st), 0);
	return st;
}

/* The sum of every server's counters. */
static void totals(uint64_t *used, uint64_t *keys)
{
	ferry_server_stat st[FT_MAX_SERVERS];
	int n = ferry_cluster_stat(cs[FT_DIRECT], st, FT_MAX_SERVERS);

	assert_int_equal(n, 2);
	*used = *keys = 0;
	for (int i = 0; i < n; i++) {
		ft_assert_rc(st[i].status, 0);
		*used += st[i].mem_used;
		*keys += st[i].keys;
	}
}

/* GET and STAT report the expiry set by a PUT from any mode, read from
 * every mode; a key without one reports 0. */
static void test_get_reports_expiry(void **state)
{
	char key[64], buf[16];
	uint64_t when = fr_wall_ms() + FAR_MS, ver;

	for (int m = 0; m < FT_NMODES; m++) {
		mkey(key, "exp/get", m);
		ft_assert_rc(put_op(cs[m], key, "hello", 5, 0, when + m, 0,
				    &ver),
			     0);
		assert_true(ver != 0);
		for (int r = 0; r < FT_NMODES; r++) {
			ferry_stat st;
			size_t got = 0;
			memset(&st, 0, sizeof(st));
			ft_assert_rc(ferry_get(cs[r], key, strlen(key), 0, buf,
					       sizeof(buf), &got, &st),
				     0);
			assert_int_equal(got, 5);
			if (st.expire_ms != when + m || st.version != ver)
				fail_msg("%s read from %s: expire %llu version "
					 "%llu, expected %llu %llu",
					 key, ft_mode_name[r],
					 (unsigned long long)st.expire_ms,
					 (unsigned long long)st.version,
					 (unsigned long long)(when + m),
					 (unsigned long long)ver);
			assert_true(stat_of(cs[r], key).expire_ms == when + m);
		}
		/* A plain put replaces the expiry with none. */
		ft_assert_rc(ferry_put(cs[m], key, strlen(key), "x", 1, 0), 0);
		for (int r = 0; r < FT_NMODES; r++)
			assert_true(stat_of(cs[r], key).expire_ms == 0);
		/* A large value by RMA (through the arena, or the stream)
		 * carries its expiry as well. */
		size_t n = 64 * KiB;
		uint8_t *big = malloc(n);
		assert_non_null(big);
		ft_fill(big, n, 7);
		ft_assert_rc(put_op(cs[m], key, big, n, 0, when, 0, NULL), 0);
		assert_true(stat_of(cs[FT_DIRECT], key).expire_ms == when);
		free(big);
	}
}

/* Keys with a 300 ms lifetime, one put from each mode, vanish for every
 * mode, and their servers give the memory back, while nothing but
 * statistics is asked of them. */
static void test_short_ttl_reclaimed(void **state)
{
	char key[FT_NMODES][64];
	uint64_t used0, keys0, used1, keys1, used2, keys2, start;
	uint8_t *big = malloc(MiB);
	size_t got;
	int m;

	assert_non_null(big);
	ft_fill(big, MiB, 3);
	totals(&used0, &keys0);
	start = fr_wall_ms();
	for (m = 0; m < FT_NMODES; m++) {
		mkey(key[m], "exp/short", m);
		ft_assert_rc(put_op(cs[m], key[m], big, MiB, 0,
				    start + SHORT_MS, 0, NULL),
			     0);
	}
	totals(&used1, &keys1);
	assert_true(keys1 == keys0 + FT_NMODES);
	assert_true(used1 >= used0 + FT_NMODES * MiB);
	/* Still there before the time (unless this machine stalled). */
	for (m = 0; m < FT_NMODES; m++) {
		int rc = ferry_get(cs[m], key[m], strlen(key[m]), 0, big, 16,
				   &got, NULL);
		if (fr_wall_ms() < start + SHORT_MS)
			ft_assert_rc(rc, 0);
	}
	/* Past it, with a margin, and with no request at all: each server
	 * that held one of the keys freed it by itself (and says so in its
	 * log, once). */
	while (fr_wall_ms() < start + SHORT_MS + 250)
		usleep(20000);
	for (m = 0; m < FT_NMODES; m++) {
		unsigned s = ft_owner(cl, key[m], strlen(key[m]));
		if (!ft_file_has(cl->logs[s], "expired value"))
			fail_msg("server %u did not free %s by itself", s,
				 key[m]);
	}
	totals(&used2, &keys2);
	if (used2 + FT_NMODES * MiB > used1 || keys2 != keys0)
		fail_msg("after expiry: %llu bytes and %llu keys used, "
			 "before %llu and %llu",
			 (unsigned long long)used2, (unsigned long long)keys2,
			 (unsigned long long)used1, (unsigned long long)keys1);
	for (m = 0; m < FT_NMODES; m++)
		for (int r = 0; r < FT_NMODES; r++) {
			ft_assert_rc(ferry_get(cs[r], key[m], strlen(key[m]),
					       0, big, 16, &got, NULL),
				     FERRY_ENOENT);
			ft_assert_rc(ferry_stat_key(cs[r], key[m],
						    strlen(key[m]), NULL),
				     FERRY_ENOENT);
		}
	free(big);
}

/* KEEPTTL keeps the replaced value's expiry and ignores its own; a new
 * key gets none. */
static void test_keepttl(void **state)
{
	char key[64];
	uint64_t when = fr_wall_ms() + FAR_MS;

	for (int m = 0; m < FT_NMODES; m++) {
		mkey(key, "exp/keep", m);
		ferry_del(cs[m], key, strlen(key));
		ft_assert_rc(put_op(cs[m], key, "new", 3, FERRY_PUT_KEEPTTL,
				    when, 0, NULL),
			     0);
		assert_true(stat_of(cs[m], key).expire_ms == 0);
		ft_assert_rc(put_op(cs[m], key, "a", 1, 0, when, 0, NULL), 0);
		ft_assert_rc(put_op(cs[m], key, "bb", 2,
				    FERRY_PUT_KEEPTTL | FERRY_PUT_REPLACE,
				    when + 5, 0, NULL),
			     0);
		ferry_stat st = stat_of(cs[m], key);
		assert_true(st.expire_ms == when);
		assert_int_equal(st.size, 2);
		/* KEEPTTL and CREATE on an existing key: still EEXIST. */
		ft_assert_rc(put_op(cs[m], key, "c", 1,
				    FERRY_PUT_KEEPTTL | FERRY_PUT_CREATE, 0, 0,
				    NULL),
			     FERRY_EEXIST);
		/* An unknown flag is refused before it is sent. */
		ft_assert_rc(put_op(cs[m], key, "c", 1, 0x80, 0, 0, NULL),
			     FERRY_EINVAL);
	}
}

/* Two writers read the same version and write under it at once: exactly
 * one wins, the other gets FERRY_ECHANGED and its bytes are not stored. */
static void test_if_version_race(void **state)
{
	char key[64];

	for (int m = 0; m < FT_NMODES; m++) {
		ferry_client *other = cs[(m + 1) % FT_NMODES];
		uint64_t v0, v1;

		mkey(key, "exp/race", m);
		ft_assert_rc(put_op(cs[m], key, "base", 4, 0, 0, 0, &v0), 0);
		assert_true(v0 != 0);
		assert_true(stat_of(other, key).version == v0);
		for (int round = 0; round < 20; round++) {
			char va[8], vb[8], buf[8];
			ferry_op a = {.opcode = FERRY_OP_PUT, .key = key,
				      .klen = strlen(key), .buf = va, .len = 4,
				      .if_version = v0};
			ferry_op b = a, *done[2];
			size_t got = 0;
			int n;

			snprintf(va, sizeof(va), "A%03d", round);
			snprintf(vb, sizeof(vb), "B%03d", round);
			b.buf = vb;
			/* Both in flight from two clients before either
			 * completes. */
			ft_assert_rc(ferry_submit(cs[m], &a), 0);
			ft_assert_rc(ferry_submit(other, &b), 0);
			n = ferry_poll(cs[m], done, 2, TIMEOUT_MS);
			assert_int_equal(n, 1);
			n = ferry_poll(other, done, 2, TIMEOUT_MS);
			assert_int_equal(n, 1);
			if (!((a.status == 0 && b.status == FERRY_ECHANGED) ||
			      (b.status == 0 && a.status == FERRY_ECHANGED)))
				fail_msg("%s round %d: statuses %d and %d",
					 key, round, a.status, b.status);
			ferry_op *win = a.status == 0 ? &a : &b;
			ft_assert_rc(ferry_get(cs[FT_DIRECT], key, strlen(key),
					       0, buf, sizeof(buf), &got, NULL),
				     0);
			assert_int_equal(got, 4);
			assert_memory_equal(buf, win->buf, 4);
			v1 = stat_of(cs[m], key).version;
			assert_true(v1 == win->stat.version);
			assert_true(v1 != v0);
			v0 = v1;
		}
		/* Conditional delete: a stale version fails, the current one
		 * deletes, and then the key is missing. */
		ft_assert_rc(del_op(cs[m], key, v0 + 1000), FERRY_ECHANGED);
		ft_assert_rc(del_op(other, key, v0), 0);
		ft_assert_rc(del_op(cs[m], key, v0), FERRY_ENOENT);
		ft_assert_rc(put_op(cs[m], key, "z", 1, 0, 0, v0, NULL),
			     FERRY_ENOENT);
		ft_assert_rc(ferry_stat_key(cs[m], key, strlen(key), NULL),
			     FERRY_ENOENT);
	}
}

/* EXPIRE in every mode: Redis 7's conditions, persist, a time already
 * past, a missing key, and contradictory flags. */
static void test_expire(void **state)
{
	char key[64];
	uint64_t now = fr_wall_ms(), t1 = now + FAR_MS, t2 = t1 + 1000;

	for (int m = 0; m < FT_NMODES; m++) {
		ferry_client *c = cs[m];
		ferry_stat st;
		int ch = -1;

		mkey(key, "exp/cmd", m);
		size_t kl = strlen(key);
		ferry_del(c, key, kl);
		ft_assert_rc(ferry_expire(c, key, kl, t1, 0, &ch),
			     FERRY_ENOENT);
		assert_int_equal(ch, 0);
		ft_assert_rc(ferry_put(c, key, kl, "v", 1, 0), 0);
		uint64_t ver = stat_of(c, key).version;
		/* XX on no expiry: no; NX: yes; NX again: no. */
		ft_assert_rc(ferry_expire(c, key, kl, t1, FERRY_EXPIRE_XX, &ch),
			     0);
		assert_int_equal(ch, 0);
		assert_true(stat_of(c, key).expire_ms == 0);
		ft_assert_rc(ferry_expire(c, key, kl, t1, FERRY_EXPIRE_NX, &ch),
			     0);
		assert_int_equal(ch, 1);
		ft_assert_rc(ferry_expire(c, key, kl, t2, FERRY_EXPIRE_NX, &ch),
			     0);
		assert_int_equal(ch, 0);
		assert_true(stat_of(c, key).expire_ms == t1);
		/* GT only later, LT only sooner. */
		ft_assert_rc(ferry_expire(c, key, kl, t1 - 1, FERRY_EXPIRE_GT,
					  &ch),
			     0);
		assert_int_equal(ch, 0);
		ft_assert_rc(ferry_expire(c, key, kl, t2, FERRY_EXPIRE_GT, &ch),
			     0);
		assert_int_equal(ch, 1);
		ft_assert_rc(ferry_expire(c, key, kl, t2 + 1, FERRY_EXPIRE_LT,
					  &ch),
			     0);
		assert_int_equal(ch, 0);
		ft_assert_rc(ferry_expire(c, key, kl, t1,
					  FERRY_EXPIRE_XX | FERRY_EXPIRE_LT,
					  &ch),
			     0);
		assert_int_equal(ch, 1);
		st = stat_of(c, key);
		assert_true(st.expire_ms == t1);
		/* The value and its version are untouched. */
		assert_true(st.version == ver);
		assert_int_equal(st.size, 1);
		/* Persist, then persist again (nothing to remove). */
		ft_assert_rc(ferry_expire(c, key, kl, 0, 0, &ch), 0);
		assert_int_equal(ch, 1);
		assert_true(stat_of(c, key).expire_ms == 0);
		ft_assert_rc(ferry_expire(c, key, kl, 0, 0, &ch), 0);
		assert_int_equal(ch, 0);
		/* No expiry is infinite for LT: any time is sooner. */
		ft_assert_rc(ferry_expire(c, key, kl, t2, FERRY_EXPIRE_LT, NULL),
			     0);
		assert_true(stat_of(c, key).expire_ms == t2);
		/* A time already past deletes the key. */
		ft_assert_rc(ferry_expire(c, key, kl, now - 1, 0, &ch), 0);
		assert_int_equal(ch, 1);
		ft_assert_rc(ferry_stat_key(c, key, kl, NULL), FERRY_ENOENT);
		/* Contradictory or unknown conditions never leave. */
		static const unsigned bad[] = {
		    FERRY_EXPIRE_NX | FERRY_EXPIRE_XX,
		    FERRY_EXPIRE_NX | FERRY_EXPIRE_GT,
		    FERRY_EXPIRE_GT | FERRY_EXPIRE_LT, 0x10};
		for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++)
			ft_assert_rc(ferry_expire(c, key, kl, t1, bad[i], &ch),
				     FERRY_EINVAL);
		ft_assert_rc(ferry_expire(c, "", 0, t1, 0, &ch), FERRY_EINVAL);
	}
}

/* INCR keeps a counter's expiry; an expired counter starts again at 0
 * with none; listing skips expired keys. */
static void test_incr_and_list(void **state)
{
	char key[64], key2[64];
	uint64_t start = fr_wall_ms();
	int64_t v;

	for (int m = 0; m < FT_NMODES; m++) {
		mkey(key, "exp/ctr", m);
		ferry_del(cs[m], key, strlen(key));
		ft_assert_rc(ferry_incr(cs[m], key, strlen(key), 5, &v), 0);
		ft_assert_rc(ferry_expire(cs[m], key, strlen(key),
					  start + SHORT_MS, 0, NULL),
			     0);
		ft_assert_rc(ferry_incr(cs[m], key, strlen(key), 2, &v), 0);
		assert_int_equal(v, 7);
		assert_true(stat_of(cs[m], key).expire_ms == start + SHORT_MS);
		mkey(key2, "exp/lst/short", m);
		ft_assert_rc(put_op(cs[m], key2, "s", 1, 0, start + SHORT_MS, 0,
				    NULL),
			     0);
		mkey(key2, "exp/lst/long", m);
		ft_assert_rc(put_op(cs[m], key2, "l", 1, 0, start + FAR_MS, 0,
				    NULL),
			     0);
	}
	while (fr_wall_ms() < start + SHORT_MS + 50)
		usleep(20000);
	for (int m = 0; m < FT_NMODES; m++) {
		ferry_keys *k = NULL;
		size_t len;

		mkey(key, "exp/ctr", m);
		ft_assert_rc(ferry_incr(cs[m], key, strlen(key), 1, &v), 0);
		assert_int_equal(v, 1);
		assert_true(stat_of(cs[m], key).expire_ms == 0);
		ft_assert_rc(ferry_list(cs[m], "exp/lst/", 8, NULL, 0, 100, &k),
			     0);
		assert_int_equal(ferry_keys_count(k), FT_NMODES);
		for (size_t i = 0; i < ferry_keys_count(k); i++) {
			const char *p = ferry_keys_at(k, i, &len);
			assert_memory_equal(p, "exp/lst/long/", 13);
		}
		ferry_keys_free(k);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_reports_expiry),
	    cmocka_unit_test(test_short_ttl_reclaimed),
	    cmocka_unit_test(test_keepttl),
	    cmocka_unit_test(test_if_version_race),
	    cmocka_unit_test(test_expire),
	    cmocka_unit_test(test_incr_and_list),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
