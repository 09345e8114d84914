/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fileio: the files read here are untrusted (size capped, regular files
 * only, symlinks refused); the write path orders data before name so a
 * crash leaves either the old file or the whole new one.
 */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_open_regular(int dirfd, const char *name, bool follow)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EBADMSG;
		return -1;
	}
	return fd;
}

int file_check_regular(int dirfd, const char *name)
{
	int fd = file_open_regular(dirfd, name, false);

	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	close(fd);
	return 0;
}

int file_read(int dirfd, const char *name, size_t max, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	int fd = file_open_regular(dirfd, name, false);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
		close(fd);
		errno = EBADMSG;
		return -1;
	}
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			free(p);
			close(fd);
			errno = r == 0 ? EBADMSG : errno;
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	*out = p;
	*len = got;
	return 0;
}

const char *file_strerror(int e)
{
	return e == EBADMSG ? "not a regular file, or too large" : strerror(e);
}

/* fsyncs the directory that holds name (relative to dirfd, or a path with dirlen bytes of directory). */
static int sync_dir(int dirfd, const char *name, int dirlen)
{
	char dir[4096];
	int fd, rc;

	if (dirfd != AT_FDCWD && dirlen == 0)
		return fsync(dirfd);
	snprintf(dir, sizeof(dir), "%.*s", dirlen ? dirlen : 1, dirlen ? name : ".");
	fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int file_write_durable(int dirfd, const char *name, const uint8_t *data, size_t len, int mode)
{
	char tmp[4200];
	const char *base = strrchr(name, '/');
	int fd, e, dirlen = base ? (int)(base - name + 1) : 0;

	/* the temp file sits beside the target, so the rename stays in one directory */
	base = base ? base + 1 : name;
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp", dirlen, name, base) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/*
	 * A fresh file, never one found at the temp name: a FIFO left there
	 * would block the open, a hard link would be written through.
	 */
	(void)unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -1;
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	/* data before name: the rename must never expose an unsynced file */
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		goto fail;
	return sync_dir(dirfd, name, dirlen) < 0 ? FILE_RENAMED_UNSYNCED : 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	errno = e;
	return -1;
}

int file_mkdirs(const char *path, int mode)
{
	char p[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(p, path, n + 1);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, (mode_t)mode) < 0 && errno != EEXIST ? -1 : 0;
}
