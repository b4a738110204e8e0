/*
 * auth.c - see auth.h.
 */
#include "auth.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctl.h"
#include "ctlutil.h"
#include "log.h"
#include "loginlimit.h"
#include "pwverify.h"
#include "util.h"

/*
 * Login throttles (loginlimit.h says why a flood of invented names cannot
 * reset a real user's counter): per user name, AUTH_MAX_FAILURES in
 * AUTH_FAIL_WINDOW_S; per peer ("uid 1000"), AUTH_PEER_MAX_FAILURES in the
 * same window; and AUTH_LOGIN_PER_S checks a second overall, which bounds
 * the worker's CPU. The Argon2id checks run in pwverify.h's worker.
 */
struct ctl_auth {
	struct ll_table names;
	struct ll_table peers;
	struct pwv *pwv;
	int64_t second_start_ms; /* global login budget, per monotonic second */
	int logins_this_second;
	int64_t ttl_ms;
};

/* A login whose password is being checked by the worker. */
struct login_job {
	char name[CTL_NAME_MAX];
	char peer[AUTH_PEER_MAX];
	char peer_id[AUTH_PEER_ID_MAX];
	int name_shared, peer_shared;  /* charged to an overflow entry */
	int found;
	struct ctl_principal who;
	ctl_auth_login_cb cb;
	void *ctx;
};

static const struct {
	const char *name;
	unsigned perms;
} roles[] = {
	{ "operator", PERM_READ | PERM_OPERATE },
	{ "approver", PERM_READ | PERM_OPERATE | PERM_APPROVE },
	{ "maintenance", PERM_READ | PERM_MAINTAIN },
	{ "admin", PERM_READ | PERM_OPERATE | PERM_APPROVE | PERM_MAINTAIN | PERM_ADMIN },
};

unsigned ctl_auth_role_perms(const char *role)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(roles); i++)
		if (strcmp(role, roles[i].name) == 0)
			return roles[i].perms;
	return 0;
}

int ctl_auth_init(struct ctl *c)
{
	int rc;

	c->auth = calloc(1, sizeof(*c->auth));
	if (!c->auth)
		return -ENOMEM;
	c->auth->ttl_ms = (int64_t)c->cfg.auth.token_ttl_s * 1000;
	if (c->auth->ttl_ms <= 0)
		c->auth->ttl_ms = 8LL * 3600 * 1000;
	ll_init(&c->auth->names, AUTH_MAX_FAILURES, AUTH_FAIL_WINDOW_S * 1000LL);
	ll_init(&c->auth->peers, AUTH_PEER_MAX_FAILURES, AUTH_FAIL_WINDOW_S * 1000LL);
	rc = pwv_start(&c->auth->pwv);
	if (rc < 0) {
		errno = -rc;
		log_warn("cannot start the password check thread");
		free(c->auth);
		c->auth = NULL;
	}
	return rc;
}

void ctl_auth_stop(struct ctl *c)
{
	if (!c->auth || !c->auth->pwv)
		return;
	pwv_stop(c->auth->pwv, c);
	c->auth->pwv = NULL;
}

int ctl_auth_pollfd(struct ctl *c, struct pollfd *pfd)
{
	return c->auth ? pwv_pollfd(c->auth->pwv, pfd) : 0;
}

void ctl_auth_handle(struct ctl *c, const struct pollfd *pfd)
{
	if (c->auth && c->auth->pwv && (pfd->revents & POLLIN))
		pwv_handle(c->auth->pwv, c);
}

void ctl_auth_free(struct ctl *c)
{
	if (!c->auth)
		return;
	ctl_auth_stop(c);
	sodium_memzero(c->auth, sizeof(*c->auth));
	free(c->auth);
	c->auth = NULL;
}

/* ------------------------------------------------------------ users */

/* Zones JSON -> the text stored ("*" or a JSON array), validated. */
static int zones_text(json_t *zones, char **out, char *err, size_t errlen)
{
	size_t i;
	json_t *z;

	*out = NULL;
	if (!zones || (json_is_string(zones) && strcmp(json_string_value(zones), "*") == 0)) {
		*out = strdup("*");
		return *out ? 0 : -ENOMEM;
	}
	if (!json_is_array(zones) || json_array_size(zones) == 0 ||
	    json_array_size(zones) > CTL_MAX_ZONES) {
		snprintf(err, errlen, "field \"zones\" must be \"*\" (every zone) or a list of 1 "
			 "to %d zone names", CTL_MAX_ZONES);
		return -EINVAL;
	}
	json_array_foreach(zones, i, z) {
		if (!json_is_string(z) || !name_valid(json_string_value(z))) {
			snprintf(err, errlen, "field \"zones\": item %zu is not a zone name "
				 "(1-31 of a-z 0-9 _ -)", i + 1);
			return -EINVAL;
		}
	}
	*out = json_dumps(zones, JSON_COMPACT);
	return *out ? 0 : -ENOMEM;
}

static int password_ok(const char *pw, char *err, size_t errlen)
{
	size_t n = strlen(pw);

	if (n < AUTH_PASSWORD_MIN || n > AUTH_PASSWORD_MAX) {
		snprintf(err, errlen, "the password must be %d to %d characters long",
			 AUTH_PASSWORD_MIN, AUTH_PASSWORD_MAX);
		return -EINVAL;
	}
	return 0;
}

int ctl_auth_user_add(struct ctl_db *db, const char *name, const char *password,
		      const char *role, json_t *zones, char *err, size_t errlen)
{
	char hash[crypto_pwhash_STRBYTES];
	sqlite3_stmt *st = NULL;
	char *ztext = NULL;
	int rc;

	if (!name_valid(name)) {
		snprintf(err, errlen, "\"%.40s\" is not a user name: use 1 to 31 of a-z 0-9 _ -",
			 name);
		return -EINVAL;
	}
	if (!ctl_auth_role_perms(role)) {
		snprintf(err, errlen, "unknown role \"%.20s\": use operator, approver, "
			 "maintenance or admin", role);
		return -EINVAL;
	}
	rc = password_ok(password, err, errlen);
	if (rc < 0)
		return rc;
	rc = zones_text(zones, &ztext, err, errlen);
	if (rc < 0)
		return rc;
	if (crypto_pwhash_str(hash, password, strlen(password),
			      crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		snprintf(err, errlen, "out of memory while hashing the password");
		rc = -ENOMEM;
		goto out;
	}
	if (ctl_db_prep(db, &st, "INSERT INTO users (name, role, zones, pwhash, created) "
			"VALUES (?, ?, ?, ?, ?)", "cannot add a user") < 0) {
		rc = -EIO;
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, role, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, ztext, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now_ms());
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT) {
		snprintf(err, errlen, "there is already a user %s", name);
		rc = -EEXIST;
	} else if (rc != SQLITE_DONE) {
		rc = ctl_db_fail(db, "cannot add a user");
		snprintf(err, errlen, "the controller's database failed (see its log)");
	} else {
		rc = 0;
	}
out:
	sodium_memzero(hash, sizeof(hash));
	sqlite3_finalize(st);
	free(ztext);
	return rc;
}

int ctl_auth_user_del(struct ctl_db *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* Tokens go with the user (ON DELETE CASCADE). */
	if (ctl_db_prep(db, &st, "DELETE FROM users WHERE name = ?", "cannot delete a user") < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ctl_db_fail(db, "cannot delete a user");
	if (rc == 0 && sqlite3_changes(db->h) == 0)
		rc = -ENOENT;
	sqlite3_finalize(st);
	return rc;
}

int ctl_auth_user_count(struct ctl_db *db)
{
	sqlite3_stmt *st = NULL;
	int n = -EIO;

	if (ctl_db_prep(db, &st, "SELECT count(*) FROM users", "cannot count users") < 0)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static json_t *zones_json(const char *text)
{
	json_t *z;

	if (!text || strcmp(text, "*") == 0)
		return json_string("*");
	z = json_loads(text, 0, NULL);
	return z ? z : json_array();
}

json_t *ctl_auth_users_json(struct ctl_db *db)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();

	if (!list)
		return NULL;
	if (ctl_db_prep(db, &st, "SELECT name, role, zones, created FROM users ORDER BY "
			"name", "cannot list users") < 0) {
		json_decref(list);
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(list, json_pack(
			"{s:s, s:s, s:o, s:I}",
			"name", (const char *)sqlite3_column_text(st, 0),
			"role", (const char *)sqlite3_column_text(st, 1),
			"zones", zones_json((const char *)sqlite3_column_text(st, 2)),
			"created", (json_int_t)sqlite3_column_int64(st, 3)));
	sqlite3_finalize(st);
	return list;
}

/* Fill who's role, perms and zones from a users row (name, role, zones). */
static int principal_from_row(struct ctl_principal *who, sqlite3_stmt *st, int col)
{
	const char *name = (const char *)sqlite3_column_text(st, col);
	const char *role = (const char *)sqlite3_column_text(st, col + 1);
	const char *zones = (const char *)sqlite3_column_text(st, col + 2);
	json_t *z, *v;
	size_t i;

	snprintf(who->user, sizeof(who->user), "%s", name ? name : "");
	snprintf(who->role, sizeof(who->role), "%s", role ? role : "");
	who->perms = ctl_auth_role_perms(who->role);
	who->nzones = 0;
	who->all_zones = !zones || strcmp(zones, "*") == 0;
	if (!who->all_zones) {
		z = json_loads(zones, 0, NULL);
		json_array_foreach(z, i, v) {
			if (who->nzones < CTL_MAX_ZONES && json_is_string(v))
				snprintf(who->zones[who->nzones++], CTL_NAME_MAX, "%s",
					 json_string_value(v));
		}
		json_decref(z);
	}
	who->authenticated = who->perms != 0;
	return who->authenticated ? 0 : -EACCES;
}

/* ------------------------------------------------------------ login */

static void hash_token_hex(const char *token, char out[crypto_hash_sha256_BYTES * 2 + 1])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	hex_encode(out, h, sizeof(h));
}

/* A new token for who: the reply {"token","user","role","zones","expires"}. */
static int issue_token(struct ctl *c, const struct ctl_principal *who, const char *peer,
		       json_t **reply, char *err, size_t errlen)
{
	char token[AUTH_TOKEN_HEX + 1], thash[crypto_hash_sha256_BYTES * 2 + 1];
	uint8_t raw[AUTH_TOKEN_HEX / 2];
	sqlite3_stmt *st = NULL;
	int64_t wall = now_ms(), expires;
	int rc;

	*reply = NULL;
	randombytes_buf(raw, sizeof(raw));
	hex_encode(token, raw, sizeof(raw));
	hash_token_hex(token, thash);
	expires = wall + c->auth->ttl_ms;
	if (ctl_db_prep(&c->db, &st, "INSERT INTO tokens (hash, user, created, expires, peer) "
			"VALUES (?, ?, ?, ?, ?)", NULL) < 0 ||
	    (sqlite3_bind_text(st, 1, thash, -1, SQLITE_TRANSIENT),
	     sqlite3_bind_text(st, 2, who->user, -1, SQLITE_TRANSIENT),
	     sqlite3_bind_int64(st, 3, wall), sqlite3_bind_int64(st, 4, expires),
	     sqlite3_bind_text(st, 5, peer, -1, SQLITE_TRANSIENT),
	     sqlite3_step(st) != SQLITE_DONE)) {
		rc = ctl_db_fail(&c->db, "cannot store a login token");
		snprintf(err, errlen, "the controller's database failed (see its log)");
		goto out;
	}
	/*
	 * Expired tokens are of no use to anyone: drop them now and then.
	 * "Now" is ours (wallclock.h), never SQLite's own 'now': one clock for
	 * issuing and for expiring.
	 */
	sqlite3_finalize(st);
	st = NULL;
	if (ctl_db_prep(&c->db, &st, "DELETE FROM tokens WHERE expires < ?", NULL) == 0) {
		sqlite3_bind_int64(st, 1, wall);
		sqlite3_step(st);
	}
	*reply = json_pack("{s:s, s:s, s:s, s:I}", "token", token, "user", who->user, "role",
			   who->role, "expires", (json_int_t)expires);
	if (*reply) {
		json_t *z = json_array();
		size_t i;

		for (i = 0; i < who->nzones; i++)
			json_array_append_new(z, json_string(who->zones[i]));
		json_object_set_new(*reply, "zones", who->all_zones ? json_string("*") : z);
		if (who->all_zones)
			json_decref(z);
	}
	rc = *reply ? 0 : -ENOMEM;
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
out:
	sqlite3_finalize(st);
	sodium_memzero(token, sizeof(token));
	sodium_memzero(raw, sizeof(raw));
	return rc;
}

/* The worker checked the password (pwverify.h); on the loop thread. */
static void login_checked(struct ctl *c, void *ctx, int ok)
{
	struct login_job *j = ctx;
	struct ctl_auth *a = c->auth;
	int64_t now = mono_ms();
	json_t *reply = NULL;
	char err[256] = "";
	int rc;

	if (ok < 0) {
		/* never checked (the controller stops): the try costs nothing */
		ll_refund(&a->names, j->name, j->name_shared, now);
		ll_refund(&a->peers, j->peer_id, j->peer_shared, now);
		snprintf(err, sizeof(err), "the controller is stopping: try again later");
		rc = -ECANCELED;
	} else if (!ok || !j->found || !j->who.authenticated) {
		/* the failure was charged when the check began */
		log_warnx("login of %s from %s refused: wrong user name or password (%d of %d "
			  "in %d s for the name, %d of %d for %s)", j->name, j->peer,
			  ll_count(&a->names, j->name, now), AUTH_MAX_FAILURES, AUTH_FAIL_WINDOW_S,
			  ll_count(&a->peers, j->peer_id, now), AUTH_PEER_MAX_FAILURES, j->peer_id);
		snprintf(err, sizeof(err), "wrong user name or password");
		rc = -EACCES;
	} else {
		ll_forgive(&a->names, j->name, j->name_shared, now);
		ll_refund(&a->peers, j->peer_id, j->peer_shared, now);
		rc = issue_token(c, &j->who, j->peer, &reply, err, sizeof(err));
		if (rc == 0)
			log_info("%s (%s) logged in from %s", j->who.user, j->who.role, j->peer);
	}
	j->cb(c, j->ctx, rc, reply, err);
	sodium_memzero(j, sizeof(*j));
	free(j);
}

int ctl_auth_login_start(struct ctl *c, const char *name, const char *password,
			 const char *peer, const char *peer_id, ctl_auth_login_cb cb,
			 void *ctx, char *err, size_t errlen)
{
	struct ctl_auth *a = c->auth;
	struct login_job *j = NULL;
	char hash[crypto_pwhash_STRBYTES] = "";
	sqlite3_stmt *st = NULL;
	int64_t now = mono_ms(), retry = 0;
	int rc;

	if (!a || !a->pwv) {
		snprintf(err, errlen, "the controller is stopping: try again later");
		return -ECANCELED;
	}
	if (!name_valid(name) || strlen(password) > AUTH_PASSWORD_MAX) {
		snprintf(err, errlen, "wrong user name or password");
		return -EACCES;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->peer, sizeof(j->peer), "%s", peer);
	snprintf(j->peer_id, sizeof(j->peer_id), "%s", peer_id && peer_id[0] ? peer_id : peer);
	j->cb = cb;
	j->ctx = ctx;
	/* Charged before the check, so concurrent tries cannot all slip through. */
	if (ll_charge(&a->names, j->name, now, &retry, &j->name_shared) < 0) {
		snprintf(err, errlen, "too many wrong passwords for %s: try again in %lld s",
			 name, (long long)retry);
		log_warnx("login of %s from %s refused: locked after %d wrong passwords%s", name,
			  peer, AUTH_MAX_FAILURES, j->name_shared ? " (the shared entry of names "
			  "that found no slot: a flood of names?)" : "");
		rc = -EAGAIN;
		goto fail;
	}
	if (ll_charge(&a->peers, j->peer_id, now, &retry, &j->peer_shared) < 0) {
		ll_refund(&a->names, j->name, j->name_shared, now);
		snprintf(err, errlen, "too many failed logins from %s: try again in %lld s",
			 j->peer_id, (long long)retry);
		log_warnx("login of %s from %s refused: %s failed %d times in %d s", name, peer,
			  j->peer_id, AUTH_PEER_MAX_FAILURES, AUTH_FAIL_WINDOW_S);
		rc = -EAGAIN;
		goto fail;
	}
	/*
	 * The overall budget last: it bounds the worker's CPU, and only tries
	 * that will really be checked count against it, so a throttled peer or
	 * name hammering away does not use up everybody else's logins.
	 */
	if (now - a->second_start_ms >= 1000) {
		a->second_start_ms = now;
		a->logins_this_second = 0;
	}
	if (a->logins_this_second >= AUTH_LOGIN_PER_S) {
		snprintf(err, errlen, "too many logins at once: try again in a second");
		rc = -EAGAIN;
		goto refund;
	}
	a->logins_this_second++;
	if (ctl_db_prep(&c->db, &st, "SELECT name, role, zones, pwhash FROM users WHERE "
			"name = ?", "cannot look up a user") < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		rc = -EIO;
		goto refund;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 3);

		j->found = 1;
		snprintf(hash, sizeof(hash), "%s", h ? h : "");
		principal_from_row(&j->who, st, 0);
	}
	sqlite3_finalize(st);
	/* An unknown name is checked against a dummy hash: same time, same answer. */
	rc = pwv_submit(a->pwv, j->found ? hash : NULL, password, login_checked, j);
	sodium_memzero(hash, sizeof(hash));
	if (rc == -EBUSY) {
		snprintf(err, errlen, "the controller is busy checking other logins: try again "
			 "in a second");
		log_warnx("login of %s from %s refused: %d password checks already queued", name,
			  peer, PWV_QUEUE);
		goto refund;
	}
	if (rc < 0) {
		snprintf(err, errlen, "wrong user name or password");
		rc = -EACCES;
		goto fail; /* charged: a password that long is no honest mistake */
	}
	return 0;
refund:
	ll_refund(&a->names, j->name, j->name_shared, now);
	ll_refund(&a->peers, j->peer_id, j->peer_shared, now);
fail:
	sodium_memzero(j, sizeof(*j));
	free(j);
	return rc;
}

struct sync_login {
	int done, rc;
	json_t *reply;
	char err[256];
};

static void sync_login_cb(struct ctl *c, void *ctx, int rc, json_t *reply, const char *err)
{
	struct sync_login *s = ctx;

	(void)c;
	s->done = 1;
	s->rc = rc;
	s->reply = reply;
	snprintf(s->err, sizeof(s->err), "%s", err ? err : "");
}

int ctl_auth_login(struct ctl *c, const char *name, const char *password,
		   const char *peer, json_t **reply, char *err, size_t errlen)
{
	struct sync_login s = { 0 };
	struct pollfd pfd;
	int rc;

	*reply = NULL;
	rc = ctl_auth_login_start(c, name, password, peer, peer, sync_login_cb, &s, err, errlen);
	if (rc < 0)
		return rc;
	while (!s.done && ctl_auth_pollfd(c, &pfd) == 1) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		ctl_auth_handle(c, &pfd);
	}
	snprintf(err, errlen, "%s", s.err);
	*reply = s.reply;
	return s.rc;
}

/* The token out of "Bearer <64 hex>"; NULL when absent or malformed. */
static const char *bearer_token(const char *authorization)
{
	const char *t;
	size_t i;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	t = authorization + 7;
	while (*t == ' ')
		t++;
	for (i = 0; t[i]; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return NULL;
	return i == AUTH_TOKEN_HEX ? t : NULL;
}

int ctl_auth_logout(struct ctl_db *db, const char *authorization)
{
	char thash[crypto_hash_sha256_BYTES * 2 + 1];
	const char *t = bearer_token(authorization);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!t)
		return -EACCES;
	hash_token_hex(t, thash);
	if (ctl_db_prep(db, &st, "DELETE FROM tokens WHERE hash = ?", "cannot log out") < 0)
		return -EIO;
	sqlite3_bind_text(st, 1, thash, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ctl_db_fail(db, "cannot log out");
	sqlite3_finalize(st);
	return rc;
}

int ctl_auth_request(struct ctl_db *db, const char *authorization,
		     struct ctl_principal *who, char *err, size_t errlen)
{
	char thash[crypto_hash_sha256_BYTES * 2 + 1];
	const char *t = bearer_token(authorization);
	sqlite3_stmt *st = NULL;
	int64_t expires = 0;
	int rc = -EACCES;

	who->authenticated = 0;
	if (!t) {
		snprintf(err, errlen, authorization ? "the Authorization header is not "
			 "\"Bearer <token>\"" : "no token: log in first (loaxa login NAME)");
		return -EACCES;
	}
	hash_token_hex(t, thash);
	if (ctl_db_prep(db, &st, "SELECT u.name, u.role, u.zones, t.expires FROM tokens t "
			"JOIN users u ON u.name = t.user WHERE t.hash = ?", "cannot check a token") < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		return -EIO;
	}
	sqlite3_bind_text(st, 1, thash, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		expires = sqlite3_column_int64(st, 3);
		rc = principal_from_row(who, st, 0);
	}
	sqlite3_finalize(st);
	if (rc < 0) {
		snprintf(err, errlen, "the token is not valid (revoked, or its user was "
			 "deleted): log in again");
		return -EACCES;
	}
	if (expires <= now_ms()) {
		who->authenticated = 0;
		snprintf(err, errlen, "the token expired: log in again");
		return -EACCES;
	}
	return 0;
}

/* ------------------------------------------------------------ permissions */

/*
 * What each endpoint needs. The first matching row wins; a path ending in
 * '/' matches every path below it. Anything not listed needs PERM_READ for
 * GET and PERM_OPERATE for everything else, so a new endpoint is never open
 * to a read-only role by accident.
 */
static const struct {
	const char *method;
	const char *path;
	unsigned perm;
} route_perms[] = {
	{ "GET", "/v1/users", PERM_ADMIN },
	{ "POST", "/v1/users", PERM_ADMIN },
	{ "DELETE", "/v1/users/", PERM_ADMIN },
	{ "GET", "/v1/audit", PERM_ADMIN },
	{ "POST", "/v1/provision/", PERM_ADMIN },
	{ "GET", "/v1/provision/", PERM_ADMIN },
	{ "POST", "/v1/keys/", PERM_ADMIN },
	{ "POST", "/v1/logout", PERM_READ },
	{ "POST", "/v1/maintenance/", PERM_MAINTAIN },
	{ "POST", "/v1/nodes/", PERM_MAINTAIN },     /* healthapi.c: volume, restart... */
	{ "POST", "/v1/node-update", PERM_ADMIN },    /* nodeupdate.c: installs software */
	{ "POST", "/v1/reviews/", PERM_APPROVE },        /* approval.c */
	/* POST /v1/schedule/apply: an operator's is a draft (approval.h); deciding a
	 * draft (/v1/drafts/ID/approve, /reject) needs PERM_APPROVE, checked there */
};

unsigned ctl_auth_route_perm(const char *method, const char *url)
{
	size_t i, n;

	for (i = 0; i < ARRAY_SIZE(route_perms); i++) {
		if (strcmp(method, route_perms[i].method) != 0)
			continue;
		n = strlen(route_perms[i].path);
		if (route_perms[i].path[n - 1] == '/' ? strncmp(url, route_perms[i].path, n) == 0
						       : strcmp(url, route_perms[i].path) == 0)
			return route_perms[i].perm;
	}
	return strcmp(method, "GET") == 0 ? PERM_READ : PERM_OPERATE;
}

static const char *perm_name(unsigned perm)
{
	switch (perm) {
	case PERM_READ: return "read";
	case PERM_OPERATE: return "operate (import, broadcast)";
	case PERM_APPROVE: return "approve (drafts, emergency, reviews)";
	case PERM_MAINTAIN: return "maintenance";
	case PERM_ADMIN: return "administer";
	}
	return "?";
}

int ctl_auth_require(const struct ctl_principal *who, unsigned perm, char *err,
		     size_t errlen)
{
	if (who->authenticated && (who->perms & perm) == perm)
		return 0;
	snprintf(err, errlen, "%s (role %s) may not %s", who->user, who->role,
		 perm_name(perm));
	return -EPERM;
}

int ctl_auth_zone_allowed(const struct ctl_principal *who, const char *zone)
{
	size_t i;

	if (who->all_zones)
		return 1;
	for (i = 0; i < who->nzones; i++)
		if (strcmp(who->zones[i], zone) == 0)
			return 1;
	return 0;
}

void ctl_auth_scope_text(const struct ctl_principal *who, char *out, size_t outlen)
{
	size_t i, off = 0;

	out[0] = '\0';
	if (who->all_zones) {
		snprintf(out, outlen, "*");
		return;
	}
	for (i = 0; i < who->nzones && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? ", " : "",
					who->zones[i]);
}

int ctl_auth_check_target(struct ctl_db *db, const struct ctl_principal *who,
			  const char *zone, const char *node, int all, const char *level,
			  char *err, size_t errlen)
{
	char scope[256];
	sqlite3_stmt *st = NULL;
	int rc = 0;

	if (level && strcmp(level, "emergency") == 0 &&
	    ctl_auth_require(who, PERM_APPROVE, err, errlen) < 0) {
		snprintf(err, errlen, "%s (role %s) may not broadcast at level emergency "
			 "(approver or admin only)", who->user, who->role);
		return -EPERM;
	}
	if (who->all_zones)
		return 0;
	ctl_auth_scope_text(who, scope, sizeof(scope));
	if (all) {
		snprintf(err, errlen, "%s may act only on zones %s, not on every node",
			 who->user, scope);
		return -EPERM;
	}
	if (zone && zone[0]) {
		if (ctl_auth_zone_allowed(who, zone))
			return 0;
		snprintf(err, errlen, "%s may act only on zones %s, not on zone %s", who->user,
			 scope, zone);
		return -EPERM;
	}
	if (!node || !node[0])
		return 0;
	/* A node: every zone it is in must be in scope (it would play for all). */
	if (ctl_db_prep(db, &st, "SELECT zone FROM node_zones WHERE node = ?",
			"cannot look up a node's zones") < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		return -EIO;
	}
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *z = (const char *)sqlite3_column_text(st, 0);

		if (!z || !ctl_auth_zone_allowed(who, z)) {
			snprintf(err, errlen, "%s may act only on zones %s; node %s is in zone %s",
				 who->user, scope, node, z ? z : "?");
			rc = -EPERM;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl_auth_check_stored(struct ctl_db *db, const struct ctl_principal *who,
			  const char *kind, const char *target, char *err, size_t errlen)
{
	int all = kind && strcmp(kind, "all") == 0;

	return ctl_auth_check_target(db, who, kind && strcmp(kind, "zone") == 0 ? target : NULL,
				     kind && strcmp(kind, "node") == 0 ? target : NULL, all, NULL,
				     err, errlen);
}

int ctl_auth_topic_target(const char *root, const char *topic, char *kind, size_t kindlen,
			  char *name, size_t namelen)
{
	size_t rl = strlen(root), kl, nl;
	const char *p, *e;

	if (strncmp(topic, root, rl) != 0 || topic[rl] != '/')
		return -EINVAL;
	p = topic + rl + 1;
	e = strchr(p, '/');
	if (!e)
		return -EINVAL;
	kl = (size_t)(e - p);
	p = e + 1;
	e = strchr(p, '/');
	nl = e ? (size_t)(e - p) : strlen(p);
	if (nl == 0 || nl >= namelen || kl >= kindlen ||
	    !((kl == 4 && strncmp(topic + rl + 1, "zone", 4) == 0) ||
	      (kl == 4 && strncmp(topic + rl + 1, "node", 4) == 0)))
		return -EINVAL;
	memcpy(name, p, nl);
	name[nl] = '\0';
	memcpy(kind, topic + rl + 1, kl);
	kind[kl] = '\0';
	if (strcmp(kind, "zone") == 0 && strcmp(name, "all") == 0)
		snprintf(kind, kindlen, "all");
	return 0;
}

/* The nodes of which at least one zone is in who's scope, as a JSON object used as a set. */
static json_t *visible_nodes(struct ctl_db *db, const struct ctl_principal *who)
{
	sqlite3_stmt *st = NULL;
	json_t *set = json_object();

	if (!set)
		return NULL;
	if (ctl_db_prep(db, &st, "SELECT node, zone FROM node_zones",
			"cannot look up the nodes' zones") < 0) {
		json_decref(set);
		return NULL;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		const char *z = (const char *)sqlite3_column_text(st, 1);

		if (n && z && ctl_auth_zone_allowed(who, z))
			json_object_set_new(set, n, json_true());
	}
	sqlite3_finalize(st);
	return set;
}

int ctl_auth_node_visible(struct ctl_db *db, const struct ctl_principal *who,
			  const char *node)
{
	json_t *set;
	int yes;

	if (who->all_zones)
		return 1;
	set = visible_nodes(db, who);
	yes = set && json_object_get(set, node) != NULL;
	json_decref(set);
	return yes;
}

int ctl_auth_scope_json(const struct ctl_principal *who, char **out)
{
	json_t *arr;
	size_t i;

	*out = NULL;
	if (who->all_zones)
		return 0;
	arr = json_array();
	for (i = 0; arr && i < who->nzones; i++)
		json_array_append_new(arr, json_string(who->zones[i]));
	*out = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return *out ? 0 : -ENOMEM;
}

int ctl_auth_filter_nodes(struct ctl_db *db, const struct ctl_principal *who, json_t *arr,
			  const char *key)
{
	json_t *set;
	size_t i;

	if (who->all_zones || !arr)
		return 0;
	set = visible_nodes(db, who);
	if (!set)
		return -EIO;
	for (i = json_array_size(arr); i-- > 0;) {
		const char *n = json_string_value(json_object_get(json_array_get(arr, i), key));

		if (!n || !json_object_get(set, n))
			json_array_remove(arr, i);
	}
	json_decref(set);
	return 0;
}

/* ------------------------------------------------------------ audit */

/*
 * Requests without a valid token cost nothing to send, and each would be a
 * database write: beyond AUDIT_ANON_PER_S a second they are counted, not
 * written one by one; the count goes into the log and into the next row.
 */
#define AUDIT_ANON_PER_S 20

void ctl_auth_audit(struct ctl_db *db, const struct ctl_principal *who,
		    const char *action, const char *target, unsigned status,
		    const char *detail)
{
	static int64_t anon_second;
	static unsigned anon_count, anon_skipped;
	char more[256];
	sqlite3_stmt *st = NULL;
	const char *result = status < 300 ? "allowed" : status == 401 || status == 403 ||
							   status == 429 ? "refused" : "failed";

	if (status == 401 && !who->authenticated) {
		int64_t sec = mono_ms() / 1000;

		if (sec != anon_second) {
			anon_second = sec;
			anon_count = 0;
		}
		if (++anon_count > AUDIT_ANON_PER_S) {
			if (anon_skipped++ % 1000 == 0)
				log_warnx("audit: more than %d unauthenticated requests a second: "
					  "counted, not recorded one by one (from %s)",
					  AUDIT_ANON_PER_S, who->peer);
			return;
		}
	}
	if (anon_skipped && anon_count <= AUDIT_ANON_PER_S) {
		snprintf(more, sizeof(more), "%s%s(%u unauthenticated requests before this one "
			 "were not recorded one by one)", detail ? detail : "",
			 detail && detail[0] ? " " : "", anon_skipped);
		detail = more;
		anon_skipped = 0;
	}
	if (ctl_db_prep(db, &st, "INSERT INTO audit (ts, user, role, peer, action, target, "
			"result, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			"cannot write the audit log") < 0) {
		return;
	}
	sqlite3_bind_int64(st, 1, now_ms());
	sqlite3_bind_text(st, 2, who->user[0] ? who->user : "-", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, who->role[0] ? who->role : "-", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, who->peer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, target ? target : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 7, result, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 8, (int)status);
	sqlite3_bind_text(st, 9, detail ? detail : "", -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		ctl_db_fail(db, "cannot write the audit log");
	sqlite3_finalize(st);
	log_info("audit: %s (%s) from %s: %s %s: %s %u%s%s", who->user[0] ? who->user : "-",
		 who->role[0] ? who->role : "-", who->peer, action, target ? target : "", result,
		 status, detail && detail[0] ? ": " : "", detail ? detail : "");
}

json_t *ctl_auth_audit_json(struct ctl_db *db, int limit, const char *user)
{
	sqlite3_stmt *st = NULL;
	json_t *list = json_array();

	if (!list)
		return NULL;
	if (ctl_db_prep(db, &st, "SELECT id, ts, user, role, peer, action, target, result, "
			"status, detail FROM audit WHERE (?1 IS NULL OR user = ?1) "
			"ORDER BY id DESC LIMIT ?2", "cannot read the audit log") < 0) {
		json_decref(list);
		return NULL;
	}
	if (user)
		sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, limit);
	while (sqlite3_step(st) == SQLITE_ROW) {
#define COL(i) ((const char *)sqlite3_column_text(st, i) ? (const char *)sqlite3_column_text(st, i) : "")
		json_array_append_new(list, json_pack(
			"{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s}",
			"id", (json_int_t)sqlite3_column_int64(st, 0),
			"ts", (json_int_t)sqlite3_column_int64(st, 1),
			"user", COL(2), "role", COL(3), "from", COL(4), "action", COL(5),
			"target", COL(6), "result", COL(7), "status", sqlite3_column_int(st, 8),
			"detail", COL(9)));
#undef COL
	}
	sqlite3_finalize(st);
	return list;
}

void ctl_auth_peer_of_fd(int fd, char *out, size_t outlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		snprintf(out, outlen, "unknown peer");
		return;
	}
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, outlen, "uid %u (%.32s) pid %d", (unsigned)cred.uid, pw.pw_name,
			 (int)cred.pid);
	else
		snprintf(out, outlen, "uid %u pid %d", (unsigned)cred.uid, (int)cred.pid);
}

void ctl_auth_peer_id_of_fd(int fd, char *out, size_t outlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		snprintf(out, outlen, "unknown peer");
	else
		snprintf(out, outlen, "uid %u", (unsigned)cred.uid);
}

/* ------------------------------------------------------------ bootstrap */

int ctl_auth_add_admin_cli(struct ctl_db *db, const char *name, const char *path)
{
	char pw[AUTH_PASSWORD_MAX + 2], err[256];
	struct ctl_principal who;
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	size_t n;
	int rc;

	if (!f) {
		log_warn("--password-file %s", path);
		return 1;
	}
	if (!fgets(pw, sizeof(pw), f)) {
		log_errorx("--add-admin: no password on %s (give it as the first line)",
			   f == stdin ? "standard input" : path);
		if (f != stdin)
			fclose(f);
		return 1;
	}
	if (f != stdin)
		fclose(f);
	n = strlen(pw);
	while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		pw[--n] = '\0';
	rc = ctl_auth_user_add(db, name, pw, "admin", NULL, err, sizeof(err));
	sodium_memzero(pw, sizeof(pw));
	if (rc < 0) {
		log_errorx("--add-admin %s: %s", name, err);
		return rc == -EEXIST ? 3 : 1;
	}
	memset(&who, 0, sizeof(who));
	snprintf(who.user, sizeof(who.user), "-");
	snprintf(who.role, sizeof(who.role), "local");
	snprintf(who.peer, sizeof(who.peer), "loaxa-controller --add-admin (uid %u)",
		 (unsigned)getuid());
	ctl_auth_audit(db, &who, "add-admin", name, 201, "first administrator, created "
		       "locally");
	printf("administrator %s added\n", name);
	return 0;
}
