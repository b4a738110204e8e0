#!/bin/bash
# The node simulator (loaxa-nodesim, docs/testing.md): 40 nodes in one
# process, each with its own state_dir, MQTT connections and paced card,
# on one real broker; no controller.
#   - every node connects (its stats line) and subscribes like a node;
#   - a commune emergency (the commune's key, zone/all) sounds on all 40,
#     each its own card's onset;
#   - a provincial emergency (loaxa/area/40/cmd, the province's key listed
#     in the trust document's "upper", upper.json) sounds on all 40;
#   - the same signed command again (a replay) sounds nowhere: each node
#     keeps its own sequence state;
#   - `restart` sent to one node stops that node only;
#   - SIGTERM stops all cleanly (exit 0, no sanitizer report).
# The cards run with alsa.period_ms = 500 (node.cfg allows up to 500): the
# playout wrote one period past its 100 ms out buffer at the first write
# of every play (heap corruption at the first emergency; fixed in playout.c).
set -u
source "$(dirname "$0")/../lib.sh"
NODESIM=$LOAXA_BIN/loaxa-nodesim
need "$NODESIM" "$SEALCMD" "$LOAXA"
N=40

start_broker >/dev/null || exit 1
keygen || exit 1
keygen "$T/province" || exit 1
sox -n -r 48000 -c 1 "$T/tone.wav" synth 3 sine 880 vol 0.5 2>/dev/null &&
	sox -n -r 48000 -c 1 "$T/flood.wav" synth 1 sine 440 vol 0.5 2>/dev/null ||
	{ not_ok "sox makes the clips"; finish; }
for c in tone flood; do
	"$LOAXA" encode "$T/$c.wav" -o "$T/$c.opus" --no-progress >"$T/encode.log" 2>&1 ||
		{ not_ok "loaxa encode $c"; dump_log "$T/encode.log"; finish; }
done
TONE=$(sha256sum "$T/tone.opus" | cut -d' ' -f1)
FLOOD=$(sha256sum "$T/flood.opus" | cut -d' ' -f1)
mkdir -p "$T/xdg/alsa"
cat >"$T/xdg/alsa/asoundrc" <<EOF
pcm_type.loaxapaced { lib "$PACED_PLUGIN" }
pcm.simcard {
	@args [ LOG ]
	@args.LOG { type string }
	type loaxapaced
	log \$LOG
	first_only 1
}
EOF
: >"$T/list"
for ((i = 1; i <= N; i++)); do
	d=$T/n/$i
	mkdir -p "$d/state/cache"
	ln "$T/tone.opus" "$d/state/cache/$TONE.opus"
	ln "$T/flood.opus" "$d/state/cache/$FLOOD.opus"
	printf '{"set":"00000000000000a1","clips":[{"name":"tone","content":"%s","bytes":%s},{"name":"flood","content":"%s","bytes":%s}]}' \
		"$TONE" "$(stat -c %s "$T/tone.opus")" "$FLOOD" "$(stat -c %s "$T/flood.opus")" >"$d/state/emergency.json"
	printf '{"area":{"commune":"40101","district":"401","province":"40"},"upper":[{"level":"province","code":"40","key":"%s","may":["emergency"]}]}' \
		"$(cat "$T/province/controller.pub")" >"$d/state/upper.json"
	cat >"$d/node.cfg" <<EOF
site = "$SITE";
node = "s$i";
zones = ["thon-$(( i % 3 ))"];
state_dir = "state";
controller_key = "$(cat "$T/keys/controller.pub")";
mqtt = { host = "127.0.0.1"; port = $BROKER_PORT; keepalive = 30; insecure = true; };
alsa = { device = "simcard:LOG=$d/onsets.log"; channels = 1; rate = 48000; buffer_ms = 1000; period_ms = 500; };
status_interval_s = 60;
max_future_s = 300;
max_message_bytes = 262144;
EOF
	echo "$d/node.cfg" >>"$T/list"
done

LOG_OF[sim]=$T/sim.log
XDG_CONFIG_HOME=$T/xdg "$NODESIM" --list "$T/list" --stats "$T/sim.stats" >"$T/sim.log" 2>&1 &
PID_OF[sim]=$!
STOP_ORDER+=(sim)
connected() { awk '$1 == "nodes" { print $4 }' "$T/sim.stats" 2>/dev/null; }
all_connected() { [ "$(connected)" = "$N" ]; }
check "all $N simulated nodes connect (the simulator's stats)" wait_for 120 all_connected || { dump_log "$T/sim.log"; finish; }
sleep 2 # subscribed

# sounded T0 : nodes whose card logged an onset after T0 (ns)
sounded() {
	local c=0 f
	for f in "$T"/n/*/onsets.log; do
		awk -v t="$1" '$1 == "onset" && $2 >= t { f = 1 } END { exit !f }' "$f" 2>/dev/null && c=$((c + 1))
	done
	echo "$c"
}
all_sounded() { [ "$(sounded "$1")" = "$N" ]; }
pub() { mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -i "t-$$" -q 1 -t "$1" -f "$2"; }

printf '{"cmd":"emergency_start","id":"e-c1","drill":false,"to":"zone/all/cmd","content":"%s","tone":"%s","max_s":60}' \
	"$FLOOD" "$TONE" | "$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd >"$T/c1.bin"
t0=$(date +%s%N)
pub "loaxa/$SITE/zone/all/cmd" "$T/c1.bin"
check "a commune emergency sounds on every simulated node's card" wait_for 60 all_sounded "$t0" ||
	diag "$(sounded "$t0") of $N sounded"
printf '{"cmd":"emergency_stop","id":"e-c1","drill":false,"to":"zone/all/cmd"}' |
	"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd >"$T/s1.bin"
pub "loaxa/$SITE/zone/all/cmd" "$T/s1.bin"
# every node ended it (the stats' last column) before the next one
none_sounding() { ! awk '$1 != "nodes" && $4 == 1 { f = 1 } END { exit !f }' "$T/sim.stats"; }
check "the stop ends it on every node" wait_for 60 none_sounding

printf '{"cmd":"emergency_start","id":"e-p1","drill":false,"to":{"area":"40"},"clip":"flood","max_s":60}' |
	"$SEALCMD" --key "$T/province/controller.key" --site 40 --type cmd >"$T/p1.bin"
t0=$(date +%s%N)
pub loaxa/area/40/cmd "$T/p1.bin"
check "a provincial emergency (the province's key, loaxa/area/40/cmd) sounds on every simulated node" \
	wait_for 60 all_sounded "$t0" || diag "$(sounded "$t0") of $N sounded"
printf '{"cmd":"emergency_stop","id":"e-p1","drill":false,"to":{"area":"40"}}' |
	"$SEALCMD" --key "$T/province/controller.key" --site 40 --type cmd >"$T/ps1.bin"
pub loaxa/area/40/cmd "$T/ps1.bin"
check "the province's stop ends it on every node" wait_for 60 none_sounding

pub "loaxa/$SITE/zone/all/cmd" "$T/c1.bin"
replayed() { [ "$(grep -c 'rejected message on .*zone/all/cmd: replayed' "$T/sim.log")" -ge "$N" ]; }
check "every node refused the same signed command again, in its own log (its own sequence state)" \
	wait_for 30 replayed
# (not by the cards' onsets: under load a card's underrun ends in an "onset" too)
check "and none started it again" [ "$(grep -c 'EMERGENCY e-c1 received' "$T/sim.log")" = "$N" ]

printf '{"cmd":"restart","id":"r-1","to":"node/s7/cmd"}' |
	"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd >"$T/r.bin"
pub "loaxa/$SITE/node/s7/cmd" "$T/r.bin"
one_stopped() { awk '$1 == "nodes" && $8 == 1 && $4 == N - 1 { f = 1 } END { exit !f }' N="$N" "$T/sim.stats"; }
check "a restart command stops that node only ($(head -1 "$T/sim.stats"))" wait_for 15 one_stopped
check "its log line names it" grep -q 'nodesim/s7: stopped (a node in the simulator cannot restart)' "$T/sim.log"

stop_checked sim
check "the stats say every node stopped" grep -q "^nodes $N ctl 0 bulk 0 stopped $N" "$T/sim.stats"
finish
