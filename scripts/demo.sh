#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `make demo`: the host system in a temporary directory. Starts vtpmmgr
# with a software stand-in for the hardware TPM, creates two vTPMs, shows
# they are independent TPMs, uses them with tpm2-tools (PCRs, sealing),
# restarts everything, shows the data survived, and cleans up.
# Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
dir=$(mktemp -d /tmp/vtpm-demo.XXXXXX)
mgr_pid=
cleanup() {
  local rc=$?
  # a failed demo shows why before its directory goes
  if [ "$rc" -ne 0 ] && [ -s "$dir/vtpmmgr.log" ]; then
    echo "demo failed (status $rc); the end of the manager's log:" >&2
    tail -n 40 "$dir/vtpmmgr.log" >&2
  fi
  [ -n "$mgr_pid" ] && kill "$mgr_pid" 2>/dev/null && wait "$mgr_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# Without a resource manager every tool leaves its objects loaded, and a TPM
# has only three object slots: flush transient objects after each tool.
runf() { run "$@"; tpm2_flushcontext -T "$TCTI" -t; }
export VTPMMGR_SOCKET="$dir/run/control.sock"
vtpmctl() { "$build/vtpmctl" "$@"; }

start_manager() {
  "$build/vtpmmgr" --dev --data-dir "$dir/data" --run-dir "$dir/run" \
    --log "$dir/vtpmmgr.log" --pid "$dir/vtpmmgr.pid" &
  mgr_pid=$!
  for _ in $(seq 200); do [ -s "$dir/vtpmmgr.pid" ] && return 0; sleep 0.05; done
  echo "vtpmmgr did not start:"; cat "$dir/vtpmmgr.log"; exit 1
}
stop_manager() { kill "$mgr_pid"; wait "$mgr_pid" || true; mgr_pid=; rm -f "$dir/vtpmmgr.pid"; }
wait_vtpm() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "no $1"; exit 1; }

say "Start the manager (--dev: a software TPM stands in for the hardware TPM)"
echo "$ vtpmmgr --dev --data-dir $dir/data --run-dir $dir/run"
start_manager
grep -E "NOT SECURE|root secret|ready" "$dir/vtpmmgr.log" | sed 's/^[^ ]* /  /'

say "Create and start two vTPMs, each with its own swtpm-protocol socket"
a=$(vtpmctl create --group demo --dev "server=unix:$dir/a.sock,ctrl=unix:$dir/a.sock.ctrl,flags=startup-clear")
b=$(vtpmctl create --group demo --dev "server=unix:$dir/b.sock,ctrl=unix:$dir/b.sock.ctrl,flags=startup-clear")
echo "vTPM A: $a"; echo "vTPM B: $b"
vtpmctl start "$a" >/dev/null; vtpmctl start "$b" >/dev/null
wait_vtpm "$dir/a.sock"; wait_vtpm "$dir/b.sock"
run "$build/vtpmctl" list

say "They are different TPMs: different endorsement keys"
for v in a b; do
  TCTI="swtpm:path=$dir/$v.sock"
  tpm2_createek -T "$TCTI" -Q -c - -G rsa -u "$dir/ek-$v.pub" >/dev/null
  tpm2_flushcontext -T "$TCTI" -t
  echo "EK of $v: $(sha256sum < "$dir/ek-$v.pub" | cut -c1-32)..."
done
cmp -s "$dir/ek-a.pub" "$dir/ek-b.pub" && { echo "same EK: not independent"; exit 1; }

say "...with separate PCRs: extend PCR 16 of A only"
TCTI="swtpm:path=$dir/a.sock"
run tpm2_pcrextend -T "$TCTI" 16:sha256=$(printf 'measured into A' | sha256sum | cut -d' ' -f1)
for v in a b; do echo "PCR 16 of $v: $(tpm2_pcrread -T "swtpm:path=$dir/$v.sock" sha256:16 | grep -o '0x[0-9A-F]*')"; done

say "Seal a secret in vTPM A and unseal it"
printf 'the launch codes' > "$dir/secret"
runf tpm2_createprimary -T "$TCTI" -Q -C o -G ecc -c "$dir/prim.ctx"
runf tpm2_create -T "$TCTI" -Q -C "$dir/prim.ctx" -i "$dir/secret" -u "$dir/seal.pub" -r "$dir/seal.priv"
runf tpm2_load -T "$TCTI" -Q -C "$dir/prim.ctx" -u "$dir/seal.pub" -r "$dir/seal.priv" -c "$dir/seal.ctx"
run tpm2_unseal -T "$TCTI" -c "$dir/seal.ctx"; echo
tpm2_flushcontext -T "$TCTI" -t

say "Keep the secret in A's NV too: the state on disk is encrypted, so it is nowhere in the data directory"
run tpm2_nvdefine -T "$TCTI" -Q 0x1500016 -C o -s 16 -a "ownerread|ownerwrite"
run tpm2_nvwrite -T "$TCTI" -Q 0x1500016 -C o -i "$dir/secret"
ls -l "$dir/data/vtpm/$a"
if grep -raq 'the launch codes' "$dir/data"; then echo "found in plaintext!"; exit 1; fi
echo "grep for the secret: not found"

say "Restart everything: the manager stops each vTPM (orderly TPM2_Shutdown) and brings them back"
stop_manager
start_manager
wait_vtpm "$dir/a.sock"; wait_vtpm "$dir/b.sock"
run "$build/vtpmctl" status

say "The sealed secret survived: load and unseal it again"
runf tpm2_createprimary -T "$TCTI" -Q -C o -G ecc -c "$dir/prim.ctx"
runf tpm2_load -T "$TCTI" -Q -C "$dir/prim.ctx" -u "$dir/seal.pub" -r "$dir/seal.priv" -c "$dir/seal.ctx"
run tpm2_unseal -T "$TCTI" -c "$dir/seal.ctx"; echo
tpm2_flushcontext -T "$TCTI" -t
run tpm2_nvread -T "$TCTI" 0x1500016 -C o -s 16; echo

say "Done. Cleaning up $dir"
