/*
 * approval.c - `loaxa drafts`, `approve`, `reject`, `withdraw` (drafts that
 * wait for an approver) and `loaxa reviews`, `review` (emergencies to look
 * at afterwards). docs/approval.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "i18n.h"
#include "client.h"
#include "table.h"

/*
 * A draft's state and kind as the operator reads them: the controller's
 * words (data, English in --json) through the catalog; a word not listed
 * here is shown as it came.
 */
static const char *draft_word(const char *w)
{
	static const char *const words[] = {
		N_("pending"), N_("approved"), N_("rejected"), N_("withdrawn"),
		N_("broadcast"), N_("announce"), N_("apply"),
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcmp(w, words[i]) == 0)
			return gettext(words[i]);
	return w;
}

/* What a draft reply says, for people (shared by announce, play, apply). */
void cli_print_draft(json_t *d, int edited)
{
	const char *at = jstr(d, "at_local");

	printf(edited ? _("changed draft %lld: %s \"%s\" to %s%s%s, level %s\n")
		      : _("saved as draft %lld: %s \"%s\" to %s%s%s, level %s\n"),
	       (long long)jint(d, "draft", 0), jstr(d, "kind"), jstr(d, "title"),
	       jstr(d, "target"), at[0] ? _(" at ") : "", at, jstr(d, "level"));
	printf(_("nothing plays until an approver approves it (loaxa approve %lld); "
	       "change it with --edit %lld, withdraw it with loaxa withdraw %lld\n"),
	       (long long)jint(d, "draft", 0), (long long)jint(d, "draft", 0),
	       (long long)jint(d, "draft", 0));
}

int cli_draft_id_valid(const char *s)
{
	size_t i;

	if (!s[0] || strlen(s) > 15 || s[0] == '0')
		return 0;
	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int cmd_drafts(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const head[] = { N_("ID"), N_("STATE"), N_("KIND"), N_("AUTHOR"), N_("SUBMITTED"), N_("AT"),
					    N_("TARGET"), N_("LEVEL"), N_("TITLE"), N_("DECIDED") };
	const char *usage = "usage: loaxa drafts [--all | --state pending|approved|rejected|"
			    "withdrawn] [--json]";
	const char *state = "pending";
	struct cli_resp resp;
	struct table t;
	char path[96], id[24], created[32], decided[400];
	json_t *v;
	size_t i;
	int ch, json = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': state = "all"; break;
		case 's': state = optarg; break;
		case 'j': json = 1; break;
		case 'h':
			printf("%s\n", usage);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "%s\n", usage);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || strlen(state) > 20) {
		fprintf(stderr, "%s\n", usage);
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/drafts?state=%s", state);
	if (cli_get_ok(path, &resp) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 10, head);
	t.limit[6] = 30;
	t.limit[8] = 40;
	t.limit[9] = 50;
	json_array_foreach(json_object_get(resp.json, "drafts"), i, v) {
		const char *cells[10];

		snprintf(id, sizeof(id), "%lld", (long long)jint(v, "draft", 0));
		fmt_local_time(created, sizeof(created), jint(v, "created", 0));
		decided[0] = '\0';
		if (jstr(v, "decided_by")[0])
			snprintf(decided, sizeof(decided), "%s%s%s%s%s", jstr(v, "decided_by"),
				 jstr(v, "reason")[0] ? ": " : "", jstr(v, "reason"),
				 jstr(v, "result")[0] ? " -> " : "", jstr(v, "result"));
		cells[0] = id;
		cells[1] = draft_word(jstr(v, "state"));
		cells[2] = draft_word(jstr(v, "kind"));
		cells[3] = jstr(v, "author");
		cells[4] = created;
		cells[5] = jstr(v, "at_local")[0] ? jstr(v, "at_local") : "-";
		cells[6] = jstr(v, "target");
		cells[7] = jstr(v, "level");
		cells[8] = jstr(v, "title");
		cells[9] = decided[0] ? decided : "-";
		table_add(&t, cells);
	}
	table_show(&t, strcmp(state, "pending") == 0 ? _("no draft waits for approval")
						     : _("no drafts"));
	table_free(&t);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

/* approve, reject --reason, withdraw */
static int decide(const char *what, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int reject = strcmp(what, "reject") == 0;
	const char *reason = NULL;
	struct cli_resp resp;
	char path[96];
	json_t *body, *d, *b;
	int ch, json = 0, rc = CLI_EXIT_ERROR;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (!reject)
				goto usage;
			reason = optarg;
			break;
		case 'j': json = 1; break;
		case 'h':
			printf("usage: loaxa %s ID%s [--json]\n", what, reject ? " --reason \"...\"" : "");
			return CLI_EXIT_OK;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || !cli_draft_id_valid(argv[optind]))
		goto usage;
	if (reject && (!reason || !reason[0])) {
		fprintf(stderr, _("loaxa reject: say why with --reason \"...\": the author reads it "
			"and knows what to change\n"));
		return CLI_EXIT_USAGE;
	}
	body = reason ? json_pack("{s:s}", "reason", reason) : json_object();
	snprintf(path, sizeof(path), "/v1/drafts/%s/%s", argv[optind], what);
	if (cli_post_json(path, body, &resp) < 0) {
		json_decref(body);
		return CLI_EXIT_ERROR;
	}
	json_decref(body);
	if (resp.status != 200 || !json_is_object(resp.json)) {
		json_t *v;
		size_t i;

		/* approval of a draft the world no longer accepts: the reasons */
		json_array_foreach(json_object_get(resp.json, "errors"), i, v)
			fprintf(stderr, "%s\n", json_string_value(v));
		if (json_array_size(json_object_get(resp.json, "errors")))
			fprintf(stderr, _("loaxa %s %s: not approved, the draft waits as it was\n"),
				what, argv[optind]);
		else
			fprintf(stderr, _("loaxa %s %s: %s\n"), what, argv[optind],
				cli_resp_error(&resp));
		goto out;
	}
	if (json) {
		cli_print_json(resp.json);
		rc = CLI_EXIT_OK;
		goto out;
	}
	d = json_object_get(resp.json, "draft");
	b = json_object_get(resp.json, "broadcast");
	printf(_("draft %s %s"), argv[optind], jstr(d, "state"));
	if (jstr(d, "result")[0])
		printf(": %s %s", b ? "broadcast" : strcmp(jstr(d, "kind"), "apply") == 0 ?
		       "applied as" : "announcement", strcmp(jstr(d, "kind"), "apply") == 0 ?
		       "the schedule" : jstr(d, "result"));
	if (json_object_get(resp.json, "occurrences"))
		printf(_(", %lld play%s in the next %lld days"),
		       (long long)jint(resp.json, "occurrences", 0),
		       jint(resp.json, "occurrences", 0) == 1 ? "" : "s",
		       (long long)jint(resp.json, "horizon_days", 7));
	if (b)
		printf(_(" to %zu node%s"), json_array_size(json_object_get(b, "targets")),
		       json_array_size(json_object_get(b, "targets")) == 1 ? "" : "s");
	printf("\n");
	rc = CLI_EXIT_OK;
out:
	cli_resp_free(&resp);
	return rc;
usage:
	fprintf(stderr, "usage: loaxa %s ID%s [--json]   (ID: a number from loaxa drafts)\n",
		what, reject ? " --reason \"...\"" : "");
	return CLI_EXIT_USAGE;
}

int cmd_approve(int argc, char **argv)
{
	return decide("approve", argc, argv);
}

int cmd_reject(int argc, char **argv)
{
	return decide("reject", argc, argv);
}

int cmd_withdraw(int argc, char **argv)
{
	return decide("withdraw", argc, argv);
}

int cmd_reviews(int argc, char **argv)
{
	static const char *const head[] = { N_("EMERGENCY"), N_("KIND"), N_("STARTED"), N_("BY"), N_("TARGET"),
					    N_("CONTENT"), N_("REVIEWED") };
	int all = 0, json = 0, i;
	struct cli_resp resp;
	struct table t;
	char started[32], target[80], reviewed[600];
	json_t *v;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--all") == 0)
			all = 1;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else {
			fprintf(stderr, "usage: loaxa reviews [--all] [--json]\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (cli_get_ok(all ? "/v1/reviews?all=1" : "/v1/reviews", &resp) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	table_init(&t, 7, head);
	t.limit[5] = 30;
	t.limit[6] = 50;
	json_array_foreach(json_object_get(resp.json, "emergencies"), k, v) {
		const char *cells[7];

		fmt_local_time(started, sizeof(started), jint(v, "started", 0));
		snprintf(target, sizeof(target), "%s%s%s", strcmp(jstr(v, "target_kind"), "all")
			 ? jstr(v, "target_kind") : "", strcmp(jstr(v, "target_kind"), "all")
			 ? " " : "", jstr(v, "target"));
		reviewed[0] = '\0';
		if (jstr(v, "reviewed_by")[0])
			snprintf(reviewed, sizeof(reviewed), "%s%s%s", jstr(v, "reviewed_by"),
				 jstr(v, "note")[0] ? ": " : "", jstr(v, "note"));
		cells[0] = jstr(v, "emergency");
		cells[1] = jbool(v, "drill") ? "drill" : "emergency";
		cells[2] = started;
		cells[3] = jstr(v, "started_by");
		cells[4] = target;
		cells[5] = jstr(v, "title");
		cells[6] = reviewed[0] ? reviewed : "-";
		table_add(&t, cells);
	}
	table_show(&t, all ? _("no emergencies recorded") : _("no emergency awaits review"));
	table_free(&t);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

int cmd_review(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "note", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *note = NULL;
	struct cli_resp resp;
	char path[128];
	json_t *body;
	int ch, rc = CLI_EXIT_ERROR;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'n') {
			note = optarg;
		} else {
			fprintf(ch == 'h' ? stdout : stderr, "usage: loaxa review EMERGENCY_ID "
				"[--note \"...\"]   (an id from loaxa reviews)\n");
			return ch == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || strlen(argv[optind]) > 63 || argv[optind][0] == '-') {
		fprintf(stderr, "usage: loaxa review EMERGENCY_ID [--note \"...\"]   (an id from "
			"loaxa reviews)\n");
		return CLI_EXIT_USAGE;
	}
	body = note ? json_pack("{s:s}", "note", note) : json_object();
	snprintf(path, sizeof(path), "/v1/reviews/%s", argv[optind]);
	if (cli_post_json(path, body, &resp) < 0) {
		json_decref(body);
		return CLI_EXIT_ERROR;
	}
	json_decref(body);
	if (resp.status == 200) {
		printf(_("emergency %s reviewed by %s\n"), jstr(resp.json, "reviewed"),
		       jstr(resp.json, "by"));
		rc = CLI_EXIT_OK;
	} else {
		fprintf(stderr, _("loaxa review %s: %s\n"), argv[optind], cli_resp_error(&resp));
	}
	cli_resp_free(&resp);
	return rc;
}
