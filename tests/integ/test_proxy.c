/*
 * Integration tests of the node proxy (ferry-proxy) over two real
 * ferry-server processes (run once per provider):
 *
 *  - every libferry operation in the three modes (direct, proxy-unix,
 *    proxy-tcp): values byte for byte at the size edges, from malloc'd and
 *    from ferry_alloc'd memory (which in proxy-unix mode must lie in the
 *    arena shared with the proxy), each value also read and overwritten
 *    from another mode; put flags, ranges, stat, delete, counters, paged
 *    listing, batches, asynchronous operations, cluster statistics;
 *  - the proxy's own counters, and 1000 concurrent functions (forked
 *    processes) that the servers never see: their peer count stays at the
 *    proxy plus this test's direct client;
 *  - a proxy restarted under running clients, and no proxy at all;
 *  - hostile functions speaking the wire protocol themselves over a raw
 *    Unix socket and raw TCP: garbage, truncated, oversized and malformed
 *    frames, RMA names outside the sender's arenas, forged ATTACHes, a
 *    function that never reads its replies, and functions killed in the
 *    middle of large transfers. After each attack the proxy must still run
 *    and serve the well-behaved clients beside it correctly, its count of
 *    functions must come back, and no function can reach another's arena.
 *
 * Every case runs under a watchdog (alarm): a case that hangs ends the
 * process, and every proxy, child and server it started, in bounded time.
 * FERRY_TEST_FILTER=GLOB runs only the matching cases ("*restart*");
 * FERRY_TEST_TIMES=1 prints how long each took.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/le.h"
#include "common/proc.h"
#include "common/util.h"
#include "proto/wire.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define MAX_VALUE (80 * MiB) /* the servers' --max-value */
#define TIMEOUT_MS 20000     /* per operation of the test's clients */
#define CASE_LIMIT_S 150     /* watchdog per case */
#define START_MS 15000	     /* a proxy must serve within this */
#define SETTLE_MS 10000	     /* a proxy notices a closed connection */
#define REPLY_MS 10000	     /* a raw request's reply comes within this */
#define DROP_MS 5000	     /* a bad connection is dropped within this */
#define NSIDE 2		     /* long-lived clients of the main proxy */
#define NCHILD 10	     /* 10 processes x 100 clients = 1000 */
#define PER_CHILD 100
#define MAX_PIDS 64

enum mode { M_DIRECT, M_UNIX, M_TCP };
static const char *const mode_name[] = {"direct", "proxy-unix", "proxy-tcp"};

struct proxy {
	const char *cluster; /* NULL: the main cluster */
	pid_t pid;
	unsigned port; /* TCP port; kept across restarts */
	char sock[160];
	char unix_url[200];
	char tcp_url[64];
	char log[200];
};

static ft_cluster *cl;
static char dir[100];		      /* proxies' sockets and logs */
static struct proxy px;		      /* the main proxy */
static ferry_client *side_u, *side_t; /* well-behaved, beside the attacks */
static ferry_client *chk; /* direct mode: reads behind the proxy's back */
static uint64_t next_id = 0x5100000000000001ull;

/* ---- processes this test started: stopped whatever happens --------------- */

static pid_t owned[MAX_PIDS];
static pid_t case_pids[MAX_PIDS]; /* started by the running case */
static pid_t owner;
static const int fatal_sigs[] = {SIGTERM, SIGINT, SIGHUP};
static struct sigaction prev_act[3];

static void own(pid_t p)
{
	for (int i = 0; i < MAX_PIDS; i++)
		if (!owned[i]) {
			owned[i] = p;
			break;
		}
	for (int i = 0; i < MAX_PIDS; i++)
		if (!case_pids[i]) {
			case_pids[i] = p;
			break;
		}
}

static void disown(pid_t p)
{
	for (int i = 0; i < MAX_PIDS; i++) {
		if (owned[i] == p)
			owned[i] = 0;
		if (case_pids[i] == p)
			case_pids[i] = 0;
	}
}

/* Async-signal-safe. */
static void kill_owned(void)
{
	if (getpid() != owner)
		return;
	for (int i = 0; i < MAX_PIDS; i++)
		if (owned[i] > 0)
			kill(owned[i], SIGKILL);
}

/* Kills our proxies and children, then lets the harness's handler stop
 * the servers and end the process. */
static void on_fatal(int sig)
{
	kill_owned();
	for (int i = 0; i < 3; i++)
		if (fatal_sigs[i] == sig)
			sigaction(sig, &prev_act[i], NULL);
	raise(sig); /* delivered, to the previous handler, on return */
}

static void on_alarm(int sig)
{
	static const char msg[] =
	    "# watchdog: a test case ran past its time limit; stopping\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	kill_owned();
	kill(getpid(), SIGTERM);
}

static void at_exit(void)
{
	pid_t left[MAX_PIDS];
	unsigned n = 0;
	const char *keep = getenv("FERRY_TEST_KEEP");

	if (getpid() != owner)
		return;
	for (int i = 0; i < MAX_PIDS; i++)
		if (owned[i] > 0)
			left[n++] = owned[i];
	if (n)
		fr_stop_pids(left, n, 3000);
	if (dir[0] && !(keep && *keep == '1'))
		fr_remove_dir(dir);
}

static void dump_log(const char *path)
{
	ft_dump_tail(path, "", 3000);
}

/* ---- proxies ------------------------------------------------------------- */

/* Starts ferry-proxy NAME on DIR/NAME.sock (and on TCP: p->port if set,
 * else a free port) with extra arguments; returns fr_spawn_ready's code. */
static int proxy_start(struct proxy *p, const char *name, int tcp,
		       const char *const *extra)
{
	char bin[4200], addr[64];
	char *argv[40];
	int rc = FERRY_EIO;

	snprintf(bin, sizeof(bin), "%s/ferry-proxy", ft_bin_dir());
	snprintf(p->sock, sizeof(p->sock), "%s/%s.sock", dir, name);
	snprintf(p->unix_url, sizeof(p->unix_url), "unix://%s", p->sock);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", dir, name);
	if (!p->cluster)
		p->cluster = cl->file;
	for (int attempt = 0; attempt < 5 && rc; attempt++) {
		int a = 0;
		if (tcp && (attempt || !p->port))
			p->port = ft_free_ports(1);
		argv[a++] = bin;
		argv[a++] = "--cluster";
		argv[a++] = (char *)p->cluster;
		argv[a++] = "--unix";
		argv[a++] = p->sock;
		if (tcp) {
			snprintf(addr, sizeof(addr), "127.0.0.1:%u", p->port);
			argv[a++] = "--tcp";
			argv[a++] = addr;
		}
		for (int e = 0; extra && extra[e] && a < 36; e++)
			argv[a++] = (char *)extra[e];
		argv[a] = NULL;
		rc = fr_spawn_ready(argv, p->log, START_MS, &p->pid);
		if (!tcp)
			break;
	}
	if (!tcp)
		p->port = 0;
	snprintf(p->tcp_url, sizeof(p->tcp_url), "tcp://127.0.0.1:%u", p->port);
	if (rc) {
		p->pid = 0;
		return rc;
	}
	own(p->pid);
	return 0;
}

static void proxy_up(struct proxy *p, const char *name, int tcp,
		     const char *const *extra)
{
	int rc = proxy_start(p, name, tcp, extra);

	if (rc) {
		dump_log(p->log);
		fail_msg("ferry-proxy %s did not start: %s", name,
			 ferry_strerror(rc));
	}
}

/* Sends sig and waits up to 10 s for the proxy to exit (then kills it).
 * Returns its wait status, or -1 if it had to be killed. */
static int proxy_stop(struct proxy *p, int sig)
{
	uint64_t deadline = ft_now_ms() + 10000;
	int st = 0;
	pid_t r;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	while ((r = waitpid(p->pid, &st, WNOHANG)) == 0 &&
	       ft_now_ms() < deadline)
		usleep(5000);
	if (r == 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &st, 0);
		st = -1;
	}
	disown(p->pid);
	p->pid = 0;
	return st;
}

static void proxy_alive(const struct proxy *p)
{
	if (!fr_pid_alive(p->pid)) {
		dump_log(p->log);
		fail_msg("the proxy (%s) is gone", p->sock);
	}
}

/* A field of /proc/PID/status in kB, or -1. */
static long status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, fl) && line[fl] == ':') {
			v = atol(line + fl + 1);
			break;
		}
	fclose(f);
	return v;
}

/* Open descriptors of pid. */
static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- clients ------------------------------------------------------------- */

static int connect_to(const char *cluster, const char *url, int timeout_ms,
		      size_t arena, ferry_client **out)
{
	ferry_opts o;

	ferry_opts_init(&o);
	o.cluster = cluster;
	o.proxy = url;
	o.timeout_ms = timeout_ms;
	o.arena_size = arena;
	return ferry_connect(&o, out);
}

static const char *url_of(const struct proxy *p, enum mode m)
{
	return m == M_DIRECT ? "direct"
	       : m == M_UNIX ? p->unix_url
			     : p->tcp_url;
}

static ferry_client *open_client(const struct proxy *p, enum mode m)
{
	ferry_client *c = NULL;
	int rc = connect_to(p->cluster ? p->cluster : cl->file, url_of(p, m),
			    TIMEOUT_MS, 0, &c);

	if (rc) {
		dump_log(p->log);
		fail_msg("ferry_connect(%s): %s", url_of(p, m),
			 ferry_strerror(rc));
	}
	assert_string_equal(ferry_mode(c), mode_name[m]);
	return c;
}

static void *buf_new(ferry_client *c, size_t n, int zc)
{
	void *p = zc ? ferry_alloc(c, n ? n : 1) : malloc(n ? n : 1);

	assert_non_null(p);
	return p;
}

static void buf_del(ferry_client *c, void *p, int zc)
{
	if (zc)
		ferry_free(c, p);
	else
		free(p);
}

/* 1 if [p, p+len) lies in one mapping of a memfd named "ferry-arena": the
 * arena a proxy-unix client shares with its proxy. */
static int in_shared_arena(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (a >= lo && a < hi) {
			found = a + len <= hi &&
				strstr(line, "/memfd:ferry-arena") != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Stores size bytes of pattern seed under key through c and reads them
 * back through c. */
static void roundtrip(ferry_client *c, const char *key, size_t size,
		      uint64_t seed)
{
	uint8_t *b = malloc(size + 1);
	size_t got = 0;
	int rc;

	assert_non_null(b);
	ft_fill(b, size, seed);
	rc = ferry_put(c, key, strlen(key), b, size, 0);
	if (rc)
		fail_msg("%s: put %s (%zu bytes): %s", ferry_mode(c), key, size,
			 ferry_strerror(rc));
	memset(b, 0, size + 1);
	rc = ferry_get(c, key, strlen(key), 0, b, size + 1, &got, NULL);
	if (rc)
		fail_msg("%s: get %s: %s", ferry_mode(c), key,
			 ferry_strerror(rc));
	assert_int_equal(got, size);
	if (ft_check(b, size, seed) != (size_t)-1)
		fail_msg("%s: %s read back other bytes", ferry_mode(c), key);
	free(b);
}

static ferry_proxy_stat pstat(ferry_client *c)
{
	ferry_proxy_stat ps;

	memset(&ps, 0xff, sizeof(ps));
	ft_assert_rc(ferry_proxy_stat_get(c, &ps), 0);
	return ps;
}

/* Waits until the proxy c talks to counts `functions` connections and
 * `regions` arenas (it notices a closed connection on a later loop
 * pass), failing the test if it does not within SETTLE_MS. */
static void wait_counts(ferry_client *c, uint64_t functions, uint64_t regions)
{
	uint64_t deadline = ft_now_ms() + SETTLE_MS;
	ferry_proxy_stat ps;

	for (;;) {
		ps = pstat(c);
		if (ps.functions == functions && ps.regions == regions)
			return;
		if (ft_now_ms() > deadline)
			break;
		usleep(20000);
	}
	fail_msg("the proxy counts %llu functions and %llu arenas, expected "
		 "%llu and %llu",
		 (unsigned long long)ps.functions,
		 (unsigned long long)ps.regions, (unsigned long long)functions,
		 (unsigned long long)regions);
}

/* The main proxy's counts when an attack began: the side clients, and
 * whatever an earlier case that failed left open. */
static uint64_t base_functions, base_regions;

/* The main proxy runs and serves the clients beside it correctly. */
static void still_serving(void)
{
	static uint64_t round;
	char key[64];

	proxy_alive(&px);
	round++;
	snprintf(key, sizeof(key), "side/u/small/%llu",
		 (unsigned long long)round);
	roundtrip(side_u, key, 100, round);
	snprintf(key, sizeof(key), "side/u/rma/%llu",
		 (unsigned long long)round);
	roundtrip(side_u, key, 3 * 4096 + 5, round + 1);
	snprintf(key, sizeof(key), "side/t/small/%llu",
		 (unsigned long long)round);
	roundtrip(side_t, key, 100, round + 2);
	snprintf(key, sizeof(key), "side/t/big/%llu",
		 (unsigned long long)round);
	roundtrip(side_t, key, 70000, round + 3);
}

/* Before an attack on the main proxy: takes its counts. */
static void begin(void)
{
	uint64_t deadline = ft_now_ms() + 2000;
	ferry_proxy_stat ps;

	proxy_alive(&px);
	/* A connection closed just before may be counted for a moment. */
	while ((ps = pstat(side_u)).functions != NSIDE &&
	       ft_now_ms() < deadline)
		usleep(20000);
	base_functions = ps.functions;
	base_regions = ps.regions;
}

/* After it: the attacker's connections are gone from the proxy's count,
 * and the proxy serves the others. */
static void finish(void)
{
	wait_counts(side_u, base_functions, base_regions);
	still_serving();
}

/* ---- set-up -------------------------------------------------------------- */

static int group_setup(void **state)
{
	static const char *const args[] = {"--memory", "512M", "--max-value",
					   "80M", NULL};
	struct sigaction sa;
	const char *tmp = getenv("TMPDIR");

	owner = getpid();
	cl = ft_cluster_start(2, args);
	snprintf(dir, sizeof(dir), "%s/ferry-proxy-test.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		fail_msg("mkdtemp: %s", strerror(errno));
	atexit(at_exit); /* runs before the harness's: proxies go first */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	for (int i = 0; i < 3; i++)
		sigaction(fatal_sigs[i], &sa, &prev_act[i]);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	proxy_up(&px, "main", 1, NULL);
	chk = ft_connect(cl, TIMEOUT_MS);
	side_u = open_client(&px, M_UNIX);
	side_t = open_client(&px, M_TCP);
	return 0;
}

static int group_teardown(void **state)
{
	ferry_close(side_u);
	ferry_close(side_t);
	ferry_close(chk);
	proxy_stop(&px, SIGTERM);
	ft_cluster_stop(cl);
	return 0;
}

/* Each case: a time limit, and a main proxy to attack (a case that failed
 * because the proxy died leaves a fresh one to the next). */
static uint64_t case_t0;

static int case_setup(void **state)
{
	case_t0 = ft_now_ms();
	alarm(CASE_LIMIT_S);
	if (!fr_pid_alive(px.pid)) {
		fprintf(stderr, "# the main proxy is gone: starting another\n");
		disown(px.pid);
		if (proxy_start(&px, "main", 1, NULL)) {
			dump_log(px.log);
			ft_dump_logs(cl);
			return -1;
		}
	}
	return 0;
}

/* Raw connections of the running case, closed after it whatever
 * happened (a failed case leaves nothing attached to the proxy). */
static int raw_fds[256];

static void raw_track(int fd)
{
	for (size_t i = 0; i < FR_ARRAY_LEN(raw_fds); i++)
		if (raw_fds[i] <= 0) {
			raw_fds[i] = fd;
			return;
		}
}

static void raw_close(int fd)
{
	for (size_t i = 0; i < FR_ARRAY_LEN(raw_fds); i++)
		if (raw_fds[i] == fd)
			raw_fds[i] = 0;
	close(fd);
}

/* Whatever the case started and did not stop (it failed) goes now: its
 * proxies and children, and its raw connections. */
static int case_teardown(void **state)
{
	pid_t left[MAX_PIDS];
	unsigned n = 0;

	alarm(0);
	for (int i = 0; i < MAX_PIDS; i++)
		if (case_pids[i] > 0 && case_pids[i] != px.pid)
			left[n++] = case_pids[i];
	if (n)
		fr_stop_pids(left, n, 3000);
	for (unsigned i = 0; i < n; i++)
		disown(left[i]);
	memset(case_pids, 0, sizeof(case_pids));
	for (size_t i = 0; i < FR_ARRAY_LEN(raw_fds); i++)
		if (raw_fds[i] > 0)
			raw_close(raw_fds[i]);
	if (getenv("FERRY_TEST_TIMES"))
		print_message("# %llu ms\n",
			      (unsigned long long)(ft_now_ms() - case_t0));
	return 0;
}

/* ---- every operation in every mode --------------------------------------- */

static const size_t edge_sizes[] = {0, 1, 4095, 4096, 4097, MiB + 7, 64 * MiB};

static void sizes_in(enum mode m)
{
	ferry_client *c = open_client(&px, m);
	/* Another mode reads and overwrites what this one wrote. */
	ferry_client *other = m == M_DIRECT ? open_client(&px, M_UNIX) : chk;
	char key[256];

	for (int zc = 0; zc < 2; zc++)
		for (size_t i = 0; i < FR_ARRAY_LEN(edge_sizes); i++) {
			size_t size = edge_sizes[i], alen = 0;
			uint64_t seed = size * 31 + (uint64_t)zc + 7 * m;
			uint8_t *src = buf_new(c, size, zc);
			void *all = NULL;
			ferry_stat st;

			/* ferry_alloc memory lies in the arena shared with
			 * the proxy in proxy-unix mode, and only there. */
			if (in_shared_arena(src, size ? size : 1) !=
			    (zc && m == M_UNIX))
				fail_msg("%s: a %s buffer of %zu bytes is%s in "
					 "a shared arena",
					 ferry_mode(c),
					 zc ? "ferry_alloc" : "malloc", size,
					 zc && m == M_UNIX ? " not" : "");
			ft_fill(src, size, seed);
			ft_kf(key, "sz/%d/%d/%zu", m, zc, size);
			ft_assert_rc(
			    ferry_put(c, key, strlen(key), src, size, 0), 0);
			/* The source buffer is not modified by a put. */
			assert_int_equal(ft_check(src, size, seed), (size_t)-1);
			ft_assert_rc(ferry_stat_key(c, key, strlen(key), &st),
				     0);
			assert_int_equal(st.size, size);
			ft_check_value(c, key, size, seed, zc);
			ft_assert_rc(ferry_get_alloc(other, key, strlen(key),
						     &all, &alen),
				     0);
			assert_int_equal(alen, size);
			if (ft_check(all, size, seed) != (size_t)-1)
				fail_msg("%s written in %s mode reads "
					 "differently in %s mode",
					 key, ferry_mode(c), ferry_mode(other));
			/* Overwritten from the other mode: this one sees the
			 * new bytes and none of the old. */
			ft_fill(all, size, seed + 1000);
			ft_assert_rc(
			    ferry_put(other, key, strlen(key), all, size, 0),
			    0);
			free(all);
			ft_check_value(c, key, size, seed + 1000, !zc);
			ft_assert_rc(ferry_del(c, key, strlen(key)), 0);
			ft_assert_rc(
			    ferry_stat_key(other, key, strlen(key), NULL),
			    FERRY_ENOENT);
			buf_del(c, src, zc);
		}
	if (other != chk)
		ferry_close(other);
	ferry_close(c);
}

static void test_sizes_direct(void **state)
{
	sizes_in(M_DIRECT);
}

static void test_sizes_unix(void **state)
{
	sizes_in(M_UNIX);
}

static void test_sizes_tcp(void **state)
{
	sizes_in(M_TCP);
}

static void put_flags(ferry_client *c, int m)
{
	size_t n = 100 * KiB, got;
	uint8_t *big = malloc(n);
	char k[64], buf[16];
	size_t kl = ft_kf(k, "op%d/flags", m);

	assert_non_null(big);
	ferry_del(c, k, kl);
	/* Replace-only on a missing key: nothing is created. */
	ft_assert_rc(ferry_put(c, k, kl, "r1", 2, FERRY_PUT_REPLACE),
		     FERRY_ENOENT);
	ft_assert_rc(ferry_get(c, k, kl, 0, buf, sizeof(buf), &got, NULL),
		     FERRY_ENOENT);
	/* Create-only creates once. */
	ft_assert_rc(ferry_put(c, k, kl, "c1", 2, FERRY_PUT_CREATE), 0);
	ft_assert_rc(ferry_put(c, k, kl, "c2", 2, FERRY_PUT_CREATE),
		     FERRY_EEXIST);
	ft_assert_rc(ferry_get(c, k, kl, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 2);
	assert_memory_equal(buf, "c1", 2);
	/* The same for a value that does not travel inline. */
	ft_fill(big, n, 77);
	ft_assert_rc(ferry_put(c, k, kl, big, n, FERRY_PUT_CREATE),
		     FERRY_EEXIST);
	ft_assert_rc(ferry_get(c, k, kl, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 2);
	assert_memory_equal(buf, "c1", 2);
	/* Replace-only replaces. */
	ft_assert_rc(ferry_put(c, k, kl, big, n, FERRY_PUT_REPLACE), 0);
	ft_check_value(c, k, n, 77, 1);
	ft_assert_rc(ferry_put(c, k, kl, "r2", 2, FERRY_PUT_REPLACE), 0);
	ft_assert_rc(ferry_get(c, k, kl, 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 2);
	assert_memory_equal(buf, "r2", 2);
	ft_assert_rc(
	    ferry_put(c, k, kl, "x", 1, FERRY_PUT_CREATE | FERRY_PUT_REPLACE),
	    FERRY_EINVAL);
	ft_assert_rc(ferry_put(c, k, kl, "x", 1, 0x80), FERRY_EINVAL);
	ft_assert_rc(ferry_del(c, k, kl), 0);
	/* Create-only works again after a delete. */
	ft_assert_rc(ferry_put(c, k, kl, big, n, FERRY_PUT_CREATE), 0);
	ft_assert_rc(ferry_del(c, k, kl), 0);
	free(big);
}

static void ranges(ferry_client *c, int m)
{
	size_t size = MiB + 7, got;
	uint8_t *src = malloc(size);
	char k[64], ks[64];
	size_t kl = ft_kf(k, "op%d/range", m),
	       ksl = ft_kf(ks, "op%d/range/s", m);
	ferry_stat st;
	const struct {
		uint64_t off;
		size_t cap, want;
	} cases[] = {
	    {0, 10, 10},
	    {100, 50, 50},		  /* inline */
	    {5000, 5000, 5000},		  /* by RMA or in the stream */
	    {1000, 512 * KiB, 512 * KiB}, /* large */
	    {MiB, 4096, 7},		  /* the cap runs past the end */
	    {MiB + 6, 100, 1},		  /* the last byte */
	    {MiB + 7, 100, 0},		  /* at the end: nothing */
	    {MiB + 7, 64 * KiB, 0},
	    {0, 0, 0}, /* no room: metadata only */
	    {MiB + 7 - 10000, 20000, 10000},
	    {MiB + 7 - 4097, 8192, 4097},
	};
	static const uint64_t past[] = {MiB + 8, 2 * MiB, UINT64_MAX};

	assert_non_null(src);
	ft_fill(src, size, 5 + (uint64_t)m);
	ft_assert_rc(ferry_put(c, k, kl, src, size, 0), 0);
	for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
		int zc = (int)(i % 2);
		uint8_t *dst = buf_new(c, cases[i].cap + 64, zc);

		memset(dst, 0xee, cases[i].cap + 64);
		st.size = 0;
		ft_assert_rc(ferry_get(c, k, kl, cases[i].off, dst,
				       cases[i].cap, &got, &st),
			     0);
		if (got != cases[i].want)
			fail_msg("%s: range case %zu (offset %llu, cap %zu): "
				 "got %zu bytes, expected %zu",
				 ferry_mode(c), i,
				 (unsigned long long)cases[i].off, cases[i].cap,
				 got, cases[i].want);
		assert_int_equal(st.size, size);
		if (got)
			assert_memory_equal(dst, src + cases[i].off, got);
		for (size_t j = got; j < cases[i].cap + 64; j++)
			assert_int_equal(dst[j], 0xee);
		buf_del(c, dst, zc);
	}
	/* Past the end is FERRY_ERANGE, however far. */
	for (size_t i = 0; i < FR_ARRAY_LEN(past); i++) {
		uint8_t dst[100];
		got = 99;
		ft_assert_rc(
		    ferry_get(c, k, kl, past[i], dst, sizeof(dst), &got, NULL),
		    FERRY_ERANGE);
		assert_int_equal(got, 0);
		ft_assert_rc(
		    ferry_get(c, k, kl, past[i], src, 64 * KiB, &got, NULL),
		    FERRY_ERANGE);
	}
	ft_assert_rc(ferry_put(c, ks, ksl, "abcdef", 6, 0), 0);
	ft_assert_rc(ferry_get(c, ks, ksl, 2, src, 3, &got, NULL), 0);
	assert_int_equal(got, 3);
	assert_memory_equal(src, "cde", 3);
	ft_assert_rc(ferry_get(c, ks, ksl, 6, src, 3, &got, NULL), 0);
	assert_int_equal(got, 0);
	ft_assert_rc(ferry_get(c, ks, ksl, 7, src, 3, &got, NULL),
		     FERRY_ERANGE);
	/* A missing key. */
	void *v = (void *)1;
	size_t vlen = 1;
	ft_assert_rc(ferry_get(c, "op/none", 7, 0, src, 3, &got, NULL),
		     FERRY_ENOENT);
	ft_assert_rc(ferry_get_alloc(c, "op/none", 7, &v, &vlen), FERRY_ENOENT);
	assert_null(v);
	assert_int_equal(vlen, 0);
	ft_assert_rc(ferry_get(c, k, kl, 0, NULL, 10, &got, NULL),
		     FERRY_EINVAL);
	ft_assert_rc(ferry_del(c, k, kl), 0);
	ft_assert_rc(ferry_del(c, ks, ksl), 0);
	free(src);
}

static void del_stat(ferry_client *c, int m)
{
	char k[64], buf[8];
	size_t kl = ft_kf(k, "op%d/stat", m), got;
	ferry_stat a, b, g;
	struct timespec ts;
	uint64_t before, after;

	clock_gettime(CLOCK_REALTIME, &ts);
	before = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	ft_assert_rc(ferry_put(c, k, kl, "12345", 5, 0), 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	ft_assert_rc(ferry_stat_key(c, k, kl, &a), 0);
	assert_int_equal(a.size, 5);
	assert_true(a.ctime_ns + 1000000000ull >= before);
	assert_true(a.ctime_ns <= after + 1000000000ull);
	ft_assert_rc(ferry_stat_key(c, k, kl, &b), 0);
	assert_true(a.version == b.version);
	/* Every write changes the version, even with the same bytes. */
	ft_assert_rc(ferry_put(c, k, kl, "12345", 5, 0), 0);
	ft_assert_rc(ferry_stat_key(c, k, kl, &b), 0);
	assert_true(b.version != a.version);
	ft_assert_rc(ferry_get(c, k, kl, 0, buf, sizeof(buf), &got, &g), 0);
	assert_true(g.version == b.version);
	assert_int_equal(g.size, 5);
	/* Another mode sees the same metadata. */
	ft_assert_rc(ferry_stat_key(chk, k, kl, &g), 0);
	assert_true(g.version == b.version);
	/* Delete. */
	ft_assert_rc(ferry_del(c, k, kl), 0);
	ft_assert_rc(ferry_get(c, k, kl, 0, buf, 8, NULL, NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_stat_key(c, k, kl, NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_stat_key(chk, k, kl, NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_del(c, k, kl), FERRY_ENOENT);
}

static void counters(ferry_client *c, int m)
{
	char k[64], k2[64];
	size_t kl = ft_kf(k, "op%d/ctr", m), k2l = ft_kf(k2, "op%d/ctr2", m),
	       got;
	uint8_t le[8];
	int64_t v = 0;
	ferry_op ops[50];

	ferry_del(c, k, kl);
	/* A missing key counts as 0. */
	ft_assert_rc(ferry_incr(c, k, kl, 5, &v), 0);
	assert_int_equal(v, 5);
	ft_assert_rc(ferry_incr(c, k, kl, -7, &v), 0);
	assert_int_equal(v, -2);
	/* Stored as 8 bytes, little-endian. */
	ft_assert_rc(ferry_get(c, k, kl, 0, le, 8, &got, NULL), 0);
	assert_int_equal(got, 8);
	assert_int_equal((int64_t)fr_get_u64(le), -2);
	/* Concurrent increments are never lost. */
	for (int i = 0; i < 50; i++)
		ops[i] = (ferry_op){
		    .opcode = FERRY_OP_INCR, .key = k, .klen = kl, .delta = 3};
	ft_assert_rc(ferry_batch(c, ops, 50), 0);
	ft_assert_rc(ferry_incr(c, k, kl, 0, &v), 0);
	assert_int_equal(v, 148);
	/* Not a counter. */
	ft_assert_rc(ferry_put(c, k2, k2l, "abc", 3, 0), 0);
	ft_assert_rc(ferry_incr(c, k2, k2l, 1, &v), FERRY_ENOTNUM);
	/* Overflow leaves the value as it was. */
	fr_put_u64(le, (uint64_t)INT64_MAX);
	ft_assert_rc(ferry_put(c, k2, k2l, le, 8, 0), 0);
	ft_assert_rc(ferry_incr(c, k2, k2l, 1, &v), FERRY_EOVERFLOW);
	memset(le, 0, 8);
	ft_assert_rc(ferry_get(c, k2, k2l, 0, le, 8, &got, NULL), 0);
	assert_true((int64_t)fr_get_u64(le) == INT64_MAX);
	ft_assert_rc(ferry_incr(c, k2, k2l, INT64_MIN, &v), 0);
	assert_int_equal(v, -1);
	ft_assert_rc(ferry_incr(c, k2, k2l, INT64_MIN, &v), FERRY_EOVERFLOW);
	ferry_del(c, k, kl);
	ferry_del(c, k2, k2l);
}

#define NLIST 300
#define PAGE 37

/* Counts each key PREFIX/NNNN the listing returns, once. */
struct seen {
	unsigned char idx[NLIST];
	size_t plen, total;
	ferry_client *c;
};

static void see(const char *key, void *arg)
{
	struct seen *sn = arg;
	int idx = -1;

	if (sscanf(key + sn->plen, "%4d", &idx) != 1 || idx < 0 || idx >= NLIST)
		fail_msg("%s: unexpected key %s", ferry_mode(sn->c), key);
	assert_int_equal(sn->idx[idx], 0);
	sn->idx[idx] = 1;
	sn->total++;
}

static void listing(ferry_client *c, int m)
{
	struct seen sn = {.c = c};
	char pre[16], fmt[32], after[64];
	size_t plen = (size_t)snprintf(pre, sizeof(pre), "ls%d/", m), alen = 0;
	int pages = 0, more = 1;

	sn.plen = plen;
	snprintf(fmt, sizeof(fmt), "ls%d/%%04d", m);
	ft_put_many(c, fmt, 0, NLIST);
	snprintf(fmt, sizeof(fmt), "ls%d.%%04d",
		 m); /* just before the prefix */
	ft_put_many(c, fmt, 0, 10);
	snprintf(fmt, sizeof(fmt), "ls%d0%%04d", m); /* just after */
	ft_put_many(c, fmt, 0, 10);
	while (more && pages < 100) {
		more = ft_list_page(c, pre, plen, after, &alen, sizeof(after),
				    PAGE, see, &sn);
		pages++;
	}
	assert_int_equal(more, 0);
	assert_int_equal(sn.total, NLIST);
	assert_true(pages >= NLIST / PAGE);
	ft_list_edges(c, pre, plen, NLIST);
}

#define NBATCH 120

static size_t batch_size(int i)
{
	return i % 4 == 0   ? 0
	       : i % 4 == 1 ? 100 + (size_t)i
	       : i % 4 == 2 ? 20000 + (size_t)i
			    : 200 * KiB + (size_t)i;
}

static void batches(ferry_client *c, int m)
{
	char fmt[32];

	snprintf(fmt, sizeof(fmt), "bt%d/%%d", m);
	ft_batch_check(c, chk, fmt, NBATCH, batch_size, 3);
}

#define NASYNC 600

static size_t async_size(size_t i)
{
	return i % 3 == 0 ? 8 : i % 3 == 1 ? 300 : 5000 + i;
}

static void async_ops(ferry_client *c, int m)
{
	ferry_op *ops = calloc(NASYNC, sizeof(*ops));
	char(*keys)[32] = calloc(NASYNC, 32);
	uint8_t **bufs = calloc(NASYNC, sizeof(*bufs));
	uint64_t deadline = ft_now_ms() + 60000;

	assert_non_null(ops);
	assert_non_null(keys);
	assert_non_null(bufs);
	for (size_t i = 0; i < NASYNC; i++) {
		bufs[i] = malloc(async_size(i));
		assert_non_null(bufs[i]);
		snprintf(keys[i], 32, "as%d/%zu", m, i);
	}
	for (int phase = 0; phase < 2; phase++) {
		for (size_t i = 0; i < NASYNC; i++) {
			if (phase)
				memset(bufs[i], 0, async_size(i));
			else
				ft_fill(bufs[i], async_size(i), 7000 + i);
			ops[i] = (ferry_op){.opcode = phase ? FERRY_OP_GET
							    : FERRY_OP_PUT,
					    .key = keys[i],
					    .klen = strlen(keys[i]),
					    .buf = bufs[i],
					    .len = async_size(i),
					    .user = (void *)(uintptr_t)(i + 1)};
		}
		ft_async_run(c, ops, NASYNC, deadline);
	}
	for (size_t i = 0; i < NASYNC; i++) {
		assert_int_equal(ops[i].result, async_size(i));
		if (ft_check(bufs[i], async_size(i), 7000 + i) != (size_t)-1)
			fail_msg("%s: async get of %s returned other bytes",
				 ferry_mode(c), keys[i]);
	}
	ft_async_after(c);
	for (size_t i = 0; i < NASYNC; i++)
		free(bufs[i]);
	free(bufs);
	free(keys);
	free(ops);
}

static void cluster_stats(ferry_client *c, int m)
{
	ferry_server_stat a[4], b[4], one[2];
	uint64_t ka = 0, kb = 0;
	char key[32];

	assert_int_equal(ferry_cluster_stat(c, NULL, 0), (int)cl->n);
	assert_int_equal(ferry_cluster_stat(c, a, 4), (int)cl->n);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "cs%d/%d", m, i);
		ferry_del(c, key, strlen(key));
	}
	assert_int_equal(ferry_cluster_stat(c, a, 4), (int)cl->n);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "cs%d/%d", m, i);
		ft_assert_rc(ferry_put(c, key, strlen(key), "v", 1, 0), 0);
	}
	assert_int_equal(ferry_cluster_stat(c, b, 4), (int)cl->n);
	for (unsigned s = 0; s < cl->n; s++) {
		assert_int_equal(b[s].status, 0);
		assert_string_equal(b[s].addr, cl->addrs[s]);
		assert_true(b[s].mem_total >= 512 * MiB);
		assert_true(b[s].mem_used <= b[s].mem_total);
		assert_true(b[s].ops > a[s].ops);
		assert_true(b[s].peers >= 1);
		ka += a[s].keys;
		kb += b[s].keys;
	}
	assert_int_equal(kb - ka, 20);
	memset(one, 0x5a, sizeof(one));
	assert_int_equal(ferry_cluster_stat(c, one, 1), (int)cl->n);
	assert_string_equal(one[0].addr, cl->addrs[0]);
	assert_int_equal(((unsigned char *)&one[1])[0], 0x5a);
	assert_int_equal(ferry_cluster_stat(c, NULL, 1), FERRY_EINVAL);
}

static void limits(ferry_client *c, int m)
{
	uint8_t key[FERRY_KEY_MAX + 1], buf[16];
	uint8_t *big = malloc(MAX_VALUE + 1); /* never touched */
	ferry_op op = {.opcode = FERRY_OP_PUT,
		       .key = "toobig",
		       .klen = 6,
		       .buf = big,
		       .len = MAX_VALUE + 1};
	size_t got;
	int64_t v;

	assert_non_null(big);
	ft_fill(key, sizeof(key), 3 + (uint64_t)m);
	ft_assert_rc(ferry_put(c, key, FERRY_KEY_MAX, "val", 3, 0), 0);
	ft_assert_rc(ferry_get(c, key, FERRY_KEY_MAX, 0, buf, 16, &got, NULL),
		     0);
	assert_int_equal(got, 3);
	ft_assert_rc(ferry_del(c, key, FERRY_KEY_MAX), 0);
	ft_assert_rc(ferry_put(c, key, FERRY_KEY_MAX + 1, "v", 1, 0),
		     FERRY_E2BIG);
	ft_assert_rc(ferry_incr(c, key, FERRY_KEY_MAX + 1, 1, &v), FERRY_E2BIG);
	ft_assert_rc(ferry_put(c, key, 0, "v", 1, 0), FERRY_EINVAL);
	ft_assert_rc(ferry_stat_key(c, NULL, 3, NULL), FERRY_EINVAL);
	/* The servers' value limit holds in every mode. */
	ft_assert_rc(ferry_put(c, "toobig", 6, big, MAX_VALUE + 1, 0),
		     FERRY_E2BIG);
	ft_assert_rc(ferry_submit(c, &op), FERRY_E2BIG);
	ft_assert_rc(ferry_stat_key(c, "toobig", 6, NULL), FERRY_ENOENT);
	free(big);
}

static void ops_in(enum mode m)
{
	ferry_client *c = open_client(&px, m);
	ferry_proxy_stat ps;

	put_flags(c, m);
	ranges(c, m);
	del_stat(c, m);
	counters(c, m);
	listing(c, m);
	batches(c, m);
	async_ops(c, m);
	cluster_stats(c, m);
	limits(c, m);
	if (m == M_DIRECT) {
		ft_assert_rc(ferry_proxy_stat_get(c, &ps), FERRY_EINVAL);
	} else {
		ps = pstat(c);
		assert_int_equal(ps.endpoints, 1);
		assert_int_equal(ps.server_conns, cl->n);
	}
	ferry_close(c);
}

static void test_ops_direct(void **state)
{
	ops_in(M_DIRECT);
}

static void test_ops_unix(void **state)
{
	ops_in(M_UNIX);
}

static void test_ops_tcp(void **state)
{
	ops_in(M_TCP);
}

/* A value larger than one stream piece (64 MiB) over TCP: ferry_get_alloc
 * gathers all of it, a ranged read continues where the last ended, and
 * the other modes read the same bytes. */
static void test_big_values_tcp(void **state)
{
	size_t size = 70 * MiB, got = 0, off = 0;
	uint8_t *src = malloc(size), *dst = malloc(size);
	ferry_client *t = open_client(&px, M_TCP),
		     *u = open_client(&px, M_UNIX);
	void *all = NULL;
	size_t alen = 0;

	assert_non_null(src);
	assert_non_null(dst);
	ft_fill(src, size, 70);
	ft_assert_rc(ferry_put(t, "big/tcp", 7, src, size, 0), 0);
	ft_assert_rc(ferry_get_alloc(t, "big/tcp", 7, &all, &alen), 0);
	assert_int_equal(alen, size);
	assert_int_equal(ft_check(all, size, 70), (size_t)-1);
	free(all);
	memset(dst, 0, size);
	while (off < size) {
		ft_assert_rc(ferry_get(t, "big/tcp", 7, off, dst + off,
				       size - off, &got, NULL),
			     0);
		assert_true(got > 0 && got <= size - off);
		off += got;
	}
	assert_int_equal(ft_check(dst, size, 70), (size_t)-1);
	ft_assert_rc(ferry_get_alloc(chk, "big/tcp", 7, &all, &alen), 0);
	assert_int_equal(alen, size);
	assert_int_equal(ft_check(all, size, 70), (size_t)-1);
	free(all);
	memset(dst, 0, size);
	ft_assert_rc(ferry_get(u, "big/tcp", 7, 0, dst, size, &got, NULL), 0);
	assert_int_equal(got, size);
	assert_int_equal(ft_check(dst, size, 70), (size_t)-1);
	ft_assert_rc(ferry_del(t, "big/tcp", 7), 0);
	ferry_close(t);
	ferry_close(u);
	free(src);
	free(dst);
}

/* Bytes malloc has handed out and not got back: glibc's count (heap and
 * mmap'd), or AddressSanitizer's, whose malloc replaces glibc's. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FT_ASAN_MALLOC 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(FT_ASAN_MALLOC)
#include <sanitizer/allocator_interface.h>
static size_t heap_in_use(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}
#endif

/* ferry_close frees the buffers ferry_alloc gave, in every mode (ferry.h).
 * Over TCP they are heap blocks: one left behind shows in malloc's count
 * of bytes in use. */
static void test_close_frees_alloc_tcp(void **state)
{
	ferry_client *t = open_client(&px, M_TCP);
	void *p = ferry_alloc(t, 64 * MiB);
	size_t held;

	assert_non_null(p);
	ft_assert_rc(ferry_put(t, "alloc/tcp", 9, p, MiB, 0), 0);
	held = heap_in_use();
	assert_true(held >= 64 * MiB);
	ferry_close(t);
	assert_true(heap_in_use() <= held - 64 * MiB);
}

/* ---- the proxy's counters ------------------------------------------------ */

static void test_proxy_stat(void **state)
{
	ferry_client *u[3], *t[2];
	ferry_proxy_stat s0, s;
	void *big;

	begin();
	s0 = pstat(side_u);
	assert_int_equal(s0.endpoints, 1);
	assert_int_equal(s0.server_conns, cl->n);
	assert_int_equal(s0.functions, base_functions);
	assert_true(s0.functions >= NSIDE);
	assert_true(s0.regions >= 1); /* side_u's arena */
	for (int i = 0; i < 3; i++)
		u[i] = open_client(&px, M_UNIX);
	for (int i = 0; i < 2; i++)
		t[i] = open_client(&px, M_TCP);
	/* Each function is a connection; each proxy-unix one has an arena,
	 * and its frames go through a channel. */
	assert_true(s0.channels >= 1); /* side_u's */
	s = pstat(side_u);
	assert_int_equal(s.functions, s0.functions + 5);
	assert_int_equal(s.regions, s0.regions + 3);
	assert_int_equal(s.channels, s0.channels + 3);
	assert_true(s.ops > s0.ops);
	assert_int_equal(s.endpoints, 1);
	assert_int_equal(s.server_conns, cl->n);
	s = pstat(t[0]);
	assert_int_equal(s.functions, s0.functions + 5);
	assert_int_equal(s.endpoints, 1);
	assert_int_equal(s.server_conns, cl->n);
	/* A buffer larger than the arena brings another arena. */
	big = ferry_alloc(u[0], 65 * MiB);
	assert_non_null(big);
	assert_true(in_shared_arena(big, 65 * MiB));
	assert_int_equal(pstat(side_u).regions, s0.regions + 4);
	/* A size no arena can hold adds none (rounding it up to pages
	 * wrapped around to a small arena that was attached for nothing),
	 * nor does a GET with such a capacity. */
	for (int i = 0; i < 3; i++) {
		size_t n = SIZE_MAX - 64 * (size_t)i;
		assert_null(ferry_alloc(u[0], n));
		ft_assert_rc(ferry_get(u[0], "nokey", 5, 0, &s, n, NULL, NULL),
			     FERRY_ENOMEM);
	}
	assert_int_equal(pstat(side_u).regions, s0.regions + 4);
	/* Closing gives them back. */
	ferry_close(u[0]);
	ferry_close(t[0]);
	wait_counts(side_u, s0.functions + 3, s0.regions + 2);
	ferry_close(u[1]);
	ferry_close(u[2]);
	ferry_close(t[1]);
	wait_counts(side_u, s0.functions, s0.regions);
	assert_int_equal(pstat(side_u).channels, s0.channels);
	/* Only through a proxy. */
	ft_assert_rc(ferry_proxy_stat_get(chk, &s), FERRY_EINVAL);
	ft_assert_rc(ferry_proxy_stat_get(side_u, NULL), FERRY_EINVAL);
	ft_assert_rc(ferry_proxy_stat_get(NULL, &s), FERRY_EINVAL);
	still_serving();
}

/* ---- 1000 functions on one proxy ----------------------------------------- */

static void many_child(const char *cluster, const char *url, int idx,
		       int ready_fd, int go_fd)
{
	ferry_client *cs[PER_CHILD];
	struct rlimit rl;
	uint8_t val[5000], back[5000];
	char key[64], b;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < PER_CHILD; i++)
		if (connect_to(cluster, url, 60000, MiB, &cs[i]) ||
		    strcmp(ferry_mode(cs[i]), "proxy-unix"))
			_exit(10);
	for (int i = 0; i < PER_CHILD; i++) {
		size_t n = i % 2 ? 5000 : 100, got = 0; /* by arena, inline */
		snprintf(key, sizeof(key), "many/%d/%d", idx, i);
		ft_fill(val, n, (uint64_t)(idx * 1000 + i));
		if (ferry_put(cs[i], key, strlen(key), val, n, 0))
			_exit(11);
		if (ferry_get(cs[i], key, strlen(key), 0, back, sizeof(back),
			      &got, NULL) ||
		    got != n || memcmp(val, back, n))
			_exit(12);
	}
	if (write(ready_fd, "r", 1) != 1)
		_exit(13);
	/* Every connection stays open until the parent has looked. */
	if (read(go_fd, &b, 1) < 0)
		_exit(14);
	for (int i = 0; i < PER_CHILD; i++) {
		size_t n = i % 2 ? 5000 : 100, got = 0;
		snprintf(key, sizeof(key), "many/%d/%d", idx, i);
		ft_fill(val, n, (uint64_t)(idx * 1000 + i));
		if (ferry_get(cs[i], key, strlen(key), 0, back, sizeof(back),
			      &got, NULL) ||
		    got != n || memcmp(val, back, n))
			_exit(15);
	}
	for (int i = 0; i < PER_CHILD; i++)
		ferry_close(cs[i]);
	_exit(0);
}

static void test_many_functions(void **state)
{
	static const char *const args[] = {"--memory", "64M", NULL};
	ft_cluster *c2 = ft_cluster_start(2, args);
	struct proxy mp = {.cluster = c2->file};
	ferry_client *dc = NULL, *sc = NULL;
	ferry_server_stat ss[2];
	ferry_proxy_stat ps;
	pid_t kids[NCHILD];
	int ready[2], go[2], nready = 0;
	uint64_t deadline;
	char b;

	proxy_up(&mp, "many", 0, NULL);
	/* The servers know two peers: the proxy and this direct client. */
	ft_assert_rc(connect_to(c2->file, "direct", TIMEOUT_MS, 0, &dc), 0);
	sc = open_client(&mp, M_UNIX);
	assert_int_equal(ferry_cluster_stat(dc, ss, 2), 2);
	for (int s = 0; s < 2; s++) {
		assert_int_equal(ss[s].status, 0);
		assert_int_equal(ss[s].peers, 2);
	}
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	fflush(NULL);
	for (int i = 0; i < NCHILD; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			many_child(c2->file, mp.unix_url, i, ready[1], go[0]);
		}
		own(kids[i]);
	}
	close(ready[1]);
	close(go[0]);
	deadline = ft_now_ms() + 100000;
	while (nready < NCHILD && ft_now_ms() < deadline) {
		struct pollfd p = {.fd = ready[0], .events = POLLIN};
		if (poll(&p, 1, 1000) == 1) {
			if (read(ready[0], &b, 1) != 1)
				break; /* every child is gone */
			nready++;
		}
	}
	if (nready < NCHILD) {
		for (int i = 0; i < NCHILD; i++) {
			int st = 0;
			if (waitpid(kids[i], &st, WNOHANG) == kids[i])
				fprintf(stderr, "# child %d: status 0x%x\n", i,
					st);
		}
		dump_log(mp.log);
		fail_msg("only %d of %d processes connected their %d clients",
			 nready, NCHILD, PER_CHILD);
	}
	/* 1000 functions at once, each with its arena... */
	ps = pstat(sc);
	assert_int_equal(ps.functions, 1 + NCHILD * PER_CHILD);
	assert_int_equal(ps.regions, 1 + NCHILD * PER_CHILD);
	assert_int_equal(ps.endpoints, 1);
	assert_int_equal(ps.server_conns, 2);
	/* ...and the servers still know only the proxy and dc. */
	assert_int_equal(ferry_cluster_stat(dc, ss, 2), 2);
	for (int s = 0; s < 2; s++) {
		assert_int_equal(ss[s].status, 0);
		if (ss[s].peers != 2)
			fail_msg("server %s knows %llu peers with %d functions "
				 "connected; expected 2 (the proxy and the "
				 "checker)",
				 ss[s].addr, (unsigned long long)ss[s].peers,
				 NCHILD * PER_CHILD);
	}
	assert_int_equal(ferry_cluster_stat(sc, ss, 2), 2);
	for (int s = 0; s < 2; s++)
		assert_int_equal(ss[s].peers, 2);
	close(go[1]);
	for (int i = 0; i < NCHILD; i++) {
		int st = 0;
		pid_t r;
		while ((r = waitpid(kids[i], &st, WNOHANG)) == 0 &&
		       ft_now_ms() < deadline)
			usleep(10000);
		if (r != kids[i])
			fail_msg("child %d did not finish in time", i);
		disown(kids[i]);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			fail_msg("child %d failed (status 0x%x)", i, st);
	}
	close(ready[0]);
	wait_counts(sc, 1, 1);
	assert_int_equal(ferry_cluster_stat(dc, ss, 2), 2);
	for (int s = 0; s < 2; s++)
		assert_int_equal(ss[s].peers, 2);
	ferry_close(sc);
	ferry_close(dc);
	int st = proxy_stop(&mp, SIGTERM);
	assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ft_cluster_stop(c2);
}

/* ---- restarts ------------------------------------------------------------ */

static void test_restart(void **state)
{
	static const int sigs[] = {SIGTERM, SIGKILL};
	struct proxy rp = {0};
	ferry_client *c = NULL, *t = NULL, *none = (ferry_client *)1;
	uint8_t *a, *b;
	size_t got;
	void *all;
	size_t alen;
	ferry_op op, *out[2];
	uint64_t t0;
	int rc, st;

	proxy_up(&rp, "restart", 1, NULL);
	ft_assert_rc(connect_to(cl->file, rp.unix_url, 5000, 0, &c), 0);
	ft_assert_rc(connect_to(cl->file, rp.tcp_url, 5000, 0, &t), 0);
	a = ferry_alloc(c, MiB);
	b = ferry_alloc(c, MiB);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(in_shared_arena(a, MiB) && in_shared_arena(b, MiB));
	ft_fill(a, MiB, 1);
	ft_assert_rc(ferry_put(c, "rs/a", 4, a, MiB, 0), 0);
	ft_assert_rc(ferry_get(c, "rs/a", 4, 0, b, MiB, &got, NULL), 0);
	assert_int_equal(ft_check(b, MiB, 1), (size_t)-1);

	for (int r = 0; r < 2; r++) {
		ferry_proxy_stat before = pstat(c), after;
		st = proxy_stop(&rp, sigs[r]);
		if (sigs[r] == SIGTERM)
			assert_true(st != -1 && WIFEXITED(st) &&
				    WEXITSTATUS(st) == 0);
		proxy_up(&rp, "restart", 1, NULL);
		/* The first call after the restart succeeds: the client
		 * reconnects and attaches its arenas again, and the new
		 * proxy moves the value by RMA out of and into them. */
		ft_fill(a, MiB, 10 + (uint64_t)r);
		ft_assert_rc(ferry_put(c, "rs/a", 4, a, MiB, 0), 0);
		memset(b, 0, MiB);
		ft_assert_rc(ferry_get(c, "rs/a", 4, 0, b, MiB, &got, NULL), 0);
		assert_int_equal(got, MiB);
		assert_int_equal(ft_check(b, MiB, 10 + (uint64_t)r),
				 (size_t)-1);
		ft_assert_rc(ferry_get_alloc(chk, "rs/a", 4, &all, &alen), 0);
		assert_int_equal(alen, MiB);
		assert_int_equal(ft_check(all, MiB, 10 + (uint64_t)r),
				 (size_t)-1);
		free(all);
		after = pstat(c);
		assert_int_equal(after.regions, before.regions);
		assert_int_equal(after.functions, 1); /* t comes back lazily */
		/* The TCP client too. */
		roundtrip(t, "rs/t", 70000, 20 + (uint64_t)r);
		assert_int_equal(pstat(c).functions, 2);
	}

	/* An operation in flight when the proxy dies fails with
	 * FERRY_EUNREACH (the proxy is stopped first, so it is still in
	 * flight for sure). */
	kill(rp.pid, SIGSTOP);
	op = (ferry_op){.opcode = FERRY_OP_GET,
			.key = "rs/a",
			.klen = 4,
			.buf = b,
			.len = MiB};
	ft_assert_rc(ferry_submit(c, &op), 0);
	proxy_stop(&rp, SIGKILL);
	assert_int_equal(ferry_poll(c, out, 2, 10000), 1);
	assert_ptr_equal(out[0], &op);
	ft_assert_rc(op.status, FERRY_EUNREACH);

	/* No proxy: calls fail with FERRY_EUNREACH, well within the
	 * client's time-out, whether the socket file is left behind (as
	 * after SIGKILL) or gone. */
	for (int gone = 0; gone < 2; gone++) {
		if (gone)
			unlink(rp.sock);
		t0 = ft_now_ms();
		ft_assert_rc(ferry_get(c, "rs/a", 4, 0, b, MiB, &got, NULL),
			     FERRY_EUNREACH);
		ft_assert_rc(ferry_put(c, "rs/x", 4, a, MiB, 0),
			     FERRY_EUNREACH);
		ft_assert_rc(ferry_stat_key(t, "rs/a", 4, NULL),
			     FERRY_EUNREACH);
		op = (ferry_op){
		    .opcode = FERRY_OP_STAT, .key = "rs/a", .klen = 4};
		rc = ferry_submit(c, &op);
		if (rc == 0) {
			assert_int_equal(ferry_poll(c, out, 2, 6000), 1);
			rc = op.status;
		}
		ft_assert_rc(rc, FERRY_EUNREACH);
		rc = connect_to(cl->file, rp.unix_url, 5000, 0, &none);
		ft_assert_rc(rc, FERRY_EUNREACH);
		assert_null(none);
		none = (ferry_client *)1;
		rc = connect_to(cl->file, rp.tcp_url, 5000, 0, &none);
		ft_assert_rc(rc, FERRY_EUNREACH);
		assert_null(none);
		if (ft_now_ms() - t0 > 5000 + 2000)
			fail_msg("calls without a proxy took %llu ms",
				 (unsigned long long)(ft_now_ms() - t0));
	}

	/* And back: the values survived in the servers. */
	proxy_up(&rp, "restart", 1, NULL);
	memset(b, 0, MiB);
	ft_assert_rc(ferry_get(c, "rs/a", 4, 0, b, MiB, &got, NULL), 0);
	assert_int_equal(ft_check(b, MiB, 11), (size_t)-1);
	ft_fill(a, MiB, 30);
	ft_assert_rc(ferry_put(c, "rs/a", 4, a, MiB, 0), 0);
	ft_assert_rc(ferry_get_alloc(chk, "rs/a", 4, &all, &alen), 0);
	assert_int_equal(ft_check(all, MiB, 30), (size_t)-1);
	free(all);
	roundtrip(t, "rs/t", 70000, 31);
	ferry_free(c, a);
	ferry_free(c, b);
	ferry_close(c);
	ferry_close(t);
	st = proxy_stop(&rp, SIGTERM);
	assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- a stalled proxy ----------------------------------------------------- */

#define STALL_MS 1000 /* the stalled clients' time-out per operation */

/* Submits small PUTs on c until the writing of one blocks for good (the
 * proxy takes no more bytes) and gives up; returns how many went in and
 * leaves the completions to the caller. */
static size_t submit_until_stuck(ferry_client *c, ferry_op *ops, size_t max,
				 const void *val, size_t vlen)
{
	size_t i;

	for (i = 0; i < max; i++) {
		ops[i] = (ferry_op){.opcode = FERRY_OP_PUT,
				    .key = "stall/u",
				    .klen = 7,
				    .buf = (void *)val,
				    .len = vlen};
		if (ferry_submit(c, &ops[i]))
			break;
		if (ops[i].status != 1)
			return i + 1; /* this one's write gave up */
	}
	return i;
}

/* A proxy that stops taking bytes (here: SIGSTOP) while a request is being
 * written: the write gives up after the client's time-out with
 * FERRY_ETIMEDOUT, and so does every other request in flight on that
 * connection; nothing reports FERRY_EUNREACH, since the proxy is there.
 * Once it runs again the same clients carry on. */
static void test_stalled_proxy(void **state)
{
	struct proxy sp = {0};
	ferry_opts o;
	ferry_client *t = NULL, *u = NULL;
	ferry_op small = {0}, *ops = calloc(4096, sizeof(*ops)), *out[64];
	size_t vlen = 64 * MiB, n, done = 0, bad = 0;
	uint8_t *val = malloc(vlen), got[8];
	int rc_put, rc_small, last_status;

	assert_non_null(val);
	assert_non_null(ops);
	ft_fill(val, vlen, 70);
	proxy_up(&sp, "stalled", 1, NULL);
	ft_assert_rc(connect_to(cl->file, sp.tcp_url, STALL_MS, 0, &t), 0);
	ferry_opts_init(&o);
	o.cluster = cl->file;
	o.proxy = sp.unix_url;
	o.timeout_ms = STALL_MS;
	o.max_inflight = 4096;
	ft_assert_rc(ferry_connect(&o, &u), 0);
	roundtrip(t, "stall/t0", 1000, 71);
	roundtrip(u, "stall/u0", 1000, 72);

	assert_int_equal(kill(sp.pid, SIGSTOP), 0);
	/* TCP: a small GET in flight, then a 64 MiB PUT that no socket
	 * buffer holds. */
	small = (ferry_op){.opcode = FERRY_OP_GET,
			   .key = "stall/t0",
			   .klen = 8,
			   .buf = got,
			   .len = sizeof(got)};
	rc_small = ferry_submit(t, &small);
	rc_put = ferry_put(t, "stall/t1", 8, val, vlen, 0);
	if (!rc_small && small.status == 1)
		ferry_poll(t, out, 1, 2 * STALL_MS);
	/* Unix: small PUTs until the socket is full. */
	n = submit_until_stuck(u, ops, 4096, val, 4000);
	last_status = n ? ops[n - 1].status : 0;
	while (done + bad < n) {
		int k = ferry_poll(u, out, 64, 2 * STALL_MS);
		if (k <= 0)
			break;
		for (int i = 0; i < k; i++)
			out[i]->status == FERRY_ETIMEDOUT ? done++ : bad++;
	}
	assert_int_equal(kill(sp.pid, SIGCONT), 0);

	ft_assert_rc(rc_small, 0);
	ft_assert_rc(rc_put, FERRY_ETIMEDOUT);
	ft_assert_rc(small.status, FERRY_ETIMEDOUT);
	if (n == 4096)
		fail_msg("4096 requests fit in the Unix socket of a stopped "
			 "proxy: the write never stalled");
	ft_assert_rc(last_status, FERRY_ETIMEDOUT);
	/* Every one of them (the proxy stopped before the first) comes back
	 * through poll, timed out. */
	if (bad > 0 || done != n)
		fail_msg("%zu requests were stuck behind a stalled proxy: %zu "
			 "timed out, %zu failed otherwise",
			 n, done, bad);
	/* Running again: the same clients reconnect and work. */
	roundtrip(t, "stall/t2", MiB, 73);
	roundtrip(u, "stall/u2", MiB, 74);
	ft_assert_rc(ferry_stat_key(chk, "stall/t1", 8, NULL), FERRY_ENOENT);
	for (const char *const *k =
		 (const char *const[]){"stall/t0", "stall/u0", "stall/t2",
				       "stall/u2", "stall/u", NULL};
	     *k; k++)
		ferry_del(chk, *k, strlen(*k));
	ferry_close(t);
	ferry_close(u);
	free(ops);
	free(val);
	int st = proxy_stop(&sp, SIGTERM);
	assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- a raw function: the wire protocol by hand --------------------------- */

static void set_timeouts(int fd)
{
	struct timeval tv = {.tv_sec = 5};

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	raw_track(fd);
}

static int raw_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		fail_msg("connect(%s): %s", path, strerror(errno));
	set_timeouts(fd);
	return fd;
}

static int raw_tcp(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		fail_msg("connect(127.0.0.1:%u): %s", port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	set_timeouts(fd);
	return fd;
}

static int raw_open(int unix_mode)
{
	return unix_mode ? raw_unix(px.sock) : raw_tcp(px.port);
}

/* Sends all of buf, passing descriptors fds[0..nfds) with the first
 * byte. Returns 0, or -errno once the proxy stopped taking bytes (it
 * dropped the connection, or stalled it for 5 s). */
static int raw_send_fds(int fd, const void *buf, size_t len, const int *fds,
			int nfds)
{
	const uint8_t *p = buf;
	union {
		char buf[CMSG_SPACE(32 * sizeof(int))];
		struct cmsghdr align;
	} cb;

	while (len) {
		struct iovec iov = {(void *)p, len};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t w;
		if (nfds > 0) {
			struct cmsghdr *cm;
			memset(&cb, 0, sizeof(cb));
			mh.msg_control = cb.buf;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
		}
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		nfds = 0;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int raw_send(int fd, const void *buf, size_t len, int passfd)
{
	return raw_send_fds(fd, buf, len, &passfd, passfd >= 0);
}

/* Reads exactly n bytes by the deadline: 1, or 0 once the proxy closed
 * the connection, or -1 at the deadline. */
static int raw_read(int fd, void *buf, size_t n, uint64_t deadline)
{
	uint8_t *p = buf;

	while (n) {
		struct pollfd q = {.fd = fd, .events = POLLIN};
		uint64_t now = ft_now_ms();
		ssize_t r;
		if (now >= deadline)
			return -1;
		if (poll(&q, 1, (int)(deadline - now)) == 0)
			return -1;
		r = recv(fd, p, n, MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return 0; /* end of file, or reset */
		p += r;
		n -= (size_t)r;
	}
	return 1;
}

/* Reads the next frame within ms: 1 with *rep decoded (its blobs point
 * into *frame, which the caller frees), 0 if the connection was closed,
 * -1 on time-out. A frame the proxy sends must decode and be a reply. */
static int raw_next(int fd, int ms, fr_msg *rep, uint8_t **frame)
{
	uint64_t deadline = ft_now_ms() + (uint64_t)ms;
	uint8_t hdr[FR_HDR_SIZE], *f;
	const char *why = NULL;
	size_t body;
	int rc = raw_read(fd, hdr, FR_HDR_SIZE, deadline);

	*frame = NULL;
	if (rc != 1)
		return rc;
	body = fr_get_u32(hdr + 16);
	if (body > 128 * MiB)
		fail_msg("the proxy announced a %zu-byte reply", body);
	f = malloc(FR_HDR_SIZE + body + 1);
	assert_non_null(f);
	memcpy(f, hdr, FR_HDR_SIZE);
	rc = raw_read(fd, f + FR_HDR_SIZE, body, deadline + 10000);
	if (rc != 1) {
		free(f);
		return rc;
	}
	if (fr_msg_decode(f, FR_HDR_SIZE + body, rep, &why))
		fail_msg("the proxy sent a frame that does not decode: %s",
			 why);
	if (!(rep->h.flags & FR_F_REPLY))
		fail_msg("the proxy sent a request (%s)",
			 fr_op_name(rep->h.opcode));
	*frame = f;
	return 1;
}

/* Sends m (with descriptor passfd, or -1) under a fresh id and returns the
 * status of its reply, which must come within REPLY_MS. *rep (may be
 * NULL) receives the reply; its blobs stay valid until the next call. */
static int raw_call(int fd, fr_msg *m, int passfd, fr_msg *rep)
{
	static uint8_t *last;
	uint8_t buf[FR_MSG_SIZE];
	size_t n;
	fr_msg r;
	int rc;

	m->h.id = next_id++;
	n = fr_msg_encode(m, buf, sizeof(buf));
	assert_true(n > 0);
	rc = raw_send(fd, buf, n, passfd);
	if (rc)
		fail_msg("sending %s: %s", fr_op_name(m->h.opcode),
			 strerror(-rc));
	free(last);
	rc = raw_next(fd, REPLY_MS, &r, &last);
	if (rc != 1)
		fail_msg("no reply to %s (%s)", fr_op_name(m->h.opcode),
			 rc ? "time-out" : "the proxy dropped the connection");
	assert_true(r.h.id == m->h.id);
	assert_int_equal(r.h.opcode, m->h.opcode);
	if (rep)
		*rep = r;
	return r.h.status;
}

/* 1 if the proxy closes the connection within ms, having sent nothing but
 * error replies first; 0 if it is still open then. */
static int raw_dropped(int fd, int ms)
{
	uint64_t deadline = ft_now_ms() + (uint64_t)ms;

	for (;;) {
		uint64_t now = ft_now_ms();
		uint8_t *f = NULL;
		fr_msg r;
		int rc = raw_next(
		    fd, now < deadline ? (int)(deadline - now) : 0, &r, &f);
		free(f);
		if (rc == 0)
			return 1;
		if (rc < 0)
			return 0;
		if (r.h.status == 0)
			fail_msg("the proxy answered a malformed frame with "
				 "success (%s)",
				 fr_op_name(r.h.opcode));
	}
}

static void expect_dropped(int fd, const char *what)
{
	if (!raw_dropped(fd, DROP_MS))
		fail_msg("the proxy kept a connection open after %s", what);
}

static fr_msg m_key(uint8_t opcode, const char *key)
{
	fr_msg m;

	fr_msg_init(&m, opcode, 0, 0);
	m.blob[0] = (const uint8_t *)key;
	m.w[0] = strlen(key);
	return m;
}

static fr_msg m_hello(void)
{
	fr_msg m;

	fr_msg_init(&m, FR_OP_HELLO, 0, 0);
	return m;
}

static fr_msg m_put_inline(const char *key, const void *v, size_t n)
{
	fr_msg m = m_key(FR_OP_PUT, key);

	m.h.flags = FR_F_INLINE;
	m.w[FR_PUT_VLEN] = n;
	m.blob[1] = v;
	return m;
}

static fr_msg m_put_rma(const char *key, uint64_t vlen, uint64_t region,
			uint64_t off)
{
	fr_msg m = m_key(FR_OP_PUT, key);

	m.h.flags = FR_F_RMA;
	m.w[FR_PUT_VLEN] = vlen;
	m.w[FR_PUT_RKEY] = region;
	m.w[FR_PUT_RADDR] = off;
	return m;
}

static fr_msg m_get(const char *key, uint64_t off, uint64_t len)
{
	fr_msg m = m_key(FR_OP_GET, key);

	m.w[FR_GET_OFFSET] = off;
	m.w[FR_GET_LEN] = len;
	return m;
}

static fr_msg m_get_rma(const char *key, uint64_t off, uint64_t len,
			uint64_t region, uint64_t raddr)
{
	fr_msg m = m_get(key, off, len);

	m.h.flags = FR_F_RMA;
	m.w[FR_GET_RKEY] = region;
	m.w[FR_GET_RADDR] = raddr;
	return m;
}

static fr_msg m_attach(uint64_t size)
{
	fr_msg m;

	fr_msg_init(&m, FR_OP_ATTACH, 0, 0);
	m.w[FR_ATTACH_SIZE] = size;
	return m;
}

static size_t encode(fr_msg m, uint8_t *buf, size_t cap)
{
	size_t n;

	m.h.id = next_id++;
	n = fr_msg_encode(&m, buf, cap);
	assert_true(n > 0);
	return n;
}

/* A memfd of size bytes, with seals added (0: none). */
static int new_memfd(size_t size, int sealable, int seals)
{
	int fd = memfd_create("ferry-test",
			      MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0));

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* A function says HELLO before anything else (without, every request is
 * refused with FERRY_EACCES: see test_before_hello). */
static void greet(int fd, fr_msg *rep)
{
	fr_msg m = m_hello();

	ft_assert_rc(raw_call(fd, &m, -1, rep), 0);
}

static void hello_ok(int fd)
{
	fr_msg rep;

	greet(fd, &rep);
	assert_int_equal(rep.w[FR_HELLO_R_SERVERS], cl->n);
}

/* ---- hostile input ------------------------------------------------------- */

static void garbage(int unix_mode)
{
	uint8_t junk[4096];
	int fd;

	begin();
	/* Bytes whose "header" announces a body far past the limit. */
	fd = raw_open(unix_mode);
	memset(junk, 0xa5, 200);
	raw_send(fd, junk, 200, -1);
	expect_dropped(fd, "garbage announcing a huge body");
	raw_close(fd);
	/* A header's worth of zeros: wrong magic, no body to wait for. */
	fd = raw_open(unix_mode);
	memset(junk, 0, FR_HDR_SIZE);
	raw_send(fd, junk, FR_HDR_SIZE, -1);
	expect_dropped(fd, "32 zero bytes");
	raw_close(fd);
	/* Random bytes with a plausible length: read whole, then refused. */
	fd = raw_open(unix_mode);
	ft_fill(junk, sizeof(junk), 99);
	fr_put_u32(junk + 16, sizeof(junk) - FR_HDR_SIZE);
	raw_send(fd, junk, sizeof(junk), -1);
	expect_dropped(fd, "4 KiB of random bytes");
	raw_close(fd);
	/* A working connection that turns to garbage. */
	fd = raw_open(unix_mode);
	hello_ok(fd);
	ft_fill(junk, 64, 98);
	fr_put_u32(junk + 16, 64 - FR_HDR_SIZE);
	raw_send(fd, junk, 64, -1);
	expect_dropped(fd, "garbage after a HELLO");
	raw_close(fd);
	/* Garbage that never completes a header does not hold anyone up. */
	fd = raw_open(unix_mode);
	raw_send(fd, junk, 10, -1);
	still_serving();
	raw_close(fd);
	finish();
}

static void test_garbage_unix(void **state)
{
	garbage(1);
}

static void test_garbage_tcp(void **state)
{
	garbage(0);
}

static void truncated(int unix_mode)
{
	uint8_t val[3000], frame[4096];
	size_t n;
	int fd;

	begin();
	ft_fill(val, sizeof(val), 3);
	n = encode(m_put_inline("tr/x", val, sizeof(val)), frame,
		   sizeof(frame));
	/* Part of a header, then close. */
	fd = raw_open(unix_mode);
	raw_send(fd, frame, 20, -1);
	raw_close(fd);
	/* A header and half the body, then close. */
	fd = raw_open(unix_mode);
	raw_send(fd, frame, FR_HDR_SIZE + (n - FR_HDR_SIZE) / 2, -1);
	raw_close(fd);
	/* All but the last byte, left open: the others are served
	 * meanwhile, and nothing is stored from a partial frame. */
	fd = raw_open(unix_mode);
	raw_send(fd, frame, n - 1, -1);
	still_serving();
	assert_int_equal(raw_dropped(fd, 300), 0);
	ft_assert_rc(ferry_stat_key(chk, "tr/x", 4, NULL), FERRY_ENOENT);
	raw_close(fd);
	finish();
	ft_assert_rc(ferry_stat_key(chk, "tr/x", 4, NULL), FERRY_ENOENT);
	/* The same frame whole is a valid PUT. */
	fd = raw_open(unix_mode);
	hello_ok(fd);
	fr_msg m = m_put_inline("tr/x", val, sizeof(val));
	ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
	raw_close(fd);
	ft_check_value(chk, "tr/x", sizeof(val), 3, 0);
	ft_assert_rc(ferry_del(chk, "tr/x", 4), 0);
	finish();
}

static void test_truncated_unix(void **state)
{
	truncated(1);
}

static void test_truncated_tcp(void **state)
{
	truncated(0);
}

static void oversized(int unix_mode)
{
	fr_msg m = m_hello(), rep;
	uint8_t hdr[FR_HDR_SIZE + 64];
	uint64_t limit, maxval;
	int fd;

	begin();
	fd = raw_open(unix_mode);
	ft_assert_rc(raw_call(fd, &m, -1, &rep), 0);
	maxval = rep.w[FR_HELLO_R_VALMAX];
	assert_int_equal(maxval, MAX_VALUE);
	assert_int_equal(rep.w[FR_HELLO_R_INLINE],
			 unix_mode ? FR_INLINE_MAX : UINT64_MAX);
	raw_close(fd);
	/* The largest frame a function may send. */
	limit = unix_mode ? FR_MSG_SIZE : FR_MSG_SIZE + maxval;
	encode(m_key(FR_OP_STAT, "ov/k"), hdr, sizeof(hdr));
	static const uint64_t too_big[] = {UINT32_MAX, 1ull << 31, 0};
	for (int i = 0; i < 3; i++) {
		uint64_t body =
		    too_big[i] ? too_big[i] : limit - FR_HDR_SIZE + 1;
		fd = raw_open(unix_mode);
		fr_put_u32(hdr + 16, (uint32_t)body);
		raw_send(fd, hdr, FR_HDR_SIZE, -1);
		if (!raw_dropped(fd, DROP_MS))
			fail_msg("a header announcing a %llu-byte body (limit "
				 "%llu) was not refused",
				 (unsigned long long)body,
				 (unsigned long long)(limit - FR_HDR_SIZE));
		raw_close(fd);
		still_serving();
	}
	if (unix_mode) {
		/* A PUT whose frame is exactly the limit is taken. */
		size_t vlen =
		    FR_MSG_SIZE - FR_HDR_SIZE - 8 * (FR_PUT_IFVER + 1) - 8;
		uint8_t *val = malloc(vlen);
		assert_non_null(val);
		ft_fill(val, vlen, 17);
		fd = raw_open(1);
		hello_ok(fd);
		m = m_put_inline("ov/limit", val, vlen);
		ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
		raw_close(fd);
		ft_check_value(chk, "ov/limit", vlen, 17, 0);
		ferry_del(chk, "ov/limit", 8);
		free(val);
	} else {
		/* A header announcing exactly the limit is waited on. */
		fd = raw_open(0);
		fr_put_u32(hdr + 16, (uint32_t)(limit - FR_HDR_SIZE));
		raw_send(fd, hdr, FR_HDR_SIZE, -1);
		if (raw_dropped(fd, 500))
			fail_msg("a frame of exactly the limit was refused");
		still_serving();
		raw_close(fd);
	}
	finish();
}

static void test_oversized_unix(void **state)
{
	oversized(1);
}

static void test_oversized_tcp(void **state)
{
	oversized(0);
}

/* Header byte offsets: magic 0, version 4, opcode 5, flags 6, id 8,
 * body_len 16, status 20, reserved 24. */
static void header_fields(int unix_mode)
{
	uint8_t f[512], after[128];
	const struct {
		const char *what;
		unsigned off, width;
		uint64_t value;
	} bad[] = {
	    {"bad magic", 0, 4, 0x59525247},
	    {"version 1", 4, 1, 1},
	    {"a newer version", 4, 1, FR_VERSION + 1},
	    {"opcode 0", 5, 1, 0},
	    {"opcode FR_OP_COUNT", 5, 1, FR_OP_COUNT},
	    {"opcode 255", 5, 1, 255},
	    {"unknown flags", 6, 2, 0x8000},
	    {"a reply sent to the proxy", 6, 2, FR_F_REPLY},
	    {"create and replace together", 6, 2, FR_F_CREATE | FR_F_REPLACE},
	    {"inline and RMA together", 6, 2, FR_F_INLINE | FR_F_RMA},
	    {"a status on a request", 20, 4, (uint32_t)FERRY_EIO},
	    {"a namespace in the header (a function never picks one)", 24, 8,
	     1},
	    {"a trailing byte after the blobs", 16, 4, 0},
	    {"a key length past the body", FR_HDR_SIZE, 8, 4000},
	    {"key length 0", FR_HDR_SIZE, 8, 0},
	    {"a body shorter than its words", 16, 4, 4},
	};
	size_t n, an;

	begin();
	an = encode(m_put_inline("hf/after", "x", 1), after, sizeof(after));
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		int fd = raw_open(unix_mode);
		uint8_t *p;
		hello_ok(fd);
		n = encode(m_put_inline("hf/k", "val", 3), f, sizeof(f));
		p = f + bad[i].off;
		if (bad[i].off == 16 && bad[i].value == 0) {
			/* One byte more in the body than its blobs take. */
			fr_put_u32(p, (uint32_t)(n - FR_HDR_SIZE + 1));
			f[n++] = 0;
		} else if (bad[i].width == 1)
			*p = (uint8_t)bad[i].value;
		else if (bad[i].width == 2) /* flags: added to INLINE */
			fr_put_u16(p, (uint16_t)(bad[i].value | FR_F_INLINE));
		else if (bad[i].width == 4)
			fr_put_u32(p, (uint32_t)bad[i].value);
		else
			fr_put_u64(p, bad[i].value);
		if (bad[i].off == 16 && bad[i].value == 4)
			n = FR_HDR_SIZE + 4;
		/* A valid PUT right behind it must not be executed: the
		 * stream cannot be trusted past a bad frame. */
		memcpy(f + n, after, an);
		raw_send(fd, f, n + an, -1);
		expect_dropped(fd, bad[i].what);
		raw_close(fd);
		ft_assert_rc(ferry_stat_key(chk, "hf/after", 8, NULL),
			     FERRY_ENOENT);
		ft_assert_rc(ferry_stat_key(chk, "hf/k", 4, NULL),
			     FERRY_ENOENT);
	}
	finish();
}

static void test_header_fields_unix(void **state)
{
	header_fields(1);
}

static void test_header_fields_tcp(void **state)
{
	header_fields(0);
}

/* The function on fd is served: its key (which it wrote) is there. Then
 * it leaves, and the key goes. */
static void served_then_gone(int fd, const char *key)
{
	fr_msg m = m_key(FR_OP_STAT, key);

	ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
	raw_close(fd);
	ft_assert_rc(ferry_del(chk, key, strlen(key)), 0);
	finish();
}

/* Before its HELLO a function may do nothing: each request is answered
 * FERRY_EACCES and not executed (an ATTACH's memfd is closed, not kept
 * for the next ATTACH); after it, the same requests work. */
static void before_hello(int unix_mode)
{
	fr_msg m = m_put_inline("bh/k", "val", 3), rep;
	int fd;

	begin();
	fd = raw_open(unix_mode);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EACCES);
	m = m_key(FR_OP_STAT, "bh/k");
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EACCES);
	m = m_key(FR_OP_LIST, "bh/");
	m.w[FR_LIST_MAX] = 10;
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EACCES);
	ft_assert_rc(ferry_stat_key(chk, "bh/k", 4, NULL), FERRY_ENOENT);
	if (unix_mode) {
		int early = new_memfd(MiB, 1, F_SEAL_SHRINK);
		int mfd = new_memfd(MiB, 1, F_SEAL_SHRINK);
		uint8_t *mine = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
				     MAP_SHARED, mfd, 0);
		assert_true(mine != MAP_FAILED);
		m = m_attach(MiB);
		ft_assert_rc(raw_call(fd, &m, early, NULL), FERRY_EACCES);
		close(early);
		hello_ok(fd);
		/* Region 0 is the memfd of this ATTACH, not the refused one. */
		m = m_attach(MiB);
		ft_assert_rc(raw_call(fd, &m, mfd, &rep), 0);
		assert_int_equal(rep.w[FR_ATTACH_R_REGION], 0);
		ft_fill(mine, 4096, 31);
		m = m_put_rma("bh/k", 4096, 0, 0);
		ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
		ft_check_value(chk, "bh/k", 4096, 31, 0);
		munmap(mine, MiB);
		close(mfd);
	} else {
		hello_ok(fd);
		m = m_put_inline("bh/k", "val", 3);
		ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
	}
	served_then_gone(fd, "bh/k");
}

/* SHARE moves quota between servers for a direct client (or the
 * proxy's own): a function cannot send it through the proxy. Refused
 * with FERRY_EPROTO, take or give, and the connection goes on. */
static void test_share_refused(void **state)
{
	fr_msg m;
	int fd;

	begin();
	fd = raw_open(1);
	hello_ok(fd);
	for (int give = 0; give < 2; give++) {
		fr_msg_init(&m, FR_OP_SHARE, 0, 0);
		m.w[give ? FR_SHARE_GIVE : FR_SHARE_TAKE] = 1ull << 30;
		ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EPROTO);
	}
	m = m_put_inline("sh/k", "val", 3);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
	served_then_gone(fd, "sh/k");
}

static void test_before_hello_unix(void **state)
{
	before_hello(1);
}

static void test_before_hello_tcp(void **state)
{
	before_hello(0);
}

static void rma_bounds_unix(void)
{
	const uint64_t S = MiB;
	const struct {
		uint64_t region, off, len;
	} bad[] = {
	    {1, 0, 100},
	    {63, 0, 100},
	    {64, 0, 100},
	    {UINT64_MAX, 0, 100},
	    {0, S - 10, 100},
	    {0, S, 1},
	    {0, S + 4096, 1},
	    {0, UINT64_MAX - 10, 100},
	    {0, UINT64_MAX, UINT64_MAX},
	    {0, 0, S + 1},
	    {0, 1, UINT64_MAX},
	    {0, 4096, UINT64_MAX - 4000},
	};
	fr_msg m, rep;
	uint8_t *mine;
	void *all;
	size_t alen;
	int fd, mfd;

	fd = raw_open(1);
	hello_ok(fd);
	/* Before any ATTACH there is no region 0 either. */
	m = m_put_rma("rb/bad", 100, 0, 0);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
	m = m_get_rma("rb/bad", 0, 100, 0, 0);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
	mfd = new_memfd(S, 1, F_SEAL_SHRINK);
	mine = mmap(NULL, S, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(mine != MAP_FAILED);
	m = m_attach(S);
	ft_assert_rc(raw_call(fd, &m, mfd, &rep), 0);
	assert_int_equal(rep.w[FR_ATTACH_R_REGION], 0);
	ft_fill(mine, S, 21);
	/* Inside the arena, to its last byte: fine. */
	m = m_put_rma("rb/ok", 8192, 0, 4096);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
	ft_assert_rc(ferry_get_alloc(chk, "rb/ok", 5, &all, &alen), 0);
	assert_int_equal(alen, 8192);
	assert_memory_equal(all, mine + 4096, 8192);
	memset(mine + S - 8192, 0, 8192);
	m = m_get_rma("rb/ok", 0, 8192, 0, S - 8192);
	ft_assert_rc(raw_call(fd, &m, -1, &rep), 0);
	assert_int_equal(rep.w[FR_GET_R_GOT], 8192);
	assert_true(rep.h.flags & FR_F_RMA);
	assert_memory_equal(mine + S - 8192, all, 8192);
	free(all);
	/* Outside: FERRY_EINVAL, and nothing is stored or read. */
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		m = m_put_rma("rb/bad", bad[i].len, bad[i].region, bad[i].off);
		rep.h.status = 0;
		if (raw_call(fd, &m, -1, &rep) != FERRY_EINVAL)
			fail_msg("PUT from region %llu offset %llu length %llu:"
				 " status %d, expected FERRY_EINVAL",
				 (unsigned long long)bad[i].region,
				 (unsigned long long)bad[i].off,
				 (unsigned long long)bad[i].len, rep.h.status);
		m = m_get_rma("rb/ok", 0, bad[i].len, bad[i].region,
			      bad[i].off);
		if (raw_call(fd, &m, -1, &rep) != FERRY_EINVAL)
			fail_msg("GET into region %llu offset %llu length %llu:"
				 " status %d, expected FERRY_EINVAL",
				 (unsigned long long)bad[i].region,
				 (unsigned long long)bad[i].off,
				 (unsigned long long)bad[i].len, rep.h.status);
	}
	ft_assert_rc(ferry_stat_key(chk, "rb/bad", 6, NULL), FERRY_ENOENT);
	/* The connection still works after all that. */
	hello_ok(fd);
	raw_close(fd);
	munmap(mine, S);
	close(mfd);
	ferry_del(chk, "rb/ok", 5);
}

static void rma_bounds_tcp(void)
{
	fr_msg m;
	int fd = raw_open(0);

	hello_ok(fd);
	/* Over TCP a function has no arena: RMA names nothing. */
	m = m_put_rma("rb/tcp", 100, 0, 0);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
	m = m_get_rma("rb/ok", 0, 100, 0, 0);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
	m = m_attach(MiB);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
	hello_ok(fd);
	raw_close(fd);
	ft_assert_rc(ferry_stat_key(chk, "rb/tcp", 6, NULL), FERRY_ENOENT);
}

static void test_rma_bounds_unix(void **state)
{
	begin();
	rma_bounds_unix();
	finish();
}

static void test_rma_bounds_tcp(void **state)
{
	begin();
	rma_bounds_tcp();
	finish();
}

static void attach_refused(int fd, int passfd, uint64_t size, const char *what)
{
	fr_msg m = m_attach(size);
	int rc = raw_call(fd, &m, passfd, NULL);

	if (rc != FERRY_EINVAL)
		fail_msg("ATTACH of %s: status %d (%s), expected FERRY_EINVAL",
			 what, rc, ferry_strerror(rc));
}

static void test_attach_abuse(void **state)
{
	char path[300];
	int fd, fds0, f, pair[2], many[20];
	fr_msg m, rep;

	begin();
	fds0 = count_fds(px.pid);
	fd = raw_open(1);
	hello_ok(fd);
	attach_refused(fd, -1, MiB, "no descriptor");
	hello_ok(fd); /* refused, not dropped */
	f = open("/dev/null", O_RDWR | O_CLOEXEC);
	attach_refused(fd, f, MiB, "/dev/null");
	close(f);
	snprintf(path, sizeof(path), "%s/plain-file", dir);
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(f >= 0);
	assert_int_equal(ftruncate(f, (off_t)MiB), 0);
	attach_refused(fd, f, MiB, "a regular file");
	close(f);
	unlink(path);
	f = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	attach_refused(fd, f, MiB, "a directory");
	close(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	attach_refused(fd, pair[0], MiB, "a socket");
	close(pair[0]);
	close(pair[1]);
	f = new_memfd(MiB, 1, 0);
	attach_refused(fd, f, MiB, "an unsealed memfd");
	close(f);
	f = new_memfd(MiB, 0, 0);
	attach_refused(fd, f, MiB, "a memfd that cannot be sealed");
	close(f);
	f = new_memfd(MiB, 1, F_SEAL_GROW);
	attach_refused(fd, f, MiB, "a memfd sealed against growing only");
	close(f);
	f = new_memfd(4096, 1, F_SEAL_SHRINK);
	attach_refused(fd, f, MiB, "a memfd smaller than claimed");
	close(f);
	f = new_memfd(MiB, 1, F_SEAL_SHRINK);
	attach_refused(fd, f, MiB + 1, "a memfd one byte smaller than claimed");
	attach_refused(fd, f, 0, "size 0");
	close(f);
	/* A write-sealed memfd cannot be mapped for writing: refused with
	 * some error. */
	f = new_memfd(MiB, 1, F_SEAL_SHRINK | F_SEAL_WRITE);
	m = m_attach(MiB);
	assert_true(raw_call(fd, &m, f, NULL) != 0);
	close(f);
	hello_ok(fd);
	assert_int_equal(pstat(side_u).regions, base_regions);
	/* Valid ones are numbered per connection from 0, up to 64. */
	for (int i = 0; i < 64; i++) {
		f = new_memfd(4096, 1, F_SEAL_SHRINK);
		m = m_attach(4096);
		ft_assert_rc(raw_call(fd, &m, f, &rep), 0);
		assert_int_equal(rep.w[FR_ATTACH_R_REGION], i);
		close(f);
	}
	assert_int_equal(pstat(side_u).regions, base_regions + 64);
	f = new_memfd(4096, 1, F_SEAL_SHRINK);
	m = m_attach(4096);
	ft_assert_rc(raw_call(fd, &m, f, NULL), FERRY_E2BIG);
	close(f);
	/* Descriptors riding along with other frames, more than the proxy
	 * keeps. */
	for (int i = 0; i < 20; i++)
		many[i] = new_memfd(4096, 1, 0);
	{
		uint8_t buf[128];
		size_t n = encode(m_hello(), buf, sizeof(buf));
		assert_int_equal(raw_send_fds(fd, buf, n, many, 20), 0);
		uint8_t *fr = NULL;
		assert_int_equal(raw_next(fd, REPLY_MS, &rep, &fr), 1);
		free(fr);
	}
	for (int i = 0; i < 20; i++)
		close(many[i]);
	hello_ok(fd);
	raw_close(fd);
	finish();
	/* Every descriptor the function passed was closed with it. */
	uint64_t deadline = ft_now_ms() + SETTLE_MS;
	int now;
	while ((now = count_fds(px.pid)) != fds0 && ft_now_ms() < deadline)
		usleep(20000);
	if (now != fds0)
		fail_msg("the proxy holds %d descriptors, %d before", now,
			 fds0);
}

/* A raw function's channel (common/chan.h): its memory, and its pipes as
 * the function sees them. */
struct rchan {
	int fd;
	struct fr_chan_mem *m;
	fr_pipe req, rep;
};

static fr_msg m_channel(uint64_t size)
{
	fr_msg m;

	fr_msg_init(&m, FR_OP_CHANNEL, 0, 0);
	m.w[FR_CHANNEL_SIZE] = size;
	return m;
}

/* Opens a channel on fd (greeted); frames go through it from then on. */
static void chan_open(struct rchan *ch, int fd)
{
	int f = new_memfd(FR_CHAN_SIZE, 1, F_SEAL_SHRINK);
	fr_msg m = m_channel(FR_CHAN_SIZE);

	ch->fd = fd;
	ch->m = mmap(NULL, FR_CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f,
		     0);
	assert_true(ch->m != MAP_FAILED);
	ft_assert_rc(raw_call(fd, &m, f, NULL), 0);
	close(f);
	fr_chan_pipes(ch->m, 0, &ch->req, &ch->rep);
}

static void chan_close(struct rchan *ch)
{
	munmap(ch->m, FR_CHAN_SIZE);
	raw_close(ch->fd);
}

/* Writes m under a fresh id into the request ring (passfd rides with a
 * byte on the socket first) and rings the proxy. */
static void chan_send(struct rchan *ch, fr_msg *m, int passfd)
{
	uint8_t buf[FR_MSG_SIZE];
	size_t n;

	m->h.id = next_id++;
	n = fr_msg_encode(m, buf, sizeof(buf));
	assert_true(n > 0);
	if (passfd >= 0)
		assert_int_equal(raw_send(ch->fd, "", 1, passfd), 0);
	assert_int_equal(fr_pipe_write(&ch->req, buf, n), (ssize_t)n);
	assert_int_equal(raw_send(ch->fd, "", 1, -1), 0);
}

/* Takes exactly n bytes from the reply ring within REPLY_MS, ringing the
 * proxy when it waits for the room, as libferry does. */
static void chan_take(struct rchan *ch, void *buf, size_t n)
{
	uint64_t deadline = ft_now_ms() + REPLY_MS;
	uint8_t *p = buf;

	while (n) {
		ssize_t k = fr_pipe_read(&ch->rep, p, n);
		assert_true(k >= 0);
		if (k && atomic_load(&ch->m->p_room))
			assert_int_equal(raw_send(ch->fd, "", 1, -1), 0);
		p += k;
		n -= (size_t)k;
		if (!k && ft_now_ms() > deadline)
			fail_msg("no reply through the channel");
		if (!k)
			usleep(100);
	}
}

/* The next reply from the ring: its status, *rep decoded into buf. */
static int chan_next(struct rchan *ch, fr_msg *rep, uint8_t *buf, size_t cap)
{
	const char *why = NULL;
	size_t body;

	chan_take(ch, buf, FR_HDR_SIZE);
	body = fr_get_u32(buf + 16);
	assert_true(FR_HDR_SIZE + body <= cap);
	chan_take(ch, buf + FR_HDR_SIZE, body);
	if (fr_msg_decode(buf, FR_HDR_SIZE + body, rep, &why))
		fail_msg("a reply through the channel does not decode: %s",
			 why);
	assert_true(rep->h.flags & FR_F_REPLY);
	return rep->h.status;
}

static int chan_call(struct rchan *ch, fr_msg *m, int passfd, fr_msg *rep)
{
	static uint8_t buf[FR_MSG_SIZE];
	fr_msg r;

	chan_send(ch, m, passfd);
	chan_next(ch, &r, buf, sizeof(buf));
	assert_true(r.h.id == m->h.id);
	assert_int_equal(r.h.opcode, m->h.opcode);
	if (rep)
		*rep = r;
	return r.h.status;
}

/* The proxy closes the socket within DROP_MS (its bells are ignored). */
static void chan_dropped(struct rchan *ch, const char *what)
{
	uint64_t deadline = ft_now_ms() + DROP_MS;
	char b[256];

	for (;;) {
		struct pollfd q = {.fd = ch->fd, .events = POLLIN};
		uint64_t now = ft_now_ms();
		ssize_t r;
		if (now >= deadline)
			fail_msg("the proxy kept a channel open after %s",
				 what);
		if (poll(&q, 1, (int)(deadline - now)) <= 0)
			continue;
		r = recv(ch->fd, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			break;
	}
	chan_close(ch);
}

static void test_channel_abuse(void **state)
{
	struct rchan ch;
	int fd, f, fds0 = count_fds(px.pid);
	uint64_t chans0, n;
	fr_msg m, rep;
	uint8_t junk[64];

	begin();
	chans0 = pstat(side_u).channels;
	/* Refused, and the socket carries frames on. */
	fd = raw_open(1);
	hello_ok(fd);
	m = m_channel(FR_CHAN_SIZE);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
	f = new_memfd(FR_CHAN_SIZE, 1, 0);
	m = m_channel(FR_CHAN_SIZE);
	ft_assert_rc(raw_call(fd, &m, f, NULL), FERRY_EINVAL); /* unsealed */
	close(f);
	f = new_memfd(4096, 1, F_SEAL_SHRINK);
	m = m_channel(FR_CHAN_SIZE);
	ft_assert_rc(raw_call(fd, &m, f, NULL), FERRY_EINVAL); /* smaller */
	close(f);
	f = new_memfd(FR_CHAN_SIZE, 1, F_SEAL_SHRINK);
	m = m_channel(FR_CHAN_SIZE / 2);
	ft_assert_rc(raw_call(fd, &m, f, NULL), FERRY_EINVAL); /* size */
	close(f);
	hello_ok(fd);
	assert_int_equal(pstat(side_u).channels, chans0);
	/* A channel carries frames, memfds still ride on the socket, and a
	 * second channel is refused. */
	chan_open(&ch, fd);
	assert_int_equal(pstat(side_u).channels, chans0 + 1);
	m = m_hello();
	ft_assert_rc(chan_call(&ch, &m, -1, &rep), 0);
	assert_int_equal(rep.w[FR_HELLO_R_SERVERS], cl->n);
	f = new_memfd(4096, 1, F_SEAL_SHRINK);
	m = m_attach(4096);
	ft_assert_rc(chan_call(&ch, &m, f, &rep), 0);
	assert_int_equal(rep.w[FR_ATTACH_R_REGION], 0);
	m = m_channel(FR_CHAN_SIZE);
	ft_assert_rc(chan_call(&ch, &m, f, NULL), FERRY_EINVAL);
	close(f);
	/* Replies beyond the ring's room wait for the function to take
	 * some: 64 GETs of 4000 bytes are four rings' worth. */
	{
		static uint8_t val[4000], buf[FR_MSG_SIZE];
		ft_fill(val, sizeof(val), 91);
		m = m_put_inline("chan/v", val, sizeof(val));
		ft_assert_rc(chan_call(&ch, &m, -1, NULL), 0);
		for (int i = 0; i < 64; i++) {
			m = m_get("chan/v", 0, sizeof(val));
			chan_send(&ch, &m, -1);
		}
		/* The proxy fills the ring and waits. */
		uint64_t until = ft_now_ms() + REPLY_MS;
		while (!atomic_load(&ch.m->p_room) && ft_now_ms() < until)
			usleep(1000);
		assert_int_equal(atomic_load(&ch.m->p_room), 1);
		for (int i = 0; i < 64; i++) {
			ft_assert_rc(chan_next(&ch, &rep, buf, sizeof(buf)), 0);
			assert_int_equal(rep.w[FR_GET_R_GOT], sizeof(val));
			if (ft_check(rep.blob[0], sizeof(val), 91) !=
			    (size_t)-1)
				fail_msg("GET %d through the channel: other "
					 "bytes",
					 i);
		}
	}
	m = m_hello();
	ft_assert_rc(chan_call(&ch, &m, -1, NULL), 0);
	/* An impossible request index. */
	atomic_store(&ch.m->req_tail, ch.req.pos + FR_CHAN_RING + 1);
	assert_int_equal(raw_send(ch.fd, "", 1, -1), 0);
	chan_dropped(&ch, "an impossible request index");
	/* An impossible reply index. */
	fd = raw_open(1);
	hello_ok(fd);
	chan_open(&ch, fd);
	atomic_store(&ch.m->rep_head, 5 * (uint64_t)FR_CHAN_RING);
	m = m_hello();
	chan_send(&ch, &m, -1);
	chan_dropped(&ch, "an impossible reply index");
	/* Garbage through the ring. */
	fd = raw_open(1);
	hello_ok(fd);
	chan_open(&ch, fd);
	memset(junk, 0xab, sizeof(junk));
	n = (uint64_t)fr_pipe_write(&ch.req, junk, sizeof(junk));
	assert_int_equal(n, sizeof(junk));
	assert_int_equal(raw_send(ch.fd, "", 1, -1), 0);
	chan_dropped(&ch, "garbage");
	still_serving();
	finish();
	uint64_t deadline = ft_now_ms() + SETTLE_MS;
	while ((pstat(side_u).channels != chans0 ||
		count_fds(px.pid) != fds0) &&
	       ft_now_ms() < deadline)
		usleep(20000);
	assert_int_equal(pstat(side_u).channels, chans0);
	assert_int_equal(count_fds(px.pid), fds0);
}

/* Requests pipelined in one write are all answered, however many: the
 * proxy's per-pass limit (fairness) must not strand the frames it has
 * already read. */
#define NPIPE 300

static void pipelined(int unix_mode)
{
	uint8_t *buf = malloc(NPIPE * 64), seen[NPIPE] = {0};
	uint64_t first = next_id;
	size_t len = 0;
	int fd, answered = 0;

	assert_non_null(buf);
	begin();
	roundtrip(chk, "pl/k", 10, 1);
	for (int i = 0; i < NPIPE; i++)
		len += encode(m_key(FR_OP_STAT, "pl/k"), buf + len, 64);
	fd = raw_open(unix_mode);
	hello_ok(fd);
	assert_int_equal(raw_send(fd, buf, len, -1), 0);
	while (answered < NPIPE) {
		uint8_t *f = NULL;
		fr_msg rep;
		int rc = raw_next(fd, REPLY_MS, &rep, &f);
		free(f);
		if (rc != 1)
			fail_msg(
			    "%d of %d pipelined requests answered, then %s",
			    answered, NPIPE,
			    rc ? "nothing" : "the connection closed");
		assert_true(rep.h.id >= first && rep.h.id < first + NPIPE);
		assert_int_equal(seen[rep.h.id - first], 0);
		seen[rep.h.id - first] = 1;
		ft_assert_rc(rep.h.status, 0);
		assert_int_equal(rep.w[FR_GET_R_SIZE], 10);
		answered++;
	}
	raw_close(fd);
	free(buf);
	finish();
}

static void test_pipelined_unix(void **state)
{
	pipelined(1);
}

static void test_pipelined_tcp(void **state)
{
	pipelined(0);
}

/* One function can never reach another's arena: region numbers are per
 * connection. */
static void test_isolation(void **state)
{
	ferry_client *v;
	uint8_t *va, *mine;
	fr_msg m, rep;
	void *all;
	size_t alen, got;
	int fd, mfd;

	begin();
	v = open_client(&px, M_UNIX);
	va = ferry_alloc(v, MiB);
	assert_non_null(va);
	assert_true(in_shared_arena(va, MiB));
	ft_fill(va, MiB, 0x51);
	ft_assert_rc(ferry_put(v, "iso/v", 5, va, MiB, 0), 0);
	roundtrip(chk, "iso/other", MiB, 0x77);
	fd = raw_open(1);
	hello_ok(fd);
	mfd = new_memfd(MiB, 1, F_SEAL_SHRINK);
	mine = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(mine != MAP_FAILED);
	ft_fill(mine, MiB, 0x99);
	m = m_attach(MiB);
	ft_assert_rc(raw_call(fd, &m, mfd, &rep), 0);
	assert_int_equal(rep.w[FR_ATTACH_R_REGION], 0);
	/* A GET into "region 0" lands in the attacker's own arena. */
	m = m_get_rma("iso/other", 0, MiB, 0, 0);
	ft_assert_rc(raw_call(fd, &m, -1, &rep), 0);
	assert_int_equal(rep.w[FR_GET_R_GOT], MiB);
	if (ft_check(mine, MiB, 0x77) != (size_t)-1)
		fail_msg("a GET into region 0 did not land in the attacker's "
			 "own arena");
	if (ft_check(va, MiB, 0x51) != (size_t)-1)
		fail_msg(
		    "another function's GET wrote into the victim's arena");
	/* A PUT from "region 0" stores the attacker's own bytes. */
	ft_fill(mine, MiB, 0x99);
	m = m_put_rma("iso/steal", MiB, 0, 0);
	ft_assert_rc(raw_call(fd, &m, -1, NULL), 0);
	ft_assert_rc(ferry_get_alloc(chk, "iso/steal", 9, &all, &alen), 0);
	assert_int_equal(alen, MiB);
	if (ft_check(all, MiB, 0x99) != (size_t)-1)
		fail_msg("a PUT from the attacker's region 0 stored other "
			 "bytes than its own%s",
			 ft_check(all, MiB, 0x51) == (size_t)-1
			     ? " (the victim's arena!)"
			     : "");
	free(all);
	/* Other region numbers name nothing. */
	for (uint64_t r = 1; r < 64; r++) {
		m = m_get_rma("iso/other", 0, 4096, r, 0);
		ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
		m = m_put_rma("iso/steal2", 4096, r, 0);
		ft_assert_rc(raw_call(fd, &m, -1, NULL), FERRY_EINVAL);
	}
	ft_assert_rc(ferry_stat_key(chk, "iso/steal2", 10, NULL), FERRY_ENOENT);
	/* The victim's arena and value are untouched. */
	if (ft_check(va, MiB, 0x51) != (size_t)-1)
		fail_msg("the victim's arena changed");
	memset(va, 0, MiB);
	ft_assert_rc(ferry_get(v, "iso/v", 5, 0, va, MiB, &got, NULL), 0);
	assert_int_equal(got, MiB);
	assert_int_equal(ft_check(va, MiB, 0x51), (size_t)-1);
	raw_close(fd);
	munmap(mine, MiB);
	close(mfd);
	ferry_free(v, va);
	ferry_close(v);
	finish();
}

/* Writes copies of frame[0..len) without reading anything back, until the
 * proxy takes no more for stall_ms or max copies went out. Returns the
 * copies sent. */
static size_t flood(int fd, const uint8_t *frame, size_t len, size_t max,
		    int stall_ms)
{
	size_t per = FR_MAX((size_t)1, (256 * KiB) / len), chunk = per * len;
	uint64_t total = (uint64_t)max * len, done = 0;
	uint8_t *b = malloc(chunk);

	assert_non_null(b);
	for (size_t i = 0; i < per; i++)
		memcpy(b + i * len, frame, len);
	while (done < total) {
		size_t pos = (size_t)(done % chunk);
		size_t n =
		    (size_t)FR_MIN((uint64_t)(chunk - pos), total - done);
		ssize_t w = send(fd, b + pos, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			done += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			if (poll(&p, 1, stall_ms) == 0)
				break;
			continue;
		}
		break; /* dropped */
	}
	free(b);
	return (size_t)(done / len);
}

/* Reads k replies to GETs of "nr/big" (got bytes each) from a function
 * that flooded the proxy with them. */
static void read_gets(int fd, int k, size_t got, const char *what)
{
	for (int i = 0; i < k; i++) {
		uint8_t *f = NULL;
		fr_msg rep;
		int rc = raw_next(fd, REPLY_MS, &rep, &f);
		if (rc != 1)
			fail_msg("never-read (%s): reply %d of %d did not come "
				 "once the function read (%s)",
				 what, i + 1, k, rc ? "time-out" : "dropped");
		ft_assert_rc(rep.h.status, 0);
		assert_int_equal(rep.h.opcode, FR_OP_GET);
		assert_int_equal(rep.w[FR_GET_R_GOT], got);
		assert_int_equal(rep.blen[0], got);
		free(f);
	}
}

/* Two windows of GET data, and 64 MiB for frames, buffers and the
 * allocator's slack. */
#define NR_BOUND (2 * 64 * MiB + 64 * MiB)

static void test_never_reads(void **state)
{
	static const char *const extra[] = {"--buffer-budget", "256M", NULL};
	struct proxy np = {0};
	ferry_client *u, *t;
	uint8_t frame[256];
	size_t n, sent, sent1;
	long base, rss, peak;
	int fd1, fd2;

	proxy_up(&np, "never-reads", 1, extra);
	u = open_client(&np, M_UNIX);
	t = open_client(&np, M_TCP);
	roundtrip(chk, "nr/big", 16 * MiB, 40);
	roundtrip(u, "nr/u0", MiB, 41);
	roundtrip(t, "nr/t0", MiB, 42);
	base = status_kb(np.pid, "VmRSS");
	assert_true(base > 0);

	/* Many requests with 64 KiB answers over Unix, never read. */
	fd1 = raw_unix(np.sock);
	greet(fd1, NULL);
	n = encode(m_get("nr/big", 0, 64 * KiB), frame, sizeof(frame));
	sent1 = flood(fd1, frame, n, 100000, 2000);
	print_message("# never-read (unix): %zu requests taken, proxy RSS %ld "
		      "MiB (was %ld)\n",
		      sent1, status_kb(np.pid, "VmRSS") / 1024, base / 1024);
	proxy_alive(&np);
	roundtrip(u, "nr/u1", MiB, 43);
	roundtrip(t, "nr/t1", 1000, 44);

	/* Requests with 16 MiB answers over TCP, never read. */
	fd2 = raw_tcp(np.port);
	greet(fd2, NULL);
	n = encode(m_get("nr/big", 0, 16 * MiB), frame, sizeof(frame));
	sent = flood(fd2, frame, n, 5000, 2000);
	/* What was taken completes meanwhile; wait until the proxy stops
	 * growing. GET data a connection has in flight or unread is held to
	 * one 64 MiB window, whatever the budget (256 MiB) has free, so two
	 * functions that never read cost two windows and the frames of
	 * their requests (with the bug, the TCP function alone grew the
	 * proxy by GiBs; with unread replies bounded but no window, by the
	 * budget and more). */
	rss = status_kb(np.pid, "VmRSS");
	for (uint64_t now = ft_now_ms(), grew = now, end = now + 30000;
	     now - grew < 2000 && now < end; now = ft_now_ms()) {
		long r;
		usleep(100000);
		r = status_kb(np.pid, "VmRSS");
		if (r > rss + 16 * 1024)
			grew = ft_now_ms();
		rss = FR_MAX(rss, r);
	}
	peak = status_kb(np.pid, "VmHWM");
	print_message("# never-read (tcp): %zu requests taken, proxy RSS %ld "
		      "MiB, peak %ld (was %ld)\n",
		      sent, rss / 1024, peak / 1024, base / 1024);
	proxy_alive(&np);
	if (peak - base > (long)(NR_BOUND / KiB))
		fail_msg("the proxy grew from %ld to %ld MiB serving two "
			 "functions that never read (bound: %zu MiB more)",
			 base / 1024, peak / 1024, NR_BOUND / MiB);
	/* The budget is not theirs to keep: a well-behaved function still
	 * moves a large value both ways over TCP. */
	roundtrip(u, "nr/u2", MiB, 45);
	roundtrip(t, "nr/t2", 16 * MiB, 46);
	/* Reading is what they waited for: once they read, the proxy starts
	 * the requests it held back. */
	read_gets(fd1, (int)FR_MIN(sent1, (size_t)1500), 64 * KiB, "unix");
	read_gets(fd2, 8, 16 * MiB, "tcp");
	raw_close(fd1);
	raw_close(fd2);
	wait_counts(u, 2, 1);
	roundtrip(t, "nr/t3", MiB, 47);
	ferry_del(chk, "nr/big", 6);
	ferry_close(u);
	ferry_close(t);
	int st = proxy_stop(&np, SIGTERM);
	assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A raw function on the proxy's TCP port that greets and sends the head
 * of a PUT of key with the vlen bytes at val, none of the value yet. */
static int put_begun(unsigned port, const char *key, const uint8_t *val,
		     size_t vlen)
{
	fr_msg m = m_put_inline(key, val, vlen);
	uint8_t head[256];
	const uint8_t *tail;
	size_t hn, tl;
	int fd;

	m.h.id = next_id++;
	hn = fr_msg_encode_head(&m, head, sizeof(head), &tail, &tl);
	assert_true(hn > 0 && tl == vlen);
	fd = raw_tcp(port);
	greet(fd, NULL);
	assert_int_equal(raw_send(fd, head, hn, -1), 0);
	return fd;
}

/* Whether the owned child pid exits with 0 within ms (else it is killed);
 * *st gets its wait status (-1: killed). */
static int exits_0(pid_t pid, int ms, int *st)
{
	uint64_t deadline = ft_now_ms() + (uint64_t)ms;
	pid_t r;

	while ((r = waitpid(pid, st, WNOHANG)) == 0 && ft_now_ms() < deadline)
		usleep(10000);
	if (r != pid) {
		kill(pid, SIGKILL);
		waitpid(pid, st, 0);
		*st = -1;
	}
	disown(pid);
	return r == pid && WIFEXITED(*st) && WEXITSTATUS(*st) == 0;
}

/* A function whose 64 MiB PUT over TCP has to wait for room in the
 * proxy's buffer budget. */
static void budget_child(const char *url, const char *key)
{
	size_t n = 64 * MiB;
	ferry_client *c = NULL;
	uint8_t *b = malloc(n);

	if (!b || connect_to(cl->file, url, 10000, 0, &c))
		_exit(2);
	ft_fill(b, n, 60);
	_exit(ferry_put(c, key, strlen(key), b, n, 0) ? 3 : 0);
}

/* Room in the budget that one function's frame gave back goes to another
 * that waits for it, whether the frame was served or its sender left. */
static void test_budget_released(void **state)
{
	static const char *const extra[] = {"--buffer-budget", "100M", NULL};
	static const char *const how[] = {"served", "abandoned"};
	struct proxy bp = {0};
	size_t vlen = 64 * MiB;
	uint8_t *val = malloc(vlen);

	assert_non_null(val);
	ft_fill(val, vlen, 61);
	proxy_up(&bp, "budget", 1, extra);
	for (int variant = 0; variant < 2; variant++) {
		fr_msg rep;
		int fd, st = 0;
		pid_t pid;
		uint8_t *f = NULL;

		/* A raw function announces a 64 MiB PUT and sends a part:
		 * the proxy sets 64 of its 100 MiB aside for it. */
		fd = put_begun(bp.port, "budget/a", val, vlen);
		assert_int_equal(raw_send(fd, val, MiB, -1), 0);
		usleep(300000);
		/* Another function's 64 MiB PUT waits for room... */
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fd); /* only the parent holds the first one */
			budget_child(bp.tcp_url, "budget/b");
		}
		own(pid);
		usleep(1000000);
		/* (It does wait: the budget holds.) */
		if (waitpid(pid, &st, WNOHANG) == pid) {
			disown(pid);
			fail_msg("a 64 MiB PUT went through with 64 of the "
				 "proxy's 100 MiB budget taken (status 0x%x)",
				 st);
		}
		ft_assert_rc(ferry_stat_key(chk, "budget/b", 8, NULL),
			     FERRY_ENOENT);
		/* ...which it gets once the first frame is done with. */
		if (variant == 0) {
			assert_int_equal(
			    raw_send(fd, val + MiB, vlen - MiB, -1), 0);
			assert_int_equal(raw_next(fd, REPLY_MS, &rep, &f), 1);
			free(f);
			ft_assert_rc(rep.h.status, 0);
		}
		raw_close(fd);
		if (!exits_0(pid, 30000, &st))
			fail_msg(
			    "a 64 MiB PUT waiting for buffer room failed "
			    "(status 0x%x) after the frame holding the room "
			    "was %s",
			    st, how[variant]);
		proxy_alive(&bp);
		ft_assert_rc(ferry_del(chk, "budget/b", 8), 0);
	}
	ferry_del(chk, "budget/a", 8);
	free(val);
	int st = proxy_stop(&bp, SIGTERM);
	assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Room set aside for a large frame is not the sender's to keep: a
 * function that stops in the middle of one is dropped after
 * --frame-timeout without a byte, and a function waiting for the room
 * gets it. One that keeps sending, however slowly, is not dropped. */
static void test_stalled_frame_dropped(void **state)
{
	static const char *const extra[] = {"--buffer-budget", "100M",
					    "--frame-timeout", "2s", NULL};
	struct proxy bp = {0};
	size_t vlen = 64 * MiB;
	uint8_t *val = malloc(vlen), *f = NULL;
	fr_msg rep;
	uint64_t t0, took;
	int fd, st = 0;
	pid_t pid;

	assert_non_null(val);
	ft_fill(val, vlen, 62);
	proxy_up(&bp, "stall", 1, extra);
	/* Slow but moving: 8 MiB pieces a second apart, 8 s in all. */
	fd = put_begun(bp.port, "stall/slow", val, vlen);
	for (size_t off = 0; off < vlen; off += 8 * MiB) {
		assert_int_equal(raw_send(fd, val + off, 8 * MiB, -1), 0);
		if (off + 8 * MiB < vlen)
			usleep(1000000);
	}
	assert_int_equal(raw_next(fd, REPLY_MS, &rep, &f), 1);
	free(f);
	ft_assert_rc(rep.h.status, 0);
	raw_close(fd);
	/* Stopped: 1 MiB of a 64 MiB PUT, then nothing. */
	fd = put_begun(bp.port, "stall/a", val, vlen);
	assert_int_equal(raw_send(fd, val, MiB, -1), 0);
	t0 = ft_now_ms();
	usleep(300000);
	fflush(NULL);
	pid = fork(); /* a PUT that needs the room: it waits, then goes */
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd);
		budget_child(bp.tcp_url, "stall/b");
	}
	own(pid);
	if (!raw_dropped(fd, 10000))
		fail_msg("a function that stopped in a 64 MiB frame kept its "
			 "connection for 10 s (--frame-timeout 2s)");
	took = ft_now_ms() - t0;
	raw_close(fd);
	assert_true(took >= 1500);
	if (!exits_0(pid, 30000, &st))
		fail_msg("a 64 MiB PUT waiting for the room of a stalled frame "
			 "failed (status 0x%x)",
			 st);
	assert_true(ft_file_has(bp.log, "no byte of a frame"));
	ft_assert_rc(ferry_stat_key(chk, "stall/a", 7, NULL), FERRY_ENOENT);
	ft_assert_rc(ferry_del(chk, "stall/b", 7), 0);
	ft_assert_rc(ferry_del(chk, "stall/slow", 10), 0);
	free(val);
	st = proxy_stop(&bp, SIGTERM);
	assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* What can never fit in the budget fails at once instead of waiting for
 * ever: over TCP a value travels in one frame, so HELLO gives TCP
 * functions a value limit of the budget less a message; GET answers come
 * in pieces of half of it. Over Unix values do not pass through the
 * budget at all. A budget too small to work with is refused at start. */
static void test_budget_limits(void **state)
{
	static const char *const small[] = {"--buffer-budget", "32M", NULL};
	static const char *const tiny[] = {"--buffer-budget", "100K", NULL};
	struct proxy sp = {0}, tp = {0};
	size_t vlen = 24 * MiB, got = 0, alen = 0;
	uint8_t *val = malloc(32 * MiB), *back = malloc(vlen);
	ferry_client *t, *u;
	fr_msg m = m_hello(), rep;
	ferry_stat st;
	void *all = NULL;
	uint8_t head[256];
	int fd;

	assert_non_null(val);
	assert_non_null(back);
	proxy_up(&sp, "budget-limits", 1, small);
	t = open_client(&sp, M_TCP);
	u = open_client(&sp, M_UNIX);
	ft_fill(val, 32 * MiB, 62);
	/* Larger than the budget allows in one frame: refused at once. */
	ft_assert_rc(ferry_put(t, "bl/big", 6, val, 32 * MiB, 0), FERRY_E2BIG);
	ft_assert_rc(ferry_put(t, "bl/big", 6, val, 32 * MiB - 16 * KiB + 1, 0),
		     FERRY_E2BIG);
	ft_assert_rc(ferry_stat_key(chk, "bl/big", 6, NULL), FERRY_ENOENT);
	/* Over Unix the budget does not limit values. */
	ft_assert_rc(ferry_put(u, "bl/big", 6, val, 32 * MiB, 0), 0);
	/* What fits goes through; GETs answer in 16 MiB pieces. */
	ft_assert_rc(ferry_put(t, "bl/v", 4, val, vlen, 0), 0);
	ft_assert_rc(ferry_get(t, "bl/v", 4, 0, back, vlen, &got, &st), 0);
	assert_int_equal(got, 16 * MiB);
	assert_int_equal(st.size, vlen);
	assert_memory_equal(back, val, got);
	ft_assert_rc(ferry_get_alloc(t, "bl/v", 4, &all, &alen), 0);
	assert_int_equal(alen, vlen);
	assert_memory_equal(all, val, vlen);
	free(all);
	ft_assert_rc(ferry_get_alloc(t, "bl/big", 6, &all, &alen), 0);
	assert_int_equal(alen, 32 * MiB);
	assert_memory_equal(all, val, alen);
	free(all);
	/* A raw function is told the limit, and a frame over it is dropped
	 * before the proxy sets anything aside for it. */
	fd = raw_tcp(sp.port);
	ft_assert_rc(raw_call(fd, &m, -1, &rep), 0);
	assert_int_equal(rep.w[FR_HELLO_R_VALMAX], 32 * MiB - FR_MSG_SIZE);
	m = m_put_inline("bl/raw", val, 32 * MiB);
	m.h.id = next_id++;
	{
		const uint8_t *tail;
		size_t tl,
		    hn = fr_msg_encode_head(&m, head, sizeof(head), &tail, &tl);
		assert_true(hn > 0);
		assert_int_equal(raw_send(fd, head, hn, -1), 0);
	}
	expect_dropped(fd, "a PUT frame larger than the buffer budget");
	raw_close(fd);
	roundtrip(t, "bl/after", MiB, 63);
	ft_assert_rc(ferry_del(chk, "bl/v", 4), 0);
	ft_assert_rc(ferry_del(chk, "bl/big", 6), 0);
	ft_assert_rc(ferry_del(chk, "bl/after", 8), 0);
	ferry_close(t);
	ferry_close(u);
	int st2 = proxy_stop(&sp, SIGTERM);
	assert_true(st2 != -1 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
	/* Too small a budget to work with. */
	assert_int_not_equal(proxy_start(&tp, "budget-tiny", 0, tiny), 0);
	free(val);
	free(back);
}

/* A function that loops over 64 MiB puts (and gets, but over TCP only
 * puts: a frame half received when its sender dies) until it is killed. */
static void transfer_child(const char *url, int zc, int wfd)
{
	size_t n = 64 * MiB;
	ferry_client *c = NULL;
	char key[64];
	uint8_t *b;

	snprintf(key, sizeof(key), "kill/%d", (int)getpid());
	if (connect_to(cl->file, url, 60000, 0, &c))
		_exit(2);
	b = zc ? ferry_alloc(c, n) : malloc(n);
	if (!b)
		_exit(3);
	ft_fill(b, n, 5);
	for (int i = 0;; i++) {
		if (ferry_put(c, key, strlen(key), b, n, 0))
			_exit(4);
		if (i == 0 && write(wfd, "x", 1) != 1)
			_exit(5);
		if (strcmp(ferry_mode(c), "proxy-tcp") &&
		    ferry_get(c, key, strlen(key), 0, b, n, NULL, NULL))
			_exit(6);
	}
}

static pid_t killed[16];
static unsigned nkilled;

/* Deletes the values the killed children left (64 MiB each). */
static void forget_killed(void)
{
	char key[64];

	for (unsigned i = 0; i < nkilled; i++) {
		snprintf(key, sizeof(key), "kill/%d", (int)killed[i]);
		ferry_del(chk, key, strlen(key));
	}
	nkilled = 0;
}

static void kill_mid_transfer(const struct proxy *p, enum mode m, int zc)
{
	static const int delays_us[] = {0, 20000, 50000, 100000, 150000};

	for (size_t i = 0; i < FR_ARRAY_LEN(delays_us); i++) {
		int pfd[2], st = 0;
		struct pollfd q;
		pid_t pid;
		char x;

		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		fflush(NULL);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			transfer_child(url_of(p, m), zc, pfd[1]);
		}
		own(pid);
		close(pfd[1]);
		q = (struct pollfd){.fd = pfd[0], .events = POLLIN};
		if (poll(&q, 1, 60000) != 1 || read(pfd[0], &x, 1) != 1) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			disown(pid);
			fail_msg("the %s transfer child did not get going "
				 "(status 0x%x)",
				 mode_name[m], st);
		}
		close(pfd[0]);
		usleep((useconds_t)delays_us[i]);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		disown(pid);
		if (nkilled < FR_ARRAY_LEN(killed))
			killed[nkilled++] = pid;
		if (!WIFSIGNALED(st))
			fail_msg("the %s transfer child failed before it was "
				 "killed (status 0x%x)",
				 mode_name[m], st);
		proxy_alive(p);
	}
}

static void test_killed_mid_transfer(void **state)
{
	/* A small budget: a partial frame that stayed charged after its
	 * sender died would soon leave no room for a 64 MiB one. */
	static const char *const extra[] = {"--buffer-budget", "160M", NULL};
	struct proxy kp = {0};
	ferry_client *probe, *t;
	ferry_proxy_stat s0;

	proxy_up(&kp, "kill", 1, extra);
	probe = open_client(&kp, M_UNIX);
	s0 = pstat(probe);
	assert_int_equal(s0.functions, 1);
	kill_mid_transfer(&kp, M_UNIX, 1);
	wait_counts(probe, 1, s0.regions);
	forget_killed();
	kill_mid_transfer(&kp, M_UNIX, 0);
	wait_counts(probe, 1, s0.regions);
	forget_killed();
	kill_mid_transfer(&kp, M_TCP, 0);
	wait_counts(probe, 1, s0.regions);
	usleep(500000); /* a PUT the proxy still had in flight lands */
	forget_killed();
	/* Still whole: 64 MiB both ways. */
	t = open_client(&kp, M_TCP);
	roundtrip(t, "kill/after/t", 64 * MiB, 50);
	roundtrip(probe, "kill/after/u", 64 * MiB, 51);
	ferry_del(t, "kill/after/t", 12);
	ferry_del(t, "kill/after/u", 12);
	ferry_close(t);
	ferry_close(probe);
	int st = proxy_stop(&kp, SIGTERM);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		dump_log(kp.log);
		fail_msg("the proxy did not stop cleanly (status 0x%x)", st);
	}
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, case_setup, case_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_sizes_direct),
	    T(test_sizes_unix),
	    T(test_sizes_tcp),
	    T(test_ops_direct),
	    T(test_ops_unix),
	    T(test_ops_tcp),
	    T(test_big_values_tcp),
	    T(test_close_frees_alloc_tcp),
	    T(test_proxy_stat),
	    T(test_many_functions),
	    T(test_garbage_unix),
	    T(test_garbage_tcp),
	    T(test_truncated_unix),
	    T(test_truncated_tcp),
	    T(test_oversized_unix),
	    T(test_oversized_tcp),
	    T(test_header_fields_unix),
	    T(test_header_fields_tcp),
	    T(test_before_hello_unix),
	    T(test_before_hello_tcp),
	    T(test_share_refused),
	    T(test_rma_bounds_unix),
	    T(test_rma_bounds_tcp),
	    T(test_attach_abuse),
	    T(test_channel_abuse),
	    T(test_pipelined_unix),
	    T(test_pipelined_tcp),
	    T(test_isolation),
	    T(test_never_reads),
	    T(test_budget_released),
	    T(test_stalled_frame_dropped),
	    T(test_budget_limits),
	    T(test_killed_mid_transfer),
	    T(test_restart),
	    T(test_stalled_proxy),
	};
#undef T
	const char *only = getenv("FERRY_TEST_FILTER"); /* e.g. "*restart*" */

	if (only && *only)
		cmocka_set_test_filter(only);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
