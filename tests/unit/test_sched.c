/*
 * test_sched.c - the node's scheduling decisions, pure parts: the priority
 * model (levels, preemption, pick order, re-queue), plan validation field
 * by field (plan.c). The clock estimate (clock.c): test_clock.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "cmd.h"
#include "events.h"
#include "fetch.h"
#include "node.h"
#include "playout.h"
#include "live.h"
#include "log.h"
#include "plan.h"
#include "queue.h"
#include "tap.h"
#include "util.h"

#define CID "8038d57869d3ec929ccf9939cbe1391d17953923eceb5e6701400637c8065d1d"
#define CID2 "1111111111111111111111111111111111111111111111111111111111111111"
#define NOW 1795000000000LL

/* ---------------------------------------------------------------- levels */

static void test_levels(void)
{
	static const char *const names[] = { "relay", "normal", "priority", "live", "emergency" };
	enum play_level l;
	struct node_cmd cmd;
	char why[300];
	const char *live = "{\"cmd\":\"play\",\"broadcast\":\"b-1\",\"content\":\"" CID
			   "\",\"level\":\"live\"}";
	int i, ok = 1;

	for (i = 0; i < 5; i++)
		ok &= play_level_parse(names[i], &l) == 0 && (int)l == i &&
		      strcmp(play_level_name(l), names[i]) == 0;
	CHECK(ok, "levels in order relay < normal < priority < live < emergency");
	CHECK(play_level_parse("urgent", &l) == -EINVAL, "an unknown level is refused");
	CHECK(cmd_parse(live, strlen(live), NOW, 1u << 30, &cmd, why, sizeof(why)) == -EINVAL &&
	      strstr(why, "\"level\""), "a play command cannot take level live (%s)", why);
	CHECK(queue_preempts(LEVEL_RELAY, LEVEL_NORMAL) && queue_preempts(LEVEL_NORMAL,
									   LEVEL_PRIORITY) &&
	      queue_preempts(LEVEL_PRIORITY, LEVEL_LIVE) && queue_preempts(LEVEL_LIVE,
									LEVEL_EMERGENCY),
	      "each level preempts the one below");
	CHECK(!queue_preempts(LEVEL_NORMAL, LEVEL_NORMAL) && !queue_preempts(LEVEL_EMERGENCY,
									      LEVEL_EMERGENCY),
	      "equal levels do not preempt (they queue)");
	CHECK(!queue_preempts(LEVEL_EMERGENCY, LEVEL_LIVE) && !queue_preempts(LEVEL_PRIORITY,
									       LEVEL_RELAY),
	      "a lower level never preempts a higher one");
}

/* ---------------------------------------------------------------- pick, requeue */

static struct play_item items[6];

static void add(struct play_queue *q, int i, enum play_level level, uint64_t order, int ready,
		int64_t at)
{
	struct play_item *it = &items[i];

	memset(it, 0, sizeof(*it));
	snprintf(it->broadcast, sizeof(it->broadcast), "b-%d", i);
	it->level = level;
	it->order = order;
	it->ready = ready;
	it->at = at;
	it->expires = NOW + 600000;
	it->next = NULL;
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
}

static void test_pick(void)
{
	struct play_queue q;
	struct play_item *p;

	memset(&q, 0, sizeof(q));
	CHECK(queue_pick(&q, NOW, 0) == NULL, "an empty queue picks nothing");
	add(&q, 0, LEVEL_NORMAL, 1, 1, 0);
	add(&q, 1, LEVEL_NORMAL, 2, 1, 0);
	add(&q, 2, LEVEL_RELAY, 0, 1, 0);
	p = queue_pick(&q, NOW, 0);
	CHECK(p == &items[0], "equal levels: the first to arrive plays first (got %s)",
	      p ? p->broadcast : "none");
	add(&q, 3, LEVEL_EMERGENCY, 9, 0, 0);
	p = queue_pick(&q, NOW, 0);
	CHECK(p == &items[0], "an emergency whose content is not ready does not jump ahead");
	items[3].ready = 1;
	p = queue_pick(&q, NOW, 0);
	CHECK(p == &items[3], "a ready emergency goes first whatever its arrival");
	add(&q, 4, LEVEL_EMERGENCY, 10, 1, NOW + 5000);
	items[3].ready = 0;
	p = queue_pick(&q, NOW, 0);
	CHECK(p == &items[0], "a scheduled emergency is not due 5 s ahead of its time");
	p = queue_pick(&q, NOW, 6000);
	CHECK(p == &items[4], "it is due once its time minus the start lead has come");
	/* a preempted item re-queued keeps its order: first of its level */
	memset(&q, 0, sizeof(q));
	add(&q, 0, LEVEL_RELAY, 7, 1, 0);
	add(&q, 1, LEVEL_RELAY, 3, 1, 0);
	p = queue_pick(&q, NOW, 0);
	CHECK(p == &items[1], "a re-queued item (earlier arrival) plays before later ones "
	      "of its level");
	/* re-queue decision: still valid vs expired */
	items[1].expires = NOW + 1;
	CHECK(queue_requeue_ok(&items[1], NOW), "a preempted item before its expiry is re-queued");
	items[1].expires = NOW;
	CHECK(!queue_requeue_ok(&items[1], NOW), "a preempted item at its expiry is not "
	      "re-queued (logged as play_preempted)");
}

/* ---------------------------------------------------------------- plans */

#define ITEM(extra) "{\"id\":\"o-1\",\"at\":1795000060000,\"content\":\"" CID "\"" extra "}"
#define PLAN(items) "{\"node\":\"n1\",\"generated\":1795000000000,\"horizon\":1795600000000," \
		    "\"items\":[" items "]}"

static int parse_plan(const char *json, struct plan *p, char *why, size_t whylen)
{
	return plan_parse((const uint8_t *)json, strlen(json), "n1", p, why, whylen);
}

struct bad {
	const char *json;
	const char *field;  /* must appear in the message */
	const char *what;
};

static void test_plan(void)
{
	static const struct bad bad[] = {
		{ "{\"node\":", "not valid JSON", "not JSON" },
		{ "[1]", "not an object", "not an object" },
		{ "{\"generated\":1,\"horizon\":1795600000000,\"items\":[]}", "node", "node missing" },
		{ "{\"node\":\"n2\",\"generated\":1,\"horizon\":1795600000000,\"items\":[]}",
		  "node", "plan for another node" },
		{ "{\"node\":\"n1\",\"horizon\":1795600000000,\"items\":[]}", "generated",
		  "generated missing" },
		{ "{\"node\":\"n1\",\"generated\":\"x\",\"horizon\":1795600000000,\"items\":[]}",
		  "generated", "generated not a number" },
		{ "{\"node\":\"n1\",\"generated\":1795000000000,\"items\":[]}", "horizon",
		  "horizon missing" },
		{ "{\"node\":\"n1\",\"generated\":1795700000000,\"horizon\":1795600000000,"
		  "\"items\":[]}", "horizon", "horizon before generated" },
		{ "{\"node\":\"n1\",\"generated\":1795000000000,\"horizon\":1795600000000}",
		  "items", "items missing" },
		{ "{\"node\":\"n1\",\"generated\":1795000000000,\"horizon\":1795600000000,"
		  "\"items\":{}}", "items", "items not a list" },
		{ PLAN("7"), "items[0]", "an item not an object" },
		{ PLAN("{\"at\":1795000060000,\"content\":\"" CID "\"}"), "items[0].id",
		  "id missing" },
		{ PLAN("{\"id\":\"o 1\",\"at\":1795000060000,\"content\":\"" CID "\"}"),
		  "items[0].id", "id with a space" },
		{ PLAN("{\"id\":\"o-1\",\"content\":\"" CID "\"}"), ".at", "at missing" },
		{ PLAN("{\"id\":\"o-1\",\"at\":17950,\"content\":\"" CID "\"}"), ".at",
		  "at not a plausible time" },
		{ PLAN("{\"id\":\"o-1\",\"at\":1795900000000,\"content\":\"" CID "\"}"), ".at",
		  "at after the horizon" },
		{ PLAN(ITEM(",\"expires\":1795000000000")), ".expires", "expires before at" },
		{ PLAN("{\"id\":\"o-1\",\"at\":1795000060000}"), ".content", "content missing" },
		{ PLAN("{\"id\":\"o-1\",\"at\":1795000060000,\"content\":\"abc\"}"), ".content",
		  "content not a hash" },
		{ PLAN("{\"id\":\"o-1\",\"at\":1795000060000,\"content\":\"" CID "0\"}"),
		  ".content", "content one digit too long" },
		{ PLAN(ITEM(",\"bytes\":-1")), ".bytes", "bytes negative" },
		{ PLAN(ITEM(",\"duration_ms\":1.5")), ".duration_ms", "duration_ms not whole" },
		{ PLAN(ITEM(",\"level\":\"urgent\"")), ".level", "unknown level" },
		{ PLAN(ITEM(",\"level\":\"live\"")), ".level", "level live in a plan" },
		{ PLAN(ITEM(",\"volume\":101")), ".volume", "volume over 100" },
		{ PLAN(ITEM(",\"chime\":\"xyz\"")), ".chime", "chime not a hash" },
		{ PLAN(ITEM(",\"chime_bytes\":\"9\"")), ".chime_bytes", "chime_bytes a string" },
		{ PLAN(ITEM(",\"warmup_s\":601")), ".warmup_s", "warmup_s over 600" },
		{ PLAN(ITEM(",\"title\":5")), ".title", "title not a string" },
		{ PLAN(ITEM(",\"item\":[]")), ".item", "item not a string" },
		{ PLAN("{\"id\":\"o-1\",\"at\":1795000060000,\"source\":\"ftp:x\",\"until\":"
		       "1795000090000}"), ".source", "relay source of an unknown kind" },
		{ PLAN("{\"id\":\"o-1\",\"at\":1795000060000,\"source\":\"alsa:hw:1\"}"),
		  ".until", "relay source without until" },
		{ PLAN(ITEM("") "," ITEM("")), "items[1].id", "duplicate occurrence id" },
		{ "{\"node\":\"n1\",\"generated\":1795000000000,\"horizon\":1795600000000,"
		  "\"revoked\":\"n2\",\"items\":[]}", "revoked", "revoked not a list" },
		{ "{\"node\":\"n1\",\"generated\":1795000000000,\"horizon\":1795600000000,"
		  "\"revoked\":[\"N 2\"],\"items\":[]}", "revoked[0]", "revoked entry not a node id" },
	};
	struct plan p;
	char why[400];
	size_t i;
	int rc;

	rc = parse_plan(PLAN(ITEM(",\"level\":\"priority\",\"volume\":80,\"chime\":\"" CID2
				  "\",\"warmup_s\":3,\"title\":\"Ch\\u01b0\\u01a1ng tr\\u00ecnh\\n"
				  "s\\u00e1ng\",\"bytes\":12,\"duration_ms\":5000,\"item\":\"morning\"")
			     ",{\"id\":\"o-0\",\"at\":1795000030000,\"content\":\"" CID2 "\"}"),
			&p, why, sizeof(why));
	CHECK(rc == 0, "a valid plan with two items parses (%s)", rc ? why : "");
	if (rc == 0) {
		CHECK(p.n == 2 && strcmp(p.items[0].id, "o-0") == 0 &&
		      strcmp(p.items[1].id, "o-1") == 0, "items are sorted by time");
		CHECK(p.items[1].level == LEVEL_PRIORITY && p.items[1].volume == 80 &&
		      p.items[1].warmup_s == 3 && strcmp(p.items[1].chime, CID2) == 0 &&
		      p.items[1].bytes == 12 && p.items[1].duration_ms == 5000,
		      "level, volume, warm-up, chime, bytes, duration are kept");
		CHECK(p.items[1].expires == p.items[1].at + PLAN_DEFAULT_EXPIRY_MS,
		      "expires defaults to 10 minutes after at");
		CHECK(strchr(p.items[1].title, '\n') == NULL && strstr(p.items[1].title, "s\xc3\xa1ng"),
		      "the title keeps Vietnamese letters, loses control characters");
		CHECK(p.items[0].level == LEVEL_NORMAL && p.items[0].volume == 100 &&
		      p.items[0].warmup_s == -1 && p.items[0].chime[0] == '\0',
		      "defaults: level normal, volume 100, no warm-up given, no chime");
		plan_clear(&p);
	}
	rc = parse_plan(PLAN(""), &p, why, sizeof(why));
	CHECK(rc == 0 && p.n == 0 && !p.revokes_me,
	      "an empty items list is a valid plan (nothing scheduled)");
	plan_clear(&p);
	rc = parse_plan("{\"node\":\"n1\",\"generated\":1795000000000,\"horizon\":1795600000000,"
			"\"revoked\":[\"n7\"],\"items\":[]}", &p, why, sizeof(why));
	CHECK(rc == 0 && !p.revokes_me, "a plan revoking another node is valid for this one");
	plan_clear(&p);
	rc = parse_plan("{\"node\":\"n1\",\"generated\":1795000000000,\"horizon\":1795600000000,"
			"\"revoked\":[\"n7\",\"n1\"],\"items\":[]}", &p, why, sizeof(why));
	CHECK(rc == 0 && p.revokes_me, "a plan that lists this node as revoked says so");
	plan_clear(&p);
	rc = parse_plan(PLAN("{\"id\":\"r-1\",\"at\":1795000060000,\"source\":\"alsa:hw:1\","
			     "\"until\":1795000960000,\"level\":\"relay\"}"), &p, why, sizeof(why));
	CHECK(rc == 0 && p.n == 1 && strcmp(p.items[0].source, "alsa:hw:1") == 0 &&
	      p.items[0].content[0] == '\0', "a relay item has a source and until instead of "
	      "content (%s)", rc ? why : "");
	plan_clear(&p);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		why[0] = '\0';
		rc = parse_plan(bad[i].json, &p, why, sizeof(why));
		/* a plan for another node is misaddressed (wrong_target), not malformed */
		CHECK(rc == (strstr(bad[i].what, "another node") ? -EXDEV : -EINVAL) && strstr(why, bad[i].field) != NULL &&
		      p.items == NULL, "bad plan refused, naming %s: %s -> %s", bad[i].field, bad[i].what, why);
	}
}

/* ---------------------------------------------------------------- cache eviction */

static struct node evict_node; /* large: not on the stack */

static void put_file(const char *dir, const char *id, size_t size)
{
	char path[PATH_MAX + 80];
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.opus", dir, id) >= sizeof(path))
		return;
	f = fopen(path, "w");
	if (!f)
		return;
	while (size--)
		fputc('x', f);
	fclose(f);
}

static void test_eviction(void)
{
	static const char *const ids[] = {
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* pending item */
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", /* its chime */
		"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", /* played item */
		"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", /* expired item */
		"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", /* no item */
	};
	struct node *n = &evict_node;
	struct plan_item it[3];
	char dir[] = "/tmp/loaxa-test-evict.XXXXXX", cmd[600];
	int64_t now = now_ms();
	size_t i;

	if (!mkdtemp(dir)) {
		CHECK(0, "a temporary directory for the cache");
		return;
	}
	memset(n, 0, sizeof(*n));
	cache_init(&n->cache, dir, 4096); /* quota: one 4 KiB file */
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		put_file(n->cache.dir, ids[i], 4096);
	memset(it, 0, sizeof(it));
	snprintf(it[0].id, sizeof(it[0].id), "o-pending");
	memcpy(it[0].content, ids[0], 65);
	memcpy(it[0].chime, ids[1], 65);
	it[0].at = now + 3600000;
	it[0].expires = it[0].at + 600000;
	snprintf(it[1].id, sizeof(it[1].id), "o-played");
	memcpy(it[1].content, ids[2], 65);
	it[1].at = now - 60000;
	it[1].expires = now + 540000;
	it[1].done = 1;
	snprintf(it[2].id, sizeof(it[2].id), "o-expired");
	memcpy(it[2].content, ids[3], 65);
	it[2].at = now - 7200000;
	it[2].expires = now - 6600000;
	n->plan.cur.items = it;
	n->plan.cur.n = 3;
	n->plan.have = 1;
	CHECK(plan_or_queue_uses(n, ids[0]) && plan_or_queue_uses(n, ids[1]),
	      "content and chime of an item still to play are in use");
	CHECK(!plan_or_queue_uses(n, ids[2]) && !plan_or_queue_uses(n, ids[3]) &&
	      !plan_or_queue_uses(n, ids[4]), "played, expired and unplanned content is not");
	cache_evict(&n->cache, plan_or_queue_uses, n);
	CHECK(cache_has(&n->cache, ids[0]) && cache_has(&n->cache, ids[1]),
	      "over its quota, the cache keeps what the plan still needs");
	CHECK(!cache_has(&n->cache, ids[2]) && !cache_has(&n->cache, ids[3]) &&
	      !cache_has(&n->cache, ids[4]), "and evicts the rest");
	n->plan.cur.items = NULL;
	n->plan.cur.n = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---------------------------------------------------------------- live and emergency */

static struct node hold_node;

/*
 * The queue against the other users of the player (live.c, emergency.c): a
 * live session holds it (the queue starts nothing below), an emergency play
 * makes the session yield; queue_preempt with nothing playing says so.
 */
static void test_holders(void)
{
	struct node *n = &hold_node;
	struct play_item it;
	struct playout_cfg pc;
	char dir[] = "/tmp/loaxa-test-hold.XXXXXX", cmd[600];
	char path[PATH_MAX + 80];
	FILE *f;

	if (!mkdtemp(dir)) {
		CHECK(0, "a temporary state directory");
		return;
	}
	memset(n, 0, sizeof(*n));
	snprintf(n->cfg.node, sizeof(n->cfg.node), "n1");
	snprintf(n->cfg.state_dir, sizeof(n->cfg.state_dir), "%s", dir);
	n->cfg.alsa.rate = 48000;
	n->cfg.alsa.buffer_ms = 200;
	cache_init(&n->cache, dir, 1u << 30);
	events_init(n);
	fetch_init(n);
	memset(&pc, 0, sizeof(pc));
	snprintf(pc.device, sizeof(pc.device), "null");
	pc.channels = 1;
	pc.rate = 48000;
	pc.buffer_ms = 200;
	pc.period_ms = 20;
	playout_init(&n->po, &pc);
	queue_init(n);

	CHECK(queue_preempt(n, "e-1") == 0, "queue_preempt with nothing playing preempts nothing");
	/* a live session plays (live.c's state, as live_tick leaves it) */
	n->live.active = 1;
	n->live.playing = 1;
	n->live.level = 3;
	snprintf(n->live.id, sizeof(n->live.id), "l-0001");
	CHECK(live_holds(n), "a live-level session holds the player");
	memset(&it, 0, sizeof(it));
	snprintf(it.broadcast, sizeof(it.broadcast), "b-normal");
	memcpy(it.content, CID, sizeof(CID));
	it.level = LEVEL_NORMAL;
	it.volume = 100;
	it.duration_ms = -1;
	it.warmup_s = -1;
	it.expires = now_ms() + 600000;
	cache_path(&n->cache, CID, ".opus", path, sizeof(path));
	f = fopen(path, "w"); /* "content" that is not Ogg: the player would refuse it */
	if (f) {
		fputs("not ogg", f);
		fclose(f);
	}
	queue_add(n, &it);
	CHECK(queue_pending(&n->queue) == 1 && !queue_current(&n->queue) && !n->live.yielding,
	      "a normal play waits while live holds the player");
	snprintf(it.broadcast, sizeof(it.broadcast), "b-emergency");
	it.level = LEVEL_EMERGENCY;
	queue_add(n, &it);
	CHECK(n->live.yielding && queue_pending(&n->queue) == 2,
	      "an emergency play makes the live session yield (and waits for the player)");
	n->live.active = n->live.playing = 0;
	queue_shutdown(n, "test over");
	playout_close(&n->po);
	events_free(n);
	fetch_free(n);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
	log_init("test_sched", 0);
	test_levels();
	test_pick();
	test_plan();
	test_eviction();
	test_holders();
	TAP_EXIT();
}
