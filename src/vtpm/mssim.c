/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mssim: simulator protocol on top of the engine. Power signals map to
 * engine start/stop (stop sends the automatic TPM2_Shutdown first); a
 * POWER_ON while powered is a no-op, as in the simulator, so every client
 * may send it. NV on/off and key-cache signals are acknowledged without
 * effect: libtpms does not expose NV availability or a key cache.
 */
#include "mssim.h"

#include <libtpms/tpm_error.h>
#include <libtpms/tpm_tis.h>

#include "buf.h"
#include "engine.h"
#include "log.h"
#include "tpm.h"

#define MSSIM_SERVER_VERSION	1
/* handshake flags: platform available, raw mode, physical presence */
#define MSSIM_FLAGS		(0x1 | 0x4 | 0x8)

static bool on_command_port(uint32_t code)
{
	switch (code) {
	case MSSIM_HASH_START: case MSSIM_HASH_DATA: case MSSIM_HASH_END:
	case MSSIM_SEND_COMMAND: case MSSIM_REMOTE_HANDSHAKE:
	case MSSIM_SET_ALTERNATIVE_RESULT: case MSSIM_SESSION_END: case MSSIM_STOP:
		return true;
	default:
		return false;
	}
}

enum frame_result mssim_frame(const uint8_t *p, size_t n, size_t *len)
{
	uint32_t size;

	/* each be32_load below follows the n check that covers its 4 bytes */
	if (n < 4)
		return FRAME_NEED_MORE;
	switch (be32_load(p)) {
	case MSSIM_SEND_COMMAND:
		if (n < 9)
			return FRAME_NEED_MORE;
		size = be32_load(p + 5);
		if (size > TPM_PACKET_MAX)
			return FRAME_INVALID;
		*len = 9 + (size_t)size;
		break;
	case MSSIM_HASH_DATA:
		if (n < 8)
			return FRAME_NEED_MORE;
		size = be32_load(p + 4);
		if (size > TPM_PACKET_MAX)
			return FRAME_INVALID;
		*len = 8 + (size_t)size;
		break;
	case MSSIM_REMOTE_HANDSHAKE:
	case MSSIM_SET_ALTERNATIVE_RESULT:
		*len = 8;
		break;
	default:
		*len = 4;
		break;
	}
	return n >= *len ? FRAME_COMPLETE : FRAME_NEED_MORE;
}

static int put_u32(struct dbuf *out, uint32_t v)
{
	uint8_t b[4];

	be32_store(b, v);
	return dbuf_append(out, b, 4);
}

static int send_command(struct buf *in, struct dbuf *out)
{
	uint8_t loc = buf_get_u8(in);
	uint32_t size = buf_get_u32(in);
	const uint8_t *cmd = buf_get_ptr(in, size);
	const uint8_t *rsp;
	uint32_t rlen;
	uint8_t err[TPM_HDR_SIZE];

	if (!cmd)
		return -1;
	if (tpm_packet_check(cmd, size, TPM_PACKET_MAX) < 0) {
		/* the prefix and the header disagree: answer, do not run it */
		rlen = (uint32_t)tpm_error_response(err, engine_is_tpm2(), TPM20_RC_COMMAND_SIZE);
		rsp = err;
	} else {
		engine_process_at(loc, cmd, size, &rsp, &rlen);
	}
	if (put_u32(out, rlen) < 0 || dbuf_append(out, rsp, rlen) < 0)
		return -1;
	return 0;
}

/* HASH_START, HASH_DATA (its bytes in in), HASH_END: to libtpms only while it is powered. */
static void hash_signal(uint32_t code, struct buf *in)
{
	uint32_t n;
	const uint8_t *d;

	if (code == MSSIM_HASH_DATA) {
		n = buf_get_u32(in);
		d = buf_get_ptr(in, n);
		if (d && engine_running())
			(void)TPM_IO_Hash_Data(d, n);
	} else if (engine_running()) {
		if (code == MSSIM_HASH_START)
			(void)TPM_IO_Hash_Start();
		else
			(void)TPM_IO_Hash_End();
	}
}

enum mssim_action mssim_handle(const uint8_t *req, size_t len, bool platform, struct dbuf *out)
{
	struct buf in;
	uint32_t code, v;
	int rc = 0;

	buf_init_read(&in, req, len);
	code = buf_get_u32(&in);
	if (!buf_ok(&in))
		return MSSIM_CLOSE;
	if (code == MSSIM_SESSION_END)
		return MSSIM_CLOSE;
	if (code == MSSIM_STOP)
		return MSSIM_EXIT;
	if (platform == on_command_port(code)) {
		log_warn("mssim %s port: unexpected code %u", platform ? "platform" : "command", code);
		(void)put_u32(out, 1);	/* the simulator's "unrecognised" answer */
		return MSSIM_CLOSE;
	}
	switch (code) {
	case MSSIM_POWER_ON:
		if (!engine_running() && engine_start(false, ENGINE_STARTUP_NONE) != TPM_SUCCESS)
			v = 1;
		else
			v = 0;
		return put_u32(out, v) < 0 ? MSSIM_CLOSE : MSSIM_CONTINUE;
	case MSSIM_POWER_OFF:
		engine_stop();
		break;
	case MSSIM_RESET:
	case MSSIM_RESTART:
		/* engine_start powers off first, with the automatic shutdown */
		if (engine_start(false, ENGINE_STARTUP_NONE) != TPM_SUCCESS)
			return put_u32(out, 1) < 0 ? MSSIM_CLOSE : MSSIM_CONTINUE;
		break;
	case MSSIM_PHYS_PRES_ON:
	case MSSIM_PHYS_PRES_OFF:
		engine_set_physical_presence(code == MSSIM_PHYS_PRES_ON);
		break;
	case MSSIM_CANCEL_ON:
		engine_cancel();
		break;
	case MSSIM_CANCEL_OFF:
	case MSSIM_NV_ON:
	case MSSIM_NV_OFF:
	case MSSIM_KEY_CACHE_ON:
	case MSSIM_KEY_CACHE_OFF:
		break;
	case MSSIM_HASH_START:
	case MSSIM_HASH_DATA:
	case MSSIM_HASH_END:
		hash_signal(code, &in);
		break;
	case MSSIM_SEND_COMMAND:
		rc = send_command(&in, out);
		break;
	case MSSIM_REMOTE_HANDSHAKE:
		if (buf_get_u32(&in) == 0)
			return MSSIM_CLOSE;	/* the simulator refuses client version 0 */
		rc = put_u32(out, MSSIM_SERVER_VERSION);
		if (rc == 0)
			rc = put_u32(out, MSSIM_FLAGS);
		break;
	case MSSIM_SET_ALTERNATIVE_RESULT:
		break;
	default:
		log_warn("mssim: unknown code %u", code);
		(void)put_u32(out, 1);
		return MSSIM_CLOSE;
	}
	if (rc < 0 || put_u32(out, 0) < 0)
		return MSSIM_CLOSE;
	return MSSIM_CONTINUE;
}
