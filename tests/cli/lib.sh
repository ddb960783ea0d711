# Shared by the black-box CLI scripts (tests/cli/test_*.sh), which source
# it after setting NAME (the scratch folder's prefix). It sets ROOT, BIN,
# PROVIDER, TMP and HOME_DIR, the TAP helpers, a trap that always stops
# what 'cluster up' started and removes the scratch folder, and a search
# for free loopback ports.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FERRY_BIN:-$ROOT/build/bin}
PROVIDER=${FERRY_TEST_PROVIDER:-tcp}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX") || exit 1
HOME_DIR=$TMP/home
export FERRY_HOME=$HOME_DIR
unset FERRY_CLUSTER FERRY_PROXY
CMD_TIMEOUT=60 # no single command may take longer

n=0
failed=0
pids=()

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

skip() { # description, reason
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

not_ok() { # description, detail lines...
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for line in "$@"; do
		echo "# $line"
	done
	for f in "$TMP/out" "$TMP/err"; do
		[ -s "$f" ] && head -c 2000 "$f" | sed 's/^/#   /'
	done
	return 0
}

# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# Runs a ferry command with a time limit; stdout to $TMP/out, stderr to
# $TMP/err; returns its exit status.
f() {
	timeout --kill-after=5 "$CMD_TIMEOUT" "$BIN/ferry" "$@" >"$TMP/out" 2>"$TMP/err"
}

# expect STATUS DESCRIPTION COMMAND...: the command exits with STATUS.
expect() {
	local want=$1 desc=$2 rc
	shift 2
	"$@"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		ok "$desc"
	else
		not_ok "$desc" "exit status $rc, expected $want"
	fi
}

cleanup() {
	# The processes 'cluster up' started, by the pids it recorded.
	if [ -f "$HOME_DIR/cluster" ]; then
		timeout 20 "$BIN/ferry" cluster down >/dev/null 2>&1
	fi
	for p in "${pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# pick_ports N: a base port with N free ports after it (nothing accepts a
# connection on them now).
pick_ports() {
	local base i tries
	for tries in $(seq 1 100); do
		base=$((12000 + (RANDOM * 32768 + RANDOM) % 19000))
		for i in $(seq 0 $(($1 - 1))); do
			port_free $((base + i)) || continue 2
		done
		echo "$base"
		return 0
	done
	return 1
}

# cluster_up MEMORY: starts 2 servers of MEMORY each and the node proxy
# on free ports (base in $base; a few tries, since a port can be taken
# between the look and the bind). On failure: the reason, the plan line,
# and exit.
cluster_up() {
	local attempt
	for attempt in 1 2 3 4 5; do
		base=$(pick_ports 4) || break
		if f cluster up --dir "$HOME_DIR" --port "$base" \
			--provider "$PROVIDER" --servers 2 --memory "$1"; then
			return 0
		fi
		cp "$TMP/err" "$TMP/up.err"
		f cluster down # whatever half-started
	done
	not_ok "cluster up ($PROVIDER)" "could not start a cluster"
	cat "$TMP"/up.err "$HOME_DIR"/*.log 2>/dev/null | tail -n 20 | sed 's/^/#   /'
	echo "1..$n"
	exit 1
}

# all_gone PID...: 0 once none of the processes runs (a zombie counts as
# gone), within 5 s; 1 if one still runs by then.
all_gone() {
	local i p running
	for i in $(seq 1 50); do
		running=0
		for p in "$@"; do
			if kill -0 "$p" 2>/dev/null &&
				! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
				running=1
			fi
		done
		[ "$running" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}
