/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmfront: one backend connection, the frontend twin of lib/tpmback.c, and
 * the code of libtpmfront (include/tpmfront.h is its API). Runs in a host
 * client's process and in the vtpm, whose keeper reaches the manager's key
 * service as a frontend. The backend is a peer and its answers are
 * checked like any input: handshake messages by the xsmsg parser, the
 * response length against the ring and the caller's buffer.
 */
#include "tpmfront.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "sock.h"
#include "tpm.h"
#include "tpmif.h"
#include "xsmsg.h"

#define HANDSHAKE_TIMEOUT_MS	5000
/* One extra page: a full 4096-byte TPM 2.0 packet fits after the header. */
#define FRONT_EXTRA_PAGES	1u

struct tpmfront {
	int sock;
	struct tpmif_ring ring;
	uint8_t locality;
	int busy;	/* a command was submitted and not yet received */
};

static int expect_state(int sock, long want, int *fds, int *nfds, struct xsmsg *m)
{
	if (xsmsg_recv(sock, m, fds, nfds, HANDSHAKE_TIMEOUT_MS) < 0)
		return -1;
	if (xsmsg_get_uint(m, "state", XENBUS_STATE_CLOSED) != want) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		*nfds = 0;
		errno = EPROTO;
		return -1;
	}
	return 0;
}

struct tpmfront *tpmfront_open(const char *socket_path)
{
	int sock = sock_connect_unix(socket_path);

	return sock < 0 ? NULL : tpmfront_open_fd(sock);
}

struct tpmfront *tpmfront_open_fd(int sock)
{
	struct tpmfront *tf = calloc(1, sizeof(*tf));
	size_t size = TPMIF_PAGE_SIZE * (1 + FRONT_EXTRA_PAGES);
	int memfd = -1, evt[2] = { -1, -1 }, fds[XSMSG_MAX_FDS], nfds = 0, e;
	const char *v2;
	struct xsmsg m;

	if (!tf) {
		close(sock);
		return NULL;
	}
	tf->ring.evtchn = -1;
	tf->sock = sock;
	/* backend: InitWait, and it must speak protocol v2 */
	if (expect_state(tf->sock, XENBUS_STATE_INIT_WAIT, fds, &nfds, &m) < 0)
		goto fail;
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	v2 = xsmsg_get(&m, "feature-protocol-v2");
	if (!v2 || strcmp(v2, "1") != 0) {
		errno = EPROTONOSUPPORT;
		goto fail;
	}
	/* the grant: pages the backend can map but never resize */
	memfd = memfd_create("tpmif-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)size) < 0 ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto fail;
	tf->ring.page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (tf->ring.page == MAP_FAILED) {
		tf->ring.page = NULL;
		goto fail;
	}
	tf->ring.map_size = size;
	tpmif_front_init(&tf->ring, FRONT_EXTRA_PAGES);
	/* the event channel: a socketpair, one end each, notifications both ways */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, evt) < 0)
		goto fail;
	tf->ring.evtchn = evt[0];
	xsmsg_init(&m);
	if (xsmsg_set_uint(&m, "state", XENBUS_STATE_INITIALISED) < 0 ||
	    xsmsg_set(&m, "ring-ref", "0") < 0 || xsmsg_set(&m, "event-channel", "1") < 0 ||
	    xsmsg_set(&m, "feature-protocol-v2", "1") < 0)
		goto fail;
	int give[2] = { memfd, evt[1] };
	if (xsmsg_send(tf->sock, &m, give, 2) < 0)
		goto fail;
	close(memfd);
	close(evt[1]);
	memfd = evt[1] = -1;
	/* backend: Connected, with its event channel */
	if (expect_state(tf->sock, XENBUS_STATE_CONNECTED, fds, &nfds, &m) < 0)
		goto fail;
	for (int i = 0; i < nfds; i++)
		close(fds[i]);	/* Connected carries no descriptor */
	xsmsg_init(&m);
	if (xsmsg_set_uint(&m, "state", XENBUS_STATE_CONNECTED) < 0 ||
	    xsmsg_send(tf->sock, &m, NULL, 0) < 0)
		goto fail;
	return tf;
fail:
	e = errno;
	if (memfd >= 0)
		close(memfd);
	if (evt[1] >= 0)
		close(evt[1]);
	tpmfront_close(tf);
	errno = e;
	return NULL;
}

void tpmfront_close(struct tpmfront *tf)
{
	struct xsmsg m;

	if (!tf)
		return;
	if (tf->sock >= 0 && tf->ring.evtchn >= 0) {
		/* orderly goodbye, as a Linux frontend walks Closing then Closed */
		xsmsg_init(&m);
		if (xsmsg_set_uint(&m, "state", XENBUS_STATE_CLOSED) == 0)
			(void)xsmsg_send(tf->sock, &m, NULL, 0);
	}
	if (tf->ring.page)
		munmap(tf->ring.page, tf->ring.map_size);
	if (tf->ring.evtchn >= 0)
		close(tf->ring.evtchn);
	if (tf->sock >= 0)
		close(tf->sock);
	free(tf);
}

int tpmfront_set_locality(struct tpmfront *tf, uint8_t locality)
{
	if (locality > 4) {
		errno = EINVAL;
		return -1;
	}
	tf->locality = locality;
	return 0;
}

int tpmfront_send(struct tpmfront *tf, const uint8_t *cmd, size_t len)
{
	if (tpm_packet_check(cmd, len, TPM_PACKET_MAX) < 0)
		return -1;	/* EINVAL */
	if (tf->busy) {
		errno = EBUSY;
		return -1;
	}
	if (tpmif_front_submit(&tf->ring, cmd, len, tf->locality) < 0)
		return -1;
	tf->busy = 1;
	return 0;
}

int tpmfront_recv(struct tpmfront *tf, uint8_t *rsp, size_t cap, size_t *len, int timeout_ms)
{
	int s;
	long n;

	if (!tf->busy) {
		errno = EALREADY;
		return -1;
	}
	s = tpmif_front_wait(&tf->ring, timeout_ms);
	if (s < 0)
		return -1;	/* ETIMEDOUT keeps the command in flight */
	tf->busy = 0;
	if (s == TPMIF_STATE_IDLE) {
		errno = ECANCELED;
		return -1;
	}
	n = tpmif_front_read(&tf->ring, rsp, cap);
	if (n < 0)
		return -1;
	if (tpm_packet_check(rsp, (size_t)n, cap) < 0) {
		errno = EPROTO;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

int tpmfront_cancel(struct tpmfront *tf)
{
	return tpmif_front_cancel(&tf->ring);
}

int tpmfront_transmit(struct tpmfront *tf, const uint8_t *cmd, size_t len,
		      uint8_t *rsp, size_t cap, size_t *rsp_len)
{
	if (tpmfront_send(tf, cmd, len) < 0)
		return -1;
	return tpmfront_recv(tf, rsp, cap, rsp_len, -1);
}

int tpmfront_fd(const struct tpmfront *tf)
{
	return tf->ring.evtchn;
}

int tpmfront_socket(const struct tpmfront *tf)
{
	return tf->sock;
}
