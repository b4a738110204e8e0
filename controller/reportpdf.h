/*
 * reportpdf.h - the monthly report as a printable PDF, in Vietnamese.
 *
 *   GET /v1/report?month=YYYY-MM&format=pdf      (loaxa report --format pdf)
 *
 * What the district receives each month: the commune (controller.cfg
 * `commune`), the month, per cluster the counts of the JSON/CSV report
 * (healthapi.h: scheduled, aired, failed, ratio, airtime, emergencies,
 * drills) and the list of bulletins aired with date, time (local, the
 * controller's `timezone`), title, kind and clusters; A4, pages numbered,
 * table headings repeated on each page, a signature block at the end.
 *
 * Two halves:
 * - ctl_report_doc() runs on the loop: the database queries, the dates
 *   formatted in local time; its result is plain JSON (strings, numbers).
 * - report_pdf_render() lays that JSON out with Pango (HarfBuzz shaping,
 *   the DejaVu Sans font of fonts-dejavu-core: Vietnamese diacritics
 *   stacked right) onto a cairo PDF surface. It touches nothing but its
 *   arguments, so it runs in a worker thread: laying out hundreds of rows
 *   and the first fontconfig load take tens to hundreds of milliseconds
 *   that an emergency behind them must not wait for.
 *
 * Titles and names are data: they reach Pango as plain text (never markup,
 * never a format string), invalid UTF-8 and control characters replaced;
 * a long title wraps to at most three lines and is cut with an ellipsis.
 */
#ifndef LOAXA_CTL_REPORTPDF_H
#define LOAXA_CTL_REPORTPDF_H

#include <poll.h>
#include <stddef.h>

#include <jansson.h>

struct ctl;

/* At most this many bulletins are listed; the rest are counted in a line. */
#define REPORT_PDF_MAX_BULLETINS 5000

/*
 * The report of month ("YYYY-MM") as the document the renderer lays out.
 * NULL with err set ("month must be YYYY-MM ..." for a bad month, else a
 * database failure). Dates are local time (TZ, set from controller.cfg's
 * timezone by the schedule module).
 */
json_t *ctl_report_doc(struct ctl *c, const char *month, char *err, size_t errlen);

/*
 * Lay doc out as an A4 PDF. *pdf (malloc'd) and *len on success, *pages
 * the page count. 0 or negative errno with err set. Thread-safe: it uses
 * its own Pango font map and reads doc only.
 */
int report_pdf_render(const json_t *doc, char **pdf, size_t *len, int *pages, char *err,
		      size_t errlen);

/*
 * rc 0: pdf (malloc'd, the callee's to free) and len; else negative errno
 * and err. Called on the loop thread.
 */
typedef void (*report_pdf_done_fn)(void *ctx, int rc, char *pdf, size_t len,
				   const char *err);

/*
 * Render doc (taken over: freed by the worker) in a worker thread; done
 * runs from ctl_report_pdf_handle(). 0, or -EBUSY when a report is being
 * rendered already (one at a time), or another negative errno; on an error
 * doc is freed and done is not called.
 */
int ctl_report_pdf_submit(struct ctl *c, json_t *doc, report_pdf_done_fn done, void *ctx);

/* The eventfd to poll while a render runs: 1 when filled, 0 when none. */
int ctl_report_pdf_pollfd(struct ctl *c, struct pollfd *pfd);
/* Report a finished render (its callback runs here). */
void ctl_report_pdf_handle(struct ctl *c, const struct pollfd *pfd);
/* Wait for a running render and answer it, free everything (fontconfig too). */
void ctl_report_pdf_stop(struct ctl *c);

#endif
