#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Clients that vanish before their answer, over a Unix socket and over TCP
# (there also with an abortive close, so the daemon sees a reset). A client
# sends a whole TPM2_CreatePrimary (RSA-2048 key generation, the slowest
# common command) or TPM2_NV_Write and disconnects: the daemon lives and
# serves the next client, and the NV write happened wholly or not at all
# (the index holds the old or the new 16 bytes, nothing else). Half an
# NV_Write then gone changes nothing; twenty writers vanishing at once
# leave one of their patterns or the old one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hostile.sh"

# nv_old_or_new OLD NEW: after a vanished write, the index holds OLD or NEW.
nv_old_or_new() {
  h_nv_read
  case $NV in
    "$1") t_log "$H_CASE: the write did not happen";;
    "$2") t_log "$H_CASE: the write happened";;
    *) h_fail "NV index holds $NV: neither the old $1 nor the new $2";;
  esac
  H_NV_WANT=$NV
}

# pattern I: 16 bytes, different for each I.
pattern() {
  local b
  for b in $(seq 0 15); do printf '%02x' $((($1 * 16 + b) % 256)); done
}

vanish_scenario() {
  local kind=$1 rst=() i old new pids
  H_DIR="$T_DIR/$kind"
  mkdir -p "$H_DIR"
  H_CASE="$kind: setup"
  h_start "$kind" --flags not-need-init,startup-clear
  h_nv_setup
  h_healthy
  [ "$kind" = tcp ] && rst=(--rst)

  h_case "$kind: CreatePrimary RSA-2048 sent whole, client gone"
  h_cmd createprimary-rsa
  for i in 1 2 3; do
    h_py vanish "$H_ADDR" "$C" >/dev/null || h_fail "hostile.py vanish failed"
    h_healthy
    # no resource manager: the key the vanished client made stays loaded
    tpm2_flushcontext -T "$H_TCTI" -t || h_fail "tpm2_flushcontext -t failed"
  done
  # the daemon still makes keys for clients that wait
  h_tpm "$C"
  h_expect_rc 00000000
  tpm2_flushcontext -T "$H_TCTI" -t || h_fail "tpm2_flushcontext -t failed"

  for i in 1 2 3 4 5; do
    h_case "$kind: NV_Write sent whole, client gone ($i)"
    old=$H_NV_WANT new=$(pattern "$i")
    h_cmd nvwrite "$H_NV_INDEX" "$new"
    h_py vanish "$H_ADDR" "$C" >/dev/null || h_fail "hostile.py vanish failed"
    nv_old_or_new "$old" "$new"
    h_healthy
  done

  if [ ${#rst[@]} -gt 0 ]; then
    for i in 6 7 8; do
      h_case "$kind: NV_Write sent whole, connection reset ($i)"
      old=$H_NV_WANT new=$(pattern "$i")
      h_cmd nvwrite "$H_NV_INDEX" "$new"
      h_py vanish "$H_ADDR" "$C" --rst >/dev/null || h_fail "hostile.py vanish --rst failed"
      nv_old_or_new "$old" "$new"
      h_healthy
    done
  fi

  h_case "$kind: half an NV_Write, client gone"
  h_cmd nvwrite "$H_NV_INDEX" "$(pattern 9)"
  h_py vanish "$H_ADDR" "${C:0:$((${#C} / 4 * 2))}" "${rst[@]}" >/dev/null ||
    h_fail "hostile.py vanish failed"
  h_healthy   # H_NV_WANT unchanged: nothing may have been written

  h_case "$kind: NV_Write and half a GetRandom, client gone"
  old=$H_NV_WANT new=$(pattern 10)
  h_cmd nvwrite "$H_NV_INDEX" "$new"
  local nvw=$C
  h_cmd getrandom 16
  h_py vanish "$H_ADDR" "$nvw${C:0:8}" "${rst[@]}" >/dev/null || h_fail "hostile.py vanish failed"
  nv_old_or_new "$old" "$new"
  h_healthy

  h_case "$kind: 20 NV writers vanish at once"
  old=$H_NV_WANT pids=()
  for i in $(seq 11 30); do
    h_cmd nvwrite "$H_NV_INDEX" "$(pattern "$i")"
    h_py vanish "$H_ADDR" "$C" "${rst[@]}" >/dev/null &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || h_fail "a hostile.py vanish failed"; done
  h_nv_read
  local ok=0
  [ "$NV" = "$old" ] && ok=1
  for i in $(seq 11 30); do [ "$NV" = "$(pattern "$i")" ] && ok=1; done
  [ $ok -eq 1 ] || h_fail "NV index holds $NV: not the old value nor any writer's pattern"
  H_NV_WANT=$NV
  h_healthy
}

vanish_scenario unix
vanish_scenario tcp
