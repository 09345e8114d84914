#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The documented limit of a standalone vtpm (README, vtpm(8)): its state is
# integrity-checked, not rollback-protected. An older but intact copy of
# tpm2-permall put back in place while vtpm is stopped is accepted, and the
# TPM comes back with the older NV contents. This test pins that behaviour
# so that the documentation and the code cannot drift apart: when standalone
# rollback protection lands, this test and the documentation change together.
# (Under vtpmmgr the same replay is refused: test_mgr_state_rollback.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile.sh"

FLAGS=(--flags not-need-init,startup-clear)
PERMALL=tpm2-permall

h_case "older intact state file put back: accepted (standalone has no rollback protection)"
h_start unix "${FLAGS[@]}"
h_nv_setup
old=$H_NV_WANT
t_stop "$H_PID" || h_fail "daemon ignored SIGTERM"
wait "$H_PID" 2>/dev/null
cp -p "$H_STATE/$PERMALL" "$T_DIR/old.permall" || h_fail "no $PERMALL in $H_STATE"

h_start unix "${FLAGS[@]}"
h_nv_write ffeeddccbbaa99887766554433221100
h_healthy
t_stop "$H_PID" || h_fail "daemon ignored SIGTERM"
wait "$H_PID" 2>/dev/null
cmp -s "$H_STATE/$PERMALL" "$T_DIR/old.permall" && h_fail "$PERMALL did not change"

cp -p "$T_DIR/old.permall" "$H_STATE/$PERMALL"
h_start unix "${FLAGS[@]}"
h_nv_read
[ "$NV" = "$old" ] ||
  h_fail "the replayed $PERMALL did not load as documented: NV holds $NV, want the old $old"
H_NV_WANT=$old
h_healthy
t_stop "$H_PID" || h_fail "daemon ignored SIGTERM"
