/*
 * fuzz_seqstate.c - libFuzzer harness for the node's sequence state file
 * (<state_dir>/seq, common/envelope.c: seq_file_read), which a damaged SD
 * card or an attacker with the board's disk can fill with anything
 * (issue 14, point 6). The input is written as the file and loaded:
 *   - loading never crashes, and anything it cannot read is "corrupt"
 *     (moved aside), never half-trusted;
 *   - a file it reads is written back (verifier_flush) and read again: the
 *     second load must not be corrupt and must give the same floors, the
 *     same distrusted keys and the same sequences for the trusted key.
 * Invariants are checked with abort(), so libFuzzer reports them.
 */
// fuzz-args: -max_len=8192
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "envelope.h"
#include "fuzz_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct signer signer;
static char path[64], moved[80];

static int load(struct verifier *v)
{
	if (verifier_init(v, FUZZ_SITE, path, 0, FUZZ_MAX_FUTURE) < 0)
		return -1;
	if (!v->state_corrupt && verifier_add_key(v, signer.pk) < 0 && !verifier_distrusted(v, signer.pk))
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static struct verifier a, b; /* large: off the stack */
	FILE *f;
	int i, t;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		fuzz_signer(&signer);
		snprintf(path, sizeof(path), "/dev/shm/fuzz-seqstate-%d", (int)getpid());
		snprintf(moved, sizeof(moved), "%s.corrupt", path);
		ready = 1;
	}
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (load(&a) < 0 || a.state_corrupt) {
		/* refused: the file was moved aside, not trusted */
		if (a.state_corrupt && access(path, F_OK) == 0)
			abort();
		goto out;
	}
	a.dirty = 1;
	if (verifier_flush(&a) < 0)
		goto out; /* e.g. more entries than a file may hold */
	if (load(&b) < 0 || b.state_corrupt)
		abort(); /* what we wrote must read back */
	if (a.floor_ms != b.floor_ms || a.fresh_after != b.fresh_after ||
	    a.ndistrust != b.ndistrust || a.revoked_self != b.revoked_self ||
	    memcmp(a.distrust, b.distrust, sizeof(a.distrust)) != 0 || a.nkeys != b.nkeys)
		abort();
	for (i = 0; i < a.nkeys; i++)
		for (t = 0; t <= ENV_TYPE_MAX; t++)
			if (a.keys[i].seq[t] != b.keys[i].seq[t])
				abort();
out:
	unlink(path);
	unlink(moved);
	return 0;
}
