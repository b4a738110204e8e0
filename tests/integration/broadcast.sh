#!/bin/bash
# A broadcast end to end with real parts: mosquitto on a loopback port, the
# controller, three nodes (n1, n2 in thon-1; n3 in thon-2) whose ALSA output
# goes through the `file` plugin. A Vietnamese announcement made by espeak-ng
# is played to thon-1, then to all:
#   - exactly the zone's nodes play it, the others stay silent;
#   - each capture equals the stored Ogg Opus decoded by opusfile, sample for
#     sample outside the 10 ms fades (tests/tools/pcmcompare);
#   - the controller's play log says finished for exactly those nodes;
#   - `loaxa nodes` and `loaxa content list` show what happened.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$PCMCOMPARE"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-1
write_node_cfg n3 thon-2
for n in n1 n2 n3; do start_node "$n" || exit 1; done

online=$("$LOAXA" nodes --json 2>/dev/null | jq '[.nodes[] | select(.online == true)] | length')
if [ "${online:-0}" = 3 ]; then
	ok "loaxa nodes --json shows three nodes online"
else
	fail "loaxa nodes --json shows three nodes online (got ${online:-no answer})"
fi
"$LOAXA" nodes >"$T/nodes.txt" 2>&1
if [ "$(grep -cE '\b(n1|n2|n3)\b' "$T/nodes.txt")" -ge 3 ]; then
	ok "loaxa nodes (table) lists n1, n2, n3"
else
	not_ok "loaxa nodes (table) lists n1, n2, n3"
	sed 's/^/#   /' "$T/nodes.txt"
fi
for n in n1 n2 n3; do
	zones=$(node_json "$n" | jq -r '.zones | join(",")')
	want=thon-1
	[ "$n" = n3 ] && want=thon-2
	check "loaxa nodes shows $n in zone $want" [ "$zones" = "$want" ] || diag "zones of $n: '$zones'"
done

speech "$T/thong-bao.wav" \
	"Thông báo: chiều nay, lúc ba giờ, xã tổ chức tiêm phòng cho trẻ em tại trạm y tế. Đề nghị bà con đưa các cháu đến đúng giờ." ||
	exit 1

# play_broadcast LABEL ARGS... : loaxa play --wait --json; sets BCAST, CONTENT.
play_broadcast() {
	local label=$1 rc
	shift
	"$LOAXA" play "$@" --wait=90 --json >"$T/$label.json" 2>"$T/$label.err"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "loaxa play $* --wait exits 0"
	else
		not_ok "loaxa play $* --wait exits 0 (status $rc)"
		sed 's/^/#   /' "$T/$label.json" "$T/$label.err"
		dump_logs 25
	fi
	BCAST=$(jq -r '.broadcast // empty' "$T/$label.json" 2>/dev/null)
	CONTENT=$(jq -r '.content // empty' "$T/$label.json" 2>/dev/null)
	if [ -z "$BCAST" ] || [ -z "$CONTENT" ]; then
		not_ok "loaxa play --json names the broadcast and its content"
		sed 's/^/#   /' "$T/$label.json"
		return 1
	fi
	diag "broadcast $BCAST, content $CONTENT"
}

# finished_nodes B : nodes whose play of broadcast B finished, per the
# controller's play log, sorted and space-separated.
finished_nodes() {
	"$LOAXA" plays --broadcast "$1" --json 2>/dev/null |
		jq -r '[.plays[] | select(.type == "play_finished" or .result == "finished") | .node]
			| unique | join(" ")'
}

# expect_played LABEL NODES... : each node's capture since the mark matches.
expect_played() {
	local label=$1 n out
	shift
	for n in "$@"; do
		capture_since "$n" "$T/$n-$label.raw"
		out=$("$PCMCOMPARE" "$(content_path "$CONTENT")" "$T/$n-$label.raw" 2>&1)
		if [ $? -eq 0 ]; then
			ok "$label: $n played the announcement sample for sample (outside fades)"
		else
			not_ok "$label: $n played the announcement sample for sample (outside fades)"
			diag "$out"
			dump_log "${LOG_OF[$n]}" 20
		fi
		diag "$n: $out"
	done
}

expect_silent() {
	local label=$1 n bytes
	shift
	for n in "$@"; do
		capture_since "$n" "$T/$n-$label.raw"
		bytes=$(nonzero_bytes "$T/$n-$label.raw")
		check "$label: $n (outside the zone) played nothing" [ "$bytes" -eq 0 ] ||
			diag "$n capture has $bytes non-zero bytes"
	done
}

# --- 1. to zone thon-1
for n in n1 n2 n3; do capture_mark "$n"; done
if play_broadcast zone --zone thon-1 "$T/thong-bao.wav"; then
	check "stored content $CONTENT.opus is in the controller's state_dir" \
		[ -s "$(content_path "$CONTENT")" ]
	got=$(finished_nodes "$BCAST")
	check "play log of $BCAST: finished on exactly n1 n2" [ "$got" = "n1 n2" ] ||
		diag "finished: '$got'"
	others=$("$LOAXA" plays --broadcast "$BCAST" --json 2>/dev/null | jq -r '[.plays[].node] | unique | join(" ")')
	check "play log of $BCAST mentions no node outside thon-1" [ "$others" = "n1 n2" ] ||
		diag "nodes in the play log: '$others'"
	expect_played zone n1 n2
	expect_silent zone n3
	listed=$("$LOAXA" content list --json 2>/dev/null | jq -r --arg c "$CONTENT" \
		'.content[] | select(.id == $c) | "\(.duration_ms) \(.output_lufs)"')
	check "loaxa content list --json shows the content" [ -n "$listed" ] ||
		"$LOAXA" content list --json 2>&1 | sed 's/^/#   /'
	diag "content: duration_ms, output_lufs = $listed"
	"$LOAXA" content list >"$T/content.txt" 2>&1
	check "loaxa content list (table) shows the content id" \
		grep -q "${CONTENT:0:12}" "$T/content.txt" || sed 's/^/#   /' "$T/content.txt"
	zone_content=$CONTENT
fi

# --- 2. to all, by content id this time
for n in n1 n2 n3; do capture_mark "$n"; done
if play_broadcast all --all "${zone_content:-$T/thong-bao.wav}"; then
	got=$(finished_nodes "$BCAST")
	check "play log of $BCAST: finished on n1 n2 n3" [ "$got" = "n1 n2 n3" ] ||
		diag "finished: '$got'"
	expect_played all n1 n2 n3
fi

# The status each node reports: idle again, nothing rejected.
for n in n1 n2 n3; do
	playing=$(node_json "$n" | jq -c '.playing')
	check "loaxa nodes: $n is idle after the broadcasts" [ "$playing" = null ] ||
		diag "$n playing: $playing"
done

stop_all_checked
finish
