/*
 * import.c - `loaxa import FILE [--title T] [--music] [--json]`: send an
 * audio file to the controller, which encodes and stores it; print the
 * content id (stdout) and what was made of it (stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "i18n.h"
#include "client.h"
#include "table.h"

/* "1800", "90s", "10m", "1h" -> seconds; -1 when not a duration. */
volatile sig_atomic_t cli_interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

void cli_catch_interrupts(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

long cli_parse_duration(const char *s)
{
	char *end;
	long v, mul = 1;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -1;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mul = 60, end++;
	else if (*end == 'h')
		mul = 3600, end++;
	if (*end || v > 86400 / mul)
		return -1;
	return v * mul;
}

const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

int64_t jint(json_t *o, const char *key, int64_t def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

double jreal(json_t *o, const char *key, double def)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : def;
}

int jbool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

void cli_print_json(json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2));

	if (text) {
		puts(text);
		free(text);
	}
}

int cli_import_file(const char *file, const char *title, int music, json_t **content)
{
	struct cli_resp resp;
	char path[1024];
	char *etitle = NULL;

	*content = NULL;
	struct stat st;

	if (access(file, R_OK) < 0) {
		perror(file);
		return -1;
	}
	/* said here in an official's words, not the API's ("the upload is empty") */
	if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
		fprintf(stderr, _("loaxa: %s is empty (0 bytes): it holds no sound; choose the "
			"recording again (or record it again)\n"), file);
		return -1;
	}
	if (title) {
		etitle = cli_escape(title);
		if (!etitle) {
			fprintf(stderr, _("loaxa: out of memory\n"));
			return -1;
		}
	}
	snprintf(path, sizeof(path), "/v1/content%s%s%s%s", etitle || music ? "?" : "",
		 etitle ? "title=" : "", etitle ? etitle : "",
		 music ? (etitle ? "&music=1" : "music=1") : "");
	free(etitle);
	if (isatty(2))
		fprintf(stderr, _("importing %s ...\n"), file);
	if (cli_post_file(path, file, &resp) < 0)
		return -1;
	if (resp.status != 201 && resp.status != 200) {
		fprintf(stderr, _("loaxa: import of %s failed: %s\n"), file, cli_resp_error(&resp));
		cli_resp_free(&resp);
		return -1;
	}
	if (!json_is_object(resp.json) || strlen(jstr(resp.json, "id")) != 64) {
		fprintf(stderr, _("loaxa: the controller's answer has no content id\n"));
		cli_resp_free(&resp);
		return -1;
	}
	*content = json_incref(resp.json);
	cli_resp_free(&resp);
	return 0;
}

void cli_print_imported(const char *file, json_t *c)
{
	char dur[32], bytes[32];

	fmt_duration_ms(dur, sizeof(dur), jint(c, "duration_ms", -1));
	fmt_bytes(bytes, sizeof(bytes), jint(c, "bytes", -1));
	fprintf(stderr, _("%s %s: content %.12s \"%s\", %s, %.1f -> %.1f LUFS, %s\n"),
		jbool(c, "existed") ? _("already imported") : _("imported"), file, jstr(c, "id"),
		jstr(c, "title"), dur, jreal(c, "input_lufs", NAN),
		jreal(c, "output_lufs", NAN), bytes);
}

static void import_usage(FILE *f)
{
	fprintf(f, "usage: loaxa import FILE [--title T] [--music] [--json]\n");
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "title", required_argument, NULL, 't' },
		{ "music", no_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *title = NULL;
	json_t *content = NULL;
	int ch, music = 0, json = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			title = optarg;
			break;
		case 'm':
			music = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			import_usage(stdout);
			return CLI_EXIT_OK;
		default:
			import_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		import_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_import_file(argv[optind], title, music, &content) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(content);
	} else {
		cli_print_imported(argv[optind], content);
		printf("%s\n", jstr(content, "id"));
	}
	json_decref(content);
	return CLI_EXIT_OK;
}
