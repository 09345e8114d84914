/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_mgrmsg: libFuzzer target for the manager protocol codec (lib/mgrmsg),
 * both directions: the manager parses what a possibly compromised vtpm
 * writes, the vtpm parses what the manager answers, and a managed vtpm
 * parses the sealed state blobs a control client hands it. Byte 0 picks
 * the side: bit 0 set, bits 1-3 are the ordinal (0..7) and the rest a
 * response given to mgrmsg_parse_response; else bit 1 clear, the rest is a
 * request given to mgrmsg_parse_request; bit 1 set, a sealed blob given to
 * mgrmsg_blob_parse. A message that parses must re-encode to exactly
 * its bytes (the format is canonical) and lose its parse when cut short or
 * given a trailing byte; a refused one leaves no record behind, and a
 * refused request carries a VTPM_* result to answer with.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgrmsg.h"

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_mgrmsg: invariant broken: %s\n", what);
		abort();
	}
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static long encode_request(const struct mgr_request *r, uint8_t *out)
{
	switch (r->ordinal) {
	case VTPM_ORD_SAVEHASHKEY:
		return mgrmsg_save_request(out, r->type, &r->rec);
	case VTPM_ORD_LOADHASHKEY:
		return mgrmsg_load_request(out, r->type);
	case VTPM_ORD_GET_BOOT_HASH:
		return mgrmsg_boot_hash_request(out);
	case VTPM_ORD_BLOBKEY:
		return mgrmsg_blobkey_request(out, &r->blob);
	default:
		return -1;
	}
}

static void request_side(const uint8_t *p, size_t n)
{
	static uint8_t enc[MGRMSG_MAX], tmp[MGRMSG_MAX + 1];
	struct mgr_request r, again;
	uint32_t result, res2;
	long e;

	if (mgrmsg_parse_request(p, n, &r, &result) < 0) {
		check(errno == EBADMSG, "refused with EBADMSG");
		check(result == VTPM_INVALID_REQUEST || result == VTPM_UNSUPPORTED, "a result to answer");
		check(all_zero(&r.rec, sizeof(r.rec)), "a refused request leaves no record");
		return;
	}
	check(result == VTPM_SUCCESS && n <= MGRMSG_MAX, "accepted: success, inside the maximum");
	check(r.rec.present == !mgrmsg_record_is_empty(&r.rec), "present means non-empty");
	e = encode_request(&r, enc);
	check(e == (long)n && memcmp(enc, p, n) == 0, "encode(parse(m)) == m");
	check(mgrmsg_parse_request(p, n - 1, &again, &res2) < 0, "cut short: refused");
	memcpy(tmp, p, n);
	tmp[n] = 0;
	check(mgrmsg_parse_request(tmp, n + 1, &again, &res2) < 0, "trailing byte: refused");
}

static void response_side(uint32_t ordinal, const uint8_t *p, size_t n)
{
	static uint8_t enc[MGRMSG_MAX], tmp[MGRMSG_MAX + 1];
	struct mgr_response r, again;
	long e;

	if (mgrmsg_parse_response(ordinal, p, n, &r) < 0) {
		check(errno == EBADMSG, "refused with EBADMSG");
		check(all_zero(&r, sizeof(r)), "a refused response leaves nothing");
		return;
	}
	check(n <= MGRMSG_MAX, "accepted inside the maximum");
	e = mgrmsg_response(enc, ordinal, &r);
	check(e == (long)n && memcmp(enc, p, n) == 0, "encode(parse(m)) == m");
	check(mgrmsg_parse_response(ordinal, p, n - 1, &again) < 0, "cut short: refused");
	memcpy(tmp, p, n);
	tmp[n] = 0;
	check(mgrmsg_parse_response(ordinal, tmp, n + 1, &again) < 0, "trailing byte: refused");
}

/* A blob that parses is its header as re-encoded, then exactly its ciphertext. */
static void blob_side(const uint8_t *p, size_t n)
{
	uint8_t hdr[MGRMSG_BLOB_HDR + 4];
	struct mgr_blobkey k, again;
	uint32_t plen;

	if (mgrmsg_blob_parse(p, n, &k, &plen) < 0) {
		check(errno == EBADMSG, "refused with EBADMSG");
		check(all_zero(&k, sizeof(k)), "a refused blob leaves no header");
		return;
	}
	check(n == (size_t)MGRMSG_BLOB_OVERHEAD + plen, "length is the whole rest");
	check(k.op == 0 && all_zero(k.key, sizeof(k.key)), "no op, no key from a blob");
	mgrmsg_blob_header(hdr, &k, plen);
	check(memcmp(hdr, p, sizeof(hdr)) == 0, "header(parse(b)) == b's header");
	check(mgrmsg_blob_parse(p, n - 1, &again, &plen) < 0, "cut short: refused");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		response_side((data[0] >> 1) & 7u, data + 1, size - 1);
	else if (data[0] & 2)
		blob_side(data + 1, size - 1);
	else
		request_side(data + 1, size - 1);
	return 0;
}
