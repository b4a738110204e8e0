/*
 * mqlink.h - when and how one libmosquitto client (re)connects, on the
 * caller's poll loop. Used by common/mqconn.c, the one MQTT connection
 * module of both daemons (controller/mqtt.c, controller/live.c,
 * node/mqtt.c), which keeps the client, its callbacks, subscriptions and
 * publishing, and hands the connection's life to this module.
 *
 * Why it exists (issue 13): libmosquitto 2.0.11 with TLS, asked to connect
 * (mosquitto_connect_async / reconnect_async) to a port that refuses or
 * drops the TCP connection mid-handshake, gets SSL_ERROR_SYSCALL from
 * SSL_connect and treats it as "try again": the socket stays readable
 * (POLLERR/POLLHUP/EOF), every poll() returns at once and the process spins
 * until the keepalive expires (~30 s); and after libmosquitto closes that
 * socket, a read on it calls SSL_connect on a freed SSL object (SIGSEGV).
 * So libmosquitto is never given a broker that is not there:
 *
 *   IDLE       waiting for retry_at_ms (jittered back-off);
 *   PROBING    a plain non-blocking TCP connect to host:port, polled here;
 *              refused or silent for PROBE_TIMEOUT_MS: back to IDLE;
 *   HANDSHAKE  the port accepted: libmosquitto connects (TCP, TLS, CONNECT)
 *              until CONNACK, with a deadline (HANDSHAKE_TIMEOUT_MS); a
 *              POLLERR/POLLHUP/POLLRDHUP on its socket, or far more wake-ups
 *              than a handshake needs, abandons the attempt without reading
 *              from the dead TLS session;
 *   UP         CONNACK accepted; a loss goes back to IDLE.
 *
 * An abandoned attempt's socket is left to libmosquitto, which closes it
 * (without touching the SSL object's I/O) on the next reconnect_async or on
 * mosquitto_destroy; it is not polled meanwhile.
 *
 * Back-off (docs/operations.md): after a connection that held STABLE_MS the
 * first retry comes after 0.5-1 s; every failure once the broker accepted
 * TCP (TLS or CONNACK refused, handshake timeout, a connection dropped
 * within STABLE_MS) doubles the delay up to BACKOFF_MAX_MS; while the
 * broker's port refuses, the probe (which costs the broker nothing) retries
 * at most every PROBE_MAX_MS. Every delay is drawn between half and all of
 * its value, so that many nodes do not come back in the same second.
 */
#ifndef LOAXA_MQLINK_H
#define LOAXA_MQLINK_H

#include <poll.h>
#include <stdint.h>

struct mosquitto;

#define MQLINK_BACKOFF_MIN_MS 1000
#define MQLINK_BACKOFF_MAX_MS 30000
#define MQLINK_PROBE_MAX_MS 4000
#define MQLINK_PROBE_TIMEOUT_MS 3000
#define MQLINK_HANDSHAKE_TIMEOUT_MS 10000
#define MQLINK_STABLE_MS 10000

enum mqlink_state { MQLINK_IDLE, MQLINK_PROBING, MQLINK_HANDSHAKE, MQLINK_UP };

struct mqlink {
	struct mosquitto *m;     /* set by the caller after mosquitto_new */
	const char *name;        /* "control", "bulk", "live": for the log */
	const char *host;        /* the caller's config, outlives the link */
	int port, keepalive;
	enum mqlink_state state;
	int started;             /* mosquitto_connect_async was called once */
	int probe_fd;            /* PROBING: the plain TCP socket */
	int64_t retry_at_ms;     /* IDLE: when to probe (monotonic) */
	int64_t deadline_ms;     /* PROBING/HANDSHAKE: give up at */
	int64_t up_at_ms;        /* UP: when CONNACK came */
	int backoff_ms;          /* delay after the next accepted-then-failed try */
	int probe_fails;         /* probes refused in a row */
	int wakeups;             /* HANDSHAKE: poll wake-ups of this attempt */
	int last_delay_ms;       /* the delay last scheduled, for log lines */
	int short_lived;         /* connections in a row lost within STABLE_MS */
	int last_err;            /* positive errno of the last probe failure */
	uint64_t rng;
	/*
	 * Set by the caller (with MQTT 5 chosen): the largest packet this client
	 * accepts, sent as the CONNECT property Maximum Packet Size; the broker
	 * must then drop a larger message for us instead of sending it. 0: none.
	 */
	uint32_t max_packet;
};

/* Set up (no network): IDLE with a first attempt due now. */
void mqlink_init(struct mqlink *l, const char *name, const char *host, int port,
		 int keepalive);
/*
 * The descriptor to poll this round, if any: fills *p and returns 1, or
 * returns 0 (then p->fd is -1, for callers with fixed slots).
 */
int mqlink_pollfd(struct mqlink *l, struct pollfd *p);
/* Act on what poll() said about the descriptor mqlink_pollfd gave. */
void mqlink_handle(struct mqlink *l, const struct pollfd *p);
/* Deadlines, retries, keepalive (mosquitto_loop_misc); call at least once a second. */
void mqlink_tick(struct mqlink *l);
/* Monotonic ms by which mqlink_tick must run again (INT64_MAX: none). */
int64_t mqlink_next_deadline(const struct mqlink *l);

/* From the client's connect callback: rc is its CONNACK code (0 = accepted). */
void mqlink_on_connect(struct mqlink *l, int rc);

enum mqlink_loss {
	MQLINK_LOST,      /* a connection that was up went down */
	MQLINK_FAILED,    /* an attempt failed before CONNACK */
	MQLINK_IGNORED,   /* nothing was going on (an abandoned attempt closing) */
};
/*
 * From the client's disconnect callback: schedules the retry. Returns what
 * ended; the delay is l->last_delay_ms. With stopping set it schedules
 * nothing.
 */
enum mqlink_loss mqlink_on_disconnect(struct mqlink *l, int stopping);

int mqlink_up(const struct mqlink *l);
/*
 * Disconnect cleanly if up (best effort, non-blocking), close the probe and
 * destroy the client (l->m = NULL).
 */
void mqlink_stop(struct mqlink *l);

#endif
