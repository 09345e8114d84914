#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Slow and greedy clients on the data channel. A command written one byte
# at a time (20 ms apart), bare or inside the MSSIM-style prefix, gets the
# same answer as when written whole: framing follows the size field, not
# the writes. Many commands in one write (16, then 1000 that overflow the
# daemon's input buffer) get every answer, in order. A client that sends
# commands and never reads its answers holds only its own connection: a
# second client is served meanwhile. A client that streams commands for
# 12 s, each one whole 50 ms after it began but the next always begun, is
# not dropped by the 10 s partial-request deadline (last: it takes 12 s).
# After every case the daemon lives, serves a good client and still holds
# the NV index.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile.sh"

h_start unix --flags not-need-init,startup-clear
h_nv_setup
h_healthy

# GetCapability(TPM_PT_MANUFACTURER) has one right answer; take it from a
# command written whole.
h_cmd getcap-manufacturer
GETCAP=$C
h_tpm "$GETCAP"
h_expect_rc 00000000
GETCAP_RSP=$R

# expect_random HEX N: HEX is a successful GetRandom response with N bytes.
expect_random() {
  R=$1
  h_expect_rc 00000000 $((12 + $2))
  [ $((16#${R:20:4})) -eq "$2" ] || h_fail "GetRandom count 0x${R:20:4}, want $2: $R"
}

h_case "one command, one byte per write"
out=$(h_py frames "$H_ADDR" "$GETCAP" --trickle 20) || h_fail "$out"
[ "$out" = "$GETCAP_RSP" ] || h_fail "trickled command answered $out, want $GETCAP_RSP"
h_healthy

h_case "one prefixed command, one byte per write"
out=$(h_py frames "$H_ADDR" "$GETCAP" --trickle 20 --prefix 0) || h_fail "$out"
[ "$out" = "$GETCAP_RSP" ] || h_fail "trickled prefixed command answered $out, want $GETCAP_RSP"
h_healthy

h_case "16 commands in one write, answered in order"
cmds=()
for n in $(seq 8); do
  h_cmd getrandom "$n"
  cmds+=("$C" "$GETCAP")
done
out=$(h_py frames "$H_ADDR" "${cmds[@]}") || h_fail "$out"
mapfile -t rsp <<<"$out"
[ "${#rsp[@]}" -eq 16 ] || h_fail "${#rsp[@]} responses, want 16"
for n in $(seq 8); do
  expect_random "${rsp[$(((n - 1) * 2))]}" "$n"
  [ "${rsp[$(((n - 1) * 2 + 1))]}" = "$GETCAP_RSP" ] ||
    h_fail "response $((n * 2)) is ${rsp[$(((n - 1) * 2 + 1))]}, want $GETCAP_RSP"
done
h_healthy

h_case "16 prefixed commands in one write, answered in order"
out=$(h_py frames "$H_ADDR" "${cmds[@]}" --prefix 0) || h_fail "$out"
mapfile -t rsp <<<"$out"
[ "${#rsp[@]}" -eq 16 ] || h_fail "${#rsp[@]} responses, want 16"
for n in $(seq 8); do
  expect_random "${rsp[$(((n - 1) * 2))]}" "$n"
done
h_healthy

h_case "1000 commands in one write (12 KB, more than the input buffer), in order"
cmds=()
for n in $(seq 10); do
  h_cmd getrandom "$n"
  cmds+=("$C")
done
out=$(h_py frames "$H_ADDR" "${cmds[@]}" --repeat 100) || h_fail "$out"
mapfile -t rsp <<<"$out"
[ "${#rsp[@]}" -eq 1000 ] || h_fail "${#rsp[@]} responses, want 1000"
for i in $(seq 0 999); do
  n=$((i % 10 + 1))
  # size 12 + n: the i-th answer belongs to the i-th command
  [ "${rsp[$i]:0:20}" = "$(printf '8001%08x00000000' $((12 + n)))" ] ||
    h_fail "response $i is ${rsp[$i]}, want GetRandom($n)'s"
done
h_healthy

h_case "a client that never reads does not block another"
h_bg_py "$T_DIR/flood.out" flood "$H_ADDR" --hold 60
flood_pid=$BG_PID
t_wait_for grep -q '^stalled' "$T_DIR/flood.out" ||
  h_fail "flooding client did not stall: $(cat "$T_DIR/flood.out")"
t_log "$(cat "$T_DIR/flood.out")"
kill -0 "$flood_pid" 2>/dev/null || h_fail "flooding client gone: $(cat "$T_DIR/flood.out")"
t0=$EPOCHREALTIME
h_healthy
tpm2_getrandom -T "$H_TCTI" 8 >/dev/null 2>&1 || h_fail "tpm2_getrandom failed beside the flood"
took=$(awk "BEGIN { print $EPOCHREALTIME - $t0 }")
h_secs_between "$took" 0 3 || h_fail "good clients took ${took}s beside the flood"
kill "$flood_pid"
wait "$flood_pid" 2>/dev/null
h_case "after the never-reading client left"
h_healthy

h_case "a steady 12 s stream with a command always half sent is not dropped"
# 240 GetRandom(8) in pieces cut in the middle of each command, 50 ms
# apart: each command is whole 50 ms after its first byte, so no request
# is ever partial for long, though the input is never empty.
h_cmd getrandom 8
t0=$SECONDS
out=$(h_py frames "$H_ADDR" "$C" --repeat 240 --straddle 50 --timeout 30 2>&1) ||
  h_fail "stream cut after $((SECONDS - t0)) s: ${out##*$'\n'}"
mapfile -t rsp <<<"$out"
[ "${#rsp[@]}" -eq 240 ] || h_fail "${#rsp[@]} responses, want 240"
h_healthy
