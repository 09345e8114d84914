#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A starting manager stops any vtpm an earlier manager left running before
# it serves (issue 14, Medium 5). The manager records each vtpm it starts
# (DATA/pids/UUID: pid, start time, uid, boot id). A vtpm cannot outlive its
# manager any more (its death signal is fixed; test_sandbox_limits), so the
# survivor is simulated: manager 1 runs vTPMs V and W, and manager 2, on its
# own data directory and stand-in TPM, starts with copies of manager 1's
# records, as if it were manager 1's successor and V had outlived it:
# - V's record matches the running V: manager 2 kills V before it is ready;
# - two records name W's pid, one with another start time (the pid was
#   recycled), one from another boot: W must not be touched;
# - every record is gone afterwards.
# No process is found by uid range: other managers may share it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

m_setup
V=$M_UUID
vpid=$M_VTPM_PID
m_create
W=$M_UUID
m_vtpm_start "$W"
wpid=$M_VTPM_PID
first=$M_MGR_PID
data1=$M_DATA log1=$M_LOG
for u in "$V" "$W"; do
  [ -s "$data1/pids/$u" ] || m_fail "manager 1 keeps no record of vTPM $u in $data1/pids"
done

t_log "manager 2 with manager 1's records (V's as it is; W's recycled, or from another boot)"
M_DATA="$T_DIR/data2" M_RUN="$T_DIR/run2" M_LOG="$T_DIR/mgr2.log" M_PIDFILE="$T_DIR/mgr2.pid"
M_SOCKET="$M_RUN/control.sock" M_HW_STATE="$T_DIR/hw2" M_HW_PORT=
mkdir -p "$M_DATA/pids"
cp "$data1/pids/$V" "$M_DATA/pids/$V"
awk '{ $2 = $2 + 1; print }' "$data1/pids/$W" >"$M_DATA/pids/$W"
awk '{ $4 = "00000000-0000-0000-0000-000000000000"; print }' "$data1/pids/$W" >"$M_DATA/pids/other-boot"
m_hw_start
m_mgr_start
m_dead "$vpid" || m_fail "V (pid $vpid) still runs after manager 2 became ready"
stop_line=$(grep -n "vtpm $V (pid $vpid, uid [0-9]*) outlived an earlier manager: stopping it" "$M_LOG" | cut -d: -f1)
ready_line=$(grep -n "vtpmmgr info: ready: " "$M_LOG" | cut -d: -f1)
[ -n "$stop_line" ] || m_fail "manager 2 does not say it stopped V"
[ "$stop_line" -lt "$ready_line" ] || m_fail "manager 2 stopped V only after it was ready"
m_alive "$wpid" || m_fail "manager 2 killed W (pid $wpid) on a record that did not match it"
[ -z "$(ls -A "$M_DATA/pids")" ] || m_fail "records left in $M_DATA/pids: $(ls "$M_DATA/pids")"
m_mgr_stop

t_log "manager 1 saw V end and still serves W"
M_DATA=$data1 M_LOG=$log1 M_MGR_PID=$first M_SOCKET="$T_DIR/run/control.sock"
t_wait_for grep -q "vtpm $V (pid $vpid) crashed: signal 9" "$M_LOG" ||
  m_fail "manager 1 did not report V killed"
[ "$(m_vtpm_pid "$W")" = "$wpid" ] || m_fail "manager 1 no longer runs W as pid $wpid"
[ ! -e "$M_DATA/pids/$V" ] || m_fail "manager 1 kept the record of V after reaping it"
m_mgr_stop
[ -z "$(ls -A "$M_DATA/pids")" ] || m_fail "records left after a clean stop: $(ls "$M_DATA/pids")"
m_done
