#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Cancel over the tpmif ring: tpmfront_probe sends TPM2_CreatePrimary
# RSA-3072 (0.1-0.3 s of prime search), calls tpmfront_cancel 0, 1, 5, 20
# and 50 ms later and once after the answer was posted, then
# tpmfront_recv. The protocol allows FINISH (the command completed anyway)
# or IDLE (aborted, ECANCELED); either way the next GetRandom on the same
# ring must work, and then one more cancel with nothing in flight. The
# outcomes are logged; so is a "leaked" key, which an IDLE for a command
# that had already run leaves loaded in the TPM (the probe flushes it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"

tf_need_probe
tf_start || tf_fail "$VTPM did not listen on $TF_SOCK"
"$TF_PROBE" cancel "$TF_SOCK" >"$T_DIR/cancel.out" ||
  { sed 's/^/  probe: /' "$T_DIR/cancel.out" >&2; tf_fail "tpmfront_probe cancel failed"; }
sed "s/^/  $T_NAME: /" "$T_DIR/cancel.out" >&2
[ "$(grep -c '^cancel delay_us .* outcome ' "$T_DIR/cancel.out")" -eq 6 ] ||
  tf_fail "the probe reported fewer than 6 cancels"
grep -q '^cancel idle .*, ring usable$' "$T_DIR/cancel.out" ||
  tf_fail "no report of the cancel with nothing in flight"
if grep -q 'leaked [1-9]' "$T_DIR/cancel.out"; then
  t_log "note: a cancel answered with IDLE after the command had run; its key stayed loaded"
fi
tf_alive || tf_fail "vtpm exited"
