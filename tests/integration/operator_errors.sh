#!/bin/bash
# Checks before work, errors an official understands (issue 16 point 8), with
# real parts: mosquitto on a loopback port, the controller, node n1 (thon-1).
#   - loaxa play FILE --zone unknown (and --node unknown, announce to an
#     unknown zone) is refused before the file is imported: nothing new in
#     the content list, and the message says what to check;
#   - an empty audio file: "FILE is empty (0 bytes): ... choose the recording
#     again", not the API's words about request bodies;
#   - a schedule file with a UTF-8 byte-order mark (Windows Notepad) is
#     accepted, through the CLI and through the API;
#   - Latin-1 text: refused naming the line and "save it as UTF-8";
#   - a NUL byte in a title: refused naming the line;
#   - announce --repeat 0 (and --gap, --volume) say which option is wrong and
#     its range, not only the usage line; a title with a tab names the
#     field (it was a bare "bad request").
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

TZ_SITE=Asia/Ho_Chi_Minh
hms_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" +%H:%M:%S; }
at_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" '+%Y-%m-%d %H:%M:%S'; }
cond() { eval "$1"; }
has() { grep -qF -- "$2" "$1"; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg "timezone = \"$TZ_SITE\";" \
	'zones = ( { name = "thon-1"; } );'
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1

speech "$T/a.wav" "Thông báo của ủy ban nhân dân xã." || exit 1
ncontent() { api_curl http://localhost/v1/content | jq '.content | length'; }

# ---------------------------------------------------------------- target first
n0=$(ncontent)
"$LOAXA" play "$T/a.wav" --zone unknown >"$T/p1.out" 2>&1
rc=$?
check "play FILE --zone unknown fails (exit $rc)" [ "$rc" != 0 ]
check "it names the zone and what to check" \
	cond 'has "$T/p1.out" "zone \"unknown\": no node is known in this zone" && has "$T/p1.out" "loaxa nodes"'
check "it says nothing was imported, and nothing was: $(ncontent) contents, as before ($n0)" \
	cond 'has "$T/p1.out" "nothing was imported" && [ "$(ncontent)" = "$n0" ] && ! has "$T/p1.out" "importing"'
"$LOAXA" play "$T/a.wav" --node n9 >"$T/p2.out" 2>&1
rc=$?
check "play FILE --node n9 (never seen) fails before the import (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/p2.out" "node \"n9\" is not known" && [ "$(ncontent)" = "$n0" ]'
"$LOAXA" announce "$T/a.wav" --at "$(at_in 600)" --zone unknown >"$T/a1.out" 2>&1
rc=$?
check "announce FILE --zone unknown fails before the import (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/a1.out" "no node is known in this zone" && [ "$(ncontent)" = "$n0" ]'
"$LOAXA" play "$T/a.wav" --zone thon-1 >"$T/p3.out" 2>&1
check "play FILE --zone thon-1 still works" has "$T/p3.out" "broadcast b-"

# ---------------------------------------------------------------- empty file
: >"$T/empty.mp3"
"$LOAXA" play "$T/empty.mp3" --zone thon-1 >"$T/e1.out" 2>&1
rc=$?
check "play of an empty file: \"is empty (0 bytes)\", \"choose the recording again\" (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/e1.out" "empty.mp3 is empty (0 bytes)" && has "$T/e1.out" "choose the recording again"'
check "... and not the API's words about request bodies" cond '! has "$T/e1.out" "request body"'
"$LOAXA" import "$T/empty.mp3" >"$T/e2.out" 2>&1
check "import of an empty file says the same" has "$T/e2.out" "is empty (0 bytes)"

# ---------------------------------------------------------------- schedule files
S=$T/schedules
mkdir -p "$S"
TS=$(hms_in 900)
printf '\xef\xbb\xbfitems = (\n  { id = "bom"; text = "Thông báo."; zones = ["thon-1"]; times = ["%s"]; }\n);\n' \
	"$TS" >"$S/bom.cfg"
( cd "$S" && "$LOAXA" schedule check bom.cfg ) >"$T/s1.out" 2>&1
rc=$?
check "a schedule file with a UTF-8 byte-order mark is accepted (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/s1.out" "schedule OK: 1 item" && ! has "$T/s1.out" "syntax error"'
sched_body "$S/bom.cfg" >"$T/bom.json"
api_curl -X POST -H 'Content-Type: application/json' --data-binary @"$T/bom.json" \
	http://localhost/v1/schedule/check >"$T/s1.json"
check "... and through the API: ok, no error" \
	jq -e '.ok == true and (.errors | length) == 0' "$T/s1.json"

printf 'items = (\n  { id = "l1"; title = "Th\xf4ng b\xe1o"; text = "x"; zones = ["thon-1"]; times = ["%s"]; }\n);\n' \
	"$TS" >"$S/latin1.cfg"
( cd "$S" && "$LOAXA" schedule check latin1.cfg ) >"$T/s2.out" 2>&1
rc=$?
check "a Latin-1 file is refused naming its line and what to do (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/s2.out" "latin1.cfg:2: the file is not UTF-8 text: save it as UTF-8"'

printf 'items = (\n  { id = "n1";\n    title = "Th\x00ng"; text = "x"; zones = ["thon-1"]; times = ["%s"]; }\n);\n' \
	"$TS" >"$S/nul.cfg"
( cd "$S" && "$LOAXA" schedule check nul.cfg ) >"$T/s3.out" 2>&1
rc=$?
check "a NUL byte in a title is refused naming its line (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/s3.out" "nul.cfg:3: the file holds a NUL byte (a zero byte) on line 3"'

# ---------------------------------------------------------------- options
"$LOAXA" announce --text "Họp thôn." --at "$(at_in 600)" --zone thon-1 --repeat 0 \
	>"$T/o1.out" 2>&1
rc=$?
check "announce --repeat 0 says \"--repeat must be 1 to 20\" (exit $rc)" \
	cond '[ "$rc" = 2 ] && has "$T/o1.out" "--repeat must be 1 to 20"'
"$LOAXA" announce --text "Họp thôn." --at "$(at_in 600)" --zone thon-1 --gap x \
	>"$T/o2.out" 2>&1
check "announce --gap x says \"--gap must be 0 to 3600\"" has "$T/o2.out" "--gap must be 0 to 3600"
"$LOAXA" announce --text "Họp thôn." --zone thon-1 >"$T/o3.out" 2>&1
check "announce without --at says to give --at" has "$T/o3.out" "say when with --at"
"$LOAXA" announce --text "Họp thôn." --at "2020-01-01 10:00" --zone thon-1 >"$T/o4.out" 2>&1
check "announce --at in the past says so and what to give" \
	cond 'has "$T/o4.out" "2020-01-01 10:00 is in the past: give a time from now"'
"$LOAXA" announce --text "Họp thôn." --at "$(at_in 600)" --zone thon-1 \
	--title "$(printf 'Họp\tthôn')" >"$T/o5.out" 2>&1
rc=$?
check "announce --title with a tab names the field and what to do (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/o5.out" "field \"title\" (loaxa announce --title) holds a control character" && ! has "$T/o5.out" "bad request"'

finish
