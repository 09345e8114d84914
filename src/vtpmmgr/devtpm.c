/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devtpm: the stand-in is a child process on Unix sockets in the run
 * directory; readiness is a successful connect, polled with a bound.
 */
#include "devtpm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sock.h"

#define DEVTPM_READY_MS	5000

pid_t devtpm_start(const char *data_dir, const char *run_dir, char *tcti, size_t n)
{
	char state[4200], sock[4200], tpmstate[4300], server[4300], ctrl[4300], logarg[4300];
	struct timespec ts = { 0, 10 * 1000000 };
	pid_t pid;

	snprintf(state, sizeof(state), "%s/dev-tpm", data_dir);
	snprintf(sock, sizeof(sock), "%s/dev-tpm.sock", run_dir);
	snprintf(tpmstate, sizeof(tpmstate), "dir=%s", state);
	snprintf(server, sizeof(server), "type=unixio,path=%s,mode=0600", sock);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s.ctrl,mode=0600", sock);
	snprintf(logarg, sizeof(logarg), "file=%s/swtpm.log", state);
	if (mkdir(state, 0700) < 0 && errno != EEXIST)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close_range(3, ~0u, 0);
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", tpmstate, "--server", server,
		       "--ctrl", ctrl, "--flags", "not-need-init,startup-clear", "--log", logarg,
		       (char *)NULL);
		_exit(127);
	}
	for (int waited = 0; waited < DEVTPM_READY_MS; waited += 10) {
		int fd = sock_connect_unix(sock);

		if (fd >= 0) {
			close(fd);
			snprintf(tcti, n, "swtpm:path=%s", sock);
			log_warn("NOT SECURE: --dev: a software TPM (swtpm, state in %s) stands in for "
				 "the hardware TPM; the secrets it guards are on the same disk", state);
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

void devtpm_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		(void)waitpid(pid, NULL, 0);
	}
}
