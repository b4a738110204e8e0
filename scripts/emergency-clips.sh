#!/bin/bash
# emergency-clips.sh - make the commune's pre-positioned emergency clips and
# give them to the controller, which delivers them to every node ahead of
# any need (docs/live.md). Run once at setup, and again after changing a
# text; replace any clip by a real recording with
#   loaxa emergency clip NAME recording.wav
#
#   scripts/emergency-clips.sh [--socket PATH] [--voice vi] [--only NAME...]
#
# Clips (name: what it says):
#   tone       the alert tone: 3 s of a two-tone 960/770 Hz signal
#   drill      "Đây là diễn tập." (this is a drill) - played before every
#              drill message so that a drill can never be taken for real
#   flood      flood warning          storm      storm warning
#   fire       fire warning           all-clear  the danger is over
# Text to speech: espeak-ng -v vi; the tone: sox. Both go through the
# controller's ordinary import (loudness-normalised Opus).
set -eu

LOAXA=${LOAXA:-loaxa}
VOICE=vi
ONLY=""
SOCKET_ARGS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--socket) SOCKET_ARGS=(--socket "$2"); shift 2 ;;
	--voice) VOICE=$2; shift 2 ;;
	--only) shift; ONLY="$*"; break ;;
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "emergency-clips.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || {
		echo "emergency-clips.sh: $tool is missing (scripts/setup.sh installs it)" >&2
		exit 1
	}
done

declare -A TEXT=(
	[drill]="Đây là diễn tập. Đây là diễn tập."
	[flood]="Thông báo khẩn cấp. Nước lũ đang lên nhanh. Đề nghị bà con khẩn trương di chuyển người, tài sản lên nơi cao, an toàn. Không đi qua sông suối, ngầm tràn."
	[storm]="Thông báo khẩn cấp. Bão mạnh sắp đổ bộ. Đề nghị bà con chằng chống nhà cửa, không ra khơi, không ra đồng, ở trong nhà cho đến khi có thông báo mới."
	[fire]="Thông báo khẩn cấp. Đang có cháy. Đề nghị bà con tránh xa khu vực cháy, nhường đường cho lực lượng chữa cháy và làm theo hướng dẫn của chính quyền."
	[all-clear]="Thông báo. Tình trạng khẩn cấp đã kết thúc. Bà con có thể trở lại sinh hoạt bình thường. Xin cảm ơn."
)

work=$(mktemp -d /tmp/loaxa-clips.XXXXXX)
trap 'rm -rf "$work"' EXIT

wanted() {
	[ -z "$ONLY" ] && return 0
	case " $ONLY " in *" $1 "*) return 0 ;; esac
	return 1
}

set_clip() {
	local name=$1 file=$2
	"$LOAXA" "${SOCKET_ARGS[@]}" emergency clip "$name" "$file"
}

if wanted tone; then
	# Two tones alternating every 0.25 s (the classic "hi-lo"), 3 s, with
	# 5 ms ramps so each switch does not click.
	parts=()
	for i in 0 1 2 3 4 5; do
		sox -n -r 48000 -c 1 "$work/hi$i.wav" synth 0.25 sine 960 fade t 0.005 0.25 0.005
		sox -n -r 48000 -c 1 "$work/lo$i.wav" synth 0.25 sine 770 fade t 0.005 0.25 0.005
		parts+=("$work/hi$i.wav" "$work/lo$i.wav")
	done
	sox "${parts[@]}" "$work/tone.wav" gain -n -3
	set_clip tone "$work/tone.wav"
fi
for name in drill flood storm fire all-clear; do
	wanted "$name" || continue
	espeak-ng -v "$VOICE" -s 140 -w "$work/$name.wav" "${TEXT[$name]}"
	set_clip "$name" "$work/$name.wav"
done
"$LOAXA" "${SOCKET_ARGS[@]}" emergency clips
