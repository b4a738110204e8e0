/*
 * schedule.c - `loaxa schedule check|apply|list`, `loaxa announce`,
 * `loaxa cancel`, `loaxa readiness`.
 *
 * check and apply go through the controller (it knows the zones, the
 * nodes and the content, and imports the audio the files name). The
 * controller reads no file an operator names (schedfile.h): this command
 * reads each schedule file, finds the audio files it names (relative to
 * the schedule file) and sends the texts with the SHA-256 of each audio
 * file; if the controller has not imported some of them yet, its answer
 * lists them, they are uploaded like `loaxa import` does, and the request
 * is sent once more. Every error comes back as "file:line: field "x": ..."
 * using the names as typed here. Importing long audio takes a while, so
 * these requests have no timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "i18n.h"
#include "client.h"
#include "schedfile.h"
#include "table.h"


static void print_msgs(json_t *reply)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(reply, "errors"), i, v)
		fprintf(stderr, "%s\n", json_string_value(v));
	json_array_foreach(json_object_get(reply, "warnings"), i, v)
		fprintf(stderr, _("warning: %s\n"), json_string_value(v));
	json_array_foreach(json_object_get(reply, "conflicts"), i, v) {
		json_t *nodes = json_object_get(v, "nodes"), *n;
		size_t k;
		int64_t count = jint(v, "count", 1);

		printf(_("conflict: %s:%d \"%s\" and %s:%d \"%s\" overlap (%s from %s"),
		       jstr(v, "first_file"), (int)jint(v, "first_line", 0), jstr(v, "first"),
		       jstr(v, "second_file"), (int)jint(v, "second_line", 0), jstr(v, "second"),
		       jstr(v, "overlap"), jstr(v, "when"));
		if (count > 1)
			printf(_(", %lld times"), (long long)count);
		printf(_(", node%s "), json_array_size(nodes) == 1 ? "" : "s");
		json_array_foreach(nodes, k, n)
			printf("%s%s", k ? ", " : "", json_string_value(n));
		printf("): %s\n", jstr(v, "message"));
	}
}

/* What the controller accepts in one check or apply (GET /v1/schedule/limits). */
struct limits {
	long long file, total, files;
};

/*
 * The limits, asked only when the files are larger than the defaults (the
 * usual check costs no extra request). 0, or -1 after printing why.
 */
static int get_limits(int argc, char **argv, int first, struct limits *l)
{
	struct cli_resp resp;
	long long sum = 0;
	struct stat st;
	int i, big = 0;

	l->file = SCHED_DEFAULT_MAX_FILE_BYTES;
	l->total = SCHED_DEFAULT_MAX_TOTAL_BYTES;
	l->files = SCHED_MAX_FILES;
	for (i = first; i < argc; i++)
		if (stat(argv[i], &st) == 0) {
			big |= st.st_size > l->file;
			sum += st.st_size;
		}
	if (!big && sum <= l->total)
		return 0;
	if (cli_get_ok("/v1/schedule/limits", &resp) < 0)
		return -1;
	l->file = (long long)jint(resp.json, "max_file_bytes", l->file);
	l->total = (long long)jint(resp.json, "max_total_bytes", l->file > l->total ? l->file
				   : l->total);
	l->files = (long long)jint(resp.json, "max_files", l->files);
	cli_resp_free(&resp);
	return 0;
}

/* The line of the first byte that is not UTF-8 (jansson's rule), or 0. */
static int not_utf8_line(const char *text, size_t len)
{
	size_t start = 0, end;
	int line = 1;
	json_t *s;

	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);

		end = nl ? (size_t)(nl - text) : len;
		s = json_stringn(text + start, end - start);
		if (!s)
			return line;
		json_decref(s);
		start = end + 1;
		line++;
	}
	return 0;
}

/* The directory of a schedule file, absolute: its audio paths are relative to it. */
static int dir_of(const char *file, char *out)
{
	char tmp[PATH_MAX], *slash;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s", file) >= sizeof(tmp))
		return -ENAMETOOLONG;
	slash = strrchr(tmp, '/');
	if (!slash)
		snprintf(tmp, sizeof(tmp), ".");
	else if (slash == tmp)
		tmp[1] = '\0';
	else
		*slash = '\0';
	return realpath(tmp, out) ? 0 : -errno;
}

/*
 * Read every file and describe the audio it names (schedfile.h): the body
 * of the request, or NULL after printing why. paths gets sha256 -> path.
 */
static json_t *files_body(int argc, char **argv, int first, json_t *paths)
{
	struct limits lim;
	json_t *files = json_array(), *audio, *text;
	long long total = 0;
	char err[PATH_MAX + 256], dir[PATH_MAX], *buf = NULL;
	size_t len;
	int i, rc, bad = 0, line;

	if (!files || get_limits(argc, argv, first, &lim) < 0)
		goto fail;
	if (argc - first > lim.files) {
		fprintf(stderr, _("loaxa: at most %lld schedule files at once (you gave %d)\n"),
			lim.files, argc - first);
		goto fail;
	}
	for (i = first; i < argc; i++) {
		rc = sched_file_read(argv[i], argv[i], lim.file, &buf, &len, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s\n", err);
			bad = 1;
			continue;
		}
		total += (long long)len;
		line = not_utf8_line(buf, len);
		text = line || sched_text_nul_line(buf, len) ? NULL : json_stringn(buf, len);
		if (!text && !line) {
			/* said here: as JSON, the controller would refuse a "\u0000" */
			line = sched_text_nul_line(buf, len);
			fprintf(stderr, _("%s:%d: the file holds a NUL byte (a zero byte) on line %d: "
				"it is not a text file; remove that byte, or save the file again "
				"as UTF-8 text\n"), argv[i], line, line);
			bad = 1;
		} else if (!text) {
			fprintf(stderr, _("%s:%d: the file is not UTF-8 text: save it as UTF-8 (a "
				"text editor's \"Save as\", encoding UTF-8); line %d has letters "
				"saved in another encoding (e.g. Windows-1258 or Latin-1)\n"),
				argv[i], line, line);
			bad = 1;
		} else if ((rc = dir_of(argv[i], dir)) < 0) {
			fprintf(stderr, _("%s: cannot resolve its directory: %s\n"), argv[i],
				strerror(-rc));
			bad = 1;
		} else if (!(audio = sched_audio_map(buf, len, dir, paths))) {
			fprintf(stderr, _("loaxa: out of memory\n"));
			bad = 1;
		} else {
			json_array_append_new(files, json_pack("{s:s, s:O, s:o}", "name", argv[i],
							       "text", text, "audio", audio));
		}
		json_decref(text);
		free(buf);
		buf = NULL;
	}
	if (!bad && total > lim.total) {
		fprintf(stderr, _("loaxa: the schedule files hold %lld bytes together, over the "
			"limit of %lld bytes for one check or apply (schedule.max_total_bytes in "
			"controller.cfg)\n"), total, lim.total);
		bad = 1;
	}
	if (bad)
		goto fail;
	return json_pack("{s:o}", "files", files);
fail:
	json_decref(files);
	return NULL;
}

/*
 * Upload the audio the controller asked for (POST /v1/content, the same as
 * `loaxa import`): each with the title and settings it gave. An error names
 * every schedule file and line that uses the audio. 0, or -1 after printing.
 */
static int upload_audio(json_t *upload, json_t *paths)
{
	struct cli_resp resp;
	char url[1024];
	json_t *u, *ref;
	size_t i, k;
	int bad = 0;

	json_array_foreach(upload, i, u) {
		const char *hash = jstr(u, "sha256"), *path;
		char *title = cli_escape(jstr(u, "title")), msg[1024];

		path = json_string_value(json_object_get(paths, hash));
		msg[0] = '\0';
		if (!title) {
			snprintf(msg, sizeof(msg), "out of memory");
		} else if (!path) {
			snprintf(msg, sizeof(msg), "the controller asked for audio that no schedule "
				 "file names (SHA-256 %.12s...)", hash);
		} else {
			snprintf(url, sizeof(url), "/v1/content?title=%s%s", title,
				 jbool(u, "music") ? "&music=1" : "");
			if (isatty(2))
				fprintf(stderr, _("importing %s ...\n"), path);
			if (cli_post_file(url, path, &resp) < 0) {
				free(title);
				return -1; /* the controller is gone: said so */
			}
			if (resp.status != 201 && resp.status != 200)
				snprintf(msg, sizeof(msg), "%s", cli_resp_error(&resp));
			else if (strcmp(jstr(resp.json, "source_sha256"), hash) != 0)
				snprintf(msg, sizeof(msg), "the file changed while it was being sent: "
					 "run the command again");
			else
				cli_print_imported(path, resp.json);
			cli_resp_free(&resp);
		}
		free(title);
		if (!msg[0])
			continue;
		bad = 1;
		json_array_foreach(json_object_get(u, "refs"), k, ref)
			fprintf(stderr, _("%s:%d: field \"%s\": %s\n"), jstr(ref, "file"),
				(int)jint(ref, "line", 0), jstr(ref, "field"), msg);
		if (!json_array_size(json_object_get(u, "refs")))
			fprintf(stderr, _("loaxa: %s\n"), msg);
	}
	return bad ? -1 : 0;
}

static int files_request(const char *what, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "edit", required_argument, NULL, 'e' },
		{ "outside-hours", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int apply = strcmp(what, "apply") == 0, outside = 0;
	struct cli_resp resp = { 0 };
	json_t *body, *paths = json_object();
	const char *edit = NULL;
	char url[64];
	int ch, json = 0, rc = CLI_EXIT_ERROR, ok, round;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'j') {
			json = 1;
		} else if (ch == 'e' && apply && cli_draft_id_valid(optarg)) {
			edit = optarg; /* the new content of one's own pending draft */
		} else if (ch == 'O' && apply) {
			/*
			 * Plays outside allowed hours are confirmed by this flag, never
			 * by a question: an apply from a script or cron must not
			 * depend on a terminal (docs/schedules.md).
			 */
			outside = 1;
		} else {
			if (ch == 'e')
				fprintf(stderr, _("loaxa schedule %s: %s\n"), what, apply ? "--edit "
					"needs a draft's number (loaxa drafts lists them)" :
					"--edit is for loaxa schedule apply");
			else if (ch == 'O')
				fprintf(stderr, _("loaxa schedule check: --outside-hours is for "
					"loaxa schedule apply (check only warns)\n"));
			fprintf(ch == 'h' ? stdout : stderr, "usage: loaxa schedule %s FILE... "
				"%s[--json]\n", what, apply ? "[--edit DRAFT] [--outside-hours] " : "");
			json_decref(paths);
			return ch == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, _("loaxa schedule %s: name the schedule file(s), e.g. "
			"schedules/week.cfg\n"), what);
		fprintf(stderr, "usage: loaxa schedule %s FILE... %s[--json]\n", what,
			apply ? "[--edit DRAFT] [--outside-hours] " : "");
		json_decref(paths);
		return CLI_EXIT_USAGE;
	}
	body = paths ? files_body(argc, argv, optind, paths) : NULL;
	if (!body) {
		json_decref(paths);
		return CLI_EXIT_ERROR;
	}
	if (outside)
		json_object_set_new(body, "outside_hours", json_true());
	if (edit)
		snprintf(url, sizeof(url), "/v1/drafts/%s", edit);
	else
		snprintf(url, sizeof(url), "/v1/schedule/%s", what);
	cli_post_timeout_s = 0;
	/*
	 * The first answer may ask for audio the controller has not imported
	 * yet ("upload"): upload it, then ask once more.
	 */
	for (round = 0; round < 2; round++) {
		if (cli_send_json(edit ? "PUT" : "POST", url, body, &resp) < 0)
			goto out_body;
		if (!json_is_object(resp.json) || !json_object_get(resp.json, "ok")) {
			fprintf(stderr, _("loaxa: schedule %s: %s\n"), what, cli_resp_error(&resp));
			goto out;
		}
		if (round > 0 || !json_array_size(json_object_get(resp.json, "upload")))
			break;
		if (upload_audio(json_object_get(resp.json, "upload"), paths) < 0) {
			if (!json)
				fprintf(stderr, "%s\n", apply ? "not applied, nothing changed"
							   : "the schedule has errors");
			goto out;
		}
		cli_resp_free(&resp);
	}
	ok = jbool(resp.json, "ok");
	if (json) {
		cli_print_json(resp.json);
	} else if (ok && json_object_get(resp.json, "draft")) {
		/* an operator's apply: checked, kept for an approver */
		print_msgs(resp.json);
		cli_print_draft(json_object_get(resp.json, "draft"), edit != NULL);
	} else {
		print_msgs(resp.json);
		if (ok)
			printf(_("%s: %zu item%s, %lld play%s in the next %lld days%s\n"),
			       apply ? _("applied") : _("schedule OK"),
			       json_array_size(json_object_get(resp.json, "items")),
			       json_array_size(json_object_get(resp.json, "items")) == 1 ? "" : "s",
			       (long long)jint(resp.json, "occurrences", 0),
			       jint(resp.json, "occurrences", 0) == 1 ? "" : "s",
			       (long long)jint(resp.json, "horizon_days", 7),
			       apply ? _("; the nodes' plans are sent now") : "");
		else
			fprintf(stderr, _("%s: %zu error%s\n"), apply ? _("not applied, nothing changed")
				: _("the schedule has errors"),
				json_array_size(json_object_get(resp.json, "errors")),
				json_array_size(json_object_get(resp.json, "errors")) == 1 ? "" : "s");
	}
	rc = ok ? CLI_EXIT_OK : CLI_EXIT_ERROR;
out:
	cli_resp_free(&resp);
out_body:
	json_decref(body);
	json_decref(paths);
	return rc;
}

static int schedule_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "date", required_argument, NULL, 'd' },
		{ "days", required_argument, NULL, 'D' },
		{ "node", required_argument, NULL, 'n' },
		{ "zone", required_argument, NULL, 'z' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const head[] = { N_("TIME"), N_("NODE"), N_("ITEM"), N_("TITLE"), N_("LEVEL"),
					    N_("LENGTH"), N_("STATE"), N_("OCCURRENCE") };
	const char *usage = "usage: loaxa schedule list [--date YYYY-MM-DD] [--days N] "
			    "[--node N | --zone Z] [--json]";
	const char *date = NULL, *days = NULL, *node = NULL, *zone = NULL;
	struct cli_resp resp;
	struct table t;
	char path[512], dur[32];
	json_t *v;
	size_t i;
	int ch, json = 0, rc = CLI_EXIT_ERROR;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'd':
			date = optarg;
			break;
		case 'D':
			days = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'z':
			zone = optarg;
			break;
		case 'h':
			printf("%s\n", usage);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "%s\n", usage);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || (node && zone)) {
		fprintf(stderr, "%s\n", usage);
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/schedule?x=1");
#define ADD(k, v)                                                                    \
	if (v) {                                                                       \
		char *e = cli_escape(v);                                               \
		size_t l = strlen(path);                                               \
		snprintf(path + l, sizeof(path) - l, "&%s=%s", k, e ? e : "");         \
		free(e);                                                               \
	}
	ADD("date", date);
	ADD("days", days);
	ADD("node", node);
	ADD("zone", zone);
#undef ADD
	if (cli_get(path, &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200) {
		fprintf(stderr, _("loaxa: schedule list: %s\n"), cli_resp_error(&resp));
		goto out;
	}
	if (json) {
		cli_print_json(resp.json);
		rc = CLI_EXIT_OK;
		goto out;
	}
	table_init(&t, 8, head);
	t.right[5] = 1;
	t.limit[3] = 40;
	json_array_foreach(json_object_get(resp.json, "occurrences"), i, v) {
		const char *cells[8];

		fmt_duration_ms(dur, sizeof(dur), jint(v, "duration_ms", -1));
		cells[0] = jstr(v, "local");
		cells[1] = jstr(v, "node");
		cells[2] = jstr(v, "item");
		cells[3] = jstr(v, "title");
		cells[4] = jstr(v, "level");
		cells[5] = dur;
		cells[6] = jstr(v, "state");
		cells[7] = jstr(v, "occurrence");
		table_add(&t, cells);
	}
	if (t.nrows)
		table_print(&t, stdout);
	else
		printf(_("nothing planned (times are in %s)\n"), jstr(resp.json, "timezone"));
	table_free(&t);
	rc = CLI_EXIT_OK;
out:
	cli_resp_free(&resp);
	return rc;
}

int cmd_schedule(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return files_request("check", argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "apply") == 0)
		return files_request("apply", argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return schedule_list(argc - 1, argv + 1);
	fprintf(stderr, "usage: loaxa schedule check|apply FILE... | schedule list [...]\n");
	return CLI_EXIT_USAGE;
}

static int is_content_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

int cmd_announce(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "text", required_argument, NULL, 't' },
		{ "at", required_argument, NULL, 'a' },
		{ "zone", required_argument, NULL, 'z' },
		{ "node", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'A' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "gap", required_argument, NULL, 'g' },
		{ "level", required_argument, NULL, 'l' },
		{ "title", required_argument, NULL, 'T' },
		{ "volume", required_argument, NULL, 'v' },
		{ "chime", no_argument, NULL, 'c' },
		{ "edit", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "outside-hours", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *usage = "usage: loaxa announce FILE|CONTENT_ID|--text \"...\" --at "
			    "\"YYYY-MM-DD HH:MM[:SS]\" (--zone Z | --node N | --all) "
			    "[--repeat N] [--gap S] [--level L] [--title T] [--volume V] "
			    "[--chime] [--edit DRAFT] [--outside-hours] [--json]";
	const char *text = NULL, *at = NULL, *zone = NULL, *node = NULL, *level = NULL;
	const char *title = NULL, *edit = NULL;
	char url[64];
	long repeat = 1, gap = 30, volume = 100;
	int all = 0, chime = 0, json = 0, ch, ntargets, rc = CLI_EXIT_ERROR, outside = 0;
	struct cli_resp resp;
	json_t *body, *content = NULL, *v;
	size_t i;
	char *end;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 't': text = optarg; break;
		case 'a': at = optarg; break;
		case 'z': zone = optarg; break;
		case 'n': node = optarg; break;
		case 'A': all = 1; break;
		case 'l': level = optarg; break;
		case 'T': title = optarg; break;
		case 'c': chime = 1; break;
		case 'e':
			edit = optarg;
			if (!cli_draft_id_valid(edit)) {
				fprintf(stderr, _("loaxa announce: --edit %s: give a draft's number "
					"(loaxa drafts lists them)\n"), edit);
				goto usage;
			}
			break;
		case 'j': json = 1; break;
		case 'O': outside = 1; break;
		case 'r':
			repeat = strtol(optarg, &end, 10);
			if (!optarg[0] || *end || repeat < 1 || repeat > 20) {
				fprintf(stderr, _("loaxa announce: --repeat %s: --repeat must be 1 to "
					"20 (how many times it plays)\n"), optarg);
				goto usage;
			}
			break;
		case 'g':
			gap = strtol(optarg, &end, 10);
			if (!optarg[0] || *end || gap < 0 || gap > 3600) {
				fprintf(stderr, _("loaxa announce: --gap %s: --gap must be 0 to 3600 "
					"(seconds of silence between repeats)\n"), optarg);
				goto usage;
			}
			break;
		case 'v':
			volume = strtol(optarg, &end, 10);
			if (!optarg[0] || *end || volume < 0 || volume > 100) {
				fprintf(stderr, _("loaxa announce: --volume %s: --volume must be 0 to "
					"100 (percent)\n"), optarg);
				goto usage;
			}
			break;
		case 'h':
			printf("%s\n", usage);
			return CLI_EXIT_OK;
		default:
			goto usage;
		}
	}
	ntargets = (zone != NULL) + (node != NULL) + all;
	if (!at)
		fprintf(stderr, _("loaxa announce: say when with --at \"YYYY-MM-DD HH:MM\" "
			"(local time)\n"));
	else if (ntargets != 1)
		fprintf(stderr, _("loaxa announce: name exactly one of --zone, --node, --all\n"));
	else if (text && optind != argc)
		fprintf(stderr, _("loaxa announce: give --text or a file, not both\n"));
	else if (!text && optind != argc - 1)
		fprintf(stderr, _("loaxa announce: name one audio file (or content id), or give "
			"--text\n"));
	if (!at || ntargets != 1 || (text && optind != argc) ||
	    (!text && optind != argc - 1))
		goto usage;
	/* an unknown target is said before a long import, not after */
	if (!text && !is_content_id(argv[optind]) &&
	    cli_check_target("loaxa announce", zone, node) < 0)
		return CLI_EXIT_ERROR;
	body = json_pack("{s:s, s:I, s:I, s:I, s:b}", "at", at, "repeat", (json_int_t)repeat,
			 "gap_s", (json_int_t)gap, "volume", (json_int_t)volume, "chime", chime);
	if (zone)
		json_object_set_new(body, "zone", json_string(zone));
	if (node)
		json_object_set_new(body, "node", json_string(node));
	if (all)
		json_object_set_new(body, "all", json_true());
	if (level)
		json_object_set_new(body, "level", json_string(level));
	if (title)
		json_object_set_new(body, "title", json_string(title));
	if (outside)
		json_object_set_new(body, "outside_hours", json_true());
	if (text) {
		json_object_set_new(body, "text", json_string(text));
	} else if (is_content_id(argv[optind])) {
		json_object_set_new(body, "content", json_string(argv[optind]));
	} else {
		if (cli_import_file(argv[optind], title, 0, &content) < 0) {
			json_decref(body);
			return CLI_EXIT_ERROR;
		}
		cli_print_imported(argv[optind], content);
		json_object_set_new(body, "content", json_string(jstr(content, "id")));
		if (!title)
			json_object_set_new(body, "title", json_string(jstr(content, "title")));
		json_decref(content);
	}
	cli_post_timeout_s = 0; /* --text is spoken and imported first */
	/* --edit: the new content of one's own pending draft */
	if (edit)
		snprintf(url, sizeof(url), "/v1/drafts/%s", edit);
	if (cli_send_json(edit ? "PUT" : "POST", edit ? url : "/v1/announcements", body,
			  &resp) < 0) {
		json_decref(body);
		return CLI_EXIT_ERROR;
	}
	json_decref(body);
	if (json && resp.json) {
		cli_print_json(resp.json);
		rc = jbool(resp.json, "ok") ? CLI_EXIT_OK : CLI_EXIT_ERROR;
		goto out;
	}
	if (!json_object_get(resp.json, "ok")) {
		fprintf(stderr, _("loaxa: announce: %s\n"), cli_resp_error(&resp));
		goto out;
	}
	print_msgs(resp.json);
	if (!jbool(resp.json, "ok")) {
		fprintf(stderr, _("loaxa: announce: refused, nothing changed\n"));
		goto out;
	}
	if (json_object_get(resp.json, "draft")) {
		cli_print_draft(json_object_get(resp.json, "draft"), edit != NULL);
		rc = CLI_EXIT_OK;
		goto out;
	}
	json_array_foreach(json_object_get(resp.json, "items"), i, v)
		printf(_("announcement %s \"%s\": %lld play%s (cancel with: loaxa cancel %s)\n"),
		       jstr(v, "id"), jstr(v, "title"),
		       (long long)jint(resp.json, "occurrences", 0),
		       jint(resp.json, "occurrences", 0) == 1 ? "" : "s", jstr(v, "id"));
	rc = CLI_EXIT_OK;
out:
	cli_resp_free(&resp);
	return rc;
usage:
	fprintf(stderr, "%s\n", usage);
	return CLI_EXIT_USAGE;
}

int cmd_cancel(int argc, char **argv)
{
	struct cli_resp resp;
	json_t *body;
	int rc = CLI_EXIT_ERROR;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: loaxa cancel ID   (an announcement a-... or a planned "
			"play o-..., see loaxa schedule list)\n");
		return CLI_EXIT_USAGE;
	}
	body = json_pack("{s:s}", "id", argv[1]);
	if (cli_post_json("/v1/cancel", body, &resp) < 0) {
		json_decref(body);
		return CLI_EXIT_ERROR;
	}
	json_decref(body);
	if (resp.status == 200) {
		printf(_("cancelled %s %s\n"), jstr(resp.json, "kind"), jstr(resp.json, "cancelled"));
		rc = CLI_EXIT_OK;
	} else {
		fprintf(stderr, _("loaxa: cancel %s: %s\n"), argv[1], cli_resp_error(&resp));
	}
	cli_resp_free(&resp);
	return rc;
}

int cmd_readiness(int argc, char **argv)
{
	static const char *const head[] = { N_("TIME"), N_("NODE"), N_("ITEM"), N_("TITLE"), N_("WHY") };
	struct cli_resp resp;
	struct table t;
	char why[1024];
	json_t *v, *r;
	size_t i, k;
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: loaxa readiness [--json]\n");
		return CLI_EXIT_USAGE;
	}
	if (cli_get("/v1/readiness", &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200)
		return cli_fail(&resp, "readiness");
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 5, head);
	t.limit[3] = 30;
	json_array_foreach(json_object_get(resp.json, "missing"), i, v) {
		const char *cells[5];

		why[0] = '\0';
		json_array_foreach(json_object_get(v, "reasons"), k, r) {
			size_t l = strlen(why);

			snprintf(why + l, sizeof(why) - l, "%s%s", k ? "; " : "",
				 json_string_value(r));
		}
		cells[0] = jstr(v, "local");
		cells[1] = jstr(v, "node");
		cells[2] = jstr(v, "item");
		cells[3] = jstr(v, "title");
		cells[4] = why;
		table_add(&t, cells);
	}
	if (t.nrows)
		table_print(&t, stdout);
	else
		printf(_("ready: all %lld planned plays of the next 24 h are on their nodes\n"),
		       (long long)jint(resp.json, "planned", 0));
	table_free(&t);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}
