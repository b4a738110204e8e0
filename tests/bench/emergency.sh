#!/bin/bash
# Emergency latency: from the operator's command to the first sample at each
# node's speaker, for 10 and for 100 nodes on loopback, idle and while every
# node downloads a large content file.
#
# Real parts: one mosquitto, the controller, N loaxa-node processes (release
# build, each with its own config, state and paced test card, see
# tests/alsa/pcm_loaxapaced.c), clips "tone" and "flood" delivered ahead.
# A round: T0 = the instant `loaxa emergency start --clip flood --all` is
# run; each node's latency = its paced card's first onset after T0 minus T0
# (so it includes the CLI, the API, signing, the broker's fan-out, the
# node's checks, opening the PCM and the first period). The emergency is then
# stopped and the nodes left idle for 6 s, so the next round finds their PCM
# closed again (the cold path, as in real life). Prints p50, p99 and max over
# all nodes of BENCH_ROUNDS rounds, and how many nodes did not sound.
# Target (issue 5): p99 <= 150 ms at 100 nodes.
#
#   LOAXA_BIN      binaries (default build/)
#   BENCH_ROUNDS   rounds per configuration (default 3)
#   BENCH_NODES    node counts (default "10 100")
#   BENCH_DOWNLOAD_MIN  minutes of audio in the large file (default 10)
set -u
source "$(dirname "$0")/../lib.sh"
ROUNDS=${BENCH_ROUNDS:-3}
COUNTS=${BENCH_NODES:-10 100}
DL_MIN=${BENCH_DOWNLOAD_MIN:-10}
for f in "$LOAXA" "$CONTROLLER" "$NODE" "$PACED_PLUGIN"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "   emergency bench: $f is not built (make all unit)"; exit 1; }
done
LIB_QUIET=1
exec 3>&1 # results go to the original stdout

say() { echo "   $*" >&3; }

# pct SORTED_FILE P : the P-th percentile (nearest rank) of a sorted list.
pct() {
	local n k
	n=$(wc -l <"$1")
	[ "$n" -gt 0 ] || { echo "-"; return; }
	k=$(( (n * $2 + 99) / 100 ))
	[ "$k" -lt 1 ] && k=1
	sed -n "${k}p" "$1"
}

ms() { awk -v n="$1" 'BEGIN { printf "%.1f", n / 1000000 }'; }

start_broker >/dev/null || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1

MAXN=0
for c in $COUNTS; do [ "$c" -gt "$MAXN" ] && MAXN=$c; done

# nodes in_set N : how many of the first N nodes are online with every clip ready.
ready_count() {
	"$LOAXA" nodes --json 2>/dev/null | jq --arg s "$SET" '[.nodes[] | select(.online and
		.status.emergency.clips_set == $s and ([.status.emergency.clips[]] | all))] | length'
}

# The clips first (tone + flood), then the nodes: they get them at connect.
LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone flood >"$T/clips.log" 2>&1 ||
	{ say "emergency bench: cannot make the clips"; sed 's/^/   | /' "$T/clips.log" >&3; exit 1; }
SET=$("$LOAXA" emergency clips --json | jq -r .set)

started=0
all_ready() { [ "$(ready_count)" -ge "$1" ]; }
none_fetching() { [ "$("$LOAXA" nodes --json | jq '[.nodes[] | select(.status.fetching != null)] | length')" = 0 ]; }
grow_to() { # grow_to N : nodes b1..bN running
	local i
	for ((i = started + 1; i <= $1; i++)); do
		PACED=1 write_node_cfg "b$i" "thon-$(( i % 10 ))"
		STATUS_INTERVAL=30 NO_WAIT_ONLINE=1 start_node "b$i"
	done
	started=$1
	if ! wait_for 180 all_ready "$1"; then
		say "emergency bench: only $(ready_count) of $1 nodes came online with the clips"
		return 1
	fi
}

# round N LABEL : one activation; appends latencies (ns) to $T/lat-LABEL
round() {
	local n=$1 label=$2 t0 i first missed=0 out=$T/round.json
	t0=$(date +%s%N)
	"$LOAXA" emergency start --clip flood --all --max 60s --timeout 30 --json >"$out" 2>"$T/round.err"
	sleep 0.5
	for ((i = 1; i <= n; i++)); do
		first=$(awk -v t="$t0" '$1 == "onset" && $2 >= t { print $2; exit }' "$T/b$i/onsets.log" 2>/dev/null)
		if [ -n "$first" ]; then
			echo $(( first - t0 )) >>"$T/lat-$label"
			created=$(jq -r .created "$out")
			echo $(( first - created * 1000000 )) >>"$T/api-$label"
		else
			missed=$((missed + 1))
		fi
	done
	echo "$missed" >>"$T/missed-$label"
	[ "$missed" = 0 ] || say "($label: $missed node(s) did not sound in one round: $(head -c 300 "$T/round.err" | tr '\n' ' ') $(jq -c '.not_confirmed' "$out" 2>/dev/null))"
	"$LOAXA" emergency stop >/dev/null 2>&1
	sleep 6
}

report() { # report LABEL N
	local label=$1 n=$2 missed
	sort -n "$T/lat-$label" -o "$T/lat-$label.s" 2>/dev/null || : >"$T/lat-$label.s"
	sort -n "$T/api-$label" -o "$T/api-$label.s" 2>/dev/null || : >"$T/api-$label.s"
	missed=$(awk '{ s += $1 } END { print s + 0 }' "$T/missed-$label" 2>/dev/null)
	say "$(printf '%-28s p50 %7s ms  p99 %7s ms  max %7s ms  (%d samples, %s silent)' \
		"$n nodes, $3:" "$(ms "$(pct "$T/lat-$label.s" 50)")" \
		"$(ms "$(pct "$T/lat-$label.s" 99)")" "$(ms "$(pct "$T/lat-$label.s" 100)")" \
		"$(wc -l <"$T/lat-$label.s")" "$missed")"
	say "$(printf '%-28s p50 %7s ms  p99 %7s ms' "  (from the API's receipt)" \
		"$(ms "$(pct "$T/api-$label.s" 50)")" "$(ms "$(pct "$T/api-$label.s" 99)")")"
}

# The large files every node downloads during the second series: one per
# round (a round's download must be under way when its command goes out, so
# each round starts a new one), each a play due in 6 hours, which the nodes
# fetch at once on their bulk connection.
speech "$T/part.wav" "Chương trình phát thanh của xã. Bản tin nông nghiệp, hướng dẫn bà con chăm sóc lúa vụ đông xuân, phòng trừ sâu bệnh và sử dụng phân bón hợp lý." || exit 1
sox "$T/part.wav" "$T/big.wav" repeat $(( DL_MIN * 6 )) 2>/dev/null
BIG=()
for ((r = 0; r < ROUNDS; r++)); do
	sox "$T/big.wav" "$T/big$r.wav" pad 0 "0.$((r + 1))" 2>/dev/null # another file, another hash
	BIG[r]=$("$LOAXA" import "$T/big$r.wav" --json 2>/dev/null | jq -r .id)
	[ -n "${BIG[r]}" ] && [ "${BIG[r]}" != null ] || { say "emergency bench: cannot import the large file"; exit 1; }
	rm -f "$T/big$r.wav"
done
BIGBYTES=$(stat -c %s "$(content_path "${BIG[0]}")")
fetching() { "$LOAXA" nodes --json | jq '[.nodes[] | select(.status.fetching != null)] | length'; }
fetching_at_least() { [ "$(fetching)" -ge "$1" ]; }

say "command -> first sample at each node's paced speaker ($ROUNDS rounds each; target p99 <= 150 ms at 100 nodes)"
for n in $COUNTS; do
	grow_to "$n" || exit 1
	sleep 6 # every PCM closed
	for ((r = 0; r < ROUNDS; r++)); do round "$n" "idle$n"; done
	report "idle$n" "$n" idle

	for ((r = 0; r < ROUNDS; r++)); do
		at=$(( $(now_ms) + 6 * 3600 * 1000 ))
		curl -s --unix-socket "$LOAXA_SOCKET" -X POST -H "Content-Type: application/json" \
			-H "Authorization: Bearer $(head -1 "$LOAXA_TOKEN_FILE")" \
			-d "{\"content\":\"${BIG[r]}\",\"all\":true,\"at\":$at}" \
			http://l/v1/broadcasts >"$T/bcast.json"
		# the command goes out once most nodes are busy fetching
		wait_for 20 fetching_at_least $(( n * 3 / 4 ))
		fetching >>"$T/fetching-$n"
		# what the CLI alone costs now: starting it, and one GET through the API
		t=$(date +%s%N); "$LOAXA" help >/dev/null; echo $(( $(date +%s%N) - t )) >>"$T/clistart-$n"
		t=$(date +%s%N); "$LOAXA" emergency clips --json >/dev/null; echo $(( $(date +%s%N) - t )) >>"$T/cliget-$n"
		round "$n" "dl$n"
		wait_for 300 none_fetching
	done
	report "dl$n" "$n" "downloading"
	sort -n "$T/clistart-$n" -o "$T/clistart-$n"
	sort -n "$T/cliget-$n" -o "$T/cliget-$n"
	say "$(printf '%-28s' '')  (meanwhile \`loaxa help\` took a median of $(ms "$(pct "$T/clistart-$n" 50)") ms, a GET through the API $(ms "$(pct "$T/cliget-$n" 50)") ms)"
	say "$(printf '%-28s' '')  (each node fetching $(awk -v b="$BIGBYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MB; nodes fetching at each command: $(tr '\n' ' ' <"$T/fetching-$n"))"
done
exit 0
