/*
 * mqtt.h - the node's two broker connections (docs/protocol.md):
 *
 *   control "<site>-<node>-ctl":  publishes status (retained, with the
 *            offline Last Will) and events; subscribes to its cmd and plan
 *            topics and to the cmd topics of its zones and of zone "all";
 *   bulk    "<site>-<node>-bulk": publishes fetch requests; subscribes to
 *            its content topic.
 *
 * Bulk content never queues in front of a command this way. Both run on
 * libmosquitto's external loop: the caller polls their sockets
 * (node_mqtt_pollfds / node_mqtt_handle) and calls node_mqtt_tick often
 * (keepalive, reconnects). Connecting is asynchronous: the loop never waits
 * for the broker. When and how is common/mqlink.h, shared with the
 * controller: a plain TCP probe before libmosquitto's TLS handshake, a
 * handshake deadline, and a back-off (jittered, 1, 2, 4 ... 30 s, back to
 * 1 s only after a connection held 10 s) so that after a broker restart
 * hundreds of nodes do not reconnect in the same second.
 */
#ifndef LOAXA_NODE_MQTT_H
#define LOAXA_NODE_MQTT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "mqlink.h"
#include "topic.h"

struct node;
struct mosquitto;
struct envelope;

enum node_conn_kind { NODE_CONN_CTL = 0, NODE_CONN_BULK = 1, NODE_CONN_N = 2 };

/*
 * The subscription table. Modules fill it at start (xxx_register): which
 * leaf, where, on which connection, with which QoS, and who gets it. The
 * connection subscribes from it on every (re)connect, and every message
 * goes through the envelope check (cmd.h), which hands it to the handler
 * its topic matches; so this module names none of its consumers.
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
	enum node_conn_kind conn;
	node_conn_fn on_connect, on_disconnect; /* either may be NULL */
};

struct node_mqtt_conn {
	struct node *owner;
	struct mosquitto *m;
	const char *name;
	char client_id[80];
	struct mqlink link;  /* when and how it (re)connects: common/mqlink.h */
	int connected;       /* CONNACK accepted and subscribed */
	int pfd_index;
	uint64_t unacked;    /* QoS 1 publishes not yet acknowledged */
};

struct node_mqtt {
	struct node_mqtt_conn conn[NODE_CONN_N];
	int lib_ready;
	struct node_sub subs[NODE_MQTT_MAX_SUBS];
	int nsubs;
	struct node_conn_hook hooks[NODE_MQTT_MAX_HOOKS];
	int nhooks;
};

/* Add to the subscription table (before node_mqtt_start). 0, -EINVAL, -ENOSPC. */
int node_mqtt_subscribe(struct node *n, enum topic_leaf leaf, unsigned scope,
			enum node_conn_kind conn, int qos, node_msg_fn fn);
/* Add connect/disconnect hooks, run in the order added. 0 or -ENOSPC. */
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

int node_mqtt_pollfds(struct node *n, struct pollfd *pfds, int max);
void node_mqtt_handle(struct node *n, const struct pollfd *pfds);
void node_mqtt_tick(struct node *n);
int64_t node_mqtt_next_deadline(const struct node *n);
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
