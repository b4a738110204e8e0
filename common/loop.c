/*
 * loop.c - see loop.h.
 */
#include "loop.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->clock = mono_ms;
	l->next_id = 1;
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->tfd < 0)
		return -errno;
	return 0;
}

void loop_free(struct loop *l)
{
	if (l->tfd >= 0)
		close(l->tfd);
	l->tfd = -1;
}

int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg)
{
	struct loop_fd *e;

	if (fd < 0 || !fn)
		return -EINVAL;
	if (l->nfds >= LOOP_MAX_FDS)
		return -ENOSPC;
	e = &l->fds[l->nfds++];
	e->fd = fd;
	e->events = events;
	e->dead = 0;
	e->fn = fn;
	e->arg = arg;
	return 0;
}

static struct loop_fd *find_fd(struct loop *l, int fd)
{
	int i;

	for (i = 0; i < l->nfds; i++)
		if (!l->fds[i].dead && l->fds[i].fd == fd)
			return &l->fds[i];
	return NULL;
}

int loop_fd_events(struct loop *l, int fd, short events)
{
	struct loop_fd *e = find_fd(l, fd);

	if (!e)
		return -ENOENT;
	e->events = events;
	return 0;
}

/* Marked dead now, its slot freed at the next wake-up (loop_once's compaction),
 * so the indices this wake-up's dispatch walks stay valid. */
int loop_fd_del(struct loop *l, int fd)
{
	struct loop_fd *e = find_fd(l, fd);

	if (!e)
		return -ENOENT;
	e->dead = 1;
	return 0;
}

int loop_source_add(struct loop *l, loop_fill_fn fill, loop_handle_fn handle, void *arg)
{
	struct loop_source *s;

	if (!fill || !handle)
		return -EINVAL;
	if (l->nsources >= LOOP_MAX_SOURCES)
		return -ENOSPC;
	s = &l->sources[l->nsources];
	memset(s, 0, sizeof(*s));
	s->first = -1;
	s->fill = fill;
	s->handle = handle;
	s->arg = arg;
	return l->nsources++;
}

/* Sources keep their slot (their id is the index): few, added at start. */
void loop_source_del(struct loop *l, int id)
{
	if (id >= 0 && id < l->nsources)
		l->sources[id].dead = 1;
}

long loop_timer_add(struct loop *l, int64_t delay_ms, int64_t period_ms,
		    loop_timer_fn fn, void *arg)
{
	int i;

	if (!fn || delay_ms < 0 || period_ms < 0)
		return -EINVAL;
	for (i = 0; i < LOOP_MAX_TIMERS; i++) {
		struct loop_timer *t = &l->timers[i];

		if (t->id)
			continue;
		t->id = l->next_id++;
		t->when = l->clock() + delay_ms;
		t->period = period_ms;
		t->round = l->round;
		t->fn = fn;
		t->arg = arg;
		return t->id;
	}
	return -ENOSPC;
}

int loop_timer_del(struct loop *l, long id)
{
	int i;

	if (id <= 0)
		return -ENOENT;
	for (i = 0; i < LOOP_MAX_TIMERS; i++) {
		if (l->timers[i].id == id) {
			memset(&l->timers[i], 0, sizeof(l->timers[i]));
			return 0;
		}
	}
	return -ENOENT;
}

int loop_tick_add(struct loop *l, const char *name, loop_tick_fn fn,
		  loop_deadline_fn deadline, void *arg)
{
	struct loop_tick *t;

	if (!fn)
		return -EINVAL;
	if (l->nticks >= LOOP_MAX_TICKS)
		return -ENOSPC;
	t = &l->ticks[l->nticks];
	t->dead = 0;
	t->name = name;
	t->fn = fn;
	t->deadline = deadline;
	t->arg = arg;
	return l->nticks++;
}

void loop_tick_del(struct loop *l, int id)
{
	if (id >= 0 && id < l->nticks)
		l->ticks[id].dead = 1;
}

void loop_stop(struct loop *l)
{
	l->stopped = 1;
}

/* Drops the fds removed during the last wake-up, keeping the order. */
static void compact_fds(struct loop *l)
{
	int i, k = 0;

	for (i = 0; i < l->nfds; i++)
		if (!l->fds[i].dead)
			l->fds[k++] = l->fds[i];
	l->nfds = k;
}

/* The earliest deadline (LOOP_NOW when a tick has more to do at once). */
static int64_t next_deadline(struct loop *l)
{
	int64_t t = INT64_MAX;
	int i;

	for (i = 0; i < LOOP_MAX_TIMERS; i++)
		if (l->timers[i].id && l->timers[i].when < t)
			t = l->timers[i].when;
	for (i = 0; i < l->nticks; i++) {
		struct loop_tick *k = &l->ticks[i];

		if (!k->dead && k->deadline) {
			int64_t d = k->deadline(k->arg);

			if (d < t)
				t = d;
		}
	}
	return t;
}

/* Arm the timerfd for deadline (INT64_MAX: disarmed), relative (loop.h says why). */
static void arm(struct loop *l, int64_t deadline)
{
	struct itimerspec its;
	int64_t now = l->clock(), d;

	memset(&its, 0, sizeof(its));
	if (deadline != INT64_MAX) {
		if (deadline < now)
			deadline = now; /* in the past: fires at once */
		/* +1 ms so we never wake a hair early (and never arm 0, which disarms) */
		d = deadline - now + 1;
		/* time_t is 32 bits on armhf (Debian 12): a deadline more than
		 * 68 years away is armed as 68 years (the loop re-arms on every
		 * change anyway) rather than wrapped into the past */
		if (d / 1000 > INT32_MAX)
			d = (int64_t)INT32_MAX * 1000;
		its.it_value.tv_sec = (time_t)(d / 1000);
		its.it_value.tv_nsec = (long)((d % 1000) * 1000000);
	}
	timerfd_settime(l->tfd, 0, &its, NULL);
}

/*
 * The timers due at now, earliest first (ties: the older id first). A timer
 * armed during this wake-up (added, or a periodic one just run) waits for the
 * next, so a callback that re-adds itself with no delay cannot keep one
 * wake-up going forever.
 */
static void run_timers(struct loop *l, int64_t now)
{
	for (;;) {
		struct loop_timer *best = NULL;
		long id;
		int i;

		for (i = 0; i < LOOP_MAX_TIMERS; i++) {
			struct loop_timer *t = &l->timers[i];

			if (!t->id || t->when > now || t->round == l->round)
				continue;
			if (!best || t->when < best->when ||
			    (t->when == best->when && t->id < best->id))
				best = t;
		}
		if (!best)
			return;
		id = best->id;
		if (best->period > 0) {
			/* the next run on the period's grid; one run for those missed */
			best->when += best->period;
			if (best->when <= now)
				best->when = now + best->period;
			best->round = l->round;
			best->fn(l, id, best->arg);
		} else {
			loop_timer_fn fn = best->fn;
			void *arg = best->arg;

			memset(best, 0, sizeof(*best)); /* before: it may add a timer */
			fn(l, id, arg);
		}
		if (l->stopped)
			return;
	}
}

/*
 * One wake-up in two halves, so that a program running many loops (the node
 * simulator, tests/tools/nodesim.c) can wait on all of them with one epoll:
 * loop_prepare writes this wake-up's pollfds into l->pfds (returns how
 * many) and the deadline poll() must not wait past; loop_dispatch runs
 * everything after poll() set their revents. loop_once is exactly the two
 * around a poll().
 */
int loop_prepare(struct loop *l, int64_t *deadline_out)
{
	int i, n = 0;
	int64_t deadline;

	compact_fds(l);
	deadline = next_deadline(l);
	if (l->max_wait_ms > 0) {
		int64_t cap = l->clock() + l->max_wait_ms;

		if (cap < deadline)
			deadline = cap;
	}
	l->pfds[n].fd = l->tfd;
	l->pfds[n].events = POLLIN;
	l->pfd_owner[n++] = -1;
	for (i = 0; i < l->nfds; i++) {
		l->pfds[n].fd = l->fds[i].fd;
		l->pfds[n].events = l->fds[i].events;
		l->pfd_owner[n++] = i;
	}
	l->npfd_fixed = n;
	for (i = 0; i < l->nsources; i++) {
		struct loop_source *s = &l->sources[i];
		int room = (int)(sizeof(l->pfds) / sizeof(l->pfds[0])) - n;

		s->first = -1;
		s->n = 0;
		if (s->dead)
			continue;
		s->n = s->fill(l, l->pfds + n, room, s->arg);
		if (s->n < 0 || s->n > room)
			s->n = 0;
		s->first = n;
		n += s->n;
	}
	for (i = 0; i < n; i++)
		l->pfds[i].revents = 0;
	*deadline_out = deadline;
	return n;
}

void loop_dispatch(struct loop *l)
{
	int i, nfd = l->npfd_fixed;
	int64_t now;

	l->round++;
	if (l->tfd >= 0 && (l->pfds[0].revents & POLLIN)) {
		uint64_t expirations;

		if (read(l->tfd, &expirations, sizeof(expirations)) < 0) {
			/* EAGAIN: raced with a re-arm; nothing else can fail here */
		}
	}
	for (i = 1; i < nfd && !l->stopped; i++) {
		struct loop_fd *e = &l->fds[l->pfd_owner[i]];

		if (!e->dead && l->pfds[i].revents)
			e->fn(l, e->fd, l->pfds[i].revents, e->arg);
	}
	now = l->clock();
	if (!l->stopped)
		run_timers(l, now);
	for (i = 0; i < l->nsources && !l->stopped; i++) {
		struct loop_source *s = &l->sources[i];

		if (!s->dead && s->first >= 0)
			s->handle(l, l->pfds + s->first, s->n, s->arg);
	}
	now = l->clock(); /* the ticks see the time after the callbacks ran */
	for (i = 0; i < l->nticks && !l->stopped; i++) {
		struct loop_tick *k = &l->ticks[i];

		if (!k->dead)
			k->fn(l, now, k->arg);
	}
}

int loop_once(struct loop *l)
{
	int n, rc;
	int64_t deadline;

	n = loop_prepare(l, &deadline);
	if (deadline != LOOP_NOW)
		arm(l, deadline);
	rc = poll(l->pfds, (nfds_t)n, deadline == LOOP_NOW ? 0 : -1);
	if (rc < 0) {
		if (errno == EINTR)
			return 0; /* a signal: the caller goes round again */
		return -errno;
	}
	loop_dispatch(l);
	return 0;
}

int loop_run(struct loop *l)
{
	l->stopped = 0;
	while (!l->stopped) {
		int rc = loop_once(l);

		if (rc < 0)
			return rc;
	}
	return 0;
}

int loop_setup_result(int rc)
{
	if (rc < 0)
		log_errorx("cannot set up the event loop: %s", strerror(-rc));
	return rc < 0 ? rc : 0;
}
