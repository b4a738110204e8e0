#!/bin/bash
# Node playout cost: CPU per second of audio against opusdec, and peak memory.
#
# A 10-minute Ogg Opus (espeak-ng speech, repeated; opusenc 24 kbps) is
#   - decoded by `opusdec --rate 48000` to /dev/null (the reference), and
#   - played by loaxa-node through ALSA's `file` plugin over `null` (unpaced,
#     written to /dev/null): the node decodes with opusfile, applies gain and
#     fades, and writes to ALSA exactly as on a board.
# The node gets the content straight into its cache (no controller) and a
# play command sealed by tests/tools/sealcmd, published with mosquitto_pub
# on a private mosquitto. Its CPU is utime+stime from /proc/<pid>/stat
# between the command and "finished" (start-up excluded); its peak memory is
# VmHWM from /proc/<pid>/status after the play.
# Then the same plays by the arm64 node (make cross ARCH=arm64) under
# qemu-aarch64, when it is built: CPU and VmHWM of the emulator running it,
# relative figures only (qemu's translation cost and its own memory are in
# them; a board's figures are measured on the board, docs/cross.md).
# Prints medians of BENCH_RUNS runs (default 5). Never fails on slowness.
#
#   LOAXA_BIN   binaries (default build/): loaxa-node, loaxa (keygen), tools/sealcmd
#   LOAXA_CROSS_BIN  the arm64 build (default build/cross-arm64)
#   BENCH_RUNS  runs per side (default 5)
#   BENCH_SECONDS  length of the test audio (default 600)
set -u
ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
: "${LOAXA_BIN:=$ROOT/build}"
RUNS=${BENCH_RUNS:-5}
SECONDS_AUDIO=${BENCH_SECONDS:-600}
NODE=$LOAXA_BIN/loaxa-node
SEALCMD=$LOAXA_BIN/tools/sealcmd
LOAXA=$LOAXA_BIN/loaxa
HZ=$(getconf CLK_TCK)

for f in "$NODE" "$SEALCMD" "$LOAXA"; do
	[ -x "$f" ] || { echo "   node bench: $f is not built (make all unit)"; exit 1; }
done
for t in mosquitto mosquitto_pub opusenc opusdec espeak-ng sox; do
	command -v "$t" >/dev/null || { echo "   node bench: $t is not installed (scripts/setup.sh)"; exit 1; }
done

W=$(mktemp -d /tmp/loaxa-bench-node.XXXXXX)
BPID= NPID=
cleanup() {
	[ -n "$NPID" ] && kill "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
	[ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# --- material: SECONDS_AUDIO of Vietnamese speech, 48 kHz mono, Opus 24 kbps
espeak-ng -v vi -s 150 -w "$W/one.wav" \
	"Thông báo của ủy ban nhân dân xã: đề nghị bà con chú ý lịch tiêm phòng và vệ sinh môi trường." 2>/dev/null
sox "$W/one.wav" -r 48000 -c 1 "$W/one48.wav" 2>/dev/null
d=$(soxi -D "$W/one48.wav")
reps=$(awk -v d="$d" -v s="$SECONDS_AUDIO" 'BEGIN { printf "%d", s / d }')
sox "$W/one48.wav" "$W/long.wav" repeat "$reps" 2>/dev/null
opusenc --quiet --bitrate 24 --speech "$W/long.wav" "$W/long.opus" 2>/dev/null ||
	opusenc --quiet --bitrate 24 "$W/long.wav" "$W/long.opus"
rm -f "$W/long.wav" "$W/one.wav"
audio_s=$(opusinfo "$W/long.opus" 2>/dev/null | awk -F': ' '/Playback length/ { print $2 }')
ID=$(sha256sum "$W/long.opus" | cut -c1-64)
SIZE=$(stat -c %s "$W/long.opus")
# exact length from the decoder
opusdec --quiet --rate 48000 "$W/long.opus" "$W/ref.wav" 2>/dev/null
SECS=$(soxi -D "$W/ref.wav")
rm -f "$W/ref.wav"
echo "   material: $SECS s of speech, $SIZE bytes Ogg Opus ($audio_s)"

# --- opusdec
for ((i = 0; i < RUNS; i++)); do
	TIMEFORMAT='%U %S'
	{ time opusdec --quiet --rate 48000 "$W/long.opus" /dev/null 2>/dev/null; } 2>&1 |
		awk -v s="$SECS" '{ printf "%.9f\n", ($1 + $2) / s }'
done >"$W/opusdec.txt"

# --- node
"$LOAXA" keygen -o "$W/keys" >/dev/null 2>&1 || { echo "   node bench: loaxa keygen failed"; exit 1; }
port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$port" >"$W/broker.conf"
mosquitto -c "$W/broker.conf" >"$W/broker.log" 2>&1 &
BPID=$!
for ((i = 0; i < 100; i++)); do
	mosquitto_pub -h 127.0.0.1 -p "$port" -t probe -n 2>/dev/null && break
	sleep 0.05
done
mkdir -p "$W/n/xdg/alsa" "$W/n/state/cache"
cp "$W/long.opus" "$W/n/state/cache/$ID.opus"
cat >"$W/n/xdg/alsa/asoundrc" <<EOF
pcm.bench_null {
	type file
	slave.pcm "null"
	file "/dev/null"
	format "raw"
}
EOF
cat >"$W/n/node.cfg" <<EOF
site = "xa-bench";
node = "n1";
zones = ["thon-1"];
state_dir = "state";
controller_key = "$(cat "$W/keys/controller.pub")";
mqtt = { host = "127.0.0.1"; port = $port; keepalive = 30; insecure = true; };
alsa = { device = "bench_null"; channels = 1; rate = 48000; buffer_ms = 200; period_ms = 20; };
EOF

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure DIR CPU_OUT RSS_OUT NODE_CMD... : BENCH_RUNS plays of the
# material by the node run as NODE_CMD (the native binary, or qemu running
# the ARM one), with its configuration and state in DIR.
measure() {
	local d=$1 cpu_out=$2 rss_out=$3 i j before after hwm
	shift 3
	: >"$cpu_out"
	: >"$rss_out"
	for ((i = 0; i < RUNS; i++)); do
		: >"$W/node.log"
		XDG_CONFIG_HOME=$d/xdg "$@" -c "$d/node.cfg" >"$W/node.log" 2>&1 &
		NPID=$!
		for ((j = 0; j < 600; j++)); do
			grep -q "connected to the MQTT broker.*control" "$W/node.log" && break
			sleep 0.05
		done
		printf '{"cmd":"play","to":"node/n1/cmd","broadcast":"b-bench-%d","content":"%s","bytes":%s,"at":0,"level":"normal","volume":100}' \
			"$i" "$ID" "$SIZE" >"$W/play.json"
		"$SEALCMD" --key "$W/keys/controller.key" --site xa-bench --type cmd <"$W/play.json" >"$W/play.env"
		before=$(cpu_ticks "$NPID")
		mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t loaxa/xa-bench/node/n1/cmd -f "$W/play.env"
		for ((j = 0; j < 30000; j++)); do
			grep -q "finished .* for broadcast b-bench-$i" "$W/node.log" && break
			sleep 0.02
		done
		after=$(cpu_ticks "$NPID")
		hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$NPID/status")
		kill -TERM "$NPID"
		wait "$NPID"
		NPID=
		if ! grep -q "finished .* for broadcast b-bench-$i" "$W/node.log"; then
			echo "   node bench: run $i did not finish; last log lines:"
			tail -n 5 "$W/node.log" | sed 's/^/     /'
			continue
		fi
		awk -v a="$after" -v b="$before" -v hz="$HZ" -v s="$SECS" \
			'BEGIN { printf "%.9f\n", (a - b) / hz / s }' >>"$cpu_out"
		echo "$hwm" >>"$rss_out"
	done
}

measure "$W/n" "$W/node.txt" "$W/rss.txt" "$NODE"

dec=$(median <"$W/opusdec.txt")
nod=$(median <"$W/node.txt")
rss=$(median <"$W/rss.txt")
awk -v d="$dec" -v n="$nod" -v r="$rss" -v runs="$RUNS" 'BEGIN {
	printf "   opusdec:    %.3f ms CPU per second of audio (median of %d)\n", d * 1000, runs
	printf "   loaxa-node: %.3f ms CPU per second of audio (median of %d)\n", n * 1000, runs
	if (d > 0) printf "   node/opusdec CPU ratio: %.2f (target <= 1.2)\n", n / d
	printf "   loaxa-node peak RSS (VmHWM): %.1f MB (median; target <= 8 MB)\n", r / 1024
}'

# --- the arm64 node under qemu-user (make cross ARCH=arm64; docs/cross.md).
# The same plays by the cross-built node, emulated: its CPU is qemu's
# (translating and running ARM code on this PC) and its VmHWM includes the
# emulator's own memory, so both are relative figures - to compare one
# build with the next, not a board's real cost (measure on the board).
CROSS_NODE=${LOAXA_CROSS_BIN:-$ROOT/build/cross-arm64}/loaxa-node
if [ ! -x "$CROSS_NODE" ]; then
	echo "   arm64 (qemu): $CROSS_NODE is not built (make cross ARCH=arm64)"
elif ! QEMU=$(command -v qemu-aarch64); then
	echo "   arm64 (qemu): qemu-aarch64 is not installed (scripts/setup.sh)"
else
	# a node of its own: the native node's state has seen these broadcast
	# ids (b-bench-0...) already, and a node does not play one twice
	mkdir -p "$W/q/state/cache"
	cp -r "$W/n/xdg" "$W/n/node.cfg" "$W/q/"
	cp "$W/long.opus" "$W/q/state/cache/$ID.opus"
	measure "$W/q" "$W/qnode.txt" "$W/qrss.txt" "$QEMU" -L / "$CROSS_NODE"
	qnod=$(median <"$W/qnode.txt")
	qrss=$(median <"$W/qrss.txt")
	awk -v q="$qnod" -v n="$nod" -v r="$qrss" -v runs="$RUNS" 'BEGIN {
		printf "   loaxa-node arm64 under qemu-aarch64: %.3f ms CPU per second of audio (median of %d; relative: emulated on this PC)\n", q * 1000, runs
		if (n > 0) printf "   arm64 under qemu / native CPU: %.1fx (the emulation cost, not the board)\n", q / n
		printf "   loaxa-node arm64 under qemu-aarch64 peak RSS (VmHWM): %.1f MB (median; includes qemu itself)\n", r / 1024
	}'
fi
