/* Inside ferry-proxy: the loop (proxy.c) and function connections
 * (pconn.c). */
#ifndef FR_PROXY_INT_H
#define FR_PROXY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "client/client_int.h"
#include "common/chan.h"
#include "ferry.h"
#include "proto/wire.h"
#include "proxy/proxy.h"

#define PCONN_MAX_REGIONS 64
#define PCONN_MAX_FDS 8
#define FR_STREAM_GET_MAX (64u << 20) /* largest GET answer over TCP */
#define FR_PCONN_WQ_PAUSE (64u << 20) /* unread replies that pause reading, and
					 the window of GET data per
					 connection */

struct pconn;
struct ptenant;
struct rcmd;
struct resp;
struct pwatch;
struct fr_proxy;

/* A subscriber to a watch (watch.c): a function's WATCH, or a Redis
 * subscription. Owned by its connection; the registry links it. */
struct psub {
	struct psub *next;      /* subscribers of the same watch */
	struct psub *conn_next; /* subscriptions of the same connection */
	struct pwatch *w;
	struct pconn *pc;
	/* An event of the watch; pc may be dead (then it does nothing). */
	void (*deliver)(struct fr_proxy *px, struct psub *s,
			const ferry_event *ev);
	void (*gone)(struct psub *s); /* unlinked for good: free it */
};

/* One function request being served by the warm client. */
struct pop {
	ferry_op op;        /* first: ferry_poll hands it back */
	struct pconn *conn;
	struct rcmd *rcmd;  /* a Redis command's operation (resp.c) */
	uint64_t id;
	uint8_t opcode;
	int via_arena;      /* GET data lands in the function's arena */
	uint8_t *frame;     /* owns the request bytes op.key/op.buf point to */
	uint8_t *getbuf;    /* GET over the stream: the value, owned */
	size_t held;        /* bytes of frame and getbuf, in the budget */
	size_t getlen;      /* bytes of getbuf, in the connection's window */
	struct pop *next;   /* backlog */
};

/* A queued reply: head bytes, then an optional owned tail. */
struct pout {
	struct pout *next;
	size_t len, off; /* of head + tail together */
	uint8_t *tail;
	size_t tail_len;
	size_t head_len;
	uint8_t head[];
};

/* Lists of connections (paused ones, polled ones), each threaded through
 * a link of its own in struct pconn (at offset at). */
struct plink {
	struct pconn *prev, *next;
};

struct plist {
	struct pconn *head, *tail;
	size_t at;
};

struct pregion {
	uint8_t *base;
	size_t len;
};

/* Connection states: what each waits for. */
enum pconn_state {
	PC_OPEN,   /* reading requests, writing replies */
	PC_PAUSED, /* not reading, queued in fr_proxy.paused: too many
		      requests in flight, too many replies unread, its
		      namespace over its limits (tenant.c), or no room in
		      the buffer budget for what it needs next */
	PC_DEAD,   /* socket gone: waits for its in-flight operations to
		      finish before its arenas are unmapped */
};

/* What a connection may do (tenant.c). */
enum pconn_role {
	PR_NONE,  /* nothing but HELLO (Redis: AUTH): no token yet, or one
		     that opens nothing */
	PR_ADMIN, /* acts in the default namespace, manages namespaces */
	PR_NS,    /* confined to its tenant's namespace */
};

struct pconn {
	enum pconn_state state;
	enum pconn_role role;
	struct ptenant *tenant; /* PR_NS: its namespace's entry */
	struct plogin *login;	/* a login asking the servers (tenant.c) */
	int fd;
	int unix_mode;
	uint8_t *rbuf;
	size_t rlen, rcap; /* rcap: bytes counted in the budget */
	/* A GET over the stream that waits for room, its frame read and
	 * decoded (q points into frame; the frame is in the budget). */
	uint8_t *parked;
	size_t parked_len;
	fr_msg parked_q;
	uint64_t get_out; /* bytes of GET buffers in flight: with wq_bytes,
			     the window of replies a function has not read */
	int fds[PCONN_MAX_FDS];
	unsigned nfds;
	struct pout *wq_head, *wq_tail;
	size_t wq_bytes;
	struct pregion regions[PCONN_MAX_REGIONS];
	unsigned nregions;
	uint64_t arena_bytes;
	unsigned inflight;
	int again; /* whole frames left in rbuf after a pass: epoll will not
		      say so, the loop comes back for them */
	struct pconn *prev, *next;
	struct plink wait; /* in fr_proxy.paused, while paused */
	int closing; /* reads nothing more; closes once its replies left */
	uint64_t rx_ns; /* last bytes received, or reading resumed */
	struct resp *resp; /* speaks RESP (resp.c), not ferry frames */
	struct psub *subs; /* its watches (watch.c) */
	int events_lost;   /* a watch of it lost events (pconn.c) */
	uint32_t events;   /* what epoll watches for on its socket now */
	struct fr_chan_mem *chan; /* frames go through it (common/chan.h) */
	fr_pipe creq, crep;       /* its rings, as the proxy sees them */
	int polled;               /* in fr_proxy.polled */
	struct plink poll;
	uint64_t chan_ns;         /* bytes last came through the channel */
};

/* Logins of tokens the proxy does not know (tenant.c): at most this many
 * ask the servers at once, and refusals are remembered, this many. */
#define FR_PROXY_LOGINS 32
#define FR_PROXY_REFUSALS 256

typedef struct fr_proxy {
	fr_proxy_opts o;
	ferry_client *fc;
	int epfd, sigfd, unix_fd, tcp_fd, fab_fd, resp_fd, resp_unix_fd;
	struct pconn *conns;
	struct pop *backlog_head, *backlog_tail;
	uint64_t nconns, nregions, nchannels, ops, fabric_inflight;
	unsigned again; /* connections with pconn.again set */
	unsigned dead;  /* connections in PC_DEAD not yet freed */
	uint64_t buffered; /* bytes of stream data held: partial frames in
			      connection buffers, and frames and GET
			      buffers of operations in flight */
	struct plist paused; /* in the order they paused */
	struct plist polled; /* channels the loop polls (fr_pconn_poll) */
	int wake;          /* something paused connections wait for was
			      released: fr_pconn_resume looks at them */
	uint64_t max_value;        /* the servers' smallest value limit */
	uint64_t stream_max_value; /* over TCP: also a frame within budget */
	uint64_t get_piece;        /* largest GET answer over the stream */
	uint64_t resp_ids;         /* CLIENT ID of the last RESP connection */
	struct rscan *scans;       /* SCAN cursors (resp_cmd.c) */
	struct fr_pwatches *watches; /* watches at the servers (watch.c) */
	struct ptenant *tenants;   /* tokens known to open a namespace */
	unsigned asking;           /* of them, being asked about again */
	unsigned logins;           /* logins asking about unknown tokens */
	unsigned logins_queued;    /* logins waiting their turn to ask */
	uint64_t login_asks[FR_PROXY_LOGINS]; /* hashes of the tokens the
						 logins ask about */
	double login_level;        /* questions the rate allows now */
	uint64_t login_filled_ns;  /* login_level is as of then */
	uint64_t login_logged_ns;  /* the rate was last said to bite then */
	uint64_t refused[FR_PROXY_REFUSALS]; /* hashes of tokens refused */
	uint64_t refused_until[FR_PROXY_REFUSALS]; /* ... until then, ns */
	unsigned refused_next;     /* the oldest of them, replaced next */
	unsigned fan_slots;        /* fc's request slots held by fan-outs */
	uint64_t stall_ns;         /* when fr_pconn_stalls looks next */
	uint64_t tenant_tick_ns;   /* when to look at them next */
	uint64_t throttle_ns;      /* when a paused namespace may go on (0:
				      none waits) */
} fr_proxy;

/* pconn.c */
void fr_pconn_accept(fr_proxy *px, int lfd, int unix_mode, int resp);
void fr_pconn_event(fr_proxy *px, struct pconn *pc, uint32_t events);
void fr_pconn_complete(fr_proxy *px, struct pop *pp);
void fr_pconn_resume(fr_proxy *px);
void fr_pconn_again(fr_proxy *px);
/* Reads the channels the loop polls that have bytes, and stops polling
 * those idle for idle_ns (0: all, before the loop sleeps: each looks at
 * its ring once more, so no bytes wait for a bell that will not come).
 * Returns 1 if one had bytes. */
int fr_pconn_poll(fr_proxy *px, uint64_t idle_ns);
void fr_pconn_sweep(fr_proxy *px);
/* Drops the connections whose large frame stalled (frame_timeout_ms).
 * Returns the longest the loop may sleep, ms (-1: no limit). */
int fr_pconn_stalls(fr_proxy *px);
void fr_pconn_close_all(fr_proxy *px);
/* For the RESP side, which shares reading, writing and the budget. */
void fr_pconn_kill(fr_proxy *px, struct pconn *pc, const char *why);
void fr_pconn_flush(fr_proxy *px, struct pconn *pc);
/* Appends head (copied) and tail (owned, freed once written). */
void fr_pconn_queue(fr_proxy *px, struct pconn *pc, const void *head,
		    size_t head_len, uint8_t *tail, size_t tail_len);
/* Grows rbuf to need bytes, room in the budget first: 0, 1 (no room
 * yet: pause) or -1 (out of memory). */
int fr_pconn_reserve(fr_proxy *px, struct pconn *pc, size_t need);
/* Gives bytes back to the budget (paused connections may go on). */
void fr_pconn_release(fr_proxy *px, size_t bytes);
/* Reads what the socket has into rbuf: 1, 0 (nothing yet) or -1 (the
 * connection was killed). */
int fr_pconn_recv(fr_proxy *px, struct pconn *pc);
void fr_pconn_pause(fr_proxy *px, struct pconn *pc);
void fr_pconn_later(fr_proxy *px, struct pconn *pc); /* read again soon */

/* watch.c. fr_pwatch_add registers s (s->pc, deliver and gone set) for
 * the keys starting with prefix, or the key itself (exact), in s->pc's
 * namespace; the first subscriber of a watch registers it at the servers
 * (synchronously).
 * Returns 0 or a FERRY_E* code. fr_pwatch_del unlinks s (the last one
 * unregisters the watch) without calling gone. */
int fr_pwatch_add(fr_proxy *px, struct psub *s, const void *prefix,
		  size_t plen, int exact);
void fr_pwatch_del(fr_proxy *px, struct psub *s);
void fr_pwatch_conn_gone(fr_proxy *px, struct pconn *pc);
void fr_pwatch_events(fr_proxy *px);
int fr_pwatch_active(const fr_proxy *px);
void fr_pwatch_free(fr_proxy *px);

/* proxy.c */
int fr_proxy_submit(fr_proxy *px, struct pop *pp);
/* Requests to every server that the loop does not wait for (fan-outs:
 * listings, and the admin's namespace requests) hold at most
 * FR_PROXY_FAN_SLOTS (proxy.h) of the warm client's request slots, one
 * per server each: whether one more fits; fr_proxy_fan_take counts one
 * in (FERRY_EBUSY if it does not fit), and its done must call
 * fr_proxy_fan_end first thing.
 * fr_proxy_list_start is fr_list_start (one: as there), so counted. */
int fr_proxy_fan_room(const fr_proxy *px);
int fr_proxy_fan_take(fr_proxy *px);
void fr_proxy_fan_end(fr_proxy *px);
int fr_proxy_list_start(fr_proxy *px, fr_msg *m, int one, unsigned max,
			fr_list_fn *done, void *arg);

/* tenant.c. fr_tenant_login makes pc the admin or binds it to the
 * namespace token tok (tlen 0: none) opens: 0, FERRY_EACCES (pc is left
 * as it was), or why the servers could not tell; or FR_LOGIN_ASKING: the
 * servers are being asked, pc must read nothing more while
 * fr_tenant_asking(pc), and then (px->wake) call it again with the same
 * token for the answer. fr_tenant_logout leaves it with no role. */
#define FR_LOGIN_ASKING 1
int fr_tenant_login(fr_proxy *px, struct pconn *pc, const void *tok,
		    size_t tlen);
int fr_tenant_asking(const struct pconn *pc);
void fr_tenant_logout(fr_proxy *px, struct pconn *pc);
/* The namespace pc acts in (0: the default). */
uint64_t fr_tenant_ns(const struct pconn *pc);
/* Right before a call on px->fc for pc: stamps its namespace and takes
 * an operation from its bucket. */
void fr_tenant_act(fr_proxy *px, struct pconn *pc);
/* Takes value bytes moved for pc from its bucket. */
void fr_tenant_bytes(fr_proxy *px, struct pconn *pc, uint64_t bytes);
/* 1 if pc's namespace is over its limits: it takes no next request yet
 * (the loop wakes the paused at the time it may: fr_tenant_tick). */
int fr_tenant_hold(fr_proxy *px, struct pconn *pc);
/* The servers answered a request of pc with status: FERRY_EACCES means
 * its namespace is gone, and so is its entry. */
void fr_tenant_seen(fr_proxy *px, struct pconn *pc, int status);
/* Asks every server, without waiting, how many keys pc's namespace holds
 * (for DBSIZE and INFO): done gets them summed in info->keys. Returns 0
 * or why nothing was asked (done does not run). */
int fr_tenant_keys_start(fr_proxy *px, struct pconn *pc, fr_ns_auth_fn *done,
			 void *arg);
/* Asks the servers about every known token at the next tick (a namespace
 * was changed or removed through this proxy). */
void fr_tenant_recheck(fr_proxy *px);
/* Refreshes and forgets entries, and wakes paused connections whose
 * namespace may go on. Returns the longest the loop may sleep, ms (-1:
 * no limit). */
int fr_tenant_tick(fr_proxy *px);
void fr_tenant_free(fr_proxy *px);

#endif
