/*
 * tpm_wire.c: big-endian marshalling and the raw TPM 2.0 commands of the
 * benchmark, built by hand so that every target sees the same bytes.  Runs
 * in every bench_tpm process.  The responses parsed here come from the
 * target under test (libtpms or a daemon over a socket) and are untrusted:
 * the reader checks each length against the bytes left (subtractively, so
 * nothing overflows), keeps its first error, and a parser fails unless it
 * consumed the response exactly.
 */
#include "tpm_wire.h"

#include <string.h>

#define TPM_ST_NO_SESSIONS 0x8001u
#define TPM_ST_SESSIONS 0x8002u
#define TPM_ST_CREATION 0x8021u
#define TPM_ST_HASHCHECK 0x8024u

#define TPM_CC_NV_DEFINE_SPACE 0x0000012Au
#define TPM_CC_CREATE_PRIMARY 0x00000131u
#define TPM_CC_NV_WRITE 0x00000137u
#define TPM_CC_STARTUP 0x00000144u
#define TPM_CC_SIGN 0x0000015Du
#define TPM_CC_FLUSH_CONTEXT 0x00000165u
#define TPM_CC_GET_RANDOM 0x0000017Bu
#define TPM_CC_PCR_EXTEND 0x00000182u

#define TPM_RH_OWNER 0x40000001u
#define TPM_RH_NULL 0x40000007u
#define TPM_RS_PW 0x40000009u
#define TPM_HT_TRANSIENT 0x80u
#define TPM_SU_CLEAR 0x0000u

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

void wire_buf_init(struct wire_buf *b, uint8_t *data, size_t cap)
{
	b->data = data;
	b->cap = cap;
	b->off = 0;
	b->err = 0;
}

/* Reserves n bytes and returns where they go, or NULL once overflowed. */
static uint8_t *wire_reserve(struct wire_buf *b, size_t n)
{
	uint8_t *p;

	if (b->err || n > b->cap - b->off) {
		b->err = 1;
		return NULL;
	}
	p = b->data + b->off;
	b->off += n;
	return p;
}

void wire_put_u8(struct wire_buf *b, uint8_t v)
{
	uint8_t *p = wire_reserve(b, 1);

	if (p)
		p[0] = v;
}

void wire_put_u16(struct wire_buf *b, uint16_t v)
{
	uint8_t *p = wire_reserve(b, 2);

	if (p) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

static void wire_store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void wire_put_u32(struct wire_buf *b, uint32_t v)
{
	uint8_t *p = wire_reserve(b, 4);

	if (p)
		wire_store_u32(p, v);
}

void wire_put_u64(struct wire_buf *b, uint64_t v)
{
	wire_put_u32(b, (uint32_t)(v >> 32));
	wire_put_u32(b, (uint32_t)v);
}

void wire_put_bytes(struct wire_buf *b, const void *src, size_t n)
{
	uint8_t *p = wire_reserve(b, n);

	if (p && n)
		memcpy(p, src, n);
}

void wire_put_zeros(struct wire_buf *b, size_t n)
{
	uint8_t *p = wire_reserve(b, n);

	if (p && n)
		memset(p, 0, n);
}

void wire_patch_u32(struct wire_buf *b, size_t off, uint32_t v)
{
	if (b->err || off > b->off || 4 > b->off - off) {
		b->err = 1;
		return;
	}
	wire_store_u32(b->data + off, v);
}

void wire_rd_init(struct wire_rd *r, const uint8_t *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->off = 0;
	r->err = 0;
}

const uint8_t *wire_get_bytes(struct wire_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->err || n > r->len - r->off) {
		r->err = 1;
		return NULL;
	}
	p = r->data + r->off;
	r->off += n;
	return p;
}

uint8_t wire_get_u8(struct wire_rd *r)
{
	const uint8_t *p = wire_get_bytes(r, 1);

	return p ? p[0] : 0;
}

uint16_t wire_get_u16(struct wire_rd *r)
{
	const uint8_t *p = wire_get_bytes(r, 2);

	return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t wire_get_u32(struct wire_rd *r)
{
	const uint8_t *p = wire_get_bytes(r, 4);

	if (!p)
		return 0;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

uint64_t wire_get_u64(struct wire_rd *r)
{
	uint64_t hi = wire_get_u32(r);

	return (hi << 32) | wire_get_u32(r);
}

const uint8_t *wire_get_tpm2b(struct wire_rd *r, size_t max, size_t *n)
{
	size_t size = wire_get_u16(r);

	*n = 0;
	if (r->err)
		return NULL;
	if (size > max) {
		r->err = 1;
		return NULL;
	}
	*n = size;
	return wire_get_bytes(r, size);
}

int wire_rd_done(const struct wire_rd *r)
{
	return (r->err || r->off != r->len) ? -1 : 0;
}

/* ---- commands ---- */

static void cmd_begin(struct wire_buf *b, uint16_t tag, uint32_t cc)
{
	wire_put_u16(b, (uint16_t)tag);
	wire_put_u32(b, 0); /* size, patched by cmd_end */
	wire_put_u32(b, cc);
}

static size_t cmd_end(struct wire_buf *b)
{
	wire_patch_u32(b, 2, (uint32_t)b->off);
	if (b->err || b->off > TPM_MAX_COMMAND)
		return 0;
	return b->off;
}

/* An authorization area holding one empty password session. */
static void cmd_pw_session(struct wire_buf *b)
{
	wire_put_u32(b, PW_SESSION_SIZE);
	wire_put_u32(b, TPM_RS_PW);
	wire_put_u16(b, 0); /* nonceCaller */
	wire_put_u8(b, 0);  /* sessionAttributes */
	wire_put_u16(b, 0); /* hmac: the empty password */
}

size_t tpm_cmd_startup_clear(uint8_t *buf, size_t cap)
{
	struct wire_buf b;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_NO_SESSIONS, TPM_CC_STARTUP);
	wire_put_u16(&b, TPM_SU_CLEAR);
	return cmd_end(&b);
}

size_t tpm_cmd_get_random(uint8_t *buf, size_t cap, uint16_t bytes)
{
	struct wire_buf b;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_NO_SESSIONS, TPM_CC_GET_RANDOM);
	wire_put_u16(&b, bytes);
	return cmd_end(&b);
}

size_t tpm_cmd_pcr_extend(uint8_t *buf, size_t cap, uint32_t pcr,
			  const uint8_t digest[TPM_DIGEST_SIZE])
{
	struct wire_buf b;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_SESSIONS, TPM_CC_PCR_EXTEND);
	wire_put_u32(&b, pcr);
	cmd_pw_session(&b);
	wire_put_u32(&b, 1); /* TPML_DIGEST_VALUES.count */
	wire_put_u16(&b, TPM_ALG_SHA256);
	wire_put_bytes(&b, digest, TPM_DIGEST_SIZE);
	return cmd_end(&b);
}

/* The unique field: seq big-endian, then zeros, size bytes in all. */
static void cmd_unique(struct wire_buf *b, size_t size, uint32_t seq)
{
	wire_put_u16(b, (uint16_t)size);
	wire_put_u32(b, seq);
	wire_put_zeros(b, size - 4);
}

/* TPMT_PUBLIC for one of the benchmark's key templates. */
static void cmd_template(struct wire_buf *b, enum tpm_key_kind kind,
			 uint32_t seq)
{
	int rsa = kind == TPM_KEY_RSA_STORAGE;

	wire_put_u16(b, rsa ? TPM_ALG_RSA : TPM_ALG_ECC);
	wire_put_u16(b, TPM_ALG_SHA256); /* nameAlg */
	wire_put_u32(b, kind == TPM_KEY_ECC_SIGNING ? TPMA_SIGNING : TPMA_STORAGE);
	wire_put_u16(b, 0); /* authPolicy */
	if (kind == TPM_KEY_ECC_SIGNING) {
		wire_put_u16(b, TPM_ALG_NULL); /* symmetric */
		wire_put_u16(b, TPM_ALG_ECDSA);
		wire_put_u16(b, TPM_ALG_SHA256);
	} else {
		wire_put_u16(b, TPM_ALG_AES);
		wire_put_u16(b, AES_128_BITS);
		wire_put_u16(b, TPM_ALG_CFB);
		wire_put_u16(b, TPM_ALG_NULL); /* scheme */
	}
	if (rsa) {
		wire_put_u16(b, RSA_2048_BITS);
		wire_put_u32(b, 0); /* exponent: default 65537 */
		cmd_unique(b, RSA_2048_BYTES, seq);
	} else {
		wire_put_u16(b, TPM_ECC_NIST_P256);
		wire_put_u16(b, TPM_ALG_NULL); /* kdf */
		cmd_unique(b, ECC_P256_BYTES, seq); /* x */
		cmd_unique(b, ECC_P256_BYTES, 0);   /* y */
	}
}

size_t tpm_cmd_create_primary(uint8_t *buf, size_t cap,
			      enum tpm_key_kind kind, uint32_t seq)
{
	struct wire_buf b;
	size_t pub_at;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_SESSIONS, TPM_CC_CREATE_PRIMARY);
	wire_put_u32(&b, TPM_RH_OWNER);
	cmd_pw_session(&b);
	wire_put_u16(&b, 4); /* TPM2B_SENSITIVE_CREATE */
	wire_put_u16(&b, 0); /* userAuth */
	wire_put_u16(&b, 0); /* data */
	pub_at = b.off;
	wire_put_u16(&b, 0); /* TPM2B_PUBLIC size, patched below */
	cmd_template(&b, kind, seq);
	if (!b.err) {
		size_t n = b.off - pub_at - 2;

		b.data[pub_at] = (uint8_t)(n >> 8);
		b.data[pub_at + 1] = (uint8_t)n;
	}
	wire_put_u16(&b, 0); /* outsideInfo */
	wire_put_u32(&b, 0); /* creationPCR: no selections */
	return cmd_end(&b);
}

size_t tpm_cmd_sign(uint8_t *buf, size_t cap, uint32_t key,
		    const uint8_t digest[TPM_DIGEST_SIZE])
{
	struct wire_buf b;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_SESSIONS, TPM_CC_SIGN);
	wire_put_u32(&b, key);
	cmd_pw_session(&b);
	wire_put_u16(&b, TPM_DIGEST_SIZE);
	wire_put_bytes(&b, digest, TPM_DIGEST_SIZE);
	wire_put_u16(&b, TPM_ALG_ECDSA); /* inScheme */
	wire_put_u16(&b, TPM_ALG_SHA256);
	wire_put_u16(&b, TPM_ST_HASHCHECK); /* validation: the null ticket */
	wire_put_u32(&b, TPM_RH_NULL);
	wire_put_u16(&b, 0);
	return cmd_end(&b);
}

size_t tpm_cmd_flush(uint8_t *buf, size_t cap, uint32_t handle)
{
	struct wire_buf b;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_NO_SESSIONS, TPM_CC_FLUSH_CONTEXT);
	wire_put_u32(&b, handle);
	return cmd_end(&b);
}

size_t tpm_cmd_nv_define(uint8_t *buf, size_t cap, uint32_t index,
			 uint16_t size)
{
	struct wire_buf b;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_SESSIONS, TPM_CC_NV_DEFINE_SPACE);
	wire_put_u32(&b, TPM_RH_OWNER);
	cmd_pw_session(&b);
	wire_put_u16(&b, 0);  /* auth: empty */
	wire_put_u16(&b, 14); /* TPM2B_NV_PUBLIC: the 14 bytes below */
	wire_put_u32(&b, index);
	wire_put_u16(&b, TPM_ALG_SHA256); /* nameAlg */
	wire_put_u32(&b, TPMA_NV_BENCH);
	wire_put_u16(&b, 0);  /* authPolicy: none */
	wire_put_u16(&b, size);
	return cmd_end(&b);
}

size_t tpm_cmd_nv_write(uint8_t *buf, size_t cap, uint32_t index,
			const uint8_t *data, uint16_t len, uint16_t offset)
{
	struct wire_buf b;

	wire_buf_init(&b, buf, cap);
	cmd_begin(&b, TPM_ST_SESSIONS, TPM_CC_NV_WRITE);
	wire_put_u32(&b, TPM_RH_OWNER); /* authHandle */
	wire_put_u32(&b, index);
	cmd_pw_session(&b);
	wire_put_u16(&b, len);
	wire_put_bytes(&b, data, len);
	wire_put_u16(&b, offset);
	return cmd_end(&b);
}

/* ---- responses ---- */

uint32_t tpm_rsp_size(const uint8_t hdr[TPM_HEADER_SIZE])
{
	struct wire_rd r;
	uint16_t tag;
	uint32_t size;

	wire_rd_init(&r, hdr, TPM_HEADER_SIZE);
	tag = wire_get_u16(&r);
	size = wire_get_u32(&r);
	if (tag != TPM_ST_NO_SESSIONS && tag != TPM_ST_SESSIONS)
		return 0;
	if (size < TPM_HEADER_SIZE || size > TPM_MAX_RESPONSE)
		return 0;
	return size;
}

/*
 * Reads the header.  Returns -1 when malformed, 1 when the TPM answered
 * with an error (*rc set, nothing follows), 0 when a success body follows.
 */
static int rsp_begin(struct wire_rd *r, const uint8_t *rsp, size_t len,
		     uint32_t *rc, int sessions)
{
	uint16_t tag;
	uint32_t size;

	*rc = 0;
	wire_rd_init(r, rsp, len);
	tag = wire_get_u16(r);
	size = wire_get_u32(r);
	*rc = wire_get_u32(r);
	if (r->err || size != len)
		return -1;
	if (*rc != 0)
		return wire_rd_done(r) == 0 ? 1 : -1;
	if (tag != (sessions ? TPM_ST_SESSIONS : TPM_ST_NO_SESSIONS))
		return -1;
	return 0;
}

/* The response authorization area of one password session. */
static int rsp_pw_session(struct wire_rd *r)
{
	size_t n;

	(void)wire_get_tpm2b(r, SESSION_FIELD_MAX, &n); /* nonceTPM */
	(void)wire_get_u8(r);                           /* attributes */
	(void)wire_get_tpm2b(r, SESSION_FIELD_MAX, &n); /* hmac */
	return wire_rd_done(r);
}

/* Reads parameterSize and sets params to read exactly that many bytes. */
static const uint8_t *rsp_params(struct wire_rd *r, struct wire_rd *params)
{
	uint32_t size = wire_get_u32(r);
	const uint8_t *p = wire_get_bytes(r, size);

	wire_rd_init(params, p, p ? size : 0);
	if (!p)
		params->err = 1;
	return p;
}

int tpm_rsp_plain(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	struct wire_rd r;
	int st = rsp_begin(&r, rsp, len, rc, 0);

	if (st != 0)
		return st < 0 ? -1 : 0;
	return wire_rd_done(&r);
}

int tpm_rsp_get_random(const uint8_t *rsp, size_t len, uint32_t *rc,
		       uint16_t bytes)
{
	struct wire_rd r;
	size_t n;
	int st = rsp_begin(&r, rsp, len, rc, 0);

	if (st != 0)
		return st < 0 ? -1 : 0;
	(void)wire_get_tpm2b(&r, bytes, &n);
	if (n != bytes)
		return -1;
	return wire_rd_done(&r);
}

int tpm_rsp_pcr_extend(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	return tpm_rsp_no_params(rsp, len, rc);
}

int tpm_rsp_no_params(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	struct wire_rd r, params;
	int st = rsp_begin(&r, rsp, len, rc, 1);

	if (st != 0)
		return st < 0 ? -1 : 0;
	(void)rsp_params(&r, &params);
	if (wire_rd_done(&params) != 0)
		return -1;
	return rsp_pw_session(&r);
}

int tpm_rsp_create_primary(const uint8_t *rsp, size_t len, uint32_t *rc,
			   uint32_t *handle, uint8_t *name, size_t *name_len)
{
	struct wire_rd r, p;
	const uint8_t *nm;
	size_t n;
	int st = rsp_begin(&r, rsp, len, rc, 1);

	*handle = 0;
	*name_len = 0;
	if (st != 0)
		return st < 0 ? -1 : 0;
	*handle = wire_get_u32(&r);
	(void)rsp_params(&r, &p);
	(void)wire_get_tpm2b(&p, TPM_MAX_RESPONSE, &n); /* outPublic */
	(void)wire_get_tpm2b(&p, TPM_MAX_RESPONSE, &n); /* creationData */
	(void)wire_get_tpm2b(&p, TPM_NAME_MAX, &n);     /* creationHash */
	if (wire_get_u16(&p) != TPM_ST_CREATION)        /* creationTicket */
		return -1;
	(void)wire_get_u32(&p);
	(void)wire_get_tpm2b(&p, TPM_NAME_MAX, &n);
	nm = wire_get_tpm2b(&p, TPM_NAME_MAX, &n);      /* name */
	if (wire_rd_done(&p) != 0 || !nm || n == 0)
		return -1;
	if ((*handle >> 24) != TPM_HT_TRANSIENT)
		return -1;
	memcpy(name, nm, n);
	*name_len = n;
	return rsp_pw_session(&r);
}

int tpm_rsp_sign(const uint8_t *rsp, size_t len, uint32_t *rc)
{
	struct wire_rd r, p;
	size_t n;
	int st = rsp_begin(&r, rsp, len, rc, 1);

	if (st != 0)
		return st < 0 ? -1 : 0;
	(void)rsp_params(&r, &p);
	if (wire_get_u16(&p) != TPM_ALG_ECDSA || wire_get_u16(&p) != TPM_ALG_SHA256)
		return -1;
	(void)wire_get_tpm2b(&p, ECC_P256_BYTES, &n); /* signatureR */
	if (n == 0)
		return -1;
	(void)wire_get_tpm2b(&p, ECC_P256_BYTES, &n); /* signatureS */
	if (n == 0 || wire_rd_done(&p) != 0)
		return -1;
	return rsp_pw_session(&r);
}
