/*
 * ctl.h - the controller's one context, shared by its modules.
 *
 * The controller is a single thread around one poll() loop (main.c). Every
 * module keeps its state in a member of struct ctl and is called from that
 * loop; none blocks for long (imports run in a child process, see
 * imports.h). Unit tests build a struct ctl with a database and a signer
 * but no broker, and call the modules' handlers directly.
 */
#ifndef LOAXA_CTL_H
#define LOAXA_CTL_H

#include "alarms.h"
#include "ctlcfg.h"
#include "db.h"
#include "delivery.h"
#include "envelope.h"
#include "imports.h"
#include "journal.h"
#include "mqtt.h"
#include "nodes.h"
#include "timesvc.h"

struct ctl_api;
struct ctl_auth;
struct ctl_keys;
struct ctl_sched;
struct ctl_emergency;
struct ctl_live;
struct ctl_record;
struct ctl_report;

struct ctl {
	struct ctl_config cfg;
	struct ctl_db db;
	struct signer signer;
	struct ctl_mqtt mqtt;
	struct ctl_delivery delivery;
	struct ctl_imports imports;
	struct ctl_journal journal;
	struct ctl_alarms alarms;
	struct ctl_api *api;
	struct ctl_auth *auth;     /* auth.h: login rate limits */
	struct ctl_keys *keys;     /* keys.h: rotation in progress, trust doc */
	struct ctl_sched *sched;   /* scheduler.h */
	struct ctl_emergency *emerg; /* emergency.c */
	struct ctl_live *live;       /* live.c */
	struct ctl_record *record;   /* record.c */
	struct ctl_report *report;   /* reportpdf.h: the PDF being rendered */
	struct ctl_timesvc timesvc;
	struct ctl_nodes_clock nodes_clock; /* nodes.h */
	char content_dir[PATH_MAX]; /* <state_dir>/content */
	char tmp_dir[PATH_MAX];     /* <state_dir>/tmp: uploads being imported */
	char worker_path[PATH_MAX]; /* the decode worker (decodeworker.h), found at first use */
	int stopping;
	struct ctl_rollup *rollup;   /* rollup.h: summaries up and down the hierarchy */
};

/* "<state_dir>/content/<id>.opus" */
int ctl_content_path(const struct ctl *c, const char *id, char *out, size_t outlen);

/*
 * Copy s into out (at most outlen - 1 bytes) with control characters
 * replaced by '?', so text from the network cannot break a log line.
 */
const char *ctl_printable(char *out, size_t outlen, const char *s);

#endif
