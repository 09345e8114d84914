#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Secrets never touch disk unencrypted and never appear in logs.
# A recognizable secret in an NV index and another sealed
# into a persistent object (tpm2_create -i, evictcontrol: its sensitive part
# lives in libtpms' permanent state) are searched for, binary-safe, raw and
# in hex (plain, upper case, and space-separated as in hex dumps), in the
# whole data directory, the run directory and the manager's log: not found.
# The state files carry none of libtpms' plaintext markers and do not
# compress (ciphertext). The same search finds both secrets, the marker and
# a compressible file in a plain vtpm's state directory, so it can fail.
# Last, a state write the manager cannot record (killed mid-write) must not
# put the data being written into the log either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"
command -v gzip >/dev/null || t_skip "gzip (the compressibility check) is not installed"

NV_INDEX=0x01500030
SEALED=0x81000101
rnd=$(head -c 8 /dev/urandom | xxd -p)
printf 'VTPM-NV-SECRET-%s' "$rnd" >"$T_DIR/secret.nv"		# 31 bytes
printf 'VTPM-SEALED-SECRET-%s' "$rnd" >"$T_DIR/secret.sealed"	# 35 bytes

# forms FILE: the secret as searched for: raw, hex, HEX, "he xx" spaced.
forms() {
  cat "$1"; echo
  xxd -p "$1" | tr -d '\n'; echo
  xxd -p "$1" | tr -d '\n' | tr a-f A-F; echo
  xxd -p -c1 "$1" | tr '\n' ' ' | sed 's/ $//'; echo
  xxd -p -c1 "$1" | tr '\n' ' ' | sed 's/ $//' | tr a-f A-F; echo
}
# found FILE PLACES...: prints where FILE's secret occurs in the files
# under PLACES; a log file (*.log) is also searched with all white space
# removed, so that a hex dump wrapped over several lines is found too.
found() {
  local form f
  while IFS= read -r form; do
    grep -a -r -l -F -e "$form" "${@:2}" 2>/dev/null | sed "s|^|$(basename "$1") as '${form:0:20}...' in |"
  done < <(forms "$1")
  for f in "${@:2}"; do
    [[ $f == *.log ]] || continue
    tr -d ' \t\r\n' <"$f" | tr A-F a-f | grep -a -q -F -e "$(xxd -p "$1" | tr -d '\n')" &&
      echo "$(basename "$1") as a wrapped hex dump in $f"
  done
}
# put_secrets TCTI: the NV secret in an index, the other sealed into a
# persistent object; the TPM must give the sealed one back.
put_secrets() {
  TS_TCTI=$1
  ts_tpm tpm2_nvdefine -C o -s "$(ts_size "$T_DIR/secret.nv")" -a "ownerread|ownerwrite" "$NV_INDEX" \
    >/dev/null || m_fail "tpm2_nvdefine failed"
  ts_tpm tpm2_nvwrite -C o -i "$T_DIR/secret.nv" "$NV_INDEX" || m_fail "tpm2_nvwrite failed"
  ts_tpm tpm2_createprimary -C o -c "$TS_WORK/prim.ctx" >/dev/null || m_fail "tpm2_createprimary failed"
  ts_tpm tpm2_create -C "$TS_WORK/prim.ctx" -i "$T_DIR/secret.sealed" -u "$TS_WORK/seal.pub" \
    -r "$TS_WORK/seal.priv" >/dev/null || m_fail "tpm2_create -i failed"
  ts_tpm tpm2_load -C "$TS_WORK/prim.ctx" -u "$TS_WORK/seal.pub" -r "$TS_WORK/seal.priv" \
    -c "$TS_WORK/seal.ctx" >/dev/null || m_fail "tpm2_load failed"
  ts_tpm tpm2_evictcontrol -C o -c "$TS_WORK/seal.ctx" "$SEALED" >/dev/null ||
    m_fail "tpm2_evictcontrol failed"
  ts_tpm tpm2_unseal -c "$SEALED" -o "$TS_WORK/unsealed" || m_fail "tpm2_unseal failed"
  cmp -s "$TS_WORK/unsealed" "$T_DIR/secret.sealed" || m_fail "tpm2_unseal gave other bytes"
  rm -f "$TS_WORK"/*
}
# ratio FILE: gzip -9 size in percent of the file's size.
ratio() { echo $(($(gzip -9 -c "$1" | wc -c) * 100 / $(stat -c %s "$1"))); }

t_log "control: a plain vtpm keeps both secrets in clear, and the search finds them"
plain="$T_DIR/plain"
mkdir -p "$plain"
t_bg "$VTPM" socket --tpm2 --tpmstate dir="$plain" \
  --server type=unixio,path="$T_DIR/plain.sock" --ctrl type=unixio,path="$T_DIR/plain.sock.ctrl" \
  --flags not-need-init,startup-clear --log file="$T_DIR/plain.log"
ppid_=$T_LAST_PID
t_wait_for t_unix_listening "$T_DIR/plain.sock" || m_fail "plain vtpm not listening"
put_secrets "swtpm:path=$T_DIR/plain.sock"
t_stop "$ppid_" || m_fail "plain vtpm ignored SIGTERM"
wait "$ppid_"
m_forget "$ppid_"
pfile="$plain/tpm2-permall"
[ -f "$pfile" ] || m_fail "no $pfile: $(ls -A "$plain")"
[ -n "$(found "$T_DIR/secret.nv" "$plain")" ] || m_fail "control: NV secret not found in the plain state"
[ -n "$(found "$T_DIR/secret.sealed" "$plain")" ] ||
  m_fail "control: sealed secret not found in the plain state"
# libtpms' permanent-state header (version, magic 0xab364723, ...): the 8
# bytes after the 24-byte plain-file header
marker=$(xxd -s 24 -l 8 -p "$pfile")
[ "${marker:4:8}" = ab364723 ] || m_fail "plain state does not start with libtpms' magic: $marker"
printf '%s' "$marker" | xxd -r -p >"$T_DIR/marker.bin"
grep -a -q -F -f <(cat "$T_DIR/marker.bin"; echo) "$pfile" || m_fail "control: marker not found"
pr=$(ratio "$pfile")
[ "$pr" -lt 85 ] || m_fail "control: plain state compresses to $pr%, the check could not tell"
t_log "control ok: both secrets and the marker found; plain state compresses to $pr%"

t_log "under the manager: the same secrets"
m_setup
put_secrets "$(m_tcti "$M_UUID")"
dir=$(m_state_dir "$M_UUID")
m_mgr_stop
t_stop "$M_HW_PID" || m_fail "swtpm ignored SIGTERM"
wait "$M_HW_PID" 2>/dev/null
m_forget "$M_HW_PID"

hits=$(found "$T_DIR/secret.nv" "$M_DATA" "$M_RUN" "$M_LOG"; found "$T_DIR/secret.sealed" "$M_DATA" "$M_RUN" "$M_LOG")
[ -z "$hits" ] || m_fail "secret found: $hits"
grep -a -r -l -F "VTPMSTAT" "$M_DATA" && m_fail "a plain-format state file in the data directory"
hits=$(grep -a -r -l -F -f <(cat "$T_DIR/marker.bin"; echo) "$M_DATA")
[ -z "$hits" ] || m_fail "libtpms' plaintext marker $marker found in: $hits"
n=0
for f in "$dir"/tpm2-*; do
  [ -f "$f" ] || continue
  r=$(ratio "$f")
  [ "$r" -ge 95 ] || m_fail "$(basename "$f") compresses to $r%: not ciphertext"
  n=$((n + 1))
done
[ $n -ge 1 ] || m_fail "no state file in $dir: $(ls -A "$dir")"
t_log "ok: no secret, hex form or marker in $(find "$M_DATA" -type f | wc -l) files, the log" \
  "or the run directory; $n state files incompressible"

t_log "a state write the manager cannot record: its data stays out of the log"
printf 'VTPM-NV-SECRET-%s' "$(head -c 8 /dev/urandom | xxd -p)" >"$T_DIR/secret.late"
m_hw_start
m_mgr_start
m_vtpm_wait "$M_UUID"
vpid=$M_VTPM_PID
seq_of() { echo $((16#$(xxd -s 12 -l 8 -p "$1" 2>/dev/null || echo 0))); }
top_seq() { local f m=0 s; for f in "$dir"/tpm2-permall.*; do s=$(seq_of "$f"); [ "$s" -gt $m ] && m=$s; done; echo $m; }
before=$(top_seq)
lines=$(m_log_lines)
kill -STOP "$M_MGR_PID"
tpm2_nvwrite -T "$(m_tcti "$M_UUID")" -C o -i "$T_DIR/secret.late" "$NV_INDEX" 2>/dev/null &
w=$!
T_PIDS+=("$w")
newer() { [ "$(top_seq)" -gt "$before" ]; }
t_wait_for newer || { kill -CONT "$M_MGR_PID"; m_fail "the vtpm wrote no new state file for the NV write"; }
m_mgr_kill9	# SIGKILL ends a stopped process too
# the vtpm cannot record the write and must stop; allow for its 30 s manager timeout
for _ in $(seq 400); do m_alive "$vpid" || break; sleep 0.1; done
m_alive "$vpid" && m_fail "vtpm (pid $vpid) still running 40 s after its manager died"
wait "$w"
m_forget "$w"
hits=$(found "$T_DIR/secret.late" "$M_DATA" "$M_RUN" "$M_LOG")
[ -z "$hits" ] || m_fail "data of the unrecorded NV write found: $hits;" \
  "log: $(m_log_since "$lines" | grep -v '^20' | head -3 | tr '\n' ' ')"
m_done
