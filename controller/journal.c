/*
 * journal.c - see journal.h.
 */
#include "journal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ctl.h"
#include "ctlutil.h"
#include "envelope.h"
#include "log.h"
#include "util.h"
#include "topic.h"

int ctl_send_node_cmd(struct ctl *c, const char *node, json_t *body, int64_t ttl_ms)
{
	char topic[256], *text = NULL;
	uint8_t *env = NULL;
	size_t envlen = 0;
	uint64_t seq;
	int64_t now = now_ms();
	int rc;

	topic_node(topic, sizeof(topic), c->mqtt.root, node, LEAF_CMD);
	rc = ctl_body_set_to(body, c->mqtt.root, topic);
	if (rc < 0)
		return rc;
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	rc = ctl_db_next_seq(&c->db, ENV_CMD, ctl_now_us(), &seq);
	if (rc < 0)
		goto out;
	rc = envelope_seal(&c->signer, ENV_CMD, 0, seq, now, now + ttl_ms, text, strlen(text),
			   &env, &envlen);
	if (rc < 0)
		goto out;
	rc = ctl_mqtt_publish(c, CTL_CONN_CTL, topic, env, envlen, 1, 0);
out:
	free(text);
	free(env);
	return rc;
}

static struct ctl_ack_node *find(struct ctl *c, const char *node, int create)
{
	struct ctl_ack_node *a;

	for (a = c->journal.nodes; a; a = a->next)
		if (strcmp(a->node, node) == 0)
			return a;
	if (!create)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	snprintf(a->node, sizeof(a->node), "%s", node);
	a->next = c->journal.nodes;
	c->journal.nodes = a;
	return a;
}

/* The node's last status says it is sounding something (see journal.h). */
static int node_busy(struct ctl *c, const char *node)
{
	sqlite3_stmt *st = NULL;
	json_t *s = NULL;
	int busy = 0;

	if (ctl_db_prep(&c->db, &st, "SELECT status FROM nodes WHERE id = ? AND online = 1", NULL) < 0)
		return 0;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		s = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	busy = json_is_object(json_object_get(s, "playing")) ||
	       json_is_object(json_object_get(s, "live")) ||
	       json_is_object(json_object_get(json_object_get(s, "emergency"), "active"));
	json_decref(s);
	return busy;
}

static void flush_node(struct ctl *c, struct ctl_ack_node *a)
{
	if (a->n && mono_ms() - a->first_mono < CTL_ACK_DEFER_MS && node_busy(c, a->node))
		return;
	while (a->n) {
		size_t k = a->n < CTL_ACK_BATCH ? a->n : CTL_ACK_BATCH, i;
		json_t *ids = json_array(), *body;
		int rc;

		for (i = 0; i < k; i++)
			json_array_append_new(ids, json_string(a->ids[i]));
		body = json_pack("{s:s, s:o}", "cmd", "ack", "ids", ids);
		if (!body)
			return;
		rc = ctl_send_node_cmd(c, a->node, body, 10 * 60 * 1000);
		json_decref(body);
		if (rc < 0 && rc != -ENOTCONN) {
			log_warnx("cannot acknowledge %zu event(s) of node %s: %s (it will send "
				  "them again)", k, a->node, strerror(-rc));
			a->n = 0;
			return;
		}
		log_debug("acknowledged %zu event(s) of node %s", k, a->node);
		c->journal.acks_sent++;
		c->journal.ids_acked += k;
		memmove(a->ids, a->ids + k, (a->n - k) * sizeof(a->ids[0]));
		a->n -= k;
		a->first_mono = mono_ms();
	}
}

void ctl_journal_ack(struct ctl *c, const char *node, const char *id)
{
	struct ctl_ack_node *a = find(c, node, 1);

	if (!a)
		return;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char (*ids)[CTL_ID_MAX];

		if (a->n >= CTL_ACK_MAX_WAITING)
			return; /* the node sends it again */
		ids = realloc(a->ids, cap * sizeof(*ids));
		if (!ids)
			return;
		a->ids = ids;
		a->cap = cap;
	}
	if (a->n == 0)
		a->first_mono = mono_ms();
	snprintf(a->ids[a->n++], CTL_ID_MAX, "%s", id);
	if (a->n >= CTL_ACK_BATCH && ctl_mqtt_connected(c, CTL_CONN_CTL))
		flush_node(c, a);
}

void ctl_journal_flush(struct ctl *c)
{
	struct ctl_ack_node *a;

	if (!ctl_mqtt_connected(c, CTL_CONN_CTL))
		return;
	for (a = c->journal.nodes; a; a = a->next)
		flush_node(c, a);
}

void ctl_journal_free(struct ctl *c)
{
	struct ctl_ack_node *a, *next;

	for (a = c->journal.nodes; a; a = next) {
		next = a->next;
		free(a->ids);
		free(a);
	}
	c->journal.nodes = NULL;
}
