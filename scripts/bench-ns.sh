#!/usr/bin/env bash
# 'make bench-ns': what namespaces cost a server as their number grows,
# counted in instructions (callgrind), which a noisy machine does not move.
# See --help.
set -uo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/bench-ns.sh [--counts LIST] [--logins M] [--state]
                           [--build DIR]

Starts one ferry-server under valgrind's callgrind (tcp provider, on a
free loopback port, with an admin token) and a node proxy, then, for each
count N in LIST (ascending), creates namespaces through the proxy until
there are N, and has M of them log in (M fresh processes, each presenting
a different namespace's token to the proxy and putting one key: the proxy
asks the servers about each token, NS_AUTH). It prints a markdown table
with the server's instructions per namespace created and per login, each
counted over that phase alone (callgrind_control zeroes the counters
before a phase and dumps them after).

A server that finds a token by scanning every namespace spends about as
many instructions per login as there are namespaces, times a constant:
the figures grow with N. One that finds it through an index does not.

  --counts LIST  namespace counts, ascending (default 500,2000)
  --logins M     logins per count (default 100)
  --state        the server keeps its namespaces in a state file
                 (--state-file, as 'ferry cluster up' starts it), which
                 it rewrites on every change
  --build DIR    the build folder with bin/ (default: the repository's
                 build/)

Needs valgrind (callgrind_control, callgrind_annotate; 'make bench-ns'
installs it). Takes about 15 s with the defaults, a minute with --state.
EOF
}

COUNTS=500,2000
LOGINS=100
STATE=0
BUILD=$(dirname "$0")/../build
while [ $# -gt 0 ]; do
	case "$1" in
	--counts) COUNTS=$2; shift 2 ;;
	--logins) LOGINS=$2; shift 2 ;;
	--state) STATE=1; shift ;;
	--build) BUILD=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench-ns: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case "$LOGINS" in '' | *[!0-9]* | 0) echo "bench-ns: --logins wants a number, at least 1" >&2; exit 2 ;; esac
IFS=, read -r -a NS <<<"$COUNTS"
prev=0
for n in "${NS[@]}"; do
	case "$n" in '' | *[!0-9]*) echo "bench-ns: --counts wants numbers" >&2; exit 2 ;; esac
	if [ "$n" -le "$prev" ] || [ "$n" -lt "$LOGINS" ]; then
		echo "bench-ns: --counts must ascend, each at least --logins" >&2
		exit 2
	fi
	prev=$n
done
for t in valgrind callgrind_control callgrind_annotate; do
	command -v $t >/dev/null || { echo "bench-ns: needs $t (apt-get install valgrind)" >&2; exit 1; }
done
B=$(cd "$BUILD/bin" 2>/dev/null && pwd) || { echo "bench-ns: no $BUILD/bin (run make)" >&2; exit 1; }

D=$(mktemp -d /tmp/ferry-bench-ns.XXXXXX)
SP="" PP=""
cleanup() {
	[ -n "$PP" ] && kill "$PP" 2>/dev/null && wait "$PP" 2>/dev/null
	[ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

progress() { [ -t 2 ] && printf '\r%-60s' "$*" >&2; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

state_opt=()
[ "$STATE" = 1 ] && state_opt=(--state-file "$D/server.state")
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$D/admin.token"
chmod 600 "$D/admin.token"
PORT=$(free_port)
printf 'provider tcp\nserver 127.0.0.1:%s\nadmin-token-file %s\n' "$PORT" "$D/admin.token" >"$D/cluster"
valgrind --tool=callgrind --callgrind-out-file="$D/cg.out" \
	"$B/ferry-server" --listen "127.0.0.1:$PORT" --memory 64M \
	--admin-token-file "$D/admin.token" "${state_opt[@]}" >"$D/server.log" 2>&1 &
SP=$!
for _ in $(seq 1 300); do grep -q serving "$D/server.log" && break; sleep 0.1; done
grep -q serving "$D/server.log" || { echo "bench-ns: the server did not start:" >&2; cat "$D/server.log" >&2; exit 1; }
"$B/ferry-proxy" --cluster "$D/cluster" --unix "$D/proxy.sock" \
	--admin-token-file "$D/admin.token" >"$D/proxy.log" 2>&1 &
PP=$!
export FERRY_CLUSTER="$D/cluster" FERRY_PROXY="unix://$D/proxy.sock"
for _ in $(seq 1 100); do "$B/ferry" ns ls >/dev/null 2>&1 && break; sleep 0.1; done

# The server's instructions since the last zeroing: dump number $1 (they
# count from 1), which it makes and reads.
phase_start() { callgrind_control -z "$SP" >/dev/null 2>&1; }
phase_end() {
	callgrind_control -d "$SP" >/dev/null 2>&1
	for _ in $(seq 1 100); do [ -s "$D/cg.out.$1" ] && break; sleep 0.1; done
	callgrind_annotate "$D/cg.out.$1" 2>/dev/null |
		awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

echo "## ferry bench-ns"
echo
echo "- server: ferry-server under callgrind, tcp provider, admin token$([ "$STATE" = 1 ] && echo ", state file"); node proxy in front"
echo "- per create: the server's instructions while the namespaces up to N were made, ÷ how many were made"
echo "- per login: while $LOGINS fresh processes each presented another namespace's token through the proxy (NS_AUTH) and put a key, ÷ $LOGINS"
echo
echo "| namespaces | per create | per login |"
echo "|-----------:|-----------:|----------:|"
have=0 dumps=0
for n in "${NS[@]}"; do
	phase_start
	made=$((n - have))
	while [ "$have" -lt "$n" ]; do
		have=$((have + 1))
		progress "creating namespaces: $have of $n"
		"$B/ferry" ns create "ns$have" >>"$D/tokens" || { echo "bench-ns: ns create failed" >&2; exit 1; }
	done
	dumps=$((dumps + 1))
	create=$(phase_end $dumps)
	phase_start
	i=0
	for tok in $(tail -n "$LOGINS" "$D/tokens"); do
		i=$((i + 1))
		progress "logins at $n namespaces: $i of $LOGINS"
		echo v | FERRY_TOKEN=$tok "$B/ferry" put k >/dev/null || { echo "bench-ns: a login failed" >&2; exit 1; }
	done
	dumps=$((dumps + 1))
	login=$(phase_end $dumps)
	progress ""
	[ -t 2 ] && printf '\r' >&2
	printf '| %10d | %10d | %9d |\n' "$n" $((create / made)) $((login / LOGINS))
done
