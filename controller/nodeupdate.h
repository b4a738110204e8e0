/*
 * nodeupdate.h - `loaxa node update N|--zone Z|--all PACKAGE.deb` (API POST
 * /v1/node-update?node=N | ?zone=Z | ?all=1, the .deb as the request body;
 * docs/operations.md, "Updating the nodes' software").
 *
 * The package is not audio: it never goes near the decoder. The controller
 * reads its Package, Version and Architecture with dpkg-deb (common/debpkg.h,
 * fixed argv, no shell), refuses anything that is not the loaxa-node
 * package or larger than CTL_NODE_UPDATE_MAX, stores it as content by its
 * SHA-256 (<state_dir>/content/<sha256>.opus: the name every content file
 * has, the way the delivery serves it), and sends each target node one
 * signed command on node/<id>/cmd:
 *
 *   {"cmd":"update","to":"node/n1/cmd","id":"c-...","node":"n1",
 *    "version":"0.1.1","arch":"arm64","content":"<sha256>","bytes":812345}
 *
 * The command's row (GET /v1/commands/<id>) moves to "ok" or "refused"
 * with the node's cmd_done; the outcome of the install comes in the node's
 * status ("update") and its update_finished event.
 */
#ifndef LOAXA_CTL_NODEUPDATE_H
#define LOAXA_CTL_NODEUPDATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;

/* A node package is the node binary, units and catalogs: 64 MiB is far above. */
#define CTL_NODE_UPDATE_MAX (64ULL * 1024 * 1024)
/* The command stays valid this long: a node offline longer gets it sent again. */
#define CTL_NODE_UPDATE_TTL_MS (60LL * 60 * 1000)

/*
 * The package uploaded to path (bytes long, SHA-256 sha_hex) for node, or
 * every node of zone, or all (exactly one of them). On success the file is
 * moved into the content directory. Returns the HTTP status; *reply is the
 * answer (package, commands sent, nodes skipped) or {"error": ...}.
 */
unsigned ctl_node_update(struct ctl *c, const char *path, uint64_t bytes, const char *sha_hex,
			 const char *node, const char *zone, int all, json_t **reply);

#endif
