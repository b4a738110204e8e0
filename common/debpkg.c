/*
 * debpkg.c - see debpkg.h.
 */
#include "debpkg.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int deb_run(char *const argv[], char *out, size_t outlen)
{
	posix_spawn_file_actions_t fa;
	int pipefd[2] = { -1, -1 }, status, rc;
	size_t got = 0;
	pid_t pid;

	if (out && outlen)
		out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		return -rc;
	}
	for (;;) {
		char buf[512];
		ssize_t r = read(pipefd[0], buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out && got + 1 < outlen) {
			size_t n = (size_t)r < outlen - 1 - got ? (size_t)r : outlen - 1 - got;

			memcpy(out + got, buf, n);
			got += n;
			out[got] = '\0';
		}
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 256 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* "Name: value" line of text into out; 0, or -ENOENT. */
static int field(const char *text, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1, *end;
			size_t len;

			while (*v == ' ')
				v++;
			end = strchr(v, '\n');
			len = end ? (size_t)(end - v) : strlen(v);
			if (len == 0 || len >= outlen)
				return -EINVAL;
			memcpy(out, v, len);
			out[len] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -ENOENT;
}

int deb_read_fields(const char *path, const char *dpkg_deb, struct deb_info *info, char *why,
		    size_t whylen)
{
	char prog[256], file[4096], text[1024];
	char f1[] = "Package", f2[] = "Version", f3[] = "Architecture", opt[] = "-f";
	char *argv[] = { prog, opt, file, f1, f2, f3, NULL };
	int rc;

	memset(info, 0, sizeof(*info));
	snprintf(prog, sizeof(prog), "%s", dpkg_deb ? dpkg_deb : "/usr/bin/dpkg-deb");
	if ((size_t)snprintf(file, sizeof(file), "%s", path) >= sizeof(file)) {
		snprintf(why, whylen, "the package's path is too long");
		return -ENAMETOOLONG;
	}
	rc = deb_run(argv, text, sizeof(text));
	if (rc < 0) {
		snprintf(why, whylen, "cannot run %s: %s (install the dpkg package)", prog,
			 strerror(-rc));
		return rc;
	}
	if (rc != 0) {
		snprintf(why, whylen, "it is not a Debian package (dpkg-deb could not read it)");
		return -EINVAL;
	}
	if (field(text, "Package", info->package, sizeof(info->package)) < 0 ||
	    field(text, "Version", info->version, sizeof(info->version)) < 0 ||
	    field(text, "Architecture", info->arch, sizeof(info->arch)) < 0) {
		snprintf(why, whylen, "its control file lacks Package, Version or Architecture "
			 "(or one is too long)");
		return -EINVAL;
	}
	return 0;
}
