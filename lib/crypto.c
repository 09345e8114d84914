/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * crypto: OpenSSL EVP wrappers. Inputs sized by a peer are the caller's to
 * cap; here every length is checked against the fixed overheads before use.
 */
#include "crypto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>
#include <sys/random.h>

int crypto_random(void *out, size_t n)
{
	uint8_t *p = out;

	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int crypto_sha256(const void *p, size_t n, uint8_t out[CRYPTO_DIGEST_SIZE])
{
	unsigned int len = 0;

	if (!EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) || len != CRYPTO_DIGEST_SIZE) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int gcm(int enc, const uint8_t *key, const uint8_t *iv, const void *aad, size_t aad_len,
	       const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	if (!c || n > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX) {
		EVP_CIPHER_CTX_free(c);
		errno = ENOMEM;
		return -1;
	}
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_IV_SIZE, NULL) &&
	     EVP_CipherInit_ex(c, NULL, NULL, key, iv, enc) &&
	     (aad_len == 0 || EVP_CipherUpdate(c, NULL, &len, aad, (int)aad_len)) &&
	     (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n)) &&
	     (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_SIZE, tag)) &&
	     EVP_CipherFinal_ex(c, out + (n ? len : 0), &len) &&
	     (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_SIZE, tag));
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		if (!enc)
			explicit_bzero(out, n);
		errno = enc ? EIO : EBADMSG;
		return -1;
	}
	return 0;
}

int crypto_seal(const uint8_t key[CRYPTO_KEY_SIZE], const void *aad, size_t aad_len,
		const void *in, size_t n, uint8_t *out)
{
	if (crypto_random(out, CRYPTO_IV_SIZE) < 0)
		return -1;
	return gcm(1, key, out, aad, aad_len, in, n, out + CRYPTO_IV_SIZE,
		   out + CRYPTO_IV_SIZE + n);
}

int crypto_open(const uint8_t key[CRYPTO_KEY_SIZE], const void *aad, size_t aad_len,
		const uint8_t *in, size_t n, uint8_t *out)
{
	if (n < CRYPTO_GCM_OVERHEAD) {
		errno = EBADMSG;
		return -1;
	}
	n -= CRYPTO_GCM_OVERHEAD;
	return gcm(0, key, in, aad, aad_len, in + CRYPTO_IV_SIZE, n, out,
		   (uint8_t *)in + CRYPTO_IV_SIZE + n);
}

int crypto_derive(const uint8_t secret[CRYPTO_KEY_SIZE], const char *label,
		  uint8_t out[CRYPTO_KEY_SIZE])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t len = CRYPTO_KEY_SIZE;
	int ok = c && EVP_PKEY_derive_init(c) > 0 &&
		 EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()) > 0 &&
		 EVP_PKEY_CTX_set1_hkdf_key(c, secret, CRYPTO_KEY_SIZE) > 0 &&
		 EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)label, (int)strlen(label)) > 0 &&
		 EVP_PKEY_derive(c, out, &len) > 0 && len == CRYPTO_KEY_SIZE;

	EVP_PKEY_CTX_free(c);
	if (!ok) {
		errno = EIO;
		return -1;
	}
	return 0;
}
