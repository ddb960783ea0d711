#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ferry.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t fr_now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

uint64_t fr_wall_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t fr_wall_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}

struct unit {
	const char *suffix;
	uint64_t mult;
};

/* A decimal number followed by one of units' suffixes (any case). */
static int parse_units(const char *s, const struct unit *units, size_t n,
		       uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return FERRY_EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return FERRY_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (v > UINT64_MAX / units[i].mult)
			return FERRY_EINVAL;
		*out = (uint64_t)v * units[i].mult;
		return 0;
	}
	return FERRY_EINVAL;
}

int fr_parse_size(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{"", 1},	{"b", 1},	{"k", 1ull << 10},
		{"kb", 1ull << 10}, {"kib", 1ull << 10}, {"m", 1ull << 20},
		{"mb", 1ull << 20}, {"mib", 1ull << 20}, {"g", 1ull << 30},
		{"gb", 1ull << 30}, {"gib", 1ull << 30}, {"t", 1ull << 40},
		{"tb", 1ull << 40}, {"tib", 1ull << 40},
	};

	return parse_units(s, units, FR_ARRAY_LEN(units), out);
}

int fr_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	static const struct unit bare = {"", 1};
	uint64_t v;

	if (parse_units(s, &bare, 1, &v) || v < lo || v > hi)
		return FERRY_EINVAL;
	*out = (unsigned)v;
	return 0;
}

int fr_parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct unit units[] = {
		{"", 1000},	 {"s", 1000},	    {"ms", 1},
		{"m", 60000},	 {"min", 60000},    {"h", 3600000},
		{"d", 86400000},
	};

	return parse_units(s, units, FR_ARRAY_LEN(units), out);
}

char *fr_fmt_duration_ms(uint64_t ms, char *buf, size_t cap)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, cap, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(buf, cap, "%.1fs", (double)ms / 1000);
	else if (s < 3600)
		snprintf(buf, cap, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, cap, "%lluh%02llum",
			 (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, cap, "%llud%02lluh",
			 (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	return buf;
}

char *fr_fmt_size(uint64_t bytes, char *buf, size_t cap)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < FR_ARRAY_LEN(unit)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
	return buf;
}

int fr_split_hostport(const char *s, char *host, size_t cap, char *port,
		      size_t pcap)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	size_t hl;

	if (!colon || colon == s || !colon[1])
		return FERRY_EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= cap || strlen(colon + 1) >= pcap)
		return FERRY_EINVAL;
	for (const char *p = colon + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return FERRY_EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

void fr_log(const char *who, const char *fmt, ...)
{
	char ts[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", gmtime_r(&now, &tm));
	fprintf(stderr, "%s %s: ", ts, who);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int fr_strict_ll(const uint8_t *s, size_t len, long long *out)
{
	unsigned long long v = 0, lim = LLONG_MAX;
	size_t i = 0;
	int neg = 0;

	if (len == 0 || len > 20)
		return 0;
	if (len == 1 && s[0] == '0') {
		*out = 0;
		return 1;
	}
	if (s[0] == '-') {
		neg = 1;
		lim = (unsigned long long)LLONG_MAX + 1;
		if (++i == len)
			return 0;
	}
	if (s[i] < '1' || s[i] > '9')
		return 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (lim - (s[i] - '0')) / 10)
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
	return 1;
}

int fr_grow_zeroed(void **arr, size_t *cap, size_t i, size_t elem)
{
	size_t n = *cap ? *cap : 64;
	char *p;

	if (i < *cap)
		return 0;
	while (n <= i) {
		if (n > SIZE_MAX / 2 / elem)
			return FERRY_ENOMEM;
		n *= 2;
	}
	p = realloc(*arr, n * elem);
	if (!p)
		return FERRY_ENOMEM;
	memset(p + *cap * elem, 0, (n - *cap) * elem);
	*arr = p;
	*cap = n;
	return 0;
}
