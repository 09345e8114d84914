#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# What happens to vTPMs when a vtpm or the manager goes down (vtpmmgr(8),
# ISOLATION and RESTARTS). Two vTPMs, each with NV data written.
#  1. kill -SEGV of a running vtpm: the manager logs it as crashed (signal
#     11; in a sanitizer build ASan reports the SEGV, which this test
#     expects, and the vtpm exits with status 1) and keeps serving, the other vTPM too; it is not started again by
#     itself and stays marked to start; vtpmctl start brings it back with
#     its NV data.
#  2. SIGTERM of the manager: it stops every vtpm (each records its last
#     state) before it exits 0, so no vtpm process is left; the next manager
#     start brings both back (autostart) with their NV data.
#  3. kill -9 of the manager: its vtpms cannot record state without it, so
#     each notices the manager's channel close and exits on its own within a
#     few seconds, saying so in the log; the next manager start brings both
#     back with their NV data.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

EXIT_WAIT=5	# seconds a vtpm may take to notice its manager is gone
t0=$SECONDS

log_has() { grep -Eq -- "$1" "$M_LOG"; }

# nv_check UUID: the vTPM serves and its NV index holds what was written.
nv_check() {
  TS_TCTI=$(m_tcti "$1")
  cp "$T_DIR/nv.$1" "$TS_WORK/nv.data"
  ts_nv_expect "$TS_NV_INDEX"
}

# gone PID: the process no longer runs the vtpm binary (exited; a zombie
# no one has reaped yet counts as exited).
gone() { ! m_is_vtpm "$1"; }

# wait_gone SECONDS PID...: every PID exits within the bound.
wait_gone() {
  local end=$((SECONDS + $1)) p left
  shift
  while :; do
    left=()
    for p in "$@"; do gone "$p" || left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    [ $SECONDS -ge $end ] && { echo "${left[*]}"; return 1; }
    sleep 0.05
  done
}

m_hw_start
m_mgr_start
U=()
for i in 0 1; do
  m_create
  U[i]=$M_UUID
  m_vtpm_start "${U[i]}"
  ts_nv_define_write "$TS_NV_INDEX" 24
  cp "$TS_WORK/nv.data" "$T_DIR/nv.${U[i]}"
done

t_log "1. kill -SEGV of a running vtpm"
pid=$(m_vtpm_pid "${U[0]}")
mark=$(m_log_lines)
segv_end="crashed: signal 11"
if m_san_build; then
  m_san_expect "${U[0]}"
  segv_end="exited with status 1"
fi
kill -SEGV "$pid"
t_wait_for m_vtpm_stopped "${U[0]}" || m_fail "the manager still reports the SEGV-killed vtpm running"
m_log_since "$mark" | grep -Eq "vtpm ${U[0]} \(pid $pid\) $segv_end$" ||
  m_fail "the manager did not log pid $pid as $segv_end"
! m_san_build || m_vtpm_output "${U[0]}" | grep -qE '==[0-9]+==ERROR: AddressSanitizer: SEGV' ||
  m_fail "no ASan report of the SEGV in the manager's log"
m_alive "$M_MGR_PID" || m_fail "the manager died with its vtpm"
m_ctl status >/dev/null || m_fail "vtpmctl status failed after the crash"
nv_check "${U[1]}"
[ "$(m_ctl --json show "${U[0]}" | m_py "d['vtpm']['autostart']")" = True ] ||
  m_fail "the crashed vTPM lost its autostart mark"
m_vtpm_start "${U[0]}"
[ "$M_VTPM_PID" != "$pid" ] || m_fail "vtpmctl start reports the dead pid $pid"
nv_check "${U[0]}"

t_log "2. SIGTERM of the manager stops every vtpm; the next start brings them back"
pids=("$(m_vtpm_pid "${U[0]}")" "$(m_vtpm_pid "${U[1]}")")
mark=$(m_log_lines)
m_mgr_stop
still=$(wait_gone 0 "${pids[@]}") || m_fail "vtpm pids $still outlived the manager's SIGTERM"
for i in 0 1; do
  m_log_since "$mark" | grep -Eq "vtpm ${U[i]} \(pid ${pids[i]}\) stopped$" ||
    m_fail "the manager did not log a clean stop of ${U[i]} (pid ${pids[i]})"
done
m_mgr_start
for i in 0 1; do
  m_vtpm_wait "${U[i]}"
  nv_check "${U[i]}"
done

t_log "3. kill -9 of the manager: its vtpms exit on their own"
pids=("$(m_vtpm_pid "${U[0]}")" "$(m_vtpm_pid "${U[1]}")")
mark=$(m_log_lines)
ms0=$(date +%s%3N)
m_mgr_kill9
still=$(wait_gone "$EXIT_WAIT" "${pids[@]}") ||
  m_fail "vtpm pids $still still running $EXIT_WAIT s after the manager's kill -9"
t_log "   both vtpms gone $(($(date +%s%3N) - ms0)) ms after the kill -9"
# they die with it: killed with it (PDEATHSIG), or, if a vtpm saw its channel
# close first, it stops without writing state; nothing else
m_log_since "$mark" | grep 'vtpm\[' |
  grep -Ev 'the manager has gone away; stopping without writing state|info: stopped$' &&
  m_fail "a vtpm did more than stop after its manager died"
m_mgr_start
for i in 0 1; do
  m_vtpm_wait "${U[i]}"
  nv_check "${U[i]}"
done
m_mgr_stop
t_log "ok in $((SECONDS - t0)) s"
