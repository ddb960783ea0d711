/* The expiry heap: see ttl.h. */
#include "server/ttl.h"

#include <stdint.h>
#include <stdlib.h>

#include "ferry.h"

static void place(fr_ttl *h, size_t i, fr_obj *o)
{
	h->v[i] = o;
	o->ttl_pos = i;
}

/* Moves the entry at i towards the root while it expires before its
 * parent. */
static void sift_up(fr_ttl *h, size_t i)
{
	fr_obj *o = h->v[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (h->v[p]->expire_ms <= o->expire_ms)
			break;
		place(h, i, h->v[p]);
		i = p;
	}
	place(h, i, o);
}

/* Moves the entry at i towards the leaves while a child expires first. */
static void sift_down(fr_ttl *h, size_t i)
{
	fr_obj *o = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->expire_ms < h->v[c]->expire_ms)
			c++;
		if (o->expire_ms <= h->v[c]->expire_ms)
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, o);
}

int fr_ttl_reserve(fr_ttl *h)
{
	size_t cap = h->cap ? h->cap * 2 : 64;
	fr_obj **v;

	if (h->n < h->cap)
		return 0;
	if (cap > SIZE_MAX / sizeof(*v))
		return FERRY_ENOMEM;
	v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return FERRY_ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

void fr_ttl_push(fr_ttl *h, fr_obj *o)
{
	h->v[h->n++] = o;
	sift_up(h, h->n - 1);
}

void fr_ttl_remove(fr_ttl *h, fr_obj *o)
{
	size_t i = o->ttl_pos;

	if (i == FR_TTL_NONE)
		return;
	o->ttl_pos = FR_TTL_NONE;
	if (i == --h->n)
		return;
	/* The last entry fills the hole and moves whichever way it must. */
	place(h, i, h->v[h->n]);
	fr_ttl_update(h, h->v[i]);
}

void fr_ttl_update(fr_ttl *h, fr_obj *o)
{
	size_t i = o->ttl_pos;

	if (i > 0 && h->v[(i - 1) / 2]->expire_ms > o->expire_ms)
		sift_up(h, i);
	else
		sift_down(h, i);
}

fr_obj *fr_ttl_min(const fr_ttl *h)
{
	return h->n ? h->v[0] : NULL;
}

void fr_ttl_free(fr_ttl *h)
{
	free(h->v);
	*h = (fr_ttl){0};
}
