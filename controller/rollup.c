/*
 * rollup.c - see rollup.h.
 */
#include "rollup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "alarms.h"
#include "area.h"
#include "auth.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "mqconn.h"
#include "mqtt.h"
#include "util.h"

struct rollup_site {
	char site[ENVELOPE_SITE_LEN + 1];
	json_t *summary;      /* the verified summary object */
	int64_t received;
};

struct ctl_rollup {
	/* commune: what went out last, and when */
	char *last;
	int64_t last_pub, last_check;
	/* district/province: the sites below */
	struct rollup_site sites[CTL_ROLLUP_MAX_SITES];
	size_t nsites;
};

static int64_t count(struct ctl *c, const char *sql, int64_t from)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;

	if (ctl_db_prep(&c->db, &st, sql, "cannot count for the summary") < 0)
		return 0;
	if (from)
		sqlite3_bind_int64(st, 1, from);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The first instant of this month, local time, and its "YYYY-MM". */
static int64_t month_start(int64_t now, char *name, size_t namelen)
{
	time_t t = (time_t)(now / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(name, namelen, "%Y-%m", &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	return (int64_t)mktime(&tm) * 1000;
}

json_t *ctl_rollup_summary(struct ctl *c, int64_t now)
{
	const struct ctl_config *cfg = &c->cfg;
	json_t *area;
	char month[16];
	int64_t from = month_start(now, month, sizeof(month));
	int64_t total, online, ready;
	size_t i;

	if (cfg->area.level != AREA_COMMUNE || !cfg->area.code[0])
		return NULL;
	area = json_pack("{s:s}", "commune", cfg->area.code);
	for (i = 0; area && i < cfg->area.nparent; i++)
		json_object_set_new(area, area_level_name(cfg->area.parent[i].level),
				    json_string(cfg->area.parent[i].code));
	total = count(c, "SELECT count(*) FROM nodes", 0);
	online = count(c, "SELECT count(*) FROM nodes WHERE online", 0);
	/* ready: online with no active alarm (alarms.h) */
	ready = 0;
	{
		sqlite3_stmt *st = NULL;

		if (ctl_db_prep(&c->db, &st, "SELECT id FROM nodes WHERE online",
				"cannot list nodes for the summary") == 0) {
			while (sqlite3_step(st) == SQLITE_ROW)
				if (ctl_alarms_active(c, (const char *)sqlite3_column_text(st, 0)) == 0)
					ready++;
		}
		sqlite3_finalize(st);
	}
	return json_pack("{s:s, s:o, s:s, s:{s:I, s:I}, s:I, s:i, s:{s:s, s:I, s:I}}",
			 "site", cfg->site, "area", area, "name",
			 cfg->area.name[0] ? cfg->area.name : cfg->commune[0] ? cfg->commune : cfg->site,
			 "nodes", "online", (json_int_t)online, "total", (json_int_t)total,
			 "ready", (json_int_t)ready, "alarms", ctl_alarms_active(c, NULL),
			 "month", "month", month, "plays",
			 (json_int_t)count(c, "SELECT count(*) FROM events WHERE type = "
				    "'play_finished' AND coalesce(start, ts) >= ?", from),
			 "emergencies",
			 (json_int_t)count(c, "SELECT count(DISTINCT broadcast) FROM events WHERE "
				    "type = 'emergency_started' AND coalesce(start, ts) >= ?", from));
}

/* {"summary": {...}, "key": "<hex>", "sig": "<hex>"}: sig over the compact sorted summary. */
static char *sign(struct ctl *c, json_t *summary)
{
	char *text = json_dumps(summary, JSON_COMPACT | JSON_SORT_KEYS), *out = NULL;
	uint8_t sig[crypto_sign_BYTES];
	char sighex[2 * crypto_sign_BYTES + 1], pkhex[65];
	json_t *doc;

	if (!text)
		return NULL;
	crypto_sign_detached(sig, NULL, (const uint8_t *)text, strlen(text), c->signer.sk);
	hex_encode(sighex, sig, sizeof(sig));
	hex_encode(pkhex, c->signer.pk, 32);
	doc = json_pack("{s:O, s:s, s:s}", "summary", summary, "key", pkhex, "sig", sighex);
	out = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	free(text);
	return out;
}

char *ctl_rollup_document(struct ctl *c, int64_t now)
{
	json_t *s = ctl_rollup_summary(c, now);
	char *text;

	if (!s)
		return NULL;
	json_object_set_new(s, "ts", json_integer((json_int_t)now));
	text = sign(c, s);
	json_decref(s);
	return text;
}

static void publish(struct ctl *c, int64_t now)
{
	struct ctl_rollup *r = c->rollup;
	json_t *s = ctl_rollup_summary(c, now), *cmp;
	char topic[96], *text, *cur;

	if (!s)
		return;
	/* a change is a change of anything but the time */
	cmp = json_deep_copy(s);
	cur = cmp ? json_dumps(cmp, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(cmp);
	if (cur && r->last && strcmp(cur, r->last) == 0 &&
	    now - r->last_pub < CTL_ROLLUP_EVERY_MS) {
		free(cur);
		json_decref(s);
		return;
	}
	json_object_set_new(s, "ts", json_integer((json_int_t)now));
	text = sign(c, s);
	snprintf(topic, sizeof(topic), "%s/summary", c->mqtt.root);
	if (text && ctl_mqtt_publish(c, CTL_CONN_CTL, topic, text, strlen(text), 1, 1) == 0) {
		free(r->last);
		r->last = cur;
		cur = NULL;
		r->last_pub = now;
		log_debug("summary published on %s", topic);
	}
	free(cur);
	free(text);
	json_decref(s);
}

static struct rollup_site *site_slot(struct ctl_rollup *r, const char *site)
{
	size_t i;

	for (i = 0; i < r->nsites; i++)
		if (strcmp(r->sites[i].site, site) == 0)
			return &r->sites[i];
	if (r->nsites >= CTL_ROLLUP_MAX_SITES)
		return NULL;
	memset(&r->sites[r->nsites], 0, sizeof(r->sites[0]));
	snprintf(r->sites[r->nsites].site, sizeof(r->sites[0].site), "%s", site);
	return &r->sites[r->nsites++];
}

static int jint_ok(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) && json_integer_value(v) >= 0;
}

int ctl_rollup_take(struct ctl *c, const char *topic, const void *payload, size_t len,
		    char *why, size_t whylen)
{
	struct ctl_rollup *r = c->rollup;
	const struct ctl_config *cfg = &c->cfg;
	json_t *doc = NULL, *s, *area, *nodes, *month;
	const char *site, *key, *sig, *mine;
	char tsite[ENVELOPE_SITE_LEN + 2], *text = NULL;
	uint8_t pk[32], sigb[crypto_sign_BYTES];
	struct rollup_site *slot;
	size_t tl;
	int rc = -EINVAL;

	/* loaxa/<site>/summary */
	if (strncmp(topic, "loaxa/", 6) != 0 || (tl = strcspn(topic + 6, "/")) == 0 ||
	    tl >= sizeof(tsite) - 1 || strcmp(topic + 6 + tl, "/summary") != 0) {
		snprintf(why, whylen, "not a summary topic");
		return -EINVAL;
	}
	memcpy(tsite, topic + 6, tl);
	tsite[tl] = '\0';
	if (len > CTL_ROLLUP_MAX_BYTES) {
		snprintf(why, whylen, "larger than %d bytes", CTL_ROLLUP_MAX_BYTES);
		return -EINVAL;
	}
	doc = json_loadb(payload, len, JSON_REJECT_DUPLICATES, NULL);
	s = json_object_get(doc, "summary");
	key = json_string_value(json_object_get(doc, "key"));
	sig = json_string_value(json_object_get(doc, "sig"));
	site = json_string_value(json_object_get(s, "site"));
	area = json_object_get(s, "area");
	nodes = json_object_get(s, "nodes");
	month = json_object_get(s, "month");
	if (!json_is_object(s) || !key || !sig || !site || !name_valid(site) ||
	    strcmp(site, tsite) != 0 || !json_is_object(area) || !json_is_object(nodes) ||
	    !jint_ok(nodes, "online") || !jint_ok(nodes, "total") || !jint_ok(s, "ready") ||
	    !jint_ok(s, "alarms") || !json_is_object(month) || !jint_ok(month, "plays") ||
	    !jint_ok(month, "emergencies") || !jint_ok(s, "ts") ||
	    !json_is_string(json_object_get(s, "name")) ||
	    !area_code_valid(AREA_COMMUNE, json_string_value(json_object_get(area, "commune")))) {
		snprintf(why, whylen, "not a summary of this version (fields site = the topic's, "
			 "area.commune, name, nodes, ready, alarms, month, ts; key, sig)");
		goto out;
	}
	if (public_key_parse(pk, key) < 0 || strlen(sig) != 2 * crypto_sign_BYTES ||
	    hex_decode(sigb, sizeof(sigb), sig) < 0 ||
	    !(text = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS)) ||
	    crypto_sign_verify_detached(sigb, (const uint8_t *)text, strlen(text), pk) != 0) {
		snprintf(why, whylen, "its signature does not verify");
		goto out;
	}
	/* only the communes below this district or province */
	mine = json_string_value(json_object_get(area, area_level_name(cfg->area.level)));
	if (!mine || strcmp(mine, cfg->area.code) != 0) {
		snprintf(why, whylen, "its area is not below %s %s", area_level_name(cfg->area.level),
			 cfg->area.code);
		goto out;
	}
	slot = site_slot(r, site);
	if (!slot) {
		snprintf(why, whylen, "more than %d sites", CTL_ROLLUP_MAX_SITES);
		goto out;
	}
	json_decref(slot->summary);
	slot->summary = json_deep_copy(s);
	json_object_set_new(slot->summary, "key_id", json_stringn(key, 16));
	slot->received = now_ms();
	rc = 0;
out:
	free(text);
	json_decref(doc);
	return rc;
}

static void on_summary(const struct mqconn_msg *m, void *arg)
{
	struct ctl *c = arg;
	char why[200], safe[96];

	if (!m->len)
		return; /* a retained summary cleared */
	if (ctl_rollup_take(c, m->topic, m->payload, m->len, why, sizeof(why)) < 0)
		log_warnx("ignoring the summary on %s: %s", ctl_printable(safe, sizeof(safe), m->topic),
			  why);
}

int ctl_rollup_start(struct ctl *c)
{
	c->rollup = calloc(1, sizeof(*c->rollup));
	if (!c->rollup)
		return -ENOMEM;
	if (c->cfg.area.level == AREA_DISTRICT || c->cfg.area.level == AREA_PROVINCE)
		return mqconn_subscribe(&c->mqtt.conn[CTL_CONN_CTL], "loaxa/+/summary", 1,
					on_summary, c);
	return 0;
}

void ctl_rollup_tick(struct ctl *c)
{
	struct ctl_rollup *r = c->rollup;
	int64_t now = now_ms(), mono = mono_ms();

	if (!r || c->cfg.area.level != AREA_COMMUNE || !c->cfg.area.code[0] ||
	    !ctl_mqtt_connected(c, CTL_CONN_CTL))
		return;
	if (r->last_check && mono - r->last_check < CTL_ROLLUP_CHECK_MS)
		return;
	r->last_check = mono;
	publish(c, now);
}

int ctl_area_in_scope(const struct ctl_principal *who, const char *code)
{
	size_t i;

	if (!who || who->all_zones)
		return 1;
	for (i = 0; code && i < who->nzones; i++)
		if (strcmp(who->zones[i], code) == 0)
			return 1;
	return 0;
}

json_t *ctl_rollup_json(struct ctl *c, const struct ctl_principal *who)
{
	struct ctl_rollup *r = c->rollup;
	json_t *list = json_array();
	size_t i;

	for (i = 0; r && i < r->nsites; i++) {
		json_t *area = json_object_get(r->sites[i].summary, "area"), *o;
		int l, seen = 0;

		for (l = AREA_COMMUNE; l <= AREA_PROVINCE; l++)
			seen |= ctl_area_in_scope(who, json_string_value(json_object_get(
							       area, area_level_name((enum area_level)l))));
		if (!seen)
			continue;
		o = json_deep_copy(r->sites[i].summary);

		json_object_set_new(o, "received", json_integer((json_int_t)r->sites[i].received));
		json_array_append_new(list, o);
	}
	return json_pack("{s:s, s:s, s:s, s:o}", "level", area_level_name(c->cfg.area.level),
			 "code", c->cfg.area.code, "name", c->cfg.area.name, "areas", list);
}

void ctl_rollup_free(struct ctl *c)
{
	size_t i;

	if (!c->rollup)
		return;
	for (i = 0; i < c->rollup->nsites; i++)
		json_decref(c->rollup->sites[i].summary);
	free(c->rollup->last);
	free(c->rollup);
	c->rollup = NULL;
}
