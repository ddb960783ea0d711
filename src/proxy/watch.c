/*
 * The proxy's watches: functions on the node watch keys (ferry's WATCH
 * frames, Redis SUBSCRIBE), and the proxy registers each distinct watch
 * (a namespace and a prefix, or one exact key in it) once at the servers
 * through its warm client, whatever the number of functions behind it.
 * Events from the servers come back through the warm client and fan out
 * to every subscriber of that watch, all of them in its namespace. Thousands of waiters cost no polling: each is
 * an entry in two hash tables here and one at the key's server.
 *
 * Registering is synchronous (one round trip to the servers, bounded by
 * the warm client's time-out), like LIST.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/util.h"
#include "proxy/proxy_int.h"

#define BUCKETS 4096

/* One watch at the servers. */
struct pwatch {
	struct pwatch *by_key, *by_id; /* hash chains */
	uint64_t id;                   /* the warm client's watch id */
	struct psub *subs;
	uint64_t ns; /* the namespace it watches in */
	int exact;
	size_t plen;
	uint8_t prefix[];
};

struct fr_pwatches {
	struct pwatch *by_key[BUCKETS], *by_id[BUCKETS];
	uint64_t count;
};

static size_t key_bucket(uint64_t ns, const void *p, size_t len, int exact)
{
	return (XXH3_64bits_withSeed(p, len, ns) ^ (uint64_t)exact) % BUCKETS;
}

static struct pwatch **find_key(struct fr_pwatches *t, uint64_t ns,
				const void *p, size_t len, int exact)
{
	struct pwatch **w = &t->by_key[key_bucket(ns, p, len, exact)];

	while (*w && ((*w)->ns != ns || (*w)->exact != exact ||
		      (*w)->plen != len || memcmp((*w)->prefix, p, len)))
		w = &(*w)->by_key;
	return w;
}

static struct pwatch **find_id(struct fr_pwatches *t, uint64_t id)
{
	struct pwatch **w = &t->by_id[id % BUCKETS];

	while (*w && (*w)->id != id)
		w = &(*w)->by_id;
	return w;
}

int fr_pwatch_add(fr_proxy *px, struct psub *s, const void *prefix,
		  size_t plen, int exact)
{
	struct fr_pwatches *t = px->watches;
	uint64_t ns = fr_tenant_ns(s->pc);
	struct pwatch **slot, *w;
	int rc;

	if (!t && !(t = px->watches = calloc(1, sizeof(*t))))
		return FERRY_ENOMEM;
	slot = find_key(t, ns, prefix, plen, exact);
	if (!(w = *slot)) {
		if (!(w = calloc(1, sizeof(*w) + plen)))
			return FERRY_ENOMEM;
		fr_tenant_act(px, s->pc);
		rc = ferry_watch(px->fc, prefix, plen,
				 exact ? FERRY_WATCH_EXACT : 0, &w->id);
		if (rc) {
			free(w);
			return rc;
		}
		w->ns = ns;
		w->exact = exact;
		w->plen = plen;
		if (plen) /* prefix may be NULL then */
			memcpy(w->prefix, prefix, plen);
		*slot = w;
		slot = find_id(t, w->id);
		*slot = w;
		t->count++;
	}
	s->w = w;
	s->next = w->subs;
	w->subs = s;
	s->conn_next = s->pc->subs;
	s->pc->subs = s;
	return 0;
}

void fr_pwatch_del(fr_proxy *px, struct psub *s)
{
	struct fr_pwatches *t = px->watches;
	struct pwatch *w = s->w;
	struct psub **p;

	if (!w)
		return;
	for (p = &w->subs; *p != s; p = &(*p)->next)
		;
	*p = s->next;
	for (p = &s->pc->subs; *p != s; p = &(*p)->conn_next)
		;
	*p = s->conn_next;
	s->w = NULL;
	if (w->subs)
		return;
	/* The last subscriber went: the servers forget the watch. */
	ferry_unwatch(px->fc, w->id);
	*find_key(t, w->ns, w->prefix, w->plen, w->exact) = w->by_key;
	*find_id(t, w->id) = w->by_id;
	t->count--;
	free(w);
}

void fr_pwatch_conn_gone(fr_proxy *px, struct pconn *pc)
{
	while (pc->subs) {
		struct psub *s = pc->subs;
		fr_pwatch_del(px, s);
		s->gone(s);
	}
}

int fr_pwatch_active(const fr_proxy *px)
{
	return px->watches && px->watches->count;
}

/* Hands the events the warm client collected to their subscribers. */
void fr_pwatch_events(fr_proxy *px)
{
	ferry_event ev;

	if (!fr_pwatch_active(px))
		return;
	while (ferry_event_next(px->fc, &ev, 0) == 1) {
		struct pwatch *w = *find_id(px->watches, ev.watch);
		for (struct psub *s = w ? w->subs : NULL, *next; s; s = next) {
			next = s->next; /* delivery may drop the connection */
			s->deliver(px, s, &ev);
		}
	}
}

void fr_pwatch_free(fr_proxy *px)
{
	for (size_t b = 0; px->watches && b < BUCKETS; b++)
		while (px->watches->by_id[b]) {
			struct pwatch *w = px->watches->by_id[b];
			px->watches->by_id[b] = w->by_id;
			free(w);
		}
	free(px->watches);
	px->watches = NULL;
}
