/*
 * nodecfg.c - see nodecfg.h.
 */
#include "nodecfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "util.h"

static const char *const known_fields[] = {
	"site", "node", "zones", "state_dir", "controller_key",
	"mqtt", "mqtt.host", "mqtt.port", "mqtt.keepalive", "mqtt.username",
	"mqtt.password", "mqtt.cafile", "mqtt.password_file", "mqtt.insecure", "recovery_key",
	"alsa", "alsa.device", "alsa.channels", "alsa.rate", "alsa.buffer_ms",
	"alsa.period_ms", "alsa.mixer", "alsa.mixer_device", "alsa.mixer_level",
	"status_interval_s", "max_future_s", "max_message_bytes", "cache_max_mb",
	"emergency_volume", "emergency_keep_open",
	"amplifier", "amplifier.on_command", "amplifier.off_command", "amplifier.warmup_s",
	"label", "health", "health.signal_cmd", "health.signal_file", "health.interface",
	"health.journal_max",
	"update", "update.quiet_min", "update.confirm_s", "update.run", "update.installer",
	"update.backend", "update.binary",
	"selftest", "selftest.capture", "selftest.tone_hz", "selftest.tone_ms",
	"selftest.level_db", "selftest.quiet_level_db", "selftest.day", "selftest.night",
	"selftest.threshold_db", "selftest.command",
	NULL,
};

int node_cfg_resolve(char *out, size_t outlen, const char *cfg_path, const char *rel)
{
	char dir[PATH_MAX];

	if (rel[0] == '/')
		return str_copy(out, outlen, rel);
	if (cfg_dir(cfg_path, dir, sizeof(dir)) < 0)
		return -ENAMETOOLONG; /* its directory does not resolve: the path cannot be made */
	if ((size_t)snprintf(out, outlen, "%s/%s", strcmp(dir, "/") ? dir : "", rel) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * libconfig treats the ';' after a setting as optional, so "port = 1883"
 * followed by "};" loads fine - and the next edit that adds a line below it
 * fails with a confusing error, or silently means something else. We are
 * stricter, like the documentation of node.cfg: every setting ends with ';'
 * (or ','). This scanner runs only on a file libconfig accepted, so it only
 * has to find settings without a terminator; anything it does not
 * understand ends the scan without complaint.
 */
struct scan {
	const char *p, *end;
	int line;
	int bad_line;         /* line of the token found instead of ';' */
	int setting_line;
	char setting[64];
};

static void scan_ws(struct scan *s)
{
	while (s->p < s->end) {
		char c = *s->p;

		if (c == '\n') {
			s->line++;
			s->p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			s->p++;
		} else if (c == '#' || (c == '/' && s->p + 1 < s->end && s->p[1] == '/') ||
			   (c == '@' && s->end - s->p >= 8 && strncmp(s->p, "@include", 8) == 0)) {
			while (s->p < s->end && *s->p != '\n')
				s->p++;
		} else if (c == '/' && s->p + 1 < s->end && s->p[1] == '*') {
			s->p += 2;
			while (s->p + 1 < s->end && !(s->p[0] == '*' && s->p[1] == '/')) {
				if (*s->p == '\n')
					s->line++;
				s->p++;
			}
			s->p = s->p + 2 <= s->end ? s->p + 2 : s->end;
		} else {
			return;
		}
	}
}

static int scan_settings(struct scan *s, char close);

/* Returns 0 when the value was read, -1 to stop scanning (error or not understood). */
static int scan_value(struct scan *s)
{
	scan_ws(s);
	if (s->p >= s->end)
		return -1;
	if (*s->p == '{') {
		s->p++;
		return scan_settings(s, '}');
	}
	if (*s->p == '[' || *s->p == '(') {
		char close = *s->p == '[' ? ']' : ')';

		s->p++;
		for (;;) {
			scan_ws(s);
			if (s->p < s->end && *s->p == close) {
				s->p++;
				return 0;
			}
			if (scan_value(s) < 0)
				return -1;
			scan_ws(s);
			if (s->p < s->end && *s->p == ',') {
				s->p++;
				continue;
			}
			if (s->p < s->end && *s->p == close) {
				s->p++;
				return 0;
			}
			return -1;
		}
	}
	if (*s->p == '"') {
		/* adjacent strings are concatenated: "a" "b" */
		do {
			s->p++;
			while (s->p < s->end && *s->p != '"') {
				if (*s->p == '\\' && s->p + 1 < s->end)
					s->p++;
				else if (*s->p == '\n')
					s->line++;
				s->p++;
			}
			if (s->p >= s->end)
				return -1;
			s->p++;
			scan_ws(s);
		} while (s->p < s->end && *s->p == '"');
		return 0;
	}
	if (!strchr(";,{}[]()=:", *s->p)) {
		while (s->p < s->end && !strchr(";,{}[]()=: \t\r\n#/", *s->p))
			s->p++;
		return 0;
	}
	return -1;
}

static int scan_settings(struct scan *s, char close)
{
	for (;;) {
		const char *name;
		size_t n;

		scan_ws(s);
		if (s->p >= s->end)
			return close ? -1 : 0;
		if (close && *s->p == close) {
			s->p++;
			return 0;
		}
		name = s->p;
		while (s->p < s->end && (isalnum((unsigned char)*s->p) || *s->p == '_' ||
					 *s->p == '-' || *s->p == '*'))
			s->p++;
		n = (size_t)(s->p - name);
		if (n == 0)
			return -1;
		scan_ws(s);
		if (s->p >= s->end || (*s->p != '=' && *s->p != ':'))
			return -1;
		s->p++;
		if (n >= sizeof(s->setting))
			n = sizeof(s->setting) - 1;
		memcpy(s->setting, name, n);
		s->setting[n] = '\0';
		s->setting_line = s->line;
		if (scan_value(s) < 0)
			return -1;
		scan_ws(s);
		if (s->p < s->end && (*s->p == ';' || *s->p == ',')) {
			s->p++;
			continue;
		}
		s->bad_line = s->line;
		return -1;
	}
}

/* 0, or -EINVAL after logging "file:line: syntax error: ..." */
static int check_terminators(const char *path)
{
	uint8_t *text = NULL;
	size_t len;
	struct scan s;
	char name[64];
	int setting_line;

	if (read_file(path, 1 << 20, &text, &len) < 0)
		return 0; /* libconfig read it: nothing more to say */
	memset(&s, 0, sizeof(s));
	s.p = (const char *)text;
	s.end = s.p + len;
	s.line = 1;
	scan_settings(&s, 0);
	memcpy(name, s.setting, sizeof(name));
	setting_line = s.setting_line;
	free(text);
	if (!s.bad_line)
		return 0;
	log_errorx("%s:%d: syntax error: ';' expected after the setting \"%s\" (line %d)",
		   path, s.bad_line, name, setting_line);
	return -EINVAL;
}

/* A name field (site, node): required, 1-31 of [a-z0-9_-]. */
static void load_name(struct cfg *c, const char *field, char *out, size_t outlen)
{
	if (cfg_string(c, field, CFG_REQUIRED, NULL, out, outlen) != 0)
		return;
	if (!name_valid(out))
		cfg_error(c, field, "\"%s\" is not a valid name: use 1 to 31 of a-z, 0-9, "
			  "'-' and '_', starting with a letter or digit", out);
}

static void load_int(struct cfg *c, const char *field, long long def, long long min,
		     long long max, long long *out)
{
	if (cfg_int(c, field, CFG_OPTIONAL, def, min, max, out) < 0)
		*out = def;
}

/*
 * The break-glass recovery key: a second trusted public key whose secret
 * half is kept offline; it may sign only a key announcement (node/keys.c),
 * to recover when the controller key is lost or stolen. (Broker TLS and
 * credentials: cfg_mqtt_load in common/config.c.)
 */
static void load_recovery_key(struct cfg *c, struct node_cfg *cfg)
{
	char key[256];

	if (cfg_string(c, "recovery_key", CFG_OPTIONAL, "", key, sizeof(key)) == 0) {
		if (public_key_parse(cfg->recovery_pk, key) < 0)
			cfg_error(c, "recovery_key", "must be the offline recovery public key: "
				  "64 hex digits (recovery.pub from `loaxa keygen`)");
		else if (memcmp(cfg->recovery_pk, cfg->controller_pk, 32) == 0)
			cfg_error(c, "recovery_key", "must differ from controller_key (the "
				  "recovery key is kept offline, apart from the controller)");
		else
			cfg->has_recovery_key = 1;
	}
}

/* Printable UTF-8 (the label goes into JSON and reports). */
static int utf8_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
			: (*p & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0 || *p < 0x20 || *p == 0x7f)
			return 0;
		for (p++; n > 0; n--, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* label, health = { ... }: how people call the cluster, link quality, journal. */
static void load_health(struct cfg *c, struct node_cfg *cfg, const char *path)
{
	char buf[PATH_MAX];
	long long v;

	cfg_string(c, "label", CFG_OPTIONAL, "", cfg->label, sizeof(cfg->label));
	if (!utf8_text_ok(cfg->label))
		cfg_error(c, "label", "must be UTF-8 text without control characters");
	cfg_string(c, "health.signal_cmd", CFG_OPTIONAL, "", cfg->health.signal_cmd,
		   sizeof(cfg->health.signal_cmd));
	if (cfg_string(c, "health.signal_file", CFG_OPTIONAL, "", buf, sizeof(buf)) == 0 &&
	    buf[0] && node_cfg_resolve(cfg->health.signal_file,
				       sizeof(cfg->health.signal_file), path, buf) < 0)
		cfg_error(c, "health.signal_file", "path is too long");
	if (cfg->health.signal_cmd[0] && cfg->health.signal_file[0])
		cfg_error(c, "health.signal_cmd", "give either signal_cmd or signal_file, "
			  "not both");
	cfg_string(c, "health.interface", CFG_OPTIONAL, "", cfg->health.interface,
		   sizeof(cfg->health.interface));
	load_int(c, "health.journal_max", 1000, 10, 1000000, &v);
	cfg->health.journal_max = (size_t)v;
}

/*
 * update = { ... }: how a remote update installs (update.h). The installer
 * and the binary are paths from the admin's file, never from a message.
 */
static void load_update(struct cfg *c, struct node_cfg *cfg, const char *path)
{
	char buf[PATH_MAX];
	long long v;

	load_int(c, "update.quiet_min", 10, 0, 24 * 60, &v);
	cfg->update.quiet_min = (int)v;
	load_int(c, "update.confirm_s", 120, 10, 3600, &v);
	cfg->update.confirm_s = (int)v;
	if (cfg_string(c, "update.run", CFG_OPTIONAL, "systemd", buf, sizeof(buf)) < 0)
		strcpy(buf, "systemd");
	if (strcmp(buf, "spawn") == 0)
		cfg->update.spawn = 1;
	else if (strcmp(buf, "systemd") != 0)
		cfg_error(c, "update.run", "must be \"systemd\" (the loaxa-node-update.path "
			  "unit starts the installer) or \"spawn\" (the node starts it)");
	if (cfg_string(c, "update.backend", CFG_OPTIONAL, "dpkg", buf, sizeof(buf)) < 0)
		strcpy(buf, "dpkg");
	if (strcmp(buf, "dir") == 0)
		cfg->update.backend_dir = 1;
	else if (strcmp(buf, "dpkg") != 0)
		cfg_error(c, "update.backend", "must be \"dpkg\" (dpkg -i the package) or "
			  "\"dir\" (replace update.binary by the package's loaxa-node)");
	if (cfg_string(c, "update.installer", CFG_OPTIONAL, "/usr/sbin/loaxa-node-update", buf,
		       sizeof(buf)) >= 0 &&
	    node_cfg_resolve(cfg->update.installer, sizeof(cfg->update.installer), path, buf) < 0)
		cfg_error(c, "update.installer", "path is too long");
	if (cfg_string(c, "update.binary", CFG_OPTIONAL, "/usr/sbin/loaxa-node", buf,
		       sizeof(buf)) >= 0 &&
	    node_cfg_resolve(cfg->update.binary, sizeof(cfg->update.binary), path, buf) < 0)
		cfg_error(c, "update.binary", "path is too long");
}

/* "HH:MM-HH:MM" into minutes of the day; 0 or -EINVAL. */
static int parse_window(const char *s, int *from, int *to)
{
	unsigned h1, m1, h2, m2;
	char end;

	if (sscanf(s, "%2u:%2u-%2u:%2u%c", &h1, &m1, &h2, &m2, &end) != 4 || h1 > 23 ||
	    h2 > 24 || m1 > 59 || m2 > 59 || (h2 == 24 && m2))
		return -EINVAL;
	*from = (int)(h1 * 60 + m1);
	*to = (int)(h2 * 60 + m2);
	return *from == *to ? -EINVAL : 0;
}

/* selftest = { capture = "..."; ... }: the horn self-test (docs/node.md). */
static void load_selftest(struct cfg *c, struct node_cfg *cfg)
{
	char buf[64];
	long long v;

	cfg_string(c, "selftest.capture", CFG_OPTIONAL, "", cfg->selftest.capture,
		   sizeof(cfg->selftest.capture));
	cfg_string(c, "selftest.command", CFG_OPTIONAL, "", cfg->selftest.command,
		   sizeof(cfg->selftest.command));
	if (cfg->selftest.command[0] && cfg->selftest.command[0] != '/')
		cfg_error(c, "selftest.command", "must start with the program's absolute path "
			  "(it runs without a shell: \"/usr/local/bin/horn-level --db\")");
	if (cfg->selftest.command[0] && cfg->selftest.capture[0])
		cfg_error(c, "selftest.command", "give either selftest.capture or "
			  "selftest.command, not both");
	load_int(c, "selftest.tone_hz", 1000, 200, 8000, &v);
	cfg->selftest.tone_hz = (unsigned)v;
	load_int(c, "selftest.tone_ms", 1500, 500, 5000, &v);
	cfg->selftest.tone_ms = (unsigned)v;
	if (cfg_double(c, "selftest.level_db", CFG_OPTIONAL, -20, -60, 0,
		       &cfg->selftest.level_db) < 0)
		cfg->selftest.level_db = -20;
	if (cfg_double(c, "selftest.quiet_level_db", CFG_OPTIONAL, -40, -80, 0,
		       &cfg->selftest.quiet_level_db) < 0)
		cfg->selftest.quiet_level_db = -40;
	if (cfg_double(c, "selftest.threshold_db", CFG_OPTIONAL, 15, 3, 60,
		       &cfg->selftest.threshold_db) < 0)
		cfg->selftest.threshold_db = 15;
	cfg_string(c, "selftest.day", CFG_OPTIONAL, "06:00-21:00", buf, sizeof(buf));
	if (parse_window(buf, &cfg->selftest.day_from_min, &cfg->selftest.day_to_min) < 0)
		cfg_error(c, "selftest.day", "\"%s\" is not a time window: write it like "
			  "\"06:00-21:00\" (local time, from-to)", buf);
	cfg_string(c, "selftest.night", CFG_OPTIONAL, "quiet", buf, sizeof(buf));
	if (strcmp(buf, "quiet") && strcmp(buf, "skip"))
		cfg_error(c, "selftest.night", "must be \"quiet\" (test at quiet_level_db "
			  "outside the day window) or \"skip\" (no test outside it)");
	cfg->selftest.night_skip = strcmp(buf, "skip") == 0;
}

int node_cfg_load(struct node_cfg *cfg, const char *path)
{
	struct cfg c;
	char buf[PATH_MAX], key[256];
	long long v;
	size_t i, j;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = cfg_load(&c, path); /* checks the path's length too */
	if (rc < 0)
		return -EINVAL;
	_Static_assert(sizeof(cfg->path) == sizeof(c.path), "config path sizes");
	memcpy(cfg->path, c.path, sizeof(cfg->path));
	if (check_terminators(path) < 0)
		c.errors++;

	cfg_reject_unknown(&c, known_fields);

	load_name(&c, "site", cfg->site, sizeof(cfg->site));
	if (cfg->site[0] && strlen(cfg->site) > ENVELOPE_SITE_LEN)
		cfg_error(&c, "site", "\"%s\" is too long: at most %d characters (the site "
			  "travels in a %d-byte field of every signed message)", cfg->site,
			  ENVELOPE_SITE_LEN, ENVELOPE_SITE_LEN);
	load_name(&c, "node", cfg->node, sizeof(cfg->node));

	if (cfg_string_list(&c, "zones", CFG_OPTIONAL, cfg->zones, NODE_MAX_ZONES,
			    &cfg->nzones) == 0) {
		for (i = 0; i < cfg->nzones; i++) {
			if (!name_valid(cfg->zones[i])) {
				cfg_error(&c, "zones", "entry %zu (\"%s\") is not a valid zone "
					  "name: use 1 to 31 of a-z, 0-9, '-' and '_'", i + 1,
					  cfg->zones[i]);
				continue;
			}
			for (j = 0; j < i; j++)
				if (strcmp(cfg->zones[i], cfg->zones[j]) == 0)
					cfg_error(&c, "zones", "zone \"%s\" is listed twice",
						  cfg->zones[i]);
		}
	}

	if (cfg_string(&c, "state_dir", CFG_REQUIRED, NULL, buf, sizeof(buf)) == 0) {
		if (!buf[0])
			cfg_error(&c, "state_dir", "must not be empty");
		else if (node_cfg_resolve(cfg->state_dir, sizeof(cfg->state_dir), path,
					  buf) < 0)
			cfg_error(&c, "state_dir", "path is too long");
	}

	if (cfg_string(&c, "controller_key", CFG_REQUIRED, NULL, key, sizeof(key)) == 0 &&
	    public_key_parse(cfg->controller_pk, key) < 0)
		cfg_error(&c, "controller_key", "must be the controller's public key: 64 hex "
			  "digits, the contents of controller.pub from `loaxa keygen`");

	if (cfg_dir(path, buf, sizeof(buf)) < 0)
		cfg_error(&c, "mqtt", "cannot resolve the directory of %s: %s", path,
			  strerror(errno));
	else
		cfg_mqtt_load(&c, buf, &cfg->mqtt);
	load_recovery_key(&c, cfg);

	cfg_string(&c, "alsa.device", CFG_OPTIONAL, "default", cfg->alsa.device,
		   sizeof(cfg->alsa.device));
	if (!cfg->alsa.device[0])
		cfg_error(&c, "alsa.device", "must not be empty (\"default\" is the usual "
			  "device)");
	load_int(&c, "alsa.channels", 1, 1, 8, &v);
	cfg->alsa.channels = (unsigned)v;
	if (cfg_int(&c, "alsa.rate", CFG_OPTIONAL, 48000, 1, 1000000, &v) == 0 &&
	    v != 48000)
		cfg_error(&c, "alsa.rate", "must be 48000 (content is 48 kHz; for a card "
			  "that wants another rate use a `plug` device, see "
			  "etc/asoundrc.example) (got %lld)", v);
	cfg->alsa.rate = 48000;
	load_int(&c, "alsa.buffer_ms", 200, 20, 2000, &v);
	cfg->alsa.buffer_ms = (unsigned)v;
	load_int(&c, "alsa.period_ms", 20, 5, 500, &v);
	cfg->alsa.period_ms = (unsigned)v;
	if (cfg->alsa.period_ms * 2 > cfg->alsa.buffer_ms)
		cfg_error(&c, "alsa.period_ms", "must be at most half of alsa.buffer_ms "
			  "(%u ms), got %u", cfg->alsa.buffer_ms, cfg->alsa.period_ms);
	/* the emergency's mixer control: a name from here, never from a message */
	if (cfg_string(&c, "alsa.mixer", CFG_OPTIONAL, "", cfg->alsa.mixer,
		       sizeof(cfg->alsa.mixer)) == 0) {
		const char *p;

		for (p = cfg->alsa.mixer; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				break;
		if (*p)
			cfg_error(&c, "alsa.mixer", "must be a mixer control's name in plain "
				  "ASCII, as `amixer scontrols` shows it (e.g. \"Master\")");
	}
	cfg_string(&c, "alsa.mixer_device", CFG_OPTIONAL, "default", cfg->alsa.mixer_device,
		   sizeof(cfg->alsa.mixer_device));
	if (!cfg->alsa.mixer_device[0])
		cfg_error(&c, "alsa.mixer_device", "must not be empty (e.g. \"default\" or "
			  "\"hw:0\")");
	load_int(&c, "alsa.mixer_level", 100, 0, 100, &v);
	cfg->alsa.mixer_level = (int)v;

	load_int(&c, "status_interval_s", 30, 1, 3600, &v);
	cfg->status_interval_s = (int)v;
	load_int(&c, "max_future_s", 300, 0, 86400, &v);
	cfg->max_future_s = (int)v;
	load_int(&c, "max_message_bytes", ENVELOPE_DEFAULT_MAX, 4096, 16 * 1024 * 1024, &v);
	cfg->max_message_bytes = (size_t)v;
	load_int(&c, "cache_max_mb", 512, 1, 1024 * 1024, &v);
	cfg->cache_max_bytes = (uint64_t)v * 1024 * 1024;
	load_int(&c, "emergency_volume", 100, 0, 100, &v);
	cfg->emergency_volume = (int)v;
	{
		int keep = 1;

		cfg_bool(&c, "emergency_keep_open", CFG_OPTIONAL, 1, &keep);
		cfg->emergency_keep_open = keep;
	}
	load_health(&c, cfg, path);
	load_update(&c, cfg, path);

	cfg_string(&c, "amplifier.on_command", CFG_OPTIONAL, "", cfg->amp.on_command,
		   sizeof(cfg->amp.on_command));
	cfg_string(&c, "amplifier.off_command", CFG_OPTIONAL, "", cfg->amp.off_command,
		   sizeof(cfg->amp.off_command));
	load_int(&c, "amplifier.warmup_s", 0, 0, 600, &v);
	cfg->amp.warmup_s = (int)v;
	load_selftest(&c, cfg);

	rc = c.errors ? -EINVAL : 0;
	cfg_free(&c);
	return rc;
}
