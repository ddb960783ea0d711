/*
 * The proxy's Redis front end: connections (resp.c) and commands
 * (resp_cmd.c). A RESP connection is a proxy connection (struct pconn)
 * whose bytes are RESP instead of ferry frames; it shares the proxy's
 * write queue, buffer budget and connection life cycle.
 *
 * Each request becomes a command (struct rcmd) queued on its connection.
 * A command runs as a small state machine: its handler is called at step
 * 0, may start operations of the warm client, and is called again with
 * the next step once they have all finished; a step that starts nothing
 * ends the command. Commands of a connection run concurrently, but their
 * replies leave in request order (pipelining).
 */
#ifndef FR_RESP_INT_H
#define FR_RESP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proxy/proxy_int.h"
#include "proxy/resp_parse.h"

/* Reply bytes being built. */
struct rout {
	uint8_t *b;
	size_t len, cap;
	int oom;
};

struct rarg {
	const uint8_t *p;
	size_t len;
};

/* An operation of a command. */
struct rop {
	struct pop pp;    /* first: completions hand it back */
	int fetch;        /* a whole-value read (rc_fetch) */
	uint8_t *base;    /* its buffer, with 2 bytes spare for a CRLF */
	size_t cap;       /* bytes it holds, less those 2 */
	uint64_t version; /* of the part read so far */
};

struct rcmd;
typedef void rhandler(fr_proxy *px, struct rcmd *c);

/* Command flags: what a command must wait for (see resp.c, ordering). */
#define RC_W 0x1       /* writes */
#define RC_BARRIER 0x2 /* touches the whole keyspace or the connection */
#define RC_NOAUTH 0x4  /* runs before AUTH where a token is needed */

struct rdef {
	const char *name; /* lower case, as Redis names it in errors */
	rhandler *fn;
	int arity;        /* argc including the name; negative: at least */
	unsigned flags;   /* RC_* */
	int first, last, step; /* its key arguments, as in Redis (last -1:
				  to the end; first 0: none) */
	const struct rdef *sub; /* subcommands (CLIENT, COMMAND) */
};

struct rcmd {
	struct rcmd *next;
	struct pconn *pc;
	const struct rdef *def;
	size_t argc;
	struct rarg *argv;
	uint8_t *req;      /* the request's bytes, which argv points into */
	size_t held;       /* bytes counted in the proxy's buffer budget */
	int step, ops_step;
	unsigned pending;  /* operations in flight, plus a guard while
			      starting them */
	struct rop *ops;
	unsigned nops, opcap;
	int started, finished;
	struct rout out;
	uint8_t *tail;     /* owned bulk bytes (with CRLF) sent after out */
	size_t tail_len;
	/* For handlers: values they fetched and numbers they carry. */
	struct rbuf {
		uint8_t *p;
		size_t len;
	} *bufs;
	unsigned nbufs;
	int64_t n[4];
	ferry_op saved; /* a value read in an earlier step */
	int have;
	int again;      /* start over from step 0 (rc_again) */
	int login;      /* run this step again once the login is answered
			   (rc_wait_login) */
	/* A call the handler started without waiting (rc_list, rc_count):
	 * whether its answer is in, and the answer. */
	int waiting, starting, answered, answer_rc;
	ferry_keys *keys;
	uint64_t answer_n;
	struct rout body; /* what a many-page reply gathered so far */
	int tries;      /* rounds lost to other writers */
	int refetches;  /* values re-read, replaced meanwhile */
};

struct resp {
	struct fr_resp_parser ps;
	struct rcmd *head, *tail;
	unsigned queued;
	size_t need;       /* read buffer it waits for room for (paused) */
	size_t size_hint;  /* the last value a single-key read found */
	unsigned waiting;  /* queued commands not started (ordering) */
	int resp3;
	int closing;       /* read nothing more; close once replies left */
	uint64_t id;
	char *name;
	struct rsub *subs; /* channels and patterns (resp_pubsub.c) */
	struct rcmd *login; /* the command whose login the servers are
			       asked about (rc_wait_login) */
};

/* resp.c */
void fr_resp_read(fr_proxy *px, struct pconn *pc);
/* Appends a command (a finished one: a message) to the reply order, and
 * sends the replies that are due. */
void fr_resp_enqueue(struct resp *rs, struct rcmd *c);
void fr_resp_drain(fr_proxy *px, struct pconn *pc);
void fr_resp_complete(fr_proxy *px, struct pop *pp);
void fr_resp_free(fr_proxy *px, struct pconn *pc);

/* Replies (resp.c). */
void ro_raw(struct rout *o, const void *p, size_t len);
void ro_fmt(struct rout *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ro_ok(struct rcmd *c);
void ro_err(struct rcmd *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ro_int(struct rcmd *c, long long v);
void ro_bulk(struct rcmd *c, const void *p, size_t len);
void ro_bulk_to(struct rout *o, const void *p, size_t len);
/* Appends what was built apart in body (after a header that needed its
 * count) and frees body. */
void ro_append(struct rcmd *c, struct rout *body);
void ro_str(struct rcmd *c, const char *s); /* a bulk string */
void ro_null(struct rcmd *c);
void ro_array(struct rcmd *c, size_t n);
void ro_map(struct rcmd *c, size_t n);
/* Sends buf[0..len) as the whole reply without copying it; buf must have
 * room for len + 2 bytes and belongs to the command from now on. */
void ro_bulk_owned(struct rcmd *c, uint8_t *buf, size_t len);

/* Operations (resp.c). rc_op returns a zeroed op of this step (NULL when
 * out of memory); the handler's next step finds it, finished, as
 * RC_OP(c, i), i in the order of the rc_op calls. rc_fetch is an op that
 * reads the whole value of key: then its buf, result, stat and status
 * describe the whole value, and buf has room for ro_bulk_owned. rc_buf
 * returns a buffer freed with the command and charged to the proxy's
 * buffer budget, or NULL. */
ferry_op *rc_op(struct rcmd *c);
ferry_op *rc_fetch(fr_proxy *px, struct rcmd *c, const struct rarg *key);
uint8_t *rc_buf(fr_proxy *px, struct rcmd *c, size_t len);
void rc_drop_bufs(fr_proxy *px, struct rcmd *c); /* frees them now */
#define RC_WINDOW 256 /* operations a many-key command keeps in flight */
#define RC_OP(c, i) (&(c)->ops[i].pp.op)

/* The command lost a race with another writer: run it again from step 0
 * (a bounded number of times, then it fails). */
void rc_again(struct rcmd *c);
/* fr_tenant_login said FR_LOGIN_ASKING: run this step again, with nothing
 * else read from the connection meanwhile, once the servers answered. */
void rc_wait_login(struct rcmd *c);
/* Lists a page (m: a LIST of max keys) without waiting: the handler
 * returns, and runs this step again once the answer is in c->keys
 * (c->answered set, c->answer_rc its status). Returns 0, or why it could not
 * start (nothing runs again): FERRY_EBUSY while listings hold all their
 * room. */
int rc_list(fr_proxy *px, struct rcmd *c, fr_msg *m, unsigned max);
/* The same for the number of keys in the connection's namespace, over
 * all servers (c->answer_n). */
int rc_count(fr_proxy *px, struct rcmd *c);

/* resp_cmd.c: the command table, and helpers for handlers. */
const struct rdef *fr_resp_lookup(const struct rarg *name,
				  const struct rdef *sub_of);
void fr_resp_unknown(struct rcmd *c, const struct rdef *container);
int rarg_is(const struct rarg *a, const char *lower);
/* Parses a strict integer argument; replies with Redis's error and
 * returns -1 if it is not one. */
int rarg_ll(struct rcmd *c, const struct rarg *a, long long *v);
void ro_ferr(struct rcmd *c, int err); /* a FERRY_E* code as an error */
void fr_resp_scans_free(fr_proxy *px);
extern const struct rdef fr_resp_commands[];
/* Redis's glob-style match (KEYS, SCAN MATCH, PSUBSCRIBE). */
int fr_resp_glob(const struct rarg *pattern, const void *s, size_t len);

/* resp_str.c: string and key commands. */
extern const struct rdef fr_resp_strings[];

/* resp_pubsub.c: keyspace notifications. */
extern const struct rdef fr_resp_pubsub[];
int fr_resp_subscribed(const struct resp *rs);
void fr_resp_subs_free(struct resp *rs);

#endif
