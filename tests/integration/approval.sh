#!/bin/bash
# Approval (biên tập -> duyệt -> phát; docs/approval.md, issue 16 point 1),
# with real parts: mosquitto on a loopback port, the controller with
# approval = { levels = ["normal", "priority"]; }, nodes n1 (thon-1) and n2
# (thon-2); accounts op1 (operator, thon-1), ap1 (approver, thon-1), ap2
# (approver, thon-2) and the admin.
#   - op1's announcement is a draft: it is in no plan the controller
#     publishes and not in n1's upcoming plays; op1 cannot approve it, ap2
#     (another zone) cannot either;
#   - op1 edits it (other content); ap1 approves it: n1's plan and n1's own
#     list of upcoming plays carry it, with the edited content;
#   - a rejected draft and a withdrawn draft never reach a plan;
#   - op1's play is a draft: no command, nothing played on n1, until ap1
#     approves it; then n1 plays it;
#   - four eyes: op1, made an approver, cannot approve their own draft;
#   - the audit log has each step with who and when;
#   - an emergency (never waits) is listed for review; the admin who
#     started it cannot review it, ap1 can.
source "$(dirname "$0")/../lib.sh"
OPENENV=$LOAXA_BIN/tools/openenv
need "$LOAXA" "$CONTROLLER" "$NODE" "$OPENENV"

TZ_SITE=Asia/Ho_Chi_Minh
at_in() { TZ=$TZ_SITE date -d "@$(( $(date +%s) + $1 ))" '+%Y-%m-%d %H:%M:%S'; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg "timezone = \"$TZ_SITE\";" \
	'approval = { levels = ["normal", "priority"]; };' \
	'zones = ( { name = "thon-1"; }, { name = "thon-2"; } );'
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-2
for n in n1 n2; do start_node "$n" || exit 1; done

for u in op1:operator:thon-1 ap1:approver:thon-1 ap2:approver:thon-2; do
	IFS=: read -r name role zone <<<"$u"
	printf '%s-password\n' "$name" >"$T/$name.pw"
	"$LOAXA" user add "$name" --role "$role" --zone "$zone" --password-file "$T/$name.pw" \
		>/dev/null || fail "admin adds $name ($role, $zone)"
	LOAXA_TOKEN_FILE=$T/$name-token "$LOAXA" login "$name" --password-file "$T/$name.pw" \
		>/dev/null || fail "$name logs in"
	sleep 0.3 # logins are throttled overall (4 a second)
done
as() { local who=$1; shift; LOAXA_TOKEN_FILE=$T/$who-token "$LOAXA" "$@"; }
# cond 'shell test': for checks of more than one condition (check runs one command)
cond() { eval "$1"; }
# jqe FILTER...: jq -e on stdin, false on empty input (jq -e alone says true)
jqe() { local in; in=$(cat); [ -n "$in" ] || return 1; jq -e "$@" >/dev/null <<<"$in"; }

speech "$T/a.wav" "Thông báo họp thôn một." || exit 1
speech "$T/b.wav" "Thông báo đã sửa: họp thôn lúc bảy giờ tối." || exit 1
A=$("$LOAXA" import "$T/a.wav" 2>/dev/null)
B=$("$LOAXA" import "$T/b.wav" 2>/dev/null)
check "two contents imported (A ${A:0:12}, B ${B:0:12})" cond '[ "${#A}" = 64 ] && [ "${#B}" = 64 ]'

# what the controller publishes for n1 (retained, signed: checked like a node
# does) and what n1 itself says it will play
plan_of() {
	mosquitto_sub -h 127.0.0.1 -p "$BROKER_PORT" -t "loaxa/$SITE/node/$1/plan" \
		-C 1 -W 2 -N >"$T/plan-$1.bin" 2>/dev/null || { echo '{"items":[]}' >"$T/plan-$1.json"; return 0; }
	"$OPENENV" --pub "$T/keys/controller.pub" --site "$SITE" <"$T/plan-$1.bin" \
		>"$T/plan-$1.json" 2>/dev/null || echo '{"items":[]}' >"$T/plan-$1.json"
}
plan_items() { plan_of "$1"; jq -c '[.items[] | {item, content}]' "$T/plan-$1.json"; }
upcoming() { node_json "$1" | jq -c '[.status.upcoming[]? | {id, content}]'; }
draft_of() { sed -n 's/^saved as draft \([0-9]*\):.*/\1/p' <<<"$1"; }
state_of() { "$LOAXA" drafts --all --json | jq -r --argjson d "$1" '.drafts[] | select(.draft == $d) | .state'; }

# ---------------------------------------------------------------- announce
TA=$(at_in 900)
out=$(as op1 announce "$A" --at "$TA" --zone thon-1 --title "Họp thôn" 2>&1)
rc=$?
D1=$(draft_of "$out")
check "op1's announcement is saved as a draft, exit 0 (\"$(head -1 <<<"$out")\")" \
	cond '[ "$rc" = 0 ] && [ -n "$D1" ]'
check "loaxa drafts (ap1) lists draft $D1: pending, by op1, to zone thon-1" \
	jqe --argjson d "${D1:-0}" '.drafts[] | select(.draft == $d and .state == "pending" and
		.author == "op1" and .target == "zone thon-1" and .kind == "announce")' \
	<<<"$(as ap1 drafts --json)"
as ap1 drafts >"$T/drafts.txt" 2>&1
check "loaxa drafts prints a table with the draft" grep -q "^$D1 *pending *announce *op1" "$T/drafts.txt" ||
	sed 's/^/#   /' "$T/drafts.txt"
sleep 1
check "... it is in no plan the controller publishes for n1 ($(plan_items n1))" \
	[ "$(plan_items n1)" = "[]" ]
check "... and not in n1's upcoming plays ($(upcoming n1))" [ "$(upcoming n1)" = "[]" ]

out=$(as op1 approve "$D1" 2>&1); rc=$?
check "op1 (operator) cannot approve (\"$out\")" \
	cond '[ $rc = 1 ] && grep -q "may not approve" <<<"$out"'
out=$(as ap2 approve "$D1" 2>&1); rc=$?
check "ap2 (approver of thon-2) cannot approve a draft for thon-1 (\"$out\")" \
	cond '[ $rc = 1 ] && grep -q "may act only on zones thon-2, not on zone thon-1" <<<"$out"'
check "... draft $D1 is still pending" [ "$(state_of "$D1")" = pending ]

out=$(as op1 announce "$B" --at "$TA" --zone thon-1 --title "Họp thôn (sửa)" --edit "$D1" 2>&1); rc=$?
check "op1 edits draft $D1 with content B (\"$(head -1 <<<"$out")\")" \
	cond '[ $rc = 0 ] && grep -q "^changed draft $D1" <<<"$out"'
out=$(as ap1 approve "$D1" 2>&1); rc=$?
check "ap1 approves draft $D1 (\"$out\")" \
	cond '[ $rc = 0 ] && grep -q "approved: announcement a-" <<<"$out"'
ANN=$(sed -n 's/.*announcement \(a-[0-9-]*\).*/\1/p' <<<"$out")
in_plan() { jqe --arg a "$ANN" --arg b "$B" '[.[] | select(.item == $a and .content == $b)] | length == 1' <<<"$(plan_items n1)" >/dev/null; }
check "n1's plan, as the controller publishes it, now has $ANN with content B" wait_for 10 in_plan
in_upcoming() { jqe --arg a "o-$ANN-" --arg b "$B" '[.[] | select((.id | startswith($a)) and .content == $b)] | length == 1' <<<"$(upcoming n1)" >/dev/null; }
check "n1 itself lists it among its upcoming plays, with content B" wait_for 40 in_upcoming ||
	diag "upcoming: $(upcoming n1)"
check "draft $D1 is approved" [ "$(state_of "$D1")" = approved ]

# ---------------------------------------------------------------- reject, withdraw
D2=$(draft_of "$(as op1 announce "$A" --at "$(at_in 1200)" --zone thon-1 --title "Sai" 2>&1)")
out=$(as ap1 reject "$D2" 2>&1); rc=$?
check "loaxa reject without --reason is refused (\"$out\")" \
	cond '[ $rc = 2 ] && grep -q -- "--reason" <<<"$out"'
out=$(as ap1 reject "$D2" --reason "Sai ngày họp, sửa lại" 2>&1); rc=$?
check "ap1 rejects draft $D2 with a reason (\"$out\")" cond '[ $rc = 0 ] && grep -q rejected <<<"$out"'
D3=$(draft_of "$(as op1 announce "$A" --at "$(at_in 1500)" --zone thon-1 --title "Rút lại" 2>&1)")
out=$(as ap1 withdraw "$D3" 2>&1); rc=$?
check "ap1 cannot withdraw op1's draft (\"$out\")" cond '[ $rc = 1 ] && grep -q "only its author" <<<"$out"'
out=$(as op1 withdraw "$D3" 2>&1); rc=$?
check "op1 withdraws draft $D3 (\"$out\")" cond '[ $rc = 0 ] && grep -q withdrawn <<<"$out"'
out=$(as ap1 approve "$D2" 2>&1); rc=$?
check "a rejected draft cannot be approved later (\"$out\")" \
	cond '[ $rc = 1 ] && grep -q "already rejected" <<<"$out"'
sleep 1
check "n1's plan holds only the approved announcement: nothing of the rejected or withdrawn draft ($(plan_items n1))" \
	jqe --arg a "$ANN" '[.[].item] | unique == [$a]' <<<"$(plan_items n1)"
check "... nor does n1's list of upcoming plays" \
	jqe --arg a "o-$ANN-" '[.[] | select(.id | startswith($a) | not)] | length == 0' <<<"$(upcoming n1)"

# ---------------------------------------------------------------- a play
out=$(as op1 play "$A" --zone thon-1 2>&1); rc=$?
P=$(draft_of "$out")
check "op1's play is saved as draft $P, exit 0" cond '[ $rc = 0 ] && [ -n "$P" ]'
sleep 3
check "... n1 played nothing (no play event in 3 s)" \
	[ "$("$LOAXA" plays --json | jq '[.plays[] | select(.node == "n1" and (.type | startswith("play_")))] | length')" = 0 ]
out=$(as ap1 approve "$P" 2>&1)
BC=$(sed -n 's/.*broadcast \(b-[0-9-]*\).*/\1/p' <<<"$out")
check "ap1 approves draft $P: broadcast $BC (\"$out\")" [ -n "$BC" ]
played() { [ "$("$LOAXA" plays --json | jq --arg b "$BC" '[.plays[] | select(.broadcast == $b and .node == "n1" and .type == "play_finished")] | length')" -ge 1 ]; }
check "n1 plays it once approved" wait_for 30 played

# ---------------------------------------------------------------- four eyes
D4=$(draft_of "$(as op1 announce "$A" --at "$(at_in 1800)" --zone thon-1 2>&1)")
"$LOAXA" user del op1 >/dev/null && "$LOAXA" user add op1 --role approver --zone thon-1 \
	--password-file "$T/op1.pw" >/dev/null && sleep 0.3 &&
	LOAXA_TOKEN_FILE=$T/op1-token "$LOAXA" login op1 --password-file "$T/op1.pw" >/dev/null
out=$(as op1 approve "$D4" 2>&1); rc=$?
check "op1, made an approver, cannot approve their own draft $D4 (\"$out\")" \
	cond '[ $rc = 1 ] && grep -q "another approver must approve it (four eyes)" <<<"$out"'

# ---------------------------------------------------------------- audit
"$LOAXA" audit --limit 500 --json >"$T/audit.json"
step() { jqe --arg a "$1" --arg u "$2" --arg t "draft $3 (" \
	'[.[] | select(.action == $a and .user == $u and (.target | startswith($t)) and .ts > 0)] | length == 1' \
	<"$T/audit.json"; }
check "audit: draft $D1 submitted by op1" step "draft submitted" op1 "$D1"
check "audit: draft $D1 edited by op1" step "draft edited" op1 "$D1"
check "audit: draft $D1 approved by ap1" step "draft approved" ap1 "$D1"
check "audit: draft $D2 rejected by ap1" step "draft rejected" ap1 "$D2"
check "audit: ... with the reason" \
	jqe '[.[] | select(.action == "draft rejected" and .detail == "Sai ngày họp, sửa lại")] | length == 1' <"$T/audit.json"
check "audit: draft $D3 withdrawn by op1" step "draft withdrawn" op1 "$D3"
check "audit: draft $P approved by ap1" step "draft approved" ap1 "$P"
check "audit: the refused approvals are there too (op1, ap2: refused)" \
	jqe '[.[] | select(.result == "refused" and (.action | endswith("/approve")))] | length >= 2' <"$T/audit.json"

# ---------------------------------------------------------------- emergency review
"$LOAXA" emergency start "$T/a.wav" --zone thon-1 --max 3s --timeout 10 --json >"$T/em.json" 2>"$T/em.err"
E=$(jq -r .emergency "$T/em.json" 2>/dev/null)
check "the admin starts emergency $E at once (no draft)" [ "${E#e-}" != "$E" ] ||
	sed 's/^/#   /' "$T/em.err"
check "loaxa reviews lists $E, started by admin" \
	jqe --arg e "$E" '.emergencies[] | select(.emergency == $e and .started_by == "admin" and .reviewed_by == null)' \
	<<<"$(as ap1 reviews --json)"
out=$("$LOAXA" review "$E" 2>&1); rc=$?
check "the admin who started it cannot review it (\"$out\")" \
	cond '[ $rc = 1 ] && grep -q "someone else reviews it" <<<"$out"'
out=$(as ap1 review "$E" --note "Đúng quy trình" 2>&1); rc=$?
check "ap1 reviews it (\"$out\")" [ $rc = 0 ]
check "... it no longer awaits review" \
	jqe '.emergencies | length == 0' <<<"$(as ap1 reviews --json)"
check "audit: emergency reviewed by ap1" \
	jqe --arg t "emergency $E" '[.[] | select(.action == "emergency reviewed" and .user == "ap1" and .target == $t)] | length == 1' \
	<<<"$("$LOAXA" audit --limit 50 --json)"

finish
