/*
 * schedfile.c - see schedfile.h.
 */
#include "schedfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "util.h"

void sched_file_too_big(char *err, size_t errlen, const char *display, long long size,
			long long max)
{
	snprintf(err, errlen, "%s: the file is %lld bytes, over the limit of %lld bytes for "
		 "a schedule file (schedule.max_file_bytes in controller.cfg): split it into "
		 "several files", display, size, max);
}

int sched_file_read(const char *path, const char *display, int64_t max, char **out,
		    size_t *len, char *err, size_t errlen)
{
	size_t limit = (size_t)max, cap, got = 0;
	struct stat st;
	char *buf = NULL, *nb;
	int fd, rc = 0;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot read the file: %s", display, strerror(-rc));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		snprintf(err, errlen, "%s: cannot read the file: it is a directory", display);
		goto out;
	}
	if (st.st_size > max) {
		rc = -EFBIG;
		sched_file_too_big(err, errlen, display, (long long)st.st_size, (long long)max);
		goto out;
	}
	/*
	 * Its size now and a byte more (a file that grew is seen), not the
	 * limit: a 1 KiB file does not cost a 64 MiB buffer. It grows up to
	 * limit + 1 bytes, which is enough to know it is over.
	 */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap + 1);
	if (!buf)
		goto no_mem;
	for (;;) {
		ssize_t k;

		if (got == cap) {
			if (cap > limit)
				break;
			cap = cap > (limit + 1) / 2 ? limit + 1 : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb)
				goto no_mem;
			buf = nb;
		}
		k = read(fd, buf + got, cap - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: cannot read the file: %s", display,
				 strerror(-rc));
			goto out;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got > limit) {
		rc = -EFBIG; /* it grew: "more than" is what we know */
		sched_file_too_big(err, errlen, display, (long long)got, (long long)max);
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	goto out;
no_mem:
	rc = -ENOMEM;
	snprintf(err, errlen, "%s: out of memory reading the file", display);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

size_t sched_text_bom(const char *text, size_t len)
{
	return len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

int sched_text_nul_line(const char *text, size_t len)
{
	const char *nul = memchr(text, '\0', len);
	int line = 1;

	if (!nul)
		return 0;
	for (; text < nul; text++)
		line += *text == '\n';
	return line;
}

int sched_text_include_line(const char *text, size_t len)
{
	size_t i = 0;
	int line = 1;

	while (i < len) {
		while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' ||
				   text[i] == '\f' || text[i] == '\v'))
			i++;
		if (i < len && text[i] == '@')
			return line;
		while (i < len && text[i] != '\n')
			i++;
		if (i < len) {
			i++;
			line++;
		}
	}
	return 0;
}

/* {"error": kind[, key: detail]}; without the detail when it is not UTF-8 */
static json_t *failed(const char *kind, const char *key, const char *detail)
{
	json_t *e = json_pack("{s:s}", "error", kind);

	if (e && key && detail)
		json_object_set_new(e, key, json_string(detail)); /* NULL: not set */
	return e;
}

/* What the operator's machine says about one audio file (schedfile.h). */
static json_t *describe(const char *value, const char *dir, json_t *paths)
{
	char path[PATH_MAX], hash[CONTENT_ID_LEN + 1];
	struct stat st;
	int fd, rc;

	if ((size_t)snprintf(path, sizeof(path), "%s%s%s", value[0] == '/' ? "" : dir,
			     value[0] == '/' ? "" : "/", value) >= sizeof(path))
		return failed("unreadable", "detail", "the path is too long");
	if (stat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return failed("missing", "looked_for", path);
		return failed("unreadable", "detail", strerror(errno));
	}
	if (!S_ISREG(st.st_mode))
		return failed("not_a_file", NULL, NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return failed("unreadable", "detail", strerror(errno));
	close(fd);
	rc = sha256_file_hex(path, hash);
	if (rc < 0)
		return failed("unreadable", "detail", strerror(-rc));
	if (paths && !json_object_get(paths, hash))
		json_object_set_new(paths, hash, json_string(path));
	return json_pack("{s:s}", "sha256", hash);
}

json_t *sched_audio_refs(const char *text, size_t len)
{
	json_t *refs = json_object();
	config_setting_t *items, *it, *s;
	config_t cfg;
	FILE *mem;
	unsigned i, n;
	size_t bom;
	int ok;

	if (!refs)
		return NULL;
	bom = sched_text_bom(text, len);
	text += bom;
	len -= bom;
	if (len == 0 || sched_text_include_line(text, len) || memchr(text, '\0', len))
		return refs;
	config_init(&cfg);
	mem = fmemopen((void *)text, len, "r");
	ok = mem && config_read(&cfg, mem) == CONFIG_TRUE;
	if (mem)
		fclose(mem);
	items = ok ? config_lookup(&cfg, "items") : NULL;
	n = items && config_setting_type(items) == CONFIG_TYPE_LIST
		? (unsigned)config_setting_length(items) : 0;
	for (i = 0; i < n; i++) {
		it = config_setting_get_elem(items, i);
		if (!it || config_setting_type(it) != CONFIG_TYPE_GROUP)
			continue;
		/* a relay has no audio file; the controller reports a mix */
		s = config_setting_get_member(it, "content");
		if (s && config_setting_type(s) == CONFIG_TYPE_STRING &&
		    config_setting_get_string(s)[0] &&
		    !content_id_valid(config_setting_get_string(s)))
			json_object_set_new(refs, config_setting_get_string(s), json_null());
		s = config_setting_get_member(it, "chime");
		if (s && config_setting_type(s) == CONFIG_TYPE_STRING &&
		    config_setting_get_string(s)[0])
			json_object_set_new(refs, config_setting_get_string(s), json_null());
	}
	config_destroy(&cfg);
	return refs;
}

json_t *sched_audio_map(const char *text, size_t len, const char *dir, json_t *paths)
{
	json_t *refs = sched_audio_refs(text, len), *map = json_object(), *v, *e;
	const char *k;

	if (!refs || !map)
		goto nomem;
	json_object_foreach(refs, k, v) {
		e = describe(k, dir, paths);
		if (!e)
			goto nomem;
		json_object_set_new(map, k, e);
	}
	json_decref(refs);
	return map;
nomem:
	json_decref(refs);
	json_decref(map);
	return NULL;
}
