#include "server/store.h"

#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/util.h"
#include "ferry.h"
#include "proto/wire.h"
#include "common/alloc.h"
#include "server/index.h"

struct fr_store {
	fr_index *index;
	fr_alloc *alloc;
	uint64_t max_value;
	uint64_t next_version;
};

int fr_store_new(fr_store **out, void *base, size_t size, uint64_t max_value)
{
	fr_store *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return FERRY_ENOMEM;
	s->max_value = max_value;
	s->next_version = 1;
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
	free(s);
	*sp = NULL;
}

int fr_store_check(fr_store *s, const void *key, size_t klen, unsigned flags)
{
	int exists = fr_index_get(s->index, key, klen) != NULL;

	if ((flags & FR_F_CREATE) && exists)
		return FERRY_EEXIST;
	if ((flags & FR_F_REPLACE) && !exists)
		return FERRY_ENOENT;
	return 0;
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

int fr_store_commit(fr_store *s, const void *key, size_t klen, fr_obj *o,
		    unsigned flags)
{
	void *old = NULL;
	int rc = fr_store_check(s, key, klen, flags);

	if (!rc)
		rc = fr_index_put(s->index, key, klen, o, &old);
	if (rc) {
		fr_store_abort(s, o);
		return rc;
	}
	o->ctime_ns = fr_wall_ns();
	o->version = s->next_version++;
	fr_store_release(s, old);
	return 0;
}

fr_obj *fr_store_get(fr_store *s, const void *key, size_t klen)
{
	fr_obj *o = fr_index_get(s->index, key, klen);

	if (o)
		o->refs++;
	return o;
}

int fr_store_del(fr_store *s, const void *key, size_t klen)
{
	fr_obj *o = fr_index_del(s->index, key, klen);

	if (!o)
		return FERRY_ENOENT;
	fr_store_release(s, o);
	return 0;
}

int fr_store_incr(fr_store *s, const void *key, size_t klen, int64_t delta,
		  int64_t *out)
{
	fr_obj *cur = fr_index_get(s->index, key, klen), *o;
	int64_t v = 0;
	int rc;

	if (cur) {
		if (cur->size != 8)
			return FERRY_ENOTNUM;
		v = (int64_t)fr_get_u64(cur->data);
	}
	if (__builtin_add_overflow(v, delta, &v))
		return FERRY_EOVERFLOW;
	/* A counter that nobody is reading is updated in place; otherwise a
	 * new version is committed so readers keep a consistent value. */
	if (cur && cur->refs == 1) {
		o = cur;
	} else {
		rc = fr_store_prepare(s, 8, &o);
		if (rc)
			return rc;
	}
	fr_put_u64(o->data, (uint64_t)v);
	if (o == cur) {
		o->ctime_ns = fr_wall_ns();
		o->version = s->next_version++;
	} else {
		rc = fr_store_commit(s, key, klen, o, 0);
		if (rc)
			return rc;
	}
	*out = v;
	return 0;
}

struct list_ctx {
	uint8_t *buf;
	size_t cap, used;
	uint32_t count, max;
	int more;
};

static int list_cb(void *arg, const void *key, size_t klen, void *val)
{
	struct list_ctx *l = arg;
	size_t n;

	if (l->count == l->max) {
		l->more = 1;
		return 1;
	}
	n = fr_list_pack(l->buf + l->used, l->cap - l->used, key, klen);
	if (!n) {
		l->more = 1;
		return 1;
	}
	l->used += n;
	l->count++;
	return 0;
}

size_t fr_store_list(fr_store *s, const void *prefix, size_t plen,
		     const void *after, size_t alen, uint32_t max, void *buf,
		     size_t cap, uint32_t *count, int *more)
{
	struct list_ctx l = {.buf = buf, .cap = cap, .max = max};

	fr_index_scan(s->index, prefix, plen, after, alen, list_cb, &l);
	*count = l.count;
	*more = l.more;
	return l.used;
}

void fr_store_stats(const fr_store *s, uint64_t *total, uint64_t *used,
		    uint64_t *keys)
{
	*total = fr_alloc_capacity(s->alloc);
	*used = fr_alloc_used(s->alloc);
	*keys = fr_index_count(s->index);
}
