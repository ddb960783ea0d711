/*
 * The expiry heap of one server: a binary min-heap of the published
 * objects that have an expiry, soonest first. Each object remembers its
 * place (fr_obj.ttl_pos), so removing or re-keying any one of them costs
 * O(log n) and the soonest is found in O(1); nothing ever scans the keys.
 *
 * Owner: the store (store.c), on the server's event-loop thread.
 */
#ifndef FR_TTL_H
#define FR_TTL_H

#include <stddef.h>

#include "server/store.h"

#define FR_TTL_NONE ((size_t)-1) /* fr_obj.ttl_pos of an object not in it */

typedef struct fr_ttl {
	fr_obj **v;
	size_t n, cap;
} fr_ttl;

/* Makes room for one more entry, so that the push that follows cannot
 * fail. Returns 0 or FERRY_ENOMEM. */
int fr_ttl_reserve(fr_ttl *h);

/* Adds o (o->expire_ms set, not 0) after fr_ttl_reserve succeeded. */
void fr_ttl_push(fr_ttl *h, fr_obj *o);

/* Removes o if it is in the heap. */
void fr_ttl_remove(fr_ttl *h, fr_obj *o);

/* Restores the order after o->expire_ms changed (o is in the heap). */
void fr_ttl_update(fr_ttl *h, fr_obj *o);

/* The object that expires first, or NULL. */
fr_obj *fr_ttl_min(const fr_ttl *h);

/* Frees the heap's array (not the objects). */
void fr_ttl_free(fr_ttl *h);

#endif
