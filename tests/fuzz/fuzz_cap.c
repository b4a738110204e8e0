/*
 * fuzz_cap.c - libFuzzer harness for CAP 1.2 alerts from outside
 * (controller/capxml.c, controller/capmap.c; docs/cap.md): the input is
 * the body of POST /v1/cap. It is parsed and validated against the
 * compiled-in schema; a refusal must say something and name a line or an
 * element no longer than its buffer; an accepted alert is mapped against a
 * fixed cap configuration (commune 08152, two village codes, one source),
 * and the decision must be one the controller can act on. The seeds are
 * the shipped alerts of tests/cap/ (the XXE and billion-laughs ones too).
 */
// fuzz-sources: controller/capxml.c controller/capmap.c
// fuzz-args: -max_len=65536
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capmap.h"
#include "capxml.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cap_config cfg;
static struct cap_alert alert;

static void setup(void)
{
	log_init("fuzz", 0);
	cfg.enabled = 1;
	strcpy(cfg.province, "25");
	strcpy(cfg.district, "227");
	strcpy(cfg.commune, "08152");
	strcpy(cfg.value_name, "VN-ADMIN");
	strcpy(cfg.areas[0].code, "08152-T1");
	strcpy(cfg.areas[0].zones[0], "thon-1");
	cfg.areas[0].nzones = 1;
	strcpy(cfg.areas[1].code, "08152-T2");
	strcpy(cfg.areas[1].zones[0], "thon-2");
	strcpy(cfg.areas[1].zones[1], "cho");
	cfg.areas[1].nzones = 2;
	cfg.nareas = 2;
	strcpy(cfg.sources[0].name, "tinh-pctt");
	strcpy(cfg.sources[0].sender, "canhbao@pctt.phutho.gov.vn");
	cfg.sources[0].direct = 1u << CAP_EMERGENCY;
	cfg.nsources = 1;
	cfg.text_max = 2000;
	cfg.max_s = 1800;
	if (cap_xml_init() < 0)
		abort();
}

static int noop_ref(void *arg, const char *sender, const char *id)
{
	(void)arg;
	if (!*sender || !*id)
		abort(); /* cap_references promised both */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct cap_decision d;
	char err[1024], elem[256];
	int line = -1, rc;
	size_t i;

	if (!ready) {
		setup();
		ready = 1;
	}
	rc = cap_parse(data, size, &alert, &line, elem, sizeof(elem), err, sizeof(err));
	if (rc < 0) {
		if (!err[0] || line < 0 || strlen(elem) >= sizeof(elem))
			abort(); /* a refusal says why */
		cap_alert_clear(&alert);
		return 0;
	}
	if (!alert.identifier[0] || !alert.sender[0] || alert.ninfo > CAP_MAX_INFO)
		abort(); /* the schema requires them */
	rc = cap_map(&cfg, &alert, &d, elem, sizeof(elem), err, sizeof(err));
	if (rc < 0 && !err[0])
		abort();
	if (rc == 0) {
		if (d.level > CAP_EMERGENCY || d.nzones > CAP_MAP_AREAS || (d.all && d.nzones) ||
		    !d.source)
			abort();
		if (d.action == CAP_PLAY && !d.all && d.nzones == 0)
			abort(); /* a play goes somewhere */
		for (i = 0; i < d.nzones; i++)
			if (!d.zones[i][0])
				abort();
		if (d.action == CAP_CANCEL && cap_references(alert.references, noop_ref, NULL) < 0)
			abort();
	}
	cap_alert_clear(&alert);
	return 0;
}
