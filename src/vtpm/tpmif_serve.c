/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmif_serve: vtpm as a tpmif backend (the seed's tpmback) for guests and
 * other frontends. Accepts frontends on the rendezvous socket and hands
 * each to lib/tpmback; answers their requests with the engine, at the
 * locality each request carries (engine_process_at applies --locality).
 */
#include "tpmif_serve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "sock.h"
#include "tpm.h"
#include "tpmback.h"

struct frontend {
	struct tpmif_server *ts;
	LIST_ENTRY(frontend) link;
	struct tpmback *tb;
};

struct tpmif_server {
	struct ev_loop *loop;
	int lfd;
	char *path;
	LIST_HEAD(, frontend) frontends;
	uint8_t err[TPM_HDR_SIZE];
};

static void unlink_frontend(struct frontend *f)
{
	LIST_REMOVE(f, link);
	free(f);
}

static void handle(void *arg, const uint8_t *req, size_t len, uint8_t loc, bool bad,
		   const uint8_t **rsp, uint32_t *rsp_len)
{
	struct frontend *f = arg;
	struct tpmif_server *ts = f->ts;

	if (bad) {
		*rsp_len = (uint32_t)tpm_error_response(ts->err, engine_is_tpm2(), TPM20_RC_COMMAND_SIZE);
		*rsp = ts->err;
		return;
	}
	engine_process_at(loc, req, (uint32_t)len, rsp, rsp_len);
}

static void closed(void *arg, struct tpmback *tb)
{
	(void)tb;
	unlink_frontend(arg);
}

static const struct tpmback_ops ops = { .handle = handle, .closed = closed };

static void accept_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct tpmif_server *ts = arg;
	struct frontend *f;
	int cfd = sock_accept(fd);

	(void)loop;
	(void)rev;
	if (cfd < 0)
		return;
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(cfd);
		return;
	}
	f->ts = ts;
	f->tb = tpmback_new(ts->loop, cfd, &ops, f);
	if (!f->tb) {
		free(f);
		return;
	}
	LIST_INSERT_HEAD(&ts->frontends, f, link);
}

struct tpmif_server *tpmif_server_new(struct ev_loop *loop, const char *path, int fd, int mode)
{
	struct tpmif_server *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return NULL;
	ts->loop = loop;
	LIST_INIT(&ts->frontends);
	if (fd >= 0) {
		ts->lfd = sock_set_nonblock(fd) < 0 ? -1 : fd;
	} else {
		ts->path = strdup(path);
		ts->lfd = ts->path ? sock_listen_unix(path, mode >= 0 ? mode : 0770) : -1;
	}
	if (ts->lfd < 0 || ev_add(loop, ts->lfd, EV_READ, accept_event, ts) < 0) {
		log_err("cannot listen for tpmif frontends on %s: %s", path ? path : "the fd handed in",
			strerror(errno));
		tpmif_server_free(ts);
		return NULL;
	}
	return ts;
}

void tpmif_server_free(struct tpmif_server *ts)
{
	if (!ts)
		return;
	while (!LIST_EMPTY(&ts->frontends)) {
		struct frontend *f = LIST_FIRST(&ts->frontends);

		tpmback_free(f->tb);
		unlink_frontend(f);
	}
	if (ts->lfd >= 0) {
		ev_del(ts->loop, ts->lfd);
		close(ts->lfd);
		if (ts->path)
			(void)unlink(ts->path);
	}
	free(ts->path);
	free(ts);
}
