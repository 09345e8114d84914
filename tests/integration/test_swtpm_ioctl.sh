#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# swtpm_ioctl (Debian's swtpm-tools) against the control channel, once over
# a Unix socket (`--unix`) and once over TCP (`--tcp 127.0.0.1:P`): the
# capability word, CMD_INIT before any TPM command works, storing volatile
# state, saving the permanent and volatile blobs, CMD_STOP, loading the
# permanent blob back (an NV index deleted after the save reappears),
# configuration flags, GET_INFO and CMD_SHUTDOWN ending the process. The
# daemon runs without --flags, as under QEMU: nothing works before CMD_INIT.
# TPM commands go through tpm2-tools and the swtpm TCTI (tpm2_scenario.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpm2_scenario.sh"

# PTM_CAP_* bits (swtpm's tpm_ioctl.h) that this scenario and the swtpm
# TCTI use, plus those QEMU's tpm-emulator backend requires for TPM 2.0.
CAP_INIT=$((1 << 0)) CAP_SHUTDOWN=$((1 << 1)) CAP_GET_TPMESTABLISHED=$((1 << 2))
CAP_SET_LOCALITY=$((1 << 3)) CAP_STORE_VOLATILE=$((1 << 6))
CAP_RESET_TPMESTABLISHED=$((1 << 7)) CAP_GET_STATEBLOB=$((1 << 8))
CAP_SET_STATEBLOB=$((1 << 9)) CAP_STOP=$((1 << 10)) CAP_GET_CONFIG=$((1 << 11))
CAP_SET_DATAFD=$((1 << 12)) CAP_SET_BUFFERSIZE=$((1 << 13)) CAP_GET_INFO=$((1 << 14))
CAP_NEEDED=$((CAP_INIT | CAP_SHUTDOWN | CAP_GET_TPMESTABLISHED | CAP_SET_LOCALITY |
  CAP_STORE_VOLATILE | CAP_RESET_TPMESTABLISHED | CAP_GET_STATEBLOB |
  CAP_SET_STATEBLOB | CAP_STOP | CAP_GET_CONFIG | CAP_SET_BUFFERSIZE | CAP_GET_INFO))

ioctl() { swtpm_ioctl "${CTRL[@]}" "$@"; }

# tpm_works: one TPM command through the swtpm TCTI (no flush: it also runs
# when the TPM is not initialised, where a flush would fail too).
tpm_works() { tpm2_getrandom -T "$TS_TCTI" -o "$TS_WORK/rand" 16 >/dev/null 2>&1; }

# start_unix / start_tcp: a daemon without --flags on instance directory D,
# setting CTRL (swtpm_ioctl target), TS_TCTI and TPM_PID.
start_unix() {
  local d=$1
  t_bg "$VTPM" socket --tpm2 --tpmstate dir="$d/state" \
    --server type=unixio,path="$d/tpm.sock" --ctrl type=unixio,path="$d/tpm.sock.ctrl" \
    --pid file="$d/vtpm.pid" --log file="$d/vtpm.log"
  TPM_PID=$T_LAST_PID
  CTRL=(--unix "$d/tpm.sock.ctrl")
  TS_TCTI="swtpm:path=$d/tpm.sock"
  t_wait_for t_unix_listening "$d/tpm.sock" && t_wait_for t_unix_listening "$d/tpm.sock.ctrl"
}

start_tcp() {
  local d=$1 port
  port=$(t_free_ports 2) || return 1
  t_bg "$VTPM" socket --tpm2 --tpmstate dir="$d/state" \
    --server type=tcp,port="$port" --ctrl type=tcp,port=$((port + 1)) \
    --pid file="$d/vtpm.pid" --log file="$d/vtpm.log"
  TPM_PID=$T_LAST_PID
  CTRL=(--tcp "127.0.0.1:$((port + 1))")
  TS_TCTI="swtpm:host=127.0.0.1,port=$port"
  t_wait_for t_listening "$port" && t_wait_for t_listening $((port + 1))
}

pid_gone() { ! kill -0 "$1"; }

# ctrl_scenario unix|tcp
ctrl_scenario() {
  local kind=$1 d="$T_DIR/$1" out caps need flags rc
  mkdir -p "$d/state"
  TS_DAEMON_LOG="$d/vtpm.log"
  "start_$kind" "$d" || ts_fail "$kind: $VTPM did not come up"
  t_log "$kind: ${CTRL[*]}"

  # -c prints the 8-byte reply {u32 result, u32 caps} read as one u64.
  out=$(ioctl -c) || ts_fail "$kind: swtpm_ioctl -c failed"
  [[ $out =~ ^ptm\ capability\ is\ 0x([0-9a-f]+)$ ]] || ts_fail "$kind: -c printed '$out'"
  caps=$((16#${BASH_REMATCH[1]}))
  need=$CAP_NEEDED
  # QEMU passes its data socket with CMD_SET_DATAFD, over Unix sockets only.
  [ "$kind" = unix ] && need=$((need | CAP_SET_DATAFD))
  [ $((caps & need)) -eq $need ] ||
    ts_fail "$kind: capabilities $(printf 0x%x $caps) lack $(printf 0x%x $((need & ~caps)))"

  # Without --flags the TPM does nothing until CMD_INIT.
  ! tpm_works || ts_fail "$kind: TPM answered before CMD_INIT"
  ioctl -i || ts_fail "$kind: swtpm_ioctl -i failed"
  tpm2_startup -T "$TS_TCTI" -c || ts_fail "$kind: tpm2_startup -c failed after -i"
  tpm_works || ts_fail "$kind: tpm2_getrandom failed after -i and startup"
  [ "$(ts_size "$TS_WORK/rand")" -eq 16 ] || ts_fail "$kind: getrandom size wrong"
  ts_nv_define_write "$TS_NV_INDEX" 16

  ioctl -v || ts_fail "$kind: swtpm_ioctl -v (store volatile) failed"
  t_log "$kind: state after -v: $(cd "$d/state" && echo *)"

  ioctl --save permanent "$d/perm.blob" || ts_fail "$kind: --save permanent failed"
  ioctl --save volatile "$d/vol.blob" || ts_fail "$kind: --save volatile failed"
  [ -s "$d/perm.blob" ] || ts_fail "$kind: --save permanent wrote an empty file"
  [ -s "$d/vol.blob" ] || ts_fail "$kind: --save volatile wrote an empty file"
  t_log "$kind: permanent blob $(ts_size "$d/perm.blob") bytes, volatile $(ts_size "$d/vol.blob")"

  # Delete the index now: only loading the saved blob can bring it back.
  ts_tpm tpm2_nvundefine -C o "$TS_NV_INDEX" || ts_fail "$kind: tpm2_nvundefine failed"
  ! ts_tpm tpm2_nvread -C o -s 16 "$TS_NV_INDEX" >/dev/null 2>&1 ||
    ts_fail "$kind: NV index still readable after tpm2_nvundefine"

  ioctl --stop || ts_fail "$kind: swtpm_ioctl --stop failed"
  ! tpm_works || ts_fail "$kind: TPM answered after --stop"
  ioctl --load permanent "$d/perm.blob" || ts_fail "$kind: --load permanent failed"
  ioctl -i || ts_fail "$kind: swtpm_ioctl -i after --load failed"
  tpm2_startup -T "$TS_TCTI" -c || ts_fail "$kind: tpm2_startup -c failed after --load"
  ts_nv_expect "$TS_NV_INDEX"

  # -g: flags 0x1 (state file key) and 0x2 (migration key) only; no
  # --migration-key was given, so 0x2 must be clear.
  out=$(ioctl -g) || ts_fail "$kind: swtpm_ioctl -g failed"
  [[ $out =~ ^ptm\ configuration\ flags:\ 0x([0-9a-f]+)$ ]] || ts_fail "$kind: -g printed '$out'"
  flags=$((16#${BASH_REMATCH[1]}))
  [ $((flags & ~1)) -eq 0 ] || ts_fail "$kind: configuration flags $(printf 0x%x $flags)"

  # --info 1 = SWTPM_INFO_TPMSPECIFICATION: one JSON object on one line.
  out=$(ioctl --info 1) || ts_fail "$kind: swtpm_ioctl --info 1 failed"
  [[ $out =~ ^\{\"TPMSpecification\":\{\"family\":\"2\.0\",\"level\":[0-9]+,\"revision\":[0-9]+\}\}$ ]] ||
    ts_fail "$kind: --info 1 printed '$out'"

  # -s: CMD_SHUTDOWN answers, then the process exits on its own, cleanly.
  ioctl -s || ts_fail "$kind: swtpm_ioctl -s failed"
  t_wait_for pid_gone "$TPM_PID" || ts_fail "$kind: process $TPM_PID still running after -s"
  wait "$TPM_PID"
  rc=$?
  [ $rc -eq 0 ] || ts_fail "$kind: daemon exited with status $rc after -s"
  ! ioctl -c >/dev/null 2>&1 || ts_fail "$kind: control channel still answers after -s"
}

ctrl_scenario unix
ctrl_scenario tcp
