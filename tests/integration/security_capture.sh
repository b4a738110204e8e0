#!/bin/bash
# Capture devices are an allow-list (issue 14, point 1; docs/security.md).
# ALSA device names are a configuration language: `file:'|cmd'` makes ALSA
# run cmd through a shell, as the controller's user, which can read
# controller.key. So clients name capture devices only by the names of
# controller.cfg (capture = { mic = "..."; }), and a client's string never
# reaches snd_pcm_open. Real parts: mosquitto, the controller, the CLI, curl
# on the API socket, the paced test card as the one configured microphone.
#   - hostile device strings through every entry point: `loaxa live
#     --device`, POST /v1/live (curl), `loaxa emergency start --live
#     --device`, POST /v1/emergency (curl), a schedule's `alsa:` source
#     through `loaxa schedule check` and `apply`: each refused with an error
#     that names the field, and no file that the string names appears;
#   - nothing of it reaches ALSA (the controller never tries to open a
#     capture device) and the schedule stores nothing;
#   - the audit log records the device asked for, refused or started;
#   - the configured name still works: `loaxa live --device mic` streams.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$PACED_PLUGIN" "$(command -v curl)" "$(command -v jq)"

start_broker || exit 1
keygen || exit 1
write_controller_cfg 'capture = { mic = "paced_src_mic"; };' \
	'zones = ( { name = "thon-1"; title = "Thôn 1"; allowed_hours = "00:00-24:00"; } );'
paced_capture_asoundrc mic tone_hz 700 tone_level 8000 tone_on_ms 300 tone_off_ms 400
start_controller || exit 1
CLOG=${LOG_OF[controller]}
# the alert tone a live emergency starts with: without it the controller
# would refuse for that reason before ever looking at the device
sox -n -r 48000 -c 1 -b 16 "$T/tone.wav" synth 1 sine 880 vol 0.3 2>/dev/null
"$LOAXA" emergency clip tone "$T/tone.wav" >"$T/clip.log" 2>&1
check "the tone clip is stored" [ $? = 0 ] || dump_log "$T/clip.log"

# hostile N : the hostile device strings of round N; each names a file
# under $T that must never appear.
hostile() {
	printf '%s\n' \
		"file:'|touch $T/pwned$1a'" \
		"{ type file slave.pcm null file \"|touch $T/pwned$1b\" }" \
		"file:FILE=$T/pwned$1c" \
		"plug:'file:\"|touch $T/pwned$1d\"'" \
		"paced_src_mic"
}
# pwned N : any file of round N's hostile strings there?
pwned() { compgen -G "$T/pwned$1*" >/dev/null; }
KNOWN='is not a capture device named in controller.cfg (capture = { ... }); known: mic'

# refused WHAT FILE FIELD ROUND DEV : FILE (the answer) names the field,
# the string and the known names; no file of that round's strings appeared.
refused() {
	local what=$1 file=$2 field=$3 n=$4 dev=$5
	sleep 0.3 # a shell run by ALSA would have had its time
	check "$what: refused, naming the field $field ($(head -c 300 "$file" | tr '\n' ' '))" \
		grep -qF -- "$field: \"$dev\" $KNOWN" "$file"
	check "$what: no file the string names appears" eval '! pwned '"$n"
}

# ---------------------------------------------------------------- loaxa live --device
n=0
while IFS= read -r dev; do
	n=$((n + 1))
	"$LOAXA" live --device "$dev" --zone thon-1 >"$T/live$n.out" 2>&1
	rc=$?
	check "loaxa live --device '$dev' exits non-zero ($rc)" [ "$rc" != 0 ]
	refused "loaxa live --device '$dev'" "$T/live$n.out" device 1 "$dev"
done < <(hostile 1)

# ---------------------------------------------------------------- POST /v1/live
n=0
while IFS= read -r dev; do
	n=$((n + 1))
	code=$(api_curl -o "$T/post$n.json" -w '%{http_code}' -X POST \
		-d "$(jq -cn --arg d "$dev" '{zone: "thon-1", device: $d}')" http://loaxa/v1/live)
	check "POST /v1/live {device: '$dev'} answers 400 ($code)" [ "$code" = 400 ]
	jq -r .error "$T/post$n.json" >"$T/post$n.err" 2>/dev/null
	refused "POST /v1/live {device: '$dev'}" "$T/post$n.err" device 2 "$dev"
done < <(hostile 2)

# ---------------------------------------------------------------- emergency start --live --device
n=0
while IFS= read -r dev; do
	n=$((n + 1))
	"$LOAXA" emergency start --live --device "$dev" --zone thon-1 --timeout 3 \
		>"$T/em$n.out" 2>&1
	rc=$?
	check "loaxa emergency start --live --device '$dev' exits non-zero ($rc)" [ "$rc" != 0 ]
	refused "loaxa emergency start --live --device '$dev'" "$T/em$n.out" device 3 "$dev"
done < <(hostile 3)
n=0
while IFS= read -r dev; do
	n=$((n + 1))
	code=$(api_curl -o "$T/epost$n.json" -w '%{http_code}' -X POST \
		-d "$(jq -cn --arg d "$dev" '{zone: "thon-1", live: true, device: $d}')" \
		http://loaxa/v1/emergency)
	check "POST /v1/emergency {live: true, device: '$dev'} answers 400 ($code)" [ "$code" = 400 ]
	jq -r .error "$T/epost$n.json" >"$T/epost$n.err" 2>/dev/null
	refused "POST /v1/emergency {device: '$dev'}" "$T/epost$n.err" device 4 "$dev"
done < <(hostile 4)
check "no emergency was started (nothing signed)" eval '! grep -q " started on " "$CLOG"'

# ---------------------------------------------------------------- a schedule's alsa: source
n=0
while IFS= read -r dev; do
	n=$((n + 1))
	esc=${dev//\\/\\\\}
	esc=${esc//\"/\\\"}
	printf 'items = (\n  { id = "vov"; title = "VOV"; level = "relay"; length_min = 30;\n    source = "alsa:%s";\n    zones = ["thon-1"]; times = ["23:59"]; }\n);\n' \
		"$esc" >"$T/week$n.cfg"
	for verb in check apply; do
		"$LOAXA" schedule "$verb" "$T/week$n.cfg" >"$T/sched-$verb$n.out" 2>&1
		rc=$?
		check "loaxa schedule $verb with source alsa:'$dev' exits non-zero ($rc)" [ "$rc" != 0 ]
		check "... the error names week$n.cfg:3, field \"source\", item \"vov\"" \
			grep -qF "week$n.cfg:3: field \"source\": item \"vov\": \"$dev\" $KNOWN" \
			"$T/sched-$verb$n.out"
	done
	sleep 0.3
	check "loaxa schedule check|apply alsa:'$dev': no file the string names appears" \
		eval '! pwned 5'
done < <(hostile 5)
"$LOAXA" schedule list --json >"$T/list.json" 2>&1
check "nothing of the refused schedules was stored" eval '! grep -q vov "$T/list.json"'

# ---------------------------------------------------------------- nothing reached ALSA; the audit
# alsa_open's words (controller/live.c): 'capture device "PCM" ...'
check "the controller never opened a capture device for a hostile string" \
	eval '! grep -E "capture device \"|from capture device" "$CLOG"'
"$LOAXA" audit --limit 200 --json >"$T/audit.json" 2>"$T/audit.err"
check "the audit log records a refused live start with the device asked for" \
	jq -e --arg d "file:'|touch $T/pwned1a'" \
	'[.[] | select((.action == "POST /v1/live") and (.target | contains("device " + $d)) and (.result != "allowed"))] | length >= 1' \
	"$T/audit.json" >/dev/null

# ---------------------------------------------------------------- the configured name works
"$LOAXA" live --device mic --zone thon-1 --json >"$T/mic.json" 2>"$T/mic.err" &
MICPID=$!
live_id() { "$LOAXA" live status --json 2>/dev/null | jq -er '.sessions[] | select(.level == "live") | .live'; }
check "loaxa live --device mic (the name in controller.cfg) starts a live session" wait_for 10 live_id
check "... from the configured device" \
	eval '"$LOAXA" live status --json | jq -e ".sessions[0].source == \"capture device mic\"" >/dev/null'
"$LOAXA" live stop >"$T/mic-stop.log" 2>&1
cli_done() { ! alive "$MICPID"; }
wait_for 10 cli_done || kill "$MICPID"
wait "$MICPID"
"$LOAXA" audit --limit 20 --json >"$T/audit2.json" 2>/dev/null
check "the audit log records the live start with its device name (live zone thon-1 device mic)" \
	jq -e '[.[] | select(.action == "POST /v1/live" and .target == "live zone thon-1 device mic")] | length >= 1' \
	"$T/audit2.json" >/dev/null
check "no file of any hostile string appeared" eval '! compgen -G "$T/pwned*" >/dev/null'

stop_all_checked
finish
