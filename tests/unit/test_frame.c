/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_frame: the data channel's stream framing. The stream is the client's
 * and untrusted: plain and MSSIM-prefixed commands, pipelining, byte-by-byte
 * arrival, every malformed class, truncation at every offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "frame.h"
#include "tpm.h"

#define STREAM_MAX	(2 * (FRAME_PREFIX_SIZE + TPM_PACKET_MAX))

static uint8_t stream[STREAM_MAX];

/* Writes a command of len bytes (header size field = size) at p; returns len. */
static size_t put_cmd(uint8_t *p, uint16_t tag, uint32_t size, size_t len)
{
	be16_store(p, tag);
	be32_store(p + 2, size);
	be32_store(p + 6, 0x17b);
	for (size_t i = TPM_HDR_SIZE; i < len; i++)
		p[i] = (uint8_t)(i * 7);
	return len;
}

/* Writes u32 8 | locality | u32 psize, then a command of len bytes with header size hsize. */
static size_t put_prefixed(uint8_t *p, uint8_t loc, uint32_t psize, uint32_t hsize, size_t len)
{
	be32_store(p, FRAME_SEND_COMMAND);
	p[4] = loc;
	be32_store(p + 5, psize);
	return FRAME_PREFIX_SIZE + put_cmd(p + FRAME_PREFIX_SIZE, TPM20_ST_NO_SESSIONS, hsize, len);
}

static void expect_complete(const uint8_t *p, size_t n, bool tpm2, size_t total, size_t off,
			    uint32_t len, bool prefixed, int loc)
{
	struct frame f;

	memset(&f, 0xa5, sizeof(f));
	assert_int_equal(frame_parse(p, n, tpm2, &f), FRAME_COMPLETE);
	assert_int_equal(f.total, total);
	assert_int_equal(f.cmd_off, off);
	assert_int_equal(f.cmd_len, len);
	assert_int_equal(f.prefixed, prefixed);
	assert_int_equal(f.locality, loc);
}

static enum frame_result parse(const uint8_t *p, size_t n, bool tpm2)
{
	struct frame f;

	return frame_parse(p, n, tpm2, &f);
}

static void test_plain(void **state)
{
	size_t n = put_cmd(stream, TPM20_ST_NO_SESSIONS, 12, 12);

	(void)state;
	expect_complete(stream, n, true, 12, 0, 12, false, -1);
	expect_complete(stream, n, false, 12, 0, 12, false, -1);
	n = put_cmd(stream, TPM_TAG_RQU_COMMAND, 30, 30);
	expect_complete(stream, n, false, 30, 0, 30, false, -1);
	expect_complete(stream, n, true, 30, 0, 30, false, -1);
}

static void test_plain_size_limits(void **state)
{
	(void)state;
	put_cmd(stream, TPM20_ST_SESSIONS, TPM_HDR_SIZE, TPM_HDR_SIZE);
	expect_complete(stream, TPM_HDR_SIZE, true, TPM_HDR_SIZE, 0, TPM_HDR_SIZE, false, -1);
	put_cmd(stream, TPM20_ST_SESSIONS, TPM_PACKET_MAX, TPM_PACKET_MAX);
	expect_complete(stream, TPM_PACKET_MAX, true, TPM_PACKET_MAX, 0, TPM_PACKET_MAX, false, -1);
}

static void test_prefixed(void **state)
{
	size_t n = put_prefixed(stream, 3, 12, 12, 12);

	(void)state;
	expect_complete(stream, n, true, FRAME_PREFIX_SIZE + 12, FRAME_PREFIX_SIZE, 12, true, 3);
	/* the locality byte is passed through; the caller judges it */
	n = put_prefixed(stream, 0xff, TPM_PACKET_MAX, TPM_PACKET_MAX, TPM_PACKET_MAX);
	expect_complete(stream, n, true, FRAME_PREFIX_SIZE + TPM_PACKET_MAX, FRAME_PREFIX_SIZE,
			TPM_PACKET_MAX, true, 0xff);
}

/* A TPM 1.2 stream has no prefix: the same bytes are a (bad) plain header. */
static void test_prefix_needs_tpm2(void **state)
{
	struct frame f;
	size_t n = put_prefixed(stream, 0, 12, 12, 12);

	(void)state;
	assert_int_equal(frame_parse(stream, n, false, &f), FRAME_INVALID);
	assert_false(f.prefixed);
	assert_int_equal(f.locality, -1);
	/* read as a header, the prefix's first bytes give a size of at least 0x00080000 */
	assert_int_equal(frame_parse(stream, FRAME_PREFIX_SIZE + 1, false, &f), FRAME_INVALID);
}

static void test_back_to_back(void **state)
{
	size_t n = 0, used = 0;
	struct frame f;

	(void)state;
	n += put_cmd(stream, TPM20_ST_NO_SESSIONS, 12, 12);
	n += put_prefixed(stream + n, 2, 20, 20, 20);
	n += put_cmd(stream + n, TPM20_ST_SESSIONS, 14, 14);

	assert_int_equal(frame_parse(stream, n, true, &f), FRAME_COMPLETE);
	assert_int_equal(f.total, 12);
	assert_false(f.prefixed);
	used += f.total;
	assert_int_equal(frame_parse(stream + used, n - used, true, &f), FRAME_COMPLETE);
	assert_int_equal(f.total, FRAME_PREFIX_SIZE + 20);
	assert_true(f.prefixed);
	assert_int_equal(f.locality, 2);
	assert_int_equal(be32_load(stream + used + f.cmd_off + 2), 20);
	used += f.total;
	assert_int_equal(frame_parse(stream + used, n - used, true, &f), FRAME_COMPLETE);
	assert_int_equal(f.total, 14);
	assert_false(f.prefixed);
	assert_int_equal(f.locality, -1);
	used += f.total;
	assert_int_equal(used, n);
	assert_int_equal(frame_parse(stream + used, n - used, true, &f), FRAME_NEED_MORE);
}

/* Bytes arriving one at a time: NEED_MORE until the last one. */
static void test_byte_by_byte(void **state)
{
	uint8_t acc[64];
	size_t n;

	(void)state;
	for (int pfx = 0; pfx < 2; pfx++) {
		n = pfx ? put_prefixed(stream, 1, 40, 40, 40) : put_cmd(stream, TPM20_ST_SESSIONS, 40, 40);
		memset(acc, 0, sizeof(acc));
		for (size_t i = 0; i < n; i++) {
			acc[i] = stream[i];
			assert_int_equal(parse(acc, i + 1, true), i + 1 < n ? FRAME_NEED_MORE : FRAME_COMPLETE);
		}
	}
}

/* A prefix of any valid frame is NEED_MORE, never COMPLETE or INVALID. */
static void test_truncated_every_offset(void **state)
{
	(void)state;
	for (int c = 0; c < 4; c++) {
		bool tpm2 = c != 1;
		size_t n;

		switch (c) {
		case 0: n = put_cmd(stream, TPM20_ST_NO_SESSIONS, 100, 100); break;
		case 1: n = put_cmd(stream, TPM_TAG_RQU_COMMAND, 100, 100); break;
		case 2: n = put_prefixed(stream, 0, 100, 100, 100); break;
		default: n = put_prefixed(stream, 4, TPM_PACKET_MAX, TPM_PACKET_MAX, TPM_PACKET_MAX); break;
		}
		for (size_t k = 0; k < n; k++)
			assert_int_equal(parse(stream, k, tpm2), FRAME_NEED_MORE);
		assert_int_equal(parse(stream, n, tpm2), FRAME_COMPLETE);
	}
}

static void test_invalid_header_size_below_10(void **state)
{
	(void)state;
	for (uint32_t size = 0; size < TPM_HDR_SIZE; size++) {
		put_cmd(stream, TPM20_ST_NO_SESSIONS, size, 16);
		assert_int_equal(parse(stream, 16, true), FRAME_INVALID);
		assert_int_equal(parse(stream, 16, false), FRAME_INVALID);
		/* known as soon as the header is in, before any body byte */
		assert_int_equal(parse(stream, TPM_HDR_SIZE, true), FRAME_INVALID);
	}
}

static void test_invalid_header_size_above_max(void **state)
{
	static const uint32_t bad[] = { TPM_PACKET_MAX + 1, 0x10000, 0x7fffffff, UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_cmd(stream, TPM20_ST_NO_SESSIONS, bad[i], TPM_HDR_SIZE);
		assert_int_equal(parse(stream, TPM_HDR_SIZE, true), FRAME_INVALID);
		assert_int_equal(parse(stream, TPM_HDR_SIZE, false), FRAME_INVALID);
	}
}

static void test_invalid_prefix_size(void **state)
{
	static const uint32_t bad[] = { 0, TPM_HDR_SIZE - 1, TPM_PACKET_MAX + 1, UINT32_MAX };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_prefixed(stream, 0, bad[i], 12, 12);
		/* rejected from the prefix alone, before the header arrives */
		assert_int_equal(parse(stream, FRAME_PREFIX_SIZE, true), FRAME_INVALID);
		assert_int_equal(parse(stream, FRAME_PREFIX_SIZE + 12, true), FRAME_INVALID);
	}
}

static void test_invalid_prefix_disagrees(void **state)
{
	(void)state;
	/* prefix says 12, header says 14 (and 14 bytes follow) */
	put_prefixed(stream, 0, 12, 14, 14);
	assert_int_equal(parse(stream, FRAME_PREFIX_SIZE + 14, true), FRAME_INVALID);
	assert_int_equal(parse(stream, FRAME_PREFIX_SIZE + TPM_HDR_SIZE, true), FRAME_INVALID);
	/* prefix says 14, header says 12 */
	put_prefixed(stream, 0, 14, 12, 14);
	assert_int_equal(parse(stream, FRAME_PREFIX_SIZE + 14, true), FRAME_INVALID);
	/* inner header out of range, prefix in range */
	put_prefixed(stream, 0, 12, TPM_PACKET_MAX + 1, 12);
	assert_int_equal(parse(stream, FRAME_PREFIX_SIZE + 12, true), FRAME_INVALID);
	put_prefixed(stream, 0, 12, 9, 12);
	assert_int_equal(parse(stream, FRAME_PREFIX_SIZE + 12, true), FRAME_INVALID);
}

/* An invalid frame stays invalid however many bytes follow. */
static void test_invalid_is_stable(void **state)
{
	(void)state;
	put_cmd(stream, TPM20_ST_NO_SESSIONS, TPM_PACKET_MAX + 1, sizeof(stream));
	for (size_t n = TPM_HDR_SIZE; n <= sizeof(stream); n += 997)
		assert_int_equal(parse(stream, n, true), FRAME_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_size_limits),
		cmocka_unit_test(test_prefixed),
		cmocka_unit_test(test_prefix_needs_tpm2),
		cmocka_unit_test(test_back_to_back),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_truncated_every_offset),
		cmocka_unit_test(test_invalid_header_size_below_10),
		cmocka_unit_test(test_invalid_header_size_above_max),
		cmocka_unit_test(test_invalid_prefix_size),
		cmocka_unit_test(test_invalid_prefix_disagrees),
		cmocka_unit_test(test_invalid_is_stable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
