#!/bin/bash
# The first words are not lost (issue 16, point 6): what starts at once
# waits for the amplifier's warm-up. Node n1 on the paced test card, with
# amplifier.on_command / off_command writing the instant they ran to
# $T/n1/amp.log and warmup_s = 2. The amplifier is off (idle) before each of:
#   - an immediate play (`loaxa play` without a time);
#   - a live session (`loaxa live --file`, latency 500 ms: shorter than the
#     warm-up);
#   - an emergency (its alert tone);
# and each time the speaker's first sample comes at least 2 s after the
# amplifier command ran (and not much later), the whole sound is heard
# (nothing cut), and the CLI said the amplifier delays it.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
LEAD_MS=2000
SLACK_MS=${SLACK_MS:-1000} # a loaded 2-core machine under ASan

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
cat >>"$T/n1/node.cfg" <<EOF
amplifier = { on_command = "echo on \$(date +%s%N) >>$T/n1/amp.log";
              off_command = "echo off \$(date +%s%N) >>$T/n1/amp.log"; warmup_s = 2; };
EOF
start_node n1 || exit 1

# a 1 s tone: its onset and its length are easy to find on the speaker
sox -n -r 48000 -c 1 -b 16 "$T/tone.wav" synth 1 sine 600 vol 0.5 2>/dev/null ||
	{ not_ok "sox makes a test tone"; exit 1; }

amp_off() { [ "$(tail -n1 "$T/n1/amp.log" 2>/dev/null | cut -d' ' -f1)" = off ]; }
# the last "on" of the amplifier after T (ms), in ms
amp_on_after() { awk -v t="$1" '$1 == "on" && $2 / 1e6 >= t { v = $2 } END { if (v) printf "%.0f\n", v / 1e6 }' "$T/n1/amp.log"; }
# the first onset on the speaker after T (ms) and the silence that ends it
first_sound() { awk -v t="$1" '$1 == "onset" && $2 / 1e6 >= t && !s { s = $2; next }
	s && $1 == "silence" && !e { e = $2 } END { if (s) printf "%.0f %.0f\n", s / 1e6, e ? (e - s) / 1e6 : -1 }' "$T/n1/onsets.log"; }

# check_lead WHAT T0 MIN_LEN : the sound after T0 came >= LEAD_MS after the amplifier went on
check_lead() {
	local what=$1 t0=$2 minlen=$3 on snd onset len
	on=$(amp_on_after "$t0")
	snd=$(first_sound "$t0")
	onset=${snd% *}
	len=${snd#* }
	if [ -z "$on" ] || [ -z "$snd" ]; then
		not_ok "$what: the amplifier went on ($on) and the speaker heard it ($snd)"
		dump_log "$T/n1/node.log" 30
		return
	fi
	diag "$what: amplifier on at $on, first sample at $onset: $((onset - on)) ms later; sound $len ms"
	check "$what: the first sample comes $((onset - on)) ms after the amplifier command (>= $LEAD_MS)" \
		[ $((onset - on)) -ge "$LEAD_MS" ]
	check "$what: ... and not much later (< $((LEAD_MS + SLACK_MS)) ms)" \
		[ $((onset - on)) -lt $((LEAD_MS + SLACK_MS)) ]
	check "$what: nothing of it is lost: the speaker heard $len ms (>= $minlen)" [ "$len" -ge "$minlen" ]
}

wait_amp_off() {
	check "the amplifier is off again (the player idle 5 s)" wait_for 30 amp_off
}

# ---------------------------------------------------------------- an immediate play
T0=$(now_ms)
"$LOAXA" play "$T/tone.wav" --node n1 --wait=30 >"$T/play.txt" 2>"$T/play.err"
check "loaxa play finishes on n1" grep -q "1 of 1 node finished" "$T/play.txt" ||
	sed 's/^/#   /' "$T/play.txt" "$T/play.err"
check "loaxa play says the amplifier delays it" \
	grep -q "n1: its amplifier warms up first: the broadcast starts there about 2 s later" "$T/play.err" ||
	sed 's/^/#   /' "$T/play.err"
check "n1 logs the wait" grep -q "waits [0-9.]* s for the amplifier's warm-up" "$T/n1/node.log"
check_lead "immediate play" "$T0" 950

# ---------------------------------------------------------------- a live session
wait_amp_off
T0=$(now_ms)
"$LOAXA" live --node n1 --file "$T/tone.wav" --latency 500 >"$T/live.txt" 2>"$T/live.err"
check "loaxa live --file ends" [ $? = 0 ] || sed 's/^/#   /' "$T/live.txt" "$T/live.err"
check "loaxa live says the amplifier delays it" grep -q "n1: its amplifier warms up first" "$T/live.err" ||
	sed 's/^/#   /' "$T/live.err"
check "n1 logs that the session plays behind the stream" \
	wait_for 10 grep -q "live session l-[0-9a-f]* waits [0-9.]* s for the amplifier's warm-up" "$T/n1/node.log"
sleep 3
check_lead "live session (latency 500 ms)" "$T0" 950

# ---------------------------------------------------------------- an emergency
wait_amp_off
if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone flood >"$T/clips.log" 2>&1; then
	ok "scripts/emergency-clips.sh makes tone and flood"
else
	fail "scripts/emergency-clips.sh makes the clips"
	sed 's/^/#   /' "$T/clips.log"
	exit 1
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
clips_ready() { node_json n1 | jq -e --arg s "$SET" '.status.emergency.clips_set == $s and ([.status.emergency.clips[]] | all)' >/dev/null; }
check "n1 holds the clips" wait_for 60 clips_ready
wait_amp_off
T0=$(now_ms)
"$LOAXA" emergency start --clip flood --node n1 --max 60s --timeout 10 >"$T/e.txt" 2>"$T/e.err"
check "loaxa emergency start: n1 confirmed (the wait grows by the warm-up)" [ $? = 0 ] ||
	sed 's/^/#   /' "$T/e.txt" "$T/e.err"
check "loaxa emergency start says the amplifier delays the tone" \
	grep -q "n1: its amplifier warms up first: the alert tone starts there" "$T/e.err"
check "n1 logs it" grep -q "the amplifier warms up: the alert tone starts in" "$T/n1/node.log"
sleep 3.5
check_lead "emergency alert tone" "$T0" 2900
"$LOAXA" emergency stop --timeout 5 >/dev/null 2>&1

stop_all_checked
finish
