/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hwtpm: the manager's only door to the hardware TPM (TPM 2.0), through
 * tpm2-tss ESAPI over a TCTI named in the configuration (device:/dev/tpmrm0
 * by default; swtpm: or mssim: in tests, where a swtpm process stands in).
 * Runs in vtpmmgr. It seals the manager's 32-byte root secret under the
 * standard storage primary key (SRK, ECC P-256 template) with a PCR policy,
 * unseals it, and keeps a TPM NV counter for store anti-rollback. Responses
 * of the TPM are parsed by tpm2-tss; the sealed-blob file is untrusted on
 * load (lengths checked, unmarshalled by tss2-mu).
 */
#ifndef VTPMMGR_HWTPM_H
#define VTPMMGR_HWTPM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HWTPM_SECRET_SIZE	32
#define HWTPM_MAX_PCRS		24
#define HWTPM_DIGEST_SIZE	32	/* sha256 bank only */

/* A PCR selection in the sha256 bank, e.g. "sha256:0,2,4,7". */
struct hwtpm_pcrsel {
	uint32_t mask;		/* bit n = PCR n */
};

/* The expected PCR values a seal was made against (public, for naming mismatches). */
struct hwtpm_pcrvals {
	struct hwtpm_pcrsel sel;
	uint8_t value[HWTPM_MAX_PCRS][HWTPM_DIGEST_SIZE];	/* only selected entries used */
};

struct hwtpm;

/* Parses "sha256:0,2,4,7" (bank must be sha256; PCRs 0..23). 0 or -1. */
int hwtpm_pcrsel_parse(const char *s, struct hwtpm_pcrsel *sel);
/* Formats "sha256:0,2,4,7". */
void hwtpm_pcrsel_format(const struct hwtpm_pcrsel *sel, char *out, size_t n);

/*
 * Connects through the TCTI (e.g. "swtpm:host=127.0.0.1,port=P") and sends
 * Startup(CLEAR) if needed. NULL is refused (EINVAL): config.h has the default.
 */
struct hwtpm *hwtpm_open(const char *tcti);
void hwtpm_close(struct hwtpm *h);
/* Number of TPM commands sent so far (for the benchmark: 0 per vTPM start). */
uint64_t hwtpm_commands(const struct hwtpm *h);

/* Reads the current values of the selected sha256 PCRs. */
int hwtpm_pcr_read(struct hwtpm *h, const struct hwtpm_pcrsel *sel, struct hwtpm_pcrvals *out);

/*
 * Seals secret to the given PCR values (not necessarily the current ones:
 * this is how a running manager approves the next configuration) and
 * returns a self-contained blob (malloc'd) to be stored in a file: format
 * version, the expected PCR values, and the sealed object's public and
 * private parts. The policy digest is computed in software
 * (TPM2_PolicyPCR over the expected values). At least one PCR must be
 * selected (EINVAL otherwise): an unbound root secret is a misconfiguration.
 */
int hwtpm_seal(struct hwtpm *h, const struct hwtpm_pcrvals *expect,
	       const uint8_t secret[HWTPM_SECRET_SIZE], uint8_t **blob, size_t *blob_len);
/*
 * Unseals a blob from hwtpm_seal. Returns 0 with secret filled; or -1 with
 * errno EACCES when the PCR policy does not hold, in which case
 * *mismatch (may be NULL) gets the PCRs whose current value differs from the
 * expected one; -1 with EBADMSG for a malformed blob or one the TPM refuses
 * to load (tampered, or sealed on another TPM or owner); EAGAIN when a PCR
 * was extended during the unseal (try again); other errno for TPM/transport
 * errors (EPROTO: the TPM refused, EIO: transport).
 */
int hwtpm_unseal(struct hwtpm *h, const uint8_t *blob, size_t blob_len,
		 uint8_t secret[HWTPM_SECRET_SIZE], struct hwtpm_pcrsel *mismatch);
/*
 * The expected values recorded in a blob (for status output): checked
 * against the sealed object's policy, vouched for by the TPM only when the
 * blob unseals. -1 with EBADMSG for a malformed blob. No TPM command.
 */
int hwtpm_blob_pcrvals(const uint8_t *blob, size_t blob_len, struct hwtpm_pcrvals *out);
/*
 * The TPM2_PolicyPCR policy digest (sha256, from a fresh session) over the
 * selected expected values, computed in software: what a sealed object's
 * authPolicy holds. No TPM command. 0, or -1 with EINVAL for no PCR.
 */
int hwtpm_policy_digest(const struct hwtpm_pcrvals *vals, uint8_t out[HWTPM_DIGEST_SIZE]);

/*
 * NV counter at index (owner hierarchy, TPMA_NV_COUNTER, owner read, written
 * only with its own authValue (hwtpm_counter_auth), no DA): defined if
 * absent (then its value is what the TPM starts it at, read back). Read
 * returns the current value; increment adds one. Errors: ENOENT
 * (read/increment: not defined), EEXIST (the index exists but is not such
 * a counter), EINVAL (not an NV index handle), EPROTO/EIO.
 */
int hwtpm_counter_ensure(struct hwtpm *h, uint32_t index, uint64_t *value);
int hwtpm_counter_read(struct hwtpm *h, uint32_t index, uint64_t *value);
/* value may be NULL: then the new value is not read back (one command fewer). */
int hwtpm_counter_increment(struct hwtpm *h, uint32_t index, uint64_t *value);
/* Sets the authValue the counter is defined with and advanced by (a secret, kept until close). */
void hwtpm_counter_auth(struct hwtpm *h, const uint8_t auth[HWTPM_SECRET_SIZE]);
/*
 * 1 if the counter at index is an older manager's (owner-writable: anyone
 * with owner authorization can advance it), 0 if it is protected, -1.
 */
int hwtpm_counter_legacy(struct hwtpm *h, uint32_t index);
/*
 * Undefines the counter and defines it again, protected by the authValue;
 * the TPM starts it above any count it ever had. Its new value in *value.
 */
int hwtpm_counter_recreate(struct hwtpm *h, uint32_t index, uint64_t *value);

#endif
