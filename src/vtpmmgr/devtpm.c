/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devtpm: the stand-in is a child process on Unix sockets in the run
 * directory; readiness is a successful connect, polled with a bound.
 */
#include "devtpm.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pidrec.h"
#include "sock.h"

#define DEVTPM_READY_MS	5000
#define DEVTPM_DIR	"dev-tpm"	/* in the data directory */

/* A formatted string on the heap (paths of any length), or NULL. */
__attribute__((format(printf, 1, 2)))
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *out;
	int r;

	va_start(ap, f);
	r = vasprintf(&out, f, ap);
	va_end(ap);
	return r < 0 ? NULL : out;
}

/* args: --tpmstate, --server, --ctrl and --log values */
static pid_t spawn(char *const args[4])
{
	pid_t parent = getpid(), pid = fork();

	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* a killed manager takes its stand-in along (also if it died before this line) */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(127);
		close_range(3, ~0u, 0);
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", args[0], "--server", args[1],
		       "--ctrl", args[2], "--flags", "not-need-init,startup-clear", "--log", args[3],
		       (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Waits until swtpm listens on sock; its pid, or -1 (and it is stopped). */
static pid_t wait_ready(pid_t pid, const char *sock)
{
	struct timespec ts = { 0, 10 * 1000000 };

	for (int waited = 0; waited < DEVTPM_READY_MS; waited += 10) {
		int fd = sock_connect_unix(sock);

		if (fd >= 0) {
			close(fd);
			return pid;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			log_err("--dev: swtpm exited at start (is it installed?)");
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	log_err("--dev: swtpm did not listen on %s in time", sock);
	devtpm_stop(pid);
	return -1;
}

pid_t devtpm_start(int datafd, const char *data_dir, const char *run_dir, char **tcti)
{
	char *sock = fmt("%s/dev-tpm.sock", run_dir), *args[4] = {
		fmt("dir=%s/" DEVTPM_DIR, data_dir),
		sock ? fmt("type=unixio,path=%s,mode=0600", sock) : NULL,
		sock ? fmt("type=unixio,path=%s.ctrl,mode=0600", sock) : NULL,
		fmt("file=%s/" DEVTPM_DIR "/swtpm.log", data_dir),
	};
	pid_t pid = -1;

	*tcti = NULL;
	if (!sock || !args[0] || !args[1] || !args[2] || !args[3] ||
	    (mkdirat(datafd, DEVTPM_DIR, 0700) < 0 && errno != EEXIST))
		goto out;
	pid = spawn(args);
	/* found and stopped by the next manager's pidrec_sweep, should this one die oddly */
	if (pid > 0 && pidrec_add(datafd, PIDREC_STAND_IN, pid, getuid()) < 0)
		log_warn("--dev: cannot record the stand-in's pid: %s", strerror(errno));
	if (pid > 0)
		pid = wait_ready(pid, sock);
	if (pid > 0) {
		*tcti = fmt("swtpm:path=%s", sock);
		if (!*tcti) {
			devtpm_stop(pid);
			pid = -1;
			goto out;
		}
		log_warn("NOT SECURE: --dev: a software TPM (swtpm, state in %s/" DEVTPM_DIR ") stands "
			 "in for the hardware TPM; the secrets it guards are on the same disk", data_dir);
	}
out:
	for (int k = 0; k < 4; k++)
		free(args[k]);
	free(sock);
	return pid < 0 ? -1 : pid;
}

void devtpm_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		(void)waitpid(pid, NULL, 0);
	}
}
