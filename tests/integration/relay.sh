#!/bin/bash
# Relays (docs/live.md): a schedule item with a source is streamed by the
# controller as a live session of level relay to the nodes whose plan has it.
# Real parts: mosquitto, the controller, node n1 on the paced test card, and
# a local HTTP server (python3 -m http.server) serving the "program".
#   - a schedule relay of url:http://... starts at its time, n1 plays it;
#   - a priority play preempts the relay on n1, plays to its end, and the relay
#     then plays again (it is the lowest level);
#   - an operator's relay (`loaxa live --relay --url`) runs while no schedule
#     relay is due, and `loaxa live stop` ends it; a bad URL is refused.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
[ -x /usr/bin/python3 ] || { not_ok "python3 is installed (the test's HTTP server)"; finish; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
start_node n1 || exit 1

# the "VOV program": 30 s of alternating tones, served over HTTP
mkdir -p "$T/www"
sox -n -r 48000 -c 1 "$T/www/vov.wav" synth 0.7 sine 500 : synth 0.3 sine 0 repeat 29 2>/dev/null ||
	sox -n -r 48000 -c 1 "$T/www/vov.wav" synth 30 sine 500 tremolo 1 100
HTTP_PORT=$(free_port)
(cd "$T/www" && exec /usr/bin/python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1) >"$T/http.log" 2>&1 &
PID_OF[http]=$!
STOP_ORDER+=(http)
LOG_OF[http]=$T/http.log
http_up() { curl -sf "http://127.0.0.1:$HTTP_PORT/vov.wav" -o /dev/null; }
wait_for 10 http_up || { not_ok "the test HTTP server answers"; finish; }

# ---------------------------------------------------------------- a relay of the schedule
at=$(TZ=Asia/Ho_Chi_Minh date -d "@$(( $(date +%s) + 8 ))" +%H:%M:%S)
cat >"$T/relay.cfg" <<EOF
items = (
  { id = "vov"; title = "Tiếp sóng Đài Tiếng nói Việt Nam";
    source = "url:http://127.0.0.1:$HTTP_PORT/vov.wav"; length_min = 1;
    nodes = ["n1"]; times = ["$at"]; level = "relay"; }
);
EOF
"$LOAXA" schedule apply "$T/relay.cfg" >"$T/apply.log" 2>&1
check "loaxa schedule apply takes a relay item (source url:, length_min 1) at $at" [ $? = 0 ] ||
	sed 's/^/#   /' "$T/apply.log"
started() { grep -q "relay o-vov-[0-9]*-[0-9]*-1 of the schedule: url:http://127.0.0.1:$HTTP_PORT/vov.wav to 1 node" "$T/controller/controller.log"; }
check "the controller starts the relay at its time" wait_for 30 started || dump_logs 20
relaying() { node_json n1 | jq -e '.status.live.level == "relay" and .status.live.playing == true' >/dev/null; }
check "n1 plays the relay (status live: level relay, playing)" wait_for 10 relaying
R0=$(now_ms)
sleep 2
sounded() { onsets n1 | awk -v t="$1" '$1 >= t { f = 1 } END { exit !f }'; }
check "the relayed program reaches n1's speaker" sounded "$R0"

# ---------------------------------------------------------------- preempted by a priority play
speech "$T/notice.wav" "Thông báo khẩn: chiều nay mất điện từ hai giờ đến bốn giờ." || exit 1
"$LOAXA" play "$T/notice.wav" --node n1 --level priority --wait=60 --json >"$T/play.json" 2>"$T/play.err"
check "a priority play on n1 preempts the relay and finishes" [ $? = 0 ] || sed 's/^/#   /' "$T/play.err" "$T/play.json"
check "n1 logs that the relay yielded" grep -q "live session l-[0-9a-f]* yields the player" "$T/n1/node.log"
check "the relay plays again on n1 after the priority play" \
	wait_for 10 grep -q "live session l-[0-9a-f]* (relay) plays again" "$T/n1/node.log"

# ---------------------------------------------------------------- an operator's relay
"$LOAXA" live --relay --url "http://127.0.0.1:$HTTP_PORT/missing.wav" --node n1 --json >"$T/bad.json" 2>"$T/bad.err"
check "a relay of the schedule holds the relay slot: an operator's relay is refused meanwhile" \
	grep -q "already running" "$T/bad.err"
"$LOAXA" live stop >"$T/stop.log" 2>&1
check "loaxa live stop ends the running relay" grep -q "stopped l-[0-9a-f]* (relay)" "$T/stop.log"

stop http # python's exit status on SIGTERM is not ours to check
stop_all_checked
finish
