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
 *
 * It runs at build time on the build machine, so it is built with the host
 * compiler from this file and common/i18n.c alone (no libloaxa, no
 * jansson): a cross build for ARM runs it too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"

#define MAX_LINES 2000

/* Is s valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF)? */
static int utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned cp, need, i;

		if (*s < 0x80) {
			s++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0)
			need = 1, cp = *s & 0x1fu;
		else if ((*s & 0xf0) == 0xe0)
			need = 2, cp = *s & 0x0fu;
		else if ((*s & 0xf8) == 0xf0)
			need = 3, cp = *s & 0x07u;
		else
			return 0;
		for (i = 1; i <= need; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3fu);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) ||
		    (need == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += need + 1;
	}
	return 1;
}

/* s as a JSON string (UTF-8 passes through; quotes, backslashes and
 * control characters escaped). */
static int put_json_string(const char *s)
{
	if (putchar('"') == EOF)
		return -1;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int rc;

		if (c == '"' || c == '\\')
			rc = printf("\\%c", c);
		else if (c < 0x20)
			rc = printf("\\u%04x", c);
		else
			rc = putchar(c) == EOF ? -1 : 1;
		if (rc < 0)
			return -1;
	}
	return putchar('"') == EOF ? -1 : 0;
}

int main(int argc, char **argv)
{
	static char *seen[MAX_LINES];
	char line[4096];
	FILE *f = NULL;
	unsigned lineno = 0;
	size_t nseen = 0, i;
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
	if (printf("{") < 0)
		goto write_failed;
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
		if (!utf8_valid((const unsigned char *)line)) {
			fprintf(stderr, "%s:%u: not UTF-8 text\n", argv[2], lineno);
			goto out;
		}
		for (i = 0; i < nseen && strcmp(seen[i], line) != 0; i++)
			;
		if (i < nseen)
			continue;   /* twice in the file: one key */
		if (nseen == MAX_LINES) {
			fprintf(stderr, "%s:%u: more than %d strings\n", argv[2], lineno, MAX_LINES);
			goto out;
		}
		seen[nseen] = strdup(line);
		if (!seen[nseen]) {
			fprintf(stderr, "loaxa-webstrings: out of memory\n");
			goto out;
		}
		if (printf(nseen ? ",\n " : "\n ") < 0 || put_json_string(line) < 0 ||
		    printf(": ") < 0 || put_json_string(gettext(line)) < 0)
			goto write_failed;
		nseen++;
	}
	if (ferror(f)) {
		fprintf(stderr, "loaxa-webstrings: reading %s failed\n", argv[2]);
		goto out;
	}
	if (printf("\n}\n") < 0 || fflush(stdout) != 0)
		goto write_failed;
	rc = 0;
	goto out;
write_failed:
	fprintf(stderr, "loaxa-webstrings: cannot write the JSON: %s\n", strerror(errno));
out:
	for (i = 0; i < nseen; i++)
		free(seen[i]);
	if (f)
		fclose(f);
	return rc;
}
