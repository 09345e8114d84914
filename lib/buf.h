/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * buf: the one bounds-checked reader/writer for wire bytes, used by every
 * process. All multi-byte values are big-endian (TPM and swtpm order) unless
 * the function name says otherwise. Errors are sticky: after the first
 * overrun every get returns zero and every put writes nothing, so a decoder
 * checks buf_ok() once at the end. The bytes read are untrusted; the buffer
 * never reads or writes outside [data, data + len).
 */
#ifndef VTPM_BUF_H
#define VTPM_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;	/* bytes readable (reader) or capacity (writer) */
	size_t off;	/* next byte to read or write */
	bool err;	/* sticky: an access did not fit */
};

void buf_init_read(struct buf *b, const uint8_t *data, size_t len);
void buf_init_write(struct buf *b, uint8_t *data, size_t cap);

static inline bool buf_ok(const struct buf *b) { return !b->err; }
static inline size_t buf_left(const struct buf *b) { return b->len - b->off; }
/* True when no error happened and every byte was consumed. */
static inline bool buf_done(const struct buf *b) { return !b->err && b->off == b->len; }

uint8_t buf_get_u8(struct buf *b);
uint16_t buf_get_u16(struct buf *b);
uint32_t buf_get_u32(struct buf *b);
uint64_t buf_get_u64(struct buf *b);
/* Copies n bytes out; on overrun out is zeroed. */
void buf_get_bytes(struct buf *b, void *out, size_t n);
/* Returns a pointer to the next n bytes and skips them, or NULL on overrun. */
const uint8_t *buf_get_ptr(struct buf *b, size_t n);
/* TPM2B: u16 size, then size bytes; size above max is an error. */
const uint8_t *buf_get_tpm2b(struct buf *b, uint16_t *size, uint16_t max);

void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
void buf_put_bytes(struct buf *b, const void *p, size_t n);
void buf_put_tpm2b(struct buf *b, const void *p, uint16_t n);
/* Overwrites a u32 at an absolute offset already written (size fields). */
void buf_patch_u32(struct buf *b, size_t at, uint32_t v);

/* Plain big-endian loads/stores for callers that checked the length. */
static inline uint16_t be16_load(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32_load(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void be16_store(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void be32_store(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#endif
