/*
 * updjournal.h - the files a remote update of the node software leaves in
 * <state_dir>/update/, shared by the node daemon (update.c) and the
 * installer, loaxa-node-update (nodeupdate/main.c). docs/operations.md,
 * "Updating the nodes' software".
 *
 * Each file has exactly one writer, and every write is atomic (temporary
 * file, fsync, rename, fsync of the directory), so a power cut leaves the
 * old or the new content of a file, never a mix:
 *
 *   pending.json  node       an accepted update command, until it installs
 *   new.deb       node       the package, copied from the cache, hash checked
 *   request.json  node       "install this now": the installer's order. Its
 *                            presence starts the installer (systemd path
 *                            unit, or the node spawns it); the installer
 *                            removes it when the update is over
 *   journal.json  installer  the step reached: started, backed_up,
 *                            installing, installed, rolling_back, done
 *   confirm       new node   "I run and reached the broker" (id + version)
 *   prev/         installer  the previous version (binary; its .deb if known)
 *   lock          installer  flock while an installer runs
 */
#ifndef LOAXA_NODE_UPDJOURNAL_H
#define LOAXA_NODE_UPDJOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define UPD_VERSION_MAX 64
#define UPD_ID_MAX 64
#define UPD_TEXT_MAX 300
/* A node package is small (the node binary, units, catalogs): 64 MiB is far above. */
#define UPD_MAX_BYTES (64ULL * 1024 * 1024)

/* Steps of journal.json, in order. */
#define UPD_STEP_STARTED "started"
#define UPD_STEP_BACKED_UP "backed_up"
#define UPD_STEP_INSTALLING "installing"
#define UPD_STEP_INSTALLED "installed"
#define UPD_STEP_ROLLING_BACK "rolling_back"
#define UPD_STEP_DONE "done"

/* Outcomes (journal step "done", and the node's status). */
#define UPD_OUT_OK "ok"                  /* the new version runs and confirmed */
#define UPD_OUT_ROLLED_BACK "rolled_back" /* the previous version was put back */
#define UPD_OUT_FAILED "failed"          /* nothing was changed: the old version runs */
#define UPD_OUT_REFUSED "refused"        /* the node refused the command */

/*
 * One record: a request (id, version, from, content, bytes, at), or the
 * journal (all of it).
 */
struct upd_rec {
	char id[UPD_ID_MAX];               /* the controller's command id */
	char step[16];
	char version[UPD_VERSION_MAX];     /* the version being installed */
	char from[UPD_VERSION_MAX];        /* the version that ran before */
	char arch[16];
	char content[CONTENT_ID_LEN + 1];  /* SHA-256 of the package */
	uint64_t bytes;
	int64_t at;                        /* ms since the epoch of the last change */
	int64_t deadline;                  /* step installed: confirm before this (ms) */
	char outcome[16];                  /* step done */
	char error[UPD_TEXT_MAX];
};

/* <state_dir>/update/<name> into out. */
int upd_path(char *out, size_t outlen, const char *state_dir, const char *name);

/* 0, -ENOENT when absent, -EINVAL (why filled) when it does not parse. */
int upd_read(const char *path, struct upd_rec *r, char *why, size_t whylen);
/* Atomic write (write_file_atomic), mode 0640. */
int upd_write(const char *path, const struct upd_rec *r);

/* Package versions: 1-63 of [0-9A-Za-z.+~:-], starting with a digit (Debian's). */
int upd_version_valid(const char *s);
/* The Debian architecture this binary was built for ("amd64", "arm64", ...). */
const char *upd_build_arch(void);

#endif
