/*
 * ev: poll(2) loop over a flat watcher table. The table is small (a vTPM has
 * a handful of clients), so a linear scan per iteration is cheaper than any
 * index. A watcher removed during dispatch is marked dead and skipped, so a
 * callback can close any connection, not only its own.
 */
#include "ev.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct watcher {
	int fd;
	int events;
	int64_t deadline;	/* absolute ms, or -1 */
	ev_cb cb;
	void *arg;
	bool live;
	uint64_t gen;		/* detects a slot reused during dispatch */
};

struct ev_loop {
	struct watcher *w;
	struct pollfd *pfd;
	int *map;		/* pfd index -> watcher slot */
	uint64_t *gens;		/* watcher generation at poll time */
	int cap;		/* entries allocated in each array */
	int n;			/* slots in use (high-water) */
	bool stop;
	uint64_t gen;
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
	free(loop->w);
	free(loop->pfd);
	free(loop->map);
	free(loop->gens);
	free(loop);
}

/* Doubles every array; the old contents stay valid (indices, not pointers, are kept). */
static int grow(struct ev_loop *loop)
{
	int cap = loop->cap ? loop->cap * 2 : 64;
	void *w, *pfd, *map, *gens;

	if (cap > EV_MAX_FDS)
		cap = EV_MAX_FDS;
	if (cap <= loop->cap) {
		errno = EMFILE;
		return -1;
	}
	w = realloc(loop->w, (size_t)cap * sizeof(*loop->w));
	if (w)
		loop->w = w;
	pfd = realloc(loop->pfd, (size_t)cap * sizeof(*loop->pfd));
	if (pfd)
		loop->pfd = pfd;
	map = realloc(loop->map, (size_t)cap * sizeof(*loop->map));
	if (map)
		loop->map = map;
	gens = realloc(loop->gens, (size_t)cap * sizeof(*loop->gens));
	if (gens)
		loop->gens = gens;
	if (!w || !pfd || !map || !gens)
		return -1;
	loop->cap = cap;
	return 0;
}

struct ev_loop *ev_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(struct ev_loop));

	if (loop && grow(loop) < 0) {
		ev_free(loop);
		return NULL;
	}
	return loop;
}

static struct watcher *find(struct ev_loop *loop, int fd)
{
	for (int i = 0; i < loop->n; i++)
		if (loop->w[i].live && loop->w[i].fd == fd)
			return &loop->w[i];
	return NULL;
}

int ev_add(struct ev_loop *loop, int fd, int events, ev_cb cb, void *arg)
{
	int i;

	for (i = 0; i < loop->n; i++)
		if (!loop->w[i].live)
			break;
	if (i == loop->cap && grow(loop) < 0)
		return -1;
	if (i == loop->n)
		loop->n++;
	loop->w[i] = (struct watcher){ .fd = fd, .events = events, .deadline = -1,
				       .cb = cb, .arg = arg, .live = true, .gen = ++loop->gen };
	return 0;
}

void ev_set_events(struct ev_loop *loop, int fd, int events)
{
	struct watcher *w = find(loop, fd);
	if (w)
		w->events = events;
}

void ev_set_deadline(struct ev_loop *loop, int fd, int64_t ms)
{
	struct watcher *w = find(loop, fd);
	if (w)
		w->deadline = ms < 0 ? -1 : ev_now_ms() + ms;
}

void ev_del(struct ev_loop *loop, int fd)
{
	struct watcher *w = find(loop, fd);
	if (w)
		w->live = false;
	while (loop->n > 0 && !loop->w[loop->n - 1].live)
		loop->n--;
}

int ev_count(const struct ev_loop *loop)
{
	int c = 0;
	for (int i = 0; i < loop->n; i++)
		c += loop->w[i].live;
	return c;
}

void ev_stop(struct ev_loop *loop)
{
	loop->stop = true;
}

int ev_run(struct ev_loop *loop)
{

	loop->stop = false;
	while (!loop->stop) {

		int64_t now = ev_now_ms(), next = -1;
		int np = 0, r;

		for (int i = 0; i < loop->n; i++) {
			struct watcher *w = &loop->w[i];
			if (!w->live)
				continue;
			if (w->deadline >= 0 && (next < 0 || w->deadline < next))
				next = w->deadline;
			loop->pfd[np] = (struct pollfd){ .fd = w->fd, .events = (short)w->events };
			loop->map[np] = i;
			loop->gens[np] = w->gen;
			np++;
		}
		r = poll(loop->pfd, (nfds_t)np, next < 0 ? -1 : (int)(next > now ? next - now : 0));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		now = ev_now_ms();
		for (int k = 0; k < np && !loop->stop; k++) {
			struct watcher *w = &loop->w[loop->map[k]];
			int rev = loop->pfd[k].revents;

			/* loop-> each time: a callback may have grown (moved) the arrays */
			if (!w->live || w->gen != loop->gens[k])
				continue;
			if (!rev && w->deadline >= 0 && w->deadline <= now) {
				w->deadline = -1;
				rev = EV_TIMEOUT;
			}
			if (rev)
				w->cb(loop, w->fd, rev, w->arg);
		}
	}
	return 0;
}
