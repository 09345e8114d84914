/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmif_serve: vtpm as a tpmif backend (the seed's tpmback) for guests and
 * other frontends, next to its socket protocols. A frontend connects to the
 * rendezvous socket, the xenstore stand-in; the handshake walks the
 * XenbusState values, hands over the granted pages (a sealed memfd) and the
 * event channels (event channels); then requests flow over the shared page. Each
 * connection is one frontend; several may share the vTPM. Frontends are
 * untrusted.
 */
#ifndef VTPM_TPMIF_SERVE_H
#define VTPM_TPMIF_SERVE_H

#include <stdbool.h>

#include "ev.h"

struct tpmif_server;

/* Listens on path, or on the listening socket fd when fd >= 0; at most max frontends (0: any). */
struct tpmif_server *tpmif_server_new(struct ev_loop *loop, const char *path, int fd, int mode,
				      unsigned max);
void tpmif_server_free(struct tpmif_server *ts);

#endif
