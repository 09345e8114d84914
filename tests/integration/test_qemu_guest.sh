#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# End to end with the real client: QEMU's tpm-emulator backend drives $VTPM
# over the swtpm control socket (SET_DATAFD, STOP, SET_BUFFERSIZE, INIT,
# SET_LOCALITY, SHUTDOWN) exactly as libvirt would have it, SeaBIOS and a
# stock Debian kernel talk to the TPM through an emulated TIS or CRB
# interface, and a busybox /init (tests/guest/init.sh) reports what the guest
# sees on the serial console. The guest's report is untrusted text: each
# value is checked here. Both interfaces get their own TPM process and state.
#
# Needs qemu-system-x86_64, a readable /boot/vmlinuz-*, a static
# /bin/busybox, cpio and gzip; skips, saying which, when one is absent.
# VTPM_TEST_ACCEL=kvm|tcg overrides the accelerator probe.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/guest.sh
. "$(dirname "$0")/guest.sh"

: "${VTPM:?VTPM must name the binary under test}"
GUEST_INIT=$(dirname "$0")/../guest/init.sh
# TCG boots this guest in about 6 s; the margin is for loaded CI machines.
BOOT_TIMEOUT=60
# A working KVM reaches /init in 1-2 s; a hung one would wait forever.
PROBE_TIMEOUT=8

# build_initramfs OUT: a gzip'd newc cpio of busybox plus our /init. The
# kernel's built-in initramfs already provides /dev/console, so no device
# nodes are needed here and the test runs without mknod privileges.
build_initramfs() {
  local root="$T_DIR/initramfs"
  mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys"
  cp /bin/busybox "$root/bin/busybox"
  cp "$GUEST_INIT" "$root/init"
  chmod 755 "$root/init"
  mk_cpio "$root" "$1"
}

# qemu_boot OUT LIMIT ACCEL [QEMU ARGS...]: boots the kernel and initramfs
# with the serial console in OUT; returns QEMU's status (124 on timeout).
# The guest powers itself off, so a healthy run never reaches LIMIT.
qemu_boot() {
  local out=$1 limit=$2 accel=$3
  shift 3
  timeout --kill-after=5 "$limit" "$QEMU" -accel "$accel" \
    -nographic -no-reboot -m 256 -nic none \
    -kernel "$KERNEL" -initrd "$INITRD" \
    -append 'console=ttyS0 panic=-1 quiet' "$@" </dev/null >"$out" 2>&1
}

# choose_accel: prints kvm when a TPM-less boot of the same guest finishes
# under KVM, tcg otherwise. /dev/kvm alone proves little: some hosts offer a
# paravirtual KVM without VMX under which this kernel hangs early in boot.
choose_accel() {
  if [ -n "${VTPM_TEST_ACCEL:-}" ]; then
    echo "$VTPM_TEST_ACCEL"
    return
  fi
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] &&
    qemu_boot "$T_DIR/probe-kvm.out" "$PROBE_TIMEOUT" kvm &&
    grep -q '^VTPM-GUEST: done' "$T_DIR/probe-kvm.out"; then
    echo kvm
  else
    echo tcg
  fi
}

# guest_value REPORT KEY: what the guest printed after "VTPM-GUEST: KEY".
guest_value() {
  sed -n "s|^VTPM-GUEST: $2||p" "$1" | head -n 1
}

# check_guest REPORT DRIVER: prints the first failed assertion on the guest's
# report (its VTPM-GUEST lines); prints nothing when all hold.
check_guest() {
  local txt=$1 driver=$2 i v
  grep -qx 'VTPM-GUEST: init started' "$txt" || { echo "guest /init never ran"; return 1; }
  grep -qx 'VTPM-GUEST: tpm0 present' "$txt" || { echo "guest has no /dev/tpm0"; return 1; }
  # The driver that bound proves the interface under test was the one used.
  v=$(guest_value "$txt" 'tpm0 driver ')
  [ "$v" = "$driver" ] || { echo "driver '$v', expected $driver"; return 1; }
  v=$(guest_value "$txt" 'tpm0 version ')
  [ "$v" = 2 ] || { echo "TPM version '$v', expected 2"; return 1; }
  for i in 0 1 2 3 4 5 6 7; do
    v=$(guest_value "$txt" "pcr-sha256/$i = ")
    [[ $v =~ ^[0-9A-Fa-f]{64}$ ]] || { echo "PCR $i '$v' is not 64 hex digits"; return 1; }
    # SeaBIOS extends at least a separator into each of PCR 0-7, so zero
    # here means the firmware's PCR_Extend commands were lost.
    [[ $v =~ ^0+$ ]] && { echo "PCR $i is zero"; return 1; }
  done
  # Response to GetRandom(16): tag, size, rc, TPM2B count, 16 bytes.
  v=$(guest_value "$txt" 'getrandom = ')
  [ "${v:0:4}" = 8001 ] || { echo "GetRandom response '$v': tag is not 8001"; return 1; }
  [ "${v:12:8}" = 00000000 ] || { echo "GetRandom response '$v': rc is not 0"; return 1; }
  [[ $v =~ ^80010000001c000000000010[0-9a-f]{32}$ ]] ||
    { echo "GetRandom response '$v' is not 28 bytes carrying 16 random ones"; return 1; }
  grep -qx 'VTPM-GUEST: done' "$txt" || { echo "guest /init did not finish"; return 1; }
}

# tpm_gone PID: true once the process has exited (bash reaps its children).
tpm_gone() { ! kill -0 "$1" 2>/dev/null; }

# run_guest DEVICE: one TPM process, one boot with -device DEVICE, asserts.
run_guest() {
  local dev=$1
  local dir="$T_DIR/$dev"
  local state="$dir/state" ctrl="$dir/ctrl.sock" log="$dir/vtpm.log"
  local out="$dir/serial.out" txt="$dir/serial.txt" report="$dir/report.txt"
  local pid rc t0 why

  mkdir -p "$state"
  # QEMU's flow: no not-need-init and no startup-*; QEMU sends CMD_INIT and
  # SeaBIOS sends TPM2_Startup. No data listener: QEMU passes a socketpair
  # end with CMD_SET_DATAFD.
  t_bg "$VTPM" socket --tpm2 --tpmstate "dir=$state" \
    --ctrl "type=unixio,path=$ctrl" --log "file=$log"
  pid=$T_LAST_PID
  t_wait_for t_unix_listening "$ctrl" ||
    t_fail "$dev: $VTPM does not listen on control socket $ctrl"

  t0=$(now_ms)
  qemu_boot "$out" "$BOOT_TIMEOUT" "$ACCEL" \
    -chardev "socket,id=chrtpm,path=$ctrl" \
    -tpmdev emulator,id=tpm0,chardev=chrtpm \
    -device "$dev,tpmdev=tpm0"
  rc=$?
  t_log "$dev: boot took $(( $(now_ms) - t0 )) ms under $ACCEL (qemu rc=$rc)"
  # The serial log has CRLF line ends, and the first report line follows
  # SeaBIOS's terminal escapes without a newline: keep from each marker on.
  tr -d '\r' <"$out" >"$txt"
  grep -o 'VTPM-GUEST: .*' "$txt" >"$report"
  sed "s/^/  $dev guest> /" "$report" >&2

  why=$(check_guest "$report" "${dev//-/_}")
  [ "$rc" -ne 0 ] && why="qemu exited with $rc${why:+; $why}"
  if [ -n "$why" ]; then
    sed 's/^/    serial: /' "$txt" >&2
    [ -s "$log" ] && tail -n 20 "$log" | sed 's/^/    tpm log: /' >&2
    t_fail "$dev: $why"
  fi

  # QEMU's teardown sends CMD_SHUTDOWN, on which swtpm exits 0 by itself.
  if ! t_wait_for tpm_gone "$pid"; then
    t_stop "$pid"
    t_fail "$dev: TPM process $pid still running after QEMU sent CMD_SHUTDOWN"
  fi
  wait "$pid"
  rc=$?
  [ "$rc" -eq 0 ] || t_fail "$dev: TPM process exited with $rc after CMD_SHUTDOWN"
  # A fresh TPM is manufactured on CMD_INIT and persists its NV state.
  find "$state" -type f ! -name '.*' -size +0 | grep -q . ||
    t_fail "$dev: no TPM state written under $state"
}

guest_prereqs

INITRD="$T_DIR/initrd.gz"
build_initramfs "$INITRD" || t_fail "building the initramfs failed"
t_log "kernel $KERNEL"

t_start=$(now_ms)
ACCEL=$(choose_accel)
t_log "accelerator: $ACCEL (chosen in $(( $(now_ms) - t_start )) ms)"

for dev in tpm-tis tpm-crb; do
  run_guest "$dev"
done

# Nothing we started may outlive the test: every process that named our
# temp directory (TPM processes, QEMU) must be gone.
left=$(pgrep -f -- "$T_DIR")
[ -z "$left" ] || t_fail "still running after the test: $left"
t_log "total $(( $(now_ms) - t_start )) ms"
