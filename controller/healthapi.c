/*
 * healthapi.c - see healthapi.h.
 */
#include "healthapi.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "alarms.h"
#include "ctl.h"
#include "ctlutil.h"
#include "log.h"
#include "commands.h"
#include "util.h"

#define LOG_LIMIT_MAX 100000

int ctl_health_api_match(const char *url)
{
	return strncmp(url, "/v1/nodes/", 10) == 0 || strncmp(url, "/v1/commands/", 13) == 0 ||
	       strcmp(url, "/v1/alarms") == 0 || strcmp(url, "/v1/log") == 0 ||
	       strcmp(url, "/v1/report") == 0 || strcmp(url, "/metrics") == 0;
}

static void reply_error(struct ctl_health_reply *out, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_error(struct ctl_health_reply *out, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	out->status = status;
	out->json = json_pack("{s:s}", "error", msg);
}

static void reply_json(struct ctl_health_reply *out, unsigned status, json_t *j)
{
	if (!j) {
		reply_error(out, 500, "the controller's database failed (see its log)");
		return;
	}
	out->status = status;
	out->json = j;
}

static json_t *col(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL: return json_null();
	case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT: return json_real(sqlite3_column_double(st, i));
	default: return json_string((const char *)sqlite3_column_text(st, i));
	}
}

/* Every column of a row, by its name. */
static json_t *row_object(sqlite3_stmt *st)
{
	json_t *o = json_object();
	int i, n = sqlite3_column_count(st);

	for (i = 0; o && i < n; i++)
		json_object_set_new(o, sqlite3_column_name(st, i), col(st, i));
	return o;
}

static json_t *query_rows(struct ctl *c, sqlite3_stmt *st)
{
	json_t *arr = json_array();
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, row_object(st));
	if (rc != SQLITE_DONE) {
		ctl_db_fail(&c->db, "query failed");
		json_decref(arr);
		return NULL;
	}
	return arr;
}

/* ---------------------------------------------------------------- nodes */

void ctl_health_nodes_augment(struct ctl *c, json_t *nodes)
{
	sqlite3_stmt *st = NULL;
	json_t *n;
	size_t i;

	if (!json_is_array(nodes) ||
	    ctl_db_prep(&c->db, &st, "SELECT restarts, reconnects, since, (SELECT count(*) FROM alarms a "
			"WHERE a.node = nodes.id AND a.cleared IS NULL), (SELECT "
			"group_concat(kind, ',') FROM alarms a WHERE a.node = nodes.id AND "
			"a.cleared IS NULL) FROM nodes WHERE id = ?", "cannot prepare a query") < 0)
		return;
	json_array_foreach(nodes, i, n) {
		json_t *status = json_object_get(n, "status"), *v;
		const char *id = json_string_value(json_object_get(n, "node"));

		if (!id)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW) {
			json_object_set_new(n, "restarts", col(st, 0));
			json_object_set_new(n, "reconnects", col(st, 1));
			json_object_set_new(n, "since", col(st, 2));
			json_object_set_new(n, "alarms", col(st, 3));
			json_object_set_new(n, "alarm_kinds", sqlite3_column_type(st, 4) ==
					    SQLITE_NULL ? json_string("") : col(st, 4));
		}
		v = json_object_get(json_object_get(status, "clock"), "error_ms");
		json_object_set(n, "clock_error_ms", v ? v : json_null());
		v = json_object_get(json_object_get(status, "link"), "signal");
		json_object_set(n, "signal", v ? v : json_null());
		v = json_object_get(status, "label");
		json_object_set_new(n, "label", json_is_string(v) ? json_incref(v) : json_string(""));
		/* the last horn self-test of this cluster (node/selftest.h), null: never */
		v = json_object_get(status, "selftest");
		json_object_set(n, "selftest", json_is_object(v) && json_object_get(v, "result")
				? v : json_null());
	}
	sqlite3_finalize(st);
}

static void get_node(struct ctl *c, const char *id, struct ctl_health_reply *out)
{
	json_t *all = ctl_db_nodes_json(&c->db), *n, *found = NULL;
	sqlite3_stmt *st = NULL;
	size_t i;

	if (!all) {
		reply_json(out, 500, NULL);
		return;
	}
	json_array_foreach(all, i, n)
		if (!strcmp(json_string_value(json_object_get(n, "node")), id))
			found = n;
	if (!found) {
		json_decref(all);
		reply_error(out, 404, "no node \"%s\" is known to this controller", id);
		return;
	}
	{
		json_t *one = json_array();

		json_array_append(one, found);
		ctl_health_nodes_augment(c, one);
		json_decref(one);
	}
	json_object_set_new(found, "alarm_list", ctl_alarms_json(c, 0, id));
	if (ctl_db_prep(&c->db, &st, "SELECT * FROM (SELECT rowid AS r, id, type, ts, broadcast, occurrence, "
			"content, title, start, error_ms, duration_ms, end_reason AS \"end\", "
			"reason FROM events WHERE node = ? ORDER BY rowid DESC LIMIT 20) "
			"ORDER BY r", "cannot prepare a query") == 0) {
		json_t *ev;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		ev = query_rows(c, st);
		json_object_set_new(found, "recent_events", ev ? ev : json_array());
		sqlite3_finalize(st);
	}
	json_incref(found);
	json_decref(all);
	reply_json(out, 200, found);
}

/* ---------------------------------------------------------------- log */

static int arg_ms(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s)
		return 1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static void get_log(struct ctl *c, const char *(*arg)(void *, const char *), void *ctx,
		    const char *zones, struct ctl_health_reply *out)
{
	const char *node = arg(ctx, "node"), *zone = arg(ctx, "zone"),
		   *content = arg(ctx, "content"), *type = arg(ctx, "type");
	int64_t from = 0, to = INT64_MAX, limit = 10000;
	sqlite3_stmt *st = NULL;
	json_t *rows;

	if (arg_ms(arg(ctx, "from"), &from) < 0 || arg_ms(arg(ctx, "to"), &to) < 0 ||
	    arg_ms(arg(ctx, "limit"), &limit) < 0 || limit < 1 || limit > LOG_LIMIT_MAX) {
		reply_error(out, 400, "from and to must be times in ms since the epoch, limit "
			    "a number from 1 to %d", LOG_LIMIT_MAX);
		return;
	}
	if ((node && !name_valid(node)) || (zone && !name_valid(zone)) ||
	    (type && strlen(type) > 31)) {
		reply_error(out, 400, "node and zone must be names (1-31 of a-z, 0-9, - _)");
		return;
	}
	if (content && !content_id_valid(content)) {
		reply_error(out, 400, "content must be a content id (64 hex digits)");
		return;
	}
	if (ctl_db_prep(&c->db, &st,
			"SELECT * FROM (SELECT e.rowid AS r, e.id, e.node, e.boot, e.type, e.ts, "
			"e.broadcast, e.occurrence, e.content, e.title, e.level, e.plan_seq, "
			"e.scheduled, e.start, e.error_ms, e.duration_ms, e.end_reason AS \"end\", "
			"e.preemptor, e.reason, e.drill, e.received FROM events e "
			"WHERE coalesce(e.start, e.ts) >= ?1 AND coalesce(e.start, e.ts) < ?2 "
			"AND (?3 IS NULL OR e.node = ?3) AND (?4 IS NULL OR e.content = ?4) "
			"AND (?5 IS NULL OR e.type = ?5) AND (?6 IS NULL OR e.node IN "
			"(SELECT node FROM node_zones WHERE zone = ?6)) "
		 /* the operator's scope, before the limit */
			"AND (?8 IS NULL OR e.node IN (SELECT node FROM node_zones WHERE zone IN "
			"(SELECT value FROM json_each(?8)))) "
			"ORDER BY coalesce(e.start, e.ts) DESC, e.rowid DESC LIMIT ?7) "
			"ORDER BY coalesce(start, ts), r", "cannot prepare a query") < 0) {
		reply_json(out, 500, NULL);
		return;
	}
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	if (node)
		sqlite3_bind_text(st, 3, node, -1, SQLITE_TRANSIENT);
	if (content)
		sqlite3_bind_text(st, 4, content, -1, SQLITE_TRANSIENT);
	if (type)
		sqlite3_bind_text(st, 5, type, -1, SQLITE_TRANSIENT);
	if (zone)
		sqlite3_bind_text(st, 6, zone, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, limit);
	if (zones)
		sqlite3_bind_text(st, 8, zones, -1, SQLITE_TRANSIENT);
	rows = query_rows(c, st);
	sqlite3_finalize(st);
	if (rows) {
		size_t i;
		json_t *r;

		json_array_foreach(rows, i, r)
			json_object_del(r, "r");
	}
	reply_json(out, 200, rows ? json_pack("{s:o}", "events", rows) : NULL);
}

/* ---------------------------------------------------------------- report */

static int month_range(const char *month, int64_t *from, int64_t *to)
{
	struct tm a, b;
	int y, m;
	char extra;

	if (!month || sscanf(month, "%4d-%2d%c", &y, &m, &extra) != 2 || strlen(month) != 7 ||
	    y < 1970 || y > 9999 || m < 1 || m > 12)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	a.tm_year = y - 1900;
	a.tm_mon = m - 1;
	a.tm_mday = 1;
	a.tm_isdst = -1;
	b = a;
	b.tm_mon += 1;
	*from = (int64_t)mktime(&a) * 1000;
	*to = (int64_t)mktime(&b) * 1000;
	return 0;
}

/*
 * Per cluster (node) and month, local time. A play is one occurrence (plan
 * item) or broadcast: scheduled = plays with any play event in the month
 * plus broadcast targets of the month that never reported (a play event, or
 * an emergency's: an emergency that reported emergency_started is counted
 * under emergencies, not as a play scheduled and never played); played = those
 * with play_finished; failed = play_failed and never finished; airtime =
 * sum of the durations played; emergencies / drills = emergency plays by
 * their drill flag.
 */
json_t *ctl_health_report(struct ctl *c, const char *month, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t from, to;
	json_t *rows, *r;
	size_t i;

	if (month_range(month, &from, &to) < 0) {
		snprintf(err, errlen, "month must be YYYY-MM (e.g. 2026-11)");
		return NULL;
	}
	if (ctl_db_prep(&c->db, &st,
			"WITH m AS (SELECT node, coalesce(occurrence, broadcast, id) AS k, type, "
			"  duration_ms, level, drill FROM events WHERE (type LIKE 'play\\_%' ESCAPE '\\' "
			"  OR type LIKE 'emergency\\_%' ESCAPE '\\') "
			"  AND coalesce(scheduled, start, ts) >= ?1 AND coalesce(scheduled, start, ts) < ?2) "
			"SELECT n.id AS node, coalesce(json_extract(n.status, '$.label'), '') AS label, "
			" coalesce((SELECT group_concat(zone, ' ') FROM (SELECT zone FROM node_zones z "
			"   WHERE z.node = n.id ORDER BY pos)), '') AS zones, "
			" (SELECT count(DISTINCT k) FROM m WHERE m.node = n.id AND type LIKE 'play\\_%' "
			"   ESCAPE '\\') + (SELECT count(*) FROM targets t JOIN broadcasts b ON "
			"   b.id = t.broadcast WHERE t.node = n.id AND (CASE WHEN b.at > 0 THEN b.at ELSE "
			"   b.created END) >= ?1 AND (CASE WHEN b.at > 0 THEN b.at ELSE b.created END) < ?2 "
			"   AND NOT EXISTS (SELECT 1 FROM events e WHERE e.node = n.id AND "
			"   e.broadcast = t.broadcast AND (e.type LIKE 'play\\_%' ESCAPE '\\' OR "
			"   e.type LIKE 'emergency\\_%' ESCAPE '\\'))) AS scheduled, "
			" (SELECT count(DISTINCT k) FROM m WHERE m.node = n.id AND type = 'play_finished') "
			"   AS played, "
			" (SELECT count(DISTINCT k) FROM m WHERE m.node = n.id AND type = 'play_failed' "
			"   AND k NOT IN (SELECT k FROM m m2 WHERE m2.node = n.id AND "
			"   m2.type = 'play_finished')) AS failed, "
			" (SELECT coalesce(sum(duration_ms), 0) FROM m WHERE m.node = n.id AND type IN "
			"   ('play_finished', 'play_failed', 'play_preempted')) AS airtime_ms, "
			" (SELECT count(DISTINCT k) FROM m WHERE m.node = n.id AND drill = 0 AND "
			"   (level = 'emergency' OR type LIKE 'emergency\\_%' ESCAPE '\\')) AS emergencies, "
			" (SELECT count(DISTINCT k) FROM m WHERE m.node = n.id AND drill = 1) AS drills "
			"FROM nodes n ORDER BY n.id", "cannot prepare a query") < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		return NULL;
	}
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	rows = query_rows(c, st);
	sqlite3_finalize(st);
	if (!rows) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		return NULL;
	}
	json_array_foreach(rows, i, r) {
		json_int_t s = json_integer_value(json_object_get(r, "scheduled"));
		json_int_t p = json_integer_value(json_object_get(r, "played"));

		json_object_set_new(r, "success_ratio", s ? json_real((double)p / (double)s)
							  : json_null());
	}
	return json_pack("{s:s, s:I, s:I, s:o}", "month", month, "from", (json_int_t)from,
			 "to", (json_int_t)to, "clusters", rows);
}

static void csv_field(FILE *f, const char *s, int last)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

char *ctl_health_report_csv(json_t *report)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *r;
	size_t i;

	if (!f)
		return NULL;
	/* a UTF-8 byte order mark: spreadsheets then read Vietnamese right */
	fputs("\xef\xbb\xbf", f);
	fputs("month,node,label,zones,scheduled,played,failed,success_ratio,airtime_s,"
	      "emergencies,drills\r\n", f);
	json_array_foreach(json_object_get(report, "clusters"), i, r) {
		json_t *ratio = json_object_get(r, "success_ratio");

		csv_field(f, json_string_value(json_object_get(report, "month")), 0);
		csv_field(f, json_string_value(json_object_get(r, "node")), 0);
		csv_field(f, json_string_value(json_object_get(r, "label")), 0);
		csv_field(f, json_string_value(json_object_get(r, "zones")), 0);
		fprintf(f, "%" JSON_INTEGER_FORMAT ",%" JSON_INTEGER_FORMAT ",%"
			JSON_INTEGER_FORMAT ",",
			json_integer_value(json_object_get(r, "scheduled")),
			json_integer_value(json_object_get(r, "played")),
			json_integer_value(json_object_get(r, "failed")));
		if (json_is_number(ratio))
			fprintf(f, "%.4f,", json_number_value(ratio));
		else
			fputs(",", f);
		fprintf(f, "%.1f,%" JSON_INTEGER_FORMAT ",%" JSON_INTEGER_FORMAT "\r\n",
			(double)json_integer_value(json_object_get(r, "airtime_ms")) / 1000.0,
			json_integer_value(json_object_get(r, "emergencies")),
			json_integer_value(json_object_get(r, "drills")));
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void get_report(struct ctl *c, const char *(*arg)(void *, const char *), void *ctx,
		       struct ctl_health_reply *out)
{
	const char *format = arg(ctx, "format");
	char err[200];
	json_t *rep = ctl_health_report(c, arg(ctx, "month"), err, sizeof(err));

	if (!rep) {
		reply_error(out, strstr(err, "YYYY") ? 400 : 500, "%s", err);
		return;
	}
	if (format && strcmp(format, "csv") == 0) {
		out->text = ctl_health_report_csv(rep);
		out->ctype = "text/csv; charset=utf-8";
		out->status = out->text ? 200 : 500;
		json_decref(rep);
		if (!out->text)
			reply_error(out, 500, "out of memory");
		return;
	}
	reply_json(out, 200, rep);
}

/* ---------------------------------------------------------------- metrics */

struct metric_buf {
	FILE *f;
	const char *open;  /* metric whose HELP/TYPE was written last */
};

static void metric_head(struct metric_buf *m, const char *name, const char *type,
			const char *help)
{
	if (m->open && strcmp(m->open, name) == 0)
		return;
	fprintf(m->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	m->open = name;
}

static void node_metric(struct metric_buf *m, const char *name, const char *type,
			const char *help, json_t *nodes, const char *a, const char *b)
{
	json_t *n;
	size_t i;

	json_array_foreach(nodes, i, n) {
		json_t *v = json_object_get(json_object_get(n, "status"), a);

		if (b)
			v = json_object_get(v, b);
		if (!json_is_number(v) || !json_is_true(json_object_get(n, "online")))
			continue;
		metric_head(m, name, type, help);
		fprintf(m->f, "%s{node=\"%s\"} %.17g\n", name,
			json_string_value(json_object_get(n, "node")), json_number_value(v));
	}
}

static void get_metrics(struct ctl *c, struct ctl_health_reply *out)
{
	struct metric_buf m = { 0 };
	char *buf = NULL;
	size_t len = 0, i;
	json_t *nodes = ctl_db_nodes_json(&c->db), *n;
	sqlite3_stmt *st = NULL;

	if (!nodes) {
		reply_json(out, 500, NULL);
		return;
	}
	ctl_health_nodes_augment(c, nodes);
	m.f = open_memstream(&buf, &len);
	if (!m.f) {
		json_decref(nodes);
		reply_error(out, 500, "out of memory");
		return;
	}
	json_array_foreach(nodes, i, n) {
		const char *id = json_string_value(json_object_get(n, "node"));
		json_t *ls = json_object_get(n, "last_seen");

		metric_head(&m, "loaxa_node_up", "gauge", "1 when the node is online.");
		fprintf(m.f, "loaxa_node_up{node=\"%s\"} %d\n", id,
			json_is_true(json_object_get(n, "online")));
		(void)ls;
	}
	json_array_foreach(nodes, i, n) {
		metric_head(&m, "loaxa_node_last_seen_seconds", "gauge",
			    "When the node last sent its status (Unix time).");
		fprintf(m.f, "loaxa_node_last_seen_seconds{node=\"%s\"} %.3f\n",
			json_string_value(json_object_get(n, "node")),
			(double)json_integer_value(json_object_get(n, "last_seen")) / 1000.0);
	}
	json_array_foreach(nodes, i, n) {
		metric_head(&m, "loaxa_node_boot", "gauge", "The node's boot counter.");
		fprintf(m.f, "loaxa_node_boot{node=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			json_string_value(json_object_get(n, "node")),
			json_integer_value(json_object_get(n, "boot")));
	}
	json_array_foreach(nodes, i, n) {
		metric_head(&m, "loaxa_node_restarts_total", "counter",
			    "Times the node came back with a higher boot counter.");
		fprintf(m.f, "loaxa_node_restarts_total{node=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			json_string_value(json_object_get(n, "node")),
			json_integer_value(json_object_get(n, "restarts")));
	}
	json_array_foreach(nodes, i, n) {
		metric_head(&m, "loaxa_node_reconnects_total", "counter",
			    "Times the node came back with the same boot counter.");
		fprintf(m.f, "loaxa_node_reconnects_total{node=\"%s\"} %" JSON_INTEGER_FORMAT
			"\n", json_string_value(json_object_get(n, "node")),
			json_integer_value(json_object_get(n, "reconnects")));
	}
	json_array_foreach(nodes, i, n) {
		metric_head(&m, "loaxa_node_alarms", "gauge", "Active alarms of the node.");
		fprintf(m.f, "loaxa_node_alarms{node=\"%s\"} %" JSON_INTEGER_FORMAT "\n",
			json_string_value(json_object_get(n, "node")),
			json_integer_value(json_object_get(n, "alarms")));
	}
	node_metric(&m, "loaxa_node_uptime_seconds", "gauge", "Seconds since the node daemon "
		    "started.", nodes, "uptime_s", NULL);
	node_metric(&m, "loaxa_node_volume", "gauge", "Master volume 0-100.", nodes, "volume",
		    NULL);
	node_metric(&m, "loaxa_node_clock_error_ms", "gauge", "Clock error bound, ms.", nodes,
		    "clock", "error_ms");
	node_metric(&m, "loaxa_node_clock_offset_ms", "gauge", "Clock offset to the "
		    "controller, ms.", nodes, "clock", "offset_ms");
	/* a crystal whose drift changes (heat, ageing) is a board to look at */
	node_metric(&m, "loaxa_node_clock_drift_ppm", "gauge", "Drift of the clock offset, "
		    "ppm (controller minus node).", nodes, "clock", "drift_ppm");
	node_metric(&m, "loaxa_node_disk_free_bytes", "gauge", "Free bytes on the node's state "
		    "file system.", nodes, "disk", "free_bytes");
	node_metric(&m, "loaxa_node_cache_bytes", "gauge", "Bytes of cached content.", nodes,
		    "cache", "bytes");
	node_metric(&m, "loaxa_node_temperature_celsius", "gauge", "CPU temperature.", nodes,
		    "temperature_c", NULL);
	node_metric(&m, "loaxa_node_alsa_xruns_total", "counter", "ALSA underruns since the "
		    "node started.", nodes, "alsa", "xruns");
	node_metric(&m, "loaxa_node_alsa_errors_total", "counter", "ALSA errors since the node "
		    "started.", nodes, "alsa", "errors");
	node_metric(&m, "loaxa_node_journal_pending", "gauge", "Events waiting in the node's "
		    "journal for acknowledgement.", nodes, "journal", "pending");
	node_metric(&m, "loaxa_node_journal_dropped_total", "counter", "Events the node dropped "
		    "because its journal was full, since it started.", nodes, "journal",
		    "dropped");
	node_metric(&m, "loaxa_node_link_signal", "gauge", "Link quality as the node's "
		    "health.signal source reports it.", nodes, "link", "value");
	json_decref(nodes);

	metric_head(&m, "loaxa_alarms_active", "gauge", "Active alarms by kind.");
	if (ctl_db_prep(&c->db, &st, "SELECT k.kind, (SELECT count(*) FROM alarms a WHERE a.kind = k.kind "
			"AND a.cleared IS NULL) FROM (SELECT 'offline' AS kind UNION ALL SELECT "
			"'clock' UNION ALL SELECT 'disk' UNION ALL SELECT 'alsa' UNION ALL "
			"SELECT 'plan' UNION ALL SELECT 'miss' UNION ALL SELECT 'misaddressed') "
			"k", "cannot prepare a query") == 0) {
		while (sqlite3_step(st) == SQLITE_ROW)
			fprintf(m.f, "loaxa_alarms_active{kind=\"%s\"} %d\n",
				sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
		sqlite3_finalize(st);
	}
	metric_head(&m, "loaxa_events_total", "counter", "Node events stored, by type.");
	if (ctl_db_prep(&c->db, &st, "SELECT type, count(*) FROM events GROUP BY type ORDER BY type", "cannot prepare a query") == 0) {
		while (sqlite3_step(st) == SQLITE_ROW)
			fprintf(m.f, "loaxa_events_total{type=\"%s\"} %lld\n",
				sqlite3_column_text(st, 0),
				(long long)sqlite3_column_int64(st, 1));
		sqlite3_finalize(st);
	}
	metric_head(&m, "loaxa_journal_acks_total", "counter",
		    "Acknowledgement commands sent to nodes.");
	fprintf(m.f, "loaxa_journal_acks_total %llu\n", c->journal.acks_sent);
	metric_head(&m, "loaxa_journal_acked_events_total", "counter",
		    "Event ids acknowledged to nodes.");
	fprintf(m.f, "loaxa_journal_acked_events_total %llu\n", c->journal.ids_acked);
	metric_head(&m, "loaxa_alarm_hook_failures_total", "counter",
		    "Alarm hooks that failed, timed out or could not start.");
	fprintf(m.f, "loaxa_alarm_hook_failures_total %llu\n", c->alarms.hook_failures);
	metric_head(&m, "loaxa_mqtt_connected", "gauge",
		    "1 when the controller's control connection to the broker is up.");
	fprintf(m.f, "loaxa_mqtt_connected %d\n", ctl_mqtt_connected(c, CTL_CONN_CTL) ? 1 : 0);
	if (fclose(m.f) != 0) {
		free(buf);
		reply_error(out, 500, "out of memory");
		return;
	}
	out->status = 200;
	out->text = buf;
	out->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---------------------------------------------------------------- dispatch */

void ctl_health_api(struct ctl *c, const char *method, const char *url,
		    const char *(*arg)(void *ctx, const char *key), void *ctx,
		    const char *body, size_t body_len, const char *zones,
		    struct ctl_health_reply *out)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	char node[CTL_NAME_MAX], action[32], err[512];

	memset(out, 0, sizeof(*out));
	if (strcmp(url, "/metrics") == 0 && get) {
		get_metrics(c, out);
	} else if (strcmp(url, "/v1/alarms") == 0 && get) {
		const char *all = arg(ctx, "all"), *n = arg(ctx, "node");
		json_t *list;

		if (n && !name_valid(n)) {
			reply_error(out, 400, "node must be a node name");
			return;
		}
		list = ctl_alarms_json(c, all && strcmp(all, "0") != 0, n);
		reply_json(out, 200, list ? json_pack("{s:o}", "alarms", list) : NULL);
	} else if (strcmp(url, "/v1/log") == 0 && get) {
		get_log(c, arg, ctx, zones, out);
	} else if (strcmp(url, "/v1/report") == 0 && get) {
		get_report(c, arg, ctx, out);
	} else if (strncmp(url, "/v1/commands/", 13) == 0 && get) {
		json_t *cmd = strlen(url + 13) < CTL_ID_MAX ? ctl_maint_get(c, url + 13) : NULL;

		if (cmd)
			reply_json(out, 200, cmd);
		else
			reply_error(out, 404, "no command %.64s", url + 13);
	} else if (strncmp(url, "/v1/nodes/", 10) == 0) {
		const char *rest = url + 10, *slash = strchr(rest, '/');
		size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);

		if (nl == 0 || nl >= sizeof(node)) {
			reply_error(out, 404, "no such node");
			return;
		}
		memcpy(node, rest, nl);
		node[nl] = '\0';
		if (!name_valid(node)) {
			reply_error(out, 404, "no such node");
			return;
		}
		if (!slash && get) {
			get_node(c, node, out);
		} else if (slash && post && strlen(slash + 1) < sizeof(action)) {
			json_t *args = NULL, *reply = NULL;
			int rc;

			snprintf(action, sizeof(action), "%s", slash + 1);
			if (body && body_len) {
				args = ctl_json_object(body, body_len, err, sizeof(err));
				if (!args) {
					reply_error(out, 400, "%s", err);
					return;
				}
			}
			rc = ctl_maint_command(c, node, action, args, &reply, err, sizeof(err));
			json_decref(args);
			if (rc == 0)
				reply_json(out, 202, reply);
			else
				reply_error(out, rc == -EINVAL ? 400 : rc == -ENOENT ? 404 : 500,
					    "%s", err);
		} else {
			reply_error(out, 405, "%s is not allowed on %s (GET /v1/nodes/<node>, POST "
				    "/v1/nodes/<node>/volume|stop|restart|test-tone)", method, url);
		}
	} else {
		reply_error(out, 405, "%s is not allowed on %s (use GET)", method, url);
	}
}
