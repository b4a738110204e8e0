#!/bin/bash
# A clock that knows its error (issue 19 point 4): the node runs under
# libfaketime with its clocks several seconds ahead and 50 ppm fast
# (FAKETIME="+7 x1.00005": CLOCK_REALTIME *and* CLOCK_MONOTONIC, which the
# node measures on). The broker, the controller and the paced card stay on
# the machine's real clocks (the card reads them by system call,
# kernel_clock 1, since it lives inside the node's process).
#
# 1. Link up: the node measures offset and drift; 20 plan items at air
#    times ~3 s apart (two 30 s pings apart at the ends); the error of each
#    first sample at the "speaker" against its time: p99 within
#    CLOCK_P99_MS (2 ms).
# 2. Six hours without a link, simulated: the broker stops, the node stops
#    (saving its estimate) and starts again with its clock where a 50 ppm
#    fast crystal would be 6 hours later (+21600 s plus 1.08 s of drift),
#    still without a broker: a node rebooted on a pole with no 4G. Its
#    loaded estimate (log) is compared with the true offset, known from the
#    faketime arithmetic; the bound it reports must cover it. Then the link
#    comes back, with the controller 6 hours on (faketime +21600): the
#    controller's first answer measures the same error again.
#
# Six hours are simulated, not waited for: nothing in the estimate depends
# on how the hours passed, only on the drift and the time since the last
# sample (node/clock.c; tests/unit/test_clock.c checks the long case with
# chosen samples). Figures: "# clock: ..." lines (make bench prints them).
source "$(dirname "$0")/../lib.sh"
: "${LOAXA_RELEASE_BIN:=$LOAXA_BIN}"
# timing: the release node when there is one (as soak_week.sh)
[ -x "$LOAXA_RELEASE_BIN/loaxa-node" ] && NODE=$LOAXA_RELEASE_BIN/loaxa-node
need "$LOAXA" "$CONTROLLER" "$NODE" "$SEALCMD" "$PACED_PLUGIN"
N=${CLOCK_STARTS:-20}
GAP=${CLOCK_GAP_MS:-3000}
P99_MS=${CLOCK_P99_MS:-2}
OFF_S=7              # the node's clock ahead of the controller's, s
PPM=50               # and this fast
HOURS_S=21600        # without a link

FT_LIB=
for f in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
	[ -r "$f" ] && { FT_LIB=$f; break; }
done
if [ -z "$FT_LIB" ]; then
	not_ok "libfaketime is installed (scripts/setup.sh installs faketime)"
	finish
fi
# Under tests/at.sh (a whole `make test` at another instant) every process
# already runs on one fake clock, and the paced card would log onsets on the
# real one: nothing to compare. This test fakes the node's clock alone.
case "${LD_PRELOAD:-}" in
*faketime*)
	ok "skipped under tests/at.sh: this test fakes the node's clock alone, on the real clock # SKIP"
	finish ;;
esac
# ftrun SPECFILE CMD... : CMD under libfaketime with the spec in SPECFILE
# (the spec has a space in it: LOAXA_WRAP is split into words).
cat >"$T/ftrun" <<EOF
#!/bin/sh
spec=\$1
shift
FAKETIME=\$(cat "\$spec")
LD_PRELOAD="$FT_LIB\${LD_PRELOAD:+ \$LD_PRELOAD}"
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0"
export FAKETIME LD_PRELOAD ASAN_OPTIONS
exec "\$@"
EOF
chmod +x "$T/ftrun"
# awk with enough digits for ns since the epoch
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 PACED_KERNEL_CLOCK=1 write_node_cfg n1 thon-1
echo "+$OFF_S x1.0000$PPM" >"$T/n1.ft"
RA=$(date +%s%N)                 # the faked clocks start from here
LOAXA_WRAP="$T/ftrun $T/n1.ft" start_node n1 || exit 1

sox -n -r 48000 -c 1 -b 16 "$T/t.wav" synth 0.3 sine 500 vol 0.5 2>/dev/null
TONE=$("$LOAXA" import "$T/t.wav" --title tone --json 2>"$T/import.err" | jq -r '.id // empty')
[ -n "$TONE" ] || { fail "loaxa import of the test tone"; exit 1; }
BYTES=$(stat -c %s "$(content_path "$TONE")")
fitted() { node_json n1 | jq -e '.status.clock.drift_measured == true' >/dev/null; }
wait_for 30 fitted || not_ok "the node measured its drift (status clock.drift_measured)"
diag "clock after the quick pings: $(node_json n1 | jq -c .status.clock)"

# ---------------------------------------------------------------- 1. link up
T0=$(( $(now_ms) + 4000 ))
items=""
for ((i = 0; i < N; i++)); do
	items+="${items:+,}{\"id\":\"c-$i\",\"at\":$(( T0 + i * GAP )),\"content\":\"$TONE\",\"bytes\":$BYTES}"
done
printf '{"node":"n1","generated":%s,"horizon":%s,"items":[%s]}' "$(now_ms)" \
	"$(( T0 + N * GAP + 600000 ))" "$items" |
	"$SEALCMD" --key "$T/keys/controller.key" --site "$SITE" --type plan \
		--seq $(( $(date +%s%N) / 1000 + 10000000000000 )) --expires-in 3600000 >"$T/plan.env"
mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" -q 1 -r -t "loaxa/$SITE/node/n1/plan" -f "$T/plan.env"
wait_for $(( 20 + N * GAP / 1000 * 2 )) grep -q "finished $TONE for occurrence c-$((N - 1))" \
	"$T/n1/node.log" || { fail "all $N scheduled tones play"; exit 1; }
mapfile -t ons < <(awk '$1 == "onset" { print $2 }' "$T/n1/onsets.log")
check "the paced card heard $N onsets (${#ons[@]})" [ "${#ons[@]}" -eq "$N" ]
errs=()
for ((i = 0; i < N && i < ${#ons[@]}; i++)); do
	errs+=("$(calc "(${ons[i]} - $(( (T0 + i * GAP) * 1000000 ))) / 1e6")")
done
read -r p50 p99 worst mean < <(printf '%s\n' "${errs[@]}" | awk '
	BEGIN { n = 0 }  # an unset n as a subscript is "", not 0
	{ a[n] = $1 < 0 ? -$1 : $1; s += $1; n++ }
	END {
		for (i = 1; i < n; i++) for (j = i; j > 0 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		# nearest rank: p99 of 20 is the largest
		r50 = int(0.50 * n + 0.999999); r99 = int(0.99 * n + 0.999999)
		printf "%.3f %.3f %.3f %+.3f\n", a[r50-1], a[r99-1], a[n-1], s / n
	}')
status=$(node_json n1 | jq -c .status.clock)
diag "start errors (ms): ${errs[*]}"
diag "clock: link up, node ${OFF_S} s ahead and ${PPM} ppm fast: start error over $N starts p50 $p50 ms, p99 $p99 ms, worst $worst ms, mean signed $mean ms"
diag "clock: status $status"
check "start error p99 over $N starts within $P99_MS ms with the node's clock ${PPM} ppm fast (p99 $p99 ms)" \
	awk -v p="$p99" -v b="$P99_MS" 'BEGIN { exit !(p <= b) }'
drift=$(jq -r .drift_ppm <<<"$status")
derr=$(jq -r .drift_error_ppm <<<"$status")
# Within 5 ppm, or within the uncertainty the node reports itself (3 sigma):
# a line fitted over the first minute under load can be 8 ppm off (CI: -41.6
# +- 13.8 ppm) and says so; what matters is that the node knows it.
check "the status reports the drift: $drift ppm +- $derr (controller minus node; -$PPM expected within max(5, its uncertainty))" \
	awk -v d="$drift" -v e="$derr" -v p="$PPM" 'BEGIN { t = e > 5 ? e : 5; exit !(d + p < t && d + p > -t) }'
off=$(jq -r .offset_ms <<<"$status")
check "the status reports the offset: $off ms (about -${OFF_S}000)" \
	awk -v o="$off" -v s="$OFF_S" 'BEGIN { exit !(o < -s * 1000 + 100 && o > -s * 1000 - 100) }'

# ---------------------------------------------------------------- 2. six hours without a link
stop broker
sleep 2                          # a link that is gone, for a while (nothing waits on it)
stop_checked n1                  # saves the estimate (a clean stop)
diag "saved: $(cat "$T/n1/state/clock")"
RB=$(date +%s%N)
# where the node's clock, running 50 ppm fast all along, is 6 hours on
spec_off=$(calc "$OFF_S + $HOURS_S + ${PPM}e-6 * ($HOURS_S + ($RB - $RA) / 1e9)")
echo "+$spec_off x1.0000$PPM" >"$T/n1.ft"
NO_WAIT_ONLINE=1 LOAXA_WRAP="$T/ftrun $T/n1.ft" start_node n1 || exit 1
wait_for 20 grep -q "from this machine's (saved" "$T/n1/node.log" ||
	{ fail "the restarted node loads its saved estimate"; exit 1; }
line=$(grep "from this machine's (saved" "$T/n1/node.log" | tail -1)
diag "loaded: ${line#*: }"
est=$(sed -n "s/.*clock is \([-+0-9.]*\) ms from this machine's (saved.*/\1/p" <<<"$line")
bound=$(sed -n 's/.*within \([0-9.]*\) ms).*/\1/p' <<<"$line")
ldrift=$(sed -n 's/.*drift \([-+0-9.]*\) ppm.*/\1/p' <<<"$line")
# truth: controller (true) time minus the node's wall clock, at the restart
# (the node's clock reads true + OFF_S + 50e-6 * (true - RA); true = real + 6 h)
truth=$(calc "-($OFF_S + ${PPM}e-6 * ($HOURS_S + ($RB - $RA) / 1e9)) * 1000")
err=$(calc "sqrt(($est - ($truth))^2)")
old=$(calc "15e-6 * $HOURS_S * 1000")
diag "clock: 6 h without a link: estimate $est ms, true $truth ms, error $err ms, bound $bound ms (drift $ldrift ppm; a fixed 15 ppm bound: $old ms; no drift: error $(calc "${PPM}e-6 * $HOURS_S * 1000") ms)"
check "after 6 simulated hours without a link the reported bound covers the real error ($err ms <= $bound ms)" \
	awk -v e="$err" -v b="$bound" 'BEGIN { exit !(e != "" && b != "" && e <= b) }'
# useful: well under what the uncorrected drift alone would have done
nodrift=$(calc "${PPM}e-6 * $HOURS_S * 1000")
check "and the bound is useful: under half the ${nodrift} ms the drift alone makes in 6 h ($bound ms)" \
	awk -v b="$bound" -v d="$nodrift" 'BEGIN { exit !(b != "" && b < d / 2) }'

# The link comes back, with the controller 6 hours on: it measures the error too.
stop_checked controller
start_broker broker "${PORT_OF[broker]}" || exit 1
echo "+$HOURS_S" >"$T/controller.ft"
LOAXA_WRAP="$T/ftrun $T/controller.ft" start_controller || exit 1
measured_again() {
	[ "$(grep -c "from this machine's (within" "$T/n1/node.log")" -ge 2 ]
}
wait_for 40 measured_again || not_ok "the node measures its clock again when the link is back"
m=$(grep "from this machine's (within" "$T/n1/node.log" | tail -1)
meas=$(sed -n "s/.*clock is \([-+0-9.]*\) ms from this machine's (within.*/\1/p" <<<"$m")
if [ -n "$meas" ]; then
	# the estimate moved on by the drift meanwhile: allow 50 ppm of the wait
	# that answer is itself good to half its round trip (the first answers
	# after a reconnection are slow: the controller is busy with the node)
	rtt=$(sed -n 's/.*round trip \([0-9.]*\) ms).*/\1/p' <<<"$m")
	lag=$(calc "(($(date +%s%N) - $RB) / 1e9) * ${PPM}e-3 + ${rtt:-0} / 2 + 1")
	merr=$(calc "sqrt(($est - ($meas))^2)")
	diag "clock: the link is back: measured $meas ms (round trip $rtt ms), the estimate was $merr ms off"
	check "the controller's answer confirms: the estimate was $merr ms off, within the bound $bound ms (+ $lag ms for the wait and the answer's round trip)" \
		awk -v e="$merr" -v b="$bound" -v l="$lag" 'BEGIN { exit !(e <= b + l) }'
fi
stop_all_checked
finish
