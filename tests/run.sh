#!/usr/bin/env bash
# Runs every test tier and prints one closing line: "N passed, N failed".
#   1. unit tests (tests/unit), once;
#   2. integration tests (tests/integ) against real ferry-server processes,
#      once per fabric provider (tcp, shm), each in its own process;
#   3. black-box CLI scripts (tests/cli/test_*.sh), once per provider;
#   4. in a sanitizer build (make sanitize), each fuzz target of
#      tests/fuzz for FERRY_FUZZ_SECONDS (default 30).
# Each executable prints TAP ("ok N - name" / "not ok N - name"; "ok N #
# SKIP reason" is counted apart); a test process that crashes or outlives
# its time-out counts as one failure.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
ROOT=$PWD
export FERRY_BIN="$ROOT/$BUILD/bin"
export CMOCKA_MESSAGE_OUTPUT=TAP
PROVIDERS=${FERRY_TEST_PROVIDERS:-"tcp shm"}
TIMEOUT=${FERRY_TEST_TIMEOUT:-300}
pass=0
fail=0
skipped=0
failed=()

# A sanitizer build: every process a test starts (servers and proxies
# too) writes its reports to files in SANLOG, and a test that leaves one
# fails. Leaks are looked for in the servers and the proxies when they
# stop, and in the unit tests; not in client programs (the CLI and the
# other tests are linked with tests/sanitize_client.c, which turns it
# off): at exit, LeakSanitizer stops the world with ptrace, and it hung
# (one process spinning in sched_yield, its tracer in waitpid) on a
# direct-mode client whose libfabric threads had come and gone.
SANLOG=
if grep -qs '^FERRY_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
	SANLOG=$(mktemp -d /tmp/ferry-sanitize.XXXXXX)
	mkdir -p "$SANLOG.seen" # reports once read, and what a fuzz crash leaves
	export ASAN_OPTIONS="log_path=$SANLOG/asan"
	export UBSAN_OPTIONS="log_path=$SANLOG/ubsan:print_stacktrace=1:halt_on_error=1"
	export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
	TIMEOUT=$((TIMEOUT * 2))
fi

run() { # label, command...
	local label=$1 out rc ok bad
	shift
	out=$(timeout --kill-after=10 "$TIMEOUT" "$@" 2>&1)
	rc=$?
	if [ -n "$SANLOG" ] && [ -n "$(ls -A "$SANLOG")" ]; then
		# Numbered, so that it counts as a failure even when every
		# case passed (a server's report, say, at its exit).
		out+=$'\n'"not ok 0 - sanitizer reports:"$'\n'"$(head -n 40 "$SANLOG"/*)"
		mv "$SANLOG"/* "$SANLOG.seen/"
	fi
	# cmocka writes a skipped case as "not ok N # SKIP name".
	ok=$(grep -E '^ok [0-9]+' <<<"$out" | grep -cv '# SKIP')
	skip=$(grep -cE '^(not )?ok [0-9]+ # SKIP' <<<"$out")
	bad=$(grep -E '^not ok [0-9]+' <<<"$out" | grep -cv '# SKIP')
	grep -E '^(not )?ok [0-9]+|^# .*wedges' <<<"$out" | sed "s|^|[$label] |"
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1 # crashed, timed out, or failed outside a test case
		echo "[$label] not ok - exited with status $rc"
	fi
	if [ "$bad" -gt 0 ]; then
		echo "----- output of $label -----"
		tail -n 60 <<<"$out"
		echo "-----"
		failed+=("$label")
	fi
	pass=$((pass + ok))
	fail=$((fail + bad))
	skipped=$((skipped + skip))
}

for t in "$BUILD"/tests/test_*; do
	name=$(basename "$t")
	if [ -f "tests/unit/$name.c" ]; then
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:detect_leaks=1} \
			run "$name" "$t"
	else
		for p in $PROVIDERS; do
			FERRY_TEST_PROVIDER=$p run "$name/$p" "$t"
		done
	fi
done
for t in tests/cli/test_*.sh; do
	[ -e "$t" ] || continue
	for p in $PROVIDERS; do
		FERRY_TEST_PROVIDER=$p run "$(basename "$t" .sh)/$p" bash "$t"
	done
done

if [ -n "$SANLOG" ]; then
	for f in "$BUILD"/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		run "$name" bash -c '"$1" -max_total_time="$2" -artifact_prefix="$3/" \
			-print_final_stats=1 2>&1 && echo "ok 1 - $4"' \
			_ "$f" "${FERRY_FUZZ_SECONDS:-30}" "$SANLOG.seen" "$name"
	done
	rmdir "$SANLOG"
	if [ ${#failed[@]} -gt 0 ]; then
		echo "sanitizer reports and fuzz inputs: $SANLOG.seen"
	else
		rm -rf "$SANLOG.seen"
	fi
fi

[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
