/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devtpm: the stand-in is a child process on Unix sockets in the run
 * directory; readiness is a successful connect, polled with a bound. Runs
 * in vtpmmgr. It dies with the manager (PDEATHSIG); its pid and start time
 * are kept in DATA/dev-tpm/stand-in.pid (a file the manager wrote, but read
 * as untrusted text), so that one left behind by a manager killed an
 * instant earlier is stopped before a new one starts.
 */
#include "devtpm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "sock.h"

#define DEVTPM_READY_MS	5000
#define DEVTPM_GONE_MS	5000
#define DEVTPM_PIDFILE	"stand-in.pid"
#define DEVTPM_PIDFILE_MAX	64

/* Field 22 of /proc/PID/stat, the start time in ticks since boot; 0 if unknown. */
static uint64_t start_time(pid_t pid)
{
	char path[64], line[1024], *p;
	uint64_t t = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	/* the command name may hold spaces and parentheses: count from the last ')' */
	if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) &&
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
			  "%*d %*d %" SCNu64, &t) != 1)
		t = 0;
	fclose(f);
	return t;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Stops the stand-in an earlier manager recorded, if that very process still runs. */
static void stop_leftover(int statefd)
{
	uint8_t *text = NULL;
	size_t len;
	char line[DEVTPM_PIDFILE_MAX + 1];
	uint64_t t;
	int pid;

	if (file_read(statefd, DEVTPM_PIDFILE, DEVTPM_PIDFILE_MAX, &text, &len) < 0)
		return;
	memcpy(line, text, len);
	line[len] = '\0';
	free(text);
	if (sscanf(line, "%d %" SCNu64, &pid, &t) != 2 || pid <= 1 || t == 0 ||
	    start_time(pid) != t)
		return;
	log_warn("--dev: stopping the stand-in swtpm (pid %d) an earlier manager left", pid);
	kill(pid, SIGTERM);
	for (int waited = 0; start_time(pid) == t; waited += 10) {
		if (waited == DEVTPM_GONE_MS)
			kill(pid, SIGKILL);
		sleep_ms(10);
	}
}

static void record(int statefd, pid_t pid)
{
	char line[DEVTPM_PIDFILE_MAX];
	int n = snprintf(line, sizeof(line), "%d %" PRIu64 "\n", (int)pid, start_time(pid));

	if (file_write_durable(statefd, DEVTPM_PIDFILE, (const uint8_t *)line, (size_t)n, 0600) != 0)
		log_warn("--dev: cannot record the stand-in's pid: %s", strerror(errno));
}

pid_t devtpm_start(const char *data_dir, const char *run_dir, char *tcti, size_t n)
{
	char state[4200], sock[4200], tpmstate[4300], server[4300], ctrl[4300], logarg[4300];
	pid_t pid, parent = getpid();
	int statefd;

	snprintf(state, sizeof(state), "%s/dev-tpm", data_dir);
	snprintf(sock, sizeof(sock), "%s/dev-tpm.sock", run_dir);
	snprintf(tpmstate, sizeof(tpmstate), "dir=%s", state);
	snprintf(server, sizeof(server), "type=unixio,path=%s,mode=0600", sock);
	snprintf(ctrl, sizeof(ctrl), "type=unixio,path=%s.ctrl,mode=0600", sock);
	snprintf(logarg, sizeof(logarg), "file=%s/swtpm.log", state);
	if (mkdir(state, 0700) < 0 && errno != EEXIST)
		return -1;
	statefd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (statefd < 0)
		return -1;
	stop_leftover(statefd);
	pid = fork();
	if (pid < 0) {
		close(statefd);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* a killed manager takes its stand-in along (also if it died before this line) */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(127);
		close_range(3, ~0u, 0);
		execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", tpmstate, "--server", server,
		       "--ctrl", ctrl, "--flags", "not-need-init,startup-clear", "--log", logarg,
		       (char *)NULL);
		_exit(127);
	}
	record(statefd, pid);
	close(statefd);
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
		sleep_ms(10);
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
