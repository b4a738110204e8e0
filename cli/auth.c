/*
 * auth.c - `loaxa login|logout|whoami|user|audit`: operator sessions.
 *
 * The token a login returns is kept in a file only its owner can read
 * (0600, directory 0700), because it is as good as the password until it
 * expires. $LOAXA_TOKEN (the token itself) and $LOAXA_TOKEN_FILE override
 * the default place, so scripts and tests can hold their own session.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "table.h"
#include "util.h"

int cli_token_path(char *out, size_t outlen)
{
	const char *f = getenv("LOAXA_TOKEN_FILE"), *x = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int n;

	if (f && f[0])
		n = snprintf(out, outlen, "%s", f);
	else if (x && x[0])
		n = snprintf(out, outlen, "%s/loaxa/token", x);
	else if (home && home[0])
		n = snprintf(out, outlen, "%s/.config/loaxa/token", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int cli_token_load(char *out, size_t outlen)
{
	const char *env = getenv("LOAXA_TOKEN");
	char path[4096];

	if (env && env[0])
		return str_copy(out, outlen, env);
	if (cli_token_path(path, sizeof(path)) < 0)
		return -ENOENT;
	return read_secret_line(path, out, outlen);
}

/* The password: first line of file ("-" = stdin), or asked on the terminal. */
static int read_password(const char *file, const char *prompt, char *out, size_t outlen)
{
	struct termios old, quiet;
	int tty = !file && isatty(STDIN_FILENO);
	FILE *f = stdin;
	size_t n;

	if (file && strcmp(file, "-") != 0) {
		int rc = read_secret_line(file, out, outlen);

		if (rc < 0)
			fprintf(stderr, "loaxa: cannot read a password from %s: %s\n", file,
				strerror(-rc));
		return rc;
	}
	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (!fgets(out, (int)outlen, f))
		out[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strlen(out);
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	if (!n) {
		fprintf(stderr, "loaxa: no password given\n");
		return -ENODATA;
	}
	return 0;
}

static int save_token(const char *token)
{
	char path[4096], dir[4096], *slash, line[CLI_TOKEN_MAX + 2];
	int rc;

	if (cli_token_path(path, sizeof(path)) < 0) {
		fprintf(stderr, "loaxa: nowhere to keep the token (set LOAXA_TOKEN_FILE or "
			"HOME)\n");
		return -ENOENT;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		rc = mkdir_p(dir, 0700);
		if (rc < 0) {
			fprintf(stderr, "loaxa: cannot create %s: %s\n", dir, strerror(-rc));
			return rc;
		}
	}
	snprintf(line, sizeof(line), "%s\n", token);
	rc = write_file_atomic(path, line, strlen(line), 0600);
	memset(line, 0, sizeof(line));
	if (rc < 0)
		fprintf(stderr, "loaxa: cannot write the token to %s: %s\n", path, strerror(-rc));
	return rc;
}

int cmd_login(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pwfile = NULL, *user;
	char pw[300], tmpl[64];
	struct cli_resp resp;
	json_t *body;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'p')
			goto usage;
		pwfile = optarg;
	}
	if (optind + 1 != argc)
		goto usage;
	user = argv[optind];
	snprintf(tmpl, sizeof(tmpl), "password for %.32s: ", user);
	if (read_password(pwfile, tmpl, pw, sizeof(pw)) < 0)
		return CLI_EXIT_ERROR;
	body = json_pack("{s:s, s:s}", "user", user, "password", pw);
	memset(pw, 0, sizeof(pw));
	/* No token goes with a login (an old one may be expired). */
	cli_send_token = 0;
	rc = cli_post_json("/v1/login", body, &resp);
	cli_send_token = 1;
	json_decref(body);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200 || !json_is_string(json_object_get(resp.json, "token")))
		return cli_fail(&resp, NULL);
	rc = save_token(json_string_value(json_object_get(resp.json, "token")));
	if (rc == 0) {
		time_t t = (time_t)(jint(resp.json, "expires", 0) / 1000);
		char when[64];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime(&t));
		fprintf(stderr, "logged in as %s (%s), until %s\n", jstr(resp.json, "user"),
			jstr(resp.json, "role"), when);
	}
	cli_resp_free(&resp);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
usage:
	fprintf(stderr, "usage: loaxa login NAME [--password-file F]\n");
	return CLI_EXIT_USAGE;
}

int cmd_logout(int argc, char **argv)
{
	struct cli_resp resp;
	char path[4096];
	json_t *body = json_object();
	int rc;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: loaxa logout\n");
		json_decref(body);
		return CLI_EXIT_USAGE;
	}
	rc = cli_post_json("/v1/logout", body, &resp);
	json_decref(body);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200)
		return cli_fail(&resp, NULL);
	cli_resp_free(&resp);
	if (!getenv("LOAXA_TOKEN") && cli_token_path(path, sizeof(path)) == 0)
		unlink(path);
	fprintf(stderr, "logged out\n");
	return CLI_EXIT_OK;
}

static void print_zones(json_t *z)
{
	size_t i;
	json_t *v;

	if (json_is_string(z)) {
		printf("%s", json_string_value(z));
		return;
	}
	json_array_foreach(z, i, v)
		printf("%s%s", i ? "," : "", json_string_value(v) ? json_string_value(v) : "?");
}

int cmd_whoami(int argc, char **argv)
{
	struct cli_resp resp;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: loaxa whoami\n");
		return CLI_EXIT_USAGE;
	}
	if (cli_get("/v1/whoami", &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200)
		return cli_fail(&resp, NULL);
	printf("%s (%s), zones ", jstr(resp.json, "user"), jstr(resp.json, "role"));
	print_zones(json_object_get(resp.json, "zones"));
	printf("\n");
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}

static int user_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "zone", required_argument, NULL, 'z' },
		{ "all-zones", no_argument, NULL, 'a' },
		{ "password-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *role = NULL, *pwfile = NULL;
	json_t *zones = json_array(), *body;
	struct cli_resp resp;
	char pw[300], prompt[80];
	int ch, all = 0, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': role = optarg; break;
		case 'z': json_array_append_new(zones, json_string(optarg)); break;
		case 'a': all = 1; break;
		case 'p': pwfile = optarg; break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc || !role || all == (json_array_size(zones) > 0))
		goto usage;
	snprintf(prompt, sizeof(prompt), "password for the new user %.32s: ", argv[optind]);
	if (read_password(pwfile, prompt, pw, sizeof(pw)) < 0) {
		json_decref(zones);
		return CLI_EXIT_ERROR;
	}
	body = json_pack("{s:s, s:s, s:s, s:o}", "name", argv[optind], "role", role,
			 "password", pw, "zones", all ? json_string("*") : zones);
	if (all)
		json_decref(zones);
	memset(pw, 0, sizeof(pw));
	rc = cli_post_json("/v1/users", body, &resp);
	json_decref(body);
	if (rc < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 201)
		return cli_fail(&resp, NULL);
	printf("user %s added (%s)\n", argv[optind], role);
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
usage:
	json_decref(zones);
	fprintf(stderr, "usage: loaxa user add NAME --role operator|approver|maintenance|admin "
		"(--zone Z [--zone Z2 ...] | --all-zones) [--password-file F]\n");
	return CLI_EXIT_USAGE;
}

int cmd_user(int argc, char **argv)
{
	struct cli_resp resp;
	char path[128];
	json_t *list, *u;
	size_t i;
	int json = argc >= 3 && strcmp(argv[argc - 1], "--json") == 0;

	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return user_add(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2 + json) {
		if (cli_get("/v1/users", &resp) < 0)
			return CLI_EXIT_ERROR;
		if (resp.status != 200)
			return cli_fail(&resp, NULL);
		list = json_object_get(resp.json, "users");
		if (json) {
			cli_print_json(list);
		} else {
			printf("%-20s %-12s %s\n", "USER", "ROLE", "ZONES");
			json_array_foreach(list, i, u) {
				printf("%-20s %-12s ", jstr(u, "name"), jstr(u, "role"));
				print_zones(json_object_get(u, "zones"));
				printf("\n");
			}
		}
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	if (argc == 3 && strcmp(argv[1], "del") == 0) {
		if (!name_valid(argv[2])) {
			fprintf(stderr, "loaxa: \"%s\" is not a user name\n", argv[2]);
			return CLI_EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "/v1/users/%s", argv[2]);
		if (cli_delete(path, &resp) < 0)
			return CLI_EXIT_ERROR;
		if (resp.status != 200)
			return cli_fail(&resp, NULL);
		printf("user %s deleted\n", argv[2]);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	fprintf(stderr, "usage: loaxa user add|list|del ... (see loaxa help)\n");
	return CLI_EXIT_USAGE;
}

int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "user", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *limit = "50", *user = NULL;
	struct cli_resp resp;
	char path[256];
	json_t *list, *e;
	size_t i;
	int ch, json = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': limit = optarg; break;
		case 'u': user = optarg; break;
		case 'j': json = 1; break;
		default:
			fprintf(stderr, "usage: loaxa audit [--limit N] [--user U] [--json]\n");
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || strspn(limit, "0123456789") != strlen(limit) ||
	    (user && !name_valid(user))) {
		fprintf(stderr, "usage: loaxa audit [--limit N] [--user U] [--json]\n");
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/audit?limit=%s%s%s", limit, user ? "&user=" : "",
		 user ? user : "");
	if (cli_get(path, &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 200)
		return cli_fail(&resp, NULL);
	list = json_object_get(resp.json, "audit");
	if (json) {
		cli_print_json(list);
	} else {
		printf("%-19s %-12s %-8s %-30s %-28s %s\n", "WHEN", "WHO", "RESULT", "ACTION",
		       "TARGET", "FROM / WHY");
		json_array_foreach(list, i, e) {
			time_t t = (time_t)(jint(e, "ts", 0) / 1000);
			char when[32];

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
			printf("%-19s %-12s %-8s %-30s %-28s %s%s%s\n", when, jstr(e, "user"),
			       jstr(e, "result"), jstr(e, "action"), jstr(e, "target"),
			       jstr(e, "from"), jstr(e, "detail")[0] ? ": " : "", jstr(e, "detail"));
		}
	}
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}
