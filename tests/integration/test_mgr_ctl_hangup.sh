#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A control client that hangs up while its start or stop waits for the
# vtpm: the manager must not spin (the old event loop kept the hung-up
# connection in poll, which reported POLLHUP at once, again and again,
# until the vtpm answered). The vtpm is made slow to stop by SIGSTOP; a
# client sends "stop U" and hangs up at once; over the next 2 s the
# manager's CPU time (utime+stime, /proc/PID/stat) must grow by less than
# 0.3 s: a busy-loop detector with a wide margin (a spinning manager burns
# the whole 2 s), not a performance threshold. Then vtpmctl --timeout 1
# against that same slow stop gives up, non-zero, with a clear message; a
# start whose client hangs up at once still brings the vTPM up and the
# manager keeps serving; and a start that fails (binary=/bin/false) leaves
# the autostart mark unset.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

# hangup REQUEST: connects to the control socket, sends REQUEST, hangs up.
hangup() {
  python3 - "$M_SOCKET" "$1" <<'PY' || m_fail "cannot send '$1' to the control socket"
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
s.close()
PY
}
# cpu_ticks PID: utime+stime of PID, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

m_setup
u=$M_UUID
hz=$(getconf CLK_TCK)

t_log "a stop client hangs up while the vtpm is slow to stop"
kill -STOP "$M_VTPM_PID" || m_fail "cannot SIGSTOP the vtpm $M_VTPM_PID"
hangup "stop $u"
sleep 0.2
before=$(cpu_ticks "$M_MGR_PID")
sleep 2
after=$(cpu_ticks "$M_MGR_PID")
m_alive "$M_MGR_PID" || m_fail "the manager died after a client hung up"
used=$((after - before))
[ "$used" -lt $((hz * 3 / 10)) ] ||
  m_fail "the manager used $used of $hz ticks/s over 2 s while a hung-up stop waited: it spins"
kill -CONT "$M_VTPM_PID"
t_wait_for m_vtpm_stopped "$u" || m_fail "the vTPM did not stop after the hung-up stop"
m_ctl --json status >/dev/null || m_fail "the manager no longer answers after a hung-up stop"

t_log "vtpmctl --timeout 1 gives up on a slow stop"
m_vtpm_start "$u"
kill -STOP "$M_VTPM_PID" || m_fail "cannot SIGSTOP the vtpm $M_VTPM_PID"
m_ctl --timeout 1 stop "$u" >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
kill -CONT "$M_VTPM_PID"
[ $rc -ne 0 ] || m_fail "vtpmctl --timeout 1 stop of a stopped-signalled vtpm exited 0: $(cat "$T_DIR/out")"
grep -q "no reply from vtpmmgr within 1 s" "$T_DIR/err" ||
  m_fail "vtpmctl --timeout 1: no clear message: $(cat "$T_DIR/err")"
t_wait_for m_vtpm_stopped "$u" || m_fail "the vTPM did not stop after vtpmctl gave up"
m_ctl --timeout x list >/dev/null 2>&1
[ $? -eq 2 ] || m_fail "vtpmctl --timeout x is not a usage error"

t_log "a start client hangs up at once; the vTPM still comes up"
hangup "start $u"
m_vtpm_wait "$u"
m_ctl --json show "$u" | m_py "d['vtpm']['autostart']" | grep -qx True ||
  m_fail "autostart not set once the vtpm served: $(m_ctl --json show "$u")"
m_vtpm_stop "$u"

t_log "a start that fails leaves autostart unset"
[ -x /bin/false ] || m_fail "no /bin/false"
uf=$(cat /proc/sys/kernel/random/uuid)
M_UUIDS+=("$uf")
m_ctl create --uuid "$uf" --dev "binary=/bin/false" >/dev/null || m_fail "vtpmctl create failed"
m_ctl start "$uf" >"$T_DIR/out" 2>"$T_DIR/err" && m_fail "start of binary=/bin/false succeeded"
[ "$(m_ctl --json show "$uf" | m_py "d['vtpm']['autostart']")" = False ] ||
  m_fail "autostart set after a start that failed: $(m_ctl --json show "$uf")"
m_done
