/*
 * test_upper.c - bulletins from above, the node's side without a broker
 * (node/upper.c): the area part of the trust document, its copy on disk,
 * and every check of a message on loaxa/area/<code>/cmd with real Ed25519
 * envelopes - a listed key in its area plays; an unknown key, a key without
 * "emergency" in may, another province's area, a district addressing its
 * province, a commune or village list without this node, a replay, a stop
 * without id are refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "emergency.h"
#include "envelope.h"
#include "node.h"
#include "tap.h"
#include "testclock.h"
#include "upper.h"
#include "util.h"

#define BAIL(...) do { printf("Bail out! "); printf(__VA_ARGS__); printf("\n"); exit(1); } while (0)
#define DIAG(...) do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

#define H1 "1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "3333333333333333333333333333333333333333333333333333333333333333"

static struct node n;
static char dir[64];
static int64_t now;

struct key {
	struct signer s;
	char pub[65];
	uint64_t seq;
};

static void make_key(struct key *k, const char *name, const char *site)
{
	char sec[128], pub[128];
	FILE *f;

	snprintf(sec, sizeof(sec), "%s/%s.key", dir, name);
	snprintf(pub, sizeof(pub), "%s/%s.pub", dir, name);
	if (keypair_generate(sec, pub) < 0 || signer_load(&k->s, sec, site) < 0)
		BAIL("cannot make key %s", name);
	f = fopen(pub, "r");
	if (!f || !fgets(k->pub, sizeof(k->pub), f))
		BAIL("cannot read %s", pub);
	fclose(f);
	k->seq = 1000;
}

/* Seal body as a cmd of key k (site = k's), and run the node's checks. */
static int check(struct key *k, const char *topic, const char *body, uint16_t flags,
		 struct emerg_cmd *ec, int *start, char *why, size_t whylen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (envelope_seal(&k->s, ENV_CMD, flags, ++k->seq, now, now + 300000, body,
			  strlen(body), &buf, &len) < 0)
		BAIL("cannot seal");
	rc = upper_check(&n, topic, buf, len, now, ec, start, why, whylen);
	free(buf);
	return rc;
}

static int doc(const char *json, struct upper_doc *d, char *err)
{
	return upper_doc_parse((const uint8_t *)json, strlen(json), d, err, 200);
}

int main(void)
{
	static struct emerg_cmd ec;
	struct key prov, dist, other, nomay;
	struct upper_doc d;
	char err[200], why[300], text[2048];
	int start = -1, rc;

	snprintf(dir, sizeof(dir), "/tmp/loaxa-test.upper-XXXXXX");
	if (!mkdtemp(dir))
		BAIL("mkdtemp");
	now = 1795000000000LL;
	testclock_set_ms(now);
	snprintf(n.cfg.state_dir, sizeof(n.cfg.state_dir), "%s", dir);
	snprintf(n.cfg.node, sizeof(n.cfg.node), "n1");
	snprintf(n.cfg.zones[0], sizeof(n.cfg.zones[0]), "thon-1");
	n.cfg.nzones = 1;
	n.cfg.max_message_bytes = 256 * 1024;
	n.cfg.max_future_s = 300;
	/* the commune's pre-positioned clips (emergency.h) */
	snprintf(n.emerg.clips[0].name, EMERG_NAME_MAX, "tone");
	snprintf(n.emerg.clips[0].content, CONTENT_ID_LEN + 1, H1);
	snprintf(n.emerg.clips[1].name, EMERG_NAME_MAX, "flood");
	snprintf(n.emerg.clips[1].content, CONTENT_ID_LEN + 1, H2);
	n.emerg.clips[1].bytes = 4321;
	snprintf(n.emerg.clips[2].name, EMERG_NAME_MAX, "drill");
	snprintf(n.emerg.clips[2].content, CONTENT_ID_LEN + 1, H3);
	n.emerg.nclips = 3;

	make_key(&prov, "prov", "40");
	make_key(&dist, "dist", "412");
	make_key(&other, "other", "40");
	make_key(&nomay, "nomay", "412");

	/* ---------------------------------------------------------- the document */
	CHECK(doc("{\"keys\":[]}", &d, err) == 0 && d.nkeys == 0 && !d.area[AREA_COMMUNE][0],
	      "a trust document without area or upper: nothing trusted from above");
	CHECK(doc("{\"area\":{\"commune\":\"1234\"}}", &d, err) < 0 && strstr(err, "area.commune"),
	      "a commune code of 4 digits is refused (%s)", err);
	CHECK(doc("{\"area\":{\"province\":\"4a\"}}", &d, err) < 0 && strstr(err, "area.province"),
	      "a province code with a letter is refused (%s)", err);
	CHECK(doc("{\"area\":{\"commune\":\"12345\",\"district\":\"412\",\"province\":\"40\"},"
		  "\"upper\":[{\"level\":\"province\",\"code\":\"41\",\"key\":\"" H1 "\","
		  "\"may\":[\"emergency\"]}]}", &d, err) < 0 && strstr(err, "not this commune"),
	      "an upper key for another province than the commune's is refused (%s)", err);
	CHECK(doc("{\"area\":{\"commune\":\"12345\",\"district\":\"412\",\"province\":\"40\"},"
		  "\"upper\":[{\"level\":\"commune\",\"code\":\"12345\",\"key\":\"" H1 "\","
		  "\"may\":[]}]}", &d, err) < 0 && strstr(err, "level"),
	      "an upper key at commune level is refused (%s)", err);
	CHECK(doc("{\"area\":{\"commune\":\"12345\",\"district\":\"412\",\"province\":\"40\"},"
		  "\"upper\":[{\"level\":\"province\",\"code\":\"40\",\"key\":\"" H1 "\","
		  "\"may\":[\"everything\"]}]}", &d, err) < 0 && strstr(err, "may[0]"),
	      "an unknown permission is refused, naming the field (%s)", err);
	CHECK(doc("{\"area\":{\"commune\":\"12345\",\"district\":\"412\",\"province\":\"40\"},"
		  "\"upper\":[{\"level\":\"province\",\"code\":\"40\",\"key\":\"xyz\","
		  "\"may\":[]}]}", &d, err) < 0 && strstr(err, "upper[0].key"),
	      "a key that is not 64 hex digits is refused (%s)", err);

	snprintf(text, sizeof(text),
		 "{\"keys\":[],\"area\":{\"commune\":\"12345\",\"district\":\"412\","
		 "\"province\":\"40\"},\"upper\":["
		 "{\"level\":\"province\",\"code\":\"40\",\"key\":\"%s\",\"may\":[\"emergency\","
		 "\"priority\"]},"
		 "{\"level\":\"district\",\"code\":\"412\",\"key\":\"%s\",\"may\":[\"emergency\"]},"
		 "{\"level\":\"district\",\"code\":\"412\",\"key\":\"%s\",\"may\":[\"priority\"]}]}",
		 prov.pub, dist.pub, nomay.pub);
	rc = doc(text, &d, err);
	CHECK(rc == 0 && d.nkeys == 3 && d.keys[0].level == AREA_PROVINCE &&
	      d.keys[0].may == (UPPER_MAY_EMERGENCY | UPPER_MAY_PRIORITY) &&
	      strcmp(d.area[AREA_DISTRICT], "412") == 0, "the commune's document parses (%s)",
	      rc ? err : "");
	upper_apply(&n, &d);
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/upper.json", dir);
		CHECK(access(path, F_OK) == 0, "upper.json is written");
		memset(&n.upper, 0, sizeof(n.upper));
		CHECK(upper_init(&n) == 0 && n.upper.doc.nkeys == 3 &&
		      strcmp(n.upper.doc.keys[1].code, "412") == 0 && n.upper.ver_ok[0],
		      "upper_init takes it back from upper.json (a restart with no controller)");
	}

	/* ---------------------------------------------------------- messages */
	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\"},\"id\":\"e-a40-1\","
		   "\"drill\":false,\"clip\":\"flood\",\"max_s\":60}", 0, &ec, &start, why,
		   sizeof(why));
	CHECK(rc == 0 && start == 1, "the province's emergency for the province is taken (%s)",
	      rc ? why : "");
	CHECK(strcmp(ec.content, H2) == 0 && strcmp(ec.tone, H1) == 0 && ec.bytes == 4321 &&
	      strcmp(ec.from, "province 40") == 0 && ec.issued_at == now && ec.max_s == 60,
	      "its clip is the node's own flood clip, after the tone, from province 40");

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\"},\"id\":\"e-a40-2\","
		   "\"drill\":false,\"clip\":\"storm\"}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc == 0 && strcmp(ec.content, H1) == 0 && !ec.tone[0],
	      "a clip the node lacks: the alert tone alone (%s)", rc ? why : "");

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\"},\"id\":\"d-a40-3\","
		   "\"drill\":true,\"clip\":\"flood\"}", ENV_FLAG_DRILL, &ec, &start, why,
		   sizeof(why));
	CHECK(rc == 0 && ec.drill && strcmp(ec.preamble, H3) == 0,
	      "a drill from above carries the node's drill preamble (%s)", rc ? why : "");

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"12345\",\"villages\":[\"thon-1\"]},"
		   "\"id\":\"e-a40-4\",\"drill\":false,\"clip\":\"flood\"}", 0, &ec, &start, why,
		   sizeof(why));
	CHECK(rc == 0, "the province may address this commune's village thon-1 (%s)",
	      rc ? why : "");

	rc = check(&dist, "loaxa/area/412/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"412\",\"communes\":[\"12345\","
		   "\"12346\"]},\"id\":\"e-a412-1\",\"drill\":false,\"clip\":\"flood\"}", 0, &ec,
		   &start, why, sizeof(why));
	CHECK(rc == 0 && strcmp(ec.from, "district 412") == 0,
	      "the district's emergency naming this commune is taken (%s)", rc ? why : "");

	rc = check(&dist, "loaxa/area/412/cmd",
		   "{\"cmd\":\"emergency_stop\",\"to\":{\"area\":\"412\"},\"id\":\"e-a412-1\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc == 0 && start == 0 && strcmp(ec.id, "e-a412-1") == 0,
	      "the district's stop of its own emergency is taken (%s)", rc ? why : "");

	/* refusals */
	rc = check(&other, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\"},\"id\":\"e-x-1\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "not signed by a key"),
	      "a key the commune does not list is refused (%s)", why);

	rc = check(&nomay, "loaxa/area/412/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"412\"},\"id\":\"e-x-2\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "may not send emergencies"),
	      "a listed key without \"emergency\" in may is refused (%s)", why);

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"41\"},\"id\":\"e-x-3\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "area 41"),
	      "an emergency addressed to another province is refused (%s)", why);

	rc = check(&dist, "loaxa/area/412/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\"},\"id\":\"e-x-4\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "may not address province"),
	      "a district addressing its whole province is refused (%s)", why);

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\",\"communes\":[\"12399\"]},"
		   "\"id\":\"e-x-5\",\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "names communes"),
	      "a list of communes without this one is refused (%s)", why);

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\",\"villages\":[\"thon-9\"]},"
		   "\"id\":\"e-x-6\",\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "villages"),
	      "a list of villages without this node's zone is refused (%s)", why);

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":\"zone/all/cmd\",\"id\":\"e-x-7\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "no destination"),
	      "a commune-style destination string is refused (%s)", why);

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"volume\",\"to\":{\"area\":\"40\"},\"volume\":0}", 0, &ec, &start,
		   why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "not one an upper level may send"),
	      "a command other than an emergency is refused (%s)", why);

	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_stop\",\"to\":{\"area\":\"40\"}}", 0, &ec, &start, why,
		   sizeof(why));
	CHECK(rc < 0 && strstr(why, "must name its emergency"),
	      "a stop from above without id (it would silence the commune's own) is refused (%s)",
	      why);

	rc = check(&prov, "loaxa/area/412/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"412\"},\"id\":\"e-x-8\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && strstr(why, "not signed by a key"),
	      "the province's key on the district's topic is refused (%s)", why);

	/* a replay: a sequence the province used before */
	prov.seq = 1003;
	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\"},\"id\":\"e-x-9\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0 && (strstr(why, "sequence") || strstr(why, "duplicate") ||
			 strstr(why, "replay")), "a sequence already used is refused (%s)", why);

	{
		/* signed for another site (a district key signing as province 40) */
		struct key wrong = dist;

		snprintf(wrong.s.site, sizeof(wrong.s.site), "40");
		rc = check(&wrong, "loaxa/area/412/cmd",
			   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"412\"},\"id\":\"e-x-10\","
			   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
		CHECK(rc < 0, "an envelope of the district's key signed for site 40 is refused (%s)",
		      why);
	}

	CHECK(upper_on_message(&n, "loaxa/area/40/cmd", "garbage", 7, now) == 0 &&
	      n.upper.refused == 1, "upper_on_message counts a refusal (rejected.upper)");
	{
		json_t *rej = json_object();

		upper_rejected_json(&n, rej);
		CHECK(json_integer_value(json_object_get(rej, "upper")) == 1,
		      "the status' rejected object says upper: 1");
		json_decref(rej);
	}

	/* a document without upper: nothing trusted from above any more */
	CHECK(doc("{\"keys\":[]}", &d, err) == 0, "an empty area part parses");
	upper_apply(&n, &d);
	rc = check(&prov, "loaxa/area/40/cmd",
		   "{\"cmd\":\"emergency_start\",\"to\":{\"area\":\"40\"},\"id\":\"e-x-11\","
		   "\"drill\":false}", 0, &ec, &start, why, sizeof(why));
	CHECK(rc < 0, "after a document without upper, the province is not trusted (%s)", why);

	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			DIAG("cannot remove %s", dir);
	}
	TAP_EXIT();
}
