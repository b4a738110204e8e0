#!/bin/sh
# The one place that installs what loaxa needs on Debian 12 (bookworm).
# Idempotent: run it as often as you like; apt-get skips what is present.
set -eu

PKGS="
 build-essential pkg-config make
 libopus-dev libogg-dev libopusfile-dev libopusenc-dev
 libavformat-dev libavcodec-dev libswresample-dev libavutil-dev
 libebur128-dev
 libasound2-dev libasound2-plugins alsa-utils
 libmosquitto-dev mosquitto mosquitto-clients
 libconfig-dev libsqlite3-dev sqlite3 libsodium-dev libjansson-dev
 libmicrohttpd-dev libcurl4-openssl-dev libsystemd-dev
 libssl-dev openssl
 libcairo2-dev libpango1.0-dev libfontconfig-dev fonts-dejavu-core poppler-utils
 espeak-ng sox libsox-fmt-all opus-tools ffmpeg jq
 clang libclang-rt-14-dev valgrind
 systemd
 prometheus libreoffice-calc-nogui
 python3 socat
 libseccomp-dev strace
 faketime
 debhelper lintian
 gettext
 chromium chromium-driver python3-selenium
"

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: run me as root (apt-get install needs it)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	echo "setup: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# shellcheck disable=SC2086
	apt-get install -y --no-install-recommends $missing
else
	echo "setup: all packages present"
fi
