/*
 * jitter.c - see jitter.h.
 */
#include "jitter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int jitter_init(struct jitter *j)
{
	memset(j, 0, sizeof(*j));
	j->slots = calloc(JITTER_SLOTS, sizeof(*j->slots));
	return j->slots ? 0 : -ENOMEM;
}

void jitter_free(struct jitter *j)
{
	free(j->slots);
	memset(j, 0, sizeof(*j));
}

void jitter_reset(struct jitter *j, uint32_t floor)
{
	size_t i;

	for (i = 0; i < JITTER_SLOTS; i++)
		j->slots[i].used = 0;
	j->floor = floor;
	j->stored = j->late = j->dups = j->too_far = 0;
}

enum jitter_put_result jitter_put(struct jitter *j, uint32_t seq, const uint8_t *data,
				  size_t len)
{
	struct jitter_slot *s;

	/* sequence numbers of a session grow from 0: a plain comparison is enough */
	if (seq < j->floor) {
		j->late++;
		return JITTER_LATE;
	}
	if (seq - j->floor >= JITTER_SLOTS) {
		j->too_far++;
		return JITTER_TOO_FAR;
	}
	s = &j->slots[seq % JITTER_SLOTS];
	if (s->used && s->seq == seq) {
		j->dups++;
		return JITTER_DUP;
	}
	if (len > sizeof(s->data))
		len = sizeof(s->data);
	s->seq = seq;
	s->used = 1;
	s->len = (uint16_t)len;
	memcpy(s->data, data, len);
	j->stored++;
	return JITTER_STORED;
}

const struct jitter_slot *jitter_get(const struct jitter *j, uint32_t seq)
{
	const struct jitter_slot *s;

	if (seq < j->floor || seq - j->floor >= JITTER_SLOTS)
		return NULL;
	s = &j->slots[seq % JITTER_SLOTS];
	return s->used && s->seq == seq ? s : NULL;
}

void jitter_release_before(struct jitter *j, uint32_t seq)
{
	while (j->floor < seq) {
		struct jitter_slot *s = &j->slots[j->floor % JITTER_SLOTS];

		if (s->seq == j->floor)
			s->used = 0;
		j->floor++;
		if (seq - j->floor > JITTER_SLOTS) /* a big jump: clear all at once */
			j->floor = seq - JITTER_SLOTS;
	}
}
