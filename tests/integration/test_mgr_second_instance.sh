#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# One manager per data directory. A second vtpmmgr started on the data and
# run directories of a running one must refuse (non-zero exit) before it
# touches anything: the first keeps its control socket and its vTPM keeps
# serving on its socket; a vTPM created and NV written meanwhile, then both
# stopped, the store still verifies at the next start and holds everything.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

m_setup
first=$M_MGR_PID
ts_nv_define_write "$TS_NV_INDEX" 24
vpid=$M_VTPM_PID

t_log "second manager on the same directories"
lines=$(m_log_lines)
m_mgr_launch
second=$M_MGR_PID
if [ -z "$M_MGR_RC" ]; then
  m_late "a second manager (pid $second) started beside the first (pid $first)"
elif [ "$M_MGR_RC" -eq 0 ]; then
  m_late "the second manager exited 0"
else
  t_log "second manager refused: exit $M_MGR_RC: $(m_log_since "$lines" | grep -m1 error | sed 's/.*error: //')"
  second=
fi
M_MGR_PID=$first
m_alive "$vpid" || m_late "the first manager's vtpm (pid $vpid) died"
tpm2_getrandom -T "$TS_TCTI" 8 >/dev/null 2>&1 ||
  m_late "the vTPM no longer answers on $(m_sock "$M_UUID") (its vtpm pid $vpid is" \
    "$(m_alive "$vpid" && echo alive || echo gone)): the second manager took its socket path"
[ "$(m_vtpm_pid "$M_UUID")" = "$vpid" ] ||
  m_late "the control socket no longer reaches the first manager: it reports vTPM pid" \
    "'$(m_vtpm_pid "$M_UUID")', the first manager runs $vpid"

t_log "changes through whichever manager answers, then both stopped"
keep=$M_UUID
m_create
M_UUID=$keep TS_TCTI=$(m_tcti "$keep")
if [ -n "$second" ]; then
  M_MGR_PID=$second
  m_mgr_stop
fi
M_MGR_PID=$first
m_mgr_stop

t_log "next start: the store verifies, both vTPMs and the NV data there"
lines=$(m_log_lines)
m_mgr_launch
[ -z "$M_MGR_RC" ] ||
  m_fail "the manager refuses its own store after two managers ran (exit $M_MGR_RC):" \
    "$(m_log_since "$lines" | grep error | tail -n 2 | tr '\n' ' ')"
n=$(m_ctl --json list | m_py "len(d['vtpms'])")
[ "$n" -eq 2 ] || m_late "the store lists $n vTPMs, want 2"
m_vtpm_wait "$keep"
ts_nv_expect "$TS_NV_INDEX"
m_mgr_stop
m_done
