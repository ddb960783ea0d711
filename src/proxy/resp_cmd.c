/*
 * Redis front end: the command table, the connection and server commands
 * (PING, HELLO, CLIENT, COMMAND, INFO, ...) and the keyspace walks (KEYS,
 * SCAN, DBSIZE, FLUSHDB). The string commands are in resp_str.c.
 *
 * KEYS, SCAN and DBSIZE ask the servers without holding up the loop: the
 * handler returns, and runs again once the page or the count is in (a
 * listing waits for its answer only when every fan-out slot is taken);
 * FLUSHDB deletes page by page with operations in flight.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/client_int.h"
#include "common/util.h"
#include "proxy/resp_int.h"

#define REDIS_VERSION "7.0.15" /* the Redis whose behaviour ferry follows */
#define LIST_PAGE 1000
#define MAX_SCANS 1024 /* SCAN cursors remembered by a proxy */

/* ---- helpers for handlers --------------------------------------------------- */

int rarg_is(const struct rarg *a, const char *lower)
{
	return strlen(lower) == a->len &&
	       !strncasecmp((const char *)a->p, lower, a->len);
}

int rarg_ll(struct rcmd *c, const struct rarg *a, long long *v)
{
	if (fr_strict_ll(a->p, a->len, v))
		return 0;
	ro_err(c, "ERR value is not an integer or out of range");
	return -1;
}

void ro_ferr(struct rcmd *c, int err)
{
	if (err == FERRY_ENOSPC)
		ro_err(c, "OOM command not allowed when used memory > "
			  "'maxmemory'.");
	else if (err == FERRY_E2BIG)
		ro_err(c, "ERR ferry: key or value too large (keys are 1 to "
			  "%u bytes)", FERRY_KEY_MAX);
	else if (err == FERRY_EINVAL)
		ro_err(c, "ERR ferry: invalid argument (keys are 1 to %u "
			  "bytes)", FERRY_KEY_MAX);
	else
		ro_err(c, "ERR ferry: %s", ferry_strerror(err));
}

/* "'a' 'b' " as Redis lists the arguments of an unknown command. */
static void args_begin(struct rcmd *c, size_t from, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = from; i < c->argc && len < 128; i++) {
		int n = snprintf(buf + len, cap - len, "'%.*s' ",
				 (int)FR_MIN(c->argv[i].len, 128 - len),
				 (const char *)c->argv[i].p);
		if (n < 0 || (size_t)n >= cap - len)
			break;
		len += (size_t)n;
	}
}

void fr_resp_unknown(struct rcmd *c, const struct rdef *container)
{
	char args[400], upper[16];
	size_t i;

	if (!container) {
		args_begin(c, 1, args, sizeof(args));
		ro_err(c, "ERR unknown command '%.*s', with args beginning "
			  "with: %s",
		       (int)FR_MIN(c->argv[0].len, 128),
		       (const char *)c->argv[0].p, args);
		return;
	}
	for (i = 0; container->name[i] && i + 1 < sizeof(upper); i++)
		upper[i] = (char)(container->name[i] & ~0x20);
	upper[i] = '\0';
	ro_err(c, "ERR unknown subcommand '%.*s'. Try %s HELP.",
	       (int)FR_MIN(c->argv[1].len, 128), (const char *)c->argv[1].p,
	       upper);
}

/* ---- Redis's glob-style matching (stringmatchlen) -------------------------- */

static int glob(const uint8_t *p, size_t pl, const uint8_t *s, size_t sl,
		int *skip_longer, int nesting)
{
	if (nesting > 1000)
		return 0; /* protection against abusive patterns */
	while (pl && sl) {
		switch (p[0]) {
		case '*':
			while (pl > 1 && p[1] == '*')
				p++, pl--;
			if (pl == 1)
				return 1;
			while (sl) {
				if (glob(p + 1, pl - 1, s, sl, skip_longer,
					 nesting + 1))
					return 1;
				if (*skip_longer)
					return 0;
				s++, sl--;
			}
			*skip_longer = 1;
			return 0;
		case '?':
			s++, sl--;
			break;
		case '[': {
			int not, match = 0;
			p++, pl--;
			not = pl && p[0] == '^';
			if (not)
				p++, pl--;
			for (;;) {
				if (pl >= 2 && p[0] == '\\') {
					p++, pl--;
					match |= p[0] == s[0];
				} else if (pl == 0) {
					p--, pl++; /* unterminated: stop here */
					break;
				} else if (p[0] == ']') {
					break;
				} else if (pl >= 3 && p[1] == '-') {
					uint8_t lo = FR_MIN(p[0], p[2]),
						hi = FR_MAX(p[0], p[2]);
					match |= s[0] >= lo && s[0] <= hi;
					p += 2, pl -= 2;
				} else {
					match |= p[0] == s[0];
				}
				p++, pl--;
			}
			if (not)
				match = !match;
			if (!match)
				return 0;
			s++, sl--;
			break;
		}
		case '\\':
			if (pl >= 2)
				p++, pl--;
			/* fall through */
		default:
			if (p[0] != s[0])
				return 0;
			s++, sl--;
			break;
		}
		p++, pl--;
		if (sl == 0) {
			while (pl && *p == '*')
				p++, pl--;
			break;
		}
	}
	return pl == 0 && sl == 0;
}

int fr_resp_glob(const struct rarg *pat, const void *s, size_t sl)
{
	int skip = 0;

	return glob(pat->p, pat->len, s, sl, &skip, 0);
}

/* How many bytes at the start of the pattern are literal: keys must begin
 * with them, so listing can start there. At most a key's length: a longer
 * prefix is refused by LIST, yet no key can match it, so the keys listed
 * under its first FERRY_KEY_MAX bytes all fail the match: none, as in
 * Redis, not an error. */
static size_t literal_prefix(const struct rarg *pat)
{
	size_t i = 0;

	while (i < pat->len && !strchr("*?[\\", pat->p[i]))
		i++;
	return FR_MIN(i, (size_t)FERRY_KEY_MAX);
}

/* ---- keyspace walks ----------------------------------------------------------- */

/* A page of keys, listed without holding up the proxy: the first call
 * starts the listing and returns NULL, and the handler returns; it runs
 * again at the same step once the page is in, and the same call then
 * hands it over (the caller frees it). NULL also after replying with an
 * error. */
static ferry_keys *page(fr_proxy *px, struct rcmd *c, const void *prefix,
			size_t plen, const void *after, size_t alen,
			unsigned max)
{
	ferry_keys *k = c->keys;
	fr_msg m;
	int rc;

	if (c->answered) {
		c->answered = 0;
		c->keys = NULL;
		rc = c->answer_rc;
	} else {
		k = NULL;
		rc = fr_list_msg(&m, prefix, plen, after, alen, max);
		if (!rc) {
			fr_tenant_act(px, c->pc);
			rc = rc_list(px, c, &m, max);
		}
		if (!rc)
			return NULL; /* runs again with the page */
		if (rc == FERRY_EBUSY) /* no room: waits for it, as it once
					  always did */
			rc = fr_list_pages(px->fc, &m, -1, max, &k);
	}
	fr_tenant_seen(px, c->pc, rc);
	if (rc)
		ro_ferr(c, rc);
	return rc ? NULL : k;
}

/* Adds the keys of page k that match pat (NULL: all) to body as bulks;
 * returns how many. */
static size_t add_matches(struct rout *body, ferry_keys *k,
			  const struct rarg *pat)
{
	size_t n = 0, klen;

	for (size_t i = 0; i < ferry_keys_count(k); i++) {
		const void *key = ferry_keys_at(k, i, &klen);
		if (pat && !fr_resp_glob(pat, key, klen))
			continue;
		ro_bulk_to(body, key, klen);
		n++;
	}
	return n;
}

/* KEYS: page after page, each after the last key of the one before
 * (kept in c->saved's buffer), the matches gathered in c->body and
 * counted in c->n[0]. */
static void cmd_keys(fr_proxy *px, struct rcmd *c)
{
	const struct rarg *pat = &c->argv[1];
	ferry_keys *k;
	size_t llen;

	while ((k = page(px, c, pat->p, literal_prefix(pat), c->saved.buf,
			 c->saved.len, LIST_PAGE))) {
		c->n[0] += (int64_t)add_matches(&c->body, k, pat);
		if (!ferry_keys_more(k) || !ferry_keys_count(k)) {
			ferry_keys_free(k);
			ro_array(c, (size_t)c->n[0]);
			ro_append(c, &c->body);
			return;
		}
		const void *key =
		    ferry_keys_at(k, ferry_keys_count(k) - 1, &llen);
		uint8_t *last = c->saved.buf ? c->saved.buf
					     : rc_buf(px, c, FERRY_KEY_MAX);
		if (last)
			memcpy(last, key, llen);
		ferry_keys_free(k);
		if (!last) {
			ro_ferr(c, FERRY_ENOMEM);
			return;
		}
		c->saved.buf = last;
		c->saved.len = llen;
	}
}

/* SCAN cursors: the key a listing stopped at, under a number, good in
 * the namespace it was listed in only. */
struct rscan {
	struct rscan *next;
	uint64_t id, ns;
	size_t len;
	uint8_t key[];
};

void fr_resp_scans_free(fr_proxy *px)
{
	while (px->scans) {
		struct rscan *s = px->scans;
		px->scans = s->next;
		free(s);
	}
}

/* Remembers where a scan goes on; returns its cursor, or 0 if there is
 * no memory for it. */
static uint64_t scan_save(fr_proxy *px, uint64_t ns, const void *key,
			  size_t len)
{
	static uint64_t next_id;
	struct rscan *s = malloc(sizeof(*s) + len), **pp;
	unsigned n = 0;

	if (!s)
		return 0;
	if (!next_id)
		next_id = (fr_now_ns() & 0xffffffffu) << 16 | 1;
	s->id = next_id++;
	s->ns = ns;
	s->len = len;
	memcpy(s->key, key, len);
	s->next = px->scans;
	px->scans = s;
	/* Keep the newest MAX_SCANS: an abandoned scan costs little. */
	for (pp = &px->scans; *pp && ++n < MAX_SCANS; pp = &(*pp)->next)
		;
	while (*pp) {
		struct rscan *old = *pp;
		*pp = old->next;
		free(old);
	}
	return s->id;
}

/* SCAN's cursor: an unsigned number, as Redis parses it. Returns 0, or
 * -1 if it is none. Parsed from a copy that ends with the argument:
 * strtoull on the request would read on into the bytes after it (an
 * inline argument's leftovers after unquoting, a bulk's unchecked CRLF)
 * and past the end of the request. */
static int scan_cursor(const struct rarg *a, unsigned long long *cur)
{
	char s[21], *end;

	if (a->len == 0 || a->len >= sizeof(s) || a->p[0] < '0' ||
	    a->p[0] > '9')
		return -1;
	memcpy(s, a->p, a->len);
	s[a->len] = '\0';
	*cur = strtoull(s, &end, 10);
	return end == s + a->len ? 0 : -1;
}

static void cmd_scan(fr_proxy *px, struct rcmd *c)
{
	const struct rarg *pat = NULL;
	struct rscan *from = NULL;
	long long count = 10, v;
	int other_type = 0; /* TYPE names one that is not string */
	unsigned long long cur = 0;
	struct rout body = {0};
	size_t n = 0, klen, i;
	uint64_t next = 0;
	ferry_keys *k;

	if (scan_cursor(&c->argv[1], &cur)) {
		ro_err(c, "ERR invalid cursor");
		return;
	}
	for (i = 2; i < c->argc; i += 2) {
		if (i + 1 >= c->argc) {
			ro_err(c, "ERR syntax error");
			return;
		}
		if (rarg_is(&c->argv[i], "count")) {
			if (rarg_ll(c, &c->argv[i + 1], &v))
				return;
			if (v < 1) {
				ro_err(c, "ERR syntax error");
				return;
			}
			count = v;
		} else if (rarg_is(&c->argv[i], "match")) {
			pat = &c->argv[i + 1];
		} else if (rarg_is(&c->argv[i], "type")) {
			/* Nothing else exists. A flag, not count = 0: a COUNT
			 * or MATCH after it must not bring the keys back. */
			other_type = !rarg_is(&c->argv[i + 1], "string");
		} else {
			ro_err(c, "ERR syntax error");
			return;
		}
	}
	if (cur) {
		for (from = px->scans;
		     from && (from->id != cur ||
			      from->ns != fr_tenant_ns(c->pc));
		     from = from->next)
			;
		if (!from) {
			ro_err(c, "ERR invalid cursor");
			return;
		}
	}
	if (!other_type) {
		k = page(px, c, pat ? pat->p : NULL,
			 pat ? literal_prefix(pat) : 0, from ? from->key : NULL,
			 from ? from->len : 0,
			 (unsigned)FR_MIN(count, 100000));
		if (!k)
			return;
		n = add_matches(&body, k, pat);
		if (ferry_keys_more(k) && ferry_keys_count(k)) {
			const void *key = ferry_keys_at(
				k, ferry_keys_count(k) - 1, &klen);
			next = scan_save(px, fr_tenant_ns(c->pc), key, klen);
			if (!next) { /* cursor 0 would say the scan is over */
				ferry_keys_free(k);
				free(body.b);
				ro_ferr(c, FERRY_ENOMEM);
				return;
			}
		}
		ferry_keys_free(k);
	}
	ro_array(c, 2);
	ro_fmt(&c->out, "$%d\r\n%llu\r\n",
	       snprintf(NULL, 0, "%llu", (unsigned long long)next),
	       (unsigned long long)next);
	ro_array(c, n);
	ro_append(c, &body);
}

/* Keys in the caller's namespace (all servers' counts: other
 * namespaces' keys are neither counted nor told), asked without holding
 * up the proxy: the first call returns -1 and the handler returns; it
 * runs again once the count is in, and the same call then gives it. -1
 * also after replying with an error. */
static long long dbsize(fr_proxy *px, struct rcmd *c)
{
	int rc;

	if (!c->answered) {
		rc = rc_count(px, c);
		if (!rc)
			return -1; /* runs again with the count */
	} else {
		c->answered = 0;
		rc = c->answer_rc;
	}
	fr_tenant_seen(px, c->pc, rc);
	if (rc) {
		ro_ferr(c, rc);
		return -1;
	}
	return (long long)c->answer_n;
}

static void cmd_dbsize(fr_proxy *px, struct rcmd *c)
{
	long long n = dbsize(px, c);

	if (n >= 0)
		ro_int(c, n);
}

/* FLUSHDB: a page of keys, deleted with all deletes in flight, then the
 * next page after the last key (kept in c->saved's buffer). */
static void cmd_flushdb(fr_proxy *px, struct rcmd *c)
{
	ferry_keys *k;
	uint8_t *keys;
	size_t total = 0, len, off = 0;

	if (c->step == 0 && c->argc == 2 && !rarg_is(&c->argv[1], "async") &&
	    !rarg_is(&c->argv[1], "sync")) {
		ro_err(c, "ERR syntax error");
		return;
	}
	if (c->argc > 2) {
		ro_err(c, "ERR syntax error");
		return;
	}
	for (unsigned i = 0; c->step && i < c->nops; i++) {
		int st = RC_OP(c, i)->status;
		if (st && st != FERRY_ENOENT) {
			ro_ferr(c, st);
			return;
		}
	}
	if (c->step && !c->have) {
		ro_ok(c);
		return;
	}
	k = page(px, c, NULL, 0, c->saved.buf, c->saved.len, LIST_PAGE);
	if (!k)
		return;
	/* The last page's deletes are done and the cursor was sent: its
	 * keys go, so a flush holds one page, not the whole keyspace (which
	 * would count against every function's buffer budget). */
	rc_drop_bufs(px, c);
	for (size_t i = 0; i < ferry_keys_count(k); i++) {
		ferry_keys_at(k, i, &len);
		total += len;
	}
	c->have = ferry_keys_more(k) && ferry_keys_count(k);
	keys = rc_buf(px, c, total);
	if (!keys) {
		ferry_keys_free(k);
		ro_ferr(c, FERRY_ENOMEM);
		return;
	}
	for (size_t i = 0; i < ferry_keys_count(k); i++) {
		const void *key = ferry_keys_at(k, i, &len);
		ferry_op *op = rc_op(c);
		if (!op)
			break;
		memcpy(keys + off, key, len);
		op->opcode = FERRY_OP_DEL;
		op->key = keys + off;
		op->klen = len;
		c->saved.buf = keys + off; /* the last key: next page after */
		c->saved.len = len;
		off += len;
	}
	ferry_keys_free(k);
	if (c->ops_step != c->step)
		ro_ok(c); /* nothing (more) to delete */
}

/* ---- connection and server ------------------------------------------------------ */

static void cmd_ping(fr_proxy *px, struct rcmd *c)
{
	(void)px;
	if (c->argc > 2) {
		ro_err(c, "ERR wrong number of arguments for 'ping' command");
	} else if (fr_resp_subscribed(c->pc->resp) && !c->pc->resp->resp3) {
		ro_array(c, 2); /* as Redis answers a subscriber */
		ro_str(c, "pong");
		ro_bulk(c, c->argc == 2 ? c->argv[1].p : NULL,
			c->argc == 2 ? c->argv[1].len : 0);
	} else if (c->argc == 2)
		ro_bulk(c, c->argv[1].p, c->argv[1].len);
	else
		ro_raw(&c->out, "+PONG\r\n", 7);
}

static void cmd_echo(fr_proxy *px, struct rcmd *c)
{
	(void)px;
	ro_bulk(c, c->argv[1].p, c->argv[1].len);
}

static void cmd_quit(fr_proxy *px, struct rcmd *c)
{
	ro_ok(c);
	c->pc->resp->closing = 1;
	c->pc->closing = 1;
	fr_pconn_pause(px, c->pc); /* reads nothing more */
}

static void cmd_select(fr_proxy *px, struct rcmd *c)
{
	long long db;

	(void)px;
	if (rarg_ll(c, &c->argv[1], &db))
		return;
	if (db != 0)
		ro_err(c, "ERR DB index is out of range");
	else
		ro_ok(c);
}

/* AUTH [user] password, and HELLO's AUTH option. The password is a
 * token (any user name goes with it): the admin token makes the
 * connection the admin's, a namespace's token moves it into that
 * namespace (tenant.c). A proxy with an admin token is Redis with
 * requirepass: anything else is WRONGPASS, and the connection stays as
 * it was. One without is Redis without a password, where the "default"
 * user takes any password (and is the admin, as a client without a
 * token) and a lone password that is no token is an error. Returns 0, -1
 * after replying with the error, or FR_LOGIN_ASKING after rc_wait_login
 * (the handler returns, and runs again once the servers answered). */
static int auth(fr_proxy *px, struct rcmd *c, const struct rarg *user,
		const struct rarg *pw)
{
	int open = !px->o.admin_token, rc;

	rc = pw->len ? fr_tenant_login(px, c->pc, pw->p, pw->len)
		     : FERRY_EACCES; /* no token: not a password either */
	if (rc == FERRY_EACCES && open && user && rarg_is(user, "default"))
		rc = fr_tenant_login(px, c->pc, NULL, 0);
	if (rc == FR_LOGIN_ASKING)
		rc_wait_login(c);
	if (rc == FR_LOGIN_ASKING || !rc)
		return rc;
	if (rc != FERRY_EACCES)
		ro_ferr(c, rc); /* the servers could not tell */
	else if (open && !user)
		ro_err(c, "ERR AUTH <password> called without any password "
			  "configured for the default user. Are you sure "
			  "your configuration is correct?");
	else
		ro_err(c, "WRONGPASS invalid username-password pair or user "
			  "is disabled.");
	return -1;
}

static void cmd_auth(fr_proxy *px, struct rcmd *c)
{
	if (c->argc > 3)
		ro_err(c, "ERR syntax error");
	else if (!auth(px, c, c->argc == 3 ? &c->argv[1] : NULL,
		       &c->argv[c->argc - 1]))
		ro_ok(c); /* else replied, or asking */
}

static int set_name(struct rcmd *c, const struct rarg *name)
{
	struct resp *rs = c->pc->resp;
	char *copy;

	for (size_t i = 0; i < name->len; i++)
		if (name->p[i] < '!' || name->p[i] > '~') {
			ro_err(c, "ERR Client names cannot contain spaces, "
				  "newlines or special characters.");
			return -1;
		}
	copy = name->len ? strndup((const char *)name->p, name->len) : NULL;
	free(rs->name);
	rs->name = copy;
	return 0;
}

static void cmd_hello(fr_proxy *px, struct rcmd *c)
{
	struct resp *rs = c->pc->resp;
	const struct rarg *user = NULL, *pw = NULL, *name = NULL;
	long long ver = 0;
	size_t j = 1;

	if (c->argc >= 2) {
		if (!fr_strict_ll(c->argv[1].p, c->argv[1].len, &ver)) {
			ro_err(c, "ERR Protocol version is not an integer or "
				  "out of range");
			return;
		}
		if (ver < 2 || ver > 3) {
			ro_err(c, "NOPROTO unsupported protocol version");
			return;
		}
		j = 2;
	}
	for (; j < c->argc; j++) {
		size_t more = c->argc - 1 - j;
		if (rarg_is(&c->argv[j], "auth") && more >= 2) {
			user = &c->argv[j + 1];
			pw = &c->argv[j + 2];
			j += 2;
		} else if (rarg_is(&c->argv[j], "setname") && more) {
			name = &c->argv[++j];
		} else {
			ro_err(c, "ERR Syntax error in HELLO option '%.*s'",
			       (int)FR_MIN(c->argv[j].len, 128),
			       (const char *)c->argv[j].p);
			return;
		}
	}
	if (user && auth(px, c, user, pw))
		return; /* replied, or asking */
	if (c->pc->role == PR_NONE) {
		ro_err(c, "NOAUTH HELLO must be called with the client already "
			  "authenticated, otherwise the HELLO AUTH <user> "
			  "<pass> option can be used to authenticate the "
			  "client and select the RESP protocol version at the "
			  "same time");
		return;
	}
	if (name && set_name(c, name))
		return;
	if (ver)
		rs->resp3 = ver == 3;
	ro_map(c, 7);
	ro_str(c, "server");
	ro_str(c, "redis");
	ro_str(c, "version");
	ro_str(c, REDIS_VERSION);
	ro_str(c, "proto");
	ro_int(c, rs->resp3 ? 3 : 2);
	ro_str(c, "id");
	ro_int(c, (long long)rs->id);
	ro_str(c, "mode");
	ro_str(c, "standalone");
	ro_str(c, "role");
	ro_str(c, "master");
	ro_str(c, "modules");
	ro_array(c, 0);
}

static void cmd_client_id(fr_proxy *px, struct rcmd *c)
{
	(void)px;
	ro_int(c, (long long)c->pc->resp->id);
}

static void cmd_client_setname(fr_proxy *px, struct rcmd *c)
{
	(void)px;
	if (!set_name(c, &c->argv[2]))
		ro_ok(c);
}

static void cmd_client_getname(fr_proxy *px, struct rcmd *c)
{
	(void)px;
	if (c->pc->resp->name)
		ro_str(c, c->pc->resp->name);
	else
		ro_null(c);
}

static void cmd_client_info(fr_proxy *px, struct rcmd *c)
{
	struct resp *rs = c->pc->resp;
	char *line;

	(void)px;
	/* Sized to fit: a client's name has no length limit. */
	if (asprintf(&line,
		     "id=%llu addr=%s fd=%d name=%s db=0 sub=0 psub=0 "
		     "multi=-1 cmd=client|info user=default resp=%d\n",
		     (unsigned long long)rs->id,
		     c->pc->unix_mode ? "/unix" : "tcp", c->pc->fd,
		     rs->name ? rs->name : "", rs->resp3 ? 3 : 2) < 0) {
		ro_ferr(c, FERRY_ENOMEM);
		return;
	}
	ro_str(c, line);
	free(line);
}


static size_t count_table(const struct rdef *t)
{
	size_t n = 0;

	while (t[n].name)
		n++;
	return n;
}

static const struct rdef *const tables[] = {fr_resp_commands, fr_resp_strings,
					    fr_resp_pubsub};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static void cmd_command_count(fr_proxy *px, struct rcmd *c)
{
	size_t n = 0;

	(void)px;
	for (size_t t = 0; t < NTABLES; t++)
		n += count_table(tables[t]);
	ro_int(c, (long long)n);
}

/* COMMAND DOCS [name...]: a map of name to its (short) documentation. */
static void cmd_command_docs(fr_proxy *px, struct rcmd *c)
{
	static const char *const groups[] = {"server", "string", "pubsub"};
	size_t n = 0;
	struct rout body = {0};

	(void)px;
	for (size_t t = 0; t < NTABLES; t++)
		for (const struct rdef *d = tables[t]; d->name; d++) {
			int want = c->argc == 2;
			for (size_t i = 2; i < c->argc && !want; i++)
				want = rarg_is(&c->argv[i], d->name);
			if (!want)
				continue;
			ro_fmt(&body, "$%zu\r\n%s\r\n", strlen(d->name),
			       d->name);
			ro_fmt(&body, c->pc->resp->resp3 ? "%%2\r\n"
							 : "*4\r\n");
			ro_fmt(&body, "$7\r\nsummary\r\n$%zu\r\n%s\r\n",
			       strlen("served by ferry"), "served by ferry");
			ro_fmt(&body, "$5\r\ngroup\r\n$%zu\r\n%s\r\n",
			       strlen(groups[t]), groups[t]);
			n++;
		}
	ro_map(c, n);
	ro_append(c, &body);
}

static void cmd_info(fr_proxy *px, struct rcmd *c)
{
	long long keys = dbsize(px, c);
	char text[1024];

	if (keys < 0)
		return;
	snprintf(text, sizeof(text),
		 "# Server\r\n"
		 "redis_version:" REDIS_VERSION "\r\n"
		 "redis_mode:standalone\r\n"
		 "ferry_servers:%u\r\n"
		 "process_id:%d\r\n"
		 "\r\n"
		 "# Clients\r\n"
		 "connected_clients:%llu\r\n"
		 "\r\n"
		 "# Keyspace\r\n"
		 "db0:keys=%lld,expires=0,avg_ttl=0\r\n",
		 px->fc->npeers, (int)getpid(), (unsigned long long)px->nconns,
		 keys);
	ro_str(c, text);
}

static const struct rdef fr_resp_client[] = {
	{"client|id", cmd_client_id, 2, 0, 0, 0, 0, NULL},
	{"client|setname", cmd_client_setname, 3, 0, 0, 0, 0, NULL},
	{"client|getname", cmd_client_getname, 2, 0, 0, 0, 0, NULL},
	{"client|info", cmd_client_info, 2, 0, 0, 0, 0, NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct rdef fr_resp_command[] = {
	{"command|count", cmd_command_count, 2, 0, 0, 0, 0, NULL},
	{"command|docs", cmd_command_docs, -2, 0, 0, 0, 0, NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL},
};

static void cmd_container(fr_proxy *px, struct rcmd *c)
{
	(void)px;
	/* COMMAND alone: the list of commands, as COMMAND COUNT counts. */
	ro_array(c, 0);
}

const struct rdef fr_resp_commands[] = {
	{"ping", cmd_ping, -1, 0, 0, 0, 0, NULL},
	{"echo", cmd_echo, 2, 0, 0, 0, 0, NULL},
	{"quit", cmd_quit, -1, RC_NOAUTH, 0, 0, 0, NULL},
	{"select", cmd_select, 2, 0, 0, 0, 0, NULL},
	{"auth", cmd_auth, -2, RC_NOAUTH | RC_BARRIER | RC_W, 0, 0, 0, NULL},
	{"hello", cmd_hello, -1, RC_NOAUTH | RC_BARRIER | RC_W, 0, 0, 0,
	 NULL},
	{"client", NULL, -2, 0, 0, 0, 0, fr_resp_client},
	{"command", cmd_container, -1, 0, 0, 0, 0, fr_resp_command},
	{"info", cmd_info, -1, RC_BARRIER, 0, 0, 0, NULL},
	{"dbsize", cmd_dbsize, 1, RC_BARRIER, 0, 0, 0, NULL},
	{"flushdb", cmd_flushdb, -1, RC_BARRIER | RC_W, 0, 0, 0, NULL},
	{"keys", cmd_keys, 2, RC_BARRIER, 0, 0, 0, NULL},
	{"scan", cmd_scan, -2, RC_BARRIER, 0, 0, 0, NULL},
	{NULL, NULL, 0, 0, 0, 0, 0, NULL},
};

const struct rdef *fr_resp_lookup(const struct rarg *name,
				  const struct rdef *sub_of)
{
	if (sub_of) {
		size_t skip = strlen(sub_of->name) + 1; /* "client|" */
		for (const struct rdef *d = sub_of->sub; d->name; d++)
			if (rarg_is(name, d->name + skip))
				return d;
		return NULL;
	}
	for (size_t t = 0; t < NTABLES; t++)
		for (const struct rdef *d = tables[t]; d->name; d++)
			if (rarg_is(name, d->name))
				return d;
	return NULL;
}
