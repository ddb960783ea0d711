#!/usr/bin/env bash
# Black-box cases for redis-cli (7.0) against a RESP server:
#   bash tests/resp/test_redis_cli.sh HOST PORT
# Prints TAP ("ok N - name" / "not ok N - name", details as "# " lines),
# a plan "1..N" and "N passed, N failed"; exits 1 if any case failed.
# It FLUSHDBs first and last (the target's own namespace on ferry).
# RESP_PASSWORD, if set, is the server's password (REDISCLI_AUTH).
# Expected outputs are redis-cli's when its stdout is not a terminal: raw
# replies, one per line; errors as their text on stdout ("ERR ..."), and
# with --no-raw the "(integer) 1" / "(nil)" / "(error) ERR ..." forms.
set -u
if [ $# -ne 2 ]; then
	echo "usage: $0 HOST PORT" >&2
	exit 2
fi
HOST=$1
PORT=$2
CLI=${REDIS_CLI:-redis-cli}
# A server with a password (Redis: requirepass; ferry: the admin token).
[ -n "${RESP_PASSWORD:-}" ] && export REDISCLI_AUTH=$RESP_PASSWORD
TMP=$(mktemp -d "${TMPDIR:-/tmp}/resp-cli.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
K="cli$$:" # key prefix unique to this run

n=0
failed=0

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() { # name, detail...
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for l in "$@"; do echo "#   $l"; done
	[ -s "$TMP/out" ] && head -c 1500 "$TMP/out" | sed 's/^/#   out: /'
	[ -s "$TMP/err" ] && head -c 1500 "$TMP/err" | sed 's/^/#   err: /'
	return 0
}

# cli ARGS...: runs redis-cli against the target; stdout to $TMP/out,
# stderr to $TMP/err; returns its status. Standard input is inherited.
cli() {
	timeout --kill-after=5 30 "$CLI" -h "$HOST" -p "$PORT" "$@" \
		>"$TMP/out" 2>"$TMP/err"
}

# is NAME WANT ARGS...: the command's whole stdout is exactly WANT plus a
# newline.
is() {
	local name=$1 want=$2
	shift 2
	cli "$@" </dev/null
	if [ "$(cat "$TMP/out"; echo x)" = "$want"$'\n'x ]; then
		ok "$name"
	else
		not_ok "$name" "want: $(printf '%q' "$want")" \
			"got:  $(printf '%q' "$(cat "$TMP/out")")"
	fi
}

# first_line NAME WANT ARGS...: the first line of stdout is exactly WANT
# (error replies are followed by an empty line).
first_line() {
	local name=$1 want=$2
	shift 2
	cli "$@" </dev/null
	if [ "$(head -n 1 "$TMP/out")" = "$want" ]; then
		ok "$name"
	else
		not_ok "$name" "want first line: $(printf '%q' "$want")"
	fi
}

is "PING" "PONG" PING
is "FLUSHDB" "OK" FLUSHDB
is "SET k v" "OK" SET "${K}k" v
is "GET k" "v" GET "${K}k"
is "GET of a missing key prints an empty line" "" GET "${K}missing"
is "--no-raw GET quotes the value" '"v"' --no-raw GET "${K}k"
is "--no-raw GET of a missing key: (nil)" "(nil)" --no-raw GET "${K}missing"
is "SET with spaces and quotes in the value" "OK" SET "${K}sp" 'a "b" c'
is "GET it back" 'a "b" c' GET "${K}sp"

is "INCR of a new key prints 1" "1" INCR "${K}n"
is "--no-raw INCR prints (integer) 2" "(integer) 2" --no-raw INCR "${K}n"
is "INCRBY -5 prints -3" "-3" INCRBY "${K}n" -5
is "DECR prints -4" "-4" DECR "${K}n"
is "-r 3 INCR prints three replies" $'1\n2\n3' -r 3 INCR "${K}r"
is "TTL of a missing key prints -2" "-2" TTL "${K}missing"
is "--no-raw TTL of a key without TTL" "(integer) -1" --no-raw TTL "${K}k"

first_line "error output: GET with two keys" \
	"ERR wrong number of arguments for 'get' command" GET a b
first_line "--no-raw error output" \
	"(error) ERR wrong number of arguments for 'get' command" --no-raw GET a b
first_line "error output: INCR of a non-integer" \
	"ERR value is not an integer or out of range" INCR "${K}sp"
first_line "error output: INCR overflow" \
	"ERR increment or decrement would overflow" INCRBY "${K}n" \
	-9223372036854775808
first_line "error output: SET NX XX" "ERR syntax error" SET "${K}x" v NX XX
first_line "error output: unknown command" \
	"ERR unknown command 'FOO', with args beginning with: 'a' 'b' " FOO a b
first_line "error output: SET EX 0" \
	"ERR invalid expire time in 'set' command" SET "${K}x" v EX 0

# -x: the last argument is read from standard input, unchanged
if printf 'hello\nworld' | cli -x SET "${K}x" && [ "$(cat "$TMP/out")" = OK ]
then ok "-x SET from stdin"; else not_ok "-x SET from stdin"; fi
is "STRLEN of the -x value (newline kept, no trailing newline added)" "11" \
	STRLEN "${K}x"
is "GET of the -x value" $'hello\nworld' GET "${K}x"
if printf 'a\0b\r\n' | cli -x SET "${K}bin" && [ "$(cat "$TMP/out")" = OK ]
then ok "-x SET of bytes with NUL and CR LF"
else not_ok "-x SET of bytes with NUL and CR LF"; fi
is "STRLEN of the binary -x value" "5" STRLEN "${K}bin"
echo "piped" | cli -x APPEND "${K}x"
if [ "$(cat "$TMP/out")" = 17 ]; then ok "-x APPEND"
else not_ok "-x APPEND" "want 17"; fi

is "MGET prints one line per element, nil as an empty line" \
	$'v\n\nhello\nworldpiped\n' MGET "${K}k" "${K}missing" "${K}x"
is "--no-raw MGET" $'1) "v"\n2) (nil)' --no-raw MGET "${K}k" "${K}missing"
is "DEL counts removed keys" "2" DEL "${K}k" "${K}sp" "${K}k"
is "EXISTS counts duplicates" "2" EXISTS "${K}x" "${K}x" "${K}k"

# --pipe: mass insertion of 1000 keys in RESP format
is "FLUSHDB before --pipe" "OK" FLUSHDB
: >"$TMP/pipe.resp"
for ((i = 0; i < 1000; i++)); do
	k="${K}pipe:$i"
	v="val-$i"
	printf '*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' \
		"${#k}" "$k" "${#v}" "$v"
done >"$TMP/pipe.resp"
if cli --pipe <"$TMP/pipe.resp"; then
	if grep -qx 'errors: 0, replies: 1000' "$TMP/out"; then
		ok "--pipe inserts 1000 keys: errors: 0, replies: 1000"
	else
		not_ok "--pipe inserts 1000 keys: errors: 0, replies: 1000"
	fi
else
	not_ok "--pipe inserts 1000 keys" "exit status $?"
fi
is "DBSIZE after --pipe" "1000" DBSIZE
is "GET of a piped key" "val-737" GET "${K}pipe:737"
cli KEYS "${K}pipe:*" </dev/null
if [ "$(sort -u "$TMP/out" | grep -c .)" = 1000 ] &&
	[ "$(grep -c . "$TMP/out")" = 1000 ]; then
	ok "KEYS lists the 1000 piped keys"
else
	not_ok "KEYS lists the 1000 piped keys" "lines: $(grep -c . "$TMP/out")"
fi
cli --scan --pattern "${K}pipe:1*" </dev/null
if [ "$(sort -u "$TMP/out" | grep -c .)" = 111 ]; then
	ok "--scan --pattern finds each matching key (111)"
else
	not_ok "--scan --pattern finds each matching key (111)" \
		"distinct: $(sort -u "$TMP/out" | grep -c .)"
fi
printf '*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$3\r\nGET\r\n' >"$TMP/bad.resp"
cli --pipe <"$TMP/bad.resp"
rc=$?
if [ "$rc" -ne 0 ] && grep -qx 'errors: 1, replies: 2' "$TMP/out" &&
	grep -qF "ERR wrong number of arguments for 'get' command" \
		"$TMP/out" "$TMP/err"; then
	ok "--pipe counts an error reply and exits non-zero"
else
	not_ok "--pipe counts an error reply and exits non-zero" "status $rc"
fi
is "DBSIZE unchanged" "1000" DBSIZE
is "FLUSHDB at the end" "OK" FLUSHDB
is "DBSIZE after FLUSHDB" "0" DBSIZE

echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
