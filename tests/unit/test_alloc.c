/*
 * Unit tests of the arena allocator (src/server/alloc.c). Each test names
 * one promise of alloc.h and fails when it breaks: alignment, blocks that
 * never overlap, NULL (not a crash) when full, coalescing back to one block,
 * exact used accounting, and argument checks.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/util.h"
#include "ferry.h"
#include "common/alloc.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* The most a block may cost beyond its request: a 16-byte header, up to 15
 * bytes of rounding and a 16-byte tail too small to split off. */
#define MAX_WASTE 47

struct arena {
	void *mem;
	fr_alloc *a;
};

static struct arena arena_new(size_t size)
{
	struct arena ar;

	ar.mem = aligned_alloc(16, size);
	assert_non_null(ar.mem);
	assert_int_equal(fr_alloc_init(&ar.a, ar.mem, size), 0);
	return ar;
}

static void arena_free(struct arena *ar)
{
	fr_alloc_fini(&ar->a);
	assert_null(ar->a);
	free(ar->mem);
}

/* xorshift64*: a fixed seed makes every failure reproducible. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Fills a block with one byte; check_fill() then proves nobody else wrote
 * into it (all bytes equal iff each equals its successor). */
static void fill(void *p, size_t n, unsigned char tag)
{
	memset(p, tag, n);
}

static int check_fill(const void *p, size_t n, unsigned char tag)
{
	const unsigned char *c = p;

	if (n == 0)
		return 1;
	return c[0] == tag && memcmp(c, c + 1, n - 1) == 0;
}

static int in_arena(const struct arena *ar, const void *p, size_t n)
{
	const char *lo = ar->mem;
	const char *c = p;

	return c >= lo && c + n <= lo + fr_alloc_capacity(ar->a);
}

static void test_init_rejects_bad_regions(void **state)
{
	fr_alloc *a = NULL;
	char *mem = aligned_alloc(16, 4 * KiB);

	assert_non_null(mem);
	assert_int_equal(fr_alloc_init(&a, NULL, 4 * KiB), FERRY_EINVAL);
	assert_int_equal(fr_alloc_init(&a, mem, 0), FERRY_EINVAL);
	assert_int_equal(fr_alloc_init(&a, mem, 16), FERRY_EINVAL);
	assert_int_equal(fr_alloc_init(&a, mem, 47), FERRY_EINVAL);
	assert_int_equal(fr_alloc_init(&a, mem + 8, 4 * KiB - 16),
			 FERRY_EINVAL);
	assert_int_equal(fr_alloc_init(&a, mem + 1, 4 * KiB - 16),
			 FERRY_EINVAL);
	assert_int_equal(fr_alloc_init(NULL, mem, 4 * KiB), FERRY_EINVAL);
	assert_null(a);

	/* The smallest accepted region still serves one minimal block. */
	assert_int_equal(fr_alloc_init(&a, mem, 48), 0);
	assert_int_equal(fr_alloc_capacity(a), 48);
	assert_non_null(fr_alloc_get(a, 0));
	assert_null(fr_alloc_get(a, 0));
	fr_alloc_fini(&a);
	assert_null(a);
	fr_alloc_fini(&a);
	fr_alloc_fini(NULL);
	free(mem);
}

static void test_put_null_is_noop(void **state)
{
	struct arena ar = arena_new(64 * KiB);
	size_t largest = fr_alloc_largest_free(ar.a), used;
	void *p = fr_alloc_get(ar.a, 100);

	assert_non_null(p);
	used = fr_alloc_used(ar.a);
	assert_true(used > 100);
	fr_alloc_put(ar.a, NULL);
	assert_int_equal(fr_alloc_used(ar.a), used);
	assert_int_equal(fr_alloc_largest_free(ar.a) + used, largest);
	fr_alloc_put(ar.a, p);
	fr_alloc_put(ar.a, NULL);
	assert_int_equal(fr_alloc_used(ar.a), 0);
	assert_int_equal(fr_alloc_largest_free(ar.a), largest);
	arena_free(&ar);
}

static void test_alignment(void **state)
{
	struct arena ar = arena_new(16 * MiB);
	void *p[600];

	for (size_t i = 0; i < 600; i++) {
		size_t size = i < 300 ? i : (i - 300) * 97 + 1;

		p[i] = fr_alloc_get(ar.a, size);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		assert_true(fr_alloc_usable(ar.a, p[i]) >= size);
		assert_true(in_arena(&ar, p[i], size));
	}
	for (size_t i = 0; i < 600; i++)
		fr_alloc_put(ar.a, p[i]);
	assert_int_equal(fr_alloc_used(ar.a), 0);
	arena_free(&ar);
}

static void test_edge_sizes(void **state)
{
	static const size_t sizes[] = {0,  1,  15,  16,	 17, 31,
				       32, 33, 511, 512, 513};
	struct arena ar = arena_new(256 * KiB);
	size_t cap = fr_alloc_capacity(ar.a);
	void *p[FR_ARRAY_LEN(sizes)];
	size_t largest, used = 0;

	assert_int_equal(cap, 256 * KiB);
	largest = fr_alloc_largest_free(ar.a);
	assert_true(largest < cap && largest > cap - 64);

	for (size_t i = 0; i < FR_ARRAY_LEN(sizes); i++) {
		p[i] = fr_alloc_get(ar.a, sizes[i]);
		assert_non_null(p[i]);
		assert_true(fr_alloc_usable(ar.a, p[i]) >= sizes[i]);
		/* The block a 0-byte request gets is real and writable. */
		assert_true(fr_alloc_usable(ar.a, p[i]) >= 16);
		fill(p[i], fr_alloc_usable(ar.a, p[i]), (unsigned char)(i + 1));
		used += fr_alloc_usable(ar.a, p[i]);
		assert_true(fr_alloc_used(ar.a) >= used);
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(sizes); i++)
		assert_true(check_fill(p[i], fr_alloc_usable(ar.a, p[i]),
				       (unsigned char)(i + 1)));
	assert_null(fr_alloc_get(ar.a, cap + 1));
	assert_null(fr_alloc_get(ar.a, cap));
	assert_null(fr_alloc_get(ar.a, SIZE_MAX));
	assert_null(fr_alloc_get(ar.a, SIZE_MAX - 15));
	assert_null(fr_alloc_get(ar.a, SIZE_MAX / 2));
	for (size_t i = 0; i < FR_ARRAY_LEN(sizes); i++)
		fr_alloc_put(ar.a, p[i]);
	assert_int_equal(fr_alloc_used(ar.a), 0);

	/* The whole free arena comes back in one piece, and not a byte more. */
	assert_int_equal(fr_alloc_largest_free(ar.a), largest);
	assert_null(fr_alloc_get(ar.a, largest + 1));
	p[0] = fr_alloc_get(ar.a, largest);
	assert_non_null(p[0]);
	fill(p[0], largest, 0x5a);
	assert_int_equal(fr_alloc_largest_free(ar.a), 0);
	assert_null(fr_alloc_get(ar.a, 0));
	fr_alloc_put(ar.a, p[0]);
	assert_int_equal(fr_alloc_largest_free(ar.a), largest);
	arena_free(&ar);
}

/* Random sizes: mostly small, some up to 1 MiB, as a store sees them. */
static size_t random_size(uint64_t *seed)
{
	uint64_t r = rnd(seed);

	switch (r % 8) {
	case 0:
		return (size_t)(r >> 8) % (MiB + 1);
	case 1:
	case 2:
		return (size_t)(r >> 8) % (64 * KiB);
	default:
		return (size_t)(r >> 8) % 1024;
	}
}

#define SLOTS 512

static void test_random_no_overlap(void **state)
{
	struct arena ar = arena_new(32 * MiB);
	static void *p[SLOTS];
	static size_t n[SLOTS];
	static unsigned char tag[SLOTS];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t largest = fr_alloc_largest_free(ar.a);
	unsigned failed = 0;

	memset(p, 0, sizeof(p));
	for (unsigned it = 0; it < 20000; it++) {
		unsigned s = (unsigned)(rnd(&seed) % SLOTS);
		size_t sum = 0, cap = fr_alloc_capacity(ar.a);

		if (p[s]) {
			assert_true(check_fill(p[s], n[s], tag[s]));
			fr_alloc_put(ar.a, p[s]);
			p[s] = NULL;
		} else {
			size_t before = fr_alloc_used(ar.a);

			n[s] = random_size(&seed);
			p[s] = fr_alloc_get(ar.a, n[s]);
			if (!p[s]) {
				/* Full is legal; lying about it is not. */
				assert_true(fr_alloc_largest_free(ar.a) < n[s]);
				failed++;
				continue;
			}
			assert_int_equal((uintptr_t)p[s] % 16, 0);
			assert_true(in_arena(&ar, p[s], n[s]));
			assert_true(fr_alloc_usable(ar.a, p[s]) >= n[s]);
			/* A bigger free block is split, never handed out
			 * whole: waste stays within header + rounding. */
			assert_true(fr_alloc_used(ar.a) - before <=
				    n[s] + MAX_WASTE);
			tag[s] = (unsigned char)(rnd(&seed) % 255 + 1);
			fill(p[s], n[s], tag[s]);
		}
		if (it % 1000)
			continue;
		/* Every 1000 rounds, check every live block and the books. */
		for (unsigned i = 0; i < SLOTS; i++) {
			if (!p[i])
				continue;
			assert_true(check_fill(p[i], n[i], tag[i]));
			sum += fr_alloc_usable(ar.a, p[i]);
		}
		assert_true(fr_alloc_used(ar.a) >= sum);
		assert_true(fr_alloc_used(ar.a) <= cap);
		assert_true(fr_alloc_largest_free(ar.a) <=
			    cap - fr_alloc_used(ar.a));
		/* largest_free is a promise, not an estimate. */
		if (fr_alloc_largest_free(ar.a)) {
			void *q =
			    fr_alloc_get(ar.a, fr_alloc_largest_free(ar.a));

			assert_non_null(q);
			fr_alloc_put(ar.a, q);
		}
	}
	/* With 512 slots of up to 1 MiB in 32 MiB, some requests must fail. */
	assert_true(failed > 0);

	for (unsigned i = 0; i < SLOTS; i++) {
		if (!p[i])
			continue;
		assert_true(check_fill(p[i], n[i], tag[i]));
		fr_alloc_put(ar.a, p[i]);
	}
	assert_int_equal(fr_alloc_used(ar.a), 0);
	assert_int_equal(fr_alloc_largest_free(ar.a), largest);
	arena_free(&ar);
}

static void test_full_arena_returns_null(void **state)
{
	struct arena ar = arena_new(1 * MiB);
	static void *p[1 * MiB / 32];
	static size_t n[1 * MiB / 32];
	size_t cnt = 0, size = 4 * KiB;

	/* Fill with shrinking sizes until not even an empty block fits. */
	for (;;) {
		void *q = fr_alloc_get(ar.a, size);

		if (!q) {
			if (size == 0)
				break;
			size /= 2;
			continue;
		}
		assert_true(cnt < FR_ARRAY_LEN(p));
		fill(q, size, (unsigned char)(cnt % 255 + 1));
		n[cnt] = size;
		p[cnt++] = q;
	}
	assert_true(cnt > 200);
	assert_int_equal(fr_alloc_largest_free(ar.a), 0);
	assert_null(fr_alloc_get(ar.a, 0));
	assert_null(fr_alloc_get(ar.a, 1));
	assert_null(fr_alloc_get(ar.a, 4 * KiB));
	/* All but the end sentinel is in use, and the books say so. */
	assert_true(fr_alloc_used(ar.a) <= fr_alloc_capacity(ar.a));
	assert_true(fr_alloc_used(ar.a) > fr_alloc_capacity(ar.a) - 64);

	for (size_t i = 0; i < cnt; i++)
		assert_true(
		    check_fill(p[i], n[i], (unsigned char)(i % 255 + 1)));
	for (size_t i = 0; i < cnt; i++)
		fr_alloc_put(ar.a, p[i]);
	assert_int_equal(fr_alloc_used(ar.a), 0);
	arena_free(&ar);
}

static void shuffle(void **p, size_t n, uint64_t *seed)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rnd(seed) % (i + 1));
		void *t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
}

static void test_free_all_coalesces(void **state)
{
	struct arena ar = arena_new(8 * MiB);
	static void *p[4096];
	uint64_t seed = 42;
	size_t largest = fr_alloc_largest_free(ar.a), cnt;

	for (int order = 0; order < 3; order++) {
		for (cnt = 0; cnt < FR_ARRAY_LEN(p); cnt++) {
			p[cnt] = fr_alloc_get(ar.a, rnd(&seed) % (8 * KiB));
			if (!p[cnt])
				break;
		}
		assert_true(cnt > 100);
		if (order == 0) {
			for (size_t i = 0; i < cnt; i++)
				fr_alloc_put(ar.a, p[i]);
		} else if (order == 1) {
			for (size_t i = cnt; i-- > 0;)
				fr_alloc_put(ar.a, p[i]);
		} else {
			shuffle(p, cnt, &seed);
			for (size_t i = 0; i < cnt; i++)
				fr_alloc_put(ar.a, p[i]);
		}
		assert_int_equal(fr_alloc_used(ar.a), 0);
		assert_int_equal(fr_alloc_largest_free(ar.a), largest);
		assert_true(largest > fr_alloc_capacity(ar.a) - 64);
	}
	arena_free(&ar);
}

static void test_fragmentation_heals(void **state)
{
	struct arena ar = arena_new(1 * MiB);
	static void *p[1 * MiB / 256];
	size_t cnt = 0, largest = fr_alloc_largest_free(ar.a), used;
	void *big, *tiny;

	while (cnt < FR_ARRAY_LEN(p) && (p[cnt] = fr_alloc_get(ar.a, 240)))
		cnt++;
	assert_true(cnt > 1000);
	assert_null(fr_alloc_get(ar.a, 240));

	/* Every other block free: lots of free bytes, none of them in a
	 * run longer than one block. */
	for (size_t i = 0; i < cnt; i += 2)
		fr_alloc_put(ar.a, p[i]);
	assert_true(fr_alloc_largest_free(ar.a) < 512);
	assert_null(fr_alloc_get(ar.a, 64 * KiB));
	used = fr_alloc_used(ar.a);
	tiny = fr_alloc_get(ar.a, 0); /* small ones still fit */
	assert_non_null(tiny);
	assert_true(fr_alloc_used(ar.a) - used <= MAX_WASTE);

	/* Freeing the neighbours in the first half merges a 64 KiB run. */
	for (size_t i = 1; i < cnt / 2; i += 2)
		fr_alloc_put(ar.a, p[i]);
	assert_true(fr_alloc_largest_free(ar.a) >= 64 * KiB);
	big = fr_alloc_get(ar.a, 64 * KiB);
	assert_non_null(big);
	assert_true((char *)big >= (char *)p[0] &&
		    (char *)big < (char *)p[cnt / 2]);
	fill(big, 64 * KiB, 0x77);

	fr_alloc_put(ar.a, big);
	for (size_t i = cnt / 2 | 1; i < cnt; i += 2)
		fr_alloc_put(ar.a, p[i]);
	assert_true(fr_alloc_used(ar.a) > 0);
	fr_alloc_put(ar.a, tiny);
	assert_int_equal(fr_alloc_used(ar.a), 0);
	assert_int_equal(fr_alloc_largest_free(ar.a), largest);
	arena_free(&ar);
}

/*
 * Many free blocks of nearly equal size share one list, and the largest of
 * them sits deep in it. largest_free may then under-report, but get() of
 * whatever it reports must succeed.
 */
static void test_largest_free_is_a_promise(void **state)
{
	struct arena ar = arena_new(2 * MiB);
	void *blk[25], *sep[25], *rest[64];
	size_t nrest = 0, largest;

	for (size_t k = 0; k < 25; k++) {
		blk[k] = fr_alloc_get(ar.a, 16 * KiB + 16 * k);
		sep[k] = fr_alloc_get(ar.a, 16);
		assert_non_null(blk[k]);
		assert_non_null(sep[k]);
	}
	while (nrest < 64 && fr_alloc_largest_free(ar.a) > 0)
		rest[nrest++] = fr_alloc_get(ar.a, fr_alloc_largest_free(ar.a));
	assert_int_equal(fr_alloc_largest_free(ar.a), 0);

	/*
	 * Lists are LIFO. The biggest goes back first, so 24 others pile up
	 * in front of it; the second biggest lands tenth, so a scan that
	 * stops short of where largest_free looked misses it.
	 */
	fr_alloc_put(ar.a, blk[24]);
	for (size_t k = 9; k < 23; k++)
		fr_alloc_put(ar.a, blk[k]);
	fr_alloc_put(ar.a, blk[23]);
	for (size_t k = 0; k < 9; k++)
		fr_alloc_put(ar.a, blk[k]);
	largest = fr_alloc_largest_free(ar.a);
	assert_true(largest >= 16 * KiB);
	assert_true(largest <= 16 * KiB + 16 * 24);
	blk[0] = fr_alloc_get(ar.a, largest);
	assert_non_null(blk[0]);

	fr_alloc_put(ar.a, blk[0]);
	for (size_t k = 0; k < 25; k++)
		fr_alloc_put(ar.a, sep[k]);
	while (nrest > 0)
		fr_alloc_put(ar.a, rest[--nrest]);
	assert_int_equal(fr_alloc_used(ar.a), 0);
	arena_free(&ar);
}

/*
 * Regions of hundreds of GiB: reserve address space only, as the allocator
 * writes headers at block boundaries and never touches payloads. Skipped
 * where the system (or valgrind) will not map that much.
 */
static void test_huge_region(void **state)
{
	static const size_t sizes[] = {300 * GiB, 64 * GiB, 8 * GiB};
	void *mem = MAP_FAILED, *p[8];
	size_t size = 0, largest;
	fr_alloc *a;

	for (size_t i = 0; i < FR_ARRAY_LEN(sizes) && mem == MAP_FAILED; i++) {
		size = sizes[i];
		mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	}
	if (mem == MAP_FAILED)
		skip();
	assert_int_equal(fr_alloc_init(&a, mem, size), 0);
	assert_int_equal(fr_alloc_capacity(a), size);
	largest = fr_alloc_largest_free(a);
	assert_true(largest > size - 64);

	p[0] = fr_alloc_get(a, size / 2);
	p[1] = fr_alloc_get(a, 1);
	p[2] = fr_alloc_get(a, size / 4 + 12345);
	p[3] = fr_alloc_get(a, 1 * GiB);
	for (int i = 0; i < 4; i++) {
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
	}
	assert_null(fr_alloc_get(a, size / 4));
	assert_true(fr_alloc_used(a) > size / 2 + size / 4 + 1 * GiB);
	fr_alloc_put(a, p[1]);
	fr_alloc_put(a, p[3]);
	fr_alloc_put(a, p[0]);
	fr_alloc_put(a, p[2]);
	assert_int_equal(fr_alloc_used(a), 0);
	assert_int_equal(fr_alloc_largest_free(a), largest);
	p[0] = fr_alloc_get(a, largest);
	assert_non_null(p[0]);
	fr_alloc_put(a, p[0]);
	fr_alloc_fini(&a);
	munmap(mem, size);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_rejects_bad_regions),
	    cmocka_unit_test(test_put_null_is_noop),
	    cmocka_unit_test(test_alignment),
	    cmocka_unit_test(test_edge_sizes),
	    cmocka_unit_test(test_random_no_overlap),
	    cmocka_unit_test(test_full_arena_returns_null),
	    cmocka_unit_test(test_free_all_coalesces),
	    cmocka_unit_test(test_fragmentation_heals),
	    cmocka_unit_test(test_largest_free_is_a_promise),
	    cmocka_unit_test(test_huge_region),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
