/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpmmgr: one per host. Opens the hardware TPM, unseals the root secret
 * (refusing to start, with the differing PCRs named, if the platform is not
 * in an approved configuration), opens and verifies the store against the
 * TPM's NV counter, then serves: the control socket for vtpmctl, and each
 * vtpm it starts over that vtpm's own channel.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "crypto.h"
#include "devtpm.h"
#include "fileio.h"
#include "log.h"
#include "mgr.h"
#include "pidrec.h"
#include "rootkey.h"
#include "secmem.h"
#include "sandbox.h"
#include "store.h"
#include "vtpms.h"

#define STORE_FILE	"store.db"
#define EXIT_PCR	3	/* refused: the platform is not in an approved configuration */
#define UNKNOWN_NAMED_MAX	16	/* unknown state directories named one by one */
/* A refused counter step is retried after 1 s, then at growing intervals up to 10 s. */
#define CATCHUP_FIRST_MS	1000
#define CATCHUP_MAX_MS		10000

static struct mgr mgr;
static bool shutting_down;
static int catchup_fd = -1;		/* timerfd: retries a refused counter step */
static int64_t catchup_ms = CATCHUP_FIRST_MS;

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

static void catchup_arm(int64_t ms)
{
	struct itimerspec its = { .it_value = { ms / 1000, (ms % 1000) * 1000000 } };

	if (catchup_fd >= 0 && timerfd_settime(catchup_fd, 0, &its, NULL) < 0)
		log_err("cannot arm the counter retry: %s", strerror(errno));
}

/*
 * The store kept a change whose counter step the hardware TPM refused: the
 * rollback window (vtpmmgr(8)) is open until a retry succeeds, so retry
 * soon rather than at the next change, which may be hours away.
 */
static void counter_behind(void *arg)
{
	(void)arg;
	log_warn("the NV counter is one step behind the store: retrying in %d s",
		 CATCHUP_FIRST_MS / 1000);
	catchup_ms = CATCHUP_FIRST_MS;
	catchup_arm(catchup_ms);
}

static void catchup_event(struct ev_loop *loop, int fd, int rev, void *arg)
{
	struct mgr *m = arg;
	uint64_t ticks;

	(void)loop;
	(void)rev;
	if (read(fd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks) || !m->st)
		return;
	if (store_catch_up(m->st) == 0)
		return;
	catchup_ms = catchup_ms * 2 > CATCHUP_MAX_MS ? CATCHUP_MAX_MS : catchup_ms * 2;
	catchup_arm(catchup_ms);
}

static const struct store_counter counter = { counter_read, counter_increment, &mgr, counter_behind };

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
	if (m->cfg.dev && m->cfg.tcti) {
		log_err("--dev and a configured tcti exclude each other");
		return -1;
	}
	if (m->cfg.tcti)
		return 0;
	if (!m->cfg.dev) {
		if (access(MGR_DEFAULT_TPM_DEVICE, R_OK | W_OK) == 0) {
			m->cfg.tcti = strdup(MGR_DEFAULT_TCTI);
			return m->cfg.tcti ? 0 : -1;
		}
		log_err("no hardware TPM: " MGR_DEFAULT_TPM_DEVICE " is absent and no tcti is configured "
			"(--dev runs a software stand-in, NOT SECURE)");
		return -1;
	}
	m->dev_pid = devtpm_start(m->datafd, m->cfg.data_dir, m->cfg.run_dir, &m->cfg.tcti);
	if (m->dev_pid < 0) {
		m->dev_pid = 0;
		return -1;
	}
	return 0;
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

/*
 * The root secret and every vTPM key live in this process: no core dump of
 * it, and no ptrace or /proc/PID/mem by a process of its uid that is not
 * privileged. The vtpms inherit the limit (the sandbox sets it again).
 */
static int protect_secrets(struct mgr *m)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "vtpmmgr: cannot turn core dumps off: %s\n", strerror(errno));
		return -1;
	}
	m->root = secmem_alloc(HWTPM_SECRET_SIZE);	/* out of swap and core dumps */
	if (!m->root) {
		fprintf(stderr, "vtpmmgr: cannot allocate secret memory: %s\n", strerror(errno));
		return -1;
	}
	return 0;
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

/* The counter's own authValue, from the root secret; then the counter, defined if absent. */
static int counter_prepare(struct mgr *m, uint64_t *value)
{
	uint8_t auth[HWTPM_SECRET_SIZE];

	if (crypto_derive(m->root, "vtpmmgr NV counter auth v1", auth) < 0)
		return -1;
	hwtpm_counter_auth(m->hw, auth);
	explicit_bzero(auth, sizeof(auth));
	return hwtpm_counter_ensure(m->hw, m->cfg.counter_index, value);
}

/*
 * A counter an older manager defined can be advanced by anyone with owner
 * authorization. Once the store has verified against it, it is defined
 * again, protected, and the store rebased onto its new (higher) value. A
 * crash between the two leaves the counter ahead: RECOVERY in vtpmmgr(8).
 */
static int counter_migrate(struct mgr *m)
{
	uint64_t v;
	int legacy = hwtpm_counter_legacy(m->hw, m->cfg.counter_index);

	if (legacy <= 0)
		return legacy;
	log_warn("the NV counter 0x%08x is owner-writable (an older vtpmmgr's): defining it again, "
		 "writable only by this manager", m->cfg.counter_index);
	if (hwtpm_counter_recreate(m->hw, m->cfg.counter_index, &v) < 0 || store_rebase(m->st, v) < 0) {
		log_err("could not re-create the NV counter 0x%08x; if the next start says the counter "
			"is ahead, see RECOVERY in vtpmmgr(8)", m->cfg.counter_index);
		return -1;
	}
	return 0;
}

/* True if name is the state directory (vtpms_state_name) of a vTPM the store holds. */
static bool known_state_dir(const struct store *st, const char *name)
{
	uint8_t uuid[VTPM_UUID_SIZE];
	char canon[37];

	if (!st || store_uuid_parse(name, uuid) < 0 || !store_find(st, uuid))
		return false;
	store_uuid_format(uuid, canon);
	return strcmp(canon, name) == 0;
}

/*
 * Names, in the log, every entry of DATA/vtpm that the store st does not
 * know (every entry when st is NULL): starting anyway would let a vTPM
 * created again under that UUID overwrite its state with a fresh TPM.
 * Names starting with a dot are not vTPMs (an operator's parking place).
 * Returns the count, or -1.
 */
static long unknown_state_dirs(const struct mgr *m, const struct store *st)
{
	int fd = openat(m->datafd, VTPMS_STATE_PARENT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *top = m->cfg.data_dir;
	struct dirent *e;
	long n = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d) {
		log_err("cannot list %s/" VTPMS_STATE_PARENT ": %s", top, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || known_state_dir(st, e->d_name))
			continue;
		if (n++ < UNKNOWN_NAMED_MAX)
			log_err("vTPM state that the store does not know: %s/" VTPMS_STATE_PARENT "/%s",
				top, e->d_name);
	}
	closedir(d);
	if (n > UNKNOWN_NAMED_MAX)
		log_err("... and %ld more such directories in %s/" VTPMS_STATE_PARENT,
			n - UNKNOWN_NAMED_MAX, top);
	return n;
}

/*
 * store.db is absent: a first start, or a deleted store. Deleted, if vTPM
 * state exists or the NV counter is in use; then only the operator decides
 * (vtpmmgr(8)): put the store back, or move the state away and --new-store.
 */
static int check_missing_store(struct mgr *m, const char *store_path)
{
	uint64_t v = 0;
	long n = unknown_state_dirs(m, NULL);

	if (n != 0) {
		log_err("%s is missing but vTPM state exists (named above): refusing to start "
			"rather than make fresh TPMs over it; put the store back, or move those "
			"directories out of %s/vtpm (their vTPMs are then lost)",
			store_path, m->cfg.data_dir);
		return -1;
	}
	if (hwtpm_counter_read(m->hw, m->cfg.counter_index, &v) == 0 && !m->cfg.new_store) {
		log_err("%s is missing but the NV counter 0x%08x is in use (value %llu): the store "
			"was deleted or moved; put it back, or start once with --new-store to begin "
			"an empty one (every vTPM it held is lost)",
			store_path, m->cfg.counter_index, (unsigned long long)v);
		return -1;
	}
	return 0;
}

/*
 * The counter (protected, migrated if an older manager made it), the store
 * verified against it, and no vTPM state beside it that it does not know.
 */
static int open_verified_store(struct mgr *m, const char *path)
{
	uint64_t ctr = 0;

	if (counter_prepare(m, &ctr) < 0) {
		log_err("cannot use the NV counter 0x%08x", m->cfg.counter_index);
		return -1;
	}
	catchup_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (catchup_fd < 0)
		return -1;
	m->st = store_open(path, m->root, &counter, m->cfg.adopt_counter);
	if (!m->st || counter_migrate(m) < 0)
		return -1;
	if (unknown_state_dirs(m, m->st) != 0) {
		log_err("refusing to start: vTPM state the store does not know (named above) would "
			"be overwritten by a vTPM created under its UUID; move it out of %s/vtpm",
			m->cfg.data_dir);
		return -1;
	}
	return 0;
}

static int write_pid(const char *path)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());

	return file_write_durable(AT_FDCWD, path, (const uint8_t *)line, (size_t)n, 0644) == 0 ? 0 : -1;
}

/*
 * The data directory, by descriptor from here on: search-only for others,
 * so each vtpm reaches its own 0700 state directory and lists nothing.
 */
static int open_data_dir(struct mgr *m)
{
	if (file_mkdirs(m->cfg.data_dir, 0700) < 0 || file_mkdirs(m->cfg.run_dir, 0755) < 0) {
		log_err("cannot create %s or %s: %s", m->cfg.data_dir, m->cfg.run_dir, strerror(errno));
		return -1;
	}
	m->datafd = open(m->cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->datafd < 0 ||
	    (mkdirat(m->datafd, VTPMS_STATE_PARENT, 0711) < 0 && errno != EEXIST) ||
	    fchmod(m->datafd, 0711) < 0 || fchmodat(m->datafd, VTPMS_STATE_PARENT, 0711, 0) < 0) {
		log_err("cannot prepare %s/" VTPMS_STATE_PARENT ": %s", m->cfg.data_dir, strerror(errno));
		return -1;
	}
	/* one manager per data directory: a second would fight over store and sockets */
	if (lock_data_dir(m->datafd) < 0) {
		log_err("another vtpmmgr runs on %s (%s); refusing to start", m->cfg.data_dir,
			strerror(errno));
		return -1;
	}
	/* a vtpm that outlived an earlier manager must be gone before ours serve */
	if (pidrec_sweep(m->datafd) < 0) {
		log_err("cannot stop a vtpm left by an earlier manager: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The hardware TPM, the root secret it seals and the store it keys. Returns
 * 0, or the exit code: EXIT_PCR when the platform is not approved, else 1.
 */
static int open_store(struct mgr *m)
{
	struct stat sb;
	char *path = NULL;
	bool store_exists;
	int rc = 1;

	if (choose_tpm(m) < 0)
		return 1;
	m->hw = hwtpm_open(m->cfg.tcti);
	if (!m->hw) {
		log_err("cannot reach the hardware TPM through %s", m->cfg.tcti);
		return 1;
	}
	/* SQLite opens by name: the one path built from the data directory */
	if (asprintf(&path, "%s/%s", m->cfg.data_dir, STORE_FILE) < 0)
		return 1;
	store_exists = fstatat(m->datafd, STORE_FILE, &sb, 0) == 0;
	if (!store_exists && check_missing_store(m, path) < 0)
		goto out;
	if (rootkey_obtain(m->hw, m->datafd, &m->cfg.pcrs, store_exists, m->root) < 0) {
		rc = errno == EACCES ? EXIT_PCR : 1;
		goto out;
	}
	if (open_verified_store(m, path) < 0)
		goto out;
	if (hash_file(m->cfg.vtpm_binary, m->vtpm_hash) < 0) {
		log_err("cannot read the vtpm executable %s", m->cfg.vtpm_binary);
		goto out;
	}
	rc = 0;
out:
	free(path);
	return rc;
}

/* The event loop, the signals it takes as events, and the control socket. */
static int open_loop(struct mgr *m, int *sigfd)
{
	sigset_t mask;

	m->loop = ev_new();
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	if (!m->loop || sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (*sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    ev_add(m->loop, *sigfd, EV_READ, signal_event, m) < 0 ||
	    ev_add(m->loop, catchup_fd, EV_READ, catchup_event, m) < 0 || control_open(m) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct mgr *m = &mgr;
	int logfd = -1, sigfd = -1, rc = 1;

	m->datafd = -1;
	m->ctl_fd = -1;
	LIST_INIT(&m->insts);
	umask(077);	/* the store, seals and state directories are the manager's alone */
	if (protect_secrets(m) < 0)
		return 1;
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
	/* vtpms inherit stderr: with a log file, their lines land beside ours */
	if (logfd >= 0 && dup2(logfd, STDERR_FILENO) < 0)
		goto out;
	log_init("vtpmmgr", NULL, logfd, LOG_INFO);
	if (open_data_dir(m) < 0)
		goto out;
	if (!sandbox_landlock_abi())
		log_warn("this kernel has no Landlock: vtpms are confined by uid and seccomp only");
	rc = open_store(m);
	if (rc != 0)
		goto out;
	rc = 1;
	if (open_loop(m, &sigfd) < 0)
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
	secmem_free(m->root);
	if (sigfd >= 0)
		close(sigfd);
	if (catchup_fd >= 0)
		close(catchup_fd);
	if (m->datafd >= 0)
		close(m->datafd);
	ev_free(m->loop);
	if (m->cfg.pid_file && rc == 0)
		(void)unlink(m->cfg.pid_file);
	config_free(&m->cfg);
	return rc;
}
