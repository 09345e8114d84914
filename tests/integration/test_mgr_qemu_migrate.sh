#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# QEMU's unchanged `-tpmdev emulator` migration between two vTPMs of one
# manager: the source QEMU (SeaBIOS, no guest kernel: the firmware's TPM
# commands and measurements are enough) reads the sealed state blobs of
# vTPM A (CMD_GET_STATEBLOB), a destination QEMU started with -incoming
# writes them into vTPM B (CMD_STOP, CMD_SET_STATEBLOB, CMD_INIT). B was
# created with migrate-from=A and ends up with A's NV index and PCR values;
# vTPM C, created without it, refuses A's blobs and the destination QEMU
# fails the migration. Needs qemu-system-x86_64; skips without it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"
QEMU=qemu-system-x86_64
command -v "$QEMU" >/dev/null || t_skip "$QEMU not installed"

# hmp SOCKET COMMAND: one human-monitor command; prints its output.
hmp() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
def prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace")
try:
    prompt()
    s.sendall(sys.argv[2].encode() + b"\n")
    out = prompt()
except (BrokenPipeError, ConnectionResetError):
    out = ""	# quit: QEMU closed the monitor
print(out.replace("\r", "").rsplit("(qemu) ", 1)[0])
EOF
}

# qemu_start NAME UUID [ARGS...]: a firmware-only VM on the vTPM's control
# socket, its monitor on T_DIR/NAME.mon; sets QEMU_PID.
qemu_start() {
  local name=$1 u=$2
  shift 2
  t_bg "$QEMU" -accel tcg -m 64 -nodefaults -display none -no-reboot \
    -chardev "socket,id=chrtpm,path=$(m_sock "$u").ctrl" \
    -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
    -monitor "unix:$T_DIR/$name.mon,server=on,wait=off" "$@"
  QEMU_PID=$T_LAST_PID
  t_wait_for t_unix_listening "$T_DIR/$name.mon" || m_fail "$name: QEMU has no monitor"
}

# migrated: the source's last migration is over (either way).
migrated() { hmp "$T_DIR/src.mon" "info migrate" | grep -q "Migration status: \(completed\|failed\)"; }

# loaded_b: the destination on B is past its incoming migration (post_load ran).
loaded_b() { hmp "$T_DIR/dst-b.mon" "info status" | grep "VM status" | grep -vq inmigrate; }

# pcrs TCTI: PCRs 0-7 (SHA-256) as tpm2_pcrread prints them.
pcrs() { tpm2_pcrread -T "$1" sha256:0,1,2,3,4,5,6,7; }
# measured: SeaBIOS has extended PCR 0 on the source.
measured() { ! pcrs "$(m_tcti "$A")" | grep -q "0 : 0x0000000000000000000000000000000000000000000000000000000000000000"; }

m_setup
A=$M_UUID
ts_nv_define_write "$TS_NV_INDEX" 32
M_DEV_EXTRA="migrate-from=$A" m_create
B=$M_UUID
m_vtpm_start "$B"
m_create
C=$M_UUID
m_vtpm_start "$C"

qemu_start src "$A"
SRC_PID=$QEMU_PID
t_wait_for measured || m_fail "SeaBIOS did not measure into vTPM A's PCR 0"
hmp "$T_DIR/src.mon" stop >/dev/null

# C was not told to take A's state: the destination fails the migration
qemu_start dst-c "$C" -incoming "unix:$T_DIR/mig-c.sock"
DSTC_PID=$QEMU_PID
t_wait_for t_unix_listening "$T_DIR/mig-c.sock" || m_fail "the destination on C does not listen"
hmp "$T_DIR/src.mon" "migrate -d unix:$T_DIR/mig-c.sock" >/dev/null
t_wait_for m_dead "$DSTC_PID" || m_fail "the destination on C took A's blobs and runs"
wait "$DSTC_PID" && m_fail "the destination on C exited 0"
m_forget "$DSTC_PID"
grep -q "state blob of another vTPM refused" "$M_LOG" || m_fail "the manager did not refuse A's blob for C"
t_wait_for migrated || m_fail "the failed migration never ended on the source"
t_log "C refused A's blobs; its QEMU failed the migration"
# the source, paused by the migration it thinks done, resumes and stops again
hmp "$T_DIR/src.mon" cont >/dev/null
hmp "$T_DIR/src.mon" stop >/dev/null
pcrs "$(m_tcti "$A")" >"$T_DIR/pcrs.a" || m_fail "tpm2_pcrread on A failed"

# B may: the same QEMU migration lands A's state in B
qemu_start dst-b "$B" -incoming "unix:$T_DIR/mig-b.sock"
DSTB_PID=$QEMU_PID
t_wait_for t_unix_listening "$T_DIR/mig-b.sock" || m_fail "the destination on B does not listen"
out=$(hmp "$T_DIR/src.mon" "migrate -d unix:$T_DIR/mig-b.sock")
grep -q Error <<<"$out" && m_fail "the source refused to migrate: $out"
t_wait_for migrated || m_fail "the migration to B did not end"
hmp "$T_DIR/src.mon" "info migrate" | grep -q "status: completed" ||
  m_fail "the migration to B failed: $(hmp "$T_DIR/src.mon" "info migrate" | grep status)"
t_wait_for loaded_b || m_fail "the destination on B never finished loading: $(hmp "$T_DIR/dst-b.mon" "info status")"
m_alive "$DSTB_PID" || m_fail "the destination QEMU on B exited: $(tail -n 3 "$T_DIR/bg.log")"
TS_TCTI=$(m_tcti "$B")
ts_nv_expect "$TS_NV_INDEX"
pcrs "$TS_TCTI" >"$T_DIR/pcrs.b" || m_fail "tpm2_pcrread on B failed"
cmp -s "$T_DIR/pcrs.a" "$T_DIR/pcrs.b" || m_fail "B's PCRs differ from A's: $(diff "$T_DIR/pcrs.a" "$T_DIR/pcrs.b")"
t_log "B holds A's NV index and PCRs 0-7 after the migration"

for mon in src dst-b; do hmp "$T_DIR/$mon.mon" quit >/dev/null 2>&1; done
for pid in "$SRC_PID" "$DSTB_PID"; do
  t_wait_for m_dead "$pid" || m_fail "QEMU $pid did not quit"
  wait "$pid"
  m_forget "$pid"
done
m_done "migration A -> B through QEMU; A -> C refused"
