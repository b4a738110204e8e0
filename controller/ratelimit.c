/*
 * ratelimit.c - see ratelimit.h.
 */
#include "ratelimit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define RL_NODES 1024
#define RL_KINDS 5
#define RL_OTHER 3
#define RL_LOG_EVERY_MS 10000

/* "fetch_busy" has no bucket: ctl_ratelimit_refused counts what others refused */
static const char *const kind_names[RL_KINDS] = { "status", "event", "fetch", "other",
						  "fetch_busy" };
static const int rates[RL_KINDS] = { RL_STATUS_RATE, RL_EVENT_RATE, RL_FETCH_RATE,
				     RL_OTHER_RATE, 0 };
static const int bursts[RL_KINDS] = { RL_STATUS_BURST, RL_EVENT_BURST, RL_FETCH_BURST,
				      RL_OTHER_BURST, 0 };

struct bucket {
	double tokens;
	int64_t last_ms;
	uint64_t dropped;
	uint64_t dropped_logged;
	int64_t logged_ms;
};

struct rl_node {
	char id[32];
	int64_t seen_ms;
	struct bucket b[RL_KINDS];
};

/* The controller is one thread: module state is enough. */
static struct rl_node nodes[RL_NODES];

static int kind_index(const char *kind)
{
	int k;

	for (k = 0; k < RL_KINDS; k++)
		if (strcmp(kind, kind_names[k]) == 0)
			return k;
	return RL_OTHER;
}

/* The node's slot; an unknown node takes the least recently seen one. */
static struct rl_node *slot(const char *node, int64_t now)
{
	struct rl_node *old = &nodes[0];
	size_t i;

	for (i = 0; i < RL_NODES; i++) {
		if (strcmp(nodes[i].id, node) == 0)
			return &nodes[i];
		if (!nodes[i].id[0] || nodes[i].seen_ms < old->seen_ms)
			old = &nodes[i];
		if (!nodes[i].id[0])
			break;
	}
	memset(old, 0, sizeof(*old));
	snprintf(old->id, sizeof(old->id), "%s", node);
	for (i = 0; i < RL_KINDS; i++) {
		old->b[i].tokens = bursts[i];
		old->b[i].last_ms = now;
	}
	return old;
}

int ctl_ratelimit_inbound(const char *node, const char *kind, int64_t now)
{
	struct rl_node *n = slot(node, now);
	int k = kind_index(kind);
	struct bucket *b = &n->b[k];

	n->seen_ms = now;
	if (now > b->last_ms) {
		b->tokens += (double)(now - b->last_ms) * rates[k] / 1000.0;
		if (b->tokens > bursts[k])
			b->tokens = bursts[k];
		b->last_ms = now;
	}
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	b->dropped++;
	if (!b->logged_ms || now - b->logged_ms >= RL_LOG_EVERY_MS) {
		log_warnx("node %s sends %s messages faster than %d/s: dropped %llu so far "
			  "(a broken or hostile node; see docs/security.md)", node,
			  kind_names[k], rates[k], (unsigned long long)b->dropped);
		b->logged_ms = now;
		b->dropped_logged = b->dropped;
	}
	return -EBUSY;
}

void ctl_ratelimit_refused(const char *node, const char *kind, const char *why, int64_t now)
{
	struct rl_node *n = slot(node, now);
	struct bucket *b = &n->b[kind_index(kind)];

	n->seen_ms = now;
	b->dropped++;
	if (!b->logged_ms || now - b->logged_ms >= RL_LOG_EVERY_MS) {
		log_warnx("node %s: %s: refused %llu so far (docs/security.md \"Limits\")", node,
			  why, (unsigned long long)b->dropped);
		b->logged_ms = now;
		b->dropped_logged = b->dropped;
	}
}

json_t *ctl_ratelimit_json(void)
{
	json_t *o = json_object(), *per;
	size_t i;
	int k;

	for (i = 0; o && i < RL_NODES && nodes[i].id[0]; i++) {
		per = NULL;
		for (k = 0; k < RL_KINDS; k++) {
			if (!nodes[i].b[k].dropped)
				continue;
			if (!per)
				per = json_object();
			json_object_set_new(per, kind_names[k],
					    json_integer((json_int_t)nodes[i].b[k].dropped));
		}
		if (per)
			json_object_set_new(o, nodes[i].id, per);
	}
	return o;
}

void ctl_ratelimit_reset(void)
{
	memset(nodes, 0, sizeof(nodes));
}
