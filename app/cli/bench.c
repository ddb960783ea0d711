/* ferry bench: put/get latency and throughput of direct mode, side by side
 * with a Redis server that the benchmark starts on loopback.
 *
 * Each client is a thread with its own ferry_client and redisContext and
 * one operation in flight. A cell (size, clients, op, store) runs in rounds
 * that alternate which store goes first, so drifting background load hits
 * both alike; latency percentiles are over every operation of the cell and
 * throughput is the median round. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/cluster.h"
#include "common/proc.h"
#include "common/util.h"
#include "fabric/fab.h"

#define MAX_LIST 16
#define MAX_CLIENTS 64
#define MAX_ROUNDS 15
#define MAX_VALUE (1ull << 30) /* the servers' default limit */
#define KEYSET_BYTES (16u << 20) /* each client cycles over this much */
#define KEYS_MAX 64
#define CELL_BYTES (4ull << 30) /* caps the operations of large values */

enum { FERRY, REDIS, NSYS };
enum { PUT, GET, DEL };

typedef struct worker {
	unsigned id;
	ferry_client *fc;
	redisContext *rx;
	uint8_t *val, *dst; /* ferry_alloc'd: the value put, a get's target */
	int verify;	    /* copy Redis's reply into dst (untimed check) */
	int err;
	uint64_t *lat, n, t0, t1;
	char why[200];
} worker;

typedef struct stats { /* one cell: latencies and each round's ops/s */
	uint64_t *lat;
	size_t n, rounds;
	double tput[MAX_ROUNDS];
} stats;

static struct bench {
	uint64_t sizes[MAX_LIST], clients[MAX_LIST], ops, maxc;
	unsigned nsizes, nclients, rounds, servers, redis;
	double seconds;
	const char *provider, *memory, *cluster;
	worker w[MAX_CLIENTS];
	/* The round in progress; workers only read it. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open; /* the start gate: 0 closed, 1 go, -1 give up */
	int sys, kind;
	uint64_t size, nkeys, per_thread, budget_ns;
} b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static atomic_int stop; /* SIGINT or SIGTERM: finish early and clean up */

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ferry bench [--sizes LIST] [--clients LIST] [--ops N]\n"
		"                   [--seconds S] [--rounds R] [--no-redis]\n"
		"                   [--provider tcp|shm|verbs] [--servers N]\n"
		"                   [--memory SIZE] [--cluster FILE]\n\n"
		"Measures put and get in direct mode beside Redis SET and\n"
		"GET of the same values (through hiredis) and prints a\n"
		"markdown table per value size: p50/p99 latency, ops/s,\n"
		"MiB/s, and ferry's ratios to Redis.\n\n"
		"  --sizes LIST    value sizes (default 64,4K,64K,1M,16M)\n"
		"  --clients LIST  concurrent clients, each a thread with\n"
		"                  its own connections (default 1,4)\n"
		"  --ops N         operations per cell at most (default\n"
		"                  20000, and 4 GiB moved at most)\n"
		"  --seconds S     seconds per cell at most (default 1)\n"
		"  --rounds R      rounds per cell, alternating ferry and\n"
		"                  Redis; ops/s is the median (default 3)\n"
		"  --no-redis      measure ferry only\n"
		"  --cluster FILE  use this running cluster; otherwise the\n"
		"                  bench starts its own in a temporary\n"
		"                  folder on free ports, with:\n"
		"  --provider P    tcp, shm or verbs (default tcp)\n"
		"  --servers N     servers (default 2)\n"
		"  --memory SIZE   arena of each server (default 256M)\n\n"
		"A cell is one size, client count, operation and store.\n"
		"Redis is redis-server from PATH, on 127.0.0.1 without\n"
		"persistence. The benchmark deletes its keys at the end.\n");
}

/* Parses "64,4K,1M" into out; every item must be 1..max. */
static int parse_list(const char *s, uint64_t *out, unsigned *n, uint64_t max)
{
	char buf[256], *save, *tok;

	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST || fr_parse_size(tok, &out[*n]) ||
		    out[*n] < 1 || out[*n] > max)
			return -1;
		(*n)++;
	}
	return *n ? 0 : -1;
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
						.sin_addr.s_addr =
						    htonl(INADDR_LOOPBACK)};
			int s = socket(AF_INET, SOCK_STREAM, 0), ok;
			ok = s >= 0 &&
			     !bind(s, (struct sockaddr *)&a, sizeof(a));
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

/* Starts path with args, stdout (and stderr too if all) appended to log,
 * dying with this process. With wait, returns its exit status (127: it
 * did not run); else 0 and the child's pid in *pid. */
static int spawn(const char *path, char *const args[], const char *log, int all,
		 int wait, pid_t *pid)
{
	int status = 0;

	*pid = fork();
	if (*pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0 && (dup2(fd, 1) < 0 || (all && dup2(fd, 2) < 0)))
			_exit(127);
		execvp(path, args);
		fprintf(stderr, "ferry: cannot run %s: %s\n", path,
			strerror(errno));
		_exit(127);
	}
	if (*pid < 0 || !wait)
		return *pid < 0 ? 127 : 0;
	while (waitpid(*pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 127;
}

/* Starts redis-server on 127.0.0.1:port and waits until it answers PING. */
static int redis_start(const char *dir, unsigned port, pid_t *pid)
{
	char p[16], log[600];
	char *args[] = {"redis-server", "--port", p, "--bind", "127.0.0.1",
			"--protected-mode", "yes", "--save", "", "--appendonly",
			"no", "--daemonize", "no", "--dir", (char *)dir,
			/* 512 MiB, the default, also admits 16 MiB values */
			"--proto-max-bulk-len", "512mb", NULL};
	uint64_t deadline = fr_now_ns() + 10000000000ull;

	snprintf(p, sizeof(p), "%u", port);
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	if (spawn(args[0], args, log, 1, 0, pid))
		return -1;
	while (fr_now_ns() < deadline && !stop &&
	       waitpid(*pid, NULL, WNOHANG) == 0) {
		redisContext *c = redisConnect("127.0.0.1", (int)port);
		redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
		int up = r && r->type == REDIS_REPLY_STATUS &&
			 !strcmp(r->str, "PONG");
		freeReplyObject(r);
		redisFree(c);
		if (up)
			return 0;
		usleep(20000);
	}
	fprintf(stderr,
		"ferry: bench: redis-server did not start (see %s); "
		"--no-redis skips Redis\n",
		log);
	return -1;
}

/* Runs one operation of b.size bytes on w's connection to sys. Returns 0,
 * or -1 with the reason in w->why. A missing key is not an error of DEL. */
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
			rc = ferry_get(w->fc, key, klen, 0, w->dst, b.size,
				       &got, NULL);
		else if ((rc = ferry_del(w->fc, key, klen)) == FERRY_ENOENT)
			rc = 0;
		if (!rc && got != b.size)
			rc = FERRY_EPROTO;
		if (rc)
			snprintf(w->why, sizeof(w->why), "ferry %s %.*s: %s",
				 what[kind], (int)klen, key,
				 ferry_strerror(rc));
		return rc ? -1 : 0;
	}
	if (kind == PUT)
		r = redisCommand(w->rx, "SET %b %b", key, klen, w->val,
				 (size_t)b.size);
	else
		r = redisCommand(w->rx, kind == GET ? "GET %b" : "DEL %b", key,
				 klen);
	if (kind == PUT)
		ok = r && r->type == REDIS_REPLY_STATUS;
	else if (kind == GET)
		ok = r && r->type == REDIS_REPLY_STRING &&
		     (size_t)r->len == b.size;
	else
		ok = r && r->type == REDIS_REPLY_INTEGER;
	if (ok && kind == GET && w->verify)
		memcpy(w->dst, r->str, b.size);
	if (!ok)
		snprintf(w->why, sizeof(w->why), "redis %s %.*s: %s",
			 what[kind], (int)klen, key,
			 !r ? w->rx->errstr
			 : r->type == REDIS_REPLY_ERROR ? r->str
			 : "unexpected reply");
	freeReplyObject(r);
	return ok ? 0 : -1;
}

static size_t key_name(char *key, size_t cap, unsigned id, uint64_t k)
{
	return (size_t)snprintf(key, cap, "ferry-bench/%llu/%u/%llu",
				(unsigned long long)b.size, id,
				(unsigned long long)k);
}

/* A client thread: waits at the gate, then runs b.kind on b.sys until
 * b.per_thread operations are done or b.budget_ns has passed. */
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
	w->t0 = now = fr_now_ns();
	end = w->t0 + b.budget_ns;
	while (go && w->n < b.per_thread && (now < end || !w->n) && !stop) {
		size_t klen = key_name(key, sizeof(key), w->id, w->n % b.nkeys);
		uint64_t t = fr_now_ns();
		if ((w->err = do_op(w, b.sys, b.kind, key, klen)))
			break;
		now = fr_now_ns();
		w->lat[w->n++] = now - t;
	}
	w->t1 = now;
	return NULL;
}

/* Runs one round with n threads released together. Adds the latencies to
 * st, and the round's ops/s: every operation over the span from the first
 * thread's start to the last one's end. */
static int run_round(unsigned n, stats *st)
{
	pthread_t t[MAX_CLIENTS];
	uint64_t t0 = UINT64_MAX, t1 = 0, ops = 0;
	unsigned started = 0;
	int rc = 0;

	b.open = 0;
	while (started < n &&
	       !pthread_create(&t[started], NULL, work, &b.w[started]))
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
	st->tput[st->rounds++] = t1 > t0 ? (double)ops * 1e9 / (t1 - t0) : 0;
	return rc || started < n || stop ? -1 : 0;
}

/* Runs kind on every key of the first n clients, untimed, on each store:
 * PUT fills the key sets (and warms the connections), DEL removes them,
 * GET reads client 0's first key back and compares it byte for byte. */
static int each_key(unsigned n, int kind)
{
	uint64_t count = kind == GET ? 1 : n * b.nkeys;
	char key[96];
	int rc = 0;

	for (int s = 0; s < NSYS - !b.redis; s++)
		for (uint64_t i = 0; i < count; i++) {
			worker *w = &b.w[i / b.nkeys];
			size_t klen =
			    key_name(key, sizeof(key), w->id, i % b.nkeys);
			int bad;
			if ((w->verify = kind == GET))
				memset(w->dst, 0, b.size);
			bad = do_op(w, s, kind, key, klen);
			w->verify = 0;
			if (!bad && kind == GET &&
			    memcmp(w->dst, w->val, b.size)) {
				snprintf(w->why, sizeof(w->why),
					 "%s gave other bytes than were put "
					 "under %s",
					 s ? "redis" : "ferry", key);
				bad = -1;
			}
			if (bad && !stop)
				fprintf(stderr, "ferry: bench: %s\n", w->why);
			if (bad) {
				rc = -1;
				break; /* on to the next store */
			}
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

/* Nearest-rank percentile of sorted latencies, in microseconds. */
static double pct_us(const stats *st, unsigned p)
{
	size_t i = (st->n * p + 99) / 100;
	return st->n ? (double)st->lat[i ? i - 1 : 0] / 1000 : 0;
}

static void table_head(void)
{
	unsigned sh = b.size % 1024 ? 0 : b.size % (1u << 20) ? 10 : 20;

	printf("\n### %llu %s values\n\n| clients | op  | ferry p50 µs | "
	       "ferry p99 µs | ferry ops/s | ferry MiB/s |%s\n"
	       "|--------:|-----|-------------:|-------------:|------------:|"
	       "------------:|%s\n",
	       (unsigned long long)b.size >> sh,
	       sh == 0 ? "B" : sh == 10 ? "KiB" : "MiB",
	       b.redis ? " redis p50 µs | redis p99 µs | redis ops/s | "
			 "redis MiB/s | ratio ops/s | ratio p50 |"
		       : "",
	       b.redis ? "-------------:|-------------:|------------:|"
			 "------------:|------------:|----------:|"
		       : "");
}

static void table_row(unsigned clients, int kind, stats st[NSYS])
{
	double p50[NSYS], tp[NSYS];

	printf("| %7u | %-3s |", clients, kind == PUT ? "put" : "get");
	for (int s = 0; s < NSYS - !b.redis; s++) {
		qsort(st[s].lat, st[s].n, sizeof(uint64_t), cmp_u64);
		qsort(st[s].tput, st[s].rounds, sizeof(double), cmp_dbl);
		tp[s] = (st[s].tput[(st[s].rounds - 1) / 2] +
			 st[s].tput[st[s].rounds / 2]) / 2;
		p50[s] = pct_us(&st[s], 50);
		printf(" %12.1f | %12.1f | %11.0f | %11.1f |", p50[s],
		       pct_us(&st[s], 99), tp[s],
		       tp[s] * (double)b.size / 1048576);
	}
	if (b.redis)
		printf(" %11.2f | %9.2f |",
		       tp[REDIS] ? tp[FERRY] / tp[REDIS] : 0,
		       p50[FERRY] ? p50[REDIS] / p50[FERRY] : 0);
	printf("\n");
	fflush(stdout);
}

/* One size and client count: fill the key sets, check one value (on the
 * first client count of a size), time puts then gets, delete the keys. */
static int bench_cell(unsigned n, int check)
{
	uint64_t cap = FR_MIN(b.ops, FR_MAX(1, CELL_BYTES / b.size));
	stats st[2][NSYS] = {0};
	int rc = -1, nomem = 0; /* 8: bytes of a latency sample */

	b.per_thread = FR_MAX(1, (cap + b.rounds * n - 1) / (b.rounds * n));
	b.budget_ns = (uint64_t)(b.seconds * 1e9 / b.rounds);
	for (unsigned i = 0; i < n; i++)
		nomem |= !(b.w[i].lat = calloc(b.per_thread, 8));
	for (int i = 0; i < 2 * NSYS; i++)
		nomem |= !(st[i / NSYS][i % NSYS].lat =
				   calloc(b.rounds * n * b.per_thread, 8));
	if (nomem) {
		cli_fail("bench", FERRY_ENOMEM);
		goto out;
	}
	if (each_key(n, PUT) || (check && each_key(n, GET)))
		goto out;
	for (b.kind = PUT; b.kind <= GET; b.kind++) {
		for (unsigned r = 0; r < b.rounds * NSYS; r++) {
			b.sys = (r / NSYS) % 2 ? NSYS - 1 - r % NSYS : r % NSYS;
			if ((b.sys == FERRY || b.redis) &&
			    run_round(n, &st[b.kind][b.sys]))
				goto out;
		}
		table_row(n, b.kind, st[b.kind]);
	}
	rc = 0;
out:
	if (each_key(n, DEL))
		rc = -1;
	for (unsigned i = 0; i < n; i++) {
		free(b.w[i].lat);
		b.w[i].lat = NULL;
	}
	for (int i = 0; i < 2 * NSYS; i++)
		free(st[i / NSYS][i % NSYS].lat);
	return rc;
}

/* Different bytes for each client and size, so that a mix-up shows. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static int bench_size(uint64_t size)
{
	int rc = 0;

	b.size = size;
	b.nkeys = FR_MIN(KEYS_MAX, FR_MAX(1, KEYSET_BYTES / size));
	for (unsigned i = 0; i < b.maxc && !rc; i++) {
		worker *w = &b.w[i];
		w->val = ferry_alloc(w->fc, size);
		w->dst = ferry_alloc(w->fc, size);
		if (!w->val || !w->dst)
			rc = cli_fail("ferry_alloc", FERRY_ENOMEM);
		else
			fill(w->val, size, size * MAX_CLIENTS + i);
	}
	if (!rc)
		table_head();
	for (unsigned c = 0; c < b.nclients && !rc; c++)
		rc = bench_cell((unsigned)b.clients[c], c == 0);
	for (unsigned i = 0; i < b.maxc; i++) {
		ferry_free(b.w[i].fc, b.w[i].val);
		ferry_free(b.w[i].fc, b.w[i].dst);
		b.w[i].val = b.w[i].dst = NULL;
	}
	return rc;
}

/* The machine and the set-up, as a markdown list. */
static void print_setup(const fr_cluster *cl, const char *file, int own,
			unsigned rport)
{
	char cpu[128] = "unknown CPU", line[256], ver[32] = "?";
	const char *fab = cl->provider, *why, *v;
	redisReply *r = NULL;
	fr_fab *f = NULL;
	FILE *in = fopen("/proc/cpuinfo", "r");

	while (in && fgets(line, sizeof(line), in))
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
			cpu[strcspn(cpu, "\n")] = '\0';
			break;
		}
	if (in)
		fclose(in);
	if (!fr_fab_open(&f, cl->provider, NULL, NULL, &why))
		fab = fr_fab_provider(f); /* libfabric's own name */
	printf("## ferry bench\n\n- machine: %ld CPUs (%s)\n"
	       "- ferry: direct mode over %s, %u server(s)",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, fab, cl->nservers);
	fr_fab_close(&f);
	if (own)
		printf(" of %s each, started by the benchmark\n", b.memory);
	else
		printf(" from %s\n", file);
	if (b.redis && (r = redisCommand(b.w[0].rx, "INFO server")) &&
	    r->type == REDIS_REPLY_STRING &&
	    (v = strstr(r->str, "redis_version:")))
		sscanf(v, "redis_version:%31[^\r\n]", ver);
	freeReplyObject(r);
	if (b.redis)
		printf("- redis: %s on 127.0.0.1:%u without persistence, "
		       "hiredis %d.%d.%d\n- ratio ops/s = ferry ops/s ÷ redis "
		       "ops/s; ratio p50 = redis p50 ÷ ferry p50; above 1, "
		       "ferry is faster\n",
		       ver, rport, HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
	printf("- method: each client is a thread with its own connection "
	       "and one operation in flight; a cell is at most %g s and %llu "
	       "operations in %u rounds%s; p50/p99 over every operation, "
	       "ops/s of the median round; ferry values in ferry_alloc() "
	       "memory\n",
	       b.seconds, (unsigned long long)b.ops, b.rounds,
	       b.redis ? " that alternate ferry and redis" : "");
	fflush(stdout);
}

static void remove_dir(const char *dir)
{
	char path[600];
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Runs 'ferry cluster up' (port > 0) or 'cluster down' for the cluster
 * the benchmark starts in dir, with its output in dir/cluster.log. */
static int own_cluster(char *dir, char *file, unsigned port)
{
	char p[16], n[16], log[300], *prov = (char *)b.provider;
	char *mem = (char *)b.memory;
	char *up[] = {"ferry", "cluster", "up", "--dir", dir, "--port", p,
		      "--provider", prov, "--servers", n, "--memory", mem,
		      "--no-proxy", NULL};
	char *down[] = {"ferry", "--cluster", file, "cluster", "down", NULL};
	pid_t pid;

	snprintf(p, sizeof(p), "%u", port);
	snprintf(n, sizeof(n), "%u", b.servers);
	snprintf(log, sizeof(log), "%s/cluster.log", dir);
	if (spawn("/proc/self/exe", port ? up : down, log, 0, 1, &pid))
		return -1;
	return 0;
}

int cli_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{"sizes", required_argument, NULL, 'z'},
		{"clients", required_argument, NULL, 'c'},
		{"ops", required_argument, NULL, 'o'},
		{"seconds", required_argument, NULL, 's'},
		{"rounds", required_argument, NULL, 'r'},
		{"no-redis", no_argument, NULL, 'R'},
		{"provider", required_argument, NULL, 'p'},
		{"servers", required_argument, NULL, 'n'},
		{"memory", required_argument, NULL, 'm'},
		{"cluster", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct sigaction sa = {.sa_handler = on_signal,
			       .sa_flags = SA_RESETHAND};
	char dir[256], file[300];
	unsigned base, rport;
	fr_cluster cl;
	pid_t rpid = 0;
	int c, idx = 0, rc = 1, own, up = 0;
	ferry_opts o;

	b.ops = 20000, b.seconds = 1, b.rounds = 3, b.redis = 1;
	b.servers = 2, b.provider = "tcp", b.memory = "256M";
	b.cluster = cli_cluster;
	parse_list("64,4K,64K,1M,16M", b.sizes, &b.nsizes, MAX_VALUE);
	parse_list("1,4", b.clients, &b.nclients, MAX_CLIENTS);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		int bad = 0;
		switch (c) {
		case 'z':
			bad = parse_list(optarg, b.sizes, &b.nsizes, MAX_VALUE);
			break;
		case 'c':
			bad = parse_list(optarg, b.clients, &b.nclients,
					 MAX_CLIENTS);
			break;
		case 'o':
			bad = fr_parse_size(optarg, &b.ops) || !b.ops;
			break;
		case 's':
			b.seconds = atof(optarg);
			bad = !(b.seconds > 0 && b.seconds <= 3600);
			break;
		case 'r':
			b.rounds = (unsigned)atoi(optarg);
			bad = b.rounds < 1 || b.rounds > MAX_ROUNDS;
			break;
		case 'n':
			b.servers = (unsigned)atoi(optarg);
			bad = b.servers < 1 || b.servers > FR_MAX_SERVERS;
			break;
		case 'R':
			b.redis = 0;
			break;
		case 'p':
			b.provider = optarg;
			break;
		case 'm':
			b.memory = optarg;
			break;
		case 'C':
			b.cluster = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "ferry: bench: bad --%s: %s\n",
				opts[idx].name, optarg);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	for (unsigned i = 0; i < b.nclients; i++)
		b.maxc = FR_MAX(b.maxc, b.clients[i]);
	own = !b.cluster;
	snprintf(dir, sizeof(dir), "%s/ferry-bench-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "ferry: bench: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Ports for our own servers, then Redis. */
	base = free_ports(own * b.servers + b.redis);
	rport = base + own * b.servers;
	snprintf(file, sizeof(file), "%s/cluster", dir);
	if (!base)
		fprintf(stderr, "ferry: bench: no free ports on 127.0.0.1\n");
	if (!base || (own && !(up = !own_cluster(dir, file, base))))
		goto out;
	if (!own)
		snprintf(file, sizeof(file), "%s", b.cluster);
	if (fr_cluster_load(file, &cl, NULL)) {
		fprintf(stderr, "ferry: bench: cannot read %s\n", file);
		goto out;
	}
	if (b.redis && redis_start(dir, rport, &rpid))
		goto out;
	ferry_opts_init(&o);
	o.cluster = file;
	o.proxy = "direct"; /* even where the cluster names a node proxy */
	for (unsigned i = 0; i < b.maxc; i++) {
		worker *w = &b.w[i];
		w->id = i;
		if ((c = ferry_connect(&o, &w->fc))) {
			cli_fail("cannot connect to the cluster", c);
			goto out;
		}
		w->rx = b.redis ? redisConnect("127.0.0.1", (int)rport) : NULL;
		if (b.redis && (!w->rx || w->rx->err)) {
			fprintf(stderr, "ferry: bench: redis: %s\n",
				w->rx ? w->rx->errstr : "out of memory");
			goto out;
		}
	}
	print_setup(&cl, file, own, rport);
	for (unsigned i = 0; i < b.nsizes; i++)
		if (bench_size(b.sizes[i]))
			goto out;
	rc = 0;
out:
	if (stop)
		fprintf(stderr, "ferry: bench: interrupted\n");
	for (unsigned i = 0; i < b.maxc; i++) {
		ferry_close(b.w[i].fc);
		redisFree(b.w[i].rx);
	}
	if (rpid > 0)
		fr_stop_pids(&rpid, 1, 5000);
	if (up && own_cluster(dir, file, 0))
		rc = 1;
	if (rc)
		fprintf(stderr, "ferry: bench: logs are in %s\n", dir);
	else
		remove_dir(dir);
	return rc;
}
