/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_nv: libFuzzer target for the vtpm's state-file decoders
 * (src/vtpm/nv.c, plain_load and sealed_load reached through nv_load), whose
 * input is a file in a state directory the vtpm does not trust. Byte 0 bit 0
 * picks the mode, bits 1-2 the state name (permall, volatilestate,
 * savestate; 3 wraps to permall); the rest is written as that state's file
 * in a private temporary directory and loaded. Plain mode: a load that
 * succeeds returns exactly the payload the file's header bounds, and fails
 * once the file loses its last byte or gains one. Sealed mode: a keeper
 * stands in for the manager and records the file's own digest, so the
 * header decoder and the AEAD open run on every input; the key is fixed,
 * so only a file sealed under it can load.
 *
 * Speed: the directory lives on tmpfs (/dev/shm when writable) and is
 * opened once; each load rewrites the one file it reads in place and opens
 * the state through nv_open_fd on a duplicate of that descriptor. The file
 * is still a real file read through lib/fileio, as in the vtpm.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "../tests/unit/helpers.h"
#include "log.h"
#include "nv.h"

#define NV_PLAIN_HDR	24	/* magic, format, type, length, sequence (nv.c) */

static const char *const names[] = { "permall", "volatilestate", "savestate", "permall" };
static char dir[TH_PATH_MAX];
static int dirfd = -1;
static uint8_t file_digest[CRYPTO_DIGEST_SIZE];

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_nv: invariant broken: %s\n", what);
		abort();
	}
}

static void remove_dir(void)
{
	th_rmtree(dir);
}

static int keeper_load(void *arg, int type, uint8_t uuid[VTPM_UUID_SIZE], struct mgr_record *rec)
{
	(void)arg;
	(void)type;
	memset(uuid, 0x5a, VTPM_UUID_SIZE);
	memset(rec, 0, sizeof(*rec));
	rec->present = true;
	rec->seq = 1;
	memcpy(rec->digest, file_digest, sizeof(file_digest));
	memset(rec->key, 0xcd, sizeof(rec->key));
	return 0;
}

static int keeper_save(void *arg, int type, const struct mgr_record *rec)
{
	(void)arg;
	(void)type;
	(void)rec;
	return 0;
}

static const struct nv_keeper keeper = { keeper_load, keeper_save, NULL };

/* Writes the file and loads it; 0 with *data, or -1. */
static int load(bool sealed, const char *name, const uint8_t *p, size_t n, uint8_t **data, uint32_t *len)
{
	char fname[64];
	struct nv *nv;
	int fd, rc;
	bool ok;

	/* every load rewrites the one file it reads: no stale file can answer */
	snprintf(fname, sizeof(fname), "tpm2-%s%s", name, sealed ? ".0" : "");
	fd = openat(dirfd, fname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	check(fd >= 0, "open the state file");
	ok = n == 0 || write(fd, p, n) == (ssize_t)n;
	check(close(fd) == 0 && ok, "write the state file");
	check(crypto_sha256(p, n, file_digest) == 0, "digest");
	fd = dup(dirfd);
	check(fd >= 0, "dup");
	nv = nv_open_fd(fd, true, 0600);
	check(nv != NULL, "nv_open_fd");
	if (sealed)
		nv_set_keeper(nv, &keeper);
	*data = NULL;
	rc = nv_load(nv, name, data, len);
	nv_close(nv);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const char *name;
	bool sealed;
	uint8_t *out, *tmp;
	uint32_t len;

	if (!ready) {
		log_init("fuzz_nv", NULL, open("/dev/null", O_WRONLY | O_CLOEXEC), LOG_ERR);
		if (access("/dev/shm", W_OK) == 0)
			setenv("TMPDIR", "/dev/shm", 1);
		th_mkdtemp(dir);
		atexit(remove_dir);
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		check(dirfd >= 0, "open the directory");
		ready = true;
	}
	if (size < 1)
		return 0;
	sealed = data[0] & 1;
	name = names[(data[0] >> 1) & 3];
	data++;
	size--;
	if (load(sealed, name, data, size, &out, &len) != 0) {
		check(out == NULL, "a refused file returns no data");
		return 0;
	}
	check(len <= NV_BLOB_MAX, "payload capped");
	if (!sealed)
		check(size == NV_PLAIN_HDR + len + CRYPTO_DIGEST_SIZE &&
		      memcmp(out, data + NV_PLAIN_HDR, len) == 0, "plain payload as framed");
	free(out);
	check(load(sealed, name, data, size - 1, &out, &len) != 0, "cut short: refused");
	free(out);
	tmp = malloc(size + 1);
	check(tmp != NULL, "malloc");
	memcpy(tmp, data, size);
	tmp[size] = 0;
	check(load(sealed, name, tmp, size + 1, &out, &len) != 0, "trailing byte: refused");
	free(out);
	free(tmp);
	return 0;
}
