/*
 * i18n.h - operator messages in the operator's language (gettext).
 *
 * The English text in the sources is the message id; po/<lang>.po holds its
 * translation, compiled into <localedir>/<lang>/LC_MESSAGES/<domain>.mo
 * (docs/i18n.md). Without a catalog, or under LANG=C, everything stays
 * English, byte for byte as before.
 */
#ifndef LOAXA_I18N_H
#define LOAXA_I18N_H

#include <libintl.h>
#include <stddef.h>

/* The CLI and the controller share "loaxa"; the node's package ships the
 * same catalog as "loaxa-node" so each Debian package owns its own file. */
#define I18N_DOMAIN "loaxa"
#define I18N_DOMAIN_NODE "loaxa-node"

#define _(s) gettext(s)
/* Marks a string for the catalog where it cannot be translated yet (static
 * tables); translate it with _() where it is used. */
#define N_(s) (s)
/* Plural forms: n picks "1 node" / "2 nodes" by the language's rule. */
#define P_(s, p, n) ngettext((s), (p), (unsigned long)(n))

/*
 * Set up messages for domain from the environment: LC_ALL, LC_MESSAGES,
 * LANG and LANGUAGE, as gettext reads them. Works when the asked locale is
 * not generated on the machine (only C.UTF-8 exists): the language is then
 * taken from LANG & co. through LANGUAGE, which gettext honours under any
 * locale but "C". Only LC_MESSAGES changes: the catalog's text comes out as
 * UTF-8 whatever LC_CTYPE says (bind_textdomain_codeset), numbers and times
 * keep the C locale (scripts parse them; "1.5" stays "1.5"), and the
 * daemons' character classes stay what they were. (The CLI sets LC_CTYPE
 * to C.UTF-8 itself, for the screen widths of table cells.)
 *
 * The catalogs are looked for in $LOAXA_LOCALEDIR when it is set (tests, the
 * demo: build/locale), else in the directory the build was configured with
 * (LOAXA_LOCALEDIR at build time, /usr/share/locale in the packages).
 *
 * Never fails: English is always there.
 */
void i18n_init(const char *domain);

/*
 * The language tag ("vi_VN") that LC_ALL, LC_MESSAGES or LANG ask for, the
 * first that is set, without ".UTF-8" or "@modifier"; "" for C/POSIX or
 * nothing. buf receives it. Exposed for the unit test.
 */
const char *i18n_env_language(char *buf, unsigned len);

/*
 * Translate a message another program formatted (the controller's API
 * errors, which it writes in English): when text is what printf would make
 * of fmt, write translated (fmt's translation, with the same conversions,
 * in any order through %1$s) to out with the values text had in their
 * places. Conversions: %s (any text, also with a precision: %.40s) and the
 * integer ones (%d %u %ld %lld %zu, ...: digits, maybe a '-'); %%.
 * Returns 0, -ENOENT when text does not match fmt, -EINVAL for a
 * conversion it does not know, -ENOSPC when out is too small.
 */
int i18n_reformat(const char *fmt, const char *text, const char *translated,
		  char *out, size_t len);

#endif
