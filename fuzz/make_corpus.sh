#!/usr/bin/env bash
# Writes the seed corpora of the fuzz targets: a handful of valid and invalid
# requests per target, as binary files under fuzz/corpus/<target>/ (the
# directory name is the binary's name without "fuzz_"). Deterministic; run
# it again after changing a seed and commit the result.
# Usage: fuzz/make_corpus.sh
set -eu
top=$(cd "$(dirname "$0")" && pwd)

# seed DIR NAME HEX... : writes the concatenated hex bytes (spaces ignored).
seed() {
  local dir=$top/corpus/$1 name=$2 hex esc="" i
  shift 2
  hex=$(printf '%s' "$*" | tr -d ' ')
  for ((i = 0; i < ${#hex}; i += 2)); do esc+="\\x${hex:i:2}"; done
  mkdir -p "$dir"
  printf "$esc" >"$dir/$name"
}

# TPM 2.0 commands (tag, size, code, parameters)
startup="8001 0000000c 00000144 0000"
getrandom="8001 0000000c 0000017b 0010"
pcrread="8001 00000014 0000017e 00000001 000b 03 000002"
shutdown="8001 0000000c 00000145 0000"
tpm12_startup="00c1 0000000c 00000099 0001"

rm -rf "$top/corpus/frame" "$top/corpus/ctrl" "$top/corpus/mssim"

# --- frame: data channel streams
seed frame plain_getrandom "$getrandom"
seed frame plain_tpm12 "$tpm12_startup"
seed frame prefixed_getrandom "00000008 00 0000000c $getrandom"
seed frame pipelined "$startup 00000008 03 0000000c $getrandom $pcrread"
seed frame truncated "8001 0000000c 0000"
seed frame size_below_header "8001 00000009 0000017b 00"
seed frame size_above_max "8001 00001001 0000017b"
seed frame prefix_disagrees "00000008 00 0000000e $getrandom 0000"
seed frame prefix_size_above_max "00000008 00 00001001"

# --- ctrl: control channel streams (codes 0x01..0x13, big-endian bodies)
seed ctrl get_capability "00000001"
seed ctrl init_then_established "00000002 00000000 00000004"
seed ctrl locality_short "00000005 03"
seed ctrl locality_union_pipelined "00000005 04000000 00000005 02000000"
seed ctrl hash_sequence "00000006 00000007 00000003 616263 00000008"
seed ctrl cancel_store_volatile "00000009 0000000a"
seed ctrl reset_established "00000006 00000008 00000005 03000000 0000000b 03000000 00000004"
seed ctrl get_stateblob_perm "0000000c 00000000 00000001 00000000"
seed ctrl get_stateblob_volatile_offset "0000000a 0000000c 00000000 00000002 00000010"
seed ctrl stop_set_garbage_init "0000000e 0000000d 00000000 00000001 00000008 5a5a5a5a5a5a5a5a 00000002 00000000"
seed ctrl config_datafd "0000000f 00000010"
seed ctrl buffersize "00000011 00000000 0000000e 00000011 00000c00 00000002 00000000"
seed ctrl get_info "00000012 0000000000000001 00000000 00000000 00000012 0000000000000001 00000020 00000000"
seed ctrl lock_unknown_shutdown "00000013 0000000a 00000014 00000003"
seed ctrl hash_data_too_long "00000007 00001001"
seed ctrl set_stateblob_too_long "0000000d 00000000 00000001 00080001"
seed ctrl truncated "0000000c 00000000 0000"

# --- mssim: byte 0 is the port mask (bit i set: request i on the platform port)
seed mssim power_startup_getrandom "01 00000001 00000008 00 0000000c $startup 00000008 00 0000000c $getrandom"
seed mssim handshake_session_end "00 0000000f 00000001 00000014"
seed mssim hash_signals "00 00000005 00000006 00000003 616263 00000007"
seed mssim platform_signals "ff 00000003 00000004 00000009 0000000a 0000000b 0000000c 0000000d 0000000e"
seed mssim reset_then_command "01 00000011 00000008 02 0000000c $getrandom"
seed mssim power_off_command "01 00000002 00000008 00 0000000c $getrandom"
seed mssim locality5 "00 00000008 05 0000000c $getrandom"
seed mssim size_mismatch "00 00000008 00 0000000e $getrandom 0000"
seed mssim wrong_port "01 00000008 00 0000000c $getrandom"
seed mssim size_above_max "00 00000008 00 00001001"
seed mssim shutdown_command "00 00000008 00 0000000c $shutdown 00000015"
