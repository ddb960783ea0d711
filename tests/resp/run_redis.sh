#!/usr/bin/env bash
# Proves the RESP compatibility suite against a real redis-server (7.0):
#   bash tests/resp/run_redis.sh
# It starts redis-server on a free loopback port and a Unix socket in a
# scratch folder (no persistence, keyspace notifications for everything),
# then runs, against it:
#   1. test_resp.py        (RESP_TARGET=redis, RESP_UNIX set)
#   2. test_hiredis.c      (compiled here into the scratch folder)
#   3. test_redis_cli.sh
# and prints their TAP as one stream (renumbered, each name prefixed with
# its suite), "1..N", and "N passed, N failed, N skipped". It exits 1 if
# any case failed or a suite did not finish; redis-server is stopped by its
# PID on exit whatever happens.
#
# With RESP_PASSWORD set, redis-server starts with --requirepass and
# every suite authenticates with it (test_resp.py's Auth cases run).
#
# To run the same files against another server (e.g. ferry-proxy's RESP
# port), skip this script and call them directly:
#   RESP_TARGET=ferry RESP_HOST=127.0.0.1 RESP_PORT=P [RESP_UNIX=/path] \
#       python3 tests/resp/test_resp.py
#   ./test_hiredis 127.0.0.1 P
#   bash tests/resp/test_redis_cli.sh 127.0.0.1 P
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SUITE_TIMEOUT=${RESP_SUITE_TIMEOUT:-120}

for tool in redis-server redis-cli cc pkg-config; do
	if ! command -v "$tool" >/dev/null; then
		echo "Bail out! $tool is not installed"
		exit 1
	fi
done

# a Python that can import python3-redis (a pyenv python3 on PATH may not)
PY=
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
	if "$cand" -c 'import redis' 2>/dev/null; then
		PY=$cand
		break
	fi
done
if [ -z "$PY" ]; then
	echo "Bail out! no python3 can import redis (apt-get install python3-redis)"
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/resp-redis.XXXXXX") || exit 1
REDIS_PID=
cleanup() {
	if [ -n "$REDIS_PID" ] && kill -0 "$REDIS_PID" 2>/dev/null; then
		kill "$REDIS_PID" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$REDIS_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$REDIS_PID" 2>/dev/null && kill -9 "$REDIS_PID"
		wait "$REDIS_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

SOCK=$TMP/redis.sock
auth=()
if [ -n "${RESP_PASSWORD:-}" ]; then
	auth=(--requirepass "$RESP_PASSWORD")
	export REDISCLI_AUTH=$RESP_PASSWORD # our own readiness checks
fi
started=
for attempt in 1 2 3 4 5; do
	PORT=$(free_port)
	redis-server --port "$PORT" --bind 127.0.0.1 \
		--unixsocket "$SOCK" --unixsocketperm 700 \
		--save '' --appendonly no --notify-keyspace-events KEA \
		--dir "$TMP" --logfile "$TMP/redis.log" --daemonize no \
		"${auth[@]}" &
	REDIS_PID=$!
	for _ in $(seq 100); do
		if redis-cli -h 127.0.0.1 -p "$PORT" PING 2>/dev/null |
			grep -qx PONG; then
			started=1
			break
		fi
		kill -0 "$REDIS_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$started" ] && break
	# the port was taken between the probe and the start: try another
	kill "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=
done
if [ -z "$started" ]; then
	echo "Bail out! redis-server did not start"
	tail -n 20 "$TMP/redis.log" 2>/dev/null | sed 's/^/# /'
	exit 1
fi
echo "# $(redis-server --version)"
echo "# redis-server pid $REDIS_PID on 127.0.0.1:$PORT and $SOCK"

total=0
passed=0
failed=0
skipped=0

# suite LABEL COMMAND...: runs one TAP-printing program, renumbers its
# cases into the combined stream and counts them.
suite() {
	local label=$1 out rc tap p f s
	shift
	out=$TMP/$label.out
	timeout --kill-after=10 "$SUITE_TIMEOUT" "$@" >"$out" 2>&1
	rc=$?
	tap=$(awk -v label="$label" -v start="$total" -v out="$TMP/counts" '
		/^(not )?ok [0-9]+/ {
			notok = ($1 == "not")
			rest = $0
			sub(/^(not )?ok [0-9]+ */, "", rest)
			start++
			if (rest ~ /^# SKIP/) {
				s++
				printf "ok %d # SKIP [%s] %s\n", start, label, substr(rest, 8)
				next
			}
			sub(/^- */, "", rest)
			if (notok) f++; else p++
			printf "%sok %d - [%s] %s\n", notok ? "not " : "", start, label, rest
			next
		}
		/^1\.\.[0-9]+$/ { next }
		/^[0-9]+ passed, [0-9]+ failed/ { next }
		{ print }
		END { printf "%d %d %d\n", p, f, s > out }
	' "$out")
	[ -n "$tap" ] && printf '%s\n' "$tap"
	read -r p f s <"$TMP/counts"
	total=$((total + p + f + s))
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		total=$((total + 1))
		failed=$((failed + 1))
		echo "not ok $total - [$label] exited with status $rc"
	fi
}

suite resp env RESP_TARGET=redis RESP_HOST=127.0.0.1 RESP_PORT="$PORT" \
	RESP_UNIX="$SOCK" "$PY" "$HERE/test_resp.py"

if cc -std=c11 -Wall -Wextra -O2 $(pkg-config --cflags hiredis) \
	"$HERE/test_hiredis.c" -o "$TMP/test_hiredis" \
	$(pkg-config --libs hiredis) >"$TMP/cc.log" 2>&1; then
	suite hiredis "$TMP/test_hiredis" 127.0.0.1 "$PORT"
else
	total=$((total + 1))
	failed=$((failed + 1))
	echo "not ok $total - [hiredis] compile test_hiredis.c"
	sed 's/^/#   /' "$TMP/cc.log"
fi

suite redis-cli bash "$HERE/test_redis_cli.sh" 127.0.0.1 "$PORT"

if ! kill -0 "$REDIS_PID" 2>/dev/null; then
	total=$((total + 1))
	failed=$((failed + 1))
	echo "not ok $total - redis-server still running after the suites"
fi

echo "1..$total"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
