/*
 * ctlcfg.c - see ctlcfg.h.
 */
#include "ctlcfg.h"
#include "retention.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ctlutil.h"
#include "log.h"
#include "util.h"

/* The largest content body that still fits a node's default envelope limit. */
#define CTL_CHUNK_MAX (ENVELOPE_DEFAULT_MAX - ENVELOPE_OVERHEAD - 52)

static const char *const ctl_known_fields[] = {
	"site", "commune", "state_dir", "api_socket", "key",
	"mqtt", "mqtt.host", "mqtt.port", "mqtt.keepalive", "mqtt.username",
	"mqtt.password", "mqtt.cafile", "mqtt.password_file", "mqtt.insecure",
	"auth", "auth.token_ttl_s",
	"keys", "keys.lifetime_days", "keys.retire_after_s", "keys.recovery_pub",
	"broker", "broker.dir", "broker.node_host", "broker.node_port",
	"import", "import.target_lufs", "import.true_peak_dbtp",
	"import.speech_kbps", "import.music_kbps", "import.max_duration_s",
	"relay", "relay.ca_file",
	"delivery", "delivery.chunk_bytes", "delivery.window",
	"nodes", "nodes.offline_after_s",
	"retention", "retention.events_days", "retention.audit_days",
	"timezone", "schedule", "schedule.horizon_days", "schedule.allowed_hours",
	"schedule.max_file_bytes", "schedule.max_total_bytes", "zones", "approval",
	"approval.levels",
	"alarms", "alarms.offline_s", "alarms.clock_error_ms", "alarms.disk_free_mb",
	"alarms.plan_ack_s", "alarms.miss_ahead_s", "alarms.hook", "alarms.hook_timeout_s",
	"capture", "capture.*",
	"web", "web.listen", "web.cert", "web.key", "web.root",
	"selftest", "selftest.daily_at",
	NULL,
};

void ctl_config_defaults(struct ctl_config *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->state_dir, "/var/lib/loaxa");
	strcpy(c->api_socket, "/run/loaxa/api.sock");
	strcpy(c->key_path, "/etc/loaxa/controller.key");
	strcpy(c->mqtt.host, "127.0.0.1");
	c->mqtt.port = 1883;
	c->mqtt.keepalive = 30;
	c->import.target_lufs = -16.0;
	c->import.true_peak_dbtp = -1.0;
	c->import.speech_kbps = 24;
	c->import.music_kbps = 48;
	c->import.max_duration_s = 14400;
	c->delivery.chunk_bytes = 65536;
	c->delivery.window = 16;
	c->nodes.offline_after_s = 90;
	c->retention.events_days = CTL_RETENTION_DEFAULT_DAYS;
	c->retention.audit_days = CTL_RETENTION_DEFAULT_DAYS;
	c->auth.token_ttl_s = 8 * 3600;
	c->keys.lifetime_days = 365;
	c->keys.retire_after_s = 7 * 86400;
	c->broker.node_port = 8883;
	sched_site_defaults(&c->sched);
	c->alarms.offline_s = 300;
	c->alarms.clock_error_ms = 100.0;
	c->alarms.disk_free_mb = 50;
	c->alarms.plan_ack_s = 120;
	c->alarms.miss_ahead_s = 900;
	c->alarms.hook[0] = '\0';
	c->alarms.hook_timeout_s = 10;
	c->selftest.daily_min = 12 * 60 + 30; /* between the morning and evening programs */
	strcpy(c->web.root, "/usr/share/loaxa/web");
}

/*
 * Directory of the config file as an absolute path, so that relative paths
 * in it do not depend on where the daemon was started from and log lines
 * show where things really are.
 */
/*
 * A path field: read it, then make it absolute against dir. Returns 0 or
 * -EINVAL after naming the field.
 */
static int path_field(struct cfg *cfg, const char *field, const char *dir,
		      char *out, size_t outlen)
{
	char raw[PATH_MAX], def[PATH_MAX];
	int rc;

	if (str_copy(def, sizeof(def), out) < 0)
		return -EINVAL;
	rc = cfg_string(cfg, field, CFG_OPTIONAL, def, raw, sizeof(raw));
	if (rc < 0)
		return rc;
	if (rc == 1 && !def[0])
		return 1; /* an optional path, absent */
	if (!raw[0]) {
		cfg_error(cfg, field, "must not be empty");
		return -EINVAL;
	}
	if (raw[0] == '/') {
		if (str_copy(out, outlen, raw) < 0)
			goto too_long;
		return 0;
	}
	if ((size_t)snprintf(out, outlen, "%s/%s", strcmp(dir, "/") ? dir : "",
			     raw) >= outlen)
		goto too_long;
	return 0;
too_long:
	cfg_error(cfg, field, "the path \"%s\" is too long (at most %zu characters%s)",
		  raw, outlen - 1,
		  outlen == CTL_SOCKET_PATH_MAX ? " for a unix socket, after "
						  "making it absolute" : "");
	return -EINVAL;
}

static int int_field(struct cfg *cfg, const char *field, long long min,
		     long long max, int *inout)
{
	long long v;
	int rc = cfg_int(cfg, field, CFG_OPTIONAL, *inout, min, max, &v);

	if (rc >= 0)
		*inout = (int)v;
	return rc;
}

/*
 * The security fields: TLS to the broker (mqtt.cafile), the broker password
 * kept in its own 0600 file (mqtt.password_file, so controller.cfg can stay
 * readable), token lifetime, and the broker directory that provisioning
 * (provision.c) writes the node credentials and ACL into.
 */
static int ctl_config_security(struct cfg *cfg, const char *dir, struct ctl_config *c)
{
	int bad = 0, rc;

	/* https relays verify the server against this CA (default: the system's) */
	rc = path_field(cfg, "relay.ca_file", dir, c->relay.ca_file, sizeof(c->relay.ca_file));
	if (rc < 0)
		bad = 1;
	else if (rc == 0 && access(c->relay.ca_file, R_OK) < 0) {
		cfg_error(cfg, "relay.ca_file", "cannot read %s: %s", c->relay.ca_file,
			  strerror(errno));
		bad = 1;
	}
	if (int_field(cfg, "auth.token_ttl_s", 60, 30 * 86400, &c->auth.token_ttl_s) < 0)
		bad = 1;
	/* at least 24 months: the monthly report of any of them keeps its data */
	if (int_field(cfg, "retention.events_days", CTL_RETENTION_MIN_DAYS, 36500,
		      &c->retention.events_days) < 0)
		bad = 1;
	if (int_field(cfg, "retention.audit_days", CTL_RETENTION_MIN_DAYS, 36500,
		      &c->retention.audit_days) < 0)
		bad = 1;
	if (int_field(cfg, "keys.lifetime_days", 1, 3650, &c->keys.lifetime_days) < 0)
		bad = 1;
	if (int_field(cfg, "keys.retire_after_s", 0, 365 * 86400, &c->keys.retire_after_s) < 0)
		bad = 1;
	rc = path_field(cfg, "keys.recovery_pub", dir, c->keys.recovery_pub,
			sizeof(c->keys.recovery_pub));
	if (rc < 0)
		bad = 1;
	rc = path_field(cfg, "broker.dir", dir, c->broker.dir, sizeof(c->broker.dir));
	if (rc < 0)
		bad = 1;
	if (cfg_string(cfg, "broker.node_host", CFG_OPTIONAL, c->mqtt.host, c->broker.node_host,
		       sizeof(c->broker.node_host)) < 0)
		bad = 1;
	if (int_field(cfg, "broker.node_port", 1, 65535, &c->broker.node_port) < 0)
		bad = 1;
	return bad ? -EINVAL : 0;
}

/*
 * web = { listen = "ADDR:PORT"; cert = FILE; key = FILE; root = DIR; }: no
 * listen, no HTTPS listener (the unix socket only). With listen, cert and
 * key are required and must be readable now, so a typo shows at
 * --check-config rather than as a console that never answers; the address
 * itself is checked when it is bound (web.c names it then).
 */
/* selftest = { daily_at = "12:30"; }: "" turns the daily horn self-test off. */
static int ctl_config_selftest(struct cfg *cfg, struct ctl_config *c)
{
	char v[32];
	unsigned h, m;
	char end;

	if (cfg_string(cfg, "selftest.daily_at", CFG_OPTIONAL, "12:30", v, sizeof(v)) < 0)
		return -1;
	if (!v[0]) {
		c->selftest.daily_min = -1;
		return 0;
	}
	if (sscanf(v, "%2u:%2u%c", &h, &m, &end) != 2 || h > 23 || m > 59) {
		cfg_error(cfg, "selftest.daily_at", "\"%s\" is not a time of day: write it like "
			  "\"12:30\" (local time, outside the broadcast programs), or \"\" for no "
			  "daily horn self-test", v);
		return -1;
	}
	c->selftest.daily_min = (int)(h * 60 + m);
	return 0;
}

static int ctl_config_web(struct cfg *cfg, const char *dir, struct ctl_config *c)
{
	static const char *const files[] = { "web.cert", "web.key" };
	char *paths[] = { c->web.cert, c->web.key };
	int bad = 0, rc;
	size_t i;

	if (cfg_string(cfg, "web.listen", CFG_OPTIONAL, "", c->web.listen,
		       sizeof(c->web.listen)) < 0)
		return -EINVAL;
	if (path_field(cfg, "web.root", dir, c->web.root, sizeof(c->web.root)) < 0)
		bad = 1;
	for (i = 0; i < 2; i++) {
		rc = path_field(cfg, files[i], dir, paths[i], PATH_MAX);
		if (rc < 0) {
			bad = 1;
		} else if (c->web.listen[0] && rc == 1) {
			cfg_error(cfg, files[i], "is required with web.listen: the %s in PEM "
				  "(`loaxa web-cert` makes both; docs/controller.md, \"Web "
				  "console\")", i == 0 ? "HTTPS certificate" : "certificate's key");
			bad = 1;
		} else if (c->web.listen[0] && access(paths[i], R_OK) < 0) {
			cfg_error(cfg, files[i], "cannot read %s: %s", paths[i], strerror(errno));
			bad = 1;
		}
	}
	if (!c->web.listen[0] && (c->web.cert[0] || c->web.key[0]))
		log_warnx("%s: web.cert or web.key without web.listen: the web console is off",
			  c->path);
	return bad ? -EINVAL : 0;
}

/*
 * capture = { NAME = "ALSA string"; ... }: names checked like zone names
 * (clients type them), strings non-empty, printable and short. No group:
 * no capture device, so every live capture request is refused.
 */
static int ctl_config_capture(struct cfg *cfg, struct ctl_config *c)
{
	config_setting_t *g = config_lookup(&cfg->c, "capture"), *s;
	int i, n, bad = 0;

	if (!g)
		return 0;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		cfg_error(cfg, "capture", "must be a group of names and ALSA devices: "
			  "capture = { mic = \"hw:1,0\"; };");
		return -EINVAL;
	}
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		const char *name, *pcm;
		char field[64];
		size_t k, len;

		s = config_setting_get_elem(g, (unsigned)i);
		name = s ? config_setting_name(s) : NULL;
		if (!name)
			continue;
		snprintf(field, sizeof(field), "capture.%s", name);
		if (!name_valid(name)) {
			cfg_error(cfg, field, "\"%s\" is not a capture device name: use 1 to 31 "
				  "characters of a-z, 0-9, '-' and '_', starting with a letter or "
				  "digit", name);
			bad = 1;
			continue;
		}
		pcm = config_setting_type(s) == CONFIG_TYPE_STRING ?
			config_setting_get_string(s) : NULL;
		len = pcm ? strlen(pcm) : 0;
		for (k = 0; k < len; k++)
			if ((unsigned char)pcm[k] < 0x20 || pcm[k] == 0x7f)
				break;
		if (!pcm || !len || len >= CTL_CAPTURE_PCM_MAX || k < len) {
			cfg_error(cfg, field, "must be an ALSA capture device, 1 to %d printable "
				  "characters (e.g. \"hw:1,0\" or \"plughw:2,0\")",
				  CTL_CAPTURE_PCM_MAX - 1);
			bad = 1;
			continue;
		}
		/* libconfig already refuses a name given twice in one group; a name
		 * that only differs by case does not pass name_valid() */
		if (c->capture.n >= CTL_CAPTURE_MAX) {
			cfg_error(cfg, field, "at most %d capture devices", CTL_CAPTURE_MAX);
			bad = 1;
			break;
		}
		snprintf(c->capture.dev[c->capture.n].name, sizeof(c->capture.dev[0].name),
			 "%s", name);
		snprintf(c->capture.dev[c->capture.n].pcm, sizeof(c->capture.dev[0].pcm),
			 "%s", pcm);
		c->capture.n++;
	}
	return bad ? -EINVAL : 0;
}

const char *ctl_capture_pcm(const struct ctl_config *c, const char *field, const char *name,
			    char *err, size_t errlen)
{
	size_t i, off;
	int w;

	for (i = 0; name && i < c->capture.n; i++)
		if (strcmp(c->capture.dev[i].name, name) == 0)
			return c->capture.dev[i].pcm;
	w = snprintf(err, errlen, "%s%s\"%s\" is not a capture device named in "
		     "controller.cfg (capture = { ... }); known: ", field ? field : "",
		     field ? ": " : "", name ? name : "");
	off = w < 0 ? 0 : (size_t)w;
	if (!c->capture.n && off < errlen)
		snprintf(err + off, errlen - off, "none (controller.cfg has no capture group)");
	for (i = 0; i < c->capture.n && off < errlen; i++) {
		w = snprintf(err + off, errlen - off, "%s%s", i ? ", " : "",
			     c->capture.dev[i].name);
		off += w < 0 ? 0 : (size_t)w;
	}
	return NULL;
}

int ctl_config_load(struct ctl_config *c, const char *path)
{
	struct cfg cfg;
	char dir[PATH_MAX], hook[PATH_MAX];
	int rc, bad = 0;

	ctl_config_defaults(c);
	rc = cfg_load(&cfg, path); /* checks the path's length too */
	if (rc < 0)
		return -EINVAL;
	_Static_assert(sizeof(c->path) == sizeof(cfg.path), "config path sizes");
	memcpy(c->path, cfg.path, sizeof(c->path));
	rc = cfg_dir(path, dir, sizeof(dir));
	if (rc < 0) {
		errno = -rc;
		log_warn("%s: cannot resolve the directory of the config file", path);
		cfg_free(&cfg);
		return -EINVAL;
	}
	{
		/* the cap block's fields (capmap.h) follow the daemon's own */
		size_t nk = sizeof(ctl_known_fields) / sizeof(ctl_known_fields[0]) - 1, i;
		const char *known[sizeof(ctl_known_fields) / sizeof(ctl_known_fields[0]) + 16];

		for (i = 0; i < nk; i++)
			known[i] = ctl_known_fields[i];
		for (i = 0; cap_config_fields[i] && nk + 1 < sizeof(known) / sizeof(known[0]); i++)
			known[nk++] = cap_config_fields[i];
		known[nk] = NULL;
		if (cfg_reject_unknown(&cfg, known) < 0)
			bad = 1;
	}

	if (cfg_string(&cfg, "site", CFG_REQUIRED, NULL, c->site, sizeof(c->site)) < 0)
		bad = 1;
	else if (!name_valid(c->site)) {
		cfg_error(&cfg, "site", "\"%s\" is not a site id: use 1 to %d characters "
			  "of a-z, 0-9, '-' and '_', starting with a letter or digit",
			  c->site, ENVELOPE_SITE_LEN);
		bad = 1;
	}
	if (cfg_string(&cfg, "commune", CFG_OPTIONAL, "", c->commune, sizeof(c->commune)) < 0)
		bad = 1;
	else if (!ctl_text_valid(c->commune, strlen(c->commune))) {
		cfg_error(&cfg, "commune", "must be the commune's name as plain text (UTF-8, no "
			  "control characters), e.g. \"Xã Tân Lập\"");
		bad = 1;
	}
	if (path_field(&cfg, "state_dir", dir, c->state_dir, sizeof(c->state_dir)) < 0)
		bad = 1;
	if (path_field(&cfg, "api_socket", dir, c->api_socket, sizeof(c->api_socket)) < 0)
		bad = 1;
	if (path_field(&cfg, "key", dir, c->key_path, sizeof(c->key_path)) < 0)
		bad = 1;

	if (cfg_mqtt_load(&cfg, dir, &c->mqtt) < 0)
		bad = 1;
	if (ctl_config_security(&cfg, dir, c) < 0)
		bad = 1;

	if (cfg_double(&cfg, "import.target_lufs", CFG_OPTIONAL, c->import.target_lufs,
		       -40.0, -5.0, &c->import.target_lufs) < 0)
		bad = 1;
	if (cfg_double(&cfg, "import.true_peak_dbtp", CFG_OPTIONAL,
		       c->import.true_peak_dbtp, -12.0, 0.0, &c->import.true_peak_dbtp) < 0)
		bad = 1;
	if (int_field(&cfg, "import.speech_kbps", 6, 256, &c->import.speech_kbps) < 0)
		bad = 1;
	if (int_field(&cfg, "import.music_kbps", 6, 256, &c->import.music_kbps) < 0)
		bad = 1;
	if (int_field(&cfg, "import.max_duration_s", 1, 86400, &c->import.max_duration_s) < 0)
		bad = 1;

	if (int_field(&cfg, "delivery.chunk_bytes", 1024, CTL_CHUNK_MAX,
		      &c->delivery.chunk_bytes) < 0)
		bad = 1;
	if (int_field(&cfg, "delivery.window", 1, 256, &c->delivery.window) < 0)
		bad = 1;
	if (int_field(&cfg, "nodes.offline_after_s", 10, 86400,
		      &c->nodes.offline_after_s) < 0)
		bad = 1;
	if (sched_site_load(&cfg, &c->sched) < 0)
		bad = 1;
	if (int_field(&cfg, "alarms.offline_s", 1, 7 * 86400, &c->alarms.offline_s) < 0 ||
	    cfg_double(&cfg, "alarms.clock_error_ms", CFG_OPTIONAL, c->alarms.clock_error_ms,
		       0.1, 600000.0, &c->alarms.clock_error_ms) < 0 ||
	    int_field(&cfg, "alarms.disk_free_mb", 0, 1024 * 1024, &c->alarms.disk_free_mb) < 0 ||
	    int_field(&cfg, "alarms.plan_ack_s", 1, 86400, &c->alarms.plan_ack_s) < 0 ||
	    int_field(&cfg, "alarms.miss_ahead_s", 1, 86400, &c->alarms.miss_ahead_s) < 0 ||
	    int_field(&cfg, "alarms.hook_timeout_s", 1, 3600, &c->alarms.hook_timeout_s) < 0)
		bad = 1;
	if (cfg_string(&cfg, "alarms.hook", CFG_OPTIONAL, "", hook, sizeof(hook)) < 0)
		bad = 1;
	else if (hook[0] && path_field(&cfg, "alarms.hook", dir, c->alarms.hook,
				       sizeof(c->alarms.hook)) < 0)
		bad = 1;
	if (ctl_config_capture(&cfg, c) < 0)
		bad = 1;
	if (ctl_config_web(&cfg, dir, c) < 0)
		bad = 1;
	if (cap_config_load(&cfg, dir, &c->cap) < 0)
		bad = 1;
	if (ctl_config_selftest(&cfg, c) < 0)
		bad = 1;

	cfg_free(&cfg);
	return bad ? -EINVAL : 0;
}
