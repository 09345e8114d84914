#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Garbage on both channels. Data channel: size fields below the 10-byte
# header, a prefix whose size disagrees with its header, and random bytes
# get one TPM_RC_COMMAND_SIZE error and a hang-up; a bad tag inside a
# well-framed command is only a TPM error (the connection goes on); 10 MB
# of random bytes and 10 MB of random well-framed commands (each answered)
# leave the daemon serving. Control channel: unknown command codes get the
# 4-byte TPM_BAD_ORDINAL (0x0000000a) and the connection goes on, also for
# 64 KiB of them in one stream; oversize length fields get TPM_BAD_PARAMETER
# and a hang-up; a request that does not arrive whole within 500 ms is
# closed unexecuted. After every case the daemon lives, serves a good client
# and still holds the NV index written first.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile.sh"

h_start unix --flags not-need-init,startup-clear
h_nv_setup
h_healthy

GETRANDOM_CC=0000017b
BAD_ORDINAL=0000000a BAD_PARAMETER=00000003

# refused NAME HEX: HEX gets the TPM_RC_COMMAND_SIZE error, then a hang-up.
refused() {
  h_case "$1"
  h_talk "$H_ADDR" "$2"
  [ "$GOT" = "$H_RSP_COMMAND_SIZE" ] || h_fail "reply $GOT, want $H_RSP_COMMAND_SIZE"
  [ "$END" = eof ] || [ "$END" = reset ] || h_fail "not closed ($END after ${ELAPSED}s)"
  h_healthy
}

refused "size field 0" "8001 00000000 $GETRANDOM_CC 0010"
refused "size field 9" "8001 00000009 $GETRANDOM_CC 0010"
refused "size field 1 under a junk tag" "1234 00000001 $GETRANDOM_CC 0010"
refused "prefix size 12, header size 14" \
  "00000008 00 0000000c 8001 0000000e $GETRANDOM_CC 0010 0000"
refused "prefix size 9" "00000008 00 00000009 8001 00000009 $GETRANDOM_CC"

h_case "bad tag in a well-framed command is a TPM error, not a framing error"
h_cmd getrandom 16
out=$(h_py frames "$H_ADDR" "dead 0000000c $GETRANDOM_CC 0010" "$C") ||
  h_fail "no two responses on one connection: $out"
mapfile -t rsp <<<"$out"
R=${rsp[0]}
# libtpms says TPM_RC_VALUE; any TPM error but the framing one will do
[ "${R:0:12}" = 80010000000a ] && [ "${R:12:8}" != 00000000 ] && [ "${R:12:8}" != 00000142 ] ||
  h_fail "bad tag answered $R, want a 10-byte TPM error other than TPM_RC_COMMAND_SIZE"
R=${rsp[1]}
h_expect_rc 00000000 28
h_healthy

h_case "random bytes, 16 connections"
for seed in $(seq 16); do
  out=$(h_py blast "$H_ADDR" --mode raw --bytes $((seed * 37)) --seed "$seed" --timeout 5) ||
    h_fail "hostile.py blast failed: $out"
  [[ $out =~ end=(eof|reset)\ reply=$H_RSP_COMMAND_SIZE$ ]] ||
    h_fail "seed $seed: want the error and a hang-up, got: $out"
done
h_healthy

h_case "10 MB of random bytes"
out=$(h_py blast "$H_ADDR" --mode raw --bytes 10000000 --seed 100) ||
  h_fail "hostile.py blast failed: $out"
t_log "$out"
[[ $out =~ end=(eof|reset) ]] || h_fail "the daemon read 10 MB of garbage without hanging up: $out"
h_healthy

h_case "10 MB of random well-framed commands, every one answered"
out=$(h_py blast "$H_ADDR" --mode framed --bytes 10000000 --seed 200) || h_fail "$out"
t_log "$out"
h_healthy

# Control channel.
h_case "unknown control codes get TPM_BAD_ORDINAL"
for code in 00000000 00000014 000000ff 80000001 ffffffff; do
  h_talk "$H_CTRL_ADDR" "$code" --bytes 4 --timeout 2
  [ "$GOT" = "$BAD_ORDINAL" ] || h_fail "code 0x$code: reply $GOT ($END), want $BAD_ORDINAL"
done
h_healthy

h_case "control connection goes on after an unknown code"
# then CMD_GET_CAPABILITY: u32 result 0 and the u32 capability word
h_talk "$H_CTRL_ADDR" "deadbeef 00000001" --bytes 12 --timeout 2
[[ $GOT =~ ^${BAD_ORDINAL}00000000[0-9a-f]{8}$ ]] ||
  h_fail "unknown code then GET_CAPABILITY answered $GOT ($END)"
h_healthy

h_case "64 KiB of unknown control codes in one stream"
out=$(h_py blast "$H_CTRL_ADDR" --mode ctrl --bytes 65536 --seed 300) || h_fail "$out"
t_log "$out"
h_healthy

# ctrl_refused NAME HEX: TPM_BAD_PARAMETER, then a hang-up.
ctrl_refused() {
  h_case "$1"
  h_talk "$H_CTRL_ADDR" "$2" --timeout 3
  [ "$GOT" = "$BAD_PARAMETER" ] || h_fail "reply $GOT, want $BAD_PARAMETER"
  [ "$END" = eof ] || [ "$END" = reset ] || h_fail "not closed ($END after ${ELAPSED}s)"
  h_healthy
}
ctrl_refused "CMD_HASH_DATA announcing 4097 bytes" "00000007 00001001"
ctrl_refused "CMD_HASH_DATA announcing 0xFFFFFFFF bytes" "00000007 ffffffff"
ctrl_refused "CMD_SET_STATEBLOB announcing 0x7FFFFFFF bytes" "0000000d 00000000 00000001 7fffffff"

# ctrl_deadline NAME HEX: HEX is part of a request; the daemon hangs up
# after about 500 ms without a reply and without running it.
ctrl_deadline() {
  h_case "$1"
  h_talk "$H_CTRL_ADDR" "$2" --timeout 5
  [ "$END" = eof ] || [ "$END" = reset ] || h_fail "not closed within 5 s ($END)"
  [ "$GOT" = - ] || h_fail "a partial control request got a reply: $GOT"
  h_secs_between "$ELAPSED" 0.4 2 || h_fail "closed after ${ELAPSED}s, want about 0.5 s"
  t_log "closed after ${ELAPSED}s"
  h_healthy
}
# CMD_INIT without its u32 flags: had it run, the TPM would wait for
# TPM2_Startup and h_healthy's GetRandom would get TPM_RC_INITIALIZE.
ctrl_deadline "CMD_INIT without its body" "00000002"
ctrl_deadline "2 bytes of a command code" "0000"
ctrl_deadline "CMD_HASH_DATA announcing 100 bytes, sending 10" \
  "00000007 00000064 $(printf '5a%.0s' $(seq 10))"
ctrl_deadline "CMD_SET_LOCALITY without its body" "00000005"
