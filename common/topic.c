/*
 * topic.c - build and parse loaxa's MQTT topics (topic.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "topic.h"
#include "util.h"

static const char *const leaf_names[] = {
	[LEAF_CMD] = "cmd",         [LEAF_PLAN] = "plan",     [LEAF_CONTENT] = "content",
	[LEAF_LIVE] = "live",       [LEAF_KEY] = "key",       [LEAF_STATUS] = "status",
	[LEAF_EVENT] = "event",     [LEAF_FETCH] = "fetch",   [LEAF_PING] = "time/ping",
	[LEAF_PONG] = "time/pong",
};

const char *topic_leaf_name(enum topic_leaf leaf)
{
	return (unsigned)leaf < ARRAY_SIZE(leaf_names) && leaf_names[leaf] ? leaf_names[leaf]
									   : "?";
}

static int fits(size_t outlen, int n)
{
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int topic_root(char *out, size_t outlen, const char *site)
{
	return fits(outlen, snprintf(out, outlen, "loaxa/%s", site));
}

int topic_node(char *out, size_t outlen, const char *root, const char *node,
	       enum topic_leaf leaf)
{
	return fits(outlen, snprintf(out, outlen, "%s/node/%s/%s", root, node,
					 topic_leaf_name(leaf)));
}

int topic_zone(char *out, size_t outlen, const char *root, const char *zone,
	       enum topic_leaf leaf)
{
	return fits(outlen, snprintf(out, outlen, "%s/zone/%s/%s", root, zone,
					 topic_leaf_name(leaf)));
}

int topic_parse(const char *root, const char *topic, struct topic_parts *p)
{
	size_t rl = strlen(root), nl;
	const char *rest, *slash;
	unsigned i;

	memset(p, 0, sizeof(*p));
	p->leaf = LEAF_NONE;
	if (strncmp(topic, root, rl) != 0 || topic[rl] != '/')
		return -ENOENT;
	rest = topic + rl + 1;
	if (strncmp(rest, "node/", 5) == 0)
		p->node = 1;
	else if (strncmp(rest, "zone/", 5) != 0)
		return -ENOENT;
	rest += 5;
	slash = strchr(rest, '/');
	if (!slash)
		return -ENOENT;
	nl = (size_t)(slash - rest);
	if (nl >= sizeof(p->name))
		nl = sizeof(p->name) - 1; /* kept for the message, refused below */
	memcpy(p->name, rest, nl);
	p->name[nl] = '\0';
	if ((size_t)(slash - rest) != nl || !name_valid(p->name))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(leaf_names); i++)
		if (strcmp(slash + 1, leaf_names[i]) == 0) {
			p->leaf = (enum topic_leaf)i;
			return 0;
		}
	return -ENOENT;
}
