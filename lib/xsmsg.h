/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * xsmsg: the handshake messages of the tpmif rendezvous socket, our Linux
 * stand-in for xenstore. A message is u16 big-endian length, then that many
 * bytes of "key=value\n" lines (keys as in the seed: state, ring-ref,
 * event-channel, feature-protocol-v2, ready), optionally with fds attached
 * by SCM_RIGHTS (the grant and the event channel). Peers are untrusted: the
 * parser takes only short, printable, unique keys and values.
 */
#ifndef VTPM_XSMSG_H
#define VTPM_XSMSG_H

#include <stddef.h>
#include <stdint.h>

#define XSMSG_MAX	512	/* payload bytes */
#define XSMSG_MAX_KEYS	8
#define XSMSG_KEY_MAX	31
#define XSMSG_VAL_MAX	63
#define XSMSG_MAX_FDS	2

struct xsmsg {
	int nkeys;
	struct {
		char key[XSMSG_KEY_MAX + 1];
		char val[XSMSG_VAL_MAX + 1];
	} kv[XSMSG_MAX_KEYS];
};

/* Parses a payload (without the u16 length). 0, or -1 with EBADMSG. */
int xsmsg_parse(const uint8_t *p, size_t n, struct xsmsg *m);
/* Encodes length + payload into out; returns bytes written or -1. */
long xsmsg_encode(const struct xsmsg *m, uint8_t *out, size_t cap);
/* Frames: 1 with *total = 2 + payload length when complete, 0 need more, -1 oversize. */
int xsmsg_frame(const uint8_t *p, size_t n, size_t *total);

void xsmsg_init(struct xsmsg *m);
int xsmsg_set(struct xsmsg *m, const char *key, const char *val);
int xsmsg_set_uint(struct xsmsg *m, const char *key, unsigned v);
const char *xsmsg_get(const struct xsmsg *m, const char *key);
/* Decimal value of key in [0, max]; -1 when absent or malformed. */
long xsmsg_get_uint(const struct xsmsg *m, const char *key, unsigned long max);

/* Blocking send with fds attached to the first byte. */
int xsmsg_send(int fd, const struct xsmsg *m, const int *fds, int nfds);
/*
 * Blocking receive of one whole message within timeout_ms; fds[] gets up to
 * XSMSG_MAX_FDS passed descriptors (*nfds set), extra ones are closed.
 */
int xsmsg_recv(int fd, struct xsmsg *m, int *fds, int *nfds, int timeout_ms);

#endif
