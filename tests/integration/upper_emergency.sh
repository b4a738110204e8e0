#!/bin/bash
# Bulletins from above (issue 18.1-3, docs/protocol.md "Bulletins from above")
# with real parts: three mosquitto brokers made by `loaxa broker-config`,
# chained by Mosquitto's own bridge (province 40 <- district 412 <- commune
# xa-test, each bridge written by `loaxa broker-config --bridge`, TLS and
# accounts on every link), the commune's controller and node n1 (paced
# card), and a province controller (same binary, area.level = "province").
#   - the commune's trust document lists its area and the district's and
#     province's keys (province: emergency; district: priority only); n1
#     subscribes to loaxa/area/412/cmd and loaxa/area/40/cmd;
#   - with the commune controller STOPPED, `loaxa emergency start --area
#     --clip flood` on the province controller sounds n1 (its own flood clip
#     after the tone);
#   - forged upper messages reach n1 through the bridges and are refused and
#     counted (rejected.upper): an unknown key, the district's key (listed
#     without "emergency"), the province's key for another province (41);
#     the status that counts them is read on the DISTRICT broker (bridged up);
#   - the district broker killed: the commune's node still plays its own
#     commune's emergency; the bridges reconnect by themselves when it
#     returns and the next provincial emergency sounds again;
#   - the commune's signed summary goes up its bridge: the district's
#     controller lists it in `loaxa areas` (Vietnamese headings); accounts
#     scoped to area codes see only theirs and address only theirs;
#   - the commune's play log (its controller restarted) records the upper
#     emergency with "from": "province 40".
SECURE=1
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD"

ME=$(id -un)
PSITE=tinh-40
DSITE=huyen-412
# ---------------------------------------------------------------- keys
keygen || exit 1
keygen "$T/pkeys" || exit 1
keygen "$T/dkeys" || exit 1
keygen "$T/fkeys" || exit 1   # a key nobody lists (the forger's)

# ---------------------------------------------------------------- brokers
# upper_broker NAME DIR : mosquitto with DIR/mosquitto.conf (made below)
upper_broker() {
	local name=$1 dir=$2
	LOG_OF[$name]=$T/$name.log
	mosquitto -c "$dir/mosquitto.conf" >>"$T/$name.log" 2>&1 &
	PID_OF[$name]=$!
	[[ " ${STOP_ORDER[*]} " == *" $name "* ]] || STOP_ORDER+=("$name")
}
# up_on PORT DIR : the controller account of that broker publishes over TLS
up_on() {
	mosquitto_pub -h 127.0.0.1 -p "$1" --cafile "$2/ca.crt" -u controller \
		-P "$(cat "$2/controller.password")" -i "probe-$$" -t "loaxa/area/probe" -n -q 0 \
		>/dev/null 2>&1
}

PPORT=$(free_port)
DPORT=$(free_port)
while [ "$DPORT" = "$PPORT" ]; do DPORT=$(free_port); done
"$LOAXA" broker-config --dir "$T/pbroker" --site "$PSITE" --port "$PPORT" --listen 127.0.0.1 \
	--user "$ME" --area 40 --downstream "$DSITE" >"$T/pbroker-config.log" 2>&1 ||
	{ fail "broker-config makes the province's broker"; dump_log "$T/pbroker-config.log"; exit 1; }
"$LOAXA" broker-config --dir "$T/dbroker" --site "$DSITE" --port "$DPORT" --listen 127.0.0.1 \
	--user "$ME" --area 412 --downstream "$SITE" \
	--bridge tinh --remote "127.0.0.1:$PPORT" --ca "$T/pbroker/ca.crt" --account "$DSITE" \
	--password-file "$T/pbroker/downstream-$DSITE.password" --upper 40 \
	>"$T/dbroker-config.log" 2>&1 ||
	{ fail "broker-config makes the district's broker and its bridge"; dump_log "$T/dbroker-config.log"; exit 1; }
check "the district's bridge maps the province's bulletins in and its own status and summary out" \
	grep -qx "topic loaxa/area/40/cmd in 1" "$T/dbroker/bridges/tinh.conf"
# 0640: the broker runs as user mosquitto and reads it through the group of
# the setgid directory (first-install); others read nothing
check "the bridge file holds the password and is 0640 (the broker's group, no one else)" \
	[ "$(stat -c %a "$T/dbroker/bridges/tinh.conf")" = 640 ]
check "the province's broker has the district's bridge account (reads area commands only)" \
	grep -q "^user $DSITE" "$T/pbroker/acl"
upper_broker pbroker "$T/pbroker"
wait_for 10 up_on "$PPORT" "$T/pbroker" || { fail "the province's broker starts"; dump_log "$T/pbroker.log"; exit 1; }
upper_broker dbroker "$T/dbroker"
wait_for 10 up_on "$DPORT" "$T/dbroker" || { fail "the district's broker starts"; dump_log "$T/dbroker.log"; exit 1; }

# The commune's broker: its bridge to the district first, then lib's broker
# (start_broker runs broker-config again: bridges/ is kept).
CPORT=$(free_port)
while [ "$CPORT" = "$PPORT" ] || [ "$CPORT" = "$DPORT" ]; do CPORT=$(free_port); done
"$LOAXA" broker-config --dir "$T/broker" --site "$SITE" --port "$CPORT" --listen 127.0.0.1 \
	--user "$ME" --bridge huyen --remote "127.0.0.1:$DPORT" --ca "$T/dbroker/ca.crt" \
	--account "$SITE" --password-file "$T/dbroker/downstream-$SITE.password" \
	--upper 412 --upper 40 >"$T/cbroker-config.log" 2>&1 ||
	{ fail "broker-config makes the commune's bridge"; dump_log "$T/cbroker-config.log"; exit 1; }
start_broker broker "$CPORT" || exit 1

# bridged: a message on the province's area topic reaches the commune's
# broker, read with n1's account (its ACL lets it read that topic; the bridges carry nothing else down; n1 refuses the probe, which is
# no envelope, and counts it: the refusal counts below are differences)
bridged() {
	local got
	got=$(timeout 3 mosquitto_sub -h 127.0.0.1 -p "$CPORT" --cafile "$T/broker/ca.crt" \
		-u n1 -P "$(cat "$T/n1/bundle/mqtt.password")" -i "bsub-$$" \
		-t loaxa/area/40/cmd -C 1 -W 3 2>/dev/null &
		sleep 0.5
		mosquitto_pub -h 127.0.0.1 -p "$PPORT" --cafile "$T/pbroker/ca.crt" -u controller \
			-P "$(cat "$T/pbroker/controller.password")" -t loaxa/area/40/cmd -m probe -q 1 \
			>/dev/null 2>&1
		wait)
	[ "$got" = probe ]
}

# ---------------------------------------------------------------- controllers
PPUB=$(cat "$T/pkeys/controller.pub")
DPUB=$(cat "$T/dkeys/controller.pub")
write_controller_cfg \
	"area = { level = \"commune\"; code = \"12345\"; name = \"Xã Thử\";" \
	"  parent = ( { level = \"district\"; code = \"412\"; name = \"Huyện Thử\"; key = \"$DPUB\"; may = [\"priority\"]; }," \
	"             { level = \"province\"; code = \"40\"; name = \"Tỉnh Thử\"; key = \"$PPUB\"; may = [\"emergency\"]; } ); };"
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1 || exit 1
check "n1's broker account may read its upper areas' command topics" \
	grep -q "topic read loaxa/area/40/cmd" "$T/broker/acl"
echo "emergency_volume = 90;" >>"$T/n1/node.cfg"
start_node n1 || exit 1

if LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone drill flood \
	>"$T/clips.log" 2>&1; then
	ok "the commune's emergency clips (tone, drill, flood) are made"
else
	fail "scripts/emergency-clips.sh makes the clips"
	dump_log "$T/clips.log"
	exit 1
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
upper_ready() {
	local out
	out=$(node_json n1) && jq -e --arg s "$SET" \
		'.status.emergency.clips_set == $s and ([.status.emergency.clips[]] | all) and
		 (.status.upper.upper | sort) == ["district 412", "province 40"] and
		 .status.upper.area.province == "40"' >/dev/null <<<"$out"
}
if wait_for 60 upper_ready; then
	ok "n1 holds the clips and trusts district 412 and province 40 (its trust document's area part)"
else
	fail "n1 holds the clips and trusts its upper levels"
	node_json n1 | jq -c '.status.upper, .status.emergency' | sed 's/^/#   /'
	exit 1
fi
check "n1 keeps the upper keys on disk (state/upper.json)" \
	jq -e '.area.commune == "12345" and (.upper | length) == 2' "$T/n1/state/upper.json"
wait_for 15 grep -q "listening to province 40 on loaxa/area/40/cmd" "$T/n1/node.log"
check "n1 listens on loaxa/area/40/cmd and loaxa/area/412/cmd" \
	grep -q "listening to district 412 on loaxa/area/412/cmd" "$T/n1/node.log"
if wait_for 20 bridged; then
	ok "a message on the province's broker reaches the commune's broker through two bridges"
else
	fail "the bridges carry loaxa/area/40/... from the province to the commune"
	dump_log "$T/dbroker.log"
	dump_log "$T/broker.log"
fi

# upper_controller NAME SITE KEYDIR PORT BROKERDIR AREA... : the same
# controller binary for a district or a province (no nodes), its API on
# $T/NAME/api.sock; run its CLI with: as NAME loaxa-args...
upper_controller() {
	local name=$1 site=$2 keys=$3 port=$4 bdir=$5 d=$T/$1
	shift 5
	mkdir -p "$d"
	{
		echo "site = \"$site\";"
		echo "state_dir = \"state\";"
		echo "api_socket = \"$d/api.sock\";"
		echo "key = \"$keys/controller.key\";"
		echo "mqtt = { host = \"127.0.0.1\"; port = $port; keepalive = 30; username = \"controller\";"
		echo "  password_file = \"$bdir/controller.password\"; cafile = \"$bdir/ca.crt\"; };"
		local l
		for l in "$@"; do echo "$l"; done
	} >"$d/controller.cfg"
	"$CONTROLLER" -c "$d/controller.cfg" --add-admin admin --password-file "$T/admin.pw" \
		>"$d/admin.log" 2>&1 || { fail "the $name controller's administrator"; dump_log "$d/admin.log"; return 1; }
	LOG_OF[$name]=$d/controller.log
	"$CONTROLLER" -c "$d/controller.cfg" -v >>"$d/controller.log" 2>&1 &
	PID_OF[$name]=$!
	STOP_ORDER+=("$name")
	wait_for 30 as "$name" login admin --password-file "$T/admin.pw" ||
		{ fail "the $name controller starts"; dump_log "$d/controller.log"; return 1; }
	wait_for 15 grep -q "connected to the MQTT broker" "$d/controller.log"
}
as() { local n=$1; shift; LOAXA_SOCKET=$T/$n/api.sock LOAXA_TOKEN_FILE=$T/$n/token "$LOAXA" "$@"; }
prov() { as pctl "$@"; }

upper_controller pctl "$PSITE" "$T/pkeys" "$PPORT" "$T/pbroker" \
	'area = { level = "province"; code = "40"; name = "Tỉnh Thử"; };' || exit 1
upper_controller dctl "$DSITE" "$T/dkeys" "$DPORT" "$T/dbroker" \
	'area = { level = "district"; code = "412"; name = "Huyện Thử";' \
	'  parent = ( { level = "province"; code = "40"; name = "Tỉnh Thử"; } ); };' || exit 1

# the roll-up: the commune's signed summary, bridged up to its district
# (jq -e on no input at all succeeds: every check reads the answer first)
rolled_up() {
	local out
	out=$(as dctl areas --json) &&
		jq -e --arg s "$SITE" '[.areas[] | select(.site == $s and
		.area.commune == "12345" and .nodes.online == 1 and .nodes.total == 1 and
		.ready == 1 and .name == "Xã Thử")] | length == 1' >/dev/null <<<"$out"
}
if wait_for 40 rolled_up; then
	ok "the district sees the commune's summary (1/1 nodes online, 1 ready) in loaxa areas"
else
	fail "the commune's summary reaches the district (loaxa areas)"
	as dctl areas --json 2>&1 | sed 's/^/#   /'
fi
check "loaxa areas prints Vietnamese headings and the commune's name" \
	bash -c "LOAXA_SOCKET=$T/dctl/api.sock LOAXA_TOKEN_FILE=$T/dctl/token '$LOAXA' areas | grep -q 'CỤM TRỰC TUYẾN' &&
		LOAXA_SOCKET=$T/dctl/api.sock LOAXA_TOKEN_FILE=$T/dctl/token '$LOAXA' areas | grep -q 'Xã Thử'"
# accounts scoped to areas on the district's controller (its zones are area codes)
head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$T/scoped.pw"
as dctl user add xa-other --role approver --zone 12399 --password-file "$T/scoped.pw" >/dev/null &&
	as dctl user add huyen-op --role approver --zone 412 --password-file "$T/scoped.pw" >/dev/null ||
	not_ok "scoped accounts are made on the district's controller"
scoped() { # scoped USER loaxa-args...
	local u=$1
	shift
	LOAXA_SOCKET=$T/dctl/api.sock LOAXA_TOKEN_FILE=$T/dctl/token-$u "$LOAXA" "$@"
}
scoped xa-other login xa-other --password-file "$T/scoped.pw" >/dev/null 2>&1
scoped huyen-op login huyen-op --password-file "$T/scoped.pw" >/dev/null 2>&1
areas_count() { # areas_count USER N : that account's loaxa areas lists N communes
	local out
	out=$(scoped "$1" areas --json) && jq -e --argjson n "$2" '(.areas | length) == $n' \
		>/dev/null <<<"$out"
}
check "an account scoped to another commune (12399) does not see commune 12345" \
	areas_count xa-other 0
check "an account scoped to district 412 sees it" areas_count huyen-op 1
check "the commune-12399 account may not send the district's emergency to all its communes" \
	bash -c "LOAXA_SOCKET=$T/dctl/api.sock LOAXA_TOKEN_FILE=$T/dctl/token-xa-other '$LOAXA' emergency start --area --clip flood --drill 2>&1 | grep -q 'only the areas of its scope'"
prov_empty() {
	local out
	out=$(prov areas --json) && jq -e '.level == "province" and (.areas | length) == 0' \
		>/dev/null <<<"$out"
}
check "the province lists no commune: summaries go up one level (the district's bridge carries only its own)" \
	prov_empty

# ---------------------------------------------------------------- with the commune controller down
stop controller
ok "the commune's controller is stopped"
onsets_now() { onsets n1 | wc -l; }
sounding_since() { [ "$(onsets_now)" -gt "$1" ]; }
B0=$(onsets_now)
T0=$(now_ms)
if prov emergency start --area --clip flood --max 20s --json >"$T/prov1.json" 2>"$T/prov1.err"; then
	ok "loaxa emergency start --area on the province controller sends it"
else
	fail "loaxa emergency start --area"
	dump_log "$T/prov1.err"
fi
ID1=$(jq -r .emergency "$T/prov1.json")
check "its id names the province (e-a40-...) and its topic is loaxa/area/40/cmd" \
	[ "${ID1#e-a40-}" != "$ID1" ] && [ "$(jq -r .topic "$T/prov1.json")" = loaxa/area/40/cmd ]
if wait_for 15 sounding_since "$B0"; then
	ok "n1 sounds the provincial emergency while its commune controller is down ($(($(now_ms) - T0)) ms to the first onset, load $(cut -d' ' -f1 /proc/loadavg))"
else
	fail "n1 sounds the provincial emergency with the commune controller down"
	dump_log "$T/n1/node.log"
fi
check "n1's log says where it came from" \
	grep -q "emergency_start $ID1 from province 40" "$T/n1/node.log"
check "n1 plays its own flood clip after the alert tone" \
	grep -q "EMERGENCY $ID1 received: clip flood after the alert tone" "$T/n1/node.log"
prov emergency stop --area "$ID1" >/dev/null 2>"$T/prov1stop.err" ||
	{ not_ok "loaxa emergency stop --area $ID1"; dump_log "$T/prov1stop.err"; }
wait_for 15 grep -q "$ID1 ended (stopped)" "$T/n1/node.log"
check "the province's stop ends it on n1" grep -q "$ID1 ended (stopped)" "$T/n1/node.log"

# ---------------------------------------------------------------- forgeries
pub_area() { # pub_area PORT BROKERDIR TOPIC FILE
	mosquitto_pub -h 127.0.0.1 -p "$1" --cafile "$2/ca.crt" -u controller \
		-P "$(cat "$2/controller.password")" -t "$3" -f "$4" -q 1
}
seal() { # seal KEYDIR SITE BODY OUT [FLAGS]
	printf '%s' "$3" | "$SEALCMD" --key "$1/controller.key" --site "$2" --type cmd \
		--expires-in 300000 >"$4"
}
BODY40='{"cmd":"emergency_start","to":{"area":"40"},"id":"e-forged-1","drill":false,"clip":"flood"}'
seal "$T/fkeys" 40 "$BODY40" "$T/f1.bin"
seal "$T/dkeys" 412 '{"cmd":"emergency_start","to":{"area":"412"},"id":"e-forged-2","drill":false,"clip":"flood"}' "$T/f2.bin"
seal "$T/pkeys" 40 '{"cmd":"emergency_start","to":{"area":"41"},"id":"e-forged-3","drill":false,"clip":"flood"}' "$T/f3.bin"
# the node's status, as the DISTRICT sees it (bridged up from the commune)
dstatus() {
	timeout 3 mosquitto_sub -h 127.0.0.1 -p "$DPORT" --cafile "$T/dbroker/ca.crt" -u controller \
		-P "$(cat "$T/dbroker/controller.password")" -t "loaxa/$SITE/node/n1/status" -C 1 \
		-W 3 2>/dev/null
}
refused() { dstatus | jq -r '.rejected.upper // 0'; }
R0=$(refused)
B1=$(onsets_now)
pub_area "$PPORT" "$T/pbroker" loaxa/area/40/cmd "$T/f1.bin"
pub_area "$DPORT" "$T/dbroker" loaxa/area/412/cmd "$T/f2.bin"
pub_area "$PPORT" "$T/pbroker" loaxa/area/40/cmd "$T/f3.bin"
refused3() { [ "$(refused)" -ge $((R0 + 3)) ]; }
if wait_for 20 refused3; then
	ok "the three forgeries are refused and counted (rejected.upper $R0 -> $(refused), read on the district's broker)"
else
	fail "the forgeries are refused and counted in n1's status"
	dstatus | jq -c .rejected | sed 's/^/#   /'
fi
check "an unknown key is refused" grep -q "not signed by a key this commune trusts for area 40" "$T/n1/node.log"
check "the district's key (listed without emergency) is refused" \
	grep -q "district 412 may not send emergencies" "$T/n1/node.log"
check "the province's key for another province is refused" \
	grep -q "addressed to area 41" "$T/n1/node.log"
sleep 1
check "none of them sounded" [ "$(onsets_now)" = "$B1" ]

# ---------------------------------------------------------------- the district's broker goes down
start_controller || exit 1
wait_for 30 node_online n1
stop dbroker
ok "the district's broker is killed"
B2=$(onsets_now)
if "$LOAXA" emergency start --clip flood --all --max 3s --timeout 15 --json >"$T/own.json" 2>"$T/own.err"; then
	ok "the commune's own emergency still plays on n1 without its district (all nodes confirmed)"
else
	fail "the commune's own emergency plays while the district is down"
	dump_log "$T/own.err"
fi
check "n1 sounded it" sounding_since "$B2"
OWN=$(jq -r .emergency "$T/own.json")
wait_for 20 grep -q "$OWN ended" "$T/n1/node.log"
upper_broker dbroker "$T/dbroker"
wait_for 10 up_on "$DPORT" "$T/dbroker" || fail "the district's broker comes back"
if wait_for 30 bridged; then
	ok "both bridges reconnect by themselves when the district's broker returns"
else
	fail "the bridges reconnect after the district's broker returns"
	dump_log "$T/broker.log"
fi
B3=$(onsets_now)
prov emergency start --area --clip flood --max 10s --json >"$T/prov2.json" 2>"$T/prov2.err" ||
	{ not_ok "the second provincial emergency is sent"; dump_log "$T/prov2.err"; }
ID2=$(jq -r .emergency "$T/prov2.json")
if wait_for 15 sounding_since "$B3"; then
	ok "after the district's return, the next provincial emergency sounds on n1 again"
else
	fail "the provincial emergency sounds after the district broker returned"
	dump_log "$T/n1/node.log"
fi
prov emergency stop --area "$ID2" >/dev/null 2>&1

# ---------------------------------------------------------------- the commune's log
from_logged() {
	local out
	out=$("$LOAXA" log --type emergency_started --json 2>/dev/null) &&
		jq -e --arg id "$ID1" '[.events[] | select(.broadcast == $id and
			.from == "province 40")] | length > 0' >/dev/null <<<"$out"
}
# the node resends what its controller has not acknowledged every 45 s
# (node/events.h EVENTS_RESEND_MS): its events of ID1 went out while the
# controller was down
if wait_for 90 from_logged; then
	ok "the commune's play log records $ID1 from province 40 (journaled on n1 while its controller was down)"
else
	fail "the commune's play log records the upper emergency"
	"$LOAXA" log --type emergency_started --json 2>/dev/null | jq -c '.events[]' | sed 's/^/#   /'
fi
check "loaxa log shows it as \"from province 40\"" \
	bash -c "'$LOAXA' log --type emergency_started | grep -q 'from province 40'"

stop_all_checked
finish
