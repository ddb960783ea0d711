#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/cluster.h"
#include "common/token.h"
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

void cli_opts_init(ferry_opts *o, const char *cluster)
{
	static char token[FR_TOKEN_FILE_MAX];
	const char *file = fr_cluster_path(cluster);
	fr_cluster cl;

	ferry_opts_init(o);
	o->cluster = cluster;
	/* $FERRY_TOKEN, when set, is the library's to read (set but empty:
	 * no token). */
	if (getenv("FERRY_TOKEN") ||
	    fr_cluster_load(file, &cl, NULL) || !cl.admin_token_file[0] ||
	    fr_token_read(cl.admin_token_file, token, sizeof(token)) < 0)
		return;
	o->token = token;
	/* Only that cluster hears its admin token: naming its file keeps
	 * the library from picking the system-wide proxy socket. */
	o->cluster = file;
}

ferry_client *cli_connect(void)
{
	ferry_opts o;
	ferry_client *c;
	int rc;

	cli_opts_init(&o, cli_cluster);
	if (cli_direct)
		o.proxy = "direct";
	rc = ferry_connect(&o, &c);
	if (rc == FERRY_ENOCLUSTER) {
		fprintf(stderr,
			"ferry: no cluster description at %s\n"
			"       start one with 'ferry cluster up', or pass "
			"--cluster FILE\n",
			fr_cluster_path(cli_cluster));
		return NULL;
	}
	if (rc) {
		cli_fail("cannot connect to the cluster", rc);
		if (rc == FERRY_EACCES)
			fprintf(stderr,
				"       it requires a token: set FERRY_TOKEN to "
				"a namespace's token, or run\n"
				"       as a user who may read the admin token "
				"file ('ferry cluster status')\n");
		return NULL;
	}
	return c;
}

char *cli_fmt_time(uint64_t ms, char *buf, size_t cap)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&secs, &tm));
	return buf;
}

char *cli_fmt_expiry(uint64_t expire_ms, char *buf, size_t cap)
{
	uint64_t now = fr_wall_ms();
	char when[32], left[32];

	if (!expire_ms)
		snprintf(buf, cap, "never");
	else
		snprintf(buf, cap, "%s (in %s)",
			 cli_fmt_time(expire_ms, when, sizeof(when)),
			 fr_fmt_duration_ms(expire_ms > now ? expire_ms - now
							    : 0,
					    left, sizeof(left)));
	return buf;
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
