#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The manager's store against rollback: an older store.db put back (a clean
# copy taken with the manager stopped, and a copy of store.db with its live
# WAL taken while the manager ran) makes the manager refuse to start,
# non-zero, its log naming the older copy and the TPM counter, the files
# put back left byte-identical; with the current store back it starts and
# every vTPM and its newest NV bytes are there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mgr.sh"
command -v sqlite3 >/dev/null || t_skip "sqlite3 (to compare the store's rows) is not installed"

m_setup
first=$M_UUID
first_tcti=$TS_TCTI
ts_nv_define_write "$TS_NV_INDEX" 24

# store_files: the store's files as they are now (store.db, -wal, -shm).
store_files() { (cd "$M_DATA" && ls -A | grep '^store\.db' | tr '\n' ' '); }
# copy_store DEST: every store file to DEST.
copy_store() {
  rm -rf "$1" && mkdir -p "$1" && (cd "$M_DATA" && cp -p store.db* "$1"/) || m_fail "cannot copy the store"
}
# put_store SRC: the store's files become exactly those in SRC.
put_store() { rm -f "$M_DATA"/store.db* && cp -p "$1"/* "$M_DATA"/ || m_fail "cannot put $1 back"; }

# more_changes: another vTPM and NV writes on the first one.
more_changes() {
  local keep=$M_UUID
  m_create
  t_log "created vTPM $M_UUID"
  M_UUID=$keep TS_TCTI=$first_tcti
  for i in 1 2; do
    head -c 24 /dev/urandom >"$TS_WORK/nv.data"
    ts_tpm tpm2_nvwrite -C o -i "$TS_WORK/nv.data" "$TS_NV_INDEX" || m_fail "tpm2_nvwrite failed"
  done
}

# store_bytes: names and SHA-256 of store.db and its WAL. The -shm file is
# left out: it is an index SQLite may rebuild on any open, even a reader's.
store_bytes() { (cd "$M_DATA" && ls -A | grep -E '^store\.db(-wal)?$' | xargs sha256sum); }
# store_dump: the store's rows, read from a copy so the files are not touched.
store_dump() {
  rm -rf "$T_DIR/dump" && copy_store "$T_DIR/dump" && sqlite3 "$T_DIR/dump/store.db" .dump
}

# refused WHAT: the manager refuses the store put back and changes nothing:
# neither the rows nor the bytes of store.db and its WAL (vtpmmgr(8):
# the old data left untouched).
refused() {
  local lines before dump
  lines=$(m_log_lines)
  before=$(store_bytes)
  dump=$(store_dump)
  m_mgr_refused
  m_log_since "$lines" | grep -q "older copy" ||
    m_fail "$1: the log does not mention an older copy: $(m_log_since "$lines")"
  m_log_since "$lines" | grep -q "counter" ||
    m_fail "$1: the log does not mention the TPM counter: $(m_log_since "$lines")"
  [ "$(store_dump)" = "$dump" ] || m_fail "$1: the refused start changed the store's rows"
  [ "$(store_bytes)" = "$before" ] ||
    m_late "$1: the refused start changed the store's files (rows unchanged): was" \
      "[$(echo $before)], now [$(echo $(store_bytes))]"
  t_log "ok $1: exit $M_MGR_RC: $(m_log_since "$lines" | grep -m1 'older copy' | sed 's/.*store: //')"
}

t_log "clean copy, manager stopped"
m_mgr_stop
t_log "store files with the manager stopped: $(store_files)"
[ "$(store_files)" = "store.db " ] ||
  m_fail "store files after a clean stop are '$(store_files)': the WAL was not checkpointed"
copy_store "$T_DIR/old"
m_mgr_start
m_vtpm_wait "$first"
more_changes
m_mgr_stop
copy_store "$T_DIR/good"
put_store "$T_DIR/old"
refused "clean older copy"

t_log "live copy with its WAL, manager running"
put_store "$T_DIR/good"
m_mgr_start
m_vtpm_wait "$first"
t_log "store files while running: $(store_files)"
copy_store "$T_DIR/live"
more_changes
m_mgr_stop
copy_store "$T_DIR/good"
put_store "$T_DIR/live"
refused "live copy with its WAL"

t_log "current store back: starts, every vTPM and the newest NV bytes there"
put_store "$T_DIR/good"
m_mgr_start
m_vtpm_wait "$first"
TS_TCTI=$first_tcti
ts_nv_expect "$TS_NV_INDEX"
n=$(m_ctl --json list | m_py "len(d['vtpms'])")
[ "$n" -eq 3 ] || m_fail "the store lists $n vTPMs, want 3"
m_mgr_stop
m_done
