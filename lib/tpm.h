/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tpm: TPM 1.2 / 2.0 packet framing shared by every process. A TPM packet
 * starts with a 10-byte header: u16 tag, u32 size (whole packet, header
 * included), u32 ordinal (command) or return code (response). The size field
 * comes from a peer: tpm_hdr_parse caps it before anyone sizes a read on it.
 */
#ifndef VTPM_TPM_H
#define VTPM_TPM_H

#include <stddef.h>
#include <stdint.h>

#define TPM_HDR_SIZE		10
/* Largest packet either TPM version takes here (libtpms TPM2_BUFFER_MAX). */
#define TPM_PACKET_MAX		4096

#define TPM20_ST_NO_SESSIONS	0x8001
#define TPM20_ST_SESSIONS	0x8002
#define TPM_TAG_RQU_COMMAND	0x00c1
#define TPM_TAG_RQU_AUTH1	0x00c2
#define TPM_TAG_RQU_AUTH2	0x00c3
#define TPM_TAG_RSP_COMMAND	0x00c4

#define TPM20_CC_STARTUP		0x00000144
#define TPM20_CC_SHUTDOWN	0x00000145
#define TPM20_CC_SET_LOCALITY	0x20001000	/* vendor: in-band locality, swtpm */
#define TPM20_SU_CLEAR		0x0000
#define TPM20_SU_STATE		0x0001
#define TPM20_RC_SUCCESS		0x000
#define TPM20_RC_FAILURE		0x101
#define TPM20_RC_COMMAND_SIZE	0x142
#define TPM20_RC_VALUE		0x084
#define TPM20_RC_LOCALITY	0x907

#define TPM_ORD_STARTUP		0x00000099
#define TPM_ST_CLEAR		0x0001
#define TPM_ST_STATE		0x0002
#define TPM_ST_DEACTIVATED	0x0003

struct tpm_hdr {
	uint16_t tag;
	uint32_t size;
	uint32_t code;	/* ordinal in a command, return code in a response */
};

/*
 * Parses the header at p[0..n). Returns 1 with *h filled when the header is
 * complete and its size lies in [TPM_HDR_SIZE, max]; 0 when fewer than 10
 * bytes are present; -1 when the size field is out of range.
 */
int tpm_hdr_parse(const uint8_t *p, size_t n, size_t max, struct tpm_hdr *h);

/*
 * The one check every transport applies to a whole packet p[0..n) from a
 * peer: n is at least TPM_HDR_SIZE, at most max, and the header's size field
 * equals n. Returns 0 when it holds, else -1 with errno EINVAL.
 */
int tpm_packet_check(const uint8_t *p, size_t n, size_t max);

/* True if tag is one a TPM 2.0 command uses. */
static inline int tpm_tag_is_tpm2(uint16_t tag)
{
	return tag == TPM20_ST_NO_SESSIONS || tag == TPM20_ST_SESSIONS;
}

/*
 * Writes a 10-byte error response into out (at least TPM_HDR_SIZE bytes):
 * tag 0x8001 for TPM 2.0, 0x00c4 for TPM 1.2. Returns TPM_HDR_SIZE.
 */
size_t tpm_error_response(uint8_t *out, int tpm2, uint32_t rc);

/* Builds TPM2_Startup / TPM2_Shutdown or TPM_Startup into out (>= 12 bytes). */
size_t tpm2_build_su(uint8_t *out, uint32_t cc, uint16_t su);
size_t tpm12_build_startup(uint8_t *out, uint16_t st);

/* Response code of a response; a short one reads as TPM_FAIL (9). */
uint32_t tpm_response_rc(const uint8_t *rsp, size_t n);

#endif
