/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_powerloss: power cut at every durability point of the state write
 * path, with the page cache lost. Drives the real code: src/vtpm/nv.c in
 * sealed mode writing through lib/fileio, its records going as mgrmsg
 * requests to the manager's keysvc and store (SQLite, WAL, full sync) and
 * the counter step after each commit. Only the transport (the ring) and the
 * hardware NV counter are stand-ins: a direct call, and a counter in memory
 * shared with the checker (a TPM counter is durable the moment it moves).
 *
 * The disk model (POSIX's minimum): a file's bytes are durable once the
 * file is fsync'd (or fdatasync'd); a name (create, rename, unlink) once
 * its directory is fsync'd. This binary defines fsync, fdatasync, renameat,
 * unlink and unlinkat itself, so every caller in the process reaches them,
 * the SQLite library included: each is a cut point. At cut point k the
 * child process writes the disk as the model says it survives into a fresh
 * directory and exits before the operation; the parent then opens that
 * image with the same code and checks that the store opens (verified, not
 * older than the counter), that each state blob holds the last acknowledged
 * write or the one in flight and never anything else, and that the
 * recovered vTPM takes a new write. A second model makes names durable at
 * once (a journalling filesystem's metadata), so both outcomes of an
 * unsynced rename are tried. The same again for a standalone vtpm (plain
 * state files, no manager). No timing: the cut points are counted, and
 * printed: 45 under the manager and 17 standalone, each under both models.
 *
 * Test code: trusts itself; files in its own temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "helpers.h"
#include "keysvc.h"
#include "mgr.h"
#include "mgrmsg.h"
#include "nv.h"
#include "store.h"

#define PL_FILES	256	/* inodes the model follows */
#define PL_NAMES	64	/* names per directory */
#define PL_BLOB		700	/* bytes of each state blob */
#define PL_CUT_EXIT	42

enum kind { K_FSYNC, K_DIRSYNC, K_COMMIT, K_RENAME, K_UNLINK, K_COUNTER, K_KINDS };
static const char *const kind_names[K_KINDS] = {
	"state fsync (after write)", "directory fsync", "store commit (fsync)",
	"rename", "unlink", "counter step"
};

/* --- the disk model (child only) ----------------------------------------- */

struct pl_file { ino_t ino; uint8_t *data; size_t len; };
struct pl_name { char name[256]; ino_t ino; };
struct pl_dir { const char *rel; ino_t ino; struct pl_name names[PL_NAMES]; int n; };

static char root[TH_PATH_MAX];
static struct pl_dir dirs[2] = { { .rel = "mgr" }, { .rel = "vtpm" } };
static struct pl_file files[PL_FILES];
static int nfiles;
static bool model_on, eager, plain;	/* plain: a standalone vtpm, no manager */
static long cut_at, events;

/* Shared with the parent: what the child acknowledged, and the counter. */
struct pl_shared {
	uint64_t counter;
	int acked;		/* operations acknowledged */
	long events;
	long kinds[K_KINDS];
};
static struct pl_shared *sh;

static struct pl_dir *dir_of(ino_t ino)
{
	for (int i = 0; i < 2; i++)
		if (dirs[i].ino == ino)
			return &dirs[i];
	return NULL;
}

/* Records the bytes of the open file fd as durable. */
static void keep_file(int fd, ino_t ino)
{
	char proc[64];
	uint8_t *p;
	size_t len;
	int i;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	p = th_read_file(proc, &len);
	if (!p)
		abort();
	for (i = 0; i < nfiles && files[i].ino != ino; i++)
		;
	if (i == nfiles) {
		if (nfiles == PL_FILES)
			abort();
		nfiles++;
	}
	free(files[i].data);
	files[i] = (struct pl_file){ ino, p, len };
}

/* Records the names of a directory as durable (and, at start, every file's bytes). */
static void keep_dir(struct pl_dir *d, bool with_files)
{
	char path[TH_PATH_MAX + 16];
	struct dirent *e;
	struct stat st;
	DIR *dh;

	snprintf(path, sizeof(path), "%s/%s", root, d->rel);
	dh = opendir(path);
	if (!dh)
		abort();
	d->n = 0;
	while ((e = readdir(dh)) != NULL) {
		if (fstatat(dirfd(dh), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (d->n == PL_NAMES)
			abort();
		memcpy(d->names[d->n].name, e->d_name, sizeof(d->names[0].name));
		d->names[d->n++].ino = st.st_ino;
		if (with_files) {
			int fd = openat(dirfd(dh), e->d_name, O_RDONLY | O_CLOEXEC);

			if (fd < 0)
				abort();
			keep_file(fd, st.st_ino);
			close(fd);
		}
	}
	closedir(dh);
}

/* The power goes: the disk as the model says it survives, into root/cut. */
static void __attribute__((noreturn)) power_cut(void)
{
	char path[TH_PATH_MAX + 300];

	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/cut/%s", root, dirs[i].rel);
		if (mkdir(path, 0700) < 0)
			_exit(1);
		for (int j = 0; j < dirs[i].n; j++) {
			const struct pl_file *f = NULL;

			for (int k = 0; k < nfiles; k++)
				if (files[k].ino == dirs[i].names[j].ino)
					f = &files[k];
			snprintf(path, sizeof(path), "%s/cut/%s/%s", root, dirs[i].rel,
				 dirs[i].names[j].name);
			/* a name whose bytes were never synced: an empty file */
			if (th_write_file(path, f ? f->data : (const uint8_t *)"", f ? f->len : 0) < 0)
				_exit(1);
		}
	}
	_exit(PL_CUT_EXIT);
}

static void point(enum kind k)
{
	sh->events = ++events;
	sh->kinds[k]++;
	if (events == cut_at)
		power_cut();
}

/* Pins the inode at name, so a later file cannot take its number. */
static void pin(int dfd, const char *name)
{
	(void)openat(dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
}

static int sync_any(int fd, long nr)
{
	struct stat st;

	if (!model_on)
		return (int)syscall(nr, fd);
	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		struct pl_dir *d = dir_of(st.st_ino);

		point(d && d == &dirs[0] ? K_COMMIT : K_DIRSYNC);
		if (d)
			keep_dir(d, false);
		return 0;
	}
	/* the store's files live in mgr/: their syncs are its commits */
	char proc[64], target[TH_PATH_MAX + 64] = "";

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (readlink(proc, target, sizeof(target) - 1) < 0)
		target[0] = '\0';
	point(strstr(target, "/mgr/") ? K_COMMIT : K_FSYNC);
	keep_file(fd, st.st_ino);
	return 0;
}

int fsync(int fd)
{
	return sync_any(fd, SYS_fsync);
}

int fdatasync(int fd)
{
	return sync_any(fd, SYS_fdatasync);
}

/* After a name change: with eager metadata the directory is durable at once. */
static void names_changed(void)
{
	if (model_on && eager)
		for (int i = 0; i < 2; i++)
			keep_dir(&dirs[i], false);
}

int renameat(int olddfd, const char *oldname, int newdfd, const char *newname)
{
	int rc;

	if (model_on) {
		point(K_RENAME);
		pin(newdfd, newname);
	}
	rc = (int)syscall(SYS_renameat, olddfd, oldname, newdfd, newname);
	if (rc == 0)
		names_changed();
	return rc;
}

int unlinkat(int dfd, const char *name, int flags)
{
	int rc;

	if (model_on && faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		point(K_UNLINK);
		pin(dfd, name);
	}
	rc = (int)syscall(SYS_unlinkat, dfd, name, flags);
	if (rc == 0)
		names_changed();
	return rc;
}

int unlink(const char *name)
{
	return unlinkat(AT_FDCWD, name, 0);
}

/* --- the manager's side: store, counter, keysvc ---------------------------- */

static const uint8_t root_key[32] = { 0x50, 0x0e, 0x12 };
static const uint8_t uuid[VTPM_UUID_SIZE] = { 0x9a, 0x9b, 0x9c };
static uint64_t check_counter;	/* the parent's copy while it checks */
static int child_tag;		/* arg of the child's counter: the shared one */
static struct mgr mgr;

static int ctr_read(void *arg, uint64_t *v)
{
	*v = arg ? sh->counter : check_counter;
	return 0;
}

static int ctr_inc(void *arg, uint64_t *v)
{
	uint64_t *c = arg ? &sh->counter : &check_counter;

	if (arg && model_on)
		point(K_COUNTER);
	++*c;
	if (v)
		*v = *c;
	return 0;
}

static const struct store_counter child_ctr = { ctr_read, ctr_inc, &child_tag, NULL };
static const struct store_counter parent_ctr = { ctr_read, ctr_inc, NULL, NULL };

/* The vtpm's keeper, minus the ring: mgrmsg request, keysvc, mgrmsg response. */
static int transact(uint32_t ordinal, long n, const uint8_t *req, struct mgr_response *r)
{
	uint8_t rsp[MGRMSG_MAX];
	struct keysvc_peer peer = { 0 };
	size_t rlen;

	if (n < 0)
		return -1;
	rlen = keysvc_answer(&mgr, uuid, "powerloss", req, (size_t)n, false, rsp, &peer);
	if (mgrmsg_parse_response(ordinal, rsp, rlen, r) < 0 || r->result != VTPM_SUCCESS) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static int keeper_load(void *arg, int type, uint8_t out[VTPM_UUID_SIZE], struct mgr_record *rec)
{
	uint8_t req[MGRMSG_MAX];
	struct mgr_response r;

	(void)arg;
	if (transact(VTPM_ORD_LOADHASHKEY, mgrmsg_load_request(req, (uint8_t)type), req, &r) < 0)
		return -1;
	memcpy(out, r.uuid, VTPM_UUID_SIZE);
	*rec = r.rec;
	return 0;
}

static int keeper_save(void *arg, int type, const struct mgr_record *rec)
{
	uint8_t req[MGRMSG_MAX];
	struct mgr_response r;

	(void)arg;
	return transact(VTPM_ORD_SAVEHASHKEY, mgrmsg_save_request(req, (uint8_t)type, rec), req, &r);
}

static const struct nv_keeper keeper = { keeper_load, keeper_save, NULL };

/* --- the workload and what each acknowledged step leaves ------------------- */

/* After step i (1-based) is acknowledged: permall and volatilestate versions (0 = none). */
#define STEPS	7
static const int want_perm[STEPS + 1] = { -1, 0, 1, 2, 2, 3, 3, 4 };
static const int want_vol[STEPS + 1] = { -1, 0, 0, 0, 1, 1, 0, 0 };

static void blob(uint8_t out[PL_BLOB], int version, int type)
{
	for (int i = 0; i < PL_BLOB; i++)
		out[i] = (uint8_t)(version * 31 + type * 7 + i);
}

static struct nv *open_nv(const char *base)
{
	char path[TH_PATH_MAX + 64];
	struct nv *nv;

	snprintf(path, sizeof(path), "%s/vtpm", base);
	nv = nv_open(path, true, 0600);
	if (nv && !plain)
		nv_set_keeper(nv, &keeper);
	return nv;
}

/* Step i of the workload; 0 when acknowledged. */
static int step(struct nv *nv, int i)
{
	static const struct { const char *name; int type, version; } ops[STEPS + 1] = {
		{ 0 }, { NULL, 0, 0 }, { "permall", 1, 1 }, { "permall", 1, 2 },
		{ "volatilestate", 2, 1 }, { "permall", 1, 3 }, { "volatilestate", 2, 0 },
		{ "permall", 1, 4 },
	};
	struct store_vtpm v = { .tpm2 = true, .uid = 5000 };
	uint8_t b[PL_BLOB];

	if (i == 1 && plain)
		return 0;
	if (i == 1) {
		memcpy(v.uuid, uuid, sizeof(uuid));
		snprintf(v.group, sizeof(v.group), "default");
		snprintf(v.config, sizeof(v.config), "server=unix:/nonexistent");
		return store_add(mgr.st, &v);
	}
	if (ops[i].version == 0)
		return nv_delete(nv, ops[i].name, true);
	blob(b, ops[i].version, ops[i].type);
	return nv_store(nv, ops[i].name, b, sizeof(b));
}

/* The child: the whole workload, the power cut at event cut (0: none). */
static void run_child(long cut, bool eager_names)
{
	char path[TH_PATH_MAX + 16];
	struct nv *nv;

	th_quiet_log();
	cut_at = cut;
	eager = eager_names;
	for (int i = 0; i < 2; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", root, dirs[i].rel);
		if (stat(path, &st) < 0)
			_exit(1);
		dirs[i].ino = st.st_ino;
		keep_dir(&dirs[i], true);
	}
	model_on = true;
	snprintf(path, sizeof(path), "%s/mgr/store.db", root);
	mgr.st = plain ? NULL : store_open(path, root_key, &child_ctr, 0);
	nv = mgr.st || plain ? open_nv(root) : NULL;
	if (!nv)
		_exit(1);
	for (int i = 1; i <= STEPS; i++) {
		if (step(nv, i) < 0)
			_exit(2);
		sh->acked = i;
	}
	_exit(0);
}

/* One blob of the recovered vTPM is the acknowledged version, or the one in flight. */
static void expect_blob(struct nv *nv, const char *name, int type, int now, int next, long cut)
{
	uint8_t *data = NULL, b[PL_BLOB];
	uint32_t len = 0;
	int rc = nv_load(nv, name, &data, &len), got = -1;

	if (rc == 1)
		got = 0;
	for (int ver = 1; rc == 0 && ver <= 4 && got < 0; ver++) {
		blob(b, ver, type);
		if (len == sizeof(b) && memcmp(data, b, len) == 0)
			got = ver;
	}
	free(data);
	if (got != now && got != next)
		fail_msg("cut %ld: %s is %s%d, want %d (acknowledged) or %d (in flight)", cut, name,
			 rc < 0 ? "unreadable, " : "", got, now, next);
}

/* The parent: the image left by a cut; every acknowledged write there, nothing corrupt. */
static void check_image(long cut)
{
	char base[TH_PATH_MAX + 16], path[TH_PATH_MAX + 32];
	int acked = sh->acked, next = acked < STEPS ? acked + 1 : acked;
	uint8_t b[PL_BLOB];
	struct nv *nv;

	model_on = false;
	snprintf(base, sizeof(base), "%s/cut", root);
	snprintf(path, sizeof(path), "%s/mgr/store.db", base);
	check_counter = sh->counter;
	mgr.st = plain ? NULL : store_open(path, root_key, &parent_ctr, 0);
	if (!mgr.st && !plain)
		fail_msg("cut %ld (%d steps acknowledged): the store does not open: %s", cut, acked,
			 strerror(errno));
	if (!plain && !store_find(mgr.st, uuid)) {
		if (acked >= 1)
			fail_msg("cut %ld: the acknowledged vTPM is gone from the store", cut);
		goto out;
	}
	nv = open_nv(base);
	assert_non_null(nv);
	expect_blob(nv, "permall", 1, want_perm[acked > 0 ? acked : 1], want_perm[next], cut);
	expect_blob(nv, "volatilestate", 2, want_vol[acked > 0 ? acked : 1], want_vol[next], cut);
	/* the recovered vTPM works: a new write is kept */
	blob(b, 9, 1);
	if (nv_store(nv, "permall", b, sizeof(b)) < 0)
		fail_msg("cut %ld: the recovered vTPM cannot write: %s", cut, strerror(errno));
	nv_close(nv);
out:
	store_close(mgr.st);
	mgr.st = NULL;
	th_rmtree(base);
}

/* Runs the workload once with the power cut at event cut; checks the image. */
static void trial(long cut, bool eager_names)
{
	char path[TH_PATH_MAX + 16];
	int status;
	pid_t pid;

	memset(sh, 0, sizeof(*sh));
	snprintf(path, sizeof(path), "%s/cut", root);
	assert_int_equal(mkdir(path, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		run_child(cut, eager_names);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (cut == 0) {
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(sh->acked, STEPS);
		th_rmtree(path);
		return;
	}
	assert_int_equal(WEXITSTATUS(status), PL_CUT_EXIT);
	check_image(cut);
}

/* Every trial starts from empty directories. */
static void fresh_root(void)
{
	char path[TH_PATH_MAX + 16];

	th_mkdtemp(root);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i].rel);
		assert_int_equal(mkdir(path, 0700), 0);
	}
}

/* A dry run counts the cut points; then a cut at each, under both disk models. */
static void cut_everywhere(bool plain_mode, const char *what)
{
	long kinds[K_KINDS], n;

	plain = plain_mode;
	fresh_root();
	trial(0, false);
	th_rmtree(root);
	n = sh->events;
	memcpy(kinds, sh->kinds, sizeof(kinds));
	assert_true(n > 0 && kinds[K_FSYNC] > 0 && kinds[K_RENAME] > 0 && kinds[K_DIRSYNC] > 0);
	if (!plain)
		assert_true(kinds[K_COMMIT] > 0 && kinds[K_COUNTER] > 0);
	for (int e = 0; e < 2; e++)
		for (long cut = 1; cut <= n; cut++) {
			fresh_root();
			trial(cut, e == 1);
			th_rmtree(root);
		}
	print_message("%s: power cut at %ld points x 2 disk models (%ld trials):", what, n, 2 * n);
	for (int i = 0; i < K_KINDS; i++)
		print_message(" %ld %s%s", kinds[i], kind_names[i], i + 1 < K_KINDS ? "," : "\n");
}

static void test_power_cut_at_every_point(void **state)
{
	(void)state;
	th_quiet_log();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	cut_everywhere(false, "under the manager");
	cut_everywhere(true, "standalone");
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_power_cut_at_every_point),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
