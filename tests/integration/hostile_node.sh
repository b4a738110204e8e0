#!/bin/bash
# Hostile input to a node, through an independent MQTT client (mosquitto_pub)
# on every topic the node listens to: its cmd, plan and content topics and
# the cmd topics of its zone and of zone all. For each topic: garbage, empty,
# truncated, trailing bytes, 10 MB, a forged signature (another key; another
# key claiming our key id), one flipped bit (magic, version, site, sequence,
# times, body length, body, signature), expired, future-dated, other site,
# expiry before issue, a replayed sequence, and - signed correctly - a body
# that is not JSON, a command we do not know and the wrong message type.
# Each time: the reason is logged (with the topic), nothing plays, the node
# stays up. Then a valid command plays once and the same envelope sent again
# is refused as a duplicate, and a normal `loaxa play` still works.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD" "$PCMCOMPARE"

# Body-level refusals are the node's own words (node/), not the envelope's.
# node/cmd.c, node/fetch.c: "rejected message on <topic>: <why>".
R_NOT_JSON='is not valid JSON'
R_UNKNOWN_CMD='unknown command "selfdestruct"'
R_WRONG_TYPE='unexpected message type'
R_BAD_CHUNK='too short to be a content chunk'

BROKER_NO_LIMIT=1 start_broker || exit 1 # the 10 MB payload must reach the node
keygen || exit 1
keygen "$T/otherkeys" || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1
NLOG=${LOG_OF[n1]}
NPID=${PID_OF[n1]}
ROOTT=loaxa/$SITE

speech "$T/a.wav" "Thông báo: kiểm tra hệ thống loa." || exit 1
CID=$("$LOAXA" import "$T/a.wav" --title test --json 2>"$T/import.err" | jq -r '.id // empty')
if [ -z "$CID" ]; then
	fail "loaxa import gives a content id"
	cat "$T/import.err" | sed 's/^/#   /'
	exit 1
fi
BYTES=$(stat -c %s "$(content_path "$CID")")

play_body() { # play_body BROADCAST [TO] : TO, the topic it names, default node/n1/cmd
	printf '{"cmd":"play","to":"%s","broadcast":"%s","content":"%s","bytes":%s,"duration_ms":0,"at":0,"level":"normal","volume":100,"title":"hostile"}' \
		"${2:-node/n1/cmd}" "$1" "$CID" "$BYTES"
}

# Sequences follow the clock (max(now in us, last + 1)), as the controller's
# do: the controller sends commands of its own during the test (journal acks,
# docs/protocol.md), and a sequence sealed from a base taken earlier would be
# older than those and refused as a replay instead of for the tested reason.
SEQ=0
next_seq() {
	local now
	now=$(date +%s%6N)
	if [ "$now" -gt "$SEQ" ]; then SEQ=$now; else SEQ=$((SEQ + 1)); fi
}

# seal TYPE BODYFILE OUT [sealcmd options...] : a fresh sequence each time.
seal() {
	local type=$1 body=$2 out=$3
	shift 3
	next_seq
	"$SEALCMD" --key "${SEAL_KEY:-$T/keys/controller.key}" --site "${SEAL_SITE:-$SITE}" \
		--type "$type" --seq "$((SEQ - ${SEQ_BACK:-0}))" "$@" <"$body" >"$out" \
		2>"$T/seal.err" || {
		not_ok "sealcmd --type $type $*"
		sed 's/^/#   /' "$T/seal.err"
		return 1
	}
}

# flip FILE OFFSET OUT : one bit flipped.
flip() {
	local b
	cp "$1" "$3"
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
}

pub() { # pub TOPIC FILE ('' = empty payload)
	if [ -z "$2" ]; then
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$ROOTT/$1" -n
	else
		mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -t "$ROOTT/$1" -f "$2"
	fi
}

# expect_reject TOPIC CASE FILE REGEX : published, the node logs a line with
# the topic and the reason, and is still alive.
expect_reject() {
	local topic=$1 what=$2 file=$3 re="rejected message on $ROOTT/$1: .*($4)" before
	before=$(log_count "$NLOG" "$re")
	if ! pub "$topic" "$file" 2>"$T/pub.err"; then
		not_ok "$topic: $what published (mosquitto_pub failed)"
		sed 's/^/#   /' "$T/pub.err"
		return 1
	fi
	if wait_for 15 log_grows "$NLOG" "$re" "$before"; then
		ok "$topic: $what rejected, logged: $(grep -E -- "$re" "$NLOG" | tail -n 1 | sed 's/^[0-9:. ]*//' | cut -c1-150)"
	else
		not_ok "$topic: $what rejected with a log line naming the topic and /$4/"
		dump_log "$NLOG" 8
	fi
	alive "$NPID" || { not_ok "node n1 is still running after $what on $topic"; dump_log "$NLOG" 40; exit 1; }
}

# expect_too_big TOPIC : a 10 MB payload never reaches the node's memory:
# the node announces its Maximum Packet Size (MQTT 5: max_message_bytes +
# 1 KiB) and the broker drops the message for it, saying so in its log
# (docs/security.md, point 9). A broker that ignored that would deliver it,
# and the node's own size check would refuse it ("larger than the size
# limit", counted as oversized): either is a pass, a play or a crash is not.
expect_too_big() {
	local topic=$1 re="rejected message on $ROOTT/$1: .*(larger than the size limit)"
	local drop='Dropping too large outgoing PUBLISH for [^ ]*n1' nb bb
	nb=$(log_count "$NLOG" "$re")
	bb=$(log_count "${LOG_OF[broker]}" "$drop")
	if ! pub "$topic" "$T/10mb" 2>"$T/pub.err"; then
		not_ok "$topic: a 10 MB payload published (mosquitto_pub failed)"
		return 1
	fi
	if wait_for 15 bash -c "[ \$(grep -cE -- '$drop' '${LOG_OF[broker]}') -gt $bb ] ||
		[ \$(grep -cE -- '$re' '$NLOG') -gt $nb ]"; then
		if log_grows "${LOG_OF[broker]}" "$drop" "$bb"; then
			ok "$topic: a 10 MB payload never reached the node (the broker dropped it: above the node's Maximum Packet Size)"
		else
			ok "$topic: a 10 MB payload rejected by the node's size check"
		fi
	else
		not_ok "$topic: a 10 MB payload dropped by the broker or rejected by the node"
		dump_log "$NLOG" 8
	fi
	alive "$NPID" || { not_ok "node n1 is still running after 10 MB on $topic"; dump_log "$NLOG" 40; exit 1; }
}

# ------------------------------------------------------------ material
echo 'hello' >"$T/text"
head -c 300 /dev/urandom >"$T/garbage"
printf 'XXXX' | dd of="$T/garbage" bs=1 conv=notrunc status=none # never "LOAX" by chance
head -c $((10 * 1024 * 1024)) /dev/urandom >"$T/10mb"
play_body b-hostile-x >"$T/play.json"
printf '{"cmd": "play", "broadcast": ' >"$T/notjson"

capture_mark n1
plays_before=$("$LOAXA" plays --json 2>/dev/null | jq '.plays | length')

# hostile_topic TOPIC TYPE : the whole list on one topic, with envelopes of
# the type that topic carries.
hostile_topic() {
	local topic=$1 type=$2 e=$T/env-$2 size
	seal "$type" "$T/play.json" "$e.valid" || return 1
	size=$(stat -c %s "$e.valid")

	expect_reject "$topic" "garbage (300 random bytes)" "$T/garbage" 'not a loaxa message'
	expect_reject "$topic" "a short text" "$T/text" 'message truncated'
	expect_reject "$topic" "an empty payload" '' 'message truncated'
	head -c $((size - 10)) "$e.valid" >"$e.trunc"
	expect_reject "$topic" "an envelope cut 10 bytes short" "$e.trunc" 'message truncated'
	head -c 100 "$e.valid" >"$e.trunc100"
	expect_reject "$topic" "an envelope cut to 100 bytes" "$e.trunc100" 'message truncated'
	{ cat "$e.valid"; printf 'xx'; } >"$e.trailing"
	expect_reject "$topic" "an envelope with 2 trailing bytes" "$e.trailing" 'body length does not match'
	expect_too_big "$topic"

	SEAL_KEY=$T/otherkeys/controller.key seal "$type" "$T/play.json" "$e.otherkey"
	expect_reject "$topic" "an envelope signed by another key" "$e.otherkey" 'signed by an unknown key'
	cp "$e.otherkey" "$e.forged"
	dd if="$e.valid" of="$e.forged" bs=1 skip=8 seek=8 count=8 conv=notrunc status=none
	expect_reject "$topic" "a forged signature under our key id" "$e.forged" 'signature does not verify'

	flip "$e.valid" 0 "$e.flip"
	expect_reject "$topic" "one bit flipped in the magic" "$e.flip" 'not a loaxa message'
	flip "$e.valid" 4 "$e.flip"
	expect_reject "$topic" "one bit flipped in the version" "$e.flip" 'unsupported envelope version'
	flip "$e.valid" 9 "$e.flip"
	expect_reject "$topic" "one bit flipped in the key id" "$e.flip" 'signed by an unknown key'
	local off what
	for off in 6:flags 20:site 39:sequence 47:issued-at 55:expires-at $((60 + 7)):body \
		$((size - 1)):signature $((size - 40)):signature; do
		what=${off#*:}
		off=${off%%:*}
		flip "$e.valid" "$off" "$e.flip"
		expect_reject "$topic" "one bit flipped at byte $off ($what)" "$e.flip" \
			'signature does not verify'
	done
	flip "$e.valid" 56 "$e.flip"
	expect_reject "$topic" "one bit flipped in the body length" "$e.flip" 'message truncated'

	seal "$type" "$T/play.json" "$e.expired" --issued-offset -120000 --expires-in 60000
	expect_reject "$topic" "an expired envelope" "$e.expired" 'message expired'
	seal "$type" "$T/play.json" "$e.future" --issued-offset 3600000 --expires-in 60000
	expect_reject "$topic" "an envelope dated an hour ahead" "$e.future" 'dated too far in the future'
	SEAL_SITE=xa-other seal "$type" "$T/play.json" "$e.site"
	expect_reject "$topic" "an envelope for another site" "$e.site" 'signed for another site'
	seal "$type" "$T/play.json" "$e.times" --expires-in -1000
	expect_reject "$topic" "an envelope expiring before it was issued" "$e.times" \
		'expires before it was issued'

	# Correctly signed, bad inside. Each is accepted by the envelope check,
	# so the node must refuse it on its body.
	case "$type" in
	cmd)
		seal cmd "$T/notjson" "$e.notjson"
		expect_reject "$topic" "a signed body that is not JSON" "$e.notjson" "$R_NOT_JSON"
		# addressed to this topic: refused for what it says, not where it goes
		printf '{"cmd":"selfdestruct","to":"%s","broadcast":"b-hostile-y"}' "$topic" \
			>"$T/unknowncmd"
		seal cmd "$T/unknowncmd" "$e.unknown"
		expect_reject "$topic" "a signed unknown command" "$e.unknown" "$R_UNKNOWN_CMD"
		seal plan "$T/play.json" "$e.wrongtype"
		expect_reject "$topic" "a signed plan on a cmd topic" "$e.wrongtype" "$R_WRONG_TYPE"
		;;
	plan)
		seal plan "$T/notjson" "$e.notjson"
		expect_reject "$topic" "a signed plan that is not JSON" "$e.notjson" "$R_NOT_JSON"
		seal cmd "$T/play.json" "$e.wrongtype"
		expect_reject "$topic" "a signed command on the plan topic" "$e.wrongtype" "$R_WRONG_TYPE"
		;;
	content)
		seal content "$T/text" "$e.short"
		expect_reject "$topic" "a signed content chunk too short to be one" "$e.short" "$R_BAD_CHUNK"
		seal cmd "$T/play.json" "$e.wrongtype"
		expect_reject "$topic" "a signed command on the content topic" "$e.wrongtype" "$R_WRONG_TYPE"
		;;
	esac
	# An older sequence than the last accepted one of this type.
	SEQ_BACK=1000000000 seal "$type" "$T/play.json" "$e.old"
	expect_reject "$topic" "a replayed (older) sequence" "$e.old" 'replayed'
}

hostile_topic "node/n1/cmd" cmd
hostile_topic "zone/thon-1/cmd" cmd
hostile_topic "zone/all/cmd" cmd
hostile_topic "node/n1/plan" plan
hostile_topic "node/n1/content" content

sleep 0.5 # let any wrongly accepted play reach the device before looking
capture_since n1 "$T/hostile.raw"
check "nothing played during the hostile messages (capture silent)" \
	[ "$(nonzero_bytes "$T/hostile.raw")" -eq 0 ]
plays_after=$("$LOAXA" plays --json 2>/dev/null | jq '.plays | length')
check "no play events reached the controller during the hostile messages" \
	[ "${plays_after:-x}" = "${plays_before:-y}" ] ||
	diag "plays before: $plays_before, after: $plays_after"
check "node n1 is still running" alive "$NPID"
check "controller still lists n1 online" node_online n1

rejected=$(node_json n1 | jq -c '.status.rejected // empty')
diag "n1 status rejected counters: $rejected"
for k in bad_signature unknown_key expired future wrong_site truncated bad_magic replay; do
	v=$(echo "${rejected:-{\}}" | jq -r --arg k "$k" '.[$k] // 0')
	check "n1's status counts rejected $k messages ($v)" [ "${v:-0}" -gt 0 ]
done

# ------------------------------------------------------------ duplicate
# A valid command plays once; the same bytes again (on any topic) do not.
play_body b-hostile-1 >"$T/play1.json"
seal cmd "$T/play1.json" "$T/valid1" || exit 1
capture_mark n1
pub node/n1/cmd "$T/valid1"
if wait_for 30 capture_nonsilent_since n1 &&
	wait_for 30 grep -Eq 'b-hostile-1.*finish|finish.*b-hostile-1' "$NLOG"; then
	ok "a valid signed play command (sent with mosquitto_pub) plays"
else
	fail "a valid signed play command (sent with mosquitto_pub) plays"
fi
capture_mark n1
# "duplicate" when it is still the newest command the node accepted; "replayed"
# once the controller's journal acknowledgement (a newer signed cmd) came in
# between - which it does as soon as the play's events are stored.
expect_reject "node/n1/cmd" "the same valid envelope again" "$T/valid1" 'duplicate|replayed'
expect_reject "zone/thon-1/cmd" "the same valid envelope on the zone topic" "$T/valid1" 'duplicate|replayed'
sleep 0.5
capture_since n1 "$T/dup.raw"
check "the duplicate did not play again" [ "$(nonzero_bytes "$T/dup.raw")" -eq 0 ]

# ------------------------------------------------------------ still answers
capture_mark n1
if "$LOAXA" play "$CID" --node n1 --wait=60 --json >"$T/final.json" 2>"$T/final.err"; then
	ok "after all that, loaxa play --node n1 --wait still works"
else
	fail "after all that, loaxa play --node n1 --wait still works"
	sed 's/^/#   /' "$T/final.json" "$T/final.err"
fi
capture_since n1 "$T/final.raw"
out=$("$PCMCOMPARE" "$(content_path "$CID")" "$T/final.raw" 2>&1)
check "and n1's output matches the content" [ $? -eq 0 ] || diag "$out"

stop_all_checked
finish
