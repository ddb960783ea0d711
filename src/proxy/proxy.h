/*
 * ferry-proxy: one per node. It holds one warm direct-mode ferry_client
 * (one fabric endpoint, connections to every server, registered memory)
 * and serves every function on the node through it, over a Unix socket
 * (values in shared memfd arenas the servers reach by RMA) and over TCP
 * (values in the stream). One event-loop thread owns everything.
 */
#ifndef FR_PROXY_H
#define FR_PROXY_H

#include <stdint.h>

#include "ferry.h"

#define FR_PROXY_BUDGET_MIN (1u << 20) /* smallest buffer_budget */
/* Warm-client request slots beyond max_inflight: for SSTAT and DBSIZE,
 * the logins and the refreshes of tokens (tenant.c), and fan-outs
 * (proxy_int.h). */
#define FR_PROXY_FAN_SLOTS 64
#define FR_PROXY_SYNC_SLOTS (16 + 32 + 8 + FR_PROXY_FAN_SLOTS)
/* The largest max_inflight: with the slots above, libferry's limit. */
#define FR_PROXY_INFLIGHT_MAX (FERRY_INFLIGHT_MAX - FR_PROXY_SYNC_SLOTS)

typedef struct fr_proxy_opts {
	const char *cluster;   /* cluster file (NULL: the usual search) */
	const char *unix_path; /* Unix socket, NULL or "" for none */
	const char *tcp;       /* HOST:PORT, NULL or "" for none */
	const char *resp;      /* Redis protocol on HOST:PORT, or NULL */
	const char *resp_unix; /* Redis protocol on a Unix socket, or NULL */
	uint64_t resp_max_request; /* bytes of one RESP request */
	unsigned max_inflight; /* fabric operations in flight at once */
	unsigned conn_inflight;  /* per function connection */
	uint64_t buffer_budget;  /* bytes of stream data held at once
				    (at least FR_PROXY_BUDGET_MIN) */
	uint64_t max_arenas;     /* shared arena bytes per connection (on
				    verbs, registering them pins them) */
	uint64_t frame_timeout_ms; /* a connection that holds room for a
				      large frame and sends none of its
				      bytes for this long is dropped (0:
				      never) */
	unsigned spin_us;
	int ready_fd;
	const char *admin_token; /* the cluster's admin token: functions must
				    present it or a namespace's; NULL: open
				    (no token: the admin). Never logged */
} fr_proxy_opts;

void fr_proxy_opts_init(fr_proxy_opts *o);

/* Serves until SIGTERM or SIGINT. Returns 0 after a clean stop, or a
 * FERRY_E* code if start-up failed (the reason is logged). */
int fr_proxy_run(const fr_proxy_opts *o);

#endif
