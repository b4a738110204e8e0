/*
 * selftest.h - the daily horn self-test, asked of every node that can do it.
 *
 * Once a day at controller.cfg selftest.daily_at (local time, default
 * 12:30: between the morning and evening programs), every online node whose
 * status says it has a sensing input (selftest.configured) gets the signed
 * "selftest" maintenance command (commands.c: a row in the commands table,
 * confirmed by the node). The node tests at its next quiet moment and never
 * over a broadcast (node/selftest.h); the controller raises or clears the
 * "horn" alarm from its status (alarms.c).
 *
 * The run is due for an hour after daily_at (a controller started later
 * that day does not test in the evening programs), once per day: the day
 * of the last run is kept in <state_dir>/selftest.day, so a restart does
 * not test again.
 */
#ifndef LOAXA_CTL_SELFTEST_H
#define LOAXA_CTL_SELFTEST_H

#include <stdint.h>

struct ctl;

/* Once a second (main.c). */
void ctl_selftest_tick(struct ctl *c);

/*
 * The decision, pure (unit tests): for local minute of the day `minute`,
 * the day key (yyyymmdd) of the run due now, or 0 when none is due
 * (outside the hour after daily_min). day_now: today's key, day_before:
 * yesterday's (a run due just after midnight belongs to yesterday).
 */
int ctl_selftest_due(int daily_min, int minute, int day_now, int day_before);

#endif
