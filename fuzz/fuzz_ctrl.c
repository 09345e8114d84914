/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_ctrl: libFuzzer target for the swtpm control channel. The input is a
 * control client's byte stream: it is framed with ctrl_frame and each
 * complete request runs through ctrl_handle against the real libtpms engine
 * over a temporary state directory (made once, removed at exit), as the
 * server does: every request is offered a passed fd, which is closed unless
 * SET_DATAFD took it. Each input must leave no fd and no memory behind;
 * STOP and SHUTDOWN only power the engine off, and the next input powers it
 * on again.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ctrl.h"
#include "dbuf.h"
#include "engine.h"
#include "../tests/unit/helpers.h"

#define REQS_MAX	64		/* requests run per input */
#define OUT_MAX		(CTRL_REQ_MAX + 64)

static struct th_tpm *tpm;
static int devnull = -1;	/* source of the fds offered with each request */

/* The server's data connection slot: one fd at a time, then refused. */
static int take_datafd(void *arg, int fd)
{
	bool *taken = arg;

	if (*taken)
		return -1;
	*taken = true;
	close(fd);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	tpm = th_fuzz_setup();
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	th_check(devnull >= 0, "open /dev/null");
	return 0;
}

/* Checks the reply's length where the code fixes it (the result code leads). */
static void check_reply(uint32_t code, const struct dbuf *out)
{
	uint32_t res;

	th_check(out->len >= 4, "a reply carries a result");
	res = be32_load(out->p);
	switch (code) {
	case CTRL_GET_CAPABILITY:
	case CTRL_GET_CONFIG:
		th_check(out->len == 8, "8-byte reply");
		break;
	case CTRL_GET_TPMESTABLISHED:
		th_check(out->len == (res == 0 ? 8u : 4u), "established reply");
		break;
	case CTRL_SET_BUFFERSIZE:
		th_check(out->len == (res == 0 ? 16u : 4u), "buffersize reply");
		break;
	case CTRL_GET_STATEBLOB:
		if (out->len > 4) {
			th_check(out->len >= CTRL_SETSTATE_HDR, "stateblob header");
			th_check(be32_load(out->p + 8) == be32_load(out->p + 12), "totlength == length");
			th_check(out->len == CTRL_SETSTATE_HDR + (size_t)be32_load(out->p + 12),
				 "stateblob length");
		}
		break;
	case CTRL_GET_INFO:
		if (out->len > 4) {
			uint32_t len = be32_load(out->p + 8);

			th_check(len <= CTRL_INFO_CHUNK && out->len == 12 + (size_t)len, "info chunk");
		}
		break;
	default:
		th_check(out->len == 4, "result-only reply");
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbuf out;
	bool taken = false;
	size_t off = 0;
	/*
	 * Descriptors are compared per input: between inputs the fuzzer itself
	 * may open some (the symbolizer's pipes, when it reports a new function).
	 */
	int first_free = th_lowest_free_fd();
	uint32_t min, max;

	if (!engine_running())
		(void)engine_set_buffersize(TPM_PACKET_MAX, &min, &max);	/* undo SET_BUFFERSIZE */
	th_check(th_tpm_power_on(tpm) == 0, "power on");
	engine_set_locality(0);
	dbuf_init(&out, OUT_MAX);
	for (int i = 0; i < REQS_MAX; i++) {
		struct ctrl_env env = { .set_datafd = take_datafd, .arg = &taken };
		size_t len = 0;
		int fd;
		enum frame_result r = ctrl_frame(data + off, size - off, &len);

		if (r != FRAME_COMPLETE)
			break;
		th_check(len >= 4 && len <= size - off && len <= CTRL_REQ_MAX, "framed length");
		fd = dup(devnull);
		th_check(fd >= 0, "dup");
		dbuf_consume(&out, out.len);
		if (ctrl_handle(&env, data + off, len, &fd, &out) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		check_reply(be32_load(data + off), &out);
		if (fd >= 0)
			close(fd);	/* not taken: the server closes it */
		off += len;
		if (env.shutdown)
			break;
	}
	dbuf_free(&out);
	th_check(th_lowest_free_fd() == first_free, "no descriptor leaked");
	return 0;
}
