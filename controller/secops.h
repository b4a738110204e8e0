/*
 * secops.h - provisioning of nodes on the broker (and, in keys.c, the
 * controller key lifecycle), the admin operations behind secapi.c.
 *
 * Provisioning keeps, in SQLite table node_creds, one broker account per
 * node (user name = node id, a random 32-character password of which only
 * the Mosquitto PBKDF2-SHA512 hash is kept) and the zones it serves. From
 * it the controller writes, atomically, into broker.dir:
 *   passwd = passwd.base (the controller's own account, made by
 *            `loaxa broker-config`) + one line per node not revoked;
 *   acl    = acl.base + per node: write its own status/event/fetch/time/ping
 *            topics, read its own node/<id>/# and zone/<z>/# of its zones
 *            and of "all".
 * Mosquitto reads both on SIGHUP (systemctl reload mosquitto); the answer
 * says so. A revoked node keeps its row (revoked = when) so the revocation
 * can be announced in signed plans ("revoked": [...], docs/protocol.md).
 */
#ifndef LOAXA_CTL_SECOPS_H
#define LOAXA_CTL_SECOPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;

/*
 * Handle /v1/provision/... and /v1/keys...: returns 0 when it answered
 * (*status, *reply set), -ENOENT when the URL is not one of its own.
 */
int ctl_secops_handle(struct ctl *c, const char *method, const char *url, json_t *req,
		      unsigned *status, json_t **reply, char *target, size_t tlen);

/* Ids of the revoked nodes, sorted (new reference), for plans. */
json_t *ctl_secops_revoked_json(struct ctl *c);

/* Rewrite broker.dir/passwd and acl from the database. 0 or -errno. */
int ctl_secops_write_broker_files(struct ctl *c);

#endif
