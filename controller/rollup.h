/*
 * rollup.h - the roll-up of communes to their district and province
 * (issue 18.3; docs/protocol.md "Roll-up").
 *
 * A commune controller (area.level "commune" with a code) publishes its
 * summary, retained, QoS 1, on loaxa/<site>/summary every minute and when
 * it changes: nodes online and in all, nodes ready (online, no active
 * alarm), active alarms, this month's plays and emergencies. The document
 * is signed (Ed25519, detached, by the controller key it names). The
 * commune's bridge carries it up (`loaxa broker-config --bridge`).
 *
 * A district or province controller subscribes to loaxa/+/summary and keeps
 * the last summary of each site whose area is below it (its district or
 * province code in the summary's area), for GET /v1/areas and `loaxa areas`.
 */
#ifndef LOAXA_CTL_ROLLUP_H
#define LOAXA_CTL_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;

#define CTL_ROLLUP_EVERY_MS 60000   /* at least this often */
#define CTL_ROLLUP_CHECK_MS 5000    /* look for a change this often */
#define CTL_ROLLUP_MAX_SITES 512
#define CTL_ROLLUP_MAX_BYTES 8192

/* After ctl_mqtt_init, before ctl_mqtt_start. 0 or -ENOMEM. */
int ctl_rollup_start(struct ctl *c);
void ctl_rollup_tick(struct ctl *c);
void ctl_rollup_free(struct ctl *c);

/* The commune's summary now (unsigned; tests). NULL when not a commune. */
json_t *ctl_rollup_summary(struct ctl *c, int64_t now);
/* The signed document as published: {"summary", "key", "sig"} (malloc'd text). */
char *ctl_rollup_document(struct ctl *c, int64_t now);
/*
 * A summary document as received on topic (tests): 0 and *site, or
 * -EINVAL with why (bad JSON, fields, signature, a site other than the
 * topic's, an area not below this controller).
 */
int ctl_rollup_take(struct ctl *c, const char *topic, const void *payload, size_t len,
		    char *why, size_t whylen);

/*
 * GET /v1/areas: {"level", "code", "name", "areas": [...]} (new reference).
 * who (NULL: everything) scoped to zones sees only the sites whose commune,
 * district or province code is one of them: on a district or province
 * controller an account's scope may be area codes (auth.h), so a commune
 * official sees his commune, a district official all of its communes.
 */
struct ctl_principal;
json_t *ctl_rollup_json(struct ctl *c, const struct ctl_principal *who);
/* 1 when who (NULL: everyone) may see or address area code (its scope). */
int ctl_area_in_scope(const struct ctl_principal *who, const char *code);

#endif
