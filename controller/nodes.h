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

/* Mark nodes offline that have been silent too long; call once a second. */
void ctl_nodes_tick(struct ctl *c);

#endif
