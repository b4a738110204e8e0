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
 * Commands run through /bin/sh -c, in the background: the poll loop never
 * waits for them. One runs at a time; a failure (non-zero exit) is logged
 * and reported in the status, and the play goes on (a silent horn is the
 * amplifier's problem, a missed program would be ours).
 */
#ifndef LOAXA_NODE_AMP_H
#define LOAXA_NODE_AMP_H

#include <stdint.h>
#include <sys/types.h>

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
/* Clean stop: switch the amplifier off (without waiting for the command). */
void amp_shutdown(struct node *n);

/* When (controller ms) the amplifier must be on for the queue, INT64_MAX: not needed. */
int64_t amp_needed_at(const struct node *n, int64_t now);

#endif
