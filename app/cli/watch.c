/* wait, watch: coordination through keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

/* The name a watch prints for each kind of event. */
static const char *const kind_name[] = {
	[FERRY_EV_SET] = "set",		[FERRY_EV_DEL] = "del",
	[FERRY_EV_EXPIRED] = "expired", [FERRY_EV_EXPIRE] = "expire",
	[FERRY_EV_PERSIST] = "persist", [FERRY_EV_INCR] = "incr",
	[FERRY_EV_LOST] = "lost",	[FERRY_EV_APPEND] = "append",
	[FERRY_EV_SETRANGE] = "setrange",
};

/* Writes a key so that any bytes read back unambiguously, one key per
 * line: printable ASCII as is, a backslash as "\\", anything else as
 * "\xHH". */
static void put_key(FILE *f, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (key[i] == '\\')
			fputs("\\\\", f);
		else if (key[i] >= 0x20 && key[i] < 0x7f)
			fputc(key[i], f);
		else
			fprintf(f, "\\x%02x", key[i]);
	}
}

/* Parses "--timeout DURATION" at argv[*i]; *ms receives it. Returns 1 if
 * it was there (and advances *i), 0 if argv[*i] is something else, -1 if
 * the duration is missing or bad. */
static int timeout_opt(int argc, char **argv, int *i, uint64_t *ms)
{
	if (strcmp(argv[*i], "--timeout"))
		return 0;
	if (*i + 1 >= argc || fr_parse_duration_ms(argv[*i + 1], ms) ||
	    *ms > INT32_MAX) {
		fprintf(stderr, "ferry: --timeout needs a duration, such as "
				"300ms or 30s\n");
		return -1;
	}
	(*i)++;
	return 1;
}

int cli_wait(int argc, char **argv)
{
	const char *usage =
	    "ferry wait KEY [--timeout DURATION]\n"
	    "Waits until KEY exists: exits 0 at once if it does, else as\n"
	    "soon as some client writes it, or 1 after DURATION (1500ms,\n"
	    "30s, 5m; a bare number is seconds; default: no limit).";
	const char *key = NULL;
	uint64_t ms = 0;
	int has_timeout = 0, rc;
	ferry_client *c;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		int t = timeout_opt(argc, argv, &i, &ms);
		if (t < 0)
			return 2;
		if (t) {
			has_timeout = 1;
		} else if (!key && (argv[i][0] != '-' || !argv[i][1])) {
			key = argv[i];
		} else {
			key = NULL;
			break;
		}
	}
	if (!key || !*key) {
		fprintf(stderr, "Usage: %s\n", usage);
		return 2;
	}
	c = cli_connect();
	if (!c)
		return 1;
	rc = ferry_wait(c, key, strlen(key), has_timeout ? (int)ms : -1);
	ferry_close(c);
	if (rc == FERRY_ETIMEDOUT) {
		char d[32];
		fprintf(stderr, "ferry: %s: still missing after %s\n", key,
			fr_fmt_duration_ms(ms, d, sizeof(d)));
		return 1;
	}
	return rc ? cli_fail(key, rc) : 0;
}

int cli_watch(int argc, char **argv)
{
	const char *usage =
	    "ferry watch PREFIX [--exact] [--count N] [--timeout DURATION]\n"
	    "Prints one line per change to a key starting with PREFIX (with\n"
	    "--exact: to the key PREFIX), as it happens: \"set KEY\", \"del\n"
	    "KEY\", \"expired KEY\", \"expire KEY\", \"persist KEY\", \"incr KEY\",\n"
	    "\"append KEY\", \"setrange KEY\", or \"lost\" when events were\n"
	    "dropped (re-read what matters). Bytes of keys outside printable\n"
	    "ASCII are written \\xHH, and a backslash \\\\. Stops after N\n"
	    "events (exit 0) or after DURATION (exit 0 without --count, 1 if\n"
	    "fewer than N came); default: runs until interrupted. An empty\n"
	    "PREFIX (\"\") watches every key.";
	const char *prefix = NULL;
	unsigned flags = 0;
	uint64_t ms = 0, count = 0, seen = 0, deadline = 0;
	int has_timeout = 0, rc = 0;
	ferry_client *c;
	ferry_event ev;
	uint64_t w;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		int t = timeout_opt(argc, argv, &i, &ms);
		char *end;
		if (t < 0)
			return 2;
		if (t) {
			has_timeout = 1;
		} else if (!strcmp(argv[i], "--exact")) {
			flags |= FERRY_WATCH_EXACT;
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			count = strtoull(argv[++i], &end, 10);
			if (*end || !count || argv[i][0] == '-') {
				fprintf(stderr, "ferry: --count needs a number "
						"above 0\n");
				return 2;
			}
		} else if (!prefix && (argv[i][0] != '-' || !argv[i][1])) {
			prefix = argv[i];
		} else {
			prefix = NULL;
			break;
		}
	}
	if (!prefix || ((flags & FERRY_WATCH_EXACT) && !*prefix)) {
		fprintf(stderr, "Usage: %s\n", usage);
		return 2;
	}
	c = cli_connect();
	if (!c)
		return 1;
	rc = ferry_watch(c, prefix, strlen(prefix), flags, &w);
	if (rc) {
		ferry_close(c);
		return cli_fail(prefix, rc);
	}
	if (has_timeout)
		deadline = fr_now_ns() + ms * 1000000;
	while (!count || seen < count) {
		uint64_t now = fr_now_ns();
		int wait_ms = -1;
		if (has_timeout) {
			if (now >= deadline)
				break;
			wait_ms = (int)((deadline - now + 999999) / 1000000);
		}
		rc = ferry_event_next(c, &ev, wait_ms);
		if (rc < 0)
			break;
		if (rc == 0)
			continue;
		rc = 0;
		fputs(kind_name[ev.kind], stdout);
		if (ev.kind != FERRY_EV_LOST) {
			fputc(' ', stdout);
			put_key(stdout, ev.key, ev.klen);
		}
		fputc('\n', stdout);
		fflush(stdout);
		seen++;
	}
	ferry_close(c);
	if (rc < 0)
		return cli_fail(prefix, rc);
	if (count && seen < count) {
		fprintf(stderr, "ferry: %s: %llu of %llu events before the "
				"time-out\n",
			prefix, (unsigned long long)seen,
			(unsigned long long)count);
		return 1;
	}
	return 0;
}
