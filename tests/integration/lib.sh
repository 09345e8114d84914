# SPDX-License-Identifier: BSD-3-Clause
# Shared helpers for integration scenarios: a private temp directory, free
# loopback ports, starting real daemons and killing exactly what we started.
# Sourced by tests/integration/test_*.sh; each scenario is one script.
#
# Environment from tests/run.sh: VTPM (path of the vtpm binary), BUILD (build
# directory). Exit codes: 0 pass, 1 fail, 77 skip (print why first).

set -u
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vtpm-test.XXXXXX")
T_PIDS=()
T_NAME=$(basename "$0" .sh)

t_cleanup() {
  local pid
  for pid in "${T_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${T_PIDS[@]}"; do
    # bounded wait, then force: a wedged daemon must not hang the suite
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  rm -rf "$T_DIR"
}
trap t_cleanup EXIT

t_fail() { echo "FAIL $T_NAME: $*" >&2; exit 1; }
t_skip() { echo "SKIP $T_NAME: $*" >&2; exit 77; }
t_log() { echo "  $T_NAME: $*" >&2; }

# t_port_free P: true when nothing listens on loopback TCP port P.
t_port_free() {
  ! ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q .
}

# t_free_ports N: prints the first of N consecutive free ports in 10000..32000.
t_free_ports() {
  local n=$1 p i ok
  for _ in $(seq 200); do
    p=$(( 10000 + RANDOM % 22000 ))
    ok=1
    for ((i = 0; i < n; i++)); do t_port_free $((p + i)) || { ok=0; break; }; done
    [ $ok -eq 1 ] && { echo "$p"; return 0; }
  done
  return 1
}

# t_wait_for COND...: polls a readiness condition for up to 10 s.
t_wait_for() {
  for _ in $(seq 200); do
    "$@" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

t_listening() { ! t_port_free "$1"; }

# t_bg CMD...: starts CMD in the background, records its pid, logs to T_DIR.
t_bg() {
  "$@" >>"$T_DIR/bg.log" 2>&1 &
  T_PIDS+=($!)
  T_LAST_PID=$!
}

# t_stop PID: SIGTERM and wait for exit (bounded).
t_stop() {
  kill -TERM "$1" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null
  return 1
}

# t_unix_listening PATH: true when a Unix stream socket listens at PATH (a
# socket file alone is not enough: it exists between bind() and listen()).
t_unix_listening() { ss -Hxl src "$1" 2>/dev/null | grep -q .; }
