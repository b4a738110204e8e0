/*
 * table.c - see table.h.
 */
#include "table.h"
#include "i18n.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

/* Decode one UTF-8 sequence; returns its length (1 for a bad byte). */
static size_t utf8_next(const char *s, wchar_t *wc)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp, need, i;

	if (p[0] < 0x80) {
		*wc = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0)
		need = 1, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		need = 2, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		need = 3, cp = p[0] & 0x07;
	else {
		*wc = L'?';
		return 1;
	}
	for (i = 1; i <= need; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*wc = L'?';
			return 1;
		}
		cp = cp << 6 | (p[i] & 0x3f);
	}
	*wc = (wchar_t)cp;
	return need + 1;
}

static int char_width(wchar_t wc)
{
	int w = wcwidth(wc);

	if (w >= 0)
		return w;
	/* no UTF-8 locale: combining marks take no room, the rest one column */
	return (wc >= 0x300 && wc <= 0x36f) ? 0 : 1;
}

size_t text_width(const char *s)
{
	size_t w = 0;
	wchar_t wc;

	while (*s) {
		s += utf8_next(s, &wc);
		w += (size_t)char_width(wc);
	}
	return w;
}

/* Copy s cut to at most max screen columns ("..." marks the cut). */
static char *cut(const char *s, int max)
{
	size_t w = 0, len = 0;
	wchar_t wc;
	char *out;

	if (max <= 0 || text_width(s) <= (size_t)max)
		return strdup(s);
	while (s[len]) {
		size_t n = utf8_next(s + len, &wc);
		int cw = char_width(wc);

		if (w + (size_t)cw + 3 > (size_t)max)
			break;
		w += (size_t)cw;
		len += n;
	}
	out = malloc(len + 4);
	if (!out)
		return NULL;
	memcpy(out, s, len);
	memcpy(out + len, "...", 4);
	return out;
}

void table_init(struct table *t, int ncols, const char *const *head)
{
	int i;

	memset(t, 0, sizeof(*t));
	t->ncols = ncols > TABLE_MAX_COLS ? TABLE_MAX_COLS : ncols;
	for (i = 0; i < t->ncols; i++)
		t->head[i] = gettext(head[i]);  /* marked N_() where defined */
}

int table_add(struct table *t, const char *const *cells)
{
	size_t need = (t->nrows + 1) * (size_t)t->ncols;
	int i;

	if (need > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16 * (size_t)t->ncols;
		char **nc;

		while (cap < need)
			cap *= 2;
		nc = realloc(t->cells, cap * sizeof(*nc));
		if (!nc)
			return -1;
		t->cells = nc;
		t->cap = cap;
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] =
			cut(cells[i] ? cells[i] : "", t->limit[i]);
	t->nrows++;
	return 0;
}

/* Append a cell padded to width (right-aligned or left) to line. */
static void put_cell(char *line, size_t cap, const char *s, size_t width, int right)
{
	size_t w = text_width(s), pad = width > w ? width - w : 0, len = strlen(line);

	if (right)
		snprintf(line + len, cap - len, "%*s%s", (int)pad, "", s);
	else
		snprintf(line + len, cap - len, "%s%*s", s, (int)pad, "");
}

/* One line, without trailing blanks. */
static void print_row(FILE *f, const struct table *t, const char *const *cells,
		      const size_t *width)
{
	char line[4096];
	size_t n;
	int i;

	line[0] = '\0';
	for (i = 0; i < t->ncols; i++) {
		put_cell(line, sizeof(line), cells[i] ? cells[i] : "", width[i], t->right[i]);
		if (i < t->ncols - 1)
			strncat(line, "  ", sizeof(line) - strlen(line) - 1);
	}
	n = strlen(line);
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	fprintf(f, "%s\n", line);
}

void table_print(const struct table *t, FILE *f)
{
	size_t width[TABLE_MAX_COLS] = { 0 }, r;
	int i;

	for (i = 0; i < t->ncols; i++)
		width[i] = text_width(t->head[i]);
	for (r = 0; r < t->nrows; r++)
		for (i = 0; i < t->ncols; i++) {
			const char *s = t->cells[r * (size_t)t->ncols + (size_t)i];
			size_t w = s ? text_width(s) : 0;
			if (w > width[i])
				width[i] = w;
		}
	print_row(f, t, t->head, width);
	for (r = 0; r < t->nrows; r++)
		print_row(f, t, (const char *const *)&t->cells[r * (size_t)t->ncols], width);
}

void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

void table_show(struct table *t, const char *empty)
{
	if (t->nrows == 0)
		printf("%s\n", empty);
	else
		table_print(t, stdout);
	table_free(t);
}

void fmt_ago(char *buf, size_t len, int64_t then_ms, int64_t now_ms)
{
	int64_t s;

	if (then_ms <= 0) {
		snprintf(buf, len, "%s", _("never"));
		return;
	}
	s = (now_ms - then_ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, _("%lld s ago"), (long long)s);
	else if (s < 7200)
		snprintf(buf, len, _("%lld min ago"), (long long)(s / 60));
	else if (s < 3 * 86400)
		snprintf(buf, len, _("%lld h ago"), (long long)(s / 3600));
	else
		snprintf(buf, len, _("%lld days ago"), (long long)(s / 86400));
}

void fmt_duration_ms(char *buf, size_t len, int64_t ms)
{
	int64_t s = (ms + 500) / 1000;

	if (ms < 0)
		snprintf(buf, len, "-");
	else if (s >= 3600)
		snprintf(buf, len, "%lld:%02lld:%02lld", (long long)(s / 3600),
			 (long long)(s / 60 % 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
}

void fmt_bytes(char *buf, size_t len, int64_t bytes)
{
	if (bytes < 0)
		snprintf(buf, len, "-");
	else if (bytes < 1000)
		snprintf(buf, len, "%lld B", (long long)bytes);
	else if (bytes < 1000000)
		snprintf(buf, len, "%.0f kB", (double)bytes / 1e3);
	else if (bytes < 1000000000)
		snprintf(buf, len, "%.1f MB", (double)bytes / 1e6);
	else
		snprintf(buf, len, "%.2f GB", (double)bytes / 1e9);
}

void fmt_local_time(char *buf, size_t len, int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !localtime_r(&s, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}
