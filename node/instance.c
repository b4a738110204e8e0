/*
 * instance.c - see instance.h. Moved out of main.c as it was, so that the
 * daemon and the node simulator share it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "amp.h"
#include "cache.h"
#include "clock.h"
#include "cmd.h"
#include "emergency.h"
#include "events.h"
#include "fetch.h"
#include "instance.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "node.h"
#include "plan.h"
#include "playout.h"
#include "queue.h"
#include "status.h"
#include "selftest.h"
#include "topic.h"
#include "update.h"
#include "upper.h"

/* Highest sequences of frequent types (content) reach the disk this often. */
#define SEQ_FLUSH_MS 5000

int node_instance_setup(struct node *n)
{
	char seq_path[PATH_MAX + 16], path[PATH_MAX + 16];
	int rc, booted, had_trust;

	topic_root(n->root, sizeof(n->root), n->cfg.site);
	snprintf(seq_path, sizeof(seq_path), "%s/seq", n->cfg.state_dir);
	/* whether this node ran before: then a missing state file was lost, not new */
	snprintf(path, sizeof(path), "%s/boot", n->cfg.state_dir);
	booted = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "%s/trust.json", n->cfg.state_dir);
	had_trust = access(path, F_OK) == 0;
	rc = verifier_init(&n->ver, n->cfg.site, seq_path, n->cfg.max_message_bytes,
			   (int64_t)n->cfg.max_future_s * 1000);
	if (rc < 0) {
		log_errorx("cannot load the message sequence state %s: %s", seq_path,
			   strerror(-rc));
		return rc;
	}
	n->ver.defer_persist = 1; /* written in tick(), after acting: see envelope.h */
	rc = verifier_add_key(&n->ver, n->cfg.controller_pk);
	if (rc < 0 && rc != -EPERM) { /* EPERM: retired or revoked (keys.c says so) */
		log_errorx("cannot use controller_key: %s", strerror(-rc));
		return rc;
	}
	rc = node_keys_init(n, booted || !n->ver.state_missing);
	if (rc < 0)
		return rc;
	rc = status_boot_init(n);
	if (rc < 0)
		return rc;
	rc = clock_init(&n->clock, n->cfg.state_dir);
	if (rc < 0)
		return rc;
	node_keys_check_state(n, booted || had_trust, clock_now_ms(&n->clock));
	rc = upper_init(n); /* the upper levels' keys, after the clock (upper.h) */
	if (rc < 0)
		return rc;
	rc = cache_init(&n->cache, n->cfg.state_dir, n->cfg.cache_max_bytes);
	if (rc < 0)
		return rc;
	rc = sysinfo_init(n);
	if (rc < 0)
		return rc;
	rc = events_init(n);
	if (rc < 0)
		return rc;
	fetch_init(n);
	{
		struct playout_cfg pc;

		memset(&pc, 0, sizeof(pc));
		snprintf(pc.device, sizeof(pc.device), "%s", n->cfg.alsa.device);
		pc.channels = n->cfg.alsa.channels;
		pc.rate = n->cfg.alsa.rate;
		pc.buffer_ms = n->cfg.alsa.buffer_ms;
		pc.period_ms = n->cfg.alsa.period_ms;
		playout_init(&n->po, &pc);
	}
	queue_init(n);
	selftest_init(n); /* between the queue and the emergency: an emergency stops its tone */
	amp_init(n);
	mixer_init(n); /* a crash mid-emergency left it changed: put it back first */
	rc = emergency_init(n);
	if (rc == 0)
		rc = live_init(n);
	rc = rc < 0 ? rc : update_init(n);
	return rc < 0 ? rc : plan_init(n);
}

/*
 * `loaxa node restart` (maint.c) sets n->restart while a message is handled;
 * the first tick ends the loop, after every descriptor of that wake-up was
 * handled and before any module acts on its deadlines, as a stop by signal.
 */
static void restart_tick(struct loop *l, int64_t mono, void *arg)
{
	struct node *n = arg;

	(void)mono;
	if (n->restart)
		loop_stop(l);
}

/*
 * The playout's device state, xrun and error counters reach the status
 * report: playout.c knows nothing of the node (it is the audio engine only),
 * so main.c, which has both, carries them across after the modules acted.
 */
static void playout_status_tick(struct loop *l, int64_t mono, void *arg)
{
	struct node_parts *ls = arg;
	struct node *n = ls->n;

	(void)l;
	(void)mono;
	/*
	 * A device state change goes out at once; a new underrun only with the
	 * next heartbeat. Underruns come in runs when the machine is short of
	 * CPU, and a status for each (every 250 ms per node) would load the
	 * broker and the controller with 300 nodes just when it hurts (make
	 * bench-scale showed a status every ~2 s from every node while playing).
	 */
	if (n->po.dev != ls->last_dev) {
		ls->last_dev = n->po.dev;
		status_dirty(n);
	}
	if (n->po.errors != ls->last_errors) {
		ls->last_errors = n->po.errors;
		status_error(n, "%s", n->po.last_error);
	}
}

/* A command's sequence (deferred past its first sample), or the periodic flush. */
static void seq_flush_tick(struct loop *l, int64_t mono, void *arg)
{
	struct node_parts *ls = arg;
	struct node *n = ls->n;

	(void)l;
	if (n->ver.dirty && (n->ver.urgent || mono >= ls->next_flush)) {
		int rc = verifier_flush(&n->ver);

		if (rc < 0)
			log_warnx("cannot save the message sequence state: %s", strerror(-rc));
		ls->next_flush = mono + SEQ_FLUSH_MS;
	}
}

static int64_t seq_flush_deadline(void *arg)
{
	struct node_parts *ls = arg;

	return ls->n->ver.dirty ? ls->next_flush : INT64_MAX;
}

static void status_on_connect(struct node *n)
{
	(void)status_publish(n);
}

/*
 * The node's parts, in the order the loop runs them after every wake-up.
 *
 * Messages: cmd, plan, live, clock, fetch and keys put their topics in the
 * subscription table (mqtt.h) as they register; the order of the table is
 * the order of the subscriptions.
 *
 * Descriptors (after the process's signalfd, main.c): the two MQTT connections (their sockets change on every
 * reconnect), the ALSA descriptors while a play writes, the netlink socket
 * of sysinfo.
 *
 * Ticks: each checks its own deadlines, cheaply, after every wake-up; the
 * order is the one the node always had, and these parts of it matter:
 *   - restart first: a remote restart stops before anything acts further;
 *   - mqtt before the rest: a reconnect is started as soon as it is due;
 *   - playout before plan/emergency/live/queue: a play that just ended
 *     frees the device, so what comes next starts in the same wake-up
 *     rather than one wake-up later (this is start accuracy);
 *   - emergency, then live, then queue: the higher priority claims the
 *     device first when several want it at the same moment (queue.h);
 *   - amp and mixer after them: they follow what plays (the amplifier lead,
 *     the emergency level) as decided in this wake-up;
 *   - the playout-to-status bridge, then the sequence flush, after every
 *     module acted: a command's sequence is saved only after it was acted on
 *     (envelope.h, defer_persist);
 *   - status last: every status_dirty() of this wake-up, whichever module
 *     made it, goes out in one report.
 * The systemd watchdog is a periodic timer of main.c's.
 */
int node_instance_register(struct loop *l, struct node *n, struct node_parts *ls)
{
	int rc = 0;

	ls->n = n;
	rc = rc < 0 ? rc : loop_tick_add(l, "restart", restart_tick, NULL, n);
	rc = rc < 0 ? rc : node_mqtt_register(l, n);
	rc = rc < 0 ? rc : cmd_register(n); /* messages only: no descriptor, no tick */
	rc = rc < 0 ? rc : playout_register(l, &n->po);
	rc = rc < 0 ? rc : plan_register(l, n);
	rc = rc < 0 ? rc : emergency_register(l, n);
	rc = rc < 0 ? rc : live_register(l, n);
	rc = rc < 0 ? rc : queue_register(l, n);
	rc = rc < 0 ? rc : amp_register(l, n);
	rc = rc < 0 ? rc : selftest_register(l, n);
	rc = rc < 0 ? rc : mixer_register(l, n);
	rc = rc < 0 ? rc : clock_register(l, n);
	rc = rc < 0 ? rc : fetch_register(l, n);
	rc = rc < 0 ? rc : update_register(l, n);
	rc = rc < 0 ? rc : node_keys_register(l, n);
	rc = rc < 0 ? rc : upper_register(n);
	rc = rc < 0 ? rc : events_register(l, n);
	rc = rc < 0 ? rc : sysinfo_register(l, n);
	rc = rc < 0 ? rc : loop_tick_add(l, "playout-status", playout_status_tick, NULL, ls);
	rc = rc < 0 ? rc : loop_tick_add(l, "seq-flush", seq_flush_tick, seq_flush_deadline, ls);
	rc = rc < 0 ? rc : status_register(l, n);
	/*
	 * On every (re)connect of the control connection, after the
	 * subscriptions of the table: the status first (the controller counts
	 * the node online by it), then the events still in the journal, then a
	 * time ping. The bulk connection asks again for what was being fetched.
	 */
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_CTL, status_on_connect, NULL);
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_CTL, events_on_connect,
					   events_on_disconnect);
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_CTL, clock_on_connect, NULL);
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_BULK, fetch_on_connect, NULL);
	/*
	 * With nothing due, wake at least once a minute anyway: a safety net
	 * the node always had in case a deadline hook misses a case.
	 */
	l->max_wait_ms = 60000;
	return loop_setup_result(rc);
}

void node_instance_stop(struct node *n, int clean)
{
	n->stopping = 1;
	emergency_shutdown(n);
	selftest_shutdown(n);
	live_free(n);
	queue_shutdown(n, "the node was stopped");
	playout_close(&n->po);
	selftest_free(n);
	upper_free(n);
	emergency_free(n);
	amp_shutdown(n);
	clock_save(&n->clock);
	if (n->ver.dirty && verifier_flush(&n->ver) < 0)
		log_warnx("cannot save the message sequence state");
	node_mqtt_stop(n);
	if (clean)
		events_mark_clean_stop(n);
	events_free(n);
	sysinfo_free(n);
	fetch_free(n);
	plan_free(n);
}
