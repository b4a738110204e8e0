#!/bin/bash
# Health and the node journal with real parts (mosquitto on loopback, the
# controller, one node whose broker link goes through a TCP proxy the test
# can cut):
#   - the node's status carries the health fields (journal, net, disk, link
#     from health.signal_file, volume) and is readable with mosquitto_sub;
#   - node_started reaches the controller and the node's journal empties
#     once the controller acknowledges (events leave on ack, not PUBACK);
#   - acceptance (a), in seconds instead of hours: ten plays scheduled a few
#     seconds ahead all happen while the node's link is cut; after the link
#     returns the controller's log holds each of the ten exactly once
#     (play_started and play_finished) with its start time;
#   - the controller tells the reconnect (same boot) from a restart, raises
#     the offline alarm (alarms.offline_s = 3) and clears it on return;
#   - acceptance (c): kill -9 of the node -> offline and the alarm within the
#     configured time; the restart is counted as a restart.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
PROXY=$LOAXA_BIN/tools/lossyproxy

start_broker || exit 1
keygen || exit 1
write_controller_cfg "alarms = { offline_s = 3; hook = \"$T/hook.sh\"; hook_timeout_s = 5; };"
cat >"$T/hook.sh" <<EOF
#!/bin/sh
cat >>"$T/hook.out"
EOF
chmod +x "$T/hook.sh"
start_controller || exit 1

PROXY_PORT=$(free_port)
start_proxy() {
	LOG_OF[broker-proxy]=$T/proxy.log
	"$PROXY" --listen "$PROXY_PORT" --to "$BROKER_PORT" --drop 0 >>"$T/proxy.log" 2>&1 &
	PID_OF[broker-proxy]=$!
	[[ " ${STOP_ORDER[*]} " == *" broker-proxy "* ]] || STOP_ORDER+=(broker-proxy)
	wait_for 10 broker_up "$PROXY_PORT"
}
start_proxy || { not_ok "the test proxy starts"; exit 1; }

STATUS_INTERVAL=2 write_node_cfg n1 thon-1
sed -i "s/port = ${BROKER_PORT};/port = ${PROXY_PORT};/" "$T/n1/node.cfg"
echo "-67 dBm" >"$T/n1/signal"
echo 'health = { signal_file = "signal"; journal_max = 1000; };' >>"$T/n1/node.cfg"
start_node n1 || exit 1

# ---------------------------------------------------------------- status
status_has_signal() {
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/n1/status" -C 1 -W 5 \
		>"$T/status.json" 2>/dev/null &&
		jq -e '.link.signal == "-67 dBm"' "$T/status.json" >/dev/null
}
if wait_for 15 status_has_signal; then
	ok "mosquitto_sub reads the status; link.signal comes from health.signal_file"
else
	not_ok "mosquitto_sub reads the status; link.signal comes from health.signal_file"
	sed 's/^/#   /' "$T/status.json"
fi
check "status has journal, net, disk, volume, boot, uptime, alsa, link.value" \
	jq -e '(.journal | has("pending") and has("dropped")) and (.net | has("interface"))
		and .disk.free_bytes > 0 and .disk.total_bytes > 0 and .volume == 100
		and .boot == 1 and (.uptime_s | type == "number") and (.alsa | has("xruns"))
		and .link.value == -67 and .link.source == "file"
		and has("temperature_c")' "$T/status.json" >/dev/null ||
	sed 's/^/#   /' "$T/status.json"

event_count() { # TYPE [BROADCAST]
	"$LOAXA" plays --json 2>/dev/null |
		jq --arg t "$1" --arg b "${2:-}" \
			'[.plays[] | select(.type == $t and ($b == "" or .broadcast == $b))] | length'
}
journal_empty() { [ -z "$(ls -A "$T/n1/state/events" 2>/dev/null)" ]; }
node_started_stored() { [ "$(event_count node_started)" -ge 1 ]; }
check "node_started reaches the controller" wait_for 15 node_started_stored
check "the node's journal is empty once the controller acknowledged" wait_for 15 journal_empty

# ---------------------------------------------------------------- offline plays
sox -n -r 48000 -c 1 -b 16 "$T/clip.wav" synth 0.4 sine 880 fade 0.02 0.4 0.02 2>/dev/null ||
	{ not_ok "sox makes a test clip"; exit 1; }
CONTENT=$("$LOAXA" import "$T/clip.wav" --title "Kiểm tra" 2>"$T/import.err") ||
	{ not_ok "loaxa import of the clip"; sed 's/^/#   /' "$T/import.err"; exit 1; }
CONTENT=$(echo "$CONTENT" | tail -n1 | grep -oE '[0-9a-f]{64}' | head -n1)

post_play() { # AT_MS
	api_curl -H 'Content-Type: application/json' \
		-d "{\"content\":\"$CONTENT\",\"node\":\"n1\",\"at\":$1}" \
		http://loaxa/v1/broadcasts | jq -r '.broadcast // empty'
}
base=$(( $(now_ms) + 5000 ))
BCASTS=()
for i in $(seq 0 9); do
	b=$(post_play $(( base + i * 900 )))
	[ -n "$b" ] && BCASTS+=("$b")
done
check "ten plays scheduled 5 s to 13 s ahead (seconds stand in for the issue's hours)" \
	[ "${#BCASTS[@]}" = 10 ]
content_on_node() { [ -f "$T/n1/state/cache/$CONTENT.opus" ]; }
check "the node has the content before its link is cut" wait_for 10 content_on_node
queued_all() { [ "$(log_count "$T/n1/node.log" 'queued broadcast')" -ge 10 ]; }
wait_for 5 queued_all

stop broker-proxy KILL
cut_at=$(now_ms)
node_offline() { ! node_online n1; }
check "cutting the node's link: the controller shows it offline (Last Will)" \
	wait_for 10 node_offline
offline_alarm() { "$LOAXA" alarms --json 2>/dev/null | jq -e '.alarms[] | select(.node == "n1" and .kind == "offline" and .cleared == null)' >/dev/null; }
check "the offline alarm is raised within alarms.offline_s (3 s) + 2 s" wait_for 6 offline_alarm
last_play_done() { [ "$(log_count "$T/n1/node.log" 'finished [0-9a-f]+ for broadcast')" -ge 10 ]; }
check "all ten plays happen while the node is offline" wait_for 30 last_play_done
diag "offline for $(( ($(now_ms) - cut_at) / 1000 )) s; journal holds $(ls "$T/n1/state/events" | wc -l) entries"
check "the journal holds the offline events on disk" [ "$(ls "$T/n1/state/events" | wc -l)" -ge 20 ]

start_proxy || { not_ok "the test proxy starts again"; exit 1; }
check "the node comes back online" wait_for 30 node_online n1
all_ten_once() {
	local b
	for b in "${BCASTS[@]}"; do
		[ "$(event_count play_started "$b")" = 1 ] || return 1
		[ "$(event_count play_finished "$b")" = 1 ] || return 1
	done
}
check "after the reconnect the controller's log holds each of the ten plays exactly once" \
	wait_for 30 all_ten_once
bad_start=0
for i in "${!BCASTS[@]}"; do
	at=$(( base + i * 900 ))
	start=$("$LOAXA" plays --broadcast "${BCASTS[$i]}" --json 2>/dev/null |
		jq '[.plays[] | select(.type == "play_finished")][0].start // 0')
	diag "broadcast ${BCASTS[$i]}: scheduled $at, start $start ($(( start - at )) ms)"
	if [ "$start" -lt $(( at - 1500 )) ] || [ "$start" -gt $(( at + 1500 )) ]; then
		bad_start=1
	fi
done
check "each stored play has its start time, within 1.5 s of the scheduled time" [ "$bad_start" = 0 ]
# The proof of play: every stored start comes with the node's clock error bound.
"$LOAXA" log --node n1 --json >"$T/log.json" 2>"$T/log.err"
bounds=$(jq '[.. | objects | select(.type == "play_finished" and (.error_ms | type) == "number"
	and .error_ms >= 0)] | length' "$T/log.json" 2>/dev/null)
check "loaxa log has all ten plays with their clock error bound (${bounds:-0} of 10)" \
	[ "${bounds:-0}" -ge 10 ]
check "the journal empties after the acknowledgements" wait_for 20 journal_empty
check "the controller logs a reconnect, not a restart" \
	grep -q 'node n1 is online again: reconnected (same boot 1' "$T/controller/controller.log"
alarm_cleared() { "$LOAXA" alarms --all --json 2>/dev/null | jq -e '[.alarms[] | select(.node == "n1" and .kind == "offline" and .cleared != null)] | length >= 1' >/dev/null; }
check "the offline alarm is cleared when the node returns" wait_for 5 alarm_cleared
hook_ran() { [ "$(grep -c '"event":"raised"' "$T/hook.out" 2>/dev/null)" -ge 1 ] && grep -q '"event":"cleared"' "$T/hook.out"; }
check "the alarm hook got the raised and the cleared alarm as JSON on stdin" wait_for 5 hook_ran

# ---------------------------------------------------------------- kill -9
stop n1 KILL
killed_at=$(now_ms)
check "kill -9: the controller shows the node offline" wait_for 10 node_offline
if wait_for 8 offline_alarm; then
	ok "kill -9: the offline alarm is raised within $(( ($(now_ms) - killed_at) / 1000 + 1 )) s (offline_s = 3)"
else
	not_ok "kill -9: the offline alarm is raised within 8 s"
fi
start_node n1 || exit 1
check "the controller logs the restart (boot 2), not a reconnect" \
	grep -q 'node n1 is online again: restarted (boot 2, was 1' "$T/controller/controller.log"
crash_noted() { "$LOAXA" plays --json 2>/dev/null | jq -e '.plays[] | select(.type == "node_started" and .boot == 2 and (.reason | test("did not stop cleanly")))' >/dev/null; }
check "node_started of boot 2 says the previous run did not stop cleanly" wait_for 15 crash_noted

stop broker-proxy
stop_all_checked
finish
