#!/bin/bash
# Content delivery over a broken link. A 3-minute announcement (dozens of
# 4 KiB chunks) is sent to a node that lacks it, and the link breaks mid-way:
#   A. the node is killed (-9) mid-transfer; restarted, it resumes from the
#      last verified chunk ("resuming <id> at chunk K", K = what was on disk),
#      and the finished file's SHA-256 is the content id; then it plays it;
#   B. the broker is stopped mid-transfer and started again on the same port;
#      both daemons reconnect, the transfer completes, the file checks out,
#      the pending play happens and its events reach the controller.
# To catch the transfer mid-way on a fast loopback, the controller is frozen
# (SIGSTOP) as soon as the node's .part file appears, and thawed after.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE" "$PCMCOMPARE"

CHUNK_BYTES=4096
WINDOW=4
start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
write_node_cfg n1 thon-1
start_node n1 || exit 1
CACHE=$T/n1/state/cache

# Three minutes of speech: one espeak sentence, repeated.
long_speech() { # long_speech OUT TEXT
	speech "$T/one.wav" "$2" || return 1
	local d reps
	d=$(soxi -D "$T/one.wav")
	reps=$(awk -v d="$d" 'BEGIN { printf "%d", 180 / d }')
	sox "$T/one.wav" "$1" repeat "$reps" 2>>"$T/sox.log"
}

import() { # import FILE TITLE -> content id
	"$LOAXA" import "$1" --title "$2" --json 2>>"$T/import.err" | jq -r '.id // empty'
}

part_size() { stat -c %s "$CACHE/$1.part" 2>/dev/null || echo 0; }

# catch_mid_transfer ID : wait for the .part to have data, freeze the
# controller, let in-flight chunks land. Sets PART (bytes on disk).
catch_mid_transfer() {
	local id=$1 deadline
	deadline=$(( $(now_ms) + 60000 ))
	while [ "$(part_size "$id")" -lt $((2 * CHUNK_BYTES)) ]; do
		if [ -e "$CACHE/$id.opus" ] || [ "$(now_ms)" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.01
	done
	kill -STOP "${PID_OF[controller]}"
	sleep 0.5
	PART=$(part_size "$id")
	[ ! -e "$CACHE/$id.opus" ]
}

thaw_controller() { kill -CONT "${PID_OF[controller]}"; }

long_speech "$T/long1.wav" "Thông báo của ủy ban nhân dân xã về lịch tiêm phòng và vệ sinh môi trường." || exit 1
ID1=$(import "$T/long1.wav" "long one")
[ -n "$ID1" ] || { fail "loaxa import of a 3-minute announcement"; sed 's/^/#   /' "$T/import.err"; exit 1; }
SIZE1=$(stat -c %s "$(content_path "$ID1")")
diag "content $ID1: $SIZE1 bytes, $(( (SIZE1 + CHUNK_BYTES - 1) / CHUNK_BYTES )) chunks of $CHUNK_BYTES"
check "the content needs dozens of chunks" [ "$SIZE1" -gt $((30 * CHUNK_BYTES)) ]

# ---------------------------------------------------------------- A: kill -9
capture_mark n1
"$LOAXA" play "$ID1" --node n1 --json >"$T/playA1.json" 2>&1 || {
	fail "loaxa play $ID1 --node n1"
	sed 's/^/#   /' "$T/playA1.json"
}
if catch_mid_transfer "$ID1"; then
	stop n1 KILL
	thaw_controller
	K=$((PART / CHUNK_BYTES))
	ok "A: node killed (-9) mid-transfer with $PART bytes ($K chunks) on disk"
	check "A: the .part holds whole chunks only" [ $((PART % CHUNK_BYTES)) -eq 0 ] ||
		diag "part size $PART"
	start_node n1 || exit 1
	capture_mark n1
	"$LOAXA" play "$ID1" --node n1 --wait=120 --json >"$T/playA2.json" 2>&1
	rc=$?
	check "A: after the restart, loaxa play --wait finishes" [ "$rc" -eq 0 ] ||
		{ sed 's/^/#   /' "$T/playA2.json"; dump_log "${LOG_OF[n1]}" 30; }
	if grep -Eq "resuming $ID1 at chunk $K\b" "${LOG_OF[n1]}"; then
		ok "A: node log says: resuming $ID1 at chunk $K"
	else
		not_ok "A: node log says: resuming $ID1 at chunk $K"
		grep -E "resum|$ID1" "${LOG_OF[n1]}" | tail -n 5 | sed 's/^/#   /'
	fi
	if [ -e "$CACHE/$ID1.opus" ]; then
		sum=$(sha256sum "$CACHE/$ID1.opus" | cut -d' ' -f1)
		check "A: cached file's SHA-256 is the content id" [ "$sum" = "$ID1" ]
		check "A: no .part left behind" [ ! -e "$CACHE/$ID1.part" ]
	else
		not_ok "A: $CACHE/$ID1.opus exists after the transfer"
		ls -la "$CACHE" 2>&1 | sed 's/^/#   /'
	fi
	capture_since n1 "$T/A.raw"
	out=$("$PCMCOMPARE" "$(content_path "$ID1")" "$T/A.raw" 2>&1)
	check "A: the node played the resumed content, sample for sample" [ $? -eq 0 ]
	diag "$out"
else
	thaw_controller
	not_ok "A: caught the transfer mid-way (the .part never held 2 chunks before completion)"
	ls -la "$CACHE" 2>&1 | sed 's/^/#   /'
	dump_logs 20
fi

# ---------------------------------------------------------------- B: broker restart
long_speech "$T/long2.wav" "Thông báo khẩn: mưa lớn, đề nghị bà con chú ý an toàn và theo dõi mực nước." || exit 1
ID2=$(import "$T/long2.wav" "long two")
[ -n "$ID2" ] || { fail "loaxa import of a second 3-minute announcement"; exit 1; }
capture_mark n1
"$LOAXA" play "$ID2" --node n1 --json >"$T/playB.json" 2>&1
B2=$(jq -r '.broadcast // empty' "$T/playB.json")
if catch_mid_transfer "$ID2"; then
	ok "B: transfer caught mid-way with $PART bytes on disk"
	stop broker
	thaw_controller
	sleep 1
	start_broker broker "${PORT_OF[broker]}" || exit 1
	ok "B: broker restarted on the same port ${PORT_OF[broker]}"
	if wait_for 90 test -e "$CACHE/$ID2.opus"; then
		sum=$(sha256sum "$CACHE/$ID2.opus" | cut -d' ' -f1)
		check "B: transfer completed after the broker came back; SHA-256 matches" [ "$sum" = "$ID2" ]
	else
		not_ok "B: transfer completed after the broker came back (within 90 s)"
		ls -la "$CACHE" | sed 's/^/#   /'
		dump_logs 25
	fi
	check "B: n1 is online again" wait_for 60 node_online n1
	finished_b() {
		"$LOAXA" plays --broadcast "$B2" --json 2>/dev/null |
			jq -e '[.plays[] | select(.node == "n1" and (.type == "play_finished" or .result == "finished"))] | length > 0'
	}
	if wait_for 120 finished_b; then
		ok "B: the pending play finished and the controller recorded it"
	else
		not_ok "B: the pending play finished and the controller recorded it"
		"$LOAXA" plays --broadcast "$B2" --json 2>&1 | sed 's/^/#   /'
		dump_logs 20
	fi
	capture_since n1 "$T/B.raw"
	out=$("$PCMCOMPARE" "$(content_path "$ID2")" "$T/B.raw" 2>&1)
	check "B: the node played it, sample for sample" [ $? -eq 0 ]
	diag "$out"
else
	thaw_controller
	not_ok "B: caught the transfer mid-way"
	dump_logs 20
fi

stop_all_checked
finish
