/* ferry bench: put/get latency and throughput of direct mode, side by side
 * with a Redis server that the benchmark starts on loopback. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/cluster.h"
#include "common/proc.h"
#include "common/util.h"
#include "fabric/fab.h"

#define MAX_LIST 16
#define MAX_CLIENTS 64
#define MAX_ROUNDS 16
#define MAX_VALUE (1ull << 30) /* the servers' default value limit */
#define KEYSET_BYTES (16u << 20) /* values each client cycles through */
#define KEYS_MAX 64
#define CELL_BYTES (4ull << 30) /* caps the operations of a large-value cell */
#define REDIS_START_MS 10000

enum { FERRY, REDIS, NSYS };
enum { PUT, GET, DEL };

/* One client thread: its own connections and buffers, and its results. */
typedef struct worker {
	unsigned id;
	ferry_client *fc;
	redisContext *rx;
	uint8_t *val, *dst; /* from ferry_alloc: the value put, a get's target */
	int verify;         /* copy Redis's reply into dst (untimed checks) */
	uint64_t *lat, n, t0, t1;
	int err;
	char why[200];
} worker;

/* The samples of one cell: one store and operation over all rounds. */
typedef struct stats {
	uint64_t *lat;
	size_t n;
	double tput[MAX_ROUNDS];
	unsigned rounds;
} stats;

static struct bench {
	uint64_t sizes[MAX_LIST], clients[MAX_LIST], ops, maxc;
	unsigned nsizes, nclients, rounds, servers;
	double seconds;
	const char *provider, *memory, *cluster;
	int redis;
	worker w[MAX_CLIENTS];
	/* The round in progress; workers only read it. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open; /* the start gate: 0 closed, 1 go, -1 give up */
	int sys, kind;
	uint64_t size, per_thread, budget_ns;
	unsigned nkeys;
} b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static atomic_int stop; /* set by SIGINT/SIGTERM: finish early, clean up */

static void on_signal(int sig) { stop = 1; }

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ferry bench [--sizes LIST] [--clients LIST] [--ops N]\n"
		"                   [--seconds S] [--rounds R] [--no-redis]\n"
		"                   [--provider tcp|shm|verbs] [--servers N]\n"
		"                   [--memory SIZE] [--cluster FILE]\n"
		"\n"
		"Measures put and get in direct mode (libferry talks fabric to\n"
		"the servers) beside Redis SET and GET of the same values through\n"
		"hiredis, and prints a markdown table per value size: p50/p99\n"
		"latency, operations and MiB per second, and the ratios.\n"
		"\n"
		"  --sizes LIST    value sizes (default 64,4K,64K,1M,16M)\n"
		"  --clients LIST  concurrent clients, each a thread with its own\n"
		"                  connection (default 1,4)\n"
		"  --ops N         at most N operations per cell (default 20000;\n"
		"                  fewer for large values: 4 GiB moved at most)\n"
		"  --seconds S     at most S seconds per cell (default 1)\n"
		"  --rounds R      rounds per cell, alternating ferry and Redis;\n"
		"                  throughput is the median round (default 3)\n"
		"  --no-redis      measure ferry only\n"
		"  --provider P    provider of the benchmark's cluster (default tcp)\n"
		"  --servers N     servers in it (default 2)\n"
		"  --memory SIZE   arena of each server (default 256M)\n"
		"  --cluster FILE  use this running cluster instead\n"
		"\n"
		"A cell is one size, client count, operation and store. Unless\n"
		"--cluster is given, the benchmark starts its own cluster in a\n"
		"temporary folder on free ports and stops it at the end. Redis\n"
		"(redis-server from PATH) runs on 127.0.0.1 without persistence.\n"
		"The benchmark's keys are deleted at the end.\n");
}

/* Parses "64,4K,1M" into out; every item must be 1..max. */
static int parse_list(const char *s, uint64_t *out, unsigned *n, uint64_t max)
{
	char buf[256], *save, *tok;

	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST || fr_parse_size(tok, &out[*n]) ||
		    out[*n] < 1 || out[*n] > max)
			return -1;
		(*n)++;
	}
	return *n ? 0 : -1;
}

static const char *size_name(uint64_t v, char *buf, size_t cap)
{
	if (v >= (1u << 20) && v % (1u << 20) == 0)
		snprintf(buf, cap, "%llu MiB", (unsigned long long)(v >> 20));
	else if (v >= 1024 && v % 1024 == 0)
		snprintf(buf, cap, "%llu KiB", (unsigned long long)(v >> 10));
	else
		snprintf(buf, cap, "%llu B", (unsigned long long)v);
	return buf;
}

/* Returns a base port such that base..base+n-1 on loopback are free now. */
static unsigned free_ports(unsigned n)
{
	srand((unsigned)fr_now_ns());
	for (int tries = 0; tries < 200; tries++) {
		unsigned base = 20000 + (unsigned)rand() % 10000, i;
		for (i = 0; i < n; i++) {
			struct sockaddr_in a = {.sin_family = AF_INET,
						.sin_port = htons(base + i),
						.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			int s = socket(AF_INET, SOCK_STREAM, 0), ok;
			ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
			if (s >= 0)
				close(s);
			if (!ok)
				break;
		}
		if (i == n)
			return base;
	}
	return 0;
}

/* Runs this program as 'ferry ARGS...' with its output in log, waits, and
 * returns its exit status (127: it did not run). The lines of a failure
 * are copied to stderr. */
static int run_self(char *const args[], const char *log)
{
	char line[512];
	int status = 0;
	pid_t pid = fork();
	FILE *f;

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv("/proc/self/exe", args);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	status = pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 127;
	if (status && (f = fopen(log, "r"))) {
		while (fgets(line, sizeof(line), f))
			fputs(line, stderr);
		fclose(f);
	}
	return status;
}

/* Starts redis-server on 127.0.0.1:port and waits until it answers PING. */
static int redis_start(const char *dir, unsigned port, pid_t *pid)
{
	char p[16], bulk[32], log[600];
	char *args[] = {"redis-server", "--port", p, "--bind", "127.0.0.1",
			"--protected-mode", "yes", "--save", "", "--appendonly",
			"no", "--daemonize", "no", "--dir", (char *)dir,
			"--proto-max-bulk-len", bulk, NULL};
	uint64_t deadline = fr_now_ns() + REDIS_START_MS * 1000000ull, max = 0;

	for (unsigned i = 0; i < b.nsizes; i++)
		max = FR_MAX(max, b.sizes[i]);
	snprintf(p, sizeof(p), "%u", port);
	snprintf(bulk, sizeof(bulk), "%llu", (unsigned long long)FR_MAX(max, 512ull << 20));
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	*pid = fork();
	if (*pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(args[0], args);
		fprintf(stderr, "cannot run redis-server: %s\n", strerror(errno));
		_exit(127);
	}
	while (*pid > 0 && fr_now_ns() < deadline && !stop) {
		redisContext *c = redisConnect("127.0.0.1", (int)port);
		redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
		int up = r && r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "PONG");
		freeReplyObject(r);
		redisFree(c);
		if (up)
			return 0;
		if (waitpid(*pid, NULL, WNOHANG) == *pid)
			break;
		usleep(20000);
	}
	fprintf(stderr, "ferry: bench: redis-server did not start (see %s); "
			"--no-redis skips it\n", log);
	return -1;
}

/* Runs one operation of b.size bytes on w's connection to sys. Returns 0,
 * or -1 with the reason in w->why. */
static int do_op(worker *w, int sys, int kind, const char *key, size_t klen)
{
	static const char *what[] = {"put", "get", "delete"};
	size_t got = b.size;
	redisReply *r;
	int rc = 0, ok;

	if (sys == FERRY) {
		if (kind == PUT)
			rc = ferry_put(w->fc, key, klen, w->val, b.size, 0);
		else if (kind == GET)
			rc = ferry_get(w->fc, key, klen, 0, w->dst, b.size, &got, NULL);
		else if ((rc = ferry_del(w->fc, key, klen)) == FERRY_ENOENT)
			rc = 0;
		if (!rc && got != b.size)
			rc = FERRY_EPROTO;
		if (rc)
			snprintf(w->why, sizeof(w->why), "ferry %s %.*s: %s",
				 what[kind], (int)klen, key, ferry_strerror(rc));
		return rc ? -1 : 0;
	}
	if (kind == PUT)
		r = redisCommand(w->rx, "SET %b %b", key, klen, w->val, (size_t)b.size);
	else
		r = redisCommand(w->rx, kind == GET ? "GET %b" : "DEL %b", key, klen);
	ok = r && (kind == PUT   ? r->type == REDIS_REPLY_STATUS
		   : kind == GET ? r->type == REDIS_REPLY_STRING && (size_t)r->len == b.size
				 : r->type == REDIS_REPLY_INTEGER);
	if (ok && kind == GET && w->verify)
		memcpy(w->dst, r->str, b.size);
	if (!ok)
		snprintf(w->why, sizeof(w->why), "redis %s %.*s: %s", what[kind],
			 (int)klen, key, !r ? w->rx->errstr
				 : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
	return ok ? 0 : -1;
}

static size_t key_name(char *key, size_t cap, unsigned id, uint64_t k)
{
	return (size_t)snprintf(key, cap, "ferry-bench/%llu/%u/%llu",
				(unsigned long long)b.size, id, (unsigned long long)k);
}

/* A client thread: waits at the gate, then runs b.kind on b.sys one at a
 * time until b.per_thread operations or b.budget_ns have passed. */
static void *work(void *arg)
{
	worker *w = arg;
	char key[96];
	uint64_t now, end;
	int go;

	pthread_mutex_lock(&b.mu);
	while (!b.open)
		pthread_cond_wait(&b.cv, &b.mu);
	go = b.open > 0;
	pthread_mutex_unlock(&b.mu);
	w->n = 0;
	w->err = 0;
	w->t0 = now = fr_now_ns();
	end = w->t0 + b.budget_ns;
	while (go && w->n < b.per_thread && (now < end || !w->n) && !stop) {
		size_t klen = key_name(key, sizeof(key), w->id, w->n % b.nkeys);
		uint64_t t = fr_now_ns();
		if (do_op(w, b.sys, b.kind, key, klen)) {
			w->err = 1;
			break;
		}
		now = fr_now_ns();
		w->lat[w->n++] = now - t;
	}
	w->t1 = now;
	return NULL;
}

/* Runs one round with n threads released together; adds the latencies to
 * st and the round's throughput (all operations over the span from the
 * first start to the last end). */
static int run_round(unsigned n, stats *st)
{
	pthread_t t[MAX_CLIENTS];
	uint64_t t0 = UINT64_MAX, t1 = 0, ops = 0;
	unsigned started = 0;
	int rc = 0;

	b.open = 0;
	while (started < n && !pthread_create(&t[started], NULL, work, &b.w[started]))
		started++;
	pthread_mutex_lock(&b.mu);
	b.open = started == n ? 1 : -1;
	pthread_cond_broadcast(&b.cv);
	pthread_mutex_unlock(&b.mu);
	for (unsigned i = 0; i < started; i++) {
		worker *w = &b.w[i];
		pthread_join(t[i], NULL);
		if (w->err && !rc && !stop)
			fprintf(stderr, "ferry: bench: %s\n", w->why);
		rc |= w->err;
		memcpy(st->lat + st->n, w->lat, w->n * sizeof(*w->lat));
		st->n += w->n;
		ops += w->n;
		t0 = FR_MIN(t0, w->t0);
		t1 = FR_MAX(t1, w->t1);
	}
	if (started < n)
		fprintf(stderr, "ferry: bench: cannot start a thread\n");
	st->tput[st->rounds++] = t1 > t0 ? (double)ops * 1e9 / (double)(t1 - t0) : 0;
	return rc || started < n || stop ? -1 : 0;
}

/* Every thread's key set, on every store, untimed: kind PUT fills it
 * (warming connections and buffers), DEL removes it. */
static int each_key(unsigned n, int kind)
{
	char key[96];

	for (unsigned i = 0; i < n; i++)
		for (uint64_t k = 0; k < b.nkeys; k++)
			for (int s = 0; s < (b.redis ? NSYS : 1); s++) {
				size_t klen = key_name(key, sizeof(key), i, k);
				if (do_op(&b.w[i], s, kind, key, klen)) {
					fprintf(stderr, "ferry: bench: %s\n", b.w[i].why);
					return -1;
				}
			}
	return 0;
}

/* Reads a value back once per store and compares it byte for byte. */
static int verify(void)
{
	worker *w = &b.w[0];
	char key[96];
	size_t klen = key_name(key, sizeof(key), 0, 0);
	int rc = 0;

	for (int s = 0; s < (b.redis ? NSYS : 1) && !rc; s++) {
		memset(w->dst, 0, b.size);
		w->verify = 1;
		rc = do_op(w, s, GET, key, klen);
		w->verify = 0;
		if (rc)
			fprintf(stderr, "ferry: bench: %s\n", w->why);
		else if ((rc = memcmp(w->dst, w->val, b.size) ? -1 : 0))
			fprintf(stderr, "ferry: bench: %s returned other bytes than were "
					"put under %s\n", s == FERRY ? "ferry" : "redis", key);
	}
	return rc;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;
	return (a > c) - (a < c);
}

static int cmp_dbl(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double pct_us(const stats *st, unsigned p)
{
	size_t i = (st->n * p + 99) / 100;
	return st->n ? (double)st->lat[i ? i - 1 : 0] / 1000 : 0;
}

static double median_tput(stats *st)
{
	qsort(st->tput, st->rounds, sizeof(double), cmp_dbl);
	if (!st->rounds)
		return 0;
	return (st->tput[(st->rounds - 1) / 2] + st->tput[st->rounds / 2]) / 2;
}

/* Prints one markdown cell padded to w columns (µs counts as one). */
static void cell(const char *s, int w, int left)
{
	int n = 0;
	for (const char *p = s; *p; p++)
		n += (*p & 0xC0) != 0x80;
	printf(" %*s%s%*s |", left ? 0 : w - n, "", s, left ? w - n : 0, "");
}

static const char *const heads[] = {"clients", "op", "ferry p50 µs",
	"ferry p99 µs", "ferry ops/s", "ferry MiB/s", "redis p50 µs",
	"redis p99 µs", "redis ops/s", "redis MiB/s", "ratio ops/s", "ratio p50"};
#define WIDTH(i) ((int)strlen(heads[i]) - (strstr(heads[i], "µ") != NULL))

static void table_head(void)
{
	int n = b.redis ? 12 : 6;
	char size[32];

	printf("\n### %s values\n\n|", size_name(b.size, size, sizeof(size)));
	for (int i = 0; i < n; i++)
		cell(heads[i], WIDTH(i), i == 1);
	printf("\n|");
	for (int i = 0; i < n; i++)
		printf("%.*s%s|", WIDTH(i) + 1, "------------------", i == 1 ? "-" : ":");
	printf("\n");
}

static void table_row(unsigned clients, int kind, stats st[NSYS])
{
	char v[12][32];
	double tp[NSYS], p50[NSYS];
	int n = 2;

	snprintf(v[0], 32, "%u", clients);
	snprintf(v[1], 32, "%s", kind == PUT ? "put" : "get");
	for (int s = 0; s < (b.redis ? NSYS : 1); s++) {
		qsort(st[s].lat, st[s].n, sizeof(uint64_t), cmp_u64);
		tp[s] = median_tput(&st[s]);
		p50[s] = pct_us(&st[s], 50);
		snprintf(v[n++], 32, "%.1f", p50[s]);
		snprintf(v[n++], 32, "%.1f", pct_us(&st[s], 99));
		snprintf(v[n++], 32, "%.0f", tp[s]);
		snprintf(v[n++], 32, "%.1f", tp[s] * (double)b.size / 1048576);
	}
	if (b.redis) {
		snprintf(v[n++], 32, "%.2f", tp[REDIS] > 0 ? tp[FERRY] / tp[REDIS] : 0);
		snprintf(v[n++], 32, "%.2f", p50[FERRY] > 0 ? p50[REDIS] / p50[FERRY] : 0);
	}
	printf("|");
	for (int i = 0; i < n; i++)
		cell(v[i], WIDTH(i), i == 1);
	printf("\n");
	fflush(stdout);
}

/* One size and client count: fill the keys, check them once per size,
 * then time puts and gets in rounds that alternate which store goes first
 * so that drifting background load hits both alike. */
static int bench_cell(unsigned n, int first)
{
	uint64_t cap = FR_MIN(b.ops, FR_MAX(1, CELL_BYTES / b.size));
	stats st[2][NSYS] = {0};
	int rc = -1;

	b.per_thread = FR_MAX(1, (cap + b.rounds * n - 1) / (b.rounds * n));
	b.budget_ns = (uint64_t)(b.seconds * 1e9 / b.rounds);
	for (unsigned i = 0; i < n; i++)
		if (!(b.w[i].lat = malloc(b.per_thread * sizeof(uint64_t))))
			goto out;
	for (int k = 0; k < 2; k++)
		for (int s = 0; s < NSYS; s++)
			if (!(st[k][s].lat = malloc(b.rounds * n * b.per_thread * sizeof(uint64_t))))
				goto out;
	if (each_key(n, PUT) || (first && verify()))
		goto out;
	for (b.kind = PUT; b.kind <= GET; b.kind++) {
		for (unsigned r = 0; r < b.rounds * NSYS; r++) {
			int j = r % NSYS;
			b.sys = (r / NSYS) % 2 ? NSYS - 1 - j : j;
			if (b.sys == REDIS && !b.redis)
				continue;
			if (run_round(n, &st[b.kind][b.sys]))
				goto out;
		}
		table_row(n, b.kind, st[b.kind]);
	}
	rc = 0;
out:
	if (!stop && each_key(n, DEL))
		rc = -1;
	for (unsigned i = 0; i < n; i++) {
		free(b.w[i].lat);
		b.w[i].lat = NULL;
	}
	for (int k = 0; k < 2; k++)
		for (int s = 0; s < NSYS; s++)
			free(st[k][s].lat);
	return rc;
}
