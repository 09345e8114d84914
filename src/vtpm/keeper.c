/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keeper: SAVEHASHKEY / LOADHASHKEY / BLOBKEY over libtpmfront. Runs in the vtpm
 * process on its main thread, synchronously: a state write is not
 * acknowledged to libtpms (and so not to the guest) before the manager has
 * recorded it.
 */
#include "keeper.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl.h"
#include "log.h"
#include "mgrmsg.h"
#include "tpmfront.h"

struct keeper {
	struct tpmfront *tf;
	struct ctrl_blobkeys blobkeys;
};

static int transact(struct keeper *k, uint32_t ordinal, const uint8_t *req, long n,
		    struct mgr_response *r)
{
	uint8_t rsp[MGRMSG_MAX];
	size_t rlen = 0;
	int rc = -1;

	if (n < 0 || tpmfront_send(k->tf, req, (size_t)n) < 0 ||
	    tpmfront_recv(k->tf, rsp, sizeof(rsp), &rlen, KEEPER_TIMEOUT_MS) < 0 ||
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
