/*
 * update.c - see update.h.
 */
#include "update.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cache.h"
#include "clock.h"
#include "cmd.h"
#include "emergency.h"
#include "envelope.h"
#include "events.h"
#include "fetch.h"
#include "live.h"
#include "log.h"
#include "loop.h"
#include "node.h"
#include "plan.h"
#include "queue.h"
#include "status.h"
#include "util.h"

/* How often the module looks again while something is under way. */
#define UPD_TICK_MS 1000
/* The control connection must have been up this long before confirming. */
#define UPD_CONFIRM_AFTER_MS 1000
/* An installer (update.run "spawn") is started again at most this often. */
#define UPD_RESPAWN_MS 10000
/* update.run "systemd": no journal after this long means the unit is missing. */
#define UPD_NO_INSTALLER_MS 60000

static void path_of(const struct node *n, const char *name, char *out, size_t outlen)
{
	if (upd_path(out, outlen, n->cfg.state_dir, name) < 0)
		out[0] = '\0';
}

/* A confirmation of the command (cmd_done), as every maintenance command has. */
static void confirm(struct node *n, const char *id, const char *result, const char *reason)
{
	struct event_info info = EVENT_INFO_INIT;
	json_t *extra = json_pack("{s:s, s:s, s:s}", "command", id, "cmd", "update", "result",
				  result);

	info.reason = reason;
	info.extra = extra;
	events_emit(n, "cmd_done", &info);
	json_decref(extra);
}

/* The end of an update, whatever it was: remembered, shown, journaled as an event. */
static void finished(struct node *n, const struct upd_rec *r)
{
	struct event_info info = EVENT_INFO_INIT;
	json_t *extra = json_pack("{s:s, s:s, s:s, s:s}", "command", r->id, "version",
				  r->version, "from", r->from, "outcome", r->outcome);

	char ok_text[UPD_VERSION_MAX * 2 + 64];

	n->upd.last = *r;
	n->upd.have_last = 1;
	n->upd.phase = UPD_IDLE;
	/* the log (`loaxa log --type update_finished`) says it in words either way */
	snprintf(ok_text, sizeof(ok_text), "version %s installed and running (was %s)",
		 r->version, r->from);
	info.reason = strcmp(r->outcome, UPD_OUT_OK) == 0 ? ok_text : r->error;
	info.extra = extra;
	events_emit(n, "update_finished", &info);
	json_decref(extra);
	if (strcmp(r->outcome, UPD_OUT_OK) == 0)
		log_info("update %s: version %s runs and confirmed", r->id, r->version);
	else
		log_warnx("update %s to version %s: %s%s%s", r->id, r->version, r->outcome,
			  r->error[0] ? ": " : "", r->error);
	status_dirty(n);
}

/* Give up on the pending command before anything was installed. */
static void fail_pending(struct node *n, const char *fmt, const char *arg)
{
	struct upd_rec r = n->upd.pending;
	char path[PATH_MAX];

	snprintf(r.step, sizeof(r.step), "%s", UPD_STEP_DONE);
	snprintf(r.outcome, sizeof(r.outcome), "%s", UPD_OUT_FAILED);
	snprintf(r.error, sizeof(r.error), fmt, arg);
	r.at = now_ms();
	path_of(n, "pending.json", path, sizeof(path));
	unlink(path);
	finished(n, &r);
}

int update_uses(const struct node *n, const char *content)
{
	return (n->upd.phase == UPD_FETCHING || n->upd.phase == UPD_WAITING) &&
	       strcmp(n->upd.pending.content, content) == 0;
}

void update_content_ready(struct node *n, const char *content)
{
	if (n->upd.phase == UPD_FETCHING && strcmp(n->upd.pending.content, content) == 0) {
		log_info("update %s: package %.12s of version %s is here, SHA-256 checked",
			 n->upd.pending.id, content, n->upd.pending.version);
		n->upd.phase = UPD_WAITING;
		n->upd.waiting_why[0] = '\0';
		status_dirty(n);
	}
}

void update_content_failed(struct node *n, const char *content, const char *reason)
{
	if (n->upd.phase == UPD_FETCHING && strcmp(n->upd.pending.content, content) == 0)
		fail_pending(n, "the package could not be fetched: %s; the running version "
			     "stays", reason);
}

/* Is an installer running? It holds update/lock while it works. */
static int installer_running(const struct node *n)
{
	char path[PATH_MAX];
	int fd, running = 0;

	path_of(n, "lock", path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		running = errno == EWOULDBLOCK;
	close(fd); /* releases the lock if we took it */
	return running;
}

/*
 * update.run "spawn": start the installer as its own process, detached
 * (a new session, reparented to init), so that it outlives this process
 * when it stops and executes the new version. Fixed argv: the installer
 * reads everything else from node.cfg and request.json.
 */
static void spawn_installer(struct node *n)
{
	pid_t pid;
	int status;

	if (installer_running(n))
		return;
	n->upd.last_spawn_mono = mono_ms();
	pid = fork();
	if (pid < 0) {
		log_warnx("cannot start the installer %s: fork: %s", n->cfg.update.installer,
			  strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t all;
		pid_t gpid;

		setsid();
		gpid = fork();
		if (gpid != 0)
			_exit(gpid < 0 ? 1 : 0);
		/* the daemon blocks these for its signalfd: the installer needs them */
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		{
			int fd = open("/dev/null", O_RDONLY);

			if (fd >= 0 && fd != 0) {
				dup2(fd, 0);
				close(fd);
			}
		}
		close_range(3, ~0U, 0);
		execl(n->cfg.update.installer, "loaxa-node-update", "-c", n->cfg.path,
		      (char *)NULL);
		fprintf(stderr, "loaxa-node: cannot execute the installer %s: %s\n",
			n->cfg.update.installer, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	log_info("update %s: installer %s started", n->upd.pending.id, n->cfg.update.installer);
}

/* Copy src to dst atomically (dst.tmp, fsync, rename, fsync the directory). */
static int copy_file(const char *src, const char *dst)
{
	char tmp[PATH_MAX + 8];
	int rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= sizeof(tmp))
		return -ENAMETOOLONG;
	rc = copy_file_synced(src, tmp, 0640);
	if (rc == 0 && rename(tmp, dst) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	else
		fsync_dir_of(dst);
	return rc;
}

/*
 * A quiet moment: nothing plays or waits to play, no emergency, no live
 * session, and no plan item within update.quiet_min minutes. 1, or 0 with
 * the reason.
 */
static int quiet_now(struct node *n, char *why, size_t whylen)
{
	int64_t now = clock_now_ms(&n->clock);
	int64_t ahead = (int64_t)n->cfg.update.quiet_min * 60 * 1000;
	size_t i;

	if (emergency_holds(n)) {
		snprintf(why, whylen, "an emergency is active");
		return 0;
	}
	if (live_holds(n)) {
		snprintf(why, whylen, "a live session is on");
		return 0;
	}
	if (queue_current(&n->queue) || queue_pending(&n->queue)) {
		snprintf(why, whylen, "a broadcast plays or waits to play");
		return 0;
	}
	for (i = 0; n->plan.have && i < n->plan.cur.n; i++) {
		const struct plan_item *it = &n->plan.cur.items[i];
		int64_t end = it->until > 0 ? it->until
			      : it->at + (it->duration_ms > 0 ? it->duration_ms : 0);

		if (it->done || plan_is_done(n, it->id))
			continue;
		if (end < it->expires)
			end = it->expires;
		if (it->at <= now + ahead && end >= now) {
			snprintf(why, whylen, "plan item %.60s plays within %d minutes",
				 it->id, n->cfg.update.quiet_min);
			return 0;
		}
	}
	return 1;
}

static void start_install(struct node *n)
{
	char cached[PATH_MAX + 80], deb[PATH_MAX], req[PATH_MAX], pend[PATH_MAX];
	char hex[CONTENT_ID_LEN + 1];
	struct upd_rec r = n->upd.pending;
	int rc;

	cache_path(&n->cache, r.content, ".opus", cached, sizeof(cached));
	path_of(n, "new.deb", deb, sizeof(deb));
	path_of(n, "request.json", req, sizeof(req));
	path_of(n, "pending.json", pend, sizeof(pend));
	rc = copy_file(cached, deb);
	if (rc < 0) {
		fail_pending(n, "cannot copy the package for the installer: %s", strerror(-rc));
		return;
	}
	/* checked again where the installer takes it from */
	if (sha256_file_hex(deb, hex) < 0 || strcmp(hex, r.content) != 0) {
		unlink(deb);
		fail_pending(n, "%s", "the package failed its SHA-256 check after the copy "
			     "(disk error?)");
		return;
	}
	snprintf(r.from, sizeof(r.from), "%s", LOAXA_VERSION);
	r.step[0] = '\0';
	r.at = now_ms();
	rc = upd_write(req, &r);
	if (rc < 0) {
		fail_pending(n, "cannot write the installer's request: %s", strerror(-rc));
		return;
	}
	unlink(pend);
	n->upd.pending = r;
	n->upd.phase = UPD_INSTALLING;
	n->upd.requested_mono = mono_ms();
	n->upd.warned_no_installer = 0;
	log_info("update %s: quiet moment, installing version %s (now %s)", r.id, r.version,
		 LOAXA_VERSION);
	if (n->cfg.update.spawn)
		spawn_installer(n);
	status_dirty(n);
}

/* Stop cleanly and execute update.binary (main.c): the version now installed. */
static void exec_binary(struct node *n, const char *why)
{
	if (n->upd.exec_path[0])
		return;
	snprintf(n->upd.exec_path, sizeof(n->upd.exec_path), "%s", n->cfg.update.binary);
	log_info("%s: stopping and starting %s", why, n->upd.exec_path);
	n->restart = 1;
}

/* UPD_INSTALLING, UPD_TRIAL: follow the installer's journal. */
static void follow_journal(struct node *n)
{
	char path[PATH_MAX], why[256], msg[200];
	struct upd_rec j;
	int rc;

	path_of(n, "journal.json", path, sizeof(path));
	rc = upd_read(path, &j, why, sizeof(why));
	if (rc < 0 || strcmp(j.id, n->upd.pending.id) != 0) {
		if (rc < 0 && rc != -ENOENT)
			log_warnx("update: %s", why);
		if (n->upd.phase != UPD_INSTALLING)
			return;
		if (n->cfg.update.spawn) {
			if (mono_ms() - n->upd.last_spawn_mono >= UPD_RESPAWN_MS)
				spawn_installer(n);
		} else if (!n->upd.warned_no_installer &&
			   mono_ms() - n->upd.requested_mono >= UPD_NO_INSTALLER_MS) {
			n->upd.warned_no_installer = 1;
			status_error(n, "update %s: the installer has not started after %d s: "
				     "enable it with `systemctl enable --now "
				     "loaxa-node-update.path` (docs/operations.md)",
				     n->upd.pending.id, UPD_NO_INSTALLER_MS / 1000);
		}
		return;
	}
	if (strcmp(j.step, UPD_STEP_INSTALLED) == 0 && strcmp(j.version, LOAXA_VERSION) != 0) {
		snprintf(msg, sizeof(msg), "update %s: version %s is installed", j.id, j.version);
		exec_binary(n, msg);
		return;
	}
	if (strcmp(j.step, UPD_STEP_DONE) != 0) {
		/*
		 * The installer works (or waits for our confirmation). Spawn
		 * mode: start it again if it died (killed, a power cut): it
		 * carries on from its journal. A node on trial started after a
		 * power cut needs it too, to see the confirmation.
		 */
		if (n->cfg.update.spawn && mono_ms() - n->upd.last_spawn_mono >= UPD_RESPAWN_MS)
			spawn_installer(n);
		return;
	}
	finished(n, &j);
	/* the version on disk is not this one (a rollback while we ran) */
	if (strcmp(j.outcome, UPD_OUT_OK) == 0 ? strcmp(j.version, LOAXA_VERSION) != 0
					       : strcmp(j.from, LOAXA_VERSION) != 0) {
		snprintf(msg, sizeof(msg), "update %s: %s, the version on disk is %s", j.id,
			 j.outcome, strcmp(j.outcome, UPD_OUT_OK) == 0 ? j.version : j.from);
		exec_binary(n, msg);
	}
}

static void trial_tick(struct node *n, int64_t mono)
{
	char path[PATH_MAX];
	int rc;

	if (!n->upd.confirmed && n->upd.ctl_up_since &&
	    mono - n->upd.ctl_up_since >= UPD_CONFIRM_AFTER_MS) {
		char text[UPD_ID_MAX + UPD_VERSION_MAX + 4];

		/* our status (with the new version) went out when the link came up */
		snprintf(text, sizeof(text), "%s %s\n", n->upd.pending.id, LOAXA_VERSION);
		path_of(n, "confirm", path, sizeof(path));
		rc = write_file_atomic(path, text, strlen(text), 0640);
		if (rc < 0)
			log_warnx("update %s: cannot write %s: %s", n->upd.pending.id, path,
				  strerror(-rc));
		else {
			n->upd.confirmed = 1;
			log_info("update %s: version %s is online: confirmed", n->upd.pending.id,
				 LOAXA_VERSION);
		}
	}
	follow_journal(n);
}

static void update_tick(struct node *n, int64_t mono)
{
	char why[160];

	/* every wake-up runs the ticks (a play wakes the loop every period): once a second */
	if (mono < n->upd.next_mono)
		return;
	n->upd.next_mono = mono + UPD_TICK_MS;
	if (node_mqtt_connected(n, NODE_CONN_CTL)) {
		if (!n->upd.ctl_up_since)
			n->upd.ctl_up_since = mono;
	} else {
		n->upd.ctl_up_since = 0;
	}
	switch (n->upd.phase) {
	case UPD_IDLE:
		break;
	case UPD_FETCHING:
		if (cache_has(&n->cache, n->upd.pending.content))
			update_content_ready(n, n->upd.pending.content);
		else
			fetch_want(n, n->upd.pending.content, n->upd.pending.bytes);
		break;
	case UPD_WAITING:
		if (!cache_has(&n->cache, n->upd.pending.content)) {
			n->upd.phase = UPD_FETCHING; /* evicted or removed: fetch again */
			break;
		}
		if (quiet_now(n, why, sizeof(why))) {
			start_install(n);
		} else if (strcmp(why, n->upd.waiting_why) != 0) {
			log_info("update %s: waiting for a quiet moment: %s", n->upd.pending.id,
				 why);
			snprintf(n->upd.waiting_why, sizeof(n->upd.waiting_why), "%s", why);
			status_dirty(n);
		}
		break;
	case UPD_INSTALLING:
		follow_journal(n);
		break;
	case UPD_TRIAL:
		trial_tick(n, mono);
		break;
	}
}

int update_on_cmd(struct node *n, const char *topic, const struct envelope *env)
{
	json_t *o = json_loadb((const char *)env->body, env->body_len, JSON_REJECT_DUPLICATES,
			       NULL);
	const char *name = json_is_object(o) ? json_string_value(json_object_get(o, "cmd"))
					      : NULL;
	const char *id, *node, *version, *arch, *content;
	json_t *bytes;
	uint64_t max = n->cfg.cache_max_bytes < UPD_MAX_BYTES ? n->cfg.cache_max_bytes
							       : UPD_MAX_BYTES;
	char why[300], path[PATH_MAX];
	struct upd_rec r;
	int rc = 0;

	if (!name || strcmp(name, "update") != 0)
		goto out;
	rc = 1;
	id = json_string_value(json_object_get(o, "id"));
	node = json_string_value(json_object_get(o, "node"));
	version = json_string_value(json_object_get(o, "version"));
	arch = json_string_value(json_object_get(o, "arch"));
	content = json_string_value(json_object_get(o, "content"));
	bytes = json_object_get(o, "bytes");
	if (!id || !broadcast_id_valid(id)) {
		log_warnx("rejected message on %s: update: field \"id\" must be a command id",
			  topic);
		n->rejected_body++;
		status_dirty(n);
		goto out;
	}
	if (!node || !name_valid(node)) {
		snprintf(why, sizeof(why), "update: field \"node\" must name the node the "
			 "package is for");
		goto refuse;
	}
	if (strcmp(node, n->cfg.node) != 0) {
		/* signed for another node and brought here: as a copy on a wrong topic */
		log_warnx("refused update command on %s: it is for node %s, not for this node "
			  "(%s)", topic, node, n->cfg.node);
		n->rejected_target++;
		status_dirty(n);
		goto out;
	}
	if (!version || !upd_version_valid(version)) {
		snprintf(why, sizeof(why), "update: field \"version\" must be a package version");
		goto refuse;
	}
	if (!arch || strlen(arch) >= sizeof(r.arch) || !name_valid(arch)) {
		snprintf(why, sizeof(why), "update: field \"arch\" must be a Debian "
			 "architecture (amd64, arm64, armhf)");
		goto refuse;
	}
	if (!content || !content_id_valid(content)) {
		snprintf(why, sizeof(why), "update: field \"content\" must be the package's "
			 "SHA-256 (64 lowercase hex digits)");
		goto refuse;
	}
	if (!json_is_integer(bytes) || json_integer_value(bytes) < 1 ||
	    (uint64_t)json_integer_value(bytes) > max) {
		snprintf(why, sizeof(why), "update: field \"bytes\" must be the package's size, "
			 "1 to %" PRIu64 " bytes (cache_max_mb, at most 64 MiB)", max);
		goto refuse;
	}
	if (strcmp(arch, upd_build_arch()) != 0) {
		snprintf(why, sizeof(why), "the package is for %s, this node is %s", arch,
			 upd_build_arch());
		goto refuse_logged;
	}
	if (strcmp(version, LOAXA_VERSION) == 0) {
		snprintf(why, sizeof(why), "this node already runs version %s", version);
		goto refuse_logged;
	}
	if (n->upd.phase == UPD_INSTALLING || n->upd.phase == UPD_TRIAL) {
		snprintf(why, sizeof(why), "version %s is being installed; send the update again "
			 "when that is over", n->upd.pending.version);
		goto refuse_logged;
	}
	if (n->upd.phase != UPD_IDLE && strcmp(n->upd.pending.id, id) == 0) {
		confirm(n, id, "ok", "under way");
		goto out;
	}
	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.version, sizeof(r.version), "%s", version);
	snprintf(r.arch, sizeof(r.arch), "%s", arch);
	snprintf(r.content, sizeof(r.content), "%s", content);
	snprintf(r.from, sizeof(r.from), "%s", LOAXA_VERSION);
	r.bytes = (uint64_t)json_integer_value(bytes);
	r.at = now_ms();
	path_of(n, "pending.json", path, sizeof(path));
	if (upd_write(path, &r) < 0) {
		snprintf(why, sizeof(why), "cannot store the command in %s", path);
		confirm(n, id, "failed", why);
		goto out;
	}
	if (n->upd.phase != UPD_IDLE)
		log_info("update %s replaces update %s (version %s)", id, n->upd.pending.id,
			 n->upd.pending.version);
	n->upd.pending = r;
	n->upd.phase = UPD_FETCHING;
	n->upd.waiting_why[0] = '\0';
	log_info("update %s: version %s (package %.12s, %" PRIu64 " bytes) accepted; "
		 "fetching it", id, version, content, r.bytes);
	fetch_want(n, content, r.bytes);
	confirm(n, id, "ok", "fetching the package");
	status_dirty(n);
	goto out;
refuse:
	log_warnx("rejected message on %s: %s", topic, why);
	n->rejected_body++;
	confirm(n, id, "refused", why);
	status_dirty(n);
	goto out;
refuse_logged:
	log_warnx("refused update %s to version %s: %s", id, version, why);
	confirm(n, id, "refused", why);
	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	snprintf(r.version, sizeof(r.version), "%s", version);
	snprintf(r.from, sizeof(r.from), "%s", LOAXA_VERSION);
	snprintf(r.outcome, sizeof(r.outcome), "%s", UPD_OUT_REFUSED);
	snprintf(r.error, sizeof(r.error), "%s", why);
	r.at = now_ms();
	n->upd.last = r;
	n->upd.have_last = 1;
	status_dirty(n);
out:
	json_decref(o);
	return rc;
}

int update_init(struct node *n)
{
	char dir[PATH_MAX], path[PATH_MAX], why[256];
	struct upd_rec j, req;
	int rc, have_j, have_req;

	memset(&n->upd, 0, sizeof(n->upd));
	path_of(n, "", dir, sizeof(dir));
	rc = mkdir_p(dir, 0750);
	if (rc < 0) {
		log_errorx("cannot create %s: %s", dir, strerror(-rc));
		return rc;
	}
	path_of(n, "journal.json", path, sizeof(path));
	rc = upd_read(path, &j, why, sizeof(why));
	if (rc < 0 && rc != -ENOENT)
		log_warnx("update: %s (ignored)", why);
	have_j = rc == 0;
	if (have_j && strcmp(j.step, UPD_STEP_DONE) == 0) {
		n->upd.last = j;
		n->upd.have_last = 1;
	}
	path_of(n, "request.json", path, sizeof(path));
	rc = upd_read(path, &req, why, sizeof(why));
	if (rc < 0 && rc != -ENOENT)
		log_warnx("update: %s (ignored)", why);
	have_req = rc == 0;
	if (have_req && (!have_j || strcmp(j.id, req.id) != 0 ||
			 strcmp(j.step, UPD_STEP_DONE) != 0)) {
		n->upd.pending = req;
		if (have_j && strcmp(j.id, req.id) == 0 && strcmp(j.step, UPD_STEP_INSTALLED) == 0 &&
		    strcmp(j.version, LOAXA_VERSION) == 0) {
			n->upd.phase = UPD_TRIAL;
			log_info("update %s: this is version %s on trial: it confirms once it "
				 "reaches the broker (within %d s)", req.id, LOAXA_VERSION,
				 n->cfg.update.confirm_s);
		} else {
			/* an installer runs, or was interrupted: it finishes or recovers */
			n->upd.phase = UPD_INSTALLING;
			n->upd.requested_mono = mono_ms();
			log_info("update %s to version %s is with the installer (step %s)",
				 req.id, req.version, have_j && strcmp(j.id, req.id) == 0 ? j.step
											   : "none yet");
		}
		return 0;
	}
	path_of(n, "pending.json", path, sizeof(path));
	rc = upd_read(path, &req, why, sizeof(why));
	if (rc == 0) {
		n->upd.pending = req;
		n->upd.phase = UPD_FETCHING;
		log_info("update %s to version %s: carrying on", req.id, req.version);
	} else if (rc != -ENOENT) {
		log_warnx("update: %s: dropped", why);
		unlink(path);
	}
	return 0;
}

/* ---- the event loop and the status ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	update_tick(arg, mono);
}

/* once a second while something is under way (and to see the link come up) */
static int64_t loop_deadline(void *arg)
{
	const struct node *n = arg;

	return n->upd.phase == UPD_IDLE ? INT64_MAX : n->upd.next_mono;
}

static const char *state_name(const struct node *n)
{
	switch (n->upd.phase) {
	case UPD_FETCHING: return "fetching";
	case UPD_WAITING: return "waiting";
	case UPD_INSTALLING: return "installing";
	case UPD_TRIAL: return "confirming";
	default: return "done";
	}
}

static void status_part(struct node *n, json_t *status)
{
	const struct upd_rec *r;
	json_t *u;

	json_object_set_new(status, "arch", json_string(upd_build_arch()));
	if (n->upd.phase == UPD_IDLE && !n->upd.have_last)
		return;
	r = n->upd.phase == UPD_IDLE ? &n->upd.last : &n->upd.pending;
	u = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "state", state_name(n), "id", r->id,
		      "version", r->version, "outcome",
		      n->upd.phase == UPD_IDLE ? r->outcome : "", "at", (json_int_t)r->at,
		      "error", n->upd.phase == UPD_WAITING ? n->upd.waiting_why : r->error);
	if (u)
		json_object_set_new(status, "update", u);
}

int update_register(struct loop *l, struct node *n)
{
	int rc = status_provider_add(n, status_part);

	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "update", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
