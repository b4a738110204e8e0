/*
 * test_config.c - common/config.c: values, defaults, ranges, string lists,
 * unknown fields, and error lines that name file:line: field "x"; the
 * controller's capture devices (controller.cfg: capture = { NAME = "pcm"; }).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "ctlcfg.h"
#include "log.h"
#include "tap.h"
#include "util.h"

static char dir[256];
static char path[512];

/* Write text as the config file under test and load it. */
static int load(struct cfg *cfg, const char *text)
{
	write_file_atomic(path, text, strlen(text), 0600);
	return cfg_load(cfg, path);
}

/* Does the captured text hold "<path>:<line>: field "<field>": <msg...>"? */
static int names(const char *err, int line, const char *field, const char *msg)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s:%d: field \"%s\": %s", path, line, field, msg);
	return strstr(err, want) != NULL;
}

static const char good[] =
	"site = \"xa-demo\";\n"                                   /* 1 */
	"node = \"n1\";\n"                                        /* 2 */
	"zones = [\"thon-1\", \"thon-2\"];\n"                     /* 3 */
	"mqtt = {\n"                                              /* 4 */
	"  host = \"127.0.0.1\";\n"                               /* 5 */
	"  port = 1883;\n"                                        /* 6 */
	"  big = 5000000000L;\n"                                  /* 7 */
	"};\n"                                                    /* 8 */
	"import = { target_lufs = -16.0; true_peak_dbtp = -1; };\n" /* 9 */
	"debug = true;\n"                                         /* 10 */
	"empty = [];\n"                                           /* 11 */
	"list = (\"a\", \"b\");\n";                               /* 12 */

static void test_values(void)
{
	struct cfg cfg;
	char s[64];
	long long i;
	double d;
	int b;
	char list[4][32];
	size_t n;

	CHECK(load(&cfg, good) == 0, "a valid file loads");
	CHECK(cfg_string(&cfg, "site", CFG_REQUIRED, NULL, s, sizeof(s)) == 0 &&
		      strcmp(s, "xa-demo") == 0,
	      "cfg_string: value");
	CHECK(cfg_string(&cfg, "mqtt.host", CFG_REQUIRED, NULL, s, sizeof(s)) == 0 &&
		      strcmp(s, "127.0.0.1") == 0,
	      "cfg_string: dotted path");
	CHECK(cfg_string(&cfg, "mqtt.username", CFG_OPTIONAL, "anon", s, sizeof(s)) == 1 &&
		      strcmp(s, "anon") == 0,
	      "cfg_string: absent optional gives the default and 1");
	CHECK(cfg_string(&cfg, "mqtt.password", CFG_OPTIONAL, NULL, s, sizeof(s)) == 1 &&
		      s[0] == '\0',
	      "cfg_string: NULL default gives an empty string");
	CHECK(cfg_int(&cfg, "mqtt.port", CFG_REQUIRED, 0, 1, 65535, &i) == 0 && i == 1883,
	      "cfg_int: value");
	CHECK(cfg_int(&cfg, "mqtt.keepalive", CFG_OPTIONAL, 30, 5, 600, &i) == 1 && i == 30,
	      "cfg_int: absent optional gives the default");
	CHECK(cfg_int(&cfg, "mqtt.big", CFG_REQUIRED, 0, 0, 10000000000LL, &i) == 0 &&
		      i == 5000000000LL,
	      "cfg_int: 64-bit value");
	CHECK(cfg_double(&cfg, "import.target_lufs", CFG_REQUIRED, 0, -70, 0, &d) == 0 && d == -16.0,
	      "cfg_double: value");
	CHECK(cfg_double(&cfg, "import.true_peak_dbtp", CFG_REQUIRED, 0, -10, 0, &d) == 0 &&
		      d == -1.0,
	      "cfg_double: an integer is a number too");
	CHECK(cfg_double(&cfg, "import.x", CFG_OPTIONAL, 2.5, 0, 10, &d) == 1 && d == 2.5,
	      "cfg_double: default");
	CHECK(cfg_bool(&cfg, "debug", CFG_REQUIRED, 0, &b) == 0 && b == 1, "cfg_bool: value");
	CHECK(cfg_bool(&cfg, "quiet", CFG_OPTIONAL, 1, &b) == 1 && b == 1, "cfg_bool: default");
	CHECK(cfg_string_list(&cfg, "zones", CFG_REQUIRED, list, 4, &n) == 0 && n == 2 &&
		      strcmp(list[0], "thon-1") == 0 && strcmp(list[1], "thon-2") == 0,
	      "cfg_string_list: array of strings");
	CHECK(cfg_string_list(&cfg, "list", CFG_REQUIRED, list, 4, &n) == 0 && n == 2 &&
		      strcmp(list[1], "b") == 0,
	      "cfg_string_list: a ( ) list works too");
	CHECK(cfg_string_list(&cfg, "empty", CFG_REQUIRED, list, 4, &n) == 0 && n == 0,
	      "cfg_string_list: empty array");
	CHECK(cfg_string_list(&cfg, "other", CFG_OPTIONAL, list, 4, &n) == 1 && n == 0,
	      "cfg_string_list: absent optional gives 1 and no entries");
	CHECK(cfg.errors == 0, "no errors counted for good values");
	cfg_free(&cfg);
}

static void test_errors(void)
{
	struct cfg cfg;
	char s[8];
	long long i;
	double d;
	int b;
	char list[1][32];
	size_t n;
	const char *err;

	CHECK(load(&cfg, good) == 0, "reload the valid file");
	capture_begin();
	CHECK(cfg_string(&cfg, "missing", CFG_REQUIRED, NULL, s, sizeof(s)) == -EINVAL,
	      "cfg_string: required but absent is EINVAL");
	CHECK(cfg_string(&cfg, "mqtt.port", CFG_REQUIRED, NULL, s, sizeof(s)) == -EINVAL,
	      "cfg_string: a number is not a string");
	CHECK(cfg_string(&cfg, "site", CFG_REQUIRED, NULL, s, 4) == -EINVAL,
	      "cfg_string: too long for the buffer");
	CHECK(cfg_int(&cfg, "mqtt.port", CFG_REQUIRED, 0, 1, 1000, &i) == -EINVAL,
	      "cfg_int: above the range");
	CHECK(cfg_int(&cfg, "mqtt.port", CFG_REQUIRED, 0, 2000, 3000, &i) == -EINVAL,
	      "cfg_int: below the range");
	CHECK(cfg_int(&cfg, "import.target_lufs", CFG_REQUIRED, 0, -100, 100, &i) == -EINVAL,
	      "cfg_int: a float is not a whole number");
	CHECK(cfg_int(&cfg, "site", CFG_REQUIRED, 0, 0, 1, &i) == -EINVAL,
	      "cfg_int: a string is not a number");
	CHECK(cfg_double(&cfg, "import.target_lufs", CFG_REQUIRED, 0, -10, 0, &d) == -EINVAL,
	      "cfg_double: out of range");
	CHECK(cfg_double(&cfg, "site", CFG_REQUIRED, 0, -10, 0, &d) == -EINVAL,
	      "cfg_double: a string is not a number");
	CHECK(cfg_bool(&cfg, "site", CFG_REQUIRED, 0, &b) == -EINVAL,
	      "cfg_bool: a string is not a boolean");
	CHECK(cfg_string_list(&cfg, "zones", CFG_REQUIRED, list, 1, &n) == -EINVAL && n == 0,
	      "cfg_string_list: more entries than allowed");
	CHECK(cfg_string_list(&cfg, "site", CFG_REQUIRED, list, 1, &n) == -EINVAL,
	      "cfg_string_list: a string is not a list");
	CHECK(cfg_string_list(&cfg, "mqtt", CFG_REQUIRED, list, 1, &n) == -EINVAL,
	      "cfg_string_list: a group is not a list");
	CHECK(cfg_string_list(&cfg, "nolist", CFG_REQUIRED, list, 1, &n) == -EINVAL,
	      "cfg_string_list: required but absent");
	cfg_error(&cfg, "node", "custom complaint %d", 7);
	err = capture_end();
	CHECK(strstr(err, path) && strstr(err, "field \"missing\": is required but missing"),
	      "error: a missing field is named (no line to give)");
	CHECK(names(err, 6, "mqtt.port", "must be a string"), "error: wrong type names file:6: field");
	CHECK(names(err, 1, "site", "is too long (at most 3 characters)"),
	      "error: too long names file:1 and the limit");
	CHECK(names(err, 6, "mqtt.port", "must be between 1 and 1000 (got 1883)"),
	      "error: range names file:line: field, the range and the value");
	CHECK(names(err, 6, "mqtt.port", "must be between 2000 and 3000 (got 1883)"),
	      "error: below the range likewise");
	CHECK(names(err, 9, "import.target_lufs", "must be a whole number"),
	      "error: whole number names line 9");
	CHECK(names(err, 9, "import.target_lufs", "must be between -10 and 0 (got -16)"),
	      "error: double range");
	CHECK(names(err, 1, "site", "must be true or false"), "error: boolean");
	CHECK(names(err, 3, "zones", "has 2 entries, at most 1 allowed"), "error: list too long");
	CHECK(names(err, 4, "mqtt", "must be a list of strings"), "error: group is not a list");
	CHECK(names(err, 2, "node", "custom complaint 7"), "cfg_error: file:line: field: message");
	CHECK(cfg.errors == 15, "every error is counted (%d)", cfg.errors);
	cfg_free(&cfg);

	CHECK(load(&cfg, "zones = [\"ok\", \"0123456789012345678901234567890123\"];\n"
			 "z2 = (\"a\", 5);\n") == 0,
	      "load lists with bad entries");
	{
		char l2[4][32];
		capture_begin();
		CHECK(cfg_string_list(&cfg, "zones", CFG_REQUIRED, l2, 4, &n) == -EINVAL && n == 0,
		      "cfg_string_list: a 34-character entry is rejected");
		CHECK(cfg_string_list(&cfg, "z2", CFG_REQUIRED, l2, 4, &n) == -EINVAL,
		      "cfg_string_list: a number in a list is rejected");
		err = capture_end();
		CHECK(names(err, 1, "zones", "entry 2 must be a string of at most 31 characters"),
		      "error: names the bad entry");
		CHECK(names(err, 2, "z2", "entry 2 must be a string"), "error: names the non-string entry");
	}
	cfg_free(&cfg);
}

static void test_unknown(void)
{
	static const char *const known[] = {"site", "node", "zones", "mqtt", "mqtt.host",
					    "mqtt.port", "mqtt.big", "import",
					    "import.target_lufs", "import.true_peak_dbtp",
					    "debug", "empty", "list", NULL};
	struct cfg cfg;
	const char *err;

	CHECK(load(&cfg, good) == 0, "load for unknown-field checks");
	CHECK(cfg_reject_unknown(&cfg, known) == 0 && cfg.errors == 0,
	      "cfg_reject_unknown: every field known");
	cfg_free(&cfg);

	CHECK(load(&cfg, "site = \"x\";\nsitee = \"y\";\nmqtt = {\n  host = \"h\";\n  hots = \"h\";\n};\n"
			 "extra = { a = 1; };\n") == 0,
	      "load a file with typos");
	capture_begin();
	CHECK(cfg_reject_unknown(&cfg, known) == -EINVAL, "cfg_reject_unknown: typos are EINVAL");
	err = capture_end();
	CHECK(names(err, 2, "sitee", "unknown field"), "unknown top-level field names file:2");
	CHECK(names(err, 5, "mqtt.hots", "unknown field"), "unknown nested field names file:5 and its path");
	CHECK(names(err, 7, "extra", "unknown field"), "unknown group named once");
	CHECK(strstr(err, "extra.a") == NULL, "fields inside an unknown group are not reported again");
	CHECK(cfg.errors == 3, "three unknown fields counted (%d)", cfg.errors);
	cfg_free(&cfg);
}

static void test_load_errors(void)
{
	struct cfg cfg;
	const char *err;
	char want[600];
	int rc;

	capture_begin();
	rc = load(&cfg, "site = \"x\";\nport = ;\n");
	err = capture_end();
	snprintf(want, sizeof(want), "%s:2: ", path);
	CHECK(rc == -EINVAL && strstr(err, want), "syntax error names file:2");
	CHECK(cfg.errors == 1, "syntax error counted");
	cfg_free(&cfg); /* harmless after a failed load */

	capture_begin();
	rc = load(&cfg, "site = \"x\";\nsite = \"y\";\n");
	err = capture_end();
	CHECK(rc == -EINVAL && strstr(err, want), "duplicate field names file:2");

	capture_begin();
	rc = cfg_load(&cfg, "/nonexistent/loaxa.cfg");
	err = capture_end();
	CHECK(rc == -EINVAL && strstr(err, "/nonexistent/loaxa.cfg: cannot read the file: No such file"),
	      "missing file: says it cannot read it, and why");
	cfg_free(&cfg);

	capture_begin();
	rc = cfg_load(&cfg, dir);
	err = capture_end();
	CHECK(rc == -EINVAL && strstr(err, dir) && strstr(err, "Is a directory"),
	      "a directory as config file is an error naming it");

	{
		char inc[600], text[800], want2[700];
		snprintf(inc, sizeof(inc), "%s/inc.cfg", dir);
		write_file_atomic(inc, "a = 1;\nb = ;\n", 13, 0600);
		snprintf(text, sizeof(text), "x = 1;\n@include \"%s\"\n", inc);
		capture_begin();
		rc = load(&cfg, text);
		err = capture_end();
		snprintf(want2, sizeof(want2), "%s:2: ", inc);
		CHECK(rc == -EINVAL && strstr(err, want2),
		      "an error in an included file names that file and line");
	}

	CHECK(load(&cfg, "") == 0, "an empty file loads (everything absent)");
	cfg_free(&cfg);
}

/* controller.cfg with capture as its 2nd line on (and, after it, the plain
 * test broker allowed: mqtt.insecure, docs/security.md). */
static int load_ctl(struct ctl_config *c, const char *capture, const char **err)
{
	char text[1024];
	int rc;

	snprintf(text, sizeof(text), "site = \"xa-test\";\n%smqtt = { insecure = true; };\n",
		 capture);
	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = ctl_config_load(c, path);
	*err = capture_end();
	return rc;
}

static void test_ctl_capture(void)
{
	static struct ctl_config c;
	const char *err, *pcm;
	char why[1024];
	int rc;

	rc = load_ctl(&c, "capture = {\n  mic = \"hw:1,0\";\n  vov = \"plughw:2,0\";\n};\n",
		      &err);
	CHECK(rc == 0 && c.capture.n == 2 && strcmp(c.capture.dev[0].name, "mic") == 0 &&
	      strcmp(c.capture.dev[0].pcm, "hw:1,0") == 0 &&
	      strcmp(c.capture.dev[1].name, "vov") == 0 &&
	      strcmp(c.capture.dev[1].pcm, "plughw:2,0") == 0,
	      "capture = { mic; vov; } loads two devices, in file order");
	pcm = ctl_capture_pcm(&c, "device", "vov", why, sizeof(why));
	CHECK(pcm && strcmp(pcm, "plughw:2,0") == 0, "a name maps to its ALSA string");
	pcm = ctl_capture_pcm(&c, "device", "file:'|touch /tmp/x'", why, sizeof(why));
	CHECK(!pcm && strcmp(why, "device: \"file:'|touch /tmp/x'\" is not a capture device "
			     "named in controller.cfg (capture = { ... }); known: mic, vov") == 0,
	      "an ALSA string is not a name: refused, naming the field and the known names "
	      "(%s)", why);
	CHECK(!ctl_capture_pcm(&c, "device", "hw:1,0", why, sizeof(why)),
	      "a configured ALSA string is not a name either");
	CHECK(!ctl_capture_pcm(&c, "device", "MIC", why, sizeof(why)) &&
	      !ctl_capture_pcm(&c, "device", "", why, sizeof(why)) &&
	      !ctl_capture_pcm(&c, "device", NULL, why, sizeof(why)),
	      "names match exactly; empty and absent names are refused");

	rc = load_ctl(&c, "", &err);
	CHECK(rc == 0 && c.capture.n == 0, "no capture group: no capture device");
	CHECK(!ctl_capture_pcm(&c, "device", "default", why, sizeof(why)) &&
	      strstr(why, "known: none (controller.cfg has no capture group)"),
	      "without the group even \"default\" is refused, saying why (%s)", why);

	rc = load_ctl(&c, "capture = {\n  mic = \"hw:1\";\n  mic = \"hw:2\";\n};\n", &err);
	snprintf(why, sizeof(why), "%s:4: ", path);
	CHECK(rc == -EINVAL && strstr(err, why), "a name given twice is an error at its line");

	rc = load_ctl(&c, "capture = {\n  Mic = \"hw:1\";\n  ok = \"hw:2\";\n};\n", &err);
	CHECK(rc == -EINVAL && names(err, 3, "capture.Mic", "\"Mic\" is not a capture device "
				     "name: use 1 to 31 characters of a-z"),
	      "a name that is not a-z0-9-_ is an error naming file:line and the field");

	rc = load_ctl(&c, "capture = {\n  mic = \"\";\n  vov = 2;\n  x = { a = \"hw:1\"; };\n"
		      "};\n", &err);
	CHECK(rc == -EINVAL && names(err, 3, "capture.mic", "must be an ALSA capture device") &&
	      names(err, 4, "capture.vov", "must be an ALSA capture device") &&
	      names(err, 5, "capture.x", "must be an ALSA capture device"),
	      "empty, a number, a group: each an error naming its field");

	rc = load_ctl(&c, "capture = \"hw:1\";\n", &err);
	CHECK(rc == -EINVAL && names(err, 2, "capture", "must be a group"),
	      "capture as a string is an error");
	rc = load_ctl(&c, "captur = { mic = \"hw:1\"; };\n", &err);
	CHECK(rc == -EINVAL && names(err, 2, "captur", "unknown field"),
	      "a typo of the group is an unknown field");
}

/* issue 14 point 7: TLS and an account, or mqtt.insecure said out loud */
static int load_ctl_raw(struct ctl_config *c, const char *text, const char **err)
{
	int rc;

	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = ctl_config_load(c, path);
	*err = capture_end();
	return rc;
}

static void test_ctl_mqtt_secure(void)
{
	static struct ctl_config c;
	char ca[600], text[2048];
	const char *err;
	int rc;

	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	write_file_atomic(ca, "not checked here\n", 17, 0644);
	rc = load_ctl_raw(&c, "site = \"xa-test\";\nmqtt = { host = \"h\"; };\n", &err);
	CHECK(rc == -EINVAL && strstr(err, "field \"mqtt.cafile\": is not set: MQTT without TLS "
				      "is refused") &&
	      strstr(err, "field \"mqtt.username\": is not set: anonymous MQTT is refused") &&
	      strstr(err, "mqtt.insecure = true"),
	      "plaintext anonymous MQTT is refused, naming both fields and the setting");
	snprintf(text, sizeof(text), "site = \"xa-test\";\nmqtt = { cafile = \"%s\"; };\n", ca);
	rc = load_ctl_raw(&c, text, &err);
	CHECK(rc == -EINVAL && strstr(err, "\"mqtt.username\": is not set") &&
	      !strstr(err, "\"mqtt.cafile\""), "TLS but anonymous: refused, naming mqtt.username");
	snprintf(text, sizeof(text), "site = \"xa-test\";\nmqtt = { cafile = \"%s\"; "
		 "username = \"controller\"; password = \"pw\"; };\n", ca);
	rc = load_ctl_raw(&c, text, &err);
	CHECK(rc == 0 && !c.mqtt.insecure && !strstr(err, "insecure"),
	      "TLS and an account: loads, no warning");
	rc = load_ctl_raw(&c, "site = \"xa-test\";\nmqtt = { insecure = true; };\n", &err);
	CHECK(rc == 0 && c.mqtt.insecure &&
	      strstr(err, "warning: ") && strstr(err, "mqtt.insecure = true: the link to the "
						     "broker 127.0.0.1:1883 is plaintext"),
	      "mqtt.insecure = true: loads, with a warning (%s)", err);
	rc = load_ctl_raw(&c, "site = \"xa-test\";\nmqtt = { insecure = 1; };\n", &err);
	CHECK(rc == -EINVAL && names(err, 2, "mqtt.insecure", "must be true or false"),
	      "mqtt.insecure must be a boolean");
}

/*
 * cfg_mqtt_load: the one reader of the mqtt group (controller and node):
 * relative paths from the file's directory, the password from its own file,
 * and the conflicts named.
 */
static void test_mqtt_load(void)
{
	struct cfg cfg;
	struct cfg_mqtt m;
	char text[1024], pw[600], want[700];
	const char *err;
	int rc;

	snprintf(pw, sizeof(pw), "%s/broker.pw", dir);
	write_file_atomic(pw, "s3cret\n", 7, 0600);
	snprintf(want, sizeof(want), "%s/ca.crt", dir);
	write_file_atomic(want, "x\n", 2, 0644);
	snprintf(text, sizeof(text), "mqtt = { host = \"broker.lan\"; port = 8883; cafile = "
		 "\"ca.crt\"; username = \"n1\"; password_file = \"broker.pw\"; };\n");
	CHECK(load(&cfg, text) == 0, "a config with a relative cafile loads");
	capture_begin();
	rc = cfg_mqtt_load(&cfg, dir, &m);
	err = capture_end();
	CHECK(rc == 0 && strcmp(m.cafile, want) == 0 && strcmp(m.password, "s3cret") == 0 &&
	      m.port == 8883 && m.keepalive == 30 && strcmp(m.host, "broker.lan") == 0 &&
	      !m.insecure, "relative cafile from the file's directory, the password read "
	      "from password_file, defaults kept (%s, %s)", m.cafile, err);
	cfg_free(&cfg);

	CHECK(load(&cfg, "mqtt = { cafile = \"ca.crt\"; username = \"n1\"; password = \"a\";\n"
		   "  password_file = \"broker.pw\"; host = \"\"; };\n") == 0, "loads");
	capture_begin();
	rc = cfg_mqtt_load(&cfg, dir, &m);
	err = capture_end();
	CHECK(rc == -EINVAL && names(err, 2, "mqtt.password_file", "give mqtt.password or "
				     "mqtt.password_file, not both") &&
	      names(err, 2, "mqtt.host", "must not be empty"),
	      "password and password_file, and an empty host: each named (%s)", err);
	cfg_free(&cfg);

	CHECK(load(&cfg, "mqtt = { cafile = \"missing.crt\"; password = \"a\"; };\n") == 0,
	      "loads");
	capture_begin();
	rc = cfg_mqtt_load(&cfg, dir, &m);
	err = capture_end();
	CHECK(rc == -EINVAL && names(err, 1, "mqtt.cafile", "cannot read ") &&
	      strstr(err, "missing.crt") &&
	      names(err, 1, "mqtt.password", "is set but mqtt.username is empty"),
	      "an unreadable cafile and a password without an account: each named (%s)", err);
	cfg_free(&cfg);
}

static void cleanup_dir(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	log_init("test_config", 0);
	snprintf(dir, sizeof(dir), "%s/loaxa-test-config-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/test.cfg", dir);
	test_values();
	test_errors();
	test_unknown();
	test_load_errors();
	test_ctl_capture();
	test_ctl_mqtt_secure();
	test_mqtt_load();
	cleanup_dir();
	TAP_EXIT();
}
