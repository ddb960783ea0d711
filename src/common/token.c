#include "common/token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "ferry.h"

static int fill_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return FERRY_EIO;
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int fr_token_new(char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[FERRY_TOKEN_LEN / 2];

	if (fill_random(raw, sizeof(raw)))
		return FERRY_EIO;
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[FERRY_TOKEN_LEN] = 0;
	return 0;
}

int fr_random_id(uint64_t *out)
{
	do {
		if (fill_random(out, sizeof(*out)))
			return FERRY_EIO;
	} while (*out == 0);
	return 0;
}

int fr_token_equal(const void *s, size_t slen, const void *t, size_t tlen)
{
	const volatile uint8_t *a = s, *b = t;
	unsigned diff = slen != tlen;

	for (size_t i = 0; i < slen; i++)
		diff |= a[i] ^ (tlen ? b[i < tlen ? i : 0] : 0u);
	return slen > 0 && diff == 0;
}

long fr_token_read(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, cap, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
		     buf[n - 1] == ' '))
		n--;
	if (n == 0 || n >= cap || memchr(buf, '\n', n)) {
		errno = EINVAL;
		return -1;
	}
	buf[n] = 0;
	return (long)n;
}

int fr_token_read_arg(const char *who, const char *path, char *buf,
		      size_t cap)
{
	if (fr_token_read(path, buf, cap) >= 0)
		return 0;
	fprintf(stderr, "%s: cannot read a token from %s: %s\n", who, path,
		strerror(errno));
	return -1;
}

int fr_ns_name_ok(const void *name, size_t len)
{
	const char *p = name;

	if (len == 0 || len > FERRY_NS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '.' ||
		      p[i] == '_' || p[i] == '-'))
			return 0;
	return 1;
}
