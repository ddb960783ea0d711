/* ferry bench --fair: two jobs on one node proxy, one of them flooding.
 * Does the other keep its latency?
 *
 * Two namespaces (jobs) are made through the proxy as the admin: a
 * victim without limits, and a flooder. Per proxy mode, the victim (one
 * client) times GETs of a 64-byte value, one at a time, in three phases
 * of --seconds each: alone; beside the flooder (FAIR_FLOODERS clients,
 * each keeping FAIR_DEPTH PUTs of FAIR_VALUE bytes in flight) with no
 * limits; and beside the same flooder limited to --fair-ops operations
 * and --fair-bytes bytes per second (ferry_ns_set through the proxy,
 * which takes new limits at once). Every round runs the three phases;
 * the percentiles are over all samples of all rounds. The table gives
 * p50 and p99 per phase, their ratio to alone (the target: p99 within 2×
 * with a flooder, where the flooder is limited), and what the flooder
 * got through meanwhile.
 *
 * The admin connects as the CLI does (cli_opts_init: $FERRY_TOKEN, else
 * the cluster file's admin token, else none: an open cluster). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "common/util.h"

#define FAIR_VALUE (64u * 1024)	    /* bytes of each flooder PUT */
#define FAIR_FLOODERS 4		    /* flooder clients (connections) */
#define FAIR_DEPTH 16		    /* PUTs each keeps in flight */
#define FAIR_KEYS 64		    /* keys each flooder cycles through */
#define FAIR_GET 64		    /* bytes of the victim's value */
#define FAIR_WARMUP_NS 500000000ull /* flooders run alone first */
#define FAIR_MAX_SAMPLES 2000000u   /* per phase, all rounds */

enum { PH_ALONE, PH_FLOOD, PH_LIMITED, NPHASES };

typedef struct flooder {
	pthread_t th;
	ferry_client *c;
	void *val;
	int self_alloc; /* val from ferry_alloc */
	unsigned idx;
	atomic_int *stop;
	atomic_ullong *puts; /* finished PUTs, all flooders */
	int status;	     /* the first failure, or 0 */
} flooder;

static void *flood(void *arg)
{
	flooder *f = arg;
	ferry_op ops[FAIR_DEPTH], *done[FAIR_DEPTH];
	char keys[FAIR_DEPTH][64];
	unsigned inflight = 0, next = 0;

	for (unsigned i = 0; i < FAIR_DEPTH; i++) {
		ops[i] = (ferry_op){.opcode = FERRY_OP_PUT,
				    .key = keys[i],
				    .buf = f->val,
				    .len = FAIR_VALUE};
		ops[i].klen = (size_t)snprintf(keys[i], sizeof(keys[i]),
					       "ferry-bench/fair/%u/%u", f->idx,
					       next++ % FAIR_KEYS);
		if ((f->status = ferry_submit(f->c, &ops[i])))
			return NULL;
		inflight++;
	}
	while (inflight) {
		int n = ferry_poll(f->c, done, FAIR_DEPTH, 100);
		if (n < 0) {
			f->status = n;
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			ferry_op *op = done[i];
			inflight--;
			if (op->status && !f->status)
				f->status = op->status;
			if (!op->status)
				atomic_fetch_add(f->puts, 1);
			if (atomic_load(f->stop) || f->status)
				continue;
			op->klen = (size_t)snprintf((char *)op->key, 64,
						    "ferry-bench/fair/%u/%u",
						    f->idx, next++ % FAIR_KEYS);
			if ((f->status = ferry_submit(f->c, op)))
				continue;
			inflight++;
		}
	}
	return NULL;
}

/* Connects to the proxy at url with a namespace's token tok, or as the
 * CLI does (tok NULL: the admin). */
static int fair_connect(const char *cluster, const char *url, const char *tok,
			ferry_client **c)
{
	ferry_opts o;
	int rc;

	cli_opts_init(&o, cluster);
	o.proxy = url;
	if (tok)
		o.token = tok;
	*c = NULL;
	if ((rc = ferry_connect(&o, c)))
		return cli_fail("bench --fair: connect", rc), -1;
	return 0;
}

/* Starts (n > 0) or stops (n == 0) the flooders of fl. */
static int floods(flooder *fl, unsigned n, const char *cluster, const char *url,
		  const char *tok, atomic_int *stop, atomic_ullong *puts)
{
	int rc = 0;

	if (!n) {
		atomic_store(stop, 1);
		for (unsigned i = 0; i < FAIR_FLOODERS; i++) {
			if (!fl[i].c)
				continue;
			pthread_join(fl[i].th, NULL);
			if (fl[i].status && !rc)
				rc = cli_fail("bench --fair: flooder PUT",
					      fl[i].status);
			if (fl[i].self_alloc)
				ferry_free(fl[i].c, fl[i].val);
			else
				free(fl[i].val);
			ferry_close(fl[i].c);
			fl[i] = (flooder){0};
		}
		return rc ? -1 : 0;
	}
	atomic_store(stop, 0);
	for (unsigned i = 0; i < n; i++) {
		flooder *f = &fl[i];
		*f = (flooder){.idx = i, .stop = stop, .puts = puts};
		if (fair_connect(cluster, url, tok, &f->c))
			return floods(fl, 0, cluster, url, tok, stop, puts), -1;
		/* In the shared arena where there is one: zero copy. */
		f->val = ferry_alloc(f->c, FAIR_VALUE);
		f->self_alloc = f->val != NULL;
		if (!f->val)
			f->val = malloc(FAIR_VALUE);
		if (f->val)
			memset(f->val, 'f', FAIR_VALUE);
		if (!f->val || pthread_create(&f->th, NULL, flood, f)) {
			if (f->self_alloc)
				ferry_free(f->c, f->val);
			else
				free(f->val);
			ferry_close(f->c);
			*f = (flooder){0};
			cli_fail("bench --fair", FERRY_ENOMEM);
			return floods(fl, 0, cluster, url, tok, stop, puts), -1;
		}
	}
	return 0;
}

/* The victim: GETs of key for secs, one at a time, their latency (ns)
 * appended to lat (room for cap in all). */
static int victim(ferry_client *c, const char *key, double secs, uint64_t *lat,
		  size_t cap, size_t *n)
{
	uint64_t end = fr_now_ns() + (uint64_t)(secs * 1e9);
	uint8_t buf[FAIR_GET];
	size_t got;

	while (*n < cap && fr_now_ns() < end && !bench_stop) {
		uint64_t t0 = fr_now_ns();
		int rc = ferry_get(c, key, strlen(key), 0, buf, sizeof(buf),
				   &got, NULL);
		if (rc || got != FAIR_GET)
			return cli_fail("bench --fair: victim GET",
					rc ? rc : FERRY_EPROTO);
		lat[(*n)++] = fr_now_ns() - t0;
	}
	return 0;
}

typedef struct fair_phase {
	uint64_t *lat;
	size_t n;
	double secs;   /* the victim measured this long, all rounds */
	uint64_t puts; /* flooder PUTs finished meanwhile */
} fair_phase;

/* The phases of one proxy mode, rounds times. */
static int fair_mode(const bench_opts *o, const char *cluster, const char *url,
		     ferry_client *admin, const char *vtok, const char *ftok,
		     const char *fname, fair_phase *ph)
{
	static const char vkey[] = "ferry-bench/fair/victim";
	ferry_ns_info lim = {.ops_per_s = o->fair_ops,
			     .bytes_per_s = o->fair_bytes},
		      none = {0};
	flooder fl[FAIR_FLOODERS] = {0};
	atomic_int stop = 0;
	atomic_ullong puts = 0;
	ferry_client *v = NULL;
	uint8_t val[FAIR_GET];
	int rc = -1;

	memset(val, 'v', sizeof(val));
	if (fair_connect(cluster, url, vtok, &v))
		return -1;
	if ((rc = ferry_put(v, vkey, strlen(vkey), val, sizeof(val), 0))) {
		cli_fail("bench --fair: victim PUT", rc);
		rc = -1;
		goto out;
	}
	for (unsigned r = 0; r < o->rounds && !bench_stop; r++)
		for (int p = 0; p < NPHASES && !bench_stop; p++) {
			uint64_t t0, p0;
			int set;
			if (p != PH_ALONE) {
				set = ferry_ns_set(
				    admin, fname,
				    FERRY_NS_SET_OPS | FERRY_NS_SET_BYTES,
				    p == PH_LIMITED ? &lim : &none);
				if (set) {
					cli_fail("bench --fair: ns set", set);
					rc = -1;
					goto out;
				}
				if (floods(fl, FAIR_FLOODERS, cluster, url,
					   ftok, &stop, &puts))
					goto out;
				usleep(FAIR_WARMUP_NS / 1000);
			}
			t0 = fr_now_ns();
			p0 = atomic_load(&puts);
			rc = victim(v, vkey, o->seconds, ph[p].lat,
				    FAIR_MAX_SAMPLES, &ph[p].n);
			ph[p].secs += (double)(fr_now_ns() - t0) / 1e9;
			ph[p].puts += atomic_load(&puts) - p0;
			if (floods(fl, 0, cluster, url, ftok, &stop, &puts) ||
			    rc) {
				rc = -1;
				goto out;
			}
		}
	rc = bench_stop ? -1 : 0;
out:
	floods(fl, 0, cluster, url, ftok, &stop, &puts);
	if (v)
		ferry_del(v, vkey, strlen(vkey));
	ferry_close(v);
	return rc;
}

static double us(const uint64_t *sorted, size_t n, unsigned p)
{
	return (double)bench_pct(sorted, n, p) / 1e3;
}

int bench_fair(const bench_opts *o, const char *cluster)
{
	static const char *const names[NPHASES] = {"none", "no limits",
						   "limited"};
	char vtok[FERRY_TOKEN_LEN + 1], ftok[FERRY_TOKEN_LEN + 1], vname[64],
	    fname[64];
	fair_phase ph[NPHASES] = {0};
	ferry_client *admin = NULL;
	int rc = -1, made = 0, head = 0;

	snprintf(vname, sizeof(vname), "bench-victim-%d", (int)getpid());
	snprintf(fname, sizeof(fname), "bench-flood-%d", (int)getpid());
	for (int p = 0; p < NPHASES; p++)
		if (!(ph[p].lat =
			  malloc(FAIR_MAX_SAMPLES * sizeof(uint64_t)))) {
			cli_fail("bench --fair", FERRY_ENOMEM);
			goto out;
		}
	for (int s = SYS_UNIX; s <= SYS_TCP && !bench_stop; s++) {
		int err;
		if (!o->on[s])
			continue;
		/* The admin, through the proxy: it takes the flooder's new
		 * limits at once. */
		if (!admin && fair_connect(cluster, o->url[s], NULL, &admin))
			goto out;
		if (!made) {
			if ((err = ferry_ns_create(admin, vname, NULL, vtok)) ||
			    (err = ferry_ns_create(admin, fname, NULL, ftok))) {
				cli_fail("bench --fair: ns create", err);
				goto out;
			}
			made = 1;
		}
		for (int p = 0; p < NPHASES; p++)
			ph[p].n = 0, ph[p].secs = 0, ph[p].puts = 0;
		if (fair_mode(o, cluster, o->url[s], admin, vtok, ftok, fname,
			      ph))
			goto out;
		if (!head++)
			printf(
			    "\n### Fair sharing: a victim's small GETs "
			    "beside a flooding job on the same proxy\n\n"
			    "victim: namespace %s (no limits), one client "
			    "reading a %u-byte value, one GET at a time. "
			    "flooder: namespace %s, %u clients each "
			    "keeping %u PUTs of %u KiB in flight, with no "
			    "limits, then limited to %llu ops/s and %.1f "
			    "MiB/s (ferry_ns_set; the proxy's token "
			    "buckets slow it, nothing fails). %u round(s) "
			    "of the three phases, %g s each after the "
			    "flooder's %.1f s head start; percentiles "
			    "over every GET of all rounds. Target: victim "
			    "p99 beside the limited flooder at most 2× "
			    "alone.\n\n"
			    "| mode       | flooder   | victim GETs | p50 µs "
			    "| p99 µs | p50 ÷ alone | p99 ÷ alone | "
			    "flooder PUTs/s | flooder MiB/s |\n"
			    "|------------|-----------|------------:|-------:"
			    "|-------:|------------:|------------:|"
			    "---------------:|--------------:|\n",
			    vname, FAIR_GET, fname, FAIR_FLOODERS, FAIR_DEPTH,
			    FAIR_VALUE / 1024, (unsigned long long)o->fair_ops,
			    (double)o->fair_bytes / (1 << 20), o->rounds,
			    o->seconds, FAIR_WARMUP_NS / 1e9);
		for (int p = 0; p < NPHASES; p++)
			bench_sort(ph[p].lat, ph[p].n);
		for (int p = 0; p < NPHASES; p++) {
			double rate = ph[p].secs > 0
					  ? (double)ph[p].puts / ph[p].secs
					  : 0;
			printf("| %-10s | %-9s | %11zu | %6.1f | %6.1f | "
			       "%11.2f | %11.2f | %14.0f | %13.1f |\n",
			       bench_sys_name[s], names[p], ph[p].n,
			       us(ph[p].lat, ph[p].n, 50),
			       us(ph[p].lat, ph[p].n, 99),
			       us(ph[p].lat, ph[p].n, 50) /
				   us(ph[0].lat, ph[0].n, 50),
			       us(ph[p].lat, ph[p].n, 99) /
				   us(ph[0].lat, ph[0].n, 99),
			       rate, rate * FAIR_VALUE / (1 << 20));
		}
		fflush(stdout);
	}
	rc = bench_stop ? -1 : 0;
out:
	if (made) { /* frees their keys */
		ferry_ns_rm(admin, vname);
		ferry_ns_rm(admin, fname);
	}
	ferry_close(admin);
	for (int p = 0; p < NPHASES; p++)
		free(ph[p].lat);
	return rc;
}
