/*
 * db.h - the controller's state in SQLite (<state_dir>/loaxa.db).
 *
 * SQLite is the controller's truth: nodes and their zones as last reported,
 * stored content, broadcasts and their targets, every event a node sent
 * (stored once per node and event id), and the envelope sequence counters.
 * Changes that belong together are made in one transaction; functions that
 * change several rows use a SAVEPOINT, so they are atomic on their own and
 * nest inside a caller's ctl_db_begin()/ctl_db_commit().
 *
 * Functions return 0 (or a count) on success and a negative errno value on
 * failure; SQLite errors are logged with the database path and what was
 * being done, and reported as -EIO.
 */
#ifndef LOAXA_CTL_DB_H
#define LOAXA_CTL_DB_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "envelope.h"
#include "util.h"

#define CTL_DB_SCHEMA_VERSION 7
#define CTL_NAME_MAX 32         /* node, zone, site ids: 31 characters + NUL */
#define CTL_ID_MAX 64           /* event and broadcast ids */
#define CTL_TITLE_MAX 256
#define CTL_REASON_MAX 256
#define CTL_MAX_ZONES 32        /* zones per node */

struct sqlite3;
struct sqlite3_stmt;

struct ctl_db {
	struct sqlite3 *h;
	char path[PATH_MAX];
	/* Per envelope type: last sequence handed out, and what is on disk. */
	uint64_t seq_last[ENV_TYPE_MAX + 1];
	uint64_t seq_stored[ENV_TYPE_MAX + 1];
	int seq_loaded[ENV_TYPE_MAX + 1];
};

struct ctl_node_row {
	char id[CTL_NAME_MAX];
	int known;          /* 0 when the node was never seen */
	int online;
	int64_t boot;
	int64_t last_seen;  /* ms since the epoch, controller clock */
	char version[64];
};

struct ctl_content_row {
	char id[CONTENT_ID_LEN + 1];
	char title[CTL_TITLE_MAX];
	int64_t duration_ms;
	int64_t bytes;
	double input_lufs;
	double output_lufs;
	double true_peak_dbtp;
	int64_t created;
};

struct ctl_broadcast_row {
	char id[CTL_ID_MAX];
	char content[CONTENT_ID_LEN + 1];
	char target_kind[8];  /* "zone", "node" or "all" */
	char target[CTL_NAME_MAX];
	char topic[256];
	char level[16];
	int64_t at;
	int volume;
	uint64_t seq;
	int64_t created;
	int64_t expires;
};

/* One node event, validated (see nodes.c). Absent numbers are -1. */
struct ctl_event {
	char id[CTL_ID_MAX];
	char node[CTL_NAME_MAX];
	int64_t boot;
	char type[32];
	int64_t ts;
	char broadcast[CTL_ID_MAX];
	char content[CONTENT_ID_LEN + 1];
	int64_t start;
	int64_t duration_ms;
	char reason[CTL_REASON_MAX];
	/* proof of play (plan items; docs/protocol.md). Absent: "" / -1 */
	char level[16];
	char title[CTL_TITLE_MAX];
	char occurrence[CTL_ID_MAX * 2];
	int64_t plan_seq;
	int64_t scheduled;
	double error_ms;             /* < 0: unknown */
	char end[16];
	char preemptor[CTL_ID_MAX * 2];
	int drill;
	char *data;                  /* the event JSON as received (malloc'd) */
};

int ctl_db_open(struct ctl_db *db, const char *path);
void ctl_db_close(struct ctl_db *db);

/* An explicit transaction (BEGIN IMMEDIATE ... COMMIT / ROLLBACK). */
int ctl_db_begin(struct ctl_db *db);
int ctl_db_commit(struct ctl_db *db);
void ctl_db_rollback(struct ctl_db *db);

/*
 * Next envelope sequence for type: max(last + 1, stored + 1, now_us), so it
 * never goes backwards, not even across restarts or a clock stepped back.
 * The stored value is written before the sequence is handed out: at once
 * for plan, cmd and key; for the frequent content, live and time messages a
 * reservation 10 s ahead is written, so the database sees one write per
 * 10 s of traffic instead of one per message.
 */
int ctl_db_next_seq(struct ctl_db *db, enum envelope_type type, uint64_t now_us,
		    uint64_t *seq);

/* Nodes. ctl_db_node_get fills row->known = 0 for a node never seen. */
int ctl_db_node_get(struct ctl_db *db, const char *id, struct ctl_node_row *row);
/*
 * Store a status the node sent about itself (zones, version, full JSON).
 * online is normally 1; 0 for a retained status too old to believe.
 */
int ctl_db_node_set_status(struct ctl_db *db, const char *id, int online, int64_t boot,
			   const char *version, int64_t last_seen,
			   char (*zones)[CTL_NAME_MAX], size_t nzones,
			   const char *status_json);
int ctl_db_node_set_offline(struct ctl_db *db, const char *id, int64_t boot);
/*
 * Mark offline every online node last seen before before_ms; cb is called
 * for each (for the log). Returns how many.
 */
/* last_seen later than now_ms (the clock was set back) becomes now_ms. */
int ctl_db_nodes_clamp_last_seen(struct ctl_db *db, int64_t now_ms);
int ctl_db_nodes_expire(struct ctl_db *db, int64_t before_ms,
			void (*cb)(void *arg, const struct ctl_node_row *row),
			void *arg);
/* Ids of the nodes in zone (zone NULL: every node), sorted. */
int ctl_db_zone_nodes(struct ctl_db *db, const char *zone,
		      char (*out)[CTL_NAME_MAX], size_t max, size_t *n);
int ctl_db_node_count(struct ctl_db *db);

/* Content. ctl_db_content_get returns -ENOENT when unknown. */
int ctl_db_content_get(struct ctl_db *db, const char *id, struct ctl_content_row *row);
/* Insert unless present; *existed says which (the stored row is kept). */
int ctl_db_content_add(struct ctl_db *db, const struct ctl_content_row *row, int *existed);

/*
 * A new broadcast id "b-YYYYMMDD-HHMMSS-NNNN" (local time of now_ms and a
 * persistent counter). Call inside the transaction that stores it.
 */
int ctl_db_broadcast_new_id(struct ctl_db *db, int64_t now_ms, char out[CTL_ID_MAX]);
/* Store a broadcast and one pending target row per node. */
int ctl_db_broadcast_add(struct ctl_db *db, const struct ctl_broadcast_row *b,
			 char (*nodes)[CTL_NAME_MAX], size_t n);

/*
 * Store an event once per (node, id). Returns 1 when it is new, 0 for a
 * duplicate (nothing changed). A new play event also moves the broadcast
 * target of that node forward (pending -> started -> finished/failed; never
 * backwards); *target_updated (may be NULL) says whether it did.
 */
int ctl_db_event_store(struct ctl_db *db, const struct ctl_event *ev,
		       int64_t received, int *target_updated);

/*
 * Was the play or emergency an event reports sent to its node? 0 when the
 * event names a broadcast (or emergency, or test tone) this controller sent
 * to other nodes only: a play the node should never have made (a message
 * republished on its topic) - the caller stores it as "unaddressed", which
 * no report, play count or log of plays counts. 1 otherwise (other types,
 * plan occurrences, live sessions, ids it does not know); -EIO.
 */
int ctl_db_event_addressed(struct ctl_db *db, const struct ctl_event *ev);

/*
 * node began boot `boot`: its plays started in earlier boots and never
 * ended become failed with reason (db.c says why). Returns how many, or
 * -EIO.
 */
int ctl_db_close_cut_plays(struct ctl_db *db, const char *node, int64_t boot, int64_t now,
			   const char *reason);

/* JSON for the HTTP API (new references; NULL on error or, for one
 * broadcast, when it does not exist). */
json_t *ctl_db_nodes_json(struct ctl_db *db);
json_t *ctl_db_content_json(struct ctl_db *db);
json_t *ctl_content_row_json(const struct ctl_content_row *row);
json_t *ctl_db_broadcast_json(struct ctl_db *db, const char *id);
/* zones: NULL, or a JSON array of zone names: only plays of nodes in one of
 * them (an operator's scope, filtered before the limit). */
json_t *ctl_db_plays_json(struct ctl_db *db, const char *broadcast, int limit,
			  const char *zones);


/*
 * The one prepare/fail helper of every controller module that runs SQL on
 * the controller's database (grep sqlite3_prepare_v2: db.c, and backup.c,
 * which reads a snapshot file of its own):
 *   ctl_db_fail: log "<db path>: <what>: <SQLite's message>", return -EIO;
 *   ctl_db_prep: prepare sql into *st (NULL on failure, logged as above;
 *                what NULL: not logged, for reads whose failure is not an
 *                error, or whose caller says it in its own words);
 *   ctl_db_exec: run statements that return no rows.
 * what says in plain words what could not be done ("cannot store a plan").
 */
int ctl_db_fail(struct ctl_db *db, const char *what);
int ctl_db_prep(struct ctl_db *db, struct sqlite3_stmt **st, const char *sql,
		const char *what);
int ctl_db_exec(struct ctl_db *db, const char *sql, const char *what);

#endif
