/*
 * test_node.c - loaxa-node's pure parts: command parsing and validation
 * (cmd.c), sample shaping - gain, fades, channels (playout.c), content chunk
 * headers (fetch.c) and node.cfg rules (nodecfg.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "chunk.h"
#include "cmd.h"
#include "fetch.h"
#include "livebody.h"
#include "log.h"
#include "nodecfg.h"
#include "playout.h"
#include "tap.h"
#include "util.h"

#define CID "8038d57869d3ec929ccf9939cbe1391d17953923eceb5e6701400637c8065d1d"
#define NOW 1795000000000LL

static int parse(const char *json, struct node_cmd *cmd, char *why, size_t whylen)
{
	return cmd_parse(json, strlen(json), NOW, 512u << 20, cmd, why, whylen);
}

static void test_cmd(void)
{
	struct node_cmd c;
	char why[300];
	int rc;

	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b-20261123-011500-0001\",\"content\":\""
		   CID "\",\"bytes\":123,\"duration_ms\":5120,\"at\":0,\"level\":\"normal\","
		   "\"volume\":100,\"title\":\"Th\\u00f4ng b\\u00e1o\"}", &c, why, sizeof(why));
	CHECK(rc == 0 && c.kind == NODE_CMD_PLAY, "a full play command parses");
	CHECK(strcmp(c.play.broadcast, "b-20261123-011500-0001") == 0 &&
	      strcmp(c.play.content, CID) == 0 && c.play.bytes == 123 &&
	      c.play.duration_ms == 5120 && c.play.level == LEVEL_NORMAL &&
	      c.play.volume == 100 && strcmp(c.play.title, "Thông báo") == 0,
	      "its fields arrive as sent");

	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID "\"}", &c, why,
		   sizeof(why));
	CHECK(rc == 0 && c.play.volume == 100 && c.play.level == LEVEL_NORMAL &&
	      c.play.at == 0 && c.play.duration_ms == -1 && c.play.bytes == 0,
	      "defaults: volume 100, level normal, at 0, no duration");

	rc = parse("{\"cmd\":\"play\",\"content\":\"" CID "\"}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"broadcast\""), "missing broadcast: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b 1\",\"content\":\"" CID "\"}", &c, why,
		   sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"broadcast\""), "broadcast with a space: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"ABC\"}", &c, why,
		   sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"content\""), "bad content id: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"volume\":150}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"volume\"") && strstr(why, "150"),
	      "volume 150: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"volume\":50.5}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "whole number"), "volume 50.5: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"volume\":\"loud\"}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL, "volume as a string is refused");
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"level\":\"urgent\"}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"level\""), "unknown level: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"level\":\"emergency\"}", &c, why, sizeof(why));
	CHECK(rc == 0 && c.play.level == LEVEL_EMERGENCY, "level emergency");
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"at\":-5}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"at\""), "negative at: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"at\":1796000000000}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "7 days"), "at 11 days ahead: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"broadcast\":\"b2\",\"content\":\""
		   CID "\"}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "JSON"), "duplicate keys: %s", why);
	rc = parse("{\"cmd\":\"play\",\"broadcast\":\"b1\",\"content\":\"" CID
		   "\",\"title\":\"a\\nb\\u0007c\"}", &c, why, sizeof(why));
	CHECK(rc == 0 && strcmp(c.play.title, "a b c") == 0,
	      "control characters in a title become spaces");

	rc = parse("{\"cmd\": \"play\", \"broadcast\": ", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "not valid JSON"), "truncated JSON: %s", why);
	rc = parse("[1,2]", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "not an object"), "a JSON array: %s", why);
	rc = parse("{\"cmd\":\"selfdestruct\"}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "unknown command \"selfdestruct\""), "%s", why);
	rc = parse("{\"cmd\":\"x\\u0001y\"}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"x?y\""), "a control character is not echoed: %s",
	      why);
	rc = parse("{\"cmd\":7}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL && strstr(why, "\"cmd\""), "cmd not a string: %s", why);

	rc = parse("{\"cmd\":\"stop\"}", &c, why, sizeof(why));
	CHECK(rc == 0 && c.kind == NODE_CMD_STOP && c.broadcast[0] == '\0', "stop everything");
	rc = parse("{\"cmd\":\"stop\",\"broadcast\":\"b-7\"}", &c, why, sizeof(why));
	CHECK(rc == 0 && strcmp(c.broadcast, "b-7") == 0, "stop one broadcast");
	rc = parse("{\"cmd\":\"stop\",\"broadcast\":\"\"}", &c, why, sizeof(why));
	CHECK(rc == -EINVAL, "stop with an empty broadcast id is refused");

	CHECK(broadcast_id_valid("b-20261123-011500-0001:x.y_z"), "broadcast id characters");
	CHECK(!broadcast_id_valid("") && !broadcast_id_valid("a/b"),
	      "empty and slashed broadcast ids are refused");
	{
		char long_id[80];
		memset(long_id, 'a', 64);
		long_id[64] = '\0';
		CHECK(!broadcast_id_valid(long_id), "a 64-character broadcast id is refused");
		long_id[63] = '\0';
		CHECK(broadcast_id_valid(long_id), "63 characters are fine");
	}
}

static void test_shape(void)
{
	enum { N = 4000 };
	int16_t in[N], out[N * 2];
	size_t i;
	int same = 1, dup = 1, ramp = 1;

	for (i = 0; i < N; i++)
		in[i] = (int16_t)((i * 7919) % 60000 - 30000);

	CHECK(playout_gain(100) == 1.0f && playout_gain(0) == 0.0f,
	      "volume 100 is gain 1 exactly, 0 is silence");
	CHECK(fabsf(playout_gain(50) - 0.25f) < 1e-6f, "volume 50 is -12 dB (0.25)");

	/* middle of a stream at unity: bit for bit */
	playout_shape(out, in, N, 10000, 0, 1.0f, 1, 1);
	for (i = 0; i < N; i++)
		if (out[i] != in[i])
			same = 0;
	CHECK(same, "volume 100 outside the fades: output equals input sample for sample");

	/* start of the stream: a linear 480-sample fade-in */
	playout_shape(out, in, N, 0, 0, 1.0f, 1, 1);
	CHECK(out[0] == 0, "the first sample is silent");
	for (i = 1; i < PLAYOUT_FADE; i++)
		if (abs(out[i]) > abs(in[i]) ||
		    abs(out[i] - (int)lrintf((float)in[i] * (float)i / PLAYOUT_FADE)) > 1)
			ramp = 0;
	CHECK(ramp, "samples 1-479 follow the linear fade-in");
	same = 1;
	for (i = PLAYOUT_FADE; i < N; i++)
		if (out[i] != in[i])
			same = 0;
	CHECK(same, "from sample 480 on, unchanged");

	/* end of the stream: the last 480 samples fade out, the last one is silent */
	playout_shape(out, in, N, 100000, N, 1.0f, 1, 1);
	CHECK(out[N - 1] == 0, "the last sample is silent");
	CHECK(out[N - PLAYOUT_FADE - 1] == in[N - PLAYOUT_FADE - 1] &&
	      abs(out[N - PLAYOUT_FADE / 2]) <= abs(in[N - PLAYOUT_FADE / 2]) / 2 + 1,
	      "the fade-out starts 480 samples before the end");

	/* a stream shorter than both fades still starts and ends silent */
	playout_shape(out, in, 100, 0, 100, 1.0f, 1, 1);
	CHECK(out[0] == 0 && out[99] == 0, "a 100-sample stream starts and ends at zero");

	/* channels: the mono sample on every channel */
	playout_shape(out, in, N, 10000, 0, 1.0f, 1, 2);
	for (i = 0; i < N; i++)
		if (out[2 * i] != in[i] || out[2 * i + 1] != in[i])
			dup = 0;
	CHECK(dup, "two channels: each frame carries the sample twice");

	/* gain and clamping */
	in[0] = 32767;
	in[1] = -32768;
	in[2] = 1000;
	playout_shape(out, in, 3, 10000, 0, 0.25f, 0, 1);
	CHECK(out[2] == 250, "gain 0.25: 1000 becomes 250 (got %d)", out[2]);
	playout_shape(out, in, 3, 10000, 0, 2.0f, 0, 1);
	CHECK(out[0] == 32767 && out[1] == -32768, "gains above 1 clamp instead of wrapping");
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static size_t chunk(uint8_t *buf, uint32_t index, uint32_t count, uint32_t size,
		    uint64_t total, size_t data)
{
	memset(buf, 0xab, 32);
	put32(buf + 32, index);
	put32(buf + 36, count);
	put32(buf + 40, size);
	put32(buf + 44, (uint32_t)(total >> 32));
	put32(buf + 48, (uint32_t)total);
	memset(buf + 52, 'x', data);
	return 52 + data;
}

static void test_chunks(void)
{
	static uint8_t buf[52 + 5000];
	struct chunk_hdr h;
	char why[256];
	size_t len;

	CHECK(chunk_parse((const uint8_t *)"hello\n", 6, &h, why, sizeof(why)) ==
	      -EINVAL && strstr(why, "too short"), "6 bytes: %s", why);
	len = chunk(buf, 0, 3, 4096, 10000, 4096);
	CHECK(chunk_parse(buf, len, &h, why, sizeof(why)) == 0 && h.index == 0 &&
	      h.count == 3 && h.size == 4096 && h.total == 10000 && h.data_len == 4096,
	      "a first chunk of three parses");
	len = chunk(buf, 2, 3, 4096, 10000, 10000 - 8192);
	CHECK(chunk_parse(buf, len, &h, why, sizeof(why)) == 0 &&
	      h.data_len == 10000 - 8192, "the short last chunk parses");
	len = chunk(buf, 2, 3, 4096, 10000, 4096);
	CHECK(chunk_parse(buf, len, &h, why, sizeof(why)) == -EINVAL,
	      "a last chunk with too many bytes: %s", why);
	len = chunk(buf, 0, 4, 4096, 10000, 4096);
	CHECK(chunk_parse(buf, len, &h, why, sizeof(why)) == -EINVAL,
	      "a chunk count that does not match the size: %s", why);
	len = chunk(buf, 3, 3, 4096, 10000, 0);
	CHECK(chunk_parse(buf, len, &h, why, sizeof(why)) == -EINVAL,
	      "an index beyond the count: %s", why);
	len = chunk(buf, 0, 3, 0, 10000, 0);
	CHECK(chunk_parse(buf, len, &h, why, sizeof(why)) == -EINVAL,
	      "chunk size 0: %s", why);
	len = chunk(buf, 5, 0, 0, 0, 0);
	CHECK(chunk_parse(buf, len, &h, why, sizeof(why)) == 0 && h.total == 0 &&
	      h.count == 0, "total 0 and count 0: the controller does not have it");
}

static char dir[256];

/*
 * These configs test other fields: each allows its plain test broker
 * (mqtt.insecure, docs/security.md), on the mqtt group's own line or after
 * the rest, so the line numbers the checks expect stay.
 */
static int load_cfg(struct node_cfg *cfg, const char *text, const char **err)
{
	char path[300], full[4096];
	const char *g = strstr(text, "mqtt = {");
	int rc;

	if (g)
		snprintf(full, sizeof(full), "%.*smqtt = { insecure = true;%s", (int)(g - text),
			 text, g + 8);
	else
		snprintf(full, sizeof(full), "%smqtt = { insecure = true; };\n", text);
	snprintf(path, sizeof(path), "%s/node.cfg", dir);
	write_file_atomic(path, full, strlen(full), 0600);
	capture_begin();
	rc = node_cfg_load(cfg, path);
	*err = capture_end();
	return rc;
}

#define KEY "e4047c217f67c0769695c3ee325d762b1e032ad079ab375b861690fc919bf9e8"

static void test_cfg(void)
{
	struct node_cfg cfg;
	const char *err;
	char want[PATH_MAX + 8], real[PATH_MAX]; /* realpath writes up to PATH_MAX */
	int rc;

	rc = load_cfg(&cfg, "site = \"xa-demo\";\nnode = \"n1\";\nstate_dir = \"st\";\n"
		      "controller_key = \"" KEY "\";\n", &err);
	CHECK(rc == 0, "a minimal node.cfg loads");
	if (!realpath(dir, real))
		snprintf(real, sizeof(real), "%s", dir);
	snprintf(want, sizeof(want), "%s/st", real);
	CHECK(strcmp(cfg.state_dir, want) == 0, "relative state_dir is under the config's "
	      "directory (%s)", cfg.state_dir);
	CHECK(cfg.mqtt.port == 1883 && cfg.alsa.channels == 1 && cfg.alsa.rate == 48000 &&
	      cfg.alsa.buffer_ms == 200 && cfg.status_interval_s == 30 &&
	      cfg.max_message_bytes == 262144 && cfg.cache_max_bytes == 512ull << 20 &&
	      cfg.nzones == 0 && strcmp(cfg.alsa.device, "default") == 0,
	      "defaults as documented");

	rc = load_cfg(&cfg, "site = \"a-very-long-site-name\";\nnode = \"n1\";\n"
		      "state_dir = \"/x\";\ncontroller_key = \"" KEY "\";\n", &err);
	CHECK(rc < 0 && strstr(err, "node.cfg:1: field \"site\": \"a-very-long-site-name\" "
				    "is too long"), "a 21-character site is refused");
	rc = load_cfg(&cfg, "site = \"xa\";\nnode = \"n1\";\nstate_dir = \"/x\";\n"
		      "controller_key = \"" KEY "\";\nalsa = { rate = 44100; };\n", &err);
	CHECK(rc < 0 && strstr(err, "node.cfg:5: field \"alsa.rate\": must be 48000"),
	      "alsa.rate 44100 is refused with a hint");
	rc = load_cfg(&cfg, "site = \"xa\";\nnode = \"n1\";\nstate_dir = \"/x\";\n"
		      "controller_key = \"" KEY "\";\nalsa = { buffer_ms = 40; period_ms = 30; };\n",
		      &err);
	CHECK(rc < 0 && strstr(err, "field \"alsa.period_ms\": must be at most half"),
	      "a period longer than half the buffer is refused");
	rc = load_cfg(&cfg, "site = \"xa\";\nnode = \"n1\";\nstate_dir = \"/x\";\n"
		      "controller_key = \"" KEY "\";\nzones = [\"a\", \"B\", \"a\"];\n", &err);
	CHECK(rc < 0 && strstr(err, "entry 2 (\"B\") is not a valid zone name") &&
	      strstr(err, "zone \"a\" is listed twice"),
	      "bad and repeated zones are both reported");
	rc = load_cfg(&cfg, "site = \"xa\";\nnode = \"n1\";\nstate_dir = \"/x\";\n"
		      "controller_key = \"" KEY "\";\nmqtt = { port = 0; };\ncolour = 1;\n", &err);
	CHECK(rc < 0 && strstr(err, "node.cfg:6: field \"colour\": unknown field") &&
	      strstr(err, "node.cfg:5: field \"mqtt.port\": must be between 1 and 65535"),
	      "every error of a file is reported, not only the first");

	/* Every setting ends with ';' (libconfig itself would not insist). */
	rc = load_cfg(&cfg, "# comment; with \"quotes\"\nsite = \"xa\"; // trailing\n"
		      "node = \"n1\";\n/* a block\n comment */ state_dir = \"/x;y\" \"z\";\n"
		      "controller_key = \"" KEY "\";\nzones = [\"a\", \"b\"];\n"
		      "mqtt = { host = \"h\"; port = 1883, };\n", &err);
	CHECK(rc == 0 && strcmp(cfg.state_dir, "/x;yz") == 0 && cfg.nzones == 2,
	      "comments, ';' inside strings, joined strings, lists and groups pass the "
	      "terminator check");
	rc = load_cfg(&cfg, "site = \"xa\";\nnode = \"n1\";\nstate_dir = \"/x\";\n"
		      "controller_key = \"" KEY "\";\nmqtt = {\n  port = 1883\n};\n", &err);
	CHECK(rc < 0 && strstr(err, "node.cfg:7: syntax error: ';' expected after the "
				    "setting \"port\" (line 6)"),
	      "a missing ';' inside a group is named");
	rc = load_cfg(&cfg, "site = \"xa\";\nnode = \"n1\";\nstate_dir = \"/x\";\n"
		      "controller_key = \"" KEY "\";\nzones = [\"a\"]\nmqtt = { port = 1883; };\n",
		      &err);
	CHECK(rc < 0 && strstr(err, "node.cfg:6: syntax error") && strstr(err, "\"zones\""),
	      "a missing ';' after a list is named");
}

/* A live batch names its destination (docs/protocol.md "Destination"). */
static void test_live_to(void)
{
	static const uint8_t frame[3] = { 0xf8, 0xff, 0xfe };
	struct live_batch b, p;
	uint8_t buf[256];
	char why[200];
	int len;

	memset(&b, 0, sizeof(b));
	b.level = 3;
	b.nframes = 1;
	b.session = 7;
	b.t0_us = NOW * 1000;
	b.frame_ms = 20;
	b.latency_ms = 1000;
	b.frame[0] = frame;
	b.len[0] = sizeof(frame);
	CHECK(live_body_write(&b, buf, sizeof(buf)) == -EINVAL,
	      "a live body without a destination is not written");
	snprintf(b.to, sizeof(b.to), "zone/thon-1/live");
	len = live_body_write(&b, buf, sizeof(buf));
	CHECK(len == LIVE_HEADER_LEN + 1 + 16 + 1 + 3 && buf[0] == LIVE_BODY_VERSION,
	      "written: version %d, header, destination, one frame (%d bytes)",
	      LIVE_BODY_VERSION, len);
	CHECK(live_body_parse(buf, (size_t)len, &p, why, sizeof(why)) == 0 &&
	      strcmp(p.to, "zone/thon-1/live") == 0 && p.nframes == 1 && p.len[0] == 3 &&
	      memcmp(p.frame[0], frame, 3) == 0, "parsed back with its destination (%s)", p.to);
	buf[0] = 1;
	CHECK(live_body_parse(buf, (size_t)len, &p, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "version 1"), "version 1 (no destination) is refused: %s", why);
	buf[0] = LIVE_BODY_VERSION;
	buf[LIVE_HEADER_LEN + 5] = '+';
	CHECK(live_body_parse(buf, (size_t)len, &p, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "destination"), "a destination byte no topic has is refused: %s", why);
	buf[LIVE_HEADER_LEN + 5] = 't';
	buf[LIVE_HEADER_LEN] = 200;
	CHECK(live_body_parse(buf, (size_t)len, &p, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "destination length"), "a destination past the body is refused: %s",
	      why);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/loaxa-test-node-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	log_init("test_node", 0);
	test_cmd();
	test_shape();
	test_chunks();
	test_cfg();
	test_live_to();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	TAP_EXIT();
}
