#!/usr/bin/env bash
# Black-box tests of namespaces through the command line: 'ferry cluster
# up' requires tokens by default (an admin token in DIR/admin.token, mode
# 0600, named in the cluster file) and --open does not; 'ferry ns create'
# prints only the token; a namespace's token (FERRY_TOKEN) confines put,
# get, ls and stat to it; quotas refuse with their own message; touch
# renews a lease and insists on --ttl; a namespace with a short --ttl goes
# with its keys; rm shuts its token out; bad names, bad options, a missing
# token and a namespace's token doing the admin's work all fail clearly.
# The checks run over the fabric (--direct) and, when the node proxy
# checks tokens (its --help offers --admin-token-file), through it too.
# Prints TAP; the cluster and the scratch folder are always removed.
NAME=ferry-ns-cli
. "$(dirname "$0")/lib.sh"
if [ -S /run/ferry/proxy.sock ]; then
	export FERRY_CLUSTER=$HOME_DIR/cluster
fi
unset FERRY_TOKEN

# has PATTERN FILE: grep -qE, for checks.
has() { grep -qE -e "$1" "$2"; }
# as TOKEN ferry-args...: ferry with FERRY_TOKEN=TOKEN.
as() {
	local tok=$1
	shift
	FERRY_TOKEN=$tok f "$@"
}

# ---- help and usage (no cluster needed) ------------------------------------

for cmd in "" create ls stat rm touch set; do
	timeout 10 "$BIN/ferry" ns $cmd --help >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ "$rc" -eq 0 ] && grep -q '^Usage: ferry ns' "$TMP/out" &&
		ok "ferry ns $cmd --help" ||
		not_ok "ferry ns $cmd --help" "exit status $rc"
done
grep -q -- '--ttl DURATION' "$TMP/out" && ok "... set --help names its options" ||
	not_ok "... set --help names its options"
expect 2 "ferry ns without a command exits 2" f ns
expect 2 "an unknown ns command exits 2" f ns frobnicate
has "unknown ns command 'frobnicate'" "$TMP/err" && ok "... and is named" ||
	not_ok "... and is named"
grep -q '^  ns ' <("$BIN/ferry" --help) && ok "ferry --help lists ns" ||
	not_ok "ferry --help lists ns"

# ---- a cluster that requires tokens ----------------------------------------------

cluster_up 64M
ok "cluster up --provider $PROVIDER (tokens by default)"
TOKFILE=$HOME_DIR/admin.token
[ -f "$TOKFILE" ] && [ "$(stat -c %a "$TOKFILE")" = 600 ] &&
	ok "the admin token is in DIR/admin.token, mode 0600" ||
	not_ok "the admin token is in DIR/admin.token, mode 0600" \
		"$(ls -l "$TOKFILE" 2>&1)"
grep -qxE '[0-9a-f]{64}' "$TOKFILE" && [ "$(wc -l <"$TOKFILE")" -eq 1 ] &&
	ok "... one line of 64 hex characters" ||
	not_ok "... one line of 64 hex characters"
grep -qx "admin-token-file $TOKFILE" "$HOME_DIR/cluster" &&
	ok "the cluster file names the admin token file" ||
	not_ok "the cluster file names the admin token file"
expect 0 "cluster status" f cluster status
has "^tokens: required; admin token in $TOKFILE$" "$TMP/out" &&
	ok "... says tokens are required and where the admin's is" ||
	not_ok "... says tokens are required and where the admin's is"
grep -qf "$TOKFILE" "$TMP/out" "$TMP/err" && not_ok "... and prints no token" ||
	ok "... and prints no token"
grep -lf "$TOKFILE" "$HOME_DIR"/*.log >"$TMP/leaks" 2>/dev/null
[ ! -s "$TMP/leaks" ] && ok "no log holds the admin token" ||
	not_ok "no log holds the admin token" "$(cat "$TMP/leaks")"

# Which ways to test: over the fabric always; through the proxy when it
# checks tokens (a proxy before the proxy-ns branch ignores them).
if timeout 10 "$BIN/ferry-proxy" --help 2>&1 | grep -q -- --admin-token-file; then
	ways=(direct proxy)
else
	ways=(direct)
	skip "namespaces through the node proxy" \
		"this ferry-proxy does not check tokens (no --admin-token-file)"
fi
# wargs WAY: ferry's options for that way.
wargs() { [ "$1" = direct ] && echo --direct; }
# via WAY ferry-args...: ferry over that way.
via() {
	local w=$1
	shift
	f $(wargs "$w") "$@"
}
# as_via TOKEN WAY ferry-args...
as_via() {
	local tok=$1
	shift
	FERRY_TOKEN=$tok via "$@"
}

# ---- create, and bad input ---------------------------------------------------------

D=${ways[-1]} # the admin's commands go the last way listed
expect 0 "ns create job1 --ttl 1h --quota 1G" via "$D" ns create job1 --ttl 1h --quota 1G
grep -qxE '[0-9a-f]{64}' "$TMP/out" && [ "$(wc -l <"$TMP/out")" -eq 1 ] &&
	[ ! -s "$TMP/err" ] &&
	ok "... prints only the token: one line of 64 hex characters" ||
	not_ok "... prints only the token: one line of 64 hex characters"
T1=$(cat "$TMP/out")
T2=$(timeout "$CMD_TIMEOUT" "$BIN/ferry" $(wargs "$D") ns create job2 2>"$TMP/err")
T2=${T2:-none}
[ "${#T2}" -eq 64 ] && [ "$T1" != "$T2" ] && ! grep -qx "$T1" "$TOKFILE" &&
	ok "TOKEN=\$(ferry ns create job2): a token of its own" ||
	not_ok "TOKEN=\$(ferry ns create job2): a token of its own" "got '$T2'"

expect 1 "ns create of a taken name fails" via "$D" ns create job1
has "ns create job1: a namespace of that name exists" "$TMP/err" &&
	ok "... saying the name is taken" || not_ok "... saying the name is taken"
[ ! -s "$TMP/out" ] && ok "... and prints no token" || not_ok "... and prints no token"
long=$(printf 'n%.0s' $(seq 1 65))
for bad in 'bad/name' 'a b' "$long" "$(printf 'caf\xc3\xa9')" ''; do
	expect 2 "ns create '${bad:0:20}' is refused" f ns create "$bad"
	has "is not a namespace name: use 1 to 64 of" "$TMP/err" &&
		ok "... saying what a name may be" ||
		not_ok "... saying what a name may be"
done
expect 2 "ns create --ttl 0 is refused" f ns create jobx --ttl 0
expect 2 "ns create --ttl 5x is refused" f ns create jobx --ttl 5x
has '--ttl needs a duration' "$TMP/err" && ok "... saying what a duration is" ||
	not_ok "... saying what a duration is"
expect 2 "ns create --quota lots is refused" f ns create jobx --quota lots
expect 2 "ns create --ops -1 is refused" f ns create jobx --ops -1
expect 2 "ns create --ttl without a value is refused" f ns create jobx --ttl
expect 2 "ns create with an unknown option is refused" f ns create jobx --color red
expect 2 "ns create without NAME is refused" f ns create
expect 2 "ns create with two names is refused" f ns create jobx joby
expect 1 "... none of them was created" via "$D" ns stat jobx
has "ns stat jobx: no such namespace" "$TMP/err" && ok "... (no such namespace)" ||
	not_ok "... (no such namespace)"

# ---- tokens: none, wrong, a namespace's --------------------------------------------

printf 'value of job1\n' >"$TMP/v1"
printf 'value of job2\n' >"$TMP/v2"
printf 'value of the default namespace\n' >"$TMP/v0"
expect 1 "with FERRY_TOKEN set but empty (no token), put is refused" as "" --direct put k <"$TMP/v1"
has "permission denied" "$TMP/err" && has "FERRY_TOKEN" "$TMP/err" &&
	ok "... saying permission denied, and how to get a token" ||
	not_ok "... saying permission denied, and how to get a token"
expect 1 "with no token, ns create is refused" as "" --direct ns create jobx
has "permission denied" "$TMP/err" && ok "... permission denied" ||
	not_ok "... permission denied"
sed "s|^admin-token-file .*|admin-token-file $TMP/nowhere|" "$HOME_DIR/cluster" >"$TMP/cluster.notoken"
expect 1 "with the admin token file unreadable, ns ls is refused" \
	f --cluster "$TMP/cluster.notoken" --direct ns ls
has "permission denied" "$TMP/err" && ok "... permission denied" ||
	not_ok "... permission denied"
wrong=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
expect 1 "a wrong token is refused" as "$wrong" --direct get k
has "permission denied" "$TMP/err" && ok "... permission denied" ||
	not_ok "... permission denied"

for w in "${ways[@]}"; do
	expect 0 "put k as job1 ($w)" as_via "$T1" "$w" put "k-$w" "$TMP/v1"
	expect 0 "put k as job2 ($w)" as_via "$T2" "$w" put "k-$w" "$TMP/v2"
	expect 0 "put k as the admin ($w)" via "$w" put "k-$w" "$TMP/v0"
	expect 0 "get k as job1 ($w)" as_via "$T1" "$w" get "k-$w"
	cmp -s "$TMP/out" "$TMP/v1" && ok "... job1 reads its own value ($w)" ||
		not_ok "... job1 reads its own value ($w)"
	expect 0 "get k as job2 ($w)" as_via "$T2" "$w" get "k-$w"
	cmp -s "$TMP/out" "$TMP/v2" && ok "... job2 reads its own value ($w)" ||
		not_ok "... job2 reads its own value ($w)"
	expect 0 "get k as the admin ($w)" via "$w" get "k-$w"
	cmp -s "$TMP/out" "$TMP/v0" && ok "... the admin reads the default namespace's ($w)" ||
		not_ok "... the admin reads the default namespace's ($w)"
	expect 0 "put only1 as job1 ($w)" as_via "$T1" "$w" put "only1-$w" "$TMP/v1"
	expect 1 "job2 cannot get job1's key ($w)" as_via "$T2" "$w" get "only1-$w"
	has "no such key" "$TMP/err" && ok "... it does not exist for job2 ($w)" ||
		not_ok "... it does not exist for job2 ($w)"
	expect 1 "job2 cannot stat it ($w)" as_via "$T2" "$w" stat "only1-$w"
	expect 1 "job2 cannot rm it ($w)" as_via "$T2" "$w" rm "only1-$w"
	expect 1 "the admin cannot get it either ($w)" via "$w" get "only1-$w"
	expect 0 "job2's ls ($w)" as_via "$T2" "$w" ls
	grep -q "only1" "$TMP/out" && not_ok "... does not list job1's key ($w)" ||
		ok "... does not list job1's key ($w)"
	expect 0 "job1's ls ($w)" as_via "$T1" "$w" ls
	grep -qx "only1-$w" "$TMP/out" && ok "... lists it ($w)" ||
		not_ok "... lists it ($w)"
	expect 1 "a namespace's token cannot list namespaces ($w)" as_via "$T1" "$w" ns ls
	has "permission denied" "$TMP/err" && ok "... permission denied ($w)" ||
		not_ok "... permission denied ($w)"
	expect 1 "... nor create one ($w)" as_via "$T1" "$w" ns create job9
	expect 1 "... nor remove its own ($w)" as_via "$T1" "$w" ns rm job1
	expect 1 "... nor read the servers' statistics ($w)" as_via "$T1" "$w" stat
done

# ---- ls, stat, set, quota ------------------------------------------------------------

expect 0 "ns ls" via "$D" ns ls
has '^NAME +KEYS +BYTES +QUOTA +EXPIRES IN$' "$TMP/out" && ok "... a table with a header" ||
	not_ok "... a table with a header"
has '^job1 +[0-9]+ +[0-9.]+ [KMG]?i?B +1\.0 GiB +(59m[0-9]{2}s|1h00m)$' "$TMP/out" &&
	ok "... job1: its keys, bytes, 1 GiB quota, an hour left" ||
	not_ok "... job1: its keys, bytes, 1 GiB quota, an hour left"
has '^job2 +[0-9]+ +[0-9.]+ [KMG]?i?B +- +never$' "$TMP/out" &&
	ok "... job2: no quota, no expiry" || not_ok "... job2: no quota, no expiry"
expect 0 "ns stat job1" via "$D" ns stat job1
keys=$((2 * ${#ways[@]}))
has "^keys: +$keys$" "$TMP/out" && ok "... counts job1's $keys keys" ||
	not_ok "... counts job1's $keys keys"
has '^quota: +1\.0 GiB \(0\.0% used\)$' "$TMP/out" && ok "... shows the quota" ||
	not_ok "... shows the quota"
has '^expires: [0-9T:-]+Z \(in (59m[0-9]{2}s|1h00m)\)$' "$TMP/out" &&
	ok "... shows the expiry and the time left" ||
	not_ok "... shows the expiry and the time left"
has '^ops/s: +no limit$' "$TMP/out" && has '^bytes/s: +no limit$' "$TMP/out" &&
	ok "... and no rate limits" || not_ok "... and no rate limits"
expect 1 "ns stat of a missing namespace fails" via "$D" ns stat nosuch
has "no such namespace" "$TMP/err" && ok "... saying so" || not_ok "... saying so"

expect 2 "ns set without options is refused" f ns set job2
has "nothing to set" "$TMP/err" && ok "... nothing to set" || not_ok "... nothing to set"
expect 0 "ns set job2 --quota 64K --ops 100 --bytes 1M" \
	via "$D" ns set job2 --quota 64K --ops 100 --bytes 1M
expect 0 "ns stat job2" via "$D" ns stat job2
has '^quota: +64\.0 KiB' "$TMP/out" && has '^ops/s: +100 per node proxy$' "$TMP/out" &&
	has '^bytes/s: +1\.0 MiB per node proxy$' "$TMP/out" &&
	has '^expires: never$' "$TMP/out" &&
	ok "... shows the new limits, the expiry untouched" ||
	not_ok "... shows the new limits, the expiry untouched"
# 64 KiB over 2 servers: 32 KiB each, and the client moves what the other
# does not use; a value of 40 KiB fits, one of 70 KB never does.
head -c 40000 /dev/urandom >"$TMP/40k"
expect 0 "a put over one server's share of job2's quota fits" \
	as_via "$T2" "$D" put big "$TMP/40k"
expect 0 "... and is deleted" as_via "$T2" "$D" rm big
head -c 70000 /dev/urandom >"$TMP/40k"
expect 1 "a put over job2's quota fails" as_via "$T2" "$D" put big "$TMP/40k"
has "namespace quota exceeded" "$TMP/err" && ok "... saying the namespace quota is exceeded" ||
	not_ok "... saying the namespace quota is exceeded"
expect 1 "... and stored nothing" as_via "$T2" "$D" get big
expect 0 "ns set job2 --quota 0 takes the quota away" via "$D" ns set job2 --quota 0
expect 0 "... then the put fits" as_via "$T2" "$D" put big "$TMP/40k"
expect 0 "... and reads back" as_via "$T2" "$D" get big
cmp -s "$TMP/out" "$TMP/40k" && ok "... byte-identical" || not_ok "... byte-identical"

# ---- touch, expiry --------------------------------------------------------------------

expect 2 "ns touch without --ttl is refused" f ns touch job1
has "--ttl DURATION is required" "$TMP/err" && ok "... saying --ttl is required" ||
	not_ok "... saying --ttl is required"
expect 2 "ns touch --ttl never is refused" f ns touch job1 --ttl never
expect 2 "ns touch --quota is not a touch option" f ns touch job1 --ttl 1h --quota 1G
expect 0 "ns touch job1 --ttl 2h" via "$D" ns touch job1 --ttl 2h
has '^job1 expires [0-9T:-]+Z \(in (1h59m|2h00m)\)$' "$TMP/out" &&
	ok "... prints the new expiry" || not_ok "... prints the new expiry"
expect 0 "ns stat after touch" via "$D" ns stat job1
has '^expires: .*\(in (1h59m|2h00m)\)$' "$TMP/out" && ok "... the lease is two hours now" ||
	not_ok "... the lease is two hours now"
expect 1 "ns touch of a missing namespace fails" via "$D" ns touch nosuch --ttl 1h
has "^ferry: ns touch nosuch: no such namespace$" "$TMP/err" && ok "... naming the command and the namespace" ||
	not_ok "... naming the command and the namespace"

expect 0 "ns create brief --ttl 2s" via "$D" ns create brief --ttl 2s
T3=$(cat "$TMP/out")
expect 0 "put into it" as_via "$T3" "$D" put k "$TMP/v1"
expect 0 "... readable at once" as_via "$T3" "$D" get k
gone=0
for i in $(seq 1 100); do
	if ! f --direct ns stat brief; then
		gone=1
		break
	fi
	sleep 0.1
done
[ "$gone" -eq 1 ] && has "no such namespace" "$TMP/err" &&
	ok "the namespace goes when its time is up" ||
	not_ok "the namespace goes when its time is up"
expect 1 "... its token opens nothing" as_via "$T3" "$D" get k
has "permission denied" "$TMP/err" && ok "... permission denied" ||
	not_ok "... permission denied"
expect 0 "ns ls" via "$D" ns ls
grep -q '^brief ' "$TMP/out" && not_ok "... no longer lists it" || ok "... no longer lists it"
expect 0 "ns set job2 --ttl 1h, then --ttl never" via "$D" ns set job2 --ttl 1h
expect 0 "... --ttl never" via "$D" ns set job2 --ttl never
expect 0 "ns stat job2" via "$D" ns stat job2
has '^expires: never$' "$TMP/out" && ok "... no expiry again" || not_ok "... no expiry again"

# ---- rm ------------------------------------------------------------------------------------

expect 0 "ns rm job1" via "$D" ns rm job1
expect 1 "job1's token opens nothing now" as_via "$T1" "$D" get "k-direct"
has "permission denied" "$TMP/err" && ok "... permission denied" ||
	not_ok "... permission denied"
expect 1 "ns rm job1 again fails" via "$D" ns rm job1
has "ns rm job1: no such namespace" "$TMP/err" && ok "... no such namespace" ||
	not_ok "... no such namespace"
expect 0 "job2 still has its keys" as_via "$T2" "$D" get "k-direct"
cmp -s "$TMP/out" "$TMP/v2" && ok "... intact" || not_ok "... intact"
expect 0 "recreating job1" via "$D" ns create job1
T4=$(cat "$TMP/out")
[ "$T4" != "$T1" ] && ok "... gives a new token" || not_ok "... gives a new token"
expect 1 "... the old one still opens nothing" as_via "$T1" "$D" get "k-direct"
expect 0 "... the new one opens an empty namespace" as_via "$T4" "$D" ls
[ ! -s "$TMP/out" ] && ok "... (nothing listed)" || not_ok "... (nothing listed)"

# ---- a server stopped, the proxy killed: 'cluster restart' ---------------------------
# (The server gets SIGTERM: over shm, libfabric refuses a new server under
# the name of one killed with SIGKILL while that one is a zombie, and
# nothing here reaps the cluster's orphans.)

mapfile -t PIDS < <(sed -n 's/^pid //p' "$HOME_DIR/cluster")
kill -TERM "${PIDS[1]}"
check "server 1 stopped" all_gone "${PIDS[1]}"
f cluster status
has "pid ${PIDS[1]}: gone" "$TMP/out" && ok "cluster status says server 1 is gone" ||
	not_ok "cluster status says server 1 is gone"
# As if it had died while appending a change: half a line at the end of
# its state file, which it leaves out (and says so) rather than refuse
# to start.
printf 'ns 00000000000000ff half' >>"$HOME_DIR/server-1.state"
expect 0 "cluster restart" f cluster restart
has "^restarted 127.0.0.1:$((base + 1)) " "$TMP/out" && ok "... restarts server 1" ||
	not_ok "... restarts server 1" "$(cat "$TMP/out" "$TMP/err")"
grep -q "server-1.state, line [0-9]*: cut short at the end" "$HOME_DIR/server-1.log" &&
	ok "... which left out the half line at the end of its state file" ||
	not_ok "... which left out the half line at the end of its state file" \
		"$(tail -5 "$HOME_DIR/server-1.log")"
grep -qE "^restarted (127.0.0.1:$base |the node proxy)" "$TMP/out" &&
	not_ok "... and nothing else" || ok "... and nothing else"
# The proxy that stayed up reaches the new server (after at most a
# time-out, as after any server restart: it greets it again; or, if it
# found the server down while it was stopped, after at most the second
# it fails calls at once). Server 1 came back empty but knows job2 (its
# --state-file): job2's token works on it.
# puts_ok TOKEN WAY TRIES: puts after-restart-1..8, each tried up to
# TRIES times, 0.6 s apart; ok if all went in.
puts_ok() {
	local good=0 i t
	for i in 1 2 3 4 5 6 7 8; do
		for t in $(seq 1 "$3"); do
			as_via "$1" "$2" put "after-restart-$i" "$TMP/v2" && break
			[ "$t" -lt "$3" ] && sleep 0.6
		done && good=$((good + 1))
	done
	[ "$good" -eq 8 ]
}
check "job2's token works on the restarted server, through the proxy that stayed up" \
	puts_ok "$T2" proxy 3
kill -9 "${PIDS[2]}"
check "the proxy killed with SIGKILL" all_gone "${PIDS[2]}"
expect 0 "cluster restart" f cluster restart
has "^restarted the node proxy" "$TMP/out" && ok "... restarts the proxy, only" ||
	not_ok "... restarts the proxy, only" "$(cat "$TMP/out" "$TMP/err")"
expect 0 "a second restart" f cluster restart
has "everything is running" "$TMP/out" && ok "... has nothing to do" ||
	not_ok "... has nothing to do"
for w in "${ways[@]}"; do
	check "job2's token works on both servers ($w)" puts_ok "$T2" "$w" 1
done
expect 0 "ns stat job2 counts its keys on both servers" via "$D" ns stat job2
has '^keys: +([89]|[1-9][0-9]+)$' "$TMP/out" && ok "... (at least the 8 new ones)" ||
	not_ok "... (at least the 8 new ones)" "$(cat "$TMP/out")"

expect 0 "cluster down" f cluster down
[ ! -e "$TOKFILE" ] && ok "cluster down removes the admin token" ||
	not_ok "cluster down removes the admin token"
ls "$HOME_DIR"/server-*.state "$HOME_DIR"/*.cmd >/dev/null 2>&1 &&
	not_ok "cluster down removes the servers' state and commands" ||
	ok "cluster down removes the servers' state and commands"

# ---- an open cluster -----------------------------------------------------------------------

for attempt in 1 2 3 4 5; do
	base=$(pick_ports 4) || break
	f cluster up --dir "$HOME_DIR" --port "$base" --provider "$PROVIDER" \
		--servers 2 --memory 32M --open && break
	f cluster down
done
expect 0 "cluster up --open" test -f "$HOME_DIR/cluster"
[ ! -e "$TOKFILE" ] && ! grep -q '^admin-token-file' "$HOME_DIR/cluster" &&
	ok "... writes no admin token" || not_ok "... writes no admin token"
expect 0 "cluster status" f cluster status
has '^tokens: not required' "$TMP/out" && ok "... says tokens are not required" ||
	not_ok "... says tokens are not required"
expect 0 "with no token, put works (every client is the admin)" as "" put k "$TMP/v0"
expect 0 "... and ns create too" as "" --direct ns create open1
TO=$(cat "$TMP/out")
expect 0 "the namespace's token confines: put" as "$TO" --direct put k "$TMP/v1"
expect 0 "... get" as "$TO" --direct get k
cmp -s "$TMP/out" "$TMP/v1" && ok "... its own value" || not_ok "... its own value"
expect 0 "the admin's k is the default namespace's" as "" --direct get k
cmp -s "$TMP/out" "$TMP/v0" && ok "... untouched" || not_ok "... untouched"
expect 1 "... and the namespace's token cannot manage" as "$TO" --direct ns ls
expect 0 "cluster down" f cluster down

echo "1..$n"
[ "$failed" -eq 0 ]
