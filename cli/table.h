/*
 * table.h - plain text tables for people (--json is for scripts).
 *
 * Columns are as wide as their widest cell, counted in screen columns
 * (Vietnamese titles are UTF-8), separated by two spaces; a header line in
 * capitals first. Cells longer than a column's limit are cut with "...".
 */
#ifndef LOAXA_CLI_TABLE_H
#define LOAXA_CLI_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TABLE_MAX_COLS 12

struct table {
	int ncols;
	const char *head[TABLE_MAX_COLS];
	int right[TABLE_MAX_COLS];  /* right-align (numbers) */
	int limit[TABLE_MAX_COLS];  /* max screen columns, 0 = none */
	char **cells;
	size_t nrows, cap;
};

void table_init(struct table *t, int ncols, const char *const *head);
/* Add a row of ncols cells (copied). */
int table_add(struct table *t, const char *const *cells);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);
/* Print t to stdout, or the line `empty` when it has no rows; then free it. */
void table_show(struct table *t, const char *empty);

/* Screen columns of a UTF-8 string. */
size_t text_width(const char *s);

/* Formatting helpers for cells. */
void fmt_ago(char *buf, size_t len, int64_t then_ms, int64_t now_ms);
void fmt_duration_ms(char *buf, size_t len, int64_t ms);   /* "1:05", "1:02:03" */
void fmt_bytes(char *buf, size_t len, int64_t bytes);      /* "812 kB", "1.2 MB" */
void fmt_local_time(char *buf, size_t len, int64_t ms);    /* "2026-11-23 01:15:02" */

#endif
