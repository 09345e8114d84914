#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A vtpm's output cannot touch the manager's log, and a sanitizer report of
# a vtpm under the manager reaches the harness. Each vtpm's stdout and
# stderr are a pipe the manager reads (it used to inherit the log file).
#  1. tests/tools/hostile_vtpm as vTPM B (HOSTILE_LOG_NAME) tries
#     ftruncate and pwrite at offset 0 on its stderr, which must both be
#     refused; then writes a forged manager line, one with terminal escapes
#     and a 3000-byte one. The log must keep every earlier line byte for
#     byte, and hold the forged lines only behind the manager's own
#     "vtpm B output: " prefix, escaped (no raw ESC or CR in the log) and
#     cut to 512 bytes.
#  2. hostile_vtpm as vTPM C (HOSTILE_SAN_NAME) writes one byte past a heap
#     block. In a sanitizer build, ASan's report must appear in the log as
#     C's output; mgr.sh (m_san_collect) turns such a report into a failure
#     of the test that provoked it, so this test declares it expected
#     (m_san_expect). In other builds C says it survived.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

HOSTILE="$BUILD/hostile_vtpm"
[ -x "$HOSTILE" ] || t_fail "no $HOSTILE: build it first (make all)"

# the hostile program picks its mode by its UUID, from the manager's environment
UB=$(cat /proc/sys/kernel/random/uuid)
UC=$(cat /proc/sys/kernel/random/uuid)
export HOSTILE_LOG_NAME=$UB HOSTILE_SAN_NAME=$UC

log_has() { grep -Eq -- "$1" "$M_LOG"; }
# run_hostile UUID: creates and starts it (it never serves), waits for its end.
run_hostile() {
  local done_re="vtpm $1 \(pid [0-9]+\) (exited with status [0-9]+|stopped|crashed: signal [0-9]+)$"
  M_UUIDS+=("$1")
  m_ctl create --uuid "$1" --dev "binary=$HOSTILE" >/dev/null || m_fail "vtpmctl create $1 failed"
  m_ctl start "$1" >/dev/null 2>&1 && m_fail "vtpmctl start of hostile $1 reported success"
  t_wait_for log_has "$done_re" || m_fail "hostile vTPM $1 did not end within 10 s"
  grep -E "$done_re" "$M_LOG" | sed 's/^/    /' >&2
}

m_setup
cp "$M_LOG" "$T_DIR/log.before"
t_log "1. vTPM B goes for the manager's log through its stderr"
run_hostile "$UB"
m_vtpm_output "$UB" | sed 's/^/    B: /' | cut -c1-160 >&2
size=$(stat -c %s "$T_DIR/log.before")
cmp -n "$size" "$T_DIR/log.before" "$M_LOG" ||
  m_fail "the manager's log lost or changed lines written before vTPM B ran"
for call in 'ftruncate\(2, 0\)' 'pwrite\(2, forged line, offset 0\)'; do
  m_vtpm_output "$UB" | grep -Eq "^hostile\[$UB\]: l $call: refused \(" ||
    m_fail "B's $call on its stderr was not refused: $(m_vtpm_output "$UB" | grep -E " l $call")"
done
! grep -q '^2000-01-01' "$M_LOG" || m_fail "a forged line stands on its own in the manager's log"
grep -qF "vtpmmgr info: vtpm $UB output: 2000-01-01T00:00:00.000Z vtpmmgr info: FORGED-BY-HOSTILE" "$M_LOG" ||
  m_fail "B's forged line is not in the log behind its UUID"
grep -qF "vtpm $UB output: \\x0d\\x1b[2K2000-01-01" "$M_LOG" ||
  m_fail "B's terminal escapes are not in the log escaped"
! grep -q $'[\r\x1b]' "$M_LOG" || m_fail "a raw CR or ESC byte in the manager's log"
m_vtpm_output "$UB" | grep -qE '^L{512} \[cut\]$' || m_fail "B's 3000-byte line was not cut to 512 bytes"
m_alive "$M_MGR_PID" || m_fail "the manager died"

t_log "2. vTPM C overflows a heap block"
if m_san_build; then m_san_expect "$UC"; fi
run_hostile "$UC"
if m_san_build; then
  m_vtpm_output "$UC" | grep -E "$M_SAN_RE" | head -n 3 | sed 's/^/    C: /' >&2
  m_vtpm_output "$UC" | grep -qE '==[0-9]+==ERROR: AddressSanitizer: heap-buffer-overflow' ||
    m_fail "no ASan report of C's overflow in the manager's log: $(m_vtpm_output "$UC" | tail -n 3)"
  ! m_vtpm_output "$UC" | grep -q 'survived' || m_fail "C survived its overflow in a sanitizer build"
  # whole: the sandbox let ASan finish its report and exit (no SIGSYS half-way)
  m_vtpm_output "$UC" | grep -qE '^==[0-9]+==ABORTING$' || m_fail "C's ASan report is not whole"
  log_has "vtpm $UC \(pid [0-9]+\) exited with status 1$" ||
    m_fail "C did not end as ASan ends a process: $(grep "vtpm $UC (pid" "$M_LOG")"
  t_log "   ASan's report ($(m_vtpm_output "$UC" | wc -l) lines) is in the log as C's output"
else
  m_vtpm_output "$UC" | grep -q 's survived: not a sanitizer build' || m_fail "C did not say it survived"
  t_log "   not a sanitizer build: C survived, as it may"
fi
m_ctl status >/dev/null || m_fail "vtpmctl status failed after the hostile vTPMs"
m_done
