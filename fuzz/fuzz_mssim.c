/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_mssim: libFuzzer target for the simulator protocol. Input byte 0 is
 * a port mask (bit i: request i goes to the platform port, else the command
 * port); the rest is the request stream, framed with mssim_frame and run
 * through mssim_handle against the real libtpms engine over a temporary
 * state directory made once. Every TPM_SEND_COMMAND that continues must be
 * answered as u32 size | response of that size | u32 0, and no input may
 * leave a descriptor open.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "dbuf.h"
#include "engine.h"
#include "mssim.h"
#include "../tests/unit/helpers.h"

#define REQS_MAX	8	/* one per bit of the port mask */
#define OUT_MAX		(2 * (TPM_PACKET_MAX + 16))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	(void)th_fuzz_setup();
	return 0;
}

static void check_send_command(const struct dbuf *out)
{
	uint32_t n;

	th_check(out->len >= 4 + TPM_HDR_SIZE + 4, "framed response");
	n = be32_load(out->p);
	th_check(out->len == 4 + (size_t)n + 4, "size word matches");
	th_check(be32_load(out->p + 4 + 2) == n, "response header agrees");
	th_check(be32_load(out->p + 4 + n) == 0, "trailing acknowledgement");
}

/* Replies to requests that continue the session, by code. */
static void check_reply(uint32_t code, const struct dbuf *out)
{
	switch (code) {
	case MSSIM_SEND_COMMAND:
		check_send_command(out);
		break;
	case MSSIM_REMOTE_HANDSHAKE:
		th_check(out->len == 12 && be32_load(out->p + 8) == 0, "handshake reply");
		break;
	case MSSIM_POWER_ON:
	case MSSIM_RESET:
	case MSSIM_RESTART:
		/* 1: the TPM could not power on */
		th_check(out->len == 4 && be32_load(out->p) <= 1, "power reply");
		break;
	default:
		th_check(out->len == 4 && be32_load(out->p) == 0, "acknowledgement");
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbuf out;
	uint8_t ports;
	size_t off = 1;
	int first_free = th_lowest_free_fd();

	if (size < 1)
		return 0;
	ports = data[0];
	th_check(th_tpm_power_on(th_fuzz_tpm()) == 0, "power on");
	engine_set_locality(0);
	dbuf_init(&out, OUT_MAX);
	for (int i = 0; i < REQS_MAX; i++) {
		bool platform = ports >> i & 1;
		size_t len = 0;
		enum frame_result r = mssim_frame(data + off, size - off, &len);
		enum mssim_action a;
		uint32_t code;

		if (r != FRAME_COMPLETE)
			break;
		th_check(len >= 4 && len <= size - off && len <= 9 + TPM_PACKET_MAX, "framed length");
		code = be32_load(data + off);
		dbuf_consume(&out, out.len);
		a = mssim_handle(data + off, len, platform, &out);
		if (a != MSSIM_CONTINUE)
			break;
		check_reply(code, &out);
		off += len;
	}
	dbuf_free(&out);
	th_check(th_lowest_free_fd() == first_free, "no descriptor leaked");
	return 0;
}
