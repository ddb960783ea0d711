/*
 * Watching keys in libferry: the client's list of watches, the queue of
 * events received for them, and ferry_watch, ferry_unwatch,
 * ferry_event_next and ferry_wait.
 *
 * A watch has an id this client chose (a random start, then counting up,
 * so ids are unique per client and hardly ever equal another client's).
 * WATCH goes to every server (a prefix watch) or to the key's server (an
 * exact watch) in direct mode, and to the proxy in proxy mode; each then
 * sends EVENT messages under that id. The list of watches stays here, as
 * the state every server should hold: a server greeted again, or a proxy
 * reconnected, gets every watch of it again (fr_watch_resync, then
 * fr_watch_pump), and each such watch gets a LOST event, since whatever
 * happened meanwhile was not seen. A watch keeps the namespace it was made
 * in (client.ns then: the proxy's admin client acts in many) and is
 * registered again in it.
 *
 * The queue holds at most EVQ_MAX events. One more for a watch is dropped,
 * and the watch gets a LOST event instead, queued once (it lives in the
 * watch itself, so it needs no memory) until ferry_event_next takes it.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client/client_int.h"
#include "common/util.h"

#define EVQ_MAX 65536
#define SLICE_NS 100000000ull /* a waiting client looks this often for a
				 restarted proxy (stream), or drives the
				 transport, which greets quiet servers
				 (direct) */
#define ALL_PEERS UINT32_MAX

struct cevent {
	struct cevent *next;
	uint64_t watch;
	uint8_t kind;
	uint8_t embedded; /* a watch's own LOST event, not malloc'd */
	uint16_t klen;
	uint8_t key[];
};

struct cwatch {
	uint64_t id;
	unsigned peer; /* the one server of an exact watch (direct), or
			  ALL_PEERS */
	unsigned flags;
	uint64_t ns; /* the namespace it watches in (client.ns when made) */
	size_t plen;
	uint8_t *prefix;
	int lost_queued;
	struct cevent lost; /* its LOST event, while queued (last: a
			       struct ending in a flexible array) */
};

struct fr_watchset {
	struct cwatch **w; /* sorted by id */
	size_t n, cap;
	uint64_t next_id;
	struct cevent *head, *tail;
	size_t count; /* events queued, LOST events aside */
	uint64_t want; /* the watch a waiter waits for (0: any) */
	int signal;    /* set when an event for it was queued */
	/* Per peer: watches with ids in [from, to) are to be registered
	 * again; gen counts resyncs, so the pump notices one under it. */
	uint64_t *from, *to, *gen;
	unsigned pending; /* peers with from < to */
};

static struct fr_watchset *watchset(ferry_client *c)
{
	struct fr_watchset *ws = c->ws;

	if (ws)
		return ws;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return NULL;
	ws->from = calloc(c->npeers, sizeof(*ws->from));
	ws->to = calloc(c->npeers, sizeof(*ws->to));
	ws->gen = calloc(c->npeers, sizeof(*ws->gen));
	if (!ws->from || !ws->to || !ws->gen) {
		free(ws->from);
		free(ws->to);
		free(ws->gen);
		free(ws);
		return NULL;
	}
	if (getrandom(&ws->next_id, sizeof(ws->next_id), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(ws->next_id))
		ws->next_id = fr_now_ns() ^ (uint64_t)(uintptr_t)ws;
	/* Room to count up for ever, and never 0. */
	ws->next_id = (ws->next_id >> 2) | 1;
	c->ws = ws;
	return ws;
}

/* Index of the first watch with an id at or above id. */
static size_t lower_bound(const struct fr_watchset *ws, uint64_t id)
{
	size_t lo = 0, hi = ws->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ws->w[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct cwatch *find(const struct fr_watchset *ws, uint64_t id)
{
	size_t i = ws ? lower_bound(ws, id) : 0;

	return ws && i < ws->n && ws->w[i]->id == id ? ws->w[i] : NULL;
}

/* ---- the event queue ------------------------------------------------------ */

static void append(struct fr_watchset *ws, struct cevent *e)
{
	e->next = NULL;
	*(ws->tail ? &ws->tail->next : &ws->head) = e;
	ws->tail = e;
	if (!e->embedded)
		ws->count++;
	if (!ws->want || ws->want == e->watch)
		ws->signal = 1;
}

static void queue_lost(struct fr_watchset *ws, struct cwatch *w)
{
	if (w->lost_queued)
		return;
	w->lost = (struct cevent){.watch = w->id, .kind = FERRY_EV_LOST,
				  .embedded = 1};
	w->lost_queued = 1;
	append(ws, &w->lost);
}

/* Frees a taken event, or unmarks a watch's own LOST event. */
static void release(struct fr_watchset *ws, struct cevent *e)
{
	struct cwatch *w;

	if (!e->embedded) {
		ws->count--;
		free(e);
	} else if ((w = find(ws, e->watch))) {
		w->lost_queued = 0;
	}
}

void fr_watch_event(ferry_client *c, const fr_msg *m)
{
	struct fr_watchset *ws = c->ws;
	struct cwatch *w = find(ws, m->w[FR_EVENT_ID]);
	struct cevent *e;
	size_t klen = m->blen[0];

	if (!w)
		return; /* unwatched meanwhile, or never ours */
	if (m->w[FR_EVENT_KIND] == FERRY_EV_LOST) {
		queue_lost(ws, w);
		return;
	}
	e = ws->count < EVQ_MAX ? malloc(sizeof(*e) + klen) : NULL;
	if (!e) {
		queue_lost(ws, w);
		return;
	}
	e->watch = w->id;
	e->kind = (uint8_t)m->w[FR_EVENT_KIND];
	e->embedded = 0;
	e->klen = (uint16_t)klen;
	memcpy(e->key, m->blob[0], klen);
	append(ws, e);
}

/* Takes the oldest event of watch id (0: of any watch) off the queue. */
static struct cevent *take(struct fr_watchset *ws, uint64_t id)
{
	struct cevent **pe, *prev = NULL;

	for (pe = &ws->head; *pe; prev = *pe, pe = &(*pe)->next) {
		struct cevent *e = *pe;
		if (id && e->watch != id)
			continue;
		*pe = e->next;
		if (ws->tail == e)
			ws->tail = prev;
		return e;
	}
	return NULL;
}

/* ---- registering ---------------------------------------------------------- */

static void watch_msg(fr_msg *m, const struct cwatch *w)
{
	fr_msg_init(m, FR_OP_WATCH, w->flags & FERRY_WATCH_EXACT ? FR_F_EXACT : 0,
		    0);
	m->w[FR_WATCH_PLEN] = w->plen;
	m->w[FR_WATCH_ID] = w->id;
	m->blob[0] = w->prefix;
}

/* Sends a watch's request to peer in namespace ns without waiting (an
 * admin's client, the proxy's, acts in many; send_req stamps c->ns). */
static int send_in(ferry_client *c, unsigned peer, fr_msg *m, uint64_t ns)
{
	uint64_t keep = c->ns;
	int rc;

	c->ns = ns;
	rc = fr_send_noreply(c, peer, m);
	c->ns = keep;
	return rc;
}

static int targets(const struct cwatch *w, unsigned peer)
{
	return w->peer == ALL_PEERS || w->peer == peer;
}

int fr_watch_targets(const ferry_client *c, unsigned peer)
{
	const struct fr_watchset *ws = c->ws;

	for (size_t i = 0; ws && i < ws->n; i++)
		if (targets(ws->w[i], peer))
			return 1;
	return 0;
}

/* Schedules the watches with ids in [from, to) to be sent to peer. */
static void schedule(struct fr_watchset *ws, unsigned peer, uint64_t from,
		     uint64_t to)
{
	if (ws->from[peer] >= ws->to[peer]) {
		ws->pending++;
		ws->from[peer] = from;
		ws->to[peer] = to;
	} else {
		ws->from[peer] = FR_MIN(ws->from[peer], from);
		ws->to[peer] = FR_MAX(ws->to[peer], to);
	}
	ws->gen[peer]++;
}

void fr_watch_resync(ferry_client *c, unsigned peer)
{
	struct fr_watchset *ws = c->ws;
	int any = 0;

	if (!ws || peer >= c->npeers)
		return;
	for (size_t i = 0; i < ws->n; i++)
		if (targets(ws->w[i], peer)) {
			queue_lost(ws, ws->w[i]);
			any = 1;
		}
	if (any)
		schedule(ws, peer, ws->w[0]->id, ws->next_id);
}

/* Registers pending watches. A peer that has not answered since it was
 * last down (peer_status set) gets one watch per call: with it goes a
 * HELLO (direct.c greets a stale server first), and only once that is
 * answered do the rest follow, so a dead server holds at most a slot or
 * two until its requests time out, not one per watch. */
void fr_watch_pump(ferry_client *c)
{
	struct fr_watchset *ws = c->ws;

	for (unsigned p = 0; ws && ws->pending && p < c->npeers; p++) {
		int probe = c->peer_status[p] != 0;
		if (fr_peer_down(c, p))
			continue;
		while (ws->from[p] < ws->to[p]) {
			size_t i = lower_bound(ws, ws->from[p]);
			uint64_t gen = ws->gen[p];
			struct cwatch *w = i < ws->n ? ws->w[i] : NULL;
			fr_msg m;
			if (!w || w->id >= ws->to[p]) {
				ws->from[p] = ws->to[p];
				break;
			}
			if (targets(w, p)) {
				watch_msg(&m, w);
				if (send_in(c, p, &m, w->ns) == FERRY_EBUSY)
					return; /* no slot free: next time */
			}
			/* A resync meanwhile (this send greeted the server)
			 * starts the peer over: keep its range. */
			if (ws->gen[p] == gen)
				ws->from[p] = w->id + 1;
			if (probe && targets(w, p))
				break;
		}
		if (ws->from[p] >= ws->to[p] && ws->to[p]) {
			ws->to[p] = ws->from[p] = 0;
			ws->pending--;
		}
	}
}

static int noop_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	return 0;
}

static int unreachable(int rc)
{
	return rc == FERRY_EUNREACH || rc == FERRY_ETIMEDOUT;
}

/* Sends w's WATCH to the peers it targets and waits. Returns 0 if at
 * least one took it and the others are unreachable (they get it once
 * they answer again: fr_watch_pump), else the first failure. */
static int tell(ferry_client *c, struct fr_watchset *ws,
		const struct cwatch *w)
{
	int *st, rc = 0, ok = 0;
	fr_msg m;

	watch_msg(&m, w);
	if (w->peer != ALL_PEERS)
		return fr_ask_up(c, w->peer, &m, noop_reply, NULL);
	st = calloc(c->npeers, sizeof(*st));
	if (!st)
		return FERRY_ENOMEM;
	fr_broadcast(c, &m, noop_reply, NULL, st);
	for (unsigned i = 0; i < c->npeers; i++) {
		ok |= !st[i];
		if (st[i] && (!rc || (unreachable(rc) && !unreachable(st[i]))))
			rc = st[i];
	}
	if (ok && unreachable(rc)) {
		rc = 0;
		for (unsigned i = 0; i < c->npeers; i++)
			if (st[i])
				schedule(ws, i, w->id, w->id + 1);
	}
	free(st);
	return rc;
}

/* Asks w's peers to forget it, without waiting; a peer that never hears
 * of it sends events that are dropped on arrival. In the default
 * namespace: w's own may have been removed meanwhile, and a server finds
 * the watch by its id alone. */
static void untell(ferry_client *c, const struct cwatch *w)
{
	fr_msg m;

	fr_msg_init(&m, FR_OP_UNWATCH, 0, 0);
	m.w[FR_UNWATCH_ID] = w->id;
	for (unsigned p = 0; p < c->npeers; p++)
		if (targets(w, p) && !fr_peer_down(c, p))
			send_in(c, p, &m, 0);
}

/* Takes w out of the list and drops its queued events. */
static void forget(struct fr_watchset *ws, struct cwatch *w)
{
	size_t i = lower_bound(ws, w->id);
	struct cevent *e;

	while ((e = take(ws, w->id)))
		if (!e->embedded)
			release(ws, e);
	memmove(&ws->w[i], &ws->w[i + 1], (ws->n - i - 1) * sizeof(*ws->w));
	ws->n--;
	free(w->prefix);
	free(w);
}

int ferry_watch(ferry_client *c, const void *prefix, size_t plen,
		unsigned flags, uint64_t *watch)
{
	struct fr_watchset *ws;
	struct cwatch *w;
	int rc;

	if (!c || !watch || (plen && !prefix) || (flags & ~FERRY_WATCH_EXACT) ||
	    ((flags & FERRY_WATCH_EXACT) && !plen))
		return FERRY_EINVAL;
	if (plen > FERRY_KEY_MAX)
		return FERRY_E2BIG;
	if (c->tp->ready && (rc = c->tp->ready(c)))
		return rc;
	ws = watchset(c);
	if (!ws)
		return FERRY_ENOMEM;
	fr_watch_pump(c);
	if (ws->n == ws->cap) {
		size_t cap = ws->cap ? 2 * ws->cap : 16;
		struct cwatch **nw = realloc(ws->w, cap * sizeof(*nw));
		if (!nw)
			return FERRY_ENOMEM;
		ws->w = nw;
		ws->cap = cap;
	}
	w = calloc(1, sizeof(*w));
	if (w)
		w->prefix = malloc(plen ? plen : 1);
	if (!w || !w->prefix) {
		free(w);
		return FERRY_ENOMEM;
	}
	if (plen)
		memcpy(w->prefix, prefix, plen);
	w->plen = plen;
	w->flags = flags;
	w->ns = c->ns;
	w->id = ws->next_id++;
	w->peer = (flags & FERRY_WATCH_EXACT) && c->ring.npoints
			  ? fr_ring_pick(&c->ring, prefix, plen)
			  : ALL_PEERS;
	/* Listed before it is sent: events may come before the reply. */
	ws->w[ws->n++] = w;
	rc = tell(c, ws, w);
	if (rc) {
		untell(c, w);
		forget(ws, w);
		return rc;
	}
	*watch = w->id;
	return 0;
}

int ferry_unwatch(ferry_client *c, uint64_t watch)
{
	struct cwatch *w = c ? find(c->ws, watch) : NULL;

	if (!w)
		return FERRY_EINVAL;
	untell(c, w);
	forget(c->ws, w);
	return 0;
}

/* ---- waiting -------------------------------------------------------------- */

/* ms from now, as a deadline in monotonic ns (-1: none, 0). */
static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? 0
			      : fr_now_ns() + (uint64_t)timeout_ms * 1000000 + 1;
}

/* Drives the transport until an event of watch want (0: any) is queued
 * or deadline passes, reconnecting to a restarted proxy on the way. */
static void wait_event(ferry_client *c, uint64_t want, uint64_t deadline)
{
	struct fr_watchset *ws = c->ws;

	ws->want = want;
	ws->signal = 0;
	for (;;) {
		uint64_t now = fr_now_ns(), slice = now + SLICE_NS;
		if (deadline && deadline < slice)
			slice = deadline;
		if (c->tp->ready && c->tp->ready(c)) {
			/* The proxy is away: look again in a while. */
			poll(NULL, 0, (int)((slice - now) / 1000000));
		} else {
			fr_watch_pump(c);
			fr_drive(c, &ws->signal, slice);
		}
		if (ws->signal || (deadline && fr_now_ns() >= deadline))
			break;
	}
	ws->want = 0;
}

static void fill(ferry_event *ev, const struct cevent *e)
{
	ev->watch = e->watch;
	ev->kind = (ferry_event_kind)e->kind;
	ev->klen = e->klen;
	memcpy(ev->key, e->key, e->klen);
}

int ferry_event_next(ferry_client *c, ferry_event *ev, int timeout_ms)
{
	struct cevent *e;

	if (!c || !ev)
		return FERRY_EINVAL;
	if (!watchset(c))
		return FERRY_ENOMEM;
	if (!c->ws->head)
		wait_event(c, 0, deadline_of(timeout_ms));
	e = take(c->ws, 0);
	if (!e)
		return 0;
	fill(ev, e);
	release(c->ws, e);
	return 1;
}

/* What the events of watch id queued so far say about its key: 1 if it
 * was written (SET, INCR, APPEND, SETRANGE), 2 if events were lost (look again), else 0.
 * Takes them all off the queue; other watches' events stay. */
static int written(struct fr_watchset *ws, uint64_t id)
{
	struct cevent *e;
	int seen = 0;

	while ((e = take(ws, id))) {
		if (e->kind == FERRY_EV_SET || e->kind == FERRY_EV_INCR ||
		    e->kind == FERRY_EV_APPEND || e->kind == FERRY_EV_SETRANGE)
			seen = 1;
		else if (e->kind == FERRY_EV_LOST && !seen)
			seen = 2;
		release(ws, e);
	}
	return seen;
}

/* 0 if key exists, 1 if not, or why it could not be told. */
static int missing(ferry_client *c, const void *key, size_t klen)
{
	int rc = ferry_stat_key(c, key, klen, NULL);

	return rc == FERRY_ENOENT ? 1 : rc;
}

int ferry_wait(ferry_client *c, const void *key, size_t klen, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms), id;
	int rc;

	if (!c || !key || !klen)
		return FERRY_EINVAL;
	if (klen > FERRY_KEY_MAX)
		return FERRY_E2BIG;
	/* Watch first, then look: a write between the two is seen by one of
	 * them, never by neither. */
	rc = ferry_watch(c, key, klen, FERRY_WATCH_EXACT, &id);
	if (rc)
		return rc;
	rc = missing(c, key, klen);
	while (rc == 1) {
		int seen = written(c->ws, id);
		if (seen == 1) {
			rc = 0;
		} else if (seen == 2) {
			rc = missing(c, key, klen);
		} else if (deadline && fr_now_ns() >= deadline) {
			rc = FERRY_ETIMEDOUT;
		} else {
			wait_event(c, id, deadline);
		}
	}
	ferry_unwatch(c, id);
	return rc;
}

void fr_watch_free(ferry_client *c)
{
	struct fr_watchset *ws = c->ws;
	struct cevent *e;

	if (!ws)
		return;
	while ((e = take(ws, 0)))
		if (!e->embedded)
			free(e);
	for (size_t i = 0; i < ws->n; i++) {
		free(ws->w[i]->prefix);
		free(ws->w[i]);
	}
	free(ws->w);
	free(ws->from);
	free(ws->to);
	free(ws->gen);
	free(ws);
	c->ws = NULL;
}
