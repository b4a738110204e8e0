/*
 * pcmstore.c - see pcmstore.h.
 */
#include "pcmstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define SPILL_BUF_SAMPLES 65536 /* 256 KiB write/read blocks once spilled */

void pcm_store_init(struct pcm_store *s, const char *dir, uint64_t spill_after)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->spill_after = spill_after;
	snprintf(s->dir, sizeof(s->dir), "%s", dir && dir[0] ? dir : ".");
}

void pcm_store_free(struct pcm_store *s)
{
	free(s->mem);
	free(s->rbuf);
	if (s->fd >= 0)
		close(s->fd);
	s->mem = s->rbuf = NULL;
	s->fd = -1;
	s->len = s->cap = s->rcap = 0;
}

/*
 * An unnamed file: O_TMPFILE where the file system has it, else a named one
 * unlinked at once. Either way the kernel frees it when we close it or die.
 */
static int open_spill(const char *dir)
{
	char path[4200];
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/.loaxa-pcm.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

static int spill(struct pcm_store *s)
{
	float *p;
	int fd, rc;

	fd = open_spill(s->dir);
	if (fd < 0)
		return fd;
	rc = write_all(fd, s->mem, s->len * sizeof(float));
	if (rc < 0) {
		close(fd);
		return rc;
	}
	s->fd = fd;
	s->len = 0;
	p = realloc(s->mem, SPILL_BUF_SAMPLES * sizeof(float));
	if (p) {
		s->mem = p;
		s->cap = SPILL_BUF_SAMPLES;
	}
	return 0;
}

static int flush_spill(struct pcm_store *s)
{
	int rc = write_all(s->fd, s->mem, s->len * sizeof(float));

	s->len = 0;
	return rc;
}

void pcm_store_reserve(struct pcm_store *s, uint64_t n)
{
	float *p;

	if (s->fd >= 0 || n <= s->cap || n > s->spill_after)
		return;
	p = realloc(s->mem, (size_t)n * sizeof(float));
	if (p) {
		s->mem = p;
		s->cap = (size_t)n;
	}
}

int pcm_store_append(struct pcm_store *s, const float *x, size_t n)
{
	int rc;

	if (s->fd < 0 && s->total + n > s->spill_after) {
		rc = spill(s);
		if (rc < 0)
			return rc;
	}
	if (s->fd >= 0) {
		while (n > 0) {
			size_t k = s->cap - s->len < n ? s->cap - s->len : n;
			memcpy(s->mem + s->len, x, k * sizeof(float));
			s->len += k;
			s->total += k;
			x += k;
			n -= k;
			if (s->len == s->cap && (rc = flush_spill(s)) < 0)
				return rc;
		}
		return 0;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 48000 * 10;
		float *p;

		while (cap < s->len + n)
			cap *= 2;
		p = realloc(s->mem, cap * sizeof(float));
		if (!p)
			return -ENOMEM;
		s->mem = p;
		s->cap = cap;
	}
	memcpy(s->mem + s->len, x, n * sizeof(float));
	s->len += n;
	s->total += n;
	return 0;
}

int pcm_store_finish(struct pcm_store *s)
{
	int rc;

	if (s->fd >= 0) {
		rc = flush_spill(s);
		if (rc < 0)
			return rc;
		free(s->mem);
		s->mem = NULL;
		s->cap = 0;
	}
	pcm_store_rewind(s);
	return 0;
}

void pcm_store_rewind(struct pcm_store *s)
{
	s->read_pos = 0;
}

int pcm_store_read(struct pcm_store *s, const float **x, size_t max, size_t *n)
{
	uint64_t left = s->total - s->read_pos;
	size_t k = left < max ? (size_t)left : max;

	*x = NULL;
	*n = 0;
	if (k == 0)
		return 0;
	if (s->fd < 0) {
		*x = s->mem + s->read_pos;
	} else {
		size_t bytes = k * sizeof(float), got = 0;
		off_t off = (off_t)(s->read_pos * sizeof(float));

		if (k > s->rcap) {
			float *p = realloc(s->rbuf, bytes);
			if (!p)
				return -ENOMEM;
			s->rbuf = p;
			s->rcap = k;
		}
		while (got < bytes) {
			ssize_t r = pread(s->fd, (char *)s->rbuf + got, bytes - got,
					  off + (off_t)got);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			if (r == 0)
				return -EIO; /* the temp file shrank: cannot happen */
			got += (size_t)r;
		}
		*x = s->rbuf;
	}
	s->read_pos += k;
	*n = k;
	return 0;
}

int pcm_store_read_at(struct pcm_store *s, uint64_t pos, float *out, size_t n)
{
	size_t bytes = n * sizeof(float), got = 0;

	if (pos > s->total || n > s->total - pos)
		return -EINVAL;
	if (s->fd < 0) {
		memcpy(out, s->mem + pos, bytes);
		return 0;
	}
	while (got < bytes) {
		ssize_t r = pread(s->fd, (char *)out + got, bytes - got,
				  (off_t)(pos * sizeof(float) + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}
