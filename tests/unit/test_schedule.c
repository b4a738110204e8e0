/*
 * test_schedule.c - controller/schedparse.c: the schedule file parser (every
 * error pinned: file:line: field "x": what), dates and times, expansion
 * (day rules, date ranges across month ends and leap days, repeats across
 * midnight, stable occurrence ids), allowed hours around midnight,
 * conflicts (which wins and why), and the stored form.
 *
 * The time zone is fixed here (TZ=Asia/Ho_Chi_Minh, UTC+7, no DST), never
 * the build machine's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schedparse.h"
#include "tap.h"
#include "util.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
}

/*
 * What `loaxa schedule check` does with a file (cli/schedule.c): read it,
 * describe the audio it names (relative to its directory), and have the
 * controller's parser take the text and that description.
 */
static int parse_file_max(const char *path, const char *name, int64_t max,
			  struct sched_set *set, struct sched_msgs *m)
{
	char err[512], *text = NULL;
	json_t *audio;
	size_t len;
	int rc;

	rc = sched_file_read(path, name, max, &text, &len, err, sizeof(err));
	if (rc < 0) {
		sched_error(m, "%s", err);
		return -EINVAL;
	}
	audio = sched_audio_map(text, len, dir, NULL);
	rc = sched_parse_text(name, text, len, audio, max, set, m);
	json_decref(audio);
	free(text);
	return rc;
}

/* Parse text as NAME in dir; returns the errors joined by '\n'. */
static char errs[8192];
static int parse(const char *name, const char *text, struct sched_set *set)
{
	struct sched_msgs m;
	char path[256];
	size_t i;
	json_t *v;
	int rc;

	write_file(name, text);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	sched_msgs_init(&m);
	rc = parse_file_max(path, name, SCHED_DEFAULT_MAX_FILE_BYTES, set, &m);
	errs[0] = '\0';
	json_array_foreach(m.errors, i, v) {
		strncat(errs, json_string_value(v), sizeof(errs) - strlen(errs) - 2);
		strcat(errs, "\n");
	}
	json_array_foreach(m.warnings, i, v) {
		strncat(errs, "warning: ", sizeof(errs) - strlen(errs) - 2);
		strncat(errs, json_string_value(v), sizeof(errs) - strlen(errs) - 2);
		strcat(errs, "\n");
	}
	sched_msgs_free(&m);
	return rc;
}

static int has(const char *msg)
{
	if (strstr(errs, msg))
		return 1;
	printf("# expected: %s\n# got:\n%s", msg, errs);
	return 0;
}

static void test_parse_errors(void)
{
	struct sched_set set = { NULL, 0, 0 };
	int rc;

	rc = parse("bad.cfg",
		   "items = (\n"
		   "  { id = \"a\"; content = \"x.wav\"; zones = [\"thon-1\"]; times = [\"05:30\"];\n"
		   "    colour = \"red\"; },\n"
		   "  { id = \"Bad Id\"; text = \"xin chào\"; zones = [\"thon-1\"];\n"
		   "    times = [\"24:00\", \"5:3\"]; },\n"
		   "  { id = \"c\"; text = \"x\"; content = \"x.wav\"; zones = [\"Thôn\"];\n"
		   "    times = [\"06:00\", \"06:00\"]; days = [\"monday\", \"funday\"]; },\n"
		   "  { id = \"d\"; text = \"x\"; times = \"07:00\"; from = \"2026-02-30\";\n"
		   "    until = \"2026-13-01\"; repeat = 0; gap_s = -1; level = \"live\";\n"
		   "    volume = 101; warmup_s = \"3\"; chime = 5; expires_min = 0; },\n"
		   "  { title = \"no id\"; text = \"x\"; zones = [\"all\"]; times = [\"08:00\"];\n"
		   "    from = \"2026-12-07\"; until = \"2026-12-01\"; },\n"
		   "  { id = \"f\"; zones = [\"all\"]; times = []; level = \"loud\"; }\n"
		   ");\n"
		   "extra = 1;\n",
		   &set);
	CHECK(rc == -EINVAL && set.n == 0, "a bad file is refused and adds no item");
	CHECK(has("bad.cfg:3: field \"colour\": unknown field (a typo?)"),
	      "unknown field named with its line");
	CHECK(has("bad.cfg:2: field \"content\": the file \"x.wav\" does not exist (looked for "),
	      "missing audio file named");
	CHECK(has("bad.cfg:4: field \"id\": \"Bad Id\" is not an item id: use 1 to 40 of a-z, "
		  "0-9, '-' and '_', starting with a letter or digit"), "bad id");
	CHECK(has("bad.cfg:5: field \"times\": \"24:00\" is not a time of day (use HH:MM or "
		  "HH:MM:SS, 00:00 to 23:59)"), "24:00 is not a time");
	CHECK(has("bad.cfg:5: field \"times\": \"5:3\" is not a time of day"), "5:3 is not a time");
	CHECK(has("bad.cfg:6: field \"text\": give either content (a file or a content id) or "
		  "text, not both"), "content and text");
	CHECK(has("bad.cfg:6: field \"zones\": \"Thôn\" is not a zone name (1 to 31 of a-z, "
		  "0-9, '-' and '_')"), "bad zone name");
	CHECK(has("bad.cfg:7: field \"times\": 06:00 is listed twice"), "duplicate time");
	CHECK(has("bad.cfg:7: field \"days\": \"funday\" is not a day rule: use daily, weekdays, "
		  "weekends or days mon, tue, wed, thu, fri, sat, sun"), "bad day");
	CHECK(has("bad.cfg:8: field \"from\": \"2026-02-30\" is not a date (use YYYY-MM-DD"),
	      "February 30th is not a date");
	CHECK(has("bad.cfg:9: field \"until\": \"2026-13-01\" is not a date"), "month 13");
	CHECK(has("bad.cfg:9: field \"repeat\": must be from 1 to 20 plays (got 0)"), "repeat 0");
	CHECK(has("bad.cfg:9: field \"gap_s\": must be from 0 to 3600 seconds (got -1)"),
	      "negative gap");
	CHECK(has("bad.cfg:9: field \"level\": \"live\" is the level of an operator speaking "
		  "live, not of a scheduled item"), "live is not a schedule level");
	CHECK(has("bad.cfg:10: field \"volume\": must be from 0 to 100 percent (got 101)"),
	      "volume 101");
	CHECK(has("bad.cfg:10: field \"warmup_s\": must be a whole number of seconds"),
	      "warmup as text");
	CHECK(has("bad.cfg:10: field \"chime\": must be true, false or an audio file"),
	      "chime as a number");
	CHECK(has("bad.cfg:10: field \"expires_min\": must be from 1 to 1440 minutes (got 0)"),
	      "expires 0");
	CHECK(has("bad.cfg:8: field \"zones\": the item plays nowhere: give zones = "
		  "[\"thon-1\"], nodes = [\"n1\"] or zones = [\"all\"]"), "an item without target");
	CHECK(has("bad.cfg:11: field \"id\": item 5 has no id"), "missing id");
	CHECK(has("bad.cfg:12: field \"until\": 2026-12-01 is before the first day (from = "
		  "2026-12-07)"), "until before from");
	CHECK(has("bad.cfg:13: field \"content\": the item has nothing to play"), "nothing to play");
	CHECK(has("bad.cfg:13: field \"times\": the list is empty: give at least one time"),
	      "empty times");
	CHECK(has("bad.cfg:13: field \"level\": \"loud\" is not a level: use relay, normal, "
		  "priority or emergency"), "bad level");
	CHECK(has("bad.cfg:15: field \"extra\": unknown field (a typo?); a schedule file holds "
		  "items = ( {...}, ... );"), "unknown top-level field");
	sched_set_free(&set);

	rc = parse("syntax.cfg", "items = (\n { id = \"a\"; times = [05:30]; }\n);\n", &set);
	CHECK(rc == -EINVAL && strncmp(errs, "syntax.cfg:2: ", 14) == 0,
	      "a libconfig syntax error names file:line");
	rc = parse("empty.cfg", "# nothing\n", &set);
	CHECK(rc == -EINVAL && has("empty.cfg:1: field \"items\": the file has no items"),
	      "a file without items");
	sched_set_free(&set);
}

static void test_parse_good(void)
{
	struct sched_set set = { NULL, 0, 0 };
	struct sched_msgs m;
	const struct sched_item *it;
	int rc;

	write_file("sang.wav", "not audio, but a file");
	rc = parse("good.cfg",
		   "# a commented file\n"
		   "items = (\n"
		   "  { id = \"morning\"; title = \"Chương trình sáng\"; content = \"sang.wav\";\n"
		   "    zones = [\"all\"]; times = [\"17:00\", \"05:30\"]; days = \"weekdays\";\n"
		   "    from = \"2026-12-01\"; until = \"2026-12-31\"; level = \"normal\";\n"
		   "    volume = 80; chime = true; warmup_s = 3; music = true; },\n"
		   "  { id = \"notice-1\"; text = \"Thông báo\"; nodes = [\"n1\", \"n2\"];\n"
		   "    times = \"07:15:30\"; repeat = 3; days = [\"mon\", \"sun\"]; expires_min = 5; }\n"
		   ");\n",
		   &set);
	CHECK(rc == 0 && set.n == 2, "a good file gives its 2 items (%s)", errs);
	if (set.n != 2)
		return;
	it = &set.items[0];
	CHECK(strcmp(it->id, "morning") == 0 && strcmp(it->title, "Chương trình sáng") == 0,
	      "id and Vietnamese title");
	{
		char path[256], hash[65];

		snprintf(path, sizeof(path), "%s/sang.wav", dir);
		CHECK(it->src == SCHED_SRC_FILE && sha256_file_hex(path, hash) == 0 &&
		      strcmp(it->source, hash) == 0, "the audio file (relative to the schedule "
		      "file) is known by the SHA-256 of its bytes, not by a path (%s)",
		      it->source);
	}
	CHECK(it->all && it->ntimes == 2 && it->times[0] == 5 * 3600 + 30 * 60 &&
	      it->times[1] == 17 * 3600, "times sorted, all targets");
	CHECK(it->days == 0x3e, "weekdays = mon..fri");
	CHECK(it->from.y == 2026 && it->from.m == 12 && it->until.d == 31, "date range");
	CHECK(it->volume == 80 && it->chime == SCHED_CHIME_DEFAULT && it->warmup_s == 3 &&
	      it->music == 1 && it->repeat == 1 && it->gap_s == 30 && it->expires_s == 600,
	      "volume, chime, warmup, music and the defaults (repeat 1, gap 30 s, 10 min)");
	it = &set.items[1];
	CHECK(it->src == SCHED_SRC_TEXT && strcmp(it->text, "Thông báo") == 0, "text item");
	CHECK(it->nnodes == 2 && it->times[0] == 7 * 3600 + 15 * 60 + 30 && it->repeat == 3 &&
	      it->days == 0x03 && it->expires_s == 300, "nodes, HH:MM:SS, repeat, mon+sun");
	sched_msgs_init(&m);
	set.items[1].line = 99;
	sched_set_add(&set, &set.items[0]);
	CHECK(sched_check_unique(&set, &m) == -EINVAL && sched_nerrors(&m) == 1 &&
	      strcmp(json_string_value(json_array_get(m.errors, 0)),
		     "good.cfg:3: field \"id\": \"morning\" is already the id of the item at "
		     "good.cfg:3 (ids must be unique across all schedule files)") == 0,
	      "a duplicate id across files is an error naming both places");
	sched_msgs_free(&m);
	sched_set_free(&set);
}

static void test_relay(void)
{
	struct sched_set set = { NULL, 0, 0 };
	int rc;

	rc = parse("relay.cfg",
		   "items = (\n"
		   "  { id = \"vov\"; title = \"Tiếp sóng VOV1\"; source = \"alsa:hw:1\";\n"
		   "    length_min = 30; zones = [\"all\"]; times = [\"06:00\"]; level = \"relay\"; }\n"
		   ");\n", &set);
	CHECK(rc == 0 && set.n == 1 && set.items[0].src == SCHED_SRC_RELAY &&
	      strcmp(set.items[0].source, "alsa:hw:1") == 0 &&
	      set.items[0].duration_ms == 30 * 60000, "a relay item: source and length (%s)",
	      errs);
	sched_set_free(&set);
	rc = parse("relay-bad.cfg",
		   "items = (\n"
		   "  { id = \"a\"; source = \"hw:1\"; length_min = 30; zones = [\"all\"];\n"
		   "    times = [\"06:00\"]; },\n"
		   "  { id = \"b\"; source = \"url:http://x/\"; zones = [\"all\"]; times = [\"06:00\"]; },\n"
		   "  { id = \"c\"; text = \"x\"; length_min = 3; zones = [\"all\"]; times = [\"06:00\"]; }\n"
		   ");\n", &set);
	CHECK(rc == -EINVAL && has("relay-bad.cfg:2: field \"source\": \"hw:1\" is not a relay "
				   "source: use \"alsa:DEVICE\" (a line-in) or \"url:http://...\" "
				   "(a stream)"), "a bad relay source");
	CHECK(has("relay-bad.cfg:4: field \"length_min\": a relay needs its length: "
		  "length_min = 60;"), "a relay without length");
	CHECK(has("relay-bad.cfg:5: field \"length_min\": only a relay (source = ...) has a "
		  "length; audio has its own"), "a length without relay");
	sched_set_free(&set);
}

static void test_dates(void)
{
	struct sched_date d;
	int64_t ms;
	char buf[64];

	CHECK(sched_parse_tod("00:00") == 0 && sched_parse_tod("23:59:59") == 86399 &&
	      sched_parse_tod("24:00") < 0 && sched_parse_tod("12:60") < 0 &&
	      sched_parse_tod("1:00") < 0 && sched_parse_tod("12:00:") < 0 &&
	      sched_parse_tod("aa:bb") < 0, "times of day");
	CHECK(sched_parse_date("2028-02-29", &d) == 0 && sched_parse_date("2026-02-29", &d) < 0 &&
	      sched_parse_date("2100-02-29", &d) < 0 && sched_parse_date("2000-02-29", &d) == 0 &&
	      sched_parse_date("2026-04-31", &d) < 0 && sched_parse_date("2026-4-3", &d) < 0,
	      "dates: leap years (2028, 2000 yes; 2026, 2100 no), month lengths");
	d = (struct sched_date){ 2026, 12, 31 };
	d = sched_date_from_days(sched_days_from_date(d) + 1);
	CHECK(d.y == 2027 && d.m == 1 && d.d == 1, "day after 2026-12-31 is 2027-01-01");
	d = sched_date_from_days(sched_days_from_date((struct sched_date){ 2028, 2, 28 }) + 1);
	CHECK(d.m == 2 && d.d == 29, "day after 2028-02-28 is the 29th");
	CHECK(sched_days_from_date((struct sched_date){ 1970, 1, 1 }) == 0, "epoch day 0");
	/* 2026-12-01 05:30 in Hanoi (UTC+7) = 2026-11-30 22:30 UTC */
	CHECK(sched_parse_local("2026-12-01 05:30", &ms) == 0 && ms == 1796077800000LL,
	      "local 2026-12-01 05:30 is 22:30 UTC the day before (%lld)", (long long)ms);
	sched_fmt_local(buf, sizeof(buf), ms);
	CHECK(strcmp(buf, "2026-12-01 05:30:00") == 0, "and back (%s)", buf);
	d = sched_local_date(1796077800000LL - 1);
	CHECK(d.d == 1, "one ms before 05:30 local is still the 1st local");
	d = sched_local_date(1796058000000LL - 1);  /* 2026-12-01 00:00 local - 1 ms */
	CHECK(d.m == 11 && d.d == 30, "one ms before local midnight is the 30th");
}

struct occs {
	char ids[64][SCHED_OCC_ID_MAX];
	int64_t at[64];
	int n;
};

static int collect(void *arg, const struct sched_occ *o)
{
	struct occs *c = arg;

	if (c->n < 64) {
		snprintf(c->ids[c->n], SCHED_OCC_ID_MAX, "%s", o->id);
		c->at[c->n] = o->at;
		c->n++;
	}
	return 0;
}

static int64_t L(const char *s)
{
	int64_t ms = 0;

	if (sched_parse_local(s, &ms) < 0)
		printf("# bad local time %s\n", s);
	return ms;
}

static void test_expand(void)
{
	struct sched_item it;
	struct occs o;

	sched_item_init(&it);
	strcpy(it.id, "n");
	strcpy(it.content, "00");
	it.times[0] = 23 * 3600 + 59 * 60;
	it.ntimes = 1;
	it.repeat = 3;
	it.gap_s = 30;
	it.duration_ms = 20000;
	it.chime_ms = 1000;
	/* 2026-12-31 (Thursday) 23:59: 3 plays 51 s apart, across new year */
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2026-12-31 12:00"), L("2027-01-01 00:05"), collect, &o);
	CHECK(o.n == 3, "a repeat of 3 at 23:59 gives 3 plays (%d)", o.n);
	CHECK(o.n == 3 && strcmp(o.ids[0], "o-n-20261231-2359-1") == 0 &&
	      strcmp(o.ids[2], "o-n-20261231-2359-3") == 0,
	      "occurrence ids keep the day the series started (%s)", o.ids[2]);
	CHECK(o.n == 3 && o.at[1] - o.at[0] == 51000 && o.at[2] == L("2027-01-01 00:00:42"),
	      "repeats are chime + duration + gap apart, the last at 00:00:42 on Jan 1st");
	/* a window starting after midnight still sees the tail of the series */
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2027-01-01 00:00"), L("2027-01-01 01:00"), collect, &o);
	CHECK(o.n == 1 && strcmp(o.ids[0], "o-n-20261231-2359-3") == 0,
	      "a window from midnight gets play 3 of the series of the day before (%d)", o.n);
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2026-12-31 00:00"), L("2026-12-31 12:00"), collect, &o);
	CHECK(o.n == 1 && strcmp(o.ids[0], "o-n-20261230-2359-3") == 0,
	      "and the morning of the 31st gets the tail of the 30th's series");

	/* weekdays around a weekend; month end */
	it.repeat = 1;
	it.times[0] = 5 * 3600 + 30 * 60;
	it.days = 0x3e;
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2026-11-27 00:00"), L("2026-12-02 00:00"), collect, &o);
	CHECK(o.n == 3 && strcmp(o.ids[0], "o-n-20261127-0530-1") == 0 &&
	      strcmp(o.ids[1], "o-n-20261130-0530-1") == 0 &&
	      strcmp(o.ids[2], "o-n-20261201-0530-1") == 0,
	      "weekdays: Fri 27th, then Mon 30th, Tue Dec 1st (not Sat, Sun)");
	it.days = 0x41;
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2026-11-27 00:00"), L("2026-12-02 00:00"), collect, &o);
	CHECK(o.n == 2 && strcmp(o.ids[0], "o-n-20261128-0530-1") == 0, "weekends: Sat, Sun");
	/* date range over February of a leap year */
	it.days = 0x7f;
	it.from = (struct sched_date){ 2028, 2, 27 };
	it.until = (struct sched_date){ 2028, 3, 1 };
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2028-02-01 00:00"), L("2028-03-31 00:00"), collect, &o);
	CHECK(o.n == 4 && strcmp(o.ids[2], "o-n-20280229-0530-1") == 0 &&
	      strcmp(o.ids[3], "o-n-20280301-0530-1") == 0,
	      "from 2028-02-27 until 2028-03-01: 4 days including the 29th (%d)", o.n);
	/* the window is half-open and exact */
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2028-02-28 05:30"), L("2028-02-29 05:30"), collect, &o);
	CHECK(o.n == 1 && strcmp(o.ids[0], "o-n-20280228-0530-1") == 0,
	      "[from, to): the start is in, the end is out");
	/* seconds in the time of day appear in the id */
	it.times[0] = 5 * 3600 + 30 * 60 + 15;
	memset(&o, 0, sizeof(o));
	sched_expand(&it, L("2028-02-28 00:00"), L("2028-02-29 00:00"), collect, &o);
	CHECK(o.n == 1 && strcmp(o.ids[0], "o-n-20280228-053015-1") == 0, "id with seconds");
}

static void test_site(void)
{
	struct sched_site s;
	int a, b;

	sched_site_defaults(&s);
	CHECK(strcmp(s.timezone, "Asia/Ho_Chi_Minh") == 0 && s.horizon_days == 7 &&
	      s.start_s == 0 && s.end_s == 86400, "site defaults: Hanoi time, 7 days, all day");
	CHECK(sched_parse_hours("05:00-21:30", &a, &b) == 0 && a == 18000 && b == 77400,
	      "05:00-21:30");
	CHECK(sched_parse_hours("22:00-06:00", &a, &b) == 0 && a == 79200 && b == 21600,
	      "a span across midnight");
	CHECK(sched_parse_hours("00:00-24:00", &a, &b) == 0 && b == 86400, "all day");
	CHECK(sched_parse_hours("05:00", &a, &b) < 0 && sched_parse_hours("05:00-05:00", &a, &b) < 0 &&
	      sched_parse_hours("5-6", &a, &b) < 0, "bad spans refused");
}

static struct sched_item mkitem(const char *id, const char *zone, const char *tod,
				int64_t dur_ms, int level)
{
	struct sched_item it;

	sched_item_init(&it);
	snprintf(it.id, sizeof(it.id), "%s", id);
	snprintf(it.file, sizeof(it.file), "w.cfg");
	it.line = 1;
	it.times_line = 2;
	it.zones_line = 3;
	snprintf(it.zones[0], SCHED_NAME_MAX, "%s", zone);
	it.nzones = 1;
	it.times[0] = sched_parse_tod(tod);
	it.ntimes = 1;
	it.duration_ms = dur_ms;
	it.level = level;
	memset(it.content, 'a', 64);
	return it;
}

static void run_world(struct sched_set *set, struct sched_site *site, json_t *conflicts,
		      struct sched_msgs *m)
{
	struct sched_node_info nodes[2];
	struct sched_world w;

	memset(nodes, 0, sizeof(nodes));
	strcpy(nodes[0].id, "n1");
	strcpy(nodes[0].zones[0], "thon-1");
	nodes[0].nzones = 1;
	strcpy(nodes[1].id, "n2");
	strcpy(nodes[1].zones[0], "thon-2");
	nodes[1].nzones = 1;
	w.site = site;
	w.nodes = nodes;
	w.nnodes = 2;
	w.hours_from = 0;
	sched_msgs_init(m);
	sched_check_world(set, &w, L("2026-12-01 00:00"), L("2026-12-02 00:00"), m, conflicts);
}

static const char *first_error(struct sched_msgs *m)
{
	const char *s = json_string_value(json_array_get(m->errors, 0));

	return s ? s : "(none)";
}

static json_t *conflict(json_t *conf, const char *first, const char *second)
{
	json_t *c;
	size_t i;

	json_array_foreach(conf, i, c)
		if (strcmp(json_string_value(json_object_get(c, "first")), first) == 0 &&
		    strcmp(json_string_value(json_object_get(c, "second")), second) == 0)
			return c;
	return NULL;
}

static void test_hours_and_conflicts(void)
{
	struct sched_site site;
	struct sched_set set = { NULL, 0, 0 };
	struct sched_item it;
	struct sched_msgs m;
	json_t *conf = json_array(), *c;

	sched_site_defaults(&site);
	strcpy(site.zones[0].name, "thon-1");
	sched_parse_hours("05:00-21:30", &site.zones[0].start_s, &site.zones[0].end_s);
	strcpy(site.zones[1].name, "thon-2");
	sched_parse_hours("22:00-06:00", &site.zones[1].start_s, &site.zones[1].end_s);
	site.nzones = 2;

	/* 21:29 for 2 minutes: runs past 21:30 */
	it = mkitem("late", "thon-1", "21:29", 120000, SCHED_NORMAL);
	sched_set_add(&set, &it);
	run_world(&set, &site, conf, &m);
	/* a warning (issue 16): the apply refuses it unless confirmed */
	CHECK(sched_nerrors(&m) == 0 && m.nhours == 1 &&
	      strcmp(json_string_value(json_array_get(m.warnings, 0)), "w.cfg:2: field "
		     "\"times\": item \"late\" on Tue 2026-12-01 21:29 (playing until 21:31) "
		     "is outside the allowed hours of zone thon-1 (05:00-21:30): move it into "
		     "those hours, or confirm with --outside-hours that it must play then") == 0,
	      "a play running past 21:30 is warned about (%s)",
	      json_string_value(json_array_get(m.warnings, 0)));
	sched_msgs_free(&m);
	set.items[0].times[0] = sched_parse_tod("21:28");
	run_world(&set, &site, conf, &m);
	CHECK(sched_nerrors(&m) == 0 && m.nhours == 0,
	      "21:28 for 2 minutes ends at 21:30: allowed");
	sched_msgs_free(&m);
	set.items[0].times[0] = sched_parse_tod("04:59");
	run_world(&set, &site, conf, &m);
	CHECK(m.nhours == 1, "04:59 is before 05:00: warned");
	sched_msgs_free(&m);
	set.items[0].level = SCHED_EMERGENCY;
	run_world(&set, &site, conf, &m);
	CHECK(sched_nerrors(&m) == 0 && m.nhours == 0, "an emergency may play at 04:59");
	sched_msgs_free(&m);
	sched_set_free(&set);

	/* a span across midnight: 23:59 for 2 min is inside 22:00-06:00 */
	it = mkitem("night", "thon-2", "23:59", 120000, SCHED_NORMAL);
	sched_set_add(&set, &it);
	run_world(&set, &site, conf, &m);
	CHECK(sched_nerrors(&m) == 0 && m.nhours == 0, "22:00-06:00 allows 23:59-00:01 (%s)",
	      first_error(&m));
	sched_msgs_free(&m);
	set.items[0].times[0] = sched_parse_tod("05:59");
	run_world(&set, &site, conf, &m);
	CHECK(m.nhours == 1, "22:00-06:00 warns about 05:59-06:01");
	sched_msgs_free(&m);
	set.items[0].times[0] = sched_parse_tod("12:00");
	run_world(&set, &site, conf, &m);
	CHECK(m.nhours == 1, "22:00-06:00 warns about noon");
	sched_msgs_free(&m);
	sched_set_free(&set);

	/* one play now (POST /v1/broadcasts, /v1/live): its start and end */
	{
		char why[300];

		CHECK(sched_outside_hours(&site, "thon-1", L("2026-12-01 21:29"),
					  L("2026-12-01 21:29"), why, sizeof(why)) == 0,
		      "a play starting at 21:29 in 05:00-21:30 is inside");
		CHECK(sched_outside_hours(&site, "thon-1", L("2026-12-01 21:29"),
					  L("2026-12-01 21:31"), why, sizeof(why)) == 1 &&
		      strstr(why, "zone thon-1 may broadcast only 05:00-21:30") &&
		      strstr(why, "Tue 2026-12-01 21:29 until 21:31"),
		      "a play running past 21:30 is outside (%s)", why);
		CHECK(sched_outside_hours(&site, "thon-2", L("2026-12-01 12:00"),
					  L("2026-12-01 12:00"), why, sizeof(why)) == 1 &&
		      strstr(why, "22:00-06:00") && strstr(why, "would start on Tue 2026-12-01 "
							  "12:00"),
		      "noon is outside 22:00-06:00 (%s)", why);
		CHECK(sched_outside_hours(&site, "thon-2", L("2026-12-01 23:30"),
					  L("2026-12-02 00:30"), why, sizeof(why)) == 0,
		      "23:30 to 00:30 is inside 22:00-06:00");
		CHECK(sched_outside_hours(&site, NULL, L("2026-12-01 03:00"),
					  L("2026-12-01 03:00"), why, sizeof(why)) == 0,
		      "the site's default hours (all day) allow 03:00");
	}
	/* unknown zone and node */
	it = mkitem("x", "thon-9", "08:00", 1000, SCHED_NORMAL);
	strcpy(it.nodes[0], "n9");
	it.nnodes = 1;
	it.nodes_line = 4;
	sched_set_add(&set, &it);
	run_world(&set, &site, conf, &m);
	CHECK(sched_nerrors(&m) == 2 &&
	      strcmp(first_error(&m), "w.cfg:3: field \"zones\": item \"x\": zone \"thon-9\" is "
		     "unknown: it is not declared in controller.cfg (zones) and no node has "
		     "reported it") == 0 &&
	      strcmp(json_string_value(json_array_get(m.errors, 1)),
		     "w.cfg:4: field \"nodes\": item \"x\": no node \"n9\" is known to this "
		     "controller (it has never reported its status)") == 0,
	      "unknown zone and unknown node");
	sched_msgs_free(&m);
	sched_set_free(&set);

	/* conflicts: priority interrupts normal; equal levels queue */
	it = mkitem("evening", "thon-1", "17:00", 300000, SCHED_NORMAL);
	sched_set_add(&set, &it);
	it = mkitem("campaign", "thon-1", "17:02", 60000, SCHED_PRIORITY);
	sched_set_add(&set, &it);
	it = mkitem("notice", "thon-1", "17:02:30", 60000, SCHED_NORMAL);
	sched_set_add(&set, &it);
	json_array_clear(conf);
	run_world(&set, &site, conf, &m);
	CHECK(sched_nerrors(&m) == 0 && json_array_size(conf) == 3,
	      "three overlaps on n1 are conflicts, not errors (%zu)", json_array_size(conf));
	c = conflict(conf, "evening", "campaign");
	CHECK(c && strcmp(json_string_value(json_object_get(c, "winner")), "campaign") == 0 &&
	      strcmp(json_string_value(json_object_get(c, "message")),
		     "\"campaign\" (priority) interrupts \"evening\" (normal): higher level "
		     "wins; \"evening\" is re-queued and starts again at 17:03") == 0,
	      "priority interrupts normal, which is re-queued (%s)",
	      c ? json_string_value(json_object_get(c, "message")) : "-");
	c = conflict(conf, "evening", "notice");
	CHECK(c && strcmp(json_string_value(json_object_get(c, "message")),
			  "\"notice\" (normal) waits for \"evening\" (normal) (same level: first "
			  "come, first played): it starts 2:30 late, at 17:05") == 0 &&
	      json_integer_value(json_object_get(c, "delay_ms")) == 150000,
	      "equal levels queue: the delay is reported (%s)",
	      c ? json_string_value(json_object_get(c, "message")) : "-");
	c = conflict(conf, "campaign", "notice");
	CHECK(c && strcmp(json_string_value(json_object_get(c, "winner")), "campaign") == 0 &&
	      strcmp(json_string_value(json_object_get(c, "message")),
		     "\"notice\" (normal) waits for \"campaign\" (priority) (higher level): it "
		     "starts 0:30 late, at 17:03") == 0,
	      "a lower level waits for a higher one (%s)",
	      c ? json_string_value(json_object_get(c, "message")) : "-");
	sched_msgs_free(&m);
	sched_set_free(&set);

	/* two emergencies on one node: an error */
	it = mkitem("e1", "thon-1", "10:00", 60000, SCHED_EMERGENCY);
	sched_set_add(&set, &it);
	it = mkitem("e2", "thon-1", "10:00:30", 60000, SCHED_EMERGENCY);
	sched_set_add(&set, &it);
	json_array_clear(conf);
	run_world(&set, &site, conf, &m);
	CHECK(sched_nerrors(&m) == 1 &&
	      strcmp(first_error(&m), "w.cfg:2: field \"times\": emergency item \"e2\" overlaps "
		     "emergency item \"e1\" (w.cfg:1) on node n1 at Tue 2026-12-01 10:00:30: two "
		     "emergencies cannot share a node, move one") == 0,
	      "overlapping emergencies are an error (%s)", first_error(&m));
	sched_msgs_free(&m);
	sched_set_free(&set);
	json_decref(conf);
}

static void test_json_roundtrip(void)
{
	struct sched_item a, b;
	json_t *j;

	a = mkitem("rt", "thon-1", "05:30:15", 1234, SCHED_PRIORITY);
	a.text = strdup("Thông báo");
	a.src = SCHED_SRC_TEXT;
	a.from = (struct sched_date){ 2026, 12, 1 };
	a.repeat = 3;
	a.days = 0x22;
	a.chime = SCHED_CHIME_DEFAULT;
	a.chime_ms = 1200;
	j = sched_item_to_json(&a);
	CHECK(j && sched_item_from_json(j, &b) == 0, "an item survives JSON");
	CHECK(strcmp(b.id, "rt") == 0 && b.times[0] == a.times[0] && b.level == SCHED_PRIORITY &&
	      b.repeat == 3 && b.days == 0x22 && b.from.d == 1 && b.until.y == 0 &&
	      strcmp(b.text, "Thông báo") == 0 && b.chime == SCHED_CHIME_DEFAULT &&
	      b.chime_ms == 1200 && b.duration_ms == 1234 && strcmp(b.zones[0], "thon-1") == 0,
	      "every field comes back");
	json_decref(j);
	sched_item_free(&a);
	sched_item_free(&b);
	CHECK(sched_item_from_json(json_null(), &b) == -EINVAL, "garbage is refused");
	sched_item_free(&b);
}

static void test_chime(void)
{
	char path[256];
	uint8_t *buf = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/chime.wav", dir);
	CHECK(sched_write_chime_wav(path) == 0, "the default chime is written");
	CHECK(read_file(path, 1 << 20, &buf, &len) == 0 && len == 44 + 48000 * 2 * 12 / 10 &&
	      memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WAVEfmt ", 8) == 0,
	      "a 1.2 s 16-bit mono 48 kHz WAV (%zu bytes)", len);
	free(buf);
}

/* errs from one sched_parse_text() */
static int parse_sent(const char *label, const char *text, size_t len, json_t *audio,
		      struct sched_set *set)
{
	struct sched_msgs m;
	size_t i;
	json_t *v;
	int rc;

	sched_msgs_init(&m);
	rc = sched_parse_text(label, text, len, audio, SCHED_DEFAULT_MAX_FILE_BYTES, set, &m);
	errs[0] = '\0';
	json_array_foreach(m.errors, i, v) {
		strncat(errs, json_string_value(v), sizeof(errs) - strlen(errs) - 2);
		strcat(errs, "\n");
	}
	sched_msgs_free(&m);
	return rc;
}

/*
 * The controller parses what the client sent and opens nothing (issue 17):
 * audio files are known by the SHA-256 the client gave; a name not in the
 * map, an @include, a NUL byte are refused, and the label is only a label.
 */
static void test_sent_text(void)
{
	struct sched_set set = { NULL, 0, 0 };
	const char *good = "items = ( { id = \"a\"; content = \"audio/a.wav\"; zones = "
			   "[\"all\"]; times = \"05:30\"; chime = \"/abs/chime.wav\"; } );\n";
	const char *h1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *h2 = "2222222222222222222222222222222222222222222222222222222222222222";
	char text[512], inc[300];
	json_t *audio;
	int rc;

	audio = json_pack("{s:{s:s}, s:{s:s}}", "audio/a.wav", "sha256", h1, "/abs/chime.wav",
			  "sha256", h2);
	rc = parse_sent("/etc/loaxa/controller.key", good, strlen(good), audio, &set);
	CHECK(rc == 0 && set.n == 1 && strcmp(set.items[0].source, h1) == 0 &&
	      set.items[0].chime == SCHED_CHIME_FILE && strcmp(set.items[0].chime_file, h2) == 0,
	      "content and chime files are the hashes sent; a label that looks like a path is "
	      "never opened (%s)", errs);
	CHECK(set.n == 1 && strcmp(set.items[0].file, "/etc/loaxa/controller.key") == 0,
	      "... and names the item's file in messages");
	sched_set_free(&set);
	memset(&set, 0, sizeof(set));
	json_decref(audio);

	audio = json_pack("{s:{s:s}}", "audio/a.wav", "sha256", h1);
	rc = parse_sent("week.cfg", good, strlen(good), audio, &set);
	CHECK(rc == -EINVAL && set.n == 0 &&
	      has("week.cfg:1: field \"chime\": the file \"/abs/chime.wav\" was not sent with "
		  "the schedule: the controller reads no files itself"),
	      "an audio file not in the map is an error at its line, never looked for");
	json_decref(audio);

	audio = json_pack("{s:{s:s, s:s}, s:{s:s, s:s}}", "audio/a.wav", "error", "missing",
			  "looked_for", "/home/op/audio/a.wav", "/abs/chime.wav", "error",
			  "unreadable", "detail", "Permission denied");
	rc = parse_sent("week.cfg", good, strlen(good), audio, &set);
	CHECK(rc == -EINVAL &&
	      has("week.cfg:1: field \"content\": the file \"audio/a.wav\" does not exist "
		  "(looked for /home/op/audio/a.wav)") &&
	      has("week.cfg:1: field \"chime\": the file \"/abs/chime.wav\" cannot be read: "
		  "Permission denied"),
	      "what the client could not read is reported at the file's line");
	json_decref(audio);

	audio = json_pack("{s:{s:s}, s:{s:s}}", "audio/a.wav", "sha256", "../../etc/passwd",
			  "/abs/chime.wav", "error", "not_a_file");
	rc = parse_sent("week.cfg", good, strlen(good), audio, &set);
	CHECK(rc == -EINVAL &&
	      has("week.cfg:1: field \"content\": the description sent for the file "
		  "\"audio/a.wav\" is not valid") &&
	      has("week.cfg:1: field \"chime\": \"/abs/chime.wav\" is not a file"),
	      "a \"hash\" that is not 64 hex digits is refused");
	json_decref(audio);

	/* libconfig would read the file an @include names: never handed to it */
	snprintf(inc, sizeof(inc), "%s/inc.cfg", dir);
	write_file("inc.cfg", "items = ( { id = \"secret\"; text = \"x\"; zones = [\"all\"]; "
		   "times = \"05:30\"; } );\n");
	snprintf(text, sizeof(text), "# a schedule\n  @include \"%s\"\n", inc);
	rc = parse_sent("week.cfg", text, strlen(text), NULL, &set);
	CHECK(rc == -EINVAL && set.n == 0 && !strstr(errs, "secret") &&
	      has("week.cfg:2: a line starting with '@' (@include) is not allowed"),
	      "an @include line is refused before libconfig sees it (%s)", errs);
	CHECK(sched_text_include_line("a = \"@x\";\n\t @include \"y\"\n", 23) == 2 &&
	      sched_text_include_line("a = 1; # @include \"y\"\n", 23) == 0 &&
	      sched_text_include_line("@", 1) == 1, "sched_text_include_line finds the line");
	rc = parse_sent("week.cfg", "items = ( );\n\0x", 15, NULL, &set);
	/* issue 16: the message names the line */
	CHECK(rc == -EINVAL && has("week.cfg:2: the file holds a NUL byte (a zero byte) on "
				   "line 2") && has("save the file again as UTF-8 text"),
	      "a NUL byte is refused, naming its line (%s)", errs);
	/* a UTF-8 byte-order mark (Windows Notepad) is skipped, lines unchanged */
	{
		const char *bt = "\xef\xbb\xbfitems = ( { id = \"a\"; text = \"x\";\n"
				 "zones = [\"all\"]; times = [\"25:00\"]; } );\n";

		rc = parse_sent("week.cfg", bt, strlen(bt), NULL, &set);
	}
	CHECK(rc == -EINVAL && has("week.cfg:2: field \"times\"") && !has("syntax error"),
	      "a file with a byte-order mark is parsed, lines as written (%s)", errs);
	CHECK(sched_text_bom("\xef\xbb\xbfx", 4) == 3 && sched_text_bom("\xef\xbb", 2) == 0 &&
	      sched_text_bom("items", 5) == 0, "sched_text_bom");
	CHECK(sched_text_nul_line("a\nb\n\0", 5) == 3 && sched_text_nul_line("abc", 3) == 0,
	      "sched_text_nul_line");
	{
		/* the size limit holds for the text sent, whatever the client checked */
		char *big = malloc(5000);
		struct sched_msgs m;

		if (!big)
			exit(2);
		memset(big, '#', 5000);
		sched_msgs_init(&m);
		rc = sched_parse_text("big.cfg", big, 5000, NULL, 4096, &set, &m);
		CHECK(rc == -EINVAL && sched_nerrors(&m) == 1 &&
		      strcmp(json_string_value(json_array_get(m.errors, 0)),
			     "big.cfg: the file is 5000 bytes, over the limit of 4096 bytes for a "
			     "schedule file (schedule.max_file_bytes in controller.cfg): split it "
			     "into several files") == 0,
		      "a text over the limit is refused by the parser too, naming the label");
		sched_msgs_free(&m);
		free(big);
	}
	sched_set_free(&set);
}

/* schedule.max_file_bytes: refused before libconfig parses it, naming file and limit */
static void test_size_limit(void)
{
	struct sched_set set = { NULL, 0, 0 };
	struct sched_msgs m;
	char path[256], *big;
	const char *head = "items = ( { id = \"a\"; text = \"x\"; zones = [\"all\"]; "
			   "times = \"05:30\"; } );\n";
	size_t limit = 4096, n;
	int rc;

	big = malloc(limit + 2);
	if (!big)
		exit(2);
	/* just under: the item and comment lines up to limit - 1 bytes */
	n = strlen(head);
	memcpy(big, head, n);
	memset(big + n, '#', limit - 1 - n - 1);
	big[limit - 2] = '\n';
	big[limit - 1] = '\0';
	write_file("under.cfg", big);
	snprintf(path, sizeof(path), "%s/under.cfg", dir);
	sched_msgs_init(&m);
	rc = parse_file_max(path, "under.cfg", (int64_t)limit, &set, &m);
	CHECK(rc == 0 && set.n == 1, "a file of limit - 1 bytes is parsed (%s)",
	      json_string_value(json_array_get(m.errors, 0)));
	sched_msgs_free(&m);
	sched_set_free(&set);
	memset(&set, 0, sizeof(set));
	/* one byte over */
	big[limit - 1] = '\n';
	big[limit] = '\n';
	big[limit + 1] = '\0';
	write_file("over.cfg", big);
	snprintf(path, sizeof(path), "%s/over.cfg", dir);
	sched_msgs_init(&m);
	rc = parse_file_max(path, "over.cfg", (int64_t)limit, &set, &m);
	CHECK(rc == -EINVAL && set.n == 0 && sched_nerrors(&m) == 1 &&
	      strcmp(json_string_value(json_array_get(m.errors, 0)),
		     "over.cfg: the file is 4097 bytes, over the limit of 4096 bytes for a "
		     "schedule file (schedule.max_file_bytes in controller.cfg): split it into "
		     "several files") == 0,
	      "a file of limit + 1 bytes is refused, naming the file, its size and the limit "
	      "(%s)", json_string_value(json_array_get(m.errors, 0)));
	sched_msgs_free(&m);
	/* the default limit (1 MiB) */
	sched_msgs_init(&m);
	rc = parse_file_max(path, "over.cfg", SCHED_DEFAULT_MAX_FILE_BYTES, &set, &m);
	CHECK(rc == 0 && set.n == 1, "the same file is within the default 1 MiB");
	sched_msgs_free(&m);
	sched_set_free(&set);
	/* an empty file still parses (from memory, not the file) */
	memset(&set, 0, sizeof(set));
	write_file("empty.cfg", "");
	snprintf(path, sizeof(path), "%s/empty.cfg", dir);
	sched_msgs_init(&m);
	rc = parse_file_max(path, "empty.cfg", (int64_t)limit, &set, &m);
	CHECK(set.n == 0, "an empty file gives no items (rc %d)", rc);
	sched_msgs_free(&m);
	sched_set_free(&set);
	/*
	 * A file longer than its stat said (a file that grew; /proc files say
	 * 0 bytes): read in growing steps, up to the limit and one byte more.
	 */
	memset(&set, 0, sizeof(set));
	sched_msgs_init(&m);
	rc = parse_file_max("/proc/self/status", "status", 64, &set, &m);
	CHECK(rc == -EINVAL && sched_nerrors(&m) == 1 &&
	      strcmp(json_string_value(json_array_get(m.errors, 0)),
		     "status: the file is 65 bytes, over the limit of 64 bytes for a schedule "
		     "file (schedule.max_file_bytes in controller.cfg): split it into several "
		     "files") == 0,
	      "a file that is longer than its stat said is read up to the limit + 1 and "
	      "refused (%s)", json_string_value(json_array_get(m.errors, 0)));
	sched_msgs_free(&m);
	sched_msgs_init(&m);
	rc = parse_file_max("/proc/self/status", "status", 1 << 20, &set, &m);
	CHECK(rc == -EINVAL && sched_nerrors(&m) >= 1 &&
	      strstr(json_string_value(json_array_get(m.errors, 0)), "status:1:") != NULL,
	      "... and read whole under a larger limit: a syntax error at line 1 (%s)",
	      json_string_value(json_array_get(m.errors, 0)));
	sched_msgs_free(&m);
	sched_set_free(&set);
	free(big);
}

int main(void)
{
	char cmd[128];

	setenv("TZ", "Asia/Ho_Chi_Minh", 1);
	tzset();
	strcpy(dir, "/tmp/loaxa-test-sched-XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	test_parse_errors();
	test_parse_good();
	test_relay();
	test_dates();
	test_expand();
	test_site();
	test_hours_and_conflicts();
	test_json_roundtrip();
	test_chime();
	test_size_limit();
	test_sent_text();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
