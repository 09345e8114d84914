/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_tpm.c: side-by-side latency benchmark of TPM 2.0 targets, run by
 * bench/run.sh.  Each target runs in a worker process of its own: "floor"
 * is libtpms called in-process (libtpms keeps its TPM in process globals,
 * so it cannot share a process with anything else that might touch it),
 * "unix" is a TPM daemon (vtpm, swtpm) reached over its Unix data socket.
 * The parent only orchestrates: for each command it runs rounds, and in
 * each round asks every target in turn (rotating who goes first) for N
 * timed operations, so that noise on this small machine spreads over all
 * targets alike; it reports medians across rounds.  Trusted input: the
 * command line and the state file it names.  Untrusted: every byte from a
 * target (parsed by tpm_wire.c) and, defensively, every reply of a worker.
 *
 * Usage: bench_tpm [-c] [-q] [-o CMD] NAME=floor[:SWTPM_PERMALL] | NAME=unix:PATH ...
 *        bench_tpm -w TIMEOUT_MS SOCKET_PATH ...
 *   -c  check: one operation of each command per target, print seed ids
 *   -q  quick: 3 rounds of a tenth of the operations
 *   -o  only the command named CMD (getrandom, pcr_extend, create_ecc,
 *       create_rsa, sign_ecdsa; nv_write runs only when named here)
 *   -w  wait until each daemon answers a GetRandom (run by run_mgr.sh to
 *       time starts): connect and ask again until it does or TIMEOUT_MS
 *       (shared by all) passes; print when, as CLOCK_REALTIME microseconds
 * Output (stdout, tab-separated): "config CMD ROUNDS OPS", "seed NAME HEX",
 * "result CMD NAME OPS_PER_S P50_US P99_US"; with -w "ready PATH US" or
 * "notready PATH REASON" per socket; progress goes to stderr.
 */
#define _POSIX_C_SOURCE 200809L

#include "tpm_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libtpms/tpm_error.h>
#include <libtpms/tpm_library.h>
#include <libtpms/tpm_nvfilename.h>

#include "buf.h"

#define MAX_TARGETS 4
#define TARGET_NAME_MAX 15
#define MAX_OPS 100000u      /* per round; caps a worker's reply */
#define MAX_ROUNDS 31u
#define STATE_FILE_MAX (1u << 20)
#define REQUEST_SIZE 12u     /* cmd, round, ops */
#define REPLY_HEADER_SIZE 12u /* status, rc, count */
#define PCR_DEBUG 16u
#define RANDOM_BYTES 32u
#define SWTPM_BLOB_HEADER 10u
#define SWTPM_TAG_DATA 1u
#define NV_INDEX 0x01000100u /* the NV_Write benchmark's ordinary index */
#define NV_WRITE_BYTES 64u
#define READY_RETRY_NS 200000u /* -w: pause between attempts */
#define READY_RANDOM_BYTES 8u

enum bench_cmd {
	BENCH_GET_RANDOM = 1,
	BENCH_PCR_EXTEND,
	BENCH_CREATE_ECC,
	BENCH_CREATE_RSA,
	BENCH_SIGN,
	BENCH_NV_WRITE,
	BENCH_SEED_ID, /* untimed: the owner SRK's name, to compare seeds */
	BENCH_CMD_LAST = BENCH_SEED_ID,
};

struct bench_spec {
	enum bench_cmd cmd;
	const char *name;
	unsigned rounds;
	unsigned ops;
	int opt_in; /* runs only when named by -o */
};

/*
 * Rounds x operations per target.  An RSA-2048 primary takes 25-50 ms
 * (prime search, depending on the key), so it gets few operations; the
 * whole run stays around a minute and a half on a 2-core machine.
 * NV_Write is a durable state write on a daemon (milliseconds when it
 * fsyncs), so it is opt-in (run_mgr.sh) and gets few operations.
 */
static const struct bench_spec bench_specs[] = {
	{ BENCH_GET_RANDOM, "getrandom", 11, 5000, 0 },
	{ BENCH_PCR_EXTEND, "pcr_extend", 11, 5000, 0 },
	{ BENCH_CREATE_ECC, "create_ecc", 11, 200, 0 },
	{ BENCH_CREATE_RSA, "create_rsa", 9, 40, 0 },
	{ BENCH_SIGN, "sign_ecdsa", 11, 1000, 0 },
	{ BENCH_NV_WRITE, "nv_write", 11, 100, 1 },
};
#define N_SPECS (sizeof(bench_specs) / sizeof(bench_specs[0]))

enum worker_status {
	WS_OK = 0,
	WS_TRANSPORT = 1, /* rc holds errno */
	WS_TPM = 2,       /* rc holds the TPM response code */
	WS_MALFORMED = 3, /* the target's response did not parse */
	WS_SETUP = 4,     /* rc holds errno or the libtpms result */
	WS_REQUEST = 5,   /* the parent asked for something impossible */
};

struct target {
	char name[TARGET_NAME_MAX + 1];
	int floor;
	const char *path; /* socket path, or the floor's state file (or NULL) */
	pid_t pid;
	int fd;           /* the parent's end of the worker's socketpair */
};

/* A worker's link to its target. */
struct conn {
	int floor;
	int sock;
	unsigned char *floor_buf; /* libtpms' response buffer, reused */
	uint32_t floor_cap;
	uint8_t rbuf[TPM_PACKET_MAX];
	uint32_t sign_key; /* 0 until the signing primary exists */
	int nv_defined;    /* the NV_Write index exists */
	uint32_t nv_seq;   /* NV_Write: differs in every write */
};

static const uint8_t bench_digest[TPM_DIGEST_SIZE] = {
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
	0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a,
	0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
};

/* ---- I/O helpers ---- */

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Returns 0, or -1 with errno (0 on EOF before n bytes). */
static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			errno = 0;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the floor: libtpms in this process, NV state kept in memory ---- */

/*
 * libtpms callbacks take no context pointer, so the in-memory NV store is
 * static; only the floor worker process ever uses it.
 */
struct nv_slot {
	const char *name;
	unsigned char *data;
	uint32_t len;
};

static struct nv_slot floor_nv[] = {
	{ TPM_PERMANENT_ALL_NAME, NULL, 0 },
	{ TPM_VOLATILESTATE_NAME, NULL, 0 },
	{ TPM_SAVESTATE_NAME, NULL, 0 },
};

static struct nv_slot *floor_nv_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(floor_nv) / sizeof(floor_nv[0]); i++)
		if (strcmp(floor_nv[i].name, name) == 0)
			return &floor_nv[i];
	return NULL;
}

static TPM_RESULT floor_nv_init(void)
{
	return TPM_SUCCESS;
}

static TPM_RESULT floor_nv_load(unsigned char **data, uint32_t *length,
				uint32_t tpm_number, const char *name)
{
	struct nv_slot *s = floor_nv_find(name);

	(void)tpm_number;
	*data = NULL;
	*length = 0;
	if (!s)
		return TPM_FAIL;
	if (!s->data)
		return TPM_RETRY; /* nothing stored yet */
	*data = malloc(s->len); /* libtpms frees it */
	if (!*data)
		return TPM_FAIL;
	memcpy(*data, s->data, s->len);
	*length = s->len;
	return TPM_SUCCESS;
}

static TPM_RESULT floor_nv_store(const unsigned char *data, uint32_t length,
				 uint32_t tpm_number, const char *name)
{
	struct nv_slot *s = floor_nv_find(name);
	unsigned char *copy;

	(void)tpm_number;
	if (!s || length == 0)
		return TPM_FAIL;
	copy = malloc(length);
	if (!copy)
		return TPM_FAIL;
	memcpy(copy, data, length);
	free(s->data);
	s->data = copy;
	s->len = length;
	return TPM_SUCCESS;
}

static TPM_RESULT floor_nv_delete(uint32_t tpm_number, const char *name,
				  TPM_BOOL must_exist)
{
	struct nv_slot *s = floor_nv_find(name);

	(void)tpm_number;
	if (!s || (!s->data && must_exist))
		return TPM_FAIL;
	free(s->data);
	s->data = NULL;
	s->len = 0;
	return TPM_SUCCESS;
}

/*
 * Finds the libtpms blob inside an unencrypted swtpm dir-backend file:
 * a 10-byte header (version, min_version, hdrsize, flags, totlen) and
 * TLVs (u16 tag, u32 length) of which tag 1 holds the data.
 */
static int swtpm_blob_data(const uint8_t *file, size_t len,
			   const uint8_t **data, size_t *n)
{
	struct buf r;
	uint16_t hdrsize, flags;
	uint32_t totlen;

	buf_init_read(&r, file, len);
	(void)buf_get_u8(&r);              /* version */
	if (buf_get_u8(&r) > 2)            /* min_version we must know */
		return -1;
	hdrsize = buf_get_u16(&r);
	flags = buf_get_u16(&r);
	totlen = buf_get_u32(&r);
	if (!buf_ok(&r) || flags != 0 || totlen != len || hdrsize < SWTPM_BLOB_HEADER)
		return -1;
	(void)buf_get_ptr(&r, hdrsize - SWTPM_BLOB_HEADER);
	while (buf_ok(&r) && buf_left(&r) > 0) {
		uint16_t tag = buf_get_u16(&r);
		uint32_t vlen = buf_get_u32(&r);
		const uint8_t *v = buf_get_ptr(&r, vlen);

		if (v && tag == SWTPM_TAG_DATA && vlen > 0) {
			*data = v;
			*n = vlen;
			return 0;
		}
	}
	return -1;
}

/* Loads the permanent state of another TPM so the floor shares its seeds. */
static int floor_load_state(const char *path)
{
	uint8_t *file = malloc(STATE_FILE_MAX + 1);
	const uint8_t *blob;
	size_t len = 0, n;
	int fd, ret = -1;

	if (!file)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out_free;
	while (len <= STATE_FILE_MAX) {
		ssize_t r = read(fd, file + len, STATE_FILE_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto out_close;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > STATE_FILE_MAX || swtpm_blob_data(file, len, &blob, &n) != 0) {
		fprintf(stderr, "bench_tpm: %s: not an unencrypted swtpm state file\n",
			path);
		errno = EINVAL;
		goto out_close;
	}
	if (floor_nv_store(blob, (uint32_t)n, 0, TPM_PERMANENT_ALL_NAME) == TPM_SUCCESS)
		ret = 0;
out_close:
	close(fd);
out_free:
	free(file);
	return ret;
}

/* ---- a worker's transport ---- */

/*
 * Sends one command and returns the response (owned by c) in *rsp.  A
 * daemon gets the command in one write and its reply is read as a 10-byte
 * header, then the rest as given by the size field, capped first.
 */
static int conn_exchange(struct conn *c, uint8_t *cmd, size_t cmd_len,
			 const uint8_t **rsp, size_t *rsp_len)
{
	struct tpm_hdr h;

	if (c->floor) {
		uint32_t n = 0;

		if (TPMLIB_Process(&c->floor_buf, &n, &c->floor_cap, cmd,
				   (uint32_t)cmd_len) != TPM_SUCCESS) {
			errno = EIO;
			return -1;
		}
		*rsp = c->floor_buf;
		*rsp_len = n;
		return 0;
	}
	if (write_full(c->sock, cmd, cmd_len) != 0)
		return -1;
	if (read_full(c->sock, c->rbuf, TPM_HDR_SIZE) != 0)
		goto fail_read;
	/* lib/tpm caps the size field at the buffer before the body is read */
	if (tpm_hdr_parse(c->rbuf, TPM_HDR_SIZE, sizeof(c->rbuf), &h) != 1 || !tpm_tag_is_tpm2(h.tag)) {
		errno = EPROTO;
		return -1;
	}
	if (read_full(c->sock, c->rbuf + TPM_HDR_SIZE, h.size - TPM_HDR_SIZE) != 0)
		goto fail_read;
	*rsp = c->rbuf;
	*rsp_len = h.size;
	return 0;
fail_read:
	if (errno == 0)
		errno = ECONNRESET; /* the daemon hung up mid-exchange */
	return -1;
}

/* Connects once; the daemon was started with startup-clear. */
static int conn_open_unix(struct conn *c, const char *path, uint32_t *rc)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (n >= sizeof(sa.sun_path)) {
		*rc = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, n + 1);
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->sock < 0 ||
	    connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		*rc = (uint32_t)errno;
		return -1;
	}
	return 0;
}

/*
 * Starts libtpms in this process: TPM 2.0, NV kept in memory (seeded from
 * state_file if given, else freshly manufactured), then TPM2_Startup(CLEAR),
 * which every TPM2 command needs first.
 */
static int conn_open_floor(struct conn *c, const char *state_file, uint32_t *rc)
{
	struct libtpms_callbacks cbs;
	uint8_t cmd[TPM_HDR_SIZE + 2];
	const uint8_t *rsp;
	size_t len, rsp_len;

	memset(&cbs, 0, sizeof(cbs));
	cbs.sizeOfStruct = sizeof(cbs);
	cbs.tpm_nvram_init = floor_nv_init;
	cbs.tpm_nvram_loaddata = floor_nv_load;
	cbs.tpm_nvram_storedata = floor_nv_store;
	cbs.tpm_nvram_deletename = floor_nv_delete;
	if (state_file && floor_load_state(state_file) != 0) {
		*rc = (uint32_t)errno;
		return -1;
	}
	if ((*rc = TPMLIB_ChooseTPMVersion(TPMLIB_TPM_VERSION_2)) != 0 ||
	    (*rc = TPMLIB_RegisterCallbacks(&cbs)) != 0 ||
	    (*rc = TPMLIB_MainInit()) != 0)
		return -1;
	len = tpm_cmd_startup_clear(cmd, sizeof(cmd));
	if (conn_exchange(c, cmd, len, &rsp, &rsp_len) != 0 ||
	    tpm_rsp_plain(rsp, rsp_len, rc) != 0 || *rc != 0) {
		if (*rc == 0)
			*rc = EPROTO;
		return -1;
	}
	return 0;
}

static int conn_open(struct conn *c, const struct target *t, uint32_t *rc)
{
	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->floor = t->floor;
	*rc = 0;
	if (t->floor)
		return conn_open_floor(c, t->path, rc);
	return conn_open_unix(c, t->path, rc);
}

/* One command with its response checked: a worker_status. */
static int conn_call(struct conn *c, uint8_t *cmd, size_t len, uint32_t *rc,
		     int (*check)(const uint8_t *, size_t, uint32_t *))
{
	const uint8_t *rsp;
	size_t rsp_len;

	if (conn_exchange(c, cmd, len, &rsp, &rsp_len) != 0) {
		*rc = (uint32_t)errno;
		return WS_TRANSPORT;
	}
	if (check(rsp, rsp_len, rc) != 0)
		return WS_MALFORMED;
	return *rc ? WS_TPM : WS_OK;
}

static int conn_flush(struct conn *c, uint32_t handle, uint32_t *rc)
{
	uint8_t cmd[TPM_HDR_SIZE + 4];
	size_t len = tpm_cmd_flush(cmd, sizeof(cmd), handle);

	return conn_call(c, cmd, len, rc, tpm_rsp_plain);
}

static void conn_close(struct conn *c)
{
	uint32_t rc;

	if (c->sign_key)
		(void)conn_flush(c, c->sign_key, &rc);
	if (c->floor) {
		TPMLIB_Terminate();
		free(c->floor_buf);
	}
	if (c->sock >= 0)
		close(c->sock);
}

/* ---- a worker: runs timed operations on request ---- */

/*
 * One CreatePrimary: returns the handle and name, and in *elapsed the time
 * of the exchange alone (building and parsing are not timed).
 */
static int create_primary(struct conn *c, enum tpm_key_kind kind, uint32_t seq,
			  uint32_t *handle, uint8_t *name, size_t *name_len,
			  uint64_t *elapsed, uint32_t *rc)
{
	uint8_t cmd[TPM_PACKET_MAX];
	const uint8_t *rsp;
	size_t len = tpm_cmd_create_primary(cmd, sizeof(cmd), kind, seq);
	size_t rsp_len;
	uint64_t t0;

	if (len == 0)
		return WS_REQUEST;
	t0 = now_ns();
	if (conn_exchange(c, cmd, len, &rsp, &rsp_len) != 0) {
		*rc = (uint32_t)errno;
		return WS_TRANSPORT;
	}
	*elapsed = now_ns() - t0;
	if (tpm_rsp_create_primary(rsp, rsp_len, rc, handle, name, name_len) != 0)
		return WS_MALFORMED;
	return *rc ? WS_TPM : WS_OK;
}

/*
 * Runs n CreatePrimary operations, each key flushed untimed after it.
 * Operation i of a round uses template sequence round * n + i, the same on
 * every target.  BENCH_SEED_ID instead returns, in lat[0], 8 bytes of the
 * plain SRK's name: equal names mean equal hierarchy seeds.
 */
static int run_create(struct conn *c, enum bench_cmd cmd, uint32_t round,
		      uint32_t n, uint64_t *lat, uint32_t *rc)
{
	enum tpm_key_kind kind = cmd == BENCH_CREATE_RSA ?
		TPM_KEY_RSA_STORAGE : TPM_KEY_ECC_STORAGE;
	uint8_t name[TPM_NAME_MAX];
	size_t name_len;
	uint32_t i, handle;
	int st = WS_OK;

	for (i = 0; i < n && st == WS_OK; i++) {
		st = create_primary(c, kind, cmd == BENCH_SEED_ID ? 0 : round * n + i,
				    &handle, name, &name_len, &lat[i], rc);
		if (st != WS_OK)
			break;
		if (cmd == BENCH_SEED_ID) {
			struct buf r;

			buf_init_read(&r, name, name_len);
			(void)buf_get_u16(&r); /* the name's hash algorithm */
			lat[i] = buf_get_u64(&r);
			if (!buf_ok(&r))
				st = WS_MALFORMED;
		}
		if (st == WS_OK)
			st = conn_flush(c, handle, rc);
	}
	return st;
}

/*
 * Runs n operations of a command whose bytes never change (GetRandom,
 * PCR_Extend, Sign): built once, only the exchange timed, each response
 * checked.  Sign first makes its key, once per worker, untimed.
 */
static int run_fixed(struct conn *c, enum bench_cmd cmd, uint32_t n,
		     uint64_t *lat, uint32_t *rc)
{
	uint8_t buf[TPM_PACKET_MAX];
	size_t len = 0;
	uint32_t i;

	if (cmd == BENCH_SIGN && !c->sign_key) {
		uint8_t name[TPM_NAME_MAX];
		size_t name_len;
		uint64_t unused;
		int st = create_primary(c, TPM_KEY_ECC_SIGNING, 0, &c->sign_key,
					name, &name_len, &unused, rc);

		if (st != WS_OK) {
			c->sign_key = 0;
			return st;
		}
	}
	if (cmd == BENCH_GET_RANDOM)
		len = tpm_cmd_get_random(buf, sizeof(buf), RANDOM_BYTES);
	else if (cmd == BENCH_PCR_EXTEND)
		len = tpm_cmd_pcr_extend(buf, sizeof(buf), PCR_DEBUG, bench_digest);
	else if (cmd == BENCH_SIGN)
		len = tpm_cmd_sign(buf, sizeof(buf), c->sign_key, bench_digest);
	if (len == 0)
		return WS_REQUEST;
	for (i = 0; i < n; i++) {
		const uint8_t *rsp;
		size_t rsp_len;
		uint64_t t0 = now_ns();
		int bad;

		if (conn_exchange(c, buf, len, &rsp, &rsp_len) != 0) {
			*rc = (uint32_t)errno;
			return WS_TRANSPORT;
		}
		lat[i] = now_ns() - t0;
		if (cmd == BENCH_GET_RANDOM)
			bad = tpm_rsp_get_random(rsp, rsp_len, rc, RANDOM_BYTES);
		else if (cmd == BENCH_PCR_EXTEND)
			bad = tpm_rsp_pcr_extend(rsp, rsp_len, rc);
		else
			bad = tpm_rsp_sign(rsp, rsp_len, rc);
		if (bad)
			return WS_MALFORMED;
		if (*rc)
			return WS_TPM;
	}
	return WS_OK;
}

/*
 * Runs n NV_Writes of NV_WRITE_BYTES to NV_INDEX, defined first (untimed,
 * once per worker; an index left by an earlier run is used as it is).
 * Every write carries the clock and a new sequence number, so each changes
 * the index, also across runs: libtpms writes no state for a write that
 * leaves the index as it was.
 */
static int run_nv_write(struct conn *c, uint32_t n, uint64_t *lat, uint32_t *rc)
{
	uint8_t buf[TPM_PACKET_MAX], data[NV_WRITE_BYTES];
	uint32_t i;
	int st;

	if (!c->nv_defined) {
		size_t len = tpm_cmd_nv_define(buf, sizeof(buf), NV_INDEX, NV_WRITE_BYTES);

		if (len == 0)
			return WS_REQUEST;
		st = conn_call(c, buf, len, rc, tpm_rsp_no_params);
		if (st == WS_TPM && *rc == TPM_RC_NV_DEFINED)
			st = WS_OK;
		if (st != WS_OK)
			return st;
		*rc = 0;
		c->nv_defined = 1;
	}
	memset(data, 0xa5, sizeof(data));
	for (i = 0; i < n; i++) {
		const uint8_t *rsp;
		size_t rsp_len, len;
		uint64_t t0;
		struct buf d;

		buf_init_write(&d, data, sizeof(data));
		buf_put_u64(&d, now_ns());
		buf_put_u32(&d, ++c->nv_seq);
		len = tpm_cmd_nv_write(buf, sizeof(buf), NV_INDEX, data,
				       NV_WRITE_BYTES, 0);
		if (len == 0)
			return WS_REQUEST;
		t0 = now_ns();
		if (conn_exchange(c, buf, len, &rsp, &rsp_len) != 0) {
			*rc = (uint32_t)errno;
			return WS_TRANSPORT;
		}
		lat[i] = now_ns() - t0;
		if (tpm_rsp_no_params(rsp, rsp_len, rc) != 0)
			return WS_MALFORMED;
		if (*rc)
			return WS_TPM;
	}
	return WS_OK;
}

/* Runs n operations of cmd, each latency (ns) into lat: a worker_status. */
static int worker_run(struct conn *c, enum bench_cmd cmd, uint32_t round,
		      uint32_t n, uint64_t *lat, uint32_t *rc)
{
	*rc = 0;
	switch (cmd) {
	case BENCH_CREATE_ECC:
	case BENCH_CREATE_RSA:
	case BENCH_SEED_ID:
		return run_create(c, cmd, round, n, lat, rc);
	case BENCH_NV_WRITE:
		return run_nv_write(c, n, lat, rc);
	default:
		return run_fixed(c, cmd, n, lat, rc);
	}
}

static int worker_reply(int fd, uint32_t status, uint32_t rc,
			const uint64_t *lat, uint32_t n, uint8_t *out,
			size_t out_cap)
{
	struct buf b;
	uint32_t i;

	buf_init_write(&b, out, out_cap);
	buf_put_u32(&b, status);
	buf_put_u32(&b, rc);
	buf_put_u32(&b, status == WS_OK ? n : 0);
	for (i = 0; status == WS_OK && i < n; i++)
		buf_put_u64(&b, lat[i]);
	if (!buf_ok(&b))
		return -1;
	return write_full(fd, out, b.off);
}

/* The body of a worker process; returns its exit status. */
static int worker_main(const struct target *t, int fd)
{
	size_t out_cap = REPLY_HEADER_SIZE + 8 * (size_t)MAX_OPS;
	uint64_t *lat = calloc(MAX_OPS, sizeof(*lat));
	uint8_t *out = malloc(out_cap);
	uint8_t req[REQUEST_SIZE];
	struct conn c;
	uint32_t rc;
	int ret = 1;

	if (!lat || !out)
		goto out_free;
	if (conn_open(&c, t, &rc) != 0) {
		(void)worker_reply(fd, WS_SETUP, rc, NULL, 0, out, out_cap);
		goto out_close;
	}
	if (worker_reply(fd, WS_OK, 0, NULL, 0, out, out_cap) != 0)
		goto out_close;
	while (read_full(fd, req, sizeof(req)) == 0) {
		struct buf r;
		uint32_t cmd, round, n;
		int st;

		buf_init_read(&r, req, sizeof(req));
		cmd = buf_get_u32(&r);
		round = buf_get_u32(&r);
		n = buf_get_u32(&r);
		if (cmd < BENCH_GET_RANDOM || cmd > BENCH_CMD_LAST || n == 0 ||
		    n > MAX_OPS) {
			st = WS_REQUEST;
			rc = 0;
		} else {
			st = worker_run(&c, (enum bench_cmd)cmd, round, n, lat, &rc);
		}
		if (worker_reply(fd, (uint32_t)st, rc, lat, n, out, out_cap) != 0)
			goto out_close;
	}
	ret = errno == 0 ? 0 : 1; /* EOF: the parent is done */
out_close:
	conn_close(&c);
out_free:
	free(out);
	free(lat);
	return ret;
}

/* ---- -w: wait until daemons answer ---- */

static uint64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * One attempt: connect, GetRandom, a whole success response.  Every
 * blocking step (a connect to a full backlog, the send, the reads) is
 * bounded by what is left until deadline.  Returns 0, or -1 with errno
 * (EPROTO: the TPM answered with an error, e.g. not started yet).
 */
static int ready_try(const char *path, uint64_t deadline)
{
	struct conn c;
	struct timeval tv;
	uint8_t cmd[TPM_HDR_SIZE + 2];
	const uint8_t *rsp;
	size_t len = tpm_cmd_get_random(cmd, sizeof(cmd), READY_RANDOM_BYTES);
	size_t rsp_len;
	uint64_t left, now = now_ns();
	uint32_t rc;
	int ret = -1, err;

	memset(&c, 0, sizeof(c));
	c.sock = -1;
	left = deadline > now ? deadline - now : 0;
	if (left < 1000000u)
		left = 1000000u; /* at least 1 ms: zero would mean no timeout */
	tv.tv_sec = (time_t)(left / 1000000000u);
	tv.tv_usec = (suseconds_t)(left % 1000000000u / 1000u);
	if (conn_open_unix(&c, path, &rc) != 0) {
		/* conn_open_unix leaves a socket that did not connect open */
		if (c.sock >= 0)
			close(c.sock);
		errno = (int)rc;
		return -1;
	}
	if (setsockopt(c.sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(c.sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
		goto out;
	if (conn_exchange(&c, cmd, len, &rsp, &rsp_len) != 0)
		goto out;
	if (tpm_rsp_get_random(rsp, rsp_len, &rc, READY_RANDOM_BYTES) != 0 || rc != 0) {
		errno = EPROTO;
		goto out;
	}
	ret = 0;
out:
	err = errno;
	close(c.sock);
	errno = err;
	return ret;
}

/* -w: each path in turn, all within timeout_ms of the start; 0 if all answered. */
static int ready_main(unsigned long timeout_ms, char **paths, int n)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	const struct timespec pause = { 0, READY_RETRY_NS };
	int i, ret = 0;

	for (i = 0; i < n; i++) {
		int err;

		while ((err = ready_try(paths[i], deadline) ? errno : 0) != 0 &&
		       now_ns() < deadline)
			nanosleep(&pause, NULL);
		if (err == 0) {
			printf("ready\t%s\t%llu\n", paths[i],
			       (unsigned long long)realtime_us());
		} else {
			printf("notready\t%s\t%s\n", paths[i],
			       err == EPROTO ? "TPM error response" : strerror(err));
			ret = 1;
		}
	}
	fflush(stdout);
	return ret;
}

/* ---- the parent ---- */

static const char *status_text(uint32_t st)
{
	switch (st) {
	case WS_TRANSPORT: return "transport error";
	case WS_TPM: return "TPM error";
	case WS_MALFORMED: return "malformed response";
	case WS_SETUP: return "setup failed";
	case WS_REQUEST: return "bad request";
	default: return "unknown status";
	}
}

/* Reads a worker's reply of exactly want values into vals. */
static int parent_read_reply(struct target *t, uint32_t want, uint64_t *vals)
{
	uint8_t hdr[REPLY_HEADER_SIZE], v[8];
	struct buf r;
	uint32_t st, rc, count, i;

	if (read_full(t->fd, hdr, sizeof(hdr)) != 0) {
		fprintf(stderr, "bench_tpm: %s: worker died\n", t->name);
		return -1;
	}
	buf_init_read(&r, hdr, sizeof(hdr));
	st = buf_get_u32(&r);
	rc = buf_get_u32(&r);
	count = buf_get_u32(&r);
	if (st != WS_OK) {
		fprintf(stderr, "bench_tpm: %s: %s (0x%x%s%s)\n", t->name,
			status_text(st), rc,
			st == WS_TRANSPORT || st == WS_SETUP ? ": " : "",
			st == WS_TRANSPORT || st == WS_SETUP ? strerror((int)rc) : "");
		return -1;
	}
	if (count != want) {
		fprintf(stderr, "bench_tpm: %s: worker sent %u values, want %u\n",
			t->name, count, want);
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (read_full(t->fd, v, sizeof(v)) != 0)
			return -1;
		buf_init_read(&r, v, sizeof(v));
		vals[i] = buf_get_u64(&r);
	}
	return 0;
}

static int parent_request(struct target *t, enum bench_cmd cmd, uint32_t round,
			  uint32_t n, uint64_t *vals)
{
	uint8_t req[REQUEST_SIZE];
	struct buf b;

	buf_init_write(&b, req, sizeof(req));
	buf_put_u32(&b, cmd);
	buf_put_u32(&b, round);
	buf_put_u32(&b, n);
	if (!buf_ok(&b) || write_full(t->fd, req, b.off) != 0) {
		fprintf(stderr, "bench_tpm: %s: worker gone\n", t->name);
		return -1;
	}
	return parent_read_reply(t, n, vals);
}

/*
 * Forks the worker of targets[k] and waits for its hello.  The child
 * closes the parent's ends of earlier workers, or they would never see EOF.
 */
static int start_worker(struct target *targets, int k)
{
	struct target *t = &targets[k];
	int sv[2], j;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	fflush(NULL);
	t->pid = fork();
	if (t->pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (t->pid == 0) {
		close(sv[0]);
		for (j = 0; j < k; j++)
			close(targets[j].fd);
		_exit(worker_main(t, sv[1]));
	}
	close(sv[1]);
	t->fd = sv[0];
	return parent_read_reply(t, 0, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static uint64_t percentile(const uint64_t *sorted, uint32_t n, unsigned pct)
{
	size_t rank = ((size_t)n * pct + 99) / 100;

	return sorted[rank ? rank - 1 : 0];
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct round_stats {
	double ops_s[MAX_ROUNDS];
	double p50_us[MAX_ROUNDS];
	double p99_us[MAX_ROUNDS];
};

static void round_record(struct round_stats *s, unsigned round,
			 uint64_t *lat, uint32_t n)
{
	uint64_t sum = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, n, sizeof(*lat), cmp_u64);
	s->ops_s[round] = sum ? (double)n * 1e9 / (double)sum : 0;
	s->p50_us[round] = (double)percentile(lat, n, 50) / 1e3;
	s->p99_us[round] = (double)percentile(lat, n, 99) / 1e3;
}

static int bench_one(struct target *targets, int nt, const struct bench_spec *spec,
		     unsigned rounds, unsigned ops, uint64_t *lat)
{
	static struct round_stats stats[MAX_TARGETS];
	uint64_t t_start = now_ns();
	unsigned round;
	int k;

	printf("config\t%s\t%u\t%u\n", spec->name, rounds, ops);
	/* warm-up; a key it makes may recur in a round, nothing caches keys */
	for (k = 0; k < nt; k++)
		if (parent_request(&targets[k], spec->cmd, rounds,
				   ops / 10 ? ops / 10 : 1, lat) != 0)
			return -1;
	for (round = 0; round < rounds; round++) {
		for (k = 0; k < nt; k++) {
			int ti = (int)((round + (unsigned)k) % (unsigned)nt);

			if (parent_request(&targets[ti], spec->cmd, round, ops, lat) != 0)
				return -1;
			round_record(&stats[ti], round, lat, ops);
		}
	}
	for (k = 0; k < nt; k++)
		printf("result\t%s\t%s\t%.1f\t%.2f\t%.2f\n", spec->name,
		       targets[k].name, median(stats[k].ops_s, rounds),
		       median(stats[k].p50_us, rounds),
		       median(stats[k].p99_us, rounds));
	fflush(stdout);
	fprintf(stderr, "bench_tpm: %-10s %2u rounds x %4u ops x %d targets: %.1f s\n",
		spec->name, rounds, ops, nt, (double)(now_ns() - t_start) / 1e9);
	return 0;
}

static int parse_target(struct target *t, const char *arg)
{
	const char *eq = strchr(arg, '=');
	size_t nlen = eq ? (size_t)(eq - arg) : 0;
	size_t i;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (nlen == 0 || nlen > TARGET_NAME_MAX)
		return -1;
	for (i = 0; i < nlen; i++)
		if (!((arg[i] >= 'a' && arg[i] <= 'z') || (arg[i] >= '0' && arg[i] <= '9') ||
		      arg[i] == '_' || arg[i] == '-'))
			return -1;
	memcpy(t->name, arg, nlen);
	if (strcmp(eq + 1, "floor") == 0) {
		t->floor = 1;
	} else if (strncmp(eq + 1, "floor:", 6) == 0 && eq[7] != '\0') {
		t->floor = 1;
		t->path = eq + 7;
	} else if (strncmp(eq + 1, "unix:", 5) == 0 && eq[6] != '\0') {
		t->path = eq + 6;
	} else {
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_tpm [-c] [-q] [-o CMD] NAME=floor[:SWTPM_PERMALL] | NAME=unix:PATH ...\n"
		"       bench_tpm -w TIMEOUT_MS SOCKET_PATH ...\n"
		"  -c  check each target with one operation of each command\n"
		"  -q  quick run: 3 rounds of a tenth of the operations\n"
		"  -o  only CMD: getrandom, pcr_extend, create_ecc, create_rsa, sign_ecdsa,\n"
		"      nv_write (only run when named)\n"
		"  -w  wait until each daemon answers a GetRandom; print when\n");
}

int main(int argc, char **argv)
{
	struct target targets[MAX_TARGETS];
	uint64_t *lat = NULL;
	const char *only = NULL;
	unsigned long wait_ms = 0;
	int check = 0, quick = 0, nt = 0, ret = 1, opt, k;
	size_t s;

	while ((opt = getopt(argc, argv, "cqo:w:")) != -1) {
		if (opt == 'c') {
			check = 1;
		} else if (opt == 'q') {
			quick = 1;
		} else if (opt == 'o') {
			only = optarg;
		} else if (opt == 'w') {
			char *end;

			errno = 0;
			wait_ms = strtoul(optarg, &end, 10);
			if (errno || *end || wait_ms == 0 || wait_ms > INT_MAX)
				goto out_usage;
		} else {
			goto out_usage;
		}
	}
	if (wait_ms) {
		if (optind >= argc)
			goto out_usage;
		signal(SIGPIPE, SIG_IGN);
		return ready_main(wait_ms, argv + optind, argc - optind);
	}
	if (optind >= argc || argc - optind > MAX_TARGETS)
		goto out_usage;
	for (; optind < argc; optind++)
		if (parse_target(&targets[nt++], argv[optind]) != 0)
			goto out_usage;
	signal(SIGPIPE, SIG_IGN);
	lat = calloc(MAX_OPS, sizeof(*lat));
	if (!lat)
		return 1;
	for (k = 0; k < nt; k++) {
		targets[k].pid = -1;
		targets[k].fd = -1;
	}
	for (k = 0; k < nt; k++)
		if (start_worker(targets, k) != 0)
			goto out;
	for (k = 0; k < nt; k++) {
		if (parent_request(&targets[k], BENCH_SEED_ID, 0, 1, lat) != 0)
			goto out;
		printf("seed\t%s\t%016llx\n", targets[k].name, (unsigned long long)lat[0]);
	}
	for (s = 0; s < N_SPECS; s++) {
		const struct bench_spec *spec = &bench_specs[s];
		unsigned rounds = quick ? 3 : spec->rounds;
		unsigned ops = quick ? (spec->ops / 10 ? spec->ops / 10 : 1) : spec->ops;

		if (only ? strcmp(only, spec->name) != 0 : spec->opt_in)
			continue;
		if (check) {
			for (k = 0; k < nt; k++)
				if (parent_request(&targets[k], spec->cmd, 0, 1, lat) != 0)
					goto out;
			continue;
		}
		if (rounds > MAX_ROUNDS || ops > MAX_OPS ||
		    bench_one(targets, nt, spec, rounds, ops, lat) != 0)
			goto out;
	}
	if (check)
		for (k = 0; k < nt; k++)
			printf("check\t%s\tok\n", targets[k].name);
	ret = 0;
out:
	for (k = 0; k < nt; k++) {
		if (targets[k].fd >= 0)
			close(targets[k].fd); /* EOF tells the worker to finish */
		if (targets[k].pid > 0) {
			int wst;

			while (waitpid(targets[k].pid, &wst, 0) < 0 && errno == EINTR)
				;
			if (ret == 0 && (!WIFEXITED(wst) || WEXITSTATUS(wst) != 0)) {
				fprintf(stderr, "bench_tpm: %s: worker exited badly\n",
					targets[k].name);
				ret = 1;
			}
		}
	}
	free(lat);
	return ret;
out_usage:
	usage();
	return 2;
}
