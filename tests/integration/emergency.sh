#!/bin/bash
# Emergency broadcasts end to end (docs/live.md) with real parts: mosquitto,
# the controller, three nodes (n1, n2 in thon-1; n3 in thon-2) on the ALSA
# `file` plugin, clips made by scripts/emergency-clips.sh (espeak-ng, sox).
#   - the clips reach every node ahead (status: clips_set, each clip ready);
#   - a drill preempts a playing broadcast on n1, n1 and n2 confirm, n3 (other
#     zone) stays silent; the drill is tagged in the id, the command's
#     envelope flag, the node logs, the status and the confirmation events;
#   - after `loaxa emergency stop` the preempted broadcast re-queues and plays
#     to the end; the play log has play_preempted naming the drill;
#   - the maximum duration ends a forgotten emergency (max_duration);
#   - forged, replayed, expired and drill-flag-mismatched commands sent with
#     mosquitto_pub sound nothing.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD"

ROOTT=loaxa/$SITE
start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
for n in n1 n2 n3; do
	z=thon-1
	[ "$n" = n3 ] && z=thon-2
	PACED=1 write_node_cfg "$n" "$z"
	echo "emergency_volume = 90;" >>"$T/$n/node.cfg"
	start_node "$n" || exit 1
done

# every node event, as an independent client sees it
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "$ROOTT/node/+/event" >"$T/events.log" 2>/dev/null &
PID_OF[events_sub]=$!
STOP_ORDER+=(events_sub)

# ---------------------------------------------------------------- clips
if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone drill flood \
	>"$T/clips.log" 2>&1; then
	ok "scripts/emergency-clips.sh makes tone, drill and flood and gives them to the controller"
else
	fail "scripts/emergency-clips.sh makes the clips"
	sed 's/^/#   /' "$T/clips.log"
	exit 1
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
check "loaxa emergency clips lists tone, drill, flood" \
	[ "$("$LOAXA" emergency clips --json | jq -r '[.clips[].name] | join(",")')" = "drill,flood,tone" ]

clips_ready() { # clips_ready NODE : its status says it holds set $SET, all ready
	node_json "$1" | jq -e --arg s "$SET" \
		'.status.emergency.clips_set == $s and
		 ([.status.emergency.clips[]] | length == 3 and all)' >/dev/null
}
# statuses come on change; give the fetches time
for n in n1 n2 n3; do
	if wait_for 60 clips_ready "$n"; then
		ok "node $n holds every emergency clip of set $SET ahead of need"
	else
		fail "node $n holds every emergency clip of set $SET"
		node_json "$n" | jq -c .status.emergency | sed 's/^/#   /'
	fi
done
check "the clip list is kept on disk (n1/state/emergency.json)" \
	jq -e --arg s "$SET" '.set == $s and (.clips | length) == 3' "$T/n1/state/emergency.json"

# ---------------------------------------------------------------- a drill preempts a play
speech "$T/long.wav" "Thông báo của ủy ban nhân dân xã về lịch tiêm phòng cho trẻ em. Các gia đình có con từ hai tháng đến năm tuổi đưa các cháu đến trạm y tế xã vào sáng thứ bảy." || exit 1
"$LOAXA" play "$T/long.wav" --node n1 --json >"$T/play.json" 2>"$T/play.err" ||
	{ fail "loaxa play of a long announcement to n1"; cat "$T/play.err"; exit 1; }
BCAST=$(jq -r .broadcast "$T/play.json")
playing() { node_json n1 | jq -e --arg b "$BCAST" '.status.playing.broadcast == $b' >/dev/null; }
wait_for 30 playing || fail "n1 plays broadcast $BCAST"
sleep 0.5

# capture the signed command as it goes over the broker, for the replay below
mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "$ROOTT/zone/thon-1/cmd" -C 1 -N \
	>"$T/captured.bin" 2>/dev/null &
SUB=$!
sleep 0.3
T0=$(now_ms)
"$LOAXA" emergency start --clip flood --zone thon-1 --drill --max 60s --timeout 15 --json \
	>"$T/drill.json" 2>"$T/drill.err"
rc=$?
check "loaxa emergency start --drill exits 0 (every node confirmed)" [ "$rc" = 0 ] ||
	{ sed 's/^/#   /' "$T/drill.json" "$T/drill.err"; dump_logs 20; }
DRILL=$(jq -r .emergency "$T/drill.json")
check "the drill's id starts with d- ($DRILL)" [ "${DRILL#d-}" != "$DRILL" ]
check "both zone nodes confirmed started, none missing" \
	jq -e '([.plays[] | select(.result == "started" or .result == "finished") | .node] | sort) == ["n1","n2"] and (.not_confirmed | length) == 0' "$T/drill.json"
wait $SUB 2>/dev/null
flags=$(od -An -tu1 -j 7 -N1 "$T/captured.bin" | tr -d ' ')
check "the command's envelope carries the drill flag (bit 0)" [ "$(( ${flags:-0} & 1 ))" = 1 ]
check "the command body says drill true" grep -aq '"drill":true' "$T/captured.bin"

active() { node_json "$1" | jq -e --arg d "$DRILL" '.status.emergency.active.id == $d and .status.emergency.active.drill == true' >/dev/null; }
for n in n1 n2; do
	check "node $n status shows drill $DRILL active, drill: true" wait_for 10 active "$n"
	check "node $n log tags the drill (DRILL ... $DRILL)" grep -q "DRILL (exercise, not a real alarm) $DRILL" "$T/$n/node.log"
done
check "node n3 (zone thon-2) has no emergency" \
	[ "$(node_json n3 | jq -c .status.emergency.active)" = null ]
check "n1 logs that broadcast $BCAST was preempted by $DRILL" \
	grep -q "broadcast $BCAST (content [0-9a-f]*) preempted by $DRILL" "$T/n1/node.log"
check "n1 plays the drill at emergency_volume 90" grep -q "$DRILL: playing the alert tone ([0-9a-f]*) at volume 90" "$T/n1/node.log"
check "n1 plays the drill preamble after the tone" wait_for 10 grep -q "$DRILL: playing the drill preamble" "$T/n1/node.log"
sleep 1
sounded() { onsets "$1" | awk -v t="$T0" '$1 >= t { f = 1 } END { exit !f }'; }
for n in n1 n2; do
	check "node $n sounded the drill (its paced speaker heard an onset)" sounded "$n"
done
check "node n3 stayed silent (no onset on its speaker)" bash -c "! [ -s '$T/n3/onsets.log' ]"
for n in n1 n2; do
	check "node $n holds the alert tone decoded in memory, ready before the command" \
		grep -q "emergency alert tone [0-9a-f]* ready in memory (3.0 s)" "$T/$n/node.log"
done
# n2 was idle: its first sound after the command is the tone, 3 s without a
# gap (played from memory; a short read or an underrun would cut it)
tone_ms() { awk -v t="$T0" '$1 == "onset" && $2 / 1e6 >= t && !s { s = $2 }
	$1 != "onset" && s && !e && $2 > s { e = $2 } END { printf "%d\n", e ? (e - s) / 1e6 : 0 }' "$T/n2/onsets.log"; }
check "n2's first sound, the alert tone, lasted $(tone_ms) ms without a break (>= 2950)" [ "$(tone_ms)" -ge 2950 ]

"$LOAXA" emergency stop --json >"$T/stop.json" 2>&1
check "loaxa emergency stop names $DRILL" jq -e --arg d "$DRILL" '.stopped == [$d]' "$T/stop.json"
ended() { "$LOAXA" plays --broadcast "$DRILL" --json | jq -e '[.plays[] | select(.type == "emergency_ended")] | length == 2' >/dev/null; }
check "both nodes confirm emergency_ended" wait_for 10 ended
for t in emergency_started emergency_ended; do
	check "every $t event of $DRILL says drill: true (as sent on the broker)" \
		[ "$(jq -c --arg d "$DRILL" --arg t "$t" 'select(.broadcast == $d and .type == $t) | .drill' "$T/events.log" | sort -u)" = true ]
done
finished() { "$LOAXA" plays --broadcast "$BCAST" --json | jq -e '[.plays[] | select(.type == "play_finished")] | length == 1' >/dev/null; }
check "the preempted broadcast re-queued and played to the end after the drill" wait_for 60 finished
check "the play log has play_preempted for $BCAST naming $DRILL" \
	bash -c "'$LOAXA' plays --broadcast '$BCAST' --json | jq -e --arg d '$DRILL' '[.plays[] | select(.type == \"play_preempted\" and (.reason | contains(\$d)))] | length == 1'"

# ---------------------------------------------------------------- max duration
"$LOAXA" emergency start --clip flood --node n2 --max 3s --timeout 10 --json >"$T/real.json" 2>&1
REAL=$(jq -r .emergency "$T/real.json")
check "a real emergency's id starts with e- ($REAL)" [ "${REAL#e-}" != "$REAL" ]
maxed() { "$LOAXA" plays --broadcast "$REAL" --json | jq -e '[.plays[] | select(.type == "emergency_ended" and .reason == "max_duration")] | length == 1' >/dev/null; }
check "a forgotten emergency ends at its maximum duration (3 s)" wait_for 15 maxed
check "n2 logs the real one as EMERGENCY, never DRILL" grep -q "EMERGENCY $REAL ended (max_duration)" "$T/n2/node.log"

# ---------------------------------------------------------------- a node that does not confirm
stop_checked n3
"$LOAXA" emergency start --clip flood --all --drill --max 20s --timeout 4 >"$T/miss.txt" 2>"$T/miss.err"
rc=$?
check "loaxa emergency start exits 3 when a node does not confirm (n3 is down)" [ "$rc" = 3 ] ||
	sed 's/^/#   /' "$T/miss.txt" "$T/miss.err"
check "it prints which node did not confirm" grep -q "NOT confirmed within 4 s (1 of 3): n3" "$T/miss.txt" ||
	sed 's/^/#   /' "$T/miss.txt"
"$LOAXA" emergency stop >/dev/null 2>&1
sleep 1

# ---------------------------------------------------------------- hostile commands
CLIP=$("$LOAXA" emergency clips --json | jq -r '.clips[] | select(.name == "flood") | .content')
body() { printf '{"cmd":"emergency_start","to":"zone/thon-1/cmd","id":"%s","drill":%s,"content":"%s","max_s":60}' "$1" "$2" "$CLIP"; }
started_before=$(log_count "$T/n1/node.log" 'received:')
rej_before=$(log_count "$T/n1/node.log" 'rejected')
mkdir -p "$T/other"
"$LOAXA" keygen -o "$T/other" >/dev/null 2>&1
body e-20990101-000000-0001 false >"$T/b1.json"
"$SEALCMD" --key "$T/other/controller.key" --site "$SITE" --type cmd <"$T/b1.json" >"$T/forged.bin"
"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd --issued-offset -400000 \
	--expires-in 300000 <"$T/b1.json" >"$T/expired.bin"
body d-20990101-000000-0002 true >"$T/b2.json"
"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd --flags 0 \
	<"$T/b2.json" >"$T/noflag.bin"
for f in forged expired noflag; do
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$ROOTT/zone/thon-1/cmd" -f "$T/$f.bin"
done
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$ROOTT/zone/thon-1/cmd" -f "$T/captured.bin"
check "n1 rejects the four hostile commands (log)" wait_for 10 log_grows "$T/n1/node.log" rejected $((rej_before + 4))
check "n1 names the forged one: unknown key" grep -q "rejected message on $ROOTT/zone/thon-1/cmd: .*key" "$T/n1/node.log"
check "n1 names the expired one" grep -q "rejected message on $ROOTT/zone/thon-1/cmd: .*expired" "$T/n1/node.log"
check "n1 names the replayed one" grep -Eq "rejected message on $ROOTT/zone/thon-1/cmd: .*(replay|duplicate|older)" "$T/n1/node.log"
check "n1 refuses a drill body without the drill flag" grep -q 'rejected DRILL\|envelope.s drill flag is clear' "$T/n1/node.log"
sleep 1
check "none of them started an emergency on n1" [ "$(log_count "$T/n1/node.log" 'received:')" = "$started_before" ]
check "n1 has no active emergency" [ "$(node_json n1 | jq -c .status.emergency.active)" = null ]

stop events_sub
stop_all_checked
finish
