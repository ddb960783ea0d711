#include "fabric/fab.h"
#include "fabric/region.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "common/util.h"
#include "ferry.h"

#define FR_FI_VERSION FI_VERSION(1, 17)
#define CQ_SIZE 8192
#define RETRY_NS (5ull * 1000000000ull) /* -FI_EAGAIN retry bound */

/* Provider quirks live here and nowhere else. */
static const struct prov {
	const char *name; /* ferry's name (--provider) */
	const char *fi;   /* libfabric's provider string */
	int wait_fd;      /* the CQ offers FI_WAIT_FD; shm (libfabric 1.17)
			     offers only busy waiting, so idle waits there
			     are short sleeps instead (fr_fab_wait) */
	int name_self;    /* an endpoint without an address must be given a
			     unique name (mk_info): shm (libfabric 1.17)
			     names its /dev/shm region after the pid, a
			     process killed with SIGKILL leaves the region
			     behind, and a later process with the same pid
			     then fails to open an endpoint ("shm file in
			     use": the stale region's owner, that pid, is
			     alive: it is the new process itself) */
	int order_saw;    /* ask for send-after-write ordering. Not on shm:
			     there (libfabric 1.17) any RMA ordering turns
			     off its direct RMA, in which the initiator
			     copies with one process_vm_readv/writev, and
			     reads fall back to copies through bounce
			     buffers made by both sides. shm completes an
			     RMA only once the bytes are in place, which is
			     all the server needs (architecture.md,
			     Ordering) */
	int regions;      /* endpoints live in files under REGION_DIR that
			     a killed process leaves behind (region.h):
			     ferry names its clients', holds its own,
			     removes clients' that nobody holds, and so
			     tells a dead peer. A server's (HOST:PORT) is
			     left to libfabric, which takes over one whose
			     process is gone, in place, so that its clients'
			     mappings stay good across a restart */
} provs[] = {
	{"tcp", "tcp;ofi_rxm", 1, 0, 1, 0},
	{"shm", "shm", 0, 1, 0, 1},
	{"verbs", "verbs;ofi_rxm", 1, 0, 1, 0},
};

#define REGION_DIR "/dev/shm" /* where shm_open(3) puts them */
#define REGION_MIN_AGE_S 60  /* an unheld region younger than this may be
				 one whose owner is about to lock it */

#define IDLE_SLEEP_MIN_US 50
#define IDLE_SLEEP_MAX_US 1000
#define ANSWERS_DUE_NS 20000000ull /* see fr_fab_answers_due */

struct fr_fab {
	const struct prov *p;
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	int fd;             /* wait descriptor, or -1 */
	unsigned idle_us;   /* next back-off sleep when there is no fd */
	int active;         /* posted, or heard a peer, since active_ns */
	uint64_t active_ns; /* when fr_fab_answers_due last saw that (ns) */
	uint64_t next_key; /* keys we choose when the provider does not */
	int region;	   /* p->regions: our region, locked; else -1 */
	int lasting;	   /* a server's region, left for its successor */
	char err[256];
};

/* libfabric is loaded when the first endpoint opens, not when a program
 * starts: a function that reaches its node's proxy never loads it. That
 * matters for cold starts, since loading Debian's libfabric costs ~200 ms
 * (its PSM provider's library calibrates a clock at load time), and it
 * lets function images leave libfabric out. Its other calls are inline
 * functions that go through the objects' operation tables. */
static struct {
	int (*getinfo)(uint32_t, const char *, const char *, uint64_t,
		       const struct fi_info *, struct fi_info **);
	void (*freeinfo)(struct fi_info *);
	struct fi_info *(*dupinfo)(const struct fi_info *);
	int (*fabric)(struct fi_fabric_attr *, struct fid_fabric **, void *);
	const char *(*strerror)(int);
	char why[256];
} lib;
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void load_lib(void)
{
	void *h = dlopen("libfabric.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(lib.why, sizeof(lib.why), "cannot load libfabric: %s",
			 dlerror());
		return;
	}
	*(void **)&lib.getinfo = dlsym(h, "fi_getinfo");
	*(void **)&lib.freeinfo = dlsym(h, "fi_freeinfo");
	*(void **)&lib.dupinfo = dlsym(h, "fi_dupinfo");
	*(void **)&lib.fabric = dlsym(h, "fi_fabric");
	*(void **)&lib.strerror = dlsym(h, "fi_strerror");
	if (!lib.getinfo || !lib.freeinfo || !lib.dupinfo || !lib.fabric ||
	    !lib.strerror) {
		snprintf(lib.why, sizeof(lib.why),
			 "libfabric lacks fi_getinfo and friends");
		lib.getinfo = NULL;
	}
}

#define FR_CLOSE_FID(obj)                                                      \
	do {                                                                   \
		if (obj)                                                       \
			fi_close(&(obj)->fid);                                 \
		(obj) = NULL;                                                  \
	} while (0)

static int fail(fr_fab *f, const char *what, int fi_rc)
{
	snprintf(f->err, sizeof(f->err), "%s: %s", what, lib.strerror(-fi_rc));
	return FERRY_EFABRIC;
}

/* A name no other endpoint on this host has had: the pid, which tells a
 * person whose it is, and a random nonce, since pids come back. */
static void unique_name(char *buf, size_t cap)
{
	uint64_t nonce = 0;

	if (getrandom(&nonce, sizeof(nonce), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(nonce))
		nonce = fr_now_ns() ^ ((uint64_t)(uintptr_t)buf << 16);
	snprintf(buf, cap, FR_REGION_PREFIX "%d-%016llx", (int)getpid(),
		 (unsigned long long)nonce);
}

static int mk_info(fr_fab *f, const struct prov *p, const char *host,
		   const char *port)
{
	struct fi_info *hints = lib.dupinfo(NULL);
	char name[64];
	int rc;

	if (!hints)
		return FERRY_ENOMEM;
	hints->ep_attr->type = FI_EP_RDM;
	hints->caps = FI_MSG | FI_RMA | FI_SOURCE;
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	/* The modes we can honour; the provider reports the ones it needs. */
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR |
				      FI_MR_ALLOCATED | FI_MR_PROV_KEY |
				      FI_MR_ENDPOINT;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	/* A reply sent after an RMA write must not overtake the data. */
	hints->tx_attr->msg_order = p->order_saw ? FI_ORDER_SAW : 0;
	hints->fabric_attr->prov_name = strdup(p->fi);
	if (!host && p->name_self) {
		/* A client: the name is its source address (fi_shm(7): a
		 * node alone becomes "fi_shm://NODE", and the endpoint's
		 * region "NODE:UID:INDEX"). */
		unique_name(name, sizeof(name));
		host = name;
	}
	rc = lib.getinfo(FR_FI_VERSION, host, port, host ? FI_SOURCE : 0, hints,
			&f->info);
	lib.freeinfo(hints);
	if (rc)
		return fail(f, "fi_getinfo", rc);
	return 0;
}

static int mk_cq(fr_fab *f, const struct prov *p)
{
	struct fi_cq_attr attr = {
		.size = CQ_SIZE,
		.format = FI_CQ_FORMAT_MSG,
		.wait_obj = p->wait_fd ? FI_WAIT_FD : FI_WAIT_NONE,
	};
	int rc = fi_cq_open(f->domain, &attr, &f->cq, NULL);

	if (rc)
		return fail(f, "fi_cq_open", rc);
	f->idle_us = IDLE_SLEEP_MIN_US;
	f->active_ns = fr_now_ns();
	if (!p->wait_fd)
		return 0;
	rc = fi_control(&f->cq->fid, FI_GETWAIT, &f->fd);
	if (rc)
		return fail(f, "fi_control(FI_GETWAIT)", rc);
	return 0;
}

static int mk_ep(fr_fab *f)
{
	struct fi_av_attr av = {.type = FI_AV_TABLE};
	int rc;

	rc = fi_av_open(f->domain, &av, &f->av, NULL);
	if (rc)
		return fail(f, "fi_av_open", rc);
	rc = fi_endpoint(f->domain, f->info, &f->ep, NULL);
	if (rc)
		return fail(f, "fi_endpoint", rc);
	rc = fi_ep_bind(f->ep, &f->av->fid, 0);
	if (!rc)
		rc = fi_ep_bind(f->ep, &f->cq->fid, FI_TRANSMIT | FI_RECV);
	if (rc)
		return fail(f, "fi_ep_bind", rc);
	rc = fi_enable(f->ep);
	if (rc)
		return fail(f, "fi_enable", rc);
	return 0;
}

/* Locks a client's own region (region.h). */
static int hold_region(fr_fab *f)
{
	char addr[320], name[320] = "?";
	size_t len = sizeof(addr);
	int rc = fr_fab_getname(f, addr, &len);

	if (rc)
		return rc;
	if (fr_region_name(addr, len, name, sizeof(name)) ||
	    (f->region = fr_region_hold(REGION_DIR, name)) < 0) {
		snprintf(f->err, sizeof(f->err),
			 "cannot lock this endpoint's region %s/%s: %s",
			 REGION_DIR, name, strerror(errno));
		return FERRY_EFABRIC;
	}
	return 0;
}

int fr_fab_open(fr_fab **out, const char *provider, const char *host,
		const char *port, const char **why)
{
	const struct prov *p = NULL;
	fr_fab *f;
	int rc;

	for (size_t i = 0; i < FR_ARRAY_LEN(provs); i++)
		if (provider && strcmp(provider, provs[i].name) == 0)
			p = &provs[i];
	*out = NULL;
	if (!p) {
		if (why)
			*why = "unknown provider (use tcp, shm or verbs)";
		return FERRY_EINVAL;
	}
	pthread_once(&lib_once, load_lib);
	if (!lib.getinfo) {
		if (why)
			*why = lib.why;
		return FERRY_EFABRIC;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return FERRY_ENOMEM;
	f->p = p;
	f->fd = -1;
	f->region = -1;
	f->next_key = 1;
	rc = mk_info(f, p, host, port);
	if (rc)
		goto fail;
	rc = lib.fabric(f->info->fabric_attr, &f->fabric, NULL);
	if (rc) {
		rc = fail(f, "fi_fabric", rc);
		goto fail;
	}
	rc = fi_domain(f->fabric, f->info, &f->domain, NULL);
	if (rc) {
		rc = fail(f, "fi_domain", rc);
		goto fail;
	}
	rc = mk_cq(f, p);
	if (!rc)
		rc = mk_ep(f);
	if (!rc && p->regions && !host)
		rc = hold_region(f);
	if (rc)
		goto fail;
	if (p->regions && host) {
		/* A server: its region lasts (fr_fab_close), and it removes
		 * what dead clients left that no server of theirs did. */
		f->lasting = 1;
		fr_region_sweep(REGION_DIR, REGION_MIN_AGE_S);
	}
	*out = f;
	return 0;
fail:
	if (why) {
		static __thread char reason[256];
		snprintf(reason, sizeof(reason), "%s", f->err);
		*why = reason;
	}
	fr_fab_close(&f);
	return rc;
}

void fr_fab_close(fr_fab **fp)
{
	fr_fab *f = *fp;

	if (!f)
		return;
	/* shm: closing a server's endpoint removes its region, and a server
	 * started again under its name would make a new one, while its
	 * clients (the proxy) go on writing into their mapping of the old
	 * one: libfabric maps a peer's region once. Left open, the region
	 * outlives the process and the next server takes it over in place,
	 * as after a crash ('ferry cluster down' removes it for good). */
	if (!f->lasting) {
		FR_CLOSE_FID(f->ep);
		FR_CLOSE_FID(f->av);
		FR_CLOSE_FID(f->cq);
		FR_CLOSE_FID(f->domain);
		FR_CLOSE_FID(f->fabric);
	}
	if (f->region >= 0)
		close(f->region); /* after the endpoint removed the file */
	if (f->info)
		lib.freeinfo(f->info);
	free(f);
	*fp = NULL;
}

const char *fr_fab_provider(const fr_fab *f)
{
	return f->info->fabric_attr->prov_name;
}

int fr_fab_getname(fr_fab *f, void *addr, size_t *len)
{
	int rc = fi_getname(&f->ep->fid, addr, len);

	return rc ? fail(f, "fi_getname", rc) : 0;
}

static int addr_ok(const fr_fab *f, const void *addr, size_t len)
{
	const struct sockaddr *sa = addr;
	const char *s = addr;

	switch (f->info->addr_format) {
	case FI_SOCKADDR_IN:
		return len == sizeof(struct sockaddr_in) &&
		       sa->sa_family == AF_INET;
	case FI_SOCKADDR_IN6:
		return len == sizeof(struct sockaddr_in6) &&
		       sa->sa_family == AF_INET6;
	case FI_SOCKADDR:
		return (len == sizeof(struct sockaddr_in) &&
			sa->sa_family == AF_INET) ||
		       (len == sizeof(struct sockaddr_in6) &&
			sa->sa_family == AF_INET6);
	case FI_ADDR_STR: /* "fi_shm://NAME", NUL-terminated, printable */
		if (len < 5 || len > 256 || s[len - 1] != '\0' ||
		    strncmp(s, "fi_", 3) != 0 || strlen(s) + 1 != len)
			return 0;
		for (size_t i = 0; i + 1 < len; i++)
			if (s[i] < 0x21 || s[i] > 0x7e)
				return 0;
		return 1;
	default: /* other formats (InfiniBand): the provider's length */
		return len == f->info->src_addrlen;
	}
}

int fr_fab_insert(fr_fab *f, const void *addr, size_t len, fi_addr_t *out)
{
	int rc;

	if (!addr_ok(f, addr, len)) {
		snprintf(f->err, sizeof(f->err),
			 "malformed address (%zu bytes) for format %u", len,
			 f->info->addr_format);
		return FERRY_EINVAL;
	}
	rc = fi_av_insert(f->av, addr, 1, out, 0, NULL);
	if (rc != 1)
		return fail(f, "fi_av_insert", rc < 0 ? rc : -FI_EINVAL);
	return 0;
}

int fr_fab_resolve(fr_fab *f, const char *host, const char *port,
		   fi_addr_t *out)
{
	struct fi_info *hints = lib.dupinfo(f->info), *info = NULL;
	int rc;

	if (!hints)
		return FERRY_ENOMEM;
	free(hints->src_addr);
	hints->src_addr = NULL;
	hints->src_addrlen = 0;
	rc = lib.getinfo(FR_FI_VERSION, host, port, 0, hints, &info);
	lib.freeinfo(hints);
	if (rc)
		return fail(f, "fi_getinfo(server address)", rc);
	if (!info->dest_addr)
		rc = fail(f, "fi_getinfo(server address)", -FI_EADDRNOTAVAIL);
	else
		rc = fr_fab_insert(f, info->dest_addr, info->dest_addrlen, out);
	lib.freeinfo(info);
	return rc;
}

int fr_fab_tells_gone(const fr_fab *f)
{
	return f->p->regions;
}

int fr_fab_peer_gone(fr_fab *f, const void *addr, size_t len)
{
	char name[320];

	return f->p->regions && !fr_region_name(addr, len, name, sizeof(name)) &&
	       fr_region_reap(REGION_DIR, name, 0);
}

void fr_fab_drop_server_region(const char *provider, const char *addr)
{
	char path[320];

	for (size_t i = 0; i < FR_ARRAY_LEN(provs); i++)
		if (provider && provs[i].regions &&
		    !strcmp(provider, provs[i].name) &&
		    snprintf(path, sizeof(path), "%s/%s", REGION_DIR, addr) <
			(int)sizeof(path))
			unlink(path);
}

void fr_fab_remove(fr_fab *f, fi_addr_t a)
{
	fi_av_remove(f->av, &a, 1, 0);
}

int fr_mr_reg(fr_fab *f, void *buf, size_t len, uint64_t access, fr_mr *mr)
{
	uint64_t mode = f->info->domain_attr->mr_mode;
	int rc;

	memset(mr, 0, sizeof(*mr));
	rc = fi_mr_reg(f->domain, buf, len ? len : 1, access, 0,
		       (mode & FI_MR_PROV_KEY) ? 0 : f->next_key++, 0, &mr->mr,
		       NULL);
	if (rc)
		return fail(f, "fi_mr_reg", rc);
	if (mode & FI_MR_ENDPOINT) {
		rc = fi_mr_bind(mr->mr, &f->ep->fid, 0);
		if (!rc)
			rc = fi_mr_enable(mr->mr);
		if (rc) {
			fr_mr_close(mr);
			return fail(f, "fi_mr_bind", rc);
		}
	}
	mr->desc = (mode & FI_MR_LOCAL) ? fi_mr_desc(mr->mr) : NULL;
	mr->key = fi_mr_key(mr->mr);
	mr->base = buf;
	mr->len = len;
	mr->virt = !!(mode & FI_MR_VIRT_ADDR);
	return 0;
}

void fr_mr_close(fr_mr *mr)
{
	FR_CLOSE_FID(mr->mr);
	memset(mr, 0, sizeof(*mr));
}

/* Retries a post while the provider asks for progress first. Reading zero
 * entries drives progress without consuming completions, which belong to
 * the caller's poll loop. */
#define POST(f, what, call)                                                    \
	do {                                                                   \
		uint64_t deadline_ = 0;                                        \
		ssize_t rc_;                                                   \
		while ((rc_ = (call)) == -FI_EAGAIN) {                         \
			uint64_t now_ = fr_now_ns();                           \
			if (!deadline_)                                        \
				deadline_ = now_ + RETRY_NS;                   \
			else if (now_ > deadline_) {                           \
				fail(f, what, (int)rc_);                       \
				return FERRY_ETIMEDOUT;                        \
			}                                                      \
			fi_cq_read((f)->cq, NULL, 0);                          \
		}                                                              \
		if (rc_)                                                       \
			return fail(f, what, (int)rc_);                        \
		(f)->active = 1;                                               \
		return 0;                                                      \
	} while (0)

int fr_fab_recv(fr_fab *f, void *buf, size_t len, void *desc, fr_ctx *ctx)
{
	POST(f, "fi_recv", fi_recv(f->ep, buf, len, desc, FI_ADDR_UNSPEC, ctx));
}

int fr_fab_send(fr_fab *f, const void *buf, size_t len, void *desc,
		fi_addr_t dest, fr_ctx *ctx)
{
	POST(f, "fi_send", fi_send(f->ep, buf, len, desc, dest, ctx));
}

int fr_fab_try_send(fr_fab *f, const void *buf, size_t len, void *desc,
		    fi_addr_t dest, fr_ctx *ctx)
{
	ssize_t rc = fi_send(f->ep, buf, len, desc, dest, ctx);

	if (rc == -FI_EAGAIN) {
		fi_cq_read(f->cq, NULL, 0);
		rc = fi_send(f->ep, buf, len, desc, dest, ctx);
	}
	if (rc == -FI_EAGAIN)
		return FERRY_EBUSY;
	if (rc)
		return fail(f, "fi_send", (int)rc);
	f->active = 1;
	return 0;
}

int fr_fab_read(fr_fab *f, void *buf, size_t len, void *desc, fi_addr_t peer,
		uint64_t raddr, uint64_t rkey, fr_ctx *ctx)
{
	POST(f, "fi_read",
	     fi_read(f->ep, buf, len, desc, peer, raddr, rkey, ctx));
}

int fr_fab_write(fr_fab *f, const void *buf, size_t len, void *desc,
		 fi_addr_t peer, uint64_t raddr, uint64_t rkey, fr_ctx *ctx)
{
	POST(f, "fi_write",
	     fi_write(f->ep, buf, len, desc, peer, raddr, rkey, ctx));
}

size_t fr_fab_rx_depth(const fr_fab *f)
{
	return f->info->rx_attr->size ? f->info->rx_attr->size : 256;
}

size_t fr_fab_max_rma(const fr_fab *f)
{
	/* Cap single transfers so one huge value cannot monopolise the
	 * endpoint; 64 MiB keeps per-request latency for others bounded. */
	return FR_MIN(f->info->ep_attr->max_msg_size, (size_t)64 << 20);
}

/* Maps a provider error to ferry's codes: a peer that went away is
 * FERRY_EUNREACH, anything else FERRY_EFABRIC. */
static int map_cq_err(int fi_err)
{
	switch (fi_err) {
	case FI_ECONNREFUSED:
	case FI_ECONNRESET:
	case FI_ECONNABORTED:
	case FI_EHOSTUNREACH:
	case FI_ENOTCONN:
	case FI_EIO:
	case FI_EADDRNOTAVAIL:
		return FERRY_EUNREACH;
	case FI_ETIMEDOUT:
		return FERRY_ETIMEDOUT;
	default:
		return FERRY_EFABRIC;
	}
}

int fr_fab_poll(fr_fab *f, fr_comp *out, int max)
{
	struct fi_cq_msg_entry ent[64];
	fi_addr_t src[64];
	ssize_t n;

	if (max > 64)
		max = 64;
	n = fi_cq_readfrom(f->cq, ent, (size_t)max, src);
	if (n == -FI_EAGAIN)
		return 0;
	if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry e = {0};
		char buf[128];
		if (fi_cq_readerr(f->cq, &e, 0) != 1)
			return 0;
		snprintf(f->err, sizeof(f->err), "completion error: %s (%s)",
			 lib.strerror(e.err),
			 fi_cq_strerror(f->cq, e.prov_errno, e.err_data, buf,
					sizeof(buf)));
		out[0] = (fr_comp){.ctx = e.op_context,
				   .flags = e.flags,
				   .src = FI_ADDR_NOTAVAIL,
				   .err = map_cq_err(e.err)};
		return 1;
	}
	if (n < 0)
		return fail(f, "fi_cq_read", (int)n);
	f->idle_us = IDLE_SLEEP_MIN_US;
	for (ssize_t i = 0; i < n; i++) {
		out[i] = (fr_comp){.ctx = ent[i].op_context,
				   .flags = ent[i].flags,
				   .len = ent[i].len,
				   .src = src[i]};
		/* A message in, or a transfer done: a peer answers. A send
		 * completes locally, to a dead peer too. */
		if (ent[i].flags & (FI_RECV | FI_RMA))
			f->active = 1;
	}
	return (int)n;
}

int fr_fab_fd(const fr_fab *f)
{
	return f->fd;
}

uint64_t fr_fab_spin_ns(const fr_fab *f, unsigned spin_us)
{
	return (uint64_t)(f->fd >= 0 ? spin_us : FR_MAX(spin_us, 1000u)) *
	       1000;
}

/* Posting and polling only set a flag: the clock is read here, when a
 * loop is about to choose between polling and sleeping, not once per
 * message on the data path. */
int fr_fab_answers_due(fr_fab *f)
{
	uint64_t now;

	if (f->fd >= 0)
		return 0;
	now = fr_now_ns();
	if (f->active) {
		f->active = 0;
		f->active_ns = now;
	}
	return now - f->active_ns < ANSWERS_DUE_NS;
}

int fr_fab_trywait(fr_fab *f)
{
	struct fid *fids[] = {&f->cq->fid};

	if (f->fd < 0)
		return 1;
	return fi_trywait(f->fabric, fids, 1) == FI_SUCCESS;
}

void fr_fab_wait(fr_fab *f, int timeout_ms)
{
	struct pollfd p = {.fd = f->fd, .events = POLLIN};
	unsigned us;

	if (f->fd >= 0) {
		if (fr_fab_trywait(f))
			poll(&p, 1, timeout_ms);
		return;
	}
	/* No descriptor to sleep on: sleep a little, longer each idle
	 * round, so an idle process costs ~1000 wake-ups a second at most
	 * and a busy one answers within microseconds. */
	us = timeout_ms >= 0 ? FR_MIN(f->idle_us, (unsigned)timeout_ms * 1000)
			     : f->idle_us;
	if (us)
		usleep(us);
	f->idle_us = FR_MIN(f->idle_us * 2, IDLE_SLEEP_MAX_US);
}

const char *fr_fab_error(const fr_fab *f)
{
	return f->err;
}
