/*
 * tpm_wire.h: big-endian marshalling for the benchmark, and the handful of
 * raw TPM 2.0 commands it sends (GetRandom, PCR_Extend, CreatePrimary,
 * Sign, FlushContext, Startup, NV_DefineSpace, NV_Write) with a parser for
 * each response.  Runs in
 * every bench_tpm process.  Responses come from the target under test and
 * are untrusted: every length is checked against what is left before it is
 * used, the first error sticks, and a parser must consume its input exactly.
 */
#ifndef BENCH_TPM_WIRE_H
#define BENCH_TPM_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define TPM_HEADER_SIZE 10u
#define TPM_MAX_COMMAND 4096u  /* TPM2_BUFFER_MAX of libtpms 0.9 */
#define TPM_MAX_RESPONSE 4096u
#define TPM_DIGEST_SIZE 32u    /* SHA-256 */
#define TPM_NAME_MAX (2u + 64u) /* hash alg id + largest digest */
#define TPM_RC_NV_DEFINED 0x0000014Cu /* NV_DefineSpace: the index exists */

/* Writer over a caller's buffer; an overflow sets err and later puts no-op. */
struct wire_buf {
	uint8_t *data;
	size_t cap;
	size_t off;
	int err;
};

/* Reader over untrusted bytes; a short read sets err and later gets read 0. */
struct wire_rd {
	const uint8_t *data;
	size_t len;
	size_t off;
	int err;
};

void wire_buf_init(struct wire_buf *b, uint8_t *data, size_t cap);
void wire_put_u8(struct wire_buf *b, uint8_t v);
void wire_put_u16(struct wire_buf *b, uint16_t v);
void wire_put_u32(struct wire_buf *b, uint32_t v);
void wire_put_u64(struct wire_buf *b, uint64_t v);
void wire_put_bytes(struct wire_buf *b, const void *p, size_t n);
void wire_put_zeros(struct wire_buf *b, size_t n);
/* Overwrites 4 bytes already written at off (a size field). */
void wire_patch_u32(struct wire_buf *b, size_t off, uint32_t v);

void wire_rd_init(struct wire_rd *r, const uint8_t *data, size_t len);
uint8_t wire_get_u8(struct wire_rd *r);
uint16_t wire_get_u16(struct wire_rd *r);
uint32_t wire_get_u32(struct wire_rd *r);
uint64_t wire_get_u64(struct wire_rd *r);
/* Skips n bytes; returns a pointer to them, or NULL (and err) if short. */
const uint8_t *wire_get_bytes(struct wire_rd *r, size_t n);
/* Reads a TPM2B: u16 size (refused above max) and that many bytes. */
const uint8_t *wire_get_tpm2b(struct wire_rd *r, size_t max, size_t *n);
/* 0 when no error happened and every byte was consumed, else -1. */
int wire_rd_done(const struct wire_rd *r);

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

/* The size field of a response header, or 0 if the header is unusable. */
uint32_t tpm_rsp_size(const uint8_t hdr[TPM_HEADER_SIZE]);

#endif
