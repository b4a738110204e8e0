#!/bin/bash
# The horn self-test (node/selftest.h, docs/health.md "Horn self-test"), with
# real parts: mosquitto, the controller, a node on the paced test card, and
# a "microphone" that is a second paced card capturing what the first one
# plays (wire), attenuated 20 dB, under white noise.
#   - wired: `loaxa selftest n1` -> the node plays its tone, hears it, says
#     ok; status, event, `loaxa nodes` and `loaxa node show` show it; no alarm;
#   - the wire cut (a silent horn): -> "silent", the controller raises the
#     "horn" alarm for n1, the CLI says HORN SILENT and exits 1;
#   - wired again: -> ok, the alarm is cleared;
#   - `loaxa selftest --zone thon-1` reaches every node of the zone;
#   - the controller's daily run (selftest.daily_at set to the minute the
#     test runs) asks the node with a sensing input, once a day: a restart
#     of the controller does not ask again;
#   - an emergency during the self-test: the tone gives way at once, the
#     emergency sounds and is confirmed, no self-test result is recorded;
#   - a node without selftest.capture refuses the command, saying why;
#   - a sensor read by a command (selftest.command, no shell): heard when the
#     horn plays, silent when it is cut.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

start_broker || exit 1
keygen || exit 1
# no daily run while the on-demand tests run (it is tested below, at a time the test sets)
write_controller_cfg 'selftest = { daily_at = ""; };'
start_controller || exit 1

PACED=1 STATUS_INTERVAL=2 write_node_cfg n1 thon-1
cat >>"$T/n1/xdg/alsa/asoundrc" <<EOC
pcm.mic_n1 {
	type loaxapaced
	wire "$T/n1/paced.raw"
	wire_gain_db -20
	wire_cut "$T/n1/horn_cut"
	noise_level 100
}
EOC
# the whole day is "day" here: the result must not depend on the hour the suite runs
echo 'selftest = { capture = "mic_n1"; tone_ms = 1500; day = "00:00-24:00"; };' >>"$T/n1/node.cfg"
start_node n1 || exit 1
PACED=1 STATUS_INTERVAL=2 write_node_cfg n2 thon-2
start_node n2 || exit 1

horn_alarm() { "$LOAXA" alarms --json 2>/dev/null | jq -e '.alarms[] | select(.node == "n1" and .kind == "horn" and .cleared == null)' >/dev/null; }
selftest_is() { node_json n1 | jq -e --arg r "$1" '.selftest.result == $r' >/dev/null; }

# ---------------------------------------------------------------- wired: heard
"$LOAXA" selftest n1 --timeout 60 >"$T/st1.out" 2>&1
rc=$?
check "loaxa selftest n1 (wired): exit 0" [ "$rc" = 0 ] || sed 's/^/#   /' "$T/st1.out"
check "it says the horn is heard" grep -q '^n1: horn heard' "$T/st1.out"
check "the tone went out through the node's card (onset in its log)" \
	grep -q '^onset ' "$T/n1/onsets.log"
check "the node's status: selftest.result ok" wait_for 10 selftest_is ok
level=$(node_json n1 | jq -r '.status.selftest.level_db')
noise=$(node_json n1 | jq -r '.status.selftest.noise_db')
diag "wired: tone heard at $level dB, noise floor $noise dB (threshold 15 dB)"
check "the tone is heard well over the threshold (level - noise >= 25 dB)" \
	awk -v l="$level" -v n="$noise" 'BEGIN { exit !(l - n >= 25) }'
check "the result is kept on disk (state/selftest.json)" \
	jq -e '.result == "ok"' "$T/n1/state/selftest.json" >/dev/null
ev_ok() { "$LOAXA" log --node n1 --type selftest --json 2>/dev/null | jq -e '[.events[]] | length >= 1' >/dev/null; }
check "a selftest event reached the controller's log" wait_for 10 ev_ok
"$LOAXA" nodes >"$T/nodes.txt" 2>&1
check "loaxa nodes shows the horn test per cluster" grep -q 'horn heard' "$T/nodes.txt"
check "no horn alarm" bash -c "! \"$LOAXA\" alarms --json | jq -e '.alarms[] | select(.kind == \"horn\")' >/dev/null"

# ---------------------------------------------------------------- cut: silent
touch "$T/n1/horn_cut"
"$LOAXA" selftest n1 --timeout 60 >"$T/st2.out" 2>&1
rc=$?
check "loaxa selftest n1 (wire cut): exit 1" [ "$rc" = 1 ] || sed 's/^/#   /' "$T/st2.out"
check "it says HORN SILENT" grep -q '^n1: HORN SILENT' "$T/st2.out"
check "the node's status: selftest.result silent" wait_for 10 selftest_is silent
check "the controller raises the horn alarm for n1" wait_for 10 horn_alarm
check "the node's log says what to check" \
	grep -q 'horn is SILENT.*check the amplifier' "$T/n1/node.log"
"$LOAXA" node show n1 >"$T/show.txt" 2>&1
check "loaxa node show n1: horn test line and the ALARM" \
	bash -c "grep -q '^horn test   horn silent' '$T/show.txt' && grep -q '^ALARM       horn' '$T/show.txt'"
LANG=vi_VN.UTF-8 "$LOAXA" node show n1 >"$T/show.vi" 2>&1
check "in Vietnamese: Loa không phát ra tiếng" grep -q 'Loa không phát ra tiếng' "$T/show.vi"

# ---------------------------------------------------------------- wired again: cleared
rm -f "$T/n1/horn_cut"
"$LOAXA" selftest --zone thon-1 --timeout 60 >"$T/st3.out" 2>&1
rc=$?
check "loaxa selftest --zone thon-1 (wired again): exit 0" [ "$rc" = 0 ] ||
	sed 's/^/#   /' "$T/st3.out"
check "the zone reached n1 only" \
	bash -c "grep -q '^n1: horn heard' '$T/st3.out' && ! grep -q '^n2' '$T/st3.out'"
alarm_cleared() { "$LOAXA" alarms --all --json 2>/dev/null | jq -e '[.alarms[] | select(.node == "n1" and .kind == "horn" and .cleared != null)] | length >= 1' >/dev/null; }
check "the horn alarm is cleared after a good test" wait_for 10 alarm_cleared
check "and no horn alarm is active" bash -c "! \"$LOAXA\" alarms --json | jq -e '.alarms[] | select(.kind == \"horn\")' >/dev/null"

# ---------------------------------------------------------------- the daily run
at0=$(node_json n1 | jq -r '.selftest.at')
stop_checked controller
write_controller_cfg "selftest = { daily_at = \"$(TZ=Asia/Ho_Chi_Minh date +%H:%M)\"; };"
start_controller || exit 1
daily_result() { [ "$(node_json n1 | jq -r '.selftest.at')" -gt "$at0" ]; }
check "the controller's daily run tests n1 by itself" wait_for 30 daily_result
check "it asked the one node with a sensing input (not n2)" \
	grep -q 'daily horn self-test: asked 1 node(s)' "$T/controller/controller.log"
check "the day of the run is kept (state/selftest.day)" \
	grep -qE '^[0-9]{8}$' "$T/controller/state/selftest.day"
stop_checked controller
start_controller || exit 1
sleep 3
check "a restart the same day does not run it again" \
	[ "$(grep -c 'daily horn self-test: asked' "$T/controller/controller.log")" = 1 ]

# ---------------------------------------------------------------- no sensing input
"$LOAXA" selftest n2 --timeout 20 >"$T/st4.out" 2>&1
rc=$?
check "a node without selftest.capture refuses: exit 1" [ "$rc" = 1 ]
check "saying why (node.cfg selftest.capture)" grep -q 'selftest.capture' "$T/st4.out" ||
	sed 's/^/#   /' "$T/st4.out"

# ---------------------------------------------------------------- a sensor read by a command
# The "current sensor": the level (dB of full scale) of what the node's card
# played in the last 0.2 s (nothing played: -100), or -100 while the horn is cut.
cat >"$T/level.sh" <<'EOS'
f=$1 cut=$2
[ -e "$cut" ] && { echo -100; exit 0; }
a=$(stat -c %s "$f" 2>/dev/null || echo 0); sleep 0.2; b=$(stat -c %s "$f" 2>/dev/null || echo 0)
[ "$b" -gt "$a" ] || { echo -100; exit 0; }
tail -c $((b - a)) "$f" | od -An -v -td2 -w2 |
	awk '{ s += $1 * $1; n++ } END { if (!n || !s) print -100; else printf "%.1f\n", 10 * log(s / n / 536870912) / log(10) }'
EOS
PACED=1 STATUS_INTERVAL=2 write_node_cfg n3 thon-3
echo "selftest = { command = \"/bin/sh $T/level.sh $T/n3/paced.raw $T/n3/horn_cut\"; day = \"00:00-24:00\"; };" >>"$T/n3/node.cfg"
start_node n3 || exit 1
"$LOAXA" selftest n3 --timeout 60 >"$T/st6.out" 2>&1
rc=$?
check "selftest.command: the horn is heard (exit 0)" [ "$rc" = 0 ] || sed 's/^/#   /' "$T/st6.out"
diag "command sensor: $(cat "$T/st6.out" | tail -1)"
touch "$T/n3/horn_cut"
"$LOAXA" selftest n3 --timeout 60 >"$T/st7.out" 2>&1
rc=$?
check "selftest.command, the horn cut: HORN SILENT (exit 1)" \
	bash -c "[ $rc = 1 ] && grep -q '^n3: HORN SILENT' '$T/st7.out'" || sed 's/^/#   /' "$T/st7.out"
horn_alarm3() { "$LOAXA" alarms --json 2>/dev/null | jq -e '.alarms[] | select(.node == "n3" and .kind == "horn" and .cleared == null)' >/dev/null; }
check "the horn alarm is raised for n3" wait_for 10 horn_alarm3

# ---------------------------------------------------------------- an emergency preempts it
if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone flood >"$T/clips.log" 2>&1; then
	ok "the emergency clips are made"
else
	fail "scripts/emergency-clips.sh"
	sed 's/^/#   /' "$T/clips.log"
	exit 1
fi
clips_ready() { node_json n1 | jq -e '[.status.emergency.clips[]] | length == 2 and all' >/dev/null; }
check "n1 holds the emergency clips" wait_for 60 clips_ready
at_before=$(node_json n1 | jq -r '.status.selftest.at')
sed -i 's/tone_ms = 1500;/tone_ms = 5000;/' "$T/n1/node.cfg"
stop_checked n1
start_node n1 || exit 1
"$LOAXA" selftest n1 --timeout 12 >"$T/st5.out" 2>&1 &
ST_PID=$!
tone_on() { grep -q 'horn self-test: 1000 Hz tone for 5000 ms' "$T/n1/node.log"; }
check "a 5 s self-test tone starts" wait_for 20 tone_on
sleep 0.5
t0=$(now_ms)
"$LOAXA" emergency start --clip flood --node n1 --drill --max 4s --timeout 15 --json \
	>"$T/em.json" 2>"$T/em.err"
rc=$?
check "the emergency starts and is confirmed while the self-test sounded (exit 0)" [ "$rc" = 0 ] ||
	sed 's/^/#   /' "$T/em.err"
check "the node says the self-test gave way to the emergency" \
	grep -q 'horn self-test interrupted: an emergency' "$T/n1/node.log"
start=$(jq -r '[.. | .start? | numbers] | first' "$T/em.json")
diag "emergency first sample $((start - t0)) ms after the command was given (load: $(cut -d' ' -f1-3 /proc/loadavg))"
check "the emergency's first sample within 2 s of the command" \
	[ -n "$start" ] && [ "$start" != null ] && [ $((start - t0)) -lt 2000 ]
wait "$ST_PID"
rc=$?
check "the interrupted self-test gives no result (loaxa selftest exits 1, no verdict)" \
	bash -c "[ $rc = 1 ] && grep -q 'no result within' '$T/st5.out'"
check "the last result stays the one before (no result recorded)" \
	[ "$(node_json n1 | jq -r '.status.selftest.at')" = "$at_before" ]
stop_all_checked
finish
