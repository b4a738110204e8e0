/*
 * config.c - see config.h.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int cfg_load(struct cfg *cfg, const char *path)
{
	struct stat st;

	memset(cfg, 0, sizeof(*cfg));
	config_init(&cfg->c);
	if (str_copy(cfg->path, sizeof(cfg->path), path) < 0) {
		log_errorx("%s: path too long", path);
		cfg->errors++;
		config_destroy(&cfg->c);
		return -ENAMETOOLONG;
	}
	/*
	 * Check the file first: libconfig reports an unreadable file or a
	 * directory without a usable errno.
	 */
	errno = 0;
	st.st_mode = 0;
	if (stat(path, &st) < 0 || access(path, R_OK) < 0 || !S_ISREG(st.st_mode)) {
		int err = errno;

		if (S_ISDIR(st.st_mode) && err == 0)
			err = EISDIR;
		log_errorx("%s: cannot read the file: %s", path,
			   err ? strerror(err) : "not a regular file");
		cfg->errors++;
		config_destroy(&cfg->c);
		return -EINVAL;
	}
	errno = 0;
	if (config_read_file(&cfg->c, path) != CONFIG_TRUE) {
		/* The error may lie in an @include'd file: name that one. */
		const char *where = config_error_file(&cfg->c);

		if (config_error_type(&cfg->c) == CONFIG_ERR_FILE_IO)
			log_errorx("%s: cannot read the file: %s", path,
				   strerror(errno ? errno : ENOENT));
		else
			log_errorx("%s:%d: %s", where ? where : path,
				   config_error_line(&cfg->c),
				   config_error_text(&cfg->c));
		cfg->errors++;
		/* Nothing to free after a failed load (cfg_free stays harmless). */
		config_destroy(&cfg->c);
		return -EINVAL;
	}
	return 0;
}

void cfg_free(struct cfg *cfg)
{
	config_destroy(&cfg->c);
}

static int cfg_line(struct cfg *cfg, const char *field)
{
	config_setting_t *s = config_lookup(&cfg->c, field);

	return s ? config_setting_source_line(s) : 0;
}

void cfg_error(struct cfg *cfg, const char *field, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int line = cfg_line(cfg, field);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		log_errorx("%s:%d: field \"%s\": %s", cfg->path, line, field, msg);
	else
		log_errorx("%s: field \"%s\": %s", cfg->path, field, msg);
	cfg->errors++;
}

static config_setting_t *cfg_find(struct cfg *cfg, const char *field,
				  int required, int *rc)
{
	config_setting_t *s = config_lookup(&cfg->c, field);

	*rc = 0;
	if (!s) {
		if (required) {
			cfg_error(cfg, field, "is required but missing");
			*rc = -EINVAL;
		} else {
			*rc = 1;
		}
	}
	return s;
}

int cfg_string(struct cfg *cfg, const char *field, int required, const char *def,
	       char *out, size_t outlen)
{
	int rc;
	config_setting_t *s = cfg_find(cfg, field, required, &rc);
	const char *v;

	if (!s) {
		if (rc == 1 && str_copy(out, outlen, def ? def : "") < 0)
			return -ENAMETOOLONG;
		return rc;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_error(cfg, field, "must be a string in double quotes");
		return -EINVAL;
	}
	v = config_setting_get_string(s);
	if (str_copy(out, outlen, v) < 0) {
		cfg_error(cfg, field, "is too long (at most %zu characters)",
			  outlen - 1);
		return -EINVAL;
	}
	return 0;
}

int cfg_int(struct cfg *cfg, const char *field, int required, long long def,
	    long long min, long long max, long long *out)
{
	int rc;
	config_setting_t *s = cfg_find(cfg, field, required, &rc);
	long long v;

	if (!s) {
		if (rc == 1)
			*out = def;
		return rc;
	}
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else {
		cfg_error(cfg, field, "must be a whole number");
		return -EINVAL;
	}
	if (v < min || v > max) {
		cfg_error(cfg, field, "must be between %lld and %lld (got %lld)",
			  min, max, v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cfg_double(struct cfg *cfg, const char *field, int required, double def,
	       double min, double max, double *out)
{
	int rc;
	config_setting_t *s = cfg_find(cfg, field, required, &rc);
	double v;

	if (!s) {
		if (rc == 1)
			*out = def;
		return rc;
	}
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	default:
		cfg_error(cfg, field, "must be a number");
		return -EINVAL;
	}
	if (!(v >= min && v <= max)) {
		cfg_error(cfg, field, "must be between %g and %g (got %g)", min,
			  max, v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cfg_bool(struct cfg *cfg, const char *field, int required, int def, int *out)
{
	int rc;
	config_setting_t *s = cfg_find(cfg, field, required, &rc);

	if (!s) {
		if (rc == 1)
			*out = def;
		return rc;
	}
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		cfg_error(cfg, field, "must be true or false");
		return -EINVAL;
	}
	*out = config_setting_get_bool(s);
	return 0;
}

int cfg_string_list(struct cfg *cfg, const char *field, int required,
		    char (*out)[32], size_t max, size_t *n)
{
	int rc, i, count;
	config_setting_t *s = cfg_find(cfg, field, required, &rc);

	*n = 0;
	if (!s)
		return rc;
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) {
		cfg_error(cfg, field, "must be a list of strings, e.g. [\"a\", \"b\"]");
		return -EINVAL;
	}
	count = config_setting_length(s);
	if (count < 0 || (size_t)count > max) {
		cfg_error(cfg, field, "has %d entries, at most %zu allowed", count,
			  max);
		return -EINVAL;
	}
	for (i = 0; i < count; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = e ? config_setting_get_string(e) : NULL;
		if (!v || str_copy(out[i], 32, v) < 0) {
			cfg_error(cfg, field,
				  "entry %d must be a string of at most 31 characters",
				  i + 1);
			return -EINVAL;
		}
	}
	*n = (size_t)count;
	return 0;
}

/*
 * "group.*" in known matches any direct member of group: groups whose
 * member names are the user's own (capture = { mic = "..."; }).
 */
static int cfg_path_known(const char *path, const char *const *known)
{
	for (; *known; known++) {
		size_t n = strlen(*known);

		if (strcmp(path, *known) == 0)
			return 1;
		if (n >= 2 && strcmp(*known + n - 2, ".*") == 0 &&
		    strncmp(path, *known, n - 1) == 0 && !strchr(path + n - 1, '.'))
			return 1;
	}
	return 0;
}

static int cfg_walk(struct cfg *cfg, config_setting_t *group, const char *prefix,
		    const char *const *known)
{
	int i, bad = 0, count = config_setting_length(group);

	for (i = 0; i < count; i++) {
		config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		char path[512];

		if (!name)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
			 name);
		if (!cfg_path_known(path, known)) {
			log_errorx("%s:%d: field \"%s\": unknown field (a typo?)",
				   cfg->path, config_setting_source_line(s), path);
			cfg->errors++;
			bad = 1;
			continue;
		}
		if (config_setting_type(s) == CONFIG_TYPE_GROUP &&
		    cfg_walk(cfg, s, path, known) < 0)
			bad = 1;
	}
	return bad ? -EINVAL : 0;
}

int cfg_reject_unknown(struct cfg *cfg, const char *const *known)
{
	return cfg_walk(cfg, config_root_setting(&cfg->c), "", known);
}

int cfg_mqtt_secure(struct cfg *cfg, const char *cafile, const char *username,
		    const char *host, int port, int *insecure)
{
	int plain = !cafile || !cafile[0], anon = !username || !username[0];

	*insecure = 0;
	if (cfg_bool(cfg, "mqtt.insecure", CFG_OPTIONAL, 0, insecure) < 0)
		return -EINVAL;
	if (!plain && !anon)
		return 0;
	if (!*insecure) {
		if (plain)
			cfg_error(cfg, "mqtt.cafile", "is not set: MQTT without TLS is refused. "
				  "Give the broker's CA (ca.crt from `loaxa broker-config`, "
				  "docs/security.md), or set mqtt.insecure = true to allow "
				  "plaintext MQTT (a test bench only)");
		if (anon)
			cfg_error(cfg, "mqtt.username", "is not set: anonymous MQTT is refused. "
				  "Give the broker account (and mqtt.password_file), or set "
				  "mqtt.insecure = true to allow anonymous MQTT (a test bench "
				  "only)");
		return -EINVAL;
	}
	log_warnx("%s: mqtt.insecure = true: the link to the broker %s:%d is %s%s%s; "
		  "anyone on the network path can read it%s (docs/security.md)", cfg->path,
		  host, port, plain ? "plaintext (no mqtt.cafile)" : "",
		  plain && anon ? " and " : "", anon ? "anonymous (no mqtt.username)" : "",
		  anon ? ", and anyone who reaches the broker can publish" : "");
	return 0;
}

int cfg_dir(const char *path, char *out, size_t outlen)
{
	char tmp[PATH_MAX], real[PATH_MAX], *slash;

	if (str_copy(tmp, sizeof(tmp), path) < 0)
		return -ENAMETOOLONG;
	slash = strrchr(tmp, '/');
	if (!slash)
		strcpy(tmp, ".");
	else if (slash == tmp)
		tmp[1] = '\0';
	else
		*slash = '\0';
	/* realpath() writes up to PATH_MAX bytes: resolve into our own buffer */
	if (!realpath(tmp, real))
		return -errno;
	return str_copy(out, outlen, real);
}

/* A path field of the mqtt group: absolute, or relative to dir. 1 absent. */
static int mqtt_path(struct cfg *cfg, const char *field, const char *dir, char *out,
		     size_t outlen, const char *what)
{
	char raw[PATH_MAX];
	int rc = cfg_string(cfg, field, CFG_OPTIONAL, "", raw, sizeof(raw));

	if (rc != 0)
		return rc;
	if (!raw[0]) {
		cfg_error(cfg, field, "must be the path of %s", what);
		return -EINVAL;
	}
	if ((size_t)snprintf(out, outlen, "%s%s%s", raw[0] == '/' ? "" : dir,
			     raw[0] == '/' || !strcmp(dir, "/") ? "" : "/", raw) >= outlen) {
		cfg_error(cfg, field, "the path is too long (at most %zu bytes)", outlen - 1);
		return -EINVAL;
	}
	return 0;
}

int cfg_mqtt_load(struct cfg *cfg, const char *dir, struct cfg_mqtt *m)
{
	char pwfile[PATH_MAX];
	long long v;
	int errors = cfg->errors, rc;

	memset(m, 0, sizeof(*m));
	if (cfg_string(cfg, "mqtt.host", CFG_OPTIONAL, "127.0.0.1", m->host,
		       sizeof(m->host)) == 0 && !m->host[0])
		cfg_error(cfg, "mqtt.host", "must not be empty (e.g. \"127.0.0.1\")");
	m->port = cfg_int(cfg, "mqtt.port", CFG_OPTIONAL, 1883, 1, 65535, &v) >= 0 ? (int)v
										   : 1883;
	m->keepalive = cfg_int(cfg, "mqtt.keepalive", CFG_OPTIONAL, 30, 5, 3600, &v) >= 0
		       ? (int)v : 30;
	cfg_string(cfg, "mqtt.username", CFG_OPTIONAL, "", m->username, sizeof(m->username));
	cfg_string(cfg, "mqtt.password", CFG_OPTIONAL, "", m->password, sizeof(m->password));
	if (m->password[0] && !m->username[0])
		cfg_error(cfg, "mqtt.password", "is set but mqtt.username is empty");
	if (mqtt_path(cfg, "mqtt.cafile", dir, m->cafile, sizeof(m->cafile),
		      "the broker's CA certificate (ca.crt of `loaxa broker-config` or of the "
		      "node bundle)") == 0 && access(m->cafile, R_OK) < 0)
		cfg_error(cfg, "mqtt.cafile", "cannot read %s: %s", m->cafile, strerror(errno));
	rc = mqtt_path(cfg, "mqtt.password_file", dir, pwfile, sizeof(pwfile),
		       "a file holding the broker password on one line");
	if (rc == 0) {
		if (m->password[0])
			cfg_error(cfg, "mqtt.password_file", "give mqtt.password or "
				  "mqtt.password_file, not both");
		else if (!m->username[0])
			cfg_error(cfg, "mqtt.password_file", "is set but mqtt.username is empty");
		else if (read_secret_line(pwfile, m->password, sizeof(m->password)) < 0)
			cfg_error(cfg, "mqtt.password_file", "cannot read a password from %s "
				  "(one line, at most %zu characters): %s", pwfile,
				  sizeof(m->password) - 1, strerror(errno));
	}
	cfg_mqtt_secure(cfg, m->cafile, m->username, m->host, m->port, &m->insecure);
	return cfg->errors > errors ? -EINVAL : 0;
}
