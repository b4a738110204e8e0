/*
 * wallclock.h - "now": the one source of the date and time of day.
 *
 * Everything that depends on the calendar (occurrence expansion, plan
 * horizons, allowed hours, report months, alarm windows, ids that carry a
 * date, envelope expiry) reads the wall clock through these two functions
 * and nothing else, so that one seam decides what "now" is:
 *
 *  - the daemons and tools link common/wallclock.c, which reads
 *    CLOCK_REALTIME and has no switch of any kind;
 *  - the unit tests link tests/unit/testclock.c in its place (the linker
 *    never pulls wallclock.o out of libloaxa.a once a test object defines
 *    these symbols), and set the instant they test at;
 *  - integration tests run whole processes under libfaketime
 *    (tests/at.sh), which moves CLOCK_REALTIME for every process alike.
 *
 * Stopwatches (timeouts, pacing, rate limits) use CLOCK_MONOTONIC through
 * mono_ms()/mono_us() in util.h, never these.
 */
#ifndef LOAXA_WALLCLOCK_H
#define LOAXA_WALLCLOCK_H

#include <stdint.h>

int64_t now_ms(void); /* wall clock, milliseconds since the epoch */
int64_t now_us(void); /* wall clock, microseconds since the epoch */

#endif
