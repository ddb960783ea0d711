/*
 * RESP request parsing (see resp_parse.h). Follows Redis 7's
 * processMultibulkBuffer and processInlineBuffer: the same limits, the
 * same leniency (a bulk's trailing CRLF is skipped, not checked) and the
 * same error texts.
 */
#include "proxy/resp_parse.h"

#include "common/util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(struct fr_resp_parser *p, const char *what)
{
	snprintf(p->err, sizeof(p->err), "Protocol error: %s", what);
	return FR_RESP_ERROR;
}

static int add_arg(struct fr_resp_parser *p, size_t off, size_t len)
{
	if (p->argc == p->argcap) {
		size_t cap = p->argcap ? p->argcap * 2 : 16;
		struct fr_resp_arg *a = realloc(p->args, cap * sizeof(*a));
		if (!a)
			return -1;
		p->args = a;
		p->argcap = cap;
	}
	p->args[p->argc++] = (struct fr_resp_arg){off, len};
	return 0;
}

static int hexval(uint8_t c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* Splits line[0..len) into arguments as Redis's sdssplitargs does,
 * unquoting in place. A NUL ends the line, as it ends Redis's C string.
 * Returns 0, or -1 on unbalanced quotes. */
static int split_inline(struct fr_resp_parser *p, uint8_t *line, size_t len)
{
	size_t r = 0, w;

	for (;;) {
		uint8_t quote = 0; /* the quote we are inside, or 0 */
		int done = 0;
		while (r < len && line[r] && isspace(line[r]))
			r++;
		if (r >= len || !line[r])
			return 0;
		w = r;
		size_t start = w;
		while (!done) {
			uint8_t ch = r < len ? line[r] : 0;
			uint8_t nx = r + 1 < len ? line[r + 1] : 0;
			if (quote) {
				if (quote == '"' && ch == '\\' && nx == 'x' &&
				    r + 3 < len && isxdigit(line[r + 2]) &&
				    isxdigit(line[r + 3])) {
					line[w++] = (uint8_t)(hexval(line[r + 2]) * 16 +
							      hexval(line[r + 3]));
					r += 3;
				} else if (quote == '"' && ch == '\\' && nx) {
					static const char from[] = "nrtba",
							  to[] = "\n\r\t\b\a";
					const char *e = strchr(from, nx);
					line[w++] = e ? (uint8_t)to[e - from] : nx;
					r++;
				} else if (quote == '\'' && ch == '\\' &&
					   nx == '\'') {
					line[w++] = '\'';
					r++;
				} else if (ch == quote) {
					/* A closing quote ends the argument. */
					if (nx && !isspace(nx))
						return -1;
					done = 1;
				} else if (!ch) {
					return -1; /* unterminated */
				} else {
					line[w++] = ch;
				}
			} else {
				switch (ch) {
				case ' ': case '\n': case '\r': case '\t':
				case '\0':
					done = 1;
					break;
				case '"':
				case '\'':
					quote = ch;
					break;
				default:
					line[w++] = ch;
				}
			}
			if (ch)
				r++;
		}
		if (add_arg(p, start, w - start))
			return -1;
	}
}

/* Lines (inline requests, count headers) are limited to
 * FR_RESP_INLINE_MAX bytes before their end, wherever the reads that
 * brought them stopped: the end is looked for in the first
 * FR_RESP_INLINE_MAX + 1 bytes only, so a line is refused or accepted
 * whether it came in one piece or many. (Redis looks in all it has read,
 * 16 KiB at a time, and so accepts some lines up to 80 KiB long.) */
static size_t line_window(size_t len)
{
	return FR_MIN(len, (size_t)FR_RESP_INLINE_MAX + 1);
}

static int parse_inline(struct fr_resp_parser *p, uint8_t *buf, size_t len)
{
	uint8_t *nl = memchr(buf, '\n', line_window(len));
	size_t end;

	if (!nl) {
		if (len > FR_RESP_INLINE_MAX)
			return fail(p, "too big inline request");
		p->need = len + 1;
		return FR_RESP_MORE;
	}
	end = (size_t)(nl - buf);
	p->pos = end + 1;
	if (end && buf[end - 1] == '\r')
		end--;
	if (split_inline(p, buf, end)) {
		p->argc = 0;
		return fail(p, "unbalanced quotes in request");
	}
	return FR_RESP_DONE;
}

/* The number after the type byte of the line at buf[p->pos..len), ending
 * in '\r' (Redis looks for the CR and assumes the LF). Returns 1 with the
 * line consumed, 0 when it is incomplete, -1 when it is too long. */
static int header(struct fr_resp_parser *p, const uint8_t *buf, size_t len,
		  int *ok, long long *v)
{
	const uint8_t *s = buf + p->pos;
	const uint8_t *cr = memchr(s, '\r', line_window(len - p->pos));

	if (!cr)
		return len - p->pos > FR_RESP_INLINE_MAX ? -1 : 0;
	if ((size_t)(cr - s) + 2 > len - p->pos)
		return 0;
	*ok = fr_strict_ll(s + 1, (size_t)(cr - s) - 1, v);
	p->pos += (size_t)(cr - s) + 2;
	return 1;
}

int fr_resp_parse(struct fr_resp_parser *p, uint8_t *buf, size_t len,
		  uint64_t max_bulk)
{
	long long v = 0;
	int ok = 0, h;

	if (len == 0) {
		p->need = 1;
		return FR_RESP_MORE;
	}
	if (p->pos == 0) {
		if (buf[0] != '*')
			return parse_inline(p, buf, len);
		h = header(p, buf, len, &ok, &v);
		if (h < 0)
			return fail(p, "too big mbulk count string");
		if (h == 0) {
			p->need = len + 1;
			return FR_RESP_MORE;
		}
		if (!ok || v > INT_MAX)
			return fail(p, "invalid multibulk length");
		p->multibulk = 1;
		p->left = v; /* <= 0: an empty request */
	}
	while (p->left > 0) {
		size_t at = p->pos;
		h = at < len ? header(p, buf, len, &ok, &v) : 0;
		if (h < 0)
			return fail(p, "too big bulk count string");
		if (h == 0) {
			p->need = len + 1;
			return FR_RESP_MORE;
		}
		/* The type byte counts once the whole line is there. */
		if (buf[at] != '$') {
			char what[40];
			snprintf(what, sizeof(what), "expected '$', got '%c'",
				 buf[at]);
			return fail(p, what);
		}
		if (!ok || v < 0 || (uint64_t)v > max_bulk)
			return fail(p, "invalid bulk length");
		if (len - p->pos < (uint64_t)v + 2) {
			/* Come back when the whole bulk is there. */
			p->need = p->pos + (size_t)v + 2;
			p->pos = at;
			return FR_RESP_MORE;
		}
		if (add_arg(p, p->pos, (size_t)v))
			return fail(p, "out of memory");
		p->pos += (size_t)v + 2;
		p->left--;
	}
	return FR_RESP_DONE;
}

void fr_resp_parser_next(struct fr_resp_parser *p)
{
	p->pos = 0;
	p->left = 0;
	p->multibulk = 0;
	p->argc = 0;
	p->need = 0;
}

void fr_resp_parser_free(struct fr_resp_parser *p)
{
	free(p->args);
	p->args = NULL;
	p->argcap = 0;
	fr_resp_parser_next(p);
}
