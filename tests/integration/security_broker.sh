#!/bin/bash
# The broker as `loaxa broker-config` and `loaxa node add` make it
# (docs/security.md), against a real mosquitto:
#   - no anonymous access, over TLS or plain TCP; a wrong password refused;
#     a certificate from another CA refused by the clients;
#   - a node's credentials publish only its own topics: n1 cannot publish
#     n2's status (an independent subscriber with the controller's account
#     sees nothing; ACL denials are silent), but can its own time/ping;
#   - n1 cannot read n2's node topics nor thon-2's zone topics, but reads
#     its own zone's;
#   - a revoked node cannot connect any more (nor reconnect), the others
#     keep playing; the revocation is in the signed trust document;
#   - the broker drops a packet over max_packet_size;
#   - a broker certificate close to expiry raises the controller's alarm.
SECURE=1
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
write_node_cfg n2 thon-2
for n in n1 n2; do start_node "$n" || exit 1; done
ok "n1 and n2 come online over TLS with their own accounts"

B=$T/broker
R=loaxa/$SITE
CA=(--cafile "$B/ca.crt")
CTL=(-u controller -P "$(cat "$B/controller.password")")
N1=(-u n1 -P "$(cat "$T/n1/bundle/mqtt.password")")
N2=(-u n2 -P "$(cat "$T/n2/bundle/mqtt.password")")
P=(-h 127.0.0.1 -p "$BROKER_PORT")

bundle_ok() {
	[ -f "$T/n1/bundle/node.cfg" ] && [ -f "$T/n1/bundle/ca.crt" ] &&
		[ "$(stat -c %a "$T/n1/bundle/mqtt.password")" = 600 ]
}
check "the bundle holds node.cfg, ca.crt and a 0600 mqtt.password" bundle_ok
check "the bundle's node.cfg passes --check-config" \
	"$NODE" --check-config -c "$T/n1/bundle/node.cfg"
# the new config fields are checked, errors name file:line and field
sed 's|cafile = "ca.crt"|cafile = "missing.crt"|' "$T/n1/bundle/node.cfg" >"$T/n1/bundle/bad.cfg"
out=$("$NODE" --check-config -c "$T/n1/bundle/bad.cfg" 2>&1)
check "node.cfg: a missing mqtt.cafile is an error naming file:line and field" \
	grep -Eq 'bad.cfg:[0-9]+: field "mqtt.cafile": cannot read .*missing.crt' <<<"$out"
sed 's|password_file = "mqtt.password";|password = "x"; password_file = "mqtt.password";|' \
	"$T/n1/bundle/node.cfg" >"$T/n1/bundle/bad.cfg"
out=$("$NODE" --check-config -c "$T/n1/bundle/bad.cfg" 2>&1)
check "node.cfg: password and password_file together is an error" \
	grep -q 'field "mqtt.password_file": give mqtt.password or mqtt.password_file, not both' <<<"$out"
cp "$T/controller/controller.cfg" "$T/controller/bad.cfg"
echo 'keys = { lifetime_days = 0; };' >>"$T/controller/bad.cfg"
out=$("$CONTROLLER" --check-config -c "$T/controller/bad.cfg" 2>&1)
check "controller.cfg: keys.lifetime_days out of range is an error naming the field" \
	grep -Eq 'bad.cfg:[0-9]+: field "keys.lifetime_days"' <<<"$out"
check "the generated mosquitto.conf has no anonymous access and a packet limit" \
	grep -q '^allow_anonymous false' "$B/mosquitto.conf"
check "... and sets max_packet_size" grep -q '^max_packet_size [0-9]' "$B/mosquitto.conf"

# --- who may connect
pubq() { timeout 10 mosquitto_pub "${P[@]}" -q 1 "$@" >/dev/null 2>&1; }
if pubq "${CA[@]}" -i anon -t "$R/x" -m x; then
	not_ok "an anonymous client is refused (TLS)"
else
	ok "an anonymous client is refused (TLS)"
fi
if pubq -i plain "${N1[@]}" -t "$R/node/n1/time/ping" -m x; then
	not_ok "a client without TLS is refused"
else
	ok "a client without TLS is refused"
fi
if pubq "${CA[@]}" -i wrongpw -u n1 -P not-the-password -t "$R/node/n1/time/ping" -m x; then
	not_ok "a wrong password is refused"
else
	ok "a wrong password is refused"
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/other.key" \
	-out "$T/other.crt" -days 1 -subj /CN=other >/dev/null 2>&1
if pubq --cafile "$T/other.crt" -i otherca "${N1[@]}" -t "$R/node/n1/time/ping" -m x; then
	not_ok "a client trusting another CA refuses the broker's certificate"
else
	ok "a client trusting another CA refuses the broker's certificate"
fi

# --- what a node may publish: watch with the controller's account
watch_start() { # watch_start FILE TOPIC... : an independent subscriber
	local f=$1 args=()
	shift
	for t in "$@"; do args+=(-t "$t"); done
	mosquitto_sub "${P[@]}" "${CA[@]}" "${CTL[@]}" -i "watch-$RANDOM" -v "${args[@]}" \
		>"$f" 2>&1 &
	WATCH_PID=$!
	sleep 0.5
}
watch_stop() { sleep 1; kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; }

watch_start "$T/watch1" "$R/node/n2/status" "$R/node/n1/time/ping" "$R/node/n2/event"
pubq "${CA[@]}" -i n1-forger "${N1[@]}" -t "$R/node/n2/status" \
	-m '{"node":"n2","online":false,"boot":999,"forged":"by-n1"}'
pubq "${CA[@]}" -i n1-forger "${N1[@]}" -t "$R/node/n2/event" -m '{"forged":"by-n1"}'
pubq "${CA[@]}" -i n1-ping "${N1[@]}" -t "$R/node/n1/time/ping" -m 'n1-own-ping-marker'
watch_stop
check "n1's credentials publish on n1's own time/ping (seen by the watcher)" \
	grep -q 'n1-own-ping-marker' "$T/watch1"
if grep -q 'forged' "$T/watch1"; then
	not_ok "n1's credentials cannot publish n2's status or events"
	sed 's/^/#   /' "$T/watch1"
else
	ok "n1's credentials cannot publish n2's status or events (the watcher saw none)"
fi
check "the controller still shows n2 online (the forged offline status never arrived)" \
	node_online n2

# --- what a node may read
mosquitto_sub "${P[@]}" "${CA[@]}" "${N1[@]}" -i n1-spy -v -t "$R/node/n2/#" -t "$R/zone/thon-2/#" \
	-t "$R/zone/thon-1/#" >"$T/spy" 2>&1 &
SPY=$!
sleep 0.5
pubq "${CA[@]}" -i ctl-probe "${CTL[@]}" -t "$R/node/n2/plan" -m 'n2-plan-marker'
pubq "${CA[@]}" -i ctl-probe "${CTL[@]}" -t "$R/zone/thon-2/probe" -m 'thon2-marker'
pubq "${CA[@]}" -i ctl-probe "${CTL[@]}" -t "$R/zone/thon-1/probe" -m 'thon1-marker'
sleep 1
kill "$SPY" 2>/dev/null
wait "$SPY" 2>/dev/null
check "n1's credentials read its own zone (thon-1)" grep -q 'thon1-marker' "$T/spy"
if grep -Eq 'n2-plan-marker|thon2-marker|/node/n2/' "$T/spy"; then
	not_ok "n1's credentials cannot read n2's plan, status or thon-2"
	sed 's/^/#   /' "$T/spy"
else
	ok "n1's credentials cannot read n2's plan, status or thon-2's commands"
fi

# --- size limit
head -c 400000 /dev/zero | tr '\0' 'x' >"$T/big"
watch_start "$T/watch2" "$R/zone/thon-1/probe"
pubq "${CA[@]}" -i ctl-big "${CTL[@]}" -t "$R/zone/thon-1/probe" -f "$T/big"
watch_stop
if [ -s "$T/watch2" ]; then
	not_ok "the broker drops a 400 kB packet (max_packet_size)"
else
	ok "the broker drops a 400 kB packet (max_packet_size)"
fi

# --- revocation
check "n2 reaches the broker with its account before revocation" \
	pubq "${CA[@]}" -i n2-check "${N2[@]}" -t "$R/node/n2/time/ping" -m x
n2log=$(log_count "$T/n2/node.log" 'REVOKED')
out=$("$LOAXA" node revoke n2 2>&1)
check "loaxa node revoke n2 (\"$(tr '\n' ' ' <<<"$out")\")" grep -q 'revoked' <<<"$out"
if wait_for 10 log_grows "$T/n2/node.log" 'this node is REVOKED' "$n2log"; then
	ok "n2, still connected, gets the signed revocation and stops (its log says REVOKED)"
else
	not_ok "n2, still connected, gets the signed revocation"
	dump_log "$T/n2/node.log"
fi
wait_for 10 eval "node_json n2 | jq -e '.status.trust.revoked == true' >/dev/null"
check "n2's status says trust.revoked = true" \
	eval "node_json n2 | jq -e '.status.trust.revoked == true' >/dev/null"
reload_broker
if pubq "${CA[@]}" -i n2-after "${N2[@]}" -t "$R/node/n2/time/ping" -m x; then
	not_ok "n2's credentials are refused after revocation"
else
	ok "n2's credentials are refused after revocation"
fi
check "passwd no longer has n2" bash -c "! grep -q '^n2:' '$B/passwd'"
check "the acl no longer has n2" bash -c "! grep -q '^user n2' '$B/acl'"
check "loaxa node list shows n2 revoked" \
	grep -Eq '^n2 +revoked' <<<"$("$LOAXA" node list)"
trust=$(timeout 5 mosquitto_sub "${P[@]}" "${CA[@]}" "${CTL[@]}" -i trust-read -C 1 -N \
	-t "$R/zone/all/key" 2>/dev/null | tail -c +61 | head -c -64 | tr -d '\0')
check "the retained trust document lists n2 under revoked_nodes" \
	jq -e '.revoked_nodes == ["n2"]' <<<"$trust"
stop n2
n2log=$(log_count "$T/n2/node.log" 'not authori[sz]ed|refused')
NO_WAIT_ONLINE=1 start_node n2
if wait_for 15 log_grows "$T/n2/node.log" 'not authori[sz]ed|refused' "$n2log"; then
	ok "a revoked node restarting cannot connect (its log says the broker refused it)"
else
	not_ok "a revoked node restarting cannot connect"
	dump_log "$T/n2/node.log"
fi
stop n2
speech "$T/tb.wav" "Thông báo." || exit 1
res=$("$LOAXA" play "$T/tb.wav" --zone thon-1 --wait=60 --json 2>"$T/play.err")
check "n1 keeps working after n2's revocation (plays to the end)" \
	jq -e '[.. | objects | select(.node == "n1" and .result == "finished")] | length == 1' <<<"$res"

# --- certificate expiry: a broker certificate with 10 days left raises the alarm
sec=$("$LOAXA" key list --json)
check "the broker CA and certificate are watched, no alarm yet" \
	jq -e '[.status.certificates[] | select(.alarm == false)] | length == 2' <<<"$sec"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/short.key" -out "$T/short.csr" -subj /CN=localhost >/dev/null 2>&1
openssl x509 -req -in "$T/short.csr" -CA "$B/ca.crt" -CAkey "$B/ca.key" -CAcreateserial \
	-days 10 -out "$B/server.crt" >/dev/null 2>&1
sec=$("$LOAXA" key list --json)
check "a broker certificate with 10 days left is in alarm (GET /v1/keys, /v1/security)" \
	jq -e '.status.certificates[] | select((.file | endswith("server.crt")) and .alarm
		and .days_left <= 10)' <<<"$sec"
stop controller
start_controller || exit 1
check "the controller logs the certificate ALARM" \
	wait_for 5 grep -q 'ALARM: the certificate .*server.crt expires in' "$T/controller/controller.log"
cert_alarm() {
	"$LOAXA" alarms --json 2>/dev/null | jq -e '.alarms[] | select(.node == "@site" and
		.kind == "cert" and (.key | endswith("server.crt")) and
		(.detail | test("expires in (9|10) days")))' >/dev/null
}
check "the certificate expiry is an active site alarm in loaxa alarms (node @site, kind cert)" \
	wait_for 5 cert_alarm

stop_all_checked
finish
