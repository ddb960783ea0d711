/*
 * Tokens and namespace names: making, reading and comparing secrets.
 * Tokens come from the kernel's random source (getrandom) and are
 * compared in constant time; nothing here logs them.
 */
#ifndef FR_TOKEN_H
#define FR_TOKEN_H

#include <stddef.h>
#include <stdint.h>

/* Writes a fresh token (FERRY_TOKEN_LEN hex characters and a NUL) to out.
 * Returns 0 or FERRY_EIO. */
int fr_token_new(char *out);

/* A random 64-bit number that is not 0. Returns 0 or FERRY_EIO. */
int fr_random_id(uint64_t *out);

/* 1 if the secret s[0..slen) equals t[0..tlen); the time taken depends
 * only on slen. */
int fr_token_equal(const void *s, size_t slen, const void *t, size_t tlen);

/* Reads a token, a file's one line, from path into buf (cap bytes, NUL
 * terminated). Returns its length, or -1 with errno set (EINVAL: empty,
 * more than one line, or too long). */
#define FR_TOKEN_FILE_MAX 257
long fr_token_read(const char *path, char *buf, size_t cap);

/* fr_token_read for a program's --admin-token-file: 0, or -1 after
 * saying on stderr, as who, why the token could not be read. */
int fr_token_read_arg(const char *who, const char *path, char *buf,
		      size_t cap);

/* 1 if name[0..len) is a valid namespace name (ferry.h). */
int fr_ns_name_ok(const void *name, size_t len);

#endif
