#include "common/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "ferry.h"

static void child(char *const argv[], const char *log, int fd)
{
	char fdarg[16];
	char *args[64];
	int n = 0, nul = open("/dev/null", O_RDONLY);

	setsid();
	if (nul >= 0)
		dup2(nul, 0);
	if (log) {
		int lf = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (lf >= 0) {
			dup2(lf, 1);
			dup2(lf, 2);
		}
	}
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	while (argv[n] && n < 60) {
		args[n] = argv[n];
		n++;
	}
	args[n++] = "--ready-fd";
	args[n++] = fdarg;
	args[n] = NULL;
	execv(args[0], args);
	fprintf(stderr, "cannot run %s: %s\n", args[0], strerror(errno));
	_exit(127);
}

int fr_spawn_ready(char *const argv[], const char *log, int timeout_ms,
		   pid_t *pid)
{
	int p[2], status;
	char buf[8] = {0};
	struct pollfd pfd;
	ssize_t n = 0;

	if (pipe(p))
		return FERRY_EIO;
	*pid = fork();
	if (*pid < 0) {
		close(p[0]);
		close(p[1]);
		return FERRY_EIO;
	}
	if (*pid == 0) {
		close(p[0]);
		child(argv, log, p[1]);
	}
	close(p[1]);
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	if (poll(&pfd, 1, timeout_ms) == 1)
		n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	if (n > 0 && strncmp(buf, "ready", 5) == 0)
		return 0;
	/* EOF means it exited before serving; silence means time-out. */
	if (waitpid(*pid, &status, WNOHANG) == *pid)
		return FERRY_EIO;
	fr_stop_pids(pid, 1, 1000);
	return n == 0 && pfd.revents ? FERRY_EIO : FERRY_ETIMEDOUT;
}

int fr_pid_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int alive = 1;

	if (pid <= 0 || kill(pid, 0) != 0)
		return 0;
	/* Reap it if it is our own child; then look at its state. */
	if (waitpid(pid, NULL, WNOHANG) == pid)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
	    p[1] == ' ' && p[2] == 'Z')
		alive = 0;
	fclose(f);
	return alive;
}

static int any_alive(const pid_t *pids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fr_pid_alive(pids[i]))
			return 1;
	return 0;
}

int fr_stop_pids(const pid_t *pids, unsigned n, int timeout_ms)
{
	uint64_t deadline = fr_now_ns() + (uint64_t)timeout_ms * 1000000;

	for (unsigned i = 0; i < n; i++)
		if (fr_pid_alive(pids[i]))
			kill(pids[i], SIGTERM);
	while (any_alive(pids, n)) {
		if (fr_now_ns() > deadline) {
			for (unsigned i = 0; i < n; i++)
				if (fr_pid_alive(pids[i]))
					kill(pids[i], SIGKILL);
			usleep(100000);
			return any_alive(pids, n) ? FERRY_ETIMEDOUT : 0;
		}
		usleep(5000);
	}
	return 0;
}
