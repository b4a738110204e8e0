/*
 * clock.h - the node's estimate of the controller's clock.
 *
 * Everything the controller schedules (a plan item's `at`, a play command's
 * `at`, envelope times) is in the controller's clock. A node may have no NTP
 * (a 4G box behind carrier NAT) or a wrong RTC after a reboot, so it
 * measures its offset itself, the way NTP and Snapcast do:
 *
 *   node -> <root>/node/<id>/time/ping  {"node","n","t1"}        (QoS 0)
 *   ctl  -> <root>/node/<id>/time/pong  envelope type time,
 *                                       body {"n","t1","t2","t3"}
 *
 * t1 is the node's send time, t2/t3 the controller's receive/send times,
 * t4 the node's receive time (all µs). Each round trip gives
 *
 *   offset = ((t2 - t1) + (t3 - t4)) / 2      delay = (t4 - t1) - (t3 - t2)
 *
 * and the true offset lies within offset ± delay/2 whatever the asymmetry
 * of the path. Samples with a long round trip (queued behind bulk traffic,
 * a 4G retransmission) are the least precise, so of the last CLOCK_WINDOW
 * samples the one with the smallest error bound wins: delay/2 plus a
 * drift allowance (CLOCK_DRIFT_PPM) for its age.
 *
 * The node's side is measured on CLOCK_MONOTONIC, not on its wall clock:
 * a wall clock stepped by NTP or by hand in the middle changes nothing, and
 * "controller time" is simply monotonic time plus one number. The estimate
 * is written to <state_dir>/clock (offset to the wall clock, error bound,
 * when) so that a node restarted with no link still schedules in the
 * controller's time; the error bound then grows with the time since it was
 * saved.
 *
 * Freshness of a pong comes from the challenge, not from the envelope's
 * times: a pong counts only when it answers the one outstanding ping (same
 * n and t1), so a replayed or delayed pong is ignored even though its
 * envelope times are checked against the node's clock - which is exactly
 * what may be wrong when it is needed most (cmd.c).
 */
#ifndef LOAXA_NODE_CLOCK_H
#define LOAXA_NODE_CLOCK_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CLOCK_WINDOW 8
#define CLOCK_DRIFT_PPM 15.0
/* Pings: every second for the first few after (re)connecting, then this often. */
#define CLOCK_FAST_PINGS 5
#define CLOCK_FAST_MS 1000
#define CLOCK_PING_MS 30000
/* A ping unanswered this long is forgotten (its pong, if late, is ignored). */
#define CLOCK_PONG_TIMEOUT_MS 3000
/* Round trips longer than this are not samples (the link is choking). */
#define CLOCK_MAX_DELAY_US 10000000LL
/* The estimate reaches the disk at most this often. */
#define CLOCK_SAVE_MS 60000
/*
 * A sample whose offset lies further than this beyond both error bounds
 * (its own delay/2 and the estimate's bound now) cannot be the same clock:
 * the controller's clock was stepped (NTP, by hand); the window restarts.
 */
#define CLOCK_STEP_US 20000LL
/* This machine's own wall clock moving by more than this is a step. */
#define CLOCK_OWN_STEP_US 1000000LL

struct node;
struct envelope;

struct clock_sample {
	int64_t offset_us;   /* controller time minus node monotonic time */
	int64_t delay_us;    /* round trip without the controller's own time */
	int64_t mono_us;     /* when it was taken (node monotonic) */
};

enum clock_source { CLOCK_NONE = 0, CLOCK_SAVED, CLOCK_MEASURED };

struct node_clock {
	char path[PATH_MAX];
	struct clock_sample win[CLOCK_WINDOW];
	size_t nwin, next;
	uint64_t samples;        /* accepted since start */
	enum clock_source source;
	/* the estimate: controller_us = mono_us + off_mono_us, within err_us at ref */
	int64_t off_mono_us;
	int64_t err_us;
	int64_t ref_mono_us;
	int64_t rtt_us;          /* of the chosen sample */
	/* the ping in flight */
	uint64_t n;
	int outstanding;
	int64_t t1_us, t1_mono_us;
	int64_t next_ping_ms;    /* mono */
	int fast_left;
	int64_t last_save_ms;    /* mono, 0 = never */
	int dirty;
	int64_t rmm_us;          /* wall minus monotonic at the last tick (0: none yet) */
	uint64_t steps;          /* controller clock steps seen since start */
};

/* Load <state_dir>/clock when present (a damaged file is logged and ignored). */
int clock_init(struct node_clock *c, const char *state_dir);
/* Write the estimate now (clean stop). */
void clock_save(struct node_clock *c);

/* Controller time now, and conversions. With no estimate: the node's own clock. */
int64_t clock_now_ms(const struct node_clock *c);
int64_t clock_now_us(const struct node_clock *c);
int64_t clock_from_local_ms(const struct node_clock *c, int64_t local_ms);
int64_t clock_to_local_ms(const struct node_clock *c, int64_t ctl_ms);
int64_t clock_to_mono_us(const struct node_clock *c, int64_t ctl_ms);
/* Controller minus node wall clock, ms. */
double clock_offset_ms(const struct node_clock *c);
/* Error bound now, ms; -1 when the node never had an estimate. */
double clock_error_ms(const struct node_clock *c);

/* The ctl connection came up: ping quickly a few times. */
void clock_on_connect(struct node *n);
/* Ping when due. */
void clock_tick(struct node *n, int64_t mono_ms);
int64_t clock_next_deadline(const struct node *n);
/* Registers this module's tick with the event loop (main.c). */
struct loop;
int clock_register(struct loop *l, struct node *n);
/*
 * A verified time envelope (cmd.c); t4_us / t4_mono_us: when its bytes
 * arrived, taken before the signature check. Returns 0 when it was a
 * sample, -errno otherwise (logged).
 */
int clock_on_pong(struct node *n, const struct envelope *env, int64_t t4_us,
		  int64_t t4_mono_us);

/* Pure parts, for unit tests. */
void clock_sample_make(struct clock_sample *s, int64_t t1_mono, int64_t t2, int64_t t3,
		       int64_t t4_mono);
/* Index of the best sample at now_mono (smallest bound), its bound in *err_us. */
int clock_select(const struct clock_sample *win, size_t n, int64_t now_mono_us,
		 int64_t *err_us);
/*
 * Add a sample and choose the estimate. Returns 1 when the sample showed
 * that the controller's clock was stepped (the older samples were dropped:
 * they describe a clock that no longer exists), 0 otherwise.
 */
int clock_add_sample(struct node_clock *c, const struct clock_sample *s);

#endif
