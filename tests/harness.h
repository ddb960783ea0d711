/* Shared helpers of the tests: cmocka, plus starting and stopping real
 * ferry-server processes. */
#ifndef FT_HARNESS_H
#define FT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

#endif
