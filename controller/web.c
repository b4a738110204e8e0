/*
 * web.c - see web.h.
 */
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

#include "log.h"
#include "util.h"

/*
 * Nothing outside the controller: scripts, styles, fonts, images and
 * connections only from this origin, no inline script or style, no plugin,
 * no framing. Recorded audio is played back from blob: URLs and small
 * icons may be data: URLs; neither can run code.
 */
#define WEB_CSP "default-src 'self'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; " \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; " \
	"frame-ancestors 'none'"

/* Files of the console are small; a bound keeps a stray big file out. */
#define WEB_FILE_MAX (64LL * 1024 * 1024)
#define WEB_PATH_MAX 256

/* ------------------------------------------------------------ listening */

int web_listen(const char *listen_s)
{
	char host[64], port[8];
	const char *colon;
	struct addrinfo hints, *res = NULL;
	size_t hl;
	int fd = -1, one = 1, rc;

	if (listen_s[0] == '[') {
		const char *end = strchr(listen_s, ']');

		if (!end || end[1] != ':')
			goto bad;
		hl = (size_t)(end - listen_s - 1);
		if (hl == 0 || hl >= sizeof(host))
			goto bad;
		memcpy(host, listen_s + 1, hl);
		colon = end + 1;
	} else {
		colon = strrchr(listen_s, ':');
		if (!colon || colon == listen_s || strchr(listen_s, ':') != colon)
			goto bad;
		hl = (size_t)(colon - listen_s);
		if (hl >= sizeof(host))
			goto bad;
		memcpy(host, listen_s, hl);
	}
	host[hl] = '\0';
	if (!colon[1] || strlen(colon + 1) >= sizeof(port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) > 65535)
		goto bad;
	snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
		goto bad;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		log_warn("web.listen %s: cannot create a socket", listen_s);
		freeaddrinfo(res);
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		log_errorx("web.listen %s: cannot listen there: %s (%s)", listen_s,
			   strerror(-rc), rc == -EADDRINUSE ? "another program uses the port: "
			   "choose another port in controller.cfg or stop that program"
			   : rc == -EADDRNOTAVAIL ? "this machine has no such address: use "
			   "0.0.0.0 or one of its own addresses" : "see docs/controller.md");
		close(fd);
		freeaddrinfo(res);
		return rc;
	}
	freeaddrinfo(res);
	return fd;
bad:
	log_errorx("web.listen \"%s\" in controller.cfg is not ADDRESS:PORT: write e.g. "
		   "\"0.0.0.0:8443\" (every IPv4 address), \"192.168.1.10:8443\" or "
		   "\"[::]:8443\"", listen_s);
	return -EINVAL;
}

int web_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int web_read_pem(const char *field, const char *path, char **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = read_file(path, 1024 * 1024, &buf, &len);

	*out = NULL;
	if (rc < 0) {
		log_errorx("%s %s: cannot read it: %s", field, path, strerror(-rc));
		return rc;
	}
	if (!len || !memmem(buf, len, "-----BEGIN ", 11)) {
		log_errorx("%s %s: not a PEM file (it must start with -----BEGIN ...): give the "
			   "file `loaxa web-cert` made, or the commune's certificate and key "
			   "in PEM", field, path);
		sodium_memzero(buf, len);
		free(buf);
		return -EINVAL;
	}
	*out = (char *)buf; /* read_file NUL-terminates */
	return 0;
}

void web_free_secret(char *s)
{
	if (s) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
}

/* ------------------------------------------------------------ static files */

int web_root_open(const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		log_errorx("web.root %s: cannot open the console's directory: %s (install the "
			   "package's web files or set web.root in controller.cfg)", root,
			   strerror(err));
		return -err;
	}
	return fd;
}

int web_is_api_url(const char *url)
{
	return strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0 ||
	       strcmp(url, "/metrics") == 0;
}

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "json", "application/json" },
	{ "webmanifest", "application/manifest+json" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "po", "text/plain; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "woff2", "font/woff2" },
	{ "woff", "font/woff" },
	{ "opus", "audio/ogg" },
	{ "ogg", "audio/ogg" },
	{ "wav", "audio/wav" },
	{ "mp3", "audio/mpeg" },
};

static const char *content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	if (!dot || strchr(dot, '/'))
		return NULL;
	for (i = 0; i < ARRAY_SIZE(content_types); i++)
		if (strcasecmp(dot + 1, content_types[i].ext) == 0)
			return content_types[i].type;
	return NULL;
}

/*
 * The file name under the root for url (MHD has already decoded %xx, so
 * "%2e%2e" arrives as ".."). Only a-z A-Z 0-9 . _ - and '/' between
 * non-empty components that do not start with '.': no "..", no hidden
 * file, no backslash, no NUL. "/" and ".../" mean index.html. 0 or -ENOENT.
 */
int web_file_name(const char *url, char *out, size_t outlen)
{
	const char *p;
	size_t n;

	if (url[0] != '/')
		return -ENOENT;
	url++;
	for (p = url; *p; p++) {
		char ch = *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
		      ch == '/'))
			return -ENOENT;
		if ((p == url || p[-1] == '/') && (ch == '.' || ch == '/'))
			return -ENOENT; /* ".x", "..", "." or "//" */
	}
	n = strlen(url);
	if ((size_t)snprintf(out, outlen, "%s%s", url, n == 0 || url[n - 1] == '/'
			     ? "index.html" : "") >= outlen)
		return -ENOENT;
	return 0;
}

/*
 * Open rel beneath rootfd: openat2 refuses any step out of the root
 * ("..", an absolute or escaping symlink, a mount point); a kernel
 * without it (before 5.6) gets a walk that follows no symlink at all.
 */
static int open_beneath(int rootfd, const char *rel)
{
	struct open_how how;
	char buf[WEB_PATH_MAX], *comp, *save = NULL, *next;
	int fd, dfd;
	long r;

	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
	r = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	if (r >= 0 || errno != ENOSYS)
		return r >= 0 ? (int)r : -errno;
	snprintf(buf, sizeof(buf), "%s", rel);
	dfd = rootfd;
	for (comp = strtok_r(buf, "/", &save); comp; comp = next) {
		next = strtok_r(NULL, "/", &save);
		fd = openat(dfd, comp, (next ? O_PATH | O_DIRECTORY : O_RDONLY | O_NONBLOCK |
					O_NOCTTY) | O_NOFOLLOW | O_CLOEXEC);
		if (dfd != rootfd)
			close(dfd);
		if (fd < 0)
			return -errno;
		dfd = fd;
	}
	return dfd == rootfd ? -ENOENT : dfd;
}

static enum MHD_Result web_text(struct MHD_Connection *conn, unsigned status,
				const char *text, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	web_add_headers(resp, 0);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static const char not_found[] =
	"Không tìm thấy trang này. / This page does not exist: open the console at /\n";

int web_open(int rootfd, const char *url, const char **type, uint64_t *size)
{
	char rel[WEB_PATH_MAX];
	struct stat st;
	int fd;

	if (web_file_name(url, rel, sizeof(rel)) < 0 || !(*type = content_type(rel))) {
		log_debug("web: GET %.200s: 404 (not a console file name)", url);
		return -ENOENT;
	}
	fd = open_beneath(rootfd, rel);
	if (fd < 0) {
		/* a symlink out of the root (EXDEV) or a loop is worth a line */
		if (fd == -EXDEV || fd == -ELOOP)
			log_info("web: GET %.200s: 404 (refused: %s)", url, strerror(-fd));
		else
			log_debug("web: GET %.200s: 404 (%s)", url, strerror(-fd));
		return -ENOENT;
	}
	/* a directory, a device or a FIFO is never served: no listings */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_FILE_MAX) {
		close(fd);
		log_debug("web: GET %.200s: 404 (not a regular file)", url);
		return -ENOENT;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

enum MHD_Result web_static(int rootfd, struct MHD_Connection *conn, const char *url,
			   const char *method)
{
	const char *type = NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	uint64_t size = 0;
	int fd;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return web_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Only GET and HEAD are "
				"allowed on the console's files.\n", "GET, HEAD");
	fd = web_open(rootfd, url, &type, &size);
	if (fd < 0)
		return web_text(conn, MHD_HTTP_NOT_FOUND, not_found, NULL);
	resp = MHD_create_response_from_fd64(size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	web_add_headers(resp, 0);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp); /* closes fd when the response is done */
	return ret;
}

void web_add_headers(struct MHD_Response *resp, int api)
{
	MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
	/* the console records from the microphone of the PC or phone: only itself */
	MHD_add_response_header(resp, "Permissions-Policy",
				"microphone=(self), camera=(), geolocation=(), payment=()");
	/* answers name nodes and people; files change with the package */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				api ? "no-store" : "no-cache");
}

/* ------------------------------------------------------------ sessions */

static int hex64(const char *s)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

const char *web_cookie_token(struct MHD_Connection *conn)
{
	const char *t = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, WEB_COOKIE);

	return hex64(t) ? t : NULL;
}

/*
 * A public key for the derivation, on purpose: the session token is the
 * secret (256 random bits), and whoever has it may act anyway. What the
 * CSRF token adds is that a page of another origin, which the browser
 * lets send the cookie but not read it or any answer, cannot know it.
 * Derived, not stored: a session survives a restart of the controller
 * with its CSRF token.
 */
static const unsigned char csrf_key[crypto_generichash_KEYBYTES] =
	"loaxa web console csrf token v1";

void web_csrf_token(const char *token, char out[WEB_CSRF_LEN])
{
	unsigned char h[32];

	crypto_generichash(h, sizeof(h), (const unsigned char *)token, strlen(token), csrf_key,
			   sizeof(csrf_key));
	hex_encode(out, h, sizeof(h));
}

int web_csrf_ok(const char *token, const char *header)
{
	char want[WEB_CSRF_LEN];

	if (!token || !hex64(header))
		return 0;
	web_csrf_token(token, want);
	return sodium_memcmp(want, header, 64) == 0;
}

int web_cookie_header(char *out, size_t outlen, const char *token, long long max_age_s)
{
	int n = snprintf(out, outlen, WEB_COOKIE "=%s; HttpOnly; Secure; SameSite=Strict; "
			 "Path=/; Max-Age=%lld", token ? token : "", token ? max_age_s : 0LL);

	return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

void web_peer(struct MHD_Connection *conn, char *peer, size_t peerlen, char *peer_id,
	      size_t idlen)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char a[INET6_ADDRSTRLEN];

	snprintf(peer, peerlen, "web, unknown address");
	snprintf(peer_id, idlen, "web unknown");
	if (!sa)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(peer, peerlen, "web %s:%u", a, ntohs(s4->sin_port));
		snprintf(peer_id, idlen, "ip %s", a);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		struct in6_addr net = s6->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&net)) {
			inet_ntop(AF_INET, &net.s6_addr[12], a, sizeof(a));
			snprintf(peer, peerlen, "web %s:%u", a, ntohs(s6->sin6_port));
			snprintf(peer_id, idlen, "ip %s", a);
			return;
		}
		inet_ntop(AF_INET6, &net, a, sizeof(a));
		snprintf(peer, peerlen, "web [%s]:%u", a, ntohs(s6->sin6_port));
		memset(&net.s6_addr[8], 0, 8);
		inet_ntop(AF_INET6, &net, a, sizeof(a));
		snprintf(peer_id, idlen, "ip %s/64", a);
	}
}
