/*
 * Redis string and key commands over the ferry cluster. Every Redis
 * string is a ferry value of the same bytes, so functions using libferry
 * and functions using a Redis client share data.
 *
 * Atomicity: a command on one key is atomic. Those that read and write
 * (APPEND, SETRANGE, GETDEL, SET .. GET) write only if the value is still
 * the version they read (if_version) and start over otherwise; INCR and
 * its kin run on the server. Commands on several keys (MSET, MSETNX, DEL)
 * are atomic per key, not across keys, since keys live on different
 * servers.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "common/util.h"
#include "proxy/resp_int.h"

#define MAX_STRING (512ll << 20) /* Redis's proto-max-bulk-len */

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* A read-modify-write lost a race: start over, or give up. */
static int conflict(int status)
{
	return status == FERRY_ECHANGED || status == FERRY_EEXIST ||
	       status == FERRY_ENOENT;
}

/* The value a step-0 rc_fetch read: its op (status 0, or FERRY_ENOENT
 * for no key), or NULL after replying with the error. */
static ferry_op *fetched(struct rcmd *c)
{
	ferry_op *op = RC_OP(c, 0);

	if (op->status && op->status != FERRY_ENOENT) {
		ro_ferr(c, op->status);
		return NULL;
	}
	return op;
}

/* The last step of a read-modify-write: 1 if its write went through;
 * else it starts over (another writer came first) or replies with the
 * error. */
static int written(struct rcmd *c)
{
	int st = RC_OP(c, 0)->status;

	if (conflict(st))
		rc_again(c);
	else if (st)
		ro_ferr(c, st);
	return st == 0;
}

/* ---- expiry options -------------------------------------------------------- */

enum {
	X_NX = 1, X_XX = 2, X_GET = 4, X_KEEPTTL = 8, X_PERSIST = 16,
	X_EX = 32, X_PX = 64, X_EXAT = 128, X_PXAT = 256,
	X_EXPIRY = X_EX | X_PX | X_EXAT | X_PXAT,
};

struct xopt {
	unsigned f;
	const struct rarg *when;
};

/* Redis's parseExtendedStringArgumentsOrReply: options of SET (set) or
 * GETEX from argv[from]. Returns 0, or -1 after replying. */
static int parse_xopts(struct rcmd *c, size_t from, int set, struct xopt *o)
{
	static const struct {
		const char *name;
		unsigned flag, excl, set_only, get_only;
	} opts[] = {
		{"nx", X_NX, X_XX, 1, 0},
		{"xx", X_XX, X_NX, 1, 0},
		{"get", X_GET, 0, 1, 0},
		{"keepttl", X_KEEPTTL, X_PERSIST | X_EXPIRY, 1, 0},
		{"persist", X_PERSIST, X_KEEPTTL | X_EXPIRY, 0, 1},
		{"ex", X_EX, X_KEEPTTL | X_PERSIST | (X_EXPIRY & ~X_EX), 0, 0},
		{"px", X_PX, X_KEEPTTL | X_PERSIST | (X_EXPIRY & ~X_PX), 0, 0},
		{"exat", X_EXAT, X_KEEPTTL | X_PERSIST | (X_EXPIRY & ~X_EXAT), 0, 0},
		{"pxat", X_PXAT, X_KEEPTTL | X_PERSIST | (X_EXPIRY & ~X_PXAT), 0, 0},
	};

	*o = (struct xopt){0};
	for (size_t j = from; j < c->argc; j++) {
		size_t i, n = sizeof(opts) / sizeof(opts[0]);
		for (i = 0; i < n; i++) {
			if (!rarg_is(&c->argv[j], opts[i].name) ||
			    (o->f & opts[i].excl) || (set && opts[i].get_only) ||
			    (!set && opts[i].set_only))
				continue;
			if (opts[i].flag & X_EXPIRY) {
				if (j + 1 == c->argc)
					continue;
				o->when = &c->argv[++j];
			}
			o->f |= opts[i].flag;
			break;
		}
		if (i == n) {
			ro_err(c, "ERR syntax error");
			return -1;
		}
	}
	return 0;
}

/* Redis's getExpireMillisecondsOrReply: the absolute expiry the options
 * ask for in *ms (0: none). Returns 0, or -1 after replying. */
static int xopt_when(struct rcmd *c, const struct xopt *o, int64_t *ms)
{
	long long v;

	*ms = 0;
	if (!o->when)
		return 0;
	if (rarg_ll(c, o->when, &v))
		return -1;
	if (v <= 0 || ((o->f & (X_EX | X_EXAT)) && v > INT64_MAX / 1000))
		goto bad;
	if (o->f & (X_EX | X_EXAT))
		v *= 1000;
	if (o->f & (X_EX | X_PX)) {
		if (v > INT64_MAX - now_ms())
			goto bad;
		v += now_ms();
	}
	*ms = v;
	return 0;
bad:
	ro_err(c, "ERR invalid expire time in '%s' command", c->def->name);
	return -1;
}

/* ---- reading ----------------------------------------------------------------- */

static ferry_op *key_op(struct rcmd *c, ferry_opcode code, size_t argi)
{
	ferry_op *op = rc_op(c);

	if (!op) {
		c->out.oom = 1;
		return NULL;
	}
	op->opcode = code;
	op->key = c->argv[argi].p;
	op->klen = c->argv[argi].len;
	return op;
}

/* Commands on many keys go through them RC_WINDOW at a time: c->n[1] is
 * the next argument to start. Returns the first argument of this step's
 * window and sets *end past its last. */
static size_t window(struct rcmd *c, size_t first, size_t stride,
		     size_t *end)
{
	size_t from;

	if (c->step == 0)
		c->n[1] = (int64_t)first;
	from = (size_t)c->n[1];
	*end = FR_MIN(c->argc, from + RC_WINDOW * stride);
	c->n[1] = (int64_t)*end;
	return from;
}

/* Error statuses among the last step's ops (ENOENT is an answer):
 * replies with the first and returns -1. */
static int step_failed(struct rcmd *c)
{
	for (unsigned i = 0; c->step && i < c->nops; i++) {
		int st = RC_OP(c, i)->status;
		if (st && st != FERRY_ENOENT) {
			c->out.len = 0; /* whatever was built goes */
			ro_ferr(c, st);
			return -1;
		}
	}
	return 0;
}

/* Replies with the fetched value of op (a bulk, or null). Returns 0, or
 * -1 after replying with an error. */
static int reply_value(struct rcmd *c, ferry_op *op, int owned)
{
	if (op->status == FERRY_ENOENT) {
		ro_null(c);
	} else if (op->status) {
		ro_ferr(c, op->status);
		return -1;
	} else if (owned) {
		ro_bulk_owned(c, op->buf, op->result);
	} else {
		ro_bulk(c, op->buf, op->result);
	}
	return 0;
}

static void cmd_get(fr_proxy *px, struct rcmd *c)
{
	if (c->step == 0)
		rc_fetch(px, c, &c->argv[1]);
	else
		reply_value(c, RC_OP(c, 0), 1);
}

static void cmd_mget(fr_proxy *px, struct rcmd *c)
{
	size_t end;

	if (step_failed(c))
		return;
	if (c->step == 0)
		ro_array(c, c->argc - 1);
	for (unsigned i = 0; c->step && i < c->nops; i++)
		reply_value(c, RC_OP(c, i), 0);
	rc_drop_bufs(px, c); /* copied into the reply */
	for (size_t i = window(c, 1, 1, &end); i < end; i++)
		rc_fetch(px, c, &c->argv[i]);
}

static void cmd_strlen(fr_proxy *px, struct rcmd *c)
{
	ferry_op *op;

	(void)px;
	if (c->step == 0) {
		key_op(c, FERRY_OP_STAT, 1);
		return;
	}
	op = RC_OP(c, 0);
	if (op->status == FERRY_ENOENT)
		ro_int(c, 0);
	else if (op->status)
		ro_ferr(c, op->status);
	else
		ro_int(c, (long long)op->stat.size);
}

static void cmd_getrange(fr_proxy *px, struct rcmd *c)
{
	long long start, end, len;
	ferry_op *op;

	if (c->step == 0) {
		if (!rarg_ll(c, &c->argv[2], &start) &&
		    !rarg_ll(c, &c->argv[3], &end))
			rc_fetch(px, c, &c->argv[1]);
		return;
	}
	if (!(op = fetched(c)))
		return;
	len = op->status ? 0 : (long long)op->result;
	rarg_ll(c, &c->argv[2], &start);
	rarg_ll(c, &c->argv[3], &end);
	if (start < 0 && end < 0 && start > end) {
		ro_bulk(c, "", 0);
		return;
	}
	if (start < 0)
		start += len;
	if (end < 0)
		end += len;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= len)
		end = len - 1;
	if (start > end || len == 0)
		ro_bulk(c, "", 0);
	else
		ro_bulk(c, (uint8_t *)op->buf + start, (size_t)(end - start + 1));
}

/* EXISTS (STAT each key) and DEL/UNLINK: how many keys answered. */
static void cmd_count(fr_proxy *px, struct rcmd *c)
{
	ferry_opcode code = c->def->name[0] == 'e' ? FERRY_OP_STAT
						   : FERRY_OP_DEL;
	size_t end, i;

	(void)px;
	if (step_failed(c))
		return;
	for (unsigned j = 0; c->step && j < c->nops; j++)
		c->n[0] += RC_OP(c, j)->status == 0;
	i = window(c, 1, 1, &end);
	if (i == end)
		ro_int(c, c->n[0]);
	for (; i < end; i++)
		key_op(c, code, i);
}

static void cmd_type(fr_proxy *px, struct rcmd *c)
{
	int st;

	(void)px;
	if (c->step == 0) {
		key_op(c, FERRY_OP_STAT, 1);
		return;
	}
	st = RC_OP(c, 0)->status;
	if (st && st != FERRY_ENOENT)
		ro_ferr(c, st);
	else
		ro_fmt(&c->out, "+%s\r\n", st ? "none" : "string");
}

static void cmd_ttl(fr_proxy *px, struct rcmd *c)
{
	ferry_op *op;
	int64_t left;

	(void)px;
	if (c->step == 0) {
		key_op(c, FERRY_OP_STAT, 1);
		return;
	}
	op = RC_OP(c, 0);
	if (op->status == FERRY_ENOENT) {
		ro_int(c, -2);
	} else if (op->status) {
		ro_ferr(c, op->status);
	} else if (!op->stat.expire_ms) {
		ro_int(c, -1);
	} else {
		left = (int64_t)op->stat.expire_ms - now_ms();
		left = left < 0 ? 0 : left;
		ro_int(c, c->def->name[0] == 'p' ? left : (left + 500) / 1000);
	}
}

/* ---- writing -------------------------------------------------------------------- */

static ferry_op *put_op(struct rcmd *c, size_t argi, const void *val,
			size_t len)
{
	ferry_op *op = key_op(c, FERRY_OP_PUT, argi);

	if (op) {
		op->buf = (void *)val;
		op->len = len;
	}
	return op;
}

static void cmd_set(fr_proxy *px, struct rcmd *c)
{
	struct xopt o;
	ferry_op *op;
	int64_t when;

	if (parse_xopts(c, 3, 1, &o) || xopt_when(c, &o, &when))
		return;
	if (!(o.f & X_GET)) {
		if (c->step == 0) {
			op = put_op(c, 1, c->argv[2].p, c->argv[2].len);
			if (!op)
				return;
			op->flags = (o.f & X_NX ? FERRY_PUT_CREATE : 0) |
				    (o.f & X_XX ? FERRY_PUT_REPLACE : 0) |
				    (o.f & X_KEEPTTL ? FERRY_PUT_KEEPTTL : 0);
			op->expire_ms = (uint64_t)when;
			return;
		}
		op = RC_OP(c, 0);
		if (op->status == 0)
			ro_ok(c);
		else if (op->status == FERRY_EEXIST || op->status == FERRY_ENOENT)
			ro_null(c);
		else
			ro_ferr(c, op->status);
		return;
	}
	/* SET .. GET: read the old value, then write only over it. */
	switch (c->step) {
	case 0:
		rc_fetch(px, c, &c->argv[1]);
		return;
	case 1:
		if (!(op = fetched(c)))
			return;
		c->have = op->status == 0;
		c->saved = *op;
		if ((o.f & X_NX && c->have) || (o.f & X_XX && !c->have)) {
			reply_value(c, &c->saved, 1);
			return;
		}
		op = put_op(c, 1, c->argv[2].p, c->argv[2].len);
		if (!op)
			return;
		op->flags = (c->have ? 0 : FERRY_PUT_CREATE) |
			    (o.f & X_KEEPTTL ? FERRY_PUT_KEEPTTL : 0);
		op->if_version = c->have ? c->saved.stat.version : 0;
		op->expire_ms = (uint64_t)when;
		return;
	default:
		if (written(c))
			reply_value(c, &c->saved, 1);
	}
}

/* SETNX, SETEX and PSETEX: one put each. */
static void cmd_setx(fr_proxy *px, struct rcmd *c)
{
	int nx = c->argc == 3;
	long long v;
	ferry_op *op;

	(void)px;
	if (c->step == 0) {
		int64_t when = 0;
		if (!nx) {
			int sec = c->def->name[0] == 's';
			if (rarg_ll(c, &c->argv[2], &v))
				return;
			if (v <= 0 || (sec && v > INT64_MAX / 1000) ||
			    (sec ? v * 1000 : v) > INT64_MAX - now_ms()) {
				ro_err(c, "ERR invalid expire time in '%s' command",
				       c->def->name);
				return;
			}
			when = (sec ? v * 1000 : v) + now_ms();
		}
		op = put_op(c, 1, c->argv[c->argc - 1].p,
			    c->argv[c->argc - 1].len);
		if (op) {
			op->flags = nx ? FERRY_PUT_CREATE : 0;
			op->expire_ms = (uint64_t)when;
		}
		return;
	}
	op = RC_OP(c, 0);
	if (nx && (op->status == 0 || op->status == FERRY_EEXIST))
		ro_int(c, op->status == 0);
	else if (op->status)
		ro_ferr(c, op->status);
	else
		ro_ok(c);
}

static void cmd_getdel(fr_proxy *px, struct rcmd *c)
{
	ferry_op *op;

	switch (c->step) {
	case 0:
		rc_fetch(px, c, &c->argv[1]);
		return;
	case 1:
		op = RC_OP(c, 0);
		if (op->status) {
			reply_value(c, op, 0);
			return;
		}
		c->saved = *op;
		op = key_op(c, FERRY_OP_DEL, 1);
		if (op)
			op->if_version = c->saved.stat.version;
		return;
	default:
		if (written(c))
			reply_value(c, &c->saved, 1);
	}
}

static void cmd_getex(fr_proxy *px, struct rcmd *c)
{
	struct xopt o;
	int64_t when;
	ferry_op *op;

	if (parse_xopts(c, 2, 0, &o))
		return;
	switch (c->step) {
	case 0:
		rc_fetch(px, c, &c->argv[1]);
		return;
	case 1:
		op = RC_OP(c, 0);
		if (op->status || xopt_when(c, &o, &when)) {
			if (op->status)
				reply_value(c, op, 0);
			return;
		}
		c->saved = *op;
		if (!(o.f & (X_EXPIRY | X_PERSIST))) {
			reply_value(c, &c->saved, 1);
			return;
		}
		op = key_op(c, FERRY_OP_EXPIRE, 1);
		if (op)
			op->expire_ms = (uint64_t)when;
		return;
	default:
		op = RC_OP(c, 0);
		if (op->status && op->status != FERRY_ENOENT)
			ro_ferr(c, op->status);
		else
			reply_value(c, &c->saved, 1);
	}
}

/* APPEND and SETRANGE: build the new value from the old one and write it
 * if nobody wrote meanwhile. */
static void cmd_splice(fr_proxy *px, struct rcmd *c)
{
	int append = c->argc == 3;
	const struct rarg *add = &c->argv[c->argc - 1];
	long long off = 0;
	ferry_op *op;
	size_t old;
	uint8_t *nb;

	if (!append && rarg_ll(c, &c->argv[2], &off))
		return;
	if (off < 0) {
		ro_err(c, "ERR offset is out of range");
		return;
	}
	switch (c->step) {
	case 0:
		rc_fetch(px, c, &c->argv[1]);
		return;
	case 1:
		if (!(op = fetched(c)))
			return;
		old = op->status ? 0 : op->result;
		if (append)
			off = (long long)old;
		if (add->len == 0 && (!append || op->status == 0)) {
			ro_int(c, (long long)old); /* nothing to write */
			return;
		}
		/* Not off + len: an offset near LLONG_MAX would wrap past
		 * the check (undefined, in practice negative). */
		if (off > MAX_STRING - (long long)add->len) {
			ro_err(c, "ERR string exceeds maximum allowed size "
				  "(proto-max-bulk-len)");
			return;
		}
		c->n[0] = FR_MAX((long long)old, off + (long long)add->len);
		if (!(nb = rc_buf(px, c, (size_t)c->n[0]))) {
			ro_ferr(c, FERRY_ENOMEM);
			return;
		}
		if (old) /* a missing key has no buffer */
			memcpy(nb, op->buf, old);
		if ((size_t)off > old)
			memset(nb + old, 0, (size_t)off - old);
		memcpy(nb + off, add->p, add->len);
		c->saved = *op;
		op = put_op(c, 1, nb, (size_t)c->n[0]);
		if (op) {
			op->flags = FERRY_PUT_KEEPTTL |
				    (append ? FERRY_PUT_AS_APPEND
					    : FERRY_PUT_AS_SETRANGE) |
				    (c->saved.status ? FERRY_PUT_CREATE : 0);
			op->if_version =
				c->saved.status ? 0 : c->saved.stat.version;
		}
		return;
	default:
		if (written(c))
			ro_int(c, c->n[0]);
	}
}

/* INCR, INCRBY, DECR, DECRBY: on the server, on the value as decimal text. */
static void cmd_incr(fr_proxy *px, struct rcmd *c)
{
	int decr = c->def->name[0] == 'd';
	long long by = 1;
	ferry_op *op;

	(void)px;
	if (c->step == 0) {
		if (c->argc == 3 && rarg_ll(c, &c->argv[2], &by))
			return;
		if (decr && by == INT64_MIN) {
			ro_err(c, "ERR decrement would overflow");
			return;
		}
		op = key_op(c, FERRY_OP_INCR, 1);
		if (op) {
			op->delta = decr ? -by : by;
			op->flags = FERRY_INCR_TEXT;
		}
		return;
	}
	op = RC_OP(c, 0);
	if (op->status == FERRY_ENOTNUM)
		ro_err(c, "ERR value is not an integer or out of range");
	else if (op->status == FERRY_EOVERFLOW)
		ro_err(c, "ERR increment or decrement would overflow");
	else if (op->status)
		ro_ferr(c, op->status);
	else
		ro_int(c, op->counter);
}

/* MSET and MSETNX. A key named twice is written once, with its last
 * value, as Redis leaves it (the puts run concurrently). keep[i] says
 * whether pair i is written; MSETNX first checks that no key exists
 * (c->n[2]: the phase), then creates them all. */
static int by_key(const void *a, const void *b, void *arg)
{
	const struct rarg *argv = arg;
	const struct rarg *x = &argv[*(const size_t *)a],
			  *y = &argv[*(const size_t *)b];
	int d = memcmp(x->p, y->p, FR_MIN(x->len, y->len));

	if (d || x->len != y->len)
		return d ? d : (x->len < y->len ? -1 : 1);
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static uint8_t *last_of_each_key(fr_proxy *px, struct rcmd *c)
{
	size_t n = c->argc / 2;
	size_t *idx = (size_t *)rc_buf(px, c, n * sizeof(size_t));
	uint8_t *keep = rc_buf(px, c, n);

	if (!idx || !keep)
		return NULL;
	for (size_t i = 0; i < n; i++)
		idx[i] = 1 + 2 * i;
	qsort_r(idx, n, sizeof(*idx), by_key, c->argv);
	for (size_t i = 0; i < n; i++) {
		const struct rarg *k = &c->argv[idx[i]];
		const struct rarg *nx = i + 1 < n ? &c->argv[idx[i + 1]] : NULL;
		keep[(idx[i] - 1) / 2] =
			!nx || nx->len != k->len || memcmp(nx->p, k->p, k->len);
	}
	return keep;
}

static void cmd_mset(fr_proxy *px, struct rcmd *c)
{
	int nx = c->def->name[4] == 'n';
	uint8_t *keep = c->saved.buf;
	size_t end, i;
	ferry_op *op;

	if (c->argc % 2 == 0) {
		ro_err(c, "ERR wrong number of arguments for '%s' command",
		       c->def->name);
		return;
	}
	for (unsigned j = 0; c->step && j < c->nops; j++) {
		int st = RC_OP(c, j)->status;
		if (nx && (c->n[2] == 0 ? st == 0 : st == FERRY_EEXIST)) {
			ro_int(c, 0); /* a key exists, or appeared meanwhile */
			return;
		}
		if (st && st != FERRY_ENOENT) {
			ro_ferr(c, st);
			return;
		}
	}
	if (c->step == 0 && !(keep = c->saved.buf = last_of_each_key(px, c))) {
		ro_ferr(c, FERRY_ENOMEM);
		return;
	}
	/* Windows until one starts something (a window of keys named again
	 * later starts nothing), then MSETNX's second phase, then done. */
	while (c->ops_step != c->step) {
		i = window(c, 1, 2, &end);
		if (i == end && nx && c->n[2] == 0) {
			c->n[2] = 1; /* checked: now create them */
			c->n[1] = 1;
			continue;
		}
		if (i == end) {
			if (nx)
				ro_int(c, 1);
			else
				ro_ok(c);
			return;
		}
		for (; i < end; i += 2) {
			if (nx && c->n[2] == 0) {
				key_op(c, FERRY_OP_STAT, i);
			} else if (keep[(i - 1) / 2]) {
				op = put_op(c, i, c->argv[i + 1].p,
					    c->argv[i + 1].len);
				if (op)
					op->flags = nx ? FERRY_PUT_CREATE : 0;
			}
		}
		if (c->out.oom)
			return;
	}
}

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT and PERSIST. */
static void cmd_expire(fr_proxy *px, struct rcmd *c)
{
	static const char *const names[] = {"nx", "xx", "gt", "lt"};
	static const unsigned bits[] = {FERRY_EXPIRE_NX, FERRY_EXPIRE_XX,
					FERRY_EXPIRE_GT, FERRY_EXPIRE_LT};
	const char *name = c->def->name;
	int persist = name[1] == 'e' && name[2] == 'r';
	int ms = name[0] == 'p' && !persist, at = strstr(name, "at") != NULL;
	unsigned flags = 0;
	long long when = 0;
	ferry_op *op;

	(void)px;
	if (c->step) {
		op = RC_OP(c, 0);
		if (op->status == FERRY_ENOENT)
			ro_int(c, 0);
		else if (op->status)
			ro_ferr(c, op->status);
		else
			ro_int(c, op->counter);
		return;
	}
	for (size_t j = 3; j < c->argc; j++) {
		size_t i;
		for (i = 0; i < 4 && !rarg_is(&c->argv[j], names[i]); i++)
			;
		if (i == 4) {
			ro_err(c, "ERR Unsupported option %.*s",
			       (int)FR_MIN(c->argv[j].len, 128),
			       (const char *)c->argv[j].p);
			return;
		}
		flags |= bits[i];
	}
	if ((flags & FERRY_EXPIRE_NX) && (flags & ~FERRY_EXPIRE_NX)) {
		ro_err(c, "ERR NX and XX, GT or LT options at the same time "
			  "are not compatible");
		return;
	}
	if ((flags & FERRY_EXPIRE_GT) && (flags & FERRY_EXPIRE_LT)) {
		ro_err(c, "ERR GT and LT options at the same time are not "
			  "compatible");
		return;
	}
	if (!persist) {
		int64_t base = at ? 0 : now_ms();
		if (rarg_ll(c, &c->argv[2], &when))
			return;
		if (!ms && (when > INT64_MAX / 1000 || when < INT64_MIN / 1000))
			goto bad;
		when *= ms ? 1 : 1000;
		if (when > INT64_MAX - base)
			goto bad;
		when += base;
		if (when <= 0)
			when = 1; /* in the past: the key goes */
	}
	op = key_op(c, FERRY_OP_EXPIRE, 1);
	if (op) {
		op->expire_ms = (uint64_t)when;
		op->flags = flags;
	}
	return;
bad:
	ro_err(c, "ERR invalid expire time in '%s' command", name);
}

const struct rdef fr_resp_strings[] = {
	{"get", cmd_get, 2, 0, 1, 1, 1, NULL},
	{"set", cmd_set, -3, RC_W, 1, 1, 1, NULL},
	{"setnx", cmd_setx, 3, RC_W, 1, 1, 1, NULL},
	{"setex", cmd_setx, 4, RC_W, 1, 1, 1, NULL},
	{"psetex", cmd_setx, 4, RC_W, 1, 1, 1, NULL},
	{"getdel", cmd_getdel, 2, RC_W, 1, 1, 1, NULL},
	{"getex", cmd_getex, -2, RC_W, 1, 1, 1, NULL},
	{"getrange", cmd_getrange, 4, 0, 1, 1, 1, NULL},
	{"setrange", cmd_splice, 4, RC_W, 1, 1, 1, NULL},
	{"append", cmd_splice, 3, RC_W, 1, 1, 1, NULL},
	{"strlen", cmd_strlen, 2, 0, 1, 1, 1, NULL},
	{"mget", cmd_mget, -2, 0, 1, -1, 1, NULL},
	{"mset", cmd_mset, -3, RC_W, 1, -1, 2, NULL},
	{"msetnx", cmd_mset, -3, RC_W, 1, -1, 2, NULL},
	{"del", cmd_count, -2, RC_W, 1, -1, 1, NULL},
	{"unlink", cmd_count, -2, RC_W, 1, -1, 1, NULL},
	{"exists", cmd_count, -2, 0, 1, -1, 1, NULL},
	{"type", cmd_type, 2, 0, 1, 1, 1, NULL},
	{"incr", cmd_incr, 2, RC_W, 1, 1, 1, NULL},
	{"incrby", cmd_incr, 3, RC_W, 1, 1, 1, NULL},
	{"decr", cmd_incr, 2, RC_W, 1, 1, 1, NULL},
	{"decrby", cmd_incr, 3, RC_W, 1, 1, 1, NULL},
	{"expire", cmd_expire, -3, RC_W, 1, 1, 1, NULL},
	{"pexpire", cmd_expire, -3, RC_W, 1, 1, 1, NULL},
	{"expireat", cmd_expire, -3, RC_W, 1, 1, 1, NULL},
	{"pexpireat", cmd_expire, -3, RC_W, 1, 1, 1, NULL},
	{"persist", cmd_expire, 2, RC_W, 1, 1, 1, NULL},
	{"ttl", cmd_ttl, 2, 0, 1, 1, 1, NULL},
	{"pttl", cmd_ttl, 2, 0, 1, 1, 1, NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL},
};
