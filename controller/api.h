/*
 * api.h - the operator API: HTTP + JSON on a unix socket (libmicrohttpd).
 *
 * The socket is bound here (a stale socket file left by a crash is
 * replaced; a live controller on it is an error), made mode 0660 and handed
 * to MHD with MHD_OPTION_LISTEN_SOCKET. MHD runs in external epoll mode
 * inside the controller's one poll loop: main.c polls the epoll fd and
 * calls ctl_api_run; ctl_api_timeout_ms says how long MHD may wait.
 *
 * Endpoints (docs/controller.md has the details):
 *   GET  /v1/nodes                 GET  /v1/content
 *   POST /v1/content?title=T       POST /v1/broadcasts
 *   GET  /v1/broadcasts/<id>       GET  /v1/plays[?broadcast=B][&limit=N]
 *   GET  /v1/events                (Server-Sent Events: node, play, alarm)
 * Uploads stream to a temp file under <state_dir>/tmp and are imported in a
 * worker process (imports.h); the connection is suspended meanwhile, so the
 * loop keeps serving everything else. Errors are {"error": "..."}.
 */
#ifndef LOAXA_CTL_API_H
#define LOAXA_CTL_API_H

#include <poll.h>
#include <stdint.h>

#include <jansson.h>

struct ctl;

/* Largest upload (an announcement file) the API accepts. */
#define CTL_MAX_UPLOAD (2ULL * 1024 * 1024 * 1024)
/* Largest JSON request body. */
#define CTL_MAX_JSON_BODY (64 * 1024)

int ctl_api_start(struct ctl *c);
void ctl_api_stop(struct ctl *c);

/* The epoll fds of MHD (the unix socket's, the web listener's), for poll();
 * returns how many were filled (at most max). */
int ctl_api_pollfds(struct ctl *c, struct pollfd *pfd, int max);
/* Milliseconds MHD may wait (-1: no limit). */
int ctl_api_timeout_ms(struct ctl *c);
void ctl_api_run(struct ctl *c);

/*
 * An event for the GET /v1/events streams (sse.h): kind is the SSE event
 * name ("node", "play", "alarm"), node the node it concerns (NULL: the
 * whole station; streams of scoped accounts see a node's events only when
 * the node is visible to them), data its JSON (not taken). Streams waiting
 * for an event resume. Nothing when the API is not running.
 */
void ctl_api_event(struct ctl *c, const char *kind, const char *node, json_t *data);

#endif
