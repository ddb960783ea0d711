/*
 * Namespaces, as the admin manages them (ferry.h). In direct mode the
 * client sends each change to every server itself, making the token and
 * the id here; through a proxy it sends one request and the proxy does the
 * same with its own client (src/proxy). The messages are the same both
 * ways.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "common/token.h"
#include "common/util.h"

/* Prepares a namespace request naming name, with *set's fields (NULL:
 * none). FERRY_EINVAL for a bad name. */
static int ns_msg(fr_msg *m, uint8_t op, const char *name,
		  const ferry_ns_info *set)
{
	size_t len = name ? strlen(name) : 0;

	if (!fr_ns_name_ok(name, len))
		return FERRY_EINVAL;
	fr_msg_init(m, op, 0, 0);
	m->w[FR_NS_NLEN] = len;
	m->blob[0] = (const uint8_t *)name;
	if (set && op != FR_OP_NS_DROP && op != FR_OP_NS_STAT) {
		m->w[FR_NS_QUOTA] = set->quota;
		m->w[FR_NS_EXPIRE] = set->expire_ms;
		m->w[FR_NS_OPS] = set->ops_per_s;
		m->w[FR_NS_BYTES] = set->bytes_per_s;
	}
	return 0;
}

/* Each server's part of a quota. */
static uint64_t share_of(const ferry_client *c, uint64_t quota)
{
	return quota ? quota / c->npeers + (quota % c->npeers != 0) : 0;
}

/* The first error of a broadcast, preferring st's ordinary outcomes to
 * FERRY_ENOENT (a server that has no such namespace). */
static int first_error(const int *st, unsigned n)
{
	int rc = 0;

	for (unsigned i = 0; i < n; i++)
		if (st[i] && (!rc || rc == FERRY_ENOENT))
			rc = st[i];
	return rc;
}

/* Sends m to every server (direct) or to the proxy, with fn and args
 * for the replies. */
static int ns_send(ferry_client *c, fr_msg *m, reply_fn fn, void **args)
{
	int *st, rc;

	if (!fn)
		fn = fr_ignore_reply;
	if (c->stream)
		return fr_ask(c, 0, m, fn, args ? args[0] : NULL, -1);
	st = calloc(c->npeers, sizeof(*st));
	if (!st)
		return FERRY_ENOMEM;
	fr_broadcast(c, m, fn, args, st);
	rc = first_error(st, c->npeers);
	free(st);
	return rc;
}

static int token_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	if (rep->blen[0] != FERRY_TOKEN_LEN)
		return FERRY_EPROTO;
	memcpy(r->arg, rep->blob[0], FERRY_TOKEN_LEN);
	((char *)r->arg)[FERRY_TOKEN_LEN] = 0;
	return 0;
}

int ferry_ns_create(ferry_client *c, const char *name,
		    const ferry_ns_info *set, char *token)
{
	char tok[FERRY_TOKEN_LEN + 1];
	void *arg = token;
	fr_msg m, undo;
	int rc;

	if (!c || !token)
		return FERRY_EINVAL;
	rc = ns_msg(&m, FR_OP_NS_CREATE, name, set);
	if (rc)
		return rc;
	if (c->stream)
		return ns_send(c, &m, token_reply, &arg);
	rc = fr_token_new(tok);
	if (!rc)
		rc = fr_random_id(&m.w[FR_NS_ID]);
	if (rc)
		return rc;
	m.w[FR_NS_TLEN] = FERRY_TOKEN_LEN;
	m.blob[1] = (const uint8_t *)tok;
	m.w[FR_NS_SHARE] = share_of(c, m.w[FR_NS_QUOTA]);
	rc = ns_send(c, &m, NULL, NULL);
	if (rc == 0)
		memcpy(token, tok, sizeof(tok));
	else if (rc != FERRY_EEXIST && ns_msg(&undo, FR_OP_NS_DROP, name,
					      NULL) == 0)
		/* Some servers may hold it: take it back from them. */
		ns_send(c, &undo, NULL, NULL);
	memset(tok, 0, sizeof(tok));
	return rc;
}

int ferry_ns_set(ferry_client *c, const char *name, unsigned what,
		 const ferry_ns_info *set)
{
	fr_msg m;
	int rc;

	if (!c || !set || !what ||
	    (what & ~(FERRY_NS_SET_QUOTA | FERRY_NS_SET_EXPIRE |
		      FERRY_NS_SET_OPS | FERRY_NS_SET_BYTES)))
		return FERRY_EINVAL;
	rc = ns_msg(&m, FR_OP_NS_SET, name, set);
	if (rc)
		return rc;
	m.w[FR_NS_WHAT] = what;
	if (!c->stream)
		m.w[FR_NS_SHARE] = share_of(c, m.w[FR_NS_QUOTA]);
	return ns_send(c, &m, NULL, NULL);
}

int ferry_ns_rm(ferry_client *c, const char *name)
{
	fr_msg m;
	int rc;

	if (!c)
		return FERRY_EINVAL;
	rc = ns_msg(&m, FR_OP_NS_DROP, name, NULL);
	return rc ? rc : ns_send(c, &m, NULL, NULL);
}

/* What a server says of a namespace (NS_STAT, NS_AUTH). */
struct ns_answer {
	uint64_t id;
	ferry_ns_info info;
};

static int answer_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	struct ns_answer *a = r->arg;

	a->id = rep->w[FR_NS_R_ID];
	a->info.quota = rep->w[FR_NS_R_QUOTA];
	a->info.expire_ms = rep->w[FR_NS_R_EXPIRE];
	a->info.ops_per_s = rep->w[FR_NS_R_OPS];
	a->info.bytes_per_s = rep->w[FR_NS_R_BYTES];
	a->info.used = rep->w[FR_NS_R_USED];
	a->info.keys = rep->w[FR_NS_R_KEYS];
	return 0;
}

/* Sends m (NS_STAT or NS_AUTH) to one server (one >= 0) or every one
 * (direct) or to the proxy, and gives the answer in *out, used and keys
 * summed over the servers. */
static int ask_answer(ferry_client *c, fr_msg *m, int one,
		      struct ns_answer *out)
{
	struct ns_answer *each;
	void **args;
	int rc;

	memset(out, 0, sizeof(*out));
	if (one >= 0)
		return fr_ask_up(c, (unsigned)one, m, answer_reply, out);
	each = calloc(c->npeers, sizeof(*each));
	args = calloc(c->npeers, sizeof(*args));
	if (!each || !args) {
		free(each);
		free(args);
		return FERRY_ENOMEM;
	}
	for (unsigned i = 0; i < c->npeers; i++)
		args[i] = &each[i];
	rc = ns_send(c, m, answer_reply, args);
	if (!rc) {
		*out = each[0];
		out->info.used = out->info.keys = 0;
		for (unsigned i = 0; i < c->npeers; i++) {
			out->info.used += each[i].info.used;
			out->info.keys += each[i].info.keys;
		}
	}
	free(each);
	free(args);
	return rc;
}

int ferry_ns_stat(ferry_client *c, const char *name, ferry_ns_info *out)
{
	struct ns_answer a;
	fr_msg m;
	int rc;

	if (!c || !out)
		return FERRY_EINVAL;
	rc = ns_msg(&m, FR_OP_NS_STAT, name, NULL);
	if (!rc)
		rc = ask_answer(c, &m, -1, &a);
	*out = rc ? (ferry_ns_info){0} : a.info;
	snprintf(out->name, sizeof(out->name), "%s", name);
	return rc;
}

static void auth_msg(fr_msg *m, const void *tok, size_t tlen)
{
	fr_msg_init(m, FR_OP_NS_AUTH, 0, 0);
	m->w[FR_NSAUTH_TLEN] = tlen;
	m->blob[0] = tok;
}

int fr_ns_auth(ferry_client *c, const void *tok, size_t tlen, int every,
	       uint64_t *id, ferry_ns_info *out)
{
	struct ns_answer a;
	fr_msg m;
	int rc;

	auth_msg(&m, tok, tlen);
	rc = ask_answer(c, &m, every ? -1 : (int)fr_first_up(c), &a);
	*id = a.id;
	*out = a.info;
	return rc;
}

/* A question fr_ns_auth_start asked, with its answer. */
struct auth_q {
	struct ns_answer a;
	fr_ns_auth_fn *done;
	void *arg;
};

static void auth_done(ferry_client *c, struct req *r)
{
	struct auth_q *q = r->arg;

	q->done(q->arg, r->status, q->a.id, &q->a.info);
	free(q);
}

int fr_ns_auth_start(ferry_client *c, const void *tok, size_t tlen,
		     fr_ns_auth_fn *done, void *arg)
{
	struct auth_q *q = calloc(1, sizeof(*q));
	fr_msg m;
	int rc;

	if (!q)
		return FERRY_ENOMEM;
	q->done = done;
	q->arg = arg;
	auth_msg(&m, tok, tlen);
	/* answer_reply fills q->a, the first member. */
	rc = fr_send_async(c, fr_first_up(c), &m, answer_reply, auth_done, q);
	if (rc)
		free(q);
	return rc;
}

int ferry_ns_list(ferry_client *c, const char *after, unsigned max,
		  ferry_keys **out)
{
	size_t alen = after ? strlen(after) : 0;
	fr_msg m;

	if (!c || !out || max == 0 || alen > FERRY_NS_NAME_MAX)
		return FERRY_EINVAL;
	fr_msg_init(&m, FR_OP_NS_LIST, 0, 0);
	m.w[FR_NSLIST_ALEN] = alen;
	m.w[FR_NSLIST_MAX] = max;
	m.blob[0] = (const uint8_t *)after;
	/* Every server holds the same names: one answers. */
	return fr_list_pages(c, &m, (int)fr_first_up(c), max, out);
}
