#!/usr/bin/env bash
# Black-box tests of the node proxy through the command line, the way a
# user and a function run it: 'ferry cluster up' starts the proxy beside
# the servers; the CLI goes through it by default (proxy-unix), over the
# fabric with --direct (or FERRY_PROXY=direct), and over TCP with
# FERRY_PROXY=tcp://...; a 5 MB file round-trips byte for byte in every
# mode and across modes; the socket works from a read-only bind mount
# (unshare -m) and for an unprivileged function (setpriv to nobody, no
# capabilities, no locked memory). Prints TAP; the cluster and the scratch
# folder are always removed (trap), whatever fails.
NAME=ferry-proxy-cli
. "$(dirname "$0")/lib.sh"
# A proxy serving the system-wide default socket would be picked before
# the cluster file's proxy: then name the cluster, which skips it.
if [ -S /run/ferry/proxy.sock ]; then
	export FERRY_CLUSTER=$HOME_DIR/cluster
fi
SOCK=$HOME_DIR/proxy.sock

# The same through a given proxy URL (or "direct").
fp() {
	local url=$1
	shift
	FERRY_PROXY=$url f "$@"
}

# ---- the program ----------------------------------------------------------------

timeout 10 "$BIN/ferry-proxy" --help >"$TMP/out" 2>"$TMP/err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^Usage' "$TMP/out"; then
	ok "ferry-proxy --help exits 0 with a usage text"
else
	not_ok "ferry-proxy --help exits 0 with a usage text" "exit status $rc"
fi
# quiet COMMAND...: runs it with stdout and stderr to $TMP/out and $TMP/err.
quiet() {
	"$@" >"$TMP/out" 2>"$TMP/err"
}
expect 2 "ferry-proxy with an unknown option exits 2" \
	quiet timeout 10 "$BIN/ferry-proxy" --no-such-option
expect 2 "ferry-proxy with a stray argument exits 2" \
	quiet timeout 10 "$BIN/ferry-proxy" stray
expect 2 "ferry-proxy refuses a buffer budget under 1M" \
	quiet timeout 10 "$BIN/ferry-proxy" --buffer-budget 100K
grep -q 'bad value for --buffer-budget' "$TMP/err" &&
	ok "and says which option was wrong" ||
	not_ok "and says which option was wrong" "$(head -c 200 "$TMP/err")"

# ---- a cluster with its proxy ---------------------------------------------------

cluster_up 128M
ok "cluster up --servers 2 --provider $PROVIDER starts the proxy too"
mapfile -t pids < <(awk '$1 == "pid" { print $2 }' "$HOME_DIR/cluster")
TCP_URL=tcp://127.0.0.1:$((base + 2))
UNIX_URL=unix://$SOCK
grep -qx "proxy $UNIX_URL" "$HOME_DIR/cluster" &&
	ok "the cluster file names the proxy's socket" ||
	not_ok "the cluster file names the proxy's socket"
[ -S "$SOCK" ] && ok "the socket exists" || not_ok "the socket exists"
[ "${#pids[@]}" -eq 3 ] && ok "three processes recorded (2 servers, 1 proxy)" ||
	not_ok "three processes recorded (2 servers, 1 proxy)" "pids: ${pids[*]}"

# ---- which way the CLI goes ------------------------------------------------------

# proxy_line MODE: ferry stat's output names the proxy in MODE, with one
# fabric endpoint and a connection to each of the 2 servers; over the
# socket, the CLI's own connection is one over shared memory.
proxy_line() {
	local shm='[0-9]+'
	[ "$1" = proxy-unix ] && shm='[1-9][0-9]*'
	grep -qE "^proxy \($1\): [0-9]+ function connections? \($shm over shared memory\), 1 fabric endpoint, 2 server connections" "$TMP/out"
}

expect 0 "ferry stat (default)" f stat
check "by default the CLI goes through the proxy over its socket" proxy_line proxy-unix
# The servers know one peer only: the proxy (no --direct client ran yet).
peers=$(awk '$2 == "up" { print $NF }' "$TMP/out" | sort -u | tr '\n' ' ')
[ "$peers" = "1 " ] && ok "each server knows exactly one peer, the proxy" ||
	not_ok "each server knows exactly one peer, the proxy" "PEERS: $peers"
expect 0 "ferry --direct stat" f --direct stat
if grep -q '^proxy (' "$TMP/out"; then
	not_ok "--direct does not go through the proxy"
else
	ok "--direct does not go through the proxy"
fi
grep -qE '^total: 2 servers \(0 down\)' "$TMP/out" &&
	ok "--direct reaches both servers" || not_ok "--direct reaches both servers"
expect 0 "FERRY_PROXY=direct ferry stat" fp direct stat
grep -q '^proxy (' "$TMP/out" && not_ok "FERRY_PROXY=direct is direct" ||
	ok "FERRY_PROXY=direct is direct"
expect 0 "FERRY_PROXY=tcp://... ferry stat" fp "$TCP_URL" stat
check "FERRY_PROXY=tcp://... goes through the proxy over TCP" proxy_line proxy-tcp
expect 0 "FERRY_PROXY=unix://... ferry stat" fp "$UNIX_URL" stat
check "FERRY_PROXY=unix://... goes through the socket" proxy_line proxy-unix

# ---- 5 MB in every mode and across modes ----------------------------------------

head -c 5000000 /dev/urandom >"$TMP/big"
chmod 644 "$TMP/big"
modes=(default direct tcp)
# in_mode MODE ferry-args...: runs ferry in that mode.
in_mode() {
	local m=$1
	shift
	case $m in
	default) f "$@" ;;
	direct) f --direct "$@" ;;
	tcp) fp "$TCP_URL" "$@" ;;
	esac
}
for w in "${modes[@]}"; do
	expect 0 "put 5 MB ($w)" in_mode "$w" put "big-$w" "$TMP/big"
	for r in "${modes[@]}"; do
		rm -f "$TMP/back"
		if in_mode "$r" get "big-$w" "$TMP/back" && cmp -s "$TMP/big" "$TMP/back"; then
			ok "5 MB written $w, read $r into a file: byte-identical"
		else
			not_ok "5 MB written $w, read $r into a file: byte-identical"
		fi
	done
	if in_mode "$w" get "big-$w" && cmp -s "$TMP/big" "$TMP/out"; then
		ok "5 MB written $w, read $w to stdout: byte-identical"
	else
		not_ok "5 MB written $w, read $w to stdout: byte-identical"
	fi
	expect 0 "stat of it ($w)" in_mode "$w" stat "big-$w"
	grep -qE '^size: +5000000$' "$TMP/out" && ok "... shows 5000000 bytes" ||
		not_ok "... shows 5000000 bytes"
done
expect 0 "rm through the proxy" f rm big-direct
expect 1 "... gone for --direct too" f --direct get big-direct
expect 1 "... and over TCP" fp "$TCP_URL" get big-direct

# ---- a read-only mount of the socket ----------------------------------------------

RO=$TMP/ro
mkdir -p "$RO"
ro_skip=""
if ! command -v unshare >/dev/null 2>&1; then
	ro_skip="unshare is not installed"
elif ! timeout 20 unshare -m sh -c "mount --bind '$HOME_DIR' '$RO' && mount -o remount,bind,ro '$RO'" 2>"$TMP/err"; then
	ro_skip="cannot make a read-only bind mount here ($(head -c 200 "$TMP/err" | tr '\n' ' '))"
fi
if [ -n "$ro_skip" ]; then
	skip "put and get through a socket on a read-only mount" "$ro_skip"
else
	# Inside a private mount namespace: the proxy's folder, bound read-only
	# at $RO, is all the function sees of it.
	timeout --kill-after=5 $((CMD_TIMEOUT * 2)) unshare -m bash -c '
		mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" || exit 10
		touch "$2/probe" 2>/dev/null && exit 11
		export FERRY_HOME=$2 FERRY_PROXY=unix://$2/proxy.sock
		"$3" put ro-key "$4" || exit 12
		"$3" get ro-key "$5" || exit 13
		"$3" stat >"$5.stat" || exit 14
	' ro "$HOME_DIR" "$RO" "$BIN/ferry" "$TMP/big" "$TMP/ro.back" \
		>"$TMP/out" 2>"$TMP/err"
	rc=$?
	case $rc in
	0)
		if cmp -s "$TMP/big" "$TMP/ro.back" &&
			grep -q '^proxy (proxy-unix)' "$TMP/ro.back.stat"; then
			ok "put and get through a socket on a read-only mount"
		else
			not_ok "put and get through a socket on a read-only mount" \
				"the value read back differs, or stat did not go through the proxy"
		fi
		;;
	11) not_ok "put and get through a socket on a read-only mount" \
		"the bind mount was writable: the test proves nothing" ;;
	*) not_ok "put and get through a socket on a read-only mount" \
		"exit status $rc (10 mount, 12 put, 13 get, 14 stat)" ;;
	esac
	expect 0 "the value put from the read-only mount reads back directly" \
		f --direct get ro-key "$TMP/ro.back2"
	cmp -s "$TMP/big" "$TMP/ro.back2" && ok "... byte-identical" ||
		not_ok "... byte-identical"
fi

# ---- an unprivileged function ---------------------------------------------------------

if ! command -v setpriv >/dev/null 2>&1; then
	skip "an unprivileged function works through the proxy" "setpriv is not installed"
else
	chmod 755 "$TMP" "$HOME_DIR"
	chmod 644 "$HOME_DIR/cluster"
	# nobody, no groups, no capabilities (not even in the bounding set),
	# and no memory it may lock: all a function in a sandbox gets.
	nobody() {
		timeout --kill-after=5 "$CMD_TIMEOUT" setpriv --reuid=65534 \
			--regid=65534 --clear-groups --inh-caps=-all \
			--bounding-set=-all "$@"
	}
	who=$(nobody bash -c 'ulimit -l 0 && echo "$(id -u) $(ulimit -l) $(grep CapEff /proc/self/status | cut -f2)"' 2>&1)
	if [ "$who" = "65534 0 0000000000000000" ]; then
		ok "setpriv drops to nobody with no capabilities and no locked memory"
	else
		not_ok "setpriv drops to nobody with no capabilities and no locked memory" \
			"got: $who"
	fi
	# nobody cannot read the admin token file: like a function, it is
	# handed a token. The admin's keeps the key in the default namespace,
	# where the checks below read it.
	tok=$(cat "$HOME_DIR/admin.token")
	for url in "$UNIX_URL" "$TCP_URL"; do
		nobody env FERRY_PROXY="$url" FERRY_TOKEN="$tok" bash -c \
			'ulimit -l 0 && "$1" put "nobody-key" - && "$1" get "nobody-key" -' \
			fn "$BIN/ferry" <"$TMP/big" >"$TMP/out" 2>"$TMP/err"
		rc=$?
		if [ "$rc" -eq 0 ] && cmp -s "$TMP/big" "$TMP/out"; then
			ok "an unprivileged function puts and gets 5 MB via $url"
		else
			not_ok "an unprivileged function puts and gets 5 MB via $url" \
				"exit status $rc"
		fi
	done
	expect 0 "... the value is there for everyone" f --direct get nobody-key "$TMP/nb.back"
	cmp -s "$TMP/big" "$TMP/nb.back" && ok "... byte-identical" ||
		not_ok "... byte-identical"
fi

# ---- down ---------------------------------------------------------------------------------

proxy_pid=${pids[2]:-}
expect 0 "cluster down" f cluster down
all_gone $proxy_pid && ok "cluster down stopped the proxy" ||
	not_ok "cluster down stopped the proxy" "pid $proxy_pid"
[ ! -e "$SOCK" ] && ok "the proxy removed its socket" ||
	not_ok "the proxy removed its socket"
start=$(date +%s)
expect 1 "with no proxy, a get through its socket fails" fp "$UNIX_URL" get big-default
grep -qi "unreachable" "$TMP/err" && ok "... saying the server is unreachable" ||
	not_ok "... saying the server is unreachable"
[ $(($(date +%s) - start)) -lt 15 ] && ok "... at once, not after a hang" ||
	not_ok "... at once, not after a hang"

echo "1..$n"
[ "$failed" -eq 0 ]
