/*
 * test_retention.c - pruning of old events and audit rows (controller/
 * retention.c) at the instant the test clock gives (LOAXA_TEST_NOW, or
 * now): rows older than the retention go, in batches; the monthly report
 * of the month 24 months back keeps every play, also at the smallest
 * retention allowed; controller.cfg refuses a retention under 24 months,
 * naming the field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "capture.h"
#include "ctl.h"
#include "ctlcfg.h"
#include "healthapi.h"
#include "log.h"
#include "retention.h"
#include "ctlfixture.h"
#include "tap.h"
#include "testclock.h"
#include "util.h"

#define DAY 86400000LL

static char dir[64];
static struct ctl c;
static struct verifier ver;

static int hook(void *arg, enum ctl_conn_kind kind, const char *topic, const void *payload,
		size_t len, int qos, int retain)
{
	(void)arg;
	(void)kind;
	(void)topic;
	(void)payload;
	(void)len;
	(void)qos;
	(void)retain;
	return 0;
}

static void store_play(const char *occ, int64_t at)
{
	struct ctl_event ev;
	int upd = 0;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "n1-%s", occ);
	snprintf(ev.node, sizeof(ev.node), "n1");
	snprintf(ev.type, sizeof(ev.type), "play_finished");
	snprintf(ev.occurrence, sizeof(ev.occurrence), "%s", occ);
	snprintf(ev.end, sizeof(ev.end), "finished");
	ev.boot = 1;
	ev.ts = at;
	ev.start = at - 20000;
	ev.scheduled = at - 20000;
	ev.duration_ms = 20000;
	ev.plan_seq = -1;
	ev.error_ms = -1;
	ctl_db_event_store(&c.db, &ev, at + 1000, &upd);
}

static void store_audit(int64_t at)
{
	sqlite3_stmt *st = NULL;

	sqlite3_prepare_v2(c.db.h, "INSERT INTO audit (ts, user, role, peer, action, target, "
			   "result, status, detail) VALUES (?, 'admin', 'admin', '-', "
			   "'POST /v1/x', '-', 'allowed', 200, '')", -1, &st, NULL);
	sqlite3_bind_int64(st, 1, at);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

static long long count(const char *table)
{
	char sql[64];
	sqlite3_stmt *st = NULL;
	long long n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (sqlite3_prepare_v2(c.db.h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static json_int_t month_played(const char *month)
{
	char err[128];
	json_t *rep = ctl_health_report(&c, month, err, sizeof(err)), *r;
	json_int_t n = 0;
	size_t i;

	json_array_foreach(json_object_get(rep, "clusters"), i, r)
		if (strcmp(json_string_value(json_object_get(r, "node")), "n1") == 0)
			n = json_integer_value(json_object_get(r, "played"));
	json_decref(rep);
	return n;
}

/* prune to the end in batches of one; how many calls deleted something */
static int prune_all(int64_t now, long long *deleted)
{
	int calls = 0, n;

	*deleted = 0;
	while ((n = ctl_retention_prune(&c, now, 1)) > 0 && calls < 100) {
		*deleted += n;
		calls++;
	}
	return n < 0 ? n : calls;
}

static void test_prune(void)
{
	char zones[1][CTL_NAME_MAX] = { "thon-1" };
	int64_t now = now_ms(), m24, end;
	time_t t = (time_t)(now / 1000);
	struct tm tm;
	char month[16];
	long long deleted = 0;
	int calls;

	/* the first instant of the local month 24 months back */
	localtime_r(&t, &tm);
	tm.tm_mon -= 24;
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	m24 = (int64_t)mktime(&tm) * 1000;
	strftime(month, sizeof(month), "%Y-%m", &tm);
	ctl_db_node_set_status(&c.db, "n1", 1, 1, "0.1.0", now, zones, 1, "{}");
	store_play("o-m24-first", m24 + 30000);     /* its first minute */
	store_play("o-old-1", now - 801 * DAY);
	store_play("o-old-2", now - 900 * DAY);
	store_play("o-old-3", now - 5000 * DAY);
	store_play("o-recent", now - 10 * DAY);
	store_audit(now - 1000 * DAY);
	store_audit(now - 801 * DAY);
	store_audit(now - 799 * DAY);
	store_audit(now - 1 * DAY);
	CHECK(count("events") == 5 && count("audit") == 4, "5 events and 4 audit rows stored");
	CHECK(month_played(month) == 1, "the report of %s (24 months back, at %s) counts its "
	      "play before pruning", month, testclock_describe());

	calls = prune_all(now, &deleted);
	CHECK(calls == 3 && deleted == 5, "the default retention (%d days) prunes 3 events and "
	      "2 audit rows in batches of 1: %d batches, %lld rows", c.cfg.retention.events_days,
	      calls, deleted);
	CHECK(count("events") == 2 && count("audit") == 2,
	      "the recent event, the one 24 months back and the 2 younger audit rows stay "
	      "(%lld events, %lld audit)", count("events"), count("audit"));
	CHECK(month_played(month) == 1, "the report of %s still counts its play", month);
	CHECK(ctl_retention_prune(&c, now, 1000) == 0, "a second pass finds nothing");

	/* the smallest retention allowed still keeps the whole month 24 months back */
	c.cfg.retention.events_days = c.cfg.retention.audit_days = CTL_RETENTION_MIN_DAYS;
	CHECK(prune_all(now, &deleted) == 1 && deleted == 1 && count("audit") == 1,
	      "at %d days the audit row 799 days old goes (%lld row)", CTL_RETENTION_MIN_DAYS,
	      deleted);
	CHECK(month_played(month) == 1 && count("events") == 2,
	      "at %d days the report of %s still counts its play", CTL_RETENTION_MIN_DAYS,
	      month);
	/* and at the last second of the current month, when it is still 24 months back */
	localtime_r(&t, &tm);
	tm.tm_mon += 1;
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	end = (int64_t)mktime(&tm) * 1000 - 1000;
	CHECK(prune_all(end, &deleted) >= 0 && month_played(month) == 1,
	      "at %d days, at the last second of this month, the report of %s still counts "
	      "its play", CTL_RETENTION_MIN_DAYS, month);
	CHECK(prune_all(m24 + 30000 + (CTL_RETENTION_MIN_DAYS + 1) * DAY, &deleted) == 1 &&
	      month_played(month) == 0, "%d days and a day after it, the play of %s goes",
	      CTL_RETENTION_MIN_DAYS, month);
}

static long long pragma_int(const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(c.db.h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Issue 17: planned plays' results go too, and the freed pages are given back. */
static void test_plays_and_vacuum(void)
{
	int64_t now = now_ms();
	long long deleted = 0, pages0, pages1, mode;
	char sql[512];
	int i;

	for (i = 0; i < 400; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO sched_plays (occurrence, node, result, "
			 "scheduled, start, duration_ms, reason, event, updated) VALUES "
			 "('o-%d', 'n1', 'played', 1, 1, 1000, '%0100d', 'e', %lld)", i, 0,
			 (long long)(i < 300 ? now - 900 * DAY : now - DAY));
		sqlite3_exec(c.db.h, sql, NULL, NULL, NULL);
	}
	CHECK(count("sched_plays") == 400, "400 results of planned plays stored");
	c.cfg.retention.events_days = c.cfg.retention.audit_days = 800;
	while (ctl_retention_prune(&c, now, 1000) > 0)
		;
	CHECK(count("sched_plays") == 100, "the 300 older than the retention are pruned, the "
	      "100 recent stay (%lld left)", count("sched_plays"));
	mode = pragma_int("PRAGMA auto_vacuum");
	CHECK(mode == 2, "a new database vacuums incrementally (auto_vacuum = %lld)", mode);
	/* old audit rows pruned leave free pages; the vacuum gives them back */
	for (i = 0; i < 400; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO audit (ts, user, role, peer, action, "
			 "target, result, status, detail) VALUES (%lld, 'u', 'admin', 'p', 'a', "
			 "'t', 'allowed', 200, '%0200d')", (long long)(now - 1000 * DAY), 0);
		sqlite3_exec(c.db.h, sql, NULL, NULL, NULL);
	}
	pages0 = pragma_int("PRAGMA page_count");
	while ((i = ctl_retention_prune(&c, now, 1000)) > 0)
		deleted += i;
	CHECK(pragma_int("PRAGMA freelist_count") > 0, "pruning 400 audit rows frees %lld pages",
	      pragma_int("PRAGMA freelist_count"));
	for (i = 0; i < 100 && ctl_retention_vacuum(&c, 4) > 0; i++)
		;
	pages1 = pragma_int("PRAGMA page_count");
	CHECK(pragma_int("PRAGMA freelist_count") == 0 && pages1 < pages0,
	      "the vacuum gives them back 4 pages at a time in %d steps: %lld -> %lld pages", i,
	      pages0, pages1);
}

static void test_config(void)
{
	char path[128], text[256];
	static struct ctl_config cfg;
	const char *err;
	int rc;

	snprintf(path, sizeof(path), "%s/controller.cfg", dir);
	ctl_config_defaults(&cfg);
	CHECK(cfg.retention.events_days == CTL_RETENTION_DEFAULT_DAYS &&
	      cfg.retention.audit_days == CTL_RETENTION_DEFAULT_DAYS,
	      "retention defaults to %d days", CTL_RETENTION_DEFAULT_DAYS);
	snprintf(text, sizeof(text), "site = \"xa-test\";\nretention = { events_days = 700; };\n");
	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = ctl_config_load(&cfg, path);
	err = capture_end();
	CHECK(rc == -EINVAL && strstr(err, "retention.events_days"),
	      "retention.events_days = 700 is refused, naming the field: %s", err);
	snprintf(text, sizeof(text), "site = \"xa-test\";\nretention = { events_days = 1000; "
		 "audit_days = 3650; };\nmqtt = { insecure = true; };\n");
	write_file_atomic(path, text, strlen(text), 0600);
	rc = ctl_config_load(&cfg, path);
	CHECK(rc == 0 && cfg.retention.events_days == 1000 && cfg.retention.audit_days == 3650,
	      "retention = { events_days = 1000; audit_days = 3650; } loads");
}

int main(void)
{
	char cmd[128];

	log_init("test_retention", 0);
	setenv("TZ", "Asia/Ho_Chi_Minh", 1);
	tzset();
	strcpy(dir, "/tmp/loaxa-test-retention-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	ctl_config_defaults(&c.cfg);
	strcpy(c.cfg.site, "xa-test");
	snprintf(c.cfg.state_dir, sizeof(c.cfg.state_dir), "%s", dir);
	ctl_fixture(&c, &ver, hook);
	test_prune();
	test_plays_and_vacuum();
	test_config();
	ctl_db_close(&c.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
