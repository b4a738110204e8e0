/*
 * retention.c - see retention.h.
 */
#include "retention.h"

#include <errno.h>
#include <inttypes.h>

#include <sqlite3.h>

#include "ctl.h"
#include "log.h"
#include "util.h"

#define DAY_MS 86400000LL
/* A pass runs once a day; the first one a minute after the start. */
#define PASS_EVERY_MS DAY_MS
#define FIRST_PASS_MS 60000

static int64_t next_pass_mono;   /* 0: not scheduled yet */
static int pass_running;
static uint64_t pass_deleted;

/* One batch from one table, in its own transaction. */
static int prune_table(struct ctl *c, const char *sql, int64_t before, int batch)
{
	sqlite3_stmt *st = NULL;
	int rc, n = -EIO;

	if (ctl_db_begin(&c->db) < 0)
		return -EIO;
	if (ctl_db_prep(&c->db, &st, sql, NULL) < 0)
		goto out;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int(st, 2, batch);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		goto out;
	n = sqlite3_changes(c->db.h);
out:
	if (n < 0) {
		ctl_db_fail(&c->db, "cannot prune old rows");
		sqlite3_finalize(st);
		ctl_db_rollback(&c->db);
		return n;
	}
	sqlite3_finalize(st);
	return ctl_db_commit(&c->db) < 0 ? -EIO : n;
}

int ctl_retention_prune(struct ctl *c, int64_t now, int batch)
{
	int64_t ev_before = now - (int64_t)c->cfg.retention.events_days * DAY_MS;
	int64_t au_before = now - (int64_t)c->cfg.retention.audit_days * DAY_MS;
	int a, b, p;

	/* events_ts is an index: the subquery reads only the old rows */
	a = prune_table(c, "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
			"WHERE ts < ?1 LIMIT ?2)", ev_before, batch);
	if (a < 0)
		return a;
	/* audit ids grow with time: the oldest rows come first in id order */
	b = prune_table(c, "DELETE FROM audit WHERE id IN (SELECT id FROM audit "
			"WHERE ts < ?1 ORDER BY id LIMIT ?2)", au_before, batch);
	if (b < 0)
		return b;
	/* the results of planned plays go with the events they came from */
	p = prune_table(c, "DELETE FROM sched_plays WHERE rowid IN (SELECT rowid FROM "
			"sched_plays WHERE updated < ?1 LIMIT ?2)", ev_before, batch);
	if (p < 0)
		return p;
	return a + b + p;
}

int ctl_retention_vacuum(struct ctl *c, int pages)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	int left = 0;

	snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", pages);
	if (sqlite3_exec(c->db.h, sql, NULL, NULL, NULL) != SQLITE_OK) {
		log_warnx("%s: incremental vacuum: %s", c->db.path, sqlite3_errmsg(c->db.h));
		return 0;
	}
	if (ctl_db_prep(&c->db, &st, "PRAGMA freelist_count", NULL) == 0 &&
	    sqlite3_step(st) == SQLITE_ROW)
		left = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return left;
}

void ctl_retention_tick(struct ctl *c)
{
	int64_t mono = mono_ms();
	int n;

	if (!c->db.h)
		return;
	if (!next_pass_mono)
		next_pass_mono = mono + FIRST_PASS_MS;
	if (!pass_running && mono < next_pass_mono)
		return;
	pass_running = 1;
	n = ctl_retention_prune(c, now_ms(), CTL_RETENTION_BATCH);
	if (n > 0) {
		pass_deleted += (uint64_t)n;
		return; /* more next tick: the loop serves everything else in between */
	}
	/* then the freed pages, 256 (1 MiB) per loop turn */
	if (pass_deleted && ctl_retention_vacuum(c, 256) > 0)
		return;
	if (pass_deleted)
		log_info("retention: pruned %" PRIu64 " event, audit and planned-play row(s) "
			 "older than %d / %d days", pass_deleted, c->cfg.retention.events_days,
			 c->cfg.retention.audit_days);
	pass_running = 0;
	pass_deleted = 0;
	next_pass_mono = mono + PASS_EVERY_MS;
}
