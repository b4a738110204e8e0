/*
 * hours.c - see hours.h.
 */
#include "hours.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "auth.h"
#include "ctl.h"
#include "log.h"
#include "schedparse.h"

/* The first zone of the query's rows outside the hours: 1, 0, or -EIO. */
static int rows_outside(struct ctl *c, sqlite3_stmt *st, int64_t at, int64_t end,
			int *any, char *why, size_t whylen)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *z = (const char *)sqlite3_column_text(st, 0);

		if (!z)
			continue;
		*any = 1;
		if (sched_outside_hours(&c->cfg.sched, z, at, end, why, whylen))
			return 1;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int target_outside(struct ctl *c, const char *zone, const char *node, int all,
			  int64_t at, int64_t end, char *why, size_t whylen)
{
	sqlite3_stmt *st = NULL;
	int rc, any = 0;

	if (zone && zone[0] && strcmp(zone, "all") != 0)
		return sched_outside_hours(&c->cfg.sched, zone, at, end, why, whylen);
	if (all || (zone && strcmp(zone, "all") == 0))
		rc = ctl_db_prep(&c->db, &st, "SELECT DISTINCT zone FROM node_zones ORDER BY "
				 "zone", NULL);
	else
		rc = ctl_db_prep(&c->db, &st, "SELECT zone FROM node_zones WHERE node = ? "
				 "ORDER BY pos", NULL);
	/* its own message: the caller shows why to the operator */
	if (rc < 0) {
		snprintf(why, whylen, "the controller cannot read the nodes' zones (see its log)");
		log_errorx("hours: cannot read the nodes' zones: %s", sqlite3_errmsg(c->db.h));
		return -EIO;
	}
	if (!all && !(zone && strcmp(zone, "all") == 0))
		sqlite3_bind_text(st, 1, node ? node : "", -1, SQLITE_TRANSIENT);
	rc = rows_outside(c, st, at, end, &any, why, whylen);
	sqlite3_finalize(st);
	if (rc < 0) {
		snprintf(why, whylen, "the controller cannot read the nodes' zones (see its log)");
		return rc;
	}
	if (rc == 0 && !any)
		rc = sched_outside_hours(&c->cfg.sched, NULL, at, end, why, whylen);
	return rc;
}

void ctl_hours_confirmed(struct ctl *c, const struct ctl_principal *who, const char *what,
			 const char *why)
{
	static const struct ctl_principal nobody;

	log_info("outside allowed hours, confirmed by %s: %s: %s",
		 who && who->user[0] ? who->user : "-", what, why);
	ctl_auth_audit(&c->db, who ? who : &nobody, "outside-hours", what, 200, why);
}

int ctl_hours_gate(struct ctl *c, const struct ctl_principal *who, const char *level,
		   const char *zone, const char *node, int all, int64_t at, int64_t end,
		   int confirmed, const char *what, char *err, size_t errlen)
{
	char why[400];
	int rc;

	if (level && strcmp(level, "emergency") == 0)
		return 0; /* an emergency sounds at any hour */
	rc = target_outside(c, zone, node, all, at, end, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "%s", why);
		return -EIO;
	}
	if (rc == 0)
		return 0;
	if (confirmed) {
		ctl_hours_confirmed(c, who, what, why);
		return 0;
	}
	snprintf(err, errlen, "outside the allowed hours: %s. Nothing was sent. If it must "
		 "sound now, confirm with --outside-hours (API: \"outside_hours\": true); the "
		 "confirmation goes into the audit log", why);
	return -ERANGE;
}
