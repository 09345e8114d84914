/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctrl: the control-channel commands. Semantics follow swtpm's socket
 * control channel (same codes, byte order, reply layouts and result codes)
 * so QEMU, libvirt and swtpm_ioctl drive vtpm unchanged. Differences that
 * make vtpm safer are noted where they are. The client is untrusted: one
 * table row per command fixes its framing, its precondition and its
 * handler, so no request reaches a handler before its size and the TPM's
 * power state were checked. Under the manager, state blobs travel sealed
 * (see "state blobs" below).
 */
#include "ctrl.h"

#include <errno.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_tis.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "engine.h"
#include "log.h"
#include "sock.h"
#include "tpm.h"

/* One request being answered: what a handler reads and writes. */
struct ctrl_call {
	struct ctrl_env *env;
	struct buf in;		/* the body, after the code */
	int *fd;
	struct dbuf *out;
};

typedef int (*ctrl_fn)(struct ctrl_call *c);

enum ctrl_when { CTRL_ANY, CTRL_RUNNING, CTRL_STOPPED };

/*
 * A command: hdr bytes (code included) always come; when len_at is set, a
 * u32 there (inside hdr) counts len_max bytes at most that follow. The
 * locality commands take a u8 that clients send alone or in a 4-byte union.
 */
struct ctrl_row {
	uint8_t hdr;
	uint8_t len_at;
	bool locality_form;
	enum ctrl_when when;	/* else TPM_BAD_ORDINAL, as swtpm answers */
	uint32_t len_max;
	ctrl_fn run;
};

static const struct ctrl_row ctrl_table[CTRL_LOCK_STORAGE + 1];

static const struct ctrl_row *lookup(uint32_t code)
{
	if (code >= sizeof(ctrl_table) / sizeof(ctrl_table[0]) || !ctrl_table[code].run)
		return NULL;
	return &ctrl_table[code];
}

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

enum frame_result ctrl_frame(const uint8_t *p, size_t n, size_t *len)
{
	const struct ctrl_row *row;
	uint32_t dlen;

	if (n < 4)
		return FRAME_NEED_MORE;
	row = lookup(be32_load(p));	/* n >= 4: the code is there */
	if (!row) {
		*len = 4;	/* unknown: answered TPM_BAD_ORDINAL */
		return FRAME_COMPLETE;
	}
	if (row->locality_form) {
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
	if (n < row->hdr)
		return FRAME_NEED_MORE;
	*len = row->hdr;
	if (row->len_at) {
		dlen = be32_load(p + row->len_at);	/* len_at + 4 <= hdr <= n */
		if (dlen > row->len_max)
			return FRAME_INVALID;
		*len += dlen;
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

/* A warning a client can cause: logged once per connection (bit of env->warned). */
static void warn_once(struct ctrl_env *env, unsigned bit, const char *what, uint32_t v)
{
	if (env->warned & bit)
		return;
	env->warned |= bit;
	log_warn("%s 0x%08x (further ones on this connection not logged)", what, v);
}

/* --- state blobs -------------------------------------------------------
 *
 * Standalone, a blob is libtpms' own bytes, as swtpm hands them out. Under
 * the manager it leaves sealed (lib/mgrmsg's VTPMBLOB format: AES-256-GCM
 * under a key the manager derives from its root secret and the blob's
 * header: type, source vTPM, permanent-state sequence, nonce) and enters
 * only if the manager gives the key for its header, which it does for a
 * blob of its own making that is not older than the current state.
 */

static const struct ctrl_blobkeys *blobkeys;	/* NULL: standalone */
/* The last sealed blob handed out per type, for reads at an offset. */
static struct { uint8_t *p; uint32_t len; } sealed_out[3];
/* engine_state_writes() + 1 when the permanent state went out, else 0 */
static uint64_t exported_mark;

void ctrl_set_blobkeys(const struct ctrl_blobkeys *k)
{
	blobkeys = k;
}

static int seal_blob(uint8_t type, const uint8_t *plain, uint32_t len, uint8_t **out, uint32_t *olen)
{
	struct mgr_blobkey k = { .op = MGR_BLOB_EXPORT, .type = type };
	uint8_t *p;
	int rc = -1;

	if (len > NV_BLOB_MAX - MGRMSG_BLOB_OVERHEAD) {
		errno = EFBIG;
		return -1;
	}
	if (crypto_random(k.nonce, sizeof(k.nonce)) < 0 || blobkeys->blob_key(blobkeys->arg, &k) < 0)
		goto out;
	*olen = MGRMSG_BLOB_OVERHEAD + len;
	p = malloc(*olen);
	if (!p)
		goto out;
	mgrmsg_blob_header(p, &k, len);
	if (crypto_seal(k.key, p, MGRMSG_BLOB_HDR, plain, len, p + MGRMSG_BLOB_HDR + 4) < 0) {
		free(p);
		goto out;
	}
	*out = p;
	rc = 0;
out:
	explicit_bzero(&k, sizeof(k));
	return rc;
}

/* Opens an incoming sealed blob into a malloc'd plaintext, or refuses it. */
static uint32_t open_blob(uint8_t type, const uint8_t *p, uint32_t n, uint8_t **plain, uint32_t *len)
{
	struct mgr_blobkey k;
	uint32_t res = TPM_BAD_PARAMETER;

	*plain = NULL;
	if (mgrmsg_blob_parse(p, n, &k, len) < 0 || k.type != type) {
		log_err("incoming state blob is not a sealed blob of this type; refused");
		goto out;
	}
	k.op = MGR_BLOB_IMPORT;
	if (blobkeys->blob_key(blobkeys->arg, &k) < 0) {
		log_err("the manager refused the incoming state blob (foreign, or older than "
			"the current state); stored state untouched");
		res = TPM_FAIL;
		goto out;
	}
	*plain = malloc(*len ? *len : 1);
	if (!*plain)
		goto out;
	if (crypto_open(k.key, p, MGRMSG_BLOB_HDR, p + MGRMSG_BLOB_HDR + 4,
			*len + CRYPTO_GCM_OVERHEAD, *plain) < 0) {
		log_err("incoming state blob fails authentication; refused");
		free(*plain);
		*plain = NULL;
		goto out;
	}
	res = TPM_SUCCESS;
out:
	explicit_bzero(&k, sizeof(k));
	return res;
}

static int blob_type(uint32_t ptm, int *tpmlib_type)
{
	switch (ptm) {
	case PTM_BLOB_TYPE_PERMANENT: *tpmlib_type = TPMLIB_STATE_PERMANENT; return 0;
	case PTM_BLOB_TYPE_VOLATILE: *tpmlib_type = TPMLIB_STATE_VOLATILE; return 0;
	case PTM_BLOB_TYPE_SAVESTATE: *tpmlib_type = TPMLIB_STATE_SAVE_STATE; return 0;
	default: return -1;
	}
}

/* The blob of type going out: plain (standalone) or sealed, kept for offset reads. */
static uint32_t blob_out(uint32_t type, int tpmlib_type, uint32_t offset, uint8_t **blob, uint32_t *len)
{
	uint8_t *sealed = NULL;
	uint32_t res, slen = 0;

	if (blobkeys && offset > 0 && sealed_out[type - 1].p) {
		*len = sealed_out[type - 1].len;
		*blob = malloc(*len);
		if (!*blob)
			return TPM_SIZE;
		memcpy(*blob, sealed_out[type - 1].p, *len);
		return TPM_SUCCESS;
	}
	res = engine_get_state(tpmlib_type, blob, len);
	/* as swtpm: once the volatile state is handed out, no stale copy may resume */
	if (type == PTM_BLOB_TYPE_VOLATILE)
		engine_delete_volatile();
	if (res != TPM_SUCCESS || !blobkeys || *len == 0)
		return res;
	if (seal_blob((uint8_t)type, *blob, *len, &sealed, &slen) < 0) {
		log_err("cannot seal the outgoing state blob: %s", strerror(errno));
		res = TPM_FAIL;
	}
	explicit_bzero(*blob, *len);
	free(*blob);
	*blob = sealed;
	*len = slen;
	free(sealed_out[type - 1].p);
	sealed_out[type - 1].p = NULL;
	if (res == TPM_SUCCESS && (sealed_out[type - 1].p = malloc(slen)) != NULL) {
		memcpy(sealed_out[type - 1].p, sealed, slen);
		sealed_out[type - 1].len = slen;
	}
	if (res == TPM_SUCCESS && type == PTM_BLOB_TYPE_PERMANENT)
		exported_mark = engine_state_writes() + 1;
	return res;
}

/* GET_STATEBLOB: res, flags, totlength, length, then the bytes from offset. */
static int get_stateblob(struct ctrl_call *c)
{
	uint32_t flags = buf_get_u32(&c->in), type = buf_get_u32(&c->in), offset = buf_get_u32(&c->in);
	uint8_t *blob = NULL;
	uint32_t len = 0, res, ret_len = 0;
	int tpmlib_type, rc;

	(void)flags;	/* no file key: a sealed blob says so in its own header */
	if (blob_type(type, &tpmlib_type) < 0)
		return reply_res(c->out, TPM_BAD_PARAMETER);
	res = blob_out(type, tpmlib_type, offset, &blob, &len);
	if (res == TPM_SUCCESS && offset < len)
		ret_len = len - offset;
	/* swtpm reports totlength equal to the bytes returned; clients rely on it */
	uint32_t hdr[4] = { res, 0, ret_len, ret_len };
	rc = reply_u32s(c->out, hdr, 4);
	if (rc == 0 && ret_len)
		rc = dbuf_append(c->out, blob + offset, ret_len);
	if (blob) {
		explicit_bzero(blob, len);
		free(blob);
	}
	return rc;
}

static uint32_t set_stateblob_res(struct buf *in)
{
	uint32_t flags = buf_get_u32(in), type = buf_get_u32(in), len = buf_get_u32(in);
	const uint8_t *data = buf_get_ptr(in, len);
	uint8_t *plain = NULL;
	uint32_t plen = 0, res;
	int tpmlib_type;

	if (!data && len)
		return TPM_BAD_PARAMETER;
	/* under the manager QEMU relays the flags it was given; the blob's header rules */
	if ((flags & PTM_STATE_FLAG_ENCRYPTED) && !blobkeys) {
		log_err("encrypted state blob offered, but no migration key is configured");
		return TPM_BAD_PARAMETER;
	}
	if (blob_type(type, &tpmlib_type) < 0)
		return TPM_BAD_PARAMETER;
	if (!blobkeys || len == 0)
		return engine_set_state(tpmlib_type, data, len);
	res = open_blob((uint8_t)type, data, len, &plain, &plen);
	if (res == TPM_SUCCESS)
		res = engine_set_state(tpmlib_type, plain, plen);
	if (plain) {
		explicit_bzero(plain, plen);
		free(plain);
	}
	return res;
}

static int set_stateblob(struct ctrl_call *c)
{
	return reply_res(c->out, set_stateblob_res(&c->in));
}

static int get_info(struct ctrl_call *c)
{
	uint64_t flags = buf_get_u64(&c->in);
	uint32_t offset = buf_get_u32(&c->in);
	char *info = TPMLIB_GetInfo((enum TPMLIB_InfoFlags)flags);
	size_t slen, chunk;
	int rc;

	if (!info)
		return reply_res(c->out, TPM_SIZE);
	slen = strlen(info);
	if (offset >= slen) {
		free(info);
		return reply_res(c->out, TPM_BAD_PARAMETER);
	}
	/* the reply carries the terminating NUL; the client collects chunks */
	chunk = slen + 1 - offset;
	if (chunk > CTRL_INFO_CHUNK)
		chunk = CTRL_INFO_CHUNK;
	uint32_t hdr[3] = { TPM_SUCCESS, (uint32_t)slen + 1, (uint32_t)chunk };
	rc = reply_u32s(c->out, hdr, 3);
	if (rc == 0)
		rc = dbuf_append(c->out, info + offset, chunk);
	free(info);
	return rc;
}

/* --- the other commands ------------------------------------------------ */

static int get_capability(struct ctrl_call *c)
{
	uint32_t caps[2] = { 0, ctrl_capabilities(engine_is_tpm2()) };

	return reply_u32s(c->out, caps, 2);	/* one u64 to CUSE-era readers */
}

static int cmd_init(struct ctrl_call *c)
{
	uint32_t v = buf_get_u32(&c->in);

	return reply_res(c->out, engine_start(v & PTM_INIT_FLAG_DELETE_VOLATILE, ENGINE_STARTUP_NONE));
}

static int cmd_stop(struct ctrl_call *c)
{
	/*
	 * Under the manager, a stop right after the permanent state went out,
	 * with nothing written since, powers off without the automatic
	 * Shutdown: its write would make the blob just saved older than the
	 * current state, and so refused when it comes back (QEMU's restore,
	 * swtpm_ioctl --stop --load).
	 */
	if (blobkeys && exported_mark == engine_state_writes() + 1)
		engine_power_off();
	else
		engine_stop();
	exported_mark = 0;
	return reply_res(c->out, TPM_SUCCESS);
}

static int cmd_shutdown(struct ctrl_call *c)
{
	engine_stop();
	c->env->shutdown = true;
	return reply_res(c->out, TPM_SUCCESS);
}

static int get_tpmestablished(struct ctrl_call *c)
{
	TPM_BOOL bit = 0;
	uint8_t tail[4] = { 0 };
	uint32_t res = TPM_IO_TpmEstablished_Get(&bit);

	tail[0] = bit ? 1 : 0;
	if (reply_res(c->out, res) < 0)
		return -1;
	return dbuf_append(c->out, tail, sizeof(tail));
}

static int set_locality(struct ctrl_call *c)
{
	uint32_t v = buf_get_u8(&c->in);

	if (!engine_locality_ok(v))
		return reply_res(c->out, TPM_BAD_LOCALITY);
	engine_set_locality((uint8_t)v);
	return reply_res(c->out, TPM_SUCCESS);
}

static int reset_tpmestablished(struct ctrl_call *c)
{
	uint8_t saved = engine_locality();
	uint32_t v = buf_get_u8(&c->in), res;

	if (v > 4)
		return reply_res(c->out, TPM_BAD_LOCALITY);
	/* libtpms checks the locality itself (3 or 4 may reset) */
	engine_set_locality((uint8_t)v);
	res = TPM_IO_TpmEstablished_Reset();
	engine_set_locality(saved);
	return reply_res(c->out, res);
}

static int hash_start(struct ctrl_call *c)
{
	return reply_res(c->out, TPM_IO_Hash_Start());
}

static int hash_data(struct ctrl_call *c)
{
	uint32_t dlen = buf_get_u32(&c->in);
	const uint8_t *data = buf_get_ptr(&c->in, dlen);

	if (!data)
		return reply_res(c->out, TPM_BAD_PARAMETER);
	return reply_res(c->out, TPM_IO_Hash_Data(data, dlen));
}

static int hash_end(struct ctrl_call *c)
{
	return reply_res(c->out, TPM_IO_Hash_End());
}

static int cancel_tpm_cmd(struct ctrl_call *c)
{
	engine_cancel();
	return reply_res(c->out, TPM_SUCCESS);
}

static int store_volatile(struct ctrl_call *c)
{
	return reply_res(c->out, engine_store_volatile());
}

static int get_config(struct ctrl_call *c)
{
	uint32_t cfg[2] = { TPM_SUCCESS, 0 };	/* no file key, no migration key */

	return reply_u32s(c->out, cfg, 2);
}

static int set_datafd(struct ctrl_call *c)
{
	if (*c->fd < 0) {
		warn_once(c->env, CTRL_WARN_DATAFD, "SET_DATAFD without a passed descriptor, code",
			  CTRL_SET_DATAFD);
		return reply_res(c->out, TPM_BAD_PARAMETER);
	}
	/* a listener or a pipe here would block QEMU's later handover */
	if (sock_is_connected_stream(*c->fd) < 0) {
		warn_once(c->env, CTRL_WARN_DATAFD,
			  "SET_DATAFD with a descriptor that is not a connected stream socket, code",
			  CTRL_SET_DATAFD);
		return reply_res(c->out, TPM_BAD_PARAMETER);
	}
	if (!c->env->set_datafd || c->env->set_datafd(c->env->arg, *c->fd) < 0)
		return reply_res(c->out, TPM_IOERROR);
	*c->fd = -1;
	return reply_res(c->out, TPM_SUCCESS);
}

static int set_buffersize(struct ctrl_call *c)
{
	uint32_t min = 0, max = 0, size, v = buf_get_u32(&c->in);

	if (v > 0 && engine_running())
		return reply_res(c->out, TPM_BAD_ORDINAL);
	size = engine_set_buffersize(v, &min, &max);
	uint32_t r[4] = { TPM_SUCCESS, size, min, max };
	return reply_u32s(c->out, r, 4);
}

static int lock_storage(struct ctrl_call *c)
{
	/* the state directory is locked for the whole life of the process */
	return reply_res(c->out, TPM_SUCCESS);
}

/* Indexed by command code; a row without a handler is an unknown code. */
static const struct ctrl_row ctrl_table[CTRL_LOCK_STORAGE + 1] = {
	[CTRL_GET_CAPABILITY] = { 4, 0, false, CTRL_ANY, 0, get_capability },
	[CTRL_INIT] = { 8, 0, false, CTRL_ANY, 0, cmd_init },
	[CTRL_SHUTDOWN] = { 4, 0, false, CTRL_ANY, 0, cmd_shutdown },
	[CTRL_GET_TPMESTABLISHED] = { 4, 0, false, CTRL_RUNNING, 0, get_tpmestablished },
	[CTRL_SET_LOCALITY] = { 5, 0, true, CTRL_ANY, 0, set_locality },
	[CTRL_HASH_START] = { 4, 0, false, CTRL_RUNNING, 0, hash_start },
	[CTRL_HASH_DATA] = { 8, 4, false, CTRL_RUNNING, CTRL_HASH_DATA_MAX, hash_data },
	[CTRL_HASH_END] = { 4, 0, false, CTRL_RUNNING, 0, hash_end },
	[CTRL_CANCEL_TPM_CMD] = { 4, 0, false, CTRL_RUNNING, 0, cancel_tpm_cmd },
	[CTRL_STORE_VOLATILE] = { 4, 0, false, CTRL_RUNNING, 0, store_volatile },
	[CTRL_RESET_TPMESTABLISHED] = { 5, 0, true, CTRL_RUNNING, 0, reset_tpmestablished },
	[CTRL_GET_STATEBLOB] = { 16, 0, false, CTRL_RUNNING, 0, get_stateblob },
	[CTRL_SET_STATEBLOB] = { CTRL_SETSTATE_HDR, 12, false, CTRL_STOPPED, NV_BLOB_MAX,
				 set_stateblob },
	[CTRL_STOP] = { 4, 0, false, CTRL_ANY, 0, cmd_stop },
	[CTRL_GET_CONFIG] = { 4, 0, false, CTRL_ANY, 0, get_config },
	[CTRL_SET_DATAFD] = { 4, 0, false, CTRL_ANY, 0, set_datafd },
	[CTRL_SET_BUFFERSIZE] = { 8, 0, false, CTRL_ANY, 0, set_buffersize },
	[CTRL_GET_INFO] = { 20, 0, false, CTRL_ANY, 0, get_info },
	[CTRL_LOCK_STORAGE] = { 8, 0, false, CTRL_ANY, 0, lock_storage },
};

int ctrl_handle(struct ctrl_env *env, const uint8_t *req, size_t len, int *fd, struct dbuf *out)
{
	struct ctrl_call c = { .env = env, .fd = fd, .out = out };
	const struct ctrl_row *row;
	uint32_t code;

	buf_init_read(&c.in, req, len);
	code = buf_get_u32(&c.in);
	if (!buf_ok(&c.in))
		return reply_res(out, TPM_BAD_PARAMETER);
	row = lookup(code);
	if (!row) {
		warn_once(env, CTRL_WARN_UNKNOWN, "unknown control command", code);
		return reply_res(out, TPM_BAD_ORDINAL);
	}
	if ((row->when == CTRL_RUNNING && !engine_running()) ||
	    (row->when == CTRL_STOPPED && engine_running()))
		return reply_res(out, TPM_BAD_ORDINAL);
	return row->run(&c);
}
