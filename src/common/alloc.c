/*
 * TLSF over one region; see alloc.h for the contract.
 *
 * Every block, free or used, starts with a 16-byte header: the address of
 * the physically previous block and the block's total size (header
 * included), whose low bit says whether the block is free. Sizes are
 * multiples of 16 and blocks start 16-aligned, so payloads stay 16-aligned.
 * A free block keeps its free-list links in its payload, which is why the
 * smallest block is 32 bytes. A used, zero-sized sentinel header closes the
 * region, so the last real block always has a next neighbour to look at.
 *
 * Classes: sizes below 512 bytes get one list per 16 bytes (first level 0);
 * above, each power of two [2^f, 2^(f+1)) is split into 32 equal lists.
 * Sixty-four-bit sizes need 56 first levels; the heads table is 14 KiB,
 * paid once per server.
 */
#include "alloc.h"

#include <stdlib.h>

#include "ferry.h"

#define ALIGN_LOG2 4
#define ALIGN ((size_t)1 << ALIGN_LOG2)
#define SL_LOG2 5
#define SL_COUNT (1u << SL_LOG2)
#define FL_SHIFT (SL_LOG2 + ALIGN_LOG2)
#define SMALL_SIZE ((size_t)1 << FL_SHIFT)
#define FL_COUNT (64 - FL_SHIFT + 1)

#define HDR sizeof(struct blk_hdr)
#define MIN_BLOCK sizeof(struct blk)
#define FREE_BIT ((size_t)1)

/*
 * How many blocks of one list a request may inspect when the O(1) search
 * comes back empty (see find_fallback). Bounding it keeps a nearly full,
 * fragmented arena from turning one request into a walk over millions of
 * blocks.
 */
#define FALLBACK_SCAN 16

struct blk_hdr {
	struct blk *prev_phys; /* NULL for the first block */
	size_t size;	       /* total bytes, FREE_BIT in bit 0 */
};

struct blk {
	struct blk_hdr h;
	struct blk *next_free; /* valid only while the block is free */
	struct blk *prev_free;
};

_Static_assert(sizeof(struct blk_hdr) == 16, "header must keep alignment");
_Static_assert(sizeof(struct blk) == 32, "free block must fit the minimum");
_Static_assert(sizeof(size_t) == 8, "ferry needs 64-bit sizes");

struct fr_alloc {
	size_t cap;  /* managed bytes, sentinel included */
	size_t used; /* bytes of used blocks, headers included */
	uint64_t fl_map;
	uint32_t sl_map[FL_COUNT];
	struct blk *heads[FL_COUNT][SL_COUNT];
};

static size_t blk_size(const struct blk *b)
{
	return b->h.size & ~FREE_BIT;
}

static int blk_free(const struct blk *b)
{
	return (int)(b->h.size & FREE_BIT);
}

static struct blk *blk_next(const struct blk *b)
{
	return (struct blk *)((char *)b + blk_size(b));
}

static unsigned fls64(uint64_t x)
{
	return 63u - (unsigned)__builtin_clzll(x);
}

/* The list a block of total size `size` lives on. */
static void mapping(size_t size, unsigned *fl, unsigned *sl)
{
	unsigned f;

	if (size < SMALL_SIZE) {
		*fl = 0;
		*sl = (unsigned)(size >> ALIGN_LOG2);
		return;
	}
	f = fls64(size);
	*sl = (unsigned)(size >> (f - SL_LOG2)) ^ SL_COUNT;
	*fl = f - FL_SHIFT + 1;
}

static void list_remove(struct fr_alloc *a, struct blk *b)
{
	unsigned fl, sl;

	mapping(blk_size(b), &fl, &sl);
	if (b->prev_free)
		b->prev_free->next_free = b->next_free;
	else
		a->heads[fl][sl] = b->next_free;
	if (b->next_free)
		b->next_free->prev_free = b->prev_free;
	if (!a->heads[fl][sl]) {
		a->sl_map[fl] &= ~(1u << sl);
		if (!a->sl_map[fl])
			a->fl_map &= ~((uint64_t)1 << fl);
	}
}

static void list_insert(struct fr_alloc *a, struct blk *b)
{
	unsigned fl, sl;

	mapping(blk_size(b), &fl, &sl);
	b->prev_free = NULL;
	b->next_free = a->heads[fl][sl];
	if (b->next_free)
		b->next_free->prev_free = b;
	a->heads[fl][sl] = b;
	a->sl_map[fl] |= 1u << sl;
	a->fl_map |= (uint64_t)1 << fl;
}

/*
 * Good fit: round the request up to the next list boundary, so that any
 * block on the first non-empty list at or above it fits without looking at
 * its size. Two bit scans find that list.
 */
static struct blk *find_rounded(const struct fr_alloc *a, size_t need)
{
	unsigned fl, sl;
	uint32_t sl_bits;
	uint64_t fl_bits;

	if (need >= SMALL_SIZE)
		need += ((size_t)1 << (fls64(need) - SL_LOG2)) - 1;
	mapping(need, &fl, &sl);
	if (fl >= FL_COUNT)
		return NULL;
	sl_bits = a->sl_map[fl] & (~0u << sl);
	if (!sl_bits) {
		fl_bits = a->fl_map & (~(uint64_t)0 << (fl + 1));
		if (!fl_bits)
			return NULL;
		fl = (unsigned)__builtin_ctzll(fl_bits);
		sl_bits = a->sl_map[fl];
	}
	return a->heads[fl][__builtin_ctz(sl_bits)];
}

/*
 * The rounding above refuses a block whose size lies between the request
 * and the next list boundary. When nothing larger is free, such a block is
 * the only hope (asking for the whole free arena is the common case), so
 * look at the first few blocks of the request's own list.
 */
static struct blk *find_fallback(const struct fr_alloc *a, size_t need)
{
	unsigned fl, sl, n = 0;
	struct blk *b;

	mapping(need, &fl, &sl);
	b = a->heads[fl][sl];
	for (; b && n < FALLBACK_SCAN; b = b->next_free, n++) {
		if (blk_size(b) >= need)
			return b;
	}
	return NULL;
}

int fr_alloc_init(fr_alloc **out, void *base, size_t size)
{
	struct fr_alloc *a;
	struct blk *first, *end;

	/*
	 * A quarter of the 64-bit space is more than any machine maps; the
	 * bound keeps request arithmetic in get() free of overflow checks.
	 */
	size &= ~(ALIGN - 1);
	if (!out || !base || ((uintptr_t)base & (ALIGN - 1)) ||
	    size < MIN_BLOCK + HDR || size > SIZE_MAX / 4)
		return FERRY_EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return FERRY_ENOMEM;
	a->cap = size;

	first = base;
	first->h.prev_phys = NULL;
	first->h.size = (size - HDR) | FREE_BIT;
	end = blk_next(first);
	end->h.prev_phys = first;
	end->h.size = 0;
	list_insert(a, first);
	*out = a;
	return 0;
}

void fr_alloc_fini(fr_alloc **a)
{
	if (!a)
		return;
	free(*a);
	*a = NULL;
}

void *fr_alloc_get(fr_alloc *a, size_t size)
{
	struct blk *b, *rest;
	size_t need;

	if (size > a->cap)
		return NULL;
	need = (size + ALIGN - 1) & ~(ALIGN - 1);
	need = need < MIN_BLOCK - HDR ? MIN_BLOCK : need + HDR;
	b = find_rounded(a, need);
	if (!b)
		b = find_fallback(a, need);
	if (!b)
		return NULL;
	list_remove(a, b);

	/*
	 * Give back the tail when it can hold a block of its own. Its next
	 * neighbour cannot be free (free blocks never touch), so it goes to
	 * the lists without merging.
	 */
	if (blk_size(b) - need >= MIN_BLOCK) {
		rest = (struct blk *)((char *)b + need);
		rest->h.prev_phys = b;
		rest->h.size = (blk_size(b) - need) | FREE_BIT;
		blk_next(rest)->h.prev_phys = rest;
		list_insert(a, rest);
		b->h.size = need;
	}
	b->h.size &= ~FREE_BIT;
	a->used += blk_size(b);
	return (char *)b + HDR;
}

void fr_alloc_put(fr_alloc *a, void *p)
{
	struct blk *b, *next, *prev;

	if (!p)
		return;
	b = (struct blk *)((char *)p - HDR);
	a->used -= blk_size(b);

	/* Merge with free neighbours now, so free blocks never touch. */
	next = blk_next(b);
	if (blk_free(next)) {
		list_remove(a, next);
		b->h.size += blk_size(next);
	}
	prev = b->h.prev_phys;
	if (prev && blk_free(prev)) {
		list_remove(a, prev);
		prev->h.size += blk_size(b);
		b = prev;
	}
	b->h.size |= FREE_BIT;
	blk_next(b)->h.prev_phys = b;
	list_insert(a, b);
}

size_t fr_alloc_usable(const fr_alloc *a, const void *p)
{
	const struct blk *b = (const struct blk *)((const char *)p - HDR);

	return blk_size(b) - HDR;
}

size_t fr_alloc_used(const fr_alloc *a)
{
	return a->used;
}

size_t fr_alloc_capacity(const fr_alloc *a)
{
	return a->cap;
}

/*
 * The biggest free block sits on the highest non-empty list, but that list
 * is unsorted. Looking at the same first FALLBACK_SCAN blocks that get()
 * would inspect keeps the answer a promise: get() of the returned size
 * succeeds. With few blocks on the top list (always so when the arena is
 * mostly free) the answer is exact; otherwise it can fall short of the true
 * largest block by less than 1/32, never exceed it.
 */
size_t fr_alloc_largest_free(const fr_alloc *a)
{
	unsigned fl, n = 0;
	const struct blk *b;
	size_t best = 0;

	if (!a->fl_map)
		return 0;
	fl = fls64(a->fl_map);
	b = a->heads[fl][fls64(a->sl_map[fl])];
	for (; b && n < FALLBACK_SCAN; b = b->next_free, n++) {
		if (blk_size(b) > best)
			best = blk_size(b);
	}
	return best - HDR;
}
