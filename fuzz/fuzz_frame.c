/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_frame: libFuzzer target for the data channel's framing. The input is
 * a client's byte stream, parsed as a TPM 2.0 stream (MSSIM prefix allowed)
 * and as a TPM 1.2 stream. Every frame it completes must lie inside the
 * input with a command length in [TPM_HDR_SIZE, TPM_PACKET_MAX] that agrees
 * with the command's own header; walking the stream frame by frame, as the
 * server does, must end in NEED_MORE or INVALID without overrunning.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "frame.h"
#include "tpm.h"
#include "../tests/unit/helpers.h"


/* Checks one result on p[0..n); returns the frame's total when complete, else 0. */
static size_t check_one(const uint8_t *p, size_t n, bool tpm2)
{
	struct frame f, g;
	enum frame_result r = frame_parse(p, n, tpm2, &f);

	th_check(r == FRAME_COMPLETE || r == FRAME_NEED_MORE || r == FRAME_INVALID, "result");
	if (r == FRAME_NEED_MORE) {
		/* fewer bytes can never decide more */
		if (n > 0)
			th_check(frame_parse(p, n - 1, tpm2, &g) == FRAME_NEED_MORE, "need-more shrinks");
		return 0;
	}
	if (r == FRAME_INVALID)
		return 0;
	th_check(f.total <= n, "total within input");
	th_check(f.cmd_len >= TPM_HDR_SIZE && f.cmd_len <= TPM_PACKET_MAX, "cmd_len range");
	th_check(f.cmd_off + f.cmd_len == f.total, "offset + length == total");
	th_check(be32_load(p + f.cmd_off + 2) == f.cmd_len, "header size == cmd_len");
	if (f.prefixed) {
		th_check(tpm2, "prefix only for TPM 2.0");
		th_check(f.cmd_off == FRAME_PREFIX_SIZE, "prefix offset");
		th_check(be32_load(p) == FRAME_SEND_COMMAND, "prefix code");
		th_check(be32_load(p + 5) == f.cmd_len, "prefix size == cmd_len");
		th_check(f.locality == p[4], "locality from prefix");
	} else {
		th_check(f.cmd_off == 0, "plain offset");
		th_check(f.locality == -1, "no locality without prefix");
	}
	/* the frame is decided by its own bytes: exactly total completes it the same way */
	th_check(frame_parse(p, f.total, tpm2, &g) == FRAME_COMPLETE && g.total == f.total &&
		      g.cmd_len == f.cmd_len && g.prefixed == f.prefixed, "complete at total");
	th_check(frame_parse(p, f.total - 1, tpm2, &g) == FRAME_NEED_MORE, "one short needs more");
	return f.total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int v = 0; v < 2; v++) {
		size_t off = 0, used;

		while ((used = check_one(data + off, size - off, v == 1)) > 0) {
			th_check(used <= size - off, "advance within input");
			off += used;
		}
	}
	return 0;
}
