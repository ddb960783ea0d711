/* ferry bench: the command and its set-up (bench.c), the warm tables of
 * running clients (bench_warm.c), the cold table of one fresh process
 * per request (bench_cold.c), the notification latency table
 * (bench_notify.c) and the fair-sharing table (bench_fair.c). */
#ifndef FERRY_CLI_BENCH_H
#define FERRY_CLI_BENCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* What is measured: ferry in each of its modes, then Redis. The ferry
 * modes come first; their names are those of ferry_mode(). */
enum { SYS_DIRECT, SYS_UNIX, SYS_TCP, SYS_REDIS, NSYS };
#define NMODES SYS_REDIS

extern const char *const bench_sys_name[NSYS];

#define BENCH_MAX_LIST 16
#define BENCH_MAX_CLIENTS 64
#define BENCH_MAX_ROUNDS 15

/* What to measure, from the command line (bench.c). */
typedef struct bench_opts {
	uint64_t sizes[BENCH_MAX_LIST];   /* value sizes of the warm tables */
	uint64_t clients[BENCH_MAX_LIST]; /* client counts of each table */
	unsigned nsizes, nclients;        /* nsizes 0: no warm tables */
	uint64_t ops;          /* operations per cell and system at most */
	double seconds;        /* seconds per cell and system at most */
	unsigned rounds;       /* rounds per cell, 1..BENCH_MAX_ROUNDS */
	unsigned cold;         /* fresh processes per mode; 0: none */
	unsigned notify;       /* notification samples per mode; 0: none */
	int fair;              /* the fair-sharing table */
	uint64_t fair_ops, fair_bytes; /* its flooder's limits, per s */
	int on[NSYS];          /* the systems measured */
	char url[NMODES][300]; /* ferry_opts.proxy of each mode measured */
	unsigned servers;      /* of the cluster the bench starts itself */
	const char *provider, *memory;
	const char *cluster;   /* a running cluster's file, or NULL */
} bench_opts;

/* Set by SIGINT or SIGTERM: finish early and clean up. */
extern atomic_int bench_stop;

/* Sorts n samples in place. */
void bench_sort(uint64_t *v, size_t n);

/* The nearest-rank percentile p (1..100) of n sorted samples; 0 if n is 0. */
uint64_t bench_pct(const uint64_t *sorted, size_t n, unsigned p);

/* Fills order with the systems s < n that have on[s] set, for round r:
 * rotated by r and reversed in odd rounds, so that each system goes first
 * and last in turn and drifting load hits all alike. Returns how many. */
unsigned bench_order(unsigned r, const int *on, unsigned n, int *order);

/* The warm tables: connects the clients (to the cluster file cluster,
 * and to Redis on 127.0.0.1:redis_port if o->on[SYS_REDIS]), prints a
 * markdown table per size of o, and closes them. Returns 0, or -1 with
 * the reason printed. bench_stop ends it early. */
int bench_warm(const bench_opts *o, const char *cluster, unsigned redis_port);

/* Starts n fresh processes in turn for each mode whose url is not NULL
 * ("direct", or the node proxy's unix:// or tcp:// URL), on the cluster
 * file cluster, their output appended to log; each connects, puts and
 * gets 4 KiB, and exits. Prints a markdown table of the time from fork to
 * exit per mode. Returns 0, or -1 with the reason printed. */
int bench_cold(const char *cluster, const char *const url[NMODES],
	       unsigned n, const char *log);

/* For each mode whose url is not NULL, on the cluster file cluster: up
 * to n samples (a few seconds at most) of the time from a put to the
 * wake-up of another client waiting for its event, alternating with GET
 * round trips of a small value (bench_notify.c). Prints a markdown table
 * of both, p50/p99, per mode. Returns 0, or -1 with the reason printed. */
int bench_notify(const char *cluster, const char *const url[NMODES],
		 unsigned n);

/* Per proxy mode of o (unix, tcp) on the cluster file cluster: a
 * victim's GET latency alone, beside a flooding namespace, and beside it
 * limited to o->fair_ops and o->fair_bytes per second (bench_fair.c).
 * Prints a markdown table. Returns 0, or -1 with the reason printed. */
int bench_fair(const bench_opts *o, const char *cluster);

/* The hidden 'ferry [--cluster FILE] bench [--report-fd N] --invoke URL'
 * that bench_cold runs: one cold request in mode URL ("none": exit at
 * once), which writes the nanoseconds from connect to close, in decimal,
 * to report_fd (if not -1). Returns the process's exit code. */
int bench_invoke(const char *cluster, const char *url, int report_fd);

#endif
