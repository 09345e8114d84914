/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dbuf: a growable byte queue for connection input and output, with a hard
 * cap so a peer cannot make it grow without bound. Shared library code.
 */
#ifndef VTPM_DBUF_H
#define VTPM_DBUF_H

#include <stddef.h>
#include <stdint.h>

struct dbuf {
	uint8_t *p;
	size_t len;	/* bytes queued, starting at p */
	size_t cap;	/* bytes allocated */
	size_t max;	/* never grow beyond this */
};

void dbuf_init(struct dbuf *d, size_t max);
/* Frees the storage after wiping it (it may have held state blobs). */
void dbuf_free(struct dbuf *d);
/* Makes room for n more bytes; returns a pointer to them or NULL (ENOBUFS). */
uint8_t *dbuf_reserve(struct dbuf *d, size_t n);
int dbuf_append(struct dbuf *d, const void *p, size_t n);
/* Drops n bytes from the front. */
void dbuf_consume(struct dbuf *d, size_t n);

#endif
