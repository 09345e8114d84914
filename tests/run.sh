#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Runs every unit test binary, every fuzz corpus replay and every integration
# scenario, counts them, and ends with "N passed, N failed, N skipped".
# Usage: tests/run.sh BUILD_DIR
set -u
build=${1:?usage: tests/run.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=$(cd "$build" && pwd)
export VTPM="$BUILD/vtpm"
pass=0 fail=0 skip=0
failed=()
# Sanitizer builds report into files, so a report from a daemon whose
# output a test discards still fails the test that provoked it. A vtpm in
# the manager's sandbox cannot read these options or write here: mgr.sh
# copies its reports here from the manager's log (m_san_collect).
san_dir="$BUILD/sanitizer-reports"
rm -rf "$san_dir"; mkdir -p "$san_dir"
export ASAN_OPTIONS="log_path=$san_dir/asan:detect_leaks=1"
export UBSAN_OPTIONS="log_path=$san_dir/ubsan:print_stacktrace=1:halt_on_error=1"

run_one() {
  local name=$1; shift
  local log="$BUILD/test-logs/$name.log"
  mkdir -p "$(dirname "$log")"
  local t0=$SECONDS
  timeout --kill-after=10 "${TEST_TIMEOUT:-600}" "$@" >"$log" 2>&1
  local rc=$?
  local dt=$((SECONDS - t0))
  if [ -n "$(ls -A "$san_dir")" ]; then
    echo "sanitizer report:" >>"$log"; cat "$san_dir"/* >>"$log"
    mkdir -p "$BUILD/test-logs/sanitizer"; mv "$san_dir"/* "$BUILD/test-logs/sanitizer/"
    [ $rc -eq 0 ] || [ $rc -eq 77 ] && rc=1
  fi
  case $rc in
    0) pass=$((pass + 1)); echo "PASS $name (${dt}s)";;
    77) skip=$((skip + 1)); echo "SKIP $name: $(grep -m1 '^SKIP' "$log" | sed 's/^SKIP [^:]*: //')";;
    *) fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name (rc=$rc, ${dt}s)"; tail -n 30 "$log" | sed 's/^/    /';;
  esac
}

for t in "$BUILD"/tests/unit/test_*; do
  [ -x "$t" ] || continue
  run_one "unit/$(basename "$t")" "$t"
done
for f in "$BUILD"/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  n=$(basename "$f")
  run_one "fuzz/$n" "$f" -runs=0 "$top/fuzz/corpus/${n#fuzz_}"
done
for t in "$top"/tests/integration/test_*.sh; do
  [ -f "$t" ] || continue
  [ -n "${TEST_FILTER:-}" ] && [[ "$(basename "$t")" != *$TEST_FILTER* ]] && continue
  run_one "integration/$(basename "$t" .sh)" bash "$t"
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
