#include "server/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/le.h"
#include "common/util.h"
#include "ferry.h"
#include "proto/wire.h"
#include "server/index.h"
#include "server/ttl.h"

struct fr_store {
	fr_index *index;
	fr_alloc *alloc;
	fr_ttl ttl; /* published values with an expiry, soonest first */
	uint64_t max_value;
	uint64_t next_version;
	uint64_t (*clock)(void *arg);
	void *clock_arg;
	fr_store_event_fn on_event;
	void *event_arg;
	fr_store_usage_fn on_usage;
	void *usage_arg;
};

static uint64_t wall_ms(void *arg)
{
	return fr_wall_ms();
}

int fr_store_new(fr_store **out, void *base, size_t size, uint64_t max_value)
{
	fr_store *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return FERRY_ENOMEM;
	s->max_value = max_value;
	s->next_version = 1;
	s->clock = wall_ms;
	rc = fr_index_new(&s->index);
	if (!rc)
		rc = fr_alloc_init(&s->alloc, base, size);
	if (rc) {
		fr_store_free(&s);
		return rc;
	}
	*out = s;
	return 0;
}

static int free_obj_cb(void *arg, const void *key, size_t klen, void *val)
{
	free(val); /* arena memory goes away with the arena */
	return 0;
}

void fr_store_free(fr_store **sp)
{
	fr_store *s = *sp;

	if (!s)
		return;
	if (s->index)
		fr_index_scan(s->index, NULL, 0, NULL, 0, free_obj_cb, NULL);
	fr_index_free(&s->index);
	fr_alloc_fini(&s->alloc);
	fr_ttl_free(&s->ttl);
	free(s);
	*sp = NULL;
}

void fr_store_set_clock(fr_store *s, uint64_t (*now_ms)(void *arg),
			void *arg)
{
	s->clock = now_ms ? now_ms : wall_ms;
	s->clock_arg = arg;
}

uint64_t fr_store_now_ms(fr_store *s)
{
	return s->clock(s->clock_arg);
}

void fr_store_on_event(fr_store *s, fr_store_event_fn fn, void *arg)
{
	s->on_event = fn;
	s->event_arg = arg;
}

void fr_store_on_usage(fr_store *s, fr_store_usage_fn fn, void *arg)
{
	s->on_usage = fn;
	s->usage_arg = arg;
}

/* Kind 0 tells nobody. */
static void emit(fr_store *s, int kind, const void *key, size_t klen)
{
	if (s->on_event && kind)
		s->on_event(s->event_arg, kind, key, klen);
}

void fr_store_set_next_version(fr_store *s, uint64_t v)
{
	s->next_version = v;
}

/* Versions count up from 1 and skip 0, which callers use for "any". */
static uint64_t new_version(fr_store *s)
{
	if (s->next_version == 0)
		s->next_version = 1;
	return s->next_version++;
}

/* An expiry t (0: never) has come by now. */
static int past(uint64_t t, uint64_t now)
{
	return t && t <= now;
}

static int expired(const fr_obj *o, uint64_t now)
{
	return past(o->expire_ms, now);
}

/* Takes o, just removed from the index, out of the expiry heap and drops
 * the index's reference. */
static void unpublished(fr_store *s, fr_obj *o)
{
	fr_ttl_remove(&s->ttl, o);
	o->key = NULL;
	fr_store_release(s, o);
}

/* Reports o (dir 1: published, -1: unpublished) under key. */
static void usage(fr_store *s, const void *key, size_t klen, const fr_obj *o,
		  int dir)
{
	if (s->on_usage)
		s->on_usage(s->usage_arg, key, klen, dir * (int64_t)o->size,
			    dir);
}

/* Removes o's key, telling watchers why (kind), while the key is still
 * the index's. */
static void remove_key(fr_store *s, fr_obj *o, int kind)
{
	emit(s, kind, o->key, o->klen);
	usage(s, o->key, o->klen, o, -1);
	fr_index_del(s->index, o->key, o->klen);
	unpublished(s, o);
}

/* The value of key at time now, or NULL if it is missing or expired; an
 * expired one is freed on the way (touching it frees it). An operation
 * reads the clock once and passes that time to every step, so that a
 * value it found live does not expire halfway through it. */
static fr_obj *live(fr_store *s, const void *key, size_t klen, uint64_t now)
{
	fr_obj *o = fr_index_get(s->index, key, klen);

	if (o && expired(o, now)) {
		remove_key(s, o, FERRY_EV_EXPIRED);
		o = NULL;
	}
	return o;
}

/* Checks a's conditions against the live value of key, stored in *cur. */
static int check(fr_store *s, const void *key, size_t klen,
		 const fr_put_args *a, uint64_t now, fr_obj **cur)
{
	fr_obj *o = live(s, key, klen, now);

	*cur = o;
	if (!a)
		return 0;
	if ((a->flags & FR_F_CREATE) && o)
		return FERRY_EEXIST;
	if ((a->flags & FR_F_REPLACE) && !o)
		return FERRY_ENOENT;
	if (a->if_version && !o)
		return FERRY_ENOENT;
	if (a->if_version && o->version != a->if_version)
		return FERRY_ECHANGED;
	return 0;
}

int fr_store_check(fr_store *s, const void *key, size_t klen,
		   const fr_put_args *a)
{
	fr_obj *cur;

	return check(s, key, klen, a, fr_store_now_ms(s), &cur);
}

int fr_store_prepare(fr_store *s, uint64_t size, fr_obj **out)
{
	fr_obj *o;

	*out = NULL;
	if (size > s->max_value)
		return FERRY_E2BIG;
	o = calloc(1, sizeof(*o));
	if (!o)
		return FERRY_ENOMEM;
	o->data = size <= SIZE_MAX ? fr_alloc_get(s->alloc, (size_t)size) : NULL;
	if (!o->data) {
		free(o);
		return FERRY_ENOSPC;
	}
	o->size = size;
	o->refs = 1;
	o->ttl_pos = FR_TTL_NONE;
	*out = o;
	return 0;
}

void fr_store_release(fr_store *s, fr_obj *o)
{
	if (o && --o->refs == 0) {
		fr_alloc_put(s->alloc, o->data);
		free(o);
	}
}

void fr_store_abort(fr_store *s, fr_obj *o)
{
	fr_store_release(s, o);
}

/* fr_store_commit at time now, reporting a published value as kind. */
static int commit(fr_store *s, const void *key, size_t klen, fr_obj *o,
		  const fr_put_args *a, uint64_t now, uint64_t *version,
		  int kind)
{
	fr_obj *cur;
	void *old = NULL;
	const void *kept;
	uint64_t v;
	int rc = check(s, key, klen, a, now, &cur);

	if (rc)
		goto fail;
	if (a && (a->flags & FR_F_KEEPTTL))
		o->expire_ms = cur ? cur->expire_ms : 0;
	else
		o->expire_ms = a ? a->expire_ms : 0;
	v = new_version(s);
	if (version)
		*version = v;
	if (expired(o, now)) {
		/* Written and expired at once: what remains is no key. */
		if (cur)
			remove_key(s, cur, FERRY_EV_DEL);
		fr_store_abort(s, o);
		return 0;
	}
	/* Room in the heap first, so nothing fails once the index holds
	 * the new value. */
	rc = o->expire_ms ? fr_ttl_reserve(&s->ttl) : 0;
	if (!rc)
		rc = fr_index_put(s->index, key, klen, o, &old, &kept);
	if (rc)
		goto fail;
	o->key = kept;
	o->klen = klen;
	o->ctime_ns = fr_wall_ns();
	o->version = v;
	if (o->expire_ms)
		fr_ttl_push(&s->ttl, o);
	usage(s, kept, klen, o, 1);
	if (old) {
		usage(s, kept, klen, old, -1);
		unpublished(s, old);
	}
	if (kind == FERRY_EV_SET && a && (a->flags & FR_F_AS_APPEND))
		kind = FERRY_EV_APPEND;
	if (kind == FERRY_EV_SET && a && (a->flags & FR_F_AS_SETRANGE))
		kind = FERRY_EV_SETRANGE;
	emit(s, kind, kept, klen);
	/* A write that sets an expiry says so too, as Redis's SET EX. */
	if (kind != FERRY_EV_INCR && o->expire_ms &&
	    !(a && (a->flags & FR_F_KEEPTTL)))
		emit(s, FERRY_EV_EXPIRE, kept, klen);
	return 0;
fail:
	fr_store_abort(s, o);
	return rc;
}

int fr_store_commit(fr_store *s, const void *key, size_t klen, fr_obj *o,
		    const fr_put_args *a, uint64_t *version)
{
	return commit(s, key, klen, o, a, fr_store_now_ms(s), version,
		      FERRY_EV_SET);
}

fr_obj *fr_store_get(fr_store *s, const void *key, size_t klen)
{
	fr_obj *o = live(s, key, klen, fr_store_now_ms(s));

	if (o)
		o->refs++;
	return o;
}

int fr_store_del(fr_store *s, const void *key, size_t klen,
		 uint64_t if_version)
{
	fr_obj *o = live(s, key, klen, fr_store_now_ms(s));

	if (!o)
		return FERRY_ENOENT;
	if (if_version && o->version != if_version)
		return FERRY_ECHANGED;
	remove_key(s, o, FERRY_EV_DEL);
	return 0;
}

/* a > b, where 0 stands for "never", later than any time. */
static int later(uint64_t a, uint64_t b)
{
	if (!a)
		return b != 0;
	return b && a > b;
}

int fr_store_expire(fr_store *s, const void *key, size_t klen,
		    uint64_t expire_ms, unsigned cond, int *changed)
{
	uint64_t now = fr_store_now_ms(s), cur;
	fr_obj *o = live(s, key, klen, now);

	*changed = 0;
	if (!o)
		return FERRY_ENOENT;
	cur = o->expire_ms;
	if (((cond & FR_EXPIRE_NX) && cur) || ((cond & FR_EXPIRE_XX) && !cur) ||
	    ((cond & FR_EXPIRE_GT) && !later(expire_ms, cur)) ||
	    ((cond & FR_EXPIRE_LT) && !later(cur, expire_ms)) ||
	    (!expire_ms && !cur))
		return 0;
	*changed = 1;
	if (past(expire_ms, now)) {
		remove_key(s, o, FERRY_EV_DEL);
		return 0;
	}
	if (!expire_ms) {
		fr_ttl_remove(&s->ttl, o);
		o->expire_ms = 0;
	} else if (cur) {
		o->expire_ms = expire_ms;
		fr_ttl_update(&s->ttl, o);
	} else {
		if (fr_ttl_reserve(&s->ttl)) {
			*changed = 0;
			return FERRY_ENOMEM;
		}
		o->expire_ms = expire_ms;
		fr_ttl_push(&s->ttl, o);
	}
	emit(s, expire_ms ? FERRY_EV_EXPIRE : FERRY_EV_PERSIST, o->key,
	     o->klen);
	return 0;
}

size_t fr_store_reap(fr_store *s, size_t max)
{
	uint64_t now = fr_store_now_ms(s);
	size_t n = 0;
	fr_obj *o;

	while (n < max && (o = fr_ttl_min(&s->ttl)) && expired(o, now)) {
		remove_key(s, o, FERRY_EV_EXPIRED);
		n++;
	}
	return n;
}

uint64_t fr_store_next_expiry(const fr_store *s)
{
	fr_obj *o = fr_ttl_min(&s->ttl);

	return o ? o->expire_ms : 0;
}

int fr_store_incr(fr_store *s, const void *key, size_t klen, int64_t delta,
		  int text, int64_t *out)
{
	static const fr_put_args keep = {.flags = FR_F_KEEPTTL};
	uint64_t now = fr_store_now_ms(s);
	fr_obj *cur = live(s, key, klen, now), *o;
	uint8_t digits[24];
	long long v = 0;
	size_t size = 8;
	int rc;

	if (cur && text && !fr_strict_ll(cur->data, cur->size, &v))
		return FERRY_ENOTNUM;
	if (cur && !text) {
		if (cur->size != 8)
			return FERRY_ENOTNUM;
		v = (long long)fr_get_u64(cur->data);
	}
	if (__builtin_add_overflow(v, delta, &v))
		return FERRY_EOVERFLOW;
	if (text)
		size = (size_t)snprintf((char *)digits, sizeof(digits), "%lld",
					v);
	else
		fr_put_u64(digits, (uint64_t)v);
	/* A counter that nobody is reading is updated in place when its
	 * size stays; otherwise a new version is committed so readers keep a
	 * consistent value. Both keep the counter's expiry. */
	if (cur && cur->refs == 1 && cur->size == size) {
		memcpy(cur->data, digits, size);
		cur->ctime_ns = fr_wall_ns();
		cur->version = new_version(s);
		emit(s, FERRY_EV_INCR, cur->key, cur->klen);
	} else {
		rc = fr_store_prepare(s, size, &o);
		if (rc)
			return rc;
		memcpy(o->data, digits, size);
		/* At the same time: the count comes from cur, and so must
		 * the expiry. */
		rc = commit(s, key, klen, o, &keep, now, NULL, FERRY_EV_INCR);
		if (rc)
			return rc;
	}
	*out = v;
	return 0;
}

struct list_ctx {
	fr_list_page page;
	size_t strip;
	uint64_t now;
};

static int list_cb(void *arg, const void *key, size_t klen, void *val)
{
	struct list_ctx *l = arg;

	/* Expired keys are skipped, not freed: the scan must not modify the
	 * index. fr_store_reap frees them soon. */
	if (expired(val, l->now))
		return 0;
	return fr_list_page_add(&l->page, (const uint8_t *)key + l->strip,
				klen - l->strip);
}

size_t fr_store_list(fr_store *s, const void *prefix, size_t plen,
		     const void *after, size_t alen, uint32_t max, size_t strip,
		     void *buf, size_t cap, uint32_t *count, int *more)
{
	struct list_ctx l = {.page = {.buf = buf, .cap = cap, .max = max},
			     .strip = strip,
			     .now = fr_store_now_ms(s)};

	fr_index_scan(s->index, prefix, plen, after, alen, list_cb, &l);
	*count = l.page.count;
	*more = l.page.more;
	return l.page.used;
}

struct drop_ctx {
	fr_obj **objs;
	size_t n, max;
};

static int drop_cb(void *arg, const void *key, size_t klen, void *val)
{
	struct drop_ctx *d = arg;

	d->objs[d->n++] = val;
	return d->n == d->max;
}

size_t fr_store_drop_prefix(fr_store *s, const void *prefix, size_t plen,
			    size_t max)
{
	fr_obj *objs[256];
	struct drop_ctx d = {objs, 0, FR_MIN(max, sizeof(objs) / sizeof(*objs))};

	/* Collected first: the scan must not modify the index. */
	fr_index_scan(s->index, prefix, plen, NULL, 0, drop_cb, &d);
	for (size_t i = 0; i < d.n; i++)
		remove_key(s, objs[i], 0);
	return d.n;
}

void fr_store_stats(const fr_store *s, uint64_t *total, uint64_t *used,
		    uint64_t *keys)
{
	*total = fr_alloc_capacity(s->alloc);
	*used = fr_alloc_used(s->alloc);
	*keys = fr_index_count(s->index);
}
