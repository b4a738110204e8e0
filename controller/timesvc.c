/*
 * timesvc.c - see timesvc.h.
 */
#include "timesvc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl.h"
#include "ctlutil.h"
#include "db.h"
#include "envelope.h"
#include "log.h"
#include "mqtt.h"
#include "util.h"
#include "topic.h"

static int64_t realtime_us(void)
{
	return now_us();
}

/* 1 when one more answer fits in this second. */
static int rate_ok(struct ctl *c)
{
	struct ctl_timesvc *ts = &c->timesvc;
	int64_t mono = mono_ms();

	if (mono - ts->window_ms >= 1000) {
		ts->window_ms = mono;
		ts->in_window = 0;
	}
	if (ts->in_window >= CTL_TIME_RATE) {
		ts->dropped++;
		if (mono - ts->warned_ms >= 60000) {
			ts->warned_ms = mono;
			log_warnx("more than %d time pings a second: the excess is not answered "
				  "(%" PRIu64 " so far)", CTL_TIME_RATE, ts->dropped);
		}
		return 0;
	}
	ts->in_window++;
	return 1;
}

void ctl_timesvc_on_ping(struct ctl *c, const char *node, const void *payload, size_t len,
			 int64_t t2_us)
{
	char err[200], who[40], topic[160], body[200];
	json_t *o;
	int64_t n, t1, t3, now;
	uint64_t seq;
	uint8_t *env = NULL;
	size_t envlen = 0;
	int rc;

	o = ctl_json_object(payload, len, err, sizeof(err));
	if (!o) {
		log_warnx("ignoring a time ping from node %s: %s", node, err);
		return;
	}
	if (ctl_json_str(o, "node", CTL_REQUIRED, who, sizeof(who), err, sizeof(err)) < 0 ||
	    ctl_json_int(o, "n", CTL_REQUIRED, 0, CTL_JSON_INT_MAX, &n, err, sizeof(err)) < 0 ||
	    ctl_json_int(o, "t1", CTL_REQUIRED, 0, CTL_JSON_INT_MAX, &t1, err, sizeof(err)) < 0) {
		log_warnx("ignoring a time ping from node %s: %s", node, err);
		goto out;
	}
	if (strcmp(who, node) != 0) {
		log_warnx("ignoring a time ping on the topic of node %s: its body says node "
			  "\"%s\"", node, ctl_printable(err, sizeof(err), who));
		goto out;
	}
	if (!rate_ok(c))
		goto out;
	rc = ctl_db_next_seq(&c->db, ENV_TIME, ctl_now_us(), &seq);
	if (rc < 0) {
		log_warnx("cannot answer a time ping from node %s: no sequence number (%s)", node,
			  strerror(-rc));
		goto out;
	}
	/* t3 as late as possible: only the signature lies between it and the socket */
	t3 = realtime_us();
	snprintf(body, sizeof(body), "{\"n\":%" PRId64 ",\"t1\":%" PRId64 ",\"t2\":%" PRId64
		 ",\"t3\":%" PRId64 "}", n, t1, t2_us, t3);
	now = t3 / 1000;
	rc = envelope_seal(&c->signer, ENV_TIME, 0, seq, now, now + CTL_TIME_TTL_MS, body,
			   strlen(body), &env, &envlen);
	if (rc < 0) {
		log_warnx("cannot seal a time answer for node %s: %s", node, strerror(-rc));
		goto out;
	}
	topic_node(topic, sizeof(topic), c->mqtt.root, node, LEAF_PONG);
	rc = ctl_mqtt_publish(c, CTL_CONN_CTL, topic, env, envlen, 0, 0);
	if (rc == 0)
		c->timesvc.answered++;
	log_debug("time ping %" PRId64 " from node %s answered (held %" PRId64 " µs)", n, node,
		  t3 - t2_us);
	free(env);
out:
	json_decref(o);
}

/* ---- the pings (the subscription table, mqtt.h) ---- */

static void on_ping(struct ctl *c, const char *node, const void *payload, size_t len,
		    int retained)
{
	(void)retained;
	ctl_timesvc_on_ping(c, node, payload, len, (int64_t)ctl_now_us());
}

int ctl_timesvc_register(struct ctl *c)
{
	return ctl_mqtt_on_node(c, CTL_CONN_CTL, LEAF_PING, 0, on_ping);
}
