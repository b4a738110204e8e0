/*
 * maint.h - maintenance commands and journal acknowledgements.
 *
 * Signed `cmd` envelopes (already verified by cmd.c) whose "cmd" is one of:
 *
 *   ack        {"cmd":"ack","ids":["n1-7-12",...]}      drop delivered events
 *   volume     {"cmd":"volume","id":"c-...","level":N}   master volume 0-100
 *   restart    {"cmd":"restart","id":"c-..."}            clean stop + re-exec
 *   stop       {"cmd":"stop","id":"c-..."}               stop everything, confirmed
 *              (a stop without "id" is the broadcast stop of cmd.c)
 *   test_tone  {"cmd":"test_tone","id":"c-...","content":"<sha256>",
 *               "bytes":N,"duration_ms":N,"volume":N}    play a tone now
 *   selftest   {"cmd":"selftest","id":"c-..."}           horn self-test (selftest.h):
 *              confirmed when accepted; the result is a "selftest" event
 *              naming the command
 *
 * Every maintenance command (all but ack) is confirmed by a journaled
 * cmd_done event {"command": id, "cmd": name, "result": "ok"|"refused",
 * "reason"}; the CLI waits for it. A test tone then plays like a broadcast
 * whose id is the command id, at level priority, so its play_started /
 * play_finished events say whether sound went out.
 *
 * Bodies are validated field by field; a bad one is refused with a reason
 * in words, counted as bad_body, and (when it has a usable id) confirmed
 * with result "refused".
 */
#ifndef LOAXA_NODE_MAINT_H
#define LOAXA_NODE_MAINT_H

#include <stddef.h>

#define MAINT_MAX_ACK_IDS 500

struct node;
struct envelope;

/*
 * Handle body if it is one of the commands above. Returns 1 when it was
 * (handled or refused), 0 when it is another command (cmd.c goes on).
 */
int maint_on_cmd(struct node *n, const char *topic, const struct envelope *env);

#endif
