/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ident: UUID creation and uid allocation for new vTPMs. Runs in vtpmmgr;
 * the store it reads is the manager's own (verified when it was opened).
 */
#include "ident.h"

#include <errno.h>
#include <stdbool.h>

#include "crypto.h"

int ident_uuid_random(uint8_t uuid[VTPM_UUID_SIZE])
{
	if (crypto_random(uuid, VTPM_UUID_SIZE) < 0)
		return -1;
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);	/* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	return 0;
}

int ident_uid_free(const struct store *st, uint32_t base, uint32_t count, uint32_t *uid)
{
	/* subtractive: base + count may not fit in 32 bits */
	for (uint32_t k = 0; k < count; k++) {
		bool used = false;

		for (size_t i = 0; i < store_count(st) && !used; i++)
			used = store_at(st, i)->uid == base + k;
		if (!used) {
			*uid = base + k;
			return 0;
		}
	}
	errno = ENOSPC;
	return -1;
}
