/*
 * sysinfo.h - facts about the machine a node runs on, for its status.
 *
 * The status (status.c) says what the loudspeaker is doing; this module adds
 * what maintenance staff need to find out *why* a cluster is in trouble
 * before residents complain: which network interface and address it uses,
 * how good its link is, how hot the board is, how full its disk is, and the
 * master volume set remotely (`loaxa node volume`).
 *
 * Link quality has no portable source (a 4G modem, a Wi-Fi card, a serial
 * radio...), so the operator names one in node.cfg: health.signal_cmd is run
 * through /bin/sh -c at every heartbeat, in a child process whose stdout is
 * read from the node's poll loop (never waited for: a hung modem tool cannot
 * stall playing; it is killed after SYSINFO_CMD_TIMEOUT_MS), or
 * health.signal_file is read. The first line is the value; when it starts
 * with a number, that number is also given as "value".
 *
 * The master volume (0-100) multiplies every play's own volume. It lives in
 * <state_dir>/volume (written atomically), so it survives restarts.
 */
#ifndef LOAXA_NODE_SYSINFO_H
#define LOAXA_NODE_SYSINFO_H

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define SYSINFO_CMD_TIMEOUT_MS 5000

struct node;

struct node_sysinfo {
	char signal[64];        /* first line of the source, "" = unknown */
	int64_t signal_at;      /* wall clock ms of that reading, 0 = never */
	/* the running health.signal_cmd, if any */
	pid_t pid;
	int fd;                 /* its stdout, -1 when closed */
	char buf[256];
	size_t len;
	int64_t started_mono;
	int64_t next_run_mono;
	int volume;             /* master volume 0-100 */
	/* net, disk, temperature: read at most once per heartbeat (cheap, but
	 * the status goes out on every change, e.g. during a live session) */
	json_t *facts;
	int64_t facts_mono;
};

/* Read the stored master volume; no child runs yet. */
int sysinfo_init(struct node *n);
/* Kill a running signal command and reap it. */
void sysinfo_free(struct node *n);

/* Set and store the master volume (0-100). Returns 0 or -errno. */
int sysinfo_set_volume(struct node *n, int volume);
/* The volume a play of item volume v gets: v * master / 100. */
int sysinfo_effective_volume(const struct node *n, int v);

/* Its tick and next deadline (registered by sysinfo_register). */
void sysinfo_tick(struct node *n, int64_t mono);
int64_t sysinfo_next_deadline(const struct node *n);
/* Registers this module's descriptors and tick with the event loop (main.c). */
struct loop;
int sysinfo_register(struct loop *l, struct node *n);

/*
 * Add "net", "link", "disk", "temperature_c" to a status object (see
 * docs/protocol.md). Never fails the status: what cannot be read is null.
 */
void sysinfo_add_json(struct node *n, json_t *status);

/* Helpers exposed for unit tests. */
/* Interface of the default route in a /proc/net/route text, or -ENOENT. */
int sysinfo_default_iface(const char *route_text, char *out, size_t outlen);
/* The leading number of a signal reading ("-67 dBm" -> -67), or -EINVAL. */
int sysinfo_signal_value(const char *text, double *out);

#endif
