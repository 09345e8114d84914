#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# No silent re-manufacture. With store.db deleted the manager refuses to
# start and names the vTPM state directories its store does not know,
# touching none of them; the store put back, the vTPM and its NV data are
# all there. A state directory unknown to an intact store is refused the
# same way. With the directories moved away, a missing store while the
# TPM's NV counter is in use is still refused (the store was deleted) until
# the operator says --new-store.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"

m_setup
ts_nv_define_write "$TS_NV_INDEX" 16
m_mgr_stop
dir=$(m_state_dir "$M_UUID")
mkdir -p "$T_DIR/saved" && cp -p "$M_DATA"/store.db* "$T_DIR/saved/" || m_fail "cannot copy the store"
before=$(cd "$dir" && sha256sum * | sort)

t_log "store.db deleted: refused, the state directory named"
rm -f "$M_DATA"/store.db*
lines=$(m_log_lines)
m_mgr_refused
m_log_since "$lines" | grep -q "$dir" ||
  m_late "the refusal does not name $dir: $(m_log_since "$lines" | tail -n 3)"
[ "$(cd "$dir" && sha256sum * | sort)" = "$before" ] || m_late "the state directory changed"
[ ! -e "$M_DATA/store.db" ] || m_late "a refused start left a new store.db"

t_log "the store put back: the vTPM and its data are there"
cp -p "$T_DIR/saved"/* "$M_DATA/"
m_mgr_start
m_vtpm_wait "$M_UUID"	# autostart
ts_nv_expect "$TS_NV_INDEX"
m_mgr_stop

t_log "a state directory the store does not know: refused, named"
stray="$M_DATA/vtpm/$(cat /proc/sys/kernel/random/uuid)"
mkdir "$stray" && echo x >"$stray/tpm2-permall.0"
lines=$(m_log_lines)
m_mgr_refused
m_log_since "$lines" | grep -q "$stray" ||
  m_late "the refusal does not name $stray: $(m_log_since "$lines" | tail -n 3)"
rm -rf "$stray"

t_log "store.db deleted, directories moved away: refused until --new-store"
rm -f "$M_DATA"/store.db*
mv "$dir" "$T_DIR/moved"
lines=$(m_log_lines)
m_mgr_refused
m_log_since "$lines" | grep -q "new-store" ||
  m_late "the refusal does not name --new-store: $(m_log_since "$lines" | tail -n 3)"
m_mgr_start --new-store
[ "$(m_status vtpms)" = 0 ] || m_late "the new store is not empty: $(m_ctl --json status)"
m_mgr_stop
m_done
