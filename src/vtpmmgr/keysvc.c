/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keysvc: the manager's answers to a vtpm's ring requests; see keysvc.h.
 */
#include "keysvc.h"

#include <errno.h>
#include <string.h>

#include "log.h"

size_t keysvc_answer(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], const char *name,
		     const uint8_t *req, size_t len, bool bad, uint8_t rsp[MGRMSG_MAX], bool *booted)
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
		*booted = true;	/* asked once the vtpm's TPM runs */
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
