/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * server: event-driven I/O of the vtpm process. Single-threaded: libtpms is
 * not re-entrant, and a TPM command is short next to a context switch.
 * Every connection reads into a capped queue; a reply must drain before the
 * next request on that connection runs (backpressure, so a client that never
 * reads its answers holds only its own connection).
 */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "buf.h"
#include "ctrl.h"
#include "dbuf.h"
#include "engine.h"
#include "ev.h"
#include "frame.h"
#include "log.h"
#include "mssim.h"
#include "sock.h"
#include "tpm.h"
#include "tpmif_serve.h"
#include <libtpms/tpm_error.h>

enum conn_kind { CONN_DATA, CONN_CTRL, CONN_MSSIM_CMD, CONN_MSSIM_PLAT };

/* Room for one largest request of each kind plus a pipelined follower. */
#define DATA_IN_MAX	(2 * (FRAME_PREFIX_SIZE + TPM_PACKET_MAX))
#define CTRL_IN_MAX	(CTRL_REQ_MAX + 64)
#define OUT_MAX		(CTRL_REQ_MAX + 64)
#define READ_CHUNK	8192

struct conn {
	struct server *srv;
	LIST_ENTRY(conn) link;	/* all open connections, for teardown */
	int fd;
	enum conn_kind kind;
	struct dbuf in, out;
	int passed_fd;		/* fd received on a ctrl connection, until used */
	int npassed;		/* 0 or 1: passed_fd holds one */
	bool closing;		/* close once out is drained */
	bool is_datafd;		/* the data connection QEMU handed over */
	bool in_request;	/* a partial request is pending (deadline armed) */
	bool not_tcp;		/* TCP_QUICKACK failed once: don't retry it */
	struct acceptor *acc;	/* the listener it came from, or NULL (handed in) */
	unsigned ctrl_warned;	/* CTRL_WARN_* this connection already logged */
};

struct listener {
	struct server *srv;
	int fd;
	enum conn_kind kind;
	char *path;		/* unix socket file to remove at exit */
	struct acceptor acc;	/* pauses when out of fds, caps connections */
};

struct server {
	const struct opts *o;
	struct ev_loop *loop;
	struct listener lis[4];
	int nlis;
	int sigfd;
	struct conn *datafd_conn;
	LIST_HEAD(, conn) conns;
	struct tpmif_server *tpmif;
	int exit_code;
};

static void conn_event(struct ev_loop *loop, int fd, int rev, void *arg);

static size_t in_max(enum conn_kind k)
{
	return k == CONN_CTRL ? CTRL_IN_MAX : DATA_IN_MAX;
}

/* Serves fd as a connection; on failure the caller still owns fd. */
static struct conn *conn_new(struct server *s, int fd, enum conn_kind kind)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		goto fail;
	c->srv = s;
	c->fd = fd;
	c->kind = kind;
	c->passed_fd = -1;
	dbuf_init(&c->in, in_max(kind));
	dbuf_init(&c->out, OUT_MAX);
	if (ev_add(s->loop, fd, EV_READ, conn_event, c) == 0) {
		LIST_INSERT_HEAD(&s->conns, c, link);
		return c;
	}
	log_warn("too many connections; refusing one");
	free(c);
fail:
	return NULL;
}

static void conn_close(struct conn *c)
{
	struct server *s = c->srv;

	ev_del(s->loop, c->fd);
	close(c->fd);
	LIST_REMOVE(c, link);
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	dbuf_free(&c->in);
	dbuf_free(&c->out);
	if (c == s->datafd_conn)
		s->datafd_conn = NULL;
	if (c->acc)
		acceptor_closed(c->acc);
	/* --terminate: the data client's departure ends the process */
	if (c->kind == CONN_DATA && s->o->terminate) {
		log_info("data client left; terminating");
		ev_stop(s->loop);
	}
	if (c->kind == CONN_CTRL && s->o->ctrl.terminate) {
		log_info("control client left; terminating");
		ev_stop(s->loop);
	}
	free(c);
}

static int set_datafd(void *arg, int fd)
{
	struct server *s = arg;
	struct conn *c;

	if (s->datafd_conn)
		return -1;
	if (sock_set_nonblock(fd) < 0)
		return -1;
	c = conn_new(s, fd, CONN_DATA);
	if (!c)
		return -1;
	c->is_datafd = true;
	s->datafd_conn = c;
	return 0;
}

/* Appends a TPM response, with the MSSIM-style framing when the command had it. */
static int queue_response(struct conn *c, const struct frame *f, const uint8_t *rsp, uint32_t len)
{
	uint8_t word[4];

	if (f->prefixed) {
		be32_store(word, len);
		if (dbuf_append(&c->out, word, 4) < 0)
			return -1;
	}
	if (dbuf_append(&c->out, rsp, len) < 0)
		return -1;
	if (f->prefixed) {
		be32_store(word, 0);
		return dbuf_append(&c->out, word, 4);
	}
	return 0;
}

/* Runs one data-channel command. Returns bytes consumed, 0 if incomplete, -1 to close. */
static long data_step(struct conn *c)
{
	const struct opts *o = c->srv->o;
	struct frame f;
	const uint8_t *rsp;
	uint32_t rlen;
	uint8_t err[TPM_HDR_SIZE];
	enum frame_result r = frame_parse(c->in.p, c->in.len, engine_is_tpm2(), &f);

	if (r == FRAME_NEED_MORE)
		return 0;
	if (r == FRAME_INVALID) {
		/* the stream has lost its framing: answer once, then hang up */
		log_warn("malformed command on the data channel; closing it");
		rlen = (uint32_t)tpm_error_response(err, engine_is_tpm2(),
						    engine_is_tpm2() ? TPM20_RC_COMMAND_SIZE : TPM_BAD_PARAM_SIZE);
		(void)dbuf_append(&c->out, err, rlen);
		c->closing = true;
		return (long)c->in.len;
	}
	engine_process_at(f.locality, c->in.p + f.cmd_off, f.cmd_len, &rsp, &rlen);
	if (queue_response(c, &f, rsp, rlen) < 0)
		return -1;
	if (o->server.disconnect && !c->is_datafd)
		c->closing = true;
	return (long)f.total;
}

static long ctrl_step(struct conn *c)
{
	struct server *s = c->srv;
	struct ctrl_env env = { .set_datafd = set_datafd, .arg = s, .warned = c->ctrl_warned };
	size_t len = 0;
	enum frame_result r = ctrl_frame(c->in.p, c->in.len, &len);

	if (r == FRAME_NEED_MORE)
		return 0;
	if (r == FRAME_INVALID) {
		uint8_t res[4];

		log_warn("control request with an oversize length; closing");
		be32_store(res, TPM_BAD_PARAMETER);
		(void)dbuf_append(&c->out, res, 4);
		c->closing = true;
		return (long)c->in.len;
	}
	if (ctrl_handle(&env, c->in.p, len, &c->passed_fd, &c->out) < 0)
		return -1;
	c->ctrl_warned = env.warned;
	if (c->passed_fd >= 0) {
		/* an fd the command did not ask for: never keep it */
		close(c->passed_fd);
		c->passed_fd = -1;
	}
	c->npassed = 0;
	if (env.shutdown) {
		c->closing = true;
		s->exit_code = 0;
		ev_stop(s->loop);	/* after this reply is flushed, below */
	}
	return (long)len;
}

static long mssim_step(struct conn *c)
{
	size_t len = 0;
	enum frame_result r = mssim_frame(c->in.p, c->in.len, &len);
	enum mssim_action a;

	if (r == FRAME_NEED_MORE)
		return 0;
	if (r == FRAME_INVALID) {
		log_warn("mssim request with an oversize length; closing");
		return -1;
	}
	a = mssim_handle(c->in.p, len, c->kind == CONN_MSSIM_PLAT, &c->out);
	if (a == MSSIM_CLOSE)
		c->closing = true;
	else if (a == MSSIM_EXIT) {
		c->closing = true;
		ev_stop(c->srv->loop);
	}
	return (long)len;
}

/* Flushes what it can. Returns -1 when the peer is gone. */
static int conn_flush(struct conn *c)
{
	while (c->out.len > 0) {
		ssize_t w = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(c->fd, c->out.p, c->out.len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		dbuf_consume(&c->out, (size_t)w);
	}
	return 0;
}

/*
 * Runs the complete requests queued on c, one at a time, each only after
 * the previous reply drained. Returns -1 when c was closed.
 */
static int conn_pump(struct conn *c)
{
	struct server *s = c->srv;

	for (;;) {
		long used = 0;

		if (conn_flush(c) < 0) {
			conn_close(c);
			return -1;
		}
		if (c->out.len > 0) {
			ev_set_events(s->loop, c->fd, EV_WRITE);
			return 0;
		}
		if (c->closing) {
			conn_close(c);
			return -1;
		}
		if (c->in.len > 0) {
			switch (c->kind) {
			case CONN_DATA: used = data_step(c); break;
			case CONN_CTRL: used = ctrl_step(c); break;
			default: used = mssim_step(c); break;
			}
		}
		if (used < 0) {
			conn_close(c);
			return -1;
		}
		if (used == 0)
			break;
		dbuf_consume(&c->in, (size_t)used);
		if (c->in_request) {
			/* the deadline is per request: the next partial one re-arms it */
			c->in_request = false;
			ev_set_deadline(s->loop, c->fd, -1);
		}
	}
	/* mssim clients send prefix and body in two writes: ack the first at once */
	if (c->in.len > 0 && !c->not_tcp && sock_quickack(c->fd) < 0)
		c->not_tcp = true;
	/* a partial request must complete in time, or the client is dropped */
	if (c->in.len > 0 && !c->in_request) {
		c->in_request = true;
		ev_set_deadline(s->loop, c->fd,
				c->kind == CONN_CTRL ? CTRL_DEADLINE_MS : SERVER_PARTIAL_TIMEOUT_MS);
	} else if (c->in.len == 0 && c->in_request) {
		c->in_request = false;
		ev_set_deadline(s->loop, c->fd, -1);
	}
	ev_set_events(s->loop, c->fd, c->in.len < c->in.max ? EV_READ : 0);
	return 0;
}

static void conn_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct conn *c = arg;
	ssize_t r;
	uint8_t *dst;
	size_t room;

	(void)loop;
	if (rev & EV_TIMEOUT) {
		log_warn("client too slow to send a whole request; closing");
		conn_close(c);
		return;
	}
	if (rev & (EV_READ | POLLHUP | POLLERR)) {
		room = c->in.max - c->in.len;
		if (room > READ_CHUNK)
			room = READ_CHUNK;
		if (room > 0) {
			dst = dbuf_reserve(&c->in, room);
			if (!dst) {
				conn_close(c);
				return;
			}
			if (c->kind == CONN_CTRL)
				r = sock_recv_fds(fd, dst, room, &c->passed_fd, &c->npassed, 1);
			else
				r = read(fd, dst, room);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				conn_close(c);
				return;
			}
			if (r > 0)
				c->in.len += (size_t)r;
		}
	}
	(void)conn_pump(c);
}

/* A connection from a listener: served, and counted against its cap. */
static int listener_take(void *arg, int cfd)
{
	struct listener *l = arg;
	struct conn *c = conn_new(l->srv, cfd, l->kind);

	if (!c)
		return -1;
	c->acc = &l->acc;
	return 0;
}

static void lifeline_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct server *s = arg;
	uint8_t junk[64];
	ssize_t r = read(fd, junk, sizeof(junk));

	(void)rev;
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		log_err("the manager has gone away; stopping without writing state");
		s->exit_code = SERVER_LIFELINE_LOST;
		ev_del(loop, fd);
		ev_stop(loop);
	}
}

int server_add_lifeline(struct server *s, int fd)
{
	if (sock_set_nonblock(fd) < 0)
		return -1;
	return ev_add(s->loop, fd, EV_READ, lifeline_event, s);
}

static void signal_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct signalfd_siginfo si;

	(void)rev;
	(void)arg;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("signal %u: shutting down", si.ssi_signo);
		ev_stop(loop);
	}
}

static int add_listener(struct server *s, int fd, enum conn_kind kind, const char *path,
			const char *what)
{
	struct listener *l = &s->lis[s->nlis];

	if (fd < 0)
		return -1;
	l->srv = s;
	l->fd = fd;
	l->kind = kind;
	l->path = path ? strdup(path) : NULL;
	s->nlis++;
	return acceptor_start(&l->acc, s->loop, fd, (unsigned)s->o->max_connections, what,
			      listener_take, l);
}

/* Opens one configured endpoint as a listener (or a handed-in client). */
static int open_endpoint(struct server *s, const struct endpoint *ep, enum conn_kind kind,
			 const char *what)
{
	int fd;

	if (ep->clientfd >= 0) {
		if (sock_set_nonblock(ep->clientfd) < 0 || !conn_new(s, ep->clientfd, kind))
			goto fail;
		return 0;
	}
	if (ep->fd >= 0) {
		if (sock_set_nonblock(ep->fd) < 0)
			goto fail;
		return add_listener(s, ep->fd, kind, NULL, what);
	}
	if (ep->type == EP_UNIX)
		fd = sock_listen_unix(ep->path, ep->mode >= 0 ? ep->mode : 0770);
	else
		fd = sock_listen_tcp(ep->bindaddr, ep->port);
	if (fd < 0)
		goto fail;
	return add_listener(s, fd, kind, ep->type == EP_UNIX ? ep->path : NULL, what);
fail:
	log_err("cannot open the %s endpoint: %s", what, strerror(errno));
	return -1;
}

struct server *server_new(const struct opts *o)
{
	struct server *s = calloc(1, sizeof(*s));
	sigset_t mask;

	if (!s)
		return NULL;
	s->o = o;
	s->sigfd = -1;
	LIST_INIT(&s->conns);
	engine_set_locality_policy(o->reject_locality_4, o->allow_set_locality);
	s->loop = ev_new();
	if (!s->loop)
		goto fail;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (s->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    ev_add(s->loop, s->sigfd, EV_READ, signal_event, s) < 0)
		goto fail;
	signal(SIGPIPE, SIG_IGN);
	if (o->server.type != EP_NONE && open_endpoint(s, &o->server, CONN_DATA, "data") < 0)
		goto fail;
	if (o->ctrl.type != EP_NONE && open_endpoint(s, &o->ctrl, CONN_CTRL, "control") < 0)
		goto fail;
	if (o->mssim_port || o->mssim_fds[0] >= 0) {
		struct endpoint cmd = { .type = EP_TCP, .bindaddr = o->mssim_bindaddr,
					.port = o->mssim_port, .fd = o->mssim_fds[0], .clientfd = -1 };
		struct endpoint plat = cmd;

		plat.port = o->mssim_port + 1;
		plat.fd = o->mssim_fds[1];
		if (open_endpoint(s, &cmd, CONN_MSSIM_CMD, "mssim command") < 0 ||
		    open_endpoint(s, &plat, CONN_MSSIM_PLAT, "mssim platform") < 0)
			goto fail;
	}
	if (o->tpmif_path || o->tpmif_fd >= 0) {
		s->tpmif = tpmif_server_new(s->loop, o->tpmif_path, o->tpmif_fd, o->tpmif_mode,
					    (unsigned)o->max_connections);
		if (!s->tpmif)
			goto fail;
	}
	return s;
fail:
	server_free(s);
	return NULL;
}

int server_run(struct server *s)
{
	if (ev_run(s->loop) < 0) {
		log_err("event loop: %s", strerror(errno));
		return 1;
	}
	return s->exit_code;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	while (!LIST_EMPTY(&s->conns)) {
		struct conn *c = LIST_FIRST(&s->conns);
		c->kind = CONN_MSSIM_CMD;	/* teardown: no --terminate side effects */
		conn_close(c);
	}
	tpmif_server_free(s->tpmif);
	for (int i = 0; i < s->nlis; i++) {
		acceptor_stop(&s->lis[i].acc);
		close(s->lis[i].fd);
		if (s->lis[i].path) {
			(void)unlink(s->lis[i].path);
			free(s->lis[i].path);
		}
	}
	if (s->sigfd >= 0)
		close(s->sigfd);
	ev_free(s->loop);
	free(s);
}
