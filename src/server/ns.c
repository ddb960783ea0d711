#include "server/ns.h"

#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/token.h"
#include "proto/wire.h"
#include "server/index.h"

struct fr_nstab {
	fr_index *by_name; /* name -> fr_ns, in name order for listing */
	fr_index *by_id;   /* the id's FR_NS_KEY prefix bytes -> fr_ns */
	fr_ns deflt;       /* id 0, in neither index */
	uint64_t next;     /* the soonest expiry (0: none), unless dirty */
	int dirty;         /* expiries changed since next was found */
};

void fr_ns_prefix(uint64_t id, uint8_t *out)
{
	for (int i = FR_NS_KEY - 1; i >= 0; i--, id >>= 8)
		out[i] = (uint8_t)id;
}

int fr_nstab_new(fr_nstab **out)
{
	fr_nstab *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t || fr_index_new(&t->by_name) || fr_index_new(&t->by_id)) {
		fr_nstab_free(&t);
		return FERRY_ENOMEM;
	}
	strcpy(t->deflt.name, "default");
	*out = t;
	return 0;
}

static int free_cb(void *arg, const void *key, size_t klen, void *val)
{
	free(val);
	return 0;
}

void fr_nstab_free(fr_nstab **tp)
{
	fr_nstab *t = *tp;

	if (!t)
		return;
	if (t->by_name)
		fr_index_scan(t->by_name, NULL, 0, NULL, 0, free_cb, NULL);
	fr_index_free(&t->by_name);
	fr_index_free(&t->by_id);
	free(t);
	*tp = NULL;
}

fr_ns *fr_nstab_by_id(const fr_nstab *t, uint64_t id)
{
	uint8_t k[FR_NS_KEY];

	if (id == 0)
		return (fr_ns *)&t->deflt;
	fr_ns_prefix(id, k);
	return fr_index_get(t->by_id, k, sizeof(k));
}

fr_ns *fr_nstab_of_key(const fr_nstab *t, const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint64_t id = 0;

	if (klen < FR_NS_KEY)
		return NULL;
	for (int i = 0; i < FR_NS_KEY; i++)
		id = id << 8 | p[i];
	return fr_nstab_by_id(t, id);
}

fr_ns *fr_nstab_by_name(const fr_nstab *t, const void *name, size_t len)
{
	return len ? fr_index_get(t->by_name, name, len) : NULL;
}

struct tok_ctx {
	const void *tok;
	size_t len;
	fr_ns *found;
};

/* Visits every namespace, so the time taken does not tell how far a
 * guess got. */
static int tok_cb(void *arg, const void *key, size_t klen, void *val)
{
	struct tok_ctx *x = arg;
	fr_ns *n = val;

	if (fr_token_equal(n->token, n->tlen, x->tok, x->len))
		x->found = n;
	return 0;
}

fr_ns *fr_nstab_by_token(const fr_nstab *t, const void *tok, size_t len)
{
	struct tok_ctx x = {tok, len, NULL};

	if (len)
		fr_index_scan(t->by_name, NULL, 0, NULL, 0, tok_cb, &x);
	return x.found;
}

int fr_nstab_add(fr_nstab *t, const fr_ns *tmpl)
{
	size_t nlen = strnlen(tmpl->name, sizeof(tmpl->name));
	uint8_t k[FR_NS_KEY];
	fr_ns *n;

	if (!tmpl->id || !fr_ns_name_ok(tmpl->name, nlen) ||
	    tmpl->tlen == 0 || tmpl->tlen > FR_NS_TOKEN_MAX)
		return FERRY_EINVAL;
	fr_ns_prefix(tmpl->id, k);
	if (fr_index_get(t->by_name, tmpl->name, nlen) ||
	    fr_index_get(t->by_id, k, sizeof(k)) ||
	    fr_nstab_by_token(t, tmpl->token, tmpl->tlen))
		return FERRY_EEXIST;
	n = malloc(sizeof(*n));
	if (!n)
		return FERRY_ENOMEM;
	*n = *tmpl;
	n->used = n->keys = n->pending = 0;
	if (fr_index_put(t->by_name, n->name, nlen, n, NULL, NULL)) {
		free(n);
		return FERRY_ENOMEM;
	}
	if (fr_index_put(t->by_id, k, sizeof(k), n, NULL, NULL)) {
		fr_index_del(t->by_name, n->name, nlen);
		free(n);
		return FERRY_ENOMEM;
	}
	t->dirty = 1;
	return 0;
}

void fr_nstab_remove(fr_nstab *t, fr_ns *n)
{
	uint8_t k[FR_NS_KEY];

	fr_ns_prefix(n->id, k);
	fr_index_del(t->by_id, k, sizeof(k));
	fr_index_del(t->by_name, n->name, strlen(n->name));
	memset(n->token, 0, sizeof(n->token));
	free(n);
	t->dirty = 1;
}

void fr_nstab_changed(fr_nstab *t)
{
	t->dirty = 1;
}

struct exp_ctx {
	uint64_t now, next;
	fr_ns *due;
};

static int exp_cb(void *arg, const void *key, size_t klen, void *val)
{
	struct exp_ctx *x = arg;
	fr_ns *n = val;

	if (!n->expire_ms)
		return 0;
	if (n->expire_ms <= x->now) {
		x->due = n;
		return 1;
	}
	if (!x->next || n->expire_ms < x->next)
		x->next = n->expire_ms;
	return 0;
}

fr_ns *fr_nstab_expired(fr_nstab *t, uint64_t now_ms, uint64_t *next)
{
	struct exp_ctx x = {.now = now_ms};

	/* The loop asks on every pass: walk the table only when something
	 * changed or the soonest expiry has come. */
	if (!t->dirty && (!t->next || now_ms < t->next)) {
		if (next)
			*next = t->next;
		return NULL;
	}
	fr_index_scan(t->by_name, NULL, 0, NULL, 0, exp_cb, &x);
	if (x.due) {
		t->dirty = 1; /* the caller removes it; the rest is unknown */
		return x.due;
	}
	t->next = x.next;
	t->dirty = 0;
	if (next)
		*next = x.next;
	return NULL;
}

static int list_cb(void *arg, const void *key, size_t klen, void *val)
{
	return fr_list_page_add(arg, key, klen);
}

size_t fr_nstab_list(const fr_nstab *t, const void *after, size_t alen,
		     uint32_t max, void *buf, size_t cap, uint32_t *count,
		     int *more)
{
	fr_list_page p = {.buf = buf, .cap = cap, .max = max};

	fr_index_scan(t->by_name, NULL, 0, after, alen, list_cb, &p);
	*count = p.count;
	*more = p.more;
	return p.used;
}

int fr_ns_fits(const fr_ns *n, uint64_t size, uint64_t cur)
{
	uint64_t after = n->used + n->pending + size;

	if (!n->share)
		return 1;
	return after - (cur < after ? cur : after) <= n->share;
}
