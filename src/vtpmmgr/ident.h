/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ident: the identity a vTPM gets when it is created: a random UUID (RFC
 * 4122 version 4) and a uid of its own from the configured range. Runs in
 * vtpmmgr at `create`; it reads only the manager's own store.
 */
#ifndef VTPMMGR_IDENT_H
#define VTPMMGR_IDENT_H

#include <stdint.h>

#include "store.h"

/* Fills uuid with a random version-4 UUID; -1 when no randomness. */
int ident_uuid_random(uint8_t uuid[VTPM_UUID_SIZE]);
/*
 * The lowest uid in [base, base + count) that no vTPM in st has; -1 with
 * errno ENOSPC when every one is taken.
 */
int ident_uid_free(const struct store *st, uint32_t base, uint32_t count, uint32_t *uid);

#endif
