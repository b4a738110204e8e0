/*
 * capmap.h - what a CAP 1.2 alert means for this commune: the `cap`
 * block of controller.cfg, and the mapping of an alert (capxml.h) to
 * loaxa's levels, targets and approval (docs/cap.md).
 *
 * Pure: no database, no network. The station's administrative codes
 * (province 2 digits, district 3, commune 5: Vietnam's codes) and a table
 * of area geocodes to this commune's villages (zones) decide where an
 * alert plays; an alert for none of them is refused naming the codes it
 * carried. severity/urgency/certainty give the level, status gives real
 * or drill, msgType gives play, replace (Update) or stop (Cancel); the
 * configured source (by sender) says which levels go straight on air.
 */
#ifndef LOAXA_CTL_CAPMAP_H
#define LOAXA_CTL_CAPMAP_H

#include <limits.h>
#include <stddef.h>

#include "capxml.h"

struct cfg;

#define CAP_MAP_AREAS 64
#define CAP_MAP_ZONES 16          /* zones one area code names */
#define CAP_SOURCES 16
#define CAP_ZONE_NAME 32           /* name_valid(): 1-31 characters */

enum cap_level { CAP_NORMAL = 0, CAP_PRIORITY = 1, CAP_EMERGENCY = 2 };

struct cap_area_map {
	char code[64];                 /* the geocode's value */
	char zones[CAP_MAP_ZONES][CAP_ZONE_NAME];
	size_t nzones;
};

struct cap_source {
	char name[CAP_ZONE_NAME];      /* the author of its drafts, in the audit log */
	char sender[CAP_ID_MAX];       /* the alert's <sender>, exactly */
	unsigned direct;               /* bit per enum cap_level: straight on air */
};

struct cap_config {
	int enabled;                   /* a cap block is present */
	char province[4];              /* "25" */
	char district[4];              /* "227" */
	char commune[8];               /* "08152" */
	char value_name[64];           /* geocode valueName, default "VN-ADMIN" */
	struct cap_area_map areas[CAP_MAP_AREAS];
	size_t nareas;
	struct cap_source sources[CAP_SOURCES];
	size_t nsources;
	char import_dir[PATH_MAX];     /* <resource><uri> may name files here only */
	int text_max;                  /* bytes of text spoken when there is no audio */
	int max_s;                     /* an emergency's maximum duration */
};

/*
 * Read the optional cap block (fields cap.*; relative paths from dir).
 * Every problem is logged with file, line and field; 0 or -EINVAL.
 */
int cap_config_load(struct cfg *cfg, const char *dir, struct cap_config *out);

/* The field names of the block, for cfg_reject_unknown (NULL-terminated). */
extern const char *const cap_config_fields[];

enum cap_action { CAP_PLAY, CAP_CANCEL };

struct cap_decision {
	enum cap_action action;
	int update;                    /* msgType Update: replaces what it references */
	enum cap_level level;
	int drill;                     /* status Exercise or Test: never a real alarm */
	int all;                       /* the whole commune */
	char zones[CAP_MAP_AREAS][CAP_ZONE_NAME];
	size_t nzones;
	int direct;                    /* the source may put this level on air itself */
	const struct cap_source *source;
	size_t info;                   /* the info block used (Vietnamese first) */
	char why[512];                 /* how the level was found, for the audit log */
};

/*
 * Map alert a under cfg. 0, or -EINVAL (refused) / -EPERM (unknown
 * sender) with err saying why in an operator's words (and, when the
 * fault is an element, which one in elem).
 */
int cap_map(const struct cap_config *cfg, const struct cap_alert *a, struct cap_decision *d,
	    char *elem, size_t elemlen, char *err, size_t errlen);

const char *cap_level_name(enum cap_level l);

/*
 * The level of one info block alone (the documented table, docs/cap.md);
 * why gets "severity Extreme, urgency Immediate, certainty Observed".
 */
enum cap_level cap_level_of(const struct cap_info *in, char *why, size_t whylen);

/*
 * The references of a Cancel or Update, "sender,identifier,sent"
 * separated by spaces: call fn for each (sender, identifier). 0, or
 * -EINVAL when one is not of that form.
 */
int cap_references(const char *refs, int (*fn)(void *arg, const char *sender, const char *id),
		   void *arg);

#endif
