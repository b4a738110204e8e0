/*
 * tap.h - the smallest honest test harness: each check prints "ok - what"
 * or "not ok - what (file:line)"; tests/run.sh counts the lines.
 */
#ifndef LOAXA_TAP_H
#define LOAXA_TAP_H

#include <stdio.h>

static int tap_failed;

#define CHECK(cond, ...)                                              \
	do {                                                          \
		if (cond) {                                           \
			printf("ok - ");                              \
			printf(__VA_ARGS__);                          \
			printf("\n");                                 \
		} else {                                              \
			tap_failed++;                                 \
			printf("not ok - ");                          \
			printf(__VA_ARGS__);                          \
			printf(" (%s:%d: %s)\n", __FILE__, __LINE__, #cond); \
		}                                                     \
		fflush(stdout);                                       \
	} while (0)

#define TAP_EXIT() return tap_failed ? 1 : 0

#endif
