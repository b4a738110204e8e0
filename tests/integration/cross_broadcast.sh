#!/bin/bash
# A broadcast to an ARM node: the node cross-built for arm64 (make cross,
# build/cross-arm64/) runs under qemu-user, beside a native mosquitto, the
# native controller and CLI, and plays through the paced test card, itself
# cross-built (an arm64 libasound loads only arm64 plugins):
#   - the node process is qemu running an ARM ELF (not the amd64 node);
#   - `loaxa play --zone` to its zone, then `--all` beside a native node in
#     another zone, finish on exactly the nodes addressed;
#   - the paced card's samples equal the stored Ogg Opus decoded by the
#     target's opusfile (pcmcompare cross-built, under qemu), sample for
#     sample outside the 10 ms fades, and lie within 16 LSB of it decoded by
#     the PC's (libopus's float decoder is not bit-exact across CPUs);
#   - the sound lasts as long as the announcement at the "speaker", with at
#     most 3 underruns once it began (a loaded PC; one that cannot keep up
#     underruns hundreds of times): the node under emulation keeps the card
#     fed in real time (underruns before the first sound are reported only);
#   - the node stops cleanly on SIGTERM.
# Run by make test-cross (tests/cross.sh), not by make test: it needs the
# cross build. Environment (tests/cross.sh sets them):
#   LOAXA_CROSS_BIN  the cross build (default build/cross-$CROSS_ARCH)
#   CROSS_ARCH       arm64 (default) or armhf
#   CROSS_QEMU       qemu-aarch64 (default for arm64) or qemu-arm
source "$(dirname "$0")/../lib.sh"
CROSS_ARCH=${CROSS_ARCH:-arm64}
case "$CROSS_ARCH" in
arm64) want_machine=183 def_qemu=qemu-aarch64 ;;   # EM_AARCH64
armhf) want_machine=40 def_qemu=qemu-arm ;;        # EM_ARM
*) not_ok "CROSS_ARCH is arm64 or armhf (got '$CROSS_ARCH')"; finish ;;
esac
CROSS_QEMU=${CROSS_QEMU:-$def_qemu}
: "${LOAXA_CROSS_BIN:=$ROOT/build/cross-$CROSS_ARCH}"
CROSS_NODE=$LOAXA_CROSS_BIN/loaxa-node
need "$LOAXA" "$CONTROLLER" "$PCMCOMPARE" "$CROSS_NODE" \
	"$LOAXA_CROSS_BIN/alsa/libasound_module_pcm_loaxapaced.so" "$LOAXA_CROSS_BIN/tools/pcmcompare"
QEMU=$(command -v "$CROSS_QEMU") ||
	{ not_ok "$CROSS_QEMU is installed (qemu-user, scripts/setup.sh)"; finish; }

# e_machine, bytes 18-19 of the ELF header (little endian)
machine=$(od -An -tu2 -j18 -N2 "$CROSS_NODE" | tr -d ' ')
check "$CROSS_NODE is an ELF for $CROSS_ARCH (e_machine $machine)" [ "$machine" = "$want_machine" ] ||
	finish

# The node under qemu: a wrapper that execs it, so start_node's pid is the
# emulator running the node. -L /: the target's loader and libraries are the
# multiarch ones (/lib/ld-linux-aarch64.so.1, /usr/lib/aarch64-linux-gnu).
cat >"$T/loaxa-node-$CROSS_ARCH" <<EOF
#!/bin/sh
exec "$QEMU" -L / "$CROSS_NODE" "\$@"
EOF
chmod +x "$T/loaxa-node-$CROSS_ARCH"
NODE=$T/loaxa-node-$CROSS_ARCH
PACED_PLUGIN=$LOAXA_CROSS_BIN/alsa/libasound_module_pcm_loaxapaced.so

between() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

start_broker || exit 1
keygen || exit 1
write_controller_cfg
start_controller || exit 1
PACED=1 write_node_cfg n1 thon-1
write_node_cfg n2 thon-2   # native, in another zone: must stay silent
# qemu starts slower than the native node (a few seconds on a loaded PC)
START_TIMEOUT=60 start_node n1 || exit 1
NODE=$LOAXA_BIN/loaxa-node start_node n2 || exit 1

exe=$(readlink "/proc/${PID_OF[n1]}/exe")
check "node n1 runs under $CROSS_QEMU ($exe)" [ "$exe" = "$(readlink -f "$QEMU")" ]

speech "$T/thong-bao.wav" \
	"Thông báo: sáng mai, lúc bảy giờ, xã tổ chức dọn vệ sinh đường làng. Đề nghị mỗi hộ cử một người tham gia." ||
	exit 1
want_ms=$(soxi -D "$T/thong-bao.wav" 2>/dev/null | awk '{ printf "%d", $1 * 1000 }')

# play LABEL ARGS... : loaxa play --wait --json; sets BCAST, CONTENT.
play() {
	local label=$1 rc
	shift
	"$LOAXA" play "$@" --wait=120 --json >"$T/$label.json" 2>"$T/$label.err"
	rc=$?
	if ! check "$label: loaxa play $* --wait exits 0 (status $rc)" [ "$rc" -eq 0 ]; then
		sed 's/^/#   /' "$T/$label.json" "$T/$label.err"
		dump_logs 30
	fi
	BCAST=$(jq -r '.broadcast // empty' "$T/$label.json" 2>/dev/null)
	CONTENT=$(jq -r '.content // empty' "$T/$label.json" 2>/dev/null)
	[ -n "$BCAST" ] && [ -n "$CONTENT" ] ||
		{ not_ok "$label: loaxa play --json names the broadcast and its content"; stop_all_checked; finish; }
	diag "$label: broadcast $BCAST, content $CONTENT"
}

finished_nodes() {
	"$LOAXA" plays --broadcast "$1" --json 2>/dev/null |
		jq -r '[.plays[] | select(.type == "play_finished" or .result == "finished") | .node] | unique | join(" ")'
}

# paced_check LABEL OFFSET : what the paced card of n1 got from byte OFFSET of
# paced.raw and line OFFSET2 of onsets.log on.
#   - equal, sample for sample outside the fades, to the content decoded by
#     the target's opusfile (the cross-built pcmcompare, under qemu): the
#     node's own decoding, gain and fades are exact on ARM;
#   - within 16 LSB (-66 dBFS) of the content decoded by the PC's opusfile:
#     libopus's float decoder is not bit-exact across CPUs (NEON, fused
#     multiply-add); a few LSB is that, more would be a fault;
#   - as long as the announcement at the "speaker".
paced_check() {
	local label=$1 off=$2 lines=$3 out on off_ns len
	tail -c +$(( off + 1 )) "$T/n1/paced.raw" >"$T/n1-$label.raw"
	tail -n +$(( lines + 1 )) "$T/n1/onsets.log" >"$T/n1-$label.onsets"
	out=$("$QEMU" -L / "$LOAXA_CROSS_BIN/tools/pcmcompare" "$(content_path "$CONTENT")" "$T/n1-$label.raw" 2>&1)
	check "$label: the $CROSS_ARCH node played the announcement sample for sample (outside fades), as decoded on $CROSS_ARCH" \
		[ $? -eq 0 ] || dump_log "${LOG_OF[n1]}" 20
	diag "$label: n1 against the $CROSS_ARCH decode: $out"
	out=$("$PCMCOMPARE" --tolerance 16 "$(content_path "$CONTENT")" "$T/n1-$label.raw" 2>&1)
	check "$label: ... and within 16 LSB of it as decoded on the PC" [ $? -eq 0 ]
	diag "$label: n1 against the amd64 decode: $out"
	on=$(awk '$1 == "onset" { print $2; exit }' "$T/n1-$label.onsets")
	off_ns=$(awk '$1 == "silence" { print $2 }' "$T/n1-$label.onsets" | tail -1)
	if [ -n "$on" ] && [ -n "$off_ns" ] && [ -n "$want_ms" ]; then
		len=$(( (off_ns - on) / 1000000 ))
		# the first onset to the last silence spans the announcement
		# less its quiet edges (espeak-ng pads a few hundred ms)
		check "$label: the sound at the paced speaker lasts as long as the announcement (${len} ms of ${want_ms} ms)" \
			between "$len" $(( want_ms - 1000 )) $(( want_ms + 100 ))
	else
		not_ok "$label: the paced card heard the $CROSS_ARCH node"
		dump_log "$T/n1/onsets.log"
	fi
	# The node starts the card after one period (20 ms) is written
	# (node/playout.c); under qemu its first periods of a play can come late
	# and the card runs dry before the first sound (reported, docs/cross.md).
	# Once the sound has begun: at most 3 underruns. An emulated node that
	# cannot keep up in real time underruns every few periods (hundreds in
	# 8 s); one or two come from a loaded machine (load 13 on 2 cores starved
	# qemu once for more than the 200 ms buffer), and the length check above
	# bounds what they cost.
	local late
	late=$(awk '$1 == "onset" { s = 1 } $1 == "xrun" && s { print $2 }' "$T/n1-$label.onsets" | sort -u | wc -l)
	check "$label: at most 3 underruns on the paced card once the sound began ($late; load $(cut -d' ' -f1 /proc/loadavg))" \
		[ "$late" -le 3 ] || grep '^xrun' "$T/n1-$label.onsets" | sed 's/^/#   /'
	diag "$label: underruns before the first sound: $(awk '$1 == "onset" { exit } $1 == "xrun" { print $2 }' "$T/n1-$label.onsets" | sort -u | wc -l)"
}

size() { stat -c %s "$1" 2>/dev/null || echo 0; }
lines() { wc -l <"$1" 2>/dev/null || echo 0; }

capture_mark n2
# --- 1. to its zone
play zone --zone thon-1 "$T/thong-bao.wav"
got=$(finished_nodes "$BCAST")
check "zone: play log of $BCAST: finished on exactly n1 (the $CROSS_ARCH node)" [ "$got" = n1 ] ||
	diag "finished: '$got'"
paced_check zone 0 0
capture_since n2 "$T/n2-zone.raw"
check "zone: n2 (thon-2, native) played nothing" [ "$(nonzero_bytes "$T/n2-zone.raw")" -eq 0 ]

# --- 2. to all, by content id: both nodes play it
raw0=$(size "$T/n1/paced.raw")
log0=$(lines "$T/n1/onsets.log")
capture_mark n2
play all --all "$CONTENT"
got=$(finished_nodes "$BCAST")
check "all: play log of $BCAST: finished on n1 n2" [ "$got" = "n1 n2" ] || diag "finished: '$got'"
paced_check all "$raw0" "$log0"
capture_since n2 "$T/n2-all.raw"
out=$("$PCMCOMPARE" "$(content_path "$CONTENT")" "$T/n2-all.raw" 2>&1)
check "all: n2 (native) played it sample for sample too" [ $? -eq 0 ] || diag "$out"

# it reports its status like any node: idle after the play
playing=$(node_json n1 | jq -c '.playing')
check "loaxa nodes: n1 is idle after the broadcast" [ "$playing" = null ] || diag "playing: $playing"

stop_all_checked
finish
