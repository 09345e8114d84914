/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nv: the vTPM's state directory. Every byte libtpms persists goes through
 * nv_store, the single write path: framed, digested, written to a temp file,
 * fsync'd, renamed into place, and the directory fsync'd, so a crash leaves
 * either the old or the new file, never a torn one. Run by the vtpm process;
 * the files on disk are untrusted on load (checked before use).
 */
#ifndef VTPM_NV_H
#define VTPM_NV_H

#include <stdbool.h>
#include <stdint.h>

#include "mgrmsg.h"

/* Largest state blob accepted from disk or a client (swtpm uses 512 KiB). */
#define NV_BLOB_MAX	(512u * 1024)

struct nv;

/* Opens (creating with 0700 if absent) dir; prefix names files per TPM version. */
struct nv *nv_open(const char *dir, bool tpm2, int file_mode);
/* Same, over a directory descriptor handed in (taken over). */
struct nv *nv_open_fd(int dirfd, bool tpm2, int file_mode);
void nv_close(struct nv *nv);
/*
 * The manager side of sealed mode: load answers with the vTPM's UUID and
 * the record of a blob type; save records a write durably (0) or fails.
 */
struct nv_keeper {
	int (*load)(void *arg, int type, uint8_t uuid[VTPM_UUID_SIZE], struct mgr_record *rec);
	int (*save)(void *arg, int type, const struct mgr_record *rec);
	void *arg;
};

/* Switches to sealed mode: encrypted slot files, records kept by the keeper. */
void nv_set_keeper(struct nv *nv, const struct nv_keeper *keeper);
/*
 * Caps the bytes the directory may hold while a write is under way (old
 * files and the new one side by side); 0: no cap. A write past it fails
 * with EDQUOT and changes nothing.
 */
void nv_set_budget(struct nv *nv, uint64_t max_bytes);
/* Takes the directory lock (fcntl on DIR/.lock); retries every 10 ms. */
int nv_lock(struct nv *nv, unsigned retries);
/*
 * Loads blob name ("permall", "volatilestate", "savestate") into a malloc'd
 * buffer. Returns 0, 1 when absent, or -1 with errno (EBADMSG: corrupt,
 * truncated or tampered file; the file is left untouched).
 */
int nv_load(struct nv *nv, const char *name, uint8_t **data, uint32_t *len);
int nv_store(struct nv *nv, const char *name, const uint8_t *data, uint32_t len);
/* Returns 0, or -1 (ENOENT only when must_exist). */
int nv_delete(struct nv *nv, const char *name, bool must_exist);
/* Path of a blob's file, for logs and tests. */
const char *nv_path(struct nv *nv, const char *name, char *out, unsigned outlen);

#endif
