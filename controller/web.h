/*
 * web.h - the web console's HTTPS listener: what it adds to the API.
 *
 * api.c runs a second MHD daemon (TLS through MHD's GnuTLS) on web.listen
 * of controller.cfg, in the same external epoll mode and the same loop as
 * the unix socket, with the same request handler: every /v1/... endpoint
 * is the unix socket's, answered by the same code. This module holds what
 * only the web listener has:
 *
 *   - the static files of the console (web.root, /usr/share/loaxa/web):
 *     GET/HEAD only, a strict allow-list of path characters, no "." or ".."
 *     component, no hidden file, opened with openat2(RESOLVE_BENEATH) so
 *     no symlink leads out of the root, regular files only (no directory
 *     listing), a Content-Type from an allow-list of extensions;
 *   - sessions: POST /v1/session (name + password, the same throttled,
 *     audited login as `loaxa login`) sets the cookie
 *     "session=<token>; HttpOnly; Secure; SameSite=Strict; Path=/" -- the
 *     token is an API token (auth.h), so it expires, dies with its user and
 *     is revoked by DELETE /v1/session like `loaxa logout`; GET /v1/session
 *     says who is logged in;
 *   - CSRF: a request that authenticates with the cookie and is not GET or
 *     HEAD must carry X-CSRF-Token: the token derived from the session
 *     (web_csrf_token), which only a page of this origin can read (from the
 *     login's answer or GET /v1/session; no CORS header is ever sent). A
 *     client with "Authorization: Bearer" needs none (a browser never adds
 *     that header by itself);
 *   - the security headers every web response carries (web_add_headers).
 */
#ifndef LOAXA_CTL_WEB_H
#define LOAXA_CTL_WEB_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "auth.h"

struct ctl;

/* The session cookie's name and the CSRF header. */
#define WEB_COOKIE "session"
#define WEB_CSRF_HEADER "X-CSRF-Token"
/* The CSRF token: 64 hex digits and the NUL. */
#define WEB_CSRF_LEN (64 + 1)

/*
 * Open the listening socket of web.listen ("ADDR:PORT", "[V6]:PORT"),
 * non-blocking, listening. Returns the fd or a negative errno after
 * logging what is wrong in plain words.
 */
int web_listen(const char *listen);

/* The bound port of fd (a listen port of 0 picks one; the log says which). */
int web_bound_port(int fd);

/*
 * Read a PEM file (the certificate or its key) whole, NUL-terminated, for
 * MHD_OPTION_HTTPS_MEM_*. 0 with *out (free it; the key is wiped first by
 * web_free_secret), or a negative errno after logging which field fails.
 */
int web_read_pem(const char *field, const char *path, char **out);
void web_free_secret(char *s);

/* The root directory of the static files, opened once (O_PATH). */
int web_root_open(const char *root);

/*
 * The file name under the root that url names (MHD has decoded %xx
 * already, so "%2e%2e" arrives as ".."): only a-z A-Z 0-9 . _ - and '/'
 * between non-empty components that do not start with '.' (no "..", no
 * hidden file, no backslash); "/" and ".../" mean index.html. 0 or -ENOENT.
 */
int web_file_name(const char *url, char *out, size_t outlen);

/*
 * Open the file url names beneath rootfd (openat2 RESOLVE_BENEATH: no
 * symlink out of the root), a regular file with a known Content-Type:
 * the fd with *type and *size, or -ENOENT for anything else.
 */
int web_open(int rootfd, const char *url, const char **type, uint64_t *size);

/*
 * Answer a static file request: GET/HEAD of a path outside /v1/. Queues
 * the response on conn (with web_add_headers) and returns MHD's result.
 */
enum MHD_Result web_static(int rootfd, struct MHD_Connection *conn, const char *url,
			   const char *method);

/* 1 when url belongs to the API rather than to the static files. */
int web_is_api_url(const char *url);

/* The security headers of every web response, and no caching of the API's. */
void web_add_headers(struct MHD_Response *resp, int api);

/*
 * The session token of the request's cookie, when it has a well-formed one
 * (64 lowercase hex digits); NULL otherwise.
 */
const char *web_cookie_token(struct MHD_Connection *conn);

/* The CSRF token of a session token: a keyed BLAKE2b of it, in hex. */
void web_csrf_token(const char *token, char out[WEB_CSRF_LEN]);

/*
 * 1 when header (the X-CSRF-Token value, may be NULL) is the CSRF token of
 * the session token; compared in constant time.
 */
int web_csrf_ok(const char *token, const char *header);

/*
 * The cookie header value that sets the session (max_age_s > 0) or clears
 * it (token NULL). Written to out; -ENOSPC when it does not fit.
 */
int web_cookie_header(char *out, size_t outlen, const char *token, long long max_age_s);

/*
 * Who is on the other end of a TCP connection: "web 192.0.2.7:51234" for
 * logs and the audit log, and the key failed logins count against:
 * "ip 192.0.2.7" (an IPv6 peer by its /64, which one machine may own whole).
 */
void web_peer(struct MHD_Connection *conn, char *peer, size_t peerlen, char *peer_id,
	      size_t idlen);

#endif
