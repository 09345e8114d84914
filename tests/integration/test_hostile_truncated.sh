#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Truncated commands on the data channel. Clients that send part of a
# header, a whole header, or 20 or 99 of the 100 bytes a header announces,
# and then disconnect, leave nothing behind: the daemon lives and the next
# client's command is framed from scratch. A client that sends part of a
# command and then stalls, and one that trickles a byte every 400 ms, are
# both closed by the daemon's partial-request deadline (10 s), without a
# reply, while a good client is served in the meantime.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile.sh"

h_start unix --flags not-need-init,startup-clear
h_nv_setup
h_healthy

GETRANDOM_CC=0000017b
HDR100="8001 00000064 $GETRANDOM_CC"   # announces 100 bytes

# gone NAME HEX: HEX is sent, then the client closes without reading.
gone() {
  h_case "$1"
  h_py vanish "$H_ADDR" "$2" >/dev/null || h_fail "hostile.py vanish failed"
  h_healthy
}

gone "6 header bytes, then gone" "8001 0000000c"
gone "1 byte, then gone" "80"
gone "header of 100 bytes alone, then gone" "$HDR100"
gone "20 of 100 bytes, then gone" "$HDR100 $(printf '5a%.0s' $(seq 10))"
gone "99 of 100 bytes, then gone" "$HDR100 $(printf '5a%.0s' $(seq 89))"
gone "7 bytes of an MSSIM prefix, then gone" "00000008 00 0000"
gone "prefix and 20 of 100 bytes, then gone" \
  "00000008 00 00000064 $HDR100 $(printf '5a%.0s' $(seq 10))"

# Two stalls at once: one sends 12 of 100 bytes and waits, one sends a
# byte every 400 ms (it would need 40 s for the command). Each waits up to
# 15 s for the daemon to hang up.
h_case "stalled partial command and slow trickle are closed by the deadline"
h_bg_py "$T_DIR/stall.out" talk "$H_ADDR" "$HDR100 0010" --timeout 15
stall_pid=$BG_PID
h_bg_py "$T_DIR/trickle.out" talk "$H_ADDR" "$HDR100" --pad 90 --trickle 400 --timeout 15
trickle_pid=$BG_PID
# Meanwhile the daemon serves others (the stalled ones hold only themselves).
h_healthy
h_case "stalled partial command is closed by the deadline"
h_bg_talk_result "$stall_pid" "$T_DIR/stall.out"
[ "$END" = eof ] || [ "$END" = reset ] || h_fail "still open after ${ELAPSED}s ($END)"
[ "$GOT" = - ] || h_fail "a partial command got a reply: $GOT"
h_secs_between "$ELAPSED" 9 15 || h_fail "closed after ${ELAPSED}s, want the 10 s deadline"
t_log "closed after ${ELAPSED}s"
h_healthy
h_case "trickling client is closed by the deadline"
h_bg_talk_result "$trickle_pid" "$T_DIR/trickle.out"
[ "$END" = eof ] || [ "$END" = reset ] || h_fail "still open after ${ELAPSED}s ($END)"
[ "$GOT" = - ] || h_fail "a partial command got a reply: $GOT"
h_secs_between "$ELAPSED" 9 15 ||
  h_fail "closed after ${ELAPSED}s: each byte must not restart the 10 s deadline"
t_log "closed after ${ELAPSED}s"
h_healthy
