/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpms: the launcher: fork and exec of vtpm processes, their channels
 * and their exits. Requests a vtpm sends arrive through lib/tpmback and are
 * answered by keysvc, with the identity of the instance the connection was
 * created for; the device line is parsed by devline.
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
#include "sandbox.h"
#include "sock.h"

#define ARGV_MAX	24
#define STOP_WAIT_MS	5000

struct inst {
	struct mgr *m;
	struct inst *prev, *next;
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
	uint8_t rsp[MGRMSG_MAX];
	struct keysvc_peer peer;
};

void vtpms_state_dir(const struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE], char *out, size_t n)
{
	char u[37];

	store_uuid_format(uuid, u);
	snprintf(out, n, "%s/vtpm/%s", m->cfg.data_dir, u);
}

static struct inst *find(struct mgr *m, const uint8_t uuid[VTPM_UUID_SIZE])
{
	for (struct inst *i = m->insts; i; i = i->next)
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

static void inst_free(struct inst *i)
{
	struct mgr *m = i->m;

	tpmback_free(i->tb);
	if (i->prev)
		i->prev->next = i->next;
	else
		m->insts = i->next;
	if (i->next)
		i->next->prev = i->prev;
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

/* chown of a state directory and the files in it (it holds no subdirectories) */
static int chown_tree(const char *dir, uid_t uid)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, "..") &&
		    fchownat(dirfd(d), e->d_name, uid, uid, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -1;
	closedir(d);
	return rc;
}

/*
 * In the child: the manager channel becomes fd 3 and the listeners 4...;
 * every other descriptor but stdio is closed; then exec. Never returns.
 */
static void exec_child(const char **argv, int channel, const int *lfds, int n,
		       const struct store_vtpm *v, int statefd, pid_t manager)
{
	int fds[1 + DEVLINE_LISTEN_MAX + 1], binfd;
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
	fds[0] = fcntl(channel, F_DUPFD, 64);
	for (int k = 0; k < n; k++)
		fds[1 + k] = fcntl(lfds[k], F_DUPFD, 64);
	fds[1 + n] = fcntl(statefd, F_DUPFD, 64);
	for (int k = 0; k <= n + 1; k++)
		if (fds[k] < 0 || dup2(fds[k], VTPMS_CHANNEL_FD + k) < 0)
			_exit(VTPMS_EXIT_NOEXEC);
	/* the binary's descriptor goes just above, close-on-exec */
	int exe = VTPMS_CHANNEL_FD + 2 + n;
	if (binfd < 0 || dup3(binfd, exe, O_CLOEXEC) < 0)
		_exit(VTPMS_EXIT_NOEXEC);
	close_range((unsigned)exe + 1, ~0u, 0);
	if (sandbox_apply(v->uid, v->uid, VTPMS_CHANNEL_FD + 1 + n, exe, manager) < 0)
		_exit(VTPMS_EXIT_SANDBOX);
	fexecve(exe, (char *const *)argv, environ);
	_exit(VTPMS_EXIT_NOEXEC);
}

int vtpms_start(struct mgr *m, const struct store_vtpm *v, vtpms_ready_cb cb, void *arg)
{
	const char *argv[ARGV_MAX];
	char buf[2048], dir[4096], dirarg[64], err[256], name[37];
	int argc = 0, sv[2], lfds[DEVLINE_LISTEN_MAX], statefd = -1;
	struct devline d;
	struct inst *i;
	pid_t pid;

	if (find(m, v->uuid)) {
		errno = EALREADY;
		return -1;
	}
	store_uuid_format(v->uuid, name);
	vtpms_state_dir(m, v->uuid, dir, sizeof(dir));
	if (devline_parse(v->config, &d, err, sizeof(err)) < 0) {
		log_err("vtpm %s: %s", name, err);
		errno = EINVAL;
		return -1;
	}
	argv[argc++] = d.binary[0] ? d.binary : m->cfg.vtpm_binary;
	argv[argc++] = "serve";
	argv[argc++] = v->tpm2 ? "--tpm2" : "--tpm1.2";
	/* the state directory is handed in too: the vtpm needs no path to it */
	snprintf(dirarg, sizeof(dirarg), "dirfd=%d", VTPMS_CHANNEL_FD + 1 + d.n);
	argv[argc++] = "--tpmstate";
	argv[argc++] = dirarg;
	argv[argc++] = "--manager";
	argv[argc++] = "fd=3";
	argv[argc++] = "--name";
	argv[argc++] = name;
	if (devline_args(&d, VTPMS_CHANNEL_FD + 1, argv, &argc, ARGV_MAX, buf, sizeof(buf)) < 0) {
		log_err("vtpm %s: too many options", name);
		errno = EINVAL;
		return -1;
	}
	if (d.flags[0]) {
		static char flags[48];
		snprintf(flags, sizeof(flags), "not-need-init,%s", d.flags);
		argv[argc++] = "--flags";
		argv[argc++] = flags;
	}
	argv[argc] = NULL;
	/* the state directory and its files belong to the vtpm's own uid */
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || chown_tree(dir, v->uid) < 0) {
		log_err("vtpm %s: cannot prepare %s: %s", name, dir, strerror(errno));
		return -1;
	}
	statefd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (statefd < 0)
		return -1;
	/* the manager opens the listeners: the vtpm never needs to create a socket */
	if (devline_listen(&d, lfds) < 0) {
		close(statefd);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail_lfds;
	i = calloc(1, sizeof(*i));
	if (!i)
		goto fail_sv;
	pid_t manager = getpid();
	pid = fork();
	if (pid < 0) {
		free(i);
		goto fail_sv;
	}
	if (pid == 0)
		exec_child(argv, sv[1], lfds, d.n, v, statefd, manager);
	close(sv[1]);
	close(statefd);
	for (int k = 0; k < d.n; k++)
		close(lfds[k]);
	i->m = m;
	i->pid = pid;
	i->ready_cb = cb;
	i->ready_arg = arg;
	memcpy(i->uuid, v->uuid, VTPM_UUID_SIZE);
	memcpy(i->name, name, sizeof(i->name));
	snprintf(i->binary, sizeof(i->binary), "%s", argv[0]);
	i->tb = tpmback_new(m->loop, sv[0], &ops, i);
	i->next = m->insts;
	if (m->insts)
		m->insts->prev = i;
	m->insts = i;
	if (!i->tb) {
		log_err("vtpm %s: cannot set up its channel", name);
		kill(pid, SIGKILL);
		return -1;
	}
	log_info("vtpm %s started (pid %d)", name, (int)pid);
	return 0;
fail_sv:
	close(sv[0]);
	close(sv[1]);
fail_lfds:
	for (int k = 0; k < d.n; k++)
		close(lfds[k]);
	close(statefd);
	return -1;
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
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == m->dev_pid) {
			log_err("the software stand-in TPM exited: no TPM any more");
			m->dev_pid = 0;
			continue;
		}
		for (struct inst *i = m->insts; i; i = i->next) {
			if (i->pid == pid) {
				report_exit(i, status);
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

	for (struct inst *i = m->insts; i; i = i->next) {
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
	for (struct inst *i = m->insts; i; i = i->next)
		(void)vtpms_stop(m, i->uuid, NULL, NULL);
}

bool vtpms_any(const struct mgr *m)
{
	return m->insts != NULL;
}
