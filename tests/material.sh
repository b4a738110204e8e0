# tests/material.sh - audio an operator might bring, made at test time, for
# tests/integration/import_kinds.sh (promise + one encode, in make test) and
# tests/bench/encode.sh (speed against opusenc). Sourced; needs espeak-ng
# and sox.
#
#   material_kinds                   the kinds, one word each
#   material_make KIND OUT SECONDS DIR
#       writes OUT (WAV) of about SECONDS; DIR holds intermediate files
#   material_args KIND               loaxa encode options for that kind
#   material_opusenc_args KIND       opusenc options at the same settings
#
# Kinds:
#   speech       espeak-ng Vietnamese, 48 kHz 16-bit, about -22 LUFS
#   speech-loud  the same compressed hard, about -16 LUFS, peaks at -0.5 dBFS
#   quiet        the same 45 dB down, 24-bit (input about -64 LUFS)
#   clipped      the same 20 dB up, clipped in 16 bits (about -7 LUFS)
#   peaky        a close-miked voice: bright sibilants (+10 dB over 6 kHz)
#                and consonant bursts 3 dB over the voice's own peaks
#   phone        telephone band (300-3400 Hz), 8 kHz mu-law WAV
#   music        plucked chords strummed over pink noise, 44.1 kHz stereo,
#                encoded with --music (48 kbps)
#   music-speech the same music at the speech settings (24 kbps): a jingle
#                imported without --music

material_kinds() { echo speech speech-loud quiet clipped peaky phone music music-speech; }

material_args() {
	case $1 in
	music) echo --music ;;
	*) ;;
	esac
}

material_opusenc_args() {
	case $1 in
	music) echo --bitrate 48 --music ;;
	*) echo --bitrate 24 --speech ;;
	esac
}

# DIR/para.wav: one announcement, 22.05 kHz mono (espeak-ng's own rate).
_material_para() {
	[ -s "$1/para.wav" ] && return 0
	espeak-ng -v vi -s 150 -w "$1/para.wav" "Thông báo của Ủy ban nhân dân xã. Sáng mai, lúc bảy giờ, \
toàn thể bà con thôn Một và thôn Hai tập trung tại nhà văn hóa để họp về công tác phòng chống lụt \
bão. Đề nghị các hộ gia đình kiểm tra nhà cửa, chằng chống mái tôn, chuẩn bị lương thực và nước \
uống. Bà con không ra khơi đánh bắt cá trong ba ngày tới." 2>/dev/null
}

# _material_repeat IN OUT SECONDS: IN repeated to SECONDS.
_material_repeat() {
	local in=$1 out=$2 secs=$3 len copies i files=()
	len=$(soxi -D "$in") || return 1
	copies=$(awk -v p="$len" -v d="$secs" 'BEGIN { print int(d / p) + 1 }')
	for ((i = 0; i < copies; i++)); do files+=("$in"); done
	sox "${files[@]}" "$out" trim 0 "$secs" 2>/dev/null
}

# DIR/speech-SECONDS.wav: the base every speech kind is made from.
_material_speech() {
	local dir=$1 secs=$2
	[ -s "$dir/speech-$secs.wav" ] && return 0
	_material_para "$dir" &&
		_material_repeat "$dir/para.wav" "$dir/speech22-$secs.wav" "$secs" &&
		sox "$dir/speech22-$secs.wav" -r 48000 -c 1 -b 16 "$dir/speech-$secs.wav" gain -3 \
			2>/dev/null
}

# DIR/music-SECONDS.wav: four strummed chords (2 s each) over pink noise.
_material_music() {
	local dir=$1 secs=$2 c=0 chord
	[ -s "$dir/music-$secs.wav" ] && return 0
	for chord in "G2 B2 D3 G3 D4 G4" "C3 E3 G3 C4 E4 G4" "D3 F#3 A3 D4 F#4 A4" "E2 B2 E3 G3 B3 E4"; do
		# shellcheck disable=SC2086
		set -- $chord
		sox -n -r 44100 -c 2 "$dir/chord$c.wav" synth 2 pl "$1" pl "$2" pl "$3" pl "$4" \
			pl "$5" pl "$6" delay 0 .03 .06 .09 .12 .15 remix - fade 0 2 .05 norm -1 \
			2>/dev/null || return 1
		c=$((c + 1))
	done
	sox "$dir/chord0.wav" "$dir/chord1.wav" "$dir/chord2.wav" "$dir/chord3.wav" \
		"$dir/bar.wav" 2>/dev/null &&
		_material_repeat "$dir/bar.wav" "$dir/chords-$secs.wav" "$secs" &&
		sox -n -r 44100 -c 2 "$dir/noise-$secs.wav" synth "$secs" pinknoise vol 0.02 &&
		sox -m "$dir/chords-$secs.wav" "$dir/noise-$secs.wav" "$dir/music-$secs.wav"
}

material_make() {
	local kind=$1 out=$2 secs=$3 dir=$4 s
	s=$dir/speech-$secs.wav
	case $kind in
	speech)
		_material_speech "$dir" "$secs" && cp "$s" "$out" ;;
	speech-loud)
		_material_speech "$dir" "$secs" &&
			sox "$s" "$out" compand 0.01,0.2 -60,-60,-30,-15,0,-3 gain -n -0.5 2>/dev/null ;;
	quiet)
		_material_speech "$dir" "$secs" && sox "$s" -b 24 "$out" gain -n -45 ;;
	clipped)
		_material_speech "$dir" "$secs" && sox "$s" -b 16 "$out" gain 20 2>/dev/null ;;
	peaky)
		# "t", "ch", "s" bursts: 8 ms of noise over 2 kHz, sharp attack,
		# every 0.7 s, 3 dB over the voice's own peaks
		_material_speech "$dir" "$secs" &&
			sox -n -r 48000 -c 1 -b 16 "$dir/click.wav" synth 0.008 whitenoise \
				highpass 2000 fade q 0.0005 0.008 0.006 norm -1 pad 0 0.692 &&
			_material_repeat "$dir/click.wav" "$dir/clicks-$secs.wav" "$secs" &&
			sox "$s" "$dir/bright-$secs.wav" treble +10 6k gain -n -4 2>/dev/null &&
			sox -m -v 1 "$dir/bright-$secs.wav" -v 1 "$dir/clicks-$secs.wav" -b 16 "$out" \
				gain -n -0.5 2>/dev/null ;;
	phone)
		_material_speech "$dir" "$secs" &&
			sox "$s" -r 8000 -e u-law "$out" sinc 300-3400 2>/dev/null ;;
	music | music-speech)
		_material_music "$dir" "$secs" && cp "$dir/music-$secs.wav" "$out" ;;
	*)
		echo "material_make: unknown kind $kind" >&2
		return 1 ;;
	esac
}
