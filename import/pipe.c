/*
 * pipe.c - see pipe.h.
 */
#include "pipe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pipe_init(struct pipe *p, size_t nslots, size_t slot_bytes)
{
	memset(p, 0, sizeof(*p));
	p->slots = malloc(nslots * slot_bytes);
	p->lens = calloc(nslots, sizeof(*p->lens));
	if (!p->slots || !p->lens)
		goto fail;
	if (pthread_mutex_init(&p->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&p->not_empty, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		goto fail;
	}
	if (pthread_cond_init(&p->not_full, NULL) != 0) {
		pthread_cond_destroy(&p->not_empty);
		pthread_mutex_destroy(&p->mu);
		goto fail;
	}
	p->nslots = nslots;
	p->slot_bytes = slot_bytes;
	return 0;
fail:
	free(p->slots);
	free(p->lens);
	p->slots = NULL;
	p->lens = NULL;
	return -ENOMEM;
}

void pipe_destroy(struct pipe *p)
{
	if (!p->slots)
		return;
	pthread_cond_destroy(&p->not_full);
	pthread_cond_destroy(&p->not_empty);
	pthread_mutex_destroy(&p->mu);
	free(p->slots);
	free(p->lens);
	p->slots = NULL;
	p->lens = NULL;
}

int pipe_put(struct pipe *p, const void *data, size_t len)
{
	size_t i;

	if (len > p->slot_bytes)
		return -EMSGSIZE;
	pthread_mutex_lock(&p->mu);
	while (p->count == p->nslots && !p->aborted)
		pthread_cond_wait(&p->not_full, &p->mu);
	if (p->aborted) {
		pthread_mutex_unlock(&p->mu);
		return -EPIPE;
	}
	i = (p->head + p->count) % p->nslots;
	memcpy(p->slots + i * p->slot_bytes, data, len);
	p->lens[i] = len;
	p->count++;
	/* the consumer sleeps until half the slots are full: one wake-up per
	 * half a queue, not per block (a block is less work than a switch) */
	if (p->count >= (p->nslots + 1) / 2)
		pthread_cond_signal(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int pipe_get(struct pipe *p, void *out, size_t cap, size_t *len)
{
	size_t n;

	*len = 0;
	pthread_mutex_lock(&p->mu);
	while (p->count == 0 && !p->closed && !p->aborted)
		pthread_cond_wait(&p->not_empty, &p->mu);
	if (p->aborted) {
		pthread_mutex_unlock(&p->mu);
		return -EPIPE;
	}
	if (p->count == 0) {
		pthread_mutex_unlock(&p->mu);
		return 0;
	}
	n = p->lens[p->head];
	if (n > cap)
		n = cap;
	memcpy(out, p->slots + p->head * p->slot_bytes, n);
	p->head = (p->head + 1) % p->nslots;
	p->count--;
	/* likewise the producer, until half the slots are free */
	if (p->count <= p->nslots / 2)
		pthread_cond_signal(&p->not_full);
	pthread_mutex_unlock(&p->mu);
	*len = n;
	return 1;
}

void pipe_close(struct pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->closed = 1;
	pthread_cond_broadcast(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
}

void pipe_abort(struct pipe *p)
{
	pthread_mutex_lock(&p->mu);
	p->aborted = 1;
	pthread_cond_broadcast(&p->not_empty);
	pthread_cond_broadcast(&p->not_full);
	pthread_mutex_unlock(&p->mu);
}
