#!/usr/bin/env bash
# Black-box tests of the ferry command line, the way a user runs it: a real
# 'ferry cluster up' (servers and node proxy) on free ports with the
# provider from $FERRY_TEST_PROVIDER, values through stdin, stdout and
# files compared byte for byte, listing, removal, expiry (put --ttl,
# expire, stat), errors with their exit codes and messages, --help
# everywhere, and 'cluster down' stopping every process it started. Prints
# TAP; the cluster and the scratch folder are always removed (trap),
# whatever fails.
NAME=ferry-cli
. "$(dirname "$0")/lib.sh"

# ---- help and usage (no cluster needed) ------------------------------------

help_ok() { # program description args...
	local prog=$1 desc=$2 rc
	shift 2
	timeout 10 "$prog" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q '^Usage' "$TMP/out"; then
		ok "$desc"
	else
		not_ok "$desc" "exit status $rc; Usage on stdout expected"
	fi
}

help_ok "$BIN/ferry" "ferry --help" --help
help_ok "$BIN/ferry" "ferry -h" -h
help_ok "$BIN/ferry-server" "ferry-server --help" --help
if [ -x "$BIN/ferry-proxy" ]; then
	help_ok "$BIN/ferry-proxy" "ferry-proxy --help" --help
fi
for cmd in put get rm ls expire stat wait watch cluster bench; do
	help_ok "$BIN/ferry" "ferry $cmd --help" "$cmd" --help
done
help_ok "$BIN/ferry" "ferry cluster up --help" cluster up --help
BENCH_NS=$(dirname "$0")/../../scripts/bench-ns.sh
help_ok "$BENCH_NS" "scripts/bench-ns.sh --help" --help
for bad in "--counts 500,200" "--counts 50 --logins 100" "--logins many" "--logins 0" \
	"--no-such-option"; do
	# shellcheck disable=SC2086 # the options split on purpose
	expect 2 "scripts/bench-ns.sh $bad exits 2" \
		sh -c "timeout 10 '$BENCH_NS' $bad 2>'$TMP/err'"
done

expect 2 "unknown command exits 2" f no-such-command
grep -q "unknown command" "$TMP/err" && ok "unknown command is named" ||
	not_ok "unknown command is named"
expect 2 "unknown option exits 2" f --no-such-option
expect 2 "ferry without a command exits 2" f
expect 2 "ferry-server with a bad option exits 2" \
	sh -c "timeout 10 '$BIN/ferry-server' --memory lots 2>'$TMP/err'"
expect 2 "ferry-proxy with a bad --frame-timeout exits 2" \
	sh -c "timeout 10 '$BIN/ferry-proxy' --frame-timeout soon 2>'$TMP/err'"
expect 2 "ferry-proxy with more --max-inflight than it can hold exits 2" \
	sh -c "timeout 10 '$BIN/ferry-proxy' --max-inflight 65417 2>'$TMP/err'"
expect 2 "ferry-server with a number that is not one exits 2" \
	sh -c "timeout 10 '$BIN/ferry-server' --spin-us 50x 2>'$TMP/err'"
grep -q "bad value for --spin-us: 50x" "$TMP/err" && ok "... and names it" ||
	not_ok "... and names it" "$(head -c 200 "$TMP/err")"
for w in soon 50ms; do
	expect 2 "ferry-server with --watcher-timeout $w exits 2" \
		sh -c "timeout 10 '$BIN/ferry-server' --watcher-timeout $w 2>'$TMP/err'"
	grep -q "bad value for --watcher-timeout: $w" "$TMP/err" &&
		ok "... and names the option" ||
		not_ok "... and names the option" "$(head -c 200 "$TMP/err")"
done
expect 2 "cluster up with a bad provider exits 2" \
	f cluster up --dir "$HOME_DIR" --provider nosuch
expect 2 "cluster up with --servers that is not a number exits 2" \
	f cluster up --dir "$HOME_DIR" --servers 2x
expect 2 "bench with --rounds that is not a number exits 2" \
	f bench --rounds 3x
expect 1 "get without a cluster fails" f get somekey
grep -qi "no cluster" "$TMP/err" && ok "... and says there is no cluster" ||
	not_ok "... and says there is no cluster"
FERRY_CLUSTER=$TMP/elsewhere expect 1 "get with FERRY_CLUSTER naming nothing fails" \
	f get somekey
grep -q "no cluster description at $TMP/elsewhere" "$TMP/err" &&
	ok "... and names that file" ||
	not_ok "... and names that file" "$(head -c 200 "$TMP/err")"
expect 1 "cluster restart without a cluster fails" f cluster restart
grep -q "no cluster at" "$TMP/err" && ok "... and says there is no cluster" ||
	not_ok "... and says there is no cluster"

# ---- a cluster ------------------------------------------------------------------

cluster_up 64M
ok "cluster up --servers 2 --provider $PROVIDER"
[ -f "$HOME_DIR/cluster" ] && grep -q "^provider $PROVIDER" "$HOME_DIR/cluster" &&
	[ "$(grep -c '^server ' "$HOME_DIR/cluster")" -eq 2 ] &&
	ok "cluster file names the provider and 2 servers" ||
	not_ok "cluster file names the provider and 2 servers"
mapfile -t pids < <(awk '$1 == "pid" { print $2 }' "$HOME_DIR/cluster")
[ "${#pids[@]}" -ge 2 ] && ok "cluster file records the processes" ||
	not_ok "cluster file records the processes" "pids: ${pids[*]}"

expect 1 "a second cluster up in the same folder is refused" \
	f cluster up --dir "$HOME_DIR" --port "$base" --provider "$PROVIDER"

expect 0 "cluster status" f cluster status
[ "$(grep -c 'running' "$TMP/out")" -eq "${#pids[@]}" ] &&
	[ "$(grep -cE '^127\.0\.0\.1:[0-9]+ +up' "$TMP/out")" -eq 2 ] &&
	ok "cluster status shows every process running and 2 servers up" ||
	not_ok "cluster status shows every process running and 2 servers up"

# ---- values -------------------------------------------------------------------------

printf 'hello, ferry\n' >"$TMP/small"
expect 0 "put from stdin" f put greeting <"$TMP/small"
expect 0 "get to stdout" f get greeting
cmp -s "$TMP/out" "$TMP/small" && ok "stdin -> stdout is byte-identical" ||
	not_ok "stdin -> stdout is byte-identical"

head -c 5000000 /dev/urandom >"$TMP/big"
expect 0 "put a 5 MB file" f put big "$TMP/big"
expect 0 "get it into a file" f get big "$TMP/big.back"
cmp -s "$TMP/big" "$TMP/big.back" && ok "5 MB file -> file is byte-identical" ||
	not_ok "5 MB file -> file is byte-identical"
expect 0 "get it to stdout" f get big
cmp -s "$TMP/big" "$TMP/out" && ok "5 MB file -> stdout is byte-identical" ||
	not_ok "5 MB file -> stdout is byte-identical"
expect 0 "get it with --direct (fabric, no proxy)" f --direct get big
cmp -s "$TMP/big" "$TMP/out" && ok "--direct read is byte-identical" ||
	not_ok "--direct read is byte-identical"

head -c 300000 /dev/urandom >"$TMP/bin"
expect 0 "put binary data through a pipe" \
	sh -c "cat '$TMP/bin' | timeout $CMD_TIMEOUT '$BIN/ferry' put bin - >'$TMP/out' 2>'$TMP/err'"
expect 0 "get binary data" f get bin -
cmp -s "$TMP/bin" "$TMP/out" && ok "binary pipe round trip is byte-identical" ||
	not_ok "binary pipe round trip is byte-identical"
expect 0 "put with --direct" f --direct put direct "$TMP/bin"
expect 0 "read it back through the proxy" f get direct
cmp -s "$TMP/bin" "$TMP/out" && ok "--direct put, proxy get: identical" ||
	not_ok "--direct put, proxy get: identical"

expect 0 "put an empty value" f put empty /dev/null
expect 0 "get the empty value" f get empty
[ ! -s "$TMP/out" ] && ok "the empty value is empty" || not_ok "the empty value is empty"

expect 0 "overwrite a value" f put greeting "$TMP/bin"
expect 0 "get the new value" f get greeting
cmp -s "$TMP/bin" "$TMP/out" && ok "overwrite replaced every byte" ||
	not_ok "overwrite replaced every byte"

expect 1 "put --create on an existing key fails" f put --create greeting "$TMP/small"
grep -qi "exists" "$TMP/err" && ok "... saying it exists" || not_ok "... saying it exists"
expect 1 "put --replace on a missing key fails" f put --replace nokey "$TMP/small"
expect 0 "put --create on a new key" f put --create newkey "$TMP/small"

expect 0 "stat KEY" f stat big
grep -qE '^size: +5000000$' "$TMP/out" && ok "stat shows the size" ||
	not_ok "stat shows the size"
expect 0 "stat (cluster)" f stat
grep -qE '^total: 2 servers \(0 down\)' "$TMP/out" && ok "stat shows 2 servers up" ||
	not_ok "stat shows 2 servers up"

# ---- expiry ---------------------------------------------------------------------------

expect 0 "stat of a key without expiry" f stat big
grep -qE '^expires: never$' "$TMP/out" && ok "stat shows no expiry for a plain key" ||
	not_ok "stat shows no expiry for a plain key"
expect 0 "put --ttl 30s" f put --ttl 30s ttl/a "$TMP/small"
expect 0 "stat of a key with a ttl" f stat ttl/a
grep -qE '^expires: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \(in (29\.[0-9]|30\.0)s\)$' "$TMP/out" &&
	ok "stat shows the expiry and the time left" ||
	not_ok "stat shows the expiry and the time left"
expect 0 "stat with --direct" f --direct stat ttl/a
grep -qE '^expires: .*\(in (29\.[0-9]|30\.0)s\)$' "$TMP/out" &&
	ok "... the same expiry over the fabric" || not_ok "... the same expiry over the fabric"
expect 0 "put --ttl 300ms" f put --ttl 300ms ttl/short "$TMP/small"
expect 0 "... readable at once" f get ttl/short
sleep 0.5
expect 1 "... gone after 300 ms" f get ttl/short
grep -q "no such key" "$TMP/err" && ok "... as no such key" || not_ok "... as no such key"
expect 2 "put --ttl 0 is refused" f put --ttl 0 ttl/b "$TMP/small"
expect 2 "put --ttl with a bad duration is refused" f put --ttl 5x ttl/b "$TMP/small"
expect 1 "... and stored nothing" f get ttl/b

expect 0 "expire KEY 2m" f expire greeting 2m
expect 0 "stat after expire" f stat greeting
grep -qE '^expires: .*\(in (1m59s|2m00s)\)$' "$TMP/out" && ok "stat shows the new expiry" ||
	not_ok "stat shows the new expiry"
expect 1 "expire --nx on a key with an expiry fails" f expire --nx greeting 5m
grep -q "unchanged" "$TMP/err" && ok "... saying it is unchanged" ||
	not_ok "... saying it is unchanged"
expect 0 "expire --gt with a later time" f expire --gt greeting 5m
expect 0 "stat after --gt" f stat greeting
grep -qE '^expires: .*\(in (4m59s|5m00s)\)$' "$TMP/out" && ok "--gt moved the expiry" ||
	not_ok "--gt moved the expiry"
expect 0 "expire KEY --persist" f expire greeting --persist
expect 0 "stat after --persist" f stat greeting
grep -qE '^expires: never$' "$TMP/out" && ok "--persist removed the expiry" ||
	not_ok "--persist removed the expiry"
expect 1 "--persist again has nothing to remove" f expire greeting --persist
expect 0 "get still works after expire changes" f get greeting
cmp -s "$TMP/bin" "$TMP/out" && ok "expire left the value as it was" ||
	not_ok "expire left the value as it was"
expect 0 "put a key to expire now" f put ttl/now "$TMP/small"
expect 0 "expire KEY 0 deletes it" f expire ttl/now 0
expect 1 "... it is gone" f get ttl/now
expect 1 "expire of a missing key fails" f expire no/such/key 10s
grep -q "no such key" "$TMP/err" && ok "... with a clear message" ||
	not_ok "... with a clear message"
expect 2 "expire without a duration is a usage error" f expire greeting
expect 2 "expire with a bad duration is a usage error" f expire greeting 10x
expect 2 "expire with a duration and --persist is a usage error" \
	f expire greeting 10s --persist
expect 1 "expire --nx --xx is refused" f expire --nx --xx greeting 10s

# ---- missing keys -------------------------------------------------------------------

expect 1 "get of a missing key fails" f get no/such/key
grep -q "no such key" "$TMP/err" && ok "... with a clear message" ||
	not_ok "... with a clear message"
[ ! -s "$TMP/out" ] && ok "... and writes nothing to stdout" ||
	not_ok "... and writes nothing to stdout"
expect 1 "stat of a missing key fails" f stat no/such/key
expect 1 "rm of a missing key fails" f rm no/such/key
grep -q "no such key" "$TMP/err" && ok "... with a clear message" ||
	not_ok "... with a clear message"

# ---- listing and removal --------------------------------------------------------------

for k in ls/b ls/a ls/c ls/ab lt/x lr/y; do
	printf '%s' "$k" | timeout "$CMD_TIMEOUT" "$BIN/ferry" put "$k" || true
done
expect 0 "ls PREFIX" f ls ls/
printf 'ls/a\nls/ab\nls/b\nls/c\n' >"$TMP/want"
cmp -s "$TMP/want" "$TMP/out" && ok "ls PREFIX lists exactly the prefix, sorted" ||
	not_ok "ls PREFIX lists exactly the prefix, sorted"
expect 0 "ls (everything)" f ls
for k in greeting big bin empty newkey ls/a lt/x lr/y; do
	grep -qx "$k" "$TMP/out" || { not_ok "ls lists $k"; continue; }
done
sort -c "$TMP/out" 2>/dev/null && ok "ls output is sorted" || not_ok "ls output is sorted"
expect 0 "ls of an unused prefix" f ls zzz/
[ ! -s "$TMP/out" ] && ok "... lists nothing" || not_ok "... lists nothing"

expect 0 "rm two keys" f rm ls/a ls/b
expect 1 "removed keys are gone" f get ls/a
expect 0 "ls after rm" f ls ls/
printf 'ls/ab\nls/c\n' >"$TMP/want"
cmp -s "$TMP/want" "$TMP/out" && ok "ls no longer lists removed keys" ||
	not_ok "ls no longer lists removed keys"

# ---- waiting and watching ----------------------------------------------------

# bounded_wait PID SECONDS: waits for a background process we started; its
# exit status, or 124 if it is still running then (it is killed).
bounded_wait() {
	local pid=$1 i
	for i in $(seq 1 $(($2 * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

# wait_tests LABEL [--direct]: ferry wait, woken by a put from another
# process, and its time-out.
wait_tests() {
	local label=$1 rc
	shift
	expect 1 "wait --timeout 300ms on a missing key exits 1 ($label)" \
		f "$@" wait wait/missing --timeout 300ms
	grep -q "still missing after 300ms" "$TMP/err" &&
		ok "... saying it is still missing ($label)" ||
		not_ok "... saying it is still missing ($label)"
	expect 0 "wait on an existing key exits 0 at once ($label)" \
		f "$@" wait greeting --timeout 5s
	timeout "$CMD_TIMEOUT" "$BIN/ferry" "$@" wait "wait/bg/$label" \
		>"$TMP/wait.out" 2>"$TMP/wait.err" &
	local wpid=$!
	pids+=("$wpid")
	sleep 1.5
	if kill -0 "$wpid" 2>/dev/null; then
		ok "wait blocks while the key is missing ($label)"
	else
		not_ok "wait blocks while the key is missing ($label)" \
			"it exited: $(cat "$TMP/wait.err")"
	fi
	expect 0 "put from another process" f put "wait/bg/$label" <"$TMP/small"
	bounded_wait "$wpid" 10
	rc=$?
	[ "$rc" -eq 0 ] && ok "the put wakes the waiter, exit 0 ($label)" ||
		not_ok "the put wakes the waiter, exit 0 ($label)" \
			"exit status $rc: $(cat "$TMP/wait.err")"
}

wait_tests direct --direct
wait_tests proxy

expect 2 "wait without a key is a usage error" f wait
expect 2 "wait with a bad --timeout is a usage error" f wait k --timeout 5x
expect 2 "watch --count 0 is a usage error" f watch w/ --count 0
expect 2 "watch --exact of an empty key is a usage error" f watch --exact ""

# A watch over the fabric: it is ready once an event of a sync key comes
# back; then every kind of change shows, in order, keys escaped.
timeout "$CMD_TIMEOUT" "$BIN/ferry" --direct watch wt/ --timeout 40s \
	>"$TMP/watch.out" 2>"$TMP/watch.err" &
wpid=$!
pids+=("$wpid")
synced=0
for i in $(seq 1 100); do
	printf '%s' "$i" | timeout "$CMD_TIMEOUT" "$BIN/ferry" put wt/sync || true
	if grep -q '^set wt/sync$' "$TMP/watch.out" 2>/dev/null; then
		synced=1
		break
	fi
	sleep 0.2
done
[ "$synced" -eq 1 ] && ok "watch reports a put (set KEY)" ||
	not_ok "watch reports a put (set KEY)" "$(cat "$TMP/watch.err")"
f put wt/a <"$TMP/small"
f expire wt/a 5m
f expire wt/a --persist
f rm wt/a
odd=$(printf 'wt/x\001y\\z')
f put --ttl 300ms "$odd" <"$TMP/small"
cat >"$TMP/want" <<'WANT'
set wt/a
expire wt/a
persist wt/a
del wt/a
set wt/x\x01y\\z
expire wt/x\x01y\\z
expired wt/x\x01y\\z
WANT
for i in $(seq 1 50); do
	grep -v '^set wt/sync$' "$TMP/watch.out" >"$TMP/got"
	cmp -s "$TMP/want" "$TMP/got" && break
	sleep 0.2
done
cmp -s "$TMP/want" "$TMP/got" &&
	ok "watch prints set, expire, persist, del, set, expire, expired in order, escaped" ||
	not_ok "watch prints set, expire, persist, del, set, expire, expired in order, escaped" \
		"got: $(tr '\n' '|' <"$TMP/got")"
kill "$wpid" 2>/dev/null
wait "$wpid" 2>/dev/null

expect 0 "watch --timeout with nothing happening exits 0" \
	f --direct watch quiet/ --timeout 300ms
[ ! -s "$TMP/out" ] && ok "... and prints nothing" || not_ok "... and prints nothing"
expect 1 "watch --count 1 --timeout 300ms with nothing happening exits 1" \
	f --direct watch quiet/ --count 1 --timeout 300ms
grep -q "0 of 1 events" "$TMP/err" && ok "... saying how many came" ||
	not_ok "... saying how many came"

# --exact and --count: only the key itself, and it stops after N events.
timeout "$CMD_TIMEOUT" "$BIN/ferry" --direct watch --exact wc/k --count 2 \
	--timeout 40s >"$TMP/watch.out" 2>"$TMP/watch.err" &
wpid=$!
pids+=("$wpid")
for i in $(seq 1 200); do
	kill -0 "$wpid" 2>/dev/null || break
	f put wc/kk <"$TMP/small"
	f put wc/k <"$TMP/small"
	sleep 0.1
done
bounded_wait "$wpid" 10
rc=$?
[ "$rc" -eq 0 ] && [ "$(grep -c '^set wc/k$' "$TMP/watch.out")" -eq 2 ] &&
	[ "$(wc -l <"$TMP/watch.out")" -eq 2 ] &&
	ok "watch --exact --count 2 prints 2 events of the key only, exit 0" ||
	not_ok "watch --exact --count 2 prints 2 events of the key only, exit 0" \
		"exit status $rc: $(tr '\n' '|' <"$TMP/watch.out")"

# ---- bench --notify -----------------------------------------------------------------

# A short run on this cluster, every mode: the table and a row per mode.
expect 0 "bench --notify 20 --sizes none --no-redis" \
	f --cluster "$HOME_DIR/cluster" bench --notify 20 --sizes none --no-redis
grep -q '^### Notification latency' "$TMP/out" &&
	[ "$(grep -cE '^\| (direct|proxy-unix|proxy-tcp) +\| +20 \|' "$TMP/out")" -eq 3 ] &&
	ok "... prints the notification table, 20 samples in each mode" ||
	not_ok "... prints the notification table, 20 samples in each mode" \
		"$(tr '\n' '|' <"$TMP/out" | tail -c 600) $(cat "$TMP/err")"
expect 2 "bench --sizes none with nothing else to measure exits 2" \
	f bench --sizes none --no-redis

# ---- down -------------------------------------------------------------------------------

expect 0 "cluster down" f cluster down
all_gone "${pids[@]}" && ok "cluster down stopped every process" ||
	not_ok "cluster down stopped every process" "still running: ${pids[*]}"
[ ! -e "$HOME_DIR/cluster" ] && ok "cluster down removed the cluster file" ||
	not_ok "cluster down removed the cluster file"
expect 1 "get after down fails" f get greeting
expect 1 "cluster down again fails (nothing to stop)" f cluster down

echo "1..$n"
[ "$failed" -eq 0 ]
