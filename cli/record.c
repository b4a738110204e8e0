/*
 * record.c - `loaxa record`: record an announcement from the controller's
 * microphone (controller/record.h).
 *
 *   loaxa record [--device NAME] --max DURATION [--title T] [--json]
 *   loaxa record stop
 *
 * The controller captures; this command starts it, shows the level and the
 * elapsed time on the terminal while it runs, stops it on Ctrl-C (or lets
 * the controller stop at the maximum), then waits for the import and prints
 * the new content. Killing this command does not lose the recording: the
 * controller keeps recording up to the maximum, and `loaxa record stop`
 * from another terminal stops it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loaxa record [--device NAME] --max DURATION [--title T] [--json]\n"
		"       loaxa record stop\n"
		"\n"
		"Record from the controller's capture device NAME (a name from the capture\n"
		"group of controller.cfg; default: the first one there) until Ctrl-C or\n"
		"DURATION (e.g. 90s, 10m, 1h; at most 3h), then import the recording as\n"
		"content (loudness and Opus, like `loaxa import`). The level meter shows\n"
		"the loudest sample of the last 0.1 s: keep it between about -20 and -3 dBFS.\n");
}

/* A 20-character bar for -60..0 dBFS. */
static void bar(char out[21], double dbfs)
{
	int n = (int)((dbfs + 60.0) / 3.0), i;

	if (n < 0)
		n = 0;
	if (n > 20)
		n = 20;
	for (i = 0; i < 20; i++)
		out[i] = i < n ? '#' : '-';
	out[20] = '\0';
}

static void show(json_t *r, int tty)
{
	char b[21];
	long long el = (long long)jint(r, "elapsed_ms", 0) / 1000,
		  mx = (long long)jint(r, "max_s", 0);
	double pk = jreal(r, "peak_dbfs", -120);

	if (!tty)
		return;
	bar(b, pk);
	fprintf(stderr, "\r\033[K● REC %02lld:%02lld / %02lld:%02lld  [%s] %6.1f dBFS%s", el / 60,
		el % 60, mx / 60, mx % 60, b, pk < -99 ? -99.9 : pk,
		pk > -1.0 ? "  TOO LOUD" : pk < -45.0 ? "  (silence?)" : "");
}

static int get_state(const char *id, json_t **out)
{
	struct cli_resp resp;

	*out = NULL;
	if (cli_get("/v1/record", &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200)
		return cli_fail(&resp, "record");
	if (strcmp(jstr(resp.json, "record"), id) != 0) {
		fprintf(stderr, "loaxa record: the recording %s was replaced by %s (someone "
			"started another one)\n", id, jstr(resp.json, "record"));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	*out = json_incref(resp.json);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

static int stop(const char *id)
{
	struct cli_resp resp;
	json_t *req = json_object();
	int rc;

	if (id)
		json_object_set_new(req, "record", json_string(id));
	rc = cli_post_json("/v1/record/stop", req, &resp);
	json_decref(req);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200)
		return cli_fail(&resp, "record stop");
	if (!id)
		fprintf(stderr, "recording %s: %s\n", jstr(resp.json, "record"),
			jstr(resp.json, "state"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "max", required_argument, NULL, 'm' },
		{ "title", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *device = NULL, *title = NULL;
	long max_s = 0;
	int ch, json = 0, rc, tty = isatty(2), stopping = 0;
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	struct cli_resp resp;
	json_t *req, *st = NULL;
	char id[32];

	if (argc >= 2 && strcmp(argv[1], "stop") == 0)
		return argc == 2 ? stop(NULL) : (usage(stderr), CLI_EXIT_USAGE);
	while ((ch = getopt_long(argc, argv, "d:m:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': device = optarg; break;
		case 't': title = optarg; break;
		case 'j': json = 1; break;
		case 'm':
			max_s = cli_parse_duration(optarg);
			if (max_s < 0 || max_s > 3 * 3600) {
				fprintf(stderr, "loaxa record: --max %s: give the longest recording as "
					"a duration up to 3h, e.g. 90s, 10m or 1h\n", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default: usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || max_s == 0) {
		if (max_s == 0)
			fprintf(stderr, "loaxa record: say the longest the recording may last "
				"with --max, e.g. --max 10m\n");
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	req = json_pack("{s:I}", "max_s", (json_int_t)max_s);
	if (device)
		json_object_set_new(req, "device", json_string(device));
	if (title)
		json_object_set_new(req, "title", json_string(title));
	rc = cli_post_json("/v1/record", req, &resp);
	json_decref(req);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 201)
		return cli_fail(&resp, "record");
	snprintf(id, sizeof(id), "%s", jstr(resp.json, "record"));
	fprintf(stderr, "recording %s from %s: speak now; Ctrl-C stops (at most %ld s)\n", id,
		jstr(resp.json, "device"), max_s);
	cli_resp_free(&resp);

	cli_catch_interrupts();
	for (;;) {
		if (cli_interrupted && !stopping) {
			stopping = 1;
			if (stop(id) != CLI_EXIT_OK)
				return CLI_EXIT_ERROR;
		}
		json_decref(st);
		rc = get_state(id, &st);
		if (rc != CLI_EXIT_OK)
			return rc;
		if (strcmp(jstr(st, "state"), "recording") != 0)
			break;
		show(st, tty);
		nanosleep(&tick, NULL); /* a poll of the status, not a synchronisation */
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "recorded %.1f s (%s); importing...\n",
		(double)jint(st, "elapsed_ms", 0) / 1000.0, jstr(st, "stopped"));
	while (strcmp(jstr(st, "state"), "importing") == 0) {
		nanosleep(&tick, NULL);
		json_decref(st);
		rc = get_state(id, &st);
		if (rc != CLI_EXIT_OK)
			return rc;
	}
	if (strcmp(jstr(st, "state"), "done") != 0) {
		fprintf(stderr, "loaxa record: %s\n", jstr(st, "error"));
		json_decref(st);
		return CLI_EXIT_ERROR;
	}
	if (json)
		cli_print_json(json_object_get(st, "content"));
	else
		cli_print_imported(id, json_object_get(st, "content"));
	json_decref(st);
	return CLI_EXIT_OK;
}
