/*
 * libferry in direct mode: one fabric endpoint per client, reaching every
 * server itself.
 *
 * Requests are pipelined. Each in-flight request owns a slot with its own
 * send buffer; replies land in a shared pool of receive buffers and are
 * matched to slots by request id (slot index in the low 32 bits, the slot's
 * generation in the high 32, so a late reply to a timed-out request is
 * recognised and dropped). A slot is recycled once three things happened:
 * its operation finished (reply, error or time-out), its send buffer came
 * back (send completion), and whoever waits for it reaped it (a blocking
 * call, or ferry_poll for submitted operations).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/cluster.h"
#include "client/ring.h"
#include "common/util.h"
#include "fabric/fab.h"
#include "ferry.h"
#include "proto/wire.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_INFLIGHT 256
#define SPIN_NS 50000        /* busy-poll this long before sleeping */
#define TIMEOUT_SCAN_NS 1000000 /* look for expired requests every 1 ms */
#define GET_ALLOC_TRIES 8

struct req;
typedef int (*reply_fn)(ferry_client *c, struct req *r, const fr_msg *rep);

struct req_ctx {
	fr_ctx ctx;      /* first: completions hand it back */
	struct req *req; /* NULL for a receive buffer */
};

/* A request slot. Free, or busy until finished && sent && reaped. */
struct req {
	struct req_ctx tx;
	uint32_t index, gen;
	int busy, finished, sent, reaped, sync;
	int status;
	uint8_t opcode;
	unsigned server;
	ferry_op *op;    /* public operations */
	reply_fn on_reply;
	void *arg;       /* for on_reply of internal requests */
	fr_mr mr;        /* registration of a caller buffer for this request */
	uint8_t *sbuf;
	uint64_t deadline;
	struct req *next; /* free list or done queue */
};

struct recv_buf {
	struct req_ctx rx;
	uint8_t *buf;
};

struct region { /* memory from ferry_alloc, registered once */
	fr_mr mr;
	size_t len;
	struct region *next;
};

struct server {
	fi_addr_t fi;
	int status; /* 0 when up, else why not */
	uint64_t max_inline, max_value;
};

struct ferry_client {
	fr_fab *fab;
	fr_cluster cluster;
	fr_ring ring;
	struct server *servers;
	int timeout_ms;
	unsigned nreqs, nrecv;
	struct req *reqs, *free, *done_head, *done_tail;
	struct recv_buf *recvs;
	uint8_t *msgs;
	fr_mr msg_mr;
	struct region *regions;
	uint64_t next_scan;
};

void ferry_opts_init(ferry_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->timeout_ms = DEFAULT_TIMEOUT_MS;
	o->max_inflight = DEFAULT_INFLIGHT;
}

/* ---- slots -------------------------------------------------------------- */

static struct req *req_get(ferry_client *c, unsigned server, int sync)
{
	struct req *r = c->free;

	if (!r)
		return NULL;
	c->free = r->next;
	r->next = NULL;
	r->busy = 1;
	r->finished = r->sent = r->reaped = 0;
	r->sync = sync;
	r->status = 0;
	r->op = NULL;
	r->on_reply = NULL;
	r->arg = NULL;
	r->server = server;
	r->gen++;
	r->deadline = fr_now_ns() + (uint64_t)c->timeout_ms * 1000000;
	return r;
}

static uint64_t req_id(const struct req *r)
{
	return (uint64_t)r->gen << 32 | r->index;
}

static void req_recycle(ferry_client *c, struct req *r)
{
	if (!(r->finished && r->sent && r->reaped))
		return;
	r->busy = 0;
	r->next = c->free;
	c->free = r;
}

/* Ends r's operation with status. Closing the per-request registration
 * revokes the server's access to the caller's buffer, so a server that
 * answers after a time-out cannot write into memory the caller reused. */
static void req_finish(ferry_client *c, struct req *r, int status)
{
	if (r->finished)
		return;
	r->finished = 1;
	r->status = status;
	fr_mr_close(&r->mr);
	if (r->op)
		r->op->status = status;
	if (!r->sync) {
		if (c->done_tail)
			c->done_tail->next = r;
		else
			c->done_head = r;
		c->done_tail = r;
	}
	req_recycle(c, r);
}

static void req_reap(ferry_client *c, struct req *r)
{
	r->reaped = 1;
	req_recycle(c, r);
}

/* ---- completions -------------------------------------------------------- */

static void on_reply(ferry_client *c, struct recv_buf *rb, size_t len)
{
	fr_msg rep;
	struct req *r;
	uint32_t index;
	int rc;

	if (fr_msg_decode(rb->buf, len, &rep, NULL) ||
	    !(rep.h.flags & FR_F_REPLY))
		return; /* nothing to match it to: drop */
	index = (uint32_t)rep.h.id;
	if (index >= c->nreqs)
		return;
	r = &c->reqs[index];
	if (!r->busy || r->finished || r->gen != (uint32_t)(rep.h.id >> 32))
		return; /* late reply to a finished request */
	if (rep.h.opcode != r->opcode && rep.h.status == 0)
		rc = FERRY_EPROTO;
	else if (rep.h.status)
		rc = rep.h.status;
	else
		rc = r->on_reply(c, r, &rep);
	req_finish(c, r, rc);
}

static void on_completion(ferry_client *c, const fr_comp *cp)
{
	struct req_ctx *x = (struct req_ctx *)cp->ctx;
	struct req *r;

	if (!x)
		return;
	if (!x->req) {
		struct recv_buf *rb = (struct recv_buf *)x;
		if (!cp->err)
			on_reply(c, rb, cp->len);
		fr_fab_recv(c->fab, rb->buf, FR_MSG_SIZE, c->msg_mr.desc,
			    &rb->rx.ctx);
		return;
	}
	r = x->req;
	r->sent = 1;
	if (cp->err)
		req_finish(c, r, cp->err);
	else
		req_recycle(c, r);
}

static void expire(ferry_client *c, uint64_t now)
{
	c->next_scan = now + TIMEOUT_SCAN_NS;
	for (unsigned i = 0; i < c->nreqs; i++) {
		struct req *r = &c->reqs[i];
		if (r->busy && !r->finished && now > r->deadline)
			req_finish(c, r, FERRY_ETIMEDOUT);
	}
}

/* Drives the fabric until *flag is set, the done queue has entries (when
 * flag is NULL), or deadline (monotonic ns; 0 = none) passes. Spins for
 * SPIN_NS after the last completion, then sleeps on the queue's fd. */
static void drive(ferry_client *c, const int *flag, uint64_t deadline)
{
	uint64_t last = fr_now_ns();
	fr_comp comps[64];

	for (;;) {
		int n = fr_fab_poll(c->fab, comps, 64);
		uint64_t now;

		for (int i = 0; i < n; i++)
			on_completion(c, &comps[i]);
		now = fr_now_ns();
		if (now >= c->next_scan)
			expire(c, now);
		if (flag ? *flag : c->done_head != NULL)
			return;
		if (deadline && now >= deadline)
			return;
		if (n > 0) {
			last = now;
		} else if (now - last > SPIN_NS) {
			fr_fab_wait(c->fab, 1);
			last = fr_now_ns();
		} else {
			sched_yield(); /* see the server's loop */
		}
	}
}

static int wait_req(ferry_client *c, struct req *r)
{
	int rc;

	drive(c, &r->finished, 0);
	rc = r->status;
	req_reap(c, r);
	return rc;
}

/* ---- sending ------------------------------------------------------------ */

static int send_req(ferry_client *c, struct req *r, fr_msg *m)
{
	size_t n;
	int rc;

	m->h.id = req_id(r);
	r->opcode = m->h.opcode;
	n = fr_msg_encode(m, r->sbuf, FR_MSG_SIZE);
	rc = n ? fr_fab_send(c->fab, r->sbuf, n, c->msg_mr.desc,
			     c->servers[r->server].fi, &r->tx.ctx)
	       : FERRY_E2BIG;
	if (rc) {
		r->sent = 1; /* no completion will come */
		req_finish(c, r, rc);
	}
	return rc;
}

/* Finds the registration that lets the server reach [p, p+len): a region
 * from ferry_alloc, or a registration of the caller's buffer for this
 * request only. */
static int reach(ferry_client *c, struct req *r, void *p, size_t len,
		 uint64_t access, uint64_t *raddr, uint64_t *rkey)
{
	for (struct region *g = c->regions; g; g = g->next) {
		char *b = g->mr.base;
		if ((char *)p >= b && (char *)p + len <= b + g->len) {
			*raddr = fr_mr_raddr(&g->mr, p);
			*rkey = g->mr.key;
			return 0;
		}
	}
	if (fr_mr_reg(c->fab, p, len, access, &r->mr))
		return FERRY_EFABRIC;
	*raddr = fr_mr_raddr(&r->mr, p);
	*rkey = r->mr.key;
	return 0;
}

static int op_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	ferry_op *op = r->op;

	switch (op->opcode) {
	case FERRY_OP_GET:
		if (rep->w[FR_GET_R_GOT] > op->len)
			return FERRY_EPROTO;
		op->result = (size_t)rep->w[FR_GET_R_GOT];
		if (!(rep->h.flags & FR_F_RMA) && op->result)
			memcpy(op->buf, rep->blob[0], op->result);
		__attribute__((fallthrough)); /* GET replies carry metadata */
	case FERRY_OP_STAT:
		op->stat.size = rep->w[FR_GET_R_SIZE];
		op->stat.ctime_ns = rep->w[FR_GET_R_CTIME];
		op->stat.version = rep->w[FR_GET_R_VERSION];
		break;
	case FERRY_OP_PUT:
		op->stat.size = op->len;
		op->stat.version = rep->w[FR_PUT_R_VERSION];
		break;
	case FERRY_OP_INCR:
		op->counter = (int64_t)rep->w[FR_INCR_R_VALUE];
		break;
	default:
		break;
	}
	return 0;
}

static int check_op(const ferry_op *op)
{
	if (!op->key || op->klen < 1 || op->klen > FERRY_KEY_MAX)
		return FERRY_EINVAL;
	switch (op->opcode) {
	case FERRY_OP_PUT:
		if (op->flags & ~(FERRY_PUT_CREATE | FERRY_PUT_REPLACE) ||
		    op->flags == (FERRY_PUT_CREATE | FERRY_PUT_REPLACE))
			return FERRY_EINVAL;
		return op->len && !op->buf ? FERRY_EINVAL : 0;
	case FERRY_OP_GET:
		return op->len && !op->buf ? FERRY_EINVAL : 0;
	case FERRY_OP_DEL:
	case FERRY_OP_STAT:
	case FERRY_OP_INCR:
		return 0;
	}
	return FERRY_EINVAL;
}

static int submit(ferry_client *c, ferry_op *op, int sync, struct req **out)
{
	static const uint8_t wire_op[] = {
		[FERRY_OP_PUT] = FR_OP_PUT,   [FERRY_OP_GET] = FR_OP_GET,
		[FERRY_OP_DEL] = FR_OP_DEL,   [FERRY_OP_STAT] = FR_OP_STAT,
		[FERRY_OP_INCR] = FR_OP_INCR,
	};
	struct server *sv;
	struct req *r;
	fr_msg m;
	unsigned s;
	int rc = check_op(op);

	if (rc)
		return op->status = rc;
	s = fr_ring_pick(&c->ring, op->key, op->klen);
	sv = &c->servers[s];
	if (sv->status)
		return op->status = FERRY_EUNREACH;
	if (op->opcode == FERRY_OP_PUT && op->len > sv->max_value)
		return op->status = FERRY_E2BIG;
	r = req_get(c, s, sync);
	if (!r)
		return op->status = FERRY_EBUSY;
	r->op = op;
	r->on_reply = op_reply;
	op->status = 1; /* in flight */
	op->result = 0;
	fr_msg_init(&m, wire_op[op->opcode], 0, 0);
	m.blob[0] = op->key;
	m.w[0] = op->klen; /* every keyed request has klen as word 0 */
	switch (op->opcode) {
	case FERRY_OP_PUT:
		m.h.flags = (op->flags & FERRY_PUT_CREATE ? FR_F_CREATE : 0) |
			    (op->flags & FERRY_PUT_REPLACE ? FR_F_REPLACE : 0);
		m.w[FR_PUT_VLEN] = op->len;
		if (op->len && op->len <= sv->max_inline) {
			m.h.flags |= FR_F_INLINE;
			m.blob[1] = op->buf;
		} else if (op->len) {
			m.h.flags |= FR_F_RMA;
			rc = reach(c, r, op->buf, op->len, FI_REMOTE_READ,
				   &m.w[FR_PUT_RADDR], &m.w[FR_PUT_RKEY]);
		}
		break;
	case FERRY_OP_GET:
		m.w[FR_GET_OFFSET] = op->offset;
		m.w[FR_GET_LEN] = op->len;
		if (op->len > sv->max_inline) {
			m.h.flags |= FR_F_RMA;
			rc = reach(c, r, op->buf, op->len, FI_REMOTE_WRITE,
				   &m.w[FR_GET_RADDR], &m.w[FR_GET_RKEY]);
		}
		break;
	case FERRY_OP_INCR:
		m.w[FR_INCR_DELTA] = (uint64_t)op->delta;
		break;
	default:
		break;
	}
	/* From here on the operation is accepted: whatever happens, its
	 * outcome arrives as a completion (ferry_poll or wait_req). */
	if (rc) {
		r->sent = 1;
		req_finish(c, r, rc);
	} else {
		send_req(c, r, &m);
	}
	*out = r;
	return 0;
}

int ferry_submit(ferry_client *c, ferry_op *op)
{
	struct req *r = NULL;

	if (!c || !op)
		return FERRY_EINVAL;
	return submit(c, op, 0, &r);
}

int ferry_poll(ferry_client *c, ferry_op **done, int max, int timeout_ms)
{
	uint64_t deadline = 0;
	int n = 0;

	if (!c || !done || max < 1)
		return FERRY_EINVAL;
	if (!c->done_head && timeout_ms != 0) {
		if (timeout_ms > 0)
			deadline = fr_now_ns() + (uint64_t)timeout_ms * 1000000;
		drive(c, NULL, deadline);
	} else if (!c->done_head) {
		drive(c, NULL, fr_now_ns());
	}
	while (c->done_head && n < max) {
		struct req *r = c->done_head;
		c->done_head = r->next;
		if (!c->done_head)
			c->done_tail = NULL;
		r->next = NULL;
		done[n++] = r->op;
		req_reap(c, r);
	}
	return n;
}

/* Runs one public operation to completion. submit() hands back a slot
 * only once the request exists; a request that failed while being sent
 * is already finished, and wait_req just collects it. */
static int run_op(ferry_client *c, ferry_op *op)
{
	struct req *r = NULL;
	int rc;

	if (!c)
		return FERRY_EINVAL;
	rc = submit(c, op, 1, &r);
	return r ? wait_req(c, r) : rc;
}

int ferry_batch(ferry_client *c, ferry_op *ops, size_t n)
{
	struct req **rs;
	size_t i = 0, waited = 0;
	int first = 0;

	if (!c || (!ops && n))
		return FERRY_EINVAL;
	rs = calloc(n ? n : 1, sizeof(*rs));
	if (!rs)
		return FERRY_ENOMEM;
	/* Keep as many in flight as there are slots; when they run out,
	 * finish the oldest before submitting more. */
	while (waited < n) {
		if (i < n) {
			int rc = submit(c, &ops[i], 1, &rs[i]);
			if (rc != FERRY_EBUSY || waited == i) {
				if (rc == FERRY_EBUSY) /* no slot at all */
					rs[i] = NULL;
				i++;
				continue;
			}
		}
		if (rs[waited])
			wait_req(c, rs[waited]);
		waited++;
	}
	for (i = 0; i < n; i++)
		if (ops[i].status && !first)
			first = ops[i].status;
	free(rs);
	return first;
}

static int one(ferry_client *c, ferry_op op, ferry_op *out)
{
	int rc = run_op(c, &op);

	if (out)
		*out = op;
	return rc;
}

int ferry_put(ferry_client *c, const void *key, size_t klen, const void *val,
	      size_t vlen, unsigned flags)
{
	return one(c,
		   (ferry_op){.opcode = FERRY_OP_PUT, .key = key, .klen = klen,
			      .buf = (void *)val, .len = vlen, .flags = flags},
		   NULL);
}

int ferry_get(ferry_client *c, const void *key, size_t klen, uint64_t offset,
	      void *buf, size_t cap, size_t *got, ferry_stat *st)
{
	ferry_op op;
	int rc = one(c,
		     (ferry_op){.opcode = FERRY_OP_GET, .key = key,
				.klen = klen, .buf = buf, .len = cap,
				.offset = offset},
		     &op);

	if (got)
		*got = rc ? 0 : op.result;
	if (st && !rc)
		*st = op.stat;
	return rc;
}

int ferry_get_alloc(ferry_client *c, const void *key, size_t klen, void **val,
		    size_t *vlen)
{
	uint8_t head[FR_INLINE_MAX];
	ferry_stat st, st2;
	size_t got, got2;
	int rc;

	if (!val || !vlen)
		return FERRY_EINVAL;
	*val = NULL;
	*vlen = 0;
	/* One round trip for small values; a second, by RMA, for the rest
	 * of large ones, retried if the value was replaced in between. */
	for (int tries = 0; tries < GET_ALLOC_TRIES; tries++) {
		uint8_t *buf;

		rc = ferry_get(c, key, klen, 0, head, sizeof(head), &got, &st);
		if (rc)
			return rc;
		if (st.size > SIZE_MAX - 1)
			return FERRY_ENOMEM;
		buf = malloc(st.size ? st.size : 1);
		if (!buf)
			return FERRY_ENOMEM;
		memcpy(buf, head, got);
		if (got == st.size) {
			*val = buf;
			*vlen = got;
			return 0;
		}
		rc = ferry_get(c, key, klen, got, buf + got, st.size - got,
			       &got2, &st2);
		if (!rc && st2.version == st.version &&
		    got + got2 == st.size) {
			*val = buf;
			*vlen = st.size;
			return 0;
		}
		free(buf);
		if (rc && rc != FERRY_ENOENT && rc != FERRY_ERANGE)
			return rc;
	}
	return FERRY_ECHANGED;
}

int ferry_del(ferry_client *c, const void *key, size_t klen)
{
	return one(c, (ferry_op){.opcode = FERRY_OP_DEL, .key = key,
				 .klen = klen},
		   NULL);
}

int ferry_stat_key(ferry_client *c, const void *key, size_t klen,
		   ferry_stat *st)
{
	ferry_op op;
	int rc = one(c, (ferry_op){.opcode = FERRY_OP_STAT, .key = key,
				   .klen = klen},
		     &op);

	if (!rc && st)
		*st = op.stat;
	return rc;
}

int ferry_incr(ferry_client *c, const void *key, size_t klen, int64_t delta,
	       int64_t *result)
{
	ferry_op op;
	int rc = one(c, (ferry_op){.opcode = FERRY_OP_INCR, .key = key,
				   .klen = klen, .delta = delta},
		     &op);

	if (!rc && result)
		*result = op.counter;
	return rc;
}

/* ---- requests to every server --------------------------------------------- */

/* Sends m (id filled per server) to every server that is up, with on_reply
 * and args[i] for server i, and waits for all. Servers that are down get
 * their status in st[i]; the others get their reply's outcome. */
static void broadcast(ferry_client *c, fr_msg *m, reply_fn fn, void **args,
		      int *st)
{
	struct req **rs = calloc(c->cluster.nservers, sizeof(*rs));

	for (unsigned i = 0; i < c->cluster.nservers; i++) {
		st[i] = c->servers[i].status;
		if (st[i] || !rs)
			continue;
		rs[i] = req_get(c, i, 1);
		if (!rs[i]) {
			st[i] = FERRY_EBUSY;
			continue;
		}
		rs[i]->on_reply = fn;
		rs[i]->arg = args ? args[i] : NULL;
		send_req(c, rs[i], m);
	}
	for (unsigned i = 0; rs && i < c->cluster.nservers; i++)
		if (rs[i])
			st[i] = wait_req(c, rs[i]);
	if (!rs)
		for (unsigned i = 0; i < c->cluster.nservers; i++)
			st[i] = FERRY_ENOMEM;
	free(rs);
}

static int hello_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	struct server *s = &c->servers[r->server];

	s->max_inline = FR_MIN(rep->w[FR_HELLO_R_INLINE], FR_INLINE_MAX);
	s->max_value = rep->w[FR_HELLO_R_VALMAX];
	return 0;
}

static int sstat_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	ferry_server_stat *st = r->arg;

	st->mem_total = rep->w[FR_SSTAT_R_TOTAL];
	st->mem_used = rep->w[FR_SSTAT_R_USED];
	st->keys = rep->w[FR_SSTAT_R_KEYS];
	st->ops = rep->w[FR_SSTAT_R_OPS];
	st->peers = rep->w[FR_SSTAT_R_PEERS];
	return 0;
}

int ferry_cluster_stat(ferry_client *c, ferry_server_stat *out, size_t max)
{
	unsigned n;
	ferry_server_stat *all;
	void **args;
	int *st;
	fr_msg m;

	if (!c || (!out && max))
		return FERRY_EINVAL;
	n = c->cluster.nservers;
	all = calloc(n, sizeof(*all));
	args = calloc(n, sizeof(*args));
	st = calloc(n, sizeof(*st));
	if (!all || !args || !st) {
		free(all);
		free(args);
		free(st);
		return FERRY_ENOMEM;
	}
	for (unsigned i = 0; i < n; i++)
		args[i] = &all[i];
	fr_msg_init(&m, FR_OP_SSTAT, 0, 0);
	broadcast(c, &m, sstat_reply, args, st);
	for (unsigned i = 0; i < n && i < max; i++) {
		out[i] = all[i];
		snprintf(out[i].addr, sizeof(out[i].addr), "%s",
			 c->cluster.servers[i]);
		out[i].status = st[i];
	}
	free(all);
	free(args);
	free(st);
	return (int)n;
}

/* ---- listing -------------------------------------------------------------- */

struct ferry_keys {
	size_t n;
	int more;
	struct key {
		const uint8_t *p;
		size_t len;
	} *keys;
	uint8_t **blobs; /* one copy of each server's reply */
	unsigned nblobs;
};

struct list_part {
	uint8_t *blob;
	size_t len;
	int more;
};

static int list_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	struct list_part *p = r->arg;

	p->blob = malloc(rep->blen[0] ? rep->blen[0] : 1);
	if (!p->blob)
		return FERRY_ENOMEM;
	memcpy(p->blob, rep->blob[0], rep->blen[0]);
	p->len = rep->blen[0];
	p->more = !!(rep->h.flags & FR_F_MORE);
	return 0;
}

static int key_cmp(const void *a, size_t al, const void *b, size_t bl)
{
	int d = memcmp(a, b, FR_MIN(al, bl));

	return d ? d : (al > bl) - (al < bl);
}

static int key_qsort(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	return key_cmp(x->p, x->len, y->p, y->len);
}

/* Merges the servers' pages: each returned its first keys after the
 * cursor, so the global first keys are among them, up to the smallest
 * last key of any server that had more. */
static int merge(ferry_keys *k, struct list_part *parts, unsigned n,
		 unsigned max)
{
	const struct key *cut = NULL;
	size_t total = 0, off;
	const uint8_t *kp;
	size_t kl;
	int rc;

	for (unsigned i = 0; i < n; i++)
		for (off = 0; (rc = fr_list_next(parts[i].blob, parts[i].len,
						 &off, &kp, &kl)) == 1;)
			total++;
	k->keys = calloc(total ? total : 1, sizeof(*k->keys));
	if (!k->keys)
		return FERRY_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		size_t first = k->n;
		off = 0;
		while ((rc = fr_list_next(parts[i].blob, parts[i].len, &off,
					  &kp, &kl)) == 1)
			k->keys[k->n++] = (struct key){kp, kl};
		if (rc < 0)
			return rc;
		if (parts[i].more && k->n > first) {
			const struct key *last = &k->keys[k->n - 1];
			if (!cut || key_qsort(last, cut) < 0)
				cut = last;
		}
		k->more |= parts[i].more;
	}
	struct key cutoff = cut ? *cut : (struct key){0};
	qsort(k->keys, k->n, sizeof(*k->keys), key_qsort);
	if (cut)
		while (k->n && key_qsort(&k->keys[k->n - 1], &cutoff) > 0)
			k->n--;
	if (k->n > max) {
		k->n = max;
		k->more = 1;
	}
	return 0;
}

int ferry_list(ferry_client *c, const void *prefix, size_t plen,
	       const void *after, size_t alen, unsigned max, ferry_keys **out)
{
	unsigned n;
	struct list_part *parts;
	ferry_keys *k;
	void **args;
	int *st, rc = 0;
	fr_msg m;

	if (!c || !out || plen > FERRY_KEY_MAX || alen > FERRY_KEY_MAX ||
	    (plen && !prefix) || (alen && !after) || max == 0)
		return FERRY_EINVAL;
	*out = NULL;
	n = c->cluster.nservers;
	parts = calloc(n, sizeof(*parts));
	args = calloc(n, sizeof(*args));
	st = calloc(n, sizeof(*st));
	k = calloc(1, sizeof(*k));
	if (!parts || !args || !st || !k) {
		rc = FERRY_ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < n; i++)
		args[i] = &parts[i];
	fr_msg_init(&m, FR_OP_LIST, 0, 0);
	m.w[FR_LIST_PLEN] = plen;
	m.w[FR_LIST_ALEN] = alen;
	m.w[FR_LIST_MAX] = max;
	m.blob[0] = prefix;
	m.blob[1] = after;
	broadcast(c, &m, list_reply, args, st);
	for (unsigned i = 0; i < n && !rc; i++)
		rc = st[i];
	if (!rc)
		rc = merge(k, parts, n, max);
out:
	if (k) {
		k->blobs = calloc(n ? n : 1, sizeof(*k->blobs));
		for (unsigned i = 0; parts && i < n; i++) {
			if (k->blobs)
				k->blobs[k->nblobs++] = parts[i].blob;
			else
				free(parts[i].blob);
		}
	}
	free(parts);
	free(args);
	free(st);
	if (rc) {
		ferry_keys_free(k);
		return rc;
	}
	*out = k;
	return 0;
}

size_t ferry_keys_count(const ferry_keys *k)
{
	return k ? k->n : 0;
}

const void *ferry_keys_at(const ferry_keys *k, size_t i, size_t *len)
{
	if (!k || i >= k->n)
		return NULL;
	if (len)
		*len = k->keys[i].len;
	return k->keys[i].p;
}

int ferry_keys_more(const ferry_keys *k)
{
	return k ? k->more : 0;
}

void ferry_keys_free(ferry_keys *k)
{
	if (!k)
		return;
	for (unsigned i = 0; i < k->nblobs; i++)
		free(k->blobs[i]);
	free(k->blobs);
	free(k->keys);
	free(k);
}

/* ---- zero-copy buffers ------------------------------------------------------ */

void *ferry_alloc(ferry_client *c, size_t size)
{
	struct region *g;
	void *p;

	if (!c || !size)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(g);
		return NULL;
	}
	if (fr_mr_reg(c->fab, p, size, FI_REMOTE_READ | FI_REMOTE_WRITE,
		      &g->mr)) {
		munmap(p, size);
		free(g);
		return NULL;
	}
	g->len = size;
	g->next = c->regions;
	c->regions = g;
	return p;
}

void ferry_free(ferry_client *c, void *buf)
{
	for (struct region **pg = c ? &c->regions : NULL; pg && *pg;
	     pg = &(*pg)->next) {
		struct region *g = *pg;
		if (g->mr.base != buf)
			continue;
		*pg = g->next;
		fr_mr_close(&g->mr);
		munmap(buf, g->len);
		free(g);
		return;
	}
}

/* ---- connect and close -------------------------------------------------------- */

static int setup_buffers(ferry_client *c)
{
	size_t bytes = (size_t)(c->nreqs + c->nrecv) * FR_MSG_SIZE;
	int rc;

	c->msgs = aligned_alloc(4096, bytes);
	c->reqs = calloc(c->nreqs, sizeof(*c->reqs));
	c->recvs = calloc(c->nrecv, sizeof(*c->recvs));
	if (!c->msgs || !c->reqs || !c->recvs)
		return FERRY_ENOMEM;
	rc = fr_mr_reg(c->fab, c->msgs, bytes, FI_SEND | FI_RECV, &c->msg_mr);
	if (rc)
		return rc;
	for (unsigned i = c->nreqs; i-- > 0;) {
		struct req *r = &c->reqs[i];
		r->index = i;
		r->tx.req = r;
		r->sbuf = c->msgs + (size_t)i * FR_MSG_SIZE;
		r->next = c->free;
		c->free = r;
	}
	for (unsigned i = 0; i < c->nrecv; i++) {
		struct recv_buf *rb = &c->recvs[i];
		rb->buf = c->msgs + (size_t)(c->nreqs + i) * FR_MSG_SIZE;
		rc = fr_fab_recv(c->fab, rb->buf, FR_MSG_SIZE, c->msg_mr.desc,
				 &rb->rx.ctx);
		if (rc)
			return rc;
	}
	return 0;
}

/* Says HELLO to every server at once, so each learns our address. Servers
 * that do not answer are marked down; the client works with the others. */
static int hello_all(ferry_client *c)
{
	uint8_t addr[256];
	size_t alen = sizeof(addr);
	int *st = calloc(c->cluster.nservers, sizeof(*st)), rc = 0, up = 0;
	fr_msg m;

	if (!st)
		return FERRY_ENOMEM;
	rc = fr_fab_getname(c->fab, addr, &alen);
	if (rc) {
		free(st);
		return rc;
	}
	fr_msg_init(&m, FR_OP_HELLO, 0, 0);
	m.w[FR_HELLO_ADDRLEN] = alen;
	m.blob[0] = addr;
	broadcast(c, &m, hello_reply, NULL, st);
	rc = FERRY_EUNREACH;
	for (unsigned i = 0; i < c->cluster.nservers; i++) {
		c->servers[i].status = st[i];
		if (!st[i])
			up++;
		else
			rc = st[i];
	}
	free(st);
	return up ? 0 : rc;
}

int ferry_connect(const ferry_opts *opts, ferry_client **out)
{
	ferry_opts o;
	ferry_client *c;
	char host[FR_ADDR_MAX], port[16];
	int rc;

	if (!out)
		return FERRY_EINVAL;
	*out = NULL;
	ferry_opts_init(&o);
	if (opts) {
		if (opts->opts_size < sizeof(size_t) ||
		    opts->opts_size > sizeof(o))
			return FERRY_EINVAL;
		memcpy(&o, opts, opts->opts_size);
		o.opts_size = sizeof(o);
	}
	if (o.timeout_ms <= 0)
		o.timeout_ms = DEFAULT_TIMEOUT_MS;
	if (o.max_inflight == 0 || o.max_inflight > 65536)
		o.max_inflight = DEFAULT_INFLIGHT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return FERRY_ENOMEM;
	c->timeout_ms = o.timeout_ms;
	c->nreqs = o.max_inflight;
	c->nrecv = o.max_inflight + 16;
	rc = fr_cluster_load(fr_cluster_path(o.cluster), &c->cluster, NULL);
	if (rc)
		goto fail;
	rc = fr_fab_open(&c->fab, c->cluster.provider, NULL, NULL, NULL);
	if (rc)
		goto fail;
	c->servers = calloc(c->cluster.nservers, sizeof(*c->servers));
	if (!c->servers) {
		rc = FERRY_ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < c->cluster.nservers; i++) {
		fr_split_hostport(c->cluster.servers[i], host, sizeof(host),
				  port, sizeof(port));
		if (fr_fab_resolve(c->fab, host, port, &c->servers[i].fi))
			c->servers[i].status = FERRY_EUNREACH;
	}
	rc = fr_ring_build(&c->ring, (const char(*)[64])c->cluster.servers,
			   c->cluster.nservers);
	if (!rc)
		rc = setup_buffers(c);
	if (!rc)
		rc = hello_all(c);
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	ferry_close(c);
	return rc;
}

void ferry_close(ferry_client *c)
{
	fr_msg m;

	if (!c)
		return;
	/* Tell the servers to forget us (no reply), then wait briefly for
	 * the sends to leave before the endpoint goes away. */
	if (c->servers && c->reqs) {
		for (unsigned i = 0; i < c->cluster.nservers; i++) {
			struct req *r;
			if (c->servers[i].status || !(r = req_get(c, i, 1)))
				continue;
			fr_msg_init(&m, FR_OP_BYE, 0, 0);
			r->finished = 1;
			if (!send_req(c, r, &m))
				drive(c, &r->sent, fr_now_ns() + 1000000000ull);
		}
	}
	while (c->regions)
		ferry_free(c, c->regions->mr.base);
	for (unsigned i = 0; c->reqs && i < c->nreqs; i++)
		fr_mr_close(&c->reqs[i].mr);
	fr_mr_close(&c->msg_mr);
	fr_fab_close(&c->fab);
	fr_ring_free(&c->ring);
	free(c->servers);
	free(c->reqs);
	free(c->recvs);
	free(c->msgs);
	free(c);
}
