#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A counter step the hardware TPM refuses, without a crash. The stand-in
# TPM is stopped (swtpm_ioctl --stop: every command fails) while a vTPM
# write is recorded: the write is acknowledged (the store kept it and a
# restart accepts it) and the NV counter is one step behind. Once the TPM
# runs again (TPM_Init, TPM2_Startup), the manager must catch the counter
# up by itself, without waiting for another change that may be hours away:
# until then an older store.db put back would be accepted (vtpmmgr(8),
# ROLLBACK WINDOW). Afterwards that older store is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

INDEX=0x01500022
CTR=0x01500110		# the manager's default counter index

m_setup
tcti=$TS_TCTI
tpm2_nvdefine -T "$tcti" -C o -s 8 -a "ownerread|ownerwrite" "$INDEX" >/dev/null ||
  m_fail "tpm2_nvdefine $INDEX failed"
printf 'old-data' >"$T_DIR/old.bin"
printf 'new-data' >"$T_DIR/new.bin"
tpm2_nvwrite -T "$tcti" -C o -i "$T_DIR/old.bin" "$INDEX" || m_fail "first tpm2_nvwrite failed"

# hw_counter: the NV counter's value on the stand-in, in decimal.
hw_counter() {
  m_hw tpm2_nvread -C o -s 8 -o "$T_DIR/ctr.bin" "$CTR" 2>/dev/null &&
    echo $((16#$(xxd -p "$T_DIR/ctr.bin")))
}
in_step() { [ "$(hw_counter)" = "$(m_status store_version)" ]; }

in_step || m_fail "counter $(hw_counter) and store version $(m_status store_version) differ at the start"
mkdir -p "$T_DIR/older" && cp -p "$M_DATA"/store.db* "$T_DIR/older/"
v=$(m_status store_version)

t_log "the stand-in TPM stopped: a vTPM write is recorded, its counter step refused"
swtpm_ioctl --tcp "127.0.0.1:$((M_HW_PORT + 1))" --stop || m_fail "swtpm_ioctl --stop failed"
tpm2_nvwrite -T "$tcti" -C o -i "$T_DIR/new.bin" "$INDEX" ||
  m_fail "tpm2_nvwrite failed (the store kept it: it must be reported done)"
[ "$(m_status store_version)" = $((v + 1)) ] ||
  m_fail "store version $(m_status store_version) after the write, want $((v + 1))"

t_log "the stand-in TPM runs again: the counter catches up with no further change"
swtpm_ioctl --tcp "127.0.0.1:$((M_HW_PORT + 1))" -i || m_fail "swtpm_ioctl -i failed"
m_hw tpm2_startup -c || m_fail "tpm2_startup on the stand-in failed"
for _ in $(seq 300); do in_step && break; sleep 0.1; done
in_step || m_late "30 s after the TPM came back the counter is $(hw_counter), the store" \
  "$(m_status store_version): the rollback window stays open until the next change"
tpm2_nvread -T "$tcti" -C o -s 8 -o "$T_DIR/r.bin" "$INDEX" && cmp -s "$T_DIR/r.bin" "$T_DIR/new.bin" ||
  m_late "the vTPM does not read back the acknowledged write"

t_log "the store before that write, put back, is refused"
m_mgr_stop
mkdir -p "$T_DIR/current" && cp -p "$M_DATA"/store.db* "$T_DIR/current/"
rm -f "$M_DATA"/store.db* && cp -p "$T_DIR/older"/* "$M_DATA/"
m_mgr_launch
[ -n "$M_MGR_RC" ] || { m_late "the older store was accepted"; m_mgr_stop; }
rm -f "$M_DATA"/store.db* && cp -p "$T_DIR/current"/* "$M_DATA/"
m_mgr_start
m_vtpm_wait "$M_UUID"
tpm2_nvread -T "$tcti" -C o -s 8 -o "$T_DIR/r.bin" "$INDEX" && cmp -s "$T_DIR/r.bin" "$T_DIR/new.bin" ||
  m_late "after a restart the vTPM does not read back the acknowledged write"
m_mgr_stop
m_done
