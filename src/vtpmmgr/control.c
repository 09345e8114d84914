/*
 * control: request parsing, dispatch, JSON replies. A stop is answered when
 * the vtpm has exited (it records its final state through the manager's
 * event loop meanwhile), so the connection waits in the loop, not in a call.
 */
#include "control.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbuf.h"
#include "devline.h"
#include "log.h"
#include "rootkey.h"
#include "sock.h"
#include "vtpms.h"

struct ctl_conn {
	struct mgr *m;
	int fd;
	struct dbuf in;
	bool waiting;		/* a stop in progress answers later */
	char uuid[37];
};

static int listen_fd = -1;
static char listen_path[4200];

static void conn_free(struct ctl_conn *c)
{
	ev_del(c->m->loop, c->fd);
	close(c->fd);
	dbuf_free(&c->in);
	free(c);
}

/* Writes the reply (one line) and closes the connection. */
static void reply(struct ctl_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct ctl_conn *c, const char *fmt, ...)
{
	char *out = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&out, fmt, ap);
	va_end(ap);
	/* vtpmctl is local and reads to EOF: a blocking write of one reply is fine */
	if (n >= 0 && sock_set_blocking(c->fd) == 0) {
		(void)sock_write_all(c->fd, out, (size_t)n);
		(void)sock_write_all(c->fd, "\n", 1);
	}
	free(out);
	conn_free(c);
}

static void reply_err(struct ctl_conn *c, const char *msg)
{
	/* messages here are ours; no quotes or backslashes go into them */
	reply(c, "{\"ok\":false,\"error\":\"%s\"}", msg);
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

/* Appends one vTPM as a JSON object. */
static int json_vtpm(struct mgr *m, const struct store_vtpm *v, char *out, size_t n)
{
	char u[37];
	pid_t pid = 0;
	bool running = vtpms_running(m, v->uuid, &pid);

	store_uuid_format(v->uuid, u);
	return snprintf(out, n,
			"{\"uuid\":\"%s\",\"group\":\"%s\",\"tpm\":\"%s\",\"uid\":%u,\"running\":%s,\"pid\":%d,"
			"\"autostart\":%s,\"device\":\"%s\",\"state_seq\":%llu}",
			u, v->group, v->tpm2 ? "2.0" : "1.2", v->uid, running ? "true" : "false",
			running ? (int)pid : 0, v->flags & STORE_FLAG_AUTOSTART ? "true" : "false",
			v->config, (unsigned long long)v->rec[VTPM_BLOB_PERMANENT - 1].seq);
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

static void do_create(struct ctl_conn *c, char *args)
{
	struct store_vtpm v = { .tpm2 = true };
	char *save = NULL, err[256], u[37];
	struct devline dl;
	bool have_uuid = false;

	snprintf(v.group, sizeof(v.group), "default");
	for (char *tok = strtok_r(args, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *val = strchr(tok, '=');

		if (!val)
			return reply_err(c, "create takes key=value arguments");
		*val++ = '\0';
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
			if (strlen(val) > STORE_CONFIG_MAX || devline_parse(val, &dl, err, sizeof(err)) < 0)
				return reply_err(c, strlen(val) > STORE_CONFIG_MAX ? "device line too long" : err);
			snprintf(v.config, sizeof(v.config), "%s", val);
		} else {
			return reply_err(c, "unknown create argument");
		}
	}
	if (!have_uuid) {
		/* RFC 4122 version 4 */
		if (crypto_random(v.uuid, sizeof(v.uuid)) < 0)
			return reply_err(c, "no randomness");
		v.uuid[6] = (uint8_t)((v.uuid[6] & 0x0f) | 0x40);
		v.uuid[8] = (uint8_t)((v.uuid[8] & 0x3f) | 0x80);
	}
	/* its own uid: the lowest of the range no other vTPM has */
	for (v.uid = c->m->cfg.uid_base; v.uid < c->m->cfg.uid_base + c->m->cfg.uid_count; v.uid++) {
		bool used = false;
		for (size_t i = 0; i < store_count(c->m->st) && !used; i++)
			used = store_at(c->m->st, i)->uid == v.uid;
		if (!used)
			break;
	}
	if (v.uid >= c->m->cfg.uid_base + c->m->cfg.uid_count)
		return reply_err(c, "no free uid left in the configured range");
	if (store_add(c->m->st, &v) < 0)
		return reply_err(c, errno == EEXIST ? "a vTPM with this UUID exists" : "cannot record the vTPM");
	store_uuid_format(v.uuid, u);
	log_info("created vTPM %s (TPM %s, group %s)", u, v.tpm2 ? "2.0" : "1.2", v.group);
	reply(c, "{\"ok\":true,\"uuid\":\"%s\"}", u);
}

static void started(void *arg, bool ready)
{
	struct ctl_conn *c = arg;

	if (ready)
		reply(c, "{\"ok\":true}");
	else
		reply_err(c, "the vtpm exited while starting (state refused? see the manager's log)");
}

/* Answered once the vtpm serves, or has exited: a refused state is an error here. */
static void do_start(struct ctl_conn *c, const char *arg)
{
	const struct store_vtpm *v = lookup(c, arg);

	if (!v)
		return;
	if (vtpms_running(c->m, v->uuid, NULL))
		return reply_err(c, "already running");
	if (!(v->flags & STORE_FLAG_AUTOSTART))
		(void)store_set_flags(c->m->st, v->uuid, v->flags | STORE_FLAG_AUTOSTART);
	if (vtpms_start(c->m, v, started, c) < 0)
		return reply_err(c, "cannot start the vtpm (see the manager's log)");
	c->waiting = true;
	ev_set_deadline(c->m->loop, c->fd, -1);
}

static void stopped(void *arg, int status)
{
	struct ctl_conn *c = arg;

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		reply(c, "{\"ok\":true}");
	else
		reply(c, "{\"ok\":true,\"warning\":\"the vtpm did not stop cleanly\"}");
}

static void do_stop(struct ctl_conn *c, const char *arg)
{
	const struct store_vtpm *v = lookup(c, arg);

	if (!v)
		return;
	(void)store_set_flags(c->m->st, v->uuid, v->flags & ~STORE_FLAG_AUTOSTART);
	if (!vtpms_running(c->m, v->uuid, NULL))
		return reply(c, "{\"ok\":true,\"warning\":\"was not running\"}");
	if (vtpms_stop(c->m, v->uuid, stopped, c) < 0)
		return reply_err(c, "cannot stop it");
	c->waiting = true;
	ev_set_deadline(c->m->loop, c->fd, -1);
}

/* Removes a vTPM's state directory: its files are unreadable without the key anyway. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)rmdir(dir);
}

static void do_destroy(struct ctl_conn *c, char *args)
{
	char *save = NULL, *u = strtok_r(args, " ", &save), *confirm = strtok_r(NULL, " ", &save);
	const struct store_vtpm *v = lookup(c, u);
	char dir[4096];
	uint8_t uuid[VTPM_UUID_SIZE];

	if (!v)
		return;
	if (!confirm || strcmp(confirm, "confirm") != 0)
		return reply_err(c, "destroy wipes the vTPM's keys for good: add 'confirm'");
	if (vtpms_running(c->m, v->uuid, NULL))
		return reply_err(c, "stop it first");
	memcpy(uuid, v->uuid, sizeof(uuid));
	/* the key goes first: from here the state files can never be read again */
	if (store_remove(c->m->st, uuid) < 0)
		return reply_err(c, "cannot remove the vTPM from the store");
	vtpms_state_dir(c->m, uuid, dir, sizeof(dir));
	remove_dir(dir);
	log_info("destroyed vTPM %s", u);
	reply(c, "{\"ok\":true}");
}

static void do_list(struct ctl_conn *c)
{
	size_t cap = 256 + store_count(c->m->st) * (STORE_CONFIG_MAX + 512), off;
	char *out = malloc(cap);

	if (!out)
		return reply_err(c, "out of memory");
	off = (size_t)snprintf(out, cap, "{\"ok\":true,\"vtpms\":[");
	for (size_t i = 0; i < store_count(c->m->st); i++) {
		if (i)
			out[off++] = ',';
		off += (size_t)json_vtpm(c->m, store_at(c->m->st, i), out + off, cap - off);
	}
	snprintf(out + off, cap - off, "]}");
	reply(c, "%s", out);
	free(out);
}

static void do_show(struct ctl_conn *c, const char *arg)
{
	const struct store_vtpm *v = lookup(c, arg);
	char obj[STORE_CONFIG_MAX + 512];

	if (!v)
		return;
	json_vtpm(c->m, v, obj, sizeof(obj));
	reply(c, "{\"ok\":true,\"vtpm\":%s}", obj);
}

static void do_status(struct ctl_conn *c)
{
	char pcrs[128];
	size_t running = 0;

	for (size_t i = 0; i < store_count(c->m->st); i++)
		running += vtpms_running(c->m, store_at(c->m->st, i)->uuid, NULL);
	hwtpm_pcrsel_format(&c->m->cfg.pcrs, pcrs, sizeof(pcrs));
	reply(c, "{\"ok\":true,\"vtpms\":%zu,\"running\":%zu,\"store_version\":%llu,\"pcrs\":\"%s\","
		 "\"hw_commands\":%llu,\"dev\":%s}",
	      store_count(c->m->st), running, (unsigned long long)store_version(c->m->st), pcrs,
	      (unsigned long long)hwtpm_commands(c->m->hw), c->m->cfg.dev ? "true" : "false");
}

/* reseal [N=HEX ...]: the current values, with the given PCRs replaced by expected ones. */
static void do_reseal(struct ctl_conn *c, char *args)
{
	struct hwtpm_pcrvals expect;
	char *save = NULL;

	if (hwtpm_pcr_read(c->m->hw, &c->m->cfg.pcrs, &expect) < 0)
		return reply_err(c, "cannot read the PCRs");
	for (char *tok = strtok_r(args, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *val = strchr(tok, '='), *end;
		long pcr;

		if (!val)
			return reply_err(c, "reseal takes PCR=HEX arguments");
		*val++ = '\0';
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
	reply(c, "{\"ok\":true,\"file\":\"%s\"}", ROOTKEY_NEXT_FILE);
}

static void dispatch(struct ctl_conn *c, char *line)
{
	char *save = NULL, *cmd = strtok_r(line, " ", &save), *rest = save ? save : (char *)"";
	char *arg = NULL;

	if (!cmd)
		return reply_err(c, "empty request");
	if (!strcmp(cmd, "create"))
		return do_create(c, rest);
	if (!strcmp(cmd, "destroy"))
		return do_destroy(c, rest);
	if (!strcmp(cmd, "reseal"))
		return do_reseal(c, rest);
	arg = strtok_r(NULL, " ", &save);
	if (!strcmp(cmd, "start"))
		return do_start(c, arg);
	if (!strcmp(cmd, "stop"))
		return do_stop(c, arg);
	if (!strcmp(cmd, "show"))
		return do_show(c, arg);
	if (!strcmp(cmd, "list"))
		return do_list(c);
	if (!strcmp(cmd, "status"))
		return do_status(c);
	reply_err(c, "unknown command");
}

static void conn_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct ctl_conn *c = arg;
	uint8_t *dst, *nl;
	ssize_t r;

	(void)loop;
	if (c->waiting) {
		/* the client may only hang up while it waits */
		if (rev & (POLLHUP | POLLERR | EV_READ)) {
			char junk[16];
			if (read(fd, junk, sizeof(junk)) <= 0)
				ev_set_events(c->m->loop, fd, 0);
		}
		return;
	}
	if (rev & EV_TIMEOUT)
		return reply_err(c, "request not complete in time");
	dst = dbuf_reserve(&c->in, CONTROL_LINE_MAX - c->in.len);
	r = dst ? read(fd, dst, CONTROL_LINE_MAX - c->in.len) : -1;
	if (r <= 0) {
		if (r < 0 && errno == EAGAIN)
			return;
		return conn_free(c);
	}
	c->in.len += (size_t)r;
	nl = memchr(c->in.p, '\n', c->in.len);
	if (!nl) {
		if (c->in.len >= CONTROL_LINE_MAX)
			reply_err(c, "request too long");
		return;
	}
	*nl = '\0';
	for (uint8_t *p = c->in.p; p < nl; p++)
		if (*p < 0x20 || *p > 0x7e)
			return reply_err(c, "request must be printable ASCII");
	dispatch(c, (char *)c->in.p);
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
	dbuf_init(&c->in, CONTROL_LINE_MAX);
	if (ev_add(loop, cfd, EV_READ, conn_event, c) < 0) {
		log_err("control: cannot take a connection: %s", strerror(errno));
		close(cfd);
		free(c);
		return;
	}
	ev_set_deadline(loop, cfd, CONTROL_TIMEOUT_MS);
}

int control_open(struct mgr *m)
{
	snprintf(listen_path, sizeof(listen_path), "%s/%s", m->cfg.run_dir, CONTROL_SOCKET);
	listen_fd = sock_listen_unix(listen_path, 0600);
	if (listen_fd < 0 || ev_add(m->loop, listen_fd, EV_READ, accept_event, m) < 0) {
		log_err("cannot open the control socket %s: %s", listen_path, strerror(errno));
		return -1;
	}
	return 0;
}

void control_close(struct mgr *m)
{
	if (listen_fd < 0)
		return;
	ev_del(m->loop, listen_fd);
	close(listen_fd);
	(void)unlink(listen_path);
	listen_fd = -1;
}
