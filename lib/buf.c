/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * buf: bounds-checked big-endian marshalling with a sticky error. Library
 * code shared by all processes; it trusts nothing it reads. Bounds are
 * checked subtractively (n > len - off) so no sum can wrap.
 */
#include "buf.h"

#include <string.h>

void buf_init_read(struct buf *b, const uint8_t *data, size_t len)
{
	b->data = (uint8_t *)data;	/* readers never write through it */
	b->len = data ? len : 0;
	b->off = 0;
	b->err = false;
}

void buf_init_write(struct buf *b, uint8_t *data, size_t cap)
{
	buf_init_read(b, data, cap);
}

/* Reserves n bytes at the cursor; NULL (and sticky error) if they don't fit. */
static uint8_t *take(struct buf *b, size_t n)
{
	uint8_t *p;

	if (b->err || n > b->len - b->off) {
		b->err = true;
		return NULL;
	}
	p = b->data + b->off;
	b->off += n;
	return p;
}

uint8_t buf_get_u8(struct buf *b)
{
	const uint8_t *p = take(b, 1);
	return p ? p[0] : 0;
}

uint16_t buf_get_u16(struct buf *b)
{
	const uint8_t *p = take(b, 2);
	return p ? be16_load(p) : 0;
}

uint32_t buf_get_u32(struct buf *b)
{
	const uint8_t *p = take(b, 4);
	return p ? be32_load(p) : 0;
}

uint64_t buf_get_u64(struct buf *b)
{
	const uint8_t *p = take(b, 8);
	return p ? (uint64_t)be32_load(p) << 32 | be32_load(p + 4) : 0;
}

void buf_get_bytes(struct buf *b, void *out, size_t n)
{
	const uint8_t *p = take(b, n);
	if (p)
		memcpy(out, p, n);
	else if (n)
		memset(out, 0, n);
}

const uint8_t *buf_get_ptr(struct buf *b, size_t n)
{
	return take(b, n);
}

const uint8_t *buf_get_tpm2b(struct buf *b, uint16_t *size, uint16_t max)
{
	uint16_t n = buf_get_u16(b);
	const uint8_t *p;

	if (n > max)
		b->err = true;
	p = take(b, n);
	*size = p ? n : 0;
	return p;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
	uint8_t *p = take(b, 1);
	if (p)
		p[0] = v;
}

void buf_put_u16(struct buf *b, uint16_t v)
{
	uint8_t *p = take(b, 2);
	if (p)
		be16_store(p, v);
}

void buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t *p = take(b, 4);
	if (p)
		be32_store(p, v);
}

void buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t *p = take(b, 8);
	if (p) {
		be32_store(p, (uint32_t)(v >> 32));
		be32_store(p + 4, (uint32_t)v);
	}
}

void buf_put_bytes(struct buf *b, const void *src, size_t n)
{
	uint8_t *p = take(b, n);
	if (p && n)
		memcpy(p, src, n);
}

void buf_put_tpm2b(struct buf *b, const void *src, uint16_t n)
{
	buf_put_u16(b, n);
	buf_put_bytes(b, src, n);
}

void buf_patch_u32(struct buf *b, size_t at, uint32_t v)
{
	if (b->err || at > b->off || 4 > b->off - at) {
		b->err = true;
		return;
	}
	be32_store(b->data + at, v);
}
