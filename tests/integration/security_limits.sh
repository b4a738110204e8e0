#!/bin/bash
# Bounded resources at a node (issue 14 point 9, docs/security.md "Limits"):
# whoever controls the broker publishes a 32 MiB message on a node's command
# topic. The node announced max_message_bytes (+1 KiB) as its MQTT 5 Maximum
# Packet Size when it connected, so the broker drops the message for it:
# the node's peak resident memory does not grow by anything near 32 MiB,
# nothing reaches its envelope check, and it keeps working (a signed command
# after it is applied). Before, libmosquitto read the whole 32 MiB into
# memory and the node refused it only then (status rejected.oversized).
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

# no broker-wide max_packet_size: the broker's admin (or a careless one)
# allows big messages; the node must protect itself
BROKER_NO_LIMIT=1 start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1
NPID=${PID_OF[n1]}
R=loaxa/$SITE

hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$NPID/status"; }
rejected() { node_json n1 | jq -r --arg r "$1" '.status.rejected[$r] // 0'; }
"$LOAXA" node volume n1 40 >/dev/null 2>&1
check "n1 works before (volume 40)" wait_for 10 eval 'node_json n1 | jq -e ".status.volume == 40" >/dev/null'
sleep 1
before=$(hwm_kb)
head -c $((32 * 1024 * 1024)) /dev/zero >"$T/big.bin"
check "mosquitto_pub sends 32 MiB to node/n1/cmd as the broker's admin would" \
	mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$R/node/n1/cmd" -f "$T/big.bin"
rm -f "$T/big.bin"
sleep 3
after=$(hwm_kb)
grow=$(( (after - before) / 1024 ))
diag "n1 peak RSS (VmHWM) $((before / 1024)) MiB before, $((after / 1024)) MiB after: +$grow MiB"
check "n1's peak memory grew by less than 8 MiB for a 32 MiB message (+$grow MiB)" [ "$grow" -lt 8 ]
check "n1 never read it (status rejected.oversized = $(rejected oversized))" [ "$(rejected oversized)" = 0 ]
check "the broker says it dropped the message for n1" \
	grep -qE 'Dropping too large outgoing PUBLISH for [^ ]*-n1-' "$T/broker.log"
check "n1 is still running" alive "$NPID"
"$LOAXA" node volume n1 60 >/dev/null 2>&1
check "n1 still applies a signed command (volume 60)" \
	wait_for 10 eval 'node_json n1 | jq -e ".status.volume == 60" >/dev/null'

stop_all_checked
finish
