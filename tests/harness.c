/* Test harness: real ferry-server processes for integration tests (see
 * harness.h for the contract). */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/cluster.h"
#include "common/proc.h"
#include "common/token.h"
#include "common/util.h"
#include "fabric/fab.h"

#define START_TIMEOUT_MS 15000
#define START_ATTEMPTS 6
#define STOP_TIMEOUT_MS 5000
#define PORT_LO 12000 /* below the kernel's ephemeral range (32768..) */
#define PORT_HI 32000
#define MAX_CLUSTERS 32

/* Every live cluster of this process, for clean-up at exit or on a signal.
 * Only the process that started them cleans up: forked test children
 * inherit the atexit handler and must not stop their parent's servers. */
static ft_cluster *live[MAX_CLUSTERS];
static pid_t owner;

/* ---- small things ---------------------------------------------------------
 */

const char *ft_provider(void)
{
	const char *p = getenv("FERRY_TEST_PROVIDER");

	return p && *p ? p : "tcp";
}

const char *ft_bin_dir(void)
{
	static char dir[4096];
	const char *env = getenv("FERRY_BIN");
	char self[4000];
	ssize_t n;

	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return "build/bin";
	self[n] = '\0';
	snprintf(dir, sizeof(dir), "%s/../bin", dirname(self));
	return dir;
}

int ft_shm_regions(pid_t pid)
{
	char ours[48];
	struct dirent *e;
	int n = 0;
	DIR *d;

	if (strcmp(ft_provider(), "shm") || !(d = opendir("/dev/shm")))
		return 0;
	snprintf(ours, sizeof(ours), "ferry-%d-", (int)pid);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, ours, strlen(ours));
	closedir(d);
	return n;
}

int ft_shm_regions_gone(pid_t pid, int timeout_ms)
{
	uint64_t end = ft_now_ms() + (uint64_t)timeout_ms;

	while (ft_shm_regions(pid) && ft_now_ms() < end)
		usleep(20000);
	return !ft_shm_regions(pid);
}

int ft_file_has(const char *path, const char *what)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return found;
}

uint64_t ft_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* splitmix64: one state word, good enough for test patterns. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void ft_fill(void *buf, size_t n, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t s = seed, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		w = mix(&s);
		memcpy(p + i, &w, 8);
	}
	if (i < n) {
		w = mix(&s);
		memcpy(p + i, &w, n - i);
	}
}

size_t ft_check(const void *buf, size_t n, uint64_t seed)
{
	const uint8_t *p = buf;
	uint64_t s = seed, w;
	size_t i = 0;

	for (; i < n; i += 8) {
		size_t k = n - i < 8 ? n - i : 8;
		w = mix(&s);
		if (memcmp(p + i, &w, k) == 0)
			continue;
		for (size_t j = 0; j < k; j++)
			if (p[i + j] != ((const uint8_t *)&w)[j])
				return i + j;
	}
	return (size_t)-1;
}

/* ---- ports ----------------------------------------------------------------
 */

static int port_free(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

unsigned ft_free_ports(unsigned n)
{
	static struct {
		unsigned lo, hi;
	} given[256];
	static unsigned ngiven;
	static uint64_t seed;

	if (!seed)
		seed = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) ^
		       (uint64_t)ft_now_ms();
	for (int tries = 0; tries < 1000; tries++) {
		unsigned base =
		    PORT_LO + (unsigned)(mix(&seed) % (PORT_HI - PORT_LO - n));
		int ok = 1;

		for (unsigned i = 0; i < ngiven && ok; i++)
			if (base < given[i].hi && base + n > given[i].lo)
				ok = 0;
		for (unsigned p = base; p < base + n && ok; p++)
			ok = port_free(p);
		if (!ok)
			continue;
		if (ngiven < 256)
			given[ngiven++] = (typeof(given[0])){base, base + n};
		return base;
	}
	return 0;
}

/* ---- processes ------------------------------------------------------------
 */

/* Reaps server i if it has exited; returns 1 if it is gone. */
static int reap(ft_cluster *cl, unsigned i, int block)
{
	int st;
	pid_t r;

	if (!cl->pids[i])
		return 1;
	do
		r = waitpid(cl->pids[i], &st, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == cl->pids[i]) {
		cl->wstatus[i] = st;
		cl->pids[i] = 0;
		return 1;
	}
	/* Not our child (we are a forked test process): it is gone when no
	 * such process exists. */
	if (r < 0 && errno == ECHILD)
		return kill(cl->pids[i], 0) != 0;
	return 0;
}

int ft_server_alive(ft_cluster *cl, unsigned i)
{
	return !reap(cl, i, 0) && kill(cl->pids[i], 0) == 0;
}

void ft_server_kill(ft_cluster *cl, unsigned i, int sig)
{
	assert_true(i < cl->n);
	if (!cl->pids[i])
		return;
	kill(cl->pids[i], sig);
	if (sig == SIGKILL)
		reap(cl, i, 1);
}

int ft_server_stop(ft_cluster *cl, unsigned i, int timeout_ms)
{
	uint64_t deadline = ft_now_ms() + (uint64_t)timeout_ms;

	if (!cl->pids[i])
		return cl->wstatus[i];
	kill(cl->pids[i], SIGTERM);
	while (ft_now_ms() < deadline) {
		if (reap(cl, i, 0))
			return cl->wstatus[i];
		usleep(5000);
	}
	kill(cl->pids[i], SIGKILL);
	reap(cl, i, 1);
	return -1;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[600];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void stop_proxy(ft_cluster *cl)
{
	if (cl->proxy_pid > 0 &&
	    fr_stop_pids(&cl->proxy_pid, 1, STOP_TIMEOUT_MS))
		fprintf(stderr, "harness: the proxy ignored SIGTERM\n");
	if (cl->proxy_pid > 0)
		waitpid(cl->proxy_pid, NULL, WNOHANG);
	cl->proxy_pid = 0;
}

/* The proxy goes first: it holds connections to the servers. */
static void stop_servers(ft_cluster *cl)
{
	stop_proxy(cl);
	for (unsigned i = 0; i < cl->n; i++)
		if (cl->pids[i])
			kill(cl->pids[i], SIGTERM);
	for (unsigned i = 0; i < cl->n; i++)
		if (cl->pids[i] && ft_server_stop(cl, i, STOP_TIMEOUT_MS) == -1)
			fprintf(stderr, "harness: server %s ignored SIGTERM\n",
				cl->addrs[i]);
}

static char token_dir[256], token_path[300]; /* ft_admin_token */

void ft_admin_token_rm(void)
{
	if (!token_dir[0])
		return;
	unlink(token_path);
	rmdir(token_dir);
	token_dir[0] = '\0';
}

const char *ft_admin_token(char *token)
{
	char tok[FERRY_TOKEN_LEN + 1];
	FILE *f;

	ft_admin_token_rm();
	snprintf(token_dir, sizeof(token_dir), "%s/ferry-token.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(token_dir) || fr_token_new(tok))
		fail_msg("harness: cannot make an admin token");
	snprintf(token_path, sizeof(token_path), "%s/admin.token", token_dir);
	f = fopen(token_path, "w");
	if (!f || chmod(token_path, 0600) || fprintf(f, "%s\n", tok) < 0 ||
	    fclose(f))
		fail_msg("harness: cannot write %s", token_path);
	if (token)
		memcpy(token, tok, sizeof(tok));
	return token_path;
}

static void cleanup_all(void)
{
	const char *keep = getenv("FERRY_TEST_KEEP");

	if (getpid() != owner)
		return;
	ft_admin_token_rm();
	for (int i = 0; i < MAX_CLUSTERS; i++) {
		ft_cluster *cl = live[i];
		if (!cl)
			continue;
		live[i] = NULL;
		stop_servers(cl);
		if (!(keep && *keep == '1'))
			rm_dir(cl->dir);
		fr_ring_free(&cl->ring);
		free(cl);
	}
}

static int keep_dirs; /* FERRY_TEST_KEEP=1, read once (not in a handler) */

/* A test killed from outside (run.sh's time-out, ^C) still takes its
 * servers down and removes its files; only async-signal-safe calls here. */
static void on_signal(int sig)
{
	if (getpid() == owner)
		for (int i = 0; i < MAX_CLUSTERS; i++) {
			ft_cluster *cl = live[i];
			if (!cl)
				continue;
			for (unsigned j = 0; j < cl->n; j++)
				if (cl->pids[j] > 0)
					kill(cl->pids[j], SIGKILL);
			if (cl->proxy_pid > 0)
				kill(cl->proxy_pid, SIGKILL);
			if (keep_dirs)
				continue;
			for (unsigned j = 0; j < cl->n; j++)
				unlink(cl->logs[j]);
			if (cl->proxy_pid > 0) {
				unlink(cl->proxy_log);
				unlink(cl->proxy_unix + 7);
			}
			unlink(cl->file);
			rmdir(cl->dir);
		}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void track(ft_cluster *cl)
{
	static int installed;

	if (!installed) {
		const char *keep = getenv("FERRY_TEST_KEEP");
		installed = 1;
		keep_dirs = keep && *keep == '1';
		owner = getpid();
		atexit(cleanup_all);
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		signal(SIGHUP, on_signal);
	}
	for (int i = 0; i < MAX_CLUSTERS; i++)
		if (!live[i]) {
			live[i] = cl;
			return;
		}
	fail_msg("harness: more than %d clusters at once", MAX_CLUSTERS);
}

static void untrack(ft_cluster *cl)
{
	for (int i = 0; i < MAX_CLUSTERS; i++)
		if (live[i] == cl)
			live[i] = NULL;
}

void ft_dump_tail(const char *path, const char *what, long bytes)
{
	char line[512];
	FILE *f = fopen(path, "r");
	long size;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > bytes ? size - bytes : 0, SEEK_SET);
	fprintf(stderr, "# --- %s%s ---\n", path, what);
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "# %s", line);
	fclose(f);
}

void ft_dump_logs(const ft_cluster *cl)
{
	char what[128];

	for (unsigned i = 0; i < cl->n; i++) {
		snprintf(what, sizeof(what), " (server %s)", cl->addrs[i]);
		ft_dump_tail(cl->logs[i], what, 4000);
	}
}

/* Starts server i at cl->addrs[i], logging to cl->logs[i]. */
static int spawn_server(ft_cluster *cl, unsigned i, const char *const *extra)
{
	char bin[4200];
	char *argv[64];
	int a = 0, rc;

	snprintf(bin, sizeof(bin), "%s/ferry-server", ft_bin_dir());
	argv[a++] = bin;
	argv[a++] = "--listen";
	argv[a++] = cl->addrs[i];
	argv[a++] = "--provider";
	argv[a++] = cl->provider;
	for (int e = 0; extra && extra[e] && a < 60; e++)
		argv[a++] = (char *)extra[e];
	argv[a] = NULL;
	rc = fr_spawn_ready(argv, cl->logs[i], START_TIMEOUT_MS, &cl->pids[i]);
	if (rc)
		cl->pids[i] = 0;
	return rc;
}

/* One attempt: n servers on ports base..base+n-1. Returns 0 or the first
 * spawn error (servers started so far are stopped). */
static int start_at(ft_cluster *cl, unsigned base, const char *const *extra)
{
	int rc = 0;

	for (unsigned i = 0; i < cl->n && !rc; i++) {
		snprintf(cl->addrs[i], sizeof(cl->addrs[i]), "127.0.0.1:%u",
			 base + i);
		snprintf(cl->logs[i], sizeof(cl->logs[i]), "%s/server-%u.log",
			 cl->dir, i);
		rc = spawn_server(cl, i, extra);
	}
	if (rc)
		stop_servers(cl);
	return rc;
}

void ft_server_restart(ft_cluster *cl, unsigned i, const char *const *extra)
{
	int rc = FERRY_EIO;

	ft_server_kill(cl, i, SIGKILL);
	/* The port may linger a moment after the kill. */
	for (int attempt = 0; attempt < 40 && rc; attempt++) {
		if (attempt)
			usleep(250000);
		rc = spawn_server(cl, i, extra);
	}
	if (rc) {
		ft_dump_logs(cl);
		fail_msg("harness: cannot restart server %s: %s", cl->addrs[i],
			 ferry_strerror(rc));
	}
}

ft_cluster *ft_cluster_start(unsigned n, const char *const *extra)
{
	ft_cluster *cl = calloc(1, sizeof(*cl));
	fr_cluster fc;
	int rc = FERRY_EIO;

	assert_non_null(cl);
	assert_true(n >= 1 && n <= FT_MAX_SERVERS);
	cl->n = n;
	snprintf(cl->provider, sizeof(cl->provider), "%s", ft_provider());
	snprintf(cl->dir, sizeof(cl->dir), "%s/ferry-test.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(cl->dir)) {
		free(cl);
		fail_msg("harness: mkdtemp: %s", strerror(errno));
	}
	snprintf(cl->file, sizeof(cl->file), "%s/cluster", cl->dir);
	track(cl);
	for (int attempt = 0; attempt < START_ATTEMPTS && rc; attempt++) {
		unsigned base = ft_free_ports(n);
		if (!base)
			continue;
		rc = start_at(cl, base, extra);
	}
	if (rc) {
		ft_dump_logs(cl);
		ft_cluster_stop(cl);
		fail_msg("harness: cannot start %u %s servers: %s", n,
			 ft_provider(), ferry_strerror(rc));
	}
	memset(&fc, 0, sizeof(fc));
	snprintf(fc.provider, sizeof(fc.provider), "%s", cl->provider);
	fc.nservers = n;
	for (unsigned i = 0; i < n; i++)
		memcpy(fc.servers[i], cl->addrs[i], sizeof(fc.servers[i]));
	rc = fr_cluster_save(cl->file, &fc);
	if (!rc)
		rc = fr_ring_build(&cl->ring, (const char(*)[64])cl->addrs, n);
	if (rc) {
		ft_cluster_stop(cl);
		fail_msg("harness: cannot write the cluster file: %s",
			 ferry_strerror(rc));
	}
	return cl;
}

void ft_cluster_stop(ft_cluster *cl)
{
	const char *keep = getenv("FERRY_TEST_KEEP");

	if (!cl)
		return;
	untrack(cl);
	stop_servers(cl);
	/* A stopped server's shm region stays for a successor of its name. */
	for (unsigned i = 0; i < cl->n; i++)
		fr_fab_drop_server_region(ft_provider(), cl->addrs[i]);
	if (!(keep && *keep == '1'))
		rm_dir(cl->dir);
	fr_ring_free(&cl->ring);
	free(cl);
}

unsigned ft_owner(const ft_cluster *cl, const void *key, size_t klen)
{
	return fr_ring_pick(&cl->ring, key, klen);
}

/* ---- isolation ------------------------------------------------------------
 */

static void (*isolated_fn)(void **state);
static void **isolated_state;

static void run_isolated(void **state)
{
	isolated_fn(isolated_state);
}

void ft_isolated(const char *name, void (*fn)(void **state), void **state,
		 int timeout_ms)
{
	uint64_t deadline = ft_now_ms() + (uint64_t)timeout_ms;
	pid_t pid, r;
	int st = 0;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const struct CMUnitTest one[] = {
		    {name, run_isolated, NULL, NULL, NULL},
		};
		isolated_fn = fn;
		isolated_state = state;
		dup2(2, 1);
		setenv("CMOCKA_MESSAGE_OUTPUT", "STDOUT", 1);
		cmocka_set_message_output(CM_OUTPUT_STDOUT);
		_exit(_cmocka_run_group_tests(name, one, 1, NULL, NULL) ? 1
									: 0);
	}
	while ((r = waitpid(pid, &st, WNOHANG)) == 0 && ft_now_ms() < deadline)
		usleep(10000);
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("%s: still running after %d ms (killed)", name,
			 timeout_ms);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s failed in its child process (status 0x%x; "
			 "see above)",
			 name, st);
}

/* ---- the node proxy ---------------------------------------------------------
 */

/* Starts the proxy on the socket and the TCP address cl names. */
static int spawn_proxy(ft_cluster *cl)
{
	char bin[4200];
	char *argv[8 + FR_ARRAY_LEN(cl->proxy_args)] = {
	    bin,	    "--cluster", cl->file, "--unix", cl->proxy_unix + 7,
	    "--tcp", cl->proxy_tcp + 6};
	int rc;

	for (unsigned i = 0; i < cl->nproxy_args; i++)
		argv[7 + i] = cl->proxy_args[i];
	snprintf(bin, sizeof(bin), "%s/ferry-proxy", ft_bin_dir());
	rc = fr_spawn_ready(argv, cl->proxy_log, START_TIMEOUT_MS,
			    &cl->proxy_pid);
	if (rc)
		cl->proxy_pid = 0;
	return rc;
}

void ft_proxy_start(ft_cluster *cl)
{
	ft_proxy_start_args(cl, NULL);
}

void ft_proxy_start_args(ft_cluster *cl, const char *const *extra)
{
	int rc = FERRY_EIO;

	cl->nproxy_args = 0;
	for (; extra && *extra; extra++) {
		assert_true((size_t)cl->nproxy_args <
			    FR_ARRAY_LEN(cl->proxy_args));
		snprintf(cl->proxy_args[cl->nproxy_args++],
			 sizeof(cl->proxy_args[0]), "%s", *extra);
	}

	snprintf(cl->proxy_unix, sizeof(cl->proxy_unix), "unix://%s/proxy.sock",
		 cl->dir);
	snprintf(cl->proxy_log, sizeof(cl->proxy_log), "%s/proxy.log",
		 cl->dir);
	/* The TCP port may be taken between the check and the bind. */
	for (int attempt = 0; attempt < START_ATTEMPTS && rc; attempt++) {
		unsigned port = ft_free_ports(1);
		if (!port)
			continue;
		snprintf(cl->proxy_tcp, sizeof(cl->proxy_tcp),
			 "tcp://127.0.0.1:%u", port);
		rc = spawn_proxy(cl);
	}
	if (rc) {
		ft_dump_logs(cl);
		fail_msg("harness: cannot start ferry-proxy: %s (log %s)",
			 ferry_strerror(rc), cl->proxy_log);
	}
}

void ft_proxy_restart(ft_cluster *cl)
{
	int rc = FERRY_EIO;

	if (cl->proxy_pid > 0) {
		kill(cl->proxy_pid, SIGKILL);
		waitpid(cl->proxy_pid, NULL, 0);
		cl->proxy_pid = 0;
	}
	for (int attempt = 0; attempt < 40 && rc; attempt++) {
		if (attempt)
			usleep(250000);
		rc = spawn_proxy(cl);
	}
	if (rc)
		fail_msg("harness: cannot restart ferry-proxy: %s (log %s)",
			 ferry_strerror(rc), cl->proxy_log);
}

/* ---- clients --------------------------------------------------------------
 */

const char *const ft_mode_name[FT_NMODES] = {"direct", "proxy-unix",
					      "proxy-tcp"};

void ft_opts_mode(const ft_cluster *cl, enum ft_mode m, ferry_opts *o)
{
	ferry_opts_init(o);
	o->cluster = cl->file;
	o->proxy = m == FT_DIRECT	 ? "direct"
		   : m == FT_PROXY_UNIX ? cl->proxy_unix
					: cl->proxy_tcp;
}

ferry_client *ft_connect_mode(const ft_cluster *cl, enum ft_mode m,
			      int timeout_ms)
{
	ferry_client *c = NULL;
	ferry_opts o;
	int rc;

	ft_opts_mode(cl, m, &o);
	if (timeout_ms)
		o.timeout_ms = timeout_ms;
	rc = ferry_connect(&o, &c);
	if (rc) {
		ft_dump_logs(cl);
		fail_msg("ferry_connect(%s): %s", o.proxy, ferry_strerror(rc));
	}
	if (strcmp(ferry_mode(c), ft_mode_name[m]))
		fail_msg("connected in mode %s, not %s", ferry_mode(c),
			 ft_mode_name[m]);
	return c;
}

int ft_connect_opts(const ft_cluster *cl, int timeout_ms, unsigned inflight,
		    ferry_client **out)
{
	ferry_opts o;

	ferry_opts_init(&o);
	o.cluster = cl->file;
	o.proxy = "direct"; /* these tests talk to the servers themselves */
	if (timeout_ms)
		o.timeout_ms = timeout_ms;
	if (inflight)
		o.max_inflight = inflight;
	return ferry_connect(&o, out);
}

ferry_client *ft_connect(const ft_cluster *cl, int timeout_ms)
{
	ferry_client *c = NULL;
	int rc = ft_connect_opts(cl, timeout_ms, 0, &c);

	if (rc) {
		ft_dump_logs(cl);
		fail_msg("ferry_connect(%s): %s", cl->file, ferry_strerror(rc));
	}
	return c;
}

/* ---- checks of the operations ---------------------------------------------
 */

size_t ft_kf(char *key, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(key, 256, fmt, ap);
	va_end(ap);
	return (size_t)n;
}

void ft_put_many(ferry_client *c, const char *fmt, int start, int n)
{
	ferry_op *ops = calloc((size_t)n, sizeof(*ops));
	char(*keys)[32] = calloc((size_t)n, 32);

	assert_non_null(ops);
	assert_non_null(keys);
	for (int i = 0; i < n; i++) {
		ops[i].opcode = FERRY_OP_PUT;
		ops[i].klen = (size_t)snprintf(keys[i], 32, fmt, start + i);
		ops[i].key = keys[i];
		ops[i].buf = keys[i];
		ops[i].len = ops[i].klen;
	}
	ft_assert_rc(ferry_batch(c, ops, (size_t)n), 0);
	free(ops);
	free(keys);
}

static int keycmp(const void *a, size_t al, const void *b, size_t bl)
{
	int d = memcmp(a, b, al < bl ? al : bl);

	return d ? d : (al > bl) - (al < bl);
}

int ft_list_page(ferry_client *c, const char *prefix, size_t plen, char *after,
		 size_t *alen, size_t cap, unsigned max,
		 void (*each)(const char *key, void *arg), void *arg)
{
	ferry_keys *k = NULL;
	size_t n;
	int more;

	ft_assert_rc(
	    ferry_list(c, prefix, plen, *alen ? after : NULL, *alen, max, &k),
	    0);
	n = ferry_keys_count(k);
	assert_true(n <= max);
	more = ferry_keys_more(k);
	if (more) /* a page is full unless it is the last */
		assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *key = ferry_keys_at(k, i, &len);
		assert_non_null(key);
		assert_true(len > plen && len < cap);
		assert_memory_equal(key, prefix, plen);
		/* Strictly increasing across pages: no repeats. */
		if (*alen && keycmp(after, *alen, key, len) >= 0)
			fail_msg("%s: key %.*s listed after %.*s",
				 ferry_mode(c), (int)len, key, (int)*alen,
				 after);
		memcpy(after, key, len);
		after[len] = '\0';
		*alen = len;
		each(after, arg);
	}
	assert_null(ferry_keys_at(k, n, NULL));
	ferry_keys_free(k);
	return more;
}

void ft_list_edges(ferry_client *c, const char *prefix, size_t plen,
		   size_t count)
{
	char longp[FERRY_KEY_MAX + 1];
	ferry_keys *k = NULL;

	ft_assert_rc(ferry_list(c, prefix, plen, NULL, 0, 0, &k), FERRY_EINVAL);
	memset(longp, 'l', sizeof(longp));
	ft_assert_rc(ferry_list(c, longp, sizeof(longp), NULL, 0, 10, &k),
		     FERRY_E2BIG);
	ft_assert_rc(ferry_list(c, longp, FERRY_KEY_MAX, NULL, 0, 10, &k), 0);
	assert_int_equal(ferry_keys_count(k), 0);
	assert_int_equal(ferry_keys_more(k), 0);
	ferry_keys_free(k);
	ft_assert_rc(ferry_list(c, prefix, plen, NULL, 0, 10000, &k), 0);
	assert_int_equal(ferry_keys_count(k), count);
	assert_int_equal(ferry_keys_more(k), 0);
	ferry_keys_free(k);
	ferry_keys_free(NULL);
	assert_int_equal(ferry_keys_count(NULL), 0);
}

void ft_batch_check(ferry_client *c, ferry_client *checker, const char *fmt,
		    int n, ft_size_fn size, int zc)
{
	ferry_op *ops = calloc((size_t)n, sizeof(*ops));
	char(*keys)[256] = calloc((size_t)n, 256);
	uint8_t **bufs = calloc((size_t)n, sizeof(*bufs));
	char none[256], ctr[256];
	size_t nl = ft_kf(none, fmt, -1), cl = ft_kf(ctr, fmt, -2);

	assert_non_null(ops);
	assert_non_null(keys);
	assert_non_null(bufs);
	for (int i = 0; i < n; i++) {
		size_t len = size(i) + 100;
		bufs[i] = zc && i % zc == 0 ? ferry_alloc(c, len) : malloc(len);
		assert_non_null(bufs[i]);
		ft_fill(bufs[i], size(i), 1000 + (uint64_t)i);
		ops[i] = (ferry_op){.opcode = FERRY_OP_PUT,
				    .key = keys[i],
				    .klen = ft_kf(keys[i], fmt, i),
				    .buf = bufs[i],
				    .len = size(i)};
	}
	ft_assert_rc(ferry_batch(c, ops, (size_t)n), 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(ops[i].status, 0);
		memset(bufs[i], 0, size(i) + 100);
		ops[i] = (ferry_op){.opcode = FERRY_OP_GET,
				    .key = keys[i],
				    .klen = strlen(keys[i]),
				    .buf = bufs[i],
				    .len = size(i) + 100,
				    .user = &bufs[i]};
	}
	ft_assert_rc(ferry_batch(c, ops, (size_t)n), 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(ops[i].status, 0);
		assert_int_equal(ops[i].result, size(i));
		assert_int_equal(ops[i].stat.size, size(i));
		assert_ptr_equal(ops[i].user, &bufs[i]);
		if (ft_check(bufs[i], size(i), 1000 + (uint64_t)i) !=
		    (size_t)-1)
			fail_msg("%s: batch get of %s returned other bytes",
				 ferry_mode(c), keys[i]);
	}
	/* One op fails: the first failure is returned, the others done. */
	ferry_op mix[4] = {
	    {.opcode = FERRY_OP_STAT, .key = keys[1], .klen = strlen(keys[1])},
	    {.opcode = FERRY_OP_GET,
	     .key = none,
	     .klen = nl,
	     .buf = bufs[0],
	     .len = 10},
	    {.opcode = FERRY_OP_DEL, .key = keys[2], .klen = strlen(keys[2])},
	    {.opcode = FERRY_OP_INCR, .key = ctr, .klen = cl, .delta = 3},
	};
	ferry_del(c, ctr, cl);
	ft_assert_rc(ferry_batch(c, mix, 4), FERRY_ENOENT);
	assert_int_equal(mix[0].status, 0);
	assert_int_equal(mix[0].stat.size, size(1));
	assert_int_equal(mix[1].status, FERRY_ENOENT);
	assert_int_equal(mix[2].status, 0);
	assert_int_equal(mix[3].status, 0);
	assert_int_equal(mix[3].counter, 3);
	ft_assert_rc(ferry_stat_key(checker, keys[2], strlen(keys[2]), NULL),
		     FERRY_ENOENT);
	ft_assert_rc(ferry_batch(c, NULL, 0), 0);
	ft_assert_rc(ferry_batch(c, NULL, 3), FERRY_EINVAL);
	ferry_del(c, ctr, cl);
	for (int i = 0; i < n; i++) {
		if (zc && i % zc == 0)
			ferry_free(c, bufs[i]);
		else
			free(bufs[i]);
	}
	free(bufs);
	free(keys);
	free(ops);
}

size_t ft_async_run(ferry_client *c, ferry_op *ops, size_t n, uint64_t deadline)
{
	unsigned char *done = calloc(n ? n : 1, 1);
	size_t next = 0, completed = 0, inflight = 0, peak = 0;
	ferry_op *out[64];

	assert_non_null(done);
	while (completed < n && ft_now_ms() < deadline) {
		/* Keep submitting until the client says busy. */
		while (next < n) {
			int rc = ferry_submit(c, &ops[next]);
			if (rc == FERRY_EBUSY)
				break;
			ft_assert_rc(rc, 0);
			next++;
			inflight++;
			peak = inflight > peak ? inflight : peak;
		}
		int k = ferry_poll(c, out, 64, 1000);
		assert_true(k >= 0);
		for (int j = 0; j < k; j++) {
			size_t i = (uintptr_t)out[j]->user - 1;
			assert_true(i < n);
			assert_ptr_equal(out[j], &ops[i]);
			assert_int_equal(done[i], 0); /* once */
			done[i] = 1;
			ft_assert_rc(out[j]->status, 0);
			completed++;
			inflight--;
		}
	}
	assert_int_equal(completed, n);
	free(done);
	return peak;
}

void ft_async_after(ferry_client *c)
{
	ferry_op *out[4];
	ferry_op bad = {.opcode = FERRY_OP_GET, .key = "", .klen = 0};

	assert_int_equal(ferry_poll(c, out, 4, 0), 0);
	assert_int_equal(ferry_poll(c, out, 0, 0), FERRY_EINVAL);
	/* A rejected op is not reported again through poll. */
	ft_assert_rc(ferry_submit(c, &bad), FERRY_EINVAL);
	assert_int_equal(bad.status, FERRY_EINVAL);
	assert_int_equal(ferry_poll(c, out, 4, 50), 0);
}

void ft_check_value(ferry_client *c, const char *key, size_t size,
		    uint64_t seed, int zc)
{
	size_t total = size + 64, got = 12345, bad;
	uint8_t *dst = zc ? ferry_alloc(c, total) : malloc(total);
	ferry_stat st;
	void *all = NULL;
	size_t alen = 0;

	assert_non_null(dst);
	memset(dst, 0xa5, total);
	ft_assert_rc(ferry_get(c, key, strlen(key), 0, dst, size, &got, &st),
		     0);
	assert_int_equal(got, size);
	assert_int_equal(st.size, size);
	bad = ft_check(dst, size, seed);
	if (bad != (size_t)-1)
		fail_msg("%s: %s (%zu bytes, %s buffer): byte %zu differs",
			 ferry_mode(c), key, size,
			 zc ? "ferry_alloc" : "malloc", bad);
	for (size_t i = size; i < total; i++)
		if (dst[i] != 0xa5)
			fail_msg("%s: %s: get wrote past the value at byte %zu",
				 ferry_mode(c), key, i);
	/* A larger buffer than the value: still exactly size bytes. */
	memset(dst, 0xa5, total);
	ft_assert_rc(ferry_get(c, key, strlen(key), 0, dst, total, &got, NULL),
		     0);
	assert_int_equal(got, size);
	assert_int_equal(ft_check(dst, size, seed), (size_t)-1);
	for (size_t i = size; i < total; i++)
		assert_int_equal(dst[i], 0xa5);
	if (zc)
		ferry_free(c, dst);
	else
		free(dst);
	ft_assert_rc(ferry_get_alloc(c, key, strlen(key), &all, &alen), 0);
	assert_non_null(all);
	assert_int_equal(alen, size);
	if (ft_check(all, size, seed) != (size_t)-1)
		fail_msg("%s: ferry_get_alloc(%s) returned other bytes",
			 ferry_mode(c), key);
	free(all);
}
