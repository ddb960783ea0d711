#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

const char *cli_cluster;
int cli_direct;

int cli_wants_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: %s\n", usage);
			return 1;
		}
	return 0;
}

int cli_fail(const char *what, int err)
{
	fprintf(stderr, "ferry: %s: %s\n", what, ferry_strerror(err));
	return 1;
}

ferry_client *cli_connect(void)
{
	ferry_opts o;
	ferry_client *c;
	int rc;

	ferry_opts_init(&o);
	o.cluster = cli_cluster;
	if (cli_direct)
		o.proxy = "direct";
	rc = ferry_connect(&o, &c);
	if (rc == FERRY_ENOCLUSTER) {
		fprintf(stderr,
			"ferry: no cluster description at %s\n"
			"       start one with 'ferry cluster up', or pass "
			"--cluster FILE\n",
			cli_cluster ? cli_cluster : ferry_default_cluster());
		return NULL;
	}
	if (rc) {
		cli_fail("cannot connect to the cluster", rc);
		return NULL;
	}
	return c;
}

#define PROGRESS_MIN (8u << 20) /* smaller transfers finish too fast */

void cli_progress_start(cli_progress *p, const char *label, uint64_t total)
{
	*p = (cli_progress){.label = label, .total = total};
	p->on = total >= PROGRESS_MIN && isatty(2);
	p->start_ns = p->last_ns = fr_now_ns();
}

static void draw(cli_progress *p, uint64_t now)
{
	double secs = (double)(now - p->start_ns) / 1e9;
	double pct = p->total ? 100.0 * (double)p->done / (double)p->total : 100;
	char d[32], t[32];

	fprintf(stderr, "\r%s %s / %s  %5.1f%%  %.0f MiB/s   ", p->label,
		fr_fmt_size(p->done, d, sizeof(d)),
		fr_fmt_size(p->total, t, sizeof(t)), pct,
		secs > 0 ? (double)p->done / secs / 1048576 : 0);
}

void cli_progress_add(cli_progress *p, uint64_t bytes)
{
	uint64_t now = fr_now_ns();

	p->done += bytes;
	if (p->on && now - p->last_ns > 100000000) { /* 10 updates/s */
		p->last_ns = now;
		draw(p, now);
	}
}

void cli_progress_end(cli_progress *p)
{
	if (!p->on)
		return;
	draw(p, fr_now_ns());
	fputc('\n', stderr);
}
