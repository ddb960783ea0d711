#!/usr/bin/env bash
# Installs the Debian packages ferry needs to build, test and benchmark.
# Idempotent: it asks apt only for what is missing, and runs 'apt-get update'
# only when something must be installed (a fresh machine has no package lists).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libfabric-dev libfabric-bin      # the fabric: tcp;ofi_rxm, shm, verbs;ofi_rxm
  libxxhash-dev                    # key hashing (index and consistent hashing)
  libsodium-dev                    # servers: the keyed hash of namespace tokens
  libcmocka-dev                    # unit tests
  libhiredis-dev redis-server redis-tools   # benchmark baseline, RESP tests
  socat                            # bench-resp: a do-nothing relay before Redis
  valgrind                         # bench-ns: instruction counts (callgrind)
  python3 python3-redis            # RESP tests: a real Redis client
  procps iproute2                  # tests: pgrep/kill, network namespaces
  clang libclang-rt-14-dev         # make sanitize: ASan, UBSan, libFuzzer
  llvm                             # llvm-symbolizer: reports name lines
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
