/*
 * test_cap.c - CAP 1.2 alerts (controller/capxml.c, controller/capmap.c):
 * the shipped Vietnamese alerts of tests/cap/ parsed and validated against
 * the compiled-in OASIS schema, the refusals (malformed: the element and
 * line; XXE, billion laughs, UTF-16, too big, not CAP), the cap block of
 * controller.cfg and its errors, and the mapping: levels, drills, areas
 * (villages, the whole commune, district, province, another province),
 * sources and what goes straight on air, Cancel and Update references.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capmap.h"
#include "capture.h"
#include "capxml.h"
#include "ctlcfg.h"
#include "tap.h"
#include "util.h"

static char dir[256], path[300];

static char *slurp(const char *name, size_t *len)
{
	char p[512];
	FILE *f;
	char *b;
	long n;

	snprintf(p, sizeof(p), "%s/tests/cap/%s", getenv("ROOT") ? getenv("ROOT") : ".", name);
	f = fopen(p, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		b = NULL;
	}
	if (b)
		b[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return b;
}

static struct cap_alert alert;
static int line;
static char elem[256], err[1024];

static int parse_file(const char *name)
{
	size_t len = 0;
	char *b = slurp(name, &len);
	int rc;

	if (!b) {
		snprintf(err, sizeof(err), "cannot read tests/cap/%s", name);
		return -ENOENT;
	}
	cap_alert_clear(&alert);
	rc = cap_parse(b, len, &alert, &line, elem, sizeof(elem), err, sizeof(err));
	free(b);
	return rc;
}

static void test_parse(void)
{
	int rc;

	CHECK(cap_xml_init() == 0, "the CAP 1.2 schema compiled into the controller loads");
	rc = parse_file("storm-emergency.xml");
	CHECK(rc == 0, "storm-emergency.xml is a valid CAP 1.2 alert (%s)", err);
	CHECK(!strcmp(alert.identifier, "PCTT-25-2026-0117") &&
	      !strcmp(alert.sender, "canhbao@pctt.phutho.gov.vn") &&
	      !strcmp(alert.status, "Actual") && !strcmp(alert.msg_type, "Alert") &&
	      alert.ninfo == 1, "its header is read (identifier, sender, status, msgType)");
	CHECK(!strcmp(alert.info[0].headline, "Khẩn cấp: bão số 9 đổ bộ") &&
	      !strcmp(alert.info[0].severity, "Extreme") &&
	      !strcmp(alert.info[0].language, "vi-VN") && alert.info[0].ngeocodes == 2 &&
	      !strcmp(alert.info[0].geocodes[1].value, "08152-T2"),
	      "its info: Vietnamese headline, severity, two geocodes");

	rc = parse_file("malformed.xml");
	CHECK(rc == -EINVAL && line == 13 && !strcmp(elem, "/alert/info[1]/urgency") &&
	      strstr(err, "line 13, element /alert/info[1]/urgency:") &&
	      strstr(err, "Khẩn cấp"),
	      "malformed.xml (urgency \"Khẩn cấp\") is refused naming line 13 and the element "
	      "(%s)", err);
	rc = parse_file("xxe.xml");
	CHECK(rc == -EINVAL && strstr(err, "DOCTYPE") && line == 2 && !strstr(err, "root:"),
	      "xxe.xml (an external entity on /etc/passwd) is refused before parsing (%s)", err);
	rc = parse_file("billion-laughs.xml");
	CHECK(rc == -EINVAL && strstr(err, "DOCTYPE"),
	      "billion-laughs.xml is refused before any entity is expanded (%s)", err);
	{
		static const char u16[] = "\xff\xfe<\0a\0";
		static const char notcap[] = "<?xml version=\"1.0\"?>\n<alert><identifier>x"
					     "</identifier></alert>\n";
		static const char broken[] = "<?xml version=\"1.0\"?>\n<alert xmlns=\"urn:oasis:"
					     "names:tc:emergency:cap:1.2\">\n<identifier>x\n";
		static const char ent[] = "<?xml version=\"1.0\"?><!ENTITY x \"y\"><a/>";
		char *big;

		rc = cap_parse(u16, sizeof(u16) - 1, &alert, &line, elem, sizeof(elem), err,
			       sizeof(err));
		CHECK(rc == -EINVAL && strstr(err, "UTF-8"), "UTF-16 is refused (%s)", err);
		rc = cap_parse(notcap, strlen(notcap), &alert, &line, elem, sizeof(elem), err,
			       sizeof(err));
		CHECK(rc == -EINVAL && strstr(err, "not a CAP 1.2 alert") && line == 2,
		      "an <alert> outside the CAP 1.2 namespace is refused (%s)", err);
		rc = cap_parse(broken, strlen(broken), &alert, &line, elem, sizeof(elem), err,
			       sizeof(err));
		CHECK(rc == -EINVAL && line >= 3 && strstr(err, "line "),
		      "XML cut short is refused with its line (%s)", err);
		rc = cap_parse(ent, strlen(ent), &alert, &line, elem, sizeof(elem), err,
			       sizeof(err));
		CHECK(rc == -EINVAL && strstr(err, "ENTITY"), "a bare ENTITY is refused (%s)", err);
		big = calloc(1, CAP_MAX_BYTES + 2);
		if (big) {
			memset(big, ' ', CAP_MAX_BYTES + 1);
			rc = cap_parse(big, CAP_MAX_BYTES + 1, &alert, &line, elem, sizeof(elem),
				       err, sizeof(err));
			CHECK(rc == -EFBIG, "an alert over %d bytes is refused unread (%s)",
			      CAP_MAX_BYTES, err);
			free(big);
		}
	}
}

static const char *cap_block =
	"cap = {\n"
	"  province = \"25\"; district = \"227\"; commune = \"08152\";\n"
	"  areas = (\n"
	"    { code = \"08152-T1\"; zones = [\"thon-1\"]; },\n"
	"    { code = \"08152-T2\"; zones = [\"thon-2\", \"cho\"]; }\n"
	"  );\n"
	"  sources = (\n"
	"    { name = \"tinh-pctt\"; sender = \"canhbao@pctt.phutho.gov.vn\"; "
	"direct = [\"emergency\"]; }\n"
	"  );\n"
	"};\n";

static int load_ctl(struct ctl_config *c, const char *extra, const char **log)
{
	char text[4096];
	int rc;

	snprintf(path, sizeof(path), "%s/controller.cfg", dir);
	snprintf(text, sizeof(text), "site = \"xa-test\";\nmqtt = { insecure = true; };\n%s",
		 extra);
	write_file_atomic(path, text, strlen(text), 0600);
	capture_begin();
	rc = ctl_config_load(c, path);
	*log = capture_end();
	return rc;
}

static struct ctl_config cfg;

static void test_config(void)
{
	const char *log;
	int rc;

	rc = load_ctl(&cfg, "", &log);
	CHECK(rc == 0 && !cfg.cap.enabled, "no cap block: CAP is off");
	rc = load_ctl(&cfg, cap_block, &log);
	CHECK(rc == 0 && cfg.cap.enabled && !strcmp(cfg.cap.commune, "08152") &&
	      cfg.cap.nareas == 2 && cfg.cap.areas[1].nzones == 2 && cfg.cap.nsources == 1 &&
	      cfg.cap.sources[0].direct == 1u << CAP_EMERGENCY &&
	      !strcmp(cfg.cap.value_name, "VN-ADMIN"),
	      "the cap block loads: codes, areas, sources");
	rc = load_ctl(&cfg, "cap = { province = \"2\"; district = \"227\"; commune = "
		      "\"08152\"; sources = ({ name = \"a\"; sender = \"b\"; }); };\n", &log);
	CHECK(rc < 0 && strstr(log, "controller.cfg:3: field \"cap.province\": \"2\" is not a "
			       "province code: 2 digits"),
	      "a province code of one digit is refused with line and field");
	rc = load_ctl(&cfg, "cap = { province = \"25\"; district = \"227\"; commune = "
		      "\"08152\"; sources = ({ name = \"a\"; sender = \"b\"; direct = "
		      "[\"urgent\"]; }); };\n", &log);
	CHECK(rc < 0 && strstr(log, "field \"cap.sources.direct\": source \"a\": \"urgent\" is "
			       "not a level"),
	      "an unknown level in direct is refused");
	rc = load_ctl(&cfg, "cap = { province = \"25\"; district = \"227\"; commune = "
		      "\"08152\"; };\n", &log);
	CHECK(rc < 0 && strstr(log, "needs sources"), "a cap block without sources is "
	      "refused");
	rc = load_ctl(&cfg, "cap = { province = \"25\"; district = \"227\"; commune = "
		      "\"08152\"; sources = ({ name = \"a\"; sender = \"b\"; }); "
		      "area = (); };\n", &log);
	CHECK(rc < 0 && strstr(log, "field \"cap.area\": unknown field"),
	      "a typo in the cap block is an unknown field");
	rc = load_ctl(&cfg, "cap = { province = \"25\"; district = \"227\"; commune = "
		      "\"08152\"; sources = ({ name = \"a\"; sender = \"b\"; }); "
		      "areas = ({ code = \"x\"; zones = [\"Thôn 1\"]; }); };\n", &log);
	CHECK(rc < 0 && strstr(log, "field \"cap.areas.zones\": area \"x\": entry 1 is not a "
			       "zone name"),
	      "a zone that is not a zone name is refused");
	rc = load_ctl(&cfg, cap_block, &log);
}

static struct cap_decision d;

static int map_file(const char *name)
{
	int rc = parse_file(name);

	if (rc < 0)
		return rc;
	return cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
}

static void test_map(void)
{
	struct cap_info in;
	char why[256];
	int rc;

	rc = map_file("storm-emergency.xml");
	CHECK(rc == 0 && d.action == CAP_PLAY && d.level == CAP_EMERGENCY && !d.drill &&
	      !d.all && d.nzones == 3 && !strcmp(d.zones[0], "thon-1") &&
	      !strcmp(d.zones[1], "thon-2") && !strcmp(d.zones[2], "cho") && d.direct &&
	      !strcmp(d.source->name, "tinh-pctt"),
	      "the storm: emergency, straight on air, in thon-1, thon-2 and cho (%s; %s)", err,
	      d.why);
	rc = map_file("bulletin-priority.xml");
	CHECK(rc == 0 && d.level == CAP_PRIORITY && d.all && !d.direct && !d.drill,
	      "the rain bulletin for the district: priority, the whole commune, through "
	      "approval (%s; %s)", err, d.why);
	rc = map_file("exercise.xml");
	CHECK(rc == 0 && d.level == CAP_EMERGENCY && d.drill && d.direct && d.nzones == 1,
	      "the Exercise: an emergency drill, never a real alarm (%s)", d.why);
	rc = map_file("cancel.xml");
	CHECK(rc == 0 && d.action == CAP_CANCEL, "the Cancel: stop what it references (%s)",
	      err);
	rc = map_file("other-province.xml");
	CHECK(rc == -EINVAL && !strcmp(elem, "/alert/info[1]/area") &&
	      strstr(err, "the alert is for another area (VN-ADMIN 26), not for this commune "
			  "(08152, district 227, province 25): refused"),
	      "another province is refused, naming its code and ours (%s)", err);

	/* a sender not configured */
	parse_file("storm-emergency.xml");
	snprintf(alert.sender, sizeof(alert.sender), "ai-do@example.com");
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == -EPERM && !strcmp(elem, "/alert/sender") && strstr(err, "ai-do@example.com"),
	      "an unknown sender is refused (%s)", err);
	/* the same alert in the whole province: the whole commune */
	parse_file("storm-emergency.xml");
	snprintf(alert.info[0].geocodes[0].value, 64, "25");
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == 0 && d.all && d.nzones == 0, "an alert for the province plays in the "
	      "whole commune");
	/* another valueName does not count */
	snprintf(alert.info[0].geocodes[0].name, 64, "SAME");
	snprintf(alert.info[0].geocodes[1].name, 64, "SAME");
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == -EINVAL && strstr(err, "names no area code"), "geocodes of another "
	      "valueName are not ours (%s)", err);
	/* status Test: a drill; System: refused */
	parse_file("storm-emergency.xml");
	snprintf(alert.status, sizeof(alert.status), "Test");
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == 0 && d.drill, "status Test: a drill");
	snprintf(alert.status, sizeof(alert.status), "System");
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == -EINVAL && !strcmp(elem, "/alert/status"), "status System: nothing to "
	      "broadcast (%s)", err);
	/* a Cancel without references */
	parse_file("cancel.xml");
	alert.references[0] = '\0';
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == -EINVAL && !strcmp(elem, "/alert/references"), "a Cancel without "
	      "references is refused (%s)", err);
	/* Update: replaces */
	parse_file("storm-emergency.xml");
	snprintf(alert.msg_type, sizeof(alert.msg_type), "Update");
	snprintf(alert.references, sizeof(alert.references), "s,id-1,2026-12-07T23:30:00+07:00 "
		 "s,id-2,2026-12-07T23:31:00+07:00");
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == 0 && d.update && d.action == CAP_PLAY, "an Update plays and replaces");
	/* a Vietnamese info block is preferred to the first */
	parse_file("storm-emergency.xml");
	alert.info[1] = alert.info[0];
	memset(alert.info[1].resources, 0, sizeof(alert.info[1].resources));
	snprintf(alert.info[0].language, sizeof(alert.info[0].language), "en-US");
	snprintf(alert.info[0].severity, sizeof(alert.info[0].severity), "Minor");
	alert.ninfo = 2;
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == 0 && d.info == 1 && d.level == CAP_EMERGENCY, "the vi info block decides");

	/* the level table of docs/cap.md */
	{
		static const struct {
			const char *sev, *urg, *cer;
			enum cap_level want;
		} t[] = {
			{ "Extreme", "Immediate", "Observed", CAP_EMERGENCY },
			{ "Severe", "Immediate", "Likely", CAP_EMERGENCY },
			{ "Extreme", "Immediate", "Possible", CAP_PRIORITY },
			{ "Severe", "Expected", "Observed", CAP_PRIORITY },
			{ "Extreme", "Future", "Likely", CAP_PRIORITY },
			{ "Severe", "Past", "Observed", CAP_NORMAL },
			{ "Moderate", "Immediate", "Observed", CAP_PRIORITY },
			{ "Moderate", "Expected", "Likely", CAP_PRIORITY },
			{ "Moderate", "Future", "Likely", CAP_NORMAL },
			{ "Moderate", "Immediate", "Possible", CAP_NORMAL },
			{ "Minor", "Immediate", "Observed", CAP_NORMAL },
			{ "Unknown", "Unknown", "Unknown", CAP_NORMAL },
		};
		size_t i;

		for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			memset(&in, 0, sizeof(in));
			snprintf(in.severity, sizeof(in.severity), "%s", t[i].sev);
			snprintf(in.urgency, sizeof(in.urgency), "%s", t[i].urg);
			snprintf(in.certainty, sizeof(in.certainty), "%s", t[i].cer);
			CHECK(cap_level_of(&in, why, sizeof(why)) == t[i].want,
			      "%s/%s/%s -> %s", t[i].sev, t[i].urg, t[i].cer,
			      cap_level_name(t[i].want));
		}
	}
	/* a priority alert from a source allowed priority goes straight on air */
	cfg.cap.sources[0].direct |= 1u << CAP_PRIORITY;
	rc = map_file("bulletin-priority.xml");
	CHECK(rc == 0 && d.direct, "a source allowed priority puts the bulletin on air itself");
	/* ... but a drill below emergency always waits */
	snprintf(alert.status, sizeof(alert.status), "Exercise");
	rc = cap_map(&cfg.cap, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	CHECK(rc == 0 && d.drill && !d.direct, "a drill of a bulletin waits for approval");
	cfg.cap.sources[0].direct &= ~(1u << CAP_PRIORITY);
}

static int seen;
static int ref_cb(void *arg, const char *sender, const char *id)
{
	(void)arg;
	seen += !strcmp(sender, "s") && (!strcmp(id, "a") || !strcmp(id, "b"));
	return 0;
}

static void test_refs(void)
{
	seen = 0;
	CHECK(cap_references("s,a,2026-12-07T23:30:00+07:00  s,b,x\n", ref_cb, NULL) == 0 &&
	      seen == 2, "two references are read");
	CHECK(cap_references("s,a", ref_cb, NULL) == -EINVAL, "a reference without sent is "
	      "refused");
	CHECK(cap_references(",a,b", ref_cb, NULL) == -EINVAL, "a reference without sender "
	      "is refused");
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/loaxa-test.capunit.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	test_parse();
	test_config();
	test_map();
	test_refs();
	cap_alert_clear(&alert);
	cap_xml_free();
	unlink(path);
	rmdir(dir);
	TAP_EXIT();
}
