/*
 * loginlimit.c - see loginlimit.h.
 */
#include "loginlimit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void ll_init(struct ll_table *t, int max, int64_t window_ms)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	t->window_ms = window_ms;
}

static int expired(const struct ll_table *t, const struct ll_entry *e, int64_t now)
{
	return e->count == 0 || now - e->start_ms >= t->window_ms;
}

/*
 * key's own entry, or with create a free slot for it (empty or its window
 * over), or else the overflow entry. Never evicts a live entry.
 */
static struct ll_entry *find(struct ll_table *t, const char *key, int64_t now, int create)
{
	struct ll_entry *free_slot = NULL;
	size_t i;

	for (i = 0; i < LL_SLOTS; i++) {
		struct ll_entry *e = &t->e[i];

		if (e->key[0] && expired(t, e, now))
			memset(e, 0, sizeof(*e));
		if (e->key[0] && strcmp(e->key, key) == 0)
			return e;
		if (!e->key[0] && !free_slot)
			free_slot = e;
	}
	if (!create)
		return NULL;
	if (free_slot) {
		snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
		free_slot->start_ms = now;
		return free_slot;
	}
	if (expired(t, &t->overflow, now))
		memset(&t->overflow, 0, sizeof(t->overflow));
	return &t->overflow;
}

int ll_charge(struct ll_table *t, const char *key, int64_t now, int64_t *retry_s,
	      int *shared)
{
	struct ll_entry *e = find(t, key, now, 1);

	if (shared)
		*shared = e == &t->overflow;
	if (e->count >= t->max) {
		if (retry_s)
			*retry_s = (e->start_ms + t->window_ms - now + 999) / 1000;
		return -EAGAIN;
	}
	if (e->count == 0)
		e->start_ms = now;
	e->count++;
	return 0;
}

void ll_refund(struct ll_table *t, const char *key, int shared, int64_t now)
{
	struct ll_entry *e = shared ? &t->overflow : find(t, key, now, 0);

	if (e && e->count > 0)
		e->count--;
	if (e && e != &t->overflow && e->count == 0)
		memset(e, 0, sizeof(*e));
}

void ll_forgive(struct ll_table *t, const char *key, int shared, int64_t now)
{
	struct ll_entry *e;

	if (shared) {
		ll_refund(t, key, shared, now);
		return;
	}
	e = find(t, key, now, 0);
	if (e)
		memset(e, 0, sizeof(*e));
}

int ll_count(struct ll_table *t, const char *key, int64_t now)
{
	struct ll_entry *e = find(t, key, now, 0);
	size_t i;

	if (e)
		return e->count;
	for (i = 0; i < LL_SLOTS; i++)
		if (!t->e[i].key[0])
			return 0; /* it would get a slot of its own */
	return expired(t, &t->overflow, now) ? 0 : t->overflow.count;
}
