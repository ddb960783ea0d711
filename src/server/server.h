/*
 * ferry-server: one storage server. A single event-loop thread owns the
 * fabric endpoint, the arena and the store; requests are served from a fixed
 * pool of slots, each a small state machine (server.c).
 */
#ifndef FR_SERVER_H
#define FR_SERVER_H

#include <stdint.h>

typedef struct fr_server_opts {
	const char *provider; /* "tcp", "shm", "verbs" */
	const char *host;     /* listen address */
	const char *port;
	uint64_t memory;      /* arena bytes, registered once */
	uint64_t max_value;   /* largest value accepted */
	unsigned slots;       /* requests in service at once */
	unsigned spin_us;     /* busy-poll this long before sleeping */
	int ready_fd;         /* if >= 0, "ready\n" is written here, then
				 closed, once the server answers requests */
	const char *admin_token; /* NULL: an open cluster (see ferry.h,
				    "Namespaces") */
	const char *state_file;	 /* where the namespaces are kept across
				    restarts; NULL: nowhere */
	uint64_t watcher_timeout_ms; /* a peer that holds watches and sends
					nothing this long is forgotten */
} fr_server_opts;

void fr_server_opts_init(fr_server_opts *o);

/* Serves until SIGTERM or SIGINT. Returns 0 after a clean stop, or a
 * FERRY_E* code if start-up failed (the reason is logged). */
int fr_server_run(const fr_server_opts *o);

#endif
