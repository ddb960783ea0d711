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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/cluster.h"
#include "common/proc.h"

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

static void cleanup_all(void)
{
	const char *keep = getenv("FERRY_TEST_KEEP");

	if (getpid() != owner)
		return;
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

void ft_dump_logs(const ft_cluster *cl)
{
	char line[512];

	for (unsigned i = 0; i < cl->n; i++) {
		FILE *f = fopen(cl->logs[i], "r");
		long size;
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fseek(f, size > 4000 ? size - 4000 : 0, SEEK_SET);
		fprintf(stderr, "# --- %s (server %s) ---\n", cl->logs[i],
			cl->addrs[i]);
		while (fgets(line, sizeof(line), f))
			fprintf(stderr, "# %s", line);
		fclose(f);
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
	char *argv[] = {bin,
			"--cluster",
			cl->file,
			"--unix",
			cl->proxy_unix + 7,
			"--tcp",
			cl->proxy_tcp + 6,
			NULL};
	int rc;

	snprintf(bin, sizeof(bin), "%s/ferry-proxy", ft_bin_dir());
	rc = fr_spawn_ready(argv, cl->proxy_log, START_TIMEOUT_MS,
			    &cl->proxy_pid);
	if (rc)
		cl->proxy_pid = 0;
	return rc;
}

void ft_proxy_start(ft_cluster *cl)
{
	int rc = FERRY_EIO;

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

ferry_client *ft_connect_mode(const ft_cluster *cl, enum ft_mode m,
			      int timeout_ms)
{
	ferry_client *c = NULL;
	ferry_opts o;
	int rc;

	ferry_opts_init(&o);
	o.cluster = cl->file;
	o.proxy = m == FT_DIRECT	? "direct"
		  : m == FT_PROXY_UNIX ? cl->proxy_unix
				       : cl->proxy_tcp;
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
