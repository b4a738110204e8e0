/*
 * sse.c - see sse.h.
 */
#include "sse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sse_init(struct sse_ring *r, uint64_t first)
{
	memset(r, 0, sizeof(*r));
	r->first = r->next = first ? first : 1;
}

void sse_free(struct sse_ring *r)
{
	size_t i;

	for (i = 0; i < SSE_RING; i++)
		free(r->ev[i].text);
	sse_init(r, r->next);
}

int sse_push(struct sse_ring *r, const char *kind, const char *node, const char *text)
{
	struct sse_event *e;
	size_t tl = strlen(text);
	char *copy;

	if (strlen(kind) >= SSE_KIND_MAX || strlen(node) >= SSE_NODE_MAX || tl > SSE_TEXT_MAX ||
	    strpbrk(text, "\r\n") || strpbrk(kind, "\r\n"))
		return -EINVAL;
	copy = malloc(tl + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, tl + 1);
	e = &r->ev[r->next % SSE_RING];
	free(e->text);
	e->text = copy;
	e->seq = r->next++;
	snprintf(e->kind, sizeof(e->kind), "%s", kind);
	snprintf(e->node, sizeof(e->node), "%s", node);
	return 0;
}

uint64_t sse_last(const struct sse_ring *r)
{
	return r->next - 1;
}

const struct sse_event *sse_next(const struct sse_ring *r, uint64_t seq, int *lost)
{
	uint64_t oldest = r->next - r->first > SSE_RING ? r->next - SSE_RING : r->first;
	uint64_t want = seq + 1;

	*lost = 0;
	if (want >= r->next)
		return NULL;
	if (want < oldest) {
		*lost = 1;
		want = oldest;
	}
	return &r->ev[want % SSE_RING];
}

size_t sse_format(const struct sse_event *e, char *buf, size_t len)
{
	int n = snprintf(buf, len, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", e->seq, e->kind,
			 e->text);

	return n < 0 || (size_t)n >= len ? 0 : (size_t)n;
}

uint64_t sse_parse_last_id(const char *s)
{
	uint64_t v = 0;
	size_t i;

	if (!s || !s[0] || strlen(s) > 19)
		return 0;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v;
}
