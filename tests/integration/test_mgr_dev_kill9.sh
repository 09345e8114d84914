#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 of `vtpmmgr --dev` must not leave its stand-in swtpm behind to
# block the next start: the next manager on the same directories starts
# (with a stand-in of its own) and serves, twice in a row, and what was
# created before the kill is still there. In the second round the stand-in
# is stopped (SIGSTOP) first, so that it cannot act on its death signal:
# the new manager must find it by its record and stop it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

# dev_launch: the manager with --dev instead of a TCTI; must come up.
dev_launch() {
  M_MGR_RC=
  t_bg "$MGR" -c /dev/null --dev --data-dir "$M_DATA" --run-dir "$M_RUN" \
    --vtpm "$VTPM" --log "$M_LOG" --pid "$M_PIDFILE"
  M_MGR_PID=$T_LAST_PID
  t_wait_for m_mgr_settled || m_fail "manager (pid $M_MGR_PID) neither ready nor gone in 10 s"
  m_alive "$M_MGR_PID" || m_fail "the --dev manager did not start: $(tail -n 3 "$M_LOG")"
}

# stand_ins: pids of swtpm processes whose state is this test's dev-tpm.
stand_ins() {
  local p
  for p in $(pgrep -x swtpm); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "dir=$M_DATA/dev-tpm " && echo "$p"
  done
}

dev_launch
m_create
m_vtpm_start "$M_UUID"
first=$M_UUID
for round in 1 2; do
  old=$(stand_ins)
  [ -n "$old" ] || m_fail "round $round: no stand-in swtpm found for the --dev manager"
  T_PIDS+=($old)	# killed at the end should the manager leave it behind
  t_log "round $round: kill -9 of the --dev manager (stand-in pid $old)"
  [ $round = 2 ] && kill -STOP $old
  m_mgr_kill9
  dev_launch
  [ "$(m_ctl --json show "$first" | m_field uuid)" = "$first" ] ||
    m_fail "round $round: the vTPM created before the kill is gone"
  for p in $old; do m_alive "$p" && m_late "round $round: the old stand-in (pid $p) still runs"; done
  m_create
  m_vtpm_start "$M_UUID"
  tpm2_getrandom -T "$TS_TCTI" -o "$T_DIR/r.bin" 8 || m_fail "round $round: the new vTPM does not serve"
done
m_mgr_stop
[ -z "$(stand_ins)" ] || m_late "a stand-in swtpm outlived the manager's clean stop"
m_done
