/*
 * mqconn.h - one MQTT connection of either daemon: the only place that
 * creates a libmosquitto client. Used by every connection of loaxa
 * (controller/mqtt.c: control and bulk; controller/live.c: live;
 * node/mqtt.c: control and bulk), which keep only what is theirs: client
 * ids, topics, and who handles what.
 *
 * What it does, so that the daemons' connections cannot drift apart:
 *
 *   - create the client from the mqtt group of the config (common/config.h:
 *     host, port, keepalive, account, TLS with the broker's CA checked, no
 *     tls_insecure), MQTT 3.1.1 or 5 (with Maximum Packet Size), TCP_NODELAY
 *     when asked, an optional Last Will;
 *   - when and how it (re)connects: common/mqlink.h (a TCP probe before the
 *     TLS handshake, a handshake deadline, a jittered back-off that goes
 *     back to 1 s only after a connection held 10 s; a refused CONNACK,
 *     credentials included, backs off like any failure);
 *   - its descriptor and tick on the event loop (common/loop.h);
 *   - a subscription table (topic filter, QoS, callback, argument): every
 *     entry is subscribed on every (re)connect (clean sessions), and each
 *     message goes to the first entry whose filter matches its topic, so
 *     the connection names none of its consumers;
 *   - on-connect (after the subscriptions) and on-lost hooks;
 *   - publishing, libmosquitto's errors mapped to -errno;
 *   - the log lines of all of this.
 */
#ifndef LOAXA_MQCONN_H
#define LOAXA_MQCONN_H

#include <stddef.h>
#include <stdint.h>

#include "mqlink.h"

struct cfg_mqtt;
struct loop;
struct mosquitto;

/* A received message, as a subscription's callback gets it (untrusted). */
struct mqconn_msg {
	const char *topic;
	const void *payload;
	size_t len;
	int retained;
};
typedef void (*mqconn_msg_fn)(const struct mqconn_msg *m, void *arg);
typedef void (*mqconn_hook_fn)(void *arg);

/* The node: cmd/live/... of itself, of up to 16 zones and of "all". */
#define MQCONN_MAX_SUBS 64
#define MQCONN_MAX_HOOKS 8
#define MQCONN_FILTER_MAX 160 /* TOPIC_MAX */

struct mqconn_sub {
	char filter[MQCONN_FILTER_MAX];
	int qos;
	mqconn_msg_fn fn;
	void *arg;
};

struct mqconn_hook {
	mqconn_hook_fn on_connect, on_lost; /* either may be NULL */
	void *arg;
};

struct mqconn_opts {
	const char *name;            /* "control", "bulk", "live": for the log */
	const char *client_id;       /* copied */
	const struct cfg_mqtt *cfg;  /* the mqtt group; outlives the connection */
	int mqtt5;                   /* MQTT 5 rather than 3.1.1 */
	uint32_t max_packet;         /* MQTT 5: Maximum Packet Size on CONNECT (0: none) */
	int nodelay;                 /* TCP_NODELAY: a live frame must leave at once */
	/*
	 * Publish while down: a QoS 1 message is kept by libmosquitto and sent
	 * after the reconnect (the call still says -ENOTCONN). Without it a
	 * publish while down is refused and nothing is queued: the caller keeps
	 * its own state and publishes again from an on-connect hook.
	 */
	int queue_offline;
	size_t max_publish;          /* largest payload (0: MQTT's 256 MiB) */
	/* What a second client with our id would be ("a second controller for
	 * site xa"), for the warning when the broker keeps dropping us. */
	const char *dup_hint;
	/* The daemon's "stopping" flag: a loss then schedules and logs nothing. */
	const int *stopping;
};

/* A Last Will (the node's offline status); copied by mqconn_start. */
struct mqconn_will {
	const char *topic;
	const void *payload;
	size_t len;
	int qos, retain;
};

struct mqconn {
	struct mqconn_opts o;
	char client_id[96];
	char dup_hint[96];
	struct mosquitto *m;
	struct mqlink link;          /* when and how it (re)connects */
	int connected;               /* CONNACK accepted, subscriptions sent */
	int stopped;                 /* mqconn_stop or mqconn_flush began */
	int lib_ready;               /* this connection holds a mosquitto_lib_init */
	uint64_t unacked;            /* QoS > 0 publishes not yet acknowledged */
	int64_t connected_at_ms;     /* monotonic, of the last CONNACK */
	struct mqconn_sub subs[MQCONN_MAX_SUBS];
	int nsubs;
	struct mqconn_hook hooks[MQCONN_MAX_HOOKS];
	int nhooks;
};

/* Fill in (no network, no allocation): safe in unit tests. */
void mqconn_init(struct mqconn *c, const struct mqconn_opts *o);
/*
 * Add to the subscription table (before or after mqconn_start; when the
 * connection is up it subscribes at once). 0, -EINVAL (a filter too long
 * or not valid, a QoS not 0-2), -ENOSPC.
 */
int mqconn_subscribe(struct mqconn *c, const char *filter, int qos, mqconn_msg_fn fn,
		     void *arg);
/* Hooks run in the order added; on_lost on every disconnect. 0 or -ENOSPC. */
int mqconn_hook(struct mqconn *c, mqconn_hook_fn on_connect, mqconn_hook_fn on_lost,
		void *arg);
/* The table entry a topic goes to (NULL: none). */
const struct mqconn_sub *mqconn_route(const struct mqconn *c, const char *topic);
/* Hand one message to its entry; a topic no entry matches is logged. */
void mqconn_dispatch(struct mqconn *c, const struct mqconn_msg *m);

/* Create the client (TLS, account, Will) and start connecting (non-blocking).
 * 0, -ENOMEM or -EINVAL (logged, naming the mqtt field). */
int mqconn_start(struct mqconn *c, const struct mqconn_will *will);
/*
 * A bounded wait at shutdown: up to ms for the broker to acknowledge what
 * was published and for the socket to take what is queued. 0, or -ETIMEDOUT
 * with *left (may be NULL) the messages still not acknowledged.
 */
int mqconn_flush(struct mqconn *c, int ms, uint64_t *left);
/* Disconnect cleanly if up (best effort), destroy the client. */
void mqconn_stop(struct mqconn *c);

/* Its descriptor and tick on the event loop. 0 or -ENOSPC. */
int mqconn_register(struct loop *l, struct mqconn *c);
/* What the loop calls (exposed for callers with their own poll). */
void mqconn_tick(struct mqconn *c);

/*
 * Publish. 0 (sent or queued; *mid set when mid is not NULL); -ENOTCONN when
 * down (see queue_offline); -EMSGSIZE, -ENOMEM, or -EIO (logged).
 */
int mqconn_publish(struct mqconn *c, const char *topic, const void *payload, size_t len,
		   int qos, int retain, int *mid);
/* Push what libmosquitto still holds for the socket now (live frames). */
void mqconn_write(struct mqconn *c);
/* libmosquitto's error as -errno (MOSQ_ERR_SUCCESS: 0). */
int mqconn_errno(int mosq_rc);

int mqconn_connected(const struct mqconn *c);
int mqconn_want_write(const struct mqconn *c);

#endif
