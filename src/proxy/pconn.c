/*
 * Function connections of the proxy: reading frames (and passed memfds),
 * turning requests into operations of the warm client, and queueing
 * replies. Nothing a function sends is trusted: every length, offset and
 * region index is checked against what this connection owns, so one
 * function can never make the proxy touch another's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client/client_int.h"
#include "common/le.h"
#include "common/util.h"
#include "proxy/proxy_int.h"
#include "proxy/resp_int.h"

#define WHO "ferry-proxy"
#define FRAMES_PER_PASS 32       /* fairness: frames read per wake-up */
#define EVENTS_UNREAD (4u << 20) /* unread replies past which a function's
				    watches lose events (see struct fsub) */

/*
 * The buffer budget (--buffer-budget). Stream bytes the proxy holds are
 * counted in px->buffered: each connection's read buffer (its capacity,
 * reserved for the whole frame being read), the frames of operations in
 * flight, and the GET buffers of operations in flight. Room is taken
 * before memory is allocated. A connection that cannot have the room it
 * needs next stops reading (PC_PAUSED) and joins px->paused; whenever
 * room frees, whoever released it, fr_pconn_resume gives it to the paused
 * connections in the order they paused, each one whose next need fits
 * (one that still does not fit keeps its place and stays paused).
 *
 * A reply leaves the budget once queued: unread replies are bounded per
 * connection instead. A GET over the stream starts only while the GET
 * data its connection has in flight and unread stays within FR_PCONN_WQ_PAUSE (or
 * it has none), so a function that never reads holds one window at most
 * and cannot hold the budget for ever. Two things always have room, so
 * that small requests never wait behind large values: a connection
 * without a read buffer may take the smallest (FR_MSG_SIZE), and a GET
 * answer of at most FR_INLINE_MAX bytes; both are bounded per connection
 * by --conn-inflight.
 */

/* ---- the budget ---------------------------------------------------------- */

static int have_room(const fr_proxy *px, uint64_t bytes)
{
	return bytes <= px->o.buffer_budget &&
	       px->buffered <= px->o.buffer_budget - bytes;
}

void fr_pconn_release(fr_proxy *px, size_t bytes)
{
	px->buffered -= bytes;
	if (bytes && px->paused.head)
		px->wake = 1;
}

static void set_events(fr_proxy *px, struct pconn *pc);

static struct plink *link_of(const struct plist *l, struct pconn *pc)
{
	return (struct plink *)((char *)pc + l->at);
}

static void list_add(struct plist *l, struct pconn *pc)
{
	struct plink *k = link_of(l, pc);

	k->next = NULL;
	k->prev = l->tail;
	if (l->tail)
		link_of(l, l->tail)->next = pc;
	else
		l->head = pc;
	l->tail = pc;
}

/* Unlinks pc; its own next link stays, for a walk that stands on it. */
static void list_del(struct plist *l, struct pconn *pc)
{
	struct plink *k = link_of(l, pc);

	if (k->prev)
		link_of(l, k->prev)->next = k->next;
	else
		l->head = k->next;
	if (k->next)
		link_of(l, k->next)->prev = k->prev;
	else
		l->tail = k->prev;
}

/* Stops reading pc until fr_pconn_resume finds what it waits for. */
void fr_pconn_pause(fr_proxy *px, struct pconn *pc)
{
	if (pc->state != PC_OPEN)
		return;
	pc->state = PC_PAUSED;
	list_add(&px->paused, pc);
	set_events(px, pc);
}

/* The bytes a GET over the stream answers with at most. */
static uint64_t get_piece(const fr_proxy *px, const fr_msg *q)
{
	return FR_MIN(q->w[FR_GET_LEN], px->get_piece);
}

/* Whether a GET answer of n bytes may start now on pc. */
static int get_fits(const fr_proxy *px, const struct pconn *pc, uint64_t n)
{
	uint64_t out = pc->get_out + pc->wq_bytes;

	if (out && out + n > FR_PCONN_WQ_PAUSE)
		return 0; /* the function has to read first */
	return n <= FR_INLINE_MAX || have_room(px, n);
}

/* ---- replies ------------------------------------------------------------ */

static void set_events(fr_proxy *px, struct pconn *pc)
{
	struct epoll_event ev = {.data.ptr = pc};

	if (pc->state == PC_DEAD)
		return;
	/* A channel's socket carries bells: for requests, and for room
	 * in the reply ring (no EPOLLOUT), so it is always read. */
	ev.events = (pc->state == PC_OPEN || pc->chan ? EPOLLIN : 0) |
		    (pc->wq_head && !pc->chan ? EPOLLOUT : 0);
	if (ev.events == pc->events)
		return; /* a system call per reply saved */
	pc->events = ev.events;
	epoll_ctl(px->epfd, EPOLL_CTL_MOD, pc->fd, &ev);
}

static void conn_free(fr_proxy *px, struct pconn *pc)
{
	for (unsigned i = 0; i < pc->nregions; i++) {
		fr_direct_remove_region(px->fc, pc->regions[i].base);
		munmap(pc->regions[i].base, pc->regions[i].len);
		px->nregions--;
	}
	fr_pwatch_conn_gone(px, pc);
	fr_tenant_logout(px, pc);
	if (pc->resp)
		fr_resp_free(px, pc);
	if (pc->prev)
		pc->prev->next = pc->next;
	else
		px->conns = pc->next;
	if (pc->next)
		pc->next->prev = pc->prev;
	free(pc);
}

/* ---- channels (common/chan.h) ------------------------------------------- */

/* The loop polls pc's request ring (and pc need not ring). */
static void poll_start(fr_proxy *px, struct pconn *pc)
{
	pc->chan_ns = fr_now_ns();
	if (pc->polled)
		return;
	pc->polled = 1;
	list_add(&px->polled, pc);
	atomic_store(&pc->chan->p_polls, 1);
}

/* It stops (pc rings from now on). */
static void poll_stop(fr_proxy *px, struct pconn *pc)
{
	if (!pc->polled)
		return;
	pc->polled = 0;
	list_del(&px->polled, pc);
	if (pc->chan)
		fr_chan_fence(&pc->chan->p_polls, 0);
}

/* Writes iov into the reply ring as far as there is room, as writev(2)
 * would on a non-blocking socket, and rings the function if it does not
 * poll. Full, it asks the function to ring once it has taken bytes. */
static ssize_t chan_send(struct pconn *pc, const struct iovec *iov, int n)
{
	ssize_t w = 0;

	for (int i = 0; i < n; i++) {
		ssize_t k = fr_pipe_write(&pc->crep, iov[i].iov_base,
					  iov[i].iov_len);
		if (k < 0) {
			errno = EPROTO; /* its index is impossible */
			return -1;
		}
		w += k;
		if ((size_t)k < iov[i].iov_len)
			break;
	}
	if (w > 0) {
		atomic_store_explicit(&pc->chan->p_room, 0,
				      memory_order_relaxed);
		fr_chan_wake(pc->fd, &pc->chan->f_polls, 0);
		return w;
	}
	fr_chan_fence(&pc->chan->p_room, 1);
	errno = fr_pipe_ready(&pc->crep, 1) ? EINTR : EAGAIN; /* room came */
	return -1;
}

/* The socket is gone. In-flight operations may still be moving data into
 * this connection's arenas: those stay mapped until the last one ends. */
void fr_pconn_kill(fr_proxy *px, struct pconn *pc, const char *why)
{
	if (pc->state == PC_DEAD)
		return;
	if (why)
		fr_log(WHO, "dropping a function connection: %s", why);
	if (pc->state == PC_PAUSED)
		list_del(&px->paused, pc);
	epoll_ctl(px->epfd, EPOLL_CTL_DEL, pc->fd, NULL);
	close(pc->fd);
	poll_stop(px, pc);
	if (pc->chan) {
		munmap(pc->chan, FR_CHAN_SIZE);
		px->nchannels--;
	}
	pc->chan = NULL;
	for (unsigned i = 0; i < pc->nfds; i++)
		close(pc->fds[i]);
	pc->nfds = 0;
	while (pc->wq_head) {
		struct pout *o = pc->wq_head;
		pc->wq_head = o->next;
		free(o->tail);
		free(o);
	}
	/* Its room goes to whoever waits for it. */
	fr_pconn_release(px, pc->rcap + pc->parked_len);
	free(pc->rbuf);
	pc->rbuf = NULL;
	pc->rcap = pc->rlen = 0;
	free(pc->parked);
	pc->parked = NULL;
	pc->parked_len = 0;
	if (pc->again) {
		pc->again = 0;
		px->again--;
	}
	pc->state = PC_DEAD;
	px->nconns--;
	px->dead++; /* freed by fr_pconn_sweep: callers still hold pc */
}

static void tell_lost(fr_proxy *px, struct pconn *pc);

/* Writes queued replies, several per system call. */
void fr_pconn_flush(fr_proxy *px, struct pconn *pc)
{
	while (pc->wq_head) {
		struct iovec iov[64];
		int n = 0;
		ssize_t w;
		for (struct pout *o = pc->wq_head; o && n < 63; o = o->next) {
			if (o->off < o->head_len)
				iov[n++] = (struct iovec){o->head + o->off,
							  o->head_len - o->off};
			if (o->tail_len) {
				size_t toff = o->off > o->head_len
						      ? o->off - o->head_len
						      : 0;
				iov[n++] = (struct iovec){o->tail + toff,
							  o->tail_len - toff};
			}
		}
		w = pc->chan ? chan_send(pc, iov, n) : writev(pc->fd, iov, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w <= 0) {
			fr_pconn_kill(px, pc, NULL); /* the function went away */
			return;
		}
		pc->wq_bytes -= (size_t)w;
		if (pc->state == PC_PAUSED)
			px->wake = 1; /* it may wait for its replies to go */
		while (w > 0) {
			struct pout *o = pc->wq_head;
			size_t part = FR_MIN((size_t)w, o->len - o->off);
			o->off += part;
			w -= (ssize_t)part;
			if (o->off < o->len)
				break;
			pc->wq_head = o->next;
			if (!pc->wq_head)
				pc->wq_tail = NULL;
			free(o->tail);
			free(o);
		}
	}
	if (pc->closing && !pc->wq_head && !(pc->resp && pc->resp->head)) {
		fr_pconn_kill(px, pc, NULL); /* said its last word */
		return;
	}
	if (pc->events_lost && pc->wq_bytes <= EVENTS_UNREAD / 2)
		tell_lost(px, pc);
	set_events(px, pc);
}

/* Queues rep (its last blob, if any, is tail: owned and freed after the
 * write, or NULL when the blob's bytes must be copied now). */
static void send_reply(fr_proxy *px, struct pconn *pc, fr_msg *rep,
		       uint8_t *owned_tail)
{
	uint8_t head[FR_HDR_SIZE + 8 * FR_MAX_WORDS];
	const uint8_t *tail;
	size_t tail_len, n;

	if (pc->state == PC_DEAD) {
		free(owned_tail);
		return;
	}
	n = fr_msg_encode_head(rep, head, sizeof(head), &tail, &tail_len);
	if (!n) {
		free(owned_tail);
		fr_pconn_kill(px, pc, "cannot encode a reply");
		return;
	}
	if (owned_tail) {
		fr_pconn_queue(px, pc, head, n, owned_tail, tail_len);
	} else {
		uint8_t *both = malloc(n + tail_len);
		if (both) {
			memcpy(both, head, n);
			if (tail_len) /* tail may be NULL then */
				memcpy(both + n, tail, tail_len);
		}
		fr_pconn_queue(px, pc, NULL, 0, both, n + tail_len);
	}
	fr_pconn_flush(px, pc);
}

void fr_pconn_queue(fr_proxy *px, struct pconn *pc, const void *head,
		    size_t head_len, uint8_t *tail, size_t tail_len)
{
	struct pout *o;

	if (pc->state == PC_DEAD || head_len + tail_len == 0) {
		free(tail);
		return;
	}
	o = malloc(sizeof(*o) + head_len);
	if (!o || (!tail && tail_len)) {
		free(o);
		free(tail);
		fr_pconn_kill(px, pc, "cannot queue a reply");
		return;
	}
	if (head_len)
		memcpy(o->head, head, head_len);
	o->next = NULL;
	o->off = 0;
	o->head_len = head_len;
	o->tail = tail;
	o->tail_len = tail_len;
	o->len = head_len + tail_len;
	if (pc->wq_tail)
		pc->wq_tail->next = o;
	else
		pc->wq_head = o;
	pc->wq_tail = o;
	pc->wq_bytes += o->len;
}

static void reply_status(fr_proxy *px, struct pconn *pc, uint8_t opcode,
			 uint64_t id, int status)
{
	fr_msg rep;

	fr_msg_init(&rep, opcode, FR_F_REPLY, id);
	rep.h.status = status;
	send_reply(px, pc, &rep, NULL);
}

/* ---- operations --------------------------------------------------------- */

static void pop_free(fr_proxy *px, struct pop *pp)
{
	fr_pconn_release(px, pp->held);
	pp->conn->get_out -= pp->getlen;
	free(pp->frame);
	free(pp->getbuf);
	free(pp);
}

/* The arena bytes [off, off+len) of region idx, or NULL if the function
 * named memory it does not own. */
static uint8_t *arena(struct pconn *pc, uint64_t idx, uint64_t off,
		      uint64_t len)
{
	if (idx >= pc->nregions || off > pc->regions[idx].len ||
	    len > pc->regions[idx].len - off)
		return NULL;
	return pc->regions[idx].base + off;
}

/* Starts the operation q asks for; the frame (len bytes, still counted
 * in the budget) now belongs to it. */
static int start_op(fr_proxy *px, struct pconn *pc, const fr_msg *q,
		    uint8_t *frame, size_t len)
{
	struct pop *pp = calloc(1, sizeof(*pp));
	ferry_op *op;

	if (!pp) {
		fr_pconn_release(px, len);
		free(frame);
		return FERRY_ENOMEM;
	}
	op = &pp->op;
	pp->conn = pc;
	pp->id = q->h.id;
	pp->opcode = q->h.opcode;
	pp->frame = frame;
	pp->held = len;
	if (fr_op_from_request(q, op)) {
		pop_free(px, pp);
		return FERRY_EPROTO;
	}
	/* Where the value's bytes are: checked against what this
	 * connection owns. */
	switch (q->h.opcode) {
	case FR_OP_PUT:
		if (q->h.flags & FR_F_INLINE)
			op->buf = (void *)q->blob[1];
		else if (q->h.flags & FR_F_RMA)
			op->buf = arena(pc, q->w[FR_PUT_RKEY],
					q->w[FR_PUT_RADDR], op->len);
		if (op->len && !op->buf)
			goto bad;
		break;
	case FR_OP_GET:
		if (q->h.flags & FR_F_RMA) {
			pp->via_arena = 1;
			op->buf = arena(pc, q->w[FR_GET_RKEY],
					q->w[FR_GET_RADDR], op->len);
			if (!op->buf)
				goto bad;
		} else {
			/* Over the stream, a long value comes in pieces
			 * (get_piece); the caller sees got < size and asks
			 * for the rest. on_frame made sure the room is
			 * there: it is taken before the memory. */
			op->len = get_piece(px, q);
			pp->held += op->len;
			px->buffered += op->len;
			pp->getlen = op->len;
			pc->get_out += op->len;
			pp->getbuf = malloc(op->len ? op->len : 1);
			if (!pp->getbuf) {
				pop_free(px, pp);
				return FERRY_ENOMEM;
			}
			op->buf = pp->getbuf;
		}
		break;
	}
	pc->inflight++;
	return fr_proxy_submit(px, pp);
bad:
	pop_free(px, pp);
	return FERRY_EINVAL;
}

/* An operation of this connection finished at the fabric. */
void fr_pconn_complete(fr_proxy *px, struct pop *pp)
{
	struct pconn *pc = pp->conn;
	ferry_op *op = &pp->op;
	uint8_t *tail = NULL;
	fr_msg rep;

	pc->inflight--;
	if (pc->state == PC_DEAD) {
		pop_free(px, pp);
		return;
	}
	fr_msg_init(&rep, pp->opcode, FR_F_REPLY, pp->id);
	rep.h.status = op->status;
	fr_op_to_reply(op, &rep);
	if (pp->opcode == FR_OP_GET && pp->via_arena) {
		rep.h.flags |= FR_F_RMA;
	} else if (pp->opcode == FR_OP_GET) {
		rep.blob[0] = pp->getbuf;
		tail = op->status ? NULL : pp->getbuf;
		pp->getbuf = tail ? NULL : pp->getbuf;
	}
	pop_free(px, pp);
	send_reply(px, pc, &rep, tail);
	if (pc->state == PC_PAUSED)
		px->wake = 1; /* it may wait for fewer requests in flight */
}

/* ---- requests answered by the proxy itself ------------------------------- */

static int hear_bells(fr_proxy *px, struct pconn *pc);

/* The descriptor that came with the oldest ATTACH or CHANNEL not yet
 * handled, or -1; the caller owns it. Over a channel the frame may be
 * read before its descriptor's byte on the socket, which is there
 * already (sent first). */
static int take_fd(fr_proxy *px, struct pconn *pc)
{
	int fd;

	if (pc->nfds == 0 && pc->chan)
		hear_bells(px, pc);
	if (pc->nfds == 0)
		return -1;
	fd = pc->fds[0];
	memmove(pc->fds, pc->fds + 1, --pc->nfds * sizeof(int));
	return fd;
}

/* Maps size bytes of the memfd that came with the request, shared. Only a
 * memfd sealed against shrinking is safe to map: a file that shrank under
 * the mapping would kill the proxy with SIGBUS. Returns the mapping, or
 * NULL with *rc set. */
static void *map_memfd(fr_proxy *px, struct pconn *pc, uint64_t size,
		       uint64_t room, int *rc)
{
	struct stat st;
	int fd, seals;
	void *m = NULL;

	if (!pc->unix_mode || (fd = take_fd(px, pc)) < 0) {
		*rc = FERRY_EINVAL;
		return NULL;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) ||
	    size == 0 || (uint64_t)st.st_size < size)
		*rc = FERRY_EINVAL;
	else if (size > room)
		*rc = FERRY_E2BIG;
	else if ((m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			   0)) == MAP_FAILED)
		*rc = FERRY_ENOMEM;
	else
		*rc = 0;
	close(fd);
	return *rc ? NULL : m;
}

/* Moves the connection's frames into the channel that came with q
 * (common/chan.h). The reply is the last frame on the socket. */
static int channel(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	uint64_t size = q->w[FR_CHANNEL_SIZE];
	int rc;
	struct fr_chan_mem *m = map_memfd(px, pc, size, FR_CHAN_SIZE, &rc);
	fr_msg rep;

	if (m && (pc->chan || size != FR_CHAN_SIZE)) {
		munmap(m, size);
		m = NULL;
		rc = FERRY_EINVAL;
	}
	if (!m)
		return rc;
	fr_msg_init(&rep, FR_OP_CHANNEL, FR_F_REPLY, q->h.id);
	send_reply(px, pc, &rep, NULL);
	if (pc->state == PC_DEAD || pc->wq_head) {
		munmap(m, FR_CHAN_SIZE);
		fr_pconn_kill(px, pc, "replies left on the socket when it "
				      "asked for a channel");
		return 0;
	}
	pc->chan = m;
	px->nchannels++;
	fr_chan_pipes(m, 1, &pc->crep, &pc->creq);
	set_events(px, pc);
	poll_start(px, pc);
	return 0;
}

static int attach(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	uint64_t size = q->w[FR_ATTACH_SIZE];
	int full = pc->nregions == PCONN_MAX_REGIONS, rc;
	void *base = map_memfd(px, pc, size,
			       full ? 0 : px->o.max_arenas - pc->arena_bytes,
			       &rc);
	struct pregion *g;
	fr_msg rep;

	if (!base)
		return rc;
	g = &pc->regions[pc->nregions];
	g->base = base;
	g->len = size;
	rc = fr_direct_add_region(px->fc, g->base, size);
	if (rc) {
		munmap(g->base, size);
		return rc;
	}
	pc->arena_bytes += size;
	px->nregions++;
	fr_msg_init(&rep, FR_OP_ATTACH, FR_F_REPLY, q->h.id);
	rep.w[FR_ATTACH_R_REGION] = pc->nregions;
	pc->nregions++;
	send_reply(px, pc, &rep, NULL);
	return 0;
}

/* Answers request id (a LIST or NS_LIST) with the keys of k, which it
 * frees. */
static int reply_keys(fr_proxy *px, struct pconn *pc, uint8_t opcode,
		      uint64_t id, ferry_keys *k)
{
	size_t bytes = 0, off = 0, len;
	uint8_t *blob;
	fr_msg rep;

	for (size_t i = 0; i < ferry_keys_count(k); i++) {
		ferry_keys_at(k, i, &len);
		bytes += 2 + len;
	}
	blob = malloc(bytes ? bytes : 1);
	if (!blob) {
		ferry_keys_free(k);
		return FERRY_ENOMEM;
	}
	for (size_t i = 0; i < ferry_keys_count(k); i++) {
		const void *key = ferry_keys_at(k, i, &len);
		off += fr_list_pack(blob + off, bytes - off, key, len);
	}
	fr_msg_init(&rep, opcode, FR_F_REPLY, id);
	if (ferry_keys_more(k))
		rep.h.flags |= FR_F_MORE;
	rep.w[FR_LIST_R_COUNT] = ferry_keys_count(k);
	rep.w[FR_LIST_R_BYTES] = bytes;
	rep.blob[0] = blob;
	ferry_keys_free(k);
	send_reply(px, pc, &rep, blob);
	return 0;
}

/* A request asked of the servers without the loop waiting (a fan-out:
 * LIST, and the admin's namespace requests): whom to answer, under which
 * id. */
struct pfan {
	fr_proxy *px;
	struct pconn *pc;
	uint64_t id;
	uint8_t op;
};

/* Counts a fan-out in for pc; fan_over counts it out. */
static struct pfan *fan_new(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	struct pfan *f = malloc(sizeof(*f));

	if (!f)
		return NULL;
	*f = (struct pfan){px, pc, q->h.id, q->h.opcode};
	fr_tenant_act(px, pc);
	pc->inflight++;
	return f;
}

/* Nothing was sent: rc is the answer. */
static int fan_failed(struct pfan *f, int rc)
{
	f->pc->inflight--;
	free(f);
	return rc;
}

/* A call the loop made for pc without waiting has ended: returns whether
 * pc is still there to hear its answer. */
static int call_over(fr_proxy *px, struct pconn *pc)
{
	pc->inflight--;
	if (pc->state == PC_PAUSED)
		px->wake = 1; /* it may wait for fewer in flight */
	return pc->state != PC_DEAD;
}

/* The answer is in: returns whether pc is still there to hear it, and
 * has fr_tenant_seen it. */
static int fan_over(struct pfan *f, int status)
{
	fr_proxy_fan_end(f->px);
	if (!call_over(f->px, f->pc))
		return 0;
	fr_tenant_seen(f->px, f->pc, status);
	return 1;
}

static void listed(void *arg, int status, ferry_keys *k)
{
	struct pfan *f = arg;

	if (!fan_over(f, status)) {
		ferry_keys_free(k);
	} else {
		if (!status)
			status = reply_keys(f->px, f->pc, f->op, f->id, k);
		if (status)
			reply_status(f->px, f->pc, f->op, f->id, status);
	}
	free(f);
}

/* LIST: asked of every server without waiting (serve() parks it while
 * fan-outs hold all the room they may); listed() answers. */
static int list(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	unsigned max = (unsigned)FR_MIN(q->w[FR_LIST_MAX], 10000);
	struct pfan *f;
	fr_msg m;
	int rc = fr_list_msg(&m, q->blob[0], q->blen[0], q->blob[1],
			     q->blen[1], max);

	if (rc)
		return rc;
	if (!(f = fan_new(px, pc, q)))
		return FERRY_ENOMEM;
	rc = fr_proxy_list_start(px, &m, -1, max, listed, f);
	return rc ? fan_failed(f, rc) : 0;
}

/* HELLO: the token it carries (blob 1) decides what the connection may
 * do from now on; one that opens nothing leaves it nothing. Returns
 * FR_LOGIN_ASKING while the servers are asked about the token. */
static int hello(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	fr_msg rep;
	int rc = fr_tenant_login(px, pc, q->blob[1], q->blen[1]);

	if (rc == FR_LOGIN_ASKING)
		return rc;
	if (rc) {
		fr_tenant_logout(px, pc);
		return rc;
	}
	fr_msg_init(&rep, FR_OP_HELLO, FR_F_REPLY, q->h.id);
	rep.w[FR_HELLO_R_INLINE] = pc->unix_mode ? FR_INLINE_MAX : UINT64_MAX;
	rep.w[FR_HELLO_R_KEYMAX] = FERRY_KEY_MAX;
	rep.w[FR_HELLO_R_VALMAX] =
		pc->unix_mode ? px->max_value : px->stream_max_value;
	rep.w[FR_HELLO_R_SERVERS] = px->fc->npeers;
	send_reply(px, pc, &rep, NULL);
	return 0;
}

/* An admin's NS_CREATE, NS_SET or NS_DROP has ended on every server. */
static void ns_changed(void *arg, int status, const char *token)
{
	struct pfan *f = arg;
	fr_msg rep;

	if (f->op != FR_OP_NS_CREATE)
		fr_tenant_recheck(f->px); /* new limits, or a dead token */
	if (!fan_over(f, status)) {
		/* nobody to tell */
	} else if (status) {
		reply_status(f->px, f->pc, f->op, f->id, status);
	} else {
		fr_msg_init(&rep, f->op, FR_F_REPLY, f->id);
		if (token) {
			rep.w[FR_NS_R_TOKLEN] = FERRY_TOKEN_LEN;
			rep.blob[0] = (const uint8_t *)token;
		}
		send_reply(f->px, f->pc, &rep, NULL);
	}
	free(f);
}

static void ns_stated(void *arg, int status, uint64_t id,
		      const ferry_ns_info *info)
{
	struct pfan *f = arg;
	fr_msg rep;

	if (!fan_over(f, status)) {
		/* nobody to tell */
	} else if (status) {
		reply_status(f->px, f->pc, f->op, f->id, status);
	} else {
		fr_msg_init(&rep, f->op, FR_F_REPLY, f->id);
		rep.w[FR_NS_R_QUOTA] = info->quota;
		rep.w[FR_NS_R_EXPIRE] = info->expire_ms;
		rep.w[FR_NS_R_OPS] = info->ops_per_s;
		rep.w[FR_NS_R_BYTES] = info->bytes_per_s;
		rep.w[FR_NS_R_USED] = info->used;
		rep.w[FR_NS_R_KEYS] = info->keys;
		send_reply(f->px, f->pc, &rep, NULL);
	}
	free(f);
}

/* The admin manages namespaces through the warm client, with the
 * requests and replies of a server (src/client/ns.c reads both alike),
 * asked of the servers without the loop waiting, as LIST is: NS_CREATE
 * answers with the token, NS_STAT with the R words summed over the
 * servers, NS_LIST as LIST. */
static int ns_op(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	char name[FERRY_NS_NAME_MAX + 1];
	unsigned max = (unsigned)FR_MIN(q->w[FR_NSLIST_MAX], 10000);
	ferry_ns_info set = {
		.quota = q->w[FR_NS_QUOTA],
		.expire_ms = q->w[FR_NS_EXPIRE],
		.ops_per_s = q->w[FR_NS_OPS],
		.bytes_per_s = q->w[FR_NS_BYTES],
	};
	struct pfan *f;
	fr_msg m;
	int rc;

	/* Blob 0 is the name, or NS_LIST's name to list after. */
	if (q->blen[0] > FERRY_NS_NAME_MAX)
		return FERRY_EINVAL;
	memcpy(name, q->blob[0], q->blen[0]);
	name[q->blen[0]] = '\0';
	if (q->h.opcode == FR_OP_NS_LIST) {
		if (!max)
			return FERRY_EINVAL;
		fr_ns_list_msg(&m, q->blen[0] ? name : NULL, max);
		if (!(f = fan_new(px, pc, q)))
			return FERRY_ENOMEM;
		rc = fr_proxy_list_start(px, &m, (int)fr_first_up(px->fc), max,
					 listed, f);
		return rc ? fan_failed(f, rc) : 0;
	}
	if (!(f = fan_new(px, pc, q)))
		return FERRY_ENOMEM;
	if ((rc = fr_proxy_fan_take(px)))
		return fan_failed(f, rc);
	rc = q->h.opcode == FR_OP_NS_STAT
		 ? fr_ns_stat_start(px->fc, name, ns_stated, f)
		 : fr_ns_change_start(px->fc, q->h.opcode, name,
				      (unsigned)q->w[FR_NS_WHAT], &set,
				      ns_changed, f);
	if (rc)
		fr_proxy_fan_end(px);
	return rc ? fan_failed(f, rc) : 0;
}

/* An SSTAT under way for a function (the statistics first: the reply
 * fills them through the request's arg). */
struct psstat {
	ferry_server_stat st;
	fr_proxy *px;
	struct pconn *pc;
	uint64_t id;
};

static void sstat_done(ferry_client *c, struct req *r)
{
	struct psstat *p = r->arg;
	struct pconn *pc = p->pc;
	fr_proxy *px = p->px;
	fr_msg rep;

	if (!call_over(px, pc)) {
		/* nobody to tell */
	} else if (r->status) {
		reply_status(px, pc, FR_OP_SSTAT, p->id, r->status);
	} else {
		fr_msg_init(&rep, FR_OP_SSTAT, FR_F_REPLY, p->id);
		rep.w[FR_SSTAT_R_TOTAL] = p->st.mem_total;
		rep.w[FR_SSTAT_R_USED] = p->st.mem_used;
		rep.w[FR_SSTAT_R_KEYS] = p->st.keys;
		rep.w[FR_SSTAT_R_OPS] = p->st.ops;
		rep.w[FR_SSTAT_R_PEERS] = p->st.peers;
		rep.w[FR_SSTAT_R_ADDRLEN] = strlen(p->st.addr);
		rep.blob[0] = (const uint8_t *)p->st.addr;
		send_reply(px, pc, &rep, NULL);
	}
	free(p);
}

/* SSTAT: asked of the server without waiting; sstat_done answers. */
static int sstat(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	struct psstat *p;
	int rc;

	if (q->w[FR_SSTAT_INDEX] >= px->fc->npeers)
		return FERRY_EINVAL;
	if (!(p = calloc(1, sizeof(*p))))
		return FERRY_ENOMEM;
	p->px = px;
	p->pc = pc;
	p->id = q->h.id;
	fr_tenant_act(px, pc);
	pc->inflight++;
	rc = fr_server_stat_start(px->fc, (unsigned)q->w[FR_SSTAT_INDEX],
				  &p->st, sstat_done);
	if (rc) {
		pc->inflight--;
		free(p);
	}
	return rc;
}

static int local_op(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	fr_msg rep;

	fr_msg_init(&rep, q->h.opcode, FR_F_REPLY, q->h.id);
	switch (q->h.opcode) {
	case FR_OP_SSTAT:
		return sstat(px, pc, q);
	case FR_OP_PSTAT:
		rep.w[FR_PSTAT_R_FUNCTIONS] = px->nconns;
		rep.w[FR_PSTAT_R_ENDPOINTS] = 1;
		rep.w[FR_PSTAT_R_SERVERS] = px->fc->npeers;
		rep.w[FR_PSTAT_R_OPS] = px->ops;
		rep.w[FR_PSTAT_R_REGIONS] = px->nregions;
		rep.w[FR_PSTAT_R_CHANNELS] = px->nchannels;
		break;
	default:
		return FERRY_EPROTO;
	}
	send_reply(px, pc, &rep, NULL);
	return 0;
}

/* A function's watch: events go to it as EVENT frames under its own id. A
 * function that lets unread replies pile up (EVENTS_UNREAD bytes, some
 * 40000 events) loses events; it is told with a FERRY_EV_LOST event once
 * half of them are read. */

struct fsub {
	struct psub s;
	uint64_t id;
	int lost;
};

static void send_event(fr_proxy *px, struct pconn *pc, uint64_t id,
		       unsigned kind, const void *key, size_t klen)
{
	fr_msg ev;

	fr_msg_init(&ev, FR_OP_EVENT, 0, 0);
	ev.w[FR_EVENT_ID] = id;
	ev.w[FR_EVENT_KIND] = kind;
	ev.w[FR_EVENT_KLEN] = klen;
	ev.blob[0] = key;
	send_reply(px, pc, &ev, NULL);
}

static void fsub_deliver(fr_proxy *px, struct psub *s, const ferry_event *ev)
{
	struct fsub *f = (struct fsub *)s;

	if (s->pc->state == PC_DEAD)
		return;
	if (s->pc->wq_bytes > EVENTS_UNREAD) {
		f->lost = 1;
		s->pc->events_lost = 1; /* told when its replies drain */
		return;
	}
	if (f->lost || ev->kind == FERRY_EV_LOST) {
		f->lost = 0;
		send_event(px, s->pc, f->id, FERRY_EV_LOST, NULL, 0);
	}
	if (ev->kind != FERRY_EV_LOST)
		send_event(px, s->pc, f->id, ev->kind, ev->key, ev->klen);
}

/* The function reads again: each watch that lost events says so. */
static void tell_lost(fr_proxy *px, struct pconn *pc)
{
	pc->events_lost = 0;
	for (struct psub *s = pc->subs; s && pc->state != PC_DEAD;
	     s = s->conn_next) {
		struct fsub *f = (struct fsub *)s;
		if (f->lost) {
			f->lost = 0;
			send_event(px, pc, f->id, FERRY_EV_LOST, NULL, 0);
		}
	}
}

static void fsub_gone(struct psub *s)
{
	free(s);
}

/* Ends the function's watch id, if it has one. */
static void drop_watch(fr_proxy *px, struct pconn *pc, uint64_t id)
{
	for (struct psub *s = pc->subs; s; s = s->conn_next)
		if (((struct fsub *)s)->id == id) {
			fr_pwatch_del(px, s);
			fsub_gone(s);
			return;
		}
}

static int watch(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	struct fsub *f;
	int rc;

	/* An id the function already uses: the new watch replaces it, as
	 * at a server (a client registering again never duplicates). */
	drop_watch(px, pc, q->w[FR_WATCH_ID]);
	if (!(f = calloc(1, sizeof(*f))))
		return FERRY_ENOMEM;
	f->id = q->w[FR_WATCH_ID];
	f->s.pc = pc;
	f->s.deliver = fsub_deliver;
	f->s.gone = fsub_gone;
	rc = fr_pwatch_add(px, &f->s, q->blob[0], q->blen[0],
			   !!(q->h.flags & FR_F_EXACT));
	if (rc) {
		free(f);
		return rc;
	}
	reply_status(px, pc, FR_OP_WATCH, q->h.id, 0);
	return 0;
}

static int unwatch(fr_proxy *px, struct pconn *pc, const fr_msg *q)
{
	drop_watch(px, pc, q->w[FR_UNWATCH_ID]);
	reply_status(px, pc, FR_OP_UNWATCH, q->h.id, 0); /* gone either way */
	return 0;
}

/* FERRY_EACCES for a request pc may not make: anything but HELLO before
 * a HELLO with a token that opens something (tenant.c), and SSTAT or
 * managing namespaces for anyone but the admin. */
static int allowed(const struct pconn *pc, uint8_t opcode)
{
	if (opcode == FR_OP_HELLO || opcode == FR_OP_BYE)
		return 0;
	if (fr_op_admin(opcode))
		return pc->role == PR_ADMIN ? 0 : FERRY_EACCES;
	return pc->role == PR_NONE ? FERRY_EACCES : 0;
}

/* Keeps the request (its frame and its decoding, which points into it)
 * until the connection may go on: it reads nothing more meanwhile. */
static void park(fr_proxy *px, struct pconn *pc, const fr_msg *q,
		 uint8_t *frame, size_t len)
{
	pc->parked = frame;
	pc->parked_len = len;
	pc->parked_q = *q;
	fr_pconn_pause(px, pc);
}

/* Requests the proxy asks of the servers without waiting, in the room
 * that fan-outs share. */
static int fans_out(uint8_t opcode)
{
	return opcode == FR_OP_LIST || opcode == FR_OP_NS_CREATE ||
	       opcode == FR_OP_NS_SET || opcode == FR_OP_NS_DROP ||
	       opcode == FR_OP_NS_STAT || opcode == FR_OP_NS_LIST;
}

/* Carries out a valid request the connection may make (q points into
 * frame, which the budget counts), or parks it: a GET over the stream
 * that has no room for its answer yet, a fan-out (fans_out) while
 * fan-outs hold all their room, a HELLO while its token is being asked
 * about. */
static void serve(fr_proxy *px, struct pconn *pc, const fr_msg *qp,
		  uint8_t *frame, size_t len)
{
	fr_msg q = *qp;
	int rc = 0;

	if ((q.h.opcode == FR_OP_GET && !(q.h.flags & FR_F_RMA) &&
	     !get_fits(px, pc, get_piece(px, &q))) ||
	    (fans_out(q.h.opcode) && !fr_proxy_fan_room(px))) {
		park(px, pc, &q, frame, len);
		return;
	}
	switch (q.h.opcode) {
	case FR_OP_PUT:
	case FR_OP_GET:
	case FR_OP_DEL:
	case FR_OP_STAT:
	case FR_OP_INCR:
	case FR_OP_EXPIRE:
		rc = start_op(px, pc, &q, frame, len);
		frame = NULL;
		break;
	case FR_OP_ATTACH:
		rc = attach(px, pc, &q);
		break;
	case FR_OP_CHANNEL:
		rc = channel(px, pc, &q);
		break;
	case FR_OP_LIST:
		rc = list(px, pc, &q);
		break;
	case FR_OP_WATCH:
		rc = watch(px, pc, &q);
		break;
	case FR_OP_UNWATCH:
		rc = unwatch(px, pc, &q);
		break;
	case FR_OP_HELLO:
		rc = hello(px, pc, &q);
		if (rc == FR_LOGIN_ASKING) {
			park(px, pc, &q, frame, len);
			return;
		}
		break;
	case FR_OP_NS_CREATE:
	case FR_OP_NS_SET:
	case FR_OP_NS_DROP:
	case FR_OP_NS_STAT:
	case FR_OP_NS_LIST:
		rc = ns_op(px, pc, &q);
		break;
	case FR_OP_BYE:
		break;
	default:
		rc = local_op(px, pc, &q);
	}
	if (rc) {
		fr_tenant_seen(px, pc, rc);
		reply_status(px, pc, q.h.opcode, q.h.id, rc);
	}
	if (frame)
		fr_pconn_release(px, len);
	free(frame);
}

/* Handles one whole frame; frame is owned by the callee. */
static void on_frame(fr_proxy *px, struct pconn *pc, uint8_t *frame,
		     size_t len)
{
	const char *why = NULL;
	fr_msg q;
	int rc = fr_msg_decode(frame, len, &q, &why);

	if (!rc && (q.h.flags & FR_F_REPLY))
		rc = FERRY_EPROTO, why = "a reply sent to the proxy";
	if (!rc && q.h.ns)
		rc = FERRY_EPROTO, why = "a namespace in the header (a "
					 "function acts in its token's)";
	if (rc) {
		fr_pconn_release(px, len);
		free(frame);
		fr_pconn_kill(px, pc, why);
		return;
	}
	px->ops++;
	rc = allowed(pc, q.h.opcode);
	if (rc) {
		int fd = q.h.opcode == FR_OP_ATTACH ||
				 q.h.opcode == FR_OP_CHANNEL
			     ? take_fd(px, pc)
			     : -1;
		if (fd >= 0)
			close(fd); /* its memfd goes unused */
		reply_status(px, pc, q.h.opcode, q.h.id, rc);
		fr_pconn_release(px, len);
		free(frame);
		return;
	}
	serve(px, pc, &q, frame, len);
}

/* Serves the request that waited (fr_pconn_resume found it may go). */
static void unpark(fr_proxy *px, struct pconn *pc)
{
	fr_msg q = pc->parked_q;
	uint8_t *frame = pc->parked;

	size_t len = pc->parked_len;

	pc->parked = NULL;
	pc->parked_len = 0;
	serve(px, pc, &q, frame, len);
}

/* ---- reading -------------------------------------------------------------- */

static void take_fds(struct pconn *pc, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(cm);
		for (size_t i = 0; i < n; i++) {
			if (pc->nfds < PCONN_MAX_FDS)
				pc->fds[pc->nfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
}

/* The length of the frame at the front of rbuf, 0 if its header has not
 * arrived, or -1 if it announces more than this connection may send. */
static ssize_t frame_len(fr_proxy *px, struct pconn *pc)
{
	size_t max = FR_MSG_SIZE +
		     (pc->unix_mode ? 0 : (size_t)px->stream_max_value);
	size_t body;

	if (pc->rlen < FR_HDR_SIZE)
		return 0;
	body = fr_get_u32(pc->rbuf + 16);
	return FR_HDR_SIZE + body > max ? -1 : (ssize_t)(FR_HDR_SIZE + body);
}

/* The capacity rbuf needs before the next read: the whole frame whose
 * header is there, and at least FR_MSG_SIZE (a header and then some).
 * 0 when a whole frame is already there, or the buffer is big enough. */
static size_t rbuf_need(fr_proxy *px, struct pconn *pc)
{
	ssize_t want = frame_len(px, pc);
	size_t need;

	if (want > 0 && pc->rlen >= (size_t)want)
		return 0;
	need = FR_MAX(want > 0 ? (size_t)want : 0, (size_t)FR_MSG_SIZE);
	return need > pc->rcap ? need : 0;
}

/* Whether rbuf may grow to need bytes now. A connection without a buffer
 * may always take the smallest: requests that fit in one never wait
 * behind large values. */
static int rbuf_fits(const fr_proxy *px, const struct pconn *pc, size_t need)
{
	return (!pc->rcap && need <= FR_MSG_SIZE) ||
	       have_room(px, need - pc->rcap);
}

#define STALL_CHECK_NS 1000000000ull /* fr_pconn_stalls, while watching */

/* Bytes came (or reading resumes): a large frame's clock starts again,
 * and fr_pconn_stalls watches while one is pending. */
static void heard(fr_proxy *px, struct pconn *pc)
{
	pc->rx_ns = fr_now_ns();
	if (pc->rcap > FR_MSG_SIZE && !px->stall_ns)
		px->stall_ns = pc->rx_ns + STALL_CHECK_NS;
}

/* Grows rbuf to need bytes, taking the room from the budget first.
 * Returns 0, 1 when there is no room for now, or -1 when out of memory. */
int fr_pconn_reserve(fr_proxy *px, struct pconn *pc, size_t need)
{
	uint8_t *nb;

	if (!need)
		return 0;
	if (!rbuf_fits(px, pc, need))
		return 1;
	px->buffered += need - pc->rcap;
	nb = realloc(pc->rbuf, need);
	if (!nb) {
		px->buffered -= need - pc->rcap;
		return -1;
	}
	pc->rbuf = nb;
	pc->rcap = need;
	heard(px, pc);
	return 0;
}

/* Frees rbuf when it holds nothing, so an idle connection holds no room
 * in the budget. */
static void rbuf_drop_empty(fr_proxy *px, struct pconn *pc)
{
	if (pc->rlen || !pc->rbuf)
		return;
	free(pc->rbuf);
	pc->rbuf = NULL;
	fr_pconn_release(px, pc->rcap);
	pc->rcap = 0;
}

/* Takes the whole frame of want bytes off the front of rbuf. Its bytes
 * stay in the budget, held by the frame until it is done with. Returns
 * NULL when out of memory. */
static uint8_t *take_frame(fr_proxy *px, struct pconn *pc, size_t want)
{
	size_t rest = pc->rlen - want, cap = pc->rcap;
	uint8_t *frame, *nb = NULL;

	if (rest && want <= FR_MSG_SIZE) {
		/* A small frame among others: copy it out. */
		frame = malloc(want);
		if (!frame)
			return NULL;
		memcpy(frame, pc->rbuf, want);
		memmove(pc->rbuf, pc->rbuf + want, rest);
		pc->rlen = rest;
		px->buffered += want;
		return frame;
	}
	/* Alone, or a large frame (never copied): the buffer becomes the
	 * frame, and what follows it moves to a new buffer. */
	if (rest) {
		nb = malloc(FR_MAX(rest, (size_t)FR_MSG_SIZE));
		if (!nb)
			return NULL;
		memcpy(nb, pc->rbuf + want, rest);
	}
	frame = pc->rbuf;
	if (cap - want > FR_MSG_SIZE) { /* give back what it does not use */
		uint8_t *f = realloc(frame, want);
		frame = f ? f : frame;
	}
	pc->rbuf = nb;
	pc->rcap = nb ? FR_MAX(rest, (size_t)FR_MSG_SIZE) : 0;
	pc->rlen = rest;
	if (cap >= want + pc->rcap)
		fr_pconn_release(px, cap - want - pc->rcap);
	else
		px->buffered += want + pc->rcap - cap;
	return frame;
}

static void read_frames(fr_proxy *px, struct pconn *pc)
{
	for (int frames = 0;; ) {
		ssize_t want = frame_len(px, pc);
		int rc;

		if (want < 0) {
			fr_pconn_kill(px, pc, "frame longer than allowed");
			return;
		}
		if (pc->inflight >= px->o.conn_inflight ||
		    pc->wq_bytes > FR_PCONN_WQ_PAUSE ||
		    fr_tenant_hold(px, pc)) {
			fr_pconn_pause(px, pc);
			return;
		}
		if (want && pc->rlen >= (size_t)want) {
			uint8_t *frame;
			if (frames == FRAMES_PER_PASS) {
				/* Fairness: others get a turn. Whole frames
				 * already read will not wake epoll: note
				 * them. */
				fr_pconn_later(px, pc);
				return;
			}
			frame = take_frame(px, pc, (size_t)want);
			frames++;
			if (!frame) {
				fr_pconn_kill(px, pc, "out of memory");
				return;
			}
			on_frame(px, pc, frame, (size_t)want);
			if (pc->state != PC_OPEN)
				return;
			continue;
		}
		if (frames == FRAMES_PER_PASS)
			return;
		rc = fr_pconn_reserve(px, pc, rbuf_need(px, pc));
		if (rc < 0) {
			fr_pconn_kill(px, pc, "out of memory");
			return;
		}
		if (rc) {
			fr_pconn_pause(px, pc); /* no room in the budget yet */
			return;
		}
		if (fr_pconn_recv(px, pc) <= 0)
			return;
	}
}

/* Reads what the socket has, up to len bytes, and the memfds that ride
 * with them. Returns the bytes, 0 if none yet, or -1 if the connection
 * was killed. */
static ssize_t sock_recv(fr_proxy *px, struct pconn *pc, void *buf,
			 size_t len)
{
	char cbuf[CMSG_SPACE(PCONN_MAX_FDS * sizeof(int))];
	struct iovec iov = {buf, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (pc->unix_mode && !pc->resp) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
	}
	do
		n = recvmsg(pc->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n <= 0) {
		fr_pconn_kill(px, pc, NULL); /* the function went away */
		return -1;
	}
	if (mh.msg_controllen)
		take_fds(pc, &mh);
	return n;
}

/* A channel's socket: reads the function's bells (and memfds). Returns
 * 0, or -1 if the connection was killed. */
static int hear_bells(fr_proxy *px, struct pconn *pc)
{
	char buf[256];
	ssize_t n;

	while ((n = sock_recv(px, pc, buf, sizeof(buf))) > 0)
		;
	return n < 0 ? -1 : 0;
}

/* Takes what the request ring holds, as far as rbuf has room, and rings
 * the function if it waits for the room. */
static int chan_recv(fr_proxy *px, struct pconn *pc)
{
	ssize_t n = fr_pipe_read(&pc->creq, pc->rbuf + pc->rlen,
				 pc->rcap - pc->rlen);

	if (n < 0) {
		fr_pconn_kill(px, pc, "its channel's request index is out "
				      "of range");
		return -1;
	}
	if (n == 0) {
		rbuf_drop_empty(px, pc);
		return 0;
	}
	pc->rlen += (size_t)n;
	heard(px, pc);
	poll_start(px, pc);
	fr_chan_wake(pc->fd, &pc->chan->f_room, 1);
	return 1;
}

int fr_pconn_recv(fr_proxy *px, struct pconn *pc)
{
	ssize_t n;

	if (pc->chan)
		return chan_recv(px, pc);
	n = sock_recv(px, pc, pc->rbuf + pc->rlen, pc->rcap - pc->rlen);
	if (n <= 0) {
		if (n == 0)
			rbuf_drop_empty(px, pc);
		return (int)n;
	}
	pc->rlen += (size_t)n;
	heard(px, pc);
	return 1;
}

void fr_pconn_later(fr_proxy *px, struct pconn *pc)
{
	if (!pc->again) {
		pc->again = 1;
		px->again++;
	}
}

static void conn_read(fr_proxy *px, struct pconn *pc)
{
	if (pc->resp)
		fr_resp_read(px, pc);
	else
		read_frames(px, pc);
}

/* Whether paused pc still cannot go on: what it needs next (a request
 * slot, its replies read, its namespace back within its limits, room for
 * a parked GET or for the frame it is reading) is not there yet. */
static int still_waits(fr_proxy *px, struct pconn *pc)
{
	size_t need;

	if (pc->inflight >= px->o.conn_inflight ||
	    pc->wq_bytes > FR_PCONN_WQ_PAUSE || fr_tenant_hold(px, pc) ||
	    fr_tenant_asking(pc))
		return 1;
	if (pc->resp) /* the room its next request needs */
		return pc->resp->queued >= px->o.conn_inflight ||
		       (pc->resp->need > pc->rcap &&
			!rbuf_fits(px, pc, pc->resp->need));
	if (pc->parked) /* a GET, a fan-out, or a HELLO whose answer is in */
		return pc->parked_q.h.opcode == FR_OP_GET
			   ? !get_fits(px, pc, get_piece(px, &pc->parked_q))
			   : fans_out(pc->parked_q.h.opcode) &&
				 !fr_proxy_fan_room(px);
	if (frame_len(px, pc) < 0)
		return 0; /* read_frames drops it */
	need = rbuf_need(px, pc);
	return need && !rbuf_fits(px, pc, need);
}

/* Frees dead connections whose operations have all ended. Called between
 * loop passes only, so no caller is still holding one. */
void fr_pconn_sweep(fr_proxy *px)
{
	for (struct pconn *pc = px->conns, *next; pc && px->dead; pc = next) {
		next = pc->next;
		if (pc->state != PC_DEAD || pc->inflight)
			continue;
		px->dead--;
		conn_free(px, pc);
	}
}

/* A function that stops in the middle of a large frame, or trickles it,
 * would keep the room reserved for it from the others for good. Only a
 * connection being read, with more than the small buffer every
 * connection may have, is looked at: one that is paused waits for the
 * proxy, not the other way round. */
static int stalls(const struct pconn *pc)
{
	return pc->state == PC_OPEN && pc->rlen && pc->rcap > FR_MSG_SIZE;
}

int fr_pconn_stalls(fr_proxy *px)
{
	uint64_t now = fr_now_ns(), limit = px->o.frame_timeout_ms * 1000000;
	char why[96];

	if (!limit || !px->stall_ns)
		return -1;
	if (now < px->stall_ns)
		return (int)((px->stall_ns - now) / 1000000) + 1;
	snprintf(why, sizeof(why),
		 "no byte of a frame of more than %u bytes for %llu ms",
		 (unsigned)FR_MSG_SIZE,
		 (unsigned long long)px->o.frame_timeout_ms);
	px->stall_ns = 0; /* unless one is still to be watched */
	for (struct pconn *pc = px->conns, *next; pc; pc = next) {
		next = pc->next;
		if (!stalls(pc))
			continue;
		if (now - pc->rx_ns > limit)
			fr_pconn_kill(px, pc, why);
		else
			px->stall_ns = now + STALL_CHECK_NS;
	}
	return px->stall_ns ? (int)(STALL_CHECK_NS / 1000000) : -1;
}

/* Serves the frames that connections still hold from earlier passes. */
void fr_pconn_again(fr_proxy *px)
{
	for (struct pconn *pc = px->conns, *next; pc && px->again; pc = next) {
		next = pc->next;
		if (!pc->again)
			continue;
		pc->again = 0;
		px->again--;
		if (pc->state == PC_OPEN)
			conn_read(px, pc);
	}
}

void fr_pconn_event(fr_proxy *px, struct pconn *pc, uint32_t events)
{
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		fr_pconn_kill(px, pc, NULL);
		return;
	}
	if (pc->chan && (events & EPOLLIN)) {
		/* Bells: the function wrote requests, or took replies. */
		if (hear_bells(px, pc))
			return;
		poll_start(px, pc);
		fr_pconn_flush(px, pc);
	}
	if (events & EPOLLOUT)
		fr_pconn_flush(px, pc);
	if (pc->state == PC_OPEN && (events & EPOLLIN))
		conn_read(px, pc);
}

int fr_pconn_poll(fr_proxy *px, uint64_t idle_ns)
{
	uint64_t now = fr_now_ns();
	int busy = 0;

	for (struct pconn *pc = px->polled.head, *next; pc; pc = next) {
		ssize_t ready = fr_pipe_ready(&pc->creq, 0);
		next = pc->poll.next;
		if (ready == 0 && now - pc->chan_ns >= idle_ns) {
			poll_stop(px, pc);
			ready = fr_pipe_ready(&pc->creq, 0);
		}
		if (ready < 0) {
			fr_pconn_kill(px, pc, "its channel's request index is "
					      "out of range");
		} else if (ready > 0 && pc->state == PC_OPEN) {
			conn_read(px, pc);
			busy = 1;
		}
	}
	return busy;
}

/* Paused connections read again once what paused them has passed: called
 * by the loop (never under a caller that holds a connection) when
 * something was released. They are visited in the order they paused, so
 * the first to wait is the first served; one whose next need still does
 * not fit keeps its place, and those behind it may go. One pass: a
 * connection that pauses again meanwhile goes to the back of the queue
 * and waits for the next release. */
void fr_pconn_resume(fr_proxy *px)
{
	struct pconn *last = px->paused.tail, *next;

	px->wake = 0;
	for (struct pconn *pc = px->paused.head; pc; pc = next) {
		int end = pc == last;
		/* Serving pc touches no other connection: next stays. */
		next = pc->wait.next;
		if (!pc->closing && !still_waits(px, pc)) {
			list_del(&px->paused, pc);
			pc->state = PC_OPEN;
			heard(px, pc); /* its bytes were not read */
			set_events(px, pc);
			if (pc->parked)
				unpark(px, pc);
			if (pc->state == PC_OPEN)
				conn_read(px, pc);
		}
		if (end)
			break;
	}
}

void fr_pconn_accept(fr_proxy *px, int lfd, int unix_mode, int resp)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN};
		struct pconn *pc;
		int one = 1;

		if (fd < 0)
			return;
		pc = calloc(1, sizeof(*pc));
		if (!pc) {
			close(fd);
			continue;
		}
		if (!unix_mode)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		if (resp && !(pc->resp = calloc(1, sizeof(*pc->resp)))) {
			close(fd);
			free(pc);
			continue;
		}
		if (resp)
			pc->resp->id = ++px->resp_ids;
		/* A Redis client may run commands before any AUTH where the
		 * proxy needs no token; a function says HELLO first. */
		pc->role = resp && !px->o.admin_token ? PR_ADMIN : PR_NONE;
		pc->fd = fd;
		pc->unix_mode = unix_mode;
		pc->state = PC_OPEN;
		pc->events = EPOLLIN;
		ev.data.ptr = pc;
		if (epoll_ctl(px->epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(pc->resp);
			free(pc);
			continue;
		}
		pc->next = px->conns;
		if (px->conns)
			px->conns->prev = pc;
		px->conns = pc;
		px->nconns++;
	}
}

void fr_pconn_close_all(fr_proxy *px)
{
	for (struct pconn *pc = px->conns, *next; pc; pc = next) {
		next = pc->next;
		fr_pconn_kill(px, pc, NULL);
	}
}
