/*
 * Redis keyspace notifications over ferry's watches. A client subscribes
 * to "__keyspace@0__:KEY" (events of one key: "set", "del", ...) or to
 * "__keyevent@0__:EVENT" (keys that had that event), or to patterns over
 * them; the proxy turns each into a watch (watch.c), so notifications
 * cover writes from every client of the cluster, Redis or libferry, on
 * any node. Other channels can be subscribed to but carry nothing (ferry
 * has no PUBLISH).
 *
 * Notifications are always on: no CONFIG notify-keyspace-events needed.
 * A subscriber that does not read is dropped past SLOW_SUBSCRIBER bytes
 * of unsent replies, as Redis does with its pubsub output buffer limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "proxy/resp_int.h"

#define KEYSPACE "__keyspace@0__:"
#define KEYEVENT "__keyevent@0__:"
#define SLOW_SUBSCRIBER (32u << 20)

struct rsub {
	struct psub s;     /* its watch, if the channel needs one */
	struct rsub *next; /* the connection's subscriptions */
	int pattern;
	size_t len;
	uint8_t name[];
};

static const char *event_name(ferry_event_kind k)
{
	static const char *const names[] = {
		[FERRY_EV_SET] = "set",         [FERRY_EV_DEL] = "del",
		[FERRY_EV_EXPIRED] = "expired", [FERRY_EV_EXPIRE] = "expire",
		[FERRY_EV_PERSIST] = "persist", [FERRY_EV_INCR] = "incrby",
		[FERRY_EV_APPEND] = "append",   [FERRY_EV_SETRANGE] = "setrange",
	};

	return k > 0 && k <= FERRY_EV_SETRANGE ? names[k] : NULL;
}

static int starts(const uint8_t *p, size_t len, const char *with)
{
	size_t n = strlen(with);

	return len >= n && !memcmp(p, with, n);
}

/* Queues bytes as a message to the client, after the replies before it. */
static void push(fr_proxy *px, struct pconn *pc, struct rout *o)
{
	struct rcmd *c;

	if (o->oom || pc->wq_bytes > SLOW_SUBSCRIBER ||
	    !(c = calloc(1, sizeof(*c)))) {
		free(o->b);
		fr_pconn_kill(px, pc, "a subscriber that does not read");
		return;
	}
	c->pc = pc;
	c->finished = 1;
	c->out = *o;
	fr_resp_enqueue(pc->resp, c);
	fr_resp_drain(px, pc);
	fr_pconn_flush(px, pc);
}

static void deliver(fr_proxy *px, struct psub *s, const ferry_event *ev)
{
	struct rsub *r = (struct rsub *)s;
	struct pconn *pc = s->pc;
	const char *name = event_name(ev->kind);
	uint8_t chan[2][sizeof(KEYSPACE) + FERRY_KEY_MAX];
	size_t clen[2];
	const void *payload[2];
	size_t plen[2];
	struct rarg pat = {r->name, r->len};

	if (pc->state == PC_DEAD || !name)
		return;
	/* The two channels the event is published on. */
	clen[0] = strlen(KEYSPACE) + ev->klen;
	memcpy(chan[0], KEYSPACE, strlen(KEYSPACE));
	memcpy(chan[0] + strlen(KEYSPACE), ev->key, ev->klen);
	payload[0] = name;
	plen[0] = strlen(name);
	clen[1] = (size_t)snprintf((char *)chan[1], sizeof(chan[1]), "%s%s",
				   KEYEVENT, name);
	payload[1] = ev->key;
	plen[1] = ev->klen;
	for (int i = 0; i < 2; i++) {
		struct rout o = {0};
		if (r->pattern ? !fr_resp_glob(&pat, chan[i], clen[i])
			       : (clen[i] != r->len ||
				  memcmp(chan[i], r->name, r->len)))
			continue;
		ro_fmt(&o, "%c%d\r\n", pc->resp->resp3 ? '>' : '*',
		       r->pattern ? 4 : 3);
		if (r->pattern) {
			ro_bulk_to(&o, "pmessage", 8);
			ro_bulk_to(&o, r->name, r->len);
		} else {
			ro_bulk_to(&o, "message", 7);
		}
		ro_bulk_to(&o, chan[i], clen[i]);
		ro_bulk_to(&o, payload[i], plen[i]);
		push(px, pc, &o);
		if (pc->state == PC_DEAD)
			return;
	}
}

static void gone(struct psub *s)
{
	(void)s; /* freed with the connection's list (fr_resp_free) */
}

/* The watch a subscription needs: the keys whose events can reach it.
 * Returns 0 with *plen and *exact set (and prefix pointing into name), or
 * -1 when no event of ours can match it. */
static int needs(const struct rsub *r, const uint8_t **prefix, size_t *plen,
		 int *exact)
{
	size_t ks = strlen(KEYSPACE), lit;

	*prefix = NULL;
	*plen = 0;
	*exact = 0;
	if (!r->pattern) {
		if (starts(r->name, r->len, KEYEVENT))
			return 0; /* every key, filtered by event */
		if (!starts(r->name, r->len, KEYSPACE) || r->len == ks ||
		    r->len - ks > FERRY_KEY_MAX)
			return -1;
		*prefix = r->name + ks;
		*plen = r->len - ks;
		*exact = 1;
		return 0;
	}
	for (lit = 0; lit < r->len && !strchr("*?[\\", r->name[lit]); lit++)
		;
	if (lit > ks && starts(r->name, r->len, KEYSPACE)) {
		*prefix = r->name + ks; /* keys with that literal start */
		*plen = FR_MIN(lit - ks, (size_t)FERRY_KEY_MAX);
		return 0;
	}
	/* Does the literal start agree with either channel family? */
	if (memcmp(r->name, KEYSPACE, FR_MIN(lit, ks)) &&
	    memcmp(r->name, KEYEVENT, FR_MIN(lit, ks)))
		return -1;
	return 0;
}

static size_t count(const struct resp *rs)
{
	size_t n = 0;

	for (const struct rsub *r = rs->subs; r; r = r->next)
		n++;
	return n;
}

static void confirm(struct rcmd *c, const char *what, const void *name,
		    size_t len, size_t n)
{
	ro_fmt(&c->out, "%c3\r\n", c->pc->resp->resp3 ? '>' : '*');
	ro_str(c, what);
	if (name)
		ro_bulk(c, name, len);
	else
		ro_null(c);
	ro_int(c, (long long)n);
}

/* SUBSCRIBE and PSUBSCRIBE. */
static void cmd_subscribe(fr_proxy *px, struct rcmd *c)
{
	struct resp *rs = c->pc->resp;
	int pattern = c->def->name[0] == 'p';

	for (size_t i = 1; i < c->argc; i++) {
		const struct rarg *a = &c->argv[i];
		struct rsub *r;
		const uint8_t *prefix;
		size_t plen;
		int exact, rc;

		for (r = rs->subs; r; r = r->next)
			if (r->pattern == pattern && r->len == a->len &&
			    !memcmp(r->name, a->p, a->len))
				break;
		if (!r) {
			if (!(r = calloc(1, sizeof(*r) + a->len))) {
				c->out.oom = 1;
				return;
			}
			r->pattern = pattern;
			r->len = a->len;
			memcpy(r->name, a->p, a->len);
			r->s.pc = c->pc;
			r->s.deliver = deliver;
			r->s.gone = gone;
			if (!needs(r, &prefix, &plen, &exact) &&
			    (rc = fr_pwatch_add(px, &r->s, prefix, plen,
						exact))) {
				free(r);
				ro_ferr(c, rc);
				return;
			}
			r->next = rs->subs;
			rs->subs = r;
		}
		confirm(c, pattern ? "psubscribe" : "subscribe", a->p, a->len,
			count(rs));
	}
}

static void drop(fr_proxy *px, struct resp *rs, struct rsub *r)
{
	struct rsub **p;

	for (p = &rs->subs; *p != r; p = &(*p)->next)
		;
	*p = r->next;
	fr_pwatch_del(px, &r->s);
	free(r);
}

/* UNSUBSCRIBE and PUNSUBSCRIBE: the named ones, or all of that kind. */
static void cmd_unsubscribe(fr_proxy *px, struct rcmd *c)
{
	struct resp *rs = c->pc->resp;
	int pattern = c->def->name[0] == 'p', any = 0;
	const char *what = pattern ? "punsubscribe" : "unsubscribe";

	if (c->argc == 1) {
		for (struct rsub *r = rs->subs, *next; r; r = next) {
			next = r->next;
			if (r->pattern != pattern)
				continue;
			confirm(c, what, r->name, r->len, count(rs) - 1);
			drop(px, rs, r);
			any = 1;
		}
		if (!any)
			confirm(c, what, NULL, 0, count(rs));
		return;
	}
	for (size_t i = 1; i < c->argc; i++) {
		const struct rarg *a = &c->argv[i];
		for (struct rsub *r = rs->subs; r; r = r->next)
			if (r->pattern == pattern && r->len == a->len &&
			    !memcmp(r->name, a->p, a->len)) {
				drop(px, rs, r);
				break;
			}
		confirm(c, what, a->p, a->len, count(rs));
	}
}

int fr_resp_subscribed(const struct resp *rs)
{
	return rs->subs != NULL;
}

void fr_resp_subs_free(struct resp *rs)
{
	while (rs->subs) {
		struct rsub *r = rs->subs;
		rs->subs = r->next;
		free(r);
	}
}

const struct rdef fr_resp_pubsub[] = {
	{"subscribe", cmd_subscribe, -2, RC_BARRIER | RC_W, 0, 0, 0, NULL},
	{"psubscribe", cmd_subscribe, -2, RC_BARRIER | RC_W, 0, 0, 0, NULL},
	{"unsubscribe", cmd_unsubscribe, -1, RC_BARRIER | RC_W, 0, 0, 0, NULL},
	{"punsubscribe", cmd_unsubscribe, -1, RC_BARRIER | RC_W, 0, 0, 0,
	 NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL},
};
