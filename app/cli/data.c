/* put, get, rm, ls, expire, stat. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

#define CHUNK (16u << 20) /* file I/O and ranged reads move this much */
#define LS_PAGE 1000

/* Reads all of fd into a buffer the fabric can reach without a copy when
 * the size is known up front (a regular file), else into malloc'd memory
 * that grows. *zc tells which, for freeing. */
static int slurp(ferry_client *c, int fd, uint8_t **out, size_t *len, int *zc)
{
	struct stat st;
	size_t cap = 0, n = 0;
	uint8_t *buf = NULL;
	cli_progress pr;

	*zc = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		cap = (size_t)st.st_size;
		buf = ferry_alloc(c, cap);
		*zc = buf != NULL;
	}
	cli_progress_start(&pr, "reading", cap);
	for (;;) {
		ssize_t r;
		if (n == cap) {
			if (*zc)
				break; /* the file's size was read up front */
			cap = cap ? 2 * cap : 1 << 16;
			uint8_t *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return FERRY_ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, FR_MIN(cap - n, (size_t)CHUNK));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*zc ? ferry_free(c, buf) : free(buf);
			return FERRY_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		cli_progress_add(&pr, (uint64_t)r);
	}
	cli_progress_end(&pr);
	*out = buf;
	*len = n;
	return 0;
}

int cli_put(int argc, char **argv)
{
	const char *usage =
	    "ferry put [--create|--replace] [--ttl DURATION] KEY [FILE]\n"
	    "  --create        fail if KEY exists\n"
	    "  --replace       fail if KEY does not exist\n"
	    "  --ttl DURATION  the key expires after DURATION (1500ms, 30s,\n"
	    "                  5m, 2h, 1d; a bare number is seconds)";
	ferry_op op = {.opcode = FERRY_OP_PUT};
	uint64_t ttl = 0;
	int i = 1, fd = 0, zc, rc;
	uint8_t *buf = NULL;
	ferry_client *c;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--create"))
			op.flags |= FERRY_PUT_CREATE;
		else if (!strcmp(argv[i], "--replace"))
			op.flags |= FERRY_PUT_REPLACE;
		else if (!strcmp(argv[i], "--ttl") && i + 1 < argc &&
			 !fr_parse_duration_ms(argv[i + 1], &ttl) && ttl)
			i++;
		else if (!strcmp(argv[i], "--ttl")) {
			fprintf(stderr, "ferry: --ttl needs a duration above "
					"0, such as 30s\n");
			return 2;
		} else
			break;
	}
	if (argc - i < 1 || argc - i > 2) {
		fprintf(stderr, "Usage: %s\n", usage);
		return 2;
	}
	if (argc - i == 2 && strcmp(argv[i + 1], "-") != 0) {
		fd = open(argv[i + 1], O_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "ferry: %s: %s\n", argv[i + 1],
				strerror(errno));
			return 1;
		}
	}
	c = cli_connect();
	if (!c)
		return 1;
	rc = slurp(c, fd, &buf, &op.len, &zc);
	op.key = argv[i];
	op.klen = strlen(argv[i]);
	op.buf = buf;
	/* The servers keep absolute times: the lifetime starts now, on
	 * this host's clock (ferry.h asks for synchronised clocks). */
	op.expire_ms = ttl ? fr_wall_ms() + ttl : 0;
	if (!rc)
		rc = ferry_batch(c, &op, 1);
	if (rc)
		cli_fail(argv[i], rc);
	zc ? ferry_free(c, buf) : free(buf);
	ferry_close(c);
	return rc ? 1 : 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return FERRY_EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads the value in ranges into one registered chunk buffer and writes
 * each range out; a value replaced mid-way is reported, never mixed. */
static int fetch(ferry_client *c, const char *key, int fd)
{
	size_t klen = strlen(key), chunk, got;
	ferry_stat st, st2;
	cli_progress pr;
	uint64_t off = 0;
	uint8_t *buf;
	int rc = ferry_stat_key(c, key, klen, &st);

	if (rc)
		return rc;
	chunk = (size_t)FR_MIN(st.size ? st.size : 1, (uint64_t)CHUNK);
	buf = ferry_alloc(c, chunk);
	if (!buf)
		return FERRY_ENOMEM;
	cli_progress_start(&pr, "getting", st.size);
	do {
		rc = ferry_get(c, key, klen, off, buf, chunk, &got, &st2);
		if (!rc && st2.version != st.version)
			rc = FERRY_ECHANGED;
		if (!rc)
			rc = write_all(fd, buf, got);
		off += got;
		cli_progress_add(&pr, got);
	} while (!rc && off < st.size && got);
	cli_progress_end(&pr);
	ferry_free(c, buf);
	return rc;
}

int cli_get(int argc, char **argv)
{
	const char *usage = "ferry get KEY [FILE]";
	ferry_client *c;
	int fd = 1, rc;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "Usage: %s\n", usage);
		return 2;
	}
	c = cli_connect();
	if (!c)
		return 1;
	if (argc == 3 && strcmp(argv[2], "-") != 0) {
		fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			fprintf(stderr, "ferry: %s: %s\n", argv[2],
				strerror(errno));
			ferry_close(c);
			return 1;
		}
	}
	rc = fetch(c, argv[1], fd);
	if (rc)
		cli_fail(argv[1], rc);
	if (fd != 1 && close(fd) && !rc)
		rc = cli_fail(argv[2], FERRY_EIO);
	ferry_close(c);
	return rc ? 1 : 0;
}

int cli_rm(int argc, char **argv)
{
	ferry_client *c;
	int failed = 0;

	if (cli_wants_help(argc, argv, "ferry rm KEY..."))
		return 0;
	if (argc < 2) {
		fprintf(stderr, "Usage: ferry rm KEY...\n");
		return 2;
	}
	c = cli_connect();
	if (!c)
		return 1;
	for (int i = 1; i < argc; i++) {
		int rc = ferry_del(c, argv[i], strlen(argv[i]));
		if (rc)
			failed = cli_fail(argv[i], rc);
	}
	ferry_close(c);
	return failed;
}

int cli_ls(int argc, char **argv)
{
	const char *prefix = argc > 1 ? argv[1] : "";
	ferry_client *c;
	ferry_keys *k = NULL;
	char *after = NULL;
	size_t alen = 0;
	int rc;

	if (cli_wants_help(argc, argv, "ferry ls [PREFIX]"))
		return 0;
	if (argc > 2) {
		fprintf(stderr, "Usage: ferry ls [PREFIX]\n");
		return 2;
	}
	c = cli_connect();
	if (!c)
		return 1;
	do {
		rc = ferry_list(c, prefix, strlen(prefix), after, alen, LS_PAGE,
				&k);
		if (rc)
			break;
		for (size_t i = 0; i < ferry_keys_count(k); i++) {
			const void *key = ferry_keys_at(k, i, &alen);
			fwrite(key, 1, alen, stdout);
			fputc('\n', stdout);
			if (i + 1 == ferry_keys_count(k)) {
				free(after);
				after = malloc(alen ? alen : 1);
				if (after)
					memcpy(after, key, alen);
			}
		}
		rc = ferry_keys_more(k) && !after ? FERRY_ENOMEM : 0;
		if (!ferry_keys_more(k) || rc) {
			ferry_keys_free(k);
			break;
		}
		ferry_keys_free(k);
	} while (!rc);
	free(after);
	ferry_close(c);
	return rc ? cli_fail("ls", rc) : 0;
}

static int stat_cluster(ferry_client *c)
{
	ferry_server_stat st[64];
	uint64_t used = 0, total = 0, keys = 0, ops = 0;
	char u[32], t[32];
	int n = ferry_cluster_stat(c, st, 64), down = 0;

	if (n < 0)
		return cli_fail("stat", n);
	printf("%-22s %-6s %21s %10s %12s %6s\n", "SERVER", "STATE",
	       "MEMORY USED / TOTAL", "KEYS", "OPS", "PEERS");
	for (int i = 0; i < n && i < 64; i++) {
		if (st[i].status) {
			printf("%-22s %-6s (%s)\n", st[i].addr, "down",
			       ferry_strerror(st[i].status));
			down++;
			continue;
		}
		printf("%-22s %-6s %10s / %-10s %10llu %12llu %6llu\n",
		       st[i].addr, "up",
		       fr_fmt_size(st[i].mem_used, u, sizeof(u)),
		       fr_fmt_size(st[i].mem_total, t, sizeof(t)),
		       (unsigned long long)st[i].keys,
		       (unsigned long long)st[i].ops,
		       (unsigned long long)st[i].peers);
		used += st[i].mem_used;
		total += st[i].mem_total;
		keys += st[i].keys;
		ops += st[i].ops;
	}
	printf("total: %d servers (%d down), %s used of %s (%s free), "
	       "%llu keys, %llu ops\n",
	       n, down, fr_fmt_size(used, u, sizeof(u)),
	       fr_fmt_size(total, t, sizeof(t)),
	       fr_fmt_size(total - used, (char[32]){0}, 32),
	       (unsigned long long)keys, (unsigned long long)ops);
	return down ? 1 : 0;
}

static void stat_proxy(ferry_client *c)
{
	ferry_proxy_stat ps;

	if (ferry_proxy_stat_get(c, &ps))
		return;
	printf("proxy (%s): %llu function connection%s (%llu over shared "
	       "memory), %llu fabric endpoint, %llu server connection%s, "
	       "%llu shared arena%s, %llu requests\n",
	       ferry_mode(c), (unsigned long long)ps.functions,
	       ps.functions == 1 ? "" : "s", (unsigned long long)ps.channels,
	       (unsigned long long)ps.endpoints,
	       (unsigned long long)ps.server_conns,
	       ps.server_conns == 1 ? "" : "s", (unsigned long long)ps.regions,
	       ps.regions == 1 ? "" : "s", (unsigned long long)ps.ops);
}

int cli_expire(int argc, char **argv)
{
	const char *usage =
	    "ferry expire [--nx|--xx|--gt|--lt] KEY DURATION\n"
	    "       ferry expire KEY --persist\n"
	    "Sets KEY to expire DURATION from now (1500ms, 30s, 5m, 2h, 1d; a\n"
	    "bare number is seconds; 0 deletes it now), or with --persist\n"
	    "removes its expiry. Conditions, as Redis's EXPIRE: --nx only if\n"
	    "it has no expiry, --xx only if it has one, --gt only if the new\n"
	    "one is later, --lt only if sooner (no expiry counts as never).\n"
	    "Exits 1 if the key is missing or a condition kept the expiry.";
	static const struct {
		const char *opt;
		unsigned flag;
	} conds[] = {{"--nx", FERRY_EXPIRE_NX},
		     {"--xx", FERRY_EXPIRE_XX},
		     {"--gt", FERRY_EXPIRE_GT},
		     {"--lt", FERRY_EXPIRE_LT}};
	const char *key = NULL, *dur = NULL;
	unsigned flags = 0;
	int persist = 0, changed = 0, rc;
	uint64_t ttl = 0, when = 0;
	ferry_client *c;

	if (cli_wants_help(argc, argv, usage))
		return 0;
	for (int i = 1; i < argc; i++) {
		size_t k = 0;
		while (k < FR_ARRAY_LEN(conds) && strcmp(argv[i], conds[k].opt))
			k++;
		if (k < FR_ARRAY_LEN(conds))
			flags |= conds[k].flag;
		else if (!strcmp(argv[i], "--persist"))
			persist = 1;
		else if (!key)
			key = argv[i];
		else if (!dur)
			dur = argv[i];
		else
			key = NULL, i = argc; /* too many: usage */
	}
	if (!key || persist == !!dur ||
	    (dur && fr_parse_duration_ms(dur, &ttl))) {
		fprintf(stderr, "Usage: %s\n", usage);
		return 2;
	}
	c = cli_connect();
	if (!c)
		return 1;
	if (!persist)
		when = fr_wall_ms() + ttl;
	if (dur && ttl == 0)
		when = 1; /* long past: the key goes now */
	rc = ferry_expire(c, key, strlen(key), when, flags, &changed);
	ferry_close(c);
	if (rc)
		return cli_fail(key, rc);
	if (!changed) {
		fprintf(stderr, "ferry: %s: expiry unchanged (%s)\n", key,
			persist ? "it has none" : "a condition did not hold");
		return 1;
	}
	return 0;
}

int cli_stat(int argc, char **argv)
{
	ferry_client *c;
	ferry_stat st;
	char when[64], left[80];
	int rc;

	if (cli_wants_help(argc, argv, "ferry stat [KEY]"))
		return 0;
	if (argc > 2) {
		fprintf(stderr, "Usage: ferry stat [KEY]\n");
		return 2;
	}
	c = cli_connect();
	if (!c)
		return 1;
	if (argc == 1) {
		rc = stat_cluster(c);
		stat_proxy(c);
		ferry_close(c);
		return rc;
	}
	rc = ferry_stat_key(c, argv[1], strlen(argv[1]), &st);
	ferry_close(c);
	if (rc)
		return cli_fail(argv[1], rc);
	printf("key:     %s\nsize:    %llu\ncreated: %s\nversion: %llu\n",
	       argv[1], (unsigned long long)st.size,
	       cli_fmt_time(st.ctime_ns / 1000000, when, sizeof(when)),
	       (unsigned long long)st.version);
	printf("expires: %s\n", cli_fmt_expiry(st.expire_ms, left, sizeof(left)));
	return 0;
}
