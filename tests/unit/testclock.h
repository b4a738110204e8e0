/*
 * testclock.h - the unit tests' wall clock (replaces common/wallclock.c).
 *
 * Every unit test is linked with testclock.c, which defines now_ms() and
 * now_us() itself, so the code under test reads this clock. It runs like
 * the real one, from the instant a test chooses:
 *
 *  - LOAXA_TEST_NOW=<seconds since the epoch> in the environment (the
 *    time-of-day matrix of tests/run.sh sets it), or
 *  - testclock_set_ms() from the test itself.
 *
 * Without either it is the real clock.
 */
#ifndef LOAXA_TESTCLOCK_H
#define LOAXA_TESTCLOCK_H

#include <stdint.h>

/* From now on, now_ms() reads ms and runs on from there. */
void testclock_set_ms(int64_t ms);
/* The instant LOAXA_TEST_NOW asked for (ms), or 0 when it is not set. */
int64_t testclock_start_ms(void);
/* "2026-12-07 17:03:00 +07" of now_ms(), local time (for test names). */
const char *testclock_describe(void);

#endif
