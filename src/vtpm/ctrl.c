/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctrl: the control-channel commands. Semantics follow swtpm's socket
 * control channel (same codes, byte order, reply layouts and result codes)
 * so QEMU, libvirt and swtpm_ioctl drive vtpm unchanged. Differences that
 * make vtpm safer are noted where they are.
 */
#include "ctrl.h"

#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_tis.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "log.h"
#include "sock.h"
#include "tpm.h"

uint32_t ctrl_capabilities(bool tpm2)
{
	uint32_t caps = PTM_CAP_INIT | PTM_CAP_SHUTDOWN | PTM_CAP_GET_TPMESTABLISHED |
			PTM_CAP_SET_LOCALITY | PTM_CAP_HASHING | PTM_CAP_CANCEL_TPM_CMD |
			PTM_CAP_STORE_VOLATILE | PTM_CAP_RESET_TPMESTABLISHED |
			PTM_CAP_GET_STATEBLOB | PTM_CAP_SET_STATEBLOB | PTM_CAP_STOP |
			PTM_CAP_GET_CONFIG | PTM_CAP_SET_DATAFD | PTM_CAP_SET_BUFFERSIZE |
			PTM_CAP_GET_INFO | PTM_CAP_LOCK_STORAGE;

	return tpm2 ? caps | PTM_CAP_SEND_COMMAND_HEADER : caps;
}

/* Fixed body size after the code, or -1 for the two variable-length ones. */
static long body_size(uint32_t code)
{
	switch (code) {
	case CTRL_INIT:
	case CTRL_SET_BUFFERSIZE:
	case CTRL_LOCK_STORAGE:
		return 4;
	case CTRL_GET_STATEBLOB:
		return 12;
	case CTRL_GET_INFO:
		return 16;
	case CTRL_HASH_DATA:
	case CTRL_SET_STATEBLOB:
		return -1;
	default:
		return 0;	/* no body, or unknown: answered TPM_BAD_ORDINAL */
	}
}

enum frame_result ctrl_frame(const uint8_t *p, size_t n, size_t *len)
{
	uint32_t code, dlen;
	long body;

	if (n < 4)
		return FRAME_NEED_MORE;
	code = be32_load(p);
	if (code == CTRL_SET_LOCALITY || code == CTRL_RESET_TPMESTABLISHED) {
		/*
		 * The body is a u8 locality, but tpm_ioctl.h wraps it in a 4-byte
		 * union and QEMU sends all 4 bytes while other clients send 1. swtpm
		 * takes whatever one read returned; vtpm does the same at this one
		 * ambiguity: exactly 5 bytes buffered is the short form.
		 */
		if (n == 5 || n >= 8) {
			*len = n == 5 ? 5 : 8;
			return FRAME_COMPLETE;
		}
		return FRAME_NEED_MORE;
	}
	body = body_size(code);
	if (body >= 0) {
		*len = 4 + (size_t)body;
		return n >= *len ? FRAME_COMPLETE : FRAME_NEED_MORE;
	}
	if (code == CTRL_HASH_DATA) {
		if (n < 8)
			return FRAME_NEED_MORE;
		dlen = be32_load(p + 4);
		if (dlen > CTRL_HASH_DATA_MAX)
			return FRAME_INVALID;
		*len = 8 + (size_t)dlen;
	} else {
		if (n < CTRL_SETSTATE_HDR)
			return FRAME_NEED_MORE;
		dlen = be32_load(p + 12);
		if (dlen > NV_BLOB_MAX)
			return FRAME_INVALID;
		*len = CTRL_SETSTATE_HDR + (size_t)dlen;
	}
	return n >= *len ? FRAME_COMPLETE : FRAME_NEED_MORE;
}

static int reply_u32s(struct dbuf *out, const uint32_t *v, int count)
{
	uint8_t tmp[16];
	struct buf b;

	buf_init_write(&b, tmp, sizeof(tmp));
	for (int i = 0; i < count; i++)
		buf_put_u32(&b, v[i]);
	return buf_ok(&b) ? dbuf_append(out, tmp, b.off) : -1;
}

static int reply_res(struct dbuf *out, uint32_t res)
{
	return reply_u32s(out, &res, 1);
}

/* GET_STATEBLOB: res, flags, totlength, length, then the bytes from offset. */
static int get_stateblob(struct buf *in, struct dbuf *out)
{
	uint32_t flags = buf_get_u32(in), type = buf_get_u32(in), offset = buf_get_u32(in);
	uint8_t *blob = NULL;
	uint32_t len = 0, res, ret_len = 0;
	int tpmlib_type, rc;

	(void)flags;	/* state here is never encrypted by a file key */
	switch (type) {
	case PTM_BLOB_TYPE_PERMANENT: tpmlib_type = TPMLIB_STATE_PERMANENT; break;
	case PTM_BLOB_TYPE_VOLATILE: tpmlib_type = TPMLIB_STATE_VOLATILE; break;
	case PTM_BLOB_TYPE_SAVESTATE: tpmlib_type = TPMLIB_STATE_SAVE_STATE; break;
	default: return reply_res(out, TPM_BAD_PARAMETER);
	}
	res = engine_get_state(tpmlib_type, &blob, &len);
	/* as swtpm: once the volatile state is handed out, no stale copy may resume */
	if (type == PTM_BLOB_TYPE_VOLATILE)
		engine_delete_volatile();
	if (res == TPM_SUCCESS && offset < len)
		ret_len = len - offset;
	/* swtpm reports totlength equal to the bytes returned; clients rely on it */
	uint32_t hdr[4] = { res, 0, ret_len, ret_len };
	rc = reply_u32s(out, hdr, 4);
	if (rc == 0 && ret_len)
		rc = dbuf_append(out, blob + offset, ret_len);
	if (blob) {
		explicit_bzero(blob, len);
		free(blob);
	}
	return rc;
}

static uint32_t set_stateblob(struct buf *in)
{
	uint32_t flags = buf_get_u32(in), type = buf_get_u32(in), len = buf_get_u32(in);
	const uint8_t *data = buf_get_ptr(in, len);
	int tpmlib_type;

	if (!data && len)
		return TPM_BAD_PARAMETER;
	if (flags & PTM_STATE_FLAG_ENCRYPTED) {
		log_err("encrypted state blob offered, but no migration key is configured");
		return TPM_BAD_PARAMETER;
	}
	switch (type) {
	case PTM_BLOB_TYPE_PERMANENT: tpmlib_type = TPMLIB_STATE_PERMANENT; break;
	case PTM_BLOB_TYPE_VOLATILE: tpmlib_type = TPMLIB_STATE_VOLATILE; break;
	case PTM_BLOB_TYPE_SAVESTATE: tpmlib_type = TPMLIB_STATE_SAVE_STATE; break;
	default: return TPM_BAD_PARAMETER;
	}
	return engine_set_state(tpmlib_type, data, len);
}

static int get_info(struct buf *in, struct dbuf *out)
{
	uint64_t flags = buf_get_u64(in);
	uint32_t offset = buf_get_u32(in);
	char *info = TPMLIB_GetInfo((enum TPMLIB_InfoFlags)flags);
	size_t slen, chunk;
	int rc;

	if (!info)
		return reply_res(out, TPM_SIZE);
	slen = strlen(info);
	if (offset >= slen) {
		free(info);
		return reply_res(out, TPM_BAD_PARAMETER);
	}
	/* the reply carries the terminating NUL; the client collects chunks */
	chunk = slen + 1 - offset;
	if (chunk > CTRL_INFO_CHUNK)
		chunk = CTRL_INFO_CHUNK;
	uint32_t hdr[3] = { TPM_SUCCESS, (uint32_t)slen + 1, (uint32_t)chunk };
	rc = reply_u32s(out, hdr, 3);
	if (rc == 0)
		rc = dbuf_append(out, info + offset, chunk);
	free(info);
	return rc;
}

int ctrl_handle(struct ctrl_env *env, const uint8_t *req, size_t len, int *fd, struct dbuf *out)
{
	struct buf in;
	uint32_t code, res, v;
	bool running = engine_running();

	buf_init_read(&in, req, len);
	code = buf_get_u32(&in);
	if (!buf_ok(&in))
		return reply_res(out, TPM_BAD_PARAMETER);

	switch (code) {
	case CTRL_GET_CAPABILITY: {
		uint32_t caps[2] = { 0, ctrl_capabilities(engine_is_tpm2()) };
		return reply_u32s(out, caps, 2);	/* one u64 to CUSE-era readers */
	}
	case CTRL_INIT:
		v = buf_get_u32(&in);
		res = engine_start(v & PTM_INIT_FLAG_DELETE_VOLATILE, ENGINE_STARTUP_NONE);
		return reply_res(out, res);
	case CTRL_STOP:
		engine_stop();
		return reply_res(out, TPM_SUCCESS);
	case CTRL_SHUTDOWN:
		engine_stop();
		env->shutdown = true;
		return reply_res(out, TPM_SUCCESS);
	case CTRL_GET_TPMESTABLISHED: {
		TPM_BOOL bit = 0;
		uint8_t tail[4] = { 0 };

		if (!running)
			return reply_res(out, TPM_BAD_ORDINAL);
		res = TPM_IO_TpmEstablished_Get(&bit);
		tail[0] = bit ? 1 : 0;
		if (reply_res(out, res) < 0)
			return -1;
		return dbuf_append(out, tail, sizeof(tail));
	}
	case CTRL_SET_LOCALITY:
		v = buf_get_u8(&in);
		if (!engine_locality_ok(v))
			return reply_res(out, TPM_BAD_LOCALITY);
		engine_set_locality((uint8_t)v);
		return reply_res(out, TPM_SUCCESS);
	case CTRL_RESET_TPMESTABLISHED: {
		uint8_t saved = engine_locality();

		if (!running)
			return reply_res(out, TPM_BAD_ORDINAL);
		v = buf_get_u8(&in);
		if (v > 4)
			return reply_res(out, TPM_BAD_LOCALITY);
		/* libtpms checks the locality itself (3 or 4 may reset) */
		engine_set_locality((uint8_t)v);
		res = TPM_IO_TpmEstablished_Reset();
		engine_set_locality(saved);
		return reply_res(out, res);
	}
	case CTRL_HASH_START:
		return reply_res(out, running ? TPM_IO_Hash_Start() : TPM_BAD_ORDINAL);
	case CTRL_HASH_DATA: {
		uint32_t dlen = buf_get_u32(&in);
		const uint8_t *data = buf_get_ptr(&in, dlen);

		if (!running)
			return reply_res(out, TPM_BAD_ORDINAL);
		if (!data)
			return reply_res(out, TPM_BAD_PARAMETER);
		return reply_res(out, TPM_IO_Hash_Data(data, dlen));
	}
	case CTRL_HASH_END:
		return reply_res(out, running ? TPM_IO_Hash_End() : TPM_BAD_ORDINAL);
	case CTRL_CANCEL_TPM_CMD:
		if (!running)
			return reply_res(out, TPM_BAD_ORDINAL);
		engine_cancel();
		return reply_res(out, TPM_SUCCESS);
	case CTRL_STORE_VOLATILE:
		return reply_res(out, running ? engine_store_volatile() : TPM_BAD_ORDINAL);
	case CTRL_GET_STATEBLOB:
		if (!running)
			return reply_res(out, TPM_BAD_ORDINAL);
		return get_stateblob(&in, out);
	case CTRL_SET_STATEBLOB:
		if (running)
			return reply_res(out, TPM_BAD_ORDINAL);
		return reply_res(out, set_stateblob(&in));
	case CTRL_GET_CONFIG: {
		uint32_t cfg[2] = { TPM_SUCCESS, 0 };	/* no file key, no migration key */
		return reply_u32s(out, cfg, 2);
	}
	case CTRL_SET_DATAFD:
		if (*fd < 0) {
			log_warn("SET_DATAFD without a passed descriptor");
			return reply_res(out, TPM_BAD_PARAMETER);
		}
		/* a listener or a pipe here would block QEMU's later handover */
		if (sock_is_connected_stream(*fd) < 0) {
			log_warn("SET_DATAFD with a descriptor that is not a connected stream socket");
			return reply_res(out, TPM_BAD_PARAMETER);
		}
		if (!env->set_datafd || env->set_datafd(env->arg, *fd) < 0)
			return reply_res(out, TPM_IOERROR);
		*fd = -1;
		return reply_res(out, TPM_SUCCESS);
	case CTRL_SET_BUFFERSIZE: {
		uint32_t min = 0, max = 0, size;

		v = buf_get_u32(&in);
		if (v > 0 && running)
			return reply_res(out, TPM_BAD_ORDINAL);
		size = engine_set_buffersize(v, &min, &max);
		uint32_t r[4] = { TPM_SUCCESS, size, min, max };
		return reply_u32s(out, r, 4);
	}
	case CTRL_GET_INFO:
		return get_info(&in, out);
	case CTRL_LOCK_STORAGE:
		/* the state directory is locked for the whole life of the process */
		return reply_res(out, TPM_SUCCESS);
	default:
		log_warn("unknown control command 0x%08x", code);
		return reply_res(out, TPM_BAD_ORDINAL);
	}
}
