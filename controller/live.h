/*
 * live.h - the controller's side of live and relayed streams.
 *
 * A session takes audio from a source, cuts it into 20 ms frames, encodes
 * each with libopus (in-band FEC on, so a node can rebuild a lost frame from
 * the next one), stamps each with its capture time in controller time
 * (CLOCK_REALTIME, us), and publishes a few frames per signed `live`
 * envelope (livebody.h) with QoS 0 on <root>/zone/<zone>/live,
 * <root>/node/<id>/live or <root>/zone/all/live.
 *
 * Sources:
 *   - an ALSA capture device (microphone, line-in of a VOV/FM receiver),
 *     read in the poll loop through its poll descriptors;
 *   - stored content (`loaxa live --file F` imports F first) or an http(s)
 *     stream, decoded by the decode worker (decodeworker.h: an executed
 *     program under seccomp; the controller links no FFmpeg) into a pipe,
 *     read at the pace of a timerfd, 20 ms per frame.
 *
 * Levels: `live` (the operator now; preempts scheduled plays on the nodes)
 * or `relay` (the lowest: yields to everything; ends at `until`). One
 * session per level may run at once; a live session and a relay may both
 * stream (nodes play the live one).
 *
 * Its own MQTT connection ("<site>-controller-live"), because a broker
 * queues per client: a burst of content chunks on the bulk connection, or
 * commands on the control one, must never hold a live frame back.
 *
 * Batching: latency / 80 ms frames per message, 1 to 12 (12 = 240 ms at the
 * default 1 s): the envelope's 124 bytes and MQTT's header cost ~4x the codec
 * rate with one frame per message, ~1.3x with 12; a frame waits at most a
 * quarter of the latency before it leaves.
 */
#ifndef LOAXA_CTL_LIVE_H
#define LOAXA_CTL_LIVE_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;
struct ctl_principal;

#define CTL_LIVE_DEFAULT_LATENCY_MS 1000
#define CTL_LIVE_MIN_LATENCY_MS 60
#define CTL_LIVE_MAX_LATENCY_MS 10000
#define CTL_LIVE_MAX_PFDS 10 /* CAPTURE_MAX_PFDS (capdev.h) */

int ctl_live_init(struct ctl *c);
/* Connect the live MQTT client (non-blocking; common/mqconn.h). */
int ctl_live_start(struct ctl *c);
/* Its connection's descriptor and tick on the event loop (main.c). */
struct loop;
int ctl_live_register(struct loop *l, struct ctl *c);
/* End every session and disconnect (call before ctl_mqtt_stop). */
void ctl_live_free(struct ctl *c);

int ctl_live_pollfds(struct ctl *c, struct pollfd *pfds, int max);
void ctl_live_handle(struct ctl *c, const struct pollfd *pfds, int n);
/* Relay end times; about once a second. */
void ctl_live_tick(struct ctl *c);

/*
 * A relay of the schedule (relay.c): source "alsa:DEVICE" or "url:URL" to
 * <root>/node/<id>/live of each of the n nodes, until until_ms. -EBUSY when
 * a relay runs already.
 */
int ctl_live_relay_start(struct ctl *c, const char *source, char (*nodes)[32], size_t n,
			 int64_t until_ms, const char *occurrence, char *err, size_t errlen);
void ctl_live_relay_stop(struct ctl *c, const char *why);
/*
 * The voice of a live emergency (emergency.c): the capture device (or stored
 * content: a recorded voice, and the tests) to topic at level emergency until
 * until_ms; an operator's live session is ended first.
 */
int ctl_live_emergency_start(struct ctl *c, const char *topic, const char *device,
			     const char *content, int64_t latency_ms, int64_t until_ms, char *err,
			     size_t errlen);
/*
 * Stop a live emergency session, if who may (its topics lie in who's
 * zones; who NULL: the controller itself). 1 stopped, 0 none running,
 * -EPERM outside who's zones.
 */
int ctl_live_emergency_stop(struct ctl *c, const struct ctl_principal *who);

/* 1 when the operator stopped that relay occurrence (it is not restarted). */
int ctl_live_relay_stopped(const struct ctl *c, const char *occurrence);
/* The occurrence of the relay running from the schedule, NULL when none. */
const char *ctl_live_relay_occurrence(const struct ctl *c);

/*
 * Everything under /v1/live (see docs/controller.md), for who: starting a
 * session needs the operate permission and a target in who's zones.
 */
void ctl_live_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		  const char *url, const char *body, size_t len, unsigned *status,
		  json_t **reply, char *target, size_t targetlen);

#endif
