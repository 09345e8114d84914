#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The largest packets over the tpmif ring, through libtpmfront. The ring
# has one extra page, so a 4096-byte TPM 2.0 command fits (Xen's one-page
# rings stop at 4088). First with tpm2-tools, through the TCTI by its short
# name "tpmfront" (tctildr finds libtss2-tcti-tpmfront.so.0 on
# LD_LIBRARY_PATH; in a sanitizer build by that soname, see tpmfront.sh):
# an NV index of two TPM2_PT_NV_BUFFER_MAX chunks written and read back, so
# each NV_Write and NV_Read carries a full chunk. Then
# tpmfront_probe with raw commands: the full chunk again with its sizes
# measured, an NV_Write of exactly 4096 bytes that libtpms must parse (its
# data field is over the chunk limit, so TPM_RC_SIZE on parameter 1, not
# the TPM_RC_COMMAND_SIZE a transport refusal gives), 4097 bytes refused by
# libtpmfront before anything is sent, and the largest valid packets
# libtpms makes: the context of an RSA-3072 primary, saved and loaded back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tpmfront.sh"

NV_TOOLS=0x01500030
NV_PROBE=0x01500031
tf_need_tools
tf_need_probe
tf_start || tf_fail "$VTPM did not listen on $TF_SOCK"
export LD_LIBRARY_PATH="$BUILD${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
tcti=$TF_TCTI_SHORT
t_log "tpm2-tools through -T ${tcti%%:*}"

# prop NAME: a fixed TPM property from tpm2_getcap, in decimal
prop() {
  local raw
  raw=$(awk -v p="$1:" '$1 == p { getline; print $2; exit }' "$T_DIR/fixed.txt")
  [[ $raw =~ ^0x[0-9a-fA-F]+$ ]] && echo $((raw))
}
tpm2_getcap -T "$tcti" properties-fixed >"$T_DIR/fixed.txt" ||
  tf_fail "tpm2_getcap properties-fixed through -T $tcti failed"
nvmax=$(prop TPM2_PT_NV_BUFFER_MAX)
idxmax=$(prop TPM2_PT_NV_INDEX_MAX)
t_log "TPM2_PT_NV_BUFFER_MAX $nvmax, TPM2_PT_NV_INDEX_MAX $idxmax," \
  "TPM2_PT_MAX_COMMAND_SIZE $(prop TPM2_PT_MAX_COMMAND_SIZE)," \
  "TPM2_PT_MAX_RESPONSE_SIZE $(prop TPM2_PT_MAX_RESPONSE_SIZE)"
[ "${nvmax:-0}" -gt 0 ] && [ "${idxmax:-0}" -ge $((2 * nvmax)) ] ||
  tf_fail "unusable NV limits: buffer '$nvmax', index '$idxmax'"

size=$((2 * nvmax))
head -c "$size" /dev/urandom >"$T_DIR/nv.data"
tpm2_nvdefine -T "$tcti" -C o -s "$size" -a "ownerread|ownerwrite" "$NV_TOOLS" >/dev/null ||
  tf_fail "tpm2_nvdefine $NV_TOOLS ($size bytes) failed"
tpm2_nvwrite -T "$tcti" -C o -i "$T_DIR/nv.data" "$NV_TOOLS" ||
  tf_fail "tpm2_nvwrite of $size bytes (two $nvmax-byte chunks) failed"
tpm2_nvread -T "$tcti" -C o -s "$size" -o "$T_DIR/nv.read" "$NV_TOOLS" ||
  tf_fail "tpm2_nvread of $size bytes failed"
cmp -s "$T_DIR/nv.data" "$T_DIR/nv.read" || tf_fail "NV $NV_TOOLS reads back other bytes"
t_log "tpm2-tools wrote and read $size bytes in $nvmax-byte chunks"

tpm2_nvdefine -T "$tcti" -C o -s "$nvmax" -a "ownerread|ownerwrite" "$NV_PROBE" >/dev/null ||
  tf_fail "tpm2_nvdefine $NV_PROBE failed"
"$TF_PROBE" max "$TF_SOCK" "$NV_PROBE" >"$T_DIR/max.out" ||
  { sed 's/^/  probe: /' "$T_DIR/max.out" >&2; tf_fail "tpmfront_probe max failed"; }
sed "s/^/  $T_NAME: /" "$T_DIR/max.out" >&2
grep -qx "nv_write_max cmd $((nvmax + 35)) rsp 19 rc 0x000" "$T_DIR/max.out" ||
  tf_fail "the full-chunk NV_Write was not $((nvmax + 35)) bytes"
grep -qx "nv_write_4096 cmd 4096 rsp 10 rc 0x1d5" "$T_DIR/max.out" ||
  tf_fail "no TPM_RC_SIZE answer to a 4096-byte NV_Write"

# the vtpm lives on, still holds the data, and still answers the tools
tf_alive || tf_fail "vtpm exited"
tpm2_nvread -T "$tcti" -C o -s "$size" -o "$T_DIR/nv.read" "$NV_TOOLS" &&
  cmp -s "$T_DIR/nv.data" "$T_DIR/nv.read" || tf_fail "NV $NV_TOOLS changed"
