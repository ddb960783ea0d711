#!/usr/bin/env bash
# The proxy's Redis front end, black-box, with real Redis clients: the
# compatibility suite of tests/resp (python3-redis and raw sockets,
# hiredis, redis-cli) against the RESP port and socket that 'ferry cluster
# up' starts. On the tcp provider the same suite also runs against a real
# redis-server (tests/resp/run_redis.sh), so what it checks is Redis's
# behaviour, not our reading of it.
NAME=ferry-resp
. "$(dirname "$0")/lib.sh"

up=1
for attempt in 1 2 3 4 5; do
	base=$(pick_ports 4) || break
	if f cluster up --dir "$HOME_DIR" --port "$base" \
		--provider "$PROVIDER" --servers 2 --memory 256M; then
		up=0
		break
	fi
	cp "$TMP/err" "$TMP/up.err"
	f cluster down # whatever half-started
done
if [ "$up" -ne 0 ]; then
	not_ok "cluster up ($PROVIDER)" "could not start a cluster"
	cat "$TMP"/up.err "$HOME_DIR"/*.log 2>/dev/null | tail -n 20 | sed 's/^/#   /'
	echo "1..$n"
	exit 1
fi
port=$(awk '$1 == "resp" { sub("redis://127.0.0.1:", "", $2); print $2 }' \
	"$HOME_DIR/cluster")
[ "$port" = $((base + 3)) ] && ok "the cluster file names the RESP port" ||
	not_ok "the cluster file names the RESP port" "got '$port'"

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

expect 0 "cluster down" f cluster down
echo "1..$n"
[ "$failed" -eq 0 ]
