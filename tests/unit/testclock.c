/*
 * testclock.c - see testclock.h. An offset from CLOCK_REALTIME rather than a
 * frozen value: code under test that waits for time to pass (a retry, an
 * expiry a second away) behaves as it would at that hour of that day.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "testclock.h"
#include "wallclock.h"

static int64_t offset_us;
static int loaded;

static int64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t env_start_ms(void)
{
	const char *s = getenv("LOAXA_TEST_NOW");
	char *end;
	long long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "LOAXA_TEST_NOW=\"%s\": not seconds since the epoch\n", s);
		exit(2);
	}
	return (int64_t)v * 1000;
}

static void load(void)
{
	int64_t ms;

	if (loaded)
		return;
	loaded = 1;
	ms = env_start_ms();
	if (ms)
		offset_us = ms * 1000 - real_us();
}

void testclock_set_ms(int64_t ms)
{
	loaded = 1;
	offset_us = ms * 1000 - real_us();
}

int64_t testclock_start_ms(void)
{
	return env_start_ms();
}

const char *testclock_describe(void)
{
	static char buf[64];
	time_t s = (time_t)(now_ms() / 1000);
	struct tm tm;

	if (!localtime_r(&s, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(buf, sizeof(buf), "?");
	return buf;
}

int64_t now_us(void)
{
	load();
	return real_us() + offset_us;
}

int64_t now_ms(void)
{
	return now_us() / 1000;
}
