/*
 * pipe.h - a bounded queue of byte blocks between two threads.
 *
 * The import pipeline runs as a chain: the encoder (the slow part, one
 * core) in the calling thread, the limiter feeding it from one thread and
 * the verification (decode + libebur128) fed by it in another, so on a
 * machine with two cores an import takes little longer than the encode
 * alone. Blocks are copied in and out: they are small (100 ms of audio)
 * next to the work done on them. A waiting side is woken when half the
 * queue is ready for it, not for every block: 180 s of audio made 32000
 * futex calls before. Closing or aborting wakes it at once.
 */
#ifndef LOAXA_IMPORT_PIPE_H
#define LOAXA_IMPORT_PIPE_H

#include <pthread.h>
#include <stddef.h>

struct pipe {
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	unsigned char *slots;
	size_t *lens;
	size_t nslots, slot_bytes, head, count;
	int closed;   /* the producer is done: get drains, then returns 0 */
	int aborted;  /* the consumer gave up: put returns -EPIPE */
};

int pipe_init(struct pipe *p, size_t nslots, size_t slot_bytes);
void pipe_destroy(struct pipe *p);
/* Blocks while full. -EPIPE once aborted, -EMSGSIZE when len > slot. */
int pipe_put(struct pipe *p, const void *data, size_t len);
/* Blocks while empty. 1 with a block, 0 when closed and drained, -EPIPE
 * once aborted. */
int pipe_get(struct pipe *p, void *out, size_t cap, size_t *len);
void pipe_close(struct pipe *p);
void pipe_abort(struct pipe *p);

#endif
