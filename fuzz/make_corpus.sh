#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
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

# text STRING: prints STRING's bytes as hex (for handshake messages).
text() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# le32 N: a u32 in host order as the tpmif header holds it (little-endian hosts).
le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
# xs PAYLOAD: a handshake frame, u16 big-endian length then the payload.
xs() { printf '%04x%s' "${#1}" "$(text "$1")"; }

rm -rf "$top/corpus/frame" "$top/corpus/ctrl" "$top/corpus/mssim" "$top/corpus/tpmif_take" \
	"$top/corpus/xsmsg" "$top/corpus/mgrmsg" "$top/corpus/hwtpm" \
	"$top/corpus/nv" "$top/corpus/store" "$top/corpus/devline"

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
# found by fuzz_ctrl: STOP, delete the permanent state (SET_STATEBLOB length 0),
# then a volatile blob: libtpms 0.9.2 dereferences NULL (vtpm must refuse it)
seed ctrl volatile_without_permanent "0000000e 0000000d 00000000 00000001 00000000 0000000d 00000000 00000002 00000002 0000"

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

# --- tpmif_take: byte 0 = config (bit 0: two pages; bits 1-2: buffer 4096,
# 10, 64, 8192; bits 3-4: backend last wrote IDLE, FINISH, SUBMIT, CANCEL;
# bit 5: the event channel is full, every notify meets EAGAIN), then the page from offset 0: u32 length, state, locality, pad, nr_extra,
# grant refs, packet. States: 0 IDLE, 1 SUBMIT, 2 FINISH, 3 CANCEL.
seed tpmif_take submit_two_pages "01 $(le32 12) 01 00 00 01 $(le32 1) $getrandom"
seed tpmif_take submit_one_page "00 $(le32 12) 01 00 00 00 $getrandom"
seed tpmif_take submit_after_finish "09 $(le32 12) 01 03 00 01 $(le32 1) $getrandom"
seed tpmif_take locality_255 "01 $(le32 12) 01 ff 00 01 $(le32 1) $getrandom"
seed tpmif_take length_past_mapping "01 $(le32 8181) 01 00 00 01 $(le32 1) $getrandom"
seed tpmif_take length_max "00 ffffffff 01 00 00 00 $getrandom"
seed tpmif_take extra_255_wraps "00 $(le32 4294966268) 01 00 00 ff"
seed tpmif_take size_field_disagrees "01 $(le32 13) 01 00 00 01 $(le32 1) $getrandom 00"
seed tpmif_take buffer_too_small "03 $(le32 12) 01 00 00 01 $(le32 1) $getrandom"
seed tpmif_take length_below_header "01 $(le32 9) 01 00 00 01 $(le32 1) $getrandom"
seed tpmif_take cancel_while_idle "08 00000000 03 00 00 01"
seed tpmif_take finish_by_frontend "01 00000000 02 00 00 01"
seed tpmif_take idle_after_finish "09 00000000 00 00 00 01"
seed tpmif_take unknown_state "01 00000000 07 00 00 01"
seed tpmif_take full_4096 "01 $(le32 4096) 01 00 00 01 $(le32 1) 8001 00001000 0000017b $(printf '00%.0s' $(seq 4086))"
seed tpmif_take submit_channel_full "21 $(le32 12) 01 00 00 01 $(le32 1) $getrandom"
seed tpmif_take bad_length_channel_full "21 $(le32 8181) 01 00 00 01 $(le32 1) $getrandom"
seed tpmif_take cancel_channel_full "28 00000000 03 00 00 01"

# --- xsmsg: byte 0 even = a socket's byte stream of handshake frames; odd =
# NUL-separated key/value pairs given to xsmsg_set, then encoded and parsed.
seed xsmsg initwait "00 $(xs $'state=2\nfeature-protocol-v2=1\n')"
seed xsmsg initialised "00 $(xs $'state=3\nring-ref=0\nevent-channel=1\nfeature-protocol-v2=1\n')"
seed xsmsg connected_then_closed "00 $(xs $'state=4\nready=1\n') $(xs $'state=6\n')"
seed xsmsg empty_message "00 0000"
seed xsmsg partial "00 $(xs $'state=5\n') 0020 $(text 'state=')"
seed xsmsg oversize "00 ffff $(text 'state=1')"
seed xsmsg max_size "00 0201 $(text 'k=')"
seed xsmsg no_newline "00 $(xs 'state=3')"
seed xsmsg duplicate_key "00 $(xs $'state=3\nstate=4\n')"
seed xsmsg bad_key_char "00 $(xs $'State=3\n')"
seed xsmsg space_in_value "00 $(xs $'state=3 \n')"
seed xsmsg empty_value "00 $(xs $'ring-ref=\n')"
seed xsmsg nine_keys "00 $(xs $'a=1\nb=2\nc=3\nd=4\ne=5\nf=6\ng=7\nh=8\ni=9\n')"
seed xsmsg long_key "00 $(xs "$(printf 'k%.0s' $(seq 32))=1"$'\n')"
seed xsmsg long_value "00 $(xs "v=$(printf '9%.0s' $(seq 64))"$'\n')"
seed xsmsg uint_overflow "00 $(xs $'state=4294967299\n')"
seed xsmsg builder_handshake "01 $(text state)00 $(text 3)00 $(text ring-ref)00 $(text 0)00"
seed xsmsg builder_duplicate "01 $(text state)00 $(text 3)00 $(text state)00 $(text 4)00"
# xsmsg_set must refuse what the parser refuses: "b\nc=d" would encode as two
# lines, the others as a message the peer drops
seed xsmsg builder_newline_in_value "01 $(text a)00 $(text $'b\nc=d')00"
seed xsmsg builder_space_in_value "01 $(text state)00 $(text '3 ')00 $(text ready)00 $(text 1)00"
seed xsmsg builder_upper_key "01 $(text State)00 $(text 3)00"
seed xsmsg builder_equals_in_key "01 $(text 'a=b')00 $(text 1)00"
seed xsmsg builder_empty_key "01 00 $(text 1)00 $(text state)00 $(text 4)00"
seed xsmsg builder_long_value "01 $(text v)00 $(printf '39%.0s' $(seq 64))00"
seed xsmsg builder_nine_keys "01 $(for k in a b c d e f g h i; do printf '%s00%s00' "$(text $k)" "$(text 1)"; done)"
seed xsmsg builder_too_big "01 $(for k in a b c d e f g h; do printf '%s00%s00' "$(text "$(printf "$k%.0s" $(seq 31))")" "$(printf '39%.0s' $(seq 63))"; done)"

# --- ctlmsg: byte 0 picks the mode (0 request line, 1 reply, 2 string written as JSON)
rm -rf "$top/corpus/ctlmsg"
seed ctlmsg req_create "00 $(text 'create uuid=auto tpm=2 group=default dev=server=unix:/run/a.sock')"
seed ctlmsg req_start "00 $(text 'start 0b4c9a1e-2f3d-4c5b-8a6e-7f8091a2b3c4')"
seed ctlmsg req_reseal "00 $(text 'reseal 7=00  bare')"
seed ctlmsg req_empty "00 2020"
seed ctlmsg req_tab "00 $(text list)09 $(text x)"
seed ctlmsg req_quote "00 $(text 'create dev=a"b\c')"
seed ctlmsg reply_list "01 $(text '{"ok":true,"vtpms":[{"uuid":"u","running":false,"pid":0,"device":"a\"b\\c\u0001"}]}')0a"
seed ctlmsg reply_err "01 $(text '{"ok":false,"error":"device setting \u00e9 is not key=value"}')0a"
seed ctlmsg reply_deep "01 $(text '{"a":[[[[[[[[[1]]]]]]]]]}')"
seed ctlmsg reply_cut "01 $(text '{"a":"\u12')"
seed ctlmsg write_nasty "02 $(text 'dev=a"b\c')01 7f 0a"
seed ctlmsg write_utf8 "02 c3a9"

# --- mgrmsg: byte 0 bit 0 clear = a request (vtpm -> manager); set = a
# response, bits 1-2 the ordinal it answers (1 SAVE, 2 LOAD, 3 BOOT_HASH).
# Header: tag (01c1 request, 01c4 response), u32 size, u32 ordinal/result.
d32=$(printf 'ab%.0s' $(seq 32))
k32=$(printf 'cd%.0s' $(seq 32))
z32=$(printf '00%.0s' $(seq 32))
uuid=$(printf '5a%.0s' $(seq 16))
seed mgrmsg save_permanent "00 01c1 00000054 00000001 01 01 0000000000000007 $d32 $k32"
seed mgrmsg save_empty "00 01c1 00000054 00000001 01 03 0000000000000000 $z32 $z32"
seed mgrmsg load_volatile "00 01c1 0000000c 00000002 01 02"
seed mgrmsg boot_hash "00 01c1 0000000b 00000003 01"
seed mgrmsg quote_unsupported "00 01c1 0000000b 00000004 01"
seed mgrmsg save_type_0 "00 01c1 00000054 00000001 01 00 0000000000000007 $d32 $k32"
seed mgrmsg save_type_4 "00 01c1 00000054 00000001 01 04 0000000000000007 $d32 $k32"
seed mgrmsg load_version_2 "00 01c1 0000000c 00000002 02 02"
seed mgrmsg size_disagrees "00 01c1 0000000d 00000002 01 02"
seed mgrmsg size_above_max "00 01c1 00000081 00000002 01 02"
seed mgrmsg response_tag "00 01c4 0000000c 00000002 01 02"
seed mgrmsg truncated_header "00 01c1 000000"
seed mgrmsg rsp_save_ok "03 01c4 0000000a 00000000"
seed mgrmsg rsp_save_forbidden "03 01c4 0000000a 00000003"
seed mgrmsg rsp_load_present "05 01c4 00000064 00000000 01 01 $uuid 0000000000000009 $d32 $k32"
seed mgrmsg rsp_load_absent "05 01c4 00000064 00000000 01 00 $uuid 0000000000000000 $z32 $z32"
seed mgrmsg rsp_load_present_2 "05 01c4 00000064 00000000 01 02 $uuid 0000000000000009 $d32 $k32"
seed mgrmsg rsp_load_failed "05 01c4 0000000a 00000001"
seed mgrmsg rsp_boot_hash "07 01c4 0000002b 00000000 01 $d32"
seed mgrmsg rsp_boot_hash_short "07 01c4 0000002a 00000000 01 $(printf 'ab%.0s' $(seq 31))"
seed mgrmsg rsp_unknown_ordinal "01 01c4 0000000a 00000000"
seed mgrmsg rsp_request_tag "03 01c1 0000000a 00000000"
# BLOBKEY (ordinal 5): request op 1 export (no uuid, no seq) or 2 import;
# response 0b = bit 0 and ordinal 5; byte 0 = 02: a sealed state blob
nonce=$(printf '3c%.0s' $(seq 16))
z16=$(printf '00%.0s' $(seq 16))
seed mgrmsg blobkey_export "00 01c1 00000035 00000005 01 01 01 $z16 0000000000000000 $nonce"
seed mgrmsg blobkey_import "00 01c1 00000035 00000005 01 02 02 $uuid 0000000000000007 $nonce"
seed mgrmsg blobkey_export_uuid "00 01c1 00000035 00000005 01 01 01 $uuid 0000000000000000 $nonce"
seed mgrmsg blobkey_op_3 "00 01c1 00000035 00000005 01 03 01 $uuid 0000000000000007 $nonce"
seed mgrmsg rsp_blobkey "0b 01c4 00000043 00000000 01 $uuid 0000000000000007 $k32"
seed mgrmsg rsp_blobkey_forbidden "0b 01c4 0000000a 00000003"
seed mgrmsg blob_sealed "02 $(text VTPMBLOB) 0001 0001 $uuid 0000000000000007 $nonce 00000024 $(printf '77%.0s' $(seq 36))"
seed mgrmsg blob_empty "02 $(text VTPMBLOB) 0001 0003 $uuid 0000000000000007 $nonce 0000001c $(printf '77%.0s' $(seq 28))"
seed mgrmsg blob_length_short "02 $(text VTPMBLOB) 0001 0002 $uuid 0000000000000007 $nonce 0000001b $(printf '77%.0s' $(seq 27))"
seed mgrmsg blob_type_4 "02 $(text VTPMBLOB) 0001 0004 $uuid 0000000000000007 $nonce 0000001c $(printf '77%.0s' $(seq 28))"

# --- hwtpm: sealed blobs as hwtpm_seal writes them. The policy digest is
# PolicyPCR's, computed here with openssl: SHA-256(32 zero bytes, TPM_CC
# 0000017f, the TPML_PCR_SELECTION, SHA-256(the selected values)).
sha() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')" | openssl dgst -sha256 -r | cut -c1-64; }
# blob MASK VALUES... : a well-formed blob for the PCR mask (hex, 6 digits as
# pcrSelect bytes, PCR 0 in the low bit of the first) with those values.
blob() {
  local mask=$1 sel vals pol pub
  shift
  vals=$(printf '%s' "$*" | tr -d ' ')
  sel="00000001 000b 03 ${mask:4:2}${mask:2:2}${mask:0:2}"
  pol=$(sha "$(printf '%s' "$z32 0000017f $sel" | tr -d ' ')$(sha "$vals")")
  pub="004e 0008 000b 00000492 0020 $pol 0010 0020 $k32"
  printf '%s' "56545342 0001 00${mask} $(printf '%02x' $#) $vals 0050 $pub 0022 0020 $d32"
}
one=$(blob 000001 "$d32")
two=$(blob 000081 "$d32" "$k32")
seed hwtpm pcr0 "$one"
seed hwtpm pcr0_7 "$two"
seed hwtpm pcr16 "$(blob 010000 "$z32")"
seed hwtpm trailing_byte "$one 00"
seed hwtpm truncated "${one:0:100}"
seed hwtpm count_0 "$(printf '%s' "$one" | tr -d ' ' | sed 's/^\(.\{20\}\)../\100/')"
seed hwtpm mask_empty "56545342 0001 00000000 00 0050"
seed hwtpm mask_pcr24 "56545342 0001 01000000 01 $d32"
seed hwtpm version_2 "56545342 0002 00000001 01 $d32"
seed hwtpm pub_len_max "56545342 0001 00000001 01 $d32 ffff"

# --- nv: byte 0 bit 0 = sealed, bits 1-2 the state (0 permall, 1 volatile,
# 2 savestate), then the file. Plain file: "VTPMSTAT", u16 format 1, u16
# type, u32 length, u64 sequence, payload, SHA-256 of all before it.
# plain TYPE SEQ PAYLOAD: a well-formed plain state file.
plain() {
  local h
  h="$(text VTPMSTAT)0001$(printf '%04x%08x%016x' "$1" $((${#3} / 2)) "$2")$3"
  printf '%s%s' "$h" "$(sha "$h")"
}
pay=$(text 'some libtpms state')
seed nv plain_permall "00 $(plain 1 1 "$pay")"
seed nv plain_volatile "02 $(plain 2 7 "$pay")"
seed nv plain_savestate_empty "04 $(plain 3 0 "")"
seed nv plain_type_mismatch "02 $(plain 1 1 "$pay")"
seed nv plain_trailing "00 $(plain 1 1 "$pay")00"
seed nv plain_length_max "00 $(text VTPMSTAT)0001 0001 00080001 0000000000000001"
seed nv plain_bad_digest "00 $(plain 1 1 "$pay" | sed 's/.$/0/')"
seed nv plain_format_2 "00 $(text VTPMSTAT)0002 0001 00000000 0000000000000001 $z32"
# sealed: "VTPMSEAL", u16 format 2, u16 type, u64 seq, uuid, u32 length, AEAD
seed nv sealed_short "01 $(text VTPMSEAL)0002 0001 0000000000000001 $uuid 0000000f $(printf '00%.0s' $(seq 15))"
seed nv sealed_bad_tag "01 $(text VTPMSEAL)0002 0001 0000000000000001 $uuid 00000014 $(printf '00%.0s' $(seq 20))"
seed nv sealed_wrong_seq "01 $(text VTPMSEAL)0002 0001 0000000000000002 $uuid 00000010 $(printf '00%.0s' $(seq 16))"
seed nv sealed_length_max "01 $(text VTPMSEAL)0002 0001 0000000000000001 $uuid ffffffff"

# --- store: u16 offset, then bytes patched there into a store the target
# writes with store_add/store_put_record (two vTPMs, a record each).
seed store unpatched "0000"
seed store sqlite_magic "0000 $(text 'SQLite format 4')"
seed store page_size "0010 0200"
seed store page2 "1000 0d"
seed store page2_cells "1003 00ff"
seed store page3 "2000 00000000"
seed store page4_tail "3ff0 ffffffffffffffff"
seed store page5 "4000 0a"
seed store past_end "ffff 00"

# --- devline: device lines as vtpmctl create sends them (text)
line() { seed devline "$1" "$(text "$2")"; }
line unix_pair "server=unix:/run/vtpm/a.sock,ctrl=unix:/run/vtpm/a.ctrl,flags=startup-clear"
line four_then_settings "server=unix:/a,ctrl=unix:/b,tpmif=/c,mssim=12000,flags=startup-none,binary=/usr/sbin/vtpm,insecure-tcp"
line owner_mode "server=unix:/run/vtpm/q.sock,ctrl=unix:/run/vtpm/q.ctrl,uid=libvirt-qemu,gid=kvm,mode=0660"
line owner_numbers "ctrl=unix:/run/q.ctrl,uid=4294967294,gid=0,mode=0"
line uid_cap_plus_1 "ctrl=unix:/run/q.ctrl,uid=4294967295"
line mode_cap_plus_1 "ctrl=unix:/run/q.ctrl,mode=01000"
line name_cap_plus_1 "uid=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
line owner_twice "uid=0,uid=nobody"
line binary_twice "binary=/usr/sbin/vtpm,binary=/usr/sbin/v"
line tcp_insecure "insecure-tcp,server=tcp:2321,ctrl=unix:/run/c"
line tcp_without "server=tcp:2321,ctrl=unix:/run/c"
line ctrl_tcp "ctrl=tcp:2322,insecure-tcp"
line mssim_without "mssim=2321"
line mssim_top_port "mssim=65534,insecure-tcp"
line dotdot "server=unix:/run/../etc/a.sock"
line dot_tail "tpmif=/run/vtpm/."
line relative "server=unix:relative.sock"
line fifth_listener "server=unix:/a,ctrl=unix:/b,tpmif=/c,tpmif=/d,server=unix:/e"
line not_key_value "server"
line empty_tokens ",,server=unix:/a,,"
line path_cap "tpmif=/$(printf 'a%.0s' $(seq 99))"
line path_cap_plus_1 "tpmif=/$(printf 'a%.0s' $(seq 100))"
line too_long "server=unix:/a$(printf ',%.0s' $(seq 1100))"
