/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_tpmif_take: libFuzzer target for the backend's request intake on the
 * tpmif ring (tpmif_back_take, tpmif_back_finish, tpmif_back_idle) and the
 * frontend's response intake (tpmif_front_read). The input is a frontend's
 * shared page: byte 0 picks the ring size (one or two pages), the state the
 * backend wrote last and the size of the private buffer; the rest is copied
 * over the page from offset 0 (header, grant list, packet). The ring sits
 * between two PROT_NONE guard pages and the private buffer is a heap block
 * of exactly its size, so any read or write past either faults or trips
 * ASan. An independent oracle decides what take must return; a request
 * copied out must equal the bytes on the page, its length the header's, at
 * most the buffer's size. Every answer then fits inside the mapping.
 * Bit 5 of byte 0 hands the ring an event channel (one end of a Unix
 * socketpair) that is already full: every notification then meets EAGAIN,
 * which must count as delivered (the peer has unread ones), never as an
 * error, and must not block.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "tpm.h"
#include "tpmif.h"

#define PG		TPMIF_PAGE_SIZE
#define RING_MAX_PAGES	2

static uint8_t *area;		/* guard, RING_MAX_PAGES pages, guard */
/* the event channel as libtpmfront makes it: [0] the ring's end, [1] the peer's */
static int evt[2] = { -1, -1 };
static int full[2] = { -1, -1 };	/* the same, with [0]'s send buffer full */

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_tpmif_take: invariant broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	area = mmap(NULL, (RING_MAX_PAGES + 2) * PG, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, evt) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, full) < 0 ||
	    mprotect(area, PG, PROT_NONE) < 0 ||
	    mprotect(area + (RING_MAX_PAGES + 1) * PG, PG, PROT_NONE) < 0) {
		perror("fuzz_tpmif_take: setup");
		abort();
	}
	/* a peer that never reads: fill until the kernel refuses more */
	static const char junk[4096];
	while (send(full[0], junk, sizeof(junk), MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		;
	while (send(full[0], junk, 1, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
		;
	check(errno == EAGAIN || errno == EWOULDBLOCK, "the full event channel is full");
	return 0;
}

static uint32_t page_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));	/* host order, as the ABI says */
	return v;
}

/* What tpmif_back_take must return for this page, computed independently. */
static enum tpmif_take expected_take(const uint8_t *page, size_t map, size_t cap,
				     uint8_t last_written)
{
	uint8_t s = page[4];
	uint64_t n = page_u32(page), off = TPMIF_HDR_SIZE + 4u * page[7];

	if (s == TPMIF_STATE_CANCEL)
		return last_written == TPMIF_STATE_FINISH || last_written == TPMIF_STATE_IDLE
			       ? TPMIF_TAKE_CANCEL : TPMIF_TAKE_NONE;
	if (s != TPMIF_STATE_SUBMIT)
		return s != last_written ? TPMIF_TAKE_VIOLATION : TPMIF_TAKE_NONE;
	/* 64-bit sums: no wrap to hide behind */
	if (off + n > map || n > cap || n < TPM_HDR_SIZE || off >= map)
		return TPMIF_TAKE_BAD;
	return be32_load(page + off + 2) == n ? TPMIF_TAKE_REQUEST : TPMIF_TAKE_BAD;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { TPM_PACKET_MAX, TPM_HDR_SIZE, 64, 2 * PG };
	static const uint8_t lasts[] = { TPMIF_STATE_IDLE, TPMIF_STATE_FINISH, TPMIF_STATE_SUBMIT,
					 TPMIF_STATE_CANCEL };
	uint8_t cfg, rsp[TPM_HDR_SIZE], *buf, *out, loc = 0xaa;
	size_t pages, map, cap, len = (size_t)-1, n;
	struct tpmif_ring r;
	enum tpmif_take want, got;
	long fr;
	char junk[256];
	bool chan_full;

	if (size < 1)
		return 0;
	cfg = data[0];
	pages = 1 + (cfg & 1);
	map = pages * PG;
	cap = caps[(cfg >> 1) & 3];
	chan_full = cfg & 0x20;
	r = (struct tpmif_ring){ .page = area + (RING_MAX_PAGES + 1 - pages) * PG, .map_size = map,
				 .evtchn = chan_full ? full[0] : evt[0],
				 .last_written = lasts[(cfg >> 3) & 3] };
	/* the ring ends right at the upper guard page */
	memset(area + PG, 0, RING_MAX_PAGES * PG);
	n = size - 1 < map ? size - 1 : map;
	memcpy(r.page, data + 1, n);

	/* the frontend's intake, on the same bytes as if the backend wrote them */
	out = malloc(cap);
	check(out != NULL, "malloc");
	fr = tpmif_front_read(&r, out, cap);
	if (fr < 0) {
		check(errno == EMSGSIZE, "front_read fails with EMSGSIZE");
	} else {
		uint64_t off = TPMIF_HDR_SIZE + 4u * r.page[7];

		check((uint64_t)fr == page_u32(r.page), "front_read length is the header's");
		check(off + (uint64_t)fr <= map && (size_t)fr <= cap, "front_read within bounds");
		check(memcmp(out, r.page + off, (size_t)fr) == 0, "front_read copies the page");
	}
	free(out);

	/* the backend's intake */
	want = expected_take(r.page, map, cap, r.last_written);
	buf = malloc(cap);
	check(buf != NULL, "malloc");
	got = tpmif_back_take(&r, buf, cap, &len, &loc);
	check(got == want, "take result matches the oracle");
	if (got == TPMIF_TAKE_REQUEST) {
		uint32_t off = TPMIF_HDR_SIZE + 4u * r.page[7];

		check(len == page_u32(r.page), "copied length is the header's");
		check(len <= cap && len >= TPM_HDR_SIZE, "copied length in [10, cap]");
		check(r.req_off == off && (uint64_t)off + len <= map, "request inside the mapping");
		check(memcmp(buf, r.page + off, len) == 0, "private copy equals the page");
		check(be32_load(buf + 2) == len, "TPM size field equals the length");
		check(loc == r.page[5], "locality is the header's");
	}
	free(buf);

	switch (got) {
	case TPMIF_TAKE_REQUEST:
	case TPMIF_TAKE_BAD:
		check(r.req_off >= TPMIF_HDR_SIZE && (uint64_t)r.req_off + TPM_HDR_SIZE <= map,
		      "an answer fits at req_off");
		/* an answer larger than the room after req_off is refused, not written */
		errno = 0;
		check(tpmif_back_finish(&r, area + PG, map - r.req_off + 1) < 0 && errno == EMSGSIZE,
		      "oversize answer refused");
		tpm_error_response(rsp, 1, TPM20_RC_COMMAND_SIZE);
		check(tpmif_back_finish(&r, rsp, sizeof(rsp)) == 0, "short answer written");
		check(tpmif_state(&r) == TPMIF_STATE_FINISH && r.last_written == TPMIF_STATE_FINISH,
		      "FINISH after the answer");
		check(page_u32(r.page) == sizeof(rsp) &&
			      memcmp(r.page + r.req_off, rsp, sizeof(rsp)) == 0,
		      "answer and length on the page");
		/* and the frontend reads back exactly that */
		out = malloc(cap);
		check(out != NULL, "malloc");
		check(tpmif_front_read(&r, out, cap) == (long)sizeof(rsp) &&
			      memcmp(out, rsp, sizeof(rsp)) == 0, "frontend reads the answer");
		free(out);
		break;
	case TPMIF_TAKE_CANCEL:
		check(tpmif_back_idle(&r) == 0 && tpmif_state(&r) == TPMIF_STATE_IDLE,
		      "IDLE after a cancel");
		break;
	default:
		break;
	}
	/* each answer notified the peer, or met a full channel and counted as sent */
	check(recv(full[1], junk, 1, MSG_DONTWAIT | MSG_PEEK) == 1, "the full channel stays full");
	if (chan_full || got == TPMIF_TAKE_NONE || got == TPMIF_TAKE_VIOLATION)
		check(recv(evt[1], junk, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN,
		      "no notification without an answer");
	else
		check(recv(evt[1], junk, 1, MSG_PEEK | MSG_DONTWAIT) == 1, "the answer was notified");
	while (recv(evt[1], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	/* the ring drains its own end without blocking, whatever is there */
	tpmif_drain(&r);
	return 0;
}
