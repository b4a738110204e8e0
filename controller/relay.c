/*
 * relay.c - see relay.h.
 */
#include "relay.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ctl.h"
#include "live.h"
#include "log.h"
#include "util.h"

#define MAX_NODES 4096
#define RETRY_MS 30000

struct due {
	char occurrence[80];
	char source[300];
	int64_t at, until;
	char (*nodes)[CTL_NAME_MAX];
	size_t n;
};

/* What failed last, so a broken source is retried every 30 s, not every second. */
static char failed_occ[80];
static int64_t failed_at;

static void add_node(struct due *d, const char *node)
{
	if (d->n < MAX_NODES)
		snprintf(d->nodes[d->n++], CTL_NAME_MAX, "%s", node);
}

/*
 * The earliest relay occurrence due now in any stored plan, with every node
 * whose plan has it. Returns 1 found, 0 none, -errno.
 */
static int find_due(struct ctl *c, int64_t now, struct due *d)
{
	sqlite3_stmt *st = NULL;
	int found = 0;

	if (ctl_db_prep(&c->db, &st, "SELECT node, body FROM sched_plans WHERE body LIKE "
			"'%\"source\"%' ORDER BY node", NULL) < 0) {
		/* no schedules table (an older database): no relays */
		return 0;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(st, 0);
		const char *body = (const char *)sqlite3_column_text(st, 1);
		json_t *o = body ? json_loads(body, 0, NULL) : NULL, *it;
		size_t i;

		json_array_foreach(json_object_get(o, "items"), i, it) {
			const char *src = json_string_value(json_object_get(it, "source"));
			const char *id = json_string_value(json_object_get(it, "id"));
			json_int_t at = json_integer_value(json_object_get(it, "at"));
			json_int_t until = json_integer_value(json_object_get(it, "until"));

			if (!src || !id || !node || at > now || until <= now)
				continue;
			if (!found || at < d->at) {
				/* an earlier one: start over with it */
				snprintf(d->occurrence, sizeof(d->occurrence), "%s", id);
				snprintf(d->source, sizeof(d->source), "%s", src);
				d->at = at;
				d->until = until;
				d->n = 0;
				found = 1;
			}
			if (strcmp(d->occurrence, id) == 0)
				add_node(d, node);
		}
		json_decref(o);
	}
	sqlite3_finalize(st);
	return found;
}

void ctl_relay_tick(struct ctl *c)
{
	struct due d;
	const char *cur = ctl_live_relay_occurrence(c);
	int64_t now = now_ms();
	char err[300];
	int rc;

	memset(&d, 0, sizeof(d));
	d.nodes = calloc(MAX_NODES, sizeof(*d.nodes));
	if (!d.nodes)
		return;
	rc = find_due(c, now, &d);
	if (cur && !cur[0])
		goto out; /* an operator's relay: not ours to change */
	if (cur && (rc <= 0 || strcmp(cur, d.occurrence) != 0)) {
		ctl_live_relay_stop(c, rc > 0 ? "an earlier relay of the schedule is due" :
				    "its time in the schedule is over");
		cur = NULL;
	}
	if (cur || rc <= 0 || ctl_live_relay_stopped(c, d.occurrence))
		goto out;
	if (strcmp(failed_occ, d.occurrence) == 0 && mono_ms() - failed_at < RETRY_MS)
		goto out;
	log_info("relay %s of the schedule: %s to %zu node%s until %" PRId64, d.occurrence,
		 d.source, d.n, d.n == 1 ? "" : "s", (int64_t)d.until);
	if (ctl_live_relay_start(c, d.source, d.nodes, d.n, d.until, d.occurrence, err,
				 sizeof(err)) < 0) {
		log_warnx("relay %s (%s) cannot start: %s; trying again in %d s", d.occurrence,
			  d.source, err, RETRY_MS / 1000);
		snprintf(failed_occ, sizeof(failed_occ), "%s", d.occurrence);
		failed_at = mono_ms();
	}
out:
	free(d.nodes);
}
