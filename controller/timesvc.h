/*
 * timesvc.h - the controller's half of the node clock (node/clock.h).
 *
 * A node publishes {"node","n","t1"} on <root>/node/<id>/time/ping (QoS 0);
 * the controller answers at once on <root>/node/<id>/time/pong with a
 * signed envelope of type time whose body is {"n","t1","t2","t3"}: the
 * node's counter and send time echoed, t2 when the ping arrived and t3 when
 * the answer left, both microseconds of the controller's CLOCK_REALTIME -
 * the clock every schedule is written in.
 *
 * Answers cost a signature each, so they are rate-limited (CTL_TIME_RATE
 * per second for all nodes together; a district of 300 nodes pinging every
 * 30 s needs 10): a flood of pings from a broken or hostile client costs at
 * most that. A ping whose body is not as above, or whose "node" differs from
 * the topic's, is ignored with one warning.
 */
#ifndef LOAXA_CTL_TIMESVC_H
#define LOAXA_CTL_TIMESVC_H

#include <stddef.h>
#include <stdint.h>

#define CTL_TIME_RATE 200
/* A pong is void after this (the node checks freshness by its own challenge). */
#define CTL_TIME_TTL_MS 60000

struct ctl;

struct ctl_timesvc {
	int64_t window_ms;    /* mono ms of the current one-second window */
	int in_window;        /* answers in it */
	uint64_t answered;
	uint64_t dropped;     /* over the rate */
	int64_t warned_ms;    /* last "too many pings" warning */
};

/* A ping on <root>/node/<node>/time/ping; t2_us: when it arrived (CLOCK_REALTIME µs). */
void ctl_timesvc_on_ping(struct ctl *c, const char *node, const void *payload, size_t len,
			 int64_t t2_us);
/* Answer the pings (mqtt.h's table; main.c's list of parts). */
int ctl_timesvc_register(struct ctl *c);

#endif
