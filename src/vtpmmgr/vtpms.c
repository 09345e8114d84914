/*
 * vtpms: fork and exec of vtpm processes, their requests to the manager,
 * and their exits. Requests arrive through lib/tpmback from a vtpm, which
 * may be compromised: lib/mgrmsg checks them, and the identity used is the
 * instance the connection was created for.
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
	pid_t pid;
	struct tpmback *tb;
	int64_t stop_at;	/* SIGTERM sent; SIGKILL at this time */
	bool killed;
	vtpms_exit_cb exit_cb;	/* someone waits for the exit */
	void *exit_arg;
	vtpms_ready_cb ready_cb;	/* someone waits for it to come up */
	void *ready_arg;
	uint8_t rsp[MGRMSG_MAX];
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
	struct mgr_request r;
	struct mgr_response out = { .result = VTPM_INVALID_REQUEST };
	const struct store_vtpm *v;
	long n;

	(void)locality;	/* the manager's answers do not depend on it */
	if (bad || mgrmsg_parse_request(req, len, &r, &out.result) < 0) {
		log_warn("vtpm %s sent a malformed request", i->name);
		r.ordinal = 0;
		goto reply;
	}
	v = store_find(i->m->st, i->uuid);
	if (!v) {
		out.result = VTPM_FORBIDDEN;	/* destroyed while running */
		goto reply;
	}
	switch (r.ordinal) {
	case VTPM_ORD_SAVEHASHKEY:
		if (store_put_record(i->m->st, i->uuid, r.type, &r.rec) == 0)
			out.result = VTPM_SUCCESS;
		else
			out.result = errno == ERANGE ? VTPM_INVALID_REQUEST : VTPM_FAIL;
		if (out.result != VTPM_SUCCESS)
			log_err("vtpm %s: state record not kept (%s)", i->name, strerror(errno));
		break;
	case VTPM_ORD_LOADHASHKEY:
		out.rec = v->rec[r.type - 1];
		memcpy(out.uuid, i->uuid, VTPM_UUID_SIZE);
		out.result = VTPM_SUCCESS;
		break;
	case VTPM_ORD_GET_BOOT_HASH:
		memcpy(out.hash, i->m->vtpm_hash, sizeof(out.hash));
		out.result = VTPM_SUCCESS;
		/* asked once the vtpm's TPM runs: whoever waits for the start learns it */
		if (i->ready_cb) {
			i->ready_cb(i->ready_arg, true);
			i->ready_cb = NULL;
		}
		break;
	default:
		out.result = VTPM_UNSUPPORTED;
		break;
	}
reply:
	n = mgrmsg_response(i->rsp, r.ordinal, &out);
	explicit_bzero(&out, sizeof(out));
	explicit_bzero(&r, sizeof(r));
	*rsp = i->rsp;
	*rsp_len = n > 0 ? (uint32_t)n : 0;
}

static void closed(void *arg, struct tpmback *tb)
{
	struct inst *i = arg;

	(void)tb;
	i->tb = NULL;	/* freed by tpmback; the process is reaped separately */
}

static const struct tpmback_ops ops = { .handle = handle, .closed = closed };

/* A path or port value from a device line: absolute path of safe characters, or a number. */
static bool safe_path(const char *p)
{
	if (*p != '/' || strlen(p) > 100)
		return false;
	for (; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '/' || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

static int safe_port(const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);

	return *p && !*end && v > 0 && v < 65535 ? (int)v : 0;
}

/* One listener of a device line; the manager opens it, the vtpm inherits it. */
struct listen_spec {
	const char *opt;	/* vtpm option taking it: --server, --ctrl, --tpmif, --mssim */
	char path[128];		/* unix socket path, or "" for TCP */
	int port;
};

struct device {
	struct listen_spec l[5];	/* server, ctrl, tpmif, mssim command, mssim platform */
	int n;
	char flags[32];			/* "startup-clear" ..., or "" */
	char binary[128];		/* another vtpm executable (canary, tests), or "" */
};

static int parse_device(const char *config, struct device *d, char *err, size_t errlen)
{
	char copy[STORE_CONFIG_MAX + 1], *save = NULL;

	memset(d, 0, sizeof(*d));
	snprintf(copy, sizeof(copy), "%s", config);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '=');
		struct listen_spec *l = &d->l[d->n];

		if (!val) {
			snprintf(err, errlen, "device setting '%s' is not key=value", tok);
			return -1;
		}
		*val++ = '\0';
		if (d->n >= 4)
			goto bad;
		if (!strcmp(tok, "server") || !strcmp(tok, "ctrl")) {
			l->opt = !strcmp(tok, "server") ? "--server" : "--ctrl";
			if (!strncmp(val, "unix:", 5) && safe_path(val + 5))
				snprintf(l->path, sizeof(l->path), "%s", val + 5);
			else if (!strncmp(val, "tcp:", 4) && safe_port(val + 4))
				l->port = safe_port(val + 4);
			else
				goto bad;
			d->n++;
		} else if (!strcmp(tok, "tpmif") && safe_path(val)) {
			l->opt = "--tpmif";
			snprintf(l->path, sizeof(l->path), "%s", val);
			d->n++;
		} else if (!strcmp(tok, "mssim") && safe_port(val)) {
			l->opt = "--mssim";
			l->port = safe_port(val);
			l[1] = *l;
			l[1].port++;
			d->n += 2;
		} else if (!strcmp(tok, "binary") && safe_path(val)) {
			snprintf(d->binary, sizeof(d->binary), "%s", val);
		} else if (!strcmp(tok, "flags") &&
			   (!strcmp(val, "startup-clear") || !strcmp(val, "startup-state") ||
			    !strcmp(val, "startup-none"))) {
			snprintf(d->flags, sizeof(d->flags), "%s", val);
		} else {
			goto bad;
		}
		continue;
bad:
		snprintf(err, errlen, "bad device setting %s=%s (server|ctrl=unix:/path|tcp:port, "
			 "tpmif=/path, mssim=port, flags=startup-clear|startup-state|startup-none, "
			 "binary=/path; "
			 "at most four listeners)", tok, val);
		return -1;
	}
	return 0;
}

int vtpms_check_config(const char *config, char *err, size_t errlen)
{
	struct device d;

	return parse_device(config, &d, err, errlen);
}

/* Opens the listeners of d as lfds[] (the caller closes them). */
static int open_listeners(const struct device *d, int *lfds)
{
	for (int k = 0; k < d->n; k++) {
		lfds[k] = d->l[k].path[0] ? sock_listen_unix(d->l[k].path, 0660)
					  : sock_listen_tcp(NULL, d->l[k].port);
		if (lfds[k] < 0) {
			log_err("cannot listen on %s%s (port %d): %s", d->l[k].path,
				d->l[k].path[0] ? "" : "127.0.0.1", d->l[k].port, strerror(errno));
			while (k-- > 0)
				close(lfds[k]);
			return -1;
		}
	}
	return 0;
}

/* The vtpm options naming the inherited listeners: descriptor first + k. */
static int listener_args(const struct device *d, int first, const char **argv, int *argc,
			 char *buf, size_t buflen)
{
	size_t used = 0;

	for (int k = 0; k < d->n; k++) {
		char arg[64];
		const char *type = d->l[k].path[0] ? "unixio" : "tcp";

		if (!strcmp(d->l[k].opt, "--tpmif"))
			snprintf(arg, sizeof(arg), "fd=%d", first + k);
		else if (!strcmp(d->l[k].opt, "--mssim"))
			snprintf(arg, sizeof(arg), "cmdfd=%d,platfd=%d", first + k, first + k + 1);
		else
			snprintf(arg, sizeof(arg), "type=%s,fd=%d", type, first + k);
		if (*argc + 2 >= ARGV_MAX || used + strlen(arg) + 1 > buflen)
			return -1;
		argv[(*argc)++] = d->l[k].opt;
		argv[(*argc)++] = strcpy(buf + used, arg);
		used += strlen(arg) + 1;
		if (!strcmp(d->l[k].opt, "--mssim"))
			k++;	/* the platform port went with it */
	}
	return 0;
}

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
	int fds[1 + 5 + 1];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* move everything above the targets first, so no dup2 overwrites a source */
	fds[0] = fcntl(channel, F_DUPFD, 64);
	for (int k = 0; k < n; k++)
		fds[1 + k] = fcntl(lfds[k], F_DUPFD, 64);
	fds[1 + n] = fcntl(statefd, F_DUPFD, 64);
	for (int k = 0; k <= n + 1; k++)
		if (fds[k] < 0 || dup2(fds[k], VTPMS_CHANNEL_FD + k) < 0)
			_exit(127);
	close_range(VTPMS_CHANNEL_FD + 2 + (unsigned)n, ~0u, 0);
	if (sandbox_apply(v->uid, v->uid, VTPMS_CHANNEL_FD + 1 + n, argv[0], manager) < 0)
		_exit(126);
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

int vtpms_start(struct mgr *m, const struct store_vtpm *v, vtpms_ready_cb cb, void *arg)
{
	const char *argv[ARGV_MAX];
	char buf[2048], dir[4096], dirarg[64], err[256], name[37];
	int argc = 0, sv[2], lfds[5], statefd = -1;
	struct device d;
	struct inst *i;
	pid_t pid;

	if (find(m, v->uuid)) {
		errno = EALREADY;
		return -1;
	}
	store_uuid_format(v->uuid, name);
	vtpms_state_dir(m, v->uuid, dir, sizeof(dir));
	if (parse_device(v->config, &d, err, sizeof(err)) < 0) {
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
	if (listener_args(&d, VTPMS_CHANNEL_FD + 1, argv, &argc, buf, sizeof(buf)) < 0) {
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
	if (open_listeners(&d, lfds) < 0) {
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

static void report_exit(struct inst *i, int status)
{
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
