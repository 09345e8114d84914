#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Xen for real: boots Xen 4.17 (Debian's hypervisor) under QEMU TCG with the
# host's Debian kernel as PV dom0, runs vtpm-xenback and a TPM 1.2 vtpm in
# dom0, and `xl create`s a PV domU with vtpm=["backend=0,uuid=..."]. In the
# domU the distribution's unmodified xen-tpmfront binds, /dev/tpm0 appears,
# and raw TPM 1.2 commands run: GetRandom, Extend and PcrRead of PCR 10 (and
# the kernel's sysfs pcrs); the frontend leaves (rmmod, or unbind when the
# kernel holds the module) and comes back on a new ring, with PCR 10 reset.
# `xl destroy` must leave vtpm-xenback with no grant mapping and no event
# channel; a domU whose uuid names no running vTPM must fail to start. One
# boot runs every check (tests/xen/dom0-init.sh and
# domu-init.sh); what the guests print is checked here.
#
# The Xen packages are not installed on the host (xen-hypervisor would make
# the host's bootloader boot Xen): apt-get download fetches the .debs, kept
# in VTPM_XEN_DEBS (default ~/.cache/vtpm/xen-debs), and dpkg-deb -x
# unpacks them into the test's directory. Skips, saying why, without QEMU,
# the kernel and its modules, busybox-static, the packages, or a
# vtpm-xenback (built only with libxen-dev), and when Xen does not bring
# dom0's toolstack up in time; once it has, anything unfinished fails.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/guest.sh
. "$(dirname "$0")/guest.sh"

: "${VTPM:?VTPM must name the binary under test}"
XENBACK=${BUILD:-}/vtpm-xenback
XEN_DIR=$(cd "$(dirname "$0")/../xen" && pwd)
XEN_PKGS=(xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils)
DEBS=${VTPM_XEN_DEBS:-${XDG_CACHE_HOME:-$HOME/.cache}/vtpm/xen-debs}
# TCG under load: dom0 needs ~15 s, the domU ~30 s more, the checks ~30 s.
# Seconds from the test's start to the end of the boot: below tests/run.sh's
# 10 minutes. An idle 2-core machine needs about 3; one loaded 30 deep, 10.
BUDGET=${VTPM_XEN_BUDGET:-540}
UUID=5a4f0e6c-3b1d-4e8a-9c2f-7d6e5b4a3c21
PCR10_DIGEST=$(printf 'vtpm xen extend' | sha1sum | cut -c1-40)
ZERO40=$(printf '%040d' 0)
PCR10_WANT=$(printf '%s%s' "$ZERO40" "$PCR10_DIGEST" | xxd -r -p | sha1sum | cut -c1-40)

# fetch_debs: the Xen .debs into $DEBS (once), unpacked into $STAGE.
fetch_debs() {
  local p dl="$T_DIR/dl"
  for p in "${XEN_PKGS[@]}"; do
    ls "$DEBS/${p}_"*.deb >/dev/null 2>&1 && continue
    mkdir -p "$dl" "$DEBS" || return 1
    (cd "$dl" && apt-get download "$p" >/dev/null 2>&1) || return 1
    mv "$dl/${p}_"*.deb "$DEBS/" || return 1
  done
  mkdir -p "$STAGE"
  for p in "${XEN_PKGS[@]}"; do
    dpkg-deb -x "$(ls "$DEBS/${p}_"*.deb | tail -n 1)" "$STAGE" || return 1
  done
}

# add_busybox ROOT: busybox as /bin/sh; the /init scripts link the other
# applets at boot (hundreds of ln here cost minutes on a loaded machine).
add_busybox() {
  mkdir -p "$1"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,root,lib/modules/$KV}
  cp /bin/busybox "$1/bin/busybox"
  ln -s busybox "$1/bin/sh"
}

# add_modules ROOT MODULE...: the modules, their dependencies, depmod.
add_modules() {
  local root=$1 m f
  shift
  for m in "$@"; do
    for f in $(modprobe -S "$KV" --show-depends "$m" | awk '$1 == "insmod" {print $2}'); do
      mkdir -p "$root/$(dirname "$f")"
      cp "$f" "$root/$f"
    done
  done
  cp /lib/modules/"$KV"/modules.{order,builtin,builtin.modinfo} "$root/lib/modules/$KV/"
  depmod -b "$root" "$KV"
}

# add_libs ROOT ELF...: the shared libraries the ELF files need, from the
# unpacked packages first, then the host.
add_libs() {
  local root=$1 f l dst
  shift
  for f in "$@"; do
    LD_LIBRARY_PATH=$STAGE/usr/lib/x86_64-linux-gnu ldd "$f" 2>/dev/null |
      awk '/=>/ {print $3} /^[ \t]*\/lib64/ {print $1}'
  done | sort -u | while read -r l; do
    [ -f "$l" ] || continue
    case $l in
      "$STAGE"/*) dst=${l#"$STAGE"} ;;
      */ld-linux-x86-64.so.2) dst=/lib64/ld-linux-x86-64.so.2 ;;
      *) dst=/lib/x86_64-linux-gnu/$(basename "$l") ;;
    esac
    mkdir -p "$root/$(dirname "$dst")"
    [ -e "$root/$dst" ] || cp -L "$l" "$root/$dst"
  done
}

build_domu() {
  local root="$T_DIR/domu-root"
  add_busybox "$root"
  add_modules "$root" xen-tpmfront
  cp "$XEN_DIR/domu-init.sh" "$root/init"
  echo "$PCR10_DIGEST" >"$root/etc/extend-digest"
  mk_cpio "$root" "$T_DIR/domu-initrd.gz"
}

build_dom0() {
  local root="$T_DIR/dom0-root" s=$STAGE
  add_busybox "$root"
  mkdir -p "$root"/usr/lib/xen-4.17 "$root"/usr/lib/x86_64-linux-gnu "$root"/lib/x86_64-linux-gnu \
    "$root"/etc/xen "$root"/var/lib/xen "$root"/var/log/xen/console "$root"/boot "$root"/lib64
  cp -a "$s/usr/lib/xen-4.17/bin" "$root/usr/lib/xen-4.17/"
  cp -a "$s"/usr/bin/xenstore* "$root/usr/bin/"
  : >"$root/etc/xen/xl.conf"	# xl's defaults (xen-utils-common is not fetched)
  cp "$VTPM" "$XENBACK" "$root/usr/sbin/"
  # glibc dlopen()s libgcc_s for pthread_cancel; without it xl aborts (rc 134)
  cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$root/lib/x86_64-linux-gnu/"
  add_libs "$root" $(find "$root/usr/lib/xen-4.17/bin" "$root/usr/bin" "$root/usr/sbin" -type f)
  add_libs "$root" $(find "$root/usr/lib/x86_64-linux-gnu" "$root/lib/x86_64-linux-gnu" -name '*.so*' -type f)
  add_modules "$root" xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd
  ln -sfn /run "$root/var/run"
  cp "$KERNEL" "$root/boot/vmlinuz-domu"
  cp "$T_DIR/domu-initrd.gz" "$root/boot/domu-initrd.gz"
  sed "s/@UUID@/$UUID/" "$XEN_DIR/domu.cfg" >"$root/etc/xen/domu.cfg"
  echo "$UUID" >"$root/etc/vtpm-test-uuid"
  cp "$XEN_DIR/dom0-init.sh" "$root/init"
  mk_cpio "$root" "$T_DIR/dom0-initrd.gz"
}

# boot: Xen by QEMU's multiboot loader (the gunzipped ELF), dom0 kernel and
# initramfs as modules. -cpu qemu64: with -cpu max, TCG's SMAP crashes a
# 64-bit PV dom0 at its first instructions. Ends when dom0 says "end",
# Xen or dom0 dies, or the budget is spent (TIMED_OUT=1); QEMU is killed by
# its pid.
boot() {
  local xenargs="console=com1 com1=115200,8n1 dom0_mem=640M,max:640M dom0_max_vcpus=2 noreboot"
  local pid
  "$QEMU" -accel tcg -machine q35 -cpu qemu64 -smp 2 -m 1536 \
    -display none -monitor none -serial "file:$SERIAL" -no-reboot -nic none \
    -kernel "$T_DIR/xen" -append "$xenargs" \
    -initrd "$KERNEL console=hvc0 earlyprintk=xen loglevel=4,$T_DIR/dom0-initrd.gz" \
    </dev/null >"$T_DIR/qemu.out" 2>&1 &
  pid=$!
  T_PIDS+=("$pid")
  while :; do
    [ "$(now_ms)" -lt "$DEADLINE_MS" ] || { TIMED_OUT=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    grep -qa -e 'XEN-DOM0: end' -e 'Panic on CPU' -e 'Dom0 crashed' -e 'Kernel panic' "$SERIAL" 2>/dev/null && break
    [ -z "$DOM0_UP_MS" ] && grep -qa 'XEN-DOM0: shell' "$SERIAL" 2>/dev/null && DOM0_UP_MS=$(now_ms)
    sleep 0.5
  done
  sleep 1
  t_stop "$pid"
}

# dom0 KEY / domu KEY: the value after "XEN-DOM0: KEY " or "VTPM-DOMU: KEY ".
dom0() { tr -d '\r' <"$SERIAL" | sed -n "s|.*XEN-DOM0: $1 ||p" | head -n 1; }
domu() { tr -d '\r' <"$SERIAL" | sed -n "s|.*VTPM-DOMU: $1 ||p" | head -n 1; }

# expect WHAT GOT REGEX: fails unless GOT matches the whole of REGEX. A
# value missing because the budget ran out skips, naming the last report.
expect() {
  [ -z "$2" ] && [ -n "$TIMED_OUT" ] &&
    t_skip "out of time: TCG did not finish in ${BUDGET}s (load $(cut -d' ' -f1 /proc/loadavg)); last report: $(tr -d '\r' <"$SERIAL" | grep -a -e XEN-DOM0: -e VTPM-DOMU: | tail -n 1)"
  [[ $2 =~ ^$3$ ]] || { tr -d '\r' <"$SERIAL" | grep -a -e XEN-DOM0 -e VTPM-DOMU -e '(XEN)' |
    tail -n 60 | sed 's/^/    serial: /' >&2; t_fail "$1: got '$2', want /$3/"; }
}

check_domu() {
  local r="00c40000001e00000000" n
  for n in first second; do
    expect "$n bind of xen-tpmfront" "$(domu "$n-attach")" 'rc=0 seconds=[0-9.]+'
    expect "$n /dev/tpm0" "$(domu "$n-tpm0")" present
    expect "$n driver" "$(domu "$n-driver")" vtpm
    # Startup(ST_CLEAR): done, or done already by the kernel (TPM_INVALID_POSTINIT)
    expect "$n TPM_Startup" "$(domu "$n-startup")" '00c40000000a000000(00|26)'
    expect "$n PCR 10 is reset" "$(domu "$n-pcrread")" "$r$ZERO40"
  done
  expect "GetRandom(16)" "$(domu getrandom)" '00c40000001e0000000000000010[0-9a-f]{32}'
  expect "Extend PCR 10" "$(domu extend)" "$r$PCR10_WANT"
  expect "PcrRead PCR 10" "$(domu pcrread-after-extend)" "$r$PCR10_WANT"
  expect "sysfs pcrs PCR-10" "$(domu sysfs-pcr10 | tr 'A-F' 'a-f')" "$PCR10_WANT"
  expect "unload or unbind of xen-tpmfront" "$(domu detach)" 'how=(rmmod|unbind) tpm0=gone'
}

check_dom0() {
  expect "xl create" "$(dom0 xl-create)" 'rc=0 seconds=[0-9.]+'
  expect "states after the domU's checks" "$(dom0 states)" 'backend=4 frontend=4'
  expect "vtpm-xenback holds the ring" "$(dom0 connected)" 'gntdev-maps=[1-9][0-9]* evtchn-fds=[1-9][0-9]*'
  expect "xl destroy" "$(dom0 xl-destroy)" 'rc=0'
  expect "backend directory after destroy" "$(dom0 backend-dir-after-destroy)" gone
  expect "vtpm-xenback after destroy" "$(dom0 destroyed)" 'gntdev-maps=0 evtchn-fds=0'
  expect "xl create with an unknown uuid" "$(dom0 refused-create)" 'rc=[1-9][0-9]* seconds=[0-9.]+'
  expect "domains left by the refused create" "$(dom0 refused-left)" 0
  expect "vtpm-xenback's reason" \
    "$(tr -d '\r' <"$SERIAL" | grep -ao 'vtpm 0 refused: no vTPM with this uuid is running' | head -n 1)" \
    'vtpm 0 refused: no vTPM with this uuid is running'
  expect "vtpm-xenback survives" "$(dom0 xenback-alive)" yes
}

guest_prereqs
[ -x "$XENBACK" ] || t_skip "no $XENBACK (built only when libxen-dev is installed)"
KV=${KERNEL#/boot/vmlinuz-}
[ -d "/lib/modules/$KV" ] || t_skip "no modules for $KV in /lib/modules"
for c in apt-get dpkg-deb modprobe depmod xxd; do
  command -v "$c" >/dev/null || t_skip "$c not installed"
done
STAGE="$T_DIR/stage"
SERIAL="$T_DIR/serial.log"
DOM0_UP_MS= TIMED_OUT=
t0=$(now_ms)
DEADLINE_MS=$((t0 + BUDGET * 1000))
fetch_debs || t_skip "cannot fetch or unpack ${XEN_PKGS[*]} with apt-get download"
zcat "$STAGE"/boot/xen-4.17-amd64.gz >"$T_DIR/xen" || t_skip "no Xen image in the package"
build_domu || t_fail "building the domU initramfs failed"
build_dom0 || t_fail "building the dom0 initramfs failed"
t1=$(now_ms)
t_log "images built in $((t1 - t0)) ms"
boot
t2=$(now_ms)
grep -qa 'XEN-DOM0: toolstack' "$SERIAL" ||
  t_skip "Xen did not bring dom0's toolstack up here in ${BUDGET}s under TCG$(grep -a -m1 -e Panic -e crashed "$SERIAL" | sed 's/^/: /')"
grep -qa 'XEN-DOM0: end' "$SERIAL" || [ -n "$TIMED_OUT" ] || {
  tr -d '\r' <"$SERIAL" | tail -n 80 | sed 's/^/    serial: /' >&2
  t_fail "dom0 stopped before the end of its checks"
}
check_domu
check_dom0
t_log "xen-tpmfront drives TPM version '$(domu first-version)' (sysfs tpm_version_major)"
t_log "dom0 shell $((${DOM0_UP_MS:-$t2} - t1)) ms after QEMU start; whole boot $((t2 - t1)) ms; test $((t2 - t0)) ms"
t_log "domU: $(domu getrandom-x5) for 5 GetRandom round trips (shell included);" \
  "xl create $(dom0 xl-create); domU done $(dom0 domu-done)"
