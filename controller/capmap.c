/*
 * capmap.c - the cap block of controller.cfg and what an alert means here
 * (capmap.h, docs/cap.md).
 */
#include "capmap.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "util.h"

const char *const cap_config_fields[] = {
	"cap", "cap.province", "cap.district", "cap.commune", "cap.geocode_name",
	"cap.areas", "cap.sources", "cap.import_dir", "cap.text_max", "cap.max_s", NULL,
};

static const char *const level_names[] = { "normal", "priority", "emergency" };

const char *cap_level_name(enum cap_level l)
{
	return level_names[l];
}

static int digits(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* file:line: field "cap.<what>": msg, for a member of a list entry */
#define entry_error(cfg, s, field, fmt, ...)                                                \
	do {                                                                                \
		log_errorx("%s:%d: field \"cap.%s\": " fmt, (cfg)->path,                       \
			   (s) ? (int)config_setting_source_line(s) : 0, field, __VA_ARGS__);    \
		(cfg)->errors++;                                                            \
	} while (0)

static const char *member_str(config_setting_t *e, const char *name, config_setting_t **f)
{
	*f = config_setting_get_member(e, name);
	if (*f && config_setting_type(*f) == CONFIG_TYPE_STRING)
		return config_setting_get_string(*f);
	return NULL;
}

static int load_areas(struct cfg *cfg, config_setting_t *list, struct cap_config *c)
{
	int i, n, bad = 0;

	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		cfg_error(cfg, "cap.areas", "must be a list: areas = ( { code = \"08152-T1\"; "
			  "zones = [\"thon-1\"]; } );");
		return -EINVAL;
	}
	n = config_setting_length(list);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i), *f, *z;
		struct cap_area_map *a;
		const char *code;
		int j, nz;

		if (!e || config_setting_type(e) != CONFIG_TYPE_GROUP) {
			entry_error(cfg, e, "areas", "entry %d must be { code = \"...\"; zones = "
				    "[\"thon-1\"]; }", i + 1);
			bad = 1;
			continue;
		}
		code = member_str(e, "code", &f);
		if (!code || !*code || strlen(code) >= sizeof(a->code)) {
			entry_error(cfg, f ? f : e, "areas.code", "entry %d needs a code: the "
				    "geocode value the province sends for it (1-63 characters)", i + 1);
			bad = 1;
			continue;
		}
		if (c->nareas >= CAP_MAP_AREAS) {
			entry_error(cfg, e, "areas", "at most %d area codes", CAP_MAP_AREAS);
			bad = 1;
			break;
		}
		a = &c->areas[c->nareas];
		memset(a, 0, sizeof(*a));
		snprintf(a->code, sizeof(a->code), "%s", code);
		z = config_setting_get_member(e, "zones");
		if (!z || config_setting_type(z) != CONFIG_TYPE_ARRAY ||
		    config_setting_length(z) < 1) {
			entry_error(cfg, z ? z : e, "areas.zones", "area \"%s\" needs zones = "
				    "[\"thon-1\", ...]: the villages it covers", code);
			bad = 1;
			continue;
		}
		nz = config_setting_length(z);
		for (j = 0; j < nz; j++) {
			const char *zn = config_setting_get_string_elem(z, (unsigned)j);

			if (!zn || !name_valid(zn) || strcmp(zn, "all") == 0 ||
			    a->nzones >= CAP_MAP_ZONES) {
				entry_error(cfg, z, "areas.zones", "area \"%s\": entry %d is not a "
					    "zone name (1 to 31 of a-z, 0-9, '-' and '_'; at most %d)",
					    code, j + 1, CAP_MAP_ZONES);
				bad = 1;
				break;
			}
			snprintf(a->zones[a->nzones++], CAP_ZONE_NAME, "%s", zn);
		}
		c->nareas++;
	}
	return bad ? -EINVAL : 0;
}

static int load_sources(struct cfg *cfg, config_setting_t *list, struct cap_config *c)
{
	int i, n, bad = 0;

	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		cfg_error(cfg, "cap.sources", "must be a list: sources = ( { name = \"tinh\"; "
			  "sender = \"canhbao@tinh.gov.vn\"; direct = [\"emergency\"]; } );");
		return -EINVAL;
	}
	n = config_setting_length(list);
	for (i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i), *f, *d;
		struct cap_source *s;
		const char *name, *sender;
		int j, nd;

		if (!e || config_setting_type(e) != CONFIG_TYPE_GROUP) {
			entry_error(cfg, e, "sources", "entry %d must be { name = \"...\"; sender = "
				    "\"...\"; direct = [...]; }", i + 1);
			bad = 1;
			continue;
		}
		name = member_str(e, "name", &f);
		if (!name || !name_valid(name)) {
			entry_error(cfg, f ? f : e, "sources.name", "entry %d needs a name (1 to 31 "
				    "of a-z, 0-9, '-' and '_'): it signs its drafts in the audit log",
				    i + 1);
			bad = 1;
			continue;
		}
		sender = member_str(e, "sender", &f);
		if (!sender || !*sender || strlen(sender) >= CAP_ID_MAX) {
			entry_error(cfg, f ? f : e, "sources.sender", "source \"%s\" needs the "
				    "<sender> its alerts carry", name);
			bad = 1;
			continue;
		}
		if (c->nsources >= CAP_SOURCES) {
			entry_error(cfg, e, "sources", "at most %d sources", CAP_SOURCES);
			bad = 1;
			break;
		}
		s = &c->sources[c->nsources];
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->sender, sizeof(s->sender), "%s", sender);
		d = config_setting_get_member(e, "direct");
		if (d && config_setting_type(d) != CONFIG_TYPE_ARRAY) {
			entry_error(cfg, d, "sources.direct", "source \"%s\": must be a list of "
				    "levels, e.g. [\"emergency\"]", name);
			bad = 1;
			continue;
		}
		nd = d ? config_setting_length(d) : 0;
		for (j = 0; j < nd; j++) {
			const char *lv = config_setting_get_string_elem(d, (unsigned)j);
			int l, found = -1;

			for (l = 0; lv && l < 3; l++)
				if (strcmp(lv, level_names[l]) == 0)
					found = l;
			if (found < 0) {
				entry_error(cfg, d, "sources.direct", "source \"%s\": \"%s\" is not a "
					    "level (normal, priority, emergency)", name, lv ? lv : "?");
				bad = 1;
				break;
			}
			s->direct |= 1u << found;
		}
		c->nsources++;
	}
	return bad ? -EINVAL : 0;
}

int cap_config_load(struct cfg *cfg, const char *dir, struct cap_config *c)
{
	config_setting_t *g = config_lookup(&cfg->c, "cap"), *s;
	char buf[PATH_MAX];
	long long v;
	int bad = 0;

	memset(c, 0, sizeof(*c));
	snprintf(c->value_name, sizeof(c->value_name), "VN-ADMIN");
	c->text_max = 2000;
	c->max_s = 1800;
	if (!g)
		return 0;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		cfg_error(cfg, "cap", "must be a group: cap = { province = \"25\"; district = "
			  "\"227\"; commune = \"08152\"; ... };");
		return -EINVAL;
	}
	c->enabled = 1;
	if (cfg_string(cfg, "cap.province", CFG_REQUIRED, NULL, c->province,
		       sizeof(c->province)) < 0 || !digits(c->province, 2)) {
		if (c->province[0])
			cfg_error(cfg, "cap.province", "\"%s\" is not a province code: 2 digits "
				  "(e.g. \"25\")", c->province);
		bad = 1;
	}
	if (cfg_string(cfg, "cap.district", CFG_REQUIRED, NULL, c->district,
		       sizeof(c->district)) < 0 || !digits(c->district, 3)) {
		if (c->district[0])
			cfg_error(cfg, "cap.district", "\"%s\" is not a district code: 3 digits "
				  "(e.g. \"227\")", c->district);
		bad = 1;
	}
	if (cfg_string(cfg, "cap.commune", CFG_REQUIRED, NULL, c->commune,
		       sizeof(c->commune)) < 0 || !digits(c->commune, 5)) {
		if (c->commune[0])
			cfg_error(cfg, "cap.commune", "\"%s\" is not a commune code: 5 digits "
				  "(e.g. \"08152\")", c->commune);
		bad = 1;
	}
	if (cfg_string(cfg, "cap.geocode_name", CFG_OPTIONAL, c->value_name, c->value_name,
		       sizeof(c->value_name)) < 0)
		bad = 1;
	if (cfg_int(cfg, "cap.text_max", CFG_OPTIONAL, c->text_max, 50, 4000, &v) < 0)
		bad = 1;
	else
		c->text_max = (int)v;
	if (cfg_int(cfg, "cap.max_s", CFG_OPTIONAL, c->max_s, 10, 86400, &v) < 0)
		bad = 1;
	else
		c->max_s = (int)v;
	if (cfg_string(cfg, "cap.import_dir", CFG_OPTIONAL, "", buf, sizeof(buf)) < 0)
		bad = 1;
	else if (buf[0]) {
		int w = buf[0] == '/' ? snprintf(c->import_dir, sizeof(c->import_dir), "%s", buf)
				      : snprintf(c->import_dir, sizeof(c->import_dir), "%s/%s",
						 dir, buf);

		if (w < 0 || (size_t)w >= sizeof(c->import_dir)) {
			cfg_error(cfg, "cap.import_dir", "the path is too long");
			bad = 1;
		}
	}
	s = config_lookup(&cfg->c, "cap.areas");
	if (s && load_areas(cfg, s, c) < 0)
		bad = 1;
	s = config_lookup(&cfg->c, "cap.sources");
	if (!s || config_setting_length(s) == 0) {
		cfg_error(cfg, "cap", "needs sources = ( { name = \"tinh\"; sender = "
			  "\"canhbao@tinh.gov.vn\"; direct = [\"emergency\"]; } ): without a source "
			  "no alert is accepted");
		bad = 1;
	} else if (load_sources(cfg, s, c) < 0)
		bad = 1;
	return bad ? -EINVAL : 0;
}

enum cap_level cap_level_of(const struct cap_info *in, char *why, size_t whylen)
{
	int grave = !strcmp(in->severity, "Extreme") || !strcmp(in->severity, "Severe");
	int now = !strcmp(in->urgency, "Immediate");
	int soon = now || !strcmp(in->urgency, "Expected");
	int sure = !strcmp(in->certainty, "Observed") || !strcmp(in->certainty, "Likely");
	enum cap_level l;

	/* the table of docs/cap.md, "Levels" */
	if (grave && now && sure)
		l = CAP_EMERGENCY;
	else if (grave && strcmp(in->urgency, "Past") != 0)
		l = CAP_PRIORITY;
	else if (!strcmp(in->severity, "Moderate") && soon && sure)
		l = CAP_PRIORITY;
	else
		l = CAP_NORMAL;
	snprintf(why, whylen, "severity %s, urgency %s, certainty %s -> %s", in->severity,
		 in->urgency, in->certainty, level_names[l]);
	return l;
}

static int add_zone(struct cap_decision *d, const char *z)
{
	size_t i;

	for (i = 0; i < d->nzones; i++)
		if (!strcmp(d->zones[i], z))
			return 0;
	if (d->nzones >= CAP_MAP_AREAS)
		return -E2BIG;
	snprintf(d->zones[d->nzones++], CAP_ZONE_NAME, "%s", z);
	return 0;
}

int cap_references(const char *refs, int (*fn)(void *arg, const char *sender, const char *id),
		   void *arg)
{
	const char *p = refs;
	int rc;

	while (*p) {
		char one[2 * CAP_ID_MAX + 64], *c1, *c2;
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		n = strcspn(p, " \t\r\n");
		if (n >= sizeof(one))
			return -EINVAL;
		memcpy(one, p, n);
		one[n] = '\0';
		p += n;
		c1 = strchr(one, ',');
		c2 = c1 ? strchr(c1 + 1, ',') : NULL;
		if (!c1 || !c2 || c1 == one || c2 == c1 + 1)
			return -EINVAL;
		*c1 = *c2 = '\0';
		rc = fn(arg, one, c1 + 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int count_ref(void *arg, const char *sender, const char *id)
{
	(void)sender;
	(void)id;
	(*(int *)arg)++;
	return 0;
}

int cap_map(const struct cap_config *cfg, const struct cap_alert *a, struct cap_decision *d,
	    char *elem, size_t elemlen, char *err, size_t errlen)
{
	const struct cap_info *in;
	char codes[256] = "";
	size_t i, j, k;
	int matched = 0, nref = 0;

	memset(d, 0, sizeof(*d));
	elem[0] = '\0';
	if (!cfg->enabled) {
		snprintf(err, errlen, "this controller takes no CAP alerts: controller.cfg has no "
			 "cap block (docs/cap.md)");
		return -EINVAL;
	}
	for (i = 0; i < cfg->nsources; i++)
		if (!strcmp(cfg->sources[i].sender, a->sender))
			d->source = &cfg->sources[i];
	if (!d->source) {
		snprintf(elem, elemlen, "/alert/sender");
		snprintf(err, errlen, "sender \"%.200s\" is not a CAP source of this station "
			 "(cap.sources in controller.cfg)", a->sender);
		return -EPERM;
	}
	if (!strcmp(a->status, "System") || !strcmp(a->status, "Draft")) {
		snprintf(elem, elemlen, "/alert/status");
		snprintf(err, errlen, "status %s: the alert is not meant for the public; nothing "
			 "is broadcast", a->status);
		return -EINVAL;
	}
	if (!strcmp(a->msg_type, "Ack") || !strcmp(a->msg_type, "Error")) {
		snprintf(elem, elemlen, "/alert/msgType");
		snprintf(err, errlen, "msgType %s: an answer between systems, nothing to "
			 "broadcast", a->msg_type);
		return -EINVAL;
	}
	d->drill = !strcmp(a->status, "Exercise") || !strcmp(a->status, "Test");
	if (!strcmp(a->msg_type, "Cancel") || !strcmp(a->msg_type, "Update")) {
		if (!a->references[0] || cap_references(a->references, count_ref, &nref) < 0 ||
		    nref == 0) {
			snprintf(elem, elemlen, "/alert/references");
			snprintf(err, errlen, "msgType %s needs <references> naming the alert it "
				 "changes as \"sender,identifier,sent\"", a->msg_type);
			return -EINVAL;
		}
		if (!strcmp(a->msg_type, "Cancel")) {
			d->action = CAP_CANCEL;
			snprintf(d->why, sizeof(d->why), "msgType Cancel: stop %.400s", a->references);
			return 0;
		}
		d->update = 1;
	}
	if (a->ninfo == 0) {
		snprintf(elem, elemlen, "/alert");
		snprintf(err, errlen, "the alert has no <info>: nothing to say or to broadcast");
		return -EINVAL;
	}
	/* the Vietnamese info block, else the first */
	for (i = 0; i < a->ninfo; i++)
		if (!strncmp(a->info[i].language, "vi", 2)) {
			d->info = i;
			break;
		}
	in = &a->info[d->info];
	/* where: this commune (or its district or province: all of it), or villages */
	for (i = 0; i < in->ngeocodes; i++) {
		const struct cap_geocode *g = &in->geocodes[i];

		if (strcmp(g->name, cfg->value_name) != 0)
			continue;
		if (strlen(codes) + strlen(g->value) + 3 < sizeof(codes))
			snprintf(codes + strlen(codes), sizeof(codes) - strlen(codes), "%s%s",
				 codes[0] ? ", " : "", g->value);
		if (!strcmp(g->value, cfg->commune) || !strcmp(g->value, cfg->district) ||
		    !strcmp(g->value, cfg->province)) {
			d->all = 1;
			matched = 1;
			continue;
		}
		for (j = 0; j < cfg->nareas; j++) {
			if (strcmp(g->value, cfg->areas[j].code) != 0)
				continue;
			matched = 1;
			for (k = 0; k < cfg->areas[j].nzones; k++)
				if (add_zone(d, cfg->areas[j].zones[k]) < 0) {
					snprintf(err, errlen, "the alert names more than %d villages",
						 CAP_MAP_AREAS);
					return -EINVAL;
				}
		}
	}
	if (!matched) {
		snprintf(elem, elemlen, "/alert/info[%zu]/area", d->info + 1);
		if (codes[0])
			snprintf(err, errlen, "the alert is for another area (%s %s), not for this "
				 "commune (%s, district %s, province %s): refused", cfg->value_name,
				 codes, cfg->commune, cfg->district, cfg->province);
		else
			snprintf(err, errlen, "the alert names no area code (<geocode> with "
				 "<valueName>%s</valueName>): it cannot be placed in this commune",
				 cfg->value_name);
		return -EINVAL;
	}
	if (d->all)
		d->nzones = 0;
	d->level = cap_level_of(in, d->why, sizeof(d->why));
	if (d->drill)
		snprintf(d->why + strlen(d->why), sizeof(d->why) - strlen(d->why),
			 "; status %s: a drill", a->status);
	/* a drill never goes on air by itself unless the source may send that
	 * level; a drill of a bulletin below emergency waits for approval */
	d->direct = (d->source->direct >> d->level) & 1u;
	if (d->drill && d->level != CAP_EMERGENCY)
		d->direct = 0;
	return 0;
}
