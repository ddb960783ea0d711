/*
 * libFuzzer target: the RESP request parser (fr_resp_parse), which reads
 * whatever a Redis client sends. Each input is parsed twice, request after
 * request: once with all its bytes at hand, once with the bytes arriving
 * in pieces (sizes taken from the input), resuming after every
 * FR_RESP_MORE as the proxy does. Both must tell the same story: the same
 * requests with the same arguments, then the same error or the same
 * unfinished request. Also checked: every argument lies inside its
 * request, a request is never empty, and nothing is read outside the
 * buffer (AddressSanitizer).
 *
 * Input: byte 0 picks the largest bulk length (so that "invalid bulk
 * length" is reachable), byte 1 the piece sizes; the rest is the stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/resp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a parse said, written out so that two runs compare with memcmp. */
struct story {
	uint8_t *b;
	size_t len, cap;
};

static void tell(struct story *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		if (!(s->b = realloc(s->b, s->cap)))
			abort();
	}
	memcpy(s->b + s->len, p, n);
	s->len += n;
}

/* Parses buf[0..size) request by request. piece == 0: all bytes at once;
 * else bytes arrive 1 + (piece * k) % 61 at a time. */
static void parse(uint8_t *buf, size_t size, uint64_t max_bulk, unsigned piece,
		  struct story *s)
{
	struct fr_resp_parser p = {0};
	size_t off = 0, avail = piece ? 0 : size;

	for (unsigned k = 1;; k++) {
		int r = fr_resp_parse(&p, buf + off, avail - off, max_bulk);
		if (r == FR_RESP_DONE) {
			if (p.pos == 0 || p.pos > avail - off)
				abort();
			tell(s, "D", 1);
			tell(s, &p.argc, sizeof(p.argc));
			for (size_t i = 0; i < p.argc; i++) {
				const struct fr_resp_arg *a = &p.args[i];
				if (a->off > p.pos || a->len > p.pos - a->off)
					abort();
				tell(s, &a->len, sizeof(a->len));
				tell(s, buf + off + a->off, a->len);
			}
			off += p.pos;
			fr_resp_parser_next(&p);
		} else if (r == FR_RESP_ERROR) {
			tell(s, "E", 1);
			tell(s, p.err, strlen(p.err));
			break;
		} else if (r == FR_RESP_MORE) {
			if (p.need == 0)
				abort();
			if (avail == size) {
				tell(s, "M", 1);
				break;
			}
			avail += 1 + (piece * k) % 61;
			if (avail > size)
				avail = size;
		} else {
			abort();
		}
	}
	fr_resp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct story whole = {0}, pieces = {0};
	uint8_t *a, *b;
	uint64_t max_bulk;

	if (size < 2)
		return 0;
	max_bulk = data[0] < 255 ? data[0] * 7u : 512u * 1024 * 1024;
	size -= 2;
	/* Exact-size copies (the parser unquotes inline requests in place). */
	if (!(a = malloc(size ? size : 1)) || !(b = malloc(size ? size : 1)))
		abort();
	memcpy(a, data + 2, size);
	memcpy(b, data + 2, size);
	parse(a, size, max_bulk, 0, &whole);
	parse(b, size, max_bulk, data[1] | 1u, &pieces);
	if (whole.len != pieces.len || memcmp(whole.b, pieces.b, whole.len))
		abort();
	free(whole.b);
	free(pieces.b);
	free(a);
	free(b);
	return 0;
}
