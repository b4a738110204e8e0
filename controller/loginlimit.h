/*
 * loginlimit.h - throttling failed logins, per user name and per peer.
 *
 * A table maps a key (a user name, or a peer such as "uid 1000") to a count
 * of failed logins in a window that starts at the first failure. A key with
 * `max` failures is refused until its window ends. Each attempt is charged
 * *before* its password is checked (concurrent attempts cannot all slip
 * through), and a success refunds what the attempt cost.
 *
 * Why a flood of invented names cannot reset a real user's counter: an
 * entry leaves the table only when its own window has ended (or, for a
 * name, when the right password was given). Nothing is ever evicted to make
 * room. When every slot holds a live entry, a key without one is counted in
 * one shared overflow entry, so the flood's newest names lock only each
 * other (and, for at most one window, any name that first fails while the
 * table is full: a denial of logins, logged, never a reset). Names that
 * exist and names that do not are treated alike, so the throttle does not
 * tell an attacker which accounts exist.
 */
#ifndef LOAXA_CTL_LOGINLIMIT_H
#define LOAXA_CTL_LOGINLIMIT_H

#include <stdint.h>

#define LL_SLOTS 256
#define LL_KEY_MAX 48

struct ll_entry {
	char key[LL_KEY_MAX];
	int64_t start_ms;  /* first failure of the window */
	int count;         /* failures (and attempts in flight) in it */
};

struct ll_table {
	struct ll_entry e[LL_SLOTS];
	struct ll_entry overflow; /* every key that found no slot */
	int max;
	int64_t window_ms;
};

void ll_init(struct ll_table *t, int max, int64_t window_ms);

/*
 * 0 when key may try (and the try is now charged), -EAGAIN when it is
 * throttled: *retry_s (if not NULL) says in how many seconds it may try
 * again, *shared says whether the shared overflow entry refused it.
 */
int ll_charge(struct ll_table *t, const char *key, int64_t now_ms, int64_t *retry_s,
	      int *shared);

/* The attempt charged for key succeeded: take back its charge (shared: what
 * ll_charge said). */
void ll_refund(struct ll_table *t, const char *key, int shared, int64_t now_ms);

/* key proved itself (the right password): forget its failures. A key
 * counted in the shared overflow entry only gets its charge back. */
void ll_forgive(struct ll_table *t, const char *key, int shared, int64_t now_ms);

/* Failures counted for key now (its own entry or the overflow's). */
int ll_count(struct ll_table *t, const char *key, int64_t now_ms);

#endif
