/*
 * fuzz_key.h - the fixed key, site and clock the envelope harness and its
 * seed generator share, so committed seeds carry a key id the harness trusts.
 * Test material only: never use this seed for a real controller.
 */
#ifndef LOAXA_FUZZ_KEY_H
#define LOAXA_FUZZ_KEY_H

#include <string.h>

#include <sodium.h>

#include "envelope.h"

#define FUZZ_SITE "xa-demo"
#define FUZZ_NOW 1795000000000LL
#define FUZZ_MAX_FUTURE 300000LL

/* Input byte 0 selects how the rest is used (see fuzz_envelope.c). */
#define FUZZ_MODE_RAW 0    /* open the bytes as they are */
#define FUZZ_MODE_RESIGN 1 /* sign bytes [0, n-64) first: reaches site/time/seq checks */
#define FUZZ_MODE_SEAL 2   /* seal the rest as a body, then open: must round-trip */

static inline void fuzz_signer(struct signer *s)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(s, 0, sizeof(*s));
	memset(seed, 0x5a, sizeof(seed));
	crypto_sign_seed_keypair(s->pk, s->sk, seed);
	key_id_of(s->key_id, s->pk);
	strcpy(s->site, FUZZ_SITE);
}

#endif
