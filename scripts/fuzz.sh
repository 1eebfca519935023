#!/usr/bin/env bash
# Builds every libFuzzer target in test/fuzz (clang-14, with ASan and UBSan) and runs each for a
# bounded time (FUZZ_SECONDS, default 20) on its checked-in corpus. Exit status: 0 when no target
# found anything. New inputs go to build/fuzz-corpus/<target>, leaving test/fuzz/corpus small.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
CXX=${FUZZ_CXX:-clang++-14}
mkdir -p build/fuzz
status=0
for src in test/fuzz/*_fuzz.cpp; do
  name=$(basename "$src" .cpp)
  target=${name%_fuzz}
  bin=build/fuzz/$name
  $CXX -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Isrc $(pkg-config --cflags simdjson libxml-2.0) src/core/*.cpp "$src" -lcurl -lcrypto \
    $(pkg-config --libs simdjson libxml-2.0) -o "$bin"
  mkdir -p "build/fuzz-corpus/$target"
  dict=()
  [ -f "test/fuzz/$target.dict" ] && dict=(-dict="test/fuzz/$target.dict")
  if (cd build/fuzz && "./$name" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 "${dict[@]/#-dict=/-dict=../../}" \
        "../fuzz-corpus/$target" "../../test/fuzz/corpus/$target") >"build/fuzz/$name.log" 2>&1; then
    echo "ok: $name ($(grep -E 'stat::number_of_executed_units' build/fuzz/$name.log | awk '{print $2}') runs in ${SECONDS_PER_TARGET}s)"
  else
    echo "FAILED: $name found a crash or a broken invariant:"
    tail -30 "build/fuzz/$name.log"
    status=1
  fi
done
exit $status
