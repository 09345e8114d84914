/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rootkey: seal files hold no secret in clear; only the hardware TPM, with
 * the PCRs as approved, can open them. Every write is durable (lib/fileio).
 */
#include "rootkey.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "fileio.h"
#include "log.h"

#define SEAL_FILE_MAX	8192

static int write_seal(struct hwtpm *hw, int datafd, const char *name,
		      const struct hwtpm_pcrvals *expect, const uint8_t root[HWTPM_SECRET_SIZE])
{
	uint8_t *blob = NULL;
	size_t len = 0;
	int rc;

	if (hwtpm_seal(hw, expect, root, &blob, &len) < 0)
		return -1;
	rc = file_write_durable(datafd, name, blob, len, 0600) == 0 ? 0 : -1;
	free(blob);
	return rc;
}

/* 0 unsealed; 1 absent; -1 error (errno EACCES: *mismatch set). */
static int try_unseal(struct hwtpm *hw, int datafd, const char *name, uint8_t root[HWTPM_SECRET_SIZE],
		      struct hwtpm_pcrsel *mismatch, uint8_t **blob, size_t *len)
{
	if (file_read(datafd, name, SEAL_FILE_MAX, blob, len) < 0) {
		if (errno == ENOENT)
			return 1;
		/* a FIFO or device in its place is refused at once, never waited on */
		int e = errno;

		log_err("seal file %s unreadable: %s", name, file_strerror(e));
		errno = e;
		return -1;
	}
	return hwtpm_unseal(hw, *blob, *len, root, mismatch);
}

int rootkey_obtain(struct hwtpm *hw, int datafd, const struct hwtpm_pcrsel *sel, bool store_exists,
		   uint8_t root[HWTPM_SECRET_SIZE])
{
	struct hwtpm_pcrsel mismatch = { 0 }, next_mismatch = { 0 };
	struct hwtpm_pcrvals now;
	uint8_t *blob = NULL, *next = NULL;
	size_t len = 0, next_len = 0;
	char names[128];
	int r, e;

	r = try_unseal(hw, datafd, ROOTKEY_FILE, root, &mismatch, &blob, &len);
	if (r == 0)
		goto out;
	if (r == 1) {
		if (store_exists) {
			log_err("the store exists but %s is missing: refusing to make a new root secret",
				ROOTKEY_FILE);
			errno = EBADMSG;
			r = -1;
			goto out;
		}
		/* first start: a new root secret, sealed to the PCRs as they are now */
		if (crypto_random(root, HWTPM_SECRET_SIZE) < 0 || hwtpm_pcr_read(hw, sel, &now) < 0 ||
		    write_seal(hw, datafd, ROOTKEY_FILE, &now, root) < 0) {
			explicit_bzero(root, HWTPM_SECRET_SIZE);
			r = -1;
			goto out;
		}
		hwtpm_pcrsel_format(sel, names, sizeof(names));
		log_info("created the root secret, sealed to %s", names);
		r = 0;
		goto out;
	}
	if (errno != EACCES)
		goto out;
	/* the current configuration is not the sealed one: is it the approved next one? */
	e = try_unseal(hw, datafd, ROOTKEY_NEXT_FILE, root, &next_mismatch, &next, &next_len);
	if (e == 0) {
		if (file_write_durable(datafd, ROOTKEY_FILE, next, next_len, 0600) == 0)
			(void)unlinkat(datafd, ROOTKEY_NEXT_FILE, 0);
		log_info("the approved next configuration is in effect; it is now the current seal");
		r = 0;
		goto out;
	}
	hwtpm_pcrsel_format(&mismatch, names, sizeof(names));
	log_err("PCRs differ from the sealed configuration: %s; refusing to start, nothing changed",
		names);
	errno = EACCES;
	r = -1;
out:
	free(blob);
	free(next);
	return r;
}

int rootkey_approve(struct hwtpm *hw, int datafd, const struct hwtpm_pcrvals *expect,
		    const uint8_t root[HWTPM_SECRET_SIZE])
{
	char names[128];

	if (write_seal(hw, datafd, ROOTKEY_NEXT_FILE, expect, root) < 0)
		return -1;
	hwtpm_pcrsel_format(&expect->sel, names, sizeof(names));
	log_info("approved the next configuration of %s (%s)", names, ROOTKEY_NEXT_FILE);
	return 0;
}
