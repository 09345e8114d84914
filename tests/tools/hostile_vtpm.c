/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hostile_vtpm: test tool for tests/integration/test_sandbox_hostile.sh.
 * vtpmmgr runs it in a vtpm's place (device setting binary=), inside the
 * sandbox every vtpm gets, and it does what a compromised vtpm would try:
 * (a) another vTPM's state directory and files, also through ".." from its
 * own directory descriptor, and a file anyone may read (HOSTILE_READABLE:
 * only Landlock stands in the way); (b) the manager's store and sealed root
 * secret; (c) another vTPM's Unix socket; (d) the network; (e) a shell,
 * directly and (only for the vTPM named by HOSTILE_LDSO_NAME, since a
 * successful exec ends the program) through the ELF interpreter, which the
 * sandbox must let the kernel execute; (f) its manager channel, which must
 * answer with its own identity only; (g) last, a system call outside the
 * allow-list, which must kill it with SIGSYS. It trusts its argv and
 * environment (the test's, through the manager), nothing else, and parses
 * only what it needs.
 *
 * One line per attempt goes to hostile.report in its own state directory
 * and, prefixed "hostile[UUID]: ", to stderr (the manager's log):
 *   <step> <attempt>: denied (EACCES)          refused, as it must be
 *   <step> <attempt>: confined (...)           answered, within its own bounds
 *   <step> <attempt>: ALLOWED ...              a sandbox hole
 *   <step> <attempt>: unexpected (ENOENT)      failed for another reason
 * then "summary: N attempts, N held, N allowed, N unexpected" (held: denied
 * or confined) and "g <call>: calling, SIGSYS expected". Any line after that
 * says it survived; it then exits 0. It never returns from main.
 *
 * Environment: HOSTILE_OTHER_DIR  another vTPM's state directory
 *              HOSTILE_OTHER_SOCK that vTPM's Unix socket
 *              HOSTILE_DATA_DIR   the manager's data directory
 *              HOSTILE_READABLE   a file outside the sandbox that anyone may read
 *              HOSTILE_LDSO_NAME  UUID of the vTPM that tries the interpreter
 * Arguments: as vtpmmgr gives a vtpm; --tpmstate dirfd=N, --manager fd=N
 * and --name UUID are used, the rest ignored.
 *
 * Limits mode (tests/integration/test_sandbox_limits.sh): the vTPM named by
 * HOSTILE_LIMITS_NAME instead reports its limits, tries to raise them
 * (setrlimit, prlimit64 of its manager), writes a file until the size limit
 * stops it, tries to become dumpable again, and last clears its death
 * signal, which must kill it with SIGSYS; if that survives it waits for
 * ever, a vtpm that would outlive its manager.
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mgrmsg.h"
#include "tpmfront.h"

#define REPORT_FILE	"hostile.report"
#define LINE_MAX_LEN	512
#define PATH_LEN	4096
#define MGR_TIMEOUT_MS	10000
#define SHELL_MARKER	"HOSTILE-SHELL-RAN"

struct hostile {
	int report_fd;		/* in its own state directory, or -1 */
	int state_fd;
	int mgr_fd;
	const char *name;	/* its UUID, from --name */
	unsigned attempts, held, allowed, unexpected;
};

/* One line, to stderr and the report, each written whole (SIGSYS may follow). */
static void say(struct hostile *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct hostile *h, const char *fmt, ...)
{
	char line[LINE_MAX_LEN], err[LINE_MAX_LEN + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (h->report_fd >= 0)
		(void)!write(h->report_fd, line, (size_t)n);
	n = snprintf(err, sizeof(err), "hostile[%s]: %.*s", h->name ? h->name : "?", n, line);
	if (n > 0)
		(void)!write(STDERR_FILENO, err, (size_t)n < sizeof(err) ? (size_t)n : sizeof(err) - 1);
}

static const char *errname(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "?";
}

/*
 * The outcome of one attempt: rc < 0 with EACCES or EPERM is a denial; any
 * other error is unexpected (a missing file proves nothing); rc >= 0 is a
 * hole. A descriptor it got is closed.
 */
static void outcome(struct hostile *h, const char *step, const char *what, int rc, int e)
{
	h->attempts++;
	if (rc >= 0) {
		h->allowed++;
		say(h, "%s %s: ALLOWED (result %d)", step, what, rc);
		if (rc > 2)
			close(rc);
	} else if (e == EACCES || e == EPERM) {
		h->held++;
		say(h, "%s %s: denied (%s)", step, what, errname(e));
	} else {
		h->unexpected++;
		say(h, "%s %s: unexpected (%s)", step, what, errname(e));
	}
}

static void try_openat(struct hostile *h, const char *step, int dirfd, const char *path, int flags)
{
	char what[PATH_LEN + 64];
	int fd = openat(dirfd, path, flags | O_CLOEXEC, 0600);
	int e = errno;

	snprintf(what, sizeof(what), "open %s%s %s", dirfd == AT_FDCWD ? "" : "<own dir>/", path,
		 flags & O_CREAT ? "O_CREAT" : flags & O_DIRECTORY ? "O_DIRECTORY" :
		 (flags & O_ACCMODE) == O_RDONLY ? "O_RDONLY" : "O_RDWR");
	outcome(h, step, what, fd, e);
}

/* (a) another vTPM's directory, its files, a new file in it, and the ways around. */
static void other_state(struct hostile *h, const char *dir)
{
	static const char *const files[] = { ".lock", "tpm2-permall.0", "tpm2-permall.1" };
	const char *base = strrchr(dir, '/');
	char p[PATH_LEN];

	try_openat(h, "a", AT_FDCWD, dir, O_RDONLY | O_DIRECTORY);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		try_openat(h, "a", AT_FDCWD, p, O_RDONLY);
		try_openat(h, "a", AT_FDCWD, p, O_RDWR);
	}
	snprintf(p, sizeof(p), "%s/hostile-was-here", dir);
	try_openat(h, "a", AT_FDCWD, p, O_WRONLY | O_CREAT | O_EXCL);
	/* the state directory descriptor is a way in to its parent: not further */
	try_openat(h, "a", h->state_fd, "..", O_RDONLY | O_DIRECTORY);
	if (base && base[1]) {
		snprintf(p, sizeof(p), "..%s", base);
		try_openat(h, "a", h->state_fd, p, O_RDONLY | O_DIRECTORY);
		snprintf(p, sizeof(p), "..%s/tpm2-permall.0", base);
		try_openat(h, "a", h->state_fd, p, O_RDONLY);
	}
}

/* (b) the manager's store and sealed root secret, by path and from the state directory */
static void manager_files(struct hostile *h, const char *data)
{
	char p[PATH_LEN];

	try_openat(h, "b", AT_FDCWD, data, O_RDONLY | O_DIRECTORY);
	snprintf(p, sizeof(p), "%s/store.db", data);
	try_openat(h, "b", AT_FDCWD, p, O_RDONLY);
	try_openat(h, "b", AT_FDCWD, p, O_RDWR);
	snprintf(p, sizeof(p), "%s/store.db-wal", data);
	try_openat(h, "b", AT_FDCWD, p, O_RDONLY);
	snprintf(p, sizeof(p), "%s/root.seal", data);
	try_openat(h, "b", AT_FDCWD, p, O_RDONLY);
	try_openat(h, "b", h->state_fd, "../../store.db", O_RDONLY);
	try_openat(h, "b", h->state_fd, "../../root.seal", O_RDONLY);
}

/* (c) another vTPM's socket: the socket() call itself must be refused */
static void other_socket(struct hostile *h, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char what[PATH_LEN + 64];
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), e = errno, rc;

	outcome(h, "c", "socket(AF_UNIX, SOCK_STREAM)", fd < 0 ? -1 : 0, e);
	if (fd < 0)
		return;
	/* it should not have got here; see whether connect holds */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	snprintf(what, sizeof(what), "connect %s", path);
	outcome(h, "c", what, rc, e);
	close(fd);
}

/* (d) the network */
static void network(struct hostile *h)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e = errno;

	outcome(h, "d", "socket(AF_INET, SOCK_STREAM)", fd < 0 ? -1 : 0, e);
	if (fd >= 0)
		close(fd);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	e = errno;
	outcome(h, "d", "socket(AF_INET6, SOCK_DGRAM)", fd < 0 ? -1 : 0, e);
	if (fd >= 0)
		close(fd);
}

static int interp_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char **out = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_INTERP)
			*out = (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	return 1;	/* the first object is the program itself */
}

/* The ELF interpreter this program was loaded by: the sandbox lets the kernel execute it. */
static const char *own_interp(void)
{
	const char *interp = NULL;

	dl_iterate_phdr(interp_cb, &interp);
	return interp;
}

/* (e) a shell: by execve, and the file the interpreter would have to read to run one */
static void shell(struct hostile *h)
{
	char *const argv[] = { "sh", "-c", "echo " SHELL_MARKER, NULL };
	int rc = execve("/bin/sh", argv, (char *const[]){ NULL }), e = errno;

	outcome(h, "e", "execve /bin/sh", rc, e);
	try_openat(h, "e", AT_FDCWD, "/bin/sh", O_RDONLY);
}

/*
 * (e) the interpreter trick: the interpreter is executable, so exec it and
 * ask it to load /bin/sh. Success replaces this program; the interpreter
 * must then fail to read /bin/sh. Never returns.
 */
static void shell_via_interp(struct hostile *h)
{
	const char *interp = own_interp();
	char what[PATH_LEN];
	int e;

	if (!interp) {
		say(h, "e no PT_INTERP in this program: cannot try the interpreter");
		_exit(3);
	}
	snprintf(what, sizeof(what), "execve %s /bin/sh", interp);
	say(h, "e %s: calling; the interpreter must not run the shell", what);
	execve(interp, (char *const[]){ (char *)interp, "/bin/sh", "-c", "echo " SHELL_MARKER, NULL },
	       (char *const[]){ NULL });
	e = errno;
	outcome(h, "e", what, -1, e);
	_exit(h->held == h->attempts ? 0 : 1);
}

static void uuid_format(const uint8_t u[VTPM_UUID_SIZE], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;

	for (int i = 0; i < VTPM_UUID_SIZE; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u[i] >> 4];
		*p++ = hex[u[i] & 15];
	}
	*p = '\0';
}

/* (f) the manager channel: every record it hands out names this vTPM and no other */
static void channel(struct hostile *h)
{
	uint8_t req[MGRMSG_MAX], rsp[MGRMSG_MAX];
	struct mgr_response r;
	struct tpmfront *tf;
	char u[37];
	size_t rlen;
	long n;

	tf = h->mgr_fd >= 0 ? tpmfront_open_fd(h->mgr_fd) : NULL;
	if (!tf) {
		h->attempts++;
		h->unexpected++;
		say(h, "f manager channel on fd %d: unexpected (%s)", h->mgr_fd, errname(errno));
		return;
	}
	for (uint8_t type = VTPM_BLOB_PERMANENT; type <= VTPM_BLOB_SAVESTATE; type++) {
		h->attempts++;
		memset(&r, 0, sizeof(r));
		n = mgrmsg_load_request(req, type);
		if (n < 0 || tpmfront_send(tf, req, (size_t)n) < 0 ||
		    tpmfront_recv(tf, rsp, sizeof(rsp), &rlen, MGR_TIMEOUT_MS) < 0 ||
		    mgrmsg_parse_response(VTPM_ORD_LOADHASHKEY, rsp, rlen, &r) < 0 ||
		    r.result != VTPM_SUCCESS) {
			h->unexpected++;
			say(h, "f LOADHASHKEY type %u: unexpected (%s, result %u)", type, errname(errno),
			    r.result);
			continue;
		}
		uuid_format(r.uuid, u);
		if (h->name && !strcmp(u, h->name)) {
			h->held++;
			say(h, "f LOADHASHKEY type %u: confined (its own UUID %s)", type, u);
		} else {
			h->allowed++;
			say(h, "f LOADHASHKEY type %u: ALLOWED another vTPM's record (UUID %s)", type, u);
		}
		explicit_bzero(&r, sizeof(r));
		explicit_bzero(rsp, sizeof(rsp));
	}
	tpmfront_close(tf);
}

/* The number N of "KEY=N" in the vtpm option following `opt`, or -1. */
static int opt_fd(int argc, char **argv, const char *opt, const char *key)
{
	size_t kl = strlen(key);

	for (int i = 1; i + 1 < argc; i++) {
		char *end;
		long v;

		if (strcmp(argv[i], opt) || strncmp(argv[i + 1], key, kl) || argv[i + 1][kl] != '=')
			continue;
		v = strtol(argv[i + 1] + kl + 1, &end, 10);
		return (*end == '\0' || *end == ',') && v >= 0 && v < 1024 ? (int)v : -1;
	}
	return -1;
}

static const char *opt_value(int argc, char **argv, const char *opt)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], opt))
			return argv[i + 1];
	return NULL;
}

/* --- limits mode ---------------------------------------------------------- */

#define FILL_FILE	"hostile.fill"
#define FILL_CHUNK	65536
#define FILL_MAX	(64u << 20)	/* stops here if nothing else does */

static void limit_line(struct hostile *h, const char *what, int res)
{
	struct rlimit rl;

	if (getrlimit(res, &rl) < 0)
		say(h, "limit %s: unknown (%s)", what, errname(errno));
	else if (rl.rlim_cur == RLIM_INFINITY)
		say(h, "limit %s: unlimited", what);
	else
		say(h, "limit %s: %llu %llu", what, (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max);
}

/* Writes FILL_FILE in its state directory until refused; reports how far and why. */
static void fill(struct hostile *h)
{
	static uint8_t chunk[FILL_CHUNK];
	int fd = openat(h->state_fd, FILL_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	unsigned long long total = 0;
	ssize_t n = 0;
	int e = 0;

	if (fd < 0) {
		say(h, "fill: cannot create %s (%s)", FILL_FILE, errname(errno));
		return;
	}
	signal(SIGXFSZ, SIG_IGN);	/* the manager ignores it for us too */
	memset(chunk, 0x5a, sizeof(chunk));
	while (total < FILL_MAX && (n = write(fd, chunk, sizeof(chunk))) > 0)
		total += (unsigned long long)n;
	e = n < 0 ? errno : 0;
	close(fd);
	(void)unlinkat(h->state_fd, FILL_FILE, 0);
	if (total >= FILL_MAX)
		say(h, "fill: ALLOWED (wrote %llu bytes, no limit met)", total);
	else
		say(h, "fill: stopped at %llu bytes (%s)", total, errname(e));
}

static void limits_probe(struct hostile *h)
{
	struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY }, nofile;
	int rc, e;

	limit_line(h, "fsize", RLIMIT_FSIZE);
	limit_line(h, "core", RLIMIT_CORE);
	rc = setrlimit(RLIMIT_FSIZE, &inf);
	e = errno;
	outcome(h, "l", "setrlimit(RLIMIT_FSIZE, unlimited)", rc, e);
	/* a change of another process's limits: its manager's */
	nofile = (struct rlimit){ 1, 1 };
	rc = (int)prlimit(getppid(), RLIMIT_NOFILE, &nofile, NULL);
	e = errno;
	outcome(h, "l", "prlimit(manager, RLIMIT_NOFILE, 1)", rc, e);
	fill(h);
	say(h, "dumpable: %d", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	say(h, "summary: %u attempts, %u held, %u allowed, %u unexpected", h->attempts, h->held,
	    h->allowed, h->unexpected);
	say(h, "p prctl(PR_SET_PDEATHSIG, 0): calling, SIGSYS expected");
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0) {
		say(h, "p prctl(PR_SET_PDEATHSIG, 0): denied (%s)", errname(errno));
		_exit(0);
	}
	say(h, "p prctl(PR_SET_PDEATHSIG, 0): ALLOWED (survived; outliving the manager)");
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	struct hostile h = { .report_fd = -1 };
	const char *other_dir = getenv("HOSTILE_OTHER_DIR"), *other_sock = getenv("HOSTILE_OTHER_SOCK");
	const char *data = getenv("HOSTILE_DATA_DIR"), *ldso = getenv("HOSTILE_LDSO_NAME");
	const char *readable = getenv("HOSTILE_READABLE");
	const char *limits = getenv("HOSTILE_LIMITS_NAME");

	h.state_fd = opt_fd(argc, argv, "--tpmstate", "dirfd");
	h.mgr_fd = opt_fd(argc, argv, "--manager", "fd");
	h.name = opt_value(argc, argv, "--name");
	if (h.state_fd >= 0)
		h.report_fd = openat(h.state_fd, REPORT_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	say(&h, "start: uid %d, state dirfd %d, manager fd %d, report %s", (int)getuid(), h.state_fd,
	    h.mgr_fd, h.report_fd >= 0 ? "open" : errname(errno));
	if (h.state_fd >= 0 && h.name && limits && !strcmp(limits, h.name))
		limits_probe(&h);
	if (h.state_fd < 0 || !h.name || !other_dir || !other_sock || !data || !readable) {
		say(&h, "usage: needs --tpmstate dirfd=N, --name and HOSTILE_OTHER_DIR, "
			"HOSTILE_OTHER_SOCK, HOSTILE_DATA_DIR, HOSTILE_READABLE");
		_exit(2);
	}
	if (ldso && !strcmp(ldso, h.name))
		shell_via_interp(&h);

	other_state(&h, other_dir);
	try_openat(&h, "a", AT_FDCWD, readable, O_RDONLY);
	manager_files(&h, data);
	other_socket(&h, other_sock);
	network(&h);
	shell(&h);
	channel(&h);
	say(&h, "summary: %u attempts, %u held, %u allowed, %u unexpected", h.attempts, h.held,
	    h.allowed, h.unexpected);
	/* (g) outside the allow-list: a user namespace would bring back privileges */
	say(&h, "g unshare(CLONE_NEWUSER): calling, SIGSYS expected");
	if (unshare(CLONE_NEWUSER) == 0)
		say(&h, "g unshare(CLONE_NEWUSER): ALLOWED (survived, got a user namespace)");
	else
		say(&h, "g unshare(CLONE_NEWUSER): ALLOWED (survived, refused with %s)", errname(errno));
	_exit(0);
}
