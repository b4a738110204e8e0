/*
 * mosqpw.c - see mosqpw.h.
 */
#include "mosqpw.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

/*
 * PBKDF2 (RFC 8018) with HMAC-SHA512 for a 64-byte output: one block,
 * T1 = U1 ^ ... ^ Uc, U1 = HMAC(P, S || INT(1)), Ui = HMAC(P, Ui-1).
 * libsodium has HMAC-SHA512 with any key length but no PBKDF2.
 */
static void pbkdf2_sha512_64(const char *pw, const uint8_t *salt, size_t saltlen,
			     unsigned iterations, uint8_t out[64])
{
	crypto_auth_hmacsha512_state st;
	uint8_t u[64], blk[4] = { 0, 0, 0, 1 };
	unsigned i, j;

	crypto_auth_hmacsha512_init(&st, (const unsigned char *)pw, strlen(pw));
	crypto_auth_hmacsha512_update(&st, salt, saltlen);
	crypto_auth_hmacsha512_update(&st, blk, sizeof(blk));
	crypto_auth_hmacsha512_final(&st, u);
	memcpy(out, u, 64);
	for (i = 1; i < iterations; i++) {
		crypto_auth_hmacsha512_init(&st, (const unsigned char *)pw, strlen(pw));
		crypto_auth_hmacsha512_update(&st, u, 64);
		crypto_auth_hmacsha512_final(&st, u);
		for (j = 0; j < 64; j++)
			out[j] ^= u[j];
	}
	sodium_memzero(u, sizeof(u));
	sodium_memzero(&st, sizeof(st));
}

int mosq_password_hash_salt(const char *password, const uint8_t *salt, size_t saltlen,
			    char out[MOSQ_PW_HASH_MAX])
{
	char s64[64], h64[100];
	uint8_t h[64];

	if (saltlen > 32)
		return -EINVAL;
	pbkdf2_sha512_64(password, salt, saltlen, MOSQ_PW_ITERATIONS, h);
	sodium_bin2base64(s64, sizeof(s64), salt, saltlen, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(h64, sizeof(h64), h, sizeof(h), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(h, sizeof(h));
	if ((size_t)snprintf(out, MOSQ_PW_HASH_MAX, "$7$%d$%s$%s", MOSQ_PW_ITERATIONS, s64,
			     h64) >= MOSQ_PW_HASH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int mosq_password_hash(const char *password, char out[MOSQ_PW_HASH_MAX])
{
	uint8_t salt[MOSQ_PW_SALT_BYTES];

	randombytes_buf(salt, sizeof(salt));
	return mosq_password_hash_salt(password, salt, sizeof(salt), out);
}

void mosq_password_random(char *out, size_t outlen)
{
	uint8_t raw[24];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, outlen, raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}
