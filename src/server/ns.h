/*
 * A server's namespaces: who may act, and in which part of the key space.
 *
 * Every key the store holds begins with its namespace's id, FR_NS_KEY
 * bytes big-endian (the default namespace is id 0), so the namespaces'
 * keys never meet: a listing, a watch or a removal by prefix stays inside
 * one namespace. Clients never see the prefix; the request layer adds it
 * and takes it off again.
 *
 * The table also holds each namespace's token (indexed by its keyed
 * hash, so that finding a token's namespace costs one lookup and tells
 * nothing by its timing), quota share, expiry and the proxies' rate
 * limits, and counts its bytes and keys (fr_ns_account, fed by the
 * store's usage callback). Each server keeps its own table;
 * libferry sends every change to all servers.
 *
 * Owner: the server's event-loop thread. Not thread-safe.
 */
#ifndef FR_NS_H
#define FR_NS_H

#include <stddef.h>
#include <stdint.h>

#include "ferry.h"

#define FR_NS_KEY 8 /* bytes of namespace id in front of every stored key */
#define FR_NS_STORED_KEY_MAX (FR_NS_KEY + FERRY_KEY_MAX) /* its length */
#define FR_NS_TOKEN_MAX 256

typedef struct fr_ns {
	uint64_t id;
	char name[FERRY_NS_NAME_MAX + 1];
	uint8_t token[FR_NS_TOKEN_MAX];
	size_t tlen;
	uint64_t quota, share; /* the whole namespace's, this server's part
				  (0: none) */
	uint64_t expire_ms;    /* 0: never */
	uint64_t ops, bytes;   /* per-second limits for proxies (0: none) */
	uint64_t used, keys;   /* values published here */
	uint64_t pending;      /* bytes of PUTs prepared, not yet committed */
} fr_ns;

typedef struct fr_nstab fr_nstab;

/* A table holding only the default namespace (id 0, no limits). Returns
 * 0 or FERRY_ENOMEM. */
int fr_nstab_new(fr_nstab **out);
void fr_nstab_free(fr_nstab **t);

fr_ns *fr_nstab_by_id(const fr_nstab *t, uint64_t id);
fr_ns *fr_nstab_by_name(const fr_nstab *t, const void *name, size_t len);
/* The namespace whose token is tok, or NULL (the default namespace has
 * no token): found by the token's keyed hash in O(1), then compared in
 * constant time. */
fr_ns *fr_nstab_by_token(const fr_nstab *t, const void *tok, size_t len);

/* Adds a copy of *n (id not 0, name valid, used/keys/pending ignored).
 * Returns 0, FERRY_EINVAL or FERRY_EEXIST (the name or the id is taken),
 * or FERRY_ENOMEM. */
int fr_nstab_add(fr_nstab *t, const fr_ns *n);

/* Takes n out of the table and frees it; the caller frees its keys. */
void fr_nstab_remove(fr_nstab *t, fr_ns *n);

/* A namespace whose expiry is at or before now_ms, or NULL; then *next
 * (may be NULL) receives the soonest expiry still to come (0: none).
 * O(1): the namespaces with an expiry are kept in expiry order. */
fr_ns *fr_nstab_expired(fr_nstab *t, uint64_t now_ms, uint64_t *next);

/* Sets n's expiry (0: never), O(log n). Returns 0, or FERRY_ENOMEM with
 * n unchanged. */
int fr_nstab_set_expiry(fr_nstab *t, fr_ns *n, uint64_t expire_ms);

/* Packs the names sorting after `after`, at most max, into buf in LIST
 * reply format; as fr_store_list. */
size_t fr_nstab_list(const fr_nstab *t, const void *after, size_t alen,
		     uint32_t max, void *buf, size_t cap, uint32_t *count,
		     int *more);

/* Writes every namespace but the default one (id, name, token, quota,
 * share, expiry, limits: not usage) to path, mode 0600, replacing it
 * atomically (a temporary file renamed over it). Returns 0, or FERRY_EIO
 * with errno set. */
int fr_nstab_save(fr_nstab *t, const char *path);

/* Records in path, written by fr_nstab_save, what the table now says of
 * namespace id: its line (created or changed), or that it is gone. One
 * line is appended and synced; once the file holds as many appended
 * lines as the table has namespaces (and at least 64), or if the append
 * fails, the whole table is saved instead, so a change costs O(1),
 * amortized. Returns 0, or FERRY_EIO with errno set. */
int fr_nstab_log(fr_nstab *t, const char *path, uint64_t id);

/* Adds the namespaces fr_nstab_save and fr_nstab_log wrote to path, but
 * those expired by now_ms; a later line about an id replaces what an
 * earlier one added. *loaded receives how many the table gained. A
 * last line without its newline (an append cut short by a crash) is left
 * out, its number in *cut (else 0). A missing file adds none. Returns 0,
 * FERRY_EIO (errno set), FERRY_EPROTO for a malformed line (its number
 * in *line), or an fr_nstab_add error (also *line). */
int fr_nstab_load(fr_nstab *t, const char *path, uint64_t now_ms,
		  unsigned *loaded, unsigned *line, unsigned *cut);

/* The namespace a stored key belongs to (NULL: one removed meanwhile). */
fr_ns *fr_nstab_of_key(const fr_nstab *t, const void *key, size_t klen);

/* Writes id's key prefix (FR_NS_KEY bytes) to out. */
void fr_ns_prefix(uint64_t id, uint8_t *out);

/* By how many bytes a PUT of size bytes over a value of cur bytes (0:
 * none) would pass n's quota share: 0 if it fits (or n has no quota). */
uint64_t fr_ns_over(const fr_ns *n, uint64_t size, uint64_t cur);
/* Moving share between servers (SHARE). take: gives up to max bytes of
 * the share n's keys here do not use (used, pending), keeping at least one
 * byte, since a share of 0 means no quota; returns how many. give: adds
 * bytes; returns them. A namespace without a quota moves nothing. */
uint64_t fr_ns_share_take(fr_ns *n, uint64_t max);
uint64_t fr_ns_share_give(fr_ns *n, uint64_t bytes);

#endif
