/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpm: one virtual TPM, one process. Parses the command line, opens and
 * locks the state directory, powers the TPM on when told to, opens the
 * endpoints, writes the pid file once they are ready, and serves until told
 * to stop, powering the TPM off with an orderly TPM2_Shutdown on the way out.
 * Confined from there on: under vtpmmgr by the sandbox it arrives in (and
 * no exec); alone, by the same seccomp allow-list once its listeners are
 * open (--seccomp). Never dumpable: its memory holds the TPM's secrets.
 */
#include <errno.h>
#include <fcntl.h>
#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctrl.h"
#include "engine.h"
#include "keeper.h"
#include "log.h"
#include "nv.h"
#include "opts.h"
#include "server.h"
#include "vtpmfilter.h"

#ifndef VTPM_VERSION
#define VTPM_VERSION "0.1.0"
#endif

/*
 * Sanitizer builds. Inside vtpmmgr's sandbox the runtime cannot read
 * ASAN_OPTIONS (it reads /proc/self/environ, which Landlock hides), and
 * LeakSanitizer's exit-time check needs clone, ptrace and /proc/self/task,
 * which the sandbox refuses: every clean stop would end in SIGSYS. Nor may
 * it start llvm-symbolizer (pipe2, fork, exec): a report would end there,
 * in SIGSYS, so its frames are left as module+offset (symbolize=0; resolve
 * them with llvm-symbolizer afterwards). These defaults apply there;
 * outside, ASAN_OPTIONS overrides them as usual. A SEGV is ASan's to
 * report (handle_segv stays on): the report reaches the manager's log
 * through the vtpm's output pipe, where the tests find it.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VTPM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define VTPM_ASAN 1
#endif
#ifdef VTPM_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0:symbolize=0";
}
#endif

static void print_capabilities(bool tpm2)
{
	(void)tpm2;
	/* feature names are swtpm's where the feature is the same */
	printf("{ \"type\": \"vtpm\", \"features\": [ \"tpm-1.2\", \"tpm-2.0\", "
	       "\"tpm-send-command-header\", \"flags-opt-startup\", \"nvram-backend-dir\", "
	       "\"mssim\", \"ctrl-lock-storage\", \"auto-shutdown\", \"cmdarg-seccomp\" ], \"version\": \"%s\" }\n",
	       VTPM_VERSION);
}

/*
 * Under vtpmmgr the process arrives sandboxed; the manager's filter still
 * allowed the execve that started us. From here on there is none.
 */
static int forbid_exec(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = -1;

	if (ctx && seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execve), 0) == 0 &&
	    seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(execveat), 0) == 0 &&
	    (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0) && seccomp_load(ctx) == 0)
		rc = 0;
	seccomp_release(ctx);
	return rc;
}

/*
 * Standalone: the allow-list a managed vtpm gets (lib/vtpmfilter), once the
 * listeners are open, so the socket calls it refuses are behind us. The
 * sanitizer build logs instead of killing by default: LeakSanitizer's
 * exit-time check needs clone, ptrace and prctl, which the list refuses.
 */
static int confine(enum opts_seccomp action)
{
	uint32_t deflt = action == OPTS_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
	scmp_filter_ctx ctx;
	int rc = -1;

#ifdef VTPM_ASAN
	deflt = SCMP_ACT_LOG;
#endif
	if (action == OPTS_SECCOMP_NONE)
		return 0;
	ctx = seccomp_init(deflt);
	if (ctx && vtpmfilter_add(ctx) == 0 && seccomp_load(ctx) == 0)
		rc = 0;
	seccomp_release(ctx);
	/* exec stays forbidden whatever the action: the list lets the loader's execve through */
	if (rc < 0 || forbid_exec() < 0) {
		log_err("cannot install the seccomp filter: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int write_pid(const struct opts *o)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	int fd = o->pid_fd;

	if (o->pid_file) {
		/* temp file + rename: a reader never sees a partial pid */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", o->pid_file);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) < 0 ||
		    rename(tmp, o->pid_file) < 0) {
			fprintf(stderr, "vtpm: cannot write pid file %s: %s\n", o->pid_file,
				strerror(errno));
			return -1;
		}
		return 0;
	}
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			return -1;
		close(fd);
	}
	return 0;
}

static int open_log(const struct opts *o)
{
	int fd = o->log_fd;

	if (o->log_file) {
		fd = open(o->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
					       (o->log_truncate ? O_TRUNC : 0), 0640);
		if (fd < 0) {
			fprintf(stderr, "vtpm: cannot open log %s: %s\n", o->log_file, strerror(errno));
			return -2;
		}
	}
	return fd;
}

/* --help, --version, --print-capabilities: true when one was printed. */
static bool print_info(const struct opts *o, const char *argv0)
{
	if (o->help)
		opts_usage(argv0);
	else if (o->version)
		printf("vtpm %s (libtpms %06x)\n", VTPM_VERSION, TPMLIB_GetVersion());
	else if (o->print_capabilities)
		print_capabilities(o->tpm2);
	else
		return false;
	return true;
}

/* The state directory, locked for this process; NULL (logged) when refused. */
static struct nv *open_state(const struct opts *o)
{
	struct nv *nv = o->state_fd >= 0 ? nv_open_fd(o->state_fd, o->tpm2, o->state_mode)
			: nv_open(o->state_dir, o->tpm2, o->state_mode > 0 ? o->state_mode : 0600);

	if (!nv) {
		log_err("cannot open state directory %s: %s", o->state_dir, strerror(errno));
		return NULL;
	}
	nv_set_budget(nv, o->state_max);
	/* under the manager, a predecessor killed with it may take a moment to go */
	if (nv_lock(nv, o->manager_fd >= 0 ? 200 : 0) < 0) {
		log_err("state directory %s is in use by another process (%s)", o->state_dir,
			strerror(errno));
		nv_close(nv);
		return NULL;
	}
	return nv;
}

/* The log, at swtpm's levels; then no core dump and no debugger for us. */
static int start_log(const struct opts *o)
{
	int logfd = open_log(o);
	enum log_level lvl;

	if (logfd == -2)
		return -1;
	/* swtpm levels: >= 5 adds debug; vtpm logs info by default */
	lvl = o->log_level < 0 ? LOG_INFO : o->log_level >= 5 ? LOG_DEBUG : o->log_level >= 1 ? LOG_INFO : LOG_WARN;
	log_init("vtpm", o->name, logfd, lvl);
	/* exec made us dumpable again (same uid before and after) */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_err("cannot make the process non-dumpable: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Tells the manager we serve; the hash it answers is what it measured of us. */
static int report_boot(struct keeper *keeper)
{
	uint8_t hash[VTPM_DIGEST_SIZE];

	if (keeper_boot_hash(keeper, hash) < 0)
		return -1;
	log_info("running the executable with SHA-256 %02x%02x%02x%02x...", hash[0], hash[1], hash[2],
		 hash[3]);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct nv *nv = NULL;
	struct server *srv = NULL;
	struct keeper *keeper = NULL;
	struct nv_keeper keeper_ops;
	int rc = 1;
	bool pid_written = false;

	if (opts_parse(&o, argc, argv) < 0) {
		opts_free(&o);
		return 2;
	}
	if (print_info(&o, argv[0])) {
		opts_free(&o);
		return 0;
	}
	if (start_log(&o) < 0)
		goto out;
	nv = open_state(&o);
	if (!nv)
		goto out;
	if (o.manager_fd >= 0) {
		keeper = keeper_open(o.manager_fd, &keeper_ops);
		if (!keeper)
			goto out;
		nv_set_keeper(nv, &keeper_ops);
		ctrl_set_blobkeys(keeper_blobkeys(keeper));
	}
	if (engine_init(o.tpm2, nv) < 0) {
		log_err("libtpms refused the TPM version");
		goto out;
	}
	if (o.not_need_init && engine_start(false, o.startup) != TPM_SUCCESS) {
		log_err("cannot start the TPM from %s; nothing was changed", o.state_dir);
		goto out;
	}
	srv = server_new(&o);
	if (!srv || (keeper && server_add_lifeline(srv, keeper_socket(keeper)) < 0))
		goto out;
	if (keeper && forbid_exec() < 0) {
		log_err("cannot forbid exec: %s", strerror(errno));
		goto out;
	}
	if (o.daemonize && daemon(1, 0) < 0) {
		log_err("daemon: %s", strerror(errno));
		goto out;
	}
	if (write_pid(&o) < 0)
		goto out;
	pid_written = true;
	if (!keeper && confine(o.seccomp) < 0)
		goto out;
	if (keeper && report_boot(keeper) < 0)
		goto out;
	log_info("serving TPM %s from %s", o.tpm2 ? "2.0" : "1.2", o.state_dir);
	rc = server_run(srv);
	if (rc != SERVER_LIFELINE_LOST)
		engine_stop();
	log_info("stopped");
out:
	server_free(srv);
	keeper_close(keeper);
	nv_close(nv);
	/* only our own pid file: a refused second instance leaves the first's alone */
	if (pid_written && o.pid_file)
		(void)unlink(o.pid_file);
	opts_free(&o);
	return rc;
}
