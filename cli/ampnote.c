/*
 * ampnote.c - tell the operator when a node's amplifier delays what starts
 * now (docs/node.md "Amplifier"): a node whose amplifier is off runs its
 * on_command and plays the first sample only once it has had its warm-up,
 * so an immediate play, a live session or an emergency sounds there that
 * much later. The figures are the nodes' last statuses (GET /v1/nodes).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static int in_list(json_t *arr, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return 1;
	return 0;
}

int cli_amp_note(json_t *targets, const char *zone, const char *node, const char *what)
{
	struct cli_resp resp;
	json_t *n;
	size_t i;
	int64_t max_ms = 0;

	memset(&resp, 0, sizeof(resp));
	if (cli_get("/v1/nodes", &resp) < 0)
		return 0; /* only a note: the command itself went out */
	if (resp.status != 200) {
		cli_resp_free(&resp);
		return 0;
	}
	json_array_foreach(json_object_get(resp.json, "nodes"), i, n) {
		json_t *st = json_object_get(n, "status"), *amp = json_object_get(st, "amplifier");
		const char *name = jstr(n, "node");
		int64_t left;

		if (targets ? !in_list(targets, name) :
		    node ? strcmp(node, name) != 0 :
		    zone && strcmp(zone, "all") != 0 ? !in_list(json_object_get(n, "zones"), zone) :
		    0)
			continue;
		if (!json_is_true(json_object_get(amp, "command")) || jint(amp, "warmup_s", 0) <= 0)
			continue;
		left = json_is_true(json_object_get(amp, "on")) ? jint(amp, "warming_ms", 0) :
			jint(amp, "warmup_s", 0) * 1000;
		if (left <= 0)
			continue;
		fprintf(stderr, "%s: its amplifier warms up first: %s starts there about %.0f s "
			"later (amplifier.warmup_s)\n", name, what, (double)left / 1000.0);
		if (left > max_ms)
			max_ms = left;
	}
	cli_resp_free(&resp);
	return (int)((max_ms + 999) / 1000);
}
