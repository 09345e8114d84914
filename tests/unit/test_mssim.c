/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mssim: the simulator protocol on both ports against the real libtpms
 * engine over a temporary state directory: request framing (untrusted
 * lengths, truncation), power signals, TPM_SEND_COMMAND's reply framing,
 * the handshake, session end, and requests on the wrong port.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dbuf.h"
#include "engine.h"
#include "helpers.h"
#include "mssim.h"
#include "tpm.h"

#define TPM2_RC_INITIALIZE	0x100
#define PLATFORM		true
#define COMMAND			false

static struct th_tpm tpm;
static struct dbuf out;

/* Frames req (exactly one whole request) and runs it on the given port. */
static enum mssim_action run(const uint8_t *req, size_t n, bool platform)
{
	size_t len = 0;

	assert_int_equal(mssim_frame(req, n, &len), FRAME_COMPLETE);
	assert_int_equal(len, n);
	dbuf_consume(&out, out.len);
	return mssim_handle(req, len, platform, &out);
}

static enum mssim_action run_code(uint32_t code, bool platform)
{
	uint8_t req[4];

	be32_store(req, code);
	return run(req, sizeof(req), platform);
}

/* u32 8 | locality | u32 size | cmd */
static enum mssim_action send_command(uint8_t loc, const uint8_t *cmd, uint32_t size)
{
	uint8_t req[9 + 64];

	assert_true(size <= 64);
	be32_store(req, MSSIM_SEND_COMMAND);
	req[4] = loc;
	be32_store(req + 5, size);
	memcpy(req + 9, cmd, size);
	return run(req, 9 + size, COMMAND);
}

static uint32_t word(size_t off)
{
	assert_true(out.len >= off + 4);
	return be32_load(out.p + off);
}

/* Asserts the reply is the acknowledgement (or result) word alone. */
static void expect_word(uint32_t v)
{
	assert_int_equal(out.len, 4);
	assert_int_equal(word(0), v);
}

/* Asserts out is u32 size | a TPM response of that size | u32 0; returns its rc. */
static uint32_t tpm_reply(uint32_t *rsp_len)
{
	uint32_t n = word(0);

	assert_true(n >= TPM_HDR_SIZE);
	assert_int_equal(out.len, 4 + (size_t)n + 4);
	assert_int_equal(be32_load(out.p + 4 + 2), n);	/* the header agrees */
	assert_int_equal(word(4 + n), 0);
	if (rsp_len)
		*rsp_len = n;
	return be32_load(out.p + 4 + 6);
}

static uint32_t getrandom(uint8_t loc, uint16_t bytes, uint32_t *rsp_len)
{
	uint8_t cmd[TH_GETRANDOM_SIZE];

	assert_int_equal(send_command(loc, cmd, (uint32_t)th_tpm2_getrandom(cmd, bytes)),
			 MSSIM_CONTINUE);
	return tpm_reply(rsp_len);
}

static void power_on_and_startup(void)
{
	uint8_t cmd[12];

	assert_int_equal(run_code(MSSIM_POWER_ON, PLATFORM), MSSIM_CONTINUE);
	expect_word(0);
	assert_true(engine_running());
	assert_int_equal(send_command(0, cmd, (uint32_t)tpm2_build_su(cmd, TPM20_CC_STARTUP, TPM20_SU_CLEAR)),
			 MSSIM_CONTINUE);
	(void)tpm_reply(NULL);	/* success, or already started */
}

static int group_setup(void **state)
{
	(void)state;
	th_tpm_open(&tpm);
	dbuf_init(&out, 2 * TPM_PACKET_MAX);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	th_tpm_close(&tpm);
	dbuf_free(&out);
	return 0;
}

/* ---- mssim_frame ---- */

static void test_frame_fixed(void **state)
{
	static const struct { uint32_t code; size_t len; } cases[] = {
		{ MSSIM_POWER_ON, 4 }, { MSSIM_POWER_OFF, 4 }, { MSSIM_HASH_START, 4 },
		{ MSSIM_HASH_END, 4 }, { MSSIM_NV_ON, 4 }, { MSSIM_SESSION_END, 4 },
		{ MSSIM_STOP, 4 }, { MSSIM_REMOTE_HANDSHAKE, 8 },
		{ MSSIM_SET_ALTERNATIVE_RESULT, 8 }, { 0, 4 }, { 99, 4 }, { UINT32_MAX, 4 },
	};
	uint8_t req[32] = { 0 };
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		be32_store(req, cases[i].code);
		for (size_t n = 0; n < cases[i].len; n++)
			assert_int_equal(mssim_frame(req, n, &len), FRAME_NEED_MORE);
		len = 0;
		assert_int_equal(mssim_frame(req, sizeof(req), &len), FRAME_COMPLETE);
		assert_int_equal(len, cases[i].len);
	}
}

static void test_frame_send_command(void **state)
{
	static uint8_t req[9 + TPM_PACKET_MAX + 1];
	size_t len;

	(void)state;
	be32_store(req, MSSIM_SEND_COMMAND);
	req[4] = 0;
	for (size_t n = 0; n < 9; n++)
		assert_int_equal(mssim_frame(req, n, &len), FRAME_NEED_MORE);
	be32_store(req + 5, 0);	/* frames; the handler answers it */
	assert_int_equal(mssim_frame(req, 9, &len), FRAME_COMPLETE);
	assert_int_equal(len, 9);
	be32_store(req + 5, TPM_PACKET_MAX);
	for (size_t n = 9; n < 9 + TPM_PACKET_MAX; n++)
		assert_int_equal(mssim_frame(req, n, &len), FRAME_NEED_MORE);
	assert_int_equal(mssim_frame(req, 9 + TPM_PACKET_MAX, &len), FRAME_COMPLETE);
	assert_int_equal(len, 9 + TPM_PACKET_MAX);
	be32_store(req + 5, TPM_PACKET_MAX + 1);
	assert_int_equal(mssim_frame(req, 9, &len), FRAME_INVALID);
	assert_int_equal(mssim_frame(req, sizeof(req), &len), FRAME_INVALID);
	be32_store(req + 5, UINT32_MAX);
	assert_int_equal(mssim_frame(req, 9, &len), FRAME_INVALID);
}

static void test_frame_hash_data(void **state)
{
	static uint8_t req[8 + TPM_PACKET_MAX + 1];
	size_t len;

	(void)state;
	be32_store(req, MSSIM_HASH_DATA);
	for (size_t n = 0; n < 8; n++)
		assert_int_equal(mssim_frame(req, n, &len), FRAME_NEED_MORE);
	be32_store(req + 4, 0);
	assert_int_equal(mssim_frame(req, 8, &len), FRAME_COMPLETE);
	assert_int_equal(len, 8);
	be32_store(req + 4, TPM_PACKET_MAX);
	for (size_t n = 8; n < 8 + TPM_PACKET_MAX; n++)
		assert_int_equal(mssim_frame(req, n, &len), FRAME_NEED_MORE);
	assert_int_equal(mssim_frame(req, 8 + TPM_PACKET_MAX, &len), FRAME_COMPLETE);
	assert_int_equal(len, 8 + TPM_PACKET_MAX);
	be32_store(req + 4, TPM_PACKET_MAX + 1);
	assert_int_equal(mssim_frame(req, 8, &len), FRAME_INVALID);
}

/* ---- mssim_handle ---- */

static void test_power_on_off(void **state)
{
	uint32_t n;

	(void)state;
	assert_int_equal(run_code(MSSIM_POWER_OFF, PLATFORM), MSSIM_CONTINUE);
	expect_word(0);
	assert_false(engine_running());
	/* powered off: the fatal answer, still framed */
	assert_int_equal(getrandom(0, 8, &n), TPM20_RC_FAILURE);
	assert_int_equal(n, TPM_HDR_SIZE);

	power_on_and_startup();
	assert_int_equal(getrandom(0, 8, NULL), TPM20_RC_SUCCESS);
	/* a second POWER_ON is a no-op: no power cycle, Startup still in force */
	assert_int_equal(run_code(MSSIM_POWER_ON, PLATFORM), MSSIM_CONTINUE);
	expect_word(0);
	assert_true(engine_running());
	assert_int_equal(getrandom(0, 8, NULL), TPM20_RC_SUCCESS);

	assert_int_equal(run_code(MSSIM_POWER_OFF, PLATFORM), MSSIM_CONTINUE);
	expect_word(0);
	assert_false(engine_running());
	assert_int_equal(run_code(MSSIM_POWER_OFF, PLATFORM), MSSIM_CONTINUE);
	expect_word(0);
}

static void test_send_command_getrandom(void **state)
{
	uint32_t n;
	struct buf b;
	uint16_t got;

	(void)state;
	power_on_and_startup();
	assert_int_equal(getrandom(0, 16, &n), TPM20_RC_SUCCESS);
	assert_int_equal(n, TPM_HDR_SIZE + 2 + 16);
	assert_int_equal(out.len, 4 + n + 4);
	buf_init_read(&b, out.p + 4, n);
	assert_int_equal(buf_get_u16(&b), TPM20_ST_NO_SESSIONS);
	(void)buf_get_u32(&b);
	assert_int_equal(buf_get_u32(&b), TPM20_RC_SUCCESS);
	assert_non_null(buf_get_tpm2b(&b, &got, 16));
	assert_int_equal(got, 16);
	assert_true(buf_done(&b));
}

/* The command runs at the prefix's locality, which is not kept afterwards. */
static void test_send_command_locality(void **state)
{
	(void)state;
	power_on_and_startup();
	engine_set_locality(1);
	for (uint8_t loc = 0; loc <= 4; loc++) {
		assert_int_equal(getrandom(loc, 4, NULL), TPM20_RC_SUCCESS);
		assert_int_equal(engine_locality(), 1);
	}
	assert_int_equal(getrandom(5, 4, NULL), TPM20_RC_LOCALITY);
	assert_int_equal(getrandom(0xff, 4, NULL), TPM20_RC_LOCALITY);
	assert_int_equal(engine_locality(), 1);
	engine_set_locality(0);
}

/* --locality reject-locality-4 refuses SEND_COMMAND at locality 4 too. */
static void test_send_command_reject_4(void **state)
{
	(void)state;
	power_on_and_startup();
	engine_set_locality_policy(true, false);
	assert_int_equal(getrandom(4, 4, NULL), TPM20_RC_LOCALITY);
	assert_int_equal(getrandom(3, 4, NULL), TPM20_RC_SUCCESS);
	engine_set_locality_policy(false, false);
	assert_int_equal(getrandom(4, 4, NULL), TPM20_RC_SUCCESS);
}

/* The prefix's size and the header's size must agree, or the command is not run. */
static void test_send_command_size_mismatch(void **state)
{
	uint8_t cmd[TH_GETRANDOM_SIZE + 2];
	uint32_t n;

	(void)state;
	power_on_and_startup();
	th_tpm2_getrandom(cmd, 4);
	cmd[12] = cmd[13] = 0;
	assert_int_equal(send_command(0, cmd, TH_GETRANDOM_SIZE + 2), MSSIM_CONTINUE);
	assert_int_equal(tpm_reply(&n), TPM20_RC_COMMAND_SIZE);
	assert_int_equal(n, TPM_HDR_SIZE);
	/* shorter than a header */
	assert_int_equal(send_command(0, cmd, 0), MSSIM_CONTINUE);
	assert_int_equal(tpm_reply(NULL), TPM20_RC_COMMAND_SIZE);
	assert_int_equal(send_command(0, cmd, TPM_HDR_SIZE - 1), MSSIM_CONTINUE);
	assert_int_equal(tpm_reply(NULL), TPM20_RC_COMMAND_SIZE);
	/* answered by the framing itself, not the TPM: even powered off */
	assert_int_equal(run_code(MSSIM_POWER_OFF, PLATFORM), MSSIM_CONTINUE);
	assert_int_equal(send_command(0, cmd, TH_GETRANDOM_SIZE + 2), MSSIM_CONTINUE);
	assert_int_equal(tpm_reply(NULL), TPM20_RC_COMMAND_SIZE);
}

static void test_reset_power_cycles(void **state)
{
	(void)state;
	power_on_and_startup();
	assert_int_equal(getrandom(0, 4, NULL), TPM20_RC_SUCCESS);
	assert_int_equal(run_code(MSSIM_RESET, PLATFORM), MSSIM_CONTINUE);
	expect_word(0);
	assert_true(engine_running());
	assert_int_equal(getrandom(0, 4, NULL), TPM2_RC_INITIALIZE);
	assert_int_equal(run_code(MSSIM_RESTART, PLATFORM), MSSIM_CONTINUE);
	expect_word(0);
	assert_int_equal(getrandom(0, 4, NULL), TPM2_RC_INITIALIZE);
}

static void test_remote_handshake(void **state)
{
	uint8_t req[8];

	(void)state;
	be32_store(req, MSSIM_REMOTE_HANDSHAKE);
	be32_store(req + 4, 1);
	assert_int_equal(run(req, sizeof(req), COMMAND), MSSIM_CONTINUE);
	assert_int_equal(out.len, 12);
	assert_int_equal(word(0), 1);		/* server version */
	assert_int_equal(word(4), 0xd);		/* platform | raw | physical presence */
	assert_int_equal(word(8), 0);
	/* client version 0 is refused */
	be32_store(req + 4, 0);
	assert_int_equal(run(req, sizeof(req), COMMAND), MSSIM_CLOSE);
	assert_int_equal(out.len, 0);
}

static void test_session_end_and_stop(void **state)
{
	(void)state;
	assert_int_equal(run_code(MSSIM_SESSION_END, COMMAND), MSSIM_CLOSE);
	assert_int_equal(out.len, 0);
	assert_int_equal(run_code(MSSIM_SESSION_END, PLATFORM), MSSIM_CLOSE);
	assert_int_equal(run_code(MSSIM_STOP, COMMAND), MSSIM_EXIT);
	assert_int_equal(out.len, 0);
}

static void test_wrong_port(void **state)
{
	static const uint32_t cmd_only[] = { MSSIM_SEND_COMMAND, MSSIM_HASH_START, MSSIM_HASH_END,
					     MSSIM_REMOTE_HANDSHAKE };
	static const uint32_t plat_only[] = { MSSIM_POWER_ON, MSSIM_POWER_OFF, MSSIM_RESET,
					      MSSIM_NV_ON, MSSIM_CANCEL_ON };
	uint8_t req[9 + TH_GETRANDOM_SIZE];

	(void)state;
	power_on_and_startup();
	for (size_t i = 0; i < sizeof(cmd_only) / sizeof(cmd_only[0]); i++) {
		size_t n = 4;

		be32_store(req, cmd_only[i]);
		if (cmd_only[i] == MSSIM_SEND_COMMAND) {
			req[4] = 0;
			be32_store(req + 5, TH_GETRANDOM_SIZE);
			n = 9 + th_tpm2_getrandom(req + 9, 4);
		} else if (cmd_only[i] == MSSIM_REMOTE_HANDSHAKE) {
			be32_store(req + 4, 1);
			n = 8;
		}
		assert_int_equal(run(req, n, PLATFORM), MSSIM_CLOSE);
		expect_word(1);
	}
	for (size_t i = 0; i < sizeof(plat_only) / sizeof(plat_only[0]); i++) {
		assert_int_equal(run_code(plat_only[i], COMMAND), MSSIM_CLOSE);
		expect_word(1);
	}
	/* nothing of the above reached the engine: still on, still started */
	assert_true(engine_running());
	assert_int_equal(getrandom(0, 4, NULL), TPM20_RC_SUCCESS);
}

static void test_unknown_code(void **state)
{
	(void)state;
	assert_int_equal(run_code(99, PLATFORM), MSSIM_CLOSE);
	expect_word(1);
	assert_int_equal(run_code(99, COMMAND), MSSIM_CLOSE);
	expect_word(1);
	assert_int_equal(run_code(0, PLATFORM), MSSIM_CLOSE);
	expect_word(1);
}

static void test_acknowledged_signals(void **state)
{
	static const uint32_t plat[] = { MSSIM_PHYS_PRES_ON, MSSIM_PHYS_PRES_OFF, MSSIM_CANCEL_ON,
					 MSSIM_CANCEL_OFF, MSSIM_NV_ON, MSSIM_NV_OFF,
					 MSSIM_KEY_CACHE_ON, MSSIM_KEY_CACHE_OFF };
	uint8_t req[8];

	(void)state;
	power_on_and_startup();
	for (size_t i = 0; i < sizeof(plat) / sizeof(plat[0]); i++) {
		assert_int_equal(run_code(plat[i], PLATFORM), MSSIM_CONTINUE);
		expect_word(0);
	}
	be32_store(req, MSSIM_SET_ALTERNATIVE_RESULT);
	be32_store(req + 4, 7);
	assert_int_equal(run(req, sizeof(req), COMMAND), MSSIM_CONTINUE);
	expect_word(0);
	assert_true(engine_running());
}

static void test_hash_signals(void **state)
{
	uint8_t req[8 + 3];

	(void)state;
	for (int on = 0; on < 2; on++) {
		assert_int_equal(run_code(on ? MSSIM_POWER_ON : MSSIM_POWER_OFF, PLATFORM), MSSIM_CONTINUE);
		assert_int_equal(run_code(MSSIM_HASH_START, COMMAND), MSSIM_CONTINUE);
		expect_word(0);
		be32_store(req, MSSIM_HASH_DATA);
		be32_store(req + 4, 3);
		memcpy(req + 8, "abc", 3);
		assert_int_equal(run(req, sizeof(req), COMMAND), MSSIM_CONTINUE);
		expect_word(0);
		assert_int_equal(run_code(MSSIM_HASH_END, COMMAND), MSSIM_CONTINUE);
		expect_word(0);
	}
}

static void test_short_request(void **state)
{
	uint8_t req[3] = { 0, 0, 0 };

	(void)state;
	for (size_t n = 0; n < sizeof(req); n++) {
		dbuf_consume(&out, out.len);
		assert_int_equal(mssim_handle(req, n, PLATFORM, &out), MSSIM_CLOSE);
		assert_int_equal(out.len, 0);
	}
}

/* A SEND_COMMAND whose size exceeds its bytes, handed in without mssim_frame. */
static void test_send_command_short_body(void **state)
{
	uint8_t req[9 + 4] = { 0 };

	(void)state;
	be32_store(req, MSSIM_SEND_COMMAND);
	be32_store(req + 5, TH_GETRANDOM_SIZE);
	dbuf_consume(&out, out.len);
	assert_int_equal(mssim_handle(req, sizeof(req), COMMAND, &out), MSSIM_CLOSE);
	assert_int_equal(out.len, 0);
}

/* A reply that does not fit the output queue closes the connection. */
static void test_reply_overflow(void **state)
{
	struct dbuf small;
	uint8_t req[9 + TH_GETRANDOM_SIZE];

	(void)state;
	power_on_and_startup();
	dbuf_init(&small, 16);
	be32_store(req, MSSIM_SEND_COMMAND);
	req[4] = 0;
	be32_store(req + 5, TH_GETRANDOM_SIZE);
	th_tpm2_getrandom(req + 9, 32);
	assert_int_equal(mssim_handle(req, sizeof(req), COMMAND, &small), MSSIM_CLOSE);
	dbuf_free(&small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_fixed),
		cmocka_unit_test(test_frame_send_command),
		cmocka_unit_test(test_frame_hash_data),
		cmocka_unit_test(test_power_on_off),
		cmocka_unit_test(test_send_command_getrandom),
		cmocka_unit_test(test_send_command_locality),
		cmocka_unit_test(test_send_command_reject_4),
		cmocka_unit_test(test_send_command_size_mismatch),
		cmocka_unit_test(test_reset_power_cycles),
		cmocka_unit_test(test_remote_handshake),
		cmocka_unit_test(test_session_end_and_stop),
		cmocka_unit_test(test_wrong_port),
		cmocka_unit_test(test_unknown_code),
		cmocka_unit_test(test_acknowledged_signals),
		cmocka_unit_test(test_hash_signals),
		cmocka_unit_test(test_short_request),
		cmocka_unit_test(test_send_command_short_body),
		cmocka_unit_test(test_reply_overflow),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
