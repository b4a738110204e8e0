/*
 * live.c - `loaxa live`: speak (or stream a file) to nodes now.
 *
 *   loaxa live (--zone Z | --node N | --all) [--device D | --file F | --url U]
 *              [--latency MS] [--relay] [--json]
 *   loaxa live status [--json]
 *   loaxa live stop [ID]
 *
 * The controller captures from its capture device D (a name from
 * controller.cfg's capture group; default: the first one there), or
 * streams F (imported first), as 20 ms Opus frames to the nodes, which play
 * them in step MS after capture (default 1000). The command runs until
 * Ctrl-C (or the end of the file), then stops the session and prints its
 * figures. --relay sends at level relay (yields to everything) instead of
 * live (preempts scheduled plays).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "client.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loaxa live (--zone Z | --node N | --all) [--device D | --file F | --url U]\n"
		"                  [--latency MS] [--relay] [--until EPOCH_MS] [--outside-hours]\n"
		"                  [--json]\n"
		"       loaxa live status [--json]\n"
		"       loaxa live stop [ID]\n"
		"\n"
		"Speak into the controller's capture device D (a name from the capture\n"
		"group of controller.cfg; default: the first one there) or\n"
		"stream file F (or the http(s) stream U) to the nodes now; they play in\n"
		"step MS after capture (default 1000, 60 to 10000). Ctrl-C (or the end of\n"
		"F) stops. --relay: level relay (yields to everything), e.g. a VOV program.\n"
		"Outside a zone's allowed hours (controller.cfg) the controller refuses it\n"
		"and says why; --outside-hours confirms it must sound now (audit log).\n");
}

static void print_session(json_t *s, const char *what)
{
	fprintf(stderr, "%s %s (%s) to %s from %s: %lld frames in %lld messages, wire/payload "
		"%.2f\n", what, jstr(s, "live"), jstr(s, "level"), jstr(s, "target"),
		jstr(s, "source"), (long long)jint(s, "frames", 0),
		(long long)jint(s, "messages", 0), jreal(s, "wire_ratio", 0));
}

/* The session with that id, or NULL (new reference). */
static json_t *find_session(const char *id)
{
	struct cli_resp resp;
	json_t *s, *found = NULL;
	size_t i;

	if (cli_get("/v1/live", &resp) < 0)
		return NULL;
	json_array_foreach(json_object_get(resp.json, "sessions"), i, s)
		if (strcmp(jstr(s, "live"), id) == 0)
			found = json_incref(s);
	cli_resp_free(&resp);
	return found;
}

static int stop_session(const char *id, json_t **stopped, json_t **skipped)
{
	struct cli_resp resp;
	json_t *req = json_object();
	int rc;

	if (id)
		json_object_set_new(req, "live", json_string(id));
	rc = cli_post_json("/v1/live/stop", req, &resp);
	json_decref(req);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200)
		return cli_fail(&resp, "live stop");
	if (stopped)
		*stopped = json_incref(json_object_get(resp.json, "stopped"));
	if (skipped) /* sessions outside the operator's zones, left running */
		*skipped = json_incref(json_object_get(resp.json, "not_stopped"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

int cmd_live(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' },
		{ "node", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "device", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "url", required_argument, NULL, 'U' },
		{ "latency", required_argument, NULL, 'l' },
		{ "relay", no_argument, NULL, 'r' },
		{ "until", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "outside-hours", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *zone = NULL, *node = NULL, *device = NULL, *file = NULL, *url = NULL;
	long latency = 0, until = 0;
	int ch, all = 0, relay = 0, json = 0, rc, outside = 0;
	struct cli_resp resp;
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	json_t *req, *last = NULL, *s, *stopped = NULL;
	char id[32];

	if (argc >= 2 && strcmp(argv[1], "stop") == 0) {
		json_t *skipped = NULL;

		rc = stop_session(argc >= 3 ? argv[2] : NULL, &stopped, &skipped);
		if (rc == CLI_EXIT_OK) {
			size_t i;

			json_array_foreach(stopped, i, s)
				print_session(s, "stopped");
			json_array_foreach(skipped, i, s)
				fprintf(stderr, "not stopped: %s to %s: %s\n", jstr(s, "live"),
					jstr(s, "target"), jstr(s, "reason"));
			if (json_array_size(stopped) == 0 && json_array_size(skipped) == 0)
				fprintf(stderr, "no live session was running\n");
		}
		json_decref(stopped);
		json_decref(skipped);
		return rc;
	}
	if (argc >= 2 && strcmp(argv[1], "status") == 0) {
		size_t i;

		if (cli_get("/v1/live", &resp) < 0)
			return CLI_EXIT_ERROR;
		if (argc >= 3 && strcmp(argv[2], "--json") == 0)
			cli_print_json(resp.json);
		else
			json_array_foreach(json_object_get(resp.json, "sessions"), i, s)
				print_session(s, "running:");
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	optind = 0;
	while ((ch = getopt_long(argc, argv, "z:n:ad:f:l:ru:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'z': zone = optarg; break;
		case 'n': node = optarg; break;
		case 'a': all = 1; break;
		case 'd': device = optarg; break;
		case 'f': file = optarg; break;
		case 'U': url = optarg; break;
		case 'l':
			errno = 0;
			latency = strtol(optarg, NULL, 10);
			if (errno || latency < 60 || latency > 10000) {
				fprintf(stderr, "loaxa live: --latency %s: give 60 to 10000 ms\n",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'r': relay = 1; break;
		case 'u': until = strtol(optarg, NULL, 10); break;
		case 'j': json = 1; break;
		case 'O': outside = 1; break;
		case 'h': usage(stdout); return CLI_EXIT_OK;
		default: usage(stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || !!zone + !!node + all != 1 || !!device + !!file + !!url > 1) {
		fprintf(stderr, "loaxa live: name one of --zone, --node, --all, and at most one "
			"of --device, --file, --url\n");
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	req = json_object();
	if (file) {
		json_t *content = NULL;
		struct stat st;

		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "loaxa live: %s: not a file\n", file);
			json_decref(req);
			return CLI_EXIT_ERROR;
		}
		/* an unknown target is said before the import, not after */
		if (cli_check_target("loaxa live", zone, node) < 0) {
			json_decref(req);
			return CLI_EXIT_ERROR;
		}
		if (cli_import_file(file, NULL, relay, &content) < 0) {
			/* a relayed program is imported with the music settings */
			json_decref(req);
			return CLI_EXIT_ERROR;
		}
		json_object_set_new(req, "content", json_string(jstr(content, "id")));
		json_decref(content);
	} else if (url) {
		json_object_set_new(req, "url", json_string(url));
	} else if (device) {
		/* no device: the controller takes its default capture device */
		json_object_set_new(req, "device", json_string(device));
	}
	cli_set_target(req, zone, node);
	if (latency)
		json_object_set_new(req, "latency_ms", json_integer(latency));
	if (relay)
		json_object_set_new(req, "level", json_string("relay"));
	if (until)
		json_object_set_new(req, "until", json_integer(until));
	if (outside)
		json_object_set_new(req, "outside_hours", json_true());
	rc = cli_post_json("/v1/live", req, &resp);
	json_decref(req);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 201 || !json_is_object(resp.json)) {
		fprintf(stderr, "loaxa live: refused: %s\n", cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	snprintf(id, sizeof(id), "%s", jstr(resp.json, "live"));
	if (!json)
		fprintf(stderr, "live session %s to %s, latency %lld ms: %s\n", id,
			jstr(resp.json, "target"), (long long)jint(resp.json, "latency_ms", 0),
			file ? "streaming the file" : "speak now; Ctrl-C to stop");
	if (!json)
		cli_amp_note(json_object_get(resp.json, "targets"), zone, node,
			     "the session (nothing said is lost: it plays that much behind)");
	last = json_incref(resp.json);
	cli_resp_free(&resp);

	cli_catch_interrupts();
	while (!cli_interrupted) {
		nanosleep(&tick, NULL);
		s = find_session(id);
		if (!s)
			break; /* ended by itself (end of the file) */
		json_decref(last);
		last = s;
	}
	if (cli_interrupted && stop_session(id, &stopped, NULL) == CLI_EXIT_OK &&
	    json_array_size(stopped) == 1) {
		json_decref(last);
		last = json_incref(json_array_get(stopped, 0));
	}
	json_decref(stopped);
	if (json)
		cli_print_json(last);
	else
		print_session(last, "ended:");
	json_decref(last);
	return CLI_EXIT_OK;
}
