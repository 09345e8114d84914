#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make install` and `make uninstall` into a DESTDIR, twice:
#  - PREFIX=/usr/local (the default): exactly the expected files, a
#    libtpmfront.pc that names the real prefix, `pkg-config --cflags --libs
#    libtpmfront` through PKG_CONFIG_SYSROOT_DIR, and a tiny client built
#    with those flags that gets random bytes from a vtpm over the ring;
#  - PREFIX=/usr with Debian's multiarch LIBDIR: inside a private mount
#    namespace the staged library directory is overlaid on the system's (the
#    real system and parallel tests never see it), and tpm2-tools finds
#    `-T tpmfront:` with no LD_LIBRARY_PATH, as on a host that installed it.
# After each, `make uninstall` with the same settings leaves no file behind.
# Runs as root (a mount namespace); installs from BUILD, which must be built.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
ma_libdir=$(pkg-config --variable=libdir tss2-tctildr 2>/dev/null) ||
  t_skip "no pkg-config file for tss2-tctildr (libtss2-dev)"
# A sanitizer build is installed as it was built (the relinked TCTI too),
# and so is the client: their code needs the ASan runtime.
mk=(make -s -C "$top" BUILD="$BUILD")
client_cc=(cc)
if nm -D --undefined-only "$BUILD/libtpmfront.so.0" 2>/dev/null | grep -q ' __asan_'; then
  mk+=(CC=clang SAN=1)
  client_cc=(clang -fsanitize=address,undefined)
fi

# in_tree ROOT: every file and symlink below ROOT, relative, sorted.
in_tree() { (cd "$1" && find . -not -type d | sed 's|^\./||' | sort); }

# check_tree ROOT EXPECTED...: ROOT holds exactly the EXPECTED files.
check_tree() {
  local root=$1; shift
  diff <(printf '%s\n' "$@" | sort) <(in_tree "$root") >&2 ||
    t_fail "installed tree under $root differs from the expected one (< expected, > found)"
}

# runpath FILE: the DT_RUNPATH of FILE, empty if none.
runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }

# uninstall_empty ROOT ARGS...: make uninstall with ARGS leaves no file.
uninstall_empty() {
  local root=$1; shift
  "${mk[@]}" uninstall DESTDIR="$root" "$@" >"$T_DIR/uninstall.log" 2>&1 ||
    { cat "$T_DIR/uninstall.log" >&2; t_fail "make uninstall $* failed"; }
  [ -z "$(in_tree "$root")" ] || t_fail "make uninstall $* left: $(in_tree "$root" | tr '\n' ' ')"
}

man_files=(share/man/man1/vtpmctl.1 share/man/man5/vtpmmgr.conf.5 share/man/man8/vtpm.8
  share/man/man8/vtpmmgr.8)

# ---- the default prefix, /usr/local
root=$T_DIR/local
"${mk[@]}" install DESTDIR="$root" >"$T_DIR/install.log" 2>&1 ||
  { cat "$T_DIR/install.log" >&2; t_fail "make install DESTDIR=$root failed"; }
u=usr/local
check_tree "$root" $u/sbin/vtpm $u/sbin/vtpmmgr $u/bin/vtpmctl $u/lib/libtpmfront.so.0 \
  $u/lib/libtpmfront.so $u/lib/libtss2-tcti-tpmfront.so.0 $u/lib/pkgconfig/libtpmfront.pc \
  $u/include/tpmfront.h "${man_files[@]/#/$u/}" $u/lib/systemd/system/vtpmmgr.service \
  $u/etc/vtpm/vtpmmgr.conf.example
[ "$(readlink "$root/$u/lib/libtpmfront.so")" = libtpmfront.so.0 ] ||
  t_fail "libtpmfront.so does not point at libtpmfront.so.0"
grep -qx "ExecStart=/$u/sbin/vtpmmgr --config /$u/etc/vtpm/vtpmmgr.conf .*" \
  "$root/$u/lib/systemd/system/vtpmmgr.service" || t_fail "the unit does not run /$u/sbin/vtpmmgr with /$u/etc/vtpm"
[ "$(runpath "$root/$u/lib/libtss2-tcti-tpmfront.so.0")" = '$ORIGIN' ] ||
  t_fail "the TCTI beside libtpmfront in /$u/lib should find it through \$ORIGIN"

flags=$(PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/$u/lib/pkgconfig \
  pkg-config --cflags --libs libtpmfront) || t_fail "pkg-config --cflags --libs libtpmfront failed"
[ "$(echo $flags)" = "-I$root/$u/include -L$root/$u/lib -ltpmfront" ] || t_fail "pkg-config says '$flags'"
cat >"$T_DIR/client.c" <<'EOF'
/* Asks the vtpm at argv[1] for 8 random bytes through the installed libtpmfront. */
#include <stdio.h>
#include <tpmfront.h>
int main(int argc, char **argv)
{
	static const unsigned char getrandom[] = { 0x80, 0x01, 0, 0, 0, 0x0c,
		0, 0, 0x01, 0x7b, 0, 8 };
	unsigned char rsp[64];
	size_t len;
	struct tpmfront *tf = argc > 1 ? tpmfront_open(argv[1]) : NULL;
	if (!tf || tpmfront_transmit(tf, getrandom, sizeof(getrandom), rsp, sizeof(rsp), &len) < 0)
		return 1;
	tpmfront_close(tf);
	printf("%zu %02x%02x%02x%02x\n", len, rsp[6], rsp[7], rsp[8], rsp[9]);
	return 0;
}
EOF
# shellcheck disable=SC2086 # the flags are words
"${client_cc[@]}" -Wall -Werror "$T_DIR/client.c" $flags -o "$T_DIR/client" ||
  t_fail "a client does not build with pkg-config's flags"
VTPM=$root/$u/sbin/vtpm	# the installed copy serves the rest of the test
tf_start || tf_fail "vtpm did not listen on $TF_SOCK"
out=$(LD_LIBRARY_PATH=$root/$u/lib "$T_DIR/client" "$TF_SOCK") || tf_fail "the client's GetRandom failed"
# 10-byte header + 2-byte size + 8 bytes; rc (bytes 6..9) 0
[ "$out" = "20 00000000" ] || tf_fail "the client got '$out', not 20 bytes with rc 0"
uninstall_empty "$root"

# ---- the system prefix: tpm2-tools find the TCTI by its short name
[ "$(id -u)" -eq 0 ] || t_skip "the system-prefix check needs root (a private mount namespace)"
command -v unshare >/dev/null || t_skip "no unshare (util-linux)"
root=$T_DIR/sys
sys_args=(PREFIX=/usr LIBDIR="$ma_libdir")
"${mk[@]}" install DESTDIR="$root" "${sys_args[@]}" >"$T_DIR/install.log" 2>&1 ||
  { cat "$T_DIR/install.log" >&2; t_fail "make install PREFIX=/usr failed"; }
l=${ma_libdir#/}
check_tree "$root" usr/sbin/vtpm usr/sbin/vtpmmgr usr/bin/vtpmctl $l/libtpmfront.so.0 \
  $l/libtpmfront.so $l/libtss2-tcti-tpmfront.so.0 $l/pkgconfig/libtpmfront.pc \
  usr/include/tpmfront.h "${man_files[@]/#/usr/}" lib/systemd/system/vtpmmgr.service \
  etc/vtpm/vtpmmgr.conf.example
grep -qx "libdir=$ma_libdir" "$root/$l/pkgconfig/libtpmfront.pc" || t_fail "libtpmfront.pc does not name $ma_libdir"
grep -qx 'ExecStart=/usr/sbin/vtpmmgr --config /etc/vtpm/vtpmmgr.conf .*' \
  "$root/lib/systemd/system/vtpmmgr.service" || t_fail "the unit does not run /usr/sbin/vtpmmgr with /etc/vtpm"
[ -z "$(runpath "$root/$l/libtss2-tcti-tpmfront.so.0")" ] ||
  t_fail "the TCTI in the system libdir carries a RUNPATH: $(runpath "$root/$l/libtss2-tcti-tpmfront.so.0")"

tf_need_tools	# in a sanitizer build: tools preloading ASan, the TCTI by soname
tcti=$TF_TCTI_SHORT
# The overlay shows the staged files above the system's, in this namespace only.
out=$(env -u LD_LIBRARY_PATH unshare --mount -- sh -c '
  mount -t overlay overlay -o lowerdir="$1":"$2" "$2" || exit 90
  exec tpm2_getrandom -T "$3" 16 --hex' sh "$root/$l" "$ma_libdir" "$tcti" 2>"$T_DIR/tools.log")
rc=$?
[ $rc -ne 90 ] || t_skip "cannot mount an overlay in a private mount namespace: $(cat "$T_DIR/tools.log")"
[ $rc -eq 0 ] || { cat "$T_DIR/tools.log" >&2; tf_fail "tpm2_getrandom -T $tcti failed (rc $rc)"; }
[[ $out =~ ^[0-9a-f]{32}$ ]] || tf_fail "tpm2_getrandom printed '$out'"
uninstall_empty "$root" "${sys_args[@]}"
tf_alive || tf_fail "vtpm (pid $TF_PID) exited"
