/*
 * libFuzzer target: the wire decoder (fr_msg_decode), the one gate every
 * byte from a peer passes. Properties checked on every input:
 *   - decoding never reads outside the message (AddressSanitizer);
 *   - a message that decodes is canonical: encoding the decoded message
 *     gives back exactly the input, whole (fr_msg_encode) and as head plus
 *     tail (fr_msg_encode_head);
 *   - every blob of a decoded message lies inside the input;
 *   - walking any blob as a LIST page ends without reading past it.
 * The first input byte steers the rest past the cheap gates, so the fuzzer
 * spends its time on the body: bit 0 writes a valid magic and version,
 * bit 1 the body length that matches the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "ferry.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const uint8_t *blob, size_t blen)
{
	size_t off = 0, klen;
	const uint8_t *key;
	int rc;

	while ((rc = fr_list_next(blob, blen, &off, &key, &klen)) == 1)
		if (key < blob || key + klen > blob + blen || off > blen)
			abort();
	if (rc != 0 && rc != FERRY_EPROTO)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg, *out;
	const uint8_t *tail;
	size_t len, n, tail_len;
	fr_msg m;

	if (size < 1)
		return 0;
	len = size - 1;
	/* An exact-size copy: ASan sees any read past the message. */
	if (!(msg = malloc(len ? len : 1)) || !(out = malloc(len + 1)))
		abort();
	memcpy(msg, data + 1, len);
	if (len >= FR_HDR_SIZE && (data[0] & 1)) {
		fr_put_u32(msg, FR_MAGIC);
		msg[4] = FR_VERSION;
	}
	if (len >= FR_HDR_SIZE && (data[0] & 2))
		fr_put_u32(msg + 16, (uint32_t)(len - FR_HDR_SIZE));

	if (fr_msg_decode(msg, len, &m, NULL) == 0) {
		for (int i = 0; i < FR_MAX_BLOBS; i++) {
			if (!m.blob[i])
				continue;
			if (m.blob[i] < msg || m.blen[i] > len ||
			    m.blob[i] + m.blen[i] > msg + len)
				abort();
			check_list(m.blob[i], m.blen[i]);
		}
		n = fr_msg_encode(&m, out, len + 1);
		if (n != len || memcmp(out, msg, len))
			abort();
		n = fr_msg_encode_head(&m, out, len + 1, &tail, &tail_len);
		if (n + tail_len != len || memcmp(out, msg, n) ||
		    (tail_len && memcmp(tail, msg + n, tail_len)))
			abort();
	}
	free(msg);
	free(out);
	return 0;
}
