/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mgrmsg: encoder and decoder of the vtpm <-> vtpmmgr messages
 * (include/vtpmmgr_proto.h). Shared by both processes: each side decodes
 * what the other sends with the exact-length checks here, and nothing else.
 */
#ifndef VTPM_MGRMSG_H
#define VTPM_MGRMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "vtpmmgr_proto.h"

/* Largest message either way: header + the largest body. */
#define MGRMSG_MAX	128

/* A state record: what the manager keeps per vTPM and blob type. */
struct mgr_record {
	bool present;
	uint64_t seq;
	uint8_t digest[VTPM_DIGEST_SIZE];
	uint8_t key[VTPM_KEY_SIZE];
};

/* BLOBKEY: the header of a sealed state blob and its key. */
#define MGR_BLOB_EXPORT		1
#define MGR_BLOB_IMPORT		2
struct mgr_blobkey {
	uint8_t op;			/* MGR_BLOB_* */
	uint8_t type;			/* VTPM_BLOB_* */
	uint8_t uuid[VTPM_UUID_SIZE];	/* the vTPM the blob left */
	uint64_t seq;			/* its permanent-state sequence then */
	uint8_t nonce[VTPM_BLOB_NONCE_SIZE];
	uint8_t key[VTPM_KEY_SIZE];	/* response only */
};

struct mgr_request {
	uint32_t ordinal;
	uint8_t type;			/* SAVE/LOAD */
	struct mgr_record rec;		/* SAVE */
	struct mgr_blobkey blob;	/* BLOBKEY (no key) */
};

struct mgr_response {
	uint32_t result;
	uint8_t uuid[VTPM_UUID_SIZE];	/* LOAD */
	struct mgr_record rec;		/* LOAD */
	uint8_t hash[VTPM_DIGEST_SIZE];	/* GET_BOOT_HASH */
	struct mgr_blobkey blob;	/* BLOBKEY: uuid, seq, key */
};

/* Requests (vtpm side). Return bytes written into out (MGRMSG_MAX), or -1. */
long mgrmsg_save_request(uint8_t *out, uint8_t type, const struct mgr_record *rec);
long mgrmsg_load_request(uint8_t *out, uint8_t type);
long mgrmsg_boot_hash_request(uint8_t *out);
/* op, type, nonce; for an import also uuid and seq (an export sends them zero). */
long mgrmsg_blobkey_request(uint8_t *out, const struct mgr_blobkey *k);
/* Parses a response to `ordinal`. 0, or -1 (EBADMSG) for anything malformed. */
int mgrmsg_parse_response(uint32_t ordinal, const uint8_t *p, size_t n, struct mgr_response *r);

/* Manager side: parses a request; -1 with the VTPM_* result to answer in *result. */
int mgrmsg_parse_request(const uint8_t *p, size_t n, struct mgr_request *r, uint32_t *result);
/* Builds the response to ordinal (result VTPM_SUCCESS carries the body). */
long mgrmsg_response(uint8_t *out, uint32_t ordinal, const struct mgr_response *r);

/*
 * A sealed state blob, as a managed vtpm hands it to its control client:
 *   header: "VTPMBLOB" | u16 format 1 | u16 type | uuid[16] | u64 seq | nonce[16]
 *   u32 length (of what follows) | iv | AES-256-GCM ciphertext | tag
 * with the header as associated data. The key is the manager's, derived
 * from its root secret and the header; the vtpm asks for it (BLOBKEY).
 */
#define MGRMSG_BLOB_HDR		(8 + 2 + 2 + VTPM_UUID_SIZE + 8 + VTPM_BLOB_NONCE_SIZE)
#define MGRMSG_BLOB_OVERHEAD	(MGRMSG_BLOB_HDR + 4 + CRYPTO_GCM_OVERHEAD)
/* Writes the header of k and the length of plain_len sealed bytes (MGRMSG_BLOB_HDR + 4). */
void mgrmsg_blob_header(uint8_t *out, const struct mgr_blobkey *k, uint32_t plain_len);
/*
 * Parses a sealed blob of n bytes (untrusted: a control client's) into k's
 * type, uuid, seq and nonce and the plaintext length; -1 (EBADMSG) unless
 * it is exactly one well-formed blob.
 */
int mgrmsg_blob_parse(const uint8_t *p, size_t n, struct mgr_blobkey *k, uint32_t *plain_len);

/* True if every byte is zero (the "no state" record of SAVEHASHKEY). */
bool mgrmsg_record_is_empty(const struct mgr_record *rec);

#endif
