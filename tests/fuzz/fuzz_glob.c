/*
 * libFuzzer target: the Redis glob matcher of KEYS, SCAN MATCH and
 * PSUBSCRIBE (fr_resp_glob), whose pattern any Redis client chooses and
 * the proxy runs against every key it lists. It must stay inside pattern
 * and key (AddressSanitizer) and finish quickly whatever the pattern
 * (libFuzzer's -timeout): patterns like "*a*a*a*a*b" are what made
 * Redis's own matcher exponential (CVE-2022-36021).
 *
 * Input: byte 0 is the pattern's length (mod the rest); then the pattern,
 * then the key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/resp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t plen, klen;
	uint8_t *pat, *key;

	if (size < 1)
		return 0;
	plen = size > 1 ? data[0] % size : 0;
	klen = size - 1 - plen;
	/* Exact-size copies: ASan sees any read past either. */
	if (!(pat = malloc(plen ? plen : 1)) ||
	    !(key = malloc(klen ? klen : 1)))
		abort();
	memcpy(pat, data + 1, plen);
	memcpy(key, data + 1 + plen, klen);
	struct rarg p = {pat, plen};
	int m = fr_resp_glob(&p, key, klen);
	if (m != 0 && m != 1)
		abort();
	/* A pattern without special bytes matches exactly itself. */
	if (plen && !memchr(pat, '*', plen) && !memchr(pat, '?', plen) &&
	    !memchr(pat, '[', plen) && !memchr(pat, '\\', plen) &&
	    m != (plen == klen && !memcmp(pat, key, plen)))
		abort();
	free(pat);
	free(key);
	return 0;
}
