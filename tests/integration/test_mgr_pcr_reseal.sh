#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The root secret is sealed to the hardware TPM's PCRs (default selection
# sha256:0,2,4,7). An unapproved change of PCR 7 makes the manager refuse to
# start with exit status 3, its log naming sha256:7, nothing changed on
# disk. An approved change works: with the manager running, vtpmctl reseal
# 7=<value computed here> writes root.next.seal; after the extend the
# manager starts, promotes it to root.seal, and the vTPM's NV data is still
# readable; the configuration before the change is then refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

m_setup
[ "$(m_status pcrs)" = "sha256:0,2,4,7" ] || m_fail "default PCR selection is $(m_status pcrs)"
ts_nv_define_write "$TS_NV_INDEX" 24

# hw_pcr7: PCR 7 of the stand-in hardware TPM, hex.
hw_pcr7() {
  m_hw tpm2_pcrread -o "$T_DIR/pcr7.bin" sha256:7 >/dev/null || m_fail "tpm2_pcrread on the hardware TPM failed"
  ts_hex "$T_DIR/pcr7.bin"
}
# extend_of OLD DIGEST: SHA-256(OLD || DIGEST), the PCR after an extend.
extend_of() { printf '%s%s' "$1" "$2" | xxd -r -p | sha256sum | cut -c1-64; }
fingerprint() { (cd "$M_DATA" && ls -A | grep -v '^store\.db-shm$' | xargs -r sha256sum 2>/dev/null; ls -A); }

# refused_pcr7 WHY: the manager exits 3 naming sha256:7 only; nothing on disk changes.
refused_pcr7() {
  local lines before line
  lines=$(m_log_lines)
  before=$(fingerprint)
  m_mgr_refused
  [ "$M_MGR_RC" -eq 3 ] || m_fail "$1: manager exited $M_MGR_RC, want 3: $(m_log_since "$lines")"
  line=$(m_log_since "$lines" | grep -m1 "PCRs differ") ||
    m_fail "$1: the log does not say the PCRs differ: $(m_log_since "$lines")"
  [[ $line == *"configuration: sha256:7;"* ]] || m_fail "$1: the log does not name sha256:7 alone: $line"
  [ "$(fingerprint)" = "$before" ] || m_fail "$1: the data directory changed"
  t_log "ok $1: exit 3: ${line##*vtpmmgr error: }"
}

ts_pcr16_extend_check	# the vTPM's own PCR, to tell restarts apart
m_mgr_stop
zero=$(printf '%064d' 0)
[ "$(hw_pcr7)" = "$zero" ] || m_fail "stand-in PCR 7 is $(hw_pcr7) at the start, want zero"

t_log "unapproved change of PCR 7"
bad=$(printf 'unapproved boot component' | sha256sum | cut -c1-64)
m_hw tpm2_pcrextend "7:sha256=$bad" || m_fail "tpm2_pcrextend on the hardware TPM failed"
[ "$(hw_pcr7)" = "$(extend_of "$zero" "$bad")" ] || m_fail "hardware PCR 7 is not the value computed here"
refused_pcr7 "PCR 7 extended without approval"
[ ! -e "$M_DATA/root.next.seal" ] || m_fail "root.next.seal appeared"

t_log "reboot of the platform (PCRs back to the sealed values): starts"
m_hw_restart
m_mgr_start
m_vtpm_wait "$M_UUID"
ts_pcr16_is_zero
ts_nv_expect "$TS_NV_INDEX"

t_log "approved change: reseal 7=<expected>, extend, start"
m_ctl reseal 8="$zero" >/dev/null 2>&1 && m_fail "reseal of PCR 8, outside the selection, accepted"
m_ctl reseal 7=zz >/dev/null 2>&1 && m_fail "reseal with a malformed value accepted"
[ ! -e "$M_DATA/root.next.seal" ] || m_fail "a refused reseal wrote root.next.seal"
good=$(printf 'approved boot component update' | sha256sum | cut -c1-64)
now=$(hw_pcr7)
expect=$(extend_of "$now" "$good")
out=$(m_ctl reseal "7=$expect") || m_fail "vtpmctl reseal 7=$expect failed: $out"
[ -s "$M_DATA/root.next.seal" ] || m_fail "vtpmctl reseal wrote no root.next.seal"
next_hash=$(sha256sum <"$M_DATA/root.next.seal")
cur_hash=$(sha256sum <"$M_DATA/root.seal")
m_mgr_stop
m_hw tpm2_pcrextend "7:sha256=$good" || m_fail "tpm2_pcrextend on the hardware TPM failed"
[ "$(hw_pcr7)" = "$expect" ] || m_fail "hardware PCR 7 is $(hw_pcr7), computed $expect"
lines=$(m_log_lines)
m_mgr_start
m_log_since "$lines" | grep -q "approved next configuration is in effect" ||
  m_fail "the log does not say the approved configuration took effect: $(m_log_since "$lines")"
[ ! -e "$M_DATA/root.next.seal" ] || m_fail "root.next.seal still there after its promotion"
[ "$(sha256sum <"$M_DATA/root.seal")" = "$next_hash" ] || m_fail "root.seal is not the approved seal"
[ "$next_hash" != "$cur_hash" ] || m_fail "the approved seal equals the old one"
m_vtpm_wait "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"

t_log "the configuration before the change is refused now"
m_mgr_stop
m_hw_restart
refused_pcr7 "PCR 7 back at its value before the approved change"

t_log "the approved configuration again: starts, NV data there"
m_hw tpm2_pcrextend "7:sha256=$good" || m_fail "tpm2_pcrextend on the hardware TPM failed"
m_mgr_start
m_vtpm_wait "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"
m_mgr_stop
m_done
