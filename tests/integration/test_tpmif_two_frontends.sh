#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two frontends on one vTPM, as a guest and a monitoring tool share it:
# tpmfront_probe opens two libtpmfront handles and keeps a command in
# flight on both at once, 400 times, receiving in alternating order, with
# a key generation on one while the other waits; each answer must be the
# one asked for on that ring. Then two such probes run at the same time
# (four frontends), and both must pass.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"

tf_need_probe
tf_start || tf_fail "$VTPM did not listen on $TF_SOCK"
"$TF_PROBE" two "$TF_SOCK" 400 >"$T_DIR/two.out" ||
  { cat "$T_DIR/two.out" >&2; tf_fail "tpmfront_probe two failed"; }
t_log "$(cat "$T_DIR/two.out")"

"$TF_PROBE" two "$TF_SOCK" 200 >"$T_DIR/two.1" 2>&1 &
p1=$!
"$TF_PROBE" two "$TF_SOCK" 200 >"$T_DIR/two.2" 2>&1 &
p2=$!
wait "$p1" || { cat "$T_DIR/two.1" >&2; tf_fail "first of two concurrent probes failed"; }
wait "$p2" || { cat "$T_DIR/two.2" >&2; tf_fail "second of two concurrent probes failed"; }
t_log "four frontends at once: $(cat "$T_DIR/two.1") / $(cat "$T_DIR/two.2")"
tf_alive || tf_fail "vtpm exited"
