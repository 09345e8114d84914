/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mgrmsg: encoder and decoder of the vtpm <-> vtpmmgr messages
 * (include/vtpmmgr_proto.h). Shared by both processes: each side decodes
 * what the other sends with the exact-length checks here, and nothing else.
 */
#ifndef VTPM_MGRMSG_H
#define VTPM_MGRMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtpmmgr_proto.h"

/* Largest message either way: header + the largest body. */
#define MGRMSG_MAX	128

/* A state record: what the manager keeps per vTPM and blob type. */
struct mgr_record {
	bool present;
	uint64_t seq;
	uint8_t digest[VTPM_DIGEST_SIZE];
	uint8_t key[VTPM_KEY_SIZE];
};

struct mgr_request {
	uint32_t ordinal;
	uint8_t type;			/* SAVE/LOAD */
	struct mgr_record rec;		/* SAVE */
};

struct mgr_response {
	uint32_t result;
	uint8_t uuid[VTPM_UUID_SIZE];	/* LOAD */
	struct mgr_record rec;		/* LOAD */
	uint8_t hash[VTPM_DIGEST_SIZE];	/* GET_BOOT_HASH */
};

/* Requests (vtpm side). Return bytes written into out (MGRMSG_MAX), or -1. */
long mgrmsg_save_request(uint8_t *out, uint8_t type, const struct mgr_record *rec);
long mgrmsg_load_request(uint8_t *out, uint8_t type);
long mgrmsg_boot_hash_request(uint8_t *out);
/* Parses a response to `ordinal`. 0, or -1 (EBADMSG) for anything malformed. */
int mgrmsg_parse_response(uint32_t ordinal, const uint8_t *p, size_t n, struct mgr_response *r);

/* Manager side: parses a request; -1 with the VTPM_* result to answer in *result. */
int mgrmsg_parse_request(const uint8_t *p, size_t n, struct mgr_request *r, uint32_t *result);
/* Builds the response to ordinal (result VTPM_SUCCESS carries the body). */
long mgrmsg_response(uint8_t *out, uint32_t ordinal, const struct mgr_response *r);

/* True if every byte is zero (the "no state" record of SAVEHASHKEY). */
bool mgrmsg_record_is_empty(const struct mgr_record *rec);

#endif
