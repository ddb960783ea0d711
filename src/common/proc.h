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

/* 1 if pid runs: exists and is not a zombie (a daemon whose parent is a
 * PID 1 that never reaps stays a zombie after it exits). */
int fr_pid_alive(pid_t pid);

/* Sends SIGTERM to all n processes, waits up to timeout_ms for them to
 * go, then SIGKILLs the rest. Returns 0 if all are gone. */
int fr_stop_pids(const pid_t *pids, unsigned n, int timeout_ms);

#endif
