/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * devtpm: `vtpmmgr --dev`, a software TPM (swtpm) standing in for the
 * hardware TPM, with its state in DATA/dev-tpm. NOT SECURE: the "hardware"
 * secrets then sit on the same disk as everything they protect. For demos
 * and machines without a TPM; the manager says so loudly at every start.
 */
#ifndef VTPMMGR_DEVTPM_H
#define VTPMMGR_DEVTPM_H

#include <sys/types.h>

/*
 * Starts swtpm, its state in dev-tpm under the data directory (datafd, named
 * data_dir for swtpm), its socket in run_dir; sets *tcti ("swtpm:path=...",
 * the caller frees it) and returns its pid, or -1.
 */
pid_t devtpm_start(int datafd, const char *data_dir, const char *run_dir, char **tcti);
void devtpm_stop(pid_t pid);

#endif
