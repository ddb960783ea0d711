/*
 * A channel: the byte streams between a function and its node proxy,
 * moved from the Unix socket into a memfd both map (protocol version 7,
 * CHANNEL). Each direction is a single-producer, single-consumer ring of
 * FR_CHAN_RING bytes carrying exactly the frames the socket would carry,
 * so a request and its reply cross without a system call while the other
 * side polls.
 *
 * Each side says whether it polls (f_polls, p_polls) and whether it waits
 * for room in the ring it writes (f_room, p_room). A side that publishes
 * bytes its reader does not poll for, or frees room its writer waits for,
 * rings it: one byte on the socket, which a side that stops polling
 * sleeps on. Setting a flag, a full fence, then looking at the ring again
 * (fr_chan_fence) on one side, against publishing, a full fence, then
 * reading the flag on the other, means one of the two always sees the
 * other: no wake-up is lost. The socket also carries memfds (ATTACH) and
 * tells either side when the other is gone.
 *
 * The function is not trusted: the proxy keeps its own copy of the index
 * it moves, checks the function's before using it (a ring cannot hold
 * more than FR_CHAN_RING bytes), and copies bytes out before reading them
 * as a frame. A function that scribbles over the memory only garbles its
 * own requests and replies.
 */
#ifndef FR_CHAN_H
#define FR_CHAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FR_CHAN_RING (32u << 10) /* bytes per direction */
#define FR_CHAN_HEAD 4096u	 /* struct fr_chan_mem, then the rings */
#define FR_CHAN_SIZE (FR_CHAN_HEAD + 2 * FR_CHAN_RING) /* the memfd's size */

/* The first page of the memfd; the request ring follows at FR_CHAN_HEAD,
 * then the reply ring. Each index counts bytes since the channel opened. */
struct fr_chan_mem {
	_Alignas(64) _Atomic uint64_t req_tail; /* the function's */
	_Alignas(64) _Atomic uint64_t req_head; /* the proxy's */
	_Alignas(64) _Atomic uint64_t rep_tail; /* the proxy's */
	_Alignas(64) _Atomic uint64_t rep_head; /* the function's */
	_Alignas(64) _Atomic uint32_t f_polls;	/* the function polls rep */
	_Atomic uint32_t f_room;		/* it waits for room in req */
	_Alignas(64) _Atomic uint32_t p_polls;	/* the proxy polls req */
	_Atomic uint32_t p_room;		/* it waits for room in rep */
};
_Static_assert(sizeof(struct fr_chan_mem) <= FR_CHAN_HEAD,
	       "the channel's flags must fit before its rings");

/* One direction as one side sees it. */
typedef struct fr_pipe {
	_Atomic uint64_t *mine;	  /* the index this side moves */
	_Atomic uint64_t *theirs; /* the other side's: checked before use */
	uint64_t pos;		  /* this side's index: its own copy */
	uint8_t *data;
} fr_pipe;

/* The pipes of a fresh channel at m: the function writes req and reads
 * rep; the proxy (proxy != 0) the other way round. */
void fr_chan_pipes(struct fr_chan_mem *m, int proxy, fr_pipe *out, fr_pipe *in);

/* Bytes a reader may take, or room a writer has; -1 if the other side's
 * index is impossible. */
ssize_t fr_pipe_ready(const fr_pipe *p, int writer);

/* Copies up to n bytes in (writer) or out (reader) and publishes the
 * move. Returns the bytes moved (0: full, or empty), or -1 as above. */
ssize_t fr_pipe_write(fr_pipe *p, const void *buf, size_t n);
ssize_t fr_pipe_read(fr_pipe *p, void *buf, size_t n);

/* Stores v in flag, then a full fence: what a side does before it looks
 * at a ring again and decides to sleep. */
void fr_chan_fence(_Atomic uint32_t *flag, uint32_t v);

/* What a side does after publishing bytes, or room: a full fence, then,
 * if the other side's flag says when (it does not poll, or waits for
 * room), rings it with one byte on the socket fd. A socket full of such
 * bytes has rung already. */
void fr_chan_wake(int fd, _Atomic uint32_t *flag, uint32_t when);

#endif
