/*
 * sysinfo.c - see sysinfo.h.
 */
#include "sysinfo.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "node.h"
#include "util.h"

static void volume_path(const struct node *n, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/volume", n->cfg.state_dir);
}

/*
 * A damaged volume file must not silence a loudspeaker: it falls back to
 * full volume (100) with a warning, never to 0.
 */
int sysinfo_init(struct node *n)
{
	struct node_sysinfo *si = &n->sys;
	char path[PATH_MAX + 16];
	uint8_t *buf = NULL;
	size_t len;
	char *end;
	long v;
	int rc;

	memset(si, 0, sizeof(*si));
	si->fd = -1;
	si->volume = 100;
	volume_path(n, path, sizeof(path));
	rc = read_file(path, 32, &buf, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0) {
		log_warnx("cannot read the master volume %s (%s): using 100", path,
			  strerror(-rc));
		return 0;
	}
	errno = 0;
	v = strtol((char *)buf, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == (char *)buf || *end || v < 0 || v > 100)
		log_warnx("the master volume %s is damaged: using 100", path);
	else
		si->volume = (int)v;
	free(buf);
	return 0;
}

static void kill_cmd(struct node_sysinfo *si)
{
	if (si->fd >= 0) {
		close(si->fd);
		si->fd = -1;
	}
	if (si->pid > 0) {
		kill(si->pid, SIGKILL);
		while (waitpid(si->pid, NULL, 0) < 0 && errno == EINTR)
			;
		si->pid = 0;
	}
}

void sysinfo_free(struct node *n)
{
	kill_cmd(&n->sys);
	json_decref(n->sys.facts);
	n->sys.facts = NULL;
}

int sysinfo_set_volume(struct node *n, int volume)
{
	char path[PATH_MAX + 16], text[16];
	int rc;

	if (volume < 0 || volume > 100)
		return -EINVAL;
	volume_path(n, path, sizeof(path));
	snprintf(text, sizeof(text), "%d\n", volume);
	rc = write_file_atomic(path, text, strlen(text), 0640);
	if (rc < 0) {
		log_warnx("cannot store the master volume in %s: %s", path, strerror(-rc));
		return rc;
	}
	n->sys.volume = volume;
	return 0;
}

int sysinfo_effective_volume(const struct node *n, int v)
{
	return v * n->sys.volume / 100;
}

int sysinfo_signal_value(const char *text, double *out)
{
	char *end;
	double v;

	while (*text == ' ' || *text == '\t')
		text++;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Keep the first line, printable, trimmed: it goes into JSON and logs. */
static void set_signal(struct node_sysinfo *si, const char *text, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && text[i] != '\n' && o + 1 < sizeof(si->signal); i++) {
		unsigned char ch = (unsigned char)text[i];

		if (ch == '\r')
			continue;
		si->signal[o++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	while (o > 0 && si->signal[o - 1] == ' ')
		o--;
	si->signal[o] = '\0';
	si->signal_at = now_ms();
}

static void read_signal_file(struct node *n)
{
	struct node_sysinfo *si = &n->sys;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = read_file(n->cfg.health.signal_file, 4096, &buf, &len);

	if (rc < 0) {
		if (si->signal[0] || !si->signal_at)
			log_warnx("health.signal_file %s: %s", n->cfg.health.signal_file,
				  strerror(-rc));
		si->signal[0] = '\0';
		si->signal_at = now_ms();
		return;
	}
	set_signal(si, (const char *)buf, len);
	free(buf);
}

/*
 * Start health.signal_cmd with stdout on a non-blocking pipe. Descriptors
 * above stderr are closed in the child (the MQTT sockets and the sound
 * device must not stay open in a modem tool).
 */
static int start_cmd(struct node *n)
{
	struct node_sysinfo *si = &n->sys;
	char sh[] = "/bin/sh", opt[] = "-c";
	char *argv[] = { sh, opt, n->cfg.health.signal_cmd, NULL };
	pid_t pid;
	int fd, rc;

	rc = spawn_stdout(argv, &pid, &fd);
	if (rc < 0)
		return rc;
	si->pid = pid;
	si->fd = fd;
	si->len = 0;
	si->started_mono = mono_ms();
	return 0;
}

static void finish_cmd(struct node *n)
{
	struct node_sysinfo *si = &n->sys;
	int status = 0;
	pid_t r;

	if (si->fd >= 0) {
		close(si->fd);
		si->fd = -1;
	}
	r = si->pid > 0 ? waitpid(si->pid, &status, WNOHANG) : 0;
	if (r == 0 && si->pid > 0)
		return; /* stdout closed but still running: reaped by the tick */
	si->pid = 0;
	if (r > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		log_warnx("health.signal_cmd exited with %s %d (output used anyway: \"%.*s\")",
			  WIFEXITED(status) ? "status" : "signal",
			  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			  (int)si->len, si->buf);
	set_signal(si, si->buf, si->len);
}

/* The event loop's source (loop.h): 0 or 1 descriptor, the signal
 * command's stdout. */
static int loop_fill(struct loop *l, struct pollfd *pfd, int max, void *arg)
{
	struct node *n = arg;

	(void)l;
	if (n->sys.fd < 0 || max < 1)
		return 0;
	pfd->fd = n->sys.fd;
	pfd->events = POLLIN;
	pfd->revents = 0;
	return 1;
}

static void loop_handle(struct loop *l, struct pollfd *pfd, int npfd, void *arg)
{
	struct node *n = arg;
	struct node_sysinfo *si = &n->sys;

	(void)l;
	if (npfd < 1 || si->fd < 0 || !(pfd->revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	for (;;) {
		char tmp[256];
		ssize_t r = read(si->fd, tmp, sizeof(tmp));

		if (r > 0) {
			size_t room = sizeof(si->buf) - 1 - si->len, k = (size_t)r;

			if (k > room)
				k = room; /* only the first line matters */
			memcpy(si->buf + si->len, tmp, k);
			si->len += k;
			continue;
		}
		if (r == 0) {
			finish_cmd(n);
			status_dirty(n);
		} else if (errno == EINTR) {
			continue;
		}
		return;
	}
}

void sysinfo_tick(struct node *n, int64_t mono)
{
	struct node_sysinfo *si = &n->sys;
	int64_t every = (int64_t)n->cfg.status_interval_s * 1000;

	if (si->pid > 0) {
		if (si->fd < 0 && waitpid(si->pid, NULL, WNOHANG) == si->pid) {
			si->pid = 0;
		} else if (mono - si->started_mono >= SYSINFO_CMD_TIMEOUT_MS) {
			log_warnx("health.signal_cmd did not finish within %d s: killed",
				  SYSINFO_CMD_TIMEOUT_MS / 1000);
			kill_cmd(si);
			si->signal[0] = '\0';
			si->signal_at = now_ms();
		}
		return;
	}
	if (mono < si->next_run_mono)
		return;
	si->next_run_mono = mono + every;
	if (n->cfg.health.signal_file[0]) {
		read_signal_file(n);
	} else if (n->cfg.health.signal_cmd[0]) {
		int rc = start_cmd(n);

		if (rc < 0)
			log_warnx("cannot run health.signal_cmd: %s", strerror(-rc));
	}
}

int64_t sysinfo_next_deadline(const struct node *n)
{
	const struct node_sysinfo *si = &n->sys;

	if (si->pid > 0)
		return si->fd >= 0 ? si->started_mono + SYSINFO_CMD_TIMEOUT_MS
				   : mono_ms() + 100; /* closed stdout: reap soon */
	if (!n->cfg.health.signal_cmd[0] && !n->cfg.health.signal_file[0])
		return INT64_MAX;
	return si->next_run_mono;
}

int sysinfo_default_iface(const char *text, char *out, size_t outlen)
{
	const char *line = strchr(text, '\n'); /* skip the header */

	while (line && *line) {
		char iface[IF_NAMESIZE + 1];
		unsigned long dest, flags;

		line++;
		if (sscanf(line, "%16s %lx %*x %lx", iface, &dest, &flags) == 3 &&
		    dest == 0 && (flags & 1 /* RTF_UP */)) {
			snprintf(out, outlen, "%s", iface);
			return 0;
		}
		line = strchr(line, '\n');
	}
	return -ENOENT;
}

/* The configured interface, the default route's, or the first one up. */
static void net_json(struct node *n, json_t *status)
{
	char iface[IF_NAMESIZE + 1] = "", ip[INET6_ADDRSTRLEN] = "";
	struct ifaddrs *ifa = NULL, *i;
	uint8_t *route = NULL;
	size_t len;
	int pass;

	if (n->cfg.health.interface[0]) {
		snprintf(iface, sizeof(iface), "%s", n->cfg.health.interface);
	} else if (read_file("/proc/net/route", 1 << 16, &route, &len) == 0) {
		sysinfo_default_iface((const char *)route, iface, sizeof(iface));
		free(route);
	}
	if (getifaddrs(&ifa) == 0) {
		/* IPv4 first, then IPv6; without a named interface the first non-loopback */
		for (pass = 0; pass < 2 && !ip[0]; pass++) {
			int fam = pass == 0 ? AF_INET : AF_INET6;

			for (i = ifa; i && !ip[0]; i = i->ifa_next) {
				if (!i->ifa_addr || i->ifa_addr->sa_family != fam ||
				    !(i->ifa_flags & IFF_UP))
					continue;
				if (iface[0] ? strcmp(iface, i->ifa_name) != 0
					     : (i->ifa_flags & IFF_LOOPBACK) != 0)
					continue;
				if (fam == AF_INET)
					inet_ntop(fam,
						  &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
						  ip, sizeof(ip));
				else
					inet_ntop(fam,
						  &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr,
						  ip, sizeof(ip));
				if (!iface[0])
					snprintf(iface, sizeof(iface), "%s", i->ifa_name);
			}
		}
		freeifaddrs(ifa);
	}
	json_object_set_new(status, "net",
			    json_pack("{s:o, s:o}", "interface",
				      iface[0] ? json_string(iface) : json_null(), "ip",
				      ip[0] ? json_string(ip) : json_null()));
}

static void link_json(struct node *n, json_t *status)
{
	const struct node_sysinfo *si = &n->sys;
	const char *source = n->cfg.health.signal_file[0] ? "file"
			     : n->cfg.health.signal_cmd[0] ? "cmd" : "none";
	double v;
	json_t *o = json_pack("{s:s}", "source", source);

	if (!o)
		return;
	json_object_set_new(o, "signal", si->signal[0] ? json_string(si->signal) : json_null());
	json_object_set_new(o, "value", si->signal[0] && sysinfo_signal_value(si->signal, &v) == 0
					? json_real(v) : json_null());
	json_object_set_new(o, "at", si->signal_at ? json_integer(si->signal_at) : json_null());
	json_object_set_new(status, "link", o);
}

static void disk_json(struct node *n, json_t *status)
{
	struct statvfs sv;

	if (statvfs(n->cfg.state_dir, &sv) < 0) {
		json_object_set_new(status, "disk", json_null());
		return;
	}
	json_object_set_new(status, "disk",
			    json_pack("{s:I, s:I}", "free_bytes",
				      (json_int_t)((uint64_t)sv.f_bavail * sv.f_frsize),
				      "total_bytes",
				      (json_int_t)((uint64_t)sv.f_blocks * sv.f_frsize)));
}

/*
 * /sys/class/thermal/thermal_zone* /temp in millidegrees. A zone whose type
 * names the CPU or SoC wins; else the first readable one.
 */
static void temperature_json(json_t *status)
{
	DIR *d = opendir("/sys/class/thermal");
	struct dirent *de;
	double best = NAN;
	int best_is_cpu = 0;

	while (d && (de = readdir(d))) {
		char path[300];
		uint8_t *buf = NULL;
		size_t len;
		long mdeg;
		char *end;
		int cpu = 0;

		if (strncmp(de->d_name, "thermal_zone", 12) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/class/thermal/%s/type", de->d_name);
		if (read_file(path, 128, &buf, &len) == 0) {
			cpu = strstr((char *)buf, "cpu") || strstr((char *)buf, "soc") ||
			      strstr((char *)buf, "x86_pkg");
			free(buf);
			buf = NULL;
		}
		snprintf(path, sizeof(path), "/sys/class/thermal/%s/temp", de->d_name);
		if (read_file(path, 64, &buf, &len) < 0)
			continue;
		errno = 0;
		mdeg = strtol((char *)buf, &end, 10);
		free(buf);
		if (errno || end == NULL)
			continue;
		if (isnan(best) || (cpu && !best_is_cpu)) {
			best = (double)mdeg / 1000.0;
			best_is_cpu = cpu;
		}
	}
	if (d)
		closedir(d);
	json_object_set_new(status, "temperature_c", isnan(best) ? json_null()
								   : json_real(best));
}

void sysinfo_add_json(struct node *n, json_t *status)
{
	struct node_sysinfo *si = &n->sys;
	int64_t mono = mono_ms();

	if (!si->facts || mono - si->facts_mono >= (int64_t)n->cfg.status_interval_s * 1000) {
		json_t *f = json_object();

		if (f) {
			net_json(n, f);
			disk_json(n, f);
			temperature_json(f);
			json_decref(si->facts);
			si->facts = f;
			si->facts_mono = mono;
		}
	}
	if (si->facts)
		json_object_update(status, si->facts);
	link_json(n, status);
}

/* ---- the event loop (loop.h): main.c registers this module ---- */

static void loop_tick(struct loop *l, int64_t mono, void *arg)
{
	(void)l;
	sysinfo_tick(arg, mono);
}

static int64_t loop_deadline(void *arg)
{
	return sysinfo_next_deadline(arg);
}

/* This module's part of the status (status.h). */
static void status_part(struct node *n, json_t *status)
{
	sysinfo_add_json(n, status);
}

int sysinfo_register(struct loop *l, struct node *n)
{
	int rc = loop_source_add(l, loop_fill, loop_handle, n);

	if (rc >= 0)
		rc = status_provider_add(n, status_part);
	if (rc < 0)
		return rc;
	rc = loop_tick_add(l, "sysinfo", loop_tick, loop_deadline, n);
	return rc < 0 ? rc : 0;
}
