/*
 * pwverify.h - Argon2id password checks off the controller's loop.
 *
 * crypto_pwhash_str_verify costs ~0.1 s of CPU and 64 MiB by design. The
 * controller is one poll loop that also sends emergencies, so a check run
 * there stalls everything behind it (20 wrong logins: ~2 s). One worker
 * thread does the checks instead; it touches nothing but the job it was
 * given (a hash string and a password copy; no database, no log), and
 * hands the result back through an eventfd that the loop polls. The
 * callback then runs on the loop thread, where the database and the audit
 * log stay.
 *
 * The thread runs at nice 19: on a busy machine the checks yield to the
 * loop and the broker (a login takes longer, an emergency does not).
 *
 * The queue is bounded (PWV_QUEUE jobs): a login that finds it full is
 * refused at once (the caller answers 503), so a flood costs memory and
 * CPU of at most one queue.
 */
#ifndef LOAXA_CTL_PWVERIFY_H
#define LOAXA_CTL_PWVERIFY_H

#include <poll.h>

#define PWV_QUEUE 8

struct ctl;
struct pwv;

/*
 * ok: 1 when the password matches the hash, 0 when not, -ECANCELED when the
 * worker was stopped before the job ran. Called on the loop thread.
 */
typedef void (*pwv_done_fn)(struct ctl *c, void *ctx, int ok);

/* Start the worker thread. 0 or negative errno. */
int pwv_start(struct pwv **out);
/* Stop and join it; every job not yet reported is reported -ECANCELED. */
void pwv_stop(struct pwv *p, struct ctl *c);

/*
 * Queue a check. hash NULL or "": check against a dummy hash (a user that
 * does not exist costs the same time and gives 0). 0, -EBUSY when the queue
 * is full, -EINVAL for a password too long.
 */
int pwv_submit(struct pwv *p, const char *hash, const char *password, pwv_done_fn fn,
	       void *ctx);

/* Jobs queued or running. */
int pwv_pending(struct pwv *p);

/* The eventfd to poll (POLLIN); 1 when filled, 0 when none. */
int pwv_pollfd(struct pwv *p, struct pollfd *pfd);
/* Report finished jobs (their callbacks run here). */
void pwv_handle(struct pwv *p, struct ctl *c);

#endif
