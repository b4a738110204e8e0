/*
 * status.h - the boot counter and the status the node publishes about itself.
 *
 * <state_dir>/boot holds a decimal counter, incremented (and written
 * atomically) at every start; it rides in every status, event id and the
 * Last Will, so the controller can tell a stale Will of an earlier run from
 * the current state.
 *
 * The status (JSON, retained, QoS 1, docs/protocol.md) is published when the
 * control connection comes up, every status_interval_s, and soon after any
 * change (play started or ended, queue, cache, device state, a rejected
 * message): changes mark it dirty, and it goes out STATUS_SETTLE_MS after
 * the first of them, at most every STATUS_MIN_GAP_MS, so a flood of hostile
 * messages cannot turn into a flood of status messages. The settle time
 * lets the changes of one event (an emergency: received, preempted, device
 * started) go out as one status, and keeps the work of building and
 * publishing it out of the moment a node is starting to sound.
 */
#ifndef LOAXA_NODE_STATUS_H
#define LOAXA_NODE_STATUS_H

#include <stdint.h>

#define STATUS_MIN_GAP_MS 250
#define STATUS_SETTLE_MS 100

struct node;
struct json_t;

/*
 * A module's part of the status: it adds its members to the status object
 * (and may add to its "rejected" object). Modules register one as they
 * register with the loop; status.c then builds the status without calling
 * into them by name, and they reach it only through status_dirty(),
 * status_error() and status_provider_add() - the narrow interface that keeps
 * the status from closing a call loop with every module (docs/node.md).
 */
typedef void (*status_provider_fn)(struct node *n, struct json_t *status);
#define STATUS_MAX_PROVIDERS 16

struct node_status {
	uint64_t boot;
	int64_t started_mono;
	int64_t last_publish;   /* mono ms, 0 = never */
	int dirty;
	int64_t dirty_since;    /* mono ms of the first change not yet published */
	char last_error[256];
	status_provider_fn providers[STATUS_MAX_PROVIDERS];
	int nproviders;
};

/* Read, increment and store <state_dir>/boot. */
int status_boot_init(struct node *n);

/* Something in the status changed: publish soon (sets a flag, nothing more). */
void status_dirty(struct node *n);
/* Remember an error for "last_error" (and mark the status changed). */
void status_error(struct node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Add a part to the status, in the order added. 0 or -ENOSPC. */
int status_provider_add(struct node *n, status_provider_fn fn);

/* Publish now (when the control connection is up). */
int status_publish(struct node *n);
void status_tick(struct node *n, int64_t mono);
int64_t status_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int status_register(struct loop *l, struct node *n);

/* malloc'd JSON: the full status, and the offline one (Will, clean stop). */
char *status_json(struct node *n);
char *status_offline_json(const struct node *n);

#endif
