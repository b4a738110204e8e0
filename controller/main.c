/*
 * main.c - loaxa-controller: command line, start-up, its parts on the event
 * loop (common/loop.h), shutdown.
 *
 *   loaxa-controller -c FILE [--check-config] [-v]
 *
 * Everything happens in one thread around one poll(): the three MQTT sockets,
 * the HTTP API's epoll fd, the pipes of running import workers, the eventfd
 * of the password check thread (auth.h) and of schedule-file parser
 * threads (libconfig's parse of a large file takes seconds; schedjobs.c),
 * the only other threads, the loop's timer
 * ticking once a second (nodes gone silent, schedules, keys) and a
 * signalfd (SIGINT/SIGTERM: clean exit; SIGCHLD: an import worker ended;
 * SIGHUP: logged, not supported).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "alarms.h"
#include "selftest.h"
#include "api.h"
#include "auth.h"
#include "backup.h"
#include "cap.h"
#include "capdev.h"
#include "emergency.h"
#include "rollup.h"
#include "live.h"
#include "record.h"
#include "relay.h"
#include "retention.h"
#include "ctl.h"
#include "delivery.h"
#include "imports.h"
#include "keys.h"
#include "i18n.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "nodes.h"
#include "reportpdf.h"
#include "schedjobs.h"
#include "scheduler.h"
#include "timesvc.h"
#include "util.h"

/* ... + auth + schedules + report + a recording's capture device */
#define MAX_POLLFDS (8 + CTL_IMPORTS_RUNNING + 8 + 1 + 2 * CTL_LIVE_MAX_PFDS + 1 + 1 + 1 + \
		     CAPTURE_MAX_PFDS)
_Static_assert(MAX_POLLFDS <= LOOP_MAX_SOURCE_PFDS + 2,
	       "the event loop has room for every descriptor of the controller");

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loaxa-controller -c FILE [--check-config] [-v]\n"
		"       loaxa-controller -c FILE --add-admin NAME [--password-file F]\n"
		"       loaxa-controller -c FILE --backup OUT [--no-content]\n"
		"       loaxa-controller -c FILE --restore IN [--force]\n"
		"\n"
		"  -c, --config FILE   the controller's config (see etc/controller.cfg)\n"
		"      --check-config  check the config and the key, then exit\n"
		"  -V, --version       print the version, then exit\n"
		"      --add-admin NAME  create an administrator (the first account; the\n"
		"                      password is the first line of --password-file F,\n"
		"                      default standard input), then exit\n"
		"      --backup OUT    write the database (online), configuration, keys,\n"
		"                      broker accounts and content to the archive OUT (0600)\n"
		"      --no-content    without the content (smaller; re-import it later)\n"
		"      --restore IN    put an archive back where its configuration says;\n"
		"                      the configuration goes to -c FILE; refuses while a\n"
		"                      controller runs, and an existing database unless\n"
		"      --force         is given\n"
		"  -v, --verbose       also log debug lines\n"
		"  -h, --help          this text\n");
}

/*
 * Remove what a previous run left behind when stopped mid-import: uploads
 * ("upload-" in tmp) and the decode worker's unnamed output (".import-" in
 * the content store).
 */
static void clean_tmp_dir(const char *dir, const char *prefix)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

static int prepare_state(struct ctl *c)
{
	char dbpath[PATH_MAX];
	int rc;

	if ((size_t)snprintf(c->content_dir, sizeof(c->content_dir), "%s/content",
			     c->cfg.state_dir) >= sizeof(c->content_dir) ||
	    (size_t)snprintf(c->tmp_dir, sizeof(c->tmp_dir), "%s/tmp", c->cfg.state_dir) >=
		    sizeof(c->tmp_dir) ||
	    (size_t)snprintf(dbpath, sizeof(dbpath), "%s/loaxa.db", c->cfg.state_dir) >=
		    sizeof(dbpath)) {
		log_errorx("state_dir %s: path too long", c->cfg.state_dir);
		return -ENAMETOOLONG;
	}
	rc = mkdir_p(c->cfg.state_dir, 0750);
	if (rc == 0)
		rc = mkdir_p(c->content_dir, 0750);
	if (rc == 0)
		rc = mkdir_p(c->tmp_dir, 0700);
	if (rc < 0) {
		errno = -rc;
		log_warn("cannot create the state directory %s (state_dir in %s)",
			 c->cfg.state_dir, c->cfg.path);
		return rc;
	}
	clean_tmp_dir(c->tmp_dir, "upload-");
	clean_tmp_dir(c->tmp_dir, "rec-"); /* a recording cut by a crash */
	clean_tmp_dir(c->content_dir, ".import-");
	return ctl_db_open(&c->db, dbpath);
}

static int setup_signals(sigset_t *mask)
{
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGHUP);
	sigaddset(mask, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, mask, NULL) < 0)
		return -errno;
	fd = signalfd(-1, mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* SIGINT/SIGTERM stop; SIGCHLD: an import worker or an alarm script ended. */
static void on_signal(struct loop *l, int fd, short revents, void *arg)
{
	struct ctl *c = arg;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			log_info(_("stopping (%s)"), strsignal((int)si.ssi_signo));
			loop_stop(l);
			break;
		case SIGHUP:
			log_info(_("SIGHUP: reloading the config is not supported; restart the "
				 "service to apply changes"));
			break;
		case SIGCHLD:
			ctl_imports_reap(c);
			ctl_alarms_reap(c);
			break;
		}
	}
}

/* Set when systemd watches us (WatchdogSec=): ping it on every tick. */
static int watchdog_on;

/* Once a second: nodes gone silent, schedules, ... (the MQTT connections'
 * keepalives and reconnects are their own ticks: common/mqconn.h) */
static void second_timer(struct loop *l, long id, void *arg)
{
	struct ctl *c = arg;

	(void)l;
	(void)id;
	ctl_live_tick(c);
	ctl_relay_tick(c);
	ctl_nodes_tick(c);
	ctl_keys_tick(c);
	ctl_sched_tick(c);
	ctl_journal_flush(c);
	ctl_alarms_tick(c);
	ctl_selftest_tick(c);
	ctl_retention_tick(c);
	ctl_rollup_tick(c);
	if (watchdog_on)
		sd_notify(0, "WATCHDOG=1");
}

/* The modules' poll descriptors, for the loop's sources (loop.h). */
static int api_fill(struct loop *l, struct pollfd *p, int max, void *arg)
{
	(void)l;
	return ctl_api_pollfds(arg, p, max);
}

static void api_handle(struct loop *l, struct pollfd *p, int n, void *arg)
{
	/* nothing here: MHD runs on every turn (api_tick) */
	(void)l;
	(void)p;
	(void)n;
	(void)arg;
}

static int imports_fill(struct loop *l, struct pollfd *p, int max, void *arg)
{
	(void)l;
	return ctl_imports_pollfds(arg, p, max);
}

static void imports_handle(struct loop *l, struct pollfd *p, int n, void *arg)
{
	(void)l;
	(void)n;
	ctl_imports_handle(arg, p);
}

static int live_fill(struct loop *l, struct pollfd *p, int max, void *arg)
{
	(void)l;
	return ctl_live_pollfds(arg, p, max);
}

static void live_handle(struct loop *l, struct pollfd *p, int n, void *arg)
{
	(void)l;
	ctl_live_handle(arg, p, n);
}

static int record_fill(struct loop *l, struct pollfd *p, int max, void *arg)
{
	(void)l;
	return ctl_record_pollfds(arg, p, max);
}

static void record_handle(struct loop *l, struct pollfd *p, int n, void *arg)
{
	(void)l;
	ctl_record_handle(arg, p, n);
}

static int auth_fill(struct loop *l, struct pollfd *p, int max, void *arg)
{
	(void)l;
	return max >= 1 ? ctl_auth_pollfd(arg, p) : 0;
}

static void auth_handle(struct loop *l, struct pollfd *p, int n, void *arg)
{
	(void)l;
	if (n)
		ctl_auth_handle(arg, p); /* checked passwords: logins resume */
}

static int sched_fill(struct loop *l, struct pollfd *p, int max, void *arg)
{
	(void)l;
	return max >= 1 ? ctl_sched_pollfd(arg, p) : 0;
}

static void sched_handle(struct loop *l, struct pollfd *p, int n, void *arg)
{
	(void)l;
	if (n)
		ctl_sched_handle(arg, p);
}

static int report_fill(struct loop *l, struct pollfd *p, int max, void *arg)
{
	(void)l;
	return max >= 1 ? ctl_report_pdf_pollfd(arg, p) : 0;
}

static void report_handle(struct loop *l, struct pollfd *p, int n, void *arg)
{
	(void)l;
	if (n)
		ctl_report_pdf_handle(arg, p); /* a PDF made: its request resumes */
}

/* Every turn: cheap in epoll mode, and serves resumed uploads. */
static void api_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	ctl_api_run(arg);
}

/* How long MHD may wait (its connection timeouts); 0: at once. */
static int64_t api_deadline(void *arg)
{
	int t = ctl_api_timeout_ms(arg);

	if (t < 0)
		return INT64_MAX;
	return t == 0 ? LOOP_NOW : mono_ms() + t;
}

static void delivery_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	(void)mono;
	ctl_delivery_pump(arg);
}

/* Chunks still to send: go round again without waiting, as fast as the
 * broker takes them (delivery.h). */
static int64_t delivery_deadline(void *arg)
{
	return ctl_delivery_more(arg) ? LOOP_NOW : INT64_MAX;
}

/*
 * The controller's parts on the event loop (common/loop.h), in the order
 * they always ran in: the signals first (a stop wins), the once-a-second
 * work, then the descriptors of the HTTP API (MHD's epoll fd), the MQTT
 * connections (each with its own tick: keepalive, reconnect; and the
 * modules that read what nodes send register in their subscription table),
 * the import workers' pipes, live's connection, its sockets and capture device,
 * a recording's capture device, the password-check thread's eventfd, the
 * schedule-file parser's and the report renderer's; after every wake-up
 * MHD runs (resumed requests) and the delivery pump sends what it can.
 */
static int register_parts(struct loop *l, struct ctl *c, int sfd)
{
	int rc = 0;

	rc = rc < 0 ? rc : loop_fd_add(l, sfd, POLLIN, on_signal, c);
	rc = rc < 0 ? rc : (int)loop_timer_add(l, 1000, 1000, second_timer, c);
	rc = rc < 0 ? rc : loop_source_add(l, api_fill, api_handle, c);
	rc = rc < 0 ? rc : ctl_mqtt_register(l, c);
	/* what nodes send, through the MQTT subscription table (mqtt.h) */
	rc = rc < 0 ? rc : ctl_nodes_register(c);
	rc = rc < 0 ? rc : ctl_timesvc_register(c);
	rc = rc < 0 ? rc : ctl_delivery_register(c);
	rc = rc < 0 ? rc : loop_source_add(l, imports_fill, imports_handle, c);
	rc = rc < 0 ? rc : ctl_live_register(l, c); /* its MQTT connection */
	rc = rc < 0 ? rc : loop_source_add(l, live_fill, live_handle, c);
	rc = rc < 0 ? rc : loop_source_add(l, record_fill, record_handle, c);
	rc = rc < 0 ? rc : loop_source_add(l, auth_fill, auth_handle, c);
	rc = rc < 0 ? rc : loop_source_add(l, sched_fill, sched_handle, c);
	rc = rc < 0 ? rc : loop_source_add(l, report_fill, report_handle, c);
	rc = rc < 0 ? rc : loop_tick_add(l, "api", api_tick, api_deadline, c);
	rc = rc < 0 ? rc : loop_tick_add(l, "delivery", delivery_tick, delivery_deadline, c);
	return loop_setup_result(rc);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CFG_DAEMON_OPTIONS,
		{ "add-admin", required_argument, NULL, 'A' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "backup", required_argument, NULL, 'B' },
		{ "restore", required_argument, NULL, 'R' },
		{ "no-content", no_argument, NULL, 'N' },
		{ "force", no_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	static struct ctl ctl; /* large: keep it off the stack */
	struct ctl *c = &ctl;
	const char *config = NULL, *add_admin = NULL, *password_file = "-";
	const char *backup = NULL, *restore = NULL;
	struct backup_opts bo = { .with_content = 1, .progress = isatty(2) };
	int ch, check = 0, verbose = 0, sfd = -1, rc = 1, loop_ready = 0;
	static struct loop loop;
	sigset_t mask;

	while ((ch = getopt_long(argc, argv, "c:vVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			check = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'V':
			printf("loaxa-controller %s\n", LOAXA_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'A':
			add_admin = optarg;
			break;
		case 'P':
			password_file = optarg;
			break;
		case 'B':
			backup = optarg;
			break;
		case 'R':
			restore = optarg;
			break;
		case 'N':
			bo.with_content = 0;
			break;
		case 'F':
			bo.force = 1;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	i18n_init(I18N_DOMAIN);
	log_init("loaxa-controller", verbose);
	if (restore) /* the configuration comes out of the archive */
		return backup_restore(restore, config, &bo) < 0 ? 1 : 0;
	if (ctl_config_load(&c->cfg, config) < 0) {
		log_errorx(_("%s: the configuration has errors (see above)"), config);
		return 1;
	}
	if (backup)
		return backup_write(&c->cfg, backup, &bo) < 0 ? 1 : 0;
	if (add_admin) {
		/*
		 * The first account is made here, by whoever can read the config
		 * and write the database (root or the service user), never over
		 * the API: there is no moment when the API takes a password from
		 * someone unauthenticated. SQLite's locking makes this safe while
		 * the daemon runs.
		 */
		if (prepare_state(c) < 0)
			return 1;
		rc = ctl_auth_add_admin_cli(&c->db, add_admin, password_file);
		ctl_db_close(&c->db);
		return rc;
	}
	/*
	 * --check-config checks what the file says; a key that does not exist
	 * yet (an example config, a machine being set up) is only a warning.
	 */
	if (check && access(c->cfg.key_path, F_OK) < 0 && errno == ENOENT) {
		log_warnx(_("%s: field \"key\": %s does not exist yet (make it with "
			  "\"loaxa keygen -o DIR\"); the controller will not start without it"),
			  config, c->cfg.key_path);
	} else if (signer_load(&c->signer, c->cfg.key_path, c->cfg.site) < 0) {
		log_errorx(_("%s: field \"key\": cannot use the controller key %s (make one "
			   "with \"loaxa keygen -o DIR\")"), config, c->cfg.key_path);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (site %s, state in %s, API on %s, broker "
		       "%s:%d)\n", config, c->cfg.site, c->cfg.state_dir, c->cfg.api_socket,
		       c->cfg.mqtt.host, c->cfg.mqtt.port);
		rc = 0;
		goto out;
	}
	log_info(_("loaxa-controller %s starting: site %s, state in %s"), LOAXA_VERSION,
		 c->cfg.site, c->cfg.state_dir);

	sfd = setup_signals(&mask);
	if (sfd < 0) {
		errno = -sfd;
		log_warn("cannot set up signal handling");
		goto out;
	}
	rc = loop_init(&loop);
	if (rc < 0) {
		errno = -rc;
		rc = 1;
		log_warn("cannot create the timer");
		goto out;
	}
	rc = 1;
	loop_ready = 1;
	if (prepare_state(c) < 0)
		goto out;
	ctl_mqtt_init(c);
	if (ctl_auth_init(c) < 0)
		goto out;
	if (ctl_sched_start(c) < 0)
		goto out;
	if (ctl_emergency_init(c) < 0 || ctl_live_init(c) < 0 || ctl_record_init(c) < 0)
		goto out;
	if (ctl_rollup_start(c) < 0) /* subscribes before the connections start */
		goto out;
	if (ctl_cap_init(c) < 0)
		goto out;
	if (ctl_api_start(c) < 0)
		goto out;
	if (ctl_mqtt_start(c) < 0 || ctl_live_start(c) < 0)
		goto out;
	if (ctl_keys_start(c) < 0)
		goto out;
	{
		uint64_t usec;
		watchdog_on = sd_watchdog_enabled(0, &usec) > 0;
	}
	sd_notify(0, "READY=1\nSTATUS=running");
	log_info(_("ready: %d node%s known"), ctl_db_node_count(&c->db),
		 ctl_db_node_count(&c->db) == 1 ? "" : "s");

	if (register_parts(&loop, c, sfd) < 0)
		goto out;
	rc = loop_run(&loop);
	if (rc < 0) {
		errno = -rc;
		log_warn("poll");
	}
	rc = rc < 0 ? 1 : 0;

	sd_notify(0, "STOPPING=1");
out:
	c->stopping = 1;
	ctl_imports_stop(c);
	ctl_record_free(c); /* after the imports: none of them calls back into it */
	ctl_auth_stop(c); /* logins waiting for a check get their answer first */
	ctl_report_pdf_stop(c); /* a report being rendered too */
	ctl_api_stop(c);
	ctl_sched_stop(c);
	ctl_delivery_reset(c);
	ctl_live_free(c);
	ctl_mqtt_stop(c);
	ctl_keys_stop(c);
	ctl_auth_free(c);
	ctl_emergency_free(c);
	ctl_rollup_free(c);
	ctl_journal_free(c);
	ctl_alarms_free(c);
	ctl_db_close(&c->db);
	if (loop_ready)
		loop_free(&loop);
	if (sfd >= 0)
		close(sfd);
	sodium_memzero(&c->signer, sizeof(c->signer));
	if (!check)
		log_info(_("stopped"));
	return rc;
}
