/*
 * test_i18n.c - common/i18n.c: the language LANG & co. ask for, and the
 * translation of messages another program formatted (the controller's API
 * errors, shown by the CLI in the operator's language).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "tap.h"

static const char *lang_of(const char *lc_all, const char *lc_messages, const char *lang)
{
	static char buf[64];

	if (lc_all)
		setenv("LC_ALL", lc_all, 1);
	else
		unsetenv("LC_ALL");
	if (lc_messages)
		setenv("LC_MESSAGES", lc_messages, 1);
	else
		unsetenv("LC_MESSAGES");
	if (lang)
		setenv("LANG", lang, 1);
	else
		unsetenv("LANG");
	return i18n_env_language(buf, sizeof(buf));
}

static int reformat(const char *fmt, const char *text, const char *tr, char *out)
{
	return i18n_reformat(fmt, text, tr, out, 256);
}

int main(void)
{
	char out[256], small[8];
	int rc;

	CHECK(strcmp(lang_of(NULL, NULL, "vi_VN.UTF-8"), "vi_VN") == 0, "LANG=vi_VN.UTF-8: vi_VN");
	CHECK(strcmp(lang_of(NULL, NULL, "vi_VN@tcvn"), "vi_VN") == 0, "a @modifier is dropped");
	CHECK(strcmp(lang_of(NULL, "vi", "en_US.UTF-8"), "vi") == 0, "LC_MESSAGES before LANG");
	CHECK(strcmp(lang_of("C", "vi", "vi_VN.UTF-8"), "") == 0, "LC_ALL=C wins: English");
	CHECK(strcmp(lang_of(NULL, NULL, "C.UTF-8"), "") == 0, "LANG=C.UTF-8: English");
	CHECK(strcmp(lang_of(NULL, NULL, "POSIX"), "") == 0, "LANG=POSIX: English");
	CHECK(strcmp(lang_of(NULL, NULL, NULL), "") == 0, "nothing set: English");
	CHECK(strcmp(lang_of(NULL, NULL, "../../etc"), "") == 0,
	      "a LANG that is not a language tag is not passed on");
	CHECK(strcmp(lang_of("", "", "vi"), "vi") == 0, "empty LC_ALL/LC_MESSAGES are unset");

	rc = reformat("no node \"%s\" is known to this controller",
		      "no node \"n9\" is known to this controller",
		      "máy điều khiển không biết cụm loa \"%s\"", out);
	CHECK(rc == 0 && strcmp(out, "máy điều khiển không biết cụm loa \"n9\"") == 0,
	      "one %%s: \"%s\"", rc == 0 ? out : "(no match)");
	rc = reformat("%s may act only on zones %s; node %s is in zone %s",
		      "lan may act only on zones thon-1, thon-2; node n3 is in zone thon-3",
		      "%s chỉ được thao tác trên vùng %s; cụm loa %s thuộc vùng %s", out);
	CHECK(rc == 0 && strcmp(out, "lan chỉ được thao tác trên vùng thon-1, thon-2; "
				"cụm loa n3 thuộc vùng thon-3") == 0,
	      "four %%s, one with \"; \" and \", \" inside: \"%s\"", rc == 0 ? out : "-");
	rc = reformat("too many wrong passwords for %s: try again in %lld s",
		      "too many wrong passwords for admin: try again in 42 s",
		      "%s nhập sai quá nhiều lần: thử lại sau %lld giây", out);
	CHECK(rc == 0 && strcmp(out, "admin nhập sai quá nhiều lần: thử lại sau 42 giây") == 0,
	      "%%s and %%lld");
	rc = reformat("%s may see only zones %s, not %s", "lan may see only zones a, not b",
		      "%3$s: %1$s không được xem (chỉ %2$s)", out);
	CHECK(rc == 0 && strcmp(out, "b: lan không được xem (chỉ a)") == 0,
	      "positional %%2$s reorders: \"%s\"", rc == 0 ? out : "-");
	CHECK(reformat("try again in %lld s", "try again in soon s", "x %lld", out) == -ENOENT,
	      "%%lld matches digits only");
	CHECK(reformat("no broadcast %s", "no such broadcast", "x %s", out) == -ENOENT,
	      "another message does not match");
	CHECK(reformat("no broadcast %s", "no broadcast b-1 extra", "không có lượt phát %s", out) == 0 &&
	      strcmp(out, "không có lượt phát b-1 extra") == 0, "a trailing %%s takes the rest");
	CHECK(reformat("100%% of %s", "100% of n1", "100%% của %s", out) == 0 &&
	      strcmp(out, "100% của n1") == 0, "%%%% is a percent sign");
	CHECK(reformat("%s %s", "a b", "%s %s %s", out) == -EINVAL,
	      "a translation with more values than the text has: refused, not read past");
	CHECK(reformat("%p", "0x1", "%p", out) == -EINVAL, "unknown conversion: refused");
	CHECK(i18n_reformat("no broadcast %s", "no broadcast b-12345678", "lượt %s", small,
			    sizeof(small)) == -ENOSPC, "too small an output: -ENOSPC");
	CHECK(reformat("%s", "", "[%s]", out) == 0 && strcmp(out, "[]") == 0, "an empty value");
	TAP_EXIT();
}
