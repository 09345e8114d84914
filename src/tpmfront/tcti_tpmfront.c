/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libtss2-tcti-tpmfront: a tpm2-tss TCTI on libtpmfront, so every tpm2-tools
 * command works over the tpmif ring: `tpm2_getrandom -T tpmfront:path=SOCK`.
 * Loaded into the client's process by tctildr; the configuration string is
 * the caller's, the responses come from the vtpm and are checked by
 * libtpmfront. Follows the TCTI rules: transmit, then receive (a NULL
 * buffer asks for the size), timeouts in ms, TRY_AGAIN when not yet done.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_tcti.h>

#include "buf.h"
#include "tpm.h"
#include "tpmfront.h"

#define TCTI_TPMFRONT_MAGIC	0x7470666e74746931ULL	/* "tpfntti1" */
#define RC(base)		(TSS2_TCTI_RC_LAYER | (base))

enum tcti_phase { PHASE_IDLE, PHASE_SENT, PHASE_RECEIVED };

struct tcti_tpmfront {
	TSS2_TCTI_CONTEXT_COMMON_V2 common;
	struct tpmfront *tf;
	enum tcti_phase phase;
	size_t rsp_len;
	uint8_t rsp[TPM_PACKET_MAX];
};

static struct tcti_tpmfront *ctx_of(TSS2_TCTI_CONTEXT *c)
{
	struct tcti_tpmfront *t = (struct tcti_tpmfront *)c;

	return t && t->common.v1.magic == TCTI_TPMFRONT_MAGIC ? t : NULL;
}

static TSS2_RC tcti_transmit(TSS2_TCTI_CONTEXT *c, size_t size, const uint8_t *cmd)
{
	struct tcti_tpmfront *t = ctx_of(c);

	if (!t)
		return RC(TSS2_BASE_RC_BAD_CONTEXT);
	if (!cmd)
		return RC(TSS2_BASE_RC_BAD_REFERENCE);
	if (t->phase != PHASE_IDLE)
		return RC(TSS2_BASE_RC_BAD_SEQUENCE);
	if (tpm_packet_check(cmd, size, TPM_PACKET_MAX) < 0)
		return RC(TSS2_BASE_RC_BAD_VALUE);
	if (tpmfront_send(t->tf, cmd, size) < 0)
		return RC(TSS2_BASE_RC_IO_ERROR);
	t->phase = PHASE_SENT;
	return TSS2_RC_SUCCESS;
}

static TSS2_RC tcti_receive(TSS2_TCTI_CONTEXT *c, size_t *size, uint8_t *rsp, int32_t timeout)
{
	struct tcti_tpmfront *t = ctx_of(c);

	if (!t)
		return RC(TSS2_BASE_RC_BAD_CONTEXT);
	if (!size)
		return RC(TSS2_BASE_RC_BAD_REFERENCE);
	if (t->phase == PHASE_IDLE)
		return RC(TSS2_BASE_RC_BAD_SEQUENCE);
	if (timeout < TSS2_TCTI_TIMEOUT_BLOCK)
		return RC(TSS2_BASE_RC_BAD_VALUE);
	if (t->phase == PHASE_SENT) {
		if (tpmfront_recv(t->tf, t->rsp, sizeof(t->rsp), &t->rsp_len, timeout) < 0) {
			if (errno == ETIMEDOUT)
				return RC(TSS2_BASE_RC_TRY_AGAIN);
			t->phase = PHASE_IDLE;
			return RC(TSS2_BASE_RC_IO_ERROR);
		}
		t->phase = PHASE_RECEIVED;
	}
	if (!rsp) {
		*size = t->rsp_len;
		return TSS2_RC_SUCCESS;
	}
	if (*size < t->rsp_len) {
		*size = t->rsp_len;
		return RC(TSS2_BASE_RC_INSUFFICIENT_BUFFER);
	}
	memcpy(rsp, t->rsp, t->rsp_len);
	*size = t->rsp_len;
	t->phase = PHASE_IDLE;
	return TSS2_RC_SUCCESS;
}

static void tcti_finalize(TSS2_TCTI_CONTEXT *c)
{
	struct tcti_tpmfront *t = ctx_of(c);

	if (!t)
		return;
	tpmfront_close(t->tf);
	t->tf = NULL;
	t->common.v1.magic = 0;
}

static TSS2_RC tcti_cancel(TSS2_TCTI_CONTEXT *c)
{
	struct tcti_tpmfront *t = ctx_of(c);

	if (!t)
		return RC(TSS2_BASE_RC_BAD_CONTEXT);
	if (t->phase != PHASE_SENT)
		return RC(TSS2_BASE_RC_BAD_SEQUENCE);
	return tpmfront_cancel(t->tf) < 0 ? RC(TSS2_BASE_RC_IO_ERROR) : TSS2_RC_SUCCESS;
}

static TSS2_RC tcti_get_poll_handles(TSS2_TCTI_CONTEXT *c, TSS2_TCTI_POLL_HANDLE *h, size_t *n)
{
	struct tcti_tpmfront *t = ctx_of(c);

	if (!t)
		return RC(TSS2_BASE_RC_BAD_CONTEXT);
	if (!n)
		return RC(TSS2_BASE_RC_BAD_REFERENCE);
	if (h) {
		if (*n < 1)
			return RC(TSS2_BASE_RC_INSUFFICIENT_BUFFER);
		h[0].fd = tpmfront_fd(t->tf);
		h[0].events = POLLIN;
	}
	*n = 1;
	return TSS2_RC_SUCCESS;
}

static TSS2_RC tcti_set_locality(TSS2_TCTI_CONTEXT *c, uint8_t locality)
{
	struct tcti_tpmfront *t = ctx_of(c);

	if (!t)
		return RC(TSS2_BASE_RC_BAD_CONTEXT);
	if (t->phase != PHASE_IDLE)
		return RC(TSS2_BASE_RC_BAD_SEQUENCE);
	return tpmfront_set_locality(t->tf, locality) < 0 ? RC(TSS2_BASE_RC_BAD_VALUE)
							   : TSS2_RC_SUCCESS;
}

/* "path=SOCK" or just "SOCK"; the default follows the vtpm man page. */
static const char *conf_path(const char *conf)
{
	if (!conf || !*conf)
		return "/run/vtpm/tpmif.sock";
	return strncmp(conf, "path=", 5) == 0 ? conf + 5 : conf;
}

static TSS2_RC tcti_init(TSS2_TCTI_CONTEXT *c, size_t *size, const char *conf)
{
	struct tcti_tpmfront *t = (struct tcti_tpmfront *)c;

	if (!size)
		return RC(TSS2_BASE_RC_BAD_VALUE);
	if (!c) {
		*size = sizeof(*t);
		return TSS2_RC_SUCCESS;
	}
	if (*size < sizeof(*t))
		return RC(TSS2_BASE_RC_INSUFFICIENT_CONTEXT);
	memset(t, 0, sizeof(*t));
	t->tf = tpmfront_open(conf_path(conf));
	if (!t->tf)
		return RC(TSS2_BASE_RC_NO_CONNECTION);
	t->common.v1.magic = TCTI_TPMFRONT_MAGIC;
	t->common.v1.version = 2;
	t->common.v1.transmit = tcti_transmit;
	t->common.v1.receive = tcti_receive;
	t->common.v1.finalize = tcti_finalize;
	t->common.v1.cancel = tcti_cancel;
	t->common.v1.getPollHandles = tcti_get_poll_handles;
	t->common.v1.setLocality = tcti_set_locality;
	t->common.makeSticky = NULL;
	return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO tcti_info = {
	.version = 2,
	.name = "tcti-tpmfront",
	.description = "TCTI for a vtpm over the tpmif shared-page ring (libtpmfront)",
	.config_help = "path=SOCKET: the vtpm's --tpmif rendezvous socket",
	.init = tcti_init,
};

const TSS2_TCTI_INFO *Tss2_Tcti_Info(void);
const TSS2_TCTI_INFO *Tss2_Tcti_Info(void)
{
	return &tcti_info;
}
