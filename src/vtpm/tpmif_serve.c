/*
 * tpmif_serve: the backend half in the vtpm process. Handshake per
 * frontend connection, as Mini-OS tpmback walks it:
 *
 *   backend  -> state=2 (InitWait), feature-protocol-v2=1
 *   frontend -> state=3 (Initialised), ring-ref=0, event-channel=1,
 *               feature-protocol-v2=1, with fds [memfd, eventfd]
 *   backend  -> state=4 (Connected), ready=1, with fd [eventfd]
 *   frontend -> state=5 (Closing) / 6 (Closed): unmapped, back to InitWait,
 *               so a rebooted or kexec'd frontend is served again.
 *
 * ring-ref and event-channel name the index of the passed fd that stands
 * for the grant and the event channel. The memfd must be sealed against
 * shrinking and growing (a shrink under our mapping would fault us), sized
 * between one and 1 + TPMIF_MAX_EXTRA_PAGES pages; the event channel must
 * be an eventfd. Anything else ends that frontend's connection.
 */
#include "tpmif_serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "dbuf.h"
#include "engine.h"
#include "log.h"
#include "sock.h"
#include "tpm.h"
#include "tpmif.h"
#include "xsmsg.h"

struct session {
	struct tpmif_server *ts;
	struct session *prev, *next;
	int sock;
	struct dbuf in;
	int fds[XSMSG_MAX_FDS];
	int nfds;
	bool mapped;
	struct tpmif_ring ring;
};

struct tpmif_server {
	struct ev_loop *loop;
	int lfd;
	char *path;
	bool reject_locality_4;
	struct session *sessions;
	/* one private copy buffer: the process is single-threaded */
	uint8_t req[TPMIF_PAGE_SIZE * (1 + TPMIF_MAX_EXTRA_PAGES)];
};

static void close_fds(struct session *s)
{
	for (int i = 0; i < s->nfds; i++)
		close(s->fds[i]);
	s->nfds = 0;
}

static void unmap(struct session *s)
{
	if (!s->mapped)
		return;
	ev_del(s->ts->loop, s->ring.wait_fd);
	munmap(s->ring.page, s->ring.map_size);
	close(s->ring.wait_fd);
	close(s->ring.notify_fd);
	s->mapped = false;
}

static void session_free(struct session *s)
{
	struct tpmif_server *ts = s->ts;

	unmap(s);
	close_fds(s);
	ev_del(ts->loop, s->sock);
	close(s->sock);
	dbuf_free(&s->in);
	if (s->prev)
		s->prev->next = s->next;
	else
		ts->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

static int send_state(struct session *s, int state, const int *fds, int nfds)
{
	struct xsmsg m;

	xsmsg_init(&m);
	if (xsmsg_set_uint(&m, "state", (unsigned)state) < 0)
		return -1;
	if (state == XENBUS_STATE_INIT_WAIT && xsmsg_set(&m, "feature-protocol-v2", "1") < 0)
		return -1;
	if (state == XENBUS_STATE_CONNECTED && xsmsg_set(&m, "ready", "1") < 0)
		return -1;
	return xsmsg_send(s->sock, &m, fds, nfds);
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

static int connect_ring(struct session *s, const struct xsmsg *m)
{
	long ring_ref = xsmsg_get_uint(m, "ring-ref", XSMSG_MAX_FDS - 1);
	long evtchn = xsmsg_get_uint(m, "event-channel", XSMSG_MAX_FDS - 1);
	const char *v2 = xsmsg_get(m, "feature-protocol-v2");
	int memfd, efd, ours;
	long size;
	void *p;

	if (!v2 || strcmp(v2, "1") != 0) {
		log_warn("tpmif: frontend lacks feature-protocol-v2=1");
		return -1;
	}
	if (ring_ref < 0 || evtchn < 0 || ring_ref == evtchn || s->nfds != 2) {
		log_warn("tpmif: frontend sent no usable ring-ref/event-channel");
		return -1;
	}
	memfd = s->fds[ring_ref];
	efd = s->fds[evtchn];
	size = check_grant(memfd);
	if (size < 0)
		return -1;
	if (tpmif_take_eventfd(efd) < 0) {
		log_warn("tpmif: the event channel is not an eventfd");
		return -1;
	}
	p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (p == MAP_FAILED) {
		log_warn("tpmif: cannot map the grant: %s", strerror(errno));
		return -1;
	}
	ours = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ours < 0) {
		munmap(p, (size_t)size);
		return -1;
	}
	s->ring = (struct tpmif_ring){ .page = p, .map_size = (size_t)size, .notify_fd = ours,
				       .wait_fd = efd, .last_written = TPMIF_STATE_IDLE };
	/* the mapping keeps the pages; the grant fd itself is no longer needed */
	close(memfd);
	s->fds[ring_ref] = -1;
	s->nfds = 0;
	s->mapped = true;
	if (ev_add(s->ts->loop, efd, EV_READ, ring_event, s) < 0 ||
	    send_state(s, XENBUS_STATE_CONNECTED, &ours, 1) < 0) {
		s->fds[0] = s->fds[1] = -1;
		unmap(s);
		return -1;
	}
	log_info("tpmif: frontend connected (%ld pages)", size / (long)TPMIF_PAGE_SIZE);
	return 0;
}

/* Handles one handshake message; -1 ends the connection. */
static int handle_msg(struct session *s, const struct xsmsg *m)
{
	long state = xsmsg_get_uint(m, "state", XENBUS_STATE_CLOSED);

	switch (state) {
	case XENBUS_STATE_INITIALISED:
	case XENBUS_STATE_CONNECTED:
		if (s->mapped)
			return 0;	/* Connected after Initialised: nothing to do */
		return connect_ring(s, m);
	case XENBUS_STATE_CLOSING:
		return send_state(s, XENBUS_STATE_CLOSING, NULL, 0);
	case XENBUS_STATE_CLOSED:
	case XENBUS_STATE_INITIALISING:
		/* the frontend went away or restarts: unmap and wait for it again */
		unmap(s);
		close_fds(s);
		return send_state(s, XENBUS_STATE_INIT_WAIT, NULL, 0);
	default:
		log_warn("tpmif: handshake message without a valid state");
		return -1;
	}
}

static void sock_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct session *s = arg;
	uint8_t *dst;
	ssize_t r;
	size_t total;
	int f;

	(void)loop;
	(void)rev;
	dst = dbuf_reserve(&s->in, 2 + XSMSG_MAX - s->in.len);
	if (!dst)
		goto drop;
	r = sock_recv_fds(fd, dst, 2 + XSMSG_MAX - s->in.len, s->fds, &s->nfds, XSMSG_MAX_FDS);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
		goto drop;
	if (r > 0)
		s->in.len += (size_t)r;
	while ((f = xsmsg_frame(s->in.p, s->in.len, &total)) == 1) {
		struct xsmsg m;

		if (xsmsg_parse(s->in.p + 2, total - 2, &m) < 0 || handle_msg(s, &m) < 0)
			goto drop;
		dbuf_consume(&s->in, total);
		close_fds(s);	/* fds belong to the message that carried them */
	}
	if (f < 0)
		goto drop;
	return;
drop:
	log_info("tpmif: frontend connection closed");
	session_free(s);
}

/* Answers the request on the page, or the cancel; false on a protocol violation. */
static bool serve_once(struct session *s)
{
	struct tpmif_server *ts = s->ts;
	size_t len = 0;
	uint8_t loc = 0, err[TPM_HDR_SIZE], saved;
	const uint8_t *rsp;
	uint32_t rlen;

	switch (tpmif_back_take(&s->ring, ts->req, TPM_PACKET_MAX, &len, &loc)) {
	case TPMIF_TAKE_NONE:
		return true;
	case TPMIF_TAKE_CANCEL:
		(void)tpmif_back_idle(&s->ring);
		return true;
	case TPMIF_TAKE_VIOLATION:
		log_warn("tpmif: frontend wrote a backend-only state; disconnecting it");
		return false;
	case TPMIF_TAKE_BAD:
		rlen = (uint32_t)tpm_error_response(err, engine_is_tpm2(), TPM20_RC_COMMAND_SIZE);
		rsp = err;
		break;
	case TPMIF_TAKE_REQUEST:
	default:
		if (loc > 4 || (loc == 4 && ts->reject_locality_4)) {
			rlen = (uint32_t)tpm_error_response(err, engine_is_tpm2(), TPM20_RC_LOCALITY);
			rsp = err;
			break;
		}
		saved = engine_locality();
		engine_set_locality(loc);
		engine_process(ts->req, (uint32_t)len, &rsp, &rlen);
		engine_set_locality(saved);
		break;
	}
	if (tpmif_back_finish(&s->ring, rsp, rlen) < 0) {
		/* a one-page (4088-byte) frontend and a larger answer: say so in-band */
		rlen = (uint32_t)tpm_error_response(err, engine_is_tpm2(), TPM20_RC_FAILURE);
		(void)tpmif_back_finish(&s->ring, err, rlen);
	}
	return true;
}

static void ring_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct session *s = arg;

	(void)loop;
	(void)fd;
	(void)rev;
	tpmif_drain(&s->ring);
	for (int n = 0; n < TPMIF_BACK_BURST; n++) {
		if (!serve_once(s)) {
			session_free(s);
			return;
		}
		/* a hot loop of small commands: catch the next SUBMIT without a wake-up */
		if (!tpmif_spin_while(&s->ring, s->ring.last_written, TPMIF_BACK_SPIN_NS))
			return;
	}
	/* fairness: other clients get a turn; the self-notify brings us back */
	uint64_t one = 1;
	(void)!write(s->ring.wait_fd, &one, sizeof(one));
}

static void accept_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct tpmif_server *ts = arg;
	struct session *s;
	int cfd = sock_accept(fd);

	(void)loop;
	(void)rev;
	if (cfd < 0)
		return;
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(cfd);
		return;
	}
	s->ts = ts;
	s->sock = cfd;
	dbuf_init(&s->in, 2 + XSMSG_MAX);
	if (ev_add(ts->loop, cfd, EV_READ, sock_event, s) < 0) {
		close(cfd);
		free(s);
		return;
	}
	s->next = ts->sessions;
	if (ts->sessions)
		ts->sessions->prev = s;
	ts->sessions = s;
	if (send_state(s, XENBUS_STATE_INIT_WAIT, NULL, 0) < 0)
		session_free(s);
}

struct tpmif_server *tpmif_server_new(struct ev_loop *loop, const char *path, int mode,
				      bool reject_locality_4)
{
	struct tpmif_server *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return NULL;
	ts->loop = loop;
	ts->reject_locality_4 = reject_locality_4;
	ts->path = strdup(path);
	ts->lfd = sock_listen_unix(path, mode >= 0 ? mode : 0770);
	if (!ts->path || ts->lfd < 0 || ev_add(loop, ts->lfd, EV_READ, accept_event, ts) < 0) {
		log_err("cannot listen for tpmif frontends on %s: %s", path, strerror(errno));
		tpmif_server_free(ts);
		return NULL;
	}
	return ts;
}

void tpmif_server_free(struct tpmif_server *ts)
{
	if (!ts)
		return;
	while (ts->sessions)
		session_free(ts->sessions);
	if (ts->lfd >= 0) {
		ev_del(ts->loop, ts->lfd);
		close(ts->lfd);
		(void)unlink(ts->path);
	}
	free(ts->path);
	free(ts);
}
