/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rootkey: the manager's 32-byte root secret, from which the store key is
 * derived. Generated at first start, sealed to the hardware TPM under a PCR
 * policy, kept in memory only while the manager runs. A running manager can
 * approve the next expected PCR values (the seed's approved-configuration
 * update, done simply): the secret is sealed to them in root.next.seal,
 * which a later start uses, and promotes, if the current seal no longer
 * matches. Runs in vtpmmgr; the seal files are untrusted (hwtpm parses them).
 */
#ifndef VTPMMGR_ROOTKEY_H
#define VTPMMGR_ROOTKEY_H

#include <stdbool.h>
#include <stdint.h>

#include "hwtpm.h"

#define ROOTKEY_FILE		"root.seal"
#define ROOTKEY_NEXT_FILE	"root.next.seal"

/*
 * Unseals the root secret, or creates and seals one when neither it nor a
 * store exists. -1 with EACCES when the PCRs differ from every approved
 * configuration (the PCRs are named in the log, nothing is written), EBADMSG
 * when the store exists without its seal.
 */
int rootkey_obtain(struct hwtpm *hw, int datafd, const struct hwtpm_pcrsel *sel, bool store_exists,
		   uint8_t root[HWTPM_SECRET_SIZE]);
/* Seals root to expect as the next approved configuration (root.next.seal). */
int rootkey_approve(struct hwtpm *hw, int datafd, const struct hwtpm_pcrvals *expect,
		    const uint8_t root[HWTPM_SECRET_SIZE]);

#endif
