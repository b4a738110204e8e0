#!/bin/bash
# The paced test card (tests/alsa/pcm_loaxapaced.c) that every timing claim
# rests on, checked against known audio before anything is measured with it:
#   - aplay of 0.5 s silence + 1 s tone + 0.3 s silence takes real time
#     (>= 1.75 s), the onset is heard 0.5 s after the stream started and the
#     silence exactly 1 s after the onset, and the capture holds every sample;
#   - a node playing through it: the sound lasts as long as the content, with
#     no underrun, and the node's play_started time agrees with the onset.
#   - as a capture device (the controller's line-in in the relay tests):
#     arecord of 2 s from a looped raw source takes real time, gets the
#     source's samples exactly (looped), and the log places the source's
#     onset and silence where they are in it; the built-in tone generator
#     makes its on/off pattern (onsets every 250 ms) at its frequency.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$PACED_PLUGIN"
command -v aplay >/dev/null || { not_ok "aplay is installed (alsa-utils)"; finish; }

between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# ------------------------------------------------------------ the card itself
A=$T/aplay
mkdir -p "$A/xdg/alsa"
cat >"$A/xdg/alsa/asoundrc" <<EOF
pcm_type.loaxapaced { lib "$PACED_PLUGIN" }
pcm.paced {
	type loaxapaced
	log "$A/onsets.log"
	capture "$A/out.raw"
}
EOF
sox -n -r 48000 -c 1 -b 16 "$A/t.wav" synth 1 sine 440 vol 0.5 pad 0.5 0.3 2>"$A/sox.log" ||
	{ not_ok "sox makes the test tone"; dump_log "$A/sox.log"; finish; }
t0=$(date +%s%N)
XDG_CONFIG_HOME=$A/xdg aplay -q -D paced "$A/t.wav" 2>"$A/aplay.log"
rc=$?
t1=$(date +%s%N)
check "aplay through the paced card exits 0" [ "$rc" -eq 0 ] || dump_log "$A/aplay.log"
wall=$(( (t1 - t0) / 1000000 ))
check "1.8 s of audio take real time through the card (${wall} ms >= 1750)" [ "$wall" -ge 1750 ]
on=$(awk '$1 == "onset" { print $2; exit }' "$A/onsets.log")
off=$(awk '$1 == "silence" { print $2; exit }' "$A/onsets.log")
if [ -n "$on" ] && [ -n "$off" ]; then
	lead=$(( (on - t0) / 1000000 ))
	len=$(( (off - on) / 1000000 ))
	check "the onset is heard 0.5 s into the stream (${lead} ms after aplay started)" \
		between "$lead" 495 1500
	check "the tone lasts 1 s at the speaker (${len} ms)" between "$len" 998 1002
else
	not_ok "the card logs one onset and one silence"
	dump_log "$A/onsets.log"
fi
no_xrun() { ! grep -q '^xrun' "$1"; }
check "no underrun logged for a steady writer" no_xrun "$A/onsets.log"
# aplay pads its last period with silence: the capture starts with every
# sample of the file, exactly.
sox "$A/t.wav" -t raw "$A/t.raw" 2>/dev/null
check "the capture holds every sample written, in order" cmp -s -n 172800 "$A/t.raw" "$A/out.raw"

# ------------------------------------------------------------ the card as a capture device
cat >>"$A/xdg/alsa/asoundrc" <<EOF
pcm.src {
	type loaxapaced
	log "$A/src.log"
	capture "$A/src.raw"
	source "$A/t.raw"
}
pcm.gen {
	type loaxapaced
	log "$A/gen.log"
	tone_hz 1000
	tone_on_ms 100
	tone_off_ms 150
}
EOF
t0=$(date +%s%N)
XDG_CONFIG_HOME=$A/xdg arecord -q -D src -f S16_LE -r 48000 -c 1 -d 2 -t raw "$A/rec.raw" 2>"$A/arecord.log"
rc=$?
t1=$(date +%s%N)
check "arecord from the paced card exits 0" [ "$rc" -eq 0 ] || dump_log "$A/arecord.log"
wall=$(( (t1 - t0) / 1000000 ))
check "2 s of capture take real time (${wall} ms >= 1950)" [ "$wall" -ge 1950 ]
# 1.8 s of source, then its first 0.2 s again
cat "$A/t.raw" "$A/t.raw" | head -c 192000 >"$A/looped.raw"
check "arecord gets the source's samples, looped" cmp -s "$A/looped.raw" "$A/rec.raw"
check "the card's own capture file holds what it captured" cmp -s -n 192000 "$A/looped.raw" "$A/src.raw"
start=$(( t0 / 1000000 ))
on=$(awk '$1 == "onset" { printf "%.0f\n", $2 / 1e6; exit }' "$A/src.log")
off=$(awk '$1 == "silence" { printf "%.0f\n", $2 / 1e6; exit }' "$A/src.log")
if [ -n "$on" ] && [ -n "$off" ]; then
	check "the source's onset is logged 0.5 s into the capture ($(( on - start )) ms after arecord started)" \
		between "$(( on - start ))" 495 1500
	check "... and its silence 1 s after the onset ($(( off - on )) ms)" between "$(( off - on ))" 999 1001
else
	not_ok "the capture card logs the source's onset and silence"
	dump_log "$A/src.log"
fi
XDG_CONFIG_HOME=$A/xdg arecord -q -D gen -f S16_LE -r 48000 -c 1 -d 1 -t raw "$A/gen.raw" 2>"$A/arecord.log"
check "arecord from the card's tone generator exits 0" [ $? -eq 0 ] || dump_log "$A/arecord.log"
every_250() {
	awk '$1 == "onset" { t[++n] = $2 } END {
		if (n < 4) exit 1
		for (i = 2; i <= n; i++) { d = (t[i] - t[i - 1]) / 1e6; if (d < 249.9 || d > 250.1) exit 1 }
	}' "$A/gen.log"
}
check "the generator's tone starts every 250 ms ($(grep -c '^onset' "$A/gen.log") onsets)" every_250
hz=$(sox -t raw -r 48000 -e signed-integer -b 16 -c 1 "$A/gen.raw" -n trim 0.01 0.08 stat 2>&1 | awk '/^Rough/ { print $3 }')
check "... at 1000 Hz (${hz:-?} Hz)" between "${hz:-0}" 990 1010

# ------------------------------------------------------------ a node through it
start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg p1 thon-1
start_node p1 || exit 1
sox -n -r 48000 -c 1 -b 16 "$T/tone.wav" synth 2 sine 500 vol 0.5 2>/dev/null
"$LOAXA" play "$T/tone.wav" --node p1 --wait=60 --json >"$T/play.json" 2>"$T/play.err"
check "loaxa play to the paced node finishes" [ $? -eq 0 ] || dump_logs 20
on=$(awk '$1 == "onset" { print $2; exit }' "$T/p1/onsets.log" 2>/dev/null)
off=$(awk '$1 == "silence" { print $2 }' "$T/p1/onsets.log" 2>/dev/null | tail -1)
if [ -n "$on" ] && [ -n "$off" ]; then
	len=$(( (off - on) / 1000000 ))
	check "the node's 2 s tone lasts 2 s at the paced speaker (${len} ms)" \
		between "$len" 1950 2050
	start=$(jq -r '.plays[0].start // empty' "$T/play.json" 2>/dev/null)
	if [ -n "$start" ] && [ "$start" != null ]; then
		diff=$(( on / 1000000 - start ))
		diag "play_started at $start ms, first sound at the speaker $(( on / 1000000 )) ms (+${diff} ms)"
		check "the node's reported start is within 100 ms of the onset (${diff} ms)" \
			between "$diff" -100 100
	else
		not_ok "loaxa play --json gives the node's start time"
	fi
else
	not_ok "the paced card heard the node's tone"
	dump_log "$T/p1/onsets.log"
	dump_logs 20
fi
check "the node never underran the paced card" no_xrun "$T/p1/onsets.log"
finish
