/*
 * reportpdf.c - see reportpdf.h.
 */
#include "reportpdf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cairo.h>
#include <cairo-pdf.h>
#include <fontconfig/fontconfig.h>
#include <pango/pangocairo.h>
#include <sqlite3.h>

#include "ctl.h"
#include "healthapi.h"
#include "log.h"
#include "wallclock.h"

/* ------------------------------------------------------------ the document */

static void local_fmt(int64_t ms, const char *fmt, char *out, size_t outlen)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!localtime_r(&s, &tm) || strftime(out, outlen, fmt, &tm) == 0)
		snprintf(out, outlen, "?");
}

static int add_bulletins(struct ctl *c, json_t *doc, int64_t from, int64_t to)
{
	/*
	 * A bulletin is what the report counts as one play: an occurrence of a
	 * schedule item, a broadcast or an emergency (coalesce(occurrence,
	 * broadcast, id), as in ctl_health_report), taken in the month by the
	 * same time. It is listed when it aired in at least one cluster: a
	 * play_finished there, or an emergency that started. kn first folds
	 * each bulletin's events per node, so the node list needs no
	 * correlated subquery (months have tens of thousands of events).
	 */
	static const char sql[] =
		"WITH a AS (SELECT node, coalesce(occurrence, broadcast, id) AS k, "
		"  coalesce(start, scheduled, ts) AS t, title, content, level, drill, type "
		"  FROM events WHERE type IN ('play_finished', 'emergency_started') "
		"  AND coalesce(scheduled, start, ts) >= ?1 AND coalesce(scheduled, start, ts) < ?2), "
		"kn AS (SELECT k, node, min(t) AS t, max(title) AS title, max(content) AS content, "
		"  max(drill) AS drill, max(level = 'emergency' OR type = 'emergency_started') AS em "
		"  FROM a GROUP BY k, node ORDER BY k, node), "
		"b AS (SELECT k, min(t) AS t, max(title) AS title, max(content) AS content, "
		"  max(drill) AS drill, max(em) AS em, group_concat(node, ', ') AS nodes "
		"  FROM kn GROUP BY k) "
		"SELECT t, coalesce(title, (SELECT c.title FROM content c WHERE c.id = b.content), "
		"  ''), drill, em, nodes, (SELECT count(*) FROM b) "
		"FROM b ORDER BY t, k LIMIT ?3";
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();
	json_int_t total = 0;
	int rc;

	if (!list)
		return -ENOMEM;
	if (ctl_db_prep(&c->db, &st, sql, "cannot prepare the report's bulletin list") < 0) {
		json_decref(list);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	sqlite3_bind_int(st, 3, REPORT_PDF_MAX_BULLETINS);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t t = sqlite3_column_int64(st, 0);
		const char *title = (const char *)sqlite3_column_text(st, 1);
		const char *nodes = (const char *)sqlite3_column_text(st, 4);
		const char *kind = sqlite3_column_int(st, 2) ? "drill"
				   : sqlite3_column_int(st, 3) ? "emergency" : "normal";
		char date[32], tod[32];
		/* JSON strings must be UTF-8; a title in the database need not be
		 * (a node's event, an old backup): U+FFFD where it is not */
		gchar *vt = g_utf8_make_valid(title ? title : "", -1);

		local_fmt(t, "%d/%m/%Y", date, sizeof(date));
		local_fmt(t, "%H:%M:%S", tod, sizeof(tod));
		total = sqlite3_column_int64(st, 5);
		if (json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:s}", "date",
							  date, "time", tod, "title", vt,
							  "kind", kind, "clusters",
							  nodes ? nodes : "")) < 0)
			rc = SQLITE_NOMEM;
		g_free(vt);
		if (rc == SQLITE_NOMEM)
			break;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		ctl_db_fail(&c->db, "the report's bulletin list failed");
		json_decref(list);
		return -EIO;
	}
	json_object_set_new(doc, "bulletins", list);
	json_object_set_new(doc, "bulletins_total", json_integer(total));
	return 0;
}

json_t *ctl_report_doc(struct ctl *c, const char *month, char *err, size_t errlen)
{
	json_t *doc = ctl_health_report(c, month, err, errlen);
	int64_t from, to;
	char first[32], last[32], made[32], day[32];

	if (!doc)
		return NULL;
	from = json_integer_value(json_object_get(doc, "from"));
	to = json_integer_value(json_object_get(doc, "to"));
	local_fmt(from, "%d/%m/%Y", first, sizeof(first));
	local_fmt(to - 1, "%d/%m/%Y", last, sizeof(last));
	local_fmt(now_ms(), "%d/%m/%Y %H:%M", made, sizeof(made));
	local_fmt(now_ms(), "ngày %d tháng %m năm %Y", day, sizeof(day));
	if (add_bulletins(c, doc, from, to) < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		json_decref(doc);
		return NULL;
	}
	json_object_set_new(doc, "commune", json_string(c->cfg.commune[0] ? c->cfg.commune
						       : c->cfg.site));
	json_object_set_new(doc, "site", json_string(c->cfg.site));
	json_object_set_new(doc, "timezone", json_string(c->cfg.sched.timezone));
	json_object_set_new(doc, "first_day", json_string(first));
	json_object_set_new(doc, "last_day", json_string(last));
	json_object_set_new(doc, "generated", json_string(made));
	json_object_set_new(doc, "generated_day", json_string(day));
	return doc;
}

/* ------------------------------------------------------------ the layout */

#define PAGE_W 595.276   /* A4 in points */
#define PAGE_H 841.890
#define M_LEFT 51.0      /* 18 mm: room for a binder */
#define M_RIGHT 42.5     /* 15 mm */
#define M_TOP 42.5
#define FOOT_Y (PAGE_H - 34.0)
#define BODY_END (PAGE_H - 56.7) /* rows end 20 mm above the edge, over the footer */
#define TEXT_W (PAGE_W - M_LEFT - M_RIGHT)
#define PAD_X 3.0
#define PAD_Y 2.5
/* fonts-dejavu-core: every Vietnamese letter and its stacked marks */
#define FAMILY "DejaVu Sans"

enum { AL_LEFT, AL_RIGHT, AL_CENTER };

struct pdf {
	cairo_surface_t *surf;
	cairo_t *cr;
	PangoFontMap *fm;
	PangoContext *pctx;
	PangoLayout *lay;
	PangoFontDescription *f_body, *f_bold, *f_small, *f_head, *f_title, *f_sub;
	double y;
	int page;          /* 1-based, the one being drawn */
	int pages_total;   /* 0 in the first pass: the footer says only "Trang N" */
	char footer[512];
	const json_t *doc;
};

/*
 * Text from the database as Pango may take it: valid UTF-8 (bad bytes
 * become U+FFFD) and no control characters (a newline or tab in a title
 * would break the table's row). Plain text: Pango never parses it. At most
 * max characters (0: all): Pango shapes a whole paragraph before it cuts it
 * with an ellipsis, and a 20000-byte title in each of 5000 rows would take
 * minutes.
 */
static char *clean(const char *s, size_t max)
{
	gchar *v = g_utf8_make_valid(s ? s : "", -1);
	GString *o = g_string_sized_new(strlen(v) + 1);
	const gchar *p;
	size_t n = 0;

	for (p = v; *p && (max == 0 || n < max); p = g_utf8_next_char(p), n++) {
		gunichar ch = g_utf8_get_char(p);

		if (g_unichar_iscntrl(ch) || ch == 0x2028 || ch == 0x2029)
			g_string_append_c(o, ' ');
		else
			g_string_append_unichar(o, ch);
	}
	g_free(v);
	return g_string_free(o, FALSE);
}

/*
 * Lay s out in a box w wide at (x, y); draw it when draw. At most
 * max_lines lines (0: no limit), the last cut with "…". Returns the height.
 */
static double text(struct pdf *p, double x, double y, double w, const char *s,
		   const PangoFontDescription *f, int align, int max_lines, int draw)
{
	/* a line of the widest cell holds fewer than 100 characters */
	char *t = clean(s, max_lines > 0 ? (size_t)max_lines * 100 : 0);
	int pw, ph;

	pango_layout_set_font_description(p->lay, f);
	pango_layout_set_width(p->lay, (int)(w * PANGO_SCALE));
	pango_layout_set_wrap(p->lay, PANGO_WRAP_WORD_CHAR);
	pango_layout_set_ellipsize(p->lay, max_lines > 0 ? PANGO_ELLIPSIZE_END
						       : PANGO_ELLIPSIZE_NONE);
	pango_layout_set_height(p->lay, max_lines > 0 ? -max_lines : -1);
	pango_layout_set_alignment(p->lay, align == AL_RIGHT ? PANGO_ALIGN_RIGHT
					   : align == AL_CENTER ? PANGO_ALIGN_CENTER
					   : PANGO_ALIGN_LEFT);
	pango_layout_set_text(p->lay, t, -1);
	g_free(t);
	pango_layout_get_size(p->lay, &pw, &ph);
	if (draw) {
		cairo_move_to(p->cr, x, y);
		pango_cairo_show_layout(p->cr, p->lay);
	}
	return (double)ph / PANGO_SCALE;
}

static void gray(struct pdf *p, double level)
{
	cairo_set_source_rgb(p->cr, level, level, level);
}

static void footer(struct pdf *p)
{
	char pg[64];

	if (p->pages_total > 0)
		snprintf(pg, sizeof(pg), "Trang %d/%d", p->page, p->pages_total);
	else
		snprintf(pg, sizeof(pg), "Trang %d", p->page);
	gray(p, 0.35);
	cairo_set_line_width(p->cr, 0.4);
	cairo_move_to(p->cr, M_LEFT, FOOT_Y - 3);
	cairo_line_to(p->cr, PAGE_W - M_RIGHT, FOOT_Y - 3);
	cairo_stroke(p->cr);
	text(p, M_LEFT, FOOT_Y, TEXT_W * 0.75, p->footer, p->f_small, AL_LEFT, 1, 1);
	text(p, M_LEFT, FOOT_Y, TEXT_W, pg, p->f_small, AL_RIGHT, 1, 1);
	gray(p, 0);
}

static void new_page(struct pdf *p)
{
	footer(p);
	cairo_show_page(p->cr);
	p->page++;
	p->y = M_TOP;
}

/* ------------------------------------------------------------ tables */

struct col {
	const char *head;
	double w;
	int align;
};

struct cell {
	const char *a;                  /* first line(s) */
	const PangoFontDescription *fa;
	const char *b;                  /* below it, smaller (or NULL) */
	int max_lines;
};

struct table {
	const struct col *cols;
	int n;
};

static double cell_h(struct pdf *p, const struct col *col, const struct cell *c, double x,
		     double y, int draw)
{
	double w = col->w - 2 * PAD_X;
	double h = text(p, x + PAD_X, y + PAD_Y, w, c->a ? c->a : "", c->fa, col->align,
			c->max_lines, draw);

	if (c->b && c->b[0]) {
		if (draw)
			gray(p, 0.3);
		h += text(p, x + PAD_X, y + PAD_Y + h, w, c->b, p->f_sub, col->align,
			  c->max_lines, draw);
		if (draw)
			gray(p, 0);
	}
	return h;
}

/* One row: measured, moved to a new page (headings again) when it does not fit. */
static void table_row(struct pdf *p, const struct table *t, const struct cell *cells,
		      double shade, int is_head);

static void table_head(struct pdf *p, const struct table *t)
{
	struct cell cells[16];
	int i;

	for (i = 0; i < t->n && i < 16; i++)
		cells[i] = (struct cell){ t->cols[i].head, p->f_bold, NULL, 3 };
	table_row(p, t, cells, 0.88, 1);
}

static void table_row(struct pdf *p, const struct table *t, const struct cell *cells,
		      double shade, int is_head)
{
	double h = 0, x = M_LEFT;
	int i;

	for (i = 0; i < t->n; i++) {
		double ch = cell_h(p, &t->cols[i], &cells[i], 0, 0, 0);

		if (ch > h)
			h = ch;
	}
	h += 2 * PAD_Y;
	if (p->y + h > BODY_END) {
		new_page(p);
		if (!is_head)
			table_head(p, t);
	}
	if (shade < 1.0) {
		gray(p, shade);
		cairo_rectangle(p->cr, M_LEFT, p->y, TEXT_W, h);
		cairo_fill(p->cr);
		gray(p, 0);
	}
	for (i = 0; i < t->n; i++) {
		cell_h(p, &t->cols[i], &cells[i], x, p->y, 1);
		x += t->cols[i].w;
	}
	/* the grid: the row's box and its column rules */
	cairo_set_line_width(p->cr, 0.5);
	cairo_rectangle(p->cr, M_LEFT, p->y, TEXT_W, h);
	for (i = 1, x = M_LEFT; i < t->n; i++) {
		x += t->cols[i - 1].w;
		cairo_move_to(p->cr, x, p->y);
		cairo_line_to(p->cr, x, p->y + h);
	}
	cairo_stroke(p->cr);
	p->y += h;
}

/* A paragraph across the text width; a new page first when it does not fit. */
static void para(struct pdf *p, const char *s, const PangoFontDescription *f, int align,
		 double after)
{
	double h = text(p, M_LEFT, p->y, TEXT_W, s, f, align, 0, 0);

	if (p->y + h > BODY_END)
		new_page(p);
	text(p, M_LEFT, p->y, TEXT_W, s, f, align, 0, 1);
	p->y += h + after;
}

/* ------------------------------------------------------------ the report */

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static json_int_t jint(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static void hms(json_int_t ms, char *out, size_t outlen)
{
	long long s = (long long)((ms + 500) / 1000);

	snprintf(out, outlen, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

/* 95,2 % : Vietnamese writes a decimal comma. */
static void ratio(json_int_t played, json_int_t scheduled, char *out, size_t outlen)
{
	long long permille;

	if (scheduled <= 0) {
		snprintf(out, outlen, "–");
		return;
	}
	permille = (long long)((played * 1000 + scheduled / 2) / scheduled);
	snprintf(out, outlen, "%lld,%lld %%", permille / 10, permille % 10);
}

static void heading(struct pdf *p)
{
	const json_t *d = p->doc;
	char *up = g_utf8_strup(jstr(d, "commune"), -1);
	char buf[600], mon[8] = "", yr[8] = "";
	const char *month = jstr(d, "month");
	double left_w = TEXT_W * 0.42, h1, h2;

	if (strlen(month) == 7) {
		memcpy(yr, month, 4);
		yr[4] = '\0';
		memcpy(mon, month + 5, 2);
		mon[2] = '\0';
	}
	/* the heading of an administrative document: the body on the left,
	 * the national name and motto on the right */
	snprintf(buf, sizeof(buf), "UBND %s", up);
	g_free(up);
	h1 = text(p, M_LEFT, p->y, left_w, buf, p->f_body, AL_CENTER, 2, 1);
	h1 += text(p, M_LEFT, p->y + h1, left_w, "ĐÀI TRUYỀN THANH", p->f_bold, AL_CENTER, 1,
		   1);
	h2 = text(p, M_LEFT + left_w, p->y, TEXT_W - left_w,
		  "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", p->f_bold, AL_CENTER, 1, 1);
	h2 += text(p, M_LEFT + left_w, p->y + h2, TEXT_W - left_w,
		   "Độc lập – Tự do – Hạnh phúc", p->f_bold, AL_CENTER, 1, 1);
	cairo_set_line_width(p->cr, 0.6);
	cairo_move_to(p->cr, M_LEFT + left_w + (TEXT_W - left_w) / 2 - 70, p->y + h2 + 2);
	cairo_line_to(p->cr, M_LEFT + left_w + (TEXT_W - left_w) / 2 + 70, p->y + h2 + 2);
	cairo_stroke(p->cr);
	p->y += (h1 > h2 ? h1 : h2) + 22;

	para(p, "BÁO CÁO KẾT QUẢ PHÁT THANH", p->f_title, AL_CENTER, 2);
	snprintf(buf, sizeof(buf), "Tháng %s năm %s", mon, yr);
	para(p, buf, p->f_head, AL_CENTER, 14);

	snprintf(buf, sizeof(buf), "Đơn vị: Đài truyền thanh %s (mã trạm: %s)",
		 jstr(d, "commune"), jstr(d, "site"));
	para(p, buf, p->f_body, AL_LEFT, 2);
	if (strcmp(jstr(d, "timezone"), "Asia/Ho_Chi_Minh") == 0 ||
	    strcmp(jstr(d, "timezone"), "Asia/Saigon") == 0)
		snprintf(buf, sizeof(buf), "Thời gian: từ %s đến %s, theo giờ Việt Nam (%s)",
			 jstr(d, "first_day"), jstr(d, "last_day"), jstr(d, "timezone"));
	else
		snprintf(buf, sizeof(buf), "Thời gian: từ %s đến %s, theo múi giờ %s",
			 jstr(d, "first_day"), jstr(d, "last_day"), jstr(d, "timezone"));
	para(p, buf, p->f_body, AL_LEFT, 2);
	snprintf(buf, sizeof(buf), "Lập lúc: %s", jstr(d, "generated"));
	para(p, buf, p->f_body, AL_LEFT, 12);
}

static const struct col cluster_cols[] = {
	{ "Cụm loa", TEXT_W - 368.0, AL_LEFT },
	{ "Theo lịch", 56, AL_RIGHT },
	{ "Đã phát", 48, AL_RIGHT },
	{ "Lỗi", 40, AL_RIGHT },
	{ "Tỉ lệ", 50, AL_RIGHT },
	{ "Thời lượng", 66, AL_RIGHT },
	{ "Khẩn cấp", 54, AL_RIGHT },
	{ "Diễn tập", 54, AL_RIGHT },
};

static void clusters(struct pdf *p)
{
	const struct table t = { cluster_cols, 8 };
	const json_t *list = json_object_get(p->doc, "clusters"), *r;
	json_int_t sum[6] = { 0 };
	char num[8][48], label[600];
	size_t i;
	int k;

	para(p, "I. TỔNG HỢP THEO CỤM LOA", p->f_head, AL_LEFT, 6);
	if (json_array_size(list) == 0) {
		para(p, "Chưa có cụm loa nào báo trạng thái về máy chủ.", p->f_body, AL_LEFT, 10);
		return;
	}
	table_head(p, &t);
	json_array_foreach(list, i, r) {
		static const char *const keys[6] = { "scheduled", "played", "failed",
						     "airtime_ms", "emergencies", "drills" };
		struct cell cells[8];

		for (k = 0; k < 6; k++)
			sum[k] += jint(r, keys[k]);
		/* the node id on the first line, on the numbers' baseline (a
		 * reader, and pdftotext, find the row by it); its Vietnamese
		 * name and zones below */
		snprintf(label, sizeof(label), "%s%s%s", jstr(r, "label"),
			 jstr(r, "label")[0] && jstr(r, "zones")[0] ? " · " : "",
			 jstr(r, "zones")[0] ? jstr(r, "zones") : "");
		cells[0] = (struct cell){ jstr(r, "node"), p->f_bold, label, 3 };
		snprintf(num[1], sizeof(num[1]), "%" JSON_INTEGER_FORMAT, jint(r, "scheduled"));
		snprintf(num[2], sizeof(num[2]), "%" JSON_INTEGER_FORMAT, jint(r, "played"));
		snprintf(num[3], sizeof(num[3]), "%" JSON_INTEGER_FORMAT, jint(r, "failed"));
		ratio(jint(r, "played"), jint(r, "scheduled"), num[4], sizeof(num[4]));
		hms(jint(r, "airtime_ms"), num[5], sizeof(num[5]));
		snprintf(num[6], sizeof(num[6]), "%" JSON_INTEGER_FORMAT, jint(r, "emergencies"));
		snprintf(num[7], sizeof(num[7]), "%" JSON_INTEGER_FORMAT, jint(r, "drills"));
		for (k = 1; k < 8; k++)
			cells[k] = (struct cell){ num[k], p->f_body, NULL, 1 };
		table_row(p, &t, cells, 1.0, 0);
	}
	{
		struct cell cells[8];

		cells[0] = (struct cell){ "Tổng cộng", p->f_bold, NULL, 1 };
		snprintf(num[1], sizeof(num[1]), "%" JSON_INTEGER_FORMAT, sum[0]);
		snprintf(num[2], sizeof(num[2]), "%" JSON_INTEGER_FORMAT, sum[1]);
		snprintf(num[3], sizeof(num[3]), "%" JSON_INTEGER_FORMAT, sum[2]);
		ratio(sum[1], sum[0], num[4], sizeof(num[4]));
		hms(sum[3], num[5], sizeof(num[5]));
		snprintf(num[6], sizeof(num[6]), "%" JSON_INTEGER_FORMAT, sum[4]);
		snprintf(num[7], sizeof(num[7]), "%" JSON_INTEGER_FORMAT, sum[5]);
		for (k = 1; k < 8; k++)
			cells[k] = (struct cell){ num[k], p->f_bold, NULL, 1 };
		table_row(p, &t, cells, 0.95, 0);
	}
	p->y += 4;
	para(p, "Theo lịch: số lượt phát (theo lịch phát hoặc lệnh phát) tới cụm loa trong "
	     "tháng. Đã phát: phát trọn vẹn. Lỗi: không phát được, lý do ghi trong nhật ký "
	     "phát (loaxa log). Tỉ lệ: đã phát / theo lịch. Thời lượng: tổng thời gian đã "
	     "phát, giờ:phút:giây. Khẩn cấp, Diễn tập: số lần phát khẩn cấp thật và diễn tập.",
	     p->f_sub, AL_LEFT, 16);
}

static const struct col bulletin_cols[] = {
	{ "STT", 32, AL_RIGHT },
	{ "Ngày", 64, AL_LEFT },
	{ "Giờ", 52, AL_LEFT },
	{ "Tiêu đề", TEXT_W - 318.0, AL_LEFT },
	{ "Loại", 62, AL_LEFT },
	{ "Cụm loa", 108, AL_LEFT },
};

static void bulletins(struct pdf *p)
{
	const struct table t = { bulletin_cols, 6 };
	const json_t *list = json_object_get(p->doc, "bulletins"), *b;
	json_int_t total = jint(p->doc, "bulletins_total");
	char buf[256], no[24];
	size_t i;

	snprintf(buf, sizeof(buf), "II. DANH SÁCH BẢN TIN ĐÃ PHÁT (%" JSON_INTEGER_FORMAT
		 " bản tin)", total);
	para(p, buf, p->f_head, AL_LEFT, 6);
	if (json_array_size(list) == 0) {
		para(p, "Không có bản tin nào được phát trong tháng.", p->f_body, AL_LEFT, 10);
		return;
	}
	table_head(p, &t);
	json_array_foreach(list, i, b) {
		const char *kind = jstr(b, "kind");
		struct cell cells[6];

		snprintf(no, sizeof(no), "%zu", i + 1);
		cells[0] = (struct cell){ no, p->f_body, NULL, 1 };
		cells[1] = (struct cell){ jstr(b, "date"), p->f_body, NULL, 1 };
		cells[2] = (struct cell){ jstr(b, "time"), p->f_body, NULL, 1 };
		cells[3] = (struct cell){ jstr(b, "title")[0] ? jstr(b, "title")
				: "(không có tiêu đề)", p->f_body, NULL, 3 };
		cells[4] = (struct cell){ strcmp(kind, "drill") == 0 ? "Diễn tập"
				: strcmp(kind, "emergency") == 0 ? "Khẩn cấp" : "Thường",
				strcmp(kind, "normal") == 0 ? p->f_body : p->f_bold, NULL, 1 };
		cells[5] = (struct cell){ jstr(b, "clusters"), p->f_body, NULL, 3 };
		table_row(p, &t, cells, strcmp(kind, "normal") == 0 ? 1.0 : 0.95, 0);
	}
	p->y += 6;
	if (total > (json_int_t)json_array_size(list)) {
		snprintf(buf, sizeof(buf), "… và %" JSON_INTEGER_FORMAT " bản tin khác không in "
			 "ở đây (xem loaxa log hoặc báo cáo CSV).",
			 total - (json_int_t)json_array_size(list));
		para(p, buf, p->f_body, AL_LEFT, 10);
	}
}

static void signatures(struct pdf *p)
{
	const json_t *d = p->doc;
	double half = TEXT_W / 2, y;
	char buf[600];

	if (p->y + 120 > BODY_END)
		new_page(p);
	p->y += 14;
	y = p->y;
	snprintf(buf, sizeof(buf), "%s, %s", jstr(d, "commune"), jstr(d, "generated_day"));
	y += text(p, M_LEFT + half, y, half, buf, p->f_body, AL_CENTER, 2, 1) + 4;
	text(p, M_LEFT, y, half, "XÁC NHẬN CỦA UBND XÃ", p->f_bold, AL_CENTER, 1, 1);
	y += text(p, M_LEFT + half, y, half, "NGƯỜI LẬP BÁO CÁO", p->f_bold, AL_CENTER, 1, 1);
	text(p, M_LEFT, y, half, "(Ký tên, đóng dấu)", p->f_sub, AL_CENTER, 1, 1);
	y += text(p, M_LEFT + half, y, half, "(Ký, ghi rõ họ tên)", p->f_sub, AL_CENTER, 1, 1);
	p->y = y + 70;
}

static cairo_status_t discard(void *closure, const unsigned char *data, unsigned int len)
{
	(void)closure;
	(void)data;
	(void)len;
	return CAIRO_STATUS_SUCCESS;
}

static cairo_status_t to_file(void *closure, const unsigned char *data, unsigned int len)
{
	return fwrite(data, 1, len, closure) == len ? CAIRO_STATUS_SUCCESS
						      : CAIRO_STATUS_WRITE_ERROR;
}

/* One pass over the whole document into out (NULL: measure only). Pages drawn, or -errno. */
static int render_pass(const json_t *doc, FILE *out, int pages_total, char *err,
		       size_t errlen)
{
	struct pdf p = { .doc = doc, .pages_total = pages_total, .page = 1, .y = M_TOP };
	cairo_font_options_t *fo = NULL;
	cairo_status_t cs;
	char title[400];
	int rc = -EIO;

	p.surf = cairo_pdf_surface_create_for_stream(out ? to_file : discard, out, PAGE_W,
						     PAGE_H);
	{
		const char *m = jstr(doc, "month");

		/* "2026-11" -> "11/2026", as Vietnamese write a month */
		snprintf(title, sizeof(title), "Báo cáo phát thanh tháng %.2s/%.4s – %s",
			 strlen(m) == 7 ? m + 5 : "", m, jstr(doc, "commune"));
	}
	{
		char *t = clean(title, 0);

		cairo_pdf_surface_set_metadata(p.surf, CAIRO_PDF_METADATA_TITLE, t);
		g_free(t);
	}
	cairo_pdf_surface_set_metadata(p.surf, CAIRO_PDF_METADATA_CREATOR, "loaxa");
	p.cr = cairo_create(p.surf);
	/* our own font map: the default one is per thread and lives as long */
	p.fm = pango_cairo_font_map_new();
	/* 72 dpi: a 9 pt font is 9 units of the PDF page, which is in points */
	pango_cairo_font_map_set_resolution(PANGO_CAIRO_FONT_MAP(p.fm), 72.0);
	p.pctx = pango_font_map_create_context(p.fm);
	fo = cairo_font_options_create();
	cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
	cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
	pango_cairo_context_set_font_options(p.pctx, fo);
	pango_cairo_update_context(p.cr, p.pctx);
	p.lay = pango_layout_new(p.pctx);
	p.f_body = pango_font_description_from_string(FAMILY " 9");
	p.f_bold = pango_font_description_from_string(FAMILY " Bold 9");
	p.f_sub = pango_font_description_from_string(FAMILY " 7.5");
	p.f_small = pango_font_description_from_string(FAMILY " 7.5");
	p.f_head = pango_font_description_from_string(FAMILY " Bold 10.5");
	p.f_title = pango_font_description_from_string(FAMILY " Bold 14");
	{
		char *t = clean(title, 0);

		snprintf(p.footer, sizeof(p.footer), "%s", t);
		g_free(t);
	}

	gray(&p, 0);
	heading(&p);
	clusters(&p);
	bulletins(&p);
	signatures(&p);
	footer(&p);
	cairo_show_page(p.cr);

	cs = cairo_status(p.cr);
	cairo_destroy(p.cr);
	cairo_surface_finish(p.surf);
	if (cs == CAIRO_STATUS_SUCCESS)
		cs = cairo_surface_status(p.surf);
	if (cs != CAIRO_STATUS_SUCCESS)
		snprintf(err, errlen, "cannot make the PDF: %s", cairo_status_to_string(cs));
	else
		rc = p.page;
	cairo_surface_destroy(p.surf);
	pango_font_description_free(p.f_body);
	pango_font_description_free(p.f_bold);
	pango_font_description_free(p.f_sub);
	pango_font_description_free(p.f_small);
	pango_font_description_free(p.f_head);
	pango_font_description_free(p.f_title);
	g_object_unref(p.lay);
	g_object_unref(p.pctx);
	g_object_unref(p.fm);
	cairo_font_options_destroy(fo);
	return rc;
}

static atomic_int fc_used;

int report_pdf_render(const json_t *doc, char **pdf, size_t *len, int *pages, char *err,
		      size_t errlen)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = NULL;
	int rc, total;

	*pdf = NULL;
	*len = 0;
	/* fontconfig's configuration, loaded once (idempotent, thread-safe):
	 * without it no font can be found, and the PDF would have none */
	atomic_store(&fc_used, 1);
	if (!FcInit()) {
		snprintf(err, errlen, "cannot load the font configuration (fontconfig): is "
			 "fonts-dejavu-core installed?");
		return -EIO;
	}
	/* the first pass counts the pages, so that each footer says "Trang i/N" */
	total = render_pass(doc, NULL, 0, err, errlen);
	if (total < 0)
		return total;
	f = open_memstream(&buf, &n);
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = render_pass(doc, f, total, err, errlen);
	if (fclose(f) != 0 && rc >= 0) {
		snprintf(err, errlen, "out of memory");
		rc = -ENOMEM;
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*pdf = buf;
	*len = n;
	if (pages)
		*pages = rc;
	return 0;
}

/* ------------------------------------------------------------ the worker */

struct ctl_report {
	int wake_fd;
	pthread_t thread;
	int running;
	atomic_int finished;
	/* the job: the worker reads doc and writes the rest; the loop reads
	 * them once finished is set */
	json_t *doc;
	char *pdf;
	size_t len;
	int rc;
	char err[256];
	report_pdf_done_fn done;
	void *ctx;
};

static void *render_worker(void *arg)
{
	struct ctl_report *r = arg;
	uint64_t one = 1;

	/*
	 * The lowest CPU priority, for this thread only (Linux nice is per
	 * thread): a month of 5000 bulletins takes seconds of layout, which
	 * must yield to the loop and the broker (the report comes later, an
	 * emergency does not).
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) < 0)
		log_debug("report thread: cannot lower its priority");
	r->rc = report_pdf_render(r->doc, &r->pdf, &r->len, NULL, r->err, sizeof(r->err));
	atomic_store(&r->finished, 1);
	/* an eventfd counter never fills up here: a write only fails on EINTR */
	while (write(r->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

int ctl_report_pdf_submit(struct ctl *c, json_t *doc, report_pdf_done_fn done, void *ctx)
{
	struct ctl_report *r = c->report;
	int rc;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			json_decref(doc);
			return -ENOMEM;
		}
		r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (r->wake_fd < 0) {
			rc = -errno;
			free(r);
			json_decref(doc);
			return rc;
		}
		c->report = r;
	}
	if (r->running) {
		json_decref(doc);
		return -EBUSY;
	}
	r->doc = doc;
	r->pdf = NULL;
	r->len = 0;
	r->rc = 0;
	r->err[0] = '\0';
	r->done = done;
	r->ctx = ctx;
	atomic_store(&r->finished, 0);
	rc = pthread_create(&r->thread, NULL, render_worker, r);
	if (rc != 0) {
		r->doc = NULL;
		json_decref(doc);
		return -rc;
	}
	r->running = 1;
	return 0;
}

int ctl_report_pdf_pollfd(struct ctl *c, struct pollfd *pfd)
{
	if (!c->report || !c->report->running)
		return 0;
	*pfd = (struct pollfd){ .fd = c->report->wake_fd, .events = POLLIN };
	return 1;
}

static void finish(struct ctl_report *r)
{
	report_pdf_done_fn done = r->done;
	void *ctx = r->ctx;
	char *pdf;

	/* the worker's results only after it has ended */
	pthread_join(r->thread, NULL);
	pdf = r->pdf;
	r->running = 0;
	json_decref(r->doc);
	r->doc = NULL;
	r->pdf = NULL;
	r->done = NULL;
	if (r->rc < 0)
		log_errorx("report: %s", r->err);
	/* the callback may submit the next one */
	done(ctx, r->rc, pdf, r->rc < 0 ? 0 : r->len, r->err);
}

void ctl_report_pdf_handle(struct ctl *c, const struct pollfd *pfd)
{
	struct ctl_report *r = c->report;
	uint64_t count;

	if (!r || !r->running || !(pfd->revents & POLLIN))
		return;
	if (read(r->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("report: eventfd");
	if (atomic_load(&r->finished))
		finish(r);
}

void ctl_report_pdf_stop(struct ctl *c)
{
	struct ctl_report *r = c->report;

	if (r) {
		/* a render ends by itself (the list is bounded): wait, then answer */
		if (r->running)
			finish(r);
		close(r->wake_fd);
		free(r);
		c->report = NULL;
	}
	/*
	 * fontconfig keeps its configuration with offsets for pointers, which
	 * LeakSanitizer cannot follow: 288 bytes of it show as a leak at exit
	 * (a bare FcInit() does that too). FcFini() frees it; nothing renders
	 * after this (the controller stops).
	 */
	if (atomic_exchange(&fc_used, 0))
		FcFini();
}
