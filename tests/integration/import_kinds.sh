#!/bin/bash
# The import's promise on every kind of material an operator brings
# (tests/material.sh: speech at three loudness levels, clipped, peaky,
# 8 kHz mu-law telephone, music with --music, music at the speech
# settings), checked with independent tools, and that each took ONE
# encode (the trial encode of the loudest excerpts and the OpusHead gain
# correction instead of encoding again; docs/import.md):
#   - `loaxa encode --json` exits 0 and says "encodes": 1 and the deepest
#     limiting (a number <= 0 dB);
#   - opusinfo accepts the file, without warnings;
#   - its length is the source's within 20 ms;
#   - opusdec's decoding measured by FFmpeg's ebur128 filter: -16 +-1 LUFS,
#     true peak <= -1 dBTP.
# No timing is asserted (make bench measures speed against opusenc).
#   IMPORT_KINDS_SECONDS  material length (default 60)
source "$(dirname "$0")/../lib.sh"
source "$ROOT/tests/material.sh"
need "$LOAXA" "$LOAXA_ENCODE"
for tool in espeak-ng sox soxi ffmpeg opusinfo opusdec jq; do
	command -v "$tool" >/dev/null || { not_ok "$tool is installed (scripts/setup.sh)"; exit 1; }
done
SECS=${IMPORT_KINDS_SECONDS:-60}
TARGET=-16
M=$T/material
mkdir -p "$M"

opus_seconds() {
	opusinfo "$1" 2>/dev/null |
		sed -n 's/.*Playback length: *\([0-9]*\)m:\([0-9.]*\)s.*/\1 \2/p' |
		awk '{ printf "%.3f", $1 * 60 + $2 }'
}
ffmpeg_r128() {
	ffmpeg -hide_banner -nostats -i "$1" -af ebur128=peak=true -f null - 2>&1 |
		sed -n '/Summary:/,$p' | awk '
			/^ *I:/ { i = $2 }
			/^ *Peak:/ { p = $2 }
			END { print i, p }'
}
near() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(a != "" && x <= d) }'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a != "-inf" && a + 0 <= b + 0) }'; }

for kind in $(material_kinds); do
	in=$M/$kind.wav
	out=$T/$kind.opus
	if ! material_make "$kind" "$in" "$SECS" "$M" 2>"$T/$kind.make.log"; then
		not_ok "$kind: material made"
		dump_log "$T/$kind.make.log"
		continue
	fi
	# shellcheck disable=SC2046
	if ! "$LOAXA" encode "$in" -o "$out" --json $(material_args "$kind") \
		>"$T/$kind.json" 2>"$T/$kind.err"; then
		not_ok "$kind: loaxa encode exits 0"
		dump_log "$T/$kind.err"
		continue
	fi
	json=$(cat "$T/$kind.json")
	enc=$(jq -r .encodes <<<"$json")
	lim=$(jq -r .deepest_limiting_db <<<"$json")
	check "$kind: one encode (--json says encodes $enc)" [ "$enc" = 1 ]
	check "$kind: deepest limiting reported ($lim dB, <= 0)" at_most "$lim" 0
	info=$(opusinfo "$out" 2>&1)
	check "$kind: opusinfo accepts the file without warnings" eval \
		'[ -n "$info" ] && ! grep -qiE "warning|error" <<<"$info"'
	ref=$(soxi -D "$in")
	len=$(opus_seconds "$out")
	check "$kind: length $len s is the source's $ref s within 20 ms" near "$len" "$ref" 0.020
	opusdec --quiet "$out" "$T/$kind.dec.wav" 2>/dev/null
	read -r i p <<<"$(ffmpeg_r128 "$T/$kind.dec.wav")"
	check "$kind: opusdec + ffmpeg ebur128: $i LUFS within 1 LU of $TARGET" near "$i" "$TARGET" 1.0
	check "$kind: opusdec + ffmpeg ebur128: true peak $p dBTP <= -1" at_most "$p" -1.0
	echo "# $kind: $(jq -c '{input_lufs, output_lufs, true_peak_dbtp, encodes, deepest_limiting_db}' <<<"$json")"
done

# the controller's way: the decode worker under seccomp (encode/worker.c),
# on a minute of material (glibc's qsort in the probe asked for sysinfo,
# which the filter did not allow: SIGSYS on any upload over ~45 s)
kind=peaky
if [ -s "$M/$kind.wav" ]; then
	"$LOAXA_ENCODE" --worker import <"$M/$kind.wav" 3>"$T/worker.opus" >"$T/worker.out" \
		2>"$T/worker.err"
	rc=$?
	check "decode worker imports a minute of $kind (exit $rc)" [ "$rc" = 0 ]
	[ "$rc" = 0 ] || dump_log "$T/worker.err"
	info=$(opusinfo "$T/worker.opus" 2>&1)
	check "decode worker's output: opusinfo accepts it without warnings" eval \
		'[ -n "$info" ] && ! grep -qiE "warning|error" <<<"$info"'
fi

finish
