#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The manager's NV counter belongs to the manager. A local process with
# owner authorization on the hardware TPM (tpm2-tools on the stand-in's
# port, empty owner auth) cannot advance it: tpm2_nvincrement -C o is
# refused, and the manager still starts. A counter an older manager
# defined (owner-writable) is defined again, protected, at the next start,
# with the store and its vTPM intact. The owner can still undefine the
# counter; the manager then refuses, says the counter is ahead of the
# store and how to recover, and --adopt-counter with the value it named
# brings it back with every vTPM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

CTR=0x01500110		# the manager's default counter index
hw_counter() {
  m_hw tpm2_nvread -C o -s 8 -o "$T_DIR/ctr.bin" "$CTR" 2>/dev/null &&
    echo $((16#$(xxd -p "$T_DIR/ctr.bin")))
}

t_log "a counter an older manager defined (owner-writable) is taken over"
m_hw_start
m_hw tpm2_nvdefine -C o -s 8 -a "nt=counter|ownerread|ownerwrite|no_da" "$CTR" >/dev/null ||
  m_fail "cannot define an owner-writable counter on the stand-in"
m_hw tpm2_nvincrement -C o "$CTR" || m_fail "cannot increment the owner-writable counter"
m_mgr_start --new-store	# a counter in use and no store: the operator says begin one
m_create
m_vtpm_start "$M_UUID"
ts_nv_define_write "$TS_NV_INDEX" 16
m_hw tpm2_nvreadpublic "$CTR" >"$T_DIR/pub.txt" || m_fail "tpm2_nvreadpublic failed"
grep -q authwrite "$T_DIR/pub.txt" && ! grep -q ownerwrite "$T_DIR/pub.txt" ||
  m_late "the counter was not re-created writable only by its own auth: $(grep -A3 attributes "$T_DIR/pub.txt" | tr '\n' ' ')"

t_log "tpm2_nvincrement with owner authorization is refused"
before=$(hw_counter)
if m_hw tpm2_nvincrement -C o "$CTR" 2>/dev/null; then
  m_late "tpm2_nvincrement -C o advanced the manager's counter"
fi
[ "$(hw_counter)" = "$before" ] || m_late "the counter moved from $before to $(hw_counter)"
m_mgr_stop
m_mgr_start
m_vtpm_wait "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"
m_mgr_stop

t_log "the counter undefined by the owner: refused, named; --adopt-counter recovers"
m_hw tpm2_nvundefine -C o "$CTR" || m_fail "tpm2_nvundefine failed"
lines=$(m_log_lines)
m_mgr_refused
m_log_since "$lines" | grep -q "counter is ahead of the store" ||
  m_late "the refusal does not say the counter is ahead: $(m_log_since "$lines" | tail -n 2)"
value=$(m_log_since "$lines" | grep -o -- '--adopt-counter [0-9]*' | head -n 1 | cut -d' ' -f2)
[ -n "$value" ] || m_fail "the refusal names no --adopt-counter value: $(m_log_since "$lines" | tail -n 2)"
m_mgr_refused --adopt-counter $((value + 1))	# a value not confirmed is no confirmation
m_mgr_start --adopt-counter "$value"
m_vtpm_wait "$M_UUID"
ts_nv_expect "$TS_NV_INDEX"
m_mgr_stop
m_mgr_start
m_vtpm_wait "$M_UUID"
m_mgr_stop
m_done
