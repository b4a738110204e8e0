/*
 * cache.h - content on the node's disk: <state_dir>/cache/<sha256>.opus.
 *
 * A file appears there only complete and checked (fetch.c writes
 * <sha256>.part, checks the SHA-256 of the whole file, then renames), so
 * whatever has the .opus name can be played. Transfers in progress keep
 * <sha256>.part and <sha256>.partinfo (chunk size, count, total) next to it.
 *
 * The cache is bounded by cache_max_mb: after a new file arrives, the least
 * recently used files (mtime, touched on every play) are removed until the
 * total fits, never one that is queued or playing or that an item of the
 * plan still to play needs (plan_or_queue_uses).
 */
#ifndef LOAXA_NODE_CACHE_H
#define LOAXA_NODE_CACHE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct node;

struct cache {
	char dir[PATH_MAX];
	uint64_t items;
	uint64_t bytes;
	uint64_t max_bytes;
};

/* Create the directory, drop leftovers of interrupted writes, count what is there. */
int cache_init(struct cache *c, const char *state_dir, uint64_t max_bytes);

/* <dir>/<id><suffix> into out. */
int cache_path(const struct cache *c, const char *id, const char *suffix, char *out,
	       size_t outlen);

/* 1 when <id>.opus is present, 0 when not. */
int cache_has(const struct cache *c, const char *id);
/* Mark as recently used (before playing). */
void cache_touch(const struct cache *c, const char *id);

/* Recount items and bytes from the directory. */
void cache_rescan(struct cache *c);

/*
 * Make room: remove least recently used files not in use (in_use(arg, id)
 * returns 1 for queued or playing content) until bytes <= max_bytes.
 */
void cache_evict(struct cache *c, int (*in_use)(void *arg, const char *id), void *arg);

#endif
