#!/usr/bin/env bash
# The proxy's Redis front end, black-box, with real Redis clients: the
# compatibility suite of tests/resp (python3-redis and raw sockets,
# hiredis, redis-cli) against the RESP port and socket that 'ferry cluster
# up' starts. On the tcp provider the same suite also runs against a real
# redis-server (tests/resp/run_redis.sh), so what it checks is Redis's
# behaviour, not our reading of it. Where 'cluster up' made an admin token
# ($HOME_DIR/admin.token) every client AUTHs with it, and the Redis
# baseline gets it as requirepass. Then a server and proxy of their own
# with an admin token, where Redis clients must AUTH (NOAUTH, WRONGPASS)
# and a namespace's token confines them to it, and a pair without one
# (Redis without a password); Redis itself runs the other way too.
NAME=ferry-resp
. "$(dirname "$0")/lib.sh"

cluster_up 256M
if [ -f "$HOME_DIR/admin.token" ]; then
	RESP_PASSWORD=$(cat "$HOME_DIR/admin.token")
	export RESP_PASSWORD REDISCLI_AUTH=$RESP_PASSWORD
fi
# ns_token CLUSTER_FILE NAME: makes a namespace, prints its token (with
# the cluster file's admin token, as the CLI finds it).
ns_token() {
	timeout "$CMD_TIMEOUT" "$BIN/ferry" --cluster "$1" ns create "$2"
}
ns_a=$(ns_token "$HOME_DIR/cluster" resp-a) &&
	ns_b=$(ns_token "$HOME_DIR/cluster" resp-b) &&
	ok "two namespaces for the Namespaces cases" ||
	not_ok "two namespaces for the Namespaces cases"
port=$(awk '$1 == "resp" { sub("redis://127.0.0.1:", "", $2); print $2 }' \
	"$HOME_DIR/cluster")
[ "$port" = $((base + 3)) ] && ok "the cluster file names the RESP port" ||
	not_ok "the cluster file names the RESP port" "got '$port'"
f cluster status && grep -qx "redis protocol: redis://127.0.0.1:$port" "$TMP/out" &&
	ok "cluster status shows the Redis port" ||
	not_ok "cluster status shows the Redis port"

# suite LABEL COMMAND...: runs a TAP-printing suite; its cases join ours,
# renumbered and labelled, with the details of failures.
suite() {
	local label=$1 rc
	shift
	timeout --kill-after=5 300 "$@" >"$TMP/suite" 2>&1
	rc=$?
	awk -v n="$n" -v label="$label" '
		/^(not )?ok [0-9]+/ {
			n++
			sub(/^ok [0-9]+( -)?/, "ok " n " - [" label "]")
			sub(/^not ok [0-9]+( -)?/, "not ok " n " - [" label "]")
			print
			next
		}
		/^#/ && bad { print }
		{ bad = /^not ok/ ? 1 : (/^#/ ? bad : 0) }
	' "$TMP/suite" | sed -E 's/^(ok|not ok) ([0-9]+) - \[([^]]*)\] (.*)/\1 \2 - [\3] \4/'
	n=$((n + $(grep -cE '^(not )?ok [0-9]+' "$TMP/suite")))
	failed=$((failed + $(grep -E '^not ok [0-9]+' "$TMP/suite" | grep -cv '# SKIP')))
	if [ "$rc" -ne 0 ] && ! grep -qE '^not ok' "$TMP/suite"; then
		not_ok "$label finished" "exit status $rc"
		tail -n 20 "$TMP/suite" | sed 's/^/#   /'
	fi
}

RESP_TARGET=ferry RESP_HOST=127.0.0.1 RESP_PORT=$port \
	RESP_UNIX=$HOME_DIR/redis.sock RESP_NS_TOKENS="${ns_a:-} ${ns_b:-}" \
	suite python3-redis python3 "$ROOT/tests/resp/test_resp.py"
suite hiredis "$BIN/../tests/resp_hiredis" 127.0.0.1 "$port"
suite redis-cli bash "$ROOT/tests/resp/test_redis_cli.sh" 127.0.0.1 "$port"
if [ "$PROVIDER" = tcp ]; then
	suite "real redis-server" bash "$ROOT/tests/resp/run_redis.sh"
fi

# ---- after all that, an idle proxy sleeps ------------------------------------------

# cpu_ticks PID: user+system clock ticks the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
proxy_pid=$(awk '$1 == "pid" { p = $2 } END { print p }' "$HOME_DIR/cluster")
sleep 0.5
t0=$(cpu_ticks "$proxy_pid")
sleep 2
t1=$(cpu_ticks "$proxy_pid")
# 200 ticks would be a core busy: a spinning loop. Allow a few.
[ $((t1 - t0)) -le 20 ] && ok "the idle proxy sleeps after the suites ($((t1 - t0)) ticks in 2 s)" ||
	not_ok "the idle proxy sleeps after the suites" "$((t1 - t0)) ticks in 2 s"

# ---- a bounded request size (--resp-max-request) ---------------------------------

lport=$(pick_ports 1)
tokfile=()
[ -f "$HOME_DIR/admin.token" ] && tokfile=(--admin-token-file "$HOME_DIR/admin.token")
"$BIN/ferry-proxy" --cluster "$HOME_DIR/cluster" --unix "" \
	--resp "127.0.0.1:$lport" --resp-max-request 1M "${tokfile[@]}" \
	>"$TMP/limited.log" 2>&1 &
pids+=($!)
for i in $(seq 1 50); do
	redis-cli -p "$lport" ping >/dev/null 2>&1 && break
	sleep 0.1
done
# limited PAYLOAD-PYTHON-EXPR: the reply to that request, then whether
# the proxy closed the connection.
limited() {
	timeout 60 python3 - "$lport" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
try:
    s.sendall(eval(sys.argv[2]))
except OSError:
    pass
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except OSError:
    pass
print(data.split(b"\r\n")[0].decode(errors="replace"))
PY
}
out=$(limited 'b"*2\r\n$3\r\nGET\r\n$2000000\r\n"')
[ "$out" = "-ERR Protocol error: invalid bulk length" ] &&
	ok "a bulk over --resp-max-request: Redis's error, then closed" ||
	not_ok "a bulk over --resp-max-request: Redis's error, then closed" "got: $out"
out=$(limited 'b"*300000\r\n" + b"$1\r\nx\r\n" * 300000')
case $out in
"-ERR Protocol error: request larger than --resp-max-request")
	ok "many small arguments over the limit: a clear error, then closed" ;;
*) not_ok "many small arguments over the limit: a clear error, then closed" "got: $out" ;;
esac
[ "$(redis-cli -p "$lport" echo still)" = still ] &&
	ok "the proxy keeps serving others" || not_ok "the proxy keeps serving others"
kill "${pids[-1]}" 2>/dev/null

# ---- tokens, and no tokens: a server and a proxy of their own, each way ----------

# ready FILE: 0 once a process wrote "ready" there (--ready-fd), within 15 s.
ready() {
	local i
	for i in $(seq 1 150); do
		grep -q ready "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# mini_up DIR [TOKEN_FILE]: one server and a proxy serving RESP only, in
# DIR, with the admin token of TOKEN_FILE or open; sets mport (the RESP
# port) and mpids.
mini_up() {
	local dir=$1 attempt base spid ppid tok=()
	[ -n "${2:-}" ] && tok=(--admin-token-file "$2")
	mkdir -p "$dir"
	for attempt in 1 2 3; do
		base=$(pick_ports 2) || return 1
		"$BIN/ferry-server" --listen "127.0.0.1:$base" \
			--provider "$PROVIDER" --memory 64M "${tok[@]}" \
			--ready-fd 3 3>"$dir/server.ready" >>"$dir/server.log" 2>&1 &
		spid=$!
		pids+=("$spid")
		ppid=
		if ready "$dir/server.ready"; then
			{
				printf 'provider %s\nserver 127.0.0.1:%s\n' \
					"$PROVIDER" "$base"
				[ -n "${2:-}" ] && printf 'admin-token-file %s\n' "$2"
			} >"$dir/cluster"
			"$BIN/ferry-proxy" --cluster "$dir/cluster" --unix "" \
				--resp "127.0.0.1:$((base + 1))" "${tok[@]}" \
				--ready-fd 3 3>"$dir/proxy.ready" \
				>>"$dir/proxy.log" 2>&1 &
			ppid=$!
			pids+=("$ppid")
			if ready "$dir/proxy.ready"; then
				mport=$((base + 1)) mpids=("$ppid" "$spid")
				mserver=127.0.0.1:$base
				return 0
			fi
		fi
		kill $ppid "$spid" 2>/dev/null
		all_gone $ppid "$spid"
	done
	return 1
}
mini_down() { # LABEL
	kill "${mpids[@]}" 2>/dev/null
	all_gone "${mpids[@]}" && ok "$1: server and proxy stop" ||
		not_ok "$1: server and proxy stop"
	# Over shm a stopped server leaves its region for a successor of its
	# name ('cluster down' removes it; here, the test does).
	if [ "$PROVIDER" = shm ]; then rm -f "/dev/shm/$mserver"; fi
}

sdir=$TMP/secure
mkdir -p "$sdir"
stok=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
(umask 077 && echo "$stok" >"$sdir/admin.token")
if mini_up "$sdir" "$sdir/admin.token"; then
	ok "a server and a proxy with an admin token"
	ta=$(ns_token "$sdir/cluster" ja) && tb=$(ns_token "$sdir/cluster" jb) &&
		ok "namespaces made with the admin token" ||
		not_ok "namespaces made with the admin token"
	out=$(FERRY_TOKEN= ns_token "$sdir/cluster" jc 2>&1)
	case $out in
	*"permission denied"*) ok "no namespace without the admin token" ;;
	*) not_ok "no namespace without the admin token" "got: $out" ;;
	esac
	suite tokens env RESP_TARGET=ferry RESP_HOST=127.0.0.1 RESP_PORT="$mport" \
		RESP_PASSWORD="$stok" RESP_NS_TOKENS="${ta:-} ${tb:-}" \
		RESP_CASES="Auth Namespaces" python3 "$ROOT/tests/resp/test_resp.py"
	# redis-cli, as a user would run it.
	out=$(env -u REDISCLI_AUTH redis-cli -p "$mport" get k 2>&1)
	[ "$out" = "NOAUTH Authentication required." ] &&
		ok "redis-cli without a password: NOAUTH" ||
		not_ok "redis-cli without a password: NOAUTH" "got: $out"
	out=$(REDISCLI_AUTH=wrong redis-cli -p "$mport" get k 2>&1)
	case $out in
	*"WRONGPASS invalid username-password pair or user is disabled."*)
		ok "redis-cli with a wrong password: WRONGPASS" ;;
	*) not_ok "redis-cli with a wrong password: WRONGPASS" "got: $out" ;;
	esac
	REDISCLI_AUTH=${ta:-x} redis-cli -p "$mport" set cli-k from-a >/dev/null 2>&1
	out=$(REDISCLI_AUTH=${tb:-x} redis-cli -p "$mport" get cli-k 2>&1)
	out2=$(REDISCLI_AUTH=${ta:-x} redis-cli -p "$mport" get cli-k 2>&1)
	[ -z "$out" ] && [ "$out2" = from-a ] &&
		ok "redis-cli: each namespace's token sees its own keys" ||
		not_ok "redis-cli: each namespace's token sees its own keys" \
			"jb got '$out', ja got '$out2'"
	! grep -qF -e "$stok" -e "${ta:-none}" -e "${tb:-none}" \
		"$sdir/proxy.log" "$sdir/server.log" &&
		ok "no token in the logs" || not_ok "no token in the logs"
	mini_down "with an admin token"
else
	not_ok "a server and a proxy with an admin token" \
		"$(tail -n 5 "$sdir"/*.log 2>/dev/null)"
fi

# Open (no admin token): Redis without a password, where a namespace's
# token still moves a connection into its namespace.
odir=$TMP/open
if mini_up "$odir"; then
	ok "a server and a proxy without an admin token"
	oa=$(FERRY_TOKEN= ns_token "$odir/cluster" oa) &&
		ob=$(FERRY_TOKEN= ns_token "$odir/cluster" ob) &&
		ok "namespaces made in an open cluster" ||
		not_ok "namespaces made in an open cluster"
	suite open env -u RESP_PASSWORD -u REDISCLI_AUTH RESP_TARGET=ferry \
		RESP_HOST=127.0.0.1 RESP_PORT="$mport" \
		RESP_NS_TOKENS="${oa:-} ${ob:-}" RESP_CASES="Connection Namespaces" \
		python3 "$ROOT/tests/resp/test_resp.py"
	mini_down "open"
else
	not_ok "a server and a proxy without an admin token" \
		"$(tail -n 5 "$odir"/*.log 2>/dev/null)"
fi

# Redis the other way than the suites against 'cluster up' ran it: with
# requirepass if they had no password, without if they had one.
if [ "$PROVIDER" = tcp ]; then
	if [ -z "${RESP_PASSWORD:-}" ]; then
		suite "real redis-server, requirepass" env RESP_PASSWORD="$stok" \
			bash "$ROOT/tests/resp/run_redis.sh"
	else
		suite "real redis-server, no password" \
			env -u RESP_PASSWORD -u REDISCLI_AUTH \
			bash "$ROOT/tests/resp/run_redis.sh"
	fi
fi

expect 0 "cluster down" f cluster down
echo "1..$n"
[ "$failed" -eq 0 ]
