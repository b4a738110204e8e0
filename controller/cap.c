/*
 * cap.c - CAP 1.2 alerts into broadcasts and drafts (cap.h, docs/cap.md).
 */
#include "cap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "approval.h"
#include "auth.h"
#include "broadcast.h"
#include "capmap.h"
#include "capxml.h"
#include "ctl.h"
#include "ctlutil.h"
#include "emergency.h"
#include "imports.h"
#include "log.h"
#include "wallclock.h"

/* One alert whose audio is being made (the import's callback argument). */
struct cap_job {
	int64_t row;
	char tmp[PATH_MAX];            /* inline audio written here; "" otherwise */
	struct cap_decision d;
	struct cap_source source;      /* a copy: a reload may change the config */
	char title[CTL_TITLE_MAX];
	char peer[AUTH_PEER_MAX];
};

int ctl_cap_init(struct ctl *c)
{
	int rc = ctl_db_exec(&c->db,
			     "CREATE TABLE IF NOT EXISTS cap_alerts("
			     " id INTEGER PRIMARY KEY AUTOINCREMENT,"
			     " sender TEXT NOT NULL, identifier TEXT NOT NULL, sent TEXT,"
			     " received INTEGER NOT NULL, submitted_by TEXT, status TEXT,"
			     " msg_type TEXT, level TEXT, drill INTEGER, target TEXT,"
			     " direct INTEGER, state TEXT NOT NULL, headline TEXT, why TEXT,"
			     " result TEXT, error TEXT, UNIQUE(sender, identifier))",
			     "create the cap_alerts table");

	if (rc < 0)
		return rc;
	if (c->cfg.cap.enabled && cap_xml_init() < 0) {
		log_errorx("CAP: the CAP 1.2 schema compiled into the controller does not load");
		return -EIO;
	}
	return 0;
}

int ctl_cap_owns_url(const char *url)
{
	return strncmp(url, "/v1/cap", 7) == 0 && (!url[7] || url[7] == '/' || url[7] == '?');
}

static json_t *err_json(const char *msg, int line, const char *elem)
{
	json_t *j = json_pack("{s:s}", "error", msg);

	if (j && elem && *elem)
		json_object_set_new(j, "element", json_string(elem));
	if (j && line > 0)
		json_object_set_new(j, "line", json_integer(line));
	return j;
}

/* The source as the author of what it sends: its drafts, its emergencies. */
static void source_principal(const struct cap_source *s, int approve, const char *peer,
			     struct ctl_principal *p)
{
	memset(p, 0, sizeof(*p));
	p->authenticated = 1;
	snprintf(p->user, sizeof(p->user), "%s", s->name);
	snprintf(p->role, sizeof(p->role), "%s", approve ? "approver" : "operator");
	p->perms = PERM_READ | PERM_OPERATE | (approve ? PERM_APPROVE : 0);
	p->all_zones = 1;
	snprintf(p->peer, sizeof(p->peer), "CAP %.80s", peer);
	snprintf(p->peer_id, sizeof(p->peer_id), "cap");
}

static int row_state(struct ctl *c, int64_t row, const char *state, const char *result,
		     const char *error)
{
	sqlite3_stmt *st = NULL;
	int rc = ctl_db_prep(&c->db, &st, "UPDATE cap_alerts SET state = ?1, result = "
			     "COALESCE(?2, result), error = ?3 WHERE id = ?4", "update a CAP alert");

	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_TRANSIENT);
	if (result)
		sqlite3_bind_text(st, 2, result, -1, SQLITE_TRANSIENT);
	if (error)
		sqlite3_bind_text(st, 3, error, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, row);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ctl_db_fail(&c->db, "update a CAP alert");
	sqlite3_finalize(st);
	return rc;
}

static int row_get_state(struct ctl *c, int64_t row, char *state, size_t len)
{
	sqlite3_stmt *st = NULL;
	int rc = ctl_db_prep(&c->db, &st, "SELECT state FROM cap_alerts WHERE id = ?1",
			     "read a CAP alert");

	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, row);
	rc = -ENOENT;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(state, len, "%s", (const char *)sqlite3_column_text(st, 0));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------ on air */

/* One target (a zone, or "all"): on air, or a draft. The id it became is
 * appended to results, a failure to errors. */
static void dispatch_one(struct ctl *c, struct cap_job *job, const char *content,
			 const char *zone, json_t *results, json_t *errors)
{
	const struct cap_decision *d = &job->d;
	struct ctl_principal p;
	json_t *reply = NULL;
	unsigned status = 500;
	char err[512], target[192];
	int all = zone == NULL;

	if (d->level == CAP_EMERGENCY && d->direct) {
		json_t *body = json_pack("{s:s, s:b, s:i}", "content", content, "drill", d->drill,
					 "max_s", c->cfg.cap.max_s);
		char *text;

		if (!body)
			goto oom;
		if (all)
			json_object_set_new(body, "all", json_true());
		else
			json_object_set_new(body, "zone", json_string(zone));
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!text)
			goto oom;
		source_principal(&job->source, 1, job->peer, &p);
		ctl_emergency_api(c, &p, "POST", "/v1/emergency", text, strlen(text), &status,
				  &reply, target, sizeof(target));
		free(text);
		if (status == 201) {
			json_array_append_new(results, json_string(json_string_value(
				json_object_get(reply, "emergency"))));
			ctl_auth_audit(&c->db, &p, "POST /v1/emergency", target, status,
				       "CAP alert, straight on air");
		} else
			goto refused;
	} else {
		struct ctl_play_request req;

		memset(&req, 0, sizeof(req));
		snprintf(req.content, sizeof(req.content), "%s", content);
		if (all)
			req.all = 1;
		else
			snprintf(req.zone, sizeof(req.zone), "%s", zone);
		snprintf(req.level, sizeof(req.level), "%s", cap_level_name(d->level));
		req.volume = 100;
		snprintf(req.title, sizeof(req.title), "%s", job->title);
		/* a warning from above is its own reason to play outside the hours */
		req.outside_hours = 1;
		if (d->direct) {
			int rc;

			source_principal(&job->source, 0, job->peer, &p);
			rc = ctl_broadcast_play(c, &req, &reply, err, sizeof(err));
			if (rc < 0) {
				json_array_append_new(errors, json_sprintf("%s: %s", all ? "all" : zone,
									   err));
				goto out;
			}
			status = 201;
			json_array_append_new(results, json_string(json_string_value(
				json_object_get(reply, "broadcast"))));
			ctl_auth_audit(&c->db, &p, "POST /v1/broadcasts", all ? "all" : zone, status,
				       "CAP alert, straight on air");
		} else {
			json_t *dj;

			source_principal(&job->source, 0, job->peer, &p);
			ctl_approval_broadcast(c, &p, &req, 0, &status, &reply);
			dj = json_object_get(reply, "draft");
			if (status != 202 || !json_is_integer(json_object_get(dj, "draft")))
				goto refused;
			json_array_append_new(results, json_sprintf("draft %" JSON_INTEGER_FORMAT,
				json_integer_value(json_object_get(dj, "draft"))));
		}
	}
	goto out;
refused:
	json_array_append_new(errors, json_sprintf("%s: %s", all ? "all" : zone,
		json_string_value(json_object_get(reply, "error")) ?
		json_string_value(json_object_get(reply, "error")) : "refused"));
	goto out;
oom:
	json_array_append_new(errors, json_string("out of memory"));
out:
	json_decref(reply);
}

static void import_done(struct ctl *c, void *arg, const struct ctl_import_outcome *out)
{
	struct cap_job *job = arg;
	struct ctl_content_row row;
	json_t *results = json_array(), *errors = json_array();
	char state[32], *rs = NULL, *es = NULL;
	int existed = 0;
	size_t i;

	if (job->tmp[0])
		unlink(job->tmp);
	if (row_get_state(c, job->row, state, sizeof(state)) == 0 &&
	    strcmp(state, "importing") != 0) {
		/* cancelled while its audio was being made */
		log_info("CAP alert %" PRId64 ": %s before its audio was ready: not played",
			 job->row, state);
		goto out;
	}
	if (out->rc < 0) {
		log_warnx("CAP alert %" PRId64 ": the audio cannot be made: %s", job->row, out->err);
		row_state(c, job->row, "failed", NULL, out->err);
		goto out;
	}
	if (ctl_imports_record(c, out, job->title, &row, &existed) < 0) {
		row_state(c, job->row, "failed", NULL, "the audio was made but could not be "
			  "recorded (see the controller's log)");
		goto out;
	}
	if (!results || !errors)
		goto out;
	if (job->d.all)
		dispatch_one(c, job, row.id, NULL, results, errors);
	for (i = 0; !job->d.all && i < job->d.nzones; i++)
		dispatch_one(c, job, row.id, job->d.zones[i], results, errors);
	rs = json_dumps(results, JSON_COMPACT);
	es = json_array_size(errors) ? json_dumps(errors, JSON_COMPACT) : NULL;
	row_state(c, job->row, json_array_size(results) == 0 ? "failed" :
		  job->d.direct ? "on-air" : "draft", rs, es);
	log_warnx("CAP alert %" PRId64 " (%s): %s %s%s -> %s%s%s", job->row, job->title,
		  job->d.drill ? "drill" : "real", cap_level_name(job->d.level),
		  job->d.direct ? ", straight on air" : ", waits for approval", rs ? rs : "[]",
		  es ? "; refused: " : "", es ? es : "");
out:
	free(rs);
	free(es);
	json_decref(results);
	json_decref(errors);
	free(job);
}

/* ------------------------------------------------------------ audio */

/* Base64 of an audio resource into a file in tmp_dir. 0, or -errno with err. */
static int write_inline(struct ctl *c, const struct cap_resource *r, char *path, size_t pathlen,
			char *err, size_t errlen)
{
	unsigned char *bin = malloc(r->deref_len / 4 * 3 + 3);
	size_t n = 0;
	int fd = -1, rc = -EINVAL;

	if (!bin)
		return -ENOMEM;
	if (sodium_base642bin(bin, r->deref_len / 4 * 3 + 3, r->deref, r->deref_len,
			      " \t\r\n", &n, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 || n == 0) {
		snprintf(err, errlen, "element <derefUri> of the audio resource is not base64 "
			 "data");
		goto out;
	}
	if ((size_t)snprintf(path, pathlen, "%s/cap-XXXXXX", c->tmp_dir) >= pathlen) {
		snprintf(err, errlen, "the controller's tmp path is too long");
		goto out;
	}
	fd = mkstemp(path);
	if (fd < 0 || write(fd, bin, n) != (ssize_t)n || fsync(fd) < 0) {
		rc = -errno;
		snprintf(err, errlen, "the controller cannot store the alert's audio: %s",
			 strerror(errno));
		if (fd >= 0)
			unlink(path);
		path[0] = '\0';
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(bin);
	return rc;
}

/*
 * A <uri> names a file: only one inside cap.import_dir (after resolving
 * links), never a path an alert invents. "file://" or a plain path. An
 * http(s) URL is refused: fetching is for a separate program (docs/cap.md).
 */
static int local_uri(struct ctl *c, const char *uri, char *path, size_t pathlen, char *err,
		     size_t errlen)
{
	const char *p = uri, *dir = c->cfg.cap.import_dir;
	char real[PATH_MAX], rdir[PATH_MAX];
	size_t dl;

	if (strncmp(p, "file://", 7) == 0)
		p += 7;
	if (!dir[0] || p[0] != '/') {
		snprintf(err, errlen, "element <uri> of the audio resource (%.200s) is not a file "
			 "in cap.import_dir: send the audio inline (derefUri) or place it there",
			 uri);
		return -EPERM;
	}
	if (!realpath(dir, rdir) || !realpath(p, real)) {
		snprintf(err, errlen, "element <uri>: %.200s cannot be found (%s)", p,
			 strerror(errno));
		return -ENOENT;
	}
	dl = strlen(rdir);
	if (strncmp(real, rdir, dl) != 0 || real[dl] != '/') {
		snprintf(err, errlen, "element <uri>: %.200s is outside cap.import_dir (%.200s): "
			 "refused", p, rdir);
		return -EPERM;
	}
	snprintf(path, pathlen, "%s", real);
	return 0;
}

/* What is spoken when the alert carries no audio. */
static void speech_text(const struct cap_info *in, int drill, int max, char *out, size_t outlen)
{
	size_t lim = (size_t)max < outlen ? (size_t)max : outlen - 1, len;

	snprintf(out, outlen, "%s%s%s%s%s%s", drill ? "Đây là diễn tập. " : "",
		 in->headline[0] ? in->headline : in->event, ". ", in->description,
		 in->instruction[0] ? " " : "", in->instruction);
	len = strlen(out);
	if (len > lim) {
		len = lim;
		while (len > 0 && ((unsigned char)out[len] & 0xC0) == 0x80)
			len--;
		out[len] = '\0';
	}
	/* the text travels through a file to espeak-ng: no control characters */
	for (len = 0; out[len]; len++)
		if ((unsigned char)out[len] < 0x20)
			out[len] = ' ';
}

/* ------------------------------------------------------------ cancel */

struct cancel_ctx {
	struct ctl *c;
	const char *sender;
	const char *peer;
	const struct cap_source *source;
	json_t *stopped, *errors;
};

static void stop_result(struct cancel_ctx *x, const char *id)
{
	struct ctl_principal p;
	json_t *reply = NULL;
	unsigned status = 500;
	char target[192], url[64], *body = NULL;

	if (id[0] == 'e' || id[0] == 'd') {
		source_principal(x->source, 1, x->peer, &p);
		json_t *o = json_pack("{s:s}", "emergency", id);

		body = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		ctl_emergency_api(x->c, &p, "POST", "/v1/emergency/stop", body ? body : "{}",
				  body ? strlen(body) : 2, &status, &reply, target, sizeof(target));
	} else if (strncmp(id, "draft ", 6) == 0) {
		source_principal(x->source, 0, x->peer, &p);
		snprintf(url, sizeof(url), "/v1/drafts/%s/withdraw", id + 6);
		ctl_approval_api(x->c, &p, "POST", url, NULL, NULL, "{}", 2, &status, &reply,
				 target, sizeof(target));
	} else {
		/* a broadcast has played or is playing: it ends by itself */
		json_array_append_new(x->stopped, json_sprintf("%s (already played)", id));
		return;
	}
	if (status < 300) {
		json_array_append_new(x->stopped, json_string(id));
		ctl_auth_audit(&x->c->db, &p, id[0] == 'd' && id[1] == 'r' ? "POST /v1/drafts/withdraw"
			       : "POST /v1/emergency/stop", target, status, "CAP Cancel");
	} else
		json_array_append_new(x->errors, json_sprintf("%s: %s", id,
			json_string_value(json_object_get(reply, "error")) ?
			json_string_value(json_object_get(reply, "error")) : "refused"));
	json_decref(reply);
	free(body);
}

static int cancel_ref(void *arg, const char *sender, const char *id)
{
	struct cancel_ctx *x = arg;
	sqlite3_stmt *st = NULL;
	int64_t row = 0;
	json_t *res = NULL;
	size_t i;
	int rc;

	if (strcmp(sender, x->sender) != 0) {
		json_array_append_new(x->errors, json_sprintf("%s,%s: a source may cancel only "
							      "its own alerts", sender, id));
		return 0;
	}
	rc = ctl_db_prep(&x->c->db, &st, "SELECT id, result FROM cap_alerts WHERE sender = ?1 "
			 "AND identifier = ?2", "read a CAP alert");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, sender, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		row = sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 1) == SQLITE_TEXT)
			res = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
	}
	sqlite3_finalize(st);
	if (!row) {
		json_array_append_new(x->errors, json_sprintf("%s: no such alert was received "
							      "here", id));
		return 0;
	}
	for (i = 0; i < json_array_size(res); i++)
		if (json_is_string(json_array_get(res, i)))
			stop_result(x, json_string_value(json_array_get(res, i)));
	json_decref(res);
	row_state(x->c, row, "cancelled", NULL, NULL);
	return 0;
}

/* ------------------------------------------------------------ the API */

static json_t *row_json(sqlite3_stmt *st)
{
	json_t *j = json_pack("{s:I, s:s, s:s, s:s?, s:I, s:s?, s:s?, s:s?, s:s?, s:b, s:s?, "
			      "s:b, s:s, s:s?, s:s?}",
			      "cap", (json_int_t)sqlite3_column_int64(st, 0),
			      "sender", (const char *)sqlite3_column_text(st, 1),
			      "identifier", (const char *)sqlite3_column_text(st, 2),
			      "sent", (const char *)sqlite3_column_text(st, 3),
			      "received", (json_int_t)sqlite3_column_int64(st, 4),
			      "submitted_by", (const char *)sqlite3_column_text(st, 5),
			      "status", (const char *)sqlite3_column_text(st, 6),
			      "msg_type", (const char *)sqlite3_column_text(st, 7),
			      "level", (const char *)sqlite3_column_text(st, 8),
			      "drill", sqlite3_column_int(st, 9),
			      "target", (const char *)sqlite3_column_text(st, 10),
			      "direct", sqlite3_column_int(st, 11),
			      "state", (const char *)sqlite3_column_text(st, 12),
			      "headline", (const char *)sqlite3_column_text(st, 13),
			      "why", (const char *)sqlite3_column_text(st, 14));
	const char *r = (const char *)sqlite3_column_text(st, 15);
	const char *e = (const char *)sqlite3_column_text(st, 16);

	if (j) {
		json_object_set_new(j, "result", r ? json_loads(r, 0, NULL) : json_array());
		json_object_set_new(j, "errors", e ? json_loads(e, 0, NULL) : json_array());
		if (!json_object_get(j, "errors"))
			json_object_set_new(j, "errors", json_pack("[s]", e));
	}
	return j;
}

#define ROW_COLS "id, sender, identifier, sent, received, submitted_by, status, msg_type, " \
		 "level, drill, target, direct, state, headline, why, result, error"

static void get(struct ctl *c, const char *url, unsigned *status, json_t **reply)
{
	sqlite3_stmt *st = NULL;
	const char *tail = url + 7;
	int rc;

	if (*tail == '/') {
		char *end;
		long long id = strtoll(tail + 1, &end, 10);

		if (!tail[1] || *end || id <= 0) {
			*status = 404;
			*reply = err_json("no such CAP alert", 0, NULL);
			return;
		}
		rc = ctl_db_prep(&c->db, &st, "SELECT " ROW_COLS " FROM cap_alerts WHERE id = ?1",
				 "read a CAP alert");
		if (rc == 0) {
			sqlite3_bind_int64(st, 1, id);
			if (sqlite3_step(st) == SQLITE_ROW) {
				*status = 200;
				*reply = row_json(st);
			} else {
				*status = 404;
				*reply = err_json("no such CAP alert", 0, NULL);
			}
		}
	} else {
		json_t *arr = json_array();

		rc = ctl_db_prep(&c->db, &st, "SELECT " ROW_COLS " FROM cap_alerts ORDER BY id "
				 "DESC LIMIT 200", "list CAP alerts");
		while (rc == 0 && arr && sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(arr, row_json(st));
		*status = 200;
		*reply = json_pack("{s:o}", "alerts", arr ? arr : json_array());
	}
	sqlite3_finalize(st);
	if (rc < 0) {
		*status = 500;
		json_decref(*reply);
		*reply = err_json("the controller's database failed (see its log)", 0, NULL);
	}
}

static void target_text(const struct cap_decision *d, char *out, size_t outlen)
{
	size_t i, off;

	if (d->all) {
		snprintf(out, outlen, "all");
		return;
	}
	snprintf(out, outlen, "zone");
	for (i = 0; i < d->nzones; i++) {
		off = strlen(out);
		snprintf(out + off, outlen - off, "%s%s", i ? ", " : " ", d->zones[i]);
	}
}

static void post(struct ctl *c, const struct ctl_principal *who, const char *body, size_t len,
		 unsigned *status, json_t **reply, char *target, size_t targetlen)
{
	static struct cap_alert a; /* 150 KB: off the stack; the loop has one thread */
	struct cap_decision d;
	struct cap_job *job = NULL;
	const struct cap_info *in;
	sqlite3_stmt *st = NULL;
	char err[1024], elem[256], tgt[512], detail[1024];
	int line = 0, rc;
	int64_t row = 0;
	size_t i;

	*status = 422;
	if (!(who->perms & PERM_OPERATE)) {
		*status = 403;
		*reply = err_json("submitting a CAP alert needs the operator role or higher", 0,
				  NULL);
		return;
	}
	rc = cap_parse(body, len, &a, &line, elem, sizeof(elem), err, sizeof(err));
	if (rc < 0) {
		*status = rc == -EFBIG ? 413 : rc == -EINVAL ? 422 : 500;
		*reply = err_json(err, line, elem);
		snprintf(target, targetlen, "CAP alert (refused)");
		log_warnx("CAP alert refused: %s", err);
		goto out;
	}
	snprintf(target, targetlen, "CAP %.80s from %.80s", a.identifier, a.sender);
	rc = cap_map(&c->cfg.cap, &a, &d, elem, sizeof(elem), err, sizeof(err));
	if (rc < 0) {
		*status = rc == -EPERM ? 403 : 422;
		*reply = err_json(err, 0, elem);
		log_warnx("CAP alert %s from %s refused: %s", a.identifier, a.sender, err);
		goto out;
	}
	in = &a.info[d.info];
	target_text(&d, tgt, sizeof(tgt));
	/* an alert that failed (its audio could not be made) may come again */
	rc = ctl_db_prep(&c->db, &st, "DELETE FROM cap_alerts WHERE sender = ?1 AND identifier = ?2 "
			 "AND state = 'failed'", "forget a failed CAP alert");
	if (rc < 0)
		goto db_error;
	sqlite3_bind_text(st, 1, a.sender, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, a.identifier, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		ctl_db_fail(&c->db, "forget a failed CAP alert");
		goto db_error;
	}
	/* recorded first: the unique (sender, identifier) is the dedup */
	rc = ctl_db_prep(&c->db, &st, "INSERT INTO cap_alerts(sender, identifier, sent, received, "
			 "submitted_by, status, msg_type, level, drill, target, direct, state, "
			 "headline, why) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
			 "?13, ?14)", "record a CAP alert");
	if (rc < 0)
		goto db_error;
	sqlite3_bind_text(st, 1, a.sender, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, a.identifier, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, a.sent, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, now_ms());
	sqlite3_bind_text(st, 5, who->user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, a.status, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, a.msg_type, -1, SQLITE_TRANSIENT);
	if (d.action == CAP_PLAY) {
		sqlite3_bind_text(st, 8, cap_level_name(d.level), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, tgt, -1, SQLITE_TRANSIENT);
	}
	sqlite3_bind_int(st, 9, d.drill);
	sqlite3_bind_int(st, 11, d.direct);
	sqlite3_bind_text(st, 12, d.action == CAP_CANCEL ? "done" : "importing", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 13, in->headline, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 14, d.why, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_CONSTRAINT) {
		*status = 409;
		snprintf(err, sizeof(err), "alert %.200s from %.200s was received already: it is "
			 "not imported twice", a.identifier, a.sender);
		*reply = err_json(err, 0, "/alert/identifier");
		goto out;
	}
	if (rc != SQLITE_DONE) {
		ctl_db_fail(&c->db, "record a CAP alert");
		goto db_error;
	}
	row = sqlite3_last_insert_rowid(c->db.h);
	snprintf(detail, sizeof(detail), "CAP %s %s %.200s from %.200s (source %s): %.300s; %.200s%s",
		 a.status, a.msg_type, a.identifier, a.sender, d.source->name, d.why,
		 d.action == CAP_CANCEL ? "" : tgt,
		 d.action == CAP_CANCEL ? "" : d.direct ? ", straight on air" :
		 ", through approval");
	ctl_auth_audit(&c->db, who, "CAP alert received", target, 202, detail);

	if (d.action == CAP_CANCEL || d.update) {
		struct cancel_ctx x = { c, a.sender, who->peer, d.source, json_array(), json_array() };
		char *rs, *es;

		cap_references(a.references, cancel_ref, &x);
		if (d.action == CAP_CANCEL) {
			rs = json_dumps(x.stopped, JSON_COMPACT);
			es = json_array_size(x.errors) ? json_dumps(x.errors, JSON_COMPACT) : NULL;
			row_state(c, row, "done", rs, es);
			free(rs);
			free(es);
			log_warnx("CAP Cancel %s from %s: stopped %zu", a.identifier, a.sender,
				  json_array_size(x.stopped));
			*status = 200;
			*reply = json_pack("{s:I, s:s, s:s, s:o, s:o}", "cap", (json_int_t)row,
					   "identifier", a.identifier, "state", "done", "stopped",
					   x.stopped, "errors", x.errors);
			goto out;
		}
		json_decref(x.stopped);
		json_decref(x.errors);
	}

	job = calloc(1, sizeof(*job));
	if (!job) {
		*status = 500;
		*reply = err_json("out of memory", 0, NULL);
		goto out;
	}
	job->row = row;
	job->d = d;
	job->source = *d.source;
	job->d.source = &job->source;
	snprintf(job->peer, sizeof(job->peer), "%s", who->peer);
	snprintf(job->title, sizeof(job->title), "%s%s", d.drill ? "Diễn tập: " : "",
		 in->headline[0] ? in->headline : in->event);
	/* the audio: the alert's own, else its text spoken */
	for (i = 0; i < in->nresources; i++) {
		const struct cap_resource *r = &in->resources[i];
		char path[PATH_MAX];

		if (strncmp(r->mime, "audio/", 6) != 0)
			continue;
		if (r->deref) {
			rc = write_inline(c, r, job->tmp, sizeof(job->tmp), err, sizeof(err));
			if (rc == 0)
				rc = ctl_imports_submit(c, job->tmp, "cap-audio", job->title, 0,
							import_done, job);
		} else {
			rc = local_uri(c, r->uri, path, sizeof(path), err, sizeof(err));
			if (rc == 0)
				rc = ctl_imports_submit(c, path, "cap-audio", job->title, 0,
							import_done, job);
		}
		if (rc < 0) {
			snprintf(elem, sizeof(elem), "/alert/info[%zu]/resource[%zu]", d.info + 1,
				 i + 1);
			goto refused_audio;
		}
		goto started;
	}
	{
		char text[CAP_TEXT_MAX * 2];

		speech_text(in, d.drill, c->cfg.cap.text_max, text, sizeof(text));
		rc = ctl_imports_submit_text(c, text, "cap-text", job->title, import_done, job);
		if (rc < 0) {
			snprintf(err, sizeof(err), "cannot start speaking the alert: %s",
				 strerror(-rc));
			elem[0] = '\0';
			goto refused_audio;
		}
	}
started:
	job = NULL; /* import_done owns it */
	*status = 202;
	*reply = json_pack("{s:I, s:s, s:s, s:s, s:b, s:s, s:b, s:s, s:s}", "cap", (json_int_t)row,
			   "identifier", a.identifier, "state", "importing", "level",
			   cap_level_name(d.level), "drill", d.drill, "target", tgt, "direct",
			   d.direct, "source", d.source->name, "why", d.why);
	goto out;
refused_audio:
	if (job->tmp[0])
		unlink(job->tmp);
	row_state(c, row, "failed", NULL, err);
	*status = 422;
	*reply = err_json(err, 0, elem);
	goto out;
db_error:
	*status = 500;
	*reply = err_json("the controller's database failed (see its log)", 0, NULL);
out:
	free(job);
	cap_alert_clear(&a);
}

void ctl_cap_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		 const char *url, const char *body, size_t len, unsigned *status,
		 json_t **reply, char *target, size_t targetlen)
{
	snprintf(target, targetlen, "CAP");
	if (!strcmp(method, "POST") && !strcmp(url, "/v1/cap")) {
		post(c, who, body, len, status, reply, target, targetlen);
		return;
	}
	if (!strcmp(method, "GET")) {
		get(c, url, status, reply);
		return;
	}
	*status = 405;
	*reply = err_json("use POST /v1/cap (the alert's XML as the body) or GET /v1/cap[/ID]",
			  0, NULL);
}
