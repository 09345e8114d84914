/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpmfront_probe: test tool that drives a vtpm's tpmif backend through
 * libtpmfront with raw TPM 2.0 commands, for the tpmif acceptance scenarios
 * (tests/integration/test_tpmif_*.sh). Run by the scripts, never by a
 * daemon. Each subcommand is one scenario's client side; it prints what it
 * measured as "key value..." lines on stdout and exits 1 at the first
 * deviation, saying why on stderr. Every byte from the vtpm is untrusted:
 * responses are parsed with the buffer API, each length checked before use,
 * and a parser must consume the response exactly. A silent backend times
 * out (PROBE_TIMEOUT_MS) instead of hanging the suite.
 *
 * Usage: tpmfront_probe max SOCK NV_INDEX
 *        tpmfront_probe cancel SOCK
 *        tpmfront_probe poll SOCK
 *        tpmfront_probe two SOCK ITERATIONS
 *        tpmfront_probe session SOCK [vanish|hold]
 * Exit: 0 as expected, 1 a deviation, 2 usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "tpm.h"
#include "tpmfront.h"

#define PROBE_TIMEOUT_MS	60000
#define PROBE_ITER_MAX		100000

#define TPM2_CC_CREATE_PRIMARY		0x00000131u
#define TPM2_CC_NV_WRITE		0x00000137u
#define TPM2_CC_NV_READ			0x0000014eu
#define TPM2_CC_CONTEXT_LOAD		0x00000161u
#define TPM2_CC_CONTEXT_SAVE		0x00000162u
#define TPM2_CC_FLUSH_CONTEXT		0x00000165u
#define TPM2_CC_GET_CAPABILITY		0x0000017au
#define TPM2_CC_GET_RANDOM		0x0000017bu
#define TPM2_RH_OWNER			0x40000001u
#define TPM2_RS_PW			0x40000009u
#define TPM2_CAP_HANDLES		0x00000001u
#define TPM2_CAP_TPM_PROPERTIES		0x00000006u
#define TPM2_HT_TRANSIENT_FIRST		0x80000000u
#define TPM2_PT_NV_BUFFER_MAX		0x0000012cu
#define TPM2_ALG_RSA			0x0001u
#define TPM2_ALG_AES			0x0006u
#define TPM2_ALG_SHA256			0x000bu
#define TPM2_ALG_NULL			0x0010u
#define TPM2_ALG_CFB			0x0043u
/* fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|restricted|decrypt */
#define SRK_ATTRIBUTES			0x00030072u
/* TPM_RC_SIZE on the first parameter: the TPM parsed up to the data field */
#define TPM2_RC_SIZE_P1			(0x095u + 0x040u + 0x100u)
#define TPM2_RC_CANCELED		0x909u
/* password session with empty auth: handle, nonce, attributes, hmac */
#define PW_SESSION_SIZE			9u
#define PW_SESSION_RSP_SIZE		5u
#define NV_WRITE_OVERHEAD		(TPM_HDR_SIZE + 8u + 4u + PW_SESSION_SIZE + 2u + 2u)
#define CONTEXT_MAX			4096u
#define RANDOM_MAX			32u
#define HANDLES_MAX			16u	/* more loaded objects than libtpms has slots */
#define GET_RANDOM_CMD_SIZE		(TPM_HDR_SIZE + 2u)
#define HANDLE_CMD_SIZE			(TPM_HDR_SIZE + 4u)	/* FlushContext, ContextSave */

static const char *probe_sock;

static int fail(const char *what)
{
	fprintf(stderr, "tpmfront_probe: %s\n", what);
	return -1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static struct tpmfront *open_front(void)
{
	struct tpmfront *tf = tpmfront_open(probe_sock);

	if (!tf)
		fprintf(stderr, "tpmfront_probe: tpmfront_open %s: %s\n", probe_sock, strerror(errno));
	return tf;
}

/*
 * Receives the answer to the command in flight and checks its framing:
 * the header's size equals what arrived. Returns 0 with *rc set, or -1.
 */
static int recv_rsp(struct tpmfront *tf, uint8_t *rsp, size_t *len, uint32_t *rc)
{
	if (tpmfront_recv(tf, rsp, TPM_PACKET_MAX, len, PROBE_TIMEOUT_MS) < 0) {
		fprintf(stderr, "tpmfront_probe: tpmfront_recv: %s\n", strerror(errno));
		return -1;
	}
	*rc = tpm_response_rc(rsp, *len);
	return 0;
}

/* One command, one answer. */
static int xfer(struct tpmfront *tf, const uint8_t *cmd, size_t clen, uint8_t *rsp, size_t *rlen,
		uint32_t *rc)
{
	if (tpmfront_send(tf, cmd, clen) < 0) {
		fprintf(stderr, "tpmfront_probe: tpmfront_send (%zu bytes): %s\n", clen, strerror(errno));
		return -1;
	}
	return recv_rsp(tf, rsp, rlen, rc);
}

/* --- command builders: each returns the command's length, 0 if it does not fit --- */

static void put_hdr(struct buf *b, uint16_t tag, uint32_t cc)
{
	buf_put_u16(b, tag);
	buf_put_u32(b, 0);	/* patched by finish() */
	buf_put_u32(b, cc);
}

static void put_pw_session(struct buf *b)
{
	buf_put_u32(b, PW_SESSION_SIZE);
	buf_put_u32(b, TPM2_RS_PW);
	buf_put_u16(b, 0);	/* nonce */
	buf_put_u8(b, 0);	/* attributes */
	buf_put_u16(b, 0);	/* empty password */
}

static size_t finish(struct buf *b)
{
	if (!buf_ok(b))
		return 0;
	buf_patch_u32(b, 2, (uint32_t)b->off);
	return b->off;
}

static size_t cmd_get_random(uint8_t *out, uint16_t n)
{
	struct buf b;

	buf_init_write(&b, out, GET_RANDOM_CMD_SIZE);
	put_hdr(&b, TPM20_ST_NO_SESSIONS, TPM2_CC_GET_RANDOM);
	buf_put_u16(&b, n);
	return finish(&b);
}

static size_t cmd_get_capability(uint8_t *out, uint32_t cap, uint32_t prop, uint32_t count)
{
	struct buf b;

	buf_init_write(&b, out, TPM_PACKET_MAX);
	put_hdr(&b, TPM20_ST_NO_SESSIONS, TPM2_CC_GET_CAPABILITY);
	buf_put_u32(&b, cap);
	buf_put_u32(&b, prop);
	buf_put_u32(&b, count);
	return finish(&b);
}

/* NV_Write of n bytes of data at offset 0, owner authorization. */
static size_t cmd_nv_write(uint8_t *out, size_t cap, uint32_t index, const uint8_t *data, uint16_t n)
{
	struct buf b;

	buf_init_write(&b, out, cap);
	put_hdr(&b, TPM20_ST_SESSIONS, TPM2_CC_NV_WRITE);
	buf_put_u32(&b, TPM2_RH_OWNER);
	buf_put_u32(&b, index);
	put_pw_session(&b);
	buf_put_tpm2b(&b, data, n);
	buf_put_u16(&b, 0);	/* offset */
	return finish(&b);
}

static size_t cmd_nv_read(uint8_t *out, uint32_t index, uint16_t n)
{
	struct buf b;

	buf_init_write(&b, out, TPM_PACKET_MAX);
	put_hdr(&b, TPM20_ST_SESSIONS, TPM2_CC_NV_READ);
	buf_put_u32(&b, TPM2_RH_OWNER);
	buf_put_u32(&b, index);
	put_pw_session(&b);
	buf_put_u16(&b, n);
	buf_put_u16(&b, 0);	/* offset */
	return finish(&b);
}

/* An owner storage primary (the TCG SRK template) with an RSA key of `bits`. */
static size_t cmd_create_primary_rsa(uint8_t *out, uint16_t bits)
{
	struct buf b;
	size_t pub_at;

	buf_init_write(&b, out, TPM_PACKET_MAX);
	put_hdr(&b, TPM20_ST_SESSIONS, TPM2_CC_CREATE_PRIMARY);
	buf_put_u32(&b, TPM2_RH_OWNER);
	put_pw_session(&b);
	buf_put_u16(&b, 4);	/* inSensitive: empty userAuth, empty data */
	buf_put_u16(&b, 0);
	buf_put_u16(&b, 0);
	pub_at = b.off;
	buf_put_u16(&b, 0);	/* inPublic size, set below */
	buf_put_u16(&b, TPM2_ALG_RSA);
	buf_put_u16(&b, TPM2_ALG_SHA256);
	buf_put_u32(&b, SRK_ATTRIBUTES);
	buf_put_u16(&b, 0);	/* authPolicy */
	buf_put_u16(&b, TPM2_ALG_AES);
	buf_put_u16(&b, 128);
	buf_put_u16(&b, TPM2_ALG_CFB);
	buf_put_u16(&b, TPM2_ALG_NULL);	/* scheme */
	buf_put_u16(&b, bits);
	buf_put_u32(&b, 0);	/* default exponent */
	buf_put_u16(&b, 0);	/* unique */
	if (buf_ok(&b))
		be16_store(b.data + pub_at, (uint16_t)(b.off - pub_at - 2));
	buf_put_u16(&b, 0);	/* outsideInfo */
	buf_put_u32(&b, 0);	/* creationPCR: no banks */
	return finish(&b);
}

static size_t cmd_handle_only(uint8_t *out, uint32_t cc, uint32_t handle)
{
	struct buf b;

	buf_init_write(&b, out, HANDLE_CMD_SIZE);
	put_hdr(&b, TPM20_ST_NO_SESSIONS, cc);
	buf_put_u32(&b, handle);
	return finish(&b);
}

/* ContextLoad of a TPMS_CONTEXT exactly as ContextSave returned it. */
static size_t cmd_context_load(uint8_t *out, const uint8_t *ctx, size_t n)
{
	struct buf b;

	buf_init_write(&b, out, TPM_PACKET_MAX);
	put_hdr(&b, TPM20_ST_NO_SESSIONS, TPM2_CC_CONTEXT_LOAD);
	buf_put_bytes(&b, ctx, n);
	return finish(&b);
}

/* --- response parsers: 0 when well formed (rc already known to be 0) --- */

static void skip_hdr(struct buf *b, const uint8_t *rsp, size_t len)
{
	buf_init_read(b, rsp, len);
	(void)buf_get_ptr(b, TPM_HDR_SIZE);
}

/* GetRandom: exactly n random bytes, copied to out. */
static int rsp_get_random(const uint8_t *rsp, size_t len, uint16_t n, uint8_t *out)
{
	struct buf b;
	const uint8_t *p;
	uint16_t got;

	skip_hdr(&b, rsp, len);
	p = buf_get_tpm2b(&b, &got, RANDOM_MAX);
	if (!buf_done(&b) || got != n)
		return fail("GetRandom response malformed or of the wrong size");
	memcpy(out, p, n);
	return 0;
}

/* GetCapability of one TPM property: its value. */
static int rsp_property(const uint8_t *rsp, size_t len, uint32_t prop, uint32_t *val)
{
	struct buf b;
	uint32_t cap, count, got;

	skip_hdr(&b, rsp, len);
	(void)buf_get_u8(&b);	/* moreData */
	cap = buf_get_u32(&b);
	count = buf_get_u32(&b);
	got = buf_get_u32(&b);
	*val = buf_get_u32(&b);
	if (!buf_done(&b) || cap != TPM2_CAP_TPM_PROPERTIES || count != 1 || got != prop)
		return fail("GetCapability response malformed");
	return 0;
}

/* GetCapability of transient handles: how many, and the handles. */
static int rsp_handles(const uint8_t *rsp, size_t len, uint32_t *handles, uint32_t *n)
{
	struct buf b;
	uint32_t cap;

	skip_hdr(&b, rsp, len);
	(void)buf_get_u8(&b);	/* moreData */
	cap = buf_get_u32(&b);
	*n = buf_get_u32(&b);
	if (!buf_ok(&b) || cap != TPM2_CAP_HANDLES || *n > HANDLES_MAX)
		return fail("GetCapability(handles) response malformed");
	for (uint32_t i = 0; i < *n; i++)
		handles[i] = buf_get_u32(&b);
	return buf_done(&b) ? 0 : fail("GetCapability(handles) response malformed");
}

/* The rest of a response with sessions: parameterSize, params, one password session answer. */
static int rsp_with_session(struct buf *b, const uint8_t **params, uint32_t *psize)
{
	*psize = buf_get_u32(b);
	if (!buf_ok(b) || *psize > buf_left(b))
		return fail("parameterSize beyond the response");
	*params = buf_get_ptr(b, *psize);
	(void)buf_get_ptr(b, PW_SESSION_RSP_SIZE);
	return buf_done(b) ? 0 : fail("response does not end with one password session answer");
}

static int rsp_nv_read(const uint8_t *rsp, size_t len, uint16_t n, const uint8_t *want)
{
	struct buf b, pb;
	const uint8_t *params, *data;
	uint32_t psize;
	uint16_t got;

	skip_hdr(&b, rsp, len);
	if (rsp_with_session(&b, &params, &psize) < 0)
		return -1;
	buf_init_read(&pb, params, psize);
	data = buf_get_tpm2b(&pb, &got, n);
	if (!buf_done(&pb) || got != n)
		return fail("NV_Read response malformed or of the wrong size");
	return memcmp(data, want, n) ? fail("NV_Read returned other bytes than written") : 0;
}

static int rsp_handle(const uint8_t *rsp, size_t len, uint32_t *handle, int with_session)
{
	struct buf b;
	const uint8_t *params;
	uint32_t psize;

	skip_hdr(&b, rsp, len);
	*handle = buf_get_u32(&b);
	if (with_session)
		return rsp_with_session(&b, &params, &psize);
	return buf_done(&b) ? 0 : fail("response malformed");
}

/* ContextSave: the TPMS_CONTEXT bytes, checked for shape, copied to ctx. */
static int rsp_context(const uint8_t *rsp, size_t len, uint8_t *ctx, size_t *n)
{
	struct buf b;
	uint16_t blob;

	skip_hdr(&b, rsp, len);
	(void)buf_get_u64(&b);	/* sequence */
	(void)buf_get_u32(&b);	/* savedHandle */
	(void)buf_get_u32(&b);	/* hierarchy */
	(void)buf_get_tpm2b(&b, &blob, CONTEXT_MAX);
	if (!buf_done(&b))
		return fail("ContextSave response malformed");
	*n = len - TPM_HDR_SIZE;
	memcpy(ctx, rsp + TPM_HDR_SIZE, *n);
	return 0;
}

/* --- shared steps --- */

/* GetRandom(n) on tf succeeds with n bytes: the ring is usable. */
static int get_random(struct tpmfront *tf, uint16_t n, uint8_t *out)
{
	uint8_t cmd[GET_RANDOM_CMD_SIZE], rsp[TPM_PACKET_MAX];
	size_t clen = cmd_get_random(cmd, n), rlen;
	uint32_t rc;

	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0)
		return -1;
	if (rc != TPM20_RC_SUCCESS) {
		fprintf(stderr, "tpmfront_probe: GetRandom rc 0x%03x\n", rc);
		return -1;
	}
	return rsp_get_random(rsp, rlen, n, out);
}

static int flush(struct tpmfront *tf, uint32_t handle)
{
	uint8_t cmd[HANDLE_CMD_SIZE], rsp[TPM_PACKET_MAX];
	size_t clen = cmd_handle_only(cmd, TPM2_CC_FLUSH_CONTEXT, handle), rlen;
	uint32_t rc;

	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0)
		return -1;
	if (rc != TPM20_RC_SUCCESS || rlen != TPM_HDR_SIZE) {
		fprintf(stderr, "tpmfront_probe: FlushContext 0x%08x rc 0x%03x\n", handle, rc);
		return -1;
	}
	return 0;
}

/* Flushes every loaded transient object; returns how many there were, or -1. */
static long flush_transient(struct tpmfront *tf)
{
	uint8_t cmd[TPM_PACKET_MAX], rsp[TPM_PACKET_MAX];
	uint32_t handles[HANDLES_MAX], n, rc;
	size_t clen = cmd_get_capability(cmd, TPM2_CAP_HANDLES, TPM2_HT_TRANSIENT_FIRST, HANDLES_MAX),
	       rlen;

	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0 || rc != TPM20_RC_SUCCESS ||
	    rsp_handles(rsp, rlen, handles, &n) < 0)
		return fail("GetCapability(handles) failed");
	for (uint32_t i = 0; i < n; i++)
		if (flush(tf, handles[i]) < 0)
			return -1;
	return n;
}

/* --- max: the largest packets --- */

/*
 * 1. NV_Write of TPM2_PT_NV_BUFFER_MAX bytes and NV_Read of them back (the
 *    largest NV transfer the TPM takes), 2. NV_Write whose command is exactly
 *    TPM_PACKET_MAX bytes: libtpms must parse it up to the data field
 *    (TPM_RC_SIZE on parameter 1), not have it refused by the transport
 *    (TPM_RC_COMMAND_SIZE), 3. TPM_PACKET_MAX + 1 is refused before it is
 *    sent, 4. ContextSave of an RSA-3072 primary and ContextLoad of that
 *    context: the largest response and largest valid command libtpms makes.
 */
static int do_max(uint32_t index)
{
	static uint8_t cmd[TPM_PACKET_MAX + 1], rsp[TPM_PACKET_MAX], data[TPM_PACKET_MAX],
		ctx[TPM_PACKET_MAX];
	struct tpmfront *tf = open_front();
	uint32_t rc, nvmax, prim = 0, loaded = 0;
	size_t clen, rlen, ctxlen;
	uint8_t rnd[RANDOM_MAX];
	int ret = -1;

	if (!tf)
		return -1;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);

	clen = cmd_get_capability(cmd, TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1);
	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0 || rc != TPM20_RC_SUCCESS ||
	    rsp_property(rsp, rlen, TPM2_PT_NV_BUFFER_MAX, &nvmax) < 0)
		goto out;
	if (nvmax == 0 || nvmax > TPM_PACKET_MAX - NV_WRITE_OVERHEAD) {
		fail("TPM2_PT_NV_BUFFER_MAX out of range");
		goto out;
	}
	printf("nv_buffer_max %u\n", nvmax);

	clen = cmd_nv_write(cmd, TPM_PACKET_MAX, index, data, (uint16_t)nvmax);
	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0)
		goto out;
	printf("nv_write_max cmd %zu rsp %zu rc 0x%03x\n", clen, rlen, rc);
	if (rc != TPM20_RC_SUCCESS) {
		fail("NV_Write of NV_BUFFER_MAX bytes failed");
		goto out;
	}
	clen = cmd_nv_read(cmd, index, (uint16_t)nvmax);
	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0)
		goto out;
	printf("nv_read_max cmd %zu rsp %zu rc 0x%03x\n", clen, rlen, rc);
	if (rc != TPM20_RC_SUCCESS || rsp_nv_read(rsp, rlen, (uint16_t)nvmax, data) < 0) {
		fail("NV_Read of NV_BUFFER_MAX bytes failed");
		goto out;
	}

	clen = cmd_nv_write(cmd, TPM_PACKET_MAX, index, data,
			    (uint16_t)(TPM_PACKET_MAX - NV_WRITE_OVERHEAD));
	if (clen != TPM_PACKET_MAX) {
		fail("could not build a TPM_PACKET_MAX NV_Write");
		goto out;
	}
	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0)
		goto out;
	printf("nv_write_4096 cmd %zu rsp %zu rc 0x%03x\n", clen, rlen, rc);
	if (rc != TPM2_RC_SIZE_P1 || rlen != TPM_HDR_SIZE) {
		fprintf(stderr, "tpmfront_probe: a %zu-byte NV_Write got rc 0x%03x, want 0x%03x "
			"(TPM_RC_SIZE, parameter 1: parsed by the TPM, not refused on the way)\n",
			clen, rc, TPM2_RC_SIZE_P1);
		goto out;
	}

	clen = cmd_nv_write(cmd, sizeof(cmd), index, data,
			    (uint16_t)(TPM_PACKET_MAX + 1 - NV_WRITE_OVERHEAD));
	if (clen != TPM_PACKET_MAX + 1 || tpmfront_send(tf, cmd, clen) == 0 || errno != EINVAL) {
		fail("a 4097-byte command was not refused with EINVAL");
		goto out;
	}
	printf("send_4097 EINVAL\n");

	clen = cmd_create_primary_rsa(cmd, 3072);
	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0 || rc != TPM20_RC_SUCCESS ||
	    rsp_handle(rsp, rlen, &prim, 1) < 0) {
		fail("CreatePrimary RSA-3072 failed");
		goto out;
	}
	printf("create_primary_rsa3072 cmd %zu rsp %zu\n", clen, rlen);
	clen = cmd_handle_only(cmd, TPM2_CC_CONTEXT_SAVE, prim);
	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0 || rc != TPM20_RC_SUCCESS ||
	    rsp_context(rsp, rlen, ctx, &ctxlen) < 0) {
		fail("ContextSave of the RSA-3072 primary failed");
		goto out;
	}
	printf("context_save_rsa3072 cmd %zu rsp %zu\n", clen, rlen);
	clen = cmd_context_load(cmd, ctx, ctxlen);
	if (xfer(tf, cmd, clen, rsp, &rlen, &rc) < 0 || rc != TPM20_RC_SUCCESS ||
	    rsp_handle(rsp, rlen, &loaded, 0) < 0) {
		fail("ContextLoad of the RSA-3072 context failed");
		goto out;
	}
	printf("context_load_rsa3072 cmd %zu rsp %zu\n", clen, rlen);
	if (get_random(tf, RANDOM_MAX, rnd) < 0)
		goto out;
	printf("getrandom ok\n");
	ret = 0;
out:
	if (loaded && flush(tf, loaded) < 0)
		ret = -1;
	if (prim && flush(tf, prim) < 0)
		ret = -1;
	tpmfront_close(tf);
	return ret;
}

/* --- cancel: a long command cancelled in flight --- */

/*
 * Consumes pending notifications on tpmfront_fd, our end of the event
 * channel socketpair (a byte per notification). Why: when libtpmfront
 * catches an answer while spinning on the page it leaves the backend's
 * notification unread, so without this a later poll() on the fd reports
 * an answer that is not there yet. Never blocks; bounded, in case the
 * backend floods.
 */
static void drain_notifications(struct tpmfront *tf)
{
	char junk[256];

	for (int i = 0; i < 64; i++)
		if (recv(tpmfront_fd(tf), junk, sizeof(junk), MSG_DONTWAIT) <= 0)
			break;
}

/*
 * Sends CreatePrimary RSA-3072 (some 0.1-0.3 s of prime search in libtpms),
 * cancels after delay_us (negative: after the answer is posted, a late
 * cancel), and receives. The protocol allows FINISH (the command completed
 * anyway: its response, success or TPM_RC_CANCELED) or IDLE (aborted:
 * ECANCELED). Either way GetRandom must work afterwards. Then counts the
 * transient objects still loaded that this client was not told about: an
 * IDLE for a command that did run leaves its key loaded ("leaked").
 */
static int cancel_once(struct tpmfront *tf, long delay_us)
{
	uint8_t cmd[TPM_PACKET_MAX], rsp[TPM_PACKET_MAX], rnd[RANDOM_MAX];
	size_t clen = cmd_create_primary_rsa(cmd, 3072), rlen;
	struct pollfd pfd = { .fd = tpmfront_fd(tf), .events = POLLIN };
	uint64_t t0 = now_us(), ms;
	const char *outcome;
	uint32_t rc = 0, handle;
	long leaked;

	drain_notifications(tf);
	if (tpmfront_send(tf, cmd, clen) < 0)
		return fail("tpmfront_send of CreatePrimary failed");
	if (delay_us >= 0) {
		if (delay_us > 0)
			usleep((useconds_t)delay_us);
	} else if (poll(&pfd, 1, PROBE_TIMEOUT_MS) != 1) {
		return fail("no notification for the CreatePrimary answer");
	}
	if (tpmfront_cancel(tf) < 0)
		return fail("tpmfront_cancel failed");
	if (tpmfront_recv(tf, rsp, sizeof(rsp), &rlen, PROBE_TIMEOUT_MS) == 0) {
		rc = tpm_response_rc(rsp, rlen);
		if (rc == TPM20_RC_SUCCESS) {
			outcome = "finish-completed";
			if (rsp_handle(rsp, rlen, &handle, 1) < 0 || flush(tf, handle) < 0)
				return -1;
		} else if (rc == TPM2_RC_CANCELED) {
			outcome = "finish-tpm-canceled";
		} else {
			fprintf(stderr, "tpmfront_probe: cancelled CreatePrimary rc 0x%03x\n", rc);
			return -1;
		}
	} else if (errno == ECANCELED) {
		outcome = "idle-aborted";
	} else {
		fprintf(stderr, "tpmfront_probe: tpmfront_recv after cancel: %s\n", strerror(errno));
		return -1;
	}
	ms = (now_us() - t0) / 1000u;
	if (get_random(tf, RANDOM_MAX, rnd) < 0)
		return fail("GetRandom after the cancel failed: the ring is not usable");
	leaked = flush_transient(tf);
	if (leaked < 0)
		return -1;
	printf("cancel delay_us %ld outcome %s rc 0x%03x ms %llu leaked %ld\n", delay_us, outcome,
	       rc, (unsigned long long)ms, leaked);
	return 0;
}

static int do_cancel(void)
{
	static const long delays[] = { 0, 1000, 5000, 20000, 50000, -1 };
	struct pollfd pfd;
	uint8_t rnd[RANDOM_MAX];
	struct tpmfront *tf = open_front();
	int ret = -1, acked;

	if (!tf)
		return -1;
	if (flush_transient(tf) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++)
		if (cancel_once(tf, delays[i]) < 0)
			goto out;
	/*
	 * A cancel with nothing in flight: the backend may acknowledge it with
	 * IDLE, or the frontend may not pass it on at all. Either way a driver
	 * that waits a moment for the acknowledgement can go on.
	 */
	drain_notifications(tf);
	if (tpmfront_cancel(tf) < 0) {
		fail("tpmfront_cancel with nothing in flight failed");
		goto out;
	}
	pfd = (struct pollfd){ .fd = tpmfront_fd(tf), .events = POLLIN };
	acked = poll(&pfd, 1, 1000) == 1;
	if (get_random(tf, RANDOM_MAX, rnd) < 0) {
		fail("GetRandom after a cancel with nothing in flight failed");
		goto out;
	}
	printf("cancel idle %s, ring usable\n", acked ? "acknowledged" : "not acknowledged");
	ret = 0;
out:
	tpmfront_close(tf);
	return ret;
}

/* --- poll: waiting on tpmfront_fd as an event loop does --- */

/*
 * An event-driven client, as tpm2-tss's asynchronous API drives the TCTI
 * through getPollHandles: after some quick commands (which libtpmfront may
 * catch by spinning on the page), sends a key generation and waits for it
 * with poll() on tpmfront_fd and tpmfront_recv(timeout 0), counting
 * wake-ups. The answer takes tens of milliseconds; a fd that stays readable
 * while it is pending turns this loop into a busy loop. Allowed: one
 * wake-up for notifications left over from the quick commands, the real
 * one, and one spare.
 */
static int do_poll(void)
{
	uint8_t cmd[TPM_PACKET_MAX], rsp[TPM_PACKET_MAX], rnd[RANDOM_MAX];
	struct tpmfront *tf = open_front();
	size_t clen = cmd_create_primary_rsa(cmd, 2048), rlen;
	struct pollfd pfd;
	long wakeups = 0, quick = 50, allowed = 3;
	uint32_t rc, handle;
	int ret = -1;

	if (!tf)
		return -1;
	for (long i = 0; i < quick; i++)
		if (get_random(tf, RANDOM_MAX, rnd) < 0)
			goto out;
	if (tpmfront_send(tf, cmd, clen) < 0) {
		fail("tpmfront_send of CreatePrimary failed");
		goto out;
	}
	for (;;) {
		pfd = (struct pollfd){ .fd = tpmfront_fd(tf), .events = POLLIN };
		if (poll(&pfd, 1, PROBE_TIMEOUT_MS) != 1) {
			fail("no answer within the timeout");
			goto out;
		}
		wakeups++;
		if (tpmfront_recv(tf, rsp, sizeof(rsp), &rlen, 0) == 0)
			break;
		if (errno != ETIMEDOUT) {
			fprintf(stderr, "tpmfront_probe: tpmfront_recv: %s\n", strerror(errno));
			goto out;
		}
	}
	rc = tpm_response_rc(rsp, rlen);
	if (rc != TPM20_RC_SUCCESS || rsp_handle(rsp, rlen, &handle, 1) < 0 || flush(tf, handle) < 0) {
		fail("CreatePrimary RSA-2048 failed");
		goto out;
	}
	printf("poll wakeups %ld\n", wakeups);
	if (wakeups > allowed) {
		fprintf(stderr, "tpmfront_probe: %ld wake-ups for one answer: tpmfront_fd stays "
			"readable while the answer is pending\n", wakeups);
		goto out;
	}
	ret = 0;
out:
	tpmfront_close(tf);
	return ret;
}

/* --- two: two frontends on one vTPM --- */

/* Receives a GetRandom answer on tf and checks it is n bytes. */
static int recv_random(struct tpmfront *tf, uint16_t n, uint8_t *out)
{
	uint8_t rsp[TPM_PACKET_MAX];
	size_t rlen;
	uint32_t rc;

	if (recv_rsp(tf, rsp, &rlen, &rc) < 0)
		return -1;
	if (rc != TPM20_RC_SUCCESS)
		return fail("GetRandom failed");
	return rsp_get_random(rsp, rlen, n, out);
}

/*
 * A guest (a) and a monitor (b) with commands in flight at the same time:
 * the sizes asked for differ between the two (a: 8..23, b: 24..31 bytes),
 * so an answer delivered to the wrong ring shows as a wrong size. The
 * receive order alternates; every 16th round (a) has a key generation in
 * flight while (b) asks, so (b) is served after a slow command of (a).
 */
static int do_two(long iter)
{
	uint8_t cmd_a[TPM_PACKET_MAX], cmd_b[GET_RANDOM_CMD_SIZE], rsp[TPM_PACKET_MAX];
	uint8_t ra[RANDOM_MAX], rb[RANDOM_MAX];
	struct tpmfront *a = open_front(), *b = a ? open_front() : NULL;
	long slow = 0, same = 0;
	int ret = -1;

	if (!a || !b)
		goto out;
	for (long i = 0; i < iter; i++) {
		uint16_t na = (uint16_t)(8 + i % 16), nb = (uint16_t)(24 + i % 8);
		size_t clen_a, clen_b = cmd_get_random(cmd_b, nb), rlen;
		int a_slow = i % 16 == 15;
		uint32_t rc, handle;

		clen_a = a_slow ? cmd_create_primary_rsa(cmd_a, 2048) : cmd_get_random(cmd_a, na);
		if (tpmfront_send(a, cmd_a, clen_a) < 0 || tpmfront_send(b, cmd_b, clen_b) < 0) {
			fail("tpmfront_send with both frontends in flight failed");
			goto out;
		}
		if (i % 2) {
			if (recv_random(b, nb, rb) < 0)
				goto out;
		}
		if (a_slow) {
			if (recv_rsp(a, rsp, &rlen, &rc) < 0 || rc != TPM20_RC_SUCCESS ||
			    rsp_handle(rsp, rlen, &handle, 1) < 0 || flush(a, handle) < 0) {
				fail("CreatePrimary on frontend a failed");
				goto out;
			}
			slow++;
		} else if (recv_random(a, na, ra) < 0) {
			goto out;
		}
		if (!(i % 2) && recv_random(b, nb, rb) < 0)
			goto out;
		/* the two answers are independent draws */
		if (!a_slow && !memcmp(ra, rb, na))
			same++;
	}
	if (same) {
		fail("the two frontends got the same random bytes");
		goto out;
	}
	printf("two iterations %ld slow %ld ok\n", iter, slow);
	ret = 0;
out:
	tpmfront_close(b);
	tpmfront_close(a);
	return ret;
}

/* --- session: one connection, as a booting guest makes it --- */

enum session_end { END_CLOSE, END_VANISH, END_HOLD };

/*
 * Opens, asks for random bytes, and closes with the Closed goodbye. With
 * `vanish`, sends one more command and exits without reading it or saying
 * goodbye, as a guest that is destroyed or kexec'd mid-command; with
 * `hold`, stays connected until its stdin ends, so the caller can look at
 * the backend while a frontend is there.
 */
static int do_session(enum session_end end)
{
	uint8_t rnd[RANDOM_MAX], cmd[GET_RANDOM_CMD_SIZE];
	struct tpmfront *tf = open_front();
	size_t clen = cmd_get_random(cmd, RANDOM_MAX);
	char c;

	if (!tf)
		return -1;
	if (get_random(tf, RANDOM_MAX, rnd) < 0) {
		tpmfront_close(tf);
		return -1;
	}
	switch (end) {
	case END_VANISH:
		if (tpmfront_send(tf, cmd, clen) < 0)
			return fail("tpmfront_send before vanishing failed");
		printf("session served, vanishing\n");
		fflush(stdout);
		_exit(0);	/* the kernel closes the socket, the event channel and the memfd */
	case END_HOLD:
		printf("session served, holding\n");
		while (read(STDIN_FILENO, &c, 1) > 0)
			;
		break;
	case END_CLOSE:
		break;
	}
	tpmfront_close(tf);
	printf("session served, closed\n");
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: tpmfront_probe max SOCK NV_INDEX\n"
		"       tpmfront_probe cancel SOCK\n"
		"       tpmfront_probe poll SOCK\n"
		"       tpmfront_probe two SOCK ITERATIONS\n"
		"       tpmfront_probe session SOCK [vanish|hold]\n");
	return 2;
}

/* Parses a number in [min, max] (any base strtol takes); -1 if it is not one. */
static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	return v;
}

int main(int argc, char **argv)
{
	long n;
	int rc;

	if (argc < 3)
		return usage();
	probe_sock = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "max") && argc == 4) {
		n = parse_num(argv[3], 0x01000000, 0x01ffffff);
		if (n < 0)
			return usage();
		rc = do_max((uint32_t)n);
	} else if (!strcmp(argv[1], "cancel") && argc == 3) {
		rc = do_cancel();
	} else if (!strcmp(argv[1], "poll") && argc == 3) {
		rc = do_poll();
	} else if (!strcmp(argv[1], "two") && argc == 4) {
		n = parse_num(argv[3], 1, PROBE_ITER_MAX);
		if (n < 0)
			return usage();
		rc = do_two(n);
	} else if (!strcmp(argv[1], "session") && argc == 3) {
		rc = do_session(END_CLOSE);
	} else if (!strcmp(argv[1], "session") && argc == 4 && !strcmp(argv[3], "vanish")) {
		rc = do_session(END_VANISH);
	} else if (!strcmp(argv[1], "session") && argc == 4 && !strcmp(argv[3], "hold")) {
		rc = do_session(END_HOLD);
	} else {
		return usage();
	}
	return rc < 0 ? 1 : 0;
}
