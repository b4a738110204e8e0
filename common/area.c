/*
 * area.c - see area.h.
 */
#include "area.h"

#include <stdio.h>
#include <string.h>

static const char *const names[] = { "", "commune", "district", "province" };
static const char *const names_vi[] = { "", "xã", "huyện", "tỉnh" };

enum area_level area_level_parse(const char *s)
{
	int l;

	for (l = AREA_COMMUNE; s && l <= AREA_PROVINCE; l++)
		if (strcmp(s, names[l]) == 0)
			return (enum area_level)l;
	return AREA_NONE;
}

const char *area_level_name(enum area_level l)
{
	return l >= AREA_COMMUNE && l <= AREA_PROVINCE ? names[l] : "?";
}

const char *area_level_vi(enum area_level l)
{
	return l >= AREA_COMMUNE && l <= AREA_PROVINCE ? names_vi[l] : "?";
}

int area_code_valid(enum area_level l, const char *s)
{
	static const size_t want[] = { 0, 5, 3, 2 };
	size_t i;

	if (l < AREA_COMMUNE || l > AREA_PROVINCE || !s || strlen(s) != want[l])
		return 0;
	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

int area_cmd_topic(char *out, unsigned long outlen, const char *code)
{
	int n = snprintf(out, outlen, "loaxa/area/%s/cmd", code);

	return n < 0 || (unsigned long)n >= outlen ? -1 : 0;
}
