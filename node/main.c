/*
 * main.c - loaxa-node: command line, start-up, the poll() loop, shutdown.
 *
 *   loaxa-node -c FILE [--check-config] [-v]
 *
 * One thread, one poll() over: a signalfd (SIGINT, SIGTERM: clean stop;
 * SIGHUP: ignored), a timerfd armed for the earliest thing any module has to
 * do (status heartbeat, fetch re-requests, scheduled plays, reconnects,
 * flushing the sequence state, the systemd watchdog), the two MQTT sockets,
 * and the ALSA poll descriptors while a play is writing. Nothing in the loop
 * sleeps or waits for the network.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "amp.h"
#include "cache.h"
#include "clock.h"
#include "cmd.h"
#include "emergency.h"
#include "events.h"
#include "fetch.h"
#include "live.h"
#include "log.h"
#include "mqtt.h"
#include "node.h"
#include "nodecfg.h"
#include "plan.h"
#include "playout.h"
#include "queue.h"
#include "status.h"
#include "util.h"
#include "topic.h"

/* Highest sequences of frequent types (content) reach the disk this often. */
#define SEQ_FLUSH_MS 5000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loaxa-node -c FILE [--check-config] [-v]\n"
		"\n"
		"The loaxa loudspeaker node: verifies the controller's signed messages,\n"
		"fetches content, plays it through ALSA and reports what it did.\n"
		"\n"
		"  -c, --config FILE   node configuration (see etc/node.cfg)\n"
		"      --check-config  check the configuration and exit (0 = valid)\n"
		"  -v, --verbose       debug logging\n"
		"  -V, --version       print the version\n"
		"  -h, --help          this text\n");
}

struct loop_state {
	int sfd, tfd;
	int64_t next_flush;
	int64_t watchdog_every, next_watchdog;
	enum playout_dev_state last_dev;
	uint64_t last_errors, last_xruns;
};

static int lock_state_dir(const char *dir)
{
	char path[PATH_MAX + 16];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/lock", dir) >= sizeof(path)) {
		log_errorx("state_dir %s: path too long", dir);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_errorx("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_errorx("another loaxa-node is running with state_dir %s", dir);
		else
			log_errorx("cannot lock %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int setup_node(struct node *n)
{
	char seq_path[PATH_MAX + 16], path[PATH_MAX + 16];
	int rc, booted, had_trust;

	topic_root(n->root, sizeof(n->root), n->cfg.site);
	snprintf(seq_path, sizeof(seq_path), "%s/seq", n->cfg.state_dir);
	/* whether this node ran before: then a missing state file was lost, not new */
	snprintf(path, sizeof(path), "%s/boot", n->cfg.state_dir);
	booted = access(path, F_OK) == 0;
	snprintf(path, sizeof(path), "%s/trust.json", n->cfg.state_dir);
	had_trust = access(path, F_OK) == 0;
	rc = verifier_init(&n->ver, n->cfg.site, seq_path, n->cfg.max_message_bytes,
			   (int64_t)n->cfg.max_future_s * 1000);
	if (rc < 0) {
		log_errorx("cannot load the message sequence state %s: %s", seq_path,
			   strerror(-rc));
		return rc;
	}
	n->ver.defer_persist = 1; /* written in tick(), after acting: see envelope.h */
	rc = verifier_add_key(&n->ver, n->cfg.controller_pk);
	if (rc < 0 && rc != -EPERM) { /* EPERM: retired or revoked (keys.c says so) */
		log_errorx("cannot use controller_key: %s", strerror(-rc));
		return rc;
	}
	rc = node_keys_init(n, booted || !n->ver.state_missing);
	if (rc < 0)
		return rc;
	rc = status_boot_init(n);
	if (rc < 0)
		return rc;
	rc = clock_init(&n->clock, n->cfg.state_dir);
	if (rc < 0)
		return rc;
	node_keys_check_state(n, booted || had_trust, clock_now_ms(&n->clock));
	rc = cache_init(&n->cache, n->cfg.state_dir, n->cfg.cache_max_bytes);
	if (rc < 0)
		return rc;
	rc = sysinfo_init(n);
	if (rc < 0)
		return rc;
	rc = events_init(n);
	if (rc < 0)
		return rc;
	fetch_init(n);
	{
		struct playout_cfg pc;

		memset(&pc, 0, sizeof(pc));
		snprintf(pc.device, sizeof(pc.device), "%s", n->cfg.alsa.device);
		pc.channels = n->cfg.alsa.channels;
		pc.rate = n->cfg.alsa.rate;
		pc.buffer_ms = n->cfg.alsa.buffer_ms;
		pc.period_ms = n->cfg.alsa.period_ms;
		playout_init(&n->po, &pc);
	}
	queue_init(n);
	amp_init(n);
	mixer_init(n); /* a crash mid-emergency left it changed: put it back first */
	rc = emergency_init(n);
	if (rc == 0)
		rc = live_init(n);
	return rc < 0 ? rc : plan_init(n);
}

/* Everything time-driven, run after every wake-up (each check is cheap). */
static void tick(struct node *n, struct loop_state *ls)
{
	int64_t mono = mono_ms();

	node_mqtt_tick(n);
	playout_tick(&n->po, mono);
	plan_tick(n);
	emergency_tick(n);
	live_tick(n);
	queue_tick(n);
	amp_tick(n);
	mixer_tick(n);
	clock_tick(n, mono);
	fetch_tick(n, mono);
	node_keys_tick(n);
	events_tick(n, mono);
	sysinfo_tick(n, mono);
	if (n->po.dev != ls->last_dev || n->po.xruns != ls->last_xruns) {
		ls->last_dev = n->po.dev;
		ls->last_xruns = n->po.xruns;
		status_changed(n);
	}
	if (n->po.errors != ls->last_errors) {
		ls->last_errors = n->po.errors;
		status_error(n, "%s", n->po.last_error);
	}
	/* a command's sequence (deferred past its first sample) or the periodic flush */
	if (n->ver.dirty && (n->ver.urgent || mono >= ls->next_flush)) {
		int rc = verifier_flush(&n->ver);
		if (rc < 0)
			log_warnx("cannot save the message sequence state: %s", strerror(-rc));
		ls->next_flush = mono + SEQ_FLUSH_MS;
	}
	status_tick(n, mono);
	if (ls->watchdog_every && mono >= ls->next_watchdog) {
		sd_notify(0, "WATCHDOG=1");
		ls->next_watchdog = mono + ls->watchdog_every;
	}
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static void arm_timer(struct node *n, struct loop_state *ls)
{
	int64_t mono = mono_ms(), t = mono + 60000;
	struct itimerspec its;

	t = min64(t, node_mqtt_next_deadline(n));
	t = min64(t, playout_next_deadline(&n->po));
	t = min64(t, queue_next_deadline(n));
	t = min64(t, emergency_next_deadline(n));
	t = min64(t, live_next_deadline(n));
	t = min64(t, plan_next_deadline(n));
	t = min64(t, amp_next_deadline(n));
	t = min64(t, mixer_next_deadline(n));
	t = min64(t, clock_next_deadline(n));
	t = min64(t, fetch_next_deadline(n));
	t = min64(t, status_next_deadline(n));
	t = min64(t, node_keys_next_deadline(n));
	t = min64(t, events_next_deadline(n));
	t = min64(t, sysinfo_next_deadline(n));
	if (n->ver.dirty)
		t = min64(t, ls->next_flush);
	if (ls->watchdog_every)
		t = min64(t, ls->next_watchdog);
	if (t <= mono)
		t = mono; /* in the past: fires at once */
	memset(&its, 0, sizeof(its));
	/*
	 * Relative to now, +1 ms so we never wake a hair early (and never arm
	 * 0, which disarms). Not TFD_TIMER_ABSTIME: libfaketime, which the
	 * time-of-day tests preload, rewrites absolute timerfd deadlines as if
	 * they were wall-clock times even on CLOCK_MONOTONIC, and the kernel
	 * then refuses them; a relative timer means the same thing here.
	 */
	t = t - mono + 1;
	its.it_value.tv_sec = t / 1000;
	its.it_value.tv_nsec = (t % 1000) * 1000000;
	if (timerfd_settime(ls->tfd, 0, &its, NULL) < 0)
		log_warn("timerfd_settime");
}

static int run(struct node *n, struct loop_state *ls)
{
	struct pollfd pfds[5 + PLAYOUT_MAX_PFDS];

	for (;;) {
		int nmq, nal, nsys, rc, base;

		arm_timer(n, ls);
		pfds[0].fd = ls->sfd;
		pfds[0].events = POLLIN;
		pfds[1].fd = ls->tfd;
		pfds[1].events = POLLIN;
		nmq = node_mqtt_pollfds(n, pfds + 2, 2);
		base = 2 + nmq;
		nal = playout_pollfds(&n->po, pfds + base, PLAYOUT_MAX_PFDS);
		nsys = sysinfo_pollfds(n, pfds + base + nal, 1);
		pfds[0].revents = pfds[1].revents = 0;
		rc = poll(pfds, (nfds_t)(base + nal + nsys), -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			log_errorx("poll: %s", strerror(errno));
			return -1;
		}
		if (pfds[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(ls->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					log_info("received SIGHUP: ignored (the configuration is "
						 "read at start only: restart the node to apply "
						 "changes)");
				} else {
					log_info("received %s: stopping",
						 strsignal((int)si.ssi_signo));
					return 0;
				}
			}
		}
		if (pfds[1].revents & POLLIN) {
			uint64_t expirations;

			if (read(ls->tfd, &expirations, sizeof(expirations)) < 0 &&
			    errno != EAGAIN)
				log_warn("reading the timer");
		}
		node_mqtt_handle(n, pfds + 2);
		if (nal > 0)
			playout_handle(&n->po, pfds + base, nal);
		sysinfo_handle(n, pfds + base + nal, nsys);
		if (n->restart)
			return 0;
		tick(n, ls);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct node node; /* large: not on the stack */
	struct node *n = &node;
	struct loop_state ls;
	const char *cfg_path = NULL;
	int check_only = 0, verbose = 0, opt, rc, lock_fd = -1, status = 1;
	uint64_t wd_usec = 0;
	sigset_t mask;

	sigemptyset(&mask);

	while ((opt = getopt_long(argc, argv, "c:vVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': cfg_path = optarg; break;
		case 'C': check_only = 1; break;
		case 'v': verbose = 1; break;
		case 'V': printf("loaxa-node %s\n", LOAXA_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfg_path || optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("loaxa-node", verbose);
	if (node_cfg_load(&n->cfg, cfg_path) < 0)
		return 1;
	if (check_only) {
		fprintf(stderr, "%s: the configuration is valid (node %s of site %s)\n",
			cfg_path, n->cfg.node, n->cfg.site);
		return 0;
	}

	memset(&ls, 0, sizeof(ls));
	ls.sfd = ls.tfd = -1;
	rc = mkdir_p(n->cfg.state_dir, 0750);
	if (rc < 0) {
		log_errorx("cannot create state_dir %s: %s", n->cfg.state_dir, strerror(-rc));
		return 1;
	}
	lock_fd = lock_state_dir(n->cfg.state_dir);
	if (lock_fd < 0)
		return 1;
	if (setup_node(n) < 0)
		goto stop;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (ls.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_errorx("cannot set up signal handling: %s", strerror(errno));
		goto out;
	}
	ls.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (ls.tfd < 0) {
		log_errorx("cannot create a timer: %s", strerror(errno));
		goto out;
	}
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000) {
		ls.watchdog_every = (int64_t)(wd_usec / 2000);
		ls.next_watchdog = mono_ms();
	}
	log_info("loaxa-node %s starting: node %s of site %s, zones %s%s, boot %llu, "
		 "state in %s, audio device \"%s\"", LOAXA_VERSION, n->cfg.node, n->cfg.site,
		 n->cfg.nzones ? n->cfg.zones[0] : "(none)", n->cfg.nzones > 1 ? " ..." : "",
		 (unsigned long long)n->status.boot, n->cfg.state_dir, n->cfg.alsa.device);
	if (node_mqtt_start(n) < 0)
		goto stop;
	sd_notify(0, "READY=1\nSTATUS=running");

	if (run(n, &ls) == 0)
		status = 0;
stop:
	n->stopping = 1;
	sd_notify(0, "STOPPING=1");
	emergency_shutdown(n);
	live_free(n);
	queue_shutdown(n, "the node was stopped");
	playout_close(&n->po);
	emergency_free(n);
	amp_shutdown(n);
	clock_save(&n->clock);
	if (n->ver.dirty && verifier_flush(&n->ver) < 0)
		log_warnx("cannot save the message sequence state");
	node_mqtt_stop(n);
	if (status == 0)
		events_mark_clean_stop(n);
	events_free(n);
	sysinfo_free(n);
	fetch_free(n);
	plan_free(n);
	log_info("stopped");
out:
	if (ls.sfd >= 0)
		close(ls.sfd);
	if (ls.tfd >= 0)
		close(ls.tfd);
	if (lock_fd >= 0)
		close(lock_fd);
	if (n->restart && status == 0) {
		/*
		 * `loaxa node restart`: everything above ran as for SIGTERM (plays
		 * ended and journaled, sequence state saved, offline status sent);
		 * now the same binary starts again with the same arguments in the
		 * same process, so systemd keeps tracking it and a node started by
		 * hand restarts too. The boot counter goes up as for any start.
		 */
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		log_info("restarting (remote restart command)");
		execv("/proc/self/exe", argv);
		log_errorx("cannot restart: exec /proc/self/exe: %s", strerror(errno));
		return 1;
	}
	return status;
}
