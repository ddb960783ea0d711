/*
 * libferry's request machinery, the same in every mode (client_int.h says
 * how slots, ids and transports fit together).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client_int.h"
#include "common/util.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_INFLIGHT 256
#define SPIN_NS 50000           /* busy-poll this long before sleeping */
#define TIMEOUT_SCAN_NS 1000000 /* look for expired requests every 1 ms */
#define IDLE_WAIT_MS 100 /* longest sleep with no request in flight */
#define GET_ALLOC_TRIES 8

void ferry_opts_init(ferry_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->opts_size = sizeof(*o);
	o->timeout_ms = DEFAULT_TIMEOUT_MS;
	o->max_inflight = DEFAULT_INFLIGHT;
}

/* While server p is known to be down, calls to it fail at once: with what
 * its HELLO answered, or FERRY_EUNREACH if its last request timed out (a
 * call that did not wait has not timed out). */
int fr_peer_down(const ferry_client *c, unsigned p)
{
	int st = fr_now_ns() < c->peer_retry[p] ? c->peer_status[p] : 0;

	return st == FERRY_ETIMEDOUT ? FERRY_EUNREACH : st;
}

/* ---- slots -------------------------------------------------------------- */

static uint64_t req_id(const struct req *r)
{
	return (uint64_t)r->gen << 32 | r->index;
}

struct req *fr_req_get(ferry_client *c, unsigned peer, int sync)
{
	struct req *r = c->free;

	if (!r)
		return NULL;
	c->free = r->next;
	r->next = NULL;
	r->busy = 1;
	r->finished = r->sent = r->reaped = r->queued = r->borrowed = 0;
	r->resynced = r->retried = 0;
	r->sync = sync;
	r->status = 0;
	r->op = NULL;
	r->on_reply = NULL;
	r->on_done = NULL;
	r->arg = NULL;
	r->server = peer;
	r->passfd = -1;
	r->gen++;
	c->inflight++;
	r->deadline = fr_now_ns() + (uint64_t)c->timeout_ms * 1000000;
	return r;
}

static void req_recycle(ferry_client *c, struct req *r)
{
	if (!(r->finished && r->sent && r->reaped))
		return;
	r->busy = 0;
	r->next = c->free;
	c->free = r;
}

/* Ends r's operation with status. The transport releases what it set up
 * first: closing a per-request registration revokes the server's access
 * to a caller's buffer, so a server that answers after a time-out cannot
 * write into memory the caller reused. Memory from ferry_alloc stays
 * registered, so a late transfer can still land there (ferry.h says so). */
void fr_req_finish(ferry_client *c, struct req *r, int status)
{
	if (r->finished)
		return;
	r->finished = 1;
	c->inflight--;
	r->status = status;
	c->tp->release(c, r);
	if (r->op)
		r->op->status = status;
	if (!r->sync) {
		if (c->done_tail)
			c->done_tail->next = r;
		else
			c->done_head = r;
		c->done_tail = r;
	}
	if (r->on_done)
		r->on_done(c, r);
	req_recycle(c, r);
}

static void req_reap(ferry_client *c, struct req *r)
{
	r->reaped = 1;
	req_recycle(c, r);
}

void fr_client_end_all(ferry_client *c, int err)
{
	for (unsigned i = 0; i < c->nreqs; i++)
		if (c->reqs[i].busy && !c->reqs[i].finished)
			fr_req_finish(c, &c->reqs[i], err);
}

void fr_client_fail_all(ferry_client *c, int err)
{
	for (unsigned i = 0; i < c->nreqs; i++) {
		struct req *r = &c->reqs[i];
		if (!r->busy)
			continue;
		r->sent = 1;
		req_recycle(c, r);
	}
	fr_client_end_all(c, err);
}

/* ---- completions -------------------------------------------------------- */

/* A PUT or INCR refused for want of quota share on its server goes
 * again, once, after share that the other servers do not use has moved
 * there (fr_share_borrow): a namespace's quota is split over the servers,
 * and its keys need not land evenly. Direct mode only; a proxy does this
 * for its functions. */
static int borrow(ferry_client *c, struct req *r, const fr_msg *rep)
{
	if ((r->opcode != FR_OP_PUT && r->opcode != FR_OP_INCR) || !r->op ||
	    r->borrowed ||
	    !c->tp->resend || c->npeers < 2 || !rep->w[FR_EQUOTA_R_OVER])
		return 0;
	r->borrowed = 1;
	return fr_share_borrow(c, r, rep->w[FR_EQUOTA_R_OVER]) == 0;
}

void fr_client_reply(ferry_client *c, const void *buf, size_t len)
{
	fr_msg rep;
	struct req *r;
	uint32_t index;
	int rc;

	if (fr_msg_decode(buf, len, &rep, NULL))
		return; /* nothing to match it to: drop */
	if (!(rep.h.flags & FR_F_REPLY)) {
		if (rep.h.opcode == FR_OP_EVENT)
			fr_watch_event(c, &rep);
		return;
	}
	index = (uint32_t)rep.h.id;
	if (index >= c->nreqs)
		return;
	r = &c->reqs[index];
	if (!r->busy || r->finished || r->gen != (uint32_t)(rep.h.id >> 32))
		return; /* late reply to a finished request */
	c->peer_heard[r->server] = fr_now_ns();
	if (rep.h.opcode != r->opcode && rep.h.status == 0)
		rc = FERRY_EPROTO;
	else if (rep.h.status == FERRY_EQUOTA && borrow(c, r, &rep))
		return; /* share is moving to its server: it goes again */
	else if (rep.h.status)
		rc = rep.h.status;
	else
		rc = r->on_reply(c, r, &rep);
	fr_req_finish(c, r, rc);
}

void fr_client_sent(ferry_client *c, struct req *r, int err)
{
	r->sent = 1;
	if (err)
		fr_req_finish(c, r, err);
	else
		req_recycle(c, r);
}

/* Visits the requests in flight (busy and not finished: as many as
 * c->inflight counts), stopping at the last: slots are reused last freed
 * first, so a proxy's warm client with 4096 slots and a few requests out
 * looks at a few, not at all 4096 every millisecond. */
static void expire(ferry_client *c, uint64_t now)
{
	unsigned left = c->inflight;

	c->next_scan = now + TIMEOUT_SCAN_NS;
	for (unsigned i = 0; i < c->nreqs && left; i++) {
		struct req *r = &c->reqs[i];
		if (!r->busy || r->finished)
			continue;
		left--;
		if (now > r->deadline)
			fr_req_finish(c, r, FERRY_ETIMEDOUT);
	}
}

/* Spins for SPIN_NS after the last event, yielding the core to anyone who
 * wants it (servers and clients often share few cores), then sleeps: 1 ms
 * at a time while requests are in flight (their time-outs are checked in
 * between), longer when only events are awaited. */
void fr_drive(ferry_client *c, const int *flag, uint64_t deadline)
{
	uint64_t last = fr_now_ns();

	for (;;) {
		int n = c->tp->progress(c, 0);
		uint64_t now = fr_now_ns();

		if (now >= c->next_scan)
			expire(c, now);
		if (flag ? *flag : c->done_head != NULL)
			return;
		if (deadline && now >= deadline)
			return;
		if (n > 0) {
			last = now;
		} else if (now - last > SPIN_NS) {
			uint64_t ms = c->inflight ? 1 : IDLE_WAIT_MS;
			if (deadline && (deadline - now) / 1000000 + 1 < ms)
				ms = (deadline - now) / 1000000 + 1;
			c->tp->progress(c, (int)ms);
			last = fr_now_ns();
		} else {
			sched_yield();
		}
	}
}

int fr_req_wait(ferry_client *c, struct req *r)
{
	int rc;

	fr_drive(c, &r->finished, 0);
	rc = r->status;
	req_reap(c, r);
	return rc;
}

static int send_req(ferry_client *c, struct req *r, fr_msg *m)
{
	int rc;

	m->h.id = req_id(r);
	if (!m->h.ns)
		m->h.ns = c->ns;
	r->ns = m->h.ns;
	r->opcode = m->h.opcode;
	rc = c->tp->send(c, r, m);
	if (rc) {
		r->sent = 1; /* no completion will come */
		fr_req_finish(c, r, rc);
	}
	return rc;
}

/* ---- operations --------------------------------------------------------- */

static int op_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	ferry_op *op = r->op;

	if (op->opcode == FERRY_OP_GET && rep->w[FR_GET_R_GOT] > op->len)
		return FERRY_EPROTO;
	fr_op_from_reply(rep, op);
	/* Inline data is in the reply; RMA data is in op->buf, or in the
	 * arena copy the transport made of a caller buffer. */
	if (op->opcode == FERRY_OP_GET && op->result) {
		if (!(rep->h.flags & FR_F_RMA))
			memcpy(op->buf, rep->blob[0], op->result);
		else if (r->bounce)
			memcpy(op->buf, r->bounce, op->result);
	}
	return 0;
}

static int check_op(const ferry_op *op)
{
	if (!op->key || op->klen < 1)
		return FERRY_EINVAL;
	if (op->klen > FERRY_KEY_MAX)
		return FERRY_E2BIG;
	switch (op->opcode) {
	case FERRY_OP_PUT:
		if (op->flags & ~(FERRY_PUT_CREATE | FERRY_PUT_REPLACE |
				  FERRY_PUT_KEEPTTL | FERRY_PUT_AS_APPEND |
				  FERRY_PUT_AS_SETRANGE) ||
		    (op->flags & FERRY_PUT_AS_APPEND &&
		     op->flags & FERRY_PUT_AS_SETRANGE) ||
		    (op->flags & (FERRY_PUT_CREATE | FERRY_PUT_REPLACE)) ==
			(FERRY_PUT_CREATE | FERRY_PUT_REPLACE))
			return FERRY_EINVAL;
		return op->len && !op->buf ? FERRY_EINVAL : 0;
	case FERRY_OP_GET:
		return op->len && !op->buf ? FERRY_EINVAL : 0;
	case FERRY_OP_EXPIRE:
		return fr_expire_cond_ok(op->flags) ? 0 : FERRY_EINVAL;
	case FERRY_OP_DEL:
	case FERRY_OP_STAT:
	case FERRY_OP_INCR:
		return 0;
	}
	return FERRY_EINVAL;
}

static int submit(ferry_client *c, ferry_op *op, int sync, struct req **out)
{
	struct req *r;
	fr_msg m;
	unsigned p = 0;
	int rc = check_op(op);

	if (!rc && c->tp->ready)
		rc = c->tp->ready(c);
	if (rc)
		return op->status = rc;
	fr_watch_pump(c);
	if (c->ring.npoints)
		p = fr_ring_pick(&c->ring, op->key, op->klen);
	if ((rc = fr_peer_down(c, p)))
		return op->status = rc;
	/* A limit of 0 is one not learnt yet: the server was down when we
	 * connected and has answered no HELLO since (this request brings
	 * one). The server checks the size itself in any case. */
	if (op->opcode == FERRY_OP_PUT && c->peer_maxval[p] &&
	    op->len > c->peer_maxval[p])
		return op->status = FERRY_E2BIG;
	r = fr_req_get(c, p, sync);
	if (!r)
		return op->status = FERRY_EBUSY;
	r->op = op;
	r->on_reply = op_reply;
	op->status = 1; /* in flight */
	op->result = 0;
	fr_op_to_request(op, &m);
	/* Where the bytes travel is this mode's choice. */
	if (op->opcode == FERRY_OP_PUT && op->len &&
	    op->len <= c->peer_inline[p]) {
		m.h.flags |= FR_F_INLINE;
		m.blob[1] = op->buf;
	} else if (op->opcode == FERRY_OP_PUT && op->len) {
		m.h.flags |= FR_F_RMA;
		rc = c->tp->reach(c, r, op->buf, op->len, 0,
				  &m.w[FR_PUT_RADDR], &m.w[FR_PUT_RKEY]);
	} else if (op->opcode == FERRY_OP_GET && op->len > c->peer_inline[p]) {
		m.h.flags |= FR_F_RMA;
		rc = c->tp->reach(c, r, op->buf, op->len, 1,
				  &m.w[FR_GET_RADDR], &m.w[FR_GET_RKEY]);
	}
	/* From here on the operation is accepted: whatever happens, its
	 * outcome arrives as a completion (ferry_poll or fr_req_wait). */
	if (rc) {
		r->sent = 1;
		fr_req_finish(c, r, rc);
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
	uint64_t now = fr_now_ns();
	int n = 0;

	if (!c || !done || max < 1)
		return FERRY_EINVAL;
	if (!c->done_head)
		fr_drive(c, NULL,
		      timeout_ms < 0 ? 0
				     : now + (uint64_t)timeout_ms * 1000000 + 1);
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
 * is already finished, and fr_req_wait just collects it. */
static int run_op(ferry_client *c, ferry_op *op)
{
	struct req *r = NULL;
	int rc;

	if (!c)
		return FERRY_EINVAL;
	rc = submit(c, op, 1, &r);
	return r ? fr_req_wait(c, r) : rc;
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
				i++;
				continue;
			}
		}
		if (rs[waited])
			fr_req_wait(c, rs[waited]);
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
	size_t got, more;
	int rc;

	if (!val || !vlen)
		return FERRY_EINVAL;
	*val = NULL;
	*vlen = 0;
	/* One round trip for small values; for large ones the rest comes by
	 * RMA (a proxy's TCP port may hand it out in several ranges). If the
	 * value is replaced meanwhile, start again. */
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
		rc = 0;
		while (!rc && got < st.size) {
			rc = ferry_get(c, key, klen, got, buf + got,
				       st.size - got, &more, &st2);
			if (!rc && (st2.version != st.version || !more))
				rc = FERRY_ECHANGED;
			got += rc ? 0 : more;
		}
		if (!rc) {
			*val = buf;
			*vlen = got;
			return 0;
		}
		free(buf);
		if (rc != FERRY_ECHANGED && rc != FERRY_ENOENT &&
		    rc != FERRY_ERANGE)
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

int ferry_expire(ferry_client *c, const void *key, size_t klen,
		 uint64_t expire_ms, unsigned flags, int *changed)
{
	ferry_op op;
	int rc = one(c,
		     (ferry_op){.opcode = FERRY_OP_EXPIRE, .key = key,
				.klen = klen, .expire_ms = expire_ms,
				.flags = flags},
		     &op);

	if (changed)
		*changed = rc ? 0 : (int)op.counter;
	return rc;
}

/* ---- requests to every peer ------------------------------------------------ */

/* Sends m to every peer that is up, with on_reply fn and args[i] for peer
 * i, and waits for all. Peers that are down get their status in st[i];
 * the others get their reply's outcome. With fewer slots than peers
 * (max_inflight 1 and three servers), the oldest request of the broadcast
 * is waited for to free one: a HELLO refused for want of a slot would
 * mark its server down for good. */
void fr_broadcast(ferry_client *c, fr_msg *m, reply_fn fn, void **args,
		  int *st)
{
	struct req **rs = calloc(c->npeers, sizeof(*rs));
	unsigned w = 0; /* the oldest request of ours not yet waited for */

	for (unsigned i = 0; i < c->npeers; i++) {
		st[i] = !rs ? FERRY_ENOMEM : fr_peer_down(c, i);
		if (st[i])
			continue;
		while (!(rs[i] = fr_req_get(c, i, 1)) && w < i) {
			if (rs[w])
				st[w] = fr_req_wait(c, rs[w]);
			rs[w++] = NULL;
		}
		if (!rs[i]) {
			st[i] = FERRY_EBUSY;
			continue;
		}
		rs[i]->on_reply = fn;
		rs[i]->arg = args ? args[i] : NULL;
		send_req(c, rs[i], m);
	}
	for (unsigned i = 0; rs && i < c->npeers; i++)
		if (rs[i])
			st[i] = fr_req_wait(c, rs[i]);
	free(rs);
}

static void fan_part_ended(struct fr_fan *f)
{
	if (!--f->left)
		f->ended(f);
}

static void fan_req_done(ferry_client *c, struct req *r)
{
	struct fr_fan_part *p = r->arg;

	p->status = r->status;
	fan_part_ended(p->fan);
}

void fr_fan_out(ferry_client *c, struct fr_fan *f, fr_msg *m, int one,
		reply_fn fn, void *parts, size_t size)
{
	f->left = f->n + 1; /* a guard: parts may end while others are sent */
	for (unsigned i = 0; i < f->n; i++) {
		struct fr_fan_part *p = (void *)((char *)parts + i * size);
		unsigned peer = one >= 0 ? (unsigned)one : i;
		p->fan = f;
		p->status = fr_peer_down(c, peer);
		if (!p->status)
			p->status =
			    fr_send_async(c, peer, m, fn, fan_req_done, p);
		if (p->status) /* never sent: no request ends it */
			fan_part_ended(f);
	}
	fan_part_ended(f);
}

int fr_ignore_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	return 0;
}

int fr_send_noreply(ferry_client *c, unsigned peer, fr_msg *m)
{
	struct req *r;

	if (c->tp->send_noreply) {
		m->h.id = FR_ID_NOREPLY;
		return c->tp->send_noreply(c, m);
	}
	r = fr_req_get(c, peer, 1);
	if (!r)
		return FERRY_EBUSY;
	r->reaped = 1; /* recycled once it is sent and answered */
	r->on_reply = fr_ignore_reply;
	return send_req(c, r, m);
}

int fr_send_async(ferry_client *c, unsigned peer, fr_msg *m, reply_fn fn,
		  void (*done)(ferry_client *c, struct req *r), void *arg)
{
	struct req *r = fr_req_get(c, peer, 1);

	if (!r)
		return FERRY_EBUSY;
	r->reaped = 1; /* nobody waits: recycled once sent and finished */
	r->on_reply = fn;
	r->on_done = done;
	r->arg = arg;
	send_req(c, r, m);
	return 0;
}

int fr_ask_up(ferry_client *c, unsigned p, fr_msg *m, reply_fn fn, void *arg)
{
	int rc = fr_peer_down(c, p);

	return rc ? rc : fr_ask(c, p, m, fn, arg, -1);
}

int fr_ask(ferry_client *c, unsigned p, fr_msg *m, reply_fn fn, void *arg,
	   int passfd)
{
	struct req *r = fr_req_get(c, p, 1);

	if (!r)
		return FERRY_EBUSY;
	r->on_reply = fn;
	r->arg = arg;
	r->passfd = passfd;
	send_req(c, r, m);
	return fr_req_wait(c, r);
}

void fr_hello_init(ferry_client *c, fr_msg *m, const void *addr, size_t alen)
{
	fr_msg_init(m, FR_OP_HELLO, 0, 0);
	m->w[FR_HELLO_ADDRLEN] = alen;
	m->blob[0] = addr;
	m->w[FR_HELLO_TOKLEN] = c->tlen;
	m->blob[1] = (const uint8_t *)c->token;
}

unsigned fr_first_up(const ferry_client *c)
{
	for (unsigned i = 0; i < c->npeers; i++)
		if (!fr_peer_down(c, i))
			return i;
	return 0;
}

int fr_hello_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	c->peer_status[r->server] = 0;
	c->peer_inline[r->server] = rep->w[FR_HELLO_R_INLINE];
	c->peer_maxval[r->server] = rep->w[FR_HELLO_R_VALMAX];
	if (r->arg)
		*(uint64_t *)r->arg = rep->w[FR_HELLO_R_SERVERS];
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
	snprintf(st->addr, sizeof(st->addr), "%.*s",
		 (int)FR_MIN(rep->blen[0], sizeof(st->addr) - 1),
		 (const char *)rep->blob[0]);
	return 0;
}

int ferry_cluster_stat(ferry_client *c, ferry_server_stat *out, size_t max)
{
	uint64_t n = 0;
	fr_msg m;
	int rc;

	if (!c || (!out && max))
		return FERRY_EINVAL;
	/* Direct: each server answers for itself. Through a proxy: the proxy
	 * answers for its i-th server; HELLO tells how many it has. */
	if (c->stream) {
		fr_hello_init(c, &m, NULL, 0);
		rc = fr_ask(c, 0, &m, fr_hello_reply, &n, -1);
		if (rc)
			return rc;
	} else {
		n = c->npeers;
	}
	/* Statistics are the admin's: a refusal is the client's, not a
	 * server's state. */
	rc = 0;
	for (uint64_t i = 0; i < n && i < max; i++)
		if (fr_server_stat(c, (unsigned)i, &out[i]) == FERRY_EACCES)
			rc = FERRY_EACCES;
	return rc ? rc : (int)n;
}

/* An SSTAT for server i, and whom to send it to. */
static unsigned sstat_msg(ferry_client *c, unsigned i, fr_msg *m,
			  ferry_server_stat *out)
{
	memset(out, 0, sizeof(*out));
	if (!c->stream)
		snprintf(out->addr, sizeof(out->addr), "%s", c->peer_names[i]);
	fr_msg_init(m, FR_OP_SSTAT, 0, 0);
	m->w[FR_SSTAT_INDEX] = i;
	return c->stream ? 0 : i;
}

int fr_server_stat(ferry_client *c, unsigned i, ferry_server_stat *out)
{
	fr_msg m;
	unsigned peer = sstat_msg(c, i, &m, out);

	out->status = fr_ask_up(c, peer, &m, sstat_reply, out);
	return out->status;
}

int fr_server_stat_start(ferry_client *c, unsigned i, ferry_server_stat *out,
			 void (*done)(ferry_client *c, struct req *r))
{
	fr_msg m;
	unsigned peer = sstat_msg(c, i, &m, out);
	int rc = fr_peer_down(c, peer);

	return rc ? rc : fr_send_async(c, peer, &m, sstat_reply, done, out);
}

static int pstat_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	ferry_proxy_stat *st = r->arg;

	st->functions = rep->w[FR_PSTAT_R_FUNCTIONS];
	st->endpoints = rep->w[FR_PSTAT_R_ENDPOINTS];
	st->server_conns = rep->w[FR_PSTAT_R_SERVERS];
	st->ops = rep->w[FR_PSTAT_R_OPS];
	st->regions = rep->w[FR_PSTAT_R_REGIONS];
	st->channels = rep->w[FR_PSTAT_R_CHANNELS];
	return 0;
}

int ferry_proxy_stat_get(ferry_client *c, ferry_proxy_stat *out)
{
	fr_msg m;

	if (!c || !out || !c->stream)
		return FERRY_EINVAL;
	fr_msg_init(&m, FR_OP_PSTAT, 0, 0);
	return fr_ask(c, 0, &m, pstat_reply, out, -1);
}

/* ---- listing -------------------------------------------------------------- */

struct ferry_keys {
	size_t n;
	int more;
	struct key {
		const uint8_t *p;
		size_t len;
	} *keys;
	uint8_t **blobs; /* one copy of each peer's reply */
	unsigned nblobs;
};

/* One peer's page of a listing. */
struct list_part {
	struct fr_fan_part fp; /* first: the request's arg */
	uint8_t *blob;
	size_t len;
	int more;
};

/* A listing under way (fr_list_start): one page asked of each peer. */
struct list_job {
	struct fr_fan fan; /* first */
	unsigned max;
	fr_list_fn *done;
	void *arg;
	struct list_part parts[];
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

static int key_qsort(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int d = memcmp(x->p, y->p, FR_MIN(x->len, y->len));

	return d ? d : (x->len > y->len) - (x->len < y->len);
}

/* Merges the peers' pages: each returned its first keys after the
 * cursor, so the global first keys are among them, up to the smallest
 * last key of any peer that had more. */
static int merge(ferry_keys *k, struct list_part *parts, unsigned n,
		 unsigned max)
{
	struct key cut = {0};
	int have_cut = 0, rc;
	size_t total = 0, off, kl;
	const uint8_t *kp;

	for (unsigned i = 0; i < n; i++)
		for (off = 0; fr_list_next(parts[i].blob, parts[i].len, &off,
					   &kp, &kl) == 1;)
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
		if (parts[i].more && k->n > first &&
		    (!have_cut || key_qsort(&k->keys[k->n - 1], &cut) < 0)) {
			cut = k->keys[k->n - 1];
			have_cut = 1;
		}
		k->more |= parts[i].more;
	}
	qsort(k->keys, k->n, sizeof(*k->keys), key_qsort);
	while (have_cut && k->n && key_qsort(&k->keys[k->n - 1], &cut) > 0)
		k->n--;
	if (k->n > max) {
		k->n = max;
		k->more = 1;
	}
	return 0;
}

/* Every page is in (or its request ended): merges them and hands the
 * listing to the caller. */
static void list_ended(struct fr_fan *f)
{
	struct list_job *j = (struct list_job *)f;
	ferry_keys *k;
	int rc = 0;

	k = calloc(1, sizeof(*k));
	if (k && !(k->blobs = calloc(f->n, sizeof(*k->blobs)))) {
		free(k);
		k = NULL;
	}
	for (unsigned i = 0; i < f->n; i++) {
		if (!rc)
			rc = j->parts[i].fp.status;
		if (k)
			k->blobs[k->nblobs++] = j->parts[i].blob;
		else
			free(j->parts[i].blob);
	}
	if (!k)
		rc = FERRY_ENOMEM;
	else if (!rc)
		rc = merge(k, j->parts, f->n, j->max);
	if (rc) {
		ferry_keys_free(k);
		k = NULL;
	}
	j->done(j->arg, rc, k);
	free(j);
}

int fr_list_start(ferry_client *c, fr_msg *m, int one, unsigned max,
		  fr_list_fn *done, void *arg)
{
	unsigned n = one >= 0 ? 1 : c->npeers;
	struct list_job *j = calloc(1, sizeof(*j) + n * sizeof(j->parts[0]));

	if (!j)
		return FERRY_ENOMEM;
	j->fan = (struct fr_fan){.n = n, .ended = list_ended};
	j->max = max;
	j->done = done;
	j->arg = arg;
	fr_fan_out(c, &j->fan, m, one, list_reply, j->parts,
		   sizeof(j->parts[0]));
	return 0;
}

/* The answer of a listing fr_list_pages waits for. */
struct list_wait {
	int finished, status;
	ferry_keys *keys;
};

static void list_waited(void *arg, int status, ferry_keys *keys)
{
	struct list_wait *w = arg;

	w->status = status;
	w->keys = keys;
	w->finished = 1;
}

int fr_list_pages(ferry_client *c, fr_msg *m, int one, unsigned max,
		  ferry_keys **out)
{
	struct list_wait w = {0};
	int rc = fr_list_start(c, m, one, max, list_waited, &w);

	*out = NULL;
	if (rc)
		return rc;
	if (!w.finished)
		fr_drive(c, &w.finished, 0);
	*out = w.keys;
	return w.status;
}

int fr_list_msg(fr_msg *m, const void *prefix, size_t plen, const void *after,
		size_t alen, unsigned max)
{
	if ((plen && !prefix) || (alen && !after) || max == 0)
		return FERRY_EINVAL;
	if (plen > FERRY_KEY_MAX || alen > FERRY_KEY_MAX)
		return FERRY_E2BIG;
	fr_msg_init(m, FR_OP_LIST, 0, 0);
	m->w[FR_LIST_PLEN] = plen;
	m->w[FR_LIST_ALEN] = alen;
	m->w[FR_LIST_MAX] = max;
	m->blob[0] = prefix;
	m->blob[1] = after;
	return 0;
}

int ferry_list(ferry_client *c, const void *prefix, size_t plen,
	       const void *after, size_t alen, unsigned max, ferry_keys **out)
{
	fr_msg m;
	int rc;

	if (!c || !out)
		return FERRY_EINVAL;
	rc = fr_list_msg(&m, prefix, plen, after, alen, max);
	return rc ? rc : fr_list_pages(c, &m, -1, max, out);
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

/* ---- buffers, connect, close --------------------------------------------- */

void *ferry_alloc(ferry_client *c, size_t size)
{
	return c && size ? c->tp->alloc(c, size) : NULL;
}

void ferry_free(ferry_client *c, void *buf)
{
	if (c && buf)
		c->tp->free(c, buf);
}

const char *ferry_mode(const ferry_client *c)
{
	return c ? c->mode : "none";
}

int fr_client_init(ferry_client *c, const ferry_opts *o, unsigned npeers)
{
	c->timeout_ms = o->timeout_ms;
	c->nreqs = o->max_inflight;
	c->npeers = npeers;
	c->reqs = calloc(c->nreqs, sizeof(*c->reqs));
	c->peer_names = calloc(npeers, sizeof(*c->peer_names));
	c->peer_inline = calloc(npeers, sizeof(*c->peer_inline));
	c->peer_maxval = calloc(npeers, sizeof(*c->peer_maxval));
	c->peer_status = calloc(npeers, sizeof(*c->peer_status));
	c->peer_retry = calloc(npeers, sizeof(*c->peer_retry));
	c->peer_heard = calloc(npeers, sizeof(*c->peer_heard));
	if (!c->reqs || !c->peer_names || !c->peer_inline || !c->peer_maxval ||
	    !c->peer_status || !c->peer_retry || !c->peer_heard)
		return FERRY_ENOMEM;
	for (unsigned i = c->nreqs; i-- > 0;) {
		struct req *r = &c->reqs[i];
		r->index = i;
		r->tx.req = r;
		r->next = c->free;
		c->free = r;
	}
	return 0;
}

/* Which proxy to use: the option, $FERRY_PROXY, then the default socket
 * if it exists, then the cluster file's "proxy" line; NULL for direct
 * mode. A cluster named explicitly (option or $FERRY_CLUSTER) skips the
 * default socket, which may serve another cluster. */
static const char *pick_proxy(const ferry_opts *o, fr_cluster *cl,
			      int have_cluster)
{
	static __thread char url[sizeof(FERRY_PROXY_SOCKET) + 16];
	const char *env = getenv("FERRY_PROXY");
	const char *named = getenv("FERRY_CLUSTER");
	struct stat st;

	if (o->proxy && *o->proxy)
		return strcmp(o->proxy, "direct") ? o->proxy : NULL;
	if (env && *env)
		return strcmp(env, "direct") ? env : NULL;
	if (!(o->cluster && *o->cluster) && !(named && *named) &&
	    stat(FERRY_PROXY_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode)) {
		snprintf(url, sizeof(url), "unix://%s", FERRY_PROXY_SOCKET);
		return url;
	}
	return have_cluster && cl->proxy[0] ? cl->proxy : NULL;
}

int ferry_connect(const ferry_opts *opts, ferry_client **out)
{
	ferry_opts o;
	ferry_client *c;
	fr_cluster *cl;
	const char *proxy;
	int rc, have;

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
	if (o.max_inflight > FERRY_INFLIGHT_MAX)
		return FERRY_EINVAL;
	if (o.max_inflight == 0)
		o.max_inflight = DEFAULT_INFLIGHT;
	if (!o.token)
		o.token = getenv("FERRY_TOKEN");
	if (o.token && strlen(o.token) >= sizeof(c->token))
		return FERRY_EINVAL;
	c = calloc(1, sizeof(*c));
	cl = calloc(1, sizeof(*cl));
	if (!c || !cl) {
		free(c);
		free(cl);
		return FERRY_ENOMEM;
	}
	if (o.token) {
		c->tlen = strlen(o.token);
		memcpy(c->token, o.token, c->tlen);
	}
	have = fr_cluster_load(fr_cluster_path(o.cluster), cl, NULL) == 0;
	proxy = pick_proxy(&o, cl, have);
	if (proxy)
		rc = fr_stream_open(c, &o, proxy);
	else if (!have)
		rc = FERRY_ENOCLUSTER;
	else
		rc = fr_direct_open(c, &o, cl);
	free(cl);
	if (rc) {
		ferry_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

#define CLOSE_WAIT_NS 2000000000ull

/* Lets requests in flight finish (for at most CLOSE_WAIT_NS) so that no
 * server is left moving data to or from a peer that vanished (shm in
 * libfabric 1.17 does not recover from that), then detaches the caller's
 * ops (after ferry_close returns, libferry touches none of them) and
 * ends the requests still out. */
static void quiesce(ferry_client *c)
{
	uint64_t end = fr_now_ns() + CLOSE_WAIT_NS;
	int busy = 1;

	while (busy && fr_now_ns() < end) {
		busy = 0;
		for (unsigned i = 0; i < c->nreqs && !busy; i++)
			busy = c->reqs[i].busy && !c->reqs[i].finished;
		if (busy && c->tp->progress(c, 1) == 0)
			sched_yield();
		if (fr_now_ns() >= c->next_scan)
			expire(c, fr_now_ns());
	}
	for (unsigned i = 0; i < c->nreqs; i++)
		c->reqs[i].op = NULL;
	/* What is still out will not be waited for: end it, so that internal
	 * requests free what they hold (a fan-out's state). Ending one may
	 * start another (a fan-out of quota moves sends the share it got),
	 * which the next pass ends. */
	for (int pass = 0; pass < 4 && c->inflight; pass++)
		fr_client_fail_all(c, FERRY_ETIMEDOUT);
	c->done_head = c->done_tail = NULL;
}

void ferry_close(ferry_client *c)
{
	if (!c)
		return;
	if (c->tp && c->reqs) {
		quiesce(c);
		c->tp->close(c);
	} else if (c->tp) {
		c->tp->close(c);
	}
	fr_watch_free(c);
	fr_ring_free(&c->ring);
	free(c->reqs);
	free(c->peer_names);
	free(c->peer_inline);
	free(c->peer_maxval);
	free(c->peer_status);
	free(c->peer_retry);
	free(c->peer_heard);
	explicit_bzero(c->token, sizeof(c->token));
	free(c);
}
