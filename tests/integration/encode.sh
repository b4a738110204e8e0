#!/bin/bash
# `loaxa encode` on real material made now (espeak-ng, sox, ffmpeg), checked
# with independent tools:
#   - every input format an operator brings (MP3 44.1 kHz stereo, M4A/AAC,
#     8 kHz mu-law WAV, FLAC, Ogg Vorbis, Ogg Opus, a clipping-loud and a very
#     quiet recording, music with --music) encodes; opusinfo accepts the
#     file (mono, 48 kHz, 20 ms packets, ENCODER tag); its length is the
#     source's within 20 ms; FFmpeg's ebur128 filter - on the file and on
#     opusdec's decoding of it - finds -16 +-1 LUFS and a true peak at or
#     below -1 dBTP; sha256sum agrees with the reported sha256;
#   - the same input gives the same bytes (content ids deduplicate), also
#     when the decoded audio spills to a temp file;
#   - bad inputs (empty, not audio, truncated MP3/WAV/FLAC/Ogg, header only,
#     too long by the container and while decoding) fail with exit 1 and one
#     line naming the file, leave no output and no temp file, and never
#     touch an existing output;
#   - `loaxa encode` is loaxa-encode, run by loaxa (which does not load
#     FFmpeg & co.): the one next to loaxa, else the one on the PATH, else
#     exit 1 with one line naming where it looked.
source "$(dirname "$0")/../lib.sh"
need "$LOAXA" "$LOAXA_ENCODE"
for tool in espeak-ng sox soxi ffmpeg ffprobe opusinfo opusdec opusenc jq sha256sum; do
	command -v "$tool" >/dev/null || { not_ok "$tool is installed (scripts/setup.sh)"; exit 1; }
done

M=$T/material
O=$T/out
mkdir -p "$M" "$O"
TARGET=-16

# ------------------------------------------------------------ material

make_material() {
	speech "$M/speech.wav" "Thông báo khẩn của Ủy ban nhân dân xã. Bão số ba sắp đổ bộ. Bà con thôn Một di chuyển đến nơi an toàn, không ra khơi." || return 1
	# 22.05 kHz mono from espeak; everything else is derived from it
	ffmpeg -v error -y -i "$M/speech.wav" -ar 44100 -ac 2 -c:a libmp3lame -b:a 128k "$M/speech.mp3" &&
	ffmpeg -v error -y -i "$M/speech.wav" -ar 44100 -c:a aac -b:a 96k "$M/speech.m4a" &&
	sox "$M/speech.wav" -r 8000 -e u-law "$M/speech-ulaw.wav" &&
	sox "$M/speech.wav" "$M/speech.flac" &&
	ffmpeg -v error -y -i "$M/speech.wav" -c:a libvorbis "$M/speech.ogg" &&
	opusenc --quiet "$M/speech.wav" "$M/speech-in.opus" &&
	sox "$M/speech.wav" -r 48000 -b 16 "$M/loud.wav" gain 20 2>/dev/null &&
	sox "$M/speech.wav" -r 48000 -b 24 "$M/quiet.wav" gain -n -45 &&
	# music: a plucked G chord, strummed, over pink noise; stereo 44.1 kHz
	sox -n -r 44100 -c 2 "$M/chord.wav" synth 8 pl G2 pl B2 pl D3 pl G3 pl D4 pl G4 \
		delay 0 .05 .1 .15 .2 .25 remix - fade 0 8 .1 norm -3 2>/dev/null &&
	sox -n -r 44100 -c 2 "$M/noise.wav" synth 8 pinknoise vol 0.05 &&
	sox -m "$M/chord.wav" "$M/noise.wav" "$M/music.wav"
}
if make_material >"$T/material.log" 2>&1; then
	ok "test material made (espeak-ng, sox, ffmpeg, opusenc)"
else
	not_ok "test material made (espeak-ng, sox, ffmpeg, opusenc)"
	dump_log "$T/material.log"
	exit 1
fi
SPEECH_S=$(soxi -D "$M/speech.wav")
MUSIC_S=$(soxi -D "$M/music.wav")

# ------------------------------------------------------------ helpers

# Seconds of audio in an Ogg Opus file, as opusinfo says (granule based).
opus_seconds() {
	opusinfo "$1" 2>/dev/null |
		sed -n 's/.*Playback length: *\([0-9]*\)m:\([0-9.]*\)s.*/\1 \2/p' |
		awk '{ printf "%.3f", $1 * 60 + $2 }'
}

# FFmpeg's EBU R128 summary of a file: "I PEAK".
ffmpeg_r128() {
	ffmpeg -hide_banner -nostats -i "$1" -af ebur128=peak=true -f null - 2>&1 |
		sed -n '/Summary:/,$p' | awk '
			/^ *I:/ { i = $2 }
			/^ *Peak:/ { p = $2 }
			END { print i, p }'
}

near() { awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { x = a - b; if (x < 0) x = -x; exit !(x <= d) }'; }
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a != "-inf" && a + 0 <= b + 0) }'; }
between() { awk -v a="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(a + 0 >= lo + 0 && a + 0 <= hi + 0) }'; }

# good NAME INPUT REF_SECONDS KBPS_LO KBPS_HI [loaxa encode options...]
good() {
	local name=$1 in=$2 ref=$3 lo=$4 hi=$5 out=$O/$1.opus json len i p di dp sum kbps info
	shift 5
	if ! "$LOAXA" encode "$in" -o "$out" --json "$@" >"$T/$name.json" 2>"$T/$name.err"; then
		not_ok "$name: loaxa encode $(basename "$in") $* exits 0"
		dump_log "$T/$name.err" 10
		return
	fi
	ok "$name: loaxa encode $(basename "$in") $* exits 0"
	json=$(cat "$T/$name.json")
	info=$(opusinfo "$out" 2>&1)
	if [ $? -eq 0 ] && ! grep -qiE 'warning|error' <<<"$info" &&
		grep -q 'Channels: 1' <<<"$info" && grep -q 'Original sample rate: 48000' <<<"$info" &&
		grep -q 'Packet duration: *20.0ms (max), *20.0ms (avg)' <<<"$info" &&
		grep -q 'ENCODER=loaxa' <<<"$info"; then
		ok "$name: opusinfo accepts it: mono, 48 kHz, 20 ms packets, ENCODER=loaxa"
	else
		not_ok "$name: opusinfo accepts it: mono, 48 kHz, 20 ms packets, ENCODER=loaxa"
		sed 's/^/#   /' <<<"$info" | head -30
	fi
	len=$(opus_seconds "$out")
	check "$name: length $len s is the source's $ref s within 20 ms" near "$len" "$ref" 0.020
	read -r i p <<<"$(ffmpeg_r128 "$out")"
	opusdec --quiet "$out" "$T/$name.dec.wav" 2>/dev/null
	read -r di dp <<<"$(ffmpeg_r128 "$T/$name.dec.wav")"
	check "$name: ffmpeg ebur128 on the file: $i LUFS within 1 LU of $TARGET" near "$i" "$TARGET" 1.0
	check "$name: ffmpeg ebur128 on the file: true peak $p dBTP <= -1" at_most "$p" -1.0
	check "$name: opusdec + ffmpeg ebur128: $di LUFS within 1 LU, true peak $dp dBTP <= -1" \
		eval 'near "$di" "$TARGET" 1.0 && at_most "$dp" -1.0'
	sum=$(sha256sum "$out" | cut -c1-64)
	check "$name: reported sha256 is sha256sum's" [ "$(jq -r .sha256 <<<"$json")" = "$sum" ]
	check "$name: reported bytes and duration match the file" eval \
		'[ "$(jq -r .bytes <<<"$json")" = "$(stat -c %s "$out")" ] && near "$(jq -r .duration_s <<<"$json")" "$len" 0.002'
	# libopus (opusdec, and the nodes' opusfile) is what loaxa measures with;
	# FFmpeg's own Opus decoder differs a little on peaks
	check "$name: reported loudness and peak agree with opusdec + ffmpeg's" eval \
		'near "$(jq -r .output_lufs <<<"$json")" "$di" 0.2 && near "$(jq -r .true_peak_dbtp <<<"$json")" "$dp" 0.3'
	kbps=$(sed -n 's/.*Average bitrate: *\([0-9.]*\) kbit.*/\1/p' <<<"$info")
	check "$name: average bitrate $kbps kbps within $lo..$hi" between "$kbps" "$lo" "$hi"
}

# bad NAME INPUT WORDS [options...] : exit 1, one line naming the file and
# saying WORDS, nothing left in the output directory.
bad() {
	local name=$1 in=$2 words=$3 dir=$T/bad-$1 rc lines
	shift 3
	mkdir -p "$dir"
	"$LOAXA" encode "$in" -o "$dir/out.opus" "$@" >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	lines=$(wc -l <"$T/$name.err")
	if [ "$rc" = 1 ] && [ "$lines" = 1 ] &&
		grep -qF "loaxa encode: $in: " "$T/$name.err" && grep -qiE "$words" "$T/$name.err"; then
		ok "$name: exit 1, one line: $(cat "$T/$name.err")"
	else
		not_ok "$name: exit 1 and one line naming $in, saying '$words' (got exit $rc, $lines lines)"
		sed 's/^/#   /' "$T/$name.err" | head -10
	fi
	check "$name: no output and no temp file left in the output directory" \
		[ -z "$(ls -A "$dir")" ]
	[ -s "$T/$name.out" ] && not_ok "$name: nothing on stdout" && sed 's/^/#   /' "$T/$name.out"
}

# ------------------------------------------------------------ good inputs

good speech-wav "$M/speech.wav" "$SPEECH_S" 17 32
good mp3-44k-stereo "$M/speech.mp3" "$SPEECH_S" 17 32
good m4a-aac "$M/speech.m4a" "$SPEECH_S" 17 32
good wav-8k-ulaw "$M/speech-ulaw.wav" "$SPEECH_S" 12 32
good flac "$M/speech.flac" "$SPEECH_S" 17 32
good ogg-vorbis "$M/speech.ogg" "$SPEECH_S" 17 32
good ogg-opus "$M/speech-in.opus" "$SPEECH_S" 17 32
good clipping-loud "$M/loud.wav" "$SPEECH_S" 17 32
good very-quiet "$M/quiet.wav" "$SPEECH_S" 17 32
good music "$M/music.wav" "$MUSIC_S" 36 60 --music --title "Nhạc hiệu"

check "music: TITLE tag written" eval 'opusinfo "$O/music.opus" | grep -q "TITLE=Nhạc hiệu"'
check "music: --json says bitrate_kbps 48" [ "$(jq -r .bitrate_kbps "$T/music.json")" = 48 ]
check "very quiet input: input_lufs reported below -55" \
	at_most "$(jq -r .input_lufs "$T/very-quiet.json")" -55

# same input, same bytes; also when the decoded audio spills to a temp file
"$LOAXA" encode "$M/speech.flac" -o "$O/again.opus" --json --spill-after 1 >"$T/again.json" 2>"$T/again.err"
check "same input encoded again (spilling to a temp file): identical bytes" \
	cmp -s "$O/flac.opus" "$O/again.opus" || dump_log "$T/again.err"

# an existing output is replaced, atomically
echo old >"$O/replace.opus"
"$LOAXA" encode "$M/speech.wav" -o "$O/replace.opus" >/dev/null 2>&1
check "an existing output file is replaced" cmp -s "$O/speech-wav.opus" "$O/replace.opus"
check "no temp file left next to the outputs" eval '[ -z "$(ls -A "$O" | grep -v "\.opus$")" ]'

# ------------------------------------------------------------ bad inputs

B=$T/bad
mkdir -p "$B"
: >"$B/empty.wav"
echo "Danh sách hộ gia đình thôn Một - đây không phải là âm thanh." >"$B/notaudio.mp3"
size=$(stat -c %s "$M/speech.mp3")
head -c $((size / 2)) "$M/speech.mp3" >"$B/truncated.mp3"
size=$(stat -c %s "$M/speech.wav")
head -c $((size / 2)) "$M/speech.wav" >"$B/truncated.wav"
size=$(stat -c %s "$M/speech.flac")
head -c $((size / 2)) "$M/speech.flac" >"$B/truncated.flac"
size=$(stat -c %s "$M/speech.ogg")
head -c $((size / 2)) "$M/speech.ogg" >"$B/truncated.ogg"
sox -n -r 48000 -c 1 -b 16 "$B/header.wav" trim 0 0
head -c 44 "$M/speech.wav" >"$B/header-only.wav"
cp "$M/speech.wav" "$B/long.wav"
# a CBR MP3 without a Xing header: its length is a guess until decoded
ffmpeg -v error -y -i "$M/speech.wav" -c:a libmp3lame -b:a 64k -write_xing 0 "$B/long-noxing.mp3"

bad empty "$B/empty.wav" "file is empty"
bad not-audio "$B/notaudio.mp3" "not an audio file"
bad truncated-mp3 "$B/truncated.mp3" "truncated"
bad truncated-wav "$B/truncated.wav" "truncated"
bad truncated-flac "$B/truncated.flac" "truncated"
bad truncated-ogg "$B/truncated.ogg" "truncated"
bad header-only "$B/header.wav" "no audio in the file"
bad header-promises "$B/header-only.wav" "no audio in the file"
bad too-long "$B/long.wav" "longer than the 0:03 maximum" --max-duration 3
bad too-long-decoding "$B/long-noxing.mp3" "longer than the 0:03 maximum" --max-duration 3
bad missing "$B/nothere.wav" "no such file"

# a failed encode leaves an existing output alone
echo old >"$O/keep.opus"
"$LOAXA" encode "$B/truncated.wav" -o "$O/keep.opus" >/dev/null 2>&1
check "a failed encode leaves an existing output untouched" [ "$(cat "$O/keep.opus")" = old ]

# usage errors: one line, exit 1
usage() {
	local rc
	"$LOAXA" encode "$@" >"$T/usage.out" 2>"$T/usage.err"
	rc=$?
	[ "$rc" = 1 ] && [ "$(wc -l <"$T/usage.err")" = 1 ]
}
check "no -o: exit 1 with one line" usage "$M/speech.wav"
check "--bitrate 3: exit 1 with one line" usage "$M/speech.wav" -o "$O/x.opus" --bitrate 3
check "output directory missing: exit 1, one line naming the output" eval \
	'usage "$M/speech.wav" -o "$T/no/such/dir/x.opus" && grep -q "no/such/dir/x.opus" "$T/usage.err"'

# ------------------------------------------------------------ loaxa runs loaxa-encode

check "loaxa links none of FFmpeg, libebur128, libopusenc (they are loaxa-encode's)" eval \
	'ldd "$LOAXA" >"$T/ldd.out" && ! grep -qE "libav(format|codec|util)|libswresample|libebur128|libopusenc" "$T/ldd.out"'
"$LOAXA_ENCODE" "$M/speech.wav" -o "$O/direct.opus" >/dev/null 2>"$T/direct.err"
check "loaxa-encode run directly: the same bytes as loaxa encode" \
	cmp -s "$O/speech-wav.opus" "$O/direct.opus" || dump_log "$T/direct.err"
# a loaxa with no loaxa-encode next to it
mkdir -p "$T/alone"
cp "$LOAXA" "$T/alone/loaxa"
PATH=$LOAXA_BIN:$PATH "$T/alone/loaxa" encode "$M/speech.wav" -o "$O/path.opus" \
	>/dev/null 2>"$T/path.err"
check "without loaxa-encode next to loaxa, the one on the PATH encodes" \
	cmp -s "$O/speech-wav.opus" "$O/path.opus" || dump_log "$T/path.err"
PATH=/usr/bin:/bin "$T/alone/loaxa" encode "$M/speech.wav" -o "$O/none.opus" \
	>"$T/none.out" 2>"$T/none.err"
rc=$?
check "no loaxa-encode anywhere: exit 1, one line naming where it looked, no output" eval \
	'[ "$rc" = 1 ] && [ "$(wc -l <"$T/none.err")" = 1 ] && [ ! -s "$T/none.out" ] &&
	 grep -qF "no $T/alone/loaxa-encode" "$T/none.err" && grep -q "PATH" "$T/none.err" &&
	 [ ! -e "$O/none.opus" ]' || dump_log "$T/none.err"

finish
