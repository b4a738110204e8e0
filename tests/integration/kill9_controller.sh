#!/bin/bash
# kill -9 of the controller at random moments (issue 17, point 6), KILLS
# times (default 25; `make soak` runs 200): while it imports, signs and
# sends broadcasts, stores the node's events and answers the API. After
# every kill, with the controller down:
#   - its database passes `PRAGMA integrity_check`;
#   - every stored content file is whole (its SHA-256 is its name), and no
#     half-written one is left under a content name;
# then the next start works (the API answers within START_TIMEOUT). At the
# end, with the node's journal drained:
#   - every broadcast the API accepted reached the node at most once (no
#     play duplicated), and every one the node played is in the log once;
#   - the node's plays and the controller's log agree (no play lost: every
#     play_finished the node journaled is at the controller).
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
KILLS=${KILLS:-25}

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
STATUS_INTERVAL=5 write_node_cfg n1 thon-1
start_node n1 || exit 1
DB=$T/controller/state/loaxa.db
CONTENT=$T/controller/state/content

sox -n -r 48000 -c 1 -b 16 "$T/clip.wav" synth 0.3 sine 660 fade 0.02 0.3 0.02 2>/dev/null
: >"$T/accepted"
bad_db=0 bad_content=0 bad_start=0
started=$(now_ms)
for ((round = 1; round <= KILLS; round++)); do
	# work in flight: an import of a new clip, a broadcast, events coming in
	sox "$T/clip.wav" "$T/c$round.wav" pad 0 "0.$round" 2>/dev/null
	"$LOAXA" play "$T/c$round.wav" --node n1 --json >"$T/p$round.json" 2>/dev/null &
	cli=$!
	sleep "0.$(( RANDOM % 60 ))"
	stop controller KILL
	wait "$cli" 2>/dev/null && jq -r '.broadcast // empty' "$T/p$round.json" >>"$T/accepted"
	ic=$(sqlite3 "$DB" 'PRAGMA integrity_check;' 2>&1)
	[ "$ic" = ok ] || { bad_db=$((bad_db + 1)); diag "round $round: integrity_check: $ic"; }
	for f in "$CONTENT"/*.opus; do
		[ -e "$f" ] || continue
		id=$(basename "$f" .opus)
		[ "$(sha256sum <"$f" | cut -c1-64)" = "$id" ] ||
			{ bad_content=$((bad_content + 1)); diag "round $round: $f is not whole"; }
	done
	START_TIMEOUT=30 start_controller >/dev/null || { bad_start=$((bad_start + 1)); break; }
done
diag "$KILLS kills of the controller in $(( ($(now_ms) - started) / 1000 )) s; $(wc -l <"$T/accepted") broadcasts accepted by the API"
check "after every kill the database passes PRAGMA integrity_check ($bad_db bad)" [ "$bad_db" = 0 ]
check "after every kill every content file is whole ($bad_content bad)" [ "$bad_content" = 0 ]
check "after every kill the controller starts again" [ "$bad_start" = 0 ]

journal_empty() { [ -z "$(ls -A "$T/n1/state/events" 2>/dev/null)" ]; }
check "the node's journal drains to the last controller (all acknowledged)" wait_for 60 journal_empty
"$LOAXA" log --node n1 --json --limit 100000 >"$T/log.json" 2>/dev/null
dups=$(jq -r '[.events[] | select(.type == "play_started") | .broadcast] | group_by(.) | map(select(length > 1)) | length' "$T/log.json")
check "no broadcast played twice on the node ($dups duplicated)" [ "$dups" = 0 ]
grep -oE 'finished [0-9a-f]+ for broadcast b-[0-9-]+' "$T/n1/node.log" | awk '{ print $NF }' | sort -u >"$T/node.played"
jq -r '.events[] | select(.type == "play_finished") | .broadcast' "$T/log.json" | sort -u >"$T/ctl.played"
lost=$(comm -23 "$T/node.played" "$T/ctl.played" | wc -l)
check "every play the node finished is in the controller's log ($(wc -l <"$T/node.played") played, $lost missing)" [ "$lost" = 0 ]
notsent=$(comm -23 "$T/ctl.played" <(sort -u "$T/accepted") | wc -l)
diag "$notsent plays of broadcasts whose API answer the kill cut off (sent, then killed before answering)"
check "plays did happen between the kills" [ "$(wc -l <"$T/node.played")" -ge 3 ]

stop_all_checked
finish
