/*
 * mixer.h - an emergency at its level whatever the local setting.
 *
 * The software gain (emergency_volume) cannot undo a horn amplifier's
 * input that someone turned down or muted on the sound card's mixer. When
 * node.cfg names an ALSA mixer control (alsa.mixer, a simple element of
 * alsa.mixer_device; only ever a name from node.cfg, never from a message),
 * an emergency unmutes that control and sets it to alsa.mixer_level percent
 * of its range, and puts back what it was once the emergency (and its
 * all-clear) is over. Without one, nothing changes: the software gain alone,
 * as before.
 *
 * What to put back is written to <state_dir>/mixer.json (atomically) before
 * the control is touched, and removed once it is restored; a node that dies
 * in the middle of an emergency finds the file at its next start and
 * restores the control then. A restore that fails (the card is gone) is
 * tried again every MIXER_RETRY_MS and the file stays.
 */
#ifndef LOAXA_NODE_MIXER_H
#define LOAXA_NODE_MIXER_H

#include <stddef.h>
#include <stdint.h>

#define MIXER_RETRY_MS 5000
#define MIXER_MAX_CHANNELS 32

struct node;

struct node_mixer {
	int engaged;          /* we changed the control: a restore is owed */
	int64_t retry_at;     /* mono ms of the next restore attempt, 0 = none */
	/* what to put back (also in mixer.json) */
	int has_volume, has_switch;
	long volume[MIXER_MAX_CHANNELS];
	int sw[MIXER_MAX_CHANNELS];
	unsigned channels;    /* bit mask of the channels the control has */
};

/* At start: restore what a previous run left changed (mixer.json). */
void mixer_init(struct node *n);
/* An emergency begins: save, unmute, set the level. Never fails the emergency. */
void mixer_emergency_begin(struct node *n);
/* It is over: put the control back as it was. */
void mixer_emergency_end(struct node *n);
void mixer_tick(struct node *n);
int64_t mixer_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int mixer_register(struct loop *l, struct node *n);

/* Parse mixer.json's text into m (for tests too). 0 or -EINVAL. */
int mixer_parse_saved(const char *text, size_t len, struct node_mixer *m);

#endif
