/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_mgrmsg: the manager protocol codec (lib/mgrmsg), both decoders: the
 * manager's parser of a possibly compromised vtpm's requests and the vtpm's
 * parser of the manager's responses. For each message: the round trip,
 * truncation at every offset, one trailing byte, and the size field at 0,
 * the maximum and the maximum + 1; plus the fields each decoder must
 * refuse (version, type, present flag, tag). Test code: trusts itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "buf.h"
#include "mgrmsg.h"
#include "tpm.h"

#define SIZE_OFF	2	/* the header's u32 size */
#define BODY_OFF	TPM_HDR_SIZE

static int parse_req(const uint8_t *p, size_t n, struct mgr_request *r, uint32_t *res)
{
	errno = 0;
	return mgrmsg_parse_request(p, n, r, res);
}

static int parse_rsp(uint32_t ord, const uint8_t *p, size_t n, struct mgr_response *r)
{
	errno = 0;
	return mgrmsg_parse_response(ord, p, n, r);
}

static void fill_record(struct mgr_record *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->present = true;
	rec->seq = 0x0102030405060708ull;
	memset(rec->digest, 0xab, sizeof(rec->digest));
	memset(rec->key, 0xcd, sizeof(rec->key));
}

/* Every cut, a trailing byte and the size field at 0, max, max + 1: refused. */
static void request_edges(const uint8_t *msg, size_t n)
{
	uint8_t c[MGRMSG_MAX + 2];
	struct mgr_request r;
	uint32_t res;
	const uint32_t sizes[] = { 0, MGRMSG_MAX, MGRMSG_MAX + 1, (uint32_t)n - 1, (uint32_t)n + 1 };

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(parse_req(msg, i, &r, &res), -1);
		assert_int_equal(errno, EBADMSG);
		assert_int_equal(res, VTPM_INVALID_REQUEST);
	}
	memcpy(c, msg, n);
	c[n] = 0;
	assert_int_equal(parse_req(c, n + 1, &r, &res), -1);
	be32_store(c + SIZE_OFF, (uint32_t)n + 1);
	assert_int_equal(parse_req(c, n + 1, &r, &res), -1);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memcpy(c, msg, n);
		be32_store(c + SIZE_OFF, sizes[i]);
		assert_int_equal(parse_req(c, n, &r, &res), -1);
		assert_int_equal(res, VTPM_INVALID_REQUEST);
	}
}

static void response_edges(uint32_t ord, const uint8_t *msg, size_t n)
{
	uint8_t c[MGRMSG_MAX + 2];
	struct mgr_response r;
	const uint32_t sizes[] = { 0, MGRMSG_MAX, MGRMSG_MAX + 1, (uint32_t)n - 1, (uint32_t)n + 1 };

	for (size_t i = 0; i < n; i++) {
		assert_int_equal(parse_rsp(ord, msg, i, &r), -1);
		assert_int_equal(errno, EBADMSG);
	}
	memcpy(c, msg, n);
	c[n] = 0;
	assert_int_equal(parse_rsp(ord, c, n + 1, &r), -1);
	be32_store(c + SIZE_OFF, (uint32_t)n + 1);
	assert_int_equal(parse_rsp(ord, c, n + 1, &r), -1);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memcpy(c, msg, n);
		be32_store(c + SIZE_OFF, sizes[i]);
		assert_int_equal(parse_rsp(ord, c, n, &r), -1);
	}
}

static void test_save_request(void **state)
{
	uint8_t m[MGRMSG_MAX];
	struct mgr_record rec;
	struct mgr_request r;
	uint32_t res;
	long n;

	(void)state;
	fill_record(&rec);
	n = mgrmsg_save_request(m, VTPM_BLOB_VOLATILE, &rec);
	assert_int_equal(n, TPM_HDR_SIZE + 2 + 8 + VTPM_DIGEST_SIZE + VTPM_KEY_SIZE);
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), 0);
	assert_int_equal(res, VTPM_SUCCESS);
	assert_int_equal(r.ordinal, VTPM_ORD_SAVEHASHKEY);
	assert_int_equal(r.type, VTPM_BLOB_VOLATILE);
	assert_true(r.rec.present);
	assert_true(r.rec.seq == rec.seq);
	assert_memory_equal(r.rec.digest, rec.digest, VTPM_DIGEST_SIZE);
	assert_memory_equal(r.rec.key, rec.key, VTPM_KEY_SIZE);
	request_edges(m, (size_t)n);

	/* the all-zero record is "no state" */
	memset(&rec, 0, sizeof(rec));
	n = mgrmsg_save_request(m, VTPM_BLOB_PERMANENT, &rec);
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), 0);
	assert_false(r.rec.present);

	/* version and type: refused, the key not left behind */
	fill_record(&rec);
	for (unsigned t = 0; t < 256; t++) {
		n = mgrmsg_save_request(m, (uint8_t)t, &rec);
		assert_int_equal(parse_req(m, (size_t)n, &r, &res),
				 t >= VTPM_BLOB_PERMANENT && t <= VTPM_BLOB_SAVESTATE ? 0 : -1);
	}
	n = mgrmsg_save_request(m, VTPM_BLOB_PERMANENT, &rec);
	m[BODY_OFF] = VTPM_PROTO_VERSION + 1;
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), -1);
	for (size_t i = 0; i < VTPM_KEY_SIZE; i++)
		assert_int_equal(r.rec.key[i], 0);
}

static void test_load_and_boot_hash_requests(void **state)
{
	uint8_t m[MGRMSG_MAX];
	struct mgr_request r;
	uint32_t res;
	long n;

	(void)state;
	n = mgrmsg_load_request(m, VTPM_BLOB_SAVESTATE);
	assert_int_equal(n, TPM_HDR_SIZE + 2);
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), 0);
	assert_int_equal(r.ordinal, VTPM_ORD_LOADHASHKEY);
	assert_int_equal(r.type, VTPM_BLOB_SAVESTATE);
	request_edges(m, (size_t)n);
	m[BODY_OFF + 1] = 0;
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), -1);

	n = mgrmsg_boot_hash_request(m);
	assert_int_equal(n, TPM_HDR_SIZE + 1);
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), 0);
	assert_int_equal(r.ordinal, VTPM_ORD_GET_BOOT_HASH);
	request_edges(m, (size_t)n);
	m[BODY_OFF] = 0;
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), -1);

	/* an unknown ordinal is answered UNSUPPORTED; a response tag is invalid */
	n = mgrmsg_boot_hash_request(m);
	be32_store(m + 6, VTPM_ORD_GET_QUOTE);
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), -1);
	assert_int_equal(res, VTPM_UNSUPPORTED);
	n = mgrmsg_boot_hash_request(m);
	be16_store(m, VTPM_TAG_RSP);
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), -1);
	assert_int_equal(res, VTPM_INVALID_REQUEST);
}

static void test_load_response(void **state)
{
	uint8_t m[MGRMSG_MAX];
	struct mgr_response w, r;
	long n;

	(void)state;
	memset(&w, 0, sizeof(w));
	w.result = VTPM_SUCCESS;
	memset(w.uuid, 0x5a, sizeof(w.uuid));
	fill_record(&w.rec);
	n = mgrmsg_response(m, VTPM_ORD_LOADHASHKEY, &w);
	assert_int_equal(n, TPM_HDR_SIZE + 2 + VTPM_UUID_SIZE + 8 + VTPM_DIGEST_SIZE + VTPM_KEY_SIZE);
	assert_int_equal(parse_rsp(VTPM_ORD_LOADHASHKEY, m, (size_t)n, &r), 0);
	assert_memory_equal(&r, &w, sizeof(r));
	response_edges(VTPM_ORD_LOADHASHKEY, m, (size_t)n);

	/* present is 0 or 1; the version is 1; a refusal wipes the key */
	for (unsigned v = 2; v < 256; v++) {
		m[BODY_OFF + 1] = (uint8_t)v;
		assert_int_equal(parse_rsp(VTPM_ORD_LOADHASHKEY, m, (size_t)n, &r), -1);
	}
	m[BODY_OFF + 1] = 1;
	m[BODY_OFF] = 0;
	assert_int_equal(parse_rsp(VTPM_ORD_LOADHASHKEY, m, (size_t)n, &r), -1);
	for (size_t i = 0; i < VTPM_KEY_SIZE; i++)
		assert_int_equal(r.rec.key[i], 0);

	/* absent */
	w.rec.present = false;
	n = mgrmsg_response(m, VTPM_ORD_LOADHASHKEY, &w);
	assert_int_equal(parse_rsp(VTPM_ORD_LOADHASHKEY, m, (size_t)n, &r), 0);
	assert_false(r.rec.present);

	/* a failure carries no body, and a body after it is refused */
	w.result = VTPM_FORBIDDEN;
	n = mgrmsg_response(m, VTPM_ORD_LOADHASHKEY, &w);
	assert_int_equal(n, TPM_HDR_SIZE);
	assert_int_equal(parse_rsp(VTPM_ORD_LOADHASHKEY, m, (size_t)n, &r), 0);
	assert_int_equal(r.result, VTPM_FORBIDDEN);
	response_edges(VTPM_ORD_LOADHASHKEY, m, (size_t)n);
}

static void test_other_responses(void **state)
{
	uint8_t m[MGRMSG_MAX];
	struct mgr_response w, r;
	long n;

	(void)state;
	memset(&w, 0, sizeof(w));
	memset(w.hash, 0x77, sizeof(w.hash));
	n = mgrmsg_response(m, VTPM_ORD_GET_BOOT_HASH, &w);
	assert_int_equal(n, TPM_HDR_SIZE + 1 + VTPM_DIGEST_SIZE);
	assert_int_equal(parse_rsp(VTPM_ORD_GET_BOOT_HASH, m, (size_t)n, &r), 0);
	assert_memory_equal(r.hash, w.hash, VTPM_DIGEST_SIZE);
	response_edges(VTPM_ORD_GET_BOOT_HASH, m, (size_t)n);
	m[BODY_OFF] = 2;
	assert_int_equal(parse_rsp(VTPM_ORD_GET_BOOT_HASH, m, (size_t)n, &r), -1);

	n = mgrmsg_response(m, VTPM_ORD_SAVEHASHKEY, &w);
	assert_int_equal(n, TPM_HDR_SIZE);
	assert_int_equal(parse_rsp(VTPM_ORD_SAVEHASHKEY, m, (size_t)n, &r), 0);
	assert_int_equal(r.result, VTPM_SUCCESS);
	response_edges(VTPM_ORD_SAVEHASHKEY, m, (size_t)n);
	/* a request's tag is not a response */
	be16_store(m, VTPM_TAG_REQ);
	assert_int_equal(parse_rsp(VTPM_ORD_SAVEHASHKEY, m, (size_t)n, &r), -1);
	/* an answer for another ordinal does not parse as this one's */
	n = mgrmsg_response(m, VTPM_ORD_GET_BOOT_HASH, &w);
	assert_int_equal(parse_rsp(VTPM_ORD_LOADHASHKEY, m, (size_t)n, &r), -1);
}

static void fill_blobkey(struct mgr_blobkey *k, uint8_t op)
{
	memset(k, 0, sizeof(*k));
	k->op = op;
	k->type = VTPM_BLOB_VOLATILE;
	if (op == MGR_BLOB_IMPORT) {
		memset(k->uuid, 0x5a, sizeof(k->uuid));
		k->seq = 0x1122334455667788ull;
	}
	memset(k->nonce, 0x3c, sizeof(k->nonce));
}

static void test_blobkey_request(void **state)
{
	uint8_t m[MGRMSG_MAX];
	struct mgr_blobkey k;
	struct mgr_request r;
	uint32_t res;
	long n;

	(void)state;
	for (uint8_t op = MGR_BLOB_EXPORT; op <= MGR_BLOB_IMPORT; op++) {
		fill_blobkey(&k, op);
		memset(k.key, 0xee, sizeof(k.key));	/* never sent */
		n = mgrmsg_blobkey_request(m, &k);
		assert_int_equal(n, TPM_HDR_SIZE + 3 + VTPM_UUID_SIZE + 8 + VTPM_BLOB_NONCE_SIZE);
		assert_int_equal(parse_req(m, (size_t)n, &r, &res), 0);
		assert_int_equal(r.ordinal, VTPM_ORD_BLOBKEY);
		assert_int_equal(r.type, VTPM_BLOB_VOLATILE);
		memset(k.key, 0, sizeof(k.key));
		assert_memory_equal(&r.blob, &k, sizeof(k));
		request_edges(m, (size_t)n);
	}
	/* an export names no vTPM and no sequence: the manager supplies both */
	fill_blobkey(&k, MGR_BLOB_IMPORT);
	n = mgrmsg_blobkey_request(m, &k);
	m[BODY_OFF + 1] = MGR_BLOB_EXPORT;
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), -1);
	/* op, type and version are checked */
	for (unsigned v = 0; v < 256; v++) {
		n = mgrmsg_blobkey_request(m, &k);
		m[BODY_OFF + 1] = (uint8_t)v;
		assert_int_equal(parse_req(m, (size_t)n, &r, &res), v == MGR_BLOB_IMPORT ? 0 : -1);
		n = mgrmsg_blobkey_request(m, &k);
		m[BODY_OFF + 2] = (uint8_t)v;
		assert_int_equal(parse_req(m, (size_t)n, &r, &res),
				 v >= VTPM_BLOB_PERMANENT && v <= VTPM_BLOB_SAVESTATE ? 0 : -1);
	}
	n = mgrmsg_blobkey_request(m, &k);
	m[BODY_OFF] = VTPM_PROTO_VERSION + 1;
	assert_int_equal(parse_req(m, (size_t)n, &r, &res), -1);
}

static void test_blobkey_response(void **state)
{
	uint8_t m[MGRMSG_MAX];
	struct mgr_response w, r;
	long n;

	(void)state;
	memset(&w, 0, sizeof(w));
	memset(w.blob.uuid, 0x5a, sizeof(w.blob.uuid));
	w.blob.seq = 42;
	memset(w.blob.key, 0xcd, sizeof(w.blob.key));
	n = mgrmsg_response(m, VTPM_ORD_BLOBKEY, &w);
	assert_int_equal(n, TPM_HDR_SIZE + 1 + VTPM_UUID_SIZE + 8 + VTPM_KEY_SIZE);
	assert_int_equal(parse_rsp(VTPM_ORD_BLOBKEY, m, (size_t)n, &r), 0);
	assert_memory_equal(&r, &w, sizeof(r));
	response_edges(VTPM_ORD_BLOBKEY, m, (size_t)n);
	m[BODY_OFF] = 2;
	assert_int_equal(parse_rsp(VTPM_ORD_BLOBKEY, m, (size_t)n, &r), -1);
	for (size_t i = 0; i < VTPM_KEY_SIZE; i++)
		assert_int_equal(r.blob.key[i], 0);
	/* a refusal carries no key */
	w.result = VTPM_FORBIDDEN;
	n = mgrmsg_response(m, VTPM_ORD_BLOBKEY, &w);
	assert_int_equal(n, TPM_HDR_SIZE);
	assert_int_equal(parse_rsp(VTPM_ORD_BLOBKEY, m, (size_t)n, &r), 0);
	assert_int_equal(r.result, VTPM_FORBIDDEN);
}

/* The sealed blob's frame: header, then exactly the ciphertext it announces. */
static void test_blob_format(void **state)
{
	uint8_t blob[MGRMSG_BLOB_OVERHEAD + 8 + 1];
	struct mgr_blobkey k, got;
	uint32_t plen = 0;
	size_t n = MGRMSG_BLOB_OVERHEAD + 8;

	(void)state;
	fill_blobkey(&k, MGR_BLOB_IMPORT);
	k.op = 0;
	memset(blob, 0x99, sizeof(blob));
	mgrmsg_blob_header(blob, &k, 8);
	assert_memory_equal(blob, "VTPMBLOB", 8);
	assert_int_equal(mgrmsg_blob_parse(blob, n, &got, &plen), 0);
	assert_int_equal(plen, 8);
	assert_memory_equal(&got, &k, sizeof(k));
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		assert_int_equal(mgrmsg_blob_parse(blob, i, &got, &plen), -1);
		assert_int_equal(errno, EBADMSG);
	}
	assert_int_equal(mgrmsg_blob_parse(blob, n + 1, &got, &plen), -1);
	/* magic and format; the type; the length field at 0, below the GCM overhead, max, +-1 */
	for (size_t off = 0; off < 10; off++) {
		blob[off] ^= 1;
		assert_int_equal(mgrmsg_blob_parse(blob, n, &got, &plen), -1);
		blob[off] ^= 1;
	}
	for (uint32_t t = 0; t < 5; t++) {
		be16_store(blob + 10, (uint16_t)t);
		assert_int_equal(mgrmsg_blob_parse(blob, n, &got, &plen),
				 t >= VTPM_BLOB_PERMANENT && t <= VTPM_BLOB_SAVESTATE ? 0 : -1);
	}
	be16_store(blob + 10, VTPM_BLOB_VOLATILE);
	const uint32_t lens[] = { 0, 27, UINT32_MAX, 8 + 28 - 1, 8 + 28 + 1 };
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		be32_store(blob + MGRMSG_BLOB_HDR, lens[i]);
		assert_int_equal(mgrmsg_blob_parse(blob, n, &got, &plen), -1);
	}
	/* an empty plaintext is a well-formed blob */
	mgrmsg_blob_header(blob, &k, 0);
	assert_int_equal(mgrmsg_blob_parse(blob, MGRMSG_BLOB_OVERHEAD, &got, &plen), 0);
	assert_int_equal(plen, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_save_request),
		cmocka_unit_test(test_load_and_boot_hash_requests),
		cmocka_unit_test(test_load_response),
		cmocka_unit_test(test_other_responses),
		cmocka_unit_test(test_blobkey_request),
		cmocka_unit_test(test_blobkey_response),
		cmocka_unit_test(test_blob_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
