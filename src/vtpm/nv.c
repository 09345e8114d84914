/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nv: state files of one vTPM, in one of two modes.
 *
 * Plain (standalone vtpm, swtpm drop-in): one file per blob type,
 *   magic "VTPMSTAT" | u16 format 1 | u16 type | u32 payload length |
 *   u64 sequence | payload | SHA-256 over everything before it
 * The digest makes truncation, bit flips and foreign files detectable.
 *
 * Sealed (under vtpmmgr): two slot files per blob type, written in turn,
 *   magic "VTPMSEAL" | u16 format 2 | u16 type | u64 sequence | uuid[16] |
 *   u32 length | iv | AES-256-GCM ciphertext | tag
 * with the header as associated data and a fresh key for every write.
 * After a write the key, sequence and SHA-256 of the file go to the
 * manager (the keeper), which records them durably before we return; on
 * load only the slot whose digest the manager holds is accepted, so an
 * older copy put back on disk, a flipped bit or a truncation is refused.
 * A crash before the manager recorded a write leaves its record on the
 * other slot: the unacknowledged write is lost, nothing else.
 *
 * Every write, either mode: temp file, fsync, rename, directory fsync.
 * With a budget (nv_set_budget) a write that would bring the directory
 * past it is refused before anything is written: the last state stays.
 * The directory and its files are untrusted on load: lengths are capped by
 * NV_BLOB_MAX and must match the file size exactly.
 */
#include "nv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "fileio.h"
#include "log.h"
#include "secmem.h"

#define NV_MAGIC	"VTPMSTAT"
#define NV_FORMAT	1
#define NV_HDR_SIZE	24
#define NV_SEAL_MAGIC	"VTPMSEAL"
#define NV_SEAL_FORMAT	2
#define NV_SEAL_HDR	(8 + 2 + 2 + 8 + VTPM_UUID_SIZE)	/* the AAD */
#define NV_FILE_MAX	(NV_SEAL_HDR + 4 + NV_BLOB_MAX + CRYPTO_GCM_OVERHEAD)

#define SLOT_UNKNOWN	-2	/* not yet asked the keeper */
#define SLOT_NONE	-1	/* no recorded state */

struct nv {
	char dir[PATH_MAX];
	int dirfd;
	int lockfd;
	bool tpm2;
	int mode;
	uint64_t seq[3];	/* last sequence loaded or stored, per type */
	const struct nv_keeper *keeper;
	struct mgr_record *rec;	/* sealed: the working record (a file's key), in secmem */
	int slot[3];		/* sealed: slot holding the recorded state */
	uint8_t uuid[VTPM_UUID_SIZE];
	uint64_t budget;	/* bytes the directory may hold at a write's peak; 0: no limit */
};

static const char *const nv_names[] = { "permall", "volatilestate", "savestate" };

static int name_type(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, nv_names[i]) == 0)
			return i + 1;
	return 0;
}

/* slot < 0: the plain file name */
static const char *file_name(struct nv *nv, const char *name, int slot, char *out, size_t n)
{
	if (slot >= 0)
		snprintf(out, n, "%s-%s.%d", nv->tpm2 ? "tpm2" : "tpm12", name, slot);
	else
		snprintf(out, n, "%s-%s", nv->tpm2 ? "tpm2" : "tpm12", name);
	return out;
}

const char *nv_path(struct nv *nv, const char *name, char *out, unsigned outlen)
{
	char fname[64];

	snprintf(out, outlen, "%s/%s", nv->dir,
		 file_name(nv, name, nv->keeper ? 0 : -1, fname, sizeof(fname)));
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

struct nv *nv_open_fd(int dirfd, bool tpm2, int file_mode)
{
	struct nv *nv = calloc(1, sizeof(*nv));

	if (!nv)
		return NULL;
	snprintf(nv->dir, sizeof(nv->dir), "(directory fd %d)", dirfd);
	nv->tpm2 = tpm2;
	nv->mode = file_mode > 0 ? file_mode : 0600;
	nv->lockfd = -1;
	nv->dirfd = dirfd;
	return nv;
}

void nv_set_keeper(struct nv *nv, const struct nv_keeper *keeper)
{
	nv->keeper = keeper;
	if (!nv->rec)
		nv->rec = secmem_alloc(sizeof(*nv->rec));	/* NULL: sealed I/O fails with ENOMEM */
	for (int i = 0; i < 3; i++)
		nv->slot[i] = SLOT_UNKNOWN;
}

void nv_set_budget(struct nv *nv, uint64_t max_bytes)
{
	nv->budget = max_bytes;
}

/* Bytes of the regular files in the state directory, or -1. */
static int64_t dir_bytes(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	int64_t sum = 0;
	struct stat st;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d)))
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			sum += st.st_size;
	closedir(d);
	return sum;
}

/*
 * The new file lies beside every old one until its rename: that peak must
 * fit the budget. Refused before the first byte is written, so the state
 * on disk (and the manager's record of it) stays as it was.
 */
static int budget_check(struct nv *nv, const char *name, size_t file_size)
{
	int64_t used;

	if (!nv->budget)
		return 0;
	used = dir_bytes(nv->dirfd);
	if (used < 0)
		return -1;
	if ((uint64_t)used + file_size > nv->budget) {
		log_err("state budget exceeded: writing %s (%zu bytes) beside %lld bytes of state "
			"would pass the limit of %llu bytes; the last state is kept", name, file_size,
			(long long)used, (unsigned long long)nv->budget);
		errno = EDQUOT;
		return -1;
	}
	return 0;
}

void nv_close(struct nv *nv)
{
	if (!nv)
		return;
	if (nv->lockfd >= 0)
		close(nv->lockfd);
	close(nv->dirfd);
	secmem_free(nv->rec);
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

/* --- plain mode ------------------------------------------------------ */

/*
 * swtpm's plain state file (tpm2-00.permall...): blobheader {u8 version 2,
 * u8 min_version, u16 hdrsize 10, u16 flags, u32 totlen} then TLVs {u16
 * tag, u32 length}; tag 1 holds the libtpms blob. Read once, so a state
 * directory swtpm left behind starts the same TPM under vtpm; the next write
 * is in vtpm's format and takes precedence. Encrypted files are refused.
 */
#define SWTPM_TAG_DATA		1
#define SWTPM_FLAGS_ENCRYPTED	0x01

static int swtpm_import(struct nv *nv, const char *name, uint8_t **data, uint32_t *len)
{
	char fname[64];
	uint8_t *file = NULL;
	size_t flen;
	struct buf b;
	int rc = -1;

	snprintf(fname, sizeof(fname), "%s-00.%s", nv->tpm2 ? "tpm2" : "tpm", name);
	if (file_read(nv->dirfd, fname, 10 + 6 + NV_BLOB_MAX, &file, &flen) < 0)
		return errno == ENOENT ? 1 : -1;
	buf_init_read(&b, file, flen);
	uint8_t version = buf_get_u8(&b);
	(void)buf_get_u8(&b);
	uint16_t hdrsize = buf_get_u16(&b), flags = buf_get_u16(&b);
	uint32_t totlen = buf_get_u32(&b);
	uint16_t tag = buf_get_u16(&b);
	uint32_t dlen = buf_get_u32(&b);
	const uint8_t *d = buf_get_ptr(&b, dlen);

	if (!d || version != 2 || hdrsize != 10 || (flags & SWTPM_FLAGS_ENCRYPTED) ||
	    totlen != flen || tag != SWTPM_TAG_DATA || dlen > NV_BLOB_MAX) {
		log_err("swtpm state file %s is encrypted, corrupt or of an unknown format", fname);
		errno = EBADMSG;
		goto out;
	}
	*data = malloc(dlen ? dlen : 1);
	if (!*data)
		goto out;
	memcpy(*data, d, dlen);
	*len = dlen;
	log_info("imported swtpm state %s", fname);
	rc = 0;
out:
	free(file);
	return rc;
}

static int plain_load(struct nv *nv, const char *name, int type, uint8_t **data, uint32_t *len)
{
	char fname[64];
	uint8_t *file = NULL, want[CRYPTO_DIGEST_SIZE], magic[8];
	size_t flen;
	struct buf b;

	if (file_read(nv->dirfd, file_name(nv, name, -1, fname, sizeof(fname)),
		      NV_HDR_SIZE + NV_BLOB_MAX + CRYPTO_DIGEST_SIZE, &file, &flen) < 0) {
		if (errno == ENOENT)
			return swtpm_import(nv, name, data, len);
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
	    flen != (size_t)NV_HDR_SIZE + plen + CRYPTO_DIGEST_SIZE ||
	    crypto_sha256(file, NV_HDR_SIZE + plen, want) < 0 ||
	    memcmp(want, file + NV_HDR_SIZE + plen, CRYPTO_DIGEST_SIZE) != 0) {
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

static int plain_store(struct nv *nv, const char *name, int type, const uint8_t *data, uint32_t len)
{
	char fname[64];
	size_t total = (size_t)NV_HDR_SIZE + len + CRYPTO_DIGEST_SIZE;
	uint8_t *file = malloc(total);
	struct buf b;
	int rc = -1;

	if (!file)
		return -1;
	buf_init_write(&b, file, total);
	buf_put_bytes(&b, NV_MAGIC, 8);
	buf_put_u16(&b, NV_FORMAT);
	buf_put_u16(&b, (uint16_t)type);
	buf_put_u32(&b, len);
	buf_put_u64(&b, nv->seq[type - 1] + 1);
	buf_put_bytes(&b, data, len);
	if (buf_ok(&b) && crypto_sha256(file, b.off, file + b.off) == 0) {
		rc = file_write_durable(nv->dirfd, file_name(nv, name, -1, fname, sizeof(fname)), file,
					total, nv->mode);
		/* once renamed the sequence is spent, even if the dir fsync failed */
		if (rc == 0 || rc == FILE_RENAMED_UNSYNCED)
			nv->seq[type - 1]++;
		rc = rc == 0 ? 0 : -1;
	}
	explicit_bzero(file, total);
	free(file);
	return rc;
}

/* --- sealed mode ----------------------------------------------------- */

/* Asks the keeper once which slot holds the recorded state of a type. */
static int sealed_locate(struct nv *nv, const char *name, int type, struct mgr_record *rec)
{
	uint8_t *file = NULL, digest[CRYPTO_DIGEST_SIZE];
	size_t flen;
	char fname[64];
	int found = SLOT_NONE;

	if (nv->keeper->load(nv->keeper->arg, type, nv->uuid, rec) < 0) {
		log_err("the manager did not answer for %s: %s", name, strerror(errno));
		return -1;
	}
	if (!rec->present) {
		/* nothing acknowledged: files here were never recorded, so never trusted */
		for (int s = 0; s < 2; s++)
			if (unlinkat(nv->dirfd, file_name(nv, name, s, fname, sizeof(fname)), 0) == 0)
				log_warn("removed unrecorded state file %s", fname);
		nv->slot[type - 1] = SLOT_NONE;
		nv->seq[type - 1] = rec->seq;
		return 0;
	}
	for (int s = 0; s < 2 && found == SLOT_NONE; s++) {
		if (file_read(nv->dirfd, file_name(nv, name, s, fname, sizeof(fname)), NV_FILE_MAX,
			      &file, &flen) < 0)
			continue;
		if (crypto_sha256(file, flen, digest) == 0 &&
		    memcmp(digest, rec->digest, CRYPTO_DIGEST_SIZE) == 0)
			found = s;
		free(file);
	}
	if (found == SLOT_NONE) {
		log_err("no %s file matches the manager's record (replayed, tampered, truncated "
			"or missing); refusing it, files left untouched", name);
		errno = EBADMSG;
		return -1;
	}
	nv->slot[type - 1] = found;
	nv->seq[type - 1] = rec->seq;
	return 0;
}

static int sealed_load(struct nv *nv, const char *name, int type, uint8_t **data, uint32_t *len)
{
	struct mgr_record *rec = nv->rec;	/* secmem: the key */
	uint8_t *file = NULL, magic[8], uuid[VTPM_UUID_SIZE];
	size_t flen;
	char fname[64];
	struct buf b;
	int rc = -1;

	if (!rec || sealed_locate(nv, name, type, rec) < 0)
		goto out;
	if (nv->slot[type - 1] == SLOT_NONE) {
		rc = 1;
		goto out;
	}
	if (file_read(nv->dirfd, file_name(nv, name, nv->slot[type - 1], fname, sizeof(fname)),
		      NV_FILE_MAX, &file, &flen) < 0)
		goto out;
	buf_init_read(&b, file, flen);
	buf_get_bytes(&b, magic, sizeof(magic));
	uint16_t format = buf_get_u16(&b), ftype = buf_get_u16(&b);
	uint64_t seq = buf_get_u64(&b);
	buf_get_bytes(&b, uuid, sizeof(uuid));
	uint32_t clen = buf_get_u32(&b);
	const uint8_t *ct = buf_get_ptr(&b, clen);

	/* the digest matched, yet the header is checked: the manager's word is not enough */
	if (!ct || !buf_done(&b) || memcmp(magic, NV_SEAL_MAGIC, 8) != 0 ||
	    format != NV_SEAL_FORMAT || ftype != type || seq != rec->seq ||
	    memcmp(uuid, nv->uuid, VTPM_UUID_SIZE) != 0 || clen < CRYPTO_GCM_OVERHEAD ||
	    clen - CRYPTO_GCM_OVERHEAD > NV_BLOB_MAX) {
		log_err("state file %s does not belong to this vTPM at this sequence", fname);
		errno = EBADMSG;
		goto out;
	}
	*len = clen - CRYPTO_GCM_OVERHEAD;
	*data = malloc(*len ? *len : 1);
	if (!*data)
		goto out;
	if (crypto_open(rec->key, file, NV_SEAL_HDR, ct, clen, *data) < 0) {
		log_err("state file %s does not decrypt under the manager's key", fname);
		free(*data);
		*data = NULL;
		errno = EBADMSG;
		goto out;
	}
	rc = 0;
out:
	if (rec)
		explicit_bzero(rec, sizeof(*rec));
	free(file);
	return rc;
}

static int sealed_store(struct nv *nv, const char *name, int type, const uint8_t *data, uint32_t len)
{
	struct mgr_record *rec = nv->rec;	/* secmem: the key */
	size_t total = NV_SEAL_HDR + 4 + (size_t)len + CRYPTO_GCM_OVERHEAD;
	uint8_t *file = NULL;
	char fname[64];
	struct buf b;
	int slot, rc = -1;

	if (!rec)
		goto out;
	memset(rec, 0, sizeof(*rec));
	rec->present = true;
	if (nv->slot[type - 1] == SLOT_UNKNOWN && sealed_locate(nv, name, type, rec) < 0)
		goto out;
	/* never overwrite the recorded slot: a crash must leave it intact */
	slot = nv->slot[type - 1] == 0 ? 1 : 0;
	rec->seq = nv->seq[type - 1] + 1;
	file = malloc(total);
	if (!file || crypto_random(rec->key, sizeof(rec->key)) < 0)
		goto out;
	buf_init_write(&b, file, total);
	buf_put_bytes(&b, NV_SEAL_MAGIC, 8);
	buf_put_u16(&b, NV_SEAL_FORMAT);
	buf_put_u16(&b, (uint16_t)type);
	buf_put_u64(&b, rec->seq);
	buf_put_bytes(&b, nv->uuid, VTPM_UUID_SIZE);
	buf_put_u32(&b, len + CRYPTO_GCM_OVERHEAD);
	if (!buf_ok(&b) || crypto_seal(rec->key, file, NV_SEAL_HDR, data, len, file + b.off) < 0 ||
	    file_write_durable(nv->dirfd, file_name(nv, name, slot, fname, sizeof(fname)), file, total, nv->mode) != 0 ||
	    crypto_sha256(file, total, rec->digest) < 0)
		goto out;
	/* acknowledged only once the manager has recorded it durably */
	if (nv->keeper->save(nv->keeper->arg, type, rec) < 0) {
		log_err("the manager did not record %s: %s", name, strerror(errno));
		goto out;
	}
	nv->slot[type - 1] = slot;
	nv->seq[type - 1] = rec->seq;
	rc = 0;
out:
	if (rec)
		explicit_bzero(rec, sizeof(*rec));
	if (file) {
		explicit_bzero(file, total);
		free(file);
	}
	return rc;
}

static int sealed_delete(struct nv *nv, const char *name, int type)
{
	struct mgr_record rec = { .present = false };
	char fname[64];

	if (nv->slot[type - 1] == SLOT_UNKNOWN && sealed_locate(nv, name, type, &rec) < 0)
		return -1;
	if (nv->slot[type - 1] == SLOT_NONE)
		return 0;
	/* the record goes first: a crash then leaves unrecorded files, ignored on load */
	memset(&rec, 0, sizeof(rec));
	rec.seq = nv->seq[type - 1] + 1;
	if (nv->keeper->save(nv->keeper->arg, type, &rec) < 0)
		return -1;
	nv->slot[type - 1] = SLOT_NONE;
	nv->seq[type - 1] = rec.seq;
	for (int s = 0; s < 2; s++)
		(void)unlinkat(nv->dirfd, file_name(nv, name, s, fname, sizeof(fname)), 0);
	return fsync(nv->dirfd);
}

/* --- API --------------------------------------------------------------- */

int nv_load(struct nv *nv, const char *name, uint8_t **data, uint32_t *len)
{
	int type = name_type(name);

	if (!type) {
		errno = EINVAL;
		return -1;
	}
	return nv->keeper ? sealed_load(nv, name, type, data, len)
			  : plain_load(nv, name, type, data, len);
}

int nv_store(struct nv *nv, const char *name, const uint8_t *data, uint32_t len)
{
	int type = name_type(name), rc;

	if (!type || len > NV_BLOB_MAX) {
		errno = EINVAL;
		return -1;
	}
	/* either format's framing is below NV_FILE_MAX - NV_BLOB_MAX */
	rc = budget_check(nv, name, (size_t)len + NV_FILE_MAX - NV_BLOB_MAX);
	if (rc == 0)
		rc = nv->keeper ? sealed_store(nv, name, type, data, len)
			: plain_store(nv, name, type, data, len);
	if (rc < 0)
		log_err("cannot write state %s: %s", name, strerror(errno));
	return rc;
}

int nv_delete(struct nv *nv, const char *name, bool must_exist)
{
	char fname[64];
	int type = name_type(name);

	if (!type) {
		errno = EINVAL;
		return -1;
	}
	if (nv->keeper)
		return sealed_delete(nv, name, type);
	if (unlinkat(nv->dirfd, file_name(nv, name, -1, fname, sizeof(fname)), 0) < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return -1;
	}
	return fsync(nv->dirfd);
}
