/*
 * Inside libferry: the request machinery every mode shares (client.c) and
 * the interface of the transports that carry requests:
 *
 *   direct.c  the fabric: one RDM endpoint, RMA to and from the servers;
 *   stream.c  a node proxy over a Unix socket (values in a shared memfd
 *             arena) or over TCP (values in the stream).
 *
 * Requests are pipelined. Each in-flight request owns a slot; replies are
 * matched to slots by request id (slot index in the low 32 bits, the slot's
 * generation in the high 32, so a late reply to a timed-out request is
 * recognised and dropped). A slot is recycled once its operation finished
 * (reply, error or time-out), its send buffer came back, and whoever waits
 * for it reaped it (a blocking call, or ferry_poll for submitted ops).
 *
 * Watches (watch.c): the client keeps the watches it asked for and the
 * events the servers (or the proxy) sent for them, which arrive beside
 * replies as unsolicited EVENT messages; both transports hand them to
 * fr_client_reply like replies.
 */
#ifndef FR_CLIENT_INT_H
#define FR_CLIENT_INT_H

#include <stdint.h>

#include "client/cluster.h"
#include "client/ring.h"
#include "common/token.h"
#include "fabric/fab.h"
#include "ferry.h"
#include "proto/wire.h"

struct req;
typedef int (*reply_fn)(ferry_client *c, struct req *r, const fr_msg *rep);

struct req_ctx {
	fr_ctx ctx;      /* first: completions hand it back */
	struct req *req; /* NULL for a receive buffer */
};

/* A request slot. Free, or busy until finished && sent && reaped. */
struct req {
	struct req_ctx tx;
	uint32_t index, gen;
	int busy, finished, sent, reaped, sync;
	int status;
	uint8_t opcode;
	unsigned server;
	ferry_op *op;     /* public operations */
	reply_fn on_reply;
	void *arg;        /* for on_reply of internal requests */
	/* fr_send_async: runs once r finished, whatever the outcome. */
	void (*on_done)(ferry_client *c, struct req *r);
	fr_mr mr;         /* direct: registration of a caller buffer */
	void *bounce;     /* stream: arena copy of a caller buffer */
	int passfd;       /* stream: descriptor to pass with the frame */
	uint8_t *sbuf;    /* direct: the send buffer */
	size_t slen;      /* direct: bytes encoded in sbuf */
	int queued;       /* direct: waits for the provider to take it */
	int borrowed;     /* a PUT or INCR for which quota share moved */
	int resynced;     /* direct: a HELLO the watches were sent behind */
	int retried;      /* direct: sent again after its send failed */
	uint64_t ns;      /* the namespace its request named */
	uint64_t deadline;
	struct req *next; /* free list or done queue */
};

/* What a transport does; client.c calls nothing else of it. */
struct fr_transport {
	/* Called before a request is built: makes sure the path is usable
	 * (the stream notices a restarted proxy and reconnects). NULL: always
	 * ready. Returns 0 or why not. */
	int (*ready)(ferry_client *c);
	/* Sends m (id set) on behalf of r. 0, or an error that finishes r. */
	int (*send)(ferry_client *c, struct req *r, fr_msg *m);
	/* Handles whatever arrived, feeding fr_client_reply() and
	 * fr_client_sent(); sleeps up to timeout_ms if nothing did. Returns
	 * the number of events handled. */
	int (*progress)(ferry_client *c, int timeout_ms);
	/* Lets the far side reach [p, p+len) (write: it will write there);
	 * fills raddr and rkey. */
	int (*reach)(ferry_client *c, struct req *r, void *p, size_t len,
		     int write, uint64_t *raddr, uint64_t *rkey);
	/* Sends r's request again, as it was encoded (a PUT after quota
	 * share moved to its server). NULL: the transport cannot. */
	int (*resend)(ferry_client *c, struct req *r);
	/* r finished: release what reach() set up for it. */
	void (*release)(ferry_client *c, struct req *r);
	void *(*alloc)(ferry_client *c, size_t size);
	int (*free)(ferry_client *c, void *p); /* FERRY_EINVAL: not ours */
	void (*close)(ferry_client *c);
	/* Sends m with no slot and no reply awaited (its id is
	 * FR_ID_NOREPLY, whose reply is dropped). NULL where sending needs
	 * a slot's buffer (direct). */
	int (*send_noreply)(ferry_client *c, fr_msg *m);
};

/* A request id that matches no slot: its reply is dropped on arrival. */
#define FR_ID_NOREPLY ((uint64_t)UINT32_MAX)

struct fr_direct;
struct fr_stream;
struct fr_watchset;

struct ferry_client {
	const struct fr_transport *tp;
	const char *mode; /* "direct", "proxy-unix", "proxy-tcp" */
	int timeout_ms;
	/* Where requests go: servers (direct) or the one proxy (stream). */
	unsigned npeers;
	char (*peer_names)[FR_ADDR_MAX];
	uint64_t *peer_inline; /* values up to this travel inline */
	uint64_t *peer_maxval;
	int *peer_status;      /* 0 when reachable, else why not */
	uint64_t *peer_retry;  /* not before then (ns) is it tried again */
	uint64_t *peer_heard;  /* when it last answered (ns) */
	fr_ring ring;          /* direct: key -> server */
	unsigned nreqs;
	unsigned inflight; /* requests taken and not finished */
	struct req *reqs, *free, *done_head, *done_tail;
	uint64_t next_scan;
	struct fr_direct *direct;
	struct fr_stream *stream;
	struct fr_watchset *ws; /* watches and events; NULL before the
				   first ferry_watch */
	char token[FR_TOKEN_FILE_MAX]; /* presented in every HELLO */
	size_t tlen;
	uint64_t ns; /* the namespace requests act in, for an admin's
			client (the proxy's); 0: the default, or the
			token's */
};

/* client.c, for the transports. */
int fr_client_init(ferry_client *c, const ferry_opts *o, unsigned npeers);
void fr_client_reply(ferry_client *c, const void *buf, size_t len);
void fr_client_sent(ferry_client *c, struct req *r, int err);
/* Ends every request still out with err, as its time-out would: the
 * transport may still hold their buffers, and a slot comes back only once
 * it lets go. */
void fr_client_end_all(ferry_client *c, int err);
/* The same when the transport is gone: it holds nothing of ours. */
void fr_client_fail_all(ferry_client *c, int err);
struct req *fr_req_get(ferry_client *c, unsigned peer, int sync);
int fr_req_wait(ferry_client *c, struct req *r);
/* Ends r with status (its completion is reported as for any). */
void fr_req_finish(ferry_client *c, struct req *r, int status);
/* Sends an internal request to peer (passing descriptor passfd along, or
 * -1) and waits for its reply, which fn reads with arg. */
int fr_ask(ferry_client *c, unsigned peer, fr_msg *m, reply_fn fn, void *arg,
	   int passfd);
/* The status of a peer known to be down (until its retry time), else 0. */
int fr_peer_down(const ferry_client *c, unsigned peer);
/* fr_ask to a peer not known to be down (else its status at once). */
int fr_ask_up(ferry_client *c, unsigned peer, fr_msg *m, reply_fn fn,
	      void *arg);
/* A reply_fn for replies with nothing to read but their status. */
int fr_ignore_reply(ferry_client *c, struct req *r, const fr_msg *rep);
/* Sends m to peer without waiting for, or caring about, the reply.
 * Returns 0, FERRY_EBUSY (no free slot: try later) or why it failed. */
int fr_send_noreply(ferry_client *c, unsigned peer, fr_msg *m);
/* Sends m to peer and returns without waiting: fn reads a successful
 * reply, then done(c, r) runs with r->status and r->arg, whatever the
 * outcome (a reply, an error, a time-out, the client closing; a send that
 * fails at once runs it before this returns), from within whichever call
 * drives c. Returns 0, or FERRY_EBUSY (no free slot: nothing sent, done
 * not run). */
int fr_send_async(ferry_client *c, unsigned peer, fr_msg *m, reply_fn fn,
		  void (*done)(ferry_client *c, struct req *r), void *arg);
/* Drives the transport until *flag is set (flag NULL: until the done
 * queue has entries) or deadline (monotonic ns; 0: none) passes. */
void fr_drive(ferry_client *c, const int *flag, uint64_t deadline);
int fr_hello_reply(ferry_client *c, struct req *r, const fr_msg *rep);
/* Prepares a HELLO carrying our fabric address (NULL, 0 to a proxy) and
 * the client's token. */
void fr_hello_init(ferry_client *c, fr_msg *m, const void *addr,
		   size_t alen);
/* Asks peer one (-1: every peer) for a page of m (LIST or NS_LIST) and
 * merges the pages into *out. */
int fr_list_pages(ferry_client *c, fr_msg *m, int one, unsigned max,
		  ferry_keys **out);
/* The same without waiting: done gets the merged page (its to free) or
 * why not, from inside ferry_poll, or before this returns if no request
 * could be sent. Returns 0, or FERRY_ENOMEM (done does not run). */
typedef void fr_list_fn(void *arg, int status, ferry_keys *keys);
int fr_list_start(ferry_client *c, fr_msg *m, int one, unsigned max,
		  fr_list_fn *done, void *arg);
/* A LIST request for ferry_list's arguments, or FERRY_EINVAL/E2BIG. */
int fr_list_msg(fr_msg *m, const void *prefix, size_t plen, const void *after,
		size_t alen, unsigned max);
/* The first peer that is not known to be down (0 if none is). */
unsigned fr_first_up(const ferry_client *c);

/* ns.c, for the proxy (an admin's client). Asks, without waiting, what
 * token tok (tlen bytes; none: the default namespace) opens, of the first
 * server that is up, or with every set of all servers (used and keys
 * summed). done runs once each server asked has answered (or its request
 * ended), from inside ferry_poll, or before this returns if none could be
 * asked: status 0 with the namespace's id and settings, FERRY_EACCES if
 * the token opens none (or no longer does), or why the servers could not
 * tell. Returns 0, or FERRY_ENOMEM (done does not run). */
typedef void fr_ns_auth_fn(void *arg, int status, uint64_t id,
			   const ferry_ns_info *info);
int fr_ns_auth_start(ferry_client *c, const void *tok, size_t tlen, int every,
		     fr_ns_auth_fn *done, void *arg);
/* NS_STAT of name, the same way, of every server. FERRY_EINVAL for a bad
 * name (done does not run). */
int fr_ns_stat_start(ferry_client *c, const char *name, fr_ns_auth_fn *done,
		     void *arg);
/* The admin's NS_CREATE, NS_SET (what: FERRY_NS_SET_* bits) or NS_DROP of
 * name with *set's fields (NULL: none), to every server (direct: this
 * client makes the token, the id and each server's share of the quota)
 * or to the proxy, without waiting. done gets the outcome and, for a
 * created namespace, its token (else NULL), as fr_ns_auth_start says; a
 * creation that failed has been taken back from the servers that took it
 * by then. Returns 0, FERRY_EINVAL (a bad name) or FERRY_ENOMEM (done
 * does not run). */
typedef void fr_ns_change_fn(void *arg, int status, const char *token);
int fr_ns_change_start(ferry_client *c, uint8_t op, const char *name,
		       unsigned what, const ferry_ns_info *set,
		       fr_ns_change_fn *done, void *arg);
/* The NS_LIST request of ferry_ns_list's arguments (after: at most
 * FERRY_NS_NAME_MAX bytes, or NULL). */
void fr_ns_list_msg(fr_msg *m, const char *after, unsigned max);
/* r, a PUT or INCR, was refused for want of quota share on its server,
 * over bytes short: asks every server (SHARE) to give up to that much of the
 * share it does not use, gives what came to r's server, and sends r
 * again (its reply then finishes it); else finishes r with FERRY_EQUOTA.
 * What one server gave always goes to the other, so the namespace's
 * total stays (unless that server cannot be reached: then the share is
 * lost until the admin sets the quota again). Returns 0, or FERRY_ENOMEM
 * (r is left as it was). */
int fr_share_borrow(ferry_client *c, struct req *r, uint64_t over);
/* Statistics of server i (asked directly, or through the proxy). */
int fr_server_stat(ferry_client *c, unsigned i, ferry_server_stat *out);
/* The same without waiting: done runs as with fr_send_async, with
 * r->arg == out (filled when r->status is 0). Returns 0, or why nothing
 * was sent (done does not run). */
int fr_server_stat_start(ferry_client *c, unsigned i, ferry_server_stat *out,
			 void (*done)(ferry_client *c, struct req *r));
void fr_broadcast(ferry_client *c, fr_msg *m, reply_fn fn, void **args,
		  int *st);

/* One request of a fan-out: the first member of each part, whose status
 * is its request's (0: answered, and the reply went through fn). */
struct fr_fan;
struct fr_fan_part {
	int status;
	struct fr_fan *fan;
};
struct fr_fan {
	unsigned n, left;
	void (*ended)(struct fr_fan *f); /* every part has ended */
};
/* Sends m to f->n peers without waiting (peer i: one if one >= 0, else
 * i), the i-th with the part at parts + i * size as the request's arg for
 * fn. A part whose request cannot be sent ends at once. f->ended runs
 * once every part has ended: from inside ferry_poll, or before this
 * returns. */
void fr_fan_out(ferry_client *c, struct fr_fan *f, fr_msg *m, int one,
		reply_fn fn, void *parts, size_t size);

/* watch.c, for client.c and the transports. */
/* An EVENT message arrived: queue it for its watch (dropped if unknown). */
void fr_watch_event(ferry_client *c, const fr_msg *m);
/* peer may have forgotten this client's watches (direct: a server was
 * greeted again; stream: the proxy was reconnected): queue a LOST event
 * for each of its watches and schedule them to be registered again. */
void fr_watch_resync(ferry_client *c, unsigned peer);
/* 1 if a watch of this client is registered at peer. */
int fr_watch_targets(const ferry_client *c, unsigned peer);
/* Sends the registrations fr_watch_resync scheduled, as far as slots
 * allow (all at once where the transport sends without slots). */
void fr_watch_pump(ferry_client *c);
void fr_watch_free(ferry_client *c);

/* opmsg.c: public operations and wire messages, both ways. Only the
 * fields every mode carries the same; where a PUT's or GET's bytes travel
 * (FR_F_INLINE, FR_F_RMA, raddr, rkey, blobs) is the caller's. */
void fr_op_to_request(const ferry_op *op, fr_msg *m);
/* FERRY_EPROTO if q is not a request of a public operation. */
int fr_op_from_request(const fr_msg *q, ferry_op *op);
void fr_op_to_reply(const ferry_op *op, fr_msg *rep);
void fr_op_from_reply(const fr_msg *rep, ferry_op *op);

/* The transports' constructors: each fills c->tp and its state. */
int fr_direct_open(ferry_client *c, const ferry_opts *o,
		   const fr_cluster *cl);
int fr_stream_open(ferry_client *c, const ferry_opts *o, const char *url);

/* For the proxy: expose a mapping (a client's shared arena) to the fabric
 * once, and withdraw it; and the completion queue's fd for its epoll. */
int fr_direct_add_region(ferry_client *c, void *base, size_t len);
void fr_direct_remove_region(ferry_client *c, void *base);
int fr_direct_fd(ferry_client *c);
/* Before sleeping on that fd: 1 if it may sleep (the fd is armed), 0 if
 * completions are already waiting (libfabric's fi_trywait). */
int fr_direct_trywait(ferry_client *c);
uint64_t fr_direct_spin_ns(ferry_client *c, unsigned spin_us);
int fr_direct_answers_due(ferry_client *c);

#endif
