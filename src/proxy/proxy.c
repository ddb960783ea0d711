/*
 * The proxy's event loop: listeners, function connections, signals and
 * the warm client's completion queue in one epoll. While operations are
 * in flight at the fabric the loop busy-polls for a moment (yielding the
 * core), then sleeps in epoll; the fabric's wait descriptor is part of the
 * set, so completions wake it. An idle proxy sleeps.
 */
#include "proxy/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/client_int.h"
#include "common/proc.h"
#include "common/util.h"
#include "proxy/proxy_int.h"
#include "proxy/resp_int.h"

#define WHO "ferry-proxy"

/* epoll tags for what is not a connection. */
static char tag_unix, tag_tcp, tag_resp, tag_resp_unix, tag_sig, tag_fab;

void fr_proxy_opts_init(fr_proxy_opts *o)
{
	*o = (fr_proxy_opts){
		.unix_path = FERRY_PROXY_SOCKET,
		.max_inflight = 4096,
		.conn_inflight = 256,
		.buffer_budget = 256ull << 20,
		.frame_timeout_ms = 30000,
		.max_arenas = 4ull << 30,
		.spin_us = 50,
		.resp_max_request = 512ull << 20,
		.ready_fd = -1,
	};
}

/* An operation ended: a function's request, or a Redis command's step. */
static void complete(fr_proxy *px, struct pop *pp)
{
	if (pp->op.opcode == FERRY_OP_GET)
		fr_tenant_bytes(px, pp->conn, pp->op.result);
	fr_tenant_seen(px, pp->conn, pp->op.status);
	if (pp->rcmd)
		fr_resp_complete(px, pp);
	else
		fr_pconn_complete(px, pp);
}

int fr_proxy_fan_room(const fr_proxy *px)
{
	return px->fan_slots + px->fc->npeers <= FR_PROXY_FAN_SLOTS;
}

int fr_proxy_fan_take(fr_proxy *px)
{
	if (!fr_proxy_fan_room(px))
		return FERRY_EBUSY;
	px->fan_slots += px->fc->npeers;
	return 0;
}

void fr_proxy_fan_end(fr_proxy *px)
{
	px->fan_slots -= px->fc->npeers;
	px->wake = 1; /* a request parked for room may go */
}

int fr_proxy_list_start(fr_proxy *px, fr_msg *m, int one, unsigned max,
			fr_list_fn *done, void *arg)
{
	int rc = fr_proxy_fan_take(px);

	if (!rc && (rc = fr_list_start(px->fc, m, one, max, done, arg)))
		fr_proxy_fan_end(px);
	return rc;
}

int fr_proxy_submit(fr_proxy *px, struct pop *pp)
{
	int rc = FERRY_EBUSY;

	fr_tenant_act(px, pp->conn);
	if (pp->op.opcode == FERRY_OP_PUT)
		fr_tenant_bytes(px, pp->conn, pp->op.len);
	/* In order, and never into the slots kept for synchronous calls. */
	if (!px->backlog_head && px->fabric_inflight < px->o.max_inflight)
		rc = ferry_submit(px->fc, &pp->op);
	if (rc == FERRY_EBUSY) { /* the fabric is full: wait in line */
		pp->next = NULL;
		if (px->backlog_tail)
			px->backlog_tail->next = pp;
		else
			px->backlog_head = pp;
		px->backlog_tail = pp;
		return 0;
	}
	if (rc) {
		/* Rejected outright: answer through the normal path. */
		pp->op.status = rc;
		complete(px, pp);
		return 0;
	}
	px->fabric_inflight++;
	return 0;
}

static void drain_backlog(fr_proxy *px)
{
	while (px->backlog_head && px->fabric_inflight < px->o.max_inflight) {
		struct pop *pp = px->backlog_head;
		int rc;

		px->fc->ns = fr_tenant_ns(pp->conn); /* charged when queued */
		rc = ferry_submit(px->fc, &pp->op);
		if (rc == FERRY_EBUSY)
			return;
		px->backlog_head = pp->next;
		if (!px->backlog_head)
			px->backlog_tail = NULL;
		if (rc) {
			pp->op.status = rc;
			complete(px, pp);
		} else {
			px->fabric_inflight++;
		}
	}
}

/* Collects finished operations; returns how many. */
static int reap(fr_proxy *px)
{
	ferry_op *done[64];
	int n = ferry_poll(px->fc, done, 64, 0), total = 0;

	while (n > 0) {
		/* Events that came in the same batch go out first: their
		 * watchers pay a wake-up, the requesters are polling (the
		 * servers send a PUT's events before its reply, too). */
		fr_pwatch_events(px);
		for (int i = 0; i < n; i++) {
			px->fabric_inflight--;
			complete(px, (struct pop *)done[i]);
		}
		total += n;
		drain_backlog(px);
		n = ferry_poll(px->fc, done, 64, 0);
	}
	return total;
}

/* ---- set-up ---------------------------------------------------------------- */

static int add_fd(fr_proxy *px, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev) ? FERRY_EIO : 0;
}

static int mkparents(const char *path)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return 0;
}

static int listen_unix(fr_proxy *px, const char *path, int *out, void *tag)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path) || mkparents(path)) {
		fr_log(WHO, "bad Unix socket path %s", path);
		return FERRY_EINVAL;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* A socket file left by a proxy that died is replaced; one that
	 * still answers belongs to a live proxy and is left alone. */
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fr_log(WHO, "another proxy serves %s", path);
		close(fd);
		return FERRY_EIO;
	}
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(fd, 4096)) {
		fr_log(WHO, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return FERRY_EIO;
	}
	/* Functions run as other users: who may do what is a matter of
	 * the tokens they present (tenant.c), not of the socket. */
	chmod(path, 0666);
	*out = fd;
	return add_fd(px, fd, tag);
}

static int listen_tcp(fr_proxy *px, const char *hostport, int *out,
		      void *tag)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE},
			*ai;
	char host[256], port[16];
	int fd = -1, one = 1;

	if (fr_split_hostport(hostport, host, sizeof(host), port,
			      sizeof(port)) ||
	    getaddrinfo(host, port, &hints, &ai)) {
		fr_log(WHO, "bad TCP address %s", hostport);
		return FERRY_EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) ||
	    listen(fd, 4096)) {
		fr_log(WHO, "cannot listen on %s: %s", hostport,
		       strerror(errno));
		freeaddrinfo(ai);
		if (fd >= 0)
			close(fd);
		return FERRY_EIO;
	}
	freeaddrinfo(ai);
	*out = fd;
	return add_fd(px, fd, tag);
}

static int setup(fr_proxy *px)
{
	ferry_opts fo;
	struct rlimit rl;
	int rc;

	/* Values pass through in buffers of up to megabytes, allocated and
	 * freed per request: keep them in the heap rather than mapping and
	 * unmapping (and faulting in) fresh pages each time. The buffer
	 * budget bounds what the heap can hold. */
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, (int)FR_MIN(px->o.buffer_budget, 1u << 30));
	/* Thousands of functions need thousands of descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (px->o.buffer_budget < FR_PROXY_BUDGET_MIN) {
		fr_log(WHO, "--buffer-budget must be at least 1M");
		return FERRY_EINVAL;
	}
	ferry_opts_init(&fo);
	fo.cluster = px->o.cluster;
	fo.proxy = "direct";
	/* An admin peer at the servers: it acts in its functions'
	 * namespaces. Never $FERRY_TOKEN: that is for functions. */
	fo.token = px->o.admin_token ? px->o.admin_token : "";
	/* Function operations use max_inflight slots at most (the rest
	 * wait in the backlog), so the loop's own calls always find one. */
	fo.max_inflight = px->o.max_inflight + FR_PROXY_SYNC_SLOTS;
	rc = ferry_connect(&fo, &px->fc);
	if (rc) {
		fr_log(WHO, "cannot connect to the cluster: %s",
		       ferry_strerror(rc));
		return rc;
	}
	/* The smallest limit of the servers that answered (one that is down
	 * has told us none). */
	px->max_value = UINT64_MAX;
	for (unsigned i = 0; i < px->fc->npeers; i++)
		if (!px->fc->peer_status[i])
			px->max_value =
				FR_MIN(px->max_value, px->fc->peer_maxval[i]);
	/* Over TCP a value travels in one frame that must fit in the buffer
	 * budget: a larger one could never be read, so HELLO tells TCP
	 * functions this smaller limit and their PUTs fail at once with
	 * FERRY_E2BIG. GET answers come in pieces of at most half the
	 * budget, so that one never needs all of it. */
	px->stream_max_value =
		FR_MIN(px->max_value, px->o.buffer_budget - FR_MSG_SIZE);
	px->get_piece = FR_MIN((uint64_t)FR_STREAM_GET_MAX,
			       px->o.buffer_budget / 2);
	px->epfd = epoll_create1(EPOLL_CLOEXEC);
	px->sigfd = fr_stop_signalfd();
	if (px->epfd < 0 || px->sigfd < 0 || add_fd(px, px->sigfd, &tag_sig))
		return FERRY_EIO;
	px->fab_fd = fr_direct_fd(px->fc);
	if (px->fab_fd >= 0 && (rc = add_fd(px, px->fab_fd, &tag_fab)))
		return rc;
	if (px->o.unix_path && *px->o.unix_path &&
	    (rc = listen_unix(px, px->o.unix_path, &px->unix_fd, &tag_unix)))
		return rc;
	if (px->o.tcp && *px->o.tcp &&
	    (rc = listen_tcp(px, px->o.tcp, &px->tcp_fd, &tag_tcp)))
		return rc;
	if (px->o.resp && *px->o.resp &&
	    (rc = listen_tcp(px, px->o.resp, &px->resp_fd, &tag_resp)))
		return rc;
	if (px->o.resp_unix && *px->o.resp_unix &&
	    (rc = listen_unix(px, px->o.resp_unix, &px->resp_unix_fd,
			      &tag_resp_unix)))
		return rc;
	if (px->unix_fd < 0 && px->tcp_fd < 0 && px->resp_fd < 0 &&
	    px->resp_unix_fd < 0) {
		fr_log(WHO, "nothing to listen on (--unix, --tcp, --resp)");
		return FERRY_EINVAL;
	}
	return 0;
}

static void loop(fr_proxy *px)
{
	uint64_t spin_ns = fr_direct_spin_ns(px->fc, px->o.spin_us);
	uint64_t last = fr_now_ns();
	struct epoll_event ev[64];

	for (;;) {
		int timeout = -1, n, tick;

		if (reap(px) | (px->polled.head && fr_pconn_poll(px, spin_ns)))
			last = fr_now_ns();
		if (px->wake)
			fr_pconn_resume(px);
		fr_pwatch_events(px);
		/* Busy a moment ago: spin (yielding), since a function in a
		 * tight loop sends its next request microseconds after its
		 * reply, and completions come as fast; a sleep would cost a
		 * wake-up each time. Then sleep, in 1 ms steps while the
		 * warm client has requests out (a function's operation, or a
		 * call the loop did not wait for: a login, a listing, a
		 * refresh) or watches are registered. */
		if (fr_now_ns() - last < spin_ns)
			timeout = 0;
		else if (px->fc->inflight && fr_direct_answers_due(px->fc))
			timeout = 0; /* no fd to wake on (shm): keep polling
					while answers are due, yielding */
		else if (px->fc->inflight || fr_pwatch_active(px))
			timeout = 1;
		/* Namespaces to look at again, or one that may go on (it
		 * sets wake once it may). */
		tick = fr_tenant_tick(px);
		if (tick >= 0 && (timeout < 0 || tick < timeout))
			timeout = tick;
		tick = fr_pconn_stalls(px);
		if (tick >= 0 && (timeout < 0 || tick < timeout))
			timeout = tick;
		if (px->again || px->wake)
			timeout = 0;
		/* The fabric's fd only wakes a sleeper once armed. Even armed,
		 * tcp;ofi_rxm (libfabric 1.17) does not always signal it for
		 * messages that arrive while the proxy sleeps (GETs stalled
		 * for the whole 100 ms it once slept, and events for good):
		 * so while completions or events are due, sleeps last 1 ms at
		 * most; an idle proxy with no watches sleeps until a function
		 * speaks. */
		if (timeout != 0 && px->fab_fd >= 0 && !fr_direct_trywait(px->fc))
			timeout = 0;
		/* Functions ring a channel the loop does not poll. */
		if (timeout != 0 && px->polled.head && fr_pconn_poll(px, 0))
			timeout = 0, last = fr_now_ns();
		n = epoll_wait(px->epfd, ev, 64, timeout);
		if (n == 0 && timeout == 0)
			sched_yield();
		for (int i = 0; i < n; i++) {
			void *tag = ev[i].data.ptr;
			/* The fabric's fd is activity while operations are out
			 * (their completions are coming: spin for them), not
			 * otherwise: tcp;ofi_rxm can leave it readable with
			 * nothing to reap, which kept an idle loop spinning
			 * for seconds, never reaching fi_trywait to re-arm
			 * it. */
			if (tag != &tag_fab || px->fc->inflight)
				last = fr_now_ns();
			if (tag == &tag_sig)
				return;
			if (tag == &tag_unix)
				fr_pconn_accept(px, px->unix_fd, 1, 0);
			else if (tag == &tag_tcp)
				fr_pconn_accept(px, px->tcp_fd, 0, 0);
			else if (tag == &tag_resp)
				fr_pconn_accept(px, px->resp_fd, 0, 1);
			else if (tag == &tag_resp_unix)
				fr_pconn_accept(px, px->resp_unix_fd, 1, 1);
			else if (tag != &tag_fab)
				fr_pconn_event(px, tag, ev[i].events);
		}
		if (px->again) {
			fr_pconn_again(px);
			last = fr_now_ns();
		}
		if (px->wake)
			fr_pconn_resume(px);
		if (px->dead)
			fr_pconn_sweep(px);
	}
}

#define STOP_WAIT_NS 2000000000ull

/* Drops every function connection, and frees each once the operations
 * it had at the servers have ended (for at most STOP_WAIT_NS): until
 * then a server may still move bytes into the arena it maps. Operations
 * still out then (at a server that died) are ended as their time-out
 * would end them, so that their connections are freed too. */
static void close_conns(fr_proxy *px)
{
	uint64_t end = fr_now_ns() + STOP_WAIT_NS;

	fr_pconn_close_all(px);
	for (;;) {
		fr_pconn_sweep(px);
		if (!px->dead)
			return;
		if (fr_now_ns() >= end) {
			fr_client_end_all(px->fc, FERRY_ETIMEDOUT);
			reap(px);
			fr_pconn_sweep(px);
			return;
		}
		if (!reap(px))
			sched_yield();
	}
}

int fr_proxy_run(const fr_proxy_opts *o)
{
	fr_proxy *px = calloc(1, sizeof(*px));
	int rc;

	if (!px)
		return FERRY_ENOMEM;
	px->o = *o;
	px->epfd = px->sigfd = px->unix_fd = px->tcp_fd = px->fab_fd = -1;
	px->resp_fd = px->resp_unix_fd = -1;
	px->paused.at = offsetof(struct pconn, wait);
	px->polled.at = offsetof(struct pconn, poll);
	rc = setup(px);
	if (!rc) {
		fr_log(WHO,
		       "serving %s%s%s%s over %u server%s (one fabric "
		       "endpoint); %s",
		       o->unix_path && *o->unix_path ? "unix:" : "",
		       o->unix_path ? o->unix_path : "",
		       o->tcp && *o->tcp ? " tcp:" : "", o->tcp ? o->tcp : "",
		       px->fc->npeers, px->fc->npeers == 1 ? "" : "s",
		       o->admin_token ? "functions need a token"
				      : "open: no token needed");
		if (o->ready_fd >= 0) {
			if (write(o->ready_fd, "ready\n", 6) != 6)
				fr_log(WHO, "cannot report readiness");
			close(o->ready_fd);
		}
		loop(px);
		fr_log(WHO, "stopping: %llu requests served",
		       (unsigned long long)px->ops);
	}
	close_conns(px);
	if (px->unix_fd >= 0) {
		close(px->unix_fd);
		unlink(o->unix_path);
	}
	if (px->tcp_fd >= 0)
		close(px->tcp_fd);
	if (px->resp_fd >= 0)
		close(px->resp_fd);
	if (px->resp_unix_fd >= 0) {
		close(px->resp_unix_fd);
		unlink(o->resp_unix);
	}
	fr_resp_scans_free(px);
	fr_pwatch_free(px);
	ferry_close(px->fc); /* ends the refreshes that name tenants */
	fr_tenant_free(px);
	if (px->epfd >= 0)
		close(px->epfd);
	if (px->sigfd >= 0)
		close(px->sigfd);
	free(px);
	return rc;
}
