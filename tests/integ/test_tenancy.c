/*
 * Integration tests of namespaces through the node proxy (run once per
 * provider): two real ferry-servers and a ferry-proxy, all started with
 * an admin token, and functions that reach the proxy over its Unix socket
 * and over TCP (each case once per mode, "case (MODE)"). The proxy must
 * refuse a function without a token or with a wrong one, without
 * holding up others while it asks the servers about one (or while a
 * LIST or the admin's statistics wait for a stopped server); confine each
 * namespace's functions to their own keys (same key names, listings,
 * watches, waits); refuse namespace management and server statistics to
 * anyone but the admin, and do both for the admin; stop honouring a
 * namespace's token once the namespace is removed; keep a namespaced
 * waiter working across a restart of the proxy; and slow a namespace
 * down to its limits (operations and bytes per second, changeable while
 * it runs) without failing its requests or slowing another namespace.
 * Last, in direct mode: an admin's client (the proxy's kind) registers a
 * watch again in the namespace it was made in after a server restart.
 *
 * The rate cases assert lower bounds on time, which the token buckets
 * make exact (no machine is too fast for them), and compare the
 * unlimited namespace with the limited one run beside it.
 */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client_int.h" /* ferry_client.ns, as the proxy sets it */
#include "common/util.h"

#define TIMEOUT_MS 20000
#define EVENT_MS 5000
#define QUIET_MS 300
#define NPUTS 600
#define SLOW_OPS 200 /* NPUTS at SLOW_OPS/s: at least 2.9 s */

static const char *const server_args[] = {"--memory", "64M",
					  "--admin-token-file", NULL, NULL};
static const char *sargs[FR_ARRAY_LEN(server_args)]; /* with the path */
static ft_cluster *cl;
static char admin_tok[FERRY_TOKEN_LEN + 1];
static ferry_client *admin; /* direct, with the admin token */
static char tok_a[FERRY_TOKEN_LEN + 1], tok_b[FERRY_TOKEN_LEN + 1];

static enum ft_mode mode_of(void **state)
{
	return *(enum ft_mode *)*state;
}

/* Connects in mode m with token tok (NULL: none). Returns the code. */
static int connect_as(enum ft_mode m, const char *tok, ferry_client **out)
{
	ferry_opts o;

	ft_opts_mode(cl, m, &o);
	o.timeout_ms = TIMEOUT_MS;
	o.token = tok ? tok : "";
	*out = NULL;
	return ferry_connect(&o, out);
}

static ferry_client *as(enum ft_mode m, const char *tok)
{
	ferry_client *c;
	int rc = connect_as(m, tok, &c);

	if (rc) {
		ft_dump_tail(cl->proxy_log, " (proxy)", 2000);
		fail_msg("connect (%s) with a token: %s", ft_mode_name[m],
			 ferry_strerror(rc));
	}
	return c;
}

/* Creates namespace "name-MODE" (limits from set, may be NULL) through
 * the direct admin client; its token to tok. */
static void ns_make(const char *name, enum ft_mode m, const ferry_ns_info *set,
		    char *tok)
{
	char full[FERRY_NS_NAME_MAX + 1];

	snprintf(full, sizeof(full), "%s-%s", name, ft_mode_name[m]);
	ft_assert_rc(ferry_ns_create(admin, full, set, tok), 0);
}

static void ns_drop(const char *name, enum ft_mode m)
{
	char full[FERRY_NS_NAME_MAX + 1];

	snprintf(full, sizeof(full), "%s-%s", name, ft_mode_name[m]);
	ft_assert_rc(ferry_ns_rm(admin, full), 0);
}

static void has_value(ferry_client *c, const char *key, const char *want)
{
	char buf[64];
	size_t got;

	ft_assert_rc(
	    ferry_get(c, key, strlen(key), 0, buf, sizeof(buf), &got, NULL), 0);
	if (got != strlen(want) || memcmp(buf, want, got))
		fail_msg("%s holds '%.*s', expected '%s'", key, (int)got, buf,
			 want);
}

static int setup(void **state)
{
	static const char *path;
	const char *proxy_args[3] = {"--admin-token-file", NULL, NULL};
	ferry_opts o;

	unsetenv("FERRY_TOKEN"); /* every client here names its own */
	path = ft_admin_token(admin_tok);
	memcpy(sargs, server_args, sizeof(sargs));
	sargs[3] = path;
	proxy_args[1] = path;
	cl = ft_cluster_start(2, sargs);
	ft_proxy_start_args(cl, proxy_args);
	ferry_opts_init(&o);
	o.cluster = cl->file;
	o.proxy = "direct";
	o.token = admin_tok;
	o.timeout_ms = TIMEOUT_MS;
	ft_assert_rc(ferry_connect(&o, &admin), 0);
	ft_assert_rc(ferry_ns_create(admin, "ja", NULL, tok_a), 0);
	ft_assert_rc(ferry_ns_create(admin, "jb", NULL, tok_b), 0);
	return 0;
}

static int teardown(void **state)
{
	ferry_close(admin);
	ft_cluster_stop(cl);
	ft_admin_token_rm();
	return 0;
}

/* ---- who may connect ------------------------------------------------------
 */

/* No token, a wrong one, or a namespace's token cut short: FERRY_EACCES
 * from ferry_connect (the proxy answers the HELLO so). */
static void test_refused(void **state)
{
	enum ft_mode m = mode_of(state);
	char wrong[FERRY_TOKEN_LEN + 1];
	ferry_client *c;

	memcpy(wrong, tok_a, sizeof(wrong));
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	ft_assert_rc(connect_as(m, NULL, &c), FERRY_EACCES);
	ft_assert_rc(connect_as(m, wrong, &c), FERRY_EACCES);
	wrong[0] = tok_a[0];
	wrong[FERRY_TOKEN_LEN - 1] = '\0';
	ft_assert_rc(connect_as(m, wrong, &c), FERRY_EACCES);
	assert_null(c);
	/* The right one works, and the admin's. */
	c = as(m, tok_a);
	ferry_close(c);
	c = as(m, admin_tok);
	ferry_close(c);
}

/* Starts a process that connects in mode m with the unknown token
 * number g, once the pipe gate (if not NULL) is closed; it exits 0 if
 * refused with FERRY_EACCES. */
static pid_t guess_at(enum ft_mode m, int g, const int *gate)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		char unknown[FERRY_TOKEN_LEN + 1], b;
		ferry_client *c;
		if (gate && (close(gate[1]) || read(gate[0], &b, 1) != 0))
			_exit(1);
		snprintf(unknown, sizeof(unknown), "%064x", g);
		_exit(connect_as(m, unknown, &c) == FERRY_EACCES ? 0 : 1);
	}
	return pid;
}

static pid_t guess(enum ft_mode m, int g)
{
	return guess_at(m, g, NULL);
}

static int refused(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void servers_signal(int sig)
{
	for (unsigned i = 0; i < cl->n; i++)
		ft_server_kill(cl, i, sig);
}

/* A token the proxy does not know costs it a question to the servers,
 * which must not hold up anyone else. First, a fresh proxy, which knows
 * no token, must wake for the answer alone (it once slept through it on
 * shm, and the function's HELLO timed out). Then, with the servers
 * stopped, functions presenting unknown tokens (more than the proxy asks
 * about at once) wait for the answers while another connection's
 * proxy-local request is served; once the servers go on, each unknown
 * token gets FERRY_EACCES. */
#define GUESSERS 40
static void test_unknown_token_waits_alone(void **state)
{
	enum ft_mode m = mode_of(state);
	pid_t pids[GUESSERS];
	ferry_proxy_stat ps;
	uint64_t t0, took;
	int nrefused = 0;
	ferry_client *a;

	ft_proxy_restart(cl);
	servers_signal(SIGSTOP);
	pids[0] = guess(m, 0);
	usleep(300 * 1000); /* its HELLO is at the proxy, asking, by now */
	servers_signal(SIGCONT);
	t0 = ft_now_ms();
	assert_true(refused(pids[0]));
	took = ft_now_ms() - t0;
	if (took > 3000)
		fail_msg("the refusal took %llu ms after the servers went on",
			 (unsigned long long)took);

	a = as(m, admin_tok);
	servers_signal(SIGSTOP);
	for (int g = 0; g < GUESSERS; g++)
		pids[g] = guess(m, g + 1);
	usleep(500 * 1000); /* their HELLOs are at the proxy by now */
	t0 = ft_now_ms();
	ft_assert_rc(ferry_proxy_stat_get(a, &ps), 0);
	took = ft_now_ms() - t0;
	assert_int_equal(waitpid(pids[0], NULL, WNOHANG), 0); /* waits */
	servers_signal(SIGCONT);
	for (int g = 0; g < GUESSERS; g++)
		nrefused += refused(pids[g]);
	if (took > 1000)
		fail_msg("a proxy-local request took %llu ms while unknown "
			 "tokens were being asked about",
			 (unsigned long long)took);
	assert_int_equal(nrefused, GUESSERS);
	ferry_close(a);
}

/* Requests the servers have served, all together. */
static uint64_t server_ops(void)
{
	ferry_server_stat st[2];
	uint64_t ops = 0;

	assert_int_equal(ferry_cluster_stat(admin, st, 2), 2);
	for (int i = 0; i < 2; i++) {
		ft_assert_rc(st[i].status, 0);
		ops += st[i].ops;
	}
	return ops;
}

/* A process that connects in mode m with token tok; it exits 0 if that
 * gives want. */
static pid_t login_as(enum ft_mode m, const char *tok, int want)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		ferry_client *c;
		int rc = connect_as(m, tok, &c);
		ferry_close(c);
		_exit(rc == want ? 0 : 1);
	}
	return pid;
}

/* A token unknown to the proxy is asked about once, however many
 * functions present it at the same time, and a refused one is refused
 * without asking again. */
#define SAME 20
static void test_one_question_per_token(void **state)
{
	enum ft_mode m = mode_of(state);
	char wrong[FERRY_TOKEN_LEN + 1];
	pid_t pids[2 * SAME];
	uint64_t ops;
	int ok = 0;

	memcpy(wrong, tok_b, sizeof(wrong));
	wrong[1] = wrong[1] == 'a' ? 'b' : 'a';
	ft_proxy_restart(cl); /* it knows no token */
	ops = server_ops();
	servers_signal(SIGSTOP);
	for (int i = 0; i < SAME; i++) {
		pids[i] = login_as(m, tok_a, 0);
		pids[SAME + i] = login_as(m, wrong, FERRY_EACCES);
	}
	usleep(500 * 1000); /* all HELLOs are at the proxy by now */
	servers_signal(SIGCONT);
	for (int i = 0; i < 2 * SAME; i++)
		ok += refused(pids[i]);
	assert_int_equal(ok, 2 * SAME);
	/* Two questions, the statistics asked here, refreshes of tok_a
	 * (one a second) and the logins' own requests: far from forty. */
	ops = server_ops() - ops;
	if (ops > 12)
		fail_msg("%d logins of two tokens cost the servers %llu "
			 "requests",
			 2 * SAME, (unsigned long long)ops);
	ops = server_ops();
	for (int i = 0; i < SAME; i++)
		ok += refused(login_as(m, wrong, FERRY_EACCES));
	assert_int_equal(ok, 3 * SAME);
	ops = server_ops() - ops;
	if (ops > 6)
		fail_msg("%d logins of a refused token cost the servers %llu "
			 "requests",
			 SAME, (unsigned long long)ops);
}

/* Unknown tokens reach the servers at a bounded rate: a flood of them
 * waits its turn (and the log says so), and each still gets its
 * refusal. The guessers start together (a gate), so that the flood comes
 * faster than the rate however slowly processes are made (a sanitized
 * build forks 300 of them in more than the 3 s the rate allows). */
#define FLOOD 300
static void test_login_rate(void **state)
{
	enum ft_mode m = mode_of(state);
	pid_t pids[FLOOD];
	int nrefused = 0, gate[2];

	assert_int_equal(truncate(cl->proxy_log, 0), 0); /* the log appends */
	ft_proxy_restart(cl);
	assert_false(ft_file_has(cl->proxy_log, "they wait their turn"));
	assert_int_equal(pipe(gate), 0);
	for (int g = 0; g < FLOOD; g++)
		pids[g] = guess_at(m, 1000 + g, gate);
	close(gate[1]); /* open */
	close(gate[0]);
	for (int g = 0; g < FLOOD; g++)
		nrefused += refused(pids[g]);
	assert_int_equal(nrefused, FLOOD);
	assert_true(ft_file_has(cl->proxy_log, "they wait their turn"));
}

/* A namespace's quota holds for all its keys together, through the
 * proxy as directly: 16 values of 4000 bytes under a 64 KiB quota over
 * two servers (32 KiB each), all on one server, fit (the proxy moves the
 * share the other server does not use), the 17th does not. */
static void test_quota_whole(void **state)
{
	enum ft_mode m = mode_of(state);
	char tok[FERRY_TOKEN_LEN + 1], name[32], key[32];
	ferry_ns_info set = {.quota = 64 * 1024}, info;
	static uint8_t val[4000];
	ferry_client *c;
	int stored = 0, i = 0;

	snprintf(name, sizeof(name), "whole-%s", ft_mode_name[m]);
	ft_assert_rc(ferry_ns_create(admin, name, &set, tok), 0);
	c = as(m, tok);
	memset(val, 'q', sizeof(val));
	for (;;) {
		int rc;
		do
			snprintf(key, sizeof(key), "w/%d", i++);
		while (ft_owner(cl, key, strlen(key)) != 0);
		rc = ferry_put(c, key, strlen(key), val, sizeof(val), 0);
		if (rc == FERRY_EQUOTA)
			break;
		ft_assert_rc(rc, 0);
		stored++;
	}
	assert_int_equal(stored, 16);
	ft_assert_rc(ferry_ns_stat(admin, name, &info), 0);
	assert_int_equal(info.used, 16 * sizeof(val));
	ferry_close(c);
	ft_assert_rc(ferry_ns_rm(admin, name), 0);
}

struct lister {
	ferry_client *c, *admin;
	int rc, nstat;
	size_t n;
	ferry_server_stat st[2];
};

static void *list_thread(void *arg)
{
	struct lister *l = arg;
	ferry_keys *k = NULL;

	l->rc = ferry_list(l->c, "", 0, NULL, 0, 100, &k);
	l->n = ferry_keys_count(k);
	ferry_keys_free(k);
	return NULL;
}

static void *stat_thread(void *arg)
{
	struct lister *l = arg;

	l->nstat = ferry_cluster_stat(l->admin, l->st, 2);
	return NULL;
}

/* One of the admin's namespace requests, on a client of its own. */
struct nsjob {
	ferry_client *c;
	uint8_t op; /* FR_OP_NS_* */
	char name[32];
	int rc, listed;
	ferry_ns_info info;
};

static void *ns_thread(void *arg)
{
	struct nsjob *j = arg;
	char tok[FERRY_TOKEN_LEN + 1];
	ferry_ns_info set = {.ops_per_s = 2000};
	ferry_keys *k = NULL;
	size_t len;

	switch (j->op) {
	case FR_OP_NS_CREATE:
		j->rc = ferry_ns_create(j->c, j->name, &set, tok);
		break;
	case FR_OP_NS_SET:
		j->rc = ferry_ns_set(j->c, j->name, FERRY_NS_SET_OPS, &set);
		break;
	case FR_OP_NS_STAT:
		j->rc = ferry_ns_stat(j->c, j->name, &j->info);
		break;
	case FR_OP_NS_DROP:
		j->rc = ferry_ns_rm(j->c, j->name);
		break;
	case FR_OP_NS_LIST:
		j->rc = ferry_ns_list(j->c, NULL, 1000, &k);
		for (size_t i = 0; i < ferry_keys_count(k); i++) {
			const char *n = ferry_keys_at(k, i, &len);
			j->listed |= len == strlen(j->name) &&
				     !memcmp(n, j->name, len);
		}
		ferry_keys_free(k);
		break;
	}
	return NULL;
}

/* A function's LIST, and the admin's server statistics and namespace
 * requests, wait for a server; while one is stopped, the proxy goes on
 * serving the others, and all end once it answers. */
static void test_waits_alone(void **state)
{
	enum ft_mode m = mode_of(state);
	static const uint8_t ops[] = {FR_OP_NS_CREATE, FR_OP_NS_SET,
				      FR_OP_NS_STAT, FR_OP_NS_LIST,
				      FR_OP_NS_DROP};
	enum { NJOBS = sizeof(ops) };
	struct lister l = {.c = as(m, tok_a), .admin = as(m, admin_tok)};
	ferry_client *a = as(m, admin_tok);
	char tok[FERRY_TOKEN_LEN + 1], old[32], kept[32];
	ferry_ns_info set = {.ops_per_s = 1000};
	struct nsjob jobs[NJOBS];
	ferry_proxy_stat ps;
	uint64_t t0, took;
	pthread_t th[2 + NJOBS];

	snprintf(old, sizeof(old), "wa-old-%s", ft_mode_name[m]);
	snprintf(kept, sizeof(kept), "wa-kept-%s", ft_mode_name[m]);
	ft_assert_rc(ferry_ns_create(a, old, &set, tok), 0);
	ft_assert_rc(ferry_ns_create(a, kept, &set, tok), 0);
	for (int i = 0; i < NJOBS; i++) {
		jobs[i] = (struct nsjob){.c = as(m, admin_tok), .op = ops[i]};
		snprintf(jobs[i].name, sizeof(jobs[i].name), "%s",
			 ops[i] == FR_OP_NS_DROP ? old : kept);
	}
	snprintf(jobs[0].name, sizeof(jobs[0].name), "wa-new-%s",
		 ft_mode_name[m]);
	ft_assert_rc(ferry_put(l.c, "lw/1", 4, "v", 1, 0), 0);
	ft_server_kill(cl, 0, SIGSTOP);
	assert_int_equal(pthread_create(&th[0], NULL, list_thread, &l), 0);
	assert_int_equal(pthread_create(&th[1], NULL, stat_thread, &l), 0);
	for (int i = 0; i < NJOBS; i++)
		assert_int_equal(
		    pthread_create(&th[2 + i], NULL, ns_thread, &jobs[i]), 0);
	usleep(300 * 1000); /* all wait for server 0 by now */
	t0 = ft_now_ms();
	ft_assert_rc(ferry_proxy_stat_get(a, &ps), 0);
	took = ft_now_ms() - t0;
	ft_server_kill(cl, 0, SIGCONT);
	for (int i = 0; i < 2 + NJOBS; i++)
		pthread_join(th[i], NULL);
	if (took > 1000)
		fail_msg("a proxy-local request took %llu ms while a LIST, "
			 "a server's statistics and namespace requests waited "
			 "for a stopped server",
			 (unsigned long long)took);
	ft_assert_rc(l.rc, 0);
	assert_true(l.n >= 1);
	assert_int_equal(l.nstat, 2);
	ft_assert_rc(l.st[0].status, 0);
	ft_assert_rc(l.st[1].status, 0);
	assert_true(l.st[0].keys + l.st[1].keys >= 1);
	for (int i = 0; i < NJOBS; i++) {
		ft_assert_rc(jobs[i].rc, 0);
		ferry_close(jobs[i].c);
	}
	/* The stat and the set raced: the limit is one or the other. */
	assert_true(jobs[2].info.ops_per_s == 1000 ||
		    jobs[2].info.ops_per_s == 2000);
	assert_true(jobs[3].listed);
	/* Each change took, on every server. */
	ft_assert_rc(ferry_ns_stat(a, kept, &set), 0);
	assert_int_equal(set.ops_per_s, 2000);
	ft_assert_rc(ferry_ns_stat(a, old, &set), FERRY_ENOENT);
	ft_assert_rc(ferry_ns_rm(a, jobs[0].name), 0);
	ft_assert_rc(ferry_ns_rm(a, kept), 0);
	ft_assert_rc(ferry_del(l.c, "lw/1", 4), 0);
	ferry_close(l.c);
	ferry_close(l.admin);
	ferry_close(a);
}

/* ---- isolation ------------------------------------------------------------
 */

/* The same key in two namespaces and in the default one: three values,
 * each seen only in its own; deleting one leaves the others. */
static void test_same_key(void **state)
{
	enum ft_mode m = mode_of(state);
	ferry_client *a = as(m, tok_a), *b = as(m, tok_b);
	ferry_client *ad = as(m, admin_tok);
	char key[64];

	snprintf(key, sizeof(key), "same/%s", ft_mode_name[m]);
	ft_assert_rc(ferry_put(a, key, strlen(key), "from-a", 6, 0), 0);
	ft_assert_rc(ferry_stat_key(b, key, strlen(key), NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_stat_key(ad, key, strlen(key), NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_put(b, key, strlen(key), "from-b", 6, 0), 0);
	ft_assert_rc(ferry_put(ad, key, strlen(key), "from-admin", 10, 0), 0);
	has_value(a, key, "from-a");
	has_value(b, key, "from-b");
	has_value(ad, key, "from-admin");
	/* Create-only sees only its own namespace's key. */
	ft_assert_rc(ferry_put(b, key, strlen(key), "x", 1, FERRY_PUT_CREATE),
		     FERRY_EEXIST);
	ft_assert_rc(ferry_del(a, key, strlen(key)), 0);
	ft_assert_rc(ferry_del(a, key, strlen(key)), FERRY_ENOENT);
	has_value(b, key, "from-b");
	has_value(ad, key, "from-admin");
	ft_assert_rc(ferry_del(b, key, strlen(key)), 0);
	ft_assert_rc(ferry_del(ad, key, strlen(key)), 0);
	ferry_close(a);
	ferry_close(b);
	ferry_close(ad);
}

static size_t count_keys(ferry_client *c, const char *prefix)
{
	ferry_keys *k;
	size_t n, len;

	ft_assert_rc(ferry_list(c, prefix, strlen(prefix), NULL, 0, 1000, &k),
		     0);
	n = ferry_keys_count(k);
	for (size_t i = 0; i < n; i++) {
		const char *key = ferry_keys_at(k, i, &len);
		assert_true(len >= strlen(prefix) &&
			    !memcmp(key, prefix, strlen(prefix)));
	}
	ferry_keys_free(k);
	return n;
}

/* A listing shows the caller's namespace's keys only, never its prefix. */
static void test_list(void **state)
{
	enum ft_mode m = mode_of(state);
	ferry_client *a = as(m, tok_a), *b = as(m, tok_b);
	char pfx[64], key[80];

	snprintf(pfx, sizeof(pfx), "lst/%s/", ft_mode_name[m]);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "%s%d", pfx, i);
		ft_assert_rc(ferry_put(a, key, strlen(key), "v", 1, 0), 0);
	}
	snprintf(key, sizeof(key), "%sb", pfx);
	ft_assert_rc(ferry_put(b, key, strlen(key), "v", 1, 0), 0);
	assert_int_equal(count_keys(a, pfx), 5);
	assert_int_equal(count_keys(b, pfx), 1);
	assert_int_equal(count_keys(admin, pfx), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "%s%d", pfx, i);
		ft_assert_rc(ferry_del(a, key, strlen(key)), 0);
	}
	snprintf(key, sizeof(key), "%sb", pfx);
	ft_assert_rc(ferry_del(b, key, strlen(key)), 0);
	ferry_close(a);
	ferry_close(b);
}

static void expect_event(ferry_client *c, uint64_t w, ferry_event_kind kind,
			 const char *key)
{
	ferry_event ev;
	int rc = ferry_event_next(c, &ev, EVENT_MS);

	if (rc != 1)
		fail_msg("no event (%d) where %d on %s was due", rc, kind, key);
	if (ev.watch != w || ev.kind != kind || ev.klen != strlen(key) ||
	    memcmp(ev.key, key, ev.klen))
		fail_msg("event %d on %.*s, expected %d on %s", ev.kind,
			 (int)ev.klen, ev.key, kind, key);
}

static void expect_quiet(ferry_client *c)
{
	ferry_event ev;
	int rc = ferry_event_next(c, &ev, QUIET_MS);

	if (rc != 0)
		fail_msg("an event (%d) from another namespace: kind %d on "
			 "%.*s",
			 rc, ev.kind, (int)ev.klen, ev.key);
}

/* Two namespaces watch the same prefix (and two functions of one share
 * the proxy's watch): each hears only its own namespace's writes. */
static void test_watch(void **state)
{
	enum ft_mode m = mode_of(state);
	ferry_client *a = as(m, tok_a), *a2 = as(m, tok_a), *b = as(m, tok_b);
	uint64_t wa, wa2, wb;
	char pfx[64], key[80];

	snprintf(pfx, sizeof(pfx), "wat/%s/", ft_mode_name[m]);
	snprintf(key, sizeof(key), "%sk", pfx);
	ft_assert_rc(ferry_watch(a, pfx, strlen(pfx), 0, &wa), 0);
	ft_assert_rc(ferry_watch(a2, pfx, strlen(pfx), 0, &wa2), 0);
	ft_assert_rc(ferry_watch(b, pfx, strlen(pfx), 0, &wb), 0);
	ft_assert_rc(ferry_put(b, key, strlen(key), "v", 1, 0), 0);
	expect_event(b, wb, FERRY_EV_SET, key);
	expect_quiet(a);
	expect_quiet(a2);
	ft_assert_rc(ferry_put(admin, key, strlen(key), "v", 1, 0), 0);
	ft_assert_rc(ferry_del(a, key, strlen(key)), FERRY_ENOENT);
	ft_assert_rc(ferry_put(a, key, strlen(key), "v", 1, 0), 0);
	expect_event(a, wa, FERRY_EV_SET, key);
	expect_event(a2, wa2, FERRY_EV_SET, key);
	expect_quiet(b);
	ft_assert_rc(ferry_del(a, key, strlen(key)), 0);
	ft_assert_rc(ferry_del(b, key, strlen(key)), 0);
	ft_assert_rc(ferry_del(admin, key, strlen(key)), 0);
	ferry_close(a);
	ferry_close(a2);
	ferry_close(b);
}

/* ---- the admin's requests ---------------------------------------------------
 */

/* A namespace's function cannot manage namespaces or read the servers'
 * statistics. */
static void test_not_admin(void **state)
{
	enum ft_mode m = mode_of(state);
	ferry_client *a = as(m, tok_a);
	ferry_server_stat st[4];
	char tok[FERRY_TOKEN_LEN + 1];
	ferry_ns_info info = {0};
	ferry_keys *k;

	ft_assert_rc(ferry_ns_create(a, "by-a", NULL, tok), FERRY_EACCES);
	ft_assert_rc(ferry_ns_rm(a, "jb"), FERRY_EACCES);
	ft_assert_rc(ferry_ns_stat(a, "jb", &info), FERRY_EACCES);
	ft_assert_rc(ferry_ns_list(a, NULL, 10, &k), FERRY_EACCES);
	info.ops_per_s = 1;
	ft_assert_rc(ferry_ns_set(a, "ja", FERRY_NS_SET_OPS, &info),
		     FERRY_EACCES);
	ft_assert_rc(ferry_cluster_stat(a, st, 4), FERRY_EACCES);
	/* Nothing changed, and the connection still works. */
	ft_assert_rc(ferry_ns_stat(admin, "jb", &info), 0);
	assert_int_equal(info.ops_per_s, 0);
	ft_assert_rc(ferry_ns_stat(admin, "by-a", &info), FERRY_ENOENT);
	ft_assert_rc(ferry_put(a, "na/k", 4, "v", 1, 0), 0);
	ft_assert_rc(ferry_del(a, "na/k", 4), 0);
	ferry_close(a);
}

/* The admin manages namespaces through the proxy: create (a token that
 * works), stat, list, set, remove; and reads the servers' statistics. */
static void test_admin(void **state)
{
	enum ft_mode m = mode_of(state);
	ferry_client *ad = as(m, admin_tok), *c;
	ferry_ns_info set = {.quota = 1 << 20, .ops_per_s = 5000}, info;
	char name[32], tok[FERRY_TOKEN_LEN + 1];
	ferry_server_stat st[4];
	ferry_keys *k;
	int found = 0;
	size_t len;

	snprintf(name, sizeof(name), "made-%s", ft_mode_name[m]);
	ft_assert_rc(ferry_ns_create(ad, name, &set, tok), 0);
	assert_int_equal(strlen(tok), FERRY_TOKEN_LEN);
	ft_assert_rc(ferry_ns_create(ad, name, &set, tok), FERRY_EEXIST);
	ft_assert_rc(ferry_ns_create(ad, "bad name", NULL, tok), FERRY_EINVAL);
	c = as(m, tok);
	ft_assert_rc(ferry_put(c, "made/k", 6, "12345", 5, 0), 0);
	ft_assert_rc(ferry_ns_stat(ad, name, &info), 0);
	assert_int_equal(info.quota, 1 << 20);
	assert_int_equal(info.ops_per_s, 5000);
	assert_int_equal(info.keys, 1);
	assert_int_equal(info.used, 5);
	ft_assert_rc(ferry_ns_list(ad, NULL, 1000, &k), 0);
	for (size_t i = 0; i < ferry_keys_count(k); i++) {
		const char *n = ferry_keys_at(k, i, &len);
		found |= len == strlen(name) && !memcmp(n, name, len);
	}
	ferry_keys_free(k);
	assert_true(found);
	set.quota = 2 << 20;
	ft_assert_rc(ferry_ns_set(ad, name, FERRY_NS_SET_QUOTA, &set), 0);
	ft_assert_rc(ferry_ns_stat(admin, name, &info), 0);
	assert_int_equal(info.quota, 2 << 20);
	assert_int_equal(ferry_cluster_stat(ad, st, 4), (int)cl->n);
	for (unsigned i = 0; i < cl->n; i++)
		ft_assert_rc(st[i].status, 0);
	ft_assert_rc(ferry_ns_rm(ad, name), 0);
	ft_assert_rc(ferry_ns_stat(ad, name, &info), FERRY_ENOENT);
	ft_assert_rc(ferry_put(c, "made/k", 6, "v", 1, 0), FERRY_EACCES);
	ferry_close(c);
	ferry_close(ad);
}

/* ---- a namespace removed under its functions
 * ------------------------------------ */

/* The servers refuse its connected functions; the proxy then drops the
 * token, so replaying it opens nothing. A token whose namespace goes
 * while nobody uses it stops opening anything within the proxy's
 * refresh (a second). */
static void test_replay_after_rm(void **state)
{
	enum ft_mode m = mode_of(state);
	char tok[FERRY_TOKEN_LEN + 1], idle[FERRY_TOKEN_LEN + 1];
	uint64_t deadline;
	ferry_client *c, *d;
	int rc;

	ns_make("gone", m, NULL, tok);
	ns_make("idle", m, NULL, idle);
	c = as(m, tok);
	d = as(m, idle);
	ft_assert_rc(ferry_put(c, "g/k", 3, "v", 1, 0), 0);
	ferry_close(d); /* known to the proxy, no longer used */
	ns_drop("gone", m);
	ns_drop("idle", m);
	ft_assert_rc(ferry_put(c, "g/k", 3, "v", 1, 0), FERRY_EACCES);
	ft_assert_rc(ferry_stat_key(c, "g/k", 3, NULL), FERRY_EACCES);
	ft_assert_rc(connect_as(m, tok, &d), FERRY_EACCES);
	deadline = ft_now_ms() + 5000;
	while ((rc = connect_as(m, idle, &d)) == 0 && ft_now_ms() < deadline) {
		ferry_close(d);
		usleep(100000);
	}
	ft_assert_rc(rc, FERRY_EACCES);
	ferry_close(c);
}

/* ---- a waiter across a proxy restart
 * ------------------------------------------ */

struct waiter {
	ferry_client *c;
	const char *key;
	int rc, done;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->rc = ferry_wait(w->c, w->key, strlen(w->key), TIMEOUT_MS);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* A function of namespace ja waits for a key; the proxy restarts under
 * it (it reconnects with its token and registers its watch again); the
 * same key written in jb does not wake it, written in ja it does. */
static void test_waiter_restart(void **state)
{
	enum ft_mode m = mode_of(state);
	ferry_client *b = as(FT_DIRECT, tok_b), *a = as(FT_DIRECT, tok_a);
	struct waiter w = {.c = as(m, tok_a)};
	char key[64];
	pthread_t th;
	uint64_t end;

	snprintf(key, sizeof(key), "rst/%s", ft_mode_name[m]);
	w.key = key;
	assert_int_equal(pthread_create(&th, NULL, wait_thread, &w), 0);
	usleep(300000);
	ft_proxy_restart(cl);
	usleep(500000); /* it reconnects within 0.1 s */
	ft_assert_rc(ferry_put(b, key, strlen(key), "b", 1, 0), 0);
	usleep(500000);
	if (__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
		fail_msg("a write in another namespace ended the wait (%s)",
			 ferry_strerror(w.rc));
	ft_assert_rc(ferry_put(a, key, strlen(key), "a", 1, 0), 0);
	end = ft_now_ms() + EVENT_MS;
	while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE) && ft_now_ms() < end)
		usleep(10000);
	if (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
		fail_msg("the waiter did not wake after the restart");
	pthread_join(th, NULL);
	ft_assert_rc(w.rc, 0);
	ft_assert_rc(ferry_del(a, key, strlen(key)), 0);
	ft_assert_rc(ferry_del(b, key, strlen(key)), 0);
	ferry_close(w.c);
	ferry_close(a);
	ferry_close(b);
}

/* ---- fair sharing
 * ------------------------------------------------------------ */

struct putter {
	ferry_client *c;
	const char *pfx;
	int failed;
	uint64_t ms;
};

/* NPUTS small puts, one after the other. */
static void *put_thread(void *arg)
{
	struct putter *p = arg;
	uint64_t t0 = ft_now_ms();
	char key[80];

	for (int i = 0; i < NPUTS; i++) {
		snprintf(key, sizeof(key), "%s%d", p->pfx, i % 50);
		if (ferry_put(p->c, key, strlen(key), "v", 1, 0))
			p->failed++;
	}
	p->ms = ft_now_ms() - t0;
	return NULL;
}

/* A namespace limited to SLOW_OPS operations per second takes at least
 * NPUTS / SLOW_OPS s (less its burst) for NPUTS puts, every one of which
 * succeeds; an unlimited namespace doing the same at the same time on the
 * same proxy is done long before. Lifting the limit (ferry_ns_set) takes
 * effect on the running proxy. */
static void test_ops_limit(void **state)
{
	enum ft_mode m = mode_of(state);
	ferry_ns_info set = {.ops_per_s = SLOW_OPS};
	char tok[FERRY_TOKEN_LEN + 1], name[32];
	struct putter slow = {.pfx = "slow/"}, fast = {.pfx = "fast/"};
	pthread_t th;

	ns_make("slow", m, &set, tok);
	slow.c = as(m, tok);
	fast.c = as(m, tok_b);
	assert_int_equal(pthread_create(&th, NULL, put_thread, &slow), 0);
	put_thread(&fast);
	pthread_join(th, NULL);
	print_message("# %s: %d puts limited to %d/s: %llu ms; unlimited "
		      "beside it: %llu ms\n",
		      ft_mode_name[m], NPUTS, SLOW_OPS,
		      (unsigned long long)slow.ms, (unsigned long long)fast.ms);
	assert_int_equal(slow.failed, 0);
	assert_int_equal(fast.failed, 0);
	if (slow.ms < 2500)
		fail_msg("%d puts at %d/s took %llu ms", NPUTS, SLOW_OPS,
			 (unsigned long long)slow.ms);
	if (fast.ms * 2 > slow.ms)
		fail_msg("the unlimited namespace took %llu ms beside the "
			 "limited one's %llu ms",
			 (unsigned long long)fast.ms,
			 (unsigned long long)slow.ms);
	/* No limit any more: the proxy learns it within its refresh. */
	set.ops_per_s = 0;
	snprintf(name, sizeof(name), "slow-%s", ft_mode_name[m]);
	ft_assert_rc(ferry_ns_set(admin, name, FERRY_NS_SET_OPS, &set), 0);
	usleep(2000000);
	put_thread(&slow);
	print_message("# %s: the same, the limit lifted: %llu ms\n",
		      ft_mode_name[m], (unsigned long long)slow.ms);
	assert_int_equal(slow.failed, 0);
	if (slow.ms >= 2000)
		fail_msg("the limit was lifted, yet %d puts took %llu ms",
			 NPUTS, (unsigned long long)slow.ms);
	ferry_close(slow.c);
	ferry_close(fast.c);
	ns_drop("slow", m);
}

/* Value bytes count, PUTs' and GETs': at 1 MiB/s (a 0.1 MiB burst),
 * three PUTs and two GETs of 512 KiB wait 0.4 + 0.5 + 0.5 + 0.5 s at
 * least (without the GETs counted, 1.4 s); none fails. */
static void test_bytes_limit(void **state)
{
	enum ft_mode m = mode_of(state);
	const size_t len = 512 * 1024;
	ferry_ns_info set = {.bytes_per_s = 1 << 20};
	char tok[FERRY_TOKEN_LEN + 1];
	uint8_t *val = malloc(len), *back = malloc(len);
	ferry_client *c;
	uint64_t t0, ms;
	size_t got;

	assert_non_null(val);
	assert_non_null(back);
	ft_fill(val, len, 7);
	ns_make("bytes", m, &set, tok);
	c = as(m, tok);
	t0 = ft_now_ms();
	for (int i = 0; i < 3; i++)
		ft_assert_rc(ferry_put(c, "big", 3, val, len, 0), 0);
	for (int i = 0; i < 2; i++) {
		ft_assert_rc(ferry_get(c, "big", 3, 0, back, len, &got, NULL),
			     0);
		assert_int_equal(got, len);
		assert_memory_equal(back, val, len);
	}
	ms = ft_now_ms() - t0;
	print_message("# %s: 2.5 MiB at 1 MiB/s: %llu ms\n", ft_mode_name[m],
		      (unsigned long long)ms);
	if (ms < 1750)
		fail_msg("3 PUTs and 2 GETs of 512 KiB at 1 MiB/s took %llu "
			 "ms",
			 (unsigned long long)ms);
	ferry_close(c);
	ns_drop("bytes", m);
	free(val);
	free(back);
}

/* After all that, no log holds a token. */
static void test_no_token_logged(void **state)
{
	const char *toks[] = {admin_tok, tok_a, tok_b};

	for (size_t t = 0; t < FR_ARRAY_LEN(toks); t++) {
		if (ft_file_has(cl->proxy_log, toks[t]))
			fail_msg("the proxy's log holds a token");
		for (unsigned i = 0; i < cl->n; i++)
			if (ft_file_has(cl->logs[i], toks[t]))
				fail_msg("server %u's log holds a token", i);
	}
}

/* An admin's client acts in many namespaces (the proxy's stamps each
 * call): a watch it made in the default namespace is registered there
 * again after its server restarted, whatever namespace the client
 * stamps meanwhile. (It runs last: the restarted server has forgotten
 * the namespaces.) */
static void test_watch_keeps_namespace(void **state)
{
	ferry_client *w, *wr;
	uint64_t id, end;
	ferry_event ev;
	ferry_opts o;
	char key[64];
	int rc;

	/* A short time-out: a waiting client notices the restart when its
	 * probe of the server times out (src/client/watch.c). */
	ferry_opts_init(&o);
	o.cluster = cl->file;
	o.proxy = "direct";
	o.token = admin_tok;
	o.timeout_ms = 1000;
	ft_assert_rc(ferry_connect(&o, &w), 0);

	for (int i = 0;; i++) {
		snprintf(key, sizeof(key), "wkn/%d", i);
		if (ft_owner(cl, key, strlen(key)) == 0)
			break;
	}
	ft_assert_rc(ferry_watch(w, "wkn/", 4, 0, &id), 0);
	w->ns = 0x5eed; /* another connection's, as the proxy stamps */
	ft_server_restart(cl, 0, sargs);
	wr = as(FT_DIRECT, admin_tok);
	/* LOST (the restart), then, once it is registered again, SET. */
	end = ft_now_ms() + 20000;
	do {
		if (ft_now_ms() > end)
			fail_msg("no SET event after the restart: the watch "
				 "went to the wrong namespace");
		ft_assert_rc(ferry_put(wr, key, strlen(key), "v", 1, 0), 0);
		rc = ferry_event_next(w, &ev, 1000);
		assert_true(rc >= 0);
	} while (rc == 0 || ev.kind == FERRY_EV_LOST);
	assert_int_equal(ev.watch, id);
	assert_int_equal(ev.kind, FERRY_EV_SET);
	w->ns = 0;
	ft_assert_rc(ferry_unwatch(w, id), 0);
	ft_assert_rc(ferry_del(wr, key, strlen(key)), 0);
	ferry_close(wr);
	ferry_close(w);
}

int main(void)
{
	static const struct {
		const char *name;
		CMUnitTestFunction fn;
	} cases[] = {
	    {"refused", test_refused},
	    {"unknown_token_waits_alone", test_unknown_token_waits_alone},
	    {"waits_alone", test_waits_alone},
	    {"one_question_per_token", test_one_question_per_token},
	    {"login_rate", test_login_rate},
	    {"quota_whole", test_quota_whole},
	    {"same_key", test_same_key},
	    {"list", test_list},
	    {"watch", test_watch},
	    {"not_admin", test_not_admin},
	    {"admin", test_admin},
	    {"replay_after_rm", test_replay_after_rm},
	    {"waiter_restart", test_waiter_restart},
	    {"ops_limit", test_ops_limit},
	    {"bytes_limit", test_bytes_limit},
	    {"no_token_logged", test_no_token_logged},
	};
	static enum ft_mode modes[] = {FT_PROXY_UNIX, FT_PROXY_TCP};
	static char names[FR_ARRAY_LEN(modes) * FR_ARRAY_LEN(cases)][64];
	struct CMUnitTest tests[FR_ARRAY_LEN(modes) * FR_ARRAY_LEN(cases) + 1];
	size_t n = 0;

	for (size_t m = 0; m < FR_ARRAY_LEN(modes); m++)
		for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
			snprintf(names[n], sizeof(names[n]), "%s (%s)",
				 cases[i].name, ft_mode_name[modes[m]]);
			tests[n] = (struct CMUnitTest){
			    .name = names[n],
			    .test_func = cases[i].fn,
			    .initial_state = &modes[m],
			};
			n++;
		}
	tests[n++] = (struct CMUnitTest){
	    .name = "watch_keeps_namespace (direct)",
	    .test_func = test_watch_keeps_namespace};
	const char *only = getenv("FERRY_TEST_FILTER"); /* e.g. "watch*" */

	if (only && *only)
		cmocka_set_test_filter(only);
	return _cmocka_run_group_tests("test_tenancy", tests, n, setup,
				       teardown);
}
