#!/bin/bash
# An emergency at its level whatever the local setting (issue 16, point 4),
# with a real mixer control: ALSA's softvol plugin (a volume and a mute
# switch) in front of the node's paced test card, its controls on a test
# card's control interface (tests/alsa/ctl_loaxamixer.c), node.cfg naming the
# control (alsa.mixer = "Horn").
#   - the control is turned down to 20 % and muted: an ordinary play is
#     silent on the speaker;
#   - during an emergency the control is on and at 100 % (amixer), and the
#     alert tone reaches the speaker at the level of the stored clip;
#   - after `loaxa emergency stop` the control is back at 20 %, muted, and
#     mixer.json is gone;
#   - the node killed -9 in the middle of an emergency leaves the control
#     at the emergency level; at its next start it puts it back.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$LOAXA_BIN/tools/pcmsteps"
[ -f "$CTL_PLUGIN" ] || { not_ok "the test mixer plugin is built ($CTL_PLUGIN)"; exit 1; }
PCMSTEPS=$LOAXA_BIN/tools/pcmsteps

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
mixer_asoundrc n1 Horn
start_node n1 || exit 1

# the local setting: someone turned the horn down and muted it
node_amixer n1 -q sset Horn 20% mute
ctl_is() { # ctl_is RAW on|off : the control's value and switch, as amixer reads them
	node_amixer n1 sget Horn | grep -q "Mono: Playback $1 \[[0-9]*%\] \[[-0-9.]*dB\] \[$2\]"
}
check "amixer shows the control turned down (51 of 255, -40.8 dB) and muted" ctl_is 51 off ||
	node_amixer n1 sget Horn | sed 's/^/#   /'

if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone flood >"$T/clips.log" 2>&1; then
	ok "scripts/emergency-clips.sh makes tone and flood"
else
	fail "scripts/emergency-clips.sh makes the clips"
	sed 's/^/#   /' "$T/clips.log"
	exit 1
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
clips_ready() {
	node_json n1 | jq -e --arg s "$SET" '.status.emergency.clips_set == $s and
		([.status.emergency.clips[]] | length == 2 and all)' >/dev/null
}
check "n1 holds the emergency clips" wait_for 60 clips_ready
TONE=$("$LOAXA" emergency clips --json | jq -r '.clips[] | select(.name == "tone") | .content')

# the reference: the stored tone decoded, its peak
opusdec --quiet --rate 48000 "$(content_path "$TONE")" "$T/tone.wav" 2>/dev/null &&
	sox "$T/tone.wav" -t raw -e signed -b 16 -c 1 "$T/tone.raw" ||
	{ not_ok "decode the stored tone with opusdec"; exit 1; }
REF=$("$PCMSTEPS" "$T/tone.raw" | jq .peak)
diag "the stored alert tone peaks at $REF"

raw_size() { stat -c %s "$T/n1/paced.raw" 2>/dev/null || echo 0; }
since() { tail -c +$(( $1 + 1 )) "$T/n1/paced.raw" >"$2"; }

# ---------------------------------------------------------------- an ordinary play: muted
M0=$(raw_size)
"$LOAXA" play "$T/tone.wav" --node n1 --wait=30 >"$T/play.txt" 2>&1
check "an ordinary play finishes (while the control is muted)" grep -q "1 of 1 node finished" "$T/play.txt" ||
	sed 's/^/#   /' "$T/play.txt"
since "$M0" "$T/play.raw"
peak=$("$PCMSTEPS" "$T/play.raw" | jq .peak)
check "the node wrote the play to its device ($(stat -c %s "$T/play.raw") bytes)" \
	[ "$(stat -c %s "$T/play.raw")" -gt 96000 ]
check "the speaker heard nothing of it: peak $peak (the local setting rules ordinary plays)" [ "$peak" -le 2 ]

# ---------------------------------------------------------------- the emergency: on, 100 %
M1=$(raw_size)
"$LOAXA" emergency start --clip flood --node n1 --max 120s --timeout 15 --json >"$T/e1.json" 2>"$T/e1.err"
check "loaxa emergency start: n1 confirmed" [ $? = 0 ] || sed 's/^/#   /' "$T/e1.json" "$T/e1.err"
E1=$(jq -r .emergency "$T/e1.json")
check "during the emergency amixer shows the control on, at 255 (100 %, 0 dB)" wait_for 5 ctl_is 255 on ||
	node_amixer n1 sget Horn | sed 's/^/#   /'
saved_51_muted() {
	jq -e '.control == "Horn" and .channels[0].volume == 51 and .channels[0].switch == false' \
		"$T/n1/state/mixer.json" >/dev/null
}
check "what to put back is on disk: n1/state/mixer.json says 51, muted" saved_51_muted
check "n1 logs the mixer change" grep -q 'emergency: mixer control "Horn" unmuted and set to 100 % (it was 51, muted)' "$T/n1/node.log"
sleep 3.5 # the 3 s tone
since "$M1" "$T/e1.raw"
first=$("$PCMSTEPS" "$T/e1.raw" | jq '.sounds[0][0] // -1')
if [ "$first" -ge 0 ]; then
	# 2.5 s of the tone from its first sound
	tail -c +$(( first * 2 + 1 )) "$T/e1.raw" | head -c $(( 120000 * 2 )) >"$T/e1tone.raw"
	peak=$("$PCMSTEPS" "$T/e1tone.raw" | jq .peak)
	diag "the speaker's alert tone peaks at $peak (stored clip: $REF; 20 % would be ~$(( REF * 9 / 1000 )))"
	check "the speaker heard the alert tone at the clip's own level: peak $peak within 15 % of $REF" \
		[ "$(( peak * 100 ))" -ge "$(( REF * 85 ))" ] && [ "$(( peak * 100 ))" -le "$(( REF * 115 ))" ]
else
	not_ok "the speaker heard the alert tone (no sound since the emergency started)"
fi

"$LOAXA" emergency stop "$E1" --timeout 10 >"$T/stop1.txt" 2>&1
check "after the stop the control is back at 51, muted" wait_for 10 ctl_is 51 off ||
	node_amixer n1 sget Horn | sed 's/^/#   /'
check "mixer.json is gone once put back" bash -c "! [ -e '$T/n1/state/mixer.json' ]"
check "n1 logs the restore" grep -q 'mixer control "Horn" put back as it was before the emergency (51, muted)' "$T/n1/node.log"

# ---------------------------------------------------------------- a crash mid-emergency
"$LOAXA" emergency start --clip flood --node n1 --max 120s --timeout 15 --json >"$T/e2.json" 2>&1
E2=$(jq -r .emergency "$T/e2.json")
check "the second emergency sets the control again" wait_for 5 ctl_is 255 on
stop n1 KILL
check "killed -9 mid-emergency, the node leaves the control at the emergency level" ctl_is 255 on
check "... and mixer.json on disk" saved_51_muted
start_node n1 || exit 1
check "at its next start the node puts the control back (51, muted)" wait_for 10 ctl_is 51 off ||
	node_amixer n1 sget Horn | sed 's/^/#   /'
check "it says why" grep -q 'the node stopped during an emergency: putting the mixer control "Horn" back' "$T/n1/node.log"
check "mixer.json is gone after the restore" bash -c "! [ -e '$T/n1/state/mixer.json' ]"
"$LOAXA" emergency stop "$E2" --timeout 5 >/dev/null 2>&1

stop_all_checked
finish
