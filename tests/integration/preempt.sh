#!/bin/bash
# Priorities on a real node through the paced test card (real time, so a
# play is still sounding when the next command arrives):
#   - a relay play is preempted at once by a priority play, with a fade (no
#     click in the captured samples), is queued again and plays after the
#     preemptor; preempted a second time it is queued again, and both
#     preemptions are in the node's events;
#   - a relay play preempted after its expiry is not played again and is
#     logged as play_preempted (requeued false);
#   - equal levels queue: a second normal play waits for the first.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD" "$PACED_PLUGIN" "$LOAXA_BIN/tools/pcmsteps"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
start_node n1 || exit 1
nlog=$T/n1/node.log

import() { "$LOAXA" import "$1" --title "$2" --json 2>>"$T/import.err" | jq -r '.id // empty'; }
sox -n -r 48000 -c 1 -b 16 "$T/r.wav" synth 2.5 sine 440 vol 0.5 2>/dev/null
sox -n -r 48000 -c 1 -b 16 "$T/p.wav" synth 0.6 sine 660 vol 0.5 2>/dev/null
R=$(import "$T/r.wav" relay) P=$(import "$T/p.wav" priority)
[ -n "$R" ] && [ -n "$P" ] || { fail "loaxa import of two test tones"; exit 1; }

# play BROADCAST CONTENT LEVEL [EXPIRES_IN_MS]: a signed play command, straight to the node.
# The controller signs commands of its own meanwhile (journal acks) with the
# same key: a sequence taken from the clock at sealing time can be overtaken
# by an ack before mosquitto_pub delivers it and be refused as a replay. The
# test's sequences therefore run 2 s ahead of the clock (the node only asks
# that they increase); an ack refused meanwhile is simply sent again.
play() {
	printf '{"cmd":"play","to":"node/n1/cmd","broadcast":"%s","content":"%s","level":"%s","volume":100}' "$1" "$2" "$3" |
		"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd \
			--seq "$(( $(date +%s%6N) + 2000000 ))" \
			--expires-in "${4:-600000}" >"$T/$1.env" &&
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "loaxa/$SITE/node/n1/cmd" -f "$T/$1.env"
}
event_json() { # TYPE BROADCAST : that event's JSON lines from the node's debug log
	grep -o "{\"id\":\"n1-[^\"]*\",\"node\":\"n1\",\"boot\":[0-9]*,\"type\":\"$1\".*\"broadcast\":\"$2\".*" "$nlog"
}
n_events() { event_json "$1" "$2" | wc -l; }
# at_least N FILE REGEX : the log has N or more matching lines (re-read at every poll)
at_least() { [ "$(grep -c -- "$3" "$2")" -ge "$1" ]; }
requeued_events() { # BROADCAST TRUE|FALSE N
	[ "$(event_json play_preempted "$1" | grep -c "\"requeued\":$2")" -ge "$3" ]
}

# Both contents on the node first (a play fetches what it lacks)
play warm-r "$R" normal && play warm-p "$P" normal
wait_for 30 grep -q "finished $P for broadcast warm-p" "$nlog" || { fail "warm-up plays finish"; exit 1; }
: >"$T/n1/paced.raw.mark"
skip=$(stat -c %s "$T/n1/paced.raw")

# ------------------------------------------------------------ preempted twice, re-queued
play r1 "$R" relay
wait_for 10 grep -q "playing $R for broadcast r1" "$nlog" || { fail "the relay play starts"; exit 1; }
sleep 0.8 # let it sound: this is what is cut
play p1 "$P" priority
check "the priority play preempts the relay one" \
	wait_for 5 grep -q "broadcast r1 (level relay) gives way to broadcast p1 (level priority)" "$nlog"
check "the relay play is queued again after the preemptor" \
	wait_for 5 grep -q "broadcast r1 .* preempted by p1 after [0-9.]* s; re-queued" "$nlog"
wait_for 10 grep -q "finished $P for broadcast p1" "$nlog" || not_ok "p1 finishes"
check "after the priority play, the relay play starts again" \
	wait_for 5 at_least 2 "$nlog" "playing $R for broadcast r1"
sleep 0.6
play p2 "$P" priority
check "preempted a second time, it is queued again" \
	wait_for 5 grep -q "broadcast r1 .* preempted by p2 after [0-9.]* s; re-queued" "$nlog"
check "and finally plays to its end" wait_for 15 grep -q "finished $R for broadcast r1" "$nlog"
check "both preemptions are events (play_preempted, requeued, with the preemptor)" \
	wait_for 5 requeued_events r1 true 2
ev=$(event_json play_preempted r1 | head -1)
diag "$ev"
check "the event says level, end and preemptor" \
	jq -e '.level == "relay" and .end == "preempted" and .preemptor == "p1" and .duration_ms > 0' <<<"$ev"

# the samples: no click where the relay was cut, the priority tone is in there
tail -c +"$(( skip + 1 ))" "$T/n1/paced.raw" >"$T/cut.raw"
steps=$("$LOAXA_BIN/tools/pcmsteps" "$T/cut.raw")
diag "captured: $steps"
check "no click at the cuts: the largest sample step is a small part of the peak (fade)" \
	jq -e '.peak > 3000 and .step_ratio < 0.15' <<<"$steps"

# ------------------------------------------------------------ preempted after its expiry
play r2 "$R" relay 1500
wait_for 5 grep -q "playing $R for broadcast r2" "$nlog" || not_ok "r2 starts"
sleep 1.6
play p3 "$P" priority
check "a relay play preempted after its expiry is not queued again" \
	wait_for 5 grep -q "broadcast r2 .* preempted by p3 after [0-9.]* s; not re-queued" "$nlog"
check "it is in the events as play_preempted, requeued false" \
	wait_for 5 requeued_events r2 false 1
wait_for 10 grep -q "finished $P for broadcast p3" "$nlog" || not_ok "p3 finishes"
sleep 0.5
check "r2 did not play again" [ "$(grep -c "playing $R for broadcast r2" "$nlog")" -eq 1 ]

# ------------------------------------------------------------ equal levels queue
play q1 "$P" normal && play q2 "$P" normal
check "two normal plays both finish" wait_for 10 grep -q "finished $P for broadcast q2" "$nlog"
q1_end=$(grep -n "finished $P for broadcast q1" "$nlog" | head -1 | cut -d: -f1)
q2_start=$(grep -n "playing $P for broadcast q2" "$nlog" | head -1 | cut -d: -f1)
check "equal levels queue: the second starts after the first finished" \
	eval '[ -n "$q1_end" ] && [ -n "$q2_start" ] && [ "$q2_start" -gt "$q1_end" ]'
check "no play of equal level was preempted" [ "$(n_events play_preempted q1)" -eq 0 ]

stop_all_checked
finish
