/*
 * test_rollup.c - the roll-up of communes to their district (controller/
 * rollup.c) without a broker: a commune's signed summary (nodes online and
 * in all, this month's plays from its database) is taken by its district
 * and listed in GET /v1/areas; a summary on another site's topic, one whose
 * figures were changed after signing, one of a commune in another district
 * and garbage are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ctlfixture.h"
#include "auth.h"
#include "rollup.h"
#include "tap.h"
#include "testclock.h"

static struct ctl commune, district, other;
static struct verifier v1, v2, v3;

static int hook(void *arg, enum ctl_conn_kind kind, const char *topic, const void *payload,
		size_t len, int qos, int retain)
{
	(void)arg; (void)kind; (void)topic; (void)payload; (void)len; (void)qos; (void)retain;
	return 0;
}

static void setup(struct ctl *c, struct verifier *v, const char *site, const char *dir,
		  enum area_level level, const char *code, const char *district_code)
{
	snprintf(c->cfg.site, sizeof(c->cfg.site), "%s", site);
	snprintf(c->cfg.state_dir, sizeof(c->cfg.state_dir), "%s", dir);
	c->cfg.area.level = level;
	snprintf(c->cfg.area.code, sizeof(c->cfg.area.code), "%s", code);
	snprintf(c->cfg.area.name, sizeof(c->cfg.area.name), "Xã %s", site);
	if (district_code) {
		c->cfg.area.parent[0].level = AREA_DISTRICT;
		snprintf(c->cfg.area.parent[0].code, sizeof(c->cfg.area.parent[0].code), "%s",
			 district_code);
		c->cfg.area.parent[1].level = AREA_PROVINCE;
		snprintf(c->cfg.area.parent[1].code, sizeof(c->cfg.area.parent[1].code), "40");
		c->cfg.area.nparent = 2;
	}
	ctl_fixture(c, v, hook);
	if (ctl_rollup_start(c) < 0)
		exit(2);
}

static void exec_sql(struct ctl *c, const char *sql)
{
	if (sqlite3_exec(c->db.h, sql, NULL, NULL, NULL) != SQLITE_OK)
		printf("# sql failed: %s\n", sqlite3_errmsg(c->db.h));
}

int main(void)
{
	char base[] = "/tmp/loaxa-test.rollup-XXXXXX", d1[128], d2[128], d3[128], why[200] = "";
	int64_t now = 1796687000000LL;
	char *doc, *bad;
	json_t *areas, *a;

	if (!mkdtemp(base))
		return 2;
	testclock_set_ms(now);
	snprintf(d1, sizeof(d1), "%s/c", base);
	snprintf(d2, sizeof(d2), "%s/d", base);
	snprintf(d3, sizeof(d3), "%s/o", base);
	mkdir(d1, 0700);
	mkdir(d2, 0700);
	mkdir(d3, 0700);
	setup(&commune, &v1, "xa-a", d1, AREA_COMMUNE, "12345", "412");
	setup(&district, &v2, "huyen-412", d2, AREA_DISTRICT, "412", NULL);
	setup(&other, &v3, "xa-b", d3, AREA_COMMUNE, "12399", "413");

	/* two nodes, one online; one play this month, one last month */
	exec_sql(&commune, "INSERT INTO nodes (id, online, first_seen) VALUES ('n1', 1, 0), "
			   "('n2', 0, 0);"
			   "INSERT INTO events (node, id, type, ts, received) VALUES "
			   "('n1', 'e1', 'play_finished', 1796687000000, 0), "
			   "('n1', 'e2', 'play_finished', 1790000000000, 0);");
	doc = ctl_rollup_document(&commune, now);
	CHECK(doc != NULL, "the commune makes its signed summary");
	{
		json_t *o = json_loads(doc ? doc : "{}", 0, NULL), *s = json_object_get(o, "summary");

		CHECK(json_integer_value(json_object_get(json_object_get(s, "nodes"), "online")) == 1 &&
		      json_integer_value(json_object_get(json_object_get(s, "nodes"), "total")) == 2 &&
		      json_integer_value(json_object_get(json_object_get(s, "month"), "plays")) == 1 &&
		      strcmp(json_string_value(json_object_get(json_object_get(s, "area"),
							       "district")), "412") == 0,
		      "it counts 1 of 2 nodes online and this month's 1 play, in district 412");
		json_decref(o);
	}
	CHECK(ctl_rollup_take(&district, "loaxa/xa-a/summary", doc, strlen(doc), why,
			      sizeof(why)) == 0, "the district takes it (%s)", why);
	areas = ctl_rollup_json(&district, NULL);
	a = json_array_get(json_object_get(areas, "areas"), 0);
	CHECK(json_array_size(json_object_get(areas, "areas")) == 1 &&
	      strcmp(json_string_value(json_object_get(a, "site")), "xa-a") == 0 &&
	      strcmp(json_string_value(json_object_get(areas, "level")), "district") == 0,
	      "GET /v1/areas lists xa-a under district 412");
	json_decref(areas);

	{
		struct ctl_principal who;

		memset(&who, 0, sizeof(who));
		snprintf(who.zones[0], sizeof(who.zones[0]), "12399");
		who.nzones = 1;
		areas = ctl_rollup_json(&district, &who);
		CHECK(json_array_size(json_object_get(areas, "areas")) == 0,
		      "an account scoped to commune 12399 does not see commune 12345");
		json_decref(areas);
		snprintf(who.zones[0], sizeof(who.zones[0]), "412");
		areas = ctl_rollup_json(&district, &who);
		CHECK(json_array_size(json_object_get(areas, "areas")) == 1,
		      "an account scoped to district 412 sees its commune 12345");
		json_decref(areas);
		snprintf(who.zones[0], sizeof(who.zones[0]), "12345");
		areas = ctl_rollup_json(&district, &who);
		CHECK(json_array_size(json_object_get(areas, "areas")) == 1,
		      "an account scoped to commune 12345 sees it");
		json_decref(areas);
	}
	CHECK(ctl_rollup_take(&district, "loaxa/xa-z/summary", doc, strlen(doc), why,
			      sizeof(why)) < 0, "the same summary on another site's topic is refused (%s)",
	      why);
	bad = strdup(doc);
	{
		char *p = strstr(bad, "\"online\":1");

		if (p)
			p[9] = '2';
	}
	CHECK(ctl_rollup_take(&district, "loaxa/xa-a/summary", bad, strlen(bad), why,
			      sizeof(why)) < 0 && strstr(why, "signature"),
	      "a summary changed after signing is refused (%s)", why);
	free(bad);
	free(doc);
	doc = ctl_rollup_document(&other, now);
	CHECK(ctl_rollup_take(&district, "loaxa/xa-b/summary", doc, strlen(doc), why,
			      sizeof(why)) < 0 && strstr(why, "not below"),
	      "a commune of district 413 is refused by district 412 (%s)", why);
	free(doc);
	CHECK(ctl_rollup_take(&district, "loaxa/xa-a/summary", "{]", 2, why, sizeof(why)) < 0,
	      "garbage is refused (%s)", why);
	CHECK(ctl_rollup_document(&district, now) == NULL,
	      "a district publishes no commune summary of its own");

	ctl_rollup_free(&commune);
	ctl_rollup_free(&district);
	ctl_rollup_free(&other);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", base);
	}
	TAP_EXIT();
}
