/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * store: the manager's durable store of vTPMs: per vTPM its UUID, group,
 * TPM version, flags and device configuration, and per state blob type the
 * record (sequence, SHA-256, key) of its latest state file. SQLite in WAL
 * mode with synchronous=FULL; every secret field is sealed (AES-256-GCM)
 * under a key derived from the root secret, and a sealed digest over all
 * rows with a version number binds the whole store together. The version
 * is checked against a hardware TPM NV counter, so a store replaced by an
 * older copy is detected. Runs in vtpmmgr; the database file is untrusted.
 *
 * Rollback window: a commit raises the version, then the counter. A crash
 * between the two leaves version = counter + 1, accepted on the next start
 * (and the counter caught up). In that one case the store just before the
 * interrupted commit would also pass, had it been put back before restart.
 * A counter step the hardware TPM refuses (no crash) leaves the same state
 * while the manager runs: the change is kept and acknowledged, no further
 * change is committed until the counter has caught up, and the owner of the
 * store is told (counter->behind) so that it retries (store_catch_up).
 */
#ifndef VTPMMGR_STORE_H
#define VTPMMGR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgrmsg.h"

#define STORE_GROUP_MAX		32
#define STORE_CONFIG_MAX	1024
#define STORE_VTPM_MAX		4096

#define STORE_FLAG_AUTOSTART	0x1	/* started with the manager */

struct store_vtpm {
	uint8_t uuid[VTPM_UUID_SIZE];
	char group[STORE_GROUP_MAX + 1];
	bool tpm2;
	uint32_t flags;
	uint32_t uid;				/* the vtpm runs as this uid and gid */
	char config[STORE_CONFIG_MAX + 1];	/* device line: server=..., ctrl=... */
	struct mgr_record rec[3];		/* by VTPM_BLOB_* - 1 */
};

/* The anti-rollback counter (hardware TPM NV counter in production). */
struct store_counter {
	int (*read)(void *arg, uint64_t *value);
	int (*increment)(void *arg, uint64_t *value);	/* value may be NULL */
	void *arg;
	/* optional: a committed change's counter step failed; call store_catch_up */
	void (*behind)(void *arg);
};

struct store;

/*
 * Opens or creates the store at path. Refuses (NULL, errno ESTALE) a store
 * older than the counter, unless the counter's value is adopt (an operator
 * confirmed that this store is the latest: it is then rebased onto the
 * counter), and (EBADMSG) one whose rows do not match its sealed digest or
 * that does not open under this root secret. adopt 0: none.
 */
struct store *store_open(const char *path, const uint8_t root[32], const struct store_counter *ctr,
			 uint64_t adopt);
void store_close(struct store *st);
uint64_t store_version(const struct store *st);
/* Moves the version up to counter (a counter re-created higher): one commit, no step. */
int store_rebase(struct store *st, uint64_t counter);
/* Retries a failed counter step: 0 when the counter is (now) in step, else -1. */
int store_catch_up(struct store *st);

size_t store_count(const struct store *st);
const struct store_vtpm *store_at(const struct store *st, size_t i);
const struct store_vtpm *store_find(const struct store *st, const uint8_t uuid[VTPM_UUID_SIZE]);

/* Each mutation is one durable commit (and one counter increment)... */
int store_add(struct store *st, const struct store_vtpm *v);
int store_remove(struct store *st, const uint8_t uuid[VTPM_UUID_SIZE]);
/* ...but the autostart mark: durable, outside the versioned rows, no counter step. */
int store_set_flags(struct store *st, const uint8_t uuid[VTPM_UUID_SIZE], uint32_t flags);
/* Records a state write; the sequence must be above the one held (ERANGE). */
int store_put_record(struct store *st, const uint8_t uuid[VTPM_UUID_SIZE], int type,
		     const struct mgr_record *rec);

/* UUID text (36 chars + NUL) */
void store_uuid_format(const uint8_t uuid[VTPM_UUID_SIZE], char out[37]);
int store_uuid_parse(const char *s, uint8_t uuid[VTPM_UUID_SIZE]);

#endif
