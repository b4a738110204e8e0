/*
 * selftest.c - see selftest.h.
 */
#include "selftest.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "commands.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "util.h"

#define DUE_WINDOW_MIN 60

static int last_day = -1; /* -1: not read from disk yet */

int ctl_selftest_due(int daily_min, int minute, int day_now, int day_before)
{
	int elapsed;

	if (daily_min < 0)
		return 0;
	elapsed = (minute - daily_min + 1440) % 1440;
	if (elapsed >= DUE_WINDOW_MIN)
		return 0;
	/* daily_at 23:30, now 00:10: the run is yesterday's */
	return minute >= daily_min ? day_now : day_before;
}

static int day_key(time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

static void day_path(const struct ctl *c, char *out, size_t len)
{
	snprintf(out, len, "%s/selftest.day", c->cfg.state_dir);
}

static void load_day(const struct ctl *c)
{
	char path[PATH_MAX + 16];
	uint8_t *text = NULL;
	size_t len;

	last_day = 0;
	day_path(c, path, sizeof(path));
	if (read_file(path, 64, &text, &len) == 0) {
		last_day = atoi((const char *)text);
		free(text);
	}
}

static void run(struct ctl *c, int day)
{
	json_t *nodes = ctl_db_nodes_json(&c->db), *n, *reply;
	char path[PATH_MAX + 16], text[16], err[256];
	size_t i;
	int asked = 0;

	last_day = day;
	day_path(c, path, sizeof(path));
	snprintf(text, sizeof(text), "%d\n", day);
	if (write_file_atomic(path, text, strlen(text), 0600) < 0)
		log_warnx("cannot write %s: after a restart today the daily horn self-test may "
			  "run again", path);
	json_array_foreach(nodes, i, n) {
		const char *id = json_string_value(json_object_get(n, "node"));
		json_t *st = json_object_get(json_object_get(n, "status"), "selftest");

		if (!id || !json_is_true(json_object_get(n, "online")) ||
		    !json_is_true(json_object_get(st, "configured")))
			continue;
		reply = NULL;
		if (ctl_maint_command(c, id, "selftest", NULL, &reply, err, sizeof(err)) < 0)
			log_warnx("daily horn self-test: cannot ask node %s: %s", id, err);
		else
			asked++;
		json_decref(reply);
	}
	json_decref(nodes);
	log_info("daily horn self-test: asked %d node(s) with a sensing input", asked);
}

void ctl_selftest_tick(struct ctl *c)
{
	time_t t = (time_t)(now_ms() / 1000);
	struct tm tm;
	int due;

	if (c->cfg.selftest.daily_min < 0)
		return;
	if (last_day < 0)
		load_day(c);
	localtime_r(&t, &tm);
	due = ctl_selftest_due(c->cfg.selftest.daily_min, tm.tm_hour * 60 + tm.tm_min,
			       day_key(t), day_key(t - 86400));
	if (due && due != last_day)
		run(c, due);
}
