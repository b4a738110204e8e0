/*
 * fuzz_ogg.c - libFuzzer harness for the node's Ogg Opus reading path:
 * the bytes are opened with libopusfile from memory, as playout.c opens a
 * cached file, and decoded to the end the way playout does (op_read into a
 * 20 ms buffer) through the same single-stream decode callback
 * (node/opusdec.c). Content is SHA-256 checked before it is played, but a
 * controller (or import) bug must still not crash a node: no crash, no
 * leak, and op_read never claims more samples than the buffer holds.
 *
 * fuzz-sources: node/opusdec.c
 * fuzz-pkgs: opusfile opus ogg
 */
#include <stdint.h>
#include <stdlib.h>

#include <opusfile.h>

#include "opusdec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	opus_int16 pcm[960 * 2 * 6];
	OggOpusFile *of;
	int err = 0, n, rounds = 0;

	static struct opusdec *dec;

	if (!dec && !(dec = opusdec_new())) /* kept, as the node keeps its own */
		abort();
	of = op_open_memory(data, size, &err);
	if (!of)
		return 0;
	opusdec_attach(dec, of);
	op_pcm_total(of, -1);
	op_head(of, -1);
	op_tags(of, -1);
	while ((n = op_read(of, pcm, (int)(sizeof(pcm) / sizeof(pcm[0])), NULL)) > 0 &&
	       rounds++ < 2000)
		if (n > (int)(sizeof(pcm) / sizeof(pcm[0])))
			abort();
	op_free(of);
	return 0;
}
