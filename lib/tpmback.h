/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmback: the backend half of one tpmif frontend connection, the seed's
 * tpmback: the handshake on the rendezvous socket (XenbusState walk, grant
 * and event channel checks, reconnects) and serving the shared page. Used by
 * vtpm (guests are its frontends) and vtpmmgr (vtpms are its frontends);
 * the owner supplies the request handler. Frontends are untrusted: a bad
 * grant or handshake ends the connection, a bad request gets an error
 * response, a protocol violation on the page ends the connection.
 */
#ifndef VTPM_TPMBACK_H
#define VTPM_TPMBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ev.h"

/* How long the backend keeps watching the page after an answer (ns). */
#define TPMBACK_SPIN_NS		30000u
/* Requests served per wake-up before other clients get a turn. */
#define TPMBACK_BURST		64

struct tpmback;

struct tpmback_ops {
	/*
	 * Answers one request. bad: the request failed validation (req is
	 * NULL); answer with an error. *rsp must stay valid until the next call.
	 */
	void (*handle)(void *arg, const uint8_t *req, size_t len, uint8_t locality, bool bad,
		       const uint8_t **rsp, uint32_t *rsp_len);
	/* The connection is gone; the tpmback is freed right after. May be NULL. */
	void (*closed)(void *arg, struct tpmback *tb);
};

/* Takes ownership of a connected rendezvous socket and sends InitWait. */
struct tpmback *tpmback_new(struct ev_loop *loop, int sock, const struct tpmback_ops *ops,
			    void *arg);
/* Closes the connection (without calling ops->closed) and frees it. */
void tpmback_free(struct tpmback *tb);
bool tpmback_connected(const struct tpmback *tb);

#endif
