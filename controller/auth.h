/*
 * auth.h - operator accounts, API tokens, permissions and the audit log.
 *
 * Every API request but POST /v1/login carries "Authorization: Bearer
 * <token>". A token is 32 random bytes (64 hex digits) handed out by a
 * successful login; the database keeps only its SHA-256, so a copy of
 * loaxa.db does not let anyone act as an operator. Tokens expire
 * (auth.token_ttl_s, default 8 h) and die with their user.
 *
 * Passwords are hashed with libsodium's crypto_pwhash_str (Argon2id,
 * "interactive" limits: ~64 MiB, a fraction of a second). A login's check
 * runs in a worker thread (pwverify.h), never in the loop, so logins cannot
 * delay an emergency. Logins are throttled (loginlimit.h): at most
 * AUTH_LOGIN_PER_S checks a second overall; a name with AUTH_MAX_FAILURES
 * wrong passwords, or a peer (the socket's uid) with AUTH_PEER_MAX_FAILURES
 * failed logins, in AUTH_FAIL_WINDOW_S is refused until its window passes;
 * a flood of invented names cannot reset a real name's count.
 *
 * Roles (one per user) and what they may do:
 *   operator     read; import content; broadcast (relay/normal/priority);
 *                where controller.cfg asks for approval, and for every
 *                schedule apply, what they submit is a draft (approval.h)
 *   approver     operator + emergency level + approving drafts, reviewing
 *                emergencies
 *   maintenance  read; remote maintenance (restart, volume, test tone)
 *   admin        everything: users, audit, provisioning, keys
 * Each user is scoped to zones (or to every zone, "*"): a broadcast to a
 * zone, a node or everything is refused unless every target lies in them.
 *
 * The audit log (table audit) records every request that changes something
 * and every refused one: who, what, target, when, from where (the peer's
 * uid and pid on the unix socket), the HTTP status and why.
 */
#ifndef LOAXA_CTL_AUTH_H
#define LOAXA_CTL_AUTH_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sodium.h>

#include "db.h"

struct ctl;

#define AUTH_TOKEN_HEX 64
#define AUTH_ROLE_MAX 16
#define AUTH_PEER_MAX 96
#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 256
#define AUTH_MAX_FAILURES 5
#define AUTH_FAIL_WINDOW_S 300
#define AUTH_LOGIN_PER_S 4
#define AUTH_PEER_MAX_FAILURES 20
#define AUTH_PEER_ID_MAX 32

enum auth_perm {
	PERM_READ = 1 << 0,
	PERM_OPERATE = 1 << 1,   /* import, broadcast, announce, schedule */
	PERM_APPROVE = 1 << 2,   /* approve drafts, emergency level, reviews */
	PERM_MAINTAIN = 1 << 3,  /* remote maintenance commands */
	PERM_ADMIN = 1 << 4,     /* users, audit, provisioning, keys */
};

/* Who made a request (filled by ctl_auth_request). */
struct ctl_principal {
	int authenticated;
	char user[CTL_NAME_MAX];
	char role[AUTH_ROLE_MAX];
	unsigned perms;          /* enum auth_perm bits */
	int all_zones;
	char zones[CTL_MAX_ZONES][CTL_NAME_MAX];
	size_t nzones;
	char peer[AUTH_PEER_MAX]; /* "uid 1000 (op) pid 4242" */
	char peer_id[AUTH_PEER_ID_MAX]; /* "uid 1000": failed logins count against it */
};

/* Per-controller state: login throttles, the password check thread. */
struct ctl_auth;

/* Also starts the password check thread (pwverify.h). */
int ctl_auth_init(struct ctl *c);
/* Stop the password checks: logins in progress are answered "stopping".
 * Before the API stops (their connections wait for that answer). */
void ctl_auth_stop(struct ctl *c);
void ctl_auth_free(struct ctl *c);
/* The password checks' eventfd for the loop's poll() (1 filled, 0 none),
 * and what to do when it is readable: finish the checked logins. */
int ctl_auth_pollfd(struct ctl *c, struct pollfd *pfd);
void ctl_auth_handle(struct ctl *c, const struct pollfd *pfd);

/* Role name -> permission bits; 0 for an unknown role. */
unsigned ctl_auth_role_perms(const char *role);

/*
 * Add a user. zones: JSON array of zone names, or NULL/"*" for all zones.
 * -EEXIST when the name is taken, -EINVAL with err for bad input.
 */
int ctl_auth_user_add(struct ctl_db *db, const char *name, const char *password,
		      const char *role, json_t *zones, char *err, size_t errlen);
int ctl_auth_user_del(struct ctl_db *db, const char *name);
int ctl_auth_user_count(struct ctl_db *db);
json_t *ctl_auth_users_json(struct ctl_db *db);

/*
 * The end of a login, on the loop thread: rc 0 and reply {"token","user",
 * "role","zones","expires"} (the callee owns it), or -EACCES for a wrong
 * name or password (one message for both), -ECANCELED when the controller
 * stops; err says it.
 */
typedef void (*ctl_auth_login_cb)(struct ctl *c, void *ctx, int rc, json_t *reply,
				  const char *err);

/*
 * Begin a login: throttles, the user's hash, then the Argon2id check in the
 * worker. 0: cb is called later, exactly once. Else nothing is called and
 * err says why: -EAGAIN throttled (err says how long), -EBUSY the check
 * queue is full, -EACCES a name or password that cannot be right, -EIO.
 * peer is what logs name ("uid 1000 (op) pid 42"), peer_id what failures
 * are counted against ("uid 1000").
 */
int ctl_auth_login_start(struct ctl *c, const char *name, const char *password,
			 const char *peer, const char *peer_id, ctl_auth_login_cb cb,
			 void *ctx, char *err, size_t errlen);

/* The same, waiting for the answer (tests and tools; never in the loop:
 * it blocks). 0 with *reply, or the errors of both above. */
int ctl_auth_login(struct ctl *c, const char *name, const char *password,
		   const char *peer, json_t **reply, char *err, size_t errlen);
int ctl_auth_logout(struct ctl_db *db, const char *authorization);

/*
 * Authenticate from the Authorization header value (may be NULL). Fills who
 * and returns 0, or -EACCES with err ("no token: log in with loaxa login").
 * who->peer must be set by the caller first.
 */
int ctl_auth_request(struct ctl_db *db, const char *authorization,
		     struct ctl_principal *who, char *err, size_t errlen);

/* The permission a request needs (method, url path). */
unsigned ctl_auth_route_perm(const char *method, const char *url);
/* 0 when who holds perm, else -EPERM with err naming the role. */
int ctl_auth_require(const struct ctl_principal *who, unsigned perm, char *err,
		     size_t errlen);
/* who's zones for a message: "thon-1, thon-2" ("*" for every zone). */
void ctl_auth_scope_text(const struct ctl_principal *who, char *out, size_t outlen);
/* 1 when the zone is within who's scope. */
int ctl_auth_zone_allowed(const struct ctl_principal *who, const char *zone);
/*
 * A broadcast target: zone, node (every zone the node is in must be in
 * scope) or all (needs every zone). Level "emergency" needs PERM_APPROVE.
 * 0 or -EPERM with err.
 */
int ctl_auth_check_target(struct ctl_db *db, const struct ctl_principal *who,
			  const char *zone, const char *node, int all, const char *level,
			  char *err, size_t errlen);

/*
 * The same check for a target as stored with a broadcast or emergency
 * (target_kind "zone", "node" or "all" and its name): may who stop it?
 */
int ctl_auth_check_stored(struct ctl_db *db, const struct ctl_principal *who,
			  const char *kind, const char *target, char *err, size_t errlen);

/*
 * What a topic "<root>/zone/<z>/..." or "<root>/node/<n>/..." addresses:
 * kind "zone", "node" or "all" (zone all) and the name, for scope checks
 * of what is sent on it (a live session). 0 or -EINVAL.
 */
int ctl_auth_topic_target(const char *root, const char *topic, char *kind, size_t kindlen,
			  char *name, size_t namelen);

/*
 * Reading is scoped too, but more loosely than acting: a node is visible
 * when *any* of its zones is in scope (a village official sees every
 * loudspeaker in the village, also one shared with the next village), while
 * acting on it needs all of them (ctl_auth_check_target). 1 or 0.
 */
int ctl_auth_node_visible(struct ctl_db *db, const struct ctl_principal *who,
			  const char *node);
/*
 * who's zones as a JSON array text for SQL (json_each), to filter a query
 * before its LIMIT; *out NULL when who has every zone (no filter). 0 or
 * -ENOMEM; free *out.
 */
int ctl_auth_scope_json(const struct ctl_principal *who, char **out);
/*
 * Remove from the array arr every object whose string member key names a
 * node outside who's zones (ctl_auth_node_visible). 0 or negative errno.
 */
int ctl_auth_filter_nodes(struct ctl_db *db, const struct ctl_principal *who, json_t *arr,
			  const char *key);

/* Record one audit entry; failures are logged, never fatal. */
void ctl_auth_audit(struct ctl_db *db, const struct ctl_principal *who,
		    const char *action, const char *target, unsigned status,
		    const char *detail);
/* Newest first; limit 1..100000. */
json_t *ctl_auth_audit_json(struct ctl_db *db, int limit, const char *user);

/* "uid N (name) pid P" of the peer of a unix socket. */
void ctl_auth_peer_of_fd(int fd, char *out, size_t outlen);
/* "uid N" of that peer: the key its failed logins are counted under. */
void ctl_auth_peer_id_of_fd(int fd, char *out, size_t outlen);

/*
 * Bootstrap the first administrator from the command line of the daemon
 * (loaxa-controller -c FILE --add-admin NAME): reads the password from
 * path ("-" = stdin, first line). Returns a process exit status.
 */
int ctl_auth_add_admin_cli(struct ctl_db *db, const char *name, const char *path);

#endif
