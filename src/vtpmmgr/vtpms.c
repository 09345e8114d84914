/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpms: the launcher: fork and exec of vtpm processes, their channels
 * and their exits. Requests a vtpm sends arrive through lib/tpmback and are
 * answered by keysvc, with the identity of the instance the connection was
 * created for; the device line is parsed by devline. A vtpm's stdout and
 * stderr are one pipe of its own, read here: untrusted bytes, cut into
 * lines of at most VTPMS_OUT_LINE_MAX, escaped, prefixed with the vTPM's
 * UUID and rate-limited into our log. It never holds our log file, which it
 * could truncate or overwrite.
 */
#include "vtpms.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devline.h"
#include "keysvc.h"
#include "log.h"
#include "pidrec.h"
#include "sandbox.h"
#include "sock.h"

#define ARGV_MAX	28
#define STOP_WAIT_MS	5000
#define VTPMS_OUT_LINE_MAX	512	/* bytes of one output line; the rest is cut */
#define VTPMS_OUT_BURST		256	/* output lines at once (a sanitizer report fits) */
#define VTPMS_OUT_PER_S		20	/* ...and then per second */
#define VTPMS_OUT_READS		4	/* reads of 4 KiB per wakeup: others get a turn */
#define VTPMS_OUT_DRAIN		256	/* reads once it exited (1 MiB, a pipe's most) */

struct inst {
	struct mgr *m;
	LIST_ENTRY(inst) link;
	uint8_t uuid[VTPM_UUID_SIZE];
	char name[37];
	char binary[256];	/* for messages */
	bool served;		/* asked for its boot hash: its TPM ran */
	pid_t pid;
	struct tpmback *tb;
	int64_t stop_at;	/* SIGTERM sent; SIGKILL at this time */
	bool killed;
	vtpms_exit_cb exit_cb;	/* someone waits for the exit */
	void *exit_arg;
	vtpms_ready_cb ready_cb;	/* someone waits for it to come up */
	void *ready_arg;
	struct devline dl;		/* its listeners: the socket files go when it exits */
	struct devline_sockfile files[DEVLINE_LISTEN_MAX];
	int out_fd;		/* read end of its stdout+stderr pipe, or -1 */
	size_t out_len;
	bool out_cut;		/* dropping the rest of an overlong line */
	struct log_budget out_budget;
	char out[VTPMS_OUT_LINE_MAX];
	uint8_t rsp[MGRMSG_MAX];
	struct keysvc_peer peer;
};

void vtpms_state_name(const uint8_t uuid[VTPM_UUID_SIZE], char out[VTPMS_STATE_NAME_SIZE])
{
	char u[37];

	store_uuid_format(uuid, u);
	/* exactly VTPMS_STATE_NAME_SIZE - 1 characters: nothing to truncate */
	snprintf(out, VTPMS_STATE_NAME_SIZE, VTPMS_STATE_PARENT "/%s", u);
}

static struct inst *find(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE])
{
	struct inst *i;

	LIST_FOREACH(i, &m->insts, link)
		if (!memcmp(i->uuid, uuid, VTPM_UUID_SIZE))
			return i;
	return NULL;
}

bool vtpms_running(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], pid_t *pid)
{
	struct inst *i = find(m, uuid);

	if (i && pid)
		*pid = i->pid;
	return i != NULL;
}

/* One line of a vtpm's output: every byte outside printable ASCII (and \) escaped. */
static void out_line(struct inst *i, bool cut)
{
	char esc[4 * VTPMS_OUT_LINE_MAX + 1];
	uint64_t dropped = 0;
	size_t k = 0;

	if (!log_budget_take(&i->out_budget, VTPMS_OUT_BURST, VTPMS_OUT_PER_S, &dropped))
		return;
	if (dropped)
		log_warn("vtpm %s output: %llu more lines suppressed", i->name, (unsigned long long)dropped);
	for (size_t j = 0; j < i->out_len; j++) {
		uint8_t c = (uint8_t)i->out[j];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			esc[k++] = (char)c;
		else
			k += (size_t)snprintf(esc + k, sizeof(esc) - k, "\\x%02x", c);
	}
	esc[k] = '\0';
	log_info("vtpm %s output: %s%s", i->name, esc, cut ? " [cut]" : "");
}

static void out_feed(struct inst *i, const uint8_t *p, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		if (p[j] == '\n') {
			if (!i->out_cut)
				out_line(i, false);
			i->out_len = 0;
			i->out_cut = false;
		} else if (!i->out_cut && i->out_len == sizeof(i->out)) {
			out_line(i, true);
			i->out_len = 0;
			i->out_cut = true;
		} else if (!i->out_cut) {
			i->out[i->out_len++] = (char)p[j];
		}
	}
}

/* Reads up to n chunks; false at EOF or on an error other than "nothing now". */
static bool out_read(struct inst *i, int n)
{
	uint8_t buf[4096];

	for (int k = 0; k < n; k++) {
		ssize_t r = read(i->out_fd, buf, sizeof(buf));

		if (r > 0)
			out_feed(i, buf, (size_t)r);
		else if (r == 0 || errno != EINTR)
			return r < 0 && errno == EAGAIN;
	}
	return true;
}

/* Takes what is left (its writer has exited, or it closed the pipe), then closes it. */
static void out_close(struct inst *i)
{
	if (i->out_fd < 0)
		return;
	(void)out_read(i, VTPMS_OUT_DRAIN);
	if (i->out_len > 0 && !i->out_cut)
		out_line(i, false);
	if (i->out_budget.dropped)
		log_warn("vtpm %s output: %llu more lines suppressed", i->name,
			 (unsigned long long)i->out_budget.dropped);
	ev_del(i->m->loop, i->out_fd);
	close(i->out_fd);
	i->out_fd = -1;
}

static void out_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct inst *i = arg;

	(void)loop;
	(void)fd;
	(void)rev;
	if (!out_read(i, VTPMS_OUT_READS))
		out_close(i);
}

static void inst_free(struct inst *i)
{
	out_close(i);
	tpmback_free(i->tb);
	devline_unlink(&i->dl, i->files);
	LIST_REMOVE(i, link);
	explicit_bzero(i->rsp, sizeof(i->rsp));
	free(i);
}

/* Answers one request of the vtpm this connection was made for. */
static void handle(void *arg, const uint8_t *req, size_t len, uint8_t locality, bool bad,
		   const uint8_t **rsp, uint32_t *rsp_len)
{
	struct inst *i = arg;
	bool booted;

	(void)locality;	/* the manager's answers do not depend on it */
	i->peer.booted = false;
	*rsp_len = (uint32_t)keysvc_answer(i->m, i->uuid, i->name, req, len, bad, i->rsp, &i->peer);
	booted = i->peer.booted;
	*rsp = i->rsp;
	if (booted)
		i->served = true;
	/* whoever waits for the start learns it */
	if (booted && i->ready_cb) {
		i->ready_cb(i->ready_arg, true);
		i->ready_cb = NULL;
	}
}

static void closed(void *arg, struct tpmback *tb)
{
	struct inst *i = arg;

	(void)tb;
	i->tb = NULL;	/* freed by tpmback; the process is reaped separately */
}

static const struct tpmback_ops ops = { .handle = handle, .closed = closed };

/* True (err says why) when a running vTPM listens on one of d's socket paths. */
static bool path_in_use(struct mgr *m, const struct devline *d, char *err, size_t errlen)
{
	struct inst *i;

	LIST_FOREACH(i, &m->insts, link) {
		if (devline_share_path(d, &i->dl)) {
			snprintf(err, errlen, "a socket path of its device line is in use by vTPM %s", i->name);
			return true;
		}
	}
	return false;
}

void vtpms_remove_sockets(struct mgr *m, const struct store_vtpm *v)
{
	struct devline d;
	char err[256];

	if (!find(m, v->uuid) && devline_parse(v->config, &d, err, sizeof(err)) == 0 &&
	    !path_in_use(m, &d, err, sizeof(err)))
		devline_unlink(&d, NULL);
}

/* chown of a state directory and the files in it (it holds no subdirectories) */
static int chown_tree(int dfd, uid_t uid)
{
	int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, "..") &&
		    fchownat(dirfd(d), e->d_name, uid, uid, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -1;
	closedir(d);
	return rc;
}

/*
 * In the child: the manager channel becomes fd 3 and the listeners 4...;
 * stdin is /dev/null, stdout and stderr the pipe `out`; every other
 * descriptor is closed; then exec. Never returns.
 */
static void exec_child(const char **argv, int channel, const int *lfds, int n,
		       const struct store_vtpm *v, int statefd, pid_t manager, uint64_t state_max,
		       int out)
{
	int fds[1 + DEVLINE_LISTEN_MAX + 1], binfd, null;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/*
	 * Opened as root: the vtpm's own uid may not traverse the directories
	 * above it (a build tree in a 0700 home), and it is exec'd by descriptor.
	 */
	binfd = open(argv[0], O_RDONLY | O_CLOEXEC);
	if (binfd < 0)
		_exit(VTPMS_EXIT_NOEXEC);
	binfd = fcntl(binfd, F_DUPFD_CLOEXEC, 64);
	/* move everything above the targets first, so no dup2 overwrites a source */
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	null = null < 0 ? -1 : fcntl(null, F_DUPFD_CLOEXEC, 64);
	out = fcntl(out, F_DUPFD_CLOEXEC, 64);
	fds[0] = fcntl(channel, F_DUPFD, 64);
	for (int k = 0; k < n; k++)
		fds[1 + k] = fcntl(lfds[k], F_DUPFD, 64);
	fds[1 + n] = fcntl(statefd, F_DUPFD, 64);
	for (int k = 0; k <= n + 1; k++)
		if (fds[k] < 0 || dup2(fds[k], VTPMS_CHANNEL_FD + k) < 0)
			_exit(VTPMS_EXIT_NOEXEC);
	/* from here on a message of ours would go to the pipe, not the log: exit codes only */
	if (null < 0 || out < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
	    dup2(out, STDERR_FILENO) < 0)
		_exit(VTPMS_EXIT_NOEXEC);
	/* the binary's descriptor goes just above, close-on-exec */
	int exe = VTPMS_CHANNEL_FD + 2 + n;
	if (binfd < 0 || dup3(binfd, exe, O_CLOEXEC) < 0)
		_exit(VTPMS_EXIT_NOEXEC);
	close_range((unsigned)exe + 1, ~0u, 0);
	if (sandbox_apply(v->uid, v->uid, VTPMS_CHANNEL_FD + 1 + n, exe, manager,
			  state_max) < 0)
		_exit(VTPMS_EXIT_SANDBOX);
	fexecve(exe, (char *const *)argv, environ);
	_exit(VTPMS_EXIT_NOEXEC);
}

/* A vtpm's command line; the strings it points into live beside it. */
struct launch {
	const char *argv[ARGV_MAX];
	char buf[2048], dirarg[96], flags[48], maxconn[16];
};

static int build_argv(const struct mgr *m, const struct store_vtpm *v, const struct devline *d,
		      const char *name, struct launch *l)
{
	const char **argv = l->argv;
	int argc = 0;

	argv[argc++] = d->binary[0] ? d->binary : m->cfg.vtpm_binary;
	argv[argc++] = "serve";
	argv[argc++] = v->tpm2 ? "--tpm2" : "--tpm1.2";
	/* the state directory is handed in too: the vtpm needs no path to it */
	snprintf(l->dirarg, sizeof(l->dirarg), "dirfd=%d,max-size=%llu", VTPMS_CHANNEL_FD + 1 + d->n,
		 (unsigned long long)m->cfg.state_max);
	argv[argc++] = "--tpmstate";
	argv[argc++] = l->dirarg;
	argv[argc++] = "--manager";
	argv[argc++] = "fd=3";
	argv[argc++] = "--name";
	argv[argc++] = name;
	snprintf(l->maxconn, sizeof(l->maxconn), "%u", m->cfg.vtpm_max_connections);
	argv[argc++] = "--max-connections";
	argv[argc++] = l->maxconn;
	if (devline_args(d, VTPMS_CHANNEL_FD + 1, argv, &argc, ARGV_MAX, l->buf, sizeof(l->buf)) < 0) {
		log_err("vtpm %s: too many options", name);
		errno = EINVAL;
		return -1;
	}
	if (d->flags[0]) {
		snprintf(l->flags, sizeof(l->flags), "not-need-init,%s", d->flags);
		argv[argc++] = "--flags";
		argv[argc++] = l->flags;
	}
	argv[argc] = NULL;
	return 0;
}

/* The state directory, its files given to the vtpm's own uid: its descriptor, or -1. */
static int open_state_dir(const struct mgr *m, const struct store_vtpm *v, const char *name)
{
	char dir[VTPMS_STATE_NAME_SIZE];
	int statefd = -1;

	vtpms_state_name(v->uuid, dir);
	if ((mkdirat(m->datafd, dir, 0700) < 0 && errno != EEXIST) ||
	    (statefd = openat(m->datafd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    chown_tree(statefd, v->uid) < 0) {
		log_err("vtpm %s: cannot prepare %s/%s: %s", name, m->cfg.data_dir, dir, strerror(errno));
		if (statefd >= 0)
			close(statefd);
		return -1;
	}
	return statefd;
}

/*
 * Forks the vtpm of v with its channel, listeners, state directory and an
 * output pipe: its pid, with our ends of the channel and the pipe in *chan
 * and *outfd, or -1.
 */
static pid_t spawn(const struct mgr *m, const struct store_vtpm *v, struct launch *l,
		   const int *lfds, int n, int statefd, int *chan, int *outfd)
{
	int sv[2], out[2];
	pid_t manager = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* its output: only the read end is non-blocking (pipe2's flags would set both) */
	if (pipe2(out, O_CLOEXEC) < 0)
		goto fail_sv;
	if (sock_set_nonblock(out[0]) < 0)
		goto fail_out;
	pid = fork();
	if (pid < 0)
		goto fail_out;
	if (pid == 0)
		exec_child(l->argv, sv[1], lfds, n, v, statefd, manager, m->cfg.state_max, out[1]);
	close(out[1]);
	close(sv[1]);
	*chan = sv[0];
	*outfd = out[0];
	return pid;
fail_out:
	close(out[0]);
	close(out[1]);
fail_sv:
	close(sv[0]);
	close(sv[1]);
	return -1;
}

int vtpms_start(struct mgr *m, const struct store_vtpm *v, vtpms_ready_cb cb, void *arg)
{
	char err[256], name[37];
	int chan, lfds[DEVLINE_LISTEN_MAX], statefd;
	struct devline_sockfile files[DEVLINE_LISTEN_MAX];
	struct launch l;
	struct devline d;
	struct inst *i;
	pid_t pid;

	if (find(m, v->uuid)) {
		errno = EALREADY;
		return -1;
	}
	store_uuid_format(v->uuid, name);
	if (devline_parse(v->config, &d, err, sizeof(err)) < 0 || path_in_use(m, &d, err, sizeof(err))) {
		log_err("vtpm %s: %s", name, err);
		errno = EINVAL;
		return -1;
	}
	if (build_argv(m, v, &d, name, &l) < 0)
		return -1;
	statefd = open_state_dir(m, v, name);
	if (statefd < 0)
		return -1;
	/* the manager opens the listeners: the vtpm never needs to create a socket */
	if (devline_listen(&d, lfds, files, err, sizeof(err)) < 0) {
		log_err("vtpm %s: %s", name, err);
		close(statefd);
		return -1;
	}
	if (devline_has_tcp(&d))
		log_warn("vtpm %s: insecure-tcp: its TCP endpoints on 127.0.0.1 are open to every "
			 "local user", name);
	i = calloc(1, sizeof(*i));
	pid = i ? spawn(m, v, &l, lfds, d.n, statefd, &chan, &i->out_fd) : -1;
	close(statefd);
	for (int k = 0; k < d.n; k++)
		close(lfds[k]);
	if (pid < 0) {
		free(i);
		devline_unlink(&d, files);
		return -1;
	}
	i->m = m;
	i->pid = pid;
	i->ready_cb = cb;
	i->ready_arg = arg;
	memcpy(i->uuid, v->uuid, VTPM_UUID_SIZE);
	memcpy(i->name, name, sizeof(i->name));
	snprintf(i->binary, sizeof(i->binary), "%s", l.argv[0]);
	i->dl = d;
	memcpy(i->files, files, sizeof(i->files));
	i->tb = tpmback_new(m->loop, chan, &ops, i);
	LIST_INSERT_HEAD(&m->insts, i, link);
	if (ev_add(m->loop, i->out_fd, EV_READ, out_event, i) < 0) {
		close(i->out_fd);	/* its writes then fail with EPIPE: lines lost, nothing else */
		i->out_fd = -1;
	}
	if (!i->tb) {
		log_err("vtpm %s: cannot set up its channel", name);
		kill(pid, SIGKILL);
		return -1;
	}
	/* found by the next manager should this one die and the vtpm not */
	if (pidrec_add(m->datafd, name, pid, v->uid) < 0)
		log_warn("vtpm %s: cannot record pid %d: %s", name, (int)pid, strerror(errno));
	log_info("vtpm %s started (pid %d)", name, (int)pid);
	return 0;
}

/* Why a vtpm that never served ended with one of the launcher's own codes, or NULL. */
static const char *exec_failure(const struct inst *i, int status)
{
	if (i->served || !WIFEXITED(status))
		return NULL;
	if (WEXITSTATUS(status) == VTPMS_EXIT_SANDBOX)
		return "its sandbox could not be set up";
	if (WEXITSTATUS(status) == VTPMS_EXIT_NOEXEC)
		return "missing, not executable, or its loader failed";
	return NULL;
}

static void report_exit(struct inst *i, int status)
{
	const char *why = exec_failure(i, status);

	if (why)
		log_err("vtpm %s: cannot execute %s: %s", i->name, i->binary, why);
	if (WIFSIGNALED(status))
		log_err("vtpm %s (pid %d) crashed: signal %d", i->name, (int)i->pid, WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		log_err("vtpm %s (pid %d) exited with status %d", i->name, (int)i->pid,
			WEXITSTATUS(status));
	else
		log_info("vtpm %s (pid %d) stopped", i->name, (int)i->pid);
}

void vtpms_reap(struct mgr *m)
{
	struct inst *i;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->dev_pid) {
			log_err("the software stand-in TPM exited: no TPM any more");
			m->dev_pid = 0;
			continue;
		}
		LIST_FOREACH(i, &m->insts, link) {
			if (i->pid == pid) {
				out_close(i);	/* its last words (a crash report) before ours */
				report_exit(i, status);
				pidrec_drop(m->datafd, i->name);
				if (i->exit_cb)
					i->exit_cb(i->exit_arg, status);
				if (i->ready_cb)
					i->ready_cb(i->ready_arg, false);
				inst_free(i);
				break;
			}
		}
	}
}

int vtpms_stop(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], vtpms_exit_cb cb, void *arg)
{
	struct inst *i = find(m, uuid);

	if (!i) {
		errno = ESRCH;
		return -1;
	}
	/*
	 * SIGTERM only: the vtpm sends its automatic TPM2_Shutdown and records
	 * that last state through us, so the event loop keeps serving it; the
	 * exit is seen by vtpms_reap, and vtpms_tick kills a vtpm that lingers.
	 */
	if (!i->stop_at) {
		i->stop_at = ev_now_ms() + STOP_WAIT_MS;
		kill(i->pid, SIGTERM);
	}
	i->exit_cb = cb;
	i->exit_arg = arg;
	return 0;
}

bool vtpms_tick(struct mgr *m)
{
	int64_t now = ev_now_ms();
	bool stopping = false;
	struct inst *i;

	LIST_FOREACH(i, &m->insts, link) {
		if (!i->stop_at)
			continue;
		stopping = true;
		if (now >= i->stop_at && !i->killed) {
			log_warn("vtpm %s did not stop in time; killing it", i->name);
			kill(i->pid, SIGKILL);
			i->killed = true;
		}
	}
	return stopping;
}

void vtpms_stop_all(struct mgr *m)
{
	struct inst *i;

	LIST_FOREACH(i, &m->insts, link)
		(void)vtpms_stop(m, i->uuid, NULL, NULL);
}

bool vtpms_any(const struct mgr *m)
{
	return !LIST_EMPTY(&m->insts);
}
