/*
 * mqtt.h - the node's two broker connections (docs/protocol.md):
 *
 *   control "<site>-<node>-ctl":  publishes status (retained, with the
 *            offline Last Will) and events; subscribes to its cmd and plan
 *            topics and to the cmd topics of its zones and of zone "all";
 *   bulk    "<site>-<node>-bulk": publishes fetch requests; subscribes to
 *            its content topic.
 *
 * Bulk content never queues in front of a command this way. Everything
 * about a connection - TLS and account, the probe and jittered back-off
 * (1, 2, 4 ... 30 s, back to 1 s only after a connection held 10 s, so that
 * after a broker restart hundreds of nodes do not reconnect in the same
 * second: common/mqlink.h), its place on the event loop, re-subscribing on
 * every connect, publish errors as -errno - is common/mqconn.c, shared with
 * the controller. What is the node's here: the client ids, MQTT 5 with
 * Maximum Packet Size, the Last Will, the scopes of its subscriptions and
 * the clean stop.
 */
#ifndef LOAXA_NODE_MQTT_H
#define LOAXA_NODE_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "mqconn.h"
#include "topic.h"

struct node;
struct envelope;

enum node_conn_kind { NODE_CONN_CTL = 0, NODE_CONN_BULK = 1, NODE_CONN_N = 2 };

/*
 * The subscription table. Modules fill it at start (xxx_register): which
 * leaf, where, on which connection, with which QoS, and who gets it. At
 * start each entry becomes the topics of its scopes in the connection's
 * own table (mqconn.h), subscribed on every (re)connect; every message goes
 * through the gate (the envelope check, cmd.h, registered by cmd_register),
 * which hands it to the handler its topic matches; so this module names
 * none of its consumers.
 */
enum node_sub_scope {
	NODE_SUB_SELF = 1,   /* <root>/node/<this node>/<leaf> */
	NODE_SUB_ZONES = 2,  /* <root>/zone/<each zone of node.cfg>/<leaf> */
	NODE_SUB_ALL = 4,    /* <root>/zone/all/<leaf> */
};

/* A message that passed the envelope check, as its handler gets it. */
struct node_msg {
	const char *topic;
	const void *payload;        /* the whole signed envelope */
	size_t len;
	const struct envelope *env; /* opened: body, sequence, times */
	int64_t arrival_us;         /* controller clock (clock.h) at arrival */
	int64_t arrival_mono_us;    /* CLOCK_MONOTONIC at arrival */
};
typedef void (*node_msg_fn)(struct node *n, const struct node_msg *m);

#define NODE_MQTT_MAX_SUBS 8
struct node_sub {
	enum topic_leaf leaf;
	unsigned scope;             /* enum node_sub_scope, or-ed */
	enum node_conn_kind conn;
	int qos;
	node_msg_fn fn;
};

/* Run on every (re)connect (after the subscriptions) or disconnect. */
typedef void (*node_conn_fn)(struct node *n);
#define NODE_MQTT_MAX_HOOKS 8

struct node_conn_hook {
	struct node *owner;
	enum node_conn_kind conn;
	node_conn_fn on_connect, on_disconnect; /* either may be NULL */
};

/* Every message of the table's topics, before its handler (cmd.h). */
typedef void (*node_gate_fn)(struct node *n, const char *topic, const void *payload,
			     size_t len);

struct node_mqtt {
	struct mqconn conn[NODE_CONN_N];
	node_gate_fn gate;
	struct node_sub subs[NODE_MQTT_MAX_SUBS];
	int nsubs;
	struct node_conn_hook hooks[NODE_MQTT_MAX_HOOKS];
	int nhooks;
};

/* Add to the subscription table (before node_mqtt_start). 0, -EINVAL, -ENOSPC. */
int node_mqtt_subscribe(struct node *n, enum topic_leaf leaf, unsigned scope,
			enum node_conn_kind conn, int qos, node_msg_fn fn);
/* Who checks every message before its handler (cmd_register). */
void node_mqtt_gate(struct node *n, node_gate_fn gate);
/* Add connect/disconnect hooks (before node_mqtt_start), run in the order added. 0, -EINVAL or -ENOSPC. */
int node_mqtt_hook(struct node *n, enum node_conn_kind conn, node_conn_fn on_connect,
		   node_conn_fn on_disconnect);
/*
 * The table entry a topic matches: one of this node's own topics, or of its
 * zones, or of zone "all", with a leaf registered for that scope. NULL for
 * anything else, even a valid topic of another node.
 */
const struct node_sub *node_mqtt_route(const struct node *n, const char *topic);

int node_mqtt_start(struct node *n);
/* Publish the offline status, wait (briefly) for acknowledgements, disconnect. */
void node_mqtt_stop(struct node *n);

/* Registers this module's descriptors and tick with the event loop (main.c). */
struct loop;
int node_mqtt_register(struct loop *l, struct node *n);

int node_mqtt_connected(const struct node *n, enum node_conn_kind kind);

/*
 * Publish on one connection. Returns 0 (sent or queued; *mid set when mid is
 * not NULL), -ENOTCONN when that connection is down (nothing queued: the
 * callers keep their own state and publish again on reconnect), or -errno.
 */
int node_mqtt_publish(struct node *n, enum node_conn_kind kind, const char *topic,
		      const void *payload, size_t len, int qos, int retain, int *mid);

#endif
