/*
 * client.h - the CLI's side of the controller API: HTTP over the unix
 * socket with libcurl (CURLOPT_UNIX_SOCKET_PATH, URLs http://localhost/v1/...).
 *
 * Each call returns 0 when the controller answered (whatever the HTTP
 * status; look at resp->status) and -1 when it could not be reached, after
 * printing one line saying so, e.g.
 *   loaxa: cannot reach the controller at /run/loaxa/api.sock (is
 *   loaxa-controller running?)
 */
#ifndef LOAXA_CLI_CLIENT_H
#define LOAXA_CLI_CLIENT_H

#include <stddef.h>

#include <jansson.h>

struct cli_resp {
	long status;
	json_t *json;  /* the parsed body, or NULL when it is not JSON */
	char *raw;
	size_t len;
};

int cli_get(const char *path, struct cli_resp *resp);
int cli_post_json(const char *path, json_t *body, struct cli_resp *resp);
/* The same with another method (PUT: the new content of a draft). */
int cli_send_json(const char *method, const char *path, json_t *body, struct cli_resp *resp);
/* Timeout of cli_post_json in seconds (0: none; schedule apply imports). */
extern long cli_post_timeout_s;
/* Stream a file as the body (header X-Filename: its base name). */
int cli_post_file(const char *path, const char *file, struct cli_resp *resp);
int cli_delete(const char *path, struct cli_resp *resp);
void cli_resp_free(struct cli_resp *resp);

/*
 * The API token (auth.c of the CLI): $LOAXA_TOKEN, else the file
 * $LOAXA_TOKEN_FILE, else $XDG_CONFIG_HOME/loaxa/token, else
 * ~/.config/loaxa/token. cli_token_load returns 0 when there is one.
 */
#define CLI_TOKEN_MAX 128
extern int cli_send_token; /* 0 while logging in */
int cli_token_load(char *out, size_t outlen);
int cli_token_path(char *out, size_t outlen);

/* The controller's "error" text, or a description of the bad answer. */
const char *cli_resp_error(const struct cli_resp *resp);

/*
 * A refused or failed request: print "loaxa: [WHAT: ]<the controller's
 * error>", free resp, return CLI_EXIT_ERROR (what may be NULL).
 */
int cli_fail(struct cli_resp *resp, const char *what);
/* GET path expecting 200: 0, or -1 after printing why (resp freed). */
int cli_get_ok(const char *path, struct cli_resp *resp);

/* The target of a request body: {"zone": Z}, else {"node": N}, else {"all": true}. */
void cli_set_target(json_t *req, const char *zone, const char *node);
/*
 * Before any work (an upload, an import): does the target exist? A node
 * that has reported, a zone some node reported. 0 when it does (or the
 * node list cannot be read: the request itself then says), -1 after
 * printing "<cmd>: zone "x": no node is known ..." with what to do.
 */
int cli_check_target(const char *cmd, const char *zone, const char *node);

/*
 * ampnote.c: print, for each node of the target (the targets array, else
 * node, else zone, else all) whose amplifier is off and has a warm-up, that
 * `what` starts there that much later. Returns the longest wait in seconds.
 */
int cli_amp_note(json_t *targets, const char *zone, const char *node, const char *what);

/* URL-encode s for a query string (malloc'd). */
char *cli_escape(const char *s);

#endif
