#include "server/server.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/le.h"
#include "common/proc.h"
#include "common/token.h"
#include "common/util.h"
#include "fabric/fab.h"
#include "ferry.h"
#include "proto/wire.h"
#include "server/events.h"
#include "server/index.h"
#include "server/ns.h"
#include "server/store.h"

#define WHO "ferry-server"
#define PEER_ADDR_MAX 256
#define LIST_MAX 10000
#define LIST_BYTES (FR_MSG_SIZE - FR_HDR_SIZE - 16) /* a LIST page's blob */
/* Expired values freed per loop pass: a mass expiry is spread over many
 * passes, each still serving requests. */
#define REAP_BATCH 256
#define IDLE_MS 1000 /* longest sleep of an idle server */
#define REAP_LOG_NS (60 * 1000000000ull)
#define PEER_CHECK_NS (2 * 1000000000ull) /* asking whether peers live */
#define SHARE_SAVE_NS 1000000000ull /* moved quota shares are saved so */

/* Each slot serves one request at a time and walks these states. */
enum slot_state {
	SLOT_RECV,  /* receive posted: waits for a request */
	SLOT_PULL,  /* PUT: waits for RMA reads of the value from the client */
	SLOT_PUSH,  /* GET: waits for RMA writes of the value to the client */
	SLOT_REPLY, /* waits for the reply's send completion */
};

struct slot;
struct slot_ctx {
	fr_ctx ctx; /* first: completions hand it back */
	struct slot *slot;
};

struct slot {
	enum slot_state state;
	struct slot_ctx rx, tx, rma;
	uint8_t *rbuf, *tbuf;
	fr_msg req;
	fi_addr_t peer;
	fr_obj *obj;      /* PUT: being filled; GET: being pushed */
	uint64_t got;     /* GET: bytes pushed */
	unsigned rma_left; /* RMA chunks in flight */
	int rma_err;
	fr_ns *ns;        /* the namespace the request acts in (NULL: a PUT's
			     that was removed while its value was pulled) */
	uint64_t pend;    /* PUT: bytes counted as pending there */
	uint64_t over; /* FERRY_EQUOTA: bytes over the namespace's share */
	/* The request's keys with their namespace prefix (ns.h). */
	uint8_t key[FR_NS_STORED_KEY_MAX], key2[FR_NS_STORED_KEY_MAX];
};

/* Clients that said HELLO, indexed by their address-vector entry (dense
 * small integers with FI_AV_TABLE). Only live entries are ever answered:
 * after an entry is removed, rxm may still name it as the source of
 * messages on the old connection, and sending to a removed entry crashes
 * libfabric 1.17. */
struct peer {
	uint8_t addr[PEER_ADDR_MAX];
	uint16_t len;
	uint8_t live;
	uint8_t admin; /* acts in any namespace (the header says which) */
	uint8_t denied; /* its HELLO had a wrong token, or none */
	uint64_t ns;   /* not admin: the namespace its token opened */
	uint8_t unwatched; /* its watches were dropped: check_peers */
	uint64_t heard; /* when its last message arrived (loop time, ns) */
};

struct server {
	fr_server_opts o;
	fr_fab *fab;
	fr_store *store;
	fr_events *events; /* watches, and the events sent to watchers */
	fr_nstab *nstab;
	uint64_t *dying;   /* ids of removed namespaces whose keys remain */
	size_t ndying, dying_cap;
	void *arena;
	fr_mr arena_mr;
	uint8_t *msgs;
	fr_mr msg_mr;
	struct slot *slots;
	struct peer *peers; /* by fi_addr_t */
	size_t npeers, peer_cap; /* live entries; size of peers */
	fr_index *peer_at; /* a live peer's address -> its fi_addr_t + 1 */
	uint64_t ops;
	uint64_t reaped;     /* expired values freed since the last log line */
	uint64_t reap_log_ns; /* when that line was written (0: never) */
	uint64_t peer_check_ns; /* when check_peers looks next */
	uint64_t now; /* the clock at the start of this loop pass (ns) */
	uint64_t share_save_ns; /* when moved shares are saved (0: none moved) */
	unsigned busy; /* slots not in SLOT_RECV */
	int epfd, sigfd;
	fi_addr_t self; /* our own address, inserted first: see setup() */
	uint64_t boot;  /* this run's number, in HELLO replies */
	char addr[300]; /* HOST:PORT, as clients name this server */
	uint8_t scratch[FR_MSG_SIZE];
};

void fr_server_opts_init(fr_server_opts *o)
{
	*o = (fr_server_opts){
		.provider = "tcp",
		.host = "127.0.0.1",
		.port = "7400",
		.memory = 1ull << 30,
		.max_value = 1ull << 30,
		.slots = 256,
		.spin_us = 50,
		.ready_fd = -1,
		.watcher_timeout_ms = 30000,
	};
}

/* ---- replies ---------------------------------------------------------- */

/* Moves s to state, keeping count of the slots that wait on the fabric
 * for something other than a new request. */
static void set_state(struct server *sv, struct slot *s, enum slot_state st)
{
	sv->busy += (st != SLOT_RECV) - (s->state != SLOT_RECV);
	s->state = st;
}

static void repost(struct server *sv, struct slot *s)
{
	set_state(sv, s, SLOT_RECV);
	if (fr_fab_recv(sv->fab, s->rbuf, FR_MSG_SIZE, sv->msg_mr.desc,
			&s->rx.ctx))
		fr_log(WHO, "cannot repost a receive: %s",
		       fr_fab_error(sv->fab));
}

static int known(const struct server *sv, fi_addr_t a)
{
	return a != FI_ADDR_NOTAVAIL && a != sv->self && a < sv->peer_cap &&
	       sv->peers[a].live;
}

static int known_cb(void *sv, fi_addr_t a)
{
	return known(sv, a);
}

/* Sends rep to the slot's peer; the slot is reposted when the send
 * completes. A peer forgotten meanwhile gets nothing. */
static void reply(struct server *sv, struct slot *s, fr_msg *rep)
{
	size_t n = fr_msg_encode(rep, s->tbuf, FR_MSG_SIZE);

	if (!known(sv, s->peer)) {
		fr_store_release(sv->store, s->obj);
		s->obj = NULL;
		repost(sv, s);
		return;
	}
	set_state(sv, s, SLOT_REPLY);
	if (!n || fr_fab_send(sv->fab, s->tbuf, n, sv->msg_mr.desc, s->peer,
			      &s->tx.ctx)) {
		fr_log(WHO, "cannot send a %s reply: %s",
		       fr_op_name(rep->h.opcode), fr_fab_error(sv->fab));
		fr_store_release(sv->store, s->obj);
		s->obj = NULL;
		repost(sv, s);
	}
}

static void reply_status(struct server *sv, struct slot *s, int status)
{
	fr_msg rep;

	fr_msg_init(&rep, s->req.h.opcode, FR_F_REPLY, s->req.h.id);
	rep.h.status = status;
	if (status == FERRY_EQUOTA)
		rep.w[FR_EQUOTA_R_OVER] = s->over;
	reply(sv, s, &rep);
}

/* ---- peers ------------------------------------------------------------ */

/* Who a HELLO's token makes its sender: the admin (the admin token, or
 * no token in an open cluster) or a namespace's client (the token found
 * by its keyed hash, then compared in constant time: fr_nstab_by_token).
 * A wrong token or a missing one (where tokens are required) is
 * FERRY_EACCES. */
static int authenticate(struct server *sv, const void *tok, size_t tlen,
			int *admin, fr_ns **ns)
{
	const char *at = sv->o.admin_token;

	*admin = at ? fr_token_equal(at, strlen(at), tok, tlen) : tlen == 0;
	*ns = *admin ? NULL : fr_nstab_by_token(sv->nstab, tok, tlen);
	return *admin || *ns ? 0 : FERRY_EACCES;
}

/* Learns the address a client sends (or finds it known already) and
 * answers there: not to the message's source, which shm (libfabric 1.17)
 * reports as 0 for a sender it does not know. */
static int hello(struct server *sv, struct slot *s)
{
	const fr_msg *q = &s->req;
	fi_addr_t a = FI_ADDR_NOTAVAIL;
	fr_msg rep;
	int rc, admin;
	fr_ns *ns;
	void *at;

	if (q->blen[0] == 0 || q->blen[0] > PEER_ADDR_MAX)
		return FERRY_EPROTO;
	if ((at = fr_index_get(sv->peer_at, q->blob[0], q->blen[0])))
		a = (fi_addr_t)((uintptr_t)at - 1);
	/* A known address speaks for itself: the fabric names its messages'
	 * source by it. A HELLO naming it from elsewhere (another peer, or a
	 * sender the fabric cannot name) would take over that peer: what it
	 * may do, and where its replies and events go. */
	if (at && a != s->peer) {
		fr_log(WHO, "refusing a HELLO that names another peer's "
			    "address");
		return FERRY_EACCES;
	}
	rc = authenticate(sv, q->blob[1], q->blen[1], &admin, &ns);
	if (a == FI_ADDR_NOTAVAIL) {
		if (fr_fab_insert(sv->fab, q->blob[0], q->blen[0], &a)) {
			fr_log(WHO, "HELLO: %s", fr_fab_error(sv->fab));
			return FERRY_EPROTO;
		}
		if (fr_grow_zeroed((void **)&sv->peers, &sv->peer_cap, a,
				   sizeof(*sv->peers)) ||
		    fr_index_put(sv->peer_at, q->blob[0], q->blen[0],
				 (void *)(uintptr_t)(a + 1), NULL, NULL)) {
			fr_fab_remove(sv->fab, a);
			return FERRY_ENOMEM;
		}
		memcpy(sv->peers[a].addr, q->blob[0], q->blen[0]);
		sv->peers[a].len = (uint16_t)q->blen[0];
		sv->peers[a].live = 1;
		sv->peers[a].unwatched = 1; /* it holds none */
		sv->npeers++;
	}
	/* A refused peer is still learnt, so that it hears why; it can do
	 * nothing else. */
	sv->peers[a].denied = rc != 0;
	sv->peers[a].admin = (uint8_t)admin;
	sv->peers[a].ns = ns ? ns->id : 0;
	sv->peers[a].heard = sv->now;
	s->peer = a;
	if (rc)
		return rc;
	fr_msg_init(&rep, FR_OP_HELLO, FR_F_REPLY, q->h.id);
	rep.w[FR_HELLO_R_INLINE] = FR_INLINE_MAX;
	rep.w[FR_HELLO_R_KEYMAX] = FERRY_KEY_MAX;
	rep.w[FR_HELLO_R_VALMAX] = sv->o.max_value;
	rep.w[FR_HELLO_R_SERVERS] = 1;
	rep.w[FR_HELLO_R_BOOT] = sv->boot;
	rep.w[FR_HELLO_R_FRESH] = sv->peers[a].unwatched;
	sv->peers[a].unwatched = 0;
	reply(sv, s, &rep);
	return 0;
}

/* Forgets a peer: its address, and its watches with the events queued
 * for them. */
static void bye(struct server *sv, fi_addr_t src)
{
	if (!known(sv, src))
		return;
	fr_events_forget(sv->events, src);
	fr_fab_remove(sv->fab, src);
	fr_index_del(sv->peer_at, sv->peers[src].addr, sv->peers[src].len);
	sv->peers[src].live = 0;
	sv->npeers--;
}

/* ---- RMA -------------------------------------------------------------- */

/* Posts the transfer of len bytes between arena memory at local and the
 * client's raddr, in chunks the provider accepts. Returns 0 if at least
 * one chunk is in flight (completions finish the request), else an error. */
static int start_rma(struct server *sv, struct slot *s, int write,
		     uint8_t *local, uint64_t len, uint64_t raddr,
		     uint64_t rkey)
{
	size_t chunk = fr_fab_max_rma(sv->fab);
	int rc = 0;

	s->rma_left = 0;
	s->rma_err = 0;
	for (uint64_t off = 0; off < len; off += chunk) {
		size_t n = (size_t)FR_MIN(chunk, len - off);
		rc = write ? fr_fab_write(sv->fab, local + off, n,
					  sv->arena_mr.desc, s->peer,
					  raddr + off, rkey, &s->rma.ctx)
			   : fr_fab_read(sv->fab, local + off, n,
					 sv->arena_mr.desc, s->peer,
					 raddr + off, rkey, &s->rma.ctx);
		if (rc)
			break;
		s->rma_left++;
	}
	if (rc)
		s->rma_err = FERRY_EIO;
	return s->rma_left ? 0 : FERRY_EIO;
}

/* ---- namespaces --------------------------------------------------------- */

/* Moves the key blob i of the slot's request into namespace n, through
 * buf. */
static void in_ns(struct slot *s, int i, uint8_t *buf)
{
	fr_msg *q = &s->req;

	fr_ns_prefix(s->ns->id, buf);
	memcpy(buf + FR_NS_KEY, q->blob[i], q->blen[i]);
	q->blob[i] = buf;
	q->blen[i] += FR_NS_KEY;
}

/* Sets the namespace the slot's request acts in (an admin's: the one its
 * header names; anyone else's: the one its token opened) and moves the
 * request's keys into it. FERRY_EACCES when that namespace does not exist
 * (any more), or for an admin's request from someone else. */
static int enter_ns(struct server *sv, struct slot *s)
{
	const struct peer *p = &sv->peers[s->peer];
	fr_msg *q = &s->req;

	if (p->denied)
		return FERRY_EACCES;
	if (fr_op_admin(q->h.opcode))
		return p->admin ? 0 : FERRY_EACCES;
	s->ns = fr_nstab_by_id(sv->nstab, p->admin ? q->h.ns : p->ns);
	if (!s->ns)
		return FERRY_EACCES;
	/* Checked before the prefix makes every key non-empty. */
	if (q->h.opcode == FR_OP_WATCH && (q->h.flags & FR_F_EXACT) &&
	    !q->blen[0])
		return FERRY_EINVAL;
	if (q->h.opcode == FR_OP_LIST && q->blen[1])
		in_ns(s, 1, s->key2); /* the cursor */
	if (fr_op_keyed(q->h.opcode) || q->h.opcode == FR_OP_LIST ||
	    q->h.opcode == FR_OP_WATCH)
		in_ns(s, 0, s->key);
	return 0;
}

/* The store's usage reports, counted by namespace. */
static void on_usage(void *arg, const void *key, size_t klen, int64_t bytes,
		     int keys)
{
	struct server *sv = arg;
	fr_ns *n = fr_nstab_of_key(sv->nstab, key, klen);

	if (n) {
		n->used += (uint64_t)bytes;
		n->keys += (uint64_t)(int64_t)keys;
	}
}

/* A PUT's bytes stop counting as pending in its namespace (committed,
 * aborted, or the namespace went meanwhile). */
static void put_settled(struct server *sv, struct slot *s)
{
	if (s->ns)
		s->ns->pending -= s->pend;
	s->pend = 0;
}

/* Writes the namespace table to --state-file after a change. A failure
 * is logged and the change stands: this server goes on with it, only a
 * restart would not know it. */
static void save_ns(struct server *sv)
{
	sv->share_save_ns = 0;
	if (sv->o.state_file && fr_nstab_save(sv->nstab, sv->o.state_file))
		fr_log(WHO, "cannot save the namespaces to %s: %s",
		       sv->o.state_file, strerror(errno));
}

/* Records the change of one namespace (created, changed, gone) in the
 * state file: a line appended, in general. */
static void log_ns(struct server *sv, uint64_t id)
{
	if (sv->o.state_file && fr_nstab_log(sv->nstab, sv->o.state_file, id))
		fr_log(WHO, "cannot save the namespaces to %s: %s",
		       sv->o.state_file, strerror(errno));
}

/* Whether the keys of a removed namespace id are still being freed. */
static int dying(const struct server *sv, uint64_t id)
{
	for (size_t i = 0; i < sv->ndying; i++)
		if (sv->dying[i] == id)
			return 1;
	return 0;
}

/* Cuts everything that names n by its id or its address loose from it:
 * the admin may create another namespace under the same id, and that
 * one must not take in n's peers (let in by a token that opens nothing
 * now) or their watches, nor the PUTs of n still pulling their values. */
static void forget_ns(struct server *sv, const fr_ns *n)
{
	for (fi_addr_t a = 0; a < sv->peer_cap; a++) {
		struct peer *p = &sv->peers[a];
		if (!known(sv, a) || p->admin || p->ns != n->id)
			continue;
		p->denied = 1;
		fr_events_forget(sv->events, a);
		p->unwatched = 1;
	}
	for (unsigned i = 0; i < sv->o.slots; i++)
		if (sv->slots[i].ns == n)
			sv->slots[i].ns = NULL;
}

/* Takes n out of the table at once (its token opens nothing from now on);
 * its keys are freed over the next loop passes (drain_dying). */
static void drop_ns(struct server *sv, fr_ns *n, const char *why)
{
	uint64_t id = n->id;

	forget_ns(sv, n);
	if (fr_grow_zeroed((void **)&sv->dying, &sv->dying_cap, sv->ndying,
			   sizeof(*sv->dying)) == 0)
		sv->dying[sv->ndying++] = id;
	else
		fr_log(WHO, "out of memory: the keys of namespace %s stay",
		       n->name);
	fr_log(WHO, "namespace %s %s: %llu keys, %llu bytes freed", n->name,
	       why, (unsigned long long)n->keys, (unsigned long long)n->used);
	fr_nstab_remove(sv->nstab, n);
	log_ns(sv, id);
}

/* Frees up to REAP_BATCH keys of removed namespaces. Returns 1 if keys
 * remain. */
static int drain_dying(struct server *sv)
{
	uint8_t prefix[FR_NS_KEY];

	if (!sv->ndying)
		return 0;
	fr_ns_prefix(sv->dying[sv->ndying - 1], prefix);
	if (!fr_store_drop_prefix(sv->store, prefix, sizeof(prefix),
				  REAP_BATCH))
		sv->ndying--;
	return sv->ndying > 0;
}

/* Fills a LIST or NS_LIST reply with the page packed in sv->scratch. */
static void list_reply(struct server *sv, fr_msg *rep, size_t bytes,
		       uint32_t count, int more)
{
	rep->w[FR_LIST_R_BYTES] = bytes;
	rep->w[FR_LIST_R_COUNT] = count;
	rep->blob[0] = sv->scratch;
	if (more)
		rep->h.flags |= FR_F_MORE;
}

/* The words every namespace reply carries. */
static void ns_words(fr_msg *rep, const fr_ns *n)
{
	rep->w[FR_NS_R_ID] = n->id;
	rep->w[FR_NS_R_QUOTA] = n->quota;
	rep->w[FR_NS_R_EXPIRE] = n->expire_ms;
	rep->w[FR_NS_R_OPS] = n->ops;
	rep->w[FR_NS_R_BYTES] = n->bytes;
	rep->w[FR_NS_R_USED] = n->used;
	rep->w[FR_NS_R_KEYS] = n->keys;
}

static int op_ns(struct server *sv, struct slot *s)
{
	const fr_msg *q = &s->req;
	fr_ns *n = NULL, tmpl = {0};
	uint64_t what;
	uint32_t count;
	size_t bytes;
	int more, rc;
	fr_msg rep;

	fr_msg_init(&rep, q->h.opcode, FR_F_REPLY, q->h.id);
	if (q->h.opcode != FR_OP_NS_LIST && q->h.opcode != FR_OP_NS_AUTH &&
	    !fr_ns_name_ok(q->blob[0], q->blen[0]))
		return FERRY_EINVAL;
	if (q->h.opcode != FR_OP_NS_CREATE && q->h.opcode != FR_OP_NS_LIST &&
	    q->h.opcode != FR_OP_NS_AUTH &&
	    !(n = fr_nstab_by_name(sv->nstab, q->blob[0], q->blen[0])))
		return FERRY_ENOENT;
	switch (q->h.opcode) {
	case FR_OP_NS_CREATE:
		if (q->blen[1] > FR_NS_TOKEN_MAX)
			return FERRY_EINVAL;
		/* Keys still under the id would show in the new namespace,
		 * and freeing them would free its own. */
		if (dying(sv, q->w[FR_NS_ID]))
			return FERRY_EEXIST;
		tmpl.id = q->w[FR_NS_ID];
		memcpy(tmpl.name, q->blob[0], q->blen[0]);
		memcpy(tmpl.token, q->blob[1], q->blen[1]);
		tmpl.tlen = q->blen[1];
		tmpl.quota = q->w[FR_NS_QUOTA];
		tmpl.share = q->w[FR_NS_SHARE];
		tmpl.expire_ms = q->w[FR_NS_EXPIRE];
		tmpl.ops = q->w[FR_NS_OPS];
		tmpl.bytes = q->w[FR_NS_BYTES];
		rc = fr_nstab_add(sv->nstab, &tmpl);
		explicit_bzero(tmpl.token, sizeof(tmpl.token));
		if (rc)
			return rc;
		log_ns(sv, tmpl.id);
		ns_words(&rep, &tmpl);
		break;
	case FR_OP_NS_SET:
		what = q->w[FR_NS_WHAT];
		/* The one change that can fail goes first: all or nothing. */
		if ((what & FERRY_NS_SET_EXPIRE) &&
		    (rc = fr_nstab_set_expiry(sv->nstab, n,
					      q->w[FR_NS_EXPIRE])))
			return rc;
		if (what & FERRY_NS_SET_QUOTA) {
			n->quota = q->w[FR_NS_QUOTA];
			n->share = q->w[FR_NS_SHARE];
		}
		if (what & FERRY_NS_SET_OPS)
			n->ops = q->w[FR_NS_OPS];
		if (what & FERRY_NS_SET_BYTES)
			n->bytes = q->w[FR_NS_BYTES];
		log_ns(sv, n->id);
		break;
	case FR_OP_NS_DROP:
		drop_ns(sv, n, "removed");
		break;
	case FR_OP_NS_STAT:
		ns_words(&rep, n);
		break;
	case FR_OP_NS_AUTH:
		/* An empty token names the default namespace: a proxy asks
		 * for its counts (DBSIZE of an admin's Redis client). */
		n = q->blen[0] ? fr_nstab_by_token(sv->nstab, q->blob[0],
						   q->blen[0])
			       : fr_nstab_by_id(sv->nstab, 0);
		if (!n)
			return FERRY_EACCES;
		ns_words(&rep, n);
		break;
	case FR_OP_NS_LIST:
		bytes = fr_nstab_list(
			sv->nstab, q->blob[0], q->blen[0],
			(uint32_t)FR_MIN(q->w[FR_NSLIST_MAX], LIST_MAX),
			sv->scratch, LIST_BYTES, &count, &more);
		list_reply(sv, &rep, bytes, count, more);
		break;
	}
	reply(sv, s, &rep);
	return 0;
}

/* ---- operations --------------------------------------------------------- */

/* FERRY_EQUOTA if a value of size bytes, replacing the request's key's
 * current one, would not fit its namespace's quota share (s->over: by how
 * much); else 0. */
static int quota_check(struct server *sv, struct slot *s, uint64_t size)
{
	const fr_msg *q = &s->req;
	fr_obj *cur;

	if (!s->ns->share)
		return 0;
	cur = fr_store_get(sv->store, q->blob[0], q->blen[0]);
	s->over = fr_ns_over(s->ns, size, cur ? cur->size : 0);
	fr_store_release(sv->store, cur);
	return s->over ? FERRY_EQUOTA : 0;
}

/* The conditions and expiry a PUT request asks for. */
static fr_put_args put_args(const fr_msg *q)
{
	return (fr_put_args){
		.flags = q->h.flags &
			 (FR_F_CREATE | FR_F_REPLACE | FR_F_KEEPTTL |
			  FR_F_AS_APPEND | FR_F_AS_SETRANGE),
		.if_version = q->w[FR_PUT_IFVER],
		.expire_ms = q->w[FR_PUT_EXPIRE],
	};
}

/* Publishes the slot's filled object and answers the PUT. */
static int put_commit(struct server *sv, struct slot *s)
{
	const fr_msg *q = &s->req;
	fr_put_args a = put_args(q);
	fr_msg rep;
	int rc;

	fr_msg_init(&rep, FR_OP_PUT, FR_F_REPLY, q->h.id);
	/* The namespace may have gone while the value was pulled: its
	 * keys are being freed, and this one would outlive them. */
	if (!s->ns) {
		fr_store_abort(sv->store, s->obj);
		rc = FERRY_EACCES;
	} else {
		rc = fr_store_commit(sv->store, q->blob[0], q->blen[0], s->obj,
				     &a, &rep.w[FR_PUT_R_VERSION]);
	}
	s->obj = NULL;
	put_settled(sv, s);
	if (!rc) {
		/* Events first: a watcher sleeps and has a wake-up to pay,
		 * while the writer is usually polling for this reply. */
		fr_events_flush(sv->events);
		reply(sv, s, &rep);
	}
	return rc;
}

static int op_put(struct server *sv, struct slot *s)
{
	const fr_msg *q = &s->req;
	uint64_t vlen = q->w[FR_PUT_VLEN];
	fr_put_args a = put_args(q);
	int rc;

	if (vlen > sv->o.max_value)
		return FERRY_E2BIG;
	if (vlen && !(q->h.flags & (FR_F_INLINE | FR_F_RMA)))
		return FERRY_EPROTO;
	rc = fr_store_check(sv->store, q->blob[0], q->blen[0], &a);
	if (!rc)
		rc = quota_check(sv, s, vlen);
	if (!rc)
		rc = fr_store_prepare(sv->store, vlen, &s->obj);
	if (rc)
		return rc;
	s->pend = vlen;
	s->ns->pending += vlen;
	if ((q->h.flags & FR_F_RMA) && vlen) {
		set_state(sv, s, SLOT_PULL);
		rc = start_rma(sv, s, 0, s->obj->data, vlen, q->w[FR_PUT_RADDR],
			       q->w[FR_PUT_RKEY]);
		if (!rc)
			return 0;
		fr_store_abort(sv->store, s->obj);
		s->obj = NULL;
		put_settled(sv, s);
		return rc;
	}
	if (vlen)
		memcpy(s->obj->data, q->blob[1], vlen);
	return put_commit(sv, s);
}

static void put_pulled(struct server *sv, struct slot *s)
{
	int rc = put_commit(sv, s);

	if (rc)
		reply_status(sv, s, rc);
}

/* The metadata words of GET and STAT replies. */
static void meta_words(fr_msg *rep, const fr_obj *o)
{
	rep->w[FR_GET_R_SIZE] = o->size;
	rep->w[FR_GET_R_CTIME] = o->ctime_ns;
	rep->w[FR_GET_R_VERSION] = o->version;
	rep->w[FR_GET_R_EXPIRE] = o->expire_ms;
}

static void get_reply(struct server *sv, struct slot *s, uint16_t flags,
		      int status)
{
	fr_msg rep;

	fr_msg_init(&rep, FR_OP_GET, FR_F_REPLY | flags, s->req.h.id);
	rep.h.status = status;
	meta_words(&rep, s->obj);
	rep.w[FR_GET_R_GOT] = s->got;
	rep.blob[0] = s->obj->data + s->req.w[FR_GET_OFFSET];
	reply(sv, s, &rep);
	/* The inline bytes are copied into the reply buffer: release now. */
	fr_store_release(sv->store, s->obj);
	s->obj = NULL;
}

static int op_get(struct server *sv, struct slot *s)
{
	const fr_msg *q = &s->req;
	uint64_t off = q->w[FR_GET_OFFSET];

	s->obj = fr_store_get(sv->store, q->blob[0], q->blen[0]);
	if (!s->obj)
		return FERRY_ENOENT;
	if (off > s->obj->size) {
		fr_store_release(sv->store, s->obj);
		s->obj = NULL;
		return FERRY_ERANGE;
	}
	s->got = FR_MIN(q->w[FR_GET_LEN], s->obj->size - off);
	/* Small results travel in the reply even when the client offered
	 * RMA: one message instead of a write and a message. */
	if (s->got <= FR_INLINE_MAX || !(q->h.flags & FR_F_RMA)) {
		s->got = FR_MIN(s->got, FR_INLINE_MAX);
		get_reply(sv, s, 0, 0);
		return 0;
	}
	set_state(sv, s, SLOT_PUSH);
	if (start_rma(sv, s, 1, s->obj->data + off, s->got,
		      q->w[FR_GET_RADDR], q->w[FR_GET_RKEY])) {
		s->got = 0;
		get_reply(sv, s, FR_F_RMA, FERRY_EIO);
	}
	return 0;
}

static int op_simple(struct server *sv, struct slot *s)
{
	const fr_msg *q = &s->req;
	fr_msg rep;
	fr_obj *o;
	uint64_t total, used, keys;
	uint32_t count;
	size_t bytes;
	int more, changed, rc = 0;
	int64_t v;

	fr_msg_init(&rep, q->h.opcode, FR_F_REPLY, q->h.id);
	switch (q->h.opcode) {
	case FR_OP_DEL:
		rc = fr_store_del(sv->store, q->blob[0], q->blen[0],
				  q->w[FR_DEL_IFVER]);
		break;
	case FR_OP_STAT:
		o = fr_store_get(sv->store, q->blob[0], q->blen[0]);
		if (!o)
			return FERRY_ENOENT;
		meta_words(&rep, o);
		fr_store_release(sv->store, o);
		break;
	case FR_OP_WATCH:
		rc = fr_events_watch(sv->events, s->peer, q->w[FR_WATCH_ID],
				     !!(q->h.flags & FR_F_EXACT), q->blob[0],
				     q->blen[0]);
		break;
	case FR_OP_UNWATCH:
		fr_events_unwatch(sv->events, s->peer, q->w[FR_UNWATCH_ID]);
		break;
	case FR_OP_EXPIRE:
		rc = fr_store_expire(sv->store, q->blob[0], q->blen[0],
				     q->w[FR_EXPIRE_EXPIRE],
				     (unsigned)q->w[FR_EXPIRE_COND], &changed);
		rep.w[FR_EXPIRE_R_CHANGED] = (uint64_t)changed;
		break;
	case FR_OP_INCR:
		/* A counter is at most 20 digits and a sign. */
		rc = quota_check(sv, s, 24);
		if (rc)
			return rc;
		rc = fr_store_incr(sv->store, q->blob[0], q->blen[0],
				   (int64_t)q->w[FR_INCR_DELTA],
				   q->h.flags & FR_F_TEXT, &v);
		rep.w[FR_INCR_R_VALUE] = (uint64_t)v;
		break;
	case FR_OP_LIST:
		bytes = fr_store_list(
			sv->store, q->blob[0], q->blen[0], q->blob[1],
			q->blen[1], (uint32_t)FR_MIN(q->w[FR_LIST_MAX], LIST_MAX),
			FR_NS_KEY, sv->scratch, LIST_BYTES, &count, &more);
		list_reply(sv, &rep, bytes, count, more);
		break;
	case FR_OP_SHARE:
		/* Clients move share to where their keys land; the total
		 * stays what the admin set as long as what one server gives
		 * up another takes (src/client/ns.c). */
		rep.w[FR_SHARE_R_MOVED] =
		    q->w[FR_SHARE_TAKE]
			? fr_ns_share_take(s->ns, q->w[FR_SHARE_TAKE])
			: fr_ns_share_give(s->ns, q->w[FR_SHARE_GIVE]);
		/* Saved within SHARE_SAVE_NS (save_shares): a namespace at
		 * its quota may move share with every other PUT, and each
		 * save is an fsync. */
		if (rep.w[FR_SHARE_R_MOVED] && !sv->share_save_ns)
			sv->share_save_ns = fr_now_ns() + SHARE_SAVE_NS;
		break;
	case FR_OP_SSTAT:
		/* No reaping here: the loop has reaped what was due before
		 * this request (REAP_BATCH per pass), so keys counts expired
		 * values only in the middle of a mass expiry. */
		fr_store_stats(sv->store, &total, &used, &keys);
		rep.w[FR_SSTAT_R_TOTAL] = total;
		rep.w[FR_SSTAT_R_USED] = used;
		rep.w[FR_SSTAT_R_KEYS] = keys;
		rep.w[FR_SSTAT_R_OPS] = sv->ops;
		rep.w[FR_SSTAT_R_PEERS] = sv->npeers;
		rep.w[FR_SSTAT_R_ADDRLEN] = strlen(sv->addr);
		rep.blob[0] = (const uint8_t *)sv->addr;
		break;
	default:
		return FERRY_EPROTO;
	}
	if (rc)
		return rc;
	reply(sv, s, &rep);
	return 0;
}

/* ---- completions -------------------------------------------------------- */

static void on_request(struct server *sv, struct slot *s, const fr_comp *c)
{
	int known_src = known(sv, c->src);
	const char *why = NULL;
	int rc;

	if (c->err) {
		fr_log(WHO, "receive failed: %s", fr_fab_error(sv->fab));
		repost(sv, s);
		return;
	}
	rc = fr_msg_decode(s->rbuf, c->len, &s->req, &why);
	if (!rc && (s->req.h.flags & FR_F_REPLY)) {
		rc = FERRY_EPROTO;
		why = "reply sent to a server";
	}
	if (!rc && !known_src && s->req.h.opcode != FR_OP_HELLO) {
		rc = FERRY_EPROTO;
		why = "request from a peer that sent no HELLO";
	}
	if (rc) {
		/* Unknown senders cannot be answered; known ones get an
		 * error reply under the id they sent, if any. */
		fr_log(WHO, "dropping a malformed message (%zu bytes): %s",
		       c->len, why);
		if (!known_src || c->len < 16) {
			repost(sv, s);
			return;
		}
		s->peer = c->src;
		s->req.h.id = fr_get_u64(s->rbuf + 8);
		s->req.h.opcode = FR_OP_HELLO; /* any valid opcode */
		reply_status(sv, s, FERRY_EPROTO);
		return;
	}
	sv->ops++;
	s->peer = c->src;
	if (known_src)
		sv->peers[c->src].heard = sv->now;
	if (s->req.h.opcode == FR_OP_HELLO) {
		rc = hello(sv, s);
		if (rc)
			reply_status(sv, s, rc);
		return;
	}
	if (s->req.h.opcode == FR_OP_BYE) {
		bye(sv, c->src);
		repost(sv, s);
		return;
	}
	rc = enter_ns(sv, s);
	if (rc) {
		reply_status(sv, s, rc);
		return;
	}
	switch (s->req.h.opcode) {
	case FR_OP_PUT:
		rc = op_put(sv, s);
		break;
	case FR_OP_GET:
		rc = op_get(sv, s);
		break;
	default:
		rc = fr_op_ns(s->req.h.opcode) ? op_ns(sv, s)
					       : op_simple(sv, s);
	}
	if (rc)
		reply_status(sv, s, rc);
}

static void on_rma(struct server *sv, struct slot *s, const fr_comp *c)
{
	if (c->err) {
		fr_log(WHO, "RMA with a client failed: %s",
		       fr_fab_error(sv->fab));
		s->rma_err = FERRY_EIO;
	}
	if (--s->rma_left)
		return;
	if (s->rma_err) {
		/* The client named memory it had not registered (or took it
		 * back, or vanished). tcp;ofi_rxm in libfabric 1.17 breaks
		 * the connection on such an error and crashes on the next
		 * send over it, so the client is not answered: it is
		 * forgotten, its request times out, and its next request
		 * greets us again over a fresh connection. */
		fr_store_abort(sv->store, s->state == SLOT_PULL ? s->obj : NULL);
		put_settled(sv, s);
		if (s->state == SLOT_PUSH)
			fr_store_release(sv->store, s->obj);
		s->obj = NULL;
		bye(sv, s->peer);
		repost(sv, s);
		return;
	}
	if (s->state == SLOT_PULL) {
		put_pulled(sv, s);
	} else {
		get_reply(sv, s, FR_F_RMA, 0);
	}
}

static void on_completion(struct server *sv, const fr_comp *c)
{
	struct slot_ctx *x = (struct slot_ctx *)c->ctx;
	fi_addr_t broken;
	struct slot *s;

	if (!x)
		return;
	if (fr_events_complete(sv->events, c, &broken)) {
		/* An event that could not be delivered: the watcher is gone
		 * or its connection broke, and tcp;ofi_rxm in libfabric 1.17
		 * crashes on the next send over a broken connection (see
		 * on_rma). Forget it; a live one greets us again. */
		if (known(sv, broken)) {
			fr_log(WHO, "forgetting a watcher: %s",
			       fr_fab_error(sv->fab));
			bye(sv, broken);
		}
		return;
	}
	s = x->slot;
	if (x == &s->rx)
		on_request(sv, s, c);
	else if (x == &s->rma)
		on_rma(sv, s, c);
	else {
		fr_store_release(sv->store, s->obj);
		s->obj = NULL;
		repost(sv, s);
	}
}

/* ---- set-up and loop ------------------------------------------------------ */

/* Takes back the namespaces of --state-file (those not expired since). */
static int load_ns(struct server *sv)
{
	unsigned loaded, line, cut;
	int rc = fr_nstab_load(sv->nstab, sv->o.state_file,
			       fr_store_now_ms(sv->store), &loaded, &line, &cut);

	if (!rc && cut)
		fr_log(WHO,
		       "%s, line %u: cut short at the end (a change that "
		       "was being saved when the server stopped): left out",
		       sv->o.state_file, cut);
	if (rc == FERRY_EIO)
		fr_log(WHO, "cannot read the namespaces in %s: %s",
		       sv->o.state_file, strerror(errno));
	else if (rc)
		fr_log(WHO, "%s, line %u: %s", sv->o.state_file, line,
		       rc == FERRY_EPROTO ? "not a namespace line"
					  : ferry_strerror(rc));
	else if (loaded)
		fr_log(WHO, "%u namespace%s taken back from %s", loaded,
		       loaded == 1 ? "" : "s", sv->o.state_file);
	return rc;
}

static int setup(struct server *sv)
{
	const char *why = NULL;
	size_t msg_bytes = (size_t)sv->o.slots * 2 * FR_MSG_SIZE;
	int rc;

	if (fr_random_id(&sv->boot)) {
		fr_log(WHO, "cannot read the kernel's random source");
		return FERRY_EIO;
	}
	rc = fr_fab_open(&sv->fab, sv->o.provider, sv->o.host, sv->o.port,
			 &why);
	if (rc) {
		fr_log(WHO, "cannot open the fabric: %s", why);
		return rc;
	}
	/* Our own address takes the first entry of the address vector. shm
	 * (libfabric 1.17) reports a sender it does not know as address 0
	 * instead of FI_ADDR_NOTAVAIL; with 0 taken by ourselves, no client
	 * can ever be mistaken for another. */
	{
		uint8_t name[PEER_ADDR_MAX];
		size_t nlen = sizeof(name);
		rc = fr_fab_getname(sv->fab, name, &nlen);
		if (!rc)
			rc = fr_fab_insert(sv->fab, name, nlen, &sv->self);
		if (rc) {
			fr_log(WHO, "cannot insert our own address: %s",
			       fr_fab_error(sv->fab));
			return rc;
		}
	}
	/* Each slot keeps a receive posted: no more than the queue holds. */
	sv->o.slots = (unsigned)FR_MIN(sv->o.slots, fr_fab_rx_depth(sv->fab));
	msg_bytes = (size_t)sv->o.slots * 2 * FR_MSG_SIZE;
	sv->arena = mmap(NULL, sv->o.memory, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sv->arena == MAP_FAILED) {
		sv->arena = NULL;
		fr_log(WHO, "cannot map %llu bytes of memory",
		       (unsigned long long)sv->o.memory);
		return FERRY_ENOMEM;
	}
	rc = fr_mr_reg(sv->fab, sv->arena, sv->o.memory, FI_READ | FI_WRITE,
		       &sv->arena_mr);
	if (rc) {
		fr_log(WHO, "cannot register the arena: %s",
		       fr_fab_error(sv->fab));
		return rc;
	}
	rc = fr_store_new(&sv->store, sv->arena, sv->o.memory,
			  sv->o.max_value);
	if (rc) {
		fr_log(WHO, "cannot set up the store: %s", ferry_strerror(rc));
		return rc;
	}
	rc = fr_events_new(&sv->events, sv->fab, known_cb, sv);
	if (rc) {
		fr_log(WHO, "cannot set up event buffers: %s",
		       ferry_strerror(rc));
		return rc;
	}
	fr_store_on_event(sv->store, fr_events_emit, sv->events);
	rc = fr_nstab_new(&sv->nstab);
	if (rc || (rc = fr_index_new(&sv->peer_at)))
		return rc;
	/* Loaded, the file is written whole: appends start from there. */
	if (sv->o.state_file && (rc = load_ns(sv)))
		return rc;
	save_ns(sv);
	fr_store_on_usage(sv->store, on_usage, sv);
	sv->msgs = aligned_alloc(4096, msg_bytes);
	sv->slots = calloc(sv->o.slots, sizeof(*sv->slots));
	if (!sv->msgs || !sv->slots)
		return FERRY_ENOMEM;
	rc = fr_mr_reg(sv->fab, sv->msgs, msg_bytes, FI_SEND | FI_RECV,
		       &sv->msg_mr);
	if (rc) {
		fr_log(WHO, "cannot register message buffers: %s",
		       fr_fab_error(sv->fab));
		return rc;
	}
	for (unsigned i = 0; i < sv->o.slots; i++) {
		struct slot *s = &sv->slots[i];
		s->rx.slot = s->tx.slot = s->rma.slot = s;
		s->rbuf = sv->msgs + (size_t)2 * i * FR_MSG_SIZE;
		s->tbuf = s->rbuf + FR_MSG_SIZE;
		repost(sv, s);
	}
	return 0;
}

static int setup_events(struct server *sv)
{
	struct epoll_event ev = {.events = EPOLLIN};

	sv->sigfd = fr_stop_signalfd();
	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sv->sigfd < 0 || sv->epfd < 0)
		return FERRY_EIO;
	ev.data.fd = sv->sigfd;
	epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->sigfd, &ev);
	ev.data.fd = fr_fab_fd(sv->fab);
	if (ev.data.fd >= 0 &&
	    epoll_ctl(sv->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev))
		return FERRY_EIO;
	return 0;
}

static int stop_requested(struct server *sv)
{
	struct signalfd_siginfo si;

	return read(sv->sigfd, &si, sizeof(si)) == sizeof(si);
}

/* Logs how many expired values the loop freed: at once the first time,
 * then at most once per REAP_LOG_NS (and at the stop), so a steady stream
 * of expiries costs one line a minute. */
static void log_reaped(struct server *sv, int force)
{
	uint64_t now;

	if (!sv->reaped)
		return;
	now = fr_now_ns();
	if (!force && sv->reap_log_ns && now - sv->reap_log_ns < REAP_LOG_NS)
		return;
	fr_log(WHO, "freed %llu expired value%s",
	       (unsigned long long)sv->reaped, sv->reaped == 1 ? "" : "s");
	sv->reaped = 0;
	sv->reap_log_ns = now;
}

/* Frees up to REAP_BATCH expired values if one is due, and returns how
 * long the loop may sleep before the next one is: ms, at most IDLE_MS. */
static int reap(struct server *sv)
{
	uint64_t next = fr_store_next_expiry(sv->store), now;

	if (!next) {
		log_reaped(sv, 0);
		return IDLE_MS;
	}
	now = fr_store_now_ms(sv->store);
	if (next <= now) {
		sv->reaped += fr_store_reap(sv->store, REAP_BATCH);
		log_reaped(sv, 0);
		next = fr_store_next_expiry(sv->store);
		if (next && next <= now)
			return 0; /* more are due: the next pass goes on */
	}
	return next ? (int)FR_MIN(next - now, IDLE_MS) : IDLE_MS;
}

/* Removes namespaces whose expiry has come and frees the keys of removed
 * ones, a batch per pass. Returns how long the loop may sleep: ms, at most
 * IDLE_MS. */
static int reap_ns(struct server *sv)
{
	uint64_t now = fr_store_now_ms(sv->store), next;
	fr_ns *n;

	while ((n = fr_nstab_expired(sv->nstab, now, &next)))
		drop_ns(sv, n, "expired");
	if (drain_dying(sv))
		return 0;
	return next ? (int)FR_MIN(next - now, IDLE_MS) : IDLE_MS;
}

/* How long the loop may sleep until at (ns): ms, at most IDLE_MS. */
static int ms_until(uint64_t now, uint64_t at)
{
	return (int)FR_MIN((at - now) / 1000000 + 1, IDLE_MS);
}

/* Saves the shares SHARE moved, at most SHARE_SAVE_NS after the first
 * move (and at the stop). Returns how long the loop may sleep. */
static int save_shares(struct server *sv, uint64_t now)
{
	if (!sv->share_save_ns)
		return IDLE_MS;
	if (now < sv->share_save_ns)
		return ms_until(now, sv->share_save_ns);
	save_ns(sv);
	return IDLE_MS;
}

/* Every PEER_CHECK_NS (or half the watcher time-out if that is shorter):
 * - forgets peers whose process is gone, where the provider can tell
 *   (shm: a killed client says no BYE, and sends to it would fill its
 *   queue for good);
 * - drops the watches (and queued events) of peers that sent nothing for
 *   the watcher time-out. A live watcher greets every server that holds
 *   its watches each second (docs/protocol.md), so this is one that died
 *   without BYE over a network, whose events would otherwise be retried
 *   (over tcp: its address dialled) for ever, or one stalled that long.
 *   The peer itself is kept: one that comes back may still send over its
 *   old connection, and were its address vector entry removed, libfabric
 *   1.17 would name the sender of such messages by that entry, which a
 *   newer peer may hold by then. Its next HELLO reply says FRESH, and it
 *   registers its watches again, each with a LOST event.
 * Returns how long the loop may sleep: ms, at most IDLE_MS. */
static int check_peers(struct server *sv, uint64_t now)
{
	uint64_t silent = sv->o.watcher_timeout_ms * 1000000ull;
	int tells = fr_fab_tells_gone(sv->fab);
	char d[32];

	if (now < sv->peer_check_ns)
		return ms_until(now, sv->peer_check_ns);
	sv->peer_check_ns = now + FR_MIN(PEER_CHECK_NS, silent / 2);
	for (fi_addr_t a = 0; a < sv->peer_cap; a++) {
		struct peer *p = &sv->peers[a];
		if (!known(sv, a))
			continue;
		if (tells && fr_fab_peer_gone(sv->fab, p->addr, p->len)) {
			fr_log(WHO, "forgetting a client whose process is gone");
			bye(sv, a);
		} else if (now - p->heard > silent &&
			   fr_events_watching(sv->events, a)) {
			fr_log(WHO,
			       "dropping the watches of a client silent for %s",
			       fr_fmt_duration_ms((now - p->heard) / 1000000,
						  d, sizeof(d)));
			fr_events_forget(sv->events, a);
			p->unwatched = 1;
		}
	}
	return ms_until(now, sv->peer_check_ns);
}

/* Busy-polls while completions keep coming, then, after spin_us without
 * any, sleeps in epoll on the completion queue's descriptor and the signal
 * descriptor, so an idle server uses no CPU. It wakes for the next expiry
 * too, so expired values are freed with no request arriving. */
static void loop(struct server *sv)
{
	uint64_t spin_ns = fr_fab_spin_ns(sv->fab, sv->o.spin_us);
	uint64_t last = fr_now_ns();
	unsigned passes = 0;
	fr_comp comps[64];

	for (;;) {
		uint64_t now = sv->now = fr_now_ns();
		int wake = FR_MIN(FR_MIN(reap(sv), reap_ns(sv)),
				  FR_MIN(check_peers(sv, now),
					 save_shares(sv, now)));
		int ev_wake = fr_events_flush(sv->events);
		int n = fr_fab_poll(sv->fab, comps, 64);
		if (ev_wake >= 0 && ev_wake < wake)
			wake = ev_wake;
		for (int i = 0; i < n; i++)
			on_completion(sv, &comps[i]);
		if (n > 0) {
			last = fr_now_ns();
			if (++passes % 4096 == 0 && stop_requested(sv))
				return;
			continue;
		}
		if (fr_now_ns() - last < spin_ns) {
			/* Spinning, but giving the core away if another
			 * process wants it: servers and clients often share
			 * few cores, and a spinner that never yields delays
			 * the very peer it is waiting for. */
			sched_yield();
			continue;
		}
		if (stop_requested(sv))
			return;
		if (fr_fab_fd(sv->fab) < 0) {
			/* No descriptor to sleep on (shm). Transfers in
			 * flight need this side's progress to move, so only
			 * a server with nothing in flight backs off. */
			if (sv->busy)
				sched_yield();
			else
				fr_fab_wait(sv->fab, 1);
			continue;
		}
		if (wake > 0 && fr_fab_trywait(sv->fab)) {
			struct epoll_event ev[2];
			epoll_wait(sv->epfd, ev, 2, wake);
		}
		last = fr_now_ns();
	}
}

static void teardown(struct server *sv)
{
	/* Values held by transfers still out when the server stopped: a PUT
	 * being filled is no key's, so only its slot frees it. */
	for (unsigned i = 0; sv->slots && sv->store && i < sv->o.slots; i++)
		fr_store_release(sv->store, sv->slots[i].obj);
	fr_store_free(&sv->store);
	fr_nstab_free(&sv->nstab);
	free(sv->dying);
	fr_events_free(&sv->events);
	fr_mr_close(&sv->msg_mr);
	fr_mr_close(&sv->arena_mr);
	fr_fab_close(&sv->fab);
	if (sv->arena)
		munmap(sv->arena, sv->o.memory);
	free(sv->msgs);
	free(sv->slots);
	free(sv->peers);
	fr_index_free(&sv->peer_at);
	if (sv->epfd > 0)
		close(sv->epfd);
	if (sv->sigfd > 0)
		close(sv->sigfd);
}

int fr_server_run(const fr_server_opts *o)
{
	struct server *sv = calloc(1, sizeof(*sv));
	char sz[32];
	int rc;

	if (!sv)
		return FERRY_ENOMEM;
	sv->o = *o;
	sv->epfd = sv->sigfd = -1;
	snprintf(sv->addr, sizeof(sv->addr), "%s:%s", o->host, o->port);
	rc = setup(sv);
	if (!rc)
		rc = setup_events(sv);
	if (rc)
		goto out;
	fr_log(WHO, "serving %s:%s over %s, %s arena", o->host, o->port,
	       fr_fab_provider(sv->fab), fr_fmt_size(o->memory, sz, sizeof(sz)));
	if (o->ready_fd >= 0) {
		if (write(o->ready_fd, "ready\n", 6) != 6)
			fr_log(WHO, "cannot report readiness: %s",
			       strerror(errno));
		close(o->ready_fd);
	}
	loop(sv);
	if (sv->share_save_ns)
		save_ns(sv);
	log_reaped(sv, 1);
	fr_log(WHO, "stopping: %llu requests served",
	       (unsigned long long)sv->ops);
out:
	teardown(sv);
	free(sv);
	return rc;
}
