/*
 * instance.h - one node's parts, set up, put on an event loop and stopped.
 *
 * What loaxa-node's main() does for its one node, and what the node
 * simulator (tests/tools/nodesim.c, docs/testing.md) does for each of its
 * thousands of instances in one process: so both run the same start-up,
 * the same list of parts in the same order and the same stop. Everything a
 * node keeps is in its struct node (node.h): no module keeps state of its
 * own outside it (docs/node.md, "One node, or many in one process").
 *
 * What stays in main.c because it belongs to the process, not to a node:
 * the command line, the state_dir lock, signals (a signalfd first on the
 * loop: a stop wins over anything else that woke the loop), the systemd
 * watchdog and notifications, the re-exec of a remote restart.
 */
#ifndef LOAXA_NODE_INSTANCE_H
#define LOAXA_NODE_INSTANCE_H

#include <stdint.h>

#include "playout.h"

struct node;
struct loop;

/* The per-node state of main's own ticks (playout-to-status bridge, seq flush). */
struct node_parts {
	struct node *n;
	int64_t next_flush;
	enum playout_dev_state last_dev;
	uint64_t last_errors;
};

/* Everything before the loop: state files, keys, clock, cache, every module's
 * init. n->cfg loaded. 0 or -errno (logged). */
int node_instance_setup(struct node *n);
/*
 * The node's parts on loop l, in the order that matters (instance.c says
 * why), and the connect hooks. p is the caller's, zeroed, and must live as
 * long as the loop. 0 or -errno.
 */
int node_instance_register(struct loop *l, struct node *n, struct node_parts *p);
/* The stop: plays ended and journaled, sequence state saved, offline status,
 * everything freed. clean: a clean stop (written as such in the journal). */
void node_instance_stop(struct node *n, int clean);

#endif
