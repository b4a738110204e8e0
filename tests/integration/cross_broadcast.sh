#!/bin/bash
# A broadcast to an ARM node: the node cross-built for arm64 (make cross,
# build/cross-arm64/) runs under qemu-user, beside a native mosquitto, the
# native controller and CLI, and plays through the paced test card, itself
# cross-built (an arm64 libasound loads only arm64 plugins):
#   - the node process is qemu running an ARM ELF (not the amd64 node);
#   - it comes online, and `loaxa play --zone` to its zone finishes on it;
#   - the paced card's samples equal the stored Ogg Opus decoded by the
#     station's (amd64) opusfile, sample for sample outside the 10 ms fades
#     (tests/tools/pcmcompare), i.e. the ARM decoder, gain and fades give the
#     same output as on the PC;
#   - the sound lasts as long as the content at the "speaker", with no
#     underrun: the node under emulation still keeps the card fed in real time;
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
	"$LOAXA_CROSS_BIN/alsa/libasound_module_pcm_loaxapaced.so"
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
capture_mark n2
"$LOAXA" play --zone thon-1 "$T/thong-bao.wav" --wait=120 --json >"$T/play.json" 2>"$T/play.err"
rc=$?
if ! check "loaxa play --zone thon-1 --wait exits 0 (status $rc)" [ "$rc" -eq 0 ]; then
	sed 's/^/#   /' "$T/play.json" "$T/play.err"
	dump_logs 30
fi
BCAST=$(jq -r '.broadcast // empty' "$T/play.json" 2>/dev/null)
CONTENT=$(jq -r '.content // empty' "$T/play.json" 2>/dev/null)
[ -n "$BCAST" ] && [ -n "$CONTENT" ] ||
	{ not_ok "loaxa play --json names the broadcast and its content"; stop_all_checked; finish; }
diag "broadcast $BCAST, content $CONTENT"

got=$("$LOAXA" plays --broadcast "$BCAST" --json 2>/dev/null |
	jq -r '[.plays[] | select(.type == "play_finished" or .result == "finished") | .node] | unique | join(" ")')
check "play log of $BCAST: finished on exactly n1 (the $CROSS_ARCH node)" [ "$got" = n1 ] ||
	diag "finished: '$got'"

out=$("$PCMCOMPARE" "$(content_path "$CONTENT")" "$T/n1/paced.raw" 2>&1)
if [ $? -eq 0 ]; then
	ok "the $CROSS_ARCH node played the announcement sample for sample (outside fades) on the paced card"
else
	not_ok "the $CROSS_ARCH node played the announcement sample for sample (outside fades) on the paced card"
	dump_log "${LOG_OF[n1]}" 20
fi
diag "n1: $out"

# The content's length, from the decoder the reference uses (pcmcompare
# prints it as ref_samples=N or similar; soxi would need the WAV): the
# announcement's WAV length at 48 kHz is the same to within the encoder's
# padding, a few ms.
want_ms=$(soxi -D "$T/thong-bao.wav" 2>/dev/null | awk '{ printf "%d", $1 * 1000 }')
on=$(awk '$1 == "onset" { print $2; exit }' "$T/n1/onsets.log" 2>/dev/null)
off=$(awk '$1 == "silence" { print $2 }' "$T/n1/onsets.log" 2>/dev/null | tail -1)
if [ -n "$on" ] && [ -n "$off" ] && [ -n "$want_ms" ]; then
	len=$(( (off - on) / 1000000 ))
	# speech has pauses inside, but the first onset to the last silence
	# spans the whole announcement less its quiet edges
	check "the sound at the paced speaker lasts as long as the announcement (${len} ms of ${want_ms} ms)" \
		between "$len" $(( want_ms - 1000 )) $(( want_ms + 100 ))
else
	not_ok "the paced card heard the $CROSS_ARCH node"
	dump_log "$T/n1/onsets.log"
fi
check "the $CROSS_ARCH node under qemu never underran the paced card" \
	bash -c "! grep -q '^xrun' '$T/n1/onsets.log'" || grep '^xrun' "$T/n1/onsets.log" | sed 's/^/#   /'
capture_since n2 "$T/n2.raw"
check "n2 (thon-2, native) played nothing" [ "$(nonzero_bytes "$T/n2.raw")" -eq 0 ]

# it reports its status like any node: idle after the play
playing=$(node_json n1 | jq -c '.playing')
check "loaxa nodes: n1 is idle after the broadcast" [ "$playing" = null ] || diag "playing: $playing"

stop_all_checked
finish
