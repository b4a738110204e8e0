/*
 * main.c - loaxa-node: command line, start-up, the list of the node's parts
 * on the event loop, shutdown.
 *
 *   loaxa-node -c FILE [--check-config] [-v]
 *
 * One thread, one poll() (common/loop.h) over: a signalfd (SIGINT, SIGTERM:
 * clean stop; SIGHUP: ignored), the loop's timerfd armed for the earliest
 * thing any module has to do (status heartbeat, fetch re-requests, scheduled
 * plays, reconnects, flushing the sequence state, the systemd watchdog), the
 * two MQTT sockets, the ALSA poll descriptors while a play is writing and
 * sysinfo's netlink socket. Each module registers its own descriptors and
 * tick (xxx_register); register_parts() below is the list, in the order
 * that matters. Nothing in the loop sleeps or waits for the network.
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
#include "i18n.h"
#include "log.h"
#include "loop.h"
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
	struct node *n;
	int sfd;
	int64_t next_flush;
	int64_t watchdog_every;
	enum playout_dev_state last_dev;
	uint64_t last_errors;
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
			log_errorx(_("another loaxa-node is running with state_dir %s"), dir);
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
	rc = upper_init(n); /* the upper levels' keys, after the clock (upper.h) */
	if (rc < 0)
		return rc;
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
	selftest_init(n); /* between the queue and the emergency: an emergency stops its tone */
	amp_init(n);
	mixer_init(n); /* a crash mid-emergency left it changed: put it back first */
	rc = emergency_init(n);
	if (rc == 0)
		rc = live_init(n);
	rc = rc < 0 ? rc : update_init(n);
	return rc < 0 ? rc : plan_init(n);
}

/* SIGINT, SIGTERM: a clean stop; SIGHUP: said and ignored. */
static void on_signal(struct loop *l, int fd, short revents, void *arg)
{
	struct signalfd_siginfo si;

	(void)revents;
	(void)arg;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		log_info(_("received SIGHUP: ignored (the configuration is read at start only: "
			 "restart the node to apply changes)"));
		return;
	}
	log_info(_("received %s: stopping"), strsignal((int)si.ssi_signo));
	loop_stop(l);
}

/*
 * `loaxa node restart` (maint.c) sets n->restart while a message is handled;
 * the first tick ends the loop, after every descriptor of that wake-up was
 * handled and before any module acts on its deadlines, as a stop by signal.
 */
static void restart_tick(struct loop *l, int64_t mono, void *arg)
{
	struct node *n = arg;

	(void)mono;
	if (n->restart)
		loop_stop(l);
}

/*
 * The playout's device state, xrun and error counters reach the status
 * report: playout.c knows nothing of the node (it is the audio engine only),
 * so main.c, which has both, carries them across after the modules acted.
 */
static void playout_status_tick(struct loop *l, int64_t mono, void *arg)
{
	struct loop_state *ls = arg;
	struct node *n = ls->n;

	(void)l;
	(void)mono;
	/*
	 * A device state change goes out at once; a new underrun only with the
	 * next heartbeat. Underruns come in runs when the machine is short of
	 * CPU, and a status for each (every 250 ms per node) would load the
	 * broker and the controller with 300 nodes just when it hurts (make
	 * bench-scale showed a status every ~2 s from every node while playing).
	 */
	if (n->po.dev != ls->last_dev) {
		ls->last_dev = n->po.dev;
		status_dirty(n);
	}
	if (n->po.errors != ls->last_errors) {
		ls->last_errors = n->po.errors;
		status_error(n, "%s", n->po.last_error);
	}
}

/* A command's sequence (deferred past its first sample), or the periodic flush. */
static void seq_flush_tick(struct loop *l, int64_t mono, void *arg)
{
	struct loop_state *ls = arg;
	struct node *n = ls->n;

	(void)l;
	if (n->ver.dirty && (n->ver.urgent || mono >= ls->next_flush)) {
		int rc = verifier_flush(&n->ver);

		if (rc < 0)
			log_warnx("cannot save the message sequence state: %s", strerror(-rc));
		ls->next_flush = mono + SEQ_FLUSH_MS;
	}
}

static int64_t seq_flush_deadline(void *arg)
{
	struct loop_state *ls = arg;

	return ls->n->ver.dirty ? ls->next_flush : INT64_MAX;
}

static void status_on_connect(struct node *n)
{
	(void)status_publish(n);
}

static void watchdog_timer(struct loop *l, long id, void *arg)
{
	(void)l;
	(void)id;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/*
 * The node's parts, in the order the loop runs them after every wake-up.
 *
 * Messages: cmd, plan, live, clock, fetch and keys put their topics in the
 * subscription table (mqtt.h) as they register; the order of the table is
 * the order of the subscriptions.
 *
 * Descriptors: the signals first (a stop wins over anything else that woke
 * us), then the two MQTT connections (their sockets change on every
 * reconnect), the ALSA descriptors while a play writes, the netlink socket
 * of sysinfo.
 *
 * Ticks: each checks its own deadlines, cheaply, after every wake-up; the
 * order is the one the node always had, and these parts of it matter:
 *   - restart first: a remote restart stops before anything acts further;
 *   - mqtt before the rest: a reconnect is started as soon as it is due;
 *   - playout before plan/emergency/live/queue: a play that just ended
 *     frees the device, so what comes next starts in the same wake-up
 *     rather than one wake-up later (this is start accuracy);
 *   - emergency, then live, then queue: the higher priority claims the
 *     device first when several want it at the same moment (queue.h);
 *   - amp and mixer after them: they follow what plays (the amplifier lead,
 *     the emergency level) as decided in this wake-up;
 *   - the playout-to-status bridge, then the sequence flush, after every
 *     module acted: a command's sequence is saved only after it was acted on
 *     (envelope.h, defer_persist);
 *   - status last: every status_dirty() of this wake-up, whichever module
 *     made it, goes out in one report.
 * The systemd watchdog is a periodic timer of its own.
 */
static int register_parts(struct loop *l, struct node *n, struct loop_state *ls)
{
	int rc = 0;

	rc = rc < 0 ? rc : loop_fd_add(l, ls->sfd, POLLIN, on_signal, n);
	rc = rc < 0 ? rc : loop_tick_add(l, "restart", restart_tick, NULL, n);
	rc = rc < 0 ? rc : node_mqtt_register(l, n);
	rc = rc < 0 ? rc : cmd_register(n); /* messages only: no descriptor, no tick */
	rc = rc < 0 ? rc : playout_register(l, &n->po);
	rc = rc < 0 ? rc : plan_register(l, n);
	rc = rc < 0 ? rc : emergency_register(l, n);
	rc = rc < 0 ? rc : live_register(l, n);
	rc = rc < 0 ? rc : queue_register(l, n);
	rc = rc < 0 ? rc : amp_register(l, n);
	rc = rc < 0 ? rc : selftest_register(l, n);
	rc = rc < 0 ? rc : mixer_register(l, n);
	rc = rc < 0 ? rc : clock_register(l, n);
	rc = rc < 0 ? rc : fetch_register(l, n);
	rc = rc < 0 ? rc : update_register(l, n);
	rc = rc < 0 ? rc : node_keys_register(l, n);
	rc = rc < 0 ? rc : upper_register(n);
	rc = rc < 0 ? rc : events_register(l, n);
	rc = rc < 0 ? rc : sysinfo_register(l, n);
	rc = rc < 0 ? rc : loop_tick_add(l, "playout-status", playout_status_tick, NULL, ls);
	rc = rc < 0 ? rc : loop_tick_add(l, "seq-flush", seq_flush_tick, seq_flush_deadline, ls);
	rc = rc < 0 ? rc : status_register(l, n);
	/*
	 * On every (re)connect of the control connection, after the
	 * subscriptions of the table: the status first (the controller counts
	 * the node online by it), then the events still in the journal, then a
	 * time ping. The bulk connection asks again for what was being fetched.
	 */
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_CTL, status_on_connect, NULL);
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_CTL, events_on_connect,
					   events_on_disconnect);
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_CTL, clock_on_connect, NULL);
	rc = rc < 0 ? rc : node_mqtt_hook(n, NODE_CONN_BULK, fetch_on_connect, NULL);
	if (rc >= 0 && ls->watchdog_every) /* first at once, as at every start */
		rc = (int)loop_timer_add(l, 0, ls->watchdog_every, watchdog_timer, NULL);
	/*
	 * With nothing due, wake at least once a minute anyway: a safety net
	 * the node always had in case a deadline hook misses a case.
	 */
	l->max_wait_ms = 60000;
	return loop_setup_result(rc);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		CFG_DAEMON_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	static struct node node; /* large: not on the stack */
	static struct loop loop;
	struct node *n = &node;
	struct loop_state ls;
	const char *cfg_path = NULL;
	int check_only = 0, verbose = 0, opt, rc, lock_fd = -1, status = 1, loop_ready = 0;
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
	i18n_init(I18N_DOMAIN_NODE);
	log_init("loaxa-node", verbose);
	if (node_cfg_load(&n->cfg, cfg_path) < 0)
		return 1;
	if (check_only) {
		fprintf(stderr, "%s: the configuration is valid (node %s of site %s)\n",
			cfg_path, n->cfg.node, n->cfg.site);
		return 0;
	}

	memset(&ls, 0, sizeof(ls));
	ls.n = n;
	ls.sfd = -1;
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
	rc = loop_init(&loop);
	if (rc < 0) {
		log_errorx("cannot create a timer: %s", strerror(-rc));
		goto out;
	}
	loop_ready = 1;
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
		ls.watchdog_every = (int64_t)(wd_usec / 2000);
	if (register_parts(&loop, n, &ls) < 0)
		goto stop;
	log_info(_("loaxa-node %s starting: node %s of site %s, zones %s%s, boot %llu, "
		 "state in %s, audio device \"%s\""), LOAXA_VERSION, n->cfg.node, n->cfg.site,
		 n->cfg.nzones ? n->cfg.zones[0] : "(none)", n->cfg.nzones > 1 ? " ..." : "",
		 (unsigned long long)n->status.boot, n->cfg.state_dir, n->cfg.alsa.device);
	if (node_mqtt_start(n) < 0)
		goto stop;
	sd_notify(0, "READY=1\nSTATUS=running");

	rc = loop_run(&loop);
	if (rc == 0)
		status = 0;
	else
		log_errorx("poll: %s", strerror(-rc));
stop:
	n->stopping = 1;
	sd_notify(0, "STOPPING=1");
	emergency_shutdown(n);
	selftest_shutdown(n);
	live_free(n);
	queue_shutdown(n, "the node was stopped");
	playout_close(&n->po);
	upper_free(n);
	selftest_free(n);
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
	log_info(_("stopped"));
out:
	if (ls.sfd >= 0)
		close(ls.sfd);
	if (loop_ready)
		loop_free(&loop);
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
		if (n->upd.exec_path[0]) {
			/*
			 * A remote update (update.h): the binary on disk changed, and
			 * /proc/self/exe is still the old file - start the path.
			 */
			log_info(_("starting %s (remote update)"), n->upd.exec_path);
			execv(n->upd.exec_path, argv);
			log_errorx("cannot start %s: %s", n->upd.exec_path, strerror(errno));
			return 1;
		}
		log_info(_("restarting (remote restart command)"));
		execv("/proc/self/exe", argv);
		log_errorx("cannot restart: exec /proc/self/exe: %s", strerror(errno));
		return 1;
	}
	return status;
}
