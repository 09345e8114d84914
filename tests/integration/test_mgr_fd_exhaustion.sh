#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The manager's control socket out of descriptors does not spin, and the
# caps of vtpmmgr.conf hold. With control_max_connections = 3 and
# vtpm_max_connections = 2: three control clients wait for the start of a
# vTPM that never comes up (tests/tools/hostile_vtpm, HOSTILE_HANG_NAMES),
# a fourth and a fifth are closed at once (EOF, no reply) and logged once,
# and once those vTPMs are killed (their starts answered), vtpmctl is
# served again; a vTPM's data socket keeps two
# connections and closes a third (the manager passes the cap on to the vtpm
# as --max-connections). Then the manager gets RLIMIT_NOFILE of its open
# descriptors + 8 (prlimit on the running process), the control cap is
# lifted (a manager restarted with control_max_connections = 0) and a
# client opens 64 connections: the manager takes what it can, the rest
# wait in the queue, which stays readable. Over the next 2 s its CPU time
# (utime+stime, /proc/PID/stat) must grow by less than 0.1 s: a busy-loop
# detector with a wide margin (the old accept loop burned all of it), not
# a performance threshold. Once they close, vtpmctl is served again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

CONNS="$(dirname "$0")/conns.py"
command -v prlimit >/dev/null || t_skip "prlimit (util-linux) is not installed"
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
at_least() { [ "$(fd_count "$1")" -ge "$2" ]; }

# hold ADDR N [LINE...]: a client holding up to N connections (conns.py hold).
hold() {
  rm -f "$T_DIR/held"
  python3 "$CONNS" hold "$1" "$2" "$T_DIR/held" "${@:3}" &
  HOLDER=$!
  T_PIDS+=("$HOLDER")
  t_wait_for test -s "$T_DIR/held" || m_fail "the client could not connect to $1"
}
unhold() { kill "$HOLDER"; wait "$HOLDER" 2>/dev/null; }

HOSTILE="$BUILD/hostile_vtpm"
[ -x "$HOSTILE" ] || t_fail "no $HOSTILE: build it first (make all)"
H=("$(cat /proc/sys/kernel/random/uuid)" "$(cat /proc/sys/kernel/random/uuid)" "$(cat /proc/sys/kernel/random/uuid)")
export HOSTILE_HANG_NAMES="${H[*]}"
printf 'control_max_connections = 3\nvtpm_max_connections = 2\n' >"$T_DIR/caps.conf"
m_hw_start
m_mgr_start -c "$T_DIR/caps.conf"
m_create
m_vtpm_start "$M_UUID"
for u in "${H[@]}"; do
  m_ctl create --uuid "$u" --dev "binary=$HOSTILE" >/dev/null || m_fail "vtpmctl create $u failed"
  M_UUIDS+=("$u")
done

t_log "control_max_connections = 3"
hold "$M_SOCKET" 3 "start ${H[0]}" "start ${H[1]}" "start ${H[2]}"
hanging() { [ "$(m_vtpm_output "$1" | grep -c 'h hanging until killed')" = 1 ]; }
for u in "${H[@]}"; do t_wait_for hanging "$u" || m_fail "the start of $u is not waiting"; done
python3 "$CONNS" refused "$M_SOCKET" 2 || m_fail "a 4th and 5th control client were not closed at once ($?)"
n=$(grep -c 'control listener: .* the most allowed' "$M_LOG")
[ "$n" = 1 ] || m_fail "the control cap was logged $n times, want once"
unhold
# the waiting starts end (and free their places) when their vtpms do
for u in "${H[@]}"; do
  pid=$(sed -nE "s/.* vtpm $u started \(pid ([0-9]+)\)$/\1/p" "$M_LOG")
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$HOSTILE")" ] && kill "$pid"
done
t_wait_for m_ctl status >/dev/null || m_fail "vtpmctl not served again below the cap"

t_log "vtpm_max_connections = 2, passed to the vtpm"
tr '\0' ' ' <"/proc/$M_VTPM_PID/cmdline" | grep -q -- '--max-connections 2 ' ||
  m_fail "the vtpm was not given --max-connections 2: $(tr '\0' ' ' <"/proc/$M_VTPM_PID/cmdline")"
hold "$(m_sock "$M_UUID")" 2
python3 "$CONNS" refused "$(m_sock "$M_UUID")" || m_fail "a 3rd data connection was not closed at once ($?)"
unhold
t_wait_for python3 "$CONNS" tpm "$(m_sock "$M_UUID")" || m_fail "the vTPM not served again below its cap"

t_log "the control socket out of descriptors"
m_mgr_stop
printf 'control_max_connections = 0\n' >"$T_DIR/nocap.conf"
m_mgr_start -c "$T_DIR/nocap.conf"
m_vtpm_wait "$M_UUID"
limit=$(($(fd_count "$M_MGR_PID") + 8))
prlimit --pid "$M_MGR_PID" --nofile=$limit:$limit || m_fail "prlimit on pid $M_MGR_PID failed"
hold "$M_SOCKET" 64
t_wait_for at_least "$M_MGR_PID" "$limit" ||
  m_fail "the manager holds $(fd_count "$M_MGR_PID") fds, never $limit"
sleep 0.2
before=$(cpu_ticks "$M_MGR_PID")
sleep 2
after=$(cpu_ticks "$M_MGR_PID")
m_alive "$M_MGR_PID" || m_fail "the manager died out of descriptors"
used=$((after - before))
t_log "out of descriptors for 2 s: $used CPU ticks (of $((2 * hz)))"
[ "$used" -lt $((hz / 10)) ] ||
  m_fail "the manager used $used of $hz ticks/s over 2 s out of descriptors: it spins"
unhold
t_wait_for m_ctl status >/dev/null || m_fail "vtpmctl not served again once the clients closed"
m_done
