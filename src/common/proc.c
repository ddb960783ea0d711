#include "common/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "ferry.h"

/* In the child: sets up descriptors and signals, then runs argv. */
static void child(char *const argv[], const char *log, unsigned flags,
		  pid_t parent)
{
	int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			    0644)
		     : -1;

	if (flags & FR_SPAWN_DAEMON) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		setsid();
		if (nul >= 0)
			dup2(nul, 0);
	} else {
		/* If the parent went before prctl, nobody would send it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
	}
	/* The copies lose O_CLOEXEC; fd itself closes at exec. */
	if (fd >= 0 && (dup2(fd, 1) < 0 ||
			((flags & FR_SPAWN_STDERR) && dup2(fd, 2) < 0)))
		_exit(127);
	execvp(argv[0], argv);
	fprintf(stderr, "ferry: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int fr_spawn(char *const argv[], const char *log, unsigned flags, pid_t *pid,
	     int *status)
{
	pid_t parent = getpid(), p = fork();
	int st = 0;

	if (pid)
		*pid = p;
	if (p == 0)
		child(argv, log, flags, parent);
	if (p < 0)
		return FERRY_EIO;
	if (!status)
		return 0;
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR) {
			*status = 127;
			return FERRY_EIO;
		}
	*status = WIFEXITED(st)	    ? WEXITSTATUS(st)
		  : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
				    : 127;
	return *status ? FERRY_EIO : 0;
}

int fr_spawn_ready(char *const argv[], const char *log, int timeout_ms,
		   pid_t *pid)
{
	char fdarg[16], buf[8] = {0};
	char *args[64];
	int p[2], status, rc, n = 0;
	struct pollfd pfd;
	ssize_t got = 0;

	while (n < 60 && argv[n]) {
		args[n] = argv[n];
		n++;
	}
	/* Only the write end crosses exec. */
	if (pipe2(p, O_CLOEXEC))
		return FERRY_EIO;
	if (fcntl(p[1], F_SETFD, 0)) {
		close(p[0]);
		close(p[1]);
		return FERRY_EIO;
	}
	snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
	args[n++] = "--ready-fd";
	args[n++] = fdarg;
	args[n] = NULL;
	rc = fr_spawn(args, log, FR_SPAWN_DAEMON | FR_SPAWN_STDERR, pid, NULL);
	close(p[1]);
	if (rc) {
		close(p[0]);
		return FERRY_EIO;
	}
	pfd = (struct pollfd){.fd = p[0], .events = POLLIN};
	if (poll(&pfd, 1, timeout_ms) == 1)
		got = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	if (got > 0 && strncmp(buf, "ready", 5) == 0)
		return 0;
	/* EOF means it exited before serving; silence means time-out. */
	if (waitpid(*pid, &status, WNOHANG) == *pid)
		return FERRY_EIO;
	fr_stop_pids(pid, 1, 1000);
	return got == 0 && pfd.revents ? FERRY_EIO : FERRY_ETIMEDOUT;
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

unsigned fr_free_ports(unsigned n)
{
	/* A generator of its own: rand() state belongs to the program. */
	uint64_t x = fr_now_ns() ^ ((uint64_t)getpid() << 32);

	for (int tries = 0; n && tries < 200; tries++) {
		unsigned base, i;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		base = 20000 + (unsigned)(x % 10000);
		for (i = 0; i < n && base + i < 65536; i++) {
			struct sockaddr_in a = {
			    .sin_family = AF_INET,
			    .sin_port = htons((uint16_t)(base + i)),
			    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			int ok = s >= 0 &&
				 !bind(s, (struct sockaddr *)&a, sizeof(a));
			if (s >= 0)
				close(s);
			if (!ok)
				break;
		}
		if (i == n)
			return base;
	}
	return 0;
}

int fr_remove_dir(const char *dir)
{
	char path[4096];
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
			(int)sizeof(path) &&
		    unlink(path) && errno == EISDIR)
			rmdir(path);
	if (d)
		closedir(d);
	return rmdir(dir) && errno != ENOENT ? FERRY_EIO : 0;
}

int fr_stop_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}
