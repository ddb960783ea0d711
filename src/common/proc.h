/* Starting processes, waiting until daemons serve, stopping them; and the
 * loopback ports and scratch folders that go with them. */
#ifndef FR_PROC_H
#define FR_PROC_H

#include <sys/types.h>

/* Flags of fr_spawn. */
#define FR_SPAWN_STDERR 0x1u /* stderr goes to the log too */
#define FR_SPAWN_DAEMON 0x2u /* a new session with stdin from /dev/null,
				outliving the caller; without it the child
				gets SIGTERM when the calling thread ends */

/* Forks and runs argv (argv[0] is a path, or a name searched in PATH),
 * with stdout appended to log (created 0644; NULL, or a log that cannot
 * be opened: inherited) and stderr too under FR_SPAWN_STDERR. If status
 * is NULL, returns once the child is forked; else waits for it to exit
 * (retrying on EINTR) and stores its exit code in *status: 127 if it
 * could not run, 128+N if signal N ended it. *pid (may be NULL) receives
 * the child's pid; the caller reaps it unless fr_spawn waited. Returns 0,
 * or FERRY_EIO if fork failed or the child waited for did not exit with
 * 0. Without FR_SPAWN_DAEMON the child is tied to the calling thread
 * (Linux's PR_SET_PDEATHSIG): call it from one that lives as long as the
 * child should. The child inherits every descriptor not close-on-exec. */
int fr_spawn(char *const argv[], const char *log, unsigned flags, pid_t *pid,
	     int *status);

/* Starts argv (argv[0] is a path) as a daemon (FR_SPAWN_DAEMON) with
 * stdout/stderr appended to log (NULL: inherited), adding "--ready-fd N"
 * to its arguments, and waits up to timeout_ms until it writes "ready"
 * there. Returns 0 with *pid set, FERRY_ETIMEDOUT (the child is killed),
 * or FERRY_EIO (it exited, or could not start). */
int fr_spawn_ready(char *const argv[], const char *log, int timeout_ms,
		   pid_t *pid);

/* 1 if pid runs: exists and is not a zombie (a daemon whose parent is a
 * PID 1 that never reaps stays a zombie after it exits). */
int fr_pid_alive(pid_t pid);

/* Sends SIGTERM to all n processes, waits up to timeout_ms for them to
 * go, then SIGKILLs the rest. Returns 0 if all are gone. */
int fr_stop_pids(const pid_t *pids, unsigned n, int timeout_ms);

/* Returns a port base such that TCP ports base..base+n-1 (n >= 1) could be
 * bound on 127.0.0.1 just now, picked at random in 20000..29999, or 0 if
 * 200 tries found none. Another process may take them before the caller
 * binds, so a daemon that fails to bind should be retried by the caller.
 * Safe from any thread. */
unsigned fr_free_ports(unsigned n);

/* Deletes the files (and empty folders) directly in dir, then dir itself;
 * it does not descend into subfolders. Returns 0, or FERRY_EIO if dir is
 * still there. */
int fr_remove_dir(const char *dir);

/* For daemons: blocks SIGTERM and SIGINT, ignores SIGPIPE, and returns a
 * non-blocking signalfd that becomes readable when a stop is asked for
 * (for epoll), or -1. */
int fr_stop_signalfd(void);

#endif
