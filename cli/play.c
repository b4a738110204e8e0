/*
 * play.c - `loaxa play FILE|CONTENT_ID (--zone Z | --node N | --all)
 *           [--level L] [--wait[=SECONDS]] [--json]`
 *
 * A FILE is imported first; a content id may be given in full or as a
 * unique prefix of at least 6 hex digits (the tables show 12). With --wait
 * the broadcast is polled (GET /v1/broadcasts/<id>, every 0.5 s) until
 * every targeted node reported finished or failed, or the timeout passed;
 * then one line per node. Exit 0 only if every node finished.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "i18n.h"
#include "client.h"
#include "table.h"
#include "util.h"

static void play_usage(FILE *f)
{
	fprintf(f, "usage: loaxa play FILE|CONTENT_ID (--zone Z | --node N | --all) "
		   "[--level relay|normal|priority|emergency] [--wait[=SECONDS]] [--edit DRAFT] "
		   "[--outside-hours] [--json]\n");
}

static int is_hex(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i > 0;
}

/* A full id as is; a prefix through the content list. */
static int resolve_content(const char *arg, char out[65])
{
	struct cli_resp resp;
	json_t *list, *c;
	size_t i, n = strlen(arg), found = 0;

	if (n == 64) {
		memcpy(out, arg, 65);
		return 0;
	}
	if (n < 6) {
		fprintf(stderr, _("loaxa: %s: no such file, and too short for a content id (give "
			"at least 6 hex digits)\n"), arg);
		return -1;
	}
	if (cli_get("/v1/content", &resp) < 0)
		return -1;
	if (resp.status != 200) {
		fprintf(stderr, _("loaxa: cannot list the content: %s\n"), cli_resp_error(&resp));
		cli_resp_free(&resp);
		return -1;
	}
	list = json_object_get(resp.json, "content");
	json_array_foreach(list, i, c) {
		const char *id = jstr(c, "id");
		if (strncmp(id, arg, n) == 0 && strlen(id) == 64) {
			if (!found)
				memcpy(out, id, 65);
			found++;
		}
	}
	cli_resp_free(&resp);
	if (found == 1)
		return 0;
	if (found == 0)
		fprintf(stderr, _("loaxa: %s: no such file, and no content id starts with it "
			"(see loaxa content list)\n"), arg);
	else
		fprintf(stderr, _("loaxa: %s: %zu content ids start with it; give more digits\n"),
			arg, found);
	return -1;
}

static int all_done(json_t *b, int *finished, int *failed, int *pending)
{
	json_t *plays = json_object_get(b, "plays"), *p;
	size_t i;

	*finished = *failed = *pending = 0;
	json_array_foreach(plays, i, p) {
		const char *r = jstr(p, "result");
		if (strcmp(r, "finished") == 0)
			(*finished)++;
		else if (strcmp(r, "failed") == 0)
			(*failed)++;
		else
			(*pending)++;
	}
	return *pending == 0;
}

static void print_results(json_t *b)
{
	static const char *const head[] = { N_("NODE"), N_("RESULT"), N_("CONTENT"), N_("DURATION"),
					    N_("STARTED"), N_("REASON") };
	json_t *plays = json_object_get(b, "plays"), *p;
	struct table t;
	char dur[32], start[32], content[16];
	size_t i;

	table_init(&t, 6, head);
	t.right[3] = 1;
	t.limit[5] = 60;
	snprintf(content, sizeof(content), "%.12s", jstr(b, "content"));
	json_array_foreach(plays, i, p) {
		const char *cells[6];
		int64_t d = jint(p, "duration_ms", -1);

		fmt_duration_ms(dur, sizeof(dur), d);
		fmt_local_time(start, sizeof(start), jint(p, "start", -1));
		cells[0] = jstr(p, "node");
		cells[1] = jstr(p, "result");
		cells[2] = content;
		cells[3] = dur;
		cells[4] = start;
		cells[5] = jstr(p, "reason");
		table_add(&t, cells);
	}
	table_print(&t, stdout);
	table_free(&t);
}

static int wait_for(const char *bid, int timeout_s, int json)
{
	struct cli_resp resp;
	struct timespec half = { 0, 500 * 1000 * 1000 };
	char path[256];
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000; /* a stopwatch, not the calendar */
	json_t *last = NULL;
	int finished = 0, failed = 0, pending = 0, done = 0, rc;

	snprintf(path, sizeof(path), "/v1/broadcasts/%s", bid);
	for (;;) {
		if (cli_get(path, &resp) < 0) {
			json_decref(last);
			return CLI_EXIT_ERROR;
		}
		if (resp.status != 200 || !json_is_object(resp.json)) {
			fprintf(stderr, _("loaxa: cannot follow broadcast %s: %s\n"), bid,
				cli_resp_error(&resp));
			cli_resp_free(&resp);
			json_decref(last);
			return CLI_EXIT_ERROR;
		}
		json_decref(last);
		last = json_incref(resp.json);
		cli_resp_free(&resp);
		done = all_done(last, &finished, &failed, &pending);
		if (done || mono_ms() >= deadline)
			break;
		nanosleep(&half, NULL);
	}
	if (json) {
		json_object_set_new(last, "all_finished",
				    json_boolean(done && failed == 0));
		json_object_set_new(last, "timed_out", json_boolean(!done));
		cli_print_json(last);
	} else {
		print_results(last);
		if (done)
			printf(_("%d of %d node%s finished%s\n"), finished, finished + failed,
			       finished + failed == 1 ? "" : "s", failed ? "" : ".");
		else
			printf(_("timed out after %d s: %d finished, %d failed, %d still pending\n"),
			       timeout_s, finished, failed, pending);
	}
	json_decref(last);
	rc = !done ? CLI_EXIT_TIMEOUT : failed ? CLI_EXIT_ERROR : CLI_EXIT_OK;
	return rc;
}

int cmd_play(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },
		{ "node", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "level", required_argument, NULL, 'l' },
		{ "wait", optional_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "edit", required_argument, NULL, 'e' },
		{ "outside-hours", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *zone = NULL, *node = NULL, *level = NULL, *what, *edit = NULL;
	char id[65], url[64];
	struct cli_resp resp;
	struct stat st;
	json_t *req = NULL, *content = NULL, *targets;
	int ch, all = 0, wait = -1, json = 0, ntargets, rc = CLI_EXIT_ERROR, outside = 0;
	size_t i;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "z:n:ah", opts, NULL)) != -1) {
		switch (ch) {
		case 'z':
			zone = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'a':
			all = 1;
			break;
		case 'l':
			level = optarg;
			break;
		case 'w':
			wait = 60;
			if (optarg) {
				char *end;
				long v;

				errno = 0;
				v = strtol(optarg, &end, 10);
				if (errno || *end || v < 1 || v > 86400) {
					fprintf(stderr, _("loaxa play: --wait=%s: give seconds, 1 "
						"to 86400\n"), optarg);
					return CLI_EXIT_USAGE;
				}
				wait = (int)v;
			}
			break;
		case 'j':
			json = 1;
			break;
		case 'O':
			outside = 1; /* confirmed: it must sound outside the allowed hours */
			break;
		case 'e':
			edit = optarg; /* the new content of one's own pending draft */
			if (!cli_draft_id_valid(edit)) {
				fprintf(stderr, _("loaxa play: --edit %s: give a draft's number (loaxa "
					"drafts)\n"), edit);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			play_usage(stdout);
			return CLI_EXIT_OK;
		default:
			play_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	ntargets = !!zone + !!node + all;
	if (optind != argc - 1 || ntargets != 1) {
		if (ntargets != 1)
			fprintf(stderr, _("loaxa play: name exactly one of --zone, --node, --all\n"));
		play_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	what = argv[optind];

	if (stat(what, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, _("loaxa play: %s is not a file\n"), what);
			return CLI_EXIT_ERROR;
		}
		/* an unknown target is said before a long import, not after */
		if (cli_check_target("loaxa play", zone, node) < 0)
			return CLI_EXIT_ERROR;
		if (cli_import_file(what, NULL, 0, &content) < 0)
			return CLI_EXIT_ERROR;
		cli_print_imported(what, content);
		snprintf(id, sizeof(id), "%s", jstr(content, "id"));
		json_decref(content);
	} else if (is_hex(what)) {
		if (resolve_content(what, id) < 0)
			return CLI_EXIT_ERROR;
	} else {
		fprintf(stderr, _("loaxa play: %s: no such file, and not a content id\n"), what);
		return CLI_EXIT_ERROR;
	}

	req = json_pack("{s:s}", "content", id);
	cli_set_target(req, zone, node);
	if (level)
		json_object_set_new(req, "level", json_string(level));
	if (outside)
		json_object_set_new(req, "outside_hours", json_true());
	if (edit)
		snprintf(url, sizeof(url), "/v1/drafts/%s", edit);
	if (!req || cli_send_json(edit ? "PUT" : "POST", edit ? url : "/v1/broadcasts", req,
				  &resp) < 0) {
		json_decref(req);
		return CLI_EXIT_ERROR;
	}
	json_decref(req);
	/* where approval is required: a draft, nothing sounds yet */
	if ((resp.status == 202 || resp.status == 200) && json_is_object(resp.json) &&
	    json_object_get(resp.json, "draft")) {
		if (json)
			cli_print_json(resp.json);
		else
			cli_print_draft(json_object_get(resp.json, "draft"), edit != NULL);
		if (wait >= 0 && !json)
			fprintf(stderr, _("loaxa play: not waiting: the play waits for an approver\n"));
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	if (resp.status != 201 || !json_is_object(resp.json) ||
	    !jstr(resp.json, "broadcast")[0]) {
		fprintf(stderr, _("loaxa play: the broadcast was refused: %s\n"),
			cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	if (jstr(resp.json, "warning")[0])
		fprintf(stderr, _("loaxa play: warning: %s\n"), jstr(resp.json, "warning"));
	if (!json)
		cli_amp_note(json_object_get(resp.json, "targets"), NULL, NULL, "the broadcast");
	if (wait < 0) {
		if (json) {
			cli_print_json(resp.json);
		} else {
			targets = json_object_get(resp.json, "targets");
			printf(_("broadcast %s of %.12s to %s%s%s: %zu node%s ("),
			       jstr(resp.json, "broadcast"), id, zone ? _("zone ") : node ? _("node ") : "",
			       zone ? zone : node ? node : _("all"), "",
			       json_array_size(targets), json_array_size(targets) == 1 ? "" : "s");
			for (i = 0; i < json_array_size(targets); i++)
				printf("%s%s", i ? ", " : "",
				       json_is_string(json_array_get(targets, i)) ?
				       json_string_value(json_array_get(targets, i)) : "?");
			printf(")\n");
		}
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	if (!json)
		fprintf(stderr, _("broadcast %s: waiting up to %d s for %zu node%s\n"),
			jstr(resp.json, "broadcast"), wait,
			json_array_size(json_object_get(resp.json, "targets")),
			json_array_size(json_object_get(resp.json, "targets")) == 1 ? "" : "s");
	{
		char bid[128];

		snprintf(bid, sizeof(bid), "%s", jstr(resp.json, "broadcast"));
		cli_resp_free(&resp);
		rc = wait_for(bid, wait, json);
	}
	return rc;
}
