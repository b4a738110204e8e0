/*
 * encode.c - `loaxa encode ...`: exec loaxa-encode, see encode.h.
 *
 * Encoding needs FFmpeg, libebur128 and libopusenc, and with what they pull
 * in that is over a hundred shared libraries: loading them cost every loaxa
 * command 30 ms on a quiet machine and up to a few hundred ms on a loaded
 * one, on the path of `loaxa emergency start`. So they live in their own
 * program and this command only execs it. exec keeps the arguments, the
 * environment, the terminal (the progress line) and the exit status, so
 * `loaxa encode` behaves as it did when the encoder was built in.
 */
#include "encode.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/*
 * DIR/loaxa-encode where DIR holds the running loaxa. That is the encoder
 * built or installed together with this loaxa (make, make install), which
 * matters more than what the PATH would find: another version, or none
 * when loaxa is run as build/loaxa. /proc/self/exe has symlinks resolved,
 * so a loaxa reached through a link still finds its own encoder.
 */
static int encoder_next_to_self(char *path, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self));
	char *slash;

	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(self))
		return -ENAMETOOLONG;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	if ((size_t)snprintf(path, size, "%s/%s", self, CLI_ENCODER) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int cmd_encode(int argc, char **argv)
{
	static char name[] = CLI_ENCODER;
	char path[PATH_MAX];
	int found;

	(void)argc;
	/* argv is main's, from "encode" on: NULL-terminated, ours to change. */
	found = encoder_next_to_self(path, sizeof(path));
	if (found == 0) {
		argv[0] = path;
		execv(path, argv);
		/* Only a missing encoder falls back to the PATH: one that is
		 * there but cannot run is an installation to fix, not to hide
		 * behind some other loaxa-encode. */
		if (errno != ENOENT && errno != ENOTDIR) {
			fprintf(stderr, "loaxa encode: cannot run %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	argv[0] = name;
	execvp(name, argv);
	if (errno != ENOENT && errno != ENOTDIR) {
		fprintf(stderr, "loaxa encode: cannot run %s from the PATH: %s\n", name,
			strerror(errno));
		return 1;
	}
	if (found == 0)
		fprintf(stderr,
			"loaxa encode: cannot find the encoder: no %s (next to this loaxa) "
			"and no %s on the PATH (make install puts it next to loaxa)\n",
			path, name);
	else
		fprintf(stderr,
			"loaxa encode: cannot find the encoder: no %s on the PATH, and no "
			"directory of this loaxa to look in (/proc/self/exe: %s)\n",
			name, strerror(-found));
	return 1;
}
