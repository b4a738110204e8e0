/*
 * selftest.c - `loaxa selftest N|--zone Z`: run the horn self-test now.
 *
 * Each node gets the signed "selftest" maintenance command (POST
 * /v1/nodes/<node>/selftest, controller/commands.c); the node confirms it,
 * waits for a quiet moment, plays its tone and listens (node/selftest.h).
 * We wait for every node's result (command state "tested") and print it;
 * the exit status is 0 only when every horn was heard.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "i18n.h"
#include "util.h"

#define SELFTEST_MAX_NODES 256

const char *cli_selftest_word(json_t *st)
{
	const char *r = jstr(st, "result");

	if (!strcmp(r, "ok"))
		return _("horn heard");
	if (!strcmp(r, "silent"))
		return _("horn silent");
	if (!strcmp(r, "error"))
		return _("not tested");
	return "-";
}

/* Ask one node; 0 with its command id, or -1 (said why). */
static int ask(const char *node, char *id, size_t idlen)
{
	struct cli_resp resp;
	char path[256];
	json_t *body = json_object();
	int rc;

	snprintf(path, sizeof(path), "/v1/nodes/%.63s/selftest", node);
	rc = cli_post_json(path, body, &resp);
	json_decref(body);
	if (rc < 0)
		return -1;
	if (resp.status != 202) {
		fprintf(stderr, _("loaxa: %s: %s\n"), node, cli_resp_error(&resp));
		cli_resp_free(&resp);
		return -1;
	}
	snprintf(id, idlen, "%s", jstr(resp.json, "command"));
	cli_resp_free(&resp);
	return 0;
}

/* The nodes of zone (from GET /v1/nodes). Returns how many, -1 on error. */
static int zone_nodes(const char *zone, char nodes[][64], int max)
{
	struct cli_resp resp;
	json_t *n, *z;
	size_t i, j;
	int k = 0;

	if (cli_get_ok("/v1/nodes", &resp) < 0)
		return -1;
	json_array_foreach(json_object_get(resp.json, "nodes"), i, n) {
		json_array_foreach(json_object_get(n, "zones"), j, z) {
			if (json_is_string(z) && !strcmp(json_string_value(z), zone) && k < max) {
				snprintf(nodes[k++], 64, "%s", jstr(n, "node"));
				break;
			}
		}
	}
	cli_resp_free(&resp);
	return k;
}

int cmd_selftest(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: loaxa selftest NODE|--zone ZONE [--timeout SECONDS] (default 120) [--json]";
	static char nodes[SELFTEST_MAX_NODES][64], ids[SELFTEST_MAX_NODES][80];
	static int done[SELFTEST_MAX_NODES];
	const char *zone = NULL;
	int json = 0, timeout_s = 120, ch, count = 0, left, i, rc = CLI_EXIT_OK;
	int64_t deadline;
	json_t *all = json_array();

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'z': zone = optarg; break;
		case 'j': json = 1; break;
		case 't':
			timeout_s = atoi(optarg);
			if (timeout_s < 1 || timeout_s > 3600) {
				fprintf(stderr, _("loaxa selftest: --timeout must be 1-3600 seconds\n"));
				json_decref(all);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h': printf("%s\n", usage); json_decref(all); return CLI_EXIT_OK;
		default: fprintf(stderr, "%s\n", usage); json_decref(all); return CLI_EXIT_USAGE;
		}
	}
	if ((zone && argc - optind != 0) || (!zone && argc - optind != 1)) {
		fprintf(stderr, "%s\n", usage);
		json_decref(all);
		return CLI_EXIT_USAGE;
	}
	if (zone) {
		count = zone_nodes(zone, nodes, SELFTEST_MAX_NODES);
		if (count < 0) {
			json_decref(all);
			return CLI_EXIT_ERROR;
		}
		if (count == 0) {
			fprintf(stderr, _("loaxa: no node is in zone %s\n"), zone);
			json_decref(all);
			return CLI_EXIT_ERROR;
		}
	} else {
		snprintf(nodes[0], sizeof(nodes[0]), "%s", argv[optind]);
		count = 1;
	}
	left = 0;
	for (i = 0; i < count; i++) {
		done[i] = ask(nodes[i], ids[i], sizeof(ids[i])) < 0;
		if (done[i])
			rc = CLI_EXIT_ERROR;
		else
			left++;
	}
	if (!json && left)
		fprintf(stderr, _("horn self-test asked of %d node(s); each waits for a quiet "
				  "moment, plays a short tone and listens ...\n"), left);
	deadline = mono_ms() + (int64_t)timeout_s * 1000;
	while (left > 0) {
		for (i = 0; i < count; i++) {
			struct cli_resp resp;
			char path[128];
			const char *state, *reason;

			if (done[i])
				continue;
			snprintf(path, sizeof(path), "/v1/commands/%.79s", ids[i]);
			if (cli_get_ok(path, &resp) < 0) {
				json_decref(all);
				return CLI_EXIT_ERROR;
			}
			state = jstr(resp.json, "state");
			reason = jstr(resp.json, "reason");
			if (!strcmp(state, "tested") || !strcmp(state, "refused") ||
			    !strcmp(state, "failed") || mono_ms() >= deadline) {
				done[i] = 1;
				left--;
				if (strcmp(state, "tested") || strncmp(reason, "ok:", 3))
					rc = CLI_EXIT_ERROR;
				if (json) {
					json_array_append(all, resp.json);
				} else if (!strcmp(state, "tested") && !strncmp(reason, "ok:", 3)) {
					printf(_("%s: horn heard (%s)\n"), nodes[i], reason + 4);
				} else if (!strcmp(state, "tested") && !strncmp(reason, "silent:", 7)) {
					printf(_("%s: HORN SILENT: the tone was not heard (%s); check the "
						 "amplifier, its power, the cable and the horn\n"), nodes[i],
					       reason + 8);
				} else if (!strcmp(state, "tested")) {
					printf(_("%s: not tested: %s\n"), nodes[i], reason);
				} else if (!strcmp(state, "sent") || !strcmp(state, "ok")) {
					printf(_("%s: no result within %d s (state %s); the node tests "
						 "when it can\n"), nodes[i], timeout_s, state);
				} else {
					printf(_("%s: %s: %s\n"), nodes[i], state, reason);
				}
			}
			cli_resp_free(&resp);
		}
		if (left > 0)
			usleep(300 * 1000);
	}
	if (json)
		cli_print_json(all);
	json_decref(all);
	return rc;
}
