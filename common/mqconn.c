/*
 * mqconn.c - see mqconn.h.
 */
#include "mqconn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "config.h"
#include "log.h"
#include "loop.h"
#include "util.h"

/* MQTT's own limit on a packet's remaining length. */
#define MQCONN_MAX_PAYLOAD (256u * 1024 * 1024 - 1024)

/* libmosquitto is initialised once for all connections of the process. */
static int lib_users;

static const char *mosq_reason(int rc)
{
	if (rc == MOSQ_ERR_ERRNO)
		return strerror(errno);
	return mosquitto_strerror(rc);
}

int mqconn_errno(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return 0;
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
		return -ENOTCONN;
	case MOSQ_ERR_NOMEM:
		return -ENOMEM;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return -EMSGSIZE;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
		return -EINVAL;
	case MOSQ_ERR_ERRNO:
		return errno ? -errno : -EIO;
	default:
		return -EIO;
	}
}

/* A topic from the broker, safe to log: non-printable bytes as '?', cut. */
static const char *printable(char *out, size_t outlen, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < outlen; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	return out;
}

static int stopping(const struct mqconn *c)
{
	return c->stopped || (c->o.stopping && *c->o.stopping);
}

void mqconn_init(struct mqconn *c, const struct mqconn_opts *o)
{
	memset(c, 0, sizeof(*c));
	c->o = *o;
	snprintf(c->client_id, sizeof(c->client_id), "%s", o->client_id ? o->client_id : "");
	snprintf(c->dup_hint, sizeof(c->dup_hint), "%s", o->dup_hint ? o->dup_hint : "");
	c->o.client_id = c->client_id;
	c->o.dup_hint = c->dup_hint;
	if (!c->o.max_publish || c->o.max_publish > MQCONN_MAX_PAYLOAD)
		c->o.max_publish = MQCONN_MAX_PAYLOAD;
	mqlink_init(&c->link, o->name, o->cfg->host, o->cfg->port, o->cfg->keepalive);
	if (o->mqtt5)
		c->link.max_packet = o->max_packet;
}

static void subscribe_one(struct mqconn *c, const struct mqconn_sub *s)
{
	int rc = mosquitto_subscribe(c->m, NULL, s->filter, s->qos);

	if (rc != MOSQ_ERR_SUCCESS)
		log_warnx("cannot subscribe to %s on the %s connection: %s", s->filter,
			  c->o.name, mosq_reason(rc));
	else
		log_debug("subscribed to %s (%s connection)", s->filter, c->o.name);
}

int mqconn_subscribe(struct mqconn *c, const char *filter, int qos, mqconn_msg_fn fn,
		     void *arg)
{
	struct mqconn_sub *s;

	if (!fn || qos < 0 || qos > 2 || !filter || !filter[0] ||
	    strlen(filter) >= sizeof(s->filter) ||
	    mosquitto_sub_topic_check(filter) != MOSQ_ERR_SUCCESS)
		return -EINVAL;
	if (c->nsubs >= MQCONN_MAX_SUBS)
		return -ENOSPC;
	s = &c->subs[c->nsubs++];
	snprintf(s->filter, sizeof(s->filter), "%s", filter);
	s->qos = qos;
	s->fn = fn;
	s->arg = arg;
	if (c->m && c->connected)
		subscribe_one(c, s);
	return 0;
}

int mqconn_hook(struct mqconn *c, mqconn_hook_fn on_connect, mqconn_hook_fn on_lost,
		void *arg)
{
	if (c->nhooks >= MQCONN_MAX_HOOKS)
		return -ENOSPC;
	c->hooks[c->nhooks].on_connect = on_connect;
	c->hooks[c->nhooks].on_lost = on_lost;
	c->hooks[c->nhooks].arg = arg;
	c->nhooks++;
	return 0;
}

const struct mqconn_sub *mqconn_route(const struct mqconn *c, const char *topic)
{
	bool match;
	int k;

	if (!topic)
		return NULL;
	for (k = 0; k < c->nsubs; k++) {
		match = false;
		if (mosquitto_topic_matches_sub(c->subs[k].filter, topic, &match) ==
		    MOSQ_ERR_SUCCESS && match)
			return &c->subs[k];
	}
	return NULL;
}

void mqconn_dispatch(struct mqconn *c, const struct mqconn_msg *m)
{
	const struct mqconn_sub *s = mqconn_route(c, m->topic);
	char safe[MQCONN_FILTER_MAX];

	if (!s) {
		/* the broker sends only what we subscribed to: a broker bug or worse */
		log_warnx("ignoring a message on unexpected topic %s (%s connection)",
			  printable(safe, sizeof(safe), m->topic ? m->topic : ""), c->o.name);
		return;
	}
	s->fn(m, s->arg);
}

/* ---- libmosquitto's callbacks ---- */

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
	struct mqconn *c = arg;
	const struct cfg_mqtt *cfg = c->o.cfg;
	int k;

	(void)m;
	/* the back-off is reset only once this connection has held (mqlink.h) */
	mqlink_on_connect(&c->link, rc);
	if (rc != 0) {
		/* a wrong account too: it backs off like any refusal, up to 30 s */
		int account = c->o.mqtt5 ? rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD ||
					   rc == MQTT_RC_NOT_AUTHORIZED
					 : rc == CONNACK_REFUSED_BAD_USERNAME_PASSWORD ||
					   rc == CONNACK_REFUSED_NOT_AUTHORIZED;

		log_warnx("the MQTT broker at %s:%d refused the %s connection: %s%s", cfg->host,
			  cfg->port, c->o.name,
			  c->o.mqtt5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc),
			  account ? " (check mqtt.username and mqtt.password or mqtt.password_file "
				    "against the broker's accounts)" : "");
		return; /* libmosquitto drops the connection: on_disconnect backs off */
	}
	c->connected = 1;
	c->connected_at_ms = mono_ms();
	c->unacked = 0;
	log_info("connected to the MQTT broker at %s:%d (%s connection, client id %s)",
		 cfg->host, cfg->port, c->o.name, c->client_id);
	/* the table's subscriptions (clean session: every time), then the hooks */
	for (k = 0; k < c->nsubs; k++)
		subscribe_one(c, &c->subs[k]);
	for (k = 0; k < c->nhooks && c->connected; k++)
		if (c->hooks[k].on_connect)
			c->hooks[k].on_connect(c->hooks[k].arg);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
	struct mqconn *c = arg;
	const struct cfg_mqtt *cfg = c->o.cfg;
	int was = c->connected, ms, k;
	enum mqlink_loss what;

	(void)m;
	c->connected = 0;
	if (!c->o.queue_offline)
		c->unacked = 0; /* nothing of ours is kept for the next connection */
	for (k = 0; k < c->nhooks; k++)
		if (c->hooks[k].on_lost)
			c->hooks[k].on_lost(c->hooks[k].arg);
	/* the link schedules the retry (jittered back-off, mqlink.h) */
	what = mqlink_on_disconnect(&c->link, stopping(c));
	if (stopping(c) || what == MQLINK_IGNORED)
		return;
	ms = c->link.last_delay_ms;
	if (was && c->dup_hint[0] && c->link.short_lived % 5 == 3)
		log_warnx("the MQTT broker keeps dropping the %s connection right after it "
			  "is made: is another client using the client id %s (%s)?", c->o.name,
			  c->client_id, c->dup_hint);
	if (was)
		log_warnx("lost the %s connection to the MQTT broker at %s:%d (%s); "
			  "reconnecting in %d.%d s", c->o.name, cfg->host, cfg->port,
			  rc == 0 ? "closed" : mosq_reason(rc), ms / 1000, ms % 1000 / 100);
	else
		log_warnx("cannot connect the %s connection to the MQTT broker at %s:%d "
			  "(%s); retrying in %d.%d s", c->o.name, cfg->host, cfg->port,
			  mosq_reason(rc), ms / 1000, ms % 1000 / 100);
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
	struct mqconn *c = arg;

	(void)m;
	(void)mid;
	if (c->unacked > 0)
		c->unacked--;
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
	struct mqconn *c = arg;
	struct mqconn_msg cm;

	(void)m;
	if (!msg || !msg->topic || msg->payloadlen < 0)
		return;
	cm.topic = msg->topic;
	cm.payload = msg->payload;
	cm.len = (size_t)msg->payloadlen;
	cm.retained = msg->retain;
	mqconn_dispatch(c, &cm);
}

/* ---- life ---- */

static int setup(struct mqconn *c, const struct mqconn_will *will)
{
	const struct cfg_mqtt *cfg = c->o.cfg;
	int rc;

	mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION,
			     c->o.mqtt5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	if (c->o.nodelay)
		mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);
	if (cfg->username[0]) {
		rc = mosquitto_username_pw_set(c->m, cfg->username,
					       cfg->password[0] ? cfg->password : NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			log_errorx("mqtt.username: %s (the %s connection cannot use this "
				   "account; check mqtt.username and mqtt.password)",
				   mosq_reason(rc), c->o.name);
			return -EINVAL;
		}
	}
	if (cfg->cafile[0]) {
		/* TLS, the broker's certificate checked against our CA and its
		 * name against mqtt.host (no tls_insecure). */
		rc = mosquitto_tls_set(c->m, cfg->cafile, NULL, NULL, NULL, NULL);
		if (rc == MOSQ_ERR_SUCCESS)
			rc = mosquitto_tls_opts_set(c->m, 1, "tlsv1.2", NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			log_errorx("mqtt.cafile %s: %s (the %s connection cannot use TLS; check "
				   "that the file is the broker's CA certificate)", cfg->cafile,
				   mosq_reason(rc), c->o.name);
			return -EINVAL;
		}
	}
	if (will) {
		if (will->len > (size_t)INT32_MAX)
			return -EMSGSIZE;
		rc = mosquitto_will_set(c->m, will->topic, (int)will->len, will->payload,
					will->qos, will->retain != 0);
		if (rc != MOSQ_ERR_SUCCESS) {
			log_errorx("cannot set the MQTT Last Will: %s", mosq_reason(rc));
			return -EINVAL;
		}
	}
	mosquitto_connect_callback_set(c->m, on_connect);
	mosquitto_disconnect_callback_set(c->m, on_disconnect);
	mosquitto_message_callback_set(c->m, on_message);
	mosquitto_publish_callback_set(c->m, on_publish);
	return 0;
}

int mqconn_start(struct mqconn *c, const struct mqconn_will *will)
{
	int rc;

	if (c->m)
		return -EALREADY;
	if (!c->lib_ready) {
		if (lib_users++ == 0)
			mosquitto_lib_init();
		c->lib_ready = 1;
	}
	c->stopped = 0;
	c->m = mosquitto_new(c->client_id, true, c);
	if (!c->m) {
		log_errorx("cannot create the MQTT %s client: %s", c->o.name, strerror(errno));
		return -ENOMEM;
	}
	c->link.m = c->m; /* from here mqlink_stop destroys it, even after a failure */
	rc = setup(c, will);
	if (rc < 0)
		return rc;
	mqlink_tick(&c->link); /* starts the first attempt */
	return 0;
}

int mqconn_flush(struct mqconn *c, int ms, uint64_t *left)
{
	int64_t deadline = mono_ms() + ms;

	while (c->m && c->connected && (c->unacked > 0 || mosquitto_want_write(c->m)) &&
	       mono_ms() < deadline) {
		struct pollfd p = { .fd = mosquitto_socket(c->m), .events = POLLIN };

		if (p.fd < 0)
			break;
		if (mosquitto_want_write(c->m))
			p.events |= POLLOUT;
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		if (p.revents & (POLLIN | POLLERR | POLLHUP))
			mosquitto_loop_read(c->m, 1);
		if (c->m && mosquitto_socket(c->m) >= 0 && (p.revents & POLLOUT))
			mosquitto_loop_write(c->m, 1);
		mosquitto_loop_misc(c->m);
	}
	if (left)
		*left = c->unacked;
	return c->unacked > 0 ? -ETIMEDOUT : 0;
}

void mqconn_stop(struct mqconn *c)
{
	c->stopped = 1;
	if (c->m)
		mqlink_stop(&c->link); /* DISCONNECT if up, then destroy */
	c->m = NULL;
	c->link.m = NULL;
	c->connected = 0;
	if (c->lib_ready) {
		c->lib_ready = 0;
		if (--lib_users == 0)
			mosquitto_lib_cleanup();
	}
}

void mqconn_tick(struct mqconn *c)
{
	if (c->m && !stopping(c))
		mqlink_tick(&c->link);
}

/* ---- the event loop (loop.h) ---- */

static int loop_fill(struct loop *l, struct pollfd *pfds, int max, void *arg)
{
	struct mqconn *c = arg;

	(void)l;
	if (max < 1)
		return 0;
	return mqlink_pollfd(&c->link, &pfds[0]);
}

static void loop_handle(struct loop *l, struct pollfd *pfds, int n, void *arg)
{
	struct mqconn *c = arg;

	(void)l;
	if (n >= 1 && c->m)
		mqlink_handle(&c->link, &pfds[0]);
}

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	mqconn_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	const struct mqconn *c = arg;

	return stopping(c) ? INT64_MAX : mqlink_next_deadline(&c->link);
}

int mqconn_register(struct loop *l, struct mqconn *c)
{
	int rc = loop_source_add(l, loop_fill, loop_handle, c);

	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "mqtt", loop_tick, loop_deadline, c);
	return rc < 0 ? rc : 0;
}

/* ---- publishing ---- */

int mqconn_publish(struct mqconn *c, const char *topic, const void *payload, size_t len,
		   int qos, int retain, int *mid)
{
	int rc;

	if (!c->m || (!c->connected && !c->o.queue_offline))
		return -ENOTCONN;
	if (len > c->o.max_publish)
		return -EMSGSIZE;
	rc = mosquitto_publish(c->m, mid, topic, (int)len, payload, qos, retain != 0);
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		if (qos > 0)
			c->unacked++;
		return c->connected ? 0 : -ENOTCONN;
	case MOSQ_ERR_NO_CONN:
		/* QoS 1/2 with queue_offline: kept inside libmosquitto for the reconnect */
		if (qos > 0 && c->o.queue_offline)
			c->unacked++;
		return -ENOTCONN;
	case MOSQ_ERR_NOMEM:
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return mqconn_errno(rc);
	default:
		log_warnx("cannot publish on %s (%s connection): %s", topic, c->o.name,
			  mosq_reason(rc));
		return -EIO;
	}
}

void mqconn_write(struct mqconn *c)
{
	if (c->m && c->connected)
		mosquitto_loop_write(c->m, 1);
}

int mqconn_connected(const struct mqconn *c)
{
	return c->connected;
}

int mqconn_want_write(const struct mqconn *c)
{
	return c->m && mosquitto_want_write(c->m);
}
