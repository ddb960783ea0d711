#include "fabric/region.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A name ferry gave a client ("ferry-PID-..."), and one that stays
 * inside its folder. */
static int ours(const char *name)
{
	size_t n = strnlen(name, NAME_MAX + 1), p = strlen(FR_REGION_PREFIX);
	size_t digits;

	if (n <= p || n > NAME_MAX || strncmp(name, FR_REGION_PREFIX, p) ||
	    strchr(name, '/'))
		return 0;
	digits = strspn(name + p, "0123456789");
	return digits > 0 && name[p + digits] == '-';
}

int fr_region_name(const void *addr, size_t len, char *name, size_t cap)
{
	const char *a = addr, *end = memchr(a, '\0', len), *sep;
	size_t n;

	if (end)
		len = (size_t)(end - a);
	sep = memmem(a, len, "://", 3);
	if (!sep)
		return -1;
	sep += 3;
	n = len - (size_t)(sep - a);
	if (n >= cap)
		return -1;
	memcpy(name, sep, n);
	name[n] = '\0';
	return ours(name) ? 0 : -1;
}

static int path_of(const char *dir, const char *name, char *path, size_t cap)
{
	int n = snprintf(path, cap, "%s/%s", dir, name);

	return ours(name) && n > 0 && (size_t)n < cap ? 0 : -1;
}

int fr_region_hold(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (path_of(dir, name, path, sizeof(path))) {
		errno = EINVAL;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && flock(fd, LOCK_SH | LOCK_NB)) {
		int e = errno;
		close(fd);
		errno = e;
		fd = -1;
	}
	return fd;
}

int fr_region_reap(const char *dir, const char *name, unsigned min_age_s)
{
	char path[PATH_MAX];
	struct stat st, now;
	struct timespec t;
	int fd, gone = 0;

	if (path_of(dir, name, path, sizeof(path)))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT;
	clock_gettime(CLOCK_REALTIME, &t);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    t.tv_sec - st.st_ctim.tv_sec < (time_t)min_age_s ||
	    flock(fd, LOCK_EX | LOCK_NB))
		goto out; /* not a region, too young, or its owner lives */
	/* Unlink only the file that was locked: a server that restarts
	 * under the same name makes a new one. */
	if (stat(path, &now))
		gone = errno == ENOENT;
	else if (now.st_dev == st.st_dev && now.st_ino == st.st_ino)
		gone = !unlink(path) || errno == ENOENT;
out:
	close(fd);
	return gone;
}

unsigned fr_region_sweep(const char *dir, unsigned min_age_s)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (ours(e->d_name))
			n += (unsigned)fr_region_reap(dir, e->d_name,
						      min_age_s);
	closedir(d);
	return n;
}
