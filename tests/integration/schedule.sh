#!/bin/bash
# Schedules, controller side, with real parts: mosquitto on a loopback port,
# the controller, one node (n1 in thon-1, n2 in thon-2).
#   - loaxa schedule check: a good file passes; bad files get file:line
#     errors (unknown field, bad time, unknown zone, missing file, outside
#     the allowed hours, overlapping emergencies) and a conflict is listed;
#   - loaxa schedule apply is all or nothing: one bad file changes nothing;
#   - after apply, each node's plan is retained on node/<id>/plan, signed
#     (checked like a node does, tests/tools/openenv), and holds exactly
#     the node's occurrences; a changed schedule publishes a new plan with a
#     higher sequence; the same apply again changes nothing;
#   - loaxa schedule list, announce (text spoken by espeak-ng), cancel;
#   - a play event carrying "occurrence" marks that play played;
#   - readiness names a node that has not acknowledged its plan.
source "$(dirname "$0")/../lib.sh"
OPENENV=$LOAXA_BIN/tools/openenv
need "$LOAXA" "$CONTROLLER" "$NODE" "$OPENENV"

TZ_SITE=Asia/Ho_Chi_Minh
# local HH:MM:SS and date of now + N seconds, in the site's time zone
hms_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" +%H:%M:%S; }
date_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%d; }
hh_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" +%H; }

start_broker || exit 1
keygen || exit 1
# zone "quiet": allowed only in an hour that does not include the next minutes
QUIET="$(hh_in 10800):00-$(hh_in 14400):00"
write_controller_cfg "timezone = \"$TZ_SITE\";" \
	"zones = ( { name = \"thon-1\"; allowed_hours = \"00:00-24:00\"; }," \
	"          { name = \"thon-2\"; }, { name = \"quiet\"; allowed_hours = \"$QUIET\"; } );"
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-2
start_node n1 || exit 1
start_node n2 || exit 1

S=$T/schedules
mkdir -p "$S/audio"
speech "$S/audio/notice.wav" "Thông báo của ủy ban nhân dân xã." || exit 1

T1=$(hms_in 600)
T2=$(hms_in 900)
cat >"$S/week.cfg" <<EOF
# a test week
items = (
  { id = "notice"; title = "Thông báo"; content = "audio/notice.wav";
    zones = ["thon-1"]; times = ["$T1"]; repeat = 2; gap_s = 5; },
  { id = "campaign"; title = "Tuyên truyền"; text = "Bà con chú ý phòng chống bão.";
    nodes = ["n2"]; times = ["$T2"]; level = "priority"; chime = true; }
);
EOF

# ---------------------------------------------------------------- check

"$LOAXA" schedule check "$S/week.cfg" >"$T/check.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q 'schedule OK: 2 items' "$T/check.out"; then
	ok "loaxa schedule check accepts a good file (2 items)"
else
	fail "loaxa schedule check accepts a good file (status $rc)"
	sed 's/^/#   /' "$T/check.out"
fi

cat >"$S/bad.cfg" <<'EOF'
items = (
  { id = "a"; content = "audio/notice.wav"; zones = ["thon-1"];
    times = ["25:00"]; colour = "red"; },
  { id = "b"; content = "audio/missing.mp3"; zones = ["thon-9"]; times = ["06:00"]; },
  { id = "c"; content = "audio/notice.wav"; zones = ["thon-1"]; times = ["06:00"];
    level = "loud"; }
);
EOF
( cd "$S" && "$LOAXA" schedule check bad.cfg ) >"$T/bad.out" 2>&1
rc=$?
check "loaxa schedule check of a bad file exits 1" [ "$rc" = 1 ]
for want in \
	'bad.cfg:3: field "times": "25:00" is not a time of day (use HH:MM or HH:MM:SS, 00:00 to 23:59)' \
	'bad.cfg:3: field "colour": unknown field (a typo?)' \
	'bad.cfg:4: field "content": the file "audio/missing.mp3" does not exist' \
	'bad.cfg:6: field "level": "loud" is not a level: use relay, normal, priority or emergency'; do
	if grep -qF "$want" "$T/bad.out"; then
		ok "check names $(echo "$want" | cut -d: -f1-3)"
	else
		not_ok "check says: $want"
		sed 's/^/#   /' "$T/bad.out"
	fi
done

# errors that need the world: unknown zone, allowed hours, two emergencies
TQ=$(hms_in 420)
cat >"$S/world.cfg" <<EOF
items = (
  { id = "x"; content = "audio/notice.wav"; zones = ["thon-9"]; times = ["06:00"]; },
  { id = "late"; content = "audio/notice.wav"; zones = ["quiet"];
    times = ["$TQ"]; },
  { id = "e1"; content = "audio/notice.wav"; zones = ["thon-1"]; times = ["$TQ"];
    level = "emergency"; },
  { id = "e2"; content = "audio/notice.wav"; nodes = ["n1"]; times = ["$TQ"];
    level = "emergency"; }
);
EOF
( cd "$S" && "$LOAXA" schedule check world.cfg ) >"$T/world.out" 2>&1
rc=$?
check "loaxa schedule check of world.cfg exits 1" [ "$rc" = 1 ]
for want in \
	'world.cfg:2: field "zones": item "x": zone "thon-9" is unknown' \
	"world.cfg:4: field \"times\": item \"late\" on " \
	"outside the allowed hours of zone quiet ($QUIET)" \
	'world.cfg:7: field "times": emergency item "e2" overlaps emergency item "e1"'; do
	if grep -qF "$want" "$T/world.out"; then
		ok "check says: ${want:0:60}"
	else
		not_ok "check says: $want"
		sed 's/^/#   /' "$T/world.out"
	fi
done

# a conflict that is not an error: which wins and why
cat >"$S/conflict.cfg" <<EOF
items = (
  { id = "first"; content = "audio/notice.wav"; zones = ["thon-1"]; times = ["$TQ"]; },
  { id = "second"; content = "audio/notice.wav"; nodes = ["n1"]; times = ["$TQ"]; }
);
EOF
( cd "$S" && "$LOAXA" schedule check conflict.cfg ) >"$T/conflict.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q 'conflict: conflict.cfg:2 "first" and conflict.cfg:3 "second" overlap' "$T/conflict.out" &&
	grep -q '"second" (normal) waits for "first" (normal) (same level: first come, first played): it starts' "$T/conflict.out"; then
	ok "check lists an equal-level overlap as a conflict: queued, with the delay"
else
	not_ok "check lists an equal-level overlap as a conflict (status $rc)"
	sed 's/^/#   /' "$T/conflict.out"
fi

# the example week of schedules/ stays valid (its audio made here)
E=$T/example
mkdir -p "$E/audio"
cp "$ROOT/schedules/tuan-mau.cfg" "$E/"
speech "$E/audio/sang.wav" "Chương trình phát thanh buổi sáng." &&
	ffmpeg -loglevel error -i "$E/audio/sang.wav" "$E/audio/chuong-trinh-sang.mp3" &&
	cp "$E/audio/chuong-trinh-sang.mp3" "$E/audio/chuong-trinh-chieu.mp3" &&
	cp "$S/audio/notice.wav" "$E/audio/thong-bao-tiem-phong.wav" || not_ok "example audio made"
( cd "$E" && "$LOAXA" schedule check tuan-mau.cfg ) >"$T/example.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q 'schedule OK: 4 items' "$T/example.out"; then
	ok "the example week schedules/tuan-mau.cfg checks OK"
else
	not_ok "the example week schedules/tuan-mau.cfg checks OK (status $rc)"
	sed 's/^/#   /' "$T/example.out"
fi

# ---------------------------------------------------------------- apply

"$LOAXA" schedule apply "$S/week.cfg" "$S/bad.cfg" >"$T/apply-bad.out" 2>&1
rc=$?
n=$("$LOAXA" schedule list --days 2 --json 2>/dev/null | jq '.occurrences | length')
if [ "$rc" = 1 ] && [ "$n" = 0 ] && grep -q 'not applied, nothing changed' "$T/apply-bad.out"; then
	ok "apply of a good and a bad file changes nothing (exit 1, no plays listed)"
else
	not_ok "apply of a good and a bad file changes nothing (status $rc, $n plays)"
	sed 's/^/#   /' "$T/apply-bad.out"
fi

# n2 goes offline before its first plan is made: a node that was away when
# its plan changed must show up in `loaxa readiness` (a running node
# acknowledges the plans it gets, as plan.seq in its status).
stop_checked n2
"$LOAXA" schedule apply "$S/week.cfg" >"$T/apply.out" 2>&1
rc=$?
if [ "$rc" = 0 ] && grep -q '^applied: 2 items' "$T/apply.out"; then
	ok "loaxa schedule apply week.cfg"
else
	fail "loaxa schedule apply week.cfg (status $rc)"
	sed 's/^/#   /' "$T/apply.out"
fi

# plan_of NODE : the node's retained plan, checked like a node does; body in
# $T/plan-NODE.json, "type seq issued expires" in $T/plan-NODE.meta
plan_of() {
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$1/plan" \
		-C 1 -W 5 -N >"$T/plan-$1.bin" 2>/dev/null || return 1
	"$OPENENV" --pub "$T/keys/controller.pub" --site "$SITE" <"$T/plan-$1.bin" \
		>"$T/plan-$1.json" 2>"$T/plan-$1.meta"
}
plan_seq() { awk '{ print $2 }' "$T/plan-$1.meta"; }

if wait_for 10 plan_of n1 && jq -e . "$T/plan-n1.json" >/dev/null; then
	ok "n1's plan is on the broker, signed with the controller key"
else
	fail "n1's plan is on the broker, signed ($(cat "$T/plan-n1.meta" 2>/dev/null))"
fi
retain=$(mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/n1/plan" \
	-C 1 -W 5 -F '%r' 2>/dev/null)
check "the plan is retained" [ "$retain" = 1 ]
check "the envelope is of type plan" grep -q '^plan ' "$T/plan-n1.meta"
D1=$(date_in 600 | tr -d -)
want1="o-notice-$D1-$(echo "$T1" | tr -d : | sed 's/00$//' | cut -c1-6)-1"
ids=$(jq -r '[.items[] | select(.item == "notice") | .id] | join(" ")' "$T/plan-n1.json")
if [ "$(jq '[.items[] | select(.item == "notice")] | length' "$T/plan-n1.json")" -ge 2 ] &&
	[ "$(jq '[.items[] | select(.item == "campaign")] | length' "$T/plan-n1.json")" = 0 ] &&
	jq -e '.node == "n1" and (.items[0] | .content | test("^[0-9a-f]{64}$")) and
		(.items[0].expires - .items[0].at == 600000) and .horizon > .generated' \
		"$T/plan-n1.json" >/dev/null; then
	ok "n1's plan has the notice twice a day (repeat 2), not n2's campaign ($ids)"
else
	not_ok "n1's plan has its items only"
	sed 's/^/#   /' "$T/plan-n1.json"
fi
a1=$(jq '[.items[] | select(.item == "notice")][0].at' "$T/plan-n1.json")
a2=$(jq '[.items[] | select(.item == "notice")][1].at' "$T/plan-n1.json")
d=$(jq '[.items[] | select(.item == "notice")][0].duration_ms' "$T/plan-n1.json")
check "the repeat starts duration + 5 s gap after the first ($a1 $a2 $d)" \
	[ "$(( a2 - a1 ))" = "$(( d + 5000 ))" ]
if wait_for 10 plan_of n2 && jq -e '[.items[] | select(.item == "campaign" and .level ==
	"priority" and (.chime | test("^[0-9a-f]{64}$")) and .chime_bytes > 0)] | length >= 1' \
	"$T/plan-n2.json" >/dev/null; then
	ok "n2's plan has the spoken campaign, priority, with the default chime"
else
	not_ok "n2's plan has the spoken campaign with a chime"
	sed 's/^/#   /' "$T/plan-n2.json"
fi

"$LOAXA" schedule list --days 2 --node n1 >"$T/list.out" 2>&1
if grep -q "notice" "$T/list.out" && grep -q "Thông báo" "$T/list.out" &&
	grep -q "$(date_in 600) $T1" "$T/list.out" && ! grep -q campaign "$T/list.out"; then
	ok "loaxa schedule list --node n1 shows the notice at $T1 local time"
else
	not_ok "loaxa schedule list --node n1 shows the notice at $T1"
	sed 's/^/#   /' "$T/list.out"
fi

# checking the applied files again: still fine (check = what apply would do)
"$LOAXA" schedule check "$S/week.cfg" >"$T/recheck.out" 2>&1
check "checking the files already applied passes" [ $? = 0 ]

# the same apply again: imports nothing, no new plan
seq1=$(plan_seq n1)
imports=$(log_count "$T/controller/controller.log" 'importing ')
"$LOAXA" schedule apply "$S/week.cfg" >/dev/null 2>&1
sleep 1
plan_of n1
check "applying the same files again imports nothing" \
	[ "$(log_count "$T/controller/controller.log" 'importing ')" = "$imports" ]
check "applying the same files again keeps the same plan (seq $seq1)" [ "$(plan_seq n1)" = "$seq1" ]

# a change: a new plan, higher sequence, with the new time
T3=$(hms_in 1200)
sed -i "s/times = \[\"$T1\"\]/times = [\"$T3\"]/" "$S/week.cfg"
"$LOAXA" schedule apply "$S/week.cfg" >/dev/null 2>&1
newplan() { plan_of n1 && [ "$(plan_seq n1)" -gt "$seq1" ]; }
if wait_for 10 newplan && jq -e --arg t "$T3" '[.items[] | select(.item == "notice")] | length >= 2' \
	"$T/plan-n1.json" >/dev/null; then
	ok "a changed schedule publishes a new plan (seq $seq1 -> $(plan_seq n1))"
else
	not_ok "a changed schedule publishes a new plan"
fi

# ---------------------------------------------------------------- announce, cancel

TA=$(date_in 1800)" "$(hms_in 1800)
"$LOAXA" announce --text "Mời bà con họp thôn." --at "$TA" --zone thon-1 --repeat 3 --gap 10 \
	--title "Họp thôn" >"$T/ann.out" 2>&1
rc=$?
AID=$(sed -n 's/^announcement \(a-[0-9-]*\) .*/\1/p' "$T/ann.out")
if [ "$rc" = 0 ] && [ -n "$AID" ] && grep -q '3 plays' "$T/ann.out"; then
	ok "loaxa announce --text --at --repeat 3 stores $AID"
else
	fail "loaxa announce --text (status $rc)"
	sed 's/^/#   /' "$T/ann.out"
fi
seq2=$(plan_seq n1)
ann_in_plan() { plan_of n1 && [ "$(jq --arg a "$AID" '[.items[] | select(.item == $a)] | length' "$T/plan-n1.json")" = 3 ]; }
check "the announcement is in n1's plan 3 times" wait_for 10 ann_in_plan
n=$("$LOAXA" schedule list --date "$(date_in 1800)" --node n1 --json | jq --arg a "$AID" '[.occurrences[] | select(.item == $a)] | length')
check "loaxa schedule list shows its 3 plays" [ "$n" = 3 ]
"$LOAXA" announce --text "x" --at "2020-01-01 10:00" --all >"$T/ann-past.out" 2>&1
check "announce in the past is refused" [ $? != 0 ]
"$LOAXA" cancel "$AID" >"$T/cancel.out" 2>&1
ann_gone() { plan_of n1 && [ "$(jq --arg a "$AID" '[.items[] | select(.item == $a)] | length' "$T/plan-n1.json")" = 0 ]; }
if grep -q "cancelled announcement $AID" "$T/cancel.out" && wait_for 10 ann_gone; then
	ok "loaxa cancel $AID removes it from the plan"
else
	not_ok "loaxa cancel $AID removes it from the plan"
	sed 's/^/#   /' "$T/cancel.out"
fi
OCC=$(jq -r '[.items[] | select(.item == "notice")][0].id' "$T/plan-n1.json")
"$LOAXA" cancel "$OCC" >/dev/null 2>&1
occ_gone() { plan_of n1 && ! grep -q "\"$OCC\"" "$T/plan-n1.json"; }
check "loaxa cancel $OCC drops that one play" wait_for 10 occ_gone
state=$("$LOAXA" schedule list --days 2 --node n1 --json | jq -r --arg o "$OCC" '.occurrences[] | select(.occurrence == $o) | .state')
check "list shows $OCC cancelled" [ "$state" = cancelled ]

# ---------------------------------------------------------------- results, readiness

OCC2=$(jq -r '[.items[] | select(.item == "notice")][0].id' "$T/plan-n1.json")
AT2=$(jq -r '[.items[] | select(.item == "notice")][0].at' "$T/plan-n1.json")
ev() {
	printf '{"id":"n1-99-%s","node":"n1","boot":99,"type":"%s","ts":%s,"occurrence":"%s","scheduled":%s,"start":%s,"duration_ms":1500,"end":"finished"}' \
		"$1" "$2" "$(now_ms)" "$OCC2" "$AT2" "$AT2"
}
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "loaxa/$SITE/node/n1/event" -m "$(ev 1 play_started)"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "loaxa/$SITE/node/n1/event" -m "$(ev 2 play_finished)"
played() {
	[ "$("$LOAXA" schedule list --days 2 --node n1 --json | jq -r --arg o "$OCC2" '.occurrences[] | select(.occurrence == $o) | .state')" = played ]
}
check "a play_finished event with occurrence $OCC2 shows it played" wait_for 10 played

"$LOAXA" readiness >"$T/ready.out" 2>&1
if grep -q 'n2 .*campaign .*plan not acknowledged' "$T/ready.out"; then
	ok "loaxa readiness: n2, offline when its plan was made, has not acknowledged it"
else
	not_ok "loaxa readiness names n2's unacknowledged plan"
	sed 's/^/#   /' "$T/ready.out"
fi
n=$("$LOAXA" readiness --json | jq --arg o "$OCC2" '[.missing[] | select(.occurrence == $o)] | length')
check "readiness does not list a play already played" [ "$n" = 0 ]

# a node offline when the plan changes is flagged before air time
stop n2
n2_off() { ! node_online n2; }
wait_for 10 n2_off
T4=$(hms_in 1500)
sed -i "s/nodes = \[\"n2\"\]; times = \[\"$T2\"\]/nodes = [\"n2\"]; times = [\"$T4\"]/" "$S/week.cfg"
"$LOAXA" schedule apply "$S/week.cfg" >/dev/null 2>&1
"$LOAXA" readiness --json >"$T/ready2.json" 2>&1
if jq -e --arg t "$(date_in 1500) $T4" '[.missing[] | select(.node == "n2" and .item == "campaign" and
	.local == $t and (.reasons | map(test("^offline since ")) | any) and
	(.reasons | map(test("^plan not acknowledged")) | any))] | length == 1' "$T/ready2.json" >/dev/null; then
	ok "readiness flags n2, offline when its plan changed: offline since, plan not acknowledged"
else
	not_ok "readiness flags n2, offline when its plan changed"
	sed 's/^/#   /' "$T/ready2.json"
fi

# an operator scoped to thon-2: no announcement to thon-1, no apply there
head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$T/op2.pw"
"$LOAXA" user add op2 --role operator --zone thon-2 --password-file "$T/op2.pw" >/dev/null 2>&1
if LOAXA_TOKEN_FILE=$T/op2-token "$LOAXA" login op2 --password-file "$T/op2.pw" >/dev/null 2>&1; then
	LOAXA_TOKEN_FILE=$T/op2-token "$LOAXA" announce --text "x" --at "$TA" --zone thon-1 \
		>"$T/op2-ann.out" 2>&1
	rc=$?
	if [ "$rc" = 1 ] && grep -q 'may act only on zones thon-2, not on zone thon-1' "$T/op2-ann.out"; then
		ok "an operator of thon-2 may not announce to thon-1"
	else
		not_ok "an operator of thon-2 may not announce to thon-1 (status $rc)"
		sed 's/^/#   /' "$T/op2-ann.out"
	fi
	LOAXA_TOKEN_FILE=$T/op2-token "$LOAXA" announce --text "Họp thôn 2." --at "$TA" \
		--zone thon-2 >"$T/op2-ann2.out" 2>&1
	check "an operator of thon-2 may announce to thon-2" [ $? = 0 ]
	LOAXA_TOKEN_FILE=$T/op2-token "$LOAXA" schedule apply "$S/week.cfg" >"$T/op2-apply.out" 2>&1
	rc=$?
	# an operator's apply is a draft for an approver (docs/approval.md), and
	# only within their zones: week.cfg plays in thon-1 too
	if [ "$rc" = 1 ] && grep -q 'may act only on zones thon-2, not on zone thon-1' "$T/op2-apply.out"; then
		ok "an operator of thon-2 may not apply a schedule that plays in thon-1"
	else
		not_ok "an operator of thon-2 may not apply a schedule that plays in thon-1 (status $rc)"
		sed 's/^/#   /' "$T/op2-apply.out"
	fi
else
	not_ok "operator op2 logs in"
fi

# the controller republishes its plans after the broker lost them
restart_broker broker
republished() { plan_of n1 && [ "$(plan_seq n1)" -gt 0 ]; }
check "after a broker restart (no persistence) the plan is retained again" wait_for 20 republished

stop_all_checked
finish
