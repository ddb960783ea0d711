/* Telling watchers about changes: see events.h. */
#include "server/events.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ferry.h"
#include "proto/wire.h"
#include "server/ns.h"
#include "server/watch.h"

#define WHO "ferry-server"
#define BACKOFF_MIN_NS 1000000ull  /* a peer whose sends bounce waits 1 ms, */
#define BACKOFF_MAX_NS 64000000ull /* doubling up to 64 ms */
#define DROP_LOG_NS (60 * 1000000000ull)

/* A send buffer of the pool. */
struct ev_buf {
	fr_ctx ctx; /* first: completions hand it back */
	fi_addr_t peer;
	uint8_t *data;
	struct ev_buf *next; /* free list */
};

/* An event waiting for a buffer. */
struct ev_item {
	struct ev_item *next;
	uint64_t id;
	uint8_t kind;
	uint16_t klen;
	uint8_t key[];
};

/* What waits for one peer, by fi_addr_t. */
struct ev_peer {
	struct ev_item *head, *tail;
	size_t queued;
	unsigned inflight;  /* pool buffers in flight to it */
	uint64_t retry_ns;  /* after a bounced send: not before then */
	uint64_t backoff_ns;
	int owed;           /* some watch of it may be owed a LOST event */
	int active;         /* listed in fr_events.active */
};

struct fr_events {
	fr_fab *fab;
	fr_mr mr;
	uint8_t *mem;
	struct ev_buf bufs[FR_EV_BUFS];
	struct ev_buf *free;
	fr_watch_table *wt;
	fr_events_alive_fn alive;
	void *alive_arg;
	struct ev_peer *peers;
	size_t npeers;
	fi_addr_t *active; /* peers with queued events or LOST owed */
	size_t nactive, active_cap;
	size_t queued; /* events queued for all peers */
	uint64_t dropped; /* since the last log line */
	uint64_t drop_log_ns;
};

int fr_events_new(fr_events **out, fr_fab *fab, fr_events_alive_fn alive,
		  void *arg)
{
	fr_events *ev = calloc(1, sizeof(*ev));
	size_t bytes = (size_t)FR_EV_BUFS * FR_EV_BUF_SIZE;
	int rc;

	*out = NULL;
	if (!ev)
		return FERRY_ENOMEM;
	ev->fab = fab;
	ev->alive = alive;
	ev->alive_arg = arg;
	ev->mem = aligned_alloc(4096, bytes);
	rc = ev->mem ? fr_watch_table_new(&ev->wt) : FERRY_ENOMEM;
	if (!rc)
		rc = fr_mr_reg(fab, ev->mem, bytes, FI_SEND, &ev->mr);
	if (rc) {
		fr_events_free(&ev);
		return rc;
	}
	for (size_t i = FR_EV_BUFS; i-- > 0;) {
		ev->bufs[i].data = ev->mem + i * FR_EV_BUF_SIZE;
		ev->bufs[i].next = ev->free;
		ev->free = &ev->bufs[i];
	}
	*out = ev;
	return 0;
}

static void drop_queue(fr_events *ev, struct ev_peer *p)
{
	while (p->head) {
		struct ev_item *it = p->head;
		p->head = it->next;
		free(it);
	}
	p->tail = NULL;
	ev->queued -= p->queued;
	p->queued = 0;
}

void fr_events_free(fr_events **evp)
{
	fr_events *ev = *evp;

	if (!ev)
		return;
	for (size_t i = 0; i < ev->npeers; i++)
		drop_queue(ev, &ev->peers[i]);
	fr_mr_close(&ev->mr);
	fr_watch_table_free(&ev->wt);
	free(ev->mem);
	free(ev->peers);
	free(ev->active);
	free(ev);
	*evp = NULL;
}

int fr_events_watch(fr_events *ev, fi_addr_t peer, uint64_t id, int exact,
		    const void *prefix, size_t plen)
{
	return fr_watch_add(ev->wt, peer, id, exact, prefix, plen);
}

void fr_events_unwatch(fr_events *ev, fi_addr_t peer, uint64_t id)
{
	fr_watch_remove(ev->wt, peer, id);
}

void fr_events_forget(fr_events *ev, fi_addr_t peer)
{
	fr_watch_remove_peer(ev->wt, peer);
	if (peer < ev->npeers) {
		drop_queue(ev, &ev->peers[peer]);
		ev->peers[peer].owed = 0;
	}
}

int fr_events_watching(const fr_events *ev, fi_addr_t peer)
{
	return fr_watch_of_peer(ev->wt, peer) != NULL;
}

size_t fr_events_watches(const fr_events *ev)
{
	return fr_watch_count(ev->wt);
}

/* The state of peer, made if need be; NULL when out of memory. */
static struct ev_peer *peer_of(fr_events *ev, fi_addr_t peer)
{
	if (peer >= FR_WATCH_PEER_MAX ||
	    fr_grow_zeroed((void **)&ev->peers, &ev->npeers, peer,
			   sizeof(*ev->peers)))
		return NULL;
	return &ev->peers[peer];
}

/* Lists peer among those fr_events_flush looks at. */
static void activate(fr_events *ev, fi_addr_t peer, struct ev_peer *p)
{
	if (p->active)
		return;
	if (ev->nactive == ev->active_cap) {
		size_t cap = ev->active_cap ? 2 * ev->active_cap : 64;
		fi_addr_t *a = realloc(ev->active, cap * sizeof(*a));
		if (!a)
			return; /* listed again by its next event */
		ev->active = a;
		ev->active_cap = cap;
	}
	ev->active[ev->nactive++] = peer;
	p->active = 1;
}

/* Room in the queues for n more events to p. */
static int room(const fr_events *ev, const struct ev_peer *p, size_t n)
{
	return ev->queued + n <= FR_EV_QUEUE_MAX &&
	       p->queued + n <= FR_EV_PEER_QUEUE_MAX;
}

static int can_send(const fr_events *ev, const struct ev_peer *p,
		    uint64_t now)
{
	return ev->free && p->inflight < FR_EV_PEER_INFLIGHT &&
	       now >= p->retry_ns;
}

/* Posts one event to peer from a pool buffer. Returns 0, or FERRY_EBUSY
 * when it must wait (the provider's queue is full, or the peer is still
 * being connected to), in which case the peer backs off a while. */
static int send_one(fr_events *ev, fi_addr_t peer, struct ev_peer *p,
		    uint64_t id, int kind, const void *key, size_t klen)
{
	struct ev_buf *b = ev->free;
	size_t n;
	fr_msg m;
	int rc;

	fr_msg_init(&m, FR_OP_EVENT, 0, 0);
	m.w[FR_EVENT_ID] = id;
	m.w[FR_EVENT_KIND] = (uint64_t)kind;
	m.w[FR_EVENT_KLEN] = klen;
	m.blob[0] = key;
	n = fr_msg_encode(&m, b->data, FR_EV_BUF_SIZE);
	rc = fr_fab_try_send(ev->fab, b->data, n, ev->mr.desc, peer, &b->ctx);
	if (rc) {
		/* Busy or broken alike: try again later; a peer that never
		 * takes anything fills its queue and loses events. */
		p->backoff_ns = FR_MIN(p->backoff_ns ? 2 * p->backoff_ns
						     : BACKOFF_MIN_NS,
				       BACKOFF_MAX_NS);
		p->retry_ns = fr_now_ns() + p->backoff_ns;
		return FERRY_EBUSY;
	}
	p->backoff_ns = 0;
	ev->free = b->next;
	b->peer = peer;
	p->inflight++;
	return 0;
}

/* Sends an event to peer now if nothing of the peer's waits before it,
 * else queues it. Returns 0, or FERRY_ENOSPC when the queues are full
 * (the event is dropped). */
static int push(fr_events *ev, fi_addr_t peer, struct ev_peer *p, uint64_t id,
		int kind, const void *key, size_t klen)
{
	struct ev_item *it;

	if (!p->head && can_send(ev, p, fr_now_ns()) &&
	    send_one(ev, peer, p, id, kind, key, klen) == 0)
		return 0;
	if (!room(ev, p, 1) || !(it = malloc(sizeof(*it) + klen)))
		return FERRY_ENOSPC;
	it->next = NULL;
	it->id = id;
	it->kind = (uint8_t)kind;
	it->klen = (uint16_t)klen;
	if (klen)
		memcpy(it->key, key, klen);
	*(p->tail ? &p->tail->next : &p->head) = it;
	p->tail = it;
	p->queued++;
	ev->queued++;
	activate(ev, peer, p);
	return 0;
}

static void dropped(fr_events *ev)
{
	uint64_t now = fr_now_ns();

	ev->dropped++;
	if (ev->drop_log_ns && now - ev->drop_log_ns < DROP_LOG_NS)
		return;
	fr_log(WHO,
	       "dropped %llu event%s: watchers read too slowly (they get a "
	       "LOST event)",
	       (unsigned long long)ev->dropped, ev->dropped == 1 ? "" : "s");
	ev->dropped = 0;
	ev->drop_log_ns = now;
}

struct change {
	fr_events *ev;
	int kind;
	const void *key;
	size_t klen;
};

/* One watch matched a change: tell its peer, after the LOST event it is
 * owed if events of it were dropped before. */
static void on_match(void *arg, fr_watch *w)
{
	struct change *ch = arg;
	fr_events *ev = ch->ev;
	struct ev_peer *p;

	if (!ev->alive(ev->alive_arg, w->peer))
		return;
	p = peer_of(ev, w->peer);
	if (p && w->lost && room(ev, p, 2)) {
		push(ev, w->peer, p, w->id, FERRY_EV_LOST, NULL, 0);
		w->lost = 0;
	}
	if (p && !w->lost &&
	    push(ev, w->peer, p, w->id, ch->kind, ch->key, ch->klen) == 0)
		return;
	w->lost = 1;
	if (p) {
		p->owed = 1;
		activate(ev, w->peer, p);
	}
	dropped(ev);
}

void fr_events_emit(void *arg, int kind, const void *key, size_t klen)
{
	/* Watches match the whole stored key; watchers are told the key
	 * as their namespace knows it. */
	struct change ch = {arg, kind, (const uint8_t *)key + FR_NS_KEY,
			    klen - FR_NS_KEY};

	fr_watch_match(ch.ev->wt, key, klen, on_match, &ch);
}

int fr_events_complete(fr_events *ev, const fr_comp *c, fi_addr_t *failed)
{
	struct ev_buf *b = (struct ev_buf *)c->ctx;

	if (b < ev->bufs || b >= ev->bufs + FR_EV_BUFS)
		return 0;
	*failed = c->err ? b->peer : FI_ADDR_NOTAVAIL;
	if (b->peer < ev->npeers)
		ev->peers[b->peer].inflight--;
	b->next = ev->free;
	ev->free = b;
	return 1;
}

/* Sends p's queued events while buffers and its share allow. */
static void flush_peer(fr_events *ev, fi_addr_t peer, struct ev_peer *p,
		       uint64_t now)
{
	if (!ev->alive(ev->alive_arg, peer)) {
		drop_queue(ev, p);
		p->owed = 0;
		return;
	}
	while (p->head && can_send(ev, p, now)) {
		struct ev_item *it = p->head;
		if (send_one(ev, peer, p, it->id, it->kind, it->key, it->klen))
			return;
		p->head = it->next;
		if (!p->head)
			p->tail = NULL;
		p->queued--;
		ev->queued--;
		free(it);
	}
}

/* Once p's queue has room again, queues the LOST events its watches are
 * owed. Each walk that finds room clears at least one, so walking the
 * peer's watches costs O(its watches) per LOST event at most. */
static void pay_lost(fr_events *ev, fi_addr_t peer, struct ev_peer *p)
{
	if (!room(ev, p, 1))
		return;
	p->owed = 0;
	for (fr_watch *w = fr_watch_of_peer(ev->wt, peer); w; w = w->pnext) {
		if (!w->lost)
			continue;
		if (!room(ev, p, 1) ||
		    push(ev, peer, p, w->id, FERRY_EV_LOST, NULL, 0)) {
			p->owed = 1;
			return;
		}
		w->lost = 0;
	}
}

int fr_events_flush(fr_events *ev)
{
	uint64_t now, soonest = 0;
	size_t kept = 0;

	if (!ev->nactive)
		return -1;
	now = fr_now_ns();
	/* Peers activated meanwhile are appended and looked at next time. */
	for (size_t i = 0, n = ev->nactive; i < n; i++) {
		fi_addr_t peer = ev->active[i];
		struct ev_peer *p = &ev->peers[peer];
		flush_peer(ev, peer, p, now);
		if (p->owed)
			pay_lost(ev, peer, p);
		if (!p->head && !p->owed) {
			p->active = 0;
			continue;
		}
		if (p->head && ev->free && p->inflight < FR_EV_PEER_INFLIGHT &&
		    (!soonest || p->retry_ns < soonest))
			soonest = p->retry_ns; /* waits for its back-off */
	}
	for (size_t i = 0; i < ev->nactive; i++)
		if (ev->peers[ev->active[i]].active)
			ev->active[kept++] = ev->active[i];
	ev->nactive = kept;
	if (!soonest)
		return -1;
	return soonest <= now ? 0 : (int)((soonest - now + 999999) / 1000000);
}
