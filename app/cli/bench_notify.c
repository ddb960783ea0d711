/* ferry bench --notify: how long after a put a waiting client wakes up,
 * beside a GET round trip measured in the same mode and run.
 *
 * Per mode, a waiter thread with its own ferry_client watches the prefix
 * ferry-bench/notify/MODE/ once and then takes events with
 * ferry_event_next; the calling thread is the writer, with a second
 * client. One sample: the waiter says it is about to wait for key i; the
 * writer lets it fall asleep (NOTIFY_SETTLE_NS, past the client's 50 us
 * of spinning, so the wake-up is from a blocked wait, as a waiting
 * function's is), reads CLOCK_MONOTONIC and puts key i; the waiter reads
 * the clock when ferry_event_next returns that key's event. Both clocks
 * are the same process's. Then, once the waiter is done with the sample,
 * the writer naps as long again and times a GET of a 64-byte value on its
 * own client: the GET meets servers (and proxy) idle for as long as the
 * put did. Timed right after the wake-up, it found them still spinning
 * from the put, or not, depending on how long the wake-up took (this
 * VM's idle cores wake in 25-75 us), and the ratio swung with it.
 *
 * Why not ferry_wait: it watches the key, asks the server whether it
 * exists, and only then waits. The writer cannot tell when those two
 * round trips are over, so a put would either race them (and find the
 * key written before the wait began) or need a guessed delay. A standing
 * prefix watch is armed before the first sample; ferry_wait waits in the
 * same code (wait_event in src/client/watch.c) once armed, so the
 * wake-up measured is the one ferry_wait has. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/bench.h"
#include "cli/cli.h"
#include "common/util.h"

#define NOTIFY_VALUE 64
#define NOTIFY_SETTLE_NS 300000ull   /* the waiter's time to fall asleep */
#define NOTIFY_MODE_NS 5000000000ull /* samples of one mode, at most */
#define NOTIFY_EVENT_MS 2000	     /* a put's event later than this: fail */

typedef struct notify_run {
	ferry_client *wc; /* the waiter's client */
	char prefix[64];
	size_t plen;
	uint64_t *wake;	   /* per sample: when the waiter woke, ns */
	atomic_uint armed; /* i + 1: waiting for sample i's event */
	atomic_uint done;  /* i + 1: sample i's event taken */
	atomic_int stop;   /* the writer asks the waiter to end */
	atomic_int failed; /* the waiter ended on an error */
	char why[160];
} notify_run;

static size_t notify_key(const notify_run *r, char *key, size_t cap,
			 const char *what, unsigned i)
{
	return (size_t)snprintf(key, cap, "%s%s%u", r->prefix, what, i);
}

static void *waiter(void *arg)
{
	notify_run *r = arg;
	char key[96];
	ferry_event ev;

	for (unsigned i = 0;; i++) {
		size_t klen = notify_key(r, key, sizeof(key), "k", i);
		atomic_store(&r->armed, i + 1);
		for (;;) {
			int rc = ferry_event_next(r->wc, &ev, NOTIFY_EVENT_MS);
			uint64_t now = fr_now_ns();
			if (atomic_load(&r->stop))
				return NULL;
			if (rc <= 0 || ev.kind == FERRY_EV_LOST) {
				snprintf(r->why, sizeof(r->why),
					 "waiting for %s: %s", key,
					 rc < 0	   ? ferry_strerror(rc)
					 : rc == 0 ? "no event in time"
						   : "events lost");
				atomic_store(&r->failed, 1);
				return NULL;
			}
			if (ev.kind == FERRY_EV_SET && ev.klen == klen &&
			    !memcmp(ev.key, key, klen)) {
				r->wake[i] = now;
				break;
			}
		}
		atomic_store(&r->done, i + 1);
	}
}

static void nap(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000ull),
			      (long)(ns % 1000000000ull)};
	nanosleep(&ts, NULL);
}

/* Waits until *v reaches want or the waiter fails. */
static int await(notify_run *r, atomic_uint *v, unsigned want)
{
	while (atomic_load(v) < want)
		if (atomic_load(&r->failed) || bench_stop)
			return -1;
		else
			nap(20000);
	return 0;
}

static int connect_mode(const char *cluster, const char *url, ferry_client **c)
{
	ferry_opts o;
	int rc;

	cli_opts_init(&o, cluster);
	o.proxy = url;
	if ((rc = ferry_connect(&o, c)))
		return cli_fail("bench: connect", rc), -1;
	return 0;
}

/* One mode: up to n samples of each, in *notify and *get; *got says how
 * many. Returns 0 or -1 with the reason printed. */
static int notify_mode(const char *cluster, const char *url, const char *name,
		       unsigned n, uint64_t *notify, uint64_t *get,
		       unsigned *got)
{
	notify_run r = {0};
	ferry_client *wc = NULL;
	uint8_t val[NOTIFY_VALUE], dst[NOTIFY_VALUE];
	char key[96], gkey[96];
	size_t klen, gklen, len;
	uint64_t watch = 0, end, t0;
	pthread_t th;
	int rc = -1, started = 0, err = 0;
	unsigned i = 0;

	*got = 0;
	memset(val, 'n', sizeof(val));
	r.plen = (size_t)snprintf(r.prefix, sizeof(r.prefix),
				  "ferry-bench/notify/%s/", name);
	gklen = notify_key(&r, gkey, sizeof(gkey), "get", 0);
	if (!(r.wake = calloc(n, sizeof(uint64_t))))
		return cli_fail("bench", FERRY_ENOMEM), -1;
	if (connect_mode(cluster, url, &r.wc) ||
	    connect_mode(cluster, url, &wc))
		goto out;
	if ((rc = ferry_put(wc, gkey, gklen, val, sizeof(val), 0)) ||
	    (rc = ferry_watch(r.wc, r.prefix, r.plen, 0, &watch))) {
		cli_fail("bench --notify: set-up", rc);
		rc = -1;
		goto out;
	}
	rc = -1;
	if (pthread_create(&th, NULL, waiter, &r)) {
		cli_fail("bench: thread", FERRY_ENOMEM);
		goto out;
	}
	started = 1;
	end = fr_now_ns() + NOTIFY_MODE_NS;
	for (i = 0; i < n && fr_now_ns() < end; i++) {
		int prc;
		if ((err = await(&r, &r.armed, i + 1)))
			break;
		nap(NOTIFY_SETTLE_NS);
		klen = notify_key(&r, key, sizeof(key), "k", i);
		t0 = fr_now_ns();
		prc = ferry_put(wc, key, klen, val, sizeof(val), 0);
		if (prc) {
			err = cli_fail("bench --notify: put", prc);
			break;
		}
		if ((err = await(&r, &r.done, i + 1)))
			break;
		notify[i] = r.wake[i] - t0;
		nap(NOTIFY_SETTLE_NS); /* the GET finds what the put found */
		t0 = fr_now_ns();
		prc =
		    ferry_get(wc, gkey, gklen, 0, dst, sizeof(dst), &len, NULL);
		get[i] = fr_now_ns() - t0;
		if (prc || len != sizeof(val)) {
			err = cli_fail("bench --notify: get",
				       prc ? prc : FERRY_EPROTO);
			break;
		}
	}
	*got = i;
	rc = err || !i ? -1 : 0; /* fewer than n: the time ran out */
	if (atomic_load(&r.failed))
		fprintf(stderr, "ferry: bench --notify %s: %s\n", name, r.why);
out:
	if (started) {
		/* Wakes the waiter wherever it is: a put under the prefix. */
		atomic_store(&r.stop, 1);
		klen = notify_key(&r, key, sizeof(key), "stop", 0);
		ferry_put(wc, key, klen, val, sizeof(val), 0);
		pthread_join(th, NULL);
	}
	if (started)
		ferry_del(wc, key, klen);
	if (wc) {
		for (unsigned k = 0; k <= i && k < n; k++)
			ferry_del(wc, key,
				  notify_key(&r, key, sizeof(key), "k", k));
		ferry_del(wc, gkey, gklen);
	}
	/* The watch ends after the deletes, while its client is still
	 * there to take their events. */
	if (watch)
		ferry_unwatch(r.wc, watch);
	ferry_close(r.wc);
	ferry_close(wc);
	free(r.wake);
	return rc;
}

static double pct_us(uint64_t *v, unsigned n, unsigned p)
{
	bench_sort(v, n);
	return (double)bench_pct(v, n, p) / 1e3;
}

int bench_notify(const char *cluster, const char *const url[NMODES], unsigned n)
{
	uint64_t *notify = calloc(n, sizeof(uint64_t));
	uint64_t *get = calloc(n, sizeof(uint64_t));
	int rc = -1, head = 0;

	if (!notify || !get) {
		cli_fail("bench", FERRY_ENOMEM);
		goto out;
	}
	for (int s = 0; s < NMODES && !bench_stop; s++) {
		unsigned got;
		double np50, gp50;
		if (!url[s])
			continue;
		if (notify_mode(cluster, url[s], bench_sys_name[s], n, notify,
				get, &got))
			goto out;
		if (!head++)
			printf("\n### Notification latency: up to %u samples "
			       "per mode\n\n"
			       "notify: from just before the writer's "
			       "ferry_put of a 64-byte value to the moment a "
			       "blocked waiter's ferry_event_next returns its "
			       "event (a prefix watch set up before the "
			       "first sample; another client and thread of "
			       "the same process). GET: a round trip "
			       "of a 64-byte value on the writer's client, "
			       "alternating with the notify samples; each "
			       "put and each GET follows 300 µs with "
			       "nothing sent. "
			       "Target: notify p50 ÷ GET p50 at most 2.\n\n"
			       "| mode       | samples | notify p50 µs | "
			       "notify p99 µs | GET p50 µs | GET p99 µs | "
			       "notify p50 ÷ GET p50 |\n"
			       "|------------|--------:|--------------:|"
			       "--------------:|-----------:|-----------:|"
			       "---------------------:|\n",
			       n);
		np50 = pct_us(notify, got, 50);
		gp50 = pct_us(get, got, 50);
		printf("| %-10s | %7u | %13.1f | %13.1f | %10.1f | %10.1f | "
		       "%20.2f |\n",
		       bench_sys_name[s], got, np50, pct_us(notify, got, 99),
		       gp50, pct_us(get, got, 99), gp50 > 0 ? np50 / gp50 : 0);
		fflush(stdout);
	}
	rc = bench_stop ? -1 : 0;
out:
	free(notify);
	free(get);
	return rc;
}
