/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * crypto: the few primitives the project uses, on OpenSSL: SHA-256,
 * AES-256-GCM, HKDF-SHA-256 and the kernel's random bytes. Keys are 32
 * bytes; callers wipe them. Authentication failures are -1 with EBADMSG and
 * leave no plaintext behind.
 */
#ifndef VTPM_CRYPTO_H
#define VTPM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_SIZE		32
#define CRYPTO_DIGEST_SIZE	32
#define CRYPTO_IV_SIZE		12
#define CRYPTO_TAG_SIZE		16
/* ciphertext = iv | encrypted bytes | tag */
#define CRYPTO_GCM_OVERHEAD	(CRYPTO_IV_SIZE + CRYPTO_TAG_SIZE)

int crypto_random(void *out, size_t n);
int crypto_sha256(const void *p, size_t n, uint8_t out[CRYPTO_DIGEST_SIZE]);
/* out must hold n + CRYPTO_GCM_OVERHEAD bytes; a fresh random IV each call. */
int crypto_seal(const uint8_t key[CRYPTO_KEY_SIZE], const void *aad, size_t aad_len,
		const void *in, size_t n, uint8_t *out);
/* in holds n >= CRYPTO_GCM_OVERHEAD bytes; out gets n - overhead bytes. */
int crypto_open(const uint8_t key[CRYPTO_KEY_SIZE], const void *aad, size_t aad_len,
		const uint8_t *in, size_t n, uint8_t *out);
/* Derives a 32-byte key from a secret and a label (HKDF-SHA-256, no salt). */
int crypto_derive(const uint8_t secret[CRYPTO_KEY_SIZE], const char *label,
		  uint8_t out[CRYPTO_KEY_SIZE]);

#endif
