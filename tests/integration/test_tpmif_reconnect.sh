#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A frontend that goes and comes back, as a guest that reboots or is
# kexec'd: ten sessions in a row on one vtpm, each a new tpmfront_probe
# that connects, is served GetRandom, and either says goodbye (Closed) or
# vanishes with a command in flight. After each the vtpm must be back to
# the fds it held before any frontend came, with no ring still mapped.
# First, to show those counts see a frontend at all: while one is
# connected the vtpm holds more fds and exactly one ring mapping.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"

tf_need_probe
tf_start || tf_fail "$VTPM did not listen on $TF_SOCK"
fds0=$(tf_fds)
[ "$(tf_rings)" -eq 0 ] || tf_fail "a ring is mapped before any frontend came"
t_log "vtpm holds $fds0 fds with no frontend"

mkfifo "$T_DIR/hold"
"$TF_PROBE" session "$TF_SOCK" hold <"$T_DIR/hold" >"$T_DIR/hold.out" 2>&1 &
hold_pid=$!
exec 3>"$T_DIR/hold"
held() { grep -q holding "$T_DIR/hold.out"; }
t_wait_for held || tf_fail "the holding session was not served: $(cat "$T_DIR/hold.out")"
fds1=$(tf_fds) rings1=$(tf_rings)
[ "$fds1" -gt "$fds0" ] && [ "$rings1" -eq 1 ] ||
  tf_fail "with a frontend connected: $fds1 fds, $rings1 rings mapped (before: $fds0, 0)"
exec 3>&-
wait "$hold_pid" || tf_fail "the holding session failed: $(cat "$T_DIR/hold.out")"
t_wait_for tf_is_baseline "$fds0" || tf_fail "after the holding session: $(tf_fds) fds, $(tf_rings) rings"
t_log "with a frontend connected: $fds1 fds, $rings1 ring mapped; after: $fds0 fds, 0 rings"

for i in $(seq 10); do
  how=close
  [ $((i % 2)) -eq 0 ] && how=vanish
  args=("$TF_SOCK")
  [ "$how" = vanish ] && args+=(vanish)
  out=$("$TF_PROBE" session "${args[@]}") || tf_fail "session $i ($how): not served"
  t_wait_for tf_is_baseline "$fds0" ||
    tf_fail "after session $i ($how): $(tf_fds) fds (want $fds0), $(tf_rings) rings mapped"
  t_log "session $i: $out; back to $fds0 fds, no ring mapped"
done
tf_alive || tf_fail "vtpm exited"
n=$(grep -c 'tpmif: frontend connected' "$TF_LOG")
[ "$n" -eq 11 ] || tf_fail "the vtpm logged $n frontend connections, want 11"
