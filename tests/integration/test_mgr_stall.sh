#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A manager stall never leaves a vTPM broken. The manager is stopped
# (SIGSTOP) while a tpm2_nvwrite needs it to record the state write; after
# STALL seconds (default 35, longer than any timeout the vtpm used to have:
# a scenario length, not a threshold) it is continued (SIGCONT). The write
# must then complete, or report failure with the old value still in the
# index; either way the vTPM must go on working (further commands succeed)
# and what the guest was told must hold across a restart of the vTPM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

STALL=${STALL:-35}
INDEX=0x01500021

m_setup
tcti=$TS_TCTI
tpm2_nvdefine -T "$tcti" -C o -s 8 -a "ownerread|ownerwrite" "$INDEX" >/dev/null ||
  m_fail "tpm2_nvdefine $INDEX failed"
printf 'old-data' >"$T_DIR/old.bin"
printf 'new-data' >"$T_DIR/new.bin"
tpm2_nvwrite -T "$tcti" -C o -i "$T_DIR/old.bin" "$INDEX" || m_fail "first tpm2_nvwrite failed"

nv_holds() {
  tpm2_nvread -T "$tcti" -C o -s 8 -o "$T_DIR/r.bin" "$INDEX" 2>/dev/null &&
    cmp -s "$T_DIR/r.bin" "$1"
}

t_log "manager stopped for $STALL s during a tpm2_nvwrite"
kill -STOP "$M_MGR_PID"
tpm2_nvwrite -T "$tcti" -C o -i "$T_DIR/new.bin" "$INDEX" >"$T_DIR/w.log" 2>&1 &
wpid=$!
T_PIDS+=("$wpid")
sleep "$STALL"
m_alive "$wpid" || t_log "the write ended during the stall: $(cat "$T_DIR/w.log")"
kill -CONT "$M_MGR_PID"
wait "$wpid"
wrc=$?
m_forget "$wpid"
if [ $wrc -eq 0 ]; then
  want=$T_DIR/new.bin
  t_log "the write completed once the manager was back"
else
  want=$T_DIR/old.bin
  t_log "the write reported failure: $(tail -n 2 "$T_DIR/w.log" | tr '\n' ' ')"
fi

t_log "the vTPM still works"
nv_holds "$want" ||
  m_late "after the stall the index holds '$(cat "$T_DIR/r.bin" 2>/dev/null)', want '$(cat "$want")'" \
    "(write exit status $wrc)"
printf 'aftstall' >"$T_DIR/after.bin"
if tpm2_nvwrite -T "$tcti" -C o -i "$T_DIR/after.bin" "$INDEX"; then
  want=$T_DIR/after.bin
  nv_holds "$want" || m_late "a write after the stall does not read back"
else
  m_late "tpm2_nvwrite after the stall failed: the vTPM is broken"
fi
tpm2_getrandom -T "$tcti" -o "$T_DIR/rand.bin" 16 || m_late "tpm2_getrandom after the stall failed"

t_log "what the client was told holds across a restart of the vTPM"
m_vtpm_stop "$M_UUID"
m_vtpm_start "$M_UUID"
nv_holds "$want" ||
  m_late "after a vTPM restart the index holds '$(cat "$T_DIR/r.bin" 2>/dev/null)', want '$(cat "$want")'"
m_mgr_stop
m_done
