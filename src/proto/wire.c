#include "proto/wire.h"

#include <string.h>

#include "common/le.h"
#include "ferry.h"

/* The shape of each message: how many words, and which word holds the
 * length of each blob (-1: no such blob). `keyed` marks blob 0 as a key
 * (1..FERRY_KEY_MAX bytes); `key2` marks both blobs as optional keys
 * (0..FERRY_KEY_MAX each: a LIST's prefix and cursor, a WATCH's prefix,
 * an EVENT's key, empty only for LOST). A PUT's value blob is present
 * only with FR_F_INLINE. */
struct shape {
	uint8_t words;
	int8_t blob_word[FR_MAX_BLOBS];
	uint8_t keyed;
	uint8_t key2;
};

#define NOBLOB {-1, -1}
static const struct {
	const char *name;
	struct shape req, rep;
} table[FR_OP_COUNT] = {
	[FR_OP_HELLO] = {"HELLO",
			 {2, {FR_HELLO_ADDRLEN, FR_HELLO_TOKLEN}, 0, 0},
			 {6, NOBLOB, 0, 0}},
	[FR_OP_BYE] = {"BYE", {0, NOBLOB, 0, 0}, {0, NOBLOB, 0, 0}},
	[FR_OP_PUT] = {"PUT", {6, {FR_PUT_KLEN, FR_PUT_VLEN}, 1, 0},
		       {1, NOBLOB, 0, 0}},
	[FR_OP_GET] = {"GET", {5, {FR_GET_KLEN, -1}, 1, 0},
		       {5, {FR_GET_R_GOT, -1}, 0, 0}},
	[FR_OP_DEL] = {"DEL", {2, {FR_DEL_KLEN, -1}, 1, 0}, {0, NOBLOB, 0, 0}},
	[FR_OP_STAT] = {"STAT", {1, {FR_KEY_KLEN, -1}, 1, 0},
			{4, NOBLOB, 0, 0}},
	[FR_OP_INCR] = {"INCR", {2, {FR_INCR_KLEN, -1}, 1, 0},
			{1, NOBLOB, 0, 0}},
	[FR_OP_LIST] = {"LIST", {3, {FR_LIST_PLEN, FR_LIST_ALEN}, 0, 1},
			{2, {FR_LIST_R_BYTES, -1}, 0, 0}},
	[FR_OP_SSTAT] = {"SSTAT", {1, NOBLOB, 0, 0},
			 {6, {FR_SSTAT_R_ADDRLEN, -1}, 0, 0}},
	[FR_OP_ATTACH] = {"ATTACH", {1, NOBLOB, 0, 0}, {1, NOBLOB, 0, 0}},
	[FR_OP_PSTAT] = {"PSTAT", {0, NOBLOB, 0, 0}, {6, NOBLOB, 0, 0}},
	[FR_OP_EXPIRE] = {"EXPIRE", {3, {FR_EXPIRE_KLEN, -1}, 1, 0},
			  {1, NOBLOB, 0, 0}},
	[FR_OP_WATCH] = {"WATCH", {2, {FR_WATCH_PLEN, -1}, 0, 1},
			 {0, NOBLOB, 0, 0}},
	[FR_OP_UNWATCH] = {"UNWATCH", {1, NOBLOB, 0, 0}, {0, NOBLOB, 0, 0}},
	[FR_OP_EVENT] = {"EVENT", {3, {FR_EVENT_KLEN, -1}, 0, 1},
			 {0, NOBLOB, 0, 0}},
	[FR_OP_NS_CREATE] = {"NS_CREATE", {8, {FR_NS_NLEN, FR_NS_TLEN}, 0, 0},
			     {8, {FR_NS_R_TOKLEN, -1}, 0, 0}},
	[FR_OP_NS_SET] = {"NS_SET", {8, {FR_NS_NLEN, -1}, 0, 0},
			  {0, NOBLOB, 0, 0}},
	[FR_OP_NS_DROP] = {"NS_DROP", {1, {FR_NS_NLEN, -1}, 0, 0},
			   {0, NOBLOB, 0, 0}},
	[FR_OP_NS_STAT] = {"NS_STAT", {1, {FR_NS_NLEN, -1}, 0, 0},
			   {8, {FR_NS_R_TOKLEN, -1}, 0, 0}},
	[FR_OP_NS_LIST] = {"NS_LIST", {2, {FR_NSLIST_ALEN, -1}, 0, 0},
			   {2, {FR_LIST_R_BYTES, -1}, 0, 0}},
	[FR_OP_NS_AUTH] = {"NS_AUTH", {1, {FR_NSAUTH_TLEN, -1}, 0, 0},
			   {8, {FR_NS_R_TOKLEN, -1}, 0, 0}},
	[FR_OP_SHARE] = {"SHARE", {2, NOBLOB, 0, 0}, {1, NOBLOB, 0, 0}},
	[FR_OP_CHANNEL] = {"CHANNEL", {1, NOBLOB, 0, 0}, {0, NOBLOB, 0, 0}},
};

const char *fr_op_name(unsigned opcode)
{
	if (opcode == 0 || opcode >= FR_OP_COUNT)
		return "?";
	return table[opcode].name;
}

int fr_op_keyed(unsigned opcode)
{
	return opcode > 0 && opcode < FR_OP_COUNT && table[opcode].req.keyed;
}

/* A blob is absent when the message carries no such blob, or for a PUT's
 * value and a GET reply's data when they travel by RMA instead. */
static int blob_present(const struct shape *s, const fr_msg *m, int i)
{
	if (s->blob_word[i] < 0)
		return 0;
	if (m->h.opcode == FR_OP_PUT && i == 1)
		return !!(m->h.flags & FR_F_INLINE);
	if (m->h.opcode == FR_OP_GET && (m->h.flags & FR_F_REPLY))
		return !(m->h.flags & FR_F_RMA);
	return 1;
}

static const struct shape *shape_of(const fr_msg *m)
{
	return m->h.flags & FR_F_REPLY ? &table[m->h.opcode].rep
				       : &table[m->h.opcode].req;
}

/* An error reply is a bare header, but EQUOTA's, which carries how far
 * over the share the request was (FR_EQUOTA_R_OVER). */
static int err_words(const fr_msg *m)
{
	return m->h.status == FERRY_EQUOTA;
}

void fr_msg_init(fr_msg *m, uint8_t opcode, uint16_t flags, uint64_t id)
{
	memset(m, 0, sizeof(*m));
	m->h.magic = FR_MAGIC;
	m->h.version = FR_VERSION;
	m->h.opcode = opcode;
	m->h.flags = flags;
	m->h.id = id;
}

/* Encodes the header, the words and the blobs before blob `stop` (all of
 * them when stop is FR_MAX_BLOBS); the header's length counts them all. */
static size_t encode(const fr_msg *m, void *buf, size_t cap, int stop)
{
	const struct shape *s = shape_of(m);
	uint8_t *p = buf;
	size_t body = 0, left_out = 0;
	int words = err_words(m);

	if (m->h.status) {
		body = (size_t)words * 8;
	} else {
		words = s->words;
		body = (size_t)s->words * 8;
		for (int i = 0; i < FR_MAX_BLOBS; i++)
			if (blob_present(s, m, i)) {
				body += m->w[s->blob_word[i]];
				if (i >= stop)
					left_out += m->w[s->blob_word[i]];
			}
	}
	if (FR_HDR_SIZE + body - left_out > cap || body > UINT32_MAX)
		return 0;
	fr_put_u32(p, m->h.magic);
	p[4] = m->h.version;
	p[5] = m->h.opcode;
	fr_put_u16(p + 6, m->h.flags);
	fr_put_u64(p + 8, m->h.id);
	fr_put_u32(p + 16, (uint32_t)body);
	fr_put_u32(p + 20, (uint32_t)m->h.status);
	fr_put_u64(p + 24, m->h.ns);
	if (!body)
		return FR_HDR_SIZE;
	p += FR_HDR_SIZE;
	for (int i = 0; i < words; i++, p += 8)
		fr_put_u64(p, m->w[i]);
	for (int i = 0; i < stop && !m->h.status; i++) {
		if (!blob_present(s, m, i))
			continue;
		uint64_t n = m->w[s->blob_word[i]];
		if (n)
			memcpy(p, m->blob[i], n);
		p += n;
	}
	return FR_HDR_SIZE + body - left_out;
}

size_t fr_msg_encode(const fr_msg *m, void *buf, size_t cap)
{
	return encode(m, buf, cap, FR_MAX_BLOBS);
}

size_t fr_msg_encode_head(const fr_msg *m, void *buf, size_t cap,
			  const uint8_t **tail, size_t *tail_len)
{
	const struct shape *s = shape_of(m);
	int last = -1;

	for (int i = 0; m->h.status == 0 && i < FR_MAX_BLOBS; i++)
		if (blob_present(s, m, i))
			last = i;
	*tail = last < 0 ? NULL : m->blob[last];
	*tail_len = last < 0 ? 0 : m->w[s->blob_word[last]];
	return encode(m, buf, cap, last < 0 ? FR_MAX_BLOBS : last);
}

#define FAIL(reason)                                                           \
	do {                                                                   \
		if (why)                                                       \
			*why = (reason);                                       \
		return FERRY_EPROTO;                                           \
	} while (0)

int fr_msg_decode(const void *buf, size_t len, fr_msg *m, const char **why)
{
	const uint8_t *p = buf;
	const struct shape *s;
	uint64_t left;

	memset(m, 0, sizeof(*m));
	if (len < FR_HDR_SIZE)
		FAIL("message shorter than the header");
	m->h.magic = fr_get_u32(p);
	m->h.version = p[4];
	m->h.opcode = p[5];
	m->h.flags = fr_get_u16(p + 6);
	m->h.id = fr_get_u64(p + 8);
	m->h.body_len = fr_get_u32(p + 16);
	m->h.status = (int32_t)fr_get_u32(p + 20);
	m->h.ns = fr_get_u64(p + 24);
	if (m->h.magic != FR_MAGIC)
		FAIL("bad magic");
	if (m->h.version != FR_VERSION)
		FAIL("unsupported protocol version");
	if (m->h.opcode == 0 || m->h.opcode >= FR_OP_COUNT)
		FAIL("unknown opcode");
	if (m->h.flags & ~FR_F_KNOWN)
		FAIL("unknown flags");
	if (m->h.body_len != len - FR_HDR_SIZE)
		FAIL("body length does not match the message");
	if (m->h.status != 0) {
		if (!(m->h.flags & FR_F_REPLY) ||
		    m->h.body_len != (uint32_t)err_words(m) * 8)
			FAIL("status on a request, or body on an error reply");
		for (int i = 0; i < err_words(m); i++)
			m->w[i] = fr_get_u64(p + FR_HDR_SIZE + 8 * i);
		return 0;
	}
	s = shape_of(m);
	left = m->h.body_len;
	if (left < (uint64_t)s->words * 8)
		FAIL("body shorter than its fixed words");
	p += FR_HDR_SIZE;
	for (int i = 0; i < s->words; i++, p += 8)
		m->w[i] = fr_get_u64(p);
	left -= (uint64_t)s->words * 8;
	for (int i = 0; i < FR_MAX_BLOBS; i++) {
		if (!blob_present(s, m, i))
			continue;
		uint64_t n = m->w[s->blob_word[i]];
		if (n > left)
			FAIL("blob length runs past the message");
		m->blob[i] = p;
		m->blen[i] = n;
		p += n;
		left -= n;
	}
	if (left)
		FAIL("trailing bytes after the body");
	if (s->keyed && (m->blen[0] < 1 || m->blen[0] > FERRY_KEY_MAX))
		FAIL("key length outside 1..1024");
	if (s->key2 && (m->blen[0] > FERRY_KEY_MAX || m->blen[1] > FERRY_KEY_MAX))
		FAIL("prefix or cursor longer than 1024");
	if ((m->h.flags & (FR_F_CREATE | FR_F_REPLACE)) ==
	    (FR_F_CREATE | FR_F_REPLACE))
		FAIL("create-only and replace-only together");
	if ((m->h.flags & FR_F_INLINE) && (m->h.flags & FR_F_RMA))
		FAIL("inline and RMA together");
	if (m->h.opcode == FR_OP_EXPIRE && !(m->h.flags & FR_F_REPLY) &&
	    !fr_expire_cond_ok(m->w[FR_EXPIRE_COND]))
		FAIL("unknown or contradictory EXPIRE conditions");
	if (m->h.opcode == FR_OP_EVENT && !(m->h.flags & FR_F_REPLY)) {
		if (m->w[FR_EVENT_KIND] < FERRY_EV_SET ||
		    m->w[FR_EVENT_KIND] > FERRY_EV_SETRANGE)
			FAIL("unknown event kind");
		if ((m->blen[0] == 0) != (m->w[FR_EVENT_KIND] == FERRY_EV_LOST))
			FAIL("event key missing, or given with LOST");
	}
	return 0;
}

size_t fr_list_pack(void *buf, size_t cap, const void *key, size_t klen)
{
	if (klen > UINT16_MAX || 2 + klen > cap)
		return 0;
	fr_put_u16(buf, (uint16_t)klen);
	memcpy((uint8_t *)buf + 2, key, klen);
	return 2 + klen;
}

int fr_list_page_add(fr_list_page *p, const void *key, size_t klen)
{
	size_t n;

	if (p->count == p->max ||
	    !(n = fr_list_pack(p->buf + p->used, p->cap - p->used, key, klen))) {
		p->more = 1;
		return 1;
	}
	p->used += n;
	p->count++;
	return 0;
}

int fr_list_next(const uint8_t *blob, size_t blen, size_t *off,
		 const uint8_t **key, size_t *klen)
{
	size_t n;

	if (*off == blen)
		return 0;
	if (blen - *off < 2)
		return FERRY_EPROTO;
	n = fr_get_u16(blob + *off);
	if (blen - *off - 2 < n)
		return FERRY_EPROTO;
	*key = blob + *off + 2;
	*klen = n;
	*off += 2 + n;
	return 1;
}
