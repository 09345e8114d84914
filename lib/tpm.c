/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpm: header parsing and the few packets the project builds itself. The
 * bytes parsed here come from peers (guests, clients) and are untrusted.
 */
#include "tpm.h"

#include <errno.h>

#include "buf.h"

int tpm_hdr_parse(const uint8_t *p, size_t n, size_t max, struct tpm_hdr *h)
{
	struct buf b;

	if (n < TPM_HDR_SIZE)
		return 0;
	buf_init_read(&b, p, TPM_HDR_SIZE);
	h->tag = buf_get_u16(&b);
	h->size = buf_get_u32(&b);
	h->code = buf_get_u32(&b);
	if (h->size < TPM_HDR_SIZE || h->size > max)
		return -1;
	return 1;
}

int tpm_packet_check(const uint8_t *p, size_t n, size_t max)
{
	struct tpm_hdr h;

	if (n > max || tpm_hdr_parse(p, n, max, &h) != 1 || h.size != n) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

size_t tpm_error_response(uint8_t *out, int tpm2, uint32_t rc)
{
	struct buf b;

	buf_init_write(&b, out, TPM_HDR_SIZE);
	buf_put_u16(&b, tpm2 ? TPM20_ST_NO_SESSIONS : TPM_TAG_RSP_COMMAND);
	buf_put_u32(&b, TPM_HDR_SIZE);
	buf_put_u32(&b, rc);
	return TPM_HDR_SIZE;
}

size_t tpm2_build_su(uint8_t *out, uint32_t cc, uint16_t su)
{
	struct buf b;

	buf_init_write(&b, out, 12);
	buf_put_u16(&b, TPM20_ST_NO_SESSIONS);
	buf_put_u32(&b, 12);
	buf_put_u32(&b, cc);
	buf_put_u16(&b, su);
	return 12;
}

size_t tpm12_build_startup(uint8_t *out, uint16_t st)
{
	struct buf b;

	buf_init_write(&b, out, 12);
	buf_put_u16(&b, TPM_TAG_RQU_COMMAND);
	buf_put_u32(&b, 12);
	buf_put_u32(&b, TPM_ORD_STARTUP);
	buf_put_u16(&b, st);
	return 12;
}

uint32_t tpm_response_rc(const uint8_t *rsp, size_t n)
{
	if (n < TPM_HDR_SIZE)
		return 9;	/* TPM_FAIL */
	return be32_load(rsp + 6);	/* n >= TPM_HDR_SIZE above */
}
