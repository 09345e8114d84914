/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * acceptor: the accept loop of every listener (see acceptor.h). A wakeup
 * takes up to ACCEPTOR_BATCH connections; a failure that says "no
 * descriptors" pauses the listener, any other unexpected failure too (it
 * would repeat as fast), each logged through log's repeat limit.
 */
#include "acceptor.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

static void resume(struct acceptor *a)
{
	if (!a->paused || a->fd < 0)
		return;
	a->paused = false;
	ev_set_deadline(a->loop, a->fd, -1);
	ev_set_events(a->loop, a->fd, EV_READ);
}

static void pause_for(struct acceptor *a, int e)
{
	log_warn("%s listener: cannot accept (%s); paused for %d ms or until a connection closes",
		 a->what, strerror(e), ACCEPTOR_BACKOFF_MS);
	a->paused = true;
	ev_set_events(a->loop, a->fd, 0);
	ev_set_deadline(a->loop, a->fd, ACCEPTOR_BACKOFF_MS);
}

/* Over the cap: the client learns by EOF; the log learns once per time the cap is hit. */
static void refuse(struct acceptor *a, int cfd)
{
	close(cfd);
	if (a->at_cap)
		return;
	a->at_cap = true;
	log_warn("%s listener: %u connections open, the most allowed; closing new ones until one closes",
		 a->what, a->open);
}

static void accept_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct acceptor *a = arg;

	(void)loop;
	if (rev & EV_TIMEOUT) {
		resume(a);
		return;
	}
	for (int k = 0; k < ACCEPTOR_BATCH && !a->paused; k++) {
		int cfd = sock_accept(fd);

		if (cfd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
				pause_for(a, errno);
			continue;
		}
		if (a->max && a->open >= a->max) {
			refuse(a, cfd);
			continue;
		}
		a->open++;
		if (a->cb(a->arg, cfd) < 0) {
			a->open--;
			close(cfd);
		}
	}
}

int acceptor_start(struct acceptor *a, struct ev_loop *loop, int fd, unsigned max, const char *what,
		   acceptor_cb cb, void *arg)
{
	*a = (struct acceptor){ .loop = loop, .fd = fd, .max = max, .what = what, .cb = cb, .arg = arg };
	if (ev_add(loop, fd, EV_READ, accept_event, a) < 0) {
		a->fd = -1;
		return -1;
	}
	return 0;
}

void acceptor_closed(struct acceptor *a)
{
	if (a->open > 0)
		a->open--;
	if (a->max == 0 || a->open < a->max)
		a->at_cap = false;
	resume(a);
}

void acceptor_stop(struct acceptor *a)
{
	if (a->fd < 0)
		return;
	ev_del(a->loop, a->fd);
	a->fd = -1;
	a->paused = false;
}
