/*
 * Unit tests of a server's namespace table (src/server/ns.c) and of the
 * token helpers (src/common/token.c): lookups by id, name, token and
 * stored key; refused duplicates and bad names; removal; thousands of
 * fresh tokens, each finding its own namespace and, once removed, none
 * (what the keyed-hash index answers); the expiry scan
 * and its cache; listing in name order; quota shares with pending bytes;
 * fresh tokens that differ; token comparison that a prefix, a longer
 * string or an empty string never passes; and the state file
 * (--state-file): a round trip, expired entries left out, a private
 * mode, lines appended for each change that read back as the table is
 * and a file that stays within twice the table, later lines replacing
 * or removing earlier ones, an append a full disk cut short taken back
 * out, a last line a crash cut short left out, and malformed lines
 * refused with their number.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/token.h"
#include "ferry.h"
#include "proto/wire.h"
#include "server/ns.h"

static unsigned cut; /* fr_nstab_load's: the line cut short at the end */

static fr_ns make(uint64_t id, const char *name, const char *token)
{
	fr_ns n = {.id = id};

	snprintf(n.name, sizeof(n.name), "%s", name);
	n.tlen = strlen(token);
	memcpy(n.token, token, n.tlen);
	return n;
}

static void test_lookups(void **state)
{
	fr_nstab *t;
	fr_ns a = make(7, "job-a", "tok-a"), b = make(9, "job.b", "tok-b");
	uint8_t key[FR_NS_KEY + 3];

	assert_int_equal(fr_nstab_new(&t), 0);
	assert_non_null(fr_nstab_by_id(t, 0)); /* the default namespace */
	assert_null(fr_nstab_by_id(t, 7));
	assert_int_equal(fr_nstab_add(t, &a), 0);
	assert_int_equal(fr_nstab_add(t, &b), 0);
	assert_string_equal(fr_nstab_by_id(t, 7)->name, "job-a");
	assert_int_equal(fr_nstab_by_name(t, "job.b", 5)->id, 9);
	assert_int_equal(fr_nstab_by_token(t, "tok-b", 5)->id, 9);
	assert_null(fr_nstab_by_token(t, "tok-", 4));
	assert_null(fr_nstab_by_token(t, "tok-bb", 6));
	assert_null(fr_nstab_by_token(t, "", 0));
	fr_ns_prefix(9, key);
	memcpy(key + FR_NS_KEY, "abc", 3);
	assert_int_equal(fr_nstab_of_key(t, key, sizeof(key))->id, 9);
	fr_ns_prefix(0, key);
	assert_ptr_equal(fr_nstab_of_key(t, key, sizeof(key)),
			 fr_nstab_by_id(t, 0));
	assert_null(fr_nstab_of_key(t, key, 3));

	/* Taken names, ids and tokens, and bad templates. */
	fr_ns dup_name = make(11, "job-a", "t1"), dup_id = make(7, "x", "t2"),
	      dup_tok = make(12, "y", "tok-a"), bad = make(13, "a b", "t3"),
	      no_id = make(0, "z", "t4"), no_tok = make(14, "w", "");
	assert_int_equal(fr_nstab_add(t, &dup_name), FERRY_EEXIST);
	assert_int_equal(fr_nstab_add(t, &dup_id), FERRY_EEXIST);
	assert_int_equal(fr_nstab_add(t, &dup_tok), FERRY_EEXIST);
	assert_int_equal(fr_nstab_add(t, &bad), FERRY_EINVAL);
	assert_int_equal(fr_nstab_add(t, &no_id), FERRY_EINVAL);
	assert_int_equal(fr_nstab_add(t, &no_tok), FERRY_EINVAL);

	fr_nstab_remove(t, fr_nstab_by_id(t, 7));
	assert_null(fr_nstab_by_id(t, 7));
	assert_null(fr_nstab_by_name(t, "job-a", 5));
	assert_null(fr_nstab_by_token(t, "tok-a", 5));
	assert_non_null(fr_nstab_by_id(t, 9));
	fr_nstab_free(&t);
	assert_null(t);
}

/* Every token finds its own namespace through the index, and only that
 * token: the same bytes one shorter or with the last one changed find
 * nothing. A removed namespace's token finds nothing, the others still
 * find theirs, and the removed token may be added again (the index holds
 * no stale entry). */
static void test_many_tokens(void **state)
{
	enum { N = 3000 };
	static char tok[N][FERRY_TOKEN_LEN + 1];
	fr_nstab *t;

	assert_int_equal(fr_nstab_new(&t), 0);
	for (int i = 0; i < N; i++) {
		char name[16];
		fr_ns n;
		assert_int_equal(fr_token_new(tok[i]), 0);
		snprintf(name, sizeof(name), "j%d", i);
		n = make((uint64_t)i + 1, name, tok[i]);
		assert_int_equal(fr_nstab_add(t, &n), 0);
	}
	for (int i = 0; i < N; i++) {
		char other[FERRY_TOKEN_LEN + 1];
		assert_int_equal(fr_nstab_by_token(t, tok[i], FERRY_TOKEN_LEN)->id,
				 (uint64_t)i + 1);
		assert_null(fr_nstab_by_token(t, tok[i], FERRY_TOKEN_LEN - 1));
		memcpy(other, tok[i], sizeof(other));
		other[FERRY_TOKEN_LEN - 1] ^= 1;
		assert_null(fr_nstab_by_token(t, other, FERRY_TOKEN_LEN));
	}
	for (int i = 0; i < N; i += 2)
		fr_nstab_remove(t, fr_nstab_by_id(t, (uint64_t)i + 1));
	for (int i = 0; i < N; i++) {
		fr_ns *n = fr_nstab_by_token(t, tok[i], FERRY_TOKEN_LEN);
		if (i % 2)
			assert_int_equal(n->id, (uint64_t)i + 1);
		else
			assert_null(n);
	}
	{
		fr_ns again = make(N + 1, "again", tok[0]),
		      taken = make(N + 2, "taken", tok[1]);
		assert_int_equal(fr_nstab_add(t, &again), 0);
		assert_int_equal(fr_nstab_add(t, &taken), FERRY_EEXIST);
		assert_int_equal(fr_nstab_by_token(t, tok[0], FERRY_TOKEN_LEN)->id,
				 N + 1);
	}
	fr_nstab_free(&t);
}

static void test_expiry(void **state)
{
	fr_nstab *t;
	fr_ns a = make(1, "a", "ta"), b = make(2, "b", "tb"),
	      c = make(3, "c", "tc");
	uint64_t next = 1;

	a.expire_ms = 1000;
	b.expire_ms = 500;
	assert_int_equal(fr_nstab_new(&t), 0);
	assert_null(fr_nstab_expired(t, 100, &next));
	assert_int_equal(next, 0);
	assert_int_equal(fr_nstab_add(t, &a), 0);
	assert_int_equal(fr_nstab_add(t, &b), 0);
	assert_int_equal(fr_nstab_add(t, &c), 0);
	assert_null(fr_nstab_expired(t, 100, &next));
	assert_int_equal(next, 500);
	assert_null(fr_nstab_expired(t, 499, &next));
	assert_int_equal(next, 500);
	assert_int_equal(fr_nstab_expired(t, 500, &next)->id, 2);
	fr_nstab_remove(t, fr_nstab_by_id(t, 2));
	assert_null(fr_nstab_expired(t, 600, &next));
	assert_int_equal(next, 1000);
	/* Expiries set later: given, moved earlier and later, taken away;
	 * two in the same millisecond are both found. */
	assert_int_equal(fr_nstab_set_expiry(t, fr_nstab_by_id(t, 3), 700), 0);
	assert_null(fr_nstab_expired(t, 600, &next));
	assert_int_equal(next, 700);
	assert_int_equal(fr_nstab_set_expiry(t, fr_nstab_by_id(t, 1), 650), 0);
	assert_null(fr_nstab_expired(t, 600, &next));
	assert_int_equal(next, 650);
	assert_int_equal(fr_nstab_set_expiry(t, fr_nstab_by_id(t, 1), 900), 0);
	assert_int_equal(fr_nstab_set_expiry(t, fr_nstab_by_id(t, 3), 900), 0);
	assert_null(fr_nstab_expired(t, 800, &next));
	assert_int_equal(next, 900);
	assert_int_equal(fr_nstab_set_expiry(t, fr_nstab_by_id(t, 1), 0), 0);
	assert_int_equal(fr_nstab_by_id(t, 1)->expire_ms, 0);
	assert_int_equal(fr_nstab_expired(t, 950, &next)->id, 3);
	fr_nstab_remove(t, fr_nstab_by_id(t, 3));
	assert_null(fr_nstab_expired(t, 5000, &next));
	assert_int_equal(next, 0);
	/* Re-adding with an expiry, then one in the same ms. */
	b.id = 4;
	b.expire_ms = 2000;
	c.id = 5;
	c.expire_ms = 2000;
	assert_int_equal(fr_nstab_add(t, &b), 0);
	assert_int_equal(fr_nstab_add(t, &c), 0);
	assert_int_equal(fr_nstab_expired(t, 2000, &next)->id, 4);
	fr_nstab_remove(t, fr_nstab_by_id(t, 4));
	assert_int_equal(fr_nstab_expired(t, 2000, &next)->id, 5);
	fr_nstab_remove(t, fr_nstab_by_id(t, 5));
	assert_null(fr_nstab_expired(t, 2000, &next));
	fr_nstab_free(&t);
}

static void test_list_and_quota(void **state)
{
	fr_nstab *t;
	const char *names[] = {"m", "b", "z", "a"};
	uint8_t buf[256];
	uint32_t count;
	int more;
	size_t off = 0, klen, n;
	const uint8_t *k;

	assert_int_equal(fr_nstab_new(&t), 0);
	for (int i = 0; i < 4; i++) {
		char tok[8];
		snprintf(tok, sizeof(tok), "t%d", i);
		fr_ns x = make((uint64_t)i + 1, names[i], tok);
		assert_int_equal(fr_nstab_add(t, &x), 0);
	}
	n = fr_nstab_list(t, "a", 1, 2, buf, sizeof(buf), &count, &more);
	assert_int_equal(count, 2);
	assert_true(more);
	assert_int_equal(fr_list_next(buf, n, &off, &k, &klen), 1);
	assert_memory_equal(k, "b", klen);
	assert_int_equal(fr_list_next(buf, n, &off, &k, &klen), 1);
	assert_memory_equal(k, "m", klen);

	fr_ns *q = fr_nstab_by_name(t, "z", 1);
	assert_int_equal(fr_ns_over(q, 1u << 30, 0), 0); /* no quota */
	/* ... so it has no share to move either. */
	assert_int_equal(fr_ns_share_take(q, 100), 0);
	assert_int_equal(fr_ns_share_give(q, 100), 0);
	assert_int_equal(q->share, 0);
	q->share = 1000;
	q->used = 600;
	assert_int_equal(fr_ns_over(q, 400, 0), 0);
	assert_int_equal(fr_ns_over(q, 401, 0), 1);
	assert_int_equal(fr_ns_over(q, 500, 100), 0); /* replaces 100 */
	assert_int_equal(fr_ns_over(q, 10, 700), 0);	/* shrinks one */
	q->pending = 300;
	assert_int_equal(fr_ns_over(q, 200, 0), 100);
	assert_int_equal(fr_ns_over(q, 100, 0), 0);
	/* 100 bytes unused: 99 may go (one stays, 0 meaning no quota). */
	assert_int_equal(fr_ns_share_take(q, 50), 50);
	assert_int_equal(fr_ns_share_take(q, 1000), 49);
	assert_int_equal(fr_ns_share_take(q, 1000), 0);
	assert_int_equal(q->share, 901);
	assert_int_equal(fr_ns_over(q, 2, 0), 1);
	assert_int_equal(fr_ns_share_give(q, 99), 99);
	assert_int_equal(q->share, 1000);
	assert_int_equal(fr_ns_share_give(q, UINT64_MAX), 0); /* overflow */
	q->used = 2000; /* over its share (it was lowered): gives nothing */
	assert_int_equal(fr_ns_share_take(q, 10), 0);
	fr_nstab_free(&t);
}

static void test_tokens(void **state)
{
	char a[FERRY_TOKEN_LEN + 1], b[FERRY_TOKEN_LEN + 1];
	uint64_t id;

	assert_int_equal(fr_token_new(a), 0);
	assert_int_equal(fr_token_new(b), 0);
	assert_int_equal(strlen(a), FERRY_TOKEN_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), FERRY_TOKEN_LEN);
	assert_string_not_equal(a, b);
	assert_true(fr_token_equal(a, strlen(a), a, strlen(a)));
	assert_false(fr_token_equal(a, strlen(a), b, strlen(b)));
	assert_false(fr_token_equal(a, strlen(a), a, strlen(a) - 1));
	assert_false(fr_token_equal("ab", 2, "abc", 3));
	assert_false(fr_token_equal("", 0, "", 0));
	assert_int_equal(fr_random_id(&id), 0);
	assert_true(id != 0);
	assert_true(fr_ns_name_ok("job_1.a-b", 9));
	assert_false(fr_ns_name_ok("", 0));
	assert_false(fr_ns_name_ok("a/b", 3));
	assert_false(fr_ns_name_ok(
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "4",
	    65));
}

/* A file with text, in a fresh temporary folder's file "ns". */
static void write_file(char *path, size_t cap, const char *text)
{
	char dir[] = "/tmp/ferry-nstab.XXXXXX";
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, cap, "%s/ns", dir);
	if (text) {
		assert_non_null(f = fopen(path, "w"));
		fputs(text, f);
		fclose(f);
	}
}

static void remove_file(const char *path)
{
	char dir[300];

	unlink(path);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path),
		 path);
	rmdir(dir);
}

/* What a table loads from text: the return code, and *loaded, *line. */
static int load_text(const char *text, uint64_t now, unsigned *loaded,
		     unsigned *line)
{
	char path[300];
	fr_nstab *t;
	int rc;

	write_file(path, sizeof(path), text);
	assert_int_equal(fr_nstab_new(&t), 0);
	rc = fr_nstab_load(t, path, now, loaded, line, &cut);
	fr_nstab_free(&t);
	remove_file(path);
	return rc;
}

static void test_state_file(void **state)
{
	fr_nstab *t, *u;
	fr_ns a = make(0x1234abcd5678ef01ull, "job-a", "tok-a"),
	      b = make(9, "job.b", "\x01\xff binary token"),
	      gone = make(10, "old", "tok-old");
	char path[300];
	unsigned loaded, line;
	struct stat st;
	fr_ns *x;

	a.quota = 1 << 20;
	a.share = 1 << 19;
	a.expire_ms = 5000;
	a.ops = 100;
	a.bytes = 1 << 16;
	gone.expire_ms = 1000;
	assert_int_equal(fr_nstab_new(&t), 0);
	assert_int_equal(fr_nstab_add(t, &a), 0);
	assert_int_equal(fr_nstab_add(t, &b), 0);
	assert_int_equal(fr_nstab_add(t, &gone), 0);
	fr_nstab_by_id(t, 9)->used = 77; /* usage is not kept */
	write_file(path, sizeof(path), NULL);
	assert_int_equal(fr_nstab_save(t, path), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Read back at 2000 ms: "old" expired meanwhile. */
	assert_int_equal(fr_nstab_new(&u), 0);
	assert_int_equal(fr_nstab_load(u, path, 2000, &loaded, &line, &cut), 0);
	assert_int_equal(loaded, 2);
	assert_non_null(x = fr_nstab_by_token(u, "tok-a", 5));
	assert_int_equal(x->id, a.id);
	assert_string_equal(x->name, "job-a");
	assert_int_equal(x->quota, a.quota);
	assert_int_equal(x->share, a.share);
	assert_int_equal(x->expire_ms, a.expire_ms);
	assert_int_equal(x->ops, a.ops);
	assert_int_equal(x->bytes, a.bytes);
	assert_non_null(x = fr_nstab_by_token(u, b.token, b.tlen));
	assert_string_equal(x->name, "job.b");
	assert_int_equal(x->used, 0);
	assert_null(fr_nstab_by_name(u, "old", 3));
	/* Loading again replaces each namespace by the same: none gained. */
	assert_int_equal(fr_nstab_load(u, path, 2000, &loaded, &line, &cut), 0);
	assert_int_equal(loaded, 0);
	assert_int_equal(fr_nstab_by_token(u, "tok-a", 5)->id, a.id);
	fr_nstab_free(&u);

	/* Saved again after a removal, the file no longer has it. */
	fr_nstab_remove(t, fr_nstab_by_id(t, 9));
	assert_int_equal(fr_nstab_save(t, path), 0);
	assert_int_equal(fr_nstab_new(&u), 0);
	assert_int_equal(fr_nstab_load(u, path, 0, &loaded, &line, &cut), 0);
	assert_int_equal(loaded, 2);
	assert_null(fr_nstab_by_id(u, 9));
	fr_nstab_free(&u);
	/* A folder that does not exist: an error, not a crash. */
	assert_int_equal(fr_nstab_save(t, "/nonexistent/ferry/ns"), FERRY_EIO);
	fr_nstab_free(&t);
	remove_file(path);
}

/* What a server does with its state file: saved whole at start, then a
 * line appended for each change (fr_nstab_log), and saved whole again
 * once the appended lines outnumber the namespaces. Read back, the file
 * always gives the table as it is. */
static void test_state_file_log(void **state)
{
	enum { N = 100, ROUNDS = 300 };
	fr_nstab *t, *u;
	char path[300];
	unsigned loaded, line, longest = 0, prev = 0, appends = 0;

	write_file(path, sizeof(path), NULL);
	assert_int_equal(fr_nstab_new(&t), 0);
	/* Nothing saved yet: the first change saves the whole table. */
	for (uint64_t id = 1; id <= N; id++) {
		char name[16], tok[16];
		fr_ns n;
		snprintf(name, sizeof(name), "n%llu", (unsigned long long)id);
		snprintf(tok, sizeof(tok), "t%llu", (unsigned long long)id);
		n = make(id, name, tok);
		assert_int_equal(fr_nstab_add(t, &n), 0);
		assert_int_equal(fr_nstab_log(t, path, id), 0);
	}
	/* Changes, removals and new namespaces, in turn. */
	for (unsigned r = 0; r < ROUNDS; r++) {
		uint64_t id = 1 + r % N;
		fr_ns *n = fr_nstab_by_id(t, id);
		char text[4096];
		FILE *f;
		unsigned lines = 0;
		if (r % 3 == 0 && n) {
			fr_nstab_remove(t, n);
		} else if (n) {
			assert_int_equal(fr_nstab_set_expiry(t, n, 1000 + r), 0);
			n->quota = r;
		} else {
			char name[16], tok[16];
			fr_ns m;
			snprintf(name, sizeof(name), "r%u", r);
			snprintf(tok, sizeof(tok), "u%u", r);
			m = make(id, name, tok);
			assert_int_equal(fr_nstab_add(t, &m), 0);
		}
		assert_int_equal(fr_nstab_log(t, path, id), 0);
		assert_non_null(f = fopen(path, "r"));
		while (fgets(text, sizeof(text), f))
			lines++;
		fclose(f);
		if (lines > longest)
			longest = lines;
		appends += lines == prev + 1;
		prev = lines;
	}
	/* Most changes were one line appended, not the table rewritten. */
	assert_true(appends > ROUNDS * 3 / 4);
	/* Never more than the namespaces twice over, the head and the
	 * minimum of appended lines. */
	assert_true(longest <= 2 * N + 3 + 64);
	assert_int_equal(fr_nstab_new(&u), 0);
	assert_int_equal(fr_nstab_load(u, path, 0, &loaded, &line, &cut), 0);
	for (uint64_t id = 1; id <= N; id++) {
		fr_ns *x = fr_nstab_by_id(t, id), *y = fr_nstab_by_id(u, id);
		if (!x) {
			assert_null(y);
			continue;
		}
		assert_non_null(y);
		assert_string_equal(x->name, y->name);
		assert_int_equal(x->quota, y->quota);
		assert_int_equal(x->expire_ms, y->expire_ms);
		assert_ptr_equal(fr_nstab_by_token(u, x->token, x->tlen), y);
		loaded--;
	}
	assert_int_equal(loaded, 0);
	fr_nstab_free(&u);
	fr_nstab_free(&t);
	remove_file(path);
}

/* A disk that fills in the middle of an append (RLIMIT_FSIZE stands in
 * for it): the part of the line that got in is cut off again, the save
 * that follows fails too, the change is reported (FERRY_EIO), and the
 * file reads back as it was; with room again, changes are saved. */
static void test_state_file_full(void **state)
{
	fr_nstab *t, *u;
	fr_ns a = make(1, "a", "ta"), b = make(2, "b", "tb");
	struct rlimit was, lim;
	struct stat before, after;
	unsigned loaded, line;
	char path[300];

	write_file(path, sizeof(path), NULL);
	assert_int_equal(fr_nstab_new(&t), 0);
	assert_int_equal(fr_nstab_add(t, &a), 0);
	assert_int_equal(fr_nstab_save(t, path), 0);
	assert_int_equal(fr_nstab_add(t, &b), 0);
	assert_int_equal(stat(path, &before), 0);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
	lim = was;
	lim.rlim_cur = (rlim_t)before.st_size + 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(fr_nstab_log(t, path, 2), FERRY_EIO);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(fr_nstab_new(&u), 0);
	assert_int_equal(fr_nstab_load(u, path, 0, &loaded, &line, &cut), 0);
	assert_int_equal(loaded, 1);
	assert_int_equal(cut, 0);
	fr_nstab_free(&u);

	assert_int_equal(fr_nstab_log(t, path, 2), 0);
	assert_int_equal(fr_nstab_new(&u), 0);
	assert_int_equal(fr_nstab_load(u, path, 0, &loaded, &line, &cut), 0);
	assert_int_equal(loaded, 2);
	fr_nstab_free(&u);
	fr_nstab_free(&t);
	remove_file(path);
}

static void test_state_file_bad(void **state)
{
	unsigned loaded = 9, line = 9;
	char path[300];
	fr_nstab *t;

	/* No file yet: nothing to take back. */
	write_file(path, sizeof(path), NULL);
	assert_int_equal(fr_nstab_new(&t), 0);
	assert_int_equal(fr_nstab_load(t, path, 0, &loaded, &line, &cut), 0);
	assert_int_equal(loaded, 0);
	fr_nstab_free(&t);
	remove_file(path);

	assert_int_equal(load_text("# c\n\nns 0000000000000007 a 74 0 0 0 0 0\n",
				   0, &loaded, &line),
			 0);
	assert_int_equal(loaded, 1);
	/* Malformed lines, each reported with its number. */
	static const char *bad[] = {
	    "ns 7 a 74 0 0 0 0\n",		/* a field missing */
	    "ns 7 a 74 0 0 0 0 0 extra\n",	/* one too many */
	    "ns 7 a 7 0 0 0 0 0\n",		/* odd hex */
	    "ns 7 a 7g 0 0 0 0 0\n",		/* not hex */
	    "ns 7 a 7A 0 0 0 0 0\n",		/* upper case */
	    "ns x a 74 0 0 0 0 0\n",		/* id not hex */
	    "nx 7 a 74 0 0 0 0 0\n",		/* not a namespace line */
	    "rm\n",				/* a removal without an id */
	    "rm 7 8\n",			/* with two */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "# head\n%s", bad[i]);
		assert_int_equal(load_text(text, 0, &loaded, &line),
				 FERRY_EPROTO);
		assert_int_equal(line, 2);
	}
	/* A last line without its newline is an append a crash cut short:
	 * left out, and said; a line too long for one, not at the end, is
	 * malformed. */
	assert_int_equal(load_text("# h\nns 7 a 74 0 0 0 0 0\nns 8 b 75 0 0 0",
				   0, &loaded, &line),
			 0);
	assert_int_equal(loaded, 1);
	assert_int_equal(cut, 3);
	assert_int_equal(load_text("ns 7 a 74 0 0 0 0 0\nrm 7", 0, &loaded,
				   &line),
			 0);
	assert_int_equal(loaded, 1);
	assert_int_equal(cut, 2);
	{
		char text[3100];
		memset(text, 'x', 3000);
		strcpy(text + 3000, "\nns 7 a 74 0 0 0 0 0\n");
		assert_int_equal(load_text(text, 0, &loaded, &line),
				 FERRY_EPROTO);
		assert_int_equal(line, 1);
	}
	/* Later lines about an id replace earlier ones, or remove them; a
	 * removal of an id not there removes nothing. */
	assert_int_equal(load_text("ns 7 a 74 0 0 0 0 0\nns 8 b 75 0 0 0 0 0\n"
				   "rm 7\nns 8 c 76 5 0 0 0 0\nrm 9\n",
				   0, &loaded, &line),
			 0);
	assert_int_equal(loaded, 1);
	/* A line replacing another takes a name the other held; two ids
	 * with one name still clash. */
	assert_int_equal(load_text("ns 7 a 74 0 0 0 0 0\nns 8 a 75 0 0 0 0 0\n",
				   0, &loaded, &line),
			 FERRY_EEXIST);
	assert_int_equal(line, 2);
	/* Well formed, but not a namespace the table takes. */
	assert_int_equal(load_text("ns 0000000000000000 a 74 0 0 0 0 0\n", 0,
				   &loaded, &line),
			 FERRY_EINVAL);
	assert_int_equal(load_text("ns 7 a/b 74 0 0 0 0 0\n", 0, &loaded,
				   &line),
			 FERRY_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_many_tokens),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_list_and_quota),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_state_file),
	    cmocka_unit_test(test_state_file_log),
	    cmocka_unit_test(test_state_file_full),
	    cmocka_unit_test(test_state_file_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
