#!/bin/bash
# Store-and-forward on a real node, a real broker and a real controller:
#   - the node measures its offset to the controller's clock (time ping/pong)
#     and reports it in its status;
#   - a signed plan (sealed here with the controller's key) is accepted,
#     stored, its content and chime fetched at once and reported ready;
#   - the broker is stopped before air time: the item plays anyway, chime
#     then content, with the amplifier command run warmup_s ahead;
#   - a newer plan replaces it; the node is restarted with no broker at all
#     and plays the new plan's item from disk, and does not replay the
#     occurrence it already played;
#   - when the link returns the controller gets the play events;
#   - a forged plan, a replayed older plan and a plan with a bad field are
#     refused and the plan in force stays.
# Plans carry sequence numbers far above the controller's own (which start
# at the current microsecond), so that a plan the controller might publish
# for this node never takes precedence over the test's.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
cat >>"$T/n1/node.cfg" <<EOF
amplifier = { on_command = "echo on \$(date +%s%N) >>$T/n1/amp.log";
              off_command = "echo off \$(date +%s%N) >>$T/n1/amp.log"; warmup_s = 1; };
EOF
start_node n1 || exit 1

import() { "$LOAXA" import "$1" --title "$2" --json 2>>"$T/import.err" | jq -r '.id // empty'; }
sox -n -r 48000 -c 1 -b 16 "$T/a.wav" synth 1.5 sine 440 vol 0.5 2>/dev/null
sox -n -r 48000 -c 1 -b 16 "$T/b.wav" synth 1.0 sine 660 vol 0.5 2>/dev/null
sox -n -r 48000 -c 1 -b 16 "$T/c.wav" synth 0.4 sine 1000 vol 0.3 2>/dev/null
A=$(import "$T/a.wav" "A") B=$(import "$T/b.wav" "B") C=$(import "$T/c.wav" "chime")
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] || { fail "loaxa import of three test tones"; exit 1; }
bytes() { stat -c %s "$(content_path "$1")"; }

SEQ0=$(( $(date +%s%N) / 1000 + 10000000000000 ))
# seal_plan SEQ BODY [KEYFILE] > envelope
seal_plan() {
	printf '%s' "$2" | "$SEALCMD" --key "${3:-$T/keys/controller.key}" --site "$SITE" \
		--type plan --seq "$1" --expires-in 3600000
}
publish_plan() { # FILE
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -r -t "loaxa/$SITE/node/n1/plan" -f "$1"
}
status() { node_json n1 | jq -c "$1"; }
plan_seq_is() { [ "$(status '.status.plan.seq')" = "$1" ]; }
item() { # ID AT CONTENT [extra json]
	printf '{"id":"%s","at":%s,"content":"%s","bytes":%s,"level":"normal","volume":100%s}' \
		"$1" "$2" "$3" "$(bytes "$3")" "${4:-}"
}
plan() { # ITEMS...
	local IFS=,
	printf '{"node":"n1","generated":%s,"horizon":%s,"items":[%s]}' "$(now_ms)" \
		"$(( $(now_ms) + 3600000 ))" "$*"
}
nlog=$T/n1/node.log

# ------------------------------------------------------------ clock
measured() { node_json n1 | jq -e '.status.clock.source == "measured" and .status.clock.samples >= 3' >/dev/null; }
if wait_for 20 measured; then
	clk=$(status '.status.clock')
	diag "clock in status: $clk"
	off=$(jq -r '.offset_ms' <<<"$clk") err=$(jq -r '.error_ms' <<<"$clk")
	# same machine: the true offset is 0; loaded test machines make round trips long
	check "the clock offset to the controller (same machine) is under 50 ms ($off ms)" \
		awk -v x="$off" 'BEGIN { exit !(x < 50 && x > -50) }'
	check "the offset lies within its reported error bound ($off ms, bound $err ms)" \
		awk -v x="$off" -v e="$err" 'BEGIN { if (x < 0) x = -x; exit !(e != "null" && e >= 0 && x <= e + 0.2) }'
	check "the estimate is saved in the state dir" test -s "$T/n1/state/clock"
else
	fail "the node reports a measured clock offset in its status"
fi

# ------------------------------------------------------------ plan 1, broker gone at air time
AT1=$(( $(now_ms) + 6000 ))
seal_plan $((SEQ0 + 1)) "$(plan "$(item o-1 "$AT1" "$A" ",\"chime\":\"$C\",\"chime_bytes\":$(bytes "$C"),\"warmup_s\":2")")" \
	>"$T/plan1.env" || { fail "sealcmd seals plan 1"; exit 1; }
publish_plan "$T/plan1.env"
ready1() { plan_seq_is $((SEQ0 + 1)) && [ "$(status '.status.upcoming[0].ready')" = true ]; }
if wait_for 10 ready1; then
	ok "plan 1 is in force and its content and chime are fetched and reported ready"
	diag "status: $(status '{plan: .status.plan, upcoming: .status.upcoming}')"
else
	fail "plan 1 is in force with its content ready (status: $(status '.status.plan'))"
fi
check "the node keeps the plan envelope on disk" test -s "$T/n1/state/plan.env"
check "a plan_received event was emitted" grep -q '"type":"plan_received"' "$nlog"
capture_mark n1
stop broker
diag "broker stopped $(( AT1 - $(now_ms) )) ms before air time"
played() { grep -q "playing $1 for occurrence $2" "$nlog"; }
if wait_for 12 played "$A" o-1; then
	ok "with the broker stopped, occurrence o-1 starts (chime first)"
	wait_for 10 grep -q "finished $A for occurrence o-1" "$nlog" ||
		not_ok "occurrence o-1 finishes"
	ev=$(grep -o '"type":"play_started".*"occurrence":"o-1".*' "$nlog" | head -1)
	ev="{$ev"
	diag "play_started: $ev"
	check "its play_started event carries occurrence, plan_seq, scheduled time, start and error bound" \
		jq -e --argjson at "$AT1" --argjson seq $((SEQ0 + 1)) \
		'.occurrence == "o-1" and .plan_seq == $seq and .scheduled == $at and
		 (.start | type) == "number" and (.error_ms | type) == "number"' <<<"$ev"
	capture_since n1 "$T/n1/p1.raw"
	nz=$(nonzero_bytes "$T/n1/p1.raw")
	# chime 0.4 s + content 1.5 s = 1.9 s of sound = 182400 bytes (fades aside)
	check "chime and content both reached the device ($nz non-zero bytes, about 182400)" \
		awk -v x="$nz" 'BEGIN { exit !(x > 150000 && x < 200000) }'
	on=$(awk '$1 == "on" { print substr($2, 1, 13); exit }' "$T/n1/amp.log" 2>/dev/null)
	if [ -n "$on" ]; then
		check "the amplifier command ran ahead of the play by its warm-up ($(( AT1 - on )) ms >= 1500)" \
			[ $(( AT1 - on )) -ge 1500 ]
	else
		not_ok "amplifier.on_command ran"
	fi
else
	fail "occurrence o-1 plays with the broker stopped"
fi

# ------------------------------------------------------------ plan 2, restart with no broker
restart_broker broker || exit 1
wait_for 30 node_online n1 || fail "n1 reconnects"
AT2=$(( $(now_ms) + 9000 ))
seal_plan $((SEQ0 + 2)) "$(plan "$(item o-1 "$AT1" "$A")" "$(item o-2 "$AT2" "$B")")" >"$T/plan2.env"
publish_plan "$T/plan2.env"
if wait_for 10 plan_seq_is $((SEQ0 + 2)); then
	ok "a newer plan (2) replaces plan 1"
else
	fail "plan 2 replaces plan 1"
fi
wait_for 10 grep -q "plan $((SEQ0 + 2)) in force" "$nlog"
# o-2's content must be on disk before the node goes offline: it is fetched
# once the plan is in force, which takes a moment more
ready2() { [ "$(status '[.status.upcoming[] | select(.id == "o-2") | .ready][0]')" = true ]; }
check "plan 2's content is fetched and reported ready before the restart" wait_for 20 ready2
stop_checked n1
stop broker
NO_WAIT_ONLINE=1 start_node n1
check "restarted with no broker, the node loads plan 2 from disk and checks its signature" \
	wait_for 10 grep -q "plan $((SEQ0 + 2)) in force (saved on disk, signature checked)" "$nlog"
capture_mark n1
if wait_for 15 played "$B" o-2; then
	ok "with no broker since its restart, the node plays occurrence o-2 on time"
	wait_for 10 grep -q "finished $B for occurrence o-2" "$nlog" ||
		not_ok "occurrence o-2 finishes"
	check "what it played has sound" capture_nonsilent_since n1
else
	fail "occurrence o-2 plays after a restart with no broker"
fi
check "occurrence o-1, in plan 2 again and still valid, is not played a second time" \
	[ "$(grep -c "playing $A for occurrence o-1" "$nlog")" -eq 1 ]

# ------------------------------------------------------------ link back: the controller learns
# The node stops first, so that its journal is sent (at its next start) to a
# controller that is already subscribed again.
stop_checked n1
nsub=$(log_count "$T/controller/controller.log" 'subscribed to .*/node/\+/event')
start_broker broker "${PORT_OF[broker]}" || exit 1
# its subscription to events is in place (not only its connection)
wait_for 60 log_grows "$T/controller/controller.log" 'subscribed to .*/node/\+/event' "$nsub" ||
	fail "the controller subscribes to node events again"
start_node n1 || exit 1
learned() {
	"$LOAXA" plays --json 2>/dev/null | jq -e --arg b "$B" \
		'[.plays[] | select(.node == "n1" and .type == "play_finished" and .content == $b)] |
		 length >= 1' >/dev/null
}
if wait_for 40 learned; then
	ok "after the link returns the controller gets the play of the offline restart"
else
	not_ok "after the link returns the controller gets the play of the offline restart"
	grep -n 'event\|subscribed\|connected' "$T/controller/controller.log" | tail -15 | sed 's/^/#   /'
	ls -l "$T/n1/state/events" | sed 's/^/#   /'
	grep -n 'event\|connected' "$nlog" | tail -10 | cut -c1-200 | sed 's/^/#   /'
fi

# ------------------------------------------------------------ refused plans keep plan 2
"$LOAXA" keygen -o "$T/evil" >/dev/null 2>&1
seal_plan $((SEQ0 + 3)) "$(plan "$(item o-x $(( $(now_ms) + 60000 )) "$A")")" "$T/evil/controller.key" >"$T/forged.env"
before=$(log_count "$nlog" 'rejected message on .*/plan: (signature does not verify|signed by an unknown key)')
publish_plan "$T/forged.env"
check "a plan signed with another key is refused" \
	wait_for 10 log_grows "$nlog" 'rejected message on .*/plan: (signature does not verify|signed by an unknown key)' "$before"
before=$(log_count "$nlog" 'rejected message on .*/plan: replayed')
publish_plan "$T/plan1.env"
check "the older plan 1 sent again is refused as a replay" \
	wait_for 10 log_grows "$nlog" 'rejected message on .*/plan: replayed' "$before"
seal_plan $((SEQ0 + 4)) "$(plan "$(item o-y $(( $(now_ms) + 60000 )) "$A" ',"warmup_s":9999')")" >"$T/bad.env"
publish_plan "$T/bad.env"
check "a signed plan with a bad field is refused, naming the field" \
	wait_for 10 grep -q "plan $((SEQ0 + 4)) refused: items\[0\] (o-y).warmup_s" "$nlog"
check "after all three, plan 2 is still in force" plan_seq_is $((SEQ0 + 2))
seal_plan $((SEQ0 + 5)) "$(plan)" >"$T/empty.env"
publish_plan "$T/empty.env"
empty() { plan_seq_is $((SEQ0 + 5)) && [ "$(status '.status.plan.items')" = 0 ]; }
check "an empty plan is a valid plan: nothing scheduled" wait_for 10 empty

stop_all_checked
finish
