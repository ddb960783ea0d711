/*
 * Unit tests of the shm region reaper (src/fabric/region.c), in a folder
 * of its own instead of /dev/shm: a region someone holds stays, one nobody
 * holds goes (unless it is younger than asked), files that are not
 * ferry's, links and folders stay, and names taken from peers' addresses
 * cannot point outside the folder.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fabric/region.h"

static char dir[64];

static void mk(const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static int there(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ferry-region.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static void test_held_stays_unheld_goes(void **state)
{
	int held, again;

	mk("ferry-1-dead:0:0");
	mk("ferry-2-live:0:0");
	mk("other:0:0"); /* libfabric's own name, or anyone's: never ours */
	mk("127.0.0.1:7400"); /* a server's: libfabric reuses it */
	held = fr_region_hold(dir, "ferry-2-live:0:0");
	assert_true(held >= 0);
	/* Everything is young: an hour's minimum age leaves all alone. */
	assert_int_equal(fr_region_sweep(dir, 3600), 0);
	assert_true(there("ferry-1-dead:0:0"));
	assert_int_equal(fr_region_sweep(dir, 0), 1);
	assert_false(there("ferry-1-dead:0:0"));
	assert_true(there("ferry-2-live:0:0"));
	assert_true(there("other:0:0"));
	assert_true(there("127.0.0.1:7400"));
	/* A second holder (another process sharing it) is allowed. */
	again = fr_region_hold(dir, "ferry-2-live:0:0");
	assert_true(again >= 0);
	close(held);
	assert_int_equal(fr_region_reap(dir, "ferry-2-live:0:0", 0), 0);
	close(again);
	assert_int_equal(fr_region_reap(dir, "ferry-2-live:0:0", 0), 1);
	assert_false(there("ferry-2-live:0:0"));
	/* Gone already: gone. Not ours: stays. */
	assert_int_equal(fr_region_reap(dir, "ferry-2-live:0:0", 0), 1);
	assert_int_equal(fr_region_reap(dir, "other:0:0", 0), 0);
	assert_true(there("other:0:0"));
	/* Holding what is not there, or not ours, fails. */
	assert_int_equal(fr_region_hold(dir, "ferry-5-none"), -1);
	assert_int_equal(fr_region_hold(dir, "other:0:0"), -1);
}

static void test_links_and_folders_stay(void **state)
{
	char target[128], link[128], sub[128];

	mk("victim");
	snprintf(target, sizeof(target), "%s/victim", dir);
	snprintf(link, sizeof(link), "%s/ferry-3-link", dir);
	snprintf(sub, sizeof(sub), "%s/ferry-4-dir", dir);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(fr_region_sweep(dir, 0), 0);
	assert_true(there("ferry-3-link"));
	assert_true(there("ferry-4-dir"));
	assert_true(there("victim"));
}

static void test_names_from_addresses(void **state)
{
	char name[64];
	static const char shm[] = "fi_shm://ferry-42-00ff:0:0";

	/* As fi_getname gives it: NUL included. */
	assert_int_equal(fr_region_name(shm, sizeof(shm), name, sizeof(name)),
			 0);
	assert_string_equal(name, "ferry-42-00ff:0:0");
	/* A server's (libfabric keeps those), not ferry's, no scheme, a
	 * way out of the folder, too long. */
	assert_int_equal(fr_region_name("fi_ns://127.0.0.1:7400", 22, name,
					sizeof(name)),
			 -1);
	assert_int_equal(fr_region_name("fi_ns://ferry-host:7400", 23, name,
					sizeof(name)),
			 -1);
	assert_int_equal(fr_region_name("fi_shm://1234:0:0", 17, name,
					sizeof(name)),
			 -1);
	assert_int_equal(fr_region_name("ferry-1:0:0", 11, name, sizeof(name)),
			 -1);
	assert_int_equal(fr_region_name("fi_shm://ferry-1-/../../etc/passwd",
					34, name, sizeof(name)),
			 -1);
	assert_int_equal(fr_region_name(shm, sizeof(shm), name, 8), -1);
	assert_int_equal(fr_region_reap(dir, "ferry-1/../x", 0), 0);
	assert_int_equal(fr_region_reap(dir, "..", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_held_stays_unheld_goes, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_links_and_folders_stay, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_names_from_addresses, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
