/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * helpers: the few things several unit tests and fuzz targets share, header
 * only (the Makefile links each test_<module>.c alone against the two
 * libraries, and builds each fuzz/fuzz_<name>.c alone with the sources): a
 * temporary state directory, whole-file reads for comparing a file before
 * and after an operation, a descriptor-leak probe, a TPM2_GetRandom builder,
 * and the libtpms engine over a temporary directory. Test code only; it
 * trusts the files it wrote itself and aborts when the host fails it.
 */
#ifndef VTPM_TEST_HELPERS_H
#define VTPM_TEST_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "engine.h"
#include "log.h"
#include "nv.h"
#include "tpm.h"

#define TH_PATH_MAX		256
#define TPM2_CC_GET_RANDOM	0x0000017b
#define TH_GETRANDOM_SIZE	12

/* Creates a fresh private directory under $TMPDIR (or /tmp) in out. */
static inline void th_mkdtemp(char out[TH_PATH_MAX])
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, TH_PATH_MAX, "%s/vtpm-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		abort();
	}
}

static inline int th_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything under it (test directories only). */
static inline void th_rmtree(const char *dir)
{
	(void)nftw(dir, th_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reads a whole file into a malloc'd buffer; NULL if it cannot be read. */
static inline uint8_t *th_read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && (p = malloc((size_t)st.st_size + 1)) != NULL &&
	    read(fd, p, (size_t)st.st_size) != (ssize_t)st.st_size) {
		free(p);
		p = NULL;
	}
	close(fd);
	if (p)
		*len = (size_t)st.st_size;
	return p;
}

/* Replaces a file's contents (tests tampering with state files). */
static inline int th_write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok;

	if (fd < 0)
		return -1;
	ok = write(fd, p, len) == (ssize_t)len;
	return close(fd) == 0 && ok ? 0 : -1;
}

static inline bool th_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/*
 * The lowest free descriptor number (what the next open returns). It moves
 * up when a descriptor leaked; compare it before and after an operation.
 */
static inline int th_lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		perror("open /dev/null");
		abort();
	}
	close(fd);
	return fd;
}

/* TPM2_GetRandom(bytes), no sessions: 12 bytes into out. */
static inline size_t th_tpm2_getrandom(uint8_t out[TH_GETRANDOM_SIZE], uint16_t bytes)
{
	struct buf b;

	buf_init_write(&b, out, TH_GETRANDOM_SIZE);
	buf_put_u16(&b, TPM20_ST_NO_SESSIONS);
	buf_put_u32(&b, TH_GETRANDOM_SIZE);
	buf_put_u32(&b, TPM2_CC_GET_RANDOM);
	buf_put_u16(&b, bytes);
	return b.off;
}

/*
 * The one libtpms engine of a test binary (libtpms keeps its TPM in process
 * globals): a TPM 2.0 over a fresh, locked state directory. Not powered on.
 */
struct th_tpm {
	char dir[TH_PATH_MAX];
	struct nv *nv;
};

static inline void th_tpm_open(struct th_tpm *t)
{
	th_mkdtemp(t->dir);
	t->nv = nv_open(t->dir, true, 0600);
	if (!t->nv || nv_lock(t->nv, 0) < 0 || engine_init(true, t->nv) < 0) {
		perror("test engine");
		abort();
	}
}

static inline void th_tpm_close(struct th_tpm *t)
{
	engine_stop();
	nv_close(t->nv);
	t->nv = NULL;
	th_rmtree(t->dir);
}

/* Path of a state file of t (name: "permall", "volatilestate", "savestate"). */
static inline const char *th_state_path(struct th_tpm *t, const char *name, char out[TH_PATH_MAX])
{
	return nv_path(t->nv, name, out, TH_PATH_MAX);
}

/*
 * Powers the engine on from t's stored state; if that state cannot be
 * loaded (a fuzz input may have stored a blob libtpms accepts but cannot
 * resume from), starts over from none. Returns 0 or -1.
 */
static inline int th_tpm_power_on(struct th_tpm *t)
{
	if (engine_running() || engine_start(false, ENGINE_STARTUP_NONE) == 0)
		return 0;
	(void)nv_delete(t->nv, "permall", false);
	(void)nv_delete(t->nv, "volatilestate", false);
	(void)nv_delete(t->nv, "savestate", false);
	return engine_start(false, ENGINE_STARTUP_NONE) == 0 ? 0 : -1;
}

/* Sends expected warnings (malformed input is the point of many tests) to /dev/null. */
static inline void th_quiet_log(void)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	log_init("test", NULL, fd, LOG_ERR);
}

/* ---- fuzz targets ---- */

/* An invariant of a fuzz target: a broken one aborts, which libFuzzer reports. */
static inline void th_check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "%s: invariant broken: %s\n", program_invocation_short_name, what);
		abort();
	}
}

/* The engine of a fuzz target, one per process. */
static inline struct th_tpm *th_fuzz_tpm(void)
{
	static struct th_tpm t;

	return &t;
}

/*
 * At exit only the directory goes: OpenSSL's own exit handler may already
 * have run, so the engine (whose stop writes digested state) is left alone.
 */
static inline void th_fuzz_cleanup(void)
{
	th_rmtree(th_fuzz_tpm()->dir);
}

/* LLVMFuzzerInitialize's part: quiet logs, the engine powered on, cleanup at exit. */
static inline struct th_tpm *th_fuzz_setup(void)
{
	struct th_tpm *t = th_fuzz_tpm();

	th_quiet_log();
	th_tpm_open(t);
	atexit(th_fuzz_cleanup);
	th_check(th_tpm_power_on(t) == 0, "power on");
	return t;
}

#endif
