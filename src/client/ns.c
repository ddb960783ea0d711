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

/* The outcome of a broadcast so far (rc) with one more server's (st):
 * the first error, preferring others to FERRY_ENOENT (a server that has
 * no such namespace). */
static int worse(int rc, int st)
{
	return st && (!rc || rc == FERRY_ENOENT) ? st : rc;
}

/* One server's (or the proxy's) part of a change (change_start). */
struct change_part {
	struct fr_fan_part fp;		 /* first: the request's arg */
	char token[FERRY_TOKEN_LEN + 1]; /* NS_CREATE's, through a proxy */
};

/* A namespace created, changed or removed on every server. */
struct change_q {
	struct fr_fan fan; /* first */
	ferry_client *c;
	int undo;   /* NS_CREATE made here: take it back where it failed */
	int status; /* NS_CREATE's, while it is taken back */
	char name[FERRY_NS_NAME_MAX + 1];
	char token[FERRY_TOKEN_LEN + 1]; /* NS_CREATE's, made here */
	fr_ns_change_fn *done;
	void *arg;
	struct change_part parts[];
};

static int token_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	struct change_part *p = r->arg;

	if (rep->blen[0] != FERRY_TOKEN_LEN)
		return FERRY_EPROTO;
	memcpy(p->token, rep->blob[0], FERRY_TOKEN_LEN);
	p->token[FERRY_TOKEN_LEN] = 0;
	return 0;
}

static void change_free(struct change_q *q)
{
	explicit_bzero(q->token, sizeof(q->token));
	for (unsigned i = 0; i < q->fan.n; i++)
		explicit_bzero(q->parts[i].token,
			       sizeof(q->parts[i].token));
	free(q);
}

/* The failed NS_CREATE has been taken back: now its maker hears. */
static void taken_back(void *arg, int status, const char *token)
{
	struct change_q *q = arg;

	q->done(q->arg, q->status, NULL);
	change_free(q);
}

static void change_ended(struct fr_fan *f)
{
	struct change_q *q = (struct change_q *)f;
	const char *token = q->c->stream ? q->parts[0].token : q->token;
	int rc = 0;

	for (unsigned i = 0; i < f->n; i++)
		rc = worse(rc, q->parts[i].fp.status);
	/* Some servers may hold what failed elsewhere: take it back. */
	q->status = rc;
	if (rc && rc != FERRY_EEXIST && q->undo &&
	    !fr_ns_change_start(q->c, FR_OP_NS_DROP, q->name, 0, NULL,
				taken_back, q))
		return;
	q->done(q->arg, rc, rc ? NULL : token);
	change_free(q);
}

int fr_ns_change_start(ferry_client *c, uint8_t op, const char *name,
		       unsigned what, const ferry_ns_info *set,
		       fr_ns_change_fn *done, void *arg)
{
	unsigned n = c->stream ? 1 : c->npeers;
	struct change_q *q;
	fr_msg m;
	int rc = ns_msg(&m, op, name, set);

	if (rc)
		return rc;
	if (!(q = calloc(1, sizeof(*q) + n * sizeof(q->parts[0]))))
		return FERRY_ENOMEM;
	q->fan = (struct fr_fan){.n = n, .ended = change_ended};
	q->c = c;
	q->done = done;
	q->arg = arg;
	snprintf(q->name, sizeof(q->name), "%s", name);
	if (op == FR_OP_NS_SET)
		m.w[FR_NS_WHAT] = what;
	if (!c->stream && op != FR_OP_NS_DROP)
		m.w[FR_NS_SHARE] = share_of(c, m.w[FR_NS_QUOTA]);
	if (!c->stream && op == FR_OP_NS_CREATE) {
		/* The token and the id are made here, for every server. */
		q->undo = 1;
		rc = fr_token_new(q->token);
		if (!rc)
			rc = fr_random_id(&m.w[FR_NS_ID]);
		if (rc) {
			change_free(q);
			return rc;
		}
		m.w[FR_NS_TLEN] = FERRY_TOKEN_LEN;
		m.blob[1] = (const uint8_t *)q->token;
	}
	fr_fan_out(c, &q->fan, &m, c->stream ? 0 : -1,
		   c->stream && op == FR_OP_NS_CREATE ? token_reply
						      : fr_ignore_reply,
		   q->parts, sizeof(q->parts[0]));
	return 0;
}

/* What a namespace call waits for (change_wait, ferry_ns_stat). */
struct ns_wait {
	int finished, status;
	ferry_ns_info info;
	char token[FERRY_TOKEN_LEN + 1];
};

static void changed(void *arg, int status, const char *token)
{
	struct ns_wait *w = arg;

	w->status = status;
	if (token)
		memcpy(w->token, token, sizeof(w->token));
	w->finished = 1;
}

static int change_wait(ferry_client *c, uint8_t op, const char *name,
		       unsigned what, const ferry_ns_info *set, char *token)
{
	struct ns_wait w = {0};
	int rc = fr_ns_change_start(c, op, name, what, set, changed, &w);

	if (!rc && !w.finished)
		fr_drive(c, &w.finished, 0);
	if (!rc)
		rc = w.status;
	if (!rc && token)
		memcpy(token, w.token, sizeof(w.token));
	explicit_bzero(w.token, sizeof(w.token));
	return rc;
}

int ferry_ns_create(ferry_client *c, const char *name,
		    const ferry_ns_info *set, char *token)
{
	if (!c || !token)
		return FERRY_EINVAL;
	return change_wait(c, FR_OP_NS_CREATE, name, 0, set, token);
}

int ferry_ns_set(ferry_client *c, const char *name, unsigned what,
		 const ferry_ns_info *set)
{
	if (!c || !set || !what ||
	    (what & ~(FERRY_NS_SET_QUOTA | FERRY_NS_SET_EXPIRE |
		      FERRY_NS_SET_OPS | FERRY_NS_SET_BYTES)))
		return FERRY_EINVAL;
	return change_wait(c, FR_OP_NS_SET, name, what, set, NULL);
}

int ferry_ns_rm(ferry_client *c, const char *name)
{
	if (!c)
		return FERRY_EINVAL;
	return change_wait(c, FR_OP_NS_DROP, name, 0, NULL, NULL);
}

/* ---- moving quota share to where keys land --------------------------------- */

/* What one server gave (fr_share_borrow). */
struct borrow_part {
	struct fr_fan_part fp; /* first: the request's arg */
	uint64_t moved;
};

struct borrow {
	struct fr_fan fan; /* first */
	ferry_client *c;
	struct req *r;	   /* the PUT */
	uint32_t gen;	   /* r's, to tell it from a later use of its slot */
	unsigned server;   /* r's */
	uint64_t ns, moved;
	struct borrow_part parts[];
};

static void share_msg(fr_msg *m, uint64_t ns, uint64_t take, uint64_t give)
{
	fr_msg_init(m, FR_OP_SHARE, 0, 0);
	m->h.ns = ns;
	m->w[FR_SHARE_TAKE] = take;
	m->w[FR_SHARE_GIVE] = give;
}

static int moved_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	((struct borrow_part *)r->arg)->moved = rep->w[FR_SHARE_R_MOVED];
	return 0;
}

/* Whether b's PUT still waits for it (it may have timed out). */
static int put_waits(const struct borrow *b)
{
	return b->r->busy && !b->r->finished && b->r->gen == b->gen;
}

/* The share is at the PUT's server: the PUT goes again. */
static void given(ferry_client *c, struct req *g)
{
	struct borrow *b = g->arg;

	if (put_waits(b) && (g->status || c->tp->resend(c, b->r)))
		fr_req_finish(c, b->r, FERRY_EQUOTA);
	free(b);
}

static void taken(struct fr_fan *f)
{
	struct borrow *b = (struct borrow *)f;
	ferry_client *c = b->c;
	fr_msg m;

	for (unsigned i = 0; i < f->n; i++)
		if (!b->parts[i].fp.status)
			b->moved += b->parts[i].moved;
	/* What was given goes to the PUT's server even if the PUT ended
	 * meanwhile: the namespace's total must stay. */
	if (b->moved) {
		share_msg(&m, b->ns, 0, b->moved);
		if (!fr_send_async(c, b->server, &m, fr_ignore_reply, given, b))
			return;
	}
	if (put_waits(b))
		fr_req_finish(c, b->r, FERRY_EQUOTA);
	free(b);
}

int fr_share_borrow(ferry_client *c, struct req *r, uint64_t over)
{
	struct borrow *b =
	    calloc(1, sizeof(*b) + c->npeers * sizeof(b->parts[0]));
	fr_msg m;

	if (!b)
		return FERRY_ENOMEM;
	b->fan = (struct fr_fan){.n = c->npeers, .ended = taken};
	b->c = c;
	b->r = r;
	b->gen = r->gen;
	b->server = r->server;
	b->ns = r->ns;
	/* Its own server gives nothing it has not freed since. */
	share_msg(&m, r->ns, over, 0);
	fr_fan_out(c, &b->fan, &m, -1, moved_reply, b->parts,
		   sizeof(b->parts[0]));
	return 0;
}

static void auth_msg(fr_msg *m, const void *tok, size_t tlen)
{
	fr_msg_init(m, FR_OP_NS_AUTH, 0, 0);
	m->w[FR_NSAUTH_TLEN] = tlen;
	m->blob[0] = tok;
}

/* What one server says of a namespace (NS_STAT, NS_AUTH). */
struct ask_part {
	struct fr_fan_part fp; /* first: the request's arg */
	uint64_t id;
	ferry_ns_info info;
};

/* A question asked of n servers (ask_start). */
struct ask_q {
	struct fr_fan fan; /* first */
	fr_ns_auth_fn *done;
	void *arg;
	struct ask_part parts[];
};

static int answer_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	struct ask_part *p = r->arg;

	p->id = rep->w[FR_NS_R_ID];
	p->info.quota = rep->w[FR_NS_R_QUOTA];
	p->info.expire_ms = rep->w[FR_NS_R_EXPIRE];
	p->info.ops_per_s = rep->w[FR_NS_R_OPS];
	p->info.bytes_per_s = rep->w[FR_NS_R_BYTES];
	p->info.used = rep->w[FR_NS_R_USED];
	p->info.keys = rep->w[FR_NS_R_KEYS];
	return 0;
}

/* Every server asked has answered (or its request ended): used and keys
 * summed, the rest as the first says. */
static void ask_ended(struct fr_fan *f)
{
	struct ask_q *q = (struct ask_q *)f;
	ferry_ns_info sum = q->parts[0].info;
	int rc = 0;

	sum.used = sum.keys = 0;
	for (unsigned i = 0; i < f->n; i++) {
		rc = worse(rc, q->parts[i].fp.status);
		sum.used += q->parts[i].info.used;
		sum.keys += q->parts[i].info.keys;
	}
	q->done(q->arg, rc, q->parts[0].id, &sum);
	free(q);
}

/* Asks m of every server (every), or of the first that is up; through a
 * proxy, of the proxy. done runs as fr_ns_auth_start says. */
static int ask_start(ferry_client *c, fr_msg *m, int every,
		     fr_ns_auth_fn *done, void *arg)
{
	unsigned n = every && !c->stream ? c->npeers : 1;
	struct ask_q *q = calloc(1, sizeof(*q) + n * sizeof(q->parts[0]));

	if (!q)
		return FERRY_ENOMEM;
	q->fan = (struct fr_fan){.n = n, .ended = ask_ended};
	q->done = done;
	q->arg = arg;
	fr_fan_out(c, &q->fan, m,
		   c->stream ? 0 : every ? -1 : (int)fr_first_up(c),
		   answer_reply, q->parts, sizeof(q->parts[0]));
	return 0;
}

int fr_ns_auth_start(ferry_client *c, const void *tok, size_t tlen, int every,
		     fr_ns_auth_fn *done, void *arg)
{
	fr_msg m;

	auth_msg(&m, tok, tlen);
	return ask_start(c, &m, every, done, arg);
}

static void ns_waited(void *arg, int status, uint64_t id,
		      const ferry_ns_info *info)
{
	struct ns_wait *w = arg;

	w->status = status;
	w->info = *info;
	w->finished = 1;
}

int fr_ns_stat_start(ferry_client *c, const char *name, fr_ns_auth_fn *done,
		     void *arg)
{
	fr_msg m;
	int rc = ns_msg(&m, FR_OP_NS_STAT, name, NULL);

	return rc ? rc : ask_start(c, &m, 1, done, arg);
}

int ferry_ns_stat(ferry_client *c, const char *name, ferry_ns_info *out)
{
	struct ns_wait w = {0};
	int rc;

	if (!c || !out || !name)
		return FERRY_EINVAL;
	rc = fr_ns_stat_start(c, name, ns_waited, &w);
	if (!rc && !w.finished)
		fr_drive(c, &w.finished, 0);
	if (!rc)
		rc = w.status;
	*out = rc ? (ferry_ns_info){0} : w.info;
	snprintf(out->name, sizeof(out->name), "%s", name);
	return rc;
}

void fr_ns_list_msg(fr_msg *m, const char *after, unsigned max)
{
	fr_msg_init(m, FR_OP_NS_LIST, 0, 0);
	m->w[FR_NSLIST_ALEN] = after ? strlen(after) : 0;
	m->w[FR_NSLIST_MAX] = max;
	m->blob[0] = (const uint8_t *)after;
}

int ferry_ns_list(ferry_client *c, const char *after, unsigned max,
		  ferry_keys **out)
{
	size_t alen = after ? strlen(after) : 0;
	fr_msg m;

	if (!c || !out || max == 0 || alen > FERRY_NS_NAME_MAX)
		return FERRY_EINVAL;
	fr_ns_list_msg(&m, after, max);
	/* Every server holds the same names: one answers. */
	return fr_list_pages(c, &m, (int)fr_first_up(c), max, out);
}
