/* ferry bench: the command. Reads the options, starts what is measured
 * (a cluster with its node proxy, unless --cluster names one, and Redis)
 * on free loopback ports in a temporary folder, runs the warm tables
 * (bench_warm.c), the cold one (bench_cold.c), the notification one
 * (bench_notify.c) and the fair-sharing one (bench_fair.c), and stops it
 * all. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "client/cluster.h"
#include "common/proc.h"
#include "common/util.h"
#include "fabric/fab.h"

#define MAX_VALUE (1ull << 30) /* the servers' default limit */

const char *const bench_sys_name[NSYS] = {"direct", "proxy-unix",
					  "proxy-tcp", "redis"};
atomic_int bench_stop;

static bench_opts b;
static char redis_version[32] = "?";

static void on_signal(int sig)
{
	bench_stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ferry bench [--sizes LIST|none] [--clients LIST]\n"
		"                   [--modes LIST] [--no-redis] [--ops N]\n"
		"                   [--seconds S] [--rounds R] [--cold N]\n"
		"                   [--notify N] [--fair] [--fair-ops N]\n"
		"                   [--fair-bytes SIZE]\n"
		"                   [--provider tcp|shm|verbs] [--servers N]\n"
		"                   [--memory SIZE] [--cluster FILE]\n\n"
		"Measures put and get of ferry in each mode beside Redis SET\n"
		"and GET of the same values (through hiredis), and prints a\n"
		"markdown table per value size: one row per client count,\n"
		"op and system, with p50/p99 latency, ops/s, MiB/s, ops/s\n"
		"as a multiple of Redis's, and p50 over direct mode's p50.\n\n"
		"  --sizes LIST    value sizes (default 64,4K,1M,16M,64M);\n"
		"                  none: no warm tables (with --cold)\n"
		"  --clients LIST  concurrent clients, each a thread with\n"
		"                  its own connections (default 1,4)\n"
		"  --modes LIST    ferry modes, of direct (own fabric\n"
		"                  endpoint), unix and tcp (through the node\n"
		"                  proxy's Unix socket, values in a shared\n"
		"                  arena; or its TCP port, values in the\n"
		"                  stream); default direct,unix,tcp\n"
		"  --no-redis      measure ferry only\n"
		"  --ops N         operations per cell and system at most\n"
		"                  (default 20000, and 1 GiB moved at most)\n"
		"  --seconds S     seconds per cell and system at most, but\n"
		"                  each client runs at least one operation\n"
		"                  a round (default 1)\n"
		"  --rounds R      rounds per cell, each running every\n"
		"                  system in a changing order; ops/s is the\n"
		"                  median round (default 3)\n"
		"  --cold N        then time N fresh processes per mode, in\n"
		"                  turn: each connects, puts and gets 4 KiB,\n"
		"                  checks it and exits. A table (after the\n"
		"                  warm ones) gives the time from fork to\n"
		"                  exit, the time from connect to close as\n"
		"                  the process measured it, and a process\n"
		"                  that exits at once as the floor. Redis\n"
		"                  takes no part. --sizes none: only this\n"
		"  --notify N      then, per mode, N samples (5 s at most)\n"
		"                  of the time from a put to the wake-up of\n"
		"                  a client blocked waiting for its event\n"
		"                  (another thread and client, a prefix\n"
		"                  watch, ferry_event_next), alternating\n"
		"                  with GET round trips of 64 bytes, each\n"
		"                  put and GET after the same 300 us idle;\n"
		"                  a table gives p50/p99 of both and their\n"
		"                  p50 ratio. Redis takes no part. --sizes\n"
		"                  none: only this (and --cold)\n"
		"  --fair          then, per proxy mode, two namespaces on\n"
		"                  the one proxy: a victim timing GETs of 64\n"
		"                  bytes alone, beside a flooder (4 clients\n"
		"                  each keeping 16 PUTs of 64 KiB in flight)\n"
		"                  without limits, and beside it limited;\n"
		"                  --seconds per phase, --rounds rounds. A\n"
		"                  table gives the victim's p50/p99 and their\n"
		"                  ratio to alone. --sizes none: only this\n"
		"                  (and --cold, --notify)\n"
		"  --fair-ops N    the limited flooder's operations per\n"
		"                  second (default 1000)\n"
		"  --fair-bytes SIZE  and its bytes per second (default 32M)\n"
		"  --cluster FILE  use this running cluster (its node proxy\n"
		"                  for unix and tcp, on the TCP port after\n"
		"                  the last server's, as 'cluster up' puts\n"
		"                  it); otherwise the bench starts its own,\n"
		"                  with a node proxy unless --modes direct,\n"
		"                  in a temporary folder on free ports, with:\n"
		"  --provider P    tcp, shm or verbs (default tcp)\n"
		"  --servers N     servers (default 2)\n"
		"  --memory SIZE   arena of each server (default 1G)\n\n"
		"Redis is redis-server from PATH, on 127.0.0.1 without\n"
		"persistence. The ferry modes share one key set (they reach\n"
		"the same servers). The benchmark deletes its keys at the\n"
		"end.\n");
}

/* Parses "64,4K,1M" into out; every item must be 1..max. */
static int parse_list(const char *s, uint64_t *out, unsigned *n, uint64_t max)
{
	char buf[256], *save, *tok;

	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n == BENCH_MAX_LIST || fr_parse_size(tok, &out[*n]) ||
		    out[*n] < 1 || out[*n] > max)
			return -1;
		(*n)++;
	}
	return *n ? 0 : -1;
}

/* Parses "direct,unix,tcp" (any of them, at least one) into b.on. */
static int parse_modes(const char *s)
{
	static const char *const names[NMODES] = {"direct", "unix", "tcp"};
	char buf[64], *save, *tok;
	int any = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	memset(b.on, 0, NMODES * sizeof(b.on[0]));
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int m = 0;
		while (m < NMODES && strcmp(tok, names[m]))
			m++;
		if (m == NMODES)
			return -1;
		b.on[m] = any = 1;
	}
	return any ? 0 : -1;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;
	return (a > c) - (a < c);
}

void bench_sort(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t bench_pct(const uint64_t *sorted, size_t n, unsigned p)
{
	size_t i = (n * p + 99) / 100;

	return n ? sorted[i ? i - 1 : 0] : 0;
}

unsigned bench_order(unsigned r, const int *on, unsigned n, int *order)
{
	int act[NSYS];
	unsigned m = 0;

	for (unsigned s = 0; s < n && m < NSYS; s++)
		if (on[s])
			act[m++] = (int)s;
	for (unsigned i = 0; i < m; i++)
		order[r % 2 ? m - 1 - i : i] = act[(i + r) % m];
	return m;
}

/* Starts redis-server on 127.0.0.1:port and waits until it answers PING. */
static int redis_start(const char *dir, unsigned port, pid_t *pid)
{
	char p[16], log[600];
	char *args[] = {"redis-server", "--port", p, "--bind", "127.0.0.1",
			"--protected-mode", "yes", "--save", "", "--appendonly",
			"no", "--daemonize", "no", "--dir", (char *)dir,
			/* 512 MiB, the default, also admits 64 MiB values */
			"--proto-max-bulk-len", "512mb", NULL};
	uint64_t deadline = fr_now_ns() + 10000000000ull;

	snprintf(p, sizeof(p), "%u", port);
	snprintf(log, sizeof(log), "%s/redis.log", dir);
	if (fr_spawn(args, log, FR_SPAWN_STDERR, pid, NULL))
		return -1;
	while (fr_now_ns() < deadline && !bench_stop &&
	       waitpid(*pid, NULL, WNOHANG) == 0) {
		redisContext *c = redisConnect("127.0.0.1", (int)port);
		redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
		int up = r && r->type == REDIS_REPLY_STATUS &&
			 !strcmp(r->str, "PONG");
		const char *v;
		freeReplyObject(r);
		r = up ? redisCommand(c, "INFO server") : NULL;
		if (r && r->type == REDIS_REPLY_STRING &&
		    (v = strstr(r->str, "redis_version:")))
			sscanf(v, "redis_version:%31[^\r\n]", redis_version);
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

/* The machine and the set-up, as a markdown list. */
static void print_setup(const fr_cluster *cl, const char *file, int own,
			unsigned rport)
{
	char cpu[128] = "unknown CPU", line[256];
	const char *fab = cl->provider, *why;
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
	       "- ferry: %u server(s) over %s",
	       sysconf(_SC_NPROCESSORS_ONLN), cpu, cl->nservers, fab);
	fr_fab_close(&f);
	if (own)
		printf(" of %s each, started by the benchmark\n", b.memory);
	else
		printf(" from %s\n", file);
	printf("- modes:%s%s%s\n",
	       b.on[SYS_DIRECT] ? " direct (the client's own fabric "
				  "endpoint);"
				: "",
	       b.on[SYS_UNIX] ? " proxy-unix (the node proxy's Unix socket, "
				"frames through shared-memory rings, "
				"values in the shared arena: zero copy);"
			      : "",
	       b.on[SYS_TCP] ? " proxy-tcp (its TCP port, values in the "
			       "stream)"
			     : "");
	if (b.on[SYS_UNIX] || b.on[SYS_TCP])
		printf("- node proxy: ferry-proxy at %s%s%s\n",
		       b.on[SYS_UNIX] ? b.url[SYS_UNIX] : "",
		       b.on[SYS_UNIX] && b.on[SYS_TCP] ? " and " : "",
		       b.on[SYS_TCP] ? b.url[SYS_TCP] : "");
	if (b.on[SYS_REDIS])
		printf("- redis: %s on 127.0.0.1:%u without persistence, "
		       "hiredis %d.%d.%d, values in malloc() memory\n",
		       redis_version, rport, HIREDIS_MAJOR, HIREDIS_MINOR,
		       HIREDIS_PATCH);
	if (b.nsizes)
		printf("- × redis = ops/s ÷ redis ops/s of the same clients "
		       "and op (above 1: more than Redis); p50 ÷ direct = "
		       "p50 ÷ direct mode's p50 (above 1: slower than "
		       "direct)\n"
		       "- method: each client is a thread with its own "
		       "connections and one operation in flight; a cell is "
		       "at most %g s and %llu operations per system in %u "
		       "round(s) that each run every system, in a changing "
		       "order; p50/p99 over every operation, ops/s of the "
		       "median round; ferry values in ferry_alloc() memory\n",
		       b.seconds, (unsigned long long)b.ops, b.rounds);
	fflush(stdout);
}

/* Runs 'ferry cluster up' (port > 0; with a node proxy if a proxy mode is
 * measured) or 'cluster down' for the cluster the benchmark starts in dir,
 * with its output in dir/cluster.log. */
static int own_cluster(char *dir, char *file, unsigned port)
{
	char p[16], n[16], log[300], *prov = (char *)b.provider;
	char *mem = (char *)b.memory;
	char *up[] = {"/proc/self/exe", "cluster", "up", "--dir", dir,
		      "--port", p, "--provider", prov, "--servers", n,
		      "--memory", mem, "--no-proxy", NULL};
	char *down[] = {"/proc/self/exe", "--cluster", file, "cluster",
			"down", NULL};
	int status;

	if (b.on[SYS_UNIX] || b.on[SYS_TCP])
		up[13] = NULL; /* drops --no-proxy */
	snprintf(p, sizeof(p), "%u", port);
	snprintf(n, sizeof(n), "%u", b.servers);
	snprintf(log, sizeof(log), "%s/cluster.log", dir);
	return fr_spawn(port ? up : down, log, 0, NULL, &status) ? -1 : 0;
}

/* Fills b.url for the modes measured: the proxy's Unix URL from the
 * cluster file, and its TCP port after the last server's, where 'cluster
 * up' puts it. */
static int mode_urls(const fr_cluster *cl, const char *file)
{
	const char *last = cl->servers[cl->nservers - 1];
	const char *colon = strrchr(last, ':');

	snprintf(b.url[SYS_DIRECT], sizeof(b.url[0]), "direct");
	if (!b.on[SYS_UNIX] && !b.on[SYS_TCP])
		return 0;
	if (strncmp(cl->proxy, "unix://", 7) || !colon) {
		fprintf(stderr,
			"ferry: bench: %s names no node proxy on a Unix "
			"socket; --modes direct measures without one\n",
			file);
		return -1;
	}
	snprintf(b.url[SYS_UNIX], sizeof(b.url[0]), "%s", cl->proxy);
	snprintf(b.url[SYS_TCP], sizeof(b.url[0]), "tcp://%.*s:%u",
		 (int)(colon - last), last, (unsigned)atoi(colon + 1) + 1);
	return 0;
}

/* Reads the options into b. Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{"sizes", required_argument, NULL, 'z'},
		{"clients", required_argument, NULL, 'c'},
		{"modes", required_argument, NULL, 'M'},
		{"ops", required_argument, NULL, 'o'},
		{"seconds", required_argument, NULL, 's'},
		{"rounds", required_argument, NULL, 'r'},
		{"cold", required_argument, NULL, 'k'},
		{"notify", required_argument, NULL, 'N'},
		{"fair", no_argument, NULL, 'f'},
		{"fair-ops", required_argument, NULL, 'O'},
		{"fair-bytes", required_argument, NULL, 'B'},
		{"no-redis", no_argument, NULL, 'R'},
		{"provider", required_argument, NULL, 'p'},
		{"servers", required_argument, NULL, 'n'},
		{"memory", required_argument, NULL, 'm'},
		{"cluster", required_argument, NULL, 'C'},
		/* Hidden, for bench_cold's processes. */
		{"invoke", required_argument, NULL, 'I'},
		{"report-fd", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	uint64_t v;
	int c, idx = 0, redis = 1, report_fd = -1;
	unsigned fd;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		int bad = 0;
		switch (c) {
		case 'z':
			b.nsizes = 0;
			bad = strcmp(optarg, "none") &&
			      parse_list(optarg, b.sizes, &b.nsizes, MAX_VALUE);
			break;
		case 'c':
			bad = parse_list(optarg, b.clients, &b.nclients,
					 BENCH_MAX_CLIENTS);
			break;
		case 'M':
			bad = parse_modes(optarg);
			break;
		case 'o':
			bad = fr_parse_size(optarg, &b.ops) || !b.ops;
			break;
		case 's':
			b.seconds = strtod(optarg, &end);
			bad = *end || !(b.seconds > 0 && b.seconds <= 3600);
			break;
		case 'r':
			bad = fr_parse_uint(optarg, 1, BENCH_MAX_ROUNDS,
					    &b.rounds);
			break;
		case 'k':
			bad = fr_parse_size(optarg, &v) || !v || v > 100000;
			b.cold = (unsigned)v;
			break;
		case 'N':
			bad = fr_parse_size(optarg, &v) || !v || v > 1000000;
			b.notify = (unsigned)v;
			break;
		case 'f':
			b.fair = 1;
			break;
		case 'O':
			bad = fr_parse_size(optarg, &b.fair_ops) || !b.fair_ops;
			break;
		case 'B':
			bad = fr_parse_size(optarg, &b.fair_bytes) ||
			      !b.fair_bytes;
			break;
		case 'n':
			bad = fr_parse_uint(optarg, 1, FR_MAX_SERVERS,
					    &b.servers);
			break;
		case 'R':
			redis = 0;
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
		case 'F':
			bad = fr_parse_uint(optarg, 0, INT_MAX, &fd);
			report_fd = (int)fd;
			break;
		case 'I':
			return bench_invoke(cli_cluster, optarg, report_fd);
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
	if (!b.nsizes && !b.cold && !b.notify && !b.fair) {
		fprintf(stderr, "ferry: bench: --sizes none leaves nothing "
				"to measure without --cold N, --notify N or "
				"--fair\n");
		return 2;
	}
	if (b.fair && !b.on[SYS_UNIX] && !b.on[SYS_TCP]) {
		fprintf(stderr, "ferry: bench: --fair measures through the "
				"node proxy: --modes unix or tcp\n");
		return 2;
	}
	/* Redis only beside the warm tables. */
	b.on[SYS_REDIS] = redis && b.nsizes;
	return -1;
}

int cli_bench(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal,
			       .sa_flags = SA_RESETHAND};
	char dir[256], file[300], log[300];
	const char *cold_url[NMODES] = {0};
	unsigned base, rport, nproxy, nports;
	fr_cluster cl;
	pid_t rpid = 0;
	int rc, own, up = 0;

	b.ops = 20000, b.seconds = 1, b.rounds = 3;
	b.fair_ops = 1000, b.fair_bytes = 32 << 20;
	b.servers = 2, b.provider = "tcp", b.memory = "1G";
	b.cluster = cli_cluster;
	parse_list("64,4K,1M,16M,64M", b.sizes, &b.nsizes, MAX_VALUE);
	parse_list("1,4", b.clients, &b.nclients, BENCH_MAX_CLIENTS);
	parse_modes("direct,unix,tcp");
	if ((rc = parse_args(argc, argv)) >= 0)
		return rc;
	rc = 1;
	own = !b.cluster;
	nproxy = b.on[SYS_UNIX] || b.on[SYS_TCP];
	snprintf(dir, sizeof(dir), "%s/ferry-bench-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "ferry: bench: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Ports for our own servers and their proxy (its TCP and Redis
	 * ports), then Redis; none at all for a given cluster without
	 * Redis. */
	nports = own * (b.servers + 2 * nproxy) + b.on[SYS_REDIS];
	base = nports ? fr_free_ports(nports) : 1;
	rport = base + own * (b.servers + 2 * nproxy);
	snprintf(file, sizeof(file), "%s/cluster", dir);
	if (!base)
		fprintf(stderr, "ferry: bench: no free ports on 127.0.0.1\n");
	if (!base || (own && !(up = !own_cluster(dir, file, base)))) {
		if (base)
			fprintf(stderr, "ferry: bench: cluster up failed\n");
		goto out;
	}
	if (!own)
		snprintf(file, sizeof(file), "%s", b.cluster);
	if (fr_cluster_load(file, &cl, NULL) || !cl.nservers) {
		fprintf(stderr, "ferry: bench: cannot read %s\n", file);
		goto out;
	}
	if (mode_urls(&cl, file) ||
	    (b.on[SYS_REDIS] && redis_start(dir, rport, &rpid)))
		goto out;
	print_setup(&cl, file, own, rport);
	if (b.nsizes && bench_warm(&b, file, rport))
		goto out;
	for (int s = 0; s < NMODES; s++)
		cold_url[s] = b.on[s] ? b.url[s] : NULL;
	snprintf(log, sizeof(log), "%s/cold.log", dir);
	if (b.cold && bench_cold(file, cold_url, b.cold, log))
		goto out;
	if (b.notify && bench_notify(file, cold_url, b.notify))
		goto out;
	if (b.fair && bench_fair(&b, file))
		goto out;
	rc = 0;
out:
	if (bench_stop)
		fprintf(stderr, "ferry: bench: interrupted\n");
	if (rpid > 0)
		fr_stop_pids(&rpid, 1, 5000);
	if (up && own_cluster(dir, file, 0))
		rc = 1;
	if (rc)
		fprintf(stderr, "ferry: bench: logs are in %s\n", dir);
	else
		fr_remove_dir(dir);
	return rc;
}
