/*
 * mqlink.c - see mqlink.h.
 */
#include "mqlink.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "log.h"
#include "util.h"

/*
 * A TLS handshake and CONNACK take a handful of wake-ups; far more within one
 * attempt means a socket that stays readable without progress (the spin of
 * issue 13), whatever libmosquitto thinks.
 */
#define HANDSHAKE_MAX_WAKEUPS 200

static uint64_t next_random(struct mqlink *l)
{
	/* xorshift64: jitter only, no need for more */
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	return l->rng;
}

/* Somewhere between half and all of ms, so that clients spread out. */
static void schedule(struct mqlink *l, int ms)
{
	int half = ms / 2;

	l->last_delay_ms = half + (int)(next_random(l) % (uint64_t)(ms - half + 1));
	l->retry_at_ms = mono_ms() + l->last_delay_ms;
	l->state = MQLINK_IDLE;
}

static void grow_backoff(struct mqlink *l)
{
	l->backoff_ms = l->backoff_ms * 2 > MQLINK_BACKOFF_MAX_MS ? MQLINK_BACKOFF_MAX_MS
								   : l->backoff_ms * 2;
}

void mqlink_init(struct mqlink *l, const char *name, const char *host, int port,
		 int keepalive)
{
	struct timespec ts;

	memset(l, 0, sizeof(*l));
	l->name = name;
	l->host = host;
	l->port = port;
	l->keepalive = keepalive;
	l->state = MQLINK_IDLE;
	l->probe_fd = -1;
	l->backoff_ms = MQLINK_BACKOFF_MIN_MS;
	l->retry_at_ms = mono_ms(); /* the first attempt at once */
	clock_gettime(CLOCK_REALTIME, &ts);
	l->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		 ((uint64_t)getpid() << 40) ^ (uint64_t)(uintptr_t)l;
	if (!l->rng)
		l->rng = 0x9e3779b97f4a7c15ULL;
}

static void close_probe(struct mqlink *l)
{
	if (l->probe_fd >= 0)
		close(l->probe_fd);
	l->probe_fd = -1;
}

/* The broker's port did not accept a plain TCP connection. */
static void probe_failed(struct mqlink *l, int err)
{
	int ms = MQLINK_BACKOFF_MIN_MS;

	close_probe(l);
	l->last_err = err;
	if (l->probe_fails < 16)
		l->probe_fails++;
	for (int i = 1; i < l->probe_fails && ms < MQLINK_PROBE_MAX_MS; i++)
		ms *= 2;
	if (ms > MQLINK_PROBE_MAX_MS)
		ms = MQLINK_PROBE_MAX_MS;
	schedule(l, ms);
	/* one warning per outage, then debug lines (a 4G link drops daily) */
	if (l->probe_fails == 1)
		log_warnx("the MQTT broker at %s:%d does not accept connections (%s); the %s "
			  "connection keeps trying (every %d s at most while it refuses)",
			  l->host, l->port, strerror(err), l->name, MQLINK_PROBE_MAX_MS / 1000);
	else
		log_debug("%s connection: %s:%d still refuses (%s); next try in %d ms",
			  l->name, l->host, l->port, strerror(err), l->last_delay_ms);
}

/* An attempt that got past TCP failed before CONNACK: back off. */
static void attempt_failed(struct mqlink *l, const char *why)
{
	schedule(l, l->backoff_ms);
	grow_backoff(l);
	log_warnx("the %s connection to the MQTT broker at %s:%d failed before it was "
		  "accepted (%s); retrying in %d.%d s", l->name, l->host, l->port, why,
		  l->last_delay_ms / 1000, l->last_delay_ms % 1000 / 100);
}

/*
 * Give up an attempt without reading from its TLS session again. Through
 * libmosquitto (mosquitto_disconnect marks the client disconnected; it has
 * nothing to write before CONNACK); the socket itself is closed by the next
 * mosquitto_reconnect_async or by mosquitto_destroy, and is not polled
 * meanwhile. The state changes first, so that a disconnect callback
 * coming from inside libmosquitto here is ignored.
 */
static void abandon(struct mqlink *l, const char *why)
{
	l->state = MQLINK_IDLE;
	mosquitto_disconnect(l->m);
	attempt_failed(l, why);
}

static void start_handshake(struct mqlink *l)
{
	int rc;

	if (!l->started && l->max_packet) {
		/*
		 * libmosquitto takes CONNECT properties only through this call and
		 * keeps them for every mosquitto_reconnect_async after. Its TCP
		 * connect blocks, but the probe has just seen the port accept, and
		 * the TLS handshake still runs non-blocking in the loop.
		 */
		mosquitto_property *props = NULL;

		l->started = 1;
		rc = mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
						  l->max_packet);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_connect_bind_v5(l->m, l->host, l->port, l->keepalive, NULL,
						       props);
		mosquitto_property_free_all(&props);
	} else if (!l->started) {
		l->started = 1;
		rc = mosquitto_connect_async(l->m, l->host, l->port, l->keepalive);
	} else {
		rc = mosquitto_reconnect_async(l->m);
	}
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
		attempt_failed(l, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return;
	}
	l->state = MQLINK_HANDSHAKE;
	l->deadline_ms = mono_ms() + MQLINK_HANDSHAKE_TIMEOUT_MS;
	l->wakeups = 0;
	log_debug("%s connection: %s:%d accepts TCP; connecting", l->name, l->host, l->port);
}

/* The port accepted: the probe socket goes, libmosquitto connects. */
static void probe_succeeded(struct mqlink *l)
{
	close_probe(l);
	if (l->probe_fails)
		log_info("the MQTT broker at %s:%d accepts connections again (%s connection)",
			 l->host, l->port, l->name);
	l->probe_fails = 0;
	start_handshake(l);
}

/*
 * A non-blocking TCP connect to host:port, polled by the caller's loop. The
 * name is resolved with getaddrinfo (blocking, as libmosquitto's own connect
 * does; loaxa's configs use addresses or /etc/hosts names).
 */
static void start_probe(struct mqlink *l)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	char port[8];
	int fd = -1, err = ECONNREFUSED, rc;

	snprintf(port, sizeof(port), "%d", l->port);
	rc = getaddrinfo(l->host, port, &hints, &res);
	if (rc != 0) {
		log_debug("%s connection: cannot resolve %s: %s", l->name, l->host,
			  gai_strerror(rc));
		probe_failed(l, rc == EAI_SYSTEM ? errno : EHOSTUNREACH);
		return;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		probe_failed(l, err);
		return;
	}
	l->probe_fd = fd;
	l->state = MQLINK_PROBING;
	l->deadline_ms = mono_ms() + MQLINK_PROBE_TIMEOUT_MS;
}

int mqlink_pollfd(struct mqlink *l, struct pollfd *p)
{
	int sock;

	p->fd = -1;
	p->events = 0;
	p->revents = 0;
	if (!l->m)
		return 0;
	switch (l->state) {
	case MQLINK_PROBING:
		p->fd = l->probe_fd;
		p->events = POLLOUT;
		return 1;
	case MQLINK_HANDSHAKE:
	case MQLINK_UP:
		sock = mosquitto_socket(l->m);
		if (sock < 0)
			return 0; /* closed inside libmosquitto: mqlink_tick sees it */
		p->fd = sock;
		p->events = POLLIN;
		if (l->state == MQLINK_HANDSHAKE)
			p->events |= POLLRDHUP;
		if (mosquitto_want_write(l->m))
			p->events |= POLLOUT;
		return 1;
	default:
		return 0;
	}
}

static void handle_probe(struct mqlink *l, const struct pollfd *p)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (!(p->revents & (POLLOUT | POLLERR | POLLHUP)))
		return;
	if (getsockopt(l->probe_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0 && (p->revents & (POLLERR | POLLHUP)))
		err = ECONNRESET;
	if (err)
		probe_failed(l, err);
	else
		probe_succeeded(l);
}

void mqlink_handle(struct mqlink *l, const struct pollfd *p)
{
	short dead = POLLERR | POLLHUP | POLLNVAL;

	if (!l->m || p->fd < 0 || !p->revents)
		return;
	if (l->state == MQLINK_PROBING) {
		if (p->fd == l->probe_fd)
			handle_probe(l, p);
		return;
	}
	if (l->state != MQLINK_HANDSHAKE && l->state != MQLINK_UP)
		return;
	/*
	 * The socket poll() reported on must still be the client's: a tick in
	 * the same loop turn (keepalive) may have closed it and freed its SSL
	 * object, and a read then runs SSL_connect on NULL (the crash of
	 * issue 13).
	 */
	if (mosquitto_socket(l->m) != p->fd)
		return;
	if (l->state == MQLINK_HANDSHAKE) {
		if (++l->wakeups > HANDSHAKE_MAX_WAKEUPS) {
			abandon(l, "no progress in the handshake");
			return;
		}
		if (!(p->revents & (POLLIN | POLLOUT))) {
			/* error or hang-up and nothing to read: nothing to hand libmosquitto */
			abandon(l, "the broker closed the connection");
			return;
		}
		/* loop_read also drives the TLS handshake when it wants to write */
		mosquitto_loop_read(l->m, 1);
		if (l->state == MQLINK_HANDSHAKE && mosquitto_socket(l->m) == p->fd &&
		    (p->revents & POLLOUT))
			mosquitto_loop_write(l->m, 1);
		if (l->state == MQLINK_HANDSHAKE && mosquitto_socket(l->m) < 0)
			attempt_failed(l, "the connection closed during the handshake");
		else if (l->state == MQLINK_HANDSHAKE && (p->revents & (dead | POLLRDHUP)))
			abandon(l, "the broker closed the connection");
		return;
	}
	/* UP: libmosquitto reads the error or end of stream and closes. */
	if (p->revents & (POLLIN | dead))
		mosquitto_loop_read(l->m, 1);
	if (l->state == MQLINK_UP && mosquitto_socket(l->m) == p->fd &&
	    (p->revents & POLLOUT))
		mosquitto_loop_write(l->m, 1);
}

void mqlink_tick(struct mqlink *l)
{
	int64_t now = mono_ms();

	if (!l->m)
		return;
	switch (l->state) {
	case MQLINK_IDLE:
		if (now >= l->retry_at_ms)
			start_probe(l);
		break;
	case MQLINK_PROBING:
		if (now >= l->deadline_ms)
			probe_failed(l, ETIMEDOUT);
		break;
	case MQLINK_HANDSHAKE:
		if (mosquitto_socket(l->m) < 0)
			attempt_failed(l, "the connection closed during the handshake");
		else if (now >= l->deadline_ms)
			abandon(l, "no CONNACK within the handshake timeout");
		break;
	case MQLINK_UP:
		/* keepalive; a dead connection is closed here and reported */
		mosquitto_loop_misc(l->m);
		break;
	}
}

int64_t mqlink_next_deadline(const struct mqlink *l)
{
	if (!l->m)
		return INT64_MAX;
	switch (l->state) {
	case MQLINK_IDLE:
		return l->retry_at_ms;
	case MQLINK_PROBING:
	case MQLINK_HANDSHAKE:
		return l->deadline_ms;
	default:
		return mono_ms() + 1000; /* keepalive pings: loop_misc once a second */
	}
}

void mqlink_on_connect(struct mqlink *l, int rc)
{
	if (rc != 0)
		return; /* refused: libmosquitto closes, mqlink_on_disconnect backs off */
	l->state = MQLINK_UP;
	l->up_at_ms = mono_ms();
}

enum mqlink_loss mqlink_on_disconnect(struct mqlink *l, int stopping)
{
	enum mqlink_state was = l->state;

	if (was != MQLINK_HANDSHAKE && was != MQLINK_UP)
		return MQLINK_IGNORED;
	l->state = MQLINK_IDLE;
	if (stopping) {
		l->retry_at_ms = INT64_MAX;
		return was == MQLINK_UP ? MQLINK_LOST : MQLINK_FAILED;
	}
	if (was == MQLINK_UP) {
		/*
		 * Only a connection that held for a while resets the delay: a
		 * broker that drops us right away (a second client with our
		 * client id, an ACL) must not be hammered once a second.
		 */
		if (mono_ms() - l->up_at_ms >= MQLINK_STABLE_MS) {
			l->backoff_ms = MQLINK_BACKOFF_MIN_MS;
			l->short_lived = 0;
		} else {
			l->short_lived++;
		}
	}
	schedule(l, l->backoff_ms);
	grow_backoff(l);
	return was == MQLINK_UP ? MQLINK_LOST : MQLINK_FAILED;
}

int mqlink_up(const struct mqlink *l)
{
	return l->state == MQLINK_UP;
}

void mqlink_stop(struct mqlink *l)
{
	close_probe(l);
	if (!l->m)
		return;
	if (l->state == MQLINK_UP && mosquitto_socket(l->m) >= 0) {
		l->state = MQLINK_IDLE;
		mosquitto_disconnect(l->m);
		/* push the DISCONNECT out (best effort, non-blocking socket) */
		mosquitto_loop_write(l->m, 1);
	}
	l->state = MQLINK_IDLE;
	l->retry_at_ms = INT64_MAX;
	mosquitto_destroy(l->m);
	l->m = NULL;
}
