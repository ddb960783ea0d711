/*
 * Redis front end, connection side: reading requests, running commands,
 * fetching whole values, and sending replies in request order (see
 * resp_int.h for the command model).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "proxy/resp_int.h"

#define CMDS_PER_PASS 64      /* fairness: requests read per wake-up */
#define HINT_MAX (4u << 20)   /* largest first read a size hint asks for */
#define DIRECT_GROW (16u << 20) /* a declared request up to this size gets
				   its whole buffer at once */
#define PROBE (16u * 1024)    /* a value's first read; longer ones take a
				 second read of exactly the rest */
#define FETCH_TRIES 16        /* re-reads of a value replaced meanwhile */
#define RACE_TRIES 1000       /* read-modify-write rounds lost to others */

/* ---- replies ------------------------------------------------------------ */

void ro_raw(struct rout *o, const void *p, size_t len)
{
	if (o->oom || !len) /* p may be NULL then */
		return;
	if (o->len + len > o->cap) {
		size_t cap = FR_MAX(o->cap * 2, o->len + len + 64);
		uint8_t *b = realloc(o->b, cap);
		if (!b) {
			o->oom = 1;
			return;
		}
		o->b = b;
		o->cap = cap;
	}
	memcpy(o->b + o->len, p, len);
	o->len += len;
}

static void ro_vfmt(struct rout *o, const char *fmt, va_list ap)
{
	char small[256], *s = small;
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= (int)sizeof(small) && (s = malloc((size_t)n + 1)))
		vsnprintf(s, (size_t)n + 1, fmt, aq);
	va_end(aq);
	if (n < 0 || !s) {
		o->oom = 1;
		return;
	}
	ro_raw(o, s, (size_t)n);
	if (s != small)
		free(s);
}

void ro_fmt(struct rout *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ro_vfmt(o, fmt, ap);
	va_end(ap);
}

void ro_ok(struct rcmd *c)
{
	ro_raw(&c->out, "+OK\r\n", 5);
}

/* "-" + the text with CR and LF made spaces, as Redis does. */
void ro_err(struct rcmd *c, const char *fmt, ...)
{
	size_t start = c->out.len + 1;
	va_list ap;

	ro_raw(&c->out, "-", 1);
	va_start(ap, fmt);
	ro_vfmt(&c->out, fmt, ap);
	va_end(ap);
	if (c->out.oom)
		return;
	for (size_t i = start; i < c->out.len; i++)
		if (c->out.b[i] == '\r' || c->out.b[i] == '\n')
			c->out.b[i] = ' ';
	ro_raw(&c->out, "\r\n", 2);
}

void ro_int(struct rcmd *c, long long v)
{
	ro_fmt(&c->out, ":%lld\r\n", v);
}

void ro_bulk_to(struct rout *o, const void *p, size_t len)
{
	ro_fmt(o, "$%zu\r\n", len);
	ro_raw(o, p, len);
	ro_raw(o, "\r\n", 2);
}

void ro_bulk(struct rcmd *c, const void *p, size_t len)
{
	ro_bulk_to(&c->out, p, len);
}

void ro_append(struct rcmd *c, struct rout *body)
{
	ro_raw(&c->out, body->b, body->len);
	c->out.oom |= body->oom;
	free(body->b);
	*body = (struct rout){0};
}

void ro_str(struct rcmd *c, const char *s)
{
	ro_bulk(c, s, strlen(s));
}

void ro_null(struct rcmd *c)
{
	struct resp *rs = c->pc->resp;

	if (rs->resp3)
		ro_raw(&c->out, "_\r\n", 3);
	else
		ro_raw(&c->out, "$-1\r\n", 5);
}

void ro_array(struct rcmd *c, size_t n)
{
	ro_fmt(&c->out, "*%zu\r\n", n);
}

void ro_map(struct rcmd *c, size_t n)
{
	if (c->pc->resp->resp3)
		ro_fmt(&c->out, "%%%zu\r\n", n);
	else
		ro_fmt(&c->out, "*%zu\r\n", n * 2);
}

void ro_bulk_owned(struct rcmd *c, uint8_t *buf, size_t len)
{
	for (unsigned i = 0; i < c->nbufs; i++)
		if (c->bufs[i].p == buf)
			c->bufs[i].p = NULL; /* the reply owns it now */
	ro_fmt(&c->out, "$%zu\r\n", len);
	buf[len] = '\r';
	buf[len + 1] = '\n';
	c->tail = buf;
	c->tail_len = len + 2;
}

/* ---- commands ------------------------------------------------------------- */

uint8_t *rc_buf(fr_proxy *px, struct rcmd *c, size_t len)
{
	struct rbuf *bufs = realloc(c->bufs, (c->nbufs + 1) * sizeof(*bufs));
	uint8_t *b;

	if (!bufs)
		return NULL;
	c->bufs = bufs;
	b = malloc(len ? len : 1);
	if (!b)
		return NULL;
	c->bufs[c->nbufs++] = (struct rbuf){b, len};
	c->held += len;
	px->buffered += len; /* taken, not asked: a command's own reads */
	return b;
}

void rc_drop_bufs(fr_proxy *px, struct rcmd *c)
{
	for (unsigned i = 0; i < c->nbufs; i++) {
		free(c->bufs[i].p);
		c->held -= c->bufs[i].len;
		fr_pconn_release(px, c->bufs[i].len);
	}
	c->nbufs = 0;
}

ferry_op *rc_op(struct rcmd *c)
{
	if (c->ops_step != c->step) {
		c->nops = 0;
		c->ops_step = c->step;
	}
	if (c->nops == c->opcap) {
		unsigned cap = c->opcap ? c->opcap * 2 : 4;
		struct rop *ops = realloc(c->ops, cap * sizeof(*ops));
		if (!ops)
			return NULL;
		c->ops = ops;
		c->opcap = cap;
	}
	memset(&c->ops[c->nops], 0, sizeof(c->ops[0]));
	c->ops[c->nops].pp.rcmd = c;
	c->ops[c->nops].pp.conn = c->pc;
	return &c->ops[c->nops++].pp.op;
}

static void rc_free(fr_proxy *px, struct rcmd *c)
{
	ferry_keys_free(c->keys);
	free(c->body.b);
	rc_drop_bufs(px, c);
	fr_pconn_release(px, c->held);
	free(c->bufs);
	free(c->tail);
	free(c->ops);
	free(c->out.b);
	free(c->argv);
	free(c->req);
	free(c);
}

static void submit(fr_proxy *px, struct rcmd *c, struct pop *pp)
{
	c->pc->inflight++;
	fr_proxy_submit(px, pp);
}

/* Runs the handler until a step starts operations or the command ends.
 * Operations that finish while being started (rejected at once) only
 * count down: a guard in pending keeps this loop the one that goes on. */
void rc_again(struct rcmd *c)
{
	c->again = 1;
}

void rc_wait_login(struct rcmd *c)
{
	c->login = 1;
}

static void advance(fr_proxy *px, struct rcmd *c)
{
	for (;;) {
		int step = c->step;
		c->def->fn(px, c);
		if (c->again && ++c->tries <= RACE_TRIES) {
			c->again = 0;
			c->step = 0;
			c->ops_step = -1;
			continue;
		}
		if (c->again)
			ro_err(c, "ERR ferry: gave up after %d races with "
				  "other writers", RACE_TRIES);
		if (c->out.oom) {
			free(c->out.b);
			c->out = (struct rout){0};
			ro_err(c, "ERR out of memory in ferry-proxy");
			c->finished = 1;
			return;
		}
		if (c->login) {
			/* Paused, the connection reads nothing more, and
			 * fr_pconn_resume comes back to it once the answer is
			 * in: fr_resp_read runs the command again. */
			c->login = 0;
			c->pending = 1;
			c->pc->resp->login = c;
			fr_pconn_pause(px, c->pc);
			return;
		}
		if (c->waiting) { /* answered() runs it again */
			c->waiting = 0;
			if (c->answered)
				continue; /* answered while it started */
			c->pending = 1;
			return;
		}
		if (c->again || c->ops_step != step || c->nops == 0) {
			c->finished = 1;
			return;
		}
		c->step = step + 1;
		c->pending = c->nops + 1;
		for (unsigned i = 0; i < c->nops; i++)
			submit(px, c, &c->ops[i].pp);
		if (--c->pending)
			return;
	}
}

/* A GET whose value was longer than what it read goes on for the rest,
 * into a buffer of the whole size; one whose value changed between the
 * reads starts over. Returns 1 when it was sent again. */
static int fetch_more(fr_proxy *px, struct rcmd *c, struct rop *ro)
{
	ferry_op *op = &ro->pp.op;
	size_t have = (size_t)op->offset + op->result, size;
	int changed = op->status == FERRY_ECHANGED ||
		      (op->offset && (op->status == FERRY_ERANGE ||
				      (op->status == 0 &&
				       op->stat.version != ro->version)));

	if (!ro->fetch)
		return 0;
	if (changed && c->refetches++ < FETCH_TRIES) {
		op->offset = 0; /* replaced between the reads: again */
		op->buf = ro->base;
		op->len = ro->cap;
		op->status = 0;
		submit(px, c, &ro->pp);
		return 1;
	}
	size = (size_t)op->stat.size;
	if (!op->status && c->def->last == 1)
		c->pc->resp->size_hint = FR_MIN(size, (size_t)HINT_MAX);
	if (op->status || have >= size) {
		op->buf = ro->base;
		op->result = op->status ? 0 : have;
		op->offset = 0;
		return 0;
	}
	if (size > ro->cap) {
		uint8_t *b = rc_buf(px, c, size + 2);
		if (!b) {
			op->status = FERRY_ENOMEM;
			return 0;
		}
		memcpy(b, ro->base, have);
		ro->base = b;
		ro->cap = size;
	}
	ro->version = op->stat.version;
	op->offset = have;
	op->buf = ro->base + have;
	op->len = size - have;
	submit(px, c, &ro->pp);
	return 1;
}

ferry_op *rc_fetch(fr_proxy *px, struct rcmd *c, const struct rarg *key)
{
	ferry_op *op = rc_op(c);
	struct rop *ro;

	if (!op)
		return NULL;
	ro = &c->ops[c->nops - 1];
	op->opcode = FERRY_OP_GET;
	op->key = key->p;
	op->klen = key->len;
	/* A single-key command reads as much as the connection's last value
	 * at once (clients often read the same kind of value again), so a
	 * large value usually takes one read, not two. */
	ro->cap = c->def->last == 1 ? FR_MAX(PROBE, c->pc->resp->size_hint)
				    : PROBE;
	op->buf = ro->base = rc_buf(px, c, ro->cap + 2);
	op->len = ro->cap;
	ro->fetch = 1;
	if (!op->buf) {
		c->nops--;
		return NULL;
	}
	return op;
}

/* ---- ordering ----------------------------------------------------------------- */

/* Commands of one connection run concurrently as long as the outcome is
 * the one Redis gives running them one after the other: a command waits
 * for every earlier unfinished one it shares a key with, if either
 * writes; a barrier (the whole keyspace, or the connection's state) waits
 * for earlier writes and later writes wait for it; a writing barrier
 * waits for everything. As in Redis Cluster, writes to different keys
 * pipelined without waiting for their replies may become visible to
 * others in either order. */
#define ORDER_KEYS 64 /* past this many keys, compare no more: conflict */

static size_t key_span(const struct rcmd *c, size_t *first, size_t *last)
{
	const struct rdef *d = c->def;

	if (!d || !d->first || (size_t)d->first >= c->argc)
		return 0;
	*first = (size_t)d->first;
	*last = d->last < 0 ? c->argc - 1
			    : FR_MIN((size_t)d->last, c->argc - 1);
	return (*last - *first) / (size_t)d->step + 1;
}

static int conflict(const struct rcmd *a, const struct rcmd *b)
{
	unsigned fa = a->def->flags, fb = b->def->flags;
	size_t af, al, bf, bl, na, nb;

	if (!((fa | fb) & RC_W))
		return 0; /* two readers */
	if ((fa | fb) & RC_BARRIER)
		return 1;
	na = key_span(a, &af, &al);
	nb = key_span(b, &bf, &bl);
	if (na > ORDER_KEYS || nb > ORDER_KEYS)
		return 1;
	for (size_t i = af; na && i <= al; i += (size_t)a->def->step)
		for (size_t j = bf; nb && j <= bl; j += (size_t)b->def->step)
			if (a->argv[i].len == b->argv[j].len &&
			    !memcmp(a->argv[i].p, b->argv[j].p, a->argv[i].len))
				return 1;
	return 0;
}

/* Whether c is refused as Redis refuses commands of a RESP2 subscriber
 * (after replying). Asked when c starts, not when it is read: a SUBSCRIBE
 * or UNSUBSCRIBE before it in the pipeline may still have been waiting
 * then, and has run by now (a barrier that writes: c waited for it). */
static int refused_subscribed(struct rcmd *c)
{
	struct resp *rs = c->pc->resp;

	if (!fr_resp_subscribed(rs) || rs->resp3 ||
	    c->def->fn == fr_resp_pubsub[0].fn ||
	    c->def->fn == fr_resp_pubsub[2].fn ||
	    !strcmp(c->def->name, "ping") || !strcmp(c->def->name, "quit"))
		return 0;
	ro_err(c, "ERR Can't execute '%s': only (P|S)SUBSCRIBE / "
		  "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
		  "context",
	       c->def->name);
	c->finished = 1;
	return 1;
}

/* Starts the waiting commands that no earlier unfinished one holds back. */
static void start_ready(fr_proxy *px, struct pconn *pc)
{
	struct resp *rs = pc->resp;
	int progress = 1;

	while (rs->waiting && progress && pc->state != PC_DEAD) {
		progress = 0;
		for (struct rcmd *c = rs->head; c; c = c->next) {
			struct rcmd *e;
			if (c->started || c->finished)
				continue;
			for (e = rs->head; e != c; e = e->next)
				if (!e->finished && e->def && conflict(e, c))
					break;
			if (e != c)
				continue;
			c->started = 1;
			rs->waiting--;
			if (!refused_subscribed(c))
				advance(px, c);
			progress = 1;
		}
	}
}

/* ---- the connection --------------------------------------------------------- */

/* Sends the replies of finished commands at the head of the queue. */
void fr_resp_drain(fr_proxy *px, struct pconn *pc)
{
	struct resp *rs = pc->resp;

	while (rs->head && rs->head->finished) {
		struct rcmd *c = rs->head;
		rs->head = c->next;
		if (!rs->head)
			rs->tail = NULL;
		rs->queued--;
		if (pc->state != PC_DEAD) {
			if (c->tail) {
				fr_pconn_queue(px, pc, c->out.b, c->out.len,
					       c->tail, c->tail_len);
				c->tail = NULL;
			} else {
				fr_pconn_queue(px, pc, NULL, 0, c->out.b,
					       c->out.len);
				c->out.b = NULL;
			}
		}
		rc_free(px, c);
	}
}

void fr_resp_enqueue(struct resp *rs, struct rcmd *c)
{
	if (rs->tail)
		rs->tail->next = c;
	else
		rs->head = c;
	rs->tail = c;
	rs->queued++;
}

/* A protocol error: its reply goes after those of earlier requests, then
 * the connection closes, as in Redis. */
static void protocol_error(fr_proxy *px, struct pconn *pc)
{
	struct rcmd *c = calloc(1, sizeof(*c));

	pc->resp->closing = 1;
	pc->closing = 1;
	fr_pconn_pause(px, pc); /* reads nothing more */
	if (!c) {
		fr_pconn_kill(px, pc, "out of memory");
		return;
	}
	c->pc = pc;
	c->finished = 1;
	ro_err(c, "ERR %s", pc->resp->ps.err);
	fr_resp_enqueue(pc->resp, c);
}

static void run(fr_proxy *px, struct pconn *pc, uint8_t *req, size_t held)
{
	struct resp *rs = pc->resp;
	struct fr_resp_parser *ps = &rs->ps;
	struct rcmd *c = calloc(1, sizeof(*c));

	if (!c || !(c->argv = malloc(ps->argc * sizeof(*c->argv)))) {
		free(c);
		fr_pconn_release(px, held);
		free(req);
		fr_pconn_kill(px, pc, "out of memory");
		return;
	}
	c->pc = pc;
	c->req = req;
	c->held = held;
	c->argc = ps->argc;
	c->ops_step = -1;
	for (size_t i = 0; i < ps->argc; i++)
		c->argv[i] = (struct rarg){req + ps->args[i].off,
					   ps->args[i].len};
	fr_resp_enqueue(rs, c);
	px->ops++;
	c->def = fr_resp_lookup(&c->argv[0], NULL);
	if (!c->def) {
		fr_resp_unknown(c, NULL);
		c->finished = 1;
		return;
	}
	if (c->def->sub && c->argc >= 2) {
		const struct rdef *s = fr_resp_lookup(&c->argv[1], c->def);
		if (!s) {
			fr_resp_unknown(c, c->def);
			c->finished = 1;
			return;
		}
		c->def = s;
	}
	if (c->def->arity > 0 ? c->argc != (size_t)c->def->arity
			      : c->argc < (size_t)-c->def->arity) {
		ro_err(c, "ERR wrong number of arguments for '%s' command",
		       c->def->name);
		c->finished = 1;
		return;
	}
	/* As Redis with a password: after the name and arity checks. An
	 * AUTH earlier in the pipeline has run by now: nothing before it
	 * could hold it back, since nothing else ran. */
	if (pc->role == PR_NONE && !(c->def->flags & RC_NOAUTH)) {
		ro_err(c, "NOAUTH Authentication required.");
		c->finished = 1;
		return;
	}
	rs->waiting++;
	start_ready(px, pc);
}

/* Moves the request rbuf[off, off+len) out of the read buffer; *held
 * receives the bytes of the budget it now holds. */
static uint8_t *take(fr_proxy *px, struct pconn *pc, size_t off, size_t len,
		     size_t *held)
{
	uint8_t *req;

	if (off == 0 && len == pc->rlen) {
		/* The buffer holds nothing else: it becomes the request,
		 * with the room it had in the budget. */
		req = pc->rbuf;
		*held = pc->rcap;
		pc->rbuf = NULL;
		pc->rcap = pc->rlen = 0;
	} else if ((req = malloc(len ? len : 1))) {
		memcpy(req, pc->rbuf + off, len);
		*held = len;
		px->buffered += len;
	}
	return req;
}

/* The command's operations (or its listing) ended: its handler goes on,
 * and the replies now due go out. */
static void resume(fr_proxy *px, struct rcmd *c)
{
	struct pconn *pc = c->pc;

	advance(px, c);
	if (c->finished)
		start_ready(px, pc);
	fr_resp_drain(px, pc);
	fr_pconn_flush(px, pc);
	if (pc->state == PC_PAUSED)
		px->wake = 1; /* it may wait for fewer commands queued */
}

/* The command that waited for its login goes on, now that the servers
 * answered. */
static void login_answered(fr_proxy *px, struct pconn *pc)
{
	struct rcmd *c = pc->resp->login;

	pc->resp->login = NULL;
	c->pending = 0;
	resume(px, c);
}

void fr_resp_read(fr_proxy *px, struct pconn *pc)
{
	struct resp *rs = pc->resp;
	size_t off = 0; /* requests before off are taken */

	if (rs->login && !fr_tenant_asking(pc))
		login_answered(px, pc);
	for (int cmds = 0; !rs->closing && pc->state == PC_OPEN;) {
		int r;

		if (rs->login) {
			/* Later commands wait for the login's outcome: NOAUTH
			 * or not is decided when they are read. */
			fr_pconn_pause(px, pc);
			break;
		}

		if (fr_tenant_hold(px, pc)) {
			fr_pconn_pause(px, pc); /* over its namespace's limits */
			break;
		}
		/* No buffer after take() handed the last one over. */
		r = fr_resp_parse(&rs->ps, pc->rbuf ? pc->rbuf + off : NULL,
				  pc->rlen - off, px->o.resp_max_request);
		if (r == FR_RESP_DONE) {
			size_t len = rs->ps.pos;
			if (rs->ps.argc == 0) { /* empty: nothing to run */
				off += len;
				fr_resp_parser_next(&rs->ps);
				continue;
			}
			size_t held;
			uint8_t *req = take(px, pc, off, len, &held);
			off = pc->rbuf ? off + len : 0;
			if (!req) {
				fr_pconn_kill(px, pc, "out of memory");
				break;
			}
			run(px, pc, req, held);
			fr_resp_parser_next(&rs->ps);
			if (pc->state == PC_DEAD)
				return;
			if (++cmds == CMDS_PER_PASS) {
				fr_pconn_later(px, pc);
				break;
			}
			if (pc->inflight >= px->o.conn_inflight ||
			    rs->queued >= px->o.conn_inflight ||
			    pc->wq_bytes > FR_PCONN_WQ_PAUSE) {
				fr_pconn_pause(px, pc);
				break;
			}
			continue;
		}
		if (r == FR_RESP_ERROR) {
			protocol_error(px, pc);
			break;
		}
		if (rs->ps.need + rs->ps.argc * sizeof(*rs->ps.args) >
		    px->o.resp_max_request) {
			snprintf(rs->ps.err, sizeof(rs->ps.err),
				 "Protocol error: request larger than "
				 "--resp-max-request");
			protocol_error(px, pc);
			break;
		}
		/* More bytes needed: keep only the unfinished request, and
		 * grow the buffer at most twofold per read so that a
		 * declared length costs memory only as bytes arrive. */
		if (off) {
			memmove(pc->rbuf, pc->rbuf + off, pc->rlen - off);
			pc->rlen -= off;
			off = 0;
		}
		size_t want = FR_MAX(rs->ps.need, pc->rlen + 4096);
		if (want > DIRECT_GROW) /* grow as bytes come, not as declared */
			want = FR_MIN(want, FR_MAX(pc->rcap * 2,
						   (size_t)DIRECT_GROW));
		want = FR_MAX(want, pc->rlen + 1);
		int rc = want > pc->rcap ? fr_pconn_reserve(px, pc, want) : 0;
		if (rc < 0) {
			fr_pconn_kill(px, pc, "out of memory");
			return;
		}
		if (rc) {
			rs->need = want; /* fr_pconn_resume looks at it */
			fr_pconn_pause(px, pc); /* no room in the budget yet */
			break;
		}
		int got = fr_pconn_recv(px, pc);
		if (got <= 0)
			break;
	}
	if (off && pc->rbuf) {
		memmove(pc->rbuf, pc->rbuf + off, pc->rlen - off);
		pc->rlen -= off;
	}
	if (pc->state == PC_DEAD)
		return;
	fr_resp_drain(px, pc);
	fr_pconn_flush(px, pc);
}

void fr_resp_complete(fr_proxy *px, struct pop *pp)
{
	struct rcmd *c = pp->rcmd;
	struct pconn *pc = c->pc;

	pc->inflight--;
	if (pc->state != PC_DEAD && fetch_more(px, c, (struct rop *)pp))
		return;
	if (--c->pending)
		return;
	if (pc->state == PC_DEAD)
		return; /* freed with the connection */
	resume(px, c);
}

/* A call of a command, under way. */
struct rcall {
	fr_proxy *px;
	struct rcmd *c;
};

/* The call's answer is in: the command's step runs again (unless it is
 * still starting the call, which then goes on at once). */
static void answered(struct rcall *l, int status)
{
	fr_proxy *px = l->px;
	struct rcmd *c = l->c;
	struct pconn *pc = c->pc;

	free(l);
	pc->inflight--;
	if (pc->state == PC_DEAD) /* the command goes with it */
		return;
	c->answer_rc = status;
	c->answered = 1;
	if (!c->starting && !--c->pending)
		resume(px, c);
}

static void rc_listed(void *arg, int status, ferry_keys *keys)
{
	struct rcall *l = arg;

	fr_proxy_fan_end(l->px);
	l->c->keys = keys; /* freed with the command if unused */
	answered(l, status);
}

static void rc_counted(void *arg, int status, uint64_t id,
		       const ferry_ns_info *info)
{
	struct rcall *l = arg;

	l->c->answer_n = status ? 0 : info->keys;
	answered(l, status);
}

/* Marks c as waiting for a call; NULL when out of memory. */
static struct rcall *call_begin(fr_proxy *px, struct rcmd *c)
{
	struct rcall *l = malloc(sizeof(*l));

	if (!l)
		return NULL;
	*l = (struct rcall){px, c};
	c->pc->inflight++;
	c->waiting = 1;
	c->starting = 1;
	return l;
}

/* The call started (rc 0: its callback runs, and may have run already,
 * freeing l) or did not (l is freed here). Returns rc. */
static int call_end(struct rcmd *c, struct rcall *l, int rc)
{
	c->starting = 0;
	if (rc) {
		c->pc->inflight--;
		c->waiting = 0;
		free(l);
	}
	return rc;
}

int rc_list(fr_proxy *px, struct rcmd *c, fr_msg *m, unsigned max)
{
	struct rcall *l = call_begin(px, c);

	if (!l)
		return FERRY_ENOMEM;
	return call_end(c, l, fr_proxy_list_start(px, m, -1, max, rc_listed, l));
}

int rc_count(fr_proxy *px, struct rcmd *c)
{
	struct rcall *l = call_begin(px, c);

	if (!l)
		return FERRY_ENOMEM;
	return call_end(c, l,
			fr_tenant_keys_start(px, c->pc, rc_counted, l));
}

void fr_resp_free(fr_proxy *px, struct pconn *pc)
{
	struct resp *rs = pc->resp;

	while (rs->head) {
		struct rcmd *c = rs->head;
		rs->head = c->next;
		rc_free(px, c);
	}
	fr_resp_parser_free(&rs->ps);
	fr_resp_subs_free(rs);
	free(rs->name);
	free(rs);
	pc->resp = NULL;
}
