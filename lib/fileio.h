/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fileio: whole-file reads with a size cap, and the one durable write path
 * (temp file, fsync, rename, directory fsync) for every process that keeps
 * state: vtpm's state files, the manager's sealed root secret.
 */
#ifndef VTPM_FILEIO_H
#define VTPM_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Returned by file_write_durable when the new file is in place but the directory fsync failed. */
#define FILE_RENAMED_UNSYNCED	-2

/*
 * Reads the regular file name (relative to dirfd, no symlinks) into a
 * malloc'd buffer. -1 with ENOENT when absent, EBADMSG when larger than max.
 */
int file_read(int dirfd, const char *name, size_t max, uint8_t **out, size_t *len);
/* Replaces name atomically and durably. 0, -1 (old file intact), or FILE_RENAMED_UNSYNCED. */
int file_write_durable(int dirfd, const char *name, const uint8_t *data, size_t len, int mode);

/* Creates path and any missing parents (mkdir -p); existing ones are fine. */
int file_mkdirs(const char *path, int mode);

#endif
