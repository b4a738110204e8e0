/*
 * emergency.c - `loaxa emergency ...`: sound (or stop) an emergency broadcast
 * and see which nodes confirmed it; manage the pre-positioned clips.
 *
 *   loaxa emergency start (--clip NAME | FILE) (--zone Z | --node N | --all)
 *                         [--drill] [--max DURATION] [--timeout SECONDS] [--json]
 *   loaxa emergency stop [ID] [--timeout SECONDS] [--no-all-clear] [--json]
 *   loaxa emergency clips [--json]
 *   loaxa emergency clip NAME FILE|CONTENT_ID
 *
 * start waits until every targeted node confirmed "started" (or the
 * timeout, default 10 s) and prints one line per node with the time its
 * first sample played and how long after the command that was, then the
 * nodes that did not confirm. Exit 0 when all confirmed, 3 when some did
 * not, 1 on an error. stop does the same with the nodes' confirmations
 * that they are silent (a node that was not sounding it says so too).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>

#include "cli.h"
#include "i18n.h"
#include "client.h"
#include "table.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loaxa emergency start (--clip NAME | FILE | --live [--device D])\n"
		"                             (--zone Z | --node N | --all)\n"
		"                             [--drill] [--max DURATION] [--timeout SECONDS] [--json]\n"
		"       loaxa emergency stop [ID] [--timeout SECONDS] [--no-all-clear] [--json]\n"
		"       loaxa emergency clips [--json]\n"
		"       loaxa emergency clip NAME FILE|CONTENT_ID\n"
		"       loaxa emergency start --area[=CODE] --clip NAME [--commune CODE]...\n"
		"                             [--village ZONE]... [--drill] [--max DURATION] [--json]\n"
		"       loaxa emergency stop --area ID [--json]\n"
		"\n"
		"start: every targeted node stops what it plays and sounds the alert tone,\n"
		"  then (--drill: \"Đây là diễn tập\", then) the message, repeated until\n"
		"  `loaxa emergency stop` or DURATION (default 30m; e.g. 90s, 10m, 1h).\n"
		"  Waits up to --timeout (default 10) seconds for every node to confirm.\n"
		"  --live: after the tone the message is your voice from the controller's\n"
		"  capture device D (a name from controller.cfg's capture group; default:\n"
		"  the first one there), until Ctrl-C ends the emergency\n"
		"  (--voice FILE: a recording streamed the same way).\n"
		"stop: every node the emergency went to stops it; waits up to --timeout\n"
		"  (default 10) seconds until each confirmed it is silent, and names\n"
		"  those that did not (exit 3). Nodes that sounded it then play the\n"
		"  \"all-clear\" clip, if there is one (--no-all-clear: not this time).\n"
		"clip: make FILE (imported) or stored content the clip NAME (tone, drill,\n"
		"  flood, storm, fire, all-clear, ...); every node gets it ahead of need.\n"
		"--area (a district or province controller): the communes' nodes below\n"
		"  sound the clip NAME of their own set, even with their controller down;\n"
		"  --commune/--village narrow it. They confirm to their own controllers.\n");
}

static int confirmed(const char *result)
{
	return strcmp(result, "started") == 0 || strcmp(result, "finished") == 0;
}

static void print_confirmations(json_t *b, int64_t created)
{
	static const char *const head[] = { N_("NODE"), N_("CONFIRMED"), N_("FIRST SAMPLE"), N_("AFTER") };
	json_t *plays = json_object_get(b, "plays"), *p;
	struct table t;
	size_t i;

	table_init(&t, 4, head);
	t.right[3] = 1;
	json_array_foreach(plays, i, p) {
		const char *cells[4];
		char start[32], after[32];
		int64_t s = jint(p, "start", -1);
		const char *r = jstr(p, "result");

		fmt_local_time(start, sizeof(start), s);
		if (s > 0)
			snprintf(after, sizeof(after), "%lld ms", (long long)(s - created));
		else
			snprintf(after, sizeof(after), "-");
		cells[0] = jstr(p, "node");
		cells[1] = strcmp(r, "started") == 0 ? _("started") :
			   strcmp(r, "finished") == 0 ? _("started, ended") : _("NO");
		cells[2] = start;
		cells[3] = after;
		table_add(&t, cells);
	}
	table_print(&t, stdout);
	table_free(&t);
}

static int wait_confirmations(json_t *started, int timeout_s, int json)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	const char *id = jstr(started, "emergency");
	int64_t created = jint(started, "created", 0);
	char path[256];
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000; /* a stopwatch, not the calendar */
	json_t *last = NULL, *p, *missing;
	size_t i, nconf;
	int rc;

	snprintf(path, sizeof(path), "/v1/broadcasts/%s", id);
	for (;;) {
		struct cli_resp resp;

		if (cli_get(path, &resp) < 0)
			goto err;
		if (resp.status != 200 || !json_is_object(resp.json)) {
			fprintf(stderr, _("loaxa emergency: cannot follow %s: %s\n"), id,
				cli_resp_error(&resp));
			cli_resp_free(&resp);
			goto err;
		}
		json_decref(last);
		last = json_incref(resp.json);
		cli_resp_free(&resp);
		nconf = 0;
		json_array_foreach(json_object_get(last, "plays"), i, p)
			nconf += confirmed(jstr(p, "result"));
		if (nconf == json_array_size(json_object_get(last, "plays")) ||
		    mono_ms() >= deadline)
			break;
		nanosleep(&tick, NULL);
	}
	missing = json_array();
	json_array_foreach(json_object_get(last, "plays"), i, p)
		if (!confirmed(jstr(p, "result")))
			json_array_append_new(missing, json_string(jstr(p, "node")));
	if (json) {
		json_object_set(started, "plays", json_object_get(last, "plays"));
		json_object_set(started, "not_confirmed", missing);
		cli_print_json(started);
	} else {
		print_confirmations(last, created);
		if (json_array_size(missing) == 0) {
			printf(_("all %zu node%s confirmed.\n"), nconf, nconf == 1 ? "" : "s");
		} else {
			printf(_("NOT confirmed within %d s (%zu of %zu): "), timeout_s,
			       json_array_size(missing),
			       json_array_size(json_object_get(last, "plays")));
			json_array_foreach(missing, i, p)
				printf("%s%s", i ? ", " : "", json_string_value(p));
			printf("\n");
		}
	}
	rc = json_array_size(missing) ? CLI_EXIT_TIMEOUT : CLI_EXIT_OK;
	json_decref(missing);
	json_decref(last);
	return rc;
err:
	json_decref(last);
	return CLI_EXIT_ERROR;
}

static int is_hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

static int em_start(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "clip", required_argument, NULL, 'c' },
		{ "live", no_argument, NULL, 'L' },
		{ "device", required_argument, NULL, 'D' },
		{ "voice", required_argument, NULL, 'V' },
		{ "zone", required_argument, NULL, 'z' },
		{ "node", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "drill", no_argument, NULL, 'd' },
		{ "max", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *clip = NULL, *zone = NULL, *node = NULL, *file = NULL, *device = NULL;
	const char *voice = NULL;
	int ch, all = 0, drill = 0, json = 0, timeout = 10, rc, live = 0;
	long max_s = 0;
	struct cli_resp resp;
	json_t *req, *content = NULL;
	char id[65] = "";

	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:z:n:adm:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': clip = optarg; break;
		case 'L': live = 1; break;
		case 'D': device = optarg; break;
		case 'V': voice = optarg; break;
		case 'z': zone = optarg; break;
		case 'n': node = optarg; break;
		case 'a': all = 1; break;
		case 'd': drill = 1; break;
		case 'm':
			max_s = cli_parse_duration(optarg);
			if (max_s < 0) {
				fprintf(stderr, _("loaxa emergency start: --max %s: give a duration "
					"up to 24h (e.g. 1800, 90s, 10m, 1h)\n"), optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 't': {
			long v = cli_parse_duration(optarg);

			if (v < 0 || v > 3600) {
				fprintf(stderr, _("loaxa emergency start: --timeout %s: give 1 to 3600 "
					"seconds\n"), optarg);
				return CLI_EXIT_USAGE;
			}
			timeout = (int)v;
			break;
		}
		case 'j': json = 1; break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default: usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc)
		file = argv[optind++];
	if (optind != argc || !!clip + !!file + live != 1 || !!zone + !!node + all != 1 ||
	    ((device || voice) && !live)) {
		fprintf(stderr, _("loaxa emergency start: name one of --clip NAME, FILE and --live "
			"(--device only with --live), and one of --zone, --node, --all\n"));
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (file) {
		struct stat st;

		if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
			if (cli_import_file(file, NULL, 0, &content) < 0)
				return CLI_EXIT_ERROR;
			cli_print_imported(file, content);
			snprintf(id, sizeof(id), "%s", jstr(content, "id"));
			json_decref(content);
		} else if (is_hex64(file)) {
			snprintf(id, sizeof(id), "%s", file);
		} else {
			fprintf(stderr, _("loaxa emergency start: %s: no such file, and not a "
				"content id\n"), file);
			return CLI_EXIT_ERROR;
		}
	}
	if (voice) {
		/* a recording stands in for the microphone (and for the tests) */
		json_t *rec = NULL;

		if (cli_import_file(voice, NULL, 0, &rec) < 0)
			return CLI_EXIT_ERROR;
		snprintf(id, sizeof(id), "%s", jstr(rec, "id"));
		json_decref(rec);
	}
	req = json_pack("{s:b}", "drill", drill);
	if (live) {
		if (voice)
			json_object_set_new(req, "voice", json_string(id));
		json_object_set_new(req, "live", json_true());
		if (device)
			json_object_set_new(req, "device", json_string(device));
	} else if (clip) {
		json_object_set_new(req, "clip", json_string(clip));
	} else {
		json_object_set_new(req, "content", json_string(id));
	}
	cli_set_target(req, zone, node);
	if (max_s)
		json_object_set_new(req, "max_s", json_integer(max_s));
	rc = cli_post_json("/v1/emergency", req, &resp);
	json_decref(req);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 201 || !json_is_object(resp.json)) {
		fprintf(stderr, _("loaxa emergency start: refused: %s\n"), cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	if (!json)
		fprintf(stderr, _("%s %s sent to %s %s (%zu node%s); waiting up to %d s for "
			"confirmations\n"), drill ? _("DRILL") : _("EMERGENCY"),
			jstr(resp.json, "emergency"), jstr(resp.json, "target_kind"),
			jstr(resp.json, "target"),
			json_array_size(json_object_get(resp.json, "targets")),
			json_array_size(json_object_get(resp.json, "targets")) == 1 ? "" : "s",
			timeout);
	/* the first sample waits for the amplifier: wait that much longer */
	timeout += cli_amp_note(json_object_get(resp.json, "targets"), NULL, NULL,
				"the alert tone");
	rc = wait_confirmations(resp.json, timeout, json);
	if (live) {
		/* the voice goes out until Ctrl-C, which ends the emergency */
		struct sigaction sa;
		sigset_t wait_for;
		json_t *stop = json_pack("{s:s}", "emergency", jstr(resp.json, "emergency"));
		struct cli_resp sresp;
		int sig = 0;

		memset(&sa, 0, sizeof(sa));
		sigemptyset(&wait_for);
		sigaddset(&wait_for, SIGINT);
		sigaddset(&wait_for, SIGTERM);
		sigprocmask(SIG_BLOCK, &wait_for, NULL);
		if (!json)
			fprintf(stderr, _("speak now: every node plays your voice; Ctrl-C ends the "
				"emergency\n"));
		sigwait(&wait_for, &sig);
		if (cli_post_json("/v1/emergency/stop", stop, &sresp) == 0) {
			if (!json)
				fprintf(stderr, _("%s %s stopped\n"), drill ? _("DRILL") : _("EMERGENCY"),
					jstr(resp.json, "emergency"));
			cli_resp_free(&sresp);
		}
		json_decref(stop);
	}
	cli_resp_free(&resp);
	return rc;
}

/* A node confirmed the stop: it said it is silent (stopped, or never sounding it). */
static int stop_confirmed(json_t *node)
{
	return json_is_object(json_object_get(node, "stop"));
}

static void print_stop_confirmations(const char *id, json_t *e, int64_t sent)
{
	static const char *const head[] = { N_("NODE"), N_("SILENT"), N_("CONFIRMED AT"), N_("AFTER") };
	struct table t;
	json_t *p;
	size_t i;

	printf("%s %s:\n", id[0] == 'd' ? _("drill") : _("emergency"), id);
	table_init(&t, 4, head);
	t.right[3] = 1;
	json_array_foreach(json_object_get(e, "nodes"), i, p) {
		json_t *stop = json_object_get(p, "stop");
		const char *cells[4];
		char at[32], after[32], silent[160];
		int64_t a = jint(stop, "at", -1);

		fmt_local_time(at, sizeof(at), a);
		if (a > 0)
			snprintf(after, sizeof(after), "%lld ms", (long long)(a - sent));
		else
			snprintf(after, sizeof(after), "-");
		if (!stop_confirmed(p))
			snprintf(silent, sizeof(silent), "%s", _("NO"));
		else if (strcmp(jstr(stop, "reason"), "stopped") == 0)
			snprintf(silent, sizeof(silent), "%s", _("yes, stopped"));
		else
			snprintf(silent, sizeof(silent), _("yes (%s)"), jstr(stop, "reason"));
		cells[0] = jstr(p, "node");
		cells[1] = silent;
		cells[2] = a > 0 ? at : "-";
		cells[3] = after;
		table_add(&t, cells);
	}
	table_print(&t, stdout);
	table_free(&t);
}

/*
 * After the stop: follow each stopped emergency (GET /v1/emergency/<id>)
 * until every target node confirmed it is silent, or the timeout. Fills
 * out with id -> that emergency (nodes and their confirmations) and
 * missing with the nodes that did not confirm. 0, or -1 on an error.
 */
static int wait_stop(json_t *ids, int timeout_s, json_t *out, json_t *missing)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000; /* a stopwatch */
	json_t *idj, *p;
	size_t i, j;

	for (;;) {
		int all = 1;

		json_array_foreach(ids, i, idj) {
			const char *id = json_string_value(idj);
			struct cli_resp resp;
			char path[256];

			snprintf(path, sizeof(path), "/v1/emergency/%s", id);
			if (cli_get(path, &resp) < 0)
				return -1;
			if (resp.status != 200 || !json_is_object(resp.json)) {
				fprintf(stderr, _("loaxa emergency stop: cannot follow %s: %s\n"), id,
					cli_resp_error(&resp));
				cli_resp_free(&resp);
				return -1;
			}
			json_object_set(out, id, resp.json);
			json_array_foreach(json_object_get(resp.json, "nodes"), j, p)
				all &= stop_confirmed(p);
			cli_resp_free(&resp);
		}
		if (all || mono_ms() >= deadline)
			break;
		nanosleep(&tick, NULL);
	}
	json_array_foreach(ids, i, idj)
		json_array_foreach(json_object_get(json_object_get(out, json_string_value(idj)),
						   "nodes"), j, p)
			if (!stop_confirmed(p)) {
				/* a node of two stopped emergencies is named once */
				size_t k;
				json_t *q;
				int seen = 0;

				json_array_foreach(missing, k, q)
					seen |= strcmp(json_string_value(q), jstr(p, "node")) == 0;
				if (!seen)
					json_array_append_new(missing, json_string(jstr(p, "node")));
			}
	return 0;
}

static int em_stop(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-all-clear", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_resp resp;
	json_t *req = json_object(), *p, *ids, *confs, *missing;
	int json = 0, rc, ch, timeout = 10, all_clear = 1;
	size_t i, ntargets = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "jt:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = 1; break;
		case 'N': all_clear = 0; break;
		case 't': {
			long v = cli_parse_duration(optarg);

			if (v < 0 || v > 3600) {
				fprintf(stderr, _("loaxa emergency stop: --timeout %s: give 1 to 3600 "
					"seconds\n"), optarg);
				json_decref(req);
				return CLI_EXIT_USAGE;
			}
			timeout = (int)v;
			break;
		}
		case 'h': usage(stdout); json_decref(req); return CLI_EXIT_OK;
		default: usage(stderr); json_decref(req); return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc && argv[optind][0] != '-')
		json_object_set_new(req, "emergency", json_string(argv[optind++]));
	if (optind != argc) {
		fprintf(stderr, _("loaxa emergency stop: name at most one emergency id (e-... or "
			"d-...)\n"));
		usage(stderr);
		json_decref(req);
		return CLI_EXIT_USAGE;
	}
	if (!all_clear)
		json_object_set_new(req, "all_clear", json_false());
	rc = cli_post_json("/v1/emergency/stop", req, &resp);
	json_decref(req);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200 || !json_is_object(resp.json)) {
		fprintf(stderr, _("loaxa emergency stop: refused: %s\n"), cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	/* what to follow: the emergencies (e-...) and drills (d-...); a play at
	 * level emergency (b-...) is silenced by the same stop, but its nodes
	 * report it as the end of a play, which `loaxa play` follows */
	ids = json_array();
	json_array_foreach(json_object_get(resp.json, "stopped"), i, p) {
		const char *sid = json_string_value(p);

		if (sid && (sid[0] == 'e' || sid[0] == 'd') && sid[1] == '-')
			json_array_append(ids, p);
	}
	if (!json) {
		json_array_foreach(json_object_get(resp.json, "stopped"), i, p) {
			const char *sid = json_string_value(p);

			if (sid && sid[0] == 'b')
				printf(_("stopped %s (a play at level emergency; its nodes report its "
				       "end as a play: loaxa plays --broadcast %s)\n"), sid, sid);
			else
				printf(_("stopped %s %s\n"), sid && sid[0] == 'd' ? _("drill") :
				       _("emergency"), sid ? sid : "?");
		}
		/* active outside the operator's zones: left sounding, and why */
		json_array_foreach(json_object_get(resp.json, "not_stopped"), i, p)
			fprintf(stderr, _("not stopped: %s: %s\n"), jstr(p, "emergency"),
				jstr(p, "reason"));
		if (json_array_size(ids) == 0 &&
		    json_array_size(json_object_get(resp.json, "not_stopped")) == 0)
			printf(_("no emergency was known to be active; a stop went to every node "
			       "you may act on anyway\n"));
		if (json_array_size(ids))
			fprintf(stderr, _("waiting up to %d s for every node to confirm it is "
				"silent\n"), timeout);
	}
	/* every node the stop went to must say it is silent (docs/live.md) */
	confs = json_object();
	missing = json_array();
	if (json_array_size(ids) && wait_stop(ids, timeout, confs, missing) < 0) {
		json_decref(confs);
		json_decref(missing);
		json_decref(ids);
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	json_array_foreach(ids, i, p)
		ntargets += json_array_size(json_object_get(json_object_get(
			confs, json_string_value(p)), "nodes"));
	if (json) {
		json_object_set(resp.json, "confirmations", confs);
		json_object_set(resp.json, "not_confirmed", missing);
		cli_print_json(resp.json);
	} else if (json_array_size(ids)) {
		json_array_foreach(ids, i, p)
			print_stop_confirmations(json_string_value(p),
						 json_object_get(confs, json_string_value(p)),
						 jint(resp.json, "sent", 0));
		if (json_array_size(missing) == 0) {
			printf(_("all %zu node%s confirmed %s silent.\n"), ntargets,
			       ntargets == 1 ? "" : "s", ntargets == 1 ? _("it is") : _("they are"));
		} else {
			printf(_("NOT confirmed within %d s (%zu of %zu): "), timeout,
			       json_array_size(missing), ntargets);
			json_array_foreach(missing, i, p)
				printf("%s%s", i ? ", " : "", json_string_value(p));
			printf(_("\n(offline or stopped nodes may still sound: see `loaxa nodes`; "
			       "they stop it when they are back, or at its maximum duration)\n"));
		}
		if (json_is_string(json_object_get(resp.json, "all_clear")))
			printf(_("the nodes that sounded it now play the all-clear clip\n"));
	}
	rc = json_array_size(missing) ? CLI_EXIT_TIMEOUT : CLI_EXIT_OK;
	json_decref(confs);
	json_decref(missing);
	json_decref(ids);
	cli_resp_free(&resp);
	return rc;
}

static int em_clips(int argc, char **argv)
{
	static const char *const head[] = { N_("NAME"), N_("CONTENT"), N_("DURATION"), N_("TITLE") };
	struct cli_resp resp;
	struct table t;
	json_t *c;
	size_t i;
	int json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (argc > 2 || (argc == 2 && !json)) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_get("/v1/emergency/clips", &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200 || !json_is_object(resp.json)) {
		fprintf(stderr, _("loaxa emergency clips: %s\n"), cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 4, head);
	json_array_foreach(json_object_get(resp.json, "clips"), i, c) {
		const char *cells[4];
		char dur[32], id[16];

		fmt_duration_ms(dur, sizeof(dur), jint(c, "duration_ms", -1));
		snprintf(id, sizeof(id), "%.12s", jstr(c, "content"));
		cells[0] = jstr(c, "name");
		cells[1] = id;
		cells[2] = dur;
		cells[3] = jstr(c, "title");
		table_add(&t, cells);
	}
	table_print(&t, stdout);
	table_free(&t);
	printf(_("clip set %s\n"), jstr(resp.json, "set"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

static int em_clip(int argc, char **argv)
{
	struct cli_resp resp;
	struct stat st;
	json_t *req, *content = NULL;
	char id[65], path[128];
	int rc;

	if (argc != 3) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (stat(argv[2], &st) == 0 && S_ISREG(st.st_mode)) {
		if (cli_import_file(argv[2], NULL, 0, &content) < 0)
			return CLI_EXIT_ERROR;
		cli_print_imported(argv[2], content);
		snprintf(id, sizeof(id), "%s", jstr(content, "id"));
		json_decref(content);
	} else if (is_hex64(argv[2])) {
		snprintf(id, sizeof(id), "%s", argv[2]);
	} else {
		fprintf(stderr, _("loaxa emergency clip: %s: no such file, and not a content id\n"),
			argv[2]);
		return CLI_EXIT_ERROR;
	}
	if (strlen(argv[1]) > 31) {
		fprintf(stderr, _("loaxa emergency clip: %s: a clip name is 1-31 of a-z, 0-9, "
			"'-', '_'\n"), argv[1]);
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/emergency/clips/%s", argv[1]);
	req = json_pack("{s:s}", "content", id);
	rc = cli_post_json(path, req, &resp);
	json_decref(req);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200) {
		fprintf(stderr, _("loaxa emergency clip: refused: %s\n"), cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	printf(_("emergency clip %s = %.12s (clip set %s)\n"), argv[1], id,
	       jstr(resp.json, "set"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

/*
 * loaxa emergency start --area [CODE] --clip NAME [--commune C]... [--village V]...
 *                        [--drill] [--max DURATION] [--json]
 * loaxa emergency stop --area ID [--json]
 * A district or province controller's bulletin for the communes below
 * (controller/upperctl.h): the nodes sound the clip of their own set.
 */
static int em_area(int argc, char **argv, int stop)
{
	static const struct option opts[] = {
		{ "area", optional_argument, NULL, 'A' },
		{ "clip", required_argument, NULL, 'c' },
		{ "commune", required_argument, NULL, 'C' },
		{ "village", required_argument, NULL, 'v' },
		{ "drill", no_argument, NULL, 'd' },
		{ "max", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *area = NULL, *clip = NULL;
	json_t *req = json_object(), *communes = json_array(), *villages = json_array();
	int ch, drill = 0, json = 0, rc = CLI_EXIT_USAGE;
	long max_s = 0;
	struct cli_resp resp;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'A': area = optarg; break;
		case 'c': clip = optarg; break;
		case 'C': json_array_append_new(communes, json_string(optarg)); break;
		case 'v': json_array_append_new(villages, json_string(optarg)); break;
		case 'd': drill = 1; break;
		case 'm':
			max_s = cli_parse_duration(optarg);
			if (max_s < 0)
				goto usage;
			break;
		case 'j': json = 1; break;
		default: goto usage;
		}
	}
	if (stop) {
		if (optind != argc - 1 || clip || drill || json_array_size(communes) ||
		    json_array_size(villages))
			goto usage;
		json_object_set_new(req, "emergency", json_string(argv[optind]));
	} else {
		if (optind != argc || !clip)
			goto usage;
		json_object_set_new(req, "clip", json_string(clip));
		json_object_set_new(req, "drill", json_boolean(drill));
		if (area)
			json_object_set_new(req, "area", json_string(area));
		if (json_array_size(communes))
			json_object_set(req, "communes", communes);
		if (json_array_size(villages))
			json_object_set(req, "villages", villages);
		if (max_s)
			json_object_set_new(req, "max_s", json_integer(max_s));
	}
	if (cli_post_json(stop ? "/v1/emergency/area/stop" : "/v1/emergency/area", req,
			  &resp) < 0) {
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	if (resp.status != (stop ? 200 : 201) || !json_is_object(resp.json)) {
		fprintf(stderr, _("loaxa emergency %s --area: refused: %s\n"), stop ? "stop" : "start",
			cli_resp_error(&resp));
		rc = CLI_EXIT_ERROR;
	} else if (json) {
		char *text = json_dumps(resp.json, JSON_INDENT(2));

		printf("%s\n", text ? text : "{}");
		free(text);
		rc = CLI_EXIT_OK;
	} else {
		printf(_("%s %s %s on %s (the communes' nodes confirm to their own "
			 "controllers)\n"), drill ? _("DRILL") : _("EMERGENCY"),
		       jstr(resp.json, "emergency"), stop ? _("stopped") : _("sent"),
		       jstr(resp.json, "topic"));
		rc = CLI_EXIT_OK;
	}
	cli_resp_free(&resp);
	goto out;
usage:
	fprintf(stderr, _("usage: loaxa emergency start --area[=CODE] --clip NAME [--commune CODE]... "
		"[--village ZONE]... [--drill] [--max DURATION] [--json]\n"
		"       loaxa emergency stop --area ID [--json]\n"));
out:
	json_decref(communes);
	json_decref(villages);
	json_decref(req);
	return rc;
}

static int has_area(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--area") == 0 || strncmp(argv[i], "--area=", 7) == 0)
			return 1;
	return 0;
}

int cmd_emergency(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "start") == 0 || strcmp(argv[1], "stop") == 0) &&
	    has_area(argc - 1, argv + 1))
		return em_area(argc - 1, argv + 1, strcmp(argv[1], "stop") == 0);
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "start") == 0)
		return em_start(argc - 1, argv + 1);
	if (strcmp(argv[1], "stop") == 0)
		return em_stop(argc - 1, argv + 1);
	if (strcmp(argv[1], "clips") == 0)
		return em_clips(argc - 1, argv + 1);
	if (strcmp(argv[1], "clip") == 0)
		return em_clip(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	usage(stderr);
	return CLI_EXIT_USAGE;
}
