/*
 * test_util.c - common/util.c (atomic files, read limits, hex, names, ids)
 * and common/log.c (line format, journal prefix).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "log.h"
#include "tap.h"
#include "topic.h"
#include "util.h"

static char dir[256];

static void path_in(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static int count_entries(const char *d)
{
	char cmd[600];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", d);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void test_write_file_atomic(void)
{
	char path[1100], sub[512], longpath[PATH_MAX + 10];
	uint8_t *text = NULL;
	size_t len;
	struct stat st;
	mode_t old_umask;

	path_in(sub, sizeof(sub), "atomic");
	mkdir(sub, 0755);
	snprintf(path, sizeof(path), "%s/f", sub);
	CHECK(write_file_atomic(path, "hello", 5, 0640) == 0, "write_file_atomic writes a file");
	CHECK(read_file(path, 100, &text, &len) == 0 && len == 5 && memcmp(text, "hello", 6) == 0,
	      "write_file_atomic: content as written");
	free(text);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640, "write_file_atomic: mode 0640");
	old_umask = umask(077);
	CHECK(write_file_atomic(path, "bye", 3, 0644) == 0 && stat(path, &st) == 0 &&
		      (st.st_mode & 0777) == 0644,
	      "write_file_atomic: replaces the file, mode exact despite umask 077");
	umask(old_umask);
	CHECK(read_file(path, 100, &text, &len) == 0 && len == 3 && strcmp((char *)text, "bye") == 0,
	      "write_file_atomic: replaced content, no trace of the old");
	free(text);
	CHECK(count_entries(sub) == 1, "write_file_atomic: no temporary file left behind");
	CHECK(write_file_atomic(path, "", 0, 0600) == 0 && stat(path, &st) == 0 && st.st_size == 0,
	      "write_file_atomic: an empty file");
	snprintf(path, sizeof(path), "%s/missing/f", sub);
	CHECK(write_file_atomic(path, "x", 1, 0600) == -ENOENT,
	      "write_file_atomic: missing directory is ENOENT");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK(write_file_atomic(longpath, "x", 1, 0600) == -ENAMETOOLONG,
	      "write_file_atomic: overlong path is ENAMETOOLONG");
	snprintf(path, sizeof(path), "%s/f", sub);
	{
		/* A big file survives intact. */
		size_t n = 1 << 20, i;
		uint8_t *big = malloc(n);
		for (i = 0; i < n; i++)
			big[i] = (uint8_t)(i * 7);
		CHECK(write_file_atomic(path, big, n, 0600) == 0 &&
			      read_file(path, n, &text, &len) == 0 && len == n &&
			      memcmp(text, big, n) == 0,
		      "write_file_atomic: 1 MiB round trip");
		free(text);
		free(big);
	}
}

static void test_read_file(void)
{
	char path[512];
	uint8_t *text = NULL;
	size_t len = 99;

	path_in(path, sizeof(path), "r");
	write_file_atomic(path, "0123456789", 10, 0600);
	CHECK(read_file(path, 10, &text, &len) == 0 && len == 10 && text[10] == '\0',
	      "read_file: a file of exactly max bytes, NUL-terminated");
	free(text);
	text = (uint8_t *)"x";
	CHECK(read_file(path, 9, &text, &len) == -EFBIG && text == NULL && len == 0,
	      "read_file: one byte over max is EFBIG, outputs cleared");
	CHECK(read_file("/nonexistent/file", 10, &text, &len) == -ENOENT,
	      "read_file: missing file is ENOENT");
	CHECK(read_file(dir, 1 << 20, &text, &len) == -EINVAL,
	      "read_file: a directory is EINVAL");
	write_file_atomic(path, "", 0, 0600);
	CHECK(read_file(path, 0, &text, &len) == 0 && len == 0 && text && text[0] == '\0',
	      "read_file: empty file with max 0");
	free(text);
}

static void test_mkdir_p(void)
{
	char path[512], file[512];
	struct stat st;

	path_in(path, sizeof(path), "m/a/b/c");
	CHECK(mkdir_p(path, 0755) == 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode),
	      "mkdir_p: creates nested directories");
	CHECK(mkdir_p(path, 0755) == 0, "mkdir_p: existing directory is fine");
	path_in(path, sizeof(path), "m/a/b/c/");
	CHECK(mkdir_p(path, 0755) == 0, "mkdir_p: trailing slash");
	path_in(file, sizeof(file), "m/file");
	write_file_atomic(file, "x", 1, 0600);
	CHECK(mkdir_p(file, 0755) == -ENOTDIR, "mkdir_p: a file in the way is ENOTDIR");
	path_in(path, sizeof(path), "m/file/sub");
	CHECK(mkdir_p(path, 0755) == -ENOTDIR, "mkdir_p: a file as a parent is ENOTDIR");
	CHECK(mkdir_p("", 0755) == -EINVAL, "mkdir_p: empty path is EINVAL");
}

static void test_hex(void)
{
	uint8_t in[256], out[256];
	char hex[513];
	int i;

	for (i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	hex_encode(hex, in, sizeof(in));
	CHECK(strlen(hex) == 512 && strncmp(hex, "000102", 6) == 0 &&
		      strcmp(hex + 506, "fdfeff") == 0,
	      "hex_encode: lowercase, 2 digits per byte");
	CHECK(hex_decode(out, sizeof(out), hex) == 0 && memcmp(in, out, sizeof(in)) == 0,
	      "hex_decode: round trip of all byte values");
	CHECK(hex_decode(out, 2, "ABcd") == 0 && out[0] == 0xab && out[1] == 0xcd,
	      "hex_decode: upper case accepted");
	CHECK(hex_decode(out, 2, "abc") == -EINVAL, "hex_decode: odd length rejected");
	CHECK(hex_decode(out, 2, "abcdef") == -EINVAL, "hex_decode: too long rejected");
	CHECK(hex_decode(out, 2, "abcg") == -EINVAL, "hex_decode: non-hex rejected");
	CHECK(hex_decode(out, 2, "ab c") == -EINVAL, "hex_decode: space rejected");
	CHECK(hex_decode(out, 0, "") == 0, "hex_decode: zero bytes from empty string");
	hex_encode(hex, in, 0);
	CHECK(hex[0] == '\0', "hex_encode: zero bytes gives empty string");
}

static void test_content_id(void)
{
	char id[80];

	memset(id, 'a', 64);
	id[64] = '\0';
	CHECK(content_id_valid(id), "content_id_valid: 64 lowercase hex");
	memcpy(id, "0123456789", 10);
	CHECK(content_id_valid(id), "content_id_valid: digits and letters");
	id[5] = 'A';
	CHECK(!content_id_valid(id), "content_id_valid: upper case rejected");
	id[5] = 'g';
	CHECK(!content_id_valid(id), "content_id_valid: non-hex rejected");
	id[5] = 'a';
	id[63] = '\0';
	CHECK(!content_id_valid(id), "content_id_valid: 63 digits rejected");
	id[63] = 'a';
	id[64] = 'a';
	id[65] = '\0';
	CHECK(!content_id_valid(id), "content_id_valid: 65 digits rejected");
	CHECK(!content_id_valid(""), "content_id_valid: empty rejected");
	CHECK(!content_id_valid("../../etc/passwd"), "content_id_valid: a path rejected");
	CHECK(!content_id_valid(NULL), "content_id_valid: NULL rejected");
}

static void test_sha256_file(void)
{
	char path[512], out[CONTENT_ID_LEN + 1];

	path_in(path, sizeof(path), "abc");
	write_file_atomic(path, "abc", 3, 0600);
	CHECK(sha256_file_hex(path, out) == 0 &&
		      strcmp(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
	      "sha256_file_hex: FIPS 180-2 vector \"abc\"");
	CHECK(content_id_valid(out), "sha256_file_hex: result is a valid content id");
	write_file_atomic(path, "", 0, 0600);
	CHECK(sha256_file_hex(path, out) == 0 &&
		      strcmp(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0,
	      "sha256_file_hex: empty file");
	CHECK(sha256_file_hex("/nonexistent/x", out) == -ENOENT, "sha256_file_hex: missing file");
}

static void test_names(void)
{
	char name[40];

	CHECK(name_valid("a") && name_valid("n1") && name_valid("thon-1") &&
		      name_valid("x_y") && name_valid("0abc") && name_valid("xa-demo"),
	      "name_valid: ordinary names");
	memset(name, 'a', 31);
	name[31] = '\0';
	CHECK(name_valid(name), "name_valid: 31 characters");
	name[31] = 'a';
	name[32] = '\0';
	CHECK(!name_valid(name), "name_valid: 32 characters rejected");
	CHECK(!name_valid(""), "name_valid: empty rejected");
	CHECK(!name_valid("-a") && !name_valid("_a"), "name_valid: must start with a letter or digit");
	CHECK(!name_valid("A") && !name_valid("aB"), "name_valid: upper case rejected");
	CHECK(!name_valid("a b") && !name_valid("a.b") && !name_valid("a/b") &&
		      !name_valid("a+") && !name_valid("a#"),
	      "name_valid: MQTT-unsafe and other characters rejected");
	CHECK(!name_valid("th\xc3\xb4n"), "name_valid: non-ASCII rejected");
	CHECK(!name_valid(NULL), "name_valid: NULL rejected");
}

static void test_str_copy(void)
{
	char buf[4];

	CHECK(str_copy(buf, sizeof(buf), "abc") == 0 && strcmp(buf, "abc") == 0,
	      "str_copy: exact fit");
	CHECK(str_copy(buf, sizeof(buf), "abcd") == -ENAMETOOLONG && buf[0] == '\0',
	      "str_copy: too long is ENAMETOOLONG and leaves an empty string");
	CHECK(str_copy(buf, sizeof(buf), "") == 0 && buf[0] == '\0', "str_copy: empty");
}

static void test_clocks(void)
{
	int64_t a = mono_ms(), b, ua = mono_us(), ub;

	CHECK(now_ms() > 1700000000000LL, "now_ms: after 2023");
	b = mono_ms();
	ub = mono_us();
	CHECK(b >= a && ub >= ua, "mono clocks do not go backwards");
	CHECK(ub / 1000 - b <= 1 && ub / 1000 - b >= -1, "mono_us agrees with mono_ms");
}

static void test_fsync_dir(void)
{
	char path[512];

	path_in(path, sizeof(path), "abc");
	CHECK(fsync_dir_of(path) == 0, "fsync_dir_of: a file in a directory");
	CHECK(fsync_dir_of("/etc") == 0, "fsync_dir_of: a file in /");
	CHECK(fsync_dir_of("relative-file") == 0, "fsync_dir_of: a relative name (cwd)");
	CHECK(fsync_dir_of("/nonexistent/x") == -ENOENT, "fsync_dir_of: missing directory");
}

static void test_log(void)
{
	const char *out;
	char js[64], big[3000];
	struct stat st;

	unsetenv("JOURNAL_STREAM");
	log_init("loaxa-test", 0);
	capture_begin();
	log_info("hello %d", 42);
	log_warnx("careful");
	log_errorx("broken");
	log_debug("hidden");
	errno = ENOENT;
	log_warn("open %s", "x");
	out = capture_end();
	CHECK(strstr(out, "loaxa-test: hello 42\n") != NULL, "log_info: \"prog: message\"");
	CHECK(strstr(out, "loaxa-test: warning: careful\n") != NULL, "log_warnx: warning prefix");
	CHECK(strstr(out, "loaxa-test: error: broken\n") != NULL, "log_errorx: error prefix");
	CHECK(strstr(out, "hidden") == NULL, "log_debug: silent unless verbose");
	CHECK(strstr(out, "warning: open x: No such file or directory\n") != NULL,
	      "log_warn: appends strerror(errno)");
	CHECK(out[2] == ':' && out[5] == ':' && out[8] == '.', "terminal lines start with HH:MM:SS.mmm");

	log_init("loaxa-test", 1);
	capture_begin();
	log_debug("shown");
	out = capture_end();
	CHECK(strstr(out, "debug: shown\n") != NULL && log_verbose() == 1, "log_debug: shown with -v");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_begin();
	log_info("%s", big);
	log_info("after");
	out = capture_end();
	CHECK(strstr(out, "x\n") != NULL && strstr(out, "loaxa-test: after\n") != NULL,
	      "an overlong message is cut but still ends its line");

	/* JOURNAL_STREAM naming some other stream: plain lines, no "<N>". */
	setenv("JOURNAL_STREAM", "1:1", 1);
	capture_begin();
	log_init("loaxa-test", 0);
	log_warnx("inherited");
	out = capture_end();
	CHECK(strncmp(out, "<4>", 3) != 0 && strstr(out, "warning: inherited") != NULL,
	      "JOURNAL_STREAM of another stream is ignored");
	/* JOURNAL_STREAM naming our stderr: "<N>" priority prefix. */
	capture_begin();
	fstat(2, &st);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init("loaxa-test", 0);
	log_warnx("journal");
	log_errorx("journal error");
	out = capture_end();
	CHECK(strstr(out, "<4>warning: journal\n") != NULL && strstr(out, "<3>error: journal error\n"),
	      "JOURNAL_STREAM of our stderr: journald priority prefixes");
	unsetenv("JOURNAL_STREAM");
	log_init("loaxa-test", 0);
}

static void cleanup_dir(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* topic.h: every topic built and parsed in one place; names never widen it. */
static void test_topics(void)
{
	struct topic_parts t;
	char buf[TOPIC_MAX], root[TOPIC_ROOT_MAX];
	static const enum topic_leaf leaves[] = { LEAF_CMD, LEAF_PLAN, LEAF_CONTENT, LEAF_LIVE,
						  LEAF_KEY, LEAF_STATUS, LEAF_EVENT, LEAF_FETCH,
						  LEAF_PING, LEAF_PONG };
	size_t i;
	int round = 1;

	CHECK(topic_root(root, sizeof(root), "xa-test") == 0 &&
	      strcmp(root, "loaxa/xa-test") == 0, "root: loaxa/<site>");
	CHECK(topic_node(buf, sizeof(buf), root, "n1", LEAF_PING) == 0 &&
	      strcmp(buf, "loaxa/xa-test/node/n1/time/ping") == 0, "node topic: %s", buf);
	CHECK(topic_zone(buf, sizeof(buf), root, "all", LEAF_KEY) == 0 &&
	      strcmp(buf, "loaxa/xa-test/zone/all/key") == 0, "zone topic: %s", buf);
	CHECK(topic_node(buf, sizeof(buf), root, "+", LEAF_STATUS) == 0 &&
	      strcmp(buf, "loaxa/xa-test/node/+/status") == 0, "subscription pattern: %s", buf);
	CHECK(topic_node(buf, 20, root, "n1", LEAF_CMD) == -ENAMETOOLONG,
	      "a topic that does not fit is an error, not a cut topic");
	for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		topic_zone(buf, sizeof(buf), root, "thon-1", leaves[i]);
		if (topic_parse(root, buf, &t) != 0 || t.node || strcmp(t.name, "thon-1") ||
		    t.leaf != leaves[i])
			round = 0;
		topic_node(buf, sizeof(buf), root, "n-2", leaves[i]);
		if (topic_parse(root, buf, &t) != 0 || !t.node || strcmp(t.name, "n-2") ||
		    t.leaf != leaves[i])
			round = 0;
	}
	CHECK(round, "every leaf, node and zone: built topics parse back to their parts");
	CHECK(topic_parse(root, "loaxa/other/node/n1/status", &t) == -ENOENT,
	      "another site's topic is not ours");
	CHECK(topic_parse(root, "loaxa/xa-test-2/node/n1/status", &t) == -ENOENT,
	      "a site whose name starts with ours is not ours");
	CHECK(topic_parse(root, "loaxa/xa-test/node/n1/whatever", &t) == -ENOENT,
	      "an unknown leaf is refused");
	CHECK(topic_parse(root, "loaxa/xa-test/node/n1/status/x", &t) == -ENOENT,
	      "a longer topic is refused");
	CHECK(topic_parse(root, "loaxa/xa-test/node/N1!/status", &t) == -EINVAL &&
	      strcmp(t.name, "N1!") == 0, "an invalid node name: -EINVAL, the name kept for "
	      "the message");
	CHECK(topic_parse(root, "loaxa/xa-test/node/+/status", &t) == -EINVAL &&
	      topic_parse(root, "loaxa/xa-test/zone/#/cmd", &t) == -EINVAL,
	      "wildcards are not names");
	CHECK(topic_parse(root, "loaxa/xa-test/node//status", &t) == -EINVAL,
	      "an empty name is refused");
	CHECK(topic_parse(root, "loaxa/xa-test/group/g1/cmd", &t) == -ENOENT,
	      "neither node/ nor zone/: refused");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/loaxa-test-util-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_write_file_atomic();
	test_read_file();
	test_mkdir_p();
	test_hex();
	test_content_id();
	test_sha256_file();
	test_names();
	test_str_copy();
	test_clocks();
	test_fsync_dir();
	test_log();
	test_topics();
	cleanup_dir();
	TAP_EXIT();
}
