/* The one table of error messages (FERRY_ERRNO_MAP in ferry.h). */
#include "ferry.h"

const char *ferry_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
#define FERRY_ERRNO_CASE(name, value, msg)                                     \
	case value:                                                            \
		return msg;
		FERRY_ERRNO_MAP(FERRY_ERRNO_CASE)
#undef FERRY_ERRNO_CASE
	}
	return "unknown error";
}
