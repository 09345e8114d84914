/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * frame: data-channel framing. Lengths come from the client and are checked
 * against TPM_PACKET_MAX before anything is sized on them.
 */
#include "frame.h"

#include "buf.h"
#include "tpm.h"

enum frame_result frame_parse(const uint8_t *p, size_t n, bool tpm2, struct frame *f)
{
	struct tpm_hdr h;
	size_t off = 0;
	int r;

	f->prefixed = false;
	f->locality = -1;
	if (n < 4)
		return FRAME_NEED_MORE;
	/*
	 * a TPM 2.0 command starts with tag 0x8001/0x8002; the prefix with
	 * 0x00000008. The loads read p[0..4), which n >= 4 above covers.
	 */
	if (tpm2 && !tpm_tag_is_tpm2(be16_load(p)) && be32_load(p) == FRAME_SEND_COMMAND) {
		uint32_t size;

		if (n < FRAME_PREFIX_SIZE)
			return FRAME_NEED_MORE;
		size = be32_load(p + 5);	/* n >= FRAME_PREFIX_SIZE (9) */
		if (size < TPM_HDR_SIZE || size > TPM_PACKET_MAX)
			return FRAME_INVALID;
		f->prefixed = true;
		f->locality = p[4];
		off = FRAME_PREFIX_SIZE;
		r = tpm_hdr_parse(p + off, n - off, TPM_PACKET_MAX, &h);
		if (r == 0)
			return FRAME_NEED_MORE;
		if (r < 0 || h.size != size)
			return FRAME_INVALID;
	} else {
		r = tpm_hdr_parse(p, n, TPM_PACKET_MAX, &h);
		if (r == 0)
			return FRAME_NEED_MORE;
		if (r < 0)
			return FRAME_INVALID;
	}
	if (h.size > n - off)
		return FRAME_NEED_MORE;
	f->cmd_off = off;
	f->cmd_len = h.size;
	f->total = off + h.size;
	return FRAME_COMPLETE;
}
