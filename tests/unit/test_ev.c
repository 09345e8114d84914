/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_ev: the epoll loop. Readiness and deadlines reach the right callback,
 * a deadline fires once and not early, and a callback may remove other
 * watchers (or reuse their slot) while the loop is dispatching without a
 * removed watcher ever being called; thousands of watchers cost one callback
 * for the one ready fd, and an fd number reused after close works.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ev.h"

struct w {
	int p[2];		/* pipe: read end p[0], write end p[1] */
	int calls;
	int last_rev;
	int64_t when;		/* ev_now_ms() at the last call */
};

static void w_open(struct w *w, bool readable)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(pipe(w->p), 0);
	if (readable)
		assert_int_equal(write(w->p[1], "x", 1), 1);
}

static void w_close(struct w *w)
{
	close(w->p[0]);
	close(w->p[1]);
}

static void record(struct w *w, int rev)
{
	w->calls++;
	w->last_rev = rev;
	w->when = ev_now_ms();
}

/* Records, drains a readable pipe, and stops the loop. */
static void cb_stop(struct ev_loop *loop, int fd, int rev, void *arg)
{
	char c;

	record(arg, rev);
	if (rev & EV_READ)
		assert_int_equal(read(fd, &c, 1), 1);
	ev_stop(loop);
}

/* Records only; the watcher stays. */
static void cb_count(struct ev_loop *loop, int fd, int rev, void *arg)
{
	(void)loop;
	(void)fd;
	record(arg, rev);
}

static void test_add_del_count(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w a, b;

	(void)state;
	assert_non_null(loop);
	assert_int_equal(ev_count(loop), 0);
	w_open(&a, false);
	w_open(&b, false);
	assert_int_equal(ev_add(loop, a.p[0], EV_READ, cb_count, NULL), 0);
	assert_int_equal(ev_add(loop, b.p[0], EV_READ, cb_count, NULL), 0);
	/* adding a watched fd again replaces its watcher */
	assert_int_equal(ev_add(loop, b.p[0], EV_READ, cb_count, NULL), 0);
	assert_int_equal(ev_count(loop), 2);
	errno = 0;
	assert_int_equal(ev_add(loop, EV_MAX_FDS, EV_READ, cb_count, NULL), -1);
	assert_int_equal(errno, EMFILE);
	errno = 0;
	assert_int_equal(ev_add(loop, 4000, EV_READ, cb_count, NULL), -1);	/* not open */
	assert_int_equal(errno, EBADF);
	assert_int_equal(ev_count(loop), 2);
	ev_del(loop, a.p[0]);
	ev_del(loop, a.p[0]);	/* unknown fd: no-op */
	ev_del(loop, 5000);
	assert_int_equal(ev_count(loop), 1);
	ev_del(loop, b.p[0]);
	assert_int_equal(ev_count(loop), 0);
	w_close(&a);
	w_close(&b);
	ev_free(loop);
}

static void test_readable(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w r, idle;

	(void)state;
	w_open(&r, true);
	w_open(&idle, false);
	assert_int_equal(ev_add(loop, idle.p[0], EV_READ, cb_count, &idle), 0);
	assert_int_equal(ev_add(loop, r.p[0], EV_READ, cb_stop, &r), 0);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(r.calls, 1);
	assert_true(r.last_rev & EV_READ);
	assert_int_equal(idle.calls, 0);
	w_close(&r);
	w_close(&idle);
	ev_free(loop);
}

static void test_writable_and_set_events(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w wr;

	(void)state;
	w_open(&wr, false);
	/* no events wanted: only the deadline can call it */
	assert_int_equal(ev_add(loop, wr.p[1], 0, cb_stop, &wr), 0);
	ev_set_deadline(loop, wr.p[1], 30);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(wr.last_rev, EV_TIMEOUT);
	ev_set_events(loop, wr.p[1], EV_WRITE);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(wr.calls, 2);
	assert_true(wr.last_rev & EV_WRITE);
	w_close(&wr);
	ev_free(loop);
}

static void test_deadline_fires_once_not_early(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w t, stopper;
	int64_t t0;

	(void)state;
	w_open(&t, false);
	w_open(&stopper, false);
	assert_int_equal(ev_add(loop, t.p[0], EV_READ, cb_count, &t), 0);
	assert_int_equal(ev_add(loop, stopper.p[0], EV_READ, cb_stop, &stopper), 0);
	t0 = ev_now_ms();
	ev_set_deadline(loop, t.p[0], 30);
	ev_set_deadline(loop, stopper.p[0], 120);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(t.calls, 1);		/* cleared once fired */
	assert_int_equal(t.last_rev, EV_TIMEOUT);
	assert_true(t.when - t0 >= 30);
	assert_true(t.when - t0 < 2000);
	assert_int_equal(stopper.last_rev, EV_TIMEOUT);
	assert_true(stopper.when - t0 >= 120);
	w_close(&t);
	w_close(&stopper);
	ev_free(loop);
}

static void test_deadline_cleared(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w t, stopper;

	(void)state;
	w_open(&t, false);
	w_open(&stopper, false);
	assert_int_equal(ev_add(loop, t.p[0], EV_READ, cb_count, &t), 0);
	assert_int_equal(ev_add(loop, stopper.p[0], EV_READ, cb_stop, &stopper), 0);
	ev_set_deadline(loop, t.p[0], 10);
	ev_set_deadline(loop, t.p[0], -1);
	ev_set_deadline(loop, stopper.p[0], 60);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(t.calls, 0);
	w_close(&t);
	w_close(&stopper);
	ev_free(loop);
}

/* Readiness wins over a passed deadline: the callback sees the data. */
static void test_ready_beats_deadline(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w r;

	(void)state;
	w_open(&r, true);
	assert_int_equal(ev_add(loop, r.p[0], EV_READ, cb_stop, &r), 0);
	ev_set_deadline(loop, r.p[0], 0);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(r.last_rev & EV_TIMEOUT, 0);
	assert_true(r.last_rev & EV_READ);
	w_close(&r);
	ev_free(loop);
}

/* Dispatch-time removal: a's callback removes b, whose fd is ready too. */
struct removal {
	struct w a, b, fresh, stopper;
	bool reuse;		/* also add a watcher that takes b's slot */
};

static void cb_remove_other(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct removal *r = arg;
	char c;

	record(&r->a, rev);
	assert_int_equal(read(fd, &c, 1), 1);
	ev_del(loop, r->b.p[0]);
	if (r->reuse) {
		/* not ready: called now only if it inherited b's revents */
		assert_int_equal(ev_add(loop, r->fresh.p[0], EV_READ, cb_count, &r->fresh), 0);
	}
}

static void run_removal(bool reuse)
{
	struct ev_loop *loop = ev_new();
	struct removal r = { .reuse = reuse };

	w_open(&r.a, true);
	w_open(&r.b, true);
	w_open(&r.fresh, false);
	w_open(&r.stopper, false);
	assert_int_equal(ev_add(loop, r.a.p[0], EV_READ, cb_remove_other, &r), 0);
	assert_int_equal(ev_add(loop, r.b.p[0], EV_READ, cb_count, &r.b), 0);
	assert_int_equal(ev_add(loop, r.stopper.p[0], EV_READ, cb_stop, &r.stopper), 0);
	ev_set_deadline(loop, r.stopper.p[0], 50);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(r.a.calls, 1);
	assert_int_equal(r.b.calls, 0);
	assert_int_equal(r.fresh.calls, 0);
	assert_int_equal(ev_count(loop), reuse ? 3 : 2);
	w_close(&r.a);
	w_close(&r.b);
	w_close(&r.fresh);
	w_close(&r.stopper);
	ev_free(loop);
}

static void test_removal_during_dispatch(void **state)
{
	(void)state;
	run_removal(false);
}

static void test_slot_reuse_during_dispatch(void **state)
{
	(void)state;
	run_removal(true);
}

/* A callback that removes and closes its own fd is never called again. */
static void cb_remove_self(struct ev_loop *loop, int fd, int rev, void *arg)
{
	record(arg, rev);
	ev_del(loop, fd);
}

static void test_remove_self(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w r, stopper;

	(void)state;
	w_open(&r, true);	/* stays readable: never drained */
	w_open(&stopper, false);
	assert_int_equal(ev_add(loop, r.p[0], EV_READ, cb_remove_self, &r), 0);
	assert_int_equal(ev_add(loop, stopper.p[0], EV_READ, cb_stop, &stopper), 0);
	ev_set_deadline(loop, stopper.p[0], 40);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(ev_count(loop), 1);
	w_close(&r);
	w_close(&stopper);
	ev_free(loop);
}

/* Many watchers: 5,000 socketpairs, one readable; exactly its callback runs. */
#define MANY 5000

static void test_many_watchers(void **state)
{
	static int sp[MANY][2];
	static struct w rec[MANY];
	struct rlimit rl;
	struct ev_loop *loop = ev_new();
	int hit = MANY - 3;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * MANY + 64)
		skip();
	rl.rlim_cur = 2 * MANY + 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp[i]), 0);
		memset(&rec[i], 0, sizeof(rec[i]));
		assert_int_equal(ev_add(loop, sp[i][0], EV_READ, cb_count, &rec[i]), 0);
	}
	assert_int_equal(ev_count(loop), MANY);
	/* cb_stop drains and stops: swap it in for the one that becomes readable */
	assert_int_equal(ev_add(loop, sp[hit][0], EV_READ, cb_stop, &rec[hit]), 0);
	assert_int_equal(write(sp[hit][1], "x", 1), 1);
	assert_int_equal(ev_run(loop), 0);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(rec[i].calls, i == hit ? 1 : 0);
	for (int i = 0; i < MANY; i++) {
		ev_del(loop, sp[i][0]);
		close(sp[i][0]);
		close(sp[i][1]);
	}
	assert_int_equal(ev_count(loop), 0);
	ev_free(loop);
}

/* An fd closed and its number reused by a new pipe: the new watcher works. */
static void test_readd_after_close(void **state)
{
	struct ev_loop *loop = ev_new();
	struct w old, fresh;
	int num;

	(void)state;
	w_open(&old, true);
	num = old.p[0];
	assert_int_equal(ev_add(loop, num, EV_READ, cb_count, &old), 0);
	ev_del(loop, num);
	w_close(&old);
	w_open(&fresh, true);
	assert_int_equal(fresh.p[0], num);	/* lowest free number comes back */
	assert_int_equal(ev_add(loop, fresh.p[0], EV_READ, cb_stop, &fresh), 0);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(old.calls, 0);
	assert_int_equal(fresh.calls, 1);
	/* closed without ev_del, the number reused: ev_add replaces the watcher */
	close(fresh.p[0]);
	fresh.p[0] = -1;
	w_open(&old, true);
	assert_int_equal(old.p[0], num);
	assert_int_equal(ev_add(loop, old.p[0], EV_READ, cb_stop, &old), 0);
	assert_int_equal(ev_run(loop), 0);
	assert_int_equal(old.calls, 1);
	assert_int_equal(ev_count(loop), 1);
	w_close(&old);
	close(fresh.p[1]);
	ev_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_del_count),
		cmocka_unit_test(test_readable),
		cmocka_unit_test(test_writable_and_set_events),
		cmocka_unit_test(test_deadline_fires_once_not_early),
		cmocka_unit_test(test_deadline_cleared),
		cmocka_unit_test(test_ready_beats_deadline),
		cmocka_unit_test(test_removal_during_dispatch),
		cmocka_unit_test(test_slot_reuse_during_dispatch),
		cmocka_unit_test(test_remove_self),
		cmocka_unit_test(test_many_watchers),
		cmocka_unit_test(test_readd_after_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
