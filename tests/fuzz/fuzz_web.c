/*
 * fuzz_web.c - libFuzzer harness for what the web console's listener
 * reads from a browser (controller/web.c, controller/sse.c); byte 0 picks:
 *   0: web_file_name() of the URL path, then web_open() in a real root
 *      (files, a subdirectory, symlinks inside and out of it)
 *   1: web_csrf_ok() of an X-CSRF-Token header
 *   2: sse_parse_last_id() of a Last-Event-ID header, sse_push/format
 * Invariants checked with abort(): an accepted name has no empty, "." or
 * ".." component, no hidden file, only the allowed characters, and never
 * starts with '/'; a file web_open() opens lies beneath the root (its
 * /proc/self/fd link); only the session's own CSRF token passes; a
 * formatted event is one id line, one event line, one data line.
 */
// fuzz-sources: controller/web.c controller/sse.c
// fuzz-pkgs: libmicrohttpd
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "sse.h"
#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[256], top[64];
static int rootfd = -1;

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	if (top[0] && system(cmd) != 0)
		fprintf(stderr, "fuzz_web: could not remove %s\n", top);
}

static void put(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", root, name);
	f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void setup(void)
{
	char tmpl[] = "/tmp/fuzz-web.XXXXXX", p[512], q[512];
	char *d = mkdtemp(tmpl);

	if (!d)
		abort();
	snprintf(top, sizeof(top), "%s", d);
	atexit(cleanup);
	snprintf(root, sizeof(root), "%s/www", d);
	mkdir(root, 0755);
	snprintf(p, sizeof(p), "%s/css", root);
	mkdir(p, 0755);
	put("index.html", "<!doctype html>");
	put("css/app.css", "body{}");
	snprintf(p, sizeof(p), "%s/secret.txt", d);
	put("../secret.txt", "outside");
	snprintf(q, sizeof(q), "%s/abs.txt", root);
	if (symlink(p, q) < 0)
		abort();
	snprintf(q, sizeof(q), "%s/css/up.css", root);
	if (symlink("../../secret.txt", q) < 0)
		abort();
	snprintf(q, sizeof(q), "%s/in.html", root);
	if (symlink("index.html", q) < 0)
		abort();
	rootfd = web_root_open(root);
	if (rootfd < 0 || !realpath(root, root))
		abort();
}

static void check_name(const char *url)
{
	char out[256], link[64], real[4096];
	const char *type, *p;
	uint64_t fsize;
	ssize_t n;
	int fd;

	if (web_file_name(url, out, sizeof(out)) == 0) {
		if (out[0] == '/' || strstr(out, "//") || strchr(out, '\\'))
			abort();
		for (p = out; *p; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-' ||
			      *p == '/'))
				abort();
			if ((p == out || p[-1] == '/') && *p == '.')
				abort(); /* ".", "..", hidden */
		}
	}
	fd = web_open(rootfd, url, &type, &fsize);
	if (fd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, real, sizeof(real) - 1);
	close(fd);
	if (n < 0)
		abort();
	real[n] = '\0';
	if (strncmp(real, root, strlen(root)) != 0 || real[strlen(root)] != '/')
		abort(); /* a file outside web.root was opened */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char *s, tok[65], csrf[WEB_CSRF_LEN], buf[8192];
	struct sse_ring r;
	size_t i, lines;

	if (!ready) {
		log_init("fuzz", 0);
		if (sodium_init() < 0)
			abort();
		setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0'; /* a C string, as MHD hands them over */
	switch (data[0] % 3) {
	case 0:
		check_name(s);
		break;
	case 1:
		memset(tok, '7', 64);
		tok[64] = '\0';
		web_csrf_token(tok, csrf);
		if (web_csrf_ok(tok, s) != (strcmp(s, csrf) == 0))
			abort();
		break;
	case 2:
		(void)sse_parse_last_id(s);
		sse_init(&r, 1);
		if (sse_push(&r, "node", "n1", s) == 0) {
			if (strpbrk(s, "\r\n"))
				abort();
			lines = 0;
			if (sse_format(&r.ev[1], buf, sizeof(buf)) > 0) {
				for (i = 0; buf[i]; i++)
					lines += buf[i] == '\n';
				if (lines != 4)
					abort();
			}
		}
		sse_free(&r);
		break;
	}
	free(s);
	return 0;
}
