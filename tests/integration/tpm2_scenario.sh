# SPDX-License-Identifier: BSD-3-Clause
# The tpm2-tools scenario shared by every transport test (swtpm TCTI over a
# Unix socket or TCP, mssim TCTI): random numbers, a PCR extend with a value
# computed here, RSA and ECC keys that sign and verify, NV data and a
# persistent key that survive a restart of the TPM process, and a quote that
# tpm2_checkquote accepts. Sourced after lib.sh; the caller starts the daemon
# and supplies the TCTI string and a restart function. Everything the TPM
# returns is checked against a value computed or kept on this side.
#
# Usage: ts_scenario TCTI RESTART_FN
#   RESTART_FN stops the daemon by pid, starts it again on the same state
#   directory (with --flags not-need-init,startup-clear, so the new process
#   has run TPM2_Startup(CLEAR)) and returns once it accepts connections.
# The step functions (ts_nv_define_write, ts_nv_expect, ...) are also used on
# their own by other scenarios; they need TS_TCTI set.

TS_WORK="$T_DIR/tpm2"
mkdir -p "$TS_WORK"

# Owner-hierarchy NV index and persistent handle used by the scenario.
TS_NV_INDEX=0x01500016
TS_PERSISTENT=0x81000100

# ts_fail MSG: t_fail, after showing the end of the daemon's output and log
# (TS_DAEMON_LOG, set by the caller), which T_DIR's removal would lose.
ts_fail() {
  local f
  for f in "$T_DIR/bg.log" "${TS_DAEMON_LOG:-}"; do
    [ -s "$f" ] && tail -n 20 "$f" | sed "s|^|  $(basename "$f"): |" >&2
  done
  t_fail "$@"
}

# ts_tpm TOOL ARGS...: runs one tpm2-tools command against TS_TCTI, then
# flushes every transient object. Why: there is no resource manager between
# the tools and the TPM, each "-c file.ctx" is a TPM2_ContextLoad that the
# tool never flushes, and libtpms has only three object slots, so without
# the flush the third command fails with TPM_RC_OBJECT_MEMORY (0x902).
ts_tpm() {
  local tool=$1 rc
  shift
  "$tool" -T "$TS_TCTI" "$@"
  rc=$?
  tpm2_flushcontext -T "$TS_TCTI" -t || ts_fail "tpm2_flushcontext -t failed after $tool"
  return $rc
}

# ts_hex FILE: the file's bytes as one lowercase hex string.
ts_hex() { xxd -p "$1" | tr -d '\n'; }

# ts_size FILE: the file's size in bytes.
ts_size() { stat -c %s "$1"; }

ts_getrandom() {
  local a="$TS_WORK/rand.a" b="$TS_WORK/rand.b"
  ts_tpm tpm2_getrandom -o "$a" 32 || ts_fail "tpm2_getrandom failed"
  ts_tpm tpm2_getrandom -o "$b" 32 || ts_fail "second tpm2_getrandom failed"
  [ "$(ts_size "$a")" -eq 32 ] || ts_fail "getrandom returned $(ts_size "$a") bytes, want 32"
  [ "$(ts_size "$b")" -eq 32 ] || ts_fail "getrandom returned $(ts_size "$b") bytes, want 32"
  # Two equal 32-byte draws mean a constant source, not bad luck.
  ! cmp -s "$a" "$b" || ts_fail "two getrandom calls returned the same bytes"
}

# ts_pcr16_extend_check: resets the resettable PCR 16, checks it reads as
# zero, extends it with a known SHA-256 digest and checks the TPM's value
# against SHA-256(32 zero bytes || digest) computed here. Leaves PCR 16 at
# TS_PCR16_EXPECT for a later quote.
ts_pcr16_extend_check() {
  local digest out="$TS_WORK/pcr16.bin" zero
  digest=$(printf 'vtpm integration test' | sha256sum | cut -c1-64)
  zero=$(printf '%064d' 0)
  TS_PCR16_EXPECT=$({ head -c 32 /dev/zero; printf '%s' "$digest" | xxd -r -p; } |
    sha256sum | cut -c1-64)

  ts_tpm tpm2_pcrreset 16 || ts_fail "tpm2_pcrreset 16 failed"
  ts_tpm tpm2_pcrread -o "$out" sha256:16 >/dev/null || ts_fail "tpm2_pcrread failed"
  [ "$(ts_hex "$out")" = "$zero" ] || ts_fail "PCR16 after reset is $(ts_hex "$out"), want zero"

  ts_tpm tpm2_pcrextend "16:sha256=$digest" || ts_fail "tpm2_pcrextend failed"
  ts_tpm tpm2_pcrread -o "$out" sha256:16 >/dev/null || ts_fail "tpm2_pcrread failed"
  [ "$(ts_hex "$out")" = "$TS_PCR16_EXPECT" ] ||
    ts_fail "PCR16 is $(ts_hex "$out"), want $TS_PCR16_EXPECT"
}

# ts_pcr16_is_zero: after a restart with Startup(CLEAR) PCR 16 must be zero
# again; this also proves the restart really replaced the TPM process.
ts_pcr16_is_zero() {
  local out="$TS_WORK/pcr16.bin"
  ts_tpm tpm2_pcrread -o "$out" sha256:16 >/dev/null || ts_fail "tpm2_pcrread failed"
  [ "$(ts_hex "$out")" = "$(printf '%064d' 0)" ] ||
    ts_fail "PCR16 is $(ts_hex "$out") after restart, want zero (was the TPM restarted?)"
}

# ts_signing_key NAME PRIMARY_ALG KEY_ALG: an owner-hierarchy primary of
# PRIMARY_ALG and under it a loaded signing key of KEY_ALG, saved as
# TS_WORK/NAME.ctx.
ts_signing_key() {
  local n="$TS_WORK/$1"
  ts_tpm tpm2_createprimary -C o -G "$2" -c "$n.primary.ctx" >/dev/null ||
    ts_fail "tpm2_createprimary -G $2 failed"
  ts_tpm tpm2_create -C "$n.primary.ctx" -G "$3" -u "$n.pub" -r "$n.priv" >/dev/null ||
    ts_fail "tpm2_create -G $3 failed"
  ts_tpm tpm2_load -C "$n.primary.ctx" -u "$n.pub" -r "$n.priv" -c "$n.ctx" >/dev/null ||
    ts_fail "tpm2_load of the $3 key failed"
}

# ts_sign_verify NAME PRIMARY_ALG KEY_ALG: signs a message with a fresh key,
# the TPM verifies it, and a changed message must not verify.
ts_sign_verify() {
  local n="$TS_WORK/$1" msg="$TS_WORK/msg" bad="$TS_WORK/msg.bad"
  printf 'message signed by %s\n' "$3" >"$msg"
  printf 'message signed by %s!\n' "$3" >"$bad"
  ts_signing_key "$@"
  ts_tpm tpm2_sign -c "$n.ctx" -g sha256 -o "$n.sig" "$msg" || ts_fail "tpm2_sign ($3) failed"
  ts_tpm tpm2_verifysignature -c "$n.ctx" -g sha256 -m "$msg" -s "$n.sig" >/dev/null ||
    ts_fail "tpm2_verifysignature ($3) rejected a good signature"
  ! ts_tpm tpm2_verifysignature -c "$n.ctx" -g sha256 -m "$bad" -s "$n.sig" 2>/dev/null ||
    ts_fail "tpm2_verifysignature ($3) accepted a signature over another message"
}

# ts_nv_define_write INDEX SIZE: defines an owner NV index and writes SIZE
# fresh random bytes (from this side, not the TPM) kept in TS_WORK/nv.data.
ts_nv_define_write() {
  head -c "$2" /dev/urandom >"$TS_WORK/nv.data"
  ts_tpm tpm2_nvdefine -C o -s "$2" -a "ownerread|ownerwrite" "$1" >/dev/null ||
    ts_fail "tpm2_nvdefine $1 failed"
  ts_tpm tpm2_nvwrite -C o -i "$TS_WORK/nv.data" "$1" || ts_fail "tpm2_nvwrite $1 failed"
}

# ts_nv_expect INDEX: the index reads back exactly TS_WORK/nv.data.
ts_nv_expect() {
  local out="$TS_WORK/nv.read"
  ts_tpm tpm2_nvread -C o -s "$(ts_size "$TS_WORK/nv.data")" -o "$out" "$1" ||
    ts_fail "tpm2_nvread $1 failed"
  cmp -s "$out" "$TS_WORK/nv.data" ||
    ts_fail "NV $1 reads $(ts_hex "$out"), want $(ts_hex "$TS_WORK/nv.data")"
}

# ts_persistent_listed HANDLE: tpm2_getcap lists HANDLE as persistent.
ts_persistent_listed() {
  ts_tpm tpm2_getcap handles-persistent >"$TS_WORK/persistent.txt" ||
    ts_fail "tpm2_getcap handles-persistent failed"
  grep -qix -- "- $1" "$TS_WORK/persistent.txt"
}

# ts_quote: an EK and an AK made by tpm2_createak, a quote over PCR 16 with a
# nonce, which tpm2_checkquote accepts with that nonce, rejects with
# another, and whose PCR values carry the PCR 16 value computed here.
ts_quote() {
  local w="$TS_WORK" nonce=1122334455667788 pcrs_hex
  ts_pcr16_extend_check
  ts_tpm tpm2_createek -c "$w/ek.ctx" -G rsa -u "$w/ek.pub" || ts_fail "tpm2_createek failed"
  ts_tpm tpm2_createak -C "$w/ek.ctx" -c "$w/ak.ctx" -G rsa -g sha256 -s rsassa \
    -u "$w/ak.pem" -f pem -n "$w/ak.name" >/dev/null || ts_fail "tpm2_createak failed"
  ts_tpm tpm2_quote -c "$w/ak.ctx" -l sha256:16 -q "$nonce" -g sha256 \
    -m "$w/quote.msg" -s "$w/quote.sig" -o "$w/quote.pcrs" >/dev/null || ts_fail "tpm2_quote failed"
  # tpm2_checkquote needs no TPM: it verifies with the AK public key.
  tpm2_checkquote -u "$w/ak.pem" -g sha256 -q "$nonce" \
    -m "$w/quote.msg" -s "$w/quote.sig" -f "$w/quote.pcrs" >/dev/null ||
    ts_fail "tpm2_checkquote rejected the quote"
  ! tpm2_checkquote -u "$w/ak.pem" -g sha256 -q 1122334455667789 \
    -m "$w/quote.msg" -s "$w/quote.sig" -f "$w/quote.pcrs" >/dev/null 2>&1 ||
    ts_fail "tpm2_checkquote accepted the quote with a different nonce"
  pcrs_hex=$(ts_hex "$w/quote.pcrs")
  [[ $pcrs_hex == *"$TS_PCR16_EXPECT"* ]] ||
    ts_fail "quoted PCR values do not contain PCR16 = $TS_PCR16_EXPECT"
}

ts_scenario() {
  TS_TCTI=$1
  local restart=$2 w="$TS_WORK" msg="$TS_WORK/msg"

  t_log "getrandom"
  ts_getrandom

  t_log "PCR 16 reset, extend, read"
  ts_pcr16_extend_check

  t_log "RSA-2048 and ECC P-256 primaries, signing keys, sign, verify"
  ts_sign_verify rsa rsa2048 rsa2048:rsassa-sha256
  ts_sign_verify ecc ecc256 ecc256:ecdsa-sha256

  t_log "NV index survives a restart"
  ts_nv_define_write "$TS_NV_INDEX" 24
  ts_nv_expect "$TS_NV_INDEX"
  "$restart" || ts_fail "restart failed"
  ts_pcr16_is_zero
  ts_nv_expect "$TS_NV_INDEX"

  t_log "persistent key survives a restart"
  ! ts_persistent_listed "$TS_PERSISTENT" || ts_fail "$TS_PERSISTENT listed before evictcontrol"
  ts_signing_key persist ecc256 ecc256:ecdsa-sha256
  ts_tpm tpm2_evictcontrol -C o -c "$w/persist.ctx" "$TS_PERSISTENT" >/dev/null ||
    ts_fail "tpm2_evictcontrol to $TS_PERSISTENT failed"
  # Keep the public key outside the TPM so that after the restart a
  # signature is checked by OpenSSL, not by the TPM agreeing with itself.
  ts_tpm tpm2_readpublic -c "$TS_PERSISTENT" -f pem -o "$w/persist.pem" >/dev/null ||
    ts_fail "tpm2_readpublic $TS_PERSISTENT failed"
  "$restart" || ts_fail "restart failed"
  ts_pcr16_is_zero
  ts_persistent_listed "$TS_PERSISTENT" || ts_fail "$TS_PERSISTENT not listed after restart"
  printf 'signed by a persistent key\n' >"$msg"
  ts_tpm tpm2_sign -c "$TS_PERSISTENT" -g sha256 -f plain -o "$w/persist.sig" "$msg" ||
    ts_fail "tpm2_sign with $TS_PERSISTENT failed after restart"
  openssl dgst -sha256 -verify "$w/persist.pem" -signature "$w/persist.sig" "$msg" >/dev/null ||
    ts_fail "signature by $TS_PERSISTENT does not verify with its pre-restart public key"

  t_log "quote and checkquote"
  ts_quote
}
