/*
 * nv: state files of one vTPM. File layout (all big-endian):
 *
 *   magic "VTPMSTAT" | u16 format 1 | u16 type | u32 payload length |
 *   u64 sequence | payload | SHA-256 over everything before it
 *
 * The digest makes truncation, bit flips and foreign files detectable; the
 * sequence grows with each write of a name and is what the manager will pin
 * against rollback. The directory and its files are untrusted on load: the
 * length is capped by NV_BLOB_MAX and must match the file size exactly.
 */
#include "nv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define NV_MAGIC	"VTPMSTAT"
#define NV_FORMAT	1
#define NV_HDR_SIZE	24
#define NV_DIGEST_SIZE	32

struct nv {
	char dir[PATH_MAX];
	int dirfd;
	int lockfd;
	bool tpm2;
	int mode;
	uint64_t seq[3];	/* last sequence loaded or stored, per type */
};

static const char *const nv_names[] = { "permall", "volatilestate", "savestate" };

static int name_type(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, nv_names[i]) == 0)
			return i + 1;
	return 0;
}

static const char *file_name(struct nv *nv, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s-%s", nv->tpm2 ? "tpm2" : "tpm12", name);
	return out;
}

const char *nv_path(struct nv *nv, const char *name, char *out, unsigned outlen)
{
	char fname[64];

	snprintf(out, outlen, "%s/%s", nv->dir, file_name(nv, name, fname, sizeof(fname)));
	return out;
}

struct nv *nv_open(const char *dir, bool tpm2, int file_mode)
{
	struct nv *nv;

	if (strlen(dir) >= PATH_MAX - 32) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return NULL;
	nv = calloc(1, sizeof(*nv));
	if (!nv)
		return NULL;
	snprintf(nv->dir, sizeof(nv->dir), "%s", dir);
	nv->tpm2 = tpm2;
	nv->mode = file_mode > 0 ? file_mode : 0600;
	nv->lockfd = -1;
	nv->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (nv->dirfd < 0) {
		free(nv);
		return NULL;
	}
	return nv;
}

void nv_close(struct nv *nv)
{
	if (!nv)
		return;
	if (nv->lockfd >= 0)
		close(nv->lockfd);
	close(nv->dirfd);
	free(nv);
}

int nv_lock(struct nv *nv, unsigned retries)
{
	/* OFD locks belong to the open file, not the process: a second open fails too */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (nv->lockfd >= 0)
		return 0;
	nv->lockfd = openat(nv->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (nv->lockfd < 0)
		return -1;
	for (unsigned i = 0;; i++) {
		if (fcntl(nv->lockfd, F_OFD_SETLK, &fl) == 0)
			return 0;
		if ((errno != EAGAIN && errno != EACCES) || i >= retries)
			break;
		usleep(10000);
	}
	int e = errno;
	close(nv->lockfd);
	nv->lockfd = -1;
	errno = e;
	return -1;
}

static int digest(const uint8_t *p, size_t n, uint8_t out[NV_DIGEST_SIZE])
{
	unsigned int len = 0;

	if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) || len != NV_DIGEST_SIZE) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Reads a whole regular file of at most max bytes. */
static int read_file(int dirfd, const char *fname, size_t max, uint8_t **out, size_t *outlen)
{
	struct stat st;
	uint8_t *p;
	size_t got = 0;
	int fd = openat(dirfd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
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
	*outlen = got;
	return 0;
}

int nv_load(struct nv *nv, const char *name, uint8_t **data, uint32_t *len)
{
	char fname[64];
	uint8_t *file = NULL, want[NV_DIGEST_SIZE];
	size_t flen;
	struct buf b;
	uint8_t magic[8];
	int type = name_type(name);

	if (!type) {
		errno = EINVAL;
		return -1;
	}
	if (read_file(nv->dirfd, file_name(nv, name, fname, sizeof(fname)),
		      NV_HDR_SIZE + NV_BLOB_MAX + NV_DIGEST_SIZE, &file, &flen) < 0) {
		if (errno == ENOENT)
			return 1;
		log_err("state file %s unreadable: %s", fname, strerror(errno));
		return -1;
	}
	buf_init_read(&b, file, flen);
	buf_get_bytes(&b, magic, sizeof(magic));
	uint16_t format = buf_get_u16(&b);
	uint16_t ftype = buf_get_u16(&b);
	uint32_t plen = buf_get_u32(&b);
	uint64_t seq = buf_get_u64(&b);

	if (!buf_ok(&b) || memcmp(magic, NV_MAGIC, 8) != 0 || format != NV_FORMAT ||
	    ftype != type || plen > NV_BLOB_MAX ||
	    flen != (size_t)NV_HDR_SIZE + plen + NV_DIGEST_SIZE ||
	    digest(file, NV_HDR_SIZE + plen, want) < 0 ||
	    memcmp(want, file + NV_HDR_SIZE + plen, NV_DIGEST_SIZE) != 0) {
		log_err("state file %s is corrupt, truncated or not ours; left untouched", fname);
		free(file);
		errno = EBADMSG;
		return -1;
	}
	*data = malloc(plen ? plen : 1);
	if (!*data) {
		free(file);
		return -1;
	}
	memcpy(*data, file + NV_HDR_SIZE, plen);
	*len = plen;
	nv->seq[type - 1] = seq;
	free(file);
	return 0;
}

int nv_store(struct nv *nv, const char *name, const uint8_t *data, uint32_t len)
{
	char fname[64], tmp[80];
	int type = name_type(name), fd = -1, rc = -1;
	size_t total = (size_t)NV_HDR_SIZE + len + NV_DIGEST_SIZE;
	uint8_t *file = NULL;
	struct buf b;

	if (!type || len > NV_BLOB_MAX) {
		errno = EINVAL;
		return -1;
	}
	file = malloc(total);
	if (!file)
		return -1;
	buf_init_write(&b, file, total);
	buf_put_bytes(&b, NV_MAGIC, 8);
	buf_put_u16(&b, NV_FORMAT);
	buf_put_u16(&b, (uint16_t)type);
	buf_put_u32(&b, len);
	buf_put_u64(&b, nv->seq[type - 1] + 1);
	buf_put_bytes(&b, data, len);
	if (!buf_ok(&b) || digest(file, b.off, file + b.off) < 0)
		goto out;

	file_name(nv, name, fname, sizeof(fname));
	snprintf(tmp, sizeof(tmp), ".%s.tmp", fname);
	fd = openat(nv->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, nv->mode);
	if (fd < 0)
		goto out;
	for (size_t off = 0; off < total;) {
		ssize_t w = write(fd, file + off, total - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto out_unlink;
		}
		off += (size_t)w;
	}
	/* data before name: the rename must never expose an unsynced file */
	if (fsync(fd) < 0)
		goto out_unlink;
	if (close(fd) < 0) {
		fd = -1;
		goto out_unlink;
	}
	fd = -1;
	if (renameat(nv->dirfd, tmp, nv->dirfd, fname) < 0)
		goto out_unlink;
	nv->seq[type - 1]++;	/* the new file is in place: its sequence is used */
	if (fsync(nv->dirfd) < 0)
		goto out;
	rc = 0;
	goto out;
out_unlink:
	{
		int e = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
		(void)unlinkat(nv->dirfd, tmp, 0);
		errno = e;
	}
out:
	if (rc < 0)
		log_err("cannot write state %s: %s", name, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(file);
	return rc;
}

int nv_delete(struct nv *nv, const char *name, bool must_exist)
{
	char fname[64];

	if (!name_type(name)) {
		errno = EINVAL;
		return -1;
	}
	if (unlinkat(nv->dirfd, file_name(nv, name, fname, sizeof(fname)), 0) < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return -1;
	}
	return fsync(nv->dirfd);
}
