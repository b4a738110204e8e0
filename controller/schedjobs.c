/*
 * schedjobs.c - check, apply and announce as jobs; see schedjobs.h (what
 * it owns and what it must not do).
 */
#include "schedjobs.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <sodium.h>

#include "approval.h"
#include "auth.h"
#include "ctl.h"
#include "ctlutil.h"
#include "hours.h"
#include "imports.h"
#include "log.h"
#include "schedapi.h"
#include "scheduler.h"
#include "schedstore.h"
#include "util.h"

/*
 * Schedule files parsed at once, each in a thread of its own; more are
 * answered 503. libconfig takes seconds for a file near the limit, so a
 * parse never runs in the loop (issue 14, point 8).
 */
#define SCHED_PARSERS 2

/*
 * One schedule file as sent (never a path: the controller opens no file an
 * operator names; schedfile.h).
 */
struct parse_file {
	char *name;                   /* as the operator named it: a label */
	char *text;
	size_t len;
	json_t *audio;                /* its audio map (schedfile.h) */
};

struct sched_job {
	struct sched_job *next;
	struct ctl *c;
	enum sched_job_kind kind;
	int listed;                   /* in c->sched->jobs */
	/*
	 * The files to parse. While parsing is set, a worker thread owns set
	 * and msgs (and nothing else of the job); it sets parsed and wakes
	 * the loop through wake_fd when done, and the loop joins it.
	 */
	char *body;                   /* the request's, until decoded (job_decode) */
	size_t body_len;
	char refused[600];            /* why the request is refused as a whole */
	int refused_rc;
	struct parse_file *files;
	size_t nfiles;
	int64_t max_bytes, max_total;
	int wake_fd;
	pthread_t thread;
	int parsing;
	atomic_int parsed;
	struct ctl_principal who;     /* apply: whose scope the items must be in */
	int has_who;
	struct sched_set set;         /* the new items */
	struct sched_msgs msgs;
	json_t *waiting;              /* source key -> [ "i:c" | "i:h", ... ] */
	json_t *resolved;             /* source key -> [content, duration_ms, bytes] */
	/*
	 * Audio files the controller has not imported yet: source key ->
	 * {"sha256","music","title","refs":[{"file","line","field","value"}]}.
	 * The client uploads them (POST /v1/content) and asks again.
	 */
	json_t *uploads;
	int pending;                  /* imports not yet done */
	int setup;                    /* still being set up: do not finish */
	void (*done)(void *ctx, unsigned status, json_t *reply);
	void *done_ctx;
	int finished;
	int64_t edit_draft;           /* > 0: the new content of this draft */
	int64_t approve_draft;        /* > 0: store it as the approval of this draft */
	char files_text[256];         /* apply: the files, as a draft's title */
	unsigned draft_status;        /* the HTTP status of a draft that failed */
	int outside_hours;            /* plays outside allowed hours confirmed */
};

struct import_wait {
	struct sched_job *job;
	char key[160];
	char title[SCHED_TITLE_MAX];
};

/* ------------------------------------------------------------ jobs */

static void job_free(struct sched_job *job)
{
	struct sched_job **pp;
	size_t i;

	for (pp = &job->c->sched->jobs; *pp; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	for (i = 0; i < job->nfiles; i++) {
		free(job->files[i].name);
		free(job->files[i].text);
		json_decref(job->files[i].audio);
	}
	free(job->files);
	free(job->body);
	sched_set_free(&job->set);
	sched_msgs_free(&job->msgs);
	json_decref(job->waiting);
	json_decref(job->resolved);
	json_decref(job->uploads);
	free(job);
}

static json_t *item_summary(const struct sched_item *it)
{
	json_t *o = sched_item_to_json(it);

	if (o) {
		json_object_del(o, "source");
		json_object_del(o, "chime_file");
	}
	return o;
}

static int count_occ(void *arg, const struct sched_occ *occ)
{
	(void)occ;
	(*(int *)arg)++;
	return 0;
}

/*
 * Checks that need the world: zones, nodes, hours, conflicts, over the
 * horizon from now. others: items that stay as they are (for check and apply: the
 * announcements; for an announcement: everything stored).
 */
static int job_check_world(struct sched_job *job, json_t *conflicts, int with_schedule,
			   int with_announcements)
{
	struct ctl *c = job->c;
	struct sched_set all = { NULL, 0, 0 };
	struct sched_node_info *nodes = NULL;
	struct sched_world w;
	size_t i, nn = 0, first_new;
	int64_t now = now_ms();
	int rc;

	for (i = 0; i < c->sched->items.n; i++) {
		const struct sched_item *it = &c->sched->items.items[i];
		int ann = strcmp(it->file, "announce") == 0;

		if ((ann && with_announcements) || (!ann && with_schedule))
			if (sched_set_add(&all, it) < 0)
				goto nomem;
	}
	first_new = all.n;
	for (i = 0; i < job->set.n; i++)
		if (sched_set_add(&all, &job->set.items[i]) < 0)
			goto nomem;
	/* a new id may not take the id of an item that stays */
	for (i = first_new; i < all.n; i++) {
		size_t j;

		for (j = 0; j < first_new; j++)
			if (strcmp(all.items[i].id, all.items[j].id) == 0)
				sched_error(&job->msgs, "%s:%d: field \"id\": \"%s\" is already "
					    "used by %s", all.items[i].file, all.items[i].line,
					    all.items[i].id, strcmp(all.items[j].file,
					    "announce") ? "a schedule item" : "an announcement");
	}
	/* a relay of a line-in names a capture device of controller.cfg, never
	 * an ALSA string (ALSA names can run commands: docs/security.md) */
	for (i = first_new; i < all.n; i++) {
		const struct sched_item *it = &all.items[i];
		char why[600];

		if (it->src == SCHED_SRC_RELAY && strncmp(it->source, "alsa:", 5) == 0 &&
		    !ctl_capture_pcm(&c->cfg, NULL, it->source + 5, why, sizeof(why)))
			sched_error(&job->msgs, "%s:%d: field \"source\": item \"%s\": %s",
				    it->file, it->content_line, it->id, why);
	}
	rc = ctl_schedstore_nodes(c, &nodes, &nn);
	if (rc < 0)
		goto out;
	w.site = &c->cfg.sched;
	w.nodes = nodes;
	w.nnodes = nn;
	w.hours_from = first_new;
	rc = sched_check_world(&all, &w, now, now + (int64_t)c->cfg.sched.horizon_days *
			       CTL_SCHED_MS_PER_DAY, &job->msgs, conflicts);
	if (rc == -EINVAL)
		rc = 0;
	goto out;
nomem:
	rc = -ENOMEM;
out:
	free(nodes);
	sched_set_free(&all);
	return rc;
}

/* All items of the job in one transaction: every file or none. */
static int job_store(struct sched_job *job)
{
	struct ctl *c = job->c;
	int64_t now = now_ms();
	size_t i;
	int rc;

	rc = ctl_db_begin(&c->db);
	if (rc < 0)
		return rc;
	if (job->kind == JOB_APPLY)
		rc = ctl_schedstore_schedule_clear(c);
	for (i = 0; rc == 0 && job->kind == JOB_APPLY && i < job->nfiles; i++)
		rc = ctl_schedstore_file_add(c, i + 1, job->files[i].name, job->files[i].text,
					     job->files[i].len, job->files[i].audio, now);
	for (i = 0; rc == 0 && i < job->set.n; i++)
		rc = ctl_schedstore_item_add(c, &job->set.items[i],
					     job->kind == JOB_ANNOUNCE ? "announce" : "schedule");
	/* an approved draft moves in the transaction that stores what it became */
	if (rc == 0 && job->approve_draft > 0) {
		char detail[160];

		snprintf(detail, sizeof(detail), "became %s%s", job->kind == JOB_ANNOUNCE ?
			 "announcement " : "the schedule (", job->kind == JOB_ANNOUNCE ?
			 job->set.items[0].id : "applied)");
		rc = ctl_draft_approved_tx(c, job->has_who ? &job->who : NULL, job->approve_draft,
					   job->kind == JOB_ANNOUNCE ? job->set.items[0].id :
					   "schedule", detail);
	}
	if (rc < 0) {
		ctl_db_rollback(&c->db);
		return rc;
	}
	rc = ctl_db_commit(&c->db);
	if (rc < 0)
		return rc;
	return ctl_sched_reload(c);
}

/* The zones an item plays in, added to arr (a draft's reading scope). */
static void item_zones(struct ctl *c, const struct sched_item *it, json_t *arr)
{
	size_t i;

	if (it->all)
		ctl_approval_target_zones(c, NULL, NULL, 1, arr);
	for (i = 0; i < it->nzones; i++)
		ctl_approval_target_zones(c, it->zones[i], NULL, 0, arr);
	for (i = 0; i < it->nnodes; i++)
		ctl_approval_target_zones(c, NULL, it->nodes[i], 0, arr);
}

/* "zone thon-1", "node n1", "all", "zones thon-1, thon-2", ... */
static void item_target(const struct sched_item *it, char *out, size_t outlen)
{
	size_t i, off = 0;

	out[0] = '\0';
	if (it->all) {
		snprintf(out, outlen, "all");
		return;
	}
	if (it->nzones)
		off += (size_t)snprintf(out + off, outlen - off, "zone%s ", it->nzones > 1 ? "s"
					: "");
	for (i = 0; i < it->nzones && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? ", " : "",
					it->zones[i]);
	if (it->nnodes && off < outlen)
		off += (size_t)snprintf(out + off, outlen - off, "%snode%s ", off ? "; " : "",
					it->nnodes > 1 ? "s" : "");
	for (i = 0; i < it->nnodes && off < outlen; i++)
		off += (size_t)snprintf(out + off, outlen - off, "%s%s", i ? ", " : "",
					it->nodes[i]);
}

/*
 * Does this request wait for an approver (approval.h)? An edit of a draft
 * always does; an apply by someone without the approve right always does
 * (operators could never apply a schedule alone); an announcement when
 * controller.cfg asks for approval at its level in a zone it plays in.
 */
static int job_waits(struct sched_job *job)
{
	const struct sched_item *it;
	const char *level;
	size_t i, j;

	if (job->edit_draft > 0)
		return 1;
	if (!job->has_who || (job->who.perms & PERM_APPROVE))
		return 0;
	if (job->kind == JOB_APPLY)
		return 1;
	for (i = 0; i < job->set.n; i++) {
		it = &job->set.items[i];
		level = sched_level_name(it->level);
		if (it->all && ctl_approval_needed(job->c, &job->who, level, NULL, NULL, 1))
			return 1;
		for (j = 0; j < it->nzones; j++)
			if (ctl_approval_needed(job->c, &job->who, level, it->zones[j], NULL, 0))
				return 1;
		for (j = 0; j < it->nnodes; j++)
			if (ctl_approval_needed(job->c, &job->who, level, NULL, it->nodes[j], 0))
				return 1;
	}
	return 0;
}

/* Keep the checked, resolved items as a draft (new, or an edit's content). */
static int job_save_draft(struct sched_job *job, int64_t *id)
{
	struct ctl *c = job->c;
	struct ctl_draft_new d;
	json_t *items = json_array(), *zones = json_array(), *payload = NULL;
	char target[256], title[SCHED_TITLE_MAX + 64], err[600];
	const char *level = "normal";
	int top = -1, rc;
	size_t i;

	for (i = 0; items && zones && i < job->set.n; i++) {
		const struct sched_item *it = &job->set.items[i];

		json_array_append_new(items, sched_item_to_json(it));
		item_zones(c, it, zones);
		if (it->level > top) {
			top = it->level;
			level = sched_level_name(it->level);
		}
	}
	if (job->kind == JOB_ANNOUNCE && job->set.n == 1) {
		const struct sched_item *it = &job->set.items[0];

		payload = json_pack("{s:O, s:b}", "item", json_array_get(items, 0),
				    "outside_hours", job->outside_hours);
		item_target(it, target, sizeof(target));
		snprintf(title, sizeof(title), "%s", it->title);
		d.at = sched_local_ms(it->from, it->times[0]);
	} else {
		/* the files as sent: an approved apply stores them (sched_files) */
		json_t *sources = json_array();

		for (i = 0; sources && i < job->nfiles; i++)
			json_array_append_new(sources, json_pack("{s:s, s:s%, s:O}", "name",
								 job->files[i].name, "text",
								 job->files[i].text,
								 job->files[i].len, "audio",
								 job->files[i].audio));
		payload = json_pack("{s:O, s:s, s:o, s:b}", "items", items, "files",
				    job->files_text, "sources", sources, "outside_hours",
				    job->outside_hours);
		snprintf(target, sizeof(target), "the schedule (%zu item%s)", job->set.n,
			 job->set.n == 1 ? "" : "s");
		snprintf(title, sizeof(title), "schedule %s", job->files_text);
		d.at = 0;
	}
	if (!payload || !zones) {
		json_decref(items);
		json_decref(zones);
		json_decref(payload);
		sched_error(&job->msgs, "out of memory");
		return -ENOMEM;
	}
	d.kind = job->kind == JOB_ANNOUNCE ? "announce" : "apply";
	d.title = title;
	d.level = level;
	d.target = target;
	d.zones = zones;
	d.payload = payload;
	rc = ctl_draft_save(c, job->has_who ? &job->who : NULL, job->edit_draft, &d, id, err,
			    sizeof(err));
	if (rc < 0) {
		sched_error(&job->msgs, "%s", err);
		job->draft_status = rc == -ENOENT ? 404 : rc == -EPERM ? 403 : rc == -EINVAL ?
			409 : 500;
	}
	json_decref(items);
	json_decref(zones);
	json_decref(payload);
	return rc;
}

/*
 * Plays outside allowed hours (warnings counted in msgs.nhours) are stored
 * only when the operator confirmed them (issue 16): then the confirmation
 * is logged and audited; else one error says what to do. 1 = go on.
 */
static int hours_confirmed(struct sched_job *job)
{
	const struct ctl_principal *who = job->has_who ? &job->who : NULL;
	char what[300], why[80];
	size_t n = job->msgs.nhours;

	if (!job->outside_hours) {
		sched_error(&job->msgs, "%zu play%s would be outside the allowed hours (see the "
			    "warnings): nothing was %s. Move %s into the allowed hours, or confirm "
			    "with --outside-hours (API: \"outside_hours\": true) that %s must "
			    "play then", n, n == 1 ? "" : "s", job->kind == JOB_APPLY ? "applied"
			    : "stored", n == 1 ? "it" : "them", n == 1 ? "it" : "they");
		return 0;
	}
	if (job->approve_draft > 0)
		snprintf(what, sizeof(what), "draft %" PRId64 " (%s)", job->approve_draft,
			 job->kind == JOB_APPLY ? "schedule apply" : "announcement");
	else if (job->kind == JOB_APPLY)
		snprintf(what, sizeof(what), "schedule apply %s", job->files_text);
	else
		snprintf(what, sizeof(what), "announcement \"%.200s\"", job->set.n ?
			 job->set.items[0].title : "");
	snprintf(why, sizeof(why), "%zu play%s outside the allowed hours, confirmed", n,
		 n == 1 ? "" : "s");
	ctl_hours_confirmed(job->c, who, what, why);
	return 1;
}

static void job_finish(struct sched_job *job, unsigned *status_out, json_t **reply_out)
{
	struct ctl *c = job->c;
	json_t *conflicts = json_array(), *items = json_array(), *reply;
	int64_t now = now_ms(), draft = 0;
	unsigned status = 200;
	int occ = 0, rc = 0, ok;
	size_t i;

	*reply_out = NULL;
	*status_out = 500;
	if (job->finished)
		return;
	job->finished = 1;
	if (sched_nerrors(&job->msgs) == 0)
		rc = job_check_world(job, conflicts, job->kind == JOB_ANNOUNCE, 1);
	for (i = 0; i < job->set.n; i++) {
		json_array_append_new(items, item_summary(&job->set.items[i]));
		if (sched_nerrors(&job->msgs) == 0)
			sched_expand(&job->set.items[i], now, now +
				     (int64_t)c->cfg.sched.horizon_days * CTL_SCHED_MS_PER_DAY, count_occ,
				     &occ);
	}
	ok = rc == 0 && sched_nerrors(&job->msgs) == 0;
	if (ok && job->kind != JOB_CHECK && job->msgs.nhours)
		ok = hours_confirmed(job);
	if (ok && job->kind != JOB_CHECK && job->approve_draft == 0 && job_waits(job)) {
		/* checked, imported, and kept as a draft: nothing reaches a plan */
		rc = job_save_draft(job, &draft);
		if (rc < 0)
			ok = 0;
	} else if (ok && job->kind != JOB_CHECK) {
		rc = job_store(job);
		if (rc < 0) {
			sched_error(&job->msgs, "the controller's database failed: nothing was "
				    "changed (see its log)");
			ok = 0;
		} else {
			ctl_sched_replan(c, 0);
		}
	}
	if (rc < 0 && rc != -EIO && !job->draft_status)
		sched_error(&job->msgs, "the controller failed: %s", strerror(-rc));
	if (!ok)
		status = job->draft_status ? job->draft_status : job->kind == JOB_CHECK ? 200
			: 422;
	else if (draft > 0)
		status = job->edit_draft > 0 ? 200 : 202;
	else if (job->kind == JOB_ANNOUNCE && job->approve_draft == 0)
		status = 201;
	reply = json_pack("{s:b, s:O, s:O, s:o, s:o, s:i, s:i}", "ok", ok,
			  "errors", job->msgs.errors, "warnings", job->msgs.warnings,
			  "conflicts", conflicts, "items", items, "occurrences", occ,
			  "horizon_days", c->cfg.sched.horizon_days);
	if (reply && json_object_size(job->uploads)) {
		json_t *up = json_array(), *v;
		const char *k;

		json_object_foreach(job->uploads, k, v)
			json_array_append(up, v);
		json_object_set_new(reply, "upload", up);
	}
	if (reply && ok && (draft > 0 || job->approve_draft > 0))
		json_object_set_new(reply, "draft", ctl_draft_json(c, draft > 0 ? draft
								   : job->approve_draft));
	if (ok && draft > 0)
		; /* approval.c logged the draft */
	else if (ok && job->kind == JOB_APPLY)
		log_info("schedule applied: %zu item%s, %d play%s in the next %d days",
			 job->set.n, job->set.n == 1 ? "" : "s", occ, occ == 1 ? "" : "s",
			 c->cfg.sched.horizon_days);
	else if (ok && job->kind == JOB_ANNOUNCE && job->set.n)
		log_info("announcement %s \"%s\" stored: %d play%s", job->set.items[0].id,
			 job->set.items[0].title, occ, occ == 1 ? "" : "s");
	else if (!ok && job->kind != JOB_CHECK)
		log_info("schedule %s refused: %zu error%s", job->kind == JOB_APPLY ? "apply"
			 : "announcement", sched_nerrors(&job->msgs),
			 sched_nerrors(&job->msgs) == 1 ? "" : "s");
	*status_out = reply ? status : 500;
	*reply_out = reply;
}

static void fill_content(struct sched_job *job, const char *key, const char *content,
			 int64_t duration_ms, int64_t bytes)
{
	json_t *list = json_object_get(job->waiting, key), *v;
	size_t i;

	/* content may point into job->resolved itself: never replace it */
	if (!json_object_get(job->resolved, key))
		json_object_set_new(job->resolved, key,
				    json_pack("[s, I, I]", content, (json_int_t)duration_ms,
					      (json_int_t)bytes));
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		long idx = strtol(s, NULL, 10);
		struct sched_item *it;

		if (idx < 0 || (size_t)idx >= job->set.n)
			continue;
		it = &job->set.items[idx];
		if (strchr(s, 'h')) {
			snprintf(it->chime_content, sizeof(it->chime_content), "%s", content);
			it->chime_ms = duration_ms;
			it->chime_bytes = bytes;
		} else {
			snprintf(it->content, sizeof(it->content), "%s", content);
			it->duration_ms = duration_ms;
			it->bytes = bytes;
		}
	}
}

static void import_failed(struct sched_job *job, const char *key, const char *msg)
{
	json_t *list = json_object_get(job->waiting, key), *v;
	size_t i;

	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		long idx = strtol(s, NULL, 10);
		struct sched_item *it;
		int chime = strchr(s, 'h') != NULL;

		if (idx < 0 || (size_t)idx >= job->set.n)
			continue;
		it = &job->set.items[idx];
		sched_error(&job->msgs, "%s:%d: field \"%s\": %s", it->file,
			    chime ? it->chime_line : it->content_line,
			    chime ? "chime" : it->src == SCHED_SRC_TEXT ? "text" : "content", msg);
		if (chime)
			break;
	}
}

static void source_done(struct ctl *c, void *arg, const struct ctl_import_outcome *out)
{
	struct import_wait *w = arg;
	struct sched_job *job = w->job;
	struct ctl_content_row row;
	int existed = 0, rc;

	if (out->rc < 0) {
		import_failed(job, w->key, out->err[0] ? out->err : strerror(-out->rc));
		goto done;
	}
	rc = ctl_imports_record(c, out, w->title, &row, &existed);
	if (rc == 0)
		rc = ctl_schedstore_source_put(c, w->key, row.id);
	if (rc < 0) {
		import_failed(job, w->key, "imported, but the controller could not record it "
			      "(see its log)");
		goto done;
	}
	log_info("imported %s as content %s (%.1f s)", w->title, ctl_short_id(row.id),
		 (double)row.duration_ms / 1000.0);
	fill_content(job, w->key, row.id, row.duration_ms, row.bytes);
done:
	free(w);
	job->pending--;
	if (job->pending == 0 && !job->setup) {
		unsigned status;
		json_t *reply;

		job_finish(job, &status, &reply);
		if (job->done)
			job->done(job->done_ctx, status, reply);
		else
			json_decref(reply);
		job_free(job);
	}
}

/* Content id already known for this source (and still in the store)? */
static int source_lookup(struct ctl *c, const char *key, struct ctl_content_row *row)
{
	char id[65] = "", path[PATH_MAX];
	int rc;

	rc = ctl_schedstore_source_get(c, key, id);
	if (rc < 0)
		return rc;
	rc = ctl_db_content_get(&c->db, id, row);
	if (rc < 0)
		return rc;
	if (ctl_content_path(c, id, path, sizeof(path)) < 0 || access(path, R_OK) < 0)
		return -ENOENT;
	return 0;
}

/* the same source imported with other settings is other content */
static void source_key(struct ctl *c, const char *kind, const char *hash, int music,
		       char *key, size_t keylen)
{
	snprintf(key, keylen, "%s:%s:%s:%.1f:%.1f:%d", kind, hash, music ? "m" : "s",
		 c->cfg.import.target_lufs, c->cfg.import.true_peak_dbtp,
		 music ? c->cfg.import.music_kbps : c->cfg.import.speech_kbps);
}

int ctl_sched_source_record(struct ctl *c, const char *src_sha256, int music,
			    const char *content)
{
	char key[160];

	if (!content_id_valid(src_sha256) || !content_id_valid(content))
		return -EINVAL;
	source_key(c, "file", src_sha256, music, key, sizeof(key));
	return ctl_schedstore_source_put(c, key, content);
}

/*
 * An audio file of the schedule the controller has not imported: the
 * client uploads it (POST /v1/content, which remembers the SHA-256 of what
 * it received) and asks again. One error per place that names it, so that
 * a client that does not upload still learns why nothing happened.
 */
static void need_upload(struct sched_job *job, const char *key, const char *hash,
			int music, const char *title, const struct sched_item *it, int chime)
{
	json_t *u = json_object_get(job->uploads, key);
	const char *field = chime ? "chime" : "content";
	int line = chime ? it->chime_line : it->content_line;

	if (!u) {
		u = json_pack("{s:s, s:b, s:s, s:[]}", "sha256", hash, "music", music, "title",
			      title, "refs");
		if (!u || json_object_set_new(job->uploads, key, u) < 0) {
			sched_error(&job->msgs, "out of memory");
			return;
		}
	}
	json_array_append_new(json_object_get(u, "refs"),
			      json_pack("{s:s, s:i, s:s}", "file", it->file, "line", line,
					"field", field));
	sched_error(&job->msgs, "%s:%d: field \"%s\": the controller does not have this "
		    "audio file yet (SHA-256 %.12s...): upload it first (POST /v1/content%s); "
		    "loaxa schedule check|apply does that itself", it->file, line, field, hash,
		    music ? "?music=1" : "");
}

/*
 * Make sure one source is (or will be) content: known -> fill at once;
 * else queue one import for it (several items may wait for the same), or,
 * for an audio file (only its SHA-256 is here), ask the client for it.
 */
static void need_source(struct sched_job *job, size_t idx, int chime, const char *kind,
			const char *src_hash, const char *text, int music, const char *title)
{
	struct ctl *c = job->c;
	struct sched_item *it = &job->set.items[idx];
	struct ctl_content_row row;
	struct import_wait *w;
	char key[160], hash[65], tag[32], tmp[PATH_MAX];
	unsigned char bin[crypto_hash_sha256_BYTES];
	json_t *list;
	int rc;

	if (src_hash) {
		snprintf(hash, sizeof(hash), "%s", src_hash);
	} else if (text) {
		crypto_hash_sha256(bin, (const unsigned char *)text, strlen(text));
		hex_encode(hash, bin, sizeof(bin));
	} else {
		snprintf(hash, sizeof(hash), "v1");
	}
	source_key(c, kind, hash, music, key, sizeof(key));
	snprintf(tag, sizeof(tag), "%zu:%s", idx, chime ? "h" : "c");
	list = json_object_get(job->waiting, key);
	if (list) {
		json_t *r = json_object_get(job->resolved, key);

		json_array_append_new(list, json_string(tag));
		if (r) /* known already: fill this item now, else the import will */
			fill_content(job, key, json_string_value(json_array_get(r, 0)),
				     json_integer_value(json_array_get(r, 1)),
				     json_integer_value(json_array_get(r, 2)));
		else if (src_hash)
			need_upload(job, key, hash, music, title, it, chime);
		return;
	}
	list = json_array();
	json_array_append_new(list, json_string(tag));
	json_object_set_new(job->waiting, key, list);
	if (source_lookup(c, key, &row) == 0) {
		fill_content(job, key, row.id, row.duration_ms, row.bytes);
		return;
	}
	if (src_hash) {
		need_upload(job, key, hash, music, title, it, chime);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		sched_error(&job->msgs, "out of memory");
		return;
	}
	w->job = job;
	snprintf(w->key, sizeof(w->key), "%s", key);
	snprintf(w->title, sizeof(w->title), "%s", title);
	job->pending++;
	if (text) {
		rc = ctl_imports_submit_text(c, text, title, title, source_done, w);
	} else {
		/* the default chime: written here, imported like any file */
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s/chime-%ld.wav", c->tmp_dir,
				     (long)getpid()) >= sizeof(tmp))
			rc = -ENAMETOOLONG;
		else
			rc = sched_write_chime_wav(tmp);
		if (rc == 0)
			rc = ctl_imports_submit(c, tmp, "chime.wav", title, 0, source_done, w);
	}
	if (rc < 0) {
		job->pending--;
		import_failed(job, key, strerror(-rc));
		free(w);
	}
}

/* Resolve what every item plays into content ids (imports when needed). */
static void job_resolve(struct sched_job *job)
{
	struct ctl *c = job->c;
	struct ctl_content_row row;
	size_t i;

	for (i = 0; i < job->set.n; i++) {
		struct sched_item *it = &job->set.items[i];

		switch (it->src) {
		case SCHED_SRC_RELAY:
			break; /* nothing to import: the node plays the source */
		case SCHED_SRC_CONTENT:
			if (ctl_db_content_get(&c->db, it->source, &row) < 0) {
				sched_error(&job->msgs, "%s:%d: field \"content\": no content with id "
					    "%s on this controller (see loaxa content list)",
					    it->file, it->content_line, it->source);
				break;
			}
			snprintf(it->content, sizeof(it->content), "%s", row.id);
			it->duration_ms = row.duration_ms;
			it->bytes = row.bytes;
			break;
		case SCHED_SRC_FILE:
			need_source(job, i, 0, "file", it->source, NULL, it->music, it->title);
			break;
		case SCHED_SRC_TEXT:
			need_source(job, i, 0, "text:vi", NULL, it->text, 0, it->title);
			break;
		}
		if (it->chime == SCHED_CHIME_FILE)
			need_source(job, i, 1, "file", it->chime_file, NULL, 0, "Chime");
		else if (it->chime == SCHED_CHIME_DEFAULT)
			need_source(job, i, 1, "chime", NULL, NULL, 0, "Chime");
	}
}

static void job_list(struct sched_job *job)
{
	if (job->listed)
		return;
	job->next = job->c->sched->jobs;
	job->c->sched->jobs = job;
	job->listed = 1;
}

/* Start the job; finishes at once when nothing has to be imported. */
static int job_run(struct sched_job *job, unsigned *status, json_t **reply)
{
	job_list(job);
	job->setup = 1;
	if (sched_nerrors(&job->msgs) == 0)
		job_resolve(job);
	job->setup = 0;
	if (job->pending > 0)
		return 1;
	job_finish(job, status, reply);
	job_free(job);
	return 0;
}

/* ------------------------------------------------------------ requests */

static struct sched_job *job_new(struct ctl *c, enum sched_job_kind kind,
				 const struct ctl_sched_http *h)
{
	struct sched_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->c = c;
	job->kind = kind;
	job->waiting = json_object();
	job->resolved = json_object();
	job->uploads = json_object();
	if (!job->waiting || !job->resolved || !job->uploads ||
	    sched_msgs_init(&job->msgs) < 0) {
		json_decref(job->waiting);
		json_decref(job->resolved);
		json_decref(job->uploads);
		free(job);
		return NULL;
	}
	if (h) {
		job->done = h->done;
		job->done_ctx = h->done_ctx;
		job->edit_draft = h->edit_draft;
		if (h->who) {
			job->who = *h->who;
			job->has_who = 1;
		}
	}
	return job;
}

/*
 * The operator's scope (auth.h): every target of every item must be in it,
 * and emergencies need the approve right. One error per refused target.
 */
static int authorize_items(struct ctl *c, const struct ctl_principal *who,
			   struct sched_job *job)
{
	char err[256];
	const char *level;
	size_t i, j;
	int bad = 0;

	if (!who)
		return 0;
	for (i = 0; i < job->set.n; i++) {
		const struct sched_item *it = &job->set.items[i];

		level = sched_level_name(it->level);
		if (it->all && ctl_auth_check_target(&c->db, who, NULL, NULL, 1, level, err,
						     sizeof(err)) < 0) {
			sched_error(&job->msgs, "%s:%d: field \"zones\": %s", it->file,
				    it->zones_line, err);
			bad = 1;
		}
		for (j = 0; j < it->nzones; j++)
			if (ctl_auth_check_target(&c->db, who, it->zones[j], NULL, 0, level, err,
						  sizeof(err)) < 0) {
				sched_error(&job->msgs, "%s:%d: field \"zones\": %s", it->file,
					    it->zones_line, err);
				bad = 1;
			}
		for (j = 0; j < it->nnodes; j++)
			if (ctl_auth_check_target(&c->db, who, NULL, it->nodes[j], 0, level, err,
						  sizeof(err)) < 0) {
				sched_error(&job->msgs, "%s:%d: field \"nodes\": %s", it->file,
					    it->nodes_line, err);
				bad = 1;
			}
	}
	return bad ? -EPERM : 0;
}

/*
 * One entry of "files": {"name": label, "text": the file's text, "audio":
 * its audio map}. A path is refused: the controller opens no file an
 * operator names (it would be an oracle for any file its user can read, and
 * under its unit it cannot see the operator's files anyway).
 */
static int file_entry(json_t *f, size_t i, struct parse_file *pf, char *err, size_t errlen)
{
	json_t *text = json_object_get(f, "text"), *audio = json_object_get(f, "audio"), *v;
	const char *name = json_string_value(json_object_get(f, "name")), *k;

	if (json_is_string(f) || json_object_get(f, "path")) {
		snprintf(err, errlen, "files: entry %zu gives a path: the controller reads no "
			 "schedule file itself; send its text instead: {\"name\": \"week.cfg\", "
			 "\"text\": \"items = ( ... );\", \"audio\": {...}} (loaxa schedule "
			 "check|apply does this; docs/schedules.md)", i + 1);
		return -EINVAL;
	}
	if (!json_is_object(f) || !name || !name[0] || strlen(name) > 255 ||
	    !ctl_text_valid(name, strlen(name))) {
		snprintf(err, errlen, "files: entry %zu needs \"name\": the file's name for "
			 "messages, 1 to 255 bytes of text", i + 1);
		return -EINVAL;
	}
	if (!json_is_string(text)) {
		snprintf(err, errlen, "files: entry %zu (%.100s) needs \"text\": the schedule "
			 "file's text", i + 1, name);
		return -EINVAL;
	}
	if (audio && !json_is_object(audio)) {
		snprintf(err, errlen, "files: entry %zu (%.100s): \"audio\" must be an object "
			 "{\"audio/file.mp3\": {\"sha256\": \"...\"}, ...}", i + 1, name);
		return -EINVAL;
	}
	json_object_foreach(audio, k, v)
		if (!json_is_object(v) || strlen(k) >= PATH_MAX) {
			snprintf(err, errlen, "files: entry %zu (%.100s): \"audio\": each file "
				 "named as in the schedule (shorter than %d bytes), each value "
				 "{\"sha256\": \"...\"}", i + 1, name, PATH_MAX);
			return -EINVAL;
		}
	pf->name = strdup(name);
	pf->len = json_string_length(text);
	pf->text = malloc(pf->len + 1);
	if (!pf->name || !pf->text) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(pf->text, json_string_value(text), pf->len);
	pf->text[pf->len] = '\0';
	pf->audio = audio ? json_incref(audio) : json_object();
	return 0;
}

/*
 * The request's body, decoded and checked (in the parser's thread: a body
 * of megabytes takes jansson a tenth of a second and more). 0, or -EINVAL /
 * -ENOMEM with job->refused set: the request is refused as a whole (400).
 */
static int job_decode(struct sched_job *job)
{
	json_t *o, *files, *f;
	long long total = 0;
	size_t i;
	int rc = 0;

	o = ctl_json_object(job->body, job->body_len, job->refused, sizeof(job->refused));
	free(job->body);
	job->body = NULL;
	if (!o)
		return -EINVAL;
	if (ctl_json_bool(o, "outside_hours", CTL_OPTIONAL, &job->outside_hours,
			  job->refused, sizeof(job->refused)) < 0) {
		rc = -EINVAL;
		goto out;
	}
	files = json_object_get(o, "files");
	if (!json_is_array(files) || json_array_size(files) == 0 ||
	    json_array_size(files) > SCHED_MAX_FILES) {
		snprintf(job->refused, sizeof(job->refused), "give \"files\": a list of 1 to %d "
			 "schedule files, each {\"name\": \"week.cfg\", \"text\": \"...\", "
			 "\"audio\": {...}} (docs/schedules.md)", SCHED_MAX_FILES);
		rc = -EINVAL;
		goto out;
	}
	json_array_foreach(files, i, f)
		total += (long long)json_string_length(json_object_get(f, "text"));
	if (total > job->max_total) {
		snprintf(job->refused, sizeof(job->refused), "the schedule files hold %lld bytes "
			 "together, over the limit of %lld bytes for one check or apply "
			 "(schedule.max_total_bytes in controller.cfg): make them smaller or raise "
			 "the limit", total, (long long)job->max_total);
		rc = -EINVAL;
		goto out;
	}
	job->files = calloc(json_array_size(files), sizeof(*job->files));
	if (!job->files) {
		snprintf(job->refused, sizeof(job->refused), "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	json_array_foreach(files, i, f) {
		struct parse_file *pf = &job->files[job->nfiles];
		size_t l = strlen(job->files_text);

		rc = file_entry(f, i, pf, job->refused, sizeof(job->refused));
		job->nfiles++; /* freed with the job, whole or not */
		if (rc < 0)
			break;
		/* a draft of this apply is titled by the files, as typed */
		if (l + strlen(pf->name) + 3 < sizeof(job->files_text))
			snprintf(job->files_text + l, sizeof(job->files_text) - l, "%s%s",
				 l ? ", " : "", pf->name);
	}
out:
	json_decref(o);
	return rc;
}

/* The parse itself: no database, no loop state (it runs in a worker thread). */
static void job_parse(struct sched_job *job)
{
	size_t i;

	if (job_decode(job) < 0) {
		job->refused_rc = 1;
		return;
	}
	for (i = 0; i < job->nfiles; i++)
		sched_parse_text(job->files[i].name, job->files[i].text, job->files[i].len,
				 job->files[i].audio, job->max_bytes, &job->set, &job->msgs);
	sched_check_unique(&job->set, &job->msgs);
}

static void *parse_worker(void *arg)
{
	struct sched_job *job = arg;
	uint64_t one = 1;

	job_parse(job);
	atomic_store(&job->parsed, 1);
	/* an eventfd counter never fills up here: a write only fails on EINTR */
	while (write(job->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	return NULL;
}

/* After the parse (in the loop): scope, imports, the checks, the store. */
static int job_parsed(struct sched_job *job, unsigned *status, json_t **reply)
{
	if (job->refused_rc) {
		*status = strcmp(job->refused, "out of memory") == 0 ? 500 : 400;
		*reply = json_pack("{s:s}", "error", job->refused);
		job_free(job);
		return 0;
	}
	if (job->kind == JOB_APPLY && job->has_who)
		authorize_items(job->c, &job->who, job);
	return job_run(job, status, reply);
}

static int parsers_running(struct ctl *c)
{
	struct sched_job *job;
	int n = 0;

	for (job = c->sched->jobs; job; job = job->next)
		n += job->parsing;
	return n;
}

int ctl_schedjobs_files(struct ctl *c, const struct ctl_sched_http *h,
			enum sched_job_kind kind, unsigned *status, json_t **reply)
{
	char err[256];
	struct sched_job *job;
	int rc;

	/* a caller that cannot be answered later (h->done NULL: tests) waits */
	if (h->done && parsers_running(c) >= SCHED_PARSERS) {
		snprintf(err, sizeof(err), "the controller is already parsing %d schedule "
			 "requests: try again in a few seconds", SCHED_PARSERS);
		*status = 503;
		*reply = json_pack("{s:s}", "error", err);
		return 0;
	}
	/* the body is decoded with the parse, off the loop: a copy of it here */
	job = job_new(c, kind, h);
	if (job)
		job->body = malloc(h->body_len + 1);
	if (!job || !job->body) {
		if (job)
			job_free(job);
		*status = 500;
		*reply = json_pack("{s:s}", "error", "out of memory");
		return 0;
	}
	memcpy(job->body, h->body, h->body_len);
	job->body[h->body_len] = '\0';
	job->body_len = h->body_len;
	job->max_bytes = c->cfg.sched.max_file_bytes;
	job->max_total = c->cfg.sched.max_total_bytes;
	if (!h->done || c->sched->wake_fd < 0) {
		job_parse(job);
		return job_parsed(job, status, reply);
	}
	job->wake_fd = c->sched->wake_fd;
	job_list(job);
	job->parsing = 1;
	rc = pthread_create(&job->thread, NULL, parse_worker, job);
	if (rc != 0) {
		log_errorx("cannot start a schedule parser: %s", strerror(rc));
		job->parsing = 0;
		job_free(job);
		*status = 503;
		*reply = json_pack("{s:s}", "error", "the controller cannot start a parser "
				   "now (see its log): try again");
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------ drafts */

/* A job holding the items of a draft (announce or apply), resolved already. */
static struct sched_job *draft_job(struct ctl *c, const struct ctl_draft *d)
{
	enum sched_job_kind kind = strcmp(d->kind, "announce") == 0 ? JOB_ANNOUNCE : JOB_APPLY;
	struct sched_job *job = job_new(c, kind, NULL);
	json_t *items = kind == JOB_ANNOUNCE ? NULL : json_object_get(d->payload, "items");
	json_t *one = kind == JOB_ANNOUNCE ? json_object_get(d->payload, "item") : NULL, *v;
	json_t *sources;
	struct sched_item it;
	size_t i, n = one ? 1 : json_array_size(items);

	if (!job)
		return NULL;
	for (i = 0; i < n; i++) {
		v = one ? one : json_array_get(items, i);
		if (sched_item_from_json(v, &it) < 0 || sched_set_add(&job->set, &it) < 0) {
			sched_item_free(&it);
			job_free(job);
			return NULL;
		}
		sched_item_free(&it);
	}
	if (job->set.n == 0 && kind == JOB_ANNOUNCE) {
		job_free(job);
		return NULL;
	}
	/* the author's confirmation of plays outside the allowed hours */
	job->outside_hours = json_is_true(json_object_get(d->payload, "outside_hours"));
	/* an apply's files as sent, to store as applied (a draft of before
	 * issue 17 has none: the schedule files are then left empty) */
	sources = json_object_get(d->payload, "sources");
	if (json_array_size(sources)) {
		char err[512];

		job->files = calloc(json_array_size(sources), sizeof(*job->files));
		if (!job->files) {
			job_free(job);
			return NULL;
		}
		json_array_foreach(sources, i, v) {
			int rc = file_entry(v, i, &job->files[job->nfiles], err, sizeof(err));

			job->nfiles++;
			if (rc < 0) {
				job_free(job);
				return NULL;
			}
		}
	}
	return job;
}

int ctl_sched_draft_scope(struct ctl *c, const struct ctl_principal *who,
			  const struct ctl_draft *d, char *err, size_t errlen)
{
	struct sched_job *job = draft_job(c, d);
	const char *msg, *why;
	int rc;

	if (!job) {
		snprintf(err, errlen, "draft %" PRId64 "'s content is damaged in the database: "
			 "reject it", d->id);
		return -EPERM;
	}
	rc = authorize_items(c, who, job);
	if (rc < 0) {
		msg = json_string_value(json_array_get(job->msgs.errors, 0));
		why = msg ? strstr(msg, "\": ") : NULL;
		snprintf(err, errlen, "%s", why ? why + 3 : msg ? msg : "not allowed");
	}
	job_free(job);
	return rc;
}

void ctl_sched_approve(struct ctl *c, const struct ctl_principal *who,
		       const struct ctl_draft *d, unsigned *status, json_t **reply)
{
	struct sched_job *job = draft_job(c, d);

	*reply = NULL;
	if (!job) {
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the draft's content is damaged in the "
				   "database: reject it");
		return;
	}
	/* scheduled as if submitted now: an announcement gets its id now */
	if (job->kind == JOB_ANNOUNCE)
		ctl_sched_announce_id(c, now_ms(), job->set.items[0].id);
	job->approve_draft = d->id;
	job->who = *who;
	job->has_who = 1;
	job_finish(job, status, reply);
	job_free(job);
}

/* ------------------------------------------------------------ announcements */

int ctl_schedjobs_announce(struct ctl *c, const struct ctl_sched_http *h,
			   struct sched_item *it, int outside_hours, unsigned *status,
			   json_t **reply)
{
	struct sched_job *job = job_new(c, JOB_ANNOUNCE, h);

	if (!job || sched_set_add(&job->set, it) < 0) {
		if (job)
			job_free(job);
		sched_item_free(it);
		*status = 500;
		*reply = json_pack("{s:s}", "error", "out of memory");
		return 0;
	}
	sched_item_free(it);
	job->outside_hours = outside_hours;
	if (authorize_items(c, h->who, job) < 0) {
		*status = 403;
		const char *msg = json_string_value(json_array_get(job->msgs.errors, 0));
		const char *why = msg ? strstr(msg, "\": ") : NULL;

		*reply = json_pack("{s:s}", "error", why ? why + 3 : "not allowed");
		job_free(job);
		return 0;
	}
	return job_run(job, status, reply);
}

/* ------------------------------------------------------------ the loop's part */

void ctl_schedjobs_init(struct ctl *c)
{
	c->sched->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->sched->wake_fd < 0)
		log_warn("schedule: eventfd (schedule files are parsed in the loop)");
}

void ctl_schedjobs_stop(struct ctl *c)
{
	struct sched_job *job;

	/* a parse ends by itself: the size limit bounds it to seconds */
	for (job = c->sched->jobs; job; job = job->next)
		if (job->parsing) {
			pthread_join(job->thread, NULL);
			job->parsing = 0;
		}
	while (c->sched->jobs)
		job_free(c->sched->jobs);
	if (c->sched->wake_fd >= 0)
		close(c->sched->wake_fd);
}

int ctl_sched_pollfd(struct ctl *c, struct pollfd *pfd)
{
	if (!c->sched || c->sched->wake_fd < 0)
		return 0;
	*pfd = (struct pollfd){ .fd = c->sched->wake_fd, .events = POLLIN };
	return 1;
}

void ctl_sched_handle(struct ctl *c, const struct pollfd *pfd)
{
	struct sched_job *job;
	uint64_t count;
	unsigned status;
	json_t *reply;

	if (!c->sched || !(pfd->revents & POLLIN))
		return;
	if (read(c->sched->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("schedule: eventfd");
again:
	for (job = c->sched->jobs; job; job = job->next) {
		if (!job->parsing || !atomic_load(&job->parsed))
			continue;
		void (*done)(void *, unsigned, json_t *) = job->done;
		void *done_ctx = job->done_ctx;

		pthread_join(job->thread, NULL);
		job->parsing = 0;
		if (job_parsed(job, &status, &reply) == 1)
			goto again; /* imports: source_done answers */
		/* answered now: job_run has freed the job */
		if (done)
			done(done_ctx, status, reply);
		else
			json_decref(reply);
		goto again;
	}
}
