/*
 * amp.c - see amp.h.
 */
#include "amp.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "emergency.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "playout.h"
#include "queue.h"
#include "status.h"
#include "util.h"

/* While a command runs we look for its end this often (no SIGCHLD in the loop). */
#define AMP_REAP_MS 100
/* A command still running after this is killed (a hung GPIO tool must not block the next). */
#define AMP_KILL_MS 30000

void amp_init(struct node *n)
{
	memset(&n->amp, 0, sizeof(n->amp));
}

static int warmup_ms(const struct node *n, const struct play_item *it)
{
	int s = it->warmup_s >= 0 ? it->warmup_s : n->cfg.amp.warmup_s;

	return s * 1000;
}

int64_t amp_needed_at(const struct node *n, int64_t now)
{
	const struct play_item *it;
	int64_t t = INT64_MAX;

	if (n->queue.current || playout_busy(&n->po) || emergency_holds(n) || live_holds(n))
		return now;
	for (it = n->queue.head; it; it = it->next) {
		int64_t need = it->at > 0 ? it->at - warmup_ms(n, it) : now;

		if (need < t)
			t = need;
	}
	return t;
}

static void run(struct node *n, int on)
{
	struct node_amp *a = &n->amp;
	const char *cmd = on ? n->cfg.amp.on_command : n->cfg.amp.off_command;
	pid_t pid;

	a->on = on;
	if (on)
		a->last_on_ms = mono_ms();
	status_dirty(n); /* the status says whether it is on (the CLI tells the operator) */
	if (!cmd[0])
		return;
	pid = fork();
	if (pid < 0) {
		a->failures++;
		status_error(n, "cannot run amplifier.%s_command: %s", on ? "on" : "off",
			     strerror(errno));
		log_warnx("cannot run amplifier.%s_command: %s", on ? "on" : "off",
			  strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t all;

		/* the daemon blocks signals for its signalfd: the command gets them back */
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	a->pid = pid;
	a->started_ms = mono_ms();
	snprintf(a->running, sizeof(a->running), "%s", on ? "on" : "off");
	log_info("amplifier %s: running %s", on ? "on" : "off", cmd);
}

/*
 * The player has had nothing to play for PLAYOUT_IDLE_CLOSE_MS: its device
 * closed, or kept open and silent (emergency_keep_open) but idle that long.
 */
static int player_rested(const struct node *n)
{
	if (playout_busy(&n->po))
		return 0;
	if (n->po.dev == PO_DEV_CLOSED)
		return 1;
	return n->po.dev == PO_DEV_IDLE &&
	       mono_ms() - n->po.idle_since >= PLAYOUT_IDLE_CLOSE_MS;
}

/* Reap a finished command; 1 when one is still running. */
static int reap(struct node *n)
{
	struct node_amp *a = &n->amp;
	int st = 0;
	pid_t r;

	if (!a->pid)
		return 0;
	r = waitpid(a->pid, &st, WNOHANG);
	if (r == 0) {
		if (mono_ms() - a->started_ms < AMP_KILL_MS)
			return 1;
		log_warnx("amplifier.%s_command still runs after %d s: killed", a->running,
			  AMP_KILL_MS / 1000);
		kill(a->pid, SIGKILL);
		waitpid(a->pid, &st, 0);
	}
	if (r < 0 && errno != ECHILD)
		return 1;
	if (r > 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
		a->failures++;
		status_error(n, "amplifier.%s_command failed (%s %d)", a->running,
			     WIFEXITED(st) ? "exit status" : "signal",
			     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		log_warnx("amplifier.%s_command failed (%s %d)", a->running,
			  WIFEXITED(st) ? "exit status" : "signal",
			  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	a->pid = 0;
	return 0;
}

int amp_default_warmup_ms(const struct node *n)
{
	return n->cfg.amp.warmup_s * 1000;
}

int64_t amp_ready_mono(struct node *n, int warmup_ms)
{
	struct node_amp *a = &n->amp;
	int64_t mono = mono_ms();

	if (!n->cfg.amp.on_command[0] || warmup_ms <= 0)
		return mono;
	if (!a->on) {
		/*
		 * Switch it on now rather than at the next amp_tick: the caller
		 * is about to put its first sample at the returned time. A
		 * command still running (the off_command) is reaped first; if it
		 * has not ended, on_command still starts now (the off was for
		 * an idle player, and the horn is needed).
		 */
		reap(n);
		a->pid = 0;
		run(n, 1);
	}
	return a->last_on_ms + AMP_START_MS + warmup_ms;
}

json_t *amp_status_json(const struct node *n)
{
	const struct node_amp *a = &n->amp;
	int64_t left = 0;

	if (a->on && n->cfg.amp.on_command[0])
		left = a->last_on_ms + amp_default_warmup_ms(n) - mono_ms();
	return json_pack("{s:b, s:b, s:i, s:I}", "command", n->cfg.amp.on_command[0] != 0,
			 "on", a->on, "warmup_s", n->cfg.amp.warmup_s, "warming_ms",
			 (json_int_t)(left > 0 ? left : 0));
}

void amp_tick(struct node *n)
{
	struct node_amp *a = &n->amp;
	int64_t now, need;

	if (reap(n) || n->stopping)
		return;
	now = clock_now_ms(&n->clock);
	need = amp_needed_at(n, now);
	if (!a->on && need <= now) {
		run(n, 1);
		return;
	}
	/* off: the player idle for its idle time and nothing needs it soon */
	if (a->on && player_rested(n) && need == INT64_MAX &&
	    mono_ms() - a->last_on_ms > PLAYOUT_IDLE_CLOSE_MS)
		run(n, 0);
}

int64_t amp_next_deadline(const struct node *n)
{
	const struct node_amp *a = &n->amp;
	int64_t now, need;

	if (a->pid)
		return mono_ms() + AMP_REAP_MS;
	if (a->on) {
		/* the player going idle wakes us (its deadline), then its idle time */
		if (!playout_busy(&n->po) && n->po.dev == PO_DEV_IDLE)
			return n->po.idle_since + PLAYOUT_IDLE_CLOSE_MS + 1;
		return INT64_MAX;
	}
	now = clock_now_ms(&n->clock);
	need = amp_needed_at(n, now);
	if (need == INT64_MAX)
		return INT64_MAX;
	return mono_ms() + (need > now ? need - now : 0);
}

void amp_shutdown(struct node *n)
{
	struct node_amp *a = &n->amp;

	/*
	 * A command still running is left to finish (it is reaped by init
	 * once we exit); the amplifier is switched off without waiting.
	 */
	reap(n);
	a->pid = 0;
	if (a->on && n->cfg.amp.off_command[0])
		run(n, 0);
	a->pid = 0;
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	amp_tick(arg);
}

static int64_t loop_deadline(void *arg)
{
	return amp_next_deadline(arg);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	json_object_set_new(status, "amplifier", amp_status_json(n));
}

int amp_register(struct loop *l, struct node *n)
{
	int rc = loop_tick_add(l, "amp", loop_tick, loop_deadline, n);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	return rc < 0 ? rc : 0;
}
