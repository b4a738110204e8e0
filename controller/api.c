/*
 * api.c - see api.h.
 */
#include "api.h"
#include "approval.h"
#include "cap.h"
#include "capxml.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "auth.h"
#include "broadcast.h"
#include "ctl.h"
#include "ctlutil.h"
#include "emergency.h"
#include "live.h"
#include "record.h"
#include "healthapi.h"
#include "hours.h"
#include "log.h"
#include "reportpdf.h"
#include "secapi.h"
#include "schedapi.h"
#include "schedjobs.h"
#include "util.h"
#include "sse.h"
#include "web.h"
#include "nodeupdate.h"

enum api_route {
	R_NONE,
	R_NODES,
	R_CONTENT_LIST,
	R_CONTENT_POST,
	R_BROADCAST_POST,
	R_BROADCAST_GET,
	R_PLAYS,
	R_SEC,          /* secapi.c: login, users, audit, provisioning, keys */
	R_SCHED,              /* schedules, announcements, readiness: schedapi.c */
	R_EMERGENCY,  /* everything under /v1/emergency: emergency.c */
	R_RECORD,     /* /v1/record: record.c */
	R_LIVE,       /* everything under /v1/live: live.c */
	R_HEALTH,   /* healthapi.c */
	R_APPROVAL, /* drafts and emergency reviews: approval.c */
	R_SESSION,  /* the web console's login, logout, who am I (web listener only) */
	R_EVENTS,   /* GET /v1/events: Server-Sent Events (sse.h) */
	R_CAP,      /* /v1/cap: CAP 1.2 alerts (cap.h) */
	R_NODE_UPDATE, /* POST /v1/node-update: a node package (nodeupdate.h) */
};

struct api_req {
	struct api_req *next, *prev;
	struct ctl *c;
	struct MHD_Connection *conn;
	enum api_route route;
	char method[8];
	char url[128];
	char bid[CTL_ID_MAX];
	/* a JSON request body */
	char *body;
	size_t body_len, body_cap;
	int body_too_big;
	int body_big;         /* past CTL_MAX_JSON_BODY: a schedule check or apply */
	int body_busy;        /* refused: CTL_BIG_BODIES such bodies already held */
	/* an upload */
	int fd;
	char tmp_path[PATH_MAX];
	uint64_t upload_bytes;
	crypto_hash_sha256_state src_hash; /* of the bytes received (schedjobs.h) */
	char src_hex[65];
	char name[256];
	char title[CTL_TITLE_MAX];
	int music;
	int import_pending;
	int suspended;
	int orphan;           /* MHD is done with it while the import runs */
	/* who asked (auth.h), and what the audit log names as the target */
	struct ctl_principal who;
	char target[192];
	/* the answer, once known */
	unsigned status;
	json_t *reply;
	char *text;           /* a non-JSON answer (healthapi: CSV, metrics; PDF) */
	size_t text_len;      /* its length when it is binary (a PDF), else 0 */
	const char *ctype;
	/* the web listener (web.h): the session's "Bearer <token>" made from
	 * its cookie, and the cookie to set or clear in the answer */
	int web;
	char cookie_authz[7 + 64 + 1];
	char set_cookie[256];
	/* a /v1/events stream: the last event sent, what to send first, when
	 * the next keepalive is due (mono ms), the credentials it rechecks then */
	int sse, sse_waiting, sse_hello, sse_reset, sse_end;
	uint64_t sse_seq;
	int64_t sse_beat;
	char sse_authz[7 + 64 + 1];
};

/* One of the two daemons; the handler learns from it which one asks. */
struct api_listener {
	struct ctl *c;
	int web;
};

struct ctl_api {
	struct MHD_Daemon *d;
	int listen_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct api_req *reqs;
	struct api_listener unix_l, web_l;
	/* the HTTPS listener of the web console: NULL when web.listen is unset */
	struct MHD_Daemon *wd;
	int web_fd, web_root;
	/* the PEM texts handed to MHD: its documentation does not say it
	 * copies them, so they live as long as the daemon */
	char *web_cert, *web_key;
	/* the last events for /v1/events, and its streams */
	struct sse_ring ring;
	int nsse;
	int stopping;
};

/* Event streams open at once (both listeners), and their keepalive: a
 * comment line that also finds clients gone while nothing happened. */
#define SSE_MAX_STREAMS 32
#define SSE_BEAT_MS 20000

/*
 * Schedule bodies of megabytes held at once (each up to ctl_sched_max_body):
 * a bound on what many open connections can make the controller hold. The
 * schedule parsers take two requests at a time anyway.
 */
#define CTL_BIG_BODIES 2

static int big_bodies(const struct api_req *r)
{
	const struct api_req *o;
	int n = 0;

	for (o = r->c->api ? r->c->api->reqs : NULL; o; o = o->next)
		n += o->body_big;
	return n;
}

static void set_reply(struct api_req *r, unsigned status, json_t *j)
{
	json_decref(r->reply);
	r->status = status;
	r->reply = j ? j : json_pack("{s:s}", "error", "out of memory");
	if (!j)
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static void set_error(struct api_req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_error(struct api_req *r, unsigned status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_reply(r, status, json_pack("{s:s}", "error", msg));
	if (status >= 500)
		log_warnx("API: %s %s: %u %s", r->method, r->url, status, msg);
	else
		log_info("API: %s %s: %u %s", r->method, r->url, status, msg);
}

/*
 * Every request that changes something, and every refused one, goes to the
 * audit log; plain reads that succeed do not (scripts poll them).
 */
static void api_audit(struct api_req *r)
{
	const char *err = json_string_value(json_object_get(r->reply, "error"));
	char action[160];

	if (strcmp(r->method, "GET") == 0 && r->status != MHD_HTTP_UNAUTHORIZED &&
	    r->status != MHD_HTTP_FORBIDDEN && r->status != MHD_HTTP_TOO_MANY_REQUESTS)
		return;
	snprintf(action, sizeof(action), "%s %s", r->method, r->url);
	ctl_auth_audit(&r->c->db, &r->who, action, r->target, r->status, err ? err : "");
}

/*
 * The credentials of a request: its Authorization header, or on the web
 * listener without one the session cookie's token (web.h).
 */
static const char *req_authz(const struct api_req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	return h ? h : r->cookie_authz[0] ? r->cookie_authz : NULL;
}

/*
 * Authenticate (every endpoint but login) and check the role may use the
 * endpoint at all; zone scope is checked where the target is known.
 */
static void api_authorize(struct api_req *r, const char *url, const char *method)
{
	char err[256];
	const char *authz = req_authz(r);

	if (r->route == R_SEC && !ctl_secapi_needs_token(method, url))
		return;
	if (ctl_auth_request(&r->c->db, authz, &r->who, err, sizeof(err)) < 0) {
		set_error(r, MHD_HTTP_UNAUTHORIZED, "%s", err);
		return;
	}
	if (ctl_auth_require(&r->who, ctl_auth_route_perm(method, url), err, sizeof(err)) < 0)
		set_error(r, MHD_HTTP_FORBIDDEN, "%s", err);
}

/*
 * The web listener: a request that authenticates with the session cookie
 * and changes something must prove it comes from the console's own page
 * (web.h, CSRF). One with an Authorization header needs no proof: a
 * browser never sends that header on its own.
 */
static void web_csrf_check(struct api_req *r)
{
	const char *hdr;

	if (!r->web || r->reply || !r->cookie_authz[0] || strcmp(r->method, "GET") == 0 ||
	    strcmp(r->method, "HEAD") == 0 ||
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION))
		return;
	hdr = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, WEB_CSRF_HEADER);
	if (!web_csrf_ok(r->cookie_authz + 7, hdr))
		set_error(r, MHD_HTTP_FORBIDDEN, "%s", hdr ? "the console's safety code "
			  "(X-CSRF-Token) does not match this session: reload the page"
			  : "the request has no safety code (X-CSRF-Token header): reload the "
			  "console's page and try again");
}

static enum MHD_Result queue_reply(struct api_req *r)
{
	static const char fallback[] = "{\"error\":\"out of memory\"}";
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t text_len = r->text ? r->text_len : 0;
	char *text = r->text ? r->text : r->reply ? json_dumps(r->reply, JSON_COMPACT) : NULL;

	r->text = NULL; /* owned by the response now */
	if (text) {
		resp = MHD_create_response_from_buffer(text_len ? text_len : strlen(text), text,
						       MHD_RESPMEM_MUST_FREE);
	} else {
		r->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		resp = MHD_create_response_from_buffer(sizeof(fallback) - 1,
						       (void *)fallback,
						       MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				r->ctype ? r->ctype : "application/json");
	if (r->web) {
		web_add_headers(resp, 1);
		if (r->set_cookie[0])
			MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
	}
	api_audit(r);
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	log_debug("API: %s %s: %u", r->method, r->url, r->status);
	return ret;
}

static void req_free(struct ctl *c, struct api_req *r)
{
	if (r->sse && c->api)
		c->api->nsse--;
	if (r->prev)
		r->prev->next = r->next;
	else if (c->api)
		c->api->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->fd >= 0)
		close(r->fd);
	if (r->tmp_path[0])
		unlink(r->tmp_path);
	free(r->body);
	free(r->text);
	json_decref(r->reply);
	free(r);
}

/* ------------------------------------------------------------ routing */

static int bid_valid(const char *s)
{
	size_t i;

	if (!s[0] || strlen(s) >= CTL_ID_MAX)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * Each node's "zone_titles": {"thon-1": "Thôn 1"} for its zones that have a
 * title in controller.cfg, so the console and `loaxa nodes` can show the
 * village's name; "zones" keeps the ids (scripts and scopes use them). Per
 * node, so an account sees only the titles of the nodes it may see.
 */
static void nodes_zone_titles(struct ctl *c, json_t *list)
{
	json_t *n, *z, *titles;
	size_t i, j;

	json_array_foreach(list, i, n) {
		titles = json_object();
		if (!titles)
			return;
		json_array_foreach(json_object_get(n, "zones"), j, z) {
			const char *t = json_is_string(z) ?
				sched_zone_title(&c->cfg.sched, json_string_value(z)) : NULL;

			if (t)
				json_object_set_new(titles, json_string_value(z), json_string(t));
		}
		json_object_set_new(n, "zone_titles", titles);
	}
}

static void route(struct api_req *r, const char *url, const char *method)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	const char *allowed = NULL;

	if (strcmp(url, "/v1/nodes") == 0) {
		if (get)
			r->route = R_NODES;
		allowed = "GET";
	} else if (strcmp(url, "/v1/content") == 0) {
		if (get)
			r->route = R_CONTENT_LIST;
		else if (post)
			r->route = R_CONTENT_POST;
		allowed = "GET or POST";
	} else if (strcmp(url, "/v1/broadcasts") == 0) {
		if (post)
			r->route = R_BROADCAST_POST;
		allowed = "POST";
	} else if (strncmp(url, "/v1/broadcasts/", 15) == 0) {
		if (!bid_valid(url + 15)) {
			set_error(r, MHD_HTTP_NOT_FOUND, "no such broadcast");
			return;
		}
		snprintf(r->bid, sizeof(r->bid), "%s", url + 15);
		if (get)
			r->route = R_BROADCAST_GET;
		allowed = "GET";
	} else if (strncmp(url, "/v1/emergency", 13) == 0 && (!url[13] || url[13] == '/')) {
		r->route = R_EMERGENCY;
		return;
	} else if (ctl_record_owns_url(url)) {
		r->route = R_RECORD;
		return;
	} else if (strncmp(url, "/v1/live", 8) == 0 && (!url[8] || url[8] == '/')) {
		r->route = R_LIVE;
		return;
	} else if (strcmp(url, "/v1/plays") == 0) {
		if (get)
			r->route = R_PLAYS;
		allowed = "GET";
	} else if (strcmp(url, "/v1/node-update") == 0) {
		if (post)
			r->route = R_NODE_UPDATE;
		allowed = "POST";
	} else if (strcmp(url, "/v1/events") == 0) {
		if (get)
			r->route = R_EVENTS;
		allowed = "GET";
	} else if (ctl_approval_owns_url(url)) {
		r->route = R_APPROVAL; /* approval.c checks the method */
		return;
	} else if (ctl_cap_owns_url(url)) {
		r->route = R_CAP; /* cap.c checks the method */
		return;
	} else if (ctl_sched_owns_url(url)) {
		r->route = R_SCHED; /* schedapi.c checks the method */
		return;
	} else if (ctl_health_api_match(url)) {
		r->route = R_HEALTH;
	} else {
		set_error(r, MHD_HTTP_NOT_FOUND, "no such API endpoint: %s (see "
			  "docs/controller.md)", r->url);
		return;
	}
	if (r->route == R_NONE)
		set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed on %s (use %s)",
			  r->method, r->url, allowed);
}

/* ------------------------------------------------------------ uploads */

/* The title an upload gets when none is given: its file name, no extension. */
static void title_from_name(char *out, size_t outlen, const char *name)
{
	char *dot;

	snprintf(out, outlen, "%s", name);
	dot = strrchr(out, '.');
	if (dot && dot != out)
		*dot = '\0';
}

static int upload_begin(struct api_req *r)
{
	struct ctl *c = r->c;
	const char *len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *fname = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
							"X-Filename");
	const char *title = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
							"title");
	const char *music = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
							"music");
	const char *base;

	if (len) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(len, &end, 10);
		if (errno || *end || n > CTL_MAX_UPLOAD) {
			set_error(r, MHD_HTTP_CONTENT_TOO_LARGE,
				  "the file is too large: at most %llu MiB can be imported",
				  CTL_MAX_UPLOAD >> 20);
			return -EFBIG;
		}
		if (n == 0) {
			set_error(r, MHD_HTTP_BAD_REQUEST, "the upload is empty: send the "
				  "audio file's bytes as the request body");
			return -EINVAL;
		}
	}
	base = fname ? strrchr(fname, '/') : NULL;
	base = base ? base + 1 : fname;
	if (base && base[0] && strlen(base) < 200 && ctl_text_valid(base, strlen(base)))
		snprintf(r->name, sizeof(r->name), "%s", base);
	else
		snprintf(r->name, sizeof(r->name), "upload");
	if (title) {
		if (strlen(title) >= sizeof(r->title) || !ctl_text_valid(title, strlen(title))) {
			set_error(r, MHD_HTTP_BAD_REQUEST, "the title must be text of at most "
				  "%zu bytes without control characters", sizeof(r->title) - 1);
			return -EINVAL;
		}
		snprintf(r->title, sizeof(r->title), "%s", title);
	} else {
		title_from_name(r->title, sizeof(r->title), r->name);
	}
	r->music = music && (strcmp(music, "1") == 0 || strcmp(music, "true") == 0 ||
			     strcmp(music, "yes") == 0);
	crypto_hash_sha256_init(&r->src_hash);
	if ((size_t)snprintf(r->tmp_path, sizeof(r->tmp_path), "%s/upload-XXXXXX",
			     c->tmp_dir) >= sizeof(r->tmp_path)) {
		r->tmp_path[0] = '\0';
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "state_dir path too long");
		return -ENAMETOOLONG;
	}
	r->fd = mkostemp(r->tmp_path, O_CLOEXEC);
	if (r->fd < 0) {
		int err = errno;
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
			  "the controller cannot store the upload in %s: %s", c->tmp_dir,
			  strerror(err));
		r->tmp_path[0] = '\0';
		return -err;
	}
	return 0;
}

/* Returns -1 when the connection must be dropped (over the size limit). */
static int upload_data(struct api_req *r, const char *data, size_t len)
{
	r->upload_bytes += len;
	if (r->upload_bytes > CTL_MAX_UPLOAD) {
		log_warnx("API: an upload of %s is over %llu MiB: connection closed", r->name,
			  CTL_MAX_UPLOAD >> 20);
		return -1;
	}
	if (r->fd < 0)
		return 0; /* failed before: discard the rest, answer at the end */
	crypto_hash_sha256_update(&r->src_hash, (const unsigned char *)data, len);
	while (len > 0) {
		ssize_t n = write(r->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			close(r->fd);
			r->fd = -1;
			unlink(r->tmp_path);
			r->tmp_path[0] = '\0';
			set_error(r, err == ENOSPC ? 507 : MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "the controller cannot store the upload: %s", strerror(err));
			return 0;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void import_done(struct ctl *c, void *arg, const struct ctl_import_outcome *out)
{
	struct api_req *r = arg;
	struct ctl_content_row row;
	json_t *j;
	int existed = 0, rc;

	r->import_pending = 0;
	if (r->tmp_path[0]) {
		unlink(r->tmp_path);
		r->tmp_path[0] = '\0';
	}
	if (r->orphan) {
		req_free(c, r);
		return;
	}
	if (out->rc < 0) {
		set_error(r, out->rc == -ECANCELED ? MHD_HTTP_SERVICE_UNAVAILABLE
						   : MHD_HTTP_UNPROCESSABLE_CONTENT,
			  "%s", out->err);
		goto resume;
	}
	rc = ctl_imports_record(c, out, r->title, &row, &existed);
	if (rc < 0) {
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
			  "the file was encoded but the controller could not record it (see "
			  "its log)");
		goto resume;
	}
	/*
	 * What was received, by its SHA-256: a schedule naming a file with the
	 * same bytes (and settings) uses this content (schedjobs.h).
	 */
	if (ctl_sched_source_record(c, r->src_hex, r->music, row.id) < 0)
		log_warnx("import of %s: could not remember its source hash for schedules",
			  r->name);
	j = ctl_content_row_json(&row);
	if (j) {
		json_object_set_new(j, "existed", json_boolean(existed));
		json_object_set_new(j, "source_sha256", json_string(r->src_hex));
	}
	set_reply(r, MHD_HTTP_CREATED, j);
	if (existed)
		log_info("import of %s: content %s \"%s\" was here already", r->name,
			 ctl_short_id(row.id), row.title);
	else
		log_info("imported %s as content %s \"%s\" (%.1f s, %.1f -> %.1f LUFS, "
			 "true peak %.1f dBTP, %" PRId64 " bytes)", r->name,
			 ctl_short_id(row.id), row.title, (double)row.duration_ms / 1000.0,
			 row.input_lufs, row.output_lufs, row.true_peak_dbtp, row.bytes);
resume:
	if (r->suspended) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
	}
}

static void upload_finish(struct api_req *r)
{
	int rc;

	if (r->reply)
		return; /* an error while receiving */
	if (r->upload_bytes == 0) {
		set_error(r, MHD_HTTP_BAD_REQUEST, "the upload is empty: send the audio "
			  "file's bytes as the request body");
		return;
	}
	if (close(r->fd) < 0) {
		r->fd = -1;
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
			  "the controller cannot store the upload: %s", strerror(errno));
		return;
	}
	r->fd = -1;
	{
		unsigned char bin[crypto_hash_sha256_BYTES];

		crypto_hash_sha256_final(&r->src_hash, bin);
		hex_encode(r->src_hex, bin, sizeof(bin));
	}
	log_info("API: received %s (%" PRIu64 " bytes), title \"%s\"%s", r->name,
		 r->upload_bytes, r->title, r->music ? ", music" : "");
	r->import_pending = 1;
	rc = ctl_imports_submit(r->c, r->tmp_path, r->name, r->title, r->music,
				import_done, r);
	if (rc < 0) {
		r->import_pending = 0;
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot start the import: %s",
			  strerror(-rc));
		return;
	}
	if (!r->import_pending)
		return; /* finished at once (could not start): reply is set */
	MHD_suspend_connection(r->conn);
	r->suspended = 1;
}

/*
 * POST /v1/node-update?node=N|zone=Z|all=1: the body is a node package,
 * received like an upload (upload_begin, upload_data) but never imported:
 * nodeupdate.h checks it, stores it as content and sends the commands.
 */
static void node_update_finish(struct api_req *r)
{
	const char *node = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "node");
	const char *zone = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "zone");
	const char *all = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "all");
	unsigned char bin[crypto_hash_sha256_BYTES];
	json_t *reply = NULL;
	unsigned status;

	if (r->reply)
		return; /* an error while receiving */
	if (r->upload_bytes == 0) {
		set_error(r, MHD_HTTP_BAD_REQUEST, "the upload is empty: send the package's bytes "
			  "as the request body");
		return;
	}
	if (close(r->fd) < 0) {
		r->fd = -1;
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
			  "the controller cannot store the upload: %s", strerror(errno));
		return;
	}
	r->fd = -1;
	crypto_hash_sha256_final(&r->src_hash, bin);
	hex_encode(r->src_hex, bin, sizeof(bin));
	snprintf(r->target, sizeof(r->target), "node update %.60s%.60s%s", node ? node : "",
		 zone ? zone : "", all ? "all" : "");
	status = ctl_node_update(r->c, r->tmp_path, r->upload_bytes, r->src_hex, node, zone,
				 all && (!strcmp(all, "1") || !strcmp(all, "true")), &reply);
	/* stored (moved away) or refused: the upload itself goes */
	unlink(r->tmp_path);
	r->tmp_path[0] = '\0';
	set_reply(r, status, reply);
}

/* ------------------------------------------------------------ endpoints */

/*
 * Scoped reads (docs/security.md, "Zone scope"): a node is visible to an
 * operator when one of its zones is theirs; a broadcast when its target is
 * (a zone of theirs, a visible node, or every node: then only their nodes'
 * rows are shown). 0, or -EPERM with a 403 naming the zones set.
 */
static int scope_refuse(struct api_req *r, const char *what)
{
	char scope[256];

	ctl_auth_scope_text(&r->who, scope, sizeof(scope));
	set_error(r, MHD_HTTP_FORBIDDEN, "%s may see only zones %s, not %s", r->who.user, scope,
		  what);
	return -EPERM;
}

static int node_readable(struct api_req *r, const char *node)
{
	char what[CTL_NAME_MAX + 64];

	if (ctl_auth_node_visible(&r->c->db, &r->who, node))
		return 0;
	snprintf(what, sizeof(what), "node %s (it is in none of them)", node);
	return scope_refuse(r, what);
}

static int broadcast_readable(struct api_req *r, json_t *b)
{
	const char *kind = json_string_value(json_object_get(b, "target_kind"));
	const char *target = json_string_value(json_object_get(b, "target"));
	char what[160];

	if (r->who.all_zones || !kind || !target || strcmp(kind, "all") == 0)
		return 0;
	if (strcmp(kind, "zone") == 0 ? ctl_auth_zone_allowed(&r->who, target)
				      : ctl_auth_node_visible(&r->c->db, &r->who, target))
		return 0;
	snprintf(what, sizeof(what), "broadcast %.40s (to %s %.40s)",
		 json_string_value(json_object_get(b, "broadcast")), kind, target);
	return scope_refuse(r, what);
}

static void get_list(struct api_req *r, const char *key, json_t *list)
{
	if (!list) {
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the controller's database "
			  "failed (see its log)");
		return;
	}
	set_reply(r, MHD_HTTP_OK, json_pack("{s:o}", key, list));
}

static void get_plays(struct api_req *r)
{
	const char *b = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
						    "broadcast");
	const char *l = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
	char *zones = NULL;
	long limit = 1000;

	if (b && !bid_valid(b)) {
		set_error(r, MHD_HTTP_BAD_REQUEST, "the broadcast parameter is not a "
			  "broadcast id (b-...)");
		return;
	}
	if (l) {
		char *end;

		errno = 0;
		limit = strtol(l, &end, 10);
		if (errno || *end || limit < 1 || limit > 1000000) {
			set_error(r, MHD_HTTP_BAD_REQUEST, "limit must be a number from 1 to "
				  "1000000");
			return;
		}
	}
	if (b) {
		json_t *bj = ctl_db_broadcast_json(&r->c->db, b);
		int rc = bj ? broadcast_readable(r, bj) : 0;

		json_decref(bj);
		if (rc < 0)
			return;
	}
	if (ctl_auth_scope_json(&r->who, &zones) < 0) {
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	/* With a broadcast, every one of its events. */
	get_list(r, "plays", ctl_db_plays_json(&r->c->db, b, b && !l ? 0 : (int)limit, zones));
	free(zones);
}

/*
 * A play now (or at req->at) outside the allowed hours of a zone it sounds
 * in: refused (-ERANGE, 409) unless req->outside_hours confirms it (hours.h).
 * Content the controller does not have is left to the play's own refusal.
 */
static int broadcast_hours(struct api_req *r, const struct ctl_play_request *req,
			   char *err, size_t errlen)
{
	struct ctl_content_row content;
	int64_t at = req->at ? req->at : now_ms(), dur = 0;
	int rc;

	if (ctl_db_content_get(&r->c->db, req->content, &content) == 0)
		dur = content.duration_ms;
	rc = ctl_hours_gate(r->c, &r->who, req->level, req->zone, req->node, req->all, at,
			    at + dur, req->outside_hours, r->target, err, errlen);
	if (rc == 0 && req->outside_hours)
		snprintf(r->target + strlen(r->target), sizeof(r->target) - strlen(r->target),
			 " (--outside-hours)");
	return rc;
}

/*
 * POST /v1/broadcasts, or with edit > 0 the new content of that draft of a
 * play (PUT /v1/drafts/ID). A play that waits for approval (approval.h)
 * becomes a draft: 202, nothing is sent.
 */
static void post_broadcast(struct api_req *r, int64_t edit)
{
	struct ctl_play_request req;
	json_t *reply = NULL;
	unsigned st = 500;
	char err[512];
	int rc;

	if (r->body_too_big) {
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d "
			  "bytes", CTL_MAX_JSON_BODY);
		return;
	}
	rc = ctl_parse_play_request(r->body ? r->body : "", r->body_len, &req, err,
				    sizeof(err));
	if (rc == 0) {
		snprintf(r->target, sizeof(r->target), "%s%s level %s content %.12s",
			 req.all ? "all" : req.zone[0] ? "zone " : "node ",
			 req.all ? "" : req.zone[0] ? req.zone : req.node, req.level, req.content);
		if (ctl_auth_check_target(&r->c->db, &r->who, req.zone, req.node, req.all,
					  req.level, err, sizeof(err)) < 0) {
			set_error(r, MHD_HTTP_FORBIDDEN, "%s", err);
			return;
		}
		if (edit > 0 || ctl_approval_needed(r->c, &r->who, req.level, req.zone, req.node,
						    req.all)) {
			ctl_approval_broadcast(r->c, &r->who, &req, edit, &st, &reply);
			if (st < 300) {
				const json_t *d = json_object_get(reply, "draft");

				snprintf(r->target + strlen(r->target), sizeof(r->target) -
					 strlen(r->target), ": draft %" JSON_INTEGER_FORMAT,
					 json_integer_value(json_object_get(d, "draft")));
			}
			set_reply(r, st, reply);
			return;
		}
		rc = broadcast_hours(r, &req, err, sizeof(err));
		if (rc == 0)
			rc = ctl_broadcast_play(r->c, &req, &reply, err, sizeof(err));
	}
	if (rc == 0) {
		set_reply(r, MHD_HTTP_CREATED, reply);
		return;
	}
	set_error(r, rc == -EINVAL ? MHD_HTTP_BAD_REQUEST : rc == -ERANGE ? MHD_HTTP_CONFLICT
		  : rc == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR,
		  "%s", err);
}

static const char *sched_arg(void *ctx, const char *key)
{
	struct api_req *r = ctx;

	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* The late answer of a schedule request that waited for imports, or of a
 * login whose password was checked off the loop. */
static void sched_done(void *ctx, unsigned status, json_t *reply)
{
	struct api_req *r = ctx;

	r->import_pending = 0;
	if (r->orphan) {
		json_decref(reply);
		req_free(r->c, r);
		return;
	}
	set_reply(r, status, reply);
	if (r->suspended) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
	}
}

/* The largest JSON body r may have: small, but schedule files travel in theirs. */
static size_t body_limit(const struct api_req *r)
{
	/* PUT /v1/drafts/ID: the new content of a draft, maybe of a schedule apply */
	int draft = r->route == R_APPROVAL && strcmp(r->method, "PUT") == 0 &&
		    strncmp(r->url, "/v1/drafts/", 11) == 0 && !strchr(r->url + 11, '/');

	if (r->route == R_CAP) /* an alert may carry its audio inline (capxml.h) */
		return CAP_MAX_BYTES;
	return (r->route == R_SCHED && ctl_sched_files_url(r->url)) || draft
		? ctl_sched_max_body(r->c) : CTL_MAX_JSON_BODY;
}

/*
 * Schedules (schedapi.c, schedjobs.c): answered now, or later after imports (suspended).
 * With edit > 0, url is the endpoint of the draft's kind and the request is
 * that draft's new content (PUT /v1/drafts/ID).
 */
static void sched_request(struct api_req *r, const char *url, int64_t edit)
{
	struct ctl_sched_http h = {
		.method = edit > 0 ? "POST" : r->method, .url = url,
		.body = r->body ? r->body : "",
		.body_len = r->body_len, .arg = sched_arg, .arg_ctx = r,
		.done = sched_done, .done_ctx = r, .who = &r->who, .edit_draft = edit,
	};
	unsigned status = 500;
	json_t *reply = NULL;
	int rc;

	if (r->body_busy) {
		set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "the controller is already receiving "
			  "%d large schedule requests: try again in a few seconds",
			  CTL_BIG_BODIES);
		return;
	}
	if (r->body_too_big && ctl_sched_files_url(r->url)) {
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request is over the limit of %zu "
			  "bytes for a schedule check or apply: the schedule files of one request "
			  "may hold %lld bytes of text together (schedule.max_total_bytes in "
			  "controller.cfg)", ctl_sched_max_body(r->c),
			  (long long)r->c->cfg.sched.max_total_bytes);
		return;
	}
	if (r->body_too_big) {
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d "
			  "bytes", CTL_MAX_JSON_BODY);
		return;
	}
	/* the applied files are the whole station's timetable (schedfiles.c) */
	if (strcmp(url, "/v1/schedule/files") == 0 && !r->who.all_zones) {
		snprintf(r->target, sizeof(r->target), "%s", url);
		scope_refuse(r, "the whole station (the schedule files cover every zone: ask an "
			     "account with every zone)");
		return;
	}
	/* the audit log names what a cancel aimed at, refused or not */
	if (strcmp(r->url, "/v1/cancel") == 0 && r->body) {
		json_t *o = json_loadb(r->body, r->body_len, 0, NULL);
		const char *id = json_string_value(json_object_get(o, "id"));
		char safe[120];

		if (id) {
			ctl_printable(safe, sizeof(safe), id);
			snprintf(r->target, sizeof(r->target), "cancel %s", safe);
		}
		json_decref(o);
	}
	rc = ctl_sched_http(r->c, &h, &status, &reply);
	/* the request has what it needs from the body (a schedule's texts are
	 * copied): megabytes need not wait for the parse and the imports */
	free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
	r->body_big = 0;
	if (rc == 1) {
		r->import_pending = 1;
		MHD_suspend_connection(r->conn);
		r->suspended = 1;
		return;
	}
	set_reply(r, status, reply);
}

/*
 * PUT /v1/drafts/ID: its author replaces a pending draft's content with a
 * request of the same kind (the body of POST /v1/announcements,
 * /v1/broadcasts or /v1/schedule/apply), checked as that request is.
 */
static void draft_edit(struct api_req *r)
{
	int64_t id = ctl_draft_id_parse(r->url + 11);
	char kind[16], err[512];
	int rc;

	if (r->body_busy) {
		set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "the controller is already receiving "
			  "%d large schedule requests: try again in a few seconds",
			  CTL_BIG_BODIES);
		return;
	}
	if (r->body_too_big) {
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %zu "
			  "bytes", body_limit(r));
		return;
	}
	if (id < 0) {
		set_error(r, MHD_HTTP_NOT_FOUND, "no such draft: draft ids are numbers (see "
			  "loaxa drafts)");
		return;
	}
	snprintf(r->target, sizeof(r->target), "draft %" PRId64, id);
	rc = ctl_draft_may_edit(r->c, &r->who, id, kind, sizeof(kind), err, sizeof(err));
	if (rc < 0) {
		set_error(r, rc == -ENOENT ? MHD_HTTP_NOT_FOUND : rc == -EPERM ? MHD_HTTP_FORBIDDEN
			  : rc == -EINVAL ? MHD_HTTP_CONFLICT : MHD_HTTP_INTERNAL_SERVER_ERROR,
			  "%s", err);
		return;
	}
	/* only an apply's files may come in a large body (body_limit) */
	if (strcmp(kind, "apply") != 0 && r->body_len > CTL_MAX_JSON_BODY) {
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d "
			  "bytes", CTL_MAX_JSON_BODY);
		return;
	}
	if (strcmp(kind, "broadcast") == 0)
		post_broadcast(r, id);
	else
		sched_request(r, strcmp(kind, "announce") == 0 ? "/v1/announcements"
			      : "/v1/schedule/apply", id);
}

/* The printable report, made off the loop (reportpdf.h): the answer comes later. */
static void report_pdf_done(void *ctx, int rc, char *pdf, size_t len, const char *err)
{
	struct api_req *r = ctx;

	r->import_pending = 0;
	if (r->orphan) {
		free(pdf);
		req_free(r->c, r);
		return;
	}
	if (rc < 0) {
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the controller could not make "
			  "the PDF report: %s", err);
	} else {
		free(r->text);
		r->text = pdf;
		r->text_len = len;
		r->ctype = "application/pdf";
		r->status = MHD_HTTP_OK;
	}
	if (r->suspended) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
	}
}

static void report_pdf_request(struct api_req *r)
{
	char err[256];
	json_t *doc = ctl_report_doc(r->c, sched_arg(r, "month"), err, sizeof(err));
	int rc;

	if (!doc) {
		set_error(r, strstr(err, "YYYY") ? MHD_HTTP_BAD_REQUEST
						 : MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", err);
		return;
	}
	rc = ctl_report_pdf_submit(r->c, doc, report_pdf_done, r);
	if (rc == -EBUSY) {
		set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "another PDF report is being made: "
			  "try again in a few seconds");
		return;
	}
	if (rc < 0) {
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "the controller cannot start making "
			  "the PDF report: %s", strerror(-rc));
		return;
	}
	r->import_pending = 1;
	MHD_suspend_connection(r->conn);
	r->suspended = 1;
}

static void health_request(struct api_req *r)
{
	struct ctl_health_reply h;
	char *zones = NULL;

	if (r->body_too_big) {
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d "
			  "bytes", CTL_MAX_JSON_BODY);
		return;
	}
	/* maintenance of a node: the operator's zones must cover the node's */
	if (strcmp(r->method, "POST") == 0 && strncmp(r->url, "/v1/nodes/", 10) == 0) {
		char node[CTL_NAME_MAX], err[256];
		const char *slash = strchr(r->url + 10, '/');
		size_t nl = slash ? (size_t)(slash - (r->url + 10)) : 0;

		if (nl > 0 && nl < sizeof(node)) {
			memcpy(node, r->url + 10, nl);
			node[nl] = '\0';
			snprintf(r->target, sizeof(r->target), "node %s", node);
			if (ctl_auth_check_target(&r->c->db, &r->who, NULL, node, 0, NULL, err,
						  sizeof(err)) < 0) {
				set_error(r, MHD_HTTP_FORBIDDEN, "%s", err);
				return;
			}
		}
	}
	if (strcmp(r->method, "GET") == 0 && !r->who.all_zones) {
		const char *n = sched_arg(r, "node"), *z = sched_arg(r, "zone");
		char what[CTL_NAME_MAX + 16];

		/* station-wide figures: for accounts with every zone (security.md) */
		if (strcmp(r->url, "/v1/report") == 0 || strcmp(r->url, "/metrics") == 0) {
			snprintf(r->target, sizeof(r->target), "%s", r->url);
			scope_refuse(r, "the whole station (the report and /metrics cover every "
				     "zone: ask an account with every zone)");
			return;
		}

		/* one node: visible or refused (404 stays for nodes nobody has) */
		if (strncmp(r->url, "/v1/nodes/", 10) == 0 && !strchr(r->url + 10, '/') &&
		    r->url[10] && node_readable(r, r->url + 10) < 0) {
			snprintf(r->target, sizeof(r->target), "node %.60s", r->url + 10);
			return;
		}
		/* a log or alarms asked for someone else's node or zone: say so
		 * rather than answer with an empty list */
		if (n && node_readable(r, n) < 0) {
			snprintf(r->target, sizeof(r->target), "node %.60s", n);
			return;
		}
		if (z && !ctl_auth_zone_allowed(&r->who, z)) {
			snprintf(what, sizeof(what), "zone %.40s", z);
			snprintf(r->target, sizeof(r->target), "zone %.60s", z);
			scope_refuse(r, what);
			return;
		}
	}
	if (strcmp(r->method, "GET") == 0 && strcmp(r->url, "/v1/report") == 0 &&
	    sched_arg(r, "format") && strcmp(sched_arg(r, "format"), "pdf") == 0) {
		report_pdf_request(r);
		return;
	}
	if (ctl_auth_scope_json(&r->who, &zones) < 0) {
		set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	ctl_health_api(r->c, r->method, r->url, sched_arg, r, r->body, r->body_len, zones, &h);
	free(zones);
	/* a maintenance command is read like its node */
	if (h.status == 200 && !r->who.all_zones && strncmp(r->url, "/v1/commands/", 13) == 0) {
		const char *node = json_string_value(json_object_get(h.json, "node"));

		snprintf(r->target, sizeof(r->target), "command %.60s", r->url + 13);
		if (!node || node_readable(r, node) < 0) {
			if (!node)
				set_error(r, MHD_HTTP_FORBIDDEN, "the command names no node");
			json_decref(h.json);
			return;
		}
	}
	if (h.status == 200 && strcmp(r->url, "/v1/alarms") == 0)
		ctl_auth_filter_nodes(&r->c->db, &r->who, json_object_get(h.json, "alarms"),
				      "node");
	if (h.text) {
		r->status = h.status;
		r->text = h.text;
		r->ctype = h.ctype;
		return;
	}
	if (h.status >= 400)
		log_info("API: %s %s: %u %s", r->method, r->url, h.status,
			 json_string_value(json_object_get(h.json, "error")));
	set_reply(r, h.status, h.json);
}

/* ------------------------------------------------------------ events */

/* A stream sees what its account may read: a node's events when the node
 * is visible to it (ctl_auth_node_visible), the station's to everyone. */
static int sse_visible(struct api_req *r, const struct sse_event *e)
{
	return !e->node[0] || r->who.all_zones || ctl_auth_node_visible(&r->c->db, &r->who,
									  e->node);
}

static size_t sse_put(char *buf, size_t max, size_t off, const char *text)
{
	size_t n = strlen(text);

	if (off + n > max)
		return off;
	memcpy(buf + off, text, n);
	return off + n;
}

/*
 * MHD asks for more of a stream: the events it has not sent, or at the
 * keepalive time a comment line; else the connection waits suspended
 * (never a busy loop) until ctl_api_event or the keepalive resumes it.
 */
static ssize_t sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	static const char reset[] = "event: reset\ndata: {\"reload\":true}\n\n";
	struct api_req *r = cls;
	struct ctl_api *api = r->c->api;
	const struct sse_event *e;
	struct ctl_principal again;
	char err[256];
	size_t off = 0, n;
	int lost, pending = 0;

	(void)pos;
	if (!api || api->stopping || r->sse_end)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (!r->sse_hello) {
		/* how long a browser waits before it reconnects */
		off = sse_put(buf, max, off, "retry: 3000\n\n");
		r->sse_hello = 1;
	}
	while ((e = sse_next(&api->ring, r->sse_seq, &lost))) {
		if ((lost || r->sse_reset) && off + sizeof(reset) <= max) {
			/* it missed events: the console reloads what it shows */
			off = sse_put(buf, max, off, reset);
			r->sse_reset = 0;
		} else if (lost || r->sse_reset) {
			pending = 1;
			break;
		}
		if (!sse_visible(r, e)) {
			r->sse_seq = e->seq;
			continue;
		}
		n = sse_format(e, buf + off, max - off);
		if (!n) {
			pending = 1;
			break;
		}
		off += n;
		r->sse_seq = e->seq;
	}
	if (r->sse_reset && off + sizeof(reset) <= max) {
		off = sse_put(buf, max, off, reset);
		r->sse_reset = 0;
	}
	if (!off && !pending && mono_ms() >= r->sse_beat) {
		/* a session logged out or expired ends its streams */
		memset(&again, 0, sizeof(again));
		if (ctl_auth_request(&r->c->db, r->sse_authz, &again, err, sizeof(err)) < 0) {
			log_info("API: GET /v1/events of %s ends: %s", r->who.user, err);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		off = sse_put(buf, max, off, ": keepalive\n\n");
	}
	if (off) {
		r->sse_beat = mono_ms() + SSE_BEAT_MS;
		return (ssize_t)off;
	}
	if (pending)
		return 0; /* no room in MHD's buffer now: it asks again */
	r->sse_waiting = 1;
	r->suspended = 1;
	MHD_suspend_connection(r->conn);
	return 0;
}

static enum MHD_Result sse_start(struct api_req *r)
{
	struct ctl_api *api = r->c->api;
	const char *authz = req_authz(r);
	const char *last = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
	struct MHD_Response *resp;
	enum MHD_Result ret;
	uint64_t id = sse_parse_last_id(last);

	if (api->nsse >= SSE_MAX_STREAMS || !authz || strlen(authz) >= sizeof(r->sse_authz)) {
		set_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", authz ? "too many live update "
			  "streams are open (at most " "32" "): close a console tab or try again "
			  "later" : "no credentials");
		return queue_reply(r);
	}
	snprintf(r->sse_authz, sizeof(r->sse_authz), "%s", authz);
	/* a fresh stream starts now; a reconnecting one where it stopped, or
	 * with "reset" when that is gone (or from an earlier run) */
	r->sse_seq = sse_last(&api->ring);
	if (last && (!id || id > r->sse_seq || id + 1 < api->ring.first))
		r->sse_reset = 1;
	else if (last)
		r->sse_seq = id;
	r->sse_beat = mono_ms() + SSE_BEAT_MS;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_reader, r, NULL);
	if (!resp)
		return MHD_NO;
	r->sse = 1;
	api->nsse++;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->web)
		web_add_headers(resp, 1);
	ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	log_debug("API: GET /v1/events: a stream for %s (%d open)", r->who.user, api->nsse);
	return ret;
}

/* A logout: the streams of that token end now rather than at their keepalive. */
static void sse_end_for(struct ctl *c, const char *authz)
{
	struct api_req *r;

	for (r = c->api && authz ? c->api->reqs : NULL; r; r = r->next)
		if (r->sse && strcmp(r->sse_authz, authz) == 0) {
			r->sse_end = 1;
			if (r->sse_waiting && r->suspended) {
				r->sse_waiting = r->suspended = 0;
				MHD_resume_connection(r->conn);
			}
		}
}

void ctl_api_event(struct ctl *c, const char *kind, const char *node, json_t *data)
{
	struct ctl_api *api = c->api;
	struct api_req *r;
	char *text;
	int rc;

	if (!api || !data)
		return;
	text = json_dumps(data, JSON_COMPACT);
	rc = text ? sse_push(&api->ring, kind, node ? node : "", text) : -ENOMEM;
	free(text);
	if (rc < 0) {
		log_debug("API: event %s of %s not kept for /v1/events: %s", kind,
			  node ? node : "-", strerror(-rc));
		return;
	}
	for (r = api->reqs; r; r = r->next)
		if (r->sse_waiting && r->suspended) {
			r->sse_waiting = r->suspended = 0;
			MHD_resume_connection(r->conn);
		}
}

/* ------------------------------------------------------------ web sessions */

/* {"user", "role", "zones", "csrf"}: what the console shows and sends back. */
static json_t *session_json(const struct ctl_principal *who, const char *token)
{
	char csrf[WEB_CSRF_LEN];
	json_t *j = ctl_secapi_whoami(who);

	web_csrf_token(token, csrf);
	if (j)
		json_object_set_new(j, "csrf", json_string(csrf));
	return j;
}

/* The end of a console login (auth.h): the token goes into the cookie only. */
static void session_login_done(struct ctl *c, void *ctx, int rc, json_t *reply,
			       const char *err)
{
	struct api_req *r = ctx;
	const char *tok = json_string_value(json_object_get(reply, "token"));
	char csrf[WEB_CSRF_LEN];

	r->import_pending = 0;
	if (r->orphan) {
		json_decref(reply);
		req_free(c, r);
		return;
	}
	if (rc == 0 && tok && strlen(tok) == AUTH_TOKEN_HEX &&
	    web_cookie_header(r->set_cookie, sizeof(r->set_cookie), tok,
			      c->cfg.auth.token_ttl_s) == 0) {
		snprintf(r->who.role, sizeof(r->who.role), "%s",
			 json_string_value(json_object_get(reply, "role")));
		web_csrf_token(tok, csrf);
		json_object_del(reply, "token");
		json_object_set_new(reply, "csrf", json_string(csrf));
		set_reply(r, MHD_HTTP_OK, reply);
	} else {
		json_decref(reply);
		set_error(r, rc == 0 ? MHD_HTTP_INTERNAL_SERVER_ERROR
			  : rc == -EAGAIN ? MHD_HTTP_TOO_MANY_REQUESTS
			  : rc == -EACCES ? MHD_HTTP_UNAUTHORIZED
			  : rc == -EBUSY || rc == -ECANCELED ? MHD_HTTP_SERVICE_UNAVAILABLE
			  : MHD_HTTP_INTERNAL_SERVER_ERROR, "%s", rc == 0 ? "the login "
			  "succeeded but its session could not be made (see the log)" : err);
	}
	if (r->suspended) {
		r->suspended = 0;
		MHD_resume_connection(r->conn);
	}
}

/*
 * POST /v1/session {"user" (or "name"), "password"}: the same login as
 * POST /v1/login (throttles, Argon2id off the loop, audit) but the token
 * is set as the cookie and never shown to the page's scripts.
 * GET: who is logged in, and the CSRF token (after a reload of the page).
 * DELETE: log out (the token is revoked, the cookie cleared).
 */
static void session_request(struct api_req *r)
{
	struct ctl *c = r->c;
	char err[256];
	json_t *req, *jn;
	const char *name, *pw;
	int rc;

	if (strcmp(r->method, "GET") == 0) {
		set_reply(r, MHD_HTTP_OK, session_json(&r->who, r->cookie_authz + 7));
		return;
	}
	if (strcmp(r->method, "DELETE") == 0) {
		snprintf(r->target, sizeof(r->target), "user %s", r->who.user);
		web_cookie_header(r->set_cookie, sizeof(r->set_cookie), NULL, 0);
		if (ctl_auth_logout(&c->db, r->cookie_authz) < 0) {
			set_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot log out (see the log)");
			return;
		}
		sse_end_for(c, r->cookie_authz);
		set_reply(r, MHD_HTTP_OK, json_pack("{s:s}", "logged_out", r->who.user));
		return;
	}
	if (r->body_too_big) {
		set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d "
			  "bytes", CTL_MAX_JSON_BODY);
		return;
	}
	req = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
	jn = json_object_get(req, "user") ? json_object_get(req, "user")
					  : json_object_get(req, "name");
	name = json_string_value(jn);
	pw = json_string_value(json_object_get(req, "password"));
	if (!json_is_object(req) || !name || !pw || !name[0] || strlen(name) >= CTL_NAME_MAX) {
		json_decref(req);
		set_error(r, MHD_HTTP_BAD_REQUEST, "the login needs {\"user\": NAME, "
			  "\"password\": TEXT}");
		return;
	}
	/* the audit log names who tried, even when it fails */
	ctl_printable(r->who.user, sizeof(r->who.user), name);
	snprintf(r->target, sizeof(r->target), "user %s", r->who.user);
	r->import_pending = 1;
	rc = ctl_auth_login_start(c, name, pw, r->who.peer, r->who.peer_id, session_login_done,
				  r, err, sizeof(err));
	json_decref(req);
	if (rc == 0) {
		if (r->import_pending) {
			MHD_suspend_connection(r->conn);
			r->suspended = 1;
		}
		return;
	}
	r->import_pending = 0;
	set_error(r, rc == -EAGAIN ? MHD_HTTP_TOO_MANY_REQUESTS
		  : rc == -EACCES ? MHD_HTTP_UNAUTHORIZED
		  : rc == -EBUSY ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
		  "%s", err);
}

/*
 * The start of a web request: static files are answered at once; the
 * session cookie becomes the request's credentials; /v1/session is
 * authenticated here (any role may see itself and log out).
 */
static enum MHD_Result web_begin(struct api_req *r, const char *url, int *done)
{
	const char *tok = web_cookie_token(r->conn);
	char err[256];

	*done = 0;
	web_peer(r->conn, r->who.peer, sizeof(r->who.peer), r->who.peer_id,
		 sizeof(r->who.peer_id));
	if (!web_is_api_url(url)) {
		*done = 1;
		return web_static(r->c->api->web_root, r->conn, url, r->method);
	}
	if (tok)
		snprintf(r->cookie_authz, sizeof(r->cookie_authz), "Bearer %s", tok);
	if (strcmp(url, "/v1/session") != 0)
		return MHD_YES;
	*done = 1;
	r->route = R_SESSION;
	if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "GET") != 0 &&
	    strcmp(r->method, "DELETE") != 0) {
		set_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "%s is not allowed on /v1/session "
			  "(use POST to log in, GET, DELETE to log out)", r->method);
		return queue_reply(r);
	}
	if (strcmp(r->method, "POST") != 0) {
		if (!tok)
			set_error(r, MHD_HTTP_UNAUTHORIZED, "not logged in: log in with your name "
				  "and password");
		else if (ctl_auth_request(&r->c->db, r->cookie_authz, &r->who, err,
					  sizeof(err)) < 0)
			set_error(r, MHD_HTTP_UNAUTHORIZED, "%s", err);
		else
			web_csrf_check(r);
		if (r->reply) {
			/* a dead session's cookie is of no more use */
			web_cookie_header(r->set_cookie, sizeof(r->set_cookie), NULL, 0);
			return queue_reply(r);
		}
	}
	return MHD_YES;
}

static void body_data(struct api_req *r, const char *data, size_t len)
{
	size_t limit = body_limit(r), cap;
	char *nb;

	if (r->body_too_big || r->body_len + len > limit) {
		r->body_too_big = 1;
		free(r->body); /* no use keeping the part that came */
		r->body = NULL;
		r->body_len = r->body_cap = 0;
		return;
	}
	if (!r->body_big && r->body_len + len > CTL_MAX_JSON_BODY) {
		if (big_bodies(r) >= CTL_BIG_BODIES) {
			r->body_too_big = r->body_busy = 1;
			free(r->body);
			r->body = NULL;
			r->body_len = r->body_cap = 0;
			return;
		}
		r->body_big = 1;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		/* doubling: a schedule body of megabytes comes in small pieces */
		cap = r->body_cap ? r->body_cap : 4096;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (cap > limit + 1)
			cap = limit + 1;
		nb = realloc(r->body, cap);
		if (!nb) {
			r->body_too_big = 1;
			return;
		}
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version,
			       const char *upload_data_p, size_t *upload_data_size,
			       void **con_cls)
{
	struct api_listener *l = cls;
	struct ctl *c = l->c;
	struct api_req *r = *con_cls;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->c = c;
		r->conn = conn;
		r->fd = -1;
		snprintf(r->method, sizeof(r->method), "%s", method);
		ctl_printable(r->url, sizeof(r->url), url);
		r->next = c->api->reqs;
		if (r->next)
			r->next->prev = r;
		c->api->reqs = r;
		*con_cls = r;
		r->web = l->web;
		if (r->web) {
			int done;
			enum MHD_Result ret = web_begin(r, url, &done);

			if (done)
				return ret;
		} else {
			const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
				conn, MHD_CONNECTION_INFO_CONNECTION_FD);
			ctl_auth_peer_of_fd(ci ? ci->connect_fd : -1, r->who.peer,
					    sizeof(r->who.peer));
			ctl_auth_peer_id_of_fd(ci ? ci->connect_fd : -1, r->who.peer_id,
					       sizeof(r->who.peer_id));
		}
		/* Authenticate before anything else is looked at: without a token
		 * every URL, known or not, answers 401. */
		if (ctl_secapi_owns(url))
			r->route = R_SEC;
		api_authorize(r, url, method);
		if (r->who.authenticated)
			web_csrf_check(r);
		if (!r->reply && r->route != R_SEC)
			route(r, url, method);
		if (!r->reply && r->route == R_NODE_UPDATE) {
			const char *len = MHD_lookup_connection_value(
				conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

			/* said before the bytes come, not by a dropped connection */
			if (len && strtoull(len, NULL, 10) > CTL_NODE_UPDATE_MAX)
				set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the package is too large: "
					  "a node package is at most %llu MiB",
					  CTL_NODE_UPDATE_MAX >> 20);
		}
		if (!r->reply && (r->route == R_CONTENT_POST || r->route == R_NODE_UPDATE)) {
			upload_begin(r);
			snprintf(r->target, sizeof(r->target), "upload %.150s", r->name);
		}
		if (r->reply)
			return queue_reply(r);
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->route == R_CONTENT_POST)
			return upload_data(r, upload_data_p, n) < 0 ? MHD_NO : MHD_YES;
		if (r->route == R_NODE_UPDATE)
			return r->upload_bytes + n > CTL_NODE_UPDATE_MAX ||
			       upload_data(r, upload_data_p, n) < 0 ? MHD_NO : MHD_YES;
		if (r->route == R_BROADCAST_POST || r->route == R_SEC ||
		    r->route == R_SCHED || r->route == R_EMERGENCY || r->route == R_LIVE ||
		    r->route == R_RECORD || r->route == R_HEALTH || r->route == R_APPROVAL ||
		    r->route == R_SESSION || r->route == R_CAP)
			body_data(r, upload_data_p, n);
		return MHD_YES;
	}
	if (r->import_pending)
		return MHD_YES;
	if (!r->reply && !r->text) { /* text: a PDF made while suspended */
		switch (r->route) {
		case R_NODES: {
			json_t *list = ctl_db_nodes_json(&c->db);

			ctl_health_nodes_augment(c, list);
			ctl_auth_filter_nodes(&c->db, &r->who, list, "node");
			nodes_zone_titles(c, list);
			get_list(r, "nodes", list);
			break;
		}
		case R_CONTENT_LIST:
			get_list(r, "content", ctl_db_content_json(&c->db));
			break;
		case R_CONTENT_POST:
			upload_finish(r);
			if (r->import_pending)
				return MHD_YES;
			break;
		case R_BROADCAST_POST:
			post_broadcast(r, 0);
			break;
		case R_NODE_UPDATE:
			node_update_finish(r);
			break;
		case R_BROADCAST_GET: {
			json_t *b = ctl_db_broadcast_json(&c->db, r->bid);

			if (b && broadcast_readable(r, b) < 0) {
				snprintf(r->target, sizeof(r->target), "broadcast %s", r->bid);
				json_decref(b);
			} else if (b) {
				/* a broadcast to every node: only the operator's nodes' rows */
				ctl_auth_filter_nodes(&c->db, &r->who, json_object_get(b, "targets"),
						      "node");
				ctl_auth_filter_nodes(&c->db, &r->who, json_object_get(b, "plays"),
						      "node");
				set_reply(r, MHD_HTTP_OK, b);
			} else
				set_error(r, MHD_HTTP_NOT_FOUND, "no broadcast %s", r->bid);
			break;
		}
		case R_PLAYS:
			get_plays(r);
			break;
		case R_EVENTS:
			return sse_start(r);
		case R_SESSION:
			session_request(r);
			if (r->import_pending)
				return MHD_YES; /* the password is being checked */
			break;
		case R_SEC: {
			const char *authz = req_authz(r);
			json_t *reply = NULL;
			unsigned status = 500;

			if (r->body_too_big) {
				set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is "
					  "larger than %d bytes", CTL_MAX_JSON_BODY);
				break;
			}
			if (ctl_secapi_handle(c, conn, &r->who, r->method, url, authz, r->body,
					      r->body_len, &status, &reply, r->target,
					      sizeof(r->target), sched_done, r) == 1) {
				/* a login: answered when its password is checked,
				 * off the loop (auth.h); like an import, the
				 * connection waits suspended */
				r->import_pending = 1;
				MHD_suspend_connection(conn);
				r->suspended = 1;
				return MHD_YES;
			}
			if (status == MHD_HTTP_OK && strcmp(r->method, "POST") == 0 &&
			    strcmp(url, "/v1/logout") == 0)
				sse_end_for(c, authz);
			set_reply(r, status, reply);
			break;
		}
		case R_SCHED:
			sched_request(r, r->url, 0);
			if (r->import_pending)
				return MHD_YES;
			break;
		case R_APPROVAL: {
			json_t *j = NULL;
			unsigned st = 500;

			if (strcmp(r->method, "PUT") == 0 && strncmp(r->url, "/v1/drafts/", 11) == 0 &&
			    !strchr(r->url + 11, '/')) {
				draft_edit(r);
				if (r->import_pending)
					return MHD_YES;
				break;
			}
			if (r->body_too_big) {
				set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is "
					  "larger than %d bytes", CTL_MAX_JSON_BODY);
				break;
			}
			ctl_approval_api(c, &r->who, r->method, r->url, sched_arg, r,
					 r->body ? r->body : "", r->body_len, &st, &j, r->target,
					 sizeof(r->target));
			if (st >= 400)
				log_info("API: %s %s: %u %s", r->method, r->url, st,
					 json_string_value(json_object_get(j, "error")));
			set_reply(r, st, j);
			break;
		}
		case R_EMERGENCY:
		case R_LIVE:
		case R_RECORD: {
			json_t *j = NULL;
			unsigned st = 500;

			if (r->body_too_big) {
				set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is "
					  "larger than %d bytes", CTL_MAX_JSON_BODY);
				break;
			}
			(r->route == R_LIVE ? ctl_live_api
			 : r->route == R_RECORD ? ctl_record_api : ctl_emergency_api)(
				c, &r->who, r->method, r->url, r->body ? r->body : "",
				r->body_len, &st, &j, r->target, sizeof(r->target));
			set_reply(r, st, j);
			break;
		}
		case R_CAP: {
			json_t *j = NULL;
			unsigned st = 500;

			if (r->body_too_big) {
				set_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the alert is larger than %d "
					  "bytes", CAP_MAX_BYTES);
				break;
			}
			ctl_cap_api(c, &r->who, r->method, r->url, r->body ? r->body : "",
				    r->body_len, &st, &j, r->target, sizeof(r->target));
			set_reply(r, st, j);
			break;
		}
		case R_HEALTH:
			health_request(r);
			if (r->import_pending)
				return MHD_YES; /* a PDF being made */
			break;
		case R_NONE:
			set_error(r, MHD_HTTP_NOT_FOUND, "no such API endpoint");
			break;
		}
	}
	return queue_reply(r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct ctl *c = ((struct api_listener *)cls)->c;
	struct api_req *r = *con_cls;

	(void)conn;
	if (!r)
		return;
	*con_cls = NULL;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_debug("API: %s %s: the client went away before the answer (code %d)",
			  r->method, r->url, (int)toe);
	if (r->import_pending) {
		r->orphan = 1; /* import_done frees it */
		return;
	}
	req_free(c, r);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_debug("HTTP API (libmicrohttpd): %s", msg);
}

/* ------------------------------------------------------------ socket */

/*
 * Bind the API socket. A socket file nobody answers on is a leftover of a
 * crash and is replaced; one that answers belongs to a running controller.
 */
static int bind_socket(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	char dir[sizeof(sa.sun_path)], *slash;
	int fd = -1, probe, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_errorx("api_socket %s: path too long for a unix socket", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		rc = mkdir_p(dir, 0755);
		if (rc < 0) {
			errno = -rc;
			log_warn("cannot create the directory %s for the API socket", dir);
			return rc;
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_errorx("api_socket %s exists and is not a socket: remove it or "
				   "choose another path", path);
			return -EEXIST;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			log_errorx("another loaxa-controller is already running on %s", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		log_info("removing the stale API socket %s (left by a previous run)", path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_warn("cannot create the API socket");
		return rc;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		log_warn("cannot bind the API socket %s", path);
		close(fd);
		return rc;
	}
	if (chmod(path, 0660) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		log_warn("cannot listen on the API socket %s", path);
		close(fd);
		unlink(path);
		return rc;
	}
	return fd;
}

/*
 * The web console's HTTPS listener (web.h), when web.listen is set: the
 * same handler as the unix socket's, TLS through MHD's GnuTLS. Started
 * after the socket; a failure stops the controller's start (the
 * configuration asks for a console that would not be there).
 */
static int web_start(struct ctl *c, struct ctl_api *api)
{
	const struct ctl_config *cfg = &c->cfg;
	char *cert = NULL, *key = NULL;
	int rc;

	api->web_fd = web_listen(cfg->web.listen);
	if (api->web_fd < 0)
		return api->web_fd;
	rc = web_root_open(cfg->web.root);
	if (rc < 0)
		goto out;
	api->web_root = rc;
	rc = web_read_pem("web.cert", cfg->web.cert, &cert);
	if (rc == 0)
		rc = web_read_pem("web.key", cfg->web.key, &key);
	if (rc < 0)
		goto out;
	api->web_l.c = c;
	api->web_l.web = 1;
	/* TLS 1.2 and 1.3 only: every browser of the last years has them */
	api->wd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TLS |
				   MHD_USE_ERROR_LOG,
				   0, NULL, NULL, handler, &api->web_l,
				   MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, c,
				   MHD_OPTION_LISTEN_SOCKET, (MHD_socket)api->web_fd,
				   MHD_OPTION_NOTIFY_COMPLETED, completed, &api->web_l,
				   MHD_OPTION_HTTPS_MEM_CERT, cert,
				   MHD_OPTION_HTTPS_MEM_KEY, key,
				   MHD_OPTION_HTTPS_PRIORITIES,
				   "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
				   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
				   MHD_OPTION_CONNECTION_LIMIT, (unsigned int)128,
				   MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)32,
				   MHD_OPTION_END);
	if (!api->wd) {
		log_errorx("cannot start the web console on %s: check that web.cert (%s) and "
			   "web.key (%s) are a certificate and its own key in PEM (`loaxa "
			   "web-cert` makes a pair)", cfg->web.listen, cfg->web.cert,
			   cfg->web.key);
		rc = -EIO;
		goto out;
	}
	log_info("web console listening on https://%s (port %d), files from %s",
		 cfg->web.listen, web_bound_port(api->web_fd), cfg->web.root);
	api->web_cert = cert;
	api->web_key = key;
	return 0;
out:
	web_free_secret(key);
	free(cert);
	if (rc < 0) {
		if (api->web_root >= 0)
			close(api->web_root);
		if (api->web_fd >= 0)
			close(api->web_fd);
		api->web_root = api->web_fd = -1;
	}
	return rc;
}

int ctl_api_start(struct ctl *c)
{
	struct ctl_api *api;
	int fd;

	api = calloc(1, sizeof(*api));
	if (!api)
		return -ENOMEM;
	api->listen_fd = -1;
	api->web_fd = api->web_root = -1;
	api->unix_l.c = c;
	sse_init(&api->ring, (uint64_t)now_ms() * 1000);
	snprintf(api->path, sizeof(api->path), "%s", c->cfg.api_socket);
	c->api = api;
	fd = bind_socket(api->path);
	if (fd < 0) {
		free(api);
		c->api = NULL;
		return fd;
	}
	api->listen_fd = fd;
	api->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
				  MHD_USE_ERROR_LOG,
				  0, NULL, NULL, handler, &api->unix_l,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, c,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_NOTIFY_COMPLETED, completed, &api->unix_l,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)128,
				  MHD_OPTION_END);
	if (!api->d) {
		log_errorx("cannot start the HTTP API on %s (libmicrohttpd failed)", api->path);
		close(fd);
		unlink(api->path);
		free(api);
		c->api = NULL;
		return -EIO;
	}
	log_info("API listening on %s", api->path);
	if (c->cfg.web.listen[0] && web_start(c, api) < 0) {
		ctl_api_stop(c);
		return -EIO;
	}
	return 0;
}

void ctl_api_stop(struct ctl *c)
{
	struct ctl_api *api = c->api;
	struct api_req *r;

	if (!api)
		return;
	/* No connection may stay suspended when MHD stops; streams end. */
	api->stopping = 1;
	for (r = api->reqs; r; r = r->next)
		if (r->suspended) {
			r->suspended = 0;
			MHD_resume_connection(r->conn);
		}
	if (api->d) {
		MHD_run(api->d);
		MHD_stop_daemon(api->d);
	}
	if (api->wd) {
		MHD_run(api->wd);
		MHD_stop_daemon(api->wd);
	}
	if (api->web_fd >= 0)
		close(api->web_fd);
	if (api->web_root >= 0)
		close(api->web_root);
	web_free_secret(api->web_key);
	free(api->web_cert);
	/* orphans whose import never reported (cannot happen after imports_stop) */
	while (api->reqs)
		req_free(c, api->reqs);
	if (api->listen_fd >= 0)
		close(api->listen_fd);
	unlink(api->path);
	sse_free(&api->ring);
	free(api);
	c->api = NULL;
}

int ctl_api_pollfds(struct ctl *c, struct pollfd *pfd, int max)
{
	struct MHD_Daemon *ds[2];
	const union MHD_DaemonInfo *info;
	int i, n = 0;

	if (!c->api)
		return 0;
	ds[0] = c->api->d;
	ds[1] = c->api->wd;
	for (i = 0; i < 2 && n < max; i++) {
		if (!ds[i])
			continue;
		info = MHD_get_daemon_info(ds[i], MHD_DAEMON_INFO_EPOLL_FD);
		if (!info)
			continue;
		pfd[n].fd = info->epoll_fd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

int ctl_api_timeout_ms(struct ctl *c)
{
	struct MHD_Daemon *ds[2];
	MHD_UNSIGNED_LONG_LONG t;
	int i, best = -1;

	if (!c->api)
		return -1;
	ds[0] = c->api->d;
	ds[1] = c->api->wd;
	for (i = 0; i < 2; i++) {
		int ms;

		if (!ds[i] || MHD_get_timeout(ds[i], &t) != MHD_YES)
			continue;
		ms = t > 60000 ? 60000 : (int)t;
		if (best < 0 || ms < best)
			best = ms;
	}
	/* the keepalive of a waiting event stream */
	{
		struct api_req *r;
		int64_t now = mono_ms();

		for (r = c->api->reqs; r; r = r->next) {
			int64_t left = r->sse_beat - now;
			int ms;

			if (!r->sse_waiting)
				continue;
			ms = left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
			if (best < 0 || ms < best)
				best = ms;
		}
	}
	return best;
}

void ctl_api_run(struct ctl *c)
{
	struct api_req *r;
	int64_t now = mono_ms();

	/* event streams whose keepalive is due go round once */
	for (r = c->api ? c->api->reqs : NULL; r; r = r->next)
		if (r->sse_waiting && r->suspended && now >= r->sse_beat) {
			r->sse_waiting = r->suspended = 0;
			MHD_resume_connection(r->conn);
		}
	if (c->api && c->api->d)
		MHD_run(c->api->d);
	if (c->api && c->api->wd)
		MHD_run(c->api->wd);
}
