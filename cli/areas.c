/*
 * areas.c - `loaxa areas [--json]`: on a district or province controller,
 * the communes below it from their signed summaries (controller/rollup.h;
 * GET /v1/areas). The headings are Vietnamese: the officials who read this
 * table are Vietnamese, whatever the machine's locale.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "client.h"
#include "table.h"
#include "util.h"

int cmd_areas(int argc, char **argv)
{
	static const char *const head[] = { "XÃ", "MÃ", "CỤM TRỰC TUYẾN", "SẴN SÀNG",
					    "CẢNH BÁO", "PHÁT THÁNG NÀY", "KHẨN CẤP",
					    "CẬP NHẬT" };
	struct cli_resp resp;
	struct table t;
	json_t *a;
	size_t i;
	int json = argc > 1 && strcmp(argv[1], "--json") == 0;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: loaxa areas [--json]\n");
		return CLI_EXIT_USAGE;
	}
	if (cli_get_ok("/v1/areas", &resp) < 0)
		return CLI_EXIT_ERROR;
	if (json) {
		cli_print_json(resp.json);
		cli_resp_free(&resp);
		return CLI_EXIT_OK;
	}
	printf("%s %s %s\n", strcmp(jstr(resp.json, "level"), "province") == 0 ? "Tỉnh" :
	       strcmp(jstr(resp.json, "level"), "district") == 0 ? "Huyện" : "Xã",
	       jstr(resp.json, "name"), jstr(resp.json, "code"));
	table_init(&t, 8, head);
	t.right[2] = t.right[3] = t.right[4] = t.right[5] = t.right[6] = 1;
	json_array_foreach(json_object_get(resp.json, "areas"), i, a) {
		json_t *n = json_object_get(a, "nodes"), *m = json_object_get(a, "month");
		char online[32], ready[16], alarms[16], plays[16], em[16], ago[48];
		const char *cells[8];

		snprintf(online, sizeof(online), "%lld/%lld", (long long)jint(n, "online", 0),
			 (long long)jint(n, "total", 0));
		snprintf(ready, sizeof(ready), "%lld", (long long)jint(a, "ready", 0));
		snprintf(alarms, sizeof(alarms), "%lld", (long long)jint(a, "alarms", 0));
		snprintf(plays, sizeof(plays), "%lld", (long long)jint(m, "plays", 0));
		snprintf(em, sizeof(em), "%lld", (long long)jint(m, "emergencies", 0));
		fmt_local_time(ago, sizeof(ago), jint(a, "ts", 0));
		cells[0] = jstr(a, "name");
		cells[1] = jstr(json_object_get(a, "area"), "commune");
		cells[2] = online;
		cells[3] = ready;
		cells[4] = alarms;
		cells[5] = plays;
		cells[6] = em;
		cells[7] = ago;
		table_add(&t, cells);
	}
	table_show(&t, "chưa có xã nào gửi báo cáo (no commune has reported yet)");
	cli_resp_free(&resp);
	return CLI_EXIT_OK;
}
