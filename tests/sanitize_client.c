/*
 * Linked into the client programs of a sanitizer build (the CLI and the
 * tests): leaks are looked for in the servers and the proxy, which must
 * free everything they hold when they stop, and in the unit tests
 * (tests/run.sh turns it on for them), not in clients that may end with
 * connections open on purpose.
 */
const char *__asan_default_options(void);

const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
