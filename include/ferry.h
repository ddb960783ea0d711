/*
 * ferry.h - the ferry client library (libferry).
 *
 * ferry is an ephemeral in-memory store whose data path is RDMA through
 * libfabric. This header is the whole public API: handles are opaque, every
 * function returns 0 (or a count) on success and a negative FERRY_E* code on
 * failure, and ferry_strerror() turns a code into a sentence.
 *
 * Threads: a ferry_client is owned by one thread at a time. Calls on the same
 * client from several threads at once must be serialised by the caller; use
 * one client per thread for parallelism (each client has its own fabric
 * endpoint and completion queue). Different clients never share state.
 */
#ifndef FERRY_H
#define FERRY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: X(name, value, message). One table; ferry_strerror reads it. */
#define FERRY_ERRNO_MAP(X)                                                     \
	X(EINVAL, -1, "invalid argument")                                      \
	X(ENOENT, -2, "no such key")                                           \
	X(EEXIST, -3, "key already exists")                                    \
	X(ENOSPC, -4, "server memory is full")                                 \
	X(E2BIG, -5, "key or value too large")                                 \
	X(ERANGE, -6, "offset outside the value")                              \
	X(ENOTNUM, -7, "value is not an 8-byte counter")                       \
	X(EOVERFLOW, -8, "counter would overflow")                             \
	X(EPROTO, -9, "protocol error")                                        \
	X(ETIMEDOUT, -10, "operation timed out")                               \
	X(EUNREACH, -11, "server unreachable")                                 \
	X(ENOMEM, -12, "out of memory")                                        \
	X(EFABRIC, -13, "fabric error")                                        \
	X(EIO, -14, "input/output error")                                      \
	X(ENOCLUSTER, -15, "no cluster description found")                    \
	X(EBUSY, -16, "too many operations in flight")                         \
	X(ECHANGED, -17, "value changed (version differs)")                    \
	X(EQUOTA, -18, "namespace quota exceeded")                             \
	X(EACCES, -19, "permission denied (no token, a wrong one, or not "     \
		       "an admin)")

enum ferry_errno {
	FERRY_OK = 0,
#define FERRY_ERRNO_ENUM(name, value, msg) FERRY_##name = (value),
	FERRY_ERRNO_MAP(FERRY_ERRNO_ENUM)
#undef FERRY_ERRNO_ENUM
};

/* Returns a static, human-readable sentence for a FERRY_E* code (or 0).
 * Unknown codes give "unknown error". Safe from any thread. */
const char *ferry_strerror(int err);

/* Limits of the data model. */
#define FERRY_KEY_MAX 1024u /* keys are 1..FERRY_KEY_MAX bytes */
#define FERRY_INFLIGHT_MAX 65536u /* ferry_opts.max_inflight's largest */

typedef struct ferry_client ferry_client;

/* Connection options. Always initialise with ferry_opts_init(), which sets
 * opts_size so that later versions of the library can grow the struct. */
typedef struct ferry_opts {
	size_t opts_size;      /* sizeof(ferry_opts) as the caller knows it */
	const char *cluster;   /* cluster file; NULL: $FERRY_CLUSTER, then the
				  default that 'ferry cluster up' writes */
	int timeout_ms;        /* per operation, 0 = default (10 s); a dead
				  server fails calls with FERRY_ETIMEDOUT or
				  FERRY_EUNREACH within this bound */
	unsigned max_inflight; /* operations in flight per client (default
				  256, 0: the default; at most
				  FERRY_INFLIGHT_MAX, or ferry_connect fails
				  with FERRY_EINVAL); ferry_submit returns
				  FERRY_EBUSY past it */
	const char *proxy;     /* "unix:///path", "tcp://host:port", or
				  "direct"; NULL: $FERRY_PROXY, then the
				  default socket FERRY_PROXY_SOCKET if it
				  exists and no cluster was named (cluster
				  or $FERRY_CLUSTER), then the proxy the
				  cluster file names, then direct mode */
	size_t arena_size;     /* proxy over Unix: bytes of each shared arena
				  (default 64 MiB); more arenas are added
				  when one is full */
	const char *token;     /* the namespace token (or the cluster's
				  admin token); NULL: $FERRY_TOKEN, then
				  none. See "Namespaces" below */
} ferry_opts;

#define FERRY_PROXY_SOCKET "/run/ferry/proxy.sock"

/* Fills *opts with defaults. */
void ferry_opts_init(ferry_opts *opts);

/* Returns the path of the default cluster file ($FERRY_HOME/cluster, or
 * ~/.ferry/cluster) in a static buffer. */
const char *ferry_default_cluster(void);

/* Connects to the cluster (opts NULL: defaults). Through a node proxy
 * (ferry-proxy) when one is found (see ferry_opts.proxy): over its Unix
 * socket values move through a shared-memory arena that the servers reach
 * by RMA, over TCP they travel in the stream; the function needs no RDMA
 * device, no CAP_IPC_LOCK and creates no file. Otherwise in direct mode:
 * the client opens its own fabric endpoint and reaches every server. The
 * API is the same in every mode. If the proxy restarts, in-flight
 * operations fail with FERRY_EUNREACH and the next call reconnects. On
 * success *out owns the connection until ferry_close(). */
int ferry_connect(const ferry_opts *opts, ferry_client **out);
/* A time-out (FERRY_ETIMEDOUT) revokes the server's access to a caller's
 * buffer, but not to ferry_alloc() memory: a server that answers late may
 * still write a GET's bytes there, so reuse such a buffer only after a
 * later operation on the same server completed. */

/* "direct", "proxy-unix" or "proxy-tcp". */
const char *ferry_mode(const ferry_client *c);

/* Closes the client: lets operations still in flight finish (for at most
 * 2 s; their ops are not returned by any later call and are not written to
 * after ferry_close returns), then frees everything the client owns,
 * including buffers from ferry_alloc(). Accepts NULL. */
void ferry_close(ferry_client *c);

/* Zero-copy buffers. Memory from ferry_alloc() is registered with the fabric
 * once (direct mode) or lies in the arena shared with the proxy (proxy over
 * Unix), so servers move large values straight into and out of it. Ordinary
 * caller memory works too: direct mode registers it for the duration of
 * the request (libfabric's verbs provider caches such registrations), proxy
 * mode copies it once through the arena. Returns NULL on failure. Free with
 * ferry_free() before ferry_close(). */
void *ferry_alloc(ferry_client *c, size_t size);
void ferry_free(ferry_client *c, void *buf);

/* Flags of a put. */
#define FERRY_PUT_CREATE 0x1u  /* fail with FERRY_EEXIST if the key exists */
#define FERRY_PUT_REPLACE 0x2u /* fail with FERRY_ENOENT if it does not */
/* A put that replaces a value keeps that value's expiry (the op's
 * expire_ms is then ignored); a put that creates the key sets none. */
#define FERRY_PUT_KEEPTTL 0x4u
/* How watchers hear of the write (default FERRY_EV_SET): for front ends
 * whose clients tell these apart, as Redis's keyspace events do. */
#define FERRY_PUT_AS_APPEND 0x8u    /* FERRY_EV_APPEND */
#define FERRY_PUT_AS_SETRANGE 0x10u /* FERRY_EV_SETRANGE */

/* Expiry. A key may carry an expiry: an absolute time in milliseconds
 * since the Unix epoch, on the clock (CLOCK_REALTIME) of the server that
 * holds the key, or 0 for none. From that millisecond on the key is gone
 * for every operation, and its server frees its memory by itself, with
 * no request needed. Keep the servers' clocks synchronised (NTP); to
 * give a key a relative lifetime, the caller adds it to its own clock
 * (the ferry CLI does so for --ttl). */

/* Conditions of FERRY_OP_EXPIRE and ferry_expire(), as Redis 7's EXPIRE
 * options. For GT and LT, a key with no expiry, and an expire_ms of 0,
 * count as infinitely far away. NX cannot be combined with the others,
 * nor GT with LT (FERRY_EINVAL). */
#define FERRY_EXPIRE_NX 0x1u /* only if the key has no expiry */
#define FERRY_EXPIRE_XX 0x2u /* only if it has one */
#define FERRY_EXPIRE_GT 0x4u /* only if the new expiry is later */
#define FERRY_EXPIRE_LT 0x8u /* only if the new expiry is sooner */

/* Flags of an INCR. */
#define FERRY_INCR_TEXT 0x1u /* the counter is decimal text, as Redis
				keeps it ("42"), not 8 binary bytes */

/* Metadata of a stored value. */
typedef struct ferry_stat {
	uint64_t size;      /* bytes */
	uint64_t ctime_ns;  /* when this value was written, ns since epoch */
	uint64_t version;   /* changes on every write of the key; never 0 */
	uint64_t expire_ms; /* when the key expires, ms since the epoch on
			       the server's clock; 0 = never */
} ferry_stat;

/* One operation, for the batch and asynchronous interfaces. The caller owns
 * it and keeps it (and the memory it points to) valid until it completes. */
typedef enum ferry_opcode {
	FERRY_OP_PUT = 1, /* store buf[0..len) under key, with flags */
	FERRY_OP_GET,     /* read up to len bytes from offset into buf */
	FERRY_OP_DEL,     /* remove key */
	FERRY_OP_STAT,    /* fill stat */
	FERRY_OP_INCR,    /* add delta to an 8-byte counter, result in counter */
	FERRY_OP_EXPIRE,  /* set key's expiry to expire_ms, under flags
			     FERRY_EXPIRE_*; counter: 1 if changed */
} ferry_opcode;

/* PUT, the fields that bear on it: key, buf, len, flags (FERRY_PUT_*),
 * expire_ms (0: the key never expires; ignored with FERRY_PUT_KEEPTTL),
 * if_version. On success stat.version is the new value's version and
 * stat.size its length. An expire_ms already past stores nothing and
 * removes any older value: the key is gone, as if it had expired at once.
 *
 * Conditional writes: a PUT or DEL with if_version not 0 applies only if
 * the key exists and its current version (ferry_stat.version, which is
 * never 0) equals if_version; otherwise it fails with FERRY_ECHANGED, or
 * FERRY_ENOENT when the key does not exist. The check and the write are
 * one atomic step at the key's server: of two writers that read the same
 * version and write under it, exactly one succeeds.
 *
 * EXPIRE: sets the expiry of an existing key to expire_ms (0: remove the
 * expiry, like Redis PERSIST) if the FERRY_EXPIRE_* conditions in flags
 * allow it. counter is 1 if the expiry was set, 0 if a condition stopped
 * it or expire_ms is 0 and the key had no expiry. An expire_ms already
 * past deletes the key (counter 1). A missing key is FERRY_ENOENT. The
 * value, its version and its ctime stay as they are.
 *
 * INCR keeps the counter's expiry; a missing or expired counter starts at
 * 0 with none. GET and STAT report the expiry in stat.expire_ms. */
typedef struct ferry_op {
	ferry_opcode opcode;
	const void *key;
	size_t klen;
	void *buf;           /* PUT: the value; GET: the destination */
	size_t len;          /* PUT: value bytes; GET: capacity of buf */
	uint64_t offset;     /* GET: first byte to read */
	unsigned flags;      /* PUT: FERRY_PUT_*; EXPIRE: FERRY_EXPIRE_* */
	int64_t delta;       /* INCR */
	uint64_t expire_ms;  /* PUT, EXPIRE: absolute expiry, ms since the
				epoch on the server's clock; 0 = never */
	uint64_t if_version; /* PUT, DEL: only over this version; 0 = any */
	void *user;          /* for the caller; libferry never touches it */
	/* Results, valid once the operation completed. */
	int status;       /* 0 or FERRY_E*; 1 while in flight */
	size_t result;    /* GET: bytes written to buf */
	ferry_stat stat;  /* GET, STAT: metadata of the value */
	int64_t counter;  /* INCR: the new value; EXPIRE: 1 if changed */
} ferry_op;

/* Starts op without waiting. Returns 0 when the operation was accepted:
 * its outcome, success or failure, then comes back through ferry_poll.
 * Returns FERRY_EBUSY when max_inflight operations are in flight or not yet
 * collected (call ferry_poll first), or FERRY_EINVAL, FERRY_E2BIG or
 * FERRY_EUNREACH when the operation was rejected outright; then op->status
 * holds the same code and ferry_poll will not return the op. */
int ferry_submit(ferry_client *c, ferry_op *op);

/* Waits up to timeout_ms (-1: until one completes, 0: do not wait) for
 * completed operations and stores up to max of them in done[]. Returns how
 * many were stored (0 on time-out) or a negative FERRY_E*. Each completed
 * op has its status and results filled in. */
int ferry_poll(ferry_client *c, ferry_op **done, int max, int timeout_ms);

/* Runs n operations with all of them in flight at once (multi-get,
 * multi-put, or any mix) and waits for all. Returns 0 if every op
 * succeeded, else the status of the first failed op; each op->status says
 * how that one went. */
int ferry_batch(ferry_client *c, ferry_op *ops, size_t n);

/* Blocking operations. Each returns 0 or a negative FERRY_E*. */

/* Stores vlen bytes (0 .. the server's maximum, 1 GiB by default), with
 * no expiry unless flags has FERRY_PUT_KEEPTTL. For an expiry or a
 * version condition, submit a FERRY_OP_PUT (ferry_batch with one op). */
int ferry_put(ferry_client *c, const void *key, size_t klen, const void *val,
	      size_t vlen, unsigned flags);

/* Reads up to cap bytes of the value starting at offset into buf. *got (may
 * be NULL) receives the bytes read, st (may be NULL) the value's metadata.
 * An offset past the end of the value is FERRY_ERANGE. */
int ferry_get(ferry_client *c, const void *key, size_t klen, uint64_t offset,
	      void *buf, size_t cap, size_t *got, ferry_stat *st);

/* Reads the whole value into memory allocated with malloc(); the caller
 * frees *val. Retries internally if the value is replaced mid-read. */
int ferry_get_alloc(ferry_client *c, const void *key, size_t klen, void **val,
		    size_t *vlen);

/* Removes key: FERRY_ENOENT if it is missing or expired. A conditional
 * delete is a FERRY_OP_DEL with if_version. */
int ferry_del(ferry_client *c, const void *key, size_t klen);
int ferry_stat_key(ferry_client *c, const void *key, size_t klen,
		   ferry_stat *st);

/* Adds delta to the signed 64-bit little-endian counter stored under key
 * (a missing or expired key counts as 0, with no expiry; an existing
 * counter keeps its expiry) and stores the new value in *result (may be
 * NULL). FERRY_ENOTNUM if the value is not 8 bytes, FERRY_EOVERFLOW if the
 * sum does not fit. Atomic: concurrent increments are never lost. */
int ferry_incr(ferry_client *c, const void *key, size_t klen, int64_t delta,
	       int64_t *result);

/* Sets the expiry of key to expire_ms (ms since the epoch on the server's
 * clock; 0 removes the expiry) if the FERRY_EXPIRE_* conditions in flags
 * allow it; see FERRY_OP_EXPIRE. *changed (may be NULL) receives 1 if the
 * expiry was set or the key deleted (expire_ms already past), else 0.
 * Returns 0, FERRY_ENOENT for a missing key, FERRY_EINVAL for flags that
 * contradict each other, or another FERRY_E*. */
int ferry_expire(ferry_client *c, const void *key, size_t klen,
		 uint64_t expire_ms, unsigned flags, int *changed);

/* A page of keys from ferry_list(). */
typedef struct ferry_keys ferry_keys;

/* Lists up to max keys starting with prefix, in byte order, that sort after
 * the key `after` (NULL/0: from the first). To page, pass the last key of a
 * page as `after` of the next: a key present during the whole listing
 * appears exactly once, whatever is put or deleted meanwhile. *out is owned
 * by the caller (ferry_keys_free). */
int ferry_list(ferry_client *c, const void *prefix, size_t plen,
	       const void *after, size_t alen, unsigned max, ferry_keys **out);
size_t ferry_keys_count(const ferry_keys *k);
const void *ferry_keys_at(const ferry_keys *k, size_t i, size_t *len);
int ferry_keys_more(const ferry_keys *k); /* 1 if more keys may follow */
void ferry_keys_free(ferry_keys *k);

/* Statistics of one server. */
typedef struct ferry_server_stat {
	char addr[64];       /* HOST:PORT as in the cluster file */
	int status;          /* 0, or why the server did not answer */
	uint64_t mem_total;  /* arena bytes */
	uint64_t mem_used;   /* bytes allocated to values */
	uint64_t keys;
	uint64_t ops;        /* requests served since start */
	uint64_t peers;      /* clients known to the server */
} ferry_server_stat;

/* Returns the number of servers in the cluster and fills up to max entries
 * of out (which may be NULL with max 0 to ask for the count). Statistics
 * are for the admin: a client with a namespace's token gets FERRY_EACCES
 * (see "Namespaces"). */
int ferry_cluster_stat(ferry_client *c, ferry_server_stat *out, size_t max);

/* Watching keys. A watch asks the servers to tell this client about
 * changes to the keys it matches: every key starting with a prefix, or
 * with FERRY_WATCH_EXACT one key. Events come in the order each server saw
 * them (no order between servers) and wait in the client until
 * ferry_event_next() takes them; nothing is polled. A watch lasts until
 * ferry_unwatch() or ferry_close(); it survives a restart of the node
 * proxy (the client registers it again). If events are lost (the client
 * or a server could not hold them all), a FERRY_EV_LOST event for the
 * watch says so: re-read what matters. */
#define FERRY_WATCH_EXACT 0x1u

typedef enum ferry_event_kind {
	FERRY_EV_SET = 1, /* a value was written (PUT, Redis SET etc.); a
			     PUT with an expiry then reports FERRY_EV_EXPIRE
			     too */
	FERRY_EV_DEL,     /* deleted */
	FERRY_EV_EXPIRED, /* gone because its expiry passed */
	FERRY_EV_EXPIRE,  /* an expiry was set (FERRY_OP_EXPIRE) */
	FERRY_EV_PERSIST, /* its expiry was removed */
	FERRY_EV_INCR,    /* a counter changed (FERRY_OP_INCR) */
	FERRY_EV_LOST,    /* events of this watch were dropped */
	FERRY_EV_APPEND,  /* written by a PUT with FERRY_PUT_AS_APPEND */
	FERRY_EV_SETRANGE, /* written by a PUT with FERRY_PUT_AS_SETRANGE */
} ferry_event_kind;

typedef struct ferry_event {
	uint64_t watch;         /* the id ferry_watch() returned */
	ferry_event_kind kind;
	size_t klen;            /* 0 for FERRY_EV_LOST */
	uint8_t key[FERRY_KEY_MAX];
} ferry_event;

/* Starts a watch on the keys beginning with prefix[0..plen) (plen 0: all
 * keys) or, with FERRY_WATCH_EXACT in flags, on the key prefix itself.
 * On success *watch receives its id. Returns 0 or a FERRY_E* code:
 * FERRY_EINVAL for an unknown flag or an exact watch of no key,
 * FERRY_E2BIG for plen over FERRY_KEY_MAX, or why the servers (the key's
 * server, for an exact watch in direct mode) could not take it. A prefix
 * watch succeeds when at least one server took it and the others are
 * unreachable; those get it when they answer again. The prefix is copied. */
int ferry_watch(ferry_client *c, const void *prefix, size_t plen,
		unsigned flags, uint64_t *watch);

/* Ends a watch; events of it still queued are dropped, and so are any
 * that arrive later. Does not wait for the servers. Returns 0, or
 * FERRY_EINVAL if this client has no such watch. */
int ferry_unwatch(ferry_client *c, uint64_t watch);

/* Takes the oldest queued event into *ev, waiting up to timeout_ms for
 * one (-1: no limit, 0: do not wait). Returns 1 with an event, 0 on
 * time-out, or a negative FERRY_E*. While it waits it also completes the
 * client's operations in flight (ferry_poll returns them) and, through a
 * proxy, reconnects to a proxy that restarted. */
int ferry_event_next(ferry_client *c, ferry_event *ev, int timeout_ms);

/* Waits until key exists: returns 0 at once if it does, else as soon as
 * some client writes it, or FERRY_ETIMEDOUT after timeout_ms (-1: no
 * limit). Costs no polling: it watches the key. Events of other watches
 * stay queued for ferry_event_next(). Other codes: FERRY_EINVAL or
 * FERRY_E2BIG for a bad key, or why the key's server could not be asked. */
int ferry_wait(ferry_client *c, const void *key, size_t klen,
	       int timeout_ms);

/* Namespaces. A cluster started with an admin token (ferry-server
 * --admin-token-file) serves only clients that present a token
 * (ferry_opts.token or $FERRY_TOKEN): a namespace's token puts every key
 * the client names inside that namespace, where keys of other namespaces
 * cannot be read, written, listed, watched or detected; the admin token
 * acts in the default namespace and may manage namespaces. A client with
 * no token or a wrong one gets FERRY_EACCES from ferry_connect. A cluster
 * started without an admin token is open: a client with no token is an
 * admin, one with a namespace's token is confined to it.
 *
 * Namespace names are 1..FERRY_NS_NAME_MAX characters from [A-Za-z0-9._-].
 * Tokens are FERRY_TOKEN_LEN hex characters from the kernel's random
 * source. The managing calls need the admin token (else FERRY_EACCES) and
 * reach every server. A namespace's quota is divided between the servers
 * (each holds a share of it for its keys, quota / servers to begin with);
 * a PUT or INCR that would pass its server's share makes the client (or
 * the proxy) move share that the other servers' keys do not use to that
 * server and try once more, so a namespace is refused (FERRY_EQUOTA) only
 * when its keys together would pass the quota, however they land (less a
 * byte per server). Removing a namespace, or its expiry, frees every key
 * in it on every server, and its token opens nothing from then on. */
#define FERRY_NS_NAME_MAX 64
#define FERRY_TOKEN_LEN 64

typedef struct ferry_ns_info {
	char name[FERRY_NS_NAME_MAX + 1];
	uint64_t quota;       /* bytes of values; 0: no quota */
	uint64_t expire_ms;   /* when the namespace and all its keys go, ms
				 since the epoch on the servers' clocks; 0:
				 never */
	uint64_t ops_per_s;   /* proxy fair sharing: operations per second
				 of the whole namespace on one proxy; 0: no
				 limit */
	uint64_t bytes_per_s; /* value bytes per second, likewise */
	uint64_t used;        /* ferry_ns_stat: bytes of values, all servers */
	uint64_t keys;        /* ferry_ns_stat: keys, all servers */
} ferry_ns_info;

/* Creates namespace name with the quota, expiry and limits in *set (NULL:
 * none) and writes its token (FERRY_TOKEN_LEN characters and a NUL) to
 * token. FERRY_EEXIST if the name is taken, FERRY_EINVAL for a bad name. */
int ferry_ns_create(ferry_client *c, const char *name,
		    const ferry_ns_info *set, char *token);

/* Changes what the FERRY_NS_SET_* bits in what name, from *set. Extending
 * expire_ms is how a job renews its lease (ferry ns touch). */
#define FERRY_NS_SET_QUOTA 0x1u
#define FERRY_NS_SET_EXPIRE 0x2u
#define FERRY_NS_SET_OPS 0x4u
#define FERRY_NS_SET_BYTES 0x8u
int ferry_ns_set(ferry_client *c, const char *name, unsigned what,
		 const ferry_ns_info *set);

/* Fills *out (used and keys summed over the servers). FERRY_ENOENT if
 * there is no such namespace. */
int ferry_ns_stat(ferry_client *c, const char *name, ferry_ns_info *out);

/* Removes name and frees every key in it on every server. */
int ferry_ns_rm(ferry_client *c, const char *name);

/* Lists the namespaces' names (as keys, in byte order) after `after`
 * (NULL: from the first), at most max; page as with ferry_list. */
int ferry_ns_list(ferry_client *c, const char *after, unsigned max,
		  ferry_keys **out);

/* Counters of the node proxy this client goes through. */
typedef struct ferry_proxy_stat {
	uint64_t functions;    /* function connections now */
	uint64_t endpoints;    /* fabric endpoints the proxy holds */
	uint64_t server_conns; /* servers it keeps warm connections to */
	uint64_t ops;          /* requests served since start */
	uint64_t regions;      /* shared arenas registered now */
	uint64_t channels;     /* function connections whose frames go
				  through shared memory (Unix socket) */
} ferry_proxy_stat;

/* Fills *out; FERRY_EINVAL in direct mode. */
int ferry_proxy_stat_get(ferry_client *c, ferry_proxy_stat *out);

#ifdef __cplusplus
}
#endif
#endif
