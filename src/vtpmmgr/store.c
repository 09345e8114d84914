/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store: SQLite tables
 *   meta(k, v)                 'seal' = sealed(version u64 | digest of all rows)
 *   vtpm(uuid, grp, tpm2, flags, config)
 *   record(uuid, type, blob)   blob = sealed(seq u64 | digest | key)
 * The whole store is loaded into memory at open and verified; each change
 * is written in one transaction together with a new meta seal, committed
 * with a full sync, then the counter is raised. Rows read from the file are
 * untrusted until the sealed digest over all of them matches.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "fileio.h"
#include "log.h"
#include "secmem.h"

#define REC_PLAIN	(8 + VTPM_DIGEST_SIZE + VTPM_KEY_SIZE)
#define META_PLAIN	(8 + CRYPTO_DIGEST_SIZE)

struct store {
	sqlite3 *db;
	uint8_t key[CRYPTO_KEY_SIZE];
	uint64_t version;
	const struct store_counter *ctr;
	bool ctr_behind;	/* the last counter step failed: retry before any commit */
	struct store_vtpm *v;
	size_t n;
};

void store_uuid_format(const uint8_t u[VTPM_UUID_SIZE], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

int store_uuid_parse(const char *s, uint8_t u[VTPM_UUID_SIZE])
{
	static const int dash[] = { 8, 13, 18, 23 };
	int k = 0;

	if (strlen(s) != 36)
		goto bad;
	for (int i = 0; i < 36;) {
		if (k < 4 && i == dash[k]) {
			if (s[i] != '-')
				goto bad;
			k++;
			i++;
			continue;
		}
		unsigned hi, lo;
		if (sscanf(s + i, "%1x%1x", &hi, &lo) != 2)
			goto bad;
		u[(i - k) / 2] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

uint64_t store_version(const struct store *st)
{
	return st->version;
}

size_t store_count(const struct store *st)
{
	return st->n;
}

const struct store_vtpm *store_at(const struct store *st, size_t i)
{
	return i < st->n ? &st->v[i] : NULL;
}

static struct store_vtpm *find(const struct store *st, const uint8_t uuid[VTPM_UUID_SIZE])
{
	for (size_t i = 0; i < st->n; i++)
		if (!memcmp(st->v[i].uuid, uuid, VTPM_UUID_SIZE))
			return &st->v[i];
	return NULL;
}

const struct store_vtpm *store_find(const struct store *st, const uint8_t uuid[VTPM_UUID_SIZE])
{
	return find(st, uuid);
}

/* Digest over every row, in a canonical order (the in-memory array order is the uuid order). */
static int rows_digest(const struct store *st, uint8_t out[CRYPTO_DIGEST_SIZE])
{
	size_t per = VTPM_UUID_SIZE + 4 + STORE_GROUP_MAX + 1 + 4 + 4 + 4 + STORE_CONFIG_MAX + 3 * REC_PLAIN;
	size_t cap = 8 + st->n * per;
	uint8_t *p = malloc(cap);
	struct buf b;
	int rc;

	if (!p)
		return -1;
	buf_init_write(&b, p, cap);
	buf_put_u64(&b, st->n);
	for (size_t i = 0; i < st->n; i++) {
		const struct store_vtpm *v = &st->v[i];

		buf_put_bytes(&b, v->uuid, VTPM_UUID_SIZE);
		buf_put_u32(&b, (uint32_t)strlen(v->group));
		buf_put_bytes(&b, v->group, strlen(v->group));
		buf_put_u8(&b, v->tpm2);
		buf_put_u32(&b, v->uid);
		buf_put_u32(&b, (uint32_t)strlen(v->config));
		buf_put_bytes(&b, v->config, strlen(v->config));
		for (int t = 0; t < 3; t++) {
			buf_put_u64(&b, v->rec[t].seq);
			buf_put_bytes(&b, v->rec[t].digest, VTPM_DIGEST_SIZE);
			buf_put_bytes(&b, v->rec[t].key, VTPM_KEY_SIZE);
		}
	}
	rc = buf_ok(&b) ? crypto_sha256(p, b.off, out) : -1;
	explicit_bzero(p, cap);
	free(p);
	return rc;
}

static void rec_aad(uint8_t aad[VTPM_UUID_SIZE + 1 + 14], const uint8_t uuid[VTPM_UUID_SIZE], int type)
{
	memcpy(aad, "vtpmmgr-record", 14);
	memcpy(aad + 14, uuid, VTPM_UUID_SIZE);
	aad[14 + VTPM_UUID_SIZE] = (uint8_t)type;
}

static int exec(struct store *st, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		log_err("store: %s: %s", sql, err ? err : "?");
		sqlite3_free(err);
		errno = EIO;
		return -1;
	}
	return 0;
}

static int write_meta(struct store *st, uint64_t version)
{
	uint8_t plain[META_PLAIN], sealed[META_PLAIN + CRYPTO_GCM_OVERHEAD];
	sqlite3_stmt *s = NULL;
	struct buf b;
	int rc = -1;

	buf_init_write(&b, plain, sizeof(plain));
	buf_put_u64(&b, version);
	if (rows_digest(st, plain + 8) < 0 ||
	    crypto_seal(st->key, "vtpmmgr-meta", 12, plain, sizeof(plain), sealed) < 0)
		goto out;
	if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO meta(k, v) VALUES('seal', ?)", -1, &s,
			       NULL) != SQLITE_OK ||
	    sqlite3_bind_blob(s, 1, sealed, sizeof(sealed), SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_DONE)
		goto out;
	rc = 0;
out:
	sqlite3_finalize(s);
	explicit_bzero(plain, sizeof(plain));
	return rc;
}

static int write_vtpm(struct store *st, const struct store_vtpm *v)
{
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(st->db,
			       "INSERT OR REPLACE INTO vtpm(uuid, grp, tpm2, config, uid) VALUES(?,?,?,?,?)",
			       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_bind_blob(s, 1, v->uuid, VTPM_UUID_SIZE, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_text(s, 2, v->group, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int(s, 3, v->tpm2) == SQLITE_OK &&
	    sqlite3_bind_text(s, 4, v->config, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int64(s, 5, v->uid) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_DONE)
		rc = 0;
	sqlite3_finalize(s);
	return rc;
}

static int write_record(struct store *st, const uint8_t uuid[VTPM_UUID_SIZE], int type,
			const struct mgr_record *rec)
{
	uint8_t plain[REC_PLAIN], sealed[REC_PLAIN + CRYPTO_GCM_OVERHEAD], aad[31];
	sqlite3_stmt *s = NULL;
	struct buf b;
	int rc = -1;

	buf_init_write(&b, plain, sizeof(plain));
	buf_put_u64(&b, rec->seq);
	buf_put_bytes(&b, rec->digest, VTPM_DIGEST_SIZE);
	buf_put_bytes(&b, rec->key, VTPM_KEY_SIZE);
	rec_aad(aad, uuid, type);
	if (buf_ok(&b) && crypto_seal(st->key, aad, sizeof(aad), plain, sizeof(plain), sealed) == 0 &&
	    sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO record(uuid, type, blob) VALUES(?,?,?)",
			       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_bind_blob(s, 1, uuid, VTPM_UUID_SIZE, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_bind_int(s, 2, type) == SQLITE_OK &&
	    sqlite3_bind_blob(s, 3, sealed, sizeof(sealed), SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_DONE)
		rc = 0;
	sqlite3_finalize(s);
	explicit_bzero(plain, sizeof(plain));
	return rc;
}

/*
 * Runs one change: BEGIN, the row writes (fn), a new meta seal, COMMIT
 * (durable: WAL + synchronous=FULL), then the counter. On any failure the
 * transaction is rolled back and the in-memory copy is restored by the caller.
 */
static int write_version(struct store *st, int (*fn)(struct store *, const void *),
			 const void *arg, uint64_t version)
{
	if (exec(st, "BEGIN IMMEDIATE") < 0)
		return -1;
	if ((fn && fn(st, arg) < 0) || write_meta(st, version) < 0 || exec(st, "COMMIT") < 0) {
		(void)exec(st, "ROLLBACK");
		errno = EIO;
		return -1;
	}
	st->version = version;
	return 0;
}

static int commit(struct store *st, int (*fn)(struct store *, const void *), const void *arg)
{
	uint64_t next = st->version + 1;

	/* never let the version run two ahead of the counter: that store would be refused */
	if (store_catch_up(st) < 0 || write_version(st, fn, arg, next) < 0)
		return -1;
	/* after the commit: a crash here leaves version = counter + 1, accepted once */
	/* one hardware command: the increment, without reading the value back */
	if (st->ctr->increment(st->ctr->arg, NULL) < 0) {
		log_err("store: the anti-rollback counter did not advance (version %llu)",
			(unsigned long long)next);
		/*
		 * The change is durable and a restart accepts it: report success
		 * (a failure would be a lie), and have the counter caught up soon.
		 */
		st->ctr_behind = true;
		if (st->ctr->behind)
			st->ctr->behind(st->ctr->arg);
		return 0;
	}
	return 0;
}

int store_rebase(struct store *st, uint64_t counter)
{
	if (counter < st->version) {
		errno = EINVAL;
		return -1;
	}
	if (write_version(st, NULL, NULL, counter) < 0)
		return -1;
	st->ctr_behind = false;
	log_warn("store: rebased onto the NV counter at %llu", (unsigned long long)counter);
	return 0;
}

int store_catch_up(struct store *st)
{
	if (!st->ctr_behind)
		return 0;
	if (st->ctr->increment(st->ctr->arg, NULL) < 0)
		return -1;
	st->ctr_behind = false;
	log_info("store: the anti-rollback counter has caught up with version %llu",
		 (unsigned long long)st->version);
	return 0;
}

static int keep_sorted_insert(struct store *st, const struct store_vtpm *v)
{
	/* the rows hold each vTPM's state keys: kept out of swap and core dumps */
	struct store_vtpm *nv = secmem_realloc(st->v, (st->n + 1) * sizeof(*nv));
	size_t i = 0;

	if (!nv)
		return -1;
	st->v = nv;
	while (i < st->n && memcmp(st->v[i].uuid, v->uuid, VTPM_UUID_SIZE) < 0)
		i++;
	memmove(&st->v[i + 1], &st->v[i], (st->n - i) * sizeof(*nv));
	st->v[i] = *v;
	st->n++;
	return (int)i;
}

static void remove_at(struct store *st, size_t i)
{
	explicit_bzero(&st->v[i], sizeof(st->v[i]));
	memmove(&st->v[i], &st->v[i + 1], (st->n - i - 1) * sizeof(st->v[0]));
	st->n--;
}

static int add_rows(struct store *st, const void *arg)
{
	const struct store_vtpm *v = arg;

	return write_vtpm(st, v);
}

int store_add(struct store *st, const struct store_vtpm *v)
{
	int i;

	if (find(st, v->uuid)) {
		errno = EEXIST;
		return -1;
	}
	if (st->n >= STORE_VTPM_MAX) {
		errno = ENOSPC;
		return -1;
	}
	i = keep_sorted_insert(st, v);
	if (i < 0)
		return -1;
	memset(st->v[i].rec, 0, sizeof(st->v[i].rec));
	if (commit(st, add_rows, &st->v[i]) < 0) {
		remove_at(st, (size_t)i);
		return -1;
	}
	return 0;
}

static int remove_rows(struct store *st, const void *arg)
{
	const uint8_t *uuid = arg;
	sqlite3_stmt *s = NULL;
	int rc = 0;

	for (int k = 0; k < 3 && rc == 0; k++) {
		static const char *const sql[] = { "DELETE FROM vtpm WHERE uuid = ?",
			"DELETE FROM record WHERE uuid = ?", "DELETE FROM autostart WHERE uuid = ?" };
		rc = -1;
		if (sqlite3_prepare_v2(st->db, sql[k], -1, &s, NULL) == SQLITE_OK &&
		    sqlite3_bind_blob(s, 1, uuid, VTPM_UUID_SIZE, SQLITE_STATIC) == SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_DONE)
			rc = 0;
		sqlite3_finalize(s);
	}
	return rc;
}

int store_remove(struct store *st, const uint8_t uuid[VTPM_UUID_SIZE])
{
	struct store_vtpm *v = find(st, uuid);
	struct store_vtpm saved;
	size_t i;

	if (!v) {
		errno = ENOENT;
		return -1;
	}
	i = (size_t)(v - st->v);
	saved = *v;
	remove_at(st, i);	/* the meta digest is computed without it */
	if (commit(st, remove_rows, saved.uuid) < 0) {
		(void)keep_sorted_insert(st, &saved);
		explicit_bzero(&saved, sizeof(saved));
		return -1;
	}
	explicit_bzero(&saved, sizeof(saved));
	return 0;
}

/*
 * The autostart mark is kept beside the versioned rows, not in them: it
 * changes at every start and stop, and a rolled-back mark only changes
 * which vTPMs start with the manager, so it costs no counter step.
 */
int store_set_flags(struct store *st, const uint8_t uuid[VTPM_UUID_SIZE], uint32_t flags)
{
	struct store_vtpm *v = find(st, uuid);
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (!v) {
		errno = ENOENT;
		return -1;
	}
	if (sqlite3_prepare_v2(st->db, flags & STORE_FLAG_AUTOSTART
					       ? "INSERT OR REPLACE INTO autostart(uuid) VALUES(?)"
					       : "DELETE FROM autostart WHERE uuid = ?",
			       -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_bind_blob(s, 1, uuid, VTPM_UUID_SIZE, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_DONE) {
		v->flags = flags;
		rc = 0;
	} else {
		errno = EIO;
	}
	sqlite3_finalize(s);
	return rc;
}

struct put_arg {
	const uint8_t *uuid;
	int type;
	const struct mgr_record *rec;
};

static int put_rows(struct store *st, const void *arg)
{
	const struct put_arg *a = arg;

	return write_record(st, a->uuid, a->type, a->rec);
}

int store_put_record(struct store *st, const uint8_t uuid[VTPM_UUID_SIZE], int type,
		     const struct mgr_record *rec)
{
	struct store_vtpm *v = find(st, uuid);
	struct mgr_record old;
	struct put_arg a = { uuid, type, rec };

	if (!v || type < VTPM_BLOB_PERMANENT || type > VTPM_BLOB_SAVESTATE) {
		errno = ENOENT;
		return -1;
	}
	if (rec->seq <= v->rec[type - 1].seq) {
		errno = ERANGE;
		return -1;
	}
	old = v->rec[type - 1];
	v->rec[type - 1] = *rec;
	v->rec[type - 1].present = !mgrmsg_record_is_empty(rec);
	if (commit(st, put_rows, &a) < 0) {
		v->rec[type - 1] = old;
		explicit_bzero(&old, sizeof(old));
		return -1;
	}
	explicit_bzero(&old, sizeof(old));
	return 0;
}

/*
 * The schema this code reads, recorded in a new store; an older or newer
 * one is named as such rather than reported as tampered.
 */
#define STORE_SCHEMA	1

static int check_schema(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int r, have = -1, rc = -1;

	if (sqlite3_prepare_v2(st->db, "SELECT v FROM meta WHERE k = 'schema'", -1, &s, NULL) != SQLITE_OK)
		return -1;
	r = sqlite3_step(s);
	if (r == SQLITE_ROW)
		have = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (r == SQLITE_DONE) {
		/* a store without one is new (no seal yet) or from before schemas */
		if (sqlite3_prepare_v2(st->db, "SELECT COUNT(*) FROM meta", -1, &s, NULL) != SQLITE_OK)
			return -1;
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0)
			rc = exec(st, "INSERT INTO meta(k, v) VALUES('schema', 1)");
		else
			log_err("store: written by an older vtpmmgr without a schema version; "
				"this one reads schema %d", STORE_SCHEMA);
		sqlite3_finalize(s);
		return rc;
	}
	if (r != SQLITE_ROW || have != STORE_SCHEMA) {
		log_err("store: schema %d, this vtpmmgr reads schema %d", have, STORE_SCHEMA);
		errno = EPROTO;
		return -1;
	}
	return 0;
}

/* Loads every row into memory; the meta seal check comes after. */
static int load_rows(struct store *st)
{
	sqlite3_stmt *s = NULL;
	int r, rc = -1;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT uuid, grp, tpm2, (SELECT COUNT(*) FROM autostart a WHERE a.uuid = vtpm.uuid),"
			       " config, uid FROM vtpm", -1, &s,
			       NULL) != SQLITE_OK)
		return -1;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_vtpm v = { 0 };
		const char *g = (const char *)sqlite3_column_text(s, 1);
		const char *c = (const char *)sqlite3_column_text(s, 4);

		if (sqlite3_column_bytes(s, 0) != VTPM_UUID_SIZE || !g || !c ||
		    strlen(g) > STORE_GROUP_MAX || strlen(c) > STORE_CONFIG_MAX || st->n >= STORE_VTPM_MAX)
			goto out;
		memcpy(v.uuid, sqlite3_column_blob(s, 0), VTPM_UUID_SIZE);
		strcpy(v.group, g);
		strcpy(v.config, c);
		v.tpm2 = sqlite3_column_int(s, 2) != 0;
		v.flags = sqlite3_column_int64(s, 3) ? STORE_FLAG_AUTOSTART : 0;
		v.uid = (uint32_t)sqlite3_column_int64(s, 5);
		if (keep_sorted_insert(st, &v) < 0)
			goto out;
	}
	if (r != SQLITE_DONE)
		goto out;
	sqlite3_finalize(s);
	if (sqlite3_prepare_v2(st->db, "SELECT uuid, type, blob FROM record", -1, &s, NULL) != SQLITE_OK)
		return -1;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		uint8_t aad[31], plain[REC_PLAIN];
		int type = sqlite3_column_int(s, 1);
		struct store_vtpm *v;
		struct buf b;

		if (sqlite3_column_bytes(s, 0) != VTPM_UUID_SIZE || type < 1 || type > 3 ||
		    sqlite3_column_bytes(s, 2) != REC_PLAIN + CRYPTO_GCM_OVERHEAD)
			goto out;
		v = find(st, sqlite3_column_blob(s, 0));
		if (!v)
			goto out;
		rec_aad(aad, v->uuid, type);
		if (crypto_open(st->key, aad, sizeof(aad), sqlite3_column_blob(s, 2),
				REC_PLAIN + CRYPTO_GCM_OVERHEAD, plain) < 0)
			goto out;
		buf_init_read(&b, plain, sizeof(plain));
		v->rec[type - 1].seq = buf_get_u64(&b);
		buf_get_bytes(&b, v->rec[type - 1].digest, VTPM_DIGEST_SIZE);
		buf_get_bytes(&b, v->rec[type - 1].key, VTPM_KEY_SIZE);
		v->rec[type - 1].present = !mgrmsg_record_is_empty(&v->rec[type - 1]);
		explicit_bzero(plain, sizeof(plain));
	}
	rc = r == SQLITE_DONE ? 0 : -1;
out:
	sqlite3_finalize(s);
	return rc;
}

/* Opens the meta seal: its version, and whether its digest matches the rows. */
static int check_meta(struct store *st, bool *fresh)
{
	uint8_t plain[META_PLAIN], rows[CRYPTO_DIGEST_SIZE];
	sqlite3_stmt *s = NULL;
	int r, rc = -1;

	*fresh = false;
	if (sqlite3_prepare_v2(st->db, "SELECT v FROM meta WHERE k = 'seal'", -1, &s, NULL) != SQLITE_OK)
		return -1;
	r = sqlite3_step(s);
	if (r == SQLITE_DONE) {
		*fresh = st->n == 0;	/* an empty database, or rows without a seal */
		rc = *fresh ? 0 : -1;
		goto out;
	}
	if (r != SQLITE_ROW || sqlite3_column_bytes(s, 0) != META_PLAIN + CRYPTO_GCM_OVERHEAD ||
	    crypto_open(st->key, "vtpmmgr-meta", 12, sqlite3_column_blob(s, 0),
			META_PLAIN + CRYPTO_GCM_OVERHEAD, plain) < 0 ||
	    rows_digest(st, rows) < 0 || memcmp(rows, plain + 8, CRYPTO_DIGEST_SIZE) != 0)
		goto out;
	{
		struct buf b;

		buf_init_read(&b, plain, 8);
		st->version = buf_get_u64(&b);
	}
	rc = 0;
out:
	sqlite3_finalize(s);
	explicit_bzero(plain, sizeof(plain));
	return rc;
}

/* SQLite's side files; a refused store gets none it did not have */
static void side_files(const char *path, char wal[4200], char shm[4200], bool had[2])
{
	snprintf(wal, 4200, "%s-wal", path);
	snprintf(shm, 4200, "%s-shm", path);
	had[0] = access(wal, F_OK) == 0;
	had[1] = access(shm, F_OK) == 0;
}

/*
 * The store's sealed version against the hardware counter: equal, or one
 * ahead (a commit whose counter step was cut: taken now); a fresh store
 * starts at the counter; behind is refused unless the operator adopted
 * exactly this counter value (vtpmmgr --adopt-counter).
 */
static int check_counter(struct store *st, const char *path, bool fresh, uint64_t adopt)
{
	const struct store_counter *ctr = st->ctr;
	uint64_t counter = 0;

	if (ctr->read(ctr->arg, &counter) < 0)
		return -1;
	if (fresh) {
		/* a new store starts at the counter, whatever it was */
		st->version = counter;
		if (commit(st, NULL, NULL) < 0)
			return -1;
		log_info("store: created %s at version %llu", path, (unsigned long long)st->version);
		return 0;
	}
	if (st->version < counter && counter == adopt) {
		log_warn("store: %s is version %llu, behind the TPM counter %llu: adopting the "
			 "counter as the operator confirmed", path, (unsigned long long)st->version,
			 (unsigned long long)counter);
		return store_rebase(st, counter);
	}
	if (st->version < counter) {
		log_err("store: %s is version %llu but the TPM counter is %llu: the counter is "
			"ahead of the store. Either an older copy of the store was put back, or "
			"something advanced the counter (undefined and defined it again, say). "
			"Refusing to start; if this store is certainly the latest, start once with "
			"--adopt-counter %llu (vtpmmgr(8), RECOVERY)",
			path, (unsigned long long)st->version, (unsigned long long)counter,
			(unsigned long long)counter);
		errno = ESTALE;
		return -1;
	}
	if (st->version > counter + 1) {
		log_err("store: %s is version %llu, ahead of the TPM counter %llu: not this TPM's store",
			path, (unsigned long long)st->version, (unsigned long long)counter);
		errno = ESTALE;
		return -1;
	}
	if (st->version == counter + 1) {
		/* the last commit's counter step was interrupted: take it now */
		log_warn("store: completing the counter step of version %llu",
			 (unsigned long long)st->version);
		if (ctr->increment(ctr->arg, &counter) < 0)
			return -1;
	}
	return 0;
}

struct store *store_open(const char *path, const uint8_t root[32], const struct store_counter *ctr,
			 uint64_t adopt)
{
	struct store *st = secmem_alloc(sizeof(*st));	/* holds the store key */
	char wal[4200], shm[4200];
	bool fresh, had[2];

	if (!st)
		return NULL;
	st->ctr = ctr;
	side_files(path, wal, shm, had);
	if (crypto_derive(root, "vtpmmgr store key v1", st->key) < 0)
		goto fail;
	/* SQLite would block on a FIFO in any of its files' places: refuse those first */
	for (int i = 0; i < 3; i++) {
		const char *f = i == 0 ? path : i == 1 ? wal : shm;

		if (file_check_regular(AT_FDCWD, f) < 0) {
			log_err("store: %s: %s", f, file_strerror(errno));
			goto fail;
		}
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				   SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		log_err("store: cannot open %s", path);
		errno = EIO;
		goto fail;
	}
	/*
	 * Until the store has verified, closing must not checkpoint: a refused
	 * (older, put-back) store and its WAL are left exactly as they were.
	 */
	if (sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK)
		goto fail;
	if (exec(st, "PRAGMA journal_mode=WAL") < 0 || exec(st, "PRAGMA synchronous=FULL") < 0 ||
	    exec(st, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
		     "CREATE TABLE IF NOT EXISTS vtpm(uuid BLOB PRIMARY KEY, grp TEXT NOT NULL,"
		     " tpm2 INTEGER NOT NULL, config TEXT NOT NULL, uid INTEGER NOT NULL);"
		     "CREATE TABLE IF NOT EXISTS autostart(uuid BLOB PRIMARY KEY);"
		     "CREATE TABLE IF NOT EXISTS record(uuid BLOB NOT NULL, type INTEGER NOT NULL,"
		     " blob BLOB NOT NULL, PRIMARY KEY(uuid, type))") < 0)
		goto fail;
	if (check_schema(st) < 0)
		goto fail;
	if (load_rows(st) < 0 || check_meta(st, &fresh) < 0) {
		log_err("store: %s does not verify under this root secret (tampered, or not ours)", path);
		errno = EBADMSG;
		goto fail;
	}
	if (check_counter(st, path, fresh, adopt) < 0)
		goto fail;
	(void)sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
	return st;
fail:
	store_close(st);
	if (!had[0])
		(void)unlink(wal);
	if (!had[1])
		(void)unlink(shm);
	return NULL;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->db)
		sqlite3_close(st->db);
	secmem_free(st->v);
	secmem_free(st);
}
