/*
 * record.h - record an announcement from the controller's microphone.
 *
 * `loaxa record --device NAME --max DURATION` (cli/record.c) asks the
 * controller to capture from a capture device of controller.cfg (its name
 * only: the ALSA string never comes from the client), shows the level and
 * the elapsed time while it runs, and stops it on Ctrl-C; the controller
 * stops by itself at the maximum. The samples go, as they arrive, into a
 * WAV file under <state_dir>/tmp; at the stop the file goes through the
 * normal import pipeline (imports.h: loudness, limiter, Opus) and becomes
 * content like an uploaded file, and the WAV is removed.
 *
 * One recording at a time: a station has one microphone desk, and two
 * operators talking into it at once would both get the mix. The last
 * finished recording stays visible (state done or failed) until the next
 * one starts, so a client that polls once more after the stop sees it.
 *
 * API (docs/controller.md):
 *   POST /v1/record        {"device": D, "max_s": N, "title": T}  -> 201
 *   GET  /v1/record        the current or last recording          -> 200 | 404
 *   POST /v1/record/stop   {"record": ID}                         -> 200
 */
#ifndef LOAXA_CTL_RECORD_H
#define LOAXA_CTL_RECORD_H

#include <poll.h>
#include <stddef.h>

#include <jansson.h>

struct ctl;
struct ctl_principal;

/* The longest recording: three hours of 48 kHz mono is about 1 GB of WAV. */
#define CTL_RECORD_MAX_S (3 * 3600)

int ctl_record_init(struct ctl *c);
/* Shutdown: a recording in progress is abandoned (its WAV removed). */
void ctl_record_free(struct ctl *c);

int ctl_record_pollfds(struct ctl *c, struct pollfd *pfds, int max);
void ctl_record_handle(struct ctl *c, const struct pollfd *pfds, int n);

/* 1 when url is one of the endpoints above. */
int ctl_record_owns_url(const char *url);
/* Everything under /v1/record, for who (operate permission to change). */
void ctl_record_api(struct ctl *c, const struct ctl_principal *who, const char *method,
		    const char *url, const char *body, size_t len, unsigned *status,
		    json_t **reply, char *target, size_t targetlen);

#endif
