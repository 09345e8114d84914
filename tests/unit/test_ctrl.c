/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_ctrl: the swtpm control channel against the real libtpms engine over
 * a temporary state directory. One test per command (0x01..0x13) through
 * ctrl_frame + ctrl_handle, asserting the exact reply layout swtpm clients
 * parse, then the framing of malformed and truncated requests. libtpms is
 * process-global: one engine for the binary, and each test's setup powers it
 * on (CTRL_INIT) if an earlier test left it off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <libtpms/tpm_error.h>
#include <openssl/evp.h>

#include "buf.h"
#include "ctrl.h"
#include "dbuf.h"
#include "engine.h"
#include "helpers.h"
#include "log.h"
#include "tpm.h"

#define REQ_MAX		(CTRL_SETSTATE_HDR + 4096)
#define CAPS_TPM2	0x0001ffffu	/* PTM_CAP_INIT .. PTM_CAP_LOCK_STORAGE */

static struct th_tpm tpm;
static struct ctrl_env env;
static struct dbuf out;

static int datafd_got = -1;	/* fd the set_datafd callback was handed */

static int take_datafd(void *arg, int fd)
{
	(void)arg;
	if (datafd_got >= 0)
		return -1;	/* one data connection at a time */
	datafd_got = fd;
	return 0;
}

/*
 * Frames req (it must be one whole request, no more, no less) and runs it.
 * The reply is in out; returns its length.
 */
static size_t call_fd(const uint8_t *req, size_t n, int *fd)
{
	size_t len = 0;

	assert_int_equal(ctrl_frame(req, n, &len), FRAME_COMPLETE);
	assert_int_equal(len, n);
	dbuf_consume(&out, out.len);
	assert_int_equal(ctrl_handle(&env, req, len, fd, &out), 0);
	return out.len;
}

static size_t call(const uint8_t *req, size_t n)
{
	int fd = -1;

	return call_fd(req, n, &fd);
}

/* u32 code followed by count u32 body words. */
static size_t call_u32s(uint32_t code, int count, const uint32_t *v)
{
	uint8_t req[4 + 4 * 4];
	struct buf b;

	buf_init_write(&b, req, sizeof(req));
	buf_put_u32(&b, code);
	for (int i = 0; i < count; i++)
		buf_put_u32(&b, v[i]);
	assert_true(buf_ok(&b));
	return call(req, b.off);
}

static size_t call_code(uint32_t code)
{
	return call_u32s(code, 0, NULL);
}

/* SET_LOCALITY / RESET_TPMESTABLISHED: u8 locality, short (5) or union (8) form. */
static size_t call_loc(uint32_t code, uint8_t loc, bool union_form)
{
	uint8_t req[8] = { 0 };

	be32_store(req, code);
	req[4] = loc;
	return call(req, union_form ? 8 : 5);
}

static uint32_t word(size_t i)
{
	assert_true(out.len >= 4 * (i + 1));
	return be32_load(out.p + 4 * i);
}

/* Asserts a 4-byte reply holding only the result code. */
static void expect_res(size_t n, uint32_t res)
{
	assert_int_equal(n, 4);
	assert_int_equal(word(0), res);
}

static void ctrl_init(void)
{
	uint32_t flags = 0;

	expect_res(call_u32s(CTRL_INIT, 1, &flags), TPM_SUCCESS);
	assert_true(engine_running());
}

static void ctrl_stop(void)
{
	expect_res(call_code(CTRL_STOP), TPM_SUCCESS);
	assert_false(engine_running());
}

/* Runs one TPM command on the engine; returns its response code. */
static uint32_t tpm_cmd(const uint8_t *cmd, size_t n, const uint8_t **rsp, uint32_t *rlen)
{
	engine_process(cmd, (uint32_t)n, rsp, rlen);
	return tpm_response_rc(*rsp, *rlen);
}

static uint32_t tpm2_startup_clear(void)
{
	uint8_t cmd[12];
	const uint8_t *rsp;
	uint32_t rlen;

	return tpm_cmd(cmd, tpm2_build_su(cmd, TPM20_CC_STARTUP, TPM20_SU_CLEAR), &rsp, &rlen);
}

/* TPM2_PCR_Read of one SHA-256 PCR; copies its 32-byte value to val. */
static void tpm2_pcr_read(unsigned pcr, uint8_t val[32])
{
	uint8_t cmd[20];
	const uint8_t *rsp;
	uint32_t rlen;
	struct buf b;
	uint16_t dlen;
	const uint8_t *d;

	buf_init_write(&b, cmd, sizeof(cmd));
	buf_put_u16(&b, TPM20_ST_NO_SESSIONS);
	buf_put_u32(&b, sizeof(cmd));
	buf_put_u32(&b, 0x17e);		/* TPM2_CC_PCR_Read */
	buf_put_u32(&b, 1);		/* one selection */
	buf_put_u16(&b, 0x000b);	/* TPM_ALG_SHA256 */
	buf_put_u8(&b, 3);
	buf_put_u8(&b, pcr < 8 ? (uint8_t)(1u << pcr) : 0);
	buf_put_u8(&b, pcr >= 8 && pcr < 16 ? (uint8_t)(1u << (pcr - 8)) : 0);
	buf_put_u8(&b, pcr >= 16 ? (uint8_t)(1u << (pcr - 16)) : 0);
	assert_true(buf_done(&b));
	assert_int_equal(tpm_cmd(cmd, sizeof(cmd), &rsp, &rlen), TPM20_RC_SUCCESS);

	buf_init_read(&b, rsp, rlen);
	(void)buf_get_ptr(&b, TPM_HDR_SIZE + 4 + 4 + 2 + 1 + 3);	/* hdr, counter, selection */
	assert_int_equal(buf_get_u32(&b), 1);
	d = buf_get_tpm2b(&b, &dlen, 64);
	assert_true(buf_done(&b));
	assert_int_equal(dlen, 32);
	memcpy(val, d, 32);
}

static void sha256(const void *p, size_t n, uint8_t out32[32])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out32, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
}

static int group_setup(void **state)
{
	(void)state;
	th_tpm_open(&tpm);
	dbuf_init(&out, CTRL_REQ_MAX + 64);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_tpm_close(&tpm);
	dbuf_free(&out);
	return 0;
}

/* Per test: the TPM powered on at locality 0, a default environment. */
static int powered(void **state)
{
	(void)state;
	env = (struct ctrl_env){ 0 };
	engine_set_locality_policy(false, false);
	if (!engine_running())
		ctrl_init();
	engine_set_locality(0);
	return 0;
}

static void test_get_capability(void **state)
{
	(void)state;
	assert_int_equal(call_code(CTRL_GET_CAPABILITY), 8);
	assert_int_equal(word(0), 0);
	assert_int_equal(word(1), CAPS_TPM2);
	assert_int_equal(ctrl_capabilities(true), CAPS_TPM2);
	assert_int_equal(ctrl_capabilities(false), CAPS_TPM2 & ~PTM_CAP_SEND_COMMAND_HEADER);
	/* answered whether or not the TPM runs */
	ctrl_stop();
	assert_int_equal(call_code(CTRL_GET_CAPABILITY), 8);
	assert_int_equal(word(1), CAPS_TPM2);
}

static void test_init(void **state)
{
	uint8_t cmd[TH_GETRANDOM_SIZE];
	const uint8_t *rsp;
	uint32_t rlen;

	(void)state;
	ctrl_stop();
	/* powered off: commands get the fatal answer */
	assert_int_equal(tpm_cmd(cmd, th_tpm2_getrandom(cmd, 8), &rsp, &rlen), TPM20_RC_FAILURE);
	ctrl_init();
	assert_int_equal(tpm2_startup_clear(), TPM20_RC_SUCCESS);
	assert_int_equal(tpm_cmd(cmd, th_tpm2_getrandom(cmd, 8), &rsp, &rlen), TPM20_RC_SUCCESS);
	assert_int_equal(rlen, TPM_HDR_SIZE + 2 + 8);
	/* INIT while running power-cycles: Startup is needed again */
	ctrl_init();
	assert_int_equal(tpm_cmd(cmd, th_tpm2_getrandom(cmd, 8), &rsp, &rlen), 0x100);	/* TPM_RC_INITIALIZE */
}

static void test_init_delete_volatile(void **state)
{
	char path[TH_PATH_MAX];
	uint32_t flags = PTM_INIT_FLAG_DELETE_VOLATILE;

	(void)state;
	th_state_path(&tpm, "volatilestate", path);
	expect_res(call_code(CTRL_STORE_VOLATILE), TPM_SUCCESS);
	assert_true(th_exists(path));
	expect_res(call_u32s(CTRL_INIT, 1, &flags), TPM_SUCCESS);
	assert_true(engine_running());
	assert_false(th_exists(path));
}

/*
 * INIT refuses to power on over a state file that fails to verify, and
 * leaves the file as it was; with the good file back, it powers on.
 */
static void init_over_corrupt(const char *name)
{
	char path[TH_PATH_MAX];
	uint8_t *good, *bad, *after;
	size_t n = 0, m = 0;
	uint32_t flags = 0;

	th_state_path(&tpm, name, path);
	good = th_read_file(path, &n);
	assert_non_null(good);
	bad = malloc(n);
	assert_non_null(bad);
	memcpy(bad, good, n);
	bad[n / 2] ^= 0x01;
	assert_int_equal(th_write_file(path, bad, n), 0);

	assert_int_equal(call_u32s(CTRL_INIT, 1, &flags), 4);
	assert_int_not_equal(word(0), TPM_SUCCESS);
	assert_false(engine_running());
	after = th_read_file(path, &m);
	assert_non_null(after);
	assert_int_equal(m, n);
	assert_memory_equal(after, bad, n);

	assert_int_equal(th_write_file(path, good, n), 0);
	ctrl_init();
	free(good);
	free(bad);
	free(after);
}

static void test_init_corrupt_permanent(void **state)
{
	(void)state;
	ctrl_stop();
	init_over_corrupt("permall");
}

static void test_init_corrupt_volatile(void **state)
{
	(void)state;
	expect_res(call_code(CTRL_STORE_VOLATILE), TPM_SUCCESS);
	ctrl_stop();
	init_over_corrupt("volatilestate");
}

static void test_shutdown(void **state)
{
	(void)state;
	assert_false(env.shutdown);
	expect_res(call_code(CTRL_SHUTDOWN), TPM_SUCCESS);
	assert_true(env.shutdown);
	assert_false(engine_running());
}

static void test_get_tpmestablished(void **state)
{
	(void)state;
	assert_int_equal(call_code(CTRL_GET_TPMESTABLISHED), 8);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_true(out.p[4] == 0 || out.p[4] == 1);
	assert_int_equal(out.p[5] | out.p[6] | out.p[7], 0);
	ctrl_stop();
	expect_res(call_code(CTRL_GET_TPMESTABLISHED), TPM_BAD_ORDINAL);
}

static void test_set_locality(void **state)
{
	(void)state;
	for (int form = 0; form < 2; form++) {
		for (uint8_t loc = 0; loc <= 4; loc++) {
			expect_res(call_loc(CTRL_SET_LOCALITY, loc, form), TPM_SUCCESS);
			assert_int_equal(engine_locality(), loc);
		}
		engine_set_locality(2);
		expect_res(call_loc(CTRL_SET_LOCALITY, 5, form), TPM_BAD_LOCALITY);
		expect_res(call_loc(CTRL_SET_LOCALITY, 0xff, form), TPM_BAD_LOCALITY);
		assert_int_equal(engine_locality(), 2);
	}
}

static void test_set_locality_reject_4(void **state)
{
	(void)state;
	engine_set_locality_policy(true, false);
	engine_set_locality(1);
	expect_res(call_loc(CTRL_SET_LOCALITY, 4, false), TPM_BAD_LOCALITY);
	expect_res(call_loc(CTRL_SET_LOCALITY, 4, true), TPM_BAD_LOCALITY);
	assert_int_equal(engine_locality(), 1);
	expect_res(call_loc(CTRL_SET_LOCALITY, 3, false), TPM_SUCCESS);
	assert_int_equal(engine_locality(), 3);
}

static size_t call_hash_data(const void *p, uint32_t n)
{
	uint8_t req[8 + 64];

	assert_true(n <= 64);
	be32_store(req, CTRL_HASH_DATA);
	be32_store(req + 4, n);
	memcpy(req + 8, p, n);
	return call(req, 8 + n);
}

/*
 * A hash sequence after Startup is a dynamic (DRTM) measurement: PCR 17 is
 * reset to zero and extended with the digest of the data, and the TPM
 * becomes "established" until a locality 3/4 reset.
 */
static void test_hash_start_data_end(void **state)
{
	uint8_t before[32], after[32], ext[64], want[32];

	(void)state;
	assert_int_equal(tpm2_startup_clear(), TPM20_RC_SUCCESS);
	tpm2_pcr_read(17, before);
	expect_res(call_code(CTRL_HASH_START), TPM_SUCCESS);
	expect_res(call_hash_data("ab", 2), TPM_SUCCESS);
	expect_res(call_hash_data("", 0), TPM_SUCCESS);
	expect_res(call_hash_data("c", 1), TPM_SUCCESS);
	expect_res(call_code(CTRL_HASH_END), TPM_SUCCESS);
	tpm2_pcr_read(17, after);
	assert_memory_not_equal(before, after, 32);
	memset(ext, 0, 32);
	sha256("abc", 3, ext + 32);
	sha256(ext, sizeof(ext), want);
	assert_memory_equal(after, want, 32);

	assert_int_equal(call_code(CTRL_GET_TPMESTABLISHED), 8);
	assert_int_equal(out.p[4], 1);
}

static void test_hash_when_stopped(void **state)
{
	(void)state;
	ctrl_stop();
	expect_res(call_code(CTRL_HASH_START), TPM_BAD_ORDINAL);
	expect_res(call_hash_data("abc", 3), TPM_BAD_ORDINAL);
	expect_res(call_code(CTRL_HASH_END), TPM_BAD_ORDINAL);
}

/* A HASH_DATA whose length exceeds its bytes, handed in without ctrl_frame. */
static void test_hash_data_short_body(void **state)
{
	uint8_t req[8 + 3];
	int fd = -1;

	(void)state;
	be32_store(req, CTRL_HASH_DATA);
	be32_store(req + 4, 4);
	memcpy(req + 8, "abc", 3);
	dbuf_consume(&out, out.len);
	assert_int_equal(ctrl_handle(&env, req, sizeof(req), &fd, &out), 0);
	expect_res(out.len, TPM_BAD_PARAMETER);
}

static void test_cancel(void **state)
{
	(void)state;
	expect_res(call_code(CTRL_CANCEL_TPM_CMD), TPM_SUCCESS);
	ctrl_stop();
	expect_res(call_code(CTRL_CANCEL_TPM_CMD), TPM_BAD_ORDINAL);
}

static void test_store_volatile(void **state)
{
	char path[TH_PATH_MAX];
	uint8_t *blob = NULL;
	uint32_t len = 0;

	(void)state;
	assert_int_equal(nv_delete(tpm.nv, "volatilestate", false), 0);
	th_state_path(&tpm, "volatilestate", path);
	assert_false(th_exists(path));
	expect_res(call_code(CTRL_STORE_VOLATILE), TPM_SUCCESS);
	assert_true(th_exists(path));
	assert_int_equal(nv_load(tpm.nv, "volatilestate", &blob, &len), 0);
	assert_true(len > 0);
	free(blob);
	ctrl_stop();
	assert_int_equal(nv_delete(tpm.nv, "volatilestate", true), 0);
	expect_res(call_code(CTRL_STORE_VOLATILE), TPM_BAD_ORDINAL);
	assert_false(th_exists(path));
}

static void test_reset_tpmestablished(void **state)
{
	(void)state;
	/* establish it with a measurement sequence */
	expect_res(call_code(CTRL_HASH_START), TPM_SUCCESS);
	expect_res(call_code(CTRL_HASH_END), TPM_SUCCESS);
	assert_int_equal(call_code(CTRL_GET_TPMESTABLISHED), 8);
	assert_int_equal(out.p[4], 1);

	engine_set_locality(1);
	expect_res(call_loc(CTRL_RESET_TPMESTABLISHED, 0, false), TPM_BAD_LOCALITY);
	expect_res(call_loc(CTRL_RESET_TPMESTABLISHED, 2, true), TPM_BAD_LOCALITY);
	expect_res(call_loc(CTRL_RESET_TPMESTABLISHED, 5, false), TPM_BAD_LOCALITY);
	assert_int_equal(engine_locality(), 1);	/* the request's locality is not kept */
	assert_int_equal(call_code(CTRL_GET_TPMESTABLISHED), 8);
	assert_int_equal(out.p[4], 1);

	expect_res(call_loc(CTRL_RESET_TPMESTABLISHED, 3, false), TPM_SUCCESS);
	assert_int_equal(engine_locality(), 1);
	assert_int_equal(call_code(CTRL_GET_TPMESTABLISHED), 8);
	assert_int_equal(out.p[4], 0);
	expect_res(call_loc(CTRL_RESET_TPMESTABLISHED, 4, true), TPM_SUCCESS);

	ctrl_stop();
	expect_res(call_loc(CTRL_RESET_TPMESTABLISHED, 3, false), TPM_BAD_ORDINAL);
}

static size_t call_get_stateblob(uint32_t type, uint32_t offset)
{
	uint32_t body[3] = { 0, type, offset };

	return call_u32s(CTRL_GET_STATEBLOB, 3, body);
}

/* Copies the whole permanent blob out through GET_STATEBLOB; returns its length. */
static uint32_t get_perm_blob(uint8_t **blob)
{
	size_t n = call_get_stateblob(PTM_BLOB_TYPE_PERMANENT, 0);
	uint32_t len;

	assert_true(n > CTRL_SETSTATE_HDR);
	assert_int_equal(word(0), TPM_SUCCESS);
	len = word(3);
	assert_int_equal(n, CTRL_SETSTATE_HDR + len);
	*blob = malloc(len);
	assert_non_null(*blob);
	memcpy(*blob, out.p + CTRL_SETSTATE_HDR, len);
	return len;
}

static void test_get_stateblob_permanent(void **state)
{
	uint8_t *blob;
	uint32_t len = 0;

	(void)state;
	len = get_perm_blob(&blob);
	assert_int_equal(word(1), 0);		/* flags: not encrypted */
	assert_int_equal(word(2), len);		/* totlength == length (swtpm) */
	assert_int_equal(word(3), len);
	assert_true(len > 100);

	/* from an offset: the tail, with both lengths the bytes returned */
	assert_int_equal(call_get_stateblob(PTM_BLOB_TYPE_PERMANENT, 100), CTRL_SETSTATE_HDR + len - 100);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_int_equal(word(2), len - 100);
	assert_int_equal(word(3), len - 100);
	assert_memory_equal(out.p + CTRL_SETSTATE_HDR, blob + 100, len - 100);

	assert_int_equal(call_get_stateblob(PTM_BLOB_TYPE_PERMANENT, len - 1), CTRL_SETSTATE_HDR + 1);
	assert_int_equal(out.p[CTRL_SETSTATE_HDR], blob[len - 1]);
	for (int i = 0; i < 2; i++) {
		uint32_t off = i ? UINT32_MAX : len;

		assert_int_equal(call_get_stateblob(PTM_BLOB_TYPE_PERMANENT, off), CTRL_SETSTATE_HDR);
		assert_int_equal(word(0), TPM_SUCCESS);
		assert_int_equal(word(2), 0);
		assert_int_equal(word(3), 0);
	}
	free(blob);
}

static void test_get_stateblob_volatile_and_savestate(void **state)
{
	char path[TH_PATH_MAX];

	(void)state;
	th_state_path(&tpm, "volatilestate", path);
	expect_res(call_code(CTRL_STORE_VOLATILE), TPM_SUCCESS);
	assert_true(th_exists(path));
	assert_true(call_get_stateblob(PTM_BLOB_TYPE_VOLATILE, 0) > CTRL_SETSTATE_HDR);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_int_equal(out.len, CTRL_SETSTATE_HDR + word(3));
	/* handed out: the stored copy may not be resumed again */
	assert_false(th_exists(path));

	/* TPM 2.0 keeps Shutdown(STATE) data in NV: an empty savestate blob */
	assert_int_equal(call_get_stateblob(PTM_BLOB_TYPE_SAVESTATE, 0), CTRL_SETSTATE_HDR);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_int_equal(word(3), 0);
}

static void test_get_stateblob_bad_type_and_stopped(void **state)
{
	(void)state;
	expect_res(call_get_stateblob(0, 0), TPM_BAD_PARAMETER);
	expect_res(call_get_stateblob(4, 0), TPM_BAD_PARAMETER);
	ctrl_stop();
	expect_res(call_get_stateblob(PTM_BLOB_TYPE_PERMANENT, 0), TPM_BAD_ORDINAL);
}

static size_t call_set_stateblob(uint32_t flags, uint32_t type, const uint8_t *blob, uint32_t len)
{
	uint8_t *req = malloc(CTRL_SETSTATE_HDR + (size_t)len);
	size_t n;

	assert_non_null(req);
	be32_store(req, CTRL_SET_STATEBLOB);
	be32_store(req + 4, flags);
	be32_store(req + 8, type);
	be32_store(req + 12, len);
	if (len)
		memcpy(req + CTRL_SETSTATE_HDR, blob, len);
	n = call(req, CTRL_SETSTATE_HDR + (size_t)len);
	free(req);
	return n;
}

static void test_set_stateblob(void **state)
{
	char path[TH_PATH_MAX];
	uint8_t *blob, *disk, *disk2, garbage[300], *loaded = NULL;
	uint32_t len, llen = 0;
	size_t dlen = 0, dlen2 = 0;

	(void)state;
	th_state_path(&tpm, "permall", path);
	len = get_perm_blob(&blob);

	/* refused while running */
	expect_res(call_set_stateblob(0, PTM_BLOB_TYPE_PERMANENT, blob, len), TPM_BAD_ORDINAL);
	ctrl_stop();

	/* a blob libtpms cannot read is refused and never reaches the disk */
	disk = th_read_file(path, &dlen);
	assert_non_null(disk);
	memset(garbage, 0x5a, sizeof(garbage));
	assert_int_equal(call_set_stateblob(0, PTM_BLOB_TYPE_PERMANENT, garbage, sizeof(garbage)), 4);
	assert_int_not_equal(word(0), TPM_SUCCESS);
	assert_int_equal(call_set_stateblob(0, PTM_BLOB_TYPE_PERMANENT, blob, len / 2), 4);
	assert_int_not_equal(word(0), TPM_SUCCESS);
	disk2 = th_read_file(path, &dlen2);
	assert_non_null(disk2);
	assert_int_equal(dlen2, dlen);
	assert_memory_equal(disk2, disk, dlen);
	free(disk2);

	/* an encrypted blob (no key here) and unknown types */
	expect_res(call_set_stateblob(PTM_STATE_FLAG_ENCRYPTED, PTM_BLOB_TYPE_PERMANENT, blob, len),
		   TPM_BAD_PARAMETER);
	expect_res(call_set_stateblob(0, 0, blob, len), TPM_BAD_PARAMETER);
	expect_res(call_set_stateblob(0, 4, blob, len), TPM_BAD_PARAMETER);
	/* TPM 2.0: only an empty savestate blob */
	expect_res(call_set_stateblob(0, PTM_BLOB_TYPE_SAVESTATE, NULL, 0), TPM_SUCCESS);
	expect_res(call_set_stateblob(0, PTM_BLOB_TYPE_SAVESTATE, garbage, 4), TPM_BAD_PARAMETER);

	/* the genuine blob is accepted, stored, and the TPM powers on from it */
	expect_res(call_set_stateblob(0, PTM_BLOB_TYPE_PERMANENT, blob, len), TPM_SUCCESS);
	assert_int_equal(nv_load(tpm.nv, "permall", &loaded, &llen), 0);
	assert_int_equal(llen, len);
	assert_memory_equal(loaded, blob, len);
	ctrl_init();
	free(loaded);
	free(disk);
	free(blob);
}

/* A SET_STATEBLOB whose length exceeds its bytes, handed in without ctrl_frame. */
static void test_set_stateblob_short_body(void **state)
{
	uint8_t req[CTRL_SETSTATE_HDR + 2] = { 0 };
	int fd = -1;

	(void)state;
	ctrl_stop();
	be32_store(req, CTRL_SET_STATEBLOB);
	be32_store(req + 8, PTM_BLOB_TYPE_PERMANENT);
	be32_store(req + 12, 3);
	dbuf_consume(&out, out.len);
	assert_int_equal(ctrl_handle(&env, req, sizeof(req), &fd, &out), 0);
	expect_res(out.len, TPM_BAD_PARAMETER);
}

static void test_stop(void **state)
{
	(void)state;
	ctrl_stop();
	ctrl_stop();	/* stopping a stopped TPM is no error */
}

static void test_get_config(void **state)
{
	(void)state;
	assert_int_equal(call_code(CTRL_GET_CONFIG), 8);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_int_equal(word(1), 0);	/* neither file key nor migration key */
}

static size_t call_set_datafd(int *fd)
{
	uint8_t req[4];

	be32_store(req, CTRL_SET_DATAFD);
	return call_fd(req, sizeof(req), fd);
}

static void test_set_datafd(void **state)
{
	int p[2], fd = -1;

	(void)state;
	/* no descriptor passed */
	expect_res(call_set_datafd(&fd), TPM_BAD_PARAMETER);
	assert_int_equal(fd, -1);

	/* a pipe or a listening socket is refused: it would block QEMU's later handover */
	assert_int_equal(pipe(p), 0);
	fd = p[0];
	expect_res(call_set_datafd(&fd), TPM_BAD_PARAMETER);
	assert_int_equal(fd, p[0]);
	close(p[0]);
	close(p[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };	/* autobind: an abstract name */
		assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(sa_family_t)), 0);
	}
	assert_int_equal(listen(fd, 1), 0);
	expect_res(call_set_datafd(&fd), TPM_BAD_PARAMETER);
	close(fd);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
	/* a descriptor but nobody to take it: the caller keeps it */
	fd = p[0];
	expect_res(call_set_datafd(&fd), TPM_IOERROR);
	assert_int_equal(fd, p[0]);

	env.set_datafd = take_datafd;
	datafd_got = -1;
	expect_res(call_set_datafd(&fd), TPM_SUCCESS);
	assert_int_equal(fd, -1);
	assert_int_equal(datafd_got, p[0]);

	/* the taker refuses a second one: the caller keeps it */
	fd = p[1];
	expect_res(call_set_datafd(&fd), TPM_IOERROR);
	assert_int_equal(fd, p[1]);
	close(p[0]);
	close(p[1]);
	datafd_got = -1;
}

static void test_set_buffersize(void **state)
{
	uint32_t v = 0;

	(void)state;
	assert_int_equal(call_u32s(CTRL_SET_BUFFERSIZE, 1, &v), 16);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_int_equal(word(1), 4096);
	assert_int_equal(word(2), 2808);
	assert_int_equal(word(3), 4096);

	v = 3000;
	expect_res(call_u32s(CTRL_SET_BUFFERSIZE, 1, &v), TPM_BAD_ORDINAL);

	/* while stopped it takes effect, clamped to [min, max] */
	ctrl_stop();
	assert_int_equal(call_u32s(CTRL_SET_BUFFERSIZE, 1, &v), 16);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_int_equal(word(1), 3000);
	v = 0;
	assert_int_equal(call_u32s(CTRL_SET_BUFFERSIZE, 1, &v), 16);
	assert_int_equal(word(1), 3000);
	v = 100000;
	assert_int_equal(call_u32s(CTRL_SET_BUFFERSIZE, 1, &v), 16);
	assert_int_equal(word(1), 4096);
}

static size_t call_get_info(uint64_t flags, uint32_t offset)
{
	uint32_t body[4] = { (uint32_t)(flags >> 32), (uint32_t)flags, offset, 0 };

	return call_u32s(CTRL_GET_INFO, 4, body);
}

static void test_get_info(void **state)
{
	size_t n;
	uint32_t tot, len;
	char *json;

	(void)state;
	n = call_get_info(1, 0);	/* TPMLIB_INFO_TPMSPECIFICATION */
	assert_int_equal(word(0), TPM_SUCCESS);
	tot = word(1);
	len = word(2);
	assert_int_equal(n, 12 + len);
	assert_int_equal(len, tot);		/* fits in one chunk */
	assert_true(len <= CTRL_INFO_CHUNK);
	json = (char *)out.p + 12;
	assert_int_equal(json[len - 1], '\0');	/* the NUL travels with it */
	assert_int_equal(strlen(json), len - 1);
	assert_non_null(strstr(json, "\"TPMSpecification\""));
	assert_int_equal(json[0], '{');

	/* the second half, from an offset */
	n = call_get_info(1, tot / 2);
	assert_int_equal(word(0), TPM_SUCCESS);
	assert_int_equal(word(1), tot);
	assert_int_equal(word(2), tot - tot / 2);
	assert_int_equal(n, 12 + tot - tot / 2);
	assert_int_equal(out.p[n - 1], '\0');

	/* at the NUL or beyond: bad parameter */
	expect_res(call_get_info(1, tot - 1), TPM_BAD_PARAMETER);
	expect_res(call_get_info(1, tot), TPM_BAD_PARAMETER);
	expect_res(call_get_info(1, UINT32_MAX), TPM_BAD_PARAMETER);
}

static void test_lock_storage(void **state)
{
	uint32_t retries = 10;

	(void)state;
	expect_res(call_u32s(CTRL_LOCK_STORAGE, 1, &retries), TPM_SUCCESS);
}

static void test_unknown_code(void **state)
{
	static const uint32_t codes[] = { 0, 0x14, 0x15, 0x100, 0x80000001u, UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		expect_res(call_code(codes[i]), TPM_BAD_ORDINAL);
	assert_true(engine_running());
}

/* Lines in the log file fd holds from offset 0. */
static size_t log_lines(int fd)
{
	char buf[4096];
	size_t lines = 0;
	ssize_t r;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < r; i++)
			lines += buf[i] == '\n';
	return lines;
}

/* Runs a 1 MiB stream of the 4-byte request code on one connection (env). */
static void stream_code(struct ctrl_env *e, uint32_t code)
{
	static uint8_t stream[1 << 20];
	size_t off = 0, len;
	int fd = -1;

	for (size_t i = 0; i < sizeof(stream); i += 4)
		be32_store(stream + i, code);
	while (off < sizeof(stream)) {
		assert_int_equal(ctrl_frame(stream + off, sizeof(stream) - off, &len), FRAME_COMPLETE);
		dbuf_consume(&out, out.len);
		assert_int_equal(ctrl_handle(e, stream + off, len, &fd, &out), 0);
		off += len;
	}
}

/*
 * A client's unknown codes (or descriptor-less SET_DATAFDs) are logged
 * once per connection: 1 MiB of them made 18 MiB of log.
 */
static void test_unknown_code_logged_once(void **state)
{
	int logfd = memfd_create("ctrl-log", MFD_CLOEXEC);
	struct ctrl_env second = { 0 };

	(void)state;
	assert_true(logfd >= 0);
	log_init("test", NULL, logfd, LOG_DEBUG);
	stream_code(&env, 0x14);
	assert_int_equal(log_lines(logfd), 1);
	stream_code(&env, UINT32_MAX);
	stream_code(&env, CTRL_SET_DATAFD);
	assert_int_equal(log_lines(logfd), 2);
	stream_code(&second, 0x15);	/* another connection: its first is logged */
	assert_int_equal(log_lines(logfd), 3);
	log_init("vtpm", NULL, -1, LOG_INFO);	/* as before: stderr */
	close(logfd);
}

static void test_handle_short_request(void **state)
{
	uint8_t req[3] = { 0 };
	int fd = -1;

	(void)state;
	for (size_t n = 0; n < sizeof(req); n++) {
		dbuf_consume(&out, out.len);
		assert_int_equal(ctrl_handle(&env, req, n, &fd, &out), 0);
		expect_res(out.len, TPM_BAD_PARAMETER);
	}
}

/* A reply that cannot be queued is a transport failure, not a TPM result. */
static void test_handle_reply_overflow(void **state)
{
	struct dbuf small;
	uint8_t req[4];
	int fd = -1;

	(void)state;
	dbuf_init(&small, 3);
	be32_store(req, CTRL_GET_CONFIG);
	assert_int_equal(ctrl_handle(&env, req, sizeof(req), &fd, &small), -1);
	be32_store(req, CTRL_LOCK_STORAGE);
	assert_int_equal(ctrl_handle(&env, req, sizeof(req), &fd, &small), -1);
	dbuf_free(&small);
}

/* ---- ctrl_frame: sizes implied by the code, capped lengths, truncation ---- */

static void test_frame_fixed_sizes(void **state)
{
	static const struct { uint32_t code; size_t len; } cases[] = {
		{ CTRL_GET_CAPABILITY, 4 }, { CTRL_INIT, 8 }, { CTRL_SHUTDOWN, 4 },
		{ CTRL_GET_TPMESTABLISHED, 4 }, { CTRL_HASH_START, 4 }, { CTRL_HASH_END, 4 },
		{ CTRL_CANCEL_TPM_CMD, 4 }, { CTRL_STORE_VOLATILE, 4 }, { CTRL_GET_STATEBLOB, 16 },
		{ CTRL_STOP, 4 }, { CTRL_GET_CONFIG, 4 }, { CTRL_SET_DATAFD, 4 },
		{ CTRL_SET_BUFFERSIZE, 8 }, { CTRL_GET_INFO, 20 }, { CTRL_LOCK_STORAGE, 8 },
		{ 0x14, 4 }, { UINT32_MAX, 4 },
	};
	uint8_t req[64] = { 0 };
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		be32_store(req, cases[i].code);
		for (size_t n = 0; n < cases[i].len; n++)
			assert_int_equal(ctrl_frame(req, n, &len), FRAME_NEED_MORE);
		/* exactly, and with the next request already behind it */
		len = 0;
		assert_int_equal(ctrl_frame(req, cases[i].len, &len), FRAME_COMPLETE);
		assert_int_equal(len, cases[i].len);
		len = 0;
		assert_int_equal(ctrl_frame(req, sizeof(req), &len), FRAME_COMPLETE);
		assert_int_equal(len, cases[i].len);
	}
}

/*
 * SET_LOCALITY and RESET_TPMESTABLISHED come as 5 bytes or as QEMU's 8: with
 * exactly 5 bytes buffered the short form is taken, 6 and 7 wait for 8.
 */
static void test_frame_locality_forms(void **state)
{
	static const uint32_t codes[] = { CTRL_SET_LOCALITY, CTRL_RESET_TPMESTABLISHED };
	uint8_t req[16] = { 0 };
	size_t len;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		be32_store(req, codes[i]);
		for (size_t n = 0; n < 5; n++)
			assert_int_equal(ctrl_frame(req, n, &len), FRAME_NEED_MORE);
		assert_int_equal(ctrl_frame(req, 5, &len), FRAME_COMPLETE);
		assert_int_equal(len, 5);
		assert_int_equal(ctrl_frame(req, 6, &len), FRAME_NEED_MORE);
		assert_int_equal(ctrl_frame(req, 7, &len), FRAME_NEED_MORE);
		assert_int_equal(ctrl_frame(req, 8, &len), FRAME_COMPLETE);
		assert_int_equal(len, 8);
		assert_int_equal(ctrl_frame(req, sizeof(req), &len), FRAME_COMPLETE);
		assert_int_equal(len, 8);
	}
}

static void test_frame_hash_data_limits(void **state)
{
	static uint8_t req[8 + CTRL_HASH_DATA_MAX + 1];
	size_t len;

	(void)state;
	be32_store(req, CTRL_HASH_DATA);
	be32_store(req + 4, 0);
	assert_int_equal(ctrl_frame(req, 8, &len), FRAME_COMPLETE);
	assert_int_equal(len, 8);
	be32_store(req + 4, CTRL_HASH_DATA_MAX);
	for (size_t n = 0; n < 8 + CTRL_HASH_DATA_MAX; n++)
		assert_int_equal(ctrl_frame(req, n, &len), FRAME_NEED_MORE);
	assert_int_equal(ctrl_frame(req, 8 + CTRL_HASH_DATA_MAX, &len), FRAME_COMPLETE);
	assert_int_equal(len, 8 + CTRL_HASH_DATA_MAX);
	/* one above the cap: rejected from the length field alone */
	be32_store(req + 4, CTRL_HASH_DATA_MAX + 1);
	assert_int_equal(ctrl_frame(req, 8, &len), FRAME_INVALID);
	assert_int_equal(ctrl_frame(req, sizeof(req), &len), FRAME_INVALID);
	be32_store(req + 4, UINT32_MAX);
	assert_int_equal(ctrl_frame(req, 8, &len), FRAME_INVALID);
}

static void test_frame_set_stateblob_limits(void **state)
{
	uint8_t hdr[CTRL_SETSTATE_HDR] = { 0 };
	size_t len;

	(void)state;
	be32_store(hdr, CTRL_SET_STATEBLOB);
	for (size_t n = 0; n < CTRL_SETSTATE_HDR; n++)
		assert_int_equal(ctrl_frame(hdr, n, &len), FRAME_NEED_MORE);
	assert_int_equal(ctrl_frame(hdr, CTRL_SETSTATE_HDR, &len), FRAME_COMPLETE);
	assert_int_equal(len, CTRL_SETSTATE_HDR);
	/* the largest blob frames (its bytes still to come) */
	be32_store(hdr + 12, NV_BLOB_MAX);
	assert_int_equal(ctrl_frame(hdr, CTRL_SETSTATE_HDR, &len), FRAME_NEED_MORE);
	be32_store(hdr + 12, NV_BLOB_MAX + 1);
	assert_int_equal(ctrl_frame(hdr, CTRL_SETSTATE_HDR, &len), FRAME_INVALID);
	be32_store(hdr + 12, UINT32_MAX);
	assert_int_equal(ctrl_frame(hdr, CTRL_SETSTATE_HDR, &len), FRAME_INVALID);
}

static void test_frame_set_stateblob_max_complete(void **state)
{
	uint8_t *req = calloc(1, CTRL_REQ_MAX);
	size_t len;

	(void)state;
	assert_non_null(req);
	be32_store(req, CTRL_SET_STATEBLOB);
	be32_store(req + 12, NV_BLOB_MAX);
	assert_int_equal(ctrl_frame(req, CTRL_REQ_MAX - 1, &len), FRAME_NEED_MORE);
	assert_int_equal(ctrl_frame(req, CTRL_REQ_MAX, &len), FRAME_COMPLETE);
	assert_int_equal(len, CTRL_REQ_MAX);
	free(req);
}

/* Variable-length requests cut anywhere wait for more, never complete early. */
static void test_frame_truncated_every_offset(void **state)
{
	uint8_t req[REQ_MAX];
	size_t len, total;

	(void)state;
	memset(req, 0x77, sizeof(req));
	be32_store(req, CTRL_HASH_DATA);
	be32_store(req + 4, 100);
	total = 108;
	for (size_t n = 0; n < total; n++)
		assert_int_equal(ctrl_frame(req, n, &len), FRAME_NEED_MORE);
	assert_int_equal(ctrl_frame(req, total, &len), FRAME_COMPLETE);

	be32_store(req, CTRL_SET_STATEBLOB);
	be32_store(req + 4, 0);
	be32_store(req + 8, PTM_BLOB_TYPE_PERMANENT);
	be32_store(req + 12, 300);
	total = CTRL_SETSTATE_HDR + 300;
	for (size_t n = 0; n < total; n++)
		assert_int_equal(ctrl_frame(req, n, &len), FRAME_NEED_MORE);
	assert_int_equal(ctrl_frame(req, total, &len), FRAME_COMPLETE);
	assert_int_equal(len, total);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, powered)
	const struct CMUnitTest tests[] = {
		T(test_get_capability),
		T(test_init),
		T(test_init_delete_volatile),
		T(test_init_corrupt_permanent),
		T(test_init_corrupt_volatile),
		T(test_shutdown),
		T(test_get_tpmestablished),
		T(test_set_locality),
		T(test_set_locality_reject_4),
		T(test_hash_start_data_end),
		T(test_hash_when_stopped),
		T(test_hash_data_short_body),
		T(test_cancel),
		T(test_store_volatile),
		T(test_reset_tpmestablished),
		T(test_get_stateblob_permanent),
		T(test_get_stateblob_volatile_and_savestate),
		T(test_get_stateblob_bad_type_and_stopped),
		T(test_set_stateblob),
		T(test_set_stateblob_short_body),
		T(test_stop),
		T(test_get_config),
		T(test_set_datafd),
		T(test_set_buffersize),
		T(test_get_info),
		T(test_lock_storage),
		T(test_unknown_code),
		T(test_unknown_code_logged_once),
		T(test_handle_short_request),
		T(test_handle_reply_overflow),
		cmocka_unit_test(test_frame_fixed_sizes),
		cmocka_unit_test(test_frame_locality_forms),
		cmocka_unit_test(test_frame_hash_data_limits),
		cmocka_unit_test(test_frame_set_stateblob_limits),
		cmocka_unit_test(test_frame_set_stateblob_max_complete),
		cmocka_unit_test(test_frame_truncated_every_offset),
	};
#undef T

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
