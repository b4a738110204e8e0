/*
 * test_controller_db.c - controller/db.c and the state logic on top of it:
 * schema version, envelope sequences that never go backwards (clock stepped
 * back, restart, reservations), events stored once per (node, id), broadcast
 * targets moving forward only, stale Last Will ignored, silent nodes marked
 * offline, zone resolution.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "capture.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "nodes.h"
#include "tap.h"
#include "testclock.h"
#include "util.h"

static char dir[64];
static char dbpath[128];
static struct ctl c;

static void setup(void)
{
	strcpy(dir, "/tmp/loaxa-test-ctldb-XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(dbpath, sizeof(dbpath), "%s/loaxa.db", dir);
	ctl_config_defaults(&c.cfg);
	strcpy(c.cfg.site, "xa-test");
	ctl_mqtt_init(&c);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void test_schema(void)
{
	struct ctl_db db;
	sqlite3 *h;

	CHECK(ctl_db_open(&db, dbpath) == 0, "a new database is created");
	ctl_db_close(&db);
	CHECK(ctl_db_open(&db, dbpath) == 0, "an existing database opens again");
	ctl_db_close(&db);

	/* A database from a newer controller is refused, not misread. */
	sqlite3_open(dbpath, &h);
	sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL);
	sqlite3_close(h);
	capture_begin();
	CHECK(ctl_db_open(&db, dbpath) == -EINVAL, "a newer schema version is refused");
	CHECK(strstr(capture_end(), "schema version 99") != NULL,
	      "the error names the schema version found");
	/* back to the current version (whatever migrations[] has grown to) */
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", CTL_DB_SCHEMA_VERSION);
		sqlite3_open(dbpath, &h);
		sqlite3_exec(h, sql, NULL, NULL, NULL);
		sqlite3_close(h);
	}
}

static void test_seq(void)
{
	struct ctl_db db;
	uint64_t a = 0, b = 0, d = 0, e = 0, f = 0, g = 0;
	int i, mono = 1;

	CHECK(ctl_db_open(&db, dbpath) == 0, "open for sequences");
	CHECK(ctl_db_next_seq(&db, ENV_CMD, 1000000, &a) == 0 && a == 1000000,
	      "first cmd sequence is now in microseconds (got %llu)", (unsigned long long)a);
	CHECK(ctl_db_next_seq(&db, ENV_CMD, 500, &b) == 0 && b == a + 1,
	      "clock stepped back: sequence still increases (got %llu)",
	      (unsigned long long)b);
	CHECK(ctl_db_next_seq(&db, ENV_CMD, 2000000, &d) == 0 && d == 2000000,
	      "clock forward: sequence follows it");
	for (i = 0; i < 100; i++) {
		uint64_t s;
		ctl_db_next_seq(&db, ENV_CONTENT, 3000000, &s);
		if (s <= e)
			mono = 0;
		e = s;
	}
	CHECK(mono && e == 3000099, "100 content sequences in the same microsecond are "
	      "strictly increasing and contiguous (last %llu)", (unsigned long long)e);
	ctl_db_close(&db);

	/* Restart with a clock far in the past: nothing is reused. */
	CHECK(ctl_db_open(&db, dbpath) == 0, "reopen for sequences");
	CHECK(ctl_db_next_seq(&db, ENV_CMD, 1, &f) == 0 && f == d + 1,
	      "after a restart with the clock back, cmd continues from the stored value "
	      "(%llu > %llu)", (unsigned long long)f, (unsigned long long)d);
	CHECK(ctl_db_next_seq(&db, ENV_CONTENT, 1, &g) == 0 && g > e,
	      "after a restart, content continues above everything handed out before "
	      "(reservation): %llu > %llu", (unsigned long long)g, (unsigned long long)e);
	CHECK(ctl_db_next_seq(&db, ENV_PLAN, 7, &a) == 0 && a == 7,
	      "types are counted separately");
	CHECK(ctl_db_next_seq(&db, (enum envelope_type)0, 7, &a) == -EINVAL,
	      "an unknown type is refused");
	ctl_db_close(&db);
}

static void status(const char *node, const char *json, int retained, int want)
{
	int rc = ctl_nodes_on_status(&c, node, json, strlen(json), retained);

	CHECK(rc == want, "status %s -> %d (got %d)", json, want, rc);
}

static void test_nodes(void)
{
	struct ctl_node_row row;
	char zn[8][CTL_NAME_MAX];
	size_t n = 0;
	const char *out;

	CHECK(ctl_db_open(&c.db, dbpath) == 0, "open for nodes");
	status("n1", "{\"node\":\"n1\",\"online\":true,\"boot\":3,\"version\":\"0.1.0\","
	       "\"zones\":[\"thon-1\",\"thon-2\"]}", 0, 0);
	status("n2", "{\"node\":\"n2\",\"online\":true,\"boot\":1,\"zones\":[\"thon-1\"]}", 0, 0);
	ctl_db_node_get(&c.db, "n1", &row);
	CHECK(row.known && row.online && row.boot == 3 && strcmp(row.version, "0.1.0") == 0,
	      "n1 is online with boot 3 and its version");

	capture_begin();
	status("n1", "{\"node\":\"n1\",\"online\":false,\"boot\":2}", 1, 1);
	out = capture_end();
	CHECK(strstr(out, "stale") && strstr(out, "node n1"),
	      "a stale Will is logged as ignored, naming the node");
	ctl_db_node_get(&c.db, "n1", &row);
	CHECK(row.online && row.boot == 3, "a stale Will (boot 2 < 3) leaves n1 online");

	status("n1", "{\"node\":\"n1\",\"online\":false,\"boot\":3}", 1, 0);
	ctl_db_node_get(&c.db, "n1", &row);
	CHECK(!row.online && row.boot == 3, "the Will of the current boot marks n1 offline");

	status("n1", "{\"node\":\"n1\",\"online\":true,\"boot\":4,\"zones\":[\"thon-1\"]}", 0, 0);
	ctl_db_node_get(&c.db, "n1", &row);
	CHECK(row.online && row.boot == 4, "a new boot brings n1 back online");
	status("n1", "{\"node\":\"n1\",\"online\":false,\"boot\":3}", 0, 1);
	ctl_db_node_get(&c.db, "n1", &row);
	CHECK(row.online, "the late Will of boot 3 arriving after boot 4 is ignored");

	/* A node whose state was reset comes back with a lower boot: accepted. */
	status("n1", "{\"node\":\"n1\",\"online\":true,\"boot\":1,\"zones\":[\"thon-1\"]}", 0, 0);
	ctl_db_node_get(&c.db, "n1", &row);
	CHECK(row.online && row.boot == 1, "an online status with a lower boot is accepted "
	      "(the node's state was reset)");

	capture_begin();
	status("n1", "", 1, 1);
	CHECK(strstr(capture_end(), "node n1") != NULL, "an empty (cleared) status is "
	      "ignored and logged");

	ctl_db_zone_nodes(&c.db, "thon-1", zn, 8, &n);
	CHECK(n == 2 && strcmp(zn[0], "n1") == 0 && strcmp(zn[1], "n2") == 0,
	      "zone thon-1 resolves to n1, n2");
	ctl_db_zone_nodes(&c.db, "thon-2", zn, 8, &n);
	CHECK(n == 0, "n1 left thon-2 with its last status: zone thon-2 is empty");
	ctl_db_zone_nodes(&c.db, NULL, zn, 8, &n);
	CHECK(n == 2, "every node: 2");

	/* Silence: marked offline after offline_after_s. */
	sqlite3_exec(c.db.h, "UPDATE nodes SET last_seen = 1000 WHERE id = 'n2'", NULL,
		     NULL, NULL);
	capture_begin();
	ctl_nodes_tick(&c);
	out = capture_end();
	ctl_db_node_get(&c.db, "n2", &row);
	CHECK(!row.online, "a node silent for longer than offline_after_s is offline");
	CHECK(strstr(out, "node n2 is offline") != NULL, "and the log says so");
	ctl_db_node_get(&c.db, "n1", &row);
	CHECK(row.online, "a node heard from just now stays online");

	/* A retained status is as old as its ts says (not "now"). */
	capture_begin();
	status("n3", "{\"node\":\"n3\",\"online\":true,\"boot\":1,\"zones\":[\"x\"],"
	       "\"ts\":5000}", 1, 1);
	out = capture_end();
	ctl_db_node_get(&c.db, "n3", &row);
	CHECK(row.known && !row.online && row.last_seen == 5000,
	      "a retained status older than offline_after_s: known, offline, last seen = its ts");
	CHECK(strstr(out, "node n3 is offline: its last status") != NULL, "and the log says why");
	ctl_db_zone_nodes(&c.db, "x", zn, 8, &n);
	CHECK(n == 1, "its zones are still known");
	{
		char js[256];
		snprintf(js, sizeof(js), "{\"node\":\"n3\",\"online\":true,\"boot\":1,"
			 "\"zones\":[],\"ts\":%lld}", (long long)(now_ms() - 2000));
		status("n3", js, 1, 0);
	}
	ctl_db_node_get(&c.db, "n3", &row);
	CHECK(row.online && row.last_seen <= now_ms() - 2000,
	      "a retained status 2 s old: online, last seen = its ts");

	/* The controller's clock is set forward 3 h (NTP after a power cut): the
	 * nodes did not go anywhere, and are not marked offline while they
	 * report against the new time. */
	{
		int64_t t0 = now_ms();

		ctl_nodes_tick(&c); /* the offset before the step */
		testclock_set_ms(t0 + 3 * 3600 * 1000LL);
		capture_begin();
		ctl_nodes_tick(&c);
		out = capture_end();
		ctl_db_node_get(&c.db, "n1", &row);
		CHECK(row.online, "a step of the clock 3 h forward marks no node offline");
		CHECK(strstr(out, "clock was set forward by 10800 s") != NULL,
		      "and the log says the clock was set forward (%s)", out);
		/* the window has passed (monotonic) and n1 said nothing since */
		c.nodes_clock.settle_until_mono = 0;
		ctl_nodes_tick(&c);
		ctl_db_node_get(&c.db, "n1", &row);
		CHECK(!row.online, "a node that does not report within offline_after_s of the "
		      "step is offline then");
		/* set back by a day: last-seen times in the future come back to now */
		status("n1", "{\"node\":\"n1\",\"online\":true,\"boot\":5,"
		       "\"zones\":[\"thon-1\"]}", 0, 0);
		testclock_set_ms(t0 - 86400 * 1000LL);
		capture_begin();
		ctl_nodes_tick(&c);
		out = capture_end();
		ctl_db_node_get(&c.db, "n1", &row);
		CHECK(row.online && row.last_seen <= now_ms() && row.last_seen > now_ms() - 1000 &&
		      strstr(out, "set back"),
		      "a step back brings last seen from the future to now (%lld)",
		      (long long)(row.last_seen - now_ms()));
		c.nodes_clock.settle_until_mono = 0;
		testclock_set_ms(now_ms() + ((int64_t)c.cfg.nodes.offline_after_s + 1) * 1000);
		c.nodes_clock.offset_ms = now_ms() - mono_ms(); /* drift, not a step */
		ctl_nodes_tick(&c);
		ctl_db_node_get(&c.db, "n1", &row);
		CHECK(!row.online, "after a step back a node that goes silent is offline after "
		      "offline_after_s, not after the day the clock went back");
		testclock_set_ms(t0); /* back to about the real time */
	}
	ctl_db_close(&c.db);
}

static void make_event(struct ctl_event *ev, const char *id, const char *node,
		       const char *type, const char *b)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->id, sizeof(ev->id), "%s", id);
	snprintf(ev->node, sizeof(ev->node), "%s", node);
	snprintf(ev->type, sizeof(ev->type), "%s", type);
	snprintf(ev->broadcast, sizeof(ev->broadcast), "%s", b);
	ev->boot = 1;
	ev->ts = 10;
	ev->start = -1;
	ev->duration_ms = -1;
}

static const char *target_result(const char *b, const char *node)
{
	static char res[32];
	sqlite3_stmt *st;

	res[0] = '\0';
	sqlite3_prepare_v2(c.db.h, "SELECT result FROM targets WHERE broadcast = ? AND node = ?",
			   -1, &st, NULL);
	sqlite3_bind_text(st, 1, b, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, node, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		snprintf(res, sizeof(res), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return res;
}

static void test_events(void)
{
	struct ctl_content_row content;
	struct ctl_broadcast_row b;
	struct ctl_event ev;
	char nodes[2][CTL_NAME_MAX] = { "n1", "n2" }, id2[CTL_ID_MAX];
	json_t *plays;
	int existed = -1, upd = -1;

	CHECK(ctl_db_open(&c.db, dbpath) == 0, "open for events");
	memset(&content, 0, sizeof(content));
	memset(content.id, 'a', 64);
	strcpy(content.title, "Thông báo");
	content.duration_ms = 5000;
	content.bytes = 1234;
	CHECK(ctl_db_content_add(&c.db, &content, &existed) == 0 && existed == 0,
	      "content stored");
	CHECK(ctl_db_content_add(&c.db, &content, &existed) == 0 && existed == 1,
	      "the same content again: existed");

	memset(&b, 0, sizeof(b));
	CHECK(ctl_db_broadcast_new_id(&c.db, now_ms(), b.id) == 0 &&
	      strncmp(b.id, "b-", 2) == 0 && strlen(b.id) == 22,
	      "a broadcast id like b-YYYYMMDD-HHMMSS-NNNN (%s)", b.id);
	memcpy(b.content, content.id, sizeof(b.content));
	strcpy(b.target_kind, "zone");
	strcpy(b.target, "thon-1");
	strcpy(b.topic, "loaxa/xa-test/zone/thon-1/cmd");
	strcpy(b.level, "normal");
	b.volume = 100;
	b.seq = 1;
	b.created = now_ms();
	b.expires = b.created + 600000;
	CHECK(ctl_db_broadcast_add(&c.db, &b, nodes, 2) == 0, "broadcast with 2 targets stored");
	CHECK(ctl_db_broadcast_new_id(&c.db, now_ms(), id2) == 0 && strcmp(id2, b.id) != 0,
	      "the next broadcast id differs (%s)", id2);

	make_event(&ev, "n1-1-1", "n1", "play_started", b.id);
	ev.start = 12345;
	CHECK(ctl_db_event_store(&c.db, &ev, now_ms(), &upd) == 1 && upd == 1,
	      "a new play_started is stored and moves the target");
	CHECK(strcmp(target_result(b.id, "n1"), "started") == 0, "n1 started");
	CHECK(ctl_db_event_store(&c.db, &ev, now_ms(), &upd) == 0 && upd == 0,
	      "the same event id again is a duplicate: nothing stored");

	make_event(&ev, "n1-1-2", "n1", "play_finished", b.id);
	ev.duration_ms = 5000;
	CHECK(ctl_db_event_store(&c.db, &ev, now_ms(), &upd) == 1 && upd == 1,
	      "play_finished stored");
	CHECK(strcmp(target_result(b.id, "n1"), "finished") == 0, "n1 finished");
	make_event(&ev, "n1-1-3", "n1", "play_started", b.id);
	CHECK(ctl_db_event_store(&c.db, &ev, now_ms(), &upd) == 1 && upd == 0,
	      "a late play_started is stored but does not move finished back");
	CHECK(strcmp(target_result(b.id, "n1"), "finished") == 0, "n1 still finished");

	make_event(&ev, "n1-1-1", "n2", "play_failed", b.id);
	snprintf(ev.reason, sizeof(ev.reason), "no sound card");
	CHECK(ctl_db_event_store(&c.db, &ev, now_ms(), &upd) == 1 && upd == 1,
	      "the same event id from another node is another event");
	CHECK(strcmp(target_result(b.id, "n2"), "failed") == 0, "n2 failed");

	make_event(&ev, "n3-1-1", "n3", "play_finished", b.id);
	CHECK(ctl_db_event_store(&c.db, &ev, now_ms(), &upd) == 1 && upd == 0,
	      "an event of a node that was not a target is logged, no target invented");
	CHECK(ctl_db_event_addressed(&c.db, &ev) == 0,
	      "n3's play of a broadcast sent to n1 and n2 only is unaddressed");
	make_event(&ev, "n1-1-9", "n1", "play_finished", b.id);
	CHECK(ctl_db_event_addressed(&c.db, &ev) == 1, "n1's play of it is addressed");
	make_event(&ev, "n3-1-9", "n3", "emergency_started", b.id);
	CHECK(ctl_db_event_addressed(&c.db, &ev) == 0, "so is not n3's emergency event of it");
	make_event(&ev, "n3-1-9", "n3", "content_ready", b.id);
	CHECK(ctl_db_event_addressed(&c.db, &ev) == 1, "other types are not checked");
	make_event(&ev, "n3-1-9", "n3", "play_finished", "l-0000abcd");
	CHECK(ctl_db_event_addressed(&c.db, &ev) == 1,
	      "an id the controller never stored (a live session) is not judged");
	make_event(&ev, "n3-1-9", "n3", "play_finished", b.id);
	snprintf(ev.occurrence, sizeof(ev.occurrence), "o-x-20261201-0530-1");
	CHECK(ctl_db_event_addressed(&c.db, &ev) == 1,
	      "a plan occurrence is the node's own (its plan is signed for it)");

	plays = ctl_db_plays_json(&c.db, b.id, 0, NULL);
	CHECK(plays && json_array_size(plays) == 5, "play log of the broadcast: 5 events "
	      "(got %zu)", plays ? json_array_size(plays) : 0);
	CHECK(plays && strcmp(json_string_value(json_object_get(json_array_get(plays, 1),
							       "result")), "finished") == 0,
	      "play log rows carry the result");
	json_decref(plays);
	plays = ctl_db_plays_json(&c.db, NULL, 2, NULL);
	CHECK(plays && json_array_size(plays) == 2 &&
	      strcmp(json_string_value(json_object_get(json_array_get(plays, 1), "id")),
		     "n3-1-1") == 0, "limit 2: the 2 newest, oldest first");
	json_decref(plays);
	plays = ctl_db_broadcast_json(&c.db, b.id);
	CHECK(plays && json_array_size(json_object_get(plays, "targets")) == 2,
	      "GET broadcast shows its 2 targets");
	json_decref(plays);
	CHECK(ctl_db_broadcast_json(&c.db, "b-nope") == NULL, "an unknown broadcast is NULL");
	ctl_db_close(&c.db);
}

int main(void)
{
	log_init("test_controller_db", 0);
	setup();
	test_schema();
	test_seq();
	test_nodes();
	test_events();
	cleanup();
	TAP_EXIT();
}
