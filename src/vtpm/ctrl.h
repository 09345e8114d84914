/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctrl: swtpm's control channel protocol (tpm_ioctl.h socket form), run by
 * the vtpm process for QEMU, libvirt, swtpm_ioctl and tpm2-tss' swtpm TCTI.
 * Requests are u32 big-endian command code plus a fixed body (no length
 * field: the code implies the size; HASH_DATA and SET_STATEBLOB carry their
 * own length). Replies start with a u32 TPM result. Everything is big-endian.
 * The client is untrusted; every length is capped before it sizes anything.
 */
#ifndef VTPM_CTRL_H
#define VTPM_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"
#include "frame.h"
#include "nv.h"

enum ctrl_cmd {
	CTRL_GET_CAPABILITY = 0x01,
	CTRL_INIT = 0x02,
	CTRL_SHUTDOWN = 0x03,
	CTRL_GET_TPMESTABLISHED = 0x04,
	CTRL_SET_LOCALITY = 0x05,
	CTRL_HASH_START = 0x06,
	CTRL_HASH_DATA = 0x07,
	CTRL_HASH_END = 0x08,
	CTRL_CANCEL_TPM_CMD = 0x09,
	CTRL_STORE_VOLATILE = 0x0a,
	CTRL_RESET_TPMESTABLISHED = 0x0b,
	CTRL_GET_STATEBLOB = 0x0c,
	CTRL_SET_STATEBLOB = 0x0d,
	CTRL_STOP = 0x0e,
	CTRL_GET_CONFIG = 0x0f,
	CTRL_SET_DATAFD = 0x10,
	CTRL_SET_BUFFERSIZE = 0x11,
	CTRL_GET_INFO = 0x12,
	CTRL_LOCK_STORAGE = 0x13,
};

/* PTM_CAP_* bits of CTRL_GET_CAPABILITY */
#define PTM_CAP_INIT			(1u << 0)
#define PTM_CAP_SHUTDOWN		(1u << 1)
#define PTM_CAP_GET_TPMESTABLISHED	(1u << 2)
#define PTM_CAP_SET_LOCALITY		(1u << 3)
#define PTM_CAP_HASHING			(1u << 4)
#define PTM_CAP_CANCEL_TPM_CMD		(1u << 5)
#define PTM_CAP_STORE_VOLATILE		(1u << 6)
#define PTM_CAP_RESET_TPMESTABLISHED	(1u << 7)
#define PTM_CAP_GET_STATEBLOB		(1u << 8)
#define PTM_CAP_SET_STATEBLOB		(1u << 9)
#define PTM_CAP_STOP			(1u << 10)
#define PTM_CAP_GET_CONFIG		(1u << 11)
#define PTM_CAP_SET_DATAFD		(1u << 12)
#define PTM_CAP_SET_BUFFERSIZE		(1u << 13)
#define PTM_CAP_GET_INFO		(1u << 14)
#define PTM_CAP_SEND_COMMAND_HEADER	(1u << 15)
#define PTM_CAP_LOCK_STORAGE		(1u << 16)

#define PTM_INIT_FLAG_DELETE_VOLATILE	(1u << 0)
#define PTM_STATE_FLAG_DECRYPTED	(1u << 0)
#define PTM_STATE_FLAG_ENCRYPTED	(1u << 1)
#define PTM_BLOB_TYPE_PERMANENT		1
#define PTM_BLOB_TYPE_VOLATILE		2
#define PTM_BLOB_TYPE_SAVESTATE		3

#define CTRL_HASH_DATA_MAX	4096		/* tpm_ioctl.h ptm_hdata buffer */
#define CTRL_INFO_CHUNK		3072		/* tpm_ioctl.h ptm_getinfo buffer */
#define CTRL_SETSTATE_HDR	16		/* code, flags, type, length */
#define CTRL_REQ_MAX		(CTRL_SETSTATE_HDR + NV_BLOB_MAX)
#define CTRL_DEADLINE_MS	500		/* a request must arrive whole in this time */

/*
 * Frames one request at the start of p[0..n): FRAME_COMPLETE with *len set,
 * FRAME_NEED_MORE, or FRAME_INVALID when a declared length exceeds its cap.
 */
enum frame_result ctrl_frame(const uint8_t *p, size_t n, size_t *len);

/* Warnings a client can cause, each logged once per connection. */
#define CTRL_WARN_UNKNOWN	0x1u
#define CTRL_WARN_DATAFD	0x2u

struct ctrl_env {
	/* Takes fd as the data connection; returns -1 if one is already set. */
	int (*set_datafd)(void *arg, int fd);
	void *arg;
	bool shutdown;		/* out: SHUTDOWN answered, exit after the reply */
	unsigned warned;	/* in/out, kept per connection: CTRL_WARN_* logged */
};

/*
 * Under the manager: the key of a state blob that leaves (k->op
 * MGR_BLOB_EXPORT: fills uuid, seq and key for k->type and k->nonce) or
 * enters (MGR_BLOB_IMPORT: fills key for the header in k, or -1 when the
 * manager refuses the blob). See lib/mgrmsg.h for the blob format.
 */
struct ctrl_blobkeys {
	int (*blob_key)(void *arg, struct mgr_blobkey *k);
	void *arg;
};

/* Seals state blobs from now on (the vtpm under the manager); NULL: plain. */
void ctrl_set_blobkeys(const struct ctrl_blobkeys *k);

/*
 * Runs one complete request and appends the reply to out. *fd holds an fd
 * the client passed (or -1); it is set to -1 if taken. Returns 0, or -1 when
 * the reply could not be queued (the caller closes the connection).
 */
int ctrl_handle(struct ctrl_env *env, const uint8_t *req, size_t len, int *fd, struct dbuf *out);

/* The capability word this build reports. */
uint32_t ctrl_capabilities(bool tpm2);

#endif
