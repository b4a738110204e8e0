#!/bin/bash
# `loaxa record` (issue 16, point 2; controller/record.h): record from the
# controller's microphone into content. Real parts: mosquitto, the
# controller, the CLI, the paced test card as the microphone (it captures in
# real time and keeps, in a file, every sample it handed over), the decode
# worker and libopus of the normal import.
#   - at the maximum: the controller stops by itself; the content lasts the
#     maximum, and as long as what the card captured, within 20 ms;
#   - on Ctrl-C (SIGINT to the CLI): the same, for whatever length it ran;
#   - the content is the microphone's sound (a 700 Hz tone, not silence),
#     under its title, and the recording's WAV is gone from the tmp dir;
#   - a device not in controller.cfg, a missing or too long --max and a
#     second recording at once are refused with words that say what to do;
#   - the audit log records who recorded from which device.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$PACED_PLUGIN" "$(command -v jq)"

start_broker || exit 1
keygen || exit 1
write_controller_cfg 'capture = { mic = "paced_src_mic"; desk = "paced_src_desk"; };' \
	'zones = ( { name = "thon-1"; title = "Thôn 1"; allowed_hours = "00:00-24:00"; } );'
paced_capture_asoundrc mic tone_hz 700 tone_level 8000 capture "$T/controller/mic.raw"
paced_capture_asoundrc desk tone_hz 700 tone_level 8000 tone_on_ms 300 tone_off_ms 200 \
	capture "$T/controller/desk.raw"
start_controller || exit 1

# captured_ms FILE : the length of what the card captured, in ms.
captured_ms() { echo $(( $(stat -c %s "$1") / 2 * 1000 / 48000 )); }
# within A B MS : |A - B| <= MS
within() { local d=$(( $1 - $2 )); [ "${d#-}" -le "$3" ]; }

# ------------------------------------------------------- to the maximum
"$LOAXA" record --device mic --max 3s --title "Thông báo ghi âm" --json \
	>"$T/rec1.json" 2>"$T/rec1.err"
check "loaxa record --max 3s ends by itself and prints the content" [ $? = 0 ] ||
	dump_log "$T/rec1.err"
dur=$(jq -r '.duration_ms' "$T/rec1.json")
cap=$(captured_ms "$T/controller/mic.raw")
check "the content lasts the maximum: $dur ms for 3000 ms" within "$dur" 3000 20
check "the content lasts what the card captured: $dur ms for $cap ms" within "$dur" "$cap" 20
check "the content has the title given" \
	[ "$(jq -r '.title' "$T/rec1.json")" = "Thông báo ghi âm" ]
id1=$(jq -r '.id' "$T/rec1.json")
check "the content is stored" [ -s "$(content_path "$id1")" ]
# the card's tone at 8000/32768 is about -12 dBFS peak; normalized speech
# level is -16 LUFS: silence would come out far below
check "the content is the microphone's sound, not silence ($(jq -r .output_lufs "$T/rec1.json") LUFS)" \
	jq -e '.output_lufs > -30' "$T/rec1.json"
check "the recording's WAV is removed" eval '! compgen -G "$T/controller/state/tmp/rec-*" >/dev/null'

# ------------------------------------------------------- Ctrl-C
"$LOAXA" record --device desk --max 10m --title "Ctrl-C" --json >"$T/rec2.json" 2>"$T/rec2.err" &
cli=$!
recording_for() {
	"$LOAXA" content --json >/dev/null 2>&1 # keep the token fresh; harmless
	[ "$(api_curl http://localhost/v1/record | jq -r 'select(.state == "recording") | .elapsed_ms')" \
		-ge "$1" ] 2>/dev/null
}
wait_for 20 recording_for 1500
# the desk's tone sounds 300 ms of every 500: the last 100 ms block may be
# a pause, so ask until a block with the tone comes
level_of_tone() { api_curl http://localhost/v1/record | jq -e '.peak_dbfs > -20 and .peak_dbfs < -6' >/dev/null; }
check "while it records, the controller reports the level of the microphone" \
	wait_for 5 level_of_tone
# a second recording at once is refused, saying who records
"$LOAXA" record --device mic --max 5s >"$T/rec3.out" 2>&1
rc=$?
check "a second recording at once is refused" [ $rc != 0 ]
check "... saying that someone records already" grep -q 'is recording already' "$T/rec3.out" ||
	dump_log "$T/rec3.out"
kill -INT "$cli"
wait "$cli"
check "Ctrl-C stops the recording and imports it" [ $? = 0 ] || dump_log "$T/rec2.err"
dur=$(jq -r '.duration_ms' "$T/rec2.json")
cap=$(captured_ms "$T/controller/desk.raw")
check "after Ctrl-C the content lasts what the card captured: $dur ms for $cap ms" \
	within "$dur" "$cap" 20
check "it ran the time it was left to run (>= 1500 ms: $dur ms)" [ "$dur" -ge 1500 ]
check "the CLI said it was importing" grep -q 'importing' "$T/rec2.err"

# ------------------------------------------------------- refusals
"$LOAXA" record --device 'hw:0,0' --max 5s >"$T/bad1.out" 2>&1
check "a device not in controller.cfg is refused" [ $? != 0 ]
check "... naming the devices there" grep -q 'known: mic, desk' "$T/bad1.out" ||
	dump_log "$T/bad1.out"
"$LOAXA" record --device mic >"$T/bad2.out" 2>&1
check "without --max: usage (exit 2)" [ $? = 2 ]
check "... saying to give --max" grep -q -- '--max' "$T/bad2.out"
"$LOAXA" record --device mic --max 5h >"$T/bad3.out" 2>&1
check "--max over 3h is refused (exit 2)" [ $? = 2 ]
check "no recording is running after the refusals" \
	eval 'api_curl http://localhost/v1/record | jq -e ".state != \"recording\""'

# ------------------------------------------------------- audit
"$LOAXA" audit --json >"$T/audit.json" 2>&1
check "the audit log records the recordings with who and the device" \
	jq -e '[(.audit? // .)[] | select(.user == "admin" and (.target // "" | test("device (mic|desk)")))] | length >= 2' \
	"$T/audit.json" || dump_log "$T/audit.json"

stop_all_checked
finish
