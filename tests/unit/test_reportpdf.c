/*
 * test_reportpdf.c - the printable monthly report without a broker: the
 * document built from the database (bulletins aired, their kinds, dates in
 * Vietnam time, titles kept as data), the PDF laid out from it (valid, A4,
 * page breaks, long titles cut, hostile titles harmless), and the worker
 * thread (answer through the eventfd, one render at a time).
 *
 * What the PDF shows against the database is checked by
 * tests/integration/report_pdf.sh with pdftotext and pdftoppm.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "ctlfixture.h"
#include "healthapi.h"
#include "log.h"
#include "reportpdf.h"
#include "tap.h"
#include "testclock.h"
#include "util.h"

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

/* 2026-11-01 00:00:00 in Vietnam (UTC+7) */
#define NOV1 1793466000000LL
#define DAY 86400000LL
#define HOUR 3600000LL

static int seq;

static void store(const char *node, const char *type, const char *occ, int64_t at,
		  const char *title, const char *level, int drill, int64_t dur)
{
	struct ctl_event ev;
	int upd = 0;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "%s-1-%d", node, ++seq);
	snprintf(ev.node, sizeof(ev.node), "%s", node);
	snprintf(ev.type, sizeof(ev.type), "%s", type);
	snprintf(ev.occurrence, sizeof(ev.occurrence), "%s", occ);
	snprintf(ev.title, sizeof(ev.title), "%s", title);
	snprintf(ev.level, sizeof(ev.level), "%s", level);
	ev.drill = drill;
	ev.boot = 1;
	ev.ts = at + dur;
	ev.start = at;
	ev.scheduled = at;
	ev.duration_ms = dur;
	ev.plan_seq = -1;
	ev.error_ms = -1;
	ctl_db_event_store(&c.db, &ev, at + dur + 1000, &upd);
}

static void setup(void)
{
	char zones[1][CTL_NAME_MAX];
	static const char *const nodes[3][2] = {
		{ "thon-dong", "{\"label\":\"Thôn Đông – nhà văn hóa\"}" },
		{ "thon-tay", "{\"label\":\"Thôn Tây (chợ Đình)\"}" },
		{ "xom-moi", "{}" },
	};
	int i;

	setenv("TZ", "Asia/Ho_Chi_Minh", 1);
	tzset();
	testclock_set_ms(NOV1 + 34 * DAY + 8 * HOUR); /* 5 Dec 2026 08:00 */
	strcpy(dir, "/tmp/loaxa-test-reportpdf-XXXXXX");
	if (!mkdtemp(dir))
		exit(2);
	ctl_config_defaults(&c.cfg);
	strcpy(c.cfg.site, "xa-test");
	snprintf(c.cfg.commune, sizeof(c.cfg.commune), "Xã Tân Lập");
	snprintf(c.cfg.state_dir, sizeof(c.cfg.state_dir), "%s", dir);
	ctl_fixture(&c, &ver, hook);
	for (i = 0; i < 3; i++) {
		snprintf(zones[0], sizeof(zones[0]), "%s", nodes[i][0]);
		ctl_db_node_set_status(&c.db, nodes[i][0], 1, 1, "0.1.0", now_ms(), zones, 1,
				       nodes[i][1]);
	}
}

static const json_t *find_bulletin(const json_t *doc, const char *date, const char *tod)
{
	const json_t *b;
	size_t i;

	json_array_foreach(json_object_get(doc, "bulletins"), i, b)
		if (strcmp(json_string_value(json_object_get(b, "date")), date) == 0 &&
		    strcmp(json_string_value(json_object_get(b, "time")), tod) == 0)
			return b;
	return NULL;
}

static const char *bs(const json_t *b, const char *k)
{
	const char *s = json_string_value(json_object_get(b, k));

	return s ? s : "(none)";
}

static void test_doc(void)
{
	static const char hostile[] = "%s%n%x <b>đậm</b> &amp; \x01\ttab\nnewline \xff\xfe";
	const json_t *b;
	json_t *doc;
	char err[200];
	int d;

	/* the same occurrence aired in two clusters: one bulletin, both named */
	for (d = 0; d < 30; d++) {
		char occ[32];

		snprintf(occ, sizeof(occ), "o-sang-%d", d + 1);
		store("thon-dong", "play_finished", occ, NOV1 + d * DAY + 5 * HOUR + 30 * 60000,
		      "Chương trình thời sự buổi sáng", "normal", 0, 900000);
		store("thon-tay", "play_finished", occ, NOV1 + d * DAY + 5 * HOUR + 30 * 60000 + 40,
		      "Chương trình thời sự buổi sáng", "normal", 0, 900000);
	}
	store("thon-dong", "play_finished", "e-bao-so-3", NOV1 + 13 * DAY + 14 * HOUR + 120000,
	      "Cảnh báo bão số 3", "emergency", 0, 60000);
	store("thon-tay", "play_finished", "e-dien-tap", NOV1 + 19 * DAY + 9 * HOUR,
	      "Diễn tập phòng cháy", "emergency", 1, 45000);
	/* failed only: counted in the table, not listed as aired */
	store("xom-moi", "play_failed", "o-x-1", NOV1 + 2 * DAY + 6 * HOUR, "Không tới", "normal",
	      0, 0);
	store("xom-moi", "play_finished", "o-hostile", NOV1 + 3 * DAY + 7 * HOUR, hostile,
	      "normal", 0, 30000);
	/* just outside November, local time: 31 Oct 23:59:59 and 1 Dec 00:00:00 */
	store("thon-dong", "play_finished", "o-truoc", NOV1 - 1000, "Tháng trước", "normal", 0,
	      1000);
	store("thon-dong", "play_finished", "o-sau", NOV1 + 30 * DAY, "Tháng sau", "normal", 0,
	      1000);

	CHECK(ctl_report_doc(&c, "2026-13", err, sizeof(err)) == NULL && strstr(err, "YYYY"),
	      "a month 2026-13 is refused, naming the form (%s)", err);
	doc = ctl_report_doc(&c, "2026-11", err, sizeof(err));
	CHECK(doc != NULL, "the document of November 2026 is built (%s)", doc ? "" : err);
	if (!doc)
		return;
	CHECK(strcmp(bs(doc, "commune"), "Xã Tân Lập") == 0 &&
	      strcmp(bs(doc, "first_day"), "01/11/2026") == 0 &&
	      strcmp(bs(doc, "last_day"), "30/11/2026") == 0 &&
	      strcmp(bs(doc, "generated"), "05/12/2026 08:00") == 0,
	      "commune from the config, the month's first and last day and the date made, in "
	      "Vietnam time (%s, %s-%s, %s)", bs(doc, "commune"), bs(doc, "first_day"),
	      bs(doc, "last_day"), bs(doc, "generated"));
	CHECK(json_integer_value(json_object_get(doc, "bulletins_total")) == 33 &&
	      json_array_size(json_object_get(doc, "bulletins")) == 33,
	      "33 bulletins aired: 30 mornings (two clusters each, listed once), the storm "
	      "warning, the drill, one more; not the failed one nor those outside (%zu)",
	      json_array_size(json_object_get(doc, "bulletins")));
	b = find_bulletin(doc, "01/11/2026", "05:30:00");
	CHECK(b && strcmp(bs(b, "clusters"), "thon-dong, thon-tay") == 0 &&
	      strcmp(bs(b, "kind"), "normal") == 0,
	      "a bulletin aired in two clusters names both, at its first start (%s)",
	      b ? bs(b, "clusters") : "missing");
	b = find_bulletin(doc, "14/11/2026", "14:02:00");
	CHECK(b && strcmp(bs(b, "title"), "Cảnh báo bão số 3") == 0 &&
	      strcmp(bs(b, "kind"), "emergency") == 0, "the storm warning: 14/11/2026 14:02:00, "
	      "an emergency");
	b = find_bulletin(doc, "20/11/2026", "09:00:00");
	CHECK(b && strcmp(bs(b, "kind"), "drill") == 0, "the drill is listed as a drill");
	b = find_bulletin(doc, "04/11/2026", "07:00:00");
	CHECK(b && strncmp(bs(b, "title"), "%s%n%x <b>", 10) == 0,
	      "an operator's title is kept as it was typed (format and markup characters)");
	CHECK(json_array_size(json_object_get(doc, "clusters")) == 3,
	      "the table has the three clusters");
	json_decref(doc);
}

/* "%PDF-" ... "%%EOF" */
static int pdf_valid(const char *pdf, size_t len)
{
	return pdf && len > 1000 && memcmp(pdf, "%PDF-1.", 7) == 0 &&
	       memmem(pdf + len - 16, 16, "%%EOF", 5) != NULL;
}

static json_t *synthetic(int n, size_t title_len, const char *title_unit)
{
	json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[], s:[], s:I}",
				"month", "2026-11", "commune", "Xã Tân Lập", "site", "xa-test",
				"timezone", "Asia/Ho_Chi_Minh", "first_day", "01/11/2026",
				"last_day", "30/11/2026", "generated", "05/12/2026 08:00",
				"generated_day", "ngày 05 tháng 12 năm 2026", "clusters",
				"bulletins", "bulletins_total", (json_int_t)n);
	json_t *list = json_object_get(doc, "bulletins");
	char *title = malloc(title_len + 8);
	size_t ul = strlen(title_unit), k = 0;
	int i;

	while (k + ul <= title_len) {
		memcpy(title + k, title_unit, ul);
		k += ul;
	}
	title[k] = '\0';
	for (i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "date",
						      "01/11/2026", "time", "05:30:00", "title",
						      title, "kind", "normal", "clusters",
						      "thon-dong, thon-tay"));
	free(title);
	return doc;
}

static void test_render(void)
{
	char err[200], *pdf = NULL;
	size_t len = 0;
	int pages = 0, p_short = 0, p_long = 0, p_huge = 0, rc;
	json_t *doc = ctl_report_doc(&c, "2026-11", err, sizeof(err));
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = report_pdf_render(doc, &pdf, &len, &pages, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &b);
	CHECK(rc == 0 && pdf_valid(pdf, len) && pages >= 2,
	      "November renders as a PDF of %d pages, %zu bytes, in %.0f ms", pages, len,
	      (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	CHECK(pdf && memmem(pdf, len, "/MediaBox [ 0 0 595.276 841.89 ]", 32) != NULL,
	      "the pages are A4 (595.28 x 841.89 pt)");
	CHECK(pdf && memmem(pdf, len, "DejaVuSans", 10) != NULL,
	      "the DejaVu Sans font (Vietnamese marks) is embedded");
	free(pdf);
	json_decref(doc);

	/* nothing at all: one page that says so */
	doc = synthetic(0, 0, "x");
	rc = report_pdf_render(doc, &pdf, &len, &pages, err, sizeof(err));
	CHECK(rc == 0 && pdf_valid(pdf, len) && pages == 1,
	      "a month with no cluster and no bulletin is one page (%d)", pages);
	free(pdf);
	json_decref(doc);

	/* a long list breaks across pages; a huge title is cut at three lines */
	doc = synthetic(200, 10, "Bản tin ");
	rc = report_pdf_render(doc, &pdf, &len, &p_short, err, sizeof(err));
	free(pdf);
	json_decref(doc);
	doc = synthetic(200, 400, "Thông báo ");
	rc |= report_pdf_render(doc, &pdf, &len, &p_long, err, sizeof(err));
	free(pdf);
	json_decref(doc);
	doc = synthetic(200, 20000, "Thông báo ");
	rc |= report_pdf_render(doc, &pdf, &len, &p_huge, err, sizeof(err));
	CHECK(rc == 0 && pdf_valid(pdf, len), "200 bulletins of 20000-byte titles render");
	free(pdf);
	json_decref(doc);
	CHECK(p_short >= 4 && p_long > p_short && p_huge == p_long,
	      "200 short bulletins take %d pages; titles of 400 bytes (three lines) %d; of "
	      "20000 bytes the same %d: a title stops at three lines", p_short, p_long, p_huge);

	/* the cap: more bulletins than listed are counted in a line */
	doc = synthetic(3, 10, "x");
	json_object_set_new(doc, "bulletins_total", json_integer(9000));
	rc = report_pdf_render(doc, &pdf, &len, &pages, err, sizeof(err));
	CHECK(rc == 0 && pdf_valid(pdf, len), "a list cut at the cap renders");
	free(pdf);
	json_decref(doc);
}

static int done_calls, done_rc;
static size_t done_len;

static void done(void *ctx, int rc, char *pdf, size_t len, const char *err)
{
	(void)ctx;
	(void)err;
	done_calls++;
	done_rc = rc;
	done_len = pdf_valid(pdf, len) ? len : 0;
	free(pdf);
}

static void test_worker(void)
{
	struct pollfd pfd;
	char err[200];
	int rc, n, waited = 0;

	rc = ctl_report_pdf_submit(&c, ctl_report_doc(&c, "2026-11", err, sizeof(err)), done,
				   NULL);
	CHECK(rc == 0, "a render starts in the worker (%d)", rc);
	CHECK(ctl_report_pdf_submit(&c, ctl_report_doc(&c, "2026-11", err, sizeof(err)), done,
				    NULL) == -EBUSY,
	      "a second one while it runs is refused (-EBUSY), its document freed");
	n = ctl_report_pdf_pollfd(&c, &pfd);
	CHECK(n == 1, "the loop polls the worker's eventfd");
	while (n == 1 && done_calls == 0 && waited < 60) {
		if (poll(&pfd, 1, 1000) > 0)
			ctl_report_pdf_handle(&c, &pfd);
		waited++;
	}
	CHECK(done_calls == 1 && done_rc == 0 && done_len > 0,
	      "the PDF comes back on the loop through the eventfd (%zu bytes)", done_len);
	CHECK(ctl_report_pdf_pollfd(&c, &pfd) == 0, "nothing to poll once it is answered");
	/* stopping with a render running answers it before freeing */
	rc = ctl_report_pdf_submit(&c, ctl_report_doc(&c, "2026-11", err, sizeof(err)), done,
				   NULL);
	ctl_report_pdf_stop(&c);
	CHECK(rc == 0 && done_calls == 2 && c.report == NULL,
	      "stopping waits for the running render and answers it");
}

int main(void)
{
	char cmd[128];

	log_init("test_reportpdf", 0);
	setup();
	test_doc();
	test_render();
	test_worker();
	ctl_db_close(&c.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
