#!/bin/bash
# Login cannot stall the station (issue 14, point 5; docs/security.md).
#   - An emergency's latency (the command -> the first sample at a node's
#     paced speaker) is measured idle and while 20 concurrent wrong logins
#     hit the API, in the same run; the loaded figure must stay within
#     MARGIN_MS of the idle one. Each Argon2id check costs ~0.1-0.3 s of
#     CPU: run in the controller's loop (as before) they stalled everything
#     behind them, the emergency too; the worker thread keeps the loop free.
#   - Per name: 5 wrong passwords lock a real user; a flood of invented names
#     afterwards neither resets that lock nor gets far: the peer (this uid) is
#     throttled after 20 failed logins, the refusals are in the audit log.
#     (10000 invented names against the table itself: unit/test_security.)
#   - Point 7: the daemons, started on the plain test broker with
#     mqtt.insecure = true, log the warning (config.sh: refused without it).
# Both figures (medians of ROUNDS=5 rounds) are printed. MARGIN_MS (default
# 300) holds on the shared 2-core build machine at load 9 under ASan, where
# the loaded median was 0-200 ms above the idle one (CPU scheduling: our
# worker, curl and the CLI compete with everybody's processes). Checking
# passwords in the loop (before) added 1.2-6 s there: >= 3 checks of
# 0.3-0.5 s. (On an idle fast machine a check is ~0.1 s, and those 3 checks
# would add ~0.3 s: at the bound.)
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$CONTROLLER" "$NODE"
MARGIN_MS=${MARGIN_MS:-300}

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
echo "emergency_volume = 90;" >>"$T/n1/node.cfg"
start_node n1 || exit 1
# the plain loopback broker of this test is allowed by mqtt.insecure = true
# (tests/lib.sh): both daemons say so when they start (issue 14, point 7)
check "the controller warns at start that its MQTT is insecure" \
	grep -q 'warning: .*mqtt.insecure = true: the link to the broker .* is plaintext' "$T/controller/controller.log"
check "the node warns at start that its MQTT is insecure" \
	grep -q 'warning: .*mqtt.insecure = true: the link to the broker .* is plaintext' "$T/n1/node.log"

if ! LOAXA="$LOAXA" "$ROOT/scripts/emergency-clips.sh" --only tone >"$T/clips.log" 2>&1; then
	fail "scripts/emergency-clips.sh makes the tone"
	sed 's/^/#   /' "$T/clips.log"
	exit 1
fi
SET=$("$LOAXA" emergency clips --json | jq -r .set)
clip_ready() {
	node_json n1 | jq -e --arg s "$SET" '.status.emergency.clips_set == $s and
		([.status.emergency.clips[]] | length == 1 and all)' >/dev/null
}
wait_for 60 clip_ready || { fail "n1 holds the tone clip"; exit 1; }

# latency : ms from the command to n1's first onset after it (empty: none).
# Rounds follow each other within 5 s, so n1's PCM stays open (the warm
# path) in every one of them: the same state idle and loaded.
latency() {
	local t0 first
	t0=$(date +%s%N)
	"$LOAXA" emergency start --clip tone --zone thon-1 --max 60s --timeout 15 --json \
		>"$T/em.json" 2>"$T/em.err"
	onset_after() { awk -v t="$t0" '$1 == "onset" && $2 >= t { f = 1 } END { exit !f }' "$T/n1/onsets.log"; }
	wait_for 10 onset_after
	first=$(awk -v t="$t0" '$1 == "onset" && $2 >= t { print $2; exit }' "$T/n1/onsets.log" 2>/dev/null)
	"$LOAXA" emergency stop >/dev/null 2>&1
	[ -n "$first" ] && echo $(( (first - t0) / 1000000 ))
}

# flood : 20 concurrent wrong logins in one curl (parallel connections),
# in the background; their HTTP codes go to $T/flood.codes.
# Each its own invented name (a name's own lock would refuse the rest).
flood() {
	local args=() i
	for ((i = 0; i < 20; i++)); do
		[ "$i" = 0 ] || args+=(--next)
		args+=(-s --unix-socket "$LOAXA_SOCKET" -H 'Content-Type: application/json'
			-d "{\"user\":\"nobody-$1-$i\",\"password\":\"wrong-password\"}"
			-o /dev/null -w '%{http_code}\n' http://l/v1/login)
	done
	curl -Z --parallel-immediate --parallel-max 20 "${args[@]}" >"$T/flood.codes" 2>/dev/null &
	FLOOD_PID=$!
}

# The logins of round R reached the controller (it logged one of them): on a
# loop that checks passwords itself (before), it is then busy with the rest.
flood_in() { grep -q "nobody-$1-" "$T/controller/controller.log"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

latency >/dev/null # warm-up: n1 opens its PCM
: >"$T/idle.ms"
: >"$T/loaded.ms"
for r in $(seq 1 "${ROUNDS:-5}"); do
	sleep 1.2 # n1 idle again; a fresh second of the global login budget
	l=$(latency)
	[ -n "$l" ] || { fail "idle round $r: n1 sounded the emergency"; exit 1; }
	echo "$l" >>"$T/idle.ms"
	sleep 1.2
	flood "$r"
	wait_for 3 flood_in "$r"
	l=$(latency)
	wait "$FLOOD_PID"
	[ -n "$l" ] || { fail "loaded round $r: n1 sounded the emergency"; exit 1; }
	echo "$l" >>"$T/loaded.ms"
	diag "round $r: idle $(tail -1 "$T/idle.ms") ms, loaded $l ms (the 20 logins answered $(sort "$T/flood.codes" | uniq -c | awk '{ printf "%s x%s ", $2, $1 }'))"
done
idle=$(median <"$T/idle.ms")
loaded=$(median <"$T/loaded.ms")
echo "# emergency latency (median of ${ROUNDS:-5}): idle ${idle} ms, with 20 concurrent wrong logins ${loaded} ms (bound: idle + ${MARGIN_MS} ms)"
check "20 concurrent wrong logins do not delay an emergency (${loaded} ms <= idle ${idle} + ${MARGIN_MS} ms)" \
	[ "$loaded" -le $(( idle + MARGIN_MS )) ]
check "the flood's logins were checked and refused (401s in the answers)" grep -qx 401 "$T/flood.codes"

# ---------------------------------------------------------------- per name, per peer
# The throttle tables live in memory: a restart starts this part from zero
# (the rounds above charged this uid's peer budget).
stop controller
start_controller || exit 1
printf 'victim-password\n' >"$T/victim.pw"
printf 'wrong-password\n' >"$T/wrong.pw"
"$LOAXA" user add victim --role operator --zone thon-1 --password-file "$T/victim.pw" \
	>/dev/null 2>"$T/useradd.err" || { fail "loaxa user add victim"; cat "$T/useradd.err"; }
try_login() { # try_login USER PWFILE : the CLI's answer (stderr) to a login
	LOAXA_TOKEN_FILE=$T/x "$LOAXA" login "$1" --password-file "$2" 2>&1 >/dev/null
}
sleep 1.1
for i in 1 2 3 4 5; do
	try_login victim "$T/wrong.pw" >/dev/null
	sleep 0.3 # under the global budget of 4 a second
done
out=$(try_login victim "$T/victim.pw")
check "after 5 wrong passwords victim is locked, the right password too (\"$out\")" \
	grep -q 'too many wrong passwords for victim' <<<"$out"

# invented names, one after the other, until the peer is throttled
peer_out=""
for ((i = 0; i < 70; i++)); do
	out=$(try_login "invented-$i" "$T/wrong.pw")
	if grep -q 'too many failed logins from uid' <<<"$out"; then
		peer_out=$out
		break
	fi
	sleep 0.26
done
check "this peer is throttled after 20 failed logins (after $i invented names: \"$peer_out\")" \
	[ -n "$peer_out" ]
out=$(try_login victim "$T/victim.pw")
check "the invented names did not reset victim's lock (\"$out\")" \
	grep -q 'too many wrong passwords for victim' <<<"$out"
peer_refusals() {
	"$LOAXA" audit --json --limit 200 | jq -e '[.[] | select(.action == "POST /v1/login"
		and .status == 429 and (.detail | test("failed logins from uid")))] | length >= 1' \
		>/dev/null
}
check "the audit log has the throttled logins (429, naming the peer)" peer_refusals
# another name from the same uid is refused at once (no check queued)
out=$(try_login admin "$T/admin.pw")
check "a throttled peer cannot log in even with a right password (\"$out\")" \
	grep -q 'too many failed logins from uid' <<<"$out"

stop_all_checked
finish
