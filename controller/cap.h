/*
 * cap.h - the CAP 1.2 adapter: alerts from the province's (or district's)
 * warning system become broadcasts here (docs/cap.md).
 *
 * The seam: whatever system sends, POST /v1/cap with the alert's XML as
 * the body (`loaxa cap import FILE.xml` does exactly that) is the one way
 * in. The alert is parsed and validated (capxml.h), mapped (capmap.h:
 * level, drill, villages, source), recorded (table cap_alerts, one row per
 * sender and identifier: an alert is never imported twice), and its audio
 * made: the alert's own <resource> (an audio type: inline derefUri, or a file in
 * cap.import_dir) or, without one, Vietnamese speech of its text, both by
 * the decode worker like any import (imports.h). When the import is done
 * the alert goes on air (an emergency or drill through emergency.c, a
 * bulletin through broadcast.c) when its source may send that level
 * straight, else it becomes a draft for an approver (approval.h), authored
 * by the source's name. A Cancel stops the emergencies and withdraws the
 * drafts of the alert it references; an Update does that and plays.
 *
 *   POST /v1/cap        body: CAP 1.2 XML    202 {"cap": id, ...}; 422 refused
 *   GET  /v1/cap[?limit=N]                    200 {"alerts": [...]}, newest first
 *   GET  /v1/cap/ID                           200 one alert, with its state
 *
 * Submitting needs the operate permission (an operator may: the level and
 * the source decide what waits, not the submitter's role).
 */
#ifndef LOAXA_CTL_CAP_H
#define LOAXA_CTL_CAP_H

#include <stddef.h>

#include <jansson.h>

struct ctl;
struct ctl_principal;

/* Create the table when missing, load the schema. 0 or -EIO. */
int ctl_cap_init(struct ctl *c);

int ctl_cap_owns_url(const char *url);

void ctl_cap_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		 const char *url, const char *body, size_t len, unsigned *status,
		 json_t **reply, char *target, size_t targetlen);

#endif
