/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * acceptor: a listening socket served by an ev loop, with two guards, used
 * by every listener of vtpm (data, control, mssim, tpmif) and vtpmmgr (the
 * control socket). Its peers are whoever may connect; it trusts its caller.
 *
 * Out of descriptors, accept4 fails (EMFILE, ENFILE, also ENOBUFS, ENOMEM)
 * and the connection stays queued, so the listener stays readable and a
 * level-triggered loop would be woken again at once, forever. The listener
 * is unwatched instead until one of its connections closes or
 * ACCEPTOR_BACKOFF_MS pass. And a cap: with `max` connections open, a new
 * one is accepted and closed at once (its client reads EOF), and the first
 * such refusal each time the cap is reached is logged.
 */
#ifndef VTPM_ACCEPTOR_H
#define VTPM_ACCEPTOR_H

#include <stdbool.h>

#include "ev.h"

#define ACCEPTOR_BACKOFF_MS	500
#define ACCEPTOR_BATCH		16	/* accepts per wakeup: others wait their turn */
#define ACCEPTOR_MAX_LIMIT	65536	/* largest cap a setting may ask for */

/*
 * Takes a new connection fd, counted from this call on: 0 when the callee
 * owns fd (and calls acceptor_closed when it ends, even at once, having
 * closed fd itself), or -1: not taken, the acceptor closes fd.
 */
typedef int (*acceptor_cb)(void *arg, int fd);

struct acceptor {
	struct ev_loop *loop;
	int fd;			/* the listener; the caller's to close */
	unsigned max;		/* open connections allowed; 0: no cap */
	unsigned open;		/* handed out and not yet reported closed */
	bool paused;		/* out of descriptors: not watched for now */
	bool at_cap;		/* the cap was reached and logged */
	const char *what;	/* names the listener in the log */
	acceptor_cb cb;
	void *arg;
};

/* Watches fd (non-blocking, listening) in loop. 0, or -1 (errno). */
int acceptor_start(struct acceptor *a, struct ev_loop *loop, int fd, unsigned max, const char *what,
		   acceptor_cb cb, void *arg);
/* A connection it handed out has closed: room for another, and descriptors. */
void acceptor_closed(struct acceptor *a);
/* Stops watching; fd stays open. Safe to call twice. */
void acceptor_stop(struct acceptor *a);

#endif
