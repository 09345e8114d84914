#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Debian packaging: `dpkg-buildpackage -us -uc -b` in a copy of the tree
# (the checkout's own build directories are never touched) builds the four
# binary packages, and each carries the files it should: the programs, unit,
# man pages and example config in vtpm; the library, its development files
# and the TCTI in the multiarch library directory, the TCTI with no RUNPATH.
# Independent of BUILD: the package build compiles its own copy.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
for tool in dpkg-buildpackage dh dpkg-architecture; do
  command -v $tool >/dev/null || t_skip "$tool is not installed (scripts/install-deps.sh installs it)"
done
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
version=$(sed -n '1s/^vtpm (\([^)]*\)).*/\1/p' "$top/debian/changelog")
[ -n "$version" ] || t_fail "no version in debian/changelog"

# The tree as git sees it (tracked and new files, not ignored ones), else all
# of it but the build directories.
src=$T_DIR/pkg/vtpm
mkdir -p "$src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$top" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$src" -xf -
else
  tar -C "$top" --exclude='./build*' -cf - . | tar -C "$src" -xf -
fi || t_fail "cannot copy the tree"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b) \
  >"$T_DIR/build.log" 2>&1 ||
  { tail -n 40 "$T_DIR/build.log" >&2; t_fail "dpkg-buildpackage -us -uc -b failed"; }

# has DEB FILE...: `dpkg-deb -c DEB` lists every FILE.
has() {
  local deb=$T_DIR/pkg/$1_${version}_$arch.deb f; shift
  [ -f "$deb" ] || t_fail "no $(basename "$deb")"
  dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T_DIR/list"
  for f in "$@"; do
    grep -qxF "$f" "$T_DIR/list" || t_fail "$(basename "$deb") lacks $f"
  done
}
has vtpm /usr/sbin/vtpm /usr/sbin/vtpmmgr /usr/bin/vtpmctl /lib/systemd/system/vtpmmgr.service \
  /usr/share/man/man8/vtpm.8.gz /usr/share/man/man8/vtpmmgr.8.gz /usr/share/man/man1/vtpmctl.1.gz \
  /usr/share/man/man5/vtpmmgr.conf.5.gz /etc/vtpm/vtpmmgr.conf.example
has libtpmfront0 /usr/lib/$ma/libtpmfront.so.0
has libtpmfront-dev /usr/lib/$ma/libtpmfront.so /usr/include/tpmfront.h /usr/lib/$ma/pkgconfig/libtpmfront.pc
has libtss2-tcti-tpmfront0 /usr/lib/$ma/libtss2-tcti-tpmfront.so.0

# The example config is a conffile; the unit is neither enabled nor started.
dpkg-deb -e "$T_DIR/pkg/vtpm_${version}_$arch.deb" "$T_DIR/ctl"
grep -qx /etc/vtpm/vtpmmgr.conf.example "$T_DIR/ctl/conffiles" || t_fail "the example config is not a conffile"
# (dh_installsystemd --no-enable re-enables only a unit the admin had enabled
# and the package had installed before: its guard is "debian-installed")
grep -q "deb-systemd-helper debian-installed 'vtpmmgr.service'" "$T_DIR/ctl/postinst" ||
  t_fail "the vtpm package enables vtpmmgr.service on install"
! grep -q 'deb-systemd-invoke' "$T_DIR/ctl/postinst" ||
  t_fail "the vtpm package starts or restarts vtpmmgr.service"
# The installed files are the Debian layout's: the unit runs /usr/sbin/vtpmmgr
# with /etc/vtpm; the TCTI finds libtpmfront in the system libdir; the .pc
# names it; the TCTI depends on libtpmfront0.
dpkg-deb -x "$T_DIR/pkg/vtpm_${version}_$arch.deb" "$T_DIR/x"
dpkg-deb -x "$T_DIR/pkg/libtss2-tcti-tpmfront0_${version}_$arch.deb" "$T_DIR/x"
dpkg-deb -x "$T_DIR/pkg/libtpmfront-dev_${version}_$arch.deb" "$T_DIR/x"
grep -qx 'ExecStart=/usr/sbin/vtpmmgr --config /etc/vtpm/vtpmmgr.conf .*' \
  "$T_DIR/x/lib/systemd/system/vtpmmgr.service" || t_fail "the unit's ExecStart is not Debian's layout"
! readelf -d "$T_DIR/x/usr/lib/$ma/libtss2-tcti-tpmfront.so.0" | grep -q RUNPATH ||
  t_fail "the packaged TCTI carries a RUNPATH"
grep -qx "libdir=/usr/lib/$ma" "$T_DIR/x/usr/lib/$ma/pkgconfig/libtpmfront.pc" ||
  t_fail "libtpmfront.pc does not name /usr/lib/$ma"
dpkg-deb -f "$T_DIR/pkg/libtss2-tcti-tpmfront0_${version}_$arch.deb" Depends | grep -q 'libtpmfront0' ||
  t_fail "libtss2-tcti-tpmfront0 does not depend on libtpmfront0"
t_log "built $(cd "$T_DIR/pkg" && ls ./*.deb | wc -l) packages (with -dbgsym)"
