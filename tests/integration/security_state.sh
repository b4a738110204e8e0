#!/bin/bash
# Lost or damaged state files on a node (issue 14 point 6, docs/security.md
# "State files"). A signed volume command is captured off the broker, then
# between restarts the node's sequence store (state/seq) is deleted, filled
# with garbage and cut short, and its trust file (state/trust.json) is
# deleted and corrupted after a recovery document revoked node.cfg's key.
# Each time the node starts, refuses the replayed command (stale) or a
# command signed by the revoked key, reports why in status "state", and the
# controller raises alarm "state"; fresh commands still work.
SECURE=1
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD"

start_broker || exit 1
keygen || exit 1
keygen "$T/recovery" || exit 1
keygen "$T/k1" || exit 1
write_controller_cfg "keys = { recovery_pub = \"$T/recovery/controller.pub\"; };"
start_controller || exit 1
write_node_cfg n1 thon-1 || exit 1
grep '^recovery_key' "$T/n1/bundle/node.cfg" >>"$T/n1/node.cfg"
start_node n1 || exit 1

R=loaxa/$SITE
B=$T/broker
PUB=(-h 127.0.0.1 -p "$BROKER_PORT" --cafile "$B/ca.crt" -u controller
	-P "$(cat "$B/controller.password")")
inject() { # inject TOPIC FILE [-r] : as a compromised broker account would
	mosquitto_pub "${PUB[@]}" -i "inject-$RANDOM" -q 1 -t "$R/$1" -f "$2" ${3:-} >/dev/null 2>&1
}
rejected() { node_json "$1" | jq -r --arg r "$2" '.status.rejected[$r] // 0'; }
volume_is() { node_json n1 | jq -e ".status.volume == $1" >/dev/null; }
state_says() { node_json n1 | jq -e --arg w "$1" '.status.state.lost // "" | contains($w)' >/dev/null; }
alarm_up() {
	"$LOAXA" alarms --json 2>/dev/null |
		jq -e --arg w "$1" '.alarms[] | select(.node == "n1" and .kind == "state" and
			.cleared == null and (.detail | contains($w)))' >/dev/null
}
key_id() { perl -e 'print pack("H*", $ARGV[0])' "$(cat "$1")" | sha256sum | cut -c1-16; }
trust_has() { node_json n1 | jq -e --arg k "$1" '.status.trust.keys | map(.id) | index($k) != null' >/dev/null; }
boot_above() { node_json n1 | jq -e ".status.boot > $1 and .online" >/dev/null; }
restart_n1() { # restart_n1 COMMAND... : stop n1, run COMMAND in its state dir, start it
	local boot
	boot=$(node_json n1 | jq .status.boot)
	stop n1
	(cd "$T/n1/state" && "$@")
	start_node n1
	# the controller may list the old run online a moment longer: wait for the
	# new run's status (sent once it subscribed), or a replay could go nowhere
	wait_for 20 boot_above "$boot" || diag "n1 did not report a new boot"
}

# --- a real signed command, captured as it goes over the broker
# (one hex line per message: acks of events go to the same topic)
mosquitto_sub "${PUB[@]}" -t "$R/node/n1/cmd" -F '%x' >"$T/cmd.hex" 2>/dev/null &
SUB=$!
sleep 0.5
"$LOAXA" node volume n1 40 >/dev/null 2>&1
check "n1 applies volume 40" wait_for 10 volume_is 40
sleep 0.5
kill "$SUB"
wait "$SUB" 2>/dev/null
grep "$(printf '"volume"' | xxd -p)" "$T/cmd.hex" | head -n 1 | xxd -r -p >"$T/vol40.bin"
check "the volume command was captured ($(stat -c %s "$T/vol40.bin") bytes)" \
	grep -aq '"level":40' "$T/vol40.bin"
"$LOAXA" node volume n1 60 >/dev/null 2>&1
check "n1 applies volume 60" wait_for 10 volume_is 60
inject node/n1/cmd "$T/vol40.bin"
sleep 1
check "the captured command replayed with the state intact: refused (replay)" \
	eval '[ "$(rejected n1 replay)" -ge 1 ] && volume_is 60'

# replay_refused LABEL WORD : after a restart, the captured command is refused
# as stale, the status says WORD, the controller raises alarm "state".
replay_refused() {
	local label=$1 word=$2
	if ! node_online n1; then
		not_ok "$label: n1 starts"
		dump_log "$T/n1/node.log" 15
		return
	fi
	inject node/n1/cmd "$T/vol40.bin"
	check "$label: the replayed command is refused (stale) and logged" \
		wait_for 10 eval '[ "$(rejected n1 stale)" -ge 1 ]'
	sleep 0.5
	check "$label: nothing changed (volume still $(node_json n1 | jq .status.volume))" volume_is 60
	check "$label: status \"state\" says why ($word)" wait_for 10 state_says "$word"
	check "$label: the controller raises alarm \"state\"" wait_for 15 alarm_up "$word"
}

restart_n1 rm -f seq
replay_refused "sequence store deleted" "seq missing"
grep -E 'missing on|failing closed' "$T/n1/node.log" | tail -n 1 | sed 's/^/#   /'
"$LOAXA" node volume n1 60 >/dev/null 2>&1
check "a fresh command after the loss is accepted (the node is not bricked)" \
	wait_for 10 eval '"$LOAXA" node volume n1 55 >/dev/null 2>&1 && volume_is 55'
"$LOAXA" node volume n1 60 >/dev/null 2>&1
wait_for 10 volume_is 60

restart_n1 sh -c 'head -c 300 /dev/urandom | tr -d "\000" >seq'
replay_refused "sequence store filled with garbage" "seq corrupt"
check "the garbage was kept aside as seq.corrupt" [ -s "$T/n1/state/seq.corrupt" ]

restart_n1 sh -c 'head -n -1 seq >seq.cut && mv seq.cut seq' # its "end" line
replay_refused "sequence store cut short at a line" "cut short"

# --- a revoked key stays revoked when the trust file goes
# (moving a damaged store away, as an operator would, so a build that cannot
# start on one still runs the trust checks below)
restart_n1 rm -f seq
K0=$(key_id "$T/keys/controller.pub")
K1=$(key_id "$T/k1/controller.pub")
"$LOAXA" key recover --recovery-key "$T/recovery/controller.key" --site "$SITE" \
	--trust "$T/k1/controller.pub" --revoke "$T/keys/controller.pub" --days 365 \
	-o "$T/recover.bin" >/dev/null 2>&1
inject zone/all/key "$T/recover.bin" -r
check "the recovery document is applied: n1 trusts $K1 only" \
	wait_for 10 eval 'trust_has $K1 && ! trust_has $K0'
# a command like the controller's, signed by the revoked key (node.cfg's)
body_len=$(od -An -tu4 --endian=big -j 56 -N4 "$T/vol40.bin" | tr -d ' ')
dd if="$T/vol40.bin" bs=1 skip=60 count="$body_len" status=none | sed 's/"level":40/"level":30/' >"$T/vol30.json"
diag "command body: $(cat "$T/vol30.json")"
revoked_cmd() {
	"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type cmd <"$T/vol30.json" >"$T/m.bin"
	inject node/n1/cmd "$T/m.bin"
}
refused_k0() { # LABEL
	local label=$1 before
	if ! node_online n1; then
		not_ok "$label: n1 starts"
		dump_log "$T/n1/node.log" 15
		return
	fi
	check "$label: the retained recovery document is taken again: trusts $K1, not $K0" \
		wait_for 10 eval 'trust_has $K1 && ! trust_has $K0'
	before=$(( $(rejected n1 revoked_key) + $(rejected n1 unknown_key) ))
	revoked_cmd
	check "$label: a command signed by the revoked key is refused" \
		wait_for 10 eval '[ $(( $(rejected n1 revoked_key) + $(rejected n1 unknown_key) )) -gt $before ]'
	sleep 0.5
	check "$label: nothing changed (volume still 60)" volume_is 60
	check "$label: status \"state\" says why" wait_for 10 state_says "trust.json"
	check "$label: the controller raises alarm \"state\"" wait_for 15 alarm_up "trust.json"
}
revoked_cmd
check "before: a command signed by the revoked key is refused (revoked_key)" \
	wait_for 10 eval '[ "$(rejected n1 revoked_key)" -ge 1 ]'
restart_n1 rm -f trust.json
refused_k0 "trust file deleted"
restart_n1 sh -c 'echo "{\"trusted\": [" >trust.json'
refused_k0 "trust file corrupt"
"$SEALCMD" --key "$T/k1/controller.key" --site "$SITE" --type cmd <"$T/vol30.json" >"$T/m.bin"
inject node/n1/cmd "$T/m.bin"
check "a command signed by the recovered key $K1 is still accepted" wait_for 10 volume_is 30

stop_all_checked
finish
