/*
 * test_approval.c - controller/approval.c without a broker: the draft state
 * machine; approval in controller.cfg (levels per zone, what is refused);
 * who waits (operator, approver, levels, zones, nodes, all); announcements,
 * schedule applies and plays of an operator stored as drafts (SQLite) that
 * reach no plan and send no command until approved; approve (as if
 * submitted then), reject (a reason), withdraw, edit; who may do which
 * (author, four eyes, scope, role); a draft whose time passed; every step
 * in the audit log with who and when; emergencies recorded for review.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "approval.h"
#include "auth.h"
#include "broadcast.h"
#include "capture.h"
#include "ctl.h"
#include "ctlfixture.h"
#include "db.h"
#include "schedapi.h"
#include "scheduler.h"
#include "tap.h"
#include "testclock.h"
#include "util.h"

static char dir[64];
static struct ctl c;
static struct verifier ver;
static char content_id[65], content2[65];
static int plans_sent, cmds_sent;
static struct ctl_principal op1, op2, op3, ap1, ap2, admin;

static int hook(void *arg, enum ctl_conn_kind kind, const char *topic, const void *payload,
		size_t len, int qos, int retain)
{
	(void)arg;
	(void)kind;
	(void)payload;
	(void)len;
	(void)qos;
	(void)retain;
	if (strstr(topic, "/plan"))
		plans_sent++;
	else if (strstr(topic, "/cmd"))
		cmds_sent++;
	return 0;
}

static const char *arg_none(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return NULL;
}

static const char *arg_state(void *ctx, const char *key)
{
	return strcmp(key, "state") == 0 ? ctx : NULL;
}

static void principal(struct ctl_principal *p, const char *user, const char *role,
		      const char *zone)
{
	memset(p, 0, sizeof(*p));
	p->authenticated = 1;
	snprintf(p->user, sizeof(p->user), "%s", user);
	snprintf(p->role, sizeof(p->role), "%s", role);
	p->perms = ctl_auth_role_perms(role);
	if (zone) {
		snprintf(p->zones[0], sizeof(p->zones[0]), "%s", zone);
		p->nzones = 1;
	} else {
		p->all_zones = 1;
	}
	snprintf(p->peer, sizeof(p->peer), "uid 0 (test) pid 1");
}

/* POST to schedapi.c as who (content ids only: answered at once). */
static unsigned sched_post(const struct ctl_principal *who, const char *url, const char *body,
			   int64_t edit, json_t **reply)
{
	struct ctl_sched_http h = {
		.method = "POST", .url = url, .body = body, .body_len = strlen(body),
		.arg = arg_none, .who = who, .edit_draft = edit,
	};
	unsigned status = 0;

	*reply = NULL;
	if (ctl_sched_http(&c, &h, &status, reply) != 0)
		return 0;
	return status;
}

static unsigned api(const struct ctl_principal *who, const char *method, const char *url,
		    const char *body, void *argctx, json_t **reply)
{
	char target[256] = "";
	unsigned status = 0;

	*reply = NULL;
	ctl_approval_api(&c, who, method, url, arg_state, argctx, body ? body : "",
			 body ? strlen(body) : 0, &status, reply, target, sizeof(target));
	return status;
}

static const char *err_of(json_t *r)
{
	const char *e = json_string_value(json_object_get(r, "error"));

	return e ? e : "";
}

static int64_t draft_id(json_t *reply)
{
	return json_integer_value(json_object_get(json_object_get(reply, "draft"), "draft"));
}

/* How many stored items (announcements + schedule) there are. */
static int count(const char *sql)
{
	sqlite3_stmt *st = NULL;
	int n = -1;

	if (sqlite3_prepare_v2(c.db.h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The audit row for draft id and action: who, and when (> 0). */
static int audited(const char *action, int64_t id, const char *user)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE action = '%s' AND target "
		 "LIKE 'draft %lld (%%' AND user = '%s' AND ts > 0 AND result = 'allowed'",
		 action, (long long)id, user);
	return count(sql);
}

/* "YYYY-MM-DD HH:MM:SS" local, seconds from now */
static void local_in(char *buf, size_t len, int64_t s)
{
	sched_fmt_local(buf, len, now_ms() + s * 1000);
}

static void setup(void)
{
	char path[PATH_MAX + 80];
	char z1[1][CTL_NAME_MAX] = { "thon-1" };
	char z2[1][CTL_NAME_MAX] = { "thon-2" };
	struct ctl_content_row row;
	int i;

	strcpy(dir, "/tmp/loaxa-test-approval-XXXXXX");
	if (!mkdtemp(dir))
		exit(2);
	ctl_config_defaults(&c.cfg);
	strcpy(c.cfg.site, "xa-test");
	snprintf(c.cfg.state_dir, sizeof(c.cfg.state_dir), "%s", dir);
	snprintf(c.content_dir, sizeof(c.content_dir), "%s/content", dir);
	snprintf(c.tmp_dir, sizeof(c.tmp_dir), "%s", dir);
	/* approval for normal and priority by default; thon-2 asks for none */
	c.cfg.sched.approval = (1u << SCHED_NORMAL) | (1u << SCHED_PRIORITY);
	strcpy(c.cfg.sched.zones[0].name, "thon-1");
	c.cfg.sched.zones[0].end_s = 86400;
	strcpy(c.cfg.sched.zones[1].name, "thon-2");
	c.cfg.sched.zones[1].end_s = 86400;
	c.cfg.sched.zones[1].approval_set = 1;
	c.cfg.sched.nzones = 2;
	mkdir(c.content_dir, 0700);
	ctl_fixture(&c, &ver, hook);
	for (i = 0; i < 2; i++) {
		char *id = i ? content2 : content_id;

		memset(id, i ? 'd' : 'c', 64);
		id[64] = '\0';
		snprintf(path, sizeof(path), "%s/%s.opus", c.content_dir, id);
		write_file_atomic(path, "x", 1, 0644);
		memset(&row, 0, sizeof(row));
		snprintf(row.id, sizeof(row.id), "%s", id);
		snprintf(row.title, sizeof(row.title), "%s", i ? "Tin mới" : "Họp thôn");
		row.duration_ms = 20000;
		row.bytes = 1;
		row.created = now_ms();
		ctl_db_content_add(&c.db, &row, NULL);
	}
	ctl_db_node_set_status(&c.db, "n1", 1, 1, "0.1.0", now_ms(), z1, 1, "{}");
	ctl_db_node_set_status(&c.db, "n2", 1, 1, "0.1.0", now_ms(), z2, 1, "{}");
	if (ctl_sched_start(&c) < 0)
		exit(2);
	principal(&op1, "op1", "operator", "thon-1");
	principal(&op2, "op2", "operator", "thon-2");
	principal(&op3, "op3", "operator", "thon-1");
	principal(&ap1, "ap1", "approver", "thon-1");
	principal(&ap2, "ap2", "approver", "thon-2");
	principal(&admin, "admin", "admin", NULL);
}

static void test_state_machine(void)
{
	static const char *const states[] = { "pending", "approved", "rejected", "withdrawn",
					      "bogus" };
	static const enum draft_action acts[] = { DRAFT_EDIT, DRAFT_APPROVE, DRAFT_REJECT,
						  DRAFT_WITHDRAW };
	static const char *const want[] = { "pending", "approved", "rejected", "withdrawn" };
	const char *to;
	int ok = 1;
	size_t i, j;

	for (i = 0; i < 5; i++)
		for (j = 0; j < 4; j++) {
			int rc = ctl_draft_next(states[i], acts[j], &to);

			if (i == 0 ? (rc != 0 || strcmp(to, want[j]) != 0) : rc != -EINVAL)
				ok = 0;
		}
	CHECK(ok, "state machine: pending -> edit stays pending, approve/reject/withdraw "
	      "move it; a decided (or unknown) state never moves again");
}

static void test_config(void)
{
	static struct ctl_config cfg;
	char path[PATH_MAX], text[1024];
	const char *err;
	int rc;

	snprintf(path, sizeof(path), "%s/controller.cfg", dir);
	snprintf(text, sizeof(text), "site = \"xa-test\";\nmqtt = { insecure = true; };\n"
		 "approval = { levels = [\"normal\", \"priority\"]; };\n"
		 "zones = ( { name = \"thon-1\"; },\n"
		 "  { name = \"thon-2\"; approval = []; },\n"
		 "  { name = \"thon-3\"; approval = [\"relay\", \"priority\"]; } );\n");
	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = ctl_config_load(&cfg, path);
	err = capture_end();
	CHECK(rc == 0 && sched_zone_approval(&cfg.sched, "thon-1") ==
	      ((1u << SCHED_NORMAL) | (1u << SCHED_PRIORITY)) &&
	      sched_zone_approval(&cfg.sched, "thon-2") == 0 &&
	      sched_zone_approval(&cfg.sched, "thon-3") ==
	      ((1u << SCHED_RELAY) | (1u << SCHED_PRIORITY)) &&
	      sched_zone_approval(&cfg.sched, "undeclared") ==
	      ((1u << SCHED_NORMAL) | (1u << SCHED_PRIORITY)),
	      "approval.levels is every zone's default; a zone's own approval list (also []) "
	      "replaces it (%s)", err);

	snprintf(text, sizeof(text), "site = \"xa-test\";\nmqtt = { insecure = true; };\n"
		 "approval = { levels = [\"normal\", \"emergency\"]; };\n"
		 "zones = ( { name = \"thon-1\"; approval = [\"live\"]; },\n"
		 "  { name = \"thon-2\"; approval = \"normal\"; },\n"
		 "  { name = \"thon-3\"; approval = [\"loud\"]; } );\n");
	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = ctl_config_load(&cfg, path);
	err = capture_end();
	CHECK(rc == -EINVAL &&
	      strstr(err, "controller.cfg:3: field \"approval.levels\": emergencies never wait "
		     "for approval (they are listed for review afterwards: loaxa reviews); take "
		     "\"emergency\" out") &&
	      strstr(err, "controller.cfg:4: field \"zones.approval\": zone \"thon-1\": live "
		     "sessions cannot wait for approval") &&
	      strstr(err, "controller.cfg:5: field \"zones.approval\": zone \"thon-2\": must be a "
		     "list of levels") &&
	      strstr(err, "controller.cfg:6: field \"zones.approval\": zone \"thon-3\": \"loud\" "
		     "is not a level that can wait for approval: use relay, normal or priority"),
	      "emergency, live, a string, an unknown level: each refused, naming the line, "
	      "the field and the zone (%s)", err);
	snprintf(text, sizeof(text), "site = \"xa-test\";\nmqtt = { insecure = true; };\n"
		 "approval = [\"normal\"];\n");
	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = ctl_config_load(&cfg, path);
	err = capture_end();
	CHECK(rc == -EINVAL && strstr(err, "field \"approval\": must be a group"),
	      "approval as a bare list is refused, showing the group form (%s)", err);
}

static void test_who_waits(void)
{
	CHECK(ctl_approval_needed(&c, &op1, "normal", "thon-1", NULL, 0) == 1 &&
	      ctl_approval_needed(&c, &op1, "priority", "thon-1", NULL, 0) == 1,
	      "an operator's normal and priority in thon-1 wait");
	CHECK(ctl_approval_needed(&c, &op1, "relay", "thon-1", NULL, 0) == 0,
	      "relay is not in the list: it does not wait");
	CHECK(ctl_approval_needed(&c, &op2, "normal", "thon-2", NULL, 0) == 0,
	      "thon-2 asks for no approval (approval = [])");
	CHECK(ctl_approval_needed(&c, &op1, "normal", NULL, "n1", 0) == 1 &&
	      ctl_approval_needed(&c, &op2, "normal", NULL, "n2", 0) == 0,
	      "a node target waits as its zones do");
	CHECK(ctl_approval_needed(&c, &admin, "normal", NULL, NULL, 1) == 0 &&
	      ctl_approval_needed(&c, &ap1, "normal", "thon-1", NULL, 0) == 0,
	      "approvers and admins never wait (their word is the approval)");
	CHECK(ctl_approval_needed(&c, &op1, "emergency", "thon-1", NULL, 0) == 0,
	      "an emergency never waits");
	CHECK(ctl_approval_needed(&c, NULL, "normal", "thon-1", NULL, 0) == 0,
	      "no principal (internal): nothing waits");
}

static void test_announce(void)
{
	char at[32], body[512], url[64];
	json_t *r, *d;
	unsigned st;
	int64_t id, id2, id3;
	int plans0, items0 = count("SELECT count(*) FROM sched_items");

	/* op1 announces to thon-1: a draft, no item, no plan */
	local_in(at, sizeof(at), 3600);
	snprintf(body, sizeof(body), "{\"at\":\"%s\",\"content\":\"%s\",\"zone\":\"thon-1\","
		 "\"title\":\"Họp thôn\"}", at, content_id);
	plans0 = plans_sent;
	st = sched_post(&op1, "/v1/announcements", body, 0, &r);
	d = json_object_get(r, "draft");
	id = draft_id(r);
	CHECK(st == 202 && id > 0 && strcmp(json_string_value(json_object_get(d, "state")),
					  "pending") == 0 &&
	      strcmp(json_string_value(json_object_get(d, "author")), "op1") == 0 &&
	      strcmp(json_string_value(json_object_get(d, "kind")), "announce") == 0 &&
	      strcmp(json_string_value(json_object_get(d, "target")), "zone thon-1") == 0,
	      "an operator's announcement in thon-1 is a pending draft (202, draft %lld)",
	      (long long)id);
	json_decref(r);
	ctl_sched_replan(&c, 0);
	CHECK(count("SELECT count(*) FROM sched_items") == items0 && plans_sent == plans0,
	      "... no schedule item stored, no plan published");
	CHECK(audited("draft submitted", id, "op1") == 1,
	      "... audit: draft submitted by op1, with a time");

	/* who may not approve it */
	snprintf(url, sizeof(url), "/v1/drafts/%lld/approve", (long long)id);
	st = api(&op1, "POST", url, "{}", NULL, &r);
	CHECK(st == 403 && strstr(err_of(r), "may not approve"),
	      "the operator cannot approve (%s)", err_of(r));
	json_decref(r);
	st = api(&ap2, "POST", url, "{}", NULL, &r);
	CHECK(st == 403 && strstr(err_of(r), "may act only on zones thon-2, not on zone thon-1"),
	      "an approver of thon-2 cannot approve a draft for thon-1 (%s)", err_of(r));
	json_decref(r);
	CHECK(count("SELECT count(*) FROM drafts WHERE state = 'pending'") >= 1 &&
	      plans_sent == plans0, "... still pending, nothing published");

	/* op1 edits it: other content, other title */
	snprintf(body, sizeof(body), "{\"at\":\"%s\",\"content\":\"%s\",\"zone\":\"thon-1\","
		 "\"title\":\"Họp thôn (sửa)\"}", at, content2);
	st = sched_post(&op3, "/v1/announcements", body, id, &r);
	CHECK(st == 403 && json_array_size(json_object_get(r, "errors")) &&
	      strstr(json_string_value(json_array_get(json_object_get(r, "errors"), 0)),
		     "only its author can change it"),
	      "another operator of thon-1 cannot edit it (403)");
	json_decref(r);
	st = sched_post(&op1, "/v1/announcements", body, id, &r);
	d = json_object_get(r, "draft");
	CHECK(st == 200 && draft_id(r) == id && json_integer_value(json_object_get(d, "edits"))
	      == 1 && strcmp(json_string_value(json_object_get(json_object_get(
		  json_object_get(d, "payload"), "item"), "content")), content2) == 0,
	      "the author edits it: same draft, new content, edits 1");
	json_decref(r);
	CHECK(audited("draft edited", id, "op1") == 1, "... audit: draft edited by op1");

	/* ap1 approves: an announcement with the new content reaches n1's plan */
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	d = json_object_get(r, "draft");
	CHECK(st == 200 && strcmp(json_string_value(json_object_get(d, "state")), "approved")
	      == 0 && strcmp(json_string_value(json_object_get(d, "decided_by")), "ap1") == 0 &&
	      strncmp(json_string_value(json_object_get(d, "result")), "a-", 2) == 0,
	      "an approver of thon-1 approves it: approved by ap1, result %s (%s)",
	      json_string_value(json_object_get(d, "result")), err_of(r));
	CHECK(plans_sent > plans0, "... and n1's plan is published");
	{
		char sql[256];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sched_items WHERE kind = "
			 "'announce' AND id = '%s' AND def LIKE '%%%s%%'",
			 json_string_value(json_object_get(d, "result")), content2);
		CHECK(count(sql) == 1, "... the stored announcement carries the edited content");
	}
	json_decref(r);
	CHECK(audited("draft approved", id, "ap1") == 1, "... audit: draft approved by ap1");
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	CHECK(st == 409 && strstr(err_of(r), "already approved"),
	      "approving it again: 409 (%s)", err_of(r));
	json_decref(r);
	snprintf(url, sizeof(url), "/v1/drafts/%lld/withdraw", (long long)id);
	st = api(&op1, "POST", url, "{}", NULL, &r);
	CHECK(st == 409, "an approved draft cannot be withdrawn (409)");
	json_decref(r);

	/* a second one: rejected, with a reason, never reaches a plan */
	st = sched_post(&op1, "/v1/announcements", body, 0, &r);
	id2 = draft_id(r);
	json_decref(r);
	plans0 = plans_sent;
	items0 = count("SELECT count(*) FROM sched_items");
	snprintf(url, sizeof(url), "/v1/drafts/%lld/reject", (long long)id2);
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	CHECK(st == 400 && strstr(err_of(r), "reason"), "a rejection without a reason: 400");
	json_decref(r);
	st = api(&ap1, "POST", url, "{\"reason\":\"Sai giờ họp\"}", NULL, &r);
	d = json_object_get(r, "draft");
	CHECK(st == 200 && strcmp(json_string_value(json_object_get(d, "state")), "rejected")
	      == 0 && strcmp(json_string_value(json_object_get(d, "reason")), "Sai giờ họp") == 0,
	      "rejected with its reason");
	json_decref(r);
	snprintf(url, sizeof(url), "/v1/drafts/%lld/approve", (long long)id2);
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	CHECK(st == 409, "a rejected draft cannot be approved afterwards (409)");
	json_decref(r);
	ctl_sched_replan(&c, 0);
	CHECK(plans_sent == plans0 && count("SELECT count(*) FROM sched_items") == items0,
	      "... nothing of it was stored or published");
	CHECK(audited("draft rejected", id2, "ap1") == 1 &&
	      count("SELECT count(*) FROM audit WHERE action = 'draft rejected' AND detail = "
		    "'Sai giờ họp'") == 1, "... audit: rejected by ap1, with the reason");

	/* a third: withdrawn by its author (not by anyone else) */
	st = sched_post(&op1, "/v1/announcements", body, 0, &r);
	id3 = draft_id(r);
	json_decref(r);
	snprintf(url, sizeof(url), "/v1/drafts/%lld/withdraw", (long long)id3);
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	CHECK(st == 403 && strstr(err_of(r), "only its author"),
	      "only the author withdraws (%s)", err_of(r));
	json_decref(r);
	st = api(&op1, "POST", url, "{}", NULL, &r);
	CHECK(st == 200 && strcmp(json_string_value(json_object_get(json_object_get(r, "draft"),
						       "state")), "withdrawn") == 0 &&
	      audited("draft withdrawn", id3, "op1") == 1, "the author withdraws it (audited)");
	json_decref(r);
	snprintf(url, sizeof(url), "/v1/drafts/%lld/approve", (long long)id3);
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	CHECK(st == 409, "a withdrawn draft cannot be approved (409)");
	json_decref(r);

	/* four eyes: the author may not decide their own draft, whatever role now */
	st = sched_post(&op1, "/v1/announcements", body, 0, &r);
	id = draft_id(r);
	json_decref(r);
	{
		struct ctl_principal op1ap = ap1;

		snprintf(op1ap.user, sizeof(op1ap.user), "op1"); /* op1, made an approver */
		snprintf(url, sizeof(url), "/v1/drafts/%lld/approve", (long long)id);
		st = api(&op1ap, "POST", url, "{}", NULL, &r);
		CHECK(st == 403 && strstr(err_of(r), "another approver must approve it"),
		      "the author cannot approve their own draft even as an approver (%s)",
		      err_of(r));
		json_decref(r);
	}

	/* the time passes while it waits: approval refused, with what to do */
	testclock_set_ms(now_ms() + 2 * 3600 * 1000LL);
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	CHECK(st == 409 && strstr(err_of(r), "which has passed") &&
	      strstr(err_of(r), "--edit"), "a draft whose start passed is not approved: 409, "
	      "saying to give it a new time (%s)", err_of(r));
	json_decref(r);
	testclock_set_ms(now_ms() - 2 * 3600 * 1000LL);

	/* an approver's own announcement is not a draft */
	st = sched_post(&ap1, "/v1/announcements", body, 0, &r);
	CHECK(st == 201 && !json_object_get(r, "draft"),
	      "an approver's own announcement is scheduled at once (201)");
	json_decref(r);
	/* thon-2 asks for no approval: op2's goes straight through */
	snprintf(body, sizeof(body), "{\"at\":\"%s\",\"content\":\"%s\",\"zone\":\"thon-2\"}",
		 at, content_id);
	st = sched_post(&op2, "/v1/announcements", body, 0, &r);
	CHECK(st == 201 && !json_object_get(r, "draft"),
	      "in a zone without approval an operator's announcement is scheduled (201)");
	json_decref(r);
}

static void test_apply(void)
{
	char path[PATH_MAX + 16], text[512], body[PATH_MAX + 64], url[64];
	json_t *r;
	unsigned st;
	int64_t id;
	int plans0, items0;

	snprintf(path, sizeof(path), "%s/week.cfg", dir);
	snprintf(text, sizeof(text), "items = ( { id = \"sang\"; content = \"%s\"; zones = "
		 "[\"thon-2\"]; times = [\"05:30\"]; } );\n", content_id);
	write_file_atomic(path, text, strlen(text), 0644);
	{
		/* the file's text, as `loaxa schedule apply` sends it */
		json_t *b = json_pack("{s:[{s:s, s:s}]}", "files", "name", "week.cfg", "text", text);
		char *d = b ? json_dumps(b, JSON_COMPACT) : NULL;

		snprintf(body, sizeof(body), "%s", d ? d : "");
		free(d);
		json_decref(b);
	}
	plans0 = plans_sent;
	items0 = count("SELECT count(*) FROM sched_items WHERE kind = 'schedule'");
	st = sched_post(&op2, "/v1/schedule/apply", body, 0, &r);
	id = draft_id(r);
	CHECK(st == 202 && id > 0 && strcmp(json_string_value(json_object_get(json_object_get(r,
			"draft"), "kind")), "apply") == 0,
	      "an operator's schedule apply is always a draft, also where no approval is "
	      "asked (202, draft %lld)", (long long)id);
	json_decref(r);
	ctl_sched_replan(&c, 0);
	CHECK(plans_sent == plans0 &&
	      count("SELECT count(*) FROM sched_items WHERE kind = 'schedule'") == items0,
	      "... the schedule is unchanged, no plan published");
	/* the file changes after the draft: approval applies what was checked */
	write_file_atomic(path, "items = ( );\n", 13, 0644);
	snprintf(url, sizeof(url), "/v1/drafts/%lld/approve", (long long)id);
	st = api(&ap2, "POST", url, "{}", NULL, &r);
	CHECK(st == 200 && count("SELECT count(*) FROM sched_items WHERE kind = 'schedule' AND "
				 "id = 'sang'") == 1 && plans_sent > plans0,
	      "ap2 (thon-2) approves: the checked items become the schedule, n2's plan goes "
	      "out (%s)", err_of(r));
	json_decref(r);
	CHECK(count("SELECT count(*) FROM sched_files WHERE name = 'week.cfg' AND text LIKE "
		    "'items = ( { id = \"sang\"%'") == 1,
	      "... and the file as the operator sent it is stored as applied (sched_files)");
}

static void test_broadcast(void)
{
	struct ctl_play_request req;
	char url[64], err[256], body[256];
	json_t *r;
	unsigned st;
	int64_t id;
	int cmds0 = cmds_sent;

	snprintf(body, sizeof(body), "{\"content\":\"%s\",\"zone\":\"thon-1\"}", content_id);
	CHECK(ctl_parse_play_request(body, strlen(body), &req, err, sizeof(err)) == 0,
	      "a play request to thon-1");
	CHECK(ctl_approval_needed(&c, &op1, req.level, req.zone, req.node, req.all) == 1,
	      "op1's play to thon-1 waits for approval");
	ctl_approval_broadcast(&c, &op1, &req, 0, &st, &r);
	id = draft_id(r);
	CHECK(st == 202 && id > 0 && cmds_sent == cmds0 &&
	      count("SELECT count(*) FROM broadcasts") == 0,
	      "... a draft (202): no broadcast stored, no command sent");
	json_decref(r);
	st = api(&op1, "GET", "/v1/drafts", NULL, "pending", &r);
	CHECK(st == 200 && json_array_size(json_object_get(r, "drafts")) >= 2,
	      "GET /v1/drafts lists the pending drafts");
	json_decref(r);
	st = api(&op2, "GET", "/v1/drafts", NULL, "all", &r);
	{
		json_t *v;
		size_t i;
		int foreign = 0;

		json_array_foreach(json_object_get(r, "drafts"), i, v)
			foreign += strcmp(json_string_value(json_object_get(v, "author")), "op2") &&
				   !strstr(json_string_value(json_object_get(v, "target")), "thon-2");
		CHECK(st == 200 && foreign == 0, "op2 (thon-2) sees only drafts of thon-2 or "
		      "their own");
	}
	json_decref(r);
	snprintf(url, sizeof(url), "/v1/drafts/%lld", (long long)id);
	st = api(&op2, "GET", url, NULL, NULL, &r);
	CHECK(st == 403, "op2 may not read thon-1's draft (403)");
	json_decref(r);
	snprintf(url, sizeof(url), "/v1/drafts/%lld/approve", (long long)id);
	st = api(&ap1, "POST", url, "{}", NULL, &r);
	CHECK(st == 200 && cmds_sent == cmds0 + 1 &&
	      count("SELECT count(*) FROM broadcasts") == 1 &&
	      strncmp(json_string_value(json_object_get(json_object_get(r, "draft"), "result")),
		      "b-", 2) == 0,
	      "approved: one broadcast stored and its command sent (%s)", err_of(r));
	json_decref(r);
}

static void test_reviews(void)
{
	char sql[256];
	json_t *r;
	unsigned st;

	/* an emergency row as emergency.c stores it, and its review record */
	sqlite3_exec(c.db.h, "INSERT INTO broadcasts (id, content, target_kind, target, topic, "
		     "level, at, volume, seq, created, expires) VALUES ('e-20261201-000000-0001', "
		     "'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc', 'zone', "
		     "'thon-1', 'loaxa/xa-test/zone/thon-1/cmd', 'emergency', 0, 100, 1, 1, 2)",
		     NULL, NULL, NULL);
	CHECK(ctl_review_record_tx(&c, &ap1, "e-20261201-000000-0001", now_ms()) == 0,
	      "an emergency started by ap1 is recorded for review");
	st = api(&ap2, "GET", "/v1/reviews", NULL, NULL, &r);
	CHECK(st == 200 && json_array_size(json_object_get(r, "emergencies")) == 0,
	      "an approver of thon-2 does not see thon-1's emergency");
	json_decref(r);
	st = api(&admin, "GET", "/v1/reviews", NULL, NULL, &r);
	CHECK(st == 200 && json_array_size(json_object_get(r, "emergencies")) == 1,
	      "it awaits review");
	json_decref(r);
	st = api(&ap1, "POST", "/v1/reviews/e-20261201-000000-0001", "{}", NULL, &r);
	CHECK(st == 403 && strstr(err_of(r), "someone else reviews it"),
	      "the one who started it cannot review it (%s)", err_of(r));
	json_decref(r);
	st = api(&op1, "POST", "/v1/reviews/e-20261201-000000-0001", "{}", NULL, &r);
	CHECK(st == 403, "an operator cannot review it");
	json_decref(r);
	st = api(&admin, "POST", "/v1/reviews/e-20261201-000000-0001",
		 "{\"note\":\"Lũ thật, đúng quy trình\"}", NULL, &r);
	CHECK(st == 200, "the admin reviews it, with a note");
	json_decref(r);
	st = api(&admin, "GET", "/v1/reviews", NULL, NULL, &r);
	CHECK(st == 200 && json_array_size(json_object_get(r, "emergencies")) == 0,
	      "... no longer awaiting review");
	json_decref(r);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE action = 'emergency "
		 "reviewed' AND user = 'admin' AND ts > 0");
	CHECK(count(sql) == 1, "... audit: emergency reviewed by admin");
	st = api(&admin, "POST", "/v1/reviews/e-20261201-000000-0001", "{}", NULL, &r);
	CHECK(st == 409, "reviewing it again: 409");
	json_decref(r);
}

int main(void)
{
	char cmd[128];

	setup();
	test_state_machine();
	test_config();
	test_who_waits();
	test_announce();
	test_apply();
	test_broadcast();
	test_reviews();
	ctl_sched_stop(&c);
	ctl_db_close(&c.db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	TAP_EXIT();
}
