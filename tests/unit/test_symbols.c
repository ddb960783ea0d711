/* libferry.so exports the public API and nothing else: every defined
 * dynamic symbol starts with ferry_, and every function the header
 * promises is there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char lib[4096];

static void find_lib(void)
{
	const char *bin = getenv("FERRY_BIN");

	if (bin)
		snprintf(lib, sizeof(lib), "%s/../lib/libferry.so", bin);
	else
		snprintf(lib, sizeof(lib), "build/lib/libferry.so");
}

static void test_only_ferry_symbols(void **state)
{
	char cmd[4200], line[512];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", lib);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		char type, name[400];
		if (sscanf(line, "%*s %c %399s", &type, name) != 2)
			continue;
		if (strchr(name, '@'))
			continue; /* version nodes */
		if (strncmp(name, "ferry_", 6) != 0)
			fail_msg("libferry.so exports %s", name);
		n++;
	}
	assert_int_equal(pclose(p), 0);
	assert_true(n >= 20);
}

static void test_api_present(void **state)
{
	static const char *api[] = {
		"ferry_connect", "ferry_close",  "ferry_put",
		"ferry_get",     "ferry_del",    "ferry_list",
		"ferry_incr",    "ferry_submit", "ferry_poll",
		"ferry_batch",   "ferry_strerror", "ferry_alloc",
		"ferry_cluster_stat", "ferry_expire",
		"ferry_watch",   "ferry_unwatch", "ferry_event_next",
		"ferry_wait",
	};
	char cmd[4200], out[65536] = {0};
	size_t len = 0, r;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", lib);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((r = fread(out + len, 1, sizeof(out) - 1 - len, p)) > 0)
		len += r;
	pclose(p);
	for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
		char want[64];
		snprintf(want, sizeof(want), " %s\n", api[i]);
		if (!strstr(out, want))
			fail_msg("libferry.so lacks %s", api[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_ferry_symbols),
		cmocka_unit_test(test_api_present),
	};

	find_lib();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
