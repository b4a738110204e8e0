/*
 * hours.h - allowed broadcasting hours for plays, live sessions and
 * relays started now (issue 16, docs/schedules.md "Allowed hours").
 *
 * A zone's allowed_hours (controller.cfg) are a rule of the station, not a
 * technical limit: outside them a request is refused with the reason
 * (which zone, its hours, the local time of the play) unless the operator
 * confirms it (CLI --outside-hours, API "outside_hours": true); a
 * confirmation is logged and written to the audit log. Emergencies are
 * exempt. Schedules and announcements are checked in schedule.c (warnings,
 * counted) and refused in schedjobs.c; this module serves the requests
 * that have no schedule item.
 */
#ifndef LOAXA_CTL_HOURS_H
#define LOAXA_CTL_HOURS_H

#include <stddef.h>
#include <stdint.h>

struct ctl;
struct ctl_principal;

/*
 * Whether a play to a target (one of zone, node, all) over [at, end] lies
 * within the allowed hours of every zone it sounds in: a zone target its
 * zone; a node its zones; all every node's zones (a node in no zone, or
 * none known: the site's default hours). level "emergency" is exempt.
 * Returns 0 when allowed (or confirmed: then logged and audited as
 * action "outside-hours" with what, e.g. "POST /v1/broadcasts zone x"),
 * -ERANGE with err saying why and what to do when refused, or -EIO when
 * the database cannot say (err filled).
 */
int ctl_hours_gate(struct ctl *c, const struct ctl_principal *who, const char *level,
		   const char *zone, const char *node, int all, int64_t at, int64_t end,
		   int confirmed, const char *what, char *err, size_t errlen);

/* The audit record of a confirmed request outside the hours (also logged). */
void ctl_hours_confirmed(struct ctl *c, const struct ctl_principal *who, const char *what,
			 const char *why);

#endif
