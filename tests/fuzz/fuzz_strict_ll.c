/*
 * libFuzzer target: fr_strict_ll, which reads every integer a Redis client
 * sends (bulk and multibulk lengths, INCRBY, EXPIRE, GETRANGE, SETRANGE,
 * SCAN COUNT...). Like Redis's string2ll it must accept exactly the
 * strings that are some long long written canonically ("%lld": no sign
 * but '-', no leading zeros, no "-0"), and give that number back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if s[0..len) is the canonical form of a long long, stored in *v. */
static int canonical(const uint8_t *s, size_t len, long long *v)
{
	char buf[32], back[32];
	char *end;

	if (len == 0 || len >= sizeof(buf) || memchr(s, 0, len))
		return 0;
	memcpy(buf, s, len);
	buf[len] = 0;
	if (!((buf[0] >= '0' && buf[0] <= '9') || buf[0] == '-'))
		return 0; /* strtoll would skip spaces and take '+' */
	errno = 0;
	*v = strtoll(buf, &end, 10);
	if (errno || *end)
		return 0;
	snprintf(back, sizeof(back), "%lld", *v);
	return !strcmp(back, buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *s = malloc(size ? size : 1); /* exact size for ASan */
	long long got = 0, want = 0;
	int ok, exp;

	if (!s)
		abort();
	memcpy(s, data, size);
	ok = fr_strict_ll(s, size, &got);
	exp = canonical(s, size, &want);
	if (ok != exp || (ok && got != want))
		abort();
	free(s);
	return 0;
}
