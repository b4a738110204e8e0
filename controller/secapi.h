/*
 * secapi.h - the API endpoints of the security subsystem (docs/security.md):
 *
 *   POST   /v1/login            {"user","password"} -> {"token","expires",...}
 *   POST   /v1/logout           the token of the request dies
 *   GET    /v1/whoami           the caller's user, role and zones
 *   GET    /v1/users            POST /v1/users {"name","password","role","zones"}
 *   DELETE /v1/users/<name>
 *   GET    /v1/audit[?limit=N][&user=U]
 *   GET    /v1/provision/nodes  POST /v1/provision/nodes {"node","zones"}
 *   POST   /v1/provision/nodes/<name>/revoke
 *   GET    /v1/keys             POST /v1/keys/rotate
 *   GET    /v1/security         key expiry alarm, nodes being rate limited
 *
 * api.c routes every URL ctl_secapi_owns() claims here, after it has
 * authenticated the request (all but login) and checked the role against
 * ctl_auth_route_perm().
 */
#ifndef LOAXA_CTL_SECAPI_H
#define LOAXA_CTL_SECAPI_H

#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "auth.h"

struct ctl;

int ctl_secapi_owns(const char *url);
/* 0 for the endpoints that work without a token (login). */
int ctl_secapi_needs_token(const char *method, const char *url);

/* A late answer: status and reply (a new reference), on the loop thread. */
typedef void (*ctl_secapi_done_fn)(void *ctx, unsigned status, json_t *reply);

/*
 * Answer one request: *status and *reply (a new reference; {"error"} on
 * failure), and 0. A login returns 1 instead: its password is checked off
 * the loop (auth.h), and done(done_ctx, ...) brings the answer later; who
 * must live until then. target gets what the audit log names as the object
 * acted on; who->user is filled with the attempted name for a login (and
 * who->role on success).
 */
int ctl_secapi_handle(struct ctl *c, struct MHD_Connection *conn,
		      struct ctl_principal *who, const char *method, const char *url,
		      const char *authorization, const char *body, size_t len,
		      unsigned *status, json_t **reply, char *target, size_t tlen,
		      ctl_secapi_done_fn done, void *done_ctx);

/* {"user", "role", "zones" (array, or "*" for every zone), "from"}: who is
 * asking, for GET /v1/whoami and the console's session. */
json_t *ctl_secapi_whoami(const struct ctl_principal *who);

#endif
