/*
 * ev: a small poll(2) event loop. One loop per process, single-threaded.
 * Each watched fd has one callback, an event mask and an optional deadline;
 * a passed deadline calls the callback with EV_TIMEOUT. Callbacks may add and
 * remove watchers, including their own, while the loop runs.
 */
#ifndef VTPM_EV_H
#define VTPM_EV_H

#include <poll.h>
#include <stdint.h>

#define EV_READ		POLLIN
#define EV_WRITE	POLLOUT
#define EV_TIMEOUT	0x4000
/* The table grows as watchers are added, up to this many. */
#define EV_MAX_FDS	65536

struct ev_loop;
typedef void (*ev_cb)(struct ev_loop *loop, int fd, int revents, void *arg);

struct ev_loop *ev_new(void);
void ev_free(struct ev_loop *loop);
/* Returns 0, or -1 with errno EMFILE when EV_MAX_FDS watchers exist. */
int ev_add(struct ev_loop *loop, int fd, int events, ev_cb cb, void *arg);
void ev_set_events(struct ev_loop *loop, int fd, int events);
/* ms < 0 clears the deadline; otherwise it fires ms from now. */
void ev_set_deadline(struct ev_loop *loop, int fd, int64_t ms);
void ev_del(struct ev_loop *loop, int fd);
int ev_count(const struct ev_loop *loop);
/* Runs until ev_stop; returns 0, or -1 if poll failed. */
int ev_run(struct ev_loop *loop);
void ev_stop(struct ev_loop *loop);
int64_t ev_now_ms(void);

#endif
