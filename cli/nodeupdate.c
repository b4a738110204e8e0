/*
 * nodeupdate.c - see nodeupdate.h.
 */
#include "nodeupdate.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "i18n.h"
#include "util.h"

int cmd_node_update(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "zone", required_argument, NULL, 'z' }, { "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: loaxa node update NODE PACKAGE.deb\n"
		"       loaxa node update --zone ZONE PACKAGE.deb\n"
		"       loaxa node update --all PACKAGE.deb          [--json]\n"
		"Sends the loaxa-node package to the nodes; each installs it at a quiet moment\n"
		"and keeps the previous version (see `loaxa node show NODE`, docs/operations.md).";
	const char *zone = NULL, *node = NULL, *file;
	struct cli_resp resp;
	char path[160];
	struct stat st;
	json_t *e;
	size_t i;
	int all = 0, json = 0, ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'z': zone = optarg; break;
		case 'a': all = 1; break;
		case 'j': json = 1; break;
		case 'h': printf("%s\n", usage); return CLI_EXIT_OK;
		default: fprintf(stderr, "%s\n", usage); return CLI_EXIT_USAGE;
		}
	}
	if (zone || all) {
		if ((zone && all) || argc - optind != 1) {
			fprintf(stderr, "%s\n", usage);
			return CLI_EXIT_USAGE;
		}
	} else {
		if (argc - optind != 2) {
			fprintf(stderr, "%s\n", usage);
			return CLI_EXIT_USAGE;
		}
		node = argv[optind++];
	}
	file = argv[optind];
	if ((node && !name_valid(node)) || (zone && !name_valid(zone))) {
		fprintf(stderr, _("loaxa node update: \"%s\" is not a node or zone name\n"),
			node ? node : zone);
		return CLI_EXIT_USAGE;
	}
	if (stat(file, &st) < 0 || !S_ISREG(st.st_mode) || access(file, R_OK) < 0) {
		fprintf(stderr, _("loaxa node update: cannot read the package %s\n"), file);
		return CLI_EXIT_ERROR;
	}
	snprintf(path, sizeof(path), "/v1/node-update?%s%s", node ? "node=" : zone ? "zone=" :
		 "all=1", node ? node : zone ? zone : "");
	if (cli_post_file(path, file, &resp) < 0)
		return CLI_EXIT_ERROR;
	if (resp.status != 202) {
		fprintf(stderr, _("loaxa: the update was not sent: %s\n"), cli_resp_error(&resp));
		cli_resp_free(&resp);
		return CLI_EXIT_ERROR;
	}
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	e = json_object_get(resp.json, "package");
	printf(_("package %s %s (%s), %lld bytes, content %.12s\n"), jstr(e, "name"),
	       jstr(e, "version"), jstr(e, "arch"), (long long)jint(e, "bytes", 0),
	       jstr(e, "content"));
	json_array_foreach(json_object_get(resp.json, "commands"), i, e)
		printf(_("  %-12s update sent (command %s)\n"), jstr(e, "node"), jstr(e, "command"));
	json_array_foreach(json_object_get(resp.json, "skipped"), i, e)
		printf(_("  %-12s not sent: %s\n"), jstr(e, "node"), jstr(e, "reason"));
	printf(_("Each node installs it at a quiet moment and reports the outcome: "
		 "loaxa node show NODE\n"));
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}
