/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * frame: splits the data channel's byte stream into TPM commands. A command
 * is framed by its header's size field, not by read() boundaries, so several
 * commands in one write and one command over many writes both work. TPM 2.0
 * clients may put swtpm's 9-byte MSSIM-style prefix in front:
 * u32 8 (TPM_SEND_COMMAND) | u8 locality | u32 size. Input is untrusted.
 */
#ifndef VTPM_FRAME_H
#define VTPM_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_PREFIX_SIZE	9
#define FRAME_SEND_COMMAND	8

struct frame {
	size_t total;		/* bytes the frame occupies in the stream */
	size_t cmd_off;		/* offset of the TPM command */
	uint32_t cmd_len;
	bool prefixed;		/* answer with u32 size | response | u32 0 */
	int locality;		/* from the prefix, or -1 */
};

enum frame_result {
	FRAME_NEED_MORE = 0,
	FRAME_COMPLETE = 1,
	FRAME_INVALID = -1,	/* size out of range or prefix/header disagree */
};

/* Parses the start of p[0..n). tpm2 enables the prefix. */
enum frame_result frame_parse(const uint8_t *p, size_t n, bool tpm2, struct frame *f);

#endif
