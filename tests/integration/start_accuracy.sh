#!/bin/bash
# Scheduled start accuracy through the paced test card: a plan of N short
# tones (START_N, default 5) at air times ~1.2 s apart; for each, the paced
# card logs the realtime at which its first sounding frame reached the
# "speaker" (onset). The error is onset - at (the controller and the node
# share this machine's clock; the node still goes through its clock
# estimate). Bound: START_BOUND_MS (default 50 ms, generous: it must hold on
# a loaded 2-core machine under ASan; the figure itself is measured by
# tests/bench/start.sh with the release build).
# START_REPORT=1 prints "# start errors (ms): e1 e2 ..." for the bench.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD" "$PACED_PLUGIN"
N=${START_N:-5}
BOUND=${START_BOUND_MS:-50}
GAP=${START_GAP_MS:-1200}

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
start_node n1 || exit 1
sox -n -r 48000 -c 1 -b 16 "$T/t.wav" synth 0.3 sine 500 vol 0.5 2>/dev/null
TONE=$("$LOAXA" import "$T/t.wav" --title tone --json 2>"$T/import.err" | jq -r '.id // empty')
[ -n "$TONE" ] || { fail "loaxa import of the test tone"; exit 1; }
BYTES=$(stat -c %s "$(content_path "$TONE")")
measured() { node_json n1 | jq -e '.status.clock.source == "measured"' >/dev/null; }
wait_for 20 measured || not_ok "the node measured its clock offset before the test"

T0=$(( $(now_ms) + 3000 ))
items=""
for ((i = 0; i < N; i++)); do
	items+="${items:+,}{\"id\":\"s-$i\",\"at\":$(( T0 + i * GAP )),\"content\":\"$TONE\",\"bytes\":$BYTES}"
done
printf '{"node":"n1","generated":%s,"horizon":%s,"items":[%s]}' "$(now_ms)" \
	"$(( T0 + N * GAP + 600000 ))" "$items" |
	"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type plan \
		--seq $(( $(date +%s%N) / 1000 + 10000000000000 )) --expires-in 3600000 >"$T/plan.env"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -r -t "loaxa/$SITE/node/n1/plan" -f "$T/plan.env"
last=s-$((N - 1))
wait_for $(( 10 + N * GAP / 1000 * 2 )) grep -q "finished $TONE for occurrence $last" "$T/n1/node.log" ||
	{ fail "all $N scheduled tones play"; exit 1; }

# onsets (ns) in order; one per tone
mapfile -t ons < <(awk '$1 == "onset" { print $2 }' "$T/n1/onsets.log")
check "the paced card heard $N onsets (${#ons[@]})" [ "${#ons[@]}" -eq "$N" ]
errs=() worst=0
for ((i = 0; i < N && i < ${#ons[@]}; i++)); do
	at_ns=$(( (T0 + i * GAP) * 1000000 ))
	e=$(( ons[i] - at_ns ))           # ns
	errs+=("$(awk -v e="$e" 'BEGIN { printf "%.3f", e / 1e6 }')")
	a=${e#-}
	[ "$a" -gt "$worst" ] && worst=$a
done
diag "start errors (ms): ${errs[*]}"
check "every first sample reaches the speaker within $BOUND ms of its time (worst $(awk -v w="$worst" 'BEGIN { printf "%.3f", w / 1e6 }') ms)" \
	[ "$worst" -le $(( BOUND * 1000000 )) ]
no_xrun() { ! grep -q '^xrun' "$T/n1/onsets.log"; }
check "no underrun at the paced card" no_xrun
stop_all_checked
finish
