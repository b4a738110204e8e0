/*
 * test_plans.c - controller/scheduler.c, schedjobs.c and schedapi.c without
 * a broker: apply through the API handler (content ids, so no import worker), the per-node plans it
 * publishes (caught by mqtt.publish_hook, opened with the node's own
 * envelope_open), stability (no new plan when nothing changed), a change
 * (new plan, higher sequence, same occurrence ids for what stayed), a plan
 * too large for one message (cut, and still stable), results of plays from
 * node events, cancel, and the all-or-nothing rule.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctl.h"
#include "db.h"
#include "envelope.h"
#include "mqtt.h"
#include "schedapi.h"
#include "schedjobs.h"
#include "scheduler.h"
#include "ctlfixture.h"
#include "tap.h"
#include "testclock.h"
#include "util.h"

static char dir[64];
static struct ctl c;
static struct verifier ver;
static char content_id[65];
static char played_occ[128];
static int64_t played_at;

/* the last plan published per node */
static struct {
	char node[32];
	uint8_t *buf;
	size_t len;
	int count;
	int retain;
} sent[4];

static int hook(void *arg, enum ctl_conn_kind kind, const char *topic, const void *payload,
		size_t len, int qos, int retain)
{
	const char *p = strstr(topic, "/node/");
	char node[32] = "";
	int i;

	(void)arg;
	(void)kind;
	(void)qos;
	if (!p || !strstr(topic, "/plan"))
		return 0;
	snprintf(node, sizeof(node), "%.*s", (int)(strstr(p + 6, "/") - (p + 6)), p + 6);
	for (i = 0; i < 4; i++)
		if (!sent[i].node[0] || strcmp(sent[i].node, node) == 0)
			break;
	if (i == 4)
		return 0;
	snprintf(sent[i].node, sizeof(sent[i].node), "%s", node);
	free(sent[i].buf);
	sent[i].buf = malloc(len);
	memcpy(sent[i].buf, payload, len);
	sent[i].len = len;
	sent[i].count++;
	sent[i].retain = retain;
	return 0;
}

static int sent_count(const char *node)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(sent[i].node, node) == 0)
			return sent[i].count;
	return 0;
}

/* The node's view: open the last plan of node; NULL when none or invalid. */
static json_t *plan_of(const char *node, uint64_t *seq, int64_t *expires)
{
	struct envelope env;
	struct verifier v = ver; /* fresh sequences each time */
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(sent[i].node, node) == 0)
			break;
	if (i == 4)
		return NULL;
	memset(v.keys[0].seq, 0, sizeof(v.keys[0].seq));
	if (envelope_open(&v, sent[i].buf, sent[i].len, now_ms(), &env) != ENV_OK ||
	    env.type != ENV_PLAN)
		return NULL;
	if (seq)
		*seq = env.seq;
	if (expires)
		*expires = env.expires_at;
	return json_loadb((const char *)env.body, env.body_len, 0, NULL);
}

static const char *arg_none(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return NULL;
}

struct qargs {
	const char *date;
	const char *node;
};

static const char *arg_q(void *ctx, const char *key)
{
	struct qargs *q = ctx;

	if (strcmp(key, "date") == 0)
		return q->date;
	if (strcmp(key, "node") == 0)
		return q->node;
	return NULL;
}

/* The state `loaxa schedule list` shows for occurrence occ on n1. */
static char state_buf[32];
static const char *state_of(const char *occ, int64_t at)
{
	struct sched_date d = sched_local_date(at);
	char date[16];
	struct qargs q = { date, "n1" };
	struct ctl_sched_http h = { .method = "GET", .url = "/v1/schedule", .arg = arg_q,
				    .arg_ctx = &q };
	json_t *r = NULL, *o;
	unsigned st = 0;
	size_t i;

	snprintf(date, sizeof(date), "%04d-%02d-%02d", d.y, d.m, d.d);
	snprintf(state_buf, sizeof(state_buf), "(not listed)");
	ctl_sched_http(&c, &h, &st, &r);
	json_array_foreach(json_object_get(r, "occurrences"), i, o)
		if (strcmp(json_string_value(json_object_get(o, "occurrence")), occ) == 0)
			snprintf(state_buf, sizeof(state_buf), "%s",
				 json_string_value(json_object_get(o, "state")));
	json_decref(r);
	return state_buf;
}

/* Whether the plan's JSON text contains s. */
static int plan_has(json_t *plan, const char *s)
{
	char *text = plan ? json_dumps(plan, JSON_COMPACT) : NULL;
	int r = text && strstr(text, s) != NULL;

	free(text);
	return r;
}

/* POST a JSON body to a schedules endpoint; returns the HTTP status. */
static unsigned post(const char *url, const char *body, json_t **reply)
{
	struct ctl_sched_http h = {
		.method = "POST", .url = url, .body = body, .body_len = strlen(body),
		.arg = arg_none,
	};
	unsigned status = 0;

	*reply = NULL;
	if (ctl_sched_http(&c, &h, &status, reply) != 0)
		return 0; /* would wait for imports: not in these tests */
	return status;
}

/*
 * The body `loaxa schedule check|apply` sends for files on disk (the
 * controller reads none of them itself): {"files":[{"name","text","audio"}]}
 * with names[i] as the label (the path when NULL). malloc'd.
 */
static char *files_body(size_t n, const char *const *paths, const char *const *names)
{
	json_t *files = json_array(), *body;
	char *out;
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t *text = NULL;
		size_t len = 0;

		if (read_file(paths[i], 64 << 20, &text, &len) < 0)
			exit(2);
		json_array_append_new(files, json_pack("{s:s, s:s%, s:o}", "name",
						       names[i] ? names[i] : paths[i], "text",
						       (const char *)text, len, "audio",
						       sched_audio_map((const char *)text, len, dir,
								       NULL)));
		free(text);
	}
	body = json_pack("{s:o}", "files", files);
	out = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!out)
		exit(2);
	return out;
}

static unsigned apply_text(const char *text, json_t **reply)
{
	char path[128], *body;
	const char *paths[1] = { path }, *names[1] = { "week.cfg" };
	unsigned status;

	snprintf(path, sizeof(path), "%s/week.cfg", dir);
	write_file_atomic(path, text, strlen(text), 0644);
	body = files_body(1, paths, names);
	status = post("/v1/schedule/apply", body, reply);
	free(body);
	return status;
}

static void setup(void)
{
	char path[PATH_MAX + 80];
	char zones[1][CTL_NAME_MAX] = { "thon-1" };
	char zones2[1][CTL_NAME_MAX] = { "thon-2" };
	struct ctl_content_row row;

	strcpy(dir, "/tmp/loaxa-test-plans-XXXXXX");
	if (!mkdtemp(dir))
		exit(2);
	ctl_config_defaults(&c.cfg);
	strcpy(c.cfg.site, "xa-test");
	snprintf(c.cfg.state_dir, sizeof(c.cfg.state_dir), "%s", dir);
	snprintf(c.content_dir, sizeof(c.content_dir), "%s/content", dir);
	snprintf(c.tmp_dir, sizeof(c.tmp_dir), "%s", dir);
	/* the line-in a relay names (controller.cfg: capture = { vov = "hw:1"; }) */
	strcpy(c.cfg.capture.dev[0].name, "vov");
	strcpy(c.cfg.capture.dev[0].pcm, "hw:1");
	c.cfg.capture.n = 1;
	mkdir(c.content_dir, 0700);
	ctl_fixture(&c, &ver, hook);

	/* a stored content (any bytes: the plan only names it) */
	memset(content_id, 'c', 64);
	content_id[64] = '\0';
	snprintf(path, sizeof(path), "%s/%s.opus", c.content_dir, content_id);
	write_file_atomic(path, "x", 1, 0644);
	memset(&row, 0, sizeof(row));
	snprintf(row.id, sizeof(row.id), "%s", content_id);
	snprintf(row.title, sizeof(row.title), "t");
	row.duration_ms = 20000;
	row.bytes = 1;
	row.created = now_ms();
	ctl_db_content_add(&c.db, &row, NULL);
	ctl_db_node_set_status(&c.db, "n1", 1, 1, "0.1.0", now_ms(), zones, 1, "{}");
	ctl_db_node_set_status(&c.db, "n2", 1, 1, "0.1.0", now_ms(), zones2, 1, "{}");
	if (ctl_sched_start(&c) < 0)
		exit(2);
}

/*
 * How many plays of "05:30 and 17:00, repeat 2" a plan generated at gen
 * with horizon hz carries, counted independently of sched_expand(): every
 * series start of the days around the window, kept when it lies in
 * [gen - expires, hz). Local days come from mktime (TZ is the site's).
 */
static size_t expected_plays(int64_t gen, int64_t hz, int64_t spacing)
{
	static const int tods[] = { 5 * 3600 + 30 * 60, 17 * 3600 };
	time_t t0 = (time_t)((gen - 600000) / 1000) - 86400;
	struct tm tm;
	size_t n = 0;
	int d, i, k;

	for (d = 0; d < 10; d++) {
		time_t day = t0 + (time_t)d * 86400;

		localtime_r(&day, &tm);
		for (i = 0; i < 2; i++)
			for (k = 0; k < 2; k++) {
				struct tm at = tm;
				int64_t ms;

				at.tm_hour = tods[i] / 3600;
				at.tm_min = tods[i] / 60 % 60;
				at.tm_sec = 0;
				at.tm_isdst = -1;
				ms = (int64_t)mktime(&at) * 1000 + k * spacing;
				if (ms >= gen - 600000 && ms < hz)
					n++;
			}
	}
	return n;
}

/* at(k=2) - at(k=1) of the first series whose two plays the plan holds */
static int64_t series_spacing(json_t *items)
{
	size_t i, j;
	json_t *a, *b;

	json_array_foreach(items, i, a) {
		const char *ia = json_string_value(json_object_get(a, "id"));
		size_t la = ia ? strlen(ia) : 0;

		if (la < 2 || strcmp(ia + la - 2, "-1") != 0)
			continue;
		json_array_foreach(items, j, b) {
			const char *ib = json_string_value(json_object_get(b, "id"));

			if (ib && strlen(ib) == la && strncmp(ia, ib, la - 1) == 0 &&
			    ib[la - 1] == '2')
				return json_integer_value(json_object_get(b, "at")) -
				       json_integer_value(json_object_get(a, "at"));
		}
	}
	return 0;
}

static int items_within(json_t *items, int64_t from, int64_t to)
{
	int64_t prev = 0;
	size_t i;
	json_t *it;

	json_array_foreach(items, i, it) {
		int64_t at = json_integer_value(json_object_get(it, "at"));

		if (at < from || at >= to || at < prev)
			return 0;
		prev = at;
	}
	return 1;
}

static const char *first_at_0530(json_t *plan)
{
	size_t i;
	json_t *it;

	json_array_foreach(json_object_get(plan, "items"), i, it) {
		const char *id = json_string_value(json_object_get(it, "id"));

		if (id && strstr(id, "-0530-"))
			return id;
	}
	return "(none)";
}

static void test_apply_and_plans(void)
{
	char text[2048];
	json_t *reply = NULL, *plan, *items;
	uint64_t seq1 = 0, seq2 = 0;
	int64_t exp1 = 0;
	unsigned status;
	int before;

	CHECK(ctl_sched_replan(&c, 0) == 0 && sent_count("n1") == 0,
	      "nothing planned yet: no plan is sent");
	snprintf(text, sizeof(text),
		 "items = (\n"
		 "  { id = \"sang\"; title = \"Chương trình sáng\"; content = \"%s\";\n"
		 "    zones = [\"thon-1\"]; times = [\"05:30\", \"17:00\"]; repeat = 2; }\n"
		 ");\n", content_id);
	status = apply_text(text, &reply);
	CHECK(status == 200 && json_is_true(json_object_get(reply, "ok")),
	      "apply answers 200 ok (%u)", status);
	json_decref(reply);
	plan = plan_of("n1", &seq1, &exp1);
	CHECK(plan != NULL, "n1's plan is published, signed, and opens like a node opens it");
	items = json_object_get(plan, "items");
	{
		int64_t gen = json_integer_value(json_object_get(plan, "generated"));
		int64_t hz = json_integer_value(json_object_get(plan, "horizon"));
		size_t want = expected_plays(gen, hz, series_spacing(items));

		/*
		 * 7 days x 2 times x 2 repeats = 28, plus the plays of a series
		 * that began less than expires (10 min) ago: 30 at 17:03, when
		 * today's 17:00 pair is still playable and the window ends at
		 * 17:03 seven days on.
		 */
		CHECK(want >= 28 && want <= 32 && json_array_size(items) == want,
		      "at %s: 7 days x 2 times x 2 repeats, and what began less than 10 min ago: "
		      "%zu plays (%zu)", testclock_describe(), want, json_array_size(items));
		CHECK(items_within(items, gen - 600000, hz),
		      "every play lies in [generated - expires, horizon), in time order");
	}
	CHECK(exp1 == json_integer_value(json_object_get(plan, "horizon")) &&
	      json_integer_value(json_object_get(plan, "horizon")) -
			      json_integer_value(json_object_get(plan, "generated")) ==
		      7LL * 86400 * 1000,
	      "envelope expiry = horizon = generated + 7 days");
	CHECK(sent[0].retain == 1, "published retained");
	CHECK(sent_count("n2") == 0, "n2 (thon-2) gets no plan");
	json_decref(plan);

	before = sent_count("n1");
	CHECK(ctl_sched_replan(&c, 0) == 0 && sent_count("n1") == before,
	      "re-planning with nothing changed sends nothing");
	status = apply_text(text, &reply);
	json_decref(reply);
	CHECK(status == 200 && sent_count("n1") == before,
	      "applying the same file again sends nothing");

	/* a change: another time; the 05:30 plays keep their ids */
	plan = plan_of("n1", NULL, NULL);
	{
		char first[128];

		/* the first 05:30 play: 05:30 stays in the changed file */
		snprintf(first, sizeof(first), "%s", first_at_0530(plan));
		json_decref(plan);
		snprintf(text, sizeof(text),
			 "items = (\n"
			 "  { id = \"sang\"; title = \"Chương trình sáng\"; content = \"%s\";\n"
			 "    zones = [\"thon-1\"]; times = [\"05:30\", \"18:00\"]; repeat = 2; }\n"
			 ");\n", content_id);
		status = apply_text(text, &reply);
		json_decref(reply);
		plan = plan_of("n1", &seq2, NULL);
		CHECK(status == 200 && seq2 > seq1, "a changed schedule: a new plan, higher "
		      "sequence");
		CHECK(plan_has(plan, first),
		      "a play that stayed keeps its occurrence id (%s)", first);
		json_decref(plan);
	}

	/* all or nothing: a bad second file changes nothing */
	before = sent_count("n1");
	{
		char path[128], week[128], *body;
		const char *paths[2] = { week, path }, *names[2] = { NULL, "bad.cfg" };

		snprintf(path, sizeof(path), "%s/bad.cfg", dir);
		snprintf(week, sizeof(week), "%s/week.cfg", dir);
		write_file_atomic(path, "items = ( { id = \"x\"; times = [\"25:00\"]; } );\n", 44,
				  0644);
		body = files_body(2, paths, names);
		status = post("/v1/schedule/apply", body, &reply);
		free(body);
		CHECK(status == 422 && json_is_false(json_object_get(reply, "ok")) &&
		      strstr(json_string_value(json_array_get(json_object_get(reply, "errors"), 0)),
			     "bad.cfg:1: field") != NULL,
		      "apply with a bad file: 422 and the error names bad.cfg:1");
		json_decref(reply);
		CHECK(sent_count("n1") == before, "... and no new plan");
	}
}

/* The late answers of requests parsed in a worker thread. */
struct late {
	int calls;
	unsigned status;
	json_t *reply;
};

static void late_done(void *ctx, unsigned status, json_t *reply)
{
	struct late *l = ctx;

	l->calls++;
	l->status = status;
	json_decref(l->reply);
	l->reply = reply;
}

static int late_post(const char *url, const char *body, struct late *l, unsigned *status,
		     json_t **reply)
{
	struct ctl_sched_http h = {
		.method = "POST", .url = url, .body = body, .body_len = strlen(body),
		.arg = arg_none, .done = late_done, .done_ctx = l,
	};

	*reply = NULL;
	return ctl_sched_http(&c, &h, status, reply);
}

/* Run the loop's part until every late answer came (5 s at most). */
static int drain(struct late *ls, int n)
{
	struct pollfd pfd;
	int64_t end = mono_ms() + 5000;
	int i, all;

	if (ctl_sched_pollfd(&c, &pfd) != 1)
		return -1;
	for (;;) {
		for (i = 0, all = 1; i < n; i++)
			all &= ls[i].calls > 0;
		if (all)
			return 0;
		if (mono_ms() > end)
			return -1;
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) > 0)
			ctl_sched_handle(&c, &pfd);
	}
}

static void test_parse_thread(void)
{
	struct late l[3];
	char path[128], week[128], *body, *text;
	const char *paths[1] = { week }, *names[1] = { "week.cfg" };
	json_t *reply = NULL;
	unsigned status = 0;
	size_t size = 256 * 1024, head;
	int rc;

	memset(l, 0, sizeof(l));
	snprintf(week, sizeof(week), "%s/week.cfg", dir);
	body = files_body(1, paths, names);
	rc = late_post("/v1/schedule/check", body, &l[0], &status, &reply);
	free(body);
	CHECK(rc == 1 && !reply && l[0].calls == 0,
	      "a check with a late answer: parsed in a worker thread, answered later");
	CHECK(drain(l, 1) == 0 && l[0].calls == 1 && l[0].status == 200 &&
	      json_is_true(json_object_get(l[0].reply, "ok")) &&
	      json_array_size(json_object_get(l[0].reply, "items")) > 0,
	      "... answered once by ctl_sched_handle: 200, ok, with its items");
	json_decref(l[0].reply);
	memset(l, 0, sizeof(l));

	/* a file that takes a while: two parses run, the third is refused */
	text = malloc(size);
	if (!text) {
		CHECK(0, "out of memory");
		return;
	}
	head = (size_t)snprintf(text, size, "items = ( );\n");
	memset(text + head, '#', size - head - 1);
	text[size - 1] = '\n';
	snprintf(path, sizeof(path), "%s/big.cfg", dir);
	write_file_atomic(path, text, size, 0644);
	free(text);
	paths[0] = path;
	body = files_body(1, paths, (const char *const[]){ NULL });
	rc = late_post("/v1/schedule/check", body, &l[0], &status, &reply);
	rc += late_post("/v1/schedule/check", body, &l[1], &status, &reply);
	CHECK(rc == 2, "two checks of a 256 KiB file parse at once");
	rc = late_post("/v1/schedule/check", body, &l[2], &status, &reply);
	free(body);
	CHECK(rc == 0 && status == 503 && reply &&
	      strstr(json_string_value(json_object_get(reply, "error")), "try again"),
	      "... a third meanwhile is refused: 503, try again");
	json_decref(reply);
	CHECK(drain(l, 2) == 0 && l[0].status == 200 && l[1].status == 200 &&
	      json_is_true(json_object_get(l[0].reply, "ok")) && l[2].calls == 0,
	      "... the two are answered, ok; the refused one never");
	json_decref(l[0].reply);
	json_decref(l[1].reply);
}

/*
 * Schedule files come as text (issue 17): a request naming a path is
 * refused without the file being opened; audio the controller lacks is
 * asked for ("upload"), and once an upload of those bytes is recorded
 * (POST /v1/content does it) the same request applies; the files applied
 * are stored as sent.
 */
static void test_sent_files(void)
{
	const char *audio_hash = "abababababababababababababababababababababababababababababababab";
	char body[1024], *text;
	json_t *reply = NULL, *up;
	unsigned status;
	sqlite3_stmt *st = NULL;

	status = post("/v1/schedule/check", "{\"files\":[{\"path\":\"/etc/shadow\","
		      "\"name\":\"x.cfg\"}]}", &reply);
	text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	CHECK(status == 400 && text && strstr(text, "entry 1 gives a path: the controller reads "
					     "no schedule file itself") &&
	      !strstr(text, "root") && !strstr(text, "syntax") && !strstr(text, "shadow"),
	      "a request naming a path is refused with 400, saying nothing of the file (%s)",
	      text);
	free(text);
	json_decref(reply);
	status = post("/v1/schedule/apply", "{\"files\":[\"/var/lib/loaxa/keys/controller.key\"]}",
		      &reply);
	CHECK(status == 400 && strstr(json_string_value(json_object_get(reply, "error")),
				      "gives a path"), "... also as a plain string");
	json_decref(reply);
	status = post("/v1/schedule/check", "{\"files\":[{\"name\":\"x.cfg\"}]}", &reply);
	CHECK(status == 400 && strstr(json_string_value(json_object_get(reply, "error")),
				      "needs \"text\""), "an entry without text: 400");
	json_decref(reply);

	snprintf(body, sizeof(body), "{\"files\":[{\"name\":\"up.cfg\",\"text\":\"items = ( "
		 "{ id = \\\"up\\\"; content = \\\"a.mp3\\\"; music = true; zones = "
		 "[\\\"thon-1\\\"]; times = [\\\"05:30\\\"]; } );\",\"audio\":{\"a.mp3\":"
		 "{\"sha256\":\"%s\"}}}]}", audio_hash);
	status = post("/v1/schedule/check", body, &reply);
	up = json_array_get(json_object_get(reply, "upload"), 0);
	CHECK(status == 200 && json_is_false(json_object_get(reply, "ok")) &&
	      json_array_size(json_object_get(reply, "upload")) == 1 &&
	      strcmp(json_string_value(json_object_get(up, "sha256")), audio_hash) == 0 &&
	      json_is_true(json_object_get(up, "music")) &&
	      json_integer_value(json_object_get(json_array_get(json_object_get(up, "refs"), 0),
						 "line")) == 1 &&
	      strstr(json_string_value(json_array_get(json_object_get(reply, "errors"), 0)),
		     "up.cfg:1: field \"content\": the controller does not have this audio file "
		     "yet"),
	      "audio the controller lacks is asked for, with the file and line that name it");
	json_decref(reply);
	CHECK(ctl_sched_source_record(&c, audio_hash, 0, content_id) == 0,
	      "an upload of those bytes as speech is recorded");
	status = post("/v1/schedule/check", body, &reply);
	CHECK(status == 200 && json_array_size(json_object_get(reply, "upload")) == 1,
	      "... but the item wants music: still asked for (other settings, other content)");
	json_decref(reply);
	CHECK(ctl_sched_source_record(&c, audio_hash, 1, content_id) == 0,
	      "an upload as music is recorded");
	status = post("/v1/schedule/check", body, &reply);
	CHECK(status == 200 && json_is_true(json_object_get(reply, "ok")) &&
	      !json_object_get(reply, "upload"), "... and the check passes (%s)",
	      json_string_value(json_array_get(json_object_get(reply, "errors"), 0)));
	json_decref(reply);

	/* an apply stores the files as sent; the next apply replaces them */
	status = post("/v1/schedule/apply", body, &reply);
	CHECK(status == 200, "the file applies");
	json_decref(reply);
	if (sqlite3_prepare_v2(c.db.h, "SELECT pos, name, text, audio FROM sched_files", -1,
			       &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		CHECK(sqlite3_column_int(st, 0) == 1 &&
		      strcmp((const char *)sqlite3_column_text(st, 1), "up.cfg") == 0 &&
		      strncmp((const char *)sqlite3_column_text(st, 2), "items = ( { id = \"up\"",
			      20) == 0 &&
		      strstr((const char *)sqlite3_column_text(st, 3), audio_hash) != NULL &&
		      sqlite3_step(st) == SQLITE_DONE,
		      "the applied file is stored: its name, text and audio map");
	} else {
		CHECK(0, "the applied file is stored");
	}
	sqlite3_finalize(st);
}

static void test_results_and_cancel(void)
{
	json_t *plan = plan_of("n1", NULL, NULL), *reply;
	const char *occ = json_string_value(json_object_get(
		json_array_get(json_object_get(plan, "items"), 0), "id"));
	char ev[512], body[256];
	unsigned status;
	int before;

	snprintf(ev, sizeof(ev), "{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":"
		 "\"play_finished\",\"ts\":1,\"occurrence\":\"%s\",\"start\":5,"
		 "\"scheduled\":%lld,\"duration_ms\":20000,\"end\":\"finished\"}", occ,
		 (long long)json_integer_value(json_object_get(json_array_get(
			 json_object_get(plan, "items"), 0), "at")));
	ctl_sched_on_event(&c, "n1", ev, strlen(ev));
	snprintf(ev, sizeof(ev), "{\"id\":\"n1-1-0\",\"node\":\"n1\",\"boot\":1,\"type\":"
		 "\"play_started\",\"ts\":1,\"occurrence\":\"%s\",\"start\":5}", occ);
	ctl_sched_on_event(&c, "n1", ev, strlen(ev));
	snprintf(played_occ, sizeof(played_occ), "%s", occ);
	played_at = json_integer_value(json_object_get(json_array_get(json_object_get(plan,
								"items"), 0), "at"));
	CHECK(strcmp(state_of(occ, json_integer_value(json_object_get(
		json_array_get(json_object_get(plan, "items"), 0), "at"))), "played") == 0,
	      "play_finished with the occurrence marks it played; a late play_started "
	      "does not move it back");
	json_decref(plan);

	/* cancel one play: a new plan without it */
	before = sent_count("n1");
	plan = plan_of("n1", NULL, NULL);
	occ = json_string_value(json_object_get(json_array_get(json_object_get(plan, "items"), 1),
						"id"));
	snprintf(body, sizeof(body), "{\"id\":\"%s\"}", occ);
	status = post("/v1/cancel", body, &reply);
	json_decref(reply);
	{
		char id[128];
		int64_t at = json_integer_value(json_object_get(json_array_get(
			json_object_get(plan, "items"), 1), "at"));

		snprintf(id, sizeof(id), "\"%s\"", occ);
		json_decref(plan);
		plan = plan_of("n1", NULL, NULL);
		CHECK(status == 200 && sent_count("n1") == before + 1 && !plan_has(plan, id),
		      "cancel of one play: a new plan without it");
		id[strlen(id) - 1] = '\0';
		CHECK(strcmp(state_of(id + 1, at), "cancelled") == 0,
		      "list shows it cancelled (%s)", state_buf);
	}
	json_decref(plan);
	status = post("/v1/cancel", "{\"id\":\"sang\"}", &reply);
	CHECK(status == 400 && strstr(json_string_value(json_object_get(reply, "error")),
				      "remove it from its file") != NULL,
	      "a schedule item is not cancelled by id (edit its file)");
	json_decref(reply);
	status = post("/v1/cancel", "{\"id\":\"nothing\"}", &reply);
	CHECK(status == 404, "an unknown id: 404");
	json_decref(reply);
}

static void test_too_large(void)
{
	char text[4096], times[2048] = "";
	json_t *reply = NULL, *plan;
	int64_t expires = 0;
	int i, before;

	/* 48 times a day x 20 repeats x 7 days = 6720 plays: too many for one plan */
	for (i = 0; i < 48; i++) {
		size_t l = strlen(times);

		snprintf(times + l, sizeof(times) - l, "%s\"%02d:%02d\"", i ? ", " : "", i / 2,
			 (i % 2) * 30);
	}
	snprintf(text, sizeof(text),
		 "items = (\n"
		 "  { id = \"dense\"; content = \"%s\"; nodes = [\"n2\"]; times = [%s];\n"
		 "    repeat = 20; gap_s = 0; }\n"
		 ");\n", content_id, times);
	CHECK(apply_text(text, &reply) == 200, "a dense schedule applies");
	json_decref(reply);
	plan = plan_of("n2", NULL, &expires);
	CHECK(plan && json_array_size(json_object_get(plan, "items")) <= 2000 &&
	      json_array_size(json_object_get(plan, "items")) > 100 &&
	      sent[1].len <= ENVELOPE_DEFAULT_MAX,
	      "the plan is cut to fit one message (%zu plays, %zu bytes)",
	      json_array_size(json_object_get(plan, "items")), sent[1].len);
	CHECK(plan && expires == json_integer_value(json_object_get(plan, "horizon")) &&
	      expires < json_integer_value(json_object_get(plan, "generated")) + 86400000LL * 7,
	      "its horizon ends at the first play left out");
	json_decref(plan);
	before = sent_count("n2");
	CHECK(ctl_sched_replan(&c, 0) == 0 && sent_count("n2") == before,
	      "a cut plan is stable: no new plan on the next round");
	CHECK(strcmp(state_of(played_occ, played_at), "played") == 0,
	      "a play reported before its item left the schedule is still listed played (%s)",
	      state_buf);
}

static void test_relay_plan(void)
{
	json_t *reply = NULL, *plan, *it;
	const char *err;
	unsigned status;
	char text[512];

	snprintf(text, sizeof(text),
		 "items = (\n"
		 "  { id = \"vov\"; source = \"alsa:vov\"; length_min = 30; nodes = [\"n1\"];\n"
		 "    times = [\"06:00\"]; level = \"relay\"; }\n"
		 ");\n");
	CHECK(apply_text(text, &reply) == 200, "a relay item applies");
	json_decref(reply);
	plan = plan_of("n1", NULL, NULL);
	it = json_array_get(json_object_get(plan, "items"), 0);
	CHECK(it && strcmp(json_string_value(json_object_get(it, "source")), "alsa:vov") == 0 &&
	      json_integer_value(json_object_get(it, "until")) -
			      json_integer_value(json_object_get(it, "at")) == 30 * 60000 &&
	      !json_object_get(it, "content") &&
	      strcmp(json_string_value(json_object_get(it, "level")), "relay") == 0,
	      "a relay goes into the plan with source and until, no content");
	json_decref(plan);

	/* an ALSA string, not a name of controller.cfg: refused, file:line */
	snprintf(text, sizeof(text),
		 "items = (\n"
		 "  { id = \"vov2\"; source = \"alsa:file:'|touch %s/pwned'\";\n"
		 "    length_min = 30; nodes = [\"n1\"]; times = [\"07:00\"]; level = \"relay\"; }\n"
		 ");\n", dir);
	reply = NULL;
	status = apply_text(text, &reply);
	err = json_string_value(json_array_get(json_object_get(reply, "errors"), 0));
	CHECK(status != 200 && err &&
	      strstr(err, "week.cfg:2: field \"source\": item \"vov2\": \"file:'|touch ") &&
	      strstr(err, "is not a capture device named in controller.cfg (capture = { ... }); "
		     "known: vov"),
	      "a relay of an ALSA string is refused with file:line, field source (%s)",
	      err ? err : "no error");
	json_decref(reply);
}

/*
 * A district: 300 nodes in 15 zones, a week of 6 items each. How long one
 * full re-plan takes (signing and storing 300 plans), and that the check
 * that follows sends nothing.
 */
static void test_district(void)
{
	char text[2048], zones[1][CTL_NAME_MAX], node[32];
	json_t *reply = NULL;
	int64_t t0, t1, t2;
	int i, published;

	for (i = 0; i < 300; i++) {
		snprintf(node, sizeof(node), "d%03d", i);
		snprintf(zones[0], CTL_NAME_MAX, "thon-%d", i % 15);
		ctl_db_node_set_status(&c.db, node, 1, 1, "0.1.0", now_ms(), zones, 1, "{}");
	}
	snprintf(text, sizeof(text),
		 "items = (\n"
		 "  { id = \"sang\"; content = \"%s\"; zones = [\"all\"]; times = [\"05:30\"]; },\n"
		 "  { id = \"chieu\"; content = \"%s\"; zones = [\"all\"]; times = [\"17:00\"];\n"
		 "    days = \"weekdays\"; },\n"
		 "  { id = \"tb1\"; content = \"%s\"; zones = [\"thon-1\", \"thon-2\"];\n"
		 "    times = [\"06:15\", \"18:00\"]; repeat = 3; },\n"
		 "  { id = \"tb2\"; content = \"%s\"; zones = [\"thon-3\"]; times = [\"07:00\"]; },\n"
		 "  { id = \"cd\"; content = \"%s\"; zones = [\"all\"]; times = [\"11:30\"]; repeat = 2; },\n"
		 "  { id = \"relay\"; source = \"alsa:vov\"; length_min = 60; zones = [\"all\"];\n"
		 "    times = [\"19:00\"]; level = \"relay\"; }\n"
		 ");\n", content_id, content_id, content_id, content_id, content_id);
	t0 = mono_ms();
	CHECK(apply_text(text, &reply) == 200, "a district schedule applies (%s)",
	      json_string_value(json_array_get(json_object_get(reply, "errors"), 0)));
	json_decref(reply);
	t1 = mono_ms();
	published = ctl_sched_replan(&c, 0);
	t2 = mono_ms();
	printf("# district: apply + 300 plans signed and stored in %lld ms; the next "
	       "check in %lld ms\n", (long long)(t1 - t0), (long long)(t2 - t1));
	CHECK(published == 0, "after the apply, the next re-plan round sends nothing");
	CHECK(t2 - t1 < 5000, "a re-plan round over 300 nodes takes under 5 s (%lld ms)",
	      (long long)(t2 - t1));
}

int main(void)
{
	char cmd[128];

	setup();
	test_apply_and_plans();
	test_results_and_cancel();
	test_too_large();
	test_relay_plan();
	test_district();
	test_parse_thread();
	test_sent_files();
	ctl_sched_stop(&c);
	ctl_db_close(&c.db);
	for (int i = 0; i < 4; i++)
		free(sent[i].buf);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
