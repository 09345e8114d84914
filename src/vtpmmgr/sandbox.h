/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sandbox: the least privilege Linux gives a vtpm, applied by the manager
 * in the forked child before exec, so it holds even for a vtpm binary that
 * is hostile from its first instruction: its own uid and gid, no
 * supplementary groups, no new privileges, Landlock (where the kernel has
 * it) limiting files to its own state directory plus read-only system
 * files and its own executable, limits it cannot raise (file size: its
 * state budget; core dumps: none), and a default-deny seccomp allow-list
 * (lib/vtpmfilter): creating, binding or connecting sockets fails with
 * EPERM (the listeners are handed in), anything outside the list kills
 * the process.
 */
#ifndef VTPMMGR_SANDBOX_H
#define VTPMMGR_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Applies it all to the calling process (a child of parent, the manager),
 * including death with the parent; -1 with errno (the child then exits).
 * binfd is the vtpm binary, opened while still root: the only file it may
 * execute (with its ELF interpreter), by execveat(binfd, "", AT_EMPTY_PATH).
 * fsize_max bounds every file it writes (RLIMIT_FSIZE; 0: no bound).
 */
int sandbox_apply(uid_t uid, gid_t gid, int state_dirfd, int binfd, pid_t parent, uint64_t fsize_max);
/* The Landlock ABI version the kernel offers, or 0 (logged once by the manager). */
int sandbox_landlock_abi(void);

#endif
