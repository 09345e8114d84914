/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpm_wire.h: the handful of raw TPM 2.0 commands the benchmark sends
 * (GetRandom, PCR_Extend, CreatePrimary, Sign, FlushContext, Startup,
 * NV_DefineSpace, NV_Write) with a parser for each response, all marshalled
 * with the buffer API (lib/buf.h).  Runs in every bench_tpm process.
 * Responses come from the target under test and are untrusted: every length
 * is checked against what is left before it is used, the first error
 * sticks, and a parser must consume its input exactly.
 */
#ifndef BENCH_TPM_WIRE_H
#define BENCH_TPM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "tpm.h"	/* TPM_HDR_SIZE, TPM_PACKET_MAX, tags, tpm_hdr_parse */

#define TPM_DIGEST_SIZE 32u    /* SHA-256 */
#define TPM_NAME_MAX (2u + 64u) /* hash alg id + largest digest */
#define TPM_RC_NV_DEFINED 0x0000014Cu /* NV_DefineSpace: the index exists */

enum tpm_key_kind {
	TPM_KEY_ECC_STORAGE, /* TCG SRK template, NIST P-256, AES-128-CFB */
	TPM_KEY_RSA_STORAGE, /* TCG SRK template, RSA-2048, AES-128-CFB */
	TPM_KEY_ECC_SIGNING, /* unrestricted ECDSA-SHA256 key, NIST P-256 */
};

/*
 * Command builders: write one complete command into buf and return its
 * length, or 0 when cap is too small.  CreatePrimary puts seq (big-endian)
 * in the first bytes of the template's unique field, so each seq gives a
 * different key from the same hierarchy seed; seq 0 is the plain template.
 */
size_t tpm_cmd_startup_clear(uint8_t *buf, size_t cap);
size_t tpm_cmd_get_random(uint8_t *buf, size_t cap, uint16_t bytes);
size_t tpm_cmd_pcr_extend(uint8_t *buf, size_t cap, uint32_t pcr,
			  const uint8_t digest[TPM_DIGEST_SIZE]);
size_t tpm_cmd_create_primary(uint8_t *buf, size_t cap,
			      enum tpm_key_kind kind, uint32_t seq);
size_t tpm_cmd_sign(uint8_t *buf, size_t cap, uint32_t key,
		    const uint8_t digest[TPM_DIGEST_SIZE]);
size_t tpm_cmd_flush(uint8_t *buf, size_t cap, uint32_t handle);
/*
 * An ordinary NV index of size bytes, owner- and password-authorized for
 * reading and writing, no dictionary-attack protection, empty auth.
 */
size_t tpm_cmd_nv_define(uint8_t *buf, size_t cap, uint32_t index,
			 uint16_t size);
/* NV_Write of len bytes at offset, authorized by the owner (empty password). */
size_t tpm_cmd_nv_write(uint8_t *buf, size_t cap, uint32_t index,
			const uint8_t *data, uint16_t len, uint16_t offset);

/*
 * Response parsers.  Each returns -1 when the bytes are malformed (the
 * transport or the target is broken) and 0 otherwise; the TPM response
 * code travels apart in *rc, and only a success response (rc 0) has its
 * body parsed.
 */
int tpm_rsp_plain(const uint8_t *rsp, size_t len, uint32_t *rc);
int tpm_rsp_get_random(const uint8_t *rsp, size_t len, uint32_t *rc,
		       uint16_t bytes);
int tpm_rsp_pcr_extend(const uint8_t *rsp, size_t len, uint32_t *rc);
/* A password-session response without parameters: NV_DefineSpace, NV_Write. */
int tpm_rsp_no_params(const uint8_t *rsp, size_t len, uint32_t *rc);
/* name: TPM_NAME_MAX bytes; *name_len gets the name's length. */
int tpm_rsp_create_primary(const uint8_t *rsp, size_t len, uint32_t *rc,
			   uint32_t *handle, uint8_t *name, size_t *name_len);
int tpm_rsp_sign(const uint8_t *rsp, size_t len, uint32_t *rc);

#endif
