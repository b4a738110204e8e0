/*
 * loop.h - the daemons' event loop: one thread, one poll(), in the spirit of
 * Redis' early ae.c.
 *
 * Modules register what wakes them and the loop dispatches:
 *
 *   fd       a fixed descriptor (a signalfd, a listening socket) with the
 *            events wanted and a callback;
 *   source   a module whose descriptors change from one wake-up to the next
 *            (ALSA's snd_pcm_poll_descriptors while a play writes,
 *            libmosquitto's socket which is a new one after every
 *            reconnect): a "fill" hook writes its pollfds before each poll()
 *            and a "handle" hook reads what poll() said about them;
 *   timer    monotonic, one-shot or periodic;
 *   tick     a module's "whatever is due" check, run after every wake-up in
 *            the order registered, with a hook that tells the loop by when it
 *            must run again. This is how the node's modules have always been
 *            driven (each keeps its own deadlines: a play's end, a re-request,
 *            a retry), and running every tick after every wake-up is what
 *            lets a message handled by one module be acted on by the next in
 *            the same wake-up.
 *
 * One wake-up: poll() over the fds and the sources' pollfds plus a timerfd
 * armed for the earliest timer or tick deadline (relative, not
 * TFD_TIMER_ABSTIME: libfaketime, which the time-of-day tests preload,
 * rewrites absolute timerfd deadlines as wall-clock times even on
 * CLOCK_MONOTONIC, and the kernel refuses them); then the fds' callbacks in
 * registration order (a signalfd registered first stops before anything
 * else runs), the timers due (earliest first, ties by id), the sources'
 * handles in registration order, the ticks. Timers before the sources: the
 * controller's once-a-second work always ran before its sockets were
 * read, and the order is kept. Nothing sleeps, and
 * with nothing due poll() waits for a descriptor: no busy loop.
 *
 * Callbacks may add or remove anything, themselves included: a removed entry
 * is never called again (not even later in the same wake-up), an added one
 * takes part from the next wake-up. loop_stop() ends loop_run() after the
 * callback that called it returns.
 *
 * Capacities are fixed (no allocation in the loop): adding past them fails
 * with -ENOSPC, which is a programming error caught at start.
 */
#ifndef LOAXA_LOOP_H
#define LOAXA_LOOP_H

#include <poll.h>
#include <stdint.h>

#define LOOP_MAX_FDS 16
#define LOOP_MAX_SOURCES 12 /* the controller: 10 (each MQTT connection is one) */
#define LOOP_MAX_SOURCE_PFDS 64 /* all sources' pollfds together (the controller's ~52) */
#define LOOP_MAX_TIMERS 32
#define LOOP_MAX_TICKS 32

struct loop;

typedef void (*loop_fd_fn)(struct loop *l, int fd, short revents, void *arg);
/* Write up to max pollfds, return how many (0: none this time). */
typedef int (*loop_fill_fn)(struct loop *l, struct pollfd *pfds, int max, void *arg);
/* The pollfds fill wrote, with revents set (called even when none fired). */
typedef void (*loop_handle_fn)(struct loop *l, struct pollfd *pfds, int n, void *arg);
typedef void (*loop_timer_fn)(struct loop *l, long id, void *arg);
typedef void (*loop_tick_fn)(struct loop *l, int64_t mono, void *arg);
/* Monotonic ms by which the tick must run again; INT64_MAX: only on a wake-up;
 * LOOP_NOW: it has more to do at once (poll() does not wait at all). A
 * deadline already past otherwise waits 1 ms, so that a deadline hook that
 * keeps answering the past cannot spin the loop. */
typedef int64_t (*loop_deadline_fn)(void *arg);
#define LOOP_NOW INT64_MIN

struct loop_fd {
	int fd;
	short events;
	int dead;
	loop_fd_fn fn;
	void *arg;
};

struct loop_source {
	int dead;
	int first, n; /* where its pollfds were in this wake-up's array */
	loop_fill_fn fill;
	loop_handle_fn handle;
	void *arg;
};

struct loop_timer {
	long id;          /* > 0; 0: free slot */
	int64_t when;     /* monotonic ms */
	int64_t period;   /* 0: one-shot */
	uint64_t round;   /* the wake-up it was (re)armed in: fires from the next */
	loop_timer_fn fn;
	void *arg;
};

struct loop_tick {
	int dead;
	const char *name;
	loop_tick_fn fn;
	loop_deadline_fn deadline;
	void *arg;
};

struct loop {
	int tfd;
	int stopped;
	int error;        /* the -errno loop_run returns when poll fails */
	uint64_t round;
	long next_id;
	int nfds, nsources, nticks;
	struct loop_fd fds[LOOP_MAX_FDS];
	struct loop_source sources[LOOP_MAX_SOURCES];
	struct loop_timer timers[LOOP_MAX_TIMERS];
	struct loop_tick ticks[LOOP_MAX_TICKS];
	struct pollfd pfds[1 + LOOP_MAX_FDS + LOOP_MAX_SOURCE_PFDS];
	int pfd_owner[1 + LOOP_MAX_FDS + LOOP_MAX_SOURCE_PFDS]; /* fds[] index, -1 */
	int64_t (*clock)(void); /* mono_ms; tests may set another */
	/* The longest poll() waits with nothing due (0: as long as it takes): a
	 * daemon may set a safety net for a deadline hook that misses a case. */
	int64_t max_wait_ms;
	int npfd_fixed;   /* pfds[0 .. npfd_fixed): the timerfd and fds[] (loop_prepare) */
};

/* 0 or -errno (the timerfd). */
int loop_init(struct loop *l);
/*
 * The last line of a daemon's list of its parts (rc = rc < 0 ? rc : ...
 * chains, main.c): rc is the first registration that failed; says so in
 * the log, and returns rc or 0.
 */
int loop_setup_result(int rc);
void loop_free(struct loop *l);

int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *arg);
/* Change the events wanted (0: none for now, the fd stays registered). */
int loop_fd_events(struct loop *l, int fd, short events);
int loop_fd_del(struct loop *l, int fd);

/* Returns the source's id (>= 0) or -ENOSPC. */
int loop_source_add(struct loop *l, loop_fill_fn fill, loop_handle_fn handle, void *arg);
void loop_source_del(struct loop *l, int id);

/* First run delay_ms from now, then every period_ms (0: once). Returns the
 * timer's id (> 0) or -ENOSPC / -EINVAL. */
long loop_timer_add(struct loop *l, int64_t delay_ms, int64_t period_ms,
		    loop_timer_fn fn, void *arg);
/* 0, or -ENOENT when it already ran (one-shot) or was removed. */
int loop_timer_del(struct loop *l, long id);

/* Returns the tick's id (>= 0) or -ENOSPC. name: for the comments and logs. */
int loop_tick_add(struct loop *l, const char *name, loop_tick_fn fn,
		  loop_deadline_fn deadline, void *arg);
void loop_tick_del(struct loop *l, int id);

/* One wake-up: wait (at most until the earliest deadline), dispatch.
 * 0, or -errno when poll() failed (EINTR is not a failure: 0, nothing run). */
int loop_once(struct loop *l);
/*
 * loop_once in two halves, for a program that waits on many loops at once
 * (tests/tools/nodesim.c): loop_prepare fills l->pfds (pfds[0] is the
 * loop's timerfd, which such a program may close and ignore: it waits for
 * *deadline itself: monotonic ms, INT64_MAX none, LOOP_NOW at once) and
 * returns how many; the caller sets their revents (poll() with no wait) and
 * calls loop_dispatch, then loop_prepare again before it waits.
 */
int loop_prepare(struct loop *l, int64_t *deadline);
void loop_dispatch(struct loop *l);
/* Wake-ups until loop_stop(): 0, or -errno from poll(). */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
