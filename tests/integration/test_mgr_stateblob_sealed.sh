#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# State blobs of a managed vTPM over its control socket, with the real
# client (swtpm_ioctl --save / --load): what leaves is sealed (the NV bytes
# written with tpm2_nvwrite are nowhere in it, its header is VTPMBLOB), the
# current blob round-trips (stop, load, init: the vTPM works and holds its
# data), and the manager refuses, with the vTPM keeping its newer state:
# an older blob after a newer NV write, a blob with one flipped bit (in the
# ciphertext, in the header's sequence), a blob of another vTPM, and a
# plain libtpms blob as a standalone vtpm gives it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"
command -v swtpm_ioctl >/dev/null || t_skip "swtpm_ioctl (swtpm-tools) is not installed"

m_setup
A=$M_UUID
A_TCTI=$TS_TCTI
A_CTRL="$(m_sock "$A").ctrl"

ioc() { swtpm_ioctl --unix "$A_CTRL" "$@"; }
# flip FILE OFFSET: inverts the low bit of one byte in place.
flip() {
  local b
  b=$(xxd -s "$2" -l 1 -p "$1")
  printf "\\x$(printf %02x $((0x$b ^ 0x01)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# sealed FILE: the file starts with the sealed blob's magic.
sealed() { [ "$(head -c 8 "$1" | xxd -p)" = "$(printf VTPMBLOB | xxd -p)" ]; }
# contains FILE HEXBYTES: FILE holds those bytes somewhere.
contains() { xxd -p "$1" | tr -d '\n' | grep -q "$2"; }
# restart_tpm: CMD_INIT and TPM2_Startup after a stop (loaded or refused).
restart_tpm() {
  ioc -i || m_fail "swtpm_ioctl -i failed after $1"
  tpm2_startup -T "$TS_TCTI" -c || m_fail "tpm2_startup failed after $1"
}
# refused FILE WHAT: --load permanent FILE must fail, and the vTPM must
# still hold the NV bytes of TS_WORK/nv.data once started again.
refused() {
  ioc --stop || m_fail "swtpm_ioctl --stop failed before loading $2"
  ioc --load permanent "$1" 2>/dev/null && m_fail "$2 was loaded"
  restart_tpm "the refused $2"
  ts_nv_expect "$TS_NV_INDEX"
  t_log "refused: $2"
}

ts_nv_define_write "$TS_NV_INDEX" 32
cp "$TS_WORK/nv.data" "$T_DIR/old.data"
ioc --save permanent "$T_DIR/old.blob" || m_fail "swtpm_ioctl --save permanent failed"
[ -s "$T_DIR/old.blob" ] || m_fail "--save permanent wrote nothing"
sealed "$T_DIR/old.blob" ||
  m_fail "the saved blob is not sealed: it starts $(xxd -l 8 -p "$T_DIR/old.blob")"
contains "$T_DIR/old.blob" "$(ts_hex "$TS_WORK/nv.data")" &&
  m_fail "the saved blob holds the NV bytes in plaintext"
ioc --save volatile "$T_DIR/old.vol" || m_fail "swtpm_ioctl --save volatile failed"
contains "$T_DIR/old.vol" "$(ts_hex "$TS_WORK/nv.data")" &&
  m_fail "the saved volatile blob holds the NV bytes in plaintext"

# the current blob round-trips: the vTPM runs on it with its data
ioc --stop || m_fail "swtpm_ioctl --stop failed"
ioc --load permanent "$T_DIR/old.blob" || m_fail "the current blob was refused: $(tail -n 3 "$M_LOG")"
ioc --load volatile "$T_DIR/old.vol" || m_fail "its volatile companion was refused: $(tail -n 3 "$M_LOG")"
restart_tpm "a load of the current blob"
ts_nv_expect "$TS_NV_INDEX"
t_log "the current blob round-trips ($(ts_size "$T_DIR/old.blob") bytes)"

# a newer NV write: the older blob is refused, the newer value stays
head -c 32 /dev/urandom >"$TS_WORK/nv.data"
ts_tpm tpm2_nvwrite -C o -i "$TS_WORK/nv.data" "$TS_NV_INDEX" || m_fail "tpm2_nvwrite failed"
cmp -s "$TS_WORK/nv.data" "$T_DIR/old.data" && m_fail "random NV data repeated"
refused "$T_DIR/old.blob" "an older blob"

# one flipped bit, in the ciphertext or in the header's sequence (u64 at 28)
ioc --save permanent "$T_DIR/cur.blob" || m_fail "swtpm_ioctl --save permanent failed"
cp "$T_DIR/cur.blob" "$T_DIR/flip.blob"
flip "$T_DIR/flip.blob" $(($(ts_size "$T_DIR/flip.blob") / 2))
refused "$T_DIR/flip.blob" "a blob with a flipped ciphertext bit"
ioc --save permanent "$T_DIR/cur.blob" || m_fail "swtpm_ioctl --save permanent failed"
cp "$T_DIR/cur.blob" "$T_DIR/seq.blob"
flip "$T_DIR/seq.blob" 35
refused "$T_DIR/seq.blob" "a blob with a flipped sequence bit"

# another vTPM's blob, both ways
m_create
B=$M_UUID
m_vtpm_start "$B"
swtpm_ioctl --unix "$(m_sock "$B").ctrl" --save permanent "$T_DIR/b.blob" ||
  m_fail "swtpm_ioctl --save permanent failed on the second vTPM"
swtpm_ioctl --unix "$(m_sock "$B").ctrl" --stop || m_fail "--stop failed on the second vTPM"
swtpm_ioctl --unix "$(m_sock "$B").ctrl" --load permanent "$T_DIR/cur.blob" 2>/dev/null &&
  m_fail "the second vTPM took in the first one's blob"
TS_TCTI=$A_TCTI
refused "$T_DIR/b.blob" "another vTPM's blob"

# a plain libtpms blob (what a standalone vtpm hands out) is not the manager's
sdir="$T_DIR/standalone"
mkdir -p "$sdir/state"
t_bg "$VTPM" socket --tpm2 --tpmstate dir="$sdir/state" --flags not-need-init,startup-clear \
  --ctrl type=unixio,path="$sdir/ctrl.sock" --server type=unixio,path="$sdir/tpm.sock"
t_wait_for t_unix_listening "$sdir/ctrl.sock" || m_fail "the standalone vtpm did not come up"
swtpm_ioctl --unix "$sdir/ctrl.sock" --save permanent "$T_DIR/plain.blob" ||
  m_fail "--save permanent failed on the standalone vtpm"
sealed "$T_DIR/plain.blob" && m_fail "a standalone vtpm sealed its blob"
refused "$T_DIR/plain.blob" "a plain blob"

# and the newest state survives a restart of the vTPM
m_vtpm_stop "$A"
m_vtpm_start "$A"
ts_nv_expect "$TS_NV_INDEX"
m_done "saved blobs sealed; older, flipped, foreign and plain blobs refused"
