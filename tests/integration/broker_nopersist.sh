#!/bin/bash
# The broker is killed with -9 in the middle of a content delivery and
# comes back with no persistence (issue 17, point 6): every retained plan
# and every queued message is gone from it. Then:
#   - the controller publishes every node's plan again (its log says so,
#     and a new subscriber gets each node's retained plan from the broker);
#   - the cut delivery resumes and completes on both nodes (SHA-256);
#   - `loaxa readiness` lists nothing missing;
#   - nothing is lost: each node's journal drains to the controller, with
#     every event id of each boot present (no hole).
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
TZ_SITE=Asia/Ho_Chi_Minh

start_broker || exit 1
grep -q '^persistence false' "$T/broker.conf" || { not_ok "the test broker keeps nothing (persistence false)"; exit 1; }
keygen || exit 1
CHUNK_BYTES=4096 WINDOW=4 write_controller_cfg "timezone = \"$TZ_SITE\";"
start_controller || exit 1
for n in n1 n2; do write_node_cfg "$n" thon-1; start_node "$n" || exit 1; done

speech "$T/one.wav" "Thông báo dài của ủy ban nhân dân xã về lịch tiêm phòng." || exit 1
sox "$T/one.wav" "$T/long.wav" repeat 40 2>/dev/null
C=$("$LOAXA" import "$T/long.wav" --title "dài" --json 2>/dev/null | jq -r .id)
AT=$(TZ=$TZ_SITE date -d "@$(( $(now_ms) / 1000 + 7200 ))" '+%Y-%m-%d %H:%M')
"$LOAXA" announce "$C" --at "$AT" --zone thon-1 --title "dài" >"$T/ann.out" 2>&1 ||
	{ fail "loaxa announce"; dump_log "$T/ann.out"; exit 1; }
part() { stat -c %s "$T/$1/state/cache/$C.part" 2>/dev/null || echo 0; }
has() { [ -f "$T/$1/state/cache/$C.opus" ] && [ "$(sha256sum <"$T/$1/state/cache/$C.opus" | cut -c1-64)" = "$C" ]; }
mid() { [ "$(part n1)" -ge 8192 ] && ! has n1; }
check "the delivery is under way" wait_for 60 mid
before=$(log_count "${LOG_OF[controller]}" 'published the plans of')
stop broker KILL
diag "broker killed with $(part n1) / $(part n2) bytes on n1 / n2"
sleep 2
start_broker broker "${PORT_OF[broker]}" || { fail "the broker restarts"; exit 1; }
check "the controller publishes the plans again once connected" \
	wait_for 20 log_grows "${LOG_OF[controller]}" 'published the plans of' "$before"
for n in n1 n2; do
	retained() {
		mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$1/plan" -C 1 -W 3 \
			>"$T/$1.plan" 2>/dev/null && [ -s "$T/$1.plan" ]
	}
	check "the broker holds $n's plan again (retained)" wait_for 20 retained "$n"
	check "the cut delivery completes on $n (SHA-256 checks)" wait_for 90 has "$n"
done
readiness_clean() {
	"$LOAXA" readiness --json >"$T/ready.json" 2>/dev/null &&
		jq -e '.missing | length == 0' "$T/ready.json" >/dev/null
}
check "loaxa readiness lists nothing missing" wait_for 30 readiness_clean
for n in n1 n2; do
	drained() { [ -z "$(ls -A "$T/$1/state/events" 2>/dev/null)" ]; }
	check "$n's journal drains to the controller" wait_for 60 drained "$n"
	"$LOAXA" log --node "$n" --json --limit 100000 | jq -r '.events[].id' | sort -u >"$T/$n.ids"
	max=$(sed 's/.*-//' "$T/$n.ids" | sort -n | tail -1)
	check "every event of $n is at the controller, no hole ($(wc -l <"$T/$n.ids") ids up to $max)" \
		[ "$(wc -l <"$T/$n.ids")" = "$max" ]
done

stop_all_checked
finish
