/*
 * schedfiles.c - GET /v1/schedule/files: the schedule files of the last
 * apply, as they were sent (the database's sched_files).
 *
 * The web console edits the schedule through these: it sends every file
 * back unchanged, comments and all, with only its own file
 * (console.cfg) rewritten, so a technician's files are never lost or
 * reformatted. The texts are the whole station's timetable: api.c answers
 * this for accounts with every zone only, like the report.
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ctl.h"
#include "log.h"
#include "db.h"
#include "schedapi.h"

int ctl_sched_files_get(struct ctl *c, unsigned *status, json_t **reply)
{
	sqlite3_stmt *st = NULL;
	json_t *files = json_array(), *audio;
	json_error_t jerr;
	int step, rc = 0;

	*status = 500;
	*reply = NULL;
	if (!files ||
	    ctl_db_prep(&c->db, &st, "SELECT name, text, audio, applied FROM sched_files ORDER BY pos",
			"cannot read the schedule files") < 0) {
		rc = -EIO;
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *text = (const char *)sqlite3_column_blob(st, 1);
		const char *a = (const char *)sqlite3_column_text(st, 2);
		size_t len = (size_t)sqlite3_column_bytes(st, 1);

		/* audio was stored by the apply as a JSON object; anything else
		 * (an older row) is sent as no audio rather than failing */
		audio = a ? json_loads(a, 0, &jerr) : NULL;
		if (!json_is_object(audio)) {
			json_decref(audio);
			audio = json_object();
		}
		if (json_array_append_new(files, json_pack("{s:s, s:s%, s:o, s:I}", "name",
							   name ? name : "", "text",
							   text ? text : "", len, "audio", audio,
							   "applied",
							   (json_int_t)sqlite3_column_int64(st, 3))) < 0) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (step != SQLITE_DONE) {
		rc = -EIO;
		goto out;
	}
	*status = 200;
	*reply = json_pack("{s:O}", "files", files);
out:
	if (rc < 0) {
		log_errorx("GET /v1/schedule/files: %s", sqlite3_errmsg(c->db.h));
		*reply = json_pack("{s:s}", "error", "cannot read the schedule files from the database "
				   "(see the controller's log)");
	}
	sqlite3_finalize(st);
	json_decref(files);
	return 0;
}
