#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A FIFO planted where a file is read from disk must not hang the process
# that reads it: each case below ends with the process exiting non-zero
# and an error naming the file, where the old code blocked in open(2)
# forever. Cases: a standalone vtpm's state file; a managed vTPM's current
# state slot (the vtpm exits, vtpmctl start reports it); the manager's
# sealed root secret; the manager's store and its -wal; the manager's
# configuration file. `timeout` only turns a hang into a failure (exit
# 124); no case measures time. After each case the right file goes back
# and the process works again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

HANG=${FIFO_HANG:-60}	# seconds before a hang is called one (a working refusal takes well under 1 s)

# no_hang WHAT RC: RC is the exit status of `timeout HANG ...`.
no_hang() {
  [ "$2" -ne 124 ] || m_fail "$1: still blocked after $HANG s (a FIFO hangs it)"
  [ "$2" -ne 0 ] || m_fail "$1: exited 0"
}

t_log "standalone vtpm, FIFO in place of tpm2-permall"
sa="$T_DIR/standalone"
mkdir -p "$sa/state"
mkfifo "$sa/state/tpm2-permall"
timeout "$HANG" "$VTPM" socket --tpm2 --tpmstate dir="$sa/state" \
  --server type=unixio,path="$sa/tpm.sock" --ctrl type=unixio,path="$sa/tpm.sock.ctrl" \
  --log file="$sa/vtpm.log" --flags not-need-init,startup-clear
no_hang "standalone vtpm" $?
grep -q "tpm2-permall.*not a regular file" "$sa/vtpm.log" ||
  m_fail "standalone vtpm's log does not name the FIFO: $(cat "$sa/vtpm.log")"
[ -p "$sa/state/tpm2-permall" ] || m_fail "the FIFO was replaced"

m_setup
dir=$(m_state_dir "$M_UUID")
ts_nv_define_write "$TS_NV_INDEX" 24
m_vtpm_stop "$M_UUID"

t_log "managed vTPM, FIFO in place of its current state slot"
# the slot with the highest sequence (u64 at offset 12) is the recorded one
cur= best=-1
for f in "$dir"/tpm2-permall.*; do
  s=$((16#$(xxd -s 12 -l 8 -p "$f")))
  [ "$s" -gt "$best" ] && { best=$s; cur=$f; }
done
mv "$cur" "$T_DIR/slot.good"
mkfifo -m 0600 "$cur"
chown --reference="$dir" "$cur"
lines=$(m_log_lines)
timeout "$HANG" "$CTL" --socket "$M_SOCKET" start "$M_UUID" >"$T_DIR/ctl.out" 2>&1
rc=$?
[ "$rc" -ne 124 ] || {
  pid=$(m_vtpm_pid "$M_UUID") && [ "$pid" -gt 0 ] && M_VTPM_PIDS+=("$pid")
  m_fail "vtpmctl start still waiting after $HANG s: the vtpm blocks on the FIFO"
}
[ "$rc" -ne 0 ] || { M_VTPM_PIDS+=("$(m_vtpm_pid "$M_UUID")"); m_fail "the vTPM started on a FIFO"; }
t_wait_for m_vtpm_stopped "$M_UUID" || m_fail "the vTPM did not exit"
m_log_since "$lines" | grep -q "$(basename "$cur").*not a regular file" ||
  m_fail "the log does not name $(basename "$cur"): $(m_log_since "$lines")"
rm -f "$cur"
mv "$T_DIR/slot.good" "$cur"
m_vtpm_start "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"
m_vtpm_stop "$M_UUID"
m_mgr_stop

# mgr_fifo FILE WHAT: the manager, FILE (under the data directory) a FIFO,
# must exit non-zero naming it; then FILE goes back and the manager starts.
mgr_fifo() {
  local f="$M_DATA/$1" rc lines had=0
  t_log "manager, FIFO in place of $2 ($1)"
  [ -e "$f" ] && { had=1; mv "$f" "$T_DIR/aside"; }
  mkfifo -m 0600 "$f"
  lines=$(m_log_lines)
  timeout "$HANG" "$MGR" -c /dev/null --data-dir "$M_DATA" --run-dir "$M_RUN" \
    --tcti "$M_HW_TCTI" --vtpm "$VTPM" --log "$M_LOG" --pid "$M_PIDFILE"
  rc=$?
  no_hang "manager with a FIFO as $1" "$rc"
  m_log_since "$lines" | grep -q "$1.*not a regular file" ||
    m_fail "the manager's log does not name $1: $(m_log_since "$lines")"
  rm -f "$f"
  [ $had -eq 0 ] || mv "$T_DIR/aside" "$f"
  m_mgr_start
  m_mgr_stop
}
mgr_fifo root.seal "the sealed root secret"
mgr_fifo store.db "the store"
mgr_fifo store.db-wal "the store's write-ahead log"

t_log "manager, FIFO as its configuration file"
mkfifo "$T_DIR/conf.fifo"
timeout "$HANG" "$MGR" -c "$T_DIR/conf.fifo" --data-dir "$M_DATA" --run-dir "$M_RUN" \
  --tcti "$M_HW_TCTI" --vtpm "$VTPM" 2>"$T_DIR/conf.err"
no_hang "manager with a FIFO as its configuration" $?
grep -q "conf.fifo: not a regular file" "$T_DIR/conf.err" ||
  m_fail "the manager does not name its configuration: $(cat "$T_DIR/conf.err")"

m_mgr_start
m_vtpm_start "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"
m_mgr_stop
m_done
