/*
 * topic.h - every MQTT topic of loaxa, built and parsed in one place
 * (docs/protocol.md, "Topics").
 *
 *   <root>/node/<node>/<leaf>     one node: cmd, plan, content, live,
 *                                 time/pong (to it); status, event, fetch,
 *                                 time/ping (from it)
 *   <root>/zone/<zone>/<leaf>     a zone's nodes: cmd, live
 *   <root>/zone/all/<leaf>        every node: cmd, live, key
 *
 * root is "loaxa/<site>". Node and zone names are checked names (1-31 of
 * a-z, 0-9, '-', '_'), so a built topic never holds a wildcard or a '/'
 * from a name; parsing refuses anything else.
 */
#ifndef LOAXA_TOPIC_H
#define LOAXA_TOPIC_H

#include <stddef.h>

#define TOPIC_MAX 160
#define TOPIC_ROOT_MAX 64

enum topic_leaf {
	LEAF_CMD,
	LEAF_PLAN,
	LEAF_CONTENT,
	LEAF_LIVE,
	LEAF_KEY,
	LEAF_STATUS,
	LEAF_EVENT,
	LEAF_FETCH,
	LEAF_PING,          /* time/ping */
	LEAF_PONG,          /* time/pong */
	LEAF_NONE,          /* not one of ours */
};

/* "cmd", "time/ping", ... */
const char *topic_leaf_name(enum topic_leaf leaf);

/* "loaxa/<site>". 0 or -ENAMETOOLONG. */
int topic_root(char *out, size_t outlen, const char *site);
/* <root>/node/<node>/<leaf>; node "+" makes the subscription pattern. */
int topic_node(char *out, size_t outlen, const char *root, const char *node,
	       enum topic_leaf leaf);
/* <root>/zone/<zone>/<leaf>; zone "all" is every node. */
int topic_zone(char *out, size_t outlen, const char *root, const char *zone,
	       enum topic_leaf leaf);

struct topic_parts {
	int node;                /* 1: node/<name>, 0: zone/<name> */
	char name[32];           /* a valid name (or "all" for a zone) */
	enum topic_leaf leaf;
};

/*
 * Split a topic below root. 0; -EINVAL when the node or zone name is not a
 * valid name (p->name holds it, cut to fit, for the message); -ENOENT when
 * the topic is not below root, not node/ or zone/, or the leaf is not ours.
 */
int topic_parse(const char *root, const char *topic, struct topic_parts *p);

#endif
