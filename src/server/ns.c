#include "server/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/le.h"
#include "common/token.h"
#include "common/util.h"
#include "proto/wire.h"
#include "server/index.h"

#define TAG_BYTES crypto_shorthash_siphashx24_BYTES

struct fr_nstab {
	fr_index *by_name; /* name -> fr_ns, in name order for listing */
	fr_index *by_id;   /* the id's FR_NS_KEY prefix bytes -> fr_ns */
	fr_index *by_tag;  /* the token's tag -> fr_ns */
	/* Namespaces with an expiry, soonest first: expire_ms then id, both
	 * big-endian (exp_key) -> fr_ns. */
	fr_index *by_expiry;
	/* A random key, so that no one outside knows a token's tag. */
	uint8_t tag_key[crypto_shorthash_siphashx24_KEYBYTES];
	fr_ns deflt;	 /* id 0, in no index */
	size_t appended; /* lines fr_nstab_log added since the last save */
};

void fr_ns_prefix(uint64_t id, uint8_t *out)
{
	for (int i = FR_NS_KEY - 1; i >= 0; i--, id >>= 8)
		out[i] = (uint8_t)id;
}

int fr_nstab_new(fr_nstab **out)
{
	fr_nstab *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t || fr_index_new(&t->by_name) || fr_index_new(&t->by_id) ||
	    fr_index_new(&t->by_tag) || fr_index_new(&t->by_expiry)) {
		fr_nstab_free(&t);
		return FERRY_ENOMEM;
	}
	randombytes_buf(t->tag_key, sizeof(t->tag_key));
	strcpy(t->deflt.name, "default");
	*out = t;
	return 0;
}

/* Frees an entry, wiping its token first. */
static void free_ns(fr_ns *n)
{
	explicit_bzero(n->token, sizeof(n->token));
	free(n);
}

static int free_cb(void *arg, const void *key, size_t klen, void *val)
{
	free_ns(val);
	return 0;
}

void fr_nstab_free(fr_nstab **tp)
{
	fr_nstab *t = *tp;

	if (!t)
		return;
	if (t->by_name)
		fr_index_scan(t->by_name, NULL, 0, NULL, 0, free_cb, NULL);
	fr_index_free(&t->by_name);
	fr_index_free(&t->by_id);
	fr_index_free(&t->by_tag);
	fr_index_free(&t->by_expiry);
	explicit_bzero(t->tag_key, sizeof(t->tag_key));
	free(t);
	*tp = NULL;
}

fr_ns *fr_nstab_by_id(const fr_nstab *t, uint64_t id)
{
	uint8_t k[FR_NS_KEY];

	if (id == 0)
		return (fr_ns *)&t->deflt;
	fr_ns_prefix(id, k);
	return fr_index_get(t->by_id, k, sizeof(k));
}

fr_ns *fr_nstab_of_key(const fr_nstab *t, const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint64_t id = 0;

	if (klen < FR_NS_KEY)
		return NULL;
	for (int i = 0; i < FR_NS_KEY; i++)
		id = id << 8 | p[i];
	return fr_nstab_by_id(t, id);
}

fr_ns *fr_nstab_by_name(const fr_nstab *t, const void *name, size_t len)
{
	return len ? fr_index_get(t->by_name, name, len) : NULL;
}

/* A namespace's key in by_expiry: its expiry, then its id (two may
 * expire in the same millisecond). */
static void exp_key(uint64_t expire_ms, uint64_t id, uint8_t *out)
{
	fr_ns_prefix(expire_ms, out);
	fr_ns_prefix(id, out + 8);
}

/* A token's tag: its keyed hash (SipHash-2-4, 128 bits). */
static void tag_of(const fr_nstab *t, const void *tok, size_t len,
		   uint8_t *tag)
{
	crypto_shorthash_siphashx24(tag, tok, len, t->tag_key);
}

/* The tag finds the one candidate, then the tokens are compared in
 * constant time. The lookup's time depends on the tag alone, which no
 * one without the key can tell from the token: how long a guess takes
 * says nothing about any namespace's token. */
fr_ns *fr_nstab_by_token(const fr_nstab *t, const void *tok, size_t len)
{
	uint8_t tag[TAG_BYTES];
	fr_ns *n;

	if (!len)
		return NULL;
	tag_of(t, tok, len, tag);
	n = fr_index_get(t->by_tag, tag, sizeof(tag));
	return n && fr_token_equal(n->token, n->tlen, tok, len) ? n : NULL;
}

int fr_nstab_add(fr_nstab *t, const fr_ns *tmpl)
{
	size_t nlen = strnlen(tmpl->name, sizeof(tmpl->name));
	uint8_t k[FR_NS_KEY], tag[TAG_BYTES], ek[16];
	fr_ns *n;

	if (!tmpl->id || !fr_ns_name_ok(tmpl->name, nlen) ||
	    tmpl->tlen == 0 || tmpl->tlen > FR_NS_TOKEN_MAX)
		return FERRY_EINVAL;
	fr_ns_prefix(tmpl->id, k);
	tag_of(t, tmpl->token, tmpl->tlen, tag);
	/* A taken tag is a taken token (two tokens sharing a 128-bit tag
	 * would be refused too, but never meet). */
	if (fr_index_get(t->by_name, tmpl->name, nlen) ||
	    fr_index_get(t->by_id, k, sizeof(k)) ||
	    fr_index_get(t->by_tag, tag, sizeof(tag)))
		return FERRY_EEXIST;
	n = malloc(sizeof(*n));
	if (!n)
		return FERRY_ENOMEM;
	*n = *tmpl;
	n->used = n->keys = n->pending = 0;
	/* Into each index in turn; a failure takes it out of those before. */
	exp_key(n->expire_ms, n->id, ek);
	if (fr_index_put(t->by_name, n->name, nlen, n, NULL, NULL))
		goto no_name;
	if (fr_index_put(t->by_id, k, sizeof(k), n, NULL, NULL))
		goto no_id;
	if (fr_index_put(t->by_tag, tag, sizeof(tag), n, NULL, NULL))
		goto no_tag;
	if (n->expire_ms &&
	    fr_index_put(t->by_expiry, ek, sizeof(ek), n, NULL, NULL))
		goto no_expiry;
	return 0;
no_expiry:
	fr_index_del(t->by_tag, tag, sizeof(tag));
no_tag:
	fr_index_del(t->by_id, k, sizeof(k));
no_id:
	fr_index_del(t->by_name, n->name, nlen);
no_name:
	free_ns(n);
	return FERRY_ENOMEM;
}

void fr_nstab_remove(fr_nstab *t, fr_ns *n)
{
	uint8_t k[FR_NS_KEY], tag[TAG_BYTES], ek[16];

	fr_ns_prefix(n->id, k);
	tag_of(t, n->token, n->tlen, tag);
	exp_key(n->expire_ms, n->id, ek);
	fr_index_del(t->by_id, k, sizeof(k));
	fr_index_del(t->by_name, n->name, strlen(n->name));
	fr_index_del(t->by_tag, tag, sizeof(tag));
	if (n->expire_ms)
		fr_index_del(t->by_expiry, ek, sizeof(ek));
	free_ns(n);
}

int fr_nstab_set_expiry(fr_nstab *t, fr_ns *n, uint64_t expire_ms)
{
	uint8_t old[16], ek[16];

	exp_key(n->expire_ms, n->id, old);
	exp_key(expire_ms, n->id, ek);
	/* The new entry first: if it cannot be made, nothing changed. */
	if (expire_ms && fr_index_put(t->by_expiry, ek, sizeof(ek), n, NULL,
				      NULL))
		return FERRY_ENOMEM;
	if (n->expire_ms && n->expire_ms != expire_ms)
		fr_index_del(t->by_expiry, old, sizeof(old));
	n->expire_ms = expire_ms;
	return 0;
}

static int first_cb(void *arg, const void *key, size_t klen, void *val)
{
	*(fr_ns **)arg = val;
	return 1;
}

fr_ns *fr_nstab_expired(fr_nstab *t, uint64_t now_ms, uint64_t *next)
{
	fr_ns *n = NULL;

	fr_index_scan(t->by_expiry, NULL, 0, NULL, 0, first_cb, &n);
	if (n && n->expire_ms <= now_ms)
		return n;
	if (next)
		*next = n ? n->expire_ms : 0;
	return NULL;
}

static int list_cb(void *arg, const void *key, size_t klen, void *val)
{
	return fr_list_page_add(arg, key, klen);
}

size_t fr_nstab_list(const fr_nstab *t, const void *after, size_t alen,
		     uint32_t max, void *buf, size_t cap, uint32_t *count,
		     int *more)
{
	fr_list_page p = {.buf = buf, .cap = cap, .max = max};

	fr_index_scan(t->by_name, NULL, 0, after, alen, list_cb, &p);
	*count = p.count;
	*more = p.more;
	return p.used;
}

uint64_t fr_ns_over(const fr_ns *n, uint64_t size, uint64_t cur)
{
	uint64_t after = n->used + n->pending + size;

	after -= cur < after ? cur : after;
	return n->share && after > n->share ? after - n->share : 0;
}

uint64_t fr_ns_share_take(fr_ns *n, uint64_t max)
{
	uint64_t held = n->used + n->pending + 1, spare;

	spare = n->share > held ? n->share - held : 0;
	if (max < spare)
		spare = max;
	n->share -= spare;
	return spare;
}

uint64_t fr_ns_share_give(fr_ns *n, uint64_t bytes)
{
	if (!n->share || bytes > UINT64_MAX - n->share)
		return 0;
	n->share += bytes;
	return bytes;
}

/* ---- the state file ----------------------------------------------------- */

#define STATE_HEAD                                                             \
	"# ferry-server namespaces (--state-file); keep private: it holds "   \
	"tokens\n"                                                              \
	"# ns ID NAME TOKEN-HEX QUOTA SHARE EXPIRE-MS OPS-PER-S BYTES-PER-S\n"  \
	"# rm ID (appended: a removal; a later ns line replaces its id's)\n"

/* The state file line of n (newline included) into buf; its length. */
static size_t ns_line(const fr_ns *n, char *buf, size_t cap)
{
	char hex[2 * FR_NS_TOKEN_MAX + 1];
	int len;

	sodium_bin2hex(hex, sizeof(hex), n->token, n->tlen);
	len = snprintf(buf, cap,
		       "ns %016" PRIx64 " %s %s %" PRIu64 " %" PRIu64
		       " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
		       n->id, n->name, hex, n->quota, n->share, n->expire_ms,
		       n->ops, n->bytes);
	explicit_bzero(hex, sizeof(hex));
	return (size_t)len;
}

#define LINE_MAX_BYTES 1024 /* an ns line at its longest fits */

static int save_cb(void *arg, const void *key, size_t klen, void *val)
{
	char line[LINE_MAX_BYTES];

	fwrite(line, 1, ns_line(val, line, sizeof(line)), arg);
	explicit_bzero(line, sizeof(line));
	return 0;
}

int fr_nstab_save(fr_nstab *t, const char *path)
{
	char tmp[4096];
	FILE *f;
	int fd, err;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return FERRY_EIO;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return FERRY_EIO;
	if (!(f = fdopen(fd, "w"))) {
		err = errno;
		close(fd);
		unlink(tmp);
		errno = err;
		return FERRY_EIO;
	}
	fputs(STATE_HEAD, f);
	fr_index_scan(t->by_name, NULL, 0, NULL, 0, save_cb, f);
	err = fflush(f) || ferror(f) || fsync(fd) ? errno : 0;
	if (fclose(f) && !err)
		err = errno;
	if (!err && rename(tmp, path))
		err = errno;
	if (err) {
		unlink(tmp);
		errno = err;
		return FERRY_EIO;
	}
	t->appended = 0;
	return 0;
}

#define APPEND_MIN 64 /* lines appended before a save, at least */

/* Appends len bytes of line to path and syncs them: 0, or -1 after
 * cutting off whatever part of the line got in (a disk full), so that a
 * later append does not extend half a line. */
static int append(const char *path, const char *line, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC), rc = -1;
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0) {
		if (write(fd, line, len) == (ssize_t)len && !fsync(fd))
			rc = 0;
		else if (ftruncate(fd, st.st_size))
			rc = -1; /* the save that follows replaces the file */
	}
	close(fd);
	return rc;
}

int fr_nstab_log(fr_nstab *t, const char *path, uint64_t id)
{
	const fr_ns *n = fr_nstab_by_id(t, id);
	char line[LINE_MAX_BYTES];
	size_t len;
	int rc;

	/* Once the file holds as many appended lines as namespaces, it is
	 * written anew: each change costs O(1), amortized. A failed append
	 * (a file gone, a disk full) is answered the same way. */
	if (t->appended >= FR_MAX(APPEND_MIN, fr_index_count(t->by_id)))
		return fr_nstab_save(t, path);
	len = n ? ns_line(n, line, sizeof(line))
		: (size_t)snprintf(line, sizeof(line), "rm %016" PRIx64 "\n",
				   id);
	rc = append(path, line, len);
	explicit_bzero(line, sizeof(line));
	if (rc)
		return fr_nstab_save(t, path);
	t->appended++;
	return 0;
}

static int nibble(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				      : -1;
}

/* Lower-case hex s into out (cap bytes): 0, or -1 if it is not that. */
static int unhex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

/* One line of the state file into *n: 0, or -1 if malformed. */
static int parse_line(const char *line, fr_ns *n)
{
	char name[FERRY_NS_NAME_MAX + 2], hex[2 * FR_NS_TOKEN_MAX + 2];
	int end = 0;

	memset(n, 0, sizeof(*n));
	if (sscanf(line,
		   "ns %16" SCNx64 " %65s %513s %" SCNu64 " %" SCNu64
		   " %" SCNu64 " %" SCNu64 " %" SCNu64 " %n",
		   &n->id, name, hex, &n->quota, &n->share, &n->expire_ms,
		   &n->ops, &n->bytes, &end) != 8 ||
	    line[end] || strlen(name) > FERRY_NS_NAME_MAX ||
	    unhex(hex, n->token, sizeof(n->token), &n->tlen))
		return -1;
	memcpy(n->name, name, strlen(name) + 1);
	return 0;
}

/* An "rm ID" line's id into *id: 0, or -1 if it is not one. */
static int parse_rm(const char *line, uint64_t *id)
{
	int end = 0;

	return sscanf(line, "rm %16" SCNx64 " %n", id, &end) == 1 && !line[end]
		       ? 0
		       : -1;
}

int fr_nstab_load(fr_nstab *t, const char *path, uint64_t now_ms,
		  unsigned *loaded, unsigned *line, unsigned *cut)
{
	size_t before = fr_index_count(t->by_id);
	char buf[2048];
	FILE *f = fopen(path, "re");
	int rc = 0;

	*loaded = *line = *cut = 0;
	if (!f)
		return errno == ENOENT ? 0 : FERRY_EIO;
	while (!rc && fgets(buf, sizeof(buf), f)) {
		fr_ns n, *was;
		++*line;
		/* The last line without its newline is an append that a
		 * crash cut short: its change was never answered. */
		if (!strchr(buf, '\n') && fgetc(f) == EOF && !ferror(f)) {
			*cut = *line;
			break;
		}
		if (buf[0] == '#' || buf[0] == '\n')
			continue;
		/* Lines come in the order things happened: a line about an
		 * id replaces (ns) or removes (rm) what an earlier one said. */
		if (!strchr(buf, '\n') ||
		    (parse_rm(buf, &n.id) && parse_line(buf, &n))) {
			rc = FERRY_EPROTO;
			break;
		}
		if ((was = fr_nstab_by_id(t, n.id)) && was->id)
			fr_nstab_remove(t, was);
		if (buf[0] == 'n' && (!n.expire_ms || n.expire_ms > now_ms))
			rc = fr_nstab_add(t, &n);
		explicit_bzero(&n, sizeof(n)); /* the token */
	}
	explicit_bzero(buf, sizeof(buf));
	if (!rc && ferror(f))
		rc = FERRY_EIO;
	fclose(f);
	*loaded = (unsigned)(fr_index_count(t->by_id) - before);
	return rc;
}
