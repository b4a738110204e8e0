/*
 * util.h - small helpers shared by controller, node and CLI: atomic files,
 * hex, clocks, content hashes.
 *
 * All functions return 0 (or a length) on success and a negative errno value
 * on failure, and leave errno meaningful for log_warn().
 */
#ifndef LOAXA_UTIL_H
#define LOAXA_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wallclock.h" /* now_ms(), now_us(): the wall clock */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* SHA-256 as lowercase hex: the id of every piece of content. */
#define CONTENT_ID_LEN 64

/*
 * Write buf to path so that readers see the old file or the new one, never a
 * mix: write path.tmp.<pid>, fsync, rename over path, fsync the directory.
 */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);

/* Write all of buf to fd, retrying short writes and EINTR: 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/* Read a whole file of at most max bytes; *out is malloc'd and NUL-terminated. */
int read_file(const char *path, size_t max, uint8_t **out, size_t *len);

/*
 * Copy the file src to path (created or truncated, mode, fsync'd): 0 or
 * -errno. The caller writes to a temporary name and renames it, so that it
 * may do something between (the update installer's crash-test pause).
 */
int copy_file_synced(const char *src, const char *path, mode_t mode);

/*
 * Start argv[0] (an absolute path, no shell) with stdin and stderr on
 * /dev/null and stdout on a non-blocking pipe whose read end is *fd; every
 * other descriptor is closed in the child (the MQTT sockets and the sound
 * device must not stay open in a helper program). 0 or -errno.
 */
int spawn_stdout(char *const argv[], pid_t *pid, int *fd);

int mkdir_p(const char *path, mode_t mode);
int fsync_dir_of(const char *path);

void hex_encode(char *out, const uint8_t *in, size_t n); /* out: 2n+1 bytes */
int hex_decode(uint8_t *out, size_t n, const char *hex);  /* exactly 2n hex digits */

/* True when s is 64 lowercase hex digits. */
int content_id_valid(const char *s);
/* SHA-256 of a file as hex (out: 65 bytes). */
int sha256_file_hex(const char *path, char out[CONTENT_ID_LEN + 1]);

int64_t mono_ms(void); /* CLOCK_MONOTONIC, milliseconds */
int64_t mono_us(void);

/*
 * A secret (password) kept alone in a file: its first line, without the
 * line end. -ENODATA when empty, -ENAMETOOLONG when longer than outlen - 1.
 */
int read_secret_line(const char *path, char *out, size_t outlen);

/* Safe string copy; returns -ENAMETOOLONG when src does not fit. */
int str_copy(char *dst, size_t dstlen, const char *src);

/* Names: nodes, zones, sites: 1..31 of [a-z0-9_-], starting alnum. */
int name_valid(const char *s);

/*
 * Ids a peer chooses and that travel in payloads, logs and file names
 * (event ids "n1-7-12", occurrence ids "2026-12-07T05:30:item"): 1..maxlen
 * of [A-Za-z0-9-_.:]. The one check both daemons use.
 */
int token_valid(const char *s, size_t maxlen);

#endif
