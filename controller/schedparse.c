/*
 * schedparse.c - see schedparse.h.
 */
#include "schedparse.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "config.h"
#include "ctlutil.h"
#include "log.h"
#include "schedfile.h"
#include "util.h"

#define SCHED_TEXT_MAX 4000

/* ------------------------------------------------------------ levels */

const char *sched_level_name(int level)
{
	switch (level) {
	case SCHED_RELAY:
		return "relay";
	case SCHED_NORMAL:
		return "normal";
	case SCHED_PRIORITY:
		return "priority";
	case 3:
		return "live";
	case SCHED_EMERGENCY:
		return "emergency";
	}
	return "?";
}

int sched_level_parse(const char *s)
{
	if (strcmp(s, "relay") == 0)
		return SCHED_RELAY;
	if (strcmp(s, "normal") == 0)
		return SCHED_NORMAL;
	if (strcmp(s, "priority") == 0)
		return SCHED_PRIORITY;
	if (strcmp(s, "emergency") == 0)
		return SCHED_EMERGENCY;
	return -1;
}

/* ------------------------------------------------------------ messages */

int sched_msgs_init(struct sched_msgs *m)
{
	m->errors = json_array();
	m->warnings = json_array();
	m->nhours = 0;
	if (!m->errors || !m->warnings) {
		sched_msgs_free(m);
		return -ENOMEM;
	}
	return 0;
}

void sched_msgs_free(struct sched_msgs *m)
{
	json_decref(m->errors);
	json_decref(m->warnings);
	m->errors = m->warnings = NULL;
}

static void msg_add(json_t *arr, const char *fmt, va_list ap)
{
	char buf[1024];

	json_t *str;
	size_t i;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (!arr)
		return;
	/* A file's bytes quoted in the message (or the cut at 1024) may not be
	 * UTF-8, which jansson refuses: keep the message, not those bytes
	 * (found by tests/fuzz/fuzz_schedule.c: the error was lost). */
	str = json_string(buf);
	if (!str) {
		for (i = 0; buf[i]; i++)
			if ((unsigned char)buf[i] >= 0x80)
				buf[i] = '?';
		str = json_string(buf);
	}
	json_array_append_new(arr, str);
}

void sched_error(struct sched_msgs *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_add(m->errors, fmt, ap);
	va_end(ap);
}

void sched_warning(struct sched_msgs *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	msg_add(m->warnings, fmt, ap);
	va_end(ap);
}

size_t sched_nerrors(const struct sched_msgs *m)
{
	return json_array_size(m->errors);
}

/* ------------------------------------------------------------ items */

void sched_item_init(struct sched_item *it)
{
	memset(it, 0, sizeof(*it));
	it->days = 0x7f;
	it->repeat = 1;
	it->gap_s = 30;
	it->level = SCHED_NORMAL;
	it->volume = 100;
	it->expires_s = 600;
}

void sched_item_free(struct sched_item *it)
{
	free(it->text);
	it->text = NULL;
}

void sched_set_free(struct sched_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		sched_item_free(&s->items[i]);
	free(s->items);
	memset(s, 0, sizeof(*s));
}

int sched_set_add(struct sched_set *s, const struct sched_item *it)
{
	struct sched_item *slot;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct sched_item *n = realloc(s->items, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->items = n;
		s->cap = cap;
	}
	slot = &s->items[s->n];
	*slot = *it;
	slot->text = NULL;
	if (it->text && !(slot->text = strdup(it->text)))
		return -ENOMEM;
	s->n++;
	return 0;
}

/* ------------------------------------------------------------ dates, times */

int sched_parse_tod(const char *s)
{
	int h, m, sec = 0, n = 0;

	if (strlen(s) == 5) {
		if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5)
			return -1;
	} else if (strlen(s) == 8) {
		if (sscanf(s, "%2d:%2d:%2d%n", &h, &m, &sec, &n) != 3 || n != 8)
			return -1;
	} else {
		return -1;
	}
	if (s[0] < '0' || s[0] > '9' || s[3] < '0' || s[3] > '9')
		return -1;
	if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59)
		return -1;
	return h * 3600 + m * 60 + sec;
}

static int month_days(int y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : md[m - 1];
}

int sched_parse_date(const char *s, struct sched_date *d)
{
	int n = 0;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (sscanf(s, "%4d-%2d-%2d%n", &d->y, &d->m, &d->d, &n) != 3 || n != 10)
		return -1;
	if (d->y < 2000 || d->y > 2199 || d->m < 1 || d->m > 12 || d->d < 1 ||
	    d->d > month_days(d->y, d->m))
		return -1;
	return 0;
}

int sched_parse_local(const char *s, int64_t *ms)
{
	char date[11];
	struct sched_date d;
	int tod;

	if (strlen(s) < 16 || s[10] != ' ')
		return -1;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (sched_parse_date(date, &d) < 0)
		return -1;
	tod = sched_parse_tod(s + 11);
	if (tod < 0)
		return -1;
	*ms = sched_local_ms(d, tod);
	return 0;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t sched_days_from_date(struct sched_date d)
{
	int64_t y = d.y - (d.m <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (d.m + (d.m > 2 ? -3 : 9)) + 2) / 5 + d.d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

struct sched_date sched_date_from_days(int64_t z)
{
	struct sched_date d;
	int64_t era, doe, yoe, y, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d.d = (int)(doy - (153 * mp + 2) / 5 + 1);
	d.m = (int)(mp < 10 ? mp + 3 : mp - 9);
	d.y = (int)(y + (d.m <= 2));
	return d;
}

struct sched_date sched_local_date(int64_t ms)
{
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct sched_date d = { 0, 0, 0 };
	struct tm tm;

	if (localtime_r(&s, &tm)) {
		d.y = tm.tm_year + 1900;
		d.m = tm.tm_mon + 1;
		d.d = tm.tm_mday;
	}
	return d;
}

int64_t sched_local_ms(struct sched_date d, int tod_s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d.y - 1900;
	tm.tm_mon = d.m - 1;
	tm.tm_mday = d.d;
	tm.tm_hour = tod_s / 3600;
	tm.tm_min = tod_s / 60 % 60;
	tm.tm_sec = tod_s % 60;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm) * 1000;
}

void sched_fmt_local(char *buf, size_t len, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&s, &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* "Tue 2026-12-01 17:00" (seconds only when not zero) */
static void fmt_when(char *buf, size_t len, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&s, &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	strftime(buf, len, tm.tm_sec ? "%a %Y-%m-%d %H:%M:%S" : "%a %Y-%m-%d %H:%M", &tm);
}

static void fmt_tod(char *buf, size_t len, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&s, &tm)) {
		snprintf(buf, len, "?");
		return;
	}
	strftime(buf, len, tm.tm_sec ? "%H:%M:%S" : "%H:%M", &tm);
}

static void fmt_hm(char *buf, size_t len, int secs)
{
	if (secs % 60)
		snprintf(buf, len, "%02d:%02d:%02d", secs / 3600, secs / 60 % 60, secs % 60);
	else
		snprintf(buf, len, "%02d:%02d", secs / 3600, secs / 60 % 60);
}

static void fmt_span(char *buf, size_t len, int64_t ms)
{
	int64_t s = (ms + 999) / 1000;

	if (s >= 3600)
		snprintf(buf, len, "%d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60),
			 (int)(s % 60));
	else
		snprintf(buf, len, "%d:%02d", (int)(s / 60), (int)(s % 60));
}

/* ------------------------------------------------------------ parser */

struct pctx {
	const char *path;      /* the file's name (a label from the operator) */
	json_t *audio;         /* the audio map sent with it (schedfile.h) */
	struct sched_msgs *msgs;
	int bad;
};

static int line_of(config_setting_t *s)
{
	return s ? config_setting_source_line(s) : 0;
}

static void perr(struct pctx *p, int line, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void perr(struct pctx *p, int line, const char *field, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (field)
		sched_error(p->msgs, "%s:%d: field \"%s\": %s", p->path, line, field, msg);
	else
		sched_error(p->msgs, "%s:%d: %s", p->path, line, msg);
	p->bad = 1;
}

static int item_id_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 1 || n >= SCHED_ID_MAX)
		return 0;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/* A string field; 1 when absent, -1 when wrong (error given). */
static int get_str(struct pctx *p, config_setting_t *g, const char *field,
		   const char **out, config_setting_t **where)
{
	config_setting_t *s = config_setting_get_member(g, field);

	*where = s;
	if (!s)
		return 1;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		perr(p, line_of(s), field, "must be text in double quotes");
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

static int get_int(struct pctx *p, config_setting_t *g, const char *field, int min,
		   int max, int *out, const char *unit)
{
	config_setting_t *s = config_setting_get_member(g, field);
	long long v;

	if (!s)
		return 1;
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		perr(p, line_of(s), field, "must be a whole number%s%s", unit ? " of " : "",
		     unit ? unit : "");
		return -1;
	}
	if (v < min || v > max) {
		perr(p, line_of(s), field, "must be from %d to %d%s%s (got %lld)", min, max,
		     unit ? " " : "", unit ? unit : "", v);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/*
 * A field that holds one string or a list of strings: calls fn for each.
 * Returns the count, or -1 after an error.
 */
static int get_strings(struct pctx *p, config_setting_t *g, const char *field,
		       config_setting_t **where,
		       int (*fn)(struct pctx *p, struct sched_item *it, const char *v,
				 int line, int index),
		       struct sched_item *it)
{
	config_setting_t *s = config_setting_get_member(g, field);
	int i, n, bad = 0;

	*where = s;
	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return fn(p, it, config_setting_get_string(s), line_of(s), 0) < 0 ? -1 : 1;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) {
		perr(p, line_of(s), field, "must be text or a list of texts, e.g. "
		     "[\"a\", \"b\"]");
		return -1;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (!e || config_setting_type(e) != CONFIG_TYPE_STRING) {
			perr(p, line_of(s), field, "entry %d must be text in double quotes",
			     i + 1);
			bad = 1;
			continue;
		}
		if (fn(p, it, config_setting_get_string(e), line_of(e) ? line_of(e)
				: line_of(s), i) < 0)
			bad = 1;
	}
	return bad ? -1 : n;
}

static int add_zone(struct pctx *p, struct sched_item *it, const char *v, int line,
		    int index)
{
	size_t i;

	(void)index;
	if (strcmp(v, "all") == 0) {
		it->all = 1;
		return 0;
	}
	if (!name_valid(v)) {
		perr(p, line, "zones", "\"%s\" is not a zone name (1 to 31 of a-z, 0-9, "
		     "'-' and '_')", v);
		return -1;
	}
	for (i = 0; i < it->nzones; i++)
		if (strcmp(it->zones[i], v) == 0) {
			perr(p, line, "zones", "zone \"%s\" is named twice", v);
			return -1;
		}
	if (it->nzones >= SCHED_MAX_TARGETS) {
		perr(p, line, "zones", "at most %d zones per item", SCHED_MAX_TARGETS);
		return -1;
	}
	snprintf(it->zones[it->nzones++], SCHED_NAME_MAX, "%s", v);
	return 0;
}

static int add_node(struct pctx *p, struct sched_item *it, const char *v, int line,
		    int index)
{
	size_t i;

	(void)index;
	if (!name_valid(v)) {
		perr(p, line, "nodes", "\"%s\" is not a node id (1 to 31 of a-z, 0-9, "
		     "'-' and '_')", v);
		return -1;
	}
	for (i = 0; i < it->nnodes; i++)
		if (strcmp(it->nodes[i], v) == 0) {
			perr(p, line, "nodes", "node \"%s\" is named twice", v);
			return -1;
		}
	if (it->nnodes >= SCHED_MAX_TARGETS) {
		perr(p, line, "nodes", "at most %d nodes per item", SCHED_MAX_TARGETS);
		return -1;
	}
	snprintf(it->nodes[it->nnodes++], SCHED_NAME_MAX, "%s", v);
	return 0;
}

static int add_time(struct pctx *p, struct sched_item *it, const char *v, int line,
		    int index)
{
	int t = sched_parse_tod(v);
	size_t i;

	(void)index;
	if (t < 0) {
		perr(p, line, "times", "\"%s\" is not a time of day (use HH:MM or HH:MM:SS, "
		     "00:00 to 23:59)", v);
		return -1;
	}
	for (i = 0; i < it->ntimes; i++)
		if (it->times[i] == t) {
			perr(p, line, "times", "%s is listed twice", v);
			return -1;
		}
	if (it->ntimes >= SCHED_MAX_TIMES) {
		perr(p, line, "times", "at most %d times per item", SCHED_MAX_TIMES);
		return -1;
	}
	it->times[it->ntimes++] = t;
	return 0;
}

static int add_days(struct pctx *p, struct sched_item *it, const char *v, int line,
		    int index)
{
	static const struct {
		const char *name;
		unsigned mask;
	} words[] = {
		{ "daily", 0x7f },    { "weekdays", 0x3e }, { "weekends", 0x41 },
		{ "sun", 0x01 },      { "mon", 0x02 },      { "tue", 0x04 },
		{ "wed", 0x08 },      { "thu", 0x10 },      { "fri", 0x20 },
		{ "sat", 0x40 },      { "sunday", 0x01 },   { "monday", 0x02 },
		{ "tuesday", 0x04 },  { "wednesday", 0x08 }, { "thursday", 0x10 },
		{ "friday", 0x20 },   { "saturday", 0x40 },
	};
	size_t i;

	if (index == 0)
		it->days = 0;
	for (i = 0; i < ARRAY_SIZE(words); i++)
		if (strcmp(v, words[i].name) == 0) {
			it->days |= words[i].mask;
			return 0;
		}
	perr(p, line, "days", "\"%s\" is not a day rule: use daily, weekdays, weekends or "
	     "days mon, tue, wed, thu, fri, sat, sun (e.g. [\"mon\", \"thu\"])", v);
	return -1;
}

/*
 * An audio file named in a schedule. The controller never opens it: the
 * client read it and sent its SHA-256 in the file's audio map under the
 * string as written (or why it could not: schedfile.h). out gets the hash.
 */
static int resolve_audio(struct pctx *p, const char *v, int line, const char *field,
			 char *out, size_t outlen)
{
	json_t *e;
	const char *err, *hash, *detail;

	if (!v[0]) {
		perr(p, line, field, "must not be empty");
		return -1;
	}
	e = json_object_get(p->audio, v);
	if (!e) {
		perr(p, line, field, "the file \"%s\" was not sent with the schedule: the "
		     "controller reads no files itself (loaxa schedule check and apply send "
		     "every audio file a schedule names)", v);
		return -1;
	}
	hash = json_string_value(json_object_get(e, "sha256"));
	err = json_string_value(json_object_get(e, "error"));
	detail = json_string_value(json_object_get(e, err && strcmp(err, "missing") == 0
						   ? "looked_for" : "detail"));
	if (detail && (strlen(detail) >= PATH_MAX || !ctl_text_valid(detail, strlen(detail))))
		detail = NULL;
	if (hash && content_id_valid(hash) && (size_t)snprintf(out, outlen, "%s", hash) < outlen)
		return 0;
	if (err && strcmp(err, "missing") == 0)
		perr(p, line, field, "the file \"%s\" does not exist (looked for %s)", v,
		     detail ? detail : v);
	else if (err && strcmp(err, "not_a_file") == 0)
		perr(p, line, field, "\"%s\" is not a file", v);
	else if (err && strcmp(err, "unreadable") == 0)
		perr(p, line, field, "the file \"%s\" cannot be read: %s", v,
		     detail ? detail : "unknown error");
	else
		perr(p, line, field, "the description sent for the file \"%s\" is not valid "
		     "(give {\"sha256\": \"<64 hex digits>\"})", v);
	return -1;
}

static const char *const item_fields[] = {
	"id", "title", "content", "text", "music", "zones", "nodes", "times", "days",
	"from", "until", "repeat", "gap_s", "level", "volume", "chime", "warmup_s",
	"expires_min", "source", "length_min", NULL,
};

static void parse_item(struct pctx *p, config_setting_t *g, int index,
		       struct sched_item *it)
{
	config_setting_t *s, *w, *wc, *wt;
	const char *v = NULL, *text = NULL;
	int i, n, rc, rcc, rct, line = line_of(g), expires_min = 10;
	char field[32];

	sched_item_init(it);
	snprintf(it->file, sizeof(it->file), "%s", p->path);
	it->line = line;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const char *name;
		size_t k;

		s = config_setting_get_elem(g, (unsigned)i);
		name = s ? config_setting_name(s) : NULL;
		if (!name)
			continue;
		for (k = 0; item_fields[k]; k++)
			if (strcmp(name, item_fields[k]) == 0)
				break;
		if (!item_fields[k])
			perr(p, line_of(s), name, "unknown field (a typo?); an item has id, "
			     "title, content or text, zones/nodes, times, days, from, until, "
			     "repeat, gap_s, level, volume, chime, warmup_s, expires_min, music");
	}

	rc = get_str(p, g, "id", &v, &w);
	if (rc == 1)
		perr(p, line, "id", "item %d has no id (e.g. id = \"morning\";)", index + 1);
	else if (rc == 0 && !item_id_valid(v))
		perr(p, line_of(w), "id", "\"%s\" is not an item id: use 1 to %d of a-z, 0-9, "
		     "'-' and '_', starting with a letter or digit", v, SCHED_ID_MAX - 1);
	else if (rc == 0)
		snprintf(it->id, sizeof(it->id), "%s", v);

	rc = get_str(p, g, "title", &v, &w);
	if (rc == 0) {
		if (!v[0] || strlen(v) >= SCHED_TITLE_MAX || !ctl_text_valid(v, strlen(v)))
			perr(p, line_of(w), "title", "must be 1 to %d bytes of text without "
			     "control characters", SCHED_TITLE_MAX - 1);
		else
			snprintf(it->title, sizeof(it->title), "%s", v);
	} else if (rc == 1) {
		snprintf(it->title, sizeof(it->title), "%s", it->id);
	}

	rcc = get_str(p, g, "content", &v, &wc);
	rct = get_str(p, g, "text", &text, &wt);
	if (get_str(p, g, "source", &text, &w) == 0) {
		int minutes = 0;

		/* a relay (live line-in or stream): passed to the node as is */
		it->content_line = line_of(w);
		if (rcc == 0 || rct == 0)
			perr(p, it->content_line, "source", "give content, text or source, only "
			     "one of them");
		else if ((strncmp(text, "alsa:", 5) != 0 && strncmp(text, "url:", 4) != 0) ||
			 strlen(text) < 6 || strlen(text) > 200 ||
			 !ctl_text_valid(text, strlen(text)))
			perr(p, it->content_line, "source", "\"%s\" is not a relay source: use "
			     "\"alsa:DEVICE\" (a line-in) or \"url:http://...\" (a stream)", text);
		else
			snprintf(it->source, sizeof(it->source), "%s", text);
		it->src = SCHED_SRC_RELAY;
		if (get_int(p, g, "length_min", 1, 1440, &minutes, "minutes") == 1)
			perr(p, it->content_line, "length_min", "a relay needs its length: "
			     "length_min = 60;");
		it->duration_ms = (int64_t)minutes * 60000;
		text = NULL;
		rcc = rct = 2;
	} else if (config_setting_get_member(g, "length_min")) {
		perr(p, line_of(config_setting_get_member(g, "length_min")), "length_min",
		     "only a relay (source = ...) has a length; audio has its own");
	}
	if (rcc == 2) {
		/* a relay: done above */
	} else if (rcc == 0 && rct == 0) {
		perr(p, line_of(wt), "text", "give either content (a file or a content id) or "
		     "text, not both");
	} else if (rcc == 1 && rct == 1) {
		perr(p, line, "content", "the item has nothing to play: give content = "
		     "\"file.mp3\" (or a content id) or text = \"...\"");
	} else if (rcc == 0) {
		it->content_line = line_of(wc);
		if (content_id_valid(v)) {
			it->src = SCHED_SRC_CONTENT;
			snprintf(it->source, sizeof(it->source), "%s", v);
		} else if (resolve_audio(p, v, it->content_line, "content", it->source,
					 sizeof(it->source)) == 0) {
			it->src = SCHED_SRC_FILE;
		}
	} else if (rct == 0) {
		it->content_line = line_of(wt);
		it->src = SCHED_SRC_TEXT;
		if (!text[0] || strlen(text) > SCHED_TEXT_MAX ||
		    !ctl_text_valid(text, strlen(text)))
			perr(p, it->content_line, "text", "must be 1 to %d bytes of text without "
			     "control characters", SCHED_TEXT_MAX);
		else if (!(it->text = strdup(text)))
			perr(p, it->content_line, "text", "out of memory");
	}

	s = config_setting_get_member(g, "music");
	if (s) {
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			perr(p, line_of(s), "music", "must be true or false");
		else
			it->music = config_setting_get_bool(s);
	}

	get_strings(p, g, "zones", &w, add_zone, it);
	it->zones_line = w ? line_of(w) : line;
	wt = w;
	get_strings(p, g, "nodes", &w, add_node, it);
	it->nodes_line = w ? line_of(w) : line;
	/* (a zones/nodes field with a bad entry has had its error already) */
	if (!it->all && !it->nzones && !it->nnodes && !wt && !w)
		perr(p, line, "zones", "the item plays nowhere: give zones = [\"thon-1\"], "
		     "nodes = [\"n1\"] or zones = [\"all\"]");
	if (it->all && (it->nzones || it->nnodes))
		sched_warning(p->msgs, "%s:%d: field \"zones\": \"all\" already names every "
			      "node; the other targets add nothing", p->path, it->zones_line);

	n = get_strings(p, g, "times", &w, add_time, it);
	it->times_line = w ? line_of(w) : line;
	if (n == 0 && !w)
		perr(p, line, "times", "the item has no time: give times = [\"05:30\"] (local "
		     "time, HH:MM)");
	else if (n == 0)
		perr(p, line_of(w), "times", "the list is empty: give at least one time");
	/* sorted, so that a day's plays come out in order */
	for (i = 1; i < (int)it->ntimes; i++) {
		int t = it->times[i], j = i - 1;

		while (j >= 0 && it->times[j] > t) {
			it->times[j + 1] = it->times[j];
			j--;
		}
		it->times[j + 1] = t;
	}

	n = get_strings(p, g, "days", &w, add_days, it);
	if (w && n == 0 && config_setting_type(w) != CONFIG_TYPE_STRING)
		perr(p, line_of(w), "days", "the list is empty (leave the field out for daily)");

	rc = get_str(p, g, "from", &v, &w);
	if (rc == 0 && sched_parse_date(v, &it->from) < 0)
		perr(p, line_of(w), "from", "\"%s\" is not a date (use YYYY-MM-DD, e.g. "
		     "\"2026-12-01\")", v);
	rc = get_str(p, g, "until", &v, &w);
	if (rc == 0 && sched_parse_date(v, &it->until) < 0)
		perr(p, line_of(w), "until", "\"%s\" is not a date (use YYYY-MM-DD, e.g. "
		     "\"2026-12-07\")", v);
	else if (rc == 0 && it->from.y &&
		 sched_days_from_date(it->until) < sched_days_from_date(it->from))
		perr(p, line_of(w), "until", "%04d-%02d-%02d is before the first day "
		     "(from = %04d-%02d-%02d)", it->until.y, it->until.m, it->until.d,
		     it->from.y, it->from.m, it->from.d);

	get_int(p, g, "repeat", 1, SCHED_MAX_REPEAT, &it->repeat, "plays");
	get_int(p, g, "gap_s", 0, 3600, &it->gap_s, "seconds");
	if (get_str(p, g, "level", &v, &w) == 0) {
		it->level = sched_level_parse(v);
		if (it->level < 0) {
			if (strcmp(v, "live") == 0)
				perr(p, line_of(w), "level", "\"live\" is the level of an operator "
				     "speaking live, not of a scheduled item");
			else
				perr(p, line_of(w), "level", "\"%s\" is not a level: use relay, "
				     "normal, priority or emergency", v);
			it->level = SCHED_NORMAL;
		}
	}
	get_int(p, g, "volume", 0, 100, &it->volume, "percent");
	get_int(p, g, "warmup_s", 0, 60, &it->warmup_s, "seconds");
	if (get_int(p, g, "expires_min", 1, 1440, &expires_min, "minutes") == 0)
		it->expires_s = expires_min * 60;

	s = config_setting_get_member(g, "chime");
	if (s) {
		it->chime_line = line_of(s);
		if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
			it->chime = config_setting_get_bool(s) ? SCHED_CHIME_DEFAULT
							      : SCHED_CHIME_NONE;
		} else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
			if (resolve_audio(p, config_setting_get_string(s), it->chime_line,
					  "chime", it->chime_file, sizeof(it->chime_file)) == 0)
				it->chime = SCHED_CHIME_FILE;
		} else {
			perr(p, it->chime_line, "chime", "must be true, false or an audio file "
			     "(\"chime.wav\")");
		}
	}
	(void)field;
}

int sched_parse_text(const char *label, const char *text, size_t text_len, json_t *audio,
		     int64_t max_bytes, struct sched_set *set, struct sched_msgs *msgs)
{
	struct pctx p;
	config_t cfg;
	config_setting_t *root, *items, *s;
	struct sched_item it;
	char err[512];
	FILE *mem = NULL;
	int i, n, rc = 0, ok, line;
	size_t before = set->n, bom;

	memset(&p, 0, sizeof(p));
	p.path = label && label[0] ? label : "schedule";
	p.audio = audio;
	p.msgs = msgs;
	/*
	 * The size first: libconfig's parse time grows with the square of the
	 * input (4 MB took 6.5 s, 50 MB minutes).
	 */
	if ((int64_t)text_len > max_bytes) {
		sched_file_too_big(err, sizeof(err), p.path, (long long)text_len,
				   (long long)max_bytes);
		sched_error(msgs, "%s", err);
		return -EINVAL;
	}
	line = sched_text_nul_line(text, text_len);
	if (line) {
		sched_error(msgs, "%s:%d: the file holds a NUL byte (a zero byte) on line %d: it "
			    "is not a text file; remove that byte, or save the file again as "
			    "UTF-8 text", p.path, line, line);
		return -EINVAL;
	}
	/* a UTF-8 byte-order mark (Notepad): skipped, not a syntax error */
	bom = sched_text_bom(text, text_len);
	text += bom;
	text_len -= bom;
	/* libconfig would open the file an @include names: never */
	line = sched_text_include_line(text, text_len);
	if (line) {
		sched_error(msgs, "%s:%d: a line starting with '@' (@include) is not allowed in "
			    "a schedule file: the controller reads no other file; give every "
			    "file to loaxa schedule check|apply instead", p.path, line);
		return -EINVAL;
	}
	config_init(&cfg);
	/* from memory: the text sent, never a file */
	if (text_len > 0) {
		mem = fmemopen((void *)text, text_len, "r");
		ok = mem && config_read(&cfg, mem) == CONFIG_TRUE;
		if (mem)
			fclose(mem);
	} else {
		ok = config_read_string(&cfg, "") == CONFIG_TRUE;
	}
	if (!ok) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			sched_error(msgs, "%s: cannot read the file", p.path);
		else
			sched_error(msgs, "%s:%d: %s (libconfig syntax: field = value;)", p.path,
				    config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return -EINVAL;
	}
	root = config_root_setting(&cfg);
	n = config_setting_length(root);
	for (i = 0; i < n; i++) {
		const char *name;

		s = config_setting_get_elem(root, (unsigned)i);
		name = s ? config_setting_name(s) : NULL;
		if (name && strcmp(name, "items") != 0)
			perr(&p, line_of(s), name, "unknown field (a typo?); a schedule file "
			     "holds items = ( {...}, ... );");
	}
	items = config_setting_get_member(root, "items");
	if (!items) {
		perr(&p, 1, "items", "the file has no items: write items = ( { id = ...; }, "
		     "... );");
		goto out;
	}
	if (config_setting_type(items) != CONFIG_TYPE_LIST) {
		perr(&p, line_of(items), "items", "must be a list of items in parentheses: "
		     "items = ( { ... }, { ... } );");
		goto out;
	}
	n = config_setting_length(items);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(items, (unsigned)i);
		if (!s || config_setting_type(s) != CONFIG_TYPE_GROUP) {
			perr(&p, line_of(s ? s : items), "items", "entry %d must be an item in "
			     "braces: { id = \"...\"; ... }", i + 1);
			continue;
		}
		parse_item(&p, s, i, &it);
		if (!p.bad && sched_set_add(set, &it) < 0)
			perr(&p, it.line, NULL, "out of memory");
		sched_item_free(&it);
	}
out:
	config_destroy(&cfg);
	if (p.bad) {
		while (set->n > before)
			sched_item_free(&set->items[--set->n]);
		rc = -EINVAL;
	}
	return rc;
}

int sched_check_unique(const struct sched_set *set, struct sched_msgs *msgs)
{
	size_t i, j;
	int bad = 0;

	for (i = 0; i < set->n; i++)
		for (j = 0; j < i; j++)
			if (strcmp(set->items[i].id, set->items[j].id) == 0) {
				sched_error(msgs, "%s:%d: field \"id\": \"%s\" is already the id "
					    "of the item at %s:%d (ids must be unique across "
					    "all schedule files)", set->items[i].file,
					    set->items[i].line, set->items[i].id,
					    set->items[j].file, set->items[j].line);
				bad = 1;
				break;
			}
	return bad ? -EINVAL : 0;
}

/* ------------------------------------------------------------ expansion */

int sched_expand(const struct sched_item *item, int64_t from_ms, int64_t to_ms,
		 sched_occ_fn cb, void *arg)
{
	int64_t block = item->chime_ms + item->duration_ms;
	int64_t spacing = block + (int64_t)item->gap_s * 1000;
	int64_t span = (int64_t)(item->repeat - 1) * spacing;
	int64_t day, d0, d1;
	struct sched_occ occ;
	size_t t;
	int k, rc;

	if (to_ms <= from_ms)
		return 0;
	/* a repeat series may start the day before from_ms (or further back) */
	d0 = sched_days_from_date(sched_local_date(from_ms - span)) - 1;
	d1 = sched_days_from_date(sched_local_date(to_ms));
	if (item->from.y && d0 < sched_days_from_date(item->from))
		d0 = sched_days_from_date(item->from);
	if (item->until.y && d1 > sched_days_from_date(item->until))
		d1 = sched_days_from_date(item->until);
	for (day = d0; day <= d1; day++) {
		struct sched_date date = sched_date_from_days(day);
		int wday = (int)(((day % 7) + 11) % 7); /* 1970-01-01 was a Thursday */

		if (!(item->days & (1u << wday)))
			continue;
		for (t = 0; t < item->ntimes; t++) {
			int64_t base = sched_local_ms(date, item->times[t]);
			int tod = item->times[t];

			for (k = 0; k < item->repeat; k++) {
				memset(&occ, 0, sizeof(occ));
				occ.at = base + (int64_t)k * spacing;
				if (occ.at >= to_ms)
					break;
				if (occ.at < from_ms)
					continue;
				occ.item = item;
				occ.k = k + 1;
				occ.end = occ.at + block;
				occ.expires = occ.at + (int64_t)item->expires_s * 1000;
				if (tod % 60)
					snprintf(occ.id, sizeof(occ.id),
						 "o-%s-%04d%02d%02d-%02d%02d%02d-%d", item->id,
						 date.y, date.m, date.d, tod / 3600,
						 tod / 60 % 60, tod % 60, k + 1);
				else
					snprintf(occ.id, sizeof(occ.id),
						 "o-%s-%04d%02d%02d-%02d%02d-%d", item->id, date.y,
						 date.m, date.d, tod / 3600, tod / 60 % 60, k + 1);
				rc = cb(arg, &occ);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------ site, zones */

void sched_site_defaults(struct sched_site *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->timezone, sizeof(s->timezone), "Asia/Ho_Chi_Minh");
	s->horizon_days = 7;
	s->max_file_bytes = SCHED_DEFAULT_MAX_FILE_BYTES;
	s->max_total_bytes = SCHED_DEFAULT_MAX_TOTAL_BYTES;
	s->start_s = 0;
	s->end_s = 86400;
}

int sched_parse_hours(const char *s, int *start_s, int *end_s)
{
	char a[16], b[16];
	const char *dash = strchr(s, '-');
	size_t n;

	if (!dash)
		return -1;
	n = (size_t)(dash - s);
	if (n == 0 || n >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
		return -1;
	memcpy(a, s, n);
	a[n] = '\0';
	snprintf(b, sizeof(b), "%s", dash + 1);
	*start_s = sched_parse_tod(a);
	if (strcmp(b, "24:00") == 0)
		*end_s = 86400;
	else
		*end_s = sched_parse_tod(b);
	if (*start_s < 0 || *end_s < 0 || *start_s == *end_s)
		return -1;
	return 0;
}

static int tz_exists(const char *tz)
{
	char path[PATH_MAX];
	const char *dir = getenv("TZDIR");

	if (!tz[0] || tz[0] == '/' || strstr(tz, ".."))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo",
		 tz);
	return access(path, R_OK) == 0;
}

/*
 * A list of levels that wait for approval (approval.levels, a zone's
 * approval): relay, normal, priority. Emergencies never wait and live
 * sessions cannot (an operator speaking now), so naming them is an error
 * that says so rather than a setting that would silently do nothing.
 */
static int approval_levels(struct cfg *cfg, config_setting_t *list, const char *field,
			   const char *zone, unsigned *mask)
{
	char why[160];
	int i, n, bad = 0;

	*mask = 0;
	if (config_setting_type(list) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(list) != CONFIG_TYPE_LIST) {
		log_errorx("%s:%d: field \"%s\": %s%s%smust be a list of levels, e.g. "
			   "[\"normal\", \"priority\"] ([] = no approval)", cfg->path,
			   config_setting_source_line(list), field, zone ? "zone \"" : "",
			   zone ? zone : "", zone ? "\": " : "");
		cfg->errors++;
		return -EINVAL;
	}
	n = config_setting_length(list);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *v = e && config_setting_type(e) == CONFIG_TYPE_STRING
			? config_setting_get_string(e) : NULL;
		int level = v ? sched_level_parse(v) : -1;

		if (level >= 0 && level != SCHED_EMERGENCY) {
			*mask |= 1u << level;
			continue;
		}
		if (!v)
			snprintf(why, sizeof(why), "the levels are strings: relay, normal or "
				 "priority");
		else if (strcmp(v, "emergency") == 0)
			snprintf(why, sizeof(why), "emergencies never wait for approval (they "
				 "are listed for review afterwards: loaxa reviews); take "
				 "\"emergency\" out");
		else if (strcmp(v, "live") == 0)
			snprintf(why, sizeof(why), "live sessions cannot wait for approval (the "
				 "operator speaks now); take \"live\" out");
		else
			snprintf(why, sizeof(why), "\"%.40s\" is not a level that can wait for "
				 "approval: use relay, normal or priority", v);
		log_errorx("%s:%d: field \"%s\": %s%s%s%s", cfg->path,
			   config_setting_source_line(list), field, zone ? "zone \"" : "",
			   zone ? zone : "", zone ? "\": " : "", why);
		cfg->errors++;
		bad = 1;
	}
	return bad ? -EINVAL : 0;
}

/* A zone's title: no control characters (one line), and UTF-8 as jansson
 * takes it (the title goes into the API's JSON; json_string() refuses
 * anything else, which would lose the whole node list). */
static int title_text_ok(const char *t)
{
	const unsigned char *p;
	json_t *j;

	for (p = (const unsigned char *)t; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	j = json_string(t);
	if (!j)
		return 0;
	json_decref(j);
	return 1;
}

int sched_site_load(struct cfg *cfg, struct sched_site *s)
{
	config_setting_t *list, *e, *f;
	char buf[64];
	long long v;
	int i, j, n, bad = 0;

	if (cfg_string(cfg, "timezone", CFG_OPTIONAL, s->timezone, s->timezone,
		       sizeof(s->timezone)) < 0)
		bad = 1;
	else if (!tz_exists(s->timezone)) {
		cfg_error(cfg, "timezone", "\"%s\" is not a time zone this machine knows "
			  "(see /usr/share/zoneinfo, e.g. \"Asia/Ho_Chi_Minh\")", s->timezone);
		bad = 1;
	}
	if (cfg_int(cfg, "schedule.horizon_days", CFG_OPTIONAL, s->horizon_days, 2, 31,
		    &v) < 0)
		bad = 1;
	else
		s->horizon_days = (int)v;
	/* 4 KiB holds a small file; above 64 MiB libconfig would hold the loop for hours */
	if (cfg_int(cfg, "schedule.max_file_bytes", CFG_OPTIONAL, s->max_file_bytes, 4096,
		    64LL << 20, &v) < 0)
		bad = 1;
	else
		s->max_file_bytes = (int64_t)v;
	/*
	 * All the files of one check or apply together: the request holds them
	 * in memory (JSON-escaped, up to twice that). Default four files at
	 * their limit (4 MiB), at most 256 MiB.
	 */
	if (cfg_int(cfg, "schedule.max_total_bytes", CFG_OPTIONAL,
		    s->max_file_bytes * 4 < (256LL << 20) ? s->max_file_bytes * 4 : 256LL << 20,
		    4096, 256LL << 20, &v) < 0) {
		bad = 1;
	} else if ((int64_t)v < s->max_file_bytes) {
		cfg_error(cfg, "schedule.max_total_bytes", "%lld is less than "
			  "schedule.max_file_bytes (%lld): one file at its limit would be "
			  "refused; give at least that", v, (long long)s->max_file_bytes);
		bad = 1;
	} else {
		s->max_total_bytes = (int64_t)v;
	}
	if (cfg_string(cfg, "schedule.allowed_hours", CFG_OPTIONAL, "00:00-24:00", buf,
		       sizeof(buf)) < 0)
		bad = 1;
	else if (sched_parse_hours(buf, &s->start_s, &s->end_s) < 0) {
		cfg_error(cfg, "schedule.allowed_hours", "\"%s\" is not a span of hours (use "
			  "\"05:00-21:30\")", buf);
		bad = 1;
	}
	list = config_lookup(&cfg->c, "approval");
	if (list && config_setting_type(list) != CONFIG_TYPE_GROUP) {
		cfg_error(cfg, "approval", "must be a group: approval = { levels = "
			  "[\"normal\", \"priority\"]; };");
		bad = 1;
	}
	list = config_lookup(&cfg->c, "approval.levels");
	if (list && approval_levels(cfg, list, "approval.levels", NULL, &s->approval) < 0)
		bad = 1;
	list = config_lookup(&cfg->c, "zones");
	if (!list)
		return bad ? -EINVAL : 0;
	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		cfg_error(cfg, "zones", "must be a list: zones = ( { name = \"thon-1\"; "
			  "allowed_hours = \"05:00-21:30\"; } );");
		return -EINVAL;
	}
	n = config_setting_length(list);
	for (i = 0; i < n; i++) {
		struct sched_zone *z;
		const char *name = NULL, *hours = NULL;
		int line;

		e = config_setting_get_elem(list, (unsigned)i);
		line = e ? config_setting_source_line(e) : 0;
		if (!e || config_setting_type(e) != CONFIG_TYPE_GROUP) {
			cfg_error(cfg, "zones", "entry %d must be { name = \"...\"; "
				  "allowed_hours = \"05:00-21:30\"; }", i + 1);
			bad = 1;
			continue;
		}
		for (j = 0; j < config_setting_length(e); j++) {
			const char *fn;

			f = config_setting_get_elem(e, (unsigned)j);
			fn = f ? config_setting_name(f) : NULL;
			if (fn && strcmp(fn, "name") && strcmp(fn, "allowed_hours") &&
			    strcmp(fn, "title") && strcmp(fn, "approval")) {
				cfg->errors++;
				bad = 1;
				log_errorx("%s:%d: field \"zones.%s\": unknown field (a typo?); a "
					   "zone has name, title, allowed_hours and approval", cfg->path,
					   config_setting_source_line(f), fn);
			}
		}
		f = config_setting_get_member(e, "name");
		if (f && config_setting_type(f) == CONFIG_TYPE_STRING)
			name = config_setting_get_string(f);
		if (!name || !name_valid(name) || strcmp(name, "all") == 0) {
			log_errorx("%s:%d: field \"zones.name\": entry %d needs a zone name "
				   "(1 to 31 of a-z, 0-9, '-' and '_'; not \"all\")", cfg->path,
				   f ? (int)config_setting_source_line(f) : line, i + 1);
			cfg->errors++;
			bad = 1;
			continue;
		}
		if (sched_zone_declared(s, name)) {
			log_errorx("%s:%d: field \"zones.name\": zone \"%s\" is declared twice",
				   cfg->path, config_setting_source_line(f), name);
			cfg->errors++;
			bad = 1;
			continue;
		}
		if (s->nzones >= SCHED_MAX_ZONES) {
			log_errorx("%s:%d: field \"zones\": at most %d zones", cfg->path, line,
				   SCHED_MAX_ZONES);
			cfg->errors++;
			bad = 1;
			break;
		}
		z = &s->zones[s->nzones];
		snprintf(z->name, sizeof(z->name), "%s", name);
		z->line = line;
		z->start_s = s->start_s;
		z->end_s = s->end_s;
		f = config_setting_get_member(e, "allowed_hours");
		if (f && config_setting_type(f) == CONFIG_TYPE_STRING)
			hours = config_setting_get_string(f);
		if (f && (!hours || sched_parse_hours(hours, &z->start_s, &z->end_s) < 0)) {
			log_errorx("%s:%d: field \"zones.allowed_hours\": zone \"%s\": must be "
				   "a span of hours like \"05:00-21:30\"", cfg->path,
				   config_setting_source_line(f), name);
			cfg->errors++;
			bad = 1;
			continue;
		}
		/* the title is shown to officials (console, loaxa nodes): text of
		 * one line, valid UTF-8 (libconfig gives bytes as written) */
		z->title[0] = '\0';
		f = config_setting_get_member(e, "title");
		if (f) {
			const char *t = config_setting_type(f) == CONFIG_TYPE_STRING ?
				config_setting_get_string(f) : NULL;

			if (!t || !t[0] || strlen(t) >= sizeof(z->title) || !title_text_ok(t)) {
				log_errorx("%s:%d: field \"zones.title\": zone \"%s\": must be the "
					   "village's name as text of one line, 1-%zu bytes of UTF-8 "
					   "(e.g. title = \"Thôn 1\";)", cfg->path,
					   config_setting_source_line(f), name, sizeof(z->title) - 1);
				cfg->errors++;
				bad = 1;
				continue;
			}
			snprintf(z->title, sizeof(z->title), "%s", t);
		}
		f = config_setting_get_member(e, "approval");
		if (f) {
			if (approval_levels(cfg, f, "zones.approval", name, &z->approval) < 0) {
				bad = 1;
				continue;
			}
			z->approval_set = 1;
		}
		s->nzones++;
	}
	return bad ? -EINVAL : 0;
}

const char *sched_zone_title(const struct sched_site *s, const char *zone)
{
	size_t i;

	for (i = 0; i < s->nzones; i++)
		if (strcmp(s->zones[i].name, zone) == 0)
			return s->zones[i].title[0] ? s->zones[i].title : NULL;
	return NULL;
}

int sched_zone_declared(const struct sched_site *s, const char *zone)
{
	size_t i;

	for (i = 0; i < s->nzones; i++)
		if (strcmp(s->zones[i].name, zone) == 0)
			return 1;
	return 0;
}

unsigned sched_zone_approval(const struct sched_site *s, const char *zone)
{
	size_t i;

	for (i = 0; i < s->nzones; i++)
		if (strcmp(s->zones[i].name, zone) == 0 && s->zones[i].approval_set)
			return s->zones[i].approval;
	return s->approval;
}

void sched_zone_hours(const struct sched_site *s, const char *zone, int *start_s,
		      int *end_s)
{
	size_t i;

	*start_s = s->start_s;
	*end_s = s->end_s;
	for (i = 0; i < s->nzones; i++)
		if (strcmp(s->zones[i].name, zone) == 0) {
			*start_s = s->zones[i].start_s;
			*end_s = s->zones[i].end_s;
		}
}

int sched_item_targets(const struct sched_item *it, const struct sched_node_info *node)
{
	size_t i, j;

	if (it->all)
		return 1;
	for (i = 0; i < it->nnodes; i++)
		if (strcmp(it->nodes[i], node->id) == 0)
			return 1;
	for (i = 0; i < it->nzones; i++)
		for (j = 0; j < node->nzones; j++)
			if (strcmp(it->zones[i], node->zones[j]) == 0)
				return 1;
	return 0;
}

/* ------------------------------------------------------------ checks */

static int zone_reported(const struct sched_world *w, const char *zone)
{
	size_t i, j;

	for (i = 0; i < w->nnodes; i++)
		for (j = 0; j < w->nodes[i].nzones; j++)
			if (strcmp(w->nodes[i].zones[j], zone) == 0)
				return 1;
	return 0;
}

static const struct sched_node_info *world_node(const struct sched_world *w,
						const char *id)
{
	size_t i;

	for (i = 0; i < w->nnodes; i++)
		if (strcmp(w->nodes[i].id, id) == 0)
			return &w->nodes[i];
	return NULL;
}

/*
 * Whether [at, end) stays inside the allowed hours [start_s, end_s) of
 * every local day it touches. The forbidden time begins at end_s each day,
 * so the play is out when it starts outside, or when some day's end_s falls
 * strictly inside it.
 */
static int within_hours(int64_t at, int64_t end, int start_s, int end_s)
{
	struct sched_date d = sched_local_date(at);
	int64_t day, d1, midnight;
	int tod;

	if (start_s == 0 && end_s == 86400)
		return 1;
	midnight = sched_local_ms(d, 0);
	tod = (int)((at - midnight) / 1000);
	if (start_s < end_s ? (tod < start_s || tod >= end_s)
			    : (tod < start_s && tod >= end_s))
		return 0;
	d1 = sched_days_from_date(sched_local_date(end));
	for (day = sched_days_from_date(d) - 1; day <= d1; day++) {
		int64_t t = sched_local_ms(sched_date_from_days(day), end_s);

		if (t > at && t < end)
			return 0;
	}
	return 1;
}

struct hours_ctx {
	const struct sched_item *it;
	const char *zone;
	int start_s, end_s;
	struct sched_msgs *msgs;
	json_t *seen;
	int bad;
};

static int hours_occ(void *arg, const struct sched_occ *occ)
{
	struct hours_ctx *h = arg;
	char key[128], when[64], until[16], a[16], b[16];
	int64_t midnight = sched_local_ms(sched_local_date(occ->at), 0);

	if (within_hours(occ->at, occ->end, h->start_s, h->end_s))
		return 0;
	/* once per time of day and zone: the same rule breaks every day */
	snprintf(key, sizeof(key), "%s|%lld", h->zone,
		 (long long)((occ->at - midnight) / 1000));
	if (json_object_get(h->seen, key))
		return 0;
	json_object_set_new(h->seen, key, json_true());
	fmt_when(when, sizeof(when), occ->at);
	fmt_tod(until, sizeof(until), occ->end);
	fmt_hm(a, sizeof(a), h->start_s);
	fmt_hm(b, sizeof(b), h->end_s);
	/*
	 * A warning, not an error (issue 16): the station may have a reason
	 * (a late meeting), but nothing outside the hours is applied unless
	 * the operator confirms it (job_finish in schedjobs.c).
	 */
	sched_warning(h->msgs, "%s:%d: field \"times\": item \"%s\" on %s (playing until %s) "
		      "is outside the allowed hours of %s%s (%s-%s): move it into those hours, "
		      "or confirm with --outside-hours that it must play then", h->it->file,
		      h->it->times_line, h->it->id, when, until,
		      strcmp(h->zone, "the site") ? "zone " : "", h->zone, a, b);
	h->msgs->nhours++;
	return 0;
}

int sched_outside_hours(const struct sched_site *s, const char *zone, int64_t at,
			int64_t end, char *why, size_t whylen)
{
	char when[64], a[16], b[16];
	int start_s, end_s;

	if (!zone || !zone[0] || strcmp(zone, "the site") == 0) {
		start_s = s->start_s;
		end_s = s->end_s;
	} else {
		sched_zone_hours(s, zone, &start_s, &end_s);
	}
	if (end < at)
		end = at;
	if (within_hours(at, end, start_s, end_s))
		return 0;
	fmt_when(when, sizeof(when), at);
	fmt_hm(a, sizeof(a), start_s);
	fmt_hm(b, sizeof(b), end_s);
	if (end > at) {
		char until[16];

		fmt_tod(until, sizeof(until), end);
		snprintf(why, whylen, "%s%s may broadcast only %s-%s (allowed_hours in "
			 "controller.cfg), and this would play on %s until %s (%s time)",
			 zone && zone[0] && strcmp(zone, "the site") ? "zone " : "",
			 zone && zone[0] ? zone : "the site", a, b, when, until,
			 s->timezone[0] ? s->timezone : "local");
	} else {
		snprintf(why, whylen, "%s%s may broadcast only %s-%s (allowed_hours in "
			 "controller.cfg), and this would start on %s (%s time)",
			 zone && zone[0] && strcmp(zone, "the site") ? "zone " : "",
			 zone && zone[0] ? zone : "the site", a, b, when,
			 s->timezone[0] ? s->timezone : "local");
	}
	return 1;
}

static int check_hours(const struct sched_item *it, const struct sched_world *w,
		       int64_t from, int64_t to, struct sched_msgs *msgs)
{
	struct hours_ctx h;
	json_t *zones = json_object();
	const char *z;
	json_t *v;
	size_t i, j;
	int bad = 0;

	if (!zones)
		return -ENOMEM;
	for (i = 0; i < it->nzones; i++)
		json_object_set_new(zones, it->zones[i], json_true());
	for (i = 0; i < w->nnodes; i++) {
		if (!it->all && !sched_item_targets(it, &w->nodes[i]))
			continue;
		for (j = 0; j < w->nodes[i].nzones; j++)
			json_object_set_new(zones, w->nodes[i].zones[j], json_true());
	}
	/*
	 * "all" plays on the nodes there are, so the hours of their zones
	 * count; a declared zone without nodes hears nothing.
	 */
	if (json_object_size(zones) == 0)
		json_object_set_new(zones, "the site", json_true());
	memset(&h, 0, sizeof(h));
	h.it = it;
	h.msgs = msgs;
	h.seen = json_object();
	json_object_foreach(zones, z, v) {
		h.zone = z;
		if (strcmp(z, "the site") == 0) {
			h.start_s = w->site->start_s;
			h.end_s = w->site->end_s;
		} else {
			sched_zone_hours(w->site, z, &h.start_s, &h.end_s);
		}
		sched_expand(it, from, to, hours_occ, &h);
	}
	bad = h.bad;
	json_decref(h.seen);
	json_decref(zones);
	return bad ? -EINVAL : 0;
}

struct occ_list {
	struct sched_occ *v;
	size_t n, cap;
};

static int collect_occ(void *arg, const struct sched_occ *occ)
{
	struct occ_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sched_occ *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	l->v[l->n++] = *occ;
	return 0;
}

static int occ_cmp(const void *pa, const void *pb)
{
	const struct sched_occ *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->item->level != b->item->level)
		return a->item->level > b->item->level ? -1 : 1; /* higher first */
	return strcmp(a->id, b->id);
}

/*
 * One overlap on one node: a starts no later than b (sorted). Adds to (or
 * counts into) the conflict entry for this pair of items and times of day.
 */
static int note_conflict(const struct sched_occ *a, const struct sched_occ *b,
			 const char *node, struct sched_msgs *msgs, json_t *agg)
{
	const struct sched_item *ia = a->item, *ib = b->item;
	char key[256], when[64], t1[16], t2[16], t3[16], span[32], msg[1024];
	int64_t ma = sched_local_ms(sched_local_date(a->at), 0);
	int64_t mb = sched_local_ms(sched_local_date(b->at), 0);
	json_t *e, *nodes;
	int64_t delay = 0;
	const char *winner, *why;

	if (ia->level == SCHED_EMERGENCY && ib->level == SCHED_EMERGENCY) {
		snprintf(key, sizeof(key), "E|%s|%s|%lld|%lld", ia->id, ib->id,
			 (long long)(a->at - ma), (long long)(b->at - mb));
		if (json_object_get(agg, key))
			return 0;
		json_object_set_new(agg, key, json_null());
		fmt_when(when, sizeof(when), b->at);
		sched_error(msgs, "%s:%d: field \"times\": emergency item \"%s\" overlaps "
			    "emergency item \"%s\" (%s:%d) on node %s at %s: two emergencies "
			    "cannot share a node, move one", ib->file, ib->times_line, ib->id,
			    ia->id, ia->file, ia->line, node, when);
		return -EINVAL;
	}
	snprintf(key, sizeof(key), "%s|%s|%lld|%lld", ia->id, ib->id,
		 (long long)(a->at - ma), (long long)(b->at - mb));
	e = json_object_get(agg, key);
	if (e) {
		json_t *n = json_object_get(e, "nodes");
		size_t i;
		json_t *x;
		int have = 0;

		json_array_foreach(n, i, x)
			if (strcmp(json_string_value(x), node) == 0)
				have = 1;
		if (!have)
			json_array_append_new(n, json_string(node));
		json_object_set_new(e, "count",
				    json_integer(json_integer_value(json_object_get(e, "count")) + 1));
		return 0;
	}
	fmt_when(when, sizeof(when), b->at);
	fmt_span(span, sizeof(span), a->end - b->at);
	if (ib->level > ia->level) {
		winner = ib->id;
		why = "higher level";
		fmt_tod(t1, sizeof(t1), b->end);
		fmt_tod(t2, sizeof(t2), a->expires);
		if (b->end < a->expires)
			snprintf(msg, sizeof(msg), "\"%s\" (%s) interrupts \"%s\" (%s): higher "
				 "level wins; \"%s\" is re-queued and starts again at %s",
				 ib->id, sched_level_name(ib->level), ia->id,
				 sched_level_name(ia->level), ia->id, t1);
		else
			snprintf(msg, sizeof(msg), "\"%s\" (%s) interrupts \"%s\" (%s): higher "
				 "level wins; \"%s\" is cut and logged as preempted (its latest "
				 "start %s passes before %s)", ib->id,
				 sched_level_name(ib->level), ia->id, sched_level_name(ia->level),
				 ia->id, t2, t1);
	} else {
		delay = a->end - b->at;
		winner = ia->id;
		why = ib->level < ia->level ? "higher level" : "same level: first come, first "
								"played";
		fmt_tod(t1, sizeof(t1), a->end);
		fmt_span(t3, sizeof(t3), delay);
		fmt_tod(t2, sizeof(t2), b->expires);
		snprintf(msg, sizeof(msg), "\"%s\" (%s) waits for \"%s\" (%s) (%s): it starts "
			 "%s late, at %s%s%s%s", ib->id, sched_level_name(ib->level), ia->id,
			 sched_level_name(ia->level), why, t3, t1,
			 a->end > b->expires ? ", after its latest start " : "",
			 a->end > b->expires ? t2 : "",
			 a->end > b->expires ? ": it will not play" : "");
	}
	nodes = json_array();
	json_array_append_new(nodes, json_string(node));
	e = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:s, s:I, s:s, s:s, s:s, "
		      "s:I, s:o, s:i, s:s, s:s}",
		      "first", ia->id, "first_file", ia->file, "first_line", ia->line,
		      "first_level", sched_level_name(ia->level),
		      "second", ib->id, "second_file", ib->file, "second_line", ib->line,
		      "second_level", sched_level_name(ib->level),
		      "at", (json_int_t)b->at, "when", when, "winner", winner, "why", why,
		      "delay_ms", (json_int_t)delay, "nodes", nodes, "count", 1,
		      "message", msg, "overlap", span);
	if (!e)
		return -ENOMEM;
	json_object_set_new(agg, key, e);
	return 0;
}

static int node_conflicts(const struct sched_set *set, const struct sched_node_info *node,
			  int64_t from, int64_t to, struct sched_msgs *msgs, json_t *agg)
{
	struct occ_list l = { NULL, 0, 0 };
	size_t i, j;
	int rc = 0, bad = 0;

	for (i = 0; i < set->n; i++) {
		if (!sched_item_targets(&set->items[i], node))
			continue;
		rc = sched_expand(&set->items[i], from, to, collect_occ, &l);
		if (rc < 0)
			goto out;
	}
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), occ_cmp);
	for (i = 1; i < l.n; i++)
		for (j = 0; j < i; j++) {
			if (l.v[j].end <= l.v[i].at)
				continue;
			rc = note_conflict(&l.v[j], &l.v[i], node->id, msgs, agg);
			if (rc == -EINVAL)
				bad = 1;
			else if (rc < 0)
				goto out;
		}
	rc = bad ? -EINVAL : 0;
out:
	free(l.v);
	return rc;
}

int sched_check_world(const struct sched_set *set, const struct sched_world *w,
		      int64_t from_ms, int64_t to_ms, struct sched_msgs *msgs,
		      json_t *conflicts)
{
	json_t *agg = json_object(), *e;
	const char *key;
	size_t i, j;
	int bad = 0, rc;

	if (!agg)
		return -ENOMEM;
	for (i = 0; i < set->n; i++) {
		const struct sched_item *it = &set->items[i];

		for (j = 0; j < it->nzones; j++) {
			if (sched_zone_declared(w->site, it->zones[j]))
				continue;
			if (zone_reported(w, it->zones[j]))
				continue;
			sched_error(msgs, "%s:%d: field \"zones\": item \"%s\": zone \"%s\" is "
				    "unknown: it is not declared in controller.cfg (zones) and no "
				    "node has reported it", it->file, it->zones_line, it->id,
				    it->zones[j]);
			bad = 1;
		}
		for (j = 0; j < it->nzones; j++)
			if (sched_zone_declared(w->site, it->zones[j]) &&
			    !zone_reported(w, it->zones[j]))
				sched_warning(msgs, "%s:%d: field \"zones\": item \"%s\": no node "
					      "has reported zone \"%s\" yet: nothing plays there "
					      "until one does", it->file, it->zones_line, it->id,
					      it->zones[j]);
		for (j = 0; j < it->nnodes; j++)
			if (!world_node(w, it->nodes[j])) {
				sched_error(msgs, "%s:%d: field \"nodes\": item \"%s\": no node "
					    "\"%s\" is known to this controller (it has never "
					    "reported its status)", it->file, it->nodes_line, it->id,
					    it->nodes[j]);
				bad = 1;
			}
		/* emergencies play at any hour; items that stay as they are were
		 * confirmed when they were applied */
		if (it->level != SCHED_EMERGENCY && i >= w->hours_from &&
		    check_hours(it, w, from_ms, to_ms, msgs) < 0)
			bad = 1;
	}
	for (i = 0; i < w->nnodes; i++) {
		rc = node_conflicts(set, &w->nodes[i], from_ms, to_ms, msgs, agg);
		if (rc == -EINVAL)
			bad = 1;
		else if (rc < 0) {
			json_decref(agg);
			return rc;
		}
	}
	json_object_foreach(agg, key, e) {
		if (!json_is_object(e))
			continue;
		if (conflicts)
			json_array_append(conflicts, e);
	}
	json_decref(agg);
	return bad ? -EINVAL : 0;
}

/* ------------------------------------------------------------ stored form */

static json_t *date_json(struct sched_date d)
{
	return d.y ? json_sprintf("%04d-%02d-%02d", d.y, d.m, d.d) : json_null();
}

static const char *src_name(enum sched_source s)
{
	return s == SCHED_SRC_CONTENT ? "content" : s == SCHED_SRC_TEXT ? "text"
		: s == SCHED_SRC_RELAY ? "relay" : "file";
}

static const char *chime_name(enum sched_chime c)
{
	return c == SCHED_CHIME_DEFAULT ? "default" : c == SCHED_CHIME_FILE ? "file" : "none";
}

json_t *sched_item_to_json(const struct sched_item *it)
{
	json_t *o, *zones = json_array(), *nodes = json_array(), *times = json_array();
	char buf[16];
	size_t i;

	for (i = 0; i < it->nzones; i++)
		json_array_append_new(zones, json_string(it->zones[i]));
	for (i = 0; i < it->nnodes; i++)
		json_array_append_new(nodes, json_string(it->nodes[i]));
	for (i = 0; i < it->ntimes; i++) {
		fmt_hm(buf, sizeof(buf), it->times[i]);
		json_array_append_new(times, json_string(buf));
	}
	o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:b, s:s, s:I, s:I, s:s, s:s, s:s, "
		      "s:I, s:I, s:b, s:o, s:o, s:o, s:i, s:o, s:o, s:i, s:i, s:s, s:i, "
		      "s:i, s:i}",
		      "id", it->id, "title", it->title, "file", it->file, "line", it->line,
		      "src", src_name(it->src), "source", it->source, "music", it->music,
		      "content", it->content, "duration_ms", (json_int_t)it->duration_ms,
		      "bytes", (json_int_t)it->bytes, "chime", chime_name(it->chime),
		      "chime_file", it->chime_file, "chime_content", it->chime_content,
		      "chime_ms", (json_int_t)it->chime_ms,
		      "chime_bytes", (json_int_t)it->chime_bytes, "all", it->all,
		      "zones", zones, "nodes", nodes, "times", times, "days", (int)it->days,
		      "from", date_json(it->from), "until", date_json(it->until),
		      "repeat", it->repeat, "gap_s", it->gap_s,
		      "level", sched_level_name(it->level), "volume", it->volume,
		      "warmup_s", it->warmup_s, "expires_s", it->expires_s);
	if (o && it->text)
		json_object_set_new(o, "text", json_string(it->text));
	return o;
}

static void jcopy(json_t *j, const char *key, char *out, size_t outlen)
{
	const char *s = json_string_value(json_object_get(j, key));

	snprintf(out, outlen, "%s", s ? s : "");
}

static int64_t jnum(json_t *j, const char *key)
{
	return json_integer_value(json_object_get(j, key));
}

int sched_item_from_json(json_t *j, struct sched_item *it)
{
	const char *s;
	json_t *a, *v;
	size_t i;

	sched_item_init(it);
	if (!json_is_object(j))
		return -EINVAL;
	jcopy(j, "id", it->id, sizeof(it->id));
	jcopy(j, "title", it->title, sizeof(it->title));
	jcopy(j, "file", it->file, sizeof(it->file));
	it->line = (int)jnum(j, "line");
	s = json_string_value(json_object_get(j, "src"));
	it->src = s && strcmp(s, "content") == 0 ? SCHED_SRC_CONTENT
		  : s && strcmp(s, "text") == 0 ? SCHED_SRC_TEXT
		  : s && strcmp(s, "relay") == 0 ? SCHED_SRC_RELAY : SCHED_SRC_FILE;
	jcopy(j, "source", it->source, sizeof(it->source));
	it->music = json_is_true(json_object_get(j, "music"));
	jcopy(j, "content", it->content, sizeof(it->content));
	it->duration_ms = jnum(j, "duration_ms");
	it->bytes = jnum(j, "bytes");
	s = json_string_value(json_object_get(j, "chime"));
	it->chime = s && strcmp(s, "default") == 0 ? SCHED_CHIME_DEFAULT
		    : s && strcmp(s, "file") == 0 ? SCHED_CHIME_FILE : SCHED_CHIME_NONE;
	jcopy(j, "chime_file", it->chime_file, sizeof(it->chime_file));
	jcopy(j, "chime_content", it->chime_content, sizeof(it->chime_content));
	it->chime_ms = jnum(j, "chime_ms");
	it->chime_bytes = jnum(j, "chime_bytes");
	it->all = json_is_true(json_object_get(j, "all"));
	a = json_object_get(j, "zones");
	json_array_foreach(a, i, v)
		if (json_is_string(v) && it->nzones < SCHED_MAX_TARGETS)
			snprintf(it->zones[it->nzones++], SCHED_NAME_MAX, "%s",
				 json_string_value(v));
	a = json_object_get(j, "nodes");
	json_array_foreach(a, i, v)
		if (json_is_string(v) && it->nnodes < SCHED_MAX_TARGETS)
			snprintf(it->nodes[it->nnodes++], SCHED_NAME_MAX, "%s",
				 json_string_value(v));
	a = json_object_get(j, "times");
	json_array_foreach(a, i, v) {
		int t = json_is_string(v) ? sched_parse_tod(json_string_value(v)) : -1;

		if (t < 0 || it->ntimes >= SCHED_MAX_TIMES)
			return -EINVAL;
		it->times[it->ntimes++] = t;
	}
	it->days = (unsigned)jnum(j, "days") & 0x7f;
	s = json_string_value(json_object_get(j, "from"));
	if (s && sched_parse_date(s, &it->from) < 0)
		return -EINVAL;
	s = json_string_value(json_object_get(j, "until"));
	if (s && sched_parse_date(s, &it->until) < 0)
		return -EINVAL;
	it->repeat = (int)jnum(j, "repeat");
	it->gap_s = (int)jnum(j, "gap_s");
	s = json_string_value(json_object_get(j, "level"));
	it->level = s ? sched_level_parse(s) : -1;
	it->volume = (int)jnum(j, "volume");
	it->warmup_s = (int)jnum(j, "warmup_s");
	it->expires_s = (int)jnum(j, "expires_s");
	s = json_string_value(json_object_get(j, "text"));
	if (s && !(it->text = strdup(s)))
		return -ENOMEM;
	if (!it->id[0] || it->level < 0 || it->repeat < 1 || it->expires_s < 1 ||
	    (it->src == SCHED_SRC_RELAY ? !it->source[0] : !content_id_valid(it->content)))
		return -EINVAL;
	return 0;
}

/* ------------------------------------------------------------ chime */

/*
 * The default chime: a soft two-tone "ding-dong" (E5 then C5, 0.5 s and
 * 0.7 s, quick attack, exponential decay) that tells villagers an
 * announcement follows. Written as 16-bit mono 48 kHz WAV and then imported
 * like any other audio, so it is loudness-matched to the announcements.
 */
int sched_write_chime_wav(const char *path)
{
	const int rate = 48000;
	const double tones[2][2] = { { 659.25, 0.5 }, { 523.25, 0.7 } };
	size_t n = 0, total = (size_t)(rate * 1.2), i;
	uint8_t *buf;
	int t, rc;

	buf = malloc(44 + total * 2);
	if (!buf)
		return -ENOMEM;
	for (t = 0; t < 2; t++) {
		size_t len = (size_t)(tones[t][1] * rate);

		for (i = 0; i < len && n < total; i++, n++) {
			double x = (double)i / rate;
			double env = (x < 0.01 ? x / 0.01 : 1.0) * exp(-x * 4.0);
			double s = 0.4 * env * sin(2.0 * M_PI * tones[t][0] * x);
			int16_t v = (int16_t)lrint(s * 32767.0);

			buf[44 + n * 2] = (uint8_t)(v & 0xff);
			buf[44 + n * 2 + 1] = (uint8_t)((v >> 8) & 0xff);
		}
	}
	memcpy(buf, "RIFF", 4);
	{
		uint32_t data = (uint32_t)(n * 2), riff = data + 36, br = (uint32_t)rate * 2;
		uint8_t *h = buf;
#define LE32(p, v) do { (p)[0] = (uint8_t)(v); (p)[1] = (uint8_t)((v) >> 8); \
	(p)[2] = (uint8_t)((v) >> 16); (p)[3] = (uint8_t)((v) >> 24); } while (0)
#define LE16(p, v) do { (p)[0] = (uint8_t)(v); (p)[1] = (uint8_t)((v) >> 8); } while (0)
		LE32(h + 4, riff);
		memcpy(h + 8, "WAVEfmt ", 8);
		LE32(h + 16, 16u);
		LE16(h + 20, 1u);
		LE16(h + 22, 1u);
		LE32(h + 24, (uint32_t)rate);
		LE32(h + 28, br);
		LE16(h + 32, 2u);
		LE16(h + 34, 16u);
		memcpy(h + 36, "data", 4);
		LE32(h + 40, data);
#undef LE32
#undef LE16
	}
	rc = write_file_atomic(path, buf, 44 + n * 2, 0600);
	free(buf);
	return rc;
}
