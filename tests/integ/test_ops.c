/*
 * Integration tests of every libferry operation against three real
 * ferry-server processes (run once per provider): values byte for byte at
 * every size edge, from malloc'd and from ferry_alloc'd memory; put flags;
 * ranged gets; stat; delete; paged listing under concurrent writes; batch
 * and asynchronous interfaces; key and value limits; and that keys spread
 * over all servers.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "proto/wire.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define MAX_VALUE (80 * MiB)
#define TIMEOUT_MS 20000

static ft_cluster *cl;
static ferry_client *c;

static int setup(void **state)
{
	static const char *const args[] = {"--memory", "384M", "--max-value",
					   "80M", NULL};

	cl = ft_cluster_start(3, args);
	c = ft_connect(cl, TIMEOUT_MS);
	return 0;
}

static int teardown(void **state)
{
	ferry_close(c);
	ft_cluster_stop(cl);
	return 0;
}

static void sizes(int zero_copy)
{
	static const size_t sz[] = {0,
				    1,
				    FR_INLINE_MAX - 1,
				    FR_INLINE_MAX,
				    FR_INLINE_MAX + 1,
				    1 * MiB + 7,
				    64 * MiB};
	char key[256];

	for (size_t i = 0; i < FR_ARRAY_LEN(sz); i++) {
		size_t size = sz[i];
		uint64_t seed = size * 31 + (uint64_t)zero_copy;
		uint8_t *src = zero_copy ? ferry_alloc(c, size ? size : 1)
					 : malloc(size ? size : 1);
		ferry_stat st;

		assert_non_null(src);
		ft_fill(src, size, seed);
		ft_kf(key, "size/%s/%zu", zero_copy ? "zc" : "malloc", size);
		ft_assert_rc(ferry_put(c, key, strlen(key), src, size, 0), 0);
		/* The source buffer is not modified by a put. */
		assert_int_equal(ft_check(src, size, seed), (size_t)-1);
		ft_assert_rc(ferry_stat_key(c, key, strlen(key), &st), 0);
		assert_int_equal(st.size, size);
		ft_check_value(c, key, size, seed, zero_copy);
		/* Overwrite with other content of the same size: no stale
		 * bytes survive. */
		ft_fill(src, size, seed + 1000);
		ft_assert_rc(ferry_put(c, key, strlen(key), src, size, 0), 0);
		ft_check_value(c, key, size, seed + 1000, !zero_copy);
		ft_assert_rc(ferry_del(c, key, strlen(key)), 0);
		zero_copy ? ferry_free(c, src) : free(src);
	}
}

static void test_sizes_malloc(void **state)
{
	sizes(0);
}

static void test_sizes_ferry_alloc(void **state)
{
	sizes(1);
}

/* Sizes change under the same key: a shorter value after a longer one is
 * not padded with the old tail, and inline/RMA switch correctly. */
static void test_resize(void **state)
{
	static const size_t seq[] = {
	    100 * KiB, 10, FR_INLINE_MAX + 1, 0, FR_INLINE_MAX, 3 * MiB, 1};
	uint8_t *src = malloc(3 * MiB);

	assert_non_null(src);
	for (size_t i = 0; i < FR_ARRAY_LEN(seq); i++) {
		ft_fill(src, seq[i], i);
		ft_assert_rc(ferry_put(c, "resize", 6, src, seq[i], 0), 0);
		ft_check_value(c, "resize", seq[i], i, (int)(i % 2));
	}
	free(src);
}

static void test_put_flags(void **state)
{
	uint8_t big[100 * KiB];
	char buf[16];
	size_t got;

	ferry_del(c, "flags/a", 7);
	/* Replace-only on a missing key: nothing is created. */
	ft_assert_rc(ferry_put(c, "flags/a", 7, "r1", 2, FERRY_PUT_REPLACE),
		     FERRY_ENOENT);
	ft_assert_rc(
	    ferry_get(c, "flags/a", 7, 0, buf, sizeof(buf), &got, NULL),
	    FERRY_ENOENT);
	/* Create-only creates once. */
	ft_assert_rc(ferry_put(c, "flags/a", 7, "c1", 2, FERRY_PUT_CREATE), 0);
	ft_assert_rc(ferry_put(c, "flags/a", 7, "c2", 2, FERRY_PUT_CREATE),
		     FERRY_EEXIST);
	ft_assert_rc(
	    ferry_get(c, "flags/a", 7, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 2);
	assert_memory_equal(buf, "c1", 2);
	/* The same by RMA (a value above the inline threshold). */
	ft_fill(big, sizeof(big), 77);
	ft_assert_rc(
	    ferry_put(c, "flags/a", 7, big, sizeof(big), FERRY_PUT_CREATE),
	    FERRY_EEXIST);
	ft_assert_rc(
	    ferry_get(c, "flags/a", 7, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_memory_equal(buf, "c1", 2);
	/* Replace-only replaces. */
	ft_assert_rc(
	    ferry_put(c, "flags/a", 7, big, sizeof(big), FERRY_PUT_REPLACE), 0);
	ft_check_value(c, "flags/a", sizeof(big), 77, 0);
	ft_assert_rc(ferry_put(c, "flags/a", 7, "r2", 2, FERRY_PUT_REPLACE), 0);
	ft_assert_rc(
	    ferry_get(c, "flags/a", 7, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 2);
	assert_memory_equal(buf, "r2", 2);
	ft_assert_rc(ferry_del(c, "flags/a", 7), 0);
}

static void test_get_ranges(void **state)
{
	size_t size = 1 * MiB + 7, got;
	uint8_t *src = malloc(size), *dst = malloc(size + 64);
	ferry_stat st;

	assert_non_null(src);
	assert_non_null(dst);
	ft_fill(src, size, 5);
	ft_assert_rc(ferry_put(c, "range", 5, src, size, 0), 0);
	const struct {
		uint64_t off;
		size_t cap, want;
	} cases[] = {
	    {0, 10, 10},
	    {100, 50, 50},		  /* inside, inline */
	    {5000, 5000, 5000},		  /* inside, by RMA */
	    {1000, 512 * KiB, 512 * KiB}, /* inside, large */
	    {MiB, 4096, 7},		  /* past the end of the cap */
	    {MiB + 7 - 1, 100, 1},	  /* the last byte */
	    {1 * MiB + 7, 100, 0},	  /* at the end: nothing */
	    {1 * MiB + 7, 64 * KiB, 0},
	    {0, 0, 0},			  /* no room: metadata only */
	    {size - 10000, 20000, 10000}, /* RMA cap, tail of the value */
	    {size - 4097, 8192, 4097},
	    {size - 4096, 8192, 4096},
	};
	for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
		memset(dst, 0xee, size + 64);
		st.size = 0;
		ft_assert_rc(ferry_get(c, "range", 5, cases[i].off, dst,
				       cases[i].cap, &got, &st),
			     0);
		if (got != cases[i].want)
			fail_msg(
			    "case %zu (offset %llu, cap %zu): got %zu bytes, "
			    "expected %zu",
			    i, (unsigned long long)cases[i].off, cases[i].cap,
			    got, cases[i].want);
		assert_int_equal(st.size, size);
		if (got)
			assert_memory_equal(dst, src + cases[i].off, got);
		for (size_t j = got; j < cases[i].cap && j < got + 64; j++)
			assert_int_equal(dst[j], 0xee);
	}
	/* Past the end is an error, however far. */
	static const uint64_t past[] = {1 * MiB + 8, 2 * MiB, UINT64_MAX};
	for (size_t i = 0; i < FR_ARRAY_LEN(past); i++) {
		got = 99;
		ft_assert_rc(
		    ferry_get(c, "range", 5, past[i], dst, 100, &got, NULL),
		    FERRY_ERANGE);
		assert_int_equal(got, 0);
		ft_assert_rc(ferry_get(c, "range", 5, past[i], dst, 64 * KiB,
				       &got, NULL),
			     FERRY_ERANGE);
	}
	/* Small values too. */
	ft_assert_rc(ferry_put(c, "range/s", 7, "abcdef", 6, 0), 0);
	ft_assert_rc(ferry_get(c, "range/s", 7, 2, dst, 3, &got, NULL), 0);
	assert_int_equal(got, 3);
	assert_memory_equal(dst, "cde", 3);
	ft_assert_rc(ferry_get(c, "range/s", 7, 6, dst, 3, &got, NULL), 0);
	assert_int_equal(got, 0);
	ft_assert_rc(ferry_get(c, "range/s", 7, 7, dst, 3, &got, NULL),
		     FERRY_ERANGE);
	/* A missing key. */
	ft_assert_rc(ferry_get(c, "range/none", 10, 0, dst, 3, &got, NULL),
		     FERRY_ENOENT);
	void *v = (void *)1;
	size_t vlen = 1;
	ft_assert_rc(ferry_get_alloc(c, "range/none", 10, &v, &vlen),
		     FERRY_ENOENT);
	assert_null(v);
	assert_int_equal(vlen, 0);
	/* Invalid arguments. */
	ft_assert_rc(ferry_get(c, "range", 5, 0, NULL, 10, &got, NULL),
		     FERRY_EINVAL);
	ft_assert_rc(ferry_get_alloc(c, "range", 5, NULL, &vlen), FERRY_EINVAL);
	free(src);
	free(dst);
}

static void test_stat(void **state)
{
	ferry_stat a, b;
	struct timespec ts;
	uint64_t before, after;

	clock_gettime(CLOCK_REALTIME, &ts);
	before = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	ft_assert_rc(ferry_put(c, "stat", 4, "12345", 5, 0), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	ft_assert_rc(ferry_stat_key(c, "stat", 4, &a), 0);
	assert_int_equal(a.size, 5);
	/* Same host: the server's clock is ours (1 s of slack for NTP). */
	assert_true(a.ctime_ns + 1000000000ull >= before);
	assert_true(a.ctime_ns <= after + 1000000000ull);
	ft_assert_rc(ferry_stat_key(c, "stat", 4, &b), 0);
	assert_true(a.version == b.version);
	/* Every write changes the version, even with the same bytes. */
	ft_assert_rc(ferry_put(c, "stat", 4, "12345", 5, 0), 0);
	ft_assert_rc(ferry_stat_key(c, "stat", 4, &b), 0);
	assert_true(b.version != a.version);
	assert_true(b.ctime_ns >= a.ctime_ns);
	/* A get reports the same metadata. */
	char buf[8];
	size_t got;
	ferry_stat g;
	ft_assert_rc(ferry_get(c, "stat", 4, 0, buf, sizeof(buf), &got, &g), 0);
	assert_true(g.version == b.version);
	assert_int_equal(g.size, 5);
	ft_assert_rc(ferry_stat_key(c, "stat/none", 9, &a), FERRY_ENOENT);
}

static void test_del(void **state)
{
	char buf[8];

	ft_assert_rc(ferry_put(c, "del", 3, "x", 1, 0), 0);
	ft_assert_rc(ferry_del(c, "del", 3), 0);
	ft_assert_rc(ferry_get(c, "del", 3, 0, buf, 8, NULL, NULL),
		     FERRY_ENOENT);
	ft_assert_rc(ferry_stat_key(c, "del", 3, NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_del(c, "del", 3), FERRY_ENOENT);
	ft_assert_rc(ferry_del(c, "del/never", 9), FERRY_ENOENT);
	/* Create-only works again after a delete. */
	ft_assert_rc(ferry_put(c, "del", 3, "y", 1, FERRY_PUT_CREATE), 0);
	ft_assert_rc(ferry_del(c, "del", 3), 0);
}

/* ---- listing ---------------------------------------------------------------
 */

#define NLIST 2500
#define PAGE 100

/* Counts each key list/NNNNN the listing returns, once. */
struct seen {
	unsigned char idx[NLIST];
	size_t total;
};

static void see(const char *key, void *arg)
{
	struct seen *sn = arg;
	char tail[16] = "";
	int idx;

	if (sscanf(key, "list/%5d%15s", &idx, tail) < 1)
		fail_msg("unexpected key %s", key);
	if (tail[0] == '\0') {
		assert_true(idx >= 0 && idx < NLIST);
		assert_int_equal(sn->idx[idx], 0);
		sn->idx[idx] = 1;
		sn->total++;
	}
}

static void test_list_paging(void **state)
{
	static struct seen sn;
	char after[32] = "";
	size_t alen = 0, added = 0, dels = 0;
	int pages = 0, more = 1;
	uint64_t deadline = ft_now_ms() + 60000;

	memset(&sn, 0, sizeof(sn));
	/* The listed keys, keys that will be deleted during the listing,
	 * and neighbours outside the prefix. */
	ft_put_many(c, "list/%05d", 0, NLIST);
	ft_put_many(c, "list/%05d~del", 0, 200);
	ft_put_many(c, "lisu/%05d", 0, 50);
	ft_put_many(c, "lis/%05d", 0, 50);

	while (more && pages < 200 && ft_now_ms() < deadline) {
		more = ft_list_page(c, "list/", 5, after, &alen, sizeof(after),
				    PAGE, see, &sn);
		/* Meanwhile: new keys in and beside the range, and deletes
		 * of keys the listing may or may not have passed. */
		ft_put_many(c, "list/%05d+new", (int)(added * 97 % NLIST), 5);
		ft_put_many(c, "lisa/%05d", (int)added, 3);
		added += 5;
		for (int d = 0; d < 2 && dels < 200; d++, dels++) {
			char key[32];
			int kl = snprintf(key, sizeof(key), "list/%05d~del",
					  (int)((dels * 53) % 200));
			int rc = ferry_del(c, key, (size_t)kl);
			assert_true(rc == 0 || rc == FERRY_ENOENT);
		}
		pages++;
	}
	assert_int_equal(more, 0);
	/* Every key present during the whole listing, exactly once. */
	assert_int_equal(sn.total, NLIST);
	assert_true(pages >= NLIST / PAGE);
	assert_true(pages < NLIST / PAGE + 30);
	/* Other arguments. */
	ft_list_edges(c, "lis/", 4, 50);
}

/* ---- batch and async
 * ---------------------------------------------------------- */

#define NBATCH 500

static size_t batch_size(int i)
{
	/* Mostly inline, some by RMA, some empty. */
	return i % 50 == 0  ? 0
	       : i % 7 == 0 ? 20000 + (size_t)i
			    : 100 + (size_t)i;
}

static void test_batch(void **state)
{
	ft_batch_check(c, c, "batch/%d", NBATCH, batch_size, 0);
}

#define NASYNC 2000

static void test_async(void **state)
{
	ferry_op *ops = calloc(NASYNC, sizeof(*ops));
	char(*keys)[32] = calloc(NASYNC, 32);
	uint64_t *vals = calloc(NASYNC, sizeof(*vals));
	uint64_t deadline = ft_now_ms() + 60000;
	size_t peak = 0;

	assert_non_null(ops);
	assert_non_null(keys);
	assert_non_null(vals);
	for (int phase = 0; phase < 2; phase++) {
		for (size_t i = 0; i < NASYNC; i++) {
			ops[i] = (ferry_op){
			    .opcode = phase ? FERRY_OP_GET : FERRY_OP_PUT,
			    .key = keys[i],
			    .klen =
				(size_t)snprintf(keys[i], 32, "async/%zu", i),
			    .buf = &vals[i],
			    .len = 8,
			    .user = (void *)(uintptr_t)(i + 1)};
			vals[i] = phase ? 0 : i * 2654435761u;
		}
		peak = FR_MAX(peak, ft_async_run(c, ops, NASYNC, deadline));
	}
	for (size_t i = 0; i < NASYNC; i++) {
		assert_int_equal(ops[i].result, 8);
		assert_true(vals[i] == i * 2654435761u);
	}
	/* Many operations were in flight at once. */
	print_message("# async: up to %zu in flight\n", peak);
	assert_true(peak >= 64);
	ft_async_after(c);
	free(ops);
	free(keys);
	free(vals);
}

static void test_inflight_limit(void **state)
{
	ferry_client *small = NULL;
	ferry_op ops[9];
	ferry_op *out[16];
	int got = 0;
	uint64_t deadline;

	ft_assert_rc(ft_connect_opts(cl, TIMEOUT_MS, 8, &small), 0);
	for (int i = 0; i < 9; i++)
		ops[i] = (ferry_op){
		    .opcode = FERRY_OP_STAT, .key = "limit", .klen = 5};
	for (int i = 0; i < 8; i++)
		ft_assert_rc(ferry_submit(small, &ops[i]), 0);
	ft_assert_rc(ferry_submit(small, &ops[8]), FERRY_EBUSY);
	assert_int_equal(ops[8].status, FERRY_EBUSY);
	deadline = ft_now_ms() + 10000;
	while (got < 8 && ft_now_ms() < deadline) {
		int n = ferry_poll(small, out, 16, 1000);
		assert_true(n >= 0);
		for (int j = 0; j < n; j++)
			assert_int_equal(out[j]->status, FERRY_ENOENT);
		got += n;
	}
	assert_int_equal(got, 8);
	/* Collected: there is room again. */
	ft_assert_rc(ferry_submit(small, &ops[8]), 0);
	assert_int_equal(ferry_poll(small, out, 16, 5000), 1);
	assert_ptr_equal(out[0], &ops[8]);
	ferry_close(small);
}

/* A client with fewer slots than servers still greets every server at
 * connect (one at a time) and reaches the keys of each: the greeting of
 * a server it had no slot for is no reason to count it down. */
static void test_inflight_one(void **state)
{
	ferry_client *one = NULL;
	char key[32];
	unsigned hit[FT_MAX_SERVERS] = {0};

	ft_assert_rc(ft_connect_opts(cl, TIMEOUT_MS, 1, &one), 0);
	for (int i = 0; i < 60; i++) {
		snprintf(key, sizeof(key), "one/%d", i);
		ft_assert_rc(ferry_put(one, key, strlen(key), "v", 1, 0), 0);
		ft_assert_rc(ferry_stat_key(one, key, strlen(key), NULL), 0);
		hit[ft_owner(cl, key, strlen(key))]++;
	}
	for (unsigned s = 0; s < cl->n; s++)
		assert_true(hit[s] > 0);
	ferry_close(one);
}

/* ---- limits
 * --------------------------------------------------------------------- */

static void test_key_limits(void **state)
{
	uint8_t key[FERRY_KEY_MAX + 1], buf[16];
	size_t got;
	int64_t v;

	ft_fill(key, sizeof(key), 3);
	/* 1 and 1024 bytes work, binary bytes included. */
	static const size_t ok[] = {1, FERRY_KEY_MAX};
	for (size_t i = 0; i < 2; i++) {
		ft_assert_rc(ferry_put(c, key, ok[i], "val", 3, 0), 0);
		ft_assert_rc(ferry_get(c, key, ok[i], 0, buf, 16, &got, NULL),
			     0);
		assert_int_equal(got, 3);
		ft_assert_rc(ferry_stat_key(c, key, ok[i], NULL), 0);
		ft_assert_rc(ferry_del(c, key, ok[i]), 0);
	}
	/* A key one byte longer is another key. */
	ft_assert_rc(ferry_put(c, key, 10, "a", 1, 0), 0);
	ft_assert_rc(ferry_stat_key(c, key, 11, NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_stat_key(c, key, 9, NULL), FERRY_ENOENT);
	/* Empty keys are invalid and longer ones too big, for every
	 * operation. */
	static const struct {
		size_t len;
		int rc;
	} bad[] = {{0, FERRY_EINVAL}, {FERRY_KEY_MAX + 1, FERRY_E2BIG}};
	for (size_t i = 0; i < 2; i++) {
		size_t kl = bad[i].len;
		int want = bad[i].rc;
		void *p;
		size_t pl;
		ferry_op op = {.opcode = FERRY_OP_STAT, .key = key, .klen = kl};
		ft_assert_rc(ferry_put(c, key, kl, "v", 1, 0), want);
		ft_assert_rc(ferry_get(c, key, kl, 0, buf, 16, &got, NULL),
			     want);
		ft_assert_rc(ferry_del(c, key, kl), want);
		ft_assert_rc(ferry_stat_key(c, key, kl, NULL), want);
		ft_assert_rc(ferry_incr(c, key, kl, 1, &v), want);
		ft_assert_rc(ferry_get_alloc(c, key, kl, &p, &pl), want);
		ft_assert_rc(ferry_submit(c, &op), want);
		assert_int_equal(op.status, want);
	}
	ft_assert_rc(ferry_put(c, NULL, 3, "v", 1, 0), FERRY_EINVAL);
	ft_assert_rc(ferry_put(c, "k", 1, NULL, 5, 0), FERRY_EINVAL);
	ft_assert_rc(
	    ferry_put(c, "k", 1, "v", 1, FERRY_PUT_CREATE | FERRY_PUT_REPLACE),
	    FERRY_EINVAL);
	ft_assert_rc(ferry_put(c, "k", 1, "v", 1, 0x80), FERRY_EINVAL);
	ft_assert_rc(ferry_put(NULL, "k", 1, "v", 1, 0), FERRY_EINVAL);
}

static void test_value_limit(void **state)
{
	/* Not touched unless the limit fails to hold. */
	uint8_t *big = malloc(MAX_VALUE + 1);
	ferry_op op = {.opcode = FERRY_OP_PUT,
		       .key = "toobig",
		       .klen = 6,
		       .buf = big,
		       .len = MAX_VALUE + 1};

	assert_non_null(big);
	ft_assert_rc(ferry_put(c, "toobig", 6, big, MAX_VALUE + 1, 0),
		     FERRY_E2BIG);
	ft_assert_rc(ferry_put(c, "toobig", 6, big, SIZE_MAX / 2, 0),
		     FERRY_E2BIG);
	ft_assert_rc(ferry_submit(c, &op), FERRY_E2BIG);
	ft_assert_rc(ferry_stat_key(c, "toobig", 6, NULL), FERRY_ENOENT);
	free(big);
}

/* ---- cluster
 * -------------------------------------------------------------------- */

#define NSPREAD 300

static void test_cluster_stat_and_spread(void **state)
{
	ferry_server_stat a[FT_MAX_SERVERS], b[FT_MAX_SERVERS];
	unsigned expect[FT_MAX_SERVERS] = {0};
	char key[32];

	assert_int_equal(ferry_cluster_stat(c, NULL, 0), 3);
	assert_int_equal(ferry_cluster_stat(c, a, FT_MAX_SERVERS), 3);
	ft_put_many(c, "spread/%d", 0, NSPREAD);
	assert_int_equal(ferry_cluster_stat(c, b, FT_MAX_SERVERS), 3);
	for (int i = 0; i < NSPREAD; i++) {
		snprintf(key, sizeof(key), "spread/%d", i);
		expect[ft_owner(cl, key, strlen(key))]++;
	}
	for (unsigned s = 0; s < 3; s++) {
		assert_int_equal(b[s].status, 0);
		assert_string_equal(b[s].addr, cl->addrs[s]);
		/* Each server holds exactly the keys the ring gives it, and
		 * the ring gives every server some. */
		assert_true(b[s].keys - a[s].keys == expect[s]);
		assert_true(expect[s] > NSPREAD / 10);
		assert_true(b[s].mem_total >= 384 * MiB);
		assert_true(b[s].mem_used <= b[s].mem_total);
		assert_true(b[s].mem_used > a[s].mem_used);
		assert_true(b[s].ops > a[s].ops);
		assert_true(b[s].peers >= 1);
	}
	/* Only the first max entries are written. */
	ferry_server_stat one[2];
	memset(one, 0x5a, sizeof(one));
	assert_int_equal(ferry_cluster_stat(c, one, 1), 3);
	assert_string_equal(one[0].addr, cl->addrs[0]);
	assert_int_equal(((unsigned char *)&one[1])[0], 0x5a);
	assert_int_equal(ferry_cluster_stat(c, NULL, 1), FERRY_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes_malloc),
	    cmocka_unit_test(test_sizes_ferry_alloc),
	    cmocka_unit_test(test_resize),
	    cmocka_unit_test(test_put_flags),
	    cmocka_unit_test(test_get_ranges),
	    cmocka_unit_test(test_stat),
	    cmocka_unit_test(test_del),
	    cmocka_unit_test(test_list_paging),
	    cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_async),
	    cmocka_unit_test(test_inflight_limit),
	    cmocka_unit_test(test_inflight_one),
	    cmocka_unit_test(test_key_limits),
	    cmocka_unit_test(test_value_limit),
	    cmocka_unit_test(test_cluster_stat_and_spread),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
