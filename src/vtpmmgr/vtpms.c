/*
 * vtpms: fork and exec of vtpm processes, their requests to the manager,
 * and their exits. Requests arrive through lib/tpmback from a vtpm, which
 * may be compromised: lib/mgrmsg checks them, and the identity used is the
 * instance the connection was created for.
 */
#include "vtpms.h"

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

static bool safe_port(const char *p)
{
	char *end;
	long v = strtol(p, &end, 10);

	return *p && !*end && v > 0 && v < 65535;
}

/*
 * Turns the device line into vtpm options (appended to argv, strings in
 * buf). Returns 0, or -1 with a message in err.
 */
static int device_args(const char *config, const char **argv, int *argc, char *buf, size_t buflen,
		       char *err, size_t errlen)
{
	char copy[STORE_CONFIG_MAX + 1], *save = NULL;
	size_t used = 0;

	snprintf(copy, sizeof(copy), "%s", config);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '='), arg[160];
		const char *opt;

		if (!val) {
			snprintf(err, errlen, "device setting '%s' is not key=value", tok);
			return -1;
		}
		*val++ = '\0';
		if ((!strcmp(tok, "server") || !strcmp(tok, "ctrl")) && !strncmp(val, "unix:", 5) &&
		    safe_path(val + 5)) {
			snprintf(arg, sizeof(arg), "type=unixio,path=%s,mode=0660", val + 5);
			opt = !strcmp(tok, "server") ? "--server" : "--ctrl";
		} else if ((!strcmp(tok, "server") || !strcmp(tok, "ctrl")) && !strncmp(val, "tcp:", 4) &&
			   safe_port(val + 4)) {
			snprintf(arg, sizeof(arg), "type=tcp,port=%s", val + 4);
			opt = !strcmp(tok, "server") ? "--server" : "--ctrl";
		} else if (!strcmp(tok, "tpmif") && safe_path(val)) {
			snprintf(arg, sizeof(arg), "path=%s,mode=0660", val);
			opt = "--tpmif";
		} else if (!strcmp(tok, "mssim") && safe_port(val)) {
			snprintf(arg, sizeof(arg), "port=%s", val);
			opt = "--mssim";
		} else if (!strcmp(tok, "flags") &&
			   (!strcmp(val, "startup-clear") || !strcmp(val, "startup-state") ||
			    !strcmp(val, "startup-none"))) {
			snprintf(arg, sizeof(arg), "not-need-init,%s", val);
			opt = "--flags";
		} else {
			snprintf(err, errlen, "bad device setting %s=%s (server|ctrl=unix:/path|tcp:port, "
				 "tpmif=/path, mssim=port, flags=startup-clear|startup-state|startup-none)",
				 tok, val);
			return -1;
		}
		if (*argc + 2 >= ARGV_MAX || used + strlen(arg) + 1 > buflen) {
			snprintf(err, errlen, "too many device settings");
			return -1;
		}
		argv[(*argc)++] = opt;
		argv[(*argc)++] = strcpy(buf + used, arg);
		used += strlen(arg) + 1;
	}
	return 0;
}

int vtpms_check_config(const char *config, char *err, size_t errlen)
{
	const char *argv[ARGV_MAX];
	char buf[2048];
	int argc = 0;

	return device_args(config, argv, &argc, buf, sizeof(buf), err, errlen);
}

int vtpms_start(struct mgr *m, const struct store_vtpm *v)
{
	const char *argv[ARGV_MAX];
	char buf[2048], dir[4096], dirarg[4200], err[256], name[37];
	int argc = 0, sv[2];
	struct inst *i;
	pid_t pid;

	if (find(m, v->uuid)) {
		errno = EALREADY;
		return -1;
	}
	store_uuid_format(v->uuid, name);
	vtpms_state_dir(m, v->uuid, dir, sizeof(dir));
	snprintf(dirarg, sizeof(dirarg), "dir=%s", dir);
	argv[argc++] = m->cfg.vtpm_binary;
	argv[argc++] = "serve";
	argv[argc++] = v->tpm2 ? "--tpm2" : "--tpm1.2";
	argv[argc++] = "--tpmstate";
	argv[argc++] = dirarg;
	argv[argc++] = "--manager";
	argv[argc++] = "fd=3";
	argv[argc++] = "--name";
	argv[argc++] = name;
	if (device_args(v->config, argv, &argc, buf, sizeof(buf), err, sizeof(err)) < 0) {
		log_err("vtpm %s: %s", name, err);
		errno = EINVAL;
		return -1;
	}
	argv[argc] = NULL;
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	i = calloc(1, sizeof(*i));
	if (!i) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		free(i);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* the channel is fd 3; every other descriptor but stdio is closed */
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (sv[1] == VTPMS_CHANNEL_FD)
			(void)fcntl(sv[1], F_SETFD, 0);
		else if (dup2(sv[1], VTPMS_CHANNEL_FD) < 0)
			_exit(127);
		close_range(VTPMS_CHANNEL_FD + 1, ~0u, 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	i->m = m;
	i->pid = pid;
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
