/*
 * upperctl.c - see upperctl.h.
 */
#include "upperctl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "area.h"
#include "auth.h"
#include "ctl.h"
#include "ctlutil.h"
#include "db.h"
#include "emergency.h"
#include "envelope.h"
#include "log.h"
#include "mqtt.h"
#include "rollup.h"
#include "util.h"

#define LIST_MAX 256

static int list_ok(json_t *a, enum area_level l, int zones)
{
	json_t *e;
	size_t i;

	if (!a)
		return 1;
	if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > LIST_MAX)
		return 0;
	json_array_foreach(a, i, e) {
		const char *s = json_string_value(e);

		if (!s || (zones ? !name_valid(s) : !area_code_valid(l, s)))
			return 0;
	}
	return 1;
}

json_t *ctl_upper_body(const struct ctl *c, const char *cmd, json_t *req, const char *id,
		       char *err, size_t errlen)
{
	const struct ctl_config *cfg = &c->cfg;
	const char *area = json_string_value(json_object_get(req, "area"));
	const char *clip = json_string_value(json_object_get(req, "clip"));
	json_t *communes = json_object_get(req, "communes");
	json_t *villages = json_object_get(req, "villages"), *to, *body;
	json_t *drill = json_object_get(req, "drill"), *max = json_object_get(req, "max_s");

	if (cfg->area.level != AREA_DISTRICT && cfg->area.level != AREA_PROVINCE) {
		snprintf(err, errlen, "this controller is not a district or province (controller.cfg "
			 "area.level is \"%s\"): a commune sounds its own nodes with POST "
			 "/v1/emergency", area_level_name(cfg->area.level));
		return NULL;
	}
	if (!area)
		area = cfg->area.code;
	/* its own area, or a district of a province's (3 digits starting like it?
	 * codes do not nest by digits: the communes' nodes check their chain) */
	if (strcmp(area, cfg->area.code) != 0 &&
	    !(cfg->area.level == AREA_PROVINCE && area_code_valid(AREA_DISTRICT, area)) &&
	    !area_code_valid(AREA_COMMUNE, area)) {
		snprintf(err, errlen, "field \"area\" must be this %s's code (%s), or the code of a "
			 "%s in it", area_level_name(cfg->area.level), cfg->area.code,
			 cfg->area.level == AREA_PROVINCE ? "district or commune" : "commune");
		return NULL;
	}
	if (!list_ok(communes, AREA_COMMUNE, 0)) {
		snprintf(err, errlen, "field \"communes\" must be a list of commune codes (5 "
			 "digits), at most %d", LIST_MAX);
		return NULL;
	}
	if (!list_ok(villages, AREA_NONE, 1)) {
		snprintf(err, errlen, "field \"villages\" must be a list of village (zone) names, "
			 "at most %d", LIST_MAX);
		return NULL;
	}
	if (drill && !json_is_boolean(drill)) {
		snprintf(err, errlen, "field \"drill\" must be true or false");
		return NULL;
	}
	to = json_pack("{s:s}", "area", area);
	if (communes)
		json_object_set(to, "communes", communes);
	if (villages)
		json_object_set(to, "villages", villages);
	body = json_pack("{s:s, s:o, s:s, s:b}", "cmd", cmd, "to", to, "id", id, "drill",
			 json_is_true(drill));
	if (strcmp(cmd, "emergency_stop") == 0) {
		if (clip)
			json_object_set_new(body, "all_clear", json_string(clip));
		return body;
	}
	if (!clip || !name_valid(clip)) {
		json_decref(body);
		snprintf(err, errlen, "field \"clip\" must name a clip of the communes' emergency "
			 "set (tone, flood, storm, ...): nodes sound their own copy");
		return NULL;
	}
	json_object_set_new(body, "clip", json_string(clip));
	if (max) {
		if (!json_is_integer(max) || json_integer_value(max) < 1 ||
		    json_integer_value(max) > CTL_EMERGENCY_MAX_S) {
			json_decref(body);
			snprintf(err, errlen, "field \"max_s\" must be 1 to %d seconds",
				 CTL_EMERGENCY_MAX_S);
			return NULL;
		}
		json_object_set(body, "max_s", max);
	}
	return body;
}

/* Sign as the area (site = its code) and publish on loaxa/area/<code>/cmd. */
static int seal_publish(struct ctl *c, json_t *body, int drill, char *topic, size_t topiclen,
			char *err, size_t errlen)
{
	struct signer s = c->signer;
	char *text = json_dumps(body, JSON_COMPACT);
	int64_t now = now_ms();
	uint8_t *env = NULL;
	size_t envlen = 0;
	uint64_t seq;
	int rc = -ENOMEM;

	snprintf(s.site, sizeof(s.site), "%s", c->cfg.area.code);
	if (!text || area_cmd_topic(topic, topiclen, c->cfg.area.code) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = ctl_db_next_seq(&c->db, ENV_CMD, ctl_now_us(), &seq);
	if (rc < 0) {
		snprintf(err, errlen, "the controller's database failed (see its log)");
		goto out;
	}
	rc = envelope_seal(&s, ENV_CMD, drill ? ENV_FLAG_DRILL : 0, seq, now,
			   now + CTL_EMERGENCY_TTL_MS, text, strlen(text), &env, &envlen);
	if (rc < 0) {
		snprintf(err, errlen, "cannot sign the command: %s", strerror(-rc));
		goto out;
	}
	rc = ctl_mqtt_publish(c, CTL_CONN_CTL, topic, env, envlen, 1, 0);
	if (rc == -ENOTCONN) {
		log_warnx("not connected to the MQTT broker: the command on %s goes out when the "
			  "connection returns", topic);
		rc = 0;
	} else if (rc < 0) {
		snprintf(err, errlen, "cannot publish on %s: %s", topic, strerror(-rc));
	}
out:
	sodium_memzero(&s, sizeof(s));
	free(text);
	free(env);
	return rc;
}

void ctl_upper_api(struct ctl *c, const struct ctl_principal *who, const char *url,
		   const char *body, size_t len, unsigned *status, json_t **reply,
		   char *target, size_t targetlen)
{
	int stop = strcmp(url, "/v1/emergency/area/stop") == 0;
	json_t *req = NULL, *cmd = NULL;
	char err[300], id[64], topic[64];
	const char *sid;
	int drill;

	if (!stop && strcmp(url, "/v1/emergency/area") != 0) {
		*status = 404;
		*reply = ctl_error_json("no such endpoint: POST /v1/emergency/area, POST "
					"/v1/emergency/area/stop");
		return;
	}
	req = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(req)) {
		*status = 400;
		*reply = ctl_error_json("the request must be a JSON object");
		goto out;
	}
	drill = json_is_true(json_object_get(req, "drill"));
	if (stop) {
		sid = json_string_value(json_object_get(req, "emergency"));
		if (!sid || strlen(sid) >= sizeof(id) || !name_valid(sid) ||
		    (sid[0] != 'e' && sid[0] != 'd') || sid[1] != '-') {
			*status = 400;
			*reply = ctl_error_json("field \"emergency\" must be the id of the area "
						"emergency to stop (e-a<code>-...)");
			goto out;
		}
		snprintf(id, sizeof(id), "%s", sid);
		drill = sid[0] == 'd';
		json_object_set_new(req, "drill", json_boolean(drill));
	} else {
		snprintf(id, sizeof(id), "%s-a%s-%" PRId64, drill ? "d" : "e", c->cfg.area.code,
			 now_ms());
	}
	cmd = ctl_upper_body(c, stop ? "emergency_stop" : "emergency_start", req, id, err,
			     sizeof(err));
	if (!cmd) {
		*status = 400;
		*reply = ctl_error_json("%s", err);
		goto out;
	}
	/*
	 * An account scoped to areas (a commune's official on the district's
	 * controller) may address only them: the whole area, or each commune
	 * named, must be in its scope (rollup.h ctl_area_in_scope).
	 */
	if (!ctl_area_in_scope(who, json_string_value(json_object_get(json_object_get(cmd, "to"),
								      "area")))) {
		json_t *list = json_object_get(json_object_get(cmd, "to"), "communes"), *e;
		size_t i;
		int ok = json_array_size(list) > 0;

		json_array_foreach(list, i, e)
			ok &= ctl_area_in_scope(who, json_string_value(e));
		if (!ok) {
			*status = 403;
			*reply = ctl_error_json("your account may address only the areas of its scope; "
						"name them with \"communes\" (--commune)");
			goto out;
		}
	}
	snprintf(target, targetlen, "%s %s %s", stop ? "stop" : "start", id,
		 json_string_value(json_object_get(json_object_get(cmd, "to"), "area")));
	if (seal_publish(c, cmd, drill, topic, sizeof(topic), err, sizeof(err)) < 0) {
		*status = 503;
		*reply = ctl_error_json("%s", err);
		goto out;
	}
	log_warnx("%s %s %s for %s %s on %s", drill ? "DRILL" : "EMERGENCY", id,
		  stop ? "stopped" : "sent", area_level_name(c->cfg.area.level), c->cfg.area.code,
		  topic);
	*status = stop ? 200 : 201;
	*reply = json_pack("{s:s, s:s, s:O}", "emergency", id, "topic", topic, "to",
			   json_object_get(cmd, "to"));
out:
	json_decref(cmd);
	json_decref(req);
}
