/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keysvc: the manager's key service, the answer to each request a vtpm
 * sends over its ring (SAVEHASHKEY, LOADHASHKEY, GET_BOOT_HASH). Runs in
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

/*
 * Answers one request of the vTPM uuid (name is its text form, for logs)
 * into rsp; returns the response length (0: none could be built). bad says
 * the transport already found the request malformed. *booted is set when
 * the vtpm asked for its boot hash, which it does once its TPM runs.
 */
size_t keysvc_answer(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], const char *name,
		     const uint8_t *req, size_t len, bool bad, uint8_t rsp[MGRMSG_MAX], bool *booted);

#endif
