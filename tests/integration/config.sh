#!/bin/bash
# Configuration checking: `--check-config` accepts the example configs and a
# minimal one, and refuses broken ones with exit status != 0 and a message
# that names file, line and field. A few messages are pinned word for word
# (golden), so an operator's error text does not drift unnoticed.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"

keygen || exit 1
D=$T/cfg
mkdir -p "$D"
cd "$D" || exit 1
PUB=$(cat "$T/keys/controller.pub")

# The examples shipped in etc/ (paths in them point at /etc, /var: only
# their syntax and values are checked). They use TLS and broker accounts
# (secure by default), whose files --check-config reads: a copy in $T/etc
# with /etc/loaxa/ pointing there and stand-ins for the CA and passwords.
mkdir -p "$T/etc/broker"
for f in etc/broker/ca.crt etc/broker/controller.password etc/ca.crt etc/mqtt.password; do
	echo "stand-in" >"$T/$f"
done
for d in controller node; do
	sed "s|/etc/loaxa/|$T/etc/|g" "$ROOT/etc/$d.cfg" >"$T/etc/$d.cfg"
	if "$LOAXA_BIN/loaxa-$d" --check-config -c "$T/etc/$d.cfg" >"$T/$d-example.out" 2>&1; then
		ok "loaxa-$d --check-config accepts etc/$d.cfg"
	else
		not_ok "loaxa-$d --check-config accepts etc/$d.cfg"
		sed 's/^/#   /' "$T/$d-example.out"
	fi
	check "etc/$d.cfg uses TLS and an account (no insecure MQTT, no warning)" \
		eval '! grep -q "insecure" "$T/$d-example.out" &&
			grep -Eq "^  cafile = " "$ROOT/etc/$d.cfg" &&
			grep -Eq "^  username = \"[a-z]" "$ROOT/etc/$d.cfg"'
done

# Minimal valid configs, one field per line so line numbers are stable.
base_controller() {
	cat <<EOF
site = "xa-demo";
state_dir = "state";
api_socket = "$D/api.sock";
key = "$T/keys/controller.key";
mqtt = { insecure = true;
  host = "127.0.0.1";
  port = 1883;
};
delivery = {
  chunk_bytes = 65536;
};
EOF
}
base_node() {
	cat <<EOF
site = "xa-demo";
node = "n1";
zones = ["thon-1"];
state_dir = "state";
controller_key = "$PUB";
mqtt = { insecure = true;
  host = "127.0.0.1";
  port = 1883;
};
alsa = {
  device = "default";
  channels = 1;
};
EOF
}

base_controller >controller.cfg
base_node >node.cfg
quiet() { "$@" >"$T/out" 2>&1 || { sed 's/^/#   got: /' "$T/out"; return 1; }; }
check "a minimal controller.cfg passes --check-config" \
	quiet "$CONTROLLER" --check-config -c controller.cfg
check "a minimal node.cfg passes --check-config" quiet "$NODE" --check-config -c node.cfg

# bad DAEMON DESC GOLDEN : the config in bad.cfg is refused, and the output
# contains GOLDEN (a fixed string) word for word.
bad() {
	local daemon=$1 desc=$2 golden=$3 rc
	"$LOAXA_BIN/loaxa-$daemon" --check-config -c bad.cfg >"$T/out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		not_ok "$daemon: $desc is refused (exit status was 0)"
		sed 's/^/#   /' bad.cfg
		return
	fi
	if grep -qF -- "$golden" "$T/out"; then
		ok "$daemon: $desc: $golden"
	else
		not_ok "$daemon: $desc: message contains: $golden"
		sed 's/^/#   got: /' "$T/out"
	fi
}

# --- node.cfg
base_node | sed '1a colour = "red";' >bad.cfg
bad node "unknown field" 'bad.cfg:2: field "colour": unknown field (a typo?)'
base_node | sed 's/^  host = /  hots = /' >bad.cfg
bad node "typo in a group" 'bad.cfg:7: field "mqtt.hots": unknown field (a typo?)'
base_node | sed 's/port = 1883;/port = "1883";/' >bad.cfg
bad node "port as a string" 'bad.cfg:8: field "mqtt.port": must be a whole number'
base_node | sed 's/port = 1883;/port = 70000;/' >bad.cfg
bad node "port out of range" 'bad.cfg:8: field "mqtt.port": must be between 1 and 65535 (got 70000)'
base_node | sed 's/channels = 1;/channels = 0;/' >bad.cfg
bad node "zero channels" 'bad.cfg:12: field "alsa.channels": must be between 1 and 8 (got 0)'
base_node | sed '/^node = /d' >bad.cfg
bad node "missing node id" 'bad.cfg: field "node": is required but missing'
base_node | sed 's/^site = "xa-demo";/site = 7;/' >bad.cfg
bad node "site as a number" 'bad.cfg:1: field "site": must be a string in double quotes'
base_node | sed 's/^node = "n1";/node = "Node One";/' >bad.cfg
bad node "an invalid node id" 'bad.cfg:2: field "node": "Node One" is not a valid name: use 1 to 31 of a-z, 0-9'
base_node | sed "s/^controller_key = .*/controller_key = \"abc\";/" >bad.cfg
bad node "a controller key that is not 64 hex digits" 'bad.cfg:5: field "controller_key": must be the controller'"'"'s public key: 64 hex digits'
base_node | sed 's/^zones = .*/zones = "thon-1";/' >bad.cfg
bad node "zones not a list" 'bad.cfg:3: field "zones": must be a list of strings'
base_node | sed 's/  port = 1883;/  port = 1883/' >bad.cfg
bad node "a missing semicolon" 'bad.cfg:9: syntax error'
base_node | sed '/^};$/d' >bad.cfg
bad node "an unclosed group" 'bad.cfg:12: syntax error'
printf 'site = "xa-demo"\nnode = ;\n' >bad.cfg
bad node "a syntax error" 'bad.cfg:2: syntax error'
"$NODE" --check-config -c "$D/no-such.cfg" >"$T/out" 2>&1
rc=$?
check "node: a missing config file is refused and named" \
	eval '[ "$rc" -ne 0 ] && grep -qF "$D/no-such.cfg" "$T/out"' || sed 's/^/#   got: /' "$T/out"

# --- controller.cfg
base_controller | sed '1a colour = "red";' >bad.cfg
bad controller "unknown field" 'bad.cfg:2: field "colour": unknown field (a typo?)'
base_controller | sed 's/port = 1883;/port = 0;/' >bad.cfg
bad controller "port out of range" 'bad.cfg:7: field "mqtt.port": must be between 1 and 65535 (got 0)'
base_controller | sed 's/chunk_bytes = 65536;/chunk_bytes = "big";/' >bad.cfg
bad controller "chunk_bytes as a string" 'bad.cfg:10: field "delivery.chunk_bytes": must be a whole number'
base_controller | sed 's/chunk_bytes = 65536;/chunk_bytes = 1000000000;/' >bad.cfg
bad controller "chunk_bytes too large" 'bad.cfg:10: field "delivery.chunk_bytes": must be between 1024 and 261968 (got 1000000000)'
base_controller | sed '/^site = /d' >bad.cfg
bad controller "missing site" 'bad.cfg: field "site": is required but missing'
base_controller | sed 's/^state_dir = "state";/state_dir = ["a"];/' >bad.cfg
bad controller "state_dir as a list" 'bad.cfg:2: field "state_dir": must be a string in double quotes'
base_controller | sed 's/^site = "xa-demo";/site = "Xã Demo";/' >bad.cfg
bad controller "an invalid site id" 'bad.cfg:1: field "site": "Xã Demo" is not a site id'
printf 'site = "xa-demo";\nmqtt = { port = 1883 ;\n' >bad.cfg
bad controller "an unclosed group" 'bad.cfg:3: syntax error'
# a village's title (zones.title, shown in the console and `loaxa nodes`):
# text of one line in UTF-8
{ base_controller; echo 'zones = ( { name = "thon-1"; title = "Thôn 1"; } );'; } >good.cfg
check "a zone's title \"Thôn 1\" passes --check-config" quiet "$CONTROLLER" --check-config -c good.cfg
{ base_controller; echo 'zones = ( { name = "thon-1"; title = 1; } );'; } >bad.cfg
bad controller "a zone title that is a number" 'field "zones.title": zone "thon-1": must be the village'"'"'s name as text of one line'
{ base_controller; printf 'zones = ( { name = "thon-1"; title = "Th\xf4n 1"; } );\n'; } >bad.cfg
bad controller "a zone title that is not UTF-8" 'field "zones.title": zone "thon-1": must be the village'"'"'s name'
{ base_controller; echo 'zones = ( { name = "thon-1"; title = "Thôn\n1"; } );'; } >bad.cfg
bad controller "a zone title of two lines" 'field "zones.title": zone "thon-1": must be the village'"'"'s name'

# --- secure by default (issue 14, point 7): plaintext or anonymous MQTT only
# with mqtt.insecure = true, which then warns at every start
base_controller | sed 's/^mqtt = { insecure = true;$/mqtt = {/' >bad.cfg
bad controller "plaintext MQTT without mqtt.insecure" 'bad.cfg: field "mqtt.cafile": is not set: MQTT without TLS is refused'
bad controller "anonymous MQTT without mqtt.insecure" 'bad.cfg: field "mqtt.username": is not set: anonymous MQTT is refused'
base_node | sed 's/^mqtt = { insecure = true;$/mqtt = {/' >bad.cfg
bad node "plaintext MQTT without mqtt.insecure" 'bad.cfg: field "mqtt.cafile": is not set: MQTT without TLS is refused'
bad node "anonymous MQTT without mqtt.insecure" 'bad.cfg: field "mqtt.username": is not set: anonymous MQTT is refused'
base_node | sed 's/^mqtt = { insecure = true;$/mqtt = { insecure = "yes";/' >bad.cfg
bad node "mqtt.insecure not a boolean" 'bad.cfg:6: field "mqtt.insecure": must be true or false'
# Not only --check-config: each daemon refuses to start, naming the field.
base_controller | sed 's/^mqtt = { insecure = true;$/mqtt = {/' >bad.cfg
timeout 20 "$CONTROLLER" -c bad.cfg >"$T/start.out" 2>&1
rc=$?
check "controller: a plaintext config does not start (exit $rc) and names mqtt.cafile" \
	eval '[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF "field \"mqtt.cafile\": is not set" "$T/start.out"' ||
	sed 's/^/#   got: /' "$T/start.out"
base_node | sed 's/^mqtt = { insecure = true;$/mqtt = {/' >bad.cfg
timeout 20 "$NODE" -c bad.cfg >"$T/start.out" 2>&1
rc=$?
check "node: a plaintext config does not start (exit $rc) and names mqtt.cafile" \
	eval '[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qF "field \"mqtt.cafile\": is not set" "$T/start.out"' ||
	sed 's/^/#   got: /' "$T/start.out"
for d in controller node; do
	"$LOAXA_BIN/loaxa-$d" --check-config -c "$d.cfg" >"$T/out" 2>&1
	check "$d: with mqtt.insecure = true the config passes and warns (plaintext, anonymous)" \
		grep -q 'warning: .*mqtt.insecure = true: the link to the broker 127.0.0.1:1883 is plaintext (no mqtt.cafile) and anonymous' "$T/out"
done

finish
