/*
 * Telling watchers about changes: a server's watch table (watch.h) and
 * the EVENT messages it sends.
 *
 * The store reports each change (fr_store_on_event); fr_events_emit finds
 * the watches that match the key and sends each watcher an EVENT. Events
 * never use the request slots' buffers: they go out of a pool of their
 * own (FR_EV_BUFS buffers of FR_EV_BUF_SIZE bytes, registered once). A
 * peer may have at most FR_EV_PEER_INFLIGHT of them in flight, so one
 * slow watcher cannot hold the whole pool. Events that cannot go out at
 * once wait in a queue per peer, in order; at most FR_EV_QUEUE_MAX wait in
 * all and FR_EV_PEER_QUEUE_MAX for one peer. An event beyond those bounds
 * is dropped and its watch marked lost: once its peer's queue has room
 * again, that watch gets one FERRY_EV_LOST event ahead of any newer one.
 * Nothing here ever blocks: a watcher that does not read its events only
 * loses them.
 *
 * Owner: the server's event-loop thread. Not thread-safe.
 */
#ifndef FR_EVENTS_H
#define FR_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "fabric/fab.h"

#define FR_EV_BUFS 256
#define FR_EV_BUF_SIZE 2048 /* header, 3 words and a 1 KiB key fit */
#define FR_EV_PEER_INFLIGHT 64
#define FR_EV_QUEUE_MAX 65536
#define FR_EV_PEER_QUEUE_MAX 16384

typedef struct fr_events fr_events;

/* Whether a peer may be sent to (the server still knows it: sending to an
 * address-vector entry that was removed crashes libfabric 1.17). */
typedef int (*fr_events_alive_fn)(void *arg, fi_addr_t peer);

/* Sets up the pool on fab. Returns 0, FERRY_ENOMEM or the registration's
 * error. */
int fr_events_new(fr_events **out, fr_fab *fab, fr_events_alive_fn alive,
		  void *arg);

/* Frees everything; call before the fabric closes. Accepts NULL. */
void fr_events_free(fr_events **ev);

/* WATCH and UNWATCH from peer: see fr_watch_add and fr_watch_remove.
 * Unwatching a watch that does not exist is not an error. */
int fr_events_watch(fr_events *ev, fi_addr_t peer, uint64_t id, int exact,
		    const void *prefix, size_t plen);
void fr_events_unwatch(fr_events *ev, fi_addr_t peer, uint64_t id);

/* The server forgot peer: its watches and its queued events go. */
void fr_events_forget(fr_events *ev, fi_addr_t peer);

/* 1 if peer holds watches. */
int fr_events_watching(const fr_events *ev, fi_addr_t peer);

/* A change of kind (FERRY_EV_*) to key (a stored key: namespace prefix
 * first, ns.h): tells every watcher whose watch matches it, giving the
 * key without the prefix. Has the shape of fr_store_event_fn (arg is the
 * fr_events). */
void fr_events_emit(void *ev, int kind, const void *key, size_t klen);

/* If the completion c is one of the pool's sends, takes it back and
 * returns 1; when the send failed, *failed receives the peer it was for
 * (a peer whose connection broke, which the server should forget), else
 * FI_ADDR_NOTAVAIL. Returns 0 for anyone else's completion. */
int fr_events_complete(fr_events *ev, const fr_comp *c, fi_addr_t *failed);

/* Sends what waits in the queues as far as buffers allow, and LOST events
 * to lost watches whose peers have room again. Call once per loop pass;
 * cheap when nothing waits. Returns how long the loop may sleep before
 * calling again: 0 (at once), ms, or -1 (no limit: only a completion can
 * let more out). */
int fr_events_flush(fr_events *ev);

/* Watches held, events sent and dropped since start (for logs). */
size_t fr_events_watches(const fr_events *ev);

#endif
