#!/usr/bin/env bash
# `make demo`: starts one vtpm in a temporary directory, drives it with
# tpm2-tools over the swtpm protocol, restarts it, shows the state survived,
# and cleans up. Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
vtpm="$build/vtpm"
dir=$(mktemp -d /tmp/vtpm-demo.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# Without a resource manager every tool leaves its objects loaded, and a TPM
# has only three object slots: flush transient objects after each tool.
runf() { run "$@"; tpm2_flushcontext -t; }

start() {
  "$vtpm" serve --tpmstate dir="$dir/state" \
    --server type=unixio,path="$dir/tpm.sock" --ctrl type=unixio,path="$dir/tpm.sock.ctrl" \
    --flags not-need-init,startup-clear --pid file="$dir/vtpm.pid" --log file="$dir/vtpm.log" &
  pid=$!
  for _ in $(seq 100); do [ -s "$dir/vtpm.pid" ] && return 0; sleep 0.05; done
  echo "vtpm did not start; log:" >&2; cat "$dir/vtpm.log" >&2; exit 1
}
stop() { kill "$pid"; wait "$pid" || true; pid=; }

export TPM2TOOLS_TCTI="swtpm:path=$dir/tpm.sock"

say "Start a vTPM (TPM 2.0, state in $dir/state)"
echo "$ vtpm serve --tpmstate dir=$dir/state --server type=unixio,path=$dir/tpm.sock --ctrl type=unixio,path=$dir/tpm.sock.ctrl --flags not-need-init,startup-clear"
start
echo "vtpm pid $pid; tpm2-tools reach it with -T $TPM2TOOLS_TCTI"

say "Random bytes from the vTPM"
run tpm2_getrandom --hex 16; echo

say "Extend PCR 16 and read it back"
run tpm2_pcrreset 16
run tpm2_pcrextend 16:sha256=$(printf 'hello vtpm' | sha256sum | cut -d' ' -f1)
run tpm2_pcrread sha256:16

say "Create a primary key, a signing key under it, sign and verify"
runf tpm2_createprimary -Q -C o -G ecc -c "$dir/primary.ctx"
runf tpm2_create -Q -C "$dir/primary.ctx" -G ecc -u "$dir/key.pub" -r "$dir/key.priv"
runf tpm2_load -Q -C "$dir/primary.ctx" -u "$dir/key.pub" -r "$dir/key.priv" -c "$dir/key.ctx"
echo "a message worth signing" > "$dir/msg"
runf tpm2_sign -Q -c "$dir/key.ctx" -g sha256 -o "$dir/sig" "$dir/msg"
runf tpm2_verifysignature -Q -c "$dir/key.ctx" -g sha256 -m "$dir/msg" -s "$dir/sig"
echo "signature verified"

say "Store a secret in NV index 0x1500016"
run tpm2_nvdefine -Q 0x1500016 -C o -s 32 -a "ownerread|ownerwrite|authread|authwrite"
printf 'survives restarts, crash-safe...' > "$dir/secret"
run tpm2_nvwrite -Q 0x1500016 -C o -i "$dir/secret"

say "Stop the vTPM (automatic TPM2_Shutdown), start it again"
stop
ls -la "$dir/state"
start

say "Read the NV index back after the restart"
run tpm2_nvread 0x1500016 -C o -s 32; echo

say "What vtpm logged"
cat "$dir/vtpm.log"

say "Done: the same vTPM, its keys and NV, survived a restart. Cleaning up."
