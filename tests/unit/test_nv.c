/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_nv: the state files. Files on disk are untrusted on load: a bit flip
 * anywhere, truncation, a trailing byte, or a well-formed file of the wrong
 * type, magic, format or length must fail with EBADMSG and leave the file as
 * it was. Also the round trip, atomic replacement, a failing fsync (by
 * fault injection), absence, and the directory lock as seen from another
 * process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "buf.h"
#include "crypto.h"
#include "helpers.h"
#include "nv.h"

/* File layout, from nv.c's header comment. */
#define HDR_SIZE	24
#define DIGEST_SIZE	32
#define FILE_SIZE(n)	(HDR_SIZE + (size_t)(n) + DIGEST_SIZE)

/*
 * Fault injection: this definition takes the place of libc's fsync for the
 * whole test binary. With fsync_fail_in = n > 0, the nth fsync from now
 * fails with EIO (1: the temp file's, 2: the directory's in nv_store).
 */
static int fsync_fail_in;

int fsync(int fd)
{
	if (fsync_fail_in > 0 && --fsync_fail_in == 0) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

struct fixture {
	char dir[TH_PATH_MAX];
	char path[TH_PATH_MAX];	/* the permall file */
	struct nv *nv;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fsync_fail_in = 0;
	th_mkdtemp(f->dir);
	f->nv = nv_open(f->dir, true, 0600);
	assert_non_null(f->nv);
	nv_path(f->nv, "permall", f->path, sizeof(f->path));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nv_close(f->nv);
	th_rmtree(f->dir);
	free(f);
	return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13);
}

/* Loads name and asserts it holds exactly want[0..n). */
static void expect_load(struct nv *nv, const char *name, const uint8_t *want, uint32_t n)
{
	uint8_t *got = NULL;
	uint32_t len = 0xffffffff;

	assert_int_equal(nv_load(nv, name, &got, &len), 0);
	assert_non_null(got);
	assert_int_equal(len, n);
	if (n)
		assert_memory_equal(got, want, n);
	free(got);
}

/* Writes bytes as the file, then asserts the load fails with EBADMSG and the file stays. */
static void expect_rejected(struct fixture *f, const uint8_t *bytes, size_t n)
{
	uint8_t *data = NULL, *after;
	uint32_t len = 1234;
	size_t m = 0;

	assert_int_equal(th_write_file(f->path, bytes, n), 0);
	errno = 0;
	assert_int_equal(nv_load(f->nv, "permall", &data, &len), -1);
	assert_int_equal(errno, EBADMSG);
	assert_null(data);	/* nothing handed out */
	after = th_read_file(f->path, &m);
	assert_non_null(after);
	assert_int_equal(m, n);
	if (n)
		assert_memory_equal(after, bytes, n);
	free(after);
}

/* The sequence number in a state file's header (0 if unreadable). */
static uint64_t file_seq(const char *path)
{
	size_t n = 0;
	uint8_t *file = th_read_file(path, &n);
	uint64_t seq = 0;

	if (file && n >= HDR_SIZE)
		seq = (uint64_t)be32_load(file + 16) << 32 | be32_load(file + 20);
	free(file);
	return seq;
}

/* A file with the given fields and a correct digest over them. */
static size_t forge(uint8_t *out, const char magic[8], uint16_t format, uint16_t type,
		    uint32_t plen_field, const uint8_t *payload, uint32_t plen)
{
	struct buf b;
	unsigned int dlen = 0;

	buf_init_write(&b, out, FILE_SIZE(plen));
	buf_put_bytes(&b, magic, 8);
	buf_put_u16(&b, format);
	buf_put_u16(&b, type);
	buf_put_u32(&b, plen_field);
	buf_put_u64(&b, 1);
	buf_put_bytes(&b, payload, plen);
	assert_true(buf_ok(&b));
	assert_int_equal(EVP_Digest(out, b.off, out + b.off, &dlen, EVP_sha256(), NULL), 1);
	assert_int_equal(dlen, DIGEST_SIZE);
	return b.off + DIGEST_SIZE;
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	static const char *const names[] = { "permall", "volatilestate", "savestate" };
	uint8_t data[3][100];

	for (int i = 0; i < 3; i++) {
		fill(data[i], sizeof(data[i]), (unsigned)i * 50);
		assert_int_equal(nv_store(f->nv, names[i], data[i], sizeof(data[i])), 0);
	}
	for (int i = 0; i < 3; i++)
		expect_load(f->nv, names[i], data[i], sizeof(data[i]));
	/* another handle on the directory (a restarted process) reads the same */
	struct nv *nv2 = nv_open(f->dir, true, 0600);
	assert_non_null(nv2);
	for (int i = 0; i < 3; i++)
		expect_load(nv2, names[i], data[i], sizeof(data[i]));
	nv_close(nv2);
}

/*
 * The state budget: a write whose file would not fit beside the current
 * ones is refused with EDQUOT before anything is written, the previous
 * state stays loadable, and a write that fits still goes through.
 */
static void test_budget(void **state)
{
	struct fixture *f = *state;
	static uint8_t small[1000], big[8000];
	uint8_t *before, *after;
	size_t n_before, n_after;

	fill(small, sizeof(small), 1);
	fill(big, sizeof(big), 2);
	assert_int_equal(nv_store(f->nv, "permall", small, sizeof(small)), 0);
	nv_set_budget(f->nv, 4096);
	/* the old file (about 1 KiB) and a new 1 KiB one fit in 4 KiB */
	assert_int_equal(nv_store(f->nv, "permall", small, sizeof(small)), 0);
	before = th_read_file(f->path, &n_before);
	assert_non_null(before);
	errno = 0;
	assert_int_equal(nv_store(f->nv, "permall", big, sizeof(big)), -1);
	assert_int_equal(errno, EDQUOT);
	expect_load(f->nv, "permall", small, sizeof(small));
	after = th_read_file(f->path, &n_after);
	assert_non_null(after);
	assert_int_equal(n_after, n_before);
	assert_memory_equal(after, before, n_before);
	free(before);
	free(after);
	/* no budget: the same write goes through */
	nv_set_budget(f->nv, 0);
	assert_int_equal(nv_store(f->nv, "permall", big, sizeof(big)), 0);
	expect_load(f->nv, "permall", big, sizeof(big));
}

static void test_round_trip_sizes(void **state)
{
	struct fixture *f = *state;
	uint8_t *big = malloc(NV_BLOB_MAX);

	assert_non_null(big);
	assert_int_equal(nv_store(f->nv, "permall", NULL, 0), 0);
	expect_load(f->nv, "permall", NULL, 0);
	fill(big, NV_BLOB_MAX, 7);
	assert_int_equal(nv_store(f->nv, "permall", big, NV_BLOB_MAX), 0);
	expect_load(f->nv, "permall", big, NV_BLOB_MAX);
	/* one byte above the cap is refused and the stored file stays */
	errno = 0;
	assert_int_equal(nv_store(f->nv, "permall", big, NV_BLOB_MAX + 1), -1);
	assert_int_equal(errno, EINVAL);
	expect_load(f->nv, "permall", big, NV_BLOB_MAX);
	free(big);
}

/* Header fields as documented; the sequence grows with each write of a name. */
static void test_file_format(void **state)
{
	struct fixture *f = *state;
	uint8_t data[16], *file;
	size_t n = 0;

	fill(data, sizeof(data), 1);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		assert_int_equal(nv_store(f->nv, "permall", data, sizeof(data)), 0);
		file = th_read_file(f->path, &n);
		assert_non_null(file);
		assert_int_equal(n, FILE_SIZE(sizeof(data)));
		assert_memory_equal(file, "VTPMSTAT", 8);
		assert_int_equal(be16_load(file + 8), 1);		/* format */
		assert_int_equal(be16_load(file + 10), 1);		/* type: permall */
		assert_int_equal(be32_load(file + 12), sizeof(data));
		assert_int_equal(be32_load(file + 16), 0);
		assert_int_equal(be32_load(file + 20), seq);
		assert_memory_equal(file + HDR_SIZE, data, sizeof(data));
		free(file);
	}
}

static void test_file_mode_and_names(void **state)
{
	struct fixture *f = *state;
	char path[TH_PATH_MAX], want[TH_PATH_MAX + 32];
	struct nv *nv12;
	struct stat st;
	mode_t old = umask(022);

	nv_close(f->nv);
	f->nv = nv_open(f->dir, true, 0640);
	assert_non_null(f->nv);
	assert_int_equal(nv_store(f->nv, "permall", (const uint8_t *)"x", 1), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	snprintf(want, sizeof(want), "%s/tpm2-permall", f->dir);
	assert_string_equal(f->path, want);

	/* TPM 1.2 state lives beside it under its own names */
	nv12 = nv_open(f->dir, false, 0);
	assert_non_null(nv12);
	snprintf(want, sizeof(want), "%s/tpm12-volatilestate", f->dir);
	assert_string_equal(nv_path(nv12, "volatilestate", path, sizeof(path)), want);
	uint8_t *p = NULL;
	uint32_t len = 0;
	assert_int_equal(nv_load(nv12, "permall", &p, &len), 1);
	assert_int_equal(nv_store(nv12, "permall", (const uint8_t *)"yy", 2), 0);
	assert_int_equal(stat(nv_path(nv12, "permall", path, sizeof(path)), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);	/* default mode */
	expect_load(f->nv, "permall", (const uint8_t *)"x", 1);
	nv_close(nv12);
	umask(old);
}

static void test_open_creates_dir(void **state)
{
	struct fixture *f = *state;
	char sub[TH_PATH_MAX + 8];
	struct nv *nv;
	struct stat st;

	snprintf(sub, sizeof(sub), "%s/new", f->dir);
	nv = nv_open(sub, true, 0);
	assert_non_null(nv);
	assert_int_equal(stat(sub, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	nv_close(nv);
	assert_int_equal(rmdir(sub), 0);
}

/* Lists the directory's entries other than the given ones; returns their count. */
static int stray_entries(const char *dir, const char *const *keep, int nkeep)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int strays = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		bool ok = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");

		for (int i = 0; i < nkeep && !ok; i++)
			ok = !strcmp(e->d_name, keep[i]);
		if (!ok) {
			fprintf(stderr, "stray entry %s\n", e->d_name);
			strays++;
		}
	}
	closedir(d);
	return strays;
}

/* A store replaces the file by rename: a reader holding the old file sees it whole. */
static void test_atomic_replace(void **state)
{
	struct fixture *f = *state;
	static const char *const keep[] = { "tpm2-permall" };
	uint8_t a[200], b[300], old[FILE_SIZE(200)];
	struct stat st1, st2;
	int fd;

	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	assert_int_equal(nv_store(f->nv, "permall", a, sizeof(a)), 0);
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st1), 0);

	assert_int_equal(nv_store(f->nv, "permall", b, sizeof(b)), 0);
	assert_int_equal(stat(f->path, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);		/* a new file, renamed into place */
	assert_int_equal(st2.st_size, FILE_SIZE(sizeof(b)));
	assert_int_equal(pread(fd, old, sizeof(old), 0), (ssize_t)sizeof(old));
	assert_memory_equal(old + HDR_SIZE, a, sizeof(a));
	close(fd);
	expect_load(f->nv, "permall", b, sizeof(b));
	assert_int_equal(stray_entries(f->dir, keep, 1), 0);	/* no temp file left */
}

/* The file's fsync fails: the store fails, the old file stays, nothing is left behind. */
static void test_store_fsync_fails(void **state)
{
	struct fixture *f = *state;
	static const char *const keep[] = { "tpm2-permall" };
	uint8_t a[32], b[32];
	int free_fd;

	fill(a, sizeof(a), 1);
	fill(b, sizeof(b), 2);
	assert_int_equal(nv_store(f->nv, "permall", a, sizeof(a)), 0);
	free_fd = th_lowest_free_fd();
	fsync_fail_in = 1;
	errno = 0;
	assert_int_equal(nv_store(f->nv, "permall", b, sizeof(b)), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(fsync_fail_in, 0);
	expect_load(f->nv, "permall", a, sizeof(a));
	assert_int_equal(stray_entries(f->dir, keep, 1), 0);
	assert_int_equal(th_lowest_free_fd(), free_fd);	/* the temp file's fd was closed */
}

/*
 * The directory's fsync fails after the rename: the new file is in place,
 * so its sequence number is spent; the next write must still grow it.
 */
static void test_store_dir_fsync_fails(void **state)
{
	struct fixture *f = *state;
	uint8_t a[32];

	fill(a, sizeof(a), 1);
	assert_int_equal(nv_store(f->nv, "permall", a, sizeof(a)), 0);
	assert_int_equal(file_seq(f->path), 1);
	fsync_fail_in = 2;
	assert_int_equal(nv_store(f->nv, "permall", a, sizeof(a)), -1);
	assert_int_equal(fsync_fail_in, 0);
	assert_int_equal(file_seq(f->path), 2);		/* in place, with sequence 2 */
	assert_int_equal(nv_store(f->nv, "permall", a, sizeof(a)), 0);
	assert_int_equal(file_seq(f->path), 3);
}

static void test_absent(void **state)
{
	struct fixture *f = *state;
	uint8_t *p = NULL;
	uint32_t len = 0;

	assert_int_equal(nv_load(f->nv, "permall", &p, &len), 1);
	assert_null(p);
	assert_int_equal(nv_delete(f->nv, "permall", false), 0);
	errno = 0;
	assert_int_equal(nv_delete(f->nv, "permall", true), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(nv_store(f->nv, "savestate", (const uint8_t *)"abc", 3), 0);
	assert_int_equal(nv_delete(f->nv, "savestate", true), 0);
	assert_false(th_exists(nv_path(f->nv, "savestate", (char[TH_PATH_MAX]){ 0 }, TH_PATH_MAX)));
	assert_int_equal(nv_load(f->nv, "savestate", &p, &len), 1);
}

static void test_bad_name(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = { "", "permal", "permall2", "../permall", "NVChip" };
	uint8_t *p = NULL;
	uint32_t len = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(nv_load(f->nv, bad[i], &p, &len), -1);
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_int_equal(nv_store(f->nv, bad[i], (const uint8_t *)"x", 1), -1);
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_int_equal(nv_delete(f->nv, bad[i], false), -1);
		assert_int_equal(errno, EINVAL);
	}
}

/* Stores a 16-byte permall and returns a copy of its file. */
static uint8_t *good_file(struct fixture *f, uint8_t payload[16], size_t *n)
{
	uint8_t *file;

	fill(payload, 16, 9);
	assert_int_equal(nv_store(f->nv, "permall", payload, 16), 0);
	file = th_read_file(f->path, n);
	assert_non_null(file);
	assert_int_equal(*n, FILE_SIZE(16));
	return file;
}

static void test_bit_flip_anywhere(void **state)
{
	struct fixture *f = *state;
	uint8_t payload[16], *good, *bad;
	size_t n = 0;

	good = good_file(f, payload, &n);
	bad = malloc(n);
	assert_non_null(bad);
	for (size_t bit = 0; bit < n * 8; bit++) {
		memcpy(bad, good, n);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		expect_rejected(f, bad, n);
	}
	assert_int_equal(th_write_file(f->path, good, n), 0);
	expect_load(f->nv, "permall", payload, 16);
	free(bad);
	free(good);
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	uint8_t payload[16], *good;
	size_t n = 0;

	good = good_file(f, payload, &n);
	for (size_t len = 0; len < n; len++)
		expect_rejected(f, good, len);
	assert_int_equal(th_write_file(f->path, good, n), 0);
	expect_load(f->nv, "permall", payload, 16);
	free(good);
}

static void test_trailing_byte(void **state)
{
	struct fixture *f = *state;
	uint8_t payload[16], *good, *longer;
	size_t n = 0;

	good = good_file(f, payload, &n);
	longer = malloc(n + 1);
	assert_non_null(longer);
	memcpy(longer, good, n);
	longer[n] = 0;
	expect_rejected(f, longer, n + 1);
	free(longer);
	free(good);
}

/* Well-formed files with a correct digest, but not the file asked for. */
static void test_forged_fields(void **state)
{
	struct fixture *f = *state;
	uint8_t payload[16], file[FILE_SIZE(16)];
	size_t n;

	fill(payload, sizeof(payload), 3);
	/* the control: a forged file with every field right loads */
	n = forge(file, "VTPMSTAT", 1, 1, 16, payload, 16);
	assert_int_equal(th_write_file(f->path, file, n), 0);
	expect_load(f->nv, "permall", payload, 16);

	n = forge(file, "VTPMSTAU", 1, 1, 16, payload, 16);	/* magic */
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 2, 1, 16, payload, 16);	/* format */
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 2, 16, payload, 16);	/* type: volatilestate */
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 0, 16, payload, 16);
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 1, 15, payload, 16);	/* length field */
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 1, 17, payload, 16);
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 1, UINT32_MAX, payload, 16);
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 1, 0, payload, 16);	/* 0, max, max + 1 */
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 1, NV_BLOB_MAX, payload, 16);
	expect_rejected(f, file, n);
	n = forge(file, "VTPMSTAT", 1, 1, NV_BLOB_MAX + 1, payload, 16);
	expect_rejected(f, file, n);
}

/*
 * Sealed mode's decoder. The stand-in keeper can vouch for whatever file
 * is on disk (follow), so the header and AEAD checks are reached rather
 * than the digest comparison in front of them.
 */
#define SEAL_LEN_OFF	(8 + 2 + 2 + 8 + VTPM_UUID_SIZE)
static struct {
	struct mgr_record rec;
	bool follow;
	char path[TH_PATH_MAX + 16];
} kp;

static int kp_load(void *arg, int type, uint8_t uuid[VTPM_UUID_SIZE], struct mgr_record *rec)
{
	uint8_t *file;
	size_t n = 0;

	(void)arg;
	(void)type;
	memset(uuid, 0x5a, VTPM_UUID_SIZE);
	*rec = kp.rec;
	if (kp.follow) {
		file = th_read_file(kp.path, &n);
		assert_non_null(file);
		assert_int_equal(crypto_sha256(file, n, rec->digest), 0);
		free(file);
	}
	return 0;
}

static int kp_save(void *arg, int type, const struct mgr_record *rec)
{
	(void)arg;
	(void)type;
	kp.rec = *rec;
	kp.rec.present = !mgrmsg_record_is_empty(rec);	/* as the manager records it */
	return 0;
}

static void sealed_rejected(struct fixture *f, const uint8_t *bytes, size_t n)
{
	uint8_t *data = NULL;
	uint32_t len = 0;

	assert_int_equal(th_write_file(kp.path, bytes, n), 0);
	errno = 0;
	assert_int_equal(nv_load(f->nv, "permall", &data, &len), -1);
	assert_int_equal(errno, EBADMSG);
	assert_null(data);
}

static void test_sealed_decoder(void **state)
{
	static const struct nv_keeper keeper = { kp_load, kp_save, NULL };
	const uint32_t lens[] = { 0, CRYPTO_GCM_OVERHEAD - 1, NV_BLOB_MAX + CRYPTO_GCM_OVERHEAD,
				  NV_BLOB_MAX + CRYPTO_GCM_OVERHEAD + 1, UINT32_MAX };
	struct fixture *f = *state;
	uint8_t payload[16], *good, *c;
	size_t n = 0;

	memset(&kp, 0, sizeof(kp));
	nv_set_keeper(f->nv, &keeper);
	fill(payload, sizeof(payload), 5);
	assert_int_equal(nv_store(f->nv, "permall", payload, sizeof(payload)), 0);
	expect_load(f->nv, "permall", payload, sizeof(payload));	/* round trip */
	good = NULL;
	for (int s = 0; s < 2 && !good; s++) {
		snprintf(kp.path, sizeof(kp.path), "%s/tpm2-permall.%d", f->dir, s);
		good = th_read_file(kp.path, &n);
	}
	assert_non_null(good);
	assert_int_equal(n, SEAL_LEN_OFF + 4 + sizeof(payload) + CRYPTO_GCM_OVERHEAD);
	c = malloc(n + 1);
	assert_non_null(c);
	kp.follow = true;
	for (size_t len = 0; len < n; len++)
		sealed_rejected(f, good, len);
	memcpy(c, good, n);
	c[n] = 0;
	sealed_rejected(f, c, n + 1);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(c, good, n);
		be32_store(c + SEAL_LEN_OFF, lens[i]);
		sealed_rejected(f, c, n);
	}
	assert_int_equal(th_write_file(kp.path, good, n), 0);
	expect_load(f->nv, "permall", payload, sizeof(payload));
	free(c);
	free(good);
}

/* A genuine file of one name copied over another is not accepted. */
static void test_wrong_type_copied(void **state)
{
	struct fixture *f = *state;
	char vpath[TH_PATH_MAX];
	uint8_t payload[16], *good, *p = NULL, *after;
	uint32_t len = 0;
	size_t n = 0, m = 0;

	good = good_file(f, payload, &n);
	nv_path(f->nv, "volatilestate", vpath, sizeof(vpath));
	assert_int_equal(th_write_file(vpath, good, n), 0);
	errno = 0;
	assert_int_equal(nv_load(f->nv, "volatilestate", &p, &len), -1);
	assert_int_equal(errno, EBADMSG);
	after = th_read_file(vpath, &m);
	assert_non_null(after);
	assert_int_equal(m, n);
	assert_memory_equal(after, good, n);
	free(after);
	free(good);
}

static void test_oversized_file(void **state)
{
	struct fixture *f = *state;
	size_t n = FILE_SIZE(NV_BLOB_MAX) + 1;
	uint8_t *big = calloc(1, n), *p = NULL;
	uint32_t len = 0;
	int fd;

	assert_non_null(big);
	memcpy(big, "VTPMSTAT", 8);
	expect_rejected(f, big, n);
	free(big);

	/* a huge (sparse) file is refused by its size, before anything is allocated */
	fd = open(f->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)1 << 36), 0);
	close(fd);
	errno = 0;
	assert_int_equal(nv_load(f->nv, "permall", &p, &len), -1);
	assert_int_equal(errno, EBADMSG);
}

static void test_not_a_regular_file(void **state)
{
	struct fixture *f = *state;
	char target[TH_PATH_MAX], other[TH_PATH_MAX + 8];
	struct nv *nv2;
	uint8_t *p = NULL;
	uint32_t len = 0;

	assert_int_equal(mkdir(f->path, 0700), 0);
	errno = 0;
	assert_int_equal(nv_load(f->nv, "permall", &p, &len), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(rmdir(f->path), 0);

	/* a symlink is not followed, even to a valid state file */
	snprintf(other, sizeof(other), "%s/other", f->dir);
	nv2 = nv_open(other, true, 0);
	assert_non_null(nv2);
	assert_int_equal(nv_store(nv2, "permall", (const uint8_t *)"abc", 3), 0);
	expect_load(nv2, "permall", (const uint8_t *)"abc", 3);
	assert_int_equal(symlink(nv_path(nv2, "permall", target, sizeof(target)), f->path), 0);
	errno = 0;
	assert_int_equal(nv_load(f->nv, "permall", &p, &len), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(unlink(f->path), 0);
	nv_close(nv2);
}

/* Runs fn in a child process; returns its exit status. */
static int in_child(int (*fn)(const char *dir), const char *dir)
{
	int status = -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Child: 0 if the lock is busy, 1 if it was taken, 2 on other errors. */
static int child_try_lock(const char *dir)
{
	struct nv *nv = nv_open(dir, true, 0);
	int r;

	if (!nv)
		return 2;
	r = nv_lock(nv, 3);
	if (r == 0) {
		nv_close(nv);
		return 1;
	}
	r = errno == EAGAIN || errno == EACCES ? 0 : 2;
	nv_close(nv);
	return r;
}

static void test_lock(void **state)
{
	struct fixture *f = *state;

	/* unlocked: another process may take it */
	assert_int_equal(in_child(child_try_lock, f->dir), 1);
	assert_int_equal(nv_lock(f->nv, 0), 0);
	assert_int_equal(nv_lock(f->nv, 0), 0);	/* taking it again is a no-op */
	assert_int_equal(in_child(child_try_lock, f->dir), 0);
	assert_int_equal(in_child(child_try_lock, f->dir), 0);
	/* closing releases it */
	nv_close(f->nv);
	f->nv = nv_open(f->dir, true, 0600);
	assert_non_null(f->nv);
	assert_int_equal(in_child(child_try_lock, f->dir), 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip),
		T(test_round_trip_sizes),
		T(test_budget),
		T(test_file_format),
		T(test_file_mode_and_names),
		T(test_open_creates_dir),
		T(test_atomic_replace),
		T(test_store_fsync_fails),
		T(test_store_dir_fsync_fails),
		T(test_absent),
		T(test_bad_name),
		T(test_bit_flip_anywhere),
		T(test_truncated),
		T(test_trailing_byte),
		T(test_forged_fields),
		T(test_sealed_decoder),
		T(test_wrong_type_copied),
		T(test_oversized_file),
		T(test_not_a_regular_file),
		T(test_lock),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
