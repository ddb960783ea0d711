/*
 * Direct mode: the client's own fabric endpoint reaches every server.
 * Small values travel inline; for large ones the server pulls from or
 * pushes to memory this client registered (ferry_alloc regions, or the
 * caller's buffer registered for one request).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "client/client_int.h"
#include "common/util.h"

#define QUIET_NS 1000000000ull /* see quiet() */
#define RETRY_NS 10000000ull /* see again() */
#define RETRIES 3
#define BUSY_PACE_NS 10000000ull      /* see pace() */
#define BUSY_WAIT_MAX_NS 100000000ull
#define GREET_NS 200000000ull /* see unstick() */
#define DOWN_NS 1000000000ull /* see give_up(); also how long a server
				 stays down before it is tried again */

struct recv_buf {
	struct req_ctx rx; /* rx.req is NULL: a receive buffer */
	uint8_t *buf;
};

struct region { /* registered once: ferry_alloc memory or a proxy's map */
	fr_mr mr;
	size_t len;
	int owned; /* ours to munmap */
	struct region *next;
};

/* Requests the provider could not take yet (it said -FI_EAGAIN: its queue
 * is full, or it is still connecting to a server that may be dead), per
 * server so that one dead server holds up no other. They go out from the
 * progress loop, or expire with their deadline. */
struct sendq {
	struct req *head, *tail;
	uint64_t busy_since; /* when the provider began refusing (ns), or 0 */
	uint64_t next_try;   /* no send to this server before (ns) */
};

struct fr_direct {
	fr_fab *fab;
	fi_addr_t *fi;     /* per server */
	struct sendq *q;   /* per server */
	uint8_t *stale;    /* per server: greet it again before the next
			      request (it timed out or was unreachable, so
			      it may have restarted and forgotten us) */
	uint64_t next_look; /* when keep_watches looks next (ns) */
	struct sendq held;  /* to send again: see again() */
	uint64_t held_until;
	uint8_t *renew;     /* per server: renew() before that */
	uint64_t *boot;     /* per server: the boot number it last gave */
	struct req **greeting; /* per server: the HELLO that later requests
				  wait behind (see greet()), or NULL */
	uint64_t *greet_by;    /* per server: when it should have answered */
	uint8_t *regreets;     /* per server: greetings given up in a row */
	unsigned nrecv;
	struct recv_buf *recvs;
	uint8_t *msgs;
	fr_mr msg_mr;
	struct region *regions;
};

static void push(struct sendq *q, struct req *r)
{
	r->next = NULL;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
}

/* Hands r to the provider, or queues it: behind its server's queue, or
 * ahead of it (first). Nothing goes while the server's queue is not empty
 * or a greeting is awaited (greet()). */
static int post_at(ferry_client *c, struct req *r, int first)
{
	struct fr_direct *d = c->direct;
	struct sendq *q = &d->q[r->server];
	int rc = FERRY_EBUSY;

	if (!q->head && !d->greeting[r->server])
		rc = fr_fab_try_send(d->fab, r->sbuf, r->slen, d->msg_mr.desc,
				     d->fi[r->server], &r->tx.ctx);
	if (rc != FERRY_EBUSY)
		return rc;
	r->queued = 1;
	if (!first || !q->head) {
		push(q, r);
	} else {
		r->next = q->head;
		q->head = r;
	}
	return 0;
}

static int post(ferry_client *c, struct req *r)
{
	return post_at(c, r, 0);
}

static void unqueue(struct sendq *q, struct req *r)
{
	struct req **pr = &q->head, *prev = NULL;

	while (*pr && *pr != r) {
		prev = *pr;
		pr = &(*pr)->next;
	}
	if (!*pr)
		return;
	*pr = r->next;
	if (q->tail == r)
		q->tail = prev;
	if (!q->head) /* nothing waits: no refusals go on (see pace()) */
		q->busy_since = q->next_try = 0;
	r->next = NULL;
	r->queued = 0;
}

/* The provider refused a send to a server (q): normally its send queue
 * is full for a moment, but over tcp;ofi_rxm (libfabric 1.17) every send
 * to a server that refuses connections also dials it again, and a loop
 * that retried on each pass dialled a dead server 1000 times a second
 * until the request timed out. Past BUSY_PACE_NS of refusals, sends to
 * that server wait an eighth of the time it has refused them, at most
 * BUSY_WAIT_MAX_NS: a server that comes back is found within that. The
 * refusals count from the first one since the queue last sent or
 * emptied: a queue whose requests timed out while waiting starts afresh,
 * rather than making the next brief refusal wait the longest. */
static void pace(struct sendq *q, uint64_t now)
{
	uint64_t refused;

	if (!q->busy_since)
		q->busy_since = now;
	refused = now - q->busy_since;
	if (refused > BUSY_PACE_NS)
		q->next_try = now + FR_MIN(refused / 8, BUSY_WAIT_MAX_NS);
}

/* A server that refused every send for DOWN_NS, and answered nothing
 * meanwhile, is down: over tcp its process ended and its host refuses
 * the connection, or nothing takes it at all. What waits for it fails
 * now with FERRY_EUNREACH rather than at its deadline (each call to a
 * dead server used to wait out its whole time-out, 10 s by default), and
 * calls to it fail at once for DOWN_NS, as after a HELLO that failed
 * (d_release), and for as long as it goes on refusing. A HELLO waiting
 * there stays, tried at the pace of the queue until its own deadline: a
 * server that comes back answers it, which ends the down time
 * (fr_hello_reply), so calls work again within BUSY_WAIT_MAX_NS, not a
 * second later. A queue full for a moment sends again long before
 * DOWN_NS, and a server that is only slow keeps answering. Over shm sends
 * to a dead server are taken until its queue is full, so there requests
 * still time out. */
static void give_up(ferry_client *c, unsigned i, uint64_t now)
{
	struct sendq *q = &c->direct->q[i];
	struct req *r = q->head, *next;

	if (now - q->busy_since < DOWN_NS || now - c->peer_heard[i] < DOWN_NS)
		return;
	c->peer_status[i] = FERRY_EUNREACH;
	c->peer_retry[i] = now + DOWN_NS;
	q->head = q->tail = NULL;
	for (; r; r = next) {
		next = r->next;
		if (r->opcode == FR_OP_HELLO) {
			push(q, r);
			continue;
		}
		r->next = NULL;
		r->queued = 0;
		fr_client_sent(c, r, FERRY_EUNREACH);
	}
	if (!q->head)
		q->busy_since = q->next_try = 0;
}

static void flush_queues(ferry_client *c)
{
	struct fr_direct *d = c->direct;
	uint64_t now = 0;

	for (unsigned i = 0; i < c->npeers; i++) {
		struct sendq *q = &d->q[i];
		struct req *g;
		if (q->head && q->next_try &&
		    q->next_try > (now ? now : (now = fr_now_ns())))
			continue;
		while (q->head && (!(g = d->greeting[i]) || g->queued)) {
			struct req *r = q->head;
			int rc = fr_fab_try_send(d->fab, r->sbuf, r->slen,
						 d->msg_mr.desc, d->fi[i],
						 &r->tx.ctx);
			if (rc == FERRY_EBUSY) {
				pace(q, now ? now : (now = fr_now_ns()));
				give_up(c, i, now);
				break;
			}
			q->busy_since = q->next_try = 0;
			unqueue(q, r);
			if (rc)
				fr_client_sent(c, r, rc);
		}
	}
}

static int encode(struct req *r, fr_msg *m)
{
	r->slen = fr_msg_encode(m, r->sbuf, FR_MSG_SIZE);
	return r->slen ? 0 : FERRY_E2BIG;
}

/* A new address vector entry for server i, taking down what the provider
 * kept of the old one's connection: tcp;ofi_rxm (libfabric 1.17) may
 * connect no more over an entry whose connection broke or never came up
 * (see again()). */
static void renew(ferry_client *c, unsigned i)
{
	struct fr_direct *d = c->direct;
	char host[FR_ADDR_MAX], port[16];

	fr_split_hostport(c->peer_names[i], host, sizeof(host), port,
			  sizeof(port));
	fr_fab_remove(d->fab, d->fi[i]);
	if (fr_fab_resolve(d->fab, host, port, &d->fi[i]))
		c->peer_status[i] = FERRY_EUNREACH;
}

/* Queues a HELLO to server i ahead of the next request: messages from one
 * sender arrive in order, so by that request the server knows us. Nobody
 * waits for it; its reply refreshes what the server told us. A server
 * that restarted also forgot our watches: they are registered again
 * (after the HELLO), and each gets a LOST event for what it missed. That
 * is done at once for a stale server (resync), else when the reply shows
 * another run of the server (hello_reply). A server that was down (its
 * HELLO failed) or whose connection broke (again()) is greeted over a new
 * address vector entry: nothing of ours can be in flight there. */
static int hello_reply(ferry_client *c, struct req *r, const fr_msg *rep);

static void greet(ferry_client *c, unsigned i, int resync, int wait)
{
	struct fr_direct *d = c->direct;
	struct req *r = fr_req_get(c, i, 1);
	uint8_t addr[256];
	size_t alen = sizeof(addr);
	fr_msg m;

	if (!r)
		return;
	if (d->renew[i] || (resync && c->peer_status[i])) {
		d->renew[i] = 0;
		renew(c, i);
	}
	d->stale[i] = 0;
	c->peer_heard[i] = fr_now_ns(); /* one HELLO at a time */
	r->reaped = 1;
	r->on_reply = hello_reply;
	r->opcode = FR_OP_HELLO;
	r->resynced = resync;
	if (fr_fab_getname(c->direct->fab, addr, &alen) == 0) {
		fr_hello_init(c, &m, addr, alen);
		m.h.id = (uint64_t)r->gen << 32 | r->index;
		if (encode(r, &m) == 0 && post_at(c, r, 1) == 0) {
			if (wait) {
				d->greeting[i] = r;
				d->greet_by[i] = fr_now_ns() + GREET_NS;
			}
			if (resync)
				fr_watch_resync(c, i);
			return;
		}
	}
	fr_client_sent(c, r, FERRY_EUNREACH);
}

/* A server that restarted forgot us and says nothing: it drops what we
 * send until we greet it again, and each such request would wait out its
 * whole time-out. So a server not heard from for QUIET_NS is greeted
 * ahead of the next request, which waits for the answer (hello_reply), and
 * one that holds our watches is greeted even while we only wait for
 * events. */
static int quiet(const ferry_client *c, unsigned i, uint64_t now)
{
	return now - c->peer_heard[i] > QUIET_NS;
}

/* 1 if a request other than except is out at server i. */
static int busy_at(const ferry_client *c, unsigned i, const struct req *except)
{
	for (unsigned k = 0; k < c->nreqs; k++) {
		const struct req *r = &c->reqs[k];
		if (r != except && r->busy && !r->finished && !r->queued &&
		    r->server == i)
			return 1;
	}
	return 0;
}

/* A greeting a quiet server has not answered in GREET_NS, with nothing
 * else of ours out there: over tcp, a send into a connection whose peer
 * process ended can pass without error (the peer's kernel refuses it
 * afterwards), and nothing would ever answer. The HELLO is given up
 * (quietly: it says nothing of the server) and sent again over a new
 * address vector entry; the requests behind it wait on. Each greeting
 * given up in a row doubles the wait for the next, up to 8 * GREET_NS,
 * so a dead server is not greeted five times a second for as long as
 * requests wait for it. */
static void unstick(ferry_client *c)
{
	struct fr_direct *d = c->direct;
	uint64_t now = 0;

	for (unsigned i = 0; i < c->npeers; i++) {
		struct req *g = d->greeting[i];
		if (!g || g->queued)
			continue;
		if (!now)
			now = fr_now_ns();
		if (now < d->greet_by[i])
			continue;
		d->greet_by[i] = now + GREET_NS;
		if (busy_at(c, i, g))
			continue;
		fr_req_finish(c, g, 0);
		d->renew[i] = 1;
		greet(c, i, 1, 1);
		if (d->regreets[i] < 3)
			d->regreets[i]++;
		d->greet_by[i] = now + (GREET_NS << d->regreets[i]);
	}
}

/* Greets each server that holds our watches and has gone quiet or stale
 * (see quiet()), unless something of ours is still out there: it answers,
 * or its time-out marks the server stale and the next look greets it.
 * Greeting a dead server every look instead piled up a HELLO and the
 * watches again every 250 ms, each waiting out its time-out. */
static void keep_watches(ferry_client *c)
{
	struct fr_direct *d = c->direct;
	uint64_t now;

	if (!c->ws)
		return;
	now = fr_now_ns();
	if (now < d->next_look)
		return;
	d->next_look = now + QUIET_NS / 4;
	for (unsigned i = 0; i < c->npeers; i++)
		if ((d->stale[i] || quiet(c, i, now)) && !fr_peer_down(c, i) &&
		    fr_watch_targets(c, i) && !busy_at(c, i, NULL))
			greet(c, i, d->stale[i], 0);
}

static int d_send(ferry_client *c, struct req *r, fr_msg *m)
{
	int rc = encode(r, m);

	if (rc)
		return rc;
	if (m->h.opcode != FR_OP_HELLO &&
	    (c->direct->stale[r->server] ||
	     quiet(c, r->server, fr_now_ns())))
		greet(c, r->server, c->direct->stale[r->server], 1);
	return post(c, r);
}

static int d_resend(ferry_client *c, struct req *r)
{
	if (!r->sent)
		return FERRY_EBUSY; /* its buffer is still the provider's */
	r->sent = 0;
	return post(c, r);
}

/* A request whose send failed (the provider says it was not delivered:
 * its connection broke, as when the server's process ended) goes again,
 * behind a HELLO, so that a server restarted meanwhile answers it rather
 * than the caller seeing FERRY_EUNREACH once per restart. Not at once,
 * and not over the same address vector entry: tcp;ofi_rxm (libfabric
 * 1.17) fails every send over a broken connection until its progress has
 * taken it down, and then connected no more over that entry (sent again
 * at once, each of four tries failed; 10 ms later, the request waited
 * out its time-out; over a new entry, it was answered in 23 ms). A
 * server that is gone costs RETRIES * RETRY_NS more. */
static int again(ferry_client *c, struct req *r)
{
	struct fr_direct *d = c->direct;

	if (r->retried == RETRIES || r->finished ||
	    r->opcode == FR_OP_HELLO || r->opcode == FR_OP_BYE)
		return 0;
	r->retried++;
	push(&d->held, r);
	d->renew[r->server] = 1;
	d->held_until = fr_now_ns() + RETRY_NS;
	return 1;
}

/* Sends what again() held, in order, behind a HELLO to each server. */
static void send_held(ferry_client *c)
{
	struct fr_direct *d = c->direct;
	struct req *r = d->held.head;

	if (!r || fr_now_ns() < d->held_until)
		return;
	d->held.head = d->held.tail = NULL;
	for (unsigned i = 0; i < c->npeers; i++)
		if (d->renew[i])
			greet(c, i, 1, 0);
	while (r) {
		struct req *next = r->next;
		int rc = r->finished ? 0 : post(c, r);
		r->next = NULL;
		if (r->finished || rc)
			fr_client_sent(c, r, rc);
		r = next;
	}
}

static void on_completion(ferry_client *c, const fr_comp *cp)
{
	struct fr_direct *d = c->direct;
	struct req_ctx *x = (struct req_ctx *)cp->ctx;

	if (!x)
		return;
	if (!x->req) {
		struct recv_buf *rb = (struct recv_buf *)x;
		if (!cp->err)
			fr_client_reply(c, rb->buf, cp->len);
		fr_fab_recv(d->fab, rb->buf, FR_MSG_SIZE, d->msg_mr.desc,
			    &rb->rx.ctx);
		return;
	}
	if (cp->err == FERRY_EUNREACH && again(c, x->req))
		return;
	fr_client_sent(c, x->req, cp->err);
}

static int d_progress(ferry_client *c, int timeout_ms)
{
	fr_comp comps[64];
	int n;

	send_held(c);
	flush_queues(c);
	unstick(c);
	keep_watches(c);
	n = fr_fab_poll(c->direct->fab, comps, 64);

	for (int i = 0; i < n; i++)
		on_completion(c, &comps[i]);
	/* Waiting for a reply: sleep on the wait descriptor. A provider
	 * without one (shm) also needs this side to make progress for the
	 * server's transfers to move, so a client waiting for a reply keeps
	 * polling there while answers are due, yielding the core to anyone
	 * who wants it; one that only waits for events, or for a server that
	 * stopped answering, sleeps a little at a time. */
	if (n <= 0 && timeout_ms > 0) {
		if (c->inflight && fr_fab_answers_due(c->direct->fab))
			sched_yield();
		else
			fr_fab_wait(c->direct->fab, timeout_ms);
	}
	return n > 0 ? n : 0;
}

static struct region *find_region(struct fr_direct *d, const void *p,
				  size_t len)
{
	for (struct region *g = d->regions; g; g = g->next) {
		const char *b = g->mr.base;
		if ((const char *)p >= b && len <= g->len &&
		    (const char *)p - b <= (ptrdiff_t)(g->len - len))
			return g;
	}
	return NULL;
}

/* A registered region if [p, p+len) lies in one, else a registration of
 * the caller's buffer for this request only. */
static int d_reach(ferry_client *c, struct req *r, void *p, size_t len,
		   int write, uint64_t *raddr, uint64_t *rkey)
{
	struct region *g = find_region(c->direct, p, len);
	const fr_mr *mr = g ? &g->mr : &r->mr;

	if (!g && fr_mr_reg(c->direct->fab, p, len,
			    write ? FI_REMOTE_WRITE : FI_REMOTE_READ, &r->mr))
		return FERRY_EFABRIC;
	*raddr = fr_mr_raddr(mr, p);
	*rkey = mr->key;
	return 0;
}

/* fr_hello_reply, and the server's boot number. Another one than before
 * is a new process that knows nothing of us, and the provider may still
 * use what it set up with the old one (libfabric 1.17 shm delivered the
 * requests behind the HELLO as from an unknown sender, which the server
 * drops): it is greeted again over a new address vector entry, ahead of
 * the requests that wait for this HELLO (they go once it finished,
 * d_release), and the watches are registered there. The same process
 * answering FRESH holds none of our watches (it dropped them when we were
 * silent past its watcher time-out, or forgot us when a send to us
 * failed): they are registered again behind this HELLO, unless they
 * already are. */
static int hello_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	struct fr_direct *d = c->direct;
	unsigned i = r->server;
	uint64_t was = d->boot[i];

	d->boot[i] = rep->w[FR_HELLO_R_BOOT];
	d->regreets[i] = 0;
	if (was && was != d->boot[i]) {
		d->renew[i] = 1;
		greet(c, i, !r->resynced, 0);
	} else if (was && rep->w[FR_HELLO_R_FRESH] && !r->resynced) {
		fr_watch_resync(c, i);
	}
	return fr_hello_reply(c, r, rep);
}

static void d_release(ferry_client *c, struct req *r)
{
	struct fr_direct *d = c->direct;

	fr_mr_close(&r->mr);
	if (r->queued) { /* expired before the provider took it */
		unqueue(&d->q[r->server], r);
		r->sent = 1;
	}
	if (d->greeting[r->server] == r)
		d->greeting[r->server] = NULL; /* those behind it may go */
	if (r->status == FERRY_ETIMEDOUT || r->status == FERRY_EUNREACH) {
		d->stale[r->server] = 1;
		/* A server already known to be down is tried again only
		 * after a second: calls meanwhile fail at once. */
		if (c->peer_status[r->server] || r->opcode == FR_OP_HELLO) {
			c->peer_status[r->server] = r->status;
			c->peer_retry[r->server] = fr_now_ns() + DOWN_NS;
		}
	}
}

static int add_region(ferry_client *c, void *base, size_t len, int owned)
{
	struct region *g = calloc(1, sizeof(*g));

	if (!g)
		return FERRY_ENOMEM;
	if (fr_mr_reg(c->direct->fab, base, len,
		      FI_REMOTE_READ | FI_REMOTE_WRITE, &g->mr)) {
		free(g);
		return FERRY_EFABRIC;
	}
	g->len = len;
	g->owned = owned;
	g->next = c->direct->regions;
	c->direct->regions = g;
	return 0;
}

int fr_direct_add_region(ferry_client *c, void *base, size_t len)
{
	return add_region(c, base, len, 0);
}

static int remove_region(ferry_client *c, void *base)
{
	for (struct region **pg = &c->direct->regions; *pg;
	     pg = &(*pg)->next) {
		struct region *g = *pg;
		if (g->mr.base != base)
			continue;
		*pg = g->next;
		fr_mr_close(&g->mr);
		if (g->owned)
			munmap(base, g->len);
		free(g);
		return 0;
	}
	return FERRY_EINVAL;
}

void fr_direct_remove_region(ferry_client *c, void *base)
{
	remove_region(c, base);
}

int fr_direct_fd(ferry_client *c)
{
	return fr_fab_fd(c->direct->fab);
}

int fr_direct_trywait(ferry_client *c)
{
	return fr_fab_trywait(c->direct->fab);
}

uint64_t fr_direct_spin_ns(ferry_client *c, unsigned spin_us)
{
	return fr_fab_spin_ns(c->direct->fab, spin_us);
}

int fr_direct_answers_due(ferry_client *c)
{
	return fr_fab_answers_due(c->direct->fab);
}

static void *d_alloc(ferry_client *c, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (add_region(c, p, size, 1)) {
		munmap(p, size);
		return NULL;
	}
	return p;
}

static int d_free(ferry_client *c, void *p)
{
	return remove_region(c, p);
}

/* Tells the servers to forget us (BYE has no reply), waits briefly for
 * the sends to leave, then takes everything down in reverse order. */
static void d_close(ferry_client *c)
{
	struct fr_direct *d = c->direct;
	fr_msg m;

	if (!d)
		return;
	for (unsigned i = 0; d->msgs && c->reqs && i < c->npeers; i++) {
		struct req *r;
		if (c->peer_status[i] || !(r = fr_req_get(c, i, 1)))
			continue;
		fr_msg_init(&m, FR_OP_BYE, 0, 0);
		r->finished = r->reaped = 1;
		r->opcode = FR_OP_BYE;
		if (encode(r, &m) == 0 && post(c, r) == 0) {
			uint64_t end = fr_now_ns() + 1000000000ull;
			while (!r->sent && fr_now_ns() < end)
				d_progress(c, 1);
		}
	}
	while (d->regions)
		remove_region(c, d->regions->mr.base);
	for (unsigned i = 0; c->reqs && i < c->nreqs; i++)
		fr_mr_close(&c->reqs[i].mr);
	fr_mr_close(&d->msg_mr);
	fr_fab_close(&d->fab);
	free(d->fi);
	free(d->q);
	free(d->stale);
	free(d->renew);
	free(d->boot);
	free(d->greeting);
	free(d->greet_by);
	free(d->regreets);
	free(d->recvs);
	free(d->msgs);
	free(d);
	c->direct = NULL;
}

static const struct fr_transport direct_tp = {
	.send = d_send,
	.resend = d_resend,
	.progress = d_progress,
	.reach = d_reach,
	.release = d_release,
	.alloc = d_alloc,
	.free = d_free,
	.close = d_close,
};

static int setup_buffers(ferry_client *c)
{
	struct fr_direct *d = c->direct;
	size_t bytes = (size_t)(c->nreqs + d->nrecv) * FR_MSG_SIZE;
	int rc;

	d->msgs = aligned_alloc(4096, bytes);
	d->recvs = calloc(d->nrecv, sizeof(*d->recvs));
	if (!d->msgs || !d->recvs)
		return FERRY_ENOMEM;
	rc = fr_mr_reg(d->fab, d->msgs, bytes, FI_SEND | FI_RECV, &d->msg_mr);
	if (rc)
		return rc;
	for (unsigned i = 0; i < c->nreqs; i++)
		c->reqs[i].sbuf = d->msgs + (size_t)i * FR_MSG_SIZE;
	for (unsigned i = 0; i < d->nrecv; i++) {
		struct recv_buf *rb = &d->recvs[i];
		rb->buf = d->msgs + (size_t)(c->nreqs + i) * FR_MSG_SIZE;
		rc = fr_fab_recv(d->fab, rb->buf, FR_MSG_SIZE, d->msg_mr.desc,
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
	int *st = calloc(c->npeers, sizeof(*st)), rc, up = 0;
	fr_msg m;

	if (!st)
		return FERRY_ENOMEM;
	rc = fr_fab_getname(c->direct->fab, addr, &alen);
	if (rc) {
		free(st);
		return rc;
	}
	fr_hello_init(c, &m, addr, alen);
	fr_broadcast(c, &m, hello_reply, NULL, st);
	rc = FERRY_EUNREACH;
	for (unsigned i = 0; i < c->npeers; i++) {
		c->peer_status[i] = st[i];
		if (!st[i]) {
			up++;
			continue;
		}
		rc = st[i];
		c->direct->stale[i] = 1;
		if (c->peer_retry[i] != UINT64_MAX)
			c->peer_retry[i] = fr_now_ns() + 1000000000ull;
	}
	free(st);
	return up ? 0 : rc;
}

int fr_direct_open(ferry_client *c, const ferry_opts *o, const fr_cluster *cl)
{
	struct fr_direct *d;
	char host[FR_ADDR_MAX], port[16];
	int rc = fr_client_init(c, o, cl->nservers);

	if (rc)
		return rc;
	d = c->direct = calloc(1, sizeof(*d));
	if (!d)
		return FERRY_ENOMEM;
	c->tp = &direct_tp;
	c->mode = "direct";
	d->fi = calloc(cl->nservers, sizeof(*d->fi));
	d->q = calloc(cl->nservers, sizeof(*d->q));
	d->stale = calloc(cl->nservers, sizeof(*d->stale));
	d->renew = calloc(cl->nservers, sizeof(*d->renew));
	d->boot = calloc(cl->nservers, sizeof(*d->boot));
	d->greeting = calloc(cl->nservers, sizeof(*d->greeting));
	d->greet_by = calloc(cl->nservers, sizeof(*d->greet_by));
	d->regreets = calloc(cl->nservers, sizeof(*d->regreets));
	if (!d->fi || !d->q || !d->stale || !d->renew || !d->boot ||
	    !d->greeting || !d->greet_by || !d->regreets)
		return FERRY_ENOMEM;
	rc = fr_fab_open(&d->fab, cl->provider, NULL, NULL, NULL);
	if (rc)
		return rc;
	d->nrecv = (unsigned)FR_MIN(c->nreqs + 16, fr_fab_rx_depth(d->fab));
	for (unsigned i = 0; i < cl->nservers; i++) {
		memcpy(c->peer_names[i], cl->servers[i], FR_ADDR_MAX);
		fr_split_hostport(cl->servers[i], host, sizeof(host), port,
				  sizeof(port));
		if (fr_fab_resolve(d->fab, host, port, &d->fi[i]))
			c->peer_status[i] = FERRY_EUNREACH;
		c->peer_retry[i] = UINT64_MAX; /* an address never resolves later */
	}
	rc = fr_ring_build(&c->ring, (const char(*)[64])cl->servers,
			   cl->nservers);
	if (!rc)
		rc = setup_buffers(c);
	if (!rc)
		rc = hello_all(c);
	return rc;
}
