/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hwtpm: the manager's door to the hardware TPM 2.0 through tpm2-tss ESAPI,
 * run by vtpmmgr only. It seals the root secret under the owner
 * hierarchy's standard ECC storage primary (SRK) with a PCR policy whose
 * digest is computed here in software, unseals it through a salted,
 * response-encrypted policy session, and keeps one NV counter for store
 * anti-rollback. TPM responses are parsed by tpm2-tss; the sealed blob comes
 * from a file and is untrusted: every length in it is capped before use,
 * its parts are unmarshalled by tss2-mu, and its recorded PCR values are
 * checked against the sealed object's policy before the TPM sees it.
 *
 * The SRK is created on demand by seal and unseal and flushed before they
 * return: both run a handful of times per manager life, real TPMs have as
 * few as three transient slots, and a handle that holds no TPM object has
 * nothing to lose across a resource manager or TPM reset. The cost is one
 * CreatePrimary per seal or unseal. Every TPM command goes through a small
 * counting TCTI in front of the configured one, so hwtpm_commands() counts
 * the commands ESAPI sends on its own too (NV_ReadPublic inside
 * Esys_TR_FromTPMPublic).
 *
 * Blob format, version 1, big-endian:
 *   u32 magic "VTSB" | u16 version | u32 PCR mask (sha256 bank)
 *   | u8 n (= PCRs in mask) | n x 32-byte expected values, ascending PCR
 *   | u16 len | TPM2B_PUBLIC (tss2-mu) | u16 len | TPM2B_PRIVATE (tss2-mu)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "buf.h"
#include "crypto.h"
#include "hwtpm.h"
#include "log.h"

#define HWTPM_TCTI_MAGIC	0x7674706d68777470ULL	/* "vtpmhwtp" */

#define HWTPM_BLOB_MAGIC	0x56545342u	/* "VTSB" */
#define HWTPM_BLOB_VERSION	1
#define HWTPM_BLOB_HDR		(4 + 2 + 4 + 1)
/* Caps on the blob's length fields: the in-memory size bounds any marshaling. */
#define HWTPM_PUBLIC_MAX	sizeof(TPM2B_PUBLIC)
#define HWTPM_PRIVATE_MAX	sizeof(TPM2B_PRIVATE)
#define HWTPM_BLOB_MAX		(HWTPM_BLOB_HDR + HWTPM_MAX_PCRS * HWTPM_DIGEST_SIZE + \
				 2 + HWTPM_PUBLIC_MAX + 2 + HWTPM_PRIVATE_MAX)

#define HWTPM_PCR_MASK_ALL	((1u << HWTPM_MAX_PCRS) - 1)
#define HWTPM_PCR_SELECT_SIZE	3	/* bytes of bitmap for PCRs 0..23 */
/* PolicyPCR hash input: old digest | CC | TPML_PCR_SELECTION (one bank) | pcrDigest */
#define HWTPM_POLICY_PCR_INPUT	(HWTPM_DIGEST_SIZE + 4 + 4 + 2 + 1 + HWTPM_PCR_SELECT_SIZE + \
				 HWTPM_DIGEST_SIZE)
#define HWTPM_COUNTER_SIZE	8

/*
 * The sealed object: usable only through its PCR policy (no userWithAuth),
 * and adminWithPolicy so that its empty authValue opens no admin role either.
 */
#define HWTPM_SEALED_ATTRS	(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
				 TPMA_OBJECT_NODA | TPMA_OBJECT_ADMINWITHPOLICY)
/*
 * The counter: anyone with owner authorization may read it, only the holder
 * of its own authValue (derived from the root secret) may advance it. NO_DA:
 * the authValue is 32 random bytes, and a lockout must not stop the manager.
 */
#define HWTPM_NV_ATTRS		(TPMA_NV_AUTHWRITE | TPMA_NV_OWNERREAD | TPMA_NV_NO_DA | \
				 (TPM2_NT_COUNTER << TPMA_NV_TPM2_NT_SHIFT))

/*
 * A TCTI in front of the configured one that counts commands. ESAPI sees
 * only the common header; the callbacks find the rest by the header being
 * this struct's first member.
 */
struct hwtpm_tcti {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	TSS2_TCTI_CONTEXT *inner;
	uint64_t commands;
};

struct hwtpm {
	struct hwtpm_tcti tcti;
	ESYS_CONTEXT *esys;
	/* The last NV index looked up, kept open: increments need no NV_ReadPublic. */
	uint32_t nv_index;
	ESYS_TR nv_tr;
	bool nv_legacy;		/* defined by an older manager: owner-writable */
	TPM2B_AUTH nv_auth;	/* the counter's own authValue (secret) */
};

/* The TCG "standard SRK" template, ECC NIST P-256 (unique left empty). */
static const TPM2B_PUBLIC hwtpm_srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
				    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT,
		.parameters.eccDetail = {
			.symmetric = {
				.algorithm = TPM2_ALG_AES,
				.keyBits.aes = 128,
				.mode.aes = TPM2_ALG_CFB,
			},
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

/* Parameter encryption of the sessions salted to the SRK. */
static const TPMT_SYM_DEF hwtpm_session_sym = {
	.algorithm = TPM2_ALG_AES,
	.keyBits.aes = 128,
	.mode.aes = TPM2_ALG_CFB,
};

/* ---- the counting TCTI ---- */

static struct hwtpm_tcti *hwtpm_tcti_of(TSS2_TCTI_CONTEXT *ctx)
{
	return (struct hwtpm_tcti *)(void *)ctx;
}

static TSS2_RC hwtpm_tcti_transmit(TSS2_TCTI_CONTEXT *ctx, size_t size, const uint8_t *cmd)
{
	struct hwtpm_tcti *t = hwtpm_tcti_of(ctx);

	t->commands++;
	return Tss2_Tcti_Transmit(t->inner, size, cmd);
}

static TSS2_RC hwtpm_tcti_receive(TSS2_TCTI_CONTEXT *ctx, size_t *size, uint8_t *rsp, int32_t timeout)
{
	return Tss2_Tcti_Receive(hwtpm_tcti_of(ctx)->inner, size, rsp, timeout);
}

/* The inner TCTI belongs to hwtpm_close, which finalizes it after ESAPI is gone. */
static void hwtpm_tcti_finalize(TSS2_TCTI_CONTEXT *ctx)
{
	(void)ctx;
}

static TSS2_RC hwtpm_tcti_cancel(TSS2_TCTI_CONTEXT *ctx)
{
	return Tss2_Tcti_Cancel(hwtpm_tcti_of(ctx)->inner);
}

static TSS2_RC hwtpm_tcti_poll_handles(TSS2_TCTI_CONTEXT *ctx, TSS2_TCTI_POLL_HANDLE *handles,
				       size_t *n)
{
	return Tss2_Tcti_GetPollHandles(hwtpm_tcti_of(ctx)->inner, handles, n);
}

static TSS2_RC hwtpm_tcti_set_locality(TSS2_TCTI_CONTEXT *ctx, uint8_t locality)
{
	return Tss2_Tcti_SetLocality(hwtpm_tcti_of(ctx)->inner, locality);
}

static TSS2_RC hwtpm_tcti_make_sticky(TSS2_TCTI_CONTEXT *ctx, TPM2_HANDLE *handle, uint8_t sticky)
{
	return Tss2_Tcti_MakeSticky(hwtpm_tcti_of(ctx)->inner, handle, sticky);
}

static void hwtpm_tcti_init(struct hwtpm_tcti *t, TSS2_TCTI_CONTEXT *inner)
{
	memset(t, 0, sizeof(*t));
	t->common.v1.magic = HWTPM_TCTI_MAGIC;
	t->common.v1.version = 2;
	t->common.v1.transmit = hwtpm_tcti_transmit;
	t->common.v1.receive = hwtpm_tcti_receive;
	t->common.v1.finalize = hwtpm_tcti_finalize;
	t->common.v1.cancel = hwtpm_tcti_cancel;
	t->common.v1.getPollHandles = hwtpm_tcti_poll_handles;
	t->common.v1.setLocality = hwtpm_tcti_set_locality;
	t->common.makeSticky = hwtpm_tcti_make_sticky;
	t->inner = inner;
}

/* ---- response codes ---- */

/* A TPM response code without its handle/session/parameter number; 0 if not from the TPM. */
static TSS2_RC hwtpm_tpm_rc(TSS2_RC rc)
{
	if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
		return 0;
	if (rc & TPM2_RC_FMT1)
		return rc & (TPM2_RC_FMT1 | 0x3f);
	return rc;
}

/*
 * Logs a failed call and sets errno: the TPM refusing is EPROTO, the
 * transport or ESAPI failing is EIO (ENOMEM when it ran out of memory).
 */
static void hwtpm_fail(const char *what, TSS2_RC rc)
{
	log_err("hwtpm: %s: 0x%08x %s", what, (unsigned)rc, Tss2_RC_Decode(rc));
	if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER)
		errno = EPROTO;
	else if ((rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_MEMORY)
		errno = ENOMEM;
	else
		errno = EIO;
}

/*
 * Flushes a transient object or session on a cleanup path; failures are
 * only logged, and errno stays what the operation set.
 */
static void hwtpm_flush(struct hwtpm *h, ESYS_TR *tr)
{
	int saved = errno;
	TSS2_RC rc;

	if (*tr == ESYS_TR_NONE)
		return;
	rc = Esys_FlushContext(h->esys, *tr);
	if (rc != TSS2_RC_SUCCESS)
		log_warn("hwtpm: FlushContext: 0x%08x %s", (unsigned)rc, Tss2_RC_Decode(rc));
	*tr = ESYS_TR_NONE;
	errno = saved;
}

/* ---- PCR selections and the software policy ---- */

static bool hwtpm_mask_valid(uint32_t mask)
{
	return mask != 0 && (mask & ~HWTPM_PCR_MASK_ALL) == 0;
}

static unsigned hwtpm_mask_count(uint32_t mask)
{
	return (unsigned)__builtin_popcount(mask);
}

static void hwtpm_tpml_sel(uint32_t mask, TPML_PCR_SELECTION *s)
{
	memset(s, 0, sizeof(*s));
	s->count = 1;
	s->pcrSelections[0].hash = TPM2_ALG_SHA256;
	s->pcrSelections[0].sizeofSelect = HWTPM_PCR_SELECT_SIZE;
	for (unsigned i = 0; i < HWTPM_PCR_SELECT_SIZE; i++)
		s->pcrSelections[0].pcrSelect[i] = (uint8_t)(mask >> (8 * i));
}

int hwtpm_pcrsel_parse(const char *s, struct hwtpm_pcrsel *sel)
{
	static const char prefix[] = "sha256:";
	uint32_t mask = 0;
	const char *p;

	if (!s || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		goto bad;
	p = s + sizeof(prefix) - 1;
	for (;;) {
		unsigned n = 0, digits = 0;

		/* at most two digits: 0..23, and no overflow on hostile input */
		while (*p >= '0' && *p <= '9' && digits < 3) {
			n = n * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 2 || n >= HWTPM_MAX_PCRS || (mask & (1u << n)))
			goto bad;
		mask |= 1u << n;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	sel->mask = mask;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

void hwtpm_pcrsel_format(const struct hwtpm_pcrsel *sel, char *out, size_t n)
{
	size_t off;

	if (n == 0)
		return;
	off = (size_t)snprintf(out, n, "sha256:");
	for (unsigned i = 0; i < HWTPM_MAX_PCRS && off < n; i++) {
		if (!(sel->mask & (1u << i)))
			continue;
		off += (size_t)snprintf(out + off, n - off, "%s%u",
					out[off - 1] == ':' ? "" : ",", i);
	}
}

int hwtpm_policy_digest(const struct hwtpm_pcrvals *vals, uint8_t out[HWTPM_DIGEST_SIZE])
{
	uint8_t concat[HWTPM_MAX_PCRS * HWTPM_DIGEST_SIZE];
	uint8_t input[HWTPM_POLICY_PCR_INPUT];
	uint8_t pcr_digest[HWTPM_DIGEST_SIZE];
	size_t n = 0;
	struct buf b;

	if (!hwtpm_mask_valid(vals->sel.mask)) {
		errno = EINVAL;
		return -1;
	}
	for (unsigned i = 0; i < HWTPM_MAX_PCRS; i++) {
		if (!(vals->sel.mask & (1u << i)))
			continue;
		memcpy(concat + n, vals->value[i], HWTPM_DIGEST_SIZE);
		n += HWTPM_DIGEST_SIZE;
	}
	if (crypto_sha256(concat, n, pcr_digest) < 0)
		return -1;

	/* policyDigest_new = H(policyDigest_old (zeros for a fresh session) || CC || pcrs || pcrDigest) */
	buf_init_write(&b, input, sizeof(input));
	for (unsigned i = 0; i < HWTPM_DIGEST_SIZE; i++)
		buf_put_u8(&b, 0);
	buf_put_u32(&b, TPM2_CC_PolicyPCR);
	buf_put_u32(&b, 1);			/* TPML_PCR_SELECTION.count */
	buf_put_u16(&b, TPM2_ALG_SHA256);
	buf_put_u8(&b, HWTPM_PCR_SELECT_SIZE);
	for (unsigned i = 0; i < HWTPM_PCR_SELECT_SIZE; i++)
		buf_put_u8(&b, (uint8_t)(vals->sel.mask >> (8 * i)));
	buf_put_bytes(&b, pcr_digest, sizeof(pcr_digest));
	if (!buf_done(&b)) {
		errno = EOVERFLOW;
		return -1;
	}
	return crypto_sha256(input, sizeof(input), out);
}

/* ---- open / close ---- */

struct hwtpm *hwtpm_open(const char *tcti)
{
	TSS2_TCTI_CONTEXT *inner = NULL;
	struct hwtpm *h;
	TSS2_RC rc;

	if (!tcti) {
		errno = EINVAL;	/* the caller chooses; config.h holds the one default */
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->nv_tr = ESYS_TR_NONE;
	rc = Tss2_TctiLdr_Initialize(tcti, &inner);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("TCTI", rc);
		goto fail_free;
	}
	hwtpm_tcti_init(&h->tcti, inner);
	rc = Esys_Initialize(&h->esys, (TSS2_TCTI_CONTEXT *)&h->tcti, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("Esys_Initialize", rc);
		goto fail_tcti;
	}
	/* Firmware or the kernel normally started the TPM already: INITIALIZE says so. */
	rc = Esys_Startup(h->esys, TPM2_SU_CLEAR);
	if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) {
		hwtpm_fail("Startup", rc);
		goto fail_esys;
	}
	return h;

fail_esys:
	Esys_Finalize(&h->esys);
fail_tcti:
	Tss2_TctiLdr_Finalize(&inner);
fail_free:
	free(h);
	return NULL;
}

void hwtpm_close(struct hwtpm *h)
{
	TSS2_TCTI_CONTEXT *inner;

	if (!h)
		return;
	inner = h->tcti.inner;
	Esys_Finalize(&h->esys);
	Tss2_TctiLdr_Finalize(&inner);
	explicit_bzero(&h->nv_auth, sizeof(h->nv_auth));
	free(h);
}

uint64_t hwtpm_commands(const struct hwtpm *h)
{
	return h->tcti.commands;
}

/* ---- PCRs ---- */

/*
 * Takes one PCR_Read answer into out and sets *got to the PCRs it held. The
 * TPM's answer, checked anyway: only PCRs we asked for, one digest each.
 */
static int hwtpm_pcr_take(const TPML_PCR_SELECTION *got_sel, const TPML_DIGEST *vals,
			  uint32_t asked, struct hwtpm_pcrvals *out, uint32_t *got)
{
	unsigned k = 0;

	*got = 0;
	for (uint32_t s = 0; s < got_sel->count; s++) {
		const TPMS_PCR_SELECTION *ps = &got_sel->pcrSelections[s];

		if (ps->hash != TPM2_ALG_SHA256)
			continue;
		for (unsigned i = 0; i < ps->sizeofSelect && i < HWTPM_PCR_SELECT_SIZE; i++)
			*got |= (uint32_t)ps->pcrSelect[i] << (8 * i);
	}
	if (*got == 0 || (*got & ~asked) || hwtpm_mask_count(*got) != vals->count)
		return -1;
	for (unsigned i = 0; i < HWTPM_MAX_PCRS; i++) {
		if (!(*got & (1u << i)))
			continue;
		if (vals->digests[k].size != HWTPM_DIGEST_SIZE)
			return -1;
		memcpy(out->value[i], vals->digests[k].buffer, HWTPM_DIGEST_SIZE);
		k++;
	}
	return 0;
}

int hwtpm_pcr_read(struct hwtpm *h, const struct hwtpm_pcrsel *sel, struct hwtpm_pcrvals *out)
{
	uint32_t left = sel->mask, first_counter = 0;

	if (!hwtpm_mask_valid(sel->mask)) {
		errno = EINVAL;
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->sel = *sel;
	/*
	 * A TPM answers at most 8 digests per PCR_Read: ask again for the rest.
	 * An extend between two reads moves the update counter; then start over,
	 * so that the values are of one moment.
	 */
	for (unsigned round = 0; left != 0; round++) {
		TPML_PCR_SELECTION in, *got_sel = NULL;
		TPML_DIGEST *vals = NULL;
		uint32_t got, counter;
		TSS2_RC rc;
		int ok;

		if (round >= HWTPM_MAX_PCRS)
			goto bad_answer;
		hwtpm_tpml_sel(left, &in);
		rc = Esys_PCR_Read(h->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &in,
				   &counter, &got_sel, &vals);
		if (rc != TSS2_RC_SUCCESS) {
			hwtpm_fail("PCR_Read", rc);
			return -1;
		}
		ok = hwtpm_pcr_take(got_sel, vals, left, out, &got);
		Esys_Free(got_sel);
		Esys_Free(vals);
		if (ok < 0)
			goto bad_answer;
		if (left == sel->mask)
			first_counter = counter;
		left &= ~got;
		if (counter != first_counter)
			left = sel->mask;
	}
	return 0;

bad_answer:
	log_err("hwtpm: PCR_Read: unexpected selection or digest in the answer");
	errno = EIO;
	return -1;
}

/* ---- the SRK and sessions ---- */

static int hwtpm_srk_create(struct hwtpm *h, ESYS_TR *srk)
{
	const TPM2B_SENSITIVE_CREATE sens = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION creation_pcr = { 0 };
	TSS2_RC rc;

	rc = Esys_CreatePrimary(h->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				ESYS_TR_NONE, &sens, &hwtpm_srk_template, &outside, &creation_pcr,
				srk, NULL, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		*srk = ESYS_TR_NONE;
		hwtpm_fail("CreatePrimary (SRK)", rc);
		return -1;
	}
	return 0;
}

/*
 * A session salted to the SRK: its key comes from a salt only the TPM can
 * decrypt, so parameters it encrypts are not readable on the bus. attrs
 * picks the direction (DECRYPT: command, ENCRYPT: response).
 */
static int hwtpm_session_start(struct hwtpm *h, ESYS_TR srk, TPM2_SE type, TPMA_SESSION attrs,
			       ESYS_TR *sess)
{
	TSS2_RC rc;

	rc = Esys_StartAuthSession(h->esys, srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   ESYS_TR_NONE, NULL, type, &hwtpm_session_sym, TPM2_ALG_SHA256, sess);
	if (rc != TSS2_RC_SUCCESS) {
		*sess = ESYS_TR_NONE;
		hwtpm_fail("StartAuthSession", rc);
		return -1;
	}
	/* continueSession stays set: every path flushes the session itself. */
	rc = Esys_TRSess_SetAttributes(h->esys, *sess, attrs | TPMA_SESSION_CONTINUESESSION,
				       0xff);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("TRSess_SetAttributes", rc);
		hwtpm_flush(h, sess);
		return -1;
	}
	return 0;
}

/* ---- seal ---- */

static void hwtpm_blob_put(struct buf *b, const struct hwtpm_pcrvals *vals,
			   const uint8_t *pub, uint16_t pub_len, const uint8_t *priv, uint16_t priv_len)
{
	buf_put_u32(b, HWTPM_BLOB_MAGIC);
	buf_put_u16(b, HWTPM_BLOB_VERSION);
	buf_put_u32(b, vals->sel.mask);
	buf_put_u8(b, (uint8_t)hwtpm_mask_count(vals->sel.mask));
	for (unsigned i = 0; i < HWTPM_MAX_PCRS; i++)
		if (vals->sel.mask & (1u << i))
			buf_put_bytes(b, vals->value[i], HWTPM_DIGEST_SIZE);
	buf_put_u16(b, pub_len);
	buf_put_bytes(b, pub, pub_len);
	buf_put_u16(b, priv_len);
	buf_put_bytes(b, priv, priv_len);
}

int hwtpm_seal(struct hwtpm *h, const struct hwtpm_pcrvals *expect,
	       const uint8_t secret[HWTPM_SECRET_SIZE], uint8_t **blob, size_t *blob_len)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC in_pub = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION creation_pcr = { 0 };
	TPM2B_PUBLIC *out_pub = NULL;
	TPM2B_PRIVATE *out_priv = NULL;
	uint8_t pub[HWTPM_PUBLIC_MAX], priv[HWTPM_PRIVATE_MAX];
	size_t pub_len = 0, priv_len = 0, len;
	ESYS_TR srk = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	uint8_t *p = NULL;
	struct buf b;
	TSS2_RC rc;
	int ret = -1;

	in_pub.publicArea.type = TPM2_ALG_KEYEDHASH;
	in_pub.publicArea.nameAlg = TPM2_ALG_SHA256;
	in_pub.publicArea.objectAttributes = HWTPM_SEALED_ATTRS;
	in_pub.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	in_pub.publicArea.authPolicy.size = HWTPM_DIGEST_SIZE;
	if (hwtpm_policy_digest(expect, in_pub.publicArea.authPolicy.buffer) < 0)
		return -1;
	sens.sensitive.data.size = HWTPM_SECRET_SIZE;
	memcpy(sens.sensitive.data.buffer, secret, HWTPM_SECRET_SIZE);

	if (hwtpm_srk_create(h, &srk) < 0)
		goto out_wipe;
	/* DECRYPT: the secret, Create's first parameter, crosses the bus encrypted. */
	if (hwtpm_session_start(h, srk, TPM2_SE_HMAC, TPMA_SESSION_DECRYPT, &sess) < 0)
		goto out_srk;
	rc = Esys_Create(h->esys, srk, sess, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &in_pub, &outside,
			 &creation_pcr, &out_priv, &out_pub, NULL, NULL, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("Create (sealed object)", rc);
		goto out_sess;
	}
	rc = Tss2_MU_TPM2B_PUBLIC_Marshal(out_pub, pub, sizeof(pub), &pub_len);
	if (rc == TSS2_RC_SUCCESS)
		rc = Tss2_MU_TPM2B_PRIVATE_Marshal(out_priv, priv, sizeof(priv), &priv_len);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("marshal sealed object", rc);
		goto out_objs;
	}
	len = HWTPM_BLOB_HDR + hwtpm_mask_count(expect->sel.mask) * HWTPM_DIGEST_SIZE +
	      2 + pub_len + 2 + priv_len;
	p = malloc(len);
	if (!p)
		goto out_objs;
	buf_init_write(&b, p, len);
	hwtpm_blob_put(&b, expect, pub, (uint16_t)pub_len, priv, (uint16_t)priv_len);
	if (!buf_done(&b)) {
		free(p);
		errno = EOVERFLOW;
		goto out_objs;
	}
	*blob = p;
	*blob_len = len;
	ret = 0;

out_objs:
	Esys_Free(out_pub);
	Esys_Free(out_priv);
out_sess:
	hwtpm_flush(h, &sess);
out_srk:
	hwtpm_flush(h, &srk);
out_wipe:
	explicit_bzero(&sens, sizeof(sens));
	return ret;
}

/* ---- blob parsing (untrusted file contents) ---- */

struct hwtpm_blob {
	struct hwtpm_pcrvals vals;
	TPM2B_PUBLIC pub;
	TPM2B_PRIVATE priv;
};

/*
 * Reads a u16-length-prefixed TPM2B whose own size must fill the rest of
 * that length: tss2-mu 3.2.1 unmarshals a TPM2B_PUBLIC by its contents and
 * does not check the size in front of them, so the check is here.
 */
static const uint8_t *hwtpm_blob_part(struct buf *b, size_t max, uint16_t *len)
{
	const uint8_t *p;

	*len = buf_get_u16(b);
	if (*len > max || *len < 2)
		return NULL;
	p = buf_get_ptr(b, *len);
	if (!p || be16_load(p) != *len - 2)	/* buf_get_ptr gave *len >= 2 bytes */
		return NULL;
	return p;
}

static int hwtpm_blob_parse(const uint8_t *blob, size_t blob_len, struct hwtpm_blob *out)
{
	uint8_t policy[HWTPM_DIGEST_SIZE];
	const TPMT_PUBLIC *pa;
	const uint8_t *p;
	size_t off;
	uint16_t len;
	unsigned n;
	struct buf b;

	memset(out, 0, sizeof(*out));
	if (blob_len > HWTPM_BLOB_MAX)
		goto bad;
	buf_init_read(&b, blob, blob_len);
	if (buf_get_u32(&b) != HWTPM_BLOB_MAGIC || buf_get_u16(&b) != HWTPM_BLOB_VERSION)
		goto bad;
	out->vals.sel.mask = buf_get_u32(&b);
	n = buf_get_u8(&b);
	if (!buf_ok(&b) || !hwtpm_mask_valid(out->vals.sel.mask) ||
	    n != hwtpm_mask_count(out->vals.sel.mask))
		goto bad;
	for (unsigned i = 0; i < HWTPM_MAX_PCRS; i++)
		if (out->vals.sel.mask & (1u << i))
			buf_get_bytes(&b, out->vals.value[i], HWTPM_DIGEST_SIZE);

	p = hwtpm_blob_part(&b, HWTPM_PUBLIC_MAX, &len);
	off = 0;
	if (!p || Tss2_MU_TPM2B_PUBLIC_Unmarshal(p, len, &off, &out->pub) != TSS2_RC_SUCCESS ||
	    off != len)
		goto bad;
	p = hwtpm_blob_part(&b, HWTPM_PRIVATE_MAX, &len);
	off = 0;
	if (!p || Tss2_MU_TPM2B_PRIVATE_Unmarshal(p, len, &off, &out->priv) != TSS2_RC_SUCCESS ||
	    off != len)
		goto bad;
	if (!buf_done(&b))
		goto bad;

	/*
	 * The object must be one hwtpm_seal makes, and the recorded values must
	 * be the ones its policy holds: the TPM's Load then vouches for the
	 * public part, and with it for the values shown in status output.
	 */
	pa = &out->pub.publicArea;
	if (pa->type != TPM2_ALG_KEYEDHASH || pa->nameAlg != TPM2_ALG_SHA256 ||
	    pa->objectAttributes != HWTPM_SEALED_ATTRS ||
	    pa->parameters.keyedHashDetail.scheme.scheme != TPM2_ALG_NULL ||
	    pa->authPolicy.size != HWTPM_DIGEST_SIZE ||
	    hwtpm_policy_digest(&out->vals, policy) < 0 ||
	    memcmp(policy, pa->authPolicy.buffer, HWTPM_DIGEST_SIZE) != 0)
		goto bad;
	return 0;

bad:
	errno = EBADMSG;
	return -1;
}

int hwtpm_blob_pcrvals(const uint8_t *blob, size_t blob_len, struct hwtpm_pcrvals *out)
{
	struct hwtpm_blob *pb = malloc(sizeof(*pb));
	int ret;

	if (!pb)
		return -1;
	ret = hwtpm_blob_parse(blob, blob_len, pb);
	if (ret == 0)
		*out = pb->vals;
	free(pb);
	return ret;
}

/* ---- unseal ---- */

/* After a policy failure: which selected PCRs no longer hold the expected value. */
static void hwtpm_mismatch(struct hwtpm *h, const struct hwtpm_pcrvals *expect,
			   struct hwtpm_pcrsel *mismatch)
{
	struct hwtpm_pcrvals now;

	mismatch->mask = 0;
	if (hwtpm_pcr_read(h, &expect->sel, &now) < 0)
		return;
	for (unsigned i = 0; i < HWTPM_MAX_PCRS; i++)
		if ((expect->sel.mask & (1u << i)) &&
		    memcmp(now.value[i], expect->value[i], HWTPM_DIGEST_SIZE) != 0)
			mismatch->mask |= 1u << i;
}

int hwtpm_unseal(struct hwtpm *h, const uint8_t *blob, size_t blob_len,
		 uint8_t secret[HWTPM_SECRET_SIZE], struct hwtpm_pcrsel *mismatch)
{
	const TPM2B_DIGEST any = { 0 };	/* empty pcrDigest: the TPM takes the current values */
	TPM2B_SENSITIVE_DATA *data = NULL;
	ESYS_TR srk = ESYS_TR_NONE, obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
	TPML_PCR_SELECTION sel;
	struct hwtpm_blob *pb;
	TSS2_RC rc;
	int ret = -1;

	if (mismatch)
		mismatch->mask = 0;
	pb = malloc(sizeof(*pb));
	if (!pb)
		return -1;
	if (hwtpm_blob_parse(blob, blob_len, pb) < 0)
		goto out_free;
	if (hwtpm_srk_create(h, &srk) < 0)
		goto out_free;
	rc = Esys_Load(h->esys, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
		       &pb->priv, &pb->pub, &obj);
	if (rc != TSS2_RC_SUCCESS) {
		obj = ESYS_TR_NONE;
		hwtpm_fail("Load (sealed object)", rc);
		/* A parameter the TPM refuses (integrity, size, value) is the blob's fault. */
		if ((hwtpm_tpm_rc(rc) & TPM2_RC_FMT1) && (rc & TPM2_RC_P))
			errno = EBADMSG;
		goto out_srk;
	}
	/* ENCRYPT: the unsealed secret, Unseal's first response parameter, comes back encrypted. */
	if (hwtpm_session_start(h, srk, TPM2_SE_POLICY, TPMA_SESSION_ENCRYPT, &sess) < 0)
		goto out_obj;
	hwtpm_tpml_sel(pb->vals.sel.mask, &sel);
	rc = Esys_PolicyPCR(h->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &any, &sel);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("PolicyPCR", rc);
		goto out_sess;
	}
	rc = Esys_Unseal(h->esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &data);
	if (rc != TSS2_RC_SUCCESS) {
		if (hwtpm_tpm_rc(rc) == TPM2_RC_POLICY_FAIL) {
			/* Expected when a PCR moved: say which, without the ESAPI noise. */
			if (mismatch)
				hwtpm_mismatch(h, &pb->vals, mismatch);
			errno = EACCES;
		} else if (hwtpm_tpm_rc(rc) == TPM2_RC_PCR_CHANGED) {
			/* a PCR was extended between PolicyPCR and Unseal: try again */
			log_warn("hwtpm: Unseal: PCRs changed during the policy session");
			errno = EAGAIN;
		} else {
			hwtpm_fail("Unseal", rc);
		}
		goto out_sess;
	}
	if (data->size != HWTPM_SECRET_SIZE) {
		log_err("hwtpm: Unseal: secret of %u bytes, expected %u", (unsigned)data->size,
			(unsigned)HWTPM_SECRET_SIZE);
		errno = EBADMSG;
		goto out_data;
	}
	memcpy(secret, data->buffer, HWTPM_SECRET_SIZE);
	ret = 0;

out_data:
	explicit_bzero(data, sizeof(*data));
	Esys_Free(data);
out_sess:
	hwtpm_flush(h, &sess);
out_obj:
	hwtpm_flush(h, &obj);
out_srk:
	hwtpm_flush(h, &srk);
out_free:
	free(pb);
	return ret;
}

/* ---- NV counter ---- */

/* Drops the cached index (ESAPI bookkeeping only, no TPM command); keeps errno. */
static void hwtpm_nv_forget(struct hwtpm *h)
{
	int saved = errno;

	if (h->nv_tr != ESYS_TR_NONE)
		(void)Esys_TR_Close(h->esys, &h->nv_tr);
	h->nv_tr = ESYS_TR_NONE;
	errno = saved;
}

/*
 * The ESYS_TR of an existing counter index: 0, or -1 with ENOENT when the
 * index is not defined. An index that exists but is not an 8-byte owner
 * counter is refused (EEXIST): someone else's index, not ours to use.
 */
static int hwtpm_nv_lookup(struct hwtpm *h, uint32_t index, bool *written)
{
	TPM2B_NV_PUBLIC *pub = NULL;
	const TPMS_NV_PUBLIC *np;
	ESYS_TR tr;
	TSS2_RC rc;

	if (h->nv_tr != ESYS_TR_NONE && h->nv_index == index && !written)
		return 0;
	hwtpm_nv_forget(h);
	rc = Esys_TR_FromTPMPublic(h->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
	if (rc != TSS2_RC_SUCCESS) {
		if (hwtpm_tpm_rc(rc) == TPM2_RC_HANDLE) {
			errno = ENOENT;
			return -1;
		}
		hwtpm_fail("TR_FromTPMPublic (NV)", rc);
		return -1;
	}
	rc = Esys_NV_ReadPublic(h->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("NV_ReadPublic", rc);
		(void)Esys_TR_Close(h->esys, &tr);
		return -1;
	}
	np = &pub->nvPublic;
	/* ours (AUTHWRITE only), or an older manager's (OWNERWRITE only): see hwtpm_counter_legacy */
	if (np->nvIndex != index || np->dataSize != HWTPM_COUNTER_SIZE ||
	    ((np->attributes & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT) != TPM2_NT_COUNTER ||
	    !(np->attributes & TPMA_NV_OWNERREAD) ||
	    !(np->attributes & TPMA_NV_OWNERWRITE) == !(np->attributes & TPMA_NV_AUTHWRITE)) {
		log_err("hwtpm: NV index 0x%08x is not a counter of ours", (unsigned)index);
		Esys_Free(pub);
		(void)Esys_TR_Close(h->esys, &tr);
		errno = EEXIST;
		return -1;
	}
	if (written)
		*written = (np->attributes & TPMA_NV_WRITTEN) != 0;
	h->nv_legacy = (np->attributes & TPMA_NV_OWNERWRITE) != 0;
	Esys_Free(pub);
	h->nv_index = index;
	h->nv_tr = tr;
	if (Esys_TR_SetAuth(h->esys, tr, &h->nv_auth) != TSS2_RC_SUCCESS) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int hwtpm_nv_index_valid(uint32_t index)
{
	if ((index & TPM2_HR_RANGE_MASK) != TPM2_HR_NV_INDEX) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int hwtpm_nv_read(struct hwtpm *h, uint64_t *value)
{
	TPM2B_MAX_NV_BUFFER *data = NULL;
	struct buf b;
	TSS2_RC rc;

	rc = Esys_NV_Read(h->esys, ESYS_TR_RH_OWNER, h->nv_tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			  ESYS_TR_NONE, HWTPM_COUNTER_SIZE, 0, &data);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("NV_Read", rc);
		if (hwtpm_tpm_rc(rc) == TPM2_RC_HANDLE)
			hwtpm_nv_forget(h);	/* undefined under us: look it up again */
		return -1;
	}
	buf_init_read(&b, data->buffer, data->size);
	*value = buf_get_u64(&b);
	Esys_Free(data);
	if (!buf_done(&b)) {
		log_err("hwtpm: NV_Read: counter of the wrong size");
		errno = EIO;
		return -1;
	}
	return 0;
}

static int hwtpm_nv_increment(struct hwtpm *h)
{
	TSS2_RC rc;

	/* the index's own authValue; an older manager's counter still takes the owner's */
	rc = Esys_NV_Increment(h->esys, h->nv_legacy ? ESYS_TR_RH_OWNER : h->nv_tr, h->nv_tr,
			       ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("NV_Increment", rc);
		if (hwtpm_tpm_rc(rc) == TPM2_RC_HANDLE)
			hwtpm_nv_forget(h);
		return -1;
	}
	return 0;
}

static int hwtpm_nv_define(struct hwtpm *h, uint32_t index)
{
	TPM2B_NV_PUBLIC pub = {
		.nvPublic = {
			.nvIndex = index,
			.nameAlg = TPM2_ALG_SHA256,
			.attributes = HWTPM_NV_ATTRS,
			.dataSize = HWTPM_COUNTER_SIZE,
		},
	};
	TSS2_RC rc;

	hwtpm_nv_forget(h);
	rc = Esys_NV_DefineSpace(h->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				 ESYS_TR_NONE, &h->nv_auth, &pub, &h->nv_tr);
	if (rc != TSS2_RC_SUCCESS) {
		h->nv_tr = ESYS_TR_NONE;
		hwtpm_fail("NV_DefineSpace", rc);
		return -1;
	}
	h->nv_index = index;
	h->nv_legacy = false;
	if (Esys_TR_SetAuth(h->esys, h->nv_tr, &h->nv_auth) != TSS2_RC_SUCCESS) {
		errno = EIO;
		return -1;
	}
	log_info("hwtpm: defined NV counter 0x%08x", (unsigned)index);
	return 0;
}

int hwtpm_counter_ensure(struct hwtpm *h, uint32_t index, uint64_t *value)
{
	bool written = false;

	if (hwtpm_nv_index_valid(index) < 0)
		return -1;
	if (hwtpm_nv_lookup(h, index, &written) < 0) {
		if (errno != ENOENT || hwtpm_nv_define(h, index) < 0)
			return -1;
	}
	/*
	 * A counter reads only after its first increment, and starts from the
	 * highest count this TPM ever had: never below an earlier incarnation.
	 */
	if (!written && hwtpm_nv_increment(h) < 0)
		return -1;
	return hwtpm_nv_read(h, value);
}

int hwtpm_counter_read(struct hwtpm *h, uint32_t index, uint64_t *value)
{
	if (hwtpm_nv_index_valid(index) < 0 || hwtpm_nv_lookup(h, index, NULL) < 0)
		return -1;
	return hwtpm_nv_read(h, value);
}

int hwtpm_counter_increment(struct hwtpm *h, uint32_t index, uint64_t *value)
{
	if (hwtpm_nv_index_valid(index) < 0 || hwtpm_nv_lookup(h, index, NULL) < 0 ||
	    hwtpm_nv_increment(h) < 0)
		return -1;
	return value ? hwtpm_nv_read(h, value) : 0;
}

void hwtpm_counter_auth(struct hwtpm *h, const uint8_t auth[HWTPM_SECRET_SIZE])
{
	h->nv_auth.size = HWTPM_SECRET_SIZE;
	memcpy(h->nv_auth.buffer, auth, HWTPM_SECRET_SIZE);
	if (h->nv_tr != ESYS_TR_NONE)
		(void)Esys_TR_SetAuth(h->esys, h->nv_tr, &h->nv_auth);
}

int hwtpm_counter_legacy(struct hwtpm *h, uint32_t index)
{
	if (hwtpm_nv_index_valid(index) < 0 || hwtpm_nv_lookup(h, index, NULL) < 0)
		return -1;
	return h->nv_legacy ? 1 : 0;
}

int hwtpm_counter_recreate(struct hwtpm *h, uint32_t index, uint64_t *value)
{
	TSS2_RC rc;

	if (hwtpm_nv_index_valid(index) < 0 || hwtpm_nv_lookup(h, index, NULL) < 0)
		return -1;
	rc = Esys_NV_UndefineSpace(h->esys, ESYS_TR_RH_OWNER, h->nv_tr, ESYS_TR_PASSWORD,
				   ESYS_TR_NONE, ESYS_TR_NONE);
	if (rc != TSS2_RC_SUCCESS) {
		hwtpm_fail("NV_UndefineSpace", rc);
		return -1;
	}
	h->nv_tr = ESYS_TR_NONE;	/* UndefineSpace closed it */
	/* the TPM starts the new counter above every count it ever had: never lower */
	if (hwtpm_nv_define(h, index) < 0 || hwtpm_nv_increment(h) < 0)
		return -1;
	return hwtpm_nv_read(h, value);
}
