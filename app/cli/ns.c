/* ferry ns create|ls|stat|rm|touch|set: namespaces (a job's keys, token,
 * quota and lifetime), managed with the admin token. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/token.h"
#include "common/util.h"

#define LS_PAGE 1000

/* What a command's options may set; the FERRY_NS_SET_* bits. */
#define ALL_OPTS                                                               \
	(FERRY_NS_SET_QUOTA | FERRY_NS_SET_EXPIRE | FERRY_NS_SET_OPS |         \
	 FERRY_NS_SET_BYTES)

static const struct {
	unsigned bit;
	const char *text;
} opts_help[] = {
    {FERRY_NS_SET_EXPIRE,
     "  --ttl DURATION  the namespace and all its keys go DURATION from now\n"
     "                  (30s, 5m, 2h, 1d; a bare number is seconds)\n"},
    {FERRY_NS_SET_QUOTA,
     "  --quota SIZE    bytes of values it may hold (64M, 1G; 0: no quota),\n"
     "                  split evenly over the servers\n"},
    {FERRY_NS_SET_OPS,
     "  --ops N         operations per second it may make through one node\n"
     "                  proxy (0: no limit)\n"},
    {FERRY_NS_SET_BYTES,
     "  --bytes SIZE    value bytes per second through one node proxy\n"
     "                  (0: no limit)\n"},
};

/* A command: its options (FERRY_NS_SET_* bits), and what it needs. */
enum need { NEED_NONE, NEED_TTL, NEED_ANY };
struct ns_cmd {
	const char *name;
	int (*run)(const char *name, unsigned what, ferry_ns_info *set);
	int named;	   /* takes a NAME */
	unsigned opts;	   /* the options it takes */
	enum need need;	   /* NEED_TTL: --ttl; NEED_ANY: at least one option */
	const char *usage; /* after "ferry ns " */
	const char *help;
};

/* Parses "--opt VALUE" pairs from argv into *set and the FERRY_NS_SET_*
 * bits in *what, and the one NAME. Returns 0, or 2 after printing why. */
static int parse(const struct ns_cmd *cmd, int argc, char **argv,
		 const char **name, unsigned *what, ferry_ns_info *set)
{
	static const struct option opts[] = {
	    {"ttl", required_argument, NULL, FERRY_NS_SET_EXPIRE},
	    {"quota", required_argument, NULL, FERRY_NS_SET_QUOTA},
	    {"ops", required_argument, NULL, FERRY_NS_SET_OPS},
	    {"bytes", required_argument, NULL, FERRY_NS_SET_BYTES},
	    {0},
	};
	const char *bad = NULL;
	uint64_t v = 0;
	long long n;
	int c;

	*name = NULL;
	*what = 0;
	memset(set, 0, sizeof(*set));
	optind = 1;
	opterr = 0;
	while (!bad && (c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c == ':') {
			fprintf(stderr, "ferry: ns %s: %s needs a value\n",
				cmd->name, argv[optind - 1]);
			return 2;
		}
		if (c == '?' || !(cmd->opts & (unsigned)c)) {
			fprintf(stderr, "ferry: ns %s: unknown option %s\n",
				cmd->name, argv[optind - 1]);
			return 2;
		}
		*what |= (unsigned)c;
		switch (c) {
		case FERRY_NS_SET_EXPIRE:
			/* 'never' takes an expiry away (ns set); a lease
			 * (touch) needs a length. */
			if (!strcmp(optarg, "never") && cmd->need != NEED_TTL)
				set->expire_ms = 0;
			else if (fr_parse_duration_ms(optarg, &v) || !v)
				bad = "--ttl needs a duration above 0, such "
				      "as 30s or 2h";
			else
				set->expire_ms = fr_wall_ms() + v;
			break;
		case FERRY_NS_SET_QUOTA:
		case FERRY_NS_SET_BYTES:
			if (fr_parse_size(optarg, &v))
				bad = "a size is a number with K, M, G or T "
				      "(powers of 1024), such as 512M";
			else if (c == FERRY_NS_SET_QUOTA)
				set->quota = v;
			else
				set->bytes_per_s = v;
			break;
		case FERRY_NS_SET_OPS:
			if (!fr_strict_ll((const uint8_t *)optarg,
					  strlen(optarg), &n) ||
			    n < 0)
				bad =
				    "--ops needs a whole number, such as 1000";
			else
				set->ops_per_s = (uint64_t)n;
			break;
		}
	}
	if (bad) {
		fprintf(stderr, "ferry: ns %s: %s\n", cmd->name, bad);
		return 2;
	}
	if (optind != argc - cmd->named) {
		fprintf(stderr, "ferry: ns %s: %s\nUsage: ferry ns %s\n",
			cmd->name,
			optind > argc - cmd->named ? "NAME is missing"
						   : "too many arguments",
			cmd->usage);
		return 2;
	}
	*name = cmd->named ? argv[optind] : NULL;
	if (*name && !fr_ns_name_ok(*name, strlen(*name))) {
		fprintf(stderr,
			"ferry: ns %s: '%s' is not a namespace name: use 1 to "
			"%d of A-Z a-z 0-9 . _ -\n",
			cmd->name, *name, FERRY_NS_NAME_MAX);
		return 2;
	}
	if (cmd->need == NEED_TTL && !(*what & FERRY_NS_SET_EXPIRE)) {
		fprintf(stderr,
			"ferry: ns %s: --ttl DURATION is required (the servers "
			"keep the expiry\n       time only, not the lifetime "
			"it came from)\n",
			cmd->name);
		return 2;
	}
	if (cmd->need == NEED_ANY && !*what) {
		fprintf(stderr,
			"ferry: ns %s: nothing to set\nUsage: ferry ns %s\n",
			cmd->name, cmd->usage);
		return 2;
	}
	return 0;
}

/* Runs fn on a fresh client; reports its error as "ns CMD NAME: why". */
static int with_client(const char *cmd, const char *name,
		       int (*fn)(ferry_client *c, const char *name, void *arg),
		       void *arg)
{
	ferry_client *c = cli_connect();
	char what[128];
	int rc;

	if (!c)
		return 1;
	rc = fn(c, name, arg);
	ferry_close(c);
	if (!rc)
		return 0;
	/* The library's words for these speak of keys. */
	if (name && (rc == FERRY_ENOENT || rc == FERRY_EEXIST)) {
		fprintf(stderr, "ferry: ns %s %s: %s\n", cmd, name,
			rc == FERRY_ENOENT ? "no such namespace"
					   : "a namespace of that name exists");
		return 1;
	}
	snprintf(what, sizeof(what), "ns %s%s%s", cmd, name ? " " : "",
		 name ? name : "");
	return cli_fail(what, rc);
}

struct create_arg {
	const ferry_ns_info *set;
	char token[FERRY_TOKEN_LEN + 1];
};

static int do_create(ferry_client *c, const char *name, void *arg)
{
	struct create_arg *a = arg;

	return ferry_ns_create(c, name, a->set, a->token);
}

static int ns_create(const char *name, unsigned what, ferry_ns_info *set)
{
	struct create_arg a = {.set = set};
	int rc = with_client("create", name, do_create, &a);

	/* Only the token on stdout: TOKEN=$(ferry ns create job) */
	if (!rc)
		printf("%s\n", a.token);
	memset(a.token, 0, sizeof(a.token));
	return rc;
}

static int do_rm(ferry_client *c, const char *name, void *arg)
{
	return ferry_ns_rm(c, name);
}

static int ns_rm(const char *name, unsigned what, ferry_ns_info *set)
{
	return with_client("rm", name, do_rm, NULL);
}

struct set_arg {
	unsigned what;
	ferry_ns_info *set;
};

static int do_set(ferry_client *c, const char *name, void *arg)
{
	struct set_arg *a = arg;

	return ferry_ns_set(c, name, a->what, a->set);
}

static int set_limits(const char *cmd, const char *name, unsigned what,
		      ferry_ns_info *set)
{
	struct set_arg a = {what, set};

	return with_client(cmd, name, do_set, &a);
}

static int ns_set(const char *name, unsigned what, ferry_ns_info *set)
{
	return set_limits("set", name, what, set);
}

static int ns_touch(const char *name, unsigned what, ferry_ns_info *set)
{
	char when[80];
	int rc = set_limits("touch", name, what, set);

	if (!rc)
		printf("%s expires %s\n", name,
		       cli_fmt_expiry(set->expire_ms, when, sizeof(when)));
	return rc;
}

/* "1.0 GiB", or `none` for 0. */
static const char *size_or(uint64_t v, const char *none, char *buf, size_t cap)
{
	return v ? fr_fmt_size(v, buf, cap) : none;
}

static int do_stat(ferry_client *c, const char *name, void *arg)
{
	char used[32], quota[32], when[80], rate[32];
	ferry_ns_info i;
	int rc = ferry_ns_stat(c, name, &i);

	if (rc)
		return rc;
	printf("name:    %s\nkeys:    %llu\nbytes:   %s (%llu)\n", i.name,
	       (unsigned long long)i.keys, fr_fmt_size(i.used, used, 32),
	       (unsigned long long)i.used);
	if (i.quota)
		printf("quota:   %s (%.1f%% used)\n",
		       fr_fmt_size(i.quota, quota, sizeof(quota)),
		       100.0 * (double)i.used / (double)i.quota);
	else
		printf("quota:   none\n");
	printf("expires: %s\n",
	       cli_fmt_expiry(i.expire_ms, when, sizeof(when)));
	if (i.ops_per_s)
		printf("ops/s:   %llu per node proxy\n",
		       (unsigned long long)i.ops_per_s);
	else
		printf("ops/s:   no limit\n");
	printf("bytes/s: %s%s\n",
	       size_or(i.bytes_per_s, "no limit", rate, sizeof(rate)),
	       i.bytes_per_s ? " per node proxy" : "");
	return 0;
}

static int ns_stat(const char *name, unsigned what, ferry_ns_info *set)
{
	return with_client("stat", name, do_stat, NULL);
}

/* One row of 'ns ls'. A namespace removed since the listing is left out. */
static int ls_row(ferry_client *c, const char *name)
{
	char used[32], quota[32], left[32];
	uint64_t now = fr_wall_ms();
	ferry_ns_info i;
	int rc = ferry_ns_stat(c, name, &i);

	if (rc)
		return rc == FERRY_ENOENT ? 0 : rc;
	printf("%-24s %10llu %12s %12s %12s\n", name,
	       (unsigned long long)i.keys, fr_fmt_size(i.used, used, 32),
	       size_or(i.quota, "-", quota, sizeof(quota)),
	       !i.expire_ms ? "never"
	       : i.expire_ms > now
		   ? fr_fmt_duration_ms(i.expire_ms - now, left, sizeof(left))
		   : "now");
	return 0;
}

static int do_ls(ferry_client *c, const char *none, void *arg)
{
	char after[FERRY_NS_NAME_MAX + 1] = "", name[FERRY_NS_NAME_MAX + 1];
	ferry_keys *k;
	int rc, more;

	printf("%-24s %10s %12s %12s %12s\n", "NAME", "KEYS", "BYTES", "QUOTA",
	       "EXPIRES IN");
	do {
		rc = ferry_ns_list(c, after[0] ? after : NULL, LS_PAGE, &k);
		if (rc)
			return rc;
		for (size_t j = 0; !rc && j < ferry_keys_count(k); j++) {
			size_t len;
			const char *n = ferry_keys_at(k, j, &len);
			snprintf(name, sizeof(name), "%.*s",
				 (int)FR_MIN(len, FERRY_NS_NAME_MAX), n);
			rc = ls_row(c, name);
			memcpy(after, name, sizeof(name));
		}
		more = ferry_keys_more(k);
		ferry_keys_free(k);
	} while (!rc && more);
	return rc;
}

static int ns_ls(const char *none, unsigned what, ferry_ns_info *set)
{
	return with_client("ls", NULL, do_ls, NULL);
}

static const struct ns_cmd cmds[] = {
    {"create", ns_create, 1, ALL_OPTS, NEED_NONE,
     "create NAME [--ttl DURATION] [--quota SIZE] [--ops N]\n"
     "                       [--bytes SIZE]",
     "Creates namespace NAME and prints its token, and only that, on\n"
     "stdout: TOKEN=$(ferry ns create job1 --ttl 1h --quota 1G). A client\n"
     "with FERRY_TOKEN=$TOKEN sees the keys of NAME only."},
    {"ls", ns_ls, 0, 0, NEED_NONE, "ls",
     "Lists the namespaces: keys, bytes of values, quota, time left."},
    {"stat", ns_stat, 1, 0, NEED_NONE, "stat NAME",
     "Shows NAME's keys, bytes, quota, expiry and rate limits."},
    {"rm", ns_rm, 1, 0, NEED_NONE, "rm NAME",
     "Removes NAME and frees every key in it on every server; its token\n"
     "opens nothing from then on."},
    {"touch", ns_touch, 1, FERRY_NS_SET_EXPIRE, NEED_TTL,
     "touch NAME --ttl DURATION",
     "Renews NAME's lease: it now expires DURATION from now."},
    {"set", ns_set, 1, ALL_OPTS, NEED_ANY,
     "set NAME [--ttl DURATION|never] [--quota SIZE] [--ops N]\n"
     "                    [--bytes SIZE]",
     "Changes the limits given and leaves the others; --ttl never takes\n"
     "the expiry away, 0 takes a limit away."},
};

static const struct ns_cmd *find(const char *name)
{
	for (size_t i = 0; i < FR_ARRAY_LEN(cmds); i++)
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	return NULL;
}

static void usage(FILE *out)
{
	for (size_t i = 0; i < FR_ARRAY_LEN(cmds); i++)
		fprintf(out, "%s ferry ns %s\n",
			i ? "      " : "Usage:", cmds[i].usage);
	fprintf(
	    out,
	    "\nA namespace holds one job's keys apart from every other's:\n"
	    "a client presenting its token (FERRY_TOKEN) can neither see\n"
	    "nor change keys outside it. Creating, changing and removing\n"
	    "namespaces takes the cluster's admin token ('ferry cluster up'\n"
	    "writes it to DIR/admin.token; ferry reads it from there when\n"
	    "FERRY_TOKEN is not set). 'ferry ns COMMAND --help' tells more.\n");
}

int cli_ns(int argc, char **argv)
{
	const struct ns_cmd *cmd = argc > 1 ? find(argv[1]) : NULL;
	ferry_ns_info set;
	const char *name;
	unsigned what;
	int rc;

	if (argc > 1 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (!cmd) {
		if (argc > 1)
			fprintf(stderr, "ferry: unknown ns command '%s'\n",
				argv[1]);
		usage(stderr);
		return 2;
	}
	argc--, argv++;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: ferry ns %s\n%s\n", cmd->usage,
			       cmd->help);
			if (cmd->opts)
				printf("Options:\n");
			for (size_t o = 0; o < FR_ARRAY_LEN(opts_help); o++)
				if (cmd->opts & opts_help[o].bit)
					printf("%s", opts_help[o].text);
			return 0;
		}
	rc = parse(cmd, argc, argv, &name, &what, &set);
	return rc ? rc : cmd->run(name, what, &set);
}
