/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sandbox: runs in the manager's forked child between fork and exec: plain
 * syscalls only, no logging; a failure shows as the child's exit status.
 * Order matters: ids first (setuid needs no seccomp allowance then), no new
 * privileges (required by both Landlock and unprivileged seccomp), Landlock,
 * seccomp last.
 */
#include "sandbox.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <grp.h>
#include <signal.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vtpmfilter.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER	(1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif

int sandbox_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);

	return v > 0 ? (int)v : 0;
}

static int add_fd(int ruleset, int fd, uint64_t access)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = access, .parent_fd = fd };

	return (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
}

static int add_path(int ruleset, const char *path, uint64_t access)
{
	int fd = open(path, O_PATH | O_CLOEXEC), rc;

	if (fd < 0)
		return errno == ENOENT ? 0 : -1;	/* /lib64 may not exist */
	rc = add_fd(ruleset, fd, access);
	close(fd);
	return rc;
}

/*
 * The ELF interpreter of the binary open at fd (PT_INTERP): the kernel opens it for
 * execution too, so it needs the execute right; no other file gets it.
 */
static int elf_interp(int fd, char *out, size_t n)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int rc = -1;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(ph) || eh.e_phnum > 64)
		goto out;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			goto out;
		if (ph.p_type != PT_INTERP)
			continue;
		if (ph.p_filesz == 0 || ph.p_filesz > n ||
		    pread(fd, out, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz ||
		    out[ph.p_filesz - 1] != '\0')
			goto out;
		rc = 0;
		break;
	}
out:
	return rc;
}

static int landlock(int state_dirfd, int binfd)
{
	int abi = sandbox_landlock_abi(), rs, rc = -1;
	char interp[256];
	uint64_t fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* every ABI 1 right */
	uint64_t read = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	uint64_t state = read | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE |
			 LANDLOCK_ACCESS_FS_MAKE_REG;

	if (abi == 0)
		return 0;	/* no Landlock: uid, seccomp and fds passed in still hold */
	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3) {
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
		state |= LANDLOCK_ACCESS_FS_TRUNCATE;
	}
	struct landlock_ruleset_attr attr = { .handled_access_fs = fs };
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0)
		return -1;
	/*
	 * The loader reads libraries and OpenSSL its configuration; nothing else
	 * is readable (not /usr/bin: the loader cannot be made to run a program).
	 */
	if (elf_interp(binfd, interp, sizeof(interp)) < 0)
		goto out;
	if (add_path(rs, "/usr/lib", read) < 0 || add_path(rs, "/lib", read) < 0 ||
	    add_path(rs, "/lib64", read) < 0 || add_path(rs, "/usr/lib64", read) < 0 ||
	    add_path(rs, "/etc", read) < 0 || add_path(rs, "/usr/share/zoneinfo", read) < 0 ||
	    add_path(rs, interp, LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE) < 0 ||
	    add_path(rs, "/dev/null", LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE) < 0 ||
	    add_path(rs, "/dev/urandom", LANDLOCK_ACCESS_FS_READ_FILE) < 0 ||
	    add_fd(rs, binfd, LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE) < 0 ||
	    add_fd(rs, state_dirfd, state) < 0)
		goto out;
	rc = (int)syscall(SYS_landlock_restrict_self, rs, 0);
out:
	close(rs);
	return rc;
}

static int seccomp(int binfd)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = -1;

	if (!ctx)
		return -1;
	if (vtpmfilter_add(ctx) < 0)
		goto out;
	/*
	 * The exec itself is by descriptor (the binary may lie below a directory
	 * the vtpm's uid cannot traverse): execveat of exactly binfd, empty path.
	 */
	struct scmp_arg_cmp ex[2] = {
		{ .arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)binfd },
		{ .arg = 4, .op = SCMP_CMP_EQ, .datum_a = AT_EMPTY_PATH },
	};
	if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execveat), 2, ex) < 0)
		goto out;
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return rc;
}

/*
 * Limits the vtpm cannot raise (hard = soft; raising a hard limit needs
 * CAP_SYS_RESOURCE, and the filter refuses prlimit64 changes anyway): no
 * file it writes grows past its state budget, and no core dump of it is
 * written. A write past the size limit then fails with EFBIG instead of
 * raising SIGXFSZ, so an honest vtpm reports a failed write and lives.
 */
static int limits(uint64_t fsize_max)
{
	struct rlimit fs = { .rlim_cur = (rlim_t)fsize_max, .rlim_max = (rlim_t)fsize_max };
	struct rlimit core = { 0, 0 };

	if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		return -1;
	if (setrlimit(RLIMIT_CORE, &core) < 0)
		return -1;
	return fsize_max ? setrlimit(RLIMIT_FSIZE, &fs) : 0;
}

int sandbox_apply(uid_t uid, gid_t gid, int state_dirfd, int binfd, pid_t parent, uint64_t fsize_max)
{
	if (limits(fsize_max) < 0)
		return -1;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -1;
	/*
	 * A vtpm cannot record state without its manager: it dies with it (set
	 * after the uid change, which clears it), and a manager already gone
	 * before this line is caught by the parent check.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	if (landlock(state_dirfd, binfd) < 0)
		return -1;
	return seccomp(binfd);
}
