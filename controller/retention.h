/*
 * retention.h - pruning of old node events and audit rows.
 *
 * A district's nodes send thousands of events a day and every API change
 * is an audit row: without pruning the database grows for ever. Rows older
 * than `retention.events_days` / `retention.audit_days` (controller.cfg,
 * default 800, at least 762 so the monthly report of each of the last 24
 * whole months, and of the current one, still has all its events) are deleted in batches of
 * CTL_RETENTION_BATCH rows, one transaction each, from the loop's tick: one
 * batch per tick while there is work, then the next pass a day later. An
 * event's age is its node timestamp `ts`, the one the report groups by
 * months; an audit row's is its `ts`.
 */
#ifndef LOAXA_CTL_RETENTION_H
#define LOAXA_CTL_RETENTION_H

#include <stdint.h>

struct ctl;

#define CTL_RETENTION_BATCH 1000
#define CTL_RETENTION_MIN_DAYS 762   /* 24 whole months (731 d at most) + the current one (31) */
#define CTL_RETENTION_DEFAULT_DAYS 800

/*
 * Delete at most `batch` events and `batch` audit rows older than the
 * retention at `now` (ms), in one transaction each. Returns the number of
 * rows deleted (0: nothing left to prune) or -EIO.
 */
int ctl_retention_prune(struct ctl *c, int64_t now, int batch);

/*
 * Give back up to `pages` free pages to the file system (a database made
 * with auto_vacuum = INCREMENTAL; db.c). Returns the pages still free, 0
 * when done or when the database does not vacuum incrementally.
 */
int ctl_retention_vacuum(struct ctl *c, int pages);

/* From the loop's tick: a batch while a pass runs; a pass a day. */
void ctl_retention_tick(struct ctl *c);

#endif
