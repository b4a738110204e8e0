/*
 * pwverify.c - see pwverify.h.
 */
#include "pwverify.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "auth.h"
#include "log.h"

enum job_state { JOB_FREE, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
	enum job_state state;
	unsigned long seq;      /* submission order: the worker takes the oldest */
	char hash[crypto_pwhash_STRBYTES];
	char password[AUTH_PASSWORD_MAX + 1];
	int ok;
	pwv_done_fn fn;
	void *ctx;
};

struct pwv {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;
	int stop;
	unsigned long seq;
	struct job jobs[PWV_QUEUE];
	/* the worker's own: a valid hash to check unknown users against */
	char dummy[crypto_pwhash_STRBYTES];
};

static struct job *oldest_queued(struct pwv *p)
{
	struct job *best = NULL;
	size_t i;

	for (i = 0; i < PWV_QUEUE; i++)
		if (p->jobs[i].state == JOB_QUEUED && (!best || p->jobs[i].seq < best->seq))
			best = &p->jobs[i];
	return best;
}

static void *worker(void *arg)
{
	struct pwv *p = arg;
	struct job *j;
	char hash[crypto_pwhash_STRBYTES], pw[AUTH_PASSWORD_MAX + 1];
	uint64_t one = 1;
	int ok;

	/*
	 * The lowest CPU priority, for this thread only (Linux nice is per
	 * thread): on a busy controller the checks yield to the loop and to the
	 * broker; a login then takes longer, an emergency does not.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) < 0)
		log_debug("password check thread: cannot lower its priority");
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && !(j = oldest_queued(p)))
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		j->state = JOB_RUNNING;
		memcpy(hash, j->hash, sizeof(hash));
		memcpy(pw, j->password, sizeof(pw));
		pthread_mutex_unlock(&p->mu);

		if (!hash[0]) {
			/* made once, here: 0.1 s the loop never waits for */
			if (!p->dummy[0] &&
			    crypto_pwhash_str(p->dummy, "loaxa-no-such-user", 18,
					      crypto_pwhash_OPSLIMIT_INTERACTIVE,
					      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
				p->dummy[0] = '\0';
			memcpy(hash, p->dummy, sizeof(hash));
			/* the same work as a real check; the answer is always no */
			if (hash[0] && crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0)
				log_debug("password check: a password matched the dummy hash");
			ok = 0;
		} else {
			ok = crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
		}
		sodium_memzero(pw, sizeof(pw));

		pthread_mutex_lock(&p->mu);
		j->ok = ok;
		j->state = JOB_DONE;
		sodium_memzero(j->password, sizeof(j->password));
		/* a full counter cannot happen: the loop reads it every turn */
		if (write(p->efd, &one, sizeof(one)) < 0)
			log_warn("password check: cannot wake the loop");
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int pwv_start(struct pwv **out)
{
	struct pwv *p = calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0) {
		rc = -errno;
		free(p);
		return rc;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	rc = -pthread_create(&p->thread, NULL, worker, p);
	if (rc < 0) {
		close(p->efd);
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* Call back every finished job (and with cancel, every other one). */
static void report(struct pwv *p, struct ctl *c, int cancel)
{
	pwv_done_fn fn;
	void *ctx;
	size_t i;
	int ok;

	for (;;) {
		fn = NULL;
		pthread_mutex_lock(&p->mu);
		for (i = 0; i < PWV_QUEUE; i++) {
			struct job *j = &p->jobs[i];

			if (j->state == JOB_DONE || (cancel && j->state != JOB_FREE)) {
				fn = j->fn;
				ctx = j->ctx;
				ok = j->state == JOB_DONE ? j->ok : -ECANCELED;
				sodium_memzero(j, sizeof(*j));
				break;
			}
		}
		pthread_mutex_unlock(&p->mu);
		if (!fn)
			return;
		/* outside the lock: the callback may submit again */
		fn(c, ctx, ok);
	}
}

void pwv_stop(struct pwv *p, struct ctl *c)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	report(p, c, 1);
	close(p->efd);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	sodium_memzero(p, sizeof(*p));
	free(p);
}

int pwv_submit(struct pwv *p, const char *hash, const char *password, pwv_done_fn fn,
	       void *ctx)
{
	size_t i, hl = hash ? strlen(hash) : 0, pl = strlen(password);
	int rc = -EBUSY;

	if (hl >= crypto_pwhash_STRBYTES || pl > AUTH_PASSWORD_MAX)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	for (i = 0; i < PWV_QUEUE; i++) {
		struct job *j = &p->jobs[i];

		if (j->state != JOB_FREE)
			continue;
		memcpy(j->hash, hash ? hash : "", hl + 1);
		memcpy(j->password, password, pl + 1);
		j->fn = fn;
		j->ctx = ctx;
		j->seq = ++p->seq;
		j->state = JOB_QUEUED;
		pthread_cond_signal(&p->cv);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int pwv_pending(struct pwv *p)
{
	size_t i;
	int n = 0;

	pthread_mutex_lock(&p->mu);
	for (i = 0; i < PWV_QUEUE; i++)
		n += p->jobs[i].state != JOB_FREE;
	pthread_mutex_unlock(&p->mu);
	return n;
}

int pwv_pollfd(struct pwv *p, struct pollfd *pfd)
{
	if (!p)
		return 0;
	pfd->fd = p->efd;
	pfd->events = POLLIN;
	pfd->revents = 0;
	return 1;
}

void pwv_handle(struct pwv *p, struct ctl *c)
{
	uint64_t n;

	if (!p)
		return;
	/* drain first: a job finishing meanwhile writes again and is seen next turn */
	if (read(p->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("password check: eventfd");
	report(p, c, 0);
}
