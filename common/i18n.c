/*
 * i18n.c - see i18n.h.
 *
 * Why the fallback: setlocale(LC_MESSAGES, "") fails when LANG names a
 * locale that is not generated (a fresh Debian has only C and C.UTF-8; the
 * `locales` package and locale-gen make vi_VN.UTF-8). LC_MESSAGES then stays
 * "C", and under "C" glibc's gettext ignores LANGUAGE and translates nothing
 * (dcigettext.c, guess_category_value: POSIX fixes the "C" locale's output).
 * Under "C.UTF-8" it does honour LANGUAGE. So when the asked locale is
 * missing we put LC_MESSAGES on C.UTF-8 and, unless the user set LANGUAGE
 * already, set LANGUAGE to the language LANG asked for. bind_textdomain_codeset
 * makes the catalog's text come out as UTF-8 whatever LC_CTYPE's charset.
 */
#include "i18n.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#ifndef LOAXA_LOCALEDIR
#define LOAXA_LOCALEDIR "/usr/share/locale"
#endif

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

const char *i18n_env_language(char *buf, unsigned len)
{
	const char *v = env_nonempty("LC_ALL");
	size_t n;

	if (!v)
		v = env_nonempty("LC_MESSAGES");
	if (!v)
		v = env_nonempty("LANG");
	if (len == 0)
		return "";
	buf[0] = '\0';
	if (!v || strcmp(v, "C") == 0 || strcmp(v, "POSIX") == 0 ||
	    strncmp(v, "C.", 2) == 0 || v[0] == '/')
		return buf;
	n = strcspn(v, ".@");
	/* a language tag is letters, digits and '_' ("vi", "vi_VN"): anything
	 * else is not one we pass on to gettext */
	if (n == 0 || n >= len || strspn(v, "abcdefghijklmnopqrstuvwxyz"
				       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") < n)
		return buf;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

void i18n_init(const char *domain)
{
	const char *dir = env_nonempty("LOAXA_LOCALEDIR");
	char lang[64];

	/* UTF-8 text in and out, and wcwidth() for table widths */
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		setlocale(LC_CTYPE, "");
	if (!setlocale(LC_MESSAGES, "")) {
		/* the asked locale is not generated here: see the top */
		if (i18n_env_language(lang, sizeof(lang))[0] && !env_nonempty("LANGUAGE"))
			setenv("LANGUAGE", lang, 1);
		if (!setlocale(LC_MESSAGES, "C.UTF-8"))
			setlocale(LC_MESSAGES, "C");
	}
	bindtextdomain(domain, dir ? dir : LOAXA_LOCALEDIR);
	bind_textdomain_codeset(domain, "UTF-8");
	textdomain(domain);
}
