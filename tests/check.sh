#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make check`: builds and runs the whole suite with gcc, then again under
# ASan+UBSan with clang, and sums both into the final "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
total_pass=0 total_fail=0 total_skip=0
run_suite() {
  local label=$1 build=$2 targets=$3; shift 3
  echo "== $label"
  local out
  out=$(mktemp)
  if ! make -s -j2 BUILD="$build" "$@" $targets >"$out" 2>&1; then
    cat "$out"; rm -f "$out"
    echo "build failed: $label"
    total_fail=$((total_fail + 1))
    return
  fi
  rm -f "$out"
  bash tests/run.sh "$build" | tee "$out.log"
  local line
  line=$(tail -n 1 "$out.log")
  rm -f "$out.log"
  if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
    total_pass=$((total_pass + BASH_REMATCH[1]))
    total_fail=$((total_fail + BASH_REMATCH[2]))
    total_skip=$((total_skip + BASH_REMATCH[3]))
  else
    total_fail=$((total_fail + 1))
  fi
}
run_suite "gcc build" build "all" CC=gcc
run_suite "clang ASan+UBSan build, fuzz corpus replay" build-asan "all fuzz" CC=clang SAN=1
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
