#!/bin/bash
# Remote maintenance and the journal bound, with real parts:
#   - `loaxa node volume|test-tone|stop|restart N` are signed commands the
#     node confirms (cmd_done event); the CLI waits for the confirmation;
#   - the volume is applied (status), stored, and the tone is heard (capture);
#   - restart: the node stops cleanly and re-executes itself (same pid), the
#     boot counter goes up and the controller counts a restart;
#   - journal bound: a node with health.journal_max = 12 that plays 10 items
#     (20 events + node_started) while its link is cut drops the oldest,
#     counts them in its status, and reports them in an events_dropped event
#     once the link is back; everything kept arrives.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
PROXY=$LOAXA_BIN/tools/lossyproxy

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
STATUS_INTERVAL=2 write_node_cfg n1 thon-1
start_node n1 || exit 1
pid_before=${PID_OF[n1]}

status_of() { # NODE FILTER
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$1/status" -C 1 -W 5 \
		2>/dev/null | jq -e "$2" >/dev/null
}

"$LOAXA" node volume n1 40 >"$T/vol.out" 2>&1
check "loaxa node volume n1 40: confirmed, exit 0" [ $? = 0 ] || sed 's/^/#   /' "$T/vol.out"
check "the confirmation says ok" grep -q 'node n1: volume ok' "$T/vol.out"
check "the node's status shows volume 40" wait_for 10 status_of n1 '.volume == 40'
check "the master volume is stored on the node" grep -qx 40 "$T/n1/state/volume"
"$LOAXA" node volume n1 101 >/dev/null 2>&1
check "volume 101 is refused by the CLI (usage)" [ $? = 2 ]
"$LOAXA" node volume nobody 50 >"$T/nobody.out" 2>&1
check "an unknown node is refused, naming it" grep -q 'no node "nobody"' "$T/nobody.out"

capture_mark n1
"$LOAXA" node test-tone n1 --timeout 60 >"$T/tone.out" 2>&1
check "loaxa node test-tone n1: played, exit 0" [ $? = 0 ] || sed 's/^/#   /' "$T/tone.out"
check "the test tone reached the loudspeaker (capture not silent)" capture_nonsilent_since n1

# a play queued for later: the stop ends it before it starts
TONE=$("$LOAXA" content list --json | jq -r '.content[0].id')
api_curl -H 'Content-Type: application/json' \
	-d "{\"content\":\"$TONE\",\"node\":\"n1\",\"at\":$(( $(now_ms) + 60000 ))}" \
	http://loaxa/v1/broadcasts >/dev/null
queued_later() { grep -q 'queued broadcast .* in [0-9.]* s' "$T/n1/node.log"; }
wait_for 10 queued_later
"$LOAXA" node stop n1 >"$T/stop.out" 2>&1
check "loaxa node stop n1: confirmed, exit 0" [ $? = 0 ] || sed 's/^/#   /' "$T/stop.out"
stopped_event() { "$LOAXA" log --node n1 --type play_failed --json 2>/dev/null | jq -e '.events[] | select(.end == "stopped" or (.reason | test("stopped by the controller")))' >/dev/null; }
check "the stopped play is in the log (play_failed, stopped by the controller)" wait_for 10 stopped_event

"$LOAXA" node restart n1 >"$T/restart.out" 2>&1
check "loaxa node restart n1: confirmed, exit 0" [ $? = 0 ] || sed 's/^/#   /' "$T/restart.out"
boot2() { node_json n1 | jq -e '.boot == 2 and .online == true' >/dev/null; }
check "the node comes back with boot 2" wait_for 30 boot2
check "it re-executed itself: same pid ($pid_before)" alive "$pid_before"
check "the controller counts a restart" \
	bash -c "\"$LOAXA\" node show n1 --json | jq -e '.restarts >= 1' >/dev/null"
clean_start() { "$LOAXA" log --node n1 --type node_started --json 2>/dev/null | jq -e '.events[] | select(.boot == 2 and .reason == "")' >/dev/null; }
check "node_started of boot 2 says the previous run stopped cleanly" wait_for 10 clean_start
check "the volume survived the restart" wait_for 10 status_of n1 '.volume == 40'
"$LOAXA" node show n1 >"$T/show.txt" 2>&1
check "loaxa node show n1 prints network, disk, audio and journal lines" \
	grep -q '^journal ' "$T/show.txt"

# ---------------------------------------------------------------- journal bound
PROXY_PORT=$(free_port)
start_proxy() {
	"$PROXY" --listen "$PROXY_PORT" --to "$BROKER_PORT" --drop 0 >>"$T/proxy.log" 2>&1 &
	PID_OF[broker-proxy]=$!
	[[ " ${STOP_ORDER[*]} " == *" broker-proxy "* ]] || STOP_ORDER+=(broker-proxy)
	wait_for 10 broker_up "$PROXY_PORT"
}
start_proxy || { not_ok "the test proxy starts"; exit 1; }
STATUS_INTERVAL=2 write_node_cfg n2 thon-2
sed -i "s/port = ${BROKER_PORT};/port = ${PROXY_PORT};/" "$T/n2/node.cfg"
echo 'health = { journal_max = 12; };' >>"$T/n2/node.cfg"
start_node n2 || exit 1
sox -n -r 48000 -c 1 -b 16 "$T/clip.wav" synth 0.3 sine 880 2>/dev/null
CONTENT=$("$LOAXA" import "$T/clip.wav" 2>/dev/null | grep -oE '[0-9a-f]{64}' | head -n1)
base=$(( $(now_ms) + 4000 ))
for i in $(seq 0 9); do
	api_curl -H 'Content-Type: application/json' \
		-d "{\"content\":\"$CONTENT\",\"node\":\"n2\",\"at\":$(( base + i * 600 ))}" \
		http://loaxa/v1/broadcasts >/dev/null
done
have_content() { [ -f "$T/n2/state/cache/$CONTENT.opus" ]; }
queued() { [ "$(log_count "$T/n2/node.log" 'queued broadcast')" -ge 10 ]; }
wait_for 10 have_content && wait_for 5 queued
stop broker-proxy KILL
done10() { [ "$(log_count "$T/n2/node.log" 'finished [0-9a-f]+ for broadcast')" -ge 10 ]; }
check "n2 plays its ten items while its link is cut" wait_for 30 done10
check "n2 dropped the oldest beyond journal_max = 12" grep -q 'event journal full' "$T/n2/node.log"
check "the journal stays within its bound on disk" [ "$(ls "$T/n2/state/events" | wc -l)" -le 12 ]
start_proxy || { not_ok "the test proxy starts again"; exit 1; }
dropped_reported() { "$LOAXA" log --node n2 --type events_dropped --json 2>/dev/null | jq -e '.events[0].reason | test("dropped")' >/dev/null; }
check "after the reconnect an events_dropped event tells the controller" wait_for 30 dropped_reported
check "the status counts the drops (journal.dropped > 0)" wait_for 10 status_of n2 '.journal.dropped > 0'
n2_empty() { [ -z "$(ls -A "$T/n2/state/events")" ]; }
check "everything kept is delivered and acknowledged" wait_for 30 n2_empty

stop broker-proxy
stop_all_checked
finish
