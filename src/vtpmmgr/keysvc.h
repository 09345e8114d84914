/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keysvc: the manager's key service, the answer to each request a vtpm
 * sends over its ring (SAVEHASHKEY, LOADHASHKEY, GET_BOOT_HASH, BLOBKEY). Runs in
 * vtpmmgr. The request bytes come from a vtpm that may be compromised:
 * lib/mgrmsg checks them, and the identity used is the UUID the caller
 * made the connection for, never anything in the request.
 */
#ifndef VTPMMGR_KEYSVC_H
#define VTPMMGR_KEYSVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgr.h"

/* What the key service keeps of one running vtpm between its requests. */
struct keysvc_peer {
	bool booted;		/* out: it asked for its boot hash (its TPM runs) */
	/* the permanent blob it last took in: its volatile companions may follow */
	bool imported;
	uint8_t src[VTPM_UUID_SIZE];
	uint64_t seq;
};

/*
 * Answers one request of the vTPM uuid (name is its text form, for logs)
 * into rsp; returns the response length (0: none could be built). bad says
 * the transport already found the request malformed. peer is this vtpm's
 * own (zeroed when it starts); peer->booted is set when the vtpm asked for
 * its boot hash, which it does once its TPM runs.
 */
size_t keysvc_answer(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], const char *name,
		     const uint8_t *req, size_t len, bool bad, uint8_t rsp[MGRMSG_MAX],
		     struct keysvc_peer *peer);

#endif
