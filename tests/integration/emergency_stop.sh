#!/bin/bash
# The all-clear with confirmations (issue 16, point 3), with real parts:
# mosquitto, the controller, three nodes of zone thon-1 on paced test cards.
#   - n2 is down when the emergency starts and back (silent) before the stop;
#   - n3 is killed -9 while it sounds the emergency;
#   - `loaxa emergency stop` waits for every node's confirmation that it is
#     silent and prints them: n1 stopped, n2 was not sounding it, n3 did not
#     confirm (named, exit status 3);
#   - GET /v1/emergency/<id> shows the same per node;
#   - n1, which was sounding it, then plays the all-clear clip, and only n1;
#   - --json gives the confirmations and not_confirmed.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
for n in n1 n2 n3; do
	PACED=1 write_node_cfg "$n" thon-1
	start_node "$n" || exit 1
done

if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone flood all-clear \
	>"$T/clips.log" 2>&1; then
	ok "scripts/emergency-clips.sh makes tone, flood and all-clear"
else
	fail "scripts/emergency-clips.sh makes the clips"
	sed 's/^/#   /' "$T/clips.log"
	exit 1
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
ALLCLEAR=$("$LOAXA" emergency clips --json | jq -r '.clips[] | select(.name == "all-clear") | .content')
clips_ready() {
	node_json "$1" | jq -e --arg s "$SET" '.status.emergency.clips_set == $s and
		([.status.emergency.clips[]] | length == 3 and all)' >/dev/null
}
for n in n1 n2 n3; do
	check "node $n holds the clips (tone, flood, all-clear)" wait_for 60 clips_ready "$n"
done

# n2 is down when the emergency starts: it never hears the start
stop_checked n2
"$LOAXA" emergency start --clip flood --zone thon-1 --max 120s --timeout 5 --json \
	>"$T/start.json" 2>"$T/start.err"
E=$(jq -r .emergency "$T/start.json")
check "n1 and n3 confirmed the start of $E" \
	jq -e '([.plays[] | select(.result == "started") | .node] | sort) == ["n1","n3"]' "$T/start.json"
start_node n2 || exit 1
check "n2, back, is not sounding anything" \
	bash -c "[ \"\$('$LOAXA' nodes --json | jq -c '.nodes[] | select(.node == \"n2\") | .status.emergency.active')\" = null ]"
sleep 1
stop n3 KILL # in the middle of the alarm
diag "n3 killed -9 while sounding $E"

T0=$(now_ms)
"$LOAXA" emergency stop --timeout 5 >"$T/stop.txt" 2>"$T/stop.err"
rc=$?
T1=$(now_ms)
sed 's/^/#   /' "$T/stop.txt" "$T/stop.err"
check "loaxa emergency stop exits 3: a node did not confirm" [ "$rc" = 3 ]
check "it names the killed node: NOT confirmed within 5 s (1 of 3): n3" \
	grep -q "NOT confirmed within 5 s (1 of 3): n3" "$T/stop.txt"
check "it prints n1's confirmation: silent, stopped, with the time" \
	grep -Eq "^n1 +yes, stopped +[0-9-]+ [0-9:]+ +[0-9]+ ms" "$T/stop.txt"
check "it prints n2's: silent, it was not sounding it" \
	grep -Eq "^n2 +yes \(it was not sounding on this node\)" "$T/stop.txt"
check "it prints n3 as not silent (NO)" grep -Eq "^n3 +NO +- +-" "$T/stop.txt"
check "it waited for the timeout (the killed node), $((T1 - T0)) ms" [ $((T1 - T0)) -ge 5000 ]
check "it says the all-clear plays" grep -q "now play the all-clear clip" "$T/stop.txt"

api_curl "http://localhost/v1/emergency/$E" >"$T/show.json"
check "GET /v1/emergency/$E: n1 stop reason stopped, n2 not sounding, n3 none" \
	jq -e '[.nodes[] | {(.node): (.stop.reason // null)}] | add ==
		{"n1":"stopped","n2":"it was not sounding on this node","n3":null}' "$T/show.json"

allclear_played() { grep -q "$E: playing the all-clear clip ($ALLCLEAR)" "$T/$1/node.log"; }
check "n1, which was sounding it, plays the all-clear clip after the stop" wait_for 10 allclear_played n1
sleep 1
check "n2, which was not, does not play it" bash -c "! grep -q 'all-clear clip' '$T/n2/node.log'"
allclear_done() { grep -q "$E: the all-clear has played" "$T/n1/node.log"; }
check "n1's all-clear ends and the node is free again" wait_for 30 allclear_done
check "n1's speaker heard it: an onset after the stop" \
	bash -c "onsets() { awk '\$1 == \"onset\" { printf \"%.0f\\n\", \$2 / 1000000 }' '$T/n1/onsets.log'; }; onsets | awk -v t=$T0 '\$1 > t { f = 1 } END { exit !f }'"

# --json, and a stop with nothing left to confirm (all stopped): exit 0
"$LOAXA" emergency start --clip flood --node n1 --max 60s --timeout 10 --json >"$T/s2.json" 2>&1
E2=$(jq -r .emergency "$T/s2.json")
"$LOAXA" emergency stop "$E2" --no-all-clear --json >"$T/stop2.json" 2>"$T/stop2.err"
rc=$?
check "a stop every node confirms exits 0" [ "$rc" = 0 ] || sed 's/^/#   /' "$T/stop2.json" "$T/stop2.err"
check "--json: stopped, the confirmation of n1, nothing unconfirmed, no all-clear" \
	jq -e --arg e "$E2" '.stopped == [$e] and .not_confirmed == [] and .all_clear == null and
		.confirmations[$e].nodes[0].stop.reason == "stopped"' "$T/stop2.json"
sleep 1
check "--no-all-clear: n1 did not play the all-clear for $E2" bash -c "! grep -q '$E2: playing the all-clear' '$T/n1/node.log'"

stop_all_checked
finish
