# SPDX-License-Identifier: BSD-3-Clause
# Shared setup for the vtpmmgr scenarios (test_mgr_*.sh, test_vtpmctl.sh):
# a stand-in hardware TPM (swtpm on free loopback TCP ports), the manager
# on a private data and run directory, vTPMs created, started and waited
# for through vtpmctl, and the tpm2-tools step functions of tpm2_scenario.sh
# pointed at a vTPM. Sourced after lib.sh.
#
# Every process is killed by pid on exit, also on failure: the stand-in and
# each manager through T_PIDS (lib.sh), each vtpm the manager started (seen
# through vtpmctl) through M_VTPM_PIDS, only while its /proc entry still
# names the vtpm binary and one of this test's vTPMs, so that a recycled
# pid (another test's vtpm, say) is never hit.

. "$(dirname "${BASH_SOURCE[0]}")/tpm2_scenario.sh"

MGR="$BUILD/vtpmmgr"
CTL="$BUILD/vtpmctl"
[ -x "$MGR" ] && [ -x "$CTL" ] || t_fail "no $MGR or $CTL: build them first"
command -v swtpm >/dev/null || t_skip "swtpm (the stand-in hardware TPM) is not installed"
command -v tpm2_nvwrite >/dev/null || t_skip "tpm2-tools are not installed"

M_DATA="$T_DIR/data"
M_RUN="$T_DIR/run"
M_LOG="$T_DIR/mgr.log"
M_PIDFILE="$T_DIR/mgr.pid"
M_SOCKET="$M_RUN/control.sock"
M_HW_STATE="$T_DIR/hw"
M_VTPM_PIDS=()
M_UUIDS=()
M_MGR_PID=
TS_DAEMON_LOG=$M_LOG	# ts_fail shows its end

m_vtpm_exe=$(readlink -f "$VTPM")

# m_is_vtpm PID: PID is (still) a process of our vtpm binary.
m_is_vtpm() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$m_vtpm_exe" ]; }

# m_is_ours PID: PID is (still) our vtpm binary serving one of our vTPMs.
m_is_ours() {
  local u argv
  m_is_vtpm "$1" || return 1
  argv=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)
  for u in "${M_UUIDS[@]}"; do [[ $argv == *" $u "* ]] && return 0; done
  return 1
}

# --- sanitizer reports of vtpms ---------------------------------------------
# A sandboxed vtpm cannot write to the report files tests/run.sh collects
# (Landlock; it cannot even read ASAN_OPTIONS): its ASan/UBSan report goes
# to its stderr, a pipe the manager copies into its log, each line as
# "vtpm UUID output: ...". At cleanup (also on failure) the output of every
# vTPM whose lines hold a report is copied into $BUILD/sanitizer-reports,
# which fails the test in tests/run.sh, unless the test expected that
# vTPM's report (m_san_expect UUID).
M_SAN_RE='==[0-9]+==(ERROR|WARNING): [A-Za-z]*Sanitizer|runtime error: |Sanitizer:DEADLYSIGNAL'
M_SAN_EXPECTED=()
m_san_expect() { M_SAN_EXPECTED+=("$1"); }
# m_san_build: the vtpm under test is built with ASan.
m_san_build() { nm "$VTPM" 2>/dev/null | grep -q ' __asan_init$'; }
# m_vtpm_output UUID: what that vTPM wrote to its stdout and stderr, as logged.
m_vtpm_output() {
  sed -nE "s/^[^ ]+ vtpmmgr info: vtpm $1 output: //p" "$M_LOG" 2>/dev/null
}
m_san_collect() {
  local dir="${BUILD:-}/sanitizer-reports" u
  [ -n "${BUILD:-}" ] && [ -d "$dir" ] && [ -f "$M_LOG" ] || return 0
  for u in $(sed -nE 's/^[^ ]+ vtpmmgr info: vtpm ([0-9a-f-]{36}) output: .*/\1/p' "$M_LOG" | sort -u); do
    [[ " ${M_SAN_EXPECTED[*]} " == *" $u "* ]] && continue
    m_vtpm_output "$u" | grep -qE "$M_SAN_RE" || continue
    m_vtpm_output "$u" >"$dir/vtpm.$T_NAME.$u"
    echo "sanitizer report from vTPM $u in the manager's log: $dir/vtpm.$T_NAME.$u" >&2
  done
}

m_cleanup() {
  local pid
  for pid in "${M_VTPM_PIDS[@]}"; do m_is_ours "$pid" && kill -TERM "$pid"; done
  m_san_collect
  t_cleanup
  for pid in "${M_VTPM_PIDS[@]}"; do m_is_ours "$pid" && kill -KILL "$pid"; done
}
trap m_cleanup EXIT

# m_fail MSG: fails the test. For a post-mortem, M_SAVE=DIR keeps a copy of
# the whole test directory (logs, store, seals, state files) in DIR.
m_fail() {
  [ -n "${M_SAVE:-}" ] && cp -a "$T_DIR" "$M_SAVE" 2>/dev/null
  ts_fail "$@"
}

# m_forget PID: drops a reaped pid from T_PIDS, so that cleanup never
# signals a number the kernel may have handed to someone else since.
m_forget() {
  local keep=() p
  for p in "${T_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  T_PIDS=("${keep[@]}")
}

# m_late MSG: a failure reported now and failed at the end (m_done), so
# that the rest of the scenario still runs and reports.
M_LATE=()
m_late() { M_LATE+=("$*"); t_log "FAILED (failing at the end): $*"; }
# m_done [NOTE]: the end of a scenario: fails on any m_late, else ok.
m_done() {
  [ ${#M_LATE[@]} -eq 0 ] || m_fail "$(printf '%s; ' "${M_LATE[@]}")"
  t_log "ok${1:+ ($1)}"
}

# m_alive PID: PID runs. A zombie does not: a process whose parent died waits
# for init to reap it, which may take a while here.
m_alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "${st%% *}" != Z ]
}
m_dead() { ! kill -0 "$1" 2>/dev/null; }

# --- the stand-in hardware TPM --------------------------------------------

# m_hw_start: swtpm on two free loopback ports, state in M_HW_STATE (kept
# across restarts: the counter and seeds persist, the PCRs start at zero as
# after a reboot). Sets M_HW_PID, M_HW_PORT, M_HW_TCTI.
m_hw_start() {
  [ -n "${M_HW_PORT:-}" ] || M_HW_PORT=$(t_free_ports 2) || t_fail "no two free ports"
  mkdir -p "$M_HW_STATE"
  t_bg swtpm socket --tpm2 --tpmstate dir="$M_HW_STATE" \
    --server type=tcp,port="$M_HW_PORT",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((M_HW_PORT + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear
  M_HW_PID=$T_LAST_PID
  M_HW_TCTI="swtpm:host=127.0.0.1,port=$M_HW_PORT"
  t_wait_for t_listening "$M_HW_PORT" && m_alive "$M_HW_PID" ||
    m_fail "stand-in hardware TPM (swtpm) not listening on $M_HW_PORT"
}

# m_hw_restart: a platform reboot as the hardware TPM sees it (PCRs reset).
m_hw_restart() {
  t_stop "$M_HW_PID" || m_fail "swtpm ignored SIGTERM"
  wait "$M_HW_PID" 2>/dev/null
  m_forget "$M_HW_PID"
  t_wait_for t_port_free "$M_HW_PORT" || m_fail "port $M_HW_PORT still busy"
  m_hw_start
}

# m_hw ARGS...: a tpm2-tools command against the stand-in hardware TPM.
m_hw() { local tool=$1; shift; "$tool" -T "$M_HW_TCTI" "$@"; }

# --- the manager ------------------------------------------------------------

m_mgr_settled() {
  m_dead "$M_MGR_PID" ||
    { [ "$(cat "$M_PIDFILE" 2>/dev/null)" = "$M_MGR_PID" ] && t_unix_listening "$M_SOCKET"; }
}

# m_mgr_launch [ARGS...]: starts the manager; returns once it is ready
# (pid file names it, control socket listening) or has exited. Sets
# M_MGR_PID; M_MGR_RC is the exit status if it exited, else empty.
m_mgr_launch() {
  M_MGR_RC=
  t_bg "$MGR" -c /dev/null --data-dir "$M_DATA" --run-dir "$M_RUN" --tcti "$M_HW_TCTI" \
    --vtpm "$VTPM" --log "$M_LOG" --pid "$M_PIDFILE" "$@"
  M_MGR_PID=$T_LAST_PID
  t_wait_for m_mgr_settled || m_fail "manager (pid $M_MGR_PID) neither ready nor gone in 10 s"
  if m_dead "$M_MGR_PID"; then
    wait "$M_MGR_PID"
    M_MGR_RC=$?
    m_forget "$M_MGR_PID"
  fi
}

# m_mgr_start [ARGS...]: the manager must come up.
m_mgr_start() {
  m_mgr_launch "$@"
  [ -z "$M_MGR_RC" ] || m_fail "manager exited with status $M_MGR_RC instead of starting"
}

# m_mgr_refused [ARGS...]: the manager must refuse to start; M_MGR_RC its status.
m_mgr_refused() {
  m_mgr_launch "$@"
  [ -n "$M_MGR_RC" ] || m_fail "manager started (pid $M_MGR_PID) where it had to refuse"
  [ "$M_MGR_RC" -ne 0 ] || m_fail "manager exited 0 where it had to refuse"
}

# m_mgr_stop: SIGTERM; the manager stops its vtpms and exits 0.
m_mgr_stop() {
  local rc
  t_stop "$M_MGR_PID" || m_fail "manager did not stop within 5 s of SIGTERM"
  wait "$M_MGR_PID"
  rc=$?
  m_forget "$M_MGR_PID"
  [ $rc -eq 0 ] || m_fail "manager exited with status $rc after SIGTERM"
}

# m_mgr_kill9: kill -9 of the manager, reaped.
m_mgr_kill9() {
  kill -KILL "$M_MGR_PID"
  wait "$M_MGR_PID" 2>/dev/null
  m_forget "$M_MGR_PID"
}

# m_log_since LINE: the manager's log (the vtpms' output included) after line LINE.
m_log_lines() { wc -l <"$M_LOG" 2>/dev/null || echo 0; }
m_log_since() { tail -n +$(($1 + 1)) "$M_LOG"; }

# --- vtpmctl and vTPMs ------------------------------------------------------

m_ctl() { "$CTL" --socket "$M_SOCKET" "$@"; }

# m_py EXPR: evaluates a Python expression over the JSON on stdin (as d).
m_py() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# m_field KEY: the first scalar "KEY": value in the manager's JSON reply on
# stdin, unquoted. For the polling paths, where a Python start per poll
# would dominate the run time; the manager's strings carry no quotes or
# backslashes (vtpmctl's own parser relies on that too).
m_field() {
  grep -o "\"$1\":\(\"[^\"]*\"\|[^,}\"]*\)" | head -n 1 | cut -d: -f2- | sed 's/^"\(.*\)"$/\1/'
}

# m_status KEY: one field of vtpmctl --json status.
m_status() { m_ctl --json status | m_field "$1"; }

m_sock() { echo "$T_DIR/$1.sock"; }
m_tcti() { echo "swtpm:path=$(m_sock "$1")"; }

# m_create [CREATE ARGS...]: a TPM 2.0 vTPM served on a Unix socket named
# after its UUID; sets M_UUID and points TS_TCTI at it. M_DEV_EXTRA, if
# set, is appended to its device line.
m_create() {
  local u
  u=$(cat /proc/sys/kernel/random/uuid)
  M_UUID=$(m_ctl create --uuid "$u" "$@" \
    --dev "server=unix:$(m_sock "$u"),ctrl=unix:$(m_sock "$u").ctrl,flags=startup-clear${M_DEV_EXTRA:+,$M_DEV_EXTRA}") ||
    m_fail "vtpmctl create failed"
  [ "$M_UUID" = "$u" ] || m_fail "vtpmctl create printed '$M_UUID', want $u"
  M_UUIDS+=("$u")
  TS_TCTI=$(m_tcti "$u")
}

# m_vtpm_pid UUID: the pid the manager reports for a running vTPM, else 0.
m_vtpm_pid() {
  local r
  r=$(m_ctl --json show "$1") || return 1
  [ "$(m_field running <<<"$r")" = true ] && m_field pid <<<"$r" || echo 0
}

# m_vtpm_ready UUID: the manager reports the vTPM running and that very
# process listens on its socket (not a predecessor that has yet to exit).
m_vtpm_ready() {
  local pid
  pid=$(m_vtpm_pid "$1") && [ "$pid" -gt 0 ] &&
    ss -Hxlp src "$(m_sock "$1")" 2>/dev/null | grep -q "pid=$pid,"
}

m_vtpm_stopped() { [ "$(m_vtpm_pid "$1")" = 0 ]; }

m_vtpm_settled() { m_vtpm_ready "$1" || m_vtpm_stopped "$1"; }

# m_vtpm_wait UUID: waits for a vTPM the manager is starting (the manager
# reports it running from the fork on); sets M_VTPM_PID. Fails at once, with
# the manager's word on it, if the vtpm exits instead.
m_vtpm_wait() {
  t_wait_for m_vtpm_settled "$1" ||
    m_fail "vTPM $1 not serving on $(m_sock "$1") within 10 s"
  m_vtpm_stopped "$1" &&
    m_fail "vTPM $1 did not start: $(grep "vtpm $1 (pid [0-9]*) \(exited\|crashed\)" "$M_LOG" | tail -n 1)"
  M_VTPM_PID=$(m_vtpm_pid "$1")
  M_VTPM_PIDS+=("$M_VTPM_PID")
}

# m_vtpm_start UUID: vtpmctl start, then waits until it serves.
m_vtpm_start() {
  local out
  out=$(m_ctl start "$1") || m_fail "vtpmctl start $1 failed: $out"
  m_vtpm_wait "$1"
}

# m_vtpm_stop UUID: vtpmctl stop; must report a clean stop.
m_vtpm_stop() {
  local out
  out=$(m_ctl stop "$1") || m_fail "vtpmctl stop $1 failed: $out"
  [ "$out" = ok ] || m_fail "vtpmctl stop $1 answered '$out'"
  m_vtpm_stopped "$1" || m_fail "vTPM $1 still running after vtpmctl stop"
}

# m_state_dir UUID: the vTPM's state directory under the manager.
m_state_dir() { echo "$M_DATA/vtpm/$1"; }

# m_setup: stand-in TPM, manager, one vTPM (M_UUID) started and serving.
m_setup() {
  m_hw_start
  m_mgr_start
  m_create
  m_vtpm_start "$M_UUID"
}
