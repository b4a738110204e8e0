#!/bin/bash
# Allowed hours warn, and nothing is silently allowed (issue 16 point 5;
# docs/schedules.md "Allowed hours"), with real parts: mosquitto on a loopback
# port, the controller, nodes n1 (zone quiet) and n2 (zone thon-1).
# Zone quiet may broadcast only in a span of hours built from the current
# Vietnam time (from now+3h to now+4h, whole hours, wrapping past midnight),
# so the test means the same at any hour:
#   - loaxa play / live / announce to quiet (or to n1, which is in it) are
#     refused with the reason (the zone, its hours, the time) and nothing is
#     sent; the same to thon-1 goes through;
#   - with --outside-hours (API "outside_hours": true) they go through, n1
#     plays, and the audit log has an "outside-hours" entry naming who and
#     what; an announcement inside quiet's hours needs no confirmation;
#   - loaxa schedule check gives a play in quiet now as a warning (exit 0),
#     apply refuses it (nothing applied) until --outside-hours confirms it;
#   - an emergency (play --level emergency, emergency start, an emergency
#     schedule item) is never refused for the hours.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

TZ_SITE=Asia/Ho_Chi_Minh
hms_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" +%H:%M:%S; }
hh_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" +%H; }
at_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" '+%Y-%m-%d %H:%M:%S'; }
cond() { eval "$1"; }
has() { grep -qF -- "$2" "$1"; }

start_broker || exit 1
keygen || exit 1
# [hh(now+3h):00, hh(now+4h):00): one hour that never holds the next two hours
QUIET="$(hh_in 10800):00-$(hh_in 14400):00"
diag "zone quiet: allowed_hours $QUIET; now $(TZ=$TZ_SITE date +%H:%M:%S) in $TZ_SITE"
write_controller_cfg "timezone = \"$TZ_SITE\";" \
	"zones = ( { name = \"thon-1\"; allowed_hours = \"00:00-24:00\"; }," \
	"          { name = \"quiet\"; allowed_hours = \"$QUIET\"; } );"
start_controller || exit 1
write_node_cfg n1 quiet
write_node_cfg n2 thon-1
start_node n1 || exit 1
start_node n2 || exit 1

speech "$T/a.wav" "Thông báo của ủy ban nhân dân xã." || exit 1
A=$("$LOAXA" import "$T/a.wav" 2>/dev/null)
check "content imported (${A:0:12})" [ "${#A}" = 64 ]
nbroadcasts() { api_curl http://localhost/v1/broadcasts | jq '.broadcasts | length'; }
audit_has() { # ACTION TARGET-SUBSTRING: one entry by admin, allowed, with a time
	"$LOAXA" audit --limit 500 --json | jq -e --arg a "$1" --arg t "$2" \
		'[.[] | select(.action == $a and .user == "admin" and .ts > 0 and
		  .result == "allowed" and (.target | contains($t)))] | length >= 1' >/dev/null
}

# ---------------------------------------------------------------- play
n0=$(nbroadcasts)
"$LOAXA" play "$A" --zone quiet >"$T/p1.out" 2>&1
rc=$?
check "play to zone quiet outside its hours is refused (exit $rc)" [ "$rc" != 0 ]
for want in "outside the allowed hours" "zone quiet may broadcast only $QUIET" \
	"($TZ_SITE time)" "--outside-hours" "Nothing was sent"; do
	check "the refusal says: $want" has "$T/p1.out" "$want"
done
check "the refusal names the time of the play ($(TZ=$TZ_SITE date +%Y-%m-%d))" \
	has "$T/p1.out" "would play on $(TZ=$TZ_SITE date '+%a %Y-%m-%d')"
"$LOAXA" play "$A" --node n1 >"$T/p2.out" 2>&1
rc=$?
check "play to node n1 (in zone quiet) is refused too (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/p2.out" "zone quiet may broadcast only"'
check "no broadcast was stored by the refusals" [ "$(nbroadcasts)" = "$n0" ]
"$LOAXA" play "$A" --zone thon-1 >"$T/p3.out" 2>&1
check "play to zone thon-1 (allowed all day) goes through" has "$T/p3.out" "broadcast b-"

capture_mark n1
"$LOAXA" play "$A" --zone quiet --outside-hours --wait=60 >"$T/p4.out" 2>&1
rc=$?
check "play --outside-hours to zone quiet is played by n1 (exit $rc)" \
	cond '[ "$rc" = 0 ] && grep -q "^n1 .*finished" "$T/p4.out"'
check "n1 sounded the confirmed play" capture_nonsilent_since n1
check "the audit log has the confirmation: outside-hours, admin, zone quiet" \
	audit_has outside-hours "zone quiet"
check "the controller's log has the confirmation" \
	grep -q "outside allowed hours, confirmed by admin" "$T/controller/controller.log"

code=$(http_status POST /v1/broadcasts "$(head -n1 "$LOAXA_TOKEN_FILE")" \
	"{\"content\":\"$A\",\"zone\":\"quiet\"}")
check "API: POST /v1/broadcasts to quiet is 409 with the reason ($code)" \
	cond '[ "$code" = 409 ] && jq -e ".error | contains(\"zone quiet may broadcast only\")" "$T/resp.json" >/dev/null'
code=$(http_status POST /v1/broadcasts "$(head -n1 "$LOAXA_TOKEN_FILE")" \
	"{\"content\":\"$A\",\"zone\":\"quiet\",\"outside_hours\":true}")
check "API: with \"outside_hours\": true it is 201 ($code)" [ "$code" = 201 ]

"$LOAXA" play "$A" --zone quiet --level emergency >"$T/p5.out" 2>&1
rc=$?
check "an emergency-level play to quiet is not refused for the hours (exit $rc)" \
	cond '[ "$rc" = 0 ] && ! has "$T/p5.out" "allowed hours"'

# ---------------------------------------------------------------- live
"$LOAXA" live --zone quiet --file "$T/a.wav" >"$T/l1.out" 2>&1
rc=$?
check "live to zone quiet is refused with the reason (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/l1.out" "zone quiet may broadcast only $QUIET" && has "$T/l1.out" "--outside-hours"'
"$LOAXA" live --zone quiet --file "$T/a.wav" --outside-hours >"$T/l2.out" 2>&1
rc=$?
check "live --outside-hours to zone quiet runs (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/l2.out" "ended: l-"'
check "the audit log has the live confirmation" audit_has outside-hours "live zone quiet"

# ---------------------------------------------------------------- announce
TA=$(at_in 600)
"$LOAXA" announce "$A" --at "$TA" --zone quiet --title "Họp thôn" >"$T/a1.out" 2>&1
rc=$?
check "announce to quiet at $TA is refused (exit $rc)" [ "$rc" != 0 ]
check "the announce refusal warns: outside the allowed hours of zone quiet ($QUIET)" \
	has "$T/a1.out" "outside the allowed hours of zone quiet ($QUIET)"
check "the announce refusal says: nothing was stored, confirm with --outside-hours" \
	cond 'has "$T/a1.out" "nothing was stored" && has "$T/a1.out" "--outside-hours"'
check "no announcement is in the schedule" \
	cond '! "$LOAXA" schedule list --days 2 --json | grep -q "Họp thôn"'
# repeats count: the first play in the hours, the second outside them
"$LOAXA" announce "$A" --at "$TA" --zone quiet --title "Họp thôn" --outside-hours \
	>"$T/a2.out" 2>&1
rc=$?
check "announce --outside-hours is stored (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/a2.out" "announcement a-"'
check "the audit log has the announcement's confirmation" \
	audit_has outside-hours "announcement \"Họp thôn\""
TIN=$(TZ=$TZ_SITE date -d "@$(( $(date +%s) + 10800 ))" '+%Y-%m-%d %H:30:00')
"$LOAXA" announce "$A" --at "$TIN" --zone quiet --title "Trong giờ" >"$T/a3.out" 2>&1
rc=$?
check "announce to quiet at $TIN (inside $QUIET) needs no confirmation (exit $rc)" \
	cond '[ "$rc" = 0 ] && ! has "$T/a3.out" "allowed hours"'
"$LOAXA" announce "$A" --at "$TA" --zone quiet --level emergency --title "Khẩn" \
	>"$T/a4.out" 2>&1
rc=$?
check "an emergency announcement to quiet is not refused (exit $rc)" \
	cond '[ "$rc" = 0 ] && ! has "$T/a4.out" "allowed hours"'

# ---------------------------------------------------------------- schedule
S=$T/schedules
mkdir -p "$S/audio"
cp "$T/a.wav" "$S/audio/notice.wav"
TS=$(hms_in 900)
cat >"$S/week.cfg" <<EOF
items = (
  { id = "day"; content = "audio/notice.wav"; zones = ["thon-1"]; times = ["$TS"]; },
  { id = "late"; content = "audio/notice.wav"; zones = ["quiet"]; times = ["$TS"]; },
  { id = "storm"; content = "audio/notice.wav"; zones = ["quiet"]; times = ["$TS"];
    level = "emergency"; }
);
EOF
( cd "$S" && "$LOAXA" schedule check week.cfg ) >"$T/s1.out" 2>&1
rc=$?
check "schedule check: a play in quiet now is a warning, not an error (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/s1.out" "warning: week.cfg:3: field \"times\": item \"late\""'
check "the warning names the zone, its hours and what to do" \
	cond 'has "$T/s1.out" "outside the allowed hours of zone quiet ($QUIET)" && has "$T/s1.out" "--outside-hours"'
check "the emergency item gets no hours warning" \
	cond '! grep -q "item \"storm\".*allowed hours" "$T/s1.out"'
( cd "$S" && "$LOAXA" schedule apply week.cfg ) >"$T/s2.out" 2>&1
rc=$?
check "schedule apply refuses while the warning stands (exit $rc)" \
	cond '[ "$rc" != 0 ] && has "$T/s2.out" "not applied, nothing changed" && has "$T/s2.out" "1 play would be outside the allowed hours"'
check "nothing of week.cfg is in the schedule" \
	cond '! "$LOAXA" schedule list --days 2 --json | grep -q "\"late\""'
( cd "$S" && "$LOAXA" schedule apply week.cfg --outside-hours ) >"$T/s3.out" 2>&1
rc=$?
check "schedule apply --outside-hours applies it (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/s3.out" "applied: 3 items"'
check "the audit log has the apply's confirmation" audit_has outside-hours "schedule apply week.cfg"

# ---------------------------------------------------------------- emergency
"$LOAXA" emergency start "$T/a.wav" --zone quiet --max 30s --timeout 10 >"$T/e1.out" 2>&1
rc=$?
check "emergency start to zone quiet outside its hours is not refused (exit $rc)" \
	cond '[ "$rc" = 0 ] && ! has "$T/e1.out" "allowed hours"'
E=$(grep -o 'e-[0-9-]*' "$T/e1.out" | head -1)
# no id: every active one, the plays at level emergency of this test too,
# whose confirmations the stop follows as well
"$LOAXA" emergency stop --timeout 10 >"$T/e2.out" 2>&1
rc=$?
check "emergency stop (every active one, $E among them) confirms (exit $rc)" \
	cond '[ "$rc" = 0 ] && has "$T/e2.out" "$E" && ! has "$T/e2.out" "cannot follow"' ||
	dump_log "$T/e2.out"

finish
