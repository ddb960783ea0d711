#!/usr/bin/env bash
# 'make bench-resp': redis-benchmark against ferry's Redis port, against
# redis-server, and against redis-server behind a relay, in the same run.
# See --help.
set -uo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/bench-resp.sh [--sizes LIST] [--clients LIST] [--pipelines LIST]
                             [--tests LIST] [--requests N|auto] [--seconds S]
                             [--rounds R] [--provider tcp|shm] [--memory SIZE]
                             [--timeout S] [--budget S] [--max-buffer SIZE]
                             [--raw FILE] [--report FILE] [--build DIR] [--keep]
                             [--inject KIND]

Runs redis-benchmark against the Redis port of a ferry cluster (the node
proxy's RESP front end), against a redis-server 7, and against that same
redis-server through a relay (socat copying bytes between two loopback
sockets and doing nothing else), all started by this script on free
loopback ports, and prints a markdown table of the median ops/s per cell
and system.

The relay is what one more hop costs on this machine and nothing else:
ferry's Redis port is such a hop too (client, proxy, servers), so "ferry /
relay" says how ferry compares with the cheapest possible proxy, where
"ferry / redis" compares it with no proxy at all.

A cell is a value size, a client count, a pipeline depth and a command.
Each cell runs in R rounds; a round runs the three systems, in an order
that turns from round to round. Before a cell's rounds, a pilot run of
Redis and ferry picks the request count N (with --requests auto), so that
the slower system takes about S seconds and the faster one at least 0.3 s
(within 2 S for the slower one). Before every run the system's keys are
flushed (FLUSHDB), so each run starts from an empty keyspace.

  --sizes LIST      value sizes, -d of redis-benchmark (default 64,4K,1M)
  --clients LIST    parallel connections, -c (default 1,50)
  --pipelines LIST  requests per pipeline, -P (default 1,16)
  --tests LIST      of set, get, incr, mset (default set,get,incr,mset).
                    SET and GET run in one redis-benchmark call, SET first,
                    so GET reads the values SET wrote (get alone runs
                    SET too). INCR carries no value: it runs at the
                    first size only.
  --requests N      requests per run, -n; auto: from the pilot (default)
  --seconds S       target seconds per run with auto (default 1.5)
  --rounds R        rounds per cell, at least 1; ops/s is the median
                    (default 3)
  --provider P      ferry's fabric provider, tcp or shm (default tcp)
  --memory SIZE     arena of each of the 2 ferry servers (default 1G)
  --timeout S       a run that takes longer is killed and counts as an
                    error (default 120)
  --budget S        stop starting runs after S seconds; the cells not
                    measured are marked so (default 1800)
  --max-buffer SIZE skip a cell whose clients x pipeline x request bytes
                    exceed SIZE: redis-benchmark keeps a whole pipeline of
                    requests per client in memory (default 1G; MSET of
                    1 MiB values with 50 clients and -P 16 would need 8 GiB)
  --raw FILE        also write every run as a line of FILE
  --report FILE     print the table of such a FILE, and run nothing
  --build DIR       ferry's build folder (default build)
  --keep            keep the temporary folder (logs) at the end
  --inject KIND     check the error column: 'port' points every run at a
                    port nobody listens on; 'oom' sets Redis's maxmemory to
                    1 byte, so its writes fail (through the relay too)

Key space: redis-benchmark -r K, with K about N/16 keys (N*10/16 for MSET;
at most 100000 and 256 MiB of values), so that nearly every key a GET
asks for was written by the SETs before it (all but e^-16 of them), and
the load spreads over ferry's servers.

Errors (the last column, "redis / relay / ferry", summed over the pilot
run and the rounds): a run
counts one error when redis-benchmark exits non-zero (version 7 stops at
the first error reply, printing it), times out, prints anything unexpected
on stderr, or reports no figure for a command; after each run redis-cli
checks 5 random keys that SET or MSET wrote (STRLEN must be the size), and
that the INCR counters add up to N exactly: each key or increment missing
counts one more. The error texts seen are listed under the table.

Progress goes to stderr when it is a terminal. The script stops its
cluster, redis-server and the relay by PID on exit, Ctrl-C included.
EOF
}

die() {
	echo "bench-resp: $*" >&2
	exit 2
}

# print_table FILE: the markdown table of a results file (one run a line:
# unit size clients pipeline command system round requests ops/s errors).
print_table() {
	echo "| size | clients | pipeline | command | requests | redis ops/s | relay ops/s | ferry ops/s | ferry / redis | relay / redis | ferry / relay | spread (redis / relay / ferry) | errors (redis / relay / ferry) |"
	echo "|-----:|--------:|---------:|---------|---------:|------------:|------------:|------------:|--------------:|--------------:|--------------:|-------------------------------:|-------------------------------:|"
	awk '
function human(b) {
	if (b % 1048576 == 0) return (b / 1048576) " MiB"
	if (b % 1024 == 0) return (b / 1024) " KiB"
	return b " B"
}
function sorted(list, v,    m, i, j, t) {
	m = split(list, v, " ")
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return m
}
function median(list,    v, m) {
	m = sorted(list, v)
	if (m == 0) return ""
	return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
}
function spread(list,    v, m) {
	m = sorted(list, v)
	return m && v[1] > 0 ? sprintf("%.1f", v[m] / v[1]) : "-"
}
function ops(x) { return x == "" ? "-" : sprintf("%.0f", x) }
function ratio(a, b) { return (a != "" && b > 0) ? sprintf("%.2f", a / b) : "-" }
{
	size = $2; c = $3; p = $4; cmd = $5; sys = $6; round = $7
	key = size SUBSEP c SUBSEP p SUBSEP cmd
	if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
	if (sys == "skip" || sys == "budget") { note[key] = sys; next }
	errs[key, sys] += $10
	if (round == "pilot") next
	n[key] = $8
	if ($9 != "-") vals[key, sys] = vals[key, sys] " " $9
}
END {
	for (i = 1; i <= nk; i++) {
		key = order[i]
		split(key, f, SUBSEP)
		sz = f[4] == "incr" ? "-" : human(f[1])
		cmd = toupper(f[4])
		if (cmd == "MSET") cmd = "MSET (10 keys)"
		if (note[key] != "") {
			what = note[key] == "skip" ? "skipped" : "not run"
			printf "| %s | %d | %d | %s | - | %s | %s | %s | - | - | - | - | - |\n", sz, f[2], f[3], cmd, what, what, what
			continue
		}
		r = median(vals[key, "redis"]); re = median(vals[key, "relay"])
		fe = median(vals[key, "ferry"])
		printf "| %s | %d | %d | %s | %d | %s | %s | %s | %s | %s | %s | %s / %s / %s | %d / %d / %d |\n", sz, f[2], f[3], cmd, n[key],
			ops(r), ops(re), ops(fe), ratio(fe, r), ratio(re, r), ratio(fe, re),
			spread(vals[key, "redis"]), spread(vals[key, "relay"]), spread(vals[key, "ferry"]),
			errs[key, "redis"], errs[key, "relay"], errs[key, "ferry"]
	}
}' "$1"
}

# ---- options -------------------------------------------------------------

sizes=64,4K,1M clients=1,50 pipelines=1,16 tests=set,get,incr,mset
requests=auto seconds=1.5 rounds=3 provider=tcp memory=1G
run_timeout=120 budget=1800 max_buffer=1G raw="" build=build keep=0
inject="" report=""

while [ $# -gt 0 ]; do
	opt=$1
	case $opt in
	-h | --help)
		usage
		exit 0
		;;
	--keep)
		keep=1
		shift
		continue
		;;
	--*) [ $# -ge 2 ] || die "$opt needs a value" ;;
	*) die "unknown argument '$opt' (see --help)" ;;
	esac
	val=$2
	shift 2
	case $opt in
	--sizes) sizes=$val ;;
	--clients) clients=$val ;;
	--pipelines) pipelines=$val ;;
	--tests) tests=$val ;;
	--requests) requests=$val ;;
	--seconds) seconds=$val ;;
	--rounds) rounds=$val ;;
	--provider) provider=$val ;;
	--memory) memory=$val ;;
	--timeout) run_timeout=$val ;;
	--budget) budget=$val ;;
	--max-buffer) max_buffer=$val ;;
	--raw) raw=$val ;;
	--build) build=$val ;;
	--inject) inject=$val ;;
	--report) report=$val ;;
	*) die "unknown option '$opt' (see --help)" ;;
	esac
done

# Bytes of "64", "4K", "1M", "1G" (powers of 1024).
bytes() {
	case $1 in
	*[kK]) echo $((${1%?} * 1024)) ;;
	*[mM]) echo $((${1%?} * 1024 * 1024)) ;;
	*[gG]) echo $((${1%?} * 1024 * 1024 * 1024)) ;;
	*) echo $(($1)) ;;
	esac
}

human() {
	local b=$1
	if [ $((b % 1048576)) -eq 0 ]; then
		echo "$((b / 1048576)) MiB"
	elif [ $((b % 1024)) -eq 0 ]; then
		echo "$((b / 1024)) KiB"
	else
		echo "$b B"
	fi
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
is_size() { [[ $1 =~ ^[0-9]+[kKmMgG]?$ ]]; }

size_list=() client_list=() pipe_list=()
for s in ${sizes//,/ }; do
	is_size "$s" && [ "$(bytes "$s")" -ge 1 ] || die "bad --sizes: $sizes"
	size_list+=("$(bytes "$s")")
done
for c in ${clients//,/ }; do
	is_uint "$c" && [ "$c" -ge 1 ] && [ "$c" -le 10000 ] || die "bad --clients: $clients"
	client_list+=("$c")
done
for p in ${pipelines//,/ }; do
	is_uint "$p" && [ "$p" -ge 1 ] && [ "$p" -le 10000 ] || die "bad --pipelines: $pipelines"
	pipe_list+=("$p")
done
want_set=0 want_get=0 want_incr=0 want_mset=0
for t in ${tests//,/ }; do
	case $t in
	set) want_set=1 ;;
	get) want_get=1 ;;
	incr) want_incr=1 ;;
	mset) want_mset=1 ;;
	*) die "bad --tests: $tests" ;;
	esac
done
[ ${#size_list[@]} -gt 0 ] && [ ${#client_list[@]} -gt 0 ] &&
	[ ${#pipe_list[@]} -gt 0 ] || die "empty list"
[ $((want_set + want_get + want_incr + want_mset)) -gt 0 ] || die "no --tests"
[ "$requests" = auto ] || { is_uint "$requests" && [ "$requests" -ge 1 ]; } ||
	die "bad --requests: $requests"
[[ $seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "bad --seconds: $seconds"
is_uint "$rounds" && [ "$rounds" -ge 1 ] && [ "$rounds" -le 99 ] || die "bad --rounds: $rounds"
case $provider in tcp | shm) ;; *) die "bad --provider: $provider" ;; esac
is_size "$memory" || die "bad --memory: $memory"
is_uint "$run_timeout" && [ "$run_timeout" -ge 1 ] || die "bad --timeout"
is_uint "$budget" && [ "$budget" -ge 1 ] || die "bad --budget"
is_size "$max_buffer" || die "bad --max-buffer: $max_buffer"
max_buffer=$(bytes "$max_buffer")
case $inject in "" | port | oom) ;; *) die "bad --inject: $inject" ;; esac
if [ -n "$report" ]; then
	[ -r "$report" ] || die "cannot read $report"
	print_table "$report"
	exit 0
fi

cd "$(dirname "$0")/.." || exit 2
FERRY=$PWD/$build/bin/ferry
[ -x "$FERRY" ] || die "$FERRY not found: run 'make' first"
for tool in redis-server redis-benchmark redis-cli socat ss timeout awk; do
	command -v $tool >/dev/null || die "$tool not found (apt-get install redis-server redis-tools socat iproute2)"
done

# ---- processes and clean-up ------------------------------------------------

tty=0
[ -t 2 ] && tty=1
progress() { [ $tty -eq 1 ] && printf '\r\033[K%s' "$*" >&2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-resp-XXXXXX") || exit 1
redis_pid="" relay_pid="" run_pid="" cluster_up=0 interrupted=0

# The script's own stderr: a signal may run the trap while a command's
# stderr is redirected to a file.
exec 3>&2

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	exec 2>&3
	[ $tty -eq 1 ] && printf '\r\033[K' >&2
	# Every process here is one this script started, stopped by its PID.
	if [ -n "$run_pid" ]; then
		kill "$run_pid" 2>/dev/null
		wait "$run_pid" 2>/dev/null
	fi
	# socat's children, one per connection, end with their connection.
	for pid in $relay_pid $redis_pid; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ $cluster_up -eq 1 ]; then
		"$FERRY" --cluster "$TMP/cluster" cluster down >>"$TMP/cluster.log" 2>&1 ||
			for pid in $(awk '$1 == "pid" { print $2 }' "$TMP/cluster" 2>/dev/null); do
				kill "$pid" 2>/dev/null
			done
	fi
	[ $interrupted -eq 1 ] && echo "bench-resp: interrupted" >&2
	if [ $keep -eq 1 ] || { [ $rc -ne 0 ] && [ $interrupted -eq 0 ]; }; then
		echo "bench-resp: logs are in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT TERM

# Runs a command in the background with a time limit, so that a signal
# reaches the trap at once; returns its exit status (124: timed out).
bounded() {
	timeout -k 5 "$1" "${@:2}" &
	run_pid=$!
	wait "$run_pid"
	local rc=$?
	run_pid=""
	return $rc
}

# A base port with count free ports from it, on 127.0.0.1.
free_ports() {
	local count=$1 base tries=0
	while [ $tries -lt 100 ]; do
		base=$((20000 + RANDOM % 40000))
		if ! ss -Htan "sport >= :$base and sport < :$((base + count))" | grep -q .; then
			echo $base
			return 0
		fi
		tries=$((tries + 1))
	done
	return 1
}

# ---- start the systems ---------------------------------------------------------

nservers=2
base=$(free_ports $((nservers + 5))) || die "no free ports"
redis_port=$((base + nservers + 2)) relay_port=$((base + nservers + 3))

progress "starting ferry ($provider) ..."
if ! bounded 60 "$FERRY" cluster up --dir "$TMP" --port "$base" --servers $nservers \
	--provider "$provider" --memory "$memory" >"$TMP/cluster.log" 2>&1; then
	cat "$TMP/cluster.log" >&2
	die "ferry cluster up failed"
fi
cluster_up=1
ferry_url=$(awk '$1 == "resp" { print $2 }' "$TMP/cluster")
ferry_port=${ferry_url##*:}
is_uint "$ferry_port" || die "no Redis port in $TMP/cluster"
# A cluster with an admin token wants it from every client: both systems
# get the same password (Redis as requirepass), so both pay for AUTH.
auth=() requirepass=() token=
if [ -f "$TMP/admin.token" ]; then
	token=$(cat "$TMP/admin.token")
	auth=(-a "$token")
	requirepass=(--requirepass "$token")
	export REDISCLI_AUTH=$token
fi

answers() { # PORT: 0 once PING gets PONG there (10 s at most)
	for _ in $(seq 100); do
		redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.1
	done
	return 1
}

progress "starting redis-server ..."
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
	--daemonize no --dir "$TMP" "${requirepass[@]}" >"$TMP/redis.log" 2>&1 &
redis_pid=$!
answers "$redis_port" || die "redis-server did not start (see $TMP/redis.log)"
redis_version=$(redis-cli -p "$redis_port" info server | awk -F: '/^redis_version/ { sub("\r", "", $2); print $2 }')
[ "$inject" = oom ] && redis-cli -p "$redis_port" config set maxmemory 1 >/dev/null

# The relay: a process per connection (fork), each copying through a 1 MiB
# buffer, with Nagle off on both of its sockets, as Redis and ferry have it.
progress "starting the relay ..."
relay_buf=1048576
socat -b $relay_buf "TCP-LISTEN:$relay_port,bind=127.0.0.1,reuseaddr,fork,backlog=1024,nodelay" \
	"TCP:127.0.0.1:$redis_port,nodelay" 2>"$TMP/relay.log" &
relay_pid=$!
answers "$relay_port" || die "the relay did not start (see $TMP/relay.log)"

port_of() { # system name -> port its runs use
	if [ "$inject" = port ]; then
		echo $((base + nservers + 4)) # nobody listens there
	else
		real_port "$1"
	fi
}
real_port() {
	case $1 in
	redis) echo "$redis_port" ;;
	relay) echo "$relay_port" ;;
	*) echo "$ferry_port" ;;
	esac
}
cli_ok() { timeout 60 redis-cli -p "$(real_port "$1")" "${@:2}" 2>&1; }

# ---- runs ----------------------------------------------------------------------

start_s=$SECONDS
runs=0 results=$TMP/results errlog=$TMP/errors
: >"$results"
: >"$errlog"

# Request bytes of one command (what redis-benchmark buffers per request).
req_bytes() {
	case $1 in
	set) echo $(($2 + 64)) ;;
	mset) echo $((10 * ($2 + 48))) ;;
	*) echo 64 ;;
	esac
}

# run SYS UNIT SIZE C P N K ROUND: one redis-benchmark call; appends
# "unit size c p cmd sys round n rps errors" lines to $results (ROUND
# "pilot" for the pilot). Sets rps_<cmd> for the caller.
run_one() {
	local sys=$1 unit=$2 size=$3 c=$4 p=$5 n=$6 k=$7 round=$8
	local out=$TMP/run.out err=$TMP/run.err rc cmd bad=0 ks
	local t=${unit//+/,} expect=${unit//+/ }

	cli_ok "$sys" flushdb >/dev/null
	bounded "$run_timeout" redis-benchmark -h 127.0.0.1 -p "$(port_of "$sys")" \
		"${auth[@]}" -t "$t" -d "$size" -c "$c" -P "$p" -n "$n" -r "$k" \
		--csv >"$out" 2>"$err"
	rc=$?
	runs=$((runs + 1))
	# Any stderr line counts, but for the warning that a server without
	# CONFIG GET (ferry) causes.
	grep -v '^WARNING: Could not fetch server CONFIG' "$err" | grep . >"$err.bad"
	if [ $rc -ne 0 ] || [ -s "$err.bad" ]; then
		bad=1
		{
			echo "$sys $unit size=$size c=$c P=$p n=$n round=$round: exit $rc$([ $rc -eq 124 ] && echo " (timed out after ${run_timeout}s)")"
			sed 's/^/    /' "$err.bad" | head -5
		} >>"$errlog"
	fi
	# Checks afterwards, on the real port even with --inject port.
	ks=0
	if [ "$unit" != incr ]; then
		for _ in 1 2 3 4 5; do
			local key len
			key=$(printf 'key:%012d' $(((RANDOM * 32768 + RANDOM) % k)))
			len=$(cli_ok "$sys" strlen "$key")
			if [ "$len" != "$size" ]; then
				ks=$((ks + 1))
				echo "$sys $unit size=$size c=$c P=$p round=$round: STRLEN $key = '$len', not $size" >>"$errlog"
			fi
		done
	else
		local sum
		sum=$(for ((i = 0; i < k; i += 500)); do
			local keys=()
			for ((j = i; j < i + 500 && j < k; j++)); do keys+=("$(printf 'counter:%012d' $j)"); done
			cli_ok "$sys" mget "${keys[@]}"
		done | awk '/^[0-9]+$/ { s += $1 } END { print s + 0 }')
		if [ "$sum" != "$n" ]; then
			ks=$((n > sum ? n - sum : sum - n))
			echo "$sys incr c=$c P=$p round=$round: the counters add up to $sum, not $n" >>"$errlog"
		fi
	fi
	for cmd in $expect; do
		local name rps e=$((bad + ks))
		name=$(echo "$cmd" | tr a-z A-Z)
		rps=$(awk -F'","' -v n="$name" '{ sub(/^"/, "", $1) } $1 == n || index($1, n " (") == 1 { print $2 }' "$out" | head -1)
		if ! [[ $rps =~ ^[0-9.]+$ ]]; then
			[ $bad -eq 0 ] && echo "$sys $unit size=$size c=$c P=$p round=$round: no figure for $name ('$rps')" >>"$errlog"
			[ $bad -eq 0 ] && e=$((e + 1))
			rps=""
		fi
		# A check failed in a SET+GET run: charge it to SET, which wrote.
		[ "$cmd" = get ] && [ "$unit" = set+get ] && e=$bad
		[ "$rps" = "" ] && [ $e -eq 0 ] && e=1
		eval "rps_$cmd=\${rps:-0}"
		echo "$unit $size $c $p $cmd $sys $round $n ${rps:--} $e" >>"$results"
		[ -n "$raw" ] && echo "$unit $size $c $p $cmd $sys $round $n ${rps:--} $e" >>"$raw"
	done
	return 0
}

min_max() { # prints the smaller and larger of two floats
	awk -v a="$1" -v b="$2" 'BEGIN { if (a < b) print a, b; else print b, a }'
}

# measure UNIT SIZE C P: pilot, then the rounds.
measure() {
	local unit=$1 size=$2 c=$3 p=$4 cmds=${1//+/ } n k n0 rb cmd
	local slow fast lo hi s
	rb=$(req_bytes "${cmds%% *}" "$size")
	[ "$unit" = set+get ] && rb=$((size + 64))
	if [ $((c * p * rb)) -gt "$max_buffer" ]; then
		for cmd in $cmds; do
			echo "$unit $size $c $p $cmd skip - 0 - 0" >>"$results"
			[ -n "$raw" ] && echo "$unit $size $c $p $cmd skip - 0 - 0" >>"$raw"
		done
		return
	fi
	if [ $((SECONDS - start_s)) -ge "$budget" ]; then
		for cmd in $cmds; do
			echo "$unit $size $c $p $cmd budget - 0 - 0" >>"$results"
			[ -n "$raw" ] && echo "$unit $size $c $p $cmd budget - 0 - 0" >>"$raw"
		done
		return
	fi
	keys_for() { # requests -> key space
		local per=1 kk
		[ "$unit" = mset ] && per=10
		kk=$(($1 * per / 16))
		local cap=$((268435456 / size))
		[ $cap -gt 100000 ] && cap=100000
		[ "$unit" = incr ] && cap=100000
		[ $kk -gt $cap ] && kk=$cap
		[ $kk -lt 1 ] && kk=1
		echo $kk
	}
	if [ "$requests" = auto ]; then
		n0=$((8388608 / rb))
		[ $n0 -gt $((500 * p)) ] && n0=$((500 * p))
		[ $n0 -lt $((c * p * 2)) ] && n0=$((c * p * 2))
		[ $n0 -lt 100 ] && n0=100
		n0=$(((n0 + c * p - 1) / (c * p) * c * p))
		k=$(keys_for $n0)
		slow="" fast=""
		for sys in redis ferry; do
			progress "$(human "$size") c=$c P=$p $unit: pilot $sys (n=$n0)"
			run_one $sys "$unit" "$size" "$c" "$p" "$n0" "$k" pilot
			for cmd in $cmds; do
				eval "s=\$rps_$cmd"
				read -r lo hi < <(min_max "${slow:-$s}" "$s")
				slow=$lo
				read -r lo hi < <(min_max "${fast:-$s}" "$s")
				fast=$hi
			done
		done
		# The slower system about S s, the faster at least 0.3 s, the
		# slower at most 2 S; at least two pipelines per client.
		n=$(awk -v s="$slow" -v f="$fast" -v t="$seconds" -v m=$((c * p * 2)) 'BEGIN {
			if (s <= 0) s = 100
			n = s * t; g = f * 0.3; if (g > n) n = g
			if (n > s * 2 * t) n = s * 2 * t
			if (n < m) n = m; if (n < 20) n = 20
			printf "%d\n", n }')
		n=$(((n + c * p - 1) / (c * p) * c * p))
	else
		n=$requests
	fi
	k=$(keys_for "$n")
	for ((r = 0; r < rounds; r++)); do
		local order="redis relay ferry"
		[ $((r % 3)) -eq 1 ] && order="relay ferry redis"
		[ $((r % 3)) -eq 2 ] && order="ferry redis relay"
		for sys in $order; do
			progress "$(human "$size") c=$c P=$p $unit: round $((r + 1))/$rounds $sys (n=$n, -r $k, run $runs, $((SECONDS - start_s)) s)"
			run_one $sys "$unit" "$size" "$c" "$p" "$n" "$k" $r
		done
	done
}

units=()
# GET reads what SET wrote before it in the same call, so get alone
# runs (and reports) SET as well.
[ $want_get -eq 1 ] && units+=(set+get)
[ $want_set -eq 1 ] && [ $want_get -eq 0 ] && units+=(set)
[ $want_mset -eq 1 ] && units+=(mset)
first_size=${size_list[0]}
for size in "${size_list[@]}"; do
	for c in "${client_list[@]}"; do
		for p in "${pipe_list[@]}"; do
			for unit in "${units[@]}"; do
				measure "$unit" "$size" "$c" "$p"
			done
			if [ $want_incr -eq 1 ] && [ "$size" = "$first_size" ]; then
				measure incr "$size" "$c" "$p"
			fi
		done
	done
done
elapsed=$((SECONDS - start_s))
[ $tty -eq 1 ] && printf '\r\033[K' >&2

# ---- report ----------------------------------------------------------------------

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "## Redis protocol: redis-benchmark, ferry vs redis-server (and redis-server behind a relay)"
echo
echo "- machine: $(nproc) CPUs ($cpu), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "- ferry: $nservers servers over $provider of $memory each and the node proxy's Redis port ($ferry_url), started by the script"
echo "- redis: redis-server $redis_version on 127.0.0.1:$redis_port without persistence (--save '' --appendonly no)${token:+, with requirepass: the admin token of the ferry cluster}"
echo "- relay: that redis-server through $(socat -V 2>/dev/null | awk '/^socat version/ { print "socat " $3; exit }') on 127.0.0.1:$relay_port (-b $relay_buf, fork, nodelay): one more loopback hop that does nothing else"
echo "- client: $(redis-benchmark --version 2>/dev/null | head -1),${token:+ -a TOKEN} -t CMD -d SIZE -c CLIENTS -P PIPELINE -n N -r K --csv${inject:+; injected fault: $inject}"
echo "- method: $rounds round(s) per cell, each running the three systems, the order turning; ops/s is the median over the rounds; N per cell from a pilot run of Redis and ferry (requests); FLUSHDB before each run; $runs runs in $elapsed s"
echo "- ferry / redis = ferry's median ops/s over Redis's (above 1: ferry faster); relay / redis = what the extra hop alone leaves of Redis's; ferry / relay = ferry against the cheapest proxy; spread = the best round's ops/s over the worst one's (1.0: steady); errors = failed runs, missing keys and lost increments, summed over the pilot and the rounds (redis / relay / ferry)"
echo
print_table "$results"
echo
if [ -n "$(awk '$10 > 0' "$results")" ]; then
	echo "Error texts seen (first 20 lines; all in $TMP/errors with --keep):"
	echo
	echo '```'
	head -20 "$errlog"
	echo '```'
else
	echo "No errors: every run exited 0 with a figure per command and nothing on stderr but redis-benchmark's warning that ferry has no CONFIG GET, every sampled key had its size, every INCR total was exact."
fi
if grep -q 'skip' "$results"; then
	echo
	echo "Skipped: cells whose clients x pipeline x request bytes exceed --max-buffer $(human "$max_buffer")."
fi
if grep -q 'budget' "$results"; then
	echo
	echo "Not run: the --budget of $budget s was spent."
fi
exit 0
