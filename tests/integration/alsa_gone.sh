#!/bin/bash
# The node's sound card disappears and comes back (issue 17, point 6): the
# paced test card fails with -ENODEV, as ALSA does for a USB card pulled
# out, while $T/n1/unplugged exists.
#   - pulled out in the middle of a 20 s play: the node logs it in words at
#     once, shows the device error in its status, keeps retrying (a glitch
#     of a few seconds loses nothing) and after 30 s reports the play
#     failed with the reason (the item is marked); it stays up;
#   - a broadcast sent while the card is away waits in the node's queue;
#   - plugged back in: the node reopens the card by itself and that
#     broadcast plays, on the card.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
[ -f "$PACED_PLUGIN" ] || { not_ok "the paced ALSA plugin is built ($PACED_PLUGIN)"; exit 1; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
STATUS_INTERVAL=2 PACED=1 write_node_cfg n1 thon-1
start_node n1 || exit 1

sox -n -r 48000 -c 1 -b 16 "$T/long.wav" synth 20 sine 440 vol 0.3 2>/dev/null
sox -n -r 48000 -c 1 -b 16 "$T/short.wav" synth 1 sine 660 vol 0.3 2>/dev/null
"$LOAXA" play "$T/long.wav" --node n1 --json >"$T/p1.json" 2>"$T/p1.err" || { fail "loaxa play"; exit 1; }
B1=$(jq -r .broadcast "$T/p1.json")
plays_of() { "$LOAXA" plays --broadcast "$1" --json 2>/dev/null; }
has_type() { plays_of "$1" | jq -e --arg t "$2" '.plays[] | select(.type == $t and .node == "n1")' >/dev/null; }
check "n1 starts playing the 20 s broadcast" wait_for 30 has_type "$B1" play_started || exit 1
sleep 1
touch "$T/n1/unplugged"
diag "the card is pulled out 1 s into the play"
check "the node reports the play failed (after its 30 s of retries)" wait_for 50 has_type "$B1" play_failed
reason=$(plays_of "$B1" | jq -r '.plays[] | select(.type == "play_failed") | .reason' | head -1)
diag "reason: $reason"
check "the reason names the audio device" bash -c "grep -qiE 'audio device|sound card|device' <<<'$reason'"
check "the node's log says so" grep -qE 'audio device|No such device' "$T/n1/node.log"
device_error() { node_json n1 | jq -e '[.status | .. | strings | select(test("No such device|audio device"; "i"))] | length > 0' >/dev/null; }
check "the node's status shows the device error" wait_for 10 device_error ||
	node_json n1 | jq -c '.status.audio // .status.player // .status' | head -c 400 | sed 's/^/#   /'
check "the node is still running" alive "${PID_OF[n1]}"

"$LOAXA" play "$T/short.wav" --node n1 --json >"$T/p2.json" 2>"$T/p2.err"
B2=$(jq -r '.broadcast // empty' "$T/p2.json")
sleep 2
check "a broadcast sent while the card is away is not played into the void" \
	bash -c "! '$LOAXA' plays --broadcast '$B2' --json | jq -e '.plays[] | select(.type == \"play_finished\")' >/dev/null"

before=$(onsets n1 | wc -l)
rm -f "$T/n1/unplugged"
diag "the card is plugged back in"
check "plugged back in, the node reopens the card by itself and the waiting broadcast plays" \
	wait_for 30 has_type "$B2" play_finished
check "... on the card (a new onset)" [ "$(onsets n1 | wc -l)" -gt "$before" ]
check "the node logs that the card works again" grep -q 'works again' "$T/n1/node.log"

stop_all_checked
finish
