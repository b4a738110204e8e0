/*
 * ctlcfg.h - the controller's configuration file (etc/controller.cfg).
 *
 * Every field is checked when the file is loaded; each error names the
 * file, the line and the field. Relative paths are taken relative to the
 * directory that holds the config file, so a test or a demo can keep its
 * whole tree in one place.
 */
#ifndef LOAXA_CTLCFG_H
#define LOAXA_CTLCFG_H

#include <limits.h>

#include "capmap.h"
#include "config.h"
#include "envelope.h"
#include "schedparse.h"

/* sun_path of struct sockaddr_un holds 108 bytes, NUL included. */
#define CTL_SOCKET_PATH_MAX 108

/* The commune's name as written in documents (UTF-8): 100 letters with marks. */
#define CTL_COMMUNE_MAX 256

/*
 * Capture devices (microphone, line-in of a VOV/FM receiver) are named in
 * controller.cfg: capture = { mic = "hw:1,0"; vov = "plughw:2,0"; };
 * Clients (API, CLI, schedule sources) give only a name; the ALSA string
 * comes from here. ALSA names are a configuration language (the file
 * plugin runs `file:'|cmd'` as a shell command), so a client's string must
 * never reach snd_pcm_open.
 */
#define CTL_CAPTURE_MAX 16
#define CTL_CAPTURE_PCM_MAX 256

struct ctl_capture {
	char name[32];                  /* name_valid() */
	char pcm[CTL_CAPTURE_PCM_MAX];  /* the ALSA device string */
};

struct ctl_config {
	char path[PATH_MAX];     /* the config file itself */
	char site[ENVELOPE_SITE_LEN + 1];
	char commune[CTL_COMMUNE_MAX]; /* its name in Vietnamese, for the report; "" = site */
	char state_dir[PATH_MAX];
	char api_socket[CTL_SOCKET_PATH_MAX];
	char key_path[PATH_MAX];
	struct cfg_mqtt mqtt;       /* config.h: the same group as the node's */
	struct {
		int token_ttl_s;        /* API login tokens live this long */
	} auth;
	struct {
		int lifetime_days;      /* a controller key expires this long after made */
		int retire_after_s;     /* nodes keep trusting the old key this long */
		char recovery_pub[PATH_MAX]; /* break-glass public key, for bundles */
	} keys;
	struct {
		char dir[PATH_MAX];     /* provisioning: passwd, acl, ca.crt (broker-config) */
		char node_host[256];    /* the broker as nodes reach it (bundles) */
		int node_port;
	} broker;
	struct {
		double target_lufs;
		double true_peak_dbtp;
		int speech_kbps;
		int music_kbps;
		int max_duration_s;
	} import;
	struct {
		char ca_file[PATH_MAX]; /* https relays: the CA; "": the system's store */
	} relay;
	struct {
		int chunk_bytes;
		int window;
	} delivery;
	struct {
		int offline_after_s;
	} nodes;
	struct {
		int events_days;         /* node events older than this are pruned (retention.h) */
		int audit_days;          /* audit rows older than this are pruned */
	} retention;
	struct sched_site sched;   /* timezone, schedule.*, zones (schedparse.h) */
	struct {
		int offline_s;           /* offline this long: alarm */
		double clock_error_ms;   /* clock error bound above this: alarm */
		int disk_free_mb;        /* less free on the node's state fs: alarm */
		int plan_ack_s;          /* plan published, not acknowledged after this */
		int miss_ahead_s;        /* upcoming item not ready this close to its time */
		char hook[PATH_MAX];     /* program run with the alarm JSON on stdin */
		int hook_timeout_s;
	} alarms;
	/* the daily horn self-test (selftest.h): local minute of the day, -1 = off */
	struct {
		int daily_min;
	} selftest;
	/*
	 * The web console's HTTPS listener (web.h): off while listen is "".
	 * cert and key are PEM files (`loaxa web-cert`, or the commune's own);
	 * root holds the console's static files.
	 */
	struct {
		char listen[64];         /* "0.0.0.0:8443", "[::]:8443", "192.168.1.10:443" */
		char cert[PATH_MAX];
		char key[PATH_MAX];
		char root[PATH_MAX];     /* default /usr/share/loaxa/web */
	} web;
	struct {
		struct ctl_capture dev[CTL_CAPTURE_MAX]; /* in file order; dev[0] is the default */
		size_t n;
	} capture;
	struct cap_config cap;     /* CAP 1.2 alerts from upper levels (capmap.h, docs/cap.md) */
};

/*
 * Load and check path. Logs every problem found (not only the first) and
 * returns 0 or -EINVAL.
 */
int ctl_config_load(struct ctl_config *c, const char *path);

/*
 * The ALSA string of the capture device called name (as the client gave it,
 * for field, or NULL); NULL when controller.cfg names no such device, with
 * err saying so ("field: ..."), with the known names.
 */
const char *ctl_capture_pcm(const struct ctl_config *c, const char *field, const char *name,
			    char *err, size_t errlen);

/* Defaults of every field (what an empty file but for "site" gives). */
void ctl_config_defaults(struct ctl_config *c);

#endif
