#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# One manager, SCALE_N (default 100) vTPMs: all created, started, used at
# once, stopped, started again under a restarted manager and stopped with
# it, with no error anywhere. Each vTPM serves TPM 2.0 on its own Unix
# sockets in T_DIR (flags=startup-clear). The use: for every vTPM at the
# same time, a background client runs tpm2_getrandom, extends PCR 16 with a
# digest of the vTPM's own UUID and reads it back (the value must be
# SHA-256(zeros || digest): no vTPM saw another's extend), then defines and
# writes an NV index (state writes the manager records, 200 at once) and
# reads it back. The stops are concurrent too: each vtpmctl stop must answer
# a clean "ok" (the vtpm recorded its last state through the manager). Then
# the manager restarts, all are started again and each NV index must read
# what was written; a SIGTERM to the manager stops all of them at once. The
# time of each phase is reported, never judged: speed is measured by
# `make bench`, and a loaded machine must not fail this test.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

N=${SCALE_N:-100}
TOOL_TIMEOUT=60
t0=$SECONDS

# running_ready: prints how many vTPMs the manager reports running whose
# process listens on its socket; also records their pids for cleanup.
running_ready() {
  m_ctl --json list >"$T_DIR/list.json" && ss -Hxlp >"$T_DIR/ss.txt" &&
    python3 - "$T_DIR" <<'EOF'
import json, re, sys
t = sys.argv[1]
d = json.load(open(t + "/list.json"))
ss = open(t + "/ss.txt").read()
ready = []
for v in d["vtpms"]:
    sock = re.escape("%s/%s.sock" % (t, v["uuid"]))
    if v["running"] and re.search(sock + r"\s.*pid=%d," % v["pid"], ss):
        ready.append(str(v["pid"]))
open(t + "/ready.pids", "w").write("\n".join(ready) + "\n")
print(len(ready))
EOF
}

# wait_all_ready SECONDS: every one of the N vTPMs serves, within the bound.
wait_all_ready() {
  local end=$((SECONDS + $1)) n=0
  while [ $SECONDS -lt $end ]; do
    n=$(running_ready) || m_fail "vtpmctl list failed"
    [ "$n" -eq "$N" ] && break
    # a vtpm that died will not come: say so now rather than at the bound
    died=$(grep -m1 -E 'crashed: signal|exited with status' "$M_LOG") &&
      m_fail "$n of $N vTPMs serving, and one ended: $died"
    sleep 0.2
  done
  mapfile -t M_VTPM_PIDS <"$T_DIR/ready.pids"
  [ "$n" -eq "$N" ] || m_fail "$n of $N vTPMs serving after $1 s"
}

# use_one UUID: getrandom, PCR 16 extend and read on one vTPM; leaves
# T_DIR/use/UUID.ok, or UUID.err with what failed.
use_one() {
  local u=$1 tcti w="$T_DIR/use/$1" digest expect got
  tcti=$(m_tcti "$u")
  fail_one() { echo "$*" >"$w.err"; }
  digest=$(printf '%s' "$u" | sha256sum | cut -c1-64)
  expect=$({ head -c 32 /dev/zero; printf '%s' "$digest" | xxd -r -p; } | sha256sum | cut -c1-64)
  timeout $TOOL_TIMEOUT tpm2_getrandom -T "$tcti" -o "$w.rand" 32 2>"$w.log" ||
    { fail_one "tpm2_getrandom failed"; return; }
  [ "$(stat -c %s "$w.rand")" -eq 32 ] || { fail_one "tpm2_getrandom gave $(stat -c %s "$w.rand") bytes"; return; }
  timeout $TOOL_TIMEOUT tpm2_pcrextend -T "$tcti" "16:sha256=$digest" 2>>"$w.log" ||
    { fail_one "tpm2_pcrextend failed"; return; }
  timeout $TOOL_TIMEOUT tpm2_pcrread -T "$tcti" -o "$w.pcr" sha256:16 >/dev/null 2>>"$w.log" ||
    { fail_one "tpm2_pcrread failed"; return; }
  got=$(xxd -p "$w.pcr" | tr -d '\n')
  [ "$got" = "$expect" ] || { fail_one "PCR 16 is $got, want $expect"; return; }
  # an NV write is a state write: recorded through the manager, all at once
  printf '%s' "${u:0:16}" >"$w.nv"
  timeout $TOOL_TIMEOUT tpm2_nvdefine -T "$tcti" -C o -s 16 -a "ownerread|ownerwrite" "$TS_NV_INDEX" \
    >/dev/null 2>>"$w.log" || { fail_one "tpm2_nvdefine failed"; return; }
  timeout $TOOL_TIMEOUT tpm2_nvwrite -T "$tcti" -C o -i "$w.nv" "$TS_NV_INDEX" 2>>"$w.log" ||
    { fail_one "tpm2_nvwrite failed"; return; }
  timeout $TOOL_TIMEOUT tpm2_nvread -T "$tcti" -C o -s 16 -o "$w.nvread" "$TS_NV_INDEX" 2>>"$w.log" ||
    { fail_one "tpm2_nvread failed"; return; }
  cmp -s "$w.nv" "$w.nvread" || { fail_one "NV reads $(cat "$w.nvread"), want $(cat "$w.nv")"; return; }
  : >"$w.ok"
}

# check_one UUID: after the restart the NV index reads what use_one wrote;
# leaves T_DIR/check/UUID.ok, or .err.
check_one() {
  local u=$1 w="$T_DIR/check/$1"
  if ! timeout $TOOL_TIMEOUT tpm2_nvread -T "$(m_tcti "$u")" -C o -s 16 -o "$w.nvread" "$TS_NV_INDEX" \
    2>"$w.log"; then
    echo "tpm2_nvread failed: $(tail -n 2 "$w.log" | tr '\n' ' ')" >"$w.err"
  elif ! cmp -s "$T_DIR/use/$u.nv" "$w.nvread"; then
    echo "NV reads '$(cat "$w.nvread")', want '$(cat "$T_DIR/use/$u.nv")'" >"$w.err"
  else
    : >"$w.ok"
  fi
}

# stop_one UUID: vtpmctl stop; leaves T_DIR/stop/UUID.ok, or .err.
stop_one() {
  local out
  out=$(m_ctl stop "$1" 2>&1)
  if [ "$out" = ok ]; then : >"$T_DIR/stop/$1.ok"; else echo "$out" >"$T_DIR/stop/$1.err"; fi
}

# wait_jobs PID...: waits for each (they are bounded by TOOL_TIMEOUT).
wait_jobs() {
  local p
  for p in "$@"; do wait "$p"; m_forget "$p"; done
}

m_hw_start
m_mgr_start
mkdir -p "$T_DIR/use" "$T_DIR/stop" "$T_DIR/check"

t_log "creating $N vTPMs"
t=$SECONDS
uuids=()
for ((i = 0; i < N; i++)); do
  u=$(cat /proc/sys/kernel/random/uuid)
  out=$(m_ctl create --uuid "$u" \
    --dev "server=unix:$(m_sock "$u"),ctrl=unix:$(m_sock "$u").ctrl,flags=startup-clear") ||
    m_fail "vtpmctl create number $((i + 1)) failed: $out"
  uuids+=("$u")
done
t_create=$((SECONDS - t))

t_log "starting them"
t=$SECONDS
for u in "${uuids[@]}"; do
  out=$(m_ctl start "$u") || m_fail "vtpmctl start $u failed: $out"
done
wait_all_ready 60
t_start=$((SECONDS - t))
[ "$(m_status running)" = "$N" ] || m_fail "vtpmctl status: $(m_status running) running, want $N"
[ "$(m_status vtpms)" = "$N" ] || m_fail "vtpmctl status: $(m_status vtpms) vTPMs, want $N"
uids=$(m_ctl --json list | m_py "len(set(v['uid'] for v in d['vtpms']))")
[ "$uids" = "$N" ] || m_fail "$N vTPMs share $uids uids"

t_log "using all $N at once: getrandom, PCR 16 extend and read, NV define, write and read"
t=$SECONDS
jobs_=()
for u in "${uuids[@]}"; do
  use_one "$u" &
  jobs_+=($!)
  T_PIDS+=($!)
done
wait_jobs "${jobs_[@]}"
t_use=$((SECONDS - t))
ok=$(find "$T_DIR/use" -name '*.ok' | wc -l)
errs=$(find "$T_DIR/use" -name '*.err' | wc -l)
if [ "$ok" -ne "$N" ] || [ "$errs" -ne 0 ]; then
  for f in $(find "$T_DIR/use" -name '*.err' | head -5); do
    t_log "$(basename "$f" .err): $(cat "$f"): $(tail -n 3 "${f%.err}.log" | tr '\n' ' ')"
  done
  m_fail "concurrent use: $ok of $N vTPMs passed, $errs failed"
fi

t_log "stopping all $N at once"
t=$SECONDS
jobs_=()
for u in "${uuids[@]}"; do
  stop_one "$u" &
  jobs_+=($!)
  T_PIDS+=($!)
done
wait_jobs "${jobs_[@]}"
t_stop=$((SECONDS - t))
ok=$(find "$T_DIR/stop" -name '*.ok' | wc -l)
if [ "$ok" -ne "$N" ]; then
  for f in $(find "$T_DIR/stop" -name '*.err' | head -5); do t_log "stop $(basename "$f" .err): $(cat "$f")"; done
  m_fail "$ok of $N vtpmctl stops answered a clean ok"
fi
[ "$(m_status running)" = 0 ] || m_fail "$(m_status running) vTPMs still running after the stops"
for p in "${M_VTPM_PIDS[@]}"; do
  ! m_is_vtpm "$p" || m_fail "vtpm pid $p still exists after its stop"
done

t_log "manager restarted, all $N started again: each NV index holds what was written"
t=$SECONDS
m_mgr_stop
m_mgr_start
for u in "${uuids[@]}"; do
  out=$(m_ctl start "$u") || m_fail "vtpmctl start $u after the restart failed: $out"
done
wait_all_ready 60
jobs_=()
for u in "${uuids[@]}"; do
  check_one "$u" &
  jobs_+=($!)
  T_PIDS+=($!)
done
wait_jobs "${jobs_[@]}"
ok=$(find "$T_DIR/check" -name '*.ok' | wc -l)
if [ "$ok" -ne "$N" ]; then
  for f in $(find "$T_DIR/check" -name '*.err' | head -5); do t_log "$(basename "$f" .err): $(cat "$f")"; done
  m_fail "after the restart $ok of $N vTPMs read back their NV data"
fi
t_restart=$((SECONDS - t))

t_log "SIGTERM to the manager stops all $N"
t=$SECONDS
m_mgr_stop
t_mgr_stop=$((SECONDS - t))
for p in "${M_VTPM_PIDS[@]}"; do
  ! m_is_vtpm "$p" || m_fail "vtpm pid $p outlived the manager"
done

# Nothing went wrong anywhere: no error from the manager or a vtpm, no crash.
bad=$(grep -E ' (error|warning): |crashed|exited with status|did not stop' "$M_LOG" | grep -v 'NOT SECURE')
[ -z "$bad" ] || { echo "$bad" | head -10 >&2; m_fail "$(echo "$bad" | wc -l) error lines in the manager's log"; }
[ "$(grep -c 'vtpm .* (pid [0-9]*) stopped$' "$M_LOG")" = $((2 * N)) ] ||
  m_fail "the manager logged $(grep -c 'vtpm .* (pid [0-9]*) stopped$' "$M_LOG") clean stops, want $((2 * N))"
# A sandboxed vtpm cannot write to the sanitizer report files tests/run.sh
# collects: its reports land in the manager's log (its stderr).
! grep -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: ' "$M_LOG" ||
  m_fail "sanitizer report in the manager's log"
total=$((SECONDS - t0))
t_log "$N vTPMs: create ${t_create} s, start ${t_start} s, concurrent use ${t_use} s," \
  "concurrent stop ${t_stop} s, manager restart + start + NV check ${t_restart} s," \
  "manager stop ${t_mgr_stop} s; total ${total} s, 0 errors"
