/*
 * fuzz_node_msgs.c - libFuzzer harness for what a node parses behind a
 * valid signature: byte 0 picks the parser, the rest is the body.
 *   0: cmd_parse()             command JSON (play, stop, ...)
 *   1: node_keys_doc_check()   the trust document (keys, retire, revoked)
 *   2: chunk_parse()     a content chunk's binary header
 *   3: plan_parse()            a plan (every field, items sorted, ids unique)
 *   4: live_body_parse()       a live batch (destination, frames)
 * A signed body is still untrusted input for parsing: a bug here must not
 * be reachable by whoever holds a key. Invariants checked with abort().
 */
// fuzz-sources: node/*.c
// fuzz-exclude: node/main.c
// fuzz-pkgs: libmosquitto alsa opusfile opus ogg libsystemd
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "cmd.h"
#include "fetch.h"
#include "keys.h"
#include "livebody.h"
#include "log.h"
#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char why[512];
	struct node_cmd cmd;
	struct chunk_hdr h;
	struct plan plan;
	struct live_batch lb;
	size_t i;
	int rc;

	if (!ready) {
		log_init("fuzz", 0);
		ready = 1;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		memset(&cmd, 0, sizeof(cmd));
		rc = cmd_parse(data + 1, size - 1, 1795000000000LL, 1ULL << 30, &cmd, why,
			       sizeof(why));
		if (rc == 0 && cmd.kind != NODE_CMD_PLAY && cmd.kind != NODE_CMD_STOP &&
		    cmd.kind < NODE_CMD_PLAY)
			abort();
		if (rc < 0 && !why[0])
			abort(); /* every refusal says why */
		break;
	case 1:
		why[0] = '\0';
		rc = node_keys_doc_check("n1", data + 1, size - 1, why, sizeof(why));
		if (rc < 0 && !why[0])
			abort();
		if (rc > 1)
			abort();
		break;
	case 2:
		why[0] = '\0';
		rc = chunk_parse(data + 1, size - 1, &h, why, sizeof(why));
		if (rc == 0 && (h.data < data + 1 || h.data + h.data_len > data + size))
			abort(); /* the chunk data lies inside the message */
		break;
	case 3:
		why[0] = '\0';
		rc = plan_parse(data + 1, size - 1, "n1", &plan, why, sizeof(why));
		if (rc < 0 && (!why[0] || plan.items))
			abort(); /* a refusal says why and keeps nothing */
		for (i = 0; rc == 0 && i < plan.n; i++) {
			if (plan.items[i].expires < plan.items[i].at ||
			    plan.items[i].at > plan.horizon ||
			    (i && plan.items[i - 1].at > plan.items[i].at))
				abort(); /* checked and sorted as documented */
		}
		plan_clear(&plan);
		break;
	case 4:
		why[0] = '\0';
		rc = live_body_parse(data + 1, size - 1, &lb, why, sizeof(why));
		if (rc < 0 && !why[0])
			abort();
		if (rc == 0 && (!lb.to[0] || strlen(lb.to) > LIVE_TO_MAX))
			abort(); /* an accepted batch names where it goes */
		for (i = 0; rc == 0 && i < lb.nframes; i++)
			if (lb.frame[i] < data + 1 || lb.frame[i] + lb.len[i] > data + size)
				abort(); /* every frame lies inside the message */
		break;
	}
	return 0;
}
