/*
 * fuzz_envelope.c - libFuzzer harness for envelope_open().
 *
 * Byte 0 of the input picks a mode (fuzz_key.h), the rest is the message:
 *   raw     - open the bytes as they are; forged signatures must all fail;
 *   resign  - sign the bytes first with the trusted key, so the fuzzer also
 *             reaches the site, time and sequence checks behind the signature;
 *   seal    - seal the bytes as a body and open the result: it must be
 *             accepted with the same body.
 * A fresh in-memory verifier per input keeps runs reproducible. Invariants
 * that must hold are checked with abort(), so libFuzzer reports them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"
#include "fuzz_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct signer signer;

static void check_accepted(const struct envelope *env, const uint8_t *buf, size_t len)
{
	if (env->body != buf + ENVELOPE_HEADER_LEN || env->body_len + ENVELOPE_OVERHEAD != len ||
	    env->type < ENV_PLAN || env->type > ENV_TYPE_MAX ||
	    strcmp(env->site, FUZZ_SITE) != 0 || env->expires_at <= FUZZ_NOW ||
	    env->expires_at < env->issued_at || env->issued_at > FUZZ_NOW + FUZZ_MAX_FUTURE ||
	    env->seq == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct verifier v;
	struct envelope env;
	enum envelope_result r, again;
	uint8_t *buf = NULL;
	size_t len = 0, i;
	uint64_t total = 0;
	int mode, small;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		fuzz_signer(&signer);
		ready = 1;
	}
	if (size < 1)
		return 0;
	mode = (data[0] & 0x7f) % 3;
	small = data[0] & 0x80; /* a receiver limit of 4 KiB instead of 256 */
	data++;
	size--;
	if (verifier_init(&v, FUZZ_SITE, NULL, small ? 4096 : 0, FUZZ_MAX_FUTURE) < 0 ||
	    verifier_add_key(&v, signer.pk) < 0)
		abort();

	if (mode == FUZZ_MODE_SEAL) {
		if (envelope_seal(&signer, ENV_CMD, 0, 1, FUZZ_NOW, FUZZ_NOW + 1000, data, size,
				  &buf, &len) < 0)
			abort();
		r = envelope_open(&v, buf, len, FUZZ_NOW, &env);
		if (len > v.max_size) {
			if (r != ENV_ERR_OVERSIZED)
				abort();
		} else if (r != ENV_OK || env.body_len != size ||
			   (size && memcmp(env.body, data, size) != 0)) {
			abort();
		}
		goto out;
	}

	/* An exact-size copy, so ASan catches any read past the message. */
	len = size;
	buf = malloc(len ? len : 1);
	if (!buf)
		abort();
	if (len)
		memcpy(buf, data, len);
	if (mode == FUZZ_MODE_RESIGN && len >= ENVELOPE_SIG_LEN)
		crypto_sign_detached(buf + len - ENVELOPE_SIG_LEN, NULL, buf,
				     len - ENVELOPE_SIG_LEN, signer.sk);

	r = envelope_open(&v, buf, len, FUZZ_NOW, &env);
	if (!envelope_result_str(r) || !envelope_result_name(r))
		abort();
	if (r == ENV_OK) {
		check_accepted(&env, buf, len);
		/* The same message again is never accepted twice. */
		again = envelope_open(&v, buf, len, FUZZ_NOW, &env);
		if (again != ENV_ERR_DUPLICATE)
			abort();
	} else if (mode == FUZZ_MODE_RAW && r > ENV_ERR_SIGNATURE) {
		/*
		 * Past the signature in raw mode means the input carries a
		 * valid signature: only possible for unmodified seeds.
		 */
		if (crypto_sign_verify_detached(buf + len - ENVELOPE_SIG_LEN, buf,
						len - ENVELOPE_SIG_LEN, signer.pk) != 0)
			abort();
	}
	for (i = 0; i < ENV_RESULT_MAX; i++)
		total += v.counts[i];
	if (total != (r == ENV_OK ? 2u : 1u))
		abort();
	(void)verifier_flush(&v);
out:
	free(buf);
	return 0;
}
