#!/usr/bin/env bash
# The proxy's Redis front end, black-box, with real Redis clients: the
# compatibility suite of tests/resp (python3-redis and raw sockets,
# hiredis, redis-cli) against the RESP port and socket that 'ferry cluster
# up' starts. On the tcp provider the same suite also runs against a real
# redis-server (tests/resp/run_redis.sh), so what it checks is Redis's
# behaviour, not our reading of it.
NAME=ferry-resp
. "$(dirname "$0")/lib.sh"

cluster_up 256M
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
	RESP_UNIX=$HOME_DIR/redis.sock suite python3-redis python3 "$ROOT/tests/resp/test_resp.py"
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
"$BIN/ferry-proxy" --cluster "$HOME_DIR/cluster" --unix "" \
	--resp "127.0.0.1:$lport" --resp-max-request 1M \
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

expect 0 "cluster down" f cluster down
echo "1..$n"
[ "$failed" -eq 0 ]
