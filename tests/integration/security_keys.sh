#!/bin/bash
# Signed messages and the controller key's lifecycle against real nodes on
# the secure broker (docs/security.md, docs/protocol.md "Trust document"):
#   - forged (bit flipped), wrong key, replayed, expired, future-dated,
#     wrong-site and oversized messages of type cmd, plan, live and key are all
#     refused, each reason logged and counted in the node's status;
#   - `loaxa key rotate` while broadcasts keep coming: every broadcast is
#     played to the end on every node, none refused; nodes trust the new
#     key; a node that was off during the rotation catches up from the
#     retained trust document and plays;
#   - after the retirement window the old key is refused;
#   - the offline recovery key installs a key and revokes one (a message
#     signed by the revoked key: revoked_key); it cannot sign a command
#     (recovery_key_misuse);
#   - an expired controller key: its messages are refused (key_expired) and
#     the controller raises the expiry alarm.
SECURE=1
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD"

RETIRE_S=25
start_broker || exit 1
keygen || exit 1
keygen "$T/recovery" || exit 1
keygen "$T/evil" || exit 1
write_controller_cfg "keys = { retire_after_s = $RETIRE_S; recovery_pub = \"$T/recovery/controller.pub\"; };"
start_controller || exit 1
for n in n1 n2 n3; do write_node_cfg "$n" thon-1 || exit 1; done
# the bundle carries the recovery key; the test configs take it from there
for n in n1 n2 n3; do
	grep '^recovery_key' "$T/$n/bundle/node.cfg" >>"$T/$n/node.cfg"
done
check "the node bundle carries the recovery key" grep -q "recovery_key = \"$(cat "$T/recovery/controller.pub")\"" \
	"$T/n1/bundle/node.cfg"
for n in n1 n2 n3; do start_node "$n" || exit 1; done

R=loaxa/$SITE
B=$T/broker
PUB=(-h 127.0.0.1 -p "$BROKER_PORT" --cafile "$B/ca.crt" -u controller
	-P "$(cat "$B/controller.password")")
inject() { # inject TOPIC FILE : as a compromised broker account would
	mosquitto_pub "${PUB[@]}" -i "inject-$RANDOM" -q 1 -t "$R/$1" -f "$2" >/dev/null 2>&1
}
key_id() { # the 16-hex key id of a public key file
	perl -e 'print pack("H*", $ARGV[0])' "$(cat "$1")" | sha256sum | cut -c1-16
}
rejected() { # rejected NODE REASON : the node's count
	node_json "$1" | jq -r --arg r "$2" '.status.rejected[$r] // 0'
}
trust_has() { # trust_has NODE KEYID
	node_json "$1" | jq -e --arg k "$2" '.status.trust.keys | map(.id) | index($k) != null' \
		>/dev/null
}
trust_lacks() { node_json "$1" >/dev/null && ! trust_has "$@"; }
current_key() { "$LOAXA" key list --json | jq -r '.keys[] | select(.current) | .id'; }
current_is_not() { [ "$(current_key)" != "$1" ]; }
OLD_ID=$(key_id "$T/keys/controller.pub")
check "n1 applied the controller's first trust document (trusts key $OLD_ID)" \
	wait_for 10 trust_has n1 "$OLD_ID"

# --- hostile messages of every type
printf '{"cmd":"stop","to":"node/n1/cmd"}' >"$T/cmd.json"
printf '{"node":"n1","generated":%s,"horizon":%s,"items":[]}' "$(now_ms)" \
	"$(( $(now_ms) + 3600000 ))" >"$T/plan.json"
printf '{"keys":[{"key":"%s","not_after":%s}]}' "$(cat "$T/evil/controller.pub")" \
	"$(( $(now_ms) + 86400000 ))" >"$T/key.json"
head -c 262200 /dev/zero >"$T/big.bin"
seal() { # seal TYPE BODY OUT [sealcmd options]
	local type=$1 body=$2 out=$3
	shift 3
	"$SEALCMD" --key "${SEAL_KEY:-$T/keys/controller.key}" --site "$SITE" --type "$type" \
		"$@" <"$body" >"$out"
}
flip() { # flip FILE OFFSET OUT : one bit flipped
	local b
	cp "$1" "$3"
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}
# a valid plan and command first, so a replayed one has something to be older than
seal plan "$T/plan.json" "$T/plan-ok.bin"
inject node/n1/plan "$T/plan-ok.bin"
seal cmd "$T/cmd.json" "$T/cmd-ok.bin"
inject node/n1/cmd "$T/cmd-ok.bin"
head -c 64 /dev/urandom >"$T/live.json" # a live body (binary; refused after the envelope)
seal live "$T/live.json" "$T/live-ok.bin"
inject zone/thon-1/live "$T/live-ok.bin"
declare -A before=()
for r in bad_signature unknown_key replay expired future wrong_site oversized; do
	before[$r]=$(rejected n1 $r)
done
for t in cmd:node/n1/cmd plan:node/n1/plan live:zone/thon-1/live key:zone/all/key; do
	type=${t%%:*}
	topic=${t#*:}
	body=$T/$type.json
	seal "$type" "$body" "$T/ok.bin"
	flip "$T/ok.bin" 70 "$T/forged.bin"
	inject "$topic" "$T/forged.bin"
	SEAL_KEY=$T/evil/controller.key seal "$type" "$body" "$T/m.bin"
	inject "$topic" "$T/m.bin"
	seal "$type" "$body" "$T/m.bin" --seq 1000
	inject "$topic" "$T/m.bin"
	seal "$type" "$body" "$T/m.bin" --issued-offset -120000 --expires-in 60000
	inject "$topic" "$T/m.bin"
	seal "$type" "$body" "$T/m.bin" --issued-offset 3600000
	inject "$topic" "$T/m.bin"
	"$SEALCMD" --key "$T/keys/controller.key" --site other-site --type "$type" <"$body" \
		>"$T/m.bin"
	inject "$topic" "$T/m.bin"
	seal "$type" "$T/big.bin" "$T/m.bin"
	inject "$topic" "$T/m.bin"
done
counts_grew() {
	local r
	for r in bad_signature unknown_key replay expired future wrong_site oversized; do
		[ "$(rejected n1 $r)" -ge $(( ${before[$r]} + 4 )) ] || return 1
	done
}
if wait_for 15 counts_grew; then
	ok "forged, wrong-key, replayed, expired, future, wrong-site and oversized cmd, plan, live and key messages: each refused and counted in status (4 each)"
else
	not_ok "each hostile message is counted in the node's status"
	node_json n1 | jq -c '.status.rejected' | sed 's/^/#   /'
fi
for w in 'signature does not verify' 'not one we trust|unknown' 'replay|lower' 'expired' \
	'ahead' 'site' 'larger|oversized'; do
	check "n1's log names the reason /$w/" grep -Eq "rejected message on .*($w)" "$T/n1/node.log"
done
check "a trust document signed by a key n1 does not know: n1 says why it cannot follow" \
	grep -q 'This node cannot follow: re-provision it' "$T/n1/node.log"
check "... and reports it in its status (trust.stale)" \
	eval "node_json n1 | jq -e '.status.trust.stale == true' >/dev/null"
check "the evil key was not installed by its forged trust document" \
	bash -c "! grep -q 'trusting key.*$(key_id "$T/evil/controller.pub")' '$T/n1/node.log'"

# --- rotation under traffic, n3 off
speech "$T/short.wav" "Một." || exit 1
CONTENT=$("$LOAXA" import "$T/short.wav" 2>/dev/null)
stop n3
declare -A rej_before=()
for n in n1 n2; do rej_before[$n]=$(node_json "$n" | jq '[.status.rejected[]] | add // 0'); done
: >"$T/bids"
(
	for i in $(seq 1 12); do
		"$LOAXA" play "$CONTENT" --zone thon-1 --json 2>/dev/null | jq -r .broadcast >>"$T/bids"
		sleep 0.4
	done
) &
TRAFFIC=$!
sleep 1.5
rot=$("$LOAXA" key rotate 2>&1)
check "loaxa key rotate under traffic (\"$rot\")" grep -q 'announced' <<<"$rot"
wait "$TRAFFIC"
wait_for 10 current_is_not "$OLD_ID"
NEW_ID=$(current_key)
check "the controller now signs with a new key ($NEW_ID, was $OLD_ID)" \
	eval '[ -n "$NEW_ID" ] && [ "$NEW_ID" != "$OLD_ID" ]'
all_finished() {
	local b
	[ "$(wc -l <"$T/bids")" = 12 ] || return 1
	for b in $(cat "$T/bids"); do
		"$LOAXA" plays --broadcast "$b" --json 2>/dev/null | jq -e '[.plays[] |
			select(.type == "play_finished")] | length == 2' >/dev/null || return 1
	done
}
if wait_for 60 all_finished; then
	ok "12 broadcasts sent across the rotation: all played to the end on n1 and n2"
else
	not_ok "every broadcast across the rotation is played on n1 and n2"
	for b in $(cat "$T/bids"); do
		diag "$b: $("$LOAXA" plays --broadcast "$b" --json 2>/dev/null | jq -c '[.plays[] | [.node, .type]]')"
	done
fi
for n in n1 n2; do
	after=$(node_json "$n" | jq '[.status.rejected[]] | add // 0')
	check "$n refused nothing during the rotation ($after rejections, as before)" \
		[ "$after" = "${rej_before[$n]}" ]
	check "$n trusts the new key $NEW_ID" trust_has "$n" "$NEW_ID"
done
check "n1 still trusts the old key during its retirement window" trust_has n1 "$OLD_ID"
check "the controller's next trust document clears n1's stale flag" \
	eval "node_json n1 | jq -e '.status.trust.stale == false' >/dev/null"
check "loaxa key list shows the new key current and the old retired" \
	bash -c "\"$LOAXA\" key list | grep -Eq '^$NEW_ID +current' && \"$LOAXA\" key list | grep -Eq '^$OLD_ID +retired'"

# --- n3 was off: the retained trust document brings it up to date
start_node n3 || exit 1
check "n3, off during the rotation, learns the new key on its return" wait_for 10 trust_has n3 "$NEW_ID"
res=$("$LOAXA" play "$CONTENT" --node n3 --wait=30 --json 2>/dev/null)
check "n3 plays a broadcast signed by the new key" \
	jq -e '[.. | objects | select(.node == "n3" and .result == "finished")] | length == 1' <<<"$res"

# --- recovery key: may sign only trust documents
SEAL_KEY=$T/recovery/controller.key seal cmd "$T/cmd.json" "$T/m.bin"
before_mis=$(rejected n1 recovery_key_misuse)
inject node/n1/cmd "$T/m.bin"
check "a command signed by the recovery key is refused (recovery_key_misuse)" \
	wait_for 10 eval '[ "$(rejected n1 recovery_key_misuse)" -gt "$before_mis" ]'

# --- the old key retires after the window
retire_at=$(node_json n1 | jq -r --arg k "$OLD_ID" '.status.trust.keys[] | select(.id == $k) | .retire_at')
wait_s=$(( (retire_at - $(now_ms)) / 1000 + 2 ))
[ "$wait_s" -gt 0 ] && [ "$wait_s" -lt 60 ] && sleep "$wait_s"
check "after the window n1 no longer trusts the old key" wait_for 5 trust_lacks n1 "$OLD_ID"
before_unk=$(rejected n1 unknown_key)
SEAL_KEY=$T/keys/controller.key.old seal cmd "$T/cmd.json" "$T/m.bin"
inject node/n1/cmd "$T/m.bin"
check "a command signed by the retired key is refused (unknown_key)" \
	wait_for 10 eval '[ "$(rejected n1 unknown_key)" -gt "$before_unk" ]'

# --- a key with a short life: the controller alarms, nodes refuse it once expired
rot=$("$LOAXA" key rotate --lifetime-s 12 2>&1)
check "loaxa key rotate --lifetime-s 12 (\"$rot\")" grep -q 'announced' <<<"$rot"
wait_for 10 current_is_not "$NEW_ID"
K4_ID=$(current_key)
check "n1 trusts the short-lived key $K4_ID" wait_for 10 trust_has n1 "$K4_ID"
check "loaxa key list --json: the expiry alarm is raised (under 30 days left)" \
	eval '"$LOAXA" key list --json | jq -e ".status.alarm == true" >/dev/null'
check "the controller log has the expiry ALARM" \
	wait_for 5 grep -q "ALARM: the controller key $K4_ID expires" "$T/controller/controller.log"
not_after=$("$LOAXA" key list --json | jq -r --arg k "$K4_ID" '.keys[] | select(.id == $k) | .not_after')
wait_s=$(( (not_after - $(now_ms)) / 1000 + 1 ))
[ "$wait_s" -gt 0 ] && [ "$wait_s" -lt 30 ] && sleep "$wait_s"
before_exp=$(rejected n1 key_expired)
"$LOAXA" play "$CONTENT" --node n1 --json >/dev/null 2>&1
check "a broadcast signed by the expired key is refused by n1 (key_expired)" \
	wait_for 10 eval '[ "$(rejected n1 key_expired)" -gt "$before_exp" ]'

# --- break glass: the recovery key installs a key and revokes the current one
keygen "$T/k3" || exit 1
"$LOAXA" key list --json | jq -r '.keys[] | select(.current) | .key' >"$T/k4.pub"
out=$("$LOAXA" key recover --recovery-key "$T/recovery/controller.key" --site "$SITE" \
	--trust "$T/k3/controller.pub" --revoke "$T/k4.pub" --days 30 -o "$T/recover.bin" 2>&1)
check "loaxa key recover writes a trust document signed by the recovery key" \
	grep -q 'recovery trust document written' <<<"$out" || diag "$out"
mosquitto_pub "${PUB[@]}" -i recover -q 1 -r -t "$R/zone/all/key" -f "$T/recover.bin"
K3_ID=$(key_id "$T/k3/controller.pub")
check "the recovery document installs the new key $K3_ID on n1" wait_for 10 trust_has n1 "$K3_ID"
check "... and drops the revoked key $K4_ID" wait_for 5 trust_lacks n1 "$K4_ID"
before_rk=$(rejected n1 revoked_key)
"$LOAXA" play "$CONTENT" --node n1 --json >/dev/null 2>&1
check "a broadcast signed by the revoked key is refused by n1 (revoked_key)" \
	wait_for 10 eval '[ "$(rejected n1 revoked_key)" -gt "$before_rk" ]'
check "n1's log says the key was revoked" grep -q 'which the controller REVOKED' "$T/n1/node.log"
# the operator installs the new key on the controller and restarts it
stop controller
cp "$T/k3/controller.key" "$T/keys/controller.key"
cp "$T/k3/controller.pub" "$T/keys/controller.pub"
rm -f "$T/keys/controller.key.old"
start_controller || exit 1
check "the controller notices the key changed outside a rotation" \
	grep -q 'key changed outside a rotation' "$T/controller/controller.log"
res=$("$LOAXA" play "$CONTENT" --node n1 --wait=30 --json 2>/dev/null)
check "after recovery n1 plays a broadcast signed by the recovered key" \
	jq -e '[.. | objects | select(.node == "n1" and .result == "finished")] | length == 1' <<<"$res"
check "n1 still trusts $K3_ID after the controller's new trust document" trust_has n1 "$K3_ID"

stop_all_checked
finish
