/*
 * update.h - remote update of the node software (docs/operations.md,
 * "Updating the nodes' software"; docs/protocol.md, "Update command").
 *
 * The controller signs {"cmd":"update","to":"node/<id>/cmd","id","node",
 * "version","arch","content","bytes"} for one node. The node refuses a body
 * naming another node as addressed elsewhere (wrong_target), and a command
 * whose architecture is not its own or whose version it already runs
 * (cmd_done "refused"). Otherwise it keeps the command (pending.json),
 * fetches the package through the content path (resumable, SHA-256
 * checked; "fetching" in the status) and waits for a quiet moment: no play
 * planned within update.quiet_min minutes, nothing playing or queued, no
 * emergency, no live session.
 *
 * Then it copies the package to <state_dir>/update/new.deb, checks its hash
 * again and writes request.json. The node never installs anything itself:
 * the installer, loaxa-node-update (nodeupdate/main.c), runs as its own
 * program - started by systemd's loaxa-node-update.path when request.json
 * appears (update.run "systemd", as root for dpkg) or by the node with a
 * fixed argv (update.run "spawn": tests, hand-run nodes). The node follows
 * the installer's journal.json: when it says "installed" it stops cleanly
 * and executes update.binary (the new version, same pid); the new version,
 * finding itself on trial, writes "confirm" once it reached the broker and
 * published its status; without that within update.confirm_s the installer
 * puts the previous version back, and whichever version runs then
 * executes update.binary again. The status reports "arch" and "update"
 * {state, version, outcome, at, error}.
 */
#ifndef LOAXA_NODE_UPDATE_H
#define LOAXA_NODE_UPDATE_H

#include <stdint.h>

#include "updjournal.h"

struct node;
struct loop;
struct envelope;

enum upd_phase {
	UPD_IDLE = 0,     /* nothing under way (the last outcome, if any, is shown) */
	UPD_FETCHING,     /* the package is being fetched */
	UPD_WAITING,      /* fetched; waiting for a quiet moment */
	UPD_INSTALLING,   /* request.json written: the installer's turn */
	UPD_TRIAL,        /* this is the new version, not yet confirmed */
};

struct node_update {
	enum upd_phase phase;
	struct upd_rec pending;       /* the command being carried out */
	struct upd_rec last;          /* the last outcome (journal "done", or a refusal) */
	int have_last;
	char waiting_why[160];        /* why not now (UPD_WAITING) */
	int64_t ctl_up_since;         /* mono ms the control connection came up, 0 = down */
	int confirmed;                /* UPD_TRIAL: confirm written */
	int64_t requested_mono;       /* when request.json was written */
	int64_t next_mono;            /* the next tick that does something */
	int warned_no_installer;
	int64_t last_spawn_mono;      /* the installer was last started (per node: was a static) */
	char exec_path[4096];         /* set: stop and execute this (main.c) */
};

int update_init(struct node *n);

/*
 * The update command (maint.c hands it over): returns 1 when it was one
 * (handled or refused), 0 when not.
 */
int update_on_cmd(struct node *n, const char *topic, const struct envelope *env);

/* fetch.c: the package arrived, or could not be had. */
void update_content_ready(struct node *n, const char *content);
void update_content_failed(struct node *n, const char *content, const char *reason);
/* The cache must not evict the package while it waits. */
int update_uses(const struct node *n, const char *content);

int update_register(struct loop *l, struct node *n);

#endif
