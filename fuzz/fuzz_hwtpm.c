/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_hwtpm: libFuzzer target for the manager's sealed-blob parser
 * (hwtpm_blob_parse in src/vtpmmgr/hwtpm.c, reached through
 * hwtpm_blob_pcrvals), whose input is a file on disk the manager does not
 * trust. No TPM is involved: the parse sends no command. The input is the
 * blob. A blob that parses must select a valid, non-empty PCR set whose
 * values are the ones recorded after the header, must be exactly as long
 * as its length fields say, and must lose its parse when cut short or given
 * a trailing byte; a refused blob fails with EBADMSG.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hwtpm.h"

/* The blob's layout (hwtpm.c): magic, version, mask, count, values, pub, priv. */
#define BLOB_HDR	11
#define BLOB_MASK_OFF	6

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_hwtpm: invariant broken: %s\n", what);
		abort();
	}
}

static void check_accepted(const uint8_t *p, size_t n, const struct hwtpm_pcrvals *v)
{
	size_t off = BLOB_HDR, count = 0;
	uint8_t *tmp;

	check(n >= BLOB_HDR && v->sel.mask == be32_load(p + BLOB_MASK_OFF), "mask as recorded");
	check(v->sel.mask != 0 && v->sel.mask < (1u << HWTPM_MAX_PCRS), "mask valid");
	for (unsigned i = 0; i < HWTPM_MAX_PCRS; i++) {
		if (!(v->sel.mask & (1u << i)))
			continue;
		check(off + HWTPM_DIGEST_SIZE <= n &&
		      memcmp(v->value[i], p + off, HWTPM_DIGEST_SIZE) == 0, "values as recorded");
		off += HWTPM_DIGEST_SIZE;
		count++;
	}
	check(p[BLOB_HDR - 1] == count, "count matches the mask");
	for (int part = 0; part < 2; part++) {
		check(off + 2 <= n, "length field inside the blob");
		off += 2 + be16_load(p + off);
	}
	check(off == n, "length fields fill the blob exactly");
	check(hwtpm_blob_pcrvals(p, n - 1, &(struct hwtpm_pcrvals){ 0 }) < 0, "cut short: refused");
	tmp = malloc(n + 1);
	check(tmp != NULL, "malloc");
	memcpy(tmp, p, n);
	tmp[n] = 0;
	check(hwtpm_blob_pcrvals(tmp, n + 1, &(struct hwtpm_pcrvals){ 0 }) < 0,
	      "trailing byte: refused");
	free(tmp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hwtpm_pcrvals v;

	memset(&v, 0, sizeof(v));
	errno = 0;
	if (hwtpm_blob_pcrvals(data, size, &v) < 0) {
		check(errno == EBADMSG, "refused with EBADMSG");
		return 0;
	}
	check_accepted(data, size, &v);
	return 0;
}
