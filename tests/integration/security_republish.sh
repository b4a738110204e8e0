#!/bin/bash
# A broker that republishes real signed messages on other topics (issue 14,
# point 2; docs/security.md "Broker compromised"). The test holds the
# controller's broker account, which reads and writes every topic of the
# site: what an attacker holding the broker can do.
#   - it captures, with mosquitto_sub, real messages the controller sends for
#     thon-1 / n1: a play to zone thon-1, `loaxa node volume n1 0`, a flood
#     emergency for thon-1 (start and stop), live batches to thon-1;
#   - it republishes them on n2's and thon-2's topics and on zone/all: n2
#     (thon-2) sounds nothing (its ALSA capture file stays silent), keeps its
#     volume, logs each refusal naming the topic and the destination the
#     message names, and counts it in its status (rejected.wrong_target);
#     the controller raises a `misaddressed` alarm for n2;
#   - a forged play event of n2 for thon-1's broadcast (published as n2 on
#     the broker) does not count in the monthly report nor in the plays.
SECURE=1
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-2
for n in n1 n2; do start_node "$n" || exit 1; done

B=$T/broker
R=loaxa/$SITE
ADMIN=(-h 127.0.0.1 -p "$BROKER_PORT" --cafile "$B/ca.crt" -u controller
	-P "$(cat "$B/controller.password")")

# ---------------------------------------------------------------- material
if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone flood \
	>"$T/clips.log" 2>&1; then
	ok "emergency clips tone and flood given to the controller"
else
	fail "scripts/emergency-clips.sh makes the clips"
	sed 's/^/#   /' "$T/clips.log"
	exit 1
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
clips_ready() {
	node_json "$1" | jq -e --arg s "$SET" '.status.emergency.clips_set == $s and
		([.status.emergency.clips[]] | all)' >/dev/null
}
for n in n1 n2; do
	check "node $n holds the emergency clips" wait_for 60 clips_ready "$n"
done
speech "$T/a.wav" "Thông báo thử." || exit 1
speech "$T/live.wav" "Alo alo, thôn một." || exit 1
CID=$("$LOAXA" import "$T/a.wav" --title test --json 2>"$T/import.err" | jq -r '.id // empty')
[ -n "$CID" ] || { fail "loaxa import"; sed 's/^/#   /' "$T/import.err"; exit 1; }
# n2 fetches nothing in between (its acks would be newer commands)
sleep 2

# ---------------------------------------------------------------- capture
# every command and live batch as it goes over the broker: "topic hex"
mosquitto_sub "${ADMIN[@]}" -i "spy-$RANDOM" -t "$R/zone/+/cmd" -t "$R/node/+/cmd" \
	-t "$R/zone/+/live" -F '%t %x' >"$T/wire" 2>"$T/wire.err" &
PID_OF[spy]=$!
STOP_ORDER+=(spy)
sleep 0.5

"$LOAXA" play "$CID" --zone thon-1 --wait=60 --json >"$T/play.json" 2>"$T/play.err"
check "loaxa play to thon-1 plays on n1" \
	jq -e '[.. | objects | select(.node == "n1" and .result == "finished")] | length == 1' \
	"$T/play.json" >/dev/null || sed 's/^/#   /' "$T/play.json" "$T/play.err"
BCAST=$(jq -r '.broadcast // empty' "$T/play.json")
"$LOAXA" node volume n1 0 >"$T/vol.out" 2>&1
check "loaxa node volume n1 0" wait_for 10 eval \
	'[ "$(node_json n1 | jq .status.volume)" = 0 ]'
"$LOAXA" node volume n1 100 >/dev/null 2>&1
"$LOAXA" emergency start --clip flood --zone thon-1 --max 60s --timeout 15 >"$T/em.out" 2>&1
check "a flood emergency for thon-1 starts (n1 confirms)" [ $? = 0 ] || sed 's/^/#   /' "$T/em.out"
sleep 1
"$LOAXA" emergency stop >/dev/null 2>&1
"$LOAXA" live --file "$T/live.wav" --zone thon-1 --json >"$T/live.json" 2>"$T/live.err"
check "loaxa live --file to thon-1" [ $? = 0 ] || sed 's/^/#   /' "$T/live.err"
sleep 1
stop spy

# pick REGEX TOPIC [N] : the payload of the Nth message on TOPIC whose
# body matches REGEX (live: any), to a file; prints its path.

pick() {
	local re=$1 topic=$2 nth=${3:-1} line hex i=0 f
	f=$(mktemp "$T/msg.XXXXXX")
	while read -r line; do
		[ "${line%% *}" = "$R/$topic" ] || continue
		hex=${line#* }
		xxd -r -p <<<"$hex" >"$f"
		if [ "$re" = live ] || tail -c +61 "$f" | head -c $(( $(stat -c %s "$f") - 124 )) |
			grep -Eq "$re"; then
			i=$((i + 1))
			if [ "$i" = "$nth" ]; then
				echo "$f"
				return 0
			fi
		fi
	done <"$T/wire"
	return 1
}
PLAY=$(pick '"cmd":"play"' zone/thon-1/cmd) || fail "captured the play on zone/thon-1/cmd"
VOL=$(pick '"cmd":"volume".*"level":0' node/n1/cmd) || fail "captured volume 0 on node/n1/cmd"
EMS=$(pick '"cmd":"emergency_start"' zone/thon-1/cmd) || fail "captured emergency_start"
EMX=$(pick '"cmd":"emergency_stop"' zone/thon-1/cmd) || fail "captured emergency_stop"
L1=$(pick live zone/thon-1/live 2) || fail "captured live batches on zone/thon-1/live"
L2=$(pick live zone/thon-1/live 3)
L3=$(pick live zone/thon-1/live 4)
[ -n "$PLAY$VOL$EMS$EMX$L1" ] || exit 1

# ---------------------------------------------------------------- republish
capture_mark n2
pub() { mosquitto_pub "${ADMIN[@]}" -i "evil-$RANDOM" -q 1 -t "$R/$1" -f "$2"; }
before=$(node_json n2 | jq '.status.rejected.wrong_target // 0')
# every copy on every topic of n2 it could reach: a refused copy gives its
# sequence back (envelope.h verifier_undo), so each is refused for its
# destination, not as a duplicate of the one before
COPIES=0
for t in zone/all/cmd zone/thon-2/cmd node/n2/cmd; do pub "$t" "$PLAY"; COPIES=$((COPIES + 1)); done
for t in node/n2/cmd zone/all/cmd; do pub "$t" "$VOL"; COPIES=$((COPIES + 1)); done
for t in zone/thon-2/cmd zone/all/cmd node/n2/cmd; do pub "$t" "$EMS"; COPIES=$((COPIES + 1)); done
sleep 0.3
pub zone/thon-2/live "$L1"
pub zone/all/live "$L2"
pub node/n2/live "$L3"
for t in zone/thon-2/live zone/all/live node/n2/live; do pub "$t" "$L1"; done
COPIES=$((COPIES + 6))
sleep 3 # an emergency would sound within 0.1 s, a play within ~1 s
capture_since n2 "$T/n2.raw"
check "nothing sounded on n2 ($(nonzero_bytes "$T/n2.raw") nonzero bytes)" \
	[ "$(nonzero_bytes "$T/n2.raw")" -eq 0 ]
check "n2 has no active emergency" \
	[ "$(node_json n2 | jq -c .status.emergency.active)" = null ]
check "n2 kept its volume" [ "$(node_json n2 | jq .status.volume)" != 0 ]
check "n2 played nothing (status)" [ "$(node_json n2 | jq -c .status.playing)" = null ]
got() { [ "$(node_json n2 | jq '.status.rejected.wrong_target // 0')" -ge $((before + COPIES)) ]; }
check "n2 counts each of the $COPIES copies in its status (rejected.wrong_target)" wait_for 10 got ||
	node_json n2 | jq -c .status.rejected | sed 's/^/#   /'
L=$T/n2/node.log
check "n2 logs the play copied to zone/all, naming topic and destination" grep -q \
	"refused play command on $R/zone/all/cmd: it is addressed to $R/zone/thon-1/cmd" "$L"
check "n2 logs n1's volume 0 copied to node/n2/cmd" grep -q \
	"refused volume command on $R/node/n2/cmd: it is addressed to $R/node/n1/cmd" "$L"
for t in zone/thon-2/cmd zone/all/cmd node/n2/cmd; do
	check "n2 logs thon-1's emergency copied to $t" grep -q \
		"refused emergency_start command on $R/$t: it is addressed to $R/zone/thon-1/cmd" "$L"
done
check "n2 refused no copy as a replay or duplicate (each for its destination)" \
	bash -c "! grep -Eq 'rejected message on .*(replay|duplicate)' '$L'"
for t in zone/thon-2/live zone/all/live node/n2/live; do
	check "n2 logs live audio copied to $t" grep -q \
		"refused live audio on $R/$t: it is addressed to $R/zone/thon-1/live" "$L"
done
misaddressed() {
	"$LOAXA" alarms --json 2>/dev/null | jq -e '[.alarms[] | select(.node == "n2" and
		.kind == "misaddressed")] | length == 1' >/dev/null
}
check "the controller raises a misaddressed alarm for n2" wait_for 40 misaddressed ||
	"$LOAXA" alarms --json 2>&1 | sed 's/^/#   /'
check "n2 never received an emergency" bash -c "! grep -q 'EMERGENCY.*received' '$L'"

# n1 does not take thon-1's messages on zone/all either (a newer copy would
# be a replay first; the stop signed after the start is newer for n2 only)
pub zone/all/cmd "$EMX"
check "the emergency stop for thon-1 copied to zone/all is refused by n2" wait_for 10 grep -q \
	"refused emergency_stop command on $R/zone/all/cmd" "$L"

# a validly signed command that names no destination (the format before
# issue 14): refused too
printf '{"cmd":"volume","id":"c-1-1","level":0}' |
	"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd >"$T/noto.bin"
pub node/n2/cmd "$T/noto.bin"
check "a signed command without \"to\" is refused, saying so" wait_for 10 grep -q \
	"refused volume command on $R/node/n2/cmd: it names no destination" "$L"
check "n2 still has its volume" [ "$(node_json n2 | jq .status.volume)" != 0 ]

# ---------------------------------------------------------------- the controller's count
# n2 (its account on the broker, or the broker) claims it played thon-1's
# broadcast: not a play the report or the plays may count
ev=$(jq -nc --arg b "$BCAST" --arg c "$CID" --argjson now "$(now_ms)" \
	'{id: "n2-99-1", node: "n2", boot: 99, type: "play_finished", ts: $now, broadcast: $b,
	  content: $c, start: ($now - 2000), duration_ms: 1500, level: "normal", end: "finished",
	  reason: ""}')
mosquitto_pub "${ADMIN[@]}" -i "evil-$RANDOM" -q 1 -t "$R/node/n2/event" -m "$ev"
check "the controller logs the event of a play n2 was not sent" wait_for 10 grep -q \
	"n2 reports play_finished of broadcast $BCAST, which was not sent to it" \
	"$T/controller/controller.log"
MONTH=$(date +%Y-%m)
check "the monthly report counts no play for n2" eval \
	'[ "$("$LOAXA" report --month "$MONTH" --json | jq "[.clusters[] | select(.node == \"n2\") | .played] | add // 0")" = 0 ]'
check "... and still counts n1's" eval \
	'[ "$("$LOAXA" report --month "$MONTH" --json | jq "[.clusters[] | select(.node == \"n1\") | .played] | add // 0")" -ge 1 ]'
check "the play log holds no play of n2" eval \
	'[ "$("$LOAXA" log --node n2 --type play_finished --json | jq ".events | length")" = 0 ]'

stop_all_checked
finish
