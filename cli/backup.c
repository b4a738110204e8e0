/*
 * backup.c - `loaxa backup FILE` and `loaxa restore FILE`: exec
 * loaxa-controller --backup / --restore (controller/backup.h), which reads
 * the controller's configuration and database itself. They run on the
 * controller's machine, as root or the controller's user, without the
 * daemon's API: a backup is taken while the controller runs (SQLite's online
 * backup), a restore only while it is stopped.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CONTROLLER "loaxa-controller"
#define DEFAULT_CONFIG "/etc/loaxa/controller.cfg"

/*
 * The controller installed with this loaxa: beside it (a build tree), or
 * in ../sbin (the packages and make install put the daemon there).
 */
static int controller_path(char *path, size_t size)
{
	static const char *const rel[] = { "", "../sbin/" };
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	size_t i;

	if (n < 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(path, size, "%s/%s%s", self, rel[i], CONTROLLER) >= size)
			return -ENAMETOOLONG;
		if (access(path, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int usage(const char *cmd)
{
	if (strcmp(cmd, "backup") == 0)
		fprintf(stderr, "usage: loaxa backup FILE [--config CFG] [--no-content]\n"
				"  the database, configuration, keys, broker accounts and content of\n"
				"  the controller configured by CFG (default " DEFAULT_CONFIG ")\n");
	else
		fprintf(stderr, "usage: loaxa restore FILE [--config CFG] [--force]\n"
				"  put a backup back (the controller stopped); --force replaces an\n"
				"  existing database\n");
	return 2;
}

static int run(const char *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "no-content", no_argument, NULL, 'N' },
		{ "force", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG;
	char path[PATH_MAX], mode[16];
	char *args[10];
	int ch, n = 0, no_content = 0, force = 0, backup = strcmp(cmd, "backup") == 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'N': if (!backup) return usage(cmd); no_content = 1; break;
		case 'F': if (backup) return usage(cmd); force = 1; break;
		default: return usage(cmd);
		}
	}
	if (optind != argc - 1)
		return usage(cmd);
	snprintf(mode, sizeof(mode), "--%s", cmd);
	if (controller_path(path, sizeof(path)) < 0)
		snprintf(path, sizeof(path), "%s", CONTROLLER);
	args[n++] = path;
	args[n++] = (char *)"-c";
	args[n++] = (char *)config;
	args[n++] = mode;
	args[n++] = argv[optind];
	if (no_content)
		args[n++] = (char *)"--no-content";
	if (force)
		args[n++] = (char *)"--force";
	args[n] = NULL;
	if (strchr(path, '/'))
		execv(path, args);
	else
		execvp(path, args);
	fprintf(stderr, "loaxa %s: cannot run %s: %s (is loaxa-controller installed?)\n", cmd,
		path, strerror(errno));
	return 1;
}

int cmd_backup(int argc, char **argv)
{
	return run("backup", argc, argv);
}

int cmd_restore(int argc, char **argv)
{
	return run("restore", argc, argv);
}
