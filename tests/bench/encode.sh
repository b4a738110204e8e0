#!/bin/bash
# Bench: `loaxa encode` of 10 minutes of speech against plain `opusenc` at
# the same bitrate and complexity. loaxa does more (decode, two passes of
# EBU R128, a true-peak limiter, decoding its own output again to verify),
# so the question is what that costs in wall time. 5 runs each, alternated,
# medians; target ratio <= 1.2, goal <= 1.0. Prints, never fails.
#   LOAXA_BIN   release binaries (default build/)
#   BENCH_RUNS  runs per tool (default 5)
#   BENCH_COMP  Opus complexity for both (default 10, loaxa's default)
set -u
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${LOAXA_BIN:=$ROOT/build}"
LOAXA=$LOAXA_BIN/loaxa
LOAXA_ENCODE=$LOAXA_BIN/loaxa-encode
RUNS=${BENCH_RUNS:-5}
COMP=${BENCH_COMP:-10}

for tool in espeak-ng sox opusenc opusinfo; do
	command -v "$tool" >/dev/null || { echo "   $tool is missing (scripts/setup.sh)"; exit 1; }
done
for f in "$LOAXA" "$LOAXA_ENCODE"; do
	[ -x "$f" ] || { echo "   $f is not built (make)"; exit 1; }
done

T=$(mktemp -d /tmp/loaxa-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT

# 10 minutes of Vietnamese speech: one paragraph, repeated, 48 kHz mono
espeak-ng -v vi -s 150 -w "$T/para.wav" "Thông báo của Ủy ban nhân dân xã. Sáng mai, lúc bảy giờ, \
toàn thể bà con thôn Một và thôn Hai tập trung tại nhà văn hóa để họp về công tác phòng chống lụt \
bão. Đề nghị các hộ gia đình kiểm tra nhà cửa, chằng chống mái tôn, chuẩn bị lương thực và nước \
uống. Bà con không ra khơi đánh bắt cá trong ba ngày tới." 2>/dev/null || exit 1
para_s=$(soxi -D "$T/para.wav")
copies=$(awk -v p="$para_s" 'BEGIN { print int(600 / p) + 1 }')
files=()
for ((i = 0; i < copies; i++)); do files+=("$T/para.wav"); done
sox "${files[@]}" -r 48000 -c 1 -b 16 "$T/speech.wav" gain -3 trim 0 600 2>/dev/null || exit 1

now_ns() { date +%s%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: >"$T/loaxa.times"
: >"$T/opusenc.times"
for ((r = 0; r < RUNS; r++)); do
	t0=$(now_ns)
	"$LOAXA" encode "$T/speech.wav" -o "$T/loaxa.opus" --complexity "$COMP" --json \
		>"$T/loaxa.json" 2>"$T/loaxa.err" || { echo "   loaxa encode failed: $(cat "$T/loaxa.err")"; exit 1; }
	t1=$(now_ns)
	opusenc --quiet --bitrate 24 --speech --comp "$COMP" "$T/speech.wav" "$T/opusenc.opus" ||
		{ echo "   opusenc failed"; exit 1; }
	t2=$(now_ns)
	echo "$(( (t1 - t0) / 1000000 ))" >>"$T/loaxa.times"
	echo "$(( (t2 - t1) / 1000000 ))" >>"$T/opusenc.times"
done

lm=$(median <"$T/loaxa.times")
om=$(median <"$T/opusenc.times")
kbps() { opusinfo "$1" 2>/dev/null | sed -n 's/.*Average bitrate: *\([0-9.]*\) kbit.*/\1/p'; }
printf '   10 min of speech (espeak-ng vi, 48 kHz mono), 24 kbps, complexity %s, %s runs each\n' "$COMP" "$RUNS"
printf '   loaxa encode   median %6.2f s  (%s)  %s kbps  %s LUFS  %s dBTP\n' \
	"$(awk -v m="$lm" 'BEGIN { print m / 1000 }')" "$(paste -sd' ' "$T/loaxa.times")" \
	"$(kbps "$T/loaxa.opus")" "$(jq -r .output_lufs "$T/loaxa.json" 2>/dev/null)" \
	"$(jq -r .true_peak_dbtp "$T/loaxa.json" 2>/dev/null)"
printf '   opusenc        median %6.2f s  (%s)  %s kbps\n' \
	"$(awk -v m="$om" 'BEGIN { print m / 1000 }')" "$(paste -sd' ' "$T/opusenc.times")" \
	"$(kbps "$T/opusenc.opus")"
printf '   ratio loaxa/opusenc %.2f (target <= 1.2, goal <= 1.0); loaxa runs at %.0fx real time\n' \
	"$(awk -v a="$lm" -v b="$om" 'BEGIN { print a / b }')" \
	"$(awk -v a="$lm" 'BEGIN { print 600000 / a }')"
