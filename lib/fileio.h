/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fileio: whole-file reads with a size cap, and the one durable write path
 * (temp file, fsync, rename, directory fsync) for every process that keeps
 * state: vtpm's state files, the manager's sealed root secret.
 */
#ifndef VTPM_FILEIO_H
#define VTPM_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returned by file_write_durable when the new file is in place but the directory fsync failed. */
#define FILE_RENAMED_UNSYNCED	-2

/*
 * Opens name (relative to dirfd) read-only, without blocking and without
 * following a final symlink unless follow is set; the descriptor is
 * returned only for a regular file. -1 with ENOENT when absent, ELOOP for
 * a symlink, EBADMSG for anything else (a FIFO, socket, device, directory).
 * O_NONBLOCK is what keeps a FIFO planted in a file's place from hanging
 * the open; it has no effect on the regular file's reads.
 */
int file_open_regular(int dirfd, const char *name, bool follow);
/* 0 when name is a regular file, 1 when absent, -1 otherwise (errno as above). */
int file_check_regular(int dirfd, const char *name);
/*
 * Reads the regular file name (relative to dirfd, no symlinks) into a
 * malloc'd buffer. -1 with ENOENT when absent, EBADMSG when larger than max
 * or not a regular file.
 */
int file_read(int dirfd, const char *name, size_t max, uint8_t **out, size_t *len);
/* strerror, with EBADMSG from the functions above said as what it means here. */
const char *file_strerror(int e);
/* Replaces name atomically and durably. 0, -1 (old file intact), or FILE_RENAMED_UNSYNCED. */
int file_write_durable(int dirfd, const char *name, const uint8_t *data, size_t len, int mode);

/* Creates path and any missing parents (mkdir -p); existing ones are fine. */
int file_mkdirs(const char *path, int mode);

#endif
