#!/bin/bash
# Hostile input to the controller on its inbound topics (node/+/status,
# node/+/event, node/+/fetch), through mosquitto_pub: garbage, empty, 10 MB,
# JSON of the wrong shape or types, a body whose node differs from the
# topic's, numbers out of range, deep nesting, a stale offline Will. Each
# time: the controller logs why it ignored the message (naming the topic),
# stays up, its API answers, and what it knows is unchanged (`loaxa nodes`:
# n1 online in thon-1 with its boot and version; no invented nodes; no plays).
# At the end a normal broadcast still works.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

# The controller's words for an ignored message (controller/).
# Its lines say "ignoring ... on <topic>: <why>" or "... of node <id> ...".
R_IGNORED=${R_IGNORED:-'ignor|drop|cleared|refus|reject'}

BROKER_NO_LIMIT=1 start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1
CLOG=${LOG_OF[controller]}
CPID=${PID_OF[controller]}
ROOTT=loaxa/$SITE

before_nodes=$(node_json n1 | jq -c '{node, zones, online, boot, version}')
diag "n1 before: $before_nodes"
plays_before=$("$LOAXA" plays --json 2>/dev/null | jq '.plays | length')

pub() { # pub TOPIC FILE ('' = empty)
	if [ -z "$2" ]; then
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$ROOTT/$1" -n
	else
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$ROOTT/$1" -f "$2"
	fi
}

N=0
# expect_ignored TOPIC WHAT BODY-FILE : a log line naming the topic and a
# reason; the controller is alive and its API answers.
expect_ignored() {
	local topic=$1 what=$2 file=$3 re before who
	who=${topic#node/}
	who="$ROOTT/$topic|node ${who%%/*}"
	re="($who).*($R_IGNORED)|($R_IGNORED).*($who)"
	before=$(log_count "$CLOG" "$re")
	if ! pub "$topic" "$file" 2>"$T/pub.err"; then
		not_ok "$topic: $what published (mosquitto_pub failed)"
		sed 's/^/#   /' "$T/pub.err"
		return 1
	fi
	if wait_for 15 log_grows "$CLOG" "$re" "$before"; then
		ok "$topic: $what ignored, logged: $(grep -E -- "$re" "$CLOG" | tail -n 1 | sed 's/^[0-9:. ]*//' | cut -c1-150)"
	else
		not_ok "$topic: $what ignored with a log line naming the topic (or node) and a reason"
		dump_log "$CLOG" 8
	fi
	if ! alive "$CPID"; then
		not_ok "controller still running after $what on $topic"
		dump_log "$CLOG" 40
		exit 1
	fi
	api_up || not_ok "controller API answers after $what on $topic"
}

body() { # body NAME TEXT : a payload file
	N=$((N + 1))
	printf '%s' "$2" >"$T/b$N-$1"
	echo "$T/b$N-$1"
}

head -c 500 /dev/urandom >"$T/garbage"
{ printf '{"node":"n1","online":true,"pad":"'; head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' 'a'; printf '"}'; } >"$T/10mb.json"
head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/10mb.bin"
printf "%*s" 60000 "" | tr " " "[" >"$T/deep.json"
{ printf '{"node":"n1","online":true,"boot":1,"x":'; printf '%*s' 5000 '' | tr ' ' '['; printf '%*s' 5000 '' | tr ' ' ']'; printf '}'; } >"$T/deep2.json"
{ printf '{"node":"n1","online":true,"boot":1,"version":"'; head -c 60000 /dev/zero | tr '\0' 'v'; printf '"}'; } >"$T/longstr.json"

# Every topic: shapes that are not messages at all.
for kind in status event fetch; do
	t=node/n1/$kind
	expect_ignored "$t" "garbage (500 random bytes)" "$T/garbage"
	expect_ignored "$t" "an empty payload" ''
	expect_ignored "$t" "10 MB of random bytes" "$T/10mb.bin"
	expect_ignored "$t" "a 10 MB JSON object" "$T/10mb.json"
	expect_ignored "$t" "60000 nested arrays" "$T/deep.json"
	expect_ignored "$t" "an object nested 5000 deep" "$T/deep2.json"
	expect_ignored "$t" "a JSON array" "$(body arr '[1,2,3]')"
	expect_ignored "$t" "a JSON string" "$(body str '"n1"')"
	expect_ignored "$t" "truncated JSON" "$(body trunc '{"node":"n1","onl')"
	expect_ignored "$t" "a body naming another node (n2)" \
		"$(body mismatch '{"node":"n2","online":false,"boot":99,"id":"n2-99-1","type":"play_finished","content":"'"$(printf '%064d' 0)"'","from":0,"count":1}')"
	expect_ignored "$t" "node as a number" "$(body nodenum '{"node":5,"online":true,"boot":1}')"
done

# status: wrong types and out-of-range numbers.
t=node/n1/status
expect_ignored "$t" "online as a string" "$(body s1 '{"node":"n1","online":"yes","boot":1}')"
expect_ignored "$t" "boot as a string" "$(body s2 '{"node":"n1","online":true,"boot":"seven"}')"
expect_ignored "$t" "boot = -5" "$(body s3 '{"node":"n1","online":true,"boot":-5}')"
expect_ignored "$t" "boot = 1e400" "$(body s4 '{"node":"n1","online":true,"boot":1e400}')"
expect_ignored "$t" "boot = 99999999999999999999999" "$(body s5 '{"node":"n1","online":true,"boot":99999999999999999999999}')"
expect_ignored "$t" "boot = 1.5" "$(body s6 '{"node":"n1","online":true,"boot":1.5}')"
expect_ignored "$t" "zones as a string" "$(body s7 '{"node":"n1","online":true,"boot":1,"zones":"thon-1"}')"
expect_ignored "$t" "a zone name with a slash" "$(body s8 '{"node":"n1","online":true,"boot":1,"zones":["thon-1/../x"]}')"
expect_ignored "$t" "a 60 kB version string" "$T/longstr.json"
expect_ignored "node/N1!/status" "an invalid node id in the topic" "$(body s9 '{"node":"N1!","online":true,"boot":1}')"
expect_ignored "$t" "a stale Will (offline, boot 0)" "$(body s10 '{"node":"n1","online":false,"boot":0}')"

# event: wrong types, unknown type, missing id, out-of-range numbers.
t=node/n1/event
expect_ignored "$t" "an event without id" "$(body e1 '{"node":"n1","boot":1,"type":"play_finished","ts":1,"broadcast":"b-x"}')"
expect_ignored "$t" "an unknown event type" "$(body e2 '{"id":"n1-1-1","node":"n1","boot":1,"type":"self_destruct","ts":1}')"
expect_ignored "$t" "ts as a string" "$(body e3 '{"id":"n1-1-2","node":"n1","boot":1,"type":"play_finished","ts":"now","broadcast":"b-x"}')"
expect_ignored "$t" "duration_ms = 1e400" "$(body e4 '{"id":"n1-1-3","node":"n1","boot":1,"type":"play_finished","ts":1,"broadcast":"b-x","duration_ms":1e400}')"
expect_ignored "$t" "id as an object" "$(body e5 '{"id":{"a":1},"node":"n1","boot":1,"type":"play_finished","ts":1}')"

# fetch: bad content ids and ranges.
t=node/n1/fetch
expect_ignored "$t" "a path as content id" "$(body f1 '{"node":"n1","content":"../../../etc/passwd","from":0,"count":1}')"
expect_ignored "$t" "from = -1" "$(body f2 '{"node":"n1","content":"'"$(printf '%064d' 0)"'","from":-1,"count":1}')"
expect_ignored "$t" "count = 1e12" "$(body f3 '{"node":"n1","content":"'"$(printf '%064d' 0)"'","from":0,"count":1000000000000}')"
expect_ignored "$t" "count as a string" "$(body f4 '{"node":"n1","content":"'"$(printf '%064d' 0)"'","from":0,"count":"all"}')"

# State is as it was.
check "controller is still running" alive "$CPID"
after_nodes=$(node_json n1 | jq -c '{node, zones, online, boot, version}')
check "loaxa nodes: n1 unchanged (online, zones, boot, version)" [ "$after_nodes" = "$before_nodes" ] ||
	diag "before: $before_nodes after: $after_nodes"
names=$("$LOAXA" nodes --json 2>/dev/null | jq -r '[.nodes[].node] | sort | join(" ")')
check "loaxa nodes lists only n1 (no node invented from hostile input)" [ "$names" = n1 ] ||
	diag "nodes: $names"
plays_after=$("$LOAXA" plays --json 2>/dev/null | jq '.plays | length')
check "no play events recorded from hostile input" [ "${plays_after:-x}" = "${plays_before:-y}" ] ||
	diag "plays before $plays_before, after $plays_after"

# And it still does its job.
speech "$T/a.wav" "Thông báo: hệ thống vẫn hoạt động." || exit 1
capture_mark n1
if "$LOAXA" play "$T/a.wav" --zone thon-1 --wait=60 --json >"$T/play.json" 2>"$T/play.err"; then
	ok "a broadcast to thon-1 still works afterwards"
else
	fail "a broadcast to thon-1 still works afterwards"
	sed 's/^/#   /' "$T/play.json" "$T/play.err"
fi
check "n1 played it" capture_nonsilent_since n1

stop_all_checked
finish
