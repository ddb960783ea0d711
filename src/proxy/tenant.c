/*
 * Who each function is, and how fast its namespace may go: the proxy's
 * side of namespaces (ferry.h, "Namespaces").
 *
 * Roles. A connection starts with none (PR_NONE): it may only say HELLO
 * (a Redis client: AUTH), unless it speaks Redis to a proxy without an
 * admin token, which treats it as a client without a token. The token
 * it presents makes it the admin (PR_ADMIN: the admin token, compared in
 * constant time; in a proxy without one, no token) or confines it to a
 * namespace (PR_NS), the one whose token it is. Anything else leaves it
 * with no role.
 *
 * Which namespace a token opens, the servers say (NS_AUTH through the
 * warm client, an admin peer). The answer is kept here, one entry per
 * token (struct ptenant), so that cold starts with a known token cost no
 * round trip. A token not known here is asked about without waiting
 * (struct plogin): the login says FR_LOGIN_ASKING, its connection reads
 * nothing more, and once the answer is in (px->wake) the caller logs in
 * again, which then finds the entry, or the refusal kept in the
 * connection's plogin. So no token, however bad, holds up the loop.
 *
 * What unknown tokens may cost the servers is bounded too: at most
 * FR_PROXY_LOGINS questions are out at once, at most LOGIN_RATE a second
 * (LOGIN_BURST at once), and only one for each token: a login whose
 * token is already being asked about waits for that answer (a thousand
 * functions of a new job starting on a node ask once). A token the
 * servers refused is refused here, without asking, for REFUSED_NS
 * (tokens are never reused, so a refused one never becomes good): a
 * function that retries a removed namespace's token costs nothing. These
 * logins wait their turn (fr_tenant_asking) like any.
 * Every entry is asked again each REFRESH_NS, without waiting
 * (fr_ns_auth_start): that brings changed limits (ferry_ns_set) to a
 * running proxy, and notices a namespace removed or expired, as does any
 * request the servers refuse with FERRY_EACCES; then the entry is gone:
 * its token opens nothing more here, and the connections it holds get
 * FERRY_EACCES from the servers for whatever they ask. Entries without
 * connections go after IDLE_NS.
 *
 * Stamping: right before the loop calls the warm client on behalf of a
 * connection, fr_tenant_act sets px->fc->ns to that connection's
 * namespace (0 for the admin), which every request then carries.
 *
 * Fair sharing: a namespace with limits (ops_per_s, bytes_per_s) has a
 * token bucket for each, filled at that rate up to BURST_S seconds' worth
 * (at least one). fr_tenant_act takes an operation (each fabric
 * operation, and each call the loop makes and waits for); PUT bytes are
 * taken when sent, GET bytes when they come back. A bucket may fall below
 * zero: an operation is never refused or split, it makes the next ones
 * wait. While a bucket is below zero, its namespace's connections take no
 * next request (fr_tenant_hold: they pause, and the loop wakes when the
 * bucket is back at zero); what they already sent finishes, and other
 * namespaces never wait for them.
 *
 * Owner: the proxy's loop thread, like everything in the proxy.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "client/client_int.h"
#include "common/token.h"
#include "common/util.h"
#include "proxy/proxy_int.h"

#define WHO "ferry-proxy"
#define TICK_NS 250000000ull	  /* looks at the entries this often */
#define REFRESH_NS 1000000000ull  /* asks the servers about each again */
#define IDLE_NS (60 * REFRESH_NS) /* keeps an unused entry this long */
#define MAX_ASKING 8		  /* refreshes in flight at once */
#define BURST_S 0.1		  /* bucket size, in seconds of its rate */
#define LOGIN_RATE 100.0	  /* questions about unknown tokens a second */
#define LOGIN_BURST 100.0	  /* ... at once */
#define REFUSED_NS (10 * REFRESH_NS) /* a refusal is remembered this long */
#define RATE_LOG_NS (60 * REFRESH_NS) /* "logins wait" at most this often */

struct ptenant {
	struct ptenant *next;
	fr_proxy *px;
	uint64_t id;
	uint64_t ops_per_s, bytes_per_s; /* 0: no limit */
	double ops, bytes;  /* bucket levels (below 0: what was taken
			       beyond them) */
	uint64_t filled_ns; /* the levels are as of then */
	uint64_t asked_ns;  /* the servers were last asked then */
	uint64_t idle_ns;   /* its last connection went then */
	unsigned conns;	    /* connections bound to it */
	int asking;	    /* a refresh in flight (holds the entry) */
	int gone;	    /* its namespace is removed or expired */
	size_t tlen;
	char token[FR_TOKEN_FILE_MAX];
};

/* A connection's login that waits for the servers' word on a token. */
struct plogin {
	fr_proxy *px;
	struct pconn *pc;
	int asking;	/* NS_AUTH in flight (pc->inflight counts it) */
	int queued;	/* waits its turn to ask (may_ask) */
	int status;	/* its answer, once in: 0 or why not */
	uint64_t hash;	/* of its token */
	size_t tlen;
	char token[FR_TOKEN_FILE_MAX];
};

static double burst(uint64_t rate)
{
	return FR_MAX((double)rate * BURST_S, 1.0);
}

/* Takes the limits of info; a bucket that starts limiting starts full. */
static void set_limits(struct ptenant *t, const ferry_ns_info *info)
{
	if (info->ops_per_s != t->ops_per_s)
		t->ops = burst(info->ops_per_s);
	if (info->bytes_per_s != t->bytes_per_s)
		t->bytes = burst(info->bytes_per_s);
	t->ops_per_s = info->ops_per_s;
	t->bytes_per_s = info->bytes_per_s;
}

/* Brings a bucket's level up to now. */
static void fill(double *level, uint64_t rate, double secs)
{
	if (rate)
		*level = FR_MIN(burst(rate), *level + secs * (double)rate);
}

/* ns until a bucket is back at zero (0: it is not below zero). */
static uint64_t debt_ns(double level, uint64_t rate)
{
	return rate && level < 0 ? (uint64_t)ceil(-level / (double)rate * 1e9)
				 : 0;
}

static void forget(struct ptenant *t)
{
	if (!t->gone)
		fr_log(WHO,
		       "namespace %016llx is gone: its token opens "
		       "nothing here any more",
		       (unsigned long long)t->id);
	t->gone = 1;
}

/* Frees an entry, wiping its token first. */
static void free_tenant(struct ptenant *t)
{
	explicit_bzero(t->token, sizeof(t->token));
	free(t);
}

/* ---- roles ------------------------------------------------------------- */

static void bind_conn(fr_proxy *px, struct pconn *pc, enum pconn_role role,
		      struct ptenant *t)
{
	if (pc->tenant && --pc->tenant->conns == 0)
		pc->tenant->idle_ns = fr_now_ns();
	pc->tenant = t;
	pc->role = role;
	if (t)
		t->conns++;
}

/* The live entry of token tok. Every entry is compared, in constant time,
 * whichever matches. */
static struct ptenant *find(fr_proxy *px, const void *tok, size_t tlen)
{
	struct ptenant *found = NULL;

	for (struct ptenant *t = px->tenants; t; t = t->next)
		if (fr_token_equal(t->token, t->tlen, tok, tlen) && !t->gone)
			found = t;
	return found;
}

/* Keeps what the servers said token tok opens. */
static int add_tenant(fr_proxy *px, const void *tok, size_t tlen, uint64_t id,
		      const ferry_ns_info *info)
{
	struct ptenant *t = calloc(1, sizeof(*t));

	if (!t)
		return FERRY_ENOMEM;
	t->px = px;
	t->id = id;
	t->tlen = tlen;
	memcpy(t->token, tok, tlen);
	t->filled_ns = t->asked_ns = t->idle_ns = fr_now_ns();
	set_limits(t, info);
	t->next = px->tenants;
	px->tenants = t;
	return 0;
}

/* ---- logins of unknown tokens --------------------------------------------- */

static uint64_t token_hash(const void *tok, size_t tlen)
{
	return XXH3_64bits(tok, tlen);
}

/* Questions the rate allows at now (not counting it in). */
static double login_level(const fr_proxy *px, uint64_t now)
{
	return FR_MIN(LOGIN_BURST,
		      px->login_level + (double)(now - px->login_filled_ns) /
					    1e9 * LOGIN_RATE);
}

static int refused_lately(const fr_proxy *px, uint64_t h, uint64_t now)
{
	for (unsigned i = 0; i < FR_PROXY_REFUSALS; i++)
		if (px->refused[i] == h && px->refused_until[i] > now)
			return 1;
	return 0;
}

static void remember_refusal(fr_proxy *px, uint64_t h)
{
	unsigned i = px->refused_next++ % FR_PROXY_REFUSALS;

	px->refused[i] = h;
	px->refused_until[i] = fr_now_ns() + REFUSED_NS;
}

/* The index of the question about token hash h in px->login_asks, or -1. */
static int asked(const fr_proxy *px, uint64_t h)
{
	for (unsigned i = 0; i < px->logins; i++)
		if (px->login_asks[i] == h)
			return (int)i;
	return -1;
}

/* Whether a login of the token hash h may ask the servers now. */
static int may_ask(const fr_proxy *px, uint64_t h)
{
	return px->logins < FR_PROXY_LOGINS && asked(px, h) < 0 &&
	       login_level(px, fr_now_ns()) >= 1;
}

static void set_queued(fr_proxy *px, struct plogin *l, int queued)
{
	px->logins_queued += (unsigned)queued - (unsigned)l->queued;
	l->queued = queued;
}

static void drop_login(struct pconn *pc)
{
	struct plogin *l = pc->login;

	if (l && !l->asking) {
		set_queued(l->px, l, 0);
		explicit_bzero(l, sizeof(*l)); /* the token */
		free(l);
		pc->login = NULL;
	}
}

/* A question is over: its token may be asked about again. */
static void unask(fr_proxy *px, uint64_t h)
{
	int i = asked(px, h);

	if (i >= 0)
		px->login_asks[i] = px->login_asks[--px->logins];
}

static void answered(void *arg, int status, uint64_t id,
		     const ferry_ns_info *info)
{
	struct plogin *l = arg;
	fr_proxy *px = l->px;

	l->asking = 0;
	l->pc->inflight--;
	unask(px, l->hash);
	if (!status && !find(px, l->token, l->tlen))
		status = add_tenant(px, l->token, l->tlen, id, info);
	if (status == FERRY_EACCES)
		remember_refusal(px, l->hash);
	l->status = status;
	px->wake = 1; /* fr_pconn_resume: its connection, and the logins
			 that waited for this answer or a turn, go on */
}

/* The rate keeps logins waiting: the loop wakes them once it allows one
 * (fr_tenant_tick), and says so in the log now and then. */
static void rate_wait(fr_proxy *px, uint64_t now)
{
	/* Until the bucket holds a question again. */
	uint64_t at = now + debt_ns(login_level(px, now) - 1,
				    (uint64_t)LOGIN_RATE);

	if (!px->throttle_ns || at < px->throttle_ns)
		px->throttle_ns = at;
	if (!px->login_logged_ns || now - px->login_logged_ns > RATE_LOG_NS) {
		px->login_logged_ns = now;
		fr_log(WHO, "logins with tokens unknown here come faster than "
			    "%.0f a second: they wait their turn",
		       LOGIN_RATE);
	}
}

/* Asks the servers, without waiting, which namespace tok opens; or
 * queues the login until it may (may_ask). */
static int ask(fr_proxy *px, struct pconn *pc, const void *tok, size_t tlen,
	       uint64_t h)
{
	struct plogin *l = pc->login;
	uint64_t now = fr_now_ns();
	int rc;

	if (!l && !(l = pc->login = calloc(1, sizeof(*l))))
		return FERRY_ENOMEM;
	l->px = px;
	l->pc = pc;
	l->hash = h;
	l->tlen = tlen;
	memcpy(l->token, tok, tlen);
	if (!may_ask(px, h)) {
		set_queued(px, l, 1); /* fr_tenant_tick wakes it, or answered */
		return FR_LOGIN_ASKING;
	}
	set_queued(px, l, 0);
	px->login_level = login_level(px, now) - 1;
	px->login_filled_ns = now;
	/* Counted before it starts: a request that fails while being sent
	 * is answered (answered()) before fr_ns_auth_start returns. */
	l->asking = 1;
	pc->inflight++;
	px->login_asks[px->logins++] = h;
	px->fc->ns = 0;
	rc = fr_ns_auth_start(px->fc, tok, tlen, 0, answered, l);
	if (rc) { /* never started: no answer comes */
		l->asking = 0;
		pc->inflight--;
		unask(px, h);
		drop_login(pc);
		return rc;
	}
	return FR_LOGIN_ASKING;
}

int fr_tenant_login(fr_proxy *px, struct pconn *pc, const void *tok,
		    size_t tlen)
{
	const char *admin = px->o.admin_token;
	struct plogin *l = pc->login;
	struct ptenant *t;
	uint64_t h;
	int rc;

	if (l && l->asking)
		return FR_LOGIN_ASKING;
	if (admin ? fr_token_equal(admin, strlen(admin), tok, tlen)
		  : tlen == 0) {
		drop_login(pc);
		bind_conn(px, pc, PR_ADMIN, NULL);
		return 0;
	}
	if (tlen == 0 || tlen >= FR_TOKEN_FILE_MAX)
		return FERRY_EACCES;
	if ((t = find(px, tok, tlen))) {
		drop_login(pc);
		bind_conn(px, pc, PR_NS, t);
		return 0;
	}
	/* The answer to this connection's question about this very token:
	 * a refusal (an entry made since would have been found above). */
	if (l && l->status && fr_token_equal(l->token, l->tlen, tok, tlen)) {
		rc = l->status;
		drop_login(pc);
		return rc;
	}
	h = token_hash(tok, tlen);
	if (refused_lately(px, h, fr_now_ns())) {
		drop_login(pc);
		return FERRY_EACCES;
	}
	return ask(px, pc, tok, tlen, h);
}

int fr_tenant_asking(const struct pconn *pc)
{
	const struct plogin *l = pc->login;

	return l && (l->asking || (l->queued && !may_ask(l->px, l->hash)));
}

void fr_tenant_logout(fr_proxy *px, struct pconn *pc)
{
	bind_conn(px, pc, PR_NONE, NULL);
	drop_login(pc);
}

uint64_t fr_tenant_ns(const struct pconn *pc)
{
	return pc->tenant ? pc->tenant->id : 0;
}

void fr_tenant_seen(fr_proxy *px, struct pconn *pc, int status)
{
	if (status == FERRY_EACCES && pc->tenant)
		forget(pc->tenant);
}

int fr_tenant_keys_start(fr_proxy *px, struct pconn *pc, fr_ns_auth_fn *done,
			 void *arg)
{
	const struct ptenant *t = pc->tenant;

	fr_tenant_act(px, pc);
	return fr_ns_auth_start(px->fc, t ? t->token : "", t ? t->tlen : 0, 1,
				done, arg);
}

/* ---- fair sharing -----------------------------------------------------------
 */

void fr_tenant_act(fr_proxy *px, struct pconn *pc)
{
	struct ptenant *t = pc->tenant;

	px->fc->ns = t ? t->id : 0;
	if (t && t->ops_per_s)
		t->ops -= 1;
}

void fr_tenant_bytes(fr_proxy *px, struct pconn *pc, uint64_t bytes)
{
	struct ptenant *t = pc->tenant;

	if (t && t->bytes_per_s)
		t->bytes -= (double)bytes;
}

int fr_tenant_hold(fr_proxy *px, struct pconn *pc)
{
	struct ptenant *t = pc->tenant;
	uint64_t now, wait;

	if (!t || !(t->ops_per_s || t->bytes_per_s))
		return 0;
	now = fr_now_ns();
	fill(&t->ops, t->ops_per_s, (double)(now - t->filled_ns) / 1e9);
	fill(&t->bytes, t->bytes_per_s, (double)(now - t->filled_ns) / 1e9);
	t->filled_ns = now;
	wait = FR_MAX(debt_ns(t->ops, t->ops_per_s),
		      debt_ns(t->bytes, t->bytes_per_s));
	if (!wait)
		return 0;
	/* The loop wakes the paused connections then (fr_tenant_tick). */
	if (!px->throttle_ns || now + wait < px->throttle_ns)
		px->throttle_ns = now + wait;
	return 1;
}

/* ---- keeping the entries fresh
 * -------------------------------------------------- */

static void refreshed(void *arg, int status, uint64_t id,
		      const ferry_ns_info *info)
{
	struct ptenant *t = arg;

	t->asking = 0;
	t->px->asking--;
	if (status == 0)
		set_limits(t, info);
	else if (status == FERRY_EACCES)
		forget(t);
}

void fr_tenant_recheck(fr_proxy *px)
{
	for (struct ptenant *t = px->tenants; t; t = t->next)
		t->asked_ns = 0;
	px->tenant_tick_ns = 0;
}

int fr_tenant_tick(fr_proxy *px)
{
	uint64_t now = fr_now_ns(), next = 0;
	struct ptenant **pp, *t;

	if (px->throttle_ns && now >= px->throttle_ns) {
		px->throttle_ns = 0;
		px->wake = 1; /* fr_pconn_resume: paused ones look again */
	}
	/* Logins that wait for the rate: woken when it allows one (an
	 * answer wakes those that wait for a question to end). */
	if (px->logins_queued && login_level(px, now) < 1)
		rate_wait(px, now);
	if (px->tenants && now >= px->tenant_tick_ns) {
		px->tenant_tick_ns = now + TICK_NS;
		for (pp = &px->tenants; (t = *pp);) {
			if (!t->conns && !t->asking &&
			    (t->gone || now - t->idle_ns > IDLE_NS)) {
				*pp = t->next;
				free_tenant(t);
				continue;
			}
			if (!t->gone && !t->asking && px->asking < MAX_ASKING &&
			    now - t->asked_ns >= REFRESH_NS) {
				t->asked_ns = now;
				t->asking = 1;
				px->asking++;
				px->fc->ns = 0;
				if (fr_ns_auth_start(px->fc, t->token, t->tlen,
						     0, refreshed, t)) {
					t->asking = 0; /* no slot: next tick */
					px->asking--;
				}
			}
			pp = &t->next;
		}
	}
	if (px->tenants)
		next = px->tenant_tick_ns;
	if (px->throttle_ns && (!next || px->throttle_ns < next))
		next = px->throttle_ns;
	/* Answers to refreshes are the warm client's requests in flight:
	 * the loop polls for them as for any. */
	if (!next)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

void fr_tenant_free(fr_proxy *px)
{
	while (px->tenants) {
		struct ptenant *t = px->tenants;
		px->tenants = t->next;
		free_tenant(t);
	}
}
