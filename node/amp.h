/*
 * amp.h - switching the amplifier ahead of a play.
 *
 * A horn amplifier switched on at the first sample loses the first words
 * (relays, power supplies and protection circuits take seconds). node.cfg's
 * amplifier.on_command (e.g. a GPIO or relay command) therefore runs
 * warmup_s before the first sample of a scheduled play (a plan item's own
 * warmup_s, or amplifier.warmup_s), and at once for a play that starts
 * immediately; amplifier.off_command runs when the player has been idle
 * PLAYOUT_IDLE_CLOSE_MS (its device closed, or kept open and silent by
 * emergency_keep_open) and nothing is due within the warm-up time.
 *
 * The lead is kept for everything that starts at once, not only for plans:
 * an immediate play, a live session and an emergency ask amp_ready_mono()
 * when the amplifier will have had its warm-up (running on_command now if
 * it is off) and put their first sample there (docs/node.md, "Amplifier").
 *
 * Commands run through /bin/sh -c, in the background: the poll loop never
 * waits for them. One runs at a time; a failure (non-zero exit) is logged
 * and reported in the status, and the play goes on (a silent horn is the
 * amplifier's problem, a missed program would be ours).
 */
#ifndef LOAXA_NODE_AMP_H
#define LOAXA_NODE_AMP_H

#include <stdint.h>
#include <sys/types.h>

/*
 * The lead counts from a little after on_command is started: /bin/sh and
 * the command itself (a GPIO tool) take a moment to run. What starts now
 * waits warm-up + this.
 */
#define AMP_START_MS 100

struct node;

struct node_amp {
	int on;               /* the last command run was on_command */
	pid_t pid;            /* a command running, 0 = none */
	char running[8];      /* "on" / "off" */
	int64_t started_ms;   /* mono, of the running command */
	int64_t last_on_ms;   /* mono, when on_command last ran */
	uint64_t failures;
};

void amp_init(struct node *n);
void amp_tick(struct node *n);
int64_t amp_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int amp_register(struct loop *l, struct node *n);
/* Clean stop: switch the amplifier off (without waiting for the command). */
void amp_shutdown(struct node *n);

/* When (controller ms) the amplifier must be on for the queue, INT64_MAX: not needed. */
int64_t amp_needed_at(const struct node *n, int64_t now);

/*
 * Something starts now and needs the amplifier (an immediate play, a live
 * session, an emergency): on_command runs at once if the amplifier is off.
 * Returns the monotonic ms from which it has had warmup_ms since its
 * on_command started (+ AMP_START_MS; in the past when it has been on long
 * enough). Without
 * an on_command there is nothing to wait for: returns now.
 */
int64_t amp_ready_mono(struct node *n, int warmup_ms);
/* amplifier.warmup_s in ms: the lead of whatever gives none of its own. */
int amp_default_warmup_ms(const struct node *n);

/* The "amplifier" object of the status (new reference). */
struct json_t *amp_status_json(const struct node *n);

#endif
