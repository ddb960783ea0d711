/* ferry bench --cold: what one request costs a process that starts fresh,
 * as a serverless function does, in each mode.
 *
 * Every sample is one fresh process: fork, exec of this program as the
 * hidden 'ferry bench --report-fd N --invoke URL', which connects, puts
 * 4 KiB, gets it back, compares, closes and exits; the sample ends when
 * waitpid returns. The process also reports the time from before
 * ferry_connect to after ferry_close on fd N: the part that ferry's mode
 * decides, free of what loading the program costs. Direct mode pays for
 * its own fabric endpoint and a connection to every server; the proxy
 * modes borrow the node proxy's warm ones. An "exec only" process, which
 * exits at once, shows what no mode can go below. The modes take turns,
 * in a changing order, so drifting load hits all alike. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "common/proc.h"
#include "common/util.h"

#define COLD_SIZE 4096   /* inline: ordinary memory, no arena needed */
#define EXEC_ONLY NMODES /* the row of the process that only exits */
#define NROWS (NMODES + 1)

typedef struct sample {
	uint64_t *total; /* fork to exit, ns */
	uint64_t *inner; /* connect to close, as the process measured it */
} sample;

static size_t cold_key(char *key, size_t cap, const char *mode)
{
	return (size_t)snprintf(key, cap, "ferry-bench/cold/%s", mode);
}

int bench_invoke(const char *cluster, const char *url, int report_fd)
{
	uint8_t val[COLD_SIZE], dst[COLD_SIZE];
	ferry_client *c = NULL;
	ferry_opts o;
	char key[64], line[32];
	size_t klen, got = 0;
	uint64_t t0 = fr_now_ns();
	int rc, n;

	if (!strcmp(url, "none"))
		return 0;
	cli_opts_init(&o, cluster);
	o.proxy = url;
	if ((rc = ferry_connect(&o, &c)))
		goto out;
	klen = cold_key(key, sizeof(key), ferry_mode(c));
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 31 + (unsigned)getpid());
	rc = ferry_put(c, key, klen, val, sizeof(val), 0);
	if (!rc)
		rc = ferry_get(c, key, klen, 0, dst, sizeof(dst), &got, NULL);
	if (!rc && (got != sizeof(val) || memcmp(val, dst, sizeof(val))))
		rc = FERRY_EPROTO;
out:
	if (rc)
		fprintf(stderr, "ferry: bench --invoke %s: %s\n", url,
			ferry_strerror(rc));
	ferry_close(c);
	n = snprintf(line, sizeof(line), "%llu\n",
		     (unsigned long long)(fr_now_ns() - t0));
	if (!rc && report_fd >= 0 && write(report_fd, line, (size_t)n) != n)
		rc = FERRY_EIO;
	return rc ? 1 : 0;
}

/* Deletes the keys the invocations left, through the first mode's URL. */
static void cold_cleanup(const char *cluster, const char *const url[NMODES])
{
	ferry_client *c = NULL;
	ferry_opts o;
	char key[64];
	int m = 0;

	while (m < NMODES && !url[m])
		m++;
	cli_opts_init(&o, cluster);
	o.proxy = m < NMODES ? url[m] : "direct";
	if (ferry_connect(&o, &c))
		return;
	for (int s = 0; s < NMODES; s++)
		if (url[s]) {
			size_t klen = cold_key(key, sizeof(key),
					       bench_sys_name[s]);
			ferry_del(c, key, klen);
		}
	ferry_close(c);
}

/* One sample of 'bench --invoke url': the nanoseconds from fork to exit
 * in *total, and those the process reported in *inner (0: none). */
static int invoke(const char *cluster, const char *url, const char *log,
		  uint64_t *total, uint64_t *inner)
{
	char fd[16], got[32] = "";
	char *argv[] = {"/proc/self/exe", "--cluster", (char *)cluster,
			"bench", "--report-fd", fd, "--invoke", (char *)url,
			NULL};
	int p[2], status = 0, rc;
	uint64_t t0;
	ssize_t n;

	/* Only the write end crosses exec, and only into this child. */
	if (pipe2(p, O_CLOEXEC) || fcntl(p[1], F_SETFD, 0)) {
		cli_fail("bench: pipe", FERRY_EIO);
		return -1;
	}
	snprintf(fd, sizeof(fd), "%d", p[1]);
	t0 = fr_now_ns();
	rc = fr_spawn(argv, log, FR_SPAWN_STDERR, NULL, &status);
	*total = fr_now_ns() - t0;
	close(p[1]);
	n = rc ? 0 : read(p[0], got, sizeof(got) - 1);
	close(p[0]);
	*inner = n > 0 ? strtoull(got, NULL, 10) : 0;
	if (rc && !bench_stop)
		fprintf(stderr,
			"ferry: bench: a cold %s process failed (exit %d); "
			"see %s\n",
			url, status, log);
	return rc ? -1 : 0;
}

/* x / y as a table cell, or "-" where y is not above 0. */
static void ratio(double x, double y, int width)
{
	if (y > 0)
		printf(" %*.1f |", width, x / y);
	else
		printf(" %*s |", width, "-");
}

static double mean_ms(const uint64_t *v, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++)
		sum += v[i];
	return (double)sum / n / 1e6;
}

static double pct_ms(uint64_t *v, unsigned n, unsigned p)
{
	bench_sort(v, n);
	return (double)bench_pct(v, n, p) / 1e6;
}

/* Per mode: median, p90 and mean from fork to exit, then the median time
 * from connect to close inside the process, and direct mode's figures
 * over the mode's. */
static void cold_table(sample t[NROWS], unsigned n)
{
	double med[NROWS], p90[NROWS], mean[NROWS], in[NROWS];

	for (int s = 0; s < NROWS; s++)
		if (t[s].total) {
			mean[s] = mean_ms(t[s].total, n);
			med[s] = pct_ms(t[s].total, n, 50);
			p90[s] = pct_ms(t[s].total, n, 90);
			in[s] = s == EXEC_ONLY ? 0 : pct_ms(t[s].inner, n, 50);
		}
	printf("\n### Cold start: %u fresh processes per mode\n\n"
	       "One process: fork, exec of ferry, connect, put 4 KiB, get "
	       "it, compare, close, exit; median, p90 and mean of that span. "
	       "in-process: the median from connect to close as the process "
	       "timed it. exec only: a process that exits before connecting, "
	       "which no mode can beat. direct ÷ mode: how many times "
	       "faster than direct.\n\n"
	       "| mode       | median ms |    p90 ms |   mean ms | "
	       "in-process ms | direct ÷ mode, median | mean | in-process |\n"
	       "|------------|----------:|----------:|----------:|"
	       "--------------:|----------------------:|-----:|-----------:|\n",
	       n);
	for (int s = 0; s < NROWS; s++) {
		int d = t[SYS_DIRECT].total != NULL, x = s == EXEC_ONLY;
		if (!t[s].total)
			continue;
		printf("| %-10s | %9.2f | %9.2f | %9.2f |",
		       x ? "exec only" : bench_sys_name[s], med[s], p90[s],
		       mean[s]);
		if (x)
			printf(" %13s |", "-");
		else
			printf(" %13.3f |", in[s]);
		ratio(d ? med[SYS_DIRECT] : 0, med[s], 21);
		ratio(d ? mean[SYS_DIRECT] : 0, mean[s], 4);
		ratio(d ? in[SYS_DIRECT] : 0, in[s], 10);
		printf("\n");
	}
	fflush(stdout);
}

int bench_cold(const char *cluster, const char *const url[NMODES],
	       unsigned n, const char *log)
{
	const char *cmd[NROWS]; /* the modes, then the exec-only process */
	sample t[NROWS] = {0};
	int on[NROWS], order[NROWS], rc = -1;

	for (int s = 0; s < NROWS; s++) {
		cmd[s] = s == EXEC_ONLY ? "none" : url[s];
		on[s] = cmd[s] != NULL;
		if (on[s] && (!(t[s].total = calloc(n, sizeof(uint64_t))) ||
			      !(t[s].inner = calloc(n, sizeof(uint64_t))))) {
			cli_fail("bench", FERRY_ENOMEM);
			goto out;
		}
	}
	for (unsigned i = 0; i < n && !bench_stop; i++) {
		unsigned m = bench_order(i, on, NROWS, order);
		for (unsigned j = 0; j < m; j++) {
			sample *x = &t[order[j]];
			if (invoke(cluster, cmd[order[j]], log, &x->total[i],
				   &x->inner[i]))
				goto out;
		}
	}
	if (!bench_stop) {
		cold_table(t, n);
		rc = 0;
	}
out:
	cold_cleanup(cluster, url);
	for (int s = 0; s < NROWS; s++) {
		free(t[s].total);
		free(t[s].inner);
	}
	return rc;
}
