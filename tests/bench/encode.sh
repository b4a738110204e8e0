#!/bin/bash
# Bench: `loaxa encode` against plain `opusenc` at the same bitrate and
# complexity, on each kind of material an operator brings (tests/material.sh:
# speech at three loudness levels, clipped, peaky, 8 kHz mu-law telephone,
# music with --music and music at the speech settings). loaxa does more
# (decode, EBU R128, a trial encode of the loudest excerpts, a true-peak
# limiter, decoding its own output again to verify), so the question is what
# that costs. Per kind: medians of BENCH_RUNS runs, alternated, of wall and
# CPU (user + system) time; the ratios; how many encodes loaxa needed and
# what it delivered. Targets: wall <= 1.2x (goal 1.0), CPU <= 1.5x, one
# encode. Prints, never fails.
#   LOAXA_BIN      release binaries (default build/)
#   BENCH_RUNS     runs per tool and kind (default 3)
#   BENCH_SECONDS  length of each kind's material (default 180)
#   BENCH_KINDS    kinds to run (default: all of material_kinds)
#   BENCH_COMP     Opus complexity for both (default 10, loaxa's default)
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${LOAXA_BIN:=$ROOT/build}"
LOAXA=$LOAXA_BIN/loaxa
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-180}
COMP=${BENCH_COMP:-10}
# shellcheck source=../material.sh
source "$ROOT/tests/material.sh"
KINDS=${BENCH_KINDS:-$(material_kinds)}

for tool in espeak-ng sox soxi opusenc opusinfo jq /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "   $tool is missing (scripts/setup.sh)"; exit 1; }
done
for f in "$LOAXA" "$LOAXA_BIN/loaxa-encode"; do
	[ -x "$f" ] || { echo "   $f is not built (make)"; exit 1; }
done

T=$(mktemp -d /tmp/loaxa-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
kbps() { awk -v b="$(stat -c %s "$1")" -v s="$2" 'BEGIN { printf "%.1f", b * 8 / s / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# timed FILE CMD... : appends "wall cpu" (seconds) to FILE
timed() {
	local out=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$T/time" "$@" || return 1
	awk '{ print $1, $2 + $3 }' "$T/time" >>"$out"
}

printf '   %s s of each kind, complexity %s, medians of %s runs each (wall, CPU = user + sys)\n' \
	"$SECS" "$COMP" "$RUNS"
printf '   %-13s %7s %7s %7s %7s  %-5s %-5s %s\n' kind "loaxa" opusenc wall cpu \
	enc "" "loaxa's output"
worst_wall=0 worst_cpu=0 max_enc=0
for kind in $KINDS; do
	in=$T/$kind.wav
	material_make "$kind" "$in" "$SECS" "$T" 2>/dev/null || { echo "   $kind: could not make the material"; continue; }
	# opusenc reads only 8/16/24-bit PCM and float WAV: give it the same
	# samples as 16-bit PCM where loaxa's input is mu-law or 32-bit
	ref=$in
	case $kind in
	phone | music | music-speech)
		ref=$T/$kind-pcm.wav
		sox "$in" -e signed -b 16 "$ref" 2>/dev/null || continue ;;
	esac
	: >"$T/l.times"
	: >"$T/o.times"
	# shellcheck disable=SC2046
	for ((r = 0; r < RUNS; r++)); do
		timed "$T/l.times" "$LOAXA" encode "$in" -o "$T/loaxa.opus" --complexity "$COMP" \
			--json $(material_args "$kind") >"$T/loaxa.json" 2>"$T/loaxa.err" ||
			{ echo "   $kind: loaxa encode failed: $(cat "$T/loaxa.err")"; continue 2; }
		timed "$T/o.times" opusenc --quiet --comp "$COMP" $(material_opusenc_args "$kind") \
			"$ref" "$T/opusenc.opus" 2>/dev/null || { echo "   $kind: opusenc failed"; continue 2; }
	done
	lw=$(cut -d' ' -f1 "$T/l.times" | median)
	lc=$(cut -d' ' -f2 "$T/l.times" | median)
	ow=$(cut -d' ' -f1 "$T/o.times" | median)
	oc=$(cut -d' ' -f2 "$T/o.times" | median)
	rw=$(ratio "$lw" "$ow")
	rc=$(ratio "$lc" "$oc")
	enc=$(jq -r .encodes "$T/loaxa.json")
	worst_wall=$(awk -v a="$rw" -v b="$worst_wall" 'BEGIN { print (a > b) ? a : b }')
	worst_cpu=$(awk -v a="$rc" -v b="$worst_cpu" 'BEGIN { print (a > b) ? a : b }')
	[ "$enc" -gt "$max_enc" ] && max_enc=$enc
	printf '   %-13s %6.2fs %6.2fs %6.2fx %6.2fx  %-5s       %s LUFS, %s dBTP, deepest limiting %s dB\n' \
		"$kind" "$lw" "$ow" "$rw" "$rc" "$enc" \
		"$(jq -r .output_lufs "$T/loaxa.json")" "$(jq -r .true_peak_dbtp "$T/loaxa.json")" \
		"$(jq -r .deepest_limiting_db "$T/loaxa.json")"
	# the bitrate each delivered: where opusenc spends fewer bits (the
	# quiet kind, coded 45 dB down as it is) it also does less work
	printf '   %-13s wall %s  cpu %s, %s kbps | opusenc wall %s  cpu %s, %s kbps\n' "" \
		"$(cut -d' ' -f1 "$T/l.times" | paste -sd' ')" "$(cut -d' ' -f2 "$T/l.times" | paste -sd' ')" \
		"$(kbps "$T/loaxa.opus" "$SECS")" \
		"$(cut -d' ' -f1 "$T/o.times" | paste -sd' ')" "$(cut -d' ' -f2 "$T/o.times" | paste -sd' ')" \
		"$(kbps "$T/opusenc.opus" "$SECS")"
done
printf '   worst: wall %sx (target <= 1.2, goal <= 1.0), CPU %sx (target <= 1.5), at most %s encode(s) (target 1)\n' \
	"$worst_wall" "$worst_cpu" "$max_enc"
