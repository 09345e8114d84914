/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ev: the epoll(7) event loop of every process (vtpm, vtpmmgr). One loop per
 * process, single-threaded; it trusts its callers, not peers. Each watched fd
 * has one callback, an event mask and an optional deadline; a passed deadline
 * calls the callback with EV_TIMEOUT. Callbacks may add and remove watchers,
 * including others', while the loop runs: a watcher deleted during a round
 * gets no further callback in it, and one added gets none until the next.
 * POLLHUP/POLLERR are reported even with an event mask of 0, as with poll.
 */
#ifndef VTPM_EV_H
#define VTPM_EV_H

#include <poll.h>
#include <stdint.h>

#define EV_READ		POLLIN
#define EV_WRITE	POLLOUT
#define EV_TIMEOUT	0x4000
/* The fd-indexed table grows as fds are added; fds up to this are taken. */
#define EV_MAX_FDS	65536

struct ev_loop;
typedef void (*ev_cb)(struct ev_loop *loop, int fd, int revents, void *arg);

struct ev_loop *ev_new(void);
void ev_free(struct ev_loop *loop);
/* Returns 0, or -1 (errno EMFILE for fd >= EV_MAX_FDS, EPERM for a regular file).
 * Adding an fd that is already watched replaces its watcher. */
int ev_add(struct ev_loop *loop, int fd, int events, ev_cb cb, void *arg);
void ev_set_events(struct ev_loop *loop, int fd, int events);
/* ms < 0 clears the deadline; otherwise it fires ms from now. */
void ev_set_deadline(struct ev_loop *loop, int fd, int64_t ms);
void ev_del(struct ev_loop *loop, int fd);
int ev_count(const struct ev_loop *loop);
/* Runs until ev_stop; returns 0, or -1 if epoll_wait failed. */
int ev_run(struct ev_loop *loop);
void ev_stop(struct ev_loop *loop);
int64_t ev_now_ms(void);

#endif
