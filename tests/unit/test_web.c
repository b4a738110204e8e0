/*
 * test_web.c - the web console listener's pieces without a network
 * (controller/web.h, controller/sse.h):
 *   - file names: what a URL may name under web.root, and what is refused
 *     (.., hidden files, backslashes, //, odd characters);
 *   - opening: a real directory with files, a subdirectory, a FIFO and
 *     symlinks in and out of the root: only regular files beneath it with
 *     a known type are opened;
 *   - the CSRF token: derived from the session token, 64 hex digits,
 *     differs per session, checked in full (a prefix, another session's,
 *     upper case or nothing is refused);
 *   - the cookie header: its attributes, and the one that clears it;
 *   - the event ring: order, the "lost" flag once it wraps, Last-Event-ID.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "sse.h"
#include "tap.h"
#include "web.h"

static void test_names(void)
{
	static const char *const good[][2] = {
		{ "/", "index.html" },
		{ "/index.html", "index.html" },
		{ "/css/app.css", "css/app.css" },
		{ "/js/", "js/index.html" },
		{ "/i18n/vi.json", "i18n/vi.json" },
		{ "/a-b_c.1.js", "a-b_c.1.js" },
	};
	static const char *const bad[] = {
		"", "index.html", "/..", "/../x.html", "/css/../index.html", "/./index.html",
		"/.hidden", "/css/.x.css", "//etc/passwd", "/css//app.css", "/a\\..\\b.html",
		"/%2e%2e/x.html", "/x y.html", "/x\x01.html", "/\xc3\xa1.html", "/x?.html",
		"/x:.html",
	};
	char out[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(web_file_name(good[i][0], out, sizeof(out)) == 0 &&
		      strcmp(out, good[i][1]) == 0, "%s names %s", good[i][0], good[i][1]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(web_file_name(bad[i], out, sizeof(out)) == -ENOENT, "\"%s\" is refused",
		      bad[i]);
	CHECK(web_file_name("/aaaaaaaaaa.html", out, 8) == -ENOENT,
	      "a name longer than the buffer is refused, not cut");
}

static int mkfile(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static void test_open(void)
{
	char tmpl[] = "/tmp/loaxa-unit-web.XXXXXX", root[256], p[512], q[512];
	int made = 1;
	const char *type = NULL;
	uint64_t size = 0;
	char *dir = mkdtemp(tmpl);
	int rootfd, fd;

	CHECK(dir != NULL, "a temporary directory");
	if (!dir)
		return;
	snprintf(root, sizeof(root), "%.200s/www", dir);
	mkdir(root, 0755);
	snprintf(p, sizeof(p), "%s/css", root);
	mkdir(p, 0755);
	mkfile(root, "index.html", "<!doctype html>");
	mkfile(root, "css/app.css", "body{}");
	mkfile(root, "notes.xyz", "unknown type");
	mkfile(dir, "secret.txt", "outside");
	snprintf(p, sizeof(p), "%s/secret.txt", dir);
	snprintf(q, sizeof(q), "%s/abs.txt", root);
	made &= symlink(p, q) == 0;
	snprintf(q, sizeof(q), "%s/rel.txt", root);
	made &= symlink("../secret.txt", q) == 0;
	snprintf(q, sizeof(q), "%s/inside.css", root);
	made &= symlink("css/app.css", q) == 0;
	snprintf(q, sizeof(q), "%s/dir.html", root);
	mkdir(q, 0755);
	snprintf(q, sizeof(q), "%s/fifo.txt", root);
	made &= mkfifo(q, 0644) == 0;
	CHECK(made, "the symlinks and the FIFO are made");

	rootfd = web_root_open(root);
	CHECK(rootfd >= 0, "web_root_open %s", root);
	fd = web_open(rootfd, "/", &type, &size);
	CHECK(fd >= 0 && size == 15 && strcmp(type, "text/html; charset=utf-8") == 0,
	      "/ opens index.html as text/html");
	if (fd >= 0)
		close(fd);
	fd = web_open(rootfd, "/css/app.css", &type, &size);
	CHECK(fd >= 0 && strcmp(type, "text/css; charset=utf-8") == 0, "/css/app.css: text/css");
	if (fd >= 0)
		close(fd);
	fd = web_open(rootfd, "/inside.css", &type, &size);
	CHECK(fd >= 0 && size == 6, "a relative symlink that stays inside the root is followed");
	if (fd >= 0)
		close(fd);
	CHECK(web_open(rootfd, "/abs.txt", &type, &size) == -ENOENT,
	      "an absolute symlink out of the root is refused");
	CHECK(web_open(rootfd, "/rel.txt", &type, &size) == -ENOENT,
	      "a relative symlink out of the root (../) is refused");
	CHECK(web_open(rootfd, "/css", &type, &size) == -ENOENT,
	      "a directory is not served (no type, no listing)");
	CHECK(web_open(rootfd, "/dir.html", &type, &size) == -ENOENT,
	      "a directory named like a file is not served");
	CHECK(web_open(rootfd, "/fifo.txt", &type, &size) == -ENOENT,
	      "a FIFO is not served (and opening it does not block)");
	CHECK(web_open(rootfd, "/notes.xyz", &type, &size) == -ENOENT,
	      "a file of an unknown type is not served");
	CHECK(web_open(rootfd, "/missing.html", &type, &size) == -ENOENT, "a missing file: -ENOENT");
	CHECK(web_open(rootfd, "/../secret.txt", &type, &size) == -ENOENT, "/../secret.txt");
	if (rootfd >= 0)
		close(rootfd);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	if (system(p) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void test_csrf(void)
{
	char a[65], b[65], ca[WEB_CSRF_LEN], cb[WEB_CSRF_LEN], up[WEB_CSRF_LEN], hdr[512];
	size_t i;

	memset(a, 'a', 64);
	a[64] = '\0';
	memcpy(b, a, sizeof(a));
	b[63] = 'b';
	web_csrf_token(a, ca);
	web_csrf_token(b, cb);
	CHECK(strlen(ca) == 64 && strspn(ca, "0123456789abcdef") == 64, "the CSRF token is 64 hex");
	CHECK(strcmp(ca, cb) != 0, "one digit of the session changes its CSRF token");
	CHECK(strcmp(ca, a) != 0, "the CSRF token is not the session token");
	CHECK(web_csrf_ok(a, ca), "the session's own CSRF token passes");
	CHECK(!web_csrf_ok(a, cb), "another session's CSRF token is refused");
	CHECK(!web_csrf_ok(a, NULL) && !web_csrf_ok(NULL, ca), "no header, no session: refused");
	CHECK(!web_csrf_ok(a, ""), "an empty header is refused");
	memcpy(hdr, ca, 63);
	hdr[63] = '\0';
	CHECK(!web_csrf_ok(a, hdr), "a prefix (63 digits) is refused");
	snprintf(hdr, sizeof(hdr), "%s0", ca);
	CHECK(!web_csrf_ok(a, hdr), "the token with a digit more is refused");
	for (i = 0; i < 65; i++)
		up[i] = (char)(ca[i] >= 'a' && ca[i] <= 'f' ? ca[i] - 32 : ca[i]);
	CHECK(strcmp(up, ca) == 0 || !web_csrf_ok(a, up), "upper case is not the token");

	CHECK(web_cookie_header(hdr, sizeof(hdr), a, 28800) == 0 &&
	      strncmp(hdr, "session=aaaa", 12) == 0 && strstr(hdr, "; HttpOnly") &&
	      strstr(hdr, "; Secure") && strstr(hdr, "; SameSite=Strict") &&
	      strstr(hdr, "; Path=/") && strstr(hdr, "; Max-Age=28800"),
	      "the session cookie: %s", hdr);
	CHECK(web_cookie_header(hdr, sizeof(hdr), NULL, 0) == 0 &&
	      strncmp(hdr, "session=; ", 10) == 0 && strstr(hdr, "Max-Age=0"),
	      "the cookie that clears it: %s", hdr);
	CHECK(web_cookie_header(hdr, 40, a, 1) == -ENOSPC, "a cookie that does not fit: -ENOSPC");
	CHECK(web_is_api_url("/v1/nodes") && web_is_api_url("/v1/session") &&
	      web_is_api_url("/metrics") && !web_is_api_url("/") &&
	      !web_is_api_url("/v1x") && !web_is_api_url("/index.html"),
	      "API URLs and static URLs are told apart");
}

static void test_sse(void)
{
	struct sse_ring r;
	const struct sse_event *e;
	char buf[256], text[32];
	uint64_t first = 1000000, i;
	int lost = 0, ok = 1;

	sse_init(&r, first);
	CHECK(sse_last(&r) == first - 1 && !sse_next(&r, sse_last(&r), &lost),
	      "an empty ring has nothing to send");
	CHECK(sse_push(&r, "node", "n1", "{\"a\":1}") == 0, "push an event");
	e = sse_next(&r, first - 1, &lost);
	CHECK(e && e->seq == first && !lost && strcmp(e->node, "n1") == 0, "it comes next");
	CHECK(e && sse_format(e, buf, sizeof(buf)) > 0 &&
	      strcmp(buf, "id: 1000000\nevent: node\ndata: {\"a\":1}\n\n") == 0,
	      "formatted as SSE (id, event, data, blank line)");
	CHECK(e && sse_format(e, buf, 10) == 0, "a buffer too small: 0, nothing half-written");
	CHECK(sse_push(&r, "node", "n1", "{\"a\":\n1}") == -EINVAL,
	      "a newline in the data is refused (it would end the field)");
	CHECK(sse_push(&r, "a-kind-much-too-long", "", "{}") == -EINVAL, "a kind too long");
	for (i = 0; i < SSE_RING + 10; i++) {
		snprintf(text, sizeof(text), "{\"i\":%llu}", (unsigned long long)i);
		ok &= sse_push(&r, "play", "", text) == 0;
	}
	CHECK(ok, "push %d more", SSE_RING + 10);
	e = sse_next(&r, first, &lost);
	CHECK(e && lost && e->seq == sse_last(&r) - SSE_RING + 1,
	      "after a wrap, an old position is told it lost events and gets the oldest kept");
	e = sse_next(&r, sse_last(&r) - 1, &lost);
	CHECK(e && !lost && e->seq == sse_last(&r), "a recent position gets the next one");
	CHECK(!sse_next(&r, sse_last(&r), &lost), "the newest position waits");
	CHECK(sse_parse_last_id("1000005") == 1000005 && sse_parse_last_id(NULL) == 0 &&
	      sse_parse_last_id("") == 0 && sse_parse_last_id("12a") == 0 &&
	      sse_parse_last_id("-1") == 0 && sse_parse_last_id("99999999999999999999") == 0,
	      "Last-Event-ID parsing");
	sse_free(&r);
}

int main(void)
{
	log_init("test_web", 0);
	if (sodium_init() < 0)
		return 1;
	test_names();
	test_open();
	test_csrf();
	test_sse();
	TAP_EXIT();
}
