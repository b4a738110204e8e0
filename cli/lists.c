/*
 * lists.c - `loaxa nodes`, `loaxa content list`, `loaxa plays`: what the
 * controller knows, as tables for people or --json for scripts.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "i18n.h"
#include "client.h"
#include "table.h"
#include "util.h"

/* Only --json (and --broadcast for plays); returns -1 on bad usage. */
static int parse_opts(int argc, char **argv, int *json, const char **broadcast,
		      const char *usage)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "broadcast", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			*json = 1;
			break;
		case 'b':
			if (!broadcast)
				goto bad;
			*broadcast = optarg;
			break;
		case 'h':
			printf("%s\n", usage);
			return 1;
		default:
			goto bad;
		}
	}
	return 0;
bad:
	fprintf(stderr, "%s\n", usage);
	return -1;
}

/* GET path; on success *out is the answer's list under key. */
static int fetch_list(const char *path, const char *key, struct cli_resp *resp,
		      json_t **out)
{
	if (cli_get(path, resp) < 0)
		return -1;
	if (resp->status != 200) {
		fprintf(stderr, _("loaxa: %s\n"), cli_resp_error(resp));
		cli_resp_free(resp);
		return -1;
	}
	*out = json_object_get(resp->json, key);
	if (!json_is_array(*out)) {
		fprintf(stderr, _("loaxa: the controller's answer has no \"%s\" list\n"), key);
		cli_resp_free(resp);
		return -1;
	}
	return 0;
}

int cmd_nodes(int argc, char **argv)
{
	static const char *const head[] = { N_("NODE"), N_("ZONES"), N_("ONLINE"),
					    N_("LAST SEEN"), N_("PLAYING"), N_("CLOCK ERR"),
					    N_("SIGNAL"), N_("VERSION"), N_("HORN TEST"),
					    N_("ALARMS") };
	struct cli_resp resp;
	struct table t;
	json_t *list, *n, *z, *playing;
	char zones[512], seen[32], play[160], clock[32], alarms[64], version[200];
	int64_t now = now_ms();
	size_t i, j;
	int json = 0, rc;

	rc = parse_opts(argc, argv, &json, NULL, "usage: loaxa nodes [--json]");
	if (rc)
		return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	if (fetch_list("/v1/nodes", "nodes", &resp, &list) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 10, head);
	t.limit[1] = 48;
	t.limit[4] = 50;
	t.limit[6] = 16;
	t.right[5] = 1;
	json_array_foreach(list, i, n) {
		const char *cells[10];
		json_t *ce = json_object_get(n, "clock_error_ms");

		zones[0] = '\0';
		json_array_foreach(json_object_get(n, "zones"), j, z) {
			/* the village's title from controller.cfg first ("Thôn 1
			 * (thon-1)"): the id alone means little to an official */
			const char *id = json_string_value(z), *title;
			char one[300];

			if (!id)
				continue;
			title = json_string_value(json_object_get(json_object_get(n, "zone_titles"),
								   id));
			if (title)
				snprintf(one, sizeof(one), "%s (%s)", title, id);
			else
				snprintf(one, sizeof(one), "%s", id);
			if (strlen(zones) + strlen(one) + 3 > sizeof(zones))
				continue;
			strcat(zones, zones[0] ? ", " : "");
			strcat(zones, one);
		}
		fmt_ago(seen, sizeof(seen), jint(n, "last_seen", 0), now);
		playing = json_object_get(n, "playing");
		if (json_is_object(playing))
			snprintf(play, sizeof(play), "%s (%.12s, %s)",
				 jstr(playing, "broadcast")[0] ? jstr(playing, "broadcast") : "?",
				 jstr(playing, "content"),
				 jstr(playing, "level")[0] ? jstr(playing, "level") : "?");
		else
			snprintf(play, sizeof(play), "-");
		cells[0] = jstr(n, "node");
		cells[1] = zones[0] ? zones : "-";
		cells[2] = jbool(n, "online") ? _("yes") : _("no");
		cells[3] = seen;
		cells[4] = play;
		if (json_is_number(ce))
			snprintf(clock, sizeof(clock), "%.1f ms", json_number_value(ce));
		else
			snprintf(clock, sizeof(clock), "-");
		if (jint(n, "alarms", 0) > 0)
			snprintf(alarms, sizeof(alarms), "%lld: %s", (long long)jint(n, "alarms", 0),
				 jstr(n, "alarm_kinds"));
		else
			snprintf(alarms, sizeof(alarms), "-");
		cells[5] = clock;
		cells[6] = jstr(n, "signal")[0] ? jstr(n, "signal") : "-";
		cells[7] = jstr(n, "version")[0] ? jstr(n, "version") : "-";
		{
			/* a software update under way or gone wrong (node/update.h) */
			json_t *u = json_object_get(json_object_get(n, "status"), "update");
			const char *us = jstr(u, "state"), *uo = jstr(u, "outcome");

			if (json_is_object(u) && strcmp(us, "done") != 0)
				snprintf(version, sizeof(version), _("%s (updating to %s)"), cells[7],
					 jstr(u, "version"));
			else if (json_is_object(u) && (!strcmp(uo, "rolled_back") ||
						       !strcmp(uo, "failed")))
				snprintf(version, sizeof(version), _("%s (update to %s failed)"),
					 cells[7], jstr(u, "version"));
			else
				snprintf(version, sizeof(version), "%s", cells[7]);
			cells[7] = version;
		}
		cells[8] = cli_selftest_word(json_object_get(n, "selftest"));
		cells[9] = alarms;
		table_add(&t, cells);
	}
	table_show(&t, _("no nodes yet: a node appears once it reports its status"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

int cmd_content(int argc, char **argv)
{
	static const char *const head[] = { N_("ID"), N_("TITLE"), N_("DURATION"),
					    N_("LOUDNESS"), N_("BYTES") };
	static const char usage[] = "usage: loaxa content list [--json]";
	struct cli_resp resp;
	struct table t;
	json_t *list, *c;
	char dur[32], loud[32], bytes[32], id[16];
	size_t i;
	int json = 0, rc;

	if (argc < 2 || strcmp(argv[1], "list") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			printf("%s\n", usage);
			return CLI_EXIT_OK;
		}
		fprintf(stderr, "%s\n", usage);
		return CLI_EXIT_USAGE;
	}
	rc = parse_opts(argc - 1, argv + 1, &json, NULL, usage);
	if (rc)
		return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	if (fetch_list("/v1/content", "content", &resp, &list) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 5, head);
	t.limit[1] = 40;
	t.right[2] = t.right[3] = t.right[4] = 1;
	json_array_foreach(list, i, c) {
		const char *cells[5];
		double lufs = jreal(c, "output_lufs", NAN);

		snprintf(id, sizeof(id), "%.12s", jstr(c, "id"));
		fmt_duration_ms(dur, sizeof(dur), jint(c, "duration_ms", -1));
		if (isfinite(lufs))
			snprintf(loud, sizeof(loud), "%.1f LUFS", lufs);
		else
			snprintf(loud, sizeof(loud), "%s", _("silence"));
		fmt_bytes(bytes, sizeof(bytes), jint(c, "bytes", -1));
		cells[0] = id;
		cells[1] = jstr(c, "title");
		cells[2] = dur;
		cells[3] = loud;
		cells[4] = bytes;
		table_add(&t, cells);
	}
	table_show(&t, _("no content yet: add some with loaxa import FILE"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

int cmd_plays(int argc, char **argv)
{
	static const char *const head[] = { N_("TIME"), N_("NODE"), N_("EVENT"),
					    N_("BROADCAST"), N_("CONTENT"), N_("DURATION"),
					    N_("REASON") };
	struct cli_resp resp;
	struct table t;
	json_t *list, *e;
	const char *broadcast = NULL;
	char path[256], when[32], dur[32], content[16], empty[160], *eb = NULL;
	size_t i;
	int json = 0, rc;

	rc = parse_opts(argc, argv, &json, &broadcast,
			"usage: loaxa plays [--broadcast B] [--json]");
	if (rc)
		return rc < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	if (optind != argc) {
		fprintf(stderr, "usage: loaxa plays [--broadcast B] [--json]\n");
		return CLI_EXIT_USAGE;
	}
	if (broadcast) {
		eb = cli_escape(broadcast);
		snprintf(path, sizeof(path), "/v1/plays?broadcast=%s", eb ? eb : "");
		free(eb);
	} else {
		snprintf(path, sizeof(path), "/v1/plays");
	}
	if (fetch_list(path, "plays", &resp, &list) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 7, head);
	t.right[5] = 1;
	t.limit[6] = 50;
	json_array_foreach(list, i, e) {
		const char *cells[7], *type = jstr(e, "type");
		int64_t ts = jint(e, "received", -1);

		fmt_local_time(when, sizeof(when), ts);
		fmt_duration_ms(dur, sizeof(dur), jint(e, "duration_ms", -1));
		snprintf(content, sizeof(content), "%.12s", jstr(e, "content"));
		cells[0] = when;
		cells[1] = jstr(e, "node");
		cells[2] = strncmp(type, "play_", 5) == 0 ? type + 5 : type;
		cells[3] = jstr(e, "broadcast")[0] ? jstr(e, "broadcast") : "-";
		cells[4] = content[0] ? content : "-";
		cells[5] = dur;
		cells[6] = jstr(e, "reason");
		table_add(&t, cells);
	}
	if (broadcast)
		snprintf(empty, sizeof(empty), _("no plays of %s yet"), broadcast);
	else
		snprintf(empty, sizeof(empty), "%s", _("no plays yet"));
	table_show(&t, empty);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}
