/*
 * webstrings.c - loaxa-webstrings LANG STRINGS.TXT: the web console's
 * strings in one language, as a JSON object {"msgid": "translation", ...}
 * on stdout, for the console to load (docs/i18n.md).
 *
 * STRINGS.TXT (web/strings.txt) holds one English msgid a line; `make pot`
 * puts them in po/loaxa.pot beside the CLI's and daemons' strings, so a
 * translator edits one po/<lang>.po for everything. The translation comes
 * from the compiled catalog through gettext itself (the same lookup as the
 * CLI's): LANG is "C" for English (every msgid maps to itself) or a
 * language with a catalog in $LOAXA_LOCALEDIR. A msgid without translation
 * maps to itself, as gettext shows it. Blank lines and lines starting with
 * '#' are comments.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"

int main(int argc, char **argv)
{
	char line[4096];
	json_t *out = NULL;
	FILE *f = NULL;
	unsigned lineno = 0;
	int rc = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: loaxa-webstrings LANG STRINGS.TXT\n");
		return 2;
	}
	/* one language a run: gettext caches what LANGUAGE said at the first
	 * lookup */
	if (strcmp(argv[1], "C") == 0) {
		unsetenv("LANGUAGE");
		setenv("LANG", "C", 1);
	} else {
		setenv("LANGUAGE", argv[1], 1);
		setenv("LANG", "C.UTF-8", 1);
	}
	unsetenv("LC_ALL");
	unsetenv("LC_MESSAGES");
	i18n_init(I18N_DOMAIN);
	f = fopen(argv[2], "r");
	if (!f) {
		fprintf(stderr, "loaxa-webstrings: cannot read %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	out = json_object();
	if (!out)
		goto out;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		lineno++;
		if (n > 0 && line[n - 1] != '\n' && !feof(f)) {
			fprintf(stderr, "%s:%u: line longer than %zu bytes\n", argv[2], lineno,
				sizeof(line) - 2);
			goto out;
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (json_object_set_new(out, line, json_string(gettext(line))) < 0) {
			fprintf(stderr, "%s:%u: not UTF-8 text\n", argv[2], lineno);
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "loaxa-webstrings: reading %s failed\n", argv[2]);
		goto out;
	}
	if (json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS) < 0 || printf("\n") < 0 ||
	    fflush(stdout) != 0) {
		fprintf(stderr, "loaxa-webstrings: cannot write the JSON\n");
		goto out;
	}
	rc = 0;
out:
	json_decref(out);
	if (f)
		fclose(f);
	return rc;
}
