/*
 * nodecfg.h - node.cfg: what a loudspeaker node needs to know about itself.
 *
 * Loaded through common/config.h, so every error names file, line and field
 * ("node.cfg:12: field "alsa.channels": must be between 1 and 8 (got 0)").
 * All errors of a file are reported, not only the first, so an operator
 * fixes them in one go. Relative paths (state_dir) are relative to the
 * directory of the config file, never to the current directory.
 */
#ifndef LOAXA_NODECFG_H
#define LOAXA_NODECFG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define NODE_MAX_ZONES 16
#define NODE_NAME_MAX 32

struct node_cfg {
	char path[PATH_MAX];              /* the config file, as given */
	char site[NODE_NAME_MAX];
	char node[NODE_NAME_MAX];
	char zones[NODE_MAX_ZONES][NODE_NAME_MAX];
	size_t nzones;
	char state_dir[PATH_MAX];         /* absolute once loaded */
	uint8_t controller_pk[32];
	struct cfg_mqtt mqtt;             /* config.h: the same group as the controller's */
	uint8_t recovery_pk[32];          /* break-glass key (docs/security.md) */
	int has_recovery_key;
	struct {
		char device[256];
		unsigned channels;
		unsigned rate;
		unsigned buffer_ms;
		unsigned period_ms;
		char mixer[48];           /* emergency level on this control, "" = none */
		char mixer_device[256];   /* whose mixer (snd_mixer_attach) */
		int mixer_level;          /* percent of the control's range */
	} alsa;
	int status_interval_s;
	int max_future_s;
	size_t max_message_bytes;
	uint64_t cache_max_bytes;
	int emergency_volume;             /* 0-100: emergencies play at this, always */
	int emergency_keep_open;          /* keep the audio device open while idle */
	struct {
		char on_command[1024];   /* "" = no amplifier control */
		char off_command[1024];
		int warmup_s;            /* default lead when an item gives none */
	} amp;
	char label[128];                  /* people's name of the cluster, UTF-8 */
	struct {
		char signal_cmd[512];     /* run via /bin/sh -c; first line = signal */
		char signal_file[PATH_MAX]; /* or read: first line = signal */
		char interface[16];       /* "" = the one with the default route */
		size_t journal_max;       /* undelivered events kept on disk */
	} health;
	/* remote software update (update.h, docs/operations.md) */
	struct {
		int quiet_min;            /* install only with no play planned this far ahead */
		int confirm_s;            /* the new version must confirm within this */
		int spawn;                /* 1: the node starts the installer itself */
		char installer[PATH_MAX]; /* loaxa-node-update (run = "spawn") */
		int backend_dir;          /* 1: swap update.binary, 0: dpkg -i */
		char binary[PATH_MAX];    /* the node binary started after an install */
	} update;
	/* the horn self-test (selftest.h); enabled when capture is set */
	struct {
		char capture[256];        /* ALSA capture device that hears the horn, "" = none */
		char command[512];        /* or a program printing a level in dB (argv split at spaces) */
		unsigned tone_hz;
		unsigned tone_ms;
		double level_db;          /* tone level, dB of full scale, by day */
		double quiet_level_db;    /* outside the day window */
		int day_from_min, day_to_min; /* local minutes of the day: [from, to) */
		int night_skip;           /* 1: no test outside the day window, 0: quiet level */
		double threshold_db;      /* tone over the noise floor that counts as heard */
	} selftest;
};

/*
 * Load and validate path. Returns 0, or -EINVAL after logging every problem
 * found (file:line: field "x": what is wrong).
 */
int node_cfg_load(struct node_cfg *cfg, const char *path);

/* dir of path joined with rel, unless rel is absolute. */
int node_cfg_resolve(char *out, size_t outlen, const char *cfg_path, const char *rel);

#endif
