/*
 * alarms.c - see alarms.h.
 */
#include "alarms.h"
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ctl.h"
#include "keys.h"
#include "i18n.h"
#include "log.h"
#include "util.h"

#define MAX_WANT 64

static void want_add(struct ctl_alarm_want *out, int max, int *n, const char *kind,
		     const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void want_add(struct ctl_alarm_want *out, int max, int *n, const char *kind,
		     const char *key, const char *fmt, ...)
{
	va_list ap;

	if (*n >= max)
		return;
	snprintf(out[*n].kind, sizeof(out[*n].kind), "%s", kind);
	snprintf(out[*n].key, sizeof(out[*n].key), "%s", key);
	va_start(ap, fmt);
	vsnprintf(out[*n].detail, sizeof(out[*n].detail), fmt, ap);
	va_end(ap);
	(*n)++;
}

static double num(json_t *o, const char *a, const char *b, double def)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_number(v) ? json_number_value(v) : def;
}

static void local_hm(char *out, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

int ctl_alarms_decide(const struct ctl *c, int online, int64_t last_seen, int64_t now,
		      json_t *status, int64_t plan_seq, int64_t plan_published,
		      struct ctl_alarm_want *out, int max)
{
	const struct ctl_config *cfg = &c->cfg;
	int n = 0;
	double v;
	json_t *up, *it;
	size_t i;
	char when[32];

	if (!online) {
		if (now - last_seen >= (int64_t)cfg->alarms.offline_s * 1000) {
			local_hm(when, sizeof(when), last_seen);
			want_add(out, max, &n, "offline", "", "offline for %" PRId64 " min (last "
				 "seen %s)", (now - last_seen) / 60000, when);
		}
		return n;
	}
	if (!json_is_object(status))
		return n;
	v = num(status, "clock", "error_ms", -1);
	if (v > cfg->alarms.clock_error_ms)
		want_add(out, max, &n, "clock", "", "clock error bound %.1f ms exceeds %.1f ms "
			 "(offset %.1f ms)", v, cfg->alarms.clock_error_ms,
			 num(status, "clock", "offset_ms", 0));
	v = num(status, "disk", "free_bytes", -1);
	if (v >= 0 && v < (double)cfg->alarms.disk_free_mb * 1048576.0)
		want_add(out, max, &n, "disk", "", "only %.1f MB free on the node's state file "
			 "system (alarm below %d MB)", v / 1048576.0, cfg->alarms.disk_free_mb);
	/* the node lost its sequence store or trust file and fails closed (node/keys.h) */
	it = json_object_get(json_object_get(status, "state"), "lost");
	if (json_is_string(it)) {
		/* keyed by when the node noticed: each loss is its own alarm */
		char key[24];

		snprintf(key, sizeof(key), "%.0f", num(status, "state", "since", 0));
		want_add(out, max, &n, "state", key, "state files lost, failing closed: %s "
			 "(%.0f stale message(s) refused)", json_string_value(it),
			 num(status, "state", "stale", 0));
	}
	it = json_object_get(json_object_get(status, "alsa"), "state");
	if (json_is_string(it) && strcmp(json_string_value(it), "error") == 0)
		want_add(out, max, &n, "alsa", "", "audio device in error: %s (errors %.0f, "
			 "xruns %.0f)", json_string_value(json_object_get(status, "last_error"))
			 ? json_string_value(json_object_get(status, "last_error")) : "",
			 num(status, "alsa", "errors", 0), num(status, "alsa", "xruns", 0));
	/*
	 * Signed messages addressed to other topics reached this node: someone
	 * with the broker republishes the controller's messages (docs/security.md).
	 * The node refused them; the count runs since its start, so the alarm
	 * stays until the node restarts - a broker compromise needs a look.
	 */
	v = num(status, "rejected", "wrong_target", 0);
	if (v > 0)
		want_add(out, max, &n, "misaddressed", "", "the node refused %.0f signed "
			 "message%s addressed to other topics since it started: the broker (or "
			 "whoever holds it) republishes the controller's messages (see the "
			 "node's log)", v, v == 1 ? "" : "s");
	/*
	 * The horn self-test (node/selftest.h): the last test played its tone
	 * and the sensing input did not hear it. The node keeps its last
	 * result across restarts, so the alarm stays until a test hears the
	 * horn again ("ok"); an "error" result says nothing about the horn:
	 * "verdict" is the last ok|silent, which an error does not replace.
	 */
	it = json_object_get(status, "selftest");
	if (json_is_object(it) &&
	    strcmp(json_string_value(json_object_get(it, "verdict")) ?
		   json_string_value(json_object_get(it, "verdict")) :
		   json_string_value(json_object_get(it, "result")) ?
		   json_string_value(json_object_get(it, "result")) : "", "silent") == 0) {
		local_hm(when, sizeof(when), (int64_t)num(it, "at", NULL, 0));
		if (json_is_number(json_object_get(it, "level_db")))
			want_add(out, max, &n, "horn", "", "horn silent: the self-test tone was not "
				 "heard at %s (tone %.1f dB, noise %.1f dB): check the amplifier, its "
				 "power, the cable and the horn", when, num(it, "level_db", NULL, 0),
				 num(it, "noise_db", NULL, 0));
		else /* the last test could not be done: the silent one before stands */
			want_add(out, max, &n, "horn", "", "horn silent at the last test that could "
				 "be done (the test at %s could not: %s): check the amplifier, its "
				 "power, the cable and the horn", when,
				 json_string_value(json_object_get(it, "reason")) ?
				 json_string_value(json_object_get(it, "reason")) : "");
	}
	if (plan_seq > 0 && plan_published > 0 &&
	    now - plan_published >= (int64_t)cfg->alarms.plan_ack_s * 1000) {
		json_t *ps = json_object_get(json_object_get(status, "plan"), "seq");
		int64_t have = json_is_integer(ps) ? json_integer_value(ps) : 0;

		if (have < plan_seq)
			want_add(out, max, &n, "plan", "", "plan %" PRId64 " published %" PRId64
				 " s ago is not acknowledged (node has %" PRId64 ")", plan_seq,
				 (now - plan_published) / 1000, have);
	}
	up = json_object_get(status, "upcoming");
	json_array_foreach(up, i, it) {
		json_t *at = json_object_get(it, "at"), *ready = json_object_get(it, "ready");
		const char *id = json_string_value(json_object_get(it, "id"));

		if (!id || !json_is_integer(at) || !json_is_false(ready))
			continue;
		if (json_integer_value(at) > now &&
		    json_integer_value(at) - now <= (int64_t)cfg->alarms.miss_ahead_s * 1000) {
			local_hm(when, sizeof(when), json_integer_value(at));
			want_add(out, max, &n, "miss", id, "item %s at %s will be missed: its "
				 "content is not on the node", id, when);
		}
	}
	return n;
}

/* ---------------------------------------------------------------- hooks */

static void hook_run(struct ctl *c, json_t *alarm, const char *what)
{
	struct ctl_alarms *a = &c->alarms;
	char *text;
	int p[2], slot;
	pid_t pid;

	if (!c->cfg.alarms.hook[0])
		return;
	for (slot = 0; slot < CTL_ALARM_HOOKS_MAX && a->hooks[slot].pid; slot++)
		;
	if (slot == CTL_ALARM_HOOKS_MAX) {
		log_warnx("alarm hook %s: %d hooks still running, not started for %s",
			  c->cfg.alarms.hook, CTL_ALARM_HOOKS_MAX, what);
		a->hook_failures++;
		return;
	}
	text = json_dumps(alarm, JSON_COMPACT);
	if (!text)
		return;
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_warn("alarm hook: pipe");
		free(text);
		return;
	}
	pid = fork();
	if (pid < 0) {
		log_warn("alarm hook: fork");
		close(p[0]);
		close(p[1]);
		free(text);
		return;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(p[0], 0);
		syscall(SYS_close_range, 3U, ~0U, 0U);
		execl(c->cfg.alarms.hook, c->cfg.alarms.hook, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	/*
	 * The alarm is a few hundred bytes, far below the pipe buffer: this
	 * write never blocks, and the hook reads it whenever it likes.
	 */
	if (write(p[1], text, strlen(text)) < 0 || write(p[1], "\n", 1) < 0)
		log_warn("alarm hook: writing the alarm");
	close(p[1]);
	free(text);
	a->hooks[slot].pid = pid;
	a->hooks[slot].started_mono = mono_ms();
	snprintf(a->hooks[slot].what, sizeof(a->hooks[slot].what), "%s", what);
}

void ctl_alarms_reap(struct ctl *c)
{
	struct ctl_alarms *a = &c->alarms;
	int i, status;

	for (i = 0; i < CTL_ALARM_HOOKS_MAX; i++) {
		struct ctl_alarm_hook *h = &a->hooks[i];

		if (!h->pid || waitpid(h->pid, &status, WNOHANG) != h->pid)
			continue;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			a->hook_failures++;
			log_warnx("alarm hook %s for %s failed (%s %d)", c->cfg.alarms.hook,
				  h->what, WIFEXITED(status) ? "exit status" : "signal",
				  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		} else {
			log_debug("alarm hook for %s done", h->what);
		}
		h->pid = 0;
	}
}

static void hooks_timeout(struct ctl *c)
{
	struct ctl_alarms *a = &c->alarms;
	int64_t mono = mono_ms();
	int i;

	for (i = 0; i < CTL_ALARM_HOOKS_MAX; i++) {
		struct ctl_alarm_hook *h = &a->hooks[i];

		if (h->pid && mono - h->started_mono >= (int64_t)c->cfg.alarms.hook_timeout_s *
							       1000) {
			log_warnx("alarm hook %s for %s still runs after %d s: killed",
				  c->cfg.alarms.hook, h->what, c->cfg.alarms.hook_timeout_s);
			kill(h->pid, SIGKILL);
			/* reaped at its SIGCHLD */
			h->started_mono = mono + 3600 * 1000;
		}
	}
}

void ctl_alarms_free(struct ctl *c)
{
	struct ctl_alarms *a = &c->alarms;
	int i;

	for (i = 0; i < CTL_ALARM_HOOKS_MAX; i++) {
		if (!a->hooks[i].pid)
			continue;
		kill(a->hooks[i].pid, SIGKILL);
		while (waitpid(a->hooks[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		a->hooks[i].pid = 0;
	}
}

/* ---------------------------------------------------------------- storage */

static json_t *row_json(sqlite3_stmt *st)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}",
			      "id", (json_int_t)sqlite3_column_int64(st, 0),
			      "node", (const char *)sqlite3_column_text(st, 1),
			      "kind", (const char *)sqlite3_column_text(st, 2),
			      "key", (const char *)sqlite3_column_text(st, 3),
			      "detail", (const char *)sqlite3_column_text(st, 4),
			      "raised", (json_int_t)sqlite3_column_int64(st, 5));

	if (o)
		json_object_set_new(o, "cleared", sqlite3_column_type(st, 6) == SQLITE_NULL
					? json_null()
					: json_integer(sqlite3_column_int64(st, 6)));
	return o;
}

static void notify(struct ctl *c, json_t *alarm, const char *event)
{
	char what[96];

	json_object_set_new(alarm, "event", json_string(event));
	json_object_set_new(alarm, "site", json_string(c->cfg.site));
	snprintf(what, sizeof(what), "%s %s/%s", event,
		 json_string_value(json_object_get(alarm, "node")),
		 json_string_value(json_object_get(alarm, "kind")));
	hook_run(c, alarm, what);
	ctl_api_event(c, "alarm", json_string_value(json_object_get(alarm, "node")), alarm);
}

static int raise_alarm(struct ctl *c, const char *node, const struct ctl_alarm_want *w,
		       int64_t now)
{
	sqlite3_stmt *st = NULL;
	json_t *o;
	int rc = -EIO;

	if (ctl_db_prep(&c->db, &st, "INSERT INTO alarms (node, kind, key, detail, raised) "
			"VALUES (?, ?, ?, ?, ?) RETURNING id, node, kind, key, detail, "
			"raised, cleared", NULL) < 0)
		goto out;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, w->kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, w->key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, w->detail, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	if (sqlite3_step(st) != SQLITE_ROW)
		goto out;
	o = row_json(st);
	rc = 0;
	c->alarms.raised++;
	log_warnx(_("ALARM raised: node %s: %s%s%s: %s"), node, w->kind, w->key[0] ? " " : "",
		  w->key, w->detail);
	if (o) {
		sqlite3_finalize(st);
		st = NULL;
		notify(c, o, "raised");
		json_decref(o);
	}
out:
	if (rc < 0)
		ctl_db_fail(&c->db, "cannot store an alarm");
	sqlite3_finalize(st);
	return rc;
}

static void clear_alarm(struct ctl *c, int64_t id, int64_t now)
{
	sqlite3_stmt *st = NULL;
	json_t *o = NULL;

	if (ctl_db_prep(&c->db, &st, "UPDATE alarms SET cleared = ? WHERE id = ? AND cleared IS NULL "
			"RETURNING id, node, kind, key, detail, raised, cleared",
			"cannot clear an alarm") < 0) {
		return;
	}
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = row_json(st);
	sqlite3_finalize(st);
	if (!o)
		return;
	c->alarms.cleared++;
	log_info(_("alarm cleared: node %s: %s%s%s (%s)"),
		 json_string_value(json_object_get(o, "node")),
		 json_string_value(json_object_get(o, "kind")),
		 json_string_value(json_object_get(o, "key"))[0] ? " " : "",
		 json_string_value(json_object_get(o, "key")),
		 json_string_value(json_object_get(o, "detail")));
	notify(c, o, "cleared");
	json_decref(o);
}

/* The newest plan published to node, if the schedules tables exist. */
static void plan_of(struct ctl *c, const char *node, int64_t *seq, int64_t *published)
{
	sqlite3_stmt *st = NULL;

	*seq = *published = 0;
	if (ctl_db_prep(&c->db, &st, "SELECT seq, published FROM sched_plans WHERE node = ?",
			NULL) < 0)
		return; /* no schedules in this database version */
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*seq = sqlite3_column_int64(st, 0);
		*published = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
}

/*
 * Make the active alarms of node exactly want[0..n): raise what is new,
 * clear what is gone, leave the rest (raised once, not again every tick).
 */
static void reconcile(struct ctl *c, const char *node, const struct ctl_alarm_want *want, int n,
		      int64_t now)
{
	sqlite3_stmt *st = NULL;
	int i, *have = NULL;

	have = calloc(MAX_WANT, sizeof(*have));
	if (!have)
		return;
	if (ctl_db_prep(&c->db, &st, "SELECT id, kind, key FROM alarms WHERE node = ? AND "
			"cleared IS NULL", NULL) < 0)
		goto out;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	{
		int64_t gone[256];
		int ngone = 0, k;

		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *kind = (const char *)sqlite3_column_text(st, 1);
			const char *key = (const char *)sqlite3_column_text(st, 2);
			int found = 0;

			for (i = 0; i < n; i++) {
				if (!strcmp(want[i].kind, kind) && !strcmp(want[i].key, key)) {
					have[i] = 1;
					found = 1;
				}
			}
			if (!found && ngone < 256)
				gone[ngone++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		st = NULL;
		for (k = 0; k < ngone; k++)
			clear_alarm(c, gone[k], now);
	}
	for (i = 0; i < n; i++)
		if (!have[i])
			raise_alarm(c, node, &want[i], now);
out:
	sqlite3_finalize(st);
	free(have);
}

static void eval_node(struct ctl *c, const char *node, int online, int64_t last_seen,
		      const char *status_text, int64_t now)
{
	struct ctl_alarm_want want[MAX_WANT];
	json_t *status = status_text ? json_loads(status_text, 0, NULL) : NULL;
	int64_t plan_seq, plan_pub;
	int n;

	plan_of(c, node, &plan_seq, &plan_pub);
	n = ctl_alarms_decide(c, online, last_seen, now, status, plan_seq, plan_pub, want,
			      MAX_WANT);
	json_decref(status);
	reconcile(c, node, want, n, now);
}

void ctl_alarms_tick(struct ctl *c)
{
	sqlite3_stmt *st = NULL;
	int64_t now = now_ms();
	struct nrow {
		char id[CTL_NAME_MAX];
		int online;
		int64_t last_seen;
		char *status;
	} *rows = NULL;
	size_t n = 0, cap = 0, i;

	hooks_timeout(c);
	if (!c->db.h)
		return;
	if (ctl_db_prep(&c->db, &st, "SELECT id, online, CASE WHEN online = 0 AND since > last_seen "
			"THEN since ELSE last_seen END, status FROM nodes",
			"cannot read nodes for alarms") < 0) {
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *s = sqlite3_column_text(st, 3);

		if (n == cap) {
			struct nrow *r = realloc(rows, (cap ? cap * 2 : 16) * sizeof(*rows));
			if (!r)
				break;
			rows = r;
			cap = cap ? cap * 2 : 16;
		}
		snprintf(rows[n].id, sizeof(rows[n].id), "%s", sqlite3_column_text(st, 0));
		rows[n].online = sqlite3_column_int(st, 1);
		rows[n].last_seen = sqlite3_column_int64(st, 2);
		rows[n].status = s ? strdup((const char *)s) : NULL;
		n++;
	}
	sqlite3_finalize(st);
	/* one transaction: a tick with many changes is one disk write */
	if (ctl_db_begin(&c->db) < 0)
		goto out;
	for (i = 0; i < n; i++)
		eval_node(c, rows[i].id, rows[i].online, rows[i].last_seen, rows[i].status, now);
	{
		/* site-wide alarms (controller key, certificates) under "@site", which no
		 * node id can be (ids start with a letter or digit) */
		struct ctl_alarm_want want[CTL_KEYS_ALARMS_MAX];

		reconcile(c, "@site", want, ctl_keys_alarms(c, want, CTL_KEYS_ALARMS_MAX),
			  now);
	}
	ctl_db_commit(&c->db);
out:
	for (i = 0; i < n; i++)
		free(rows[i].status);
	free(rows);
}

json_t *ctl_alarms_json(struct ctl *c, int all, const char *node)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	if (ctl_db_prep(&c->db, &st, "SELECT id, node, kind, key, detail, raised, cleared FROM alarms "
			"WHERE (?1 OR cleared IS NULL) AND (?2 IS NULL OR node = ?2) "
			"ORDER BY raised DESC, id DESC LIMIT 10000", NULL) < 0) {
		json_decref(arr);
		return NULL;
	}
	sqlite3_bind_int(st, 1, all);
	if (node)
		sqlite3_bind_text(st, 2, node, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, row_json(st));
	sqlite3_finalize(st);
	return arr;
}

int ctl_alarms_active(struct ctl *c, const char *node)
{
	sqlite3_stmt *st = NULL;
	int n = 0;

	if (ctl_db_prep(&c->db, &st, "SELECT count(*) FROM alarms WHERE cleared IS NULL AND "
			"(?1 IS NULL OR node = ?1)", NULL) < 0)
		return -EIO;
	if (node)
		sqlite3_bind_text(st, 1, node, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}
