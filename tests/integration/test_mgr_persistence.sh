#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A vTPM under vtpmmgr keeps its NV index and persistent key across a
# restart of the vtpm (vtpmctl stop/start) and across a restart of the
# manager (SIGTERM, start again: the vTPM flagged autostart comes back on
# its own). Starting a vTPM issues no hardware TPM command of its own beyond
# the NV counter step of each store commit it causes (the state libtpms
# writes at TPM2_Startup): measured through vtpmctl status.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

m_setup
w=$TS_WORK

t_log "NV index and persistent key written"
ts_nv_define_write "$TS_NV_INDEX" 24
ts_nv_expect "$TS_NV_INDEX"
! ts_persistent_listed "$TS_PERSISTENT" || m_fail "$TS_PERSISTENT listed before evictcontrol"
ts_signing_key persist ecc256 ecc256:ecdsa-sha256
ts_tpm tpm2_evictcontrol -C o -c "$w/persist.ctx" "$TS_PERSISTENT" >/dev/null ||
  m_fail "tpm2_evictcontrol to $TS_PERSISTENT failed"
ts_tpm tpm2_readpublic -c "$TS_PERSISTENT" -f pem -o "$w/persist.pem" >/dev/null ||
  m_fail "tpm2_readpublic $TS_PERSISTENT failed"

# check_all WHEN: NV bytes, the persistent handle, and a signature by it
# that OpenSSL verifies with the public key read before any restart.
check_all() {
  ts_pcr16_is_zero
  ts_nv_expect "$TS_NV_INDEX"
  ts_persistent_listed "$TS_PERSISTENT" || m_fail "$TS_PERSISTENT not listed $1"
  printf 'signed %s\n' "$1" >"$w/msg"
  ts_tpm tpm2_sign -c "$TS_PERSISTENT" -g sha256 -f plain -o "$w/persist.sig" "$w/msg" ||
    m_fail "tpm2_sign with $TS_PERSISTENT failed $1"
  openssl dgst -sha256 -verify "$w/persist.pem" -signature "$w/persist.sig" "$w/msg" >/dev/null ||
    m_fail "signature by $TS_PERSISTENT $1 does not verify with its earlier public key"
}

# Mark PCR 16 so that ts_pcr16_is_zero proves each restart made a new TPM.
ts_pcr16_extend_check

t_log "vtpm restarted through vtpmctl stop/start"
old=$M_VTPM_PID
m_vtpm_stop "$M_UUID"
m_dead "$old" || m_fail "vtpm pid $old still alive after vtpmctl stop"
m_vtpm_start "$M_UUID"
[ "$M_VTPM_PID" != "$old" ] || m_fail "vtpm pid unchanged after stop/start"
check_all "after vtpmctl stop/start"
ts_pcr16_extend_check

t_log "manager restarted (SIGTERM), the vTPM comes back through autostart"
old=$M_VTPM_PID
m_mgr_stop
m_dead "$old" || m_fail "vtpm pid $old outlived the manager's SIGTERM"
m_mgr_start
m_vtpm_wait "$M_UUID"
[ "$(m_ctl --json show "$M_UUID" | m_py "d['vtpm']['autostart']")" = True ] ||
  m_fail "autostart flag lost across the manager restart"
check_all "after a manager restart"

t_log "hardware TPM commands per vTPM start"
# per commit: the counter step of one store commit, measured on NV writes
v0=$(m_status store_version) h0=$(m_status hw_commands)
for i in 1 2 3; do
  head -c 24 /dev/urandom >"$w/nv.data"
  ts_tpm tpm2_nvwrite -C o -i "$w/nv.data" "$TS_NV_INDEX" || m_fail "tpm2_nvwrite failed"
done
v1=$(m_status store_version) h1=$(m_status hw_commands)
[ $((v1 - v0)) -ge 3 ] || m_fail "3 NV writes moved the store version by $((v1 - v0)), want >= 3"
[ $(((h1 - h0) % (v1 - v0))) -eq 0 ] ||
  m_fail "$((h1 - h0)) hardware commands for $((v1 - v0)) store commits: not a whole number per commit"
per=$(((h1 - h0) / (v1 - v0)))
[ "$per" -ge 1 ] || m_fail "store commits cost no hardware command: is the counter stepped at all?"
t_log "one store commit (the NV counter step): $per hardware TPM commands"

m_vtpm_stop "$M_UUID"
v2=$(m_status store_version) h2=$(m_status hw_commands)
t_log "vtpmctl stop: $((h2 - h1)) hardware commands, $((v2 - v1)) store commits"
m_vtpm_start "$M_UUID"
v3=$(m_status store_version) h3=$(m_status hw_commands)
t_log "vtpmctl start: $((h3 - h2)) hardware commands, $((v3 - v2)) store commits"
[ $((h3 - h2)) -eq $((per * (v3 - v2))) ] ||
  m_fail "starting a vTPM sent $((h3 - h2)) hardware TPM commands for $((v3 - v2)) store" \
    "commits; want $((per * (v3 - v2))): the start itself uses the hardware TPM"

# A start with the autostart flag already set: a vtpm that died (kill -9)
kill -KILL "$M_VTPM_PID"
t_wait_for m_vtpm_stopped "$M_UUID" || m_fail "manager still reports the killed vtpm running"
v4=$(m_status store_version) h4=$(m_status hw_commands)
m_vtpm_start "$M_UUID"
v5=$(m_status store_version) h5=$(m_status hw_commands)
t_log "vtpmctl start, autostart already set: $((h5 - h4)) hardware commands," \
  "$((v5 - v4)) store commits"
[ $((h5 - h4)) -eq $((per * (v5 - v4))) ] ||
  m_fail "restarting a vTPM sent $((h5 - h4)) hardware TPM commands for $((v5 - v4))" \
    "store commits; want $((per * (v5 - v4)))"
ts_nv_expect "$TS_NV_INDEX"

m_mgr_stop
m_done
