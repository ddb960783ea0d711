/*
 * The fabric layer: one RDM endpoint over libfabric, with its fabric,
 * domain, address vector and completion queue, and the few operations ferry
 * needs (messages, RMA read and write, memory registration).
 *
 * Providers are chosen by ferry's short name through one table (fab.c):
 * "tcp" is tcp;ofi_rxm, "shm" is shm, "verbs" is verbs;ofi_rxm. Every mr_mode
 * bit the provider reports is honoured here, so the callers never see them.
 *
 * Completions are returned as plain records by fr_fab_poll() rather than
 * dispatched through callbacks, so a caller never re-enters itself.
 * Owner: one thread per fr_fab.
 */
#ifndef FR_FAB_H
#define FR_FAB_H

#include <stddef.h>
#include <stdint.h>

#include <rdma/fabric.h>

typedef struct fr_fab fr_fab;

/* The provider's per-operation context. Embed it as the first member of
 * whatever tracks an operation; completions hand it back. */
typedef struct fr_ctx {
	struct fi_context2 fi;
} fr_ctx;

/* A registered region. raddr(p) is what a peer must use to reach p. */
typedef struct fr_mr {
	struct fid_mr *mr;
	void *desc; /* local descriptor (FI_MR_LOCAL), else NULL */
	uint64_t key;
	char *base;
	size_t len;
	int virt; /* FI_MR_VIRT_ADDR: remote addresses are virtual */
} fr_mr;

typedef struct fr_comp {
	fr_ctx *ctx;
	uint64_t flags;  /* FI_SEND, FI_RECV, FI_READ, FI_WRITE ... */
	size_t len;      /* bytes received (FI_RECV) */
	fi_addr_t src;   /* sender (FI_RECV), FI_ADDR_NOTAVAIL if unknown */
	int err;         /* 0 or FERRY_E*; the reason is in fr_fab_error() */
} fr_comp;

/* Opens an endpoint on provider ("tcp", "shm", "verbs"). A server passes
 * the host and port it listens on; a client passes NULL for both. Returns 0,
 * FERRY_EINVAL (unknown provider) or FERRY_EFABRIC (reason in *why, a
 * static or thread-local string). */
int fr_fab_open(fr_fab **out, const char *provider, const char *host,
		const char *port, const char **why);

/* Closes everything in reverse order of creation. Accepts NULL; sets *f to
 * NULL. Regions must be closed first. A server's shm endpoint is left
 * open, for the process's exit to end: its region stays for the next
 * server of that name (fab.c). */
void fr_fab_close(fr_fab **f);
/* Removes what a server at addr (HOST:PORT) over provider left, once it
 * is gone for good: its shm region. Nothing on other providers. */
void fr_fab_drop_server_region(const char *provider, const char *addr);

/* The libfabric provider name in use, e.g. "tcp;ofi_rxm". */
const char *fr_fab_provider(const fr_fab *f);

/* This endpoint's own address, to send to peers. */
int fr_fab_getname(fr_fab *f, void *addr, size_t *len);

/* Adds a server given as host/port, or a raw address from fr_fab_getname,
 * to the address vector. */
int fr_fab_resolve(fr_fab *f, const char *host, const char *port,
		   fi_addr_t *out);
/* Inserts a peer's raw address after checking that it has the shape of
 * this endpoint's address format (a peer's HELLO is not trusted: a
 * garbage address would make the provider connect to garbage). Returns
 * 0, FERRY_EINVAL (malformed) or FERRY_EFABRIC. */
int fr_fab_insert(fr_fab *f, const void *addr, size_t len, fi_addr_t *out);
void fr_fab_remove(fr_fab *f, fi_addr_t a);

/* Whether this provider can tell that a peer's process is gone
 * (fr_fab_peer_gone): shm, whose endpoints are files (region.h). Over a
 * network a peer that dies says nothing, and a send to it fails at most. */
int fr_fab_tells_gone(const fr_fab *f);
/* Whether the process behind a peer's raw address (from its
 * fr_fab_getname) is gone; its region file, if left, is removed. 0 where
 * fr_fab_tells_gone is not. */
int fr_fab_peer_gone(fr_fab *f, const void *addr, size_t len);

/* Registers [buf, buf+len) for access (FI_SEND|FI_RECV|FI_READ|FI_WRITE|
 * FI_REMOTE_READ|FI_REMOTE_WRITE). fr_mr_close accepts a zeroed region. */
int fr_mr_reg(fr_fab *f, void *buf, size_t len, uint64_t access, fr_mr *mr);
void fr_mr_close(fr_mr *mr);
static inline uint64_t fr_mr_raddr(const fr_mr *mr, const void *p)
{
	return mr->virt ? (uint64_t)(uintptr_t)p
			: (uint64_t)((const char *)p - mr->base);
}

/* Posting. Each drives progress and retries while the provider says
 * -FI_EAGAIN, for at most the endpoint's retry bound, then gives up with
 * FERRY_ETIMEDOUT. Other failures are FERRY_EFABRIC or FERRY_EUNREACH. */
int fr_fab_recv(fr_fab *f, void *buf, size_t len, void *desc, fr_ctx *ctx);
int fr_fab_send(fr_fab *f, const void *buf, size_t len, void *desc,
		fi_addr_t dest, fr_ctx *ctx);
/* One attempt (after driving progress once): FERRY_EBUSY where the
 * provider says -FI_EAGAIN, for callers that queue and retry later. A
 * peer that cannot be reached (rxm still connecting to a dead server)
 * answers -FI_EAGAIN for as long as one keeps asking. */
int fr_fab_try_send(fr_fab *f, const void *buf, size_t len, void *desc,
		    fi_addr_t dest, fr_ctx *ctx);
int fr_fab_read(fr_fab *f, void *buf, size_t len, void *desc, fi_addr_t peer,
		uint64_t raddr, uint64_t rkey, fr_ctx *ctx);
int fr_fab_write(fr_fab *f, const void *buf, size_t len, void *desc,
		 fi_addr_t peer, uint64_t raddr, uint64_t rkey, fr_ctx *ctx);

/* How many receives may be posted at once (the provider's queue size);
 * messages beyond them wait in the provider's own buffers. */
size_t fr_fab_rx_depth(const fr_fab *f);

/* Largest single RMA transfer; callers split bigger ones. */
size_t fr_fab_max_rma(const fr_fab *f);

/* Reads up to max completions (drives progress). Returns the count, 0 if
 * none, or a negative FERRY_E* if the queue itself failed. */
int fr_fab_poll(fr_fab *f, fr_comp *out, int max);

/* The completion queue's wait descriptor, for epoll, or -1 when the
 * provider has none (then use fr_fab_wait, which backs off with sleeps). */
int fr_fab_fd(const fr_fab *f);

/* How long a loop should keep polling after its last event before it
 * sleeps: spin_us where a wait descriptor wakes it, and at least 1 ms
 * where none does (shm), since a sleeping peer there answers only when it
 * next wakes. */
uint64_t fr_fab_spin_ns(const fr_fab *f, unsigned spin_us);

/* Whether a loop with requests out should keep polling (yielding the
 * core) rather than sleep: where no wait descriptor wakes it for their
 * answers (shm), while this endpoint posted something or heard a peer in
 * the last 20 ms (as seen by the previous call: loops ask on every pass
 * they could sleep in). Answers to a peer that died never come (shm reports
 * nothing), and a proxy greets a dead server again and again, so a loop
 * that polled for as long as any request was out spun a whole core for as
 * long as the server stayed dead. Past that the loop sleeps between polls
 * (fr_fab_wait, or 1 ms in epoll): an answer that takes longer (a
 * transfer of more than about 64 MiB with nothing else going on) is
 * noticed up to 1 ms late. */
int fr_fab_answers_due(fr_fab *f);

/* Returns 1 when the caller may sleep on fr_fab_fd (nothing pending), 0 when
 * it must poll again first. */
int fr_fab_trywait(fr_fab *f);

/* Sleeps on the wait descriptor until a completion may be ready or
 * timeout_ms passes; returns at once if the provider has work pending.
 * Callers spin on fr_fab_poll briefly before calling it (see DESIGN.md). */
void fr_fab_wait(fr_fab *f, int timeout_ms);

/* The provider's own words for the last error on this endpoint. */
const char *fr_fab_error(const fr_fab *f);

#endif
