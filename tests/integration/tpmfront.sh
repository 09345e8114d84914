# SPDX-License-Identifier: BSD-3-Clause
# Shared by the tpmif scenarios (test_tpm2tools_tpmfront.sh,
# test_tpmif_*.sh): a vtpm serving the tpmif ring on a rendezvous socket in
# T_DIR, the client tools that reach it (tests/tools/tpmfront_probe over
# libtpmfront, tpm2-tools over the tpmfront TCTI), and the vtpm's open fds
# and ring mappings, which must fall back once a frontend is gone. Sourced
# after lib.sh.

TF_PROBE=${TF_PROBE:-${BUILD:-}/tpmfront_probe}
TF_SOCK="$T_DIR/tpmif.sock"
TF_LOG="$T_DIR/vtpm.log"
# The TCTI by file name, and by the short name tctildr turns into
# libtss2-tcti-tpmfront.so.0 (found through LD_LIBRARY_PATH).
TF_TCTI="$BUILD/libtss2-tcti-tpmfront.so.0:path=$TF_SOCK"
TF_TCTI_SHORT="tpmfront:path=$TF_SOCK"
mkdir -p "$T_DIR/state"

[ -x "$VTPM" ] || t_fail "vtpm not found at '$VTPM'"
[ -f "$BUILD/libtss2-tcti-tpmfront.so.0" ] || t_fail "no $BUILD/libtss2-tcti-tpmfront.so.0"

# tf_fail MSG: t_fail after the end of the vtpm's log.
tf_fail() {
  local f
  for f in "$T_DIR/bg.log" "$TF_LOG"; do
    [ -s "$f" ] && tail -n 15 "$f" | sed "s|^|  $(basename "$f"): |" >&2
  done
  t_fail "$@"
}

# tf_need_probe: the probe tool must be built.
tf_need_probe() {
  [ -x "$TF_PROBE" ] || t_fail "tpmfront_probe not found at '$TF_PROBE' (build it, or set TF_PROBE)"
}

# tf_need_tools: tpm2-tools, and in a sanitizer build a way to load the
# instrumented TCTI into them. Why: tctildr dlopens the TCTI into tpm2-tools,
# which is not instrumented, and an ASan-built library only loads once the
# ASan runtime is loaded first. The tools then run through wrappers in
# T_DIR/bin that preload it; our reports still go to ASAN_OPTIONS' log_path,
# but leak checking is off for the tools, whose own leaks are not ours
# (tpmfront_probe covers libtpmfront with leak checking on). With the ASan
# runtime preloaded, a tool whose tctildr had one dlopen fail hangs at exit
# (in p11-kit's destructor, any TCTI name, none of our code involved), and
# the short name "tpmfront" always costs one failed dlopen("tpmfront")
# first: there TF_TCTI_SHORT names the library by its soname instead, which
# still exercises the search through LD_LIBRARY_PATH.
tf_need_tools() {
  local lib=$BUILD/libtpmfront.so.0 rt t
  command -v tpm2_getrandom >/dev/null || t_skip "tpm2-tools are not installed"
  nm -D --undefined-only "$lib" 2>/dev/null | grep -q ' __asan_' || return 0
  rt=$(ldd "$lib" 2>/dev/null | awk '/libasan/ { print $3; exit }')
  [ -n "$rt" ] || rt=$(clang -print-file-name="libclang_rt.asan-$(uname -m).so" 2>/dev/null)
  [ -f "$rt" ] || t_fail "sanitizer build, but no ASan runtime to preload into tpm2-tools"
  mkdir -p "$T_DIR/bin"
  for t in "$(dirname "$(command -v tpm2_getrandom)")"/tpm2_*; do
    printf '#!/bin/sh\nLD_PRELOAD=%s ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" exec %s "$@"\n' \
      "$rt" "$t" >"$T_DIR/bin/$(basename "$t")"
    chmod +x "$T_DIR/bin/$(basename "$t")"
  done
  PATH="$T_DIR/bin:$PATH"
  TF_TCTI_SHORT="libtss2-tcti-tpmfront.so.0:path=$TF_SOCK"
}

# tf_start: vtpm serving TPM 2.0 on the tpmif ring only, Startup(CLEAR) done.
# TF_LOG_LEVEL=5 (debug) keeps every repeated warning, for tests that look
# for the same refusal case after case.
tf_start() {
  t_bg "$VTPM" serve --tpmstate dir="$T_DIR/state" --tpmif path="$TF_SOCK" \
    --flags not-need-init,startup-clear --log file="$TF_LOG"${TF_LOG_LEVEL:+,level=$TF_LOG_LEVEL}
  TF_PID=$T_LAST_PID
  t_wait_for t_unix_listening "$TF_SOCK"
}

# tf_restart: the same state directory in a new process.
tf_restart() {
  t_stop "$TF_PID" || { t_log "pid $TF_PID ignored SIGTERM"; return 1; }
  tf_start
}

# tf_alive: the vtpm we started still runs.
tf_alive() { kill -0 "$TF_PID" 2>/dev/null; }

# tf_fds: how many fds the vtpm holds open.
tf_fds() { find "/proc/$TF_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# tf_rings: how many mappings of a frontend's granted pages the vtpm holds.
tf_rings() { grep -c 'memfd:tpmif-ring' "/proc/$TF_PID/maps"; }

# tf_is_baseline FDS: the vtpm is back to FDS open fds and no ring mapped.
tf_is_baseline() { [ "$(tf_fds)" -eq "$1" ] && [ "$(tf_rings)" -eq 0 ]; }
