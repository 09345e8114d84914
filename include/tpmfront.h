/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtpmfront: a TPM client over the tpmif shared-page ring, the frontend
 * half of the seed's split driver, for programs on the host (and the tpm2-tss
 * TCTI "tpmfront"). Connects to a vtpm's rendezvous socket (vtpm --tpmif
 * path=...), grants it a sealed memfd and one end of a socketpair (the
 * event channel), then sends TPM commands of up to 4096 bytes through
 * shared memory. Not thread-safe: one
 * handle per thread. Functions return 0 or -1 with errno set.
 */
#ifndef TPMFRONT_H
#define TPMFRONT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tpmfront;

/* Connects and completes the handshake (timeout 5 s). NULL on failure. */
struct tpmfront *tpmfront_open(const char *socket_path);
/* Same, over an already connected rendezvous socket (taken over, closed on failure). */
struct tpmfront *tpmfront_open_fd(int sock);
/* Ends the session (Closing, Closed) and frees the handle. */
void tpmfront_close(struct tpmfront *tf);
/* Locality for the following commands, 0..4. */
int tpmfront_set_locality(struct tpmfront *tf, uint8_t locality);
/* Submits one complete TPM command; the answer is read with tpmfront_recv. */
int tpmfront_send(struct tpmfront *tf, const uint8_t *cmd, size_t len);
/*
 * Waits up to timeout_ms (-1: forever) for the answer and copies it into
 * rsp. errno ETIMEDOUT: not yet, call again; ECANCELED: the backend aborted
 * after tpmfront_cancel; EMSGSIZE: larger than cap, or than the ring.
 */
int tpmfront_recv(struct tpmfront *tf, uint8_t *rsp, size_t cap, size_t *len, int timeout_ms);
/*
 * Asks the backend to cancel the command in flight. It may complete anyway
 * (tpmfront_recv returns its answer) or abort (ECANCELED); once the answer
 * is posted, or with nothing in flight, this does nothing.
 */
int tpmfront_cancel(struct tpmfront *tf);
/* send + recv, waiting forever. */
int tpmfront_transmit(struct tpmfront *tf, const uint8_t *cmd, size_t len,
		      uint8_t *rsp, size_t cap, size_t *rsp_len);
/* The event channel: readable when the backend answers (for poll). */
int tpmfront_fd(const struct tpmfront *tf);
/* The rendezvous socket: it reads EOF when the backend has gone away. */
int tpmfront_socket(const struct tpmfront *tf);

#ifdef __cplusplus
}
#endif

#endif
