/*
 * schedules.c - see schedules.h.
 */
#include "schedules.h"
#include "secops.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "approval.h"
#include "auth.h"
#include "ctl.h"
#include "ctlutil.h"
#include "envelope.h"
#include "imports.h"
#include "hours.h"
#include "log.h"
#include "mqtt.h"
#include "util.h"
#include "topic.h"

#define MS_PER_DAY (24LL * 3600 * 1000)
#define SCHED_MAX_NODES 4096

/*
 * Schedule files parsed at once, each in a thread of its own; more are
 * answered 503. libconfig takes seconds for a file near the limit, so a
 * parse never runs in the loop (issue 14, point 8).
 */
#define SCHED_PARSERS 2

enum job_kind { JOB_CHECK, JOB_APPLY, JOB_ANNOUNCE };

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
	enum job_kind kind;
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

/* ------------------------------------------------------------ db helpers */

static int sdb_fail(struct ctl *c, const char *what)
{
	log_errorx("%s: %s: %s", c->db.path, what, sqlite3_errmsg(c->db.h));
	return -EIO;
}

static int sdb_prep(struct ctl *c, sqlite3_stmt **st, const char *sql, const char *what)
{
	if (sqlite3_prepare_v2(c->db.h, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return sdb_fail(c, what);
	}
	return 0;
}

static int sdb_exec(struct ctl *c, const char *sql, const char *what)
{
	if (sqlite3_exec(c->db.h, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sdb_fail(c, what);
	return 0;
}

/* The known nodes with the zones they reported. */
static int load_nodes(struct ctl *c, struct sched_node_info **out, size_t *n)
{
	sqlite3_stmt *st = NULL;
	struct sched_node_info *v = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	rc = sdb_prep(c, &st, "SELECT n.id, z.zone FROM nodes n LEFT JOIN node_zones z "
		      "ON z.node = n.id ORDER BY n.id, z.pos", "cannot read the nodes");
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		const char *zone = (const char *)sqlite3_column_text(st, 1);

		if (!id)
			continue;
		if (!*n || strcmp(v[*n - 1].id, id) != 0) {
			if (*n == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct sched_node_info *nv = realloc(v, ncap * sizeof(*nv));

				if (!nv) {
					rc = -ENOMEM;
					goto out;
				}
				v = nv;
				cap = ncap;
			}
			memset(&v[*n], 0, sizeof(v[*n]));
			snprintf(v[*n].id, sizeof(v[*n].id), "%s", id);
			(*n)++;
		}
		if (zone && v[*n - 1].nzones < 32)
			snprintf(v[*n - 1].zones[v[*n - 1].nzones++], SCHED_NAME_MAX, "%s", zone);
	}
	rc = rc == SQLITE_DONE ? 0 : sdb_fail(c, "cannot read the nodes");
out:
	sqlite3_finalize(st);
	if (rc < 0) {
		free(v);
		*n = 0;
		return rc;
	}
	*out = v;
	return 0;
}

/* Load the stored items (schedule and announcements) into memory. */
static int load_items(struct ctl *c, struct sched_set *set)
{
	sqlite3_stmt *st = NULL;
	struct sched_item it;
	int rc;

	rc = sdb_prep(c, &st, "SELECT id, def FROM sched_items ORDER BY kind DESC, rowid",
		      "cannot read the schedule");
	if (rc < 0)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *def = (const char *)sqlite3_column_text(st, 1);
		json_t *j = def ? json_loads(def, 0, NULL) : NULL;

		if (sched_item_from_json(j, &it) < 0) {
			log_errorx("%s: schedule item %s is damaged in the database: skipped",
				   c->db.path, (const char *)sqlite3_column_text(st, 0));
		} else if (sched_set_add(set, &it) < 0) {
			sched_item_free(&it);
			json_decref(j);
			rc = -ENOMEM;
			goto out;
		}
		sched_item_free(&it);
		json_decref(j);
	}
	rc = rc == SQLITE_DONE ? 0 : sdb_fail(c, "cannot read the schedule");
out:
	sqlite3_finalize(st);
	return rc;
}

static int reload_items(struct ctl *c)
{
	struct sched_set fresh = { NULL, 0, 0 };
	int rc = load_items(c, &fresh);

	if (rc < 0) {
		sched_set_free(&fresh);
		return rc;
	}
	sched_set_free(&c->sched->items);
	c->sched->items = fresh;
	c->sched->dirty = 1;
	return 0;
}

/*
 * Cancelled occurrences, kept in memory (a plan build asks for every
 * occurrence of every node); reloaded after a cancel.
 */
static int is_cancelled(struct ctl *c, const char *occ)
{
	sqlite3_stmt *st = NULL;

	if (!c->sched->cancelled) {
		c->sched->cancelled = json_object();
		if (!c->sched->cancelled)
			return 0;
		if (sdb_prep(c, &st, "SELECT occurrence FROM sched_cancelled",
			     "cannot read the cancelled plays") < 0)
			return 0;
		while (sqlite3_step(st) == SQLITE_ROW)
			json_object_set_new(c->sched->cancelled,
					    (const char *)sqlite3_column_text(st, 0), json_true());
		sqlite3_finalize(st);
	}
	return json_object_get(c->sched->cancelled, occ) != NULL;
}

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
	rc = load_nodes(c, &nodes, &nn);
	if (rc < 0)
		goto out;
	w.site = &c->cfg.sched;
	w.nodes = nodes;
	w.nnodes = nn;
	w.hours_from = first_new;
	rc = sched_check_world(&all, &w, now, now + (int64_t)c->cfg.sched.horizon_days *
			       MS_PER_DAY, &job->msgs, conflicts);
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

static int store_item(struct ctl *c, const struct sched_item *it, const char *kind)
{
	sqlite3_stmt *st = NULL;
	json_t *j = sched_item_to_json(it);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc;

	json_decref(j);
	if (!text)
		return -ENOMEM;
	rc = sdb_prep(c, &st, "INSERT INTO sched_items (id, kind, def, created) VALUES "
		      "(?, ?, ?, ?)", "cannot store the schedule");
	if (rc == 0) {
		sqlite3_bind_text(st, 1, it->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sdb_fail(c, "cannot store the schedule");
	}
	sqlite3_finalize(st);
	free(text);
	return rc;
}

/*
 * The files of an apply, as sent: what the schedule was made from (the
 * controller has no other copy; backups carry them, backup.c).
 */
static int store_file(struct ctl *c, size_t pos, const struct parse_file *f, int64_t now)
{
	unsigned char bin[crypto_hash_sha256_BYTES];
	char hash[65], *audio = json_dumps(f->audio, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!audio)
		return -ENOMEM;
	crypto_hash_sha256(bin, (const unsigned char *)f->text, f->len);
	hex_encode(hash, bin, sizeof(bin));
	rc = sdb_prep(c, &st, "INSERT INTO sched_files (pos, name, text, audio, sha256, "
		      "applied) VALUES (?, ?, ?, ?, ?, ?)", "cannot store the schedule files");
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)pos);
		sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, f->text, (int)f->len, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, audio, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sdb_fail(c, "cannot store the schedule files");
	}
	sqlite3_finalize(st);
	free(audio);
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
		rc = sdb_exec(c, "DELETE FROM sched_items WHERE kind = 'schedule'; "
			      "DELETE FROM sched_files", "cannot replace the schedule");
	for (i = 0; rc == 0 && job->kind == JOB_APPLY && i < job->nfiles; i++)
		rc = store_file(c, i + 1, &job->files[i], now);
	for (i = 0; rc == 0 && i < job->set.n; i++)
		rc = store_item(c, &job->set.items[i],
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
	return reload_items(c);
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
				     (int64_t)c->cfg.sched.horizon_days * MS_PER_DAY, count_occ,
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
	sqlite3_stmt *st = NULL;
	int existed = 0, rc;

	if (out->rc < 0) {
		import_failed(job, w->key, out->err[0] ? out->err : strerror(-out->rc));
		goto done;
	}
	rc = ctl_imports_record(c, out, w->title, &row, &existed);
	if (rc == 0)
		rc = sdb_prep(c, &st, "INSERT OR REPLACE INTO sched_sources (key, content, "
			      "created) VALUES (?, ?, ?)", "cannot remember an import");
	if (rc == 0) {
		sqlite3_bind_text(st, 1, w->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, row.id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sdb_fail(c, "cannot remember an import");
	}
	sqlite3_finalize(st);
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
	sqlite3_stmt *st = NULL;
	char id[65] = "", path[PATH_MAX];
	int rc;

	rc = sdb_prep(c, &st, "SELECT content FROM sched_sources WHERE key = ?",
		      "cannot read the imports");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(id, sizeof(id), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (!id[0])
		return -ENOENT;
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
	sqlite3_stmt *st = NULL;
	char key[160];
	int rc;

	if (!content_id_valid(src_sha256) || !content_id_valid(content))
		return -EINVAL;
	source_key(c, "file", src_sha256, music, key, sizeof(key));
	rc = sdb_prep(c, &st, "INSERT OR REPLACE INTO sched_sources (key, content, created) "
		      "VALUES (?, ?, ?)", "cannot remember an import");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, content, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sdb_fail(c, "cannot remember an import");
	sqlite3_finalize(st);
	return rc;
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

/* ------------------------------------------------------------ plans */

struct plan_build {
	struct ctl *c;
	json_t *items;
	int64_t generated;            /* occurrences that expired before are left out */
	int rc;
};

static int plan_occ(void *arg, const struct sched_occ *occ)
{
	struct plan_build *b = arg;
	const struct sched_item *it = occ->item;
	json_t *o;

	if (occ->expires <= b->generated || is_cancelled(b->c, occ->id))
		return 0;
	if (it->src == SCHED_SRC_RELAY) {
		/* relays (issue 5): a source and an end instead of content */
		o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:i, s:s, s:i, s:I}",
			      "id", occ->id, "item", it->id, "title", it->title,
			      "at", (json_int_t)occ->at, "source", it->source,
			      "until", (json_int_t)(occ->at + it->duration_ms),
			      "level", sched_level_name(it->level), "volume", it->volume,
			      "chime", it->chime_content, "warmup_s", it->warmup_s,
			      "expires", (json_int_t)occ->expires);
		if (!o || json_array_append_new(b->items, o) < 0) {
			b->rc = -ENOMEM;
			return 1;
		}
		return 0;
	}
	o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:s, s:i, s:s, s:I, s:i, s:I}",
		      "id", occ->id, "item", it->id, "title", it->title,
		      "at", (json_int_t)occ->at, "content", it->content,
		      "bytes", (json_int_t)it->bytes, "duration_ms", (json_int_t)it->duration_ms,
		      "level", sched_level_name(it->level), "volume", it->volume,
		      "chime", it->chime_content, "chime_bytes", (json_int_t)it->chime_bytes,
		      "warmup_s", it->warmup_s, "expires", (json_int_t)occ->expires);
	if (!o || json_array_append_new(b->items, o) < 0) {
		b->rc = -ENOMEM;
		return 1;
	}
	return 0;
}

static int occ_at_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	json_int_t x = json_integer_value(json_object_get(a, "at"));
	json_int_t y = json_integer_value(json_object_get(b, "at"));

	if (x != y)
		return x < y ? -1 : 1;
	return strcmp(json_string_value(json_object_get(a, "id")),
		      json_string_value(json_object_get(b, "id")));
}

/*
 * The items of a node's plan for [generated, horizon): every occurrence of
 * every item that targets it, not expired at generated, not cancelled,
 * sorted by time.
 */
static json_t *plan_items(struct ctl *c, const struct sched_node_info *node,
			  int64_t generated, int64_t horizon)
{
	struct plan_build b = { c, json_array(), generated, 0 };
	json_t **v, *sorted;
	size_t i, n;

	if (!b.items)
		return NULL;
	for (i = 0; i < c->sched->items.n && b.rc == 0; i++) {
		const struct sched_item *it = &c->sched->items.items[i];

		if (!sched_item_targets(it, node))
			continue;
		/*
		 * The window opens expires_s before "now", on purpose: a play
		 * that began a few minutes ago is still playable by a node that
		 * missed its start (rebooted, just back online, got this plan
		 * late), which starts it late up to its expiry and reports how
		 * late. So a plan built at 17:03 carries the 17:00 program; a
		 * node that already played it knows the occurrence id and does
		 * not play it twice.
		 */
		sched_expand(it, generated - (int64_t)it->expires_s * 1000, horizon,
			     plan_occ, &b);
	}
	if (b.rc < 0) {
		json_decref(b.items);
		return NULL;
	}
	n = json_array_size(b.items);
	v = calloc(n ? n : 1, sizeof(*v));
	sorted = json_array();
	if (!v || !sorted) {
		free(v);
		json_decref(sorted);
		json_decref(b.items);
		return NULL;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(b.items, i);
	qsort(v, n, sizeof(*v), occ_at_cmp);
	for (i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	json_decref(b.items);
	return sorted;
}

/*
 * A node refuses envelopes over its max_message_bytes (default 256 KiB)
 * and keeps at most 2000 plan items. A plan that would be larger keeps its
 * earliest plays and ends its horizon at the first one left out (logged):
 * the daily re-plan brings the rest in time.
 */
#define PLAN_BODY_MAX (ENVELOPE_DEFAULT_MAX - ENVELOPE_OVERHEAD - 1024)
#define PLAN_ITEMS_MAX 2000

static void plan_fit(const char *node, json_t *items, int64_t *horizon, int quiet)
{
	size_t n = json_array_size(items), total = 128, keep, i;
	char *text;

	for (keep = 0; keep < n && keep < PLAN_ITEMS_MAX; keep++) {
		text = json_dumps(json_array_get(items, keep), JSON_COMPACT);
		total += (text ? strlen(text) : 0) + 1;
		free(text);
		if (total > PLAN_BODY_MAX)
			break;
	}
	if (keep == n)
		return;
	*horizon = json_integer_value(json_object_get(json_array_get(items, keep), "at"));
	/* plays at the same instant as the first one left out go with it */
	while (keep > 0 && json_integer_value(json_object_get(json_array_get(items, keep - 1),
							      "at")) == *horizon)
		keep--;
	if (!quiet)
		log_warnx("the plan of node %s is too large for one message: it keeps the first %zu "
		  "of %zu plays; the rest come with a later plan", node, keep, n);
	for (i = n; i > keep; i--)
		json_array_remove(items, i - 1);
}

static void digest_of(json_t *items, char out[65])
{
	unsigned char bin[crypto_hash_sha256_BYTES];
	char *text = json_dumps(items, JSON_COMPACT | JSON_SORT_KEYS);

	crypto_hash_sha256(bin, (const unsigned char *)(text ? text : ""),
			   text ? strlen(text) : 0);
	hex_encode(out, bin, sizeof(bin));
	free(text);
}

struct stored_plan {
	int found;
	uint64_t seq;
	int64_t generated, horizon, published;
	char digest[65];
};

static int plan_get(struct ctl *c, const char *node, struct stored_plan *p)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(p, 0, sizeof(*p));
	rc = sdb_prep(c, &st, "SELECT seq, generated, horizon, digest, published FROM "
		      "sched_plans WHERE node = ?", "cannot read the plans");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		p->found = 1;
		p->seq = (uint64_t)sqlite3_column_int64(st, 0);
		p->generated = sqlite3_column_int64(st, 1);
		p->horizon = sqlite3_column_int64(st, 2);
		snprintf(p->digest, sizeof(p->digest), "%s",
			 (const char *)sqlite3_column_text(st, 3));
		p->published = sqlite3_column_int64(st, 4);
	}
	sqlite3_finalize(st);
	return 0;
}

static void plan_topic(struct ctl *c, const char *node, char *out, size_t outlen)
{
	topic_node(out, outlen, c->mqtt.root, node, LEAF_PLAN);
}

/* Publish a stored plan envelope (retained, QoS 1). */
static int plan_publish_stored(struct ctl *c, const char *node)
{
	sqlite3_stmt *st = NULL;
	char topic[256];
	int rc;

	rc = sdb_prep(c, &st, "SELECT envelope FROM sched_plans WHERE node = ?",
		      "cannot read the plans");
	if (rc < 0)
		return rc;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return -ENOENT;
	}
	plan_topic(c, node, topic, sizeof(topic));
	rc = ctl_mqtt_publish(c, CTL_CONN_CTL, topic, sqlite3_column_blob(st, 0),
			      (size_t)sqlite3_column_bytes(st, 0), 1, 1);
	sqlite3_finalize(st);
	if (rc == 0 || rc == -ENOTCONN) {
		sqlite3_stmt *up = NULL;

		if (sdb_prep(c, &up, "UPDATE sched_plans SET published = ? WHERE node = ?",
			     "cannot store a plan") == 0) {
			sqlite3_bind_int64(up, 1, now_ms());
			sqlite3_bind_text(up, 2, node, -1, SQLITE_STATIC);
			sqlite3_step(up);
		}
		sqlite3_finalize(up);
	}
	return rc == -ENOTCONN ? 0 : rc;
}

/* Seal and store a new plan for node, then publish it. */
static int plan_new(struct ctl *c, const char *node, json_t *items, const char *digest,
		    int64_t now, int64_t window_end, int64_t horizon)
{
	sqlite3_stmt *st = NULL;
	json_t *body = NULL;
	char *text = NULL;
	uint8_t *env = NULL;
	size_t envlen = 0;
	uint64_t seq;
	char until[32];
	int rc;

	body = json_pack("{s:s, s:I, s:I, s:O}", "node", node, "generated", (json_int_t)now,
			 "horizon", (json_int_t)horizon, "items", items);
	/* revoked nodes ride in every plan too (secops.h, docs/security.md) */
	if (body)
		json_object_set_new(body, "revoked", ctl_secops_revoked_json(c));
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		rc = -ENOMEM;
		goto out;
	}
	rc = ctl_db_begin(&c->db);
	if (rc < 0)
		goto out;
	rc = ctl_db_next_seq(&c->db, ENV_PLAN, ctl_now_us(), &seq);
	if (rc == 0)
		rc = envelope_seal(&c->signer, ENV_PLAN, 0, seq, now, horizon, text,
				   strlen(text), &env, &envlen);
	if (rc == 0)
		rc = sdb_prep(c, &st, "INSERT OR REPLACE INTO sched_plans (node, seq, "
			      "generated, horizon, digest, items, body, envelope, published) "
			      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)", "cannot store a plan");
	if (rc == 0) {
		sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)seq);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int64(st, 4, window_end);
		sqlite3_bind_text(st, 5, digest, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 6, (int)json_array_size(items));
		sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 8, env, (int)envlen, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sdb_fail(c, "cannot store a plan");
	}
	sqlite3_finalize(st);
	if (rc < 0) {
		ctl_db_rollback(&c->db);
		goto out;
	}
	rc = ctl_db_commit(&c->db);
	if (rc < 0)
		goto out;
	sched_fmt_local(until, sizeof(until), horizon);
	if (horizon < window_end)
		log_warnx("the plan of node %s is too large for one message: it ends at %s "
			  "with %zu plays; the rest come with a later plan", node, until,
			  json_array_size(items));
	log_info("plan %" PRIu64 " for node %s: %zu play%s until %s", seq, node,
		 json_array_size(items), json_array_size(items) == 1 ? "" : "s", until);
	rc = plan_publish_stored(c, node);
out:
	json_decref(body);
	free(text);
	free(env);
	return rc;
}

/*
 * The items of a plan depend only on the window and on which items target
 * the node, i.e. on its zones (and on its id where an item names it): in a
 * district, hundreds of nodes share a handful of such keys. One round of
 * re-planning computes (and fits, and digests) each key once.
 */
static json_t *round_items(struct ctl *c, json_t *cache, const struct sched_node_info *node,
			   int64_t gen, int64_t horizon, int64_t *body_horizon,
			   char digest[65])
{
	char key[64 + 32 * SCHED_NAME_MAX + SCHED_NAME_MAX];
	size_t i, j, off;
	json_t *e, *items;
	int named = 0;

	off = (size_t)snprintf(key, sizeof(key), "%lld|%lld|", (long long)gen,
			       (long long)horizon);
	for (i = 0; i < node->nzones && off < sizeof(key); i++)
		off += (size_t)snprintf(key + off, sizeof(key) - off, "%s,", node->zones[i]);
	for (i = 0; i < c->sched->items.n && !named; i++)
		for (j = 0; j < c->sched->items.items[i].nnodes; j++)
			if (strcmp(c->sched->items.items[i].nodes[j], node->id) == 0)
				named = 1;
	if (named && off < sizeof(key))
		snprintf(key + off, sizeof(key) - off, "|%s", node->id);
	e = json_object_get(cache, key);
	if (!e) {
		int64_t bh = horizon;

		items = plan_items(c, node, gen, horizon);
		if (!items)
			return NULL;
		plan_fit(node->id, items, &bh, 1);
		digest_of(items, digest);
		e = json_pack("[o, I, s]", items, (json_int_t)bh, digest);
		if (!e || json_object_set_new(cache, key, e) < 0)
			return NULL;
	}
	*body_horizon = json_integer_value(json_array_get(e, 1));
	snprintf(digest, 65, "%s", json_string_value(json_array_get(e, 2)));
	return json_incref(json_array_get(e, 0));
}

int ctl_sched_replan(struct ctl *c, int force)
{
	struct sched_node_info *nodes = NULL;
	struct stored_plan p;
	int64_t now = now_ms(), hz = (int64_t)c->cfg.sched.horizon_days * MS_PER_DAY;
	size_t i, n = 0;
	int rc, published = 0;
	json_t *cache;

	if (!c->sched)
		return 0;
	rc = load_nodes(c, &nodes, &n);
	if (rc < 0)
		return rc;
	cache = json_object();
	if (!cache) {
		free(nodes);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		int64_t gen = now, horizon = now + hz, body_horizon;
		char digest[65];
		json_t *items;

		rc = plan_get(c, nodes[i].id, &p);
		if (rc < 0)
			break;
		/*
		 * Compare over the stored plan's own window, so time passing alone
		 * does not make a new plan; a new window only daily (the horizon
		 * runs short) or when something changed.
		 */
		if (p.found && !force && p.horizon >= now + hz - MS_PER_DAY) {
			gen = p.generated;
			horizon = p.horizon;
		}
		items = round_items(c, cache, &nodes[i], gen, horizon, &body_horizon, digest);
		if (!items) {
			rc = -ENOMEM;
			break;
		}
		/*
		 * A node that never had a plan gets none while it has nothing
		 * planned (a site that does not use schedules sends no plans);
		 * once it had one, an empty plan is sent to clear it.
		 */
		if (!p.found && json_array_size(items) == 0) {
			json_decref(items);
			continue;
		}
		if (p.found && gen == p.generated && strcmp(digest, p.digest) == 0) {
			json_decref(items);
			continue;
		}
		if (gen != now) {
			/* changed: the new plan covers the full horizon from now */
			json_decref(items);
			gen = now;
			horizon = now + hz;
			items = round_items(c, cache, &nodes[i], gen, horizon, &body_horizon,
					    digest);
			if (!items) {
				rc = -ENOMEM;
				break;
			}
		}
		rc = plan_new(c, nodes[i].id, items, digest, gen, horizon, body_horizon);
		json_decref(items);
		if (rc < 0)
			log_warnx("cannot publish the plan of node %s: %s", nodes[i].id,
				  strerror(-rc));
		else
			published++;
	}
	free(nodes);
	json_decref(cache);
	c->sched->dirty = 0;
	return rc < 0 ? rc : published;
}

/* Every stored plan again (the broker may have lost its retained copies). */
static void republish_all(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	char node[SCHED_NAME_MAX];
	int count = 0;

	if (sdb_prep(c, &st, "SELECT node FROM sched_plans ORDER BY node",
		     "cannot read the plans") < 0)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(node, sizeof(node), "%s", (const char *)sqlite3_column_text(st, 0));
		if (plan_publish_stored(c, node) == 0)
			count++;
	}
	sqlite3_finalize(st);
	if (count)
		log_info("published the plans of %d node%s again (connected to the broker)",
			 count, count == 1 ? "" : "s");
}

/*
 * A node online whose status reports an older plan than ours (it missed
 * the retained one: a broker that lost it, a node that was away): publish
 * it again, at most every CTL_SCHED_REPUBLISH_MS.
 */
static void republish_lagging(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	int64_t now = now_ms();

	if (sdb_prep(c, &st, "SELECT p.node, p.seq, n.status FROM sched_plans p JOIN "
		     "nodes n ON n.id = p.node WHERE n.online = 1 AND p.published < ?",
		     "cannot read the plans") < 0)
		return;
	sqlite3_bind_int64(st, 1, now - CTL_SCHED_REPUBLISH_MS);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *node = (const char *)sqlite3_column_text(st, 0);
		const char *status = (const char *)sqlite3_column_text(st, 2);
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 1);
		json_t *j = status ? json_loads(status, 0, NULL) : NULL;
		json_t *plan = json_object_get(j, "plan");
		json_t *ack = json_object_get(plan, "seq");
		char name[SCHED_NAME_MAX];

		if (json_is_integer(ack) && (uint64_t)json_integer_value(ack) < seq) {
			snprintf(name, sizeof(name), "%s", node);
			log_info("node %s reports plan %" PRId64 ", ours is %" PRIu64
				 ": publishing it again", name, (int64_t)json_integer_value(ack),
				 seq);
			json_decref(j);
			plan_publish_stored(c, name);
			continue;
		}
		json_decref(j);
	}
	sqlite3_finalize(st);
}

void ctl_sched_tick(struct ctl *c)
{
	struct ctl_sched *s = c->sched;
	int connected;

	if (!s)
		return;
	connected = ctl_mqtt_connected(c, CTL_CONN_CTL);
	if (connected && !s->was_connected)
		republish_all(c);
	s->was_connected = connected;
	if (s->dirty || mono_ms() >= s->next_replan_ms) {
		s->next_replan_ms = mono_ms() + CTL_SCHED_REPLAN_MS;
		ctl_sched_replan(c, 0);
		if (connected)
			republish_lagging(c);
	}
}

int ctl_sched_start(struct ctl *c)
{
	int rc;

	if (!c->sched) {
		c->sched = calloc(1, sizeof(*c->sched));
		if (!c->sched)
			return -ENOMEM;
		c->sched->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->sched->wake_fd < 0)
			log_warn("schedule: eventfd (schedule files are parsed in the loop)");
	}
	setenv("TZ", c->cfg.sched.timezone, 1);
	tzset();
	rc = load_items(c, &c->sched->items);
	if (rc < 0)
		return rc;
	c->sched->loaded = 1;
	c->sched->dirty = 1;
	log_info("schedule: %zu item%s, time zone %s, horizon %d days", c->sched->items.n,
		 c->sched->items.n == 1 ? "" : "s", c->cfg.sched.timezone,
		 c->cfg.sched.horizon_days);
	return 0;
}

void ctl_sched_stop(struct ctl *c)
{
	struct sched_job *job;

	if (!c->sched)
		return;
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
	sched_set_free(&c->sched->items);
	json_decref(c->sched->cancelled);
	free(c->sched);
	c->sched = NULL;
}

static int job_parsed(struct sched_job *job, unsigned *status, json_t **reply);

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

/* ------------------------------------------------------------ events */

static int play_rank(const char *result)
{
	if (strcmp(result, "started") == 0)
		return 1;
	return 2;
}

void ctl_sched_on_event(struct ctl *c, const char *node, const void *payload, size_t len)
{
	json_t *o = json_loadb(payload, len, 0, NULL);
	const char *occ, *type, *id, *end, *reason;
	const char *result = NULL;
	sqlite3_stmt *st = NULL;
	json_t *v;
	size_t i;

	if (!json_is_object(o))
		goto out;
	occ = json_string_value(json_object_get(o, "occurrence"));
	type = json_string_value(json_object_get(o, "type"));
	id = json_string_value(json_object_get(o, "id"));
	if (!occ || !type || !id || strncmp(occ, "o-", 2) != 0 ||
	    strlen(occ) >= SCHED_OCC_ID_MAX || strlen(id) >= 64)
		goto out;
	for (i = 0; occ[i]; i++)
		if (!((occ[i] >= 'a' && occ[i] <= 'z') || (occ[i] >= '0' && occ[i] <= '9') ||
		      occ[i] == '-' || occ[i] == '_'))
			goto out;
	end = json_string_value(json_object_get(o, "end"));
	if (strcmp(type, "play_started") == 0)
		result = "started";
	else if (strcmp(type, "play_finished") == 0)
		result = end && strcmp(end, "finished") ? end : "played";
	else if (strcmp(type, "play_failed") == 0)
		result = "failed";
	else if (strcmp(type, "play_preempted") == 0)
		result = "preempted";
	if (!result || strlen(result) > 16)
		goto out;
	reason = json_string_value(json_object_get(o, "reason"));
	if (sdb_prep(c, &st,
		     "INSERT INTO sched_plays (occurrence, node, result, scheduled, start, "
		     "duration_ms, reason, event, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		     "?7, ?8, ?9) ON CONFLICT(occurrence, node) DO UPDATE SET result = ?3, "
		     "scheduled = coalesce(?4, scheduled), start = coalesce(?5, start), "
		     "duration_ms = coalesce(?6, duration_ms), reason = ?7, event = ?8, "
		     "updated = ?9 WHERE (CASE sched_plays.result WHEN 'started' THEN 1 "
		     "ELSE 2 END) <= ?10", "cannot store the result of a planned play") < 0)
		goto out;
	sqlite3_bind_text(st, 1, occ, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, result, -1, SQLITE_STATIC);
	v = json_object_get(o, "scheduled");
	if (json_is_integer(v))
		sqlite3_bind_int64(st, 4, json_integer_value(v));
	v = json_object_get(o, "start");
	if (json_is_integer(v))
		sqlite3_bind_int64(st, 5, json_integer_value(v));
	v = json_object_get(o, "duration_ms");
	if (json_is_integer(v))
		sqlite3_bind_int64(st, 6, json_integer_value(v));
	sqlite3_bind_text(st, 7, reason && ctl_text_valid(reason, strlen(reason)) &&
			  strlen(reason) < 256 ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, now_ms());
	sqlite3_bind_int(st, 10, play_rank(result));
	if (sqlite3_step(st) != SQLITE_DONE)
		sdb_fail(c, "cannot store the result of a planned play");
	else
		log_info("node %s: planned play %s %s", node, occ, result);
out:
	sqlite3_finalize(st);
	json_decref(o);
}

/* ------------------------------------------------------------ list */

struct list_ctx {
	struct ctl *c;
	const struct sched_node_info *node;
	json_t *rows;
	int64_t now;
};

static json_t *play_of(struct ctl *c, const char *occ, const char *node)
{
	sqlite3_stmt *st = NULL;
	json_t *o = NULL;

	if (sdb_prep(c, &st, "SELECT result, start, duration_ms, reason FROM sched_plays "
		     "WHERE occurrence = ? AND node = ?", "cannot read the planned plays") < 0)
		return NULL;
	sqlite3_bind_text(st, 1, occ, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = json_pack("{s:s, s:I, s:I, s:s}",
			      "result", (const char *)sqlite3_column_text(st, 0),
			      "start", (json_int_t)sqlite3_column_int64(st, 1),
			      "duration_ms", (json_int_t)sqlite3_column_int64(st, 2),
			      "reason", (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	return o;
}

static int list_occ(void *arg, const struct sched_occ *occ)
{
	struct list_ctx *l = arg;
	const struct sched_item *it = occ->item;
	json_t *row, *play;
	char local[32];
	const char *state = "planned";

	sched_fmt_local(local, sizeof(local), occ->at);
	play = play_of(l->c, occ->id, l->node->id);
	if (play)
		state = json_string_value(json_object_get(play, "result"));
	else if (is_cancelled(l->c, occ->id))
		state = "cancelled";
	else if (occ->expires < l->now)
		state = "missed";
	row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:i}",
			"occurrence", occ->id, "item", it->id, "title", it->title,
			"node", l->node->id, "at", (json_int_t)occ->at, "local", local,
			"duration_ms", (json_int_t)(it->duration_ms + it->chime_ms),
			"level", sched_level_name(it->level), "content", it->content,
			"state", state ? state : "?", "volume", it->volume);
	if (row && play) {
		json_object_set(row, "start", json_object_get(play, "start"));
		json_object_set(row, "reason", json_object_get(play, "reason"));
	}
	json_decref(play);
	if (row)
		json_array_append_new(l->rows, row);
	return 0;
}

static int row_cmp(const void *pa, const void *pb)
{
	json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	json_int_t x = json_integer_value(json_object_get(a, "at"));
	json_int_t y = json_integer_value(json_object_get(b, "at"));
	int r;

	if (x != y)
		return x < y ? -1 : 1;
	r = strcmp(json_string_value(json_object_get(a, "node")),
		   json_string_value(json_object_get(b, "node")));
	return r ? r : strcmp(json_string_value(json_object_get(a, "occurrence")),
			      json_string_value(json_object_get(b, "occurrence")));
}

static json_t *sorted_rows(json_t *rows)
{
	size_t i, n = json_array_size(rows);
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();

	if (!v || !out) {
		free(v);
		json_decref(out);
		return rows;
	}
	for (i = 0; i < n; i++)
		v[i] = json_array_get(rows, i);
	qsort(v, n, sizeof(*v), row_cmp);
	for (i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(rows);
	return out;
}

static int node_in_zone(const struct sched_node_info *n, const char *zone)
{
	size_t i;

	if (strcmp(zone, "all") == 0)
		return 1;
	for (i = 0; i < n->nzones; i++)
		if (strcmp(n->zones[i], zone) == 0)
			return 1;
	return 0;
}

/*
 * Zone scope of the reads (docs/security.md "Zone scope"): who, when it
 * does not have every zone; a node is listed when one of its zones is in
 * scope, like GET /v1/nodes.
 */
static const struct ctl_principal *scoped(const struct ctl_sched_http *h)
{
	return h->who && !h->who->all_zones ? h->who : NULL;
}

static int node_listed(struct ctl *c, const struct ctl_principal *who, const char *node)
{
	return !who || ctl_auth_node_visible(&c->db, who, node);
}

static void scope_refused(const struct ctl_principal *who, const char *what,
			  unsigned *status, json_t **reply)
{
	char scope[256], msg[512];

	ctl_auth_scope_text(who, scope, sizeof(scope));
	snprintf(msg, sizeof(msg), "%s may see only zones %s, not %s", who->user, scope, what);
	*status = 403;
	*reply = json_pack("{s:s}", "error", msg);
}

static void http_list(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
		      json_t **reply)
{
	const struct ctl_principal *who = scoped(h);
	char what[CTL_NAME_MAX + 64];
	const char *date = h->arg(h->arg_ctx, "date"), *days_s = h->arg(h->arg_ctx, "days");
	const char *fnode = h->arg(h->arg_ctx, "node"), *fzone = h->arg(h->arg_ctx, "zone");
	struct sched_node_info *nodes = NULL;
	struct sched_date d;
	struct list_ctx l;
	int64_t from, to;
	size_t i, j, n = 0;
	long days = 1;
	char *end;

	if (date) {
		if (sched_parse_date(date, &d) < 0) {
			*status = 400;
			*reply = json_pack("{s:s}", "error", "date must be YYYY-MM-DD");
			return;
		}
	} else {
		d = sched_local_date(now_ms());
	}
	if (days_s) {
		days = strtol(days_s, &end, 10);
		if (*end || days < 1 || days > 62) {
			*status = 400;
			*reply = json_pack("{s:s}", "error", "days must be from 1 to 62");
			return;
		}
	}
	if ((fnode && !name_valid(fnode)) || (fzone && !name_valid(fzone))) {
		*status = 400;
		*reply = json_pack("{s:s}", "error", "node and zone must be names");
		return;
	}
	/* another zone's node or zone: say so rather than list nothing */
	if (who && fnode && !node_listed(c, who, fnode)) {
		snprintf(what, sizeof(what), "node %s (it is in none of them)", fnode);
		scope_refused(who, what, status, reply);
		return;
	}
	if (who && fzone && !ctl_auth_zone_allowed(who, fzone)) {
		snprintf(what, sizeof(what), "zone %s", fzone);
		scope_refused(who, what, status, reply);
		return;
	}
	from = sched_local_ms(d, 0);
	to = sched_local_ms(sched_date_from_days(sched_days_from_date(d) + days), 0);
	memset(&l, 0, sizeof(l));
	l.c = c;
	l.rows = json_array();
	l.now = now_ms();
	if (load_nodes(c, &nodes, &n) < 0) {
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the controller's database failed");
		json_decref(l.rows);
		return;
	}
	for (i = 0; i < n; i++) {
		if (fnode && strcmp(fnode, nodes[i].id))
			continue;
		if (fzone && !node_in_zone(&nodes[i], fzone))
			continue;
		if (!node_listed(c, who, nodes[i].id))
			continue;
		l.node = &nodes[i];
		for (j = 0; j < c->sched->items.n; j++)
			if (sched_item_targets(&c->sched->items.items[j], &nodes[i]))
				sched_expand(&c->sched->items.items[j], from, to, list_occ, &l);
	}
	/*
	 * Plays the nodes reported whose item is gone from the schedule (or
	 * changed time) are history all the same: listed from what was stored.
	 */
	{
		json_t *seen = json_object(), *row;
		sqlite3_stmt *st = NULL;
		char key[SCHED_OCC_ID_MAX + SCHED_NAME_MAX + 2];

		json_array_foreach(l.rows, i, row) {
			snprintf(key, sizeof(key), "%s|%s",
				 json_string_value(json_object_get(row, "occurrence")),
				 json_string_value(json_object_get(row, "node")));
			json_object_set_new(seen, key, json_true());
		}
		if (seen && sdb_prep(c, &st, "SELECT occurrence, node, result, "
				     "coalesce(scheduled, start), start, duration_ms, reason FROM "
				     "sched_plays WHERE coalesce(scheduled, start) >= ? AND "
				     "coalesce(scheduled, start) < ?", "cannot read the plays") == 0) {
			sqlite3_bind_int64(st, 1, from);
			sqlite3_bind_int64(st, 2, to);
			while (sqlite3_step(st) == SQLITE_ROW) {
				const char *occ = (const char *)sqlite3_column_text(st, 0);
				const char *node = (const char *)sqlite3_column_text(st, 1);
				char local[32];
				int keep = 1;

				snprintf(key, sizeof(key), "%s|%s", occ, node);
				if (json_object_get(seen, key) || (fnode && strcmp(fnode, node)) ||
				    !node_listed(c, who, node))
					continue;
				if (fzone) {
					keep = 0;
					for (j = 0; nodes && j < n; j++)
						if (strcmp(nodes[j].id, node) == 0 &&
						    node_in_zone(&nodes[j], fzone))
							keep = 1;
				}
				if (!keep)
					continue;
				sched_fmt_local(local, sizeof(local), sqlite3_column_int64(st, 3));
				row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, "
						"s:I, s:s}", "occurrence", occ, "item", "", "title",
						"(no longer in the schedule)", "node", node,
						"at", (json_int_t)sqlite3_column_int64(st, 3),
						"local", local,
						"duration_ms", (json_int_t)sqlite3_column_int64(st, 5),
						"level", "", "content", "",
						"state", (const char *)sqlite3_column_text(st, 2),
						"start", (json_int_t)sqlite3_column_int64(st, 4),
						"reason", (const char *)sqlite3_column_text(st, 6));
				if (row)
					json_array_append_new(l.rows, row);
			}
			sqlite3_finalize(st);
		}
		json_decref(seen);
	}
	free(nodes);
	*status = 200;
	*reply = json_pack("{s:o, s:s, s:I, s:I}", "occurrences", sorted_rows(l.rows),
			   "timezone", c->cfg.sched.timezone, "from", (json_int_t)from,
			   "to", (json_int_t)to);
}

/* ------------------------------------------------------------ readiness */

struct ready_ctx {
	struct ctl *c;
	const struct sched_node_info *node;
	json_t *status;               /* the node's last status (may be NULL) */
	int online;
	int64_t last_seen;
	uint64_t plan_seq;            /* ours; 0: none */
	json_t *rows;
	int64_t now;
	int total;
};

static int ready_occ(void *arg, const struct sched_occ *occ)
{
	struct ready_ctx *r = arg;
	const struct sched_item *it = occ->item;
	json_t *reasons = json_array(), *plan, *ack, *up, *e, *row, *play;
	char local[32], buf[256], path[PATH_MAX];
	size_t i;
	int found = 0;

	if (occ->expires < r->now || is_cancelled(r->c, occ->id))
		goto out;
	play = play_of(r->c, occ->id, r->node->id);
	if (play) {
		json_decref(play);
		goto out;
	}
	r->total++;
	if (!r->online) {
		sched_fmt_local(local, sizeof(local), r->last_seen);
		snprintf(buf, sizeof(buf), "offline since %s", r->last_seen ? local : "ever");
		json_array_append_new(reasons, json_string(buf));
	}
	plan = json_object_get(r->status, "plan");
	ack = json_object_get(plan, "seq");
	if (!r->plan_seq)
		json_array_append_new(reasons, json_string("no plan made for it yet"));
	else if (!json_is_integer(ack))
		json_array_append_new(reasons, json_string("plan not acknowledged (the node "
							   "reports no plan)"));
	else if ((uint64_t)json_integer_value(ack) < r->plan_seq) {
		snprintf(buf, sizeof(buf), "plan not acknowledged (the node has plan %" PRId64
			 ", the current one is %" PRIu64 ")", (int64_t)json_integer_value(ack),
			 r->plan_seq);
		json_array_append_new(reasons, json_string(buf));
	} else {
		up = json_object_get(r->status, "upcoming");
		json_array_foreach(up, i, e) {
			const char *id = json_string_value(json_object_get(e, "id"));

			if (id && strcmp(id, occ->id) == 0) {
				found = 1;
				if (!json_is_true(json_object_get(e, "ready")))
					json_array_append_new(reasons,
							      json_string("content missing on the "
									  "node (not fetched yet)"));
			}
		}
		if (!found && json_is_array(up) && json_array_size(up) < 50)
			json_array_append_new(reasons, json_string("not in the node's list of "
								   "upcoming plays"));
	}
	if (it->src != SCHED_SRC_RELAY &&
	    (ctl_content_path(r->c, it->content, path, sizeof(path)) < 0 ||
	     access(path, R_OK) < 0))
		json_array_append_new(reasons, json_string("content missing on the "
							   "controller"));
	if (json_array_size(reasons) == 0)
		goto out;
	sched_fmt_local(local, sizeof(local), occ->at);
	row = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:O}", "occurrence", occ->id,
			"item", it->id, "title", it->title, "node", r->node->id,
			"at", (json_int_t)occ->at, "local", local, "reasons", reasons);
	if (row)
		json_array_append_new(r->rows, row);
out:
	json_decref(reasons);
	return 0;
}

static void http_readiness(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
			   json_t **reply)
{
	const struct ctl_principal *who = scoped(h);
	struct sched_node_info *nodes = NULL;
	struct ready_ctx r;
	struct stored_plan p;
	sqlite3_stmt *st = NULL;
	size_t i, j, n = 0;

	memset(&r, 0, sizeof(r));
	r.c = c;
	r.rows = json_array();
	r.now = now_ms();
	if (load_nodes(c, &nodes, &n) < 0 ||
	    sdb_prep(c, &st, "SELECT online, last_seen, status FROM nodes WHERE id = ?",
		     "cannot read the nodes") < 0) {
		free(nodes);
		json_decref(r.rows);
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the controller's database failed");
		return;
	}
	for (i = 0; i < n; i++) {
		const char *text;

		if (!node_listed(c, who, nodes[i].id))
			continue; /* another village's: neither listed nor counted */
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, nodes[i].id, -1, SQLITE_STATIC);
		r.status = NULL;
		r.online = 0;
		r.last_seen = 0;
		if (sqlite3_step(st) == SQLITE_ROW) {
			r.online = sqlite3_column_int(st, 0);
			r.last_seen = sqlite3_column_int64(st, 1);
			text = (const char *)sqlite3_column_text(st, 2);
			r.status = text ? json_loads(text, 0, NULL) : NULL;
		}
		r.plan_seq = plan_get(c, nodes[i].id, &p) == 0 && p.found ? p.seq : 0;
		r.node = &nodes[i];
		for (j = 0; j < c->sched->items.n; j++)
			if (sched_item_targets(&c->sched->items.items[j], &nodes[i]))
				sched_expand(&c->sched->items.items[j], r.now, r.now + MS_PER_DAY,
					     ready_occ, &r);
		json_decref(r.status);
	}
	sqlite3_finalize(st);
	free(nodes);
	*status = 200;
	*reply = json_pack("{s:o, s:i, s:I}", "missing", sorted_rows(r.rows), "planned",
			   r.total, "until", (json_int_t)(r.now + MS_PER_DAY));
}

/* ------------------------------------------------------------ requests */

static struct sched_job *job_new(struct ctl *c, enum job_kind kind,
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

static int http_files(struct ctl *c, const struct ctl_sched_http *h, enum job_kind kind,
		      unsigned *status, json_t **reply)
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

static void unique_announce_id(struct ctl *c, int64_t now, char out[SCHED_ID_MAX])
{
	time_t s = (time_t)(now / 1000);
	struct tm tm;
	char stamp[32];
	size_t i;
	int k;

	localtime_r(&s, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (k = 1; k < 1000; k++) {
		int used = 0;

		snprintf(out, SCHED_ID_MAX, "a-%s-%d", stamp, k);
		for (i = 0; i < c->sched->items.n; i++)
			if (strcmp(c->sched->items.items[i].id, out) == 0)
				used = 1;
		if (!used)
			return;
	}
}

static int http_announce(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
			 json_t **reply)
{
	char err[256], at_s[32] = "", level[16] = "normal", tmp[SCHED_NAME_MAX];
	json_t *o = ctl_json_object(h->body, h->body_len, err, sizeof(err));
	struct sched_item it;
	struct sched_job *job = NULL;
	int64_t at = 0, n, now = now_ms();
	int targets = 0, all = 0, confirmed = 0;

	sched_item_init(&it);
	*status = 400;
	if (!o)
		goto bad;
	snprintf(it.file, sizeof(it.file), "announce");
	if (ctl_json_str(o, "at", CTL_REQUIRED, at_s, sizeof(at_s), err, sizeof(err)) < 0)
		goto bad;
	if (sched_parse_local(at_s, &at) < 0) {
		snprintf(err, sizeof(err), "field \"at\" (loaxa announce --at): \"%s\" is not a "
			 "local date and time: write it as \"YYYY-MM-DD HH:MM\" or "
			 "\"YYYY-MM-DD HH:MM:SS\", e.g. \"2026-12-08 17:30\"", at_s);
		goto bad;
	}
	if (at < now - 60000 || at > now + 366 * MS_PER_DAY) {
		snprintf(err, sizeof(err), "field \"at\" (loaxa announce --at): %s is %s: give "
			 "a time from now to a year ahead (the site's local time)", at_s,
			 at < now - 60000 ? "in the past" : "more than a year ahead");
		goto bad;
	}
	it.from = sched_local_date(at);
	it.until = it.from;
	it.times[0] = sched_parse_tod(at_s + 11);
	it.ntimes = 1;
	if (ctl_json_str(o, "content", CTL_OPTIONAL, it.source, sizeof(it.source), err,
			 sizeof(err)) == 0) {
		if (!content_id_valid(it.source)) {
			snprintf(err, sizeof(err), "field \"content\" must be a content id");
			goto bad;
		}
		it.src = SCHED_SRC_CONTENT;
	} else {
		json_t *t = json_object_get(o, "text");
		const char *text = json_string_value(t);

		if (!text || !text[0] || strlen(text) > 4000 ||
		    !ctl_text_valid(text, strlen(text))) {
			snprintf(err, sizeof(err), "give \"content\" (a content id) or \"text\" "
				 "(1 to 4000 bytes): loaxa announce --text needs the words to "
				 "speak, one to 4000 bytes of plain text");
			goto bad;
		}
		it.src = SCHED_SRC_TEXT;
		it.text = strdup(text);
		if (!it.text)
			goto bad;
	}
	if (ctl_json_str(o, "title", CTL_OPTIONAL, it.title, sizeof(it.title), err,
			 sizeof(err)) < 0)
		goto bad;
	/* was a bare "bad request": say which field and what to do */
	if (!ctl_text_valid(it.title, strlen(it.title))) {
		snprintf(err, sizeof(err), "field \"title\" (loaxa announce --title) holds a "
			 "control character (a tab, a line break, a zero byte...): write the "
			 "title as one line of plain text");
		goto bad;
	}
	if (ctl_json_str(o, "zone", CTL_OPTIONAL, tmp, sizeof(tmp), err, sizeof(err)) == 0) {
		if (!name_valid(tmp)) {
			snprintf(err, sizeof(err), "field \"zone\" is not a zone name");
			goto bad;
		}
		if (strcmp(tmp, "all") == 0)
			it.all = 1;
		else
			snprintf(it.zones[it.nzones++], SCHED_NAME_MAX, "%s", tmp);
		targets++;
	}
	if (ctl_json_str(o, "node", CTL_OPTIONAL, tmp, sizeof(tmp), err, sizeof(err)) == 0) {
		if (!name_valid(tmp)) {
			snprintf(err, sizeof(err), "field \"node\" is not a node id");
			goto bad;
		}
		snprintf(it.nodes[it.nnodes++], SCHED_NAME_MAX, "%s", tmp);
		targets++;
	}
	if (ctl_json_bool(o, "all", CTL_OPTIONAL, &all, err, sizeof(err)) == 0 && all) {
		it.all = 1;
		targets++;
	}
	if (targets != 1) {
		snprintf(err, sizeof(err), "name exactly one target: \"zone\", \"node\" or "
			 "\"all\": true");
		goto bad;
	}
	n = it.repeat;
	if (ctl_json_int(o, "repeat", CTL_OPTIONAL, 1, SCHED_MAX_REPEAT, &n, err,
			 sizeof(err)) < 0)
		goto bad;
	it.repeat = (int)n;
	n = it.gap_s;
	if (ctl_json_int(o, "gap_s", CTL_OPTIONAL, 0, 3600, &n, err, sizeof(err)) < 0)
		goto bad;
	it.gap_s = (int)n;
	n = it.volume;
	if (ctl_json_int(o, "volume", CTL_OPTIONAL, 0, 100, &n, err, sizeof(err)) < 0)
		goto bad;
	it.volume = (int)n;
	if (ctl_json_str(o, "level", CTL_OPTIONAL, level, sizeof(level), err,
			 sizeof(err)) < 0)
		goto bad;
	it.level = sched_level_parse(level);
	if (it.level < 0) {
		snprintf(err, sizeof(err), "field \"level\" must be relay, normal, priority or "
			 "emergency");
		goto bad;
	}
	if (ctl_json_bool(o, "chime", CTL_OPTIONAL, &all, err, sizeof(err)) == 0 && all)
		it.chime = SCHED_CHIME_DEFAULT;
	if (ctl_json_bool(o, "outside_hours", CTL_OPTIONAL, &confirmed, err, sizeof(err)) < 0)
		goto bad;
	unique_announce_id(c, now, it.id);
	if (!it.title[0])
		snprintf(it.title, sizeof(it.title), "%s", it.id);
	json_decref(o);
	o = NULL;
	job = job_new(c, JOB_ANNOUNCE, h);
	if (!job || sched_set_add(&job->set, &it) < 0) {
		if (job)
			job_free(job);
		sched_item_free(&it);
		*status = 500;
		*reply = json_pack("{s:s}", "error", "out of memory");
		return 0;
	}
	sched_item_free(&it);
	job->outside_hours = confirmed;
	if (authorize_items(c, h->who, job) < 0) {
		*status = 403;
		const char *msg = json_string_value(json_array_get(job->msgs.errors, 0));
		const char *why = msg ? strstr(msg, "\": ") : NULL;

		*reply = json_pack("{s:s}", "error", why ? why + 3 : "not allowed");
		job_free(job);
		return 0;
	}
	return job_run(job, status, reply);
bad:
	json_decref(o);
	sched_item_free(&it);
	*reply = json_pack("{s:s}", "error", err[0] ? err : "bad request");
	return 0;
}

/*
 * The item an occurrence id "o-<item>-<date>-<time>-<k>" belongs to (item
 * ids may hold '-': the longest id that fits wins), or NULL.
 */
static const struct sched_item *item_of_occurrence(struct ctl *c, const char *occ)
{
	const struct sched_item *best = NULL;
	size_t i, n;

	if (strncmp(occ, "o-", 2) != 0)
		return NULL;
	for (i = 0; i < c->sched->items.n; i++) {
		const struct sched_item *it = &c->sched->items.items[i];

		n = strlen(it->id);
		if (strncmp(occ + 2, it->id, n) == 0 && occ[2 + n] == '-' &&
		    (!best || n > strlen(best->id)))
			best = it;
	}
	return best;
}

/*
 * May who cancel (a play of) item? Every zone and node it plays on must be
 * within who's zones, as for scheduling it (authorize_items): an official
 * of thon-1 cannot silence thon-2's announcement. 0, or -EPERM with err.
 */
static int authorize_cancel(struct ctl *c, const struct ctl_principal *who,
			    const struct sched_item *it, char *err, size_t errlen)
{
	const char *level = sched_level_name(it->level);
	size_t j;

	if (!who || who->all_zones)
		return 0;
	if (it->all && ctl_auth_check_target(&c->db, who, NULL, NULL, 1, level, err, errlen) < 0)
		return -EPERM;
	for (j = 0; j < it->nzones; j++)
		if (ctl_auth_check_target(&c->db, who, it->zones[j], NULL, 0, level, err,
					  errlen) < 0)
			return -EPERM;
	for (j = 0; j < it->nnodes; j++)
		if (ctl_auth_check_target(&c->db, who, NULL, it->nodes[j], 0, level, err,
					  errlen) < 0)
			return -EPERM;
	return 0;
}

static void http_cancel(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
			json_t **reply)
{
	const struct sched_item *item;
	char err[256], id[SCHED_OCC_ID_MAX];
	json_t *o = ctl_json_object(h->body, h->body_len, err, sizeof(err));
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc, kind = -1;

	*status = 400;
	if (!o || ctl_json_str(o, "id", CTL_REQUIRED, id, sizeof(id), err, sizeof(err)) < 0) {
		*reply = json_pack("{s:s}", "error", err);
		json_decref(o);
		return;
	}
	json_decref(o);
	item = item_of_occurrence(c, id);
	for (i = 0; i < c->sched->items.n; i++)
		if (strcmp(c->sched->items.items[i].id, id) == 0) {
			kind = strcmp(c->sched->items.items[i].file, "announce") == 0;
			item = &c->sched->items.items[i];
		}
	if (item && authorize_cancel(c, h->who, item, err, sizeof(err)) < 0) {
		*status = 403;
		*reply = json_pack("{s:s}", "error", err);
		return;
	}
	/* a play of no known item: nothing says whose it is */
	if (!item && kind < 0 && h->who && !h->who->all_zones) {
		*status = 404;
		*reply = json_pack("{s:s}", "error", "no announcement or planned play with "
				   "that id (see loaxa schedule list)");
		return;
	}
	if (kind == 0) {
		*reply = json_pack("{s:s}", "error", "that is an item of the schedule files: "
				   "remove it from its file and apply again, or cancel one of "
				   "its plays by its occurrence id (loaxa schedule list)");
		return;
	}
	if (kind == 1)
		rc = sdb_prep(c, &st, "DELETE FROM sched_items WHERE id = ? AND kind = "
			      "'announce'", "cannot cancel");
	else if (strncmp(id, "o-", 2) == 0)
		rc = sdb_prep(c, &st, "INSERT OR IGNORE INTO sched_cancelled (occurrence, "
			      "created) VALUES (?, ?)", "cannot cancel");
	else {
		*status = 404;
		*reply = json_pack("{s:s}", "error", "no announcement or play with that id "
				   "(see loaxa schedule list)");
		return;
	}
	if (rc == 0) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (kind != 1)
			sqlite3_bind_int64(st, 2, now_ms());
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sdb_fail(c, "cannot cancel");
	}
	sqlite3_finalize(st);
	json_decref(c->sched->cancelled);
	c->sched->cancelled = NULL;
	if (rc == 0 && kind == 1)
		rc = reload_items(c);
	if (rc < 0) {
		*status = 500;
		*reply = json_pack("{s:s}", "error", "the controller's database failed");
		return;
	}
	log_info("cancelled %s %s", kind == 1 ? "announcement" : "play", id);
	ctl_sched_replan(c, 0);
	*status = 200;
	*reply = json_pack("{s:s, s:s}", "cancelled", id, "kind",
			   kind == 1 ? "announcement" : "occurrence");
}

size_t ctl_sched_max_body(const struct ctl *c)
{
	/* JSON escaping at most doubles a text (\n, \", \\, \t); names and audio maps */
	return (size_t)c->cfg.sched.max_total_bytes * 2 + (1u << 20);
}

int ctl_sched_files_url(const char *url)
{
	return strcmp(url, "/v1/schedule/check") == 0 || strcmp(url, "/v1/schedule/apply") == 0;
}

/* A job holding the items of a draft (announce or apply), resolved already. */
static struct sched_job *draft_job(struct ctl *c, const struct ctl_draft *d)
{
	enum job_kind kind = strcmp(d->kind, "announce") == 0 ? JOB_ANNOUNCE : JOB_APPLY;
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
		unique_announce_id(c, now_ms(), job->set.items[0].id);
	job->approve_draft = d->id;
	job->who = *who;
	job->has_who = 1;
	job_finish(job, status, reply);
	job_free(job);
}

int ctl_sched_owns_url(const char *url)
{
	return strncmp(url, "/v1/schedule", 12) == 0 || strcmp(url, "/v1/announcements") == 0 ||
	       strcmp(url, "/v1/cancel") == 0 || strcmp(url, "/v1/readiness") == 0;
}

int ctl_sched_http(struct ctl *c, const struct ctl_sched_http *h, unsigned *status,
		   json_t **reply)
{
	int get = strcmp(h->method, "GET") == 0, post = strcmp(h->method, "POST") == 0;

	*reply = NULL;
	if (!c->sched) {
		*status = 503;
		*reply = json_pack("{s:s}", "error", "the schedule is not loaded");
		return 0;
	}
	if (strcmp(h->url, "/v1/schedule") == 0 && get) {
		http_list(c, h, status, reply);
		return 0;
	}
	/* for the CLI, which refuses oversized files before sending them */
	if (strcmp(h->url, "/v1/schedule/limits") == 0 && get) {
		*status = 200;
		*reply = json_pack("{s:I, s:I, s:i, s:I}", "max_file_bytes",
				   (json_int_t)c->cfg.sched.max_file_bytes, "max_total_bytes",
				   (json_int_t)c->cfg.sched.max_total_bytes, "max_files",
				   SCHED_MAX_FILES, "max_request_bytes",
				   (json_int_t)ctl_sched_max_body(c));
		return 0;
	}
	if (strcmp(h->url, "/v1/schedule/files") == 0 && get)
		return ctl_sched_files_get(c, status, reply); /* schedfiles.c */
	if (strcmp(h->url, "/v1/schedule/check") == 0 && post)
		return http_files(c, h, JOB_CHECK, status, reply);
	if (strcmp(h->url, "/v1/schedule/apply") == 0 && post)
		return http_files(c, h, JOB_APPLY, status, reply);
	if (strcmp(h->url, "/v1/announcements") == 0 && post)
		return http_announce(c, h, status, reply);
	if (strcmp(h->url, "/v1/cancel") == 0 && post) {
		http_cancel(c, h, status, reply);
		return 0;
	}
	if (strcmp(h->url, "/v1/readiness") == 0 && get) {
		http_readiness(c, h, status, reply);
		return 0;
	}
	*status = 404;
	*reply = json_pack("{s:s}", "error", "no such API endpoint (see docs/schedules.md)");
	return 0;
}
