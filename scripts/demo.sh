#!/bin/bash
# make demo: a real broadcast on this machine, start to finish.
#
# Starts its own MQTT broker (mosquitto) on a free loopback port, a
# controller and three loudspeaker nodes (n1 and n2 in village thon-1, n3 in
# thon-2) whose sound card is replaced by ALSA's `file` plugin, so what they
# play is written to build/demo/<node>/capture.raw. It makes a Vietnamese
# announcement with espeak-ng, plays it to thon-1 and then to every village,
# and says what each node played. Everything it started is stopped by pid on
# the way out; the run directory build/demo stays for you to look at.
#
# LOAXA_VALGRIND=1 (make valgrind) runs both daemons under valgrind and
# reports, for each, errors and definite/indirect leaks.
# The binaries come from build/ (make builds them before calling this).
#
# It runs SECURE, as a real install would (docs/security.md): the broker is
# made by `loaxa broker-config` (its own CA, TLS only, no anonymous access,
# per-node accounts and ACL), the nodes are provisioned with `loaxa node
# add`, and the CLI logs in as the administrator made by
# `loaxa-controller --add-admin`.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=$ROOT/build/demo
rm -rf "$RUN"
mkdir -p "$RUN"
export LOAXA_TMP=$RUN LIB_QUIET=1 LIB_KEEP_LANG=1 SITE=xa-demo SECURE=1
: "${LOAXA_BIN:=$ROOT/build}"
export LOAXA_BIN
VALGRIND=${LOAXA_VALGRIND:-0}
# shellcheck source=../tests/lib.sh
source "$ROOT/tests/lib.sh"

# Plain words instead of test results.
not_ok() {
	printf '\n  PROBLEM: %s\n' "$*"
	TEST_FAILED=1
}
dump_log() {
	[ -f "$1" ] || return 0
	printf '  (last lines of %s)\n' "${1#"$ROOT"/}"
	tail -n "${2:-15}" "$1" | sed 's/^/    | /'
}
give_up() {
	printf '\n  The demo stopped: %s\n  Logs are in %s\n' "$*" "${RUN#"$ROOT"/}"
	exit 1
}
step() { printf '  %-58s' "$*"; }
done_() { printf '%s\n' "${1:-done}"; }

for f in "$LOAXA" "$CONTROLLER" "$NODE"; do
	[ -x "$f" ] || give_up "$f is missing - run 'make' first (or 'make demo', which does)"
done
for c in mosquitto mosquitto_pub espeak-ng jq; do
	command -v "$c" >/dev/null || give_up "the program '$c' is missing - run 'sudo scripts/setup.sh'"
done
if [ "$VALGRIND" = 1 ]; then
	command -v valgrind >/dev/null || give_up "valgrind is missing - run 'sudo scripts/setup.sh'"
	START_TIMEOUT=120
	STOP_TIMEOUT=60
fi

vg() { # vg LOGFILE : the valgrind prefix for one daemon
	[ "$VALGRIND" = 1 ] || return 0
	echo "valgrind --leak-check=full --error-exitcode=99 --errors-for-leak-kinds=definite,indirect --log-file=$1"
}

echo
echo "loaxa demo - one announcement, three loudspeaker nodes, all on this machine"
echo "  run directory: ${RUN#"$ROOT"/}  (logs, configs and the captured audio)"
[ "$VALGRIND" = 1 ] && echo "  both daemons run under valgrind: this is slow, please wait"
echo

step "Making the broker's CA, certificate and accounts ..."
done_ "in ${RUN#"$ROOT"/}/broker"
step "Starting a private MQTT broker (TLS, ACL) on 127.0.0.1 ..."
start_broker >/dev/null || give_up "mosquitto did not start (see ${RUN#"$ROOT"/}/broker.log)"
done_ "port $BROKER_PORT"

step "Making the controller's signing key ..."
keygen "$RUN/keys" || give_up "loaxa keygen failed"
done_

step "Starting the controller (administrator: admin) ..."
write_controller_cfg
LOAXA_WRAP=$(vg "$RUN/controller/valgrind.log") start_controller || give_up "the controller did not start"
done_

step "Provisioning and starting n1, n2 (thon-1), n3 (thon-2) ..."
write_node_cfg n1 thon-1
write_node_cfg n2 thon-1
write_node_cfg n3 thon-2
for n in n1 n2 n3; do
	LOAXA_WRAP=$(vg "$RUN/$n/valgrind.log") start_node "$n" || give_up "node $n did not come online"
done
done_ "all three online"

TEXT="Thông báo: Ủy ban nhân dân xã thông báo, sáng thứ bảy tuần này, toàn xã ra quân làm vệ sinh đường làng. Đề nghị bà con tham gia đầy đủ."
step "Making a Vietnamese announcement with espeak-ng ..."
speech "$RUN/thong-bao.wav" "$TEXT" || give_up "espeak-ng could not make the announcement"
done_ "$(soxi -D "$RUN/thong-bao.wav" 2>/dev/null | awk '{ printf "%.1f s", $1 }')"
echo "    text: \"$TEXT\""
echo

play() { # play LABEL ARGS...
	local label=$1
	shift
	echo "  Playing it to $label (and waiting until every node has finished):"
	if ! "$LOAXA" play "$@" --wait=120 >"$RUN/play-$label.txt" 2>&1; then
		sed 's/^/    /' "$RUN/play-$label.txt"
		give_up "the broadcast to $label did not finish on every node"
	fi
	sed 's/^/    /' "$RUN/play-$label.txt"
	echo
}
play thon-1 "$RUN/thong-bao.wav" --zone thon-1
CONTENT=$("$LOAXA" content list --json 2>/dev/null | jq -r '.content | max_by(.created) | .id')
play "all villages" "$CONTENT" --all

# --- what each node played
CJSON=$("$LOAXA" content list --json 2>/dev/null)
PJSON=$("$LOAXA" plays --json 2>/dev/null)
echo "  The announcement, as the controller stored it:"
echo "$CJSON" | jq -r --arg c "$CONTENT" '.content[] | select(.id == $c) |
	[.id, .duration_ms, .output_lufs, .input_lufs, .true_peak_dbtp, .bytes] | @tsv' |
	awk -F'\t' '{
		printf "    content id  %s\n", $1
		printf "    duration    %.1f s\n", $2 / 1000
		printf "    loudness    %.1f LUFS (the recording was %.1f LUFS), true peak %.1f dBTP\n", $3, $4, $5
		printf "    size        %d bytes of Ogg Opus\n", $6
	}'
echo
echo "  What each node played:"
declare -A WANT=([n1]=2 [n2]=2 [n3]=1)
for n in n1 n2 n3; do
	zones=$(node_json "$n" | jq -r '.zones | join(",")')
	count=$(echo "$PJSON" | jq --arg n "$n" --arg c "$CONTENT" '[.plays[] | select(.node == $n and .content == $c and (.type == "play_finished" or .result == "finished"))] | length')
	bytes=0
	files=""
	for f in $(capture_files "$n"); do
		bytes=$((bytes + $(stat -c %s "$f")))
		files="$files ${f#"$ROOT"/}"
	done
	secs=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 2 / 48000 }')
	printf '    %s in %s: played content %s %s time(s), %s\n' "$n" "$zones" "${CONTENT:0:12}" "$count" \
		"$( [ "$count" = "${WANT[$n]}" ] && echo "as expected" || echo "PROBLEM: expected ${WANT[$n]}")"
	[ "$count" = "${WANT[$n]}" ] || TEST_FAILED=1
	printf '       captured: %s s of audio (48 kHz mono, 16-bit raw) in%s\n' "$secs" "$files"
done
echo
echo "  Listen to a capture:  aplay -f S16_LE -r 48000 -c 1 ${RUN#"$ROOT"/}/n1/capture.raw"
echo

# --- stop, and with valgrind say what it found
step "Stopping everything this demo started ..."
declare -A RC=()
for name in n3 n2 n1 controller; do
	stop "$name"
	RC[$name]=$?
done
stop broker
done_

if [ "$VALGRIND" = 1 ]; then
	echo
	echo "  valgrind:"
	bad=0
	for name in controller n1 n2 n3; do
		d=$RUN/$name
		log=$d/valgrind.log
		# Summed over every process in the log: the controller's import
		# workers are forked children and report into the same file.
		errors=$(grep -Eo 'ERROR SUMMARY: [0-9,]+ errors' "$log" 2>/dev/null | grep -Eo '[0-9,]+' | tr -d , | awk '{ s += $1 } END { print s + 0 }')
		def=$(grep -Eo 'definitely lost: [0-9,]+ bytes' "$log" 2>/dev/null | grep -Eo '[0-9,]+' | tr -d , | awk '{ s += $1 } END { print s + 0 }')
		ind=$(grep -Eo 'indirectly lost: [0-9,]+ bytes' "$log" 2>/dev/null | grep -Eo '[0-9,]+' | tr -d , | awk '{ s += $1 } END { print s + 0 }')
		if ! grep -q 'ERROR SUMMARY' "$log" 2>/dev/null; then
			errors="no summary in the log"
		fi
		if [ "${RC[$name]}" -eq 0 ] && [ "${errors:-0}" = 0 ] && [ "${def:-0}" = 0 ] && [ "${ind:-0}" = 0 ]; then
			procs=$(grep -c 'ERROR SUMMARY' "$log")
			printf '    %-10s clean: 0 errors, no definite or indirect leaks (%s process%s checked)\n' \
				"$name" "$procs" "$([ "$procs" = 1 ] || echo es)"
		else
			printf '    %-10s PROBLEM: exit status %s, %s errors, %s bytes definitely and %s indirectly lost (see %s)\n' \
				"$name" "${RC[$name]}" "${errors:-?}" "${def:-0}" "${ind:-0}" "${log#"$ROOT"/}"
			bad=1
		fi
	done
	[ "$bad" = 0 ] || TEST_FAILED=1
else
	for name in controller n1 n2 n3; do
		[ "${RC[$name]}" -eq 0 ] ||
			not_ok "$name exited with status ${RC[$name]} (see ${LOG_OF[$name]#"$ROOT"/})"
	done
fi

echo
if [ "$TEST_FAILED" = 0 ]; then
	echo "  Demo finished: n1 and n2 (thon-1) played the announcement twice, n3 (thon-2) once."
else
	echo "  Demo finished with problems (see above)."
fi
exit "$TEST_FAILED"
