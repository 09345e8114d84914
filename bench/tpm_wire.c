/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpm_wire.c: the raw TPM 2.0 commands of the benchmark, built by hand so
 * that every target sees the same bytes, and their response parsers, all
 * marshalled with the buffer API (lib/buf.h).  Runs in every bench_tpm
 * process.  The responses parsed here come from the target under test
 * (libtpms or a daemon over a socket) and are untrusted: the buffer checks
 * each length against the bytes left (subtractively, so nothing
 * overflows) and keeps its first error, and a parser fails unless it
 * consumed the response exactly.
 */
#include "tpm_wire.h"

#include <string.h>

#include "buf.h"
#include "tpm.h"

#define TPM_ST_CREATION 0x8021u
#define TPM_ST_HASHCHECK 0x8024u

#define TPM_CC_NV_DEFINE_SPACE 0x0000012Au
#define TPM_CC_CREATE_PRIMARY 0x00000131u
#define TPM_CC_NV_WRITE 0x00000137u
#define TPM_CC_SIGN 0x0000015Du
#define TPM_CC_FLUSH_CONTEXT 0x00000165u
#define TPM_CC_GET_RANDOM 0x0000017Bu
#define TPM_CC_PCR_EXTEND 0x00000182u

#define TPM_RH_OWNER 0x40000001u
#define TPM_RH_NULL 0x40000007u
#define TPM_RS_PW 0x40000009u
#define TPM_HT_TRANSIENT 0x80u

#define TPM_ALG_RSA 0x0001u
#define TPM_ALG_AES 0x0006u
#define TPM_ALG_SHA256 0x000Bu
#define TPM_ALG_NULL 0x0010u
#define TPM_ALG_ECDSA 0x0018u
#define TPM_ALG_ECC 0x0023u
#define TPM_ALG_CFB 0x0043u
#define TPM_ECC_NIST_P256 0x0003u

/* TPMA_NV bits; an ordinary index (TPM_NT_ORDINARY, type bits 0) */
#define TPMA_NV_OWNERWRITE (1u << 1)
#define TPMA_NV_AUTHWRITE (1u << 2)
#define TPMA_NV_OWNERREAD (1u << 17)
#define TPMA_NV_AUTHREAD (1u << 18)
#define TPMA_NV_NO_DA (1u << 25)
#define TPMA_NV_BENCH (TPMA_NV_OWNERWRITE | TPMA_NV_AUTHWRITE | \
	TPMA_NV_OWNERREAD | TPMA_NV_AUTHREAD | TPMA_NV_NO_DA)

/* TPMA_OBJECT bits */
#define TPMA_FIXED_TPM (1u << 1)
#define TPMA_FIXED_PARENT (1u << 4)
#define TPMA_SENSITIVE_DATA_ORIGIN (1u << 5)
#define TPMA_USER_WITH_AUTH (1u << 6)
#define TPMA_NO_DA (1u << 10)
#define TPMA_RESTRICTED (1u << 16)
#define TPMA_DECRYPT (1u << 17)
#define TPMA_SIGN (1u << 18)

#define TPMA_STORAGE (TPMA_FIXED_TPM | TPMA_FIXED_PARENT | \
	TPMA_SENSITIVE_DATA_ORIGIN | TPMA_USER_WITH_AUTH | TPMA_NO_DA | \
	TPMA_RESTRICTED | TPMA_DECRYPT)
#define TPMA_SIGNING (TPMA_FIXED_TPM | TPMA_FIXED_PARENT | \
	TPMA_SENSITIVE_DATA_ORIGIN | TPMA_USER_WITH_AUTH | TPMA_NO_DA | \
	TPMA_SIGN)

#define PW_SESSION_SIZE 9u      /* handle, empty nonce, attributes, empty hmac */
#define SESSION_FIELD_MAX 64u   /* largest nonce or hmac in a response */
#define ECC_P256_BYTES 32u
#define RSA_2048_BYTES 256u
#define RSA_2048_BITS 2048u
#define AES_128_BITS 128u

/* ---- commands ---- */

static void cmd_begin(struct buf *b, uint16_t tag, uint32_t cc)
{
	buf_put_u16(b, tag);
	buf_put_u32(b, 0); /* size, patched by cmd_end */
	buf_put_u32(b, cc);
}

static size_t cmd_end(struct buf *b)
{
	buf_patch_u32(b, 2, (uint32_t)b->off);
	if (!buf_ok(b) || b->off > TPM_PACKET_MAX)
		return 0;
	return b->off;
}

/* An authorization area holding one empty password session. */
static void cmd_pw_session(struct buf *b)
{
	buf_put_u32(b, PW_SESSION_SIZE);
	buf_put_u32(b, TPM_RS_PW);
	buf_put_u16(b, 0); /* nonceCaller */
	buf_put_u8(b, 0);  /* sessionAttributes */
	buf_put_u16(b, 0); /* hmac: the empty password */
}

size_t tpm_cmd_startup_clear(uint8_t *buf, size_t cap)
{
	/* the project's own builder (lib/tpm.h): 12 bytes */
	return cap < 12 ? 0 : tpm2_build_su(buf, TPM20_CC_STARTUP, TPM20_SU_CLEAR);
}

size_t tpm_cmd_get_random(uint8_t *buf, size_t cap, uint16_t bytes)
{
	struct buf b;

	buf_init_write(&b, buf, cap);
	cmd_begin(&b, TPM20_ST_NO_SESSIONS, TPM_CC_GET_RANDOM);
	buf_put_u16(&b, bytes);
	return cmd_end(&b);
}

size_t tpm_cmd_pcr_extend(uint8_t *buf, size_t cap, uint32_t pcr,
			  const uint8_t digest[TPM_DIGEST_SIZE])
{
	struct buf b;

	buf_init_write(&b, buf, cap);
	cmd_begin(&b, TPM20_ST_SESSIONS, TPM_CC_PCR_EXTEND);
	buf_put_u32(&b, pcr);
	cmd_pw_session(&b);
	buf_put_u32(&b, 1); /* TPML_DIGEST_VALUES.count */
	buf_put_u16(&b, TPM_ALG_SHA256);
	buf_put_bytes(&b, digest, TPM_DIGEST_SIZE);
	return cmd_end(&b);
}

/* The zeros after seq in a unique field; RSA-2048's is the largest. */
static const uint8_t unique_zeros[RSA_2048_BYTES - 4];

/*
 * The unique field: seq big-endian, then zeros, size bytes in all (4 to
 * RSA_2048_BYTES).
 */
static void cmd_unique(struct buf *b, uint16_t size, uint32_t seq)
{
	buf_put_u16(b, size);
	buf_put_u32(b, seq);
	buf_put_bytes(b, unique_zeros, (size_t)size - 4);
}

/* TPMT_PUBLIC for one of the benchmark's key templates. */
static void cmd_template(struct buf *b, enum tpm_key_kind kind,
			 uint32_t seq)
{
	int rsa = kind == TPM_KEY_RSA_STORAGE;

	buf_put_u16(b, rsa ? TPM_ALG_RSA : TPM_ALG_ECC);
	buf_put_u16(b, TPM_ALG_SHA256); /* nameAlg */
	buf_put_u32(b, kind == TPM_KEY_ECC_SIGNING ? TPMA_SIGNING : TPMA_STORAGE);
	buf_put_u16(b, 0); /* authPolicy */
	if (kind == TPM_KEY_ECC_SIGNING) {
		buf_put_u16(b, TPM_ALG_NULL); /* symmetric */
		buf_put_u16(b, TPM_ALG_ECDSA);
		buf_put_u16(b, TPM_ALG_SHA256);
	} else {
		buf_put_u16(b, TPM_ALG_AES);
		buf_put_u16(b, AES_128_BITS);
		buf_put_u16(b, TPM_ALG_CFB);
		buf_put_u16(b, TPM_ALG_NULL); /* scheme */
	}
	if (rsa) {
		buf_put_u16(b, RSA_2048_BITS);
		buf_put_u32(b, 0); /* exponent: default 65537 */
		cmd_unique(b, RSA_2048_BYTES, seq);
	} else {
		buf_put_u16(b, TPM_ECC_NIST_P256);
		buf_put_u16(b, TPM_ALG_NULL); /* kdf */
		cmd_unique(b, ECC_P256_BYTES, seq); /* x */
		cmd_unique(b, ECC_P256_BYTES, 0);   /* y */
	}
}

size_t tpm_cmd_create_primary(uint8_t *buf, size_t cap,
			      enum tpm_key_kind kind, uint32_t seq)
{
	struct buf b;
	size_t pub_at;

	buf_init_write(&b, buf, cap);
	cmd_begin(&b, TPM20_ST_SESSIONS, TPM_CC_CREATE_PRIMARY);
	buf_put_u32(&b, TPM_RH_OWNER);
	cmd_pw_session(&b);
	buf_put_u16(&b, 4); /* TPM2B_SENSITIVE_CREATE */
	buf_put_u16(&b, 0); /* userAuth */
	buf_put_u16(&b, 0); /* data */
	pub_at = b.off;
	buf_put_u16(&b, 0); /* TPM2B_PUBLIC size, patched below */
	cmd_template(&b, kind, seq);
	if (buf_ok(&b)) /* the 2 bytes at pub_at were written */
		be16_store(b.data + pub_at, (uint16_t)(b.off - pub_at - 2));
	buf_put_u16(&b, 0); /* outsideInfo */
	buf_put_u32(&b, 0); /* creationPCR: no selections */
	return cmd_end(&b);
}

size_t tpm_cmd_sign(uint8_t *buf, size_t cap, uint32_t key,
		    const uint8_t digest[TPM_DIGEST_SIZE])
{
	struct buf b;

	buf_init_write(&b, buf, cap);
	cmd_begin(&b, TPM20_ST_SESSIONS, TPM_CC_SIGN);
	buf_put_u32(&b, key);
	cmd_pw_session(&b);
	buf_put_tpm2b(&b, digest, TPM_DIGEST_SIZE);
	buf_put_u16(&b, TPM_ALG_ECDSA); /* inScheme */
	buf_put_u16(&b, TPM_ALG_SHA256);
	buf_put_u16(&b, TPM_ST_HASHCHECK); /* validation: the null ticket */
	buf_put_u32(&b, TPM_RH_NULL);
	buf_put_u16(&b, 0);
	return cmd_end(&b);
}

size_t tpm_cmd_flush(uint8_t *buf, size_t cap, uint32_t handle)
{
	struct buf b;

	buf_init_write(&b, buf, cap);
	cmd_begin(&b, TPM20_ST_NO_SESSIONS, TPM_CC_FLUSH_CONTEXT);
	buf_put_u32(&b, handle);
	return cmd_end(&b);
}

size_t tpm_cmd_nv_define(uint8_t *buf, size_t cap, uint32_t index,
			 uint16_t size)
{
	struct buf b;

	buf_init_write(&b, buf, cap);
	cmd_begin(&b, TPM20_ST_SESSIONS, TPM_CC_NV_DEFINE_SPACE);
	buf_put_u32(&b, TPM_RH_OWNER);
	cmd_pw_session(&b);
	buf_put_u16(&b, 0);  /* auth: empty */
	buf_put_u16(&b, 14); /* TPM2B_NV_PUBLIC: the 14 bytes below */
	buf_put_u32(&b, index);
	buf_put_u16(&b, TPM_ALG_SHA256); /* nameAlg */
	buf_put_u32(&b, TPMA_NV_BENCH);
	buf_put_u16(&b, 0);  /* authPolicy: none */
	buf_put_u16(&b, size);
	return cmd_end(&b);
}

size_t tpm_cmd_nv_write(uint8_t *buf, size_t cap, uint32_t index,
			const uint8_t *data, uint16_t len, uint16_t offset)
{
	struct buf b;

	buf_init_write(&b, buf, cap);
	cmd_begin(&b, TPM20_ST_SESSIONS, TPM_CC_NV_WRITE);
	buf_put_u32(&b, TPM_RH_OWNER); /* authHandle */
	buf_put_u32(&b, index);
	cmd_pw_session(&b);
	buf_put_tpm2b(&b, data, len);
	buf_put_u16(&b, offset);
	return cmd_end(&b);
}

/* ---- responses ---- */

/*
 * Reads the header.  Returns -1 when malformed, 1 when the TPM answered
 * with an error (*rc set, nothing follows), 0 when a success body follows.
 */
static int rsp_begin(struct buf *r, const uint8_t *rsp, size_t len,
		     uint32_t *rc, int sessions)
{
	uint16_t tag;
	uint32_t size;

	*rc = 0;
	buf_init_read(r, rsp, len);
	tag = buf_get_u16(r);
	size = buf_get_u32(r);
	*rc = buf_get_u32(r);
	if (!buf_ok(r) || size != len)
		return -1;
	if (*rc != 0)
		return buf_done(r) ? 1 : -1;
	if (tag != (sessions ? TPM20_ST_SESSIONS : TPM20_ST_NO_SESSIONS))
		return -1;
	return 0;
}

/* The response authorization area of one password session: the rest of r. */
static int rsp_pw_session(struct buf *r)
{
	uint16_t n;

	(void)buf_get_tpm2b(r, &n, SESSION_FIELD_MAX); /* nonceTPM */
	(void)buf_get_u8(r);                           /* attributes */
	(void)buf_get_tpm2b(r, &n, SESSION_FIELD_MAX); /* hmac */
	return buf_done(r) ? 0 : -1;
}

/*
 * Reads parameterSize and sets params to read exactly that many bytes.
 * Returns -1 (r's error set) when fewer bytes than that are left.
 */
static int rsp_params(struct buf *r, struct buf *params)
{
	uint32_t size = buf_get_u32(r);
	const uint8_t *p = buf_get_ptr(r, size);

	buf_init_read(params, p, p ? size : 0);
	return p ? 0 : -1;
}

int tpm_rsp_plain(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	struct buf r;
	int st = rsp_begin(&r, rsp, len, rc, 0);

	if (st != 0)
		return st < 0 ? -1 : 0;
	return buf_done(&r) ? 0 : -1;
}

int tpm_rsp_get_random(const uint8_t *rsp, size_t len, uint32_t *rc,
		       uint16_t bytes)
{
	struct buf r;
	uint16_t n;
	int st = rsp_begin(&r, rsp, len, rc, 0);

	if (st != 0)
		return st < 0 ? -1 : 0;
	(void)buf_get_tpm2b(&r, &n, bytes);
	if (n != bytes)
		return -1;
	return buf_done(&r) ? 0 : -1;
}

int tpm_rsp_pcr_extend(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	return tpm_rsp_no_params(rsp, len, rc);
}

int tpm_rsp_no_params(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	struct buf r, params;
	int st = rsp_begin(&r, rsp, len, rc, 1);

	if (st != 0)
		return st < 0 ? -1 : 0;
	if (rsp_params(&r, &params) != 0 || !buf_done(&params))
		return -1;
	return rsp_pw_session(&r);
}

int tpm_rsp_create_primary(const uint8_t *rsp, size_t len, uint32_t *rc,
			   uint32_t *handle, uint8_t *name, size_t *name_len)
{
	struct buf r, p;
	const uint8_t *nm;
	uint16_t n;
	int st = rsp_begin(&r, rsp, len, rc, 1);

	*handle = 0;
	*name_len = 0;
	if (st != 0)
		return st < 0 ? -1 : 0;
	*handle = buf_get_u32(&r);
	if (rsp_params(&r, &p) != 0)
		return -1;
	(void)buf_get_tpm2b(&p, &n, TPM_PACKET_MAX); /* outPublic */
	(void)buf_get_tpm2b(&p, &n, TPM_PACKET_MAX); /* creationData */
	(void)buf_get_tpm2b(&p, &n, TPM_NAME_MAX);     /* creationHash */
	if (buf_get_u16(&p) != TPM_ST_CREATION)        /* creationTicket */
		return -1;
	(void)buf_get_u32(&p);
	(void)buf_get_tpm2b(&p, &n, TPM_NAME_MAX);
	nm = buf_get_tpm2b(&p, &n, TPM_NAME_MAX);      /* name */
	if (!buf_done(&p) || !nm || n == 0)
		return -1;
	if ((*handle >> 24) != TPM_HT_TRANSIENT)
		return -1;
	memcpy(name, nm, n);
	*name_len = n;
	return rsp_pw_session(&r);
}

int tpm_rsp_sign(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	struct buf r, p;
	uint16_t n;
	int st = rsp_begin(&r, rsp, len, rc, 1);

	if (st != 0)
		return st < 0 ? -1 : 0;
	if (rsp_params(&r, &p) != 0)
		return -1;
	if (buf_get_u16(&p) != TPM_ALG_ECDSA || buf_get_u16(&p) != TPM_ALG_SHA256)
		return -1;
	(void)buf_get_tpm2b(&p, &n, ECC_P256_BYTES); /* signatureR */
	if (n == 0)
		return -1;
	(void)buf_get_tpm2b(&p, &n, ECC_P256_BYTES); /* signatureS */
	if (n == 0 || !buf_done(&p))
		return -1;
	return rsp_pw_session(&r);
}
