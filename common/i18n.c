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

#include <errno.h>
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

#define REFORMAT_MAX_ARGS 9

struct capture {
	const char *at[REFORMAT_MAX_ARGS];
	size_t len[REFORMAT_MAX_ARGS];
	int n;
};

/* Length of the conversion spec at f (after its '%'), 0 if unknown; *conv
 * is its conversion letter. */
static size_t spec_len(const char *f, char *conv)
{
	size_t i = strspn(f, "0123456789$-+ #'");

	if (f[i] == '.') {
		i++;
		i += strspn(f + i, "0123456789");
	}
	i += strspn(f + i, "hlLqjzt");
	if (!f[i] || !strchr("sdiuxX", f[i]))
		return 0;
	*conv = f[i];
	return i + 1;
}

/* Does text match fmt from here on? Captures the values; backtracks over
 * the length of each %s. */
static int match(const char *f, const char *t, struct capture *c)
{
	while (*f) {
		if (*f == '%' && f[1] == '%') {
			if (*t != '%')
				return -ENOENT;
			f += 2, t++;
			continue;
		}
		if (*f == '%') {
			char conv;
			size_t sl = spec_len(f + 1, &conv), n, max;
			int k = c->n;

			if (!sl || k >= REFORMAT_MAX_ARGS)
				return -EINVAL;
			f += 1 + sl;
			c->at[k] = t;
			c->n = k + 1;
			if (conv == 's') {
				max = strlen(t);
				for (n = 0; n <= max; n++) {
					int rc;

					c->len[k] = n;
					c->n = k + 1;
					rc = match(f, t + n, c);
					if (rc != -ENOENT)
						return rc;
				}
				c->n = k;
				return -ENOENT;
			}
			n = (*t == '-') ? 1 : 0;
			if (!(t[n] >= '0' && t[n] <= '9')) {
				c->n = k;
				return -ENOENT;
			}
			while (t[n] >= '0' && t[n] <= '9')
				n++;
			c->len[k] = n;
			t += n;
			continue;
		}
		if (*f != *t)
			return -ENOENT;
		f++, t++;
	}
	return *t ? -ENOENT : 0;
}

int i18n_reformat(const char *fmt, const char *text, const char *translated,
		  char *out, size_t len)
{
	struct capture c = { .n = 0 };
	const char *s = translated;
	size_t o = 0;
	int next = 0, rc;

	if (len == 0)
		return -ENOSPC;
	rc = match(fmt, text, &c);
	if (rc < 0)
		return rc;
	while (*s) {
		const char *piece = s;
		size_t plen = 1;

		if (*s == '%' && s[1] == '%') {
			s += 2;
		} else if (*s == '%') {
			char conv;
			size_t sl = spec_len(s + 1, &conv);
			int k = next;

			if (!sl)
				return -EINVAL;
			/* positional "%2$s": the translator reordered the values */
			if (s[1] >= '1' && s[1] <= '9' && s[2] == '$')
				k = s[1] - '1';
			else
				next++;
			if (k >= c.n)
				return -EINVAL;
			piece = c.at[k];
			plen = c.len[k];
			s += 1 + sl;
		} else {
			s++;
		}
		if (o + plen >= len)
			return -ENOSPC;
		memcpy(out + o, piece, plen);
		o += plen;
	}
	out[o] = '\0';
	return 0;
}
