#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# /init of the Xen test's PV domU: loads the distribution's unmodified
# xen-tpmfront, drives /dev/tpm0 with raw TPM 1.2 commands (GetRandom,
# Extend and PcrRead of PCR 10, the kernel's sysfs pcrs), unloads the
# module (or unbinds the device) and binds it again (a new ring: a new boot
# of the TPM), and reads PCR 10 again. Each
# result is a "VTPM-DOMU: " line on hvc0, which xenconsoled logs in dom0;
# the host checks the values.
# the applets' links are made here, not in the image: faster to build
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "VTPM-DOMU: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
# tpm HEX: sends one command to /dev/tpm0, prints the response in hex.
tpm() {
  exec 3<>/dev/tpm0 || return 1
  printf "$(echo "$1" | sed 's/\(..\)/\\x\1/g')" >&3
  dd bs=4096 count=1 <&3 2>/dev/null | od -An -tx1 -v | tr -d ' \n'
  exec 3<&-
}
wait_tpm0() {
  i=0
  while [ ! -c /dev/tpm0 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  [ -c /dev/tpm0 ]
}
PCR=0000000a
DIGEST=$(cat /etc/extend-digest)
# load first|second: binds xen-tpmfront (loading the module, or binding the
# device again when an unload was refused) and reads PCR 10.
load() {
  t=$(up)
  if grep -q '^xen_tpmfront ' /proc/modules; then
    echo vtpm-0 >/sys/bus/xen/drivers/vtpm/bind
  else
    modprobe xen-tpmfront
  fi
  say "$1-attach rc=$? seconds=$(awk "BEGIN{print $(up)-$t}")"
  wait_tpm0 && say "$1-tpm0 present" || say "$1-tpm0 missing"
  say "$1-driver $(basename "$(readlink /sys/class/tpm/tpm0/device/driver)")"
  say "$1-version $(cat /sys/class/tpm/tpm0/tpm_version_major 2>/dev/null)"
  say "$1-startup $(tpm 00c10000000c000000990001)"
  say "$1-pcrread $(tpm 00c10000000e00000015$PCR)"
}

say "init uptime=$(up) kernel=$(uname -r)"
load first
say "getrandom $(tpm 00c10000000e0000004600000010)"
say "extend $(tpm 00c10000002200000014$PCR$DIGEST)"
say "pcrread-after-extend $(tpm 00c10000000e00000015$PCR)"
say "sysfs-pcr10 $(grep '^PCR-10:' /sys/class/tpm/tpm0/pcrs 2>/dev/null | tr -d ' ' | cut -d: -f2)"
# 5 round trips through the shell, the ring, dom0 and the vtpm
t=$(up)
for i in 1 2 3 4 5; do
  tpm 00c10000000e0000004600000010 >/dev/null
done
say "getrandom-x5 seconds=$(awk "BEGIN{print $(up)-$t}")"
# the frontend goes away: unload the module, or unbind the device if the
# module is held (the kernel's hwrng may hold it)
if rmmod xen_tpmfront 2>/tmp/rmmod.err; then
  how=rmmod
else
  say "rmmod refused: $(cat /tmp/rmmod.err)"
  echo vtpm-0 >/sys/bus/xen/drivers/vtpm/unbind && how=unbind || how=failed
fi
i=0
while [ -e /dev/tpm0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
say "detach how=$how tpm0=$([ -e /dev/tpm0 ] && echo present || echo gone)"
dmesg | grep -i -e tpm -e vtpm | tail -n 6 | sed "s/^/VTPM-DOMU: dmesg /"
load second
say "done uptime=$(up)"
while :; do sleep 60; done
