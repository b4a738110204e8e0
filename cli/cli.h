/*
 * cli.h - what the `loaxa` subcommands share: the API socket path and the
 * subcommand entry points (each returns the process exit status).
 *
 * Exit status: 0 success; 1 error (a message on stderr); 2 wrong usage;
 * 3 `play --wait` timed out with nodes still pending.
 */
#ifndef LOAXA_CLI_H
#define LOAXA_CLI_H

#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_TIMEOUT 3

/* From --socket, else $LOAXA_SOCKET, else /run/loaxa/api.sock. */
extern const char *cli_socket;

int cmd_keygen(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_play(int argc, char **argv);
int cmd_nodes(int argc, char **argv);
/* selftest.c: the horn self-test */
int cmd_selftest(int argc, char **argv);
int cmd_content(int argc, char **argv);
int cmd_plays(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_broker_config(int argc, char **argv);
int cmd_web_cert(int argc, char **argv);
int cmd_node(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_schedule(int argc, char **argv);   /* schedule.c */
int cmd_announce(int argc, char **argv);
int cmd_cancel(int argc, char **argv);
int cmd_readiness(int argc, char **argv);
int cmd_emergency(int argc, char **argv);
int cmd_cap(int argc, char **argv);        /* cap.c: CAP 1.2 alerts */
int cmd_live(int argc, char **argv);
int cmd_record(int argc, char **argv);   /* record.c */
int cmd_drafts(int argc, char **argv);     /* approval.c */
int cmd_approve(int argc, char **argv);
int cmd_reject(int argc, char **argv);
int cmd_withdraw(int argc, char **argv);
int cmd_reviews(int argc, char **argv);
int cmd_review(int argc, char **argv);

void cli_usage(FILE *f);

/*
 * Ctrl-C (SIGINT) and SIGTERM set cli_interrupted instead of ending the
 * command, so it can stop what it started on the controller first.
 */
#include <signal.h>
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_interrupts(void);

/* Shared by import and play. */
#include <jansson.h>
#include <stdint.h>

/*
 * Upload FILE to the controller's import; on success *content is its
 * content object (new reference) and 0 is returned. Errors are printed.
 */
int cli_import_file(const char *file, const char *title, int music, json_t **content);
/* Print the one-line summary of an imported content object on stderr. */
void cli_print_imported(const char *file, json_t *content);

/* Fields of an untrusted JSON answer, with defaults. */
const char *jstr(json_t *o, const char *key);           /* "" when absent */
int64_t jint(json_t *o, const char *key, int64_t def);
double jreal(json_t *o, const char *key, double def);   /* NaN-free */
int jbool(json_t *o, const char *key);
void cli_print_json(json_t *j);
/* "1800", "90s", "10m", "1h" -> seconds (at most a day); -1 when not a duration. */
long cli_parse_duration(const char *s);
/* A draft (the "draft" of an answer), for people: saved/changed, what next. */
void cli_print_draft(json_t *draft, int edited);
/* A draft id as the controller gives them: 1 to 15 digits, no leading 0. */
int cli_draft_id_valid(const char *s);

/* "horn heard" / "horn silent" / "not tested" (translated) for a status selftest object */
const char *cli_selftest_word(json_t *st);

#endif
