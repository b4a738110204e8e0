/*
 * fuzz_api.c - libFuzzer harness for the controller's untrusted inputs:
 * byte 0 picks the parser, the rest is the input.
 *   0: ctl_parse_play_request()  POST /v1/broadcasts body
 *   1: ctl_parse_status()        a node's status (MQTT)
 *   2: ctl_parse_event()         a node's event (MQTT)
 *   3: ctl_json_object() + the login/user fields secapi.c reads
 * Invariants checked with abort(): a refusal always says why; what is
 * accepted has valid names.
 */
// fuzz-sources: controller/*.c import/*.c
// fuzz-exclude: controller/main.c
// fuzz-pkgs: libmosquitto sqlite3 libmicrohttpd libavformat libavcodec libswresample libavutil libebur128 opus ogg libopusenc libsystemd alsa libcrypto pangocairo fontconfig
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broadcast.h"
#include "ctlutil.h"
#include "log.h"
#include "nodes.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char err[1024] = "", name[32];
	struct ctl_play_request req;
	struct ctl_status st;
	struct ctl_event ev;
	char *text = NULL;
	json_t *o;
	int rc;

	if (!ready) {
		log_init("fuzz", 0);
		ready = 1;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		rc = ctl_parse_play_request(data + 1, size - 1, &req, err, sizeof(err));
		if (rc < 0 && !err[0])
			abort();
		if (rc == 0 && !req.all && !name_valid(req.zone[0] ? req.zone : req.node))
			abort();
		if (rc == 0 && (req.volume < 0 || req.volume > 100 || !content_id_valid(req.content)))
			abort();
		break;
	case 1:
		rc = ctl_parse_status("n1", "xa-test", data + 1, size - 1, &st, &text, err,
				      sizeof(err));
		if (rc < 0 && !err[0])
			abort();
		if (rc == 0 && strcmp(st.node, "n1") != 0)
			abort(); /* a status about another node is refused */
		free(text);
		break;
	case 2:
		rc = ctl_parse_event("n1", data + 1, size - 1, &ev, err, sizeof(err));
		if (rc < 0 && !err[0])
			abort();
		if (rc == 0 && strcmp(ev.node, "n1") != 0)
			abort();
		if (rc == 0)
			free(ev.data); /* the event's JSON text, as ctl_nodes_on_event frees it */
		break;
	case 3:
		o = ctl_json_object(data + 1, size - 1, err, sizeof(err));
		if (!o && !err[0])
			abort();
		if (o) {
			rc = ctl_json_str(o, "user", CTL_REQUIRED, name, sizeof(name), err,
					  sizeof(err));
			if (rc == 0 && strlen(name) >= sizeof(name))
				abort();
			json_decref(o);
		}
		break;
	}
	return 0;
}
