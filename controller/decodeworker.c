/*
 * decodeworker.c - see decodeworker.h.
 */
#include "decodeworker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlutil.h"

/*
 * Beside the controller (a build tree), or in ../bin beside loaxa (the
 * packages and make install put the daemon in sbin).
 */
int ctl_worker_path(char *path, size_t len, char *err, size_t errlen)
{
	static const char *const rel[] = { "", "../bin/" };
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	size_t i;
	int e = ENOENT;

	if (n < 0) {
		e = errno;
		snprintf(err, errlen, "cannot find the decode worker: /proc/self/exe: %s",
			 strerror(e));
		return -e;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash) {
		snprintf(err, errlen, "cannot find the decode worker: %s has no directory", self);
		return -ENOENT;
	}
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(path, len, "%s/%s%s", self, rel[i], CTL_WORKER_PROGRAM) >= len) {
			snprintf(err, errlen, "cannot find the decode worker: path too long");
			return -ENAMETOOLONG;
		}
		if (access(path, X_OK) == 0)
			return 0;
		if (i == 0)
			e = errno;
	}
	snprintf(err, errlen, "cannot run the decode worker %s/%s: %s (it belongs next to "
		 "loaxa-controller, or in ../bin beside loaxa)", self, CTL_WORKER_PROGRAM,
		 strerror(e));
	return -e;
}

/*
 * The worker's environment: nothing of the controller's (no paths, no
 * secrets), only what makes a sanitizer build report and FFmpeg's debug
 * log switch (docs/import.md).
 */
static const char *const pass_env[] = {
	"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "LOAXA_FFMPEG_LOG", NULL,
};

_Noreturn void ctl_worker_exec(const char *path, char **argv, const int *fds, int nfds)
{
	char *envp[8];
	int tmp[8], i, k = 0;

	if (nfds > 8)
		_exit(127);
	/* move every descriptor above the target range first, so that no
	 * dup2 overwrites a descriptor still to be placed */
	for (i = 0; i < nfds; i++) {
		tmp[i] = fcntl(fds[i], F_DUPFD, 16);
		if (tmp[i] < 0)
			_exit(127);
	}
	for (i = 0; i < nfds; i++)
		if (dup2(tmp[i], i) < 0)
			_exit(127);
	/* no inherited descriptors: not the database, not the API socket, not MQTT */
	if (close_range((unsigned)nfds, ~0U, 0) < 0) {
		int fd;

		for (fd = nfds; fd < 65536; fd++)
			close(fd);
	}
	for (i = 0; pass_env[i] && k < 7; i++) {
		const char *v = getenv(pass_env[i]);
		size_t n;

		if (!v)
			continue;
		n = strlen(pass_env[i]) + strlen(v) + 2;
		envp[k] = malloc(n);
		if (!envp[k])
			continue;
		snprintf(envp[k++], n, "%s=%s", pass_env[i], v);
	}
	envp[k] = NULL;
	argv[0] = (char *)CTL_WORKER_PROGRAM;
	execve(path, argv, envp);
	fprintf(stderr, "loaxa-controller: cannot run the decode worker %s: %s\n", path,
		strerror(errno));
	_exit(127);
}

pid_t ctl_worker_spawn(const char *path, char **argv, const int *fds, int nfds)
{
	pid_t parent = getpid(), pid;

	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		ctl_child_init(parent);
		ctl_worker_exec(path, argv, fds, nfds);
	}
	return pid;
}
