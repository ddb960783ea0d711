/*
 * Unit tests of the wire codec (src/proto/wire.c): every message of every
 * opcode survives encode and decode unchanged; every malformed message is
 * rejected with FERRY_EPROTO and a reason; LIST reply blobs are walked
 * safely; and a seeded random-mutation loop shows that decode never accepts
 * a message it would not produce itself and never reads outside the bytes
 * it was given (each mutated message sits in a buffer of exactly its
 * length, so valgrind or ASan catch any overread: run
 * `valgrind build/tests/test_wire` after changing wire.c). It also checks
 * that every field of a ferry_op crosses the wire both ways, as the proxy
 * relays it (client/opmsg.c). WATCH, UNWATCH and EVENT: prefixes of 0 to
 * 1024 bytes, every event kind, LOST with no key and no other kind
 * without one.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "common/le.h"
#include "common/util.h"
#include "ferry.h"
#include "proto/wire.h"

/* Bytes of the fixed words of a PUT request and a GET reply. */
#define PUT_WORDS (8 * (FR_PUT_IFVER + 1))
#define GET_R_WORDS (8 * (FR_GET_R_GOT + 1))

static uint8_t buf[FR_MSG_SIZE];
static uint8_t key[FERRY_KEY_MAX + 8];
static uint8_t val[FR_INLINE_MAX + 8];

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void setup_bytes(void)
{
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (uint8_t)(i * 13 + 5);
}

/* Encodes m, checks the header bytes the encoder wrote, decodes, and
 * checks that everything came back; returns the encoded length. */
static size_t round_trip(const fr_msg *m)
{
	fr_msg d;
	const char *why = "unset";
	size_t n = fr_msg_encode(m, buf, sizeof(buf));

	assert_true(n >= FR_HDR_SIZE);
	assert_int_equal(fr_get_u32(buf), FR_MAGIC);
	assert_int_equal(buf[4], FR_VERSION);
	assert_int_equal(buf[5], m->h.opcode);
	assert_int_equal(fr_get_u32(buf + 16), n - FR_HDR_SIZE);
	if (fr_msg_decode(buf, n, &d, &why) != 0)
		fail_msg("decode of a valid %s message failed: %s",
			 fr_op_name(m->h.opcode), why);
	assert_int_equal(d.h.magic, FR_MAGIC);
	assert_int_equal(d.h.version, FR_VERSION);
	assert_int_equal(d.h.opcode, m->h.opcode);
	assert_int_equal(d.h.flags, m->h.flags);
	assert_true(d.h.id == m->h.id);
	assert_int_equal(d.h.status, m->h.status);
	assert_int_equal(d.h.body_len, n - FR_HDR_SIZE);
	assert_true(d.h.ns == m->h.ns);
	if (m->h.status)
		return n;
	for (int i = 0; i < FR_MAX_WORDS; i++)
		if (d.w[i] != m->w[i])
			fail_msg("%s: word %d is %llu, sent %llu",
				 fr_op_name(m->h.opcode), i,
				 (unsigned long long)d.w[i],
				 (unsigned long long)m->w[i]);
	for (int i = 0; i < FR_MAX_BLOBS; i++) {
		if (!m->blob[i]) {
			assert_int_equal(d.blen[i], 0);
			continue;
		}
		assert_true(d.blob[i] >= buf &&
			    d.blob[i] + d.blen[i] <= buf + n);
		if (d.blen[i])
			assert_memory_equal(d.blob[i], m->blob[i], d.blen[i]);
	}
	return n;
}

static void test_round_trip_requests(void **state)
{
	fr_msg m;
	size_t n;

	setup_bytes();
	/* HELLO: an address blob and a token. */
	fr_msg_init(&m, FR_OP_HELLO, 0, 1);
	m.w[FR_HELLO_ADDRLEN] = 20;
	m.blob[0] = val;
	m.w[FR_HELLO_TOKLEN] = 64;
	m.blob[1] = val + 20;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 16 + 20 + 64);

	/* The namespace word of the header travels. */
	fr_msg_init(&m, FR_OP_BYE, 0, 2);
	m.h.ns = 0x8070605040302010ull;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);

	fr_msg_init(&m, FR_OP_BYE, 0, 2);
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);

	/* PUT inline, with each key length edge and value sizes 0, 1, max. */
	size_t klens[] = {1, 2, FERRY_KEY_MAX};
	size_t vlens[] = {0, 1, FR_INLINE_MAX};
	for (size_t k = 0; k < FR_ARRAY_LEN(klens); k++)
		for (size_t v = 0; v < FR_ARRAY_LEN(vlens); v++) {
			fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE,
				    0x1122334455667788ull);
			m.w[FR_PUT_KLEN] = klens[k];
			m.w[FR_PUT_VLEN] = vlens[v];
			m.blob[0] = key;
			m.blob[1] = val;
			n = round_trip(&m);
			assert_int_equal(n, FR_HDR_SIZE + PUT_WORDS + klens[k] +
						vlens[v]);
		}
	/* PUT by RMA: the value is not in the message. */
	fr_msg_init(&m, FR_OP_PUT, FR_F_RMA | FR_F_CREATE, UINT64_MAX);
	m.w[FR_PUT_KLEN] = 5;
	m.w[FR_PUT_VLEN] = 1ull << 40;
	m.w[FR_PUT_RADDR] = 0xdeadbeef000ull;
	m.w[FR_PUT_RKEY] = 42;
	m.w[FR_PUT_EXPIRE] = 1700000000123ull;
	m.w[FR_PUT_IFVER] = 99;
	m.blob[0] = key;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + PUT_WORDS + 5);
	fr_msg_init(&m, FR_OP_PUT, FR_F_REPLACE | FR_F_KEEPTTL, 3); /* empty */
	m.w[FR_PUT_KLEN] = 3;
	m.blob[0] = key;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + PUT_WORDS + 3);

	fr_msg_init(&m, FR_OP_GET, FR_F_RMA, 4);
	m.w[FR_GET_KLEN] = 9;
	m.w[FR_GET_OFFSET] = 1000;
	m.w[FR_GET_LEN] = 1 << 20;
	m.w[FR_GET_RADDR] = 77;
	m.w[FR_GET_RKEY] = 88;
	m.blob[0] = key;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 40 + 9);

	fr_msg_init(&m, FR_OP_DEL, 0, 5);
	m.w[FR_DEL_KLEN] = FERRY_KEY_MAX;
	m.w[FR_DEL_IFVER] = UINT64_MAX;
	m.blob[0] = key;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 16 + FERRY_KEY_MAX);

	fr_msg_init(&m, FR_OP_STAT, 0, 6);
	m.w[FR_KEY_KLEN] = 1;
	m.blob[0] = key;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 8 + 1);

	fr_msg_init(&m, FR_OP_INCR, 0, 7);
	m.w[FR_INCR_KLEN] = 4;
	m.w[FR_INCR_DELTA] = (uint64_t)-5;
	m.blob[0] = key;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 16 + 4);

	/* LIST: prefix and cursor may each be empty or up to a key long. */
	size_t plens[] = {0, 3, FERRY_KEY_MAX};
	for (size_t p = 0; p < FR_ARRAY_LEN(plens); p++)
		for (size_t a = 0; a < FR_ARRAY_LEN(plens); a++) {
			fr_msg_init(&m, FR_OP_LIST, 0, 8);
			m.w[FR_LIST_PLEN] = plens[p];
			m.w[FR_LIST_ALEN] = plens[a];
			m.w[FR_LIST_MAX] = 100;
			m.blob[0] = key;
			m.blob[1] = val;
			n = round_trip(&m);
			assert_int_equal(n, FR_HDR_SIZE + 24 + plens[p] +
						plens[a]);
		}

	fr_msg_init(&m, FR_OP_SSTAT, 0, 9);
	m.w[FR_SSTAT_INDEX] = 3;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_SSTAT_INDEX + 1));

	fr_msg_init(&m, FR_OP_ATTACH, 0, 10);
	m.w[FR_ATTACH_SIZE] = 64 << 20;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_ATTACH_SIZE + 1));

	fr_msg_init(&m, FR_OP_PSTAT, 0, 11);
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);

	fr_msg_init(&m, FR_OP_CHANNEL, 0, 12);
	m.w[FR_CHANNEL_SIZE] = 69632;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_CHANNEL_SIZE + 1));

	/* EXPIRE: every valid set of conditions. */
	static const uint64_t conds[] = {
	    0,		  FR_EXPIRE_NX, FR_EXPIRE_XX, FR_EXPIRE_GT, FR_EXPIRE_LT,
	    FR_EXPIRE_XX | FR_EXPIRE_GT, FR_EXPIRE_XX | FR_EXPIRE_LT};
	for (size_t i = 0; i < FR_ARRAY_LEN(conds); i++) {
		fr_msg_init(&m, FR_OP_EXPIRE, 0, 12);
		m.w[FR_EXPIRE_KLEN] = 6;
		m.w[FR_EXPIRE_EXPIRE] = i ? 1700000000000ull + i : 0;
		m.w[FR_EXPIRE_COND] = conds[i];
		m.blob[0] = key;
		assert_int_equal(round_trip(&m),
				 FR_HDR_SIZE + 8 * (FR_EXPIRE_COND + 1) + 6);
	}
}

static void test_round_trip_replies(void **state)
{
	fr_msg m;

	setup_bytes();
	fr_msg_init(&m, FR_OP_HELLO, FR_F_REPLY, 1);
	m.w[FR_HELLO_R_INLINE] = FR_INLINE_MAX;
	m.w[FR_HELLO_R_KEYMAX] = FERRY_KEY_MAX;
	m.w[FR_HELLO_R_VALMAX] = 1ull << 30;
	m.w[FR_HELLO_R_SERVERS] = 3;
	m.w[FR_HELLO_R_BOOT] = 0x8badf00ddeadbeefull;
	m.w[FR_HELLO_R_FRESH] = 1;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_HELLO_R_FRESH + 1));

	fr_msg_init(&m, FR_OP_BYE, FR_F_REPLY, 2);
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);

	fr_msg_init(&m, FR_OP_PUT, FR_F_REPLY, 3);
	m.w[FR_PUT_R_VERSION] = 12345;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 8);

	/* GET reply inline carries got bytes; by RMA it carries none. */
	fr_msg_init(&m, FR_OP_GET, FR_F_REPLY, 4);
	m.w[FR_GET_R_SIZE] = 10000;
	m.w[FR_GET_R_CTIME] = 1700000000000000000ull;
	m.w[FR_GET_R_VERSION] = 9;
	m.w[FR_GET_R_EXPIRE] = 1700000000500ull;
	m.w[FR_GET_R_GOT] = FR_INLINE_MAX;
	m.blob[0] = val;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + GET_R_WORDS + FR_INLINE_MAX);
	m.w[FR_GET_R_GOT] = 0;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + GET_R_WORDS);
	fr_msg_init(&m, FR_OP_GET, FR_F_REPLY | FR_F_RMA, 5);
	m.w[FR_GET_R_SIZE] = 1 << 20;
	m.w[FR_GET_R_GOT] = 1 << 20;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + GET_R_WORDS);

	fr_msg_init(&m, FR_OP_DEL, FR_F_REPLY, 6);
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);

	fr_msg_init(&m, FR_OP_STAT, FR_F_REPLY, 7);
	m.w[FR_GET_R_SIZE] = 1;
	m.w[FR_GET_R_CTIME] = 2;
	m.w[FR_GET_R_VERSION] = 3;
	m.w[FR_GET_R_EXPIRE] = 4;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_GET_R_EXPIRE + 1));

	fr_msg_init(&m, FR_OP_EXPIRE, FR_F_REPLY, 13);
	m.w[FR_EXPIRE_R_CHANGED] = 1;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 8);

	fr_msg_init(&m, FR_OP_INCR, FR_F_REPLY, 8);
	m.w[FR_INCR_R_VALUE] = (uint64_t)INT64_MIN;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 8);

	/* LIST reply: a packed blob of keys, with the MORE flag. */
	uint8_t packed[64];
	size_t used = fr_list_pack(packed, sizeof(packed), "a", 1);
	used += fr_list_pack(packed + used, sizeof(packed) - used, "bc", 2);
	fr_msg_init(&m, FR_OP_LIST, FR_F_REPLY | FR_F_MORE, 9);
	m.w[FR_LIST_R_COUNT] = 2;
	m.w[FR_LIST_R_BYTES] = used;
	m.blob[0] = packed;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 16 + used);

	/* SSTAT reply: counters and the server's address. */
	fr_msg_init(&m, FR_OP_SSTAT, FR_F_REPLY, 10);
	for (int i = 0; i < FR_SSTAT_R_ADDRLEN; i++)
		m.w[i] = (uint64_t)i * 1000 + 1;
	m.w[FR_SSTAT_R_ADDRLEN] = 14;
	m.blob[0] = (const uint8_t *)"127.0.0.1:7400";
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_SSTAT_R_ADDRLEN + 1) + 14);

	fr_msg_init(&m, FR_OP_ATTACH, FR_F_REPLY, 11);
	m.w[FR_ATTACH_R_REGION] = 7;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_ATTACH_R_REGION + 1));

	fr_msg_init(&m, FR_OP_PSTAT, FR_F_REPLY, 12);
	for (int i = 0; i <= FR_PSTAT_R_CHANNELS; i++)
		m.w[i] = (uint64_t)i + 100;
	assert_int_equal(round_trip(&m),
			 FR_HDR_SIZE + 8 * (FR_PSTAT_R_CHANNELS + 1));

	fr_msg_init(&m, FR_OP_CHANNEL, FR_F_REPLY, 13);
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);

	/* An error reply of every opcode is a bare header with the status,
	 * whatever words the sender left set; EQUOTA's carries one word, by
	 * how much the request was over the share. */
	for (unsigned op = 1; op < FR_OP_COUNT; op++) {
		fr_msg d;
		size_t n;
		fr_msg_init(&m, (uint8_t)op, FR_F_REPLY, 100 + op);
		m.h.status = op % 2 ? FERRY_ENOENT : FERRY_EIO;
		m.w[0] = 5;
		m.blob[0] = val;
		assert_int_equal(round_trip(&m), FR_HDR_SIZE);
		m.h.status = FERRY_EQUOTA;
		m.w[FR_EQUOTA_R_OVER] = 4097 + op;
		n = round_trip(&m);
		assert_int_equal(n, FR_HDR_SIZE + 8);
		assert_int_equal(fr_msg_decode(buf, n, &d, NULL), 0);
		assert_int_equal(d.w[FR_EQUOTA_R_OVER], 4097 + op);
	}
	/* Statuses travel as signed numbers. */
	fr_msg_init(&m, FR_OP_GET, FR_F_REPLY | FR_F_RMA, 11);
	m.h.status = FERRY_EIO;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);
}

static void test_encode_capacity(void **state)
{
	fr_msg m;

	setup_bytes();
	fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE, 1);
	m.w[FR_PUT_KLEN] = 10;
	m.w[FR_PUT_VLEN] = 100;
	m.blob[0] = key;
	m.blob[1] = val;
	assert_int_equal(fr_msg_encode(&m, buf, FR_HDR_SIZE + PUT_WORDS + 110),
			 FR_HDR_SIZE + PUT_WORDS + 110);
	assert_int_equal(fr_msg_encode(&m, buf, FR_HDR_SIZE + PUT_WORDS + 109),
			 0);
	assert_int_equal(fr_msg_encode(&m, buf, 0), 0);
}

/* ---- malformed messages ----------------------------------------------------
 */

/* A valid PUT with key "key01" and an inline 4-byte value, in buf. */
static size_t valid_put(void)
{
	fr_msg m;

	fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE, 77);
	m.w[FR_PUT_KLEN] = 5;
	m.w[FR_PUT_VLEN] = 4;
	m.blob[0] = (const uint8_t *)"key01";
	m.blob[1] = (const uint8_t *)"vvvv";
	return fr_msg_encode(&m, buf, sizeof(buf));
}

static void expect_eproto(const void *msg, size_t len, const char *what)
{
	fr_msg d;
	const char *why = NULL;
	int rc = fr_msg_decode(msg, len, &d, &why);

	if (rc != FERRY_EPROTO)
		fail_msg("%s: decode returned %d, expected FERRY_EPROTO", what,
			 rc);
	if (!why || !*why)
		fail_msg("%s: rejected without a reason", what);
	/* The reason pointer is optional. */
	assert_int_equal(fr_msg_decode(msg, len, &d, NULL), FERRY_EPROTO);
}

static void set_body_len(size_t n)
{
	fr_put_u32(buf + 16, (uint32_t)(n - FR_HDR_SIZE));
}

static void test_reject_header(void **state)
{
	size_t n = valid_put();
	fr_msg d;

	assert_int_equal(fr_msg_decode(buf, n, &d, NULL), 0);
	for (size_t len = 0; len < FR_HDR_SIZE; len++)
		expect_eproto(buf, len, "short header");

	n = valid_put();
	buf[0] ^= 1;
	expect_eproto(buf, n, "bad magic");

	n = valid_put();
	buf[4] = FR_VERSION + 1;
	expect_eproto(buf, n, "newer version");
	buf[4] = FR_VERSION - 1;
	expect_eproto(buf, n, "older version (no expiry words)");
	buf[4] = 0;
	expect_eproto(buf, n, "version 0");

	n = valid_put();
	buf[5] = 0;
	expect_eproto(buf, n, "opcode 0");
	buf[5] = FR_OP_COUNT;
	expect_eproto(buf, n, "opcode past the table");
	buf[5] = 255;
	expect_eproto(buf, n, "opcode 255");

	for (int bit = 0; bit < 16; bit++) {
		if (FR_F_KNOWN & (1u << bit))
			continue;
		n = valid_put();
		fr_put_u16(buf + 6, (uint16_t)(FR_F_INLINE | 1u << bit));
		expect_eproto(buf, n, "unknown flag");
	}
}

static void test_reject_lengths(void **state)
{
	size_t n = valid_put();
	fr_msg d;

	/* body_len must equal what arrived, in both directions. */
	fr_put_u32(buf + 16, (uint32_t)(n - FR_HDR_SIZE + 1));
	expect_eproto(buf, n, "body_len longer than the message");
	fr_put_u32(buf + 16, (uint32_t)(n - FR_HDR_SIZE - 1));
	expect_eproto(buf, n, "body_len shorter than the message");
	fr_put_u32(buf + 16, UINT32_MAX);
	expect_eproto(buf, n, "body_len 4G");
	n = valid_put();
	expect_eproto(buf, n - 1, "message cut by one byte");
	expect_eproto(buf, n + 1, "message with one extra byte");

	/* Fewer bytes than the fixed words. */
	n = valid_put();
	set_body_len(FR_HDR_SIZE + 24);
	expect_eproto(buf, FR_HDR_SIZE + 24, "body shorter than its words");

	/* A blob length that runs past the end, by one byte and by a lot. */
	n = valid_put();
	fr_put_u64(buf + FR_HDR_SIZE + 8 * FR_PUT_VLEN, 5);
	expect_eproto(buf, n, "value blob one byte past the end");
	fr_put_u64(buf + FR_HDR_SIZE + 8 * FR_PUT_VLEN, UINT64_MAX);
	expect_eproto(buf, n, "value blob length 2^64-1");
	fr_put_u64(buf + FR_HDR_SIZE + 8 * FR_PUT_VLEN, 1ull << 63);
	expect_eproto(buf, n, "value blob length 2^63");
	n = valid_put();
	fr_put_u64(buf + FR_HDR_SIZE + 8 * FR_PUT_KLEN, UINT64_MAX - 2);
	expect_eproto(buf, n, "key length that wraps a sum");

	/* Trailing bytes: the blobs are shorter than the body. */
	n = valid_put();
	fr_put_u64(buf + FR_HDR_SIZE + 8 * FR_PUT_VLEN, 3);
	expect_eproto(buf, n, "trailing byte");
	n = valid_put();
	buf[n] = 0;
	set_body_len(n + 8);
	expect_eproto(buf, n + 8, "trailing word");

	/* A GET reply by RMA carries no data: any is trailing. */
	fr_msg m;
	fr_msg_init(&m, FR_OP_GET, FR_F_REPLY | FR_F_RMA, 1);
	m.w[FR_GET_R_GOT] = 4;
	n = fr_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(fr_msg_decode(buf, n, &d, NULL), 0);
	memcpy(buf + n, "data", 4);
	set_body_len(n + 4);
	expect_eproto(buf, n + 4, "data on an RMA GET reply");
}

static void test_reject_keys(void **state)
{
	fr_msg m, d;
	size_t n;
	static const uint8_t ops[] = {FR_OP_PUT, FR_OP_GET, FR_OP_DEL,
				      FR_OP_STAT, FR_OP_INCR};

	setup_bytes();
	for (size_t i = 0; i < FR_ARRAY_LEN(ops); i++) {
		fr_msg_init(&m, ops[i], 0, 1);
		m.blob[0] = key;
		m.w[0] = 0;
		n = fr_msg_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		expect_eproto(buf, n, "key length 0");
		m.w[0] = FERRY_KEY_MAX + 1;
		n = fr_msg_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		expect_eproto(buf, n, "key length 1025");
		m.w[0] = FERRY_KEY_MAX;
		n = fr_msg_encode(&m, buf, sizeof(buf));
		assert_int_equal(fr_msg_decode(buf, n, &d, NULL), 0);
	}
	/* LIST: prefix and cursor may be empty but not longer than a key. */
	for (int which = 0; which < 2; which++) {
		fr_msg_init(&m, FR_OP_LIST, 0, 1);
		m.blob[0] = key;
		m.blob[1] = key;
		m.w[which ? FR_LIST_ALEN : FR_LIST_PLEN] = FERRY_KEY_MAX + 1;
		n = fr_msg_encode(&m, buf, sizeof(buf));
		expect_eproto(buf, n, "LIST prefix or cursor of 1025 bytes");
	}
}

static void test_reject_flag_combinations(void **state)
{
	fr_msg m, d;
	size_t n;

	fr_msg_init(&m, FR_OP_PUT, FR_F_CREATE | FR_F_REPLACE, 1);
	m.w[FR_PUT_KLEN] = 3;
	m.blob[0] = (const uint8_t *)"abc";
	n = fr_msg_encode(&m, buf, sizeof(buf));
	expect_eproto(buf, n, "create-only and replace-only");

	fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE | FR_F_RMA, 1);
	m.w[FR_PUT_KLEN] = 3;
	m.blob[0] = (const uint8_t *)"abc";
	n = fr_msg_encode(&m, buf, sizeof(buf));
	expect_eproto(buf, n, "inline and RMA");

	fr_msg_init(&m, FR_OP_GET, FR_F_INLINE | FR_F_RMA, 1);
	m.w[FR_GET_KLEN] = 3;
	m.blob[0] = (const uint8_t *)"abc";
	n = fr_msg_encode(&m, buf, sizeof(buf));
	expect_eproto(buf, n, "GET with inline and RMA");

	/* EXPIRE conditions: unknown bits, NX with another, GT with LT. */
	static const uint64_t bad[] = {
	    0x10,
	    1ull << 63,
	    FR_EXPIRE_NX | FR_EXPIRE_XX,
	    FR_EXPIRE_NX | FR_EXPIRE_GT,
	    FR_EXPIRE_NX | FR_EXPIRE_LT,
	    FR_EXPIRE_GT | FR_EXPIRE_LT,
	    FR_EXPIRE_XX | FR_EXPIRE_GT | FR_EXPIRE_LT,
	    FR_EXPIRE_KNOWN};
	for (size_t i = 0; i < FR_ARRAY_LEN(bad); i++) {
		fr_msg_init(&m, FR_OP_EXPIRE, 0, 1);
		m.w[FR_EXPIRE_KLEN] = 3;
		m.w[FR_EXPIRE_COND] = bad[i];
		m.blob[0] = (const uint8_t *)"abc";
		n = fr_msg_encode(&m, buf, sizeof(buf));
		expect_eproto(buf, n, "EXPIRE with bad conditions");
		assert_int_equal(fr_expire_cond_ok(bad[i]), 0);
	}
	/* The reply's word is not a condition. */
	fr_msg_init(&m, FR_OP_EXPIRE, FR_F_REPLY, 1);
	m.w[FR_EXPIRE_R_CHANGED] = 0xff;
	n = fr_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(fr_msg_decode(buf, n, &d, NULL), 0);
}

static void test_reject_status(void **state)
{
	fr_msg m;
	size_t n;

	/* A request never carries a status. */
	fr_msg_init(&m, FR_OP_SSTAT, 0, 1);
	n = fr_msg_encode(&m, buf, sizeof(buf));
	fr_put_u32(buf + 20, (uint32_t)FERRY_EIO);
	expect_eproto(buf, n, "status on a request");
	fr_msg_init(&m, FR_OP_DEL, 0, 1);
	m.w[0] = 1;
	m.blob[0] = (const uint8_t *)"k";
	n = fr_msg_encode(&m, buf, sizeof(buf));
	fr_put_u32(buf + 20, 1);
	expect_eproto(buf, n, "positive status on a request with a body");

	/* An error reply never carries a body. */
	fr_msg_init(&m, FR_OP_PUT, FR_F_REPLY, 1);
	m.w[0] = 5;
	n = fr_msg_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, FR_HDR_SIZE + 8);
	fr_put_u32(buf + 20, (uint32_t)FERRY_ENOSPC);
	expect_eproto(buf, n, "body on an error reply");
	/* ... but EQUOTA's word, exactly. */
	fr_put_u32(buf + 20, (uint32_t)FERRY_EQUOTA);
	assert_int_equal(fr_msg_decode(buf, n, &m, NULL), 0);
	assert_int_equal(m.w[FR_EQUOTA_R_OVER], 5);
	fr_put_u32(buf + 16, 0);
	expect_eproto(buf, FR_HDR_SIZE, "an EQUOTA reply without its word");
	fr_msg_init(&m, FR_OP_LIST, FR_F_REPLY, 1);
	m.w[FR_LIST_R_BYTES] = 3;
	m.blob[0] = (const uint8_t *)"abc";
	n = fr_msg_encode(&m, buf, sizeof(buf));
	fr_put_u32(buf + 20, (uint32_t)FERRY_EQUOTA);
	expect_eproto(buf, n, "an EQUOTA reply with more than its word");
}

/* ---- LIST blobs
 * --------------------------------------------------------------- */

static void test_list_pack_next(void **state)
{
	uint8_t blob[3000];
	const uint8_t *k;
	size_t off = 0, klen, used = 0;
	static const char *const keys[] = {"a", "", "hello", "zz"};

	setup_bytes();
	for (size_t i = 0; i < FR_ARRAY_LEN(keys); i++) {
		size_t n = fr_list_pack(blob + used, sizeof(blob) - used,
					keys[i], strlen(keys[i]));
		assert_int_equal(n, 2 + strlen(keys[i]));
		used += n;
	}
	used +=
	    fr_list_pack(blob + used, sizeof(blob) - used, key, FERRY_KEY_MAX);
	assert_int_equal(used, 2 + 1 + 2 + 2 + 5 + 2 + 2 + 2 + FERRY_KEY_MAX);
	for (size_t i = 0; i < FR_ARRAY_LEN(keys); i++) {
		assert_int_equal(fr_list_next(blob, used, &off, &k, &klen), 1);
		assert_int_equal(klen, strlen(keys[i]));
		assert_memory_equal(k, keys[i], klen);
	}
	assert_int_equal(fr_list_next(blob, used, &off, &k, &klen), 1);
	assert_int_equal(klen, FERRY_KEY_MAX);
	assert_memory_equal(k, key, FERRY_KEY_MAX);
	assert_int_equal(off, used);
	assert_int_equal(fr_list_next(blob, used, &off, &k, &klen), 0);
	assert_int_equal(fr_list_next(blob, used, &off, &k, &klen), 0);

	/* Empty blob. */
	off = 0;
	assert_int_equal(fr_list_next(blob, 0, &off, &k, &klen), 0);

	/* Capacity: exactly enough works, one byte less does not, and
	 * lengths that do not fit the u16 prefix are refused. */
	assert_int_equal(fr_list_pack(blob, 7, "hello", 5), 7);
	assert_int_equal(fr_list_pack(blob, 6, "hello", 5), 0);
	assert_int_equal(fr_list_pack(blob, 1, "", 0), 0);
	assert_int_equal(fr_list_pack(blob, sizeof(blob), key, 65536), 0);
}

static void test_list_truncated(void **state)
{
	uint8_t blob[64];
	const uint8_t *k;
	size_t off, klen, used;

	used = fr_list_pack(blob, sizeof(blob), "abc", 3);
	used += fr_list_pack(blob + used, sizeof(blob) - used, "defgh", 5);
	/* Every cut inside the second entry is caught, not read past. */
	for (size_t cut = 6; cut < used; cut++) {
		uint8_t *copy = malloc(cut);
		assert_non_null(copy);
		memcpy(copy, blob, cut);
		off = 0;
		assert_int_equal(fr_list_next(copy, cut, &off, &k, &klen), 1);
		assert_int_equal(off, 5);
		assert_int_equal(fr_list_next(copy, cut, &off, &k, &klen),
				 FERRY_EPROTO);
		free(copy);
	}
	/* A length prefix that claims more than the blob holds. */
	fr_put_u16(blob, 0xffff);
	off = 0;
	assert_int_equal(fr_list_next(blob, used, &off, &k, &klen),
			 FERRY_EPROTO);
	assert_int_equal(off, 0);
	/* A lone byte is not a length prefix. */
	off = 0;
	assert_int_equal(fr_list_next(blob, 1, &off, &k, &klen), FERRY_EPROTO);
}

/* ---- fuzz
 * --------------------------------------------------------------------- */

#define FUZZ_SEEDS 24
#define FUZZ_ROUNDS 200000

/* A corpus of valid messages, one per shape and direction. */
static size_t corpus(uint8_t out[][2048], size_t *lens)
{
	fr_msg m;
	size_t n = 0;
	uint8_t packed[64];
	size_t used = fr_list_pack(packed, sizeof(packed), "k1", 2);

	used += fr_list_pack(packed + used, sizeof(packed) - used, "k22", 3);
	setup_bytes();
#define ADD()                                                                  \
	(lens[n] = fr_msg_encode(&m, out[n], 2048), assert_true(lens[n]), n++)
	fr_msg_init(&m, FR_OP_HELLO, 0, 1);
	m.w[0] = 16;
	m.blob[0] = val;
	ADD();
	fr_msg_init(&m, FR_OP_BYE, 0, 2);
	ADD();
	fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE | FR_F_CREATE, 3);
	m.w[0] = 4;
	m.w[1] = 40;
	m.blob[0] = key;
	m.blob[1] = val;
	ADD();
	fr_msg_init(&m, FR_OP_PUT, FR_F_RMA, 4);
	m.w[0] = 4;
	m.w[1] = 1 << 20;
	m.w[2] = 0x1000;
	m.w[3] = 9;
	m.blob[0] = key;
	ADD();
	fr_msg_init(&m, FR_OP_GET, FR_F_RMA, 5);
	m.w[0] = 3;
	m.w[2] = 1 << 20;
	m.blob[0] = key;
	ADD();
	fr_msg_init(&m, FR_OP_DEL, 0, 6);
	m.w[0] = 2;
	m.blob[0] = key;
	ADD();
	fr_msg_init(&m, FR_OP_INCR, 0, 7);
	m.w[0] = 2;
	m.w[1] = 3;
	m.blob[0] = key;
	ADD();
	fr_msg_init(&m, FR_OP_LIST, 0, 8);
	m.w[0] = 2;
	m.w[1] = 3;
	m.w[2] = 100;
	m.blob[0] = key;
	m.blob[1] = val;
	ADD();
	fr_msg_init(&m, FR_OP_SSTAT, 0, 9);
	ADD();
	fr_msg_init(&m, FR_OP_HELLO, FR_F_REPLY, 10);
	m.w[0] = 4096;
	ADD();
	fr_msg_init(&m, FR_OP_GET, FR_F_REPLY, 11);
	m.w[FR_GET_R_GOT] = 30;
	m.blob[0] = val;
	ADD();
	fr_msg_init(&m, FR_OP_GET, FR_F_REPLY | FR_F_RMA, 12);
	m.w[FR_GET_R_GOT] = 1 << 20;
	ADD();
	fr_msg_init(&m, FR_OP_LIST, FR_F_REPLY | FR_F_MORE, 13);
	m.w[FR_LIST_R_COUNT] = 2;
	m.w[FR_LIST_R_BYTES] = used;
	m.blob[0] = packed;
	ADD();
	fr_msg_init(&m, FR_OP_STAT, FR_F_REPLY, 14);
	m.h.status = FERRY_ENOENT;
	ADD();
	fr_msg_init(&m, FR_OP_SSTAT, FR_F_REPLY, 15);
	m.w[FR_SSTAT_R_ADDRLEN] = 6;
	m.blob[0] = (const uint8_t *)"h:7400";
	ADD();
	fr_msg_init(&m, FR_OP_ATTACH, 0, 16);
	m.w[0] = 4096;
	ADD();
	fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE | FR_F_KEEPTTL, 17);
	m.w[FR_PUT_KLEN] = 3;
	m.w[FR_PUT_VLEN] = 5;
	m.w[FR_PUT_EXPIRE] = 1700000000000ull;
	m.w[FR_PUT_IFVER] = 7;
	m.blob[0] = key;
	m.blob[1] = val;
	ADD();
	fr_msg_init(&m, FR_OP_EXPIRE, 0, 18);
	m.w[FR_EXPIRE_KLEN] = 2;
	m.w[FR_EXPIRE_EXPIRE] = 1700000000000ull;
	m.w[FR_EXPIRE_COND] = FR_EXPIRE_XX | FR_EXPIRE_GT;
	m.blob[0] = key;
	ADD();
	fr_msg_init(&m, FR_OP_EXPIRE, FR_F_REPLY, 19);
	m.w[FR_EXPIRE_R_CHANGED] = 1;
	ADD();
	fr_msg_init(&m, FR_OP_WATCH, FR_F_EXACT, 20);
	m.w[FR_WATCH_PLEN] = 3;
	m.w[FR_WATCH_ID] = 77;
	m.blob[0] = key;
	ADD();
	fr_msg_init(&m, FR_OP_UNWATCH, 0, 21);
	m.w[FR_UNWATCH_ID] = 77;
	ADD();
	fr_msg_init(&m, FR_OP_EVENT, 0, 0);
	m.w[FR_EVENT_ID] = 77;
	m.w[FR_EVENT_KIND] = FERRY_EV_SET;
	m.w[FR_EVENT_KLEN] = 4;
	m.blob[0] = key;
	ADD();
	fr_msg_init(&m, FR_OP_EVENT, 0, 0);
	m.w[FR_EVENT_ID] = 77;
	m.w[FR_EVENT_KIND] = FERRY_EV_LOST;
	ADD();
#undef ADD
	return n;
}

/* Mutates msg (len bytes, capacity cap) in one of several ways that aim at
 * the fields a decoder must distrust. Returns the new length. */
static size_t mutate(uint8_t *msg, size_t len, size_t cap, uint64_t *s)
{
	uint64_t r = rnd(s);
	int rounds = 1 + (int)(r % 3);

	for (int i = 0; i < rounds; i++) {
		r = rnd(s);
		if (len == 0) { /* only growing makes sense */
			msg[0] = (uint8_t)r;
			len = 1;
			continue;
		}
		switch (r % 8) {
		case 0: /* flip a bit anywhere */
			msg[(r >> 8) % len] ^= (uint8_t)(1u << ((r >> 40) % 8));
			break;
		case 1: /* a random byte in the header or the words */
			msg[(r >> 8) % FR_MIN(len, (size_t)FR_HDR_SIZE + 48)] =
			    (uint8_t)(r >> 40);
			break;
		case 2: /* a word of the body set to a boundary value */
			if (len >= FR_HDR_SIZE + 8) {
				static const uint64_t edges[] = {
				    0,		1,	    2,
				    3,		4,	    1024,
				    1025,	4096,	    UINT32_MAX,
				    UINT64_MAX, 1ull << 63, UINT64_MAX - 31};
				size_t w = ((r >> 8) % 6) * 8 + FR_HDR_SIZE;
				if (w + 8 <= len)
					fr_put_u64(msg + w,
						   edges[(r >> 20) %
							 FR_ARRAY_LEN(edges)]);
			}
			break;
		case 3: /* truncate */
			len = (size_t)((r >> 8) % (len + 1));
			break;
		case 4: /* extend with random bytes */
			if (len < cap) {
				size_t add = 1 + (size_t)((r >> 8) % 16);
				add = FR_MIN(add, cap - len);
				for (size_t j = 0; j < add; j++)
					msg[len + j] = (uint8_t)rnd(s);
				len += add;
			}
			break;
		case 5: /* fix body_len to the new length (so deeper checks run)
			 */
			if (len >= FR_HDR_SIZE)
				fr_put_u32(msg + 16,
					   (uint32_t)(len - FR_HDR_SIZE));
			break;
		case 6: /* flags */
			if (len >= 8)
				fr_put_u16(msg + 6, (uint16_t)(r >> 8));
			break;
		case 7: /* opcode and status */
			if (len >= FR_HDR_SIZE) {
				msg[5] =
				    (uint8_t)((r >> 8) % (FR_OP_COUNT + 1));
				if ((r >> 20) % 4 == 0)
					fr_put_u32(msg + 20,
						   (uint32_t)(r >> 32));
			}
			break;
		}
	}
	if (len >= FR_HDR_SIZE && rnd(s) % 2) /* often keep the frame sane */
		fr_put_u32(msg + 16, (uint32_t)(len - FR_HDR_SIZE));
	return len;
}

/* What an accepted message must satisfy: every blob inside the buffer, and
 * encoding the decoded message reproduces the input byte for byte (so the
 * decoder accepted nothing the encoder could not have produced). */
static void check_accepted(const uint8_t *msg, size_t len, const fr_msg *d,
			   uint8_t *scratch)
{
	size_t n;

	for (int i = 0; i < FR_MAX_BLOBS; i++) {
		if (!d->blob[i]) {
			assert_int_equal(d->blen[i], 0);
			continue;
		}
		assert_true(d->blob[i] >= msg);
		assert_true(d->blen[i] <= len);
		assert_true(d->blob[i] + d->blen[i] <= msg + len);
	}
	assert_true(d->h.opcode >= 1 && d->h.opcode < FR_OP_COUNT);
	assert_int_equal(d->h.body_len, len - FR_HDR_SIZE);
	n = fr_msg_encode(d, scratch, 2048 + 64);
	assert_int_equal(n, len);
	assert_memory_equal(scratch, msg, len);
}

static void test_fuzz_decode(void **state)
{
	static uint8_t base[32][2048];
	size_t lens[32], nbase = corpus(base, lens);
	uint8_t work[2048 + 64], scratch[2048 + 64];
	uint64_t s = 0x243f6a8885a308d3ull;
	unsigned accepted = 0, rejected = 0;

	for (int round = 0; round < FUZZ_ROUNDS; round++) {
		size_t which = rnd(&s) % nbase, len = lens[which];
		uint8_t *exact;
		fr_msg d;
		const char *why = NULL;
		int rc;

		memcpy(work, base[which], len);
		len = mutate(work, len, sizeof(work), &s);
		/* Exactly len bytes, so any overread is outside the block. */
		exact = malloc(len ? len : 1);
		assert_non_null(exact);
		memcpy(exact, work, len);
		rc = fr_msg_decode(exact, len, &d, &why);
		if (rc == 0) {
			accepted++;
			check_accepted(exact, len, &d, scratch);
		} else {
			if (rc != FERRY_EPROTO || !why)
				fail_msg(
				    "round %d: decode returned %d (why %s)",
				    round, rc, why ? why : "NULL");
			rejected++;
		}
		free(exact);
	}
	/* Both outcomes must have been exercised, or the mutator is
	 * useless. */
	print_message("# fuzz: %u accepted, %u rejected\n", accepted, rejected);
	assert_true(accepted > FUZZ_ROUNDS / 100);
	assert_true(rejected > FUZZ_ROUNDS / 2);
}

/* Every field of a ferry_op that an opcode uses survives the trip the
 * proxy makes it take: op -> request -> bytes -> request -> op, and its
 * results op -> reply -> bytes -> reply -> op (client/opmsg.c). */
static void test_op_mapping(void **state)
{
	static const ferry_op ops[] = {
	    {.opcode = FERRY_OP_PUT, .len = 5, .expire_ms = 1700000000001ull,
	     .if_version = 42, .flags = FERRY_PUT_REPLACE | FERRY_PUT_KEEPTTL},
	    {.opcode = FERRY_OP_PUT, .len = 0, .flags = FERRY_PUT_CREATE},
	    {.opcode = FERRY_OP_GET, .offset = 77, .len = 1000},
	    {.opcode = FERRY_OP_DEL, .if_version = UINT64_MAX},
	    {.opcode = FERRY_OP_STAT},
	    {.opcode = FERRY_OP_INCR, .delta = -9},
	    {.opcode = FERRY_OP_EXPIRE, .expire_ms = 1700000000002ull,
	     .flags = FERRY_EXPIRE_XX | FERRY_EXPIRE_LT},
	    {.opcode = FERRY_OP_EXPIRE, .flags = FERRY_EXPIRE_NX},
	};
	const ferry_stat st = {.size = 11, .ctime_ns = 22, .version = 33,
			       .expire_ms = 44};

	for (size_t i = 0; i < FR_ARRAY_LEN(ops); i++) {
		ferry_op a = ops[i], b, r;
		fr_msg m, d;
		size_t n;

		a.key = "opkey";
		a.klen = 5;
		fr_op_to_request(&a, &m);
		if (a.opcode == FERRY_OP_PUT && a.len) {
			m.h.flags |= FR_F_INLINE;
			m.blob[1] = (const uint8_t *)"value";
		}
		n = fr_msg_encode(&m, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(fr_msg_decode(buf, n, &d, NULL), 0);
		memset(&b, 0x5a, sizeof(b));
		assert_int_equal(fr_op_from_request(&d, &b), 0);
		assert_int_equal(b.opcode, a.opcode);
		assert_int_equal(b.klen, 5);
		assert_memory_equal(b.key, "opkey", 5);
		switch (a.opcode) {
		case FERRY_OP_PUT:
			assert_int_equal(b.flags, a.flags);
			assert_int_equal(b.len, a.len);
			assert_true(b.expire_ms == a.expire_ms);
			assert_true(b.if_version == a.if_version);
			break;
		case FERRY_OP_GET:
			assert_true(b.offset == a.offset);
			assert_int_equal(b.len, a.len);
			break;
		case FERRY_OP_DEL:
			assert_true(b.if_version == a.if_version);
			break;
		case FERRY_OP_INCR:
			assert_true(b.delta == a.delta);
			break;
		case FERRY_OP_EXPIRE:
			assert_true(b.expire_ms == a.expire_ms);
			assert_int_equal(b.flags, a.flags);
			break;
		case FERRY_OP_STAT:
			break;
		}

		/* The results, back. */
		b.stat = st;
		b.result = 3;
		b.counter = a.opcode == FERRY_OP_EXPIRE ? 1 : -123;
		fr_msg_init(&m, d.h.opcode, FR_F_REPLY, 1);
		fr_op_to_reply(&b, &m);
		if (a.opcode == FERRY_OP_GET)
			m.blob[0] = (const uint8_t *)"abc";
		n = fr_msg_encode(&m, buf, sizeof(buf));
		assert_int_equal(fr_msg_decode(buf, n, &d, NULL), 0);
		memset(&r, 0, sizeof(r));
		r.opcode = a.opcode;
		r.len = a.len;
		fr_op_from_reply(&d, &r);
		switch (a.opcode) {
		case FERRY_OP_GET:
			assert_int_equal(r.result, 3);
			__attribute__((fallthrough));
		case FERRY_OP_STAT:
			assert_memory_equal(&r.stat, &st, sizeof(st));
			break;
		case FERRY_OP_PUT:
			assert_true(r.stat.version == st.version);
			assert_int_equal(r.stat.size, a.len);
			break;
		case FERRY_OP_INCR:
		case FERRY_OP_EXPIRE:
			assert_true(r.counter == b.counter);
			break;
		case FERRY_OP_DEL:
			break;
		}
	}
	/* Requests that are no public operation are refused. */
	fr_msg m;
	ferry_op o;
	fr_msg_init(&m, FR_OP_LIST, 0, 1);
	assert_int_equal(fr_op_from_request(&m, &o), FERRY_EPROTO);
}

/* WATCH, UNWATCH and EVENT, both good and bad. */
static void test_watch_messages(void **state)
{
	fr_msg m;
	size_t n;

	setup_bytes();
	/* A prefix of 0 to 1024 bytes; with FR_F_EXACT, a key. */
	size_t plens[] = {0, 1, FERRY_KEY_MAX};
	for (size_t i = 0; i < FR_ARRAY_LEN(plens); i++) {
		fr_msg_init(&m, FR_OP_WATCH, i ? FR_F_EXACT : 0, 30);
		m.w[FR_WATCH_PLEN] = plens[i];
		m.w[FR_WATCH_ID] = UINT64_MAX - i;
		m.blob[0] = key;
		assert_int_equal(round_trip(&m),
				 FR_HDR_SIZE + 16 + plens[i]);
	}
	m.w[FR_WATCH_PLEN] = FERRY_KEY_MAX + 1;
	n = fr_msg_encode(&m, buf, sizeof(buf));
	expect_eproto(buf, n, "WATCH prefix of 1025 bytes");
	fr_msg_init(&m, FR_OP_WATCH, FR_F_REPLY, 31);
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);
	fr_msg_init(&m, FR_OP_UNWATCH, 0, 32);
	m.w[FR_UNWATCH_ID] = 5;
	assert_int_equal(round_trip(&m), FR_HDR_SIZE + 8);
	fr_msg_init(&m, FR_OP_UNWATCH, FR_F_REPLY, 33);
	assert_int_equal(round_trip(&m), FR_HDR_SIZE);

	/* Every kind with a key; LOST without one. */
	for (int k = FERRY_EV_SET; k <= FERRY_EV_SETRANGE; k++) {
		size_t klen = k == FERRY_EV_LOST ? 0 : (size_t)k * 100;
		fr_msg_init(&m, FR_OP_EVENT, 0, 0);
		m.w[FR_EVENT_ID] = 9;
		m.w[FR_EVENT_KIND] = (uint64_t)k;
		m.w[FR_EVENT_KLEN] = klen;
		m.blob[0] = key;
		assert_int_equal(round_trip(&m), FR_HDR_SIZE + 24 + klen);
	}
	fr_msg_init(&m, FR_OP_EVENT, 0, 0);
	m.w[FR_EVENT_KIND] = FERRY_EV_SET;
	m.blob[0] = key;
	n = fr_msg_encode(&m, buf, sizeof(buf));
	expect_eproto(buf, n, "SET event without a key");
	m.w[FR_EVENT_KLEN] = FERRY_KEY_MAX + 1;
	n = fr_msg_encode(&m, buf, sizeof(buf));
	expect_eproto(buf, n, "event key of 1025 bytes");
	m.w[FR_EVENT_KLEN] = 1;
	m.w[FR_EVENT_KIND] = FERRY_EV_LOST;
	n = fr_msg_encode(&m, buf, sizeof(buf));
	expect_eproto(buf, n, "LOST event with a key");
	static const uint64_t bad_kinds[] = {0, FERRY_EV_SETRANGE + 1, UINT64_MAX};
	for (size_t i = 0; i < FR_ARRAY_LEN(bad_kinds); i++) {
		m.w[FR_EVENT_KIND] = bad_kinds[i];
		n = fr_msg_encode(&m, buf, sizeof(buf));
		expect_eproto(buf, n, "unknown event kind");
	}
}

static void test_op_names(void **state)
{
	assert_string_equal(fr_op_name(FR_OP_PUT), "PUT");
	assert_string_equal(fr_op_name(FR_OP_GET), "GET");
	assert_string_equal(fr_op_name(0), "?");
	assert_string_equal(fr_op_name(FR_OP_COUNT), "?");
	assert_string_equal(fr_op_name(1000), "?");
	for (unsigned op = 1; op < FR_OP_COUNT; op++)
		assert_string_not_equal(fr_op_name(op), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_requests),
	    cmocka_unit_test(test_round_trip_replies),
	    cmocka_unit_test(test_encode_capacity),
	    cmocka_unit_test(test_reject_header),
	    cmocka_unit_test(test_reject_lengths),
	    cmocka_unit_test(test_reject_keys),
	    cmocka_unit_test(test_reject_flag_combinations),
	    cmocka_unit_test(test_reject_status),
	    cmocka_unit_test(test_list_pack_next),
	    cmocka_unit_test(test_list_truncated),
	    cmocka_unit_test(test_fuzz_decode),
	    cmocka_unit_test(test_op_mapping),
	    cmocka_unit_test(test_watch_messages),
	    cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
