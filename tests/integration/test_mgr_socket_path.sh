#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The socket paths of a managed vTPM (issue 14, Medium 7: the manager
# deleted any file at a configured socket path and accepted ..):
#  - relative paths and . or .. components are refused at create;
#  - a regular file at a socket path is never deleted: create refuses it,
#    and a start that meets one (put there after create) fails, the log
#    naming the file; a socket file left behind is replaced;
#  - a path a running vTPM listens on is refused to another vTPM's start;
#  - the socket files go when the vTPM stops and when the manager stops,
#    and destroy removes one left behind, never a regular file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"
. "$(dirname "$0")/endpoint.sh"

m_hw_start
m_mgr_start

t_log "relative paths, . and .. are refused"
e_refused "relative path" "absolute" "server=unix:relative.sock"
e_refused ".. component" "\.\." "server=unix:$T_DIR/../escape.sock"
e_refused "trailing .." "\.\." "ctrl=unix:$T_DIR/.."
e_refused ". component" "\.\." "tpmif=$T_DIR/./x.tpmif"
e_refused ".. in binary" "\.\." "binary=/usr/../bin/false"

t_log "a regular file at a socket path: create refuses, start fails, the file stays"
echo precious >"$T_DIR/file.sock"
e_refused "regular file at the path" "not a socket" "server=unix:$T_DIR/file.sock"
[ "$(cat "$T_DIR/file.sock")" = precious ] || m_late "create removed or changed a regular file"
ua=$(e_uuid)
e_create "$ua" "server=unix:$(m_sock "$ua"),ctrl=unix:$(m_sock "$ua").ctrl,flags=startup-clear"
echo precious >"$(m_sock "$ua").ctrl"
log0=$(m_log_lines)
m_ctl start "$ua" >"$T_DIR/out" 2>&1 && m_late "start over a regular file at the ctrl path succeeded"
[ "$(cat "$(m_sock "$ua").ctrl" 2>/dev/null)" = precious ] || m_late "start removed a regular file"
m_log_since "$log0" | grep -qF "$(m_sock "$ua").ctrl exists and is not a socket" ||
  m_late "the log does not name the file in the way: $(m_log_since "$log0")"
[ -e "$(m_sock "$ua")" ] && m_late "a failed start left its data socket behind"
rm -f "$(m_sock "$ua").ctrl"

t_log "a socket file left behind is replaced"
e_stale_socket "$(m_sock "$ua").ctrl"
m_vtpm_start "$ua"

t_log "a path a running vTPM listens on is not taken by another"
ub=$(e_uuid)
e_create "$ub" "server=unix:$(m_sock "$ub"),ctrl=unix:$(m_sock "$ua").ctrl,flags=startup-clear"
log0=$(m_log_lines)
m_ctl start "$ub" >"$T_DIR/out" 2>&1 && m_late "a second vTPM took the ctrl path of a running one"
m_log_since "$log0" | grep -q "in use by vTPM $ua" ||
  m_late "the log does not say which vTPM uses the path: $(m_log_since "$log0")"
tpm2_getrandom -T "$(m_tcti "$ua")" 8 >/dev/null || m_late "the first vTPM no longer serves"
m_ctl destroy --yes "$ub" >/dev/null || m_fail "destroy $ub failed"
[ -S "$(m_sock "$ua").ctrl" ] || m_late "destroying the second vTPM removed the first one's socket"

t_log "the socket files go when the vTPM stops, and when the manager stops"
m_vtpm_stop "$ua"
for s in "$(m_sock "$ua")" "$(m_sock "$ua").ctrl"; do
  [ -e "$s" ] && m_late "$s still there after the vTPM stopped"
done
m_vtpm_start "$ua"
m_mgr_stop
for s in "$(m_sock "$ua")" "$(m_sock "$ua").ctrl"; do
  [ -e "$s" ] && m_late "$s still there after the manager stopped"
done

t_log "destroy removes a socket left behind at its paths, never a regular file"
m_mgr_start
t_wait_for m_vtpm_ready "$ua" || m_fail "vTPM $ua did not come back with the manager"
m_ctl stop "$ua" >/dev/null || m_fail "stop $ua"
e_stale_socket "$(m_sock "$ua")"
echo precious >"$(m_sock "$ua").ctrl"
m_ctl destroy --yes "$ua" >/dev/null || m_fail "destroy $ua failed"
[ -e "$(m_sock "$ua")" ] && m_late "destroy left a socket file at $(m_sock "$ua")"
[ "$(cat "$(m_sock "$ua").ctrl" 2>/dev/null)" = precious ] || m_late "destroy removed a regular file"
m_done
