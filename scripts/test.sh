#!/usr/bin/env bash
# Runs every test of plane_connector and ends with one line: "N passed, N failed".
#   1. installs missing Debian packages, builds and installs the extension
#   2. core unit tests (GoogleTest via CTest)
#   3. the Plane simulator's own tests
#   4. pg_regress (make installcheck) on a private cluster without preloading
#   5. integration tests: Postgres with the library preloaded + the simulator
#   6. the main integration scenarios again with the server under valgrind (scripts/valgrind-integration.sh)
#   7. a quick smoke run of each benchmark (small sizes), so that they cannot rot
#   and, after the unit tests: the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#   and every libFuzzer target for FUZZ_SECONDS (default 20) each (scripts/fuzz.sh)
# Set PLANE_TEST_ONLY="unit regress" (stages: unit sanitize fuzz simulator regress integration valgrind bench).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=/usr/bin/python3
ONLY=${PLANE_TEST_ONLY:-"unit sanitize fuzz simulator regress integration valgrind bench"}
LOGDIR=$ROOT/build/test-logs
mkdir -p "$LOGDIR"
passed=0
failed=0

note() { printf '\n=== %s\n' "$*"; }
want() { [[ " $ONLY " == *" $1 "* ]]; }

# Adds the counts of a finished stage; a stage that printed no summary counts as one failure.
count_ctest() {  # "100% tests passed, 0 tests failed out of 37"
  local line total bad
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$1" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
  bad=$(sed -E 's/.*passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + total - bad)); failed=$((failed + bad))
}
count_unittest() {  # "Ran 12 tests in 3.2s" then "OK" / "FAILED (failures=1, errors=2, skipped=1)"
  local ran bad=0 skipped=0 tail_line
  ran=$(grep -E '^Ran [0-9]+ tests?' "$1" | tail -1 | awk '{print $2}')
  if [ -z "$ran" ]; then failed=$((failed + 1)); return; fi
  tail_line=$(grep -E '^(OK|FAILED)' "$1" | tail -1)
  for k in failures errors; do
    n=$(grep -oE "$k=[0-9]+" <<<"$tail_line" | cut -d= -f2)
    bad=$((bad + ${n:-0}))
  done
  n=$(grep -oE "skipped=[0-9]+" <<<"$tail_line" | cut -d= -f2); skipped=${n:-0}
  [ -z "$tail_line" ] && bad=$((bad + 1))
  passed=$((passed + ran - bad - skipped)); failed=$((failed + bad))
}
count_regress() {  # "All 4 tests passed." / "1 of 4 tests failed."
  local line
  if line=$(grep -oE 'All [0-9]+ tests passed' "$1" | tail -1) && [ -n "$line" ]; then
    passed=$((passed + $(awk '{print $2}' <<<"$line")))
  elif line=$(grep -oE '[0-9]+ of [0-9]+ tests failed' "$1" | tail -1) && [ -n "$line" ]; then
    local bad total
    bad=$(awk '{print $1}' <<<"$line"); total=$(awk '{print $3}' <<<"$line")
    passed=$((passed + total - bad)); failed=$((failed + bad))
  else
    failed=$((failed + 1))
  fi
}

note "dependencies and build"
# Warnings are errors here (PLANE_WERROR): the tests run only on a warning-free build.
if ! bash scripts/install-deps.sh || ! make -s -j2 PLANE_WERROR=1 >"$LOGDIR/build.log" 2>&1 || ! make -s install >>"$LOGDIR/build.log" 2>&1; then
  cat "$LOGDIR/build.log"
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
if grep -E 'warning:' "$LOGDIR/build.log"; then
  echo "the build is not warning-free (see above)"
  failed=$((failed + 1))
fi

if want unit; then
  note "core unit tests (GoogleTest)"
  { cmake -S . -B build/cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLANE_WERROR=ON >/dev/null &&
    cmake --build build/cmake -j2 2>&1 | grep -E 'warning:|error:' ;
    (cd build/cmake && ctest --output-on-failure 2>&1); } | tee "$LOGDIR/unit.log" | tail -5
  count_ctest "$LOGDIR/unit.log"
fi

if want sanitize; then
  note "core unit tests under ASan + UBSan"
  { cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DPLANE_SANITIZE=ON -DPLANE_WERROR=ON -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null &&
    cmake --build build/asan -j2 2>&1 | grep -E 'warning:|error:' ;
    (cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure 2>&1); } \
    | tee "$LOGDIR/sanitize.log" | tail -3
  count_ctest "$LOGDIR/sanitize.log"
fi

if want fuzz; then
  note "fuzz targets (${FUZZ_SECONDS:-20} s each)"
  bash scripts/fuzz.sh 2>&1 | tee "$LOGDIR/fuzz.log"
  passed=$((passed + $(grep -c '^ok: ' "$LOGDIR/fuzz.log")))
  failed=$((failed + $(grep -c '^FAILED: ' "$LOGDIR/fuzz.log")))
  grep -qE '^(ok|FAILED): ' "$LOGDIR/fuzz.log" || failed=$((failed + 1))
fi

if want simulator; then
  note "simulator tests"
  $PY -m unittest discover -s test/simulator -p 'test_*.py' 2>&1 | tee "$LOGDIR/simulator.log" | tail -4
  count_unittest "$LOGDIR/simulator.log"
fi

if want regress; then
  note "pg_regress"
  REGDIR=$(mktemp -d /tmp/plane_regress.XXXXXX)
  (
    source test/lib/pgcluster.sh
    trap 'pgcluster_stop "$REGDIR"' EXIT
    pgcluster_start "$REGDIR" "$(pgcluster_free_port)" || exit 1
    make -s installcheck 2>&1
    [ -f build/regress/regression.diffs ] && head -100 build/regress/regression.diffs
    exit 0
  ) | tee "$LOGDIR/regress.log" | tail -6
  rm -rf "$REGDIR"
  count_regress "$LOGDIR/regress.log"
fi

if want integration; then
  note "integration tests"
  (cd test/integration && $PY -m unittest discover -s . -p 'test_*.py' -v 2>&1) \
    | tee "$LOGDIR/integration.log" | grep -E '(ok|FAIL|ERROR|skipped.*)$|^Ran |^(OK|FAILED)|Error|assert' | tail -60
  count_unittest "$LOGDIR/integration.log"
fi

if want valgrind; then
  note "main integration scenarios with the server under valgrind"
  bash scripts/valgrind-integration.sh 2>&1 | tee "$LOGDIR/valgrind.log" | tail -12
  passed=$((passed + $(grep -c ' \.\.\. ok$' "$LOGDIR/valgrind.log")))
  failed=$((failed + $(grep -cE ' \.\.\. (FAIL|ERROR)$' "$LOGDIR/valgrind.log")))
  if grep -q "plane_connector's code: 0;" "$LOGDIR/valgrind.log"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAILED: valgrind reports in plane_connector's code (or no report summary)"
  fi
fi

if want bench; then
  note "benchmark smoke runs"
  for b in "backfill_memory.py --projects 2 --items-per-project 1000" "backfill_throughput.py --quick" \
           "rate_limited_backfill.py --quick" "webhook_ingest.py --quick" "queue_drain.py --quick" \
           "ingest_latency.py --quick" "idle_cost.py --quick" "second_workspace.py --quick" \
           "ingest_breakdown.py --quick" "receiver_throughput.py --quick" "page_size_backfill.py --quick" \
           "search_latency.py --quick"; do
    if $PY bench/$b >"$LOGDIR/bench.log" 2>&1; then
      passed=$((passed + 1)); echo "ok: bench/$b"
    else
      failed=$((failed + 1)); echo "FAILED: bench/$b"; tail -20 "$LOGDIR/bench.log"
    fi
  done
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
