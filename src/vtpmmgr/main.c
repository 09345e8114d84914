/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpmmgr: one per host. Opens the hardware TPM, unseals the root secret
 * (refusing to start, with the differing PCRs named, if the platform is not
 * in an approved configuration), opens and verifies the store against the
 * TPM's NV counter, then serves: the control socket for vtpmctl, and each
 * vtpm it starts over that vtpm's own channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "crypto.h"
#include "devtpm.h"
#include "fileio.h"
#include "log.h"
#include "mgr.h"
#include "rootkey.h"
#include "sandbox.h"
#include "store.h"
#include "vtpms.h"

#define STORE_FILE	"store.db"
#define EXIT_PCR	3	/* refused: the platform is not in an approved configuration */

static struct mgr mgr;
static bool shutting_down;

static int counter_read(void *arg, uint64_t *v)
{
	struct mgr *m = arg;

	return hwtpm_counter_read(m->hw, m->cfg.counter_index, v);
}

static int counter_increment(void *arg, uint64_t *v)
{
	struct mgr *m = arg;

	return hwtpm_counter_increment(m->hw, m->cfg.counter_index, v);
}

static const struct store_counter counter = { counter_read, counter_increment, &mgr };

static void signal_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct mgr *m = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		if (!shutting_down) {
			log_info("signal %u: stopping every vtpm, then the manager", si.ssi_signo);
			shutting_down = true;
			control_close(m);
			vtpms_stop_all(m);
		}
	}
	(void)rev;
	vtpms_reap(m);
	/* the fd's deadline doubles as the tick that kills lingering vtpms */
	if (vtpms_tick(m))
		ev_set_deadline(loop, fd, 100);
	if (shutting_down && !vtpms_any(m))
		ev_stop(loop);
}

/*
 * The hardware TPM: the configured TCTI; else /dev/tpmrm0 if present; else,
 * only when told --dev, a software stand-in. Never silently a software TPM.
 */
static int choose_tpm(struct mgr *m)
{
	char tcti[4300];

	if (m->cfg.dev && m->cfg.tcti) {
		log_err("--dev and a configured tcti exclude each other");
		return -1;
	}
	if (m->cfg.tcti)
		return 0;
	if (!m->cfg.dev) {
		if (access("/dev/tpmrm0", R_OK | W_OK) == 0) {
			m->cfg.tcti = strdup(MGR_DEFAULT_TCTI);
			return m->cfg.tcti ? 0 : -1;
		}
		log_err("no hardware TPM: /dev/tpmrm0 is absent and no tcti is configured "
			"(--dev runs a software stand-in, NOT SECURE)");
		return -1;
	}
	m->dev_pid = devtpm_start(m->cfg.data_dir, m->cfg.run_dir, tcti, sizeof(tcti));
	if (m->dev_pid < 0) {
		m->dev_pid = 0;
		return -1;
	}
	m->cfg.tcti = strdup(tcti);
	return m->cfg.tcti ? 0 : -1;
}

/* Held for the process's life (the descriptor stays open); OFD: per open file. */
static int lock_data_dir(int datafd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = openat(datafd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return 0;
}

/* Two descriptors per running vTPM, plus its listeners while it starts: take the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int hash_file(const char *path, uint8_t out[CRYPTO_DIGEST_SIZE])
{
	uint8_t *p = NULL;
	size_t n = 0;
	int rc;

	if (file_read(AT_FDCWD, path, 64u << 20, &p, &n) < 0)
		return -1;
	rc = crypto_sha256(p, n, out);
	free(p);
	return rc;
}

static int write_pid(const char *path)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());

	return file_write_durable(AT_FDCWD, path, (const uint8_t *)line, (size_t)n, 0644) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct mgr *m = &mgr;
	struct stat sb;
	sigset_t mask;
	uint64_t ctr = 0;
	char path[4200];
	int logfd = -1, sigfd = -1, rc = 1;
	bool store_exists;

	m->datafd = -1;
	umask(077);	/* the store, seals and state directories are the manager's alone */
	raise_fd_limit();
	/* tpm2-tss logs expected refusals (a PCR policy that fails) as errors: ours say it better */
	setenv("TSS2_LOG", "all+none", 0);
	if (config_load(&m->cfg, argc, argv) < 0)
		return 2;
	if (m->cfg.help) {
		config_usage();
		config_free(&m->cfg);
		return 0;
	}
	if (m->cfg.log_file) {
		logfd = open(m->cfg.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (logfd < 0) {
			fprintf(stderr, "vtpmmgr: cannot open log %s: %s\n", m->cfg.log_file, strerror(errno));
			goto out;
		}
	}
	/* our libraries' and the stand-in TPM's messages; a vtpm gets a pipe of its own (vtpms.c) */
	if (logfd >= 0 && dup2(logfd, STDERR_FILENO) < 0)
		goto out;
	log_init("vtpmmgr", NULL, logfd, LOG_INFO);
	if (file_mkdirs(m->cfg.data_dir, 0700) < 0 || file_mkdirs(m->cfg.run_dir, 0755) < 0) {
		log_err("cannot create %s or %s: %s", m->cfg.data_dir, m->cfg.run_dir, strerror(errno));
		goto out;
	}
	/* search-only for others: each vtpm reaches its own 0700 directory, lists nothing */
	snprintf(path, sizeof(path), "%s/vtpm", m->cfg.data_dir);
	if ((mkdir(path, 0711) < 0 && errno != EEXIST) || chmod(m->cfg.data_dir, 0711) < 0 ||
	    chmod(path, 0711) < 0) {
		log_err("cannot prepare %s: %s", path, strerror(errno));
		goto out;
	}
	if (!sandbox_landlock_abi())
		log_warn("this kernel has no Landlock: vtpms are confined by uid and seccomp only");
	m->datafd = open(m->cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->datafd < 0)
		goto out;
	/* one manager per data directory: a second would fight over store and sockets */
	if (lock_data_dir(m->datafd) < 0) {
		log_err("another vtpmmgr runs on %s (%s); refusing to start", m->cfg.data_dir,
			strerror(errno));
		goto out;
	}
	if (choose_tpm(m) < 0)
		goto out;
	m->hw = hwtpm_open(m->cfg.tcti);
	if (!m->hw) {
		log_err("cannot reach the hardware TPM through %s", m->cfg.tcti);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", m->cfg.data_dir, STORE_FILE);
	store_exists = stat(path, &sb) == 0;
	if (rootkey_obtain(m->hw, m->datafd, &m->cfg.pcrs, store_exists, m->root) < 0) {
		rc = errno == EACCES ? EXIT_PCR : 1;
		goto out;
	}
	if (hwtpm_counter_ensure(m->hw, m->cfg.counter_index, &ctr) < 0) {
		log_err("cannot use the NV counter 0x%08x", m->cfg.counter_index);
		goto out;
	}
	m->st = store_open(path, m->root, &counter);
	if (!m->st)
		goto out;
	if (hash_file(m->cfg.vtpm_binary, m->vtpm_hash) < 0) {
		log_err("cannot read the vtpm executable %s", m->cfg.vtpm_binary);
		goto out;
	}
	m->loop = ev_new();
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	if (!m->loop || sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    ev_add(m->loop, sigfd, EV_READ, signal_event, m) < 0 || control_open(m) < 0)
		goto out;
	for (size_t i = 0; i < store_count(m->st); i++) {
		const struct store_vtpm *v = store_at(m->st, i);
		if (v->flags & STORE_FLAG_AUTOSTART)
			(void)vtpms_start(m, v, NULL, NULL);
	}
	if (m->cfg.pid_file && write_pid(m->cfg.pid_file) < 0) {
		log_err("cannot write the pid file %s: %s", m->cfg.pid_file, strerror(errno));
		goto out;
	}
	log_info("ready: %zu vTPMs, store version %llu, %llu hardware TPM commands so far",
		 store_count(m->st), (unsigned long long)store_version(m->st),
		 (unsigned long long)hwtpm_commands(m->hw));
	rc = ev_run(m->loop) < 0 ? 1 : 0;
	log_info("stopped");
out:
	control_close(m);
	vtpms_stop_all(m);
	store_close(m->st);
	hwtpm_close(m->hw);
	devtpm_stop(m->dev_pid);
	explicit_bzero(m->root, sizeof(m->root));
	if (sigfd >= 0)
		close(sigfd);
	if (m->datafd >= 0)
		close(m->datafd);
	ev_free(m->loop);
	if (m->cfg.pid_file && rc == 0)
		(void)unlink(m->cfg.pid_file);
	config_free(&m->cfg);
	return rc;
}
