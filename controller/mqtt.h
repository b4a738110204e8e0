/*
 * mqtt.h - the controller's two MQTT connections, on the main poll loop.
 *
 * "<site>-controller-ctl" publishes commands (and, later, plans) and
 * receives node status and events; "<site>-controller-bulk" receives fetch
 * requests and publishes content chunks. Two connections because a broker
 * queues per client: a burst of content must never delay a command.
 *
 * libmosquitto runs in its external-loop mode: main.c polls the sockets
 * (ctl_mqtt_pollfds) and calls ctl_mqtt_handle with what poll() said;
 * ctl_mqtt_tick (once a second) sends keepalives and reconnects a lost
 * connection. When and how is common/mqlink.h: a plain TCP probe before
 * libmosquitto's TLS handshake (a broker that is away must not make us spin
 * or crash: issue 13), a handshake deadline, and a jittered back-off that
 * returns to 1 s only after a connection held 10 s, so a broker that drops
 * us at once - a duplicate client id - is not hammered. On every
 * (re)connect the subscriptions are made again (clean sessions).
 *
 * Incoming messages are untrusted: ctl_mqtt_route checks the topic and
 * size and hands the payload to nodes.c or delivery.c.
 */
#ifndef LOAXA_CTL_MQTT_H
#define LOAXA_CTL_MQTT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "mqlink.h"

struct ctl;
struct mosquitto;

/* Largest status, event or fetch payload the controller reads. */
#define CTL_MAX_INBOUND (64 * 1024)

enum ctl_conn_kind { CTL_CONN_CTL = 0, CTL_CONN_BULK = 1 };

struct ctl_mqtt_conn {
	struct mosquitto *m;
	struct ctl *owner;
	const char *name;          /* "control" or "bulk", for the log */
	char client_id[64];
	struct mqlink link;        /* when and how it (re)connects: common/mqlink.h */
	int connected;             /* CONNACK accepted and subscribed */
	int unacked;               /* QoS 1 publishes not yet acknowledged */
	int64_t connected_at_ms;   /* monotonic, of the last CONNACK */
	int pollfd_index;          /* where its socket sits in this round's pollfds */
};

struct ctl_mqtt {
	struct ctl *owner;
	struct ctl_mqtt_conn conn[2];
	char root[64];             /* "loaxa/<site>" */
	int lib_ready;
	/*
	 * Tests: when set, publishes go here instead of to a broker. Returns
	 * 0 or -errno like ctl_mqtt_publish.
	 */
	int (*publish_hook)(void *arg, enum ctl_conn_kind kind, const char *topic,
			    const void *payload, size_t len, int qos, int retain);
	void *hook_arg;
};

/* Set up the root and client ids (no network); safe to call in tests. */
void ctl_mqtt_init(struct ctl *c);
/* Create both clients and start connecting (non-blocking). */
int ctl_mqtt_start(struct ctl *c);
/* Disconnect cleanly and free both clients. */
void ctl_mqtt_stop(struct ctl *c);

/* Append the sockets that exist to pfds (at most max); returns how many. */
int ctl_mqtt_pollfds(struct ctl *c, struct pollfd *pfds, int max);
/* Act on the revents of the entries ctl_mqtt_pollfds added. */
void ctl_mqtt_handle(struct ctl *c, const struct pollfd *pfds);
/* Keepalive and reconnects; call about once a second. */
void ctl_mqtt_tick(struct ctl *c);

int ctl_mqtt_connected(const struct ctl *c, enum ctl_conn_kind kind);
/* Whether that connection still has bytes queued for the socket. */
int ctl_mqtt_want_write(const struct ctl *c, enum ctl_conn_kind kind);
int ctl_mqtt_unacked(const struct ctl *c, enum ctl_conn_kind kind);

/*
 * Publish on one connection. Returns 0, or -ENOTCONN when the connection is
 * down (a QoS 1 message is then kept by libmosquitto and sent on reconnect),
 * or another -errno.
 */
int ctl_mqtt_publish(struct ctl *c, enum ctl_conn_kind kind, const char *topic,
		     const void *payload, size_t len, int qos, int retain);

/*
 * Dispatch one inbound message: checks the topic shape
 * (<root>/node/<id>/status|event|fetch), the node id and the size, then
 * calls the handler. Never fails; problems are logged as one warning.
 */
void ctl_mqtt_route(struct ctl *c, const char *topic, const void *payload,
		    size_t len, int retained);

#endif
