/*
 * cache.c - see cache.h.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define CACHE_PART_MAX_AGE_S (7 * 24 * 3600)

int cache_path(const struct cache *c, const char *id, const char *suffix, char *out,
	       size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%s%s", c->dir, id, suffix) >= outlen)
		return -ENAMETOOLONG;
	return 0;
}

/* "<64 hex>.opus" -> 1 and the id in id_out (65 bytes). */
static int opus_name(const char *name, char *id_out)
{
	size_t len = strlen(name);

	if (len != CONTENT_ID_LEN + 5 || strcmp(name + CONTENT_ID_LEN, ".opus") != 0)
		return 0;
	memcpy(id_out, name, CONTENT_ID_LEN);
	id_out[CONTENT_ID_LEN] = '\0';
	return content_id_valid(id_out);
}

void cache_rescan(struct cache *c)
{
	DIR *d = opendir(c->dir);
	struct dirent *de;
	char id[CONTENT_ID_LEN + 1];

	c->items = c->bytes = 0;
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;

		if (!opus_name(de->d_name, id))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		c->items++;
		c->bytes += (uint64_t)st.st_size;
	}
	closedir(d);
}

int cache_init(struct cache *c, const char *state_dir, uint64_t max_bytes)
{
	DIR *d;
	struct dirent *de;
	int rc;

	memset(c, 0, sizeof(*c));
	c->max_bytes = max_bytes;
	if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s/cache", state_dir) >= sizeof(c->dir))
		return -ENAMETOOLONG;
	rc = mkdir_p(c->dir, 0750);
	if (rc < 0) {
		log_errorx("cannot create the content cache %s: %s", c->dir, strerror(-rc));
		return rc;
	}
	d = opendir(c->dir);
	if (!d) {
		rc = -errno;
		log_errorx("cannot read the content cache %s: %s", c->dir, strerror(errno));
		return rc;
	}
	while ((de = readdir(d))) {
		struct stat st;
		size_t len = strlen(de->d_name);

		/* temp files of write_file_atomic interrupted by a crash */
		if (strstr(de->d_name, ".tmp.") && unlinkat(dirfd(d), de->d_name, 0) == 0) {
			log_debug("removed %s/%s (left by an interrupted write)", c->dir,
				  de->d_name);
			continue;
		}
		/* transfers nobody resumed for a week */
		if (((len > 5 && strcmp(de->d_name + len - 5, ".part") == 0) ||
		     (len > 9 && strcmp(de->d_name + len - 9, ".partinfo") == 0)) &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0 &&
		    time(NULL) - st.st_mtime > CACHE_PART_MAX_AGE_S &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("removed %s/%s: an unfinished transfer untouched for a week",
				 c->dir, de->d_name);
	}
	closedir(d);
	cache_rescan(c);
	log_info("content cache %s: %llu file(s), %llu bytes (limit %llu MB)", c->dir,
		 (unsigned long long)c->items, (unsigned long long)c->bytes,
		 (unsigned long long)(max_bytes / (1024 * 1024)));
	return 0;
}

int cache_has(const struct cache *c, const char *id)
{
	char path[PATH_MAX + 80];
	struct stat st;

	if (cache_path(c, id, ".opus", path, sizeof(path)) < 0)
		return 0;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void cache_touch(const struct cache *c, const char *id)
{
	char path[PATH_MAX + 80];

	if (cache_path(c, id, ".opus", path, sizeof(path)) == 0)
		utimensat(AT_FDCWD, path, NULL, 0);
}

struct cache_entry {
	char id[CONTENT_ID_LEN + 1];
	int64_t mtime;
	uint64_t size;
};

static int cmp_mtime(const void *a, const void *b)
{
	const struct cache_entry *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

void cache_evict(struct cache *c, int (*in_use)(void *arg, const char *id), void *arg)
{
	struct cache_entry *e = NULL, *grown;
	size_t n = 0, cap = 0, i;
	DIR *d;
	struct dirent *de;

	cache_rescan(c);
	if (c->bytes <= c->max_bytes)
		return;
	d = opendir(c->dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		char id[CONTENT_ID_LEN + 1];

		if (!opus_name(de->d_name, id) ||
		    fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			grown = realloc(e, cap * sizeof(*e));
			if (!grown)
				break;
			e = grown;
		}
		memcpy(e[n].id, id, sizeof(id));
		e[n].mtime = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		e[n].size = (uint64_t)st.st_size;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(e, n, sizeof(*e), cmp_mtime);
	for (i = 0; i < n && c->bytes > c->max_bytes; i++) {
		char path[PATH_MAX + 80];

		if (in_use && in_use(arg, e[i].id))
			continue;
		if (cache_path(c, e[i].id, ".opus", path, sizeof(path)) < 0)
			continue;
		if (unlink(path) == 0) {
			log_info("removed content %s from the cache to stay under cache_max_mb "
				 "(%llu bytes, least recently used)", e[i].id,
				 (unsigned long long)e[i].size);
			c->bytes -= e[i].size;
			c->items--;
		}
	}
	if (c->bytes > c->max_bytes)
		log_warnx("the content cache holds %llu bytes, more than cache_max_mb, but "
			  "everything in it is queued, playing or needed by the plan",
			  (unsigned long long)c->bytes);
	free(e);
}
