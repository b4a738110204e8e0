#!/bin/bash
# The layers of docs/architecture.md ("Layers, and what each part may not
# import"), checked on the source and on the binaries:
#   - every quoted #include of common/ resolves in common/; of node/ in node/
#     or common/; of cli/ in cli/ or common/; of controller/ in controller/,
#     common/ or import/import.h (the import result, nothing else of import/);
#   - the MQTT client exists once: only common/mqconn.c and common/mqlink.c
#     use libmosquitto (no mosquitto.h, no mosquitto_ call elsewhere);
#   - the transports name no consumer: controller/mqtt.c calls no function of
#     another controller module but its checks (ctlutil, ratelimit), and
#     node/mqtt.c none of cmd (messages reach modules through the tables);
#   - loaxa-node links no SQLite, FFmpeg, libmicrohttpd, libcurl or cairo;
#     loaxa-controller no FFmpeg (decoding is the worker's); loaxa (the CLI)
#     none of FFmpeg, SQLite, libmosquitto, ALSA, libopus.
# Static checks only: no daemon runs.
source "$(dirname "$0")/../lib.sh"
cd "$ROOT" || exit 1

# includes DIR ALLOWED_DIRS... : every #include "x" of DIR/*.[ch] names a file
# in one of the allowed directories (or, for ALLOWED "import/import.h", that file).
includes() {
	local dir=$1 f h ok a bad=()
	shift
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -f "$f" ] || continue
		while read -r h; do
			ok=0
			for a in "$@"; do
				if [[ $a == */*.h ]]; then
					[ "$h" = "$(basename "$a")" ] && [ -f "$a" ] && ok=1
				elif [ -f "$a/$h" ]; then
					ok=1
				fi
			done
			[ $ok = 1 ] || bad+=("$f: $h")
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
	done
	if [ ${#bad[@]} -eq 0 ]; then
		ok "$dir/ includes only from: $*"
	else
		not_ok "$dir/ includes only from: $* (found: ${bad[*]})"
	fi
}
includes common common
includes node node common
includes cli cli common
includes controller controller common import/import.h
includes import import common
includes encode encode import common

# The MQTT client is written once (common/mqconn.h).
mosq=$(grep -lE '#include <mosquitto\.h>|\bmosquitto_[a-z_]+\(' \
	controller/*.[ch] node/*.[ch] cli/*.[ch] common/*.[ch] 2>/dev/null |
	grep -vxE 'common/mqconn\.c|common/mqlink\.c' | tr '\n' ' ')
check "only common/mqconn.c and common/mqlink.c use libmosquitto${mosq:+ (also: $mosq)}" \
	[ -z "$mosq" ]
# The transport calls its consumers through the subscription table only.
calls=$(grep -oE '\bctl_[a-z_]+\(' controller/mqtt.c | sort -u |
	grep -vE '^ctl_(mqtt_[a-z_]+|printable|ratelimit_inbound)\($' | tr '\n' ' ')
check "controller/mqtt.c calls no consumer${calls:+ (calls: $calls)}" [ -z "$calls" ]
calls=$(grep -oE '\b(cmd|plan|fetch|live|keys|clock|events)_[a-z_]+\(' node/mqtt.c | sort -u |
	tr '\n' ' ')
check "node/mqtt.c calls no consumer${calls:+ (calls: $calls)}" [ -z "$calls" ]

# links BIN PATTERN WHAT : BIN's shared libraries match none of PATTERN.
links_none() {
	local bin=$1 pat=$2 what=$3 found
	found=$(ldd "$bin" 2>/dev/null | awk '{print $1}' | grep -E "$pat" | tr '\n' ' ')
	check "$(basename "$bin") links no $what${found:+ (found: $found)}" [ -z "$found" ]
}
need "$NODE" "$CONTROLLER" "$LOAXA"
links_none "$NODE" 'libsqlite3|libav(codec|format|util)|libswresample|libmicrohttpd|libcurl|libcairo' \
	"SQLite, FFmpeg, libmicrohttpd, libcurl or cairo"
links_none "$CONTROLLER" 'libav(codec|format|util)|libswresample|libebur128|libopusenc' \
	"FFmpeg or the import libraries (decoding is the worker's)"
links_none "$LOAXA" 'libav(codec|format|util)|libsqlite3|libmosquitto|libasound|libopus' \
	"FFmpeg, SQLite, libmosquitto, ALSA or libopus"
finish
