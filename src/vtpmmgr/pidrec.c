/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pidrec: records of running vtpms, and the sweep of leftovers at start
 * (see pidrec.h). Run by vtpmmgr: records are written by the launcher
 * after each fork and removed when the vtpm is reaped. A record is
 *   "PID START_TICKS UID BOOT_ID\n"
 * No descriptor of a record ever reaches a vtpm.
 */
#include "pidrec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#define PIDREC_DIR	"pids"
#define PIDREC_MAX	160	/* one record line; also caps what is read of /proc files */
#define BOOT_ID_LEN	36
#define SWEEP_WAIT_MS	5000

/* Up to n - 1 bytes of a small file (a /proc entry or a record), NUL-terminated. */
static int read_small(int dirfd, const char *path, char *out, size_t n)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	ssize_t r;

	if (fd < 0)
		return -1;
	r = read(fd, out, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	out[r] = '\0';
	return 0;
}

static int boot_id(char out[BOOT_ID_LEN + 1])
{
	char buf[64];

	if (read_small(AT_FDCWD, "/proc/sys/kernel/random/boot_id", buf, sizeof(buf)) < 0 ||
	    strlen(buf) < BOOT_ID_LEN)
		return -1;
	memcpy(out, buf, BOOT_ID_LEN);
	out[BOOT_ID_LEN] = '\0';
	return 0;
}

unsigned long long pidrec_start_time(pid_t pid)
{
	char path[32], buf[1024], *p;
	unsigned long long start = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0)
		return 0;
	/* the name (field 2) may hold spaces and parentheses: count from the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &start) != 1)
		return 0;
	return start;
}

static int proc_uid(pid_t pid, uid_t *uid)
{
	char path[32], buf[2048], *p;
	unsigned long v;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(AT_FDCWD, path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "\nUid:");
	if (!p || sscanf(p + 5, "%lu", &v) != 1)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

bool pidrec_matches(pid_t pid, unsigned long long start_ticks, uid_t uid)
{
	uid_t u;

	return pid > 0 && start_ticks && pidrec_start_time(pid) == start_ticks &&
	       proc_uid(pid, &u) == 0 && u == uid;
}

int pidrec_add(int datafd, const char *name, pid_t pid, uid_t uid)
{
	char line[PIDREC_MAX], path[96], tmp[112], boot[BOOT_ID_LEN + 1];
	unsigned long long start = pidrec_start_time(pid);
	int fd, n, rc = -1;

	if (!start || boot_id(boot) < 0)
		return -1;
	if (mkdirat(datafd, PIDREC_DIR, 0700) < 0 && errno != EEXIST)
		return -1;
	n = snprintf(line, sizeof(line), "%d %llu %u %s\n", (int)pid, start, (unsigned)uid, boot);
	snprintf(path, sizeof(path), PIDREC_DIR "/%s", name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/* a kill -9 of the manager keeps the page cache: no fsync needed, a reboot ends the vtpm too */
	fd = openat(datafd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	if (write(fd, line, (size_t)n) == n)
		rc = 0;
	if (close(fd) < 0 || rc < 0 || renameat(datafd, tmp, datafd, path) < 0) {
		(void)unlinkat(datafd, tmp, 0);
		return -1;
	}
	return 0;
}

void pidrec_drop(int datafd, const char *name)
{
	char path[96];

	snprintf(path, sizeof(path), PIDREC_DIR "/%s", name);
	(void)unlinkat(datafd, path, 0);
}

/* SIGKILL through a pidfd opened before the last check, then waits for the exit. */
static int stop_one(const char *name, pid_t pid, unsigned long long start, uid_t uid)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p;

	if (pfd < 0)
		return errno == ESRCH ? 0 : -1;
	/* checked after the pidfd is open: it then names the process that matched */
	if (!pidrec_matches(pid, start, uid)) {
		close(pfd);
		return 0;
	}
	log_warn("%s %s (pid %d, uid %u) outlived an earlier manager: stopping it",
		 strcmp(name, PIDREC_STAND_IN) ? "vtpm" : "--dev: the stand-in swtpm", name, (int)pid,
		 (unsigned)uid);
	if (syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH) {
		close(pfd);
		return -1;
	}
	p = (struct pollfd){ .fd = pfd, .events = POLLIN };
	if (poll(&p, 1, SWEEP_WAIT_MS) != 1) {
		log_err("vtpm %s (pid %d) did not end after SIGKILL", name, (int)pid);
		close(pfd);
		errno = ETIMEDOUT;
		return -1;
	}
	close(pfd);
	return 1;
}

/* One record: 1 stopped, 0 nothing to do (gone, recycled, or another boot's), -1. */
static int sweep_one(int dirfd, const char *name, const char *boot)
{
	char line[PIDREC_MAX], rboot[BOOT_ID_LEN + 1];
	unsigned long long start;
	unsigned uid;
	int pid;

	if (read_small(dirfd, name, line, sizeof(line)) < 0)
		return 0;
	if (sscanf(line, "%d %llu %u %36s", &pid, &start, &uid, rboot) != 4 || pid <= 1 ||
	    strcmp(rboot, boot))
		return 0;
	return stop_one(name, (pid_t)pid, start, (uid_t)uid);
}

int pidrec_sweep(int datafd)
{
	char boot[BOOT_ID_LEN + 1];
	int fd = openat(datafd, PIDREC_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;
	struct dirent *e;
	int stopped = 0, rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	if (boot_id(boot) < 0) {
		closedir(d);
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		rc = sweep_one(dirfd(d), e->d_name, boot);
		if (rc < 0) {
			stopped = -1;
			break;
		}
		stopped += rc;
		(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return stopped;
}
