/*
 * Proxy mode: requests travel to the node's ferry-proxy as frames (the same
 * codec as the fabric) over a socket.
 *
 * Over a Unix socket, values larger than the inline threshold live in
 * shared arenas: memfds this client creates, seals against shrinking and
 * passes to the proxy once (ATTACH, SCM_RIGHTS). The proxy registers each
 * with the fabric, so servers move values by RMA straight into and out of
 * memory this process maps; requests name (arena, offset). Nothing is
 * created on a file system, so a read-only mount of the socket is enough.
 * Over TCP every value travels in the stream.
 *
 * Over a Unix socket, frames themselves go through a channel once the
 * connection is set up (common/chan.h): two rings in one more memfd, so
 * that a request and its reply cross without a system call while the
 * proxy polls; the socket is left to carry memfds, wake-ups and the end.
 *
 * If the proxy goes away, in-flight requests fail with FERRY_EUNREACH and
 * the next request reconnects, attaching the same arenas again. If it
 * stops taking bytes for timeout_ms while a request is being written, the
 * connection is given up the same way, but the requests fail with
 * FERRY_ETIMEDOUT: the proxy may still be there, only stalled.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "client/client_int.h"
#include "common/alloc.h"
#include "common/chan.h"
#include "common/le.h"
#include "common/util.h"

#define DEFAULT_ARENA (64u << 20)
#define HEAD_MAX (FR_HDR_SIZE + 8 * FR_MAX_WORDS + 2 * FERRY_KEY_MAX)

struct sregion {
	int fd;
	uint8_t *base;
	size_t len;
	fr_alloc *alloc;
	uint64_t remote; /* the proxy's id for it, valid while attached */
	int attached;
	struct sregion *next;
};

/* A ferry_alloc block over TCP, where values travel in the stream: heap
 * memory, listed so that ferry_close frees what the caller did not (as
 * ferry.h promises for every mode) and ferry_free knows its own. */
struct hblock {
	struct hblock *prev, *next;
	max_align_t data[];
};

struct fr_stream {
	int fd; /* -1 while disconnected */
	int unix_mode;
	char target[256]; /* socket path, or host */
	char port[16];
	size_t arena_size;
	struct sregion *regions;
	struct hblock *heap; /* over TCP: the blocks ferry_alloc gave */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t head[HEAD_MAX];
	int connecting;
	struct fr_chan_mem *chan; /* NULL: frames go over the socket */
	fr_pipe req, rep;         /* its rings, as this side sees them */
};

/* Gives the connection up; every request in flight on it fails with err. */
static void disconnect(ferry_client *c, int err)
{
	struct fr_stream *s = c->stream;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->rlen = 0;
	if (s->chan)
		munmap(s->chan, FR_CHAN_SIZE);
	s->chan = NULL;
	for (struct sregion *g = s->regions; g; g = g->next)
		g->attached = 0;
	fr_client_fail_all(c, err);
}

/* Makes room in rbuf for more bytes. Returns 0, or -1 when out of memory
 * (the connection is dropped). */
static int rbuf_room(ferry_client *c)
{
	struct fr_stream *s = c->stream;
	size_t cap = s->rcap ? 2 * s->rcap : 65536;
	uint8_t *nb;

	if (s->rlen < s->rcap)
		return 0;
	nb = realloc(s->rbuf, cap);
	if (!nb) {
		disconnect(c, FERRY_EUNREACH);
		return -1;
	}
	s->rbuf = nb;
	s->rcap = cap;
	return 0;
}

/* Hands every whole frame in rbuf to the request machinery. A frame
 * longer than the proxy could legitimately send is a protocol error: the
 * connection is dropped. Returns the frames, or -1 when dropped. */
static int take_frames(ferry_client *c)
{
	struct fr_stream *s = c->stream;
	size_t max_frame = FR_MSG_SIZE + (size_t)c->peer_maxval[0];
	int frames = 0;

	while (s->rlen >= FR_HDR_SIZE) {
		size_t len = FR_HDR_SIZE + fr_get_u32(s->rbuf + 16);
		if (len > max_frame) {
			disconnect(c, FERRY_EUNREACH);
			return -1;
		}
		if (s->rlen < len)
			break;
		fr_client_reply(c, s->rbuf, len);
		frames++;
		memmove(s->rbuf, s->rbuf + len, s->rlen - len);
		s->rlen -= len;
	}
	return frames;
}

/* Reads the proxy's rings of the bell off the socket. Returns 0, or -1
 * when the proxy is gone (the connection is dropped). */
static int hear_bells(ferry_client *c)
{
	char buf[256];
	ssize_t n;

	do
		n = recv(c->stream->fd, buf, sizeof(buf), MSG_DONTWAIT);
	while (n > 0 || (n < 0 && errno == EINTR));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	disconnect(c, FERRY_EUNREACH);
	return -1;
}

/* Takes what the reply ring holds, and rings the proxy if it waits for
 * the room. */
static int chan_take(ferry_client *c)
{
	struct fr_stream *s = c->stream;
	int frames = 0, took = 0;

	while (s->chan && !rbuf_room(c)) {
		ssize_t n = fr_pipe_read(&s->rep, s->rbuf + s->rlen,
					 s->rcap - s->rlen);
		int f;
		if (n <= 0) {
			if (n < 0)
				disconnect(c, FERRY_EUNREACH);
			break;
		}
		took = 1;
		s->rlen += (size_t)n;
		if ((f = take_frames(c)) < 0)
			break;
		frames += f;
	}
	if (took && s->chan)
		fr_chan_wake(s->fd, &s->chan->p_room, 1);
	return frames;
}

/* Reads the reply ring; to sleep, says so in the channel and waits for
 * the proxy's bell. */
static int chan_progress(ferry_client *c, int timeout_ms)
{
	struct fr_stream *s = c->stream;
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	int frames = chan_take(c);

	if (frames || timeout_ms <= 0 || !s->chan)
		return frames;
	fr_chan_fence(&s->chan->f_polls, 0);
	if (fr_pipe_ready(&s->rep, 0) == 0)
		poll(&p, 1, timeout_ms);
	atomic_store(&s->chan->f_polls, 1);
	if (hear_bells(c))
		return 0;
	return chan_take(c);
}

/* Reads what the proxy sent and hands every whole frame to the request
 * machinery. */
static int s_progress(ferry_client *c, int timeout_ms)
{
	struct fr_stream *s = c->stream;
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	int frames = 0;

	if (s->fd < 0) {
		/* Disconnected: nothing can arrive until the next call
		 * reconnects; a caller waiting for events sleeps meanwhile. */
		if (timeout_ms > 0)
			poll(NULL, 0, timeout_ms);
		return 0;
	}
	if (s->chan)
		return chan_progress(c, timeout_ms);
	if (timeout_ms > 0 && poll(&p, 1, timeout_ms) <= 0)
		return 0;
	for (;;) {
		ssize_t n;
		int f;
		if (rbuf_room(c))
			return frames;
		n = recv(s->fd, s->rbuf + s->rlen, s->rcap - s->rlen,
			 MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			disconnect(c, FERRY_EUNREACH);
			return frames;
		}
		s->rlen += (size_t)n;
		if ((f = take_frames(c)) < 0)
			return frames;
		frames += f;
	}
	return frames;
}

/* Moves iov (n entries) past w bytes written. */
static void iov_advance(struct iovec **iov, int *n, size_t w)
{
	while (*n > 0 && w >= (*iov)->iov_len) {
		w -= (*iov)->iov_len;
		(*iov)++;
		(*n)--;
	}
	if (*n > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + w;
		(*iov)->iov_len -= w;
	}
}

/* Writes all of iov, reading replies while the socket is full so that
 * neither side can block the other forever. */
static int write_all(ferry_client *c, struct iovec *iov, int n, int passfd)
{
	struct fr_stream *s = c->stream;
	uint64_t deadline = fr_now_ns() + (uint64_t)c->timeout_ms * 1000000;
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};

	while (n > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w;
		if (passfd >= 0) {
			struct cmsghdr *cm;
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
		}
		w = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = s->fd,
					   .events = POLLIN | POLLOUT};
			if (fr_now_ns() > deadline)
				return FERRY_ETIMEDOUT;
			poll(&p, 1, 10);
			if (s_progress(c, 0) < 0 || s->fd < 0)
				return FERRY_EUNREACH;
			continue;
		}
		if (w < 0)
			return FERRY_EUNREACH;
		passfd = -1; /* the descriptor went with the first byte */
		iov_advance(&iov, &n, (size_t)w);
	}
	return 0;
}

/* Writes all of iov into the request ring, reading replies while it is
 * full (the proxy may wait for room to answer), and rings the proxy if
 * it does not poll. */
static int chan_write(ferry_client *c, struct iovec *iov, int n)
{
	struct fr_stream *s = c->stream;
	uint64_t deadline = fr_now_ns() + (uint64_t)c->timeout_ms * 1000000;
	struct pollfd p = {.fd = s->fd, .events = POLLIN};

	while (n > 0) {
		ssize_t w = fr_pipe_write(&s->req, iov->iov_base,
					  iov->iov_len);
		if (w < 0)
			return FERRY_EUNREACH;
		iov_advance(&iov, &n, (size_t)w);
		if (w > 0 || n == 0)
			continue;
		/* Full: wake the proxy if it sleeps, then wait for the
		 * room it frees (it rings when it takes bytes). */
		fr_chan_wake(s->fd, &s->chan->p_polls, 0);
		fr_chan_fence(&s->chan->f_room, 1);
		if (fr_pipe_ready(&s->req, 1) == 0)
			poll(&p, 1, 1);
		atomic_store(&s->chan->f_room, 0);
		if (hear_bells(c))
			return FERRY_EUNREACH;
		chan_take(c);
		if (!s->chan)
			return FERRY_EUNREACH;
		if (fr_now_ns() > deadline)
			return FERRY_ETIMEDOUT;
	}
	fr_chan_wake(s->fd, &s->chan->p_polls, 0);
	return 0;
}

static int reconnect(ferry_client *c);

static int send_frame(ferry_client *c, fr_msg *m, int passfd)
{
	struct fr_stream *s = c->stream;
	const uint8_t *tail;
	size_t tail_len, n;
	struct iovec iov[2];
	int rc;

	if (s->fd < 0 && (rc = reconnect(c)))
		return rc;
	n = fr_msg_encode_head(m, s->head, sizeof(s->head), &tail, &tail_len);
	if (!n)
		return FERRY_E2BIG;
	iov[0] = (struct iovec){s->head, n};
	iov[1] = (struct iovec){(void *)tail, tail_len};
	if (s->chan) {
		/* A memfd goes over the socket first, with one byte that
		 * also rings the proxy: it holds it for the frame. */
		struct iovec one = {(void *)"", 1};
		rc = passfd >= 0 ? write_all(c, &one, 1, passfd) : 0;
		if (!rc)
			rc = chan_write(c, iov, tail_len ? 2 : 1);
	} else {
		rc = write_all(c, iov, tail_len ? 2 : 1, passfd);
	}
	if (rc) /* a partial frame leaves the stream unusable */
		disconnect(c, rc);
	return rc;
}

static int s_send_noreply(ferry_client *c, fr_msg *m)
{
	return send_frame(c, m, -1);
}

static int s_send(ferry_client *c, struct req *r, fr_msg *m)
{
	int rc = send_frame(c, m, r->passfd);

	if (!rc)
		r->sent = 1; /* out, in the socket or ring: nothing to free */
	return rc;
}

/* ---- shared arenas -------------------------------------------------------- */

static int attach_reply(ferry_client *c, struct req *r, const fr_msg *rep)
{
	struct sregion *g = r->arg;

	g->remote = rep->w[FR_ATTACH_R_REGION];
	g->attached = 1;
	return 0;
}

static int attach(ferry_client *c, struct sregion *g)
{
	fr_msg m;

	fr_msg_init(&m, FR_OP_ATTACH, 0, 0);
	m.w[FR_ATTACH_SIZE] = g->len;
	return fr_ask(c, 0, &m, attach_reply, g, g->fd);
}

/* A new arena of at least min bytes: a sealed memfd, mapped shared. A
 * min within a page of SIZE_MAX fits none: rounded up, it wrapped around
 * to a default arena, attached for nothing on every such call. */
static struct sregion *new_region(ferry_client *c, size_t min)
{
	struct fr_stream *s = c->stream;
	size_t len = FR_MAX(s->arena_size, (min + 4095 + 64) & ~(size_t)4095);
	struct sregion *g, **pg;

	if (min > SIZE_MAX - 4095 - 64)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->fd = memfd_create("ferry-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (g->fd < 0 || ftruncate(g->fd, (off_t)len) ||
	    fcntl(g->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL))
		goto fail;
	g->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->base == MAP_FAILED) {
		g->base = NULL;
		goto fail;
	}
	g->len = len;
	if (fr_alloc_init(&g->alloc, g->base, len))
		goto fail;
	if (attach(c, g))
		goto fail;
	/* Creation order, so that attaching again after a reconnect hands
	 * out the same ids in the same order. */
	for (pg = &s->regions; *pg; pg = &(*pg)->next)
		;
	*pg = g;
	return g;
fail:
	fr_alloc_fini(&g->alloc);
	if (g->base)
		munmap(g->base, len);
	if (g->fd >= 0)
		close(g->fd);
	free(g);
	return NULL;
}

static struct sregion *region_of(struct fr_stream *s, const void *p,
				 size_t len)
{
	for (struct sregion *g = s->regions; g; g = g->next)
		if ((const uint8_t *)p >= g->base && len <= g->len &&
		    (size_t)((const uint8_t *)p - g->base) <= g->len - len)
			return g;
	return NULL;
}

static void *heap_alloc(struct fr_stream *s, size_t size)
{
	struct hblock *b = size <= SIZE_MAX - sizeof(*b)
			       ? malloc(sizeof(*b) + size)
			       : NULL;

	if (!b)
		return NULL;
	b->prev = NULL;
	b->next = s->heap;
	if (b->next)
		b->next->prev = b;
	s->heap = b;
	return b->data;
}

static int heap_free(struct fr_stream *s, void *p)
{
	struct hblock *b = s->heap;

	while (b && (void *)b->data != p)
		b = b->next;
	if (!b)
		return FERRY_EINVAL;
	*(b->prev ? &b->prev->next : &s->heap) = b->next;
	if (b->next)
		b->next->prev = b->prev;
	free(b);
	return 0;
}

static void *s_alloc(ferry_client *c, size_t size)
{
	struct fr_stream *s = c->stream;
	struct sregion *g;
	void *p;

	if (!s->unix_mode)
		return heap_alloc(s, size);
	for (g = s->regions; g; g = g->next)
		if ((p = fr_alloc_get(g->alloc, size)))
			return p;
	g = new_region(c, size);
	return g ? fr_alloc_get(g->alloc, size) : NULL;
}

static int s_free(ferry_client *c, void *p)
{
	struct sregion *g;

	if (!c->stream->unix_mode)
		return heap_free(c->stream, p);
	g = region_of(c->stream, p, 0);
	if (!g)
		return FERRY_EINVAL;
	fr_alloc_put(g->alloc, p);
	return 0;
}

/* Memory in an arena is named by (arena, offset); anything else is copied
 * once through an arena block (documented in ferry.h). */
static int s_reach(ferry_client *c, struct req *r, void *p, size_t len,
		   int write, uint64_t *raddr, uint64_t *rkey)
{
	struct fr_stream *s = c->stream;
	struct sregion *g = region_of(s, p, len);

	if (!g) {
		r->bounce = s_alloc(c, len);
		if (!r->bounce)
			return FERRY_ENOMEM;
		if (!write)
			memcpy(r->bounce, p, len);
		g = region_of(s, r->bounce, len);
		p = r->bounce;
	}
	if (!g->attached)
		return FERRY_EUNREACH;
	*raddr = (uint64_t)((uint8_t *)p - g->base);
	*rkey = g->remote;
	return 0;
}

static void s_release(ferry_client *c, struct req *r)
{
	if (!r->bounce)
		return;
	s_free(c, r->bounce);
	r->bounce = NULL;
}

/* ---- connecting ------------------------------------------------------------ */

static int dial(struct fr_stream *s)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai, *a;
	int fd = -1, one = 1;

	if (s->unix_mode) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(s->target) >= sizeof(sa.sun_path))
			return -1;
		strcpy(sa.sun_path, s->target);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	if (getaddrinfo(s->target, s->port, &hints, &ai))
		return -1;
	for (a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen)) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Moves the connection's frames into a channel (chan.h): a sealed memfd
 * the proxy maps. They stay on the socket if that fails. */
static void open_chan(ferry_client *c)
{
	struct fr_stream *s = c->stream;
	int fd = memfd_create("ferry-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	void *m = MAP_FAILED;
	fr_msg msg;

	if (fd >= 0 && !ftruncate(fd, FR_CHAN_SIZE) &&
	    !fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		m = mmap(NULL, FR_CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
	if (m != MAP_FAILED) {
		struct fr_chan_mem *ch = m;
		atomic_store(&ch->f_polls, 1); /* it is in a call */
		fr_msg_init(&msg, FR_OP_CHANNEL, 0, 0);
		msg.w[FR_CHANNEL_SIZE] = FR_CHAN_SIZE;
		if (fr_ask(c, 0, &msg, fr_ignore_reply, NULL, fd) == 0 &&
		    s->fd >= 0) {
			s->chan = m;
			fr_chan_pipes(m, 0, &s->req, &s->rep);
		} else {
			munmap(m, FR_CHAN_SIZE);
		}
	}
	if (fd >= 0)
		close(fd);
}

/* Connects, says HELLO (which tells the inline threshold and the largest
 * value), attaches every arena this client already has, and registers
 * every watch again, before any other request: a new proxy knows none of
 * them (and each gets a LOST event for what it missed meanwhile). */
static int reconnect(ferry_client *c)
{
	struct fr_stream *s = c->stream;
	fr_msg m;
	int rc;

	if (s->connecting)
		return FERRY_EUNREACH;
	s->fd = dial(s);
	if (s->fd < 0)
		return FERRY_EUNREACH;
	s->connecting = 1;
	fr_hello_init(c, &m, NULL, 0);
	rc = fr_ask(c, 0, &m, fr_hello_reply, NULL, -1);
	for (struct sregion *g = s->regions; !rc && g; g = g->next)
		rc = attach(c, g);
	if (!rc && s->unix_mode)
		open_chan(c);
	s->connecting = 0;
	if (!rc) {
		fr_watch_resync(c, 0);
		fr_watch_pump(c);
	}
	if (rc && s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	return rc;
}

/* A proxy that restarted left an end-of-file on the old socket: read it
 * now (failing whatever was in flight there) and connect again, before a
 * request names arenas by the ids of the old connection. */
static int s_ready(ferry_client *c)
{
	struct fr_stream *s = c->stream;
	struct pollfd p = {.fd = s->fd, .events = POLLIN};

	if (s->fd >= 0 && poll(&p, 1, 0) == 1 && !(s->chan && hear_bells(c)))
		s_progress(c, 0);
	return s->fd >= 0 || s->connecting ? 0 : reconnect(c);
}

static void s_close(ferry_client *c)
{
	struct fr_stream *s = c->stream;

	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->chan)
		munmap(s->chan, FR_CHAN_SIZE);
	while (s->regions) {
		struct sregion *g = s->regions;
		s->regions = g->next;
		fr_alloc_fini(&g->alloc);
		munmap(g->base, g->len);
		close(g->fd);
		free(g);
	}
	while (s->heap)
		heap_free(s, s->heap->data);
	free(s->rbuf);
	free(s);
	c->stream = NULL;
}

static const struct fr_transport stream_tp = {
	.ready = s_ready,
	.send = s_send,
	.progress = s_progress,
	.reach = s_reach,
	.release = s_release,
	.alloc = s_alloc,
	.free = s_free,
	.close = s_close,
	.send_noreply = s_send_noreply,
};

int fr_stream_open(ferry_client *c, const ferry_opts *o, const char *url)
{
	struct fr_stream *s;
	int rc = fr_client_init(c, o, 1);

	if (rc)
		return rc;
	s = c->stream = calloc(1, sizeof(*s));
	if (!s)
		return FERRY_ENOMEM;
	c->tp = &stream_tp;
	s->fd = -1;
	s->arena_size = o->arena_size ? o->arena_size : DEFAULT_ARENA;
	if (strncmp(url, "unix://", 7) == 0) {
		s->unix_mode = 1;
		c->mode = "proxy-unix";
		if (snprintf(s->target, sizeof(s->target), "%s", url + 7) >=
		    (int)sizeof(s->target))
			return FERRY_EINVAL;
	} else if (strncmp(url, "tcp://", 6) == 0) {
		c->mode = "proxy-tcp";
		if (fr_split_hostport(url + 6, s->target, sizeof(s->target),
				      s->port, sizeof(s->port)))
			return FERRY_EINVAL;
	} else {
		return FERRY_EINVAL;
	}
	snprintf(c->peer_names[0], FR_ADDR_MAX, "%s", url);
	c->peer_maxval[0] = 0; /* learnt from HELLO */
	rc = reconnect(c);
	if (!rc && s->unix_mode && !new_region(c, 0))
		rc = FERRY_ENOMEM;
	return rc;
}
