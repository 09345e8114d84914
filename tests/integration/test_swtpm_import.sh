#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A state directory written by swtpm (plain tpm2-00.permall) starts the same
# TPM under vtpm: the owner primary key made from the same seed has the same
# name, and an NV index swtpm wrote reads back. vtpm's own file then takes over.
. "$(dirname "$0")/lib.sh"
command -v swtpm >/dev/null || t_skip "swtpm is not installed"

start() { # BIN DIR SOCK
  t_bg "$1" socket --tpm2 --tpmstate dir="$2" --server type=unixio,path="$3" \
    --ctrl type=unixio,path="$3.ctrl" --flags not-need-init,startup-clear
  t_wait_for t_unix_listening "$3" || t_fail "$1 did not start"
}
primary_name() { # TCTI OUT
  tpm2_createprimary -T "$1" -Q -C o -G ecc -c "$T_DIR/p.ctx" || t_fail "createprimary via $1"
  tpm2_readpublic -T "$1" -Q -c "$T_DIR/p.ctx" -n "$2" || t_fail "readpublic via $1"
  tpm2_flushcontext -T "$1" -t
}

mkdir -p "$T_DIR/sw" "$T_DIR/vt"
start swtpm "$T_DIR/sw" "$T_DIR/sw.sock"
sw_pid=$T_LAST_PID
primary_name "swtpm:path=$T_DIR/sw.sock" "$T_DIR/sw.name"
printf 'written by swtpm.' > "$T_DIR/data"
tpm2_nvdefine -T "swtpm:path=$T_DIR/sw.sock" -Q 0x1500020 -C o -s 17 -a "ownerread|ownerwrite" || t_fail nvdefine
tpm2_nvwrite -T "swtpm:path=$T_DIR/sw.sock" -Q 0x1500020 -C o -i "$T_DIR/data" || t_fail nvwrite
t_stop "$sw_pid"

cp "$T_DIR/sw/tpm2-00.permall" "$T_DIR/vt/"
start "$VTPM" "$T_DIR/vt" "$T_DIR/vt.sock"
vt_pid=$T_LAST_PID
primary_name "swtpm:path=$T_DIR/vt.sock" "$T_DIR/vt.name"
cmp -s "$T_DIR/sw.name" "$T_DIR/vt.name" || t_fail "vtpm did not start swtpm's TPM (primary names differ)"
tpm2_nvread -T "swtpm:path=$T_DIR/vt.sock" 0x1500020 -C o -s 17 -o "$T_DIR/back" || t_fail nvread
cmp -s "$T_DIR/data" "$T_DIR/back" || t_fail "NV index written by swtpm reads back differently"
t_stop "$vt_pid"
[ -s "$T_DIR/vt/tpm2-permall" ] || t_fail "vtpm did not write its own state file"

# an encrypted or corrupt swtpm file is refused, not replaced by a fresh TPM
rm -f "$T_DIR/vt/tpm2-permall"
printf '\x02\x01\x00\x0a\x00\x01\x00\x00\x00\x10garbage' > "$T_DIR/vt/tpm2-00.permall"
before=$(sha256sum < "$T_DIR/vt/tpm2-00.permall")
if "$VTPM" socket --tpm2 --tpmstate dir="$T_DIR/vt" --server type=unixio,path="$T_DIR/x.sock" \
    --flags not-need-init,startup-clear --log file="$T_DIR/x.log" & then
  x_pid=$!; T_PIDS+=("$x_pid")
  wait "$x_pid"; rc=$?
fi
[ "$rc" -ne 0 ] || t_fail "vtpm started on an encrypted swtpm state file"
[ "$before" = "$(sha256sum < "$T_DIR/vt/tpm2-00.permall")" ] || t_fail "the refused file was changed"
[ ! -e "$T_DIR/vt/tpm2-permall" ] || t_fail "a fresh state was written over a refused one"
grep -q "tpm2-00.permall" "$T_DIR/x.log" || t_fail "the error does not name the file"
t_log "swtpm state imported; encrypted file refused and left alone"
