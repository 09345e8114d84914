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

static bool valid_type(uint8_t t)
{
	return t >= VTPM_BLOB_PERMANENT && t <= VTPM_BLOB_SAVESTATE;
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
