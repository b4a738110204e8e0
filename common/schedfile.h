/*
 * schedfile.h - schedule files on the operator's side of the API.
 *
 * The controller reads no file an operator names (issue 17; docs/schedules.md
 * "API"): under its unit it cannot see /home or /tmp, and reading a path on
 * request would let any operator make it open any file its user can read.
 * So `loaxa schedule check|apply` reads each schedule file here, finds the
 * audio files it names and describes them by the SHA-256 of their bytes;
 * the controller gets the text, the file's name as a label, and that
 * description, and asks for (POST /v1/content) only the audio it has not
 * imported yet.
 *
 * The description ("audio map") of one schedule file is a JSON object keyed
 * by the string exactly as written in the file ("audio/sang.mp3"):
 *
 *   {"sha256": "<64 hex>"}                        the file, readable here
 *   {"error": "missing", "looked_for": "/abs"}    no such file
 *   {"error": "not_a_file"}                       a directory, a device...
 *   {"error": "unreadable", "detail": "why"}      cannot be opened or read
 *
 * Only the CLI (and tests) call the functions that open files; the
 * controller uses sched_text_include_line() and the definitions.
 */
#ifndef LOAXA_SCHEDFILE_H
#define LOAXA_SCHEDFILE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* schedule.max_file_bytes: 1 MiB holds thousands of items */
#define SCHED_DEFAULT_MAX_FILE_BYTES (1LL << 20)
/* schedule.max_total_bytes when not set: 4 x max_file_bytes (this, by default) */
#define SCHED_DEFAULT_MAX_TOTAL_BYTES (4LL << 20)
/* schedule files in one check or apply */
#define SCHED_MAX_FILES 256

/*
 * Read a whole schedule file, at most max bytes: its size is checked before
 * any byte goes anywhere (libconfig's parse time grows with the square of
 * the input), and reading with the limit, not trusting the stat alone, also
 * catches a file that grows meanwhile. 0 with *out (malloc'd, NUL-terminated)
 * and *len; -EFBIG or -errno with err set to one line naming display:
 *   week.cfg: the file is 1048577 bytes, over the limit of 1048576 bytes for
 *   a schedule file (schedule.max_file_bytes in controller.cfg): split it
 *   into several files
 */
int sched_file_read(const char *path, const char *display, int64_t max, char **out,
		    size_t *len, char *err, size_t errlen);

/* The error above for a text of size bytes over max (the controller's words too). */
void sched_file_too_big(char *err, size_t errlen, const char *display, long long size,
			long long max);

/*
 * libconfig 1.5 reads the file an "@include" line names, with no way to
 * turn that off: a text holding one is never handed to libconfig. Returns
 * the line (1..) of the first line whose first non-blank character is '@',
 * or 0. (libconfig includes only at the start of a line; refusing every
 * '@' there is simpler than knowing when it is inside a string.)
 */
int sched_text_include_line(const char *text, size_t len);

/*
 * Bytes of a UTF-8 byte-order mark at the start of text (3), or 0. Windows
 * editors (Notepad "UTF-8") write one; libconfig calls it a syntax error,
 * so the parsers skip it (line numbers do not change).
 */
size_t sched_text_bom(const char *text, size_t len);

/* The line (1..) of the first NUL byte of text, or 0 when there is none. */
int sched_text_nul_line(const char *text, size_t len);

/*
 * The audio files a schedule text names, as written: every items[].content
 * that is not a content id and every items[].chime given as text, as the
 * keys of an object (values null). Empty when libconfig cannot parse the
 * text or it has an @include line. Opens nothing. NULL when out of memory.
 */
json_t *sched_audio_refs(const char *text, size_t len);

/*
 * The audio map of one schedule text (above): every items[].content that
 * is not a content id and every items[].chime given as text, resolved
 * against dir (the schedule file's directory, absolute) unless absolute.
 * paths, when not NULL, gets "<sha256>": "<absolute path>" for each file
 * found, so that the caller can upload what the controller asks for.
 * A text libconfig cannot parse, or with an @include, gives an empty map
 * (the controller reports why, with its line). NULL when out of memory.
 */
json_t *sched_audio_map(const char *text, size_t len, const char *dir, json_t *paths);

#endif
