/* ferry bench, warm: put/get latency and throughput of running clients,
 * ferry in each mode beside Redis.
 *
 * Each client is a thread with one ferry_client per mode, one
 * redisContext, and one operation in flight. A cell (size, clients, op)
 * runs in rounds; every round runs each system once, in an order that
 * changes from round to round (bench_order), so drifting background load
 * hits all alike. Latency percentiles are over every operation of a
 * system in the cell and throughput is its median round. The ferry modes
 * share one key set: they reach the same servers. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "common/util.h"

#define KEYSET_BYTES (16u << 20) /* each client cycles over this much */
#define KEYS_MAX 64
/* Caps the operations of large values: 16 of 64 MiB per cell and system. */
#define CELL_BYTES (1ull << 30)

enum { PUT, GET, DEL };

typedef struct worker {
	unsigned id;
	ferry_client *fc[NMODES]; /* one per mode measured */
	redisContext *rx;
	/* Per system, the value put and a get's target: ferry_alloc() memory
	 * of that mode's client (the shared arena in proxy-unix mode), and
	 * malloc() memory for Redis. */
	uint8_t *val[NSYS], *dst[NSYS];
	int verify; /* copy Redis's reply into dst (untimed check) */
	int err;
	uint64_t *lat, n, t0, t1;
	char why[200];
} worker;

typedef struct stats { /* one system in a cell: latencies, rounds' ops/s */
	uint64_t *lat;
	size_t n, rounds;
	double tput[BENCH_MAX_ROUNDS];
} stats;

static struct warm {
	const bench_opts *o;
	unsigned maxc; /* clients connected: the largest count */
	worker w[BENCH_MAX_CLIENTS];
	/* The round in progress; workers only read it. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open; /* the start gate: 0 closed, 1 go, -1 give up */
	int sys, kind;
	uint64_t size, nkeys, per_thread, budget_ns;
} b = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Runs one operation of b.size bytes on w's connection to sys. Returns 0,
 * or -1 with the reason in w->why. A missing key is not an error of DEL. */
static int do_op(worker *w, int sys, int kind, const char *key, size_t klen)
{
	static const char *what[] = {"put", "get", "delete"};
	uint8_t *val = w->val[sys], *dst = w->dst[sys];
	size_t got = b.size;
	redisReply *r;
	int rc = 0, ok;

	if (sys != SYS_REDIS) {
		ferry_client *fc = w->fc[sys];
		if (kind == PUT)
			rc = ferry_put(fc, key, klen, val, b.size, 0);
		else if (kind == GET)
			rc = ferry_get(fc, key, klen, 0, dst, b.size, &got,
				       NULL);
		else if ((rc = ferry_del(fc, key, klen)) == FERRY_ENOENT)
			rc = 0;
		if (!rc && got != b.size)
			rc = FERRY_EPROTO;
		if (rc)
			snprintf(w->why, sizeof(w->why), "%s %s %.*s: %s",
				 bench_sys_name[sys], what[kind], (int)klen,
				 key, ferry_strerror(rc));
		return rc ? -1 : 0;
	}
	if (kind == PUT)
		r = redisCommand(w->rx, "SET %b %b", key, klen, val,
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
		memcpy(dst, r->str, b.size);
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
	while (go && w->n < b.per_thread && (now < end || !w->n) &&
	       !bench_stop) {
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
	pthread_t t[BENCH_MAX_CLIENTS];
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
		if (w->err && !rc && !bench_stop)
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
	return rc || started < n || bench_stop ? -1 : 0;
}

/* Runs kind on every key of the first n clients, untimed, on each system:
 * PUT fills the key sets (and warms the connections), DEL removes them.
 * GET puts client 0's first key again and reads it back through the same
 * system, comparing byte for byte: the ferry modes share their keys, so
 * this checks each mode's own put and get. */
static int each_key(unsigned n, int kind)
{
	uint64_t count = kind == GET ? 1 : n * b.nkeys;
	char key[96];
	int rc = 0;

	for (int s = 0; s < NSYS; s++)
		for (uint64_t i = 0; b.o->on[s] && i < count; i++) {
			worker *w = &b.w[i / b.nkeys];
			size_t klen =
			    key_name(key, sizeof(key), w->id, i % b.nkeys);
			int bad;
			if ((w->verify = kind == GET))
				memset(w->dst[s], 0, b.size);
			bad = (kind == GET && do_op(w, s, PUT, key, klen)) ||
			      do_op(w, s, kind, key, klen);
			w->verify = 0;
			if (!bad && kind == GET &&
			    memcmp(w->dst[s], w->val[s], b.size)) {
				snprintf(w->why, sizeof(w->why),
					 "%s gave other bytes than were put "
					 "under %s",
					 bench_sys_name[s], key);
				bad = -1;
			}
			if (bad && !bench_stop)
				fprintf(stderr, "ferry: bench: %s\n", w->why);
			if (bad) {
				rc = -1;
				break; /* on to the next system */
			}
		}
	return rc;
}

static void table_head(void)
{
	unsigned sh = b.size % 1024 ? 0 : b.size % (1u << 20) ? 10 : 20;

	printf("\n### %llu %s values\n\n"
	       "| clients | op  | system     |    p50 µs |    p99 µs |"
	       "     ops/s |    MiB/s | × redis | p50 ÷ direct |\n"
	       "|--------:|-----|------------|----------:|----------:|"
	       "----------:|---------:|--------:|-------------:|\n",
	       (unsigned long long)b.size >> sh,
	       sh == 0 ? "B" : sh == 10 ? "KiB" : "MiB");
}

/* x / y as a table cell, or "-" where there is no y. */
static void ratio(double x, double y, int width)
{
	if (y > 0)
		printf(" %*.2f |", width, x / y);
	else
		printf(" %*s |", width, "-");
}

static int cmp_dbl(const void *x, const void *y)
{
	double a = *(const double *)x, c = *(const double *)y;
	return (a > c) - (a < c);
}

static void table_rows(unsigned clients, int kind, stats st[NSYS])
{
	double p50[NSYS] = {0}, tp[NSYS] = {0};

	for (int s = 0; s < NSYS; s++)
		if (b.o->on[s]) {
			stats *x = &st[s];
			bench_sort(x->lat, x->n);
			qsort(x->tput, x->rounds, sizeof(double), cmp_dbl);
			tp[s] = (x->tput[(x->rounds - 1) / 2] +
				 x->tput[x->rounds / 2]) / 2;
			p50[s] = (double)bench_pct(x->lat, x->n, 50) / 1000;
		}
	for (int s = 0; s < NSYS; s++)
		if (b.o->on[s]) {
			printf("| %7u | %-3s | %-10s | %9.1f | %9.1f | %9.0f |"
			       " %8.1f |",
			       clients, kind == PUT ? "put" : "get",
			       bench_sys_name[s], p50[s],
			       (double)bench_pct(st[s].lat, st[s].n, 99) / 1000,
			       tp[s], tp[s] * (double)b.size / 1048576);
			ratio(tp[s], tp[SYS_REDIS], 7);
			ratio(p50[s], p50[SYS_DIRECT], 12);
			printf("\n");
		}
	fflush(stdout);
}

/* One size and client count: fill the key sets, check one value (on the
 * first client count of a size), time puts then gets, delete the keys. */
static int bench_cell(unsigned n, int check)
{
	uint64_t cap = FR_MIN(b.o->ops, FR_MAX(1, CELL_BYTES / b.size));
	stats st[2][NSYS] = {0};
	int order[NSYS], rc = -1, nomem = 0; /* 8: bytes of a latency sample */

	b.per_thread =
	    FR_MAX(1, (cap + b.o->rounds * n - 1) / (b.o->rounds * n));
	b.budget_ns = (uint64_t)(b.o->seconds * 1e9 / b.o->rounds);
	for (unsigned i = 0; i < n; i++)
		nomem |= !(b.w[i].lat = calloc(b.per_thread, 8));
	for (int i = 0; i < 2 * NSYS; i++)
		if (b.o->on[i % NSYS])
			nomem |= !(st[i / NSYS][i % NSYS].lat = calloc(
				       b.o->rounds * n * b.per_thread, 8));
	if (nomem) {
		cli_fail("bench", FERRY_ENOMEM);
		goto out;
	}
	if (each_key(n, PUT) || (check && each_key(n, GET)))
		goto out;
	for (b.kind = PUT; b.kind <= GET; b.kind++) {
		for (unsigned r = 0; r < b.o->rounds; r++) {
			unsigned m = bench_order(r, b.o->on, NSYS, order);
			for (unsigned i = 0; i < m; i++) {
				b.sys = order[i];
				if (run_round(n, &st[b.kind][b.sys]))
					goto out;
			}
		}
		table_rows(n, b.kind, st[b.kind]);
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

/* Frees the buffers of every worker's systems (NULL ones too). */
static void free_values(void)
{
	for (unsigned i = 0; i < b.maxc; i++)
		for (int s = 0; s < NSYS; s++) {
			worker *w = &b.w[i];
			if (s == SYS_REDIS) {
				free(w->val[s]);
				free(w->dst[s]);
			} else {
				ferry_free(w->fc[s], w->val[s]);
				ferry_free(w->fc[s], w->dst[s]);
			}
			w->val[s] = w->dst[s] = NULL;
		}
}

/* Gives every client the same value in each system's memory, and a get
 * target touched beforehand so that no system pays its page faults. */
static int bench_size(uint64_t size)
{
	uint8_t *first;
	int rc = 0;

	b.size = size;
	b.nkeys = FR_MIN(KEYS_MAX, FR_MAX(1, KEYSET_BYTES / size));
	for (unsigned i = 0; i < b.maxc && !rc; i++) {
		worker *w = &b.w[i];
		first = NULL;
		for (int s = 0; s < NSYS && !rc; s++) {
			if (!b.o->on[s])
				continue;
			w->val[s] = s == SYS_REDIS ? malloc(size)
				    : ferry_alloc(w->fc[s], size);
			w->dst[s] = s == SYS_REDIS ? malloc(size)
				    : ferry_alloc(w->fc[s], size);
			if (!w->val[s] || !w->dst[s]) {
				rc = cli_fail("ferry_alloc", FERRY_ENOMEM);
				break;
			}
			if (first)
				memcpy(w->val[s], first, size);
			else
				fill(first = w->val[s], size,
				     size * BENCH_MAX_CLIENTS + i);
			memset(w->dst[s], 0, size);
		}
	}
	if (!rc)
		table_head();
	for (unsigned c = 0; c < b.o->nclients && !rc; c++)
		rc = bench_cell((unsigned)b.o->clients[c], c == 0);
	free_values();
	return rc;
}


/* Connects b.maxc workers: a ferry client per mode, and Redis. */
static int connect_all(const char *file, unsigned rport)
{
	ferry_opts o;
	int rc;

	cli_opts_init(&o, file);
	for (unsigned i = 0; i < b.maxc; i++) {
		worker *w = &b.w[i];
		w->id = i;
		for (int s = 0; s < NMODES; s++) {
			if (!b.o->on[s])
				continue;
			o.proxy = b.o->url[s];
			if ((rc = ferry_connect(&o, &w->fc[s]))) {
				fprintf(stderr,
					"ferry: bench: cannot connect to %s: "
					"%s\n",
					b.o->url[s], ferry_strerror(rc));
				return -1;
			}
		}
		w->rx = b.o->on[SYS_REDIS]
			    ? redisConnect("127.0.0.1", (int)rport)
			    : NULL;
		if (b.o->on[SYS_REDIS] && (!w->rx || w->rx->err)) {
			fprintf(stderr, "ferry: bench: redis: %s\n",
				w->rx ? w->rx->errstr : "out of memory");
			return -1;
		}
	}
	return 0;
}

int bench_warm(const bench_opts *o, const char *cluster, unsigned redis_port)
{
	int rc;

	b.o = o;
	b.maxc = 0;
	for (unsigned i = 0; i < o->nclients; i++)
		b.maxc = FR_MAX(b.maxc, (unsigned)o->clients[i]);
	rc = connect_all(cluster, redis_port);
	for (unsigned i = 0; i < o->nsizes && !rc; i++)
		rc = bench_size(o->sizes[i]);
	for (unsigned i = 0; i < b.maxc; i++) {
		worker *w = &b.w[i];
		for (int s = 0; s < NMODES; s++) {
			ferry_close(w->fc[s]);
			w->fc[s] = NULL;
		}
		redisFree(w->rx);
		w->rx = NULL;
	}
	return rc;
}
