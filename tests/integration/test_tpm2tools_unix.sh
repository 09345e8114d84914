#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tpm2-tools through the swtpm TCTI over Unix sockets: `$VTPM socket` with a
# unixio data socket and its control socket at the same path + ".ctrl",
# which is where tpm2-tss's swtpm TCTI (`swtpm:path=SOCK`) looks for it.
# Runs the shared scenario in tpm2_scenario.sh, restarting the daemon twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpm2_scenario.sh"

SOCK="$T_DIR/tpm.sock"
TS_DAEMON_LOG="$T_DIR/vtpm.log"
mkdir -p "$T_DIR/state"

start_tpm() {
  t_bg "$VTPM" socket --tpm2 --tpmstate dir="$T_DIR/state" \
    --server type=unixio,path="$SOCK" --ctrl type=unixio,path="$SOCK.ctrl" \
    --flags not-need-init,startup-clear \
    --pid file="$T_DIR/vtpm.pid" --log file="$TS_DAEMON_LOG"
  TPM_PID=$T_LAST_PID
  t_wait_for t_unix_listening "$SOCK" && t_wait_for t_unix_listening "$SOCK.ctrl"
}

restart_tpm() {
  t_stop "$TPM_PID" || { t_log "pid $TPM_PID ignored SIGTERM"; return 1; }
  start_tpm
}

start_tpm || ts_fail "$VTPM did not listen on $SOCK and $SOCK.ctrl"
# The pid file is written by the daemon itself; check it names our child.
[ "$(cat "$T_DIR/vtpm.pid" 2>/dev/null)" = "$TPM_PID" ] ||
  ts_fail "--pid file holds '$(cat "$T_DIR/vtpm.pid" 2>/dev/null)', want $TPM_PID"
ts_scenario "swtpm:path=$SOCK" restart_tpm
