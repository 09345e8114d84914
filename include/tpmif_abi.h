/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmif: the seed's split-driver TPM transport, protocol v2
 * (xen/include/public/io/tpmif.h), byte for byte. This is cross-process ABI:
 * the frontend (a guest, libtpmfront, or a vtpm reaching its manager) grants
 * one 4096-byte page plus optional extra pages directly after it; the
 * backend maps them read-write. Header fields are host byte order.
 *
 *   offset 0  u32 length           request / response length
 *   offset 4  u8  state            enum tpmif_state
 *   offset 5  u8  locality         of the current request (frontend)
 *   offset 6  u8  pad              0
 *   offset 7  u8  nr_extra_pages
 *   offset 8  u32 extra_pages[n]   grant references of the extra pages
 *   8 + 4n    TPM packet
 *
 * Only the frontend writes SUBMIT and CANCEL; only the backend writes IDLE
 * and FINISH; every change is followed by a notification of the peer.
 * Xen's own implementations never use extra pages (packet limit 4088);
 * these do, so a 4096-byte TPM 2.0 command fits with one extra page.
 */
#ifndef VTPM_TPMIF_ABI_H
#define VTPM_TPMIF_ABI_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define TPMIF_PAGE_SIZE		4096u
/* Our implementations grant at most this many extra pages (Xen: 0). */
#define TPMIF_MAX_EXTRA_PAGES	3u
#define TPMIF_HDR_SIZE		8u

enum tpmif_state {
	TPMIF_STATE_IDLE = 0,
	TPMIF_STATE_SUBMIT = 1,
	TPMIF_STATE_FINISH = 2,
	TPMIF_STATE_CANCEL = 3,
};

/* The first bytes of page 0. Accessed only through lib/tpmif.c. */
struct tpmif_shared_page {
	uint32_t length;
	uint8_t state;
	uint8_t locality;
	uint8_t pad;
	uint8_t nr_extra_pages;
	uint32_t extra_pages[];
};

static_assert(offsetof(struct tpmif_shared_page, length) == 0, "tpmif length offset");
static_assert(offsetof(struct tpmif_shared_page, state) == 4, "tpmif state offset");
static_assert(offsetof(struct tpmif_shared_page, locality) == 5, "tpmif locality offset");
static_assert(offsetof(struct tpmif_shared_page, pad) == 6, "tpmif pad offset");
static_assert(offsetof(struct tpmif_shared_page, nr_extra_pages) == 7, "tpmif nr_extra_pages offset");
static_assert(offsetof(struct tpmif_shared_page, extra_pages) == TPMIF_HDR_SIZE, "tpmif grant list offset");
static_assert(sizeof(struct tpmif_shared_page) == TPMIF_HDR_SIZE, "tpmif header size");

/* XenbusState values walked by the handshake, as in xen/include/public/io/xenbus.h */
enum xenbus_state {
	XENBUS_STATE_UNKNOWN = 0,
	XENBUS_STATE_INITIALISING = 1,
	XENBUS_STATE_INIT_WAIT = 2,
	XENBUS_STATE_INITIALISED = 3,
	XENBUS_STATE_CONNECTED = 4,
	XENBUS_STATE_CLOSING = 5,
	XENBUS_STATE_CLOSED = 6,
};

#endif
