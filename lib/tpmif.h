/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmif: both halves of the shared-page TPM ring (include/tpmif_abi.h), over
 * a mapping of the granted pages and a connected Unix socketpair standing in
 * for the (bidirectional) event channel: a notification is one byte sent
 * with MSG_DONTWAIT. Not an eventfd: a passed eventfd shares its open file
 * description with the peer, who can clear O_NONBLOCK, fill the counter or
 * make it a semaphore and so block or spin us; each end of a socketpair is
 * its own description and MSG_DONTWAIT holds per call. Used by vtpm (backend for guests, frontend to the manager),
 * the manager (backend) and libtpmfront (frontend). The backend trusts
 * nothing in the page: it reads length and nr_extra_pages once, checks them
 * against the size it mapped, and copies the packet once into private
 * memory. The frontend treats the backend's length the same way.
 */
#ifndef VTPM_LIB_TPMIF_H
#define VTPM_LIB_TPMIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tpmif_abi.h"

struct tpmif_ring {
	uint8_t *page;		/* start of the mapping: page 0 */
	size_t map_size;	/* bytes mapped: (1 + extra) pages */
	int evtchn;		/* our end of the event channel socketpair */
	uint32_t req_off;	/* backend: data offset of the request being served */
	uint8_t last_written;	/* state this side wrote last */
	unsigned spin_ns;	/* adaptive spin budget before sleeping */
	/*
	 * Another carrier's notification (a real Xen event channel): when set,
	 * tpmif_notify calls it instead of writing to evtchn.
	 */
	int (*notify)(void *arg);
	void *notify_arg;
};

/* Packet room for a mapping of map_size bytes with extra pages granted. */
size_t tpmif_capacity(size_t map_size, unsigned nr_extra);

/* --- frontend ------------------------------------------------------- */

/* Writes nr_extra_pages and the grant list (page i+1 has reference i+1). */
void tpmif_front_init(struct tpmif_ring *r, unsigned nr_extra);
/* Copies cmd in, sets locality and length, then SUBMIT, then notifies. -1 EMSGSIZE/EBUSY. */
int tpmif_front_submit(struct tpmif_ring *r, const uint8_t *cmd, size_t len, uint8_t locality);
/*
 * Sets CANCEL over a SUBMIT still in flight and notifies. Once the backend
 * answered (FINISH or IDLE) it does nothing and returns 0: the answer stands.
 */
int tpmif_front_cancel(struct tpmif_ring *r);
/*
 * Waits until the backend wrote FINISH or IDLE; returns that state, or -1
 * with ETIMEDOUT (timeout_ms < 0 waits forever) or EPROTO.
 */
int tpmif_front_wait(struct tpmif_ring *r, int timeout_ms);
/* Copies the response out after FINISH, capped by the mapping and cap. */
long tpmif_front_read(struct tpmif_ring *r, uint8_t *out, size_t cap);

/* --- backend -------------------------------------------------------- */

enum tpmif_take {
	TPMIF_TAKE_NONE = 0,	/* nothing submitted */
	TPMIF_TAKE_REQUEST,	/* a request was copied out */
	TPMIF_TAKE_BAD,		/* a request that fails validation: answer it with an error */
	TPMIF_TAKE_CANCEL,	/* CANCEL while idle: answer with IDLE */
	TPMIF_TAKE_VIOLATION,	/* the frontend wrote a backend-only state */
};

/*
 * Looks at the shared state and, on SUBMIT, copies the request into buf
 * (cap bytes). Validation: offset and length within the mapping, length
 * within cap, TPM header size equal to length.
 */
enum tpmif_take tpmif_back_take(struct tpmif_ring *r, uint8_t *buf, size_t cap, size_t *len,
				uint8_t *locality);
/* Writes the response, its length, then FINISH, then notifies. */
int tpmif_back_finish(struct tpmif_ring *r, const uint8_t *rsp, size_t len);
/* Writes IDLE and notifies (cancel acknowledged). */
int tpmif_back_idle(struct tpmif_ring *r);

/*
 * Answers one request: bad says it failed validation (req is NULL); *rsp
 * must stay valid until the next call.
 */
typedef void tpmif_handler(void *arg, const uint8_t *req, size_t len, uint8_t locality, bool bad,
			   const uint8_t **rsp, uint32_t *rsp_len);
/*
 * Serves what the page holds: a request (copied into buf, cap bytes, then
 * answered by h), a cancel, or nothing. An answer too large for the
 * mapping becomes h's error answer. False on a protocol violation: the
 * caller ends the connection.
 */
bool tpmif_back_serve(struct tpmif_ring *r, uint8_t *buf, size_t cap, tpmif_handler *h, void *arg);

/* --- both ----------------------------------------------------------- */

/*
 * Accepts an event channel handed over by a peer: one end of a Unix stream
 * socketpair (connected, not listening, neither end named), whose other end
 * is open. 0, or -1 EBADF.
 */
int tpmif_take_evtchn(int fd);
/* Notifies the peer (never blocks; a full channel already holds a notification). */
int tpmif_notify(struct tpmif_ring *r);
/*
 * Consumes pending notifications without blocking (bounded). 0, or -1 with
 * EPIPE when the peer closed or shut down its end (it can never notify us
 * again).
 */
int tpmif_drain(struct tpmif_ring *r);
/* Current shared state (acquire load). */
uint8_t tpmif_state(const struct tpmif_ring *r);
/*
 * Spins up to spin_ns on the shared state while it equals `from`; returns
 * true if it changed. Lets a hot loop of small commands skip the sleep.
 */
bool tpmif_spin_while(const struct tpmif_ring *r, uint8_t from, unsigned spin_ns);

#endif
