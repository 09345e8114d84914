/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keeper: SAVEHASHKEY / LOADHASHKEY / BLOBKEY over libtpmfront. Runs in the vtpm
 * process on its main thread, synchronously: a state write is not
 * acknowledged to libtpms (and so not to the guest) before the manager has
 * recorded it. The manager's answers are untrusted bytes (lib/mgrmsg).
 *
 * A slow or stopped manager is waited for, however long: the TPM command
 * that caused the write simply takes longer, as behind a slow disk. Giving
 * up would leave libtpms in failure mode, and a write the manager records
 * later would have been reported to the guest as failed. If the manager
 * goes away while a write is in flight, nobody knows whether it was
 * recorded, so the vtpm exits without answering (as under kill -9).
 */
#include "keeper.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrl.h"
#include "ev.h"
#include "log.h"
#include "mgrmsg.h"
#include "server.h"
#include "tpmfront.h"

struct keeper {
	struct tpmfront *tf;
	struct ctrl_blobkeys blobkeys;
};

/* Waits for the manager's answer without a bound, saying so once it is slow. */
static int wait_answer(struct keeper *k, uint8_t *rsp, size_t cap, size_t *rlen)
{
	int64_t t0 = ev_now_ms();

	if (tpmfront_recv(k->tf, rsp, cap, rlen, KEEPER_SLOW_MS) == 0)
		return 0;
	if (errno != ETIMEDOUT)
		return -1;
	log_warn("the manager has not answered for %d s; the TPM command waits for it",
		 KEEPER_SLOW_MS / 1000);
	if (tpmfront_recv(k->tf, rsp, cap, rlen, -1) < 0)
		return -1;
	log_info("the manager answered after %lld s", (long long)((ev_now_ms() - t0) / 1000));
	return 0;
}

/*
 * Returns 0, or -1 with errno EPERM when the manager refused (nothing was
 * recorded), any other errno when the exchange itself failed.
 */
static int transact(struct keeper *k, uint32_t ordinal, const uint8_t *req, long n,
		    struct mgr_response *r)
{
	uint8_t rsp[MGRMSG_MAX];
	size_t rlen = 0;
	int rc = -1;

	if (n < 0 || tpmfront_send(k->tf, req, (size_t)n) < 0 ||
	    wait_answer(k, rsp, sizeof(rsp), &rlen) < 0 ||
	    mgrmsg_parse_response(ordinal, rsp, rlen, r) < 0)
		goto out;
	if (r->result != VTPM_SUCCESS) {
		log_err("the manager refused ordinal %u: result %u", ordinal, r->result);
		errno = EPERM;
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(rsp, sizeof(rsp));
	return rc;
}

static int keeper_load(void *arg, int type, uint8_t uuid[VTPM_UUID_SIZE], struct mgr_record *rec)
{
	struct mgr_response r;
	uint8_t req[MGRMSG_MAX];

	if (transact(arg, VTPM_ORD_LOADHASHKEY, req, mgrmsg_load_request(req, (uint8_t)type), &r) < 0)
		return -1;
	memcpy(uuid, r.uuid, VTPM_UUID_SIZE);
	*rec = r.rec;
	explicit_bzero(&r, sizeof(r));
	return 0;
}

static int keeper_save(void *arg, int type, const struct mgr_record *rec)
{
	struct mgr_response r;
	uint8_t req[MGRMSG_MAX];
	int rc = transact(arg, VTPM_ORD_SAVEHASHKEY, req, mgrmsg_save_request(req, (uint8_t)type, rec), &r);

	explicit_bzero(req, sizeof(req));
	if (rc < 0 && errno != EPERM) {
		/* recorded or not, nobody can tell: no answer at all, as under kill -9 */
		log_err("the manager went away during a state write (%s); stopping without "
			"answering the command", strerror(errno));
		_exit(SERVER_LIFELINE_LOST);
	}
	return rc;
}

int keeper_boot_hash(struct keeper *k, uint8_t hash[VTPM_DIGEST_SIZE])
{
	struct mgr_response r;
	uint8_t req[MGRMSG_MAX];

	if (transact(k, VTPM_ORD_GET_BOOT_HASH, req, mgrmsg_boot_hash_request(req), &r) < 0)
		return -1;
	memcpy(hash, r.hash, VTPM_DIGEST_SIZE);
	return 0;
}

/* BLOBKEY: the manager's key for a state blob leaving or entering (ctrl). */
static int keeper_blob_key(void *arg, struct mgr_blobkey *k)
{
	struct mgr_response r;
	uint8_t req[MGRMSG_MAX];
	int rc = transact(arg, VTPM_ORD_BLOBKEY, req, mgrmsg_blobkey_request(req, k), &r);

	if (rc == 0 && k->op == MGR_BLOB_IMPORT &&
	    (r.blob.seq != k->seq || memcmp(r.blob.uuid, k->uuid, VTPM_UUID_SIZE) != 0)) {
		log_err("the manager answered a blob key for another header");
		errno = EBADMSG;
		rc = -1;
	}
	if (rc == 0) {
		memcpy(k->uuid, r.blob.uuid, VTPM_UUID_SIZE);
		k->seq = r.blob.seq;
		memcpy(k->key, r.blob.key, VTPM_KEY_SIZE);
	}
	explicit_bzero(&r, sizeof(r));
	return rc;
}

const struct ctrl_blobkeys *keeper_blobkeys(struct keeper *k)
{
	k->blobkeys = (struct ctrl_blobkeys){ .blob_key = keeper_blob_key, .arg = k };
	return &k->blobkeys;
}

struct keeper *keeper_open(int fd, struct nv_keeper *ops)
{
	struct keeper *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->tf = tpmfront_open_fd(fd);
	if (!k->tf) {
		log_err("cannot reach the manager on fd %d: %s", fd, strerror(errno));
		free(k);
		return NULL;
	}
	*ops = (struct nv_keeper){ .load = keeper_load, .save = keeper_save, .arg = k };
	return k;
}

void keeper_close(struct keeper *k)
{
	if (!k)
		return;
	tpmfront_close(k->tf);
	free(k);
}

int keeper_socket(const struct keeper *k)
{
	return tpmfront_socket(k->tf);
}
