/* Channel rings (chan.h). */
#include <string.h>
#include <sys/socket.h>

#include "common/chan.h"

void fr_chan_pipes(struct fr_chan_mem *m, int proxy, fr_pipe *out, fr_pipe *in)
{
	uint8_t *req = (uint8_t *)m + FR_CHAN_HEAD, *rep = req + FR_CHAN_RING;

	if (proxy) {
		*out = (fr_pipe){&m->rep_tail, &m->rep_head, 0, rep};
		*in = (fr_pipe){&m->req_head, &m->req_tail, 0, req};
	} else {
		*out = (fr_pipe){&m->req_tail, &m->req_head, 0, req};
		*in = (fr_pipe){&m->rep_head, &m->rep_tail, 0, rep};
	}
}

ssize_t fr_pipe_ready(const fr_pipe *p, int writer)
{
	uint64_t theirs = atomic_load_explicit(p->theirs, memory_order_acquire);
	uint64_t used = writer ? p->pos - theirs : theirs - p->pos;

	if (used > FR_CHAN_RING)
		return -1;
	return (ssize_t)(writer ? FR_CHAN_RING - used : used);
}

/* Moves n bytes between buf and the ring at p->pos (which wraps). */
static void move(fr_pipe *p, void *buf, size_t n, int writer)
{
	size_t at = (size_t)(p->pos % FR_CHAN_RING);
	size_t first = n < FR_CHAN_RING - at ? n : FR_CHAN_RING - at;
	uint8_t *b = buf;

	if (writer) {
		memcpy(p->data + at, b, first);
		memcpy(p->data, b + first, n - first);
	} else {
		memcpy(b, p->data + at, first);
		memcpy(b + first, p->data, n - first);
	}
	p->pos += n;
	atomic_store_explicit(p->mine, p->pos, memory_order_release);
}

static ssize_t transfer(fr_pipe *p, void *buf, size_t n, int writer)
{
	ssize_t ready = fr_pipe_ready(p, writer);

	if (ready <= 0)
		return ready;
	if (n > (size_t)ready)
		n = (size_t)ready;
	if (n)
		move(p, buf, n, writer);
	return (ssize_t)n;
}

ssize_t fr_pipe_write(fr_pipe *p, const void *buf, size_t n)
{
	return transfer(p, (void *)buf, n, 1);
}

ssize_t fr_pipe_read(fr_pipe *p, void *buf, size_t n)
{
	return transfer(p, buf, n, 0);
}

void fr_chan_fence(_Atomic uint32_t *flag, uint32_t v)
{
	atomic_store_explicit(flag, v, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
}

void fr_chan_wake(int fd, _Atomic uint32_t *flag, uint32_t when)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(flag, memory_order_relaxed) == when)
		send(fd, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}
