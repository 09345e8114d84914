/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmback: one frontend connection. Handshake, as Mini-OS tpmback walks it:
 *
 *   backend  -> state=2 (InitWait), feature-protocol-v2=1
 *   frontend -> state=3 (Initialised), ring-ref=0, event-channel=1,
 *               feature-protocol-v2=1, with fds [memfd, socket]
 *   backend  -> state=4 (Connected), ready=1
 *   frontend -> state=5 (Closing) / 6 (Closed): unmapped, back to InitWait,
 *               so a rebooted or kexec'd frontend is served again.
 *
 * ring-ref and event-channel name the index of the passed fd that stands
 * for the grant and the event channel (one end of a socketpair, used in
 * both directions as a Xen event channel is).
 * The memfd must be sealed against shrinking and growing (a shrink under
 * our mapping would fault us) and sized between one and
 * 1 + TPMIF_MAX_EXTRA_PAGES pages; the event channel must be a connected
 * AF_UNIX stream socket.
 */
#include "tpmback.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbuf.h"
#include "log.h"
#include "sock.h"
#include "tpm.h"
#include "tpmif.h"
#include "xsmsg.h"

struct tpmback {
	struct ev_loop *loop;
	const struct tpmback_ops *ops;
	void *arg;
	int sock;
	struct dbuf in;
	int fds[XSMSG_MAX_FDS];
	int nfds;
	bool mapped;
	struct tpmif_ring ring;
	/* private copy of the request: nothing is parsed in shared memory */
	uint8_t req[TPM_PACKET_MAX];
};

static void close_fds(struct tpmback *tb)
{
	for (int i = 0; i < tb->nfds; i++)
		if (tb->fds[i] >= 0)
			close(tb->fds[i]);
	tb->nfds = 0;
}

static void unmap(struct tpmback *tb)
{
	if (!tb->mapped)
		return;
	ev_del(tb->loop, tb->ring.evtchn);
	munmap(tb->ring.page, tb->ring.map_size);
	close(tb->ring.evtchn);
	tb->mapped = false;
}

void tpmback_free(struct tpmback *tb)
{
	if (!tb)
		return;
	unmap(tb);
	close_fds(tb);
	ev_del(tb->loop, tb->sock);
	close(tb->sock);
	dbuf_free(&tb->in);
	free(tb);
}

bool tpmback_connected(const struct tpmback *tb)
{
	return tb->mapped;
}

static void drop(struct tpmback *tb)
{
	if (tb->ops->closed)
		tb->ops->closed(tb->arg, tb);
	tpmback_free(tb);
}

static int send_state(struct tpmback *tb, int state, const int *fds, int nfds)
{
	struct xsmsg m;

	xsmsg_init(&m);
	if (xsmsg_set_uint(&m, "state", (unsigned)state) < 0)
		return -1;
	if (state == XENBUS_STATE_INIT_WAIT && xsmsg_set(&m, "feature-protocol-v2", "1") < 0)
		return -1;
	if (state == XENBUS_STATE_CONNECTED && xsmsg_set(&m, "ready", "1") < 0)
		return -1;
	return xsmsg_send(tb->sock, &m, fds, nfds);
}

/* Checks the grant; returns its size or -1 with the reason logged. */
static long check_grant(int memfd)
{
	struct stat st;
	int seals = fcntl(memfd, F_GET_SEALS);

	if (seals < 0) {
		log_warn("tpmif: the grant is not a memfd");
		return -1;
	}
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
		log_warn("tpmif: the grant is resizable (seals 0x%x)", seals);
		return -1;
	}
	if (fstat(memfd, &st) < 0 || st.st_size < (off_t)TPMIF_PAGE_SIZE ||
	    st.st_size > (off_t)(TPMIF_PAGE_SIZE * (1 + TPMIF_MAX_EXTRA_PAGES)) ||
	    st.st_size % TPMIF_PAGE_SIZE) {
		log_warn("tpmif: the grant has a bad size");
		return -1;
	}
	return (long)st.st_size;
}

static void ring_event(struct ev_loop *loop, int fd, int rev, void *arg);

static int connect_ring(struct tpmback *tb, const struct xsmsg *m)
{
	long ring_ref = xsmsg_get_uint(m, "ring-ref", XSMSG_MAX_FDS - 1);
	long evtchn = xsmsg_get_uint(m, "event-channel", XSMSG_MAX_FDS - 1);
	const char *v2 = xsmsg_get(m, "feature-protocol-v2");
	int memfd, efd;
	long size;
	void *p;

	if (!v2 || strcmp(v2, "1") != 0) {
		log_warn("tpmif: frontend lacks feature-protocol-v2=1");
		return -1;
	}
	if (ring_ref < 0 || evtchn < 0 || ring_ref == evtchn || tb->nfds != 2) {
		log_warn("tpmif: frontend sent no usable ring-ref/event-channel");
		return -1;
	}
	memfd = tb->fds[ring_ref];
	efd = tb->fds[evtchn];
	size = check_grant(memfd);
	if (size < 0)
		return -1;
	if (tpmif_take_evtchn(efd) < 0) {
		log_warn("tpmif: the event channel is not a Unix stream socket");
		return -1;
	}
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED) {
		log_warn("tpmif: cannot map the grant: %s", strerror(errno));
		return -1;
	}
	tb->ring = (struct tpmif_ring){ .page = p, .map_size = (size_t)size, .evtchn = efd,
					.last_written = TPMIF_STATE_IDLE };
	/* the mapping keeps the pages; the ring owns the event channel from here */
	close(memfd);
	tb->nfds = 0;
	tb->mapped = true;
	if (ev_add(tb->loop, efd, EV_READ, ring_event, tb) < 0 ||
	    send_state(tb, XENBUS_STATE_CONNECTED, NULL, 0) < 0) {
		unmap(tb);
		return -1;
	}
	log_info("tpmif: frontend connected (%ld pages)", size / (long)TPMIF_PAGE_SIZE);
	return 0;
}

/* Handles one handshake message; -1 ends the connection. */
static int handle_msg(struct tpmback *tb, const struct xsmsg *m)
{
	switch (xsmsg_get_uint(m, "state", XENBUS_STATE_CLOSED)) {
	case XENBUS_STATE_INITIALISED:
	case XENBUS_STATE_CONNECTED:
		if (tb->mapped)
			return 0;	/* Connected after Initialised: nothing to do */
		return connect_ring(tb, m);
	case XENBUS_STATE_CLOSING:
		return send_state(tb, XENBUS_STATE_CLOSING, NULL, 0);
	case XENBUS_STATE_CLOSED:
	case XENBUS_STATE_INITIALISING:
		/* the frontend went away or restarts: unmap and wait for it again */
		unmap(tb);
		close_fds(tb);
		return send_state(tb, XENBUS_STATE_INIT_WAIT, NULL, 0);
	default:
		log_warn("tpmif: handshake message without a valid state");
		return -1;
	}
}

static void sock_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct tpmback *tb = arg;
	size_t room = 2 + XSMSG_MAX - tb->in.len, total;
	uint8_t *dst;
	ssize_t r;
	int f;

	(void)loop;
	(void)rev;
	dst = dbuf_reserve(&tb->in, room);
	if (!dst)
		goto drop;
	r = sock_recv_fds(fd, dst, room, tb->fds, &tb->nfds, XSMSG_MAX_FDS);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
		goto drop;
	if (r > 0)
		tb->in.len += (size_t)r;
	while ((f = xsmsg_frame(tb->in.p, tb->in.len, &total)) == 1) {
		struct xsmsg m;

		if (xsmsg_parse(tb->in.p + 2, total - 2, &m) < 0 || handle_msg(tb, &m) < 0)
			goto drop;
		dbuf_consume(&tb->in, total);
		close_fds(tb);	/* fds belong to the message that carried them */
	}
	if (f < 0)
		goto drop;
	if (tb->nfds > 0) {
		/*
		 * fds with a message that is not complete. A frontend sends each
		 * message and its fds in one sendmsg, which one recv returns whole
		 * (the kernel never joins data carrying fds to other data). Held
		 * until the rest came, they could include the frontend's own end of
		 * this connection, and we would never read EOF on it.
		 */
		log_warn("tpmif: descriptors with an incomplete handshake message");
		goto drop;
	}
	return;
drop:
	log_info("tpmif: frontend connection closed");
	drop(tb);
}

/* Answers the request on the page, or the cancel; false on a protocol violation. */
static bool serve_once(struct tpmback *tb)
{
	if (tpmif_back_serve(&tb->ring, tb->req, sizeof(tb->req), tb->ops->handle, tb->arg))
		return true;
	log_warn("tpmif: frontend wrote a backend-only state; disconnecting it");
	return false;
}

static void ring_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct tpmback *tb = arg;

	(void)loop;
	(void)fd;
	if ((rev & (POLLHUP | POLLERR | POLLNVAL)) || tpmif_drain(&tb->ring) < 0) {
		/*
		 * the frontend closed or shut down its end of the event channel:
		 * nothing can wake us for this ring again, and the end would poll
		 * readable for ever. Unmap it; the frontend may start over (Closed,
		 * then a new offer) on the same connection.
		 */
		log_info("tpmif: the frontend's event channel is closed; ring unmapped");
		unmap(tb);
		return;
	}
	for (int n = 0; n < TPMBACK_BURST; n++) {
		if (!serve_once(tb)) {
			drop(tb);
			return;
		}
		/* a hot loop of small commands: catch the next SUBMIT without a wake-up */
		if (!tpmif_spin_while(&tb->ring, tb->ring.last_written, TPMBACK_SPIN_NS))
			return;
	}
	/* fairness: other clients get a turn; a zero deadline brings us back */
	ev_set_deadline(tb->loop, tb->ring.evtchn, 0);
}

struct tpmback *tpmback_new(struct ev_loop *loop, int sock, const struct tpmback_ops *ops,
			    void *arg)
{
	struct tpmback *tb = calloc(1, sizeof(*tb));

	if (!tb) {
		close(sock);
		return NULL;
	}
	tb->loop = loop;
	tb->ops = ops;
	tb->arg = arg;
	tb->sock = sock;
	dbuf_init(&tb->in, 2 + XSMSG_MAX);
	if (sock_set_nonblock(sock) < 0 || ev_add(loop, sock, EV_READ, sock_event, tb) < 0) {
		close(sock);
		free(tb);
		return NULL;
	}
	if (send_state(tb, XENBUS_STATE_INIT_WAIT, NULL, 0) < 0) {
		tpmback_free(tb);
		return NULL;
	}
	return tb;
}
