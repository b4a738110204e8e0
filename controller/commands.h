/*
 * commands.h - remote maintenance of nodes: volume, stop, restart, test tone.
 *
 * An operator command (`loaxa node volume n1 60`, API POST
 * /v1/nodes/<node>/<action>) becomes a row in the commands table with an id
 * "c-<ms>-<n>" and a signed `cmd` envelope to <root>/node/<node>/cmd
 * (bodies in node/maint.h and docs/protocol.md). The node confirms each with
 * a journaled cmd_done event naming the command id; ctl_maint_on_event moves
 * the row from "sent" to "ok", "refused" or "failed" (and, for a test tone,
 * to "played" when its play_finished arrives). The CLI polls
 * GET /v1/commands/<id> until the state is final or its timeout passes.
 */
#ifndef LOAXA_CTL_COMMANDS_H
#define LOAXA_CTL_COMMANDS_H

#include <stddef.h>

#include <jansson.h>

#include "db.h"

struct ctl;

/*
 * Send action ("volume", "stop", "restart", "test_tone") to node. args: the
 * request body (level for volume; content and volume for test_tone).
 * Returns 0 with *reply = the command row, -ENOENT (unknown node), -EINVAL
 * (bad arguments; err says why) or another -errno.
 */
int ctl_maint_command(struct ctl *c, const char *node, const char *action, json_t *args,
		      json_t **reply, char *err, size_t errlen);

/* The command row as JSON, NULL when unknown. */
json_t *ctl_maint_get(struct ctl *c, const char *id);

/* A new stored event: confirmations (cmd_done) and test-tone plays. */
void ctl_maint_on_event(struct ctl *c, const struct ctl_event *ev);

/*
 * Store and send one command body (its "cmd" set; "id" is added) to node,
 * void ttl_ms after now: the node update (nodeupdate.h) uses it. id gets
 * the command id. 0, or -errno with err.
 */
int ctl_maint_send(struct ctl *c, const char *node, json_t *body, int64_t ttl_ms,
		   char id[CTL_ID_MAX], char *err, size_t errlen);

#endif
