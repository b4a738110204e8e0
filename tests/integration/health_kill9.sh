#!/bin/bash
# Acceptance (b): kill -9 of a node at random moments during plays, KILLS
# times (default 50; `make soak` runs more): no journal entry is lost or
# duplicated at the controller.
#
# Each round starts the node, waits until it is online, broadcasts a short
# clip to it and kills it with SIGKILL at a random moment 0-700 ms later
# (while it fetches, starts, plays or journals). The node logs every event
# once it is on disk ("event <id> journaled"); at the end the node runs
# undisturbed until its journal is empty, and:
#   - every id the node journaled is in the controller's log (nothing lost);
#   - the controller holds no id the node did not make, except at most the
#     last of a boot (journaled, then killed before the log line);
#   - within each boot the ids are contiguous from 1 (no hole);
#   - the controller's raw event count equals its distinct id count and each
#     boot has exactly one node_started.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
KILLS=${KILLS:-50}

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
STATUS_INTERVAL=5 write_node_cfg n1 thon-1
start_node n1 || exit 1

sox -n -r 48000 -c 1 -b 16 "$T/clip.wav" synth 0.3 sine 660 fade 0.02 0.3 0.02 2>/dev/null ||
	{ not_ok "sox makes a test clip"; exit 1; }
CONTENT=$("$LOAXA" import "$T/clip.wav" --title "Thử" 2>"$T/import.err" | grep -oE '[0-9a-f]{64}' | head -n1)
[ -n "$CONTENT" ] || { not_ok "loaxa import of the clip"; sed 's/^/#   /' "$T/import.err"; exit 1; }

started=$(now_ms)
plays=0
for ((round = 1; round <= KILLS; round++)); do
	if [ -z "${PID_OF[n1]:-}" ]; then
		START_TIMEOUT=20 start_node n1 || exit 1
	fi
	"$LOAXA" play "$CONTENT" --node n1 >/dev/null 2>&1 && plays=$((plays + 1))
	sleep "0.$(( RANDOM % 70 ))"
	stop n1 KILL
done
diag "$KILLS kills in $(( ($(now_ms) - started) / 1000 )) s, $plays broadcasts sent"
ok "$KILLS rounds of start, play, kill -9 at a random moment"

start_node n1 || exit 1
journal_empty() { [ -z "$(ls -A "$T/n1/state/events" 2>/dev/null)" ]; }
check "after the last restart the node's journal drains (all acknowledged)" wait_for 60 journal_empty

grep -oE 'event n1-[0-9]+-[0-9]+ journaled' "$T/n1/node.log" | awk '{print $2}' | sort -u >"$T/node.ids"
"$LOAXA" log --node n1 --json --limit 100000 >"$T/log.json" 2>"$T/log.err"
jq -r '.events[].id' "$T/log.json" | sort >"$T/ctl.all"
sort -u "$T/ctl.all" >"$T/ctl.ids"
diag "node journaled $(wc -l <"$T/node.ids") events, controller holds $(wc -l <"$T/ctl.ids")"

lost=$(comm -23 "$T/node.ids" "$T/ctl.ids")
if [ -z "$lost" ]; then
	ok "no journaled event is missing at the controller ($(wc -l <"$T/node.ids") events)"
else
	not_ok "no journaled event is missing at the controller"
	echo "$lost" | head -20 | sed 's/^/#   lost: /'
fi
check "the controller's log lists every id once ($(wc -l <"$T/ctl.all") rows)" \
	[ "$(wc -l <"$T/ctl.all")" = "$(wc -l <"$T/ctl.ids")" ]

# ids at the controller the log never named: only the last one of a boot
extra_bad=0
while read -r id; do
	boot=${id#n1-}; boot=${boot%-*}; n=${id##*-}
	last=$(grep -E "^n1-$boot-[0-9]+\$" "$T/ctl.ids" | sed 's/.*-//' | sort -n | tail -n1)
	if [ "$n" != "$last" ]; then
		extra_bad=1
		diag "controller has $id, which the node never logged and is not the last of boot $boot"
	fi
done < <(comm -13 "$T/node.ids" "$T/ctl.ids")
check "the controller has no event the node did not journal" [ "$extra_bad" = 0 ]

holes=0
for boot in $(sed -E 's/^n1-([0-9]+)-.*/\1/' "$T/ctl.ids" | sort -un); do
	max=$(grep -E "^n1-$boot-" "$T/ctl.ids" | sed 's/.*-//' | sort -n | tail -n1)
	count=$(grep -cE "^n1-$boot-" "$T/ctl.ids")
	if [ "$count" != "$max" ]; then
		holes=1
		diag "boot $boot: $count ids up to $max"
	fi
done
check "within every boot the event ids are contiguous from 1 (no hole)" [ "$holes" = 0 ]
boots=$(sed -E 's/^n1-([0-9]+)-.*/\1/' "$T/ctl.ids" | sort -un | wc -l)
starts=$(jq '[.events[] | select(.type == "node_started")] | length' "$T/log.json")
check "one node_started per boot ($boots boots, $starts node_started)" [ "$boots" = "$starts" ]
plays_seen=$(jq '[.events[] | select(.type == "play_started")] | length' "$T/log.json")
diag "$plays_seen plays started and were reported"
check "plays did happen between the kills" [ "$plays_seen" -ge 5 ]

stop_all_checked
finish
