/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpmfilter: the vtpm's seccomp allow-list (see vtpmfilter.h). Run by
 * vtpmmgr's forked child before exec and by a standalone vtpm on itself.
 * The lists name what a vtpm, glibc, OpenSSL, libtpms and the sanitizer
 * runtimes call; anything else takes the filter's default action.
 */
#include "vtpmfilter.h"

#include <errno.h>
#include <linux/sockios.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <termios.h>

/* What a vtpm calls once running, and what the loader calls to get it there. */
static const int allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
	SCMP_SYS(pwrite64), SCMP_SYS(close), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(lseek),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap), SCMP_SYS(madvise),
	SCMP_SYS(mlock), SCMP_SYS(munlock),
	SCMP_SYS(brk), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx), SCMP_SYS(stat),
	SCMP_SYS(lstat), SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
	SCMP_SYS(readlink), SCMP_SYS(readlinkat), SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(fcntl),
	SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3), SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(unlink),
	SCMP_SYS(unlinkat), SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(getdents64),
	SCMP_SYS(futex), SCMP_SYS(getrandom), SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid), SCMP_SYS(getuid), SCMP_SYS(geteuid),
	SCMP_SYS(getgid), SCMP_SYS(getegid), SCMP_SYS(getresuid), SCMP_SYS(getresgid),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigaction), SCMP_SYS(sigaltstack), SCMP_SYS(signalfd4), SCMP_SYS(sendto),
	SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg), SCMP_SYS(accept),
	SCMP_SYS(accept4), SCMP_SYS(shutdown), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(arch_prctl),
	SCMP_SYS(set_tid_address), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(execve), SCMP_SYS(uname), SCMP_SYS(sched_getaffinity), SCMP_SYS(sched_yield),
	SCMP_SYS(restart_syscall), SCMP_SYS(getcwd), SCMP_SYS(umask), SCMP_SYS(seccomp),
	SCMP_SYS(ftruncate), SCMP_SYS(memfd_create),
	SCMP_SYS(socketpair),	/* AF_UNIX only: the event channel to the manager */
};

/* Refused with EPERM, so a vtpm that tries learns no and keeps running. */
static const int refused[] = {
	SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(bind),
	SCMP_SYS(listen),
};

/*
 * The prctl options a vtpm uses: no new privileges and its seccomp filter
 * (forbid_exec, libseccomp), dumpable off (main), and the reads. Nothing
 * else: PR_SET_PDEATHSIG would let it outlive its manager, PR_SET_DUMPABLE 1
 * would expose its keys to a core dump or a debugger of its uid.
 */
static int prctl_rules(scmp_filter_ctx ctx)
{
	static const struct { int opt; int has_arg; scmp_datum_t arg; } ok[] = {
		{ PR_SET_NO_NEW_PRIVS, 1, 1 }, { PR_GET_NO_NEW_PRIVS, 0, 0 },
		{ PR_SET_DUMPABLE, 1, 0 }, { PR_GET_DUMPABLE, 0, 0 },
		{ PR_GET_SECCOMP, 0, 0 }, { PR_SET_SECCOMP, 0, 0 },	/* filters only add limits */
		{ PR_GET_PDEATHSIG, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct scmp_arg_cmp cmp[2] = {
			{ .arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)ok[i].opt },
			{ .arg = 1, .op = SCMP_CMP_EQ, .datum_a = ok[i].arg },
		};
		if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl),
					   ok[i].has_arg ? 2 : 1, cmp) < 0)
			return -1;
	}
	return 0;
}

/*
 * Limits (RLIMIT_FSIZE, RLIMIT_CORE) are set for it; it may read them
 * (glibc's getrlimit is prlimit64 with no new limit) but change none, but
 * RLIMIT_CORE: its hard limit is 0, so that can only lower it, and the
 * sanitizer runtimes do it at start (disable_coredump); it is the only
 * process of its uid, so the kernel refuses it any other process's.
 */
static int rlimit_rules(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp rd = { .arg = 2, .op = SCMP_CMP_EQ, .datum_a = 0 };
	struct scmp_arg_cmp core = { .arg = 1, .op = SCMP_CMP_EQ, .datum_a = RLIMIT_CORE };
	/*
	 * Every other change: EPERM. libseccomp drops rules written with
	 * SCMP_CMP_NE beside these, so "resource below or above RLIMIT_CORE,
	 * new limit non-NULL" it is.
	 */
	struct scmp_arg_cmp below[2] = {
		{ .arg = 1, .op = SCMP_CMP_LT, .datum_a = RLIMIT_CORE },
		{ .arg = 2, .op = SCMP_CMP_GT, .datum_a = 0 },
	};
	struct scmp_arg_cmp above[2] = {
		{ .arg = 1, .op = SCMP_CMP_GT, .datum_a = RLIMIT_CORE },
		{ .arg = 2, .op = SCMP_CMP_GT, .datum_a = 0 },
	};

	if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, &rd) < 0 ||
	    seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, &core) < 0 ||
	    seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prlimit64), 2, below) < 0 ||
	    seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(prlimit64), 2, above) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setrlimit), 0) < 0)
		return -1;
	return 0;
}

int vtpmfilter_add(scmp_filter_ctx ctx)
{
	/* isatty() on stdio asks TCGETS, the event channel SIOCOUTQ; no other ioctl */
	static const unsigned long ioctls[] = { TCGETS, SIOCOUTQ };

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allowed[i], 0) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), refused[i], 0) < 0)
			return -1;
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		struct scmp_arg_cmp cmp = { .arg = 1, .op = SCMP_CMP_EQ, .datum_a = ioctls[i], .datum_b = 0 };
		if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &cmp) < 0)
			return -1;
	}
	if (prctl_rules(ctx) < 0 || rlimit_rules(ctx) < 0)
		return -1;
	return 0;
}
