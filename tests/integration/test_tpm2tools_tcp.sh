#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tpm2-tools through the swtpm TCTI over TCP: `$VTPM socket` with the data
# port P and the control port P+1 on loopback, the layout tpm2-tss's swtpm
# TCTI (`swtpm:host=H,port=P`) assumes. Runs the shared scenario in
# tpm2_scenario.sh, restarting the daemon twice on the same ports.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpm2_scenario.sh"

PORT=$(t_free_ports 2) || t_fail "no two free consecutive ports"
TS_DAEMON_LOG="$T_DIR/vtpm.log"
mkdir -p "$T_DIR/state"

start_tpm() {
  t_bg "$VTPM" socket --tpm2 --tpmstate dir="$T_DIR/state" \
    --server type=tcp,port="$PORT" --ctrl type=tcp,port=$((PORT + 1)) \
    --flags not-need-init,startup-clear \
    --pid file="$T_DIR/vtpm.pid" --log file="$TS_DAEMON_LOG"
  TPM_PID=$T_LAST_PID
  t_wait_for t_listening "$PORT" && t_wait_for t_listening $((PORT + 1))
}

restart_tpm() {
  t_stop "$TPM_PID" || { t_log "pid $TPM_PID ignored SIGTERM"; return 1; }
  start_tpm
}

start_tpm || ts_fail "$VTPM did not listen on ports $PORT and $((PORT + 1))"
ts_scenario "swtpm:host=127.0.0.1,port=$PORT" restart_tpm
