/*
 * Unit tests of the small shared pieces: the error table and
 * ferry_strerror, size and address parsing (src/common/util.c), and
 * cluster description files (src/client/cluster.c).
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cluster.h"
#include "common/util.h"
#include "ferry.h"

static const int codes[] = {
#define CODE(name, value, msg) FERRY_##name,
    FERRY_ERRNO_MAP(CODE)
#undef CODE
};

static void test_strerror(void **state)
{
	size_t n = FR_ARRAY_LEN(codes);

	assert_true(n >= 18);
	for (size_t i = 0; i < n; i++) {
		const char *s = ferry_strerror(codes[i]);
		assert_true(codes[i] < 0);
		assert_non_null(s);
		assert_true(strlen(s) > 3);
		assert_string_not_equal(s, "unknown error");
		assert_string_not_equal(s, "success");
		/* Codes are distinct, and so are their sentences. */
		for (size_t j = 0; j < i; j++) {
			assert_int_not_equal(codes[i], codes[j]);
			assert_string_not_equal(s, ferry_strerror(codes[j]));
		}
	}
	assert_string_equal(ferry_strerror(FERRY_ENOENT), "no such key");
	assert_string_equal(ferry_strerror(0), "success");
	static const int unknown[] = {1, 2, -1000, -19, INT_MIN, INT_MAX};
	for (size_t i = 0; i < FR_ARRAY_LEN(unknown); i++) {
		int known = 0;
		for (size_t j = 0; j < n; j++)
			known |= codes[j] == unknown[i];
		if (!known)
			assert_string_equal(ferry_strerror(unknown[i]),
					    "unknown error");
	}
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	    {"0", 0},
	    {"1", 1},
	    {"4096", 4096},
	    {"1b", 1},
	    {"2k", 2048},
	    {"2K", 2048},
	    {"2KB", 2048},
	    {"2KiB", 2048},
	    {"2kib", 2048},
	    {"64M", 64ull << 20},
	    {"64MiB", 64ull << 20},
	    {"64mb", 64ull << 20},
	    {"1G", 1ull << 30},
	    {"3GiB", 3ull << 30},
	    {"2T", 2ull << 40},
	    {"16777215T", 16777215ull << 40},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {
	    "",
	    "M",
	    "abc",
	    "-1",
	    "+1",
	    " 1",
	    "1 ",
	    "1X",
	    "1MM",
	    "1.5G",
	    "1 M",
	    "0x10",
	    "1Mi",
	    "16777216T",
	    "99999999999999999999G",
	    /* Past 2^64 - 1 without a suffix: must not wrap or saturate. */
	    "18446744073709551616",
	    "99999999999999999999",
	};
	uint64_t v;

	for (size_t i = 0; i < FR_ARRAY_LEN(good); i++) {
		v = 12345;
		if (fr_parse_size(good[i].s, &v) != 0)
			fail_msg("fr_parse_size(\"%s\") failed", good[i].s);
		if (v != good[i].v)
			fail_msg("fr_parse_size(\"%s\") = %llu, expected %llu",
				 good[i].s, (unsigned long long)v,
				 (unsigned long long)good[i].v);
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		v = 12345;
		if (fr_parse_size(bad[i], &v) != FERRY_EINVAL)
			fail_msg("fr_parse_size(\"%s\") accepted (%llu)",
				 bad[i], (unsigned long long)v);
		assert_int_equal(v, 12345); /* untouched on failure */
	}
	assert_int_equal(fr_parse_size(NULL, &v), FERRY_EINVAL);
}

/* Numbers of options: digits only, within the bounds. */
static void test_parse_uint(void **state)
{
	static const char *const bad[] = {
	    "", "-1", "+1", " 1", "1 ", "12x", "1k", "0x10", "4294967296",
	    "99999999999999999999", "9", "2",
	};
	unsigned v = 7;

	assert_int_equal(fr_parse_uint("0", 0, 8, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(fr_parse_uint("8", 3, 8, &v), 0);
	assert_int_equal(v, 8);
	assert_int_equal(fr_parse_uint("4294967295", 0, UINT_MAX, &v), 0);
	assert_int_equal(v, UINT_MAX);
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		v = 7;
		if (fr_parse_uint(bad[i], 3, 8, &v) != FERRY_EINVAL)
			fail_msg("fr_parse_uint(\"%s\", 3, 8) accepted (%u)",
				 bad[i], v);
		assert_int_equal(v, 7); /* untouched on failure */
		/* Only the two out of bounds are numbers at all. */
		assert_int_equal(
		    fr_parse_uint(bad[i], 0, UINT_MAX, &v) == 0,
		    strcmp(bad[i], "9") == 0 || strcmp(bad[i], "2") == 0);
	}
	assert_int_equal(fr_parse_uint(NULL, 0, 8, &v), FERRY_EINVAL);
}

static void test_fmt_size(void **state)
{
	char b[32];

	assert_string_equal(fr_fmt_size(0, b, sizeof(b)), "0 B");
	assert_string_equal(fr_fmt_size(1023, b, sizeof(b)), "1023 B");
	assert_string_equal(fr_fmt_size(1024, b, sizeof(b)), "1.0 KiB");
	assert_string_equal(fr_fmt_size(3ull << 29, b, sizeof(b)), "1.5 GiB");
	assert_string_equal(fr_fmt_size(5ull << 50, b, sizeof(b)),
			    "5120.0 TiB");
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
	    {"0", 0},		 {"30", 30000},	     {"30s", 30000},
	    {"1500ms", 1500},	 {"1500MS", 1500},   {"5m", 300000},
	    {"5min", 300000},	 {"2h", 7200000},    {"1d", 86400000},
	    {"0ms", 0},		 {"18446744073709551615ms", UINT64_MAX},
	};
	static const char *const bad[] = {
	    "", "s", "-1s", "+1s", " 1s", "1s ", "1.5s", "1 s", "1sec", "1w",
	    "1x", "18446744073709551615s", "99999999999999999999ms",
	};
	uint64_t v;

	for (size_t i = 0; i < FR_ARRAY_LEN(good); i++) {
		v = 12345;
		if (fr_parse_duration_ms(good[i].s, &v) != 0 ||
		    v != good[i].ms)
			fail_msg("fr_parse_duration_ms(\"%s\") = %llu",
				 good[i].s, (unsigned long long)v);
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		v = 12345;
		if (fr_parse_duration_ms(bad[i], &v) != FERRY_EINVAL)
			fail_msg("fr_parse_duration_ms(\"%s\") accepted",
				 bad[i]);
		assert_int_equal(v, 12345);
	}

	char b[32];
	assert_string_equal(fr_fmt_duration_ms(0, b, sizeof(b)), "0ms");
	assert_string_equal(fr_fmt_duration_ms(999, b, sizeof(b)), "999ms");
	assert_string_equal(fr_fmt_duration_ms(29500, b, sizeof(b)), "29.5s");
	assert_string_equal(fr_fmt_duration_ms(245000, b, sizeof(b)), "4m05s");
	assert_string_equal(fr_fmt_duration_ms(9000000, b, sizeof(b)),
			    "2h30m");
	assert_string_equal(fr_fmt_duration_ms(273600000, b, sizeof(b)),
			    "3d04h");
}

static void test_split_hostport(void **state)
{
	char host[16], port[6];
	static const struct {
		const char *in, *host, *port;
	} good[] = {
	    {"127.0.0.1:7400", "127.0.0.1", "7400"},
	    {"h:1", "h", "1"},
	    {"localhost:65535", "localhost", "65535"},
	    {"[::1]:80", "[::1]", "80"}, /* the last colon splits */
	    {"a:b:9", "a:b", "9"},
	    {"123456789012345:1", "123456789012345",
	     "1"}, /* host fills cap-1 */
	};
	static const char *const bad[] = {
	    "",		":",
	    "host",	"host:",
	    ":7400",	"host:74a0",
	    "host:-1",	"host: 1",
	    "host:1 ",	"1234567890123456:1", /* host too long */
	    "h:123456",			      /* port too long */
	};

	for (size_t i = 0; i < FR_ARRAY_LEN(good); i++) {
		memset(host, 'x', sizeof(host));
		memset(port, 'x', sizeof(port));
		if (fr_split_hostport(good[i].in, host, sizeof(host), port,
				      sizeof(port)))
			fail_msg("fr_split_hostport(\"%s\") failed",
				 good[i].in);
		assert_string_equal(host, good[i].host);
		assert_string_equal(port, good[i].port);
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++)
		if (fr_split_hostport(bad[i], host, sizeof(host), port,
				      sizeof(port)) != FERRY_EINVAL)
			fail_msg("fr_split_hostport(\"%s\") accepted", bad[i]);
	assert_int_equal(
	    fr_split_hostport(NULL, host, sizeof(host), port, sizeof(port)),
	    FERRY_EINVAL);
}

/* ---- cluster files ----------------------------------------------------------
 */

static char tmpdir[256];

static int make_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/ferry-errors.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const char *text)
{
	static char path[400];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void test_cluster_round_trip(void **state)
{
	fr_cluster a, b;
	char path[400];

	memset(&a, 0, sizeof(a));
	strcpy(a.provider, "shm");
	a.nservers = FR_MAX_SERVERS;
	for (unsigned i = 0; i < a.nservers; i++)
		snprintf(a.servers[i], FR_ADDR_MAX, "10.0.%u.%u:%u", i / 8,
			 i % 8, 7400 + i);
	a.npids = 3;
	a.pids[0] = 1;
	a.pids[1] = 4242;
	a.pids[2] = 999999;
	snprintf(path, sizeof(path), "%s/cluster", tmpdir);
	assert_int_equal(fr_cluster_save(path, &a), 0);
	assert_int_equal(fr_cluster_load(path, &b, NULL), 0);
	assert_string_equal(b.provider, "shm");
	assert_int_equal(b.nservers, a.nservers);
	for (unsigned i = 0; i < a.nservers; i++)
		assert_string_equal(b.servers[i], a.servers[i]);
	assert_int_equal(b.npids, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(b.pids[i], a.pids[i]);

	/* Saving again replaces the file; no temporary is left behind. */
	a.nservers = 1;
	a.npids = 0;
	assert_int_equal(fr_cluster_save(path, &a), 0);
	assert_int_equal(fr_cluster_load(path, &b, NULL), 0);
	assert_int_equal(b.nservers, 1);
	assert_int_equal(b.npids, 0);
	char tmp[500];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	assert_int_not_equal(access(tmp, F_OK), 0);

	/* A directory that does not exist cannot be written. */
	snprintf(path, sizeof(path), "%s/no/such/dir/cluster", tmpdir);
	assert_int_equal(fr_cluster_save(path, &a), FERRY_EIO);
}

static void test_cluster_parsing(void **state)
{
	fr_cluster c;
	int line = -1;

	/* Comments, blank lines, spacing and unknown directives are fine;
	 * the provider defaults to tcp. */
	assert_int_equal(
	    fr_cluster_load(write_file("ok", "# a comment\n\n"
					     "   server   127.0.0.1:1  \n"
					     "\tserver h:2\n"
					     "future-directive with args\n"
					     "#server 9.9.9.9:9\n"),
			    &c, &line),
	    0);
	assert_int_equal(line, -1); /* untouched on success */
	assert_string_equal(c.provider, "tcp");
	assert_int_equal(c.nservers, 2);
	assert_string_equal(c.servers[0], "127.0.0.1:1");
	assert_string_equal(c.servers[1], "h:2");
	/* No final newline. */
	assert_int_equal(fr_cluster_load(write_file("nonl", "provider shm\n"
							    "server a:1"),
					 &c, NULL),
			 0);
	assert_string_equal(c.provider, "shm");
	assert_int_equal(c.nservers, 1);

	static const struct {
		const char *text;
		int line;
	} bad[] = {
	    {"", 0},					/* no servers */
	    {"# only a comment\nprovider tcp\n", 2},	/* no servers */
	    {"server 127.0.0.1\n", 1},			/* no port */
	    {"server a:1\nserver :7400\n", 2},		/* no host */
	    {"server a:1\n# x\nserver host:port\n", 3}, /* port not a number */
	    {"server\n", 1},				/* no argument */
	    {"provider\nserver a:1\n", 1},
	    {"provider averyveryverylongprovidername\nserver a:1\n", 1},
	    {"server a:1\npid\n", 2},
	};
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		line = -1;
		int rc =
		    fr_cluster_load(write_file("bad", bad[i].text), &c, &line);
		if (rc != FERRY_EINVAL)
			fail_msg("case %zu: load returned %d, expected EINVAL",
				 i, rc);
		if (line != bad[i].line)
			fail_msg("case %zu: error on line %d, expected %d", i,
				 line, bad[i].line);
	}

	/* More servers than the format allows. */
	char big[FR_MAX_SERVERS * 32 + 64] = "";
	for (unsigned i = 0; i <= FR_MAX_SERVERS; i++) {
		char l[32];
		snprintf(l, sizeof(l), "server h:%u\n", i + 1);
		strcat(big, l);
	}
	line = -1;
	assert_int_equal(fr_cluster_load(write_file("big", big), &c, &line),
			 FERRY_EINVAL);
	assert_int_equal(line, FR_MAX_SERVERS + 1);
	/* An address longer than the field. */
	char longaddr[200];
	memset(longaddr, 0, sizeof(longaddr));
	strcpy(longaddr, "server ");
	memset(longaddr + 7, 'h', FR_ADDR_MAX);
	strcat(longaddr, ":1\n");
	assert_int_equal(
	    fr_cluster_load(write_file("long", longaddr), &c, NULL),
	    FERRY_EINVAL);

	/* A line longer than any read buffer is one line: a long comment
	 * is skipped whole (its end is no directive of its own), and what
	 * follows keeps its line number. */
	char text[2048];
	memset(text, 0, sizeof(text));
	strcpy(text, "# ");
	memset(text + 2, 'x', 1200);
	strcat(text, " server 10.9.9.9:9\nserver a:1\nprovider\n");
	line = -1;
	assert_int_equal(fr_cluster_load(write_file("longc", text), &c, &line),
			 FERRY_EINVAL);
	assert_int_equal(line, 3);
	text[strlen(text) - strlen("provider\n")] = 0;
	assert_int_equal(fr_cluster_load(write_file("longc", text), &c, NULL),
			 0);
	assert_int_equal(c.nservers, 1);
	assert_string_equal(c.servers[0], "a:1");
	/* A proxy URL longer than its field is refused, not cut short. */
	memset(text, 0, sizeof(text));
	strcpy(text, "server a:1\nproxy unix:///");
	memset(text + strlen(text), 'p', sizeof(c.proxy));
	strcat(text, "\n");
	line = -1;
	assert_int_equal(fr_cluster_load(write_file("longp", text), &c, &line),
			 FERRY_EINVAL);
	assert_int_equal(line, 2);

	/* Missing file. */
	char missing[400];
	snprintf(missing, sizeof(missing), "%s/does-not-exist", tmpdir);
	assert_int_equal(fr_cluster_load(missing, &c, NULL), FERRY_ENOCLUSTER);
}

static void test_cluster_path(void **state)
{
	char want[600];
	const char *home = getenv("FERRY_HOME");
	const char *env = getenv("FERRY_CLUSTER");
	char *saved_home = home ? strdup(home) : NULL;
	char *saved_env = env ? strdup(env) : NULL;
	char *saved_user = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

	setenv("FERRY_HOME", tmpdir, 1);
	unsetenv("FERRY_CLUSTER");
	snprintf(want, sizeof(want), "%s/cluster", tmpdir);
	assert_string_equal(ferry_default_cluster(), want);
	assert_string_equal(fr_cluster_path(NULL), want);
	assert_string_equal(fr_cluster_path(""), want);
	setenv("FERRY_CLUSTER", "/from/env", 1);
	assert_string_equal(fr_cluster_path(NULL), "/from/env");
	assert_string_equal(fr_cluster_path("/explicit"), "/explicit");
	unsetenv("FERRY_HOME");
	setenv("HOME", "/home/someone", 1);
	assert_string_equal(ferry_default_cluster(),
			    "/home/someone/.ferry/cluster");

	if (saved_home)
		setenv("FERRY_HOME", saved_home, 1);
	if (saved_env)
		setenv("FERRY_CLUSTER", saved_env, 1);
	else
		unsetenv("FERRY_CLUSTER");
	if (saved_user)
		setenv("HOME", saved_user, 1);
	free(saved_home);
	free(saved_env);
	free(saved_user);
}

static void test_connect_without_cluster(void **state)
{
	ferry_opts o;
	ferry_client *c = (ferry_client *)1;
	char missing[400];

	snprintf(missing, sizeof(missing), "%s/none", tmpdir);
	ferry_opts_init(&o);
	assert_true(o.opts_size == sizeof(o));
	assert_true(o.timeout_ms > 0);
	assert_true(o.max_inflight > 0);
	o.cluster = missing;
	o.proxy = "direct";
	assert_int_equal(ferry_connect(&o, &c), FERRY_ENOCLUSTER);
	assert_null(c);
	/* A file without servers is no cluster to connect to. */
	o.cluster = write_file("empty", "# nothing\n");
	int rc = ferry_connect(&o, &c);
	assert_true(rc == FERRY_EINVAL || rc == FERRY_ENOCLUSTER);
	assert_null(c);
	/* opts_size guards the struct's growth. */
	o.opts_size = sizeof(o) + 64;
	assert_int_equal(ferry_connect(&o, &c), FERRY_EINVAL);
	o.opts_size = 0;
	assert_int_equal(ferry_connect(&o, &c), FERRY_EINVAL);
	/* More requests in flight than libferry allows: refused, not
	 * quietly the default. */
	ferry_opts_init(&o);
	o.cluster = missing;
	o.max_inflight = FERRY_INFLIGHT_MAX + 1;
	assert_int_equal(ferry_connect(&o, &c), FERRY_EINVAL);
	assert_null(c);
	assert_int_equal(ferry_connect(NULL, NULL), FERRY_EINVAL);
	ferry_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_parse_uint),
	    cmocka_unit_test(test_fmt_size),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_split_hostport),
	    cmocka_unit_test(test_cluster_round_trip),
	    cmocka_unit_test(test_cluster_parsing),
	    cmocka_unit_test(test_cluster_path),
	    cmocka_unit_test(test_connect_without_cluster),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
