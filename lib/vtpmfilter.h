/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vtpmfilter: the seccomp allow-list of a vtpm, one list for both ways a
 * vtpm runs: vtpmmgr installs it in the forked child before exec (adding
 * the one execveat it needs), and a standalone vtpm installs it on itself
 * once its listeners are open. Trusts nothing: it only builds the filter.
 */
#ifndef VTPM_VTPMFILTER_H
#define VTPM_VTPMFILTER_H

#include <seccomp.h>
#include <stdint.h>

/*
 * Adds the allow-list to ctx: the system calls a vtpm makes once running
 * (and the loader to get it there); socket, connect, bind and listen
 * refused with EPERM; prctl only for the options a vtpm uses (no death
 * signal change, no dumpable again); prlimit64 only to read a limit (a
 * change is refused with EPERM); ioctl only TCGETS and SIOCOUTQ.
 * 0 or -1 (errno).
 */
int vtpmfilter_add(scmp_filter_ctx ctx);

#endif
