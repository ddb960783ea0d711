/*
 * A hostile client against a real ferry-server: this test speaks the wire
 * protocol itself over the fabric layer (src/fabric/fab.h) and sends
 * garbage, truncated and oversized messages, wrong magic and versions,
 * unknown opcodes, lengths that run past the message, ranges past a value,
 * bogus RMA addresses and keys, extreme LIST arguments, requests from
 * a peer that never said HELLO, a known peer greeting again with other
 * tokens (each must count as a new peer's would), and bad or many
 * watches (and watches of a peer that said BYE, which must go with it). After every case the server must still be
 * running, must have answered exactly what the protocol promises (an
 * FERRY_EPROTO reply under the sender's id for a malformed message from a
 * known peer, nothing for an unknown peer or a message too short to carry
 * an id), and an ordinary libferry client beside it must still store and
 * read values correctly.
 *
 * Each case gets a fresh server and runs in a child process with a time
 * limit (ft_isolated): a provider that wedges under attack then fails that
 * case in bounded time instead of hanging the suite or the cases after it.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/le.h"
#include "common/util.h"
#include "fabric/fab.h"
#include "proto/wire.h"

#define TIMEOUT_MS 4000
#define NRECV 8
#define INBOX 1024
#define SBUF_SIZE (64 * 1024)
#define QUIET_MS 300 /* how long "no reply" is watched for */
#define CASE_TIMEOUT_MS 25000
#define RMA_REPLY_MS 1000

static ft_cluster *cl;
static ferry_client *side; /* the well-behaved client beside the attacker */
static uint64_t next_id = 0x7100000000000001ull;

/* ---- a raw fabric peer ------------------------------------------------------
 */

struct raw {
	fr_fab *fab;
	fi_addr_t srv;
	uint8_t *mem; /* NRECV receive buffers, then the send buffer */
	uint8_t *sbuf;
	fr_mr mr;
	fr_ctx rx[NRECV], tx;
	int sent, tx_err;
	struct {
		uint8_t buf[FR_MSG_SIZE];
		size_t len;
	} inbox[INBOX];
	unsigned head, tail; /* inbox ring */
};

static struct raw *raw_open(void)
{
	struct raw *r = calloc(1, sizeof(*r));
	const char *why = NULL;
	char host[64], port[16];
	size_t bytes = (size_t)NRECV * FR_MSG_SIZE + SBUF_SIZE;

	assert_non_null(r);
	if (fr_fab_open(&r->fab, ft_provider(), NULL, NULL, &why))
		fail_msg("fr_fab_open(%s): %s", ft_provider(), why);
	assert_int_equal(fr_split_hostport(cl->addrs[0], host, sizeof(host),
					   port, sizeof(port)),
			 0);
	assert_int_equal(fr_fab_resolve(r->fab, host, port, &r->srv), 0);
	r->mem = aligned_alloc(4096, bytes);
	assert_non_null(r->mem);
	memset(r->mem, 0, bytes);
	r->sbuf = r->mem + (size_t)NRECV * FR_MSG_SIZE;
	assert_int_equal(
	    fr_mr_reg(r->fab, r->mem, bytes, FI_SEND | FI_RECV, &r->mr), 0);
	for (int i = 0; i < NRECV; i++)
		assert_int_equal(
		    fr_fab_recv(r->fab, r->mem + (size_t)i * FR_MSG_SIZE,
				FR_MSG_SIZE, r->mr.desc, &r->rx[i]),
		    0);
	return r;
}

static void raw_close(struct raw *r)
{
	if (!r)
		return;
	fr_mr_close(&r->mr);
	fr_fab_close(&r->fab);
	free(r->mem);
	free(r);
}

/* Drives progress for up to ms, or until *flag is set. Received messages
 * go to the inbox; every receive is reposted. */
static void pump(struct raw *r, const int *flag, int ms)
{
	uint64_t end = ft_now_ms() + (uint64_t)ms;

	do {
		fr_comp cp[16];
		int n = fr_fab_poll(r->fab, cp, 16);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			if (cp[i].ctx == &r->tx) {
				r->sent = 1;
				r->tx_err = cp[i].err;
				continue;
			}
			int k = (int)((fr_ctx *)cp[i].ctx - r->rx);
			if (k < 0 || k >= NRECV)
				continue; /* nothing else is posted */
			if (!cp[i].err && r->tail - r->head == INBOX)
				fail_msg("more than %d replies unread", INBOX);
			if (!cp[i].err) {
				unsigned slot = r->tail++ % INBOX;
				memcpy(r->inbox[slot].buf,
				       r->mem + (size_t)k * FR_MSG_SIZE,
				       cp[i].len);
				r->inbox[slot].len = cp[i].len;
			}
			assert_int_equal(
			    fr_fab_recv(r->fab,
					r->mem + (size_t)k * FR_MSG_SIZE,
					FR_MSG_SIZE, r->mr.desc, &r->rx[k]),
			    0);
		}
		if (flag && *flag)
			return;
		if (n == 0)
			usleep(20);
	} while (ft_now_ms() < end);
}

/* Sends len bytes as one message and waits for the send to complete. */
static void raw_send(struct raw *r, const void *msg, size_t len)
{
	assert_true(len <= SBUF_SIZE);
	memcpy(r->sbuf, msg, len);
	r->sent = 0;
	assert_int_equal(
	    fr_fab_send(r->fab, r->sbuf, len, r->mr.desc, r->srv, &r->tx), 0);
	pump(r, &r->sent, 5000);
	assert_true(r->sent);
}

static size_t encode(const fr_msg *m, uint8_t *buf)
{
	size_t n = fr_msg_encode(m, buf, FR_MSG_SIZE);

	assert_true(n >= FR_HDR_SIZE);
	return n;
}

/* Waits for the reply with this id, decodes it into *rep (blobs point into
 * keep, FR_MSG_SIZE bytes). Any other message that arrives first fails
 * the test: the server must not answer what it was not asked, nor answer
 * twice. Returns 0, or -1 on time-out. */
static int raw_reply(struct raw *r, uint64_t id, fr_msg *rep, uint8_t *keep,
		     int ms)
{
	uint64_t end = ft_now_ms() + (uint64_t)ms;
	const char *why = NULL;

	while (r->head == r->tail && ft_now_ms() < end)
		pump(r, NULL, 5);
	if (r->head == r->tail)
		return -1;
	unsigned slot = r->head++ % INBOX;
	memcpy(keep, r->inbox[slot].buf, r->inbox[slot].len);
	/* Whatever the server sends must itself be well formed. */
	if (fr_msg_decode(keep, r->inbox[slot].len, rep, &why))
		fail_msg("the server sent a malformed message: %s", why);
	assert_true(rep->h.flags & FR_F_REPLY);
	if (rep->h.id != id)
		fail_msg("unexpected reply (id %#llx, status %d) while waiting "
			 "for id %#llx",
			 (unsigned long long)rep->h.id, rep->h.status,
			 (unsigned long long)id);
	return 0;
}

/* Nothing arrives for QUIET_MS. */
static void raw_quiet(struct raw *r)
{
	pump(r, NULL, QUIET_MS);
	if (r->head != r->tail) {
		fr_msg m;
		fr_msg_decode(r->inbox[r->head % INBOX].buf,
			      r->inbox[r->head % INBOX].len, &m, NULL);
		fail_msg("the server answered (id %#llx, status %d) where it "
			 "must stay silent",
			 (unsigned long long)m.h.id, m.h.status);
	}
}

/* Sends a request built in m (its id is set here) and returns the reply's
 * status; the reply is left in *rep. */
static int request(struct raw *r, fr_msg *m, fr_msg *rep, uint8_t *keep)
{
	static uint8_t out[FR_MSG_SIZE];
	size_t n;

	m->h.id = next_id++;
	n = encode(m, out);
	raw_send(r, out, n);
	if (raw_reply(r, m->h.id, rep, keep, TIMEOUT_MS))
		fail_msg("no reply to %s (id %#llx)", fr_op_name(m->h.opcode),
			 (unsigned long long)m->h.id);
	return rep->h.status;
}

/* HELLO with token tok (tlen 0: none); returns the reply's status. */
/* Builds in m a HELLO that names as's address (into addr, 256 bytes),
 * with token tok (tlen 0: none). */
static void hello_of(struct raw *as, const char *tok, size_t tlen,
		     uint8_t *addr, fr_msg *m)
{
	size_t alen = 256;

	assert_int_equal(fr_fab_getname(as->fab, addr, &alen), 0);
	fr_msg_init(m, FR_OP_HELLO, 0, 0);
	m->w[FR_HELLO_ADDRLEN] = alen;
	m->w[FR_HELLO_TOKLEN] = tlen;
	m->blob[0] = addr;
	m->blob[1] = (const uint8_t *)tok;
}

static int raw_hello_token(struct raw *r, const char *tok, size_t tlen)
{
	static uint8_t keep[FR_MSG_SIZE];
	uint8_t addr[256];
	fr_msg m, rep;
	int rc;

	hello_of(r, tok, tlen, addr, &m);
	rc = request(r, &m, &rep, keep);
	assert_int_equal(rep.h.opcode, FR_OP_HELLO);
	if (!rc) {
		assert_true(rep.w[FR_HELLO_R_INLINE] > 0);
		assert_int_equal(rep.w[FR_HELLO_R_KEYMAX], FERRY_KEY_MAX);
	}
	return rc;
}

static void raw_hello(struct raw *r)
{
	ft_assert_rc(raw_hello_token(r, NULL, 0), 0);
}

/* ---- checks after every case
 * ---------------------------------------------------- */

/* The server is alive, answers a valid request from the attacker (if it
 * is a known peer) with nothing stale before it, and serves a normal
 * client correctly. */
static void still_serving(struct raw *r)
{
	static uint8_t keep[FR_MSG_SIZE];
	static unsigned round;
	uint8_t val[3000], back[3000];
	char key[32];
	size_t got = 0;
	fr_msg m, rep;

	if (!ft_server_alive(cl, 0)) {
		ft_dump_logs(cl);
		fail_msg("the server died");
	}
	if (r) {
		fr_msg_init(&m, FR_OP_SSTAT, 0, 0);
		ft_assert_rc(request(r, &m, &rep, keep), 0);
		assert_int_equal(rep.h.opcode, FR_OP_SSTAT);
	}
	snprintf(key, sizeof(key), "side/%u", round);
	ft_fill(val, sizeof(val), round++);
	int rc = ferry_put(side, key, strlen(key), val, sizeof(val), 0);
	if (!rc)
		rc = ferry_get(side, key, strlen(key), 0, back, sizeof(back),
			       &got, NULL);
	if (rc) {
		ft_dump_logs(cl);
		fail_msg("a normal client's put/get failed: %s",
			 ferry_strerror(rc));
	}
	assert_int_equal(got, sizeof(val));
	assert_memory_equal(back, val, sizeof(val));
}

/* Sends msg and expects an error reply with status (if msg is long enough
 * to carry an id), and a server still serving. */
static void expect_status(struct raw *r, const uint8_t *msg, size_t len,
			  const char *what, int status)
{
	static uint8_t keep[FR_MSG_SIZE];
	fr_msg rep;

	raw_send(r, msg, len);
	if (len >= 16) {
		uint64_t id = fr_get_u64(msg + 8);
		if (raw_reply(r, id, &rep, keep, TIMEOUT_MS))
			fail_msg("%s: no reply", what);
		if (rep.h.status != status)
			fail_msg("%s: reply status %d, expected %d", what,
				 rep.h.status, status);
		assert_int_equal(rep.h.body_len, 0);
	}
	still_serving(r);
}

static void expect_rejected(struct raw *r, const uint8_t *msg, size_t len,
			    const char *what)
{
	expect_status(r, msg, len, what, FERRY_EPROTO);
}

/* PUTs "bad/k" = val (inline) as r; returns the reply's status. */
static int raw_put(struct raw *r, const char *val)
{
	static uint8_t keep[FR_MSG_SIZE];
	fr_msg m, rep;

	fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE, 0);
	m.w[FR_PUT_KLEN] = 5;
	m.w[FR_PUT_VLEN] = strlen(val);
	m.blob[0] = (const uint8_t *)"bad/k";
	m.blob[1] = (const uint8_t *)val;
	return request(r, &m, &rep, keep);
}

/* ---- set-up
 * ------------------------------------------------------------------------ */

static int setup(void **state)
{
	static const char *const args[] = {"--memory", "64M", "--max-value",
					   "16M", NULL};

	cl = ft_cluster_start(1, args);
	return 0;
}

static int teardown(void **state)
{
	ft_cluster_stop(cl);
	cl = NULL;
	return 0;
}

/* The child's side client. */
static void begin(void)
{
	side = ft_connect(cl, TIMEOUT_MS);
}

/* A valid PUT of key "bad/k" with an inline 8-byte value, in out. */
static size_t valid_put(uint8_t *out, uint64_t id)
{
	fr_msg m;

	fr_msg_init(&m, FR_OP_PUT, FR_F_INLINE, id);
	m.w[FR_PUT_KLEN] = 5;
	m.w[FR_PUT_VLEN] = 8;
	m.blob[0] = (const uint8_t *)"bad/k";
	m.blob[1] = (const uint8_t *)"12345678";
	return encode(&m, out);
}

/* ---- cases
 * ----------------------------------------------------------------------------
 */

static void test_garbage(void **state)
{
	struct raw *r = raw_open();
	uint8_t msg[4096];
	uint64_t seed = 99;

	begin();

	raw_hello(r);
	still_serving(r);
	/* Random bytes of many lengths. */
	static const size_t lens[] = {1, 7, 16, 31, 32, 33, 100, 4096};
	for (size_t i = 0; i < FR_ARRAY_LEN(lens); i++) {
		ft_fill(msg, lens[i], seed++);
		msg[0] = 'x'; /* never the magic by chance */
		expect_rejected(r, msg, lens[i], "random bytes");
	}
	/* All zeros, all ones. */
	memset(msg, 0, 64);
	expect_rejected(r, msg, 64, "zeros");
	memset(msg, 0xff, 64);
	expect_rejected(r, msg, 64, "ones");
	/* A burst the server must survive without losing its place. */
	for (int i = 0; i < 300; i++) {
		ft_fill(msg, 48, seed++);
		msg[0] = 'x';
		raw_send(r, msg, 48);
	}
	/* Replies may come in any order (requests are served by many
	 * slots), but each exactly once, with FERRY_EPROTO. */
	static uint64_t ids[300];
	static unsigned char seen[300];
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 300; i++) {
		ft_fill(msg, 48, seed - 300 + (uint64_t)i);
		ids[i] = fr_get_u64(msg + 8);
	}
	uint64_t end = ft_now_ms() + TIMEOUT_MS;
	for (int got = 0; got < 300 && ft_now_ms() < end;) {
		fr_msg rep;
		static uint8_t keep[FR_MSG_SIZE];
		const char *why;
		pump(r, NULL, 5);
		while (r->head != r->tail) {
			unsigned slot = r->head++ % INBOX;
			int i;
			memcpy(keep, r->inbox[slot].buf, r->inbox[slot].len);
			if (fr_msg_decode(keep, r->inbox[slot].len, &rep, &why))
				fail_msg("burst: malformed reply: %s", why);
			for (i = 0; i < 300 && ids[i] != rep.h.id; i++)
				;
			if (i == 300 || seen[i])
				fail_msg("burst: unexpected reply id %#llx",
					 (unsigned long long)rep.h.id);
			seen[i] = 1;
			assert_int_equal(rep.h.status, FERRY_EPROTO);
			got++;
		}
	}
	for (int i = 0; i < 300; i++)
		if (!seen[i])
			fail_msg("burst: no reply to message %d", i);
	still_serving(r);
	raw_close(r);
}

static void test_truncated(void **state)
{
	struct raw *r = raw_open();
	uint8_t msg[SBUF_SIZE];
	size_t n;

	begin();

	raw_hello(r);
	n = valid_put(msg, next_id++);
	for (size_t cut = 1; cut < n; cut += cut < 40 ? 1 : 7)
		expect_rejected(r, msg, cut, "truncated PUT");
	/* The same message with extra bytes, and a body_len that lies. */
	n = valid_put(msg, next_id++);
	memset(msg + n, 0, 9);
	expect_rejected(r, msg, n + 9, "PUT with trailing bytes");
	n = valid_put(msg, next_id++);
	fr_put_u32(msg + 16, UINT32_MAX);
	expect_rejected(r, msg, n, "body_len 4G");
	/* No key was created by any of it. */
	ft_assert_rc(ferry_stat_key(side, "bad/k", 5, NULL), FERRY_ENOENT);
	raw_close(r);
}

/* Larger than any receive buffer: the receive fails at the server, which
 * has nothing to answer, and carries on. */
static void test_oversized_message(void **state)
{
	struct raw *r = raw_open();
	static uint8_t msg[SBUF_SIZE];
	size_t n;

	begin();
	raw_hello(r);
	n = valid_put(msg, next_id++);
	memset(msg + n, 'o', sizeof(msg) - n);
	memcpy(r->sbuf, msg, sizeof(msg));
	r->sent = 0;
	assert_int_equal(fr_fab_send(r->fab, r->sbuf, sizeof(msg), r->mr.desc,
				     r->srv, &r->tx),
			 0);
	pump(r, &r->sent, 3000); /* it may fail; the server must not */
	raw_quiet(r);
	still_serving(NULL);
	raw_close(r);
	r = raw_open();
	raw_hello(r);
	still_serving(r);
	ft_assert_rc(ferry_stat_key(side, "bad/k", 5, NULL), FERRY_ENOENT);
	raw_close(r);
}

static void test_header_fields(void **state)
{
	struct raw *r = raw_open();
	uint8_t msg[256];
	size_t n;

	begin();

	raw_hello(r);
	n = valid_put(msg, next_id++);
	msg[0] ^= 0x20;
	expect_rejected(r, msg, n, "bad magic");
	n = valid_put(msg, next_id++);
	msg[4] = FR_VERSION + 1;
	expect_rejected(r, msg, n, "newer version");
	n = valid_put(msg, next_id++);
	msg[4] = FR_VERSION - 1;
	expect_rejected(r, msg, n, "older version");
	static const uint8_t ops[] = {0, FR_OP_COUNT, 200, 255};
	for (size_t i = 0; i < FR_ARRAY_LEN(ops); i++) {
		n = valid_put(msg, next_id++);
		msg[5] = ops[i];
		expect_rejected(r, msg, n, "unknown opcode");
	}
	n = valid_put(msg, next_id++);
	fr_put_u16(msg + 6, FR_F_INLINE | 0x8000);
	expect_rejected(r, msg, n, "unknown flag");
	n = valid_put(msg, next_id++);
	fr_put_u16(msg + 6, FR_F_INLINE | FR_F_RMA);
	expect_rejected(r, msg, n, "inline and RMA");
	n = valid_put(msg, next_id++);
	fr_put_u16(msg + 6, FR_F_INLINE | FR_F_CREATE | FR_F_REPLACE);
	expect_rejected(r, msg, n, "create and replace");
	n = valid_put(msg, next_id++);
	msg[31] = 1; /* namespace id 1 << 56: no such namespace */
	expect_status(r, msg, n, "a namespace that does not exist",
		      FERRY_EACCES);
	n = valid_put(msg, next_id++);
	fr_put_u32(msg + 20, (uint32_t)FERRY_EIO);
	expect_rejected(r, msg, n, "status on a request");
	/* A reply sent to a server is not a request. */
	fr_msg m;
	fr_msg_init(&m, FR_OP_PUT, FR_F_REPLY, next_id++);
	n = encode(&m, msg);
	expect_rejected(r, msg, n, "a reply sent to the server");
	ft_assert_rc(ferry_stat_key(side, "bad/k", 5, NULL), FERRY_ENOENT);
	raw_close(r);
}

static void test_lengths(void **state)
{
	struct raw *r = raw_open();
	static uint8_t keep[FR_MSG_SIZE];
	uint8_t msg[2048];
	fr_msg m, rep;
	size_t n;

	begin();

	raw_hello(r);
	/* Blob lengths far past the message. */
	static const uint64_t huge[] = {9, 1u << 20, 1ull << 32, 1ull << 63,
					UINT64_MAX};
	for (size_t i = 0; i < FR_ARRAY_LEN(huge); i++) {
		n = valid_put(msg, next_id++);
		fr_put_u64(msg + FR_HDR_SIZE + 8 * FR_PUT_VLEN, huge[i]);
		expect_rejected(r, msg, n, "value length past the message");
		n = valid_put(msg, next_id++);
		fr_put_u64(msg + FR_HDR_SIZE + 8 * FR_PUT_KLEN, huge[i]);
		expect_rejected(r, msg, n, "key length past the message");
	}
	/* Keys of 0 and 1025 bytes, well framed. */
	static const uint8_t key[FERRY_KEY_MAX + 1];
	static const size_t klens[] = {0, FERRY_KEY_MAX + 1};
	for (size_t i = 0; i < 2; i++) {
		fr_msg_init(&m, FR_OP_STAT, 0, next_id++);
		m.w[FR_KEY_KLEN] = klens[i];
		m.blob[0] = key;
		n = encode(&m, msg);
		expect_rejected(r, msg, n, "key length out of range");
	}
	/* A value announced for RMA but larger than the server allows:
	 * refused before any data moves. */
	fr_msg_init(&m, FR_OP_PUT, FR_F_RMA, 0);
	m.w[FR_PUT_KLEN] = 5;
	m.w[FR_PUT_VLEN] = 1ull << 62;
	m.w[FR_PUT_RADDR] = 0x1000;
	m.w[FR_PUT_RKEY] = 1;
	m.blob[0] = (const uint8_t *)"bad/r";
	ft_assert_rc(request(r, &m, &rep, keep), FERRY_E2BIG);
	m.w[FR_PUT_VLEN] = (16u << 20) + 1; /* --max-value 16M, plus one */
	ft_assert_rc(request(r, &m, &rep, keep), FERRY_E2BIG);
	/* A value that travels neither inline nor by RMA. */
	fr_msg_init(&m, FR_OP_PUT, 0, 0);
	m.w[FR_PUT_KLEN] = 5;
	m.w[FR_PUT_VLEN] = 100;
	m.blob[0] = (const uint8_t *)"bad/r";
	ft_assert_rc(request(r, &m, &rep, keep), FERRY_EPROTO);
	ft_assert_rc(ferry_stat_key(side, "bad/r", 5, NULL), FERRY_ENOENT);
	still_serving(r);
	raw_close(r);
}

static void test_get_ranges(void **state)
{
	struct raw *r = raw_open();
	static uint8_t keep[FR_MSG_SIZE];
	uint8_t val[100];
	fr_msg m, rep;

	begin();

	raw_hello(r);
	ft_fill(val, sizeof(val), 5);
	ft_assert_rc(ferry_put(side, "bad/range", 9, val, sizeof(val), 0), 0);
	static const struct {
		uint64_t off, len;
		int rc;
		uint64_t got;
	} cases[] = {
	    {0, 100, 0, 100},
	    {99, 100, 0, 1},
	    {100, 100, 0, 0},
	    {101, 100, FERRY_ERANGE, 0},
	    {1ull << 40, 1, FERRY_ERANGE, 0},
	    {UINT64_MAX, UINT64_MAX, FERRY_ERANGE, 0},
	    {50, UINT64_MAX, 0, 50}, /* inline: capped by the value */
	};
	for (size_t i = 0; i < FR_ARRAY_LEN(cases); i++) {
		fr_msg_init(&m, FR_OP_GET, 0, 0);
		m.w[FR_GET_KLEN] = 9;
		m.w[FR_GET_OFFSET] = cases[i].off;
		m.w[FR_GET_LEN] = cases[i].len;
		m.blob[0] = (const uint8_t *)"bad/range";
		if (request(r, &m, &rep, keep) != cases[i].rc)
			fail_msg(
			    "GET offset %llu len %llu: status %d, expected %d",
			    (unsigned long long)cases[i].off,
			    (unsigned long long)cases[i].len, rep.h.status,
			    cases[i].rc);
		if (cases[i].rc)
			continue;
		assert_int_equal(rep.w[FR_GET_R_SIZE], 100);
		assert_int_equal(rep.w[FR_GET_R_GOT], cases[i].got);
		assert_int_equal(rep.blen[0], cases[i].got);
		if (cases[i].got)
			assert_memory_equal(rep.blob[0], val + cases[i].off,
					    cases[i].got);
	}
	/* A missing key. */
	fr_msg_init(&m, FR_OP_GET, 0, 0);
	m.w[FR_GET_KLEN] = 8;
	m.w[FR_GET_LEN] = 10;
	m.blob[0] = (const uint8_t *)"bad/none";
	ft_assert_rc(request(r, &m, &rep, keep), FERRY_ENOENT);
	still_serving(r);
	raw_close(r);
}

/* Sends m (an RMA request with bogus addresses) from a fresh peer. The
 * server must fail the transfer: an error reply, or none at all when the
 * attacker's own provider dropped the connection over the bad key (tcp
 * does), but never success. */
static void bogus_request(fr_msg *m, const char *what)
{
	static uint8_t keep[FR_MSG_SIZE], out[FR_MSG_SIZE];
	struct raw *r = raw_open();
	fr_msg rep;

	raw_hello(r);
	m->h.id = next_id++;
	raw_send(r, out, encode(m, out));
	if (raw_reply(r, m->h.id, &rep, keep, RMA_REPLY_MS) == 0 &&
	    rep.h.status == 0)
		fail_msg("%s reported success", what);
	raw_close(r);
}

/* The server moves large values by RMA to and from addresses the client
 * names. Bogus ones must fail that request, not the server. */
static void test_bogus_rma(void **state)
{
	size_t size = 1 << 20, got;
	uint8_t *val = malloc(size), *back = malloc(size);
	char what[128];
	fr_msg m;

	begin();
	assert_non_null(val);
	assert_non_null(back);
	ft_fill(val, size, 11);
	ft_assert_rc(ferry_put(side, "bad/rma", 7, val, size, 0), 0);
	const struct {
		uint64_t raddr, rkey;
	} bogus[] = {
	    {0, 0},
	    {0x1000, 0xdeadbeef},
	    {(uint64_t)(uintptr_t)val, 0x5151}, /* real memory, no key */
	};
	for (size_t i = 0; i < FR_ARRAY_LEN(bogus); i++) {
		/* PUT of a new key: the server cannot pull the value, and
		 * stores nothing. */
		fr_msg_init(&m, FR_OP_PUT, FR_F_RMA, 0);
		m.w[FR_PUT_KLEN] = 9;
		m.w[FR_PUT_VLEN] = size;
		m.w[FR_PUT_RADDR] = bogus[i].raddr;
		m.w[FR_PUT_RKEY] = bogus[i].rkey;
		m.blob[0] = (const uint8_t *)"bad/rmap1";
		snprintf(what, sizeof(what),
			 "PUT from RMA address %#llx key %#llx",
			 (unsigned long long)bogus[i].raddr,
			 (unsigned long long)bogus[i].rkey);
		bogus_request(&m, what);
		still_serving(NULL);
		ft_assert_rc(ferry_stat_key(side, "bad/rmap1", 9, NULL),
			     FERRY_ENOENT);
		/* PUT over an existing value: the old value survives. */
		if (i == 0) {
			m.w[FR_PUT_KLEN] = 7;
			m.blob[0] = (const uint8_t *)"bad/rma";
			bogus_request(&m, what);
			still_serving(NULL);
		}
		/* GET: the server cannot push the value, and says so. */
		fr_msg_init(&m, FR_OP_GET, FR_F_RMA, 0);
		m.w[FR_GET_KLEN] = 7;
		m.w[FR_GET_LEN] = size;
		m.w[FR_GET_RADDR] = bogus[i].raddr;
		m.w[FR_GET_RKEY] = bogus[i].rkey;
		m.blob[0] = (const uint8_t *)"bad/rma";
		snprintf(what, sizeof(what),
			 "GET into RMA address %#llx key %#llx",
			 (unsigned long long)bogus[i].raddr,
			 (unsigned long long)bogus[i].rkey);
		bogus_request(&m, what);
		still_serving(NULL);
		ft_assert_rc(
		    ferry_get(side, "bad/rma", 7, 0, back, size, &got, NULL),
		    0);
		assert_int_equal(got, size);
		assert_int_equal(ft_check(back, size, 11), (size_t)-1);
	}
	free(val);
	free(back);
}

/* A client process that dies in the middle of large transfers (a
 * function killed at its time limit) must not take the server with it. */
static void test_client_killed_mid_transfer(void **state)
{
	size_t size = 16u << 20;
	uint8_t *val = malloc(size);

	begin();
	assert_non_null(val);
	ft_fill(val, size, 21);
	ft_assert_rc(ferry_put(side, "bad/big", 7, val, size, 0), 0);
	for (int round = 0; round < 3; round++) {
		int go[2];
		char c;
		assert_int_equal(pipe(go), 0);
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* Gets and puts of 16 MiB, in flight when killed. */
			ferry_client *cc = NULL;
			static ferry_op ops[8];
			uint8_t *buf = malloc(size * 4);
			if (!buf || ft_connect_opts(cl, TIMEOUT_MS, 0, &cc))
				_exit(2);
			for (int i = 0; i < 8; i++) {
				ops[i] = (ferry_op){
				    .opcode =
					i % 2 ? FERRY_OP_PUT : FERRY_OP_GET,
				    .key = i % 2 ? "bad/big2" : "bad/big",
				    .klen = i % 2 ? 8 : 7,
				    .buf = buf + (size_t)(i % 4) * size,
				    .len = size};
				ferry_submit(cc, &ops[i]);
			}
			if (write(go[1], "s", 1) != 1)
				_exit(3);
			for (;;) {
				ferry_op *out[8];
				ferry_poll(cc, out, 8, 100);
			}
		}
		close(go[1]);
		assert_int_equal(read(go[0], &c, 1), 1);
		close(go[0]);
		usleep(1000 * (unsigned)round);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		still_serving(NULL);
	}
	/* The stored value is intact. */
	memset(val, 0, size);
	size_t got;
	ft_assert_rc(ferry_get(side, "bad/big", 7, 0, val, size, &got, NULL),
		     0);
	assert_int_equal(got, size);
	assert_int_equal(ft_check(val, size, 21), (size_t)-1);
	free(val);
}

static void test_list_extremes(void **state)
{
	struct raw *r = raw_open();
	static uint8_t keep[FR_MSG_SIZE];
	fr_msg m, rep;

	begin();

	raw_hello(r);
	/* Enough keys that a page fills the reply buffer. */
	for (int i = 0; i < 300; i++) {
		char key[96];
		int n = snprintf(key, sizeof(key), "bad/list/%04d/%064d", i, 0);
		ft_assert_rc(ferry_put(side, key, (size_t)n, "v", 1, 0), 0);
	}
	static const uint64_t maxes[] = {0, 1, 1000, 1ull << 32, UINT64_MAX};
	for (size_t i = 0; i < FR_ARRAY_LEN(maxes); i++) {
		const uint8_t *k;
		size_t off = 0, klen, count = 0;
		fr_msg_init(&m, FR_OP_LIST, 0, 0);
		m.w[FR_LIST_PLEN] = 9;
		m.w[FR_LIST_MAX] = maxes[i];
		m.blob[0] = (const uint8_t *)"bad/list/";
		ft_assert_rc(request(r, &m, &rep, keep), 0);
		while (fr_list_next(rep.blob[0], rep.blen[0], &off, &k,
				    &klen) == 1) {
			assert_true(klen > 9);
			assert_memory_equal(k, "bad/list/", 9);
			count++;
		}
		assert_int_equal(off, rep.blen[0]);
		assert_int_equal(count, rep.w[FR_LIST_R_COUNT]);
		assert_true(count <= maxes[i]);
		/* 300 keys of 82 bytes do not fit one reply: more. */
		assert_true(rep.h.flags & FR_F_MORE);
		if (maxes[i] == 0)
			assert_int_equal(count, 0);
		else
			assert_true(count > 0);
	}
	/* A cursor past everything, and one of the longest length. */
	static uint8_t after[FERRY_KEY_MAX];
	memset(after, 0xff, sizeof(after));
	fr_msg_init(&m, FR_OP_LIST, 0, 0);
	m.w[FR_LIST_PLEN] = 0;
	m.w[FR_LIST_ALEN] = sizeof(after);
	m.w[FR_LIST_MAX] = UINT64_MAX;
	m.blob[1] = after;
	ft_assert_rc(request(r, &m, &rep, keep), 0);
	assert_int_equal(rep.w[FR_LIST_R_COUNT], 0);
	assert_false(rep.h.flags & FR_F_MORE);
	still_serving(r);
	raw_close(r);
}

static void test_hello_abuse(void **state)
{
	struct raw *r = raw_open();
	static uint8_t keep[FR_MSG_SIZE];
	uint8_t addr[512];
	fr_msg m, rep;

	begin();

	raw_hello(r);
	/* HELLO again: still one peer, still answered. */
	raw_hello(r);
	/* Addresses the server cannot use. */
	memset(addr, 0, sizeof(addr));
	fr_msg_init(&m, FR_OP_HELLO, 0, 0);
	m.w[FR_HELLO_ADDRLEN] = 0;
	m.blob[0] = addr;
	ft_assert_rc(request(r, &m, &rep, keep), FERRY_EPROTO);
	m.w[FR_HELLO_ADDRLEN] = 300;
	ft_assert_rc(request(r, &m, &rep, keep), FERRY_EPROTO);
	still_serving(r);
	/* BYE: the server forgets us; requests go unanswered until the
	 * next HELLO. */
	fr_msg_init(&m, FR_OP_BYE, 0, next_id++);
	uint8_t out[64];
	raw_send(r, out, encode(&m, out));
	raw_quiet(r);
	fr_msg_init(&m, FR_OP_SSTAT, 0, next_id++);
	raw_send(r, out, encode(&m, out));
	raw_quiet(r);
	still_serving(NULL);
	raw_hello(r);
	still_serving(r);
	/* A HELLO whose address is garbage of a plausible size: whatever
	 * the server makes of it, it keeps serving everyone. */
	ft_fill(addr, 64, 3);
	fr_msg_init(&m, FR_OP_HELLO, 0, next_id++);
	m.w[FR_HELLO_ADDRLEN] = 64;
	m.blob[0] = addr;
	raw_send(r, keep, encode(&m, keep));
	pump(r, NULL, QUIET_MS);
	r->head = r->tail; /* a reply, an error or nothing are all fine */
	still_serving(NULL);
	raw_close(r);
}

/* The next message, which must be an EVENT of watch id, kind, on key. */
static void raw_event(struct raw *r, uint64_t id, int kind, const char *key)
{
	static uint8_t keep[FR_MSG_SIZE];
	uint64_t end = ft_now_ms() + TIMEOUT_MS;
	const char *why = NULL;
	fr_msg ev;

	while (r->head == r->tail && ft_now_ms() < end)
		pump(r, NULL, 5);
	if (r->head == r->tail)
		fail_msg("no event (watch %llu, kind %d, key %s)",
			 (unsigned long long)id, kind, key);
	unsigned slot = r->head++ % INBOX;
	memcpy(keep, r->inbox[slot].buf, r->inbox[slot].len);
	if (fr_msg_decode(keep, r->inbox[slot].len, &ev, &why))
		fail_msg("the server sent a malformed message: %s", why);
	assert_int_equal(ev.h.opcode, FR_OP_EVENT);
	assert_false(ev.h.flags & FR_F_REPLY);
	assert_true(ev.w[FR_EVENT_ID] == id);
	assert_int_equal(ev.w[FR_EVENT_KIND], kind);
	assert_int_equal(ev.blen[0], strlen(key));
	assert_memory_equal(ev.blob[0], key, strlen(key));
}

static int raw_watch(struct raw *r, uint64_t id, uint16_t flags,
		     const void *p, size_t plen)
{
	static uint8_t keep[FR_MSG_SIZE];
	fr_msg m, rep;

	fr_msg_init(&m, FR_OP_WATCH, flags, 0);
	m.w[FR_WATCH_PLEN] = plen;
	m.w[FR_WATCH_ID] = id;
	m.blob[0] = p;
	return request(r, &m, &rep, keep);
}

static int raw_unwatch(struct raw *r, uint64_t id)
{
	static uint8_t keep[FR_MSG_SIZE];
	fr_msg m, rep;

	fr_msg_init(&m, FR_OP_UNWATCH, 0, 0);
	m.w[FR_UNWATCH_ID] = id;
	return request(r, &m, &rep, keep);
}

static void side_put(const char *key)
{
	ft_assert_rc(ferry_put(side, key, strlen(key), "v", 1, 0), 0);
}

/* Watches: bad ones refused, a repeated id replacing, UNWATCH of what
 * does not exist, an EVENT sent to the server, a thousand watches, and
 * BYE taking every watch of the peer with it. */
/* What "bad/k" holds in the namespace tok opens ("" if nothing). */
static void ns_value(const char *tok, char *out, size_t cap)
{
	ferry_client *c;
	ferry_opts o;
	size_t got = 0;
	int rc;

	ft_opts_mode(cl, FT_DIRECT, &o);
	o.token = tok;
	ft_assert_rc(ferry_connect(&o, &c), 0);
	rc = ferry_get(c, "bad/k", 5, 0, out, cap - 1, &got, NULL);
	assert_true(rc == 0 || rc == FERRY_ENOENT);
	out[rc ? 0 : got] = 0;
	ferry_close(c);
}

/* A known peer that greets again with another token is what that token
 * makes it, as a new peer would be: checking the token it was let in
 * with first (authenticate in src/server/server.c) only shortens the
 * keep-alive. A wrong token is refused, then refuses everything; the
 * token of a namespace removed since is refused. */
static void test_hello_tokens(void **state)
{
	struct raw *r = raw_open();
	char ta[FERRY_TOKEN_LEN + 1], tb[FERRY_TOKEN_LEN + 1];
	char wrong[FERRY_TOKEN_LEN + 1], v[32];

	begin();
	ft_assert_rc(ferry_ns_create(side, "hello-a", NULL, ta), 0);
	ft_assert_rc(ferry_ns_create(side, "hello-b", NULL, tb), 0);
	memcpy(wrong, ta, sizeof(wrong));
	wrong[0] = wrong[0] == '0' ? '1' : '0';
	ft_assert_rc(raw_hello_token(r, ta, strlen(ta)), 0);
	ft_assert_rc(raw_hello_token(r, ta, strlen(ta)), 0);
	ft_assert_rc(raw_put(r, "in-a"), 0);
	ft_assert_rc(raw_hello_token(r, tb, strlen(tb)), 0);
	ft_assert_rc(raw_put(r, "in-b"), 0);
	ft_assert_rc(raw_hello_token(r, NULL, 0), 0); /* open: the admin */
	ft_assert_rc(raw_put(r, "in-default"), 0);
	ft_assert_rc(raw_hello_token(r, tb, strlen(tb)), 0);
	ft_assert_rc(raw_hello_token(r, wrong, strlen(wrong)), FERRY_EACCES);
	ft_assert_rc(raw_put(r, "denied"), FERRY_EACCES);
	ns_value(ta, v, sizeof(v));
	assert_string_equal(v, "in-a");
	ns_value(tb, v, sizeof(v));
	assert_string_equal(v, "in-b");
	ns_value(NULL, v, sizeof(v));
	assert_string_equal(v, "in-default");
	ft_assert_rc(raw_hello_token(r, ta, strlen(ta)), 0);
	ft_assert_rc(ferry_ns_rm(side, "hello-a"), 0);
	ft_assert_rc(raw_hello_token(r, ta, strlen(ta)), FERRY_EACCES);
	still_serving(NULL);
	raw_close(r);
}

/* A HELLO that names a known peer's address from another sender, known
 * or not, is refused: it would otherwise make that peer what its token
 * says (here: denied, so the admin's every request would be refused) and
 * send that peer's replies and events where it says. */
static void test_hello_names_another(void **state)
{
	struct raw *victim = raw_open(), *known = raw_open();
	struct raw *stranger = raw_open();
	static uint8_t keep[FR_MSG_SIZE];
	uint8_t addr[256], out[FR_MSG_SIZE];
	char wrong[FERRY_TOKEN_LEN + 1];
	fr_msg m, rep;

	begin();
	memset(wrong, 'f', FERRY_TOKEN_LEN);
	wrong[FERRY_TOKEN_LEN] = 0;
	raw_hello(victim);
	raw_hello(known);
	hello_of(victim, wrong, FERRY_TOKEN_LEN, addr, &m);
	ft_assert_rc(request(known, &m, &rep, keep), FERRY_EACCES);
	m.h.id = next_id++;
	raw_send(stranger, out, encode(&m, out));
	raw_quiet(stranger);
	raw_quiet(victim);
	still_serving(victim);
	still_serving(known);
	raw_close(stranger);
	raw_close(known);
	raw_close(victim);
}

/* NS_CREATE (id and token as given) or NS_DROP of name, from the admin
 * r; returns the reply's status. */
static int raw_ns(struct raw *r, uint8_t op, const char *name, uint64_t id,
		  const char *tok)
{
	static uint8_t keep[FR_MSG_SIZE];
	fr_msg m, rep;

	fr_msg_init(&m, op, 0, 0);
	m.w[FR_NS_NLEN] = strlen(name);
	m.blob[0] = (const uint8_t *)name;
	if (op == FR_OP_NS_CREATE) {
		m.w[FR_NS_ID] = id;
		m.w[FR_NS_TLEN] = strlen(tok);
		m.blob[1] = (const uint8_t *)tok;
	}
	return request(r, &m, &rep, keep);
}

/* A namespace removed and created again under the same id (the admin
 * picks ids on the wire) is a new namespace: a peer let in by the old
 * one's token may not act in it. */
static void test_ns_id_reused(void **state)
{
	struct raw *admin = raw_open(), *old = raw_open();
	char v[32];

	begin();
	raw_hello(admin);
	ft_assert_rc(raw_ns(admin, FR_OP_NS_CREATE, "reuse-a", 0x5eed,
			    "token-a"),
		     0);
	ft_assert_rc(raw_hello_token(old, "token-a", 7), 0);
	ft_assert_rc(raw_put(old, "in-a"), 0);
	ft_assert_rc(raw_watch(old, 1, 0, "", 0), 0);
	ft_assert_rc(raw_ns(admin, FR_OP_NS_DROP, "reuse-a", 0, NULL), 0);
	ft_assert_rc(raw_put(old, "gone"), FERRY_EACCES);
	ft_assert_rc(raw_ns(admin, FR_OP_NS_CREATE, "reuse-b", 0x5eed,
			    "token-b"),
		     0);
	ft_assert_rc(raw_put(old, "stale"), FERRY_EACCES);
	ns_value("token-b", v, sizeof(v));
	assert_string_equal(v, "");
	/* Nor do the old peer's watches hear of the new namespace's keys. */
	ft_assert_rc(raw_hello_token(admin, "token-b", 7), 0);
	ft_assert_rc(raw_put(admin, "in-b"), 0);
	raw_quiet(old);
	ft_assert_rc(raw_hello_token(admin, NULL, 0), 0);
	still_serving(admin);
	raw_close(old);
	raw_close(admin);
}

/* The same while the removed namespace's keys are still being freed (a
 * batch per loop pass): the id is taken until they are gone, so the new
 * namespace neither shows them nor loses its own keys to their freeing. */
static void test_ns_id_reused_draining(void **state)
{
	static uint8_t keep[FR_MSG_SIZE];
	struct raw *admin = raw_open();
	uint8_t out[3][FR_MSG_SIZE];
	size_t len[3];
	uint64_t ids[3];
	ferry_client *c;
	ferry_opts o;
	char key[32], v[32];
	fr_msg m, rep;
	int rc;

	begin();
	raw_hello(admin);
	ft_assert_rc(raw_ns(admin, FR_OP_NS_CREATE, "drain-a", 0x5eee,
			    "token-c"),
		     0);
	ft_opts_mode(cl, FT_DIRECT, &o);
	o.token = "token-c";
	ft_assert_rc(ferry_connect(&o, &c), 0);
	for (int i = 0; i < 4000; i++) {
		snprintf(key, sizeof(key), "old/%d", i);
		ft_assert_rc(ferry_put(c, key, strlen(key), "x", 1, 0), 0);
	}
	ferry_close(c);
	/* NS_DROP, NS_CREATE under the same id and a LIST there (as the
	 * admin: the header names the id), sent back to back. */
	fr_msg_init(&m, FR_OP_NS_DROP, 0, ids[0] = next_id++);
	m.w[FR_NS_NLEN] = 7;
	m.blob[0] = (const uint8_t *)"drain-a";
	len[0] = encode(&m, out[0]);
	fr_msg_init(&m, FR_OP_NS_CREATE, 0, ids[1] = next_id++);
	m.w[FR_NS_NLEN] = 7;
	m.blob[0] = (const uint8_t *)"drain-b";
	m.w[FR_NS_ID] = 0x5eee;
	m.w[FR_NS_TLEN] = 7;
	m.blob[1] = (const uint8_t *)"token-d";
	len[1] = encode(&m, out[1]);
	fr_msg_init(&m, FR_OP_LIST, 0, ids[2] = next_id++);
	m.h.ns = 0x5eee;
	m.w[FR_LIST_MAX] = 10;
	len[2] = encode(&m, out[2]);
	for (int i = 0; i < 3; i++)
		raw_send(admin, out[i], len[i]);
	assert_int_equal(raw_reply(admin, ids[0], &rep, keep, TIMEOUT_MS), 0);
	ft_assert_rc(rep.h.status, 0);
	assert_int_equal(raw_reply(admin, ids[1], &rep, keep, TIMEOUT_MS), 0);
	rc = rep.h.status;
	if (rc != 0 && rc != FERRY_EEXIST)
		fail_msg("NS_CREATE of a draining id: %s", ferry_strerror(rc));
	assert_int_equal(raw_reply(admin, ids[2], &rep, keep, TIMEOUT_MS), 0);
	if (rc == 0)
		assert_int_equal(rep.w[FR_LIST_R_COUNT], 0);
	/* Once they are freed, the id can be had again, and the new
	 * namespace keeps what it stores. */
	for (int i = 0; rc && i < 100; i++) {
		usleep(10000);
		rc = raw_ns(admin, FR_OP_NS_CREATE, "drain-b", 0x5eee,
			    "token-d");
	}
	ft_assert_rc(rc, 0);
	ft_assert_rc(raw_hello_token(admin, "token-d", 7), 0);
	ft_assert_rc(raw_put(admin, "in-d"), 0);
	usleep(100000);
	ns_value("token-d", v, sizeof(v));
	assert_string_equal(v, "in-d");
	ft_assert_rc(raw_hello_token(admin, NULL, 0), 0);
	still_serving(admin);
	raw_close(admin);
}

static void test_watch_abuse(void **state)
{
	struct raw *r = raw_open();
	static uint8_t keep[FR_MSG_SIZE], big[FERRY_KEY_MAX + 1];
	fr_msg m, rep;
	uint8_t out[FR_MSG_SIZE];

	begin();
	raw_hello(r);
	ft_assert_rc(raw_watch(r, 1, FR_F_EXACT, "", 0), FERRY_EINVAL);
	ft_assert_rc(raw_unwatch(r, 12345), 0);
	/* A prefix longer than a key does not decode. */
	fr_msg_init(&m, FR_OP_WATCH, 0, next_id++);
	m.w[FR_WATCH_PLEN] = sizeof(big);
	m.blob[0] = big;
	expect_rejected(r, out, encode(&m, out), "WATCH prefix of 1025 bytes");
	/* EVENTs go from servers to clients, never the other way. */
	fr_msg_init(&m, FR_OP_EVENT, 0, 0);
	m.w[FR_EVENT_KIND] = FERRY_EV_SET;
	m.w[FR_EVENT_KLEN] = 1;
	m.blob[0] = (const uint8_t *)"k";
	ft_assert_rc(request(r, &m, &rep, keep), FERRY_EPROTO);

	/* A watch, then the same id again on another key: replaced. */
	ft_assert_rc(raw_watch(r, UINT64_MAX, 0, "bad/w/", 6), 0);
	side_put("bad/w/x");
	raw_event(r, UINT64_MAX, FERRY_EV_SET, "bad/w/x");
	ft_assert_rc(raw_watch(r, UINT64_MAX, FR_F_EXACT, "bad/w/y", 7), 0);
	side_put("bad/w/x");
	raw_quiet(r);
	side_put("bad/w/y");
	raw_event(r, UINT64_MAX, FERRY_EV_SET, "bad/w/y");
	ft_assert_rc(raw_unwatch(r, UINT64_MAX), 0);
	side_put("bad/w/y");
	raw_quiet(r);

	/* A thousand watches, exact and prefix, then BYE: the server
	 * forgets them with the peer, sends nothing more, and a new HELLO
	 * from the same address starts with none. */
	for (uint64_t id = 0; id < 1000; id++) {
		char key[32];
		int n = snprintf(key, sizeof(key), "bad/many/%llu",
				 (unsigned long long)id);
		ft_assert_rc(raw_watch(r, id, id % 2 ? FR_F_EXACT : 0, key,
				       (size_t)n),
			     0);
	}
	side_put("bad/many/7");
	/* The exact watch 7, and the prefix watch 0 ("bad/many/0" is no
	 * prefix of it): one event. */
	raw_event(r, 7, FERRY_EV_SET, "bad/many/7");
	raw_quiet(r);
	fr_msg_init(&m, FR_OP_BYE, 0, next_id++);
	raw_send(r, out, encode(&m, out));
	raw_quiet(r);
	side_put("bad/many/7");
	raw_hello(r);
	side_put("bad/many/7");
	raw_quiet(r);
	still_serving(r);
	raw_close(r);
}

/* A peer that never said HELLO is never answered and changes nothing. */
static void test_unknown_peer(void **state)
{
	struct raw *known = raw_open(), *stranger;
	uint8_t msg[256];
	fr_msg m;
	size_t n;

	begin();

	/* A known peer first, so a provider that names unknown senders by
	 * an existing address (shm does: 0) would misroute to it. */
	raw_hello(known);
	stranger = raw_open();
	n = valid_put(msg, next_id++);
	raw_send(stranger, msg, n);
	fr_msg_init(&m, FR_OP_SSTAT, 0, next_id++);
	n = encode(&m, msg);
	raw_send(stranger, msg, n);
	fr_msg_init(&m, FR_OP_DEL, 0, next_id++);
	m.w[FR_KEY_KLEN] = 6;
	m.blob[0] = (const uint8_t *)"side/0";
	n = encode(&m, msg);
	raw_send(stranger, msg, n);
	ft_fill(msg, 64, 8);
	msg[0] = 'x';
	raw_send(stranger, msg, 64);
	raw_quiet(stranger);
	raw_quiet(known);
	ft_assert_rc(ferry_stat_key(side, "bad/k", 5, NULL), FERRY_ENOENT);
	still_serving(known);
	/* Once it says HELLO, it is served like anyone. */
	raw_hello(stranger);
	still_serving(stranger);
	raw_close(stranger);
	raw_close(known);
}

/* An ordinary client that closes (BYE) while large requests of its own
 * are still being served: the server finishes or drops them, and keeps
 * serving everyone else. */
static void test_close_with_requests_in_flight(void **state)
{
	size_t size = 16u << 20;
	uint8_t *val = malloc(4 * size);

	begin();
	assert_non_null(val);
	ft_fill(val, size, 31);
	ft_assert_rc(ferry_put(side, "bad/inflight", 12, val, size, 0), 0);
	for (int round = 0; round < 3; round++) {
		ferry_client *cc = ft_connect(cl, TIMEOUT_MS);
		static ferry_op ops[4];
		for (int i = 0; i < 4; i++) {
			ops[i] = (ferry_op){
			    .opcode = i == 3 ? FERRY_OP_PUT : FERRY_OP_GET,
			    .key = i == 3 ? "bad/inflight2" : "bad/inflight",
			    .klen = i == 3 ? 13 : 12,
			    .buf = val + (size_t)i * size,
			    .len = size};
			ft_assert_rc(ferry_submit(cc, &ops[i]), 0);
		}
		ferry_close(cc);
		usleep(100000);
		still_serving(NULL);
	}
	size_t got;
	ft_assert_rc(
	    ferry_get(side, "bad/inflight", 12, 0, val, size, &got, NULL), 0);
	assert_int_equal(got, size);
	assert_int_equal(ft_check(val, size, 31), (size_t)-1);
	free(val);
}

static void test_peer_vanishes(void **state)
{
	begin();
	/* A peer that sends a request and closes its endpoint before the
	 * reply: the server's reply goes nowhere, and it carries on. */
	for (int i = 0; i < 5; i++) {
		struct raw *r = raw_open();
		uint8_t msg[256];
		fr_msg m;
		raw_hello(r);
		fr_msg_init(&m, FR_OP_SSTAT, 0, next_id++);
		raw_send(r, msg, encode(&m, msg));
		raw_close(r);
	}
	still_serving(NULL);
}

/* Every case runs isolated (see the top of the file). */
#define ISOLATED(fn)                                                           \
	static void fn##_isolated(void **state)                                \
	{                                                                      \
		ft_isolated(#fn, fn, state, CASE_TIMEOUT_MS);                  \
	}

/* Cases libfabric 1.17's shm provider does not let us test. It keeps
 * message state and spinlocks in memory shared with the peer, and a peer
 * that sends an oversized message leaves the server wedged inside the
 * provider (seen with gdb: pthread_spin_lock in shm's fi_send). Its
 * direct RMA (one process_vm_readv/writev by the server) does not look at
 * keys, so a peer naming memory it never registered gets its own bytes
 * read, not an error. ferry's fabric peers are trusted processes
 * (functions reach it through the proxy), and docs/architecture.md and
 * docs/security.md state these limits; on shm these cases are reported as
 * skipped, with the reason, and run on tcp. */
#define ISOLATED_NOT_SHM(fn, what)                                             \
	static void fn##_isolated(void **state)                                \
	{                                                                      \
		if (strcmp(ft_provider(), "shm") == 0) {                       \
			print_message("# shm provider (libfabric 1.17): "      \
				      "a peer that " what "\n");             \
			skip();                                                \
		}                                                              \
		ft_isolated(#fn, fn, state, CASE_TIMEOUT_MS);                  \
	}
ISOLATED(test_garbage)
ISOLATED(test_truncated)
ISOLATED_NOT_SHM(test_oversized_message,
		 "sends an oversized message wedges it")
ISOLATED(test_header_fields)
ISOLATED(test_lengths)
ISOLATED(test_get_ranges)
ISOLATED_NOT_SHM(test_bogus_rma, "names memory it never registered "
				 "(its direct RMA checks no keys)")
ISOLATED(test_client_killed_mid_transfer)
ISOLATED(test_list_extremes)
ISOLATED(test_hello_abuse)
ISOLATED(test_hello_tokens)
ISOLATED(test_hello_names_another)
ISOLATED(test_ns_id_reused)
ISOLATED(test_ns_id_reused_draining)
ISOLATED(test_watch_abuse)
ISOLATED(test_unknown_peer)
ISOLATED(test_close_with_requests_in_flight)
ISOLATED(test_peer_vanishes)

#define CASE(fn) cmocka_unit_test_setup_teardown(fn##_isolated, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    CASE(test_garbage),
	    CASE(test_truncated),
	    CASE(test_oversized_message),
	    CASE(test_header_fields),
	    CASE(test_lengths),
	    CASE(test_get_ranges),
	    CASE(test_bogus_rma),
	    CASE(test_client_killed_mid_transfer),
	    CASE(test_list_extremes),
	    CASE(test_hello_abuse),
	    CASE(test_hello_tokens),
	    CASE(test_hello_names_another),
	    CASE(test_ns_id_reused),
	    CASE(test_ns_id_reused_draining),
	    CASE(test_watch_abuse),
	    CASE(test_unknown_peer),
	    CASE(test_close_with_requests_in_flight),
	    CASE(test_peer_vanishes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
