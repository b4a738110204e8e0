/*
 * test_loop.c - common/loop.c: descriptors and their callbacks, a source whose
 * descriptors change, timers in deadline order (one-shot and periodic),
 * callbacks that remove themselves or another entry, ticks in registration
 * order with their deadlines waking the loop, EINTR, no busy loop, and the
 * wake-up in two halves (loop_prepare / loop_dispatch) for many loops.
 *
 * Timing is real (CLOCK_MONOTONIC, a few tens of ms) but every check is an
 * order or a lower bound, or an upper bound with a wide margin: a loaded
 * machine makes things late, never early or out of order.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "tap.h"
#include "util.h"

static char order[64];
static size_t norder;

static void note(char c)
{
	if (norder + 1 < sizeof(order)) {
		order[norder++] = c;
		order[norder] = 0;
	}
}

static void reset_order(void)
{
	norder = 0;
	order[0] = 0;
}

/* ---- descriptors ---- */

struct pipe_ctx {
	int fds[2];
	char tag;
	int calls;
	int del_self;       /* remove itself on its first call */
	int del_other_fd;   /* remove this fd on its first call (-1: none) */
};

static void on_pipe(struct loop *l, int fd, short revents, void *arg)
{
	struct pipe_ctx *p = arg;
	char buf[16];

	(void)revents;
	p->calls++;
	note(p->tag);
	if (read(fd, buf, sizeof(buf)) < 0) {
		/* drained already */
	}
	if (p->del_self)
		loop_fd_del(l, fd);
	if (p->del_other_fd >= 0) {
		loop_fd_del(l, p->del_other_fd);
		p->del_other_fd = -1;
	}
}

static void stop_timer(struct loop *l, long id, void *arg)
{
	(void)id;
	(void)arg;
	loop_stop(l);
}

static void test_fds(void)
{
	struct loop l;
	struct pipe_ctx a = { .tag = 'a', .del_other_fd = -1 },
			b = { .tag = 'b', .del_other_fd = -1 },
			c = { .tag = 'c', .del_other_fd = -1 };
	int rc;

	CHECK(loop_init(&l) == 0, "loop_init");
	if (pipe(a.fds) || pipe(b.fds) || pipe(c.fds)) {
		CHECK(0, "pipe");
		return;
	}
	loop_fd_add(&l, a.fds[0], POLLIN, on_pipe, &a);
	loop_fd_add(&l, b.fds[0], POLLIN, on_pipe, &b);
	loop_fd_add(&l, c.fds[0], POLLIN, on_pipe, &c);

	/* c and a readable: called in registration order, b not at all */
	reset_order();
	if (write(c.fds[1], "x", 1) != 1 || write(a.fds[1], "x", 1) != 1)
		CHECK(0, "write");
	rc = loop_once(&l);
	CHECK(rc == 0 && strcmp(order, "ac") == 0,
	      "readable descriptors dispatched in registration order (got \"%s\")", order);

	/* a removes itself and b on the same wake-up: neither runs again */
	a.del_self = 1;
	a.del_other_fd = b.fds[0];
	reset_order();
	if (write(a.fds[1], "x", 1) != 1 || write(b.fds[1], "x", 1) != 1 ||
	    write(c.fds[1], "x", 1) != 1)
		CHECK(0, "write");
	loop_once(&l);
	CHECK(strcmp(order, "ac") == 0,
	      "a callback that removes another fd stops it in the same wake-up (got \"%s\")",
	      order);
	reset_order();
	if (write(a.fds[1], "x", 1) != 1 || write(c.fds[1], "x", 1) != 1)
		CHECK(0, "write");
	loop_once(&l);
	CHECK(strcmp(order, "c") == 0 && l.nfds == 1,
	      "a callback that removed itself is not called again (got \"%s\", %d fds)",
	      order, l.nfds);

	/* events 0: registered but not woken */
	CHECK(loop_fd_events(&l, c.fds[0], 0) == 0, "loop_fd_events");
	reset_order();
	if (write(c.fds[1], "x", 1) != 1)
		CHECK(0, "write");
	loop_timer_add(&l, 30, 0, stop_timer, NULL);
	CHECK(loop_run(&l) == 0 && strcmp(order, "") == 0,
	      "an fd with no events wanted is not dispatched (got \"%s\")", order);
	CHECK(loop_fd_del(&l, a.fds[0]) == -ENOENT, "removing an fd twice says ENOENT");

	close(a.fds[0]); close(a.fds[1]);
	close(b.fds[0]); close(b.fds[1]);
	close(c.fds[0]); close(c.fds[1]);
	loop_free(&l);
}

/* ---- a source with a variable set of descriptors ---- */

struct src_ctx {
	int fds[3][2];
	int use;          /* how many of fds[] to fill */
	int handled, fired;
	int last_n;
};

static int src_fill(struct loop *l, struct pollfd *pfds, int max, void *arg)
{
	struct src_ctx *s = arg;
	int i;

	(void)l;
	for (i = 0; i < s->use && i < max; i++) {
		pfds[i].fd = s->fds[i][0];
		pfds[i].events = POLLIN;
	}
	return i;
}

static void src_handle(struct loop *l, struct pollfd *pfds, int n, void *arg)
{
	struct src_ctx *s = arg;
	char buf[8];
	int i;

	(void)l;
	s->handled++;
	s->last_n = n;
	for (i = 0; i < n; i++) {
		if (pfds[i].revents & POLLIN) {
			s->fired++;
			if (read(pfds[i].fd, buf, sizeof(buf)) < 0) {
				/* drained */
			}
		}
	}
}

static void test_source(void)
{
	struct loop l;
	struct src_ctx s;
	int i, id;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < 3; i++)
		if (pipe(s.fds[i]))
			CHECK(0, "pipe");
	loop_init(&l);
	id = loop_source_add(&l, src_fill, src_handle, &s);
	CHECK(id >= 0, "loop_source_add");

	s.use = 1;
	if (write(s.fds[2][1], "x", 1) != 1 || write(s.fds[0][1], "x", 1) != 1)
		CHECK(0, "write");
	loop_once(&l);
	CHECK(s.handled == 1 && s.last_n == 1 && s.fired == 1,
	      "a source polls only the descriptors it filled (n %d, fired %d)", s.last_n,
	      s.fired);
	s.use = 3; /* e.g. ALSA starting a play, or a new socket after a reconnect */
	loop_once(&l);
	CHECK(s.handled == 2 && s.last_n == 3 && s.fired == 2,
	      "and the set changes from one wake-up to the next (n %d, fired %d)", s.last_n,
	      s.fired);
	loop_source_del(&l, id);
	if (write(s.fds[1][1], "x", 1) != 1)
		CHECK(0, "write");
	loop_timer_add(&l, 20, 0, stop_timer, NULL);
	loop_run(&l);
	CHECK(s.handled == 2, "a removed source is neither filled nor handled");
	for (i = 0; i < 3; i++) {
		close(s.fds[i][0]);
		close(s.fds[i][1]);
	}
	loop_free(&l);
}

/* ---- timers ---- */

struct tctx {
	char tag;
	long *del;      /* a timer id to remove when this one runs */
	int runs;
	int stop_after; /* loop_stop on this run (0: never) */
	int64_t at[8];
};

static void on_timer(struct loop *l, long id, void *arg)
{
	struct tctx *t = arg;

	(void)id;
	if (t->runs < 8)
		t->at[t->runs] = mono_ms();
	t->runs++;
	note(t->tag);
	if (t->del) {
		loop_timer_del(l, *t->del);
		t->del = NULL;
	}
	if (t->stop_after && t->runs == t->stop_after)
		loop_stop(l);
}

static void on_timer_del_self(struct loop *l, long id, void *arg)
{
	struct tctx *t = arg;

	t->runs++;
	note(t->tag);
	CHECK(loop_timer_del(l, id) == 0, "a periodic timer removes itself from its callback");
}

static void test_timers(void)
{
	struct loop l;
	struct tctx a = { .tag = 'a' }, b = { .tag = 'b' }, c = { .tag = 'c' },
		    d = { .tag = 'd' }, e = { .tag = 'e' }, p = { .tag = 'p' },
		    s = { .tag = 's', .stop_after = 1 };
	long id_d, id_e;
	int64_t t0;

	loop_init(&l);
	reset_order();
	t0 = mono_ms();
	/* added out of order; b and c due at the same ms: c was added first */
	loop_timer_add(&l, 40, 0, on_timer, &a);
	loop_timer_add(&l, 20, 0, on_timer, &c);
	loop_timer_add(&l, 20, 0, on_timer, &b);
	loop_timer_add(&l, 10, 0, on_timer, &d);
	loop_timer_add(&l, 60, 0, on_timer, &s);
	loop_run(&l);
	CHECK(strcmp(order, "dcbas") == 0,
	      "timers run earliest first, ties in the order added (got \"%s\")", order);
	CHECK(d.at[0] - t0 >= 10 && c.at[0] - t0 >= 20 && a.at[0] - t0 >= 40 &&
	      s.at[0] - t0 >= 60,
	      "and never early (%lld %lld %lld %lld ms)", (long long)(d.at[0] - t0),
	      (long long)(c.at[0] - t0), (long long)(a.at[0] - t0),
	      (long long)(s.at[0] - t0));
	CHECK(s.at[0] - t0 < 2000, "nor very late (%lld ms)", (long long)(s.at[0] - t0));
	CHECK(a.runs == 1 && d.runs == 1, "a one-shot timer runs once");

	/* d, due first, removes e which is due in the same wake-up */
	reset_order();
	memset(&d, 0, sizeof(d));
	d.tag = 'd';
	memset(&e, 0, sizeof(e));
	e.tag = 'e';
	s.runs = 0;
	id_d = loop_timer_add(&l, 10, 0, on_timer, &d);
	id_e = loop_timer_add(&l, 10, 0, on_timer, &e);
	d.del = &id_e;
	loop_timer_add(&l, 30, 0, stop_timer, NULL);
	loop_run(&l);
	CHECK(strcmp(order, "d") == 0 && e.runs == 0,
	      "a timer removed by an earlier callback of the same wake-up does not run (got \"%s\")",
	      order);
	CHECK(loop_timer_del(&l, id_d) == -ENOENT, "a one-shot timer that ran is gone");

	/* periodic: runs on its grid until removed */
	reset_order();
	t0 = mono_ms();
	p.stop_after = 4;
	loop_timer_add(&l, 10, 10, on_timer, &p);
	loop_run(&l);
	CHECK(p.runs == 4 && p.at[3] - t0 >= 40,
	      "a periodic timer runs every period (4 runs in %lld ms)",
	      (long long)(p.at[3] - t0));
	{
		int i, grid = 1;

		for (i = 0; i < 4; i++)
			if (p.at[i] < t0 + 10 * (i + 1))
				grid = 0;
		CHECK(grid, "each run on its period's grid, never early");
	}
	/* still registered: remove it from its own callback instead */
	{
		struct tctx q = { .tag = 'q' };
		int i;

		for (i = 0; i < LOOP_MAX_TIMERS; i++)
			if (l.timers[i].fn == on_timer && l.timers[i].arg == &p)
				loop_timer_del(&l, l.timers[i].id);
		reset_order();
		loop_timer_add(&l, 5, 5, on_timer_del_self, &q);
		loop_timer_add(&l, 60, 0, stop_timer, NULL);
		loop_run(&l);
		CHECK(q.runs == 1 && strcmp(order, "q") == 0,
		      "and then never runs again (%d runs)", q.runs);
	}
	CHECK(loop_timer_add(&l, -1, 0, on_timer, &a) == -EINVAL, "a negative delay is refused");
	loop_free(&l);
}

/* ---- ticks ---- */

struct tick_ctx {
	char tag;
	int runs;
	int64_t due;          /* its deadline (INT64_MAX: none) */
	int del_id;           /* a tick to remove on the first run (-1) */
	int stop_at;
};

static void on_tick(struct loop *l, int64_t mono, void *arg)
{
	struct tick_ctx *t = arg;

	t->runs++;
	note(t->tag);
	if (t->due != INT64_MAX && mono >= t->due)
		t->due = INT64_MAX; /* done what was due */
	if (t->del_id >= 0) {
		loop_tick_del(l, t->del_id);
		t->del_id = -1;
	}
	if (t->stop_at && t->runs >= t->stop_at)
		loop_stop(l);
}

static int64_t tick_due(void *arg)
{
	return ((struct tick_ctx *)arg)->due;
}

static void test_ticks(void)
{
	struct loop l;
	struct tick_ctx a = { .tag = 'a', .due = INT64_MAX, .del_id = -1 },
			b = { .tag = 'b', .due = INT64_MAX, .del_id = -1 },
			c = { .tag = 'c', .due = INT64_MAX, .del_id = -1 };
	int idc;
	int64_t t0;

	loop_init(&l);
	loop_tick_add(&l, "a", on_tick, tick_due, &a);
	loop_tick_add(&l, "b", on_tick, tick_due, &b);
	idc = loop_tick_add(&l, "c", on_tick, tick_due, &c);
	reset_order();
	t0 = mono_ms();
	b.due = t0 + 30; /* only b has something due: its deadline wakes the loop */
	loop_once(&l);
	CHECK(mono_ms() - t0 >= 30, "a tick's deadline wakes the loop (%lld ms)",
	      (long long)(mono_ms() - t0));
	CHECK(strcmp(order, "abc") == 0,
	      "every tick runs after every wake-up, in registration order (got \"%s\")", order);
	a.del_id = idc;
	reset_order();
	b.due = mono_ms();
	loop_once(&l);
	b.due = mono_ms();
	loop_once(&l);
	CHECK(strcmp(order, "abab") == 0,
	      "a tick removed by an earlier one does not run (got \"%s\")", order);
	/*
	 * LOOP_NOW: poll() does not wait at all (the controller's delivery
	 * pump); a deadline in the past would wait 1 ms each time, so 100
	 * wake-ups would take 100 ms at least.
	 */
	{
		int i, runs = b.runs;

		t0 = mono_ms();
		for (i = 0; i < 100; i++) {
			b.due = LOOP_NOW;
			loop_once(&l);
		}
		CHECK(b.runs == runs + 100 && mono_ms() - t0 < 100,
		      "a tick with more to do at once (LOOP_NOW) does not wait "
		      "(100 wake-ups in %lld ms)", (long long)(mono_ms() - t0));
		b.due = INT64_MAX;
	}
	/* nothing due at all: max_wait_ms still wakes the loop (the node's safety net) */
	l.max_wait_ms = 30;
	t0 = mono_ms();
	loop_once(&l);
	CHECK(mono_ms() - t0 >= 30 && mono_ms() - t0 < 2000,
	      "with nothing due, max_wait_ms bounds the wait (%lld ms)",
	      (long long)(mono_ms() - t0));
	loop_free(&l);
}

/* ---- EINTR and no busy loop ---- */

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig)
{
	(void)sig;
	got_alarm++;
}

static void test_eintr(void)
{
	struct loop l;
	struct sigaction sa;
	struct itimerval it;
	struct tick_ctx k = { .tag = 'k', .due = INT64_MAX, .del_id = -1 };
	struct tctx s = { .tag = 's', .stop_after = 1 };
	struct timespec c0, c1;
	int64_t t0;
	int rc;
	double cpu_ms;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: poll() returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	loop_init(&l);
	loop_tick_add(&l, "k", on_tick, tick_due, &k);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_usec = 20000;
	setitimer(ITIMER_REAL, &it, NULL);
	reset_order();
	t0 = mono_ms();
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	loop_timer_add(&l, 200, 0, on_timer, &s);
	rc = loop_run(&l);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	CHECK(got_alarm == 1, "the signal arrived while the loop waited");
	CHECK(rc == 0 && s.runs == 1 && mono_ms() - t0 >= 200,
	      "poll() interrupted by a signal is not an error: the loop waits on (%lld ms)",
	      (long long)(mono_ms() - t0));
	CHECK(strcmp(order, "sk") == 0 || strcmp(order, "s") == 0,
	      "and the interrupted round dispatches nothing (got \"%s\")", order);
	cpu_ms = (double)(c1.tv_sec - c0.tv_sec) * 1e3 + (double)(c1.tv_nsec - c0.tv_nsec) / 1e6;
	CHECK(cpu_ms < 50, "waiting 200 ms costs no CPU to speak of (%.1f ms): no busy loop",
	      cpu_ms);
	signal(SIGALRM, SIG_DFL);
	loop_free(&l);
}

/*
 * loop_prepare / loop_dispatch: two loops waited on by one poll() of the
 * caller (the node simulator's way, with epoll): each loop's pollfds and
 * deadline come out of loop_prepare; only the loop whose descriptor fired
 * (or whose deadline came) is dispatched, and only its callbacks and ticks
 * run.
 */
static void test_split(void)
{
	struct loop a, b;
	struct pipe_ctx pa = { .tag = 'A', .del_other_fd = -1 },
			pb = { .tag = 'B', .del_other_fd = -1 };
	struct tick_ctx ta = { .tag = 'a', .due = INT64_MAX, .del_id = -1 },
			tb = { .tag = 'b', .due = INT64_MAX, .del_id = -1 };
	struct pollfd all[2 * (1 + LOOP_MAX_FDS + LOOP_MAX_SOURCE_PFDS)];
	int64_t da, db, t0;
	int na, nb, k;

	CHECK(pipe(pa.fds) == 0 && pipe(pb.fds) == 0, "pipes");
	loop_init(&a);
	loop_init(&b);
	loop_fd_add(&a, pa.fds[0], POLLIN, on_pipe, &pa);
	loop_fd_add(&b, pb.fds[0], POLLIN, on_pipe, &pb);
	loop_tick_add(&a, "a", on_tick, tick_due, &ta);
	loop_tick_add(&b, "b", on_tick, tick_due, &tb);
	t0 = mono_ms();
	tb.due = t0 + 500;
	na = loop_prepare(&a, &da);
	nb = loop_prepare(&b, &db);
	CHECK(na == 2 && nb == 2, "loop_prepare: the timerfd and the one descriptor (%d, %d)",
	      na, nb);
	CHECK(da == INT64_MAX && db == t0 + 500,
	      "loop_prepare says each loop's own deadline (none; its tick's)");
	memcpy(all, a.pfds, sizeof(all[0]) * (size_t)na);
	memcpy(all + na, b.pfds, sizeof(all[0]) * (size_t)nb);
	CHECK(write(pb.fds[1], "x", 1) == 1, "write");
	reset_order();
	CHECK(poll(all, (nfds_t)(na + nb), 2000) == 1, "one poll over both loops sees one fd");
	for (k = 0; k < nb; k++)
		b.pfds[k].revents = all[na + k].revents;
	if (all[na + 1].revents)
		loop_dispatch(&b);
	if (all[1].revents)
		loop_dispatch(&a);
	CHECK(strcmp(order, "Bb") == 0 && pa.calls == 0 && ta.runs == 0,
	      "only the loop whose descriptor fired runs: its callback, then its ticks (got \"%s\")",
	      order);
	/* the same calls loop_once makes: the loop goes on as before */
	CHECK(write(pa.fds[1], "y", 1) == 1, "write");
	reset_order();
	loop_once(&a);
	CHECK(strcmp(order, "Aa") == 0, "loop_once after a split wake-up (got \"%s\")", order);
	loop_free(&a);
	loop_free(&b);
	for (k = 0; k < 2; k++) {
		close(pa.fds[k]);
		close(pb.fds[k]);
	}
}

int main(void)
{
	test_fds();
	test_source();
	test_timers();
	test_ticks();
	test_eintr();
	test_split();
	TAP_EXIT();
}
