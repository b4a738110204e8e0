/*
 * test_emergency.c - the node's checks of emergency commands (node/emergency.c):
 * every field, the drill mark in header and body, the id prefixes, the clip list.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "emergency.h"
#include "envelope.h"
#include "tap.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static int parse(const char *name, const char *json, uint16_t flags, struct emerg_cmd *c,
		 char *why, size_t whylen)
{
	json_t *o = json_loads(json, 0, NULL);
	int rc;

	if (!o)
		return -99;
	rc = emergency_parse(name, o, flags, c, why, whylen);
	json_decref(o);
	return rc;
}

int main(void)
{
	static struct emerg_cmd c;
	char why[300];
	int rc;

	rc = parse("emergency_start", "{\"id\":\"e-20261201-1\",\"drill\":false,\"content\":\"" H1
		   "\",\"clip\":\"flood\",\"tone\":\"" H2 "\",\"bytes\":1000}", 0, &c, why,
		   sizeof(why));
	CHECK(rc == 0, "a real emergency_start parses (%s)", rc ? why : "");
	CHECK(c.drill == 0 && strcmp(c.clip, "flood") == 0 && strcmp(c.tone, H2) == 0 &&
	      c.bytes == 1000 && c.max_s == EMERG_DEFAULT_MAX_S,
	      "its fields: not a drill, clip flood, tone, bytes, default max 1800 s");

	rc = parse("emergency_start", "{\"id\":\"d-20261201-1\",\"drill\":true,\"content\":\"" H1
		   "\",\"preamble\":\"" H2 "\",\"max_s\":60}", ENV_FLAG_DRILL, &c, why, sizeof(why));
	CHECK(rc == 0 && c.drill && c.max_s == 60 && strcmp(c.preamble, H2) == 0,
	      "a drill with the drill flag, preamble and max_s 60 parses");

	rc = parse("emergency_start", "{\"id\":\"d-20261201-1\",\"drill\":true,\"content\":\"" H1
		   "\"}", 0, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "drill flag is clear"),
	      "drill true in the body without the envelope's flag is refused (%s)", why);
	rc = parse("emergency_start", "{\"id\":\"e-20261201-1\",\"drill\":false,\"content\":\"" H1
		   "\"}", ENV_FLAG_DRILL, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "flag is set"),
	      "the drill flag with drill false in the body is refused (%s)", why);
	rc = parse("emergency_start", "{\"id\":\"e-20261201-1\",\"content\":\"" H1 "\"}", 0, &c,
		   why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"drill\""), "a start without \"drill\" is refused (%s)",
	      why);
	rc = parse("emergency_start", "{\"id\":\"e-1\",\"drill\":true,\"content\":\"" H1 "\"}",
		   ENV_FLAG_DRILL, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"id\""), "a drill with an e- id is refused (%s)", why);
	rc = parse("emergency_start", "{\"id\":\"d-1\",\"drill\":false,\"content\":\"" H1 "\"}",
		   0, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"id\""), "a real one with a d- id is refused (%s)", why);
	rc = parse("emergency_start", "{\"id\":\"e-1\",\"drill\":false}", 0, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"content\""), "a start without content is refused (%s)",
	      why);
	rc = parse("emergency_start", "{\"id\":\"e-1\",\"drill\":false,\"content\":\"ABC\"}", 0,
		   &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"content\""), "a malformed content id is refused (%s)", why);
	rc = parse("emergency_start", "{\"id\":\"e-1\",\"drill\":false,\"content\":\"" H1
		   "\",\"max_s\":0}", 0, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"max_s\""), "max_s 0 is refused (%s)", why);
	rc = parse("emergency_start", "{\"id\":\"e-1\",\"drill\":false,\"content\":\"" H1
		   "\",\"max_s\":86401}", 0, &c, why, sizeof(why));
	CHECK(rc < 0, "max_s above 24 h is refused");
	rc = parse("emergency_start", "{\"id\":\"e-1\",\"drill\":\"yes\",\"content\":\"" H1 "\"}",
		   0, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "true or false"), "drill must be a boolean (%s)", why);
	rc = parse("emergency_start", "{\"id\":\"e-1\",\"drill\":false,\"content\":\"" H1
		   "\",\"clip\":\"Flood!\"}", 0, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"clip\""), "a bad clip name is refused (%s)", why);

	rc = parse("emergency_stop", "{}", 0, &c, why, sizeof(why));
	CHECK(rc == 0 && !c.id[0], "a stop without id parses (stop whatever is active)");
	rc = parse("emergency_stop", "{\"id\":\"d-7\",\"drill\":true}", ENV_FLAG_DRILL, &c, why,
		   sizeof(why));
	CHECK(rc == 0 && c.drill && strcmp(c.id, "d-7") == 0, "a drill's stop parses");
	rc = parse("emergency_stop", "{\"id\":\"d-7\"}", 0, &c, why, sizeof(why));
	CHECK(rc < 0, "a stop naming a drill without the drill flag is refused");

	rc = parse("emergency_clips", "{\"set\":\"0123456789abcdef\",\"clips\":[{\"name\":\"tone\","
		   "\"content\":\"" H1 "\",\"bytes\":5},{\"name\":\"flood\",\"content\":\"" H2
		   "\"}]}", 0, &c, why, sizeof(why));
	CHECK(rc == 0 && c.nclips == 2 && strcmp(c.clips[1].name, "flood") == 0 &&
	      c.clips[0].bytes == 5, "a clip list parses (%s)", rc ? why : "");
	rc = parse("emergency_clips", "{\"set\":\"0123456789abcdef\",\"clips\":[{\"name\":\"tone\","
		   "\"content\":\"" H1 "\"},{\"name\":\"tone\",\"content\":\"" H2 "\"}]}", 0, &c,
		   why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "twice"), "a clip named twice is refused (%s)", why);
	rc = parse("emergency_clips", "{\"set\":\"0123\",\"clips\":[]}", 0, &c, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "\"set\""), "a short set id is refused (%s)", why);
	{
		char big[4096];
		size_t i, off;

		off = (size_t)snprintf(big, sizeof(big), "{\"set\":\"0123456789abcdef\",\"clips\":[");
		for (i = 0; i < EMERG_MAX_CLIPS + 1; i++)
			off += (size_t)snprintf(big + off, sizeof(big) - off,
						"%s{\"name\":\"c%zu\",\"content\":\"" H1 "\"}",
						i ? "," : "", i);
		snprintf(big + off, sizeof(big) - off, "]}");
		rc = parse("emergency_clips", big, 0, &c, why, sizeof(why));
		CHECK(rc < 0 && strstr(why, "at most"), "more than 16 clips are refused (%s)", why);
	}
	TAP_EXIT();
}
