#!/bin/bash
# A province: 3,000 simulated nodes (loaxa-nodesim, docs/testing.md) behind 10
# district mosquitto brokers bridged (Mosquitto's own bridge) to one
# provincial broker. Issue 18, second acceptance line.
#
# Real parts: mosquitto brokers, the node's own modules (MQTT through
# common/mqconn, envelope verification with the commune key and the
# province's key from the trust document's "upper" list, emergency clips,
# playout through ALSA into the paced test card, tests/alsa/pcm_loaxapaced.c,
# whose onset log says when each activation's first sample left the
# "speaker"). No commune controller runs at all: every node here is a node
# of a commune whose controller is down, and still sounds what the province
# sends.
#
# Each round: T0 = the instant mosquitto_pub sends the signed command (sealed
# just before); each node's latency = the first onset its card logged after
# T0, minus T0; a node with none within BENCH_WAIT_S (default 20) s missed.
# The emergency is then stopped and the nodes left idle for 7 s (the PCM
# closes after 5 s: every round is the cold path, as in life).
#
#   1. commune emergency, 3,000 nodes on ONE broker (loaxa/<site>/zone/all/cmd);
#   2. 10 district brokers bridged to the provincial broker: the commune
#      emergency published at the province, then the PROVINCIAL emergency
#      (loaxa/area/40/cmd, signed by the province's key);
#   3. one district broker killed: the provincial emergency again (only its
#      nodes may miss; the others' count must stay whole); it comes back:
#      time until all its nodes are connected again and until the next
#      provincial emergency reaches all 3,000.
#
# Target (issue 18): p99 < 2 s, none missed.
#
#   LOAXA_BIN        binaries (default build/): loaxa-nodesim, tools/sealcmd,
#                    loaxa, loaxa-encode, the paced card plugin
#   PROVINCE_NODES   nodes (default 3000)
#   PROVINCE_DISTRICTS  district brokers (default 10)
#   PROVINCE_PROCS   simulator processes (default 2: one per core here);
#                    each runs NODES/PROCS nodes on one thread
#   BENCH_ROUNDS     rounds per measurement (default 2)
#   BENCH_WAIT_S     how long a round waits for the last node (default 20)
set -u
source "$(dirname "$0")/../lib.sh"
N=${PROVINCE_NODES:-3000}
D=${PROVINCE_DISTRICTS:-10}
P=${PROVINCE_PROCS:-2}
ROUNDS=${BENCH_ROUNDS:-2}
WAIT_S=${BENCH_WAIT_S:-20}
NODESIM=$LOAXA_BIN/loaxa-nodesim
PACED_PLUGIN=${PACED_PLUGIN:-$LOAXA_BIN/alsa/libasound_module_pcm_loaxapaced.so}
for f in "$NODESIM" "$SEALCMD" "$LOAXA" "$LOAXA_ENCODE" "$PACED_PLUGIN"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "   province bench: $f is not built (make all unit)"; exit 1; }
done
LIB_QUIET=1
exec 3>&1
say() { echo "   $*" >&3; }
ms() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000000 }'; }
pct() { # pct SORTED_FILE P : nearest rank
	local n k
	n=$(wc -l <"$1")
	[ "$n" -gt 0 ] || { echo "-"; return; }
	k=$(( (n * $2 + 99) / 100 ))
	[ "$k" -lt 1 ] && k=1
	sed -n "${k}p" "$1"
}
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Descriptors: a broker holds two per node; the simulator ~6 per node.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
say "province bench: $N nodes, $D district brokers, $P simulator process(es); descriptors $(ulimit -n); load $(load)"

# The nodes' state_dirs on a tmpfs (simulator only, for the bench): 3,000
# nodes starting write boot, seq, events and trust files atomically with an
# fsync each, and on a loaded disk that took ~300 ms a node (7 minutes a
# start). PROVINCE_STATE=disk keeps them under $T.
NT=$T
if [ "${PROVINCE_STATE:-tmpfs}" = tmpfs ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	NT=$(mktemp -d /dev/shm/loaxa-province.XXXXXX)
	# the simulators stop (their nodes write their last state) before it goes
	trap 'rc=$?; stop_sims; rm -rf "$NT"; (exit $rc); lib_cleanup' EXIT
fi

# ---------------------------------------------------------------- material
keygen || exit 1                      # the commune's controller key
keygen "$T/province" || exit 1        # the province's key (the trust document's "upper")
PROV_PK=$(cat "$T/province/controller.pub")
AREA=40
# The tone is decoded into memory by every node at start (emergency.c,
# preload_tone) and plays from there: 3 s, so a round is stopped before most
# nodes reach the message (decoded from its file as it plays).
sox -n -r 48000 -c 1 "$T/tone.wav" synth 3 sine 880 vol 0.5 2>/dev/null &&
	sox -n -r 48000 -c 1 "$T/flood.wav" synth 1 sine 440 vol 0.5 2>/dev/null || {
	say "province bench: sox cannot make the clips"; exit 1; }
for c in tone flood; do
	"$LOAXA" encode "$T/$c.wav" -o "$NT/$c.opus" --no-progress >"$T/encode.log" 2>&1 ||
		{ say "province bench: cannot encode $c"; exit 1; }
done
TONE=$(sha256sum "$NT/tone.opus" | cut -d' ' -f1)
FLOOD=$(sha256sum "$NT/flood.opus" | cut -d' ' -f1)
TONE_B=$(stat -c %s "$NT/tone.opus")
FLOOD_B=$(stat -c %s "$NT/flood.opus")
printf '{"set":"00000000000000b1","clips":[{"name":"tone","content":"%s","bytes":%s},{"name":"flood","content":"%s","bytes":%s}]}' \
	"$TONE" "$TONE_B" "$FLOOD" "$FLOOD_B" >"$T/emergency.json"

# One ALSA definition for every node: the paced card with its onset log as
# argument; long periods (500 ms) so that 3,000 cards wake 2 times a second;
# first_only: it logs the first onset of each run of the device (each play:
# the node drains it at the end of every play) and then looks at no more
# samples (the per-sample scan was a third of the simulator's CPU while
# 3,000 nodes sounded).
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

# ---------------------------------------------------------------- brokers
# broker NAME PORT [BRIDGE_TO_PORT] : a mosquitto, bridged to the province when asked.
broker() {
	local name=$1 port=$2 up=${3:-} conf=$T/$1.conf
	{
		echo "listener $port 127.0.0.1"
		echo "allow_anonymous true"
		echo "persistence false"
		echo "max_connections -1"
		echo "max_queued_messages 10000"
		echo "log_dest stderr"
		echo "log_type error"
		echo "log_type warning"
		echo "connection_messages false"
		echo "max_packet_size 1048576"
		if [ -n "$up" ]; then
			# Mosquitto's own bridge: commands come down (the commune's
			# site tree and the area tree), statuses go up under the
			# district's prefix so each district's tree stays apart.
			echo "connection $name-up"
			echo "address 127.0.0.1:$up"
			echo "clientid bridge-$name"
			echo "cleansession true"
			echo "restart_timeout 1 2"
			echo "topic loaxa/$SITE/zone/+/cmd in 1"
			echo "topic loaxa/area/+/cmd in 1"
			echo "topic loaxa/$SITE/node/+/status out 1 \"\" district/$name/"
		fi
	} >"$conf"
	LOG_OF[$name]=$T/$name.log
	mosquitto -c "$conf" >>"$T/$name.log" 2>&1 &
	PID_OF[$name]=$!
	[[ " ${STOP_ORDER[*]} " == *" $name "* ]] || STOP_ORDER+=("$name")
	PORT_OF[$name]=$port
	wait_for 10 broker_up "$port" || { say "province bench: mosquitto $name does not start"; return 1; }
}

# ---------------------------------------------------------------- nodes
# write_nodes MODE : node.cfg of every node; MODE one (all on the province
# broker's port) or districts (node i on district i % D).
# One /usr/bin/python3 run writes them all (3,000 nodes: a few forks each
# from bash took minutes on a loaded machine). Per node: state_dir with the
# clips hard-linked into its cache, emergency.json (the clip set), upper.json
# (the area part of the commune's trust document as upper.c keeps it: 20
# nodes a commune, communes 4<d>001.., district 4<d>0, province 40).
write_nodes() {
	local ports="" d
	for ((d = 0; d < D; d++)); do
		if [ "$1" = one ]; then ports="$ports ${PORT_OF[province]}"; else ports="$ports ${PORT_OF[d$d]}"; fi
	done
	N=$N D=$D P=$P T=$T NT=$NT SITE=$SITE AREA=$AREA PROV_PK=$PROV_PK TONE=$TONE FLOOD=$FLOOD \
	CPK=$(cat "$T/keys/controller.pub") PORTS=$ports /usr/bin/python3 - <<'PY' || return 1
import os
e = os.environ
N, D, P, T, NT = int(e["N"]), int(e["D"]), int(e["P"]), e["T"], e["NT"]
ports = e["PORTS"].split()
lists = [open("%s/sim%d.list" % (T, k), "w") for k in range(P)]
alll = open(T + "/all.list", "w")
clips = open(T + "/emergency.json").read()
for i in range(1, N + 1):
    d = i % D
    dr = "%s/n/%d" % (NT, i)
    st = dr + "/state"
    if not os.path.isdir(st + "/cache"):
        os.makedirs(st + "/cache")
        os.link(NT + "/tone.opus", "%s/cache/%s.opus" % (st, e["TONE"]))
        os.link(NT + "/flood.opus", "%s/cache/%s.opus" % (st, e["FLOOD"]))
        open(st + "/emergency.json", "w").write(clips)
        commune = "4%d%03d" % (d, (i // D) // 20 + 1)
        open(st + "/upper.json", "w").write(
            '{"area":{"commune":"%s","district":"4%d0","province":"%s"},"upper":[{"level":"province",'
            '"code":"%s","key":"%s","may":["emergency"]}]}' % (commune, d, e["AREA"], e["AREA"], e["PROV_PK"]))
    open(dr + "/node.cfg", "w").write(
        'site = "%s";\nnode = "s%d";\nzones = ["thon-%d"];\nstate_dir = "state";\n'
        'controller_key = "%s";\n'
        'mqtt = { host = "127.0.0.1"; port = %s; keepalive = 30; insecure = true; };\n'
        'alsa = { device = "simcard:LOG=%s/onsets.log"; channels = 1; rate = 48000; buffer_ms = 1000; period_ms = 500; };\n'
        'status_interval_s = 120;\nmax_future_s = 300;\nmax_message_bytes = 262144;\ncache_max_mb = 64;\n'
        % (e["SITE"], i, i % 10, e["CPK"], ports[d], dr))
    lists[i % P].write(dr + "/node.cfg\n")
    alll.write("s%d %d\n" % (i, d))
PY
}

start_sims() {
	local k
	for ((k = 0; k < P; k++)); do
		LOG_OF[sim$k]=$T/sim$k.log
		XDG_CONFIG_HOME=$T/xdg "$NODESIM" --list "$T/sim$k.list" --stats "$T/sim$k.stats" \
			>>"$T/sim$k.log" 2>&1 &
		PID_OF[sim$k]=$!
		STOP_ORDER+=("sim$k")
	done
}
stop_sims() {
	local k
	for ((k = 0; k < P; k++)); do [ -n "${PID_OF[sim$k]:-}" ] && kill -TERM "${PID_OF[sim$k]}" 2>/dev/null; done
	# a clean stop is node after node, each waiting up to 2 s for the broker
	# to acknowledge its offline status (node/mqtt.c): minutes for 750 nodes
	# whose broker is busy; the state is on disk already (atomic files), so
	# after 20 s they are killed (the next start says "not a clean stop")
	for ((k = 0; k < P; k++)); do STOP_TIMEOUT=20 stop "sim$k"; done
	rm -f "$T"/sim*.stats
}
# connected : nodes whose control connection is up, over every simulator
connected() { cat "$T"/sim*.stats 2>/dev/null | awk '$1 == "nodes" { s += $4 } END { print s + 0 }'; }
all_connected() { [ "$(connected)" -ge "$1" ]; }
# down_of D : nodes of district D whose control connection is down
down_in() {
	awk -v d="$1" 'FNR == NR { dist[$1] = $2; next } $1 != "nodes" && dist[$1] == d && $2 == 0 { c++ } END { print c + 0 }' \
		"$T/all.list" "$T"/sim*.stats
}
down_outside() {
	awk -v d="$1" 'FNR == NR { dist[$1] = $2; next } $1 != "nodes" && dist[$1] != d && $2 == 0 { c++ } END { print c + 0 }' \
		"$T/all.list" "$T"/sim*.stats
}

SEQ=0
# send KIND PORT : seal and publish one emergency_start; T0 (ns) in $T0 (not
# in a $(...): the stop's body and key are kept in globals for stop_emergency)
# KIND commune: loaxa/<site>/zone/all/cmd, the commune's key
# KIND province: loaxa/area/40/cmd, the province's key
send() {
	local kind=$1 port=$2
	SEQ=$((SEQ + 1))
	if [ "$kind" = commune ]; then
		printf '{"cmd":"emergency_start","id":"e-c%d","drill":false,"to":"zone/all/cmd","content":"%s","bytes":%s,"tone":"%s","max_s":60}' \
			"$SEQ" "$FLOOD" "$FLOOD_B" "$TONE" |
			"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd >"$T/cmd.bin" || return 1
		TOPIC=loaxa/$SITE/zone/all/cmd
		STOPBODY=$(printf '{"cmd":"emergency_stop","id":"e-c%d","drill":false,"to":"zone/all/cmd"}' "$SEQ")
		STOPKEY=$T/keys/controller.key STOPSITE=$SITE
	else
		printf '{"cmd":"emergency_start","id":"e-p%d","drill":false,"to":{"area":"%s"},"clip":"flood","max_s":60}' \
			"$SEQ" "$AREA" |
			"$SEALCMD" --key "$T/province/controller.key" --site "$AREA" --type cmd >"$T/cmd.bin" || return 1
		TOPIC=loaxa/area/$AREA/cmd
		STOPBODY=$(printf '{"cmd":"emergency_stop","id":"e-p%d","drill":false,"to":{"area":"%s"}}' "$SEQ" "$AREA")
		STOPKEY=$T/province/controller.key STOPSITE=$AREA
	fi
	T0=$(date +%s%N)
	mosquitto_pub -h 127.0.0.1 -p "$port" -i "bench-$$" -q 1 -t "$TOPIC" -f "$T/cmd.bin"
}
stop_emergency() {
	printf '%s' "$STOPBODY" | "$SEALCMD" --key "$STOPKEY" --site "$STOPSITE" --type cmd >"$T/stop.bin" &&
		mosquitto_pub -h 127.0.0.1 -p "$1" -i "bench-$$" -q 1 -t "$TOPIC" -f "$T/stop.bin"
}

# onsets_after T0 : "node latency_ns" of every node's first onset after T0
onsets_after() {
	find "$NT/n" -maxdepth 2 -name onsets.log -print0 | xargs -0 awk -v t="$1" '
		$1 == "onset" && $2 >= t && !(FILENAME in seen) {
			seen[FILENAME] = 1; f = FILENAME; sub(/\/onsets.log$/, "", f); sub(/.*\//, "", f)
			printf "s%s %.0f\n", f, $2 - t }'
}
sounded() { onsets_after "$1" | wc -l; }
sounded_at_least() { [ "$(sounded "$1")" -ge "$2" ]; }

# round LABEL KIND PORT [EXPECT] : one activation; latencies to $T/lat-LABEL,
# missed nodes' names to $T/missed-LABEL (appended)
round() {
	local label=$1 kind=$2 port=$3 expect=${4:-$N} t0
	send "$kind" "$port" || { say "province bench: cannot send the command"; return 1; }
	t0=$T0
	wait_for "$WAIT_S" sounded_at_least "$t0" "$expect"
	sleep 0.5
	onsets_after "$t0" >"$T/round.txt"
	cut -d' ' -f2 "$T/round.txt" >>"$T/lat-$label"
	awk -v r="$T/round.txt" 'BEGIN { while ((getline l < r) > 0) { split(l, a, " "); s[a[1]] = 1 } }
		!($1 in s) { print $1, $2 }' "$T/all.list" >>"$T/missed-$label"
	echo "$t0" >"$T/t0-$label"
	stop_emergency "$port"
	# the next round starts from idle: every node has ended this emergency
	# (a loaded simulator may take a while to work through the stop) and
	# closed its device (5 s after the end), or its backlog is the next
	# round's figure
	wait_for 120 none_sounding
	sleep 6
}
# none_sounding : no node of any simulator has an emergency active (stats)
none_sounding() { ! cat "$T"/sim*.stats 2>/dev/null | awk '$1 != "nodes" && $4 == 1 { f = 1 } END { exit !f }'; }

report() { # report LABEL TEXT
	local label=$1 n
	sort -n "$T/lat-$1" -o "$T/lat-$1.s" 2>/dev/null || : >"$T/lat-$1.s"
	n=$(wc -l <"$T/missed-$label" 2>/dev/null || echo 0)
	say "$(printf '%-52s p50 %7s ms  p99 %7s ms  max %7s ms  (%d samples, %d missed; load %s)' \
		"$2:" "$(ms "$(pct "$T/lat-$1.s" 50)")" "$(ms "$(pct "$T/lat-$1.s" 99)")" \
		"$(ms "$(pct "$T/lat-$1.s" 100)")" "$(wc -l <"$T/lat-$1.s")" "$n" "$(load)")"
}

start_nodes() { # start_nodes MODE
	local t=$(date +%s%N)
	write_nodes "$1"
	start_sims
	# each node decodes its alert tone at start: minutes for 3,000 on a loaded machine
	if ! wait_for "${PROVINCE_START_S:-1200}" all_connected "$N"; then
		say "province bench: only $(connected) of $N nodes connected"
		return 1
	fi
	say "$N nodes connected in $(ms $(( $(date +%s%N) - t ))) ms (simulator RSS $(ps -o rss= -p "$(echo "${PID_OF[sim0]}")" | awk '{ printf "%.0f", $1 / 1024 }') MB of process 1 of $P; load $(load))"
	sleep 8 # the start-up's statuses and events are out, every PCM closed
}

# ---------------------------------------------------------------- 1. one broker
broker province "$(free_port)" || exit 1
say "command -> first sample at each node's paced card, $ROUNDS rounds each (target p99 < 2 s, none missed)"
say "(no commune controller runs: every node is one whose commune controller is down)"
start_nodes one || exit 1
for ((r = 0; r < ROUNDS; r++)); do round one commune "${PORT_OF[province]}"; done
report one "$N nodes, one broker, commune emergency"
stop_sims

# ---------------------------------------------------------------- 2. bridged
for ((d = 0; d < D; d++)); do broker "d$d" "$(free_port)" "${PORT_OF[province]}" || exit 1; done
start_nodes districts || exit 1
for ((r = 0; r < ROUNDS; r++)); do round bridged commune "${PORT_OF[province]}"; done
report bridged "$N nodes, $D bridged district brokers, commune emergency"
for ((r = 0; r < ROUNDS; r++)); do round prov province "${PORT_OF[province]}"; done
report prov "$N nodes, $D bridged district brokers, PROVINCIAL emergency"

# ---------------------------------------------------------------- 3. a district broker dies
KD=$(( D > 3 ? 3 : D - 1 ))
KN=$(awk -v d=$KD '$2 == d' "$T/all.list" | wc -l)
stop "d$KD" KILL
tk=$(date +%s%N)
sleep 3
round killed province "${PORT_OF[province]}" $(( N - KN ))
outside=$(awk -v d=$KD '$2 != d' "$T/missed-killed" | wc -l)
inside=$(awk -v d=$KD '$2 == d' "$T/missed-killed" | wc -l)
report killed "district broker d$KD killed ($KN nodes), PROVINCIAL"
say "$(printf '%-52s %d of its %d nodes missed it, %d nodes of other districts missed it; connections down: %d in d%d, %d elsewhere' \
	"  (district d$KD down)" "$inside" "$KN" "$outside" "$(down_in $KD)" "$KD" "$(down_outside $KD)")"
broker "d$KD" "${PORT_OF[d$KD]}" "${PORT_OF[province]}" || exit 1
tb=$(date +%s%N)
district_back() { [ "$(down_in $KD)" = 0 ]; }
if wait_for 120 district_back; then
	say "$(printf '%-52s all %d nodes of d%d connected again %s s after its broker returned (it was down %s s)' \
		"  (d$KD back)" "$KN" "$KD" "$(ms $(( $(date +%s%N) - tb )) | awk '{ printf "%.1f", $1 / 1000 }')" \
		"$(ms $(( tb - tk )) | awk '{ printf "%.1f", $1 / 1000 }')")"
else
	say "  (d$KD back) only $(( KN - $(down_in $KD) )) of its $KN nodes connected again within 120 s"
fi
sleep 2 # the bridge (restart_timeout 1 2) is up too
for ((r = 0; r < ROUNDS; r++)); do round back province "${PORT_OF[province]}"; done
report back "after d$KD returned, PROVINCIAL"
stop_sims
exit 0
