/*
 * wallclock.c - the real wall clock (see wallclock.h).
 *
 * Kept alone in its own file on purpose: an object of libloaxa.a is linked
 * only when something needs one of its symbols, so a unit test that defines
 * now_ms()/now_us() itself replaces this file whole, and release binaries
 * carry no test hook at all.
 */
#include <time.h>

#include "wallclock.h"

int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_ms(void)
{
	return now_us() / 1000;
}
