/*
 * cap.c - loaxa cap import FILE.xml | cap list | cap show ID: CAP 1.2
 * alerts into the controller (POST /v1/cap; docs/cap.md).
 *
 * The file's bytes go to the controller as they are: it parses and
 * validates them (the CLI links no XML parser), so an alert from the CLI
 * is checked exactly like one from the province's system.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

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

/* ------------------------------------------------------------ the polled feed */

/*
 * loaxa cap poll URL: the "polled feed" of docs/cap.md, as a program of
 * its own (run by a systemd unit or a timer), never inside the controller's
 * loop. Each round fetches URL (http or https only, at most --max-bytes,
 * --timeout seconds, no redirects to other protocols) with If-Modified-Since
 * of the last answer; 304 costs nothing. A new body is posted unchanged to
 * POST /v1/cap, where it is validated like any alert; the controller's
 * (sender, identifier) dedup answers 409 for an alert seen before, which
 * is normal here. The feed is one CAP alert per URL (a province's "current
 * alert" document).
 */
struct fetch_buf {
	char *b;
	size_t len, max;
	int too_big;
};

static size_t fetch_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct fetch_buf *f = arg;
	size_t n = size * nmemb;
	char *nb;

	if (f->len + n > f->max) {
		f->too_big = 1;
		return 0; /* stops the transfer */
	}
	nb = realloc(f->b, f->len + n + 1);
	if (!nb)
		return 0;
	f->b = nb;
	memcpy(f->b + f->len, ptr, n);
	f->len += n;
	f->b[f->len] = '\0';
	return n;
}

/* One round. 0: nothing new or imported or seen before; -1: a failure (said). */
static int poll_once(const char *url, long timeout_s, size_t max_bytes, long *since)
{
	struct fetch_buf f = { NULL, 0, max_bytes, 0 };
	struct cli_resp resp;
	char errbuf[CURL_ERROR_SIZE] = "", tmp[] = "/tmp/loaxa-cap-XXXXXX";
	CURL *h = curl_easy_init();
	long code = 0, filetime = -1;
	int fd = -1, rc = -1;
	CURLcode cc;

	if (!h)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, timeout_s < 10 ? timeout_s : 10L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &f);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (*since > 0) {
		curl_easy_setopt(h, CURLOPT_TIMECONDITION, (long)CURL_TIMECOND_IFMODSINCE);
		curl_easy_setopt(h, CURLOPT_TIMEVALUE, *since);
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(h, CURLINFO_FILETIME, &filetime);
	if (cc != CURLE_OK) {
		fprintf(stderr, _("loaxa: cap poll %s: %s\n"), url,
			f.too_big || cc == CURLE_FILESIZE_EXCEEDED ? _("the answer is larger than "
								  "--max-bytes")
			: errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (code == 304) {
		rc = 0;
		goto out;
	}
	if (code != 200 || f.len == 0) {
		fprintf(stderr, _("loaxa: cap poll %s: the server answered HTTP %ld\n"), url, code);
		goto out;
	}
	if (filetime > 0)
		*since = filetime;
	fd = mkstemp(tmp);
	if (fd < 0 || write(fd, f.b, f.len) != (ssize_t)f.len) {
		fprintf(stderr, "loaxa: cap poll: %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (cli_post_file("/v1/cap", tmp, &resp) < 0)
		goto out;
	if (resp.status == 409) {
		printf(_("%s: seen before, not imported again\n"), url);
		cli_resp_free(&resp);
		rc = 0;
	} else if (resp.status == 200 || resp.status == 202) {
		printf(_("%s: CAP alert %lld (%s): %s\n"), url, (long long)jint(resp.json, "cap", 0),
		       jstr(resp.json, "identifier"), jstr(resp.json, "state"));
		cli_resp_free(&resp);
		rc = 0;
	} else
		refused(&resp);
out:
	if (fd >= 0)
		close(fd);
	if (tmp[sizeof(tmp) - 2] != 'X')
		unlink(tmp);
	free(f.b);
	curl_easy_cleanup(h);
	return rc;
}

static int cap_poll(int argc, char **argv)
{
	const char *url = NULL;
	long interval = 60, timeout = 30;
	long long max = 8 * 1024 * 1024;
	long since = 0;
	int once = 0, i, rc;

	for (i = 1; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--once"))
			once = 1;
		else if (!strcmp(argv[i], "--interval") && i + 1 < argc)
			interval = strtol(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = strtol(argv[++i], &end, 10);
		else if (!strcmp(argv[i], "--max-bytes") && i + 1 < argc)
			max = strtoll(argv[++i], &end, 10);
		else if (argv[i][0] != '-' && !url)
			url = argv[i];
		else
			goto usage;
		if (end && *end)
			goto usage;
	}
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    interval < 5 || interval > 86400 || timeout < 1 || timeout > 600 || max < 1024 ||
	    max > 8 * 1024 * 1024)
		goto usage;
	for (;;) {
		rc = poll_once(url, timeout, (size_t)max, &since);
		if (once)
			return rc < 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
		fflush(stdout);
		sleep((unsigned)interval); /* the poll interval: a timer, not a wait for an event */
	}
usage:
	fprintf(stderr, "usage: loaxa cap poll http[s]://URL [--interval S (5-86400, 60)] "
			"[--timeout S (1-600, 30)] [--max-bytes N (1024-8388608)] [--once]\n");
	return CLI_EXIT_USAGE;
}

int cmd_cap(int argc, char **argv)
{
	struct cli_resp resp;
	char path[64];

	if (argc >= 2 && !strcmp(argv[1], "import"))
		return cap_import(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "poll"))
		return cap_poll(argc - 1, argv + 1);
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
			"       loaxa cap poll http[s]://URL [--interval S] [--once]\n"
			"       loaxa cap list [--json]\n"
			"       loaxa cap show ID\n");
	return CLI_EXIT_USAGE;
}
