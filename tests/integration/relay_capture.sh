#!/bin/bash
# Relays and live sessions from the controller's capture device (docs/live.md;
# issue 5: "relay of a capture device, preempted by a scheduled priority item
# and resuming after it"). Real parts: mosquitto, the controller capturing
# from the paced test card (tests/alsa/pcm_loaxapaced.c as a capture device:
# real time, a period every period time), node n1 on the paced playback card.
#   - "vov" (the receiver's line-out): a looped raw program, 0.6 s of 500 Hz
#     then 0.7 s of silence; "mic" (the operator): the card's own 700 Hz tone,
#     0.3 s on, 0.4 s off;
#   The controller names them in controller.cfg (capture = { vov = ...;
#   mic = ...; }): the schedule and the CLI give only those names;
#   a. a schedule relay of alsa:vov starts at its time; n1's speaker
#      plays the program: 500 Hz, 0.6 s sounds, at the level captured, each
#      sound 1000 ms (the relay latency) after it entered the line-in;
#   b. a scheduled priority item (2 s of 1200 Hz) preempts the relay at its
#      time, plays to its end, and the relay plays again after it;
#   c. `loaxa live --device mic --node n1` takes over from the relay:
#      n1 plays the microphone (700 Hz, 0.3 s sounds, 1000 ms after capture);
#      `loaxa live stop ID` ends it and the relay comes back; `loaxa live stop`
#      ends the relay and n1 falls silent;
#   d. the controller stalls for 0.5 s and overruns its capture device: the
#      relay goes on, each sound still 1000 ms after capture (the frames lost
#      are skipped, not the grid shifted);
#   until that stall no capture overrun, and the controller exits cleanly.
source "$(dirname "$0")/../lib.sh"
PCMSTEPS=$LOAXA_BIN/tools/pcmsteps
need "$LOAXA" "$CONTROLLER" "$NODE" "$PACED_PLUGIN" "$PCMSTEPS"

between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg 'capture = { vov = "paced_src_vov"; mic = "paced_src_mic"; };'
sox -n -r 48000 -c 1 -b 16 -e signed-integer -t raw "$T/vov.raw" synth 0.6 sine 500 vol 0.25 \
	pad 0 0.7 2>"$T/sox.log" || { not_ok "sox makes the program"; dump_log "$T/sox.log"; finish; }
paced_capture_asoundrc vov source "$T/vov.raw"
paced_capture_asoundrc mic tone_hz 700 tone_level 8000 tone_on_ms 300 tone_off_ms 400
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
start_node n1 || exit 1

# ---------------------------------------------------------------- what n1 heard
# raw_mark : how much n1's paced speaker has played so far (bytes of paced.raw).
raw_mark() { stat -c %s "$T/n1/paced.raw" 2>/dev/null || echo 0; }
# listen LABEL SECONDS : what n1 plays during the next SECONDS, in $T/LABEL.raw
# (the card writes each frame as it reaches the speaker, in real time).
listen() {
	local m
	m=$(raw_mark)
	sleep "$2"
	tail -c +"$(( m + 1 ))" "$T/n1/paced.raw" | head -c "$(( $2 * 96000 ))" >"$T/$1.raw"
}
# analyse LABEL : figures of $T/LABEL.raw: PEAK; RUNS, the length (ms) of each
# sound that starts and ends inside it; HZ, the frequency in the middle half of
# its longest sound (sox: zero crossings).
analyse() {
	local j first last
	j=$("$PCMSTEPS" "$T/$1.raw")
	echo "$j" >"$T/$1.json"
	PEAK=$(jq -r '.peak' <<<"$j")
	RUNS=$(jq -r '.samples as $n | [.sounds[] | select(.[0] > 0 and .[1] < $n - 1) |
		((.[1] - .[0] + 1) / 48 | floor)] | map(tostring) | join(" ")' <<<"$j")
	read -r first last < <(jq -r '.sounds | max_by(.[1] - .[0]) // [0, 0] | "\(.[0]) \(.[1])"' <<<"$j")
	HZ=0
	if [ "$(( last - first ))" -gt 4800 ]; then
		HZ=$(sox -t raw -r 48000 -e signed-integer -b 16 -c 1 "$T/$1.raw" -n \
			trim "$(( first + (last - first) / 4 ))s" "$(( (last - first) / 2 ))s" stat 2>&1 |
			awk '/^Rough/ { print $3 }')
	fi
	diag "$1: peak ${PEAK:-?}, sounds of ${RUNS:-none} ms, ${HZ:-?} Hz"
}
# runs_near MS : at least one whole sound, and every whole sound MS +- 40 ms
runs_near() {
	[ -n "$RUNS" ] && awk -v want="$1" '{ for (i = 1; i <= NF; i++)
		if ($i < want - 40 || $i > want + 40) exit 1 }' <<<"$RUNS"
}
# no_xrun_between FROM TO : n1's card did not underrun between FROM and TO (ms)
no_xrun_between() {
	! awk -v a="$1" -v b="$2" '$1 == "xrun" && $2 / 1e6 >= a && $2 / 1e6 <= b { f = 1 }
		END { exit !f }' "$T/n1/onsets.log"
}
hz_near() { [ "${HZ:-0}" -ge $(($1 - $1 / 20)) ] && [ "${HZ:-0}" -le $(($1 + $1 / 20)) ]; }

# lag SOURCE FROM TO : for every onset n1 heard between FROM and TO (ms), how
# long after the onset of the capture device SOURCE nearest to 1000 ms before
# it (ms, one per line). The sources repeat every 1.3 s and 0.7 s: a delay
# of 0 or 2000 ms would not pass for 1000.
lag() {
	awk -v from="$2" -v to="$3" '
		NR == FNR { if ($1 == "onset") src[++n] = $2 / 1e6; next }
		$1 == "onset" && $2 / 1e6 >= from && $2 / 1e6 <= to {
			t = $2 / 1e6; best = -1
			for (i = 1; i <= n; i++) {
				d = t - 1000 - src[i]; if (d < 0) d = -d
				if (best < 0 || d < best) { best = d; lag = t - src[i] }
			}
			if (best >= 0) printf "%.0f\n", lag
		}' "$T/controller/src_$1.onsets.log" "$T/n1/onsets.log"
}
# lags_ok SOURCE FROM TO : n1 heard at least 2 onsets then, each 1000 +- 50 ms
# after the capture device did
lags_ok() {
	local l
	l=$(lag "$@")
	diag "onsets at n1 after $1's: $(echo $l) ms"
	[ "$(wc -w <<<"$l")" -ge 2 ] && awk '$1 < 950 || $1 > 1050 { exit 1 }' <<<"$l"
}

# ---------------------------------------------------------------- a. the relay of the schedule
TZ_SITE=Asia/Ho_Chi_Minh
# The items' times are HH:MM:SS, daily: an item 10 s from now is 10 s from
# now across midnight too (the time-of-day matrix runs this test at 23:59:50).
AT=$(( ($(now_ms) / 1000 + 10) * 1000 ))
PT=$(( AT + 8000 ))
hms() { TZ=$TZ_SITE date -d "@$(( $1 / 1000 ))" +%H:%M:%S; }
sox -n -r 48000 -c 1 -b 16 "$T/notice.wav" synth 2 sine 1200 vol 0.3 2>/dev/null
cat >"$T/week.cfg" <<EOF
items = (
  { id = "vov"; title = "Tiếp sóng Đài Tiếng nói Việt Nam"; source = "alsa:vov";
    length_min = 2; nodes = ["n1"]; times = ["$(hms "$AT")"]; level = "relay"; },
  { id = "notice"; title = "Thông báo khẩn"; content = "notice.wav"; music = true;
    nodes = ["n1"]; times = ["$(hms "$PT")"]; level = "priority"; }
);
EOF
"$LOAXA" schedule apply "$T/week.cfg" >"$T/apply.log" 2>&1
check "loaxa schedule apply takes a relay of alsa:vov at $(hms "$AT") and a priority item at $(hms "$PT")" \
	[ $? = 0 ] || sed 's/^/#   /' "$T/apply.log"
notice_ready() {
	node_json n1 | jq -e '[.status.upcoming[]? | select((.id | startswith("o-notice-")) and .ready)] | length == 1' >/dev/null
}
check "n1 has the priority item's content before its time" wait_for 20 notice_ready

started() { grep -q "relay o-vov-[0-9]*-[0-9]*-1 of the schedule: alsa:vov to 1 node" "$T/controller/controller.log"; }
check "the controller starts the relay from its capture device" \
	wait_for $(( (AT - $(now_ms)) / 1000 + 10 )) started || dump_logs 20
S0=$(now_ms)
check "... at its time (within 2 s, its relay tick is 1 s: +$(( S0 - AT )) ms)" \
	between $(( S0 - AT )) 0 2000
relaying() { node_json n1 | jq -e '.status.live.level == "relay" and .status.live.playing == true' >/dev/null; }
check "n1 plays the relay (status live: level relay, playing)" wait_for 10 relaying
sleep 0.3
listen relay1 2
analyse relay1
check "n1's speaker plays the line-in's program: 500 Hz (${HZ:-?} Hz)" hz_near 500
check "... in sounds of 0.6 s, as captured (${RUNS:-none} ms)" runs_near 600
check "... at the level captured (peak ${PEAK:-?}, captured 8192)" between "${PEAK:-0}" 6500 10000

# ---------------------------------------------------------------- b. a scheduled priority item
yielded() { grep -q "live session l-[0-9a-f]* yields the player" "$T/n1/node.log"; }
check "the relay yields to the priority item on n1" \
	wait_for $(( (PT - $(now_ms)) / 1000 + 5 )) yielded
onset_at() { onsets n1 | awk -v t="$1" '{ d = $1 - t; if (d < 0) d = -d; if (d <= 100) f = 1 } END { exit !f }'; }
onset_err() { onsets n1 | awk -v t="$1" '{ d = $1 - t; a = d < 0 ? -d : d; if (b == "" || a < b) { b = a; e = d } } END { print e }'; }
check "the priority item starts at its time on n1's speaker (within 100 ms: $(wait_for 3 onset_at "$PT"; onset_err "$PT") ms)" \
	onset_at "$PT"
sleep_until() { local d=$(( $1 - $(now_ms) )); [ "$d" -gt 0 ] && sleep "$(awk -v d="$d" 'BEGIN { print d / 1000 }')"; }
sleep_until $(( PT + 400 ))
listen notice 1
analyse notice
check "during the priority item n1 plays it alone: 1200 Hz (${HZ:-?} Hz), no gap" \
	eval 'hz_near 1200 && [ "$(jq ".sounds | length" "$T/notice.json")" = 1 ]'
finished() { grep -q "finished .* for occurrence o-notice-[0-9-]*" "$T/n1/node.log"; }
check "the priority item plays to its end" wait_for 5 finished
# (the first sound of a session may be cut in by its start: from 1.5 s on)
check "until then each sound reached n1's speaker 1000 ms after it entered the line-in" \
	lags_ok vov $(( S0 + 1500 )) $(( PT - 600 ))
check "... and n1 played the relay without an underrun" no_xrun_between "$S0" $(( PT - 600 ))
again() { grep -q "live session l-[0-9a-f]* (relay) plays again" "$T/n1/node.log"; }
check "the relay plays again on n1 after it" wait_for 5 again
sleep 0.3
B0=$(now_ms)
listen relay2 3
analyse relay2
check "n1 hears the program again: 500 Hz (${HZ:-?} Hz), sounds of 0.6 s (${RUNS:-none} ms)" \
	eval 'hz_near 500 && runs_near 600'
check "... still 1000 ms after the line-in" lags_ok vov "$B0" "$(now_ms)"

# ---------------------------------------------------------------- c. live from the microphone
"$LOAXA" live --device mic --node n1 --json >"$T/live.json" 2>"$T/live.err" &
LIVEPID=$!
live_id() { "$LOAXA" live status --json 2>/dev/null | jq -er '.sessions[] | select(.level == "live") | .live'; }
check "loaxa live --device mic starts a live session" wait_for 10 live_id
LID=$(live_id)
live_playing() { node_json n1 | jq -e '.status.live.level == "live" and .status.live.playing == true' >/dev/null; }
check "n1 plays the live session instead of the relay" wait_for 10 live_playing
sleep 0.3
C0=$(now_ms)
listen mic 2
analyse mic
check "n1's speaker plays the microphone: 700 Hz (${HZ:-?} Hz), sounds of 0.3 s (${RUNS:-none} ms)" \
	eval 'hz_near 700 && runs_near 300'
check "... 1000 ms after they entered the microphone" lags_ok mic "$C0" "$(now_ms)"
"$LOAXA" live stop "$LID" >"$T/stop-live.log" 2>&1
check "loaxa live stop $LID ends the live session (not the relay)" \
	eval 'grep -q "stopped $LID (live)" "$T/stop-live.log" && ! grep -q "(relay)" "$T/stop-live.log"'
cli_done() { ! alive "$LIVEPID"; }
wait_for 10 cli_done || kill "$LIVEPID"
wait "$LIVEPID"
rc=$?
check "loaxa live exits 0 with the session's figures (status $rc, $(jq -r .frames "$T/live.json" 2>/dev/null) frames from $(jq -r .source "$T/live.json" 2>/dev/null))" \
	eval '[ $rc = 0 ] && [ "$(jq -r .source "$T/live.json")" = "capture device mic" ] && [ "$(jq -r .frames "$T/live.json")" -gt 100 ]' ||
	sed 's/^/#   /' "$T/live.err"
relay_back() { grep -Eq "live session l-[0-9a-f]* \(relay, latency [0-9]+ ms\) begins" <(sed -n '/(live) ended/,$p' "$T/n1/node.log"); }
check "after the live session the relay comes back on n1" wait_for 10 relay_back
check "... and plays (status live: level relay, playing)" wait_for 10 relaying

no_overrun() {
	! grep -q "capture overrun" "$T/controller/controller.log" &&
		! grep -qs '^xrun' "$T/controller/src_vov.onsets.log" "$T/controller/src_mic.onsets.log"
}
check "so far the controller read its capture devices in time (no overrun)" no_overrun

# ---------------------------------------------------------------- d. an overrun
# The controller stalls for 0.5 s (longer than its 200 ms capture buffer): the
# card overruns and drops what came in meanwhile. The frames after the gap
# must keep their capture time, not be played early by the gap's length.
kill -STOP "${PID_OF[controller]}"
sleep 0.5
kill -CONT "${PID_OF[controller]}"
D0=$(now_ms)
regridded() { grep -Eq "live l-[0-9a-f]*: [0-9]+ frames \([0-9]+ ms\) lost to the overrun" "$T/controller/controller.log"; }
check "a stalled controller overruns its capture device, and says how much it lost" \
	eval 'wait_for 5 regridded && grep -qs "^xrun" "$T/controller/src_vov.onsets.log"'
sleep 4.5
check "after the overrun each sound still reaches n1 1000 ms after the line-in" \
	lags_ok vov $(( D0 + 1500 )) "$(now_ms)"
check "... and n1 played on through the stall (no underrun)" no_xrun_between "$D0" "$(now_ms)"

"$LOAXA" live stop >"$T/stop.log" 2>&1
E0=$(now_ms)
check "loaxa live stop ends the relay of the schedule" grep -q "stopped l-[0-9a-f]* (relay)" "$T/stop.log"
sleep 2.5
silent_after() { ! onsets n1 | awk -v t="$1" '$1 > t { f = 1 } END { exit !f }'; }
check "n1 falls silent (no sound starts later than 1.2 s after the stop)" silent_after $(( E0 + 1200 ))

stop_all_checked
finish
