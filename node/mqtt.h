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

struct node;
struct mosquitto;

enum node_conn_kind { NODE_CONN_CTL = 0, NODE_CONN_BULK = 1, NODE_CONN_N = 2 };

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
};

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
