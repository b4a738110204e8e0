/*
 * healthapi.h - the HTTP API of health, proof of play and reports.
 *
 *   GET  /v1/nodes/<node>                 one node: status, history, alarms
 *   POST /v1/nodes/<node>/<action>        volume {"level":N}, stop, restart,
 *                                         test-tone {"content":id}: 202 + command
 *   GET  /v1/commands/<id>                a maintenance command and its state
 *   GET  /v1/alarms[?all=1&node=N]        active (or all) alarms
 *   GET  /v1/log?from=&to=&node=&zone=&content=&type=&limit=
 *                                         stored events (proof of play), oldest first
 *   GET  /v1/report?month=YYYY-MM[&format=csv|pdf]  (pdf: api.c hands it to reportpdf.h)
 *                                         per cluster: scheduled, played, failed,
 *                                         success ratio, airtime, emergencies, drills
 *   GET  /metrics                         Prometheus text format 0.0.4
 *
 * api.c routes every URL ctl_health_api_match() claims to ctl_health_api()
 * once the request body (if any) is in. Field-by-field reference:
 * docs/controller.md and docs/health.md.
 */
#ifndef LOAXA_CTL_HEALTHAPI_H
#define LOAXA_CTL_HEALTHAPI_H

#include <stddef.h>

#include <jansson.h>

struct ctl;

struct ctl_health_reply {
	unsigned status;
	json_t *json;         /* a JSON reply, or */
	char *text;           /* a text reply (malloc'd) with */
	const char *ctype;    /* its content type */
};

/* 1 when url belongs to this module. */
int ctl_health_api_match(const char *url);

/*
 * Answer one request. body may be NULL. zones: NULL, or the operator's zones
 * as a JSON array (ctl_auth_scope_json): the log then holds only events of
 * nodes in one of them (api.c checks the other scoped reads).
 */
void ctl_health_api(struct ctl *c, const char *method, const char *url,
		    const char *(*arg)(void *ctx, const char *key), void *ctx,
		    const char *body, size_t body_len, const char *zones,
		    struct ctl_health_reply *out);

/* Add health columns (alarms, restarts, clock error, signal) to /v1/nodes rows. */
void ctl_health_nodes_augment(struct ctl *c, json_t *nodes);

/* Report rows of a month, exposed for unit tests. NULL on bad month. */
json_t *ctl_health_report(struct ctl *c, const char *month, char *err, size_t errlen);
/* The report as CSV (UTF-8 with BOM, RFC 4180 quoting). */
char *ctl_health_report_csv(json_t *report);

#endif
