/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_tpm: TPM packet header parsing (untrusted size field: short input,
 * size below the header, at the cap, one above it) and the packets the
 * project builds itself, byte for byte; the whole-packet check every
 * transport applies (length, cap, size field equal to the length).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "tpm.h"

/* A 10-byte header with the given size field, padded with 0xee to 16 bytes. */
static void hdr(uint8_t out[16], uint16_t tag, uint32_t size, uint32_t code)
{
	memset(out, 0xee, 16);
	be16_store(out, tag);
	be32_store(out + 2, size);
	be32_store(out + 6, code);
}

static void test_hdr_short(void **state)
{
	uint8_t p[16];
	struct tpm_hdr h;

	(void)state;
	hdr(p, TPM20_ST_NO_SESSIONS, 12, 0x17b);
	for (size_t n = 0; n < TPM_HDR_SIZE; n++)
		assert_int_equal(tpm_hdr_parse(p, n, TPM_PACKET_MAX, &h), 0);
	assert_int_equal(tpm_hdr_parse(p, TPM_HDR_SIZE, TPM_PACKET_MAX, &h), 1);
}

static void test_hdr_fields(void **state)
{
	uint8_t p[16];
	struct tpm_hdr h;

	(void)state;
	hdr(p, TPM_TAG_RQU_COMMAND, 0x20, 0xdeadbeef);
	assert_int_equal(tpm_hdr_parse(p, sizeof(p), TPM_PACKET_MAX, &h), 1);
	assert_int_equal(h.tag, TPM_TAG_RQU_COMMAND);
	assert_int_equal(h.size, 0x20);
	assert_int_equal(h.code, 0xdeadbeef);
}

static void test_hdr_size_bounds(void **state)
{
	static const struct { uint32_t size; int want; } cases[] = {
		{ 0, -1 }, { 1, -1 }, { TPM_HDR_SIZE - 1, -1 },
		{ TPM_HDR_SIZE, 1 }, { TPM_HDR_SIZE + 1, 1 },
		{ TPM_PACKET_MAX - 1, 1 }, { TPM_PACKET_MAX, 1 }, { TPM_PACKET_MAX + 1, -1 },
		{ 0x7fffffff, -1 }, { 0x80000000u, -1 }, { UINT32_MAX, -1 },
	};
	uint8_t p[16];
	struct tpm_hdr h;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hdr(p, TPM20_ST_SESSIONS, cases[i].size, 0);
		assert_int_equal(tpm_hdr_parse(p, sizeof(p), TPM_PACKET_MAX, &h), cases[i].want);
	}
}

/* The cap is the caller's: a smaller max moves the bound with it. */
static void test_hdr_caller_max(void **state)
{
	uint8_t p[16];
	struct tpm_hdr h;

	(void)state;
	hdr(p, TPM20_ST_SESSIONS, 100, 0);
	assert_int_equal(tpm_hdr_parse(p, sizeof(p), 100, &h), 1);
	assert_int_equal(tpm_hdr_parse(p, sizeof(p), 99, &h), -1);
	hdr(p, TPM20_ST_SESSIONS, TPM_HDR_SIZE, 0);
	assert_int_equal(tpm_hdr_parse(p, sizeof(p), TPM_HDR_SIZE - 1, &h), -1);
}

static void test_tag_is_tpm2(void **state)
{
	(void)state;
	assert_true(tpm_tag_is_tpm2(TPM20_ST_NO_SESSIONS));
	assert_true(tpm_tag_is_tpm2(TPM20_ST_SESSIONS));
	assert_false(tpm_tag_is_tpm2(0x8003));
	assert_false(tpm_tag_is_tpm2(TPM_TAG_RQU_COMMAND));
	assert_false(tpm_tag_is_tpm2(0));
}

static void test_error_response_tpm2(void **state)
{
	static const uint8_t want[] = { 0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x07 };
	uint8_t out[TPM_HDR_SIZE + 2];

	(void)state;
	memset(out, 0xcc, sizeof(out));
	assert_int_equal(tpm_error_response(out, 1, TPM20_RC_LOCALITY), TPM_HDR_SIZE);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(out[TPM_HDR_SIZE], 0xcc);
}

static void test_error_response_tpm12(void **state)
{
	static const uint8_t want[] = { 0x00, 0xc4, 0, 0, 0, 10, 0, 0, 0, 0x09 };
	uint8_t out[TPM_HDR_SIZE + 2];

	(void)state;
	memset(out, 0xcc, sizeof(out));
	assert_int_equal(tpm_error_response(out, 0, 9), TPM_HDR_SIZE);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(out[TPM_HDR_SIZE], 0xcc);
}

static void test_build_tpm2_startup_shutdown(void **state)
{
	static const uint8_t su[] = { 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0 };
	static const uint8_t sd[] = { 0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x45, 0, 1 };
	uint8_t out[14];

	(void)state;
	memset(out, 0xcc, sizeof(out));
	assert_int_equal(tpm2_build_su(out, TPM20_CC_STARTUP, TPM20_SU_CLEAR), 12);
	assert_memory_equal(out, su, sizeof(su));
	assert_int_equal(out[12], 0xcc);
	assert_int_equal(tpm2_build_su(out, TPM20_CC_SHUTDOWN, TPM20_SU_STATE), 12);
	assert_memory_equal(out, sd, sizeof(sd));
}

static void test_build_tpm12_startup(void **state)
{
	static const uint8_t want[] = { 0x00, 0xc1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 3 };
	uint8_t out[14];

	(void)state;
	memset(out, 0xcc, sizeof(out));
	assert_int_equal(tpm12_build_startup(out, TPM_ST_DEACTIVATED), 12);
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(out[12], 0xcc);
}

/* What the project builds, the project parses. */
static void test_built_packets_parse(void **state)
{
	uint8_t out[12];
	struct tpm_hdr h;

	(void)state;
	tpm2_build_su(out, TPM20_CC_STARTUP, TPM20_SU_CLEAR);
	assert_int_equal(tpm_hdr_parse(out, sizeof(out), TPM_PACKET_MAX, &h), 1);
	assert_int_equal(h.size, 12);
	assert_int_equal(h.code, TPM20_CC_STARTUP);
	tpm_error_response(out, 0, 0x26);
	assert_int_equal(tpm_hdr_parse(out, TPM_HDR_SIZE, TPM_PACKET_MAX, &h), 1);
	assert_int_equal(h.tag, TPM_TAG_RSP_COMMAND);
	assert_int_equal(h.size, TPM_HDR_SIZE);
	assert_int_equal(h.code, 0x26);
}

/* -1 must come with EINVAL: callers pass errno on to theirs. */
static int packet_check_errno(int r)
{
	if (r < 0)
		assert_int_equal(errno, EINVAL);
	return r;
}

/* A whole packet of n bytes whose header says size. */
static int packet_check(size_t n, uint32_t size, size_t max)
{
	static uint8_t p[TPM_PACKET_MAX + 2];

	memset(p, 0xee, sizeof(p));
	be16_store(p, TPM20_ST_NO_SESSIONS);
	be32_store(p + 2, size);
	be32_store(p + 6, 0x17b);
	errno = 0;
	return packet_check_errno(tpm_packet_check(p, n, max));
}

static void test_packet_check_bounds(void **state)
{
	(void)state;
	assert_int_equal(packet_check(TPM_HDR_SIZE - 1, TPM_HDR_SIZE - 1, TPM_PACKET_MAX), -1);
	assert_int_equal(packet_check(TPM_HDR_SIZE, TPM_HDR_SIZE, TPM_PACKET_MAX), 0);
	assert_int_equal(packet_check(TPM_HDR_SIZE + 1, TPM_HDR_SIZE + 1, TPM_PACKET_MAX), 0);
	assert_int_equal(packet_check(TPM_PACKET_MAX, TPM_PACKET_MAX, TPM_PACKET_MAX), 0);
	assert_int_equal(packet_check(TPM_PACKET_MAX + 1, TPM_PACKET_MAX + 1, TPM_PACKET_MAX), -1);
	/* the caller's max, not only TPM_PACKET_MAX */
	assert_int_equal(packet_check(100, 100, 100), 0);
	assert_int_equal(packet_check(101, 101, 100), -1);
	for (size_t n = 0; n < TPM_HDR_SIZE; n++)
		assert_int_equal(packet_check(n, (uint32_t)n, TPM_PACKET_MAX), -1);
}

static void test_packet_check_size_mismatch(void **state)
{
	(void)state;
	assert_int_equal(packet_check(20, 19, TPM_PACKET_MAX), -1);
	assert_int_equal(packet_check(20, 21, TPM_PACKET_MAX), -1);
	assert_int_equal(packet_check(20, 0, TPM_PACKET_MAX), -1);
	assert_int_equal(packet_check(20, UINT32_MAX, TPM_PACKET_MAX), -1);
	/* a header that fits the cap but is longer than the bytes present */
	assert_int_equal(packet_check(TPM_HDR_SIZE, TPM_PACKET_MAX, TPM_PACKET_MAX), -1);
	/* the whole packet, not only a header's worth of it */
	assert_int_equal(packet_check(TPM_PACKET_MAX + 1, TPM_PACKET_MAX, TPM_PACKET_MAX), -1);
}

static void test_response_rc(void **state)
{
	uint8_t out[TPM_HDR_SIZE];

	(void)state;
	tpm_error_response(out, 1, 0x1234abcd);
	assert_int_equal(tpm_response_rc(out, sizeof(out)), 0x1234abcd);
	for (size_t n = 0; n < TPM_HDR_SIZE; n++)
		assert_int_equal(tpm_response_rc(out, n), 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_short),
		cmocka_unit_test(test_hdr_fields),
		cmocka_unit_test(test_hdr_size_bounds),
		cmocka_unit_test(test_hdr_caller_max),
		cmocka_unit_test(test_tag_is_tpm2),
		cmocka_unit_test(test_error_response_tpm2),
		cmocka_unit_test(test_error_response_tpm12),
		cmocka_unit_test(test_build_tpm2_startup_shutdown),
		cmocka_unit_test(test_build_tpm12_startup),
		cmocka_unit_test(test_built_packets_parse),
		cmocka_unit_test(test_packet_check_bounds),
		cmocka_unit_test(test_packet_check_size_mismatch),
		cmocka_unit_test(test_response_rc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
