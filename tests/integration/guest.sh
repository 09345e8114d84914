# SPDX-License-Identifier: BSD-3-Clause
# Helpers of the tests that boot a guest under QEMU (test_qemu_guest.sh,
# test_xen_guest.sh): the kernel to boot, the tools an initramfs needs, a
# millisecond clock for the timings they report. Sourced after lib.sh.

QEMU=qemu-system-x86_64

# now_ms: wall clock in milliseconds, for the timings the test reports.
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# find_kernel: newest installed kernel image (linux-image-amd64), if any.
find_kernel() {
  local k
  for k in /boot/vmlinuz-*; do
    [ -e "$k" ] && echo "$k"
  done | sort -V | tail -n 1
}

# guest_prereqs: sets KERNEL, or skips saying what is missing.
guest_prereqs() {
  command -v "$QEMU" >/dev/null || t_skip "$QEMU not installed"
  KERNEL=$(find_kernel)
  [ -n "$KERNEL" ] || t_skip "no kernel /boot/vmlinuz-* (linux-image-amd64)"
  [ -r "$KERNEL" ] || t_skip "kernel $KERNEL not readable"
  [ -x /bin/busybox ] || t_skip "no /bin/busybox (busybox-static)"
  ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' ||
    t_skip "/bin/busybox is dynamically linked (install busybox-static)"
  command -v cpio >/dev/null || t_skip "cpio not installed"
}

# mk_cpio DIR OUT: a gzip'd newc cpio of DIR, owned by root.
mk_cpio() {
  (cd "$1" && find . | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$2"
}
