/*
 * nodesim.c - loaxa-nodesim: many loudspeaker nodes in one process, for tests
 * and benchmarks (docs/testing.md, "Node simulator").
 *
 *   loaxa-nodesim [-v] [--stats FILE] [--list FILE] [NODE.CFG ...]
 *
 * Each NODE.CFG (given as arguments, or one path a line in --list) is one
 * node, loaded by the node's own reader and run by the node's own modules,
 * set up, registered and stopped by the very functions loaxa-node's main()
 * uses (node/instance.h): its two MQTT connections through common/mqconn,
 * the envelope check with its keys and trust document, plans, the events
 * journal, the status, the emergency clips, playout through ALSA. Nothing
 * is mocked: what differs from N loaxa-node processes is only that they
 * share one process and one thread:
 *
 *   - every node has its own struct loop (common/loop.h) with its own
 *     descriptors, timers and ticks, and this program waits on all of them
 *     with one epoll: loop_prepare says what a node waits for and until
 *     when, loop_dispatch runs its wake-up. A node whose descriptors did not
 *     fire and whose deadline has not come costs nothing in a wake-up, so
 *     3,000 of them fit on one core where 3,000 processes would not;
 *   - the process's parts of main.c are this program's: the signals (one
 *     SIGINT/SIGTERM stops every node cleanly), no systemd watchdog, no
 *     state_dir lock (the bench gives each node its own directory), and a
 *     remote `restart` command stops that node only (it cannot re-exec);
 *   - the loops' own timerfds are closed: epoll_wait's timeout is the
 *     earliest deadline of all the nodes.
 *
 * Audio: each node's alsa.device, as configured. The bench gives all of
 * them the paced test card (tests/alsa/pcm_loaxapaced.c) through one ALSA
 * definition with the onset log as argument, with long periods so that 3,000
 * paced cards are cheap; the card logs when each activation's first sample
 * reached the "speaker" (a counting sink that counts real time).
 *
 * --stats FILE: written (tmp + rename) every second: a first line
 * "nodes N ctl C bulk B stopped S" (connections up), then one line per node
 * "<node> <ctl 0|1> <bulk 0|1> <emergency active 0|1>", so a bench can tell
 * which nodes are online without a controller.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "instance.h"
#include "log.h"
#include "loop.h"
#include "mqtt.h"
#include "node.h"
#include "nodecfg.h"
#include "util.h"

#define SIM_MAX_PFDS (1 + LOOP_MAX_FDS + LOOP_MAX_SOURCE_PFDS)
#define SIM_EVENTS 4096

struct inst {
	struct node n;
	struct loop l;
	struct node_parts parts;
	char logname[96];        /* "nodesim/<node>" at the head of its log lines */
	int64_t deadline;        /* of its loop (loop_prepare): mono ms, INT64_MAX, LOOP_NOW */
	int npfds;               /* pollfds of its last loop_prepare */
	int nreg;                /* descriptors it has in the epoll */
	int reg_fd[SIM_MAX_PFDS];
	uint32_t reg_ev[SIM_MAX_PFDS];
	int ready;               /* in this wake-up's list */
	int stopped;             /* its loop was stopped (a remote restart) */
	int started;             /* node_instance_setup went through */
	int loop_ready;          /* loop_init went through */
};

struct sim {
	struct inst **inst;
	size_t n;
	int ep;
	struct inst **owner;     /* by descriptor: whose it is in the epoll */
	size_t owner_max;
	struct inst **ready;
	size_t nready;
	const char *stats_path;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loaxa-nodesim [-v] [--stats FILE] [--list FILE] [NODE.CFG ...]\n"
		"\n"
		"Runs many loaxa nodes in one process (tests and benchmarks): each NODE.CFG\n"
		"is one node with the node's own modules, MQTT connections and state_dir.\n"
		"\n"
		"  -l, --list FILE    more node.cfg paths, one a line\n"
		"  -s, --stats FILE   every second: how many nodes are connected, and each node's\n"
		"                     connections and emergency\n"
		"  -v, --verbose      debug logging\n"
		"  -h, --help         this text\n");
}

static uint32_t to_epoll(short ev)
{
	uint32_t e = 0;

	if (ev & POLLIN)
		e |= EPOLLIN;
	if (ev & POLLOUT)
		e |= EPOLLOUT;
	if (ev & POLLPRI)
		e |= EPOLLPRI;
	return e;
}

/*
 * Make the epoll hold exactly the descriptors of i's last loop_prepare.
 * Called right after every dispatch of i (and at start), before any other
 * node runs: a descriptor i closed during its dispatch is gone from the
 * epoll already (the kernel drops it on close) and, not yet reused, its
 * EPOLL_CTL_DEL fails harmlessly; it can never remove another node's.
 */
static void sync_epoll(struct sim *s, struct inst *i)
{
	int fds[SIM_MAX_PFDS];
	uint32_t evs[SIM_MAX_PFDS];
	int nf = 0, k, j;

	for (k = 0; k < i->npfds; k++) {
		int fd = i->l.pfds[k].fd;

		if (fd < 0)
			continue;
		for (j = 0; j < nf && fds[j] != fd; j++)
			;
		if (j == nf) {
			fds[nf] = fd;
			evs[nf++] = 0;
		}
		evs[j] |= to_epoll(i->l.pfds[k].events);
	}
	/* gone, or changed */
	for (k = 0; k < i->nreg; k++) {
		for (j = 0; j < nf && fds[j] != i->reg_fd[k]; j++)
			;
		if (j == nf && (size_t)i->reg_fd[k] < s->owner_max &&
		    s->owner[i->reg_fd[k]] == i) {
			epoll_ctl(s->ep, EPOLL_CTL_DEL, i->reg_fd[k], NULL);
			s->owner[i->reg_fd[k]] = NULL;
		}
	}
	for (j = 0; j < nf; j++) {
		struct epoll_event ee;
		int was = -1;

		if ((size_t)fds[j] >= s->owner_max) {
			log_errorx("descriptor %d above the limit this simulator sized for (%zu)",
				   fds[j], s->owner_max);
			continue;
		}
		for (k = 0; k < i->nreg; k++)
			if (i->reg_fd[k] == fds[j])
				was = k;
		if (was >= 0 && s->owner[fds[j]] == i && i->reg_ev[was] == evs[j])
			continue;
		memset(&ee, 0, sizeof(ee));
		ee.events = evs[j];
		ee.data.ptr = i;
		if (s->owner[fds[j]] == i) {
			if (epoll_ctl(s->ep, EPOLL_CTL_MOD, fds[j], &ee) < 0 && errno == ENOENT)
				epoll_ctl(s->ep, EPOLL_CTL_ADD, fds[j], &ee);
		} else if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fds[j], &ee) < 0 && errno == EEXIST) {
			/* a descriptor number another node had and closed: now ours */
			epoll_ctl(s->ep, EPOLL_CTL_MOD, fds[j], &ee);
		}
		s->owner[fds[j]] = i;
	}
	memcpy(i->reg_fd, fds, sizeof(int) * (size_t)nf);
	memcpy(i->reg_ev, evs, sizeof(uint32_t) * (size_t)nf);
	i->nreg = nf;
}

static void prepare(struct sim *s, struct inst *i)
{
	i->npfds = loop_prepare(&i->l, &i->deadline);
	sync_epoll(s, i);
}

static void mark_ready(struct sim *s, struct inst *i)
{
	if (i->ready || i->stopped)
		return;
	i->ready = 1;
	s->ready[s->nready++] = i;
}

/* One wake-up of one node: what its descriptors say now, then its loop's dispatch. */
static void run_inst(struct sim *s, struct inst *i)
{
	i->ready = 0;
	if (i->stopped)
		return;
	log_set_prog(i->logname);
	if (poll(i->l.pfds, (nfds_t)i->npfds, 0) < 0 && errno != EINTR)
		log_warn("poll");
	loop_dispatch(&i->l);
	if (i->l.stopped) {
		/* `loaxa node restart`: a process of its own would re-exec; here
		 * the node stops (its descriptors leave the epoll with it) */
		log_info("stopped (a node in the simulator cannot restart)");
		node_instance_stop(&i->n, 1);
		i->stopped = 1;
		i->npfds = 0;
		sync_epoll(s, i);
	} else {
		prepare(s, i);
	}
	log_set_prog("loaxa-nodesim");
}

static void write_stats(struct sim *s)
{
	char tmp[PATH_MAX];
	size_t k, ctl = 0, bulk = 0, stopped = 0;
	FILE *f;

	if (!s->stats_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->stats_path);
	f = fopen(tmp, "w");
	if (!f) {
		log_warn("cannot write %s", tmp);
		return;
	}
	for (k = 0; k < s->n; k++) {
		struct inst *i = s->inst[k];

		if (i->stopped) {
			stopped++;
			continue;
		}
		ctl += node_mqtt_connected(&i->n, NODE_CONN_CTL) ? 1 : 0;
		bulk += node_mqtt_connected(&i->n, NODE_CONN_BULK) ? 1 : 0;
	}
	fprintf(f, "nodes %zu ctl %zu bulk %zu stopped %zu\n", s->n, ctl, bulk, stopped);
	for (k = 0; k < s->n; k++) {
		struct inst *i = s->inst[k];
		int up = !i->stopped;

		fprintf(f, "%s %d %d %d\n", i->n.cfg.node,
			up && node_mqtt_connected(&i->n, NODE_CONN_CTL) ? 1 : 0,
			up && node_mqtt_connected(&i->n, NODE_CONN_BULK) ? 1 : 0,
			up && i->n.emerg.active ? 1 : 0);
	}
	if (fclose(f) != 0 || rename(tmp, s->stats_path) < 0)
		log_warn("cannot write %s", s->stats_path);
}

static int add_cfg(struct sim *s, size_t *cap, const char *path)
{
	struct inst *i;

	if (s->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct inst **ni = realloc(s->inst, ncap * sizeof(*ni));

		if (!ni)
			return -ENOMEM;
		s->inst = ni;
		*cap = ncap;
	}
	i = calloc(1, sizeof(*i));
	if (!i)
		return -ENOMEM;
	s->inst[s->n++] = i;
	if (node_cfg_load(&i->n.cfg, path) < 0)
		return -EINVAL; /* said, naming the file, line and field */
	snprintf(i->logname, sizeof(i->logname), "nodesim/%s", i->n.cfg.node);
	return 0;
}

static int read_list(struct sim *s, size_t *cap, const char *list)
{
	char line[PATH_MAX + 2];
	int rc = 0, lineno = 0;
	FILE *f = fopen(list, "r");

	if (!f) {
		log_errorx("cannot open the list of node configurations %s: %s", list,
			   strerror(errno));
		return -errno;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		rc = add_cfg(s, cap, line);
		if (rc == -EINVAL)
			log_errorx("%s:%d: node configuration %s is not valid (above)", list,
				   lineno, line);
	}
	fclose(f);
	return rc;
}

/* Descriptors: 3,000 nodes hold about 6 each (two MQTT sockets, netlink,
 * the paced card's timer and log while they play). */
static size_t raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 20))
		return 1u << 20;
	return (size_t)rl.rlim_cur;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "list", required_argument, NULL, 'l' },
		{ "stats", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim s;
	struct epoll_event *evs = NULL;
	const char *list = NULL;
	size_t cap = 0, k;
	int opt, verbose = 0, sfd = -1, tfd = -1, status = 1, stop = 0;
	sigset_t mask;

	memset(&s, 0, sizeof(s));
	s.ep = -1;
	while ((opt = getopt_long(argc, argv, "l:s:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'l': list = optarg; break;
		case 's': s.stats_path = optarg; break;
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	log_init("loaxa-nodesim", verbose);
	s.owner_max = raise_nofile();
	s.owner = calloc(s.owner_max, sizeof(*s.owner));
	evs = calloc(SIM_EVENTS, sizeof(*evs));
	if (!s.owner || !evs) {
		log_errorx("out of memory");
		goto out;
	}
	if (list && read_list(&s, &cap, list) < 0)
		goto out;
	for (; optind < argc; optind++)
		if (add_cfg(&s, &cap, argv[optind]) < 0)
			goto out;
	if (!s.n) {
		usage(stderr);
		status = 2;
		goto out;
	}
	s.ready = calloc(s.n, sizeof(*s.ready));
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!s.ready || s.ep < 0) {
		log_errorx("cannot set up: %s", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
	    (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0) {
		log_errorx("cannot set up signals and the stats timer: %s", strerror(errno));
		goto out;
	}
	{
		struct epoll_event ee;
		struct itimerspec its = { { 1, 0 }, { 1, 0 } };

		memset(&ee, 0, sizeof(ee));
		ee.events = EPOLLIN;
		ee.data.ptr = &sfd;
		epoll_ctl(s.ep, EPOLL_CTL_ADD, sfd, &ee);
		ee.data.ptr = &tfd;
		epoll_ctl(s.ep, EPOLL_CTL_ADD, tfd, &ee);
		timerfd_settime(tfd, 0, &its, NULL);
	}

	for (k = 0; k < s.n; k++) {
		struct inst *i = s.inst[k];
		int rc;

		log_set_prog(i->logname);
		rc = mkdir_p(i->n.cfg.state_dir, 0750);
		if (rc < 0) {
			log_errorx("cannot create state_dir %s: %s", i->n.cfg.state_dir,
				   strerror(-rc));
			goto out;
		}
		if (node_instance_setup(&i->n) < 0)
			goto out;
		i->started = 1;
		rc = loop_init(&i->l);
		if (rc < 0) {
			log_errorx("cannot create a loop: %s", strerror(-rc));
			goto out;
		}
		i->loop_ready = 1;
		/* this program waits for the loop's deadline itself (loop.h) */
		close(i->l.tfd);
		i->l.tfd = -1;
		if (node_instance_register(&i->l, &i->n, &i->parts) < 0 ||
		    node_mqtt_start(&i->n) < 0)
			goto out;
		prepare(&s, i);
	}
	log_set_prog("loaxa-nodesim");
	log_info("%zu nodes running", s.n);
	write_stats(&s);

	while (!stop) {
		int64_t now = mono_ms(), first = INT64_MAX;
		int timeout, ne, e;

		for (k = 0; k < s.n; k++)
			if (!s.inst[k]->stopped && s.inst[k]->deadline < first)
				first = s.inst[k]->deadline;
		if (first == LOOP_NOW)
			timeout = 0;
		else if (first == INT64_MAX)
			timeout = -1;
		else if (first <= now)
			timeout = 1; /* past: as loop.c's arm(), never a spin */
		else
			timeout = first - now + 1 > 60000 ? 60000 : (int)(first - now + 1);
		ne = epoll_wait(s.ep, evs, SIM_EVENTS, timeout);
		if (ne < 0) {
			if (errno == EINTR)
				continue;
			log_errorx("epoll_wait: %s", strerror(errno));
			break;
		}
		for (e = 0; e < ne; e++) {
			if (evs[e].data.ptr == &sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
				    si.ssi_signo != SIGHUP) {
					log_info("received %s: stopping every node",
						 strsignal((int)si.ssi_signo));
					stop = 1;
				}
			} else if (evs[e].data.ptr == &tfd) {
				uint64_t x;

				if (read(tfd, &x, sizeof(x)) < 0) {
					/* EAGAIN: nothing */
				}
				write_stats(&s);
			} else {
				mark_ready(&s, evs[e].data.ptr);
			}
		}
		now = mono_ms();
		for (k = 0; k < s.n; k++)
			if (s.inst[k]->deadline == LOOP_NOW || s.inst[k]->deadline <= now)
				mark_ready(&s, s.inst[k]);
		for (k = 0; k < s.nready; k++)
			run_inst(&s, s.ready[k]);
		s.nready = 0;
	}
	status = 0;
out:
	for (k = 0; k < s.n; k++) {
		struct inst *i = s.inst[k];

		if (i->started && !i->stopped) {
			log_set_prog(i->logname);
			node_instance_stop(&i->n, status == 0);
			i->stopped = 1;
		}
	}
	log_set_prog("loaxa-nodesim");
	if (s.n)
		log_info("stopped");
	write_stats(&s);
	for (k = 0; k < s.n; k++) {
		if (s.inst[k]->loop_ready)
			loop_free(&s.inst[k]->l);
		free(s.inst[k]);
	}
	free(s.inst);
	free(s.ready);
	free(s.owner);
	free(evs);
	if (s.ep >= 0)
		close(s.ep);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	return status;
}
