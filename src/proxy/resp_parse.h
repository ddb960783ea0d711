/*
 * The RESP request parser of the proxy's Redis front end. It takes bytes
 * and a length, trusts no count or length from the wire, and can resume:
 * a request that arrives in pieces is not parsed again from its start.
 * Both request forms Redis accepts are understood: multibulk
 * ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline ("GET k\r\n", with
 * Redis's quoting rules). Error texts are Redis 7's, word for word, so
 * client libraries see what they expect.
 */
#ifndef FR_RESP_PARSE_H
#define FR_RESP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define FR_RESP_INLINE_MAX (64u * 1024) /* Redis PROTO_INLINE_MAX_SIZE */

/* One argument: bytes [off, off+len) of the request. */
struct fr_resp_arg {
	size_t off, len;
};

struct fr_resp_parser {
	size_t pos;        /* bytes of the current request parsed so far */
	long long left;    /* multibulk: arguments still to come */
	int multibulk;     /* the current request is multibulk */
	struct fr_resp_arg *args;
	size_t argc, argcap;
	size_t need;       /* after FR_RESP_MORE: the request is at least
			      this long (grows as headers are read) */
	char err[80];      /* after FR_RESP_ERROR: Redis's text, no "ERR " */
};

enum { FR_RESP_ERROR = -1, FR_RESP_MORE = 0, FR_RESP_DONE = 1 };

/* Parses the request at the start of buf[0..len). Returns FR_RESP_DONE
 * when a whole request is there: it spans buf[0..p->pos) and its arguments
 * are p->args[0..p->argc) (argc may be 0: an empty request to skip);
 * FR_RESP_MORE when more bytes are needed (p keeps its place; call again
 * with the same bytes and more); FR_RESP_ERROR on a protocol error (p->err
 * says which; the connection must be closed after replying). Inline
 * arguments are unquoted in place, so buf is written to. max_bulk bounds a
 * bulk length; a multibulk count may reach INT_MAX, as in Redis: the
 * caller bounds a request's memory (p->need and p->argc). */
int fr_resp_parse(struct fr_resp_parser *p, uint8_t *buf, size_t len,
		  uint64_t max_bulk);

/* Forgets the request just returned, keeping the argument array. */
void fr_resp_parser_next(struct fr_resp_parser *p);
void fr_resp_parser_free(struct fr_resp_parser *p);

#endif
