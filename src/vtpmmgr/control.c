/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control: request parsing, dispatch, JSON replies. A stop is answered when
 * the vtpm has exited (it records its final state through the manager's
 * event loop meanwhile), so the connection waits in the loop, not in a call;
 * while it waits it is not watched at all (a client that hangs up would
 * otherwise make poll report POLLHUP at once, again and again), and the
 * late reply to a client gone meets EPIPE, which is ignored. Requests are
 * decoded and replies encoded by lib/ctlmsg.
 */
#include "control.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctlmsg.h"
#include "dbuf.h"
#include "devline.h"
#include "ident.h"
#include "log.h"
#include "rootkey.h"
#include "sock.h"
#include "vtpms.h"

struct ctl_conn {
	struct mgr *m;
	int fd;
	struct dbuf in;
	uint8_t uuid[VTPM_UUID_SIZE];	/* the vTPM it waits for */
};

static void conn_free(struct ctl_conn *c)
{
	ev_del(c->m->loop, c->fd);
	close(c->fd);
	dbuf_free(&c->in);
	free(c);
}

/* Writes the reply (one line), ends w and closes the connection. */
static void reply_send(struct ctl_conn *c, struct ctlmsg_jw *w)
{
	const char *out;
	size_t n;

	ctlmsg_jw_close(w, '{');
	out = ctlmsg_jw_finish(w, &n);
	if (!out)
		log_warn("control: a reply did not fit in %d bytes", VTPMMGR_CTL_REPLY_MAX);
	/* vtpmctl is local and reads to EOF: a blocking write of one reply is fine */
	else if (sock_set_blocking(c->fd) == 0)
		(void)sock_write_all(c->fd, out, n);
	ctlmsg_jw_free(w);
	conn_free(c);
}

/* Starts a reply: {"ok":OK */
static void reply_begin(struct ctlmsg_jw *w, bool ok)
{
	ctlmsg_jw_init(w, VTPMMGR_CTL_REPLY_MAX);
	ctlmsg_jw_open(w, NULL, '{');
	ctlmsg_jw_bool(w, "ok", ok);
}

/* {"ok":true}, with a warning when warn is not NULL */
static void reply_ok(struct ctl_conn *c, const char *warn)
{
	struct ctlmsg_jw w;

	reply_begin(&w, true);
	if (warn)
		ctlmsg_jw_str(&w, "warning", warn);
	reply_send(c, &w);
}

/* msg may echo the peer's words: the writer escapes it */
static void reply_err(struct ctl_conn *c, const char *msg)
{
	struct ctlmsg_jw w;

	reply_begin(&w, false);
	ctlmsg_jw_str(&w, "error", msg);
	reply_send(c, &w);
}

static bool safe_word(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

/* Appends one vTPM as a JSON object, member key (NULL: an array element). */
static void json_vtpm(struct mgr *m, const struct store_vtpm *v, struct ctlmsg_jw *w, const char *key)
{
	char u[37], err[256];
	pid_t pid = 0;
	bool running = vtpms_running(m, v->uuid, &pid);
	struct devline dl;

	store_uuid_format(v->uuid, u);
	ctlmsg_jw_open(w, key, '{');
	ctlmsg_jw_str(w, "uuid", u);
	ctlmsg_jw_str(w, "group", v->group);
	ctlmsg_jw_str(w, "tpm", v->tpm2 ? "2.0" : "1.2");
	ctlmsg_jw_u64(w, "uid", v->uid);
	ctlmsg_jw_bool(w, "running", running);
	ctlmsg_jw_i64(w, "pid", running ? (int64_t)pid : 0);
	ctlmsg_jw_bool(w, "autostart", v->flags & STORE_FLAG_AUTOSTART);
	ctlmsg_jw_str(w, "device", v->config);
	ctlmsg_jw_bool(w, "insecure_tcp", devline_parse(v->config, &dl, err, sizeof(err)) == 0 &&
					      devline_has_tcp(&dl));
	ctlmsg_jw_u64(w, "state_seq", v->rec[VTPM_BLOB_PERMANENT - 1].seq);
	ctlmsg_jw_close(w, '{');
}

/* The request's first word (the vTPM's UUID for most verbs), or NULL. */
static const char *first_word(const struct ctlmsg_req *r)
{
	return r->argc ? r->word[0] : NULL;
}

static const struct store_vtpm *lookup(struct ctl_conn *c, const char *arg)
{
	uint8_t uuid[VTPM_UUID_SIZE];
	const struct store_vtpm *v;

	if (!arg || store_uuid_parse(arg, uuid) < 0) {
		reply_err(c, "expected a vTPM UUID");
		return NULL;
	}
	v = store_find(c->m->st, uuid);
	if (!v)
		reply_err(c, "no such vTPM");
	return v;
}

static void do_create(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	struct store_vtpm v = { .tpm2 = true };
	char err[256], u[37];
	struct devline dl;
	bool have_uuid = false;
	struct ctlmsg_jw w;

	snprintf(v.group, sizeof(v.group), "default");
	for (size_t i = 0; i < r->argc; i++) {
		const char *tok = r->key[i], *val = r->val[i];

		if (!tok)
			return reply_err(c, "create takes key=value arguments");
		if (!strcmp(tok, "uuid") && strcmp(val, "auto") != 0) {
			if (store_uuid_parse(val, v.uuid) < 0)
				return reply_err(c, "bad uuid");
			have_uuid = true;
		} else if (!strcmp(tok, "uuid")) {
			have_uuid = false;
		} else if (!strcmp(tok, "tpm")) {
			if (strcmp(val, "2") && strcmp(val, "2.0") && strcmp(val, "1.2"))
				return reply_err(c, "tpm must be 2 or 1.2");
			v.tpm2 = strcmp(val, "1.2") != 0;
		} else if (!strcmp(tok, "group")) {
			if (!safe_word(val, STORE_GROUP_MAX))
				return reply_err(c, "group: lower-case letters, digits, - and _");
			snprintf(v.group, sizeof(v.group), "%s", val);
		} else if (!strcmp(tok, "dev")) {
			if (strlen(val) > STORE_CONFIG_MAX || devline_parse(val, &dl, err, sizeof(err)) < 0 ||
			    devline_check(&dl, err, sizeof(err)) < 0)
				return reply_err(c, strlen(val) > STORE_CONFIG_MAX ? "device line too long" : err);
			snprintf(v.config, sizeof(v.config), "%s", val);
		} else {
			return reply_err(c, "unknown create argument");
		}
	}
	if (!have_uuid && ident_uuid_random(v.uuid) < 0)
		return reply_err(c, "no randomness");
	if (ident_uid_free(c->m->st, c->m->cfg.uid_base, c->m->cfg.uid_count, &v.uid) < 0)
		return reply_err(c, "no free uid left in the configured range");
	if (store_add(c->m->st, &v) < 0)
		return reply_err(c, errno == EEXIST ? "a vTPM with this UUID exists" : "cannot record the vTPM");
	store_uuid_format(v.uuid, u);
	log_info("created vTPM %s (TPM %s, group %s)", u, v.tpm2 ? "2.0" : "1.2", v.group);
	reply_begin(&w, true);
	ctlmsg_jw_str(&w, "uuid", u);
	reply_send(c, &w);
}

/* The autostart mark is set here, once the vtpm serves: a vTPM that cannot start is not restarted at boot. */
static void started(void *arg, bool ready)
{
	struct ctl_conn *c = arg;
	const struct store_vtpm *v = store_find(c->m->st, c->uuid);

	if (!ready)
		return reply_err(c, "the vtpm exited while starting; the manager's log says why");
	if (v && !(v->flags & STORE_FLAG_AUTOSTART))
		(void)store_set_flags(c->m->st, v->uuid, v->flags | STORE_FLAG_AUTOSTART);
	reply_ok(c, NULL);
}

/* Waits for the vtpm's callback, not for the client: see the top of the file. */
static void conn_wait(struct ctl_conn *c, const uint8_t uuid[VTPM_UUID_SIZE])
{
	memcpy(c->uuid, uuid, sizeof(c->uuid));
	ev_del(c->m->loop, c->fd);
}

/* Answered once the vtpm serves, or has exited: a refused state is an error here. */
static void do_start(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	const struct store_vtpm *v = lookup(c, first_word(r));

	if (!v)
		return;
	if (vtpms_running(c->m, v->uuid, NULL))
		return reply_err(c, "already running");
	if (vtpms_start(c->m, v, started, c) < 0)
		return reply_err(c, "cannot start the vtpm (see the manager's log)");
	conn_wait(c, v->uuid);
}

static void stopped(void *arg, int status)
{
	struct ctl_conn *c = arg;

	reply_ok(c, WIFEXITED(status) && WEXITSTATUS(status) == 0 ? NULL : "the vtpm did not stop cleanly");
}

static void do_stop(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	const struct store_vtpm *v = lookup(c, first_word(r));

	if (!v)
		return;
	(void)store_set_flags(c->m->st, v->uuid, v->flags & ~STORE_FLAG_AUTOSTART);
	if (!vtpms_running(c->m, v->uuid, NULL))
		return reply_ok(c, "was not running");
	if (vtpms_stop(c->m, v->uuid, stopped, c) < 0)
		return reply_err(c, "cannot stop it");
	conn_wait(c, v->uuid);
}

/* Removes a vTPM's state directory: its files are unreadable without the key anyway. */
static void remove_dir(int datafd, const char *name)
{
	int fd = openat(datafd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)unlinkat(datafd, name, AT_REMOVEDIR);
}

static void do_destroy(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	const char *u = first_word(r), *confirm = r->argc > 1 ? r->word[1] : NULL;
	const struct store_vtpm *v = lookup(c, u);
	char dir[VTPMS_STATE_NAME_SIZE];
	uint8_t uuid[VTPM_UUID_SIZE];

	if (!v)
		return;
	if (!confirm || strcmp(confirm, "confirm") != 0)
		return reply_err(c, "destroy wipes the vTPM's keys for good: add 'confirm'");
	if (vtpms_running(c->m, v->uuid, NULL))
		return reply_err(c, "stop it first");
	memcpy(uuid, v->uuid, sizeof(uuid));
	vtpms_remove_sockets(c->m, v);
	/* the key goes first: from here the state files can never be read again */
	if (store_remove(c->m->st, uuid) < 0)
		return reply_err(c, "cannot remove the vTPM from the store");
	vtpms_state_name(uuid, dir);
	remove_dir(c->m->datafd, dir);
	log_info("destroyed vTPM %s", u);
	reply_ok(c, NULL);
}

static void do_list(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	struct ctlmsg_jw w;

	(void)r;
	reply_begin(&w, true);
	ctlmsg_jw_open(&w, "vtpms", '[');
	for (size_t i = 0; i < store_count(c->m->st); i++)
		json_vtpm(c->m, store_at(c->m->st, i), &w, NULL);
	ctlmsg_jw_close(&w, '[');
	reply_send(c, &w);
}

static void do_show(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	const struct store_vtpm *v = lookup(c, first_word(r));
	struct ctlmsg_jw w;

	if (!v)
		return;
	reply_begin(&w, true);
	json_vtpm(c->m, v, &w, "vtpm");
	reply_send(c, &w);
}

static void do_status(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	char pcrs[128];
	size_t running = 0;
	struct ctlmsg_jw w;

	(void)r;
	for (size_t i = 0; i < store_count(c->m->st); i++)
		running += vtpms_running(c->m, store_at(c->m->st, i)->uuid, NULL);
	hwtpm_pcrsel_format(&c->m->cfg.pcrs, pcrs, sizeof(pcrs));
	reply_begin(&w, true);
	ctlmsg_jw_u64(&w, "vtpms", store_count(c->m->st));
	ctlmsg_jw_u64(&w, "running", running);
	ctlmsg_jw_u64(&w, "store_version", store_version(c->m->st));
	ctlmsg_jw_str(&w, "pcrs", pcrs);
	ctlmsg_jw_u64(&w, "hw_commands", hwtpm_commands(c->m->hw));
	ctlmsg_jw_bool(&w, "dev", c->m->cfg.dev);
	reply_send(c, &w);
}

/* reseal [N=HEX ...]: the current values, with the given PCRs replaced by expected ones. */
static void do_reseal(struct ctl_conn *c, const struct ctlmsg_req *r)
{
	struct hwtpm_pcrvals expect;
	struct ctlmsg_jw w;

	if (hwtpm_pcr_read(c->m->hw, &c->m->cfg.pcrs, &expect) < 0)
		return reply_err(c, "cannot read the PCRs");
	for (size_t a = 0; a < r->argc; a++) {
		const char *tok = r->key[a], *val = r->val[a];
		char *end;
		long pcr;

		if (!tok)
			return reply_err(c, "reseal takes PCR=HEX arguments");
		pcr = strtol(tok, &end, 10);
		if (*end || pcr < 0 || pcr >= HWTPM_MAX_PCRS || !(expect.sel.mask & (1u << pcr)))
			return reply_err(c, "that PCR is not in the sealing selection");
		if (strlen(val) != 2 * HWTPM_DIGEST_SIZE)
			return reply_err(c, "expected a sha256 value, 64 hex digits");
		for (int i = 0; i < HWTPM_DIGEST_SIZE; i++) {
			unsigned b;
			if (sscanf(val + 2 * i, "%2x", &b) != 1)
				return reply_err(c, "bad hex");
			expect.value[pcr][i] = (uint8_t)b;
		}
	}
	if (rootkey_approve(c->m->hw, c->m->datafd, &expect, c->m->root) < 0)
		return reply_err(c, "sealing failed (see the manager's log)");
	reply_begin(&w, true);
	ctlmsg_jw_str(&w, "file", ROOTKEY_NEXT_FILE);
	reply_send(c, &w);
}

/* One row per verb; each handler answers the connection exactly once. */
static const struct ctl_verb {
	const char *name;
	void (*handle)(struct ctl_conn *c, const struct ctlmsg_req *r);
} verbs[] = {
	{ "create", do_create },
	{ "destroy", do_destroy },
	{ "reseal", do_reseal },
	{ "start", do_start },
	{ "stop", do_stop },
	{ "show", do_show },
	{ "list", do_list },
	{ "status", do_status },
};

static void dispatch(struct ctl_conn *c, const char *line, size_t len)
{
	struct ctlmsg_req *r = malloc(sizeof(*r));
	const char *err = NULL;
	size_t k;

	if (!r)
		return reply_err(c, "out of memory");
	if (ctlmsg_req_parse(r, line, len, &err) < 0) {
		reply_err(c, err);
		goto out;
	}
	for (k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (!strcmp(r->verb, verbs[k].name))
			break;
	if (k < sizeof(verbs) / sizeof(verbs[0]))
		verbs[k].handle(c, r);
	else
		reply_err(c, "unknown command");
out:
	free(r);
}

static void conn_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct ctl_conn *c = arg;
	uint8_t *dst, *nl;
	ssize_t r;

	(void)loop;
	if (rev & EV_TIMEOUT)
		return reply_err(c, "request not complete in time");
	dst = dbuf_reserve(&c->in, VTPMMGR_CTL_LINE_MAX - c->in.len);
	r = dst ? read(fd, dst, VTPMMGR_CTL_LINE_MAX - c->in.len) : -1;
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return;
		return conn_free(c);
	}
	c->in.len += (size_t)r;
	nl = memchr(c->in.p, '\n', c->in.len);
	if (!nl) {
		if (c->in.len >= VTPMMGR_CTL_LINE_MAX)
			reply_err(c, "request too long");
		return;
	}
	/* the codec checks the line; nothing after the newline is read */
	dispatch(c, (const char *)c->in.p, (size_t)(nl - c->in.p));
}

static void accept_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct mgr *m = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct ctl_conn *c;
	int cfd = sock_accept(fd);

	(void)rev;
	if (cfd < 0)
		return;
	/* permission: root only (the socket is 0600 too) */
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0) {
		static const char deny[] = "{\"ok\":false,\"error\":\"permission denied\"}\n";
		log_warn("control: refused a request from uid %d", (int)cred.uid);
		(void)!write(cfd, deny, sizeof(deny) - 1);
		close(cfd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(cfd);
		return;
	}
	c->m = m;
	c->fd = cfd;
	dbuf_init(&c->in, VTPMMGR_CTL_LINE_MAX);
	if (ev_add(loop, cfd, EV_READ, conn_event, c) < 0) {
		log_err("control: cannot take a connection: %s", strerror(errno));
		close(cfd);
		free(c);
		return;
	}
	ev_set_deadline(loop, cfd, VTPMMGR_CTL_REQUEST_MS);
}

int control_open(struct mgr *m)
{
	if (asprintf(&m->ctl_path, "%s/%s", m->cfg.run_dir, VTPMMGR_CTL_SOCKET) < 0) {
		m->ctl_path = NULL;
		return -1;
	}
	m->ctl_fd = sock_listen_unix(m->ctl_path, 0600);
	if (m->ctl_fd < 0 || ev_add(m->loop, m->ctl_fd, EV_READ, accept_event, m) < 0) {
		log_err("cannot open the control socket %s: %s", m->ctl_path, strerror(errno));
		return -1;
	}
	return 0;
}

void control_close(struct mgr *m)
{
	if (m->ctl_fd >= 0) {
		ev_del(m->loop, m->ctl_fd);
		close(m->ctl_fd);
		(void)unlink(m->ctl_path);
		m->ctl_fd = -1;
	}
	free(m->ctl_path);
	m->ctl_path = NULL;
}
