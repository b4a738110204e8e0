/*
 * schedule.c - `loaxa schedule check|apply|list`, `loaxa announce`,
 * `loaxa cancel`, `loaxa readiness`.
 *
 * check and apply go through the controller (it knows the zones, the
 * nodes and the content, and imports the audio the files name): the CLI
 * sends the absolute paths of the files, the controller reads them itself
 * (so they must be readable by the controller's user), and answers with
 * every error as "file:line: field "x": ..." using the names as typed
 * here. Importing long audio takes a while, so these requests have no
 * timeout.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "client.h"
#include "table.h"

static int draft_id_valid(const char *s);

static void print_msgs(json_t *reply)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(reply, "errors"), i, v)
		fprintf(stderr, "%s\n", json_string_value(v));
	json_array_foreach(json_object_get(reply, "warnings"), i, v)
		fprintf(stderr, "warning: %s\n", json_string_value(v));
	json_array_foreach(json_object_get(reply, "conflicts"), i, v) {
		json_t *nodes = json_object_get(v, "nodes"), *n;
		size_t k;
		int64_t count = jint(v, "count", 1);

		printf("conflict: %s:%d \"%s\" and %s:%d \"%s\" overlap (%s from %s",
		       jstr(v, "first_file"), (int)jint(v, "first_line", 0), jstr(v, "first"),
		       jstr(v, "second_file"), (int)jint(v, "second_line", 0), jstr(v, "second"),
		       jstr(v, "overlap"), jstr(v, "when"));
		if (count > 1)
			printf(", %lld times", (long long)count);
		printf(", node%s ", json_array_size(nodes) == 1 ? "" : "s");
		json_array_foreach(nodes, k, n)
			printf("%s%s", k ? ", " : "", json_string_value(n));
		printf("): %s\n", jstr(v, "message"));
	}
}

/*
 * Refuse a schedule file over the controller's size limit before asking it
 * to read the file (the controller refuses it too, with the same words).
 * Files up to the default limit go through unasked, so the usual check
 * costs no second request; a larger one asks the controller for its
 * configured limit (GET /v1/schedule/limits). 0, or -EFBIG after printing
 * the error.
 */
static int files_within_limit(int argc, char **argv, int first)
{
	struct cli_resp resp;
	long long limit = -1;
	struct stat st;
	int i, rc = 0;

	for (i = first; i < argc; i++) {
		if (stat(argv[i], &st) < 0 || st.st_size <= (1LL << 20))
			continue;
		if (limit < 0) {
			if (cli_get_ok("/v1/schedule/limits", &resp) < 0)
				return 0; /* the controller says why when asked to read it */
			limit = (long long)jint(resp.json, "max_file_bytes", 1LL << 20);
			cli_resp_free(&resp);
		}
		if ((long long)st.st_size > limit) {
			fprintf(stderr, "%s: the file is %lld bytes, over the limit of %lld bytes "
				"for a schedule file (schedule.max_file_bytes in controller.cfg): "
				"split it into several files\n", argv[i], (long long)st.st_size,
				limit);
			rc = -EFBIG;
		}
	}
	return rc;
}

static int files_request(const char *what, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "edit", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int apply = strcmp(what, "apply") == 0;
	struct cli_resp resp;
	json_t *body, *files;
	char path[PATH_MAX], url[64];
	const char *edit = NULL;
	int ch, json = 0, i, rc = CLI_EXIT_ERROR, ok;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'j') {
			json = 1;
		} else if (ch == 'e' && apply && draft_id_valid(optarg)) {
			edit = optarg; /* the new content of one's own pending draft */
		} else {
			fprintf(ch == 'h' ? stdout : stderr, "usage: loaxa schedule %s FILE... "
				"%s[--json]\n", what, apply ? "[--edit DRAFT] " : "");
			return ch == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: loaxa schedule %s FILE... %s[--json]\n", what,
			apply ? "[--edit DRAFT] " : "");
		return CLI_EXIT_USAGE;
	}
	if (files_within_limit(argc, argv, optind) < 0)
		return CLI_EXIT_ERROR;
	files = json_array();
	for (i = optind; i < argc; i++) {
		if (!realpath(argv[i], path)) {
			fprintf(stderr, "%s: cannot read the file: %s\n", argv[i], strerror(errno));
			json_decref(files);
			return CLI_EXIT_ERROR;
		}
		json_array_append_new(files, json_pack("{s:s, s:s}", "path", path, "name",
						       argv[i]));
	}
	body = json_pack("{s:o}", "files", files);
	if (edit)
		snprintf(url, sizeof(url), "/v1/drafts/%s", edit);
	else
		snprintf(url, sizeof(url), "/v1/schedule/%s", what);
	cli_post_timeout_s = 0;
	if (cli_send_json(edit ? "PUT" : "POST", url, body, &resp) < 0) {
		json_decref(body);
		return CLI_EXIT_ERROR;
	}
	json_decref(body);
	if (!json_is_object(resp.json) || !json_object_get(resp.json, "ok")) {
		fprintf(stderr, "loaxa: schedule %s: %s\n", what, cli_resp_error(&resp));
		goto out;
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
			printf("%s: %zu item%s, %lld play%s in the next %lld days%s\n",
			       strcmp(what, "apply") == 0 ? "applied" : "schedule OK",
			       json_array_size(json_object_get(resp.json, "items")),
			       json_array_size(json_object_get(resp.json, "items")) == 1 ? "" : "s",
			       (long long)jint(resp.json, "occurrences", 0),
			       jint(resp.json, "occurrences", 0) == 1 ? "" : "s",
			       (long long)jint(resp.json, "horizon_days", 7),
			       strcmp(what, "apply") == 0 ? "; the nodes' plans are sent now"
							   : "");
		else
			fprintf(stderr, "%s: %zu error%s%s\n", strcmp(what, "apply") == 0
				? "not applied, nothing changed" : "the schedule has errors",
				json_array_size(json_object_get(resp.json, "errors")),
				json_array_size(json_object_get(resp.json, "errors")) == 1 ? "" : "s",
				"");
	}
	rc = ok ? CLI_EXIT_OK : CLI_EXIT_ERROR;
out:
	cli_resp_free(&resp);
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
	static const char *const head[] = { "TIME", "NODE", "ITEM", "TITLE", "LEVEL",
					    "LENGTH", "STATE", "OCCURRENCE" };
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
		fprintf(stderr, "loaxa: schedule list: %s\n", cli_resp_error(&resp));
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
		printf("nothing planned (times are in %s)\n", jstr(resp.json, "timezone"));
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

static int draft_id_valid(const char *s)
{
	size_t i;

	if (!s[0] || strlen(s) > 15 || s[0] == '0')
		return 0;
	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *usage = "usage: loaxa announce FILE|CONTENT_ID|--text \"...\" --at "
			    "\"YYYY-MM-DD HH:MM[:SS]\" (--zone Z | --node N | --all) "
			    "[--repeat N] [--gap S] [--level L] [--title T] [--volume V] "
			    "[--chime] [--edit DRAFT] [--json]";
	const char *text = NULL, *at = NULL, *zone = NULL, *node = NULL, *level = NULL;
	const char *title = NULL, *edit = NULL;
	char url[64];
	long repeat = 1, gap = 30, volume = 100;
	int all = 0, chime = 0, json = 0, ch, ntargets, rc = CLI_EXIT_ERROR;
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
			if (!draft_id_valid(edit))
				goto usage;
			break;
		case 'j': json = 1; break;
		case 'r':
			repeat = strtol(optarg, &end, 10);
			if (*end || repeat < 1 || repeat > 20)
				goto usage;
			break;
		case 'g':
			gap = strtol(optarg, &end, 10);
			if (*end || gap < 0 || gap > 3600)
				goto usage;
			break;
		case 'v':
			volume = strtol(optarg, &end, 10);
			if (*end || volume < 0 || volume > 100)
				goto usage;
			break;
		case 'h':
			printf("%s\n", usage);
			return CLI_EXIT_OK;
		default:
			goto usage;
		}
	}
	ntargets = (zone != NULL) + (node != NULL) + all;
	if (!at || ntargets != 1 || (text && optind != argc) ||
	    (!text && optind != argc - 1))
		goto usage;
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
		fprintf(stderr, "loaxa: announce: %s\n", cli_resp_error(&resp));
		goto out;
	}
	print_msgs(resp.json);
	if (!jbool(resp.json, "ok")) {
		fprintf(stderr, "loaxa: announce: refused, nothing changed\n");
		goto out;
	}
	if (json_object_get(resp.json, "draft")) {
		cli_print_draft(json_object_get(resp.json, "draft"), edit != NULL);
		rc = CLI_EXIT_OK;
		goto out;
	}
	json_array_foreach(json_object_get(resp.json, "items"), i, v)
		printf("announcement %s \"%s\": %lld play%s (cancel with: loaxa cancel %s)\n",
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
		printf("cancelled %s %s\n", jstr(resp.json, "kind"), jstr(resp.json, "cancelled"));
		rc = CLI_EXIT_OK;
	} else {
		fprintf(stderr, "loaxa: cancel %s: %s\n", argv[1], cli_resp_error(&resp));
	}
	cli_resp_free(&resp);
	return rc;
}

int cmd_readiness(int argc, char **argv)
{
	static const char *const head[] = { "TIME", "NODE", "ITEM", "TITLE", "WHY" };
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
		printf("ready: all %lld planned plays of the next 24 h are on their nodes\n",
		       (long long)jint(resp.json, "planned", 0));
	table_free(&t);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}
