#!/bin/bash
# CAP 1.2 alerts from the province (docs/cap.md, issue 18 point 4), with
# real parts: mosquitto on a loopback port, the controller with a cap block
# (commune 08152 of district 227, province 25; village codes 08152-T1 ->
# thon-1, 08152-T2 -> thon-2; the source canhbao@pctt.phutho.gov.vn may send
# emergencies straight), nodes n1 (thon-1), n2 (thon-2), n3 (thon-3) on the
# paced test card. The alerts are the Vietnamese files of tests/cap/.
#   - the storm (Extreme, Immediate, Observed; villages T1 and T2): an
#     emergency in thon-1 and thon-2, spoken from its text by espeak-ng in
#     the decode worker: n1 and n2 sound it, n3 stays silent;
#   - importing it again is refused (409): no alert is imported twice;
#   - its Cancel stops both emergencies (the nodes confirm emergency_ended);
#   - the Exercise: a drill (d-..., the nodes log DRILL), never a real alarm;
#   - the rain bulletin for the district (priority): a draft by the source
#     "tinh-pctt", nothing played; the admin approves it: every node plays it;
#   - an alert with its own audio inline (derefUri, base64 of a WAV): that
#     audio is imported and played, not the text;
#   - over the HTTPS listener, an operator's session (with its CSRF token)
#     may submit: the source decides what waits, not the role;
#   - the polled feed: loaxa cap poll fetches a URL, posts what is new, asks
#     If-Modified-Since next time (304), and the dedup catches a repeat;
#   - refused, with the controller unchanged: the malformed alert (the line
#     and element named, in Vietnamese first with LANG=vi_VN.UTF-8), the one
#     for another province, the XXE attempt and billion laughs (nothing of
#     /etc/passwd anywhere), an unknown sender;
#   - the audit log names the source, the alert and why (the level's reason).
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

CAPDIR=$ROOT/tests/cap
start_broker || exit 1
keygen || exit 1
# the web console's HTTPS listener too: a gateway account posts there
WEBPORT=$(free_port)
mkdir -p "$T/www"
echo '<!doctype html><title>loaxa</title>' >"$T/www/index.html"
"$LOAXA" web-cert --dir "$T/web-tls" --host 127.0.0.1 >"$T/web-cert.log" 2>&1 ||
	{ fail "loaxa web-cert"; exit 1; }
write_controller_cfg \
	"web = { listen = \"127.0.0.1:$WEBPORT\"; cert = \"$T/web-tls/web.crt\"; key = \"$T/web-tls/web.key\"; root = \"$T/www\"; };" \
	'zones = ( { name = "thon-1"; }, { name = "thon-2"; }, { name = "thon-3"; } );' \
	'cap = { province = "25"; district = "227"; commune = "08152";' \
	'  areas = ( { code = "08152-T1"; zones = ["thon-1"]; }, { code = "08152-T2"; zones = ["thon-2"]; } );' \
	'  sources = ( { name = "tinh-pctt"; sender = "canhbao@pctt.phutho.gov.vn"; direct = ["emergency"]; } );' \
	'};'
start_controller || exit 1
i=1
for n in n1 n2 n3; do
	PACED=1 write_node_cfg "$n" "thon-$i"
	start_node "$n" || exit 1
	i=$((i + 1))
done
cond() { eval "$1"; }

# cap_import FILE NAME : loaxa cap import, JSON answer in $T/NAME.json, stderr in $T/NAME.err
cap_import() {
	"$LOAXA" cap import "$1" --json >"$T/$2.json" 2>"$T/$2.err"
}
sounded_since() { onsets "$1" | awk -v t="$2" '$1 >= t { f = 1 } END { exit !f }'; }

# ---------------------------------------------------------------- the storm
T0=$(now_ms)
cap_import "$CAPDIR/storm-emergency.xml" storm
rc=$?
check "loaxa cap import storm-emergency.xml exits 0 (state $(jq -r .state "$T/storm.json" 2>/dev/null))" \
	[ "$rc" = 0 ] || { sed 's/^/#   /' "$T/storm.json" "$T/storm.err"; dump_log "$T/controller/controller.log" 30; }
check "the storm went on air as a real emergency in thon-1 and thon-2, straight (source tinh-pctt)" \
	jq -e '.state == "on-air" and .level == "emergency" and .drill == false and .direct == true and
	       .target == "zone thon-1, thon-2" and (.result | length) == 2 and
	       all(.result[]; startswith("e-"))' "$T/storm.json"
E1=$(jq -r '.result[0]' "$T/storm.json")
E2=$(jq -r '.result[1]' "$T/storm.json")
active() { node_json "$1" | jq -e --arg a "$2" --arg b "$3" '.status.emergency.active.id == $a or .status.emergency.active.id == $b' >/dev/null; }
for n in n1 n2; do
	check "node $n sounds the storm emergency (status active $E1 or $E2)" wait_for 30 active "$n" "$E1" "$E2"
	check "node $n's paced speaker heard it" wait_for 10 sounded_since "$n" "$T0"
done
sleep 1
check "node n3 (thon-3, not in the alert) has no emergency" \
	[ "$(node_json n3 | jq -c .status.emergency.active)" = null ]
check "node n3's speaker stayed silent" bash -c "! [ -s '$T/n3/onsets.log' ]"
check "the emergency's content is the alert's text spoken (title is the headline)" \
	bash -c "'$LOAXA' content --json | jq -e '.content[] | select(.title == \"Khẩn cấp: bão số 9 đổ bộ\")' >/dev/null"

cap_import "$CAPDIR/storm-emergency.xml" storm2
check "the same alert again is refused: it is not imported twice" \
	grep -q "was received already: it is not imported twice" "$T/storm2.err"

# ---------------------------------------------------------------- its Cancel
cap_import "$CAPDIR/cancel.xml" cancel
check "the Cancel stops both emergencies of the storm" \
	jq -e --arg a "$E1" --arg b "$E2" '.state == "done" and (.stopped | sort) == ([$a, $b] | sort)' "$T/cancel.json" ||
	sed 's/^/#   /' "$T/cancel.json" "$T/cancel.err"
ended() { "$LOAXA" plays --broadcast "$1" --json | jq -e '[.plays[] | select(.type == "emergency_ended")] | length == 1' >/dev/null; }
check "n1 and n2 confirm the end (emergency_ended of $E1 and $E2)" cond "wait_for 15 ended $E1 && wait_for 15 ended $E2"
check "loaxa cap show: the storm is cancelled" bash -c "'$LOAXA' cap show 1 | grep -q 'cancelled'"

# ---------------------------------------------------------------- the Exercise
T1=$(now_ms)
cap_import "$CAPDIR/exercise.xml" drill
check "the Exercise is a drill (d-...) in thon-1, never a real alarm" \
	jq -e '.state == "on-air" and .drill == true and (.result | length) == 1 and (.result[0] | startswith("d-"))' "$T/drill.json" ||
	sed 's/^/#   /' "$T/drill.json" "$T/drill.err"
D=$(jq -r '.result[0]' "$T/drill.json")
check "n1 logs it as a DRILL" wait_for 20 grep -q "DRILL (exercise, not a real alarm) $D" "$T/n1/node.log"
check "n1 sounds the drill" wait_for 10 sounded_since n1 "$T1"
"$LOAXA" emergency stop "$D" >/dev/null 2>&1

# ---------------------------------------------------------------- the bulletin, through approval
cap_import "$CAPDIR/bulletin-priority.xml" bulletin
check "the district's rain bulletin is priority, for the whole commune, a draft (not on air)" \
	jq -e '.state == "draft" and .level == "priority" and .direct == false and .target == "all" and
	       (.result[0] | startswith("draft "))' "$T/bulletin.json" ||
	sed 's/^/#   /' "$T/bulletin.json" "$T/bulletin.err"
DR=$(jq -r '.result[0] | ltrimstr("draft ")' "$T/bulletin.json")
check "draft $DR is pending, written by the source tinh-pctt, level priority" \
	bash -c "'$LOAXA' drafts --json | jq -e --argjson d '${DR:-0}' '.drafts[] | select(.draft == \$d and .author == \"tinh-pctt\" and .level == \"priority\" and .state == \"pending\")' >/dev/null"
sleep 1
check "nothing of the bulletin was sent: no node has played anything but the emergencies" \
	bash -c "! '$LOAXA' plays --json | jq -e '.plays[] | select(.type == \"play_started\")' >/dev/null"
"$LOAXA" approve "$DR" --json >"$T/approve.json" 2>"$T/approve.err"
check "the admin approves draft $DR: it becomes a broadcast" jq -e '.broadcast.broadcast | startswith("b-")' "$T/approve.json" ||
	sed 's/^/#   /' "$T/approve.json" "$T/approve.err"
B=$(jq -r .broadcast.broadcast "$T/approve.json")
played_all() { "$LOAXA" plays --broadcast "$B" --json | jq -e '[.plays[] | select(.type == "play_finished") | .node] | sort == ["n1","n2","n3"]' >/dev/null; }
check "every node plays the approved bulletin to the end" wait_for 60 played_all

# ---------------------------------------------------------------- the alert's own audio
speech "$T/own.wav" "Đây là âm thanh riêng của bản tin tỉnh." || exit 1
base64 -w 76 "$T/own.wav" >"$T/own.b64"
# the resource goes before <area> (the schema's order); the base64 comes from
# a file (a command-line argument holds at most 128 KiB)
awk -v b64="$T/own.b64" '/<identifier>/ { sub(/0117/, "0120") }
	/<area>/ { print "<resource><resourceDesc>Bản tin ghi âm</resourceDesc><mimeType>audio/x-wav</mimeType><derefUri>"
		   while ((getline l < b64) > 0) print l
		   print "</derefUri></resource>" }
	{ print }' "$CAPDIR/storm-emergency.xml" >"$T/own.xml"
cap_import "$T/own.xml" own
check "an alert with inline audio goes on air" jq -e '.state == "on-air"' "$T/own.json" ||
	sed 's/^/#   /' "$T/own.json" "$T/own.err"
# the same bytes as the controller's import: same settings, same title tag
OWN=$("$LOAXA" encode "$T/own.wav" -o "$T/own.opus" --title "Khẩn cấp: bão số 9 đổ bộ" --json 2>/dev/null | jq -r .sha256)
EO=$(jq -r '.result[0]' "$T/own.json")
check "its emergency plays the alert's own audio (content ${OWN:0:12}, as loaxa encode makes it)" \
	bash -c "api_curl() { curl -s --unix-socket '$LOAXA_SOCKET' -H \"Authorization: Bearer \$(head -n1 '$LOAXA_TOKEN_FILE')\" \"\$@\"; }; api_curl 'http://localhost/v1/broadcasts/$EO' | jq -e --arg c '$OWN' '.content == \$c' >/dev/null"
"$LOAXA" emergency stop >/dev/null 2>&1

# ---------------------------------------------------------------- over HTTPS, as an operator
# the province's gateway: an operator account of every zone, a console session
printf 'gateway-pw-1\n' >"$T/gw.pw"
"$LOAXA" user add gw --role operator --all-zones --password-file "$T/gw.pw" >/dev/null ||
	fail "admin adds the operator gw"
URL=https://127.0.0.1:$WEBPORT
code=$(curl -s --cacert "$T/web-tls/ca.crt" -D "$T/h.txt" -o "$T/sess.json" -w '%{http_code}' \
	-H 'Content-Type: application/json' --data '{"user":"gw","password":"gateway-pw-1"}' "$URL/v1/session")
GWTOK=$(sed -n 's/^[Ss]et-[Cc]ookie: session=\([0-9a-f]*\);.*/\1/p' "$T/h.txt")
GWCSRF=$(jq -r .csrf "$T/sess.json" 2>/dev/null)
check "the operator gw logs in on the HTTPS listener ($code)" [ "$code" = 200 ] && [ -n "$GWTOK" ]
sed 's/PCTT-25-2026-0118/PCTT-25-2026-0122/' "$CAPDIR/bulletin-priority.xml" >"$T/https.xml"
code=$(curl -s --cacert "$T/web-tls/ca.crt" -o "$T/https.json" -w '%{http_code}' \
	-b "session=$GWTOK" --data-binary @"$T/https.xml" "$URL/v1/cap")
check "without the CSRF token, POST /v1/cap over HTTPS is refused ($code)" [ "$code" = 403 ]
code=$(curl -s --cacert "$T/web-tls/ca.crt" -o "$T/https.json" -w '%{http_code}' \
	-b "session=$GWTOK" -H "X-CSRF-Token: $GWCSRF" --data-binary @"$T/https.xml" "$URL/v1/cap")
check "with it, the operator's POST /v1/cap over HTTPS is accepted (202): the source decides, not the role" \
	[ "$code" = 202 ] || sed 's/^/#   /' "$T/https.json"
https_done() { "$LOAXA" cap list --json | jq -e '.alerts[] | select(.identifier == "PCTT-25-2026-0122" and .state == "draft" and .submitted_by == "gw")' >/dev/null; }
check "it became a draft by tinh-pctt, submitted by gw" wait_for 60 https_done

# ---------------------------------------------------------------- the polled feed
# a province's "current alert" URL on a loopback HTTP server; loaxa cap poll
# (its own process, not the controller's loop) posts what is new
mkdir -p "$T/feed"
sed 's/PCTT-25-2026-0118/PCTT-25-2026-0121/' "$CAPDIR/bulletin-priority.xml" >"$T/feed/current.xml"
touch -d '2026-12-07 16:00:00 UTC' "$T/feed/current.xml"
FEED_PORT=$(free_port)
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$T/feed" "$FEED_PORT" >"$T/feed.log" 2>&1 &
PID_OF[feed]=$!
STOP_ORDER+=(feed)
FEED=http://127.0.0.1:$FEED_PORT/current.xml
check "the feed's HTTP server answers" wait_for 10 curl -sf -o /dev/null "$FEED"
"$LOAXA" cap poll "$FEED" --interval 5 >"$T/poll.out" 2>"$T/poll.err" &
PID_OF[poll]=$!
STOP_ORDER+=(poll)
check "loaxa cap poll imports the feed's alert" wait_for 20 grep -q "CAP alert [0-9]* (PCTT-25-2026-0121): importing" "$T/poll.out" ||
	sed 's/^/#   /' "$T/poll.out" "$T/poll.err"
check "its next round asks If-Modified-Since and gets 304 (nothing fetched, nothing posted)" \
	wait_for 20 grep -q '"GET /current.xml HTTP/1.1" 304' "$T/feed.log"
stop poll
"$LOAXA" cap poll "$FEED" --once >"$T/poll2.out" 2>&1
check "a new poller (no date yet) fetches it again: the controller's dedup says seen before" \
	grep -q "seen before, not imported again" "$T/poll2.out"
"$LOAXA" cap poll "file:///etc/passwd" --once >"$T/poll3.out" 2>&1
check "cap poll takes only http(s) URLs" [ $? = 2 ]
stop feed

# ---------------------------------------------------------------- refusals
cap_import "$CAPDIR/malformed.xml" bad
rc=$?
check "malformed.xml is refused (exit $rc)" [ "$rc" = 1 ]
check "the refusal names line 13 and element /alert/info[1]/urgency" \
	grep -q "refused at line 13, element /alert/info\[1\]/urgency" "$T/bad.err" || sed 's/^/#   /' "$T/bad.err"
LANG=vi_VN.UTF-8 LOAXA_LOCALEDIR=$LOAXA_BIN/locale "$LOAXA" cap import "$CAPDIR/malformed.xml" 2>"$T/bad-vi.err"
check "in Vietnamese first: 'bị từ chối tại dòng 13, phần tử /alert/info[1]/urgency'" \
	grep -q "cảnh báo CAP bị từ chối tại dòng 13, phần tử /alert/info\[1\]/urgency" "$T/bad-vi.err" ||
	sed 's/^/#   /' "$T/bad-vi.err"
check "... and the schema's reason, in Vietnamese words around it ('dòng 13, phần tử')" \
	grep -q "dòng 13, phần tử /alert/info\[1\]/urgency: Element 'urgency'" "$T/bad-vi.err"
cap_import "$CAPDIR/other-province.xml" other
check "the alert for province 26 is refused naming its code and ours" \
	grep -q "for another area (VN-ADMIN 26), not for this commune (08152, district 227, province 25)" "$T/other.err" ||
	sed 's/^/#   /' "$T/other.err"
for f in xxe billion-laughs; do
	cap_import "$CAPDIR/$f.xml" "$f"
	check "$f.xml is refused: a DOCTYPE or ENTITY is not allowed" grep -q "DOCTYPE or ENTITY declaration is not allowed" "$T/$f.err"
done
sed 's|canhbao@pctt.phutho.gov.vn|ai-do@example.com|; s|0117|0999|' "$CAPDIR/storm-emergency.xml" >"$T/stranger.xml"
cap_import "$T/stranger.xml" stranger
check "an alert from an unknown sender is refused" grep -q 'sender "ai-do@example.com" is not a CAP source' "$T/stranger.err"
check "the controller is still up and answers" api_up
check "nothing of /etc/passwd reached the controller's log or database" \
	bash -c "! grep -q 'root:x:0:0' '$T/controller/controller.log' && ! grep -aq 'root:x:0:0' '$T/controller/state/loaxa.db'"
check "none of the refused alerts was recorded (storm, cancel, drill, bulletin, own, https, feed: 7)" \
	[ "$("$LOAXA" cap list --json | jq '.alerts | length')" = 7 ]

# ---------------------------------------------------------------- audit
"$LOAXA" audit --limit 500 --json >"$T/audit.json"
check "audit: the storm's receipt names the source, the alert and why it is an emergency" \
	jq -e '.[] | select(.action == "CAP alert received" and (.detail | contains("PCTT-25-2026-0117")) and
	       (.detail | contains("source tinh-pctt")) and (.detail | contains("severity Extreme, urgency Immediate, certainty Observed -> emergency")))' "$T/audit.json"
check "audit: draft $DR submitted by tinh-pctt" \
	jq -e '.[] | select(.action == "draft submitted" and .user == "tinh-pctt")' "$T/audit.json"
check "audit: the emergencies were started by tinh-pctt" \
	jq -e '[.[] | select(.action == "POST /v1/emergency" and .user == "tinh-pctt")] | length >= 2' "$T/audit.json"
finish
