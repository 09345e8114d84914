#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A vTPM's state files under vtpmmgr: an older copy put back on disk, one
# flipped bit in the current slot, a truncated or a missing current slot is
# refused at start (the vtpm exits non-zero and says, in the manager's log,
# that no file matches the manager's record), and the files are left
# byte-identical with none added or removed. With the right files back the
# vTPM starts and holds the newest NV bytes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

m_setup
dir=$(m_state_dir "$M_UUID")

ts_nv_define_write "$TS_NV_INDEX" 24
ts_nv_expect "$TS_NV_INDEX"

# snapshot DEST: copies the vTPM's state files (not the lock) to DEST.
snapshot() {
  rm -rf "$1" && mkdir -p "$1" && cp -p "$dir"/tpm2-* "$1"/ || m_fail "cannot copy $dir to $1"
}
# put_back SRC: the state files become exactly those in SRC.
put_back() { rm -f "$dir"/tpm2-* && cp -p "$1"/* "$dir"/ || m_fail "cannot restore $1"; }
# fingerprint: names and SHA-256 of every file in the state directory.
fingerprint() { (cd "$dir" && find . -type f | sort | xargs sha256sum); }
# seq FILE: the sequence number in a sealed state file's header (u64 at 12).
seq_of() { echo $((16#$(xxd -s 12 -l 8 -p "$1"))); }
# current: the slot file with the highest sequence, the one the manager recorded last.
current() {
  local f best= bs=-1 s
  for f in "$dir"/tpm2-permall.*; do
    s=$(seq_of "$f")
    [ "$s" -gt "$bs" ] && { bs=$s; best=$f; }
  done
  echo "$best"
}
# flip FILE OFFSET: inverts the low bit of one byte in place.
flip() {
  local b
  b=$(xxd -s "$2" -l 1 -p "$1")
  printf "\\x$(printf %02x $((0x$b ^ 0x01)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

old_data=$(ts_hex "$TS_WORK/nv.data")
snapshot "$T_DIR/old"
t_log "state files: $(ls "$T_DIR/old" | tr '\n' ' ')"

# newer NV contents: several writes, so both slots move past the copy
for i in 1 2 3; do
  head -c 24 /dev/urandom >"$TS_WORK/nv.data"
  ts_tpm tpm2_nvwrite -C o -i "$TS_WORK/nv.data" "$TS_NV_INDEX" || m_fail "tpm2_nvwrite $i failed"
done
[ "$(ts_hex "$TS_WORK/nv.data")" != "$old_data" ] || m_fail "random NV data repeated"
m_vtpm_stop "$M_UUID"
snapshot "$T_DIR/good"
for f in "$T_DIR"/old/*; do
  cmp -s "$f" "$T_DIR/good/$(basename "$f")" && m_fail "$(basename "$f") did not change since the copy"
done

# refused CASE: vtpmctl start; the vtpm must exit non-zero with the
# record mismatch in the manager's log, the files untouched.
refused() {
  local before lines out line
  before=$(fingerprint)
  lines=$(m_log_lines)
  # vtpmctl start answers once the vtpm serves or has exited: here, an error
  if out=$(m_ctl start "$M_UUID" 2>&1); then
    M_VTPM_PIDS+=("$(m_vtpm_pid "$M_UUID")")
    m_fail "$1: vtpmctl start reported success: $out"
  fi
  [[ $out == *"exited while starting"* ]] || m_fail "$1: vtpmctl start's error is unclear: $out"
  t_wait_for m_vtpm_stopped "$M_UUID" || {
    M_VTPM_PIDS+=("$(m_vtpm_pid "$M_UUID")")
    m_fail "$1: the vTPM started"
  }
  line=$(m_log_since "$lines" | grep -m1 "exited with status") ||
    m_fail "$1: no exit status in the manager's log: $(m_log_since "$lines")"
  [[ $line != *"exited with status 0" ]] || m_fail "$1: the vtpm exited 0: $line"
  m_log_since "$lines" | grep -q "no permall file matches the manager's record" ||
    m_fail "$1: the log does not say that no file matches the record: $(m_log_since "$lines")"
  [ "$(fingerprint)" = "$before" ] ||
    m_fail "$1: state directory changed: was $before, is $(fingerprint)"
  t_log "ok $1: ${line##*vtpmmgr error: }"
}

put_back "$T_DIR/old"
refused "older copy of the slot files put back"

put_back "$T_DIR/good"
cur=$(current)
size=$(stat -c %s "$cur")
flip "$cur" $((size / 2))
refused "one bit flipped in the middle of the current slot $(basename "$cur")"

put_back "$T_DIR/good"
flip "$cur" 13
refused "one bit flipped in the sequence of the current slot"

put_back "$T_DIR/good"
flip "$cur" $((size - 1))
refused "one bit flipped in the tag of the current slot"

put_back "$T_DIR/good"
truncate -s $((size - 1)) "$cur"
refused "current slot one byte short"

put_back "$T_DIR/good"
truncate -s $((size / 2)) "$cur"
refused "current slot truncated to half"

put_back "$T_DIR/good"
rm -f "$cur"
refused "current slot missing"

put_back "$T_DIR/good"
other=$(ls "$dir"/tpm2-permall.* | grep -vx "$cur")
cp -p "$other" "$cur"
refused "current slot replaced by the other slot's bytes"

t_log "right files back: starts, newest NV bytes there"
put_back "$T_DIR/good"
m_vtpm_start "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"
m_mgr_stop
m_done
