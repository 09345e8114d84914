#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# TPM 1.2 mode: `$VTPM socket` without --tpm2, with --flags not-need-init
# (the TPM is initialised but not started), driven with raw TPM 1.2 commands
# over the Unix data socket by tests/tools/tpmsend: TPM_Startup(ST_CLEAR),
# TPM_GetRandom, TPM_PCRRead and TPM_Extend, whose result is checked against
# SHA-1(old value || digest) computed here.
. "$(dirname "$0")/lib.sh"

TPMSEND=${TPMSEND:-${BUILD:-}/tpmsend}
[ -x "$TPMSEND" ] || t_fail "tpmsend not found at '$TPMSEND' (build it, or set TPMSEND)"

SOCK="$T_DIR/tpm.sock"
mkdir -p "$T_DIR/state"
t_bg "$VTPM" socket --tpmstate dir="$T_DIR/state" --server type=unixio,path="$SOCK" \
  --flags not-need-init --pid file="$T_DIR/vtpm.pid" --log file="$T_DIR/vtpm.log"
t_wait_for t_unix_listening "$SOCK" || t_fail "$VTPM did not listen on $SOCK"

# TPM 1.2 wire values: request tag TPM_TAG_RQU_COMMAND, response tag
# TPM_TAG_RSP_COMMAND, ordinals, and TPM_INVALID_POSTINIT.
RQU=00c1 RSP=00c4
ORD_EXTEND=00000014 ORD_PCRREAD=00000015 ORD_GETRANDOM=00000046 ORD_STARTUP=00000099
TPM_SUCCESS=00000000 TPM_INVALID_POSTINIT=00000026
PCR=0000000a   # PCR 10: reset to zero by Startup(ST_CLEAR), extendable at locality 0

# tpm12 HEX...: sends one command and sets R to the response as hex; fails
# the test on a transport error or a response that is not TPM 1.2. (R, not
# stdout: t_fail inside $(...) would end only the subshell.)
tpm12() {
  R=$("$TPMSEND" -u "$SOCK" "$@") || t_fail "tpmsend $* failed"
  [ "${R:0:4}" = "$RSP" ] || t_fail "response to $* has tag ${R:0:4}, want $RSP: $R"
}

# expect RC SIZE: R has return code RC and SIZE bytes, as its size field says.
expect() {
  [ "${R:12:8}" = "$1" ] || t_fail "return code 0x${R:12:8}, want 0x$1: $R"
  [ $((16#${R:4:8})) -eq "$2" ] || t_fail "size field $((16#${R:4:8})), want $2: $R"
  [ ${#R} -eq $(($2 * 2)) ] || t_fail "response is $((${#R} / 2)) bytes, want $2: $R"
}

getrandom16() { tpm12 "$RQU" 0000000e "$ORD_GETRANDOM" 00000010; }
pcrread() { tpm12 "$RQU" 0000000e "$ORD_PCRREAD" "$PCR"; }

# Before TPM_Startup every command but Startup is refused.
getrandom16
expect "$TPM_INVALID_POSTINIT" 10

tpm12 "$RQU" 0000000c "$ORD_STARTUP" 0001
expect "$TPM_SUCCESS" 10
# A second Startup is refused: the first one really started the TPM.
tpm12 "$RQU" 0000000c "$ORD_STARTUP" 0001
expect "$TPM_INVALID_POSTINIT" 10

# GetRandom: u32 randomBytesSize = 16, then the bytes.
getrandom16
expect "$TPM_SUCCESS" 30
[ "${R:20:8}" = 00000010 ] || t_fail "GetRandom returned count 0x${R:20:8}, want 16"
a=${R:28}
getrandom16
expect "$TPM_SUCCESS" 30
[ "$a" != "${R:28}" ] || t_fail "two GetRandom calls returned the same bytes"

pcrread
expect "$TPM_SUCCESS" 30
old=${R:20}
[ "$old" = "$(printf '%040d' 0)" ] || t_fail "PCR 10 after Startup(ST_CLEAR) is $old, want zero"

# Two extends, so the second one starts from a non-zero value.
for word in first second; do
  digest=$(printf 'vtpm %s extend' "$word" | sha1sum | cut -c1-40)
  want=$(printf '%s%s' "$old" "$digest" | xxd -r -p | sha1sum | cut -c1-40)
  tpm12 "$RQU" 00000022 "$ORD_EXTEND" "$PCR" "$digest"
  expect "$TPM_SUCCESS" 30
  [ "${R:20}" = "$want" ] || t_fail "Extend returned ${R:20}, want SHA1($old || $digest) = $want"
  pcrread
  expect "$TPM_SUCCESS" 30
  [ "${R:20}" = "$want" ] || t_fail "PCR 10 reads ${R:20} after extend, want $want"
  old=$want
done
t_log "PCR 10 = $old"
