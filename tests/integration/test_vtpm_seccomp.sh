#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A standalone vtpm (no manager) confines itself with the allow-list a
# managed vtpm gets (issue 14, Low), once its listeners are open: /proc
# shows a seccomp filter (Seccomp: 2) and no new privileges, and tpm2-tools
# still work through it (NV, keys, restart; the other tpm2tools scenarios
# run under it too). swtpm's --seccomp option tunes it: action=log keeps
# the filter, action=none installs none (Seccomp: 0), anything else is
# refused. It is not dumpable either: its memory holds the TPM's secrets.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpm2_scenario.sh"

SOCK="$T_DIR/tpm.sock"
TS_DAEMON_LOG="$T_DIR/vtpm.log"
mkdir -p "$T_DIR/state"

field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# start_tpm [--seccomp ARG]: a standalone vtpm on a Unix socket pair.
start_tpm() {
  t_bg "$VTPM" serve --tpmstate dir="$T_DIR/state" \
    --server type=unixio,path="$SOCK" --ctrl type=unixio,path="$SOCK.ctrl" \
    --flags not-need-init,startup-clear --pid file="$T_DIR/vtpm.pid" \
    --log file="$TS_DAEMON_LOG" "$@"
  TPM_PID=$T_LAST_PID
  t_wait_for t_unix_listening "$SOCK.ctrl" && t_wait_for test -s "$T_DIR/vtpm.pid" ||
    ts_fail "vtpm $* did not start"
}
stop_tpm() { t_stop "$TPM_PID" || ts_fail "vtpm ignored SIGTERM"; wait "$TPM_PID"; }

t_log "default: the allow-list"
start_tpm
[ "$(field "$TPM_PID" Seccomp)" = 2 ] || ts_fail "standalone vtpm has Seccomp $(field "$TPM_PID" Seccomp), want 2"
[ "$(field "$TPM_PID" NoNewPrivs)" = 1 ] || ts_fail "standalone vtpm has NoNewPrivs $(field "$TPM_PID" NoNewPrivs)"
TS_TCTI="swtpm:path=$SOCK"
ts_getrandom
ts_nv_define_write "$TS_NV_INDEX" 24
ts_sign_verify rsa rsa2048 rsa2048:rsassa-sha256
stop_tpm
start_tpm
ts_nv_expect "$TS_NV_INDEX"
stop_tpm

# The dumpable flag shows as the owner of /proc/PID files only for a
# process that is not root; so the next run is as nobody, when possible.
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
  t_log "not dumpable (run as nobody)"
  nb="$T_DIR/nobody"
  mkdir -p "$nb"
  chmod 0711 "$T_DIR"
  chown -R nobody "$T_DIR/state" "$nb"
  t_bg setpriv --reuid=nobody --regid=nogroup --clear-groups "$VTPM" serve \
    --tpmstate dir="$T_DIR/state" --server type=unixio,path="$nb/tpm.sock" \
    --ctrl type=unixio,path="$nb/tpm.sock.ctrl" --flags not-need-init,startup-clear \
    --log file="$nb/vtpm.log"
  TPM_PID=$T_LAST_PID
  t_wait_for t_unix_listening "$nb/tpm.sock.ctrl" || ts_fail "vtpm as nobody did not start"
  [ "$(field "$TPM_PID" Uid)" != 0 ] || ts_fail "setpriv did not drop to nobody"
  [ "$(stat -c %u "/proc/$TPM_PID/status")" = 0 ] ||
    ts_fail "the vtpm is dumpable: /proc/$TPM_PID/status belongs to uid $(stat -c %u "/proc/$TPM_PID/status")"
  TS_TCTI="swtpm:path=$nb/tpm.sock" ts_nv_expect "$TS_NV_INDEX"
  stop_tpm
fi

t_log "--seccomp action=log and action=none"
start_tpm --seccomp action=log
[ "$(field "$TPM_PID" Seccomp)" = 2 ] || ts_fail "--seccomp action=log: Seccomp $(field "$TPM_PID" Seccomp), want 2"
ts_nv_expect "$TS_NV_INDEX"
stop_tpm
start_tpm --seccomp action=none
[ "$(field "$TPM_PID" Seccomp)" = 0 ] || ts_fail "--seccomp action=none: Seccomp $(field "$TPM_PID" Seccomp), want 0"
ts_nv_expect "$TS_NV_INDEX"
stop_tpm
"$VTPM" serve --tpmstate dir="$T_DIR/state" --server type=unixio,path="$SOCK" \
  --seccomp action=trap 2>"$T_DIR/err" && ts_fail "--seccomp action=trap was accepted"
grep -q "action must be none, log or kill" "$T_DIR/err" || ts_fail "--seccomp action=trap: $(cat "$T_DIR/err")"
t_log "ok"
