/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmif: ring halves. Ordering: the writer of a state stores the packet and
 * length first and the state last with release semantics; the reader loads
 * the state with acquire semantics before it reads anything else, so a
 * packet is never seen half-written. Shared memory is read through volatile
 * byte copies only where its value is then checked; nothing is parsed there.
 */
#include "tpmif.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "sock.h"
#include "tpm.h"

#define SPIN_MIN_NS	2000u
#define SPIN_MAX_NS	200000u
/*
 * Spin this long before yielding between looks at the page. Why: a peer
 * on our CPU (one CPU, or the scheduler woke it here) cannot answer while
 * we spin, so without a yield every spin runs to its end. With the peer on
 * another CPU a short answer comes within this pure spin, and no yield is
 * paid.
 */
#ifndef SPIN_PURE_NS
#define SPIN_PURE_NS	1000u
#endif

static struct tpmif_shared_page *hdr(const struct tpmif_ring *r)
{
	return (struct tpmif_shared_page *)r->page;
}

size_t tpmif_capacity(size_t map_size, unsigned nr_extra)
{
	size_t off = TPMIF_HDR_SIZE + 4u * nr_extra;

	return off < map_size ? map_size - off : 0;
}

uint8_t tpmif_state(const struct tpmif_ring *r)
{
	return __atomic_load_n(&hdr(r)->state, __ATOMIC_ACQUIRE);
}

static void set_state(struct tpmif_ring *r, uint8_t s)
{
	__atomic_store_n(&hdr(r)->state, s, __ATOMIC_RELEASE);
	r->last_written = s;
}

int tpmif_take_evtchn(int fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain), al;
	struct sockaddr_un addr;
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	if (sock_is_connected_stream(fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
	    /*
	     * one end of a socketpair: connected, and neither end has a name.
	     * A named peer is a listener's side of a connection, such as the
	     * frontend's end of its own rendezvous connection: holding that, we
	     * would never read EOF on the connection.
	     */
	    (al = sizeof(addr), getsockname(fd, (struct sockaddr *)&addr, &al)) < 0 ||
	    al != sizeof(sa_family_t) ||
	    (al = sizeof(addr), getpeername(fd, (struct sockaddr *)&addr, &al)) < 0 ||
	    al != sizeof(sa_family_t) ||
	    /* and the other end still open, neither direction shut down */
	    poll(&pfd, 1, 0) < 0 || (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

int tpmif_notify(struct tpmif_ring *r)
{
	const char one = 1;
	int queued;

	if (r->notify)
		return r->notify(r->notify_arg);
	/*
	 * An event channel is a pending bit, not a counter: while an earlier
	 * notification is still unread the peer wakes anyway, and another byte
	 * only adds a buffer for it to free later (hundreds pile up while both
	 * sides catch each other by spinning, and draining them costs tens of
	 * microseconds). So at most one is left queued.
	 */
	if (ioctl(r->evtchn, SIOCOUTQ, &queued) == 0 && queued > 0)
		return 0;
	for (;;) {
		if (send(r->evtchn, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;	/* the peer has not read earlier ones: it will wake */
		if (errno != EINTR)
			return -1;
	}
}

int tpmif_drain(struct tpmif_ring *r)
{
	char junk[256];

	/* bounded: a flooding peer costs us this much per wake-up, no more */
	for (int i = 0; i < 4; i++) {
		ssize_t n = recv(r->evtchn, junk, sizeof(junk), MSG_DONTWAIT);

		if (n == (ssize_t)sizeof(junk))
			continue;
		if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
			return 0;
		if (n == 0)
			errno = EPIPE;	/* the peer closed its end or shut it down */
		return -1;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

bool tpmif_spin_while(const struct tpmif_ring *r, uint8_t from, unsigned spin_ns)
{
	uint64_t start = now_ns(), t;

	for (;;) {
		for (int i = 0; i < 64; i++) {
			if (tpmif_state(r) != from)
				return true;
			cpu_relax();
		}
		t = now_ns() - start;
		if (t >= spin_ns)
			return false;
		if (t >= SPIN_PURE_NS)
			sched_yield();
	}
}

void tpmif_front_init(struct tpmif_ring *r, unsigned nr_extra)
{
	struct tpmif_shared_page *h = hdr(r);

	memset(r->page, 0, TPMIF_HDR_SIZE);
	h->nr_extra_pages = (uint8_t)nr_extra;
	for (unsigned i = 0; i < nr_extra; i++)
		h->extra_pages[i] = i + 1;	/* stand-in grant ref: page index */
	set_state(r, TPMIF_STATE_IDLE);
	r->spin_ns = 50000;
}

int tpmif_front_submit(struct tpmif_ring *r, const uint8_t *cmd, size_t len, uint8_t locality)
{
	struct tpmif_shared_page *h = hdr(r);
	uint8_t st = tpmif_state(r);
	size_t off = TPMIF_HDR_SIZE + 4u * h->nr_extra_pages;

	if (st == TPMIF_STATE_SUBMIT || st == TPMIF_STATE_CANCEL) {
		errno = EBUSY;
		return -1;
	}
	if (off > r->map_size || len > r->map_size - off) {
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(r->page + off, cmd, len);
	h->length = (uint32_t)len;
	h->locality = locality;
	set_state(r, TPMIF_STATE_SUBMIT);
	return tpmif_notify(r);
}

int tpmif_front_cancel(struct tpmif_ring *r)
{
	uint8_t expect = TPMIF_STATE_SUBMIT;

	/*
	 * Only a request still in flight is cancelled. Once the backend wrote
	 * FINISH (or IDLE) the answer stands: a CANCEL over it would be
	 * acknowledged with IDLE for a command that did run, its answer lost
	 * (a key it created stays loaded), and a CANCEL with nothing in flight
	 * would make the next submit fail with EBUSY until it is acknowledged.
	 * The compare-and-swap settles the race with the backend's FINISH.
	 */
	if (!__atomic_compare_exchange_n(&hdr(r)->state, &expect, TPMIF_STATE_CANCEL, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	r->last_written = TPMIF_STATE_CANCEL;
	return tpmif_notify(r);
}

static bool front_done(uint8_t s)
{
	return s == TPMIF_STATE_FINISH || s == TPMIF_STATE_IDLE;
}

int tpmif_front_wait(struct tpmif_ring *r, int timeout_ms)
{
	uint64_t t0 = now_ns(), took;
	struct pollfd pfd = { .fd = r->evtchn, .events = POLLIN };
	unsigned spin = r->spin_ns;
	uint8_t s;

	/* the backend is likely running now: watch the page before sleeping, not past the timeout */
	if (timeout_ms >= 0 && (uint64_t)timeout_ms * 1000000u < spin)
		spin = (unsigned)timeout_ms * 1000000u;
	(void)tpmif_spin_while(r, r->last_written, spin);
	while (!front_done(s = tpmif_state(r))) {
		int left = -1;

		if (s != r->last_written) {
			/* SUBMIT or CANCEL that we did not write: the backend broke the rules */
			errno = EPROTO;
			return -1;
		}
		if (timeout_ms >= 0) {
			uint64_t el = (now_ns() - t0) / 1000000u;
			if (el >= (uint64_t)timeout_ms) {
				/*
				 * answers caught by spinning left their notifications
				 * unread: consume them, so that a caller polling the
				 * event channel sleeps until this answer's, then look
				 * once more in case it came meanwhile
				 */
				int dead = tpmif_drain(r) < 0;

				if (front_done(s = tpmif_state(r)))
					break;
				errno = dead ? EPIPE : ETIMEDOUT;
				return -1;
			}
			left = timeout_ms - (int)el;
		}
		pfd.revents = 0;
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -1;
		if (tpmif_drain(r) < 0 || (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))) {
			/* the backend closed its end: nothing will wake us again; a last look */
			if (front_done(s = tpmif_state(r)))
				break;
			errno = EPIPE;
			return -1;
		}
	}
	/*
	 * adapt: spin about twice as long as short answers take, so the next
	 * one is caught while spinning; long commands (key generation) halve
	 * the budget towards the minimum instead of burning a core.
	 */
	took = now_ns() - t0;
	if (took * 2 <= SPIN_MAX_NS)
		r->spin_ns = took * 2 < SPIN_MIN_NS ? SPIN_MIN_NS : (unsigned)(took * 2);
	else if (r->spin_ns / 2 >= SPIN_MIN_NS)
		r->spin_ns /= 2;
	return s;
}

long tpmif_front_read(struct tpmif_ring *r, uint8_t *out, size_t cap)
{
	struct tpmif_shared_page *h = hdr(r);
	size_t off = TPMIF_HDR_SIZE + 4u * h->nr_extra_pages;
	uint32_t len = __atomic_load_n(&h->length, __ATOMIC_RELAXED);

	/* the backend is a peer too: its length is checked before use */
	if (off > r->map_size || len > r->map_size - off || len > cap) {
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(out, r->page + off, len);
	return (long)len;
}

enum tpmif_take tpmif_back_take(struct tpmif_ring *r, uint8_t *buf, size_t cap, size_t *len,
				uint8_t *locality)
{
	struct tpmif_shared_page *h = hdr(r);
	uint8_t s = tpmif_state(r);
	uint32_t n, off;
	uint8_t extra;

	switch (s) {
	case TPMIF_STATE_SUBMIT:
		break;
	case TPMIF_STATE_CANCEL:
		/* a cancel that arrives while nothing runs: acknowledge with IDLE */
		return r->last_written == TPMIF_STATE_FINISH || r->last_written == TPMIF_STATE_IDLE
			       ? TPMIF_TAKE_CANCEL : TPMIF_TAKE_NONE;
	default:
		if (s != r->last_written)
			return TPMIF_TAKE_VIOLATION;
		return TPMIF_TAKE_NONE;
	}
	/* each field read once, into private copies, then validated */
	n = __atomic_load_n(&h->length, __ATOMIC_RELAXED);
	extra = __atomic_load_n(&h->nr_extra_pages, __ATOMIC_RELAXED);
	*locality = __atomic_load_n(&h->locality, __ATOMIC_RELAXED);
	off = TPMIF_HDR_SIZE + 4u * extra;
	/* the error answer to a bad offset goes where a zero-extra frontend reads */
	r->req_off = off <= r->map_size - TPM_HDR_SIZE ? off : TPMIF_HDR_SIZE;
	if (off >= r->map_size || n > r->map_size - off || n > cap || n < TPM_HDR_SIZE) {
		*len = 0;
		return TPMIF_TAKE_BAD;
	}
	memcpy(buf, r->page + off, n);
	*len = n;
	if (tpm_packet_check(buf, n, cap) < 0)
		return TPMIF_TAKE_BAD;
	return TPMIF_TAKE_REQUEST;
}

int tpmif_back_finish(struct tpmif_ring *r, const uint8_t *rsp, size_t len)
{
	struct tpmif_shared_page *h = hdr(r);
	uint32_t off = r->req_off;

	if (off >= r->map_size || len > r->map_size - off) {
		/* cannot happen with a valid request; never write past the mapping */
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(r->page + off, rsp, len);
	__atomic_store_n(&h->length, (uint32_t)len, __ATOMIC_RELAXED);
	set_state(r, TPMIF_STATE_FINISH);
	return tpmif_notify(r);
}

int tpmif_back_idle(struct tpmif_ring *r)
{
	set_state(r, TPMIF_STATE_IDLE);
	return tpmif_notify(r);
}

bool tpmif_back_serve(struct tpmif_ring *r, uint8_t *buf, size_t cap, tpmif_handler *h, void *arg)
{
	size_t len = 0;
	uint8_t loc = 0;
	const uint8_t *rsp;
	uint32_t rlen;
	enum tpmif_take t = tpmif_back_take(r, buf, cap, &len, &loc);

	if (t == TPMIF_TAKE_NONE)
		return true;
	if (t == TPMIF_TAKE_CANCEL) {
		(void)tpmif_back_idle(r);
		return true;
	}
	if (t == TPMIF_TAKE_VIOLATION)
		return false;
	h(arg, t == TPMIF_TAKE_REQUEST ? buf : NULL, len, loc, t != TPMIF_TAKE_REQUEST, &rsp, &rlen);
	if (tpmif_back_finish(r, rsp, rlen) < 0 && errno == EMSGSIZE) {
		/* a one-page (4088-byte) frontend and a larger answer: fail in-band */
		h(arg, NULL, 0, loc, true, &rsp, &rlen);
		(void)tpmif_back_finish(r, rsp, rlen);
	}
	return true;
}
