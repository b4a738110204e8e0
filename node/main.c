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
#include "instance.h"
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
	struct node_parts parts; /* the node's own ticks (instance.h) */
	int sfd;
	int64_t watchdog_every;
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

static void watchdog_timer(struct loop *l, long id, void *arg)
{
	(void)l;
	(void)id;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/*
 * The process's part of the loop around the node's parts (instance.c): the
 * signals first (a stop wins over anything else that woke us), then the
 * node's parts, then the systemd watchdog, a periodic timer of its own.
 */
static int register_parts(struct loop *l, struct node *n, struct loop_state *ls)
{
	int rc = 0;

	rc = rc < 0 ? rc : loop_fd_add(l, ls->sfd, POLLIN, on_signal, n);
	rc = rc < 0 ? rc : node_instance_register(l, n, &ls->parts);
	if (rc >= 0 && ls->watchdog_every) /* first at once, as at every start */
		rc = (int)loop_timer_add(l, 0, ls->watchdog_every, watchdog_timer, NULL);
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
	ls.sfd = -1;
	rc = mkdir_p(n->cfg.state_dir, 0750);
	if (rc < 0) {
		log_errorx("cannot create state_dir %s: %s", n->cfg.state_dir, strerror(-rc));
		return 1;
	}
	lock_fd = lock_state_dir(n->cfg.state_dir);
	if (lock_fd < 0)
		return 1;
	if (node_instance_setup(n) < 0)
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
	sd_notify(0, "STOPPING=1");
	node_instance_stop(n, status == 0);
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
