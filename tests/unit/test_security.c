/*
 * test_security.c - the controller's security pieces without a broker:
 *   - the Mosquitto password hash equals what mosquitto_passwd writes for
 *     the same salt (so the broker accepts what provisioning makes);
 *   - users: roles, zones, bad input; Argon2id hashes stored, not passwords;
 *   - tokens: a login token works, a made-up, expired or deleted one does
 *     not; only its SHA-256 is in the database;
 *   - permissions: each role against each kind of endpoint; zone scope for
 *     zone, node and all targets; emergency needs an approver;
 *   - login rate limits: per user after 5 failures, and per second overall;
 *   - the login throttle tables (loginlimit.h): 10000 invented names do not
 *     reset a real user's lockout; per peer; refunds;
 *   - a login's Argon2id check runs off the caller (pwverify.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "auth.h"
#include "ctl.h"
#include "log.h"
#include "loginlimit.h"
#include "mosqpw.h"
#include "pwverify.h"
#include "ratelimit.h"
#include "tap.h"
#include "util.h"

static char dir[64];
static struct ctl c;

/* The hash mosquitto_passwd makes, recomputed from its own salt. */
static void test_mosquitto_hash(void)
{
	char path[128], cmd[256], line[512], mine[MOSQ_PW_HASH_MAX];
	uint8_t salt[32];
	size_t saltlen = 0;
	char *p, *end;
	FILE *f;

	snprintf(path, sizeof(path), "%s/passwd", dir);
	fclose(fopen(path, "w"));
	snprintf(cmd, sizeof(cmd), "mosquitto_passwd -b %s n1 'S3cret pass' 2>/dev/null", path);
	CHECK(system(cmd) == 0, "mosquitto_passwd -b makes an entry");
	f = fopen(path, "r");
	line[0] = '\0';
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	/* n1:$7$101$<salt>$<hash> */
	p = strstr(line, "$7$101$");
	CHECK(p != NULL, "mosquitto_passwd wrote a $7$101$ (PBKDF2-SHA512) line: %s", line);
	if (!p)
		return;
	p += 7;
	end = strchr(p, '$');
	if (end) {
		*end = '\0';
		sodium_base642bin(salt, sizeof(salt), p, strlen(p), NULL, &saltlen, NULL,
				  sodium_base64_VARIANT_ORIGINAL);
		*end = '$';
	}
	CHECK(saltlen == 12, "its salt is 12 bytes (got %zu)", saltlen);
	CHECK(mosq_password_hash_salt("S3cret pass", salt, saltlen, mine) == 0 &&
	      strcmp(mine, strchr(line, ':') + 1) == 0,
	      "our PBKDF2-SHA512 hash equals mosquitto_passwd's for the same salt");
	CHECK(mosq_password_hash_salt("S3cret pasS", salt, saltlen, mine) == 0 &&
	      strcmp(mine, strchr(line, ':') + 1) != 0, "a different password hashes differently");
	CHECK(mosq_password_hash("x", mine) == 0 && strncmp(mine, "$7$101$", 7) == 0,
	      "a fresh hash has the $7$101$ form");
	{
		char a[64], b[64];

		mosq_password_random(a, sizeof(a));
		mosq_password_random(b, sizeof(b));
		CHECK(strlen(a) == 32 && strcmp(a, b) != 0, "random passwords: 32 characters, "
		      "different each time");
	}
}

static int count_rows(const char *sql)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(c.db.h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void test_users(void)
{
	char err[256];
	json_t *z = json_pack("[s]", "thon-1");

	CHECK(ctl_auth_user_add(&c.db, "op1", "password-1", "operator", z, err, sizeof(err)) == 0,
	      "add operator op1 in thon-1");
	CHECK(ctl_auth_user_add(&c.db, "op1", "password-1", "operator", z, err, sizeof(err)) ==
	      -EEXIST, "op1 twice: -EEXIST (%s)", err);
	CHECK(ctl_auth_user_add(&c.db, "x", "password-1", "root", z, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "unknown role"), "an unknown role is refused (%s)", err);
	CHECK(ctl_auth_user_add(&c.db, "x", "short", "admin", NULL, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "8 to"), "a short password is refused (%s)", err);
	CHECK(ctl_auth_user_add(&c.db, "Bad Name", "password-1", "admin", NULL, err,
				sizeof(err)) == -EINVAL, "a bad user name is refused (%s)", err);
	json_decref(z);
	z = json_pack("[s]", "THON");
	CHECK(ctl_auth_user_add(&c.db, "x", "password-1", "admin", z, err, sizeof(err)) == -EINVAL,
	      "a bad zone name is refused (%s)", err);
	json_decref(z);
	z = json_array();
	CHECK(ctl_auth_user_add(&c.db, "x", "password-1", "admin", z, err, sizeof(err)) == -EINVAL,
	      "an empty zone list is refused (%s)", err);
	json_decref(z);
	CHECK(ctl_auth_user_add(&c.db, "adm", "password-2", "admin", NULL, err, sizeof(err)) == 0,
	      "add admin adm (every zone)");
	CHECK(ctl_auth_user_add(&c.db, "apr", "password-3", "approver", NULL, err,
				sizeof(err)) == 0, "add approver apr");
	CHECK(ctl_auth_user_add(&c.db, "mt", "password-4", "maintenance", NULL, err,
				sizeof(err)) == 0, "add maintenance mt");
	CHECK(count_rows("SELECT count(*) FROM users WHERE pwhash LIKE '$argon2id$%'") == 4,
	      "all four passwords are stored as Argon2id hashes");
	CHECK(count_rows("SELECT count(*) FROM users WHERE pwhash LIKE '%password%'") == 0,
	      "no password is stored in clear");
	CHECK(ctl_auth_user_count(&c.db) == 4, "4 users");
}

static int login(const char *user, const char *pw, char *token, char *err, size_t errlen)
{
	json_t *reply = NULL;
	int rc = ctl_auth_login(&c, user, pw, "test", &reply, err, errlen);

	if (rc == 0)
		snprintf(token, AUTH_TOKEN_HEX + 8, "Bearer %s",
			 json_string_value(json_object_get(reply, "token")));
	json_decref(reply);
	return rc;
}

static void wait_next_second(void)
{
	usleep(1100 * 1000); /* the global budget is per second */
}

static void test_tokens_and_perms(void)
{
	char tok[AUTH_TOKEN_HEX + 8], tok_apr[AUTH_TOKEN_HEX + 8], err[256], hash[65];
	struct ctl_principal who;
	uint8_t h[32];

	memset(&who, 0, sizeof(who));
	CHECK(login("op1", "password-1", tok, err, sizeof(err)) == 0, "op1 logs in");
	CHECK(ctl_auth_request(&c.db, tok, &who, err, sizeof(err)) == 0 &&
	      strcmp(who.user, "op1") == 0 && strcmp(who.role, "operator") == 0 &&
	      who.nzones == 1 && !who.all_zones, "its token authenticates op1, operator, 1 zone");
	crypto_hash_sha256(h, (const uint8_t *)tok + 7, AUTH_TOKEN_HEX);
	hex_encode(hash, h, 32);
	{
		char q[200];

		snprintf(q, sizeof(q), "SELECT count(*) FROM tokens WHERE hash = '%s'", hash);
		CHECK(count_rows(q) == 1, "the database holds the token's SHA-256");
		snprintf(q, sizeof(q), "SELECT count(*) FROM tokens WHERE hash = '%s'", tok + 7);
		CHECK(count_rows(q) == 0, "... and not the token itself");
	}
	CHECK(ctl_auth_request(&c.db, NULL, &who, err, sizeof(err)) == -EACCES &&
	      strstr(err, "log in"), "no header: refused (%s)", err);
	CHECK(ctl_auth_request(&c.db, "Bearer 1234", &who, err, sizeof(err)) == -EACCES,
	      "a short token: refused");
	CHECK(ctl_auth_request(&c.db, "Basic b3AxOnBhc3N3b3JkLTE=", &who, err, sizeof(err)) ==
	      -EACCES, "basic auth: refused (%s)", err);
	{
		char made_up[AUTH_TOKEN_HEX + 8] = "Bearer ";

		memset(made_up + 7, 'a', AUTH_TOKEN_HEX);
		made_up[7 + AUTH_TOKEN_HEX] = '\0';
		CHECK(ctl_auth_request(&c.db, made_up, &who, err, sizeof(err)) == -EACCES &&
		      strstr(err, "not valid"), "a made-up token: refused (%s)", err);
	}
	sqlite3_exec(c.db.h, "UPDATE tokens SET expires = 1", NULL, NULL, NULL);
	CHECK(ctl_auth_request(&c.db, tok, &who, err, sizeof(err)) == -EACCES &&
	      strstr(err, "expired"), "an expired token: refused (%s)", err);

	/* permissions of each role */
	CHECK(login("op1", "password-1", tok, err, sizeof(err)) == 0, "op1 logs in again");
	ctl_auth_request(&c.db, tok, &who, err, sizeof(err));
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("GET", "/v1/nodes"), err, sizeof(err)) == 0,
	      "operator may GET /v1/nodes");
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("POST", "/v1/broadcasts"), err,
			       sizeof(err)) == 0, "operator may POST /v1/broadcasts");
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("POST", "/v1/users"), err,
			       sizeof(err)) == -EPERM, "operator may not POST /v1/users (%s)", err);
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("POST", "/v1/keys/rotate"), err,
			       sizeof(err)) == -EPERM, "operator may not rotate keys");
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("POST", "/v1/some-new-thing"), err,
			       sizeof(err)) == 0, "an unlisted POST needs operate");
	CHECK(ctl_auth_check_target(&c.db, &who, "thon-1", NULL, 0, "normal", err, sizeof(err)) == 0,
	      "operator of thon-1 -> zone thon-1: allowed");
	CHECK(ctl_auth_check_target(&c.db, &who, "thon-2", NULL, 0, "normal", err, sizeof(err)) ==
	      -EPERM, "operator of thon-1 -> zone thon-2: refused (%s)", err);
	CHECK(ctl_auth_check_target(&c.db, &who, NULL, NULL, 1, "normal", err, sizeof(err)) ==
	      -EPERM, "operator of thon-1 -> all: refused (%s)", err);
	CHECK(ctl_auth_check_target(&c.db, &who, "thon-1", NULL, 0, "emergency", err,
				    sizeof(err)) == -EPERM, "operator -> emergency: refused (%s)", err);
	sqlite3_exec(c.db.h, "INSERT INTO nodes (id, first_seen) VALUES ('n1', 0), ('n3', 0);"
		     "INSERT INTO node_zones VALUES ('n1', 'thon-1', 0), ('n3', 'thon-1', 0), "
		     "('n3', 'thon-2', 1)", NULL, NULL, NULL);
	CHECK(ctl_auth_check_target(&c.db, &who, NULL, "n1", 0, "normal", err, sizeof(err)) == 0,
	      "operator of thon-1 -> node n1 (thon-1): allowed");
	CHECK(ctl_auth_check_target(&c.db, &who, NULL, "n3", 0, "normal", err, sizeof(err)) ==
	      -EPERM, "operator of thon-1 -> node n3 (thon-1 and thon-2): refused (%s)", err);

	wait_next_second();
	CHECK(login("apr", "password-3", tok_apr, err, sizeof(err)) == 0, "apr logs in");
	ctl_auth_request(&c.db, tok_apr, &who, err, sizeof(err));
	CHECK(ctl_auth_check_target(&c.db, &who, NULL, NULL, 1, "emergency", err, sizeof(err)) == 0,
	      "approver of every zone -> all, emergency: allowed");
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("GET", "/v1/audit"), err, sizeof(err)) ==
	      -EPERM, "approver may not read the audit log");
	CHECK(login("mt", "password-4", tok, err, sizeof(err)) == 0, "mt logs in");
	ctl_auth_request(&c.db, tok, &who, err, sizeof(err));
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("POST", "/v1/content"), err,
			       sizeof(err)) == -EPERM, "maintenance may not import (%s)", err);
	CHECK(ctl_auth_require(&who, ctl_auth_route_perm("POST", "/v1/maintenance/restart"), err,
			       sizeof(err)) == 0, "maintenance may use /v1/maintenance/");

	/* deleting a user kills its tokens */
	CHECK(ctl_auth_user_del(&c.db, "apr") == 0, "delete apr");
	CHECK(ctl_auth_request(&c.db, tok_apr, &who, err, sizeof(err)) == -EACCES,
	      "apr's token no longer works (%s)", err);
	CHECK(ctl_auth_user_del(&c.db, "apr") == -ENOENT, "deleting apr again: -ENOENT");
	CHECK(ctl_auth_logout(&c.db, tok) == 0 &&
	      ctl_auth_request(&c.db, tok, &who, err, sizeof(err)) == -EACCES,
	      "after logout mt's token no longer works");
}

static int budget_pending;

static void budget_cb(struct ctl *cc, void *ctx, int rc, json_t *reply, const char *err)
{
	(void)cc;
	(void)err;
	*(int *)ctx = rc;
	budget_pending--;
	json_decref(reply);
}

/* Let the worker finish every login started (ctl_auth_login_start). */
static void drain_logins(int *pending)
{
	struct pollfd pfd;

	while (*pending > 0 && ctl_auth_pollfd(&c, &pfd) == 1 && poll(&pfd, 1, 10000) > 0)
		ctl_auth_handle(&c, &pfd);
}

static void test_rate_limits(void)
{
	char tok[AUTH_TOKEN_HEX + 8], err[256];
	int i, rc;

	wait_next_second();
	/* Names that are not names fail at once (no Argon2, no budget used). */
	for (i = 0; i < 10; i++)
		rc = login("Not A Name", "wrong-password", tok, err, sizeof(err));
	CHECK(rc == -EACCES, "a name that cannot exist: refused at once (%s)", err);
	/* Global budget: AUTH_LOGIN_PER_S checks per second, whoever asks; the
	 * logins are started together (the checks run in the worker). */
	{
		static int codes[AUTH_LOGIN_PER_S + 1];
		char n[32];

		for (i = 0, rc = 0; i <= AUTH_LOGIN_PER_S && rc != -EAGAIN; i++) {
			snprintf(n, sizeof(n), "budget-%d", i);
			rc = ctl_auth_login_start(&c, n, "wrong-password", "test", "test",
						  budget_cb, &codes[i], err, sizeof(err));
			budget_pending += rc == 0;
		}
		CHECK(rc == -EAGAIN && i == AUTH_LOGIN_PER_S + 1 && strstr(err, "at once"),
		      "login number %d within a second is refused (%s)", AUTH_LOGIN_PER_S + 1,
		      err);
		drain_logins(&budget_pending);
	}
	wait_next_second();
	for (i = 0; i < AUTH_MAX_FAILURES; i++) {
		if (i && i % AUTH_LOGIN_PER_S == 0)
			wait_next_second();
		rc = login("op1", "wrong-password", tok, err, sizeof(err));
	}
	CHECK(rc == -EACCES && strcmp(err, "wrong user name or password") == 0,
	      "a wrong password: -EACCES (%s)", err);
	wait_next_second();
	rc = login("op1", "password-1", tok, err, sizeof(err));
	CHECK(rc == -EAGAIN && strstr(err, "too many wrong passwords"),
	      "after %d wrong passwords the right one is refused too (%s)", AUTH_MAX_FAILURES, err);
	rc = login("adm", "password-2", tok, err, sizeof(err));
	CHECK(rc == 0, "another user is not locked");
	rc = login("no-such-user", "password-2", tok, err, sizeof(err));
	CHECK(rc == -EACCES && strcmp(err, "wrong user name or password") == 0,
	      "an unknown user gets the same answer as a wrong password");
}

/* issue 14 point 5: the tables behind the login throttles */
static void test_login_tables(void)
{
	static struct ll_table t;
	char name[32];
	int64_t now = 1000000, retry = 0;
	int i, shared = 0, refused = 0, in_overflow = 0;

	ll_init(&t, AUTH_MAX_FAILURES, AUTH_FAIL_WINDOW_S * 1000LL);
	for (i = 0; i < AUTH_MAX_FAILURES; i++)
		ll_charge(&t, "admin", now, NULL, NULL);
	CHECK(ll_charge(&t, "admin", now, &retry, &shared) == -EAGAIN && !shared &&
	      retry == AUTH_FAIL_WINDOW_S, "admin is locked after %d failures (retry in %lld s)",
	      AUTH_MAX_FAILURES, (long long)retry);
	/* the flood: 10000 invented names, each failing as often as it may */
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "invented-%d", i);
		while (ll_charge(&t, name, now + i, NULL, &shared) == 0)
			in_overflow += shared;
		refused++;
	}
	CHECK(refused == 10000 && in_overflow > 0,
	      "10000 invented names: each locked in the end, the latest ones in the shared "
	      "overflow entry (%d charges there)", in_overflow);
	CHECK(ll_count(&t, "admin", now + 10000) == AUTH_MAX_FAILURES &&
	      ll_charge(&t, "admin", now + 10000, NULL, &shared) == -EAGAIN && !shared,
	      "after the flood admin is still locked, in its own entry (%d failures)",
	      ll_count(&t, "admin", now + 10000));
	CHECK(ll_charge(&t, "somebody-new", now + 20000, NULL, &shared) == -EAGAIN && shared,
	      "a name that first fails while the table is full shares the flood's lock "
	      "(a denial for one window, not a reset)");
	now += AUTH_FAIL_WINDOW_S * 1000LL;
	CHECK(ll_charge(&t, "admin", now, NULL, &shared) == 0 && !shared,
	      "once its own window has passed admin may try again");
	ll_forgive(&t, "admin", shared, now);
	CHECK(ll_count(&t, "admin", now) == 0, "the right password forgives admin's failures");

	/* per peer: a success refunds its own charge only (no slate wiping by
	 * logging into one's own account) */
	ll_init(&t, AUTH_PEER_MAX_FAILURES, AUTH_FAIL_WINDOW_S * 1000LL);
	for (i = 0; i < AUTH_PEER_MAX_FAILURES - 1; i++)
		ll_charge(&t, "uid 1000", now, NULL, NULL);
	ll_charge(&t, "uid 1000", now, NULL, &shared);
	ll_refund(&t, "uid 1000", shared, now);
	CHECK(ll_count(&t, "uid 1000", now) == AUTH_PEER_MAX_FAILURES - 1,
	      "a successful login refunds only its own charge (%d left)",
	      ll_count(&t, "uid 1000", now));
	ll_charge(&t, "uid 1000", now, NULL, NULL);
	CHECK(ll_charge(&t, "uid 1000", now, NULL, NULL) == -EAGAIN,
	      "uid 1000 is throttled after %d failed logins", AUTH_PEER_MAX_FAILURES);
	CHECK(ll_charge(&t, "uid 1001", now, NULL, NULL) == 0, "another peer is not");
}

struct async_login {
	int done, rc;
	int64_t at_ms;
};

static void async_cb(struct ctl *cc, void *ctx, int rc, json_t *reply, const char *err)
{
	struct async_login *a = ctx;

	(void)cc;
	(void)err;
	a->done = 1;
	a->rc = rc;
	a->at_ms = mono_ms();
	json_decref(reply);
}

/* issue 14 point 5: the Argon2id check is not done by the caller (the loop) */
static void test_login_async(void)
{
	struct async_login a[3];
	struct pollfd pfd;
	char err[256];
	int64_t t0, took;
	int i, started = 0, done;

	memset(a, 0, sizeof(a));
	usleep(1100 * 1000); /* a fresh second of the global budget */
	t0 = mono_ms();
	for (i = 0; i < 3; i++)
		started += ctl_auth_login_start(&c, i == 2 ? "adm" : "nobody", i == 2 ?
						"password-2" : "wrong-password", "test",
						"uid 4242", async_cb, &a[i], err, sizeof(err)) == 0;
	took = mono_ms() - t0;
	CHECK(started == 3, "3 logins started");
	for (done = 0; done < 3;) {
		if (ctl_auth_pollfd(&c, &pfd) != 1 || poll(&pfd, 1, 10000) <= 0)
			break;
		ctl_auth_handle(&c, &pfd);
		for (i = 0, done = 0; i < 3; i++)
			done += a[i].done;
	}
	CHECK(done == 3 && a[0].rc == -EACCES && a[1].rc == -EACCES && a[2].rc == 0,
	      "the worker answered all three: wrong, wrong, right (after %lld ms)",
	      (long long)(a[2].at_ms - t0));
	/* Starting them took less than one check does, measured in the same run
	 * (a loaded machine slows both): the caller did not check any. */
	CHECK(took * 3 < a[2].at_ms - t0, "starting the 3 logins took %lld ms, less than one "
	      "Argon2id check (%lld ms each): none was checked in the caller", (long long)took,
	      (long long)(a[2].at_ms - t0) / 3);
}

static int pwv_reported, pwv_matched, pwv_cancelled;

static void pwv_cb(struct ctl *cc, void *ctx, int ok)
{
	(void)cc;
	(void)ctx;
	pwv_reported++;
	pwv_matched += ok == 1;
	pwv_cancelled += ok == -ECANCELED;
}

/* The worker's queue is bounded: the login past it is refused at once. */
static void test_pwverify_queue(void)
{
	char cheap[crypto_pwhash_STRBYTES];
	struct pwv *p = NULL;
	int i, busy = 0, queued = 0;

	/* the cheapest parameters: the checks themselves are not the point */
	CHECK(crypto_pwhash_str(cheap, "right-password", 14, crypto_pwhash_OPSLIMIT_MIN,
				crypto_pwhash_MEMLIMIT_MIN) == 0, "a cheap Argon2id hash");
	CHECK(pwv_start(&p) == 0, "the worker starts");
	for (i = 0; i < PWV_QUEUE + 1; i++) {
		int rc = pwv_submit(p, cheap, i ? "wrong-password" : "right-password", pwv_cb,
				    NULL);

		queued += rc == 0;
		busy += rc == -EBUSY;
	}
	CHECK(queued == PWV_QUEUE && busy == 1, "%d checks queue, the next is refused at once "
	      "(-EBUSY: the API answers 503)", PWV_QUEUE);
	while (pwv_reported < PWV_QUEUE) {
		struct pollfd pfd;

		if (pwv_pollfd(p, &pfd) != 1 || poll(&pfd, 1, 10000) <= 0)
			break;
		pwv_handle(p, &c);
	}
	CHECK(pwv_reported == PWV_QUEUE && pwv_matched == 1 && pwv_cancelled == 0,
	      "every queued check is reported once, on the caller's thread (%d, %d matched)",
	      pwv_reported, pwv_matched);
	CHECK(pwv_submit(p, cheap, "x", pwv_cb, NULL) == 0, "then there is room again");
	pwv_stop(p, &c);
	CHECK(pwv_reported == PWV_QUEUE + 1, "stopping reports what was still queued");
}

static void test_ratelimit(void)
{
	int i, ok = 0;
	json_t *j;

	ctl_ratelimit_reset();
	for (i = 0; i < RL_STATUS_BURST + 10; i++)
		ok += ctl_ratelimit_inbound("n1", "status", 1000) == 0;
	CHECK(ok == RL_STATUS_BURST, "a burst of %d statuses: the first %d pass (%d did)",
	      RL_STATUS_BURST + 10, RL_STATUS_BURST, ok);
	CHECK(ctl_ratelimit_inbound("n2", "status", 1000) == 0,
	      "another node is not held back by n1's flood");
	CHECK(ctl_ratelimit_inbound("n1", "event", 1000) == 0,
	      "n1's events have their own budget");
	for (i = 0, ok = 0; i < 20; i++)
		ok += ctl_ratelimit_inbound("n1", "status", 2000) == 0;
	CHECK(ok == RL_STATUS_RATE, "one second later %d more pass (%d did)", RL_STATUS_RATE, ok);
	j = ctl_ratelimit_json();
	CHECK(json_integer_value(json_object_get(json_object_get(j, "n1"), "status")) == 25 &&
	      !json_object_get(j, "n2"), "the drops are counted per node and kind (n1 status 25)");
	json_decref(j);
	ctl_ratelimit_reset();
}

/* zone scope of stops and reads (issue 14, point 4) */
static void test_scope(void)
{
	struct ctl_principal who;
	char err[256], *zones = NULL, kind[8], name[CTL_NAME_MAX];
	json_t *arr;

	memset(&who, 0, sizeof(who));
	snprintf(who.user, sizeof(who.user), "lan");
	snprintf(who.role, sizeof(who.role), "operator");
	snprintf(who.zones[0], sizeof(who.zones[0]), "thon-1");
	who.nzones = 1;
	sqlite3_exec(c.db.h, "INSERT OR IGNORE INTO nodes (id, first_seen) VALUES ('n2', 0);"
		     "INSERT OR IGNORE INTO node_zones VALUES ('n2', 'thon-2', 0)", NULL, NULL,
		     NULL);
	CHECK(ctl_auth_node_visible(&c.db, &who, "n1") && ctl_auth_node_visible(&c.db, &who, "n3") &&
	      !ctl_auth_node_visible(&c.db, &who, "n2") &&
	      !ctl_auth_node_visible(&c.db, &who, "nobody"),
	      "thon-1 sees n1 (thon-1) and n3 (thon-1, thon-2), not n2 (thon-2) nor an unknown node");
	arr = json_pack("[{s:s}, {s:s}, {s:s}, {}]", "node", "n1", "node", "n2", "node", "n3");
	CHECK(ctl_auth_filter_nodes(&c.db, &who, arr, "node") == 0 && json_array_size(arr) == 2 &&
	      strcmp(json_string_value(json_object_get(json_array_get(arr, 1), "node")), "n3") == 0,
	      "a listing keeps n1 and n3, drops n2 and a row without a node");
	json_decref(arr);
	CHECK(ctl_auth_scope_json(&who, &zones) == 0 && zones &&
	      strcmp(zones, "[\"thon-1\"]") == 0, "scope for SQL: [\"thon-1\"]");
	free(zones);
	CHECK(ctl_auth_check_stored(&c.db, &who, "zone", "thon-1", err, sizeof(err)) == 0,
	      "stopping a thon-1 emergency: allowed");
	CHECK(ctl_auth_check_stored(&c.db, &who, "zone", "thon-2", err, sizeof(err)) == -EPERM &&
	      strstr(err, "thon-2") && strstr(err, "thon-1"),
	      "stopping a thon-2 emergency: refused, naming both zones (%s)", err);
	CHECK(ctl_auth_check_stored(&c.db, &who, "node", "n2", err, sizeof(err)) == -EPERM,
	      "stopping one on node n2: refused (%s)", err);
	CHECK(ctl_auth_check_stored(&c.db, &who, "all", "all", err, sizeof(err)) == -EPERM,
	      "stopping one on every node: refused (%s)", err);
	CHECK(ctl_auth_topic_target("loaxa/xa", "loaxa/xa/zone/thon-2/live", kind, sizeof(kind),
				    name, sizeof(name)) == 0 && strcmp(kind, "zone") == 0 &&
	      strcmp(name, "thon-2") == 0, "topic .../zone/thon-2/live is zone thon-2");
	CHECK(ctl_auth_topic_target("loaxa/xa", "loaxa/xa/zone/all/live", kind, sizeof(kind), name,
				    sizeof(name)) == 0 && strcmp(kind, "all") == 0,
	      "topic .../zone/all/live is every node");
	CHECK(ctl_auth_topic_target("loaxa/xa", "loaxa/xa/node/n2/live", kind, sizeof(kind), name,
				    sizeof(name)) == 0 && strcmp(kind, "node") == 0 &&
	      strcmp(name, "n2") == 0, "topic .../node/n2/live is node n2");
	CHECK(ctl_auth_topic_target("loaxa/xa", "loaxa/xb/zone/thon-1/live", kind, sizeof(kind),
				    name, sizeof(name)) == -EINVAL &&
	      ctl_auth_topic_target("loaxa/xa", "loaxa/xa/site/x/live", kind, sizeof(kind), name,
				    sizeof(name)) == -EINVAL,
	      "another site's topic or another kind: not understood (so refused)");
	who.all_zones = 1;
	CHECK(ctl_auth_check_stored(&c.db, &who, "all", "all", err, sizeof(err)) == 0 &&
	      ctl_auth_node_visible(&c.db, &who, "n2") &&
	      ctl_auth_scope_json(&who, &zones) == 0 && !zones,
	      "every zone (\"*\"): stops and sees everything, no SQL filter");
}

int main(void)
{
	char path[128];

	log_init("test_security", 0);
	if (sodium_init() < 0)
		return 1;
	snprintf(dir, sizeof(dir), "/tmp/loaxa-sec-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/loaxa.db", dir);
	CHECK(ctl_db_open(&c.db, path) == 0, "open a fresh database");
	c.cfg.auth.token_ttl_s = 3600;
	CHECK(ctl_auth_init(&c) == 0, "auth init");
	test_mosquitto_hash();
	test_users();
	test_tokens_and_perms();
	test_scope();
	test_rate_limits();
	test_login_tables();
	test_login_async();
	test_pwverify_queue();
	test_ratelimit();
	ctl_auth_free(&c);
	ctl_db_close(&c.db);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	TAP_EXIT();
}
