/*
 * main.c - loaxa-controller: command line, start-up, the one poll() loop.
 *
 *   loaxa-controller -c FILE [--check-config] [-v]
 *
 * Everything happens in one thread around one poll(): the two MQTT sockets,
 * the HTTP API's epoll fd, the pipes of running import workers, the eventfd
 * of the password check thread (auth.h) and of schedule-file parser
 * threads (libconfig's parse of a large file takes seconds; schedules.c),
 * the only other threads, a timerfd
 * ticking once a second (keepalives, reconnects, nodes gone silent) and a
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
#include <sys/timerfd.h>
#include <unistd.h>

#include <dirent.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "alarms.h"
#include "api.h"
#include "auth.h"
#include "backup.h"
#include "capdev.h"
#include "emergency.h"
#include "live.h"
#include "record.h"
#include "relay.h"
#include "retention.h"
#include "ctl.h"
#include "delivery.h"
#include "imports.h"
#include "keys.h"
#include "log.h"
#include "mqtt.h"
#include "nodes.h"
#include "reportpdf.h"
#include "schedules.h"
#include "util.h"

/* ... + auth + schedules + report + a recording's capture device */
#define MAX_POLLFDS (8 + CTL_IMPORTS_RUNNING + 8 + 1 + 2 * CTL_LIVE_MAX_PFDS + 1 + 1 + 1 + \
		     CAPTURE_MAX_PFDS)

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

static int setup_timer(void)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = 1 },
		.it_value = { .tv_sec = 1 },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

/* Returns 1 when the daemon must stop. */
static int handle_signals(struct ctl *c, int sfd)
{
	struct signalfd_siginfo si;
	int stop = 0;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			log_info("stopping (%s)", strsignal((int)si.ssi_signo));
			stop = 1;
			break;
		case SIGHUP:
			log_info("SIGHUP: reloading the config is not supported; restart the "
				 "service to apply changes");
			break;
		case SIGCHLD:
			ctl_imports_reap(c);
			ctl_alarms_reap(c);
			break;
		}
	}
	return stop;
}

/* Set when systemd watches us (WatchdogSec=): ping it on every tick. */
static int watchdog_on;

static void handle_tick(struct ctl *c, int tfd)
{
	uint64_t expirations;

	if (read(tfd, &expirations, sizeof(expirations)) < 0)
		return;
	ctl_mqtt_tick(c);
	ctl_live_tick(c);
	ctl_relay_tick(c);
	ctl_nodes_tick(c);
	ctl_keys_tick(c);
	ctl_sched_tick(c);
	ctl_journal_flush(c);
	ctl_alarms_tick(c);
	ctl_retention_tick(c);
	if (watchdog_on)
		sd_notify(0, "WATCHDOG=1");
}

static int run(struct ctl *c, int sfd, int tfd)
{
	struct pollfd pfds[MAX_POLLFDS];
	int n, api_idx, mqtt_idx, imp_idx, live_idx, nlive, rec_idx, nrec, auth_idx, nauth;
	int sched_idx, nsched, rep_idx, nrep;
	int timeout, rc;

	for (;;) {
		n = 0;
		pfds[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfds[n++] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		api_idx = n;
		n += ctl_api_pollfd(c, &pfds[n]);
		mqtt_idx = n;
		n += ctl_mqtt_pollfds(c, &pfds[n], MAX_POLLFDS - n);
		imp_idx = n;
		n += ctl_imports_pollfds(c, &pfds[n], MAX_POLLFDS - n);
		live_idx = n;
		nlive = ctl_live_pollfds(c, &pfds[n], MAX_POLLFDS - n);
		n += nlive;
		rec_idx = n;
		nrec = ctl_record_pollfds(c, &pfds[n], MAX_POLLFDS - n);
		n += nrec;
		auth_idx = n;
		nauth = ctl_auth_pollfd(c, &pfds[n]);
		n += nauth;
		sched_idx = n;
		nsched = ctl_sched_pollfd(c, &pfds[n]);
		n += nsched;
		rep_idx = n;
		nrep = ctl_report_pdf_pollfd(c, &pfds[n]);
		n += nrep;
		timeout = ctl_delivery_more(c) ? 0 : ctl_api_timeout_ms(c);

		rc = poll(pfds, (nfds_t)n, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			return -errno;
		}
		if ((pfds[0].revents & POLLIN) && handle_signals(c, sfd))
			return 0;
		if (pfds[1].revents & POLLIN)
			handle_tick(c, tfd);
		ctl_mqtt_handle(c, &pfds[mqtt_idx]);
		ctl_imports_handle(c, &pfds[imp_idx]);
		ctl_live_handle(c, &pfds[live_idx], nlive);
		ctl_record_handle(c, &pfds[rec_idx], nrec);
		if (nauth)
			ctl_auth_handle(c, &pfds[auth_idx]); /* checked passwords: logins resume */
		if (nsched)
			ctl_sched_handle(c, &pfds[sched_idx]);
		if (nrep)
			ctl_report_pdf_handle(c, &pfds[rep_idx]); /* a PDF made: its request resumes */
		/* every turn: cheap in epoll mode, and serves resumed uploads */
		(void)api_idx;
		ctl_api_run(c);
		ctl_delivery_pump(c);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
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
	int ch, check = 0, verbose = 0, sfd = -1, tfd = -1, rc = 1;
	sigset_t mask;

	while ((ch = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
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
	log_init("loaxa-controller", verbose);
	if (restore) /* the configuration comes out of the archive */
		return backup_restore(restore, config, &bo) < 0 ? 1 : 0;
	if (ctl_config_load(&c->cfg, config) < 0) {
		log_errorx("%s: the configuration has errors (see above)", config);
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
		log_warnx("%s: field \"key\": %s does not exist yet (make it with "
			  "\"loaxa keygen -o DIR\"); the controller will not start without it",
			  config, c->cfg.key_path);
	} else if (signer_load(&c->signer, c->cfg.key_path, c->cfg.site) < 0) {
		log_errorx("%s: field \"key\": cannot use the controller key %s (make one "
			   "with \"loaxa keygen -o DIR\")", config, c->cfg.key_path);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (site %s, state in %s, API on %s, broker "
		       "%s:%d)\n", config, c->cfg.site, c->cfg.state_dir, c->cfg.api_socket,
		       c->cfg.mqtt.host, c->cfg.mqtt.port);
		rc = 0;
		goto out;
	}
	log_info("loaxa-controller %s starting: site %s, state in %s", LOAXA_VERSION,
		 c->cfg.site, c->cfg.state_dir);

	sfd = setup_signals(&mask);
	if (sfd < 0) {
		errno = -sfd;
		log_warn("cannot set up signal handling");
		goto out;
	}
	tfd = setup_timer();
	if (tfd < 0) {
		errno = -tfd;
		log_warn("cannot create the timer");
		goto out;
	}
	if (prepare_state(c) < 0)
		goto out;
	ctl_mqtt_init(c);
	if (ctl_auth_init(c) < 0)
		goto out;
	if (ctl_sched_start(c) < 0)
		goto out;
	if (ctl_emergency_init(c) < 0 || ctl_live_init(c) < 0 || ctl_record_init(c) < 0)
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
	log_info("ready: %d node%s known", ctl_db_node_count(&c->db),
		 ctl_db_node_count(&c->db) == 1 ? "" : "s");

	rc = run(c, sfd, tfd) < 0 ? 1 : 0;

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
	ctl_journal_free(c);
	ctl_alarms_free(c);
	ctl_db_close(&c->db);
	if (tfd >= 0)
		close(tfd);
	if (sfd >= 0)
		close(sfd);
	sodium_memzero(&c->signer, sizeof(c->signer));
	if (!check)
		log_info("stopped");
	return rc;
}
