/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keysvc: the manager's answers to a vtpm's ring requests; see keysvc.h.
 */
#include "keysvc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devline.h"
#include "log.h"

/*
 * The key of a sealed state blob: HKDF from a key of its own, derived from
 * the root secret, over the blob's whole header (type, source vTPM,
 * sequence, nonce). A bit changed in the header gives another key, so GCM
 * refuses the blob; no key is stored.
 */
static int blob_key(const struct mgr *m, const struct mgr_blobkey *k, uint8_t key[VTPM_KEY_SIZE])
{
	uint8_t hdr[MGRMSG_BLOB_HDR + 4], base[CRYPTO_KEY_SIZE];
	char label[32 + 2 * MGRMSG_BLOB_HDR];
	int n, rc;

	mgrmsg_blob_header(hdr, k, 0);
	n = snprintf(label, sizeof(label), "vtpm state blob v1 ");
	for (size_t i = 0; i < MGRMSG_BLOB_HDR; i++)
		n += snprintf(label + n, sizeof(label) - (size_t)n, "%02x", hdr[i]);
	rc = crypto_derive(m->root, "vtpmmgr state blob key v1", base);
	if (rc == 0)
		rc = crypto_derive(base, label, key);
	explicit_bzero(base, sizeof(base));
	return rc;
}

/*
 * Whether vTPM dst may take in a blob that left vTPM src: its own, or one
 * of the vTPM its device line names with migrate-from= (a migration between
 * two vTPMs of this manager, which the operator set up). Cross-host
 * migration adds here the managers this one was told to trust; the
 * freshness rule below stays as it is.
 */
static bool blob_source_ok(const struct store_vtpm *dst, const uint8_t src[VTPM_UUID_SIZE])
{
	struct devline d;
	char err[256];

	if (memcmp(dst->uuid, src, VTPM_UUID_SIZE) == 0)
		return true;
	return devline_parse(dst->config, &d, err, sizeof(err)) == 0 && d.has_migrate_from &&
	       memcmp(d.migrate_from, src, VTPM_UUID_SIZE) == 0;
}

/*
 * An incoming blob must not be older than its vTPM's recorded permanent
 * state. A volatile or savestate blob exported with the permanent one that
 * this vtpm just took in (the restore writes that one anew, raising the
 * sequence) is its companion, and fresh as well.
 */
static uint32_t blob_import_ok(struct mgr *m, const struct store_vtpm *v, const char *name,
			       struct keysvc_peer *peer, const struct mgr_blobkey *k)
{
	const struct store_vtpm *src = store_find(m->st, k->uuid);
	bool companion = peer->imported && k->type != VTPM_BLOB_PERMANENT && peer->seq == k->seq &&
			 memcmp(peer->src, k->uuid, VTPM_UUID_SIZE) == 0;

	if (!blob_source_ok(v, k->uuid) || !src) {
		log_err("vtpm %s: a state blob of another vTPM refused", name);
		return VTPM_FORBIDDEN;
	}
	if (k->seq < src->rec[VTPM_BLOB_PERMANENT - 1].seq && !companion) {
		log_err("vtpm %s: a state blob older than the current state refused (sequence %llu < %llu)",
			name, (unsigned long long)k->seq,
			(unsigned long long)src->rec[VTPM_BLOB_PERMANENT - 1].seq);
		return VTPM_FORBIDDEN;
	}
	if (k->type == VTPM_BLOB_PERMANENT) {
		peer->imported = true;
		memcpy(peer->src, k->uuid, VTPM_UUID_SIZE);
		peer->seq = k->seq;
	}
	return VTPM_SUCCESS;
}

static uint32_t answer_blobkey(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], const char *name,
			       const struct store_vtpm *v, struct keysvc_peer *peer,
			       struct mgr_request *r, struct mgr_response *out)
{
	uint32_t res = VTPM_SUCCESS;

	out->blob = r->blob;
	if (r->blob.op == MGR_BLOB_EXPORT) {
		/* the header names this vTPM and the state it holds now, never the vtpm's word */
		memcpy(out->blob.uuid, uuid, VTPM_UUID_SIZE);
		out->blob.seq = v->rec[VTPM_BLOB_PERMANENT - 1].seq;
	} else {
		res = blob_import_ok(m, v, name, peer, &r->blob);
	}
	if (res == VTPM_SUCCESS && blob_key(m, &out->blob, out->blob.key) < 0)
		res = VTPM_FAIL;
	return res;
}

size_t keysvc_answer(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], const char *name,
		     const uint8_t *req, size_t len, bool bad, uint8_t rsp[MGRMSG_MAX],
		     struct keysvc_peer *peer)
{
	struct mgr_request r;
	struct mgr_response out = { .result = VTPM_INVALID_REQUEST };
	const struct store_vtpm *v;
	long n;

	if (bad || mgrmsg_parse_request(req, len, &r, &out.result) < 0) {
		log_warn("vtpm %s sent a malformed request", name);
		r.ordinal = 0;
		goto reply;
	}
	v = store_find(m->st, uuid);
	if (!v) {
		out.result = VTPM_FORBIDDEN;	/* destroyed while running */
		goto reply;
	}
	switch (r.ordinal) {
	case VTPM_ORD_SAVEHASHKEY:
		if (store_put_record(m->st, uuid, r.type, &r.rec) == 0)
			out.result = VTPM_SUCCESS;
		else
			out.result = errno == ERANGE ? VTPM_INVALID_REQUEST : VTPM_FAIL;
		if (out.result != VTPM_SUCCESS)
			log_err("vtpm %s: state record not kept (%s)", name, strerror(errno));
		break;
	case VTPM_ORD_LOADHASHKEY:
		out.rec = v->rec[r.type - 1];
		memcpy(out.uuid, uuid, VTPM_UUID_SIZE);
		out.result = VTPM_SUCCESS;
		break;
	case VTPM_ORD_GET_BOOT_HASH:
		memcpy(out.hash, m->vtpm_hash, sizeof(out.hash));
		out.result = VTPM_SUCCESS;
		peer->booted = true;	/* asked once the vtpm's TPM runs */
		break;
	case VTPM_ORD_BLOBKEY:
		out.result = answer_blobkey(m, uuid, name, v, peer, &r, &out);
		break;
	default:
		out.result = VTPM_UNSUPPORTED;
		break;
	}
reply:
	n = mgrmsg_response(rsp, r.ordinal, &out);
	explicit_bzero(&out, sizeof(out));
	explicit_bzero(&r, sizeof(r));
	return n > 0 ? (size_t)n : 0;
}
