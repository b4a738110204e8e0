/*
 * mosqpw.h - Mosquitto password file entries, made without mosquitto_passwd.
 *
 * Mosquitto 2.x stores "user:$7$<iterations>$<salt base64>$<hash base64>",
 * the hash being PBKDF2-HMAC-SHA512 (64 bytes) of the password with a
 * 12-byte salt, 101 iterations. The controller writes such lines when it
 * provisions a node, and `loaxa broker-config` for the controller's own
 * account; the broker checks them at CONNECT.
 */
#ifndef LOAXA_MOSQPW_H
#define LOAXA_MOSQPW_H

#include <stddef.h>
#include <stdint.h>

#define MOSQ_PW_ITERATIONS 101
#define MOSQ_PW_SALT_BYTES 12
#define MOSQ_PW_HASH_MAX 160

/* With a fresh random salt. 0 or -errno. */
int mosq_password_hash(const char *password, char out[MOSQ_PW_HASH_MAX]);
/* With a given salt (tests compare with mosquitto_passwd's output). */
int mosq_password_hash_salt(const char *password, const uint8_t *salt, size_t saltlen,
			    char out[MOSQ_PW_HASH_MAX]);
/* A random password of 32 URL-safe characters (out: at least 33 bytes). */
void mosq_password_random(char *out, size_t outlen);

#endif
