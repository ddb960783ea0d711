/*
 * The ferry wire protocol (docs/protocol.md is the prose version).
 *
 * Every message is a 32-byte header followed by a body: a fixed number of
 * little-endian u64 words for its opcode and direction, then up to two byte
 * blobs whose lengths are among those words. One table (wire.c) says how
 * many words each message has and which word gives each blob's length, so a
 * single decoder checks every length against the bytes actually received
 * before anything uses them.
 */
#ifndef FR_WIRE_H
#define FR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define FR_MAGIC 0x59525246u /* "FRRY" little-endian */
#define FR_VERSION 8 /* 2: proxy opcodes, SSTAT index, HELLO servers;
			  3: expiry, version conditions, EXPIRE;
			  4: namespaces, tokens in HELLO;
			  5: SHARE, the EQUOTA reply's word;
			  6: the HELLO reply's BOOT word;
			  7: CHANNEL;
			  8: the HELLO reply's FRESH word */
#define FR_HDR_SIZE 32
#define FR_MAX_WORDS 8
#define FR_MAX_BLOBS 2

/* Receive buffers are this big on both sides: the header, the words, two
 * keys and an inline value all fit. */
#define FR_MSG_SIZE (16 * 1024)
#define FR_INLINE_MAX 4096 /* default inline threshold (values <= inline) */

enum fr_opcode {
	FR_OP_HELLO = 1, /* words: addrlen toklen; blobs: client's fabric
			    address (empty to a proxy), token (may be
			    empty) */
	FR_OP_BYE,       /* forget the sender */
	FR_OP_PUT,       /* words: klen vlen raddr rkey expire ifver;
			    blobs: key [value] */
	FR_OP_GET,       /* words: klen offset len raddr rkey; blob: key */
	FR_OP_DEL,       /* words: klen ifver; blob: key */
	FR_OP_STAT,      /* words: klen; blob: key */
	FR_OP_INCR,      /* words: klen delta; blob: key */
	FR_OP_LIST,      /* words: plen alen max; blobs: prefix after */
	FR_OP_SSTAT,     /* words: index; statistics of server #index (a
			    server answers for itself, a proxy for its
			    index-th server) */
	FR_OP_ATTACH,    /* proxy only: words: size; a memfd rides along
			    (SCM_RIGHTS) to become a shared region */
	FR_OP_PSTAT,     /* proxy only: the proxy's own counters */
	FR_OP_EXPIRE,    /* words: klen expire cond; blob: key */
	FR_OP_WATCH,     /* words: plen id; blob: prefix (with FR_F_EXACT:
			    the key itself). Events of keys it matches go
			    to the sender as EVENT messages under id, an
			    id the sender chose */
	FR_OP_UNWATCH,   /* words: id */
	FR_OP_EVENT,     /* to a watcher, unsolicited (never a reply):
			    words: id kind klen; blob: key (empty only for
			    kind FERRY_EV_LOST) */
	/* Namespaces (ns.h): from admin peers only. A server keeps its own
	 * table; libferry sends each change to every server. */
	FR_OP_NS_CREATE, /* words: nlen tlen id quota share expire ops bytes;
			    blobs: name token */
	FR_OP_NS_SET,    /* words: nlen what quota share expire ops bytes;
			    blob: name; what: FERRY_NS_SET_* bits */
	FR_OP_NS_DROP,   /* words: nlen; blob: name */
	FR_OP_NS_STAT,   /* words: nlen; blob: name */
	FR_OP_NS_LIST,   /* words: alen max; blob: the name to list after;
			    reply as LIST's (FR_F_MORE) */
	FR_OP_NS_AUTH,   /* words: tlen; blob: a token: which namespace it
			    opens (a proxy asks for its functions); an
			    empty one: the default namespace */
	FR_OP_SHARE,     /* words: take give: moves quota share of the
			    sender's namespace (the admin's: the header's)
			    between servers; reply: moved */
	FR_OP_CHANNEL,   /* proxy only, Unix socket: words: size; a memfd
			    rides along: frames go through it from the
			    reply on (common/chan.h) */
	FR_OP_COUNT
};

/* Header flags. */
#define FR_F_REPLY 0x01   /* a reply, not a request */
#define FR_F_INLINE 0x02  /* PUT: value follows the key in the message */
#define FR_F_RMA 0x04     /* PUT/GET: value moves by RMA at raddr/rkey */
#define FR_F_CREATE 0x08  /* PUT: only if the key does not exist */
#define FR_F_REPLACE 0x10 /* PUT: only if the key exists */
#define FR_F_MORE 0x20    /* LIST reply: more keys may follow */
#define FR_F_KEEPTTL 0x40 /* PUT: a replaced value's expiry carries over */
#define FR_F_TEXT 0x80    /* INCR: the counter is decimal text */
#define FR_F_EXACT 0x100  /* WATCH: the blob is a whole key, not a prefix */
#define FR_F_AS_APPEND 0x200   /* PUT: watchers see FERRY_EV_APPEND */
#define FR_F_AS_SETRANGE 0x400 /* PUT: watchers see FERRY_EV_SETRANGE */
#define FR_F_KNOWN 0x7ff

/* EXPIRE conditions (the request's cond word): the same bits as
 * FERRY_EXPIRE_*. NX excludes the others, GT excludes LT. */
#define FR_EXPIRE_NX 0x1
#define FR_EXPIRE_XX 0x2
#define FR_EXPIRE_GT 0x4
#define FR_EXPIRE_LT 0x8
#define FR_EXPIRE_KNOWN 0xf

/* 1 if cond is a valid set of EXPIRE conditions. */
static inline int fr_expire_cond_ok(uint64_t cond)
{
	if (cond & ~(uint64_t)FR_EXPIRE_KNOWN)
		return 0;
	if ((cond & FR_EXPIRE_NX) && (cond & ~(uint64_t)FR_EXPIRE_NX))
		return 0;
	return (cond & (FR_EXPIRE_GT | FR_EXPIRE_LT)) !=
	       (FR_EXPIRE_GT | FR_EXPIRE_LT);
}

/* 1 for the namespace opcodes. */
static inline int fr_op_ns(unsigned opcode)
{
	return opcode >= FR_OP_NS_CREATE && opcode <= FR_OP_NS_AUTH;
}

/* 1 for what only an admin may ask: the namespace opcodes and a server's
 * statistics. */
static inline int fr_op_admin(unsigned opcode)
{
	return opcode == FR_OP_SSTAT || fr_op_ns(opcode);
}

/* Word indices, per message. */
enum { FR_WATCH_PLEN, FR_WATCH_ID };
enum { FR_UNWATCH_ID };
enum { FR_EVENT_ID, FR_EVENT_KIND, FR_EVENT_KLEN }; /* kind: FERRY_EV_* */
enum { FR_HELLO_ADDRLEN, FR_HELLO_TOKLEN };
/* BOOT: a server's random number for this run of its process (a proxy
 * answers 0): another number means it restarted and forgot its peers.
 * FRESH: 1 if the server holds none of the sender's watches because it
 * did not know the sender before this HELLO, or dropped them since its
 * last HELLO (a proxy answers 0). */
enum { FR_HELLO_R_INLINE, FR_HELLO_R_KEYMAX, FR_HELLO_R_VALMAX,
       FR_HELLO_R_SERVERS, FR_HELLO_R_BOOT, FR_HELLO_R_FRESH };
/* Expiry words hold ms since the Unix epoch on the server's clock, 0 =
 * never; IFVER words hold a version the key must have, 0 = any. */
enum { FR_PUT_KLEN, FR_PUT_VLEN, FR_PUT_RADDR, FR_PUT_RKEY, FR_PUT_EXPIRE,
       FR_PUT_IFVER };
enum { FR_PUT_R_VERSION };
enum { FR_GET_KLEN, FR_GET_OFFSET, FR_GET_LEN, FR_GET_RADDR, FR_GET_RKEY };
enum { FR_GET_R_SIZE, FR_GET_R_CTIME, FR_GET_R_VERSION, FR_GET_R_EXPIRE,
       FR_GET_R_GOT };
enum { FR_KEY_KLEN };       /* STAT */
enum { FR_DEL_KLEN, FR_DEL_IFVER };
enum { FR_EXPIRE_KLEN, FR_EXPIRE_EXPIRE, FR_EXPIRE_COND };
enum { FR_EXPIRE_R_CHANGED }; /* 1 if the expiry was set or the key
				 deleted, 0 if a condition stopped it */
enum { FR_INCR_KLEN, FR_INCR_DELTA };
enum { FR_INCR_R_VALUE };
enum { FR_LIST_PLEN, FR_LIST_ALEN, FR_LIST_MAX };
enum { FR_LIST_R_COUNT, FR_LIST_R_BYTES }; /* blob: count x (u16 len, key) */
enum { FR_SSTAT_INDEX };
enum { FR_SSTAT_R_TOTAL, FR_SSTAT_R_USED, FR_SSTAT_R_KEYS, FR_SSTAT_R_OPS,
       FR_SSTAT_R_PEERS, FR_SSTAT_R_ADDRLEN }; /* blob: the server's address */
enum { FR_ATTACH_SIZE };
enum { FR_ATTACH_R_REGION };
enum { FR_CHANNEL_SIZE };
enum { FR_PSTAT_R_FUNCTIONS, FR_PSTAT_R_ENDPOINTS, FR_PSTAT_R_SERVERS,
       FR_PSTAT_R_OPS, FR_PSTAT_R_REGIONS, FR_PSTAT_R_CHANNELS };
/* STAT replies use the GET reply words SIZE, CTIME, VERSION, EXPIRE. */
/* Namespaces. quota is the whole namespace's, share the part of it this
 * server holds (quota / servers, rounded up); expire is ms since the epoch
 * (0: never); ops and bytes are the per-second limits proxies enforce (0:
 * none). */
enum { FR_NS_NLEN, FR_NS_TLEN, FR_NS_ID, FR_NS_QUOTA, FR_NS_SHARE,
       FR_NS_EXPIRE, FR_NS_OPS, FR_NS_BYTES };
/* NS_SET uses the same words but FR_NS_TLEN holds the what bits. */
#define FR_NS_WHAT FR_NS_TLEN
enum { FR_NS_R_ID, FR_NS_R_QUOTA, FR_NS_R_EXPIRE, FR_NS_R_OPS,
       FR_NS_R_BYTES, FR_NS_R_USED, FR_NS_R_KEYS, FR_NS_R_TOKLEN };
/* NS_CREATE replies carry the token (blob; a proxy's reply to a function
 * that asked it to create), NS_STAT and NS_AUTH replies the R words
 * (NS_STAT through a proxy: summed over the servers). */
enum { FR_NSLIST_ALEN, FR_NSLIST_MAX };
enum { FR_NSAUTH_TLEN };
/* An EQUOTA reply to a PUT or INCR says by how many bytes it would pass
 * this server's share. SHARE gives up to `take` bytes of the share that
 * this server's keys do not use (reply: how many it gave), or adds `give`
 * bytes to it (reply: give). A namespace without a quota moves nothing. */
enum { FR_EQUOTA_R_OVER };
enum { FR_SHARE_TAKE, FR_SHARE_GIVE };
enum { FR_SHARE_R_MOVED };

typedef struct fr_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t opcode;
	uint16_t flags;
	uint64_t id;       /* request id, echoed by the reply */
	uint32_t body_len; /* bytes after the header */
	int32_t status;    /* replies: 0 or FERRY_E*; requests: 0 */
	uint64_t ns;       /* requests from a proxy or an admin: the
			      namespace they act in (0: the default one) */
} fr_hdr;

/* A decoded message. Blobs point into the buffer it was decoded from. */
typedef struct fr_msg {
	fr_hdr h;
	uint64_t w[FR_MAX_WORDS];
	const uint8_t *blob[FR_MAX_BLOBS];
	uint64_t blen[FR_MAX_BLOBS];
} fr_msg;

/* Prepares m as a request (or, with FR_F_REPLY in flags, a reply) with all
 * words and blobs empty. */
void fr_msg_init(fr_msg *m, uint8_t opcode, uint16_t flags, uint64_t id);

/* Encodes m into buf. The blob lengths are taken from the words the table
 * names (the caller sets both). Error replies (status != 0) carry no body.
 * Returns the message length, or 0 if it does not fit in cap. */
size_t fr_msg_encode(const fr_msg *m, void *buf, size_t cap);

/* Like fr_msg_encode, but leaves out the bytes of the last blob present:
 * they follow the head on the stream (writev), so a large value is never
 * copied into a frame. *tail and *tail_len receive that blob. Returns the
 * head's length, or 0 if it does not fit in cap. */
size_t fr_msg_encode_head(const fr_msg *m, void *buf, size_t cap,
			  const uint8_t **tail, size_t *tail_len);

/* Decodes len bytes into m and checks everything that does not depend on the
 * server's configuration: magic, version, opcode, flags, body length against
 * len, word count, every blob length against the bytes present, key lengths
 * (1..FERRY_KEY_MAX). Returns 0, or FERRY_EPROTO with *why (may be NULL) set
 * to a static reason. */
int fr_msg_decode(const void *buf, size_t len, fr_msg *m, const char **why);

/* 1 if requests of opcode carry one key as blob 0 (PUT, GET, DEL, STAT,
 * INCR, EXPIRE). */
int fr_op_keyed(unsigned opcode);

/* Name of an opcode for logs ("PUT"), or "?". */
const char *fr_op_name(unsigned opcode);

/* Packs one key into a LIST reply blob at buf (u16 length + bytes). Returns
 * bytes written, 0 if it does not fit in cap. */
size_t fr_list_pack(void *buf, size_t cap, const void *key, size_t klen);

/* A LIST reply blob being filled: at most max keys into buf[0..cap). */
typedef struct fr_list_page {
	uint8_t *buf;
	size_t cap, used;
	uint32_t count, max;
	int more; /* a key did not fit: more may follow */
} fr_list_page;

/* Adds a key to p. Returns 0, or 1 (and sets more) when the page is full:
 * the shape of an index scan's callback result. */
int fr_list_page_add(fr_list_page *p, const void *key, size_t klen);

/* Walks a LIST reply blob: on success stores the next key in *key and *klen,
 * advances *off and returns 1; returns 0 at the end and FERRY_EPROTO when
 * an entry runs past the blob. */
int fr_list_next(const uint8_t *blob, size_t blen, size_t *off,
		 const uint8_t **key, size_t *klen);

#endif
