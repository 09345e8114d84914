/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pidrec: the manager's record of the vtpm processes it runs, one small
 * file per running vTPM in DATA_DIR/pids, so that a manager starting after
 * one that died can find and stop a vtpm that outlived it before it serves.
 * A record names the process by pid, start time (clock ticks since boot,
 * /proc/PID/stat), uid and boot id: a pid the kernel has since handed to
 * another process never matches, and neither does one from an earlier boot.
 * Records are ours (in the manager's data directory, which no vtpm can
 * reach), but each is parsed with bounds anyway.
 */
#ifndef VTPMMGR_PIDREC_H
#define VTPMMGR_PIDREC_H

#include <stdbool.h>
#include <sys/types.h>

/* The record name of --dev's stand-in swtpm (devtpm.c); every other name is a vTPM's UUID. */
#define PIDREC_STAND_IN	"dev-tpm"

/* Records the vtpm just forked for vTPM name (a UUID), to run as uid. 0 or -1. */
int pidrec_add(int datafd, const char *name, pid_t pid, uid_t uid);
/* Drops the record of name, once its process is reaped. */
void pidrec_drop(int datafd, const char *name);
/*
 * True when the running process pid started at start_ticks (since this
 * boot) and runs as uid: the process a record was made for.
 */
bool pidrec_matches(pid_t pid, unsigned long long start_ticks, uid_t uid);
/* The start time of pid in clock ticks since boot, or 0 if it is gone. */
unsigned long long pidrec_start_time(pid_t pid);
/*
 * At manager start, under the data directory's lock: every recorded vtpm
 * still running is killed (SIGKILL through a pidfd) and waited for; every
 * record is removed. Returns the number stopped, or -1 if one would not go.
 */
int pidrec_sweep(int datafd);

#endif
