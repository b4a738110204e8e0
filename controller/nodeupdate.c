/*
 * nodeupdate.c - see nodeupdate.h.
 */
#include "nodeupdate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "ctl.h"
#include "ctlutil.h"
#include "db.h"
#include "debpkg.h"
#include "log.h"
#include "util.h"
#include "wallclock.h"

#define MAX_TARGETS 4096

/* The architectures a node runs on (docs/cross.md): anything else is refused. */
static int arch_known(const char *a)
{
	return !strcmp(a, "amd64") || !strcmp(a, "arm64") || !strcmp(a, "armhf") ||
	       !strcmp(a, "i386");
}

/* Debian versions as the node accepts them (node/updjournal.h, upd_version_valid). */
static int version_ok(const char *s)
{
	size_t i;

	if (!(s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; s[i]; i++) {
		char ch = s[i];

		if (i >= 63 || !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
				 (ch >= 'A' && ch <= 'Z') || strchr(".+~-:", ch)))
			return 0;
	}
	return 1;
}

static unsigned fail(json_t **reply, unsigned status, const char *fmt, const char *a,
		     const char *b)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, a, b);
	*reply = json_pack("{s:s}", "error", msg);
	return status;
}

/* Move the package to <content>/<sha>.opus (kept when the same bytes are there). */
static int store(struct ctl *c, const char *path, uint64_t bytes, const char *sha,
		 const struct deb_info *info)
{
	struct ctl_content_row row;
	char dst[PATH_MAX];
	int rc, existed = 0;

	rc = ctl_content_path(c, sha, dst, sizeof(dst));
	if (rc < 0)
		return rc;
	if (access(dst, F_OK) != 0) {
		if (rename(path, dst) < 0)
			return -errno;
		fsync_dir_of(dst);
	}
	memset(&row, 0, sizeof(row));
	snprintf(row.id, sizeof(row.id), "%s", sha);
	snprintf(row.title, sizeof(row.title), "node package %s %s (%s)", info->package,
		 info->version, info->arch);
	row.bytes = (int64_t)bytes;
	row.created = now_ms();
	return ctl_db_content_add(&c->db, &row, &existed);
}

unsigned ctl_node_update(struct ctl *c, const char *path, uint64_t bytes, const char *sha_hex,
			 const char *node, const char *zone, int all, json_t **reply)
{
	char (*targets)[CTL_NAME_MAX] = NULL;
	char why[300], err[300], id[CTL_ID_MAX];
	struct deb_info info;
	json_t *sent = NULL, *skipped = NULL;
	size_t n = 0, i;
	unsigned status;
	int rc;

	*reply = NULL;
	if ((node != NULL) + (zone != NULL) + (all != 0) != 1)
		return fail(reply, 400, "name the nodes: node=N, zone=Z or all=1 (one of them)%s%s",
			    "", "");
	if ((node && !name_valid(node)) || (zone && !name_valid(zone)))
		return fail(reply, 400, "the node or zone name is not valid%s%s", "", "");
	if (bytes > CTL_NODE_UPDATE_MAX)
		return fail(reply, 413, "the package is too large: a node package is at most "
			    "64 MiB%s%s", "", "");
	if (deb_read_fields(path, NULL, &info, why, sizeof(why)) < 0)
		return fail(reply, 422, "this file cannot be sent as a node update: %s%s", why, "");
	if (strcmp(info.package, DEB_NODE_PACKAGE) != 0)
		return fail(reply, 422, "this is not a loaxa node package: it is the package "
			    "\"%.60s\"; send the loaxa-node package (docs/operations.md)%s",
			    info.package, "");
	if (!version_ok(info.version))
		return fail(reply, 422, "the package's version \"%.60s\" is not a version the "
			    "nodes accept%s", info.version, "");
	if (!arch_known(info.arch))
		return fail(reply, 422, "the package is for architecture \"%.15s\"; nodes run "
			    "amd64, arm64 or armhf%s", info.arch, "");
	targets = calloc(MAX_TARGETS, sizeof(*targets));
	if (!targets)
		return fail(reply, 500, "out of memory%s%s", "", "");
	if (node) {
		struct ctl_node_row row;

		if (ctl_db_node_get(&c->db, node, &row) < 0 || !row.known) {
			status = fail(reply, 404, "no node \"%s\" is known to this controller%s",
				      node, "");
			goto out;
		}
		snprintf(targets[0], sizeof(targets[0]), "%s", node);
		n = 1;
	} else if (ctl_db_zone_nodes(&c->db, zone, targets, MAX_TARGETS, &n) < 0) {
		status = fail(reply, 500, "the controller's database failed (see its log)%s%s",
			      "", "");
		goto out;
	}
	if (n == 0) {
		status = fail(reply, 404, "zone \"%s\" has no nodes%s", zone ? zone : "all", "");
		goto out;
	}
	rc = store(c, path, bytes, sha_hex, &info);
	if (rc < 0) {
		status = fail(reply, 500, "the controller cannot store the package: %s%s",
			      strerror(-rc), "");
		goto out;
	}
	log_info("node update: package %s %s (%s), %" PRIu64 " bytes, content %s, for %zu "
		 "node(s)", info.package, info.version, info.arch, bytes, ctl_short_id(sha_hex),
		 n);
	sent = json_array();
	skipped = json_array();
	for (i = 0; i < n; i++) {
		struct ctl_node_row row;
		json_t *body;

		if (ctl_db_node_get(&c->db, targets[i], &row) == 0 && row.known &&
		    strcmp(row.version, info.version) == 0) {
			json_array_append_new(skipped, json_pack("{s:s, s:s}", "node", targets[i],
								 "reason", "it runs this version"));
			continue;
		}
		body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "cmd", "update", "node",
				 targets[i], "version", info.version, "arch", info.arch,
				 "content", sha_hex, "bytes", (json_int_t)bytes);
		rc = body ? ctl_maint_send(c, targets[i], body, CTL_NODE_UPDATE_TTL_MS, id, err,
					   sizeof(err))
			  : -ENOMEM;
		json_decref(body);
		if (rc < 0)
			json_array_append_new(skipped, json_pack("{s:s, s:s}", "node", targets[i],
								 "reason", err));
		else
			json_array_append_new(sent, json_pack("{s:s, s:s}", "node", targets[i],
							      "command", id));
	}
	*reply = json_pack("{s:{s:s, s:s, s:s, s:s, s:I}, s:o, s:o}", "package", "name",
			   info.package, "version", info.version, "arch", info.arch, "content",
			   sha_hex, "bytes", (json_int_t)bytes, "commands", sent, "skipped",
			   skipped);
	status = *reply ? 202 : 500;
out:
	free(targets);
	return status;
}
