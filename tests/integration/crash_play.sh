#!/bin/bash
# A play cut by the node's crash (issue 17, point 6): the node is killed
# with -9 in the middle of a 20 s broadcast (paced test card: it plays in
# real time). Once it starts again, the controller records the play as
# failed, "the node restarted before the play finished" (before, it stayed
# "started" for good and the monthly report counted it neither played nor
# failed), and the next broadcast plays normally.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
[ -f "$PACED_PLUGIN" ] || { not_ok "the paced ALSA plugin is built ($PACED_PLUGIN)"; exit 1; }

TZ_SITE=Asia/Ho_Chi_Minh
start_broker || exit 1
keygen || exit 1
write_controller_cfg "timezone = \"$TZ_SITE\";"
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
start_node n1 || exit 1

sox -n -r 48000 -c 1 -b 16 "$T/long.wav" synth 20 sine 440 vol 0.3 2>/dev/null ||
	{ not_ok "sox makes a 20 s tone"; exit 1; }
"$LOAXA" play "$T/long.wav" --node n1 --json >"$T/play.json" 2>"$T/play.err" ||
	{ fail "loaxa play"; dump_log "$T/play.err"; exit 1; }
B=$(jq -r .broadcast "$T/play.json")
target() { "$LOAXA" plays --broadcast "$B" --json 2>/dev/null | jq -r "$1"; }
started() { [ "$(target '[.plays[] | select(.type == "play_started")] | length')" -ge 1 ]; }
check "n1 starts playing broadcast $B" wait_for 30 started || exit 1
sleep 1
stop n1 KILL
diag "n1 killed with SIGKILL 1 s into the 20 s play"
start_node n1 || exit 1

failed_event() {
	"$LOAXA" plays --broadcast "$B" --json 2>/dev/null |
		jq -e '.plays[] | select(.type == "play_failed" and .node == "n1" and
			(.reason | test("restarted")))' >/dev/null
}
check "after the restart the controller records the cut play as failed (\"the node restarted ...\")" \
	wait_for 20 failed_event || "$LOAXA" plays --broadcast "$B" --json | jq -c '.plays[]' | sed 's/^/#   /'
target_failed() {
	api_curl "http://loaxa/v1/broadcasts/$B" >"$T/b.json"
	jq -e '.plays[] | select(.node == "n1") | .result == "failed"' "$T/b.json" >/dev/null
}
check "the broadcast's target n1 is failed, not left started" target_failed ||
	jq -c '.plays' "$T/b.json" | sed 's/^/#   /'
check "the controller's log says so" grep -q "restarted in the middle of 1 play" "${LOG_OF[controller]}"
# the month the play belongs to, from its own time (not the test's clock)
at=$(jq -r '.created // .at // empty' "$T/play.json")
[ -n "$at" ] || at=$(now_ms)
month=$(TZ=$TZ_SITE date -d "@$(( at / 1000 ))" +%Y-%m)
"$LOAXA" report --month "$month" --json >"$T/report.json"
check "the monthly report counts it as failed" \
	jq -e '.clusters[] | select(.node == "n1") | .failed >= 1' "$T/report.json" ||
	jq -c '.clusters' "$T/report.json" | sed 's/^/#   /'
stop n1 KILL
start_node n1 || exit 1
sleep 1
check "another restart does not record it a second time" \
	[ "$("$LOAXA" plays --broadcast "$B" --json | jq '[.plays[] | select(.type == "play_failed")] | length')" = 1 ]
sox -n -r 48000 -c 1 -b 16 "$T/short.wav" synth 1 sine 660 vol 0.3 2>/dev/null
"$LOAXA" play "$T/short.wav" --node n1 --wait=60 >/dev/null 2>&1
check "the next broadcast plays normally" [ $? = 0 ]

stop_all_checked
finish
