/*
 * loaxa-node-update - installs a node package the node fetched and asked
 * for (node/update.h; files in node/updjournal.h; docs/operations.md,
 * "Updating the nodes' software").
 *
 *   loaxa-node-update -c /etc/loaxa/node.cfg
 *
 * It is its own small program so that the node daemon never installs
 * anything (nor needs root): systemd's loaxa-node-update.path starts it as
 * root when <state_dir>/update/request.json appears (update.run "systemd"),
 * or the node starts it with this fixed argv (update.run "spawn").
 *
 * Steps, each recorded in journal.json (atomic) before the next begins:
 *
 *   started       the request is taken; nothing changed yet
 *                 checks: the package's SHA-256 is the requested one, and
 *                 dpkg-deb says loaxa-node, that version, this architecture
 *   backed_up     prev/loaxa-node is a complete copy of update.binary (and
 *                 prev/package.deb of the last installed package, if known)
 *   installing    the new version goes in: backend "dir" writes the
 *                 package's usr/sbin/loaxa-node next to update.binary and
 *                 renames it over (atomic); backend "dpkg" runs dpkg -i
 *   installed     the new version is on disk; the node executes it; it must
 *                 write "confirm" within update.confirm_s (deadline)
 *   rolling_back  the previous version goes back (the same way)
 *   done          outcome ok | rolled_back | failed, with the error in words
 *
 * A run finding a journal of the same request carries on from its step:
 * killed or cut off before "installing", nothing was changed (failed);
 * during "installing" or "rolling_back", the previous version is put back
 * (rolled_back); at "installed" it waits for the confirmation until the
 * deadline. So after a power cut at any step the node runs the old or the
 * new version, whole, and the journal says which.
 *
 * Test hook: LOAXA_UPDATE_TEST_PAUSE=STEP stops the installer (SIGSTOP)
 * right after it reached STEP (a journal step, or "swap": the new binary
 * written beside the old one, not yet renamed), having written
 * update/paused; tests/integration/node_update.sh kills it there.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debpkg.h"
#include "log.h"
#include "nodecfg.h"
#include "updjournal.h"
#include "util.h"
#include "wallclock.h"

static struct node_cfg cfg;
static struct upd_rec j;   /* the journal, as on disk */
static char dir[PATH_MAX];

static void upath(char *out, size_t outlen, const char *name)
{
	if (upd_path(out, outlen, cfg.state_dir, name) < 0)
		out[0] = '\0';
}

/*
 * Under systemd the installer runs as root, the node as its own user: the
 * files the node reads (journal, lock) belong to the owner of the update
 * directory, as everything else in its state_dir.
 */
static void own(const char *path)
{
	struct stat st;

	if (geteuid() == 0 && stat(dir, &st) == 0 && chown(path, st.st_uid, st.st_gid) < 0)
		log_warnx("cannot give %s to uid %u: %s", path, (unsigned)st.st_uid,
			  strerror(errno));
}

static void test_pause(const char *step)
{
	const char *want = getenv("LOAXA_UPDATE_TEST_PAUSE");
	char path[PATH_MAX], text[64];

	if (!want || strcmp(want, step) != 0)
		return;
	upath(path, sizeof(path), "paused");
	snprintf(text, sizeof(text), "%s %ld\n", step, (long)getpid());
	write_file_atomic(path, text, strlen(text), 0640);
	log_info("test hook: stopped at step %s (LOAXA_UPDATE_TEST_PAUSE)", step);
	raise(SIGSTOP);
}

/* Record a step; without a journal on disk nothing may go further. */
static void journal(const char *step, const char *outcome, const char *error)
{
	char path[PATH_MAX];
	int rc;

	snprintf(j.step, sizeof(j.step), "%s", step);
	snprintf(j.outcome, sizeof(j.outcome), "%s", outcome ? outcome : "");
	if (error)
		snprintf(j.error, sizeof(j.error), "%s", error);
	j.at = now_ms();
	upath(path, sizeof(path), "journal.json");
	rc = upd_write(path, &j);
	if (rc < 0) {
		log_errorx("cannot write %s: %s: stopping here (run me again once the disk "
			   "is writable)", path, strerror(-rc));
		exit(1);
	}
	own(path);
	log_info("update %s: %s%s%s%s%s", j.id, step, outcome ? " " : "", outcome ? outcome : "",
		 j.error[0] ? ": " : "", j.error);
	test_pause(step);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void remove_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The update is over: the order goes, and what it brought along. */
static void cleanup(void)
{
	static const char *const names[] = { "new.deb", "new.deb.tmp", "confirm", "paused" };
	char path[PATH_MAX];
	size_t i;

	upath(path, sizeof(path), "request.json");
	unlink(path);
	fsync_dir_of(path);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		upath(path, sizeof(path), names[i]);
		unlink(path);
	}
	upath(path, sizeof(path), "unpack");
	remove_tree(path);
}

static void done(const char *outcome, const char *error)
{
	journal(UPD_STEP_DONE, outcome, error);
	cleanup();
}

/* Copy src over dst atomically: dst.loaxa-new, fsync, rename, fsync the directory. */
static int install_file(const char *src, const char *dst, mode_t mode, const char *pause_at)
{
	char tmp[PATH_MAX + 16];
	int rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.loaxa-new", dst) >= sizeof(tmp))
		return -ENAMETOOLONG;
	rc = copy_file_synced(src, tmp, mode);
	if (rc == 0 && pause_at)
		test_pause(pause_at);
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	else
		fsync_dir_of(dst);
	return rc;
}

static int run_dpkg_install(const char *deb, char *why, size_t whylen)
{
	char prog[] = "/usr/bin/dpkg", opt[] = "-i", file[PATH_MAX];
	char *argv[] = { prog, opt, file, NULL };
	int rc;

	snprintf(file, sizeof(file), "%s", deb);
	rc = deb_run(argv, NULL, 0);
	if (rc == 0)
		return 0;
	if (rc < 0)
		snprintf(why, whylen, "cannot run dpkg: %s", strerror(-rc));
	else
		snprintf(why, whylen, "dpkg -i failed (exit status %d; see the system log)", rc);
	return -EIO;
}

/* Put the previous version back. 0, or -errno with why. */
static int restore(char *why, size_t whylen)
{
	char prev_bin[PATH_MAX], prev_deb[PATH_MAX];
	int rc;

	upath(prev_bin, sizeof(prev_bin), "prev/loaxa-node");
	upath(prev_deb, sizeof(prev_deb), "prev/package.deb");
	if (!cfg.update.backend_dir && access(prev_deb, R_OK) == 0 &&
	    run_dpkg_install(prev_deb, why, whylen) == 0)
		return 0;
	/* backend dir, or no earlier package known: the binary itself */
	rc = install_file(prev_bin, cfg.update.binary, 0755, NULL);
	if (rc < 0)
		snprintf(why, whylen, "cannot put %.100s back over %.100s: %s", prev_bin,
			 cfg.update.binary, strerror(-rc));
	return rc;
}

static void rollback(const char *reason)
{
	char why[UPD_TEXT_MAX], text[UPD_TEXT_MAX];

	journal(UPD_STEP_ROLLING_BACK, NULL, reason);
	if (restore(why, sizeof(why)) < 0) {
		/* the journal stays at rolling_back: the next run tries again */
		log_errorx("update %s: %s", j.id, why);
		exit(1);
	}
	snprintf(text, sizeof(text), "%.200s; version %s restored", reason, j.from);
	done(UPD_OUT_ROLLED_BACK, text);
}

/* "confirm" names this request and version: the new node runs and reached the broker. */
static int confirmed(void)
{
	char path[PATH_MAX], want[UPD_ID_MAX + UPD_VERSION_MAX + 4];
	uint8_t *buf = NULL;
	size_t len;
	int ok;

	upath(path, sizeof(path), "confirm");
	if (read_file(path, 256, &buf, &len) < 0)
		return 0;
	snprintf(want, sizeof(want), "%s %s\n", j.id, j.version);
	ok = strcmp((const char *)buf, want) == 0;
	free(buf);
	return ok;
}

/* Step installed: wait for the confirmation (inotify on the directory) or the deadline. */
static void wait_confirm(void)
{
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char why[UPD_TEXT_MAX];

	if (fd >= 0 && inotify_add_watch(fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
		close(fd);
		fd = -1;
	}
	for (;;) {
		int64_t left = j.deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char buf[4096];

		if (confirmed()) {
			char deb[PATH_MAX], inst[PATH_MAX];

			if (!cfg.update.backend_dir) {
				/* what a later update's rollback reinstalls */
				upath(deb, sizeof(deb), "new.deb");
				upath(inst, sizeof(inst), "installed.deb");
				if (install_file(deb, inst, 0640, NULL) < 0)
					log_warnx("cannot keep %s as %s", deb, inst);
			}
			if (fd >= 0)
				close(fd);
			done(UPD_OUT_OK, "");
			return;
		}
		if (left <= 0)
			break;
		/* inotify wakes us at once; the 1 s bound also covers a missed event */
		if (poll(fd >= 0 ? &p : NULL, fd >= 0 ? 1 : 0, left < 1000 ? (int)left : 1000) > 0)
			while (read(fd, buf, sizeof(buf)) > 0)
				;
	}
	if (fd >= 0)
		close(fd);
	snprintf(why, sizeof(why), "version %s did not come online and confirm within %d s",
		 j.version, cfg.update.confirm_s);
	rollback(why);
}

static void fresh(const struct upd_rec *req)
{
	char deb[PATH_MAX], prev[PATH_MAX], prev_bin[PATH_MAX], inst[PATH_MAX], prev_deb[PATH_MAX];
	char hex[CONTENT_ID_LEN + 1], why[UPD_TEXT_MAX], text[UPD_TEXT_MAX];
	struct deb_info info;
	int rc;

	j = *req;
	j.deadline = 0;
	j.error[0] = '\0';
	journal(UPD_STEP_STARTED, NULL, NULL);
	upath(deb, sizeof(deb), "new.deb");
	if (sha256_file_hex(deb, hex) < 0 || strcmp(hex, j.content) != 0) {
		done(UPD_OUT_FAILED, "the package failed its SHA-256 check; nothing was changed");
		return;
	}
	if (deb_read_fields(deb, NULL, &info, why, sizeof(why)) < 0) {
		snprintf(text, sizeof(text), "the package: %.200s; nothing was changed", why);
		done(UPD_OUT_FAILED, text);
		return;
	}
	if (strcmp(info.package, DEB_NODE_PACKAGE) != 0 || strcmp(info.version, j.version) != 0 ||
	    strcmp(info.arch, upd_build_arch()) != 0) {
		snprintf(text, sizeof(text), "the package is %.60s %.60s (%.15s), not %s %s (%s); "
			 "nothing was changed", info.package, info.version, info.arch,
			 DEB_NODE_PACKAGE, j.version, upd_build_arch());
		done(UPD_OUT_FAILED, text);
		return;
	}
	/* the previous version, whole, before anything is touched */
	upath(prev, sizeof(prev), "prev");
	upath(prev_bin, sizeof(prev_bin), "prev/loaxa-node");
	upath(prev_deb, sizeof(prev_deb), "prev/package.deb");
	upath(inst, sizeof(inst), "installed.deb");
	if (mkdir_p(prev, 0750) < 0 || install_file(cfg.update.binary, prev_bin, 0755, NULL) < 0) {
		snprintf(text, sizeof(text), "cannot keep a copy of %.100s in %.100s; nothing was changed",
			 cfg.update.binary, prev);
		done(UPD_OUT_FAILED, text);
		return;
	}
	unlink(prev_deb);
	if (!cfg.update.backend_dir && access(inst, R_OK) == 0 &&
	    install_file(inst, prev_deb, 0640, NULL) < 0)
		log_warnx("cannot keep %s: a rollback will restore the binary only", inst);
	journal(UPD_STEP_BACKED_UP, NULL, NULL);
	journal(UPD_STEP_INSTALLING, NULL, NULL);
	if (cfg.update.backend_dir) {
		char unpack[PATH_MAX], bin[PATH_MAX + 32], prog[] = "/usr/bin/dpkg-deb", opt[] = "-x";
		char *argv[] = { prog, opt, deb, unpack, NULL };
		struct stat st;

		upath(unpack, sizeof(unpack), "unpack");
		remove_tree(unpack);
		rc = deb_run(argv, NULL, 0);
		snprintf(bin, sizeof(bin), "%s/usr/sbin/loaxa-node", unpack);
		if (rc != 0 || lstat(bin, &st) < 0 || !S_ISREG(st.st_mode)) {
			rollback("the package has no usr/sbin/loaxa-node or could not be unpacked");
			return;
		}
		rc = install_file(bin, cfg.update.binary, 0755, "swap");
		if (rc < 0) {
			snprintf(why, sizeof(why), "cannot write %.200s: %s", cfg.update.binary,
				 strerror(-rc));
			rollback(why);
			return;
		}
	} else if (run_dpkg_install(deb, why, sizeof(why)) < 0) {
		rollback(why);
		return;
	}
	j.deadline = now_ms() + (int64_t)cfg.update.confirm_s * 1000;
	journal(UPD_STEP_INSTALLED, NULL, NULL);
	wait_confirm();
}

/* A journal of this request: carry on from where the last run stopped. */
static void resume(void)
{
	char text[UPD_TEXT_MAX];

	log_info("update %s: carrying on from step %s", j.id, j.step);
	if (strcmp(j.step, UPD_STEP_STARTED) == 0 || strcmp(j.step, UPD_STEP_BACKED_UP) == 0) {
		snprintf(text, sizeof(text), "the installation was interrupted at step %s (power "
			 "cut or killed) before anything was changed; version %s kept", j.step,
			 j.from);
		done(UPD_OUT_FAILED, text);
	} else if (strcmp(j.step, UPD_STEP_INSTALLING) == 0) {
		rollback("the installation was interrupted while installing (power cut or killed)");
	} else if (strcmp(j.step, UPD_STEP_INSTALLED) == 0) {
		wait_confirm();
	} else if (strcmp(j.step, UPD_STEP_ROLLING_BACK) == 0) {
		snprintf(text, sizeof(text), "%s", j.error);
		rollback(text[0] ? text : "interrupted while rolling back");
	} else {
		cleanup(); /* done: only the order was left */
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: loaxa-node-update -c NODE.CFG\n"
		"Installs the node package the node fetched (<state_dir>/update/request.json);\n"
		"started by loaxa-node-update.path or by the node (docs/operations.md).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char path[PATH_MAX], why[300];
	const char *cfg_path = NULL;
	struct upd_rec req, cur;
	int opt, lock, rc;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': cfg_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfg_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("loaxa-node-update", 0);
	if (node_cfg_load(&cfg, cfg_path) < 0)
		return 1;
	umask(027);
	upath(dir, sizeof(dir), "");
	if (mkdir_p(dir, 0750) < 0) {
		log_errorx("cannot create %s", dir);
		return 1;
	}
	upath(path, sizeof(path), "lock");
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	own(path);
	/*
	 * Blocking: the node tests the lock for a moment (installer_running);
	 * a second installer waits and then finds the request finished.
	 */
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		log_errorx("cannot lock %s: %s", path, strerror(errno));
		return 1;
	}
	upath(path, sizeof(path), "request.json");
	rc = upd_read(path, &req, why, sizeof(why));
	if (rc == -ENOENT) {
		log_info("no update requested (%s absent)", path);
		return 0;
	}
	if (rc < 0) {
		log_errorx("%s: removed", why);
		unlink(path);
		return 1;
	}
	upath(path, sizeof(path), "journal.json");
	rc = upd_read(path, &cur, why, sizeof(why));
	if (rc == 0 && strcmp(cur.id, req.id) == 0) {
		j = cur;
		resume();
	} else {
		if (rc < 0 && rc != -ENOENT)
			log_warnx("%s: starting a new journal", why);
		fresh(&req);
	}
	close(lock);
	return 0;
}
