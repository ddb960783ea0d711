/* Starting daemons and waiting until they serve. */
#ifndef FR_PROC_H
#define FR_PROC_H

#include <sys/types.h>

/* Starts argv (argv[0] is a path) in a new session with stdin from
 * /dev/null and stdout/stderr appended to log (NULL: inherited), adding
 * "--ready-fd N" to its arguments, and waits up to timeout_ms until it
 * writes "ready" there. Returns 0 with *pid set, FERRY_ETIMEDOUT (the
 * child is killed), or FERRY_EIO (it exited, or could not start). */
int fr_spawn_ready(char *const argv[], const char *log, int timeout_ms,
		   pid_t *pid);

/* Sends SIGTERM, waits up to timeout_ms for the process to go, then
 * SIGKILL. Returns 0 if it is gone (or never existed). */
int fr_stop_pid(pid_t pid, int timeout_ms);

#endif
