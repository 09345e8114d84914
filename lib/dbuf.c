/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dbuf: byte queue. Consuming moves the tail down; queues here hold at most
 * a few KiB in steady state, so the memmove is cheaper than a ring.
 */
#include "dbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void dbuf_init(struct dbuf *d, size_t max)
{
	d->p = NULL;
	d->len = d->cap = 0;
	d->max = max;
}

void dbuf_free(struct dbuf *d)
{
	if (d->p) {
		explicit_bzero(d->p, d->cap);
		free(d->p);
	}
	d->p = NULL;
	d->len = d->cap = 0;
}

uint8_t *dbuf_reserve(struct dbuf *d, size_t n)
{
	if (n > d->max - d->len) {
		errno = ENOBUFS;
		return NULL;
	}
	if (!d->p || d->len + n > d->cap) {
		size_t ncap = d->cap ? d->cap : 256;
		uint8_t *np;

		while (ncap < d->len + n)
			ncap *= 2;
		if (ncap > d->max)
			ncap = d->max;
		np = malloc(ncap);
		if (!np)
			return NULL;
		if (d->p) {
			memcpy(np, d->p, d->len);
			explicit_bzero(d->p, d->cap);
			free(d->p);
		}
		d->p = np;
		d->cap = ncap;
	}
	return d->p + d->len;
}

int dbuf_append(struct dbuf *d, const void *p, size_t n)
{
	uint8_t *dst;

	if (n == 0)
		return 0;
	dst = dbuf_reserve(d, n);

	if (!dst)
		return -1;
	if (n)
		memcpy(dst, p, n);
	d->len += n;
	return 0;
}

void dbuf_consume(struct dbuf *d, size_t n)
{
	if (n >= d->len) {
		d->len = 0;
		return;
	}
	memmove(d->p, d->p + n, d->len - n);
	d->len -= n;
}
