/* Unit tests of the Redis front end's pure parts: the request parser
 * (resp_parse.c) and the glob matcher (resp_cmd.c). The black-box tests
 * with real clients are tests/resp and tests/cli/test_resp.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/resp_int.h"
#include "proxy/resp_parse.h"

#define MAX_BULK (512u << 20)

struct parsed {
	int rc;
	size_t pos, argc;
	char args[8][64];
	char err[80];
};

/* Parses s (len bytes) feeding it one byte more at a time, as a slow
 * client would, so the resumable path is exercised on every byte. */
static struct parsed parse(const char *s, size_t len)
{
	struct fr_resp_parser p = {0};
	struct parsed out = {0};
	uint8_t buf[1024];

	assert_true(len <= sizeof(buf));
	memcpy(buf, s, len);
	for (size_t have = 0; have <= len; have++) {
		out.rc = fr_resp_parse(&p, buf, have, MAX_BULK);
		if (out.rc != FR_RESP_MORE)
			break;
		assert_true(p.need > have); /* it always asks for more */
	}
	out.pos = p.pos;
	out.argc = p.argc;
	for (size_t i = 0; out.rc == FR_RESP_DONE && i < p.argc && i < 8; i++)
		memcpy(out.args[i], buf + p.args[i].off,
		       p.args[i].len < 63 ? p.args[i].len : 63);
	strcpy(out.err, p.err);
	fr_resp_parser_free(&p);
	return out;
}

#define PARSE(lit) parse(lit, sizeof(lit) - 1)

static void test_multibulk(void **state)
{
	struct parsed r = PARSE("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nb\0\r\nPING");

	assert_int_equal(r.rc, FR_RESP_DONE);
	assert_int_equal(r.argc, 3);
	assert_string_equal(r.args[0], "SET");
	assert_string_equal(r.args[1], "k");
	assert_memory_equal(r.args[2], "a\r\nb", 5); /* binary safe */
	assert_int_equal(r.pos, sizeof("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nb\0\r\n") - 1);
	/* The two bytes after a bulk are skipped, not checked (Redis). */
	r = PARSE("*1\r\n$4\r\nPINGXY");
	assert_int_equal(r.rc, FR_RESP_DONE);
	assert_string_equal(r.args[0], "PING");
	/* Empty and negative counts: a request of nothing. */
	r = PARSE("*0\r\n");
	assert_int_equal(r.rc, FR_RESP_DONE);
	assert_int_equal(r.argc, 0);
	r = PARSE("*-10\r\n");
	assert_int_equal(r.rc, FR_RESP_DONE);
	assert_int_equal(r.argc, 0);
	(void)state;
}

static void test_inline(void **state)
{
	struct parsed r = PARSE("set  k \"a b\\x41\\n\" 'it''s'\r\n");

	/* 'it''s' is not valid: a closing quote must be followed by a
	 * space. */
	assert_int_equal(r.rc, FR_RESP_ERROR);
	assert_string_equal(r.err, "Protocol error: unbalanced quotes in request");
	r = PARSE("set  k \"a b\\x41\\n\" 'it\\'s'\n");
	assert_int_equal(r.rc, FR_RESP_DONE);
	assert_int_equal(r.argc, 4);
	assert_string_equal(r.args[0], "set");
	assert_string_equal(r.args[2], "a bA\n");
	assert_string_equal(r.args[3], "it's");
	r = PARSE("\r\n");
	assert_int_equal(r.rc, FR_RESP_DONE);
	assert_int_equal(r.argc, 0);
	r = PARSE("get \"unterminated\r\n");
	assert_int_equal(r.rc, FR_RESP_ERROR);
	(void)state;
}

static void test_errors(void **state)
{
	static const struct {
		const char *in, *err;
	} cases[] = {
		{"*abc\r\n", "Protocol error: invalid multibulk length"},
		{"*2147483648\r\n", "Protocol error: invalid multibulk length"},
		{"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
		{"*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"},
		{"*1\r\n$01\r\n", "Protocol error: invalid bulk length"},
		{"*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'"},
		{"*2\r\n$4\r\nECHO\r\n:12\r\n",
		 "Protocol error: expected '$', got ':'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct parsed r = parse(cases[i].in, strlen(cases[i].in));
		assert_int_equal(r.rc, FR_RESP_ERROR);
		assert_string_equal(r.err, cases[i].err);
	}
	(void)state;
}

/* Parses big[0..len) with a fresh parser and expects error text why. */
static void refused(char *big, size_t len, const char *why)
{
	struct fr_resp_parser p = {0};

	assert_int_equal(fr_resp_parse(&p, (uint8_t *)big, len, MAX_BULK),
			 FR_RESP_ERROR);
	assert_string_equal(p.err, why);
	fr_resp_parser_free(&p);
}

static void test_limits(void **state)
{
	static char big[70 * 1024];
	struct fr_resp_parser p = {0};

	/* No newline within 64 KiB: too big, whatever the form. */
	memset(big, 'A', sizeof(big));
	refused(big, sizeof(big), "Protocol error: too big inline request");
	big[0] = '*';
	refused(big, sizeof(big), "Protocol error: too big mbulk count string");
	/* The same with the line's end present: the limit does not depend on
	 * how the reads cut the bytes (found by tests/fuzz/fuzz_resp). */
	memset(big, 'A', sizeof(big));
	memcpy(big + sizeof(big) - 2, "\r\n", 2);
	refused(big, sizeof(big), "Protocol error: too big inline request");
	memset(big, '1', sizeof(big) - 2);
	big[0] = '*';
	refused(big, sizeof(big), "Protocol error: too big mbulk count string");
	/* A line of exactly FR_RESP_INLINE_MAX bytes is one request. */
	memset(big, 'A', FR_RESP_INLINE_MAX);
	big[FR_RESP_INLINE_MAX] = '\n';
	assert_int_equal(fr_resp_parse(&p, (uint8_t *)big,
				       FR_RESP_INLINE_MAX + 1, MAX_BULK),
			 FR_RESP_DONE);
	assert_int_equal(p.argc, 1);
	assert_int_equal(p.args[0].len, FR_RESP_INLINE_MAX);
	fr_resp_parser_next(&p);
	/* A declared bulk asks for exactly its bytes, not more. */
	memcpy(big, "*1\r\n$100000\r\n", 13);
	assert_int_equal(fr_resp_parse(&p, (uint8_t *)big, 13, MAX_BULK),
			 FR_RESP_MORE);
	assert_int_equal(p.need, 13 + 100000 + 2);
	fr_resp_parser_free(&p);
	(void)state;
}

static int match(const char *pat, const char *s)
{
	struct rarg a = {(const uint8_t *)pat, strlen(pat)};

	return fr_resp_glob(&a, s, strlen(s));
}

static void test_glob(void **state)
{
	assert_true(match("*", "anything"));
	assert_true(match("h?llo", "hello"));
	assert_false(match("h?llo", "hllo"));
	assert_true(match("h[ae]llo", "hallo"));
	assert_false(match("h[^e]llo", "hello"));
	assert_true(match("h[a-c]llo", "hbllo"));
	assert_true(match("h[c-a]llo", "hbllo")); /* reversed range */
	assert_true(match("h[!a]llo", "h!llo"));  /* ! is not negation */
	assert_true(match("a\\*b", "a*b"));
	assert_false(match("a\\*b", "axb"));
	assert_true(match("job:*:out", "job:7:out"));
	assert_false(match("job:*:out", "job:7:in"));
	assert_true(match("__keyspace@0__:*", "__keyspace@0__:k"));
	/* An abusive pattern ends quickly (no exponential backtracking). */
	assert_false(match("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_multibulk), cmocka_unit_test(test_inline),
	    cmocka_unit_test(test_errors),    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_glob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
