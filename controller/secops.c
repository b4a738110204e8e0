/*
 * secops.c - see secops.h.
 */
#include "secops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>
#include <sodium.h>
#include <sqlite3.h>

#include "ctl.h"
#include "ctlutil.h"
#include "keys.h"
#include "mosqpw.h"
#include "log.h"
#include "util.h"


static json_t *error_json(const char *fmt, const char *arg)
	__attribute__((format(printf, 1, 0)));
/* {"error": fmt with one %s for arg (clipped to 300 characters)}. */
static json_t *error_json(const char *fmt, const char *arg)
{
	char buf[512], clip[301];

	/* clipped by hand: snprintf would (rightly) warn about truncation */
	size_t n = arg ? strnlen(arg, sizeof(clip) - 1) : 0;

	memcpy(clip, arg ? arg : "", n);
	clip[n] = '\0';
	snprintf(buf, sizeof(buf), fmt, clip);
	return json_pack("{s:s}", "error", buf);
}

/* ------------------------------------------------------------ broker files */

struct strbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		{
			size_t cap = (b->cap + (size_t)n + 1) * 2;
			char *np = realloc(b->p, cap);

			if (!np) {
				b->oom = 1;
				return;
			}
			b->p = np;
			b->cap = cap;
		}
	}
}

static int broker_path(struct ctl *c, const char *name, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%s", c->cfg.broker.dir, name) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/* broker.dir/<name> into b (a missing base is an error: run broker-config). */
static int add_base(struct ctl *c, struct strbuf *b, const char *name)
{
	char path[PATH_MAX];
	uint8_t *data = NULL;
	size_t len = 0;
	int rc;

	rc = broker_path(c, name, path, sizeof(path));
	if (rc == 0)
		rc = read_file(path, 1 << 20, &data, &len);
	if (rc < 0) {
		errno = -rc;
		log_warn("cannot read %s (made by `loaxa broker-config`)", path);
		return rc;
	}
	sb_add(b, "%s%s", (char *)data, len && data[len - 1] != '\n' ? "\n" : "");
	free(data);
	return 0;
}

static void acl_for_node(struct ctl *c, struct strbuf *acl, const char *node,
			 const char *zones_text)
{
	static const char *const own_writes[] = { "status", "event", "fetch", "time/ping" };
	const char *site = c->cfg.site;
	json_t *zones = json_loads(zones_text, 0, NULL), *z;
	size_t i;

	sb_add(acl, "\nuser %s\n", node);
	for (i = 0; i < ARRAY_SIZE(own_writes); i++)
		sb_add(acl, "topic write loaxa/%s/node/%s/%s\n", site, node, own_writes[i]);
	sb_add(acl, "topic read loaxa/%s/node/%s/#\n", site, node);
	sb_add(acl, "topic read loaxa/%s/zone/all/#\n", site);
	json_array_foreach(zones, i, z) {
		if (json_is_string(z) && name_valid(json_string_value(z)) &&
		    strcmp(json_string_value(z), "all") != 0)
			sb_add(acl, "topic read loaxa/%s/zone/%s/#\n", site, json_string_value(z));
	}
	json_decref(zones);
	/* bulletins from above: the areas the trust document lists (node/upper.h) */
	for (i = 0; i < c->cfg.area.nparent; i++)
		if (c->cfg.area.parent[i].has_key && c->cfg.area.parent[i].may)
			sb_add(acl, "topic read loaxa/area/%s/cmd\n", c->cfg.area.parent[i].code);
}

int ctl_secops_write_broker_files(struct ctl *c)
{
	struct strbuf pw = { 0 }, acl = { 0 };
	char path[PATH_MAX];
	sqlite3_stmt *st = NULL;
	int rc, n = 0;

	if (!c->cfg.broker.dir[0])
		return -ENOTSUP;
	rc = add_base(c, &pw, "passwd.base");
	if (rc == 0)
		rc = add_base(c, &acl, "acl.base");
	if (rc < 0)
		goto out;
	sb_add(&acl, "\n# nodes (written by loaxa-controller from its database; edits are "
	       "lost)\n");
	if (ctl_db_prep(&c->db, &st, "SELECT node, zones, pwhash FROM node_creds WHERE "
			"revoked IS NULL ORDER BY node", "cannot read node credentials") < 0) {
		rc = -EIO;
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(st, 0);
		const char *zones = (const char *)sqlite3_column_text(st, 1);
		const char *hash = (const char *)sqlite3_column_text(st, 2);

		if (!node || !zones || !hash || !name_valid(node))
			continue;
		sb_add(&pw, "%s:%s\n", node, hash);
		acl_for_node(c, &acl, node, zones);
		n++;
	}
	if (pw.oom || acl.oom) {
		rc = -ENOMEM;
		goto out;
	}
	rc = broker_path(c, "passwd", path, sizeof(path));
	if (rc == 0)
		rc = write_file_atomic(path, pw.p, pw.len, 0640);
	if (rc == 0)
		rc = broker_path(c, "acl", path, sizeof(path));
	if (rc == 0)
		rc = write_file_atomic(path, acl.p, acl.len, 0640);
	if (rc < 0) {
		errno = -rc;
		log_warn("cannot write the broker's %s", path);
		goto out;
	}
	log_info("broker files in %s rewritten: %d node account%s (reload the broker to "
		 "apply: systemctl reload mosquitto)", c->cfg.broker.dir, n, n == 1 ? "" : "s");
out:
	sqlite3_finalize(st);
	if (pw.p)
		sodium_memzero(pw.p, pw.cap);
	free(pw.p);
	free(acl.p);
	return rc;
}

/* ------------------------------------------------------------ provisioning */

static json_t *node_cfg_text(struct ctl *c, const char *node, json_t *zones)
{
	char pk[65], zl[CTL_MAX_ZONES * (CTL_NAME_MAX + 4)] = "", rec[200] = "";
	size_t i, off = 0;
	json_t *z, *out;
	struct strbuf b = { 0 };

	hex_encode(pk, c->signer.pk, sizeof(c->signer.pk));
	json_array_foreach(zones, i, z)
		off += (size_t)snprintf(zl + off, sizeof(zl) - off, "%s\"%s\"", i ? ", " : "",
					json_string_value(z));
	ctl_keys_recovery_line(c, rec, sizeof(rec));
	sb_add(&b,
	       "# loaxa node %s - made by `loaxa node add` (docs/security.md).\n"
	       "# Install this directory as /etc/loaxa on the board; keep mqtt.password\n"
	       "# readable only by the node's user (0600).\n"
	       "site = \"%s\";\n"
	       "node = \"%s\";\n"
	       "zones = [%s];\n"
	       "state_dir = \"/var/lib/loaxa-node\";\n"
	       "controller_key = \"%s\";\n"
	       "%s"
	       "mqtt = { host = \"%s\"; port = %d; keepalive = 30; username = \"%s\";\n"
	       "         password_file = \"mqtt.password\"; cafile = \"ca.crt\"; };\n"
	       "alsa = { device = \"default\"; };\n",
	       node, c->cfg.site, node, zl, pk, rec, c->cfg.broker.node_host,
	       c->cfg.broker.node_port, node);
	out = b.oom ? NULL : json_stringn(b.p, b.len);
	free(b.p);
	return out;
}

static void provision_add(struct ctl *c, json_t *req, unsigned *status, json_t **reply,
			  char *target, size_t tlen)
{
	char node[CTL_NAME_MAX], err[256], hash[MOSQ_PW_HASH_MAX], capath[PATH_MAX];
	char password[64];
	uint8_t *ca = NULL;
	json_t *zones = json_object_get(req, "zones"), *z;
	sqlite3_stmt *st = NULL;
	char *ztext = NULL;
	size_t i, calen = 0;
	int rc;

	if (ctl_json_str(req, "node", CTL_REQUIRED, node, sizeof(node), err, sizeof(err)) < 0 ||
	    !name_valid(node)) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = error_json("field \"node\" must be a node id (1-31 of a-z 0-9 _ -)",
				    NULL);
		return;
	}
	snprintf(target, tlen, "node %s", node);
	if (strcmp(node, "controller") == 0) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = error_json("\"controller\" is the controller's own broker account", NULL);
		return;
	}
	if (!json_is_array(zones) || json_array_size(zones) == 0 ||
	    json_array_size(zones) > 16) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = error_json("field \"zones\" must list 1 to 16 zones", NULL);
		return;
	}
	json_array_foreach(zones, i, z) {
		if (!json_is_string(z) || !name_valid(json_string_value(z))) {
			*status = MHD_HTTP_BAD_REQUEST;
			*reply = error_json("field \"zones\": every zone must be a name (1-31 of "
					    "a-z 0-9 _ -)", NULL);
			return;
		}
	}
	rc = broker_path(c, "ca.crt", capath, sizeof(capath));
	if (rc == 0)
		rc = read_file(capath, 64 * 1024, &ca, &calen);
	if (rc < 0) {
		*status = MHD_HTTP_CONFLICT;
		*reply = error_json("cannot read the broker CA %s: run `loaxa broker-config` "
				    "first", capath);
		return;
	}
	mosq_password_random(password, sizeof(password));
	ztext = json_dumps(zones, JSON_COMPACT);
	rc = ztext ? mosq_password_hash(password, hash) : -ENOMEM;
	if (rc < 0)
		goto fail;
	/* A revoked node may be provisioned again (a new board); a live one not. */
	if (ctl_db_prep(&c->db, &st, "INSERT INTO node_creds (node, zones, pwhash, created) "
			"VALUES (?1, ?2, ?3, ?4) ON CONFLICT(node) DO UPDATE SET "
			"zones = ?2, pwhash = ?3, created = ?4, revoked = NULL WHERE "
			"revoked IS NOT NULL", NULL) < 0) {
		rc = -EIO;
		goto fail;
	}
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, ztext, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = -EIO;
		goto fail;
	}
	if (sqlite3_changes(c->db.h) == 0) {
		*status = MHD_HTTP_CONFLICT;
		*reply = error_json("node %s is provisioned already (revoke it first to make "
				    "new credentials)", node);
		goto out;
	}
	rc = ctl_secops_write_broker_files(c);
	if (rc < 0)
		goto fail;
	*status = MHD_HTTP_CREATED;
	*reply = json_pack("{s:s, s:O, s:s, s:s, s:s#, s:o, s:s, s:i, s:s}",
			   "node", node, "zones", zones, "username", node, "password", password,
			   "ca", (const char *)ca, (int)calen, "node_cfg",
			   node_cfg_text(c, node, zones), "mqtt_host", c->cfg.broker.node_host,
			   "mqtt_port", c->cfg.broker.node_port, "reload",
			   "reload the broker so it reads the new account: systemctl reload "
			   "mosquitto (or SIGHUP)");
	log_info("node %s provisioned for zones %s", node, ztext);
	goto out;
fail:
	if (rc == -EIO)
		ctl_db_fail(&c->db, "cannot store node credentials");
	*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	*reply = error_json("cannot provision node %s (see the controller's log)", node);
out:
	sqlite3_finalize(st);
	sodium_memzero(password, sizeof(password));
	free(ztext);
	free(ca);
}

static void provision_revoke(struct ctl *c, const char *node, unsigned *status,
			     json_t **reply, char *target, size_t tlen)
{
	sqlite3_stmt *st = NULL;
	int changed;

	snprintf(target, tlen, "node %s", node);
	if (ctl_db_prep(&c->db, &st, "UPDATE node_creds SET revoked = ? WHERE node = ? AND "
			"revoked IS NULL", NULL) < 0) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = error_json("the controller's database failed", NULL);
		return;
	}
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
	changed = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(c->db.h) : -1;
	sqlite3_finalize(st);
	if (changed <= 0) {
		*status = changed < 0 ? MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_NOT_FOUND;
		*reply = error_json(changed < 0 ? "the controller's database failed"
				    : "node %s is not provisioned (or revoked already)", node);
		return;
	}
	if (ctl_secops_write_broker_files(c) < 0) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = error_json("node %s is revoked in the database but the broker files "
				    "could not be rewritten (see the log)", node);
		return;
	}
	ctl_keys_revoked_changed(c);
	log_warnx("node %s revoked: its broker account is gone and the revocation goes "
		  "out in signed messages", node);
	*status = MHD_HTTP_OK;
	*reply = json_pack("{s:s, s:s}", "revoked", node, "reload",
			   "reload the broker so it drops the account: systemctl reload mosquitto "
			   "(or SIGHUP)");
}

json_t *ctl_secops_revoked_json(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();

	if (!list || ctl_db_prep(&c->db, &st, "SELECT node FROM node_creds WHERE revoked IS "
				 "NOT NULL ORDER BY node", NULL) < 0)
		return list;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(list, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return list;
}

static json_t *provisioned_json(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();

	if (!list || ctl_db_prep(&c->db, &st, "SELECT node, zones, created, revoked FROM "
				 "node_creds ORDER BY node", NULL) < 0)
		return list;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *z = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);

		json_array_append_new(list, json_pack(
			"{s:s, s:o, s:I, s:o}", "node", (const char *)sqlite3_column_text(st, 0),
			"zones", z ? z : json_array(), "created",
			(json_int_t)sqlite3_column_int64(st, 2), "revoked",
			sqlite3_column_type(st, 3) == SQLITE_NULL
				? json_null() : json_integer(sqlite3_column_int64(st, 3))));
	}
	sqlite3_finalize(st);
	return list;
}

int ctl_secops_handle(struct ctl *c, const char *method, const char *url, json_t *req,
		      unsigned *status, json_t **reply, char *target, size_t tlen)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	const char *p = "/v1/provision/nodes";
	size_t pl = strlen(p);

	if (strncmp(url, p, pl) == 0) {
		if (!c->cfg.broker.dir[0]) {
			*status = MHD_HTTP_CONFLICT;
			*reply = error_json("provisioning needs broker.dir in the controller's "
					    "config (the directory `loaxa broker-config` made)",
					    NULL);
			return 0;
		}
		if (get && url[pl] == '\0') {
			*status = MHD_HTTP_OK;
			*reply = json_pack("{s:o}", "nodes", provisioned_json(c));
			return 0;
		}
		if (post && url[pl] == '\0') {
			provision_add(c, req, status, reply, target, tlen);
			return 0;
		}
		if (post && url[pl] == '/') {
			char node[CTL_NAME_MAX];
			const char *slash = strchr(url + pl + 1, '/');
			size_t n = slash ? (size_t)(slash - (url + pl + 1)) : 0;

			if (slash && strcmp(slash, "/revoke") == 0 && n < sizeof(node)) {
				memcpy(node, url + pl + 1, n);
				node[n] = '\0';
				if (name_valid(node)) {
					provision_revoke(c, node, status, reply, target, tlen);
					return 0;
				}
			}
		}
		return -ENOENT;
	}
	return ctl_keys_handle(c, method, url, req, status, reply, target, tlen);
}
