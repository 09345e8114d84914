#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A compromised vtpm stays in its sandbox. The manager runs vTPM A (the
# real vtpm, NV data written) and then, through the device setting binary=,
# tests/tools/hostile_vtpm as vTPM B: B tries A's state files and directory
# (also through ".." from its own directory descriptor), a world-readable
# file outside its directory, the manager's store and sealed root secret,
# A's socket, the network, a shell, its manager channel (which must name B
# only), and finally unshare(CLONE_NEWUSER), outside the seccomp allow-list.
# Every attempt must be refused, B must die of SIGSYS (31) as the manager's
# log reports, and A and the manager must go on serving. A third vTPM, C,
# runs the ELF-interpreter trick (exec the loader, which the sandbox must
# let the kernel execute, and ask it to run /bin/sh): the shell must not
# run. Also: A runs under its own uid (not root), without new privileges,
# with a seccomp filter, and a second real vTPM gets a different uid.
#
# T_DIR is made 0711 (as /var/lib would be): the denials then come from the
# manager's permissions and the sandbox, not from the test's private
# temporary directory.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

HOSTILE="$BUILD/hostile_vtpm"
[ -x "$HOSTILE" ] || t_fail "no $HOSTILE: build it first (make all)"
t0=$SECONDS
chmod 0711 "$T_DIR"

# proc_field PID NAME: the value of one /proc/PID/status line, tabs as spaces.
proc_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
# vtpm_uid UUID: the uid the manager assigned.
vtpm_uid() { m_ctl --json show "$1" | m_py "d['vtpm']['uid']"; }
# log_has REGEX: the manager's log has a matching line.
log_has() { grep -Eq -- "$1" "$M_LOG"; }
# shell_ran: the hostile program's shell printed its marker (a vtpm's
# stdout and stderr reach the manager's log through its pipe).
shell_ran() { grep -q HOSTILE-SHELL-RAN "$M_LOG" "$T_DIR/bg.log"; }

# The hostile program learns its targets from the manager's environment,
# which every vtpm inherits: so the UUIDs are chosen before the manager starts.
UA=$(cat /proc/sys/kernel/random/uuid)
UB=$(cat /proc/sys/kernel/random/uuid)
UC=$(cat /proc/sys/kernel/random/uuid)
echo "anyone may read this" >"$T_DIR/readable"
chmod 0644 "$T_DIR/readable"
HOSTILE_OTHER_DIR=$(m_state_dir "$UA")
HOSTILE_OTHER_SOCK=$(m_sock "$UA")
HOSTILE_DATA_DIR=$M_DATA
HOSTILE_READABLE="$T_DIR/readable"
HOSTILE_LDSO_NAME=$UC
export HOSTILE_OTHER_DIR HOSTILE_OTHER_SOCK HOSTILE_DATA_DIR HOSTILE_READABLE HOSTILE_LDSO_NAME

m_hw_start
m_mgr_start

t_log "vTPM A: the real vtpm, NV index written"
m_ctl create --uuid "$UA" \
  --dev "server=unix:$(m_sock "$UA"),ctrl=unix:$(m_sock "$UA").ctrl,flags=startup-clear" >/dev/null ||
  m_fail "vtpmctl create A failed"
m_vtpm_start "$UA"
pid_a=$M_VTPM_PID
TS_TCTI=$(m_tcti "$UA")
ts_nv_define_write "$TS_NV_INDEX" 24
ts_nv_expect "$TS_NV_INDEX"

t_log "A runs confined: own uid and gid, no groups, no new privileges, seccomp"
uid_a=$(vtpm_uid "$UA")
[ "$uid_a" -ge 400000 ] || m_fail "A was given uid $uid_a, want one from the range (400000+)"
[ "$(proc_field "$pid_a" Uid)" = "$uid_a $uid_a $uid_a $uid_a" ] ||
  m_fail "A (pid $pid_a) runs with Uid '$(proc_field "$pid_a" Uid)', want $uid_a four times"
[ "$(proc_field "$pid_a" Gid)" = "$uid_a $uid_a $uid_a $uid_a" ] ||
  m_fail "A (pid $pid_a) runs with Gid '$(proc_field "$pid_a" Gid)', want $uid_a four times"
[ -z "$(proc_field "$pid_a" Groups)" ] ||
  m_fail "A (pid $pid_a) keeps supplementary groups '$(proc_field "$pid_a" Groups)'"
[ "$(proc_field "$pid_a" NoNewPrivs)" = 1 ] || m_fail "A (pid $pid_a) has NoNewPrivs $(proc_field "$pid_a" NoNewPrivs)"
[ "$(proc_field "$pid_a" Seccomp)" = 2 ] ||
  m_fail "A (pid $pid_a) has Seccomp $(proc_field "$pid_a" Seccomp), want 2 (filter)"
[ "$(stat -c %u "$(m_state_dir "$UA")")" = "$uid_a" ] ||
  m_fail "A's state directory belongs to uid $(stat -c %u "$(m_state_dir "$UA")"), want $uid_a"

t_log "a second real vTPM gets another uid"
m_create
m_vtpm_start "$M_UUID"
uid_a2=$(vtpm_uid "$M_UUID")
[ "$uid_a2" != "$uid_a" ] || m_fail "two vTPMs share uid $uid_a"
[ "$(proc_field "$M_VTPM_PID" Uid)" = "$uid_a2 $uid_a2 $uid_a2 $uid_a2" ] ||
  m_fail "the second vTPM runs with Uid '$(proc_field "$M_VTPM_PID" Uid)', want $uid_a2"
TS_TCTI=$(m_tcti "$UA")

# What B goes for must exist, or a refusal would prove nothing.
for f in .lock tpm2-permall.0 tpm2-permall.1; do
  [ -e "$(m_state_dir "$UA")/$f" ] || m_fail "A's state directory has no $f"
done
for f in store.db store.db-wal root.seal; do
  [ -e "$M_DATA/$f" ] || m_fail "the manager's data directory has no $f"
done
t_unix_listening "$(m_sock "$UA")" || m_fail "A does not listen on $(m_sock "$UA")"

t_log "vTPM B: hostile_vtpm in the vtpm's place"
m_ctl create --uuid "$UB" --dev "binary=$HOSTILE" >/dev/null || m_fail "vtpmctl create B failed"
# vtpmctl start waits for the vtpm to serve; B never does, so this is an error
out=$(m_ctl start "$UB" 2>&1) && m_fail "vtpmctl start B reported success: $out"
b_done="vtpm $UB \(pid [0-9]+\) (exited with status [0-9]+|stopped|crashed: signal [0-9]+)$"
t_wait_for log_has "$b_done" || m_fail "B did not end within 10 s"
report="$(m_state_dir "$UB")/hostile.report"
[ -s "$report" ] || m_fail "B left no report at $report"
sed 's/^/    B: /' "$report" >&2
! shell_ran || m_fail "B ran a shell inside the sandbox"

# Every step was tried, and nothing got through.
for step in a b c d e f g; do
  grep -q "^$step " "$report" || m_fail "B's report has no line for step $step"
done
! grep -E ': (ALLOWED|unexpected)' "$report" ||
  m_fail "B got through the sandbox (lines above)"
summary=$(grep '^summary: ' "$report") || m_fail "B's report has no summary"
read -r attempts held allowed unexpected < <(echo "$summary" |
  sed -E 's/^summary: ([0-9]+) attempts, ([0-9]+) held, ([0-9]+) allowed, ([0-9]+) unexpected$/\1 \2 \3 \4/')
[ "$allowed" = 0 ] && [ "$unexpected" = 0 ] && [ "$held" = "$attempts" ] ||
  m_fail "B's summary: '$summary'"
[ "$(grep -cE ': (denied|confined) \(' "$report")" = "$attempts" ] ||
  m_fail "B's report holds $(grep -cE ': (denied|confined) \(' "$report") refusals; its summary says $attempts"
[ "$attempts" -ge 25 ] || m_fail "B made only $attempts attempts"
[ "$(grep -c '^f LOADHASHKEY type [0-9]: confined (its own UUID '"$UB"')$' "$report")" = 3 ] ||
  m_fail "the manager channel did not answer B with B's own UUID for all three records"
[ "$(tail -n 1 "$report")" = "g unshare(CLONE_NEWUSER): calling, SIGSYS expected" ] ||
  m_fail "B's last line is '$(tail -n 1 "$report")': it survived the forbidden system call"
log_has "vtpm $UB \(pid [0-9]+\) crashed: signal 31$" ||
  m_fail "B ended as '$(grep -E "$b_done" "$M_LOG")', want killed by SIGSYS (signal 31)"
# the same lines reached the manager's log through B's stderr
[ "$(m_vtpm_output "$UB" | grep -c "^hostile\[$UB\]: ")" = "$(wc -l <"$report")" ] ||
  m_fail "B wrote $(wc -l <"$report") report lines but $(m_vtpm_output "$UB" | grep -c "^hostile\[$UB\]: ") log lines"
uid_b=$(sed -nE 's/^start: uid ([0-9]+),.*/\1/p' "$report")
[ "$uid_b" = "$(vtpm_uid "$UB")" ] && [ "$uid_b" != "$uid_a" ] && [ "$uid_b" != "$uid_a2" ] ||
  m_fail "B ran as uid '$uid_b' (assigned $(vtpm_uid "$UB"); A $uid_a, second vTPM $uid_a2)"
[ ! -e "$(m_state_dir "$UA")/hostile-was-here" ] || m_fail "B created a file in A's state directory"

t_log "vTPM C: the ELF interpreter asked to run /bin/sh"
m_ctl create --uuid "$UC" --dev "binary=$HOSTILE" >/dev/null || m_fail "vtpmctl create C failed"
out=$(m_ctl start "$UC" 2>&1) && m_fail "vtpmctl start C reported success: $out"
c_done="vtpm $UC \(pid [0-9]+\) (exited with status [0-9]+|stopped|crashed: signal [0-9]+)$"
t_wait_for log_has "$c_done" || m_fail "C did not end within 10 s"
c_end=$(grep -E "$c_done" "$M_LOG")
m_vtpm_output "$UC" | sed 's/^/    C: /' >&2
if echo "$c_end" | grep -q "exited with status 127$"; then
  # the loader ran (it may) and could not read the shell
  m_vtpm_output "$UC" | grep -q '^/bin/sh: error while loading shared libraries: .*Permission denied$' ||
    m_fail "C's loader exited 127 without saying it was refused /bin/sh"
elif ! grep -q "^e execve .* /bin/sh: denied (" "$(m_state_dir "$UC")/hostile.report"; then
  m_fail "C ended as '$c_end' without the loader or its exec being refused"
fi
! shell_ran || m_fail "C's loader ran a shell inside the sandbox"

t_log "A and the manager are unharmed; B and C are stopped"
m_alive "$M_MGR_PID" || m_fail "the manager died"
m_ctl status >/dev/null || m_fail "vtpmctl status failed after the hostile vTPMs"
[ "$(m_vtpm_pid "$UA")" = "$pid_a" ] || m_fail "A is no longer the process it was (pid $pid_a)"
ts_nv_expect "$TS_NV_INDEX"
m_ctl show "$UB" | grep -qx 'running *false' || m_fail "vtpmctl show B does not say it is stopped"
m_vtpm_stopped "$UB" || m_fail "B is reported running"
m_vtpm_stopped "$UC" || m_fail "C is reported running"
m_mgr_stop
# A sandboxed vtpm cannot write to the sanitizer report files tests/run.sh
# collects: its reports land in the manager's log (its stderr).
! grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: ' "$M_LOG" ||
  m_fail "sanitizer report in the manager's log"
t_log "ok: $attempts attempts by B all refused, B killed by SIGSYS, in $((SECONDS - t0)) s"
