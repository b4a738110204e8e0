/*
 * keys.c - see keys.h.
 */
#include "keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ctl.h"
#include "alarms.h"
#include "ctlutil.h"
#include "log.h"
#include "mqtt.h"
#include "secops.h"
#include "util.h"
#include "topic.h"

#define DAY_MS (86400LL * 1000)

static void key_expiry_alarm(struct ctl *c);

struct ctl_keys {
	int pending;                /* a rotation waits for its switch */
	int64_t switch_at_ms;       /* monotonic */
	int64_t published_for;      /* connected_at_ms the trust doc went out for */
	int64_t next_alarm_ms;      /* monotonic: the expiry alarm, once a day */
	int64_t old_until_ms;       /* wall: trust documents signed by <key>.old until */
	/* What the daily expiry check found, as alarms (alarms.c raises/clears them). */
	struct ctl_alarm_want want[CTL_KEYS_ALARMS_MAX];
	int nwant;
};

/*
 * Which key signs a trust document. Within the retirement window of the
 * previous key, that previous key (<key>.old): every node still trusts it,
 * also one that was offline during the rotation and never saw the new key;
 * the retained document then tells it about the new key when it returns.
 * After the window, the current key. Returns 1 when out holds the old key.
 */
static int trust_signer(struct ctl *c, struct signer *out)
{
	char old[PATH_MAX], hex[65];
	sqlite3_stmt *st = NULL;
	int64_t until = 0;

	*out = c->signer;
	if ((size_t)snprintf(old, sizeof(old), "%s.old", c->cfg.key_path) >= sizeof(old) ||
	    access(old, F_OK) < 0 || signer_load(out, old, c->cfg.site) < 0) {
		*out = c->signer;
		return 0;
	}
	hex_encode(hex, out->pk, 32);
	if (ctl_db_prep(&c->db, &st, "SELECT retired FROM keys WHERE pk = ? AND retired IS "
			"NOT NULL AND revoked IS NULL", NULL) == 0) {
		sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW)
			until = sqlite3_column_int64(st, 0) +
				(int64_t)c->cfg.keys.retire_after_s * 1000;
	}
	sqlite3_finalize(st);
	if (c->keys)
		c->keys->old_until_ms = until > now_ms() ? until : 0;
	if (until > now_ms())
		return 1;
	sodium_memzero(out, sizeof(*out));
	*out = c->signer;
	return 0;
}

static int key_path_with(struct ctl *c, const char *suffix, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s%s", c->cfg.key_path, suffix) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/* Record a key (once); its expiry counts from now. 1 when it is new. */
static int key_record(struct ctl *c, const uint8_t pk[32], int64_t lifetime_ms)
{
	char hex[65];
	sqlite3_stmt *st = NULL;
	int rc = 0;

	hex_encode(hex, pk, 32);
	if (ctl_db_prep(&c->db, &st, "INSERT OR IGNORE INTO keys (pk, created, not_after) "
			"VALUES (?, ?, ?)", "cannot record a key") < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now_ms());
	sqlite3_bind_int64(st, 3, now_ms() + lifetime_ms);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = ctl_db_fail(&c->db, "cannot record a key");
	else
		rc = sqlite3_changes(c->db.h) > 0;
	sqlite3_finalize(st);
	return rc;
}

static int64_t key_not_after(struct ctl *c, const uint8_t pk[32])
{
	char hex[65];
	sqlite3_stmt *st = NULL;
	int64_t v = 0;

	hex_encode(hex, pk, 32);
	if (ctl_db_prep(&c->db, &st, "SELECT not_after FROM keys WHERE pk = ?", NULL) < 0)
		return 0;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * The trust document's area part (node/upper.h): the commune's place and
 * the upper levels whose keys its nodes trust, with what each may send.
 * NULL when controller.cfg has no area (or this is not a commune).
 */
static json_t *trust_area_json(const struct ctl *c)
{
	const struct ctl_config *cfg = &c->cfg;
	json_t *o, *area, *up;
	char hex[65];
	size_t i;

	if (cfg->area.level != AREA_COMMUNE || !cfg->area.code[0])
		return NULL;
	area = json_pack("{s:s}", "commune", cfg->area.code);
	up = json_array();
	for (i = 0; area && i < cfg->area.nparent; i++) {
		const struct ctl_area_parent *p = &cfg->area.parent[i];
		json_t *may = json_array();

		json_object_set_new(area, area_level_name(p->level), json_string(p->code));
		if (!p->has_key || !p->may) {
			json_decref(may);
			continue;
		}
		if (p->may & AREA_MAY_EMERGENCY)
			json_array_append_new(may, json_string("emergency"));
		if (p->may & AREA_MAY_PRIORITY)
			json_array_append_new(may, json_string("priority"));
		hex_encode(hex, p->pk, 32);
		json_array_append_new(up, json_pack("{s:s, s:s, s:s, s:o}", "level",
						    area_level_name(p->level), "code", p->code,
						    "key", hex, "may", may));
	}
	o = json_pack("{s:o, s:o}", "area", area, "upper", up);
	return o;
}

/*
 * 1 when the stored document's area part is what controller.cfg says now
 * (an operator who joins a district edits controller.cfg and restarts:
 * the nodes must learn it from a new document).
 */
static int trust_area_current(struct ctl *c)
{
	json_t *want = trust_area_json(c), *body = NULL, *have;
	sqlite3_stmt *st = NULL;
	int same = 0;

	if (ctl_db_prep(&c->db, &st, "SELECT envelope FROM trust WHERE id = 1", NULL) < 0)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 0) >= ENVELOPE_OVERHEAD) {
		const uint8_t *e = sqlite3_column_blob(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0) - ENVELOPE_OVERHEAD;

		body = json_loadb((const char *)e + ENVELOPE_HEADER_LEN, n, 0, NULL);
	}
	have = body && json_object_get(body, "area") ?
		json_pack("{s:O, s:O?}", "area", json_object_get(body, "area"), "upper",
			  json_object_get(body, "upper")) : NULL;
	same = want ? have && json_equal(want, have) : !have;
	json_decref(have);
out:
	sqlite3_finalize(st);
	json_decref(body);
	json_decref(want);
	return same;
}

/*
 * Build, sign with the current key and store the trust document; publish it
 * retained. Keys not retired are listed under "keys" (during a rotation:
 * the current and the next), retired ones under "retire" until their
 * window ends, revoked ones under "revoked_keys".
 */
static int trust_issue(struct ctl *c)
{
	json_t *body = json_object(), *keys = json_array(), *retire = json_array();
	json_t *rkeys = json_array();
	char hex[65], topic[128];
	sqlite3_stmt *st = NULL;
	uint8_t *env = NULL;
	size_t envlen = 0;
	char *text = NULL;
	uint64_t seq;
	int64_t now = now_ms(), expires = now + DAY_MS;
	int rc = -ENOMEM;

	if (!body || !keys || !retire || !rkeys)
		goto out;
	/* Every key not retired/revoked is trusted; the current one first. */
	if (ctl_db_prep(&c->db, &st, "SELECT pk, not_after, retired, revoked FROM keys "
			"ORDER BY created", "cannot read the keys") < 0) {
		rc = -EIO;
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *pk = (const char *)sqlite3_column_text(st, 0);
		int64_t not_after = sqlite3_column_int64(st, 1);
		int retired = sqlite3_column_type(st, 2) != SQLITE_NULL;
		int revoked = sqlite3_column_type(st, 3) != SQLITE_NULL;

		if (!pk)
			continue;
		if (revoked) {
			json_array_append_new(rkeys, json_string(pk));
			continue;
		}
		if (retired) {
			int64_t at = sqlite3_column_int64(st, 2) + (int64_t)c->cfg.keys.retire_after_s * 1000;

			if (at > now)
				json_array_append_new(retire, json_pack("{s:s, s:I}", "key", pk, "at",
									(json_int_t)at));
			continue;
		}
		json_array_append_new(keys, json_pack("{s:s, s:I}", "key", pk, "not_after",
						      (json_int_t)not_after));
		if (not_after > expires)
			expires = not_after;
	}
	sqlite3_finalize(st);
	st = NULL;
	json_object_set(body, "keys", keys);
	json_object_set(body, "retire", retire);
	json_object_set(body, "revoked_keys", rkeys);
	json_object_set_new(body, "revoked_nodes", ctl_secops_revoked_json(c));
	{
		json_t *area = trust_area_json(c);

		if (area)
			json_object_update(body, area);
		json_decref(area);
	}
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		goto out;
	rc = ctl_db_next_seq(&c->db, ENV_KEY, ctl_now_us(), &seq);
	if (rc < 0)
		goto out;
	/* Valid as long as any key it announces: an offline node catches up. */
	{
		struct signer s;

		trust_signer(c, &s);
		rc = envelope_seal(&s, ENV_KEY, 0, seq, now, expires, text, strlen(text), &env,
				   &envlen);
		hex_encode(hex, s.key_id, ENVELOPE_KEYID_LEN);
		sodium_memzero(&s, sizeof(s));
	}
	if (rc < 0)
		goto out;
	if (ctl_db_prep(&c->db, &st, "INSERT OR REPLACE INTO trust (id, issued, envelope) "
			"VALUES (1, ?, ?)", "cannot store the trust document") < 0) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_blob(st, 2, env, (int)envlen, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = ctl_db_fail(&c->db, "cannot store the trust document");
		goto out;
	}
	log_info("trust document issued (sequence %llu, signed by key %.16s): %zu key%s, %zu "
		 "retiring, %zu revoked key%s, %zu revoked node%s", (unsigned long long)seq, hex,
		 json_array_size(keys), json_array_size(keys) == 1 ? "" : "s",
		 json_array_size(retire), json_array_size(rkeys),
		 json_array_size(rkeys) == 1 ? "" : "s",
		 json_array_size(json_object_get(body, "revoked_nodes")),
		 json_array_size(json_object_get(body, "revoked_nodes")) == 1 ? "" : "s");
	topic_zone(topic, sizeof(topic), c->mqtt.root, "all", LEAF_KEY);
	if (ctl_mqtt_publish(c, CTL_CONN_CTL, topic, env, envlen, 1, 1) == 0 && c->keys)
		c->keys->published_for = ctl_mqtt_connected_at(c, CTL_CONN_CTL);
	rc = 0;
out:
	sqlite3_finalize(st);
	json_decref(body);
	json_decref(keys);
	json_decref(retire);
	json_decref(rkeys);
	free(text);
	free(env);
	return rc;
}

/* Re-publish the stored trust document (after a reconnect). */
static void trust_republish(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	char topic[128];

	if (ctl_db_prep(&c->db, &st, "SELECT envelope FROM trust WHERE id = 1", NULL) < 0)
		return;
	topic_zone(topic, sizeof(topic), c->mqtt.root, "all", LEAF_KEY);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    ctl_mqtt_publish(c, CTL_CONN_CTL, topic, sqlite3_column_blob(st, 0),
			     (size_t)sqlite3_column_bytes(st, 0), 1, 1) == 0)
		c->keys->published_for = ctl_mqtt_connected_at(c, CTL_CONN_CTL);
	sqlite3_finalize(st);
}

static int trust_exists(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	int n = 0;

	if (ctl_db_prep(&c->db, &st, "SELECT count(*) FROM trust", NULL) < 0)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n > 0;
}

/*
 * Make <key>.next the signing key: the old secret is kept as <key>.old
 * (hard link first, so there is no moment without a key file), then
 * <key>.next is renamed over <key> atomically.
 */
static int switch_to_next(struct ctl *c)
{
	char next[PATH_MAX], old[PATH_MAX], nextpub[PATH_MAX], hex[65];
	struct signer s;
	int rc;

	if (key_path_with(c, ".next", next, sizeof(next)) < 0 ||
	    key_path_with(c, ".old", old, sizeof(old)) < 0 ||
	    key_path_with(c, ".next.pub", nextpub, sizeof(nextpub)) < 0)
		return -ENAMETOOLONG;
	rc = signer_load(&s, next, c->cfg.site);
	if (rc < 0) {
		log_errorx("cannot load the new controller key %s: the rotation cannot finish",
			   next);
		return rc;
	}
	unlink(old);
	if (link(c->cfg.key_path, old) < 0 && errno != ENOENT)
		log_warn("cannot keep the old key as %s", old);
	if (rename(next, c->cfg.key_path) < 0) {
		rc = -errno;
		log_warn("cannot install the new controller key as %s", c->cfg.key_path);
		sodium_memzero(&s, sizeof(s));
		return rc;
	}
	fsync_dir_of(c->cfg.key_path);
	unlink(nextpub);
	{
		char hexold[65];
		sqlite3_stmt *st = NULL;

		hex_encode(hexold, c->signer.pk, 32);
		if (ctl_db_prep(&c->db, &st, "UPDATE keys SET retired = ? WHERE pk = ? AND "
				"retired IS NULL", NULL) == 0) {
			sqlite3_bind_int64(st, 1, now_ms());
			sqlite3_bind_text(st, 2, hexold, -1, SQLITE_TRANSIENT);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
	}
	sodium_memzero(&c->signer, sizeof(c->signer));
	c->signer = s;
	sodium_memzero(&s, sizeof(s));
	hex_encode(hex, c->signer.key_id, ENVELOPE_KEYID_LEN);
	log_info("now signing with the new controller key %.16s (the old one is trusted by "
		 "nodes for %d s more)", hex, c->cfg.keys.retire_after_s);
	c->keys->next_alarm_ms = 0; /* the new key's expiry: check it now */
	/* The document now lists the old key under "retire". */
	return trust_issue(c);
}

int ctl_keys_start(struct ctl *c)
{
	char next[PATH_MAX];
	struct signer s;
	int rc;

	c->keys = calloc(1, sizeof(*c->keys));
	if (!c->keys)
		return -ENOMEM;
	rc = key_record(c, c->signer.pk, (int64_t)c->cfg.keys.lifetime_days * DAY_MS);
	if (rc < 0)
		return rc;
	if (rc == 1 && trust_exists(c)) {
		/*
		 * A key file we never used: the operator installed a new key (after
		 * `loaxa key recover`). The keys we signed with before are not ours
		 * any more; nodes learn it from the next document.
		 */
		char hex[65];
		sqlite3_stmt *st = NULL;

		hex_encode(hex, c->signer.pk, 32);
		if (ctl_db_prep(&c->db, &st, "UPDATE keys SET revoked = ? WHERE pk != ? AND "
				"revoked IS NULL", NULL) == 0) {
			sqlite3_bind_int64(st, 1, now_ms());
			sqlite3_bind_text(st, 2, hex, -1, SQLITE_TRANSIENT);
			sqlite3_step(st);
		}
		sqlite3_finalize(st);
		log_warnx("the controller key changed outside a rotation: every earlier key is "
			  "now listed as revoked in the trust document");
		if (key_path_with(c, ".old", next, sizeof(next)) == 0)
			unlink(next); /* an old key must not sign documents any more */
		rc = trust_issue(c);
		if (rc < 0)
			return rc;
	}
	if (key_path_with(c, ".next", next, sizeof(next)) == 0 && access(next, F_OK) == 0) {
		/* A rotation was announced but the switch did not happen. */
		if (signer_load(&s, next, c->cfg.site) == 0) {
			log_warnx("finishing a key rotation interrupted by a stop (%s)", next);
			sodium_memzero(&s, sizeof(s));
			c->keys->pending = 1;
			c->keys->switch_at_ms = mono_ms() + ROTATE_SWITCH_MS;
		}
	}
	if (!trust_exists(c))
		return trust_issue(c);
	if (!trust_area_current(c)) {
		log_info("controller.cfg's area changed: issuing a new trust document for the "
			 "nodes");
		rc = trust_issue(c);
		if (rc < 0)
			return rc;
	}
	trust_signer(c, &s); /* sets old_until_ms when a window is open */
	sodium_memzero(&s, sizeof(s));
	return 0;
}

void ctl_keys_stop(struct ctl *c)
{
	free(c->keys);
	c->keys = NULL;
}

/*
 * The certificates the controller relies on: the broker's CA (mqtt.cafile,
 * broker.dir/ca.crt) and the broker's own (broker.dir/server.crt, 825 days
 * from `loaxa broker-config`). When one expires, TLS stops and so does the
 * whole site: they get the same 30-day alarm as the key.
 */
static int64_t cert_not_after_ms(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;
	struct tm tm;
	int64_t ms = 0;

	if (!f)
		return 0;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		ms = (int64_t)timegm(&tm) * 1000;
	X509_free(x);
	return ms;
}

static json_t *certs_json(struct ctl *c)
{
	char paths[3][PATH_MAX];
	json_t *list = json_array();
	int n = 0, i, j;

	if (c->cfg.mqtt.cafile[0])
		snprintf(paths[n++], PATH_MAX, "%s", c->cfg.mqtt.cafile);
	if (c->cfg.broker.dir[0]) {
		if ((size_t)snprintf(paths[n], PATH_MAX, "%s/ca.crt", c->cfg.broker.dir) <
		    PATH_MAX)
			n++;
		if ((size_t)snprintf(paths[n], PATH_MAX, "%s/server.crt", c->cfg.broker.dir) <
		    PATH_MAX)
			n++;
	}
	for (i = 0; i < n; i++) {
		char real[PATH_MAX];
		int64_t na, left;
		int dup = 0;

		if (!realpath(paths[i], real))
			continue;
		for (j = 0; j < i; j++) {
			char other[PATH_MAX];

			if (realpath(paths[j], other) && strcmp(other, real) == 0)
				dup = 1;
		}
		na = dup ? 0 : cert_not_after_ms(real);
		if (!na)
			continue;
		left = na - now_ms();
		json_array_append_new(list, json_pack("{s:s, s:I, s:I, s:b}", "file", real,
						      "not_after", (json_int_t)na, "days_left",
						      (json_int_t)(left / DAY_MS), "alarm",
						      left <= KEY_ALARM_DAYS * DAY_MS));
	}
	return list;
}

/* Remember an expiry for the alarm table (site-wide: node "@site"). */
static void want_expiry(struct ctl *c, const char *kind, const char *key, int64_t left_ms,
			const char *todo)
{
	struct ctl_alarm_want *w;

	if (c->keys->nwant >= CTL_KEYS_ALARMS_MAX)
		return;
	w = &c->keys->want[c->keys->nwant++];
	snprintf(w->kind, sizeof(w->kind), "%s", kind);
	snprintf(w->key, sizeof(w->key), "%s", key);
	if (left_ms <= 0)
		snprintf(w->detail, sizeof(w->detail), "%s has EXPIRED: %s", key, todo);
	else
		snprintf(w->detail, sizeof(w->detail), "%s expires in %lld day%s: %s", key,
			 (long long)(left_ms / DAY_MS), left_ms / DAY_MS == 1 ? "" : "s", todo);
}

int ctl_keys_alarms(struct ctl *c, struct ctl_alarm_want *out, int max)
{
	int i, n = 0;

	if (!c->keys)
		return 0;
	for (i = 0; i < c->keys->nwant && n < max; i++)
		out[n++] = c->keys->want[i];
	return n;
}

static void expiry_alarm(struct ctl *c)
{
	json_t *certs = certs_json(c), *e;
	size_t i;

	c->keys->nwant = 0;
	json_array_foreach(certs, i, e) {
		if (!json_is_true(json_object_get(e, "alarm")))
			continue;
		want_expiry(c, "cert", json_string_value(json_object_get(e, "file")),
			    json_integer_value(json_object_get(e, "not_after")) - now_ms(),
			    "renew it (docs/security.md)");
		if (json_integer_value(json_object_get(e, "not_after")) <= now_ms())
			log_errorx("ALARM: the certificate %s has EXPIRED: TLS to the broker "
				   "fails; renew it (docs/security.md)",
				   json_string_value(json_object_get(e, "file")));
		else
			log_warnx("ALARM: the certificate %s expires in %lld day%s: renew it "
				  "(docs/security.md)", json_string_value(json_object_get(e, "file")),
				  (long long)json_integer_value(json_object_get(e, "days_left")),
				  json_integer_value(json_object_get(e, "days_left")) == 1 ? "" : "s");
	}
	json_decref(certs);
	key_expiry_alarm(c);
}

static void key_expiry_alarm(struct ctl *c)
{
	int64_t left = key_not_after(c, c->signer.pk) - now_ms();
	char hex[65];

	if (left > KEY_ALARM_DAYS * DAY_MS || c->keys->pending)
		return;
	hex_encode(hex, c->signer.key_id, ENVELOPE_KEYID_LEN);
	{
		char name[40];

		snprintf(name, sizeof(name), "key %.16s", hex);
		want_expiry(c, "key", name, left, "rotate it (loaxa key rotate)");
	}
	if (left <= 0)
		log_errorx("ALARM: the controller key %.16s has EXPIRED: nodes refuse what it "
			   "signs; rotate it now (loaxa key rotate) or recover (docs/security.md)",
			   hex);
	else
		log_warnx("ALARM: the controller key %.16s expires in %lld day%s: rotate it "
			  "(loaxa key rotate)", hex, (long long)(left / DAY_MS),
			  left / DAY_MS == 1 ? "" : "s");
}

void ctl_keys_tick(struct ctl *c)
{
	int64_t now = mono_ms();

	if (!c->keys)
		return;
	if (c->keys->pending && now >= c->keys->switch_at_ms) {
		c->keys->pending = 0;
		switch_to_next(c);
	}
	if (ctl_mqtt_connected(c, CTL_CONN_CTL) &&
	    ctl_mqtt_connected_at(c, CTL_CONN_CTL) != c->keys->published_for)
		trust_republish(c);
	if (c->keys->old_until_ms && now_ms() >= c->keys->old_until_ms) {
		/* the old key's window is over: sign the document with the current */
		c->keys->old_until_ms = 0;
		trust_issue(c);
	}
	if (now >= c->keys->next_alarm_ms) {
		c->keys->next_alarm_ms = now + DAY_MS;
		expiry_alarm(c);
	}
}

void ctl_keys_revoked_changed(struct ctl *c)
{
	trust_issue(c);
}

void ctl_keys_recovery_line(struct ctl *c, char *out, size_t outlen)
{
	char hex[80];

	out[0] = '\0';
	if (!c->cfg.keys.recovery_pub[0] ||
	    read_secret_line(c->cfg.keys.recovery_pub, hex, sizeof(hex)) < 0 ||
	    strlen(hex) != 64)
		return;
	snprintf(out, outlen, "recovery_key = \"%s\";\n", hex);
}

json_t *ctl_keys_status_json(struct ctl *c)
{
	int64_t not_after = key_not_after(c, c->signer.pk), left = not_after - now_ms();
	char hex[65];

	hex_encode(hex, c->signer.key_id, ENVELOPE_KEYID_LEN);
	return json_pack("{s:s, s:I, s:I, s:b, s:b, s:o}", "current", hex, "not_after",
			 (json_int_t)not_after, "days_left", (json_int_t)(left / DAY_MS),
			 "alarm", left <= KEY_ALARM_DAYS * DAY_MS, "rotation_pending",
			 c->keys && c->keys->pending, "certificates", certs_json(c));
}

static json_t *keys_list_json(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();
	char cur[65];

	hex_encode(cur, c->signer.pk, 32);
	if (!list || ctl_db_prep(&c->db, &st, "SELECT pk, created, not_after, retired, "
				 "revoked FROM keys ORDER BY created", NULL) < 0)
		return list;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *pk = (const char *)sqlite3_column_text(st, 0);
		uint8_t raw[32], id[ENVELOPE_KEYID_LEN];
		char idhex[2 * ENVELOPE_KEYID_LEN + 1] = "";

		if (pk && hex_decode(raw, 32, pk) == 0) {
			key_id_of(id, raw);
			hex_encode(idhex, id, sizeof(id));
		}
		json_array_append_new(list, json_pack(
			"{s:s, s:s, s:I, s:I, s:o, s:o, s:b}", "id", idhex, "key", pk ? pk : "",
			"created", (json_int_t)sqlite3_column_int64(st, 1), "not_after",
			(json_int_t)sqlite3_column_int64(st, 2), "retired",
			sqlite3_column_type(st, 3) == SQLITE_NULL
				? json_null() : json_integer(sqlite3_column_int64(st, 3)),
			"revoked", sqlite3_column_type(st, 4) == SQLITE_NULL
				? json_null() : json_integer(sqlite3_column_int64(st, 4)),
			"current", pk && strcmp(pk, cur) == 0));
	}
	sqlite3_finalize(st);
	return list;
}

static void rotate(struct ctl *c, json_t *req, unsigned *status, json_t **reply,
		   char *target, size_t tlen)
{
	char next[PATH_MAX], nextpub[PATH_MAX], hex[65], err[256];
	int64_t lifetime_s = (int64_t)c->cfg.keys.lifetime_days * 86400;
	struct signer s;
	int rc;

	snprintf(target, tlen, "controller key");
	if (req && ctl_json_int(req, "lifetime_s", CTL_OPTIONAL, 10, 3650LL * 86400,
				&lifetime_s, err, sizeof(err)) < 0) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = json_pack("{s:s}", "error", err);
		return;
	}
	if (c->keys->pending) {
		*status = MHD_HTTP_CONFLICT;
		*reply = json_pack("{s:s}", "error", "a rotation is already under way");
		return;
	}
	if (key_path_with(c, ".next", next, sizeof(next)) < 0 ||
	    key_path_with(c, ".next.pub", nextpub, sizeof(nextpub)) < 0) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = json_pack("{s:s}", "error", "key path too long");
		return;
	}
	unlink(next);
	unlink(nextpub);
	rc = keypair_generate(next, nextpub);
	if (rc == 0)
		rc = signer_load(&s, next, c->cfg.site);
	if (rc < 0) {
		errno = -rc;
		log_warn("cannot make a new controller key %s", next);
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = json_pack("{s:s}", "error", "cannot make the new key (see the log)");
		return;
	}
	rc = key_record(c, s.pk, lifetime_s * 1000);
	hex_encode(hex, s.key_id, ENVELOPE_KEYID_LEN);
	sodium_memzero(&s, sizeof(s));
	/* Announced signed by the current key, which nodes trust today. */
	if (rc == 0)
		rc = trust_issue(c);
	if (rc < 0) {
		unlink(next);
		unlink(nextpub);
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = json_pack("{s:s}", "error", "cannot announce the new key (see the log)");
		return;
	}
	c->keys->pending = 1;
	c->keys->switch_at_ms = mono_ms() + ROTATE_SWITCH_MS;
	snprintf(target, tlen, "controller key -> %.16s", hex);
	log_info("key rotation: new controller key %.16s announced; signing with it in %d ms",
		 hex, ROTATE_SWITCH_MS);
	*status = MHD_HTTP_OK;
	*reply = json_pack("{s:s, s:i, s:i}", "new_key", hex, "switch_in_ms", ROTATE_SWITCH_MS,
			   "old_trusted_for_s", c->cfg.keys.retire_after_s);
}

int ctl_keys_handle(struct ctl *c, const char *method, const char *url, json_t *req,
		    unsigned *status, json_t **reply, char *target, size_t tlen)
{
	if (strcmp(method, "GET") == 0 && strcmp(url, "/v1/keys") == 0) {
		*status = MHD_HTTP_OK;
		*reply = json_pack("{s:o, s:o}", "keys", keys_list_json(c), "status",
				   ctl_keys_status_json(c));
		return 0;
	}
	if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/keys/rotate") == 0) {
		rotate(c, req, status, reply, target, tlen);
		return 0;
	}
	return -ENOENT;
}
