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
 * of the path.
 *
 * A clock that knows its error: the node's crystal runs fast or slow by
 * tens of ppm (50 ppm is 4.3 s a day), so a node cut off for hours must
 * know its drift rate as well as its offset. Of the last CLOCK_WINDOW
 * samples, the good ones (a round trip at most twice the shortest plus
 * CLOCK_GOOD_SLACK_US: not queued behind bulk traffic or a 4G
 * retransmission) are fitted with a weighted least-squares line
 * offset(t) = offset + drift * (t - ref), weights 1/(delay/2)^2; samples
 * the line cannot explain are dropped and the line fitted again. ref is the
 * last good sample. The bound at time t is
 *
 *   bound(t) = err0 + |t - ref| * (3 sigma(drift) + CLOCK_WANDER_PPM)
 *
 * err0: the shortest half round trip (a constant path asymmetry never
 * averages out) plus 3 sigma of the line at ref; sigma(drift) from the
 * fit's residuals; CLOCK_WANDER_PPM what a crystal's rate may change by
 * with temperature after it was measured. Until a fit is possible (fewer
 * than CLOCK_FIT_MIN good samples or a span under CLOCK_FIT_SPAN_US, or a
 * line whose allowance is no better than the one known without it), the
 * best single sample decides and the drift is the last one known (saved,
 * or from before a step of the controller's clock), or 0 with an allowance
 * of CLOCK_DRIFT_UNKNOWN_PPM.
 *
 * The node's side is measured on CLOCK_MONOTONIC, not on its wall clock:
 * a wall clock stepped by NTP or by hand in the middle changes nothing, and
 * "controller time" is simply monotonic time plus one number. The estimate
 * is written to <state_dir>/clock (offset to the wall clock, error bound,
 * drift and the rate the bound grows, when) so that a node restarted with
 * no link still schedules in the controller's time, its offset moved on by
 * the drift and its bound grown by that rate since it was saved.
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

/* 32 samples: 15 minutes of pings, long enough to see a drift of 0.1 ppm */
#define CLOCK_WINDOW 32
/* Good samples: round trip <= 2 * shortest + this. */
#define CLOCK_GOOD_SLACK_US 1000LL
/* Timestamp noise added to every sample's half round trip (weights, err0). */
#define CLOCK_NOISE_US 50.0
/* A line needs this many good samples over this long. */
#define CLOCK_FIT_MIN 4
#define CLOCK_FIT_SPAN_US 3000000LL
/* sigmas of the fit in the bound */
#define CLOCK_SIGMAS 3.0
/* What a measured rate may still change by (temperature, ageing). */
#define CLOCK_WANDER_PPM 2.0
/* The drift allowance of a crystal never measured (cheap boards: +-100 ppm). */
#define CLOCK_DRIFT_UNKNOWN_PPM 100.0
/* A drift beyond this is not a crystal: the fit is not used. */
#define CLOCK_DRIFT_MAX_PPM 1000.0
/* Pings: every second for the first few after (re)connecting, then this often. */
#define CLOCK_FAST_PINGS 5
#define CLOCK_FAST_MS 1000
/* ... and up to this many more while no drift line could be fitted. */
#define CLOCK_FAST_EXTRA 25
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
	/*
	 * the estimate: controller_us = mono_us + off_mono_us
	 * + drift_ppm * (mono_us - ref_mono_us) / 1e6, within
	 * err_us + |mono_us - ref_mono_us| * grow_ppm / 1e6
	 */
	int64_t off_mono_us;
	int64_t err_us;
	int64_t ref_mono_us;
	double drift_ppm;
	double grow_ppm;
	int fitted;              /* the drift comes from a line over the window */
	int drift_known;         /* drift_ppm measured (now or before a restart) */
	/* a drift known from before (saved, or before a step) that a line must beat */
	int prior_known;
	double prior_grow_ppm;
	size_t used;             /* good samples in the line */
	int64_t rtt_us;          /* the shortest round trip of the window */
	/* the ping in flight */
	uint64_t n;
	int outstanding;
	int64_t t1_us, t1_mono_us;
	int64_t next_ping_ms;    /* mono */
	int fast_left;
	int fast_extra;          /* quick pings left while no line is fitted */
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

/* Drift, ppm (controller's clock minus node's, per node second), and the rate the bound grows. */
double clock_drift_ppm(const struct node_clock *c);
double clock_grow_ppm(const struct node_clock *c);

/* Pure parts, for unit tests: "now" is an argument. */
void clock_sample_make(struct clock_sample *s, int64_t t1_mono, int64_t t2, int64_t t3,
		       int64_t t4_mono);
/* Index of the best single sample at now_mono (smallest bound when the
 * drift is known to within allow_ppm), its bound in *err_us. */
int clock_select(const struct clock_sample *win, size_t n, int64_t now_mono_us,
		 double allow_ppm, int64_t *err_us);
/* The estimate's offset (controller minus node monotonic) and bound at mono_us. */
int64_t clock_offset_at(const struct node_clock *c, int64_t mono_us);
int64_t clock_bound_at(const struct node_clock *c, int64_t mono_us);
/*
 * Add a sample and choose the estimate. Returns 1 when the sample showed
 * that the controller's clock was stepped (the older samples were dropped:
 * they describe a clock that no longer exists), 0 otherwise.
 */
int clock_add_sample(struct node_clock *c, const struct clock_sample *s);

#endif
