/*
 * health.c - `loaxa alarms`, `loaxa log`, `loaxa report`, `loaxa node ...`:
 * what maintenance staff and the commune office ask the controller (API in
 * controller/healthapi.h; operators' guide docs/health.md).
 */
#include "health.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "i18n.h"
#include "client.h"
#include "table.h"
#include "util.h"

/* GET path and check it answered 200 with JSON. */
/* ------------------------------------------------------------ alarms */

/*
 * GET path for a command that prints a table, or with --json the answer as
 * is. Returns 1: print the table from resp; 0: done (printed as JSON, resp
 * freed); -1: failed, and why was printed.
 */
static int get_for_table(const char *path, int json, struct cli_resp *resp)
{
	if (cli_get_ok(path, resp) < 0)
		return -1;
	if (!json)
		return 1;
	cli_print_json(resp->json);
	cli_resp_free(resp);
	return 0;
}

int cmd_alarms(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },  { "node", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: loaxa alarms [--all] [--node N] [--json]";
	static const char *const head[] = { N_("NODE"), N_("ALARM"), N_("RAISED"), N_("CLEARED"), N_("DETAIL") };
	struct cli_resp resp;
	struct table t;
	char path[256], raised[32], cleared[32], kind[160];
	const char *node = NULL;
	json_t *a;
	size_t i;
	int all = 0, json = 0, ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': all = 1; break;
		case 'n': node = optarg; break;
		case 'j': json = 1; break;
		case 'h': printf("%s\n", usage); return CLI_EXIT_OK;
		default: fprintf(stderr, "%s\n", usage); return CLI_EXIT_USAGE;
		}
	}
	{
		char *enode = node ? cli_escape(node) : NULL;

		snprintf(path, sizeof(path), "/v1/alarms?all=%d%s%s", all, enode ? "&node=" : "",
			 enode ? enode : "");
		free(enode);
	}
	rc = get_for_table(path, json, &resp);
	if (rc <= 0)
		return rc < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
	table_init(&t, 5, head);
	t.limit[4] = 80;
	json_array_foreach(json_object_get(resp.json, "alarms"), i, a) {
		const char *cells[5];

		fmt_local_time(raised, sizeof(raised), jint(a, "raised", 0));
		if (json_is_integer(json_object_get(a, "cleared")))
			fmt_local_time(cleared, sizeof(cleared), jint(a, "cleared", 0));
		else
			snprintf(cleared, sizeof(cleared), "ACTIVE");
		snprintf(kind, sizeof(kind), "%s%s%s", jstr(a, "kind"), jstr(a, "key")[0] ? " " : "",
			 jstr(a, "key"));
		cells[0] = jstr(a, "node");
		cells[1] = kind;
		cells[2] = raised;
		cells[3] = cleared;
		cells[4] = jstr(a, "detail");
		table_add(&t, cells);
	}
	table_show(&t, all ? _("no alarms recorded") : _("no active alarms"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ log */

/* "1795000000000" (ms), "2026-11-02", "2026-11-02 14:02" or "...:SS", local time. */
static int parse_when(const char *s, int64_t *out)
{
	struct tm tm;
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!errno && !*end && end != s && v > 100000000000LL) {
		*out = v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (!end)
		return -EINVAL;
	if (*end) {
		char *e2 = strptime(end, " %H:%M:%S", &tm);

		if (!e2)
			e2 = strptime(end, " %H:%M", &tm);
		if (!e2 || *e2)
			return -EINVAL;
	}
	tm.tm_isdst = -1;
	*out = (int64_t)mktime(&tm) * 1000;
	return 0;
}

int cmd_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' }, { "to", required_argument, NULL, 't' },
		{ "node", required_argument, NULL, 'n' }, { "zone", required_argument, NULL, 'z' },
		{ "content", required_argument, NULL, 'c' }, { "type", required_argument, NULL, 'y' },
		{ "limit", required_argument, NULL, 'l' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: loaxa log [--from WHEN] [--to WHEN] [--node N] [--zone Z] [--content ID]\n"
		"                 [--type T] [--limit N] [--json]\n"
		"WHEN: YYYY-MM-DD[ HH:MM[:SS]] (local time) or ms since the epoch";
	static const char *const head[] = { N_("TIME"), N_("NODE"), N_("EVENT"), N_("PLAY"), N_("TITLE"), N_("SCHEDULED"),
					    N_("ERROR"), N_("DURATION"), N_("END / REASON") };
	struct cli_resp resp;
	struct table t;
	char path[1024], tbuf[32], sbuf[32], ebuf[32], dbuf[32], rbuf[300];
	const char *node = NULL, *zone = NULL, *content = NULL, *type = NULL, *limit = NULL;
	int64_t from = -1, to = -1;
	json_t *e;
	size_t i;
	int json = 0, ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
		case 't':
			if (parse_when(optarg, ch == 'f' ? &from : &to) < 0) {
				fprintf(stderr, _("loaxa log: --%s %s: not a time (YYYY-MM-DD[ HH:MM[:SS]]"
					" or ms)\n"), ch == 'f' ? "from" : "to", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'n': node = optarg; break;
		case 'z': zone = optarg; break;
		case 'c': content = optarg; break;
		case 'y': type = optarg; break;
		case 'l': limit = optarg; break;
		case 'j': json = 1; break;
		case 'h': printf("%s\n", usage); return CLI_EXIT_OK;
		default: fprintf(stderr, "%s\n", usage); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s\n", usage);
		return CLI_EXIT_USAGE;
	}
	{
		char *enode = node ? cli_escape(node) : NULL, *ezone = zone ? cli_escape(zone) : NULL;
		char *ecnt = content ? cli_escape(content) : NULL, *etype = type ? cli_escape(type)
									   : NULL;

		snprintf(path, sizeof(path), "/v1/log?limit=%s", limit ? limit : "10000");
		if (from >= 0)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&from=%lld",
				 (long long)from);
		if (to >= 0)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&to=%lld",
				 (long long)to);
		if (enode)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&node=%s", enode);
		if (ezone)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&zone=%s", ezone);
		if (ecnt)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&content=%s", ecnt);
		if (etype)
			snprintf(path + strlen(path), sizeof(path) - strlen(path), "&type=%s", etype);
		free(enode);
		free(ezone);
		free(ecnt);
		free(etype);
	}
	rc = get_for_table(path, json, &resp);
	if (rc <= 0)
		return rc < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
	table_init(&t, 9, head);
	t.limit[3] = 34;
	t.limit[4] = 30;
	t.limit[8] = 50;
	t.right[6] = t.right[7] = 1;
	json_array_foreach(json_object_get(resp.json, "events"), i, e) {
		const char *cells[9];
		json_t *err = json_object_get(e, "error_ms");
		int64_t start = jint(e, "start", 0);

		fmt_local_time(tbuf, sizeof(tbuf), start > 0 ? start : jint(e, "ts", 0));
		if (jint(e, "scheduled", 0) > 0)
			fmt_local_time(sbuf, sizeof(sbuf), jint(e, "scheduled", 0));
		else
			snprintf(sbuf, sizeof(sbuf), "-");
		if (json_is_number(err))
			snprintf(ebuf, sizeof(ebuf), "±%.1f ms", json_number_value(err));
		else
			snprintf(ebuf, sizeof(ebuf), "-");
		if (json_is_integer(json_object_get(e, "duration_ms")))
			fmt_duration_ms(dbuf, sizeof(dbuf), jint(e, "duration_ms", 0));
		else
			snprintf(dbuf, sizeof(dbuf), "-");
		snprintf(rbuf, sizeof(rbuf), "%s%s%s", jstr(e, "end"),
			 jstr(e, "end")[0] && jstr(e, "reason")[0] ? ": " : "", jstr(e, "reason"));
		cells[0] = tbuf;
		cells[1] = jstr(e, "node");
		cells[2] = jstr(e, "type");
		cells[3] = jstr(e, "occurrence")[0] ? jstr(e, "occurrence")
			   : jstr(e, "broadcast")[0] ? jstr(e, "broadcast") : "-";
		cells[4] = jstr(e, "title")[0] ? jstr(e, "title") : "-";
		cells[5] = sbuf;
		cells[6] = ebuf;
		cells[7] = dbuf;
		cells[8] = rbuf[0] ? rbuf : "-";
		table_add(&t, cells);
	}
	table_show(&t, _("no events in that range"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ report */

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "month", required_argument, NULL, 'm' }, { "csv", no_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ "format", required_argument, NULL, 'f' }, { "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: loaxa report --month YYYY-MM [--csv | --json | "
				    "--format table|csv|json|pdf] [-o FILE]";
	static const char *const head[] = { N_("NODE"), N_("NAME"), N_("ZONES"), N_("SCHEDULED"), N_("PLAYED"),
					    N_("FAILED"), N_("SUCCESS"), N_("AIRTIME"), N_("EMERGENCIES"),
					    N_("DRILLS") };
	struct cli_resp resp;
	struct table t;
	char path[128], s[4][24], ratio[16], air[32];
	const char *month = NULL, *format = NULL, *output = NULL;
	json_t *r;
	size_t i;
	int csv = 0, json = 0, pdf = 0, ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (ch) {
		case 'm': month = optarg; break;
		case 'c': csv = 1; break;
		case 'j': json = 1; break;
		case 'f': format = optarg; break;
		case 'o': output = optarg; break;
		case 'h': printf("%s\n", usage); return CLI_EXIT_OK;
		default: fprintf(stderr, "%s\n", usage); return CLI_EXIT_USAGE;
		}
	}
	if (format) {
		if (csv || json) {
			fprintf(stderr, _("loaxa report: give --format or --csv/--json, not both\n"));
			return CLI_EXIT_USAGE;
		}
		if (strcmp(format, "csv") == 0)
			csv = 1;
		else if (strcmp(format, "json") == 0)
			json = 1;
		else if (strcmp(format, "pdf") == 0)
			pdf = 1;
		else if (strcmp(format, "table") != 0) {
			fprintf(stderr, _("loaxa report: --format must be table, csv, json or pdf "
				"(not \"%s\")\n"), format);
			return CLI_EXIT_USAGE;
		}
	}
	if (!month || strlen(month) != 7 || optind != argc || (csv && json)) {
		fprintf(stderr, "%s\n", usage);
		return CLI_EXIT_USAGE;
	}
	if (output && !csv && !pdf) {
		fprintf(stderr, _("loaxa report: -o writes the CSV or the PDF (add --format csv "
			"or --format pdf)\n"));
		return CLI_EXIT_USAGE;
	}
	/* a PDF is bytes a terminal cannot show: it needs a file or a pipe */
	if (pdf && !output && isatty(STDOUT_FILENO)) {
		fprintf(stderr, _("loaxa report: say where the PDF goes: -o bao-cao-%s.pdf\n"), month);
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/report?month=%s%s", month,
		 csv ? "&format=csv" : pdf ? "&format=pdf" : "");
	if (cli_get_ok(path, &resp) < 0)
		return CLI_EXIT_ERROR;
	if (csv || pdf) {
		int rc = CLI_EXIT_OK;

		if (output && strcmp(output, "-") != 0) {
			int wr = write_file_atomic(output, resp.raw, resp.len, 0644);

			if (wr < 0) {
				fprintf(stderr, _("loaxa report: cannot write %s: %s\n"), output,
					strerror(-wr));
				rc = CLI_EXIT_ERROR;
			} else if (pdf) {
				fprintf(stderr, _("loaxa report: wrote %s (%zu bytes)\n"), output,
					resp.len);
			}
		} else if (fwrite(resp.raw, 1, resp.len, stdout) != resp.len ||
			   fflush(stdout) != 0) {
			fprintf(stderr, _("loaxa report: cannot write the report: %s\n"),
				strerror(errno));
			rc = CLI_EXIT_ERROR;
		}
		cli_resp_free(&resp);
		return rc;
	}
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	printf(_("Broadcast report %s\n\n"), month);
	table_init(&t, 10, head);
	t.limit[1] = 30;
	for (i = 3; i < 10; i++)
		t.right[i] = 1;
	json_array_foreach(json_object_get(resp.json, "clusters"), i, r) {
		const char *cells[10];
		json_t *sr = json_object_get(r, "success_ratio");

		snprintf(s[0], sizeof(s[0]), "%lld", (long long)jint(r, "scheduled", 0));
		snprintf(s[1], sizeof(s[1]), "%lld", (long long)jint(r, "played", 0));
		snprintf(s[2], sizeof(s[2]), "%lld", (long long)jint(r, "failed", 0));
		if (json_is_number(sr))
			snprintf(ratio, sizeof(ratio), "%.1f %%", 100.0 * json_number_value(sr));
		else
			snprintf(ratio, sizeof(ratio), "-");
		fmt_duration_ms(air, sizeof(air), jint(r, "airtime_ms", 0));
		cells[0] = jstr(r, "node");
		cells[1] = jstr(r, "label")[0] ? jstr(r, "label") : "-";
		cells[2] = jstr(r, "zones")[0] ? jstr(r, "zones") : "-";
		cells[3] = s[0];
		cells[4] = s[1];
		cells[5] = s[2];
		cells[6] = ratio;
		cells[7] = air;
		snprintf(s[3], sizeof(s[3]), "%lld", (long long)jint(r, "emergencies", 0));
		cells[8] = s[3];
		{
			static char d[24];

			snprintf(d, sizeof(d), "%lld", (long long)jint(r, "drills", 0));
			cells[9] = d;
			table_add(&t, cells);
		}
	}
	table_show(&t, _("no clusters known"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ node */

/* A 1 kHz tone, 2 s, 48 kHz mono 16-bit WAV, with 20 ms ramps. */
static int write_tone(const char *path)
{
	const unsigned rate = 48000, n = rate * 2;
	unsigned char hdr[44];
	FILE *f = fopen(path, "wb");
	unsigned i, data = n * 2;

	if (!f)
		return -errno;
	memcpy(hdr, "RIFF", 4);
	hdr[4] = (unsigned char)((36 + data) & 0xff);
	hdr[5] = (unsigned char)(((36 + data) >> 8) & 0xff);
	hdr[6] = (unsigned char)(((36 + data) >> 16) & 0xff);
	hdr[7] = (unsigned char)(((36 + data) >> 24) & 0xff);
	memcpy(hdr + 8, "WAVEfmt ", 8);
	memcpy(hdr + 16, "\x10\0\0\0\x01\0\x01\0", 8);
	hdr[24] = (unsigned char)(rate & 0xff);
	hdr[25] = (unsigned char)((rate >> 8) & 0xff);
	hdr[26] = hdr[27] = 0;
	hdr[28] = (unsigned char)((rate * 2) & 0xff);
	hdr[29] = (unsigned char)(((rate * 2) >> 8) & 0xff);
	hdr[30] = (unsigned char)(((rate * 2) >> 16) & 0xff);
	hdr[31] = 0;
	memcpy(hdr + 32, "\x02\0\x10\0data", 8);
	hdr[40] = (unsigned char)(data & 0xff);
	hdr[41] = (unsigned char)((data >> 8) & 0xff);
	hdr[42] = (unsigned char)((data >> 16) & 0xff);
	hdr[43] = (unsigned char)((data >> 24) & 0xff);
	fwrite(hdr, 1, sizeof(hdr), f);
	for (i = 0; i < n; i++) {
		double env = 1.0, ramp = rate * 0.02;
		short s;

		if (i < ramp)
			env = i / ramp;
		else if (n - i < ramp)
			env = (n - i) / ramp;
		s = (short)lrint(12000.0 * env * sin(2.0 * M_PI * 1000.0 * i / rate));
		fputc(s & 0xff, f);
		fputc((s >> 8) & 0xff, f);
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

/*
 * The last or current software update (node/update.h): its state, and
 * once over its outcome in words an official can act on.
 */
static void node_show_update(json_t *u)
{
	const char *state = jstr(u, "state"), *outcome = jstr(u, "outcome");
	char when[32];

	if (!json_is_object(u))
		return;
	fmt_local_time(when, sizeof(when), jint(u, "at", 0));
	if (strcmp(state, "done") != 0)
		printf(_("update      to %s: %s%s%s\n"), jstr(u, "version"),
		       !strcmp(state, "fetching") ? _("fetching the package")
		       : !strcmp(state, "waiting") ? _("waiting for a quiet moment")
		       : !strcmp(state, "installing") ? _("installing")
		       : _("new version started, confirming"),
		       jstr(u, "error")[0] ? ": " : "", jstr(u, "error"));
	else if (!strcmp(outcome, "ok"))
		printf(_("update      to %s: installed and running (%s)\n"), jstr(u, "version"),
		       when);
	else if (!strcmp(outcome, "rolled_back"))
		printf(_("update      to %s: FAILED, previous version put back (%s): %s\n"),
		       jstr(u, "version"), when, jstr(u, "error"));
	else if (!strcmp(outcome, "refused"))
		printf(_("update      to %s: refused by the node (%s): %s\n"), jstr(u, "version"),
		       when, jstr(u, "error"));
	else
		printf(_("update      to %s: FAILED, nothing was changed (%s): %s\n"),
		       jstr(u, "version"), when, jstr(u, "error"));
}

static int node_show(const char *node, int json)
{
	struct cli_resp resp;
	char path[128], seen[32];
	json_t *st, *a, *e;
	size_t i;
	int rc;

	snprintf(path, sizeof(path), "/v1/nodes/%s", node);
	rc = get_for_table(path, json, &resp);
	if (rc <= 0)
		return rc < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
	st = json_object_get(resp.json, "status");
	fmt_ago(seen, sizeof(seen), jint(resp.json, "last_seen", 0), now_ms());
	printf(_("node        %s%s%s%s\n"), jstr(resp.json, "node"),
	       jstr(resp.json, "label")[0] ? " (" : "", jstr(resp.json, "label"),
	       jstr(resp.json, "label")[0] ? ")" : "");
	printf(_("online      %s (last seen %s; boot %lld; %lld restarts, %lld reconnects)\n"),
	       jbool(resp.json, "online") ? _("yes") : _("NO"), seen,
	       (long long)jint(resp.json, "boot", 0), (long long)jint(resp.json, "restarts", 0),
	       (long long)jint(resp.json, "reconnects", 0));
	printf(_("version     %s\n"), jstr(resp.json, "version"));
	if (json_is_object(st)) {
		json_t *net = json_object_get(st, "net"), *link = json_object_get(st, "link"),
		       *disk = json_object_get(st, "disk"), *alsa = json_object_get(st, "alsa"),
		       *clock = json_object_get(st, "clock"), *jr = json_object_get(st, "journal");
		char b1[32], b2[32];

		printf(_("uptime      %lld s\n"), (long long)jint(st, "uptime_s", 0));
		printf(_("network     %s %s, signal %s\n"), jstr(net, "interface"), jstr(net, "ip"),
		       jstr(link, "signal")[0] ? jstr(link, "signal") : "-");
		if (json_is_object(clock))
			printf(_("clock       offset %.1f ms, error ±%.1f ms\n"),
			       jreal(clock, "offset_ms", 0), jreal(clock, "error_ms", 0));
		fmt_bytes(b1, sizeof(b1), jint(disk, "free_bytes", 0));
		fmt_bytes(b2, sizeof(b2), jint(json_object_get(st, "cache"), "bytes", 0));
		printf(_("disk        %s free, cache %s\n"), b1, b2);
		if (json_is_number(json_object_get(st, "temperature_c")))
			printf(_("temperature %.1f °C\n"), jreal(st, "temperature_c", 0));
		printf(_("audio       %s: %s, %lld xruns, %lld errors, volume %lld\n"),
		       jstr(alsa, "device"), jstr(alsa, "state"), (long long)jint(alsa, "xruns", 0),
		       (long long)jint(alsa, "errors", 0), (long long)jint(st, "volume", 0));
		printf(_("journal     %lld pending, %lld dropped\n"), (long long)jint(jr, "pending", 0),
		       (long long)jint(jr, "dropped", 0));
		if (json_is_object(json_object_get(st, "plan")))
			printf(_("plan        seq %lld, %lld items\n"),
			       (long long)jint(json_object_get(st, "plan"), "seq", 0),
			       (long long)jint(json_object_get(st, "plan"), "items", 0));
		if (json_is_object(json_object_get(st, "selftest")) &&
		    jstr(json_object_get(st, "selftest"), "result")[0]) {
			json_t *t = json_object_get(st, "selftest");
			char when[32];

			fmt_local_time(when, sizeof(when), jint(t, "at", 0));
			if (!strcmp(jstr(t, "result"), "error"))
				printf(_("horn test   %s at %s: %s\n"), cli_selftest_word(t), when,
				       jstr(t, "reason"));
			else
				printf(_("horn test   %s at %s (tone %.1f dB, noise %.1f dB)\n"),
				       cli_selftest_word(t), when, jreal(t, "level_db", 0),
				       jreal(t, "noise_db", 0));
		}
		if (jstr(st, "last_error")[0])
			printf(_("last error  %s\n"), jstr(st, "last_error"));
		node_show_update(json_object_get(st, "update"));
		if (json_is_object(json_object_get(st, "playing")))
			printf(_("playing     %s (%s)\n"),
			       jstr(json_object_get(st, "playing"), "broadcast"),
			       jstr(json_object_get(st, "playing"), "level"));
	}
	json_array_foreach(json_object_get(resp.json, "alarm_list"), i, a)
		printf(_("ALARM       %s%s%s: %s\n"), jstr(a, "kind"), jstr(a, "key")[0] ? " " : "",
		       jstr(a, "key"), jstr(a, "detail"));
	printf(_("\nrecent events:\n"));
	json_array_foreach(json_object_get(resp.json, "recent_events"), i, e) {
		char when[32];

		fmt_local_time(when, sizeof(when), jint(e, "ts", 0));
		printf("  %s  %-15s %s %s\n", when, jstr(e, "type"),
		       jstr(e, "occurrence")[0] ? jstr(e, "occurrence") : jstr(e, "broadcast"),
		       jstr(e, "reason"));
	}
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

/* Send action and wait for the node's confirmation. */
static int node_action(const char *node, const char *action, json_t *body, int timeout_s,
		       int json)
{
	struct cli_resp resp;
	char path[256], id[80];
	const char *final_ok = strcmp(action, "test-tone") == 0 ? "played" : "ok";
	int64_t deadline;
	int rc = CLI_EXIT_TIMEOUT;

	snprintf(path, sizeof(path), "/v1/nodes/%s/%s", node, action);
	if (cli_post_json(path, body, &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 202) {
		fprintf(stderr, _("loaxa: %s\n"), cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	snprintf(id, sizeof(id), "%s", jstr(resp.json, "command"));
	cli_resp_free(&resp);
	if (!json)
		fprintf(stderr, _("command %s sent to %s, waiting for its confirmation ...\n"), id,
			node);
	deadline = now_ms() + (int64_t)timeout_s * 1000;
	snprintf(path, sizeof(path), "/v1/commands/%s", id);
	for (;;) {
		const char *state;

		if (cli_get_ok(path, &resp) < 0)
			return CLI_EXIT_ERROR;
		state = jstr(resp.json, "state");
		if (!strcmp(state, final_ok) || !strcmp(state, "refused") ||
		    !strcmp(state, "failed")) {
			rc = !strcmp(state, final_ok) ? CLI_EXIT_OK : CLI_EXIT_ERROR;
			break;
		}
		if (now_ms() >= deadline)
			break;
		cli_resp_free(&resp);
		usleep(200 * 1000);
	}
	if (json) {
		cli_print_json(resp.json);
	} else if (rc == CLI_EXIT_TIMEOUT) {
		fprintf(stderr, _("loaxa: node %s did not confirm command %s within %d s (state: "
			"%s); it runs it when it gets it, until the command expires\n"), node, id,
			timeout_s, jstr(resp.json, "state"));
	} else {
		printf(_("node %s: %s %s%s%s\n"), node, action, jstr(resp.json, "state"),
		       jstr(resp.json, "reason")[0] ? ": " : "", jstr(resp.json, "reason"));
	}
	cli_resp_free(&resp);
	return rc;
}

int cli_node_maint_verb(const char *verb)
{
	return !strcmp(verb, "show") || !strcmp(verb, "volume") || !strcmp(verb, "stop") ||
	       !strcmp(verb, "restart") || !strcmp(verb, "test-tone");
}

int cmd_node_maint(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: loaxa node show N [--json]\n"
		"       loaxa node volume N LEVEL     (0-100, the node's master volume)\n"
		"       loaxa node stop N             (stop what it plays)\n"
		"       loaxa node restart N          (clean stop, start again)\n"
		"       loaxa node test-tone N        (2 s 1 kHz tone at priority level)\n"
		"       [--timeout SECONDS] (default 30) [--json]";
	const char *verb, *node;
	json_t *body = NULL;
	int json = 0, timeout_s = 30, ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = 1; break;
		case 't':
			timeout_s = atoi(optarg);
			if (timeout_s < 1 || timeout_s > 3600) {
				fprintf(stderr, _("loaxa node: --timeout must be 1-3600 seconds\n"));
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h': printf("%s\n", usage); return CLI_EXIT_OK;
		default: fprintf(stderr, "%s\n", usage); return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "%s\n", usage);
		return CLI_EXIT_USAGE;
	}
	verb = argv[optind];
	node = argv[optind + 1];
	if (strcmp(verb, "show") == 0 && argc - optind == 2)
		return node_show(node, json);
	if (strcmp(verb, "volume") == 0 && argc - optind == 3) {
		char *end;
		long level = strtol(argv[optind + 2], &end, 10);

		if (*end || end == argv[optind + 2] || level < 0 || level > 100) {
			fprintf(stderr, _("loaxa node volume: LEVEL must be 0-100\n"));
			return CLI_EXIT_USAGE;
		}
		body = json_pack("{s:i}", "level", (int)level);
	} else if ((strcmp(verb, "stop") == 0 || strcmp(verb, "restart") == 0) &&
		   argc - optind == 2) {
		body = json_object();
	} else if (strcmp(verb, "test-tone") == 0 && argc - optind == 2) {
		char tmpl[] = "/tmp/loaxa-tone-XXXXXX", wav[64];
		json_t *content = NULL;
		int fd = mkstemp(tmpl);

		if (fd < 0) {
			perror("loaxa: mkstemp");
			return CLI_EXIT_ERROR;
		}
		close(fd);
		unlink(tmpl);
		snprintf(wav, sizeof(wav), "%s.wav", tmpl);
		if (write_tone(wav) < 0) {
			fprintf(stderr, _("loaxa: cannot write the test tone %s\n"), wav);
			return CLI_EXIT_ERROR;
		}
		/* imported like any file: the same tone is stored once (same hash) */
		rc = cli_import_file(wav, "test tone 1 kHz", 0, &content);
		unlink(wav);
		if (rc != 0 || !content)
			return CLI_EXIT_ERROR;
		body = json_pack("{s:s}", "content", jstr(content, "id"));
		json_decref(content);
	} else {
		fprintf(stderr, "%s\n", usage);
		return CLI_EXIT_USAGE;
	}
	rc = node_action(node, verb, body, timeout_s, json);
	json_decref(body);
	return rc;
}
