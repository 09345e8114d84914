#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# tpm2-tools through the mssim TCTI: `$VTPM socket --mssim port=P` opens the
# Microsoft simulator's TPM command port P and platform port P+1 on loopback,
# which tpm2-tss's mssim TCTI (`mssim:host=H,port=P`) drives: POWER_ON and
# NV_ON on the platform port at every tool start, commands framed as
# u32 8 | u8 locality | u32 size | command. Runs the shared scenario in
# tpm2_scenario.sh, restarting the daemon twice on the same ports.
#
# swtpm has no platform port (its control channel misreads the platform
# codes), so this scenario is skipped unless the binary says it has one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpm2_scenario.sh"

# libvirt asks `swtpm socket --print-capabilities`; also accept the
# top-level form. The feature list is JSON: match the quoted name.
caps=$({ "$VTPM" socket --tpm2 --print-capabilities || "$VTPM" --print-capabilities; } 2>/dev/null)
grep -q '"mssim"' <<<"$caps" ||
  t_skip "$VTPM lists no \"mssim\" feature in --print-capabilities (swtpm has no mssim platform port)"

PORT=$(t_free_ports 2) || t_fail "no two free consecutive ports"
TS_DAEMON_LOG="$T_DIR/vtpm.log"
mkdir -p "$T_DIR/state"

start_tpm() {
  t_bg "$VTPM" socket --tpm2 --tpmstate dir="$T_DIR/state" --mssim port="$PORT" \
    --flags not-need-init,startup-clear \
    --pid file="$T_DIR/vtpm.pid" --log file="$TS_DAEMON_LOG"
  TPM_PID=$T_LAST_PID
  t_wait_for t_listening "$PORT" && t_wait_for t_listening $((PORT + 1))
}

restart_tpm() {
  t_stop "$TPM_PID" || { t_log "pid $TPM_PID ignored SIGTERM"; return 1; }
  start_tpm
}

start_tpm || ts_fail "$VTPM did not listen on mssim ports $PORT and $((PORT + 1))"
ts_scenario "mssim:host=127.0.0.1,port=$PORT" restart_tpm
