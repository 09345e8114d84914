#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Oversize commands on the data channel: a header whose size field says
# 0xFFFFFFFF or 4097 (one past the 4096-byte maximum), bare, followed by
# 32 KiB of junk, or inside swtpm's MSSIM-style prefix, is answered with one
# TPM error (tag 0x8001, TPM_RC_COMMAND_SIZE) and the connection closes; a
# command of exactly 4096 bytes is still framed and answered and the
# connection goes on. After every case the daemon lives, serves a good
# client and still holds the NV index written first.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile.sh"

h_start unix --flags not-need-init,startup-clear
h_nv_setup
h_healthy

GETRANDOM_CC=0000017b

# oversize_closes NAME HEX [talk options]: HEX gets the error, then EOF.
oversize_closes() {
  h_case "$1"
  h_talk "$H_ADDR" "$2" "${@:3}"
  [ "$GOT" = "$H_RSP_COMMAND_SIZE" ] || h_fail "reply $GOT, want $H_RSP_COMMAND_SIZE"
  # a reset is a close too: the daemon hung up with our junk unread
  [ "$END" = eof ] || [ "$END" = reset ] ||
    h_fail "connection not closed after the error ($END after ${ELAPSED}s)"
  h_secs_between "$ELAPSED" 0 2 || h_fail "error and close took ${ELAPSED}s"
  h_healthy
}

oversize_closes "size 0xFFFFFFFF" "8001 ffffffff $GETRANDOM_CC"
oversize_closes "size 4097" "8001 00001001 $GETRANDOM_CC"
oversize_closes "size 4097 with 32 KiB following" "8001 00001001 $GETRANDOM_CC" --pad 32768
oversize_closes "size 0xFFFFFFFF with 32 KiB following" "8001 ffffffff $GETRANDOM_CC" --pad 32768
# TPM 2.0 sessions tag too, not only 0x8001
oversize_closes "size 0x80000000, sessions tag" "8002 80000000 $GETRANDOM_CC"
# MSSIM-style prefix: u32 TPM_SEND_COMMAND (8), u8 locality, u32 size
oversize_closes "prefix size 0xFFFFFFFF" "00000008 00 ffffffff 8001 ffffffff $GETRANDOM_CC"
oversize_closes "prefix size 4097" "00000008 00 00001001 8001 00001001 $GETRANDOM_CC"

# The maximum itself is a command: a GetRandom padded to 4096 bytes gets a
# TPM answer (whatever libtpms thinks of the padding), and the connection
# stays open for the next command.
h_case "size 4096 (the maximum) is framed"
h_cmd getrandom 16
good=$C
max="8001 00001000 $GETRANDOM_CC 0010$(printf '00%.0s' $(seq 4084))"
out=$(h_py frames "$H_ADDR" "$max" "$good") || h_fail "no two responses on one connection: $out"
mapfile -t rsp <<<"$out"
[ "${#rsp[@]}" -eq 2 ] || h_fail "${#rsp[@]} responses, want 2: $out"
[ "${rsp[0]:0:4}" = 8001 ] && [ "${rsp[0]:12:8}" != 00000142 ] ||
  h_fail "4096-byte command refused as a framing error: ${rsp[0]}"
R=${rsp[1]}
h_expect_rc 00000000 28
h_healthy
