/*
 * client.c - see client.h.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "i18n.h"

static int curl_ready;
int cli_send_token = 1;

static void init_curl(void)
{
	if (!curl_ready) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		curl_ready = 1;
		atexit(curl_global_cleanup);
	}
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct cli_resp *r = arg;
	size_t n = size * nmemb;
	char *nr;

	if (r->len + n > 64u * 1024 * 1024)
		return 0; /* no sane answer is this big */
	nr = realloc(r->raw, r->len + n + 1);
	if (!nr)
		return 0;
	r->raw = nr;
	memcpy(r->raw + r->len, data, n);
	r->len += n;
	r->raw[r->len] = '\0';
	return n;
}

/* Say why the socket could not be used, in the most useful words we have. */
static void report_unreachable(CURLcode code, const char *errbuf)
{
	struct stat st;

	if (code == CURLE_COULDNT_CONNECT) {
		if (stat(cli_socket, &st) == 0 && access(cli_socket, R_OK | W_OK) < 0) {
			fprintf(stderr, _("loaxa: no permission to use the controller's socket %s "
				"(join its group, or run as its user)\n"), cli_socket);
			return;
		}
		fprintf(stderr, _("loaxa: cannot reach the controller at %s (is "
			"loaxa-controller running?)\n"), cli_socket);
		return;
	}
	fprintf(stderr, _("loaxa: talking to the controller at %s failed: %s\n"), cli_socket,
		errbuf[0] ? errbuf : curl_easy_strerror(code));
}

static int perform(CURL *h, const char *path, struct cli_resp *resp)
{
	char url[2048], errbuf[CURL_ERROR_SIZE], token[CLI_TOKEN_MAX];
	CURLcode code;
	json_error_t je;

	/* Every request but a login carries the token (docs/security.md). */
	if (cli_send_token && cli_token_load(token, sizeof(token)) == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, token);
	}

	memset(resp, 0, sizeof(*resp));
	errbuf[0] = '\0';
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, cli_socket);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	code = curl_easy_perform(h);
	memset(token, 0, sizeof(token));
	if (code != CURLE_OK) {
		report_unreachable(code, errbuf);
		cli_resp_free(resp);
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (resp->raw)
		resp->json = json_loadb(resp->raw, resp->len, 0, &je);
	return 0;
}

int cli_get(const char *path, struct cli_resp *resp)
{
	CURL *h;
	int rc;

	init_curl();
	h = curl_easy_init();
	if (!h) {
		fprintf(stderr, _("loaxa: cannot start libcurl\n"));
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	rc = perform(h, path, resp);
	curl_easy_cleanup(h);
	return rc;
}

long cli_post_timeout_s = 60;

int cli_post_json(const char *path, json_t *body, struct cli_resp *resp)
{
	return cli_send_json("POST", path, body, resp);
}

int cli_send_json(const char *method, const char *path, json_t *body, struct cli_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	char *text = json_dumps(body, JSON_COMPACT);
	CURL *h;
	int rc = -1;

	init_curl();
	h = curl_easy_init();
	if (!h || !text) {
		fprintf(stderr, _("loaxa: out of memory\n"));
		goto out;
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
	if (strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, cli_post_timeout_s);
	rc = perform(h, path, resp);
out:
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	free(text);
	return rc;
}

int cli_delete(const char *path, struct cli_resp *resp)
{
	CURL *h;
	int rc;

	init_curl();
	h = curl_easy_init();
	if (!h) {
		fprintf(stderr, _("loaxa: cannot start libcurl\n"));
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	rc = perform(h, path, resp);
	curl_easy_cleanup(h);
	return rc;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	return fread(buf, size, nmemb, (FILE *)arg);
}

int cli_post_file(const char *path, const char *file, struct cli_resp *resp)
{
	struct curl_slist *hdrs = NULL;
	char hdr[512];
	const char *base = strrchr(file, '/');
	struct stat st;
	FILE *f = NULL;
	CURL *h = NULL;
	size_t i;
	int rc = -1;

	init_curl();
	f = fopen(file, "rb");
	if (!f || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, _("loaxa: %s: %s\n"), file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, _("loaxa: %s: not a regular file\n"), file);
		goto out;
	}
	h = curl_easy_init();
	if (!h) {
		fprintf(stderr, _("loaxa: cannot start libcurl\n"));
		goto out;
	}
	snprintf(hdr, sizeof(hdr), "X-Filename: %s", base ? base + 1 : file);
	for (i = 0; hdr[i]; i++) /* a header is one line */
		if ((unsigned char)hdr[i] < 0x20)
			hdr[i] = '_';
	hdrs = curl_slist_append(hdrs, hdr);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, f);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
	/* no overall timeout: encoding a long recording takes a while */
	rc = perform(h, path, resp);
out:
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
	if (f)
		fclose(f);
	return rc;
}

void cli_resp_free(struct cli_resp *resp)
{
	json_decref(resp->json);
	free(resp->raw);
	memset(resp, 0, sizeof(*resp));
}

void cli_set_target(json_t *req, const char *zone, const char *node)
{
	if (zone)
		json_object_set_new(req, "zone", json_string(zone));
	else if (node)
		json_object_set_new(req, "node", json_string(node));
	else
		json_object_set_new(req, "all", json_true());
}

int cli_check_target(const char *cmd, const char *zone, const char *node)
{
	struct cli_resp resp;
	json_t *n, *z;
	size_t i, j;
	int found = 0;

	if ((!zone || strcmp(zone, "all") == 0) && !node)
		return 0;
	if (cli_get("/v1/nodes", &resp) < 0)
		return -1;
	if (resp.status != 200 || !json_is_array(json_object_get(resp.json, "nodes"))) {
		cli_resp_free(&resp);
		return 0;
	}
	json_array_foreach(json_object_get(resp.json, "nodes"), i, n) {
		const char *id = json_string_value(json_object_get(n, "node"));

		if (node && id && strcmp(id, node) == 0)
			found = 1;
		if (zone)
			json_array_foreach(json_object_get(n, "zones"), j, z)
				if (json_is_string(z) && strcmp(json_string_value(z), zone) == 0)
					found = 1;
	}
	cli_resp_free(&resp);
	if (found)
		return 0;
	/* an operator sees only the nodes of their zones: say which case it is */
	if (cli_get("/v1/whoami", &resp) == 0 && resp.status == 200 &&
	    json_is_array(json_object_get(resp.json, "zones"))) {
		char mine[300] = "";

		found = 0;
		json_array_foreach(json_object_get(resp.json, "zones"), i, z) {
			if (!json_is_string(z))
				continue;
			if (zone && strcmp(json_string_value(z), zone) == 0)
				found = 1;
			if (strlen(mine) + strlen(json_string_value(z)) + 3 < sizeof(mine)) {
				strcat(mine, i ? ", " : "");
				strcat(mine, json_string_value(z));
			}
		}
		if (!found) {
			/* the controller's words (auth.c), before the import */
			if (zone)
				fprintf(stderr, _("%s: %s may act only on zones %s, not on zone %s: "
					"nothing was imported or sent\n"), cmd,
					jstr(resp.json, "user"), mine[0] ? mine : "(none)", zone);
			else
				fprintf(stderr, _("%s: node \"%s\" is not one you may reach (%s "
					"may act only on zones %s): check the name (loaxa nodes "
					"lists yours); nothing was imported or sent\n"), cmd, node,
					jstr(resp.json, "user"), mine[0] ? mine : "(none)");
			cli_resp_free(&resp);
			return -1;
		}
	}
	cli_resp_free(&resp);
	if (zone)
		fprintf(stderr, _("%s: zone \"%s\": no node is known in this zone, so nothing "
			"would sound: check the name (loaxa nodes lists each node's zones); "
			"nothing was imported or sent\n"), cmd, zone);
	else
		fprintf(stderr, _("%s: node \"%s\" is not known to this controller (it has never "
			"reported): check the name (loaxa nodes lists them); nothing was "
			"imported or sent\n"), cmd, node);
	return -1;
}

int cli_fail(struct cli_resp *resp, const char *what)
{
	fprintf(stderr, _("loaxa: %s%s%s\n"), what ? what : "", what ? ": " : "",
		cli_resp_error(resp));
	cli_resp_free(resp);
	return CLI_EXIT_ERROR;
}

int cli_get_ok(const char *path, struct cli_resp *resp)
{
	if (cli_get(path, resp) < 0)
		return -1;
	if (resp->status != 200) {
		cli_fail(resp, NULL);
		return -1;
	}
	return 0;
}

/*
 * The controller's API errors are English (the API's text is the same for
 * every client and goes to the audit log); the CLI translates the ones an
 * operator meets on the way by their English text (docs/i18n.md): a fixed
 * message through the catalog directly, a formatted one through the format
 * the controller wrote it with, listed here. tests/integration/i18n.sh
 * checks that each format still exists in the controller's sources. An error not
 * listed stays English.
 */
static const char *const api_errors[] = {
	/* CAP alerts (controller/capxml.c, capmap.c, cap.c; docs/cap.md) */
	N_("line %d, element %s: %s"),
	N_("line %d: %s"),
	N_("the alert is for another area (%s %s), not for this commune (%s, district %s, province %s): refused"),
	N_("sender \"%.200s\" is not a CAP source of this station (cap.sources in controller.cfg)"),
	N_("alert %.200s from %.200s was received already: it is not imported twice"),
	N_("this controller takes no CAP alerts: controller.cfg has no cap block (docs/cap.md)"),
	N_("no token: log in first (loaxa login NAME)"),
	N_("wrong user name or password"),
	N_("the token expired: log in again"),
	N_("the token is not valid (revoked, or its user was deleted): log in again"),
	N_("too many wrong passwords for %s: try again in %lld s"),
	N_("too many failed logins from %s: try again in %lld s"),
	N_("the controller is stopping: try again later"),
	N_("the controller's database failed (see its log)"),
	N_("%s (role %s) may not %s"),
	N_("%s may act only on zones %s, not on every node"),
	N_("%s may act only on zones %s, not on zone %s"),
	N_("%s may act only on zones %s; node %s is in zone %s"),
	N_("%s may see only zones %s, not %s"),
	N_("no node \"%s\" is known to this controller"),
	N_("no content %s on this controller"),
	N_("no such broadcast"),
	N_("no broadcast %s"),
	N_("out of memory"),
};

const char *cli_resp_error(const struct cli_resp *resp)
{
	static char buf[1024];
	const char *e = json_string_value(json_object_get(resp->json, "error")), *t;
	size_t i;

	/* gettext("") is the catalog's header, never a message */
	if (e && !e[0])
		return e;
	if (e) {
		t = gettext(e);
		if (t != e)
			return t;
		for (i = 0; i < sizeof(api_errors) / sizeof(api_errors[0]); i++) {
			t = gettext(api_errors[i]);
			if (t != api_errors[i] &&
			    i18n_reformat(api_errors[i], e, t, buf, sizeof(buf)) == 0)
				return buf;
		}
		return e;
	}
	snprintf(buf, sizeof(buf), _("the controller answered HTTP %ld%s%.160s"), resp->status,
		 resp->raw ? ": " : "", resp->raw ? resp->raw : "");
	return buf;
}

char *cli_escape(const char *s)
{
	char *e, *out;

	init_curl();
	e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return NULL;
	out = strdup(e);
	curl_free(e);
	return out;
}
