/*
 * Integration tests of watching keys against two real ferry-servers and
 * a ferry-proxy (run once per provider), each case once per mode: direct,
 * proxy-unix and proxy-tcp (named "case (mode)"). ferry_wait returns at
 * once for a key that exists, wakes when another client writes the key
 * (and says how long that took), and times out with FERRY_ETIMEDOUT; a
 * prefix watch reports set, expire, persist, del, incr, a put already
 * expired and an expiry, in order, for one key; an exact watch ignores
 * other keys; unwatch stops events and drops queued ones; 1000 waiters
 * on distinct keys in one client all wake; a watcher killed with SIGKILL
 * leaves servers (and proxy) serving and other watchers hearing; events
 * from both servers arrive; bad arguments are refused. In every mode a
 * watch outlives a restart of its server (a LOST event within seconds,
 * then events again), and a quiet client's first request to the
 * restarted server is answered at once; proxy modes: a watch outlives a
 * restart of the proxy the same way. A watcher silent past the servers'
 * watcher time-out is forgotten, and once back registers its watch again
 * (LOST, then events), while one that keeps waiting loses nothing.
 */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define TIMEOUT_MS 20000
#define EVENT_MS 5000    /* an event that should come comes within this */
#define QUIET_MS 300     /* an event that should not come: look this long */
#define SHORT_MS 300     /* a short lifetime */
#define FAR_MS 600000    /* a lifetime no test outlives */
#define WAKE_BOUND_MS 1000 /* generous: a wake-up takes ~0.1-1 ms */
#define WAITERS 1000

static const char *const server_args[] = {"--memory", "64M", NULL};
static ft_cluster *cl;
static ferry_client *cs[FT_NMODES];
static ferry_client *writer; /* direct: another client that writes */

static int setup(void **state)
{
	cl = ft_cluster_start(2, server_args);
	ft_proxy_start(cl);
	for (int m = 0; m < FT_NMODES; m++)
		cs[m] = ft_connect_mode(cl, (enum ft_mode)m, TIMEOUT_MS);
	writer = ft_connect_mode(cl, FT_DIRECT, TIMEOUT_MS);
	return 0;
}

static int teardown(void **state)
{
	for (int m = 0; m < FT_NMODES; m++)
		ferry_close(cs[m]);
	ferry_close(writer);
	ft_cluster_stop(cl);
	return 0;
}

static enum ft_mode mode_of(void **state)
{
	return *(enum ft_mode *)*state;
}

/* "name/MODE" in key (64 bytes). */
static const char *mkey(char *key, const char *name, enum ft_mode m)
{
	snprintf(key, 64, "%s/%s", name, ft_mode_name[m]);
	return key;
}

/* "name/MODE/" in pfx (64 bytes), and with key (may be NULL) the key
 * "name/MODE/k". */
static void mprefix(char *pfx, char *key, const char *name, enum ft_mode m)
{
	snprintf(pfx, 64, "%s/%s/", name, ft_mode_name[m]);
	if (key)
		snprintf(key, 64, "%.50sk", pfx);
}

static void put_ttl(ferry_client *c, const char *key, uint64_t expire_ms)
{
	ferry_op op = {.opcode = FERRY_OP_PUT, .key = key, .klen = strlen(key),
		       .buf = "v", .len = 1, .expire_ms = expire_ms};

	ft_assert_rc(ferry_batch(c, &op, 1), 0);
}

/* The next event, which must come within EVENT_MS and be kind on key. */
static void expect_event(ferry_client *c, uint64_t watch,
			 ferry_event_kind kind, const char *key)
{
	ferry_event ev;
	int rc = ferry_event_next(c, &ev, EVENT_MS);

	if (rc != 1)
		fail_msg("no event (%d) where %d on %s was due", rc, kind, key);
	if (ev.watch != watch || ev.kind != kind || ev.klen != strlen(key) ||
	    memcmp(ev.key, key, ev.klen))
		fail_msg("event %d on %.*s (watch %llx), expected %d on %s "
			 "(watch %llx)",
			 ev.kind, (int)ev.klen, ev.key,
			 (unsigned long long)ev.watch, kind, key,
			 (unsigned long long)watch);
}

static void expect_quiet(ferry_client *c)
{
	ferry_event ev;
	int rc = ferry_event_next(c, &ev, QUIET_MS);

	if (rc != 0)
		fail_msg("unexpected event (%d): kind %d on %.*s", rc, ev.kind,
			 (int)ev.klen, ev.key);
}

/* Takes whatever events earlier cases left behind. */
static void drain(ferry_client *c)
{
	ferry_event ev;

	while (ferry_event_next(c, &ev, 0) == 1)
		;
}

/* Watches "name/MODE/" from mode m's client and sees the SET of one put
 * of its key "name/MODE/k". Returns the watch. */
static uint64_t watch_heard(enum ft_mode m, const char *name, char *key)
{
	char pfx[64];
	uint64_t w;

	mprefix(pfx, key, name, m);
	drain(cs[m]);
	ft_assert_rc(ferry_watch(cs[m], pfx, strlen(pfx), 0, &w), 0);
	ft_assert_rc(ferry_put(writer, key, strlen(key), "1", 1, 0), 0);
	expect_event(cs[m], w, FERRY_EV_SET, key);
	return w;
}

/* ---- ferry_wait ------------------------------------------------------------ */

static void test_wait_existing(void **state)
{
	enum ft_mode m = mode_of(state);
	char key[64];
	uint64_t t0;

	mkey(key, "w/exists", m);
	ft_assert_rc(ferry_put(writer, key, strlen(key), "x", 1, 0), 0);
	t0 = ft_now_ms();
	ft_assert_rc(ferry_wait(cs[m], key, strlen(key), TIMEOUT_MS), 0);
	/* No limit at all works the same for a key that is there. */
	ft_assert_rc(ferry_wait(cs[m], key, strlen(key), -1), 0);
	if (ft_now_ms() - t0 > WAKE_BOUND_MS)
		fail_msg("waiting for an existing key took %llu ms",
			 (unsigned long long)(ft_now_ms() - t0));
}

struct later_put {
	const char *key;
	unsigned delay_ms;
	uint64_t put_ms; /* when the put completed */
	int rc;
};

static void *put_later(void *arg)
{
	struct later_put *lp = arg;

	usleep(lp->delay_ms * 1000);
	lp->rc = ferry_put(writer, lp->key, strlen(lp->key), "now", 3, 0);
	lp->put_ms = ft_now_ms();
	return NULL;
}

/* Another client (in another thread) writes the key while this one
 * waits; the waiter wakes soon after the write. */
static void test_wait_wakes(void **state)
{
	enum ft_mode m = mode_of(state);
	char key[64];
	struct later_put lp = {.key = key, .delay_ms = 200};
	uint64_t t0, woke;
	pthread_t th;
	int rc;

	mkey(key, "w/later", m);
	ferry_del(writer, key, strlen(key));
	drain(cs[m]);
	t0 = ft_now_ms();
	assert_int_equal(pthread_create(&th, NULL, put_later, &lp), 0);
	rc = ferry_wait(cs[m], key, strlen(key), TIMEOUT_MS);
	woke = ft_now_ms();
	pthread_join(th, NULL);
	ft_assert_rc(lp.rc, 0);
	ft_assert_rc(rc, 0);
	/* It waited for the put (which started 200 ms in), and woke soon
	 * after: the put's reply and the event race, so the event may even
	 * be first. */
	if (woke < t0 + lp.delay_ms)
		fail_msg("ferry_wait returned after %llu ms, before the put",
			 (unsigned long long)(woke - t0));
	if (woke > lp.put_ms + WAKE_BOUND_MS)
		fail_msg("ferry_wait woke %llu ms after the put",
			 (unsigned long long)(woke - lp.put_ms));
	fprintf(stderr, "# %s: woke %lld ms after the put returned\n",
		ft_mode_name[m], (long long)woke - (long long)lp.put_ms);
	/* ferry_wait unwatched: nothing more comes for that key. */
	ft_assert_rc(ferry_put(writer, key, strlen(key), "again", 5, 0), 0);
	expect_quiet(cs[m]);
}

static void test_wait_timeout(void **state)
{
	enum ft_mode m = mode_of(state);
	char key[64];
	uint64_t t0, took;

	mkey(key, "w/never", m);
	ferry_del(writer, key, strlen(key));
	t0 = ft_now_ms();
	ft_assert_rc(ferry_wait(cs[m], key, strlen(key), SHORT_MS),
		     FERRY_ETIMEDOUT);
	took = ft_now_ms() - t0;
	if (took < SHORT_MS || took > SHORT_MS + 5000)
		fail_msg("a %d ms wait took %llu ms", SHORT_MS,
			 (unsigned long long)took);
	ft_assert_rc(ferry_wait(cs[m], key, strlen(key), 0), FERRY_ETIMEDOUT);
	/* A key deleted meanwhile is no reason to wake. */
	ft_assert_rc(ferry_put(writer, key, strlen(key), "x", 1, 0), 0);
	ft_assert_rc(ferry_del(writer, key, strlen(key)), 0);
	ft_assert_rc(ferry_wait(cs[m], key, strlen(key), 100), FERRY_ETIMEDOUT);
}

/* ferry_wait takes only its own events: those of other watches stay. */
static void test_wait_keeps_others(void **state)
{
	enum ft_mode m = mode_of(state);
	char pfx[64], key[64], other[64];
	uint64_t w;

	mprefix(pfx, NULL, "wk", m);
	snprintf(key, sizeof(key), "%.50sawaited", pfx);
	snprintf(other, sizeof(other), "%.50sother", pfx);
	ferry_del(writer, key, strlen(key));
	drain(cs[m]);
	ft_assert_rc(ferry_watch(cs[m], pfx, strlen(pfx), 0, &w), 0);
	ft_assert_rc(ferry_put(writer, other, strlen(other), "o", 1, 0), 0);
	ft_assert_rc(ferry_put(writer, key, strlen(key), "k", 1, 0), 0);
	ft_assert_rc(ferry_wait(cs[m], key, strlen(key), EVENT_MS), 0);
	/* Both events stayed queued for the watch: the two keys may live on
	 * different servers, whose events have no order between them. */
	for (int seen = 0, i = 0; i < 2; i++) {
		ferry_event ev;
		int which;
		ft_assert_rc(ferry_event_next(cs[m], &ev, EVENT_MS), 1);
		which = ev.klen == strlen(key) && !memcmp(ev.key, key, ev.klen)
				? 1
			: ev.klen == strlen(other) &&
					!memcmp(ev.key, other, ev.klen)
				? 2
				: 0;
		if (ev.watch != w || ev.kind != FERRY_EV_SET || !which ||
		    (seen & which))
			fail_msg("event %d on %.*s, expected one SET each on %s "
				 "and %s",
				 ev.kind, (int)ev.klen, ev.key, key, other);
		seen |= which;
	}
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
}

/* ---- watches ------------------------------------------------------------------ */

/* Every kind of change to one key, from another client, arrives in the
 * order the server made them. */
static void test_prefix_order(void **state)
{
	enum ft_mode m = mode_of(state);
	char pfx[64], key[64];
	size_t kl;
	uint64_t w;
	int changed;

	mprefix(pfx, NULL, "ord", m);
	snprintf(key, sizeof(key), "%.50skey", pfx);
	kl = strlen(key);
	ferry_del(writer, key, kl);
	drain(cs[m]);
	ft_assert_rc(ferry_watch(cs[m], pfx, strlen(pfx), 0, &w), 0);
	ft_assert_rc(ferry_put(writer, key, kl, "a", 1, 0), 0);
	ft_assert_rc(ferry_expire(writer, key, kl, fr_wall_ms() + FAR_MS, 0,
				  &changed),
		     0);
	ft_assert_rc(ferry_expire(writer, key, kl, 0, 0, &changed), 0);
	ft_assert_rc(ferry_del(writer, key, kl), 0);
	ft_assert_rc(ferry_incr(writer, key, kl, 5, NULL), 0);
	/* A put already expired removes the counter: a delete. */
	put_ttl(writer, key, 1);
	/* An expiry already past deletes too. */
	ft_assert_rc(ferry_put(writer, key, kl, "b", 1, 0), 0);
	ft_assert_rc(ferry_expire(writer, key, kl, 1, 0, &changed), 0);
	/* And a short lifetime ends with nobody touching the key. */
	put_ttl(writer, key, fr_wall_ms() + SHORT_MS);
	expect_event(cs[m], w, FERRY_EV_SET, key);
	expect_event(cs[m], w, FERRY_EV_EXPIRE, key);
	expect_event(cs[m], w, FERRY_EV_PERSIST, key);
	expect_event(cs[m], w, FERRY_EV_DEL, key);
	expect_event(cs[m], w, FERRY_EV_INCR, key);
	expect_event(cs[m], w, FERRY_EV_DEL, key);
	expect_event(cs[m], w, FERRY_EV_SET, key);
	expect_event(cs[m], w, FERRY_EV_DEL, key);
	expect_event(cs[m], w, FERRY_EV_SET, key);
	expect_event(cs[m], w, FERRY_EV_EXPIRE, key); /* a put with expiry */
	expect_event(cs[m], w, FERRY_EV_EXPIRED, key);
	expect_quiet(cs[m]);
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
}

static void test_exact_ignores_others(void **state)
{
	enum ft_mode m = mode_of(state);
	char key[64], longer[80], other[64];
	uint64_t w;

	mkey(key, "ex/a", m);
	snprintf(longer, sizeof(longer), "%sb", key);
	mkey(other, "ex/b", m);
	drain(cs[m]);
	ft_assert_rc(ferry_watch(cs[m], key, strlen(key), FERRY_WATCH_EXACT,
				 &w),
		     0);
	ft_assert_rc(ferry_put(writer, longer, strlen(longer), "1", 1, 0), 0);
	ft_assert_rc(ferry_put(writer, other, strlen(other), "1", 1, 0), 0);
	ft_assert_rc(ferry_put(writer, key, strlen(key), "1", 1, 0), 0);
	expect_event(cs[m], w, FERRY_EV_SET, key);
	expect_quiet(cs[m]);
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
}

/* A key of FERRY_KEY_MAX bytes can be watched, as a key and as a prefix:
 * the namespace id the server puts in front does not count. */
static void test_longest_key(void **state)
{
	enum ft_mode m = mode_of(state);
	char key[FERRY_KEY_MAX + 1];
	uint64_t w;

	memset(key, 'k', FERRY_KEY_MAX);
	key[FERRY_KEY_MAX] = 0;
	memcpy(key, ft_mode_name[m], strlen(ft_mode_name[m]));
	drain(cs[m]);
	for (unsigned flags = 0; flags <= FERRY_WATCH_EXACT;
	     flags += FERRY_WATCH_EXACT) {
		ft_assert_rc(ferry_watch(cs[m], key, FERRY_KEY_MAX, flags, &w),
			     0);
		ft_assert_rc(
		    ferry_put(writer, key, FERRY_KEY_MAX, "1", 1, 0), 0);
		expect_event(cs[m], w, FERRY_EV_SET, key);
		ft_assert_rc(ferry_unwatch(cs[m], w), 0);
	}
	ft_assert_rc(ferry_del(writer, key, FERRY_KEY_MAX), 0);
}

static void test_unwatch_stops(void **state)
{
	enum ft_mode m = mode_of(state);
	char key[64];
	uint64_t w = watch_heard(m, "un", key);

	/* Events queued, not yet taken, go with the watch. */
	ft_assert_rc(ferry_put(writer, key, strlen(key), "2", 1, 0), 0);
	ft_assert_rc(ferry_del(writer, key, strlen(key)), 0);
	usleep(100000);
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
	expect_quiet(cs[m]);
	ft_assert_rc(ferry_put(writer, key, strlen(key), "3", 1, 0), 0);
	expect_quiet(cs[m]);
	ft_assert_rc(ferry_unwatch(cs[m], w), FERRY_EINVAL);
}

/* 1000 exact watches on distinct keys, in one client: a batch of puts
 * from another client wakes every one of them, once. */
static void test_many_waiters(void **state)
{
	enum ft_mode m = mode_of(state);
	uint64_t *ids = calloc(WAITERS, sizeof(*ids));
	char (*keys)[64] = calloc(WAITERS, sizeof(*keys));
	ferry_op *ops = calloc(WAITERS, sizeof(*ops));
	uint8_t *seen = calloc(WAITERS, 1);
	size_t got = 0;
	ferry_event ev;

	assert_true(ids && keys && ops && seen);
	drain(cs[m]);
	for (int i = 0; i < WAITERS; i++) {
		snprintf(keys[i], 64, "many/%s/%d", ft_mode_name[m], i);
		ft_assert_rc(ferry_watch(cs[m], keys[i], strlen(keys[i]),
					 FERRY_WATCH_EXACT, &ids[i]),
			     0);
		ops[i] = (ferry_op){.opcode = FERRY_OP_PUT, .key = keys[i],
				    .klen = strlen(keys[i]), .buf = "v",
				    .len = 1};
	}
	ft_assert_rc(ferry_batch(writer, ops, WAITERS), 0);
	while (got < WAITERS) {
		int rc = ferry_event_next(cs[m], &ev, EVENT_MS), i;
		if (rc != 1)
			fail_msg("%zu of %d waiters woke", got, WAITERS);
		assert_int_equal(ev.kind, FERRY_EV_SET);
		for (i = 0; i < WAITERS && ids[i] != ev.watch; i++)
			;
		assert_true(i < WAITERS);
		assert_int_equal(ev.klen, strlen(keys[i]));
		assert_memory_equal(ev.key, keys[i], ev.klen);
		if (seen[i]++)
			fail_msg("waiter %d woke twice", i);
		got++;
	}
	for (int i = 0; i < WAITERS; i++)
		ft_assert_rc(ferry_unwatch(cs[m], ids[i]), 0);
	expect_quiet(cs[m]);
	free(ids);
	free(keys);
	free(ops);
	free(seen);
}

/* A key with prefix pfx that lives on server s. */
static void key_on(char *key, const char *pfx, unsigned s)
{
	for (int i = 0; i < 10000; i++) {
		snprintf(key, 64, "%.50s%d", pfx, i);
		if (ft_owner(cl, key, strlen(key)) == s)
			return;
	}
	fail_msg("no key on server %u", s);
}

/* Events of keys on each of the two servers reach one prefix watch. */
static void test_both_servers(void **state)
{
	enum ft_mode m = mode_of(state);
	char pfx[64], key[2][64];
	int seen[2] = {0, 0};
	uint64_t w;

	mprefix(pfx, NULL, "both", m);
	key_on(key[0], pfx, 0);
	key_on(key[1], pfx, 1);
	drain(cs[m]);
	ft_assert_rc(ferry_watch(cs[m], pfx, strlen(pfx), 0, &w), 0);
	for (int s = 0; s < 2; s++)
		ft_assert_rc(ferry_put(writer, key[s], strlen(key[s]), "v", 1,
				       0),
			     0);
	for (int n = 0; n < 2; n++) {
		ferry_event ev;
		assert_int_equal(ferry_event_next(cs[m], &ev, EVENT_MS), 1);
		assert_int_equal(ev.kind, FERRY_EV_SET);
		for (int s = 0; s < 2; s++)
			if (ev.klen == strlen(key[s]) &&
			    !memcmp(ev.key, key[s], ev.klen))
				seen[s]++;
	}
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
}

/* Forks a process that connects in mode m (a client of its own: fork and
 * an open fabric endpoint do not mix), watches pfx, says so, then runs
 * then(client) and exits with its result. Returns once it watches. */
static pid_t fork_watcher(enum ft_mode m, const char *pfx,
			  int (*then)(ferry_client *c))
{
	int ready[2], status;
	pid_t pid;
	char c;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ferry_opts o;
		ferry_client *cc;
		uint64_t id;
		close(ready[0]);
		ft_opts_mode(cl, m, &o);
		if (ferry_connect(&o, &cc) ||
		    ferry_watch(cc, pfx, strlen(pfx), 0, &id) ||
		    write(ready[1], "r", 1) != 1)
			_exit(2);
		_exit(then(cc));
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		fail_msg("the watcher child could not watch");
	}
	close(ready[0]);
	return pid;
}

static int never_reads(ferry_client *c)
{
	for (;;)
		pause();
	return 0;
}

/* Clients the servers of cluster k know, asked through wr, summed. */
static uint64_t peers_of(const ft_cluster *k, ferry_client *wr)
{
	ferry_server_stat st[FT_MAX_SERVERS];
	int n = ferry_cluster_stat(wr, st, FT_MAX_SERVERS);
	uint64_t sum = 0;

	assert_int_equal(n, k->n);
	for (int i = 0; i < n; i++) {
		ft_assert_rc(st[i].status, 0);
		sum += st[i].peers;
	}
	return sum;
}

static uint64_t peers_known(void)
{
	return peers_of(cl, writer);
}

/* A watcher killed with SIGKILL, with events on their way to it: the
 * servers (and the proxy) keep serving, and other watchers keep hearing.
 * On shm the servers forget a direct one within seconds, and remove its
 * region, since nobody holds that any more (src/fabric/region.h); over
 * tcp a dead peer says nothing, and is forgotten once silent for the
 * servers' watcher time-out (test_silent_watcher). The child makes its
 * own client after the fork. */
static void test_dead_watcher(void **state)
{
	enum ft_mode m = mode_of(state);
	char pfx[64], key[64];
	int shm_direct = m == FT_DIRECT && !strcmp(ft_provider(), "shm");
	uint64_t w, peers = peers_known(), end;
	int status;
	pid_t pid;

	mprefix(pfx, NULL, "dead", m);
	pid = fork_watcher(m, pfx, never_reads);
	if (shm_direct)
		assert_true(peers_known() > peers && ft_shm_regions(pid) > 0);
	drain(cs[m]);
	ft_assert_rc(ferry_watch(cs[m], pfx, strlen(pfx), 0, &w), 0);
	/* Events flow to both, then the child dies. */
	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "%s%d", pfx, i);
		ft_assert_rc(ferry_put(writer, key, strlen(key), "v", 1, 0), 0);
		expect_event(cs[m], w, FERRY_EV_SET, key);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "%s%d", pfx, i % 100);
		ft_assert_rc(ferry_put(writer, key, strlen(key), "v", 1, 0), 0);
		expect_event(cs[m], w, FERRY_EV_SET, key);
	}
	for (unsigned s = 0; s < cl->n; s++)
		assert_true(ft_server_alive(cl, s));
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
	if (!shm_direct)
		return;
	end = ft_now_ms() + 10000;
	while (peers_known() != peers && ft_now_ms() < end)
		usleep(50000);
	assert_int_equal(peers_known(), peers);
	assert_true(ft_shm_regions_gone(pid, 1000));
}

/* After a restart that lost events: the next event of watch w, within
 * ms, is LOST. Returns how long it took. */
static uint64_t expect_lost(ferry_client *c, uint64_t w, int ms)
{
	uint64_t t0 = ft_now_ms();
	ferry_event ev;
	int rc = ferry_event_next(c, &ev, ms);

	if (rc != 1 || ev.kind != FERRY_EV_LOST || ev.watch != w)
		fail_msg("after the restart: %d, kind %d, expected LOST", rc,
			 rc == 1 ? (int)ev.kind : 0);
	return ft_now_ms() - t0;
}

/* Then writing key again (until the watch is registered anew: more LOST
 * events may come while the client greets the new process) brings its
 * SET. */
static void heard_again(ferry_client *c, ferry_client *wr, uint64_t w,
			const char *key)
{
	uint64_t end = ft_now_ms() + 20000;
	ferry_event ev;
	int rc;

	for (;;) {
		if (ft_now_ms() > end)
			fail_msg("no event after the restart");
		ft_assert_rc(ferry_put(wr, key, strlen(key), "v", 1, 0), 0);
		rc = ferry_event_next(c, &ev, 1000);
		assert_true(rc >= 0);
		if (rc == 1 && ev.kind != FERRY_EV_LOST)
			break;
	}
	assert_int_equal(ev.watch, w);
	assert_int_equal(ev.kind, FERRY_EV_SET);
	assert_int_equal(ev.klen, strlen(key));
	assert_memory_equal(ev.key, key, ev.klen);
}

static void lost_then_heard(ferry_client *c, ferry_client *wr, uint64_t w,
			    const char *key)
{
	expect_lost(c, w, 20000);
	heard_again(c, wr, w, key);
}

/* A server restarts, forgets every client and watch, and says nothing.
 * It runs last: other clients' connections to the old process are
 * broken, and no case after it depends on them.
 * - Clients that only wait, in every mode (through the proxy, its warm
 *   client waits for them), greet a watched server they have not heard
 *   from for a second; the new process answers with another BOOT, so
 *   the watches are registered again: a LOST event within seconds, then
 *   events again.
 * - A client quiet for a second greets a server, and its next request
 *   waits for the answer: a new process is greeted again over a new
 *   connection (libfabric 1.17 shm would deliver the request as from an
 *   unknown sender), and a HELLO unanswered for 200 ms is sent again over
 *   a new one (tcp: a send into a connection whose peer ended can pass
 *   without error). So the first request after the restart is answered,
 *   by the new process, without the client reconnecting. */
static void test_server_restart(void **state)
{
	ferry_client *c[FT_NMODES], *wr;
	char pfx[FT_NMODES][64], key[FT_NMODES][64];
	uint64_t w[FT_NMODES], t, ms;
	int rc;

	c[FT_DIRECT] = ft_connect_mode(cl, FT_DIRECT, 1000);
	c[FT_PROXY_UNIX] = cs[FT_PROXY_UNIX];
	c[FT_PROXY_TCP] = cs[FT_PROXY_TCP];
	wr = ft_connect_mode(cl, FT_DIRECT, 5000);
	for (int m = 0; m < FT_NMODES; m++) {
		mprefix(pfx[m], NULL, "rst", (enum ft_mode)m);
		key_on(key[m], pfx[m], 0);
		drain(c[m]);
		ft_assert_rc(ferry_watch(c[m], pfx[m], strlen(pfx[m]), 0,
					 &w[m]),
			     0);
		ft_assert_rc(ferry_put(wr, key[m], strlen(key[m]), "v", 1, 0),
			     0);
		expect_event(c[m], w[m], FERRY_EV_SET, key[m]);
	}
	t = ft_now_ms(); /* wr last heard from server 0 */
	ft_server_restart(cl, 0, server_args);
	for (int m = 0; m < FT_NMODES; m++) {
		ms = expect_lost(c[m], w[m], EVENT_MS);
		print_message("%s: LOST %llu ms after the restart\n",
			      ft_mode_name[m], (unsigned long long)ms);
	}
	/* wr has been quiet for a second, and made no progress meanwhile. */
	while (ft_now_ms() < t + 1100)
		usleep(10000);
	t = ft_now_ms();
	rc = ferry_put(wr, key[0], strlen(key[0]), "v", 1, 0);
	print_message("the first put after the restart: %d in %llu ms\n", rc,
		      (unsigned long long)(ft_now_ms() - t));
	ft_assert_rc(rc, 0);
	for (int m = 0; m < FT_NMODES; m++) {
		heard_again(c[m], wr, w[m], key[m]);
		ft_assert_rc(ferry_unwatch(c[m], w[m]), 0);
	}
	ferry_close(wr);
	ferry_close(c[FT_DIRECT]);
}

/* Proxy modes: the proxy restarts; a client waiting for events
 * reconnects, registers its watches again, and hears a LOST event, then
 * events again. */
static void test_proxy_restart(void **state)
{
	enum ft_mode m = mode_of(state);
	char key[64];
	uint64_t w = watch_heard(m, "prs", key);

	ft_proxy_restart(cl);
	lost_then_heard(cs[m], writer, w, key);
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
}

/* Puts n values under pfx (on 64 keys) from client c, in batches. */
static void put_many(ferry_client *c, const char *pfx, int n)
{
	enum { BATCH = 1000 };
	static char keys[64][64];
	static ferry_op ops[BATCH];

	for (int k = 0; k < 64; k++)
		snprintf(keys[k], sizeof(keys[k]), "%.50s%d", pfx, k);
	for (int done = 0; done < n; done += BATCH) {
		int b = n - done < BATCH ? n - done : BATCH;
		for (int i = 0; i < b; i++)
			ops[i] = (ferry_op){.opcode = FERRY_OP_PUT,
					    .key = keys[(done + i) % 64],
					    .klen = strlen(keys[(done + i) % 64]),
					    .buf = "v",
					    .len = 1};
		ft_assert_rc(ferry_batch(c, ops, (size_t)b), 0);
	}
}

/* The client holds at most 65536 events: a client busy with its own
 * requests, taking no events meanwhile, keeps the first 65536, then one
 * LOST; its watch goes on working. */
static void test_client_queue_bound(void **state)
{
	enum ft_mode m = mode_of(state);
	char pfx[64], key[64];
	ferry_event ev;
	int sets = 0, rc;
	uint64_t w;

	mprefix(pfx, key, "cq", m);
	drain(cs[m]);
	ft_assert_rc(ferry_watch(cs[m], pfx, strlen(pfx), 0, &w), 0);
	/* The events of its own puts arrive while it waits for their
	 * replies. */
	put_many(cs[m], pfx, 70000);
	while ((rc = ferry_event_next(cs[m], &ev, 2000)) == 1 &&
	       ev.kind == FERRY_EV_SET)
		sets++;
	assert_int_equal(rc, 1);
	assert_int_equal(ev.kind, FERRY_EV_LOST);
	assert_true(ev.watch == w && ev.klen == 0);
	if (sets != 65536)
		fail_msg("%d events before LOST, expected 65536", sets);
	/* Events that came once there was room again follow; no LOST. */
	while ((rc = ferry_event_next(cs[m], &ev, QUIET_MS)) == 1)
		assert_int_equal(ev.kind, FERRY_EV_SET);
	ft_assert_rc(ferry_put(writer, key, strlen(key), "v", 1, 0), 0);
	expect_event(cs[m], w, FERRY_EV_SET, key);
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
}

/* A watcher that stops reading (SIGSTOP) while 100000 events are due:
 * the servers keep serving, drop what they cannot hold, and once the
 * watcher reads again it gets a LOST event, then events again. */
/* The slow watcher: stops itself, then, continued, reads until a LOST
 * came and a second passed quietly. */
static int stops_then_reads(ferry_client *c)
{
	ferry_event ev;
	int rc, lost = 0, n = 0;

	raise(SIGSTOP);
	while ((rc = ferry_event_next(c, &ev, 1000)) == 1) {
		lost |= ev.kind == FERRY_EV_LOST;
		n++;
	}
	fprintf(stderr, "# slow watcher: %d events, LOST %s\n", n,
		lost ? "seen" : "not seen");
	return rc == 0 && lost ? 0 : 1;
}

static void test_server_drops_for_slow_watcher(void **state)
{
	enum ft_mode m = mode_of(state);
	char pfx[64];
	int status;
	pid_t pid;

	mprefix(pfx, NULL, "slow", m);
	pid = fork_watcher(m, pfx, stops_then_reads);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));
	put_many(writer, pfx, 100000);
	for (unsigned s = 0; s < cl->n; s++)
		assert_true(ft_server_alive(cl, s));
	kill(pid, SIGCONT);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the slow watcher saw no LOST event (status 0x%x)",
			 status);
}

/* 1 once every server of k logged that it dropped a silent client's
 * watches. */
static int dropped_by_all(const ft_cluster *k)
{
	for (unsigned i = 0; i < k->n; i++)
		if (!ft_file_has(k->logs[i], "dropping the watches of a client"))
			return 0;
	return 1;
}

/* A watcher silent past the servers' watcher time-out loses its watches
 * there (over tcp a dead one would otherwise have its events, and its
 * address dialled, retried for ever). Once it greets again, the reply
 * says so (FRESH): it registers its watch again, gets a LOST event, then
 * events again. A direct client is silent when nothing
 * calls into it; through a proxy the servers' peer is the proxy, which is
 * stopped with SIGSTOP. A watcher that keeps waiting beside it meanwhile,
 * as live ones do, is kept and loses nothing. A cluster of its own, whose servers
 * forget silent watchers after 2 s. */
static void test_silent_watcher(void **state)
{
	static const char *const args[] = {"--memory", "16M",
					   "--watcher-timeout", "2s", NULL};
	enum ft_mode m = mode_of(state);
	ft_cluster *own = ft_cluster_start(2, args);
	ferry_client *c, *wr, *keeper;
	char pfx[64], key[64];
	uint64_t w, kw, peers, end;
	ferry_event ev;
	int rc, dropped;

	ft_proxy_start(own);
	c = ft_connect_mode(own, m, TIMEOUT_MS);
	wr = ft_connect_mode(own, FT_DIRECT, TIMEOUT_MS);
	keeper = ft_connect_mode(own, FT_DIRECT, TIMEOUT_MS);
	mprefix(pfx, key, "silent", m);
	ft_assert_rc(ferry_watch(c, pfx, strlen(pfx), 0, &w), 0);
	ft_assert_rc(ferry_watch(keeper, pfx, strlen(pfx), 0, &kw), 0);
	ft_assert_rc(ferry_put(wr, key, strlen(key), "1", 1, 0), 0);
	expect_event(c, w, FERRY_EV_SET, key);
	expect_event(keeper, kw, FERRY_EV_SET, key);
	peers = peers_of(own, wr);
	if (m != FT_DIRECT)
		kill(own->proxy_pid, SIGSTOP);
	/* An event while it is silent, then its servers forget it. */
	ft_assert_rc(ferry_put(wr, key, strlen(key), "2", 1, 0), 0);
	expect_event(keeper, kw, FERRY_EV_SET, key);
	end = ft_now_ms() + 15000;
	while (!(dropped = dropped_by_all(own)) && ft_now_ms() < end)
		if (ferry_event_next(keeper, &ev, 100) != 0)
			fail_msg("the keeper heard kind %d while waiting",
				 ev.kind);
	if (m != FT_DIRECT)
		kill(own->proxy_pid, SIGCONT);
	if (!dropped)
		fail_msg("the servers still hold the silent watcher's watches "
			 "after 15 s");
	/* They keep it as a peer (see check_peers in src/server/server.c). */
	assert_int_equal(peers_of(own, wr), peers);
	/* The keeper, waiting all along, lost nothing. */
	expect_quiet(keeper);
	ferry_close(keeper);
	/* It may still hear the event sent before it was forgotten. */
	rc = ferry_event_next(c, &ev, EVENT_MS);
	if (rc == 1 && ev.kind == FERRY_EV_SET)
		rc = ferry_event_next(c, &ev, EVENT_MS);
	if (rc != 1 || ev.kind != FERRY_EV_LOST || ev.watch != w)
		fail_msg("after its silence: %d, kind %d, expected LOST", rc,
			 rc == 1 ? (int)ev.kind : 0);
	heard_again(c, wr, w, key);
	ferry_close(wr);
	ferry_close(c);
	ft_cluster_stop(own);
}

static void test_bad_arguments(void **state)
{
	enum ft_mode m = mode_of(state);
	char big[FERRY_KEY_MAX + 1];
	ferry_event ev;
	uint64_t w;

	memset(big, 'k', sizeof(big));
	ft_assert_rc(ferry_watch(cs[m], "", 0, FERRY_WATCH_EXACT, &w),
		     FERRY_EINVAL);
	ft_assert_rc(ferry_watch(cs[m], "a", 1, 0x80, &w), FERRY_EINVAL);
	ft_assert_rc(ferry_watch(cs[m], "a", 1, 0, NULL), FERRY_EINVAL);
	ft_assert_rc(ferry_watch(cs[m], NULL, 3, 0, &w), FERRY_EINVAL);
	ft_assert_rc(ferry_watch(cs[m], big, sizeof(big), 0, &w), FERRY_E2BIG);
	ft_assert_rc(ferry_unwatch(cs[m], 12345), FERRY_EINVAL);
	ft_assert_rc(ferry_event_next(cs[m], NULL, 0), FERRY_EINVAL);
	ft_assert_rc(ferry_event_next(NULL, &ev, 0), FERRY_EINVAL);
	ft_assert_rc(ferry_wait(cs[m], "", 0, 0), FERRY_EINVAL);
	ft_assert_rc(ferry_wait(cs[m], big, sizeof(big), 0), FERRY_E2BIG);
	/* A watch of every key (an empty prefix) is allowed. */
	ft_assert_rc(ferry_watch(cs[m], NULL, 0, 0, &w), 0);
	ft_assert_rc(ferry_unwatch(cs[m], w), 0);
}

int main(void)
{
	enum { ALL = 7, PROXY = 6 }; /* modes, as bits */
	static const struct {
		const char *name;
		CMUnitTestFunction fn;
		unsigned modes;
	} cases[] = {
	    {"wait_existing", test_wait_existing, ALL},
	    {"wait_wakes", test_wait_wakes, ALL},
	    {"wait_timeout", test_wait_timeout, ALL},
	    {"wait_keeps_others", test_wait_keeps_others, ALL},
	    {"prefix_order", test_prefix_order, ALL},
	    {"exact_ignores_others", test_exact_ignores_others, ALL},
	    {"longest_key", test_longest_key, ALL},
	    {"unwatch_stops", test_unwatch_stops, ALL},
	    {"many_waiters", test_many_waiters, ALL},
	    {"both_servers", test_both_servers, ALL},
	    {"dead_watcher", test_dead_watcher, ALL},
	    {"client_queue_bound", test_client_queue_bound, ALL},
	    {"server_drops_for_slow_watcher",
	     test_server_drops_for_slow_watcher, ALL},
	    {"silent_watcher", test_silent_watcher, ALL},
	    {"bad_arguments", test_bad_arguments, ALL},
	    {"proxy_restart", test_proxy_restart, PROXY},
	};
	static enum ft_mode modes[FT_NMODES] = {FT_DIRECT, FT_PROXY_UNIX,
						FT_PROXY_TCP};
	static char names[FT_NMODES * FR_ARRAY_LEN(cases)][64];
	struct CMUnitTest tests[FT_NMODES * FR_ARRAY_LEN(cases) + 1];
	size_t n = 0;

	for (int m = 0; m < FT_NMODES; m++)
		for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
			if (!(cases[i].modes & (1u << m)))
				continue;
			snprintf(names[n], sizeof(names[n]), "%s (%s)",
				 cases[i].name, ft_mode_name[m]);
			tests[n] = (struct CMUnitTest){
			    .name = names[n],
			    .test_func = cases[i].fn,
			    .initial_state = &modes[m],
			};
			n++;
		}
	tests[n++] = (struct CMUnitTest){.name = "server_restart (all modes)",
					 .test_func = test_server_restart};
	return _cmocka_run_group_tests("test_watch", tests, n, setup,
				       teardown);
}
