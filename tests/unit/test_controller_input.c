/*
 * test_controller_input.c - the controller's untrusted inputs and its signed
 * outputs, without a broker: the status, event and fetch parsers on garbage,
 * wrong types, huge numbers, wrong node ids; topic routing and the size
 * limit; content delivery and broadcasts through a publish hook, each
 * envelope opened with a node's verifier.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broadcast.h"
#include "capture.h"
#include "chunk.h"
#include "ctl.h"
#include "delivery.h"
#include "envelope.h"
#include "log.h"
#include "nodes.h"
#include "ctlfixture.h"
#include "ratelimit.h"
#include "tap.h"
#include "util.h"

#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static char dir[64];
static struct ctl c;
static struct verifier ver;

struct sent {
	enum ctl_conn_kind kind;
	char topic[160];
	uint8_t *buf;
	size_t len;
};
static struct sent sent[256];
static int nsent;

static int hook(void *arg, enum ctl_conn_kind kind, const char *topic,
		const void *payload, size_t len, int qos, int retain)
{
	(void)arg;
	if (nsent >= 256 || qos != 1 || retain)
		return -EIO;
	sent[nsent].kind = kind;
	snprintf(sent[nsent].topic, sizeof(sent[nsent].topic), "%s", topic);
	sent[nsent].buf = malloc(len);
	memcpy(sent[nsent].buf, payload, len);
	sent[nsent].len = len;
	nsent++;
	return 0;
}

static void clear_sent(void)
{
	while (nsent > 0)
		free(sent[--nsent].buf);
}

static void setup(void)
{
	strcpy(dir, "/tmp/loaxa-test-ctlin-XXXXXX");
	if (!mkdtemp(dir))
		exit(2);
	ctl_config_defaults(&c.cfg);
	strcpy(c.cfg.site, "xa-test");
	c.cfg.delivery.chunk_bytes = 1024;
	c.cfg.delivery.window = 4;
	snprintf(c.cfg.state_dir, sizeof(c.cfg.state_dir), "%s", dir);
	snprintf(c.content_dir, sizeof(c.content_dir), "%s/content", dir);
	mkdir(c.content_dir, 0700);
	ctl_fixture(&c, &ver, hook);
}

static void cleanup(void)
{
	char cmd[128];

	clear_sent();
	ctl_delivery_reset(&c);
	ctl_db_close(&c.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* ------------------------------------------------------------ parsers */

static void bad_status(const char *json, const char *want)
{
	struct ctl_status st;
	char err[256] = "";
	int rc = ctl_parse_status("n1", "xa-test", json, strlen(json), &st, NULL, err,
				  sizeof(err));

	CHECK(rc == -EINVAL && strstr(err, want), "status %.60s refused: %s", json, err);
}

static void test_status(void)
{
	struct ctl_status st;
	char err[256], *json = NULL;
	const char *good = "{\"node\":\"n1\",\"site\":\"xa-test\",\"online\":true,\"boot\":7,"
			   "\"version\":\"0.1.0\",\"zones\":[\"thon-1\",\"all-x\"],\"ts\":5,"
			   "\"playing\":null,\"extra\":{\"a\":[1,2]}}";

	CHECK(ctl_parse_status("n1", "xa-test", good, strlen(good), &st, &json, err,
			       sizeof(err)) == 0 && st.online && st.boot == 7 && st.nzones == 2 &&
	      strcmp(st.zones[1], "all-x") == 0 && st.ts == 5 && json && strstr(json, "extra"),
	      "a full status parses, extra fields kept in the stored JSON");
	free(json);
	good = "{\"node\":\"n1\",\"online\":false,\"boot\":7}";
	CHECK(ctl_parse_status("n1", "xa-test", good, strlen(good), &st, NULL, err,
			       sizeof(err)) == 0 && !st.online,
	      "the offline Will (node, online, boot) parses");
	bad_status("garbage", "not JSON");
	bad_status("", "empty");
	bad_status("[1,2]", "object");
	bad_status("\"n1\"", "not JSON");
	bad_status("{\"node\":\"n1\",\"onl", "not JSON");
	bad_status("{\"node\":\"n2\",\"online\":true,\"boot\":1,\"zones\":[]}", "\"n2\"");
	bad_status("{\"node\":5,\"online\":true,\"boot\":1}", "\"node\" must be a string");
	bad_status("{\"node\":\"n1\",\"online\":\"yes\",\"boot\":1}", "\"online\"");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":\"seven\"}", "\"boot\"");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":-5,\"zones\":[]}", "\"boot\"");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1e400}", "not JSON");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":99999999999999999999999}",
		   "not JSON");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":9007199254740992,\"zones\":[]}",
		   "\"boot\"");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1.5}", "\"boot\"");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1}", "\"zones\" is missing");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1,\"zones\":\"thon-1\"}",
		   "\"zones\" must be a list");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1,\"zones\":[\"thon-1/../x\"]}",
		   "entry 1");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1,\"zones\":[5]}", "entry 1");
	bad_status("{\"node\":\"n1\",\"site\":\"xa-other\",\"online\":true,\"boot\":1,"
		   "\"zones\":[]}", "site");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1,\"zones\":[],\"version\":"
		   "\"a\\nb\"}", "version");
	bad_status("{\"node\":\"n1\",\"online\":true,\"boot\":1,\"zones\":[],\"playing\":3}",
		   "playing");
	bad_status("{\"node\":\"n1\",\"node\":\"n1\",\"online\":true,\"boot\":1,\"zones\":[]}",
		   "not JSON");
}

static void bad_event(const char *json, const char *want)
{
	struct ctl_event ev;
	char err[256] = "";
	int rc = ctl_parse_event("n1", json, strlen(json), &ev, err, sizeof(err));

	CHECK(rc == -EINVAL && strstr(err, want), "event %.60s refused: %s", json, err);
}

static void test_event(void)
{
	struct ctl_event ev;
	char err[256], big[1200];
	const char *good = "{\"id\":\"n1-7-12\",\"node\":\"n1\",\"boot\":7,\"type\":"
			   "\"play_finished\",\"ts\":1795000000000,\"broadcast\":"
			   "\"b-20261123-011500-0001\",\"content\":\"" ZEROS "\",\"start\":"
			   "1795000000000,\"duration_ms\":5120,\"reason\":\"\"}";

	const char *proof = "{\"id\":\"n1-7-13\",\"node\":\"n1\",\"boot\":7,\"type\":"
			    "\"play_finished\",\"ts\":1795000000000,\"occurrence\":\"o-morning-1\","
			    "\"plan_seq\":42,\"scheduled\":1795000000000,\"start\":1795000000012,"
			    "\"error_ms\":3.5,\"duration_ms\":5120,\"end\":\"preempted\","
			    "\"preemptor\":\"b-1\",\"level\":\"normal\",\"title\":\"Ch\u01b0\u01a1ng\"}";

	CHECK(ctl_parse_event("n1", good, strlen(good), &ev, err, sizeof(err)) == 0 &&
	      strcmp(ev.id, "n1-7-12") == 0 && ev.duration_ms == 5120 && ev.boot == 7 &&
	      ev.plan_seq == -1 && ev.error_ms < 0 && ev.data && strstr(ev.data, "n1-7-12"),
	      "the protocol's example event parses");
	free(ev.data);
	CHECK(ctl_parse_event("n1", proof, strlen(proof), &ev, err, sizeof(err)) == 0 &&
	      strcmp(ev.occurrence, "o-morning-1") == 0 && ev.plan_seq == 42 &&
	      ev.scheduled == 1795000000000 && ev.start == 1795000000012 &&
	      ev.error_ms > 3.4 && ev.error_ms < 3.6 && strcmp(ev.end, "preempted") == 0 &&
	      strcmp(ev.preemptor, "b-1") == 0 && strcmp(ev.level, "normal") == 0 &&
	      strcmp(ev.title, "Ch\xc6\xb0\xc6\xa1ng") == 0,
	      "a plan item's proof-of-play fields parse (%s)", err);
	free(ev.data);
	CHECK(ctl_parse_event("n1", "{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":"
			      "\"node_started\",\"ts\":1}", 65, &ev, err, sizeof(err)) == 0,
	      "an event type this controller has no special use for is still stored (%s)",
	      err);
	free(ev.data);
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1,\"error_ms\":\"small\"}", "error_ms");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1,\"plan_seq\":-2}", "plan_seq");
	bad_event("{\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\",\"ts\":1}", "\"id\"");
	bad_event("{\"id\":{\"a\":1},\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1}", "\"id\"");
	bad_event("{\"id\":\"a b\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1}", "\"id\"");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"Self-Destruct\","
		  "\"ts\":1}", "not an event type");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n2\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1}", "\"n2\"");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":\"now\"}", "\"ts\"");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1,\"duration_ms\":1e400}", "not JSON");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1,\"duration_ms\":-3}", "duration_ms");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1,\"content\":\"../../etc/passwd\"}", "content");
	bad_event("{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":\"play_finished\","
		  "\"ts\":1,\"broadcast\":\"b x\"}", "broadcast");
	/* a long reason is kept, cut */
	snprintf(big, sizeof(big), "{\"id\":\"n1-1-1\",\"node\":\"n1\",\"boot\":1,\"type\":"
		 "\"play_failed\",\"ts\":1,\"reason\":\"%0900d\"}", 0);
	CHECK(ctl_parse_event("n1", big, strlen(big), &ev, err, sizeof(err)) == 0 &&
	      strlen(ev.reason) == CTL_REASON_MAX - 1, "a 900-character reason is cut to %d",
	      CTL_REASON_MAX - 1);
	free(ev.data);
}

static void bad_fetch(const char *json, const char *want)
{
	struct ctl_fetch_req req;
	char err[256] = "";
	int rc = ctl_parse_fetch("n1", json, strlen(json), &req, err, sizeof(err));

	CHECK(rc == -EINVAL && strstr(err, want), "fetch %.60s refused: %s", json, err);
}

static void test_fetch_parse(void)
{
	struct ctl_fetch_req req;
	char err[256];
	const char *good = "{\"node\":\"n1\",\"content\":\"" ZEROS "\",\"from\":3,\"count\":16}";

	CHECK(ctl_parse_fetch("n1", good, strlen(good), &req, err, sizeof(err)) == 0 &&
	      req.from == 3 && req.count == 16, "a fetch request parses");
	bad_fetch("{\"node\":\"n1\",\"content\":\"../../../etc/passwd\",\"from\":0,\"count\":1}",
		  "content");
	bad_fetch("{\"node\":\"n1\",\"content\":\"" ZEROS "\",\"from\":-1,\"count\":1}", "from");
	bad_fetch("{\"node\":\"n1\",\"content\":\"" ZEROS "\",\"from\":0,\"count\":0}", "count");
	bad_fetch("{\"node\":\"n1\",\"content\":\"" ZEROS "\",\"from\":0,\"count\":"
		  "1000000000000}", "count");
	bad_fetch("{\"node\":\"n1\",\"content\":\"" ZEROS "\",\"from\":0,\"count\":\"all\"}",
		  "count");
	bad_fetch("{\"node\":\"n1\",\"content\":\"" ZEROS "\",\"from\":4294967296,\"count\":1}",
		  "from");
	bad_fetch("{\"node\":\"n2\",\"content\":\"" ZEROS "\",\"from\":0,\"count\":1}", "\"n2\"");
	bad_fetch("{\"node\":\"n1\",\"content\":\"" ZEROS "\",\"from\":0}", "count");
}

/* ------------------------------------------------------------ routing */

static void route(const char *topic, const void *p, size_t len, const char *want)
{
	const char *out;

	capture_begin();
	ctl_mqtt_route(&c, topic, p, len, 0);
	out = capture_end();
	CHECK(strstr(out, want) != NULL, "%s (%zu bytes): logged \"%s\"", topic, len, want);
}

static void test_route(void)
{
	static char huge[CTL_MAX_INBOUND + 1];

	memset(huge, '{', sizeof(huge));
	route("loaxa/xa-test/node/n1/status", huge, sizeof(huge),
	      "ignoring a 65537-byte message on loaxa/xa-test/node/n1/status");
	route("loaxa/xa-test/node/N1!/status", "{}", 2, "\"N1!\" is not a valid node id");
	route("loaxa/xa-test/node/n1/whatever", "{}", 2, "unexpected topic");
	route("loaxa/other/node/n1/status", "{}", 2, "unexpected topic");
	route("loaxa/xa-test/node//status", "{}", 2, "not valid");
	route("loaxa/xa-test/node/n1/event", "", 0, "ignoring an empty message on "
	      "loaxa/xa-test/node/n1/event");
	route("loaxa/xa-test/node/n1/fetch", "\x01\x02", 2,
	      "ignoring a fetch on loaxa/xa-test/node/n1/fetch: not JSON");
	route("loaxa/xa-test/node/n1/event", "[[[[[", 5,
	      "ignoring an event on loaxa/xa-test/node/n1/event");
	{
		const char *st = "{\"node\":\"n1\",\"online\":true,\"boot\":1,"
				 "\"zones\":[\"thon-1\"]}";
		route("loaxa/xa-test/node/n1/status", st, strlen(st), "node n1 is online");
	}
}

/* ------------------------------------------------------------ delivery */

static void store_content(const char *id_out_path, uint8_t *data, size_t len, char *id)
{
	struct ctl_content_row row;
	char path[PATH_MAX + 16];

	(void)id_out_path;
	snprintf(path, sizeof(path), "%s/tmp.opus", c.content_dir);
	write_file_atomic(path, data, len, 0644);
	sha256_file_hex(path, id);
	{
		char final[PATH_MAX + 80];
		snprintf(final, sizeof(final), "%s/%s.opus", c.content_dir, id);
		rename(path, final);
	}
	memset(&row, 0, sizeof(row));
	snprintf(row.id, sizeof(row.id), "%s", id);
	strcpy(row.title, "test");
	row.duration_ms = 1000;
	row.bytes = (int64_t)len;
	ctl_db_content_add(&c.db, &row, NULL);
}

static void test_delivery(void)
{
	static uint8_t data[5000], got[5000];
	char id[65], fetch[256];
	struct envelope env;
	struct chunk_hdr ch;
	char why[256];
	uint64_t last_seq = 0;
	int i, ok_all = 1, in_order = 1;
	size_t off = 0;

	for (i = 0; i < (int)sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	store_content(NULL, data, sizeof(data), id);

	/* 5000 bytes in 1024-byte chunks: 5 chunks; window 4 */
	snprintf(fetch, sizeof(fetch), "{\"node\":\"n1\",\"content\":\"%s\",\"from\":0,"
		 "\"count\":16}", id);
	clear_sent();
	CHECK(ctl_delivery_on_fetch(&c, "n1", fetch, strlen(fetch)) == 0, "fetch queued");
	ctl_delivery_pump(&c);
	CHECK(nsent == 4, "count 16 is cut to delivery.window = 4 chunks (sent %d)", nsent);
	snprintf(fetch, sizeof(fetch), "{\"node\":\"n1\",\"content\":\"%s\",\"from\":4,"
		 "\"count\":4}", id);
	ctl_delivery_on_fetch(&c, "n1", fetch, strlen(fetch));
	ctl_delivery_pump(&c);
	CHECK(nsent == 5, "the next window brings the last chunk");
	for (i = 0; i < nsent; i++) {
		enum envelope_result r = envelope_open(&ver, sent[i].buf, sent[i].len, now_ms(),
						       &env);
		if (r != ENV_OK || env.type != ENV_CONTENT || sent[i].kind != CTL_CONN_BULK ||
		    strcmp(sent[i].topic, "loaxa/xa-test/node/n1/content") != 0) {
			ok_all = 0;
			continue;
		}
		if (env.seq <= last_seq)
			ok_all = 0;
		last_seq = env.seq;
		/* the node's own parser (chunk.h) reads what the controller wrote */
		if (chunk_parse(env.body, env.body_len, &ch, why, sizeof(why)) < 0 ||
		    ch.index != (uint32_t)i || ch.count != 5 || ch.size != 1024) {
			in_order = 0;
			continue;
		}
		memcpy(got + off, ch.data, ch.data_len);
		off += ch.data_len;
	}
	CHECK(ok_all, "every chunk is a signed content envelope on the bulk connection, "
	      "to node/n1/content, with increasing sequences");
	CHECK(in_order, "chunk index, count 5 and size 1024 are in each body");
	CHECK(off == sizeof(data) && memcmp(got, data, sizeof(data)) == 0,
	      "the chunks put together are the file");

	/* unknown content: one "not here" answer */
	clear_sent();
	snprintf(fetch, sizeof(fetch), "{\"node\":\"n2\",\"content\":\"%s\",\"from\":0,"
		 "\"count\":4}", ZEROS);
	capture_begin();
	ctl_delivery_on_fetch(&c, "n2", fetch, strlen(fetch));
	capture_end();
	ctl_delivery_pump(&c);
	CHECK(nsent == 1 && envelope_open(&ver, sent[0].buf, sent[0].len, now_ms(), &env) ==
	      ENV_OK && env.body_len == CHUNK_HEADER &&
	      chunk_parse(env.body, env.body_len, &ch, why, sizeof(why)) == 0 && ch.count == 0 &&
	      ch.total == 0,
	      "unknown content is answered once with chunk count 0 and total size 0");

	/* a chunk beyond the end is ignored */
	clear_sent();
	snprintf(fetch, sizeof(fetch), "{\"node\":\"n1\",\"content\":\"%s\",\"from\":5,"
		 "\"count\":4}", id);
	capture_begin();
	CHECK(ctl_delivery_on_fetch(&c, "n1", fetch, strlen(fetch)) == 1,
	      "a fetch from chunk 5 of 5 is ignored");
	CHECK(strstr(capture_end(), "only 5 chunks") != NULL, "and the log says why");
	ctl_delivery_pump(&c);
	CHECK(nsent == 0, "nothing sent for it");
	clear_sent();
}

/* A node may have at most 4 contents in delivery at once (delivery.h). */
static void test_fetch_cap(void)
{
	static uint8_t data[6][3000];
	char id[6][65], fetch[512];
	json_t *rl;
	int i, queued = 0, refused = 0, rc;

	for (i = 0; i < 6; i++) {
		memset(data[i], 'a' + i, sizeof(data[i]));
		store_content(NULL, data[i], sizeof(data[i]), id[i]);
	}
	clear_sent();
	capture_begin();
	for (i = 0; i < 6; i++) {
		snprintf(fetch, sizeof(fetch), "{\"node\":\"n7\",\"content\":\"%s\","
			 "\"from\":0,\"count\":1}", id[i]);
		rc = ctl_delivery_on_fetch(&c, "n7", fetch, strlen(fetch));
		queued += rc == 0;
		refused += rc == 1;
	}
	CHECK(queued == 4 && refused == 2, "a node asking for 6 contents at once gets 4 "
	      "(queued %d, refused %d)", queued, refused);
	CHECK(strstr(capture_end(), "node n7: asks for more contents") != NULL,
	      "the refusal is logged naming the node");
	rl = ctl_ratelimit_json();
	CHECK(json_integer_value(json_object_get(json_object_get(rl, "n7"), "fetch_busy")) == 2,
	      "and counted for GET /v1/security (rate_limited.n7.fetch_busy = 2)");
	json_decref(rl);
	snprintf(fetch, sizeof(fetch), "{\"node\":\"n8\",\"content\":\"%s\",\"from\":0,"
		 "\"count\":1}", id[5]);
	CHECK(ctl_delivery_on_fetch(&c, "n8", fetch, strlen(fetch)) == 0,
	      "another node still gets its content");
	snprintf(fetch, sizeof(fetch), "{\"node\":\"n7\",\"content\":\"%s\",\"from\":0,"
		 "\"count\":1}", id[0]);
	CHECK(ctl_delivery_on_fetch(&c, "n7", fetch, strlen(fetch)) == 0,
	      "asking again for a content in delivery is not a new one: accepted");
	for (i = 0; i < 20 && ctl_delivery_more(&c); i++)
		ctl_delivery_pump(&c);
	snprintf(fetch, sizeof(fetch), "{\"node\":\"n7\",\"content\":\"%s\",\"from\":0,"
		 "\"count\":1}", id[5]);
	CHECK(ctl_delivery_on_fetch(&c, "n7", fetch, strlen(fetch)) == 0,
	      "once its deliveries are sent, the node may ask for the next");
	for (i = 0; i < 20 && ctl_delivery_more(&c); i++)
		ctl_delivery_pump(&c);
	clear_sent();
}

/* ------------------------------------------------------------ broadcasts */

static void test_broadcast(void)
{
	struct ctl_play_request req;
	struct envelope env;
	json_t *reply = NULL, *body;
	char err[512], id[65], json[512];
	uint64_t seq1 = 0;
	uint8_t data[100] = { 1 };
	int rc;

	store_content(NULL, data, sizeof(data), id);
	{
		const char *st = "{\"node\":\"n2\",\"online\":true,\"boot\":1,"
				 "\"zones\":[\"thon-1\"]}";
		ctl_nodes_on_status(&c, "n2", st, strlen(st), 0);
	}

	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"zone\":\"thon-1\"}", id);
	CHECK(ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err)) == 0 &&
	      strcmp(req.level, "normal") == 0 && req.volume == 100,
	      "a play request parses with level normal, volume 100");
	clear_sent();
	capture_begin();
	rc = ctl_broadcast_play(&c, &req, &reply, err, sizeof(err));
	CHECK(strstr(capture_end(), "to zone thon-1: 2 nodes (n1, n2)") != NULL,
	      "the log says: broadcast ... to zone thon-1: 2 nodes (n1, n2)");
	CHECK(rc == 0 && reply && json_array_size(json_object_get(reply, "targets")) == 2,
	      "broadcast to thon-1 targets n1 and n2");
	json_decref(reply);
	CHECK(nsent == 1 && sent[0].kind == CTL_CONN_CTL &&
	      strcmp(sent[0].topic, "loaxa/xa-test/zone/thon-1/cmd") == 0,
	      "one command on zone/thon-1/cmd, control connection");
	CHECK(nsent == 1 && envelope_open(&ver, sent[0].buf, sent[0].len, now_ms(), &env) ==
	      ENV_OK && env.type == ENV_CMD && env.expires_at - env.issued_at == CTL_CMD_TTL_MS,
	      "it is a signed cmd envelope that expires 10 minutes after issue");
	seq1 = env.seq;
	body = json_loadb((const char *)env.body, env.body_len, 0, NULL);
	CHECK(body && strcmp(json_string_value(json_object_get(body, "cmd")), "play") == 0 &&
	      strcmp(json_string_value(json_object_get(body, "content")), id) == 0 &&
	      json_integer_value(json_object_get(body, "bytes")) == 100 &&
	      json_is_string(json_object_get(body, "broadcast")),
	      "its body: cmd play, the broadcast, content id and bytes");
	json_decref(body);

	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"all\":true,\"level\":\"emergency\"}",
		 id);
	ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err));
	capture_begin();
	rc = ctl_broadcast_play(&c, &req, &reply, err, sizeof(err));
	capture_end();
	json_decref(reply);
	CHECK(rc == 0 && nsent == 2 && strcmp(sent[1].topic, "loaxa/xa-test/zone/all/cmd") == 0 &&
	      envelope_open(&ver, sent[1].buf, sent[1].len, now_ms(), &env) == ENV_OK &&
	      env.seq > seq1, "--all goes to zone/all/cmd with a higher sequence");

	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"zone\":\"nowhere\"}", id);
	ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err));
	capture_begin();
	rc = ctl_broadcast_play(&c, &req, &reply, err, sizeof(err));
	capture_end();
	CHECK(rc == -ENOENT && strstr(err, "zone \"nowhere\""), "an empty zone: %s", err);
	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"node\":\"n9\"}", id);
	ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err));
	rc = ctl_broadcast_play(&c, &req, &reply, err, sizeof(err));
	CHECK(rc == -ENOENT && strstr(err, "n9"), "an unknown node: %s", err);
	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"node\":\"n1\"}", ZEROS);
	ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err));
	rc = ctl_broadcast_play(&c, &req, &reply, err, sizeof(err));
	CHECK(rc == -ENOENT && strstr(err, "no content"), "unknown content: %s", err);
	CHECK(nsent == 2, "nothing published for refused broadcasts");

	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"zone\":\"a\",\"node\":\"n1\"}", id);
	CHECK(ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "exactly one"), "two targets at once: %s", err);
	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"all\":true,\"level\":\"loud\"}", id);
	CHECK(ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "level"), "an unknown level: %s", err);
	snprintf(json, sizeof(json), "{\"content\":\"%s\",\"all\":true,\"volume\":101}", id);
	CHECK(ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "volume"), "volume 101: %s", err);
	snprintf(json, sizeof(json), "{\"content\":\"abc\",\"all\":true}");
	CHECK(ctl_parse_play_request(json, strlen(json), &req, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "content"),
	      "a short content id: %s", err);
	clear_sent();
}

int main(void)
{
	log_init("test_controller_input", 0);
	setup();
	test_status();
	test_event();
	test_fetch_parse();
	test_route();
	test_delivery();
	test_fetch_cap();
	test_broadcast();
	cleanup();
	TAP_EXIT();
}
