#!/bin/bash
# Zone scope of stops, cancels and reads (docs/security.md "Zone scope",
# issue 14 point 4). Accounts scoped to thon-1 (operator op1, approver ap1)
# against thon-2's announcement, live session and emergency:
#   - cancel, live stop and emergency stop of thon-2's are refused (403,
#     naming thon-2), nothing stops, and the audit log has each refusal;
#   - a stop without an id stops only what is in thon-1 and lists thon-2's
#     under "not_stopped";
#   - the plays, the log, the alarms, the nodes and `node show` hold only
#     thon-1's; thon-2's broadcast and node answer 403;
#   - the schedule list, readiness and maintenance commands hold only
#     thon-1's (n2's: 403); the monthly report and /metrics, which cover
#     the whole station, answer 403 to a scoped account;
#   - they still cancel and stop thon-1's; the admin ("*") sees and stops all.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-2
for n in n1 n2; do start_node "$n" || exit 1; done

has() { jq -e "$1" >/dev/null 2>&1 <<<"$2"; }
resp() { cat "$T/resp.json"; }
ADM=$(cat "$LOAXA_TOKEN_FILE")

printf 'operator-pw-1\n' >"$T/op1.pw"
printf 'approver-pw-1\n' >"$T/ap1.pw"
"$LOAXA" user add op1 --role operator --zone thon-1 --password-file "$T/op1.pw" >/dev/null
"$LOAXA" user add ap1 --role approver --zone thon-1 --password-file "$T/ap1.pw" >/dev/null
LOAXA_TOKEN_FILE=$T/op1-token "$LOAXA" login op1 --password-file "$T/op1.pw" >/dev/null
sleep 0.3
LOAXA_TOKEN_FILE=$T/ap1-token "$LOAXA" login ap1 --password-file "$T/ap1.pw" >/dev/null
OP=$(cat "$T/op1-token")
AP=$(cat "$T/ap1-token")
check "op1 (operator) and ap1 (approver) of thon-1 are logged in" \
	[ "${#OP}" = 64 ] && [ "${#AP}" = 64 ]
op() { LOAXA_TOKEN_FILE=$T/op1-token "$LOAXA" "$@"; }

# ---------------------------------------------------------------- reads
speech "$T/tb.wav" "Thông báo kiểm tra." || exit 1
content=$("$LOAXA" import "$T/tb.wav" 2>/dev/null)
B1=$("$LOAXA" play "$content" --zone thon-1 --json 2>/dev/null | jq -r .broadcast)
B2=$("$LOAXA" play "$content" --zone thon-2 --json 2>/dev/null | jq -r .broadcast)
played() { [ "$("$LOAXA" plays --json | jq --arg b "$1" '[.plays[] | select(.broadcast == $b and .type == "play_finished")] | length')" -ge 1 ]; }
both_played() { played "$B1" && played "$B2"; }
check "the admin plays $B1 on thon-1 and $B2 on thon-2" wait_for 30 both_played

plays=$(op plays --json)
check "op1's plays hold n1's and none of n2's" \
	has '(.plays | length > 0) and ([.plays[] | select(.node != "n1")] | length == 0)' "$plays"
check "the admin's plays hold n2's too" has '[.plays[] | select(.node == "n2")] | length > 0' \
	"$("$LOAXA" plays --json)"
code=$(http_status GET "/v1/plays?broadcast=$B2" "$OP")
check "op1 asks for the plays of thon-2's $B2: 403 naming thon-2 ($(resp))" \
	[ "$code" = 403 ] && grep -q 'thon-2' "$T/resp.json"
code=$(http_status GET "/v1/broadcasts/$B2" "$OP")
check "op1 asks for thon-2's broadcast $B2: 403" [ "$code" = 403 ]
code=$(http_status GET "/v1/broadcasts/$B1" "$OP")
check "op1 reads thon-1's broadcast $B1" [ "$code" = 200 ]
log=$(op log --json)
check "op1's log holds n1's events and none of n2's" \
	has '(.events | length > 0) and ([.events[] | select(.node != "n1")] | length == 0)' "$log" ||
	diag "$(jq -c '[.events[] | .node] | unique' <<<"$log")"
check "the admin's log holds n2's" has '[.events[] | select(.node == "n2")] | length > 0' \
	"$("$LOAXA" log --json)"
code=$(http_status GET "/v1/log?zone=thon-2" "$OP")
check "op1 asks for thon-2's log: 403 naming thon-2 ($(resp))" \
	[ "$code" = 403 ] && grep -q 'zone thon-2' "$T/resp.json"
check "op1's node list is n1 only" has '[.nodes[].node] == ["n1"]' "$(op nodes --json)"
check "the admin's node list has both" has '[.nodes[].node] == ["n1", "n2"]' \
	"$("$LOAXA" nodes --json)"
out=$(op node show n2 2>&1)
check "op1: loaxa node show n2 is refused, naming thon-1 (\"$out\")" \
	grep -q 'may see only zones thon-1, not node n2' <<<"$out"
check "op1: loaxa node show n1 works" op node show n1 --json
code=$(http_status GET "/v1/alarms?all=1" "$OP")
check "op1's alarms name no node of thon-2 (HTTP $code)" \
	has '[.alarms[] | select(.node == "n2")] | length == 0' "$(resp)"

# ---------------------------------------------------------------- cancel
AT=$(TZ=Asia/Ho_Chi_Minh date -d "@$(( $(date +%s) + 3600 ))" '+%Y-%m-%d %H:%M')
A2=$("$LOAXA" announce --text "Họp thôn hai." --at "$AT" --zone thon-2 2>&1 |
	sed -n 's/^announcement \(a-[0-9-]*\) .*/\1/p')
sleep 1.1 # announcement ids are made of the second
A1=$("$LOAXA" announce --text "Họp thôn một." --at "$AT" --zone thon-1 2>&1 |
	sed -n 's/^announcement \(a-[0-9-]*\) .*/\1/p')
check "the admin announces $A2 on thon-2 and $A1 on thon-1" [ -n "$A1" ] && [ -n "$A2" ]

# ------------------------------------------- schedule, readiness, report, metrics, commands
# (issue 14 point 4, the reads that still covered every zone; docs/security.md "Zone scope")
code=$(http_status GET "/v1/schedule?days=2" "$OP")
sch=$(resp)
check "op1's schedule list holds thon-1's $A1 on n1 and nothing of n2 (HTTP $code)" \
	has "([.occurrences[] | select(.item == \"$A1\" and .node == \"n1\")] | length == 1) and
	     ([.occurrences[] | select(.node == \"n2\")] | length == 0)" "$sch" || diag "$sch"
check "the admin's schedule list holds thon-2's $A2 on n2" \
	has "[.occurrences[] | select(.item == \"$A2\" and .node == \"n2\")] | length == 1" \
	"$("$LOAXA" schedule list --days 2 --json)"
code=$(http_status GET "/v1/schedule?days=2&node=n2" "$OP")
check "op1 asks for n2's schedule: 403 naming n2 ($(resp))" \
	has '.error | test("may see only zones thon-1, not node n2")' "$(resp)"
code=$(http_status GET "/v1/schedule?days=2&zone=thon-2" "$OP")
check "op1 asks for thon-2's schedule: 403 naming thon-2 ($(resp))" \
	has '.error | test("not zone thon-2")' "$(resp)"
http_status GET /v1/readiness "$OP" >/dev/null
r_op=$(resp)
http_status GET /v1/readiness "$ADM" >/dev/null
r_adm=$(resp)
check "op1's readiness counts thon-1's play only (planned $(jq .planned <<<"$r_op"), the admin's $(jq .planned <<<"$r_adm")) and lists nothing of n2" \
	has '.planned == 1 and ([.missing[] | select(.node == "n2")] | length == 0)' "$r_op"
check "... the admin's counts both" has '.planned == 2' "$r_adm"
for url in "/v1/report?month=$(TZ=Asia/Ho_Chi_Minh date +%Y-%m)" /metrics; do
	code=$(http_status GET "$url" "$OP")
	check "op1 reads $url: 403, it covers the whole station ($(resp))" \
		has '.error | test("not the whole station")' "$(resp)"
	code=$(http_status GET "$url" "$ADM")
	check "the admin reads $url (HTTP $code)" [ "$code" = 200 ]
done
http_status POST /v1/nodes/n2/volume "$ADM" '{"level": 90}' >/dev/null
C2=$(jq -r '.command // empty' "$T/resp.json")
http_status POST /v1/nodes/n1/volume "$ADM" '{"level": 90}' >/dev/null
C1=$(jq -r '.command // empty' "$T/resp.json")
check "the admin sets n1's and n2's volume (commands $C1, $C2)" [ -n "$C1" ] && [ -n "$C2" ]
code=$(http_status GET "/v1/commands/$C2" "$OP")
check "op1 reads n2's command $C2: 403 naming n2 ($(resp))" \
	has '.error | test("not node n2")' "$(resp)"
code=$(http_status GET "/v1/commands/$C1" "$OP")
check "op1 reads n1's command $C1 (HTTP $code)" has ".command == \"$C1\"" "$(resp)"
code=$(http_status GET "/v1/commands/$C2" "$ADM")
check "the admin reads $C2 (HTTP $code)" has ".command == \"$C2\"" "$(resp)"

out=$(op cancel "$A2" 2>&1)
check "op1 cannot cancel thon-2's announcement (\"$out\")" \
	grep -q 'not on zone thon-2' <<<"$out"
check "... it is still planned" has "[.occurrences[] | select(.item == \"$A2\")] | length == 1" \
	"$("$LOAXA" schedule list --days 2 --zone thon-2 --json)"
OCC2=$("$LOAXA" schedule list --days 2 --zone thon-2 --json |
	jq -r --arg a "$A2" '[.occurrences[] | select(.item == $a)][0].occurrence')
code=$(http_status POST /v1/cancel "$OP" "{\"id\":\"$OCC2\"}")
check "op1 cannot cancel one play $OCC2 of it: 403 ($(resp))" \
	[ "$code" = 403 ] && grep -q 'thon-2' "$T/resp.json"
check "op1 cancels thon-1's announcement $A1" grep -q "cancelled announcement $A1" \
	<<<"$(op cancel "$A1" 2>&1)"
check "the admin cancels $A2" "$LOAXA" cancel "$A2"

# ---------------------------------------------------------------- live
sox -n -r 22050 -c 1 "$T/long.wav" synth 40 sine 440 gain -12
# (60 s: the CLI imports the 40 s file before the session starts; an ASan
# build at load 15 took 17 s, beyond the 15 s this waited before)
"$LOAXA" live --file "$T/long.wav" --zone thon-2 --json >"$T/live2.json" 2>"$T/live2.err" &
LIVEPID=$!
live_id() { http_status GET /v1/live "$ADM" >/dev/null; jq -r '.sessions[0].live // empty' "$T/resp.json"; }
live_on() { [ -n "$(live_id)" ]; }
check "the admin speaks live to thon-2" wait_for 60 live_on
L2=$(live_id)
code=$(http_status POST /v1/live/stop "$OP" "{\"live\":\"$L2\"}")
check "op1 cannot stop thon-2's live session $L2: 403 naming thon-2 ($(resp))" \
	[ "$code" = 403 ] && grep -q 'thon-2' "$T/resp.json"
http_status POST /v1/live/stop "$OP" '{}' >/dev/null
out=$(resp)
check "op1's live stop without an id stops nothing of thon-2's and says so" \
	has ".stopped == [] and .not_stopped[0].live == \"$L2\"" "$out" || diag "$out"
out=$(op live stop 2>&1)
check "loaxa live stop (op1) says $L2 was not stopped (\"$out\")" \
	grep -q "not stopped: $L2 to zone thon-2: .*not on zone thon-2" <<<"$out"
sleep 1
check "... $L2 is still on air" [ "$(live_id)" = "$L2" ]
http_status POST /v1/live/stop "$ADM" '{}' >/dev/null
check "the admin stops it" has ".stopped[0].live == \"$L2\"" "$(resp)"
wait $LIVEPID 2>/dev/null
"$LOAXA" live --file "$T/long.wav" --zone thon-1 --json >"$T/live1.json" 2>&1 &
LIVEPID=$!
check "the admin speaks live to thon-1" wait_for 60 live_on
L1=$(live_id)
http_status POST /v1/live/stop "$OP" '{}' >/dev/null
check "op1 stops thon-1's live session $L1" has ".stopped[0].live == \"$L1\"" "$(resp)"
wait $LIVEPID 2>/dev/null

# ---------------------------------------------------------------- emergency
sox -n -r 22050 -c 1 "$T/alarm.wav" synth 2 sine 800 gain -6
"$LOAXA" emergency start "$T/alarm.wav" --zone thon-2 --max 120s --timeout 15 --json \
	>"$T/em2.json" 2>"$T/em2.err"
E2=$(jq -r '.emergency // .broadcast // empty' "$T/em2.json")
check "the admin sounds emergency $E2 on thon-2" [ -n "$E2" ] || sed 's/^/#   /' "$T/em2.err"
code=$(http_status POST /v1/emergency/stop "$AP" "{\"emergency\":\"$E2\"}")
check "ap1 (approver of thon-1) cannot stop $E2: 403 naming thon-2 ($(resp))" \
	[ "$code" = 403 ] && grep -q 'thon-2' "$T/resp.json"
out=$(LOAXA_TOKEN_FILE=$T/ap1-token "$LOAXA" emergency stop --json 2>&1)
check "ap1's emergency stop without an id leaves $E2 (not_stopped)" \
	has ".stopped == [] and .not_stopped[0].emergency == \"$E2\"" "$out" || diag "$out"
http_status GET "/v1/broadcasts/$E2" "$ADM" >/dev/null
exp=$(jq -r '.expires // 0' "$T/resp.json")
check "... $E2 is still active (expires in the future)" [ "$exp" -gt "$(now_ms)" ]
check "the admin stops $E2" has ".stopped == [\"$E2\"]" "$("$LOAXA" emergency stop --json)"
LOAXA_TOKEN_FILE=$T/ap1-token "$LOAXA" emergency start "$T/alarm.wav" --zone thon-1 --max 120s \
	--timeout 15 --json >"$T/em1.json" 2>"$T/em1.err"
E1=$(jq -r '.emergency // .broadcast // empty' "$T/em1.json")
check "ap1 sounds emergency $E1 on thon-1" [ -n "$E1" ] || sed 's/^/#   /' "$T/em1.err"
check "ap1 stops it" has ".stopped == [\"$E1\"]" \
	"$(LOAXA_TOKEN_FILE=$T/ap1-token "$LOAXA" emergency stop --json 2>&1)"

# ---------------------------------------------------------------- audit
audit=$("$LOAXA" audit --limit 500 --json)
for a in "POST /v1/cancel:op1" "POST /v1/live/stop:op1" "POST /v1/emergency/stop:ap1" \
	 "GET /v1/plays:op1" "GET /v1/log:op1" "GET /v1/nodes/n2:op1" "GET /v1/schedule:op1" \
	 "GET /v1/commands/$C2:op1"; do
	check "audit: ${a#*:} refused on ${a%:*} (403, naming thon-2 or n2)" has "[.[] |
		select(.user == \"${a#*:}\" and .action == \"${a%:*}\" and .result == \"refused\"
		       and .status == 403 and (.detail | test(\"thon-2|n2\")))] | length >= 1" "$audit"
done
check "audit: op1's refused report and metrics" has '[.[] | select(.user == "op1" and
	(.action == "GET /v1/report" or .action == "GET /metrics") and .result == "refused"
	and .status == 403)] | length == 2' "$audit"
check "audit: op1's refused cancel names its target (cancel $A2)" has "[.[] |
	select(.user == \"op1\" and .action == \"POST /v1/cancel\" and .result == \"refused\"
	       and .target == \"cancel $A2\")] | length == 1" "$audit"

stop_all_checked
finish
