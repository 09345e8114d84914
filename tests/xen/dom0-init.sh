#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# /init of the Xen test's dom0 (tests/integration/test_xen_guest.sh builds
# the initramfs). Brings up the toolstack, one TPM 1.2 vtpm and
# vtpm-xenback, creates the PV domU with vtpm=["backend=0,uuid=..."], waits
# for the domU's report, destroys the domU and checks that vtpm-xenback let
# go of the grant and the event channel; then a domU whose uuid names no
# running vTPM must fail to start. Everything the host checks is a
# "XEN-DOM0: " line on the console (the domU's own lines are passed on with
# their "VTPM-DOMU: " prefix); the host trusts none of it blindly.
# the applets' links are made here, not in the image: faster to build
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/usr/lib/xen-4.17/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/xen /run/xenstored /run/vtpm /var/lib/xen /var/lib/vtpm /var/log/xen/console /var/lock

UUID=$(cat /etc/vtpm-test-uuid)
GUEST_LOG=/var/log/xen/console/guest-domu.log
say() { echo "XEN-DOM0: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
finish() {
  say "end uptime=$(up)"
  sync
  poweroff -f
  sleep 600
}
# wait_for SECONDS CMD...: polls CMD once a second.
wait_for() {
  n=$1
  shift
  while [ "$n" -gt 0 ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
    n=$((n - 1))
  done
  return 1
}
# counts NAME PID: the grant mappings and event channel handles PID holds.
counts() {
  say "$1 gntdev-maps=$(grep -c /dev/xen/gntdev /proc/$2/maps) evtchn-fds=$(ls -l /proc/$2/fd | grep -c /dev/xen/evtchn)"
}

say "shell uptime=$(up) kernel=$(uname -r) hypervisor=$(cat /sys/hypervisor/type 2>/dev/null)"
for m in xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd; do modprobe $m || say "modprobe $m failed"; done
mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xenstored.pid
wait_for 30 xenstore-exists / || { say "xenstored did not come up"; finish; }
xen-init-dom0 >/dev/null
xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
say "toolstack uptime=$(up)"

# One TPM 1.2 vtpm (the version Linux' xen-tpmfront drives), not powered
# on: vtpm-xenback sends CMD_INIT when the ring connects.
mkdir -p /var/lib/vtpm/$UUID /run/vtpm/$UUID
vtpm socket --tpm1.2 --tpmstate dir=/var/lib/vtpm/$UUID \
  --server type=unixio,path=/run/vtpm/$UUID/data --ctrl type=unixio,path=/run/vtpm/$UUID/ctrl \
  --log file=/run/vtpm/vtpm.log &
wait_for 10 test -S /run/vtpm/$UUID/data || say "vtpm does not listen"
vtpm-xenback --dir /run/vtpm --pid /run/vtpm/xenback.pid >/run/vtpm/xenback.log 2>&1 &
XB=$!
wait_for 10 test -s /run/vtpm/xenback.pid || say "vtpm-xenback did not start"

# the domU's report, passed on as it comes (a run cut short shows how far it got)
tail -F $GUEST_LOG 2>/dev/null | grep -a 'VTPM-DOMU: ' &
TAIL=$!
t0=$(up)
xl create /etc/xen/domu.cfg >/tmp/xl-create.log 2>&1
rc=$?
say "xl-create rc=$rc seconds=$(awk "BEGIN{print $(up)-$t0}")"
[ $rc = 0 ] || sed 's/^/XEN-DOM0: xl: /' /tmp/xl-create.log
DOMID=$(xl domid domu 2>/dev/null)
say "domid=$DOMID"
xl vtpm-list domu 2>&1 | sed 's/^/XEN-DOM0: vtpm-list: /'
BE=/local/domain/0/backend/vtpm/$DOMID/0

wait_for 240 grep -q 'VTPM-DOMU: done' $GUEST_LOG || say "domU report incomplete"
say "domu-done uptime=$(up) after-create=$(awk "BEGIN{print $(up)-$t0}")"
say "states backend=$(xenstore-read $BE/state 2>/dev/null) frontend=$(xenstore-read /local/domain/$DOMID/device/vtpm/0/state 2>/dev/null)"
counts connected $XB

xl destroy domu
say "xl-destroy rc=$?"
wait_for 20 sh -c "! xenstore-exists $BE"
say "backend-dir-after-destroy $(xenstore-exists $BE && echo present || echo gone)"
counts destroyed $XB

# a device naming a vTPM that does not run is refused: xl create fails
sed -e 's/^name .*/name = "refused"/' -e "s/uuid=$UUID/uuid=00000000-0000-4000-8000-000000000000/" \
  /etc/xen/domu.cfg >/etc/xen/refused.cfg
t0=$(up)
xl create /etc/xen/refused.cfg >/tmp/xl-refused.log 2>&1
say "refused-create rc=$? seconds=$(awk "BEGIN{print $(up)-$t0}")"
say "refused-left $(xl list | grep -c refused)"
say "xenback-alive $(kill -0 $XB 2>/dev/null && echo yes || echo no)"

kill $TAIL
sed 's/^/XEN-DOM0: xenback-log: /' /run/vtpm/xenback.log
sed 's/^/XEN-DOM0: vtpm-log: /' /run/vtpm/vtpm.log
finish
