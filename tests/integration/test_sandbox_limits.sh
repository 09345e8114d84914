#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# What a vtpm may write, and whether it can outlive its manager (issue 14,
# Medium 4 and 5; core dumps, Low). The manager runs with a 64 KiB state
# budget per vTPM (--vtpm-state-max) and no core dumps:
# - a real vtpm runs with RLIMIT_FSIZE at the budget and RLIMIT_CORE 0 (hard
#   limits too), non-dumpable; NV indices are defined until the budget
#   refuses a state write: the log says so, the directory stays within the
#   budget, and after a restart every acknowledged index is still there;
# - key material (the manager's root secret and store, the vtpm's state-file
#   key) lies in mappings that core dumps skip and that are locked in RAM
#   (VmFlags dd and lo in /proc/PID/smaps);
# - tests/tools/hostile_vtpm in limits mode (binary=): it cannot raise its
#   limits or change its manager's, a file it writes stops at the budget
#   with EFBIG, and prctl(PR_SET_PDEATHSIG, 0) kills it with SIGSYS: it
#   cannot clear its death signal.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

HOSTILE="$BUILD/hostile_vtpm"
[ -x "$HOSTILE" ] || t_fail "no $HOSTILE: build it first (make all)"
BUDGET=65536
NV_SMALL=0x1500010

# limit NAME PID: "soft hard" of one /proc/PID/limits line (e.g. "Max file size").
limit() { sed -nE "s/^$1 +([0-9a-z]+) +([0-9a-z]+) .*/\1 \2/p" "/proc/$2/limits"; }
log_has() { grep -Eq -- "$1" "$M_LOG"; }
# secret_mappings PID: how many mappings are both excluded from core dumps (dd) and locked (lo).
secret_mappings() { awk '$1 == "VmFlags:" && / dd( |$)/ && / lo( |$)/ { n++ } END { print n + 0 }' "/proc/$1/smaps"; }
dir_bytes() { find "$1" -maxdepth 1 -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

UH=$(cat /proc/sys/kernel/random/uuid)
export HOSTILE_LIMITS_NAME=$UH

m_hw_start
m_mgr_start --vtpm-state-max "$BUDGET"

t_log "the manager writes no core dump"
[ "$(limit "Max core file size" "$M_MGR_PID")" = "0 0" ] ||
  m_fail "the manager's core limit is '$(limit "Max core file size" "$M_MGR_PID")', want 0 0"

[ "$(secret_mappings "$M_MGR_PID")" -ge 1 ] ||
  m_fail "the manager has no locked mapping excluded from core dumps (dd lo) for its secrets"

t_log "a vtpm: file size bounded by the budget, no core dump, not dumpable"
m_create
m_vtpm_start "$M_UUID"
pid=$M_VTPM_PID
[ "$(limit "Max file size" "$pid")" = "$BUDGET $BUDGET" ] ||
  m_fail "the vtpm's file size limit is '$(limit "Max file size" "$pid")', want $BUDGET $BUDGET"
[ "$(limit "Max core file size" "$pid")" = "0 0" ] ||
  m_fail "the vtpm's core limit is '$(limit "Max core file size" "$pid")', want 0 0"
# a process that is not dumpable has its /proc files owned by root
vuid=$(awk '$1 == "Uid:" { print $2 }' "/proc/$pid/status")
[ "$vuid" != 0 ] || m_fail "the vtpm runs as root"
[ "$(stat -c %u "/proc/$pid/status")" = 0 ] ||
  m_fail "the vtpm (uid $vuid) is dumpable: /proc/$pid/status belongs to uid $(stat -c %u "/proc/$pid/status")"

[ "$(secret_mappings "$pid")" -ge 1 ] ||
  m_fail "the vtpm has no locked mapping excluded from core dumps (dd lo) for its state key"

t_log "NV indices until the state budget refuses a write"
ts_nv_define_write "$NV_SMALL" 24
ts_nv_expect "$NV_SMALL"
defined=() refused=
for i in $(seq 0 40); do
  idx=$(printf '0x%x' $((0x1500100 + i)))
  if tpm2_nvdefine -T "$TS_TCTI" -C o -s 2048 -a "ownerread|ownerwrite" "$idx" >/dev/null 2>&1; then
    defined+=("$idx")
  else
    refused=$idx
    break
  fi
done
[ -n "$refused" ] || m_fail "41 NV indices of 2048 bytes fit a $BUDGET-byte state budget"
[ ${#defined[@]} -ge 2 ] || m_fail "only ${#defined[@]} NV indices fit before the budget refused one"
t_log "${#defined[@]} indices defined, $refused refused"
grep -E "vtpm\[$M_UUID\] (error|warning)" "$M_LOG" | sed 's/^/    /' >&2
log_has "vtpm\[$M_UUID\] error: state budget exceeded: " ||
  m_fail "the log does not say the state budget refused the write"
used=$(dir_bytes "$(m_state_dir "$M_UUID")")
[ "$used" -le "$BUDGET" ] || m_fail "the state directory holds $used bytes, over the budget $BUDGET"

t_log "after a restart, every acknowledged write is there"
m_ctl stop "$M_UUID" >/dev/null
t_wait_for m_vtpm_stopped "$M_UUID" || m_fail "the vtpm did not stop"
m_vtpm_start "$M_UUID"
ts_nv_expect "$NV_SMALL"
tpm2_getcap -T "$TS_TCTI" handles-nv-index >"$T_DIR/nv.txt" || m_fail "tpm2_getcap handles-nv-index failed"
for idx in "${defined[@]}"; do
  grep -qix -- "- $idx" "$T_DIR/nv.txt" || m_fail "acknowledged NV index $idx is gone after the restart"
done

t_log "hostile_vtpm in limits mode"
m_ctl create --uuid "$UH" --dev "binary=$HOSTILE" >/dev/null || m_fail "vtpmctl create (hostile) failed"
out=$(m_ctl start "$UH" 2>&1) && m_fail "vtpmctl start of the hostile vtpm reported success: $out"
done_re="vtpm $UH \(pid [0-9]+\) (exited with status [0-9]+|stopped|crashed: signal [0-9]+)$"
t_wait_for log_has "$done_re" || m_fail "the hostile vtpm did not end within 10 s"
report="$(m_state_dir "$UH")/hostile.report"
[ -s "$report" ] || m_fail "the hostile vtpm left no report"
sed 's/^/    H: /' "$report" >&2
expect() { grep -qxF -- "$1" "$report" || m_fail "the hostile vtpm's report lacks '$1'"; }
expect "limit fsize: $BUDGET $BUDGET"
expect "limit core: 0 0"
expect "l setrlimit(RLIMIT_FSIZE, unlimited): denied (EPERM)"
expect "l prlimit(manager, RLIMIT_NOFILE, 1): denied (EPERM)"
expect "fill: stopped at $BUDGET bytes (EFBIG)"
expect "summary: 2 attempts, 2 held, 0 allowed, 0 unexpected"
[ "$(tail -n 1 "$report")" = "p prctl(PR_SET_PDEATHSIG, 0): calling, SIGSYS expected" ] ||
  m_fail "the hostile vtpm's last line is '$(tail -n 1 "$report")': it cleared its death signal"
log_has "vtpm $UH \(pid [0-9]+\) crashed: signal 31$" ||
  m_fail "the hostile vtpm ended as '$(grep -E "$done_re" "$M_LOG")', want killed by SIGSYS (31)"
m_alive "$M_MGR_PID" || m_fail "the manager died"
m_mgr_stop
m_done
