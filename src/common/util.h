/* Small helpers shared by every layer: time, sizes, logging. */
#ifndef FR_UTIL_H
#define FR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define FR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FR_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FR_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Monotonic and wall clock in nanoseconds. */
uint64_t fr_now_ns(void);
uint64_t fr_wall_ns(void);
/* Wall clock (CLOCK_REALTIME) in ms since the Unix epoch: expiries. */
uint64_t fr_wall_ms(void);

/* Parses "64M", "1G", "4096", "2KiB" into bytes. Returns 0 or FERRY_EINVAL. */
int fr_parse_size(const char *s, uint64_t *out);

/* Parses a decimal number from lo to hi, nothing else (no sign, no
 * suffix). Returns 0 or FERRY_EINVAL. */
int fr_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);

/* Parses a duration, "1500ms", "30s", "5m", "2h", "1d" (a bare number is
 * seconds), into milliseconds. Returns 0 or FERRY_EINVAL. */
int fr_parse_duration_ms(const char *s, uint64_t *out);

/* Formats a duration as "300ms", "29.5s", "4m05s", "2h30m", "3d04h" into
 * buf. Returns buf. */
char *fr_fmt_duration_ms(uint64_t ms, char *buf, size_t cap);

/* Formats bytes as "1.5 MiB" into buf. Returns buf. */
char *fr_fmt_size(uint64_t bytes, char *buf, size_t cap);

/* Splits "HOST:PORT" into host (cap bytes) and port. Returns 0 or
 * FERRY_EINVAL. */
int fr_split_hostport(const char *s, char *host, size_t cap, char *port,
		      size_t pcap);

/* Redis's string2ll: a strict decimal long long (no spaces, no '+', no
 * leading zeros, at most 20 bytes). Returns 1 and *out, or 0. */
int fr_strict_ll(const uint8_t *s, size_t len, long long *out);

/* Makes the array *arr, of *cap elements of elem bytes, long enough to
 * hold index i: its length doubles (from 64) until it does, and the new
 * elements are zeroed. Returns 0 or FERRY_ENOMEM (the array is then
 * unchanged). For tables indexed by small integers such as address-vector
 * entries. */
int fr_grow_zeroed(void **arr, size_t *cap, size_t i, size_t elem);

/* Daemons log with a level and a reason; the library never logs. */
void fr_log(const char *who, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
