/*
 * config.h - libconfig with errors an operator can act on.
 *
 * Every error names the file, the line and the field, e.g.
 *   node.cfg:12: field "alsa.channels": must be between 1 and 8 (got 0)
 * Lookups use dotted paths ("mqtt.port"). Each getter returns 0 when the
 * value was found and valid, 1 when it was absent and the default was used,
 * and -EINVAL (after logging) when it is present but wrong or required and
 * absent. cfg_reject_unknown() catches typos: a field the daemon does not
 * know is an error, not silently ignored.
 */
#ifndef LOAXA_CONFIG_H
#define LOAXA_CONFIG_H

#include <libconfig.h>
#include <limits.h>
#include <stddef.h>

struct cfg {
	config_t c;
	char path[4096];
	int errors; /* count of errors logged so far */
};

enum { CFG_OPTIONAL = 0, CFG_REQUIRED = 1 };

/*
 * The command-line options every loaxa daemon takes, for its getopt_long
 * table (<getopt.h>): -c/--config FILE, --check-config ('C'), -v/--verbose,
 * -V/--version, -h/--help. The same words on both daemons, so a maintainer
 * who knows one knows the other (loaxa-controller(8), loaxa-node(8)).
 */
#define CFG_DAEMON_OPTIONS \
	{ "config", required_argument, NULL, 'c' }, \
	{ "check-config", no_argument, NULL, 'C' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "version", no_argument, NULL, 'V' }, \
	{ "help", no_argument, NULL, 'h' }

int cfg_load(struct cfg *cfg, const char *path);
void cfg_free(struct cfg *cfg);

int cfg_string(struct cfg *cfg, const char *field, int required, const char *def,
	       char *out, size_t outlen);
int cfg_int(struct cfg *cfg, const char *field, int required, long long def,
	    long long min, long long max, long long *out);
int cfg_double(struct cfg *cfg, const char *field, int required, double def,
	       double min, double max, double *out);
int cfg_bool(struct cfg *cfg, const char *field, int required, int def, int *out);
/* An array of strings; *n is set to the count (at most max). */
int cfg_string_list(struct cfg *cfg, const char *field, int required,
		    char (*out)[32], size_t max, size_t *n);

/*
 * known: NULL-terminated list of dotted paths of every field and group the
 * daemon understands, e.g. {"site", "mqtt", "mqtt.host", NULL}. "group.*"
 * accepts any direct member of group (names chosen by the operator).
 */
int cfg_reject_unknown(struct cfg *cfg, const char *const *known);

/*
 * The MQTT rule both daemons share (docs/security.md, "Secure by default"):
 * the link to the broker uses TLS (mqtt.cafile set) and an account
 * (mqtt.username set). Plaintext or anonymous MQTT is an error naming the
 * missing field unless the config says mqtt.insecure = true; then it is
 * allowed and a warning is logged, at every start. *insecure gets the
 * setting. 0 or -EINVAL (logged).
 */
int cfg_mqtt_secure(struct cfg *cfg, const char *cafile, const char *username,
		    const char *host, int port, int *insecure);

/*
 * The directory of the config file at path, absolute (relative paths in
 * the file are taken from there). 0 or negative errno.
 */
int cfg_dir(const char *path, char *out, size_t outlen);

/* The link to the broker, the same group in controller.cfg and node.cfg. */
struct cfg_mqtt {
	char host[256];
	int port;
	int keepalive;
	char username[128];
	char password[256];     /* or read from mqtt.password_file */
	char cafile[PATH_MAX];  /* TLS when set: the broker's CA */
	int insecure;           /* plaintext/anonymous allowed (cfg_mqtt_secure) */
};

/*
 * Read the whole mqtt group (host, port, keepalive, username, password or
 * password_file, cafile, insecure) into m, once for both daemons so their
 * rules and messages cannot drift. Relative paths are taken from dir (the
 * config file's directory). Defaults: 127.0.0.1:1883, keepalive 30 s.
 * Ends with cfg_mqtt_secure(). 0, or -EINVAL after logging every problem.
 */
int cfg_mqtt_load(struct cfg *cfg, const char *dir, struct cfg_mqtt *m);

/* Log "file:line: field "x": msg" for a field found in the file. */
void cfg_error(struct cfg *cfg, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
