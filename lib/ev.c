/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ev: the event loop of every process (vtpm, vtpmmgr), on epoll(7). It trusts
 * its callers (fds and callbacks come from this process), never peer bytes.
 * Watchers live in an array indexed by fd, grown as fds appear, so finding
 * one is O(1); deadlines sit in a binary min-heap, so a wakeup costs
 * O(ready + expired * log n), not O(watchers). Each registration carries a
 * generation in its epoll data: an event queued for a watcher that a callback
 * deleted (or deleted and re-added on the same fd number) during the same
 * round is dropped, so a callback may close any connection, not only its own.
 */
#include "ev.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* Events taken from one epoll_wait; the rest stay queued (level-triggered). */
#define EV_BATCH	256

struct watcher {
	int events;
	int64_t deadline;	/* absolute ms, or -1 */
	int hidx;		/* index in the deadline heap, or -1 */
	ev_cb cb;
	void *arg;
	bool live;
	uint32_t gen;		/* detects a slot reused during dispatch */
	uint64_t round;		/* last round this watcher had I/O */
};

struct ev_loop {
	int epfd;
	struct watcher *w;	/* indexed by fd */
	int *heap;		/* fds ordered by deadline */
	uint64_t *expired;	/* scratch: (gen << 32 | fd) popped this round */
	int cap;		/* entries in w, heap and expired */
	int nheap;
	int count;
	bool stop;
	uint32_t gen;
	uint64_t round;
};

int64_t ev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ev_free(struct ev_loop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	free(loop->w);
	free(loop->heap);
	free(loop->expired);
	free(loop);
}

/* Grows every array until fd fits; indices, not pointers, are kept. */
static int grow(struct ev_loop *loop, int fd)
{
	int cap = loop->cap ? loop->cap : 64;
	void *w, *heap, *expired;

	if (fd < 0 || fd >= EV_MAX_FDS) {
		errno = fd < 0 ? EBADF : EMFILE;
		return -1;
	}
	while (cap <= fd)
		cap *= 2;
	if (cap > EV_MAX_FDS)
		cap = EV_MAX_FDS;
	w = realloc(loop->w, (size_t)cap * sizeof(*loop->w));
	if (w)
		loop->w = w;
	heap = realloc(loop->heap, (size_t)cap * sizeof(*loop->heap));
	if (heap)
		loop->heap = heap;
	expired = realloc(loop->expired, (size_t)cap * sizeof(*loop->expired));
	if (expired)
		loop->expired = expired;
	if (!w || !heap || !expired)
		return -1;
	memset(&loop->w[loop->cap], 0, (size_t)(cap - loop->cap) * sizeof(*loop->w));
	for (int i = loop->cap; i < cap; i++)
		loop->w[i].hidx = -1;
	loop->cap = cap;
	return 0;
}

struct ev_loop *ev_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(struct ev_loop));

	if (!loop)
		return NULL;
	/* CLOEXEC: a forked and exec'd child must not share the interest list */
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0 || grow(loop, 0) < 0) {
		ev_free(loop);
		return NULL;
	}
	return loop;
}

static struct watcher *find(struct ev_loop *loop, int fd)
{
	if (fd < 0 || fd >= loop->cap || !loop->w[fd].live)
		return NULL;
	return &loop->w[fd];
}

static int64_t deadline_at(const struct ev_loop *loop, int i)
{
	return loop->w[loop->heap[i]].deadline;
}

static void heap_put(struct ev_loop *loop, int i, int fd)
{
	loop->heap[i] = fd;
	loop->w[fd].hidx = i;
}

/* Moves entry i up or down until the heap order holds again. */
static void heap_fix(struct ev_loop *loop, int i)
{
	int fd = loop->heap[i];
	int64_t d = loop->w[fd].deadline;

	while (i > 0 && deadline_at(loop, (i - 1) / 2) > d) {
		heap_put(loop, i, loop->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		int c = 2 * i + 1;

		if (c >= loop->nheap)
			break;
		if (c + 1 < loop->nheap && deadline_at(loop, c + 1) < deadline_at(loop, c))
			c++;
		if (deadline_at(loop, c) >= d)
			break;
		heap_put(loop, i, loop->heap[c]);
		i = c;
	}
	heap_put(loop, i, fd);
}

static void heap_remove(struct ev_loop *loop, int fd)
{
	int i = loop->w[fd].hidx;

	if (i < 0)
		return;
	loop->w[fd].hidx = -1;
	if (--loop->nheap == i)
		return;
	heap_put(loop, i, loop->heap[loop->nheap]);
	heap_fix(loop, i);
}

static void heap_insert(struct ev_loop *loop, int fd)
{
	if (loop->w[fd].hidx >= 0) {
		heap_fix(loop, loop->w[fd].hidx);
		return;
	}
	heap_put(loop, loop->nheap++, fd);
	heap_fix(loop, loop->nheap - 1);
}

static int ctl(struct ev_loop *loop, int op, int fd)
{
	struct epoll_event e = { .events = (uint32_t)loop->w[fd].events,
				 .data.u64 = (uint64_t)loop->w[fd].gen << 32 | (uint32_t)fd };

	return epoll_ctl(loop->epfd, op, fd, &e);
}

int ev_add(struct ev_loop *loop, int fd, int events, ev_cb cb, void *arg)
{
	struct watcher *w;
	bool was_live;

	if (fd >= loop->cap && grow(loop, fd) < 0)
		return -1;
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	w = &loop->w[fd];
	was_live = w->live;
	heap_remove(loop, fd);
	*w = (struct watcher){ .events = events, .deadline = -1, .hidx = -1, .cb = cb,
			       .arg = arg, .live = true, .gen = ++loop->gen };
	/* EEXIST: the fd is still registered (replaced without ev_del) */
	if (ctl(loop, EPOLL_CTL_ADD, fd) < 0 && (errno != EEXIST || ctl(loop, EPOLL_CTL_MOD, fd) < 0)) {
		w->live = false;
		loop->count -= was_live;
		return -1;
	}
	loop->count += !was_live;
	return 0;
}

void ev_set_events(struct ev_loop *loop, int fd, int events)
{
	struct watcher *w = find(loop, fd);

	if (w && w->events != events) {
		w->events = events;
		(void)ctl(loop, EPOLL_CTL_MOD, fd);
	}
}

void ev_set_deadline(struct ev_loop *loop, int fd, int64_t ms)
{
	struct watcher *w = find(loop, fd);

	if (!w)
		return;
	if (ms < 0) {
		w->deadline = -1;
		heap_remove(loop, fd);
		return;
	}
	w->deadline = ev_now_ms() + ms;
	heap_insert(loop, fd);
}

void ev_del(struct ev_loop *loop, int fd)
{
	struct watcher *w = find(loop, fd);

	if (!w)
		return;
	/* fails harmlessly if the caller closed the fd first */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	heap_remove(loop, fd);
	w->live = false;
	loop->count--;
}

int ev_count(const struct ev_loop *loop)
{
	return loop->count;
}

void ev_stop(struct ev_loop *loop)
{
	loop->stop = true;
}

/* The watcher an event or an expired entry names, if it is still that one. */
static struct watcher *current(struct ev_loop *loop, uint64_t key)
{
	struct watcher *w = find(loop, (int)(uint32_t)key);

	return w && w->gen == (uint32_t)(key >> 32) ? w : NULL;
}

/*
 * Fires the passed deadlines of watchers that had no I/O this round (as
 * poll's loop did: I/O wins, the deadline stays armed for the next round).
 * Expired entries are popped first, so a callback may re-arm or delete any.
 */
static void run_timers(struct ev_loop *loop, int64_t now)
{
	int n = 0;

	while (loop->nheap > 0 && deadline_at(loop, 0) <= now) {
		int fd = loop->heap[0];

		loop->expired[n++] = (uint64_t)loop->w[fd].gen << 32 | (uint32_t)fd;
		heap_remove(loop, fd);
	}
	for (int k = 0; k < n; k++) {
		struct watcher *w = current(loop, loop->expired[k]);
		int fd = (int)(uint32_t)loop->expired[k];

		if (!w || w->hidx >= 0 || w->deadline < 0)
			continue;	/* deleted, re-armed or cleared meanwhile */
		if (loop->stop || w->round == loop->round) {
			heap_insert(loop, fd);
			continue;
		}
		w->deadline = -1;
		w->cb(loop, fd, EV_TIMEOUT, w->arg);
	}
}

int ev_run(struct ev_loop *loop)
{
	struct epoll_event evs[EV_BATCH];

	loop->stop = false;
	while (!loop->stop) {
		int64_t now = ev_now_ms(), wait = -1;
		int r;

		if (loop->nheap > 0)
			wait = deadline_at(loop, 0) > now ? deadline_at(loop, 0) - now : 0;
		r = epoll_wait(loop->epfd, evs, EV_BATCH, wait > 1000000 ? 1000000 : (int)wait);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		loop->round++;
		for (int k = 0; k < r && !loop->stop; k++) {
			struct watcher *w = current(loop, evs[k].data.u64);

			if (!w)
				continue;
			w->round = loop->round;
			w->cb(loop, (int)(uint32_t)evs[k].data.u64,
			      (int)(evs[k].events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP)), w->arg);
		}
		run_timers(loop, ev_now_ms());
	}
	return 0;
}
