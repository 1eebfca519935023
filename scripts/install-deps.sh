#!/usr/bin/env bash
# Installs the Debian packages plane_connector needs to build, test, demo and benchmark.
# Does nothing (and needs no network) when they are all present already.
set -euo pipefail

PACKAGES=(
  postgresql-15 postgresql-server-dev-15 postgresql-contrib   # server, PGXS headers (+clang-14/llvm-14 for bitcode); pg_trgm, unaccent
  g++ make cmake pkg-config                                   # toolchain
  libcurl4-openssl-dev nlohmann-json3-dev libssl-dev          # core: HTTP, JSON, HMAC/SHA
  libsimdjson-dev                                             # core: fast parsing of API pages
  libxml2-dev                                                 # core: HTML → text (description_html, pages)
  libmicrohttpd-dev                                           # embedded webhook receiver
  libpq-dev                                                   # bench/receiver_throughput.py's baseline server
  libgtest-dev                                                # core unit tests
  python3 python3-psycopg2                                    # simulator, integration tests, benchmarks
  util-linux curl                                             # runuser (Postgres runs unprivileged); curl for the bench floor
  clang-14 libclang-rt-14-dev                                 # sanitizer and libFuzzer runtimes
  valgrind                                                    # the server under memcheck (scripts/valgrind-integration.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
