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
 libxml2-dev
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

# ARM nodes (make cross ARCH=arm64|armhf, make test-cross; docs/cross.md):
# Debian's cross compilers, qemu-user to run what they build, and the node's
# and CLI's -dev packages of each target architecture (multiarch).
CROSS_ARCHS="arm64 armhf"
CROSS_TOOLS="crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user"
CROSS_DEV="
 libsodium-dev libjansson-dev libconfig-dev libmosquitto-dev libasound2-dev
 libopusfile-dev libopus-dev libogg-dev libsystemd-dev libcurl4-openssl-dev
"

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: run me as root (apt-get install needs it)" >&2
	exit 1
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }

# The target architectures first: apt-get update must then fetch their
# package lists. dpkg --add-architecture is harmless when already added, but
# only a new one needs the update.
need_update=0
for a in $CROSS_ARCHS; do
	if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
		echo "setup: adding the $a architecture (dpkg --add-architecture $a)"
		dpkg --add-architecture "$a"
		need_update=1
	fi
done

missing=""
for p in $PKGS $CROSS_TOOLS; do
	installed "$p" || missing="$missing $p"
done
# Multiarch -dev packages must have the very same version for every
# architecture (their headers are shared files). So when one is missing,
# the native one and both targets' are asked for together: apt then takes
# one version for all three, upgrading the native one if a newer version
# came out since it was installed (instead of refusing the foreign one).
cross_missing=""
for p in $CROSS_DEV; do
	for a in $CROSS_ARCHS; do
		installed "$p:$a" || cross_missing=1
	done
done
if [ -n "$cross_missing" ]; then
	for p in $CROSS_DEV; do
		missing="$missing $p"
		for a in $CROSS_ARCHS; do missing="$missing $p:$a"; done
	done
fi

if [ -n "$missing" ] || [ "$need_update" = 1 ]; then
	echo "setup: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	# shellcheck disable=SC2086
	[ -z "$missing" ] || apt-get install -y --no-install-recommends $missing
else
	echo "setup: all packages present"
fi

# Say plainly when the versions still differ (a held package, a mirror
# half-updated): make cross would link the wrong library or apt would
# refuse the next install.
bad=0
for p in $CROSS_DEV; do
	v=$(version "$p:$(dpkg --print-architecture)")
	for a in $CROSS_ARCHS; do
		va=$(version "$p:$a")
		if [ "$va" != "$v" ]; then
			echo "setup: $p is ${v:-missing} for $(dpkg --print-architecture) but ${va:-missing} for $a; multiarch needs the same version: run apt-get update, then apt-get install $p $p:arm64 $p:armhf" >&2
			bad=1
		fi
	done
done
exit "$bad"
