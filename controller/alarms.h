/*
 * alarms.h - conditions maintenance staff must act on, raised once, cleared
 * when the cause goes.
 *
 * Every tick (once a second) the controller looks at each node's row and
 * last status and decides which alarms should be active:
 *
 *   offline  the node has been offline longer than alarms.offline_s
 *   clock    its clock error bound (status clock.error_ms) > alarms.clock_error_ms
 *   disk     free space on its state fs (status disk.free_bytes) < alarms.disk_free_mb
 *   alsa     its audio device is in error (status alsa.state "error")
 *   plan     the plan published to it (sched_plans) is not acknowledged
 *            (status plan.seq) after alarms.plan_ack_s
 *   horn     the last horn self-test (status selftest.result) was "silent":
 *            the tone played and the sensing input did not hear it;
 *            cleared by a test that hears it ("ok")
 *   miss     an upcoming item (status upcoming[]) is not ready and starts
 *            within alarms.miss_ahead_s; key = the occurrence id
 *
 * The active set lives in SQLite (table alarms, one row per raise with
 * raised/cleared times), so a controller restart neither raises them again
 * nor forgets them. Status-based checks only run for online nodes: an
 * offline node has one alarm, "offline", not a stale list.
 *
 * alarms.hook: for each raise and clear the program runs with the alarm as
 * JSON on stdin (docs/health.md). It is started with fork/exec and never
 * waited for in the poll loop: SIGCHLD reaps it (ctl_alarms_reap) and a hook
 * still running after alarms.hook_timeout_s is killed.
 */
#ifndef LOAXA_CTL_ALARMS_H
#define LOAXA_CTL_ALARMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define CTL_ALARM_HOOKS_MAX 16

struct ctl;

struct ctl_alarm_hook {
	pid_t pid;
	int64_t started_mono;
	char what[96];
};

struct ctl_alarms {
	struct ctl_alarm_hook hooks[CTL_ALARM_HOOKS_MAX];
	unsigned long long raised, cleared, hook_failures;
};

/* Evaluate every node, raise/clear, run hooks; call once a second. */
void ctl_alarms_tick(struct ctl *c);
/* Reap finished hooks (SIGCHLD). */
void ctl_alarms_reap(struct ctl *c);
/* Kill running hooks, free. */
void ctl_alarms_free(struct ctl *c);

/* {"alarms":[...]}: active ones, or all since since_ms when all is set. */
json_t *ctl_alarms_json(struct ctl *c, int all, const char *node);
/* Active alarm count of node (NULL: all nodes). */
int ctl_alarms_active(struct ctl *c, const char *node);

/*
 * The decision for one node, exposed for unit tests: given the node row
 * fields and its status JSON, fill kinds/keys/details of the alarms that
 * should be active (at most max). Returns how many.
 */
struct ctl_alarm_want {
	char kind[16];
	char key[128];
	char detail[256];
};
int ctl_alarms_decide(const struct ctl *c, int online, int64_t last_seen, int64_t now,
		      json_t *status, int64_t plan_seq, int64_t plan_published,
		      struct ctl_alarm_want *out, int max);

#endif
