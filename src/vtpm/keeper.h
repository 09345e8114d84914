/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keeper: the vtpm's client of vtpmmgr, which keeps the keys, digests and
 * sequences of this vTPM's state files. The vtpm is a tpmif frontend on a
 * rendezvous socket the manager connected before exec (--manager fd=N): the
 * manager knows who we are by that connection. Answers are parsed by
 * lib/mgrmsg. A manager that is slow to answer is waited for without a
 * bound (a stall must not break the TPM); one that goes away while a state
 * write is in flight ends the process without an answer to the command.
 */
#ifndef VTPM_KEEPER_H
#define VTPM_KEEPER_H

#include "ctrl.h"
#include "nv.h"

/* After this long without an answer the wait is logged (and goes on). */
#define KEEPER_SLOW_MS	10000

/* Connects over fd; fills ops with the nv_keeper callbacks. NULL on failure. */
struct keeper *keeper_open(int fd, struct nv_keeper *ops);
void keeper_close(struct keeper *k);
/*
 * Asks for the SHA-256 of the executable the manager launched; a vtpm asks
 * once its TPM runs, which the manager takes as "ready".
 */
int keeper_boot_hash(struct keeper *k, uint8_t hash[VTPM_DIGEST_SIZE]);
/* The ctrl hooks that seal state blobs with the manager's keys (BLOBKEY). */
const struct ctrl_blobkeys *keeper_blobkeys(struct keeper *k);
/* The socket that reads EOF when the manager goes away. */
int keeper_socket(const struct keeper *k);

#endif
