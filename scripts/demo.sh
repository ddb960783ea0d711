#!/usr/bin/env bash
# 'make demo': starts a local cluster, stores and reads back a small and a
# large object, lists and removes them, and stops the cluster. Each step is
# printed before it runs.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
FERRY="$PWD/$BUILD/bin/ferry"
export FERRY_HOME
FERRY_HOME=$(mktemp -d /tmp/ferry-demo.XXXXXX)
trap '"$FERRY" cluster down >/dev/null 2>&1 || true; rm -rf "$FERRY_HOME"' EXIT

step() {
	printf '\n$ %s\n' "$*"
	"$@"
}

# A port range nobody uses right now (2 servers and the proxy's TCP port),
# so the demo never collides with a cluster already running on this host.
port=7400
while ss -Htln "sport >= :$port and sport <= :$((port + 2))" | grep -q .; do
	port=$((port + 10))
done

echo "ferry demo: a 2-server cluster on loopback (tcp;ofi_rxm), files in $FERRY_HOME"
step "$FERRY" cluster up --servers 2 --memory 256M --port "$port"

echo "hello from a serverless function" >"$FERRY_HOME/small.txt"
head -c $((48 * 1024 * 1024)) /dev/urandom >"$FERRY_HOME/large.bin"

step "$FERRY" put job1/small "$FERRY_HOME/small.txt"
step "$FERRY" put job1/large "$FERRY_HOME/large.bin"
step "$FERRY" ls job1/
step "$FERRY" stat job1/large
step "$FERRY" get job1/small
step "$FERRY" get job1/large "$FERRY_HOME/large.out"
step cmp "$FERRY_HOME/large.bin" "$FERRY_HOME/large.out"
echo "(48 MiB read back byte for byte: identical)"
step "$FERRY" stat
step "$FERRY" rm job1/small job1/large
step "$FERRY" ls job1/
step "$FERRY" cluster down
trap 'rm -rf "$FERRY_HOME"' EXIT
echo
echo "demo finished"
