/*
 * secapi.c - see secapi.h.
 */
#include "secapi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctlutil.h"
#include "log.h"
#include "keys.h"
#include "ratelimit.h"
#include "secops.h"
#include "util.h"

static const char *const owned[] = {
	"/v1/login", "/v1/logout", "/v1/whoami", "/v1/users", "/v1/audit", "/v1/keys",
	"/v1/security",
};
static const char *const owned_prefix[] = {
	"/v1/users/", "/v1/provision/", "/v1/keys/",
};

int ctl_secapi_owns(const char *url)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(owned); i++)
		if (strcmp(url, owned[i]) == 0)
			return 1;
	for (i = 0; i < ARRAY_SIZE(owned_prefix); i++)
		if (strncmp(url, owned_prefix[i], strlen(owned_prefix[i])) == 0)
			return 1;
	return 0;
}

int ctl_secapi_needs_token(const char *method, const char *url)
{
	return !(strcmp(method, "POST") == 0 && strcmp(url, "/v1/login") == 0);
}

/* A login whose password the worker is checking (auth.h). */
struct pending_login {
	struct ctl_principal *who;
	ctl_secapi_done_fn done;
	void *ctx;
};

static unsigned login_status(int rc)
{
	return rc == 0 ? MHD_HTTP_OK : rc == -EAGAIN ? MHD_HTTP_TOO_MANY_REQUESTS
	       : rc == -EACCES ? MHD_HTTP_UNAUTHORIZED
	       : rc == -EBUSY || rc == -ECANCELED ? MHD_HTTP_SERVICE_UNAVAILABLE
	       : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

static void login_done(struct ctl *c, void *ctx, int rc, json_t *reply, const char *err)
{
	struct pending_login *p = ctx;

	(void)c;
	if (rc == 0)
		snprintf(p->who->role, sizeof(p->who->role), "%s",
			 json_string_value(json_object_get(reply, "role")));
	else
		reply = ctl_error_json("%s", err);
	p->done(p->ctx, login_status(rc), reply);
	free(p);
}

/* 1 when the answer comes later through done. */
static int login(struct ctl *c, struct ctl_principal *who, json_t *req, unsigned *status,
		 json_t **reply, char *target, size_t tlen, ctl_secapi_done_fn done, void *ctx)
{
	char name[CTL_NAME_MAX], err[256];
	struct pending_login *p;
	const char *pw;
	int rc;

	if (ctl_json_str(req, "user", CTL_REQUIRED, name, sizeof(name), err, sizeof(err)) < 0 ||
	    !json_is_string(json_object_get(req, "password"))) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = ctl_error_json("the body must be {\"user\": NAME, \"password\": TEXT}");
		return 0;
	}
	pw = json_string_value(json_object_get(req, "password"));
	/* The audit log names who tried, even when it fails. */
	ctl_printable(who->user, sizeof(who->user), name);
	snprintf(target, tlen, "user %s", who->user);
	p = calloc(1, sizeof(*p));
	if (!p) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = ctl_error_json("out of memory");
		return 0;
	}
	p->who = who;
	p->done = done;
	p->ctx = ctx;
	rc = ctl_auth_login_start(c, name, pw, who->peer, who->peer_id, login_done, p, err,
				  sizeof(err));
	if (rc == 0)
		return 1;
	free(p);
	*status = login_status(rc);
	*reply = ctl_error_json("%s", err);
	return 0;
}

json_t *ctl_secapi_whoami(const struct ctl_principal *who)
{
	json_t *z = json_array();
	size_t i;

	for (i = 0; i < who->nzones; i++)
		json_array_append_new(z, json_string(who->zones[i]));
	if (who->all_zones) {
		json_decref(z);
		z = json_string("*");
	}
	return json_pack("{s:s, s:s, s:o, s:s}", "user", who->user, "role", who->role,
			 "zones", z, "from", who->peer);
}

static void user_add(struct ctl *c, json_t *req, unsigned *status, json_t **reply,
		     char *target, size_t tlen)
{
	char name[CTL_NAME_MAX], role[AUTH_ROLE_MAX], err[256];
	const char *pw = json_string_value(json_object_get(req, "password"));
	int rc;

	if (ctl_json_str(req, "name", CTL_REQUIRED, name, sizeof(name), err, sizeof(err)) < 0 ||
	    ctl_json_str(req, "role", CTL_REQUIRED, role, sizeof(role), err, sizeof(err)) < 0) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = ctl_error_json("%s", err);
		return;
	}
	snprintf(target, tlen, "user %s role %s", name, role);
	if (!pw) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = ctl_error_json("field \"password\" is required (a string)");
		return;
	}
	rc = ctl_auth_user_add(&c->db, name, pw, role, json_object_get(req, "zones"), err,
			       sizeof(err));
	if (rc == 0) {
		*status = MHD_HTTP_CREATED;
		*reply = json_pack("{s:s, s:s, s:O}", "name", name, "role", role, "zones",
				   json_object_get(req, "zones") ? json_object_get(req, "zones")
								 : json_string("*"));
		return;
	}
	*status = rc == -EEXIST ? MHD_HTTP_CONFLICT
		  : rc == -EINVAL ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR;
	*reply = ctl_error_json("%s", err);
}

static void user_del(struct ctl *c, const struct ctl_principal *who, const char *name,
		     unsigned *status, json_t **reply, char *target, size_t tlen)
{
	int rc;

	if (!name_valid(name)) {
		*status = MHD_HTTP_NOT_FOUND;
		*reply = ctl_error_json("no such user");
		return;
	}
	snprintf(target, tlen, "user %s", name);
	if (strcmp(name, who->user) == 0) {
		/* The last administrator must not lock everyone out by accident. */
		*status = MHD_HTTP_CONFLICT;
		*reply = ctl_error_json("you cannot delete yourself (%s); another administrator "
				    "can", name);
		return;
	}
	rc = ctl_auth_user_del(&c->db, name);
	if (rc == 0) {
		*status = MHD_HTTP_OK;
		*reply = json_pack("{s:s}", "deleted", name);
	} else {
		*status = rc == -ENOENT ? MHD_HTTP_NOT_FOUND : MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = ctl_error_json(rc == -ENOENT ? "no user %s" : "cannot delete user %s (see "
				    "the controller's log)", name);
	}
}

static void audit_get(struct ctl *c, struct MHD_Connection *conn, unsigned *status,
		      json_t **reply)
{
	const char *l = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	const char *u = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "user");
	long limit = 100;
	json_t *list;

	if (l) {
		char *end;

		errno = 0;
		limit = strtol(l, &end, 10);
		if (errno || *end || limit < 1 || limit > 100000) {
			*status = MHD_HTTP_BAD_REQUEST;
			*reply = ctl_error_json("limit must be a number from 1 to 100000");
			return;
		}
	}
	if (u && !name_valid(u)) {
		*status = MHD_HTTP_BAD_REQUEST;
		*reply = ctl_error_json("user must be a user name");
		return;
	}
	list = ctl_auth_audit_json(&c->db, (int)limit, u);
	if (!list) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = ctl_error_json("the controller's database failed (see its log)");
		return;
	}
	*status = MHD_HTTP_OK;
	*reply = json_pack("{s:o}", "audit", list);
}

int ctl_secapi_handle(struct ctl *c, struct MHD_Connection *conn,
		      struct ctl_principal *who, const char *method, const char *url,
		      const char *authorization, const char *body, size_t len,
		      unsigned *status, json_t **reply, char *target, size_t tlen,
		      ctl_secapi_done_fn done, void *done_ctx)
{
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	int del = strcmp(method, "DELETE") == 0, pending = 0;
	json_t *req = NULL;
	char err[512];

	*reply = NULL;
	target[0] = '\0';
	if (post) {
		req = ctl_json_object(body ? body : "", body ? len : 0, err, sizeof(err));
		if (!req && strcmp(url, "/v1/logout") != 0 &&
		    strcmp(url, "/v1/keys/rotate") != 0) {
			*status = MHD_HTTP_BAD_REQUEST;
			*reply = ctl_error_json("the request body: %s", err);
			return 0;
		}
	}
	if (post && strcmp(url, "/v1/login") == 0) {
		pending = login(c, who, req, status, reply, target, tlen, done, done_ctx);
	} else if (post && strcmp(url, "/v1/logout") == 0) {
		snprintf(target, tlen, "user %s", who->user);
		*status = ctl_auth_logout(&c->db, authorization) == 0 ? MHD_HTTP_OK
								       : MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = *status == MHD_HTTP_OK ? json_pack("{s:s}", "logged_out", who->user)
						: ctl_error_json("cannot log out (see the log)");
	} else if (get && strcmp(url, "/v1/whoami") == 0) {
		*status = MHD_HTTP_OK;
		*reply = ctl_secapi_whoami(who);
	} else if (get && strcmp(url, "/v1/users") == 0) {
		json_t *l = ctl_auth_users_json(&c->db);

		*status = l ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
		*reply = l ? json_pack("{s:o}", "users", l) : ctl_error_json("database failed");
	} else if (post && strcmp(url, "/v1/users") == 0) {
		user_add(c, req, status, reply, target, tlen);
	} else if (del && strncmp(url, "/v1/users/", 10) == 0) {
		user_del(c, who, url + 10, status, reply, target, tlen);
	} else if (get && strcmp(url, "/v1/audit") == 0) {
		audit_get(c, conn, status, reply);
	} else if (get && strcmp(url, "/v1/security") == 0) {
		/* for dashboards and alarms: key expiry, nodes being rate limited */
		*status = MHD_HTTP_OK;
		*reply = json_pack("{s:o, s:o}", "keys", ctl_keys_status_json(c), "rate_limited",
				   ctl_ratelimit_json());
	} else if (ctl_secops_handle(c, method, url, req, status, reply, target, tlen) == 0) {
		/* provisioning and keys (secops.c) */
	} else {
		*status = MHD_HTTP_NOT_FOUND;
		*reply = ctl_error_json("no such API endpoint: %s %.100s (see docs/security.md)",
				    method, url);
	}
	json_decref(req);
	return pending;
}
