/*
 * Namespaces, direct mode, against real ferry-servers (run once per
 * provider). A cluster started with --admin-token-file refuses clients
 * with no token or a wrong one (FERRY_EACCES); the admin creates
 * namespaces (64 hex characters of token each, never the same twice;
 * a taken name is FERRY_EEXIST, a bad one FERRY_EINVAL); two namespaces
 * and the default one hold the same key apart; a namespace's client can
 * neither read, list, watch, change nor even detect another's keys, and
 * may not manage namespaces or ask for server statistics. Quotas: a
 * 256 KiB quota over 2 servers takes 4 KiB values until FERRY_EQUOTA,
 * exactly as many as fit in it however the keys land (a server short of
 * share borrows what the other does not use), keeps every stored value
 * intact, and takes more once some are deleted; a full server still says
 * FERRY_ENOSPC.
 * Removal and expiry free every key (the servers' counters fall back)
 * and close the namespace to its token, for new and connected clients,
 * also while a writer is busy in it; a namespace's expiry can be pushed
 * back (touch). An open cluster (no admin token) lets a client with no
 * token manage namespaces, and a namespace's token still confines. A
 * server restarted with --state-file knows its namespaces again.
 */
#include "harness.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/token.h"
#include "common/util.h"

#define KiB ((size_t)1 << 10)
#define TIMEOUT_MS 20000
#define QUIET_MS 300   /* an event that should not come: look this long */
#define SETTLE_MS 5000 /* removed keys are freed within this */
#define NS_TTL_MS 1500 /* a namespace's short lifetime */

static ft_cluster *cl; /* 2 servers, admin token required */
static char admin[FERRY_TOKEN_LEN + 1];
static ferry_client *ac; /* the admin's client */

/* Starts n servers of memory each; with the admin token unless open. */
static ft_cluster *start(unsigned n, const char *memory, int open)
{
	char path[] = "/tmp/ferry-admin-token.XXXXXX";
	const char *args[] = {"--memory", memory, "--admin-token-file", path,
			      NULL};
	ft_cluster *c;
	int fd;

	if (open)
		args[2] = NULL;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, admin, FERRY_TOKEN_LEN), FERRY_TOKEN_LEN);
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	c = ft_cluster_start(n, args);
	unlink(path); /* read once, at the start */
	return c;
}

/* ferry_connect to c in direct mode with token (NULL: none). */
static int try_connect(const ft_cluster *c, const char *token,
		       ferry_client **out)
{
	ferry_opts o;

	ferry_opts_init(&o);
	o.cluster = c->file;
	o.proxy = "direct";
	o.timeout_ms = TIMEOUT_MS;
	o.token = token;
	*out = NULL;
	return ferry_connect(&o, out);
}

static ferry_client *connect_as(const ft_cluster *c, const char *token)
{
	ferry_client *fc;
	int rc = try_connect(c, token, &fc);

	if (rc) {
		ft_dump_logs(c);
		fail_msg("ferry_connect: %s", ferry_strerror(rc));
	}
	return fc;
}

/* Creates namespace name (quota bytes, 0: none) through admin client a,
 * writing its token to tok. */
static void create(ferry_client *a, const char *name, uint64_t quota, char *tok)
{
	ferry_ns_info set = {.quota = quota};

	ft_assert_rc(ferry_ns_create(a, name, &set, tok), 0);
}

static void put_str(ferry_client *c, const char *key, const char *val)
{
	ft_assert_rc(ferry_put(c, key, strlen(key), val, strlen(val), 0), 0);
}

/* key's value through c equals want. */
static void expect_val(ferry_client *c, const char *key, const char *want)
{
	char buf[256];
	size_t got = 0;

	ft_assert_rc(
	    ferry_get(c, key, strlen(key), 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, strlen(want));
	assert_memory_equal(buf, want, got);
}

/* The keys and bytes every server of the cluster holds, summed. */
static void usage(ferry_client *a, uint64_t *keys, uint64_t *used)
{
	ferry_server_stat st[FT_MAX_SERVERS];
	int n = ferry_cluster_stat(a, st, FT_MAX_SERVERS);

	assert_true(n > 0);
	*keys = *used = 0;
	for (int i = 0; i < n; i++) {
		ft_assert_rc(st[i].status, 0);
		*keys += st[i].keys;
		*used += st[i].mem_used;
	}
}

/* Waits until the servers hold keys keys and used bytes again. */
static void settles_at(ferry_client *a, uint64_t keys, uint64_t used)
{
	uint64_t deadline = ft_now_ms() + SETTLE_MS, k, u;

	for (;;) {
		usage(a, &k, &u);
		if ((k == keys && u == used) || ft_now_ms() > deadline)
			break;
		usleep(20000);
	}
	if (k != keys || u != used)
		fail_msg("the servers hold %llu keys, %llu bytes; expected "
			 "%llu keys, %llu bytes",
			 (unsigned long long)k, (unsigned long long)u,
			 (unsigned long long)keys, (unsigned long long)used);
}

/* Stores n keys "PREFIX%d" of size bytes each (pattern seed + i). */
static void put_n(ferry_client *c, const char *prefix, int n, size_t size,
		  uint64_t seed)
{
	uint8_t *buf = malloc(size);
	char key[64];

	assert_non_null(buf);
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s%d", prefix, i);
		ft_fill(buf, size, seed + (uint64_t)i);
		ft_assert_rc(ferry_put(c, key, strlen(key), buf, size, 0), 0);
	}
	free(buf);
}

/* How many keys a namespace's client c lists (all of them). */
static size_t count_keys(ferry_client *c)
{
	ferry_keys *k = NULL;
	size_t n;

	ft_assert_rc(ferry_list(c, "", 0, NULL, 0, 10000, &k), 0);
	n = ferry_keys_count(k);
	assert_false(ferry_keys_more(k));
	ferry_keys_free(k);
	return n;
}

static int setup(void **state)
{
	assert_int_equal(fr_token_new(admin), 0);
	cl = start(2, "64M", 0);
	ac = connect_as(cl, admin);
	return 0;
}

static int teardown(void **state)
{
	ferry_close(ac);
	ft_cluster_stop(cl);
	return 0;
}

static void test_connect_needs_token(void **state)
{
	char wrong[FERRY_TOKEN_LEN + 1];
	ferry_client *c;

	ft_assert_rc(try_connect(cl, NULL, &c), FERRY_EACCES);
	assert_null(c);
	ft_assert_rc(try_connect(cl, "", &c), FERRY_EACCES);
	assert_int_equal(fr_token_new(wrong), 0);
	ft_assert_rc(try_connect(cl, wrong, &c), FERRY_EACCES);
	/* The admin token's first half, or with one more character. */
	snprintf(wrong, sizeof(wrong), "%.32s", admin);
	ft_assert_rc(try_connect(cl, wrong, &c), FERRY_EACCES);
	{
		char longer[FERRY_TOKEN_LEN + 2];
		snprintf(longer, sizeof(longer), "%sa", admin);
		ft_assert_rc(try_connect(cl, longer, &c), FERRY_EACCES);
	}
	/* $FERRY_TOKEN stands in for ferry_opts.token. */
	setenv("FERRY_TOKEN", admin, 1);
	ft_assert_rc(try_connect(cl, NULL, &c), 0);
	unsetenv("FERRY_TOKEN");
	ferry_close(c);
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || !s[i])
			return 0;
	return 1;
}

static void test_create_names_and_tokens(void **state)
{
	char t1[FERRY_TOKEN_LEN + 1], t2[FERRY_TOKEN_LEN + 1], t3[80];
	char name[FERRY_NS_NAME_MAX + 2];
	static const char *const bad[] = {
	    "", "a b", "x/y", "caf\xc3\xa9", "new\nline", "a:b"};
	ferry_ns_info info;

	create(ac, "names-1", 0, t1);
	create(ac, "names-2", 0, t2);
	assert_int_equal(strlen(t1), FERRY_TOKEN_LEN);
	assert_true(is_hex(t1, FERRY_TOKEN_LEN));
	assert_true(is_hex(t2, FERRY_TOKEN_LEN));
	assert_string_not_equal(t1, t2);
	assert_string_not_equal(t1, admin);

	memset(t3, 'x', sizeof(t3));
	ft_assert_rc(ferry_ns_create(ac, "names-1", NULL, t3), FERRY_EEXIST);
	assert_int_equal(t3[0], 'x'); /* no token written */
	/* The first one is untouched: its token still opens it. */
	ft_assert_rc(ferry_ns_stat(ac, "names-1", &info), 0);
	assert_string_equal(info.name, "names-1");
	ferry_close(connect_as(cl, t1));

	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++)
		ft_assert_rc(ferry_ns_create(ac, bad[i], NULL, t3),
			     FERRY_EINVAL);
	ft_assert_rc(ferry_ns_create(ac, NULL, NULL, t3), FERRY_EINVAL);
	memset(name, 'n', FERRY_NS_NAME_MAX + 1);
	name[FERRY_NS_NAME_MAX + 1] = 0;
	ft_assert_rc(ferry_ns_create(ac, name, NULL, t3), FERRY_EINVAL);
	name[FERRY_NS_NAME_MAX] = 0; /* the longest name is fine */
	ft_assert_rc(ferry_ns_create(ac, name, NULL, t3), 0);
	ft_assert_rc(ferry_ns_create(ac, "A-z_0.9", NULL, t3), 0);
	ft_assert_rc(ferry_ns_stat(ac, "no-such-ns", &info), FERRY_ENOENT);
	ft_assert_rc(ferry_ns_stat(ac, NULL, &info), FERRY_EINVAL);
	ft_assert_rc(ferry_ns_rm(ac, "no-such-ns"), FERRY_ENOENT);
	ft_assert_rc(ferry_ns_rm(ac, name), 0);
	ft_assert_rc(ferry_ns_rm(ac, "A-z_0.9"), 0);
	ft_assert_rc(ferry_ns_rm(ac, "names-1"), 0);
	ft_assert_rc(ferry_ns_rm(ac, "names-2"), 0);
}

/* ferry_ns_list names exactly the namespaces, in order, page by page. */
static void test_list_namespaces(void **state)
{
	char tok[FERRY_TOKEN_LEN + 1], name[32];
	char after[FERRY_NS_NAME_MAX + 1] = "";
	size_t alen = 0;
	ferry_keys *k;
	int seen = 0, more;

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "list-%d", i);
		create(ac, name, 0, tok);
	}
	do {
		ft_assert_rc(ferry_ns_list(ac, alen ? after : NULL, 2, &k), 0);
		assert_true(ferry_keys_count(k) <= 2);
		for (size_t i = 0; i < ferry_keys_count(k); i++) {
			size_t len;
			const char *n = ferry_keys_at(k, i, &len);
			int cmp = memcmp(n, after, FR_MIN(len, alen));
			/* Strictly after the one before. */
			assert_true(cmp > 0 || (cmp == 0 && len > alen));
			assert_true(len <= FERRY_NS_NAME_MAX);
			memcpy(after, n, len);
			after[len] = 0;
			alen = len;
			seen += !strncmp(after, "list-", 5);
		}
		more = ferry_keys_more(k);
		ferry_keys_free(k);
	} while (more);
	assert_int_equal(seen, 5);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "list-%d", i);
		ft_assert_rc(ferry_ns_rm(ac, name), 0);
	}
	ft_assert_rc(ferry_ns_list(ac, "list-", 100, &k), 0);
	for (size_t i = 0; i < ferry_keys_count(k); i++) {
		size_t len;
		const char *n = ferry_keys_at(k, i, &len);
		assert_false(len >= 5 && !strncmp(n, "list-", 5));
	}
	ferry_keys_free(k);
}

/* The next event of c, or 0 if none comes within QUIET_MS. */
static int next_kind(ferry_client *c, ferry_event *ev)
{
	int rc = ferry_event_next(c, ev, QUIET_MS);

	assert_true(rc >= 0);
	return rc ? (int)ev->kind : 0;
}

static void test_isolation(void **state)
{
	char ta[FERRY_TOKEN_LEN + 1], tb[FERRY_TOKEN_LEN + 1];
	ferry_client *a, *b;
	ferry_ns_info info;
	ferry_keys *k;
	ferry_event ev;
	uint64_t w, we;
	int64_t v;
	int changed;

	create(ac, "iso-a", 0, ta);
	create(ac, "iso-b", 0, tb);
	a = connect_as(cl, ta);
	b = connect_as(cl, tb);

	/* One key name, three values. */
	put_str(a, "shared", "from a");
	put_str(b, "shared", "from b");
	put_str(ac, "shared", "from the default namespace");
	expect_val(a, "shared", "from a");
	expect_val(b, "shared", "from b");
	expect_val(ac, "shared", "from the default namespace");
	ft_assert_rc(ferry_incr(a, "ctr", 3, 5, &v), 0);
	ft_assert_rc(ferry_incr(b, "ctr", 3, 1, &v), 0);
	assert_int_equal(v, 1);

	/* b cannot reach or detect a's key, nor the default one's. */
	put_str(a, "only-a", "secret");
	put_str(ac, "only-default", "secret");
	for (int i = 0; i < 2; i++) {
		const char *key = i ? "only-default" : "only-a";
		size_t klen = strlen(key);
		char buf[16];
		ft_assert_rc(
		    ferry_get(b, key, klen, 0, buf, sizeof(buf), NULL, NULL),
		    FERRY_ENOENT);
		ft_assert_rc(ferry_stat_key(b, key, klen, NULL), FERRY_ENOENT);
		ft_assert_rc(ferry_del(b, key, klen), FERRY_ENOENT);
		ft_assert_rc(ferry_expire(b, key, klen, 1, 0, &changed),
			     FERRY_ENOENT);
		ft_assert_rc(ferry_put(b, key, klen, "x", 1, FERRY_PUT_REPLACE),
			     FERRY_ENOENT);
		ft_assert_rc(ferry_wait(b, key, klen, 100), FERRY_ETIMEDOUT);
	}
	/* ... and the admin, in the default namespace, cannot see a's. */
	ft_assert_rc(ferry_stat_key(ac, "only-a", 6, NULL), FERRY_ENOENT);
	expect_val(a, "only-a", "secret");
	expect_val(ac, "only-default", "secret");

	/* Listing: each sees its own keys only. */
	ft_assert_rc(ferry_list(b, "", 0, NULL, 0, 100, &k), 0);
	assert_int_equal(ferry_keys_count(k), 2); /* shared, ctr */
	ferry_keys_free(k);
	ft_assert_rc(ferry_list(b, "only", 4, NULL, 0, 100, &k), 0);
	assert_int_equal(ferry_keys_count(k), 0);
	ferry_keys_free(k);
	ft_assert_rc(ferry_list(a, "only", 4, NULL, 0, 100, &k), 0);
	assert_int_equal(ferry_keys_count(k), 1);
	ferry_keys_free(k);

	/* Watching: b's watches of everything and of a's key hear nothing
	 * of a's writes, but do hear b's own. */
	ft_assert_rc(ferry_watch(b, "", 0, 0, &w), 0);
	ft_assert_rc(ferry_watch(b, "only-a", 6, FERRY_WATCH_EXACT, &we), 0);
	put_str(a, "only-a", "changed");
	ft_assert_rc(ferry_del(a, "shared", 6), 0);
	put_str(ac, "only-a", "the default's own");
	assert_int_equal(next_kind(b, &ev), 0);
	put_str(b, "only-a", "b's own");
	assert_int_equal(next_kind(b, &ev), FERRY_EV_SET);
	assert_int_equal(ev.klen, 6);
	assert_memory_equal(ev.key, "only-a", 6);	   /* no prefix shows */
	assert_int_equal(next_kind(b, &ev), FERRY_EV_SET); /* both watches */
	assert_int_equal(next_kind(b, &ev), 0);
	expect_val(a, "only-a", "changed");
	expect_val(b, "shared", "from b");

	/* A namespace's client manages nothing and sees no statistics. */
	{
		char t[FERRY_TOKEN_LEN + 1];
		ferry_ns_info set = {.quota = 1};
		ferry_server_stat st[2];
		ft_assert_rc(ferry_ns_create(b, "iso-c", NULL, t),
			     FERRY_EACCES);
		ft_assert_rc(ferry_ns_set(b, "iso-a", FERRY_NS_SET_QUOTA, &set),
			     FERRY_EACCES);
		ft_assert_rc(ferry_ns_set(b, "iso-b", FERRY_NS_SET_QUOTA, &set),
			     FERRY_EACCES);
		ft_assert_rc(ferry_ns_stat(b, "iso-a", &info), FERRY_EACCES);
		ft_assert_rc(ferry_ns_stat(b, "iso-b", &info), FERRY_EACCES);
		ft_assert_rc(ferry_ns_rm(b, "iso-a"), FERRY_EACCES);
		ft_assert_rc(ferry_ns_list(b, NULL, 10, &k), FERRY_EACCES);
		ft_assert_rc(ferry_cluster_stat(b, st, 2), FERRY_EACCES);
		ft_assert_rc(ferry_ns_stat(ac, "iso-c", &info), FERRY_ENOENT);
	}
	ft_assert_rc(ferry_ns_stat(ac, "iso-a", &info), 0);
	assert_int_equal(info.quota, 0);

	ferry_close(a);
	ferry_close(b);
	ft_assert_rc(ferry_del(ac, "shared", 6), 0);
	ft_assert_rc(ferry_del(ac, "only-a", 6), 0);
	ft_assert_rc(ferry_del(ac, "only-default", 12), 0);
	ft_assert_rc(ferry_ns_rm(ac, "iso-a"), 0);
	ft_assert_rc(ferry_ns_rm(ac, "iso-b"), 0);
}

#define QUOTA (256 * KiB)
#define QVAL (4 * KiB)
#define QMAX 300

/* A key "PREFIX%d" that server srv holds, into key (32 bytes). */
static const char *key_on(char *key, const char *prefix, unsigned srv)
{
	int i = 0;

	do
		snprintf(key, 32, "%s%d", prefix, i++);
	while (ft_owner(cl, key, strlen(key)) != srv);
	return key;
}

/* A 256 KiB quota over 2 servers: 128 KiB each. */
static void test_quota(void **state)
{
	char tok[FERRY_TOKEN_LEN + 1], key[32];
	static uint8_t stored[QMAX];
	uint8_t buf[2 * QVAL];
	ferry_ns_info info, set = {0};
	int n, rc, first = -1, refused = 0, in_a_row = 0;
	uint64_t total = 8;
	unsigned ctr_srv;
	ferry_client *c;
	int64_t v;

	create(ac, "quota", QUOTA, tok);
	c = connect_as(cl, tok);
	ft_assert_rc(ferry_incr(c, "ctr", 3, 1, &v), 0); /* 8 bytes */
	ctr_srv = ft_owner(cl, "ctr", 3);
	/* New keys until both servers' shares are full (16 refusals in a
	 * row): each refusal stores nothing. */
	for (n = 0; n < QMAX && in_a_row < 16; n++) {
		snprintf(key, sizeof(key), "q/%d", n);
		ft_fill(buf, QVAL, (uint64_t)n);
		rc = ferry_put(c, key, strlen(key), buf, QVAL, 0);
		if (rc == FERRY_EQUOTA) {
			ft_assert_rc(ferry_stat_key(c, key, strlen(key), NULL),
				     FERRY_ENOENT);
			first = first < 0 ? n : first;
			refused++;
			in_a_row++;
			continue;
		}
		ft_assert_rc(rc, 0);
		stored[n] = 1;
		total += QVAL;
		in_a_row = 0;
	}
	print_message("# a 256 KiB quota over 2 servers: the first refusal "
		      "after %d values of 4 KiB, %llu KiB stored in all\n",
		      first, (unsigned long long)total / KiB);
	assert_int_equal(in_a_row, 16);
	assert_true(total <= QUOTA);
	/* All of it, not one server's half: no room for one more value. */
	assert_true(total + QVAL > QUOTA);
	assert_int_equal(first, (int)((QUOTA - 8) / QVAL));
	ft_assert_rc(ferry_ns_stat(ac, "quota", &info), 0);
	assert_int_equal(info.quota, QUOTA);
	assert_int_equal(info.keys, (uint64_t)(n - refused) + 1);
	assert_int_equal(info.used, total);

	/* Every stored value reads back intact. */
	for (int i = 0; i < n; i++) {
		size_t got = 0;
		if (!stored[i])
			continue;
		snprintf(key, sizeof(key), "q/%d", i);
		ft_assert_rc(ferry_get(c, key, strlen(key), 0, buf, sizeof(buf),
				       &got, NULL),
			     0);
		assert_int_equal(got, QVAL);
		assert_int_equal(ft_check(buf, got, (uint64_t)i), (size_t)-1);
	}

	/* At the quota, with less than a value's room left (4088 bytes in
	 * all): a counter that exists still counts, and a new one (24
	 * bytes) fits, on either server; a value overwritten with one as
	 * big fits, a bigger one does not and leaves the old one. */
	ft_assert_rc(ferry_incr(c, "ctr", 3, 1, &v), 0);
	assert_int_equal(v, 2);
	key_on(key, "ctr-", !ctr_srv);
	ft_assert_rc(ferry_incr(c, key, strlen(key), 1, &v), 0);
	ft_assert_rc(ferry_del(c, key, strlen(key)), 0);
	key_on(key, "q/", !ctr_srv);
	n = atoi(key + 2);
	assert_true(stored[n]);
	ft_fill(buf, 2 * QVAL, 777);
	ft_assert_rc(ferry_put(c, key, strlen(key), buf, QVAL, 0), 0);
	ft_assert_rc(ferry_put(c, key, strlen(key), buf, 2 * QVAL, 0),
		     FERRY_EQUOTA);
	ft_assert_rc(
	    ferry_get(c, key, strlen(key), 0, buf, sizeof(buf), NULL, NULL), 0);
	assert_int_equal(ft_check(buf, QVAL, 777), (size_t)-1);

	/* Deleting values makes room for as many again, no more. */
	for (int i = 0, gone = 0; gone < 4; i++) {
		snprintf(key, sizeof(key), "q/%d", i);
		if (stored[i] && ft_owner(cl, key, strlen(key)) != ctr_srv) {
			ft_assert_rc(ferry_del(c, key, strlen(key)), 0);
			gone++;
		}
	}
	for (int i = 0; i < 4; i++) {
		char pfx[16];
		snprintf(pfx, sizeof(pfx), "new/%d/", i);
		key_on(key, pfx, !ctr_srv);
		ft_assert_rc(ferry_put(c, key, strlen(key), buf, QVAL, 0), 0);
	}
	key_on(key, "new/last/", !ctr_srv);
	ft_assert_rc(ferry_put(c, key, strlen(key), buf, QVAL, 0),
		     FERRY_EQUOTA);

	/* Raising the quota makes room; 0 takes it away. */
	set.quota = 2 * QUOTA;
	ft_assert_rc(ferry_ns_set(ac, "quota", FERRY_NS_SET_QUOTA, &set), 0);
	ft_assert_rc(ferry_put(c, key, strlen(key), buf, QVAL, 0), 0);
	ft_assert_rc(ferry_ns_stat(ac, "quota", &info), 0);
	assert_int_equal(info.quota, 2 * QUOTA);
	assert_int_equal(info.used, total + QVAL);
	set.quota = 0;
	ft_assert_rc(ferry_ns_set(ac, "quota", FERRY_NS_SET_QUOTA, &set), 0);
	ft_assert_rc(ferry_put(c, "huge", 4, buf, 2 * QVAL, 0), 0);
	for (int i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "more/%d", i);
		ft_assert_rc(ferry_put(c, key, strlen(key), buf, QVAL, 0), 0);
	}
	ferry_close(c);
	ft_assert_rc(ferry_ns_rm(ac, "quota"), 0);
}

/* A full server says FERRY_ENOSPC, not FERRY_EQUOTA, to a namespace whose
 * quota is far from reached; one whose quota is reached says EQUOTA. */
static void test_enospc_is_not_equota(void **state)
{
	char big[FERRY_TOKEN_LEN + 1], small[FERRY_TOKEN_LEN + 1], key[32];
	ft_cluster *tiny = start(1, "4M", 0);
	ferry_client *a = connect_as(tiny, admin), *c;
	uint8_t *buf = malloc(64 * KiB);
	int n, rc = 0;

	assert_non_null(buf);
	ft_fill(buf, 64 * KiB, 1);
	create(a, "small", 16 * KiB, small);
	c = connect_as(tiny, small);
	ft_assert_rc(ferry_put(c, "k", 1, buf, 16 * KiB, 0), 0);
	ft_assert_rc(ferry_put(c, "k2", 2, buf, 1, 0), FERRY_EQUOTA);
	ferry_close(c);

	create(a, "big", 1024 * 1024 * KiB, big);
	c = connect_as(tiny, big);
	for (n = 0; n < 1000; n++) {
		snprintf(key, sizeof(key), "fill/%d", n);
		rc = ferry_put(c, key, strlen(key), buf, 64 * KiB, 0);
		if (rc)
			break;
	}
	ft_assert_rc(rc, FERRY_ENOSPC);
	assert_true(n > 8);
	ferry_close(c);
	free(buf);
	ferry_close(a);
	ft_cluster_stop(tiny);
}

static void test_stat_counts(void **state)
{
	char tok[FERRY_TOKEN_LEN + 1];
	ferry_ns_info info, set = {.quota = 10 * 1024 * KiB,
				   .ops_per_s = 1000,
				   .bytes_per_s = 5 * 1024 * KiB};
	ferry_client *c;
	uint64_t before;

	before = fr_wall_ms();
	set.expire_ms = before + 3600 * 1000;
	ft_assert_rc(ferry_ns_create(ac, "counted", &set, tok), 0);
	ft_assert_rc(ferry_ns_stat(ac, "counted", &info), 0);
	assert_string_equal(info.name, "counted");
	assert_int_equal(info.keys, 0);
	assert_int_equal(info.used, 0);
	assert_int_equal(info.quota, set.quota);
	assert_int_equal(info.expire_ms, set.expire_ms);
	assert_int_equal(info.ops_per_s, 1000);
	assert_int_equal(info.bytes_per_s, set.bytes_per_s);

	c = connect_as(cl, tok);
	put_n(c, "s/", 10, 1000, 0);  /* inline */
	put_n(c, "b/", 3, 100000, 0); /* by RMA */
	ft_assert_rc(ferry_ns_stat(ac, "counted", &info), 0);
	assert_int_equal(info.keys, 13);
	assert_int_equal(info.used, 10 * 1000 + 3 * 100000);
	put_n(c, "s/", 1, 10, 0); /* s/0 shrinks */
	ft_assert_rc(ferry_del(c, "b/2", 3), 0);
	ft_assert_rc(ferry_ns_stat(ac, "counted", &info), 0);
	assert_int_equal(info.keys, 12);
	assert_int_equal(info.used, 10 + 9 * 1000 + 2 * 100000);
	/* Only what the bits say changes. */
	set = (ferry_ns_info){.ops_per_s = 7, .quota = 1};
	ft_assert_rc(ferry_ns_set(ac, "counted", FERRY_NS_SET_OPS, &set), 0);
	ft_assert_rc(ferry_ns_stat(ac, "counted", &info), 0);
	assert_int_equal(info.ops_per_s, 7);
	assert_int_equal(info.quota, 10 * 1024 * KiB);
	ft_assert_rc(ferry_ns_set(ac, "counted", 0, &set), FERRY_EINVAL);
	ft_assert_rc(ferry_ns_set(ac, "counted", 0x100, &set), FERRY_EINVAL);
	ft_assert_rc(ferry_ns_set(ac, "no-such-ns", FERRY_NS_SET_OPS, &set),
		     FERRY_ENOENT);
	assert_int_equal(count_keys(c), 12);
	ferry_close(c);
	ft_assert_rc(ferry_ns_rm(ac, "counted"), 0);
}

/* After a namespace went (removed or expired): its keys are freed, its
 * token opens nothing, and a client still connected with it is refused. */
static void check_gone(const char *name, const char *tok, ferry_client *c,
		       uint64_t keys, uint64_t used)
{
	ferry_client *again;
	ferry_ns_info info;
	char buf[8];

	settles_at(ac, keys, used);
	ft_assert_rc(ferry_ns_stat(ac, name, &info), FERRY_ENOENT);
	ft_assert_rc(try_connect(cl, tok, &again), FERRY_EACCES);
	ft_assert_rc(ferry_get(c, "s/0", 3, 0, buf, sizeof(buf), NULL, NULL),
		     FERRY_EACCES);
	ft_assert_rc(ferry_put(c, "new", 3, "x", 1, 0), FERRY_EACCES);
	{
		ferry_keys *k;
		ft_assert_rc(ferry_list(c, "", 0, NULL, 0, 10, &k),
			     FERRY_EACCES);
	}
}

static void test_rm_frees_everything(void **state)
{
	char tok[FERRY_TOKEN_LEN + 1];
	uint64_t keys, used, k2, u2;
	ferry_client *c;

	usage(ac, &keys, &used);
	create(ac, "doomed", 0, tok);
	c = connect_as(cl, tok);
	put_n(c, "s/", 300, 100, 0);
	put_n(c, "b/", 20, 64 * KiB, 0);
	usage(ac, &k2, &u2);
	assert_int_equal(k2, keys + 320);
	assert_true(u2 >= used + 20 * 64 * KiB);
	ft_assert_rc(ferry_ns_rm(ac, "doomed"), 0);
	check_gone("doomed", tok, c, keys, used);
	ferry_close(c);
	/* The name can be taken again, with a new token: the old one stays
	 * shut. */
	{
		char tok2[FERRY_TOKEN_LEN + 1];
		ferry_client *again;
		create(ac, "doomed", 0, tok2);
		assert_string_not_equal(tok, tok2);
		ft_assert_rc(try_connect(cl, tok, &again), FERRY_EACCES);
		c = connect_as(cl, tok2);
		assert_int_equal(count_keys(c), 0);
		ferry_close(c);
		ft_assert_rc(ferry_ns_rm(ac, "doomed"), 0);
	}
}

static void test_expiry_and_touch(void **state)
{
	char tok[FERRY_TOKEN_LEN + 1], tok2[FERRY_TOKEN_LEN + 1];
	ferry_ns_info set = {0}, info;
	uint64_t keys0, used0, keys, used, t0, deadline;
	ferry_client *c, *c2;
	int rc;

	usage(ac, &keys0, &used0);
	t0 = fr_wall_ms();
	set.expire_ms = t0 + NS_TTL_MS;
	ft_assert_rc(ferry_ns_create(ac, "brief", &set, tok), 0);
	ft_assert_rc(ferry_ns_create(ac, "renewed", &set, tok2), 0);
	c = connect_as(cl, tok);
	c2 = connect_as(cl, tok2);
	put_n(c2, "s/", 5, 100, 0);
	usage(ac, &keys, &used);
	put_n(c, "s/", 50, 100, 0);
	put_n(c, "b/", 4, 64 * KiB, 0);
	/* The lease of "renewed" is pushed back, as ferry ns touch does. */
	set.expire_ms = fr_wall_ms() + 60000;
	ft_assert_rc(ferry_ns_set(ac, "renewed", FERRY_NS_SET_EXPIRE, &set), 0);
	if (fr_wall_ms() < t0 + NS_TTL_MS - 200)
		ft_assert_rc(ferry_ns_stat(ac, "brief", &info), 0);

	/* "brief" goes with its keys soon after its time. */
	deadline = t0 + NS_TTL_MS + SETTLE_MS;
	while ((rc = ferry_ns_stat(ac, "brief", &info)) == 0 &&
	       fr_wall_ms() < deadline)
		usleep(20000);
	ft_assert_rc(rc, FERRY_ENOENT);
	assert_true(fr_wall_ms() >= t0 + NS_TTL_MS);
	check_gone("brief", tok, c, keys, used);
	ferry_close(c);

	/* "renewed" outlived its first expiry. */
	ft_assert_rc(ferry_ns_stat(ac, "renewed", &info), 0);
	assert_int_equal(info.expire_ms, set.expire_ms);
	assert_int_equal(info.keys, 5);
	assert_int_equal(count_keys(c2), 5);
	ferry_close(c2);
	ft_assert_rc(ferry_ns_rm(ac, "renewed"), 0);
	settles_at(ac, keys0, used0);
}

/* The writer of test_rm_under_writers: puts 64 KiB values (moved by RMA,
 * so removal can come while one is in flight), 4 at a time, telling the
 * parent on fd once 20 batches went in, until a put fails. Exits 0 if it
 * was FERRY_EACCES. */
static void writer(const char *tok, int fd)
{
	static uint8_t vals[4][64 * KiB];
	char keys[4][32];
	ferry_op ops[4];
	ferry_client *c;
	uint64_t deadline = ft_now_ms() + 60000;
	int rc = 0;

	if (try_connect(cl, tok, &c))
		_exit(2);
	for (int round = 0; !rc && ft_now_ms() < deadline; round++) {
		for (int i = 0; i < 4; i++) {
			snprintf(keys[i], sizeof(keys[i]), "w/%d",
				 (round * 4 + i) % 400);
			ops[i] = (ferry_op){.opcode = FERRY_OP_PUT,
					    .key = keys[i],
					    .klen = strlen(keys[i]),
					    .buf = vals[i],
					    .len = sizeof(vals[i])};
		}
		rc = ferry_batch(c, ops, 4);
		if (round == 20 && write(fd, "w", 1) != 1)
			_exit(3);
	}
	ferry_close(c);
	if (rc != FERRY_EACCES)
		fprintf(stderr, "writer ended with %s\n", ferry_strerror(rc));
	_exit(rc == FERRY_EACCES ? 0 : 1);
}

static void test_rm_under_writers(void **state)
{
	char tok[FERRY_TOKEN_LEN + 1], w;
	uint64_t keys, used, deadline;
	int fds[2], st = 0;
	struct pollfd pfd;
	pid_t pid, r;

	usage(ac, &keys, &used);
	create(ac, "busy", 0, tok);
	/* The child opens its own fabric endpoint: ours must not be open
	 * across the fork. */
	ferry_close(ac);
	ac = NULL;
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		writer(tok, fds[1]);
	}
	close(fds[1]);
	ac = connect_as(cl, admin);
	pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
	if (poll(&pfd, 1, TIMEOUT_MS) != 1 || read(fds[0], &w, 1) != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the writer did not get going");
	}
	close(fds[0]);
	ft_assert_rc(ferry_ns_rm(ac, "busy"), 0);
	deadline = ft_now_ms() + TIMEOUT_MS;
	while ((r = waitpid(pid, &st, WNOHANG)) == 0 && ft_now_ms() < deadline)
		usleep(10000);
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("the writer still ran after its namespace went");
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	for (unsigned i = 0; i < cl->n; i++)
		assert_true(ft_server_alive(cl, i));
	/* Not one value of the writer's is left, even one that was on its
	 * way when the namespace went. */
	settles_at(ac, keys, used);
	usleep(200000);
	settles_at(ac, keys, used);
}

/* Without an admin token, a client with none is the admin; a namespace's
 * token still confines its client, and a wrong one is refused. */
static void test_open_cluster(void **state)
{
	char tok[FERRY_TOKEN_LEN + 1], wrong[FERRY_TOKEN_LEN + 1];
	ft_cluster *open = start(2, "16M", 1);
	ferry_client *a = connect_as(open, NULL), *c, *x;
	ferry_server_stat st[2];
	char buf[16];

	assert_int_equal(ferry_cluster_stat(a, st, 2), 2);
	ft_assert_rc(st[0].status, 0);
	create(a, "job", 0, tok);
	c = connect_as(open, tok);
	put_str(c, "k", "in the namespace");
	put_str(a, "d", "in the default one");
	ft_assert_rc(ferry_get(a, "k", 1, 0, buf, sizeof(buf), NULL, NULL),
		     FERRY_ENOENT);
	ft_assert_rc(ferry_get(c, "d", 1, 0, buf, sizeof(buf), NULL, NULL),
		     FERRY_ENOENT);
	expect_val(c, "k", "in the namespace");
	ft_assert_rc(ferry_ns_create(c, "job2", NULL, wrong), FERRY_EACCES);
	ft_assert_rc(ferry_cluster_stat(c, st, 2), FERRY_EACCES);
	assert_int_equal(fr_token_new(wrong), 0);
	ft_assert_rc(try_connect(open, wrong, &x), FERRY_EACCES);
	/* The cluster's own admin token means nothing here. */
	ft_assert_rc(try_connect(open, admin, &x), FERRY_EACCES);
	ft_assert_rc(ferry_ns_rm(a, "job"), 0);
	ft_assert_rc(ferry_put(c, "k", 1, "x", 1, 0), FERRY_EACCES);
	ferry_close(c);
	ferry_close(a);
	ft_cluster_stop(open);
}

/* A server restarted with --state-file knows its namespaces again: their
 * tokens, quotas, expiries and limits (not their keys: the store is in
 * memory). A namespace removed before the restart stays removed, and a
 * server restarted without the file knows none of them. */
static void test_restart_keeps_namespaces(void **state)
{
	char dir[] = "/tmp/ferry-state.XXXXXX", tpath[300], spath[300];
	char keep[FERRY_TOKEN_LEN + 1], gone[FERRY_TOKEN_LEN + 1];
	ferry_ns_info set = {0}, info;
	const char *args[] = {"--admin-token-file", tpath, "--state-file",
			      spath, NULL};
	ft_cluster *one;
	ferry_client *a, *c;
	char buf[8];
	size_t got;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(tpath, sizeof(tpath), "%s/admin.token", dir);
	snprintf(spath, sizeof(spath), "%s/server.ns", dir);
	assert_non_null(f = fopen(tpath, "w"));
	fprintf(f, "%s\n", admin);
	fclose(f);
	one = ft_cluster_start(1, args);
	a = connect_as(one, admin);
	set.quota = 1 << 20;
	set.expire_ms = fr_wall_ms() + 3600 * 1000;
	set.ops_per_s = 500;
	ft_assert_rc(ferry_ns_create(a, "kept", &set, keep), 0);
	ft_assert_rc(ferry_ns_create(a, "dropped", NULL, gone), 0);
	ft_assert_rc(ferry_ns_rm(a, "dropped"), 0);
	c = connect_as(one, keep);
	put_str(c, "before", "v1");
	ferry_close(c);
	ferry_close(a);

	ft_server_restart(one, 0, args);
	c = connect_as(one, keep);
	ft_assert_rc(ferry_get(c, "before", 6, 0, buf, sizeof(buf), &got, NULL),
		     FERRY_ENOENT); /* the keys went with the process */
	put_str(c, "after", "v2");
	expect_val(c, "after", "v2");
	ferry_close(c);
	assert_int_equal(try_connect(one, gone, &c), FERRY_EACCES);
	a = connect_as(one, admin);
	ft_assert_rc(ferry_ns_stat(a, "kept", &info), 0);
	assert_int_equal(info.quota, set.quota);
	assert_int_equal(info.expire_ms, set.expire_ms);
	assert_int_equal(info.ops_per_s, set.ops_per_s);
	assert_int_equal(info.keys, 1);
	ft_assert_rc(ferry_ns_stat(a, "dropped", &info), FERRY_ENOENT);
	ferry_close(a);

	/* Without the file, a restarted server knows no namespace. */
	args[2] = NULL;
	ft_server_restart(one, 0, args);
	assert_int_equal(try_connect(one, keep, &c), FERRY_EACCES);
	ft_cluster_stop(one);
	unlink(spath);
	unlink(tpath);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect_needs_token),
	    cmocka_unit_test(test_create_names_and_tokens),
	    cmocka_unit_test(test_list_namespaces),
	    cmocka_unit_test(test_isolation),
	    cmocka_unit_test(test_quota),
	    cmocka_unit_test(test_enospc_is_not_equota),
	    cmocka_unit_test(test_stat_counts),
	    cmocka_unit_test(test_rm_frees_everything),
	    cmocka_unit_test(test_expiry_and_touch),
	    cmocka_unit_test(test_rm_under_writers),
	    cmocka_unit_test(test_open_cluster),
	    cmocka_unit_test(test_restart_keeps_namespaces),
	};

	unsetenv("FERRY_TOKEN"); /* the tests say which token they use */
	return cmocka_run_group_tests(tests, setup, teardown);
}
