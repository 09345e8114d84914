/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_buf: the bounds-checked marshalling every decoder relies on. Round
 * trips of each get/put with exact big-endian bytes, truncation of a
 * composite record at every offset (reader and writer), the sticky error,
 * TPM2B size at 0, max and max+1, one trailing byte, buf_patch_u32 bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

/* The composite record: every field kind once, 25 bytes on the wire. */
#define REC_SIZE	25
#define REC_TPM2B_MAX	8

struct rec {
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;
	uint16_t tlen;
	uint8_t t[REC_TPM2B_MAX];
	uint8_t e[3];
};

static const struct rec rec_in = {
	.a = 0xa1, .b = 0xb2c3, .c = 0xd4e5f607, .d = 0x0123456789abcdefull,
	.tlen = 5, .t = { 't', 'p', 'm', '2', 'b' }, .e = { 0xe0, 0xe1, 0xe2 },
};

static void rec_put(struct buf *b, const struct rec *r)
{
	buf_put_u8(b, r->a);
	buf_put_u16(b, r->b);
	buf_put_u32(b, r->c);
	buf_put_u64(b, r->d);
	buf_put_tpm2b(b, r->t, r->tlen);
	buf_put_bytes(b, r->e, sizeof(r->e));
}

/* Decodes a record; returns false as a decoder would, by checking once at the end. */
static bool rec_get(struct buf *b, struct rec *r)
{
	const uint8_t *t;

	memset(r, 0x55, sizeof(*r));
	r->a = buf_get_u8(b);
	r->b = buf_get_u16(b);
	r->c = buf_get_u32(b);
	r->d = buf_get_u64(b);
	t = buf_get_tpm2b(b, &r->tlen, REC_TPM2B_MAX);
	if (t)
		memcpy(r->t, t, r->tlen);
	buf_get_bytes(b, r->e, sizeof(r->e));
	return buf_ok(b);
}

static void test_put_exact_bytes(void **state)
{
	static const uint8_t want[REC_SIZE] = {
		0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x00, 0x05, 't', 'p', 'm', '2', 'b', 0xe0, 0xe1, 0xe2,
	};
	uint8_t out[REC_SIZE];
	struct buf b;

	(void)state;
	buf_init_write(&b, out, sizeof(out));
	rec_put(&b, &rec_in);
	assert_true(buf_done(&b));
	assert_int_equal(b.off, REC_SIZE);
	assert_memory_equal(out, want, REC_SIZE);
}

static void test_round_trip(void **state)
{
	uint8_t wire[REC_SIZE];
	struct buf b;
	struct rec r;

	(void)state;
	buf_init_write(&b, wire, sizeof(wire));
	rec_put(&b, &rec_in);
	assert_true(buf_done(&b));

	buf_init_read(&b, wire, sizeof(wire));
	assert_true(rec_get(&b, &r));
	assert_true(buf_done(&b));
	assert_int_equal(r.a, rec_in.a);
	assert_int_equal(r.b, rec_in.b);
	assert_int_equal(r.c, rec_in.c);
	assert_true(r.d == rec_in.d);
	assert_int_equal(r.tlen, rec_in.tlen);
	assert_memory_equal(r.t, rec_in.t, rec_in.tlen);
	assert_memory_equal(r.e, rec_in.e, sizeof(r.e));
}

/* Extremes of each integer width survive a round trip. */
static void test_round_trip_extremes(void **state)
{
	static const uint64_t v64[] = { 0, 1, 0x8000000000000000ull, UINT64_MAX };
	static const uint32_t v32[] = { 0, 1, 0x80000000u, UINT32_MAX };
	static const uint16_t v16[] = { 0, 1, 0x8000, UINT16_MAX };
	static const uint8_t v8[] = { 0, 1, 0x80, UINT8_MAX };
	uint8_t wire[4 * 15];
	struct buf b;

	(void)state;
	buf_init_write(&b, wire, sizeof(wire));
	for (int i = 0; i < 4; i++) {
		buf_put_u64(&b, v64[i]);
		buf_put_u32(&b, v32[i]);
		buf_put_u16(&b, v16[i]);
		buf_put_u8(&b, v8[i]);
	}
	assert_true(buf_done(&b));
	buf_init_read(&b, wire, sizeof(wire));
	for (int i = 0; i < 4; i++) {
		assert_true(buf_get_u64(&b) == v64[i]);
		assert_int_equal(buf_get_u32(&b), v32[i]);
		assert_int_equal(buf_get_u16(&b), v16[i]);
		assert_int_equal(buf_get_u8(&b), v8[i]);
	}
	assert_true(buf_done(&b));
}

static void test_get_ptr(void **state)
{
	static const uint8_t wire[] = { 1, 2, 3, 4, 5 };
	struct buf b;
	const uint8_t *p;

	(void)state;
	buf_init_read(&b, wire, sizeof(wire));
	p = buf_get_ptr(&b, 2);
	assert_ptr_equal(p, wire);
	p = buf_get_ptr(&b, 0);
	assert_ptr_equal(p, wire + 2);
	p = buf_get_ptr(&b, 3);
	assert_ptr_equal(p, wire + 2);
	assert_true(buf_done(&b));
	assert_null(buf_get_ptr(&b, 1));
	assert_false(buf_ok(&b));
}

static void test_be_helpers(void **state)
{
	uint8_t p[4];

	(void)state;
	be16_store(p, 0xbeef);
	assert_int_equal(p[0], 0xbe);
	assert_int_equal(p[1], 0xef);
	assert_int_equal(be16_load(p), 0xbeef);
	be32_store(p, 0xdeadbeef);
	assert_int_equal(p[0], 0xde);
	assert_int_equal(p[3], 0xef);
	assert_int_equal(be32_load(p), 0xdeadbeef);
}

/* A record cut at any offset fails, and never reads past the cut. */
static void test_read_truncated_every_offset(void **state)
{
	uint8_t wire[REC_SIZE];
	struct buf b;
	struct rec r;

	(void)state;
	buf_init_write(&b, wire, sizeof(wire));
	rec_put(&b, &rec_in);
	for (size_t n = 0; n < REC_SIZE; n++) {
		buf_init_read(&b, wire, n);
		assert_false(rec_get(&b, &r));
		assert_false(buf_done(&b));
		assert_true(b.off <= n);
		/* the field that did not fit and all after it read as zero */
		assert_int_equal(r.e[0] | r.e[1] | r.e[2], 0);
	}
	buf_init_read(&b, wire, REC_SIZE);
	assert_true(rec_get(&b, &r));
	assert_true(buf_done(&b));
}

/* Writing into too small a buffer fails and touches nothing beyond it. */
static void test_write_truncated_every_offset(void **state)
{
	uint8_t out[REC_SIZE + 8];
	struct buf b;

	(void)state;
	for (size_t cap = 0; cap < REC_SIZE; cap++) {
		memset(out, 0xcc, sizeof(out));
		buf_init_write(&b, out, cap);
		rec_put(&b, &rec_in);
		assert_false(buf_ok(&b));
		assert_true(b.off <= cap);
		for (size_t i = cap; i < sizeof(out); i++)
			assert_int_equal(out[i], 0xcc);
	}
	buf_init_write(&b, out, REC_SIZE);
	rec_put(&b, &rec_in);
	assert_true(buf_done(&b));
}

static void test_one_trailing_byte(void **state)
{
	uint8_t wire[REC_SIZE + 1];
	struct buf b;
	struct rec r;

	(void)state;
	buf_init_write(&b, wire, sizeof(wire));
	rec_put(&b, &rec_in);
	buf_put_u8(&b, 0x99);
	assert_true(buf_done(&b));

	buf_init_read(&b, wire, sizeof(wire));
	assert_true(rec_get(&b, &r));
	assert_true(buf_ok(&b));
	assert_false(buf_done(&b));
	assert_int_equal(buf_left(&b), 1);
	assert_int_equal(buf_get_u8(&b), 0x99);
	assert_true(buf_done(&b));
}

/* After the first overrun, gets return zero, puts write nothing, off stays. */
static void test_sticky_error(void **state)
{
	static const uint8_t wire[] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 };
	uint8_t out[8], got[2] = { 0xff, 0xff };
	struct buf b;
	size_t off;

	(void)state;
	buf_init_read(&b, wire, sizeof(wire));
	assert_int_equal(buf_get_u16(&b), 0x1122);
	assert_int_equal(buf_get_u64(&b), 0);	/* 4 left: overrun */
	assert_false(buf_ok(&b));
	off = b.off;
	assert_int_equal(off, 2);
	/* these would fit in the 4 bytes left, but the error sticks */
	assert_int_equal(buf_get_u8(&b), 0);
	assert_int_equal(buf_get_u16(&b), 0);
	assert_int_equal(buf_get_u32(&b), 0);
	assert_null(buf_get_ptr(&b, 0));
	buf_get_bytes(&b, got, sizeof(got));
	assert_int_equal(got[0] | got[1], 0);
	assert_int_equal(b.off, off);
	assert_false(buf_done(&b));

	memset(out, 0xcc, sizeof(out));
	buf_init_write(&b, out, 4);
	buf_put_u16(&b, 0x0102);
	buf_put_u32(&b, 0x03040506);	/* 2 left: overrun */
	assert_false(buf_ok(&b));
	buf_put_u8(&b, 0x07);
	buf_put_u16(&b, 0x0809);
	buf_put_bytes(&b, "", 0);
	buf_put_tpm2b(&b, NULL, 0);
	assert_int_equal(b.off, 2);
	assert_int_equal(out[2], 0xcc);
	assert_int_equal(out[3], 0xcc);
}

static void test_get_bytes_zeroes_on_overrun(void **state)
{
	static const uint8_t wire[] = { 1, 2, 3 };
	uint8_t got[4];
	struct buf b;

	(void)state;
	memset(got, 0xff, sizeof(got));
	buf_init_read(&b, wire, sizeof(wire));
	buf_get_bytes(&b, got, sizeof(got));
	assert_false(buf_ok(&b));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0);
}

static void test_null_data_is_empty(void **state)
{
	struct buf b;

	(void)state;
	buf_init_read(&b, NULL, 100);
	assert_int_equal(b.len, 0);
	assert_true(buf_done(&b));
	assert_int_equal(buf_get_u8(&b), 0);
	assert_false(buf_ok(&b));
}

/* Runs buf_get_tpm2b over u16 size | the given payload bytes available. */
static const uint8_t *tpm2b_read(uint16_t size, size_t avail, uint16_t max, struct buf *b,
				 uint16_t *got)
{
	static uint8_t wire[2 + 300];

	assert_true(avail <= sizeof(wire) - 2);
	be16_store(wire, size);
	for (size_t i = 0; i < avail; i++)
		wire[2 + i] = (uint8_t)i;
	buf_init_read(b, wire, 2 + avail);
	*got = 0xeeee;
	return buf_get_tpm2b(b, got, max);
}

static void test_tpm2b_size_zero(void **state)
{
	struct buf b;
	uint16_t n;
	const uint8_t *p;

	(void)state;
	p = tpm2b_read(0, 0, 32, &b, &n);
	assert_non_null(p);
	assert_int_equal(n, 0);
	assert_true(buf_done(&b));
}

static void test_tpm2b_size_max(void **state)
{
	struct buf b;
	uint16_t n;
	const uint8_t *p;

	(void)state;
	p = tpm2b_read(32, 32, 32, &b, &n);
	assert_non_null(p);
	assert_int_equal(n, 32);
	assert_int_equal(p[31], 31);
	assert_true(buf_done(&b));
}

static void test_tpm2b_size_max_plus_one(void **state)
{
	struct buf b;
	uint16_t n;
	const uint8_t *p;

	(void)state;
	/* the bytes are all there: only the cap rejects it */
	p = tpm2b_read(33, 33, 32, &b, &n);
	assert_null(p);
	assert_int_equal(n, 0);
	assert_false(buf_ok(&b));
	assert_int_equal(b.off, 2);
}

/*
 * A size within the cap whose bytes are missing: NULL and the error, and the
 * size reads as zero like every other get after an overrun, so a caller that
 * copies *size bytes from the result can never be told to copy from NULL.
 */
static void test_tpm2b_truncated_payload(void **state)
{
	struct buf b;
	uint16_t n;
	const uint8_t *p;

	(void)state;
	p = tpm2b_read(32, 31, 32, &b, &n);
	assert_null(p);
	assert_false(buf_ok(&b));
	assert_int_equal(n, 0);
}

static void test_tpm2b_put_round_trip(void **state)
{
	uint8_t out[2 + 4], payload[4] = { 9, 8, 7, 6 };
	struct buf b;
	uint16_t n;
	const uint8_t *p;

	(void)state;
	buf_init_write(&b, out, sizeof(out));
	buf_put_tpm2b(&b, payload, sizeof(payload));
	assert_true(buf_done(&b));
	assert_int_equal(be16_load(out), 4);
	buf_init_read(&b, out, sizeof(out));
	p = buf_get_tpm2b(&b, &n, 4);
	assert_non_null(p);
	assert_int_equal(n, 4);
	assert_memory_equal(p, payload, 4);
	assert_true(buf_done(&b));
}

static void test_patch_u32(void **state)
{
	uint8_t out[16];
	struct buf b;

	(void)state;
	memset(out, 0, sizeof(out));
	buf_init_write(&b, out, sizeof(out));
	buf_put_u16(&b, 0x8001);
	buf_put_u32(&b, 0);	/* size placeholder at 2 */
	buf_put_u32(&b, 0x17b);
	buf_patch_u32(&b, 2, (uint32_t)b.off);
	assert_true(buf_ok(&b));
	assert_int_equal(be32_load(out + 2), 10);
	/* the last four bytes written: allowed */
	buf_patch_u32(&b, b.off - 4, 0xa0b0c0d0);
	assert_true(buf_ok(&b));
	assert_int_equal(be32_load(out + 6), 0xa0b0c0d0);
	assert_int_equal(b.off, 10);
}

/* A patch must lie wholly within what was written; nothing is written otherwise. */
static void test_patch_u32_bounds(void **state)
{
	static const size_t bad[] = { 7, 8, 10, 11, 16, SIZE_MAX - 2, SIZE_MAX };
	uint8_t out[16];
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 0xcc, sizeof(out));
		buf_init_write(&b, out, sizeof(out));
		buf_put_bytes(&b, "0123456789", 10);
		buf_patch_u32(&b, bad[i], 0);
		assert_false(buf_ok(&b));
		assert_memory_equal(out, "0123456789", 10);
		for (size_t k = 10; k < sizeof(out); k++)
			assert_int_equal(out[k], 0xcc);
	}
	/* fewer than 4 bytes written at all */
	buf_init_write(&b, out, sizeof(out));
	buf_put_u16(&b, 1);
	buf_patch_u32(&b, 0, 0);
	assert_false(buf_ok(&b));
	/* a buffer already in error is not patched */
	memset(out, 0xcc, sizeof(out));
	buf_init_write(&b, out, 6);
	buf_put_u32(&b, 0x01020304);
	buf_put_u32(&b, 0);
	assert_false(buf_ok(&b));
	buf_patch_u32(&b, 0, 0xffffffff);
	assert_int_equal(be32_load(out), 0x01020304);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_exact_bytes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_extremes),
		cmocka_unit_test(test_get_ptr),
		cmocka_unit_test(test_be_helpers),
		cmocka_unit_test(test_read_truncated_every_offset),
		cmocka_unit_test(test_write_truncated_every_offset),
		cmocka_unit_test(test_one_trailing_byte),
		cmocka_unit_test(test_sticky_error),
		cmocka_unit_test(test_get_bytes_zeroes_on_overrun),
		cmocka_unit_test(test_null_data_is_empty),
		cmocka_unit_test(test_tpm2b_size_zero),
		cmocka_unit_test(test_tpm2b_size_max),
		cmocka_unit_test(test_tpm2b_size_max_plus_one),
		cmocka_unit_test(test_tpm2b_truncated_payload),
		cmocka_unit_test(test_tpm2b_put_round_trip),
		cmocka_unit_test(test_patch_u32),
		cmocka_unit_test(test_patch_u32_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
