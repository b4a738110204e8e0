/*
 * nodes.h - what nodes say about themselves: status and events.
 *
 * Status (retained, <root>/node/<id>/status) marks a node online with its
 * boot counter, zones and version, or offline (its Last Will or a clean
 * stop). An offline status whose boot is lower than the last one seen is a
 * stale Will that arrived late and is ignored. A node that sends nothing
 * for nodes.offline_after_s is marked offline by ctl_nodes_tick.
 *
 * Events (<root>/node/<id>/event) are play and content events from the
 * node's journal, delivered at least once: each (node, id) is stored once,
 * and a play event moves the broadcast's target row forward.
 *
 * Payloads are untrusted: the parse functions check everything and return
 * -EINVAL with a one-line reason; the handlers log it as one warning.
 */
#ifndef LOAXA_CTL_NODES_H
#define LOAXA_CTL_NODES_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct ctl;

struct ctl_status {
	char node[CTL_NAME_MAX];
	int online;
	int64_t boot;
	int64_t ts;                 /* -1 when absent */
	char version[64];
	char zones[CTL_MAX_ZONES][CTL_NAME_MAX];
	size_t nzones;
};

/*
 * Check a status payload sent on the topic of node. site: ours (a status
 * naming another site is refused). On success *json_out (may be NULL) gets
 * the compact JSON text to store (malloc'd).
 */
int ctl_parse_status(const char *node, const char *site, const void *payload,
		     size_t len, struct ctl_status *st, char **json_out,
		     char *err, size_t errlen);
int ctl_parse_event(const char *node, const void *payload, size_t len,
		    struct ctl_event *ev, char *err, size_t errlen);

/*
 * Handlers: 0 = applied, 1 = ignored on purpose (stale Will, duplicate
 * event, cleared status), -EINVAL = invalid (warning logged), other
 * negative = database trouble (logged).
 */
int ctl_nodes_on_status(struct ctl *c, const char *node, const void *payload,
			size_t len, int retained);
int ctl_nodes_on_event(struct ctl *c, const char *node, const void *payload,
		       size_t len);
/* Read status and events from the nodes (mqtt.h's table; main.c's list of parts). */
int ctl_nodes_register(struct ctl *c);

/*
 * The controller's wall clock against its monotonic clock, to notice when
 * the wall clock is stepped (NTP after a power cut, an operator setting the
 * date): a node's silence is measured on the wall clock (last_seen is also
 * what the operator reads), so a step forward would make every node look
 * silent for hours and a step back would hide a node that really went away.
 */
struct ctl_nodes_clock {
	int64_t offset_ms;        /* wall - monotonic at the last tick */
	int have_offset;
	int64_t settle_until_mono; /* no expiry before this (after a step) */
};

/* A step of the wall clock larger than this is a step, not drift. */
#define CTL_CLOCK_STEP_MS 5000

/*
 * Mark nodes offline that have been silent too long; call once a second.
 * After a step of the controller's wall clock nobody is marked offline for
 * nodes.offline_after_s (monotonic): every node that is there reports in
 * that time, and one that does not is then marked offline as usual. A step
 * back also brings last_seen values from the "future" back to now.
 */
void ctl_nodes_tick(struct ctl *c);

#endif
