#!/bin/bash
# Schedule files travel as content, never as paths (issue 17, point 2;
# docs/schedules.md "API"): under its unit the controller cannot see the
# operator's /home or /tmp, and reading a path on request would let any
# operator make it open any file its user can read.
#   - a schedule file and its audio in a directory the controller cannot
#     see (a tmpfs mounted in a private mount namespace, where only the CLI
#     runs) are checked and applied with `loaxa schedule check|apply`: the
#     audio is uploaded once (check), apply uploads nothing more, the node's
#     plan holds the item with that content, and the controller stores the
#     file as applied; checking again uploads nothing;
#   - a missing and an unreadable audio file there are errors naming the
#     schedule file and line; a file that is not UTF-8 and an @include line
#     are refused naming theirs;
#   - requests naming paths (/etc/shadow, the controller's key) are refused
#     with 400 and nothing of the file; a text with @include of the key and
#     an audio "file" naming the key or a path that does not exist get the
#     same answer, which tells nothing about the files.
source "$(dirname "$0")/../lib.sh"
OPENENV=$LOAXA_BIN/tools/openenv
need "$LOAXA" "$CONTROLLER" "$NODE" "$OPENENV"

# in_private CMD... : run CMD where $P is a tmpfs of its own (a private mount
# namespace; the controller's view of $P stays an empty directory)
P=$T/private
mkdir -p "$P"
if [ "$(id -u)" = 0 ]; then NS=(unshare --mount --propagation private); else NS=(unshare --user --map-root-user --mount); fi
in_private() {
	"${NS[@]}" -- bash -c 'mount -t tmpfs -o mode=0700 tmpfs "$1" && shift && "$@"' ns "$P" "$@"
}

TZ_SITE=Asia/Ho_Chi_Minh
hms_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" +%H:%M:%S; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg "timezone = \"$TZ_SITE\";" \
	"zones = ( { name = \"thon-1\"; allowed_hours = \"00:00-24:00\"; } );"
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1

speech "$T/notice.wav" "Thông báo của ủy ban nhân dân xã." || exit 1
T1=$(hms_in 900)
# the script the CLI runs in the namespace: the files exist only there
cat >"$T/private.sh" <<EOF
set -e
mkdir -p "$P/audio"
cp "$T/notice.wav" "$P/audio/notice.wav"
cat >"$P/week.cfg" <<'CFG'
# made where the controller cannot look
items = (
  { id = "notice"; title = "Thông báo riêng"; content = "audio/notice.wav";
    zones = ["thon-1"]; times = ["$T1"]; }
);
CFG
cat >"$P/bad.cfg" <<'CFG'
items = (
  { id = "a"; content = "audio/missing.mp3"; zones = ["thon-1"]; times = ["06:00"]; },
  { id = "b"; content = "audio/locked.wav"; zones = ["thon-1"]; times = ["06:00"]; }
);
CFG
cp "$T/notice.wav" "$P/audio/locked.wav"
chmod 000 "$P/audio/locked.wav"
cd "$P"
set +e
"$LOAXA" schedule check week.cfg >"$T/check.out" 2>&1; echo \$? >"$T/check.rc"
"$LOAXA" schedule apply "$P/week.cfg" >"$T/apply.out" 2>&1; echo \$? >"$T/apply.rc"
"$LOAXA" schedule check week.cfg >"$T/recheck.out" 2>&1; echo \$? >"$T/recheck.rc"
# without root's right to read any file (a file of mode 000 stays unread)
setpriv --bounding-set=-dac_override,-dac_read_search -- \
	"$LOAXA" schedule check bad.cfg >"$T/bad.out" 2>&1
echo \$? >"$T/bad.rc"
# a file saved in another encoding, and one with an @include line
printf 'items = ( );\n# L\xe0ng \xc3\n' >latin.cfg
"$LOAXA" schedule check latin.cfg >"$T/latin.out" 2>&1; echo \$? >"$T/latin.rc"
printf 'items = ( );\n@include "/etc/passwd"\n' >inc.cfg
"$LOAXA" schedule check inc.cfg >"$T/inc.out" 2>&1; echo \$? >"$T/inc.rc"
ls -la "$P" "$P/audio" >"$T/private.ls"
EOF
uploads() { "$LOAXA" audit --limit 10000 --json | jq '[.[] | select(.action == "POST /v1/content")] | length'; }
n0=$(uploads)
in_private bash "$T/private.sh"
check "the controller cannot see the files: $P is empty outside the namespace" \
	[ -z "$(ls -A "$P")" ]
check "the files were there for the CLI" grep -q 'week.cfg' "$T/private.ls" ||
	dump_log "$T/private.ls"

check "loaxa schedule check week.cfg passes ($(tr '\n' ' ' <"$T/check.out"))" \
	bash -c "[ \"\$(cat '$T/check.rc')\" = 0 ] && grep -q 'schedule OK: 1 item' '$T/check.out'"
n1=$(uploads)
check "... after uploading its one audio file (POST /v1/content: $((n1 - n0)))" [ $((n1 - n0)) = 1 ]
check "loaxa schedule apply $P/week.cfg applies it" \
	bash -c "[ \"\$(cat '$T/apply.rc')\" = 0 ] && grep -q '^applied: 1 item' '$T/apply.out'" ||
	dump_log "$T/apply.out"
check "loaxa schedule check again passes" [ "$(cat "$T/recheck.rc")" = 0 ]
check "apply and the second check upload nothing more ($(uploads) uploads in all)" [ "$(uploads)" = "$n1" ]
check "the controller imported the audio once (one \"imported\" line for it)" \
	[ "$(log_count "$T/controller/controller.log" 'API: received notice.wav')" = 1 ]

content=$(sha256sum "$T/notice.wav" | cut -c1-64)
cid=$("$LOAXA" content list --json | jq -r --arg t "Thông báo riêng" '.content[] | select(.title == $t) | .id')
check "the content is titled after the item (${cid:0:12})" [ "${#cid}" = 64 ]
# plan_has_notice : n1's retained plan, checked like a node does, plays it
plan_has_notice() {
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/n1/plan" \
		-C 1 -W 5 -N >"$T/plan-n1.bin" 2>/dev/null &&
		"$OPENENV" --pub "$T/keys/controller.pub" --site "$SITE" <"$T/plan-n1.bin" \
			>"$T/plan-n1.json" 2>/dev/null &&
		jq -e --arg c "$cid" '[.items[] | select(.item == "notice" and .content == $c)] |
			length >= 1' "$T/plan-n1.json" >/dev/null
}
check "n1's signed plan holds the item with that content" wait_for 10 plan_has_notice
DB=$T/controller/state/loaxa.db
check "the controller stores the file as applied: its name, its text, its audio by hash" \
	bash -c "sqlite3 '$DB' \"SELECT name, audio FROM sched_files\" | grep -F '$P/week.cfg|' | grep -q '$content' &&
		[ \"\$(sqlite3 '$DB' 'SELECT text FROM sched_files' | grep -c 'Thông báo riêng')\" = 1 ]"

for want in \
	"bad.cfg:2: field \"content\": the file \"audio/missing.mp3\" does not exist (looked for $P/audio/missing.mp3)" \
	'bad.cfg:3: field "content": the file "audio/locked.wav" cannot be read: Permission denied'; do
	check "check names the schedule file and line: $want" grep -qF "$want" "$T/bad.out" ||
		dump_log "$T/bad.out"
done
check "... and exits 1" [ "$(cat "$T/bad.rc")" = 1 ]

check "a file that is not UTF-8 is refused by the CLI, naming its line ($(head -c 150 "$T/latin.out"))" \
	bash -c "[ \"\$(cat '$T/latin.rc')\" = 1 ] && grep -q '^latin.cfg:2: the file is not UTF-8 text' '$T/latin.out'"
check "an @include line is refused at its line, the file it names unread ($(head -c 150 "$T/inc.out"))" \
	bash -c "[ \"\$(cat '$T/inc.rc')\" = 1 ] && grep -q '^inc.cfg:2: a line starting with .@. (@include) is not allowed' '$T/inc.out' && ! grep -q root '$T/inc.out'"

# ---------------------------------------------------------------- paths refused
KEY=$T/keys/controller.key
TOK=$(cat "$LOAXA_TOKEN_FILE")
# what a read file would show: a shadow line, a parse error, errno words
LEAK='root:|syntax|No such|Permission|PRIVATE|line [0-9]|[0-9]:'
for body in "{\"files\":[{\"path\":\"/etc/shadow\",\"name\":\"x.cfg\"}]}" \
	"{\"files\":[\"$KEY\"]}" "{\"files\":[{\"path\":\"/nonexistent/x.cfg\"}]}"; do
	for what in check apply; do
		code=$(http_status POST "/v1/schedule/$what" "$TOK" "$body")
		check "POST /v1/schedule/$what ${body:0:60}...: 400, the path refused, nothing of the file ($(head -c 120 "$T/resp.json"))" \
			bash -c "[ '$code' = 400 ] && grep -q 'gives a path: the controller reads no schedule file itself' '$T/resp.json'" &&
			check "... and nothing in the answer comes from the file" \
				bash -c "! grep -qE '$LEAK' '$T/resp.json'"
	done
done
# @include of the key, audio files naming the key or nothing: the same words
inc=$(jq -cn --arg k "$KEY" '{files: [{name: "i.cfg", text: ("items = ( );\n@include \"" + $k + "\"\n")}]}')
code=$(http_status POST /v1/schedule/check "$TOK" "$inc")
check "a text with @include of the key is refused at its line, unread ($(head -c 200 "$T/resp.json"))" \
	jq -e '.ok == false and (.errors | length == 1) and (.errors[0] | startswith("i.cfg:2: a line starting with '"'"'@'"'"' (@include) is not allowed"))' "$T/resp.json" >/dev/null
audio_of() {
	jq -cn --arg f "$1" '{files: [{name: "a.cfg", text: ("items = ( { id = \"a\"; content = \"" + $f +
		"\"; zones = [\"thon-1\"]; times = [\"06:00\"]; } );\n")}]}'
}
http_status POST /v1/schedule/check "$TOK" "$(audio_of "$KEY")" >/dev/null
a1=$(jq -r '.errors[0]' "$T/resp.json")
http_status POST /v1/schedule/check "$TOK" "$(audio_of /nonexistent/x.wav)" >/dev/null
a2=$(jq -r '.errors[0]' "$T/resp.json")
check "an audio \"file\" naming the key is not opened: \"$a1\"" \
	grep -q 'a.cfg:1: field "content": the file ".*controller.key" was not sent with the schedule' <<<"$a1"
NX=/nonexistent/x.wav
check "... the answer for a path that does not exist is the same" \
	[ "${a1//"$KEY"/X}" = "${a2//"$NX"/X}" ]
check "the controller's log shows no attempt to read any of them" \
	bash -c "! grep -E 'shadow|controller.key|nonexistent' '$T/controller/controller.log'" ||
	grep -E 'shadow|controller.key|nonexistent' "$T/controller/controller.log" | head -5 | sed 's/^/#   /'


stop_all_checked
finish
