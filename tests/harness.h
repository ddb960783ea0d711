/* Shared helpers of the tests: cmocka, plus starting and stopping real
 * ferry-server processes.
 *
 * A test cluster is N ferry-server processes on 127.0.0.1, on ports that
 * were free when it started (each test process picks its own, so tests on
 * the tcp and shm providers can run beside each other and beside a user's
 * cluster), with the provider from $FERRY_TEST_PROVIDER (default tcp). Its
 * cluster file and the servers' logs live in a fresh mkdtemp directory.
 * Every cluster is also registered for clean-up at exit (and on SIGTERM,
 * SIGINT, SIGHUP), so a failing test never leaves servers running or
 * directories behind; set FERRY_TEST_KEEP=1 to keep the directories.
 */
#ifndef FT_HARNESS_H
#define FT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#include "client/ring.h"
#include "ferry.h"

#define FT_MAX_SERVERS 16

typedef struct ft_cluster {
	unsigned n;			/* servers */
	pid_t pids[FT_MAX_SERVERS];	/* 0 once reaped */
	int wstatus[FT_MAX_SERVERS];	/* waitpid status once reaped */
	char addrs[FT_MAX_SERVERS][64]; /* HOST:PORT, as in the file */
	char logs[FT_MAX_SERVERS][320]; /* each server's stdout+stderr */
	char dir[256];			/* the mkdtemp directory */
	char file[300];			/* the cluster file in it */
	char provider[16];
	fr_ring ring; /* as libferry builds it */
	/* The node proxy, once ft_proxy_start ran (proxy_pid 0: none). */
	pid_t proxy_pid;
	char proxy_unix[330]; /* unix:///DIR/proxy.sock */
	char proxy_tcp[64];   /* tcp://127.0.0.1:PORT */
	char proxy_log[320];
	char proxy_args[8][320]; /* extra arguments, kept for restarts */
	unsigned nproxy_args;
} ft_cluster;

/* $FERRY_TEST_PROVIDER, or "tcp". */
const char *ft_provider(void);

/* Directory holding ferry-server and ferry: $FERRY_BIN, else
 * dirname(/proc/self/exe)/../bin. */
const char *ft_bin_dir(void);

/* Finds n consecutive TCP ports on 127.0.0.1 that nobody listens on and
 * that this process has not handed out before. Returns the first, or 0. */
unsigned ft_free_ports(unsigned n);

/* Starts n servers with extra arguments (NULL-terminated list, may be NULL:
 * e.g. {"--memory", "8M", NULL}) and writes the cluster file. Retries with
 * other ports if a server cannot start (ports can be taken between the
 * check and the start). Fails the current test (cmocka) if it cannot start
 * them, printing the servers' logs. The result is freed by ft_cluster_stop. */
ft_cluster *ft_cluster_start(unsigned n, const char *const *extra);

/* Stops every server (SIGTERM, then SIGKILL), removes the directory, frees
 * cl. Accepts NULL. */
void ft_cluster_stop(ft_cluster *cl);

/* Starts a ferry-proxy for cl, on a Unix socket in cl's directory and on
 * a free TCP port; it is stopped with the servers. Fails the test if it
 * does not serve in time. */
void ft_proxy_start(ft_cluster *cl);
/* The same with extra arguments (NULL-terminated, at most 8; e.g.
 * {"--admin-token-file", path, NULL}), which ft_proxy_restart passes
 * again. */
void ft_proxy_start_args(ft_cluster *cl, const char *const *extra);

/* Writes a fresh admin token to DIR/admin.token (0600) in a new mkdtemp
 * directory and returns its path (static storage; the token itself in
 * token, FERRY_TOKEN_LEN + 1 bytes, when not NULL). ft_cluster_stop does
 * not remove it: ft_admin_token_rm does. Fails the test if it cannot. */
const char *ft_admin_token(char *token);
void ft_admin_token_rm(void);

/* Client modes, as ferry_mode names them. */
enum ft_mode { FT_DIRECT, FT_PROXY_UNIX, FT_PROXY_TCP, FT_NMODES };
extern const char *const ft_mode_name[FT_NMODES];

/* Fills *o with defaults, cl's cluster file and the proxy (or "direct")
 * that mode m goes through. */
void ft_opts_mode(const ft_cluster *cl, enum ft_mode m, ferry_opts *o);

/* Connects to cl in mode m (the proxy modes need ft_proxy_start), or
 * fails the test. */
ferry_client *ft_connect_mode(const ft_cluster *cl, enum ft_mode m,
			      int timeout_ms);

/* Connects a client to cl with the given per-operation timeout (0: the
 * library's default) and max_inflight (0: default). Returns the
 * ferry_connect code; *out is the client on success. */
int ft_connect_opts(const ft_cluster *cl, int timeout_ms, unsigned inflight,
		    ferry_client **out);

/* Connects or fails the test. */
ferry_client *ft_connect(const ft_cluster *cl, int timeout_ms);

/* Sends sig to server i. SIGKILL also reaps it (kill -9 semantics: the
 * process is gone when this returns). */
void ft_server_kill(ft_cluster *cl, unsigned i, int sig);

/* kill -9 of server i, then a new one at the same address with extra
 * arguments (as for ft_cluster_start); it has forgotten everything. Fails
 * the test if it cannot start. */
void ft_server_restart(ft_cluster *cl, unsigned i, const char *const *extra);

/* kill -9 of the proxy, then a new one on the same socket and TCP port.
 * Fails the test if it cannot start. */
void ft_proxy_restart(ft_cluster *cl);

/* SIGTERM to server i, then waits up to timeout_ms for it to exit. Returns
 * its wait status (as waitpid gives it), or -1 if it did not exit in time
 * (it is then killed). */
int ft_server_stop(ft_cluster *cl, unsigned i, int timeout_ms);

/* 1 while server i's process exists (and is not a zombie). */
int ft_server_alive(ft_cluster *cl, unsigned i);

/* Prints the last lines of every server's log to stderr (for failures). */
void ft_dump_logs(const ft_cluster *cl);
/* Copies the last bytes of the file at path to stderr as TAP comments,
 * under a line naming it (and what). */
void ft_dump_tail(const char *path, const char *what, long bytes);

/* Index of the server a key lives on, the way libferry picks it. */
unsigned ft_owner(const ft_cluster *cl, const void *key, size_t klen);

/* Runs the test function fn(state) in a forked child process and fails
 * the current test if it fails there or is still running after timeout_ms
 * (it is then killed). For tests whose failure mode is a hang that no
 * call can bound (a provider spinning on a lock a crashed peer holds):
 * the suite still ends in time, and no later test inherits the damage.
 * The child reports in cmocka's plain format on stderr, so its lines do
 * not count as TAP results; it must create its own clients (fork and an
 * open fabric endpoint do not mix). Servers stay owned by the parent. */
void ft_isolated(const char *name, void (*fn)(void **state), void **state,
		 int timeout_ms);

/* libfabric's shm provider keeps each endpoint in a /dev/shm file that a
 * process killed with SIGKILL leaves behind; ferry's processes remove
 * those of dead ones (src/fabric/region.h). How many of the process pid's
 * ("ferry-PID-NONCE:...") are there; 0 on other providers. */
int ft_shm_regions(pid_t pid);
/* Whether pid's regions are gone within timeout_ms. */
int ft_shm_regions_gone(pid_t pid, int timeout_ms);

/* 1 if the file at path (a log) has a line containing what; 0 if not,
 * or if there is no such file. */
int ft_file_has(const char *path, const char *what);

/* Milliseconds on the monotonic clock. */
uint64_t ft_now_ms(void);

/* A deterministic pseudo-random byte pattern: fills n bytes from seed, so
 * content written under one seed can be checked later without keeping it. */
void ft_fill(void *buf, size_t n, uint64_t seed);

/* Returns the index of the first byte that differs from ft_fill(seed),
 * or (size_t)-1 if all n bytes match. */
size_t ft_check(const void *buf, size_t n, uint64_t seed);

/* ---- checks of the operations, shared by the direct and proxy tests ---- */

/* Formats a key (at most 255 bytes) into key[256]; returns its length. */
size_t ft_kf(char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads key through c into a buffer of exactly size bytes and into a
 * larger one (a guard zone behind the value must stay untouched), and with
 * ferry_get_alloc; all must hold size bytes of pattern seed. The buffers
 * come from ferry_alloc when zc is set, else from malloc. */
void ft_check_value(ferry_client *c, const char *key, size_t size,
		    uint64_t seed, int zc);

/* Stores n keys, fmt formatted with start .. start+n-1 (fmt takes one int),
 * each holding its own name, through one ferry_batch on c. */
void ft_put_many(ferry_client *c, const char *fmt, int start, int n);

/* Lists one page of at most max keys with prefix [plen] after the cursor
 * (after[*alen]; *alen 0: from the start; after has room for cap bytes)
 * and checks it as every page must be: at most max keys, not empty when it
 * says more follow, every key longer than the prefix, shorter than cap,
 * starting with it and sorting strictly after the one before (the cursor
 * included), nothing past the last. Calls each(key, arg), with key
 * NUL-terminated in after, for every key, and leaves the cursor at the last
 * one. Returns 1 if more keys may follow, else 0. */
int ft_list_page(ferry_client *c, const char *prefix, size_t plen, char *after,
		 size_t *alen, size_t cap, unsigned max,
		 void (*each)(const char *key, void *arg), void *arg);

/* What ferry_list refuses or returns for the prefix's edge arguments: a
 * page of 0 keys is FERRY_EINVAL, a prefix longer than FERRY_KEY_MAX is
 * FERRY_E2BIG, one of FERRY_KEY_MAX bytes lists nothing, and a page of
 * 10000 holds all of the `count` keys under prefix, with no more after. */
void ft_list_edges(ferry_client *c, const char *prefix, size_t plen,
		   size_t count);

/* Sizes of the values ft_batch_check stores, by index. */
typedef size_t (*ft_size_fn)(int i);

/* Stores n values with one ferry_batch of PUTs (value i: size(i) bytes of
 * pattern 1000+i under fmt formatted with i; the buffer of every zc-th,
 * from i = 0, from ferry_alloc, 0: none), then reads them back with one
 * batch of GETs into buffers 100 bytes larger, checking every status,
 * result, size, user pointer and byte. Then a mixed batch where one op
 * fails (a STAT of the value with index 1, a GET of a key that does not
 * exist, a DEL of the value with index 2, an INCR of a fresh counter):
 * ferry_batch returns the failure, FERRY_ENOENT, and the others are done,
 * which checker (any client of the same cluster) must see. Frees all. */
void ft_batch_check(ferry_client *c, ferry_client *checker, const char *fmt,
		    int n, ft_size_fn size, int zc);

/* Runs the n operations in ops asynchronously on c: submits while the
 * client takes them (until FERRY_EBUSY), collects completions with
 * ferry_poll, and checks that each op (op->user = its index + 1) comes back
 * exactly once, as itself, with status 0, by deadline (ft_now_ms). Returns
 * the most operations that were in flight at once. */
size_t ft_async_run(ferry_client *c, ferry_op *ops, size_t n,
		    uint64_t deadline);

/* After ft_async_run: nothing is left to collect, ferry_poll refuses a max
 * of 0, and an op rejected by ferry_submit is not reported again. */
void ft_async_after(ferry_client *c);

/* Asserts that a ferry call returned an expected code, printing both
 * codes' messages when it did not. */
#define ft_assert_rc(expr, want)                                               \
	do {                                                                   \
		int ft_rc_ = (expr), ft_want_ = (want);                        \
		if (ft_rc_ != ft_want_)                                        \
			fail_msg("%s = %d (%s), expected %d (%s)", #expr,      \
				 ft_rc_, ferry_strerror(ft_rc_), ft_want_,     \
				 ferry_strerror(ft_want_));                    \
	} while (0)

#endif
