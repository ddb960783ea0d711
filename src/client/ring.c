#include "client/ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ferry.h"

static int cmp_point(const void *a, const void *b)
{
	const struct fr_ring_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (int)x->server - (int)y->server;
}

int fr_ring_build(fr_ring *r, const char (*addrs)[64], unsigned n)
{
	char name[96];

	r->npoints = (size_t)n * FR_RING_VNODES;
	r->points = calloc(r->npoints ? r->npoints : 1, sizeof(*r->points));
	if (!r->points)
		return FERRY_ENOMEM;
	for (unsigned s = 0; s < n; s++)
		for (unsigned v = 0; v < FR_RING_VNODES; v++) {
			int len = snprintf(name, sizeof(name), "%s#%u",
					   addrs[s], v);
			struct fr_ring_point *p =
				&r->points[s * FR_RING_VNODES + v];
			p->hash = XXH3_64bits(name, (size_t)len);
			p->server = s;
		}
	qsort(r->points, r->npoints, sizeof(*r->points), cmp_point);
	return 0;
}

void fr_ring_free(fr_ring *r)
{
	free(r->points);
	r->points = NULL;
	r->npoints = 0;
}

unsigned fr_ring_pick(const fr_ring *r, const void *key, size_t klen)
{
	uint64_t h = XXH3_64bits(key, klen);
	size_t lo = 0, hi = r->npoints;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->points[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	return r->points[lo == r->npoints ? 0 : lo].server;
}
