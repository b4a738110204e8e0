/*
 * schedparse.h - the schedule FILE parser: schedule files (schedules/NAME.cfg):
 * parse, check, expand.
 *
 * Everything here is a pure function of its inputs (the texts, the site's
 * zones, the clock value passed in, the process time zone): no database, no
 * network, so unit tests pin every message and every occurrence.
 *
 * A schedule file is libconfig:
 *
 *   items = (
 *     { id = "morning"; title = "Chương trình sáng"; content = "audio/sang.mp3";
 *       zones = ["all"]; times = ["05:30"]; days = "daily"; level = "normal"; }
 *   );
 *
 * (docs/schedules.md has every field). Errors are collected, never printed
 * here, each as one line in an operator's words:
 *   week.cfg:12: field "times": "25:00" is not a time of day (use HH:MM, 00:00 to 23:59)
 *
 * Times are local time of the site (the process time zone, set from
 * controller.cfg "timezone" with TZ + tzset()). Local date + time of day is
 * turned into an instant with mktime(tm_isdst = -1): Vietnam has no DST,
 * and elsewhere a time that does not exist on a DST day moves forward.
 *
 * Owns: the schedule file format, items and their JSON form, occurrences,
 * dates and local times, allowed hours, the checks of a set against the
 * site (zones, nodes, hours, conflicts) given as input.
 * Must not: touch the database, the network, the loop or any global state
 * but the process time zone: the parse runs in schedjobs.c's worker threads.
 * Not to be confused with common/schedfile.h (how the CLI reads the files
 * it sends) or scheduler.h (plans).
 */
#ifndef LOAXA_CTL_SCHEDPARSE_H
#define LOAXA_CTL_SCHEDPARSE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "schedfile.h"

struct cfg;

#define SCHED_ID_MAX 41          /* item ids: 1..40 of [a-z0-9_-] */
#define SCHED_NAME_MAX 32        /* zone and node names */
#define SCHED_TITLE_MAX 256
#define SCHED_MAX_TIMES 48
#define SCHED_MAX_TARGETS 64
#define SCHED_MAX_REPEAT 20
#define SCHED_MAX_ZONES 256      /* zones declared in controller.cfg */
#define SCHED_OCC_ID_MAX 80      /* "o-<item>-YYYYMMDD-HHMM[SS]-N" */

/* The one priority model of the system (see docs/protocol.md). */
enum sched_level {
	SCHED_RELAY = 0,
	SCHED_NORMAL = 1,
	SCHED_PRIORITY = 2,
	SCHED_EMERGENCY = 4,     /* 3 is "live", used by live sessions only */
};

const char *sched_level_name(int level);
/* -1 when s is not relay, normal, priority or emergency. */
int sched_level_parse(const char *s);

enum sched_source {
	SCHED_SRC_FILE = 0,      /* an audio file, imported */
	SCHED_SRC_CONTENT,       /* a content id already on the controller */
	SCHED_SRC_TEXT,          /* Vietnamese text, spoken by espeak-ng */
	SCHED_SRC_RELAY,         /* a live source (alsa:..., url:...) for length_min */
};

enum sched_chime { SCHED_CHIME_NONE = 0, SCHED_CHIME_DEFAULT, SCHED_CHIME_FILE };

/* A calendar date (no time zone). */
struct sched_date {
	int y, m, d;
};

struct sched_item {
	char id[SCHED_ID_MAX];
	char title[SCHED_TITLE_MAX];
	char file[PATH_MAX];          /* the schedule file (or "announce") */
	int line;                     /* line of the item's group */
	int content_line;             /* line of content/text, for later errors */
	int chime_line;
	int times_line;
	int zones_line;
	int nodes_line;

	enum sched_source src;
	char source[PATH_MAX];        /* SHA-256 of the audio file's bytes, content id,
					 relay source */
	char *text;                   /* SCHED_SRC_TEXT (malloc'd) */
	int music;
	/* filled when the content is known (resolve step) */
	char content[65];
	int64_t duration_ms;
	int64_t bytes;

	enum sched_chime chime;
	char chime_file[PATH_MAX];    /* SCHED_CHIME_FILE: SHA-256 of the file's bytes */
	char chime_content[65];
	int64_t chime_ms;
	int64_t chime_bytes;

	int all;
	char zones[SCHED_MAX_TARGETS][SCHED_NAME_MAX];
	size_t nzones;
	char nodes[SCHED_MAX_TARGETS][SCHED_NAME_MAX];
	size_t nnodes;

	int times[SCHED_MAX_TIMES];   /* seconds since local midnight */
	size_t ntimes;
	unsigned days;                /* bit d set: plays on tm_wday d (0 = Sunday) */
	struct sched_date from, until; /* y == 0: open */
	int repeat;                   /* plays per time, 1.. */
	int gap_s;                    /* silence between repeats */
	int level;
	int volume;                   /* 0..100 */
	int warmup_s;                 /* amplifier lead before the first sample */
	int expires_s;                /* latest start after the planned time */
};

/* A list of items, grown by the parser. */
struct sched_set {
	struct sched_item *items;
	size_t n, cap;
};

/* Messages for the operator: errors (the set is refused) and warnings. */
struct sched_msgs {
	json_t *errors;               /* array of strings */
	json_t *warnings;             /* array of strings */
	size_t nhours;                /* of the warnings: plays outside allowed hours */
};

int sched_msgs_init(struct sched_msgs *m);
void sched_msgs_free(struct sched_msgs *m);
void sched_error(struct sched_msgs *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sched_warning(struct sched_msgs *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
size_t sched_nerrors(const struct sched_msgs *m);

void sched_item_init(struct sched_item *it);
void sched_item_free(struct sched_item *it);
void sched_set_free(struct sched_set *s);
/* Append a copy (text duplicated). */
int sched_set_add(struct sched_set *s, const struct sched_item *it);

/*
 * Parse one schedule file's text into set (appending). The controller reads
 * no file an operator names: text is what the client sent, label the
 * file's name in messages (as the operator typed it; data only, never
 * opened), audio its audio map (schedfile.h: the SHA-256 of each audio file
 * the text names, keyed by the string as written; it->source and
 * it->chime_file get those hashes). Every problem is one error in msgs,
 * naming label:line and the field. A text over max_bytes is refused (one
 * error naming the label, its size and the limit) before libconfig sees
 * it, and so is one with an "@include" line (libconfig would open the
 * file it names) or a NUL byte (naming its line). A UTF-8 byte-order mark
 * at the start is skipped. Returns 0, or -EINVAL when the file had
 * errors (its items are then not added).
 */
int sched_parse_text(const char *label, const char *text, size_t len, json_t *audio,
		     int64_t max_bytes, struct sched_set *set, struct sched_msgs *msgs);

/* Ids must be unique across all files: an error per duplicate. */
int sched_check_unique(const struct sched_set *set, struct sched_msgs *msgs);

/* "05:30" or "05:30:15" -> seconds since midnight; -1 when invalid. */
int sched_parse_tod(const char *s);
/* "2026-12-01" -> date; -1 when invalid (checks month lengths, leap years). */
int sched_parse_date(const char *s, struct sched_date *d);
/* "2026-12-01 05:30[:15]" in local time -> ms since the epoch; -1 invalid. */
int sched_parse_local(const char *s, int64_t *ms);

/* Days since 1970-01-01 of a date, and back (proleptic Gregorian). */
int64_t sched_days_from_date(struct sched_date d);
struct sched_date sched_date_from_days(int64_t days);
/* Local date of an instant (process time zone). */
struct sched_date sched_local_date(int64_t ms);
/* The instant of a local date + seconds since midnight. */
int64_t sched_local_ms(struct sched_date d, int tod_s);
/* "2026-12-02 05:30:00" (local) */
void sched_fmt_local(char *buf, size_t len, int64_t ms);

/* One planned play of an item. */
struct sched_occ {
	char id[SCHED_OCC_ID_MAX];
	const struct sched_item *item;
	int64_t at;                   /* ms, first sample (chime included) */
	int64_t end;                  /* at + chime + duration */
	int64_t expires;              /* latest acceptable start */
	int k;                        /* repeat index, 1.. */
};

/*
 * Every occurrence of item whose start lies in [from_ms, to_ms), in time
 * order; cb returns non-zero to stop. Occurrence ids are stable: they
 * depend only on the item id, the local date and time of day and the
 * repeat index, so a re-plan gives the same id to the same play.
 */
typedef int (*sched_occ_fn)(void *arg, const struct sched_occ *occ);
int sched_expand(const struct sched_item *item, int64_t from_ms, int64_t to_ms,
		 sched_occ_fn cb, void *arg);

/* Allowed broadcasting hours of a zone: [start_s, end_s) of the local day. */
struct sched_zone {
	char name[SCHED_NAME_MAX];
	char title[SCHED_TITLE_MAX];  /* the village's own name ("Thôn 1"); "" if none */
	int start_s, end_s;           /* 0 and 86400: all day */
	int line;
	/* levels whose operator requests wait for an approver (bit 1 << level) */
	unsigned approval;
	int approval_set;             /* 0: the site's approval.levels */
};


struct sched_site {
	char timezone[64];
	int horizon_days;
	int64_t max_file_bytes;       /* schedule.max_file_bytes */
	int64_t max_total_bytes;      /* schedule.max_total_bytes: all files of a request */
	int start_s, end_s;           /* default allowed hours */
	unsigned approval;            /* approval.levels: zones that set none */
	struct sched_zone zones[SCHED_MAX_ZONES];
	size_t nzones;
};

void sched_site_defaults(struct sched_site *s);
/*
 * The schedule part of controller.cfg: "timezone", "schedule" and the
 * "zones" list (errors through cfg_error, file:line:field).
 */
int sched_site_load(struct cfg *cfg, struct sched_site *s);
/* "05:00-21:30" -> [start, end) in seconds; -1 when invalid. */
int sched_parse_hours(const char *s, int *start_s, int *end_s);
/* The zone's allowed hours (the site default for an undeclared zone). */
void sched_zone_hours(const struct sched_site *s, const char *zone, int *start_s,
		      int *end_s);
int sched_zone_declared(const struct sched_site *s, const char *zone);
/* The zone's title from controller.cfg ("Thôn 1"), NULL when it has none. */
const char *sched_zone_title(const struct sched_site *s, const char *zone);
/*
 * Whether a play over [at, end] (end == at: its start only) lies outside
 * zone's allowed hours ("the site" or NULL: the default hours): 1 with why
 * saying which zone, its hours and the local time of the play; else 0.
 */
int sched_outside_hours(const struct sched_site *s, const char *zone, int64_t at,
			int64_t end, char *why, size_t whylen);
/*
 * The levels (bit 1 << level) at which an operator's announcements, plays
 * and schedule changes in zone wait for an approver: the zone's own
 * "approval" list in controller.cfg, else approval.levels (default none).
 * Only relay, normal and priority can be listed: emergencies never wait
 * (docs/approval.md).
 */
unsigned sched_zone_approval(const struct sched_site *s, const char *zone);

/*
 * What the checks need to know about nodes: the zones each known node
 * reported (from the database, or nothing in unit tests).
 */
struct sched_node_info {
	char id[SCHED_NAME_MAX];
	char zones[32][SCHED_NAME_MAX];
	size_t nzones;
};

struct sched_world {
	const struct sched_site *site;
	const struct sched_node_info *nodes;
	size_t nnodes;
	/* items before this index stay as they are: their hours are not checked
	 * again (an announcement is checked, not the schedule around it) */
	size_t hours_from;
};

/* Whether item targets node (zones, nodes, all). */
int sched_item_targets(const struct sched_item *it, const struct sched_node_info *node);

/*
 * Check targets against the world: an unknown zone (neither declared in
 * controller.cfg nor reported by a node) or a node never seen is an
 * error. Then, over [from_ms, to_ms), every occurrence outside the
 * allowed hours of a zone it plays in is a warning (counted in
 * msgs->nhours: an apply or announcement refuses them unless confirmed)
 * unless the item is an emergency; overlapping plays on one node are listed in conflicts
 * (which wins and why); two emergencies overlapping on a node are an
 * error. Items must be resolved (durations known).
 */
int sched_check_world(const struct sched_set *set, const struct sched_world *w,
		      int64_t from_ms, int64_t to_ms, struct sched_msgs *msgs,
		      json_t *conflicts);

/* Stored form of an item (the resolved definition) and back. */
json_t *sched_item_to_json(const struct sched_item *it);
int sched_item_from_json(json_t *j, struct sched_item *it);

/* A small WAV file with the default chime (two soft tones, 1.2 s). */
int sched_write_chime_wav(const char *path);

#endif
