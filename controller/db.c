/*
 * db.c - see db.h.
 */
#include "db.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "log.h"

/* Reservation ahead for the frequent, short-lived envelope types (us). */
#define SEQ_RESERVE_US 10000000ULL

static const char schema_v1[] =
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL);"
	"CREATE TABLE seq ("
	"  type INTEGER PRIMARY KEY,"        /* enum envelope_type */
	"  value INTEGER NOT NULL);"         /* highest sequence that may have been used */
	"CREATE TABLE nodes ("
	"  id TEXT PRIMARY KEY,"
	"  online INTEGER NOT NULL DEFAULT 0,"
	"  boot INTEGER NOT NULL DEFAULT 0,"
	"  version TEXT NOT NULL DEFAULT '',"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL DEFAULT 0,"
	"  status TEXT);"                    /* last full status JSON */
	"CREATE TABLE node_zones ("
	"  node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	"  zone TEXT NOT NULL,"
	"  pos INTEGER NOT NULL,"
	"  PRIMARY KEY (node, zone));"
	"CREATE INDEX node_zones_zone ON node_zones(zone);"
	"CREATE TABLE content ("
	"  id TEXT PRIMARY KEY,"             /* SHA-256 hex of the Ogg Opus file */
	"  title TEXT NOT NULL,"
	"  duration_ms INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  input_lufs REAL,"
	"  output_lufs REAL,"
	"  true_peak_dbtp REAL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE broadcasts ("
	"  id TEXT PRIMARY KEY,"
	"  content TEXT NOT NULL REFERENCES content(id),"
	"  target_kind TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  topic TEXT NOT NULL,"
	"  level TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  volume INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL);"
	"CREATE TABLE targets ("
	"  broadcast TEXT NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,"
	"  node TEXT NOT NULL,"
	"  result TEXT NOT NULL DEFAULT 'pending',"  /* pending|started|finished|failed */
	"  start INTEGER,"
	"  duration_ms INTEGER,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (broadcast, node));"
	"CREATE TABLE events ("
	"  node TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  boot INTEGER,"
	"  type TEXT NOT NULL,"
	"  ts INTEGER,"
	"  broadcast TEXT,"
	"  content TEXT,"
	"  start INTEGER,"
	"  duration_ms INTEGER,"
	"  reason TEXT,"
	"  received INTEGER NOT NULL,"
	"  PRIMARY KEY (node, id));"
	"CREATE INDEX events_broadcast ON events(broadcast);";

/* Schedules (scheduler.c, schedstore.c): items, cancelled occurrences, plans, plan results. */
static const char schema_v3_schedules[] =
	"CREATE TABLE sched_items ("
	"  id TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL,"              /* schedule | announce */
	"  def TEXT NOT NULL,"               /* the resolved item, JSON (schedparse.h) */
	"  created INTEGER NOT NULL);"
	"CREATE TABLE sched_sources ("
	"  key TEXT PRIMARY KEY,"            /* file:<sha256>:..., text:vi:<sha256>:..., chime:... */
	"  content TEXT NOT NULL,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE sched_cancelled ("
	"  occurrence TEXT PRIMARY KEY,"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE sched_plans ("
	"  node TEXT PRIMARY KEY,"
	"  seq INTEGER NOT NULL,"
	"  generated INTEGER NOT NULL,"
	"  horizon INTEGER NOT NULL,"
	"  digest TEXT NOT NULL,"
	"  items INTEGER NOT NULL,"
	"  body TEXT NOT NULL,"
	"  envelope BLOB NOT NULL,"
	"  published INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE sched_plays ("
	"  occurrence TEXT NOT NULL,"
	"  node TEXT NOT NULL,"
	"  result TEXT NOT NULL,"            /* started|played|failed|preempted|stopped */
	"  scheduled INTEGER,"
	"  start INTEGER,"
	"  duration_ms INTEGER,"
	"  reason TEXT NOT NULL DEFAULT '',"
	"  event TEXT NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  PRIMARY KEY (occurrence, node));";

/*
 * Security (auth.c, provision.c): operator accounts, login tokens (only
 * their SHA-256), the audit log, and the broker credentials of each node.
 */
static const char schema_v2_security[] =
	"CREATE TABLE users ("
	"  name TEXT PRIMARY KEY,"
	"  role TEXT NOT NULL,"              /* operator|approver|maintenance|admin */
	"  zones TEXT NOT NULL,"             /* "*" or a JSON array of zone names */
	"  pwhash TEXT NOT NULL,"            /* crypto_pwhash_str (Argon2id) */
	"  created INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  hash TEXT PRIMARY KEY,"           /* SHA-256 hex of the bearer token */
	"  user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  peer TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  user TEXT NOT NULL,"
	"  role TEXT NOT NULL,"
	"  peer TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  target TEXT NOT NULL,"
	"  result TEXT NOT NULL,"            /* allowed|refused|failed */
	"  status INTEGER NOT NULL,"
	"  detail TEXT NOT NULL);"
	"CREATE TABLE node_creds ("
	"  node TEXT PRIMARY KEY,"
	"  zones TEXT NOT NULL,"             /* JSON array */
	"  pwhash TEXT NOT NULL,"            /* mosquitto $7$ PBKDF2-SHA512 */
	"  created INTEGER NOT NULL,"
	"  revoked INTEGER);"                /* ms, NULL while valid */
	"CREATE TABLE keys ("
	"  pk TEXT PRIMARY KEY,"             /* Ed25519 public key, hex */
	"  created INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"      /* nodes refuse it after this */
	"  retired INTEGER,"                 /* ms the controller stopped using it */
	"  revoked INTEGER);"                /* ms; announced as revoked_keys */
	"CREATE TABLE trust ("              /* the last trust document issued */
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  issued INTEGER NOT NULL,"
	"  envelope BLOB NOT NULL);";

/*
 * v5 (health, proof of play): what a play event proves (plan occurrence,
 * scheduled and actual start with the clock error bound, end reason,
 * preemptor), the event JSON as received, alarms, maintenance commands, and
 * per node how often it restarted (boot went up) or reconnected (same boot).
 */
static const char schema_v5_health[] =
	"ALTER TABLE events ADD COLUMN level TEXT;"
	"ALTER TABLE events ADD COLUMN title TEXT;"
	"ALTER TABLE events ADD COLUMN occurrence TEXT;"
	"ALTER TABLE events ADD COLUMN plan_seq INTEGER;"
	"ALTER TABLE events ADD COLUMN scheduled INTEGER;"
	"ALTER TABLE events ADD COLUMN error_ms REAL;"
	"ALTER TABLE events ADD COLUMN end_reason TEXT;"
	"ALTER TABLE events ADD COLUMN preemptor TEXT;"
	"ALTER TABLE events ADD COLUMN drill INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE events ADD COLUMN data TEXT;"
	"CREATE INDEX events_ts ON events(ts);"
	"CREATE INDEX events_occurrence ON events(occurrence);"
	"ALTER TABLE nodes ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE nodes ADD COLUMN reconnects INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE nodes ADD COLUMN since INTEGER NOT NULL DEFAULT 0;" /* online/offline since */
	"CREATE TABLE alarms ("
	"  id INTEGER PRIMARY KEY,"
	"  node TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"               /* offline, clock, disk, alsa, plan, miss, journal */
	"  key TEXT NOT NULL DEFAULT '',"     /* e.g. the occurrence a miss is about */
	"  detail TEXT NOT NULL,"
	"  raised INTEGER NOT NULL,"
	"  cleared INTEGER,"                  /* NULL while active */
	"  data TEXT);"
	"CREATE UNIQUE INDEX alarms_active ON alarms(node, kind, key) WHERE cleared IS NULL;"
	"CREATE TABLE commands ("
	"  id TEXT PRIMARY KEY,"
	"  node TEXT NOT NULL,"
	"  cmd TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"              /* sent, ok, refused, failed, played */
	"  reason TEXT NOT NULL DEFAULT '',"
	"  updated INTEGER NOT NULL);";

/*
 * Schema migrations, in order: migrations[i] takes a database from version i
 * to version i + 1, inside one transaction with the version bump, so a
 * controller killed half-way leaves the old schema intact. Append new ones;
 * never edit one that has shipped.
 */
/* v4 (live, issue 5): the named emergency clips delivered to every node ahead. */
static const char schema_v4_live[] =
	"CREATE TABLE emergency_clips ("
	"  name TEXT PRIMARY KEY,"
	"  content TEXT NOT NULL REFERENCES content(id),"
	"  updated INTEGER NOT NULL);";

/*
 * v6 (approval, issue 16): drafts of operators' announcements, plays and
 * schedule applies waiting for an approver (approval.c), and emergencies
 * recorded for review afterwards. A draft's history is in the audit log.
 */
static const char schema_v6_approval[] =
	"CREATE TABLE drafts ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"  /* never reused: `loaxa approve 7` */
	"  kind TEXT NOT NULL,"               /* announce, apply, broadcast */
	"  state TEXT NOT NULL,"              /* pending, approved, rejected, withdrawn */
	"  author TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  edits INTEGER NOT NULL DEFAULT 0,"
	"  title TEXT NOT NULL,"
	"  level TEXT NOT NULL,"
	"  target TEXT NOT NULL,"             /* \"zone thon-1\", \"node n1\", \"all\", ... */
	"  zones TEXT NOT NULL,"              /* JSON array: who may read it */
	"  at INTEGER,"                       /* first start, ms; NULL: now / a schedule */
	"  payload TEXT NOT NULL,"            /* JSON: what approval schedules */
	"  decided_by TEXT,"
	"  decided INTEGER,"
	"  reason TEXT,"
	"  result TEXT);"                     /* a-..., b-..., \"schedule\" */
	"CREATE INDEX drafts_state ON drafts(state);"
	"CREATE TABLE emergency_reviews ("
	"  emergency TEXT PRIMARY KEY,"       /* broadcasts.id, e-... or d-... */
	"  started_by TEXT NOT NULL,"
	"  started INTEGER NOT NULL,"
	"  reviewed_by TEXT,"
	"  reviewed INTEGER,"
	"  note TEXT);";

/*
 * v7 (issue 17): the schedule files as applied, as the client sent them
 * (the controller opens no file an operator names): their names, texts and
 * audio maps, in the order given. Backups carry them (backup.c).
 */
static const char schema_v7_sched_files[] =
	"CREATE TABLE sched_files ("
	"  pos INTEGER PRIMARY KEY,"         /* order in the apply, from 1 */
	"  name TEXT NOT NULL,"              /* as the operator named it: a label */
	"  text TEXT NOT NULL,"
	"  audio TEXT NOT NULL,"             /* its audio map, JSON (schedfile.h) */
	"  sha256 TEXT NOT NULL,"            /* of text */
	"  applied INTEGER NOT NULL);";

static const char *const migrations[] = {
	schema_v1,
	schema_v2_security,
	schema_v3_schedules,
	schema_v4_live,
	schema_v5_health,
	schema_v6_approval,
	schema_v7_sched_files,
};

#define MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(MIGRATIONS == CTL_DB_SCHEMA_VERSION,
	       "CTL_DB_SCHEMA_VERSION must equal the number of migrations");

/* ------------------------------------------------ the one SQL helper */

int ctl_db_fail(struct ctl_db *db, const char *what)
{
	log_errorx("%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
	return -EIO;
}

int ctl_db_exec(struct ctl_db *db, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_errorx("%s: %s: %s", db->path, what, msg ? msg : sqlite3_errmsg(db->h));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int ctl_db_prep(struct ctl_db *db, sqlite3_stmt **st, const char *sql, const char *what)
{
	if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return what ? ctl_db_fail(db, what) : -EIO;
	}
	return 0;
}

/* Run a statement that returns no rows (or ignore them). */
static int db_step_done(struct ctl_db *db, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return ctl_db_fail(db, what);
	return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

/* Bind a number, or NULL for the "absent" value -1. */
static void bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static void col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	snprintf(out, outlen, "%s", s ? (const char *)s : "");
}

/* Atomic on its own, nestable inside ctl_db_begin(). */
static int sp_begin(struct ctl_db *db)
{
	return ctl_db_exec(db, "SAVEPOINT ctl", "cannot start a transaction");
}

static int sp_end(struct ctl_db *db, int rc)
{
	if (rc < 0) {
		sqlite3_exec(db->h, "ROLLBACK TO ctl; RELEASE ctl", NULL, NULL, NULL);
		return rc;
	}
	if (ctl_db_exec(db, "RELEASE ctl", "cannot commit a transaction") < 0)
		return -EIO;
	return rc;
}

int ctl_db_begin(struct ctl_db *db)
{
	return ctl_db_exec(db, "BEGIN IMMEDIATE", "cannot start a transaction");
}

int ctl_db_commit(struct ctl_db *db)
{
	if (ctl_db_exec(db, "COMMIT", "cannot commit a transaction") < 0) {
		ctl_db_rollback(db);
		return -EIO;
	}
	return 0;
}

void ctl_db_rollback(struct ctl_db *db)
{
	if (sqlite3_get_autocommit(db->h) == 0)
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

static int db_user_version(struct ctl_db *db, int *version, int *tables)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st, "PRAGMA user_version", "cannot read the schema version");
	if (rc < 0)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = ctl_db_fail(db, "cannot read the schema version");
		goto out;
	}
	*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	rc = ctl_db_prep(db, &st, "SELECT count(*) FROM sqlite_master",
			 "cannot read the schema");
	if (rc < 0)
		return rc;
	if (sqlite3_step(st) != SQLITE_ROW) {
		rc = ctl_db_fail(db, "cannot read the schema");
		goto out;
	}
	*tables = sqlite3_column_int(st, 0);
out:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Open (creating when absent) and check the schema version: a database of a
 * newer schema is refused rather than misread; an empty file gets schema 1.
 */
int ctl_db_open(struct ctl_db *db, const char *path)
{
	int rc, version = 0, tables = 0;

	memset(db, 0, sizeof(*db));
	if (str_copy(db->path, sizeof(db->path), path) < 0)
		return -ENAMETOOLONG;
	if (sqlite3_open_v2(path, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = ctl_db_fail(db, "cannot open the database");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	/* auto_vacuum first: a new database frees the space of pruned rows a
	 * little at a time (retention.c, PRAGMA incremental_vacuum per loop
	 * turn), which can only be chosen before its first page is written; on
	 * an older database it changes nothing. */
	rc = ctl_db_exec(db, "PRAGMA auto_vacuum = INCREMENTAL; "
		     "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
		     "PRAGMA foreign_keys = ON;", "cannot open the database");
	if (rc < 0)
		goto fail;
	rc = db_user_version(db, &version, &tables);
	if (rc < 0)
		goto fail;
	if (version == 0 && tables > 0) {
		log_errorx("%s: this is not a loaxa database (it has tables but no schema "
			   "version); move it away or point state_dir elsewhere", path);
		rc = -EINVAL;
		goto fail;
	}
	if (version > CTL_DB_SCHEMA_VERSION) {
		log_errorx("%s: the database has schema version %d, written by a newer "
			   "loaxa-controller; this one knows version %d", path, version,
			   CTL_DB_SCHEMA_VERSION);
		rc = -EINVAL;
		goto fail;
	}
	for (; version < MIGRATIONS; version++) {
		char bump[48];

		snprintf(bump, sizeof(bump), "PRAGMA user_version = %d;", version + 1);
		rc = ctl_db_begin(db);
		if (rc < 0)
			goto fail;
		rc = ctl_db_exec(db, migrations[version], "cannot update the database schema");
		if (rc == 0)
			rc = ctl_db_exec(db, bump, "cannot update the database schema");
		if (rc < 0) {
			ctl_db_rollback(db);
			goto fail;
		}
		rc = ctl_db_commit(db);
		if (rc < 0)
			goto fail;
		log_info("%s: database schema now at version %d", path, version + 1);
	}
	return 0;
fail:
	ctl_db_close(db);
	return rc;
}

void ctl_db_close(struct ctl_db *db)
{
	if (db->h)
		sqlite3_close(db->h);
	db->h = NULL;
}

/* ------------------------------------------------------------ sequences */

static int seq_load(struct ctl_db *db, enum envelope_type type)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st, "SELECT value FROM seq WHERE type = ?",
			 "cannot read a sequence counter");
	if (rc < 0)
		return rc;
	sqlite3_bind_int(st, 1, (int)type);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(st, 0);
		db->seq_stored[type] = v > 0 ? (uint64_t)v : 0;
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		db->seq_stored[type] = 0;
		rc = 0;
	} else {
		rc = ctl_db_fail(db, "cannot read a sequence counter");
	}
	sqlite3_finalize(st);
	if (rc == 0) {
		db->seq_last[type] = db->seq_stored[type];
		db->seq_loaded[type] = 1;
	}
	return rc;
}

int ctl_db_next_seq(struct ctl_db *db, enum envelope_type type, uint64_t now_us,
		    uint64_t *seq)
{
	sqlite3_stmt *st = NULL;
	uint64_t next, keep;
	int rc;

	if ((int)type < 1 || type > ENV_TYPE_MAX)
		return -EINVAL;
	if (!db->seq_loaded[type]) {
		rc = seq_load(db, type);
		if (rc < 0)
			return rc;
	}
	/* seq_last starts at the stored value (seq_load), so this is > stored */
	next = db->seq_last[type] + 1;
	if (now_us > next)
		next = now_us;
	if (next > (uint64_t)INT64_MAX - SEQ_RESERVE_US)
		return -EOVERFLOW;
	if (next > db->seq_stored[type]) {
		keep = next;
		if (type == ENV_CONTENT || type == ENV_LIVE || type == ENV_TIME)
			keep += SEQ_RESERVE_US;
		rc = ctl_db_prep(db, &st, "INSERT INTO seq (type, value) VALUES (?, ?) "
				 "ON CONFLICT(type) DO UPDATE SET value = excluded.value",
				 "cannot store a sequence counter");
		if (rc < 0)
			return rc;
		sqlite3_bind_int(st, 1, (int)type);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)keep);
		rc = db_step_done(db, st, "cannot store a sequence counter");
		sqlite3_finalize(st);
		if (rc < 0)
			return rc;
		db->seq_stored[type] = keep;
	}
	db->seq_last[type] = next;
	*seq = next;
	return 0;
}

/* ------------------------------------------------------------ nodes */

int ctl_db_node_get(struct ctl_db *db, const char *id, struct ctl_node_row *row)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(row, 0, sizeof(*row));
	snprintf(row->id, sizeof(row->id), "%s", id);
	rc = ctl_db_prep(db, &st, "SELECT online, boot, last_seen, version FROM nodes "
			 "WHERE id = ?", "cannot read a node");
	if (rc < 0)
		return rc;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row->known = 1;
		row->online = sqlite3_column_int(st, 0);
		row->boot = sqlite3_column_int64(st, 1);
		row->last_seen = sqlite3_column_int64(st, 2);
		col_text(st, 3, row->version, sizeof(row->version));
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = 0;
	} else {
		rc = ctl_db_fail(db, "cannot read a node");
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl_db_node_set_status(struct ctl_db *db, const char *id, int online, int64_t boot,
			   const char *version, int64_t last_seen,
			   char (*zones)[CTL_NAME_MAX], size_t nzones,
			   const char *status_json)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	rc = sp_begin(db);
	if (rc < 0)
		return rc;
	rc = ctl_db_prep(db, &st,
			"INSERT INTO nodes (id, online, boot, version, first_seen, last_seen, "
			"status) VALUES (?1, ?6, ?2, ?3, ?4, ?4, ?5) ON CONFLICT(id) DO UPDATE SET "
			"online = ?6, boot = ?2, version = ?3, last_seen = ?4, status = ?5",
			"cannot store a node's status");
	if (rc < 0)
		goto out;
	bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, boot);
	bind_text(st, 3, version);
	sqlite3_bind_int64(st, 4, last_seen);
	bind_text(st, 5, status_json);
	sqlite3_bind_int(st, 6, online ? 1 : 0);
	rc = db_step_done(db, st, "cannot store a node's status");
	sqlite3_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = ctl_db_prep(db, &st, "DELETE FROM node_zones WHERE node = ?",
			 "cannot store a node's zones");
	if (rc < 0)
		goto out;
	bind_text(st, 1, id);
	rc = db_step_done(db, st, "cannot store a node's zones");
	sqlite3_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = ctl_db_prep(db, &st, "INSERT OR IGNORE INTO node_zones (node, zone, pos) "
			 "VALUES (?, ?, ?)", "cannot store a node's zones");
	if (rc < 0)
		goto out;
	for (i = 0; i < nzones; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, id);
		bind_text(st, 2, zones[i]);
		sqlite3_bind_int(st, 3, (int)i);
		rc = db_step_done(db, st, "cannot store a node's zones");
		if (rc < 0)
			goto out;
	}
out:
	sqlite3_finalize(st);
	return sp_end(db, rc);
}

int ctl_db_node_set_offline(struct ctl_db *db, const char *id, int64_t boot)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st,
			 "INSERT INTO nodes (id, online, boot, first_seen) VALUES (?1, 0, ?2, ?3) "
			 "ON CONFLICT(id) DO UPDATE SET online = 0, boot = max(boot, ?2)",
			 "cannot store a node's status");
	if (rc < 0)
		return rc;
	bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, boot);
	sqlite3_bind_int64(st, 3, now_ms());
	rc = db_step_done(db, st, "cannot store a node's status");
	sqlite3_finalize(st);
	return rc;
}

int ctl_db_nodes_clamp_last_seen(struct ctl_db *db, int64_t now_ms)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st, "UPDATE nodes SET last_seen = ?1 WHERE last_seen > ?1",
			 "cannot bring last-seen times back to the clock");
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, now_ms);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0
		: ctl_db_fail(db, "cannot bring last-seen times back to the clock");
	sqlite3_finalize(st);
	return rc;
}

int ctl_db_nodes_expire(struct ctl_db *db, int64_t before_ms,
			void (*cb)(void *arg, const struct ctl_node_row *row),
			void *arg)
{
	sqlite3_stmt *st = NULL;
	struct ctl_node_row row;
	int rc, count = 0;

	rc = sp_begin(db);
	if (rc < 0)
		return rc;
	rc = ctl_db_prep(db, &st, "UPDATE nodes SET online = 0 WHERE online = 1 AND "
			 "last_seen < ? RETURNING id, boot, last_seen, version",
			 "cannot mark silent nodes offline");
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(st, 1, before_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		col_text(st, 0, row.id, sizeof(row.id));
		row.known = 1;
		row.boot = sqlite3_column_int64(st, 1);
		row.last_seen = sqlite3_column_int64(st, 2);
		col_text(st, 3, row.version, sizeof(row.version));
		if (cb)
			cb(arg, &row);
		count++;
	}
	rc = rc == SQLITE_DONE ? count : ctl_db_fail(db, "cannot mark silent nodes offline");
out:
	sqlite3_finalize(st);
	return sp_end(db, rc);
}

int ctl_db_zone_nodes(struct ctl_db *db, const char *zone,
		      char (*out)[CTL_NAME_MAX], size_t max, size_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*n = 0;
	if (zone)
		rc = ctl_db_prep(db, &st, "SELECT node FROM node_zones WHERE zone = ? "
				 "ORDER BY node", "cannot read the nodes of a zone");
	else
		rc = ctl_db_prep(db, &st, "SELECT id FROM nodes ORDER BY id",
				 "cannot read the nodes");
	if (rc < 0)
		return rc;
	if (zone)
		bind_text(st, 1, zone);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n >= max) {
			log_errorx("more than %zu nodes in %s%s: only the first %zu are "
				   "addressed", max, zone ? "zone " : "",
				   zone ? zone : "the site", max);
			break;
		}
		col_text(st, 0, out[*n], CTL_NAME_MAX);
		(*n)++;
	}
	rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0
						    : ctl_db_fail(db, "cannot read the nodes");
	sqlite3_finalize(st);
	return rc;
}

int ctl_db_node_count(struct ctl_db *db)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st, "SELECT count(*) FROM nodes", "cannot count the nodes");
	if (rc < 0)
		return rc;
	rc = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0)
					    : ctl_db_fail(db, "cannot count the nodes");
	sqlite3_finalize(st);
	return rc;
}

/* ------------------------------------------------------------ content */

static void content_from_row(sqlite3_stmt *st, struct ctl_content_row *row)
{
	memset(row, 0, sizeof(*row));
	col_text(st, 0, row->id, sizeof(row->id));
	col_text(st, 1, row->title, sizeof(row->title));
	row->duration_ms = sqlite3_column_int64(st, 2);
	row->bytes = sqlite3_column_int64(st, 3);
	row->input_lufs = sqlite3_column_double(st, 4);
	row->output_lufs = sqlite3_column_double(st, 5);
	row->true_peak_dbtp = sqlite3_column_double(st, 6);
	row->created = sqlite3_column_int64(st, 7);
}

#define CONTENT_COLS "id, title, duration_ms, bytes, input_lufs, output_lufs, " \
		     "true_peak_dbtp, created"

int ctl_db_content_get(struct ctl_db *db, const char *id, struct ctl_content_row *row)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st, "SELECT " CONTENT_COLS " FROM content WHERE id = ?",
			 "cannot read the content list");
	if (rc < 0)
		return rc;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		content_from_row(st, row);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = -ENOENT;
	} else {
		rc = ctl_db_fail(db, "cannot read the content list");
	}
	sqlite3_finalize(st);
	return rc;
}

int ctl_db_content_add(struct ctl_db *db, const struct ctl_content_row *row, int *existed)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st, "INSERT OR IGNORE INTO content (" CONTENT_COLS ") "
			 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "cannot store new content");
	if (rc < 0)
		return rc;
	bind_text(st, 1, row->id);
	bind_text(st, 2, row->title);
	sqlite3_bind_int64(st, 3, row->duration_ms);
	sqlite3_bind_int64(st, 4, row->bytes);
	sqlite3_bind_double(st, 5, row->input_lufs);
	sqlite3_bind_double(st, 6, row->output_lufs);
	sqlite3_bind_double(st, 7, row->true_peak_dbtp);
	sqlite3_bind_int64(st, 8, row->created);
	rc = db_step_done(db, st, "cannot store new content");
	if (rc == 0 && existed)
		*existed = sqlite3_changes(db->h) == 0;
	sqlite3_finalize(st);
	return rc;
}

/* JSON has no infinity: the loudness of silence (-inf LUFS) becomes null. */
static json_t *json_finite(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

json_t *ctl_content_row_json(const struct ctl_content_row *row)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:I}",
			 "id", row->id, "title", row->title,
			 "duration_ms", (json_int_t)row->duration_ms,
			 "bytes", (json_int_t)row->bytes,
			 "input_lufs", json_finite(row->input_lufs),
			 "output_lufs", json_finite(row->output_lufs),
			 "true_peak_dbtp", json_finite(row->true_peak_dbtp),
			 "created", (json_int_t)row->created);
}

json_t *ctl_db_content_json(struct ctl_db *db)
{
	sqlite3_stmt *st = NULL;
	struct ctl_content_row row;
	json_t *arr = json_array();
	int rc;

	if (!arr)
		return NULL;
	if (ctl_db_prep(db, &st, "SELECT " CONTENT_COLS " FROM content ORDER BY created, id",
			"cannot read the content list") < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		content_from_row(st, &row);
		if (json_array_append_new(arr, ctl_content_row_json(&row)) < 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		ctl_db_fail(db, "cannot read the content list");
		goto fail;
	}
	sqlite3_finalize(st);
	return arr;
fail:
	sqlite3_finalize(st);
	json_decref(arr);
	return NULL;
}

/* ------------------------------------------------------------ broadcasts */

static int broadcast_exists(struct ctl_db *db, const char *id)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = ctl_db_prep(db, &st, "SELECT 1 FROM broadcasts WHERE id = ?",
			 "cannot read the broadcasts");
	if (rc < 0)
		return rc;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0
					: ctl_db_fail(db, "cannot read the broadcasts");
	sqlite3_finalize(st);
	return rc;
}

int ctl_db_broadcast_new_id(struct ctl_db *db, int64_t now, char out[CTL_ID_MAX])
{
	sqlite3_stmt *st = NULL;
	time_t secs = (time_t)(now / 1000);
	struct tm tm;
	char stamp[32];
	int rc, tries;

	localtime_r(&secs, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	rc = ctl_db_prep(db, &st, "INSERT INTO meta (key, value) VALUES ('broadcast_counter', 1) "
			 "ON CONFLICT(key) DO UPDATE SET value = value + 1 RETURNING value",
			 "cannot number a new broadcast");
	if (rc < 0)
		return rc;
	for (tries = 0; tries < 100; tries++) {
		sqlite3_reset(st);
		if (sqlite3_step(st) != SQLITE_ROW) {
			rc = ctl_db_fail(db, "cannot number a new broadcast");
			goto out;
		}
		snprintf(out, CTL_ID_MAX, "b-%s-%04lld", stamp,
			 (long long)(sqlite3_column_int64(st, 0) % 10000));
		while (sqlite3_step(st) == SQLITE_ROW)
			;
		rc = broadcast_exists(db, out);
		if (rc <= 0)
			goto out;
	}
	log_errorx("%s: cannot find a free broadcast id", db->path);
	rc = -EEXIST;
out:
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

int ctl_db_broadcast_add(struct ctl_db *db, const struct ctl_broadcast_row *b,
			 char (*nodes)[CTL_NAME_MAX], size_t n)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	rc = sp_begin(db);
	if (rc < 0)
		return rc;
	rc = ctl_db_prep(db, &st,
			 "INSERT INTO broadcasts (id, content, target_kind, target, topic, level, "
			 "at, volume, seq, created, expires) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
			 "cannot store a broadcast");
	if (rc < 0)
		goto out;
	bind_text(st, 1, b->id);
	bind_text(st, 2, b->content);
	bind_text(st, 3, b->target_kind);
	bind_text(st, 4, b->target);
	bind_text(st, 5, b->topic);
	bind_text(st, 6, b->level);
	sqlite3_bind_int64(st, 7, b->at);
	sqlite3_bind_int(st, 8, b->volume);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)b->seq);
	sqlite3_bind_int64(st, 10, b->created);
	sqlite3_bind_int64(st, 11, b->expires);
	rc = db_step_done(db, st, "cannot store a broadcast");
	sqlite3_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = ctl_db_prep(db, &st, "INSERT INTO targets (broadcast, node, updated) VALUES (?, ?, ?)",
			 "cannot store the targets of a broadcast");
	if (rc < 0)
		goto out;
	for (i = 0; i < n; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, b->id);
		bind_text(st, 2, nodes[i]);
		sqlite3_bind_int64(st, 3, b->created);
		rc = db_step_done(db, st, "cannot store the targets of a broadcast");
		if (rc < 0)
			goto out;
	}
out:
	sqlite3_finalize(st);
	return sp_end(db, rc);
}

/* A column that may be NULL: JSON null, else a number. */
static json_t *col_json_int(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, i));
}

static json_t *col_json_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? json_string((const char *)s) : json_null();
}

json_t *ctl_db_broadcast_json(struct ctl_db *db, const char *id)
{
	sqlite3_stmt *st = NULL;
	json_t *b = NULL, *targets = NULL, *plays = NULL;
	int rc;

	if (ctl_db_prep(db, &st,
			"SELECT b.id, b.content, b.target_kind, b.target, b.level, b.at, b.volume, "
			"b.seq, b.created, b.expires, c.title, c.duration_ms FROM broadcasts b "
			"LEFT JOIN content c ON c.id = b.content WHERE b.id = ?",
			"cannot read a broadcast") < 0)
		return NULL;
	bind_text(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			ctl_db_fail(db, "cannot read a broadcast");
		goto fail;
	}
	targets = json_array();
	plays = json_array();
	b = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		      "broadcast", col_json_text(st, 0),
		      "content", col_json_text(st, 1),
		      "target_kind", col_json_text(st, 2),
		      "target", col_json_text(st, 3),
		      "level", col_json_text(st, 4),
		      "at", col_json_int(st, 5),
		      "volume", col_json_int(st, 6),
		      "seq", col_json_int(st, 7),
		      "created", col_json_int(st, 8),
		      "expires", col_json_int(st, 9),
		      "title", col_json_text(st, 10),
		      "content_duration_ms", col_json_int(st, 11));
	if (!b || !targets || !plays)
		goto fail;
	sqlite3_finalize(st);
	st = NULL;
	if (ctl_db_prep(db, &st, "SELECT node, result, start, duration_ms, reason, updated "
			"FROM targets WHERE broadcast = ? ORDER BY node",
			"cannot read the targets of a broadcast") < 0)
		goto fail;
	bind_text(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(targets, col_json_text(st, 0));
		json_array_append_new(plays,
				      json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
						"node", col_json_text(st, 0),
						"result", col_json_text(st, 1),
						"start", col_json_int(st, 2),
						"duration_ms", col_json_int(st, 3),
						"reason", col_json_text(st, 4),
						"updated", col_json_int(st, 5)));
	}
	if (rc != SQLITE_DONE) {
		ctl_db_fail(db, "cannot read the targets of a broadcast");
		goto fail;
	}
	sqlite3_finalize(st);
	json_object_set_new(b, "targets", targets);
	json_object_set_new(b, "plays", plays);
	return b;
fail:
	sqlite3_finalize(st);
	json_decref(b);
	json_decref(targets);
	json_decref(plays);
	return NULL;
}

/* ------------------------------------------------------------ events */

static int result_rank(const char *type, const char **result)
{
	/* an emergency's confirmations move its target rows the same way */
	if (strcmp(type, "play_started") == 0 || strcmp(type, "emergency_started") == 0) {
		*result = "started";
		return 1;
	}
	if (strcmp(type, "play_finished") == 0 || strcmp(type, "emergency_ended") == 0) {
		*result = "finished";
		return 2;
	}
	if (strcmp(type, "play_failed") == 0) {
		*result = "failed";
		return 2;
	}
	*result = NULL;
	return 0;
}

int ctl_db_event_store(struct ctl_db *db, const struct ctl_event *ev,
		       int64_t received, int *target_updated)
{
	sqlite3_stmt *st = NULL;
	const char *result;
	int rc, rank, fresh;

	if (target_updated)
		*target_updated = 0;
	rc = sp_begin(db);
	if (rc < 0)
		return rc;
	rc = ctl_db_prep(db, &st,
			 "INSERT OR IGNORE INTO events (node, id, boot, type, ts, broadcast, "
			 "content, start, duration_ms, reason, received, level, title, "
			 "occurrence, plan_seq, scheduled, error_ms, end_reason, preemptor, drill, "
			 "data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			 "cannot store an event");
	if (rc < 0)
		goto out;
	bind_text(st, 1, ev->node);
	bind_text(st, 2, ev->id);
	bind_opt_int(st, 3, ev->boot);
	bind_text(st, 4, ev->type);
	bind_opt_int(st, 5, ev->ts);
	if (ev->broadcast[0])
		bind_text(st, 6, ev->broadcast);
	if (ev->content[0])
		bind_text(st, 7, ev->content);
	bind_opt_int(st, 8, ev->start);
	bind_opt_int(st, 9, ev->duration_ms);
	bind_text(st, 10, ev->reason);
	sqlite3_bind_int64(st, 11, received);
	if (ev->level[0])
		bind_text(st, 12, ev->level);
	if (ev->title[0])
		bind_text(st, 13, ev->title);
	if (ev->occurrence[0])
		bind_text(st, 14, ev->occurrence);
	if (ev->plan_seq > 0)
		sqlite3_bind_int64(st, 15, ev->plan_seq);
	if (ev->scheduled > 0)
		sqlite3_bind_int64(st, 16, ev->scheduled);
	if (ev->error_ms >= 0)
		sqlite3_bind_double(st, 17, ev->error_ms);
	if (ev->end[0])
		bind_text(st, 18, ev->end);
	if (ev->preemptor[0])
		bind_text(st, 19, ev->preemptor);
	sqlite3_bind_int(st, 20, ev->drill);
	if (ev->data)
		bind_text(st, 21, ev->data);
	rc = db_step_done(db, st, "cannot store an event");
	sqlite3_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	fresh = sqlite3_changes(db->h) > 0;
	rc = fresh;
	rank = result_rank(ev->type, &result);
	if (!fresh || !rank || !ev->broadcast[0])
		goto out;
	rc = ctl_db_prep(db, &st,
			 "UPDATE targets SET result = ?1, start = coalesce(?2, start), "
			 "duration_ms = coalesce(?3, duration_ms), reason = ?4, updated = ?5 "
			 "WHERE broadcast = ?6 AND node = ?7 AND (CASE result WHEN 'pending' "
			 "THEN 0 WHEN 'started' THEN 1 ELSE 2 END) < ?8",
			 "cannot update a broadcast target");
	if (rc < 0)
		goto out;
	bind_text(st, 1, result);
	bind_opt_int(st, 2, ev->start);
	bind_opt_int(st, 3, ev->duration_ms);
	bind_text(st, 4, ev->reason);
	sqlite3_bind_int64(st, 5, received);
	bind_text(st, 6, ev->broadcast);
	bind_text(st, 7, ev->node);
	sqlite3_bind_int(st, 8, rank);
	rc = db_step_done(db, st, "cannot update a broadcast target");
	if (rc < 0)
		goto out;
	if (target_updated)
		*target_updated = sqlite3_changes(db->h) > 0;
	rc = 1;
out:
	sqlite3_finalize(st);
	return sp_end(db, rc);
}

int ctl_db_event_addressed(struct ctl_db *db, const struct ctl_event *ev)
{
	sqlite3_stmt *st = NULL;
	int rc;

	/* emergency_not_active: "this node is silent", never a play; any node may say it */
	if (!ev->broadcast[0] || ev->occurrence[0] ||
	    strcmp(ev->type, "emergency_not_active") == 0 ||
	    (strncmp(ev->type, "play_", 5) != 0 && strncmp(ev->type, "emergency_", 10) != 0))
		return 1;
	rc = ctl_db_prep(db, &st,
			 "SELECT (EXISTS (SELECT 1 FROM broadcasts WHERE id = ?1) AND NOT EXISTS "
			 "(SELECT 1 FROM targets WHERE broadcast = ?1 AND node = ?2)) OR "
			 "(EXISTS (SELECT 1 FROM commands WHERE id = ?1) AND NOT EXISTS "
			 "(SELECT 1 FROM commands WHERE id = ?1 AND node = ?2))",
			 "cannot check whom a broadcast was sent to");
	if (rc < 0)
		return rc;
	bind_text(st, 1, ev->broadcast);
	bind_text(st, 2, ev->node);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = sqlite3_column_int(st, 0) ? 0 : 1;
	else
		rc = ctl_db_fail(db, "cannot check whom a broadcast was sent to");
	sqlite3_finalize(st);
	return rc;
}

json_t *ctl_db_plays_json(struct ctl_db *db, const char *broadcast, int limit,
			  const char *zones)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array(), *row;
	const char *result;
	int rc;

	if (!arr)
		return NULL;
	if (ctl_db_prep(db, &st,
			"SELECT id, node, boot, type, ts, broadcast, content, start, duration_ms, "
			"reason, received FROM (SELECT rowid AS r, * FROM events "
			"WHERE (?1 IS NULL OR broadcast = ?1) AND (?3 IS NULL OR node IN "
			"(SELECT node FROM node_zones WHERE zone IN (SELECT value FROM "
			"json_each(?3)))) ORDER BY rowid DESC LIMIT ?2) "
			"ORDER BY r", "cannot read the play log") < 0)
		goto fail;
	if (broadcast)
		bind_text(st, 1, broadcast);
	if (zones)
		bind_text(st, 3, zones);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
				"id", col_json_text(st, 0),
				"node", col_json_text(st, 1),
				"boot", col_json_int(st, 2),
				"type", col_json_text(st, 3),
				"ts", col_json_int(st, 4),
				"broadcast", col_json_text(st, 5),
				"content", col_json_text(st, 6),
				"start", col_json_int(st, 7),
				"duration_ms", col_json_int(st, 8),
				"reason", col_json_text(st, 9),
				"received", col_json_int(st, 10));
		if (!row)
			goto fail;
		if (result_rank((const char *)sqlite3_column_text(st, 3), &result))
			json_object_set_new(row, "result", json_string(result));
		json_array_append_new(arr, row);
	}
	if (rc != SQLITE_DONE) {
		ctl_db_fail(db, "cannot read the play log");
		goto fail;
	}
	sqlite3_finalize(st);
	return arr;
fail:
	sqlite3_finalize(st);
	json_decref(arr);
	return NULL;
}

/* ------------------------------------------------------------ nodes as JSON */

json_t *ctl_db_nodes_json(struct ctl_db *db)
{
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array(), *node, *zones, *status, *playing;
	const unsigned char *text, *z;
	int rc;

	if (!arr)
		return NULL;
	if (ctl_db_prep(db, &st,
			"SELECT id, online, boot, version, last_seen, status, "
			"(SELECT group_concat(zone, ' ') FROM (SELECT zone FROM node_zones "
			"WHERE node = nodes.id ORDER BY pos)) FROM nodes ORDER BY id",
			"cannot read the nodes") < 0)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		zones = json_array();
		z = sqlite3_column_text(st, 6);
		if (z) {
			char buf[CTL_MAX_ZONES * CTL_NAME_MAX + 64], *save = NULL, *tok;

			snprintf(buf, sizeof(buf), "%s", (const char *)z);
			for (tok = strtok_r(buf, " ", &save); tok;
			     tok = strtok_r(NULL, " ", &save))
				json_array_append_new(zones, json_string(tok));
		}
		text = sqlite3_column_text(st, 5);
		status = text ? json_loads((const char *)text, 0, NULL) : NULL;
		if (!status)
			status = json_null();
		playing = NULL;
		if (sqlite3_column_int(st, 1) && json_is_object(status))
			playing = json_object_get(status, "playing");
		playing = json_is_object(playing) ? json_incref(playing) : json_null();
		node = json_pack("{s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o}",
				 "node", col_json_text(st, 0),
				 "zones", zones,
				 "online", sqlite3_column_int(st, 1),
				 "last_seen", col_json_int(st, 4),
				 "boot", col_json_int(st, 2),
				 "version", col_json_text(st, 3),
				 "playing", playing,
				 "status", status);
		if (!node)
			goto fail;
		json_array_append_new(arr, node);
	}
	if (rc != SQLITE_DONE) {
		ctl_db_fail(db, "cannot read the nodes");
		goto fail;
	}
	sqlite3_finalize(st);
	return arr;
fail:
	sqlite3_finalize(st);
	json_decref(arr);
	return NULL;
}

/*
 * A node started a new boot after a crash, a kill or a power cut: a play it
 * had started in an earlier boot and never ended will never end. Without
 * this it stayed "started" for good (the broadcast page, the plan's
 * results, readiness), and the monthly report counted it neither as played
 * nor as failed. The controller records the failure itself: a play_failed
 * event with an id of its own ("controller-cut-<id of the play_started>"),
 * so that the log says who concluded it, and the targets and planned plays
 * of that node that are still "started" become "failed", all in one
 * transaction. Returns how many plays were closed, or -EIO.
 */
int ctl_db_close_cut_plays(struct ctl_db *db, const char *node, int64_t boot, int64_t now,
			   const char *reason)
{
	static const char *const sql[] = {
		"INSERT OR IGNORE INTO events (node, id, boot, type, ts, broadcast, content, "
		"start, duration_ms, reason, received, level, title, occurrence, plan_seq, "
		"scheduled, drill) "
		"SELECT s.node, 'controller-cut-' || s.id, s.boot, 'play_failed', ?3, "
		"s.broadcast, s.content, s.start, NULL, ?4, ?3, s.level, s.title, "
		"s.occurrence, s.plan_seq, s.scheduled, s.drill FROM events s "
		"WHERE s.node = ?1 AND s.type = 'play_started' AND s.boot < ?2 "
		"AND NOT EXISTS (SELECT 1 FROM events e WHERE e.node = s.node AND "
		"e.boot = s.boot AND coalesce(e.occurrence, e.broadcast, '') = "
		"coalesce(s.occurrence, s.broadcast, '') AND e.type IN "
		"('play_finished', 'play_failed', 'play_preempted'))",
		"UPDATE targets SET result = 'failed', reason = ?4, updated = ?3 "
		"WHERE node = ?1 AND result = 'started' AND ?2 > 0",
		"UPDATE sched_plays SET result = 'failed', reason = ?4, updated = ?3 "
		"WHERE node = ?1 AND result = 'started' AND ?2 > 0",
	};
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc, closed = 0;

	rc = sp_begin(db);
	if (rc < 0)
		return rc;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]) && rc >= 0; i++) {
		rc = ctl_db_prep(db, &st, sql[i], "cannot record a play cut by a restart");
		if (rc < 0)
			break;
		bind_text(st, 1, node);
		sqlite3_bind_int64(st, 2, boot);
		sqlite3_bind_int64(st, 3, now);
		bind_text(st, 4, reason);
		rc = db_step_done(db, st, "cannot record a play cut by a restart");
		if (rc >= 0 && i == 0)
			closed = sqlite3_changes(db->h);
		sqlite3_finalize(st);
		st = NULL;
	}
	return sp_end(db, rc < 0 ? rc : closed);
}
