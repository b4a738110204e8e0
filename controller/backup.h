/*
 * backup.h - a controller's state in one file, and back (issue 17).
 *
 * `loaxa backup FILE` / `loaxa-controller -c CFG --backup FILE` writes a tar
 * archive (POSIX ustar, mode 0600) holding everything a station needs to
 * come back on a new machine:
 *
 *   controller.cfg       the configuration (as given by -c)
 *   loaxa.db             the database, copied with SQLite's online backup
 *                        (consistent while the controller runs)
 *   keys/<name>          the signing key and its companions (the files of the
 *                        key's directory named like the key: .next, .old,
 *                        and the .pub beside it)
 *   broker/<name>        the broker's CA, certificate, accounts and ACL
 *                        (broker.dir; not mosquitto.conf, which is this
 *                        machine's, nor the persistence directory)
 *   content/<id>.opus    the imported content (unless --no-content)
 *   schedules/NN-<name>  the schedule files as last applied, as the client
 *                        sent them (the database holds them, sched_files;
 *                        these copies are for reading or applying again,
 *                        and a restore reads past them)
 *
 * `loaxa restore FILE` / `--restore FILE` puts them back where this
 * machine's configuration (-c) says, which the archived one must agree with
 * (state_dir, key, broker.dir, api_socket: an archive never chooses where
 * files go); the archived configuration then replaces -c's file. Each file
 * written atomically, refusing any name that is not one of the above (an
 * archive is outside input: no "..", no links, no other paths), refusing to
 * run while a controller answers on the API socket, and refusing to replace
 * an existing database without --force.
 */
#ifndef LOAXA_CTL_BACKUP_H
#define LOAXA_CTL_BACKUP_H

#include "ctlcfg.h"

struct backup_opts {
	int with_content;  /* 1: content/ too (default) */
	int force;         /* restore: replace an existing database */
	int progress;      /* a line per 10 % (or per file) on stderr */
};

/* Write cfg's state to out (replaced atomically). 0 or -errno (logged). */
int backup_write(const struct ctl_config *cfg, const char *out, const struct backup_opts *o);

/*
 * Restore the archive in into the places its own controller.cfg names;
 * that configuration is written to config_path. 0 or -errno (logged).
 */
int backup_restore(const char *in, const char *config_path, const struct backup_opts *o);

#endif
