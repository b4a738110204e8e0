/*
 * cap.c - loaxa cap import FILE.xml | cap list | cap show ID: CAP 1.2
 * alerts into the controller (POST /v1/cap; docs/cap.md).
 *
 * The file's bytes go to the controller as they are: it parses and
 * validates them (the CLI links no XML parser), so an alert from the CLI
 * is checked exactly like one from the province's system.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "i18n.h"
#include "table.h"

/* How long `cap import` waits for the audio (speech or the alert's file). */
#define CAP_WAIT_S 180

static void show_one(json_t *a)
{
	json_t *v;
	size_t k;

	printf(_("CAP alert %lld: %s from %s\n"), (long long)jint(a, "cap", 0),
	       jstr(a, "identifier"), jstr(a, "sender"));
	if (jstr(a, "headline")[0])
		printf("  %s\n", jstr(a, "headline"));
	if (jstr(a, "level")[0])
		printf(_("  level %s%s, %s, %s\n"), jstr(a, "level"),
		       jbool(a, "drill") ? _(" (DRILL)") : "", jstr(a, "target"),
		       jbool(a, "direct") ? _("straight on air") : _("waits for approval"));
	printf(_("  state %s\n"), jstr(a, "state"));
	if (jstr(a, "why")[0])
		printf(_("  why: %s\n"), jstr(a, "why"));
	json_array_foreach(json_object_get(a, "result"), k, v)
		printf(_("  became %s\n"), json_string_value(v) ? json_string_value(v) : "?");
	json_array_foreach(json_object_get(a, "errors"), k, v)
		printf(_("  refused: %s\n"), json_string_value(v) ? json_string_value(v) : "?");
	json_array_foreach(json_object_get(a, "stopped"), k, v)
		printf(_("  stopped %s\n"), json_string_value(v) ? json_string_value(v) : "?");
}

/* A refusal: where first (line, element), in the operator's language. */
static int refused(struct cli_resp *resp)
{
	json_t *j = resp->json;
	const char *elem = jstr(j, "element");
	long long line = jint(j, "line", 0);

	if (line > 0 && elem[0])
		fprintf(stderr, _("loaxa: the CAP alert was refused at line %lld, element %s\n"),
			line, elem);
	else if (elem[0])
		fprintf(stderr, _("loaxa: the CAP alert was refused at element %s\n"), elem);
	else if (line > 0)
		fprintf(stderr, _("loaxa: the CAP alert was refused at line %lld\n"), line);
	return cli_fail(resp, NULL);
}

static int cap_import(int argc, char **argv)
{
	struct cli_resp resp;
	const char *file = NULL;
	int json = 0, wait = 1, i, rc = CLI_EXIT_OK;
	long long id;
	time_t end;
	char path[64];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--no-wait"))
			wait = 0;
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else {
			fprintf(stderr, "usage: loaxa cap import FILE.xml [--no-wait] [--json]\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (!file) {
		fprintf(stderr, "usage: loaxa cap import FILE.xml [--no-wait] [--json]\n");
		return CLI_EXIT_USAGE;
	}
	if (cli_post_file("/v1/cap", file, &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200 && resp.status != 202)
		return refused(&resp);
	id = jint(resp.json, "cap", 0);
	/* a Cancel is done at once; an alert waits for its audio */
	if (!wait || strcmp(jstr(resp.json, "state"), "importing") != 0) {
		if (json)
			cli_print_json(resp.json);
		else
			show_one(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	cli_resp_free(&resp);
	snprintf(path, sizeof(path), "/v1/cap/%lld", id);
	end = time(NULL) + CAP_WAIT_S;
	for (;;) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };

		if (cli_get_ok(path, &resp) < 0)
			return CLI_EXIT_ERROR;
		if (strcmp(jstr(resp.json, "state"), "importing") != 0 || time(NULL) > end)
			break;
		cli_resp_free(&resp);
		nanosleep(&ts, NULL); /* a client polling the API, not a daemon */
	}
	if (!strcmp(jstr(resp.json, "state"), "importing")) {
		fprintf(stderr, _("loaxa: CAP alert %lld: its audio is not ready after %d s (see "
				  "loaxa cap show %lld)\n"), id, CAP_WAIT_S, id);
		rc = CLI_EXIT_TIMEOUT;
	} else if (!strcmp(jstr(resp.json, "state"), "failed"))
		rc = CLI_EXIT_ERROR;
	if (json)
		cli_print_json(resp.json);
	else
		show_one(resp.json);
	cli_resp_free(&resp);
	return rc;
}

static int cap_list(int argc, char **argv)
{
	static const char *const head[] = { N_("ID"), N_("RECEIVED"), N_("SENDER"), N_("LEVEL"),
					    N_("TARGET"), N_("STATE"), N_("HEADLINE") };
	struct cli_resp resp;
	struct table t;
	json_t *v;
	size_t k;
	int json = argc > 1 && !strcmp(argv[1], "--json");

	if (cli_get_ok("/v1/cap", &resp) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 7, head);
	t.limit[6] = 50;
	json_array_foreach(json_object_get(resp.json, "alerts"), k, v) {
		char id[24], received[32], level[40];
		const char *cells[7];

		snprintf(id, sizeof(id), "%lld", (long long)jint(v, "cap", 0));
		fmt_local_time(received, sizeof(received), jint(v, "received", 0));
		snprintf(level, sizeof(level), "%s%s", jstr(v, "level")[0] ? jstr(v, "level") :
			 jstr(v, "msg_type"), jbool(v, "drill") ? " (drill)" : "");
		cells[0] = id;
		cells[1] = received;
		cells[2] = jstr(v, "sender");
		cells[3] = level;
		cells[4] = jstr(v, "target")[0] ? jstr(v, "target") : "-";
		cells[5] = jstr(v, "state");
		cells[6] = jstr(v, "headline");
		table_add(&t, cells);
	}
	table_show(&t, _("no CAP alert received"));
	table_free(&t);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

int cmd_cap(int argc, char **argv)
{
	struct cli_resp resp;
	char path[64];

	if (argc >= 2 && !strcmp(argv[1], "import"))
		return cap_import(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "list"))
		return cap_list(argc - 1, argv + 1);
	if (argc == 3 && !strcmp(argv[1], "show") && strspn(argv[2], "0123456789") ==
	    strlen(argv[2]) && argv[2][0]) {
		snprintf(path, sizeof(path), "/v1/cap/%.20s", argv[2]);
		if (cli_get_ok(path, &resp) < 0)
			return CLI_EXIT_ERROR;
		show_one(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "usage: loaxa cap import FILE.xml [--no-wait] [--json]\n"
			"       loaxa cap list [--json]\n"
			"       loaxa cap show ID\n");
	return CLI_EXIT_USAGE;
}
