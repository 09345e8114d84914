/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mgrmsg: the manager protocol codec. The manager parses bytes written by
 * a vtpm, which may be compromised; the vtpm parses the manager's answers.
 * Both decoders demand the exact size for each ordinal and version 1.
 */
#include "mgrmsg.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "tpm.h"

static void put_hdr(struct buf *b, uint16_t tag, uint32_t code)
{
	buf_put_u16(b, tag);
	buf_put_u32(b, 0);	/* size, patched */
	buf_put_u32(b, code);
}

static long finish(struct buf *b)
{
	buf_patch_u32(b, 2, (uint32_t)b->off);
	return buf_ok(b) ? (long)b->off : -1;
}

static void put_record(struct buf *b, const struct mgr_record *rec)
{
	buf_put_u64(b, rec->seq);
	buf_put_bytes(b, rec->digest, VTPM_DIGEST_SIZE);
	buf_put_bytes(b, rec->key, VTPM_KEY_SIZE);
}

static void get_record(struct buf *b, struct mgr_record *rec)
{
	rec->seq = buf_get_u64(b);
	buf_get_bytes(b, rec->digest, VTPM_DIGEST_SIZE);
	buf_get_bytes(b, rec->key, VTPM_KEY_SIZE);
}

bool mgrmsg_record_is_empty(const struct mgr_record *rec)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < VTPM_DIGEST_SIZE; i++)
		acc |= rec->digest[i];
	for (size_t i = 0; i < VTPM_KEY_SIZE; i++)
		acc |= rec->key[i];
	return acc == 0;
}

long mgrmsg_save_request(uint8_t *out, uint8_t type, const struct mgr_record *rec)
{
	struct buf b;

	buf_init_write(&b, out, MGRMSG_MAX);
	put_hdr(&b, VTPM_TAG_REQ, VTPM_ORD_SAVEHASHKEY);
	buf_put_u8(&b, VTPM_PROTO_VERSION);
	buf_put_u8(&b, type);
	put_record(&b, rec);
	return finish(&b);
}

long mgrmsg_load_request(uint8_t *out, uint8_t type)
{
	struct buf b;

	buf_init_write(&b, out, MGRMSG_MAX);
	put_hdr(&b, VTPM_TAG_REQ, VTPM_ORD_LOADHASHKEY);
	buf_put_u8(&b, VTPM_PROTO_VERSION);
	buf_put_u8(&b, type);
	return finish(&b);
}

long mgrmsg_boot_hash_request(uint8_t *out)
{
	struct buf b;

	buf_init_write(&b, out, MGRMSG_MAX);
	put_hdr(&b, VTPM_TAG_REQ, VTPM_ORD_GET_BOOT_HASH);
	buf_put_u8(&b, VTPM_PROTO_VERSION);
	return finish(&b);
}

static void put_blob_fields(struct buf *b, const struct mgr_blobkey *k)
{
	buf_put_bytes(b, k->uuid, VTPM_UUID_SIZE);
	buf_put_u64(b, k->seq);
	buf_put_bytes(b, k->nonce, VTPM_BLOB_NONCE_SIZE);
}

static void get_blob_fields(struct buf *b, struct mgr_blobkey *k)
{
	buf_get_bytes(b, k->uuid, VTPM_UUID_SIZE);
	k->seq = buf_get_u64(b);
	buf_get_bytes(b, k->nonce, VTPM_BLOB_NONCE_SIZE);
}

long mgrmsg_blobkey_request(uint8_t *out, const struct mgr_blobkey *k)
{
	struct mgr_blobkey q = *k;
	struct buf b;

	if (q.op == MGR_BLOB_EXPORT) {
		memset(q.uuid, 0, sizeof(q.uuid));
		q.seq = 0;
	}
	buf_init_write(&b, out, MGRMSG_MAX);
	put_hdr(&b, VTPM_TAG_REQ, VTPM_ORD_BLOBKEY);
	buf_put_u8(&b, VTPM_PROTO_VERSION);
	buf_put_u8(&b, q.op);
	buf_put_u8(&b, q.type);
	put_blob_fields(&b, &q);
	explicit_bzero(&q, sizeof(q));
	return finish(&b);
}

#define BLOB_MAGIC	"VTPMBLOB"
#define BLOB_FORMAT	1

void mgrmsg_blob_header(uint8_t *out, const struct mgr_blobkey *k, uint32_t plain_len)
{
	struct buf b;

	buf_init_write(&b, out, MGRMSG_BLOB_HDR + 4);
	buf_put_bytes(&b, BLOB_MAGIC, 8);
	buf_put_u16(&b, BLOB_FORMAT);
	buf_put_u16(&b, k->type);
	put_blob_fields(&b, k);
	buf_put_u32(&b, plain_len + CRYPTO_GCM_OVERHEAD);
}

int mgrmsg_blob_parse(const uint8_t *p, size_t n, struct mgr_blobkey *k, uint32_t *plain_len)
{
	uint8_t magic[8];
	uint16_t format, type;
	uint32_t clen;
	struct buf b;

	memset(k, 0, sizeof(*k));
	buf_init_read(&b, p, n);
	buf_get_bytes(&b, magic, sizeof(magic));
	format = buf_get_u16(&b);
	type = buf_get_u16(&b);
	get_blob_fields(&b, k);
	clen = buf_get_u32(&b);
	/* the rest is exactly the ciphertext: n bounds clen before it is used */
	if (!buf_ok(&b) || memcmp(magic, BLOB_MAGIC, 8) != 0 || format != BLOB_FORMAT ||
	    type < VTPM_BLOB_PERMANENT || type > VTPM_BLOB_SAVESTATE || clen < CRYPTO_GCM_OVERHEAD ||
	    clen != n - b.off) {
		memset(k, 0, sizeof(*k));
		errno = EBADMSG;
		return -1;
	}
	k->type = (uint8_t)type;
	*plain_len = clen - CRYPTO_GCM_OVERHEAD;
	return 0;
}

static bool valid_type(uint8_t t)
{
	return t >= VTPM_BLOB_PERMANENT && t <= VTPM_BLOB_SAVESTATE;
}

/* BLOBKEY's body after the version; an export carries no uuid or seq. */
static int parse_blobkey(struct buf *b, struct mgr_blobkey *k)
{
	static const uint8_t zero[VTPM_UUID_SIZE];

	k->op = buf_get_u8(b);
	k->type = buf_get_u8(b);
	get_blob_fields(b, k);
	if (k->op == MGR_BLOB_EXPORT)
		return k->seq == 0 && memcmp(k->uuid, zero, VTPM_UUID_SIZE) == 0 ? 0 : -1;
	return k->op == MGR_BLOB_IMPORT ? 0 : -1;
}

int mgrmsg_parse_request(const uint8_t *p, size_t n, struct mgr_request *r, uint32_t *result)
{
	struct tpm_hdr h;
	struct buf b;

	memset(r, 0, sizeof(*r));
	*result = VTPM_INVALID_REQUEST;
	if (tpm_hdr_parse(p, n, MGRMSG_MAX, &h) != 1 || h.size != n || h.tag != VTPM_TAG_REQ)
		goto bad;
	buf_init_read(&b, p + TPM_HDR_SIZE, n - TPM_HDR_SIZE);
	r->ordinal = h.code;
	switch (h.code) {
	case VTPM_ORD_SAVEHASHKEY:
		if (buf_get_u8(&b) != VTPM_PROTO_VERSION)
			goto bad;
		r->type = buf_get_u8(&b);
		get_record(&b, &r->rec);
		r->rec.present = !mgrmsg_record_is_empty(&r->rec);
		break;
	case VTPM_ORD_LOADHASHKEY:
		if (buf_get_u8(&b) != VTPM_PROTO_VERSION)
			goto bad;
		r->type = buf_get_u8(&b);
		break;
	case VTPM_ORD_GET_BOOT_HASH:
		if (buf_get_u8(&b) != VTPM_PROTO_VERSION)
			goto bad;
		break;
	case VTPM_ORD_BLOBKEY:
		if (buf_get_u8(&b) != VTPM_PROTO_VERSION || parse_blobkey(&b, &r->blob) < 0)
			goto bad;
		r->type = r->blob.type;
		break;
	default:
		*result = VTPM_UNSUPPORTED;
		goto bad;
	}
	if (!buf_done(&b) || (h.code != VTPM_ORD_GET_BOOT_HASH && !valid_type(r->type)))
		goto bad;
	*result = VTPM_SUCCESS;
	return 0;
bad:
	explicit_bzero(&r->rec, sizeof(r->rec));
	explicit_bzero(&r->blob, sizeof(r->blob));
	errno = EBADMSG;
	return -1;
}

long mgrmsg_response(uint8_t *out, uint32_t ordinal, const struct mgr_response *r)
{
	struct buf b;

	buf_init_write(&b, out, MGRMSG_MAX);
	put_hdr(&b, VTPM_TAG_RSP, r->result);
	if (r->result == VTPM_SUCCESS) {
		switch (ordinal) {
		case VTPM_ORD_LOADHASHKEY:
			buf_put_u8(&b, VTPM_PROTO_VERSION);
			buf_put_u8(&b, r->rec.present ? 1 : 0);
			buf_put_bytes(&b, r->uuid, VTPM_UUID_SIZE);
			put_record(&b, &r->rec);
			break;
		case VTPM_ORD_GET_BOOT_HASH:
			buf_put_u8(&b, VTPM_PROTO_VERSION);
			buf_put_bytes(&b, r->hash, VTPM_DIGEST_SIZE);
			break;
		case VTPM_ORD_BLOBKEY:
			buf_put_u8(&b, VTPM_PROTO_VERSION);
			buf_put_bytes(&b, r->blob.uuid, VTPM_UUID_SIZE);
			buf_put_u64(&b, r->blob.seq);
			buf_put_bytes(&b, r->blob.key, VTPM_KEY_SIZE);
			break;
		default:
			break;
		}
	}
	return finish(&b);
}

int mgrmsg_parse_response(uint32_t ordinal, const uint8_t *p, size_t n, struct mgr_response *r)
{
	struct tpm_hdr h;
	struct buf b;
	uint8_t present;

	memset(r, 0, sizeof(*r));
	if (tpm_hdr_parse(p, n, MGRMSG_MAX, &h) != 1 || h.size != n || h.tag != VTPM_TAG_RSP)
		goto bad;
	r->result = h.code;
	buf_init_read(&b, p + TPM_HDR_SIZE, n - TPM_HDR_SIZE);
	if (r->result == VTPM_SUCCESS) {
		switch (ordinal) {
		case VTPM_ORD_LOADHASHKEY:
			if (buf_get_u8(&b) != VTPM_PROTO_VERSION)
				goto bad;
			present = buf_get_u8(&b);
			if (present > 1)
				goto bad;
			r->rec.present = present;
			buf_get_bytes(&b, r->uuid, VTPM_UUID_SIZE);
			get_record(&b, &r->rec);
			break;
		case VTPM_ORD_GET_BOOT_HASH:
			if (buf_get_u8(&b) != VTPM_PROTO_VERSION)
				goto bad;
			buf_get_bytes(&b, r->hash, VTPM_DIGEST_SIZE);
			break;
		case VTPM_ORD_BLOBKEY:
			if (buf_get_u8(&b) != VTPM_PROTO_VERSION)
				goto bad;
			buf_get_bytes(&b, r->blob.uuid, VTPM_UUID_SIZE);
			r->blob.seq = buf_get_u64(&b);
			buf_get_bytes(&b, r->blob.key, VTPM_KEY_SIZE);
			break;
		default:
			break;
		}
	}
	if (!buf_done(&b))
		goto bad;
	return 0;
bad:
	explicit_bzero(r, sizeof(*r));
	errno = EBADMSG;
	return -1;
}
