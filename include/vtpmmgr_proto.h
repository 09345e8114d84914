/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vtpm <-> vtpmmgr protocol, cross-process ABI. As in the seed
 * (stubdom/vtpmmgr/vtpm_manager.h), requests are TPM 1.2-framed:
 * u16 tag 0x01C1 | u32 size | u32 ordinal | body; responses
 * u16 tag 0x01C4 | u32 size | u32 result | body. All big-endian. Bodies
 * are ours and versioned, with SHA-256 digests and 256-bit keys. The vtpm
 * sends them as a tpmif frontend; the manager identifies it by the
 * connection it created, never by anything in a body.
 *
 * SAVEHASHKEY   req: u8 version | u8 type | u64 seq | digest[32] | key[32]
 *               rsp: (empty)
 *     Records the state file just written for blob type `type`: its
 *     sequence, its SHA-256 and the key it was encrypted with. An all-zero
 *     digest and key record "no state of this type" (deleted). The
 *     sequence must grow.
 * LOADHASHKEY   req: u8 version | u8 type
 *               rsp: u8 version | u8 present | uuid[16] | u64 seq | digest[32] | key[32]
 *     The record for `type`, and the vTPM's UUID (bound into its files).
 * GET_BOOT_HASH req: u8 version
 *               rsp: u8 version | hash[32]  (SHA-256 of the vtpm executable launched)
 *     A vtpm asks once its TPM runs and its endpoints listen; the manager
 *     takes the first ask as the vtpm being ready (vtpmctl start waits on it).
 * BLOBKEY       req: u8 version | u8 op | u8 type | uuid[16] | u64 seq | nonce[16]
 *               rsp: u8 version | uuid[16] | u64 seq | key[32]
 *     The key of a state blob that leaves (op 1, export: uuid and seq zero
 *     in the request; the manager answers this vTPM's UUID and the sequence
 *     of its recorded permanent state, which the blob's header carries) or
 *     enters (op 2, import: the header's uuid and seq; the answer repeats
 *     them). The key is derived from the manager's root secret and the
 *     whole header (lib/mgrmsg.h). An import is refused (VTPM_FORBIDDEN)
 *     unless the blob's vTPM is this one (a seam for trusted sources) and
 *     its sequence is not below that vTPM's recorded permanent state.
 */
#ifndef VTPM_VTPMMGR_PROTO_H
#define VTPM_VTPMMGR_PROTO_H

#define VTPM_TAG_REQ			0x01C1
#define VTPM_TAG_RSP			0x01C4

#define VTPM_ORD_SAVEHASHKEY		1
#define VTPM_ORD_LOADHASHKEY		2
#define VTPM_ORD_GET_BOOT_HASH		3
#define VTPM_ORD_GET_QUOTE		4	/* reserved: answered VTPM_UNSUPPORTED */
#define VTPM_ORD_BLOBKEY		5

#define VTPM_SUCCESS			0
#define VTPM_FAIL			1
#define VTPM_UNSUPPORTED		2
#define VTPM_FORBIDDEN			3
#define VTPM_RESTORE_CONTEXT_FAILED	4
#define VTPM_INVALID_REQUEST		5

#define VTPM_PROTO_VERSION		1

/* blob types, numbered as the ctrl channel's PTM_BLOB_TYPE_* */
#define VTPM_BLOB_PERMANENT		1
#define VTPM_BLOB_VOLATILE		2
#define VTPM_BLOB_SAVESTATE		3

#define VTPM_UUID_SIZE			16
#define VTPM_DIGEST_SIZE		32
#define VTPM_KEY_SIZE			32
#define VTPM_BLOB_NONCE_SIZE		16

#endif
