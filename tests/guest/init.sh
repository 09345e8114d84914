#!/bin/busybox sh
# SPDX-License-Identifier: BSD-3-Clause
# /init of the throw-away initramfs that tests/integration/test_qemu_guest.sh
# boots under QEMU. It runs as PID 1 inside the guest on a stock Debian
# kernel, whose tpm_tis and tpm_crb drivers are built in, and reports what
# the guest sees of its TPM on the serial console as "VTPM-GUEST: ..." lines
# that the host-side test greps. It trusts nothing it reads: every value is
# printed for the host to judge. It always ends by powering the VM off, so
# QEMU exits instead of leaving the test to its timeout.

/bin/busybox --install -s /bin
export PATH=/bin

say() { echo "VTPM-GUEST: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The kernel opened the console from the built-in initramfs's /dev before
# devtmpfs hid it; reopen it so output survives whatever that gave us.
exec </dev/console >/dev/console 2>&1
# Keep late kernel messages off the console: they can land in the middle of
# a report line and hide it from the host's line-anchored checks.
dmesg -n 1

say "init started"

tpm_report() {
  sys=/sys/class/tpm/tpm0
  [ -c /dev/tpm0 ] || { say "no /dev/tpm0"; return; }
  say "tpm0 present"
  # Which driver bound tells the host whether TIS or CRB was really used.
  drv=$(readlink "$sys/device/driver")
  say "tpm0 driver ${drv##*/}"
  say "tpm0 version $(cat "$sys/tpm_version_major")"

  # Linux >= 5.12 exports one pcr-<alg> directory per allocated bank.
  say "banks $(cd "$sys" && echo pcr-*)"
  for i in 0 1 2 3 4 5 6 7; do
    say "pcr-sha256/$i = $(cat "$sys/pcr-sha256/$i")"
  done

  # TPM2_GetRandom(16) through the character device: tag 0x8001 (no
  # sessions), size 12, command code 0x17b, bytesRequested 16. The device
  # wants the whole command in one write() and hands the response to the
  # same open file, so keep one read-write fd for both directions.
  exec 3<>/dev/tpm0
  printf '\200\001\000\000\000\014\000\000\001\173\000\020' >&3
  hex=$(dd bs=4096 count=1 <&3 2>/dev/null | hexdump -v -e '/1 "%02x"')
  exec 3<&-
  say "getrandom = $hex"
}
tpm_report

# Kernel TPM lines help whoever reads a failing test's serial log.
dmesg | grep -i tpm | sed 's/^/VTPM-GUEST-DMESG: /'
say "done"
poweroff -f
