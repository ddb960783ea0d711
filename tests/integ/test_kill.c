/*
 * Server loss: after kill -9 of one server, every call that needs it fails
 * with FERRY_EUNREACH or FERRY_ETIMEDOUT within the client's timeout (plus
 * slack; a bound, not a performance figure) instead of hanging, while keys
 * on the surviving server keep working; connecting with a dead server in
 * the cluster still works; and SIGTERM stops a server cleanly (exit status
 * 0) within a few seconds.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

/* The client's per-operation timeout, and how much later than that a
 * failing call may return (time-out scans, scheduling on a busy 2-core
 * machine). */
#define TIMEOUT_MS 2000
#define SLACK_MS 1500
#define MiB ((size_t)1 << 20)

static ft_cluster *cl;
static ferry_client *c;
static char key_on[2][32]; /* a key on server 0 and one on server 1 */

static int setup(void **state)
{
	static const char *const args[] = {"--memory", "128M", NULL};

	cl = ft_cluster_start(2, args);
	c = NULL;
	for (unsigned want = 0; want < 2; want++)
		for (int i = 0; i < 1000; i++) {
			snprintf(key_on[want], sizeof(key_on[want]), "kill/%d",
				 i);
			if (ft_owner(cl, key_on[want], strlen(key_on[want])) ==
			    want)
				break;
		}
	return 0;
}

static int teardown(void **state)
{
	ferry_close(c);
	c = NULL;
	ft_cluster_stop(cl);
	cl = NULL;
	return 0;
}

static int lost(int rc)
{
	return rc == FERRY_EUNREACH || rc == FERRY_ETIMEDOUT;
}

/* Runs expr, which must fail as a lost server does, within the bound. */
#define EXPECT_LOST(expr)                                                      \
	do {                                                                   \
		uint64_t t0_ = ft_now_ms();                                    \
		int rc_ = (expr);                                              \
		uint64_t dt_ = ft_now_ms() - t0_;                              \
		if (!lost(rc_))                                                \
			fail_msg("%s = %d (%s), expected EUNREACH or "         \
				 "ETIMEDOUT",                                  \
				 #expr, rc_, ferry_strerror(rc_));             \
		if (dt_ > TIMEOUT_MS + SLACK_MS)                               \
			fail_msg("%s took %llu ms (timeout %d ms)", #expr,     \
				 (unsigned long long)dt_, TIMEOUT_MS);         \
	} while (0)

static void put_both(void)
{
	for (int s = 0; s < 2; s++)
		ft_assert_rc(
		    ferry_put(c, key_on[s], strlen(key_on[s]), "alive", 5, 0),
		    0);
}

static void survivor_works(void)
{
	char buf[16];
	size_t got;
	const char *k = key_on[0];

	ft_assert_rc(
	    ferry_get(c, k, strlen(k), 0, buf, sizeof(buf), &got, NULL), 0);
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "alive", 5);
	ft_assert_rc(ferry_put(c, k, strlen(k), "again", 5, 0), 0);
	ft_assert_rc(
	    ferry_get(c, k, strlen(k), 0, buf, sizeof(buf), &got, NULL), 0);
	assert_memory_equal(buf, "again", 5);
	ft_assert_rc(ferry_put(c, k, strlen(k), "alive", 5, 0), 0);
}

static void test_kill9_fails_fast(void **state)
{
	const char *dead = key_on[1];
	size_t dl = strlen(dead), got;
	char buf[16];
	int64_t v;

	c = ft_connect(cl, TIMEOUT_MS);
	put_both();
	ft_server_kill(cl, 1, SIGKILL);
	assert_false(ft_server_alive(cl, 1));
	/* Repeatedly: a dead server stays dead, every call stays bounded. */
	for (int round = 0; round < 2; round++) {
		EXPECT_LOST(
		    ferry_get(c, dead, dl, 0, buf, sizeof(buf), &got, NULL));
		EXPECT_LOST(ferry_put(c, dead, dl, "x", 1, 0));
		EXPECT_LOST(ferry_stat_key(c, dead, dl, NULL));
		EXPECT_LOST(ferry_del(c, dead, dl));
		EXPECT_LOST(ferry_incr(c, dead, dl, 1, &v));
		survivor_works();
	}
	/* A large value (by RMA) to the dead server. */
	uint8_t *big = malloc(MiB);
	assert_non_null(big);
	memset(big, 1, MiB);
	EXPECT_LOST(ferry_put(c, dead, dl, big, MiB, 0));
	EXPECT_LOST(ferry_get(c, dead, dl, 0, big, MiB, &got, NULL));
	free(big);
	survivor_works();
}

static void test_kill9_batch_async_stat_list(void **state)
{
	/* Static: if an assertion ends the test early, operations still in
	 * flight must not point into a dead stack frame. */
	static char b0[16], b1[16];
	static ferry_op ops[2];
	ops[0] = (ferry_op){.opcode = FERRY_OP_GET,
			    .key = key_on[0],
			    .klen = strlen(key_on[0]),
			    .buf = b0,
			    .len = sizeof(b0)};
	ops[1] = (ferry_op){.opcode = FERRY_OP_GET,
			    .key = key_on[1],
			    .klen = strlen(key_on[1]),
			    .buf = b1,
			    .len = sizeof(b1)};
	ferry_server_stat st[2];
	ferry_keys *k = NULL;
	uint64_t t0;
	int rc;

	c = ft_connect(cl, TIMEOUT_MS);
	put_both();
	ft_server_kill(cl, 1, SIGKILL);

	/* Batch: the survivor's op succeeds, the other fails, in bound. */
	t0 = ft_now_ms();
	rc = ferry_batch(c, ops, 2);
	assert_true(ft_now_ms() - t0 <= TIMEOUT_MS + SLACK_MS);
	assert_true(lost(rc));
	assert_int_equal(ops[0].status, 0);
	assert_int_equal(ops[0].result, 5);
	assert_memory_equal(b0, "alive", 5);
	assert_true(lost(ops[1].status));

	/* Async: both complete, in bound. */
	t0 = ft_now_ms();
	int done = 0;
	for (int i = 0; i < 2; i++) {
		rc = ferry_submit(c, &ops[i]);
		/* An op on a server already known to be down may be
		 * rejected at once. */
		if (rc) {
			assert_int_equal(i, 1);
			assert_true(lost(rc));
			assert_true(lost(ops[i].status));
			done++;
		}
	}
	while (done < 2 && ft_now_ms() - t0 <= TIMEOUT_MS + SLACK_MS) {
		ferry_op *out[2];
		int n = ferry_poll(c, out, 2, 500);
		assert_true(n >= 0);
		for (int j = 0; j < n; j++) {
			if (out[j] == &ops[0])
				assert_int_equal(out[j]->status, 0);
			else
				assert_true(lost(out[j]->status));
		}
		done += n;
	}
	assert_int_equal(done, 2);

	/* Cluster stat reports the dead server, not a hang. */
	t0 = ft_now_ms();
	assert_int_equal(ferry_cluster_stat(c, st, 2), 2);
	assert_true(ft_now_ms() - t0 <= TIMEOUT_MS + SLACK_MS);
	assert_int_equal(st[0].status, 0);
	assert_true(lost(st[1].status));
	/* A listing cannot be complete without the server: it fails. */
	EXPECT_LOST(ferry_list(c, "kill/", 5, NULL, 0, 10, &k));
	assert_null(k);
	survivor_works();
}

static void test_connect_with_a_dead_server(void **state)
{
	ferry_client *none = NULL;
	char buf[16];
	uint64_t t0;

	c = ft_connect(cl, TIMEOUT_MS);
	put_both();
	ferry_close(c);
	c = NULL;
	ft_server_kill(cl, 1, SIGKILL);
	/* One server answering is enough to connect. */
	t0 = ft_now_ms();
	c = ft_connect(cl, TIMEOUT_MS);
	assert_true(ft_now_ms() - t0 <= TIMEOUT_MS + SLACK_MS);
	survivor_works();
	EXPECT_LOST(ferry_get(c, key_on[1], strlen(key_on[1]), 0, buf,
			      sizeof(buf), NULL, NULL));
	EXPECT_LOST(ferry_put(c, key_on[1], strlen(key_on[1]), "x", 1, 0));
	/* With no server left, connecting fails, in bound. */
	ft_server_kill(cl, 0, SIGKILL);
	EXPECT_LOST(ft_connect_opts(cl, TIMEOUT_MS, 0, &none));
	assert_null(none);
	/* And the old client fails its calls instead of hanging. */
	EXPECT_LOST(ferry_get(c, key_on[0], strlen(key_on[0]), 0, buf,
			      sizeof(buf), NULL, NULL));
}

/* A server that was down when the client connected, and comes back: a
 * client that only writes to it hears that it is lost until it answers,
 * never that its value is too big (the server's value limit is unknown
 * until it answered a HELLO), and over tcp gets through once it does.
 * (Over shm, a server dead at connect was not reached again within 20 s:
 * not looked into here.) */
static void test_put_to_a_server_back_after_connect(void **state)
{
	const char *k = key_on[1];
	int tcp = !strcmp(ft_provider(), "tcp");
	uint64_t end;
	int rc;

	ft_server_kill(cl, 1, SIGKILL);
	c = ft_connect(cl, TIMEOUT_MS);
	EXPECT_LOST(ferry_put(c, k, strlen(k), "x", 1, 0));
	ft_server_restart(cl, 1, NULL);
	end = ft_now_ms() + 2 * TIMEOUT_MS + SLACK_MS;
	do {
		rc = ferry_put(c, k, strlen(k), "back", 4, 0);
		if (rc && !lost(rc))
			fail_msg("put to the server back: %d (%s)", rc,
				 ferry_strerror(rc));
		if (rc)
			poll(NULL, 0, 50);
	} while (rc && ft_now_ms() < end);
	if (tcp) {
		ft_assert_rc(rc, 0);
		put_both();
	}
}

/* A put loop to the dead server's key, for as long as the test counts. */
struct dialler {
	ferry_client *c;
	const char *key;
	atomic_int stop;
	int calls, wrong;
};

static void *dial_loop(void *arg)
{
	struct dialler *d = arg;

	while (!atomic_load(&d->stop)) {
		int rc = ferry_put(d->c, d->key, strlen(d->key), "x", 1, 0);
		d->calls++;
		d->wrong += !lost(rc);
	}
	return NULL;
}

/* Over tcp;ofi_rxm every send to a server that is not connected dials it
 * again. A request queued for a dead server used to be retried on every
 * pass of the client's loop, 1000 connection attempts a second until it
 * timed out; the sends are now paced (pace() in src/client/direct.c).
 * A listener on the dead server's port counts the attempts: it accepts
 * each and closes it, as a port whose server is gone refuses it. */
static void test_dead_server_dialled_at_a_pace(void **state)
{
	struct dialler d = {.key = key_on[1]};
	char host[64], port[16];
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int one = 1, lfd, accepted = 0;
	uint64_t end;
	pthread_t th;

	if (strcmp(ft_provider(), "tcp") != 0) {
		print_message("skipped: only tcp;ofi_rxm dials its peers\n");
		skip();
	}
	c = ft_connect(cl, TIMEOUT_MS);
	put_both();
	ft_server_kill(cl, 1, SIGKILL);
	assert_int_equal(fr_split_hostport(cl->addrs[1], host, sizeof(host),
					   port, sizeof(port)),
			 0);
	sa.sin_port = htons((uint16_t)atoi(port));
	assert_int_equal(inet_pton(AF_INET, host, &sa.sin_addr), 1);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 128), 0);
	d.c = c;
	assert_int_equal(pthread_create(&th, NULL, dial_loop, &d), 0);
	end = ft_now_ms() + 3000;
	while (ft_now_ms() < end) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		int fd;
		if (poll(&p, 1, 50) <= 0)
			continue;
		while ((fd = accept(lfd, NULL, NULL)) >= 0) {
			accepted++;
			close(fd);
		}
	}
	atomic_store(&d.stop, 1);
	pthread_join(th, NULL);
	close(lfd);
	print_message("dead server: %d connection attempts in 3 s, %d calls\n",
		      accepted, d.calls);
	assert_int_equal(d.wrong, 0);
	assert_true(d.calls > 0);
	/* Paced: a few a second (a down server's calls also fail at once
	 * for a second between tries); unpaced it was about 3000. */
	if (accepted > 150)
		fail_msg("%d connection attempts to a dead server in 3 s",
			 accepted);
	survivor_works();
}

/* A dead server whose host refuses connections (over tcp: its process
 * ended) is found down once it has refused every send for a second:
 * calls to it then fail with FERRY_EUNREACH in about that second, not
 * after the client's whole time-out (10 s here), which is what each one
 * used to cost (give_up() in src/client/direct.c). The first call after
 * the kill may still wait out its time-out: it can go into the old
 * connection before the client sees it closed. Over shm a dead server's
 * queue takes sends until it is full, so calls time out there. */
static void test_refusing_server_fails_fast(void **state)
{
	enum { LONG_MS = 10000 };
	const char *dead = key_on[1];
	uint64_t t0, ms[4];
	int rc;

	if (strcmp(ft_provider(), "tcp") != 0) {
		print_message("skipped: only over tcp does a dead server "
			      "refuse sends\n");
		skip();
	}
	c = ft_connect(cl, LONG_MS);
	put_both();
	ft_server_kill(cl, 1, SIGKILL);
	for (int i = 0; i < 4; i++) {
		t0 = ft_now_ms();
		rc = ferry_put(c, dead, strlen(dead), "x", 1, 0);
		ms[i] = ft_now_ms() - t0;
		if (!lost(rc))
			fail_msg("put %d to the dead server: %d (%s)", i, rc,
				 ferry_strerror(rc));
		if (i == 1) /* once more after it was found down */
			usleep(1100 * 1000);
	}
	print_message("puts to a dead server: %llu, %llu, %llu, %llu ms "
		      "(time-out %d ms)\n",
		      (unsigned long long)ms[0], (unsigned long long)ms[1],
		      (unsigned long long)ms[2], (unsigned long long)ms[3],
		      LONG_MS);
	assert_true(ms[0] <= LONG_MS + SLACK_MS);
	for (int i = 1; i < 4; i++)
		if (ms[i] > 1000 + SLACK_MS)
			fail_msg("put %d to the dead server took %llu ms", i,
				 (unsigned long long)ms[i]);
	survivor_works();
	/* A server that comes back while the client counts it down is
	 * found by the HELLO that kept trying, not only once the down time
	 * is over; calls to others drive the client meanwhile. */
	ft_server_restart(cl, 1, NULL);
	t0 = ft_now_ms();
	while ((rc = ferry_put(c, dead, strlen(dead), "y", 1, 0)) != 0) {
		if (!lost(rc) || ft_now_ms() - t0 > LONG_MS)
			fail_msg("put to the restarted server: %d (%s) after "
				 "%llu ms", rc, ferry_strerror(rc),
				 (unsigned long long)(ft_now_ms() - t0));
		ft_assert_rc(ferry_stat_key(c, key_on[0], strlen(key_on[0]),
					    NULL),
			     0);
		usleep(10 * 1000);
	}
	print_message("the restarted server answered %llu ms after it was "
		      "ready\n", (unsigned long long)(ft_now_ms() - t0));
}

/* CPU time (user + system) process pid has used, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold spaces */
	assert_non_null(p);
	assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				       "%*u %*u %lu %lu",
				&ut, &st),
			 2);
	return (long)(ut + st);
}

/* A proxy whose server died keeps greeting it, and keeps a function's
 * watch waiting for it. Over shm (no wait descriptor) its loop polled for
 * as long as any request was out there: a whole core for as long as the
 * server stayed dead. Now it polls only while answers are due
 * (fr_fab_answers_due) and greets an unanswering server less and less
 * often (unstick in src/client/direct.c). */
static void test_proxy_idles_beside_a_dead_server(void **state)
{
	const char *dead = key_on[1];
	uint64_t watch;
	long before, used, hz = sysconf(_SC_CLK_TCK);

	ft_proxy_start(cl);
	c = ft_connect_mode(cl, FT_PROXY_UNIX, TIMEOUT_MS);
	put_both();
	ft_assert_rc(ferry_watch(c, "kill/", 5, 0, &watch), 0);
	ft_server_kill(cl, 1, SIGKILL);
	EXPECT_LOST(ferry_put(c, dead, strlen(dead), "x", 1, 0));
	survivor_works();
	before = cpu_ticks(cl->proxy_pid);
	sleep(3);
	used = cpu_ticks(cl->proxy_pid) - before;
	print_message("proxy beside a dead server: %ld%% of a core\n",
		      used * 100 / (3 * hz));
	/* Polling, it took all it could get (100% alone, and at least a
	 * third beside two other busy processes); idle, a few %. */
	if (used * 100 > 25 * 3 * hz)
		fail_msg("the proxy used %ld%% of a core in 3 s beside a dead "
			 "server", used * 100 / (3 * hz));
	survivor_works();
}

/* What the child of test_kill9_during_transfer reports through its pipe. */
struct transfer_report {
	int submitted; /* the put is in flight */
	int status;    /* its outcome */
	int survivor;  /* a get from the surviving server afterwards */
	uint64_t ms;   /* from the kill (as the child saw it) to the outcome */
};

/* The client side runs in a child process: a provider that wedges after
 * the kill (see below) then wedges only the child, which the parent can
 * kill, and no later test inherits the damage. */
static void transfer_child(int wfd, int rfd)
{
	size_t size = 32 * MiB;
	uint8_t *buf = malloc(size);
	struct transfer_report rep = {0};
	ferry_op op = {.opcode = FERRY_OP_PUT,
		       .key = key_on[1],
		       .klen = strlen(key_on[1]),
		       .buf = buf,
		       .len = size};
	ferry_op *out[1];
	ferry_client *cc = NULL;
	char go, b[16];
	uint64_t t0;
	int n = 0;

	if (!buf || ft_connect_opts(cl, TIMEOUT_MS, 0, &cc) ||
	    ferry_put(cc, key_on[0], strlen(key_on[0]), "alive", 5, 0))
		_exit(2);
	ft_fill(buf, size, 1);
	rep.submitted = ferry_submit(cc, &op) == 0;
	if (write(wfd, &rep, sizeof(rep)) != sizeof(rep) ||
	    read(rfd, &go, 1) != 1) /* the parent has killed server 1 */
		_exit(3);
	t0 = ft_now_ms();
	while (n == 0 && ft_now_ms() - t0 <= 4 * (TIMEOUT_MS + SLACK_MS))
		n = ferry_poll(cc, out, 1, 200);
	rep.status = n == 1 ? op.status : 1;
	rep.ms = ft_now_ms() - t0;
	rep.survivor = ferry_get(cc, key_on[0], strlen(key_on[0]), 0, b,
				 sizeof(b), NULL, NULL);
	if (!rep.survivor && memcmp(b, "alive", 5))
		rep.survivor = FERRY_EIO;
	if (write(wfd, &rep, sizeof(rep)) != sizeof(rep))
		_exit(4);
	ferry_close(cc);
	_exit(0);
}

static int read_report(int fd, struct transfer_report *rep, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1 &&
	       read(fd, rep, sizeof(*rep)) == sizeof(*rep);
}

static void test_kill9_during_transfer(void **state)
{
	int up[2], down[2], st = 0, shm = !strcmp(ft_provider(), "shm");
	struct transfer_report rep;
	pid_t pid;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		transfer_child(up[1], down[0]);
	close(up[1]);
	close(down[0]);
	if (!read_report(up[0], &rep, 10000) || !rep.submitted) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the child could not start a 32 MiB put");
	}
	ft_server_kill(cl, 1, SIGKILL);
	assert_int_equal(write(down[1], "k", 1), 1);
	/* The child's bound is its own; this one only keeps a wedged child
	 * from hanging the suite. */
	int got = read_report(up[0], &rep, 3 * (TIMEOUT_MS + SLACK_MS));
	if (!got || waitpid(pid, &st, WNOHANG) != pid) {
		uint64_t t0 = ft_now_ms();
		while (waitpid(pid, &st, WNOHANG) == 0 &&
		       ft_now_ms() - t0 < 2000)
			usleep(10000);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	close(up[0]);
	close(down[1]);
	if (!got)
		fail_msg("the client hung after its server was killed "
			 "mid-transfer");
	/* The put ends within the bound, with success if it finished just
	 * before the kill, else as a lost server. */
	if (rep.status != 0 && !lost(rep.status))
		fail_msg("put during kill: %d (%s)", rep.status,
			 ferry_strerror(rep.status));
	if (rep.ms > TIMEOUT_MS + SLACK_MS)
		fail_msg("the put took %llu ms to fail after the kill",
			 (unsigned long long)rep.ms);
	/* libfabric's shm provider (1.17) guards each endpoint's command
	 * queue with a spinlock in shared memory. A server killed while it
	 * holds the client's lock (likely in the middle of a large transfer)
	 * leaves it held for good: every other server that then replies to
	 * this client spins on it forever (and ignores SIGTERM), and so may
	 * a later endpoint of the client's process. No ferry code can
	 * release it, so on shm the survivor is not checked after this kill
	 * (the idle kills above check it) and is killed outright. */
	if (shm) {
		print_message("# shm: survivor %s after a kill mid-transfer "
			      "(not checked: provider limitation)\n",
			      rep.survivor ? "wedged" : "fine");
		ft_server_kill(cl, 0, SIGKILL);
		return;
	}
	ft_assert_rc(rep.survivor, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_sigterm_exits_cleanly(void **state)
{
	int st;

	c = ft_connect(cl, TIMEOUT_MS);
	put_both();
	/* With a client connected and idle. */
	st = ft_server_stop(cl, 1, 5000);
	if (st == -1)
		fail_msg("server did not stop within 5 s of SIGTERM");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("server stopped with status 0x%x, expected exit 0",
			 st);
	EXPECT_LOST(ferry_stat_key(c, key_on[1], strlen(key_on[1]), NULL));
	survivor_works();
	/* SIGINT too, right after serving. */
	kill(cl->pids[0], SIGINT);
	uint64_t t0 = ft_now_ms();
	while (ft_server_alive(cl, 0) && ft_now_ms() - t0 < 5000)
		usleep(10000);
	assert_false(ft_server_alive(cl, 0));
	st = cl->wstatus[0];
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("server stopped by SIGINT with status 0x%x", st);
}

/* ---- a pid that comes back ------------------------------------------------
 *
 * libfabric's shm provider keeps each endpoint in a /dev/shm file that a
 * process killed with SIGKILL leaves behind, and by default names it after
 * the pid. A later process with the same pid then found "its" file owned
 * by a live process (itself) and could not open an endpoint. Here one pid
 * lives twice: a stage that opens a client and execs (which, like SIGKILL,
 * closes nothing), and a second stage, the same pid in a fresh image, that
 * must connect and work. */

#define STAGE_ARG "--pid-reuse-stage"

static int run_stage(int stage, const char *cluster)
{
	ferry_opts o;
	ferry_client *sc = NULL;
	char st[4];

	ferry_opts_init(&o);
	o.cluster = cluster;
	o.proxy = "direct";
	o.timeout_ms = TIMEOUT_MS;
	if (ferry_connect(&o, &sc))
		return 10 + stage;
	if (stage == 1) {
		snprintf(st, sizeof(st), "%d", 2);
		execl("/proc/self/exe", "test_kill", STAGE_ARG, st, cluster,
		      (char *)NULL);
		return 30;
	}
	if (ferry_put(sc, "kill/reuse", 10, "v", 1, 0))
		return 20;
	ferry_close(sc);
	return 0;
}

static void test_pid_reused_after_kill(void **state)
{
	int st = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_kill", STAGE_ARG, "1", cl->file,
		      (char *)NULL);
		_exit(40);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("a process reusing a pid whose earlier life left its "
			 "endpoint behind could not work (status 0x%x: %s)",
			 st,
			 WIFEXITED(st) && WEXITSTATUS(st) == 12
			     ? "ferry_connect failed in the second life"
			     : "see the stage codes in run_stage");
	/* What the first life left: its servers see that nobody holds its
	 * region any more, forget it and remove the file. */
	if (!ft_shm_regions_gone(pid, 10000))
		fail_msg("the first life's shm region is still there");
	c = ft_connect(cl, TIMEOUT_MS);
	ft_assert_rc(ferry_del(c, "kill/reuse", 10), 0);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], STAGE_ARG) == 0)
		return run_stage(atoi(argv[2]), argv[3]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_kill9_fails_fast, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_batch_async_stat_list,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_with_a_dead_server,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_put_to_a_server_back_after_connect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_server_dialled_at_a_pace,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusing_server_fails_fast,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_proxy_idles_beside_a_dead_server, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_during_transfer, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_sigterm_exits_cleanly, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pid_reused_after_kill, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
