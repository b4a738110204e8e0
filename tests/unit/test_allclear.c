/*
 * test_allclear.c - issue 16's node-side checks without a broker: the
 * emergency_stop fields of the all-clear (node/emergency.c) and what the
 * node accepts as the mixer setting to put back after a crash
 * (node/mixer.c, mixer.json): a damaged file is refused, never half-used.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "emergency.h"
#include "envelope.h"
#include "mixer.h"
#include "tap.h"

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"

static int stop(const char *json, uint16_t flags, struct emerg_cmd *c)
{
	char why[300];
	json_t *o = json_loads(json, 0, NULL);
	int rc;

	if (!o)
		return -99;
	rc = emergency_parse("emergency_stop", o, flags, c, why, sizeof(why));
	json_decref(o);
	return rc;
}

static int saved(const char *text, struct node_mixer *m)
{
	return mixer_parse_saved(text, strlen(text), m);
}

int main(void)
{
	static struct emerg_cmd c;
	struct node_mixer m;

	CHECK(stop("{\"id\":\"e-1\",\"drill\":false,\"all_clear\":\"" H1 "\"}", 0, &c) == 0 &&
	      strcmp(c.all_clear, H1) == 0 && !c.preamble[0],
	      "a stop with the all-clear clip parses");
	CHECK(stop("{\"id\":\"d-1\",\"drill\":true,\"all_clear\":\"" H1 "\",\"preamble\":\"" H2
		   "\"}", ENV_FLAG_DRILL, &c) == 0 && strcmp(c.preamble, H2) == 0,
	      "a drill's stop carries the drill preamble for its all-clear");
	CHECK(stop("{\"id\":\"e-1\",\"drill\":false}", 0, &c) == 0 && !c.all_clear[0],
	      "a stop without all_clear: none");
	CHECK(stop("{\"id\":\"e-1\",\"drill\":false,\"all_clear\":\"ABC\"}", 0, &c) < 0,
	      "an all_clear that is not a content id is refused");
	CHECK(stop("{\"id\":\"e-1\",\"drill\":false,\"all_clear\":7}", 0, &c) < 0,
	      "an all_clear that is not a string is refused");
	CHECK(stop("{\"id\":\"e-1\",\"drill\":false,\"preamble\":\"../x\"}", 0, &c) < 0,
	      "a preamble that is not a content id is refused");

	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"channels\":[{\"channel\":0,"
		    "\"volume\":51,\"switch\":false}]}", &m) == 0 && m.has_volume &&
	      m.has_switch && m.channels == 1 && m.volume[0] == 51 && m.sw[0] == 0,
	      "mixer.json: a mono control at 51, muted");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Master\",\"channels\":[{\"channel\":1,"
		    "\"volume\":10},{\"channel\":2,\"volume\":12}]}", &m) == 0 && !m.has_switch &&
	      m.channels == 6 && m.volume[1] == 10 && m.volume[2] == 12,
	      "mixer.json: two channels, volume only");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"channels\":[{\"channel\":0,"
		    "\"volume\":51},{\"channel\":1,\"switch\":true}]}", &m) < 0,
	      "mixer.json: channels of different shapes are refused");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"channels\":[{\"channel\":0,"
		    "\"volume\":1},{\"channel\":0,\"volume\":2}]}", &m) < 0,
	      "mixer.json: a channel named twice is refused");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"channels\":[{\"channel\":40,"
		    "\"volume\":1}]}", &m) < 0, "mixer.json: a channel out of range is refused");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"channels\":[{\"channel\":0}]}",
		    &m) < 0, "mixer.json: a channel with nothing to restore is refused");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"channels\":[]}", &m) < 0,
	      "mixer.json: no channel is refused");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"channels\":[{\"channel\":0,"
		    "\"volume\":\"51\"}]}", &m) < 0, "mixer.json: a volume that is a string is refused");
	CHECK(saved("{\"device\":\"hw:0\",\"control\":\"Horn\",\"chan", &m) < 0,
	      "mixer.json cut short (not JSON) is refused");
	CHECK(saved("{\"control\":\"Horn\",\"channels\":[{\"channel\":0,\"volume\":1}]}", &m) < 0,
	      "mixer.json without its device is refused");
	TAP_EXIT();
}
