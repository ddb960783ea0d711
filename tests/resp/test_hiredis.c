/*
 * Black-box RESP checks through hiredis's synchronous API: pipelining,
 * binary-safe values, large values and error replies. Expectations are
 * Redis 7.0's (checked against a real redis-server by run_redis.sh).
 *
 * Usage:   test_hiredis HOST PORT   (RESP_PASSWORD: AUTH with it first)
 * Output:  TAP ("ok N - name" / "not ok N - name", "# detail" lines), a
 *          plan "1..N" and "N passed, N failed"; exit status 1 if any
 *          case failed, 2 if it could not connect.
 *
 * Build:
 *   cc -std=c11 -Wall -Wextra -O2 $(pkg-config --cflags hiredis) \
 *      tests/resp/test_hiredis.c -o test_hiredis $(pkg-config --libs hiredis)
 * (hiredis 0.14 or later; CMake: pkg_check_modules(HIREDIS hiredis).)
 */
#define _POSIX_C_SOURCE 200809L
#include <hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_run, n_failed;
static int case_failed;
static char case_name[128];
static char diag_buf[8192]; /* printed after the case's TAP line */
static size_t diag_len;
static redisContext *c;

static void begin(const char *name)
{
	snprintf(case_name, sizeof case_name, "%s", name);
	case_failed = 0;
	diag_len = 0;
	diag_buf[0] = '\0';
}

static void end(void)
{
	n_run++;
	if (case_failed) {
		n_failed++;
		printf("not ok %d - %s\n%s", n_run, case_name, diag_buf);
	} else {
		printf("ok %d - %s\n", n_run, case_name);
	}
	fflush(stdout);
}

static void diag(const char *fmt, ...)
{
	va_list ap;
	size_t room = sizeof diag_buf - diag_len;
	int w;

	if (room < 8)
		return;
	w = snprintf(diag_buf + diag_len, room, "#   ");
	diag_len += (size_t)w;
	va_start(ap, fmt);
	w = vsnprintf(diag_buf + diag_len, sizeof diag_buf - diag_len - 1,
		      fmt, ap);
	va_end(ap);
	if (w < 0)
		w = 0;
	diag_len += (size_t)w;
	if (diag_len > sizeof diag_buf - 2)
		diag_len = sizeof diag_buf - 2;
	diag_buf[diag_len++] = '\n';
	diag_buf[diag_len] = '\0';
}

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			diag(__VA_ARGS__);                                 \
			case_failed = 1;                                   \
		}                                                          \
	} while (0)

static const char *type_name(int t)
{
	switch (t) {
	case REDIS_REPLY_STRING: return "string";
	case REDIS_REPLY_ARRAY: return "array";
	case REDIS_REPLY_INTEGER: return "integer";
	case REDIS_REPLY_NIL: return "nil";
	case REDIS_REPLY_STATUS: return "status";
	case REDIS_REPLY_ERROR: return "error";
	default: return "other";
	}
}

/* Checks the reply's type (and for status/error/string, its exact text).
 * Frees the reply. Returns 1 on a match. */
static int expect(redisReply *r, int type, const char *str, size_t len,
		  long long integer, const char *what)
{
	int ok = 1;

	if (r == NULL) {
		CHECK(0, "%s: no reply (%s)", what,
		      c->err ? c->errstr : "unknown");
		return 0;
	}
	if (r->type != type) {
		CHECK(0, "%s: reply type %s, want %s (%.*s)", what,
		      type_name(r->type), type_name(type),
		      r->str ? (int)(r->len > 200 ? 200 : r->len) : 0,
		      r->str ? r->str : "");
		ok = 0;
	} else if (type == REDIS_REPLY_INTEGER) {
		if (r->integer != integer) {
			CHECK(0, "%s: integer %lld, want %lld", what,
			      r->integer, integer);
			ok = 0;
		}
	} else if (str != NULL) {
		if ((size_t)r->len != len || memcmp(r->str, str, len) != 0) {
			CHECK(0, "%s: got %zu bytes '%.*s', want %zu bytes "
			      "'%.*s'", what, (size_t)r->len,
			      (int)(r->len > 200 ? 200 : r->len), r->str, len,
			      (int)(len > 200 ? 200 : len), str);
			ok = 0;
		}
	}
	freeReplyObject(r);
	return ok;
}

#define S(lit) lit, sizeof(lit) - 1

static redisReply *cmd(const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	return r;
}

static redisReply *cmdargv(int argc, const char **argv, const size_t *lens)
{
	return redisCommandArgv(c, argc, argv, lens);
}

static int reconnect(const char *host, int port)
{
	struct timeval tv = { 10, 0 };

	if (c)
		redisFree(c);
	c = redisConnectWithTimeout(host, port, tv);
	if (c == NULL || c->err) {
		printf("# cannot connect to %s:%d: %s\n", host, port,
		       c ? c->errstr : "out of memory");
		return -1;
	}
	redisSetTimeout(c, tv);
	/* A server with a password (Redis: requirepass; ferry: the admin
	 * token). */
	if (getenv("RESP_PASSWORD") && *getenv("RESP_PASSWORD")) {
		redisReply *r = redisCommand(c, "AUTH %s",
					     getenv("RESP_PASSWORD"));
		int ok = r && r->type == REDIS_REPLY_STATUS &&
			 !strcmp(r->str, "OK");
		if (r)
			freeReplyObject(r);
		if (!ok) {
			printf("# AUTH with RESP_PASSWORD failed\n");
			return -1;
		}
	}
	return 0;
}

static void t_ping(void)
{
	begin("PING replies +PONG");
	expect(cmd("PING"), REDIS_REPLY_STATUS, S("PONG"), 0, "PING");
	expect(cmd("PING %s", "hello"), REDIS_REPLY_STRING, S("hello"), 0,
	       "PING hello");
	expect(cmd("ECHO %b", "a\0b", (size_t)3), REDIS_REPLY_STRING, S("a\0b"),
	       0, "ECHO binary");
	end();
}

static void t_pipeline_1000(void)
{
	int i, ok = 1;
	char key[64], val[64];
	redisReply *r;

	begin("pipeline: 1000 appended SET/GET/INCR, then 1000 replies");
	for (i = 0; i < 1000; i++) {
		switch (i % 3) {
		case 0:
			snprintf(key, sizeof key, "hr:pipe:%d", i);
			snprintf(val, sizeof val, "value-%d", i);
			redisAppendCommand(c, "SET %s %s", key, val);
			break;
		case 1:
			snprintf(key, sizeof key, "hr:pipe:%d", i - 1);
			redisAppendCommand(c, "GET %s", key);
			break;
		default:
			redisAppendCommand(c, "INCR %s", "hr:pipe:counter");
		}
	}
	for (i = 0; i < 1000 && ok; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			CHECK(0, "reply %d: %s", i, c->errstr);
			{ end(); return; }
		}
		switch (i % 3) {
		case 0:
			ok = expect(r, REDIS_REPLY_STATUS, S("OK"), 0, "SET");
			break;
		case 1:
			snprintf(val, sizeof val, "value-%d", i - 1);
			ok = expect(r, REDIS_REPLY_STRING, val, strlen(val), 0,
				    "GET");
			break;
		default:
			ok = expect(r, REDIS_REPLY_INTEGER, NULL, 0, i / 3 + 1,
				    "INCR");
		}
		if (!ok)
			diag("at reply %d", i);
	}
	expect(cmd("GET hr:pipe:counter"), REDIS_REPLY_STRING, S("333"), 0,
	       "counter after");
	expect(cmd("DBSIZE"), REDIS_REPLY_INTEGER, NULL, 0, 334 + 1, "DBSIZE");
	end();
}

static void t_pipeline_with_errors(void)
{
	redisReply *r;
	int i;

	begin("pipeline: an error reply does not disturb the ones after it");
	redisAppendCommand(c, "SET hr:perr notanumber");
	redisAppendCommand(c, "INCR hr:perr");
	redisAppendCommand(c, "GET");
	redisAppendCommand(c, "NOSUCHCMD a b");
	redisAppendCommand(c, "GET hr:perr");
	for (i = 0; i < 5; i++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			CHECK(0, "reply %d: %s", i, c->errstr);
			{ end(); return; }
		}
		switch (i) {
		case 0:
			expect(r, REDIS_REPLY_STATUS, S("OK"), 0, "SET");
			break;
		case 1:
			expect(r, REDIS_REPLY_ERROR,
			       S("ERR value is not an integer or out of range"),
			       0, "INCR");
			break;
		case 2:
			expect(r, REDIS_REPLY_ERROR,
			       S("ERR wrong number of arguments for 'get' "
				 "command"), 0, "GET arity");
			break;
		case 3:
			expect(r, REDIS_REPLY_ERROR,
			       S("ERR unknown command 'NOSUCHCMD', with args "
				 "beginning with: 'a' 'b' "), 0, "unknown");
			break;
		default:
			expect(r, REDIS_REPLY_STRING, S("notanumber"), 0,
			       "GET");
		}
	}
	end();
}

static void t_binary_safe(void)
{
	static const char val[] = "a\0b\r\nc\0\0\r\n$5\r\n*1\r\n\xff\x00";
	static const char key[] = "hr:bin\0key\r\n";
	const char *argv[3];
	size_t lens[3];
	redisReply *r;

	begin("binary-safe keys and values (NUL, CR LF, RESP markers)");
	expect(cmd("SET %b %b", key, sizeof key - 1, val, sizeof val - 1),
	       REDIS_REPLY_STATUS, S("OK"), 0, "SET %b");
	expect(cmd("GET %b", key, sizeof key - 1), REDIS_REPLY_STRING, val,
	       sizeof val - 1, 0, "GET %b");
	expect(cmd("STRLEN %b", key, sizeof key - 1), REDIS_REPLY_INTEGER,
	       NULL, 0, (long long)sizeof val - 1, "STRLEN");
	/* the key stops nowhere before its full length */
	expect(cmd("EXISTS %s", "hr:bin"), REDIS_REPLY_INTEGER, NULL, 0, 0,
	       "EXISTS prefix");
	argv[0] = "APPEND";
	lens[0] = 6;
	argv[1] = key;
	lens[1] = sizeof key - 1;
	argv[2] = "\0\0";
	lens[2] = 2;
	expect(cmdargv(3, argv, lens), REDIS_REPLY_INTEGER, NULL, 0,
	       (long long)sizeof val - 1 + 2, "APPEND argv");
	r = cmd("GETRANGE %b -3 -1", key, sizeof key - 1);
	expect(r, REDIS_REPLY_STRING, "\x00\0\0", 3, 0, "GETRANGE tail");
	expect(cmd("SET %s %b", "hr:empty", "", (size_t)0), REDIS_REPLY_STATUS,
	       S("OK"), 0, "SET empty");
	expect(cmd("GET %s", "hr:empty"), REDIS_REPLY_STRING, "", 0, 0,
	       "GET empty");
	expect(cmd("GET %s", "hr:missing"), REDIS_REPLY_NIL, NULL, 0, 0,
	       "GET missing");
	end();
}

static void t_one_mib(void)
{
	size_t len = 1024 * 1024, i;
	char *val = malloc(len);
	redisReply *r;
	int k;

	begin("1 MiB values: SET, GET, STRLEN, pipelined x4");
	if (!val) {
		CHECK(0, "out of memory");
		{ end(); return; }
	}
	for (i = 0; i < len; i++)
		val[i] = (char)((i * 131 + (i >> 8)) & 0xff);
	expect(cmd("SET %s %b", "hr:big", val, len), REDIS_REPLY_STATUS, S("OK"),
	       0, "SET 1MiB");
	expect(cmd("STRLEN %s", "hr:big"), REDIS_REPLY_INTEGER, NULL, 0,
	       (long long)len, "STRLEN");
	expect(cmd("GET %s", "hr:big"), REDIS_REPLY_STRING, val, len, 0,
	       "GET 1MiB");
	for (k = 0; k < 4; k++) {
		val[0] = (char)k;
		redisAppendCommand(c, "SET hr:big:%d %b", k, val, len);
	}
	for (k = 0; k < 4; k++)
		redisAppendCommand(c, "GET hr:big:%d", k);
	for (k = 0; k < 8; k++) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			CHECK(0, "reply %d: %s", k, c->errstr);
			break;
		}
		if (k < 4) {
			expect(r, REDIS_REPLY_STATUS, S("OK"), 0, "SET");
		} else {
			val[0] = (char)(k - 4);
			expect(r, REDIS_REPLY_STRING, val, len, 0, "GET");
		}
	}
	free(val);
	end();
}

static void t_errors(void)
{
	begin("error replies: exact Redis texts");
	expect(cmd("GET"), REDIS_REPLY_ERROR,
	       S("ERR wrong number of arguments for 'get' command"), 0,
	       "GET arity");
	expect(cmd("SET hr:e notint"), REDIS_REPLY_STATUS, S("OK"), 0, "SET");
	expect(cmd("INCR hr:e"), REDIS_REPLY_ERROR,
	       S("ERR value is not an integer or out of range"), 0, "INCR");
	expect(cmd("SET hr:e 9223372036854775807"), REDIS_REPLY_STATUS, S("OK"),
	       0, "SET max");
	expect(cmd("INCR hr:e"), REDIS_REPLY_ERROR,
	       S("ERR increment or decrement would overflow"), 0, "overflow");
	expect(cmd("SET hr:e v NX XX"), REDIS_REPLY_ERROR, S("ERR syntax error"),
	       0, "NX XX");
	expect(cmd("SET hr:e v EX 0"), REDIS_REPLY_ERROR,
	       S("ERR invalid expire time in 'set' command"), 0, "EX 0");
	expect(cmd("SETRANGE hr:e -1 x"), REDIS_REPLY_ERROR,
	       S("ERR offset is out of range"), 0, "SETRANGE");
	expect(cmd("foo a"), REDIS_REPLY_ERROR,
	       S("ERR unknown command 'foo', with args beginning with: 'a' "), 0,
	       "unknown");
	expect(cmd("PING"), REDIS_REPLY_STATUS, S("PONG"), 0,
	       "still usable");
	end();
}

static void t_integers_arrays(void)
{
	redisReply *r;

	begin("integer, nil and array replies");
	expect(cmd("MSET hr:a 1 hr:b 2"), REDIS_REPLY_STATUS, S("OK"), 0, "MSET");
	expect(cmd("EXISTS hr:a hr:a hr:none"), REDIS_REPLY_INTEGER, NULL, 0, 2,
	       "EXISTS");
	expect(cmd("INCRBY hr:a -11"), REDIS_REPLY_INTEGER, NULL, 0, -10,
	       "INCRBY");
	expect(cmd("TTL hr:none"), REDIS_REPLY_INTEGER, NULL, 0, -2, "TTL -2");
	expect(cmd("TTL hr:a"), REDIS_REPLY_INTEGER, NULL, 0, -1, "TTL -1");
	r = cmd("MGET hr:a hr:none hr:b");
	CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 3,
	      "MGET: %s", r ? type_name(r->type) : c->errstr);
	if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
		CHECK(r->element[0]->type == REDIS_REPLY_STRING &&
		      r->element[0]->len == 3 &&
		      !memcmp(r->element[0]->str, "-10", 3), "MGET[0]");
		CHECK(r->element[1]->type == REDIS_REPLY_NIL, "MGET[1] %s",
		      type_name(r->element[1]->type));
		CHECK(r->element[2]->type == REDIS_REPLY_STRING &&
		      r->element[2]->len == 1 && r->element[2]->str[0] == '2',
		      "MGET[2]");
	}
	if (r)
		freeReplyObject(r);
	expect(cmd("DEL hr:a hr:b hr:a"), REDIS_REPLY_INTEGER, NULL, 0, 2,
	       "DEL");
	end();
}

int main(int argc, char **argv)
{
	const char *host;
	int port;

	if (argc != 3) {
		fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	if (reconnect(host, port) != 0) {
		printf("not ok 1 - connect to %s:%d\n1..1\n0 passed, 1 failed\n",
		       host, port);
		return 2;
	}
	begin("FLUSHDB");
	expect(cmd("FLUSHDB"), REDIS_REPLY_STATUS, S("OK"), 0, "FLUSHDB");
	end();

	t_ping();
	t_pipeline_1000();
	t_pipeline_with_errors();
	t_binary_safe();
	t_one_mib();
	t_errors();
	t_integers_arrays();

	/* a case that broke the connection must not hide the rest */
	if (c->err && reconnect(host, port) != 0)
		n_failed++;
	begin("FLUSHDB at the end");
	expect(cmd("FLUSHDB"), REDIS_REPLY_STATUS, S("OK"), 0, "FLUSHDB");
	end();
	redisFree(c);
	printf("1..%d\n%d passed, %d failed\n", n_run, n_run - n_failed,
	       n_failed);
	return n_failed ? 1 : 0;
}
