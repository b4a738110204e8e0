/*
 * cmd.h - everything that arrives from the broker goes through here.
 *
 * Each message, on every subscribed topic, is first checked by
 * envelope_open() (size before anything else, then signature, site, times,
 * sequence; docs/protocol.md). A refused message is logged as one line
 * naming topic and reason ("rejected message on loaxa/xa/node/n1/cmd:
 * signature does not verify"), counted in the status under "rejected", and
 * otherwise ignored: the node never plays or stores anything from it and
 * keeps running.
 *
 * Only then is the body looked at: the envelope type must be the one the
 * topic carries (cmd on cmd topics, plan on the plan topic, content on the
 * content topic), and a command's JSON is validated field by field before
 * it reaches the play queue. Refusals at this stage are logged and counted
 * the same way ("bad_body", "wrong_topic").
 *
 * Every signed cmd and live body names the topic it is for ("to":
 * "zone/thon-1/cmd"; the live body's destination). The node acts on it only
 * when that is the topic it came on; the node subscribes only to its own
 * node topics and to the zones of its node.cfg (the bundle `loaxa node add`
 * made), so a message addressed elsewhere - a broker republishing thon-1's
 * emergency on zone/thon-2/cmd or on zone/all/cmd, one node's "volume 0" on
 * another's topic - is refused and counted as "wrong_target".
 */
#ifndef LOAXA_NODE_CMD_H
#define LOAXA_NODE_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

struct node;

enum node_cmd_kind { NODE_CMD_PLAY = 1, NODE_CMD_STOP };

struct node_cmd {
	enum node_cmd_kind kind;
	struct play_item play;      /* NODE_CMD_PLAY */
	char broadcast[64];         /* NODE_CMD_STOP; "" = everything */
};

/*
 * One MQTT message (any topic the node subscribed to): the envelope check,
 * then the handler the subscription table (mqtt.h) has for its topic.
 */
void cmd_on_message(struct node *n, const char *topic, const void *payload, size_t len);
/* Puts the cmd topics (the node's, its zones', zone "all"'s) in the table. */
int cmd_register(struct node *n);

/*
 * Parse and validate a command body (JSON). now is the node's wall clock in
 * ms, max_bytes the largest content accepted. Returns 0, or -EINVAL with a
 * reason in words ("field "volume" must be a whole number from 0 to 100").
 */
int cmd_parse(const void *body, size_t len, int64_t now, uint64_t max_bytes,
	      struct node_cmd *cmd, char *why, size_t whylen);

/*
 * Is a body addressed to "to" (below the site root, "" when it named none)
 * for the topic it came on? Returns 1; or logs the refusal naming both,
 * counts it as wrong_target and returns 0. what names the message for the
 * log ("emergency_start", "live audio"); quiet: count without logging (the
 * further batches of one live session, a few a second).
 */
int cmd_target_ok(struct node *n, const char *topic, const char *to, const char *what,
		  int quiet);

/* Broadcast ids: 1-63 of A-Z a-z 0-9 - _ . : */
int broadcast_id_valid(const char *s);

#endif
