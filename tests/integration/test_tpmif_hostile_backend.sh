#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# libtpmfront against a hostile backend: tpmif_peer back CASE forks a fake
# vtpm that completes (or botches) the handshake and then answers wrongly,
# while the tool's main process is a libtpmfront client. Answers longer
# than the ring, the caller's buffer or the room left by nr_extra_pages =
# 255 give EMSGSIZE with nothing copied past either (the buffer is an exact
# heap block: ASan builds see any overread); short or self-contradicting
# answers and backend-written SUBMIT/CANCEL/unknown states give EPROTO; IDLE
# gives ECANCELED; silence gives ETIMEDOUT on time, with the command still
# in flight (EBUSY on a second send); descriptors attached to Connected
# (which carries none) are closed; broken handshakes (no protocol v2, a
# wrong first state, a hang-up, silence) fail tpmfront_open. libtpmfront
# must leave no fd behind in any case. The event channel cases (evtchn-*)
# are test_tpmif_hostile_evtchn.sh's.
. "$(dirname "$0")/lib.sh"

PEER=${TPMIF_PEER:-${BUILD:-}/tpmif_peer}
[ -x "$PEER" ] || t_fail "tpmif_peer not found at '$PEER' (build it, or set TPMIF_PEER)"
failed=()
n=0
for c in $("$PEER" list back | grep -v '^evtchn-'); do
  t0=$SECONDS
  out=$(timeout --kill-after=5 30 "$PEER" back "$c" "$T_DIR" 2>&1)
  rc=$?
  n=$((n + 1))
  if [ $rc -eq 0 ]; then
    t_log "$c: ok ($((SECONDS - t0)) s)${out:+: $out}"
  else
    failed+=("$c")
    t_log "$c: FAILED (exit $rc): $out"
  fi
done
[ $n -gt 0 ] || t_fail "tpmif_peer lists no backend cases"
[ ${#failed[@]} -eq 0 ] || t_fail "libtpmfront misbehaved against: ${failed[*]}"
